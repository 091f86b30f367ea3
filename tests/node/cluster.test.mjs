// `packspaces serve --redis` behind a real load balancer: Debian's HAProxy with the
// repository's deploy/haproxy.cfg in front of two instances sharing a redis-server, all
// started by the test on loopback ports.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { io } from "socket.io-client";
import { startServer, startRedis, startHaproxy, waitFor } from "./lib.mjs";

let redis;
let instances = [];
let balancer;

before(async (t) => {
  redis = await startRedis(t);
  if (!redis) return;
  instances = [await startServer({ extraArgs: ["--redis", redis.url] }), await startServer({ extraArgs: ["--redis", redis.url] })];
  balancer = await startHaproxy(t, instances.map((i) => i.url));
});
after(async () => {
  await balancer?.stop();
  for (const i of instances) await i.stop();
  await redis?.stop();
});

/** A socket.io member of `space` through the balancer; records who it hears of. */
async function member(space, peer, options) {
  const socket = io(balancer.url, { forceNew: true, reconnection: false, ...options });
  const heard = { members: null, connected: [], disconnected: [] };
  socket.on("space-members", (list) => (heard.members = list));
  socket.on("user-connected", (p) => heard.connected.push(p));
  socket.on("user-disconnected", (p) => heard.disconnected.push(p));
  await new Promise((resolve, reject) => {
    socket.on("connect", resolve);
    socket.on("connect_error", reject);
  });
  socket.emit("join-space", space, peer);
  await waitFor(() => heard.members, 10000, `${peer}'s member list`);
  return { socket, heard, peer };
}

test("polling-first socket.io clients (the workshop page's default) meet across instances through sticky HAProxy", async (t) => {
  if (!balancer) return t.skip("no redis-server or haproxy");
  // withCredentials keeps HAProxy's cookie in Node, as a browser does.
  const members = [];
  for (let i = 0; i < 4; i++) members.push(await member("CSC342", `polling${i}`, { withCredentials: true }));
  // Each newcomer is told of everyone before it, and everyone hears of those after it,
  // whichever instance round robin gave each.
  members.forEach((m, i) => {
    assert.deepEqual([...m.heard.members].sort(), members.slice(0, i).map((o) => o.peer).sort());
  });
  await waitFor(() => members.every((m, i) => m.heard.connected.length === members.length - 1 - i), 5000, "user-connected everywhere");
  // The sessions were upgraded to websockets after their polling start.
  await waitFor(() => members.every((m) => m.socket.io.engine.transport.name === "websocket"), 5000, "upgrade to websocket");
  members[0].socket.disconnect();
  await waitFor(() => members.slice(1).every((m) => m.heard.disconnected.includes("polling0")), 5000, "user-disconnected everywhere");
  for (const m of members.slice(1)) m.socket.disconnect();
});

test("websocket-only clients need no stickiness: one space (and its chat) across instances", async (t) => {
  if (!balancer) return t.skip("no redis-server or haproxy");
  const a = await member("CSC100", "ws-a", { transports: ["websocket"] });
  const b = await member("CSC100", "ws-b", { transports: ["websocket"] });
  assert.deepEqual(b.heard.members, ["ws-a"]);
  await waitFor(() => a.heard.connected.includes("ws-b"), 5000, "ws-a hears of ws-b");
  // Chat crosses instances too (round robin put them at different ones).
  const chats = [[], []];
  a.socket.on("chat-message", (m) => chats[0].push(m));
  b.socket.on("chat-message", (m) => chats[1].push(m));
  b.socket.emit("chat-message", { text: "hello from b" });
  await waitFor(() => chats.every((c) => c.length === 1), 5000, "the chat line at both");
  for (const [m] of chats) assert.deepEqual([m.from, m.text], ["ws-b", "hello from b"]);
  a.socket.disconnect();
  b.socket.disconnect();
});

test("PeerJS clients through the balancer: ids and relays are cluster-wide", async (t) => {
  if (!balancer) return t.skip("no redis-server or haproxy");
  const base = balancer.url.replace(/^http/, "ws");
  const open = (id, token) => {
    const ws = new WebSocket(`${base}peerjs/peerjs?key=peerjs&id=${id}&token=${token}`);
    const got = [];
    ws.on("message", (d) => got.push(JSON.parse(d)));
    ws.on("error", () => {});
    return { ws, got };
  };
  // Round robin sends consecutive connections to alternate instances: with four clients,
  // relays cross instances whatever the first one's was.
  const clients = ["pa", "pb", "pc", "pd"].map((id) => ({ id, ...open(id, `t-${id}`) }));
  await waitFor(() => clients.every((c) => c.got.some((m) => m.type === "OPEN")), 5000, "OPEN for all");
  for (const [from, to] of [[0, 1], [1, 2], [2, 3], [3, 0]]) {
    clients[from].ws.send(JSON.stringify({ type: "OFFER", dst: clients[to].id, payload: { n: from } }));
  }
  await waitFor(() => clients.every((c) => c.got.some((m) => m.type === "OFFER")), 5000, "every OFFER relayed").catch((e) => { console.log(JSON.stringify(clients.map((c) => c.got))); throw e; });
  for (const [from, to] of [[0, 1], [1, 2], [2, 3], [3, 0]]) {
    assert.deepEqual(clients[to].got.find((m) => m.type === "OFFER"), { type: "OFFER", src: clients[from].id, dst: clients[to].id, payload: { n: from } });
  }
  // An id taken at one instance is taken at all.
  const thieves = [open("pa", "other"), open("pa", "other2")];
  await waitFor(() => thieves.every((th) => th.got.length), 5000, "thieves answered");
  for (const th of thieves) assert.deepEqual(th.got, [{ type: "ID-TAKEN", payload: { msg: "ID is taken" } }]);
  for (const c of clients) c.ws.close();
});
