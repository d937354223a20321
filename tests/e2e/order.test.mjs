// API.md's event-order rules, one test per rule, checked on what the
// delegate received (the fixture app's window.log) and on the IndexedDB
// journal itself. Every test ends with the journal empty: each event was
// delivered and acknowledged.
//
//   download, live:      didWriteData* → didFinishDownloadingTo → didCompleteWithError(null)
//   relaunch:            handleEventsForBackgroundURLSession once, the queued
//                        events in journal order, urlSessionDidFinishEvents last
//   HTTP error status:   not a task error — finishes like a success, statusCode 404
//   failure:             didCompleteWithError(error), no didFinishDownloadingTo,
//                        error.userInfo.NSURLSessionDownloadTaskResumeData when resumable
//   resume data:         cancelByProducingResumeData → didCompleteWithError(-999);
//                        downloadTaskWithResumeData → didResumeAtOffset(offset > 0)
//                        → didWriteData* → didFinishDownloadingTo → didCompleteWithError(null)
//   upload:              didSendBodyData → didReceiveData* → didCompleteWithError, live or replayed
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, openApp, waitFor, watch, withBrowser } from "./harness.mjs";
import {
  MiB,
  compileOrder,
  matchesOrder,
  assertTaskOrder,
  assertProgress,
  readJournal,
  journalCall,
  logCall,
  withApp,
  startDownload,
  appLog,
  waitLog,
  waitCompleted,
  assertFile,
} from "./order-helpers.mjs";

let server;
before(async () => {
  server = await startServer({ port: 0 });
});
after(async () => {
  await server.close();
});

// The order rules of API.md as patterns for the checker.
const DOWNLOAD = "didWriteData* didFinishDownloadingTo didCompleteWithError";
const FAILED = "(didWriteData|didResumeAtOffset)* didCompleteWithError";
const RESUMED = "didResumeAtOffset didWriteData* didFinishDownloadingTo didCompleteWithError";

const LOCATION = /^file:\/\/\/tmp\/CFNetworkDownload_[0-9a-f]+\.tmp$/;

test("the order checker accepts API.md's orders and rejects others", () => {
  assert.ok(matchesOrder(["didWriteData", "didWriteData", "didFinishDownloadingTo", "didCompleteWithError"], DOWNLOAD));
  assert.ok(matchesOrder(["didFinishDownloadingTo", "didCompleteWithError"], DOWNLOAD), "progress is optional");
  assert.ok(!matchesOrder(["didFinishDownloadingTo", "didWriteData", "didCompleteWithError"], DOWNLOAD), "progress after the file");
  assert.ok(!matchesOrder(["didWriteData", "didCompleteWithError", "didFinishDownloadingTo"], DOWNLOAD), "file after completion");
  assert.ok(!matchesOrder(["didFinishDownloadingTo", "didCompleteWithError", "didCompleteWithError"], DOWNLOAD), "completion twice");
  assert.ok(!matchesOrder(["didWriteData", "didFinishDownloadingTo"], DOWNLOAD), "no completion");
  assert.ok(matchesOrder(["didResumeAtOffset", "didWriteData", "didFinishDownloadingTo", "didCompleteWithError"], RESUMED));
  assert.ok(!matchesOrder(["didWriteData", "didResumeAtOffset", "didFinishDownloadingTo", "didCompleteWithError"], RESUMED), "resume first");
  assert.ok(matchesOrder(["didWriteData", "didCompleteWithError"], FAILED));
  assert.ok(!matchesOrder(["didWriteData", "didFinishDownloadingTo", "didCompleteWithError"], FAILED), "no file for a failure");
  assert.throws(() => compileOrder("didWriteData{2}"), /bad order pattern/);
});

test("a live download: didWriteData* → didFinishDownloadingTo → didCompleteWithError(null)", async () => {
  await withApp(server, async ({ page }) => {
    const size = 2 * MiB;
    const name = "live.bin";
    const session = "com.example.order.live";
    const id = await startDownload(page, { session, url: `${server.url}/files/${name}?size=${size}&rate=${MiB}`, name });
    const log = await waitCompleted(page, id);
    const calls = assertTaskOrder(log, id, DOWNLOAD);
    assert.ok(calls.some((e) => e[0] === "didWriteData"), "progress was reported live");
    const { sum } = assertProgress(calls, { size, what: name });
    console.log(`# live: ${calls.map((e) => e[0]).join(", ")}`);
    assert.equal(sum, size, "the bytesWritten of all didWriteData calls add up to the file size");
    const finish = calls.find((e) => e[0] === "didFinishDownloadingTo");
    assert.match(finish[2], LOCATION);
    assert.equal(finish[3], 200, "response.statusCode in didFinishDownloadingTo");
    assert.deepEqual(calls.at(-1), ["didCompleteWithError", id, null, "completed"], "didCompleteWithError(null), state completed");
    // The file was moved while didFinishDownloadingTo ran, before completion.
    const moved = log.findIndex((e) => e[0] === "moved" && e[1] === id);
    assert.ok(moved > log.indexOf(finish) && moved < log.findIndex((e) => e[0] === "didCompleteWithError" && e[1] === id));
    assert.ok(!log.some((e) => e[0] === "urlSessionDidFinishEvents"), "no urlSessionDidFinishEvents without a relaunch");
    assert.ok(!log.some((e) => e[0] === "handleEventsForBackgroundURLSession"));
    await assertFile(server, page, `file:///Documents/${name}`, { name, size });
  });
});

test("a relaunch: handleEventsForBackgroundURLSession once, the queued events in journal order, urlSessionDidFinishEvents last", async () => {
  await withApp(server, async ({ page, context, errors }) => {
    const session = "com.example.order.relaunch";
    const files = [
      { name: "relaunch-a.bin", size: MiB, rate: 256 << 10 },
      { name: "relaunch-b.bin", size: 2 * MiB, rate: 512 << 10 },
    ];
    const ids = [];
    for (const f of files) {
      ids.push(await startDownload(page, { session, url: `${server.url}/files/${f.name}?size=${f.size}&rate=${f.rate}`, name: f.name }));
    }
    // Some progress reaches the first page, then it closes mid-download.
    await waitLog(page, (e) => e[0] === "didWriteData", "progress before the close");
    const before = await appLog(page);
    assert.ok(!before.some((e) => e[0] === "didFinishDownloadingTo"), "nothing finished before the tab closed");
    await page.close();

    // With no app page open, the daemon completes both tasks and journals it.
    const observer = watch(await context.newPage(), errors);
    await observer.goto(`${server.url}/fixtures/observer.html`);
    await waitFor(
      async () => {
        const tasks = await observer.evaluate(() => window.tasks());
        return tasks.filter((t) => t.session === session && t.state === "completed").length === files.length;
      },
      { timeout: 60_000, interval: 200, what: "the daemon to complete both tasks with no app page open" },
    );
    const journal = (await readJournal(observer)).filter((e) => e.session === session);
    await observer.close();
    // The journal itself keeps API.md's per-task order.
    const journalLog = journal.map((e) => [e.event.type, e.taskId]);
    for (const id of ids) assertTaskOrder(journalLog, id, DOWNLOAD, `journal, task ${id}`);
    assert.ok(journal.some((e) => e.event.type === "didCompleteWithError"));
    console.log(`# relaunch: ${journal.length} queued events in the journal (${journal.map((e) => e.event.type).join(", ")})`);

    // Relaunch.
    const page2 = await openApp(context, server.url, errors);
    assert.deepEqual(await page2.evaluate(() => window.launchedIds), [session], "the launch check hands over the identifier");
    const log = await waitLog(page2, (e) => e[0] === "urlSessionDidFinishEvents", "urlSessionDidFinishEvents");
    const delegateCalls = log.filter((e) => e[0] !== "moved");
    assert.deepEqual(delegateCalls[0], ["handleEventsForBackgroundURLSession", session], "handleEventsForBackgroundURLSession first");
    assert.equal(log.filter((e) => e[0] === "handleEventsForBackgroundURLSession").length, 1, "handleEventsForBackgroundURLSession once");
    assert.deepEqual(delegateCalls.at(-1), ["urlSessionDidFinishEvents", session], "urlSessionDidFinishEvents last");
    assert.equal(log.filter((e) => e[0] === "urlSessionDidFinishEvents").length, 1, "urlSessionDidFinishEvents once");
    // Between them: exactly the journalled entries, in journal (seq) order.
    assert.deepEqual(delegateCalls.slice(1, -1).map(logCall), journal.map(journalCall), "the queued events, each once, in journal order");

    // Across both pages, each task's calls keep API.md's order.
    for (const [i, id] of ids.entries()) {
      const calls = assertTaskOrder([...before, ...log], id, DOWNLOAD);
      assert.deepEqual(calls.at(-1), ["didCompleteWithError", id, null, "completed"]);
      assert.match(calls.find((e) => e[0] === "didFinishDownloadingTo")[2], LOCATION);
      await assertFile(server, page2, `file:///Documents/${files[i].name}`, files[i]);
    }
    assert.deepEqual(await page2.evaluate(() => window.bg.FileManager.default.contentsOfDirectory("file:///tmp")), [], "no temp file left");
    assert.deepEqual(await readJournal(page2), []);
    await page2.close();

    // A third open has nothing to hand over and delivers nothing.
    const page3 = await openApp(context, server.url, errors);
    assert.deepEqual(await page3.evaluate(() => window.launchedIds), [], "no identifier has queued events");
    await page3.evaluate((s) => window.openSession(s).ready, session);
    assert.deepEqual(await appLog(page3), [], "nothing delivered again");
    return page3;
  });
});

test("an HTTP 404 is not a task error: didFinishDownloadingTo with statusCode 404, then didCompleteWithError(null)", async () => {
  await withApp(server, async ({ page }) => {
    const name = "not-found.bin";
    const size = 3000;
    const id = await startDownload(page, { session: "com.example.order.404", url: `${server.url}/files/${name}?size=${size}&status=404`, name });
    const log = await waitCompleted(page, id);
    const calls = assertTaskOrder(log, id, DOWNLOAD);
    assert.equal(calls.find((e) => e[0] === "didFinishDownloadingTo")[3], 404, "response.statusCode 404");
    assert.deepEqual(calls.at(-1), ["didCompleteWithError", id, null, "completed"]);
    await assertFile(server, page, `file:///Documents/${name}`, { name, size });
  });
});

// A stalled body fails the task with -1001 once timeoutIntervalForResource
// (3 s) has passed. (Until 2026-12-06 these tests used timeoutIntervalForRequest,
// which now retries, as a background session does on iOS.) The first MiB
// (the daemon's probe) is stored before the stall; with an ETag that makes
// the failure resumable.
async function failByTimeout(page, { name, size, extra = "" }) {
  const session = "com.example.order.failure";
  const url = `${server.url}/files/${name}?size=${size}&stallAt=${MiB}&stallMs=30000${extra}`;
  const id = await startDownload(page, { session, url, name, options: { timeoutIntervalForResource: 3 } });
  const log = await waitCompleted(page, id);
  const calls = assertTaskOrder(log, id, FAILED);
  assert.equal(calls.at(-1)[2], -1001, "didCompleteWithError(-1001 timed out)");
  assert.equal(calls.at(-1)[3], "completed");
  const error = await page.evaluate((id) => {
    const e = window.errors[id];
    const data = e.userInfo.NSURLSessionDownloadTaskResumeData;
    return {
      domain: e.domain,
      code: e.code,
      description: e.localizedDescription,
      reason: e.userInfo.NSLocalizedFailureReason,
      hasResumeData: "NSURLSessionDownloadTaskResumeData" in e.userInfo,
      resumeDataIsBytes: data instanceof Uint8Array,
      resumeDataLength: data ? data.length : 0,
    };
  }, id);
  assert.equal(error.domain, "NSURLErrorDomain");
  assert.equal(error.code, -1001);
  assert.match(error.reason, /timeoutIntervalForResource/);
  return { id, session, log, calls, error };
}

test("a failure (timeoutIntervalForResource): didCompleteWithError(-1001) with resume data; resuming from it finishes byte-exact", async () => {
  await withApp(server, async ({ page }) => {
    const name = "timeout.bin";
    const size = 3 * MiB;
    const { id, session, calls, error } = await failByTimeout(page, { name, size });
    const stored = calls.filter((e) => e[0] === "didWriteData").at(-1);
    assert.ok(stored && stored[3] >= MiB, "bytes were stored before the stall");
    assert.ok(error.hasResumeData && error.resumeDataIsBytes && error.resumeDataLength > 0, "error.userInfo.NSURLSessionDownloadTaskResumeData is a Uint8Array");
    assert.ok(!(await page.evaluate(() => window.bg.FileManager.default.contentsOfDirectory("file:///Documents"))).includes(name), "no file for the failed task");

    // The resume data is real: a new task continues from the stored bytes.
    const newId = await page.evaluate(
      async ({ session, id, name }) => {
        const data = window.errors[id].userInfo.NSURLSessionDownloadTaskResumeData;
        const task = window.sessions[session].downloadTaskWithResumeData(data);
        task.taskDescription = name;
        await task.resume();
        return task.taskIdentifier;
      },
      { session, id, name },
    );
    assert.notEqual(newId, id);
    const log = await waitCompleted(page, newId);
    const resumed = assertTaskOrder(log, newId, RESUMED);
    const offset = resumed[0][2];
    assert.equal(offset, stored[3], "didResumeAtOffset at the bytes stored before the failure");
    assert.equal(resumed[0][3], size, "expectedTotalBytes");
    assertProgress(resumed, { from: offset, size, what: "resumed task" });
    assert.deepEqual(resumed.at(-1), ["didCompleteWithError", newId, null, "completed"]);
    const last = server.log.filter((e) => e.path === `/files/${name}`).at(-1);
    assert.equal(last.range, `bytes=${offset}-`, "the resumed request asks for the rest");
    assert.equal(last.status, 206);
    await assertFile(server, page, `file:///Documents/${name}`, { name, size });
  });
});

test("a failure that cannot be resumed (no validators): didCompleteWithError(-1001) without resume data", async () => {
  await withApp(server, async ({ page }) => {
    const { error } = await failByTimeout(page, { name: "timeout-novalidators.bin", size: 3 * MiB, extra: "&noValidators=1" });
    assert.equal(error.hasResumeData, false, "no NSURLSessionDownloadTaskResumeData without an ETag or Last-Modified");
  });
});

test("cancelByProducingResumeData → didCompleteWithError(-999); downloadTaskWithResumeData → didResumeAtOffset(>0) → didWriteData* → didFinishDownloadingTo → didCompleteWithError(null)", async () => {
  await withApp(server, async ({ page }) => {
    const session = "com.example.order.resume";
    const name = "cancel-resume.bin";
    const size = 4 * MiB;
    const id = await startDownload(page, { session, url: `${server.url}/files/${name}?size=${size}&rate=${MiB}`, name });
    await waitLog(page, (e) => e[0] === "didWriteData" && e[1] === id && e[3] >= 1.5 * MiB, "1.5 MiB stored");
    const result = await page.evaluate(
      async ({ session, id, name }) => {
        const s = window.sessions[session];
        const [task] = (await s.getAllTasks()).filter((t) => t.taskIdentifier === id);
        const data = await task.cancelByProducingResumeData();
        await new Promise((r) => {
          const check = () => (window.log.some((e) => e[0] === "didCompleteWithError" && e[1] === id) ? r() : setTimeout(check, 50));
          check();
        });
        const resumed = s.downloadTaskWithResumeData(data);
        resumed.taskDescription = name;
        await resumed.resume();
        return { isBytes: data instanceof Uint8Array, length: data ? data.length : 0, newId: resumed.taskIdentifier };
      },
      { session, id, name },
    );
    assert.ok(result.isBytes && result.length > 0, "resume data is a non-empty Uint8Array");
    const log = await waitCompleted(page, result.newId);
    const cancelled = assertTaskOrder(log, id, FAILED, "cancelled task");
    assert.equal(cancelled.at(-1)[2], -999, "didCompleteWithError(-999 cancelled)");
    assert.ok(!cancelled.some((e) => e[0] === "didFinishDownloadingTo"));
    const storedAtCancel = cancelled.filter((e) => e[0] === "didWriteData").at(-1)[3];

    const resumed = assertTaskOrder(log, result.newId, RESUMED, "resumed task");
    const [, , offset, expected] = resumed[0];
    assert.ok(offset > 0, `didResumeAtOffset(${offset}) > 0`);
    assert.ok(offset >= storedAtCancel, "resumes at least from the bytes the delegate was told were written");
    assert.equal(expected, size);
    assertProgress(resumed, { from: offset, size, what: "resumed task" });
    assert.deepEqual(resumed.at(-1), ["didCompleteWithError", result.newId, null, "completed"]);
    // Completion of the cancelled task comes before anything of the new one.
    const cancelIndex = log.findIndex((e) => e[0] === "didCompleteWithError" && e[1] === id);
    assert.ok(log.findIndex((e) => e[1] === result.newId && e[0] !== "moved") > cancelIndex);
    const last = server.log.filter((e) => e.path === `/files/${name}`).at(-1);
    assert.equal(last.range, `bytes=${offset}-`);
    assert.equal(last.status, 206);
    await assertFile(server, page, `file:///Documents/${name}`, { name, size });
  });
});

test("an upload, live and replayed: didSendBodyData → didReceiveData* → didCompleteWithError, from the journal", async () => {
  const UPLOAD = "didSendBodyData didReceiveData* didCompleteWithError";
  await withApp(server, async ({ page, context, errors }) => {
    const session = "com.example.order.upload";
    const size = 2 * MiB;
    const name = "up-order.bin";
    const dl = await startDownload(page, { session, url: `${server.url}/files/${name}?size=${size}`, name });
    await waitCompleted(page, dl);
    // The server answers 2 s after it has the body: the tab is closed by then.
    const id = await page.evaluate(async ({ session, base, name }) => {
      const t = window.openSession(session).uploadTask({ url: `${base}/upload/${name}?delayMs=2000`, method: "PUT" }, `file:///Documents/${name}`);
      await t.resume();
      return t.taskIdentifier;
    }, { session, base: server.url, name });
    await waitFor(() => server.log.some((e) => e.path === `/upload/${name}` && e.method === "PUT"), { what: "the upload request" });
    await page.close();
    const observer = watch(await context.newPage(), errors);
    await observer.goto(`${server.url}/fixtures/observer.html`);
    await waitFor(async () => (await observer.evaluate(() => window.tasks())).some((t) => t.taskId === id && t.state === "completed"), { timeout: 30_000, what: "the upload to complete with no page" });
    const journal = (await readJournal(observer)).filter((e) => e.taskId === id);
    assert.deepEqual(journal.map((e) => e.event.type), ["didSendBodyData", "didReceiveData", "didCompleteWithError"], "journal order");
    assert.deepEqual([journal[0].event.totalBytesSent, journal[0].event.totalBytesExpectedToSend], [size, size]);
    assert.equal(journal[2].event.error, null);
    await observer.close();
    const page2 = await openApp(context, server.url, errors);
    const log = await waitLog(page2, (e) => e[0] === "urlSessionDidFinishEvents", "urlSessionDidFinishEvents");
    const calls = assertTaskOrder(log, id, UPLOAD, "replayed upload");
    assert.deepEqual(calls[0].slice(2), [size, size, size]);
    const answer = JSON.parse(calls[1][2]);
    const want = await (await fetch(`${server.url}/sha256?size=${size}&name=${name}`)).json();
    assert.equal(answer.sha256, want.sha256, "the bytes that arrived");
    assert.deepEqual(calls.at(-1), ["didCompleteWithError", id, null, "completed"]);
    assert.equal(log[0][0], "handleEventsForBackgroundURLSession");
    return page2;
  });
});

test("a tab closed in the middle of replaying 2,000 queued events: none lost, none repeated but the last ones whose acknowledgement was not yet written", async () => {
  await withBrowser(async ({ context, errors }) => {
    const setup = await openApp(context, server.url, errors);
    await setup.evaluate(() => window.openSession("com.example.order.warm").ready);
    // Queue 2,000 completions straight into the journal, as a daemon would.
    await setup.evaluate(async () => {
      const db = await new Promise((res, rej) => { const r = indexedDB.open("bgsession"); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
      const tx = db.transaction(["tasks", "events"], "readwrite");
      const now = Date.now();
      for (let i = 1; i <= 2000; i++) {
        const req = { url: `https://example.test/${i}`, method: "GET", headers: {} };
        tx.objectStore("tasks").put({ session: "com.example.order.many", taskId: i, kind: "download", originalRequest: req, currentRequest: req, state: "completed", createdAt: now, blobId: `m-${i}`, segments: [] });
        tx.objectStore("events").add({ session: "com.example.order.many", taskId: i, event: { type: "didCompleteWithError", error: null }, response: null, at: now });
      }
      await new Promise((res, rej) => { tx.oncomplete = res; tx.onerror = () => rej(tx.error); });
      db.close();
    });
    await setup.close();
    // Page 1 reports each delivery to the test server as it happens (a
    // synchronous request: the server has it before the delegate returns,
    // so before the event can be acknowledged; console messages, used
    // before, could be lost when the page closed), and is closed
    // mid-replay: its delegate takes a few ms an event (a fast one would
    // have replayed all 2,000 before the close).
    server.resetLog();
    const page1 = await context.newPage();
    await page1.addInitScript(() => {
      Object.defineProperty(window, "log", { configurable: true, get() { return this.__log; }, set(v) {
        const push = v.push.bind(v);
        v.push = (e) => {
          if (e[0] === "didCompleteWithError") {
            const report = new XMLHttpRequest();
            report.open("GET", `/files/delivered-${e[1]}?size=1`, false);
            report.send();
          }
          return push(e);
        };
        this.__log = v;
      } });
    });
    await page1.goto(`${server.url}/fixtures/app.html?delayMs=2`);
    await page1.waitForFunction(() => window.log && window.log.filter((e) => e[0] === "didCompleteWithError").length >= 500, null, { polling: 1, timeout: 30_000 });
    await page1.close();
    const seen1 = server.log.filter((e) => e.path.startsWith("/files/delivered-")).map((e) => Number(e.path.slice("/files/delivered-".length)));
    const page2 = await openApp(context, server.url, errors);
    const log2 = await waitLog(page2, (e) => e[0] === "urlSessionDidFinishEvents" && e[1] === "com.example.order.many", "the rest replayed");
    const seen2 = log2.filter((e) => e[0] === "didCompleteWithError").map((e) => e[1]);
    console.log(`# page 1 delivered ${seen1.length}, page 2 ${seen2.length}`);
    assert.ok(seen1.length >= 500 && seen1.length < 2000, "the first page was closed mid-replay");
    // README "Exactly once": a page closed mid-replay may have delivered
    // entries whose acknowledgement was not yet on disk (group-committed,
    // at most 512); only those — the last ones it delivered — come again.
    // How many depends on the disk at the moment of the close (0 usually;
    // 2 seen on a loaded machine, before and after the replay's redesign).
    const both = seen2.filter((id) => seen1.includes(id));
    console.log(`# delivered again after the close: ${both.length}`);
    assert.ok(both.length <= 512, `at most 512 delivered again (${both.length})`);
    assert.deepEqual(both, seen1.slice(seen1.length - both.length), "only the last ones page 1 delivered come again");
    assert.equal(new Set([...seen1, ...seen2]).size, 2000, "none lost");
    assert.deepEqual(seen2, [...seen2].sort((a, b) => a - b), "page 2 continues in journal order");
    assert.equal(Math.min(...seen2), Math.max(...seen1) + 1 - both.length, "page 2 starts right after the last one page 1 had acknowledged");
    assert.deepEqual(await readJournal(page2), []);
  });
});
