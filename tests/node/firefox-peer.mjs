// A Firefox page in a space, for Rust tests: `node firefox-peer.mjs URL [CAMERA.y4m]`.
// The same output as browser-peer.mjs: JSON lines on stdout, {"event":"ready","peerId":…} once
// joined, then every 500 ms {"event":"remotes","remotes":[{label,width,rgb:[r,g,b]}]} with the
// mean colour of the middle-left part of each remote video. Exits when stdin closes or after
// 90 s. Firefox cannot play a y4m file as its camera, so CAMERA is ignored: its fake camera
// sends 640×480 frames of one colour that fades round the hue circle in about 29 s, from green
// (0,255,0) through cyan, blue, magenta, red and yellow, with a thin strip of dark marks along
// the top edge.
//
// Debian's firefox-esr is driven by puppeteer-core over WebDriver BiDi (Playwright only drives
// its own patched Firefox builds). It has no OpenH264, so its calls use VP8.
import puppeteer from "puppeteer-core";
import { pathToFileURL } from "node:url";

export const FIREFOX = process.env.FIREFOX || "/usr/bin/firefox-esr";

/** Preferences for headless Firefox with a fake camera and loopback calls (cf. CHROMIUM_ARGS). */
export const FIREFOX_PREFS = {
  // A fake camera and microphone, granted without a prompt.
  "media.navigator.streams.fake": true,
  "media.navigator.permission.disabled": true,
  // A fake camera does not count as capturing, so without a standing permission Firefox
  // offers only the default route's address (no loopback) as an ICE candidate.
  "permissions.default.camera": 1,
  "permissions.default.microphone": 1,
  // Remote videos with sound play without a user gesture.
  "media.autoplay.default": 0,
  "media.autoplay.blocking_policy": 0,
  // Loopback candidates too, and real addresses rather than mDNS names. (The pref to limit
  // ICE to one interface, media.peerconnection.ice.force_interface, has no effect here: its
  // ICE agent never sees the value, so calls may use any address of this machine.)
  "media.peerconnection.ice.loopback": true,
  "media.peerconnection.ice.obfuscate_host_addresses": false,
  // Do not try to download OpenH264 or anything else.
  "media.gmp-manager.updateEnabled": false,
  "media.gmp-gmpopenh264.autoupdate": false,
  "media.gmp-gmpopenh264.enabled": false,
  "network.captive-portal-service.enabled": false,
  "network.connectivity-service.enabled": false,
};

/** Launches headless Firefox (a fresh temporary profile, removed again by close()). */
export function launchFirefox({ executablePath = FIREFOX, prefs = {} } = {}) {
  return puppeteer.launch({
    browser: "firefox",
    protocol: "webDriverBiDi",
    executablePath,
    headless: true,
    extraPrefsFirefox: { ...FIREFOX_PREFS, ...prefs },
  });
}

/** What a page shows in its remote tiles (runs in the page). */
export function remoteTiles() {
  return [...document.querySelectorAll("#videos figure")].slice(1).map((figure) => {
    const video = figure.querySelector("video");
    const label = figure.querySelector("figcaption").textContent;
    if (!video.videoWidth) return { label, width: 0, time: video.currentTime, rgb: null };
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    const g = canvas.getContext("2d");
    g.drawImage(video, 0, 0);
    // Middle-left: the test card's background, away from its text and square.
    const d = g.getImageData(Math.floor(video.videoWidth * 0.05), Math.floor(video.videoHeight * 0.3), 8, 8).data;
    const rgb = [0, 1, 2].map((c) => Math.round([...Array(64).keys()].reduce((s, i) => s + d[i * 4 + c], 0) / 64));
    return { label, width: video.videoWidth, time: video.currentTime, rgb };
  });
}

async function main() {
  const [url] = process.argv.slice(2); // the camera argument is ignored, see above
  const browser = await launchFirefox();
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await browser.close().catch(() => {});
    process.exit(0);
  };
  process.stdin.on("end", stop);
  process.stdin.on("close", stop);
  process.stdin.resume();
  setTimeout(stop, 90000);

  const page = await browser.newPage();
  page.on("pageerror", (e) => console.log(JSON.stringify({ event: "pageerror", error: String(e) })));
  await page.goto(url);
  await page.waitForFunction(() => window.packspaces && window.packspaces.peerId, { timeout: 20000 });
  console.log(JSON.stringify({ event: "ready", peerId: await page.evaluate(() => window.packspaces.peerId) }));

  while (!stopping) {
    // The browser may close under a pending evaluate when we are told to stop.
    const remotes = await page.evaluate(remoteTiles).catch(() => null);
    if (remotes === null) break;
    console.log(JSON.stringify({ event: "remotes", remotes: remotes.map(({ label, width, rgb }) => ({ label, width, rgb })) }));
    await new Promise((r) => setTimeout(r, 500));
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
