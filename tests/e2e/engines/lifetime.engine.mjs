// Cross-engine: what survives what. The worker stopped mid-transfer
// (Chromium: CDP ServiceWorker.stopAllWorkers; Firefox: every page closed and
// its idle timeout, lowered to 3 s in this profile; WebKit: every page closed,
// then ~12 s) and the browser restarted with the same profile (Chromium,
// Firefox; WebKit's driver keeps no profile). Each ends byte-exact; figures
// (seconds until the transfer resumed, bytes fetched again) go to
// tests/out/engine-figures.jsonl. ENGINE=chromium|firefox|webkit|all.
import assert from "node:assert/strict";
import { shown, eachEngine, inBrowser, openAppIn, base, requestsFor, sentFor, assertOrder, assertFile, startDownload, waitDone, waitBytes, MiB, figure, sleep } from "./common.mjs";
import { waitFor } from "../harness.mjs";
import { startDownloadHoldingItsLock } from "../order-helpers.mjs";

// Per engine: a throttled download long enough to be cut by the stop.
const STOP = {
  chromium: { size: 8 * MiB, rate: 1 * MiB },
  firefox: { size: 16 * MiB, rate: 1 * MiB }, // stopped ~2 × 3 s after its last event
  webkit: { size: 32 * MiB, rate: 3 * MiB / 2 }, // stopped ~10-12 s after the last page closed
};
const SEGMENT = 16 * MiB; // "at most one segment fetched again", as worker-kill.test.mjs

eachEngine("the worker stopped mid-transfer with every page closed: the next page resumes it with a Range, byte-exact, at most one segment fetched again", {}, async (engine) => {
  const { size, rate } = STOP[engine];
  await inBrowser(engine, async (browser) => {
    const S = "com.example.x-stop";
    const name = `stop-${engine}.bin`;
    const path = `/files/${name}`;
    const page = await openAppIn(browser, base());
    const id = await startDownload(page, { session: S, url: `${base()}${path}?size=${size}&rate=${rate}`, name });
    await waitBytes(page, id, 2 * MiB);
    await browser.stopWorker(); // closes every app page too
    // The stop really cut the transfer: the request in flight did not complete.
    await waitFor(() => requestsFor(path).some((r) => r.aborted), { timeout: 30_000, what: `the stop to cut the request in flight: ${shown(path)}` });
    const before = requestsFor(path).length;
    const sentBefore = sentFor(path);
    const opened = Date.now();
    const page2 = await openAppIn(browser, base());
    await page2.evaluate((s) => window.openSession(s).ready.then(() => true), S);
    await waitFor(() => requestsFor(path).length > before, { timeout: 60_000, what: `a new request after the stop: ${shown(path)}` });
    figure(engine, "worker stopped: s from page open to the resumed request", ((requestsFor(path)[before].start - opened) / 1000).toFixed(1), "s");
    const entries = await waitDone(page2, id, 120_000);
    const reason = await page2.evaluate((id) => window.errors?.[id]?.userInfo?.NSLocalizedFailureReason ?? null, id);
    assert.equal(reason, null, `the task failed: ${reason}; requests: ${shown(path)}`);
    assertOrder(entries, id);
    assert.ok(entries.some((e) => e[0] === "didResumeAtOffset" && e[1] === id), "didResumeAtOffset delivered");
    const resumed = requestsFor(path)[before];
    const refetched = sentFor(path) - size;
    figure(engine, "worker stopped: bytes sent before the stop", sentBefore, "B");
    figure(engine, "worker stopped: bytes fetched again", refetched, "B");
    assert.ok(resumed.range, `the resumed request asked for a Range: ${shown(path)}`);
    assert.equal(resumed.status, 206, `answered 206: ${shown(path)}`);
    assert.ok(refetched <= SEGMENT, `at most one segment fetched again (${refetched} B): ${shown(path)}`);
    await assertFile(page2, name, { size });
  }, { launch: engine === "firefox" ? { workerIdleMs: 3000 } : {} });
});

// Restart with the same profile: the app page opens the session (as the
// Chromium test in faults.test.mjs does) and the transfer resumes.
eachEngine("browser restarted with the same profile: a page that opens the session resumes the download, byte-exact", {
  only: ["chromium", "firefox"],
  why: "WebKitWebDriver runs MiniBrowser --automation on an ephemeral data store: nothing survives a restart",
}, async (engine) => {
  await inBrowser(engine, async (browser) => {
    const S = "com.example.x-restart";
    const size = 8 * MiB;
    const name = `restart-${engine}.bin`;
    const path = `/files/${name}`;
    const page = await openAppIn(browser, base());
    const id = await startDownload(page, { session: S, url: `${base()}${path}?size=${size}&rate=${MiB}`, name });
    await waitBytes(page, id, 2 * MiB);
    await browser.restart();
    const before = requestsFor(path).length;
    const sentBefore = sentFor(path);
    const opened = Date.now();
    const page2 = await openAppIn(browser, base());
    await page2.evaluate((s) => window.openSession(s).ready.then(() => true), S);
    await waitFor(() => requestsFor(path).length > before, { timeout: 60_000, what: `a request after the restart: ${shown(path)}` });
    figure(engine, "restart, session opened: s from page open to the resumed request", ((requestsFor(path)[before].start - opened) / 1000).toFixed(1), "s");
    const entries = await waitDone(page2, id, 120_000);
    assertOrder(entries, id);
    assert.ok(entries.some((e) => e[0] === "didResumeAtOffset" && e[1] === id && e[2] > 0), "resumed from stored bytes");
    assert.ok(requestsFor(path).slice(0, before).some((r) => !r.completed), `a request died with the browser: ${shown(path)}`);
    assert.equal(requestsFor(path).at(-1).status, 206, `the download resumed with a Range: ${shown(path)}`);
    figure(engine, "restart: bytes sent before the restart", sentBefore, "B");
    figure(engine, "restart: bytes fetched again", sentFor(path) - size, "B");
    await assertFile(page2, name, { size });
  });
});

// The case: after a restart, a page that loads the library and sets
// UIApplication.shared.delegate (app.html does) but creates no session must
// wake the daemon, which resumes its transfers by itself. Seen: Chromium
// (browser SIGKILLed) resumed 0.5 s after the page opened; Firefox did not in 30 s
// until UIApplication.shared woke the daemon itself.
eachEngine("browser restarted: a page that only loads the library and sets the app delegate wakes the daemon, which resumes by itself", {
  only: ["chromium", "firefox"],
  why: "WebKitWebDriver runs MiniBrowser --automation on an ephemeral data store: nothing survives a restart",
}, async (engine) => {
  await inBrowser(engine, async (browser) => {
    const S = "com.example.x-wake";
    const size = 8 * MiB;
    const name = `wake-${engine}.bin`;
    const path = `/files/${name}`;
    const page = await openAppIn(browser, base());
    const id = await startDownload(page, { session: S, url: `${base()}${path}?size=${size}&rate=${MiB}`, name });
    await waitBytes(page, id, 2 * MiB);
    await browser.restart();
    const before = requestsFor(path).length;
    const opened = Date.now();
    const page2 = await openAppIn(browser, base()); // no openSession: only the library and the delegate
    await waitFor(() => requestsFor(path).length > before, { timeout: 30_000, interval: 250, what: `the daemon to resume by itself after the restart: ${shown(path)}` });
    figure(engine, "restart, no session opened: s from page open to the resumed request", ((requestsFor(path)[before].start - opened) / 1000).toFixed(1), "s");
    await waitFor(async () => (await browser.newPage(`${base()}/fixtures/observer.html`).then(async (o) => {
      const t = await o.evaluate(() => window.tasks());
      await o.close();
      // Completed, or already forgotten: the relaunched app's delegate opens
      // the session on handleEventsForBackgroundURLSession, which delivers
      // the events, and a delivered finished task's record is deleted.
      return t.some((x) => x.state === "completed") || !t.some((x) => x.session === S);
    })), { timeout: 60_000, interval: 1000, what: "the task to complete" });
    await page2.evaluate((s) => window.openSession(s).ready.then(() => true), S);
    const entries = await waitDone(page2, id, 60_000);
    assertOrder(entries, id);
    await assertFile(page2, name, { size });
  });
});

// Issue 12's WebKit case: the driver's ephemeral store drops the Cache API
// entries once the last page closes, while IndexedDB keeps the task. The
// daemon checks its stored segments before resuming and before finishing:
// where the bytes are gone it restarts, and the file still ends byte-exact
// (it once reported success over missing bytes).
eachEngine("WebKit: the worker stopped after its last page closed ends byte-exact after the page reopens, even where the engine dropped the bytes", {
  only: ["webkit"],
  why: "the ephemeral-store case is WebKit's",
}, async (engine) => {
  const { size, rate } = STOP[engine];
  await inBrowser(engine, async (browser) => {
    const S = "com.example.x-webkit-drop";
    const name = `drop-${engine}.bin`;
    const path = `/files/${name}`;
    const page = await openAppIn(browser, base());
    const id = await startDownload(page, { session: S, url: `${base()}${path}?size=${size}&rate=${rate}`, name });
    await waitBytes(page, id, 2 * MiB);
    await browser.stopWorker();
    const before = requestsFor(path).length;
    const page2 = await openAppIn(browser, base());
    await page2.evaluate((s) => window.openSession(s).ready.then(() => true), S);
    await waitFor(() => requestsFor(path).length > before, { timeout: 60_000, what: `a new request after the stop: ${shown(path)}` });
    const entries = await waitDone(page2, id, 180_000);
    const reason = await page2.evaluate((id) => window.errors?.[id]?.userInfo?.NSLocalizedFailureReason ?? null, id);
    assert.equal(reason, null, `the task failed: ${reason}; requests: ${shown(path)}`);
    assertOrder(entries, id);
    figure(engine, "worker stopped after the last page: bytes fetched again", sentFor(path) - size, "B");
    await assertFile(page2, name, { size });
  });
});

// Two workers never run one task: the daemon takes the task's Web Lock
// before it fetches. Held elsewhere (here by the page, as the daemon's
// previous version would during a handover), the daemon waits for it and
// fetches nothing; released, the task ends byte-exact (worker-kill.test.mjs
// holds it 35 s in Chromium, past the tries of a lost connection).
eachEngine("a task whose Web Lock another context holds waits for it and fetches nothing; released, it ends byte-exact", {}, async (engine) => {
  await inBrowser(engine, async (browser) => {
    const SESSION = "com.example.x-busy";
    const size = 256 << 10;
    const page = await openAppIn(browser, base());
    const id = await startDownloadHoldingItsLock(page, { session: SESSION, url: `${base()}/files/x-busy.bin?size=${size}`, name: "x-busy.bin" });
    await sleep(8000);
    assert.deepEqual(requestsFor("/files/x-busy.bin"), [], "nothing fetched while another context holds the task");
    assert.equal(await page.evaluate(() => window.busyTask.state), "running");
    assert.ok(!(await page.evaluate(() => window.log.some((e) => e[0] === "didCompleteWithError"))), "no completion while the lock is held");
    const releasedAt = Date.now();
    await page.evaluate(() => window.releaseTaskLock());
    const log = await waitDone(page, id, 30_000);
    figure(engine, "a task waiting for another context's lock ended, s after the release", ((Date.now() - releasedAt) / 1000).toFixed(1), "s");
    assertOrder(log, id);
    await assertFile(page, "x-busy.bin", { size });
  });
});
