// The benchmarks' relaunch workload: 500 completed download tasks and their
// 1,000 journal events (didFinishDownloadingTo + didCompleteWithError)
// written straight into the journal, as a daemon would have while no page
// was open (the store's shapes). Runs in a page of the app's origin:
// `page.evaluate(queueReplayEvents)` (self-contained: drivers send its text).
export const queueReplayEvents = async () => {
  const db = await new Promise((res, rej) => {
    const r = indexedDB.open("bgsession");
    r.onsuccess = () => res(r.result);
    r.onerror = () => rej(r.error);
  });
  const tx = db.transaction(["tasks", "events", "files"], "readwrite");
  const now = Date.now();
  for (let i = 1; i <= 500; i++) {
    const req = { url: `https://example.test/${i}`, method: "GET", headers: {} };
    tx.objectStore("tasks").put({ session: "bench.replay", taskId: i, kind: "download", originalRequest: req, currentRequest: req, state: "completed", createdAt: now, blobId: `replay-${i}`, segments: [] });
    const path = `/tmp/CFNetworkDownload_replay${i}.tmp`;
    tx.objectStore("files").put({ path, blobId: `replay-${i}`, segments: [], size: 0, modificationDate: now });
    tx.objectStore("events").add({ session: "bench.replay", taskId: i, event: { type: "didFinishDownloadingTo", location: `file://${path}` }, response: null, at: now });
    tx.objectStore("events").add({ session: "bench.replay", taskId: i, event: { type: "didCompleteWithError", error: null }, response: null, at: now });
  }
  await new Promise((res, rej) => {
    tx.oncomplete = res;
    tx.onerror = () => rej(tx.error);
  });
  db.close();
  return true;
};
