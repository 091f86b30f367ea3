// The same PeerJS client scenarios against the npm `peer` 1.0.2 PeerServer and against
// `packspaces serve`'s PeerServer: every client must receive the same messages from both.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { PeerServer } from "peer";
import { startServer, startRedis, sleep, waitFor } from "./lib.mjs";

let ours;
let theirs;
let theirsHttp;

before(async () => {
  ours = await startServer();
  await new Promise((resolve) => {
    theirs = PeerServer({ port: 0, host: "127.0.0.1", path: "/peerjs" }, (server) => {
      theirsHttp = server;
      resolve();
    });
    // npm peer reports unparsable messages as "error" events; the scenario sends some.
    theirs.on("error", () => {});
  });
});
after(async () => {
  await ours.stop();
  theirsHttp?.close();
  theirsHttp?.closeAllConnections?.();
});

const bases = () => ({
  "npm peer 1.0.2": `http://127.0.0.1:${theirsHttp.address().port}/peerjs`,
  "packspaces serve": `${ours.url}peerjs`,
});

/** A raw PeerJS websocket client that records what it receives. */
function connectTo(base, { id, token, key = "peerjs" }) {
  const params = new URLSearchParams();
  if (key !== null) params.set("key", key);
  if (id !== null) params.set("id", id);
  if (token !== null) params.set("token", token);
  const ws = new WebSocket(`${base.replace(/^http/, "ws")}/peerjs?${params}`);
  const client = { ws, got: [], closed: false };
  ws.on("message", (data) => {
    let m;
    try {
      m = JSON.parse(data.toString());
    } catch {
      m = { unparsable: data.toString() };
    }
    client.got.push(m);
  });
  ws.on("close", () => (client.closed = true));
  ws.on("error", () => {});
  client.open = () => waitFor(() => ws.readyState === WebSocket.OPEN, 5000, "websocket open");
  client.send = (m) => ws.send(typeof m === "string" ? m : JSON.stringify(m));
  return client;
}

const offer = { type: "offer", sdp: "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n" };

/**
 * Runs every scenario; returns what each client saw. `at(name)` is the PeerServer base a
 * client connects to: one server, or (in a cluster) a different instance per client.
 */
async function scenarios(at) {
  const base = at("http");
  const connect = (_, options) => connectTo(at(options.as ?? options.id ?? "none"), options);
  const seen = {};
  const info = await fetch(`${base}/`);
  seen.info = { status: info.status, body: await info.json() };
  const id = await fetch(`${base}/peerjs/id?ts=${Date.now()}`);
  seen.id = { status: id.status, looksLikeUuid: /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(await id.text()) };
  seen.peers = { status: (await fetch(`${base}/peerjs/peers`)).status };

  // Refusals.
  const noToken = connect(base, { id: "x", token: null });
  const wrongKey = connect(base, { id: "y", token: "t", key: "nope" });
  const alice = connect(base, { id: "alice", token: "ta" });
  const bob = connect(base, { id: "bob", token: "tb" });
  await alice.open();
  await bob.open();
  await waitFor(() => alice.got.length && bob.got.length, 3000, "OPEN");
  const thief = connect(base, { id: "alice", token: "other", as: "thief" });
  await waitFor(() => noToken.closed && wrongKey.closed && thief.closed, 3000, "refusals");

  // Relaying, with src set by the server whatever the sender claims.
  alice.send({ type: "OFFER", dst: "bob", src: "mallory", payload: { sdp: offer, type: "media", connectionId: "mc_abc", metadata: { name: "Alice" } } });
  await waitFor(() => bob.got.length >= 2, 3000, "OFFER relayed");
  bob.send({ type: "ANSWER", dst: "alice", payload: { sdp: { type: "answer", sdp: "v=0" }, type: "media", connectionId: "mc_abc" } });
  bob.send({ type: "CANDIDATE", dst: "alice", payload: { candidate: { candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host", sdpMid: "0", sdpMLineIndex: 0 }, type: "media", connectionId: "mc_abc" } });
  await waitFor(() => alice.got.length >= 3, 3000, "ANSWER and CANDIDATE relayed");

  // Messages for a peer that connects a little later wait for it.
  alice.send({ type: "OFFER", dst: "carol", payload: { n: 1 } });
  alice.send({ type: "CANDIDATE", dst: "carol", payload: { n: 2 } });
  alice.send({ type: "LEAVE", dst: "carol" });
  // A server handles one client's messages in order: once bob has alice's next message,
  // the three for carol are queued.
  alice.send({ type: "CANDIDATE", dst: "bob", payload: { after: "carol's" } });
  await waitFor(() => bob.got.some((m) => m.payload?.after === "carol's"), 3000, "alice's messages for carol handled");
  const carol = connect(base, { id: "carol", token: "tc" });
  await waitFor(() => carol.got.length >= 3, 3000, "queued messages delivered");

  // Nonsense is ignored; HEARTBEAT is silent.
  for (const junk of ["not json", "[]", "{}", JSON.stringify({ type: "BOGUS", dst: "bob" }), JSON.stringify({ type: "OFFER" }), JSON.stringify({ type: "HEARTBEAT" })]) {
    alice.send(junk);
  }
  bob.send({ type: "LEAVE", dst: "alice" });
  await waitFor(() => alice.got.length >= 4, 3000, "LEAVE relayed");

  // A reconnect with the same token takes over the id without a second OPEN.
  const alice2 = connect(base, { id: "alice", token: "ta", as: "alice2" });
  await alice2.open();
  // The takeover is done once the server relays what alice2 sends.
  alice2.send({ type: "CANDIDATE", dst: "bob", payload: { from: "alice2" } });
  await waitFor(() => bob.got.some((m) => m.payload?.from === "alice2"), 3000, "alice2's message relayed");
  bob.send({ type: "CANDIDATE", dst: "alice", payload: { again: true } });
  await waitFor(() => alice2.got.length >= 1, 3000, "message to the reconnected socket");

  // Messages to a peer that never comes back EXPIRE (once per sender) after ~5 s.
  alice2.send({ type: "OFFER", dst: "ghost", payload: { n: 1 } });
  alice2.send({ type: "CANDIDATE", dst: "ghost", payload: { n: 2 } });
  await waitFor(() => alice2.got.length >= 2, 9000, "EXPIRE");
  // A window in which nothing must happen: no second EXPIRE for the same sender.
  await sleep(1500);

  for (const c of [alice, alice2, bob, carol]) c.ws.close();
  seen.clients = {
    noToken: noToken.got,
    wrongKey: wrongKey.got,
    thief: thief.got,
    alice: alice.got,
    alice2: alice2.got,
    bob: bob.got,
    carol: carol.got,
  };
  return seen;
}

test("PeerJS clients receive the same messages from packspaces serve as from npm peer", async () => {
  const entries = Object.entries(bases());
  const results = await Promise.all(entries.map(([, base]) => scenarios(() => base)));
  const [[theirName], [ourName]] = entries;
  const [theirsSeen, oursSeen] = results;
  if (process.env.SHOW) console.log(JSON.stringify(oursSeen, null, 1));
  assert.deepEqual(oursSeen, theirsSeen, `${ourName} differs from ${theirName}`);
  // And what both do is what PeerJS clients rely on.
  assert.equal(oursSeen.id.looksLikeUuid, true);
  assert.deepEqual(oursSeen.clients.bob[0], { type: "OPEN" });
  assert.deepEqual(oursSeen.clients.noToken, [{ type: "ERROR", payload: { msg: "No id, token, or key supplied to websocket server" } }]);
  assert.deepEqual(oursSeen.clients.wrongKey, [{ type: "ERROR", payload: { msg: "Invalid key provided" } }]);
  assert.deepEqual(oursSeen.clients.thief, [{ type: "ID-TAKEN", payload: { msg: "ID is taken" } }]);
  assert.equal(oursSeen.clients.bob[1].src, "alice");
  assert.deepEqual(oursSeen.clients.alice2.at(-1), { type: "EXPIRE", src: "ghost", dst: "alice" });
});

test("across two serve instances sharing Redis, PeerJS clients receive what npm peer sends", async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  const a = await startServer({ extraArgs: ["--redis", redis.url] });
  const b = await startServer({ extraArgs: ["--redis", redis.url] });
  try {
    // Every exchange crosses instances: alice (and the first refusal) at A; bob, the thief
    // taking alice's id with another token, carol who arrives late, and alice reconnecting
    // with her token at B.
    const atA = new Set(["alice", "x", "http"]);
    const ourSeen = await scenarios((who) => `${(atA.has(who) ? a : b).url}peerjs`);
    const theirSeen = await scenarios(() => `http://127.0.0.1:${theirsHttp.address().port}/peerjs`);
    if (process.env.SHOW) console.log(JSON.stringify(ourSeen, null, 1));
    assert.deepEqual(ourSeen, theirSeen);
    assert.deepEqual(ourSeen.clients.thief, [{ type: "ID-TAKEN", payload: { msg: "ID is taken" } }]);
    assert.deepEqual(ourSeen.clients.carol.map((m) => m.type), ["OPEN", "OFFER", "CANDIDATE"], "the queued messages followed carol to B");
  } finally {
    await a.stop();
    await b.stop();
    await redis.stop();
  }
});

test("a client flooding packspaces serve is cut off while the others keep talking", async () => {
  const base = `${ours.url}peerjs`;
  const flooder = connectTo(base, { id: "flooder", token: "t" });
  const a = connectTo(base, { id: "calm-a", token: "t" });
  const b = connectTo(base, { id: "calm-b", token: "t" });
  await Promise.all([flooder.open(), a.open(), b.open()]);
  await waitFor(() => a.got.length && b.got.length, 3000, "OPEN");
  const sdp = "x".repeat(2000);
  for (let i = 0; i < 20000 && !flooder.closed; i++) {
    flooder.send({ type: "CANDIDATE", dst: "calm-b", payload: { i, sdp } });
    if (i % 500 === 0) await sleep(1); // let the socket's events run between bursts
  }
  await waitFor(() => flooder.closed, 5000, "the flooder to be disconnected");
  const before = a.got.length;
  const sent = Date.now();
  b.send({ type: "ANSWER", dst: "calm-a", payload: { ok: true } });
  await waitFor(() => a.got.length > before, 3000, "the calm pair's message");
  assert.ok(Date.now() - sent < 1000, "delivered promptly despite the flood");
  assert.equal(b.closed, false, "the flooded peer stays connected");
  a.ws.close();
  b.ws.close();
});

test("past --max-peers, packspaces serve refuses a newcomer as npm peer does at its concurrent_limit", async () => {
  const limited = await startServer({ extraArgs: ["--max-peers", "2"] });
  let theirServer;
  await new Promise((resolve) => {
    PeerServer({ port: 0, host: "127.0.0.1", path: "/peerjs", concurrent_limit: 2 }, (server) => {
      theirServer = server;
      resolve();
    });
  });
  try {
    const seen = {};
    for (const [name, base] of [["ours", `${limited.url}peerjs`], ["theirs", `http://127.0.0.1:${theirServer.address().port}/peerjs`]]) {
      const first = connectTo(base, { id: "first", token: "t" });
      const second = connectTo(base, { id: "second", token: "t" });
      await waitFor(() => first.got.length && second.got.length, 5000, `${name}: the first two in`);
      const third = connectTo(base, { id: "third", token: "t" });
      await waitFor(() => third.closed, 5000, `${name}: the third refused`);
      // A place freed is a place taken again.
      first.ws.close();
      await waitFor(() => first.closed, 3000, `${name}: the first gone`);
      const fourth = connectTo(base, { id: "fourth", token: "t" });
      await waitFor(() => fourth.got.length, 5000, `${name}: the fourth in`);
      seen[name] = { first: first.got, second: second.got, third: third.got, fourth: fourth.got };
      for (const c of [second, fourth]) c.ws.close();
    }
    assert.deepEqual(seen.ours.third, [{ type: "ERROR", payload: { msg: "Server has reached its concurrent user limit" } }]);
    assert.deepEqual(seen.ours.fourth, [{ type: "OPEN" }]);
    assert.deepEqual(seen.ours, seen.theirs);
  } finally {
    await limited.stop();
    theirServer?.close();
    theirServer?.closeAllConnections?.();
  }
});

test("packspaces serve relays a message of 64 KiB and cuts off a client that sends a larger one", async () => {
  const base = `${ours.url}peerjs`;
  const big = connectTo(base, { id: "big", token: "t" });
  const to = connectTo(base, { id: "to", token: "t" });
  const other = connectTo(base, { id: "other", token: "t" });
  await Promise.all([big.open(), to.open(), other.open()]);
  await waitFor(() => big.got.length && to.got.length && other.got.length, 3000, "OPEN");
  // A message to `to` of exactly `bytes` bytes (its padding is ASCII).
  const sized = (bytes, n) => {
    const m = { type: "CANDIDATE", dst: "to", payload: { n, pad: "" } };
    m.payload.pad = "x".repeat(bytes - JSON.stringify(m).length);
    const text = JSON.stringify(m);
    assert.equal(text.length, bytes);
    return text;
  };
  const LIMIT = 64 * 1024; // PeerServerConfig::max_message_bytes
  const atLimit = sized(LIMIT, 1);
  big.send(atLimit);
  await waitFor(() => to.got.some((m) => m.payload?.n === 1), 3000, "the 64 KiB message relayed");
  assert.deepEqual(to.got.find((m) => m.payload?.n === 1).payload, JSON.parse(atLimit).payload);
  big.send(sized(LIMIT + 1, 2));
  await waitFor(() => big.closed, 3000, "the sender of a larger message cut off");
  // Nothing of it arrived, and the others still talk.
  other.send({ type: "CANDIDATE", dst: "to", payload: { n: 3 } });
  await waitFor(() => to.got.some((m) => m.payload?.n === 3), 3000, "a message after the cut");
  assert.deepEqual(to.got.map((m) => m.payload?.n ?? m.type), ["OPEN", 1, 3]);
  assert.equal(to.closed, false);
  to.ws.close();
  other.ws.close();
});
