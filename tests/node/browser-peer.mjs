// A Chromium page in a space, for Rust tests: `node browser-peer.mjs URL [CAMERA.y4m]`,
// with CAMERA as its fake camera. CHROMIUM_SPKI in the environment: trust the HTTPS server
// whose public key has this SHA-256 (base64, as `serve --tls` prints it); FAKE_MICROPHONE:
// a WAV file the fake microphone plays in a loop (else it beeps). Output: see reportPage
// in lib.mjs.
import { chromium } from "playwright-core";
import { CHROMIUM_ARGS, reportPage } from "./lib.mjs";

const [url, camera] = process.argv.slice(2);
const args = [...CHROMIUM_ARGS];
if (camera) args.push(`--use-file-for-fake-video-capture=${camera}`);
if (process.env.FAKE_MICROPHONE) args.push(`--use-file-for-fake-audio-capture=${process.env.FAKE_MICROPHONE}`);
if (process.env.CHROMIUM_SPKI) args.push(`--ignore-certificate-errors-spki-list=${process.env.CHROMIUM_SPKI}`);
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args });
await reportPage(browser, await browser.newPage(), url);
