// Benchmark: how many members one `packspaces serve` holds, against the workshop's Node
// backend plus npm `peer` (its PeerServer), in one run. Real clients: socket.io-client for
// the space (websocket transport, as the page) and the PeerJS wire protocol over `ws` (GET
// an id, open the socket, heartbeats every 5 s, OFFER/CANDIDATE relayed to a peer).
//
// Members join in steps up to MEMBERS, spread over SPACES spaces (the workshop backend has
// one global space: every join goes to everyone, as in the workshop). After each step, for
// a few seconds at classroom rates: newcomers join a space and leave again (latency:
// `join-space` sent → `user-connected` at a member of that space), and members send OFFER
// and CANDIDATE messages to another member of their space (latency: sent → received).
// Reports p50/p99 of both, the servers' resident memory and CPU, and the first step where a
// server stops keeping up (p99 over 50 ms, a message that never arrives, or a member that
// cannot connect). The timed members (two in each of the first 100 spaces) live in this
// process; the rest are held by crowd processes (bench/load-crowd.mjs), each from its own
// loopback address.
// Run from the repo root after `cargo build --release`:
//   node bench/load.mjs [--members 2000] [--spaces 200] [--step 250] [--from STEP]
//                       [--seconds 5] [--targets serve,node,cluster2,cluster3] [--crowds N]
// clusterN: N `serve --redis` instances sharing a redis-server of the benchmark's own
// (members spread over them, the two timed members of a space at different instances);
// the servers' CPU and memory then include Redis's, and Redis's traffic is reported.
// clusterN+haproxy: the same with everyone through HAProxy and deploy/haproxy.cfg (where
// round robin puts them; its CPU and memory included).
// The server holds two sockets a member: past about 9,500 members raise the open-file limit
// first (the script says how far).
import { spawn, fork } from "node:child_process";
import net from "node:net";
import { readFileSync } from "node:fs";
import path from "node:path";
import os from "node:os";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const nodeDir = path.join(root, "tests/node");
const { option: opt, sleep, usage, startServe } = await import(path.join(root, "bench/lib.mjs"));
const crowdScript = path.join(root, "bench/load-crowd.mjs");
const { member } = await import(crowdScript);

const MEMBERS = Number(opt("members", 2000));
const SPACES = Number(opt("spaces", 200));
const STEP = Number(opt("step", 250));
const FROM = Number(opt("from", STEP)); // the first step's membership
const targets = opt("targets", "serve,node").split(",");
const LIMIT_MS = 50;
const SAMPLE_SECONDS = Number(opt("seconds", 5));
// Classroom rates, for the whole server: joins (and leaves) and relayed messages a second.
const JOINS_PER_SECOND = 10;
const RELAYS_PER_SECOND = 40;

// Spaces where joins and relays are timed (the first ones), and processes holding the rest
// of the members: enough crowds that none holds more than 2,500.
const OBSERVED_SPACES = Math.min(SPACES, 100);
const CROWDS = Number(opt("crowds", Math.max(1, Math.ceil(MEMBERS / 2500))));

/** The soft limit on open files of this process (servers and crowds inherit it). */
function openFileLimit() {
  const m = /Max open files\s+(\d+)/.exec(readFileSync("/proc/self/limits", "utf8"));
  return m ? Number(m[1]) : Infinity;
}
// A server holds two sockets a member (a cluster's instances share them); say so before a
// run fails half-way with EMFILE.
// HAProxy holds four a member (both sides of both sockets): members are spread over enough
// HAProxy processes.
const BALANCERS = Math.max(1, Math.ceil((4 * MEMBERS) / (openFileLimit() - 2000)));
const instancesOf = (t) => Number((/^cluster(\d)/.exec(t) || [])[1] || 1);
const filesOf = (t) => Math.ceil((2 * MEMBERS) / instancesOf(t));
const filesNeeded = Math.max(...targets.map(filesOf)) + 500;
if (openFileLimit() < filesNeeded) {
  console.error(`load.mjs: ${MEMBERS} members need about ${filesNeeded} open files in a server (two sockets a member); this shell allows ${openFileLimit()}: run \`ulimit -n ${filesNeeded}\` first (as root, or within the hard limit)`);
  process.exit(2);
}

const children = [];
process.on("exit", () => children.forEach((c) => c.kill("SIGKILL")));

function quantile(xs, q) {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

function startNode(script, env = {}) {
  const child = spawn("node", [path.join(nodeDir, script)], { stdio: ["ignore", "pipe", "ignore"], env: { ...process.env, ...env } });
  children.push(child);
  return new Promise((resolve) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      const m = /listening on (\S+)/.exec(out);
      if (m) resolve([child, m[1]]);
    });
  });
}

/** A redis-server of the benchmark's own on a free port, saving nothing. */
async function startRedis() {
  const port = await new Promise((resolve) => {
    const probe = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--maxclients", "1000"], { stdio: "ignore" });
  children.push(child);
  for (let i = 0; i < 100 && !(await redisInfo(port)); i++) await sleep(100);
  return { port, child };
}

/** Redis's own counters: bytes in and out and commands so far (INFO stats). */
function redisInfo(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write("INFO stats\r\n"));
    let text = "";
    socket.on("data", (d) => {
      text += d;
      const field = (name) => Number((new RegExp(`${name}:(\\d+)`).exec(text) || [])[1]);
      if (text.includes("total_net_output_bytes")) {
        socket.destroy();
        resolve({ bytes: field("total_net_input_bytes") + field("total_net_output_bytes"), commands: field("total_commands_processed") });
      }
    });
    socket.on("error", () => resolve(null));
  });
}

/**
 * The servers of a target: the instances members connect to (spaces and PeerServer), the
 * processes to measure, and Redis's port for a cluster.
 */
async function startTarget(name) {
  const bin = path.join(root, "target/release/packspaces");
  // Room for every member and the newcomers (5,000 by default, as npm peer).
  const maxPeers = ["--max-peers", String(MEMBERS + 1000)];
  const instance = (base) => ({ spaceUrl: base, peerBase: `${base}peerjs/`, spaces: true });
  if (name === "serve") {
    const [child, base] = await startServe(bin, maxPeers);
    children.push(child);
    return { name: "packspaces serve", instances: [instance(base)], pids: [child.pid], stop: () => child.kill() };
  }
  const cluster = /^cluster(\d)(\+haproxy)?$/.exec(name);
  if (cluster) {
    const redis = await startRedis();
    const started = [];
    for (let i = 0; i < Number(cluster[1]); i++) {
      const [child, base] = await startServe(bin, [...maxPeers, "--redis", `redis://127.0.0.1:${redis.port}`]);
      children.push(child);
      started.push([child, base]);
    }
    const pids = [...started.map(([child]) => child.pid), redis.child.pid];
    const stop = () => [...started.map(([child]) => child), redis.child].forEach((c) => c.kill());
    if (cluster[2]) {
      // Everyone through HAProxy with the repository's configuration (the tests' helper),
      // as many HAProxy processes as the file limit needs (as DNS round robin over
      // balancers would), each with every instance behind it.
      const { startHaproxy } = await import(path.join(nodeDir, "lib.mjs"));
      const noSkip = { skip: (why) => { throw new Error(why); } };
      const balancers = [];
      for (let i = 0; i < BALANCERS; i++) balancers.push(await startHaproxy(noSkip, started.map(([, base]) => base)));
      return {
        name: `${started.length} packspaces serve instances sharing Redis, behind HAProxy (${BALANCERS} process${BALANCERS > 1 ? "es" : ""})`,
        instances: balancers.map((b) => instance(b.url)),
        pids: [...pids, ...balancers.map((b) => b.pid)],
        redisPort: redis.port,
        stop: () => { stop(); balancers.forEach((b) => b.stop()); },
      };
    }
    return {
      name: `${started.length} packspaces serve instances sharing Redis`,
      instances: started.map(([, base]) => instance(base)),
      pids,
      redisPort: redis.port,
      stop,
    };
  }
  const [peer, peerUrl] = await startNode("peer-server.mjs", { CONCURRENT_LIMIT: String(MEMBERS + 1000) });
  const [backend, backendUrl] = await startNode("workshop-backend.mjs");
  return {
    name: "workshop backend + npm peer",
    instances: [{ spaceUrl: backendUrl, peerBase: `${peerUrl}/`, spaces: false }],
    pids: [peer.pid, backend.pid],
    stop: () => { peer.kill(); backend.kill(); },
  };
}

/**
 * A crowd process connecting from `localAddress` to `instance`; `add(spaces)` resolves to
 * {ok, failed}.
 */
async function startCrowd(instance, localAddress) {
  const child = fork(crowdScript, ["--crowd"], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  children.push(child);
  const replies = [];
  child.on("message", (msg) => replies.shift()?.(msg));
  const ask = (msg) => new Promise((resolve) => {
    replies.push(resolve);
    child.send(msg);
  });
  child.send({ type: "start", target: instance, localAddress });
  return {
    add: (spaces) => (spaces.length ? ask({ type: "add", spaces }) : Promise.resolve({ ok: 0, failed: 0 })),
    close: () => ask({ type: "close" }),
  };
}

async function run(targetName) {
  const target = await startTarget(targetName);
  await sleep(500);
  const base = target.pids.map(usage);
  // Crowds and members spread over the instances of a cluster; the two timed members of a
  // space at different instances, so that their relays cross (newcomers at any).
  const { instances } = target;
  const crowds = await Promise.all(Array.from({ length: CROWDS }, (_, i) => startCrowd(instances[i % instances.length], `127.0.0.${10 + i}`)));
  const members = []; // held here
  let held = 0; // held by the crowds
  let placed = 0; // members asked for, here and in crowds
  const bySpace = new Map();
  const pending = new Map(); // key -> sent time
  const joinLatencies = [];
  const relayLatencies = [];
  let lost = 0;
  const arrived = (key) => {
    const t = pending.get(key);
    if (t === undefined) return null;
    pending.delete(key);
    return performance.now() - t;
  };
  const onSignal = (msg) => {
    const key = msg.payload && msg.payload.connectionId;
    const ms = key && arrived(`relay:${key}:${msg.type}`);
    if (ms !== null && ms !== undefined) relayLatencies.push(ms);
  };
  const onUserConnected = (peerId) => {
    const ms = arrived(`join:${peerId}`);
    if (ms !== null) joinLatencies.push(ms);
  };
  const rows = [];
  let failedAt = null;
  for (let target_count = FROM; target_count <= MEMBERS; target_count += STEP) {
    // Bring members in: the first two of each observed space here (they hear the timed
    // joins and send and receive the timed relays), the rest through the crowds,
    // round-robin. Few here: with the workshop backend every join reaches every member,
    // and this process must not be what delays them.
    const here = [];
    const toCrowd = crowds.map(() => []);
    for (; placed < target_count; placed++) {
      const space = `S${placed % SPACES}`;
      if (placed < 2 * SPACES && placed % SPACES < OBSERVED_SPACES) here.push([space, instances[placed < SPACES ? 0 : 1 % instances.length]]);
      else toCrowd[placed % crowds.length].push(space);
    }
    const crowdsDone = Promise.all(crowds.map((c, i) => c.add(toCrowd[i])));
    for (let i = 0; i < here.length; i += 50) {
      const batch = here.slice(i, i + 50).map(([space, at]) => member(at, space, { onSignal, onUserConnected }));
      for (const r of await Promise.allSettled(batch)) {
        if (r.status === "rejected") {
          lost++;
          continue;
        }
        const m = r.value;
        members.push(m);
        if (!bySpace.has(m.space)) bySpace.set(m.space, []);
        bySpace.get(m.space).push(m);
      }
    }
    for (const { ok, failed } of await crowdsDone) {
      held += ok;
      lost += failed;
    }
    await sleep(1000);
    joinLatencies.length = 0;
    relayLatencies.length = 0;
    pending.clear();
    const before = target.pids.map(usage);
    const redisBefore = target.redisPort && (await redisInfo(target.redisPort));
    const t0 = performance.now();
    const joiners = [];
    let relays = 0;
    let joinsStarted = 0;
    let joinsSent = 0;
    // Classroom traffic for SAMPLE_SECONDS: newcomers, and offers and candidates.
    const timers = [
      setInterval(async () => {
        // A space someone is in, so that someone hears the newcomer.
        const space = members[Math.floor(Math.random() * members.length)].space;
        try {
          // From the newcomer's `join-space` (its connections are already up).
          joinsStarted++;
          const at = instances[Math.floor(Math.random() * instances.length)];
          const m = await member(at, space, {
            beforeJoin: (id) => {
              joinsSent++;
              pending.set(`join:${id}`, performance.now());
            },
          });
          joiners.push(m);
          setTimeout(() => m.close(), 1000);
        } catch {
          lost++;
        }
      }, 1000 / JOINS_PER_SECOND),
      setInterval(() => {
        const from = members[Math.floor(Math.random() * members.length)];
        const peers = bySpace.get(from.space).filter((m) => m !== from);
        if (!peers.length) return;
        const to = peers[Math.floor(Math.random() * peers.length)];
        const connectionId = `mc_${++relays}`;
        const type = relays % 2 ? "OFFER" : "CANDIDATE";
        const payload = type === "OFFER"
          ? { sdp: { type: "offer", sdp: "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" }, type: "media", connectionId, browser: "load" }
          : { candidate: { candidate: "candidate:1 1 udp 2122260223 10.0.0.5 50000 typ host", sdpMid: "0", sdpMLineIndex: 0 }, type: "media", connectionId };
        pending.set(`relay:${connectionId}:${type}`, performance.now());
        from.ws.send(JSON.stringify({ type, dst: to.id, payload }));
      }, 1000 / RELAYS_PER_SECOND),
    ];
    await sleep(SAMPLE_SECONDS * 1000);
    timers.forEach(clearInterval);
    await sleep(1500); // stragglers
    const wall = (performance.now() - t0) / 1000;
    const after = target.pids.map(usage);
    const redisAfter = target.redisPort && (await redisInfo(target.redisPort));
    lost += pending.size; // never arrived within 1.5 s of the window's end
    lost += joinsStarted - joinsSent; // a newcomer that could not even connect
    pending.clear();
    const cpu = (100 * after.reduce((s, u, i) => s + u.cpu - before[i].cpu, 0)) / wall;
    const rss = after.reduce((s, u) => s + u.rss, 0);
    const row = {
      members: members.length + held,
      joinP50: quantile(joinLatencies, 0.5), joinP99: quantile(joinLatencies, 0.99),
      relayP50: quantile(relayLatencies, 0.5), relayP99: quantile(relayLatencies, 0.99),
      joins: joinLatencies.length, relays: relayLatencies.length, lost, cpu, rss,
      // Redis traffic (both directions) per member and second, and commands a second.
      redisBytes: redisBefore && redisAfter ? (redisAfter.bytes - redisBefore.bytes) / wall / (members.length + held) : NaN,
      redisCommands: redisBefore && redisAfter ? (redisAfter.commands - redisBefore.commands) / wall : NaN,
    };
    lost = 0;
    rows.push(row);
    console.error(`${target.name}: ${JSON.stringify(row)}`);
    const keepingUp = row.joinP99 <= LIMIT_MS && row.relayP99 <= LIMIT_MS && row.lost === 0;
    if (!keepingUp && failedAt === null) failedAt = row.members;
    // Past its limit by a step: the rest would only measure a queue.
    if (failedAt !== null && row.members > failedAt) break;
  }
  const baseRss = base.reduce((s, u) => s + u.rss, 0);
  for (const m of members) m.close();
  await Promise.all(crowds.map((c) => c.close()));
  await sleep(500);
  target.stop();
  await sleep(1000);
  return { name: target.name, rows, failedAt, baseRss };
}

const results = [];
for (const t of targets) results.push(await run(t));

const f = (x) => (Number.isFinite(x) ? x.toFixed(1) : "–");
console.log(`## Load: members a server holds (bench/load.mjs)

- Date: ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC; ${os.cpus().length} CPUs, ${(os.cpus()[0] || {}).model}; load generator (this process and ${CROWDS} crowd processes) and servers on this one machine
- Command: \`node bench/load.mjs ${process.argv.slice(2).join(" ")}\`; steps of ${STEP} from ${FROM} up to ${MEMBERS} members in ${SPACES} spaces; per step ${SAMPLE_SECONDS} s of ${JOINS_PER_SECOND} joins/s (each leaves after 1 s) and ${RELAYS_PER_SECOND} relays/s (OFFER and CANDIDATE alternately)
`);
for (const r of results) {
  console.log(`### ${r.name}\n`);
  const clustered = r.rows.some((row) => Number.isFinite(row.redisBytes));
  const redisHead = clustered ? " Redis bytes / member / s | Redis commands / s |" : "";
  console.log(`| members | join → user-connected p50 / p99, ms | relay p50 / p99, ms | samples (joins, relays) | lost | server CPU, % of a core | server resident MB |${redisHead}`);
  console.log(`|---:|---|---|---|---:|---:|---:|${clustered ? "---:|---:|" : ""}`);
  for (const row of r.rows) {
    const redis = clustered ? ` ${f(row.redisBytes)} | ${f(row.redisCommands)} |` : "";
    console.log(`| ${row.members} | ${f(row.joinP50)} / ${f(row.joinP99)} | ${f(row.relayP50)} / ${f(row.relayP99)} | ${row.joins}, ${row.relays} | ${row.lost} | ${f(row.cpu)} | ${f(row.rss)} |${redis}`);
  }
  const last = r.rows[r.rows.length - 1];
  const perMember = last ? ((last.rss - r.baseRss) * 1024) / last.members : NaN;
  console.log(`\nStops keeping up (p99 over ${LIMIT_MS} ms or a message lost): ${r.failedAt === null ? `not within ${MEMBERS} members` : `at ${r.failedAt} members`}; memory per member ${f(perMember)} KB.\n`);
}
process.exit(0);
