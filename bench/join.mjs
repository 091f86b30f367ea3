// Benchmark: time from start to the first remote frame for `packspaces` (a headless
// session, examples/first_frame.rs) beside a Chromium page joining the same space, both as
// newcomers called by a Chromium page already there; then the CPU packspaces spends on one
// incoming stream. Prints a markdown report. Run from the repo root:
//   cargo build --release --bins --examples && node bench/join.mjs [RUNS]
import { spawn, execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import os from "node:os";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const require = createRequire(path.join(root, "tests/node/package.json"));
const { chromium } = require("playwright-core");
const { CHROMIUM_ARGS } = await import(path.join(root, "tests/node/lib.mjs"));
const runs = Number(process.argv[2] || 7);
const bin = path.join(root, "target/release/packspaces");
const firstFrame = path.join(root, "target/release/examples/first_frame");

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function run(cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${out}`))));
  });
}

const server = spawn(bin, ["serve", "--port", "0", "--static-dir", path.join(root, "tests/node/node_modules"),
  "--peerjs-script", "/static/peerjs-1.3.1/dist/peerjs.min.js",
  "--socketio-script", "/static/socket.io-client/dist/socket.io.min.js"], { stdio: ["ignore", "pipe", "inherit"] });
const base = await new Promise((resolve) => {
  let out = "";
  server.stdout.on("data", (d) => {
    out += d;
    const m = /listening on (http:\/\/\S+\/)/.exec(out);
    if (m) resolve(m[1]);
  });
});
const space = `${base}bench`;
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
const incumbent = await browser.newPage();
await incumbent.goto(space);
await incumbent.waitForFunction(() => window.packspaces && window.packspaces.peerId);

const ours = [];
const theirs = [];
for (let i = 0; i < runs; i++) {
  const out = await run(firstFrame, [space, `${base}peerjs`]);
  ours.push(Number(/first_frame_ms (\d+)/.exec(out)[1]));
  await sleep(1000);
  const t0 = performance.now();
  const page = await browser.newPage();
  await page.goto(space);
  await page.waitForFunction(() => [...document.querySelectorAll("#videos video")].slice(1).some((v) => v.videoWidth > 0 && v.currentTime > 0), null, { polling: 5, timeout: 30000 });
  theirs.push(Math.round(performance.now() - t0));
  await page.close();
  await sleep(1000);
}
const cpuOut = await run(firstFrame, [space, `${base}peerjs`, "20", "novideo"]);
const cpu = Number(/cpu_percent ([\d.]+)/.exec(cpuOut)[1]);
const fps = Number(/frames_per_second ([\d.]+)/.exec(cpuOut)[1]);
const size = /last_size (\S+)/.exec(cpuOut)[1];
await browser.close();
server.kill("SIGTERM");

const cpuModel = (os.cpus()[0] || {}).model || "unknown CPU";
console.log(`## Joining: time to the first remote frame, and CPU per incoming stream

- Date: ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC; ${os.cpus().length} CPUs, ${cpuModel}; load ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}
- ${execFileSync("/usr/bin/chromium", ["--version"]).toString().trim()}; packspaces release build; \`packspaces serve\` on loopback; ${runs} runs each
- Command: \`cargo build --release --bins --examples && node bench/join.mjs ${runs}\`

A Chromium page with the fake camera is in the space; a newcomer joins and is called by it.
packspaces: from process start (examples/first_frame.rs: a headless session sending our test
card) to the first decoded frame. Chromium: from opening a new page to the first frame playing
in its remote <video> (videoWidth > 0 and currentTime > 0).

| newcomer | median ms | all runs (ms) |
|---|---:|---|
| packspaces | ${median(ours)} | ${ours.join(", ")} |
| Chromium page | ${median(theirs)} | ${theirs.join(", ")} |

Ratio packspaces / Chromium: ${(median(ours) / median(theirs)).toFixed(2)}.

CPU for one incoming stream (receiving only: \`first_frame … 20 novideo\`, 20 s): ${cpu}% of one
core at ${fps} decoded frames per second of ${size} (H.264 from Chromium's fake camera).
`);
process.exit(0);
