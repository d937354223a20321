// The benchmarks' relaunch workload: 500 completed download tasks and their
// 1,000 journal events (didFinishDownloadingTo + didCompleteWithError)
// written straight into the journal, as a daemon would have while no page
// was open (the store's shapes). The downloads finished one after another,
// a millisecond apart; their temp files are named as the daemon names them
// (core/daemon.rs `finish`: the time of completion in 12 hex digits, then 48
// random bits). Runs in a page of the app's origin:
// `page.evaluate(queueReplayEvents)` (self-contained: drivers send its text).
export const queueReplayEvents = async () => {
  const db = await new Promise((res, rej) => {
    const r = indexedDB.open("bgsession");
    r.onsuccess = () => res(r.result);
    r.onerror = () => rej(r.error);
  });
  const tx = db.transaction(["tasks", "events", "files"], "readwrite");
  const now = Date.now();
  const hex12 = (n) => Math.floor(n).toString(16).padStart(12, "0").slice(-12);
  for (let i = 1; i <= 500; i++) {
    const req = { url: `https://example.test/${i}`, method: "GET", headers: {} };
    const done = now - 500 + i;
    tx.objectStore("tasks").put({ session: "bench.replay", taskId: i, kind: "download", originalRequest: req, currentRequest: req, state: "completed", createdAt: now - 1000, blobId: `replay-${i}`, segments: [] });
    const path = `/tmp/CFNetworkDownload_${hex12(done)}${hex12(Math.random() * 2 ** 48)}.tmp`;
    tx.objectStore("files").put({ path, blobId: `replay-${i}`, segments: [], size: 0, modificationDate: done });
    tx.objectStore("events").add({ session: "bench.replay", taskId: i, event: { type: "didFinishDownloadingTo", location: `file://${path}` }, response: null, at: done });
    tx.objectStore("events").add({ session: "bench.replay", taskId: i, event: { type: "didCompleteWithError", error: null }, response: null, at: done });
  }
  await new Promise((res, rej) => {
    tx.oncomplete = res;
    tx.onerror = () => rej(tx.error);
  });
  db.close();
  return true;
};

// Waits in a Playwright page of the app (tests/fixtures/app.js) for the
// benchmark session's urlSessionDidFinishEvents, on the promise the app
// offers (window.eventsFinished), not by polling the page: waitForFunction
// polling every 10 ms took the main thread from the very replay it timed
// (14 runs alternated on one build: 226 ms polled, 186 ms waited).
export async function replayFinished(page, timeout = 120_000) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no urlSessionDidFinishEvents for bench.replay within ${timeout} ms`)), timeout);
  });
  try {
    await Promise.race([page.evaluate(() => window.eventsFinished("bench.replay")), late]);
  } finally {
    clearTimeout(timer);
  }
}

// After urlSessionDidFinishEvents the library removes the temp files the
// app did not move (the benchmark's app keeps them: ?keepTemp=1), in one
// transaction. A real app stays open that long; a driver closing the page
// at once would leave them to the next page, run after run. Runs in the
// page after the marks are read: resolves once /tmp is empty (at most ~5 s).
export const tempFilesRemoved = async () => {
  const fm = window.bg.FileManager.default;
  for (let i = 0; i < 500 && (await fm.contentsOfDirectory("file:///tmp")).length; i++) await new Promise((r) => setTimeout(r, 10));
  return true;
};
