// The page `packspaces serve` hands out, as its users see it, in two headless Chromium pages
// (fake cameras) in one space, with a bare socket.io member beside them: names in each
// other's who-is-here list, chat lines in both chat panels, hostile text shown as text, the
// microphone and camera switches (the camera's seen going dark on the other page), and
// leaving (gone from the other page) and rejoining.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { io } from "socket.io-client";
import { startServer, requireTool, waitFor, CHROMIUM_ARGS, fakeCameraTiles, looksLikeChromiumsFakeCamera } from "./lib.mjs";

const SPACE = "PageTest";
// Markup in a name and in a message, an escape sequence, a script: all must stay text.
const HOSTILE_NAME = "Grace <b>H</b>";
const HOSTILE_TEXT = '<img src=x onerror="window.__pwned=1"><b>bold</b> \u001b[31mred\u001b[0m <script>window.__pwned=2</script>';

/** A page in its own browser context (its own localStorage), `storedName` saved there first. */
async function openPage(browser, url, storedName) {
  const context = await browser.newContext();
  if (storedName) await context.addInitScript((name) => localStorage.setItem("packspaces.name", name), storedName);
  const page = await context.newPage();
  page.errors = [];
  page.dialogs = [];
  page.on("pageerror", (e) => page.errors.push(String(e)));
  page.on("dialog", (d) => {
    page.dialogs.push(d.message());
    d.dismiss().catch(() => {});
  });
  await page.goto(url);
  page.peerId = await waitFor(() => page.evaluate(() => window.packspaces && window.packspaces.peerId), 15000, `${url} to join`);
  return page;
}

/** The who-is-here list: [{peer, text}] (peer: the entry's peer id, text: what it says). */
const roster = (page) =>
  page.evaluate(() => [...document.querySelectorAll("#people li")].map((li) => ({ peer: li.dataset.peer, text: li.textContent })));

/** Waits until the list has exactly the entries `want` ([peer id, text it starts with]). */
async function rosterIs(page, want, what) {
  const matches = (list) =>
    list.length === want.length && want.every(([peer, text]) => list.some((e) => e.peer === peer && e.text.startsWith(text)));
  return waitFor(async () => matches(await roster(page)), 15000, what);
}

/** The chat panel's messages: [{who, time, datetime, text}], as shown. */
const chatLines = (page) =>
  page.evaluate(() =>
    [...document.querySelectorAll("#messages li.message")].map((li) => ({
      who: li.querySelector(".who").textContent,
      time: li.querySelector("time").textContent,
      datetime: li.querySelector("time").dateTime,
      text: li.querySelector(".text").textContent,
    })),
  );

const notices = (page) => page.evaluate(() => [...document.querySelectorAll("#messages li.notice")].map((li) => li.textContent));

/** Types `text` into the chat input and sends it with Enter (or the Send button). */
async function say(page, text, { button = false } = {}) {
  await page.fill("#chat-input", text);
  if (button) await page.click("#chat-form button[type=submit]");
  else await page.press("#chat-input", "Enter");
}

/** The remote tiles: label, mean colour, and how much of Chromium's fake camera they show. */
const remoteTiles = (page) => page.evaluate(fakeCameraTiles);
const dark = (t) => t && t.mean && t.mean.every((c) => c < 16);

/** A button as the user sees it: its pressed state and the on/off word on it. */
const toggle = (page, id) =>
  page.evaluate((id) => {
    const b = document.getElementById(id);
    return { pressed: b.getAttribute("aria-pressed"), state: b.querySelector(".state").textContent, disabled: b.disabled };
  }, id);

/** Whether our own (self-view) stream's track of `kind` is enabled. */
const ownTrackEnabled = (page, kind) =>
  page.evaluate((kind) => {
    const stream = document.querySelector("#videos figure video").srcObject;
    return (kind === "audio" ? stream.getAudioTracks() : stream.getVideoTracks()).map((t) => t.enabled);
  }, kind);

test("the page: names, chat, microphone and camera switches, leaving", { timeout: 240000 }, async (t) => {
  const exe = requireTool(t, "/usr/bin/chromium", "apt-get install chromium");
  if (!exe) return;
  const server = await startServer();
  const browser = await chromium.launch({ executablePath: exe, args: CHROMIUM_ARGS });
  // A member with a name and no PeerJS (as a terminal's monitor): nobody can learn its name
  // from a call, only from the server's space-members.
  const linus = io(server.url, { transports: ["websocket"], reconnection: false, forceNew: true });
  linus.events = [];
  linus.onAny((event, ...args) => linus.events.push([event, ...args]));
  let ada;
  let grace;
  try {
    await waitFor(() => linus.connected, 5000, "socket.io connect");
    linus.emit("join-space", SPACE, "linus-1", { name: "Linus" });
    await waitFor(() => linus.events.some((e) => e[0] === "space-members"), 5000, "Linus joined");
    ada = await openPage(browser, `${server.url}${SPACE}?name=Ada`);
    grace = await openPage(browser, `${server.url}${SPACE}`, HOSTILE_NAME);

    await t.test("names appear in each other's who-is-here list", { timeout: 60000 }, async () => {
      assert.equal(await ada.inputValue("#name"), "Ada", "the name field takes ?name=");
      assert.equal(await grace.inputValue("#name"), HOSTILE_NAME, "the name field takes the stored name");
      // Ada learns Grace's name from user-connected (Grace answers Ada's call: no metadata),
      // Grace learns Linus's from space-members.
      await rosterIs(ada, [[ada.peerId, "Ada (you)"], ["linus-1", "Linus"], [grace.peerId, HOSTILE_NAME]], "Ada's list");
      await rosterIs(grace, [[grace.peerId, `${HOSTILE_NAME} (you)`], ["linus-1", "Linus"], [ada.peerId, "Ada"]], "Grace's list");
      for (const page of [ada, grace]) {
        assert.equal(await page.textContent("#count"), "3");
        assert.equal(await page.locator("#people b").count(), 0, "a name's markup is text");
      }
      const told = linus.events.filter((e) => e[0] === "user-connected").map((e) => e.slice(1));
      assert.deepEqual(told, [[ada.peerId, "Ada"], [grace.peerId, HOSTILE_NAME]], "join-space carried the names");
      // The tile is labelled with the name too.
      await waitFor(async () => (await remoteTiles(ada)).some((x) => x.label === `${HOSTILE_NAME} · ${grace.peerId.slice(0, 8)}`), 30000, "Grace's tile named at Ada's");
      linus.close();
      await rosterIs(ada, [[ada.peerId, "Ada"], [grace.peerId, HOSTILE_NAME]], "Linus gone from Ada's list");
      await rosterIs(grace, [[grace.peerId, HOSTILE_NAME], [ada.peerId, "Ada"]], "Linus gone from Grace's list");
    });

    await t.test("a chat line typed in one page appears in both, hostile text as text", { timeout: 60000 }, async () => {
      await say(ada, "hello from Ada");
      for (const page of [ada, grace]) {
        const lines = await waitFor(async () => {
          const l = await chatLines(page);
          return l.length === 1 ? l : null;
        }, 10000, "Ada's line in both chat panels");
        assert.equal(lines[0].who, "Ada");
        assert.equal(lines[0].text, "hello from Ada");
        assert.ok(lines[0].time.length > 0, "the time is shown");
        assert.ok(Math.abs(Date.parse(lines[0].datetime) - Date.now()) < 60000, `the time is now: ${lines[0].datetime}`);
      }
      assert.equal(await ada.inputValue("#chat-input"), "", "the input is emptied once sent");

      await say(grace, HOSTILE_TEXT, { button: true });
      for (const page of [ada, grace]) {
        const line = await waitFor(async () => (await chatLines(page))[1], 10000, "Grace's line in both chat panels");
        assert.equal(line.text, HOSTILE_TEXT, "the text is shown exactly as sent");
        assert.equal(line.who, HOSTILE_NAME);
        assert.equal(await page.locator("#messages img, #messages b, #messages script").count(), 0, "no element made from the text");
        assert.equal(await page.evaluate(() => window.__pwned), undefined, "no script ran");
      }

      // A refusal by the server is shown where the user typed.
      await ada.evaluate(() => (document.getElementById("chat-input").value = "x".repeat(501)));
      await ada.press("#chat-input", "Enter");
      await waitFor(async () => (await notices(ada)).some((n) => n.includes("at most 500 characters")), 10000, "the refusal in Ada's chat");
      assert.equal((await chatLines(grace)).length, 2, "a refused message reaches nobody");

      // Collapsed, the chat counts what arrives; opened, it shows it.
      await grace.click("#chat-toggle");
      assert.equal(await grace.getAttribute("#chat-toggle", "aria-expanded"), "false");
      assert.equal(await grace.isVisible("#messages"), false);
      await say(ada, "are you there?");
      await waitFor(async () => (await grace.isVisible("#unread")) && (await grace.textContent("#unread")) === "1 new", 10000, "one unread at Grace's");
      await grace.click("#chat-toggle");
      assert.equal(await grace.isVisible("#unread"), false);
      assert.equal((await chatLines(grace)).at(-1).text, "are you there?");
    });

    await t.test("the microphone and camera switches disable the tracks; the other page sees black", { timeout: 60000 }, async () => {
      await waitFor(async () => looksLikeChromiumsFakeCamera((await remoteTiles(grace))[0]), 30000, "Ada's camera at Grace's");
      assert.deepEqual(await toggle(ada, "mic"), { pressed: "true", state: "on", disabled: false });
      await ada.click("#mic");
      assert.deepEqual(await toggle(ada, "mic"), { pressed: "false", state: "off", disabled: false });
      assert.deepEqual(await ownTrackEnabled(ada, "audio"), [false]);
      await ada.click("#mic");
      assert.deepEqual(await toggle(ada, "mic"), { pressed: "true", state: "on", disabled: false });
      assert.deepEqual(await ownTrackEnabled(ada, "audio"), [true]);

      await ada.click("#cam");
      assert.deepEqual(await toggle(ada, "cam"), { pressed: "false", state: "off", disabled: false });
      assert.deepEqual(await ownTrackEnabled(ada, "video"), [false]);
      let last;
      await waitFor(async () => dark((last = (await remoteTiles(grace))[0])), 15000, "Ada's tile dark at Grace's").catch((e) => {
        throw new Error(`${e.message}: ${JSON.stringify(last)}`);
      });
      await ada.click("#cam");
      assert.deepEqual(await toggle(ada, "cam"), { pressed: "true", state: "on", disabled: false });
      assert.deepEqual(await ownTrackEnabled(ada, "video"), [true]);
      await waitFor(async () => looksLikeChromiumsFakeCamera((last = (await remoteTiles(grace))[0])), 15000, "Ada's camera back at Grace's");
    });

    await t.test("leave removes us from the other page and shows the left state; rejoin", { timeout: 60000 }, async () => {
      const adaId = ada.peerId;
      // A new name is kept in the browser and used from the next join.
      await ada.fill("#name", "Ada Lovelace");
      await ada.press("#name", "Enter");
      assert.equal(await ada.evaluate(() => localStorage.getItem("packspaces.name")), "Ada Lovelace");
      await ada.evaluate(() => (window.__tracks = document.querySelector("#videos figure video").srcObject.getTracks()));
      await ada.click("#leave");
      assert.equal(await ada.isVisible("#left"), true);
      assert.match(await ada.textContent("#left"), /You left/);
      assert.equal(await ada.isVisible("#room"), false);
      assert.equal(await ada.isVisible("#leave"), false);
      assert.equal(await ada.locator("#videos figure").count(), 0, "no tiles once left");
      assert.deepEqual(await ada.evaluate(() => window.__tracks.map((t) => t.readyState)), ["ended", "ended"], "camera and microphone released");
      await waitFor(async () => (await remoteTiles(grace)).length === 0, 15000, "Ada's tile gone at Grace's");
      await rosterIs(grace, [[grace.peerId, HOSTILE_NAME]], "Ada gone from Grace's list");
      assert.equal(await grace.textContent("#count"), "1");

      // The rejoin link brings Ada back, under a new peer id and her new name.
      assert.equal(new URL(await ada.getAttribute("#rejoin", "href")).searchParams.get("name"), "Ada Lovelace");
      await ada.click("#rejoin");
      ada.peerId = await waitFor(() => ada.evaluate(() => window.packspaces && window.packspaces.peerId), 15000, "Ada back");
      assert.notEqual(ada.peerId, adaId);
      await rosterIs(grace, [[grace.peerId, HOSTILE_NAME], [ada.peerId, "Ada Lovelace"]], "Ada back in Grace's list");
      await waitFor(async () => looksLikeChromiumsFakeCamera((await remoteTiles(grace))[0]), 30000, "Ada's camera back at Grace's");
    });

    for (const page of [ada, grace]) {
      assert.deepEqual(page.errors, [], "no page errors");
      assert.deepEqual(page.dialogs, [], "no dialogs");
    }
  } finally {
    linus.close();
    await browser.close();
    await server.stop();
  }
});
