// The daemon killed mid-transfer (CDP ServiceWorker.stopAllWorkers) resumes
// from its stored segments with Range/If-Range when it is woken again.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, newProfile, removeProfile, launch, openApp, waitFor } from "./harness.mjs";
import { assertOrder, assertFile, startDownloadHoldingItsLock } from "./order-helpers.mjs";

let server;
before(async () => {
  server = await startServer({ port: 0 });
});
after(async () => {
  await server.close();
});

test("a worker killed at ~50 % resumes with Range and the file is byte-exact", async () => {
  const profile = await newProfile();
  const context = await launch(profile);
  const errors = [];
  const size = 24 << 20;
  const rate = 4 << 20; // ~6 s
  try {
    const page = await openApp(context, server.url, errors);
    const cdp = await context.newCDPSession(page);
    await cdp.send("ServiceWorker.enable");
    await page.evaluate(
      async ({ base, size, rate }) => {
        const task = window.openSession("com.example.kill").downloadTask(`${base}/files/kill.bin?size=${size}&rate=${rate}`);
        task.taskDescription = "kill.bin";
        await task.resume();
      },
      { base: server.url, size, rate },
    );
    await waitFor(
      () => page.evaluate((half) => window.log.some((e) => e[0] === "didWriteData" && e[3] >= half), size / 2),
      { what: "half the bytes stored", timeout: 30_000 },
    );
    await cdp.send("ServiceWorker.stopAllWorkers");
    const stoppedAt = Date.now();
    await page.waitForFunction(() => window.log.some((e) => e[0] === "didCompleteWithError"), null, { timeout: 60_000 });
    const log = await page.evaluate(() => window.log);
    const done = log.find((e) => e[0] === "didCompleteWithError");
    assert.equal(done[2], null, "completed without error");
    const resumed = log.find((e) => e[0] === "didResumeAtOffset");
    assert.ok(resumed, "didResumeAtOffset delivered");
    const requests = server.log.filter((e) => e.path === "/files/kill.bin");
    assert.ok(requests.length >= 2, "a second request after the kill");
    const ranged = requests.filter((e) => e.headers.range);
    assert.ok(ranged.length >= 1, "the resumed request asked for a Range");
    assert.equal(ranged[0].status, 206);
    const sent = requests.reduce((n, e) => n + e.bytesSent, 0);
    const refetched = sent - size;
    const beforeKill = requests.slice(0, -1).reduce((n, e) => n + e.bytesSent, 0);
    console.log(`# worker killed after ${beforeKill} bytes sent; resumed at ${resumed[2]}; re-fetched ${refetched} bytes (${(refetched / 2 ** 20).toFixed(2)} MiB); woke ${((Date.now() - stoppedAt) / 1000).toFixed(1)} s after the kill`);
    assert.ok(refetched <= 16 << 20, "at most one segment fetched again");
    const got = await page.evaluate(() => window.sha256Of("file:///Documents/kill.bin"));
    const want = await (await fetch(`${server.url}/sha256?size=${size}&name=kill.bin`)).json();
    assert.equal(got.sha256, want.sha256, "byte-exact");
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await removeProfile(profile);
  }
});

test("simulateDaemonKill: the daemon drops its transfers, announces it, and resumes on the next wake", async () => {
  const profile = await newProfile();
  const context = await launch(profile);
  const errors = [];
  const size = 12 << 20;
  try {
    const page = await openApp(context, server.url, errors);
    await page.evaluate(() => {
      window.daemonEvents = [];
      new BroadcastChannel("bgsession").onmessage = (e) => e.data.type === "daemon" && window.daemonEvents.push(e.data.event);
    });
    await page.evaluate(
      async ({ base, size }) => {
        const task = window.openSession("com.example.simkill").downloadTask(`${base}/files/simkill.bin?size=${size}&rate=${3 << 20}`);
        task.taskDescription = "simkill.bin";
        await task.resume();
      },
      { base: server.url, size },
    );
    await waitFor(() => page.evaluate(() => window.log.some((e) => e[0] === "didWriteData")), { what: "progress" });
    const stopped = await page.evaluate(() => window.sessions["com.example.simkill"].simulateDaemonKill());
    assert.equal(stopped, 1, "one transfer stopped");
    await page.waitForFunction(() => window.log.some((e) => e[0] === "didCompleteWithError"), null, { timeout: 60_000 });
    const log = await page.evaluate(() => window.log);
    assert.ok(log.some((e) => e[0] === "didResumeAtOffset"), "resumed from the stored segments");
    assert.equal(log.find((e) => e[0] === "didCompleteWithError")[2], null);
    const events = await page.evaluate(() => window.daemonEvents);
    assert.ok(events.includes("killed"), `daemon events: ${events}`);
    assert.ok(events.indexOf("started", events.indexOf("killed")) > 0, "started again after the kill");
    const got = await page.evaluate(() => window.sha256Of("file:///Documents/simkill.bin"));
    const want = await (await fetch(`${server.url}/sha256?size=${size}&name=simkill.bin`)).json();
    assert.equal(got.sha256, want.sha256);
    const status = await page.evaluate(() => window.sessions["com.example.simkill"].daemonStatus());
    assert.equal(status.transfers, 0);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await removeProfile(profile);
  }
});

// The daemon takes a Web Lock per task while it transfers it, so that two
// workers never run one task (the previous version during a handover, or a
// second registration of the daemon). Here the page holds that lock, as
// another worker would: the daemon waits for it, counting no failure. It
// used to count each try as a lost connection and fail the task with -1005
// after its 6 tries (15.5–31 s of backoff); the lock is held 35 s.
test("a task whose lock another context holds waits for it (35 s, past the tries a lost connection gets), then ends byte-exact, once", async () => {
  const profile = await newProfile();
  const context = await launch(profile);
  const errors = [];
  const size = 256 << 10;
  const SESSION = "com.example.busy";
  try {
    const page = await openApp(context, server.url, errors);
    const id = await startDownloadHoldingItsLock(page, { session: SESSION, url: `${server.url}/files/busy.bin?size=${size}`, name: "busy.bin" });
    await new Promise((r) => setTimeout(r, 35_000));
    assert.deepEqual(await page.evaluate(() => window.log.filter((e) => e[0] === "didCompleteWithError")), [], "no completion while the lock is held");
    assert.equal(await page.evaluate(() => window.busyTask.state), "running");
    assert.equal(server.log.filter((e) => e.path === "/files/busy.bin").length, 0, "nothing fetched while another context holds the task");
    await page.evaluate(() => window.releaseTaskLock());
    await page.waitForFunction((id) => window.log.some((e) => e[0] === "didCompleteWithError" && e[1] === id), id, { timeout: 30_000 });
    const log = await page.evaluate(() => window.log);
    assertOrder(log, id);
    await assertFile(server, page, "file:///Documents/busy.bin", { name: "busy.bin", size });
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await removeProfile(profile);
  }
});
