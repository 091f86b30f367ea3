// Shared helpers for the interop suites: start `packspaces serve`, wait for conditions,
// and skip (or, under CI=true, fail) when a tool such as a browser is missing.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

export const here = path.dirname(fileURLToPath(import.meta.url));
export const nodeModules = path.join(here, "node_modules");

/** Flags for headless Chromium as root, with fake media and loopback calls. */
export const CHROMIUM_ARGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
  "--allow-loopback-in-peer-connection",
  // Real host candidates instead of mDNS names: there is no mDNS responder offline.
  "--disable-features=WebRtcHideLocalIpsWithMdns",
  "--autoplay-policy=no-user-gesture-required",
];

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns a truthy value or `ms` pass; returns the value or throws. */
export async function waitFor(check, ms, what) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await check();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await sleep(50);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what} (last: ${last})`);
}

/** The path of a tool, or null after explaining why the test is skipped (fails under CI). */
export function requireTool(t, file, why) {
  if (existsSync(file)) return file;
  const message = `${file} is missing (${why})`;
  if (process.env.CI === "true") throw new Error(`${message}; CI must install it`);
  t.skip(message);
  return null;
}

/** Starts `packspaces serve --port 0` with the page's libraries served from node_modules. */
export async function startServer({ peerjs = "peerjs-1.3.1", extraArgs = [] } = {}) {
  const bin = process.env.PACKSPACES_BIN;
  if (!bin) throw new Error("PACKSPACES_BIN is not set (run these suites through cargo test)");
  const args = [
    "serve", "--port", "0",
    "--static-dir", nodeModules,
    "--peerjs-script", `/static/${peerjs}/dist/peerjs.min.js`,
    "--socketio-script", "/static/socket.io-client/dist/socket.io.min.js",
    ...extraArgs,
  ];
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stderr.on("data", (d) => (output += d));
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${output}`)), 20000);
    child.stdout.on("data", (d) => {
      output += d;
      const m = /listening on (http:\/\/\S+\/)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on("exit", (code) => reject(new Error(`server exited with ${code}: ${output}`)));
  });
  return {
    url,
    output: () => output,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.on("exit", (code) => resolve(code));
        child.kill("SIGTERM");
      }),
  };
}

/**
 * Chromium's fake camera (no file given) draws a plain green background, (0, 135, 0), with
 * a brighter green pacman, about (74, 255, 22), turning in the middle and a frame counter in
 * a corner. A remote tile shows that camera when most of its picture is that background
 * (within 30 on every channel: the call's encoder blurs edges) and some of it the pacman
 * (green above 200, red and blue well below): the shares `fakeCameraTiles` measures.
 */
export const looksLikeChromiumsFakeCamera = (tile) => Boolean(tile && tile.background >= 0.6 && tile.pacman >= 0.02);

/**
 * Runs in a page: the remote tiles (every figure after our own), each with its label, its
 * video's width and time, and over the whole picture scaled to 64x48 its mean colour and
 * the shares of Chromium's fake camera's background and pacman (zero with no picture yet).
 */
export function fakeCameraTiles() {
  return [...document.querySelectorAll("#videos figure")].slice(1).map((figure) => {
    const video = figure.querySelector("video");
    const tile = {
      label: figure.querySelector("figcaption").textContent,
      width: video.videoWidth,
      time: video.currentTime,
      mean: null,
      background: 0,
      pacman: 0,
    };
    if (!video.videoWidth) return tile;
    const canvas = document.createElement("canvas");
    canvas.width = 64;
    canvas.height = 48;
    const g = canvas.getContext("2d");
    g.drawImage(video, 0, 0, 64, 48);
    const d = g.getImageData(0, 0, 64, 48).data;
    const sum = [0, 0, 0];
    for (let i = 0; i < d.length; i += 4) {
      const [r, gr, b] = [d[i], d[i + 1], d[i + 2]];
      sum[0] += r;
      sum[1] += gr;
      sum[2] += b;
      if (r <= 30 && Math.abs(gr - 135) <= 30 && b <= 30) tile.background += 1;
      if (gr > 200 && r < 130 && b < 70) tile.pacman += 1;
    }
    const n = d.length / 4;
    tile.mean = sum.map((s) => Math.round(s / n));
    tile.background /= n;
    tile.pacman /= n;
    return tile;
  });
}

/** Runs in a page: what each remote tile shows, with the mean colour of its middle-left
 * part (where our test card shows its background, away from its text and square). */
export function remoteTiles() {
  return [...document.querySelectorAll("#videos figure")].slice(1).map((figure) => {
    const video = figure.querySelector("video");
    const label = figure.querySelector("figcaption").textContent;
    if (!video.videoWidth) return { label, width: 0, rgb: null };
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    const g = canvas.getContext("2d");
    g.drawImage(video, 0, 0);
    const d = g.getImageData(Math.floor(video.videoWidth * 0.05), Math.floor(video.videoHeight * 0.3), 8, 8).data;
    const rgb = [0, 1, 2].map((c) => Math.round([...Array(64).keys()].reduce((s, i) => s + d[i * 4 + c], 0) / 64));
    return { label, width: video.videoWidth, rgb };
  });
}

/**
 * Runs in a page: from now on, every 100 ms, keeps the mean colour of the middle of our own
 * picture (the first tile, the self-view of what we send) for 5 s;
 * `window.__ownColours(ms)` returns those of the last `ms` milliseconds as [r, g, b], oldest
 * first. A test compares them with what the other side shows (Firefox's fake camera fades
 * round the hue circle, so only the colour sent at about the same time will do).
 */
export function keepOwnColours() {
  const log = [];
  const canvas = document.createElement("canvas");
  canvas.width = 16;
  canvas.height = 12;
  const g = canvas.getContext("2d", { willReadFrequently: true });
  setInterval(() => {
    const video = document.querySelector("#videos figure video");
    if (!video || !video.videoWidth) return;
    g.drawImage(video, 0, 0, 16, 12);
    // The middle half, away from the edges (Firefox's fake camera marks its top edge).
    const d = g.getImageData(4, 3, 8, 6).data;
    const rgb = [0, 1, 2].map((c) => Math.round([...Array(48).keys()].reduce((s, i) => s + d[i * 4 + c], 0) / 48));
    const at = performance.now();
    log.push({ at, rgb });
    while (log[0].at < at - 5000) log.shift();
  }, 100);
  window.__ownColours = (ms) => {
    const since = performance.now() - ms;
    return log.filter((e) => e.at >= since).map((e) => e.rgb);
  };
}

/** Runs in a page: every <video> element (the workshop page has no tiles), by id. */
export function videoElements() {
  return [...document.querySelectorAll("video")].map((v) => ({ id: v.id, width: v.videoWidth }));
}

/**
 * The command-line side of browser-peer.mjs and firefox-peer.mjs, for Rust tests: opens
 * `url` in `page` (Playwright or Puppeteer), prints {"event":"ready","peerId":…} once it
 * joined, then every 500 ms {"event":"remotes","remotes":[…],"videos":[…],"status":…,
 * "audio":{peerId:{packets,level}},"videoOut":{peerId:{bytes,at,width,height,limit}},
 * "paths":{peerId:{local,remote}}} (paths: the candidate types in use, "relay" via TURN)
 * (status: window.packspaces.status, our page's status line); also
 * {"event":"pageerror",…} for uncaught errors and {"event":"console","level":…,"text":…}
 * for console errors and warnings. Each line on stdin is a JavaScript expression evaluated
 * in the page (e.g. `window.packspaces.camera(false)`), answered with
 * {"event":"evaluated","expression":…,"result":…} or {"event":"evaluate-error",…}.
 * The page keeps its own colours (keepOwnColours) for `window.__ownColours(ms)`.
 * Closes `browser` and exits when stdin closes, or after 150 s (PAGE_SECONDS in the
 * environment: that many): longer than the 120 s a Rust scenario is allowed, so that a
 * page never goes away under a test that is still within its bound.
 */
export async function reportPage(browser, page, url) {
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await browser.close().catch(() => {});
    process.exit(0);
  };
  process.stdin.on("end", stop);
  process.stdin.on("close", stop);
  let pending = "";
  process.stdin.on("data", (chunk) => {
    pending += chunk;
    let newline;
    while ((newline = pending.indexOf("\n")) >= 0) {
      const expression = pending.slice(0, newline).trim();
      pending = pending.slice(newline + 1);
      if (!expression) continue;
      page
        .evaluate(expression)
        .then((result) => console.log(JSON.stringify({ event: "evaluated", expression, result: result ?? null })))
        .catch((e) => console.log(JSON.stringify({ event: "evaluate-error", expression, error: String(e) })));
    }
  });
  process.stdin.setEncoding("utf8");
  process.stdin.resume();
  setTimeout(stop, Number(process.env.PAGE_SECONDS || 150) * 1000);
  page.on("pageerror", (e) => console.log(JSON.stringify({ event: "pageerror", error: String(e) })));
  page.on("console", (m) => {
    // Playwright says "warning", Puppeteer "warn".
    const level = m.type();
    if (["error", "warning", "warn"].includes(level)) {
      console.log(JSON.stringify({ event: "console", level, text: m.text() }));
    }
  });
  await page.goto(url);
  const peerId = await waitFor(() => page.evaluate(() => window.packspaces && window.packspaces.peerId), 20000, "the page to join");
  await page.evaluate(keepOwnColours);
  console.log(JSON.stringify({ event: "ready", peerId }));
  while (!stopping) {
    // The browser may close under a pending evaluate when we are told to stop.
    const remotes = await page.evaluate(remoteTiles).catch(() => null);
    const videos = await page.evaluate(videoElements).catch(() => null);
    const status = await page.evaluate(() => window.packspaces.status || null).catch(() => null);
    const audio = await page
      .evaluate(() => (window.packspaces.audioIn ? window.packspaces.audioIn() : null))
      .catch(() => null);
    const videoOut = await page
      .evaluate(() => (window.packspaces.videoOut ? window.packspaces.videoOut() : null))
      .catch(() => null);
    const paths = await page
      .evaluate(() => (window.packspaces.paths ? window.packspaces.paths() : null))
      .catch(() => null);
    if (remotes === null || videos === null) break;
    console.log(JSON.stringify({ event: "remotes", remotes, videos, status, audio, videoOut, paths }));
    await sleep(500);
  }
}

/**
 * A `redis-server` of the test's own on a free loopback port, nothing saved to disk, or
 * null after explaining why the test is skipped (fails under CI). `url`, `stop()`.
 */
export async function startRedis(t) {
  if (!requireTool(t, "/usr/bin/redis-server", "Debian redis-server, for serve --redis")) return null;
  const net = await import("node:net");
  const port = await new Promise((resolve) => {
    const probe = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
  const child = spawn("/usr/bin/redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
  const answers = () =>
    new Promise((resolve) => {
      const socket = net.connect(port, "127.0.0.1", () => socket.write("PING\r\n"));
      socket.on("data", (d) => {
        socket.destroy();
        resolve(String(d).startsWith("+PONG"));
      });
      socket.on("error", () => resolve(false));
    });
  await waitFor(answers, 10000, "redis-server to answer");
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.on("exit", () => resolve());
        child.kill("SIGKILL");
      }),
  };
}

/**
 * HAProxy (Debian's) with deploy/haproxy.cfg, its front on a free loopback port and its
 * backends the given base URLs; or null after explaining why the test is skipped. Returns
 * `url` (the front, ending in /), `pid` and `stop()`.
 */
export async function startHaproxy(t, backends) {
  if (!requireTool(t, "/usr/sbin/haproxy", "Debian haproxy, the load balancer of the cluster tests")) return null;
  const { readFileSync, writeFileSync, mkdtempSync } = await import("node:fs");
  const os = await import("node:os");
  const net = await import("node:net");
  const port = await new Promise((resolve) => {
    const probe = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
  let config = readFileSync(path.join(here, "../../deploy/haproxy.cfg"), "utf8")
    .replace(/bind 127\.0\.0\.1:\d+/, `bind 127.0.0.1:${port}`)
    .replace(/^ {4}server .*\n/gm, "");
  config += backends.map((base, i) => `    server s${i} ${new URL(base).host} check inter 1s fall 2 rise 1 cookie s${i}\n`).join("");
  const dir = mkdtempSync(path.join(os.tmpdir(), "packspaces-haproxy-"));
  writeFileSync(path.join(dir, "haproxy.cfg"), config);
  const child = spawn("/usr/sbin/haproxy", ["-db", "-f", path.join(dir, "haproxy.cfg")], { stdio: ["ignore", "ignore", "pipe"] });
  let errors = "";
  child.stderr.on("data", (d) => (errors += d));
  const url = `http://127.0.0.1:${port}/`;
  // Every backend up (its health check passed) before a test relies on round robin: the
  // cookies HAProxy hands out name each of them.
  const named = new Set();
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`haproxy exited: ${errors}`);
    const r = await fetch(`${url}packspaces.json`).catch(() => null);
    const cookie = r?.headers.get("set-cookie") ?? "";
    const m = /PACKSPACES_INSTANCE=(\w+)/.exec(cookie);
    if (m) named.add(m[1]);
    return named.size === backends.length;
  }, 15000, "haproxy to reach every instance");
  return {
    url,
    pid: child.pid,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.on("exit", () => resolve());
        child.kill("SIGKILL");
      }),
  };
}
