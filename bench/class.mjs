// Benchmark: `join` in a class-sized space. 16 other participants (bots, two Chromium
// pages and one Firefox ESR page; Chromium's camera is a camera-like 640x480 clip, Firefox's
// its fake camera) are in a space on `packspaces serve`; `join` runs in a 160x48 tmux pane.
// serve and the bots are always this build's, so every build meets the same others. After a settling time,
// its CPU (utime+stime from /proc) and resident memory are sampled for SECONDS. Each build
// given runs in turn, ROUNDS times, in one run of this script, so their figures compare.
// Prints a markdown report. Run from the repo root:
//   cargo build --release --bins --examples
//   cargo run --release --example make_clip -- /tmp/class-camera.y4m --motion camera
//   node bench/class.mjs [--old PATH_TO_OLD_BINARY] [--seconds 60] [--rounds 2] [--bots 13]
//                        [--browsers chromium,chromium,firefox] [--settle 25] [--size 160x48]
//                        [--compare-env NAME=VALUE]
// --compare-env adds a row: this build with that variable set for `join` (e.g.
// PACKSPACES_DECODE_HIDDEN=1, to measure what not decoding off-screen tiles saves; a small
// --size leaves most tiles off screen). --browsers "" runs bots only.
import { spawn, execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import os from "node:os";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const node = path.join(root, "tests/node");
const { option: opt, sleep, median, usage, startServe } = await import(path.join(root, "bench/lib.mjs"));
const seconds = Number(opt("seconds", 60));
const rounds = Number(opt("rounds", 2));
const botCount = Number(opt("bots", 13));
const settle = Number(opt("settle", 25));
const camera = opt("camera", "/tmp/class-camera.y4m");
// The pages: a comma-separated list of chromium and firefox ("" for none).
const browsers = opt("browsers", "chromium,chromium,firefox").split(",").filter(Boolean);
// Every build is measured among the same others: serve and the bots are this build's.
const others = path.join(root, "target/release/packspaces");
const [cols, rows] = opt("size", "160x48").split("x").map(Number);
// Each build: a label, a binary, and environment for its `join`.
const builds = [["this build", path.join(root, "target/release/packspaces"), ""]];
if (opt("old")) builds.push(["before", path.resolve(opt("old")), ""]);
if (opt("compare-env")) builds.push([`this build, ${opt("compare-env")}`, builds[0][1], opt("compare-env")]);
for (const [, bin] of builds) if (!existsSync(bin)) throw new Error(`${bin} is missing`);
if (!existsSync(camera)) throw new Error(`${camera} is missing (see the header for make_clip)`);

const children = [];
process.on("exit", () => children.forEach((c) => c.kill("SIGKILL")));

function start(cmd, args, env = {}) {
  const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "ignore"], env: { ...process.env, ...env }, cwd: root });
  children.push(child);
  return child;
}

function waitLine(child, re, ms, what) {
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms: ${out.slice(-500)}`)), ms);
    child.stdout.on("data", (d) => {
      out += d;
      const m = re.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
  });
}

async function measure(label, bin, env, round) {
  const [server, base] = await startServe(others, ["--static-dir", path.join(node, "node_modules"),
    "--peerjs-script", "/static/peerjs/dist/peerjs.min.js",
    "--socketio-script", "/static/socket.io-client/dist/socket.io.min.js"]);
  children.push(server);
  const space = `${base}class${round}`;
  const peer = ["--peer-server", `${base}peerjs`, "--ice-server", "none", "--udp-bind", "127.0.0.1", "--no-audio"];
  for (let i = 0; i < botCount; i++) {
    const bot = start(others, ["bot", space, ...peer, "--name", `Bot ${i + 1}`, "--palette", String(i % 6)]);
    await waitLine(bot, /bot: in/, 20000, `bot ${i + 1}`);
  }
  const pages = [];
  for (const script of browsers.map((b) => (b === "firefox" ? "firefox-peer.mjs" : "browser-peer.mjs"))) {
    const page = start("node", [path.join(node, script), `${space}?name=${script.startsWith("firefox") ? "Firefox" : "Chromium"}`, camera],
      { PAGE_SECONDS: String(settle + seconds + 120) });
    page.stdout.setEncoding("utf8");
    await waitLine(page, /"event":"ready"/, 60000, `${script} page`);
    pages.push(page);
  }
  const tmux = `class-bench-${process.pid}`;
  execFileSync("tmux", ["new-session", "-d", "-s", tmux, "-x", String(cols), "-y", String(rows),
    `${env ? `env ${env} ` : ""}${bin} join ${space} ${peer.join(" ")} --name Terminal --camera off; sleep 5`]);
  await sleep(2000);
  const pid = Number(execFileSync("pgrep", ["-f", "-n", `${bin} join ${space}`]).toString().trim());
  await sleep(settle * 1000);
  const first = usage(pid);
  const rss = [];
  const t0 = performance.now();
  // By the clock: under heavy load a turn of this loop takes longer than its sleep.
  while (performance.now() - t0 < seconds * 1000) {
    await sleep(1000);
    rss.push(usage(pid).rss);
  }
  const last = usage(pid);
  const wall = (performance.now() - t0) / 1000;
  const screen = execFileSync("tmux", ["capture-pane", "-p", "-t", tmux]).toString();
  const live = (screen.match(/· live/g) || []).length;
  const load = os.loadavg()[0];
  execFileSync("tmux", ["send-keys", "-t", tmux, "q"]);
  await sleep(2000);
  try { execFileSync("tmux", ["kill-session", "-t", tmux]); } catch {}
  for (const c of children.splice(0)) c.kill("SIGTERM");
  await sleep(3000);
  // For long runs: is memory flat? The first and the last minute's medians.
  const rssFirst = median(rss.slice(0, 60));
  const rssLast = median(rss.slice(-60));
  return { label, cpu: (100 * (last.cpu - first.cpu)) / wall, rss: median(rss), rssMax: Math.max(...rss), rssFirst, rssLast, live, load };
}

const results = [];
for (let round = 0; round < rounds; round++) {
  for (const [label, bin, env] of builds) {
    const r = await measure(label, bin, env, round);
    console.error(`${r.label}: ${r.cpu.toFixed(1)}% of a core, ${r.rss.toFixed(0)} MB (max ${r.rssMax.toFixed(0)}; first minute ${r.rssFirst.toFixed(0)}, last minute ${r.rssLast.toFixed(0)}), ${r.live} live tiles on screen, load ${r.load.toFixed(2)}`);
    results.push(r);
  }
}

const cpuModel = (os.cpus()[0] || {}).model || "unknown CPU";
const args = process.argv.slice(2).join(" ");
console.log(`## A class-sized space: \`join\` with ${botCount + browsers.length} other participants

- Date: ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC; ${os.cpus().length} CPUs, ${cpuModel}
- ${execFileSync("/usr/bin/chromium", ["--version"]).toString().trim()}; ${execFileSync("/usr/bin/firefox-esr", ["--version"]).toString().trim()}
- Command: \`node bench/class.mjs ${args}\`; ${rounds} rounds, builds in turn; ${settle} s to settle, then ${seconds} s measured; \`join\` at ${cols}x${rows}

| build | CPU, % of one core (median) | all rounds | resident MB (median) | first / last minute, MB | live tiles seen |
|---|---:|---|---:|---|---|`);
for (const [label] of builds) {
  const rs = results.filter((r) => r.label === label);
  console.log(`| ${label} | ${median(rs.map((r) => r.cpu)).toFixed(1)} | ${rs.map((r) => r.cpu.toFixed(1)).join(", ")} | ${median(rs.map((r) => r.rss)).toFixed(0)} | ${rs.map((r) => `${r.rssFirst.toFixed(0)} / ${r.rssLast.toFixed(0)}`).join(", ")} | ${rs.map((r) => r.live).join(", ")} |`);
}
process.exit(0);
