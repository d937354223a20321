// Upgrades with work in flight (issue 13, "Nothing lost, ever"): the build
// users have today (2ddb749, whose IndexedDB schema predates the machine
// redesign) makes state in a browser profile — a download running (slow,
// partly stored), a suspended one, a finished one whose events are still
// queued (its page closed before delivery), one cancelled with resume data,
// a file in /Documents — then the browser closes; the current build is
// served at the same origin and opens the same profile, and every task
// carries on: the running and the suspended one finish byte-exact, the
// queued events are delivered once, in order, the resume data continues,
// the file is still there and FileManager.usage() adds up to the bytes
// stored. Then a new worker script takes over (skipWaiting) while a
// transfer runs with a page open: two builds differing only in a version
// string; the transfer ends byte-exact, nothing delivered twice.
//
// The old build is made by scripts/old-build.sh (cached under
// target/old-www/<hash>/, so only the first run builds it: ~50 s).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { startServer, newProfile, removeProfile, launch, openApp, waitFor, withBrowser } from "./harness.mjs";
import { startDownload, assertOrder, assertFile, assertProgress, assertTaskOrder, taskEvents } from "./order-helpers.mjs";

const OLD = process.env.BGSESSION_OLD_COMMIT || "2ddb749";
const REPO = fileURLToPath(new URL("../../", import.meta.url));
const SESSION = "com.example.upgrade";
const KiB = 1024;
const MiB = 1 << 20;

let oldBuild;
before(() => {
  const t0 = Date.now();
  const out = execFileSync(join(REPO, "scripts/old-build.sh"), [OLD], { cwd: REPO, stdio: ["ignore", "pipe", "inherit"] });
  oldBuild = out.toString().trim().split("\n").pop();
  console.log(`# old build ${OLD}: ${oldBuild} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
});

// The raw IndexedDB store `name` of "bgsession", read without bgsession code.
const readStore = (page, name) =>
  page.evaluate(
    (name) =>
      new Promise((resolve, reject) => {
        const r = indexedDB.open("bgsession");
        r.onerror = () => reject(r.error);
        r.onsuccess = () => {
          const db = r.result;
          if (!db.objectStoreNames.contains(name)) return db.close(), resolve([]);
          const g = db.transaction(name).objectStore(name).getAll();
          g.onsuccess = () => (db.close(), resolve(JSON.parse(JSON.stringify(g.result))));
          g.onerror = () => reject(g.error);
        };
      }),
    name,
  );

const stored = async (page, id) => (await readStore(page, "tasks")).find((t) => t.session === SESSION && t.taskId === id);

async function waitStored(page, id, atLeast, what) {
  return waitFor(async () => ((await stored(page, id))?.bytesReceived ?? 0) >= atLeast, { timeout: 60_000, interval: 200, what });
}

// Every Cache API entry's size, added up (what the origin really stores).
const cachedBytes = (page) =>
  page.evaluate(async () => {
    let sum = 0;
    for (const name of await caches.keys()) {
      const cache = await caches.open(name);
      for (const req of await cache.keys()) sum += (await (await cache.match(req)).blob()).size;
    }
    return sum;
  });

// `promise`, or an error naming `what` after `ms` (a page call that hangs
// fails the test with a reason instead of its timeout).
function within(ms, promise, what) {
  let timer;
  const late = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms / 1000} s`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

// A task of the session as a live object, by identifier.
const withTask = (page, id, body) =>
  within(20_000, page.evaluate(
    async ({ session, id, body }) => {
      const tasks = await window.openSession(session).getAllTasks();
      const task = tasks.find((t) => t.taskIdentifier === id);
      if (!task) throw new Error(`no task ${id} among ${tasks.map((t) => t.taskIdentifier)}`);
      return new Function("task", `return (${body})(task)`)(task);
    },
    { session: SESSION, id, body: body.toString() },
  ), `task ${id}: ${body}`);

const SIZES = { doc: 100 * KiB, queued: 192 * KiB, run: 6 * MiB, susp: 2 * MiB, cancel: 2 * MiB };
const path = (name, rate) => `/files/${name}.bin?size=${SIZES[name]}${rate ? `&rate=${rate}` : ""}`;

test(`a profile made by ${OLD} is finished by this build: running, suspended, queued, resume data, files`, { timeout: 170_000 }, async () => {
  const t0 = Date.now();
  let server = await startServer({ port: 0, root: join(oldBuild, "www"), extraRoots: { "/fixtures/": join(oldBuild, "fixtures") } });
  const port = server.port;
  const profile = await newProfile();
  const errors = [];
  const ids = {};
  let resumeData;
  try {
    // ---------------------------------------------------------------- the old build
    let context = await launch(profile);
    let page = await openApp(context, server.url, errors);
    // A file in /Documents (a download delivered and moved by the app).
    ids.doc = await startDownload(page, { session: SESSION, url: server.url + path("doc"), name: "doc.bin" });
    await waitFor(async () => (await page.evaluate(() => window.log)).some((e) => e[0] === "didCompleteWithError" && e[1] === ids.doc), { what: "doc.bin done (old build)" });
    // Three slow ones, partly stored.
    for (const name of ["run", "susp", "cancel"]) {
      ids[name] = await startDownload(page, { session: SESSION, url: server.url + path(name, 384 * KiB), name: `${name}.bin` });
    }
    for (const name of ["run", "susp", "cancel"]) await waitStored(page, ids[name], 256 * KiB, `${name}.bin partly stored (old build)`);
    await withTask(page, ids.susp, (task) => task.suspend());
    resumeData = await withTask(page, ids.cancel, async (task) => Array.from(await task.cancelByProducingResumeData()));
    assert.ok(resumeData.length > 0, "the old build gave resume data");
    await waitFor(async () => (await page.evaluate(() => window.log)).some((e) => e[0] === "didCompleteWithError" && e[1] === ids.cancel), { what: "cancel.bin's -999 (old build)" });
    // A finished download whose events stay queued: its page closes first.
    ids.queued = await startDownload(page, { session: SESSION, url: server.url + path("queued", 96 * KiB), name: "queued.bin" });
    await page.close();
    const probe = await context.newPage(); // a page of the origin without bgsession (delivers nothing)
    await probe.goto(`${server.url}/no-such-page`);
    await waitFor(async () => (await readStore(probe, "events")).some((e) => e.taskId === ids.queued && e.event.type === "didCompleteWithError"), {
      what: "queued.bin finished with its events queued (old build)",
    });
    const before = {
      run: (await stored(probe, ids.run)).bytesReceived,
      susp: await stored(probe, ids.susp),
      queuedEvents: (await readStore(probe, "events")).filter((e) => e.taskId === ids.queued).map((e) => e.event.type),
    };
    assert.equal(before.susp.state, "suspended");
    assert.ok(before.run > 0 && before.run < SIZES.run, `run.bin is partly stored when the browser closes (${before.run})`);
    assert.equal(before.queuedEvents.at(-1), "didCompleteWithError");
    await context.close();
    await server.close();
    console.log(`# old build: state made in ${((Date.now() - t0) / 1000).toFixed(1)} s; run.bin ${before.run} of ${SIZES.run} bytes stored; queued: ${before.queuedEvents.join(", ")}`);

    // ---------------------------------------------------------------- this build, same origin, same profile
    server = await startServer({ port });
    context = await launch(profile);
    page = await within(30_000, openApp(context, server.url, errors), "the app of this build opens");
    // The queued events: relaunched for them, each delivered once, in order.
    await waitFor(async () => (await page.evaluate(() => window.log)).some((e) => e[0] === "didCompleteWithError" && e[1] === ids.queued), { what: "queued.bin's events delivered (new build)" });
    let log = await page.evaluate(() => window.log);
    assert.deepEqual(log[0], ["handleEventsForBackgroundURLSession", SESSION], "relaunched for the queued events");
    assertOrder(log, ids.queued);
    const queuedCalls = taskEvents(log, ids.queued).map((e) => e[0]);
    assert.deepEqual(queuedCalls.filter((m) => m !== "didWriteData"), before.queuedEvents.filter((m) => m !== "didWriteData"), "the queued events, in order");
    assertProgress(taskEvents(log, ids.queued), { size: SIZES.queued, what: "queued.bin" });

    // The running one goes on where the old build stopped, byte-exact.
    await waitFor(async () => (await page.evaluate(() => window.log)).some((e) => e[0] === "didCompleteWithError" && e[1] === ids.run), { timeout: 90_000, what: "run.bin finished (new build)" });
    // The suspended one, resumed by the app, goes on too.
    await withTask(page, ids.susp, (task) => task.resume());
    // The resume data of the old build continues.
    ids.resumed = await within(20_000, page.evaluate(
      async ({ session, data }) => {
        const task = window.openSession(session).downloadTaskWithResumeData(new Uint8Array(data));
        task.taskDescription = "cancel.bin";
        await task.resume();
        return task.taskIdentifier;
      },
      { session: SESSION, data: resumeData },
    ), "downloadTaskWithResumeData");
    for (const id of [ids.susp, ids.resumed]) {
      await waitFor(async () => (await page.evaluate(() => window.log)).some((e) => e[0] === "didCompleteWithError" && e[1] === id), { timeout: 60_000, what: `task ${id} finished (new build)` });
    }
    log = await page.evaluate(() => window.log);
    for (const id of [ids.run, ids.susp, ids.resumed]) assertOrder(log, id);
    const offset = (id) => taskEvents(log, id).find((e) => e[0] === "didResumeAtOffset")?.[2];
    assert.ok(offset(ids.resumed) > 0, `the resume data continued from its bytes (didResumeAtOffset ${offset(ids.resumed)})`);
    for (const name of ["run", "susp", "cancel"]) {
      const ranged = server.log.filter((e) => e.path === `/files/${name}.bin` && e.range);
      assert.ok(ranged.length >= 1 && ranged.every((e) => e.status === 206), `${name}.bin continued with Range (${JSON.stringify(ranged.map((e) => [e.range, e.status]))})`);
      assert.ok(!server.log.some((e) => e.path === `/files/${name}.bin` && !e.range), `${name}.bin: nothing fetched again from byte 0`);
    }
    for (const name of Object.keys(SIZES)) await assertFile(server, page, `file:///Documents/${name}.bin`, { name: `${name}.bin`, size: SIZES[name] });

    // Nothing delivered twice; nothing left to deliver.
    const twice = log.filter((e, i) => e[0] === "didCompleteWithError" && log.findIndex((f) => f[0] === e[0] && f[1] === e[1]) !== i);
    assert.deepEqual(twice, [], "no didCompleteWithError twice");
    await waitFor(async () => (await readStore(page, "events")).length === 0, { what: "the journal drained" });

    // usage() adds up: the five files, nothing in tmp, nothing held by the daemon,
    // and it equals the bytes really stored.
    const usage = await page.evaluate(() => window.bg.FileManager.default.usage());
    const files = Object.values(SIZES).reduce((a, b) => a + b, 0);
    assert.equal(usage.documents, files, `usage().documents: ${JSON.stringify(usage)}`);
    assert.equal(usage.tmp, 0, "no temp file left");
    assert.equal(usage.total, usage.tmp + usage.documents + usage.caches);
    assert.equal(usage.daemon, 0, "the daemon holds nothing more");
    assert.equal(await cachedBytes(page), usage.total + usage.daemon, "usage() = the bytes in the Cache API");
    assert.deepEqual(await readStore(page, "quarantine"), [], "nothing of the old build was unreadable");
    assert.deepEqual(errors, [], "no console errors");
    console.log(`# upgrade ${OLD} -> this build: everything finished in ${((Date.now() - t0) / 1000).toFixed(1)} s; run.bin continued at ${offset(ids.run) ?? "?"}; resume data at ${offset(ids.resumed)}`);
    await context.close();
  } finally {
    await server.close();
    await removeProfile(profile);
  }
});

test("a new worker script takes over (skipWaiting) while a transfer runs, a page open: the transfer ends byte-exact, nothing delivered twice", { timeout: 120_000 }, async () => {
  // Two builds of this code differing only in a version string: www/ as
  // built, and the same with the worker script saying "version B".
  const dir = await mkdtemp(join(tmpdir(), "bgsession-swap-"));
  await cp(join(REPO, "www"), join(dir, "www"), { recursive: true });
  const sw = join(dir, "www/bgsession-sw.js");
  const server = await startServer({ port: 0, root: join(dir, "www") });
  const size = 4 * MiB;
  try {
    await withBrowser(async ({ context, errors }) => {
      const page = await openApp(context, server.url, errors);
      const id = await startDownload(page, { session: SESSION, url: `${server.url}/files/swap.bin?size=${size}&rate=${512 * KiB}`, name: "swap.bin" });
      await waitStored(page, id, 512 * KiB, "swap.bin partly stored by worker A");
      await writeFile(sw, `${await readFile(sw, "utf8")}\n// bgsession worker, version B\n`);
      // The browser's update check (it runs one on navigations and events;
      // here, at once): B installs and skips waiting.
      const update = await within(30_000, page.evaluate(async () => {
        const reg = await navigator.serviceWorker.getRegistration();
        window.__a = reg.active;
        await reg.update();
        const b = (window.__b = reg.installing || reg.waiting);
        if (!b) return null;
        await new Promise((resolve) => {
          const check = () => b.state !== "installing" && resolve();
          b.addEventListener("statechange", check);
          check();
        });
        await new Promise((r) => setTimeout(r, 2000));
        return b.state;
      }), "the update to worker B");
      assert.ok(update, "the browser found worker B");
      // Chromium activates a worker that skipped waiting only once the old
      // one has no event in flight, and the daemon's events last while it
      // transfers (an open page re-extends them): B waits. The browser stops
      // A at its event cap (5 min); here, at once.
      const waited = update === "installed";
      if (waited) {
        const cdp = await context.newCDPSession(page);
        await cdp.send("ServiceWorker.enable");
        await cdp.send("ServiceWorker.stopAllWorkers");
      }
      const swap = await within(30_000, page.evaluate(async () => {
        const [a, b] = [window.__a, window.__b];
        const reg = await navigator.serviceWorker.getRegistration();
        const until = (w, ok) => new Promise((resolve) => {
          const check = () => ok(w.state) && resolve();
          w.addEventListener("statechange", check);
          check();
        });
        await until(b, (s) => s === "activating" || s === "activated");
        await until(a, (s) => s === "redundant");
        return { a: a.state, active: reg.active === b };
      }), "worker B taking over");
      const atSwap = (await stored(page, id))?.bytesReceived;
      assert.deepEqual(swap, { a: "redundant", active: true }, "B replaced A");
      assert.ok(atSwap < size, `the transfer was running when B took over (${atSwap} of ${size} stored)`);
      await waitFor(async () => (await page.evaluate(() => window.log)).some((e) => e[0] === "didCompleteWithError" && e[1] === id), { timeout: 60_000, what: "swap.bin finished under worker B" });
      // The page still talks to the daemon (now B): a command answers.
      const tasks = await within(10_000, page.evaluate((s) => window.openSession(s).getAllTasks().then((t) => t.length), SESSION), "getAllTasks after the swap");
      assert.ok(tasks >= 0);
      const log = await page.evaluate(() => window.log);
      const calls = assertTaskOrder(log, id, "(didWriteData|didResumeAtOffset)* didFinishDownloadingTo didCompleteWithError", "swap.bin");
      assertProgress(calls, { size, what: "swap.bin" });
      assertOrder(log, id);
      await assertFile(server, page, "file:///Documents/swap.bin", { name: "swap.bin", size });
      const requests = server.log.filter((e) => e.path === "/files/swap.bin");
      const sent = requests.reduce((n, e) => n + e.bytesSent, 0);
      assert.ok(requests.slice(1).every((e) => e.range && e.status === 206), `every later request continued with Range: ${JSON.stringify(requests.map((e) => [e.range, e.status]))}`);
      console.log(`# swap: B ${waited ? "waited for A's events (A stopped)" : "did not wait"}; ${atSwap} bytes stored when B took over; ${requests.length} requests, ${sent - size} bytes fetched again`);
    });
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
