// A deploy rolled back: the origin's database was made by a newer build
// (a higher IndexedDB version, a store this build does not know), and this
// build is served again. An upgrade only adds stores (core::stored), so a
// newer database that holds every store this build needs is used as it is
// (core::stored::check_schema); one that lacks one is left untouched and
// every call's error says why. Chromium.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, openApp, waitFor, watch, withBrowser } from "./harness.mjs";
import { startDownload, assertOrder, assertFile } from "./order-helpers.mjs";
import { ROLLBACK_SESSION, NEWER_SCHEMA, makeNewerDatabase, rawDatabase } from "./rollback-helpers.mjs";

let server;
before(async () => {
  server = await startServer({ port: 0 });
});
after(async () => {
  await server.close();
});

const SESSION = ROLLBACK_SESSION;
const NEWER = NEWER_SCHEMA;

async function observer(context, errors) {
  const page = watch(await context.newPage(), errors);
  await page.goto(`${server.url}/fixtures/observer.html`);
  return page;
}

test("a newer build's database holding every store this build needs is used as it is: its queued events delivered, new downloads byte-exact, its own store untouched", async () => {
  await withBrowser(async ({ context, errors }) => {
    const obs = await observer(context, errors);
    await obs.evaluate(makeNewerDatabase, {});
    const page = await openApp(context, server.url, errors);
    assert.deepEqual(await page.evaluate(() => window.launchedIds), [SESSION], "relaunched for the queued events");
    await page.waitForFunction((s) => window.log.some((e) => e[0] === "urlSessionDidFinishEvents" && e[1] === s), SESSION, { timeout: 20_000 });
    let log = await page.evaluate(() => window.log);
    assertOrder(log, 1);
    assert.ok(log.some((e) => e[0] === "moved" && e[1] === 1 && e[2] === "file:///Documents/ep1.mp3"), "the app moved the file the newer build downloaded");

    const id = await startDownload(page, { session: SESSION, url: `${server.url}/files/after.bin?size=300000`, name: "after.bin" });
    await waitFor(async () => (await page.evaluate(() => window.log)).some((e) => e[0] === "didCompleteWithError" && e[1] === id), { timeout: 30_000, what: "the new download" });
    log = await page.evaluate(() => window.log);
    assertOrder(log, id);
    await assertFile(server, page, "file:///Documents/after.bin", { name: "after.bin", size: 300000 });

    const raw = await obs.evaluate(rawDatabase);
    assert.equal(raw.version, NEWER, "the database keeps the newer build's version");
    assert.deepEqual(raw.stores.future, [{ what: "the newer build's own record" }], "the newer build's own store is untouched");
    assert.deepEqual(raw.stores.quarantine, [], "nothing was unreadable");
  });
});

test("a newer build's database without a store this build needs: nothing in it changes, and every error says why", async () => {
  const profileErrors = [];
  await withBrowser(async ({ context }) => {
    const errors = [];
    const obs = await observer(context, profileErrors);
    await obs.evaluate(makeNewerDatabase, { skip: "files" });
    const before = await obs.evaluate(rawDatabase);
    const page = watch(await context.newPage(), errors);
    await page.goto(`${server.url}/fixtures/app.html`);
    await page.waitForFunction(() => window.appReady === true);
    const launched = await page.evaluate(() => window.launched.then(() => "resolved", (e) => `${e.name}: ${e.message}`));
    const resumed = await page.evaluate(async (base) => {
      try {
        const t = window.openSession("com.example.rollback.new").downloadTask(`${base}/files/x.bin?size=1000`);
        await t.resume();
        return "resumed";
      } catch (e) {
        return `${e.name}: ${e.message}`;
      }
    }, server.url);
    const why = /newer version of bgsession \(schema 3; this build's is 2\) and has no "files" store, which this build needs: nothing in it was changed/;
    assert.match(launched, why);
    assert.match(resumed, why);
    await new Promise((r) => setTimeout(r, 2000));
    assert.deepEqual(await obs.evaluate(rawDatabase), before, "nothing changed: every store, every record, the version");
    assert.equal(server.log.filter((e) => e.path === "/files/x.bin").length, 0, "nothing fetched");
    assert.ok(errors.length > 0, "the page logged why");
    for (const e of errors) assert.match(e, why, "every error logged names the cause");
  });
  assert.deepEqual(profileErrors, []);
});
