// What order.test.mjs and multitab.test.mjs share: an order checker that
// states API.md's event-order rules as patterns, a raw look into the
// IndexedDB journal, and small helpers around the fixture app
// (tests/fixtures/app.js, whose delegate records every call in window.log as
// [method, taskIdentifier, ...arguments]).
import assert from "node:assert/strict";
import { newProfile, removeProfile, launch, openApp, waitFor } from "./harness.mjs";

export const MiB = 1 << 20;

// The delegate methods that concern one task (window.log entries whose [1] is
// a taskIdentifier). "moved" (the fixture's own note after moveItem) is not
// a delegate call and is left out.
export const TASK_METHODS = new Set([
  "didWriteData",
  "didResumeAtOffset",
  "didSendBodyData",
  "didReceiveData",
  "didFinishDownloadingTo",
  "taskIsWaitingForConnectivity",
  "willBeginDelayedRequest",
  "didCompleteWithError",
]);

// Compiles an order pattern: method names separated by spaces, each with an
// optional quantifier `?` (at most once), `*` (any number) or `+` (at least
// once), and `(a|b)` alternatives, e.g.
//   "didResumeAtOffset? didWriteData* didFinishDownloadingTo didCompleteWithError".
// The whole sequence must match (anchored at both ends).
export function compileOrder(pattern) {
  const tokens = pattern.trim().split(/\s+/);
  const re = tokens
    .map((tok) => {
      const m = /^(\(?[A-Za-z|]+\)?)([?*+]?)$/.exec(tok);
      if (!m) throw new Error(`bad order pattern token "${tok}"`);
      const names = m[1].replace(/[()]/g, "").split("|");
      for (const n of names) if (!/^[A-Za-z]+$/.test(n)) throw new Error(`bad method name "${n}" in "${tok}"`);
      return `(?:(?:${names.join("|")}),)${m[2]}`;
    })
    .join("");
  return new RegExp(`^${re}$`);
}

// True if the sequence of method names matches the pattern.
export function matchesOrder(names, pattern) {
  return compileOrder(pattern).test(names.map((n) => `${n},`).join(""));
}

// The delegate calls of one task, in delivery order.
export function taskEvents(log, taskId) {
  return log.filter((e) => TASK_METHODS.has(e[0]) && e[1] === taskId);
}

// Asserts that task `taskId`'s delegate calls in `log` match `pattern`;
// returns those calls.
export function assertTaskOrder(log, taskId, pattern, what = `task ${taskId}`) {
  const mine = taskEvents(log, taskId);
  const names = mine.map((e) => e[0]);
  assert.ok(matchesOrder(names, pattern), `${what}: delegate calls [${names.join(", ")}] do not match "${pattern}"`);
  return mine;
}

// Progress bookkeeping of one task's didWriteData calls: totals strictly
// increase (no event delivered twice), bytesWritten is the delta from the
// previous delivered total (from `from`, e.g. a didResumeAtOffset offset), and
// the deltas add up to the last total. Returns {sum, last}.
export function assertProgress(calls, { from = 0, size, what = "progress" } = {}) {
  const progress = calls.filter((e) => e[0] === "didWriteData");
  let prev = from;
  let sum = 0;
  for (const [, , written, total, expected] of progress) {
    assert.ok(total > prev, `${what}: totals strictly increase (${prev} then ${total})`);
    assert.equal(written, total - prev, `${what}: bytesWritten ${written} is the delta ${total} - ${prev}`);
    if (size !== undefined) assert.equal(expected, size, `${what}: totalBytesExpectedToWrite`);
    sum += written;
    prev = total;
  }
  if (size !== undefined && progress.length) assert.equal(prev, size, `${what}: the last didWriteData reports the whole file`);
  return { sum, last: prev };
}

// The raw journal (IndexedDB "bgsession" / "events", in seq order), read with
// plain IndexedDB (no bgsession code) from any page of the origin — the app
// or the observer (which delivers nothing).
export function readJournal(page) {
  return page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const req = indexedDB.open("bgsession");
        req.onerror = () => reject(req.error);
        req.onsuccess = () => {
          const db = req.result;
          if (!db.objectStoreNames.contains("events")) {
            db.close();
            return resolve([]);
          }
          const r = db.transaction("events").objectStore("events").getAll();
          r.onsuccess = () => {
            db.close();
            resolve(r.result.sort((a, b) => a.seq - b.seq));
          };
          r.onerror = () => reject(r.error);
        };
      }),
  );
}

// A journal entry as the delegate call it becomes, comparable with a
// window.log entry: [method, taskId, key] where key is the progress total, the
// offset, the location or the error code.
export function journalCall(entry) {
  const ev = entry.event;
  const key =
    ev.type === "didWriteData"
      ? ev.totalBytesWritten
      : ev.type === "didResumeAtOffset"
        ? ev.fileOffset
        : ev.type === "didFinishDownloadingTo"
          ? ev.location
          : ev.type === "didCompleteWithError"
            ? (ev.error ? ev.error.code : null)
            : null;
  return [ev.type, entry.taskId, key];
}

// The same view of a window.log entry.
export function logCall(e) {
  const key =
    e[0] === "didWriteData" ? e[3] : e[0] === "didResumeAtOffset" || e[0] === "didFinishDownloadingTo" || e[0] === "didCompleteWithError" ? e[2] : null;
  return [e[0], e[1], key];
}

// Runs `body` with a fresh profile and an app page. Afterwards the journal
// must be empty (every event delivered and acknowledged) — read from the page
// `body` returns, or the first one — and no page may have logged a console error.
export async function withApp(server, body) {
  const profile = await newProfile();
  const context = await launch(profile);
  const errors = [];
  try {
    const page = await openApp(context, server.url, errors);
    const last = (await body({ page, context, errors })) || page;
    assert.deepEqual(await readJournal(last), [], "the journal is empty: every event delivered and acknowledged");
    assert.deepEqual(errors, [], "no console errors");
  } finally {
    await context.close();
    await removeProfile(profile);
  }
}

// Creates and resumes a download task in the fixture app; returns its taskIdentifier.
export function startDownload(page, { session, url, name, options }) {
  return page.evaluate(
    async ({ session, url, name, options }) => {
      const task = window.openSession(session, options).downloadTask(url);
      task.taskDescription = name;
      await task.resume();
      return task.taskIdentifier;
    },
    { session, url, name, options },
  );
}

// As startDownload, but the page first takes the task's Web Lock, the one
// the daemon holds while it transfers a task, as another worker running it
// would: window.busyTask is the task, window.releaseTaskLock() lets go.
export function startDownloadHoldingItsLock(page, { session, url, name }) {
  return page.evaluate(
    async ({ session, url, name }) => {
      const task = window.openSession(session).downloadTask(url);
      task.taskDescription = name;
      window.busyTask = task;
      await new Promise((held) =>
        navigator.locks.request(`bgsession:task:${session}:${task.taskIdentifier}`, () => {
          held();
          return new Promise((release) => (window.releaseTaskLock = release));
        }),
      );
      await task.resume();
      return task.taskIdentifier;
    },
    { session, url, name },
  );
}

export const appLog = (page) => page.evaluate(() => window.log);

// Waits until the app's log has an entry satisfying `pred`; returns the log.
export async function waitLog(page, pred, what, timeout = 60_000) {
  await waitFor(async () => (await appLog(page)).some(pred), { timeout, interval: 100, what });
  return appLog(page);
}

export const waitCompleted = (page, taskId, timeout) =>
  waitLog(page, (e) => e[0] === "didCompleteWithError" && e[1] === taskId, `task ${taskId}'s didCompleteWithError`, timeout);

// Asserts that `location` in the app's sandbox holds exactly the bytes the
// server generates for `name` (or `seed`) and `size`.
export async function assertFile(server, page, location, { name, size, seed }) {
  const got = await page.evaluate((loc) => window.sha256Of(loc), location);
  const q = seed === undefined ? `name=${encodeURIComponent(name)}` : `seed=${seed}`;
  const want = await (await fetch(`${server.url}/sha256?size=${size}&${q}`)).json();
  assert.equal(got.size, size, `${location}: size`);
  assert.equal(got.sha256, want.sha256, `${location}: SHA-256 equals the served bytes`);
}

// Apple's order for one task, each terminal event once.
export function assertOrder(entries, id, { error = null } = {}) {
  const mine = entries.filter((e) => e[1] === id && e[0].startsWith("did"));
  const finish = mine.filter((e) => e[0] === "didFinishDownloadingTo");
  const complete = mine.filter((e) => e[0] === "didCompleteWithError");
  assert.equal(complete.length, 1, `task ${id}: didCompleteWithError once`);
  assert.equal(mine.at(-1)[0], "didCompleteWithError", `task ${id}: nothing after didCompleteWithError`);
  assert.equal(complete[0][2], error, `task ${id}: error code`);
  if (error === null) {
    assert.equal(finish.length, 1, `task ${id}: didFinishDownloadingTo once`);
    assert.equal(mine.at(-2)[0], "didFinishDownloadingTo", `task ${id}: finish right before completion`);
  } else {
    assert.equal(finish.length, 0, `task ${id}: no file for a failed task`);
  }
}
