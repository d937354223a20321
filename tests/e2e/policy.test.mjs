// When a task may start: earliestBeginDate with willBeginDelayedRequest
// (continue, a new request, cancel; asked again of a relaunched app), the
// network rules (allowsCellularAccess, isDiscretionary) under simulated
// conditions, and sessionSendsLaunchEvents' notification.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, openApp, waitFor, watch, withBrowser as withBrowserIn } from "./harness.mjs";

let server;
before(async () => {
  server = await startServer({ port: 0 });
});
after(async () => {
  await server.close();
});

const methodsOf = (log, id) => log.filter((e) => e[1] === id).map((e) => e[0]);
const requestsFor = (name) => server.log.filter((e) => e.path === `/files/${name}`);

const withBrowser = (fn, { permissions = [] } = {}) =>
  withBrowserIn(({ context, errors }) => fn(context, errors), { permissions, origin: server.url });

test("earliestBeginDate + willBeginDelayedRequest: asked at the date; continue, a new request, or cancel", async () => {
  await withBrowser(async (context, errors) => {
    const page = await openApp(context, server.url, errors);
    const ids = await page.evaluate(async ({ base }) => {
      window.delayedAnswer = (task, request) =>
        task.taskDescription === "cancel" ? "cancel" : task.taskDescription === "swap" ? { url: `${base}/files/swapped.bin?size=5000` } : "continue";
      const s = window.openSession("com.example.delay");
      const at = new Date(Date.now() + 1500);
      const out = {};
      for (const name of ["go", "swap", "cancel"]) {
        const t = s.downloadTask(`${base}/files/${name}.bin?size=4000`);
        t.taskDescription = name;
        t.earliestBeginDate = at;
        await t.resume();
        out[name] = t.taskIdentifier;
        (window.byName = window.byName || {})[name] = t;
      }
      return out;
    }, { base: server.url });
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(server.log.filter((e) => e.path.startsWith("/files/")).length, 0, "nothing starts before earliestBeginDate");
    await page.waitForFunction((ids) => Object.values(ids).every((id) => window.log.some((e) => e[0] === "didCompleteWithError" && e[1] === id)), ids, { timeout: 30_000 });
    const log = await page.evaluate(() => window.log);
    assert.deepEqual(methodsOf(log, ids.go).filter((m) => m !== "didWriteData"), ["willBeginDelayedRequest", "didFinishDownloadingTo", "moved", "didCompleteWithError"]);
    assert.equal(log.find((e) => e[0] === "willBeginDelayedRequest" && e[1] === ids.go)[2], `${server.url}/files/go.bin?size=4000`, "the delegate sees the request");
    assert.equal(log.find((e) => e[0] === "didCompleteWithError" && e[1] === ids.cancel)[2], -999, "cancel ends the task with -999");
    assert.deepEqual(methodsOf(log, ids.cancel), ["willBeginDelayedRequest", "didCompleteWithError"]);
    assert.equal(requestsFor("cancel.bin").length, 0, "a cancelled delayed task makes no request");
    assert.equal(requestsFor("swap.bin").length, 0, "the new request replaced the original");
    assert.ok(requestsFor("swapped.bin").length >= 1);
    const swap = await page.evaluate(() => ({ original: window.byName.swap.originalRequest.url, current: window.byName.swap.currentRequest.url }));
    assert.match(swap.original, /swap\.bin/);
    assert.match(swap.current, /swapped\.bin/);
    const first = Math.min(...server.log.filter((e) => e.path.startsWith("/files/")).map((e) => e.start));
    assert.ok(first >= (await page.evaluate(() => window.byName.go.earliestBeginDate.getTime())) - 50, "the first request came after earliestBeginDate");
  });
});

test("a delayed task whose app is closed waits for it; the relaunched app is asked, then the task runs; a notification announces it", async () => {
  await withBrowser(
    async (context, errors) => {
      const page1 = await openApp(context, server.url, errors);
      const id = await page1.evaluate(async ({ base }) => {
        const s = window.openSession("com.example.delay2");
        const t = s.downloadTask(`${base}/files/later.bin?size=3000`);
        t.earliestBeginDate = Date.now() + 800;
        await t.resume();
        return t.taskIdentifier;
      }, { base: server.url });
      await page1.close();
      // The date passes with no page: the daemon asks (journal) and notifies.
      const observer = watch(await context.newPage(), errors);
      await observer.goto(`${server.url}/fixtures/observer.html`);
      const note = await waitFor(
        () => observer.evaluate(async () => {
          const reg = await navigator.serviceWorker.getRegistration("/");
          const all = reg ? await reg.getNotifications() : [];
          return all.map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data }))[0];
        }),
        { timeout: 20_000, interval: 250, what: "a launch notification" },
      );
      assert.equal(note.tag, "bgsession:com.example.delay2");
      assert.match(note.body, /needs the app to answer willBeginDelayedRequest/);
      assert.equal(note.data.url, `${server.url}/fixtures/app.html`, "the click opens the page that made the session");
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(requestsFor("later.bin").length, 0, "not started without the app's answer");
      await observer.close();

      const page2 = await openApp(context, server.url, errors);
      await page2.waitForFunction(() => window.log.some((e) => e[0] === "urlSessionDidFinishEvents") && window.log.some((e) => e[0] === "didCompleteWithError"), null, { timeout: 30_000 });
      const log = await page2.evaluate(() => window.log);
      assert.equal(log[0][0], "handleEventsForBackgroundURLSession");
      assert.equal(methodsOf(log, id)[0], "willBeginDelayedRequest");
      assert.equal(log.find((e) => e[0] === "didCompleteWithError")[2], null);
      assert.ok(requestsFor("later.bin").length >= 1);
    },
    { permissions: ["notifications"] },
  );
});

test("allowsCellularAccess = false waits on a (simulated) cellular link; a discretionary task waits for a good, idle link", async () => {
  await withBrowser(async (context, errors) => {
    const page = await openApp(context, server.url, errors);
    const ids = await page.evaluate(async ({ base }) => {
      const wifiOnly = window.openSession("com.example.wifi", { allowsCellularAccess: false });
      await wifiOnly.simulateNetworkConditions({ type: "cellular", effectiveType: "4g" });
      const t = wifiOnly.downloadTask(`${base}/files/cell.bin?size=2000`);
      await t.resume();
      return { cell: t.taskIdentifier };
    }, { base: server.url });
    await page.waitForFunction((id) => window.log.some((e) => e[0] === "taskIsWaitingForConnectivity" && e[1] === id), ids.cell, { timeout: 10_000 });
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(requestsFor("cell.bin").length, 0, "nothing sent over the cellular link");
    assert.equal((await page.evaluate(() => window.log)).filter((e) => e[0] === "taskIsWaitingForConnectivity").length, 1, "told once");

    // Wi-Fi: it goes. Then a discretionary task on a 3g-like link waits…
    await page.evaluate(() => window.sessions["com.example.wifi"].simulateNetworkConditions({ type: "wifi", effectiveType: "3g" }));
    await page.waitForFunction((id) => window.log.some((e) => e[0] === "didCompleteWithError" && e[1] === id), ids.cell, { timeout: 15_000 });
    const mark = await page.evaluate(() => window.log.length);
    const d = await page.evaluate(async ({ base }) => {
      const normal = window.openSession("com.example.normal");
      const busy = normal.downloadTask(`${base}/files/busy.bin?size=${1 << 20}&rate=${256 << 10}`);
      await busy.resume();
      const s = window.openSession("com.example.discretionary", { isDiscretionary: true });
      const t = s.downloadTask(`${base}/files/disc.bin?size=2000`);
      await t.resume();
      return { busy: busy.taskIdentifier, later: t.taskIdentifier };
    }, { base: server.url });
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(requestsFor("disc.bin").length, 0, "a slow link: the discretionary task waits");
    // …and on a good link still waits for the app's other transfer to end.
    await page.evaluate(() => window.sessions["com.example.wifi"].simulateNetworkConditions({ type: "wifi", effectiveType: "4g" }));
    await page.waitForFunction((id) => window.log.some((e) => e[0] === "didCompleteWithError" && e[1] === id), d.later, { timeout: 30_000 });
    const busyEnd = Math.max(...requestsFor("busy.bin").map((e) => e.end));
    const laterStart = Math.min(...requestsFor("disc.bin").map((e) => e.start));
    assert.ok(laterStart >= busyEnd, `the discretionary task started (${laterStart}) after the other transfer ended (${busyEnd})`);
    const since = (await page.evaluate(() => window.log)).slice(mark);
    assert.ok(!since.some((e) => e[0] === "taskIsWaitingForConnectivity"), "deferring discretionary work is silent");
    await page.evaluate(() => window.sessions["com.example.wifi"].simulateNetworkConditions(null));
  });
});

test("no launch notification while a page holding the session's events is open: that page receives them", async () => {
  await withBrowser(
    async (context, errors) => {
      const page = await openApp(context, server.url, errors);
      await page.evaluate(async ({ base }) => {
        const s = window.openSession("com.example.open");
        const t = s.downloadTask(`${base}/files/o.bin?size=${256 << 10}&rate=${256 << 10}`);
        await t.resume();
      }, { base: server.url });
      await page.waitForFunction(() => window.log.some((e) => e[0] === "didCompleteWithError"), null, { timeout: 20_000 });
      await new Promise((r) => setTimeout(r, 1000));
      const notes = await page.evaluate(async () => {
        const reg = await navigator.serviceWorker.getRegistration("/");
        return (await reg.getNotifications()).map((n) => n.tag);
      });
      assert.deepEqual(notes, [], "the open page got the events: nothing to launch");
    },
    { permissions: ["notifications"] },
  );
});

test("sessionSendsLaunchEvents: a session finishing with no page open shows a notification; none when it is false or not permitted", async () => {
  for (const [permitted, sends, expect] of [[true, true, 1], [true, false, 0], [false, true, 0]]) {
    await withBrowser(
      async (context, errors) => {
        const page = await openApp(context, server.url, errors);
        await page.evaluate(async ({ base, sends }) => {
          const s = window.openSession("com.example.launch", { sessionSendsLaunchEvents: sends });
          s.sessionDescription = "Podcasts";
          const t = s.downloadTask(`${base}/files/l.bin?size=${256 << 10}&rate=${256 << 10}`);
          await t.resume();
        }, { base: server.url, sends });
        await page.close();
        const observer = watch(await context.newPage(), errors);
        await observer.goto(`${server.url}/fixtures/observer.html`);
        await waitFor(async () => (await observer.evaluate(() => window.tasks())).every((t) => t.state === "completed"), { timeout: 20_000, interval: 200, what: "completion" });
        await new Promise((r) => setTimeout(r, 500));
        const notes = await observer.evaluate(async () => {
          const reg = await navigator.serviceWorker.getRegistration("/");
          return (await reg.getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag }));
        });
        assert.equal(notes.length, expect, `permitted=${permitted} sessionSendsLaunchEvents=${sends}`);
        if (expect) {
          assert.equal(notes[0].title, "Podcasts: background transfers");
          assert.match(notes[0].body, /has finished its transfers \(\d+ events? waiting\)\. Open the app/);
        }
      },
      { permissions: permitted ? ["notifications"] : [] },
    );
  }
});
