// Headless Chromium with a fake camera on pages served by `packspaces serve`: two pages in
// /CSC342 see each other's video while a page in /CSC100 sees nobody — once with peerjs
// 1.3.1 (the workshop's) and once with 1.5.x; and the same with the pages at two instances
// sharing Redis (`serve --redis`).
import { test } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import {
  startServer,
  startRedis,
  requireTool,
  waitFor,
  sleep,
  CHROMIUM_ARGS,
  fakeCameraTiles,
  looksLikeChromiumsFakeCamera,
} from "./lib.mjs";

/** What a page shows: its remote tiles, and for each whether its video plays and what. */
const remoteVideos = (page) => page.evaluate(fakeCameraTiles);

async function pageIn(browser, url) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url);
  await waitFor(() => page.evaluate(() => window.packspaces && window.packspaces.peerId), 15000, `${url} to join`);
  page.errors = errors;
  return page;
}

/**
 * `first` (in CSC342 at `at.first`), `other` (CSC100, `at.other`) and `second` (CSC342,
 * `at.second`) open: the two in CSC342 see each other's video, `other` sees nobody, and
 * when `second` leaves its tile goes from `first`'s page.
 */
async function twoPagesSeeEachOther(browser, at) {
  const first = await pageIn(browser, `${at.first}CSC342?name=First`);
  const other = await pageIn(browser, `${at.other}CSC100?name=Other`);
  const second = await pageIn(browser, `${at.second}CSC342?name=Second`);
  const ids = await Promise.all([first, second].map((p) => p.evaluate(() => window.packspaces.peerId)));
  for (const [page, peer] of [[first, ids[1]], [second, ids[0]]]) {
    const videos = await waitFor(async () => {
      const v = await remoteVideos(page);
      return v.length === 1 && v[0].width > 0 && v[0].time > 0.5 ? v : null;
    }, 30000, "remote video playing");
    // The encoder's first frames are coarse: the picture may take a moment to sharpen.
    let last = videos;
    await waitFor(async () => {
      last = await remoteVideos(page);
      return last.length === 1 && looksLikeChromiumsFakeCamera(last[0]);
    }, 10000, "the other page's camera").catch(() => {});
    if (process.env.SHOW) console.log(JSON.stringify(last));
    assert.ok(looksLikeChromiumsFakeCamera(last[0]), `the remote tile shows the other page's camera: ${JSON.stringify(last)}`);
    assert.ok(videos[0].label.includes(peer.slice(0, 8)), `labelled with the peer: ${videos[0].label}`);
  }
  // The caller learns the callee's name from nothing, the callee from the metadata.
  assert.match((await remoteVideos(second))[0].label, /First/);
  // A window in which nothing must happen: no call reaches the page in another space.
  await sleep(500);
  assert.deepEqual(await remoteVideos(other), [], "a page in another space sees nobody");
  // Leaving removes the tile on the other side.
  await second.close();
  await waitFor(async () => (await remoteVideos(first)).length === 0, 15000, "tile removed after leaving");
  for (const p of [first, other]) assert.deepEqual(p.errors, [], "no page errors");
}

for (const [peerjs, version] of [["peerjs-1.3.1", "peerjs 1.3.1"], ["peerjs", "peerjs 1.5.5"]]) {
  test(`two Chromium pages in one space see each other (${version}), another space sees nobody`, async (t) => {
    const exe = requireTool(t, "/usr/bin/chromium", "apt-get install chromium");
    if (!exe) return;
    const server = await startServer({ peerjs });
    const browser = await chromium.launch({ executablePath: exe, args: CHROMIUM_ARGS });
    try {
      await twoPagesSeeEachOther(browser, { first: server.url, other: server.url, second: server.url });
    } finally {
      await browser.close();
      await server.stop();
    }
  });
}

test("two Chromium pages at two serve instances sharing Redis see each other, another space sees nobody", async (t) => {
  const exe = requireTool(t, "/usr/bin/chromium", "apt-get install chromium");
  if (!exe) return;
  const redis = await startRedis(t);
  if (!redis) return;
  const a = await startServer({ extraArgs: ["--redis", redis.url] });
  const b = await startServer({ extraArgs: ["--redis", redis.url] });
  const browser = await chromium.launch({ executablePath: exe, args: CHROMIUM_ARGS });
  try {
    await twoPagesSeeEachOther(browser, { first: a.url, other: b.url, second: b.url });
  } finally {
    await browser.close();
    await a.stop();
    await b.stop();
    await redis.stop();
  }
});
