// The benchmark's "replay" measure (tests/bench/bench.mjs) for several
// builds at once, alternated run by run so that they share the machine's
// noise (not a test). ROOTS=name=dir,name=dir (each dir a www/ folder;
// default: this one's www/; name=dir=page.html serves another page of
// tests/fixtures/ than app.html), RUNS=n rounds (default 5). Each build gets its
// own origin (its own server port), so its own database and worker; the app
// page is this checkout's tests/fixtures/app.html for every build.
import { execSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { startServer, newProfile, removeProfile, launch, openApp } from "../e2e/harness.mjs";
import { queueReplayEvents, replayFinished, tempFilesRemoved } from "./seed.mjs";

const here = fileURLToPath(new URL("../../www/", import.meta.url));
const roots = (process.env.ROOTS || `this=${here}`).split(",").map((s) => s.split("="));
const RUNS = Number(process.env.RUNS || 5);
const profile = await newProfile();
const context = await launch(profile);
const builds = [];
for (const [name, root, app = "app.html"] of roots) {
  const server = await startServer({ port: 0, root });
  builds.push({ name, app, server, page: await openApp(context, server.url, []), runs: [] });
}

async function seed(page) {
  await page.evaluate(queueReplayEvents);
  execSync("sync");
}

const cols = ["wasmReady", "launchCalled", "firstEvent", "lastEvent", "finishedEvents"];
for (let run = 0; run < RUNS; run++) {
  for (const b of run % 2 ? [...builds].reverse() : builds) {
    await seed(b.page);
    const p = await context.newPage();
    await p.goto(`${b.server.url}/fixtures/${b.app}?keepTemp=1`);
    await replayFinished(p);
    const r = await p.evaluate(() => ({
      delivered: window.log.filter((e) => e[0] === "didFinishDownloadingTo" || e[0] === "didCompleteWithError").length,
      m: { ...window.marks, finishedEvents: window.finishedEventsAt },
    }));
    await p.evaluate(tempFilesRemoved);
    await p.close();
    const m = r.m;
    const row = { events: r.delivered, wasmReady: m.initDone, launchCalled: m.handleEvents, firstEvent: m.firstEvent, lastEvent: m.lastEvent, finishedEvents: m.finishedEvents };
    for (const c of cols) row[c] = Math.round(row[c]);
    b.runs.push(row);
    console.error(`${b.name} run ${run + 1}: ${cols.map((c) => `${c} ${row[c]}`).join(", ")} (${row.events} events)`);
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`\nmedians of ${RUNS} (ms after page load):`);
console.log(["build".padEnd(10), ...cols.map((c) => c.padStart(15))].join(""));
for (const b of builds) {
  console.log([b.name.padEnd(10), ...cols.map((c) => String(median(b.runs.map((r) => r[c]))).padStart(15))].join(""));
  console.log(`  urlSessionDidFinishEvents runs: ${b.runs.map((r) => r.finishedEvents).join(", ")}; events ${b.runs.map((r) => r.events).join(",")}`);
}
await context.close();
await removeProfile(profile);
for (const b of builds) await b.server.close();
