// A Chromium page in a space, for Rust tests: `node browser-peer.mjs URL [CAMERA.y4m]`.
// Prints JSON lines on stdout: {"event":"ready","peerId":…} once joined, then every 500 ms
// {"event":"remotes","remotes":[{label,width,rgb:[r,g,b]}]} with the mean colour of the
// middle-left part of each remote video. Exits when stdin closes or after 90 s.
import { chromium } from "playwright-core";
import { CHROMIUM_ARGS } from "./lib.mjs";

const [url, camera] = process.argv.slice(2);
const args = [...CHROMIUM_ARGS];
if (camera) args.push(`--use-file-for-fake-video-capture=${camera}`);
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args });
let stopping = false;
const stop = async () => {
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
await page.waitForFunction(() => window.packspaces && window.packspaces.peerId, null, { timeout: 20000 });
console.log(JSON.stringify({ event: "ready", peerId: await page.evaluate(() => window.packspaces.peerId) }));

while (!stopping) {
  // The browser may close under a pending evaluate when we are told to stop.
  const remotes = await page.evaluate(() =>
    [...document.querySelectorAll("#videos figure")].slice(1).map((figure) => {
      const video = figure.querySelector("video");
      const label = figure.querySelector("figcaption").textContent;
      if (!video.videoWidth) return { label, width: 0, rgb: null };
      const canvas = document.createElement("canvas");
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      const g = canvas.getContext("2d");
      g.drawImage(video, 0, 0);
      // Middle-left: the test card's background, away from its text and square.
      const d = g.getImageData(Math.floor(video.videoWidth * 0.05), Math.floor(video.videoHeight * 0.3), 8, 8).data;
      const rgb = [0, 1, 2].map((c) => Math.round([...Array(64).keys()].reduce((s, i) => s + d[i * 4 + c], 0) / 64));
      return { label, width: video.videoWidth, rgb };
    }),
  ).catch(() => null);
  if (remotes === null) break;
  console.log(JSON.stringify({ event: "remotes", remotes }));
  await new Promise((r) => setTimeout(r, 500));
}
