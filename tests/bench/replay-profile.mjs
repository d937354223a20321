// Where a relaunch replay's time goes (not a test): seeds 1,000 journal
// events as the benchmark does (tests/bench/bench.mjs, "replay"), opens the
// app page with Chromium's sampling profiler running, and prints the marks,
// the main thread's busy/idle time in 10 ms buckets and the functions with
// the most self time between page load and urlSessionDidFinishEvents.
// RUNS=n (default 3) profiles; PROFILE_OUT=file.cpuprofile keeps the last;
// ROOT=dir serves another www/ (e.g. one built with wasm names kept);
// WINDOW=firstEvent,lastEvent (marks' names) limits the table to that span.
import { writeFileSync } from "node:fs";
import { execSync } from "node:child_process";
import { startServer, newProfile, removeProfile, launch, openApp } from "../e2e/harness.mjs";
import { queueReplayEvents, replayFinished, tempFilesRemoved } from "./seed.mjs";

const server = await startServer({ port: 0, ...(process.env.ROOT ? { root: process.env.ROOT } : {}) });
const profile = await newProfile();
const context = await launch(profile);
const page = await openApp(context, server.url, []);

async function seed() {
  await page.evaluate(queueReplayEvents);
  execSync("sync");
}

for (let run = 0; run < Number(process.env.RUNS || 3); run++) {
  await seed();
  const p = await context.newPage();
  await p.goto(`${server.url}/fixtures/blank.html`).catch(() => {});
  const cdp = await context.newCDPSession(p);
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval: 100 });
  if (!process.env.NOPROFILE) await cdp.send("Profiler.start");
  await p.goto(`${server.url}/fixtures/app.html?keepTemp=1`);
  await replayFinished(p);
  const { profile: prof } = process.env.NOPROFILE ? { profile: { nodes: [], samples: [], timeDeltas: [], startTime: 0 } } : await cdp.send("Profiler.stop");
  const marks = await p.evaluate(() => ({ ...window.marks, finished: window.finishedEventsAt, origin: performance.timeOrigin }));
  await p.evaluate(tempFilesRemoved);
  await p.close();
  if (process.env.PROFILE_OUT) writeFileSync(process.env.PROFILE_OUT, JSON.stringify(prof));
  // Sample times are µs on the profiler's clock; the profile's startTime is
  // about when Profiler.start ran (before navigation). Align on the last
  // sample ≈ finished: good enough for buckets.
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  let t = prof.startTime;
  const times = prof.timeDeltas.map((d) => (t += d));
  const end = times[times.length - 1];
  const shift = end / 1000 - marks.finished; // profiler ms - page ms
  const self = new Map();
  const buckets = new Map();
  for (let i = 0; i < prof.samples.length; i++) {
    const ms = times[i] / 1000 - shift;
    const [from, to] = (process.env.WINDOW || "").split(",").map((k) => marks[k]);
    if (ms < (from ?? 0) || ms > (to ?? marks.finished)) continue;
    const n = byId.get(prof.samples[i]);
    const f = n.callFrame;
    const name = `${f.functionName || "(anon)"} ${f.url.split("/").pop()}:${f.lineNumber}`;
    const dt = (i + 1 < times.length ? times[i + 1] - times[i] : 100) / 1000;
    self.set(name, (self.get(name) || 0) + dt);
    const b = Math.floor(ms / 10) * 10;
    const cur = buckets.get(b) || { idle: 0, busy: 0 };
    if (f.functionName === "(idle)") cur.idle += dt; else cur.busy += dt;
    buckets.set(b, cur);
  }
  const r = (x) => Math.round(x);
  console.log(`\nrun ${run + 1}: wasm ready ${r(marks.initDone)}, handleEvents ${r(marks.handleEvents)}, first ${r(marks.firstEvent)}, last ${r(marks.lastEvent)}, finished ${r(marks.finished)}`);
  console.log("busy ms per 10 ms: " + [...buckets.entries()].sort((a, b) => a[0] - b[0]).map(([b, v]) => `${b}:${r(v.busy)}`).join(" "));
  const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.TOP || 30));
  for (const [name, ms] of top) console.log(`  ${ms.toFixed(1).padStart(7)} ms  ${name}`);
}

await context.close();
await removeProfile(profile);
await server.close();
