// Cross-engine: the tab closed and the queued events replayed exactly once in
// order with byte-exact files (skeleton.test.mjs, order.test.mjs), FileManager,
// HTTP (redirects, CORS, 404: http.test.mjs), an upload (upload.test.mjs) and
// two tabs (multitab.test.mjs: distinct identifiers, each event once; a tab
// without the events follows its task's end), a deploy rolled back (a newer
// build's database: downgrade.test.mjs). ENGINE=chromium|firefox|webkit|all.
import assert from "node:assert/strict";
import { eachEngine, inBrowser, openAppIn, pollPage, base, requestsFor, assertOrder, assertFile, startDownload, waitDone, MiB, figure } from "./common.mjs";
import { ROLLBACK_SESSION, NEWER_SCHEMA, makeNewerDatabase, rawDatabase } from "../rollback-helpers.mjs";

const FILES = [
  { name: "one.bin", size: 1 * MiB, rate: 512 << 10 }, // ~2 s
  { name: "three.bin", size: 3 * MiB, rate: 1 * MiB }, // ~3 s
];

eachEngine("downloads outlive the tab; a new tab gets each event once, in order; files byte-exact; /tmp empty", {}, async (engine) => {
  await inBrowser(engine, async (browser) => {
    const ID = "com.example.x-replay";
    const page1 = await openAppIn(browser, base());
    const started = [];
    for (const f of FILES) started.push(await startDownload(page1, { session: ID, url: `${base()}/files/${f.name}?size=${f.size}&rate=${f.rate}`, name: f.name }));
    assert.equal(new Set(started).size, FILES.length, "distinct task identifiers");
    const early = await page1.evaluate(() => window.log);
    assert.ok(!early.some((e) => e[0] === "didFinishDownloadingTo"), "no download finished before the tab closed");
    await page1.close();
    const closedAt = Date.now();

    // With no app page open, the daemon completes them (an observer page that does not load bgsession reads IndexedDB).
    const observer = await browser.newPage(`${base()}/fixtures/observer.html`);
    await pollPage(observer, (n) => window.tasks().then((t) => t.length === n && t.every((x) => x.state === "completed")), {
      arg: FILES.length, timeout: 60_000, interval: 250, what: "the daemon to complete the tasks with the tab closed",
    });
    figure(engine, "tab closed: tasks completed with no app page, s after close", ((Date.now() - closedAt) / 1000).toFixed(1), "s");
    for (const f of FILES) {
      const reqs = requestsFor(`/files/${f.name}`);
      assert.ok(reqs.at(-1).completed, `${f.name}: the last request was answered whole`);
    }
    await observer.close();

    const page2 = await openAppIn(browser, base());
    await pollPage(page2, () => window.log.some((e) => e[0] === "urlSessionDidFinishEvents"), { timeout: 30_000, what: "urlSessionDidFinishEvents" });
    const log = await page2.evaluate(() => window.log);
    assert.deepEqual(log.filter((e) => e[0] === "handleEventsForBackgroundURLSession"), [["handleEventsForBackgroundURLSession", ID]], "handleEvents once");
    assert.equal(log.at(-1)[0], "urlSessionDidFinishEvents", "urlSessionDidFinishEvents last");
    assert.equal(log.filter((e) => e[0] === "urlSessionDidFinishEvents").length, 1);
    const locations = [];
    for (const id of started) {
      assertOrder(log, id);
      const fin = log.find((e) => e[0] === "didFinishDownloadingTo" && e[1] === id);
      assert.match(fin[2], /^file:\/\/\/tmp\/CFNetworkDownload_[0-9a-f]+\.tmp$/);
      assert.equal(fin[3], 200);
      locations.push(fin[2]);
    }
    for (const f of FILES) await assertFile(page2, f.name, f);
    const tmp = await page2.evaluate(async (locs) => {
      const { FileManager } = window.bg;
      const exists = [];
      for (const l of locs) exists.push(await FileManager.default.fileExists(l));
      return { exists, listing: await FileManager.default.contentsOfDirectory("file:///tmp") };
    }, locations);
    assert.deepEqual(tmp.exists, locations.map(() => false), "temp files removed");
    assert.deepEqual(tmp.listing, [], "/tmp is empty");
    assert.deepEqual(await page2.evaluate(() => window.pendingJournal()), [], "journal fully acknowledged");
    await page2.close();

    const page3 = await openAppIn(browser, base());
    assert.deepEqual(await page3.evaluate(() => window.launchedIds), [], "no identifier has queued events");
    await page3.evaluate((id) => window.openSession(id).ready.then(() => true), ID);
    assert.deepEqual(await page3.evaluate(() => window.log), [], "nothing delivered again");
    await page3.close();
  });
});

eachEngine("a live download with the page open: didWriteData* → didFinishDownloadingTo → didCompleteWithError(null); FileManager copy/remove/attributes", {}, async (engine) => {
  await inBrowser(engine, async (browser) => {
    const page = await openAppIn(browser, base());
    const size = 2 * MiB;
    const id = await startDownload(page, { session: "com.example.x-live", url: `${base()}/files/live.bin?size=${size}&rate=${2 * MiB}`, name: "live.bin" });
    const log = await waitDone(page, id);
    assertOrder(log, id);
    assert.ok(log.some((e) => e[0] === "didWriteData" && e[1] === id), "progress reported");
    await assertFile(page, "live.bin", { size });
    const fm = await page.evaluate(async () => {
      const fm = window.bg.FileManager.default;
      await fm.copyItem("file:///Documents/live.bin", "file:///Documents/copy.bin");
      const listing = (await fm.contentsOfDirectory("file:///Documents")).sort();
      const attrs = await fm.attributesOfItem("file:///Documents/copy.bin");
      const copy = await window.sha256Of("file:///Documents/copy.bin");
      await fm.removeItem("file:///Documents/copy.bin");
      return { listing, size: attrs.size, copy, existsAfter: await fm.fileExists("file:///Documents/copy.bin") };
    });
    assert.deepEqual(fm.listing, ["file:///Documents/copy.bin", "file:///Documents/live.bin"]);
    assert.equal(fm.size, size, "attributesOfItem size");
    const orig = await page.evaluate(() => window.sha256Of("file:///Documents/live.bin"));
    assert.deepEqual(fm.copy, orig, "the copy is byte-exact");
    assert.equal(fm.existsAfter, false, "removed");
  });
});

eachEngine("redirects are followed; a cross-origin URL without CORS fails with -1011; a 404 finishes with its body", {}, async (engine) => {
  await inBrowser(engine, async (browser) => {
    const page = await openAppIn(browser, base());
    const S = "com.example.x-http";
    const size = 2 * MiB;
    const target = `/files/r.bin?size=${size}`;
    const first = `${base()}/redirect/2?to=${encodeURIComponent(target)}&status=301`;
    const rid = await startDownload(page, { session: S, url: first, name: "r.bin" });
    await waitDone(page, rid);
    const view = await page.evaluate(async ({ S, rid }) => {
      const tasks = await window.openSession(S).getAllTasks();
      const t = tasks.find((x) => x.taskIdentifier === rid);
      return t ? { original: t.originalRequest.url, current: t.currentRequest.url, status: t.response.statusCode } : { log: window.log.filter((e) => e[1] === rid) };
    }, { S, rid });
    const log0 = await page.evaluate(() => window.log);
    assertOrder(log0, rid);
    await assertFile(page, "r.bin", { size });
    assert.equal(requestsFor("/redirect/2").length + requestsFor("/redirect/1").length, 2, "two hops, once");
    if (view.original) assert.deepEqual(view, { original: first, current: `${base()}${target}`, status: 200 });

    const other = base().replace("127.0.0.1", "localhost");
    const blocked = await startDownload(page, { session: S, url: `${other}/nocors/x.bin?size=1000`, name: "x.bin" });
    await waitDone(page, blocked);
    const err = await page.evaluate((tid) => window.errors[tid], blocked);
    assert.equal(err.code, -1011);
    assert.match(err.userInfo.NSLocalizedFailureReason, /without CORS headers/);
    assert.equal(requestsFor("/nocors/x.bin").filter((e) => e.method === "GET").length, 1, "not retried");

    const missing = await startDownload(page, { session: S, url: `${base()}/status/404`, name: "missing" });
    const log = await waitDone(page, missing);
    assert.equal(log.find((e) => e[0] === "didFinishDownloadingTo" && e[1] === missing)[3], 404);
    assert.equal(log.find((e) => e[0] === "didCompleteWithError" && e[1] === missing)[2], null, "no error");
    const body = await page.evaluate(async () => (await window.bg.FileManager.default.contents("file:///Documents/missing")).text());
    assert.equal(body, "status 404");
    assert.deepEqual(await page.evaluate(() => window.bg.FileManager.default.contentsOfDirectory("file:///tmp/")), [], "no temp file left");
  }, { allow: /CORS|Access-Control|ERR_FAILED|NetworkError|Cross-Origin|not allowed by Access-Control/i });
});

eachEngine("an upload sends the file's exact bytes: didSendBodyData → didReceiveData → didCompleteWithError(null)", {}, async (engine) => {
  await inBrowser(engine, async (browser) => {
    const page = await openAppIn(browser, base());
    const S = "com.example.x-up";
    const size = 2 * MiB;
    const did = await startDownload(page, { session: S, url: `${base()}/files/a.bin?size=${size}`, name: "a.bin" });
    await pollPage(page, () => window.log.some((e) => e[0] === "moved" && e[2] === "file:///Documents/a.bin"), { what: "a.bin moved" });
    assert.ok(did);
    const id = await page.evaluate(async (b) => {
      const task = window.openSession("com.example.x-up").uploadTask({ url: `${b}/upload/a.bin`, method: "PUT", headers: { "Content-Type": "application/x-test" } }, "file:///Documents/a.bin");
      await task.resume();
      return task.taskIdentifier;
    }, base());
    const log = await waitDone(page, id);
    assert.deepEqual(log.filter((e) => e[1] === id).map((e) => e[0]), ["didSendBodyData", "didReceiveData", "didCompleteWithError"]);
    assert.deepEqual(log.find((e) => e[0] === "didSendBodyData" && e[1] === id).slice(2), [size, size, size]);
    const answer = JSON.parse(log.find((e) => e[0] === "didReceiveData" && e[1] === id)[2]);
    const want = await (await fetch(`${base()}/sha256?size=${size}&name=a.bin`)).json();
    assert.equal(answer.size, size);
    assert.equal(answer.sha256, want.sha256, "the server received the exact bytes");
    assert.equal(answer.contentType, "application/x-test");
    assert.equal(log.find((e) => e[0] === "didCompleteWithError" && e[1] === id)[2], null);
    assert.deepEqual(await page.evaluate(() => window.pendingJournal()), [], "the journal is empty");
  });
});

eachEngine("two tabs: tasks created at the same moment get distinct identifiers; each event is delivered once overall", {}, async (engine) => {
  await inBrowser(engine, async (browser) => {
    const S = "com.example.x-tabs";
    const a = await openAppIn(browser, base());
    const b = await openAppIn(browser, base());
    const mk = (page, n) => page.evaluate(async ({ S, b, n }) => {
      const ids = [];
      for (let i = 0; i < 3; i++) {
        const t = window.openSession(S).downloadTask(`${b}/files/t${n}-${i}.bin?size=${256 << 10}`);
        t.taskDescription = `t${n}-${i}.bin`;
        await t.resume();
        ids.push(t.taskIdentifier);
      }
      return ids;
    }, { S, b: base(), n });
    const [ia, ib] = await Promise.all([mk(a, "a"), mk(b, "b")]);
    const all = [...ia, ...ib];
    assert.equal(new Set(all).size, 6, `distinct identifiers: ${all}`);
    // Each task's completion is delivered exactly once across the two tabs (the tab holding the identifier).
    const count = async () => {
      const la = await a.evaluate(() => window.log);
      const lb = await b.evaluate(() => window.log);
      return [...la, ...lb].filter((e) => e[0] === "didCompleteWithError");
    };
    const end = Date.now() + 60_000;
    let done;
    for (;;) {
      done = await count();
      if (new Set(done.map((e) => e[1])).size === 6 || Date.now() > end) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    // then let a page close: the other tab takes over anything left
    assert.equal(new Set(done.map((e) => e[1])).size, 6, "all six completions delivered");
    assert.equal(done.length, 6, "each once");
    assert.ok(done.every((e) => e[2] === null), "without error");
    for (const id of ia.concat(ib)) {
      const holder = (await a.evaluate(() => window.log)).some((e) => e[1] === id && e[0] === "didCompleteWithError") ? a : b;
      assertOrder(await holder.evaluate(() => window.log), id);
    }
  });
});

// The tab waiting for an identifier's events follows its own task's end
// (BroadcastChannel announcements, then a read of the task records: Web
// Locks, BroadcastChannel and IndexedDB as each engine has them), as in
// multitab.test.mjs, whose Chromium test this is in every engine.
eachEngine("a tab that does not hold the events sees its task end without asking: its object says completed within seconds of the other tab's delivery", {}, async (engine) => {
  await inBrowser(engine, async (browser) => {
    const ID = "com.example.x-follows";
    const openIn = (page) => page.evaluate((id) => {
      window.sessionReady = false;
      window.openSession(id).ready.then(() => (window.sessionReady = true));
    }, ID);
    const a = await openAppIn(browser, base());
    await openIn(a);
    await pollPage(a, () => window.sessionReady === true, { timeout: 15_000, what: "A to hold the identifier's events" });
    const b = await openAppIn(browser, base());
    await openIn(b);
    await pollPage(b, (name) => navigator.locks.query().then((s) => s.pending.filter((l) => l.name === name).length === 1), {
      arg: `bgsession:events:${ID}`, timeout: 15_000, what: "B's request for the identifier's lock",
    });
    // Slow enough (1 MiB at 256 KiB/s) that B sees it running first.
    const idB = await b.evaluate(async ({ id, url }) => {
      const task = (window.waiting = window.sessions[id].downloadTask(url));
      task.taskDescription = "follows.bin";
      await task.resume();
      return task.taskIdentifier;
    }, { id: ID, url: `${base()}/files/follows.bin?size=${1 * MiB}&rate=${256 << 10}` });
    assert.equal(await b.evaluate(() => window.waiting.state), "running");
    await waitDone(a, idB, 60_000);
    const deliveredAt = Date.now();
    // B never calls getAllTasks(): the daemon's announcements make it read the records.
    await pollPage(b, () => window.waiting.state === "completed", { timeout: 15_000, what: "B's object to say completed" });
    figure(engine, "a waiting tab's task object said completed, s after the other tab's delivery", ((Date.now() - deliveredAt) / 1000).toFixed(1), "s");
    assert.deepEqual(await b.evaluate(() => window.log), [], "B received nothing (A holds the identifier)");
    assert.equal(await b.evaluate(() => window.sessionReady), false, "B still waits for the identifier's events");
    assertOrder(await a.evaluate(() => window.log), idB);
  });
});

eachEngine("a deploy rolled back: a newer build's database holding every store this build needs is used as it is; its queued events delivered, a new download byte-exact", {}, async (engine) => {
  await inBrowser(engine, async (browser) => {
    const observer = await browser.newPage(`${base()}/fixtures/observer.html`);
    await observer.evaluate(makeNewerDatabase, {});
    const page = await openAppIn(browser, base());
    await pollPage(page, () => window.log.some((e) => e[0] === "urlSessionDidFinishEvents"), { timeout: 30_000, what: "urlSessionDidFinishEvents" });
    let log = await page.evaluate(() => window.log);
    assert.deepEqual(log.filter((e) => e[0] === "handleEventsForBackgroundURLSession"), [["handleEventsForBackgroundURLSession", ROLLBACK_SESSION]]);
    assertOrder(log, 1);
    assert.ok(log.some((e) => e[0] === "moved" && e[1] === 1), "the app moved the file the newer build downloaded");
    const f = { name: "rolled-back.bin", size: 300_000 };
    const id = await startDownload(page, { session: ROLLBACK_SESSION, url: `${base()}/files/${f.name}?size=${f.size}`, name: f.name });
    log = await waitDone(page, id, 60_000);
    assertOrder(log, id);
    await assertFile(page, f.name, f);
    const raw = await observer.evaluate(rawDatabase);
    assert.equal(raw.version, NEWER_SCHEMA, "the database keeps the newer build's version");
    assert.deepEqual(raw.stores.future, [{ what: "the newer build's own record" }], "the newer build's own store is untouched");
  });
});
