// The chaos soak (issue 13): many downloads and uploads of random sizes in
// several sessions while the worker is stopped, tabs close and reopen, the
// browser restarts, connections are cut, servers answer 503 or 200 to a
// Range, resources change, the network goes away, and tasks are suspended,
// resumed and cancelled (with and without resume data). Then everything is
// let finish and checked:
//   - each task's delegate saw exactly one didCompleteWithError;
//   - a successful download's file has the SHA-256 the server sent, an
//     upload's server saw the file's exact bytes;
//   - no event delivered twice (apart from the documented case: a page
//     closed in the middle of a replay, before its acknowledgements were
//     written, see README "Exactly once") and none left undelivered;
//   - nothing left behind: no journal entry, no task record, no segment,
//     no file once the app removed its files; usage() equals the bytes
//     really stored.
// Prints what it did and what held; exits 1 on any violation.
//
//   MINUTES=10 ENGINE=chromium|firefox SEED=n node tests/soak/soak.mjs
// (SETTLE_MINUTES=n: how long the end waits for every task, 15 by default;
// SOAK_DEBUG=1 prints each action)
//
// How the log stays complete across closes, stops and restarts: before a
// page goes away the soak sets window.frozen (tests/fixtures/app.js), so any
// later delegate call hangs unrecorded and unacknowledged (it comes again
// on the next launch), then reads the page's log.
import { startServer } from "../server/server.mjs";
import { launchEngine, openAppIn, pollPage, CAN } from "../e2e/engines.mjs";

const MINUTES = Number(process.env.MINUTES ?? 10);
const ENGINE = process.env.ENGINE ?? "chromium";
const SEED = Number(process.env.SEED ?? Date.now() % 1_000_000);
const SESSIONS = ["com.example.soak-a", "com.example.soak-b", "com.example.soak-c"];
const KiB = 1024;
const MiB = 1 << 20;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// mulberry32: a seeded PRNG, so a run can be repeated with SEED=.
let rngState = SEED >>> 0;
function random() {
  rngState = (rngState + 0x6d2b79f5) >>> 0;
  let t = rngState;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (list) => list[Math.floor(random() * list.length)];
const chance = (p) => random() < p;
const between = (a, b) => Math.floor(a + random() * (b - a));

const counts = {};
const violations = [];
const count = (what, n = 1) => (counts[what] = (counts[what] ?? 0) + n);

// Every task the soak created: key "session/id".
const tasks = new Map();
// A new task: its identifier must be new in its session (iOS: it "uniquely
// identifies the task within a given session"; apps key their state by it).
function addTask(key, t) {
  if (tasks.has(key)) violations.push(`${key}: identifier handed out again (was ${tasks.get(key).kind} ${tasks.get(key).name ?? tasks.get(key).from?.name}, now ${t.kind} ${t.name ?? t.from?.name})`);
  tasks.set(tasks.has(key) ? `${key}#${tasks.size}` : key, t);
}
// Logs of pages that went away (and, at the end, of those still open).
const logs = [];
let pageNo = 0;

const server = await startServer({ port: 0 });
const base = server.url;
let browser = await launchEngine(ENGINE, ENGINE === "firefox" ? { workerIdleMs: 5000 } : {});
const pages = [];

async function openPage() {
  const page = await openAppIn(browser, base);
  page.no = ++pageNo;
  // Each session is opened in every page: the page that gets a session's
  // lock delivers its events (another waits; \`ready\` would wait with it).
  await page.evaluate((ids) => ids.every((s) => window.openSession(s)), SESSIONS);
  pages.push(page);
  count("tabs opened");
  return page;
}

// Freezes a page and keeps its log (see above).
async function collect(page) {
  const log = await page.evaluate(() => {
    window.frozen = true;
    return window.slog;
  });
  logs.push({ page: page.no, log });
  pages.splice(pages.indexOf(page), 1);
}

async function closePage(page) {
  await collect(page);
  await page.close();
  count("tabs closed");
}

async function anyPage() {
  return pages.length ? pick(pages) : openPage();
}

// ---- faults and app events ------------------------------------------------

function downloadUrl(name) {
  const size = chance(0.2) ? between(1, 64 * KiB) : between(64 * KiB, 6 * MiB);
  const rate = pick([0, 0, 1 * MiB, 2 * MiB, 4 * MiB, 8 * MiB]);
  const q = new URLSearchParams({ size: String(size) });
  if (rate) q.set("rate", String(rate));
  const faults = [];
  if (size > 4 * KiB && chance(0.35)) {
    const n = between(1, 4);
    const cuts = [...new Set(Array.from({ length: n }, () => between(1, size - 1)))].sort((a, b) => a - b);
    q.set("cut", cuts.join(","));
    faults.push(["connection cuts (server)", cuts.length]);
  }
  if (chance(0.12)) {
    q.set("fail503", String(between(1, 3)));
    q.set("retryAfter", "1");
    faults.push(["503 + Retry-After", Number(q.get("fail503"))]);
  }
  if (chance(0.08)) {
    q.set("ignoreRange", "1");
    faults.push(["200 to a Range (server ignores Range)", 1]);
  }
  let flipped = false;
  if (chance(0.08) && !q.has("ignoreRange")) {
    q.set("flipAfter", "1");
    flipped = true;
    faults.push(["resource changed (ETag)", 1]);
  }
  if (size > 4 * KiB && chance(0.08)) {
    q.set("short", "1");
    faults.push(["short body", 1]);
  }
  return { url: `${base}/files/${name}?${q}`, size, flipped, faults };
}

async function startDownloadTask() {
  const session = pick(SESSIONS);
  const name = `soak-${SEED}-${tasks.size + 1}.bin`;
  const d = downloadUrl(name);
  const page = await anyPage();
  const id = await page.evaluate(
    async ({ session, url, name }) => {
      const task = window.openSession(session).downloadTask(url);
      task.taskDescription = name;
      await task.resume();
      return task.taskIdentifier;
    },
    { session, url: d.url, name },
  );
  addTask(`${session}/${id}`, { session, id, kind: "download", name, size: d.size, flipped: d.flipped });
  if (process.env.SOAK_DEBUG) console.log(`  download ${session}/${id} ${name} in page ${page.no}: ${d.url}`);
  for (const [what, n] of d.faults) count(what, n);
  count("downloads started");
}

// Uploads a finished download's file; the server answers with its SHA-256.
async function startUploadTask() {
  const done = [...tasks.values()].filter((t) => t.kind === "download" && t.moved && !t.removed);
  if (!done.length) return;
  const from = pick(done);
  const session = pick(SESSIONS);
  const drop = chance(0.3) ? 1 : 0;
  const page = await anyPage();
  const id = await page.evaluate(
    async ({ session, url, path }) => {
      const task = window.openSession(session).uploadTask({ url, method: "PUT" }, path);
      await task.resume();
      return task.taskIdentifier;
    },
    { session, url: `${base}/upload/${from.name}-${tasks.size + 1}?drop=${drop}`, path: `file:///Documents/${from.name}` },
  );
  from.uploads = (from.uploads ?? 0) + 1;
  addTask(`${session}/${id}`, { session, id, kind: "upload", from });
  if (drop) count("upload connections cut", drop);
  count("uploads started");
}

const live = (kind) => [...tasks.values()].filter((t) => !t.ended && !t.cancelled && (!kind || t.kind === kind));

// Suspends, resumes or cancels a task, in a page (getAllTasks finds it).
async function taskCommand() {
  const t = pick(live());
  if (!t) return;
  const op = t.suspended ? "resume" : pick(["suspend", "suspend", "cancel", t.kind === "download" ? "cancelWithResumeData" : "cancel"]);
  const page = await anyPage();
  const r = await page.evaluate(
    async ({ session, id, op }) => {
      const all = await window.openSession(session).getAllTasks();
      const task = all.find((x) => x.taskIdentifier === id);
      if (!task) return { found: false };
      if (op === "suspend") task.suspend();
      else if (op === "resume") await task.resume();
      else if (op === "cancel") task.cancel();
      else {
        const data = await task.cancelByProducingResumeData();
        if (!data) return { found: true, resumed: null };
        const again = window.openSession(session).downloadTaskWithResumeData(data);
        again.taskDescription = task.taskDescription;
        await again.resume();
        return { found: true, resumed: again.taskIdentifier };
      }
      return { found: true };
    },
    { session: t.session, id: t.id, op },
  );
  if (process.env.SOAK_DEBUG) console.log(`  ${op} ${t.session}/${t.id} (${t.name ?? t.from?.name}) in page ${page.no}: ${JSON.stringify(r)}`);
  if (!r.found) return; // it ended meanwhile
  count(`task ${op}`);
  if (op === "suspend") t.suspended = true;
  if (op === "resume") t.suspended = false;
  if (op === "cancel" || op === "cancelWithResumeData") t.cancelled = true;
  if (r.resumed != null) {
    addTask(`${t.session}/${r.resumed}`, { ...t, id: r.resumed, cancelled: false, suspended: false, fromResumeData: true });
    count("downloads continued from resume data");
  }
}

async function stopWorker() {
  for (const p of [...pages]) await collect(p);
  if (CAN[ENGINE].stopWorkerNow) {
    await browser.stopWorker(); // closes every page too
    count("worker stopped");
  } else {
    for (const p of browser.pages) await p.close();
    count("every tab closed (worker left to its idle timeout)");
  }
}

async function restartBrowser() {
  if (!CAN[ENGINE].restart) return;
  for (const p of [...pages]) await collect(p);
  await browser.restart({ graceful: chance(0.5) });
  count("browser restarted");
}

async function goOffline() {
  if (ENGINE !== "chromium") return;
  const ms = between(2000, 8000);
  await browser.context?.setOffline?.(true);
  count("offline periods");
  await sleep(ms);
  await browser.context?.setOffline?.(false);
}

// The SHA-256 of what the server sent for a download. After a flip
// (flipAfter=1) the server sends the next representation to every later
// request: the file is that one if any request got it.
async function served(t) {
  const flipped = t.flipped && server.log.some((e) => e.path === `/files/${t.name}` && e.flipped);
  return (await fetch(`${base}/sha256?size=${t.size}&name=${t.name}${flipped ? "&flip=1" : ""}`)).json();
}

// A finished download's file against what the server sent; a violation if
// it differs. Returns false if the file is not there.
async function verifyFile(page, t) {
  const path = `file:///Documents/${t.name}`;
  const got = await page.evaluate((p) => window.bg.FileManager.default.fileExists(p).then((e) => (e ? window.sha256Of(p) : null)), path);
  if (!got) return false;
  const want = await served(t);
  if (got.sha256 !== want.sha256 || got.size !== t.size) {
    violations.push(`${path}: ${got.size} B sha256 ${got.sha256.slice(0, 12)}…, the server sent ${t.size} B ${want.sha256.slice(0, 12)}…`);
    if (process.env.SOAK_DEBUG) await debugName(page, t.name);
  }
  else count("files byte-exact");
  count("bytes checked", got.size);
  return true;
}

// SOAK_DEBUG: everything known of the tasks named `name` (the soak's
// records, each page's log of them, the server's requests for it).
async function debugName(page, name) {
  const keys = [...tasks.entries()].filter(([, t]) => t.name === name).map(([k, t]) => { console.log("task", k, JSON.stringify(t)); return k; });
  const open = await page.evaluate(() => window.slog);
  for (const { page: no, log } of [...logs, { page: page.no, log: open }]) {
    for (const e of log) if (keys.includes(`${e[0]}/${e[2]}`)) console.log(`  page ${no}:`, JSON.stringify(e));
  }
  for (const e of server.log.filter((e) => e.path === `/files/${name}`)) {
    console.log(`  server #${e.id} ${e.start - t0} ms: range ${e.range} if-range ${e.ifRange} → ${e.status}, ${e.bytesSent} B, ${e.completed ? "completed" : e.aborted ? "aborted" : "?"}${e.cutAt != null ? ` cut at ${e.cutAt}` : ""}`);
  }
}

// Checks, then removes, some finished files (the app cleaning up).
async function removeFiles() {
  const done = [...tasks.values()].filter((t) => t.kind === "download" && t.moved && !t.removed);
  for (const t of done.slice(0, between(0, done.length))) {
    const page = await anyPage();
    if (!(await verifyFile(page, t))) continue;
    await page.evaluate((p) => window.bg.FileManager.default.removeItem(p), `file:///Documents/${t.name}`);
    t.removed = true;
    count("files removed by the app");
  }
}

// ---- reading the logs -----------------------------------------------------
// A log line (window.slog): [session, method, taskIdentifier, ...arguments].

// Marks moved and ended tasks from every log so far and the open pages'.
async function refresh() {
  const open = await Promise.all(pages.map(async (p) => ({ page: p.no, log: await p.evaluate(() => window.slog) })));
  for (const { log } of [...logs, ...open]) {
    for (const [session, method, id] of log) {
      const t = tasks.get(`${session}/${id}`);
      if (!t) continue;
      if (method === "moved") t.moved = true;
      if (method === "didCompleteWithError") t.ended = true;
    }
  }
}

// An app queues downloads a few at a time (an episode list, a playlist).
async function startDownloads() {
  for (let n = between(1, 4); n > 0; n--) await startDownloadTask();
}

const ACTIONS = [
  [30, startDownloads],
  [6, startUploadTask],
  [10, taskCommand],
  [5, async function closeTab() { if (pages.length) await closePage(pick(pages)); }],
  [5, async function openTab() { if (pages.length < 3) await openPage(); }],
  [3, stopWorker],
  [2, restartBrowser],
  [2, goOffline],
  [2, removeFiles],
];

async function chaos(until) {
  const total = ACTIONS.reduce((n, [w]) => n + w, 0);
  while (Date.now() < until) {
    let r = random() * total;
    const [, action] = ACTIONS.find(([w]) => (r -= w) < 0);
    if (process.env.SOAK_DEBUG) console.log(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${action.name || "tab"}`);
    // An action that does not finish in 60 s is a finding (a hung API call).
    let timer;
    const hung = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${action.name || "tab"} did not finish in 60 s`)), 60_000)));
    try {
      await Promise.race([action(), hung]);
    } catch (e) {
      count(`soak action failed (${e.message.split("\n")[0].slice(0, 80)})`);
      if (/did not finish/.test(e.message)) violations.push(e.message);
    } finally {
      clearTimeout(timer);
    }
    await sleep(between(200, 1500));
    if (chance(0.1)) await refresh().catch(() => {});
  }
}

console.log(`soak: ${ENGINE}, ${MINUTES} min of chaos, SEED=${SEED}`);
const t0 = Date.now();
await openPage();
await chaos(t0 + MINUTES * 60_000);
console.log(`soak: chaos over after ${((Date.now() - t0) / 1000).toFixed(0)} s; letting every task finish`);
await settle();
await check();
await browser.close();
await server.close();
report();
process.exit(violations.length ? 1 : 0);

// ---- the end ----------------------------------------------------------------

// Faults stop; suspended tasks are resumed; one page delivers everything.
async function settle() {
  await browser.context?.setOffline?.(false).catch?.(() => {});
  while (pages.length > 1) await closePage(pages[pages.length - 1]);
  const page = await anyPage();
  for (const t of live()) {
    if (!t.suspended) continue;
    await page.evaluate(
      async ({ session, id }) => {
        const task = (await window.openSession(session).getAllTasks()).find((x) => x.taskIdentifier === id);
        if (task) await task.resume();
      },
      { session: t.session, id: t.id },
    );
    t.suspended = false;
  }
  const want = tasks.size;
  try {
    await pollPage(
      page,
      async (ids) => {
        const all = await Promise.all(ids.map((s) => window.openSession(s).getAllTasks()));
        const journal = await window.pendingJournal();
        return all.every((l) => l.length === 0) && journal.length === 0;
      },
      { arg: SESSIONS, timeout: Number(process.env.SETTLE_MINUTES ?? 15) * 60_000, interval: 1000, what: `every one of ${want} tasks to end and its events to be delivered` },
    );
  } catch (e) {
    await dumpUnsettled(page).catch((d) => console.log(`soak: could not read what is left: ${d.message}`));
    throw e;
  }
}

// What keeps the soak from settling: each session's tasks as the page sees
// them, the daemon's own status, the journal's entries left and the task
// records stored and not completed; then, for each task no log saw end,
// its log lines in every page and the server's requests for its file.
async function dumpUnsettled(page) {
  await refresh().catch(() => {}); // marks the tasks the logs saw end
  const left = await page.evaluate(async (ids) => {
    const out = {};
    for (const s of ids) {
      const session = window.openSession(s);
      const all = await session.getAllTasks();
      out[s] = {
        tasks: all.map((t) => ({ id: t.taskIdentifier, state: t.state, description: t.taskDescription, received: t.countOfBytesReceived, sent: t.countOfBytesSent, error: t.error?.code })),
        daemon: await session.daemonStatus(),
      };
    }
    out.journal = await window.pendingJournal();
    // The stored task records (no bgsession code involved).
    out.stored = await new Promise((resolve, reject) => {
      const req = indexedDB.open("bgsession");
      req.onerror = () => reject(req.error);
      req.onsuccess = () => {
        const r = req.result.transaction("tasks").objectStore("tasks").getAll();
        r.onsuccess = () => { req.result.close(); resolve(r.result.filter((t) => t.state !== "completed")); };
        r.onerror = () => reject(r.error);
      };
    });
    return out;
  }, SESSIONS);
  console.log(`soak: left unsettled:\n${JSON.stringify(left, null, 1)}`);
  const open = await page.evaluate(() => window.slog);
  for (const [key, t] of tasks) {
    if (t.ended) continue;
    console.log(`  soak's record of ${key}: ${JSON.stringify({ ...t, from: t.from?.name })}`);
    for (const { page: no, log } of [...logs, { page: page.no, log: open }]) {
      for (const e of log) if (`${e[0]}/${e[2]}` === key) console.log(`    page ${no}:`, JSON.stringify(e).slice(0, 300));
    }
    for (const e of server.log.filter((e) => t.name && e.path === `/files/${t.name}`)) {
      console.log(`    server #${e.id} ${e.start - t0} ms: range ${e.range} → ${e.status}, ${e.bytesSent} B, ${e.completed ? "completed" : e.aborted ? "aborted" : "?"}`);
    }
  }
}

async function check() {
  const page = pages[0];
  const open = await page.evaluate(() => window.slog);
  const all = [...logs, { page: page.no, log: open }];
  const completions = new Map(); // "session/id" -> [{ page, code }]
  const receipts = new Map(); // "session/id" -> upload answers
  for (const { page: no, log } of all) {
    for (const [session, method, id, arg] of log) {
      const key = `${session}/${id}`;
      if (!tasks.has(key)) {
        if (method !== "handleEventsForBackgroundURLSession" && method !== "urlSessionDidFinishEvents") violations.push(`page ${no}: ${method} for a task the soak never created (${key})`);
        continue;
      }
      if (method === "didCompleteWithError") completions.set(key, [...(completions.get(key) ?? []), { page: no, code: arg }]);
      if (method === "didReceiveData") receipts.set(key, [...(receipts.get(key) ?? []), arg]);
    }
  }
  const codes = {};
  for (const [key, t] of tasks) {
    const c = completions.get(key) ?? [];
    if (!c.length) violations.push(`${key} (${t.kind} ${t.name ?? t.from?.name}): no didCompleteWithError`);
    // Twice is allowed only where the README says so: the first page was
    // closed before its acknowledgement was written (it was then frozen).
    else if (c.length > 1) {
      const closedFirst = c.slice(0, -1).every((x) => logs.some((l) => l.page === x.page));
      if (closedFirst && c.length === 2) count("didCompleteWithError delivered again after a page closed mid-replay (documented)");
      else violations.push(`${key}: didCompleteWithError delivered ${c.length} times (pages ${c.map((x) => x.page)})`);
    }
    const code = !c.length ? "none" : c[c.length - 1].code === null ? "success" : c[c.length - 1].code;
    codes[`${t.kind} ${code}`] = (codes[`${t.kind} ${code}`] ?? 0) + 1;
    // A cancel that reached the daemon after the task had finished changes
    // nothing (as on iOS): success is then right; any other error is not.
    if (t.cancelled && c.length && !c.some((x) => x.code === -999)) {
      if (c.every((x) => x.code === null)) count("cancels that came after the task had finished");
      else violations.push(`${key}: cancelled, but ended with ${c.map((x) => x.code)}`);
    }
  }
  counts["tasks by outcome"] = codes;
  // Files: every successful download that was not removed is byte-exact.
  for (const t of tasks.values()) {
    if (t.kind !== "download" || t.removed || t.cancelled) continue;
    if (!(completions.get(`${t.session}/${t.id}`) ?? []).some((x) => x.code === null)) continue;
    if (!(await verifyFile(page, t))) violations.push(`${t.session}/${t.id}: succeeded but file:///Documents/${t.name} is missing`);
  }
  // Uploads: the server's answer names the bytes it received.
  for (const [key, t] of tasks) {
    if (t.kind !== "upload" || t.cancelled) continue;
    const answers = (receipts.get(key) ?? []).map((a) => { try { return JSON.parse(a); } catch { return null; } }).filter(Boolean);
    const ok = (completions.get(key) ?? []).some((x) => x.code === null);
    if (!ok) continue;
    const want = await served(t.from);
    if (!answers.some((a) => a.sha256 === want.sha256)) violations.push(`${key}: upload succeeded but the server got other bytes (${JSON.stringify(answers)})`);
    else count("uploads byte-exact");
  }
  // Nothing left behind once the app removed its files.
  const remaining = [...tasks.values()].filter((t) => t.kind === "download" && !t.removed);
  const before = await page.evaluate(() => window.bg.FileManager.default.usage());
  const stored = await page.evaluate(async () => {
    let bytes = 0;
    let entries = 0;
    for (const name of await caches.keys()) {
      const cache = await caches.open(name);
      for (const req of await cache.keys()) {
        entries++;
        bytes += (await (await cache.match(req)).blob()).size;
      }
    }
    return { bytes, entries };
  });
  if (before.total + before.daemon !== stored.bytes) violations.push(`usage() says ${before.total} B of files + ${before.daemon} B held by the daemon, but the Cache API holds ${stored.bytes} B in ${stored.entries} entries`);
  for (const t of remaining) {
    await page.evaluate((p) => window.bg.FileManager.default.fileExists(p).then((e) => e && window.bg.FileManager.default.removeItem(p)), `file:///Documents/${t.name}`);
  }
  const after = await page.evaluate(async (ids) => {
    const usage = await window.bg.FileManager.default.usage();
    let entries = 0;
    for (const name of await caches.keys()) entries += (await (await caches.open(name)).keys()).length;
    const db = await new Promise((res, rej) => {
      const r = indexedDB.open("bgsession");
      r.onsuccess = () => res(r.result);
      r.onerror = () => rej(r.error);
    });
    const n = {};
    for (const store of ["tasks", "events", "files"]) {
      n[store] = await new Promise((res) => {
        const r = db.transaction(store).objectStore(store).count();
        r.onsuccess = () => res(r.result);
      });
    }
    const resumeHolders = await new Promise((res) => {
      const r = db.transaction("tasks").objectStore("tasks").getAll();
      r.onsuccess = () => res(r.result.filter((t) => t.state === "completed" && t.segments && t.segments.length).length);
    });
    db.close();
    const tmp = await window.bg.FileManager.default.contentsOfDirectory("file:///tmp/").catch(() => []);
    return { usage, entries, n, resumeHolders, tmp: tmp.length };
  }, SESSIONS);
  if (after.usage.total !== 0) violations.push(`after removing every file usage() is ${JSON.stringify(after.usage)}`);
  // What may stay: resume data of failed downloads (their error carried it),
  // as records holding bytes, which usage().daemon counts.
  if (after.entries !== 0 && after.usage.daemon === 0) violations.push(`${after.entries} Cache API entries left that nothing owns (orphan segments)`);
  if (after.n.tasks !== after.resumeHolders) violations.push(`${after.n.tasks - after.resumeHolders} finished task record(s) left`);
  for (const store of ["events", "files"]) if (after.n[store]) violations.push(`${after.n[store]} ${store} record(s) left`);
  if (after.tmp) violations.push(`${after.tmp} temp file(s) left in /tmp`);
  counts["left behind"] = after;
}

function report() {
  console.log(`\nsoak report (${ENGINE}, SEED=${SEED}, ${MINUTES} min of chaos, ${((Date.now() - t0) / 1000).toFixed(0)} s in all)`);
  console.log(`tasks: ${tasks.size} (${[...tasks.values()].filter((t) => t.kind === "download").length} downloads, ${[...tasks.values()].filter((t) => t.kind === "upload").length} uploads)`);
  const faults = Object.entries(counts).filter(([, v]) => typeof v === "number");
  for (const [k, v] of faults.sort()) console.log(`  ${k}: ${v}`);
  console.log(`  tasks by outcome: ${JSON.stringify(counts["tasks by outcome"])}`);
  console.log(`  left behind after cleanup: ${JSON.stringify(counts["left behind"])}`);
  console.log(`violations: ${violations.length}`);
  for (const v of violations) console.log(`  - ${v}`);
}
