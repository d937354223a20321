// The fault suite: every fault a browser and a network can throw at a
// download, in real headless Chromium with a persistent profile. Each case
// ends with the file byte-exact (SHA-256) or a clear NSURLError, and the
// delegate log showing each terminal event once, in Apple's order.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { startServer, newProfile, removeProfile, launch, openApp, waitFor } from "./harness.mjs";
import { startDownload, assertOrder } from "./order-helpers.mjs";

let server;
before(async () => {
  server = await startServer({ port: 0 });
});
after(async () => {
  await server.close();
});

const MiB = 1 << 20;

// Runs `body` with a fresh profile and an app page; checks no console errors.
async function withApp(body) {
  const profile = await newProfile();
  let context = await launch(profile);
  const errors = [];
  // Kills Chromium outright (SIGKILL, no graceful shutdown), then starts it
  // again on the same profile.
  const relaunch = async () => {
    execFileSync("pkill", ["-KILL", "-f", "--", `user-data-dir=${profile}`]);
    await context.close().catch(() => {});
    context = await launch(profile);
    return context;
  };
  try {
    const page = await openApp(context, server.url, errors);
    const last = await body({ page, context: () => context, relaunch, errors });
    assert.deepEqual(await (last || page).evaluate(() => window.pendingJournal()), [], "every journalled event delivered and acknowledged");
    assert.deepEqual(errors, [], "no console errors");
  } finally {
    await context.close();
    await removeProfile(profile);
  }
}

const start = (page, { session = "com.example.faults", path, name, options }) =>
  startDownload(page, { session, url: `${server.url}${path}`, name, options });

const log = (page) => page.evaluate(() => window.log);

async function waitDone(page, id, timeout = 90_000) {
  await waitFor(async () => (await log(page)).some((e) => e[0] === "didCompleteWithError" && e[1] === id), {
    timeout,
    interval: 100,
    what: `task ${id} to complete`,
  });
  return log(page);
}

async function waitBytes(page, id, atLeast) {
  await waitFor(async () => (await log(page)).some((e) => e[0] === "didWriteData" && e[1] === id && e[3] >= atLeast), {
    timeout: 60_000,
    what: `task ${id} to store ${atLeast} bytes`,
  });
}


async function assertFile(page, name, { size, seed, flip = false }) {
  const got = await page.evaluate((loc) => window.sha256Of(loc), `file:///Documents/${name}`);
  const q = seed === undefined ? `name=${name}` : `seed=${seed}`;
  const want = await (await fetch(`${server.url}/sha256?size=${size}&${q}${flip ? "&flip=1" : ""}`)).json();
  assert.equal(got.size, size, `${name}: size`);
  assert.equal(got.sha256, want.sha256, `${name}: SHA-256 equals the served bytes`);
}

const requestsFor = (path) => server.log.filter((e) => e.path === path);
const sentFor = (path) => requestsFor(path).reduce((n, e) => n + e.bytesSent, 0);

test("worker stopped 5 times mid-transfer: resumes each time, byte-exact", async () => {
  await withApp(async ({ page, context }) => {
    const size = 32 * MiB;
    const name = "five-kills.bin";
    const cdp = await context().newCDPSession(page);
    await cdp.send("ServiceWorker.enable");
    const id = await start(page, { path: `/files/${name}?size=${size}&rate=${3 * MiB}`, name });
    // Each kill comes after the previous one was recovered from: the task
    // resumed and stored a new segment.
    for (let kill = 0; kill < 5; kill++) {
      await waitFor(
        async () => {
          const entries = (await log(page)).filter((e) => e[1] === id);
          const resumes = entries.filter((e) => e[0] === "didResumeAtOffset").length;
          const lastResume = entries.map((e) => e[0]).lastIndexOf("didResumeAtOffset");
          const wrote = entries.findIndex((e, i) => i > lastResume && e[0] === "didWriteData") !== -1;
          return resumes === kill && wrote;
        },
        { timeout: 30_000, what: `recovery before kill ${kill + 1}` },
      );
      await cdp.send("ServiceWorker.stopAllWorkers");
    }
    const entries = await waitDone(page, id);
    assertOrder(entries, id);
    assert.ok(entries.filter((e) => e[0] === "didResumeAtOffset" && e[1] === id).length >= 5, "resumed after each kill");
    const reqs = requestsFor(`/files/${name}`);
    assert.ok(reqs.length >= 6, "a request per kill");
    assert.ok(reqs.slice(1).every((r) => r.range && r.status === 206), "every later request is a Range answered 206");
    const refetched = sentFor(`/files/${name}`) - size;
    console.log(`# 5 worker kills: ${reqs.length} requests, ${(refetched / MiB).toFixed(2)} MiB fetched again in all`);
    await assertFile(page, name, { size });
  });
});

test("browser killed and restarted with the same profile: the download resumes", async () => {
  await withApp(async ({ page, relaunch, errors }) => {
    const size = 16 * MiB;
    const name = "restart.bin";
    const session = "com.example.restart";
    const id = await start(page, { session, path: `/files/${name}?size=${size}&rate=${4 * MiB}`, name });
    await waitBytes(page, id, 0.3 * size);
    const context = await relaunch(); // closes Chromium, starts it again on the same profile
    const page2 = await openApp(context, server.url, errors);
    await page2.evaluate((s) => window.openSession(s).ready, session);
    const entries = await waitDone(page2, id);
    assertOrder(entries, id);
    assert.ok(entries.some((e) => e[0] === "didResumeAtOffset" && e[1] === id && e[2] > 0), "resumed from stored bytes");
    const reqs = requestsFor(`/files/${name}`);
    assert.ok(reqs.slice(0, -1).some((r) => !r.completed), "a request died with the browser");
    assert.equal(reqs.at(-1).status, 206, "the download resumed with a Range");
    assert.ok(reqs.at(-1).range.startsWith(`bytes=${reqs.at(-1).range.split("=")[1].split("-")[0]}`));
    await assertFile(page2, name, { size });
    return page2;
  });
});

test("connection cut at 20 random offsets: retried with Range, byte-exact", async () => {
  await withApp(async ({ page }) => {
    const size = 24 * MiB;
    const name = "cuts.bin";
    let seed = 20261125;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const offsets = [...new Set(Array.from({ length: 20 }, () => Math.floor(1 + rand() * (size - 2))))].sort((a, b) => a - b);
    assert.equal(offsets.length, 20);
    // 8 MiB/s: well under the 50 MiB/s at which the 1 MiB probe switches to
    // bounded segments, so this checks the streamed path (at 24 MiB/s a
    // bursty probe was sometimes judged fast: a bounded segment cut loses
    // its bytes, which is the fast path's documented trade-off).
    const id = await start(page, { path: `/files/${name}?size=${size}&rate=${8 * MiB}&cut=${offsets.join(",")}`, name });
    const entries = await waitDone(page, id, 120_000);
    const reqs = requestsFor(`/files/${name}`);
    const shown = reqs.map((r) => `${r.range} ${r.status} +${r.start - reqs[0].start} ms ${r.bytesSent} B${r.cutAt !== null ? ` cut@${r.cutAt}` : ""}${r.aborted ? " aborted" : ""}`).join("; ");
    // A failure says why, with the requests (a rare -1001 seen once: which request stalled?).
    const reason = await page.evaluate((id) => window.errors?.[id]?.userInfo?.NSLocalizedFailureReason ?? null, id);
    assert.equal(reason, null, `the task failed: ${reason}; requests: ${shown}`);
    assertOrder(entries, id);
    assert.equal(reqs.filter((r) => r.cutAt !== null).length, 20, "all 20 cuts happened");
    // The first request is a 1 MiB probe; then one request per cut, and the last.
    assert.ok(reqs.length >= 21 && reqs.length <= 22, `one retry per cut (${reqs.length} requests: ${shown})`);
    assert.ok(reqs.every((r) => r.status === 206), "every request was a Range answered 206");
    const refetched = sentFor(`/files/${name}`) - size;
    console.log(`# 20 cuts: ${(refetched / 1024).toFixed(1)} KiB fetched again in all`);
    assert.ok(refetched < MiB, `the bytes before each cut were kept (${refetched} B fetched again; requests: ${shown})`);
    await assertFile(page, name, { size });
  });
});

test("503 with Retry-After: waits as asked, then downloads", async () => {
  await withApp(async ({ page }) => {
    const size = 2 * MiB;
    const name = "busy.bin";
    const t0 = Date.now();
    const id = await start(page, { path: `/files/${name}?size=${size}&fail503=2&retryAfter=1`, name });
    const entries = await waitDone(page, id);
    const elapsed = Date.now() - t0;
    assertOrder(entries, id);
    const reqs = requestsFor(`/files/${name}`);
    assert.deepEqual(reqs.slice(0, 2).map((r) => r.status), [503, 503]);
    assert.ok(reqs.slice(2).every((r) => r.status === 206 && r.completed), "then answered");
    assert.ok(reqs[1].start - reqs[0].start >= 950 && reqs[2].start - reqs[1].start >= 950, "Retry-After: 1 s honoured");
    assert.ok(elapsed >= 1900);
    await assertFile(page, name, { size });
  });
});

test("a server that answers 200 to a Range: restarts from zero, byte-exact", async () => {
  await withApp(async ({ page }) => {
    const size = 8 * MiB;
    const name = "norange.bin";
    const id = await start(page, { path: `/files/${name}?size=${size}&ignoreRange=1&cut=${5 * MiB}`, name });
    const entries = await waitDone(page, id);
    assertOrder(entries, id);
    const reqs = requestsFor(`/files/${name}`);
    assert.ok(reqs.length >= 2);
    assert.ok(reqs.slice(1).some((r) => r.range && r.status === 200), "a later request asked for a Range and got the whole body");
    const resumes = entries.filter((e) => e[0] === "didResumeAtOffset");
    assert.deepEqual(resumes.map((e) => e[2]), [0], "didResumeAtOffset(0): the stored bytes could not be reused (as Apple documents)");
    await assertFile(page, name, { size });
  });
});

test("the ETag changes mid-transfer: the stale bytes are dropped, the new file is exact", async () => {
  await withApp(async ({ page }) => {
    const size = 8 * MiB;
    const name = "flip.bin";
    const id = await start(page, { path: `/files/${name}?size=${size}&flipAfter=1&cut=${3 * MiB}`, name });
    const entries = await waitDone(page, id);
    assertOrder(entries, id);
    const reqs = requestsFor(`/files/${name}`);
    assert.ok(reqs.some((r) => r.ifRange && r.status === 200), "If-Range did not match: the whole new body");
    await assertFile(page, name, { size, flip: true });
  });
});

test("a short body (fewer bytes than Content-Length) is never success", async () => {
  await withApp(async ({ page }) => {
    const size = 4 * MiB;
    const name = "short.bin";
    const id = await start(page, { path: `/files/${name}?size=${size}&short=1&shortBy=4096`, name });
    const entries = await waitDone(page, id);
    assertOrder(entries, id);
    const reqs = requestsFor(`/files/${name}`);
    const short = reqs.findIndex((r) => r.shortAt !== null);
    assert.ok(short >= 0, "a short answer was sent");
    assert.ok(reqs.length > short + 1, "and retried");
    assert.ok(reqs.slice(short + 1).every((r) => r.status === 206), "with Ranges");
    const refetched = sentFor(`/files/${name}`) - size;
    console.log(`# short body: ${refetched} bytes fetched again (the short answer carried ${reqs[short].bytesSent})`);
    assert.ok(refetched <= reqs[short].bytesSent, "at most the broken answer is fetched again");
    await assertFile(page, name, { size });
  });
});

test("quota exceeded: -3003 with a message; other files untouched", async () => {
  await withApp(async ({ page, context }) => {
    const keep = "keep.bin";
    const id1 = await start(page, { path: `/files/${keep}?size=${MiB}`, name: keep });
    await waitDone(page, id1);
    const cdp = await context().newCDPSession(page);
    await cdp.send("Storage.overrideQuotaForOrigin", { origin: server.url, quotaSize: 8 * MiB });
    const big = "too-big.bin";
    const id2 = await start(page, { path: `/files/${big}?size=${64 * MiB}`, name: big });
    const entries = await waitDone(page, id2);
    assertOrder(entries, id2, { error: -3003 });
    const error = await page.evaluate((id) => window.errors[id], id2);
    assert.equal(error.domain, "NSURLErrorDomain");
    assert.match(error.userInfo.NSLocalizedFailureReason, /quota/i);
    await assertFile(page, keep, { size: MiB });
    const tmp = await page.evaluate(() => window.bg.FileManager.default.contentsOfDirectory("file:///tmp"));
    assert.deepEqual(tmp, []);
    await cdp.send("Storage.overrideQuotaForOrigin", { origin: server.url });
  });
});

test("resume data: cancel at ~50 %, resume from the data, byte-exact", async () => {
  await withApp(async ({ page }) => {
    const size = 16 * MiB;
    const name = "resumable.bin";
    const id = await start(page, { path: `/files/${name}?size=${size}&rate=${4 * MiB}`, name });
    await waitBytes(page, id, size / 2);
    const result = await page.evaluate(async (id) => {
      const session = window.sessions["com.example.faults"];
      const [task] = (await session.getAllTasks()).filter((t) => t.taskIdentifier === id);
      const data = await task.cancelByProducingResumeData();
      await new Promise((r) => {
        const check = () => (window.log.some((e) => e[0] === "didCompleteWithError" && e[1] === id) ? r() : setTimeout(check, 50));
        check();
      });
      const resumed = session.downloadTaskWithResumeData(data);
      resumed.taskDescription = "resumable.bin";
      await resumed.resume();
      return { length: data && data.length, isBytes: data instanceof Uint8Array, newId: resumed.taskIdentifier };
    }, id);
    assert.ok(result.isBytes && result.length > 0, "resume data is a Uint8Array");
    const entries = await waitDone(page, result.newId);
    assertOrder(entries, id, { error: -999 });
    assertOrder(entries, result.newId);
    const offset = entries.find((e) => e[0] === "didResumeAtOffset" && e[1] === result.newId)[2];
    assert.ok(offset >= size / 4, `resumed at ${offset}`);
    const reqs = requestsFor(`/files/${name}`);
    assert.equal(reqs.at(-1).status, 206);
    assert.equal(reqs.at(-1).range, `bytes=${offset}-`);
    await assertFile(page, name, { size });
  });
});

// Apple: "Any upload or download tasks created by a background session are
// automatically retried if the original request fails due to a timeout"
// (timeoutIntervalForResource bounds them). Until 2026-12-06 this test
// asserted the task ended with -1001, which is what a default session does,
// not a background one.
test("timeoutIntervalForRequest: a stalled body is retried from the stored bytes, as a background session does, byte-exact", async () => {
  await withApp(async ({ page }) => {
    const name = "stall.bin";
    const size = 4 * MiB;
    const id = await start(page, {
      session: "com.example.timeouts",
      options: { timeoutIntervalForRequest: 1.5 },
      path: `/files/${name}?size=${size}&stallAt=${MiB}&stallMs=6000`,
      name,
    });
    const entries = await waitDone(page, id);
    assertOrder(entries, id);
    const reqs = requestsFor(`/files/${name}`);
    const stalled = reqs.findIndex((r) => r.stalledAt !== null);
    assert.ok(stalled >= 0, "the server stalled a response");
    const retry = reqs[stalled + 1];
    assert.ok(retry, `and it was retried: ${reqs.map((r) => `${r.range} ${r.status}`).join("; ")}`);
    assert.ok(retry.start < reqs[stalled].start + 6000, "the retry did not wait for the stall to end: the request timed out");
    assert.equal(retry.status, 206);
    assert.ok(Number(/^bytes=(\d+)-/.exec(retry.range)?.[1]) >= MiB, `the retry goes on from the stored bytes (${retry.range})`);
    await assertFile(page, name, { size });
  });
});

test("offline → online: taskIsWaitingForConnectivity, then the download continues", async () => {
  await withApp(async ({ page, context }) => {
    const size = 8 * MiB;
    const name = "offline.bin";
    // Offline emulation only stops new requests: the connection is cut at
    // 4 MiB while offline, and the retry then finds no network.
    const id = await start(page, { path: `/files/${name}?size=${size}&rate=${2 * MiB}&cut=${4 * MiB}`, name });
    await waitBytes(page, id, size / 8);
    await context().setOffline(true);
    await waitFor(async () => (await log(page)).some((e) => e[0] === "taskIsWaitingForConnectivity" && e[1] === id), {
      timeout: 20_000,
      what: "taskIsWaitingForConnectivity",
    });
    await new Promise((r) => setTimeout(r, 1500));
    await context().setOffline(false);
    const entries = await waitDone(page, id);
    assertOrder(entries, id);
    assert.equal(entries.filter((e) => e[0] === "taskIsWaitingForConnectivity").length, 1, "told once");
    await assertFile(page, name, { size });
  });
});
