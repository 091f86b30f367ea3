// One load-generator member (a PeerJS wire client and a Socket.IO space socket), and a crowd
// process that holds many idle members for bench/load.mjs.
//
// One Node process cannot hold the tens of thousands of websockets a 12,000-member run needs
// (it stopped bringing newcomers in past 5,000), and one source address has only about
// 28,000 ephemeral ports towards one server port. So bench/load.mjs forks crowds: each has
// its own event loop and connects from its own loopback source address (127.0.0.N), and the
// members whose timing is measured stay in the parent.
//
// Crowd protocol (IPC, parent → crowd): {type: "start", target, localAddress}, then
// {type: "add", spaces: [...]} answered by {type: "added", ok, failed}, then {type: "close"}
// answered by {type: "closed"}.
import { createRequire } from "node:module";
import http from "node:http";
import path from "node:path";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
// The clients the tests use, from tests/node (npm ci there first).
const require = createRequire(path.join(root, "tests/node/package.json"));
const { io } = require("socket.io-client");
const WebSocket = require("ws");

let sequence = 0;
const agents = new Map(); // local address -> keep-alive agent, so id fetches reuse a connection

/** GET `url` from `localAddress`; resolves to the body. */
function get(url, localAddress) {
  if (!agents.has(localAddress)) agents.set(localAddress, new http.Agent({ keepAlive: true, localAddress }));
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: agents.get(localAddress) }, (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve(body));
      })
      .on("error", reject);
  });
}

/**
 * One member: a PeerJS client and a space socket, connected from `localAddress`. Resolves
 * once both are in. `onSignal` gets PeerJS messages, `onUserConnected` announced peer ids;
 * `beforeJoin(id)` runs just before `join-space` is sent.
 */
export async function member(target, space, { localAddress = "127.0.0.1", onSignal = () => {}, onUserConnected = () => {}, beforeJoin = () => {} } = {}) {
  const id = `m${process.pid}x${++sequence}`;
  const token = Math.random().toString(36).slice(2);
  await get(`${target.peerBase}peerjs/id?ts=${Date.now()}`, localAddress); // the server's own id: we bring ours, as peerjs may
  const ws = new WebSocket(`${target.peerBase.replace(/^http/, "ws")}peerjs?key=peerjs&id=${id}&token=${token}`, { localAddress });
  await new Promise((resolve, reject) => {
    ws.on("message", (data) => {
      const msg = JSON.parse(data);
      if (msg.type === "OPEN") resolve();
      else if (msg.type === "ERROR") reject(new Error(`PeerServer refused: ${msg.payload?.msg}`));
      else onSignal(msg);
    });
    ws.on("error", reject);
    ws.on("close", () => reject(new Error("PeerServer closed the socket"))); // no-op once open
  });
  const heartbeat = setInterval(() => ws.readyState === 1 && ws.send(JSON.stringify({ type: "HEARTBEAT" })), 5000);
  const socket = io(target.spaceUrl, { transports: ["websocket"], forceNew: true, reconnection: false, localAddress });
  socket.on("user-connected", (peerId) => onUserConnected(peerId));
  try {
    await new Promise((resolve, reject) => {
      socket.on("connect", resolve);
      socket.on("connect_error", reject);
    });
  } catch (e) {
    clearInterval(heartbeat);
    ws.close();
    throw e;
  }
  beforeJoin(id);
  socket.emit(...(target.spaces ? ["join-space", space, id] : ["join-space", id]));
  return {
    id,
    space,
    ws,
    socket,
    close() {
      clearInterval(heartbeat);
      socket.disconnect();
      ws.close();
    },
  };
}

/** The crowd process: holds idle members on the parent's behalf. */
async function crowd() {
  let target = null;
  let localAddress = null;
  const members = [];
  process.on("message", async (msg) => {
    if (msg.type === "start") {
      ({ target, localAddress } = msg);
    } else if (msg.type === "add") {
      let ok = 0;
      let failed = 0;
      // 50 at a time, as a class arriving, not 2,000 handshakes at once.
      for (let i = 0; i < msg.spaces.length; i += 50) {
        const batch = msg.spaces.slice(i, i + 50).map((space) => member(target, space, { localAddress }));
        for (const r of await Promise.allSettled(batch)) {
          if (r.status === "fulfilled") {
            members.push(r.value);
            ok++;
          } else failed++;
        }
      }
      process.send({ type: "added", ok, failed });
    } else if (msg.type === "close") {
      members.forEach((m) => m.close());
      setTimeout(() => {
        process.send({ type: "closed" });
        process.exit(0);
      }, 300);
    }
  });
  process.on("disconnect", () => process.exit(0)); // the parent is gone
}

if (process.send && process.argv.includes("--crowd")) crowd();
