// The rest of API.md's rows, each exercised in Chromium: the connection cap
// and task priority, httpAdditionalHeaders, timeoutIntervalForResource,
// session invalidation (both kinds) and reusing the identifier, the whole
// FileManager surface, getAllTasks after a reload, and a daemon that leaves
// the site's own fetches alone.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, openApp, withBrowser } from "./harness.mjs";

let server;
before(async () => {
  server = await startServer({ port: 0 });
});
after(async () => {
  await server.close();
});

const KiB = 1024;
const done = (page, ids) =>
  page.waitForFunction((ids) => ids.every((id) => window.log.some((e) => e[0] === "didCompleteWithError" && e[1] === id)), ids, { timeout: 60_000 });
const filesNamed = (prefix) => server.log.filter((e) => e.path.startsWith(`/files/${prefix}`));

const withApp = (fn) =>
  withBrowser(async ({ context, errors }) => fn(await openApp(context, server.url, errors), context, errors));

test("httpMaximumConnectionsPerHost caps connections; a higher priority starts first", async () => {
  await withApp(async (page) => {
    server.resetLog();
    const ids = await page.evaluate(async ({ base }) => {
      const s = window.openSession("com.example.cap", { httpMaximumConnectionsPerHost: 2 });
      const out = [];
      for (let i = 0; i < 6; i++) {
        const t = s.downloadTask(`${base}/files/cap${i}.bin?size=${192 << 10}&rate=${256 << 10}`);
        t.taskDescription = `cap${i}.bin`;
        await t.resume();
        out.push(t.taskIdentifier);
      }
      return out;
    }, { base: server.url });
    await done(page, ids);
    const max = (await (await fetch(`${server.url}/__log`)).json()).maxConcurrent;
    assert.equal(max, 2, "never more than 2 connections, and 2 were used");

    // One connection: a blocker runs; "low" then "high" wait; high goes first.
    // (Task numbers are per session: watch only the log from here on.)
    const mark = await page.evaluate(() => window.log.length);
    const order = await page.evaluate(async ({ base }) => {
      const s = window.openSession("com.example.prio", { httpMaximumConnectionsPerHost: 1 });
      const mk = async (name, priority, size, rate) => {
        const t = s.downloadTask(`${base}/files/prio-${name}.bin?size=${size}&rate=${rate}`);
        t.priority = priority;
        t.taskDescription = `prio-${name}.bin`;
        await t.resume();
        return t.taskIdentifier;
      };
      const blocker = await mk("blocker", 0.5, 256 << 10, 256 << 10);
      const low = await mk("low", 0.1, 1000, 0);
      const high = await mk("high", 0.9, 1000, 0);
      return { blocker, low, high };
    }, { base: server.url });
    await page.waitForFunction(
      ({ mark, ids }) => ids.every((id) => window.log.slice(mark).some((e) => e[0] === "didCompleteWithError" && e[1] === id)),
      { mark, ids: Object.values(order) },
      { timeout: 30_000 },
    );
    const first = (name) => Math.min(...filesNamed(`prio-${name}`).map((e) => e.id));
    assert.ok(first("high") < first("low"), "priority 0.9 was started before 0.1");
    assert.ok(first("blocker") < first("high"));
    const bad = await page.evaluate(() => {
      const t = window.sessions["com.example.prio"].downloadTask("/files/x");
      try { t.priority = 2; return "no error"; } catch (e) { return `${e.name}: ${e.message}`; }
    });
    assert.match(bad, /^InvalidArgument: priority must be between 0\.0 and 1\.0/);
  });
});

test("httpAdditionalHeaders go with every request; the request's own header wins", async () => {
  await withApp(async (page) => {
    const id = await page.evaluate(async ({ base }) => {
      const s = window.openSession("com.example.headers", { httpAdditionalHeaders: { "X-App": "podcasts", "Accept-Language": "fr" } });
      const t = s.downloadTask({ url: `${base}/files/h.bin?size=${3 << 20}`, headers: { "Accept-Language": "de" } });
      await t.resume();
      return t.taskIdentifier;
    }, { base: server.url });
    await done(page, [id]);
    const reqs = filesNamed("h.bin");
    assert.ok(reqs.length >= 2, "several (ranged) requests");
    for (const r of reqs) {
      assert.equal(r.requestHeaders["x-app"], "podcasts");
      assert.equal(r.requestHeaders["accept-language"], "de");
    }
  });
});

test("timeoutIntervalForResource ends a task that takes too long with -1001 and resume data", async () => {
  await withApp(async (page) => {
    const id = await page.evaluate(async ({ base }) => {
      // 2.5 s: the 1 MiB probe (read whole, ~1 s) and a streamed second are stored by then.
      const s = window.openSession("com.example.resource", { timeoutIntervalForResource: 2.5 });
      const t = s.downloadTask(`${base}/files/slow.bin?size=${8 << 20}&rate=${1 << 20}`);
      await t.resume();
      return t.taskIdentifier;
    }, { base: server.url });
    await done(page, [id]);
    const err = await page.evaluate((id) => {
      const e = window.errors[id];
      return { code: e.code, reason: e.userInfo.NSLocalizedFailureReason, resumable: e.userInfo.NSURLSessionDownloadTaskResumeData instanceof Uint8Array };
    }, id);
    assert.deepEqual(err, { code: -1001, reason: "timeoutIntervalForResource elapsed before the transfer completed", resumable: true });
  });
});

test("finishTasksAndInvalidate lets tasks finish, invalidateAndCancel cancels them; then the identifier can be used again", async () => {
  await withApp(async (page) => {
    // finishTasksAndInvalidate: the running task completes, then the session is invalid.
    const a = await page.evaluate(async ({ base }) => {
      const s = window.openSession("com.example.finish");
      const t = s.downloadTask(`${base}/files/fin.bin?size=${256 << 10}&rate=${512 << 10}`);
      await t.resume();
      s.finishTasksAndInvalidate();
      let thrown;
      try { s.downloadTask(`${base}/files/late.bin`); } catch (e) { thrown = `${e.name}: ${e.message}`; }
      return { id: t.taskIdentifier, thrown };
    }, { base: server.url });
    assert.match(a.thrown, /^SessionInvalidated: .*com\.example\.finish/);
    await page.waitForFunction(() => window.log.some((e) => e[0] === "didBecomeInvalidWithError" && e[1] === "com.example.finish"), null, { timeout: 30_000 });
    let log = await page.evaluate(() => window.log);
    const at = (m, id) => log.findIndex((e) => e[0] === m && e[1] === id);
    assert.ok(at("didCompleteWithError", a.id) >= 0 && at("didCompleteWithError", a.id) < at("didBecomeInvalidWithError", "com.example.finish"), "the task finished first");
    assert.equal(log.find((e) => e[0] === "didCompleteWithError" && e[1] === a.id)[2], null);
    assert.equal(log.find((e) => e[0] === "didBecomeInvalidWithError")[2], null, "error null");

    // invalidateAndCancel: the running tasks end with -999, then (not before) invalid.
    const b = await page.evaluate(async ({ base }) => {
      const s = window.openSession("com.example.cancelall");
      const ids = [];
      for (const n of [1, 2, 3]) {
        const t = s.downloadTask(`${base}/files/all${n}.bin?size=${4 << 20}&rate=${256 << 10}`);
        await t.resume();
        ids.push(t.taskIdentifier);
      }
      await new Promise((r) => setTimeout(r, 600));
      await s.invalidateAndCancel();
      return ids;
    }, { base: server.url });
    await page.waitForFunction(() => window.log.some((e) => e[0] === "didBecomeInvalidWithError" && e[1] === "com.example.cancelall"), null, { timeout: 30_000 });
    log = await page.evaluate(() => window.log);
    const since = log.slice(log.findIndex((e) => e[0] === "didBecomeInvalidWithError" && e[1] === "com.example.finish") + 1);
    const invalidAt = since.findIndex((e) => e[0] === "didBecomeInvalidWithError" && e[1] === "com.example.cancelall");
    for (const id of b) {
      const completeAt = since.findIndex((e) => e[0] === "didCompleteWithError" && e[1] === id);
      assert.equal(since[completeAt]?.[2], -999, `task ${id} cancelled`);
      assert.ok(completeAt < invalidAt, `task ${id}'s didCompleteWithError comes before didBecomeInvalidWithError`);
    }

    // Reusing an invalidated identifier: a new session works as a fresh one.
    // (The log names tasks, not sessions: look only at what comes next.)
    const mark = log.length;
    const again = await page.evaluate(async ({ base }) => {
      delete window.sessions["com.example.finish"];
      const s = window.openSession("com.example.finish");
      const t = s.downloadTask(`${base}/files/again.bin?size=1000`);
      await t.resume();
      return t.taskIdentifier;
    }, { base: server.url });
    assert.ok(again > a.id, "identifiers keep increasing in the reused session");
    await page.waitForFunction(({ mark, again }) => window.log.slice(mark).some((e) => e[0] === "didCompleteWithError" && e[1] === again), { mark, again }, { timeout: 30_000 });
    log = (await page.evaluate(() => window.log)).slice(mark);
    assert.deepEqual(log.filter((e) => e[1] === again && e[0] !== "didWriteData").map((e) => [e[0], e[0] === "didCompleteWithError" ? e[2] : ""]), [
      ["didFinishDownloadingTo", ""],
      ["moved", ""],
      ["didCompleteWithError", null],
    ]);
  });
});

test("FileManager: move, copy, remove, exists, contents, directory listing, attributes, usage, largest files", async () => {
  await withApp(async (page) => {
    const id = await page.evaluate(async ({ base }) => {
      const t = window.openSession("com.example.files").downloadTask(`${base}/files/big.bin?size=${300 * 1024}`);
      t.taskDescription = "big.bin";
      await t.resume();
      const u = window.openSession("com.example.files").downloadTask(`${base}/files/small.bin?size=1000`);
      u.taskDescription = "small.bin";
      await u.resume();
      return [t.taskIdentifier, u.taskIdentifier];
    }, { base: server.url });
    await done(page, id);
    const r = await page.evaluate(async () => {
      const fm = window.bg.FileManager.default;
      const out = {};
      const err = async (p) => { try { await p; return "no error"; } catch (e) { return [e.domain, e.code]; } };
      await fm.copyItem("file:///Documents/big.bin", "file:///Library/Caches/big-copy.bin");
      out.copySame = (await window.sha256Of("file:///Library/Caches/big-copy.bin")).sha256 === (await window.sha256Of("file:///Documents/big.bin")).sha256;
      out.listing = (await fm.contentsOfDirectory("file:///Documents/")).sort();
      const attrs = await fm.attributesOfItem("file:///Documents/big.bin");
      out.attrs = { size: attrs.size, isDate: attrs.modificationDate instanceof Date, recent: Date.now() - attrs.modificationDate.getTime() < 60_000 };
      out.usage = await fm.usage();
      out.largest = (await fm.largestFiles(2)).map((f) => [f.url, f.size]);
      out.moveOntoExisting = await err(fm.moveItem("file:///Documents/small.bin", "file:///Library/Caches/big-copy.bin"));
      await fm.moveItem("file:///Documents/small.bin", "file:///Documents/sub/small.bin");
      out.listingAfterMove = (await fm.contentsOfDirectory("file:///Documents/")).sort();
      out.existsDir = await fm.fileExists("file:///Documents/sub");
      await fm.removeItem("file:///Library/Caches/");
      out.cachesAfterClear = await fm.contentsOfDirectory("file:///Library/Caches/");
      out.removeMissing = await err(fm.removeItem("file:///Documents/nope.bin"));
      out.existsRemoved = await fm.fileExists("file:///Library/Caches/big-copy.bin");
      out.text = (await (await fm.contents("file:///Documents/sub/small.bin")).arrayBuffer()).byteLength;
      return out;
    });
    assert.equal(r.copySame, true, "copyItem copies the bytes");
    assert.deepEqual(r.listing, ["file:///Documents/big.bin", "file:///Documents/small.bin"]);
    assert.deepEqual(r.attrs, { size: 300 * 1024, isDate: true, recent: true });
    assert.deepEqual([r.usage.documents, r.usage.caches, r.usage.tmp, r.usage.total], [300 * 1024 + 1000, 300 * 1024, 0, 600 * 1024 + 1000]);
    assert.ok(r.usage.quota > r.usage.total, "the origin's quota");
    assert.deepEqual(r.largest.map((f) => f[1]), [300 * 1024, 300 * 1024]);
    assert.deepEqual(r.moveOntoExisting, ["NSCocoaErrorDomain", 516]);
    assert.deepEqual(r.listingAfterMove, ["file:///Documents/big.bin", "file:///Documents/sub/"]);
    assert.equal(r.existsDir, true);
    assert.deepEqual(r.cachesAfterClear, []);
    assert.deepEqual(r.removeMissing, ["NSCocoaErrorDomain", 4]);
    assert.equal(r.existsRemoved, false);
    assert.equal(r.text, 1000);
  });
});

test("getAllTasks after a reload gives live task objects; the daemon leaves the site's own fetches alone", async () => {
  await withBrowser(async ({ context, errors }) => {
    const page1 = await openApp(context, server.url, errors);
    const id = await page1.evaluate(async ({ base }) => {
      const t = window.openSession("com.example.reload").downloadTask(`${base}/files/live.bin?size=${1 << 20}&rate=${256 << 10}`);
      t.taskDescription = "live.bin";
      await t.resume();
      return t.taskIdentifier;
    }, { base: server.url });
    await page1.reload();
    await page1.waitForFunction(() => window.appReady === true);
    const seen = await page1.evaluate(async () => {
      const s = window.openSession("com.example.reload");
      const [t] = await s.getAllTasks();
      window.fromGetAll = t;
      await t.suspend();
      const suspended = t.state;
      await t.resume();
      return { id: t.taskIdentifier, description: t.taskDescription, url: t.originalRequest.url, suspended, state: t.state, kind: t.kind };
    });
    assert.deepEqual(seen, { id, description: "live.bin", url: `${server.url}/files/live.bin?size=${1 << 20}&rate=${256 << 10}`, suspended: "suspended", state: "running", kind: "download" });
    await done(page1, [id]);
    assert.equal(await page1.evaluate(() => window.fromGetAll.state), "completed", "the object getAllTasks gave is the one the events update");
    // The page is controlled by the daemon's worker, and its own fetches
    // reach the server untouched (the worker has no fetch handler).
    const plain = await page1.evaluate(async (base) => {
      const r = await fetch(`${base}/files/own.bin?size=12345`);
      return { controlled: !!navigator.serviceWorker.controller, status: r.status, size: (await r.arrayBuffer()).byteLength };
    }, server.url);
    assert.deepEqual(plain, { controlled: true, status: 200, size: 12345 });
  });
});
