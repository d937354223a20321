// bgsession benchmark in each engine, through the cross-engine driver of the
// engine tests (tests/e2e/engines.mjs: Chromium over playwright-core, Firefox
// ESR over puppeteer-core/WebDriver BiDi, WebKitGTK's MiniBrowser over
// WebKitWebDriver under xvfb-run). Not a test: it prints figures and asserts
// nothing. Run with ENGINE=chromium|firefox|webkit|all ./scripts/bench.sh
// (or BENCH_ENGINES=firefox,webkit); without either, bench.sh runs the
// Chromium-only bench.mjs (memory, kill and tasks need CDP).
//
// Per engine, the two figures the issue asks for:
//   throughput  RUNS rounds (default 3) of a SIZE_MIB (default 256) download
//               over loopback, each round every way once:
//                 (a) page fetch, read and discard (network ceiling)
//                 (b) page fetch -> Cache API put (the simplest persisted download)
//                 (d) bgsession, transport "fetch": resume -> didFinishDownloadingTo -> moveItem
//               medians in MiB/s, and (d)/(b) (median, and per round).
//   replay      1,000 queued events (500 tasks: didFinishDownloadingTo +
//               didCompleteWithError) written straight into the journal, then
//               a new page of the app: ms from its load to
//               urlSessionDidFinishEvents (median of REPLAY_RUNS, default 5).
// BENCH=throughput,replay picks sections (default both).
import { execSync } from "node:child_process";
import { startServer } from "../server/server.mjs";
import { engines, launchEngine, openAppIn } from "../e2e/engines.mjs";
import { queueReplayEvents, tempFilesRemoved } from "./seed.mjs";

const MiB = 1 << 20;
const SIZE = Number(process.env.SIZE_MIB || 256) * MiB;
const RUNS = Number(process.env.RUNS || 3);
const REPLAY_RUNS = Number(process.env.REPLAY_RUNS || 5);
const SECTIONS = (process.env.BENCH || "throughput,replay").split(",");
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const list = process.env.BENCH_ENGINES ? process.env.BENCH_ENGINES.split(",").map((s) => s.trim()) : engines();

const server = await startServer({ port: 0 });
let n = 0;
const url = () => `${server.url}/files/bench-${n++}.bin?size=${SIZE}`;

// Page functions (they run in the engine: no closure over Node values).
const WAYS = {
  "a: fetch, discard": async (u) => {
    const t0 = performance.now();
    const reader = (await fetch(u, { cache: "no-store" })).body.getReader();
    for (;;) if ((await reader.read()).done) break;
    return performance.now() - t0;
  },
  "b: fetch -> cache.put": async (u) => {
    const cache = await caches.open("bench");
    const t0 = performance.now();
    await cache.put(u, await fetch(u, { cache: "no-store" }));
    const ms = performance.now() - t0;
    await cache.delete(u);
    return ms;
  },
  "d: bgsession, fetch": async (u) => {
    const session = window.openSession("bench.fetch", { transport: "fetch" });
    const task = session.downloadTask(u);
    task.taskDescription = `bench-fetch-${Date.now()}.bin`;
    const t0 = performance.now();
    await task.resume();
    const key = `bench.fetch/${task.taskIdentifier}`;
    await new Promise((resolve) => {
      const check = () => (window.movedAt && window.movedAt[key] ? resolve() : setTimeout(check, 5));
      check();
    });
    const ms = window.movedAt[key] - t0;
    await window.bg.FileManager.default.removeItem(`file:///Documents/${task.taskDescription}`);
    return ms;
  },
};

async function throughput(engine, page) {
  const times = Object.fromEntries(Object.keys(WAYS).map((name) => [name, []]));
  const errors = {};
  for (let i = 0; i < RUNS; i++) {
    for (const [name, fn] of Object.entries(WAYS)) {
      if (errors[name]) continue;
      try {
        // The store settles (deletes of the previous run), the kernel writes back.
        execSync("sync");
        await new Promise((r) => setTimeout(r, 1500));
        times[name].push(await page.evaluate(fn, url()));
      } catch (e) {
        errors[name] = String(e).split("\n")[0];
      }
    }
  }
  const mibs = (name) => times[name].map((ms) => SIZE / MiB / (ms / 1000));
  const results = {};
  for (const name of Object.keys(WAYS)) {
    results[name] = errors[name] ? { error: errors[name] } : { medianMiBps: +median(mibs(name)).toFixed(1), runsMiBps: mibs(name).map((x) => +x.toFixed(1)) };
    console.error(`[${engine}] ${name}: ${JSON.stringify(results[name])}`);
  }
  const b = mibs("b: fetch -> cache.put");
  const perRound = mibs("d: bgsession, fetch").map((d, i) => +(d / b[i]).toFixed(2));
  const ratio = results["d: bgsession, fetch"].medianMiBps / results["b: fetch -> cache.put"].medianMiBps;
  return { results, ratioDB: +ratio.toFixed(3), ratioDBPerRound: perRound };
}


async function replay(engine, browser, page) {
  const runs = [];
  for (let run = 0; run < REPLAY_RUNS; run++) {
    await page.evaluate(queueReplayEvents);
    execSync("sync");
    const replayPage = await browser.newPage(`${server.url}/fixtures/app.html?keepTemp=1`);
    // Awaited in the page (see tests/bench/seed.mjs replayFinished: polling
    // takes the main thread from the replay being timed).
    await replayPage.evaluate(() => window.eventsFinished("bench.replay").then(() => true));
    const r = await replayPage.evaluate(() => ({
      delivered: window.log.filter((e) => e[0] === "didFinishDownloadingTo" || e[0] === "didCompleteWithError").length,
      marks: { ...window.marks, finishedEvents: window.finishedEventsAt },
    }));
    await replayPage.evaluate(tempFilesRemoved);
    await replayPage.close();
    const at = (x) => Math.round(x);
    const m = r.marks;
    // ms after the page's load (navigation start)
    const one = { events: r.delivered, wasmReady: at(m.initDone), launchCalled: at(m.handleEvents), firstEvent: at(m.firstEvent), lastEvent: at(m.lastEvent), finishedEvents: at(m.finishedEvents) };
    runs.push(one);
    console.error(`[${engine}] replay run ${run + 1}: ${one.events} events; ms after page load: wasm ready ${one.wasmReady}, handleEventsForBackgroundURLSession ${one.launchCalled}, first event ${one.firstEvent}, last event ${one.lastEvent}, urlSessionDidFinishEvents ${one.finishedEvents}`);
  }
  const mid = [...runs].sort((a, b) => a.finishedEvents - b.finishedEvents)[Math.floor(runs.length / 2)];
  return { events: mid.events, msFromPageLoad: mid.finishedEvents, medianRun: mid, runsMs: runs.map((r) => r.finishedEvents) };
}

async function benchEngine(engine) {
  const report = { engine, sizeMiB: SIZE / MiB, runs: RUNS };
  const browser = await launchEngine(engine);
  try {
    const page = await openAppIn(browser, server.url);
    report.version = await page.evaluate(() => navigator.userAgent);
    if (SECTIONS.includes("throughput")) report.throughput = await throughput(engine, page);
    if (SECTIONS.includes("replay")) report.replay = await replay(engine, browser, page);
    if (browser.errors.length) report.consoleErrors = browser.errors;
  } finally {
    await browser.close();
  }
  return report;
}

const reports = [];
for (const engine of list) {
  try {
    reports.push(await benchEngine(engine));
  } catch (e) {
    console.error(`[${engine}] bench failed: ${e.stack || e}`);
    reports.push({ engine, error: String(e) });
  }
}
await server.close();

console.log(`\nbgsession benchmark per engine: ${SIZE / MiB} MiB over loopback, ${RUNS} rounds (median MiB/s); ${REPLAY_RUNS} replay runs (median)`);
console.log("| engine | (a) fetch, discard | (b) fetch -> cache.put | (d) bgsession | (d)/(b) (per round) | 1,000 events replayed: ms after page load (runs) |");
console.log("|---|---|---|---|---|---|");
for (const r of reports) {
  if (r.error) {
    console.log(`| ${r.engine} | failed: ${r.error} |||||`);
    continue;
  }
  const t = r.throughput?.results ?? {};
  const cell = (k) => t[k]?.medianMiBps ?? t[k]?.error ?? "-";
  const ratio = r.throughput ? `${r.throughput.ratioDB.toFixed(2)} (${r.throughput.ratioDBPerRound.join(", ")})` : "-";
  const rp = r.replay ? `${r.replay.msFromPageLoad} (${r.replay.runsMs.join(", ")}; ${r.replay.events} events)` : "-";
  console.log(`| ${r.engine} | ${cell("a: fetch, discard")} | ${cell("b: fetch -> cache.put")} | ${cell("d: bgsession, fetch")} | ${ratio} | ${rp} |`);
}
for (const r of reports) console.log(JSON.stringify(r));
