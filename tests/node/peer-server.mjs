// The npm `peer` PeerServer (what the PeerJS cloud runs) on a free loopback port, at path
// /peerjs. Prints its URL. CONCURRENT_LIMIT raises its limit of 5000 clients (the load benchmark).
import { PeerServer } from "peer";

const server = PeerServer({ port: Number(process.env.PORT || 0), host: "127.0.0.1", path: "/peerjs", concurrent_limit: Number(process.env.CONCURRENT_LIMIT || 5000) }, (http) => {
  console.log(`listening on http://127.0.0.1:${http.address().port}/peerjs`);
});
server.on("error", () => {});
