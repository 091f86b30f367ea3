// A Firefox page in a space, for Rust tests: `node firefox-peer.mjs URL [CAMERA.y4m]`.
// Output: see reportPage in lib.mjs. Firefox cannot play a y4m file as its camera, so CAMERA
// is ignored: its fake camera
// sends 640×480 frames of one colour that fades round the hue circle in about 29 s, from green
// (0,255,0) through cyan, blue, magenta, red and yellow, with a thin strip of dark marks along
// the top edge.
//
// Debian's firefox-esr is driven by puppeteer-core over WebDriver BiDi (Playwright only drives
// its own patched Firefox builds). It has no OpenH264, so its calls use VP8.
import puppeteer from "puppeteer-core";
import { reportPage } from "./lib.mjs";

const FIREFOX = process.env.FIREFOX || "/usr/bin/firefox-esr";

/** Preferences for headless Firefox with a fake camera and loopback calls (cf. CHROMIUM_ARGS). */
const FIREFOX_PREFS = {
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
function launchFirefox({ executablePath = FIREFOX, prefs = {} } = {}) {
  return puppeteer.launch({
    browser: "firefox",
    protocol: "webDriverBiDi",
    executablePath,
    headless: true,
    extraPrefsFirefox: { ...FIREFOX_PREFS, ...prefs },
  });
}

const [url] = process.argv.slice(2); // the camera argument is ignored, see above
const browser = await launchFirefox();
await reportPage(browser, await browser.newPage(), url);
