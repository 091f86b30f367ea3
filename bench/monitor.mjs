// Benchmark: `monitor` (its terminal UI, in a 160x48 tmux pane) watching a space of 100
// members who join and leave in bursts: 100 socket.io-client members join, then every
// 2 s a burst of 20 of them leave and 20 come back, for SECONDS. The monitor's CPU
// (utime+stime from /proc) and resident memory over that time. Each build given runs in
// turn, ROUNDS times, in one run of this script. Prints a markdown report. From the repo root:
//   cargo build --release --bins && node bench/monitor.mjs [--old PATH] [--seconds 60] [--rounds 2]
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import path from "node:path";
import os from "node:os";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const require = createRequire(path.join(root, "tests/node/package.json"));
const { io } = require("socket.io-client");
const { option: opt, sleep, median, usage, startServe } = await import(path.join(root, "bench/lib.mjs"));
const seconds = Number(opt("seconds", 60));
const rounds = Number(opt("rounds", 2));
const members = Number(opt("members", 100));
const burst = Number(opt("burst", 20));
const builds = [["this build", path.join(root, "target/release/packspaces")]];
if (opt("old")) builds.push(["before", path.resolve(opt("old"))]);
for (const [, bin] of builds) if (!existsSync(bin)) throw new Error(`${bin} is missing`);

/** A member: a socket in the space under a made-up peer id. */
function member(base, space, i, round) {
  const socket = io(base, { transports: ["websocket"], reconnection: false, forceNew: true });
  const id = `member-${round}-${i}-${Math.random().toString(36).slice(2, 8)}`;
  return new Promise((resolve) => {
    socket.on("connect", () => {
      socket.emit("join-space", space, id);
      resolve(socket);
    });
  });
}

async function measure(label, bin, round) {
  const [server, base] = await startServe(path.join(root, "target/release/packspaces"));
  const space = `crowd${round}`;
  const tmux = `monitor-bench-${process.pid}`;
  execFileSync("tmux", ["new-session", "-d", "-s", tmux, "-x", "160", "-y", "48",
    `${bin} monitor ${base}${space} --peer-server ${base}peerjs; sleep 5`]);
  await sleep(2000);
  const pid = Number(execFileSync("pgrep", ["-f", "-n", `${bin} monitor ${base}${space}`]).toString().trim());
  const sockets = [];
  for (let i = 0; i < members; i++) sockets.push(await member(base, space, i, round));
  await sleep(3000);
  const first = usage(pid);
  const rss = [];
  const t0 = performance.now();
  let next = members;
  while (performance.now() - t0 < seconds * 1000) {
    for (let k = 0; k < burst; k++) {
      const j = Math.floor(Math.random() * sockets.length);
      sockets[j].disconnect();
      sockets[j] = await member(base, space, next++, round);
    }
    await sleep(2000);
    rss.push(usage(pid).rss);
  }
  const last = usage(pid);
  const wall = (performance.now() - t0) / 1000;
  sockets.forEach((s) => s.disconnect());
  execFileSync("tmux", ["send-keys", "-t", tmux, "q"]);
  await sleep(1500);
  try { execFileSync("tmux", ["kill-session", "-t", tmux]); } catch {}
  server.kill("SIGTERM");
  await sleep(1000);
  return { label, cpu: (100 * (last.cpu - first.cpu)) / wall, rss: median(rss), joins: next - members };
}

const results = [];
for (let round = 0; round < rounds; round++) {
  for (const [label, bin] of builds) {
    const r = await measure(label, bin, round);
    console.error(`${r.label}: ${r.cpu.toFixed(2)}% of a core, ${r.rss.toFixed(0)} MB, ${r.joins} joins and as many leaves`);
    results.push(r);
  }
}
const cpuModel = (os.cpus()[0] || {}).model || "unknown CPU";
console.log(`## monitor: ${members} members joining and leaving in bursts

- Date: ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC; ${os.cpus().length} CPUs, ${cpuModel}
- Command: \`node bench/monitor.mjs ${process.argv.slice(2).join(" ")}\`; ${rounds} rounds, builds in turn; ${burst} leave and ${burst} join every 2 s for ${seconds} s

| build | CPU, % of one core (median) | all rounds | resident MB (median) |
|---|---:|---|---:|`);
for (const [label] of builds) {
  const rs = results.filter((r) => r.label === label);
  console.log(`| ${label} | ${median(rs.map((r) => r.cpu)).toFixed(2)} | ${rs.map((r) => r.cpu.toFixed(2)).join(", ")} | ${median(rs.map((r) => r.rss)).toFixed(0)} |`);
}
process.exit(0);
