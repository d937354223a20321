// The walking skeleton, end to end in real headless Chromium: downloads
// outlive their tab, and a relaunched page receives every queued event once.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, newProfile, removeProfile, launch, openApp, waitFor, watch } from "./harness.mjs";

let server;
before(async () => {
  server = await startServer({ port: 0 });
});
after(async () => {
  await server.close();
});

const ID = "com.example.e2e";
const FILES = [
  { name: "one.bin", size: 1 << 20, rate: 256 << 10 }, // ~4 s
  { name: "eight.bin", size: 8 << 20, rate: 2 << 20 }, // ~4 s
  { name: "thirtytwo.bin", size: 32 << 20, rate: 6 << 20 }, // ~5.3 s
];

test("downloads outlive the tab; a new tab gets each event once, in order", async () => {
  const profile = await newProfile();
  const context = await launch(profile);
  const errors = [];
  try {
    // 1. Start three throttled downloads, then close the tab before any ends.
    const page1 = await openApp(context, server.url, errors);
    const started = await page1.evaluate(
      async ({ id, base, files }) => {
        const session = window.openSession(id);
        const ids = [];
        for (const f of files) {
          const task = session.downloadTask(`${base}/files/${f.name}?size=${f.size}&rate=${f.rate}`);
          task.taskDescription = f.name;
          await task.resume();
          ids.push(task.taskIdentifier);
        }
        return ids;
      },
      { id: ID, base: server.url, files: FILES },
    );
    assert.equal(new Set(started).size, 3, "three distinct task identifiers");
    await new Promise((r) => setTimeout(r, 1000));
    const earlyLog = await page1.evaluate(() => window.log);
    assert.ok(!earlyLog.some((e) => e[0] === "didFinishDownloadingTo"), "no download finished before the tab closed");
    await page1.close();

    // 2. With no app page open, wait until the daemon has completed all three
    //    (read straight from IndexedDB by a page that does not load bgsession).
    const observer = watch(await context.newPage(), errors);
    await observer.goto(`${server.url}/fixtures/observer.html`);
    await waitFor(
      async () => {
        const tasks = await observer.evaluate(() => window.tasks());
        return tasks.length === 3 && tasks.every((t) => t.state === "completed");
      },
      { timeout: 60_000, interval: 250, what: "the daemon to complete 3 tasks with the tab closed" },
    );
    for (const f of FILES) {
      const reqs = server.log.filter((e) => e.path === `/files/${f.name}`);
      assert.ok(reqs.at(-1).completed, `${f.name}: the last request was answered whole`);
      assert.ok(reqs.reduce((n, e) => n + e.bytesSent, 0) >= f.size, `${f.name}: every byte was sent`);
    }
    await observer.close();

    // 3. Relaunch: a new tab gets handleEvents once, then every event in order.
    const page2 = await openApp(context, server.url, errors);
    await page2.waitForFunction(() => window.log.some((e) => e[0] === "urlSessionDidFinishEvents"), null, { timeout: 30_000 });
    const log = await page2.evaluate(() => window.log);
    const handle = log.filter((e) => e[0] === "handleEventsForBackgroundURLSession");
    assert.deepEqual(handle, [["handleEventsForBackgroundURLSession", ID]], "handleEvents called once with the identifier");
    assert.equal(log.at(-1)[0], "urlSessionDidFinishEvents", "urlSessionDidFinishEvents comes last");
    assert.equal(log.filter((e) => e[0] === "urlSessionDidFinishEvents").length, 1);
    const locations = [];
    for (const id of started) {
      const mine = log.map((e, i) => ({ e, i })).filter(({ e }) => e[1] === id);
      const finish = mine.filter(({ e }) => e[0] === "didFinishDownloadingTo");
      const complete = mine.filter(({ e }) => e[0] === "didCompleteWithError");
      assert.equal(finish.length, 1, `task ${id}: didFinishDownloadingTo once`);
      assert.equal(complete.length, 1, `task ${id}: didCompleteWithError once`);
      assert.ok(finish[0].i < complete[0].i, `task ${id}: finish before complete`);
      assert.equal(complete[0].e[2], null, `task ${id}: completed without error`);
      assert.equal(complete[0].e[3], "completed", `task ${id}: state is completed`);
      const progress = mine.filter(({ e }) => e[0] === "didWriteData");
      assert.ok(progress.every(({ i }) => i < finish[0].i), `task ${id}: progress before finish`);
      assert.match(finish[0].e[2], /^file:\/\/\/tmp\/CFNetworkDownload_[0-9a-f]+\.tmp$/);
      assert.equal(finish[0].e[3], 200);
      locations.push(finish[0].e[2]);
    }
    // Every moved file is byte-exact.
    for (const f of FILES) {
      const got = await page2.evaluate((loc) => window.sha256Of(loc), `file:///Documents/${f.name}`);
      const want = await (await fetch(`${server.url}/sha256?size=${f.size}&name=${f.name}`)).json();
      assert.equal(got.size, f.size, `${f.name}: size`);
      assert.equal(got.sha256, want.sha256, `${f.name}: SHA-256 equals the served bytes`);
    }
    // Temp files are gone.
    const tmp = await page2.evaluate(async (locs) => {
      const { FileManager } = window.bg;
      const exists = [];
      for (const l of locs) exists.push(await FileManager.default.fileExists(l));
      return { exists, listing: await FileManager.default.contentsOfDirectory("file:///tmp") };
    }, locations);
    assert.deepEqual(tmp.exists, [false, false, false], "temp files removed");
    assert.deepEqual(tmp.listing, [], "/tmp is empty");
    assert.deepEqual(await page2.evaluate(() => window.pendingJournal()), [], "journal fully acknowledged");
    await page2.close();

    // 4. A second reopen delivers nothing.
    const page3 = await openApp(context, server.url, errors);
    assert.deepEqual(await page3.evaluate(() => window.launchedIds), [], "no identifier has queued events");
    await page3.evaluate(async (id) => {
      await window.openSession(id).ready;
    }, ID);
    assert.deepEqual(await page3.evaluate(() => window.pendingJournal()), []);
    const log3 = await page3.evaluate(() => window.log);
    assert.deepEqual(log3, [], "nothing delivered again");
    await page3.close();
    assert.deepEqual(errors, [], "no console errors");
  } finally {
    await context.close();
    await removeProfile(profile);
  }
});

test("an HTTP 404 download finishes with its body and statusCode 404", async () => {
  const profile = await newProfile();
  const context = await launch(profile);
  const errors = [];
  try {
    const page = await openApp(context, server.url, errors);
    const result = await page.evaluate(async (base) => {
      const session = window.openSession("com.example.404");
      const task = session.downloadTask(`${base}/files/missing.bin?size=1000&status=404`);
      task.taskDescription = "missing.bin";
      await task.resume();
      await new Promise((resolve) => {
        const check = () => (window.log.some((e) => e[0] === "didCompleteWithError") ? resolve() : setTimeout(check, 50));
        check();
      });
      return {
        log: window.log.filter((e) => e[0] !== "didWriteData"),
        status: task.response.statusCode,
        state: task.state,
        file: await window.sha256Of("file:///Documents/missing.bin"),
      };
    }, server.url);
    assert.equal(result.status, 404);
    assert.equal(result.state, "completed");
    assert.deepEqual(result.log.map((e) => e[0]), ["didFinishDownloadingTo", "moved", "didCompleteWithError"]);
    assert.equal(result.log[0][3], 404, "response.statusCode seen in didFinishDownloadingTo");
    assert.equal(result.log[2][2], null, "didCompleteWithError(null)");
    const want = await (await fetch(`${server.url}/sha256?size=1000&name=missing.bin`)).json();
    assert.equal(result.file.size, 1000);
    assert.equal(result.file.sha256, want.sha256, "the 404 body is the file");
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await removeProfile(profile);
  }
});
