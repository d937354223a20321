// bgsession benchmark: how close to the browser's own limit. Not part of the
// test suite (figures vary with the machine); run with ./scripts/bench.sh.
//
// Prints a table and JSON: medians of RUNS runs of a SIZE_MIB download over
// loopback, each way of handling the body:
//   (a) page fetch, read and discard (network ceiling)
//   (b) page fetch -> Cache API put (the simplest persisted download)
//   (c) bgsession, transport "backgroundFetch": resume -> didFinishDownloadingTo -> moveItem
//   (d) bgsession, transport "fetch" (default): resume -> didFinishDownloadingTo -> moveItem
// and (d)/(b).
import { startServer, newProfile, removeProfile, launch, openApp } from "../e2e/harness.mjs";

const MiB = 1 << 20;
const SIZE = Number(process.env.SIZE_MIB || 256) * MiB;
const RUNS = Number(process.env.RUNS || 3);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const server = await startServer({ port: 0 });
const profile = await newProfile();
const context = await launch(profile);
const errors = [];
const page = await openApp(context, server.url, errors);
let n = 0;
const url = () => `${server.url}/files/bench-${n++}.bin?size=${SIZE}`;

const ways = {
  "a: fetch, discard": async () =>
    page.evaluate(async (u) => {
      const t0 = performance.now();
      const reader = (await fetch(u, { cache: "no-store" })).body.getReader();
      for (;;) if ((await reader.read()).done) break;
      return performance.now() - t0;
    }, url()),
  "b: fetch -> cache.put": async () =>
    page.evaluate(async (u) => {
      const cache = await caches.open("bench");
      const t0 = performance.now();
      await cache.put(u, await fetch(u, { cache: "no-store" }));
      const ms = performance.now() - t0;
      await cache.delete(u);
      return ms;
    }, url()),
  "d: bgsession, fetch": async () => bgsession("fetch"),
  "c: bgsession, backgroundFetch": async () => bgsession("backgroundFetch"),
};

async function bgsession(transport) {
  return page.evaluate(
    async ({ u, transport }) => {
      const session = window.openSession(`bench.${transport}`, { transport });
      const task = session.downloadTask(u);
      task.taskDescription = `bench-${transport}-${Date.now()}.bin`;
      const t0 = performance.now();
      await task.resume();
      const key = `bench.${transport}/${task.taskIdentifier}`;
      await new Promise((resolve) => {
        const check = () => (window.movedAt && window.movedAt[key] ? resolve() : setTimeout(check, 5));
        check();
      });
      const ms = window.movedAt[key] - t0;
      await window.bg.FileManager.default.removeItem(`file:///Documents/${task.taskDescription}`);
      return ms;
    },
    { u: url(), transport },
  );
}

const results = {};
for (const [name, run] of Object.entries(ways)) {
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    try {
      // Let the store settle (deletes of the previous run) so every way
      // starts from the same state.
      await new Promise((r) => setTimeout(r, 1500));
      times.push(await run());
    } catch (e) {
      results[name] = { error: String(e) };
      break;
    }
  }
  if (!results[name]) {
    const mibs = times.map((ms) => SIZE / MiB / (ms / 1000));
    results[name] = { medianMiBps: +median(mibs).toFixed(1), runsMiBps: mibs.map((x) => +x.toFixed(1)) };
  }
  console.error(`${name}: ${JSON.stringify(results[name])}`);
}
const b = results["b: fetch -> cache.put"].medianMiBps;
const d = results["d: bgsession, fetch"].medianMiBps;
const c = results["c: bgsession, backgroundFetch"].medianMiBps;
console.log(`\nbgsession benchmark: ${SIZE / MiB} MiB over loopback, ${RUNS} runs, median MiB/s`);
console.log("| way | MiB/s | vs (b) |\n|---|---|---|");
for (const [name, r] of Object.entries(results)) {
  console.log(`| ${name} | ${r.medianMiBps ?? r.error} | ${r.medianMiBps ? (r.medianMiBps / b).toFixed(2) : "-"} |`);
}
console.log(`\n(d)/(b) = ${(d / b).toFixed(2)}; (c)/(b) = ${c ? (c / b).toFixed(2) : "unavailable"}`);
console.log(JSON.stringify({ sizeMiB: SIZE / MiB, runs: RUNS, results, ratioDB: +(d / b).toFixed(3) }));
if (errors.length) console.error("console errors:", errors);
await context.close();
await removeProfile(profile);
await server.close();
