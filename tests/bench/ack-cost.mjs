// What one acknowledgement transaction of a relaunch replay costs in
// IndexedDB, by what it writes (not a test; figures vary with the machine).
// The replay's batches are at most 256 acknowledgements (core/replayer.rs
// MAX_ACKS_IN_FLIGHT); here, 250 journal entries of the benchmark's workload
// (tests/bench/seed.mjs: 125 downloads, each didFinishDownloadingTo +
// didCompleteWithError), in the shapes a batch could take:
//   events              the entries deleted (range deletes), nothing else
//   events+tasks        and the finished tasks' records deleted
//   events+tasks+files  and the unmoved temp files removed: read first (to
//                       know which still exist and hold bytes), deleted in
//                       the read's callback (glue.js ackEntries today)
//   files               the temp files alone, read then deleted
//   tasks               the task records alone
//   mark                one small record put ("acknowledged up to")
// Each: a fresh seed, four batches in a row on an idle page, timed from the
// transaction's creation to its complete event. RUNS=n seeds (default 5).
import { startServer, newProfile, removeProfile, launch, openApp } from "../e2e/harness.mjs";
import { queueReplayEvents } from "./seed.mjs";

const SHAPES = ["events", "events+tasks", "events+tasks+files", "files", "tasks", "mark"];
const RUNS = Number(process.env.RUNS || 5);

const server = await startServer({ port: 0 });
const profile = await newProfile();
const context = await launch(profile);
const page = await openApp(context, server.url, []);
const bench = await context.newPage();
await bench.goto(`${server.url}/fixtures/blank.html`);

const clear = () =>
  new Promise((resolve, reject) => {
    const open = indexedDB.open("bgsession");
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const db = open.result;
      const names = ["events", "tasks", "files", "delivered"];
      const tx = db.transaction(names, "readwrite");
      for (const n of names) tx.objectStore(n).clear();
      tx.oncomplete = () => {
        db.close();
        resolve();
      };
      tx.onerror = () => reject(tx.error);
    };
  });

// Runs in the bench page: four batches of `shape`, their times in ms.
const batches = async (shape) => {
  const db = await new Promise((resolve, reject) => {
    const q = indexedDB.open("bgsession");
    q.onsuccess = () => resolve(q.result);
    q.onerror = () => reject(q.error);
  });
  const read = (store, op) =>
    new Promise((resolve) => {
      const q = db.transaction(store).objectStore(store)[op]();
      q.onsuccess = () => resolve(q.result);
    });
  const S = "bench.replay";
  const seqs = await read("events", "getAllKeys");
  const paths = await read("files", "getAllKeys");
  const times = [];
  for (let b = 0; b < 4; b++) {
    const t0 = performance.now();
    await new Promise((resolve, reject) => {
      const tx = db.transaction(["events", "delivered", "files", "tasks"], "readwrite", { durability: "relaxed" });
      tx.oncomplete = resolve;
      tx.onabort = () => reject(tx.error);
      const [first, last] = [b * 125, b * 125 + 124];
      if (shape.startsWith("events")) tx.objectStore("events").delete(IDBKeyRange.bound(seqs[2 * first], seqs[2 * last + 1]));
      if (shape.includes("tasks")) tx.objectStore("tasks").delete(IDBKeyRange.bound([S, first + 1], [S, last + 1]));
      if (shape === "mark") tx.objectStore("delivered").put({ v: 1, session: S, taskId: -1, total: seqs[2 * last + 1] });
      if (shape.includes("files")) {
        const files = tx.objectStore("files");
        const span = IDBKeyRange.bound(paths[first], paths[last]);
        const q = files.getAll(span);
        q.onsuccess = () => {
          files.delete(span);
          tx.commit();
        };
      } else tx.commit();
    });
    times.push(performance.now() - t0);
  }
  db.close();
  return times;
};

const times = Object.fromEntries(SHAPES.map((s) => [s, []]));
for (let run = 0; run < RUNS; run++) {
  for (const shape of SHAPES) {
    await page.evaluate(clear);
    await page.evaluate(queueReplayEvents);
    times[shape].push(...(await bench.evaluate(batches, shape)));
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`one acknowledgement transaction of 250 entries (125 downloads), ms: median (min) of ${RUNS * 4}`);
for (const shape of SHAPES) {
  console.log(`  ${shape.padEnd(20)} ${median(times[shape]).toFixed(1).padStart(5)} (${Math.min(...times[shape]).toFixed(1)})`);
}
await context.close();
await removeProfile(profile);
await server.close();
