// A Chromium page in a space, for Rust tests: `node browser-peer.mjs URL [CAMERA.y4m]`,
// with CAMERA as its fake camera. Output: see reportPage in lib.mjs.
import { chromium } from "playwright-core";
import { CHROMIUM_ARGS, reportPage } from "./lib.mjs";

const [url, camera] = process.argv.slice(2);
const args = [...CHROMIUM_ARGS];
if (camera) args.push(`--use-file-for-fake-video-capture=${camera}`);
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args });
await reportPage(browser, await browser.newPage(), url);
