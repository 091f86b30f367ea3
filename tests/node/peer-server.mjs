// The npm `peer` PeerServer (what the PeerJS cloud runs) on a free loopback port, at path
// /peerjs. Prints its URL.
import { PeerServer } from "peer";

const server = PeerServer({ port: Number(process.env.PORT || 0), host: "127.0.0.1", path: "/peerjs" }, (http) => {
  console.log(`listening on http://127.0.0.1:${http.address().port}/peerjs`);
});
server.on("error", () => {});
