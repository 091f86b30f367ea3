// The workshop's backend (index.js of the PackSpaces repository), unchanged in behaviour:
// socket.io 4, websocket transport only, CORS *, one global space. Prints its URL.
//
// Like the workshop's Express app it also serves the page, when PEER_URL names the
// PeerServer the page should use (e.g. peer-server.mjs's URL): GET / is assets/index.html
// configured for that PeerServer, /static/... are files from node_modules, and PEERJS picks
// the peerjs build (a folder in node_modules, default peerjs-1.3.1 as in the workshop).
import { createServer } from "node:http";
import { readFileSync, createReadStream, existsSync, statSync } from "node:fs";
import path from "node:path";
import { Server } from "socket.io";
import { here, nodeModules } from "./lib.mjs";

function pageHtml(peerUrl) {
  const peer = new URL(peerUrl);
  const config = {
    peerHost: peer.hostname,
    peerPort: Number(peer.port) || (peer.protocol === "https:" ? 443 : 80),
    peerSecure: peer.protocol === "https:",
    peerPath: peer.pathname,
    peerKey: "peerjs",
    iceServers: [],
  };
  const peerjs = process.env.PEERJS || "peerjs-1.3.1";
  return readFileSync(path.join(here, "../../assets/index.html"), "utf8")
    .replace("{{SOCKETIO_SCRIPT}}", "/static/socket.io-client/dist/socket.io.min.js")
    .replace("{{PEERJS_SCRIPT}}", `/static/${peerjs}/dist/peerjs.min.js`)
    .replace("{{CONFIG_JSON}}", JSON.stringify(config).replace(/</g, "\\u003c"));
}

function servePage(req, res) {
  const url = new URL(req.url, "http://localhost");
  if (url.pathname.startsWith("/socket.io/")) return; // socket.io answers these
  if (url.pathname.startsWith("/static/")) {
    const file = path.join(nodeModules, path.normalize(url.pathname.slice("/static/".length)));
    if (file.startsWith(nodeModules) && existsSync(file) && statSync(file).isFile()) {
      res.writeHead(200, { "content-type": "text/javascript" });
      createReadStream(file).pipe(res);
    } else {
      res.writeHead(404).end();
    }
    return;
  }
  res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(pageHtml(process.env.PEER_URL));
}

const http = createServer(process.env.PEER_URL ? servePage : undefined);
const io = new Server(http, { cors: { origin: "*" }, transports: ["websocket"] });

io.on("connection", (socket) => {
  socket.on("join-space", (peerId) => {
    console.error("join-space", peerId);
    socket.broadcast.emit("user-connected", peerId);
    socket.on("disconnect", () => {
      socket.broadcast.emit("user-disconnected", peerId);
    });
  });
});

http.listen(Number(process.env.PORT || 0), "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${http.address().port}/`);
});
