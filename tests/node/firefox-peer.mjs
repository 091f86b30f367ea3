// A Firefox page in a space, for Rust tests: `node firefox-peer.mjs URL [CAMERA]`.
// Output: see reportPage in lib.mjs. Firefox cannot play a y4m file as its camera, so a
// CAMERA file is ignored: its fake camera
// sends 640×480 frames of one colour that fades round the hue circle in about 29 s, from green
// (0,255,0) through cyan, blue, magenta, red and yellow, with a thin strip of dark marks along
// the top edge. That compresses to almost nothing; CAMERA `noise` is a camera that does not:
// a 640×480 canvas of moving shapes under sensor-like noise (see noisyCamera).
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

/**
 * Runs in the page before its scripts: getUserMedia's video becomes a 640×480 canvas at
 * 30 fps whose bars move under noise (a few noise pictures drawn in turn), so an encoder
 * left alone spends all the bitrate it is allowed, as with a real camera; the fake
 * microphone stays.
 */
function noisyCamera() {
  const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    const canvas = document.createElement("canvas");
    canvas.width = 640;
    canvas.height = 480;
    const g = canvas.getContext("2d");
    const noise = [...Array(4)].map(() => {
      const picture = g.createImageData(640, 480);
      for (let i = 0; i < picture.data.length; i += 4) {
        const v = 96 + Math.floor(Math.random() * 64);
        picture.data.set([v, v, v, 96], i);
      }
      return picture;
    });
    let n = 0;
    setInterval(() => {
      n += 1;
      g.fillStyle = "#204060";
      g.fillRect(0, 0, 640, 480);
      for (let b = 0; b < 8; b++) {
        g.fillStyle = `hsl(${b * 45}, 80%, 50%)`;
        g.fillRect((b * 80 + n * 6) % 640, 0, 40, 480);
      }
      // Over the bars: noise at partial opacity (putImageData would replace them).
      const layer = new OffscreenCanvas(640, 480);
      layer.getContext("2d").putImageData(noise[n % noise.length], 0, 0);
      g.drawImage(layer, 0, 0);
    }, 33);
    const stream = canvas.captureStream(30);
    if (constraints && constraints.audio) {
      const mic = await real({ audio: constraints.audio });
      mic.getAudioTracks().forEach((t) => stream.addTrack(t));
    }
    return stream;
  };
}

const [url, camera] = process.argv.slice(2);
const browser = await launchFirefox();
const page = await browser.newPage();
if (camera === "noise") await page.evaluateOnNewDocument(noisyCamera);
await reportPage(browser, page, url);
