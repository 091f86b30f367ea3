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
