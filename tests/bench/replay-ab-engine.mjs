// tests/bench/replay-ab.mjs for Firefox or WebKit (not a test): the
// benchmark's replay measure for several builds, alternated run by run.
// ENGINE=firefox|webkit ROOTS=name=dir,name=dir RUNS=n (default 5). One
// browser per build (each its own origin and profile); the app page is this
// checkout's tests/fixtures/app.html.
import { execSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { startServer } from "../server/server.mjs";
import { launchEngine, openAppIn } from "../e2e/engines.mjs";
import { queueReplayEvents, tempFilesRemoved } from "./seed.mjs";

const engine = process.env.ENGINE || "firefox";
const here = fileURLToPath(new URL("../../www/", import.meta.url));
const roots = (process.env.ROOTS || `this=${here}`).split(",").map((s) => s.split("="));
const RUNS = Number(process.env.RUNS || 5);
const builds = [];
for (const [name, root] of roots) {
  const server = await startServer({ port: 0, root });
  const browser = await launchEngine(engine);
  builds.push({ name, server, browser, page: await openAppIn(browser, server.url), runs: [] });
}
const cols = ["wasmReady", "launchCalled", "firstEvent", "lastEvent", "finishedEvents"];
try {
  for (let run = 0; run < RUNS; run++) {
    for (const b of run % 2 ? [...builds].reverse() : builds) {
      await b.page.evaluate(queueReplayEvents);
      execSync("sync");
      const p = await b.browser.newPage(`${b.server.url}/fixtures/app.html?keepTemp=1`);
      await p.evaluate(() => window.eventsFinished("bench.replay").then(() => true));
      const m = await p.evaluate(() => ({ wasmReady: window.marks.initDone, launchCalled: window.marks.handleEvents, firstEvent: window.marks.firstEvent, lastEvent: window.marks.lastEvent, finishedEvents: window.finishedEventsAt }));
      await p.evaluate(tempFilesRemoved);
      await p.close();
      b.runs.push(Object.fromEntries(cols.map((c) => [c, Math.round(m[c])])));
      console.error(`${b.name} run ${run + 1}: ${cols.map((c) => `${c} ${Math.round(m[c])}`).join(", ")}`);
    }
  }
} finally {
  for (const b of builds) {
    await b.browser.close();
    await b.server.close();
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`\n${engine}: medians of ${RUNS} (ms after page load)`);
console.log(["build".padEnd(8), ...cols.map((c) => c.padStart(15))].join(""));
for (const b of builds) {
  console.log([b.name.padEnd(8), ...cols.map((c) => String(median(b.runs.map((r) => r[c]))).padStart(15))].join(""));
  console.log(`  urlSessionDidFinishEvents runs: ${b.runs.map((r) => r.finishedEvents).join(", ")}`);
}
