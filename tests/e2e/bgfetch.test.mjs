// The Background Fetch transport: the same delegate view, but the browser's
// download service carries the transfer, so it needs no live worker.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { startServer, newProfile, removeProfile, launch, openApp, waitFor, watch, withBrowser } from "./harness.mjs";

let server;
before(async () => {
  server = await startServer({ port: 0 });
});
after(async () => {
  await server.close();
});

const MiB = 1 << 20;
const SESSION = "com.example.bgfetch";

async function start(page, path, name) {
  return page.evaluate(
    async ({ session, url, name }) => {
      const task = window.openSession(session, { transport: "backgroundFetch" }).downloadTask(url);
      task.taskDescription = name;
      await task.resume();
      return task.taskIdentifier;
    },
    { session: SESSION, url: `${server.url}${path}`, name },
  );
}

test("Background Fetch: tab closed, worker stopped 5 times: completes with no page, one request, byte-exact", async () => {
  const profile = await newProfile();
  const context = await launch(profile);
  const errors = [];
  try {
    const size = 16 * MiB;
    const name = "bgf.bin";
    const page = await openApp(context, server.url, errors);
    const id = await start(page, `/files/${name}?size=${size}&rate=${4 * MiB}`, name);
    await page.close();
    const observer = watch(await context.newPage(), errors);
    await observer.goto(`${server.url}/fixtures/observer.html`);
    const cdp = await context.newCDPSession(observer);
    await cdp.send("ServiceWorker.enable");
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 500));
      await cdp.send("ServiceWorker.stopAllWorkers");
    }
    await waitFor(
      async () => (await observer.evaluate(() => window.tasks())).some((t) => t.taskId === id && t.state === "completed"),
      { timeout: 60_000, interval: 250, what: "the Background Fetch task to complete with no app page" },
    );
    const reqs = server.log.filter((e) => e.path === `/files/${name}`);
    assert.equal(reqs.length, 1, "one request: the browser's download service was never interrupted");
    assert.ok(reqs[0].completed);
    await observer.close();

    const page2 = await openApp(context, server.url, errors);
    await page2.waitForFunction(() => window.log.some((e) => e[0] === "urlSessionDidFinishEvents"), null, { timeout: 30_000 });
    const log = await page2.evaluate(() => window.log);
    const mine = log.filter((e) => e[1] === id && e[0].startsWith("did"));
    assert.deepEqual(mine.slice(-2).map((e) => e[0]), ["didFinishDownloadingTo", "didCompleteWithError"]);
    assert.equal(mine.filter((e) => e[0] === "didCompleteWithError").length, 1);
    assert.equal(mine.at(-1)[2], null);
    const got = await page2.evaluate((n) => window.sha256Of(`file:///Documents/${n}`), name);
    const want = await (await fetch(`${server.url}/sha256?size=${size}&name=${name}`)).json();
    assert.equal(got.sha256, want.sha256, "byte-exact");
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await removeProfile(profile);
  }
});

test("Background Fetch: live progress, and a 404 finishes with its body and statusCode 404", async () => {
  const profile = await newProfile();
  const context = await launch(profile);
  const errors = [];
  try {
    const page = await openApp(context, server.url, errors);
    const ok = await start(page, `/files/live.bin?size=${4 * MiB}&rate=${2 * MiB}`, "live.bin");
    const missing = await start(page, `/files/missing.bin?size=1000&status=404`, "missing.bin");
    await page.waitForFunction(
      (ids) => ids.every((id) => window.log.some((e) => e[0] === "didCompleteWithError" && e[1] === id)),
      [ok, missing],
      { timeout: 60_000 },
    );
    const log = await page.evaluate(() => window.log);
    assert.ok(log.filter((e) => e[0] === "didWriteData" && e[1] === ok).length >= 2, "progress while the browser downloads");
    const fin = log.find((e) => e[0] === "didFinishDownloadingTo" && e[1] === missing);
    assert.equal(fin[3], 404, "statusCode 404");
    assert.equal(log.find((e) => e[0] === "didCompleteWithError" && e[1] === missing)[2], null, "not a task error");
    const file = await page.evaluate(() => window.sha256Of("file:///Documents/missing.bin"));
    const want = await (await fetch(`${server.url}/sha256?size=1000&name=missing.bin`)).json();
    assert.equal(file.sha256, want.sha256);
    const live = await page.evaluate(() => window.sha256Of("file:///Documents/live.bin"));
    const wantLive = await (await fetch(`${server.url}/sha256?size=${4 * MiB}&name=live.bin`)).json();
    assert.equal(live.sha256, wantLive.sha256);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await removeProfile(profile);
  }
});

test("Background Fetch: browser killed and restarted: the browser's download service finishes it", async () => {
  const profile = await newProfile();
  let context = await launch(profile);
  const errors = [];
  try {
    const size = 8 * MiB;
    const name = "bgf-restart.bin";
    const page = await openApp(context, server.url, errors);
    const id = await start(page, `/files/${name}?size=${size}&rate=${2 * MiB}`, name);
    // Kill mid-transfer, by the server's count of bytes sent.
    await waitFor(() => server.log.some((e) => e.path === `/files/${name}` && e.bytesSent >= size / 4), {
      timeout: 30_000,
      what: "a quarter of the body sent",
    });
    execFileSync("pkill", ["-KILL", "-f", "--", `user-data-dir=${profile}`]);
    await context.close().catch(() => {});
    context = await launch(profile);
    const page2 = await openApp(context, server.url, errors);
    await page2.evaluate((s) => window.openSession(s, { transport: "backgroundFetch" }).ready, SESSION);
    await page2.waitForFunction((id) => window.log.some((e) => e[0] === "didCompleteWithError" && e[1] === id), id, { timeout: 90_000 });
    const log = await page2.evaluate(() => window.log);
    const mine = log.filter((e) => e[1] === id && e[0].startsWith("did"));
    assert.deepEqual(mine.slice(-2).map((e) => e[0]), ["didFinishDownloadingTo", "didCompleteWithError"]);
    assert.equal(mine.at(-1)[2], null);
    const got = await page2.evaluate((n) => window.sha256Of(`file:///Documents/${n}`), name);
    const want = await (await fetch(`${server.url}/sha256?size=${size}&name=${name}`)).json();
    assert.equal(got.sha256, want.sha256, "byte-exact");
    const reqs = server.log.filter((e) => e.path === `/files/${name}`);
    console.log(`# Background Fetch across a browser kill: ${reqs.length} requests: ${JSON.stringify(reqs.map((r) => [r.status, r.range, r.bytesSent, r.completed]))}`);
    assert.equal(reqs[0].completed, false, "the first request died with the browser");
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await removeProfile(profile);
  }
});

test("Background Fetch: suspend aborts the browser's download and forgets it; resume starts a new one and finishes byte-exact", async () => {
  await withBrowser(async ({ context, errors }) => {
    const size = 8 * MiB;
    const name = "bgf-suspend.bin";
    const page = await openApp(context, server.url, errors);
    const id = await start(page, `/files/${name}?size=${size}&rate=${2 * MiB}`, name);
    await waitFor(() => server.log.some((e) => e.path === `/files/${name}` && e.bytesSent >= MiB), { timeout: 30_000, what: "1 MiB sent" });
    await page.evaluate(async ({ session, id }) => {
      const tasks = await window.openSession(session).getAllTasks();
      await tasks.find((t) => t.taskIdentifier === id).suspend();
    }, { session: SESSION, id });
    // The stored record, read straight from IndexedDB.
    const stored = () => page.evaluate(({ session, id }) => new Promise((resolve, reject) => {
      const req = indexedDB.open("bgsession");
      req.onerror = () => reject(req.error);
      req.onsuccess = () => {
        const r = req.result.transaction("tasks").objectStore("tasks").get([session, id]);
        r.onsuccess = () => { req.result.close(); resolve(r.result); };
        r.onerror = () => reject(r.error);
      };
    }), { session: SESSION, id });
    const suspended = await stored();
    assert.equal(suspended.state, "suspended");
    assert.equal(suspended.bgFetchId ?? null, null, "the aborted registration is forgotten");
    const regs = await page.evaluate(async () => (await (await navigator.serviceWorker.ready).backgroundFetch.getIds()));
    assert.deepEqual(regs, [], "no Background Fetch left running");

    await page.evaluate(async ({ session, id }) => {
      const tasks = await window.openSession(session).getAllTasks();
      await tasks.find((t) => t.taskIdentifier === id).resume();
    }, { session: SESSION, id });
    await page.waitForFunction((id) => window.log.some((e) => e[0] === "didCompleteWithError" && e[1] === id), id, { timeout: 60_000 });
    const log = await page.evaluate(() => window.log);
    assert.equal(log.find((e) => e[0] === "didCompleteWithError" && e[1] === id)[2], null);
    const got = await page.evaluate((n) => window.sha256Of(`file:///Documents/${n}`), name);
    const want = await (await fetch(`${server.url}/sha256?size=${size}&name=${name}`)).json();
    assert.equal(got.sha256, want.sha256, "byte-exact");
    const reqs = server.log.filter((e) => e.path === `/files/${name}`);
    assert.equal(reqs.length, 2, "the suspended download, then a new one from zero");
    assert.equal(reqs[1].range ?? null, null);
    assert.ok(reqs[1].completed);
  });
});
