// Captures real traffic for the fuzz seed corpora (FUZZING.md): `node fuzz-capture.mjs OUT_DIR`.
//
// 1. A Chromium page (peerjs 1.5.5) calls a Firefox page (peerjs 1.3.1) through the npm
//    `peer` server, calls an absent peer (its offer EXPIREs), and tries a taken id and a
//    wrong key; every websocket message either way is recorded: OUT_DIR/peerjs.json.
// 2. In each browser, a loopback call records the first encoded frames of its fake camera
//    and microphone through RTCRtpScriptTransform, as its encoder handed them to the
//    packetizer (H.264 and VP8 from Chromium, VP8 from Firefox, Opus from both):
//    OUT_DIR/frames-BROWSER-CODEC.json.
// 3. Raw websocket clients join the workshop's backend (socket.io 4) and, with
//    PACKSPACES_BIN set, `packspaces serve` (named spaces, names, chat, a refused join);
//    every Engine.IO packet either way is recorded: OUT_DIR/socketio-SERVER.json, and
//    what `serve` answers at /packspaces.json: OUT_DIR/discover-serve.json.
//
// `cargo test --test it fuzz_corpus::make_seeds -- --ignored` then turns OUT_DIR
// (PACKSPACES_CAPTURE, default target/fuzz-capture) into fuzz/seeds/.
import { createServer } from "node:http";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { spawn } from "node:child_process";
import { PeerServer } from "peer";
import WebSocket from "ws";
import { chromium } from "playwright-core";
import puppeteer from "puppeteer-core";
import { CHROMIUM_ARGS, here, nodeModules, sleep, startServer, waitFor } from "./lib.mjs";

const out = process.argv[2];
if (!out) throw new Error("usage: node fuzz-capture.mjs OUT_DIR");
mkdirSync(out, { recursive: true });

// The npm `peer` server, and two pages that load a peerjs each.
const peerServer = await new Promise((resolve) => {
  const server = PeerServer({ port: 0, host: "127.0.0.1", path: "/peerjs" }, (http) =>
    resolve({ server, port: http.address().port }),
  );
});
const scripts = {
  "/peerjs-1.5.5.js": path.join(nodeModules, "peerjs/dist/peerjs.min.js"),
  "/peerjs-1.3.1.js": path.join(nodeModules, "peerjs-1.3.1/dist/peerjs.min.js"),
};
const web = createServer((req, res) => {
  const url = new URL(req.url, "http://x");
  if (scripts[url.pathname]) {
    res.writeHead(200, { "content-type": "text/javascript" });
    res.end(readFileSync(scripts[url.pathname]));
    return;
  }
  const version = url.searchParams.get("peerjs") || "1.5.5";
  res.writeHead(200, { "content-type": "text/html" });
  res.end(`<!doctype html><title>capture</title><script src="/peerjs-${version}.js"></script>`);
});
await new Promise((resolve) => web.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${web.address().port}`;

/** Runs before the page's scripts: every websocket message either way goes to __ws. */
function recordSockets() {
  window.__ws = [];
  const Real = window.WebSocket;
  window.WebSocket = class extends Real {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (e) => window.__ws.push({ dir: "in", data: String(e.data) }));
    }
    send(data) {
      window.__ws.push({ dir: "out", data: String(data) });
      super.send(data);
    }
  };
}

const chrome = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: CHROMIUM_ARGS });
const chromePage = await chrome.newPage();
await chromePage.addInitScript(recordSockets);
await chromePage.goto(`${origin}/?peerjs=1.5.5`);

// As tests/node/firefox-peer.mjs: a fake camera and microphone, loopback candidates.
const firefox = await puppeteer.launch({
  browser: "firefox",
  protocol: "webDriverBiDi",
  executablePath: process.env.FIREFOX || "/usr/bin/firefox-esr",
  headless: true,
  extraPrefsFirefox: {
    "media.navigator.streams.fake": true,
    "media.navigator.permission.disabled": true,
    "permissions.default.camera": 1,
    "permissions.default.microphone": 1,
    "media.peerconnection.ice.loopback": true,
    "media.peerconnection.ice.obfuscate_host_addresses": false,
    "media.gmp-manager.updateEnabled": false,
    "media.gmp-gmpopenh264.enabled": false,
  },
});
const firefoxPage = await firefox.newPage();
await firefoxPage.evaluateOnNewDocument(recordSockets);
await firefoxPage.goto(`${origin}/?peerjs=1.3.1`);

const options = { host: "127.0.0.1", port: peerServer.port, path: "/peerjs", key: "peerjs", config: { iceServers: [] } };

// Firefox answers every call with its camera.
await firefoxPage.evaluate(async (options) => {
  const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 160, height: 120 }, audio: true });
  window.peer = new Peer("firefox-b", options);
  await new Promise((ok, fail) => { peer.on("open", ok); peer.on("error", fail); });
  peer.on("call", (call) => {
    call.answer(stream);
    call.on("stream", () => { window.__streaming = true; });
  });
}, options);

// Chromium calls it with a name, then an absent peer; then a taken id and a wrong key.
await chromePage.evaluate(async (options) => {
  const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 160, height: 120 }, audio: true });
  window.peer = new Peer("chromium-a", options);
  await new Promise((ok, fail) => { peer.on("open", ok); peer.on("error", fail); });
  const call = peer.call("firefox-b", stream, { metadata: { name: "Ada" } });
  await new Promise((ok) => call.on("stream", ok));
  window.call = call;
  peer.call("nobody-here", stream, { metadata: { name: "Ada" } });
  const taken = new Peer("firefox-b", options);
  taken.on("error", () => {});
  const wrongKey = new Peer("chromium-c", { ...options, key: "nope" });
  wrongKey.on("error", () => {});
}, options);
await waitFor(() => firefoxPage.evaluate(() => window.__streaming === true), 20000, "Firefox receiving Chromium's stream");
// npm `peer` answers EXPIRE for the absent peer after 5 s.
await waitFor(() => chromePage.evaluate(() => window.__ws.some((m) => m.data.includes('"EXPIRE"'))), 20000, "EXPIRE");
await chromePage.evaluate(() => { window.call.close(); window.peer.destroy(); });
await sleep(1000);

const messages = [];
for (const [browser, peerjs, page] of [["chromium", "1.5.5", chromePage], ["firefox", "1.3.1", firefoxPage]]) {
  for (const m of await page.evaluate(() => window.__ws)) messages.push({ browser, peerjs, ...m });
}
writeFileSync(path.join(out, "peerjs.json"), JSON.stringify(messages, null, 1));
console.log(`peerjs.json: ${messages.length} messages`);

/**
 * In the page: a loopback call sending `kind` in `codec` (a MIME type, or null for the
 * default), whose first `count` encoded frames come back base64-encoded.
 */
async function captureFrames({ kind, codec, count }) {
  const worker = new Worker(URL.createObjectURL(new Blob([`
    onrtctransform = (event) => {
      const { readable, writable, options } = event.transformer;
      const frames = [];
      readable.pipeThrough(new TransformStream({
        transform(frame, controller) {
          if (frames.length < options.count) {
            frames.push({ type: frame.type || "audio", timestamp: frame.timestamp, data: frame.data.slice(0) });
            if (frames.length === options.count) postMessage(frames);
          }
          controller.enqueue(frame);
        },
      })).pipeTo(writable);
    };`], { type: "text/javascript" })));
  const [a, b] = [new RTCPeerConnection(), new RTCPeerConnection()];
  a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
  b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
  const constraints = kind === "video" ? { video: { width: 160, height: 120 } } : { audio: true };
  const track = (await navigator.mediaDevices.getUserMedia(constraints)).getTracks()[0];
  const transceiver = a.addTransceiver(track, { direction: "sendonly" });
  if (codec) {
    const codecs = RTCRtpReceiver.getCapabilities(kind).codecs.filter((c) =>
      c.mimeType.toLowerCase() === codec
      && (codec !== "video/h264" || /packetization-mode=1/.test(c.sdpFmtpLine) && /profile-level-id=42e01f/.test(c.sdpFmtpLine)));
    if (codecs.length === 0) return null;
    transceiver.setCodecPreferences(codecs);
  }
  transceiver.sender.transform = new RTCRtpScriptTransform(worker, { count });
  const frames = new Promise((ok) => { worker.onmessage = (e) => ok(e.data); });
  await a.setLocalDescription();
  await b.setRemoteDescription(a.localDescription);
  await b.setLocalDescription();
  await a.setRemoteDescription(b.localDescription);
  const got = await frames;
  const offer = a.localDescription.sdp;
  a.close();
  b.close();
  track.stop();
  const base64 = (buffer) => {
    const bytes = new Uint8Array(buffer);
    let s = "";
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(s);
  };
  return { offer, frames: got.map((f) => ({ type: f.type, timestamp: f.timestamp, data: base64(f.data) })) };
}

const evaluate = (page, f, arg) => page.evaluate(f, arg);
for (const [browser, page, kind, codec, count] of [
  ["chromium", chromePage, "video", "video/h264", 12],
  ["chromium", chromePage, "video", "video/vp8", 12],
  ["chromium", chromePage, "audio", "audio/opus", 25],
  ["firefox", firefoxPage, "video", "video/vp8", 12],
  ["firefox", firefoxPage, "audio", "audio/opus", 25],
]) {
  const got = await evaluate(page, captureFrames, { kind, codec, count });
  const name = `frames-${browser}-${codec.split("/")[1]}.json`;
  if (!got) {
    console.log(`${name}: ${browser} has no ${codec}`);
    continue;
  }
  writeFileSync(path.join(out, name), JSON.stringify({ browser, codec, ...got }, null, 1));
  console.log(`${name}: ${got.frames.length} frames, ${got.frames.reduce((n, f) => n + f.data.length * 3 / 4, 0)} bytes`);
}

await chrome.close();
await firefox.close();

/** Socket.IO clients on raw websockets: each script step sends packets, then waits. */
async function socketio(base, steps) {
  const packets = [];
  const url = base.replace(/^http/, "ws") + "socket.io/?EIO=4&transport=websocket";
  const sockets = [];
  for (const [who, send] of steps) {
    if (!sockets[who]) {
      const ws = new WebSocket(url);
      ws.on("message", (data) => {
        const text = String(data);
        packets.push({ who, dir: "in", data: text });
        if (text === "2") ws.send("3");
      });
      await new Promise((ok) => ws.on("open", ok));
      sockets[who] = ws;
      await sleep(200);
    }
    if (send === null) {
      sockets[who].close();
    } else {
      packets.push({ who, dir: "out", data: send });
      sockets[who].send(send);
    }
    await sleep(300);
  }
  sockets.forEach((ws) => ws.close());
  return packets;
}

const backend = spawn(process.execPath, [path.join(here, "workshop-backend.mjs")], { stdio: ["ignore", "pipe", "ignore"] });
const backendUrl = await new Promise((ok) => backend.stdout.on("data", (d) => {
  const m = /listening on (\S+)/.exec(String(d));
  if (m) ok(m[1]);
}));
const workshop = await socketio(backendUrl, [
  [0, "40"], [0, '42["join-space","peer-a"]'], [1, "40"], [1, '42["join-space","peer-b"]'], [1, null],
]);
backend.kill();
writeFileSync(path.join(out, "socketio-workshop.json"), JSON.stringify(workshop, null, 1));
console.log(`socketio-workshop.json: ${workshop.length} packets`);
if (process.env.PACKSPACES_BIN) {
  const serve = await startServer({
    extraArgs: ["--ice-server", "turn:10.0.0.5:3478?transport=udp", "--ice-server", "stun:10.0.0.5:3478",
      "--ice-username", "class", "--ice-credential", "secret"],
  });
  writeFileSync(path.join(out, "discover-serve.json"), await (await fetch(`${serve.url}packspaces.json`)).text());
  const ours = await socketio(serve.url, [
    [0, "40"], [0, '42["join-space","CSC342","peer-a",{"name":"Ada"}]'],
    [1, "40"], [1, '42["join-space","CSC342","peer-b"]'],
    [1, '42["chat-message",{"text":"hello, Ada"}]'], [0, '42["join-space","../x","peer-a"]'],
    [0, '42["chat-message",{"text":""}]'], [0, '421["join-space","peer-a"]'], [1, null],
  ]);
  await serve.stop();
  writeFileSync(path.join(out, "socketio-serve.json"), JSON.stringify(ours, null, 1));
  console.log(`socketio-serve.json: ${ours.length} packets`);
}
web.close();
peerServer.server.close?.();
process.exit(0);
