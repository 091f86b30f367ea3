// Socket.IO spaces of `packspaces serve`, driven by the real socket.io-client: the
// workshop's single-argument join, named spaces, isolation, leaving, and the member list.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { startServer, waitFor, sleep } from "./lib.mjs";

let server;
const sockets = [];

before(async () => {
  server = await startServer();
});
after(async () => {
  sockets.forEach((s) => s.close());
  await server.stop();
});

/** A socket.io client that records every event it receives. */
async function client() {
  const socket = io(server.url, { transports: ["websocket"], reconnection: false, forceNew: true });
  sockets.push(socket);
  socket.events = [];
  socket.onAny((event, ...args) => socket.events.push([event, ...args]));
  await waitFor(() => socket.connected, 5000, "socket.io connect");
  return socket;
}

const got = (socket, event) => socket.events.filter((e) => e[0] === event).map((e) => e.slice(1));

test("the workshop's single-argument join-space reaches everyone else in the main space", async () => {
  const a = await client();
  const b = await client();
  a.emit("join-space", "peerA");
  await waitFor(() => got(a, "space-members").length, 3000, "member list");
  b.emit("join-space", "peerB");
  await waitFor(() => got(a, "user-connected").length, 3000, "user-connected");
  assert.deepEqual(got(a, "user-connected"), [["peerB", null]], "no name given: null");
  assert.deepEqual(got(b, "user-connected"), [], "the newcomer is not told about itself");
  assert.deepEqual(got(b, "space-members"), [[["peerA"], {}]]);
  b.close();
  await waitFor(() => got(a, "user-disconnected").length, 3000, "user-disconnected");
  assert.deepEqual(got(a, "user-disconnected"), [["peerB"]]);
  a.close();
});

test("named spaces are isolated from each other and from the main space", async () => {
  const [x1, x2, y1, main] = [await client(), await client(), await client(), await client()];
  main.emit("join-space", "mainPeer");
  y1.emit("join-space", "CSC100", "y1");
  x1.emit("join-space", "CSC342", "x1");
  await waitFor(() => got(x1, "space-members").length, 3000, "x1 joined");
  x2.emit("join-space", "CSC342", "x2");
  await waitFor(() => got(x1, "user-connected").length, 3000, "x1 told of x2");
  assert.deepEqual(got(x1, "user-connected"), [["x2", null]]);
  assert.deepEqual(got(x2, "space-members"), [[["x1"], {}]]);
  x2.close();
  await waitFor(() => got(x1, "user-disconnected").length, 3000, "x1 told x2 left");
  await sleep(300);
  for (const s of [y1, main]) {
    assert.deepEqual(got(s, "user-connected"), [], "nothing crosses spaces");
    assert.deepEqual(got(s, "user-disconnected"), []);
  }
  assert.deepEqual(got(y1, "space-members"), [[[], {}]]);
  [x1, y1, main].forEach((s) => s.close());
});

test("a member list names everyone already there, in join order", async () => {
  const members = [];
  for (const id of ["m1", "m2", "m3"]) {
    const s = await client();
    s.emit("join-space", "listing", id);
    await waitFor(() => got(s, "space-members").length, 3000, `${id} joined`);
    members.push(s);
  }
  assert.deepEqual(got(members[2], "space-members"), [[["m1", "m2"], {}]]);
  members.forEach((s) => s.close());
});

test("bad joins get a space-error and reach nobody", async () => {
  const watcher = await client();
  watcher.emit("join-space", "guarded", "watcher");
  await waitFor(() => got(watcher, "space-members").length, 3000, "watcher joined");
  const bad = await client();
  bad.emit("join-space", "guarded", "\u001b[2Jevil");
  bad.emit("join-space", "../etc", "ok1");
  bad.emit("join-space", 42);
  bad.emit("join-space", "guarded", "x".repeat(100000));
  await waitFor(() => got(bad, "space-error").length >= 4, 3000, "a space-error for each of the 4 bad joins");
  // A window in which nothing must happen: no bad join reaches the watcher.
  await sleep(300);
  const refusals = got(bad, "space-error").map(([m]) => m);
  assert.equal(refusals.length, 4, `one space-error per bad join: ${JSON.stringify(refusals)}`);
  // Each for what was wrong with its join (the replies may come in any order): the id with
  // escapes and the overlong one, the path in the space name, the number.
  const reasons = refusals.map((m) => m.split(" ").slice(0, 2).join(" ")).sort();
  assert.deepEqual(reasons, ["join-space takes", "peer ids", "peer ids", "space names"], JSON.stringify(refusals));
  assert.deepEqual(got(watcher, "user-connected"), []);
  // The server still works for well-behaved clients.
  const good = await client();
  good.emit("join-space", "guarded", "good");
  await waitFor(() => got(watcher, "user-connected").length, 3000, "good joined");
  assert.deepEqual(got(watcher, "user-connected"), [["good", null]]);
  [watcher, bad, good].forEach((s) => s.close());
});

test("names given with join-space reach the others cleaned, and come with every chat line", async () => {
  const ada = await client();
  ada.emit("join-space", "named", "ada", { name: "  Ada\u001b[2J\u202e " });
  await waitFor(() => got(ada, "space-members").length, 3000, "ada joined");
  const bob = await client();
  bob.emit("join-space", "named", "bob", { name: 5 }); // not a string: no name
  await waitFor(() => got(bob, "space-members").length, 3000, "bob joined");
  assert.deepEqual(got(bob, "space-members"), [[["ada"], { ada: "Ada[2J" }]]);
  await waitFor(() => got(ada, "user-connected").length, 3000, "bob announced");
  assert.deepEqual(got(ada, "user-connected"), [["bob", null]]);
  const main = await client();
  main.emit("join-space", "carol", { name: "Carol" }); // the main space, with a name
  await waitFor(() => got(main, "space-members").length, 3000, "carol joined");
  ada.emit("chat-message", { text: "hi" });
  await waitFor(() => got(bob, "chat-message").length, 3000, "ada's line");
  const [[line]] = got(bob, "chat-message");
  assert.equal(line.from, "ada");
  assert.equal(line.name, "Ada[2J");
  assert.deepEqual(got(main, "chat-message"), [], "nothing crosses spaces");
  main.emit("join-space", "x", "carol", "oops"); // a third argument that is not {name}
  await waitFor(() => got(main, "space-error").length, 3000, "a bad join refused");
  [ada, bob, main].forEach((s) => s.close());
});

test("rejoining moves a socket: the old space hears it leave", async () => {
  const stay = await client();
  stay.emit("join-space", "old", "stayer");
  await waitFor(() => got(stay, "space-members").length, 3000, "stayer joined");
  const mover = await client();
  mover.emit("join-space", "old", "mover");
  await waitFor(() => got(stay, "user-connected").length, 3000, "mover joined");
  mover.emit("join-space", "new", "mover");
  await waitFor(() => got(stay, "user-disconnected").length, 3000, "mover left old");
  assert.deepEqual(got(stay, "user-disconnected"), [["mover"]]);
  [stay, mover].forEach((s) => s.close());
});

test("the page is served at / and /<space>, and bad space paths are refused", async () => {
  for (const p of ["", "CSC342"]) {
    const r = await fetch(server.url + p);
    assert.equal(r.status, 200);
    const html = await r.text();
    assert.match(html, /\/static\/peerjs-1\.3\.1\/dist\/peerjs\.min\.js/);
  }
  const r = await fetch(server.url + "bad%20space");
  assert.equal(r.status, 404);
  const lib = await fetch(server.url + "static/socket.io-client/dist/socket.io.min.js");
  assert.equal(lib.status, 200);
});

test("a socket spamming join-space is cut off; the others are not", async () => {
  const calm = await client();
  calm.emit("join-space", "busy", "calm");
  await waitFor(() => got(calm, "space-members").length, 3000, "calm joined");
  const spammer = await client();
  let disconnected = false;
  spammer.on("disconnect", () => (disconnected = true));
  for (let i = 0; i < 200 && !disconnected; i++) spammer.emit("join-space", "busy", "spam" + i);
  await waitFor(() => disconnected, 5000, "the spammer to be disconnected");
  assert.ok(got(spammer, "space-error").some(([m]) => /too many/.test(m)));
  const newcomer = await client();
  newcomer.emit("join-space", "busy", "newcomer");
  await waitFor(() => got(calm, "user-connected").some(([p]) => p === "newcomer"), 3000, "newcomer announced");
  [calm, newcomer].forEach((s) => s.close());
});

test("chat: a message reaches everyone in its space, the sender too, as sent, and nobody elsewhere", async () => {
  const [a, b, other] = [await client(), await client(), await client()];
  a.emit("join-space", "chat", "chatA");
  b.emit("join-space", "chat", "chatB");
  other.emit("join-space", "elsewhere", "chatC");
  await waitFor(() => [a, b, other].every((s) => got(s, "space-members").length), 3000, "all joined");
  // Markup and an escape sequence: relayed as text, untouched (clients show it as text).
  const text = '<img src=x onerror="alert(1)"> \u001b[2J hello';
  a.emit("chat-message", { text });
  await waitFor(() => got(a, "chat-message").length && got(b, "chat-message").length, 3000, "the message everywhere in the space");
  for (const s of [a, b]) {
    const [[m]] = got(s, "chat-message");
    assert.deepEqual({ from: m.from, name: m.name, text: m.text }, { from: "chatA", name: null, text });
    assert.match(m.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    assert.ok(Math.abs(Date.parse(m.time) - Date.now()) < 10000, m.time);
  }
  // Refusals, each answered (and counted against the flood limit): too long, empty, not an
  // object, before joining.
  b.emit("chat-message", { text: "x".repeat(501) });
  b.emit("chat-message", { text: "   " });
  b.emit("chat-message", "just a string");
  const outsider = await client();
  outsider.emit("chat-message", { text: "hi" });
  await waitFor(() => got(b, "space-error").length === 3 && got(outsider, "space-error").length === 1, 3000, "the refusals");
  assert.deepEqual(got(b, "space-error").map(([m]) => m).sort(), [
    "chat messages are at most 500 characters",
    'chat-message takes {"text": "…"}',
    "empty chat message",
  ]);
  assert.deepEqual(got(outsider, "space-error"), [["join a space before you chat"]]);
  b.emit("chat-message", { text: "y".repeat(500) });
  await waitFor(() => got(a, "chat-message").length === 2, 3000, "500 characters pass");
  assert.equal(got(other, "chat-message").length, 0, "nothing crossed spaces");
  [a, b, other, outsider].forEach((s) => s.close());
});

test("chat: a socket flooding messages is cut off; the others keep talking", async () => {
  const [calm, flooder] = [await client(), await client()];
  calm.emit("join-space", "flood", "calm");
  flooder.emit("join-space", "flood", "flooder");
  await waitFor(() => got(calm, "space-members").length && got(flooder, "space-members").length, 3000, "both joined");
  let disconnected = false;
  flooder.on("disconnect", () => (disconnected = true));
  for (let i = 0; i < 100 && !disconnected; i++) flooder.emit("chat-message", { text: `spam ${i}` });
  await waitFor(() => disconnected, 5000, "the flooder to be disconnected");
  assert.ok(got(flooder, "space-error").some(([m]) => /too many chat messages/.test(m)));
  const relayed = got(calm, "chat-message").length;
  assert.ok(relayed <= 20, `at most the allowed 20 relayed, got ${relayed}`);
  calm.emit("chat-message", { text: "still here" });
  await waitFor(() => got(calm, "chat-message").some(([m]) => m.text === "still here"), 3000, "the calm one still chats");
  calm.close();
});
