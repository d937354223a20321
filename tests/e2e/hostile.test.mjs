// Hostile and broken input (issue 13): servers that answer nonsense, headers
// and paths that cannot be, storage evicted behind the daemon's back,
// messages from other code of the same origin, records that do not decode.
// Each case checks the clear error (its NSURLError code, or a TypeError /
// NSError naming the problem), that nothing stored changed where nothing
// should, and that the worker still answers afterwards.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, openApp, waitFor, withBrowser } from "./harness.mjs";
import { startDownload, assertOrder, assertFile } from "./order-helpers.mjs";
import { rawDatabase } from "./rollback-helpers.mjs";

let server;
before(async () => {
  server = await startServer({ port: 0 });
});
after(async () => {
  await server.close();
});

const MiB = 1 << 20;
const SESSION = "com.example.hostile";

// A fresh profile with the fixture app; no console errors at the end.
const withApp = (body) => withBrowser(async ({ context, errors }) => body({ page: await openApp(context, server.url, errors), context, errors }));

const log = (page) => page.evaluate(() => window.log);

async function waitDone(page, id, timeout = 60_000) {
  await waitFor(async () => (await log(page)).some((e) => e[0] === "didCompleteWithError" && e[1] === id), {
    timeout,
    what: `task ${id} to complete`,
  });
  const error = await page.evaluate((id) => (window.errors || {})[id] || null, id);
  return { entries: await log(page), error };
}

const start = (page, path, name) => startDownload(page, { session: SESSION, url: `${server.url}${path}`, name });
const requestsTo = (path) => server.log.filter((e) => e.path === path);

// Everything bgsession stores, read raw: every IndexedDB store of the
// "bgsession" database and the keys of every Cache API entry (an empty
// cache is no stored data).
async function snapshot(page) {
  const { stores } = await page.evaluate(rawDatabase);
  const cacheEntries = await page.evaluate(async () => {
    const out = [];
    for (const name of await caches.keys()) {
      out.push(...(await (await caches.open(name)).keys()).map((r) => `${name} ${r.url}`));
    }
    return out.sort();
  });
  return JSON.parse(JSON.stringify({ idb: stores, cacheEntries }));
}

// The snapshot once the page's own bookkeeping after a delivery is done:
// the journal acknowledged and the list of temp files that acknowledgement
// left (a `delivered` record with `tempFiles`) removed. Taken earlier, the
// page's clean-up could land between two snapshots.
const settledSnapshot = (page) =>
  waitFor(
    async () => {
      const s = await snapshot(page);
      return s.idb.events.length === 0 && !s.idb.delivered.some((r) => r.tempFiles) && s;
    },
    { timeout: 10_000, what: "the page's clean-up after the delivery" },
  );

// Posts `msg` to the active worker as other code of the origin could, and
// waits for its reply on a MessageChannel ({ok, value} or {ok, error}); null
// when no reply came within `timeout` ms.
function postToWorker(page, msg, timeout = 10_000) {
  return page.evaluate(
    async ({ msg, timeout }) => {
      const reg = await navigator.serviceWorker.ready;
      const channel = new MessageChannel();
      const reply = new Promise((resolve) => {
        channel.port1.onmessage = (e) => resolve(e.data);
        setTimeout(() => resolve(null), timeout);
      });
      const big = msg && msg.__bigMiB ? "x".repeat(msg.__bigMiB * (1 << 20)) : null;
      const sent = big ? { ...msg, __bigMiB: undefined, payload: big } : msg;
      reg.active.postMessage(sent, [channel.port2]);
      return reply;
    },
    { msg, timeout },
  );
}

// The worker still works: it answers a command, and a small download
// through it ends byte-exact.
async function assertWorkerAnswers(page, what) {
  const reply = await postToWorker(page, { op: "pending" });
  assert.ok(reply && reply.ok, `${what}: the worker answers {op: "pending"} afterwards (got ${JSON.stringify(reply)})`);
  const name = `alive-${Math.random().toString(36).slice(2)}.bin`;
  const id = await start(page, `/files/${name}?size=${64 * 1024}`, name);
  const { entries } = await waitDone(page, id);
  assertOrder(entries, id);
  await assertFile(server, page, `file:///Documents/${name}`, { name, size: 64 * 1024 });
}

// ---------------------------------------------------------------- servers

test("a redirect loop ends at once with -1007 (httpTooManyRedirects), not retried", async () => {
  await withApp(async ({ page }) => {
    server.resetLog();
    const id = await start(page, "/redirect/loop?f=1", "loop.bin");
    const { entries, error } = await waitDone(page, id);
    assertOrder(entries, id, { error: -1007 });
    assert.equal(error.localizedDescription, "too many HTTP redirects");
    assert.match(error.userInfo.NSLocalizedFailureReason, /redirect\/loop.*more than 20 redirects/);
    // One attempt: 21 hops followed by the browser, and one manual probe.
    const hops = requestsTo("/redirect/loop").length;
    assert.ok(hops >= 21 && hops <= 23, `one attempt, not six: ${hops} requests (was 126)`);
    await assertWorkerAnswers(page, "redirect loop");
  });
});

test("a redirect to a non-http scheme ends at once, not retried, naming the cause", async () => {
  await withApp(async ({ page }) => {
    server.resetLog();
    const id = await start(page, `/redirect/1?to=${encodeURIComponent("ftp://example.test/x.bin")}`, "ftp.bin");
    const { entries, error } = await waitDone(page, id);
    assert.ok([-1002, -1007].includes(error.code), `a redirect error, not -1004: ${error.code}`);
    assertOrder(entries, id, { error: error.code });
    assert.match(error.userInfo.NSLocalizedFailureReason, /not http\(s\)/);
    assert.ok(requestsTo("/redirect/1").length <= 2, "one attempt and one probe");
    await assertWorkerAnswers(page, "redirect to ftp");
  });
});

test("a redirect to a non-http scheme is -1002 (unsupportedURL) as on iOS", {
  todo: "browsers give the same bare TypeError for a loop and for a redirect to ftp://, and hide Location from a Service Worker (redirect: 'manual' gives an opaqueredirect): seen -1007 with a reason naming both",
}, async () => {
  await withApp(async ({ page }) => {
    const id = await start(page, `/redirect/1?to=${encodeURIComponent("ftp://example.test/y.bin")}`, "ftp2.bin");
    const { error } = await waitDone(page, id);
    assert.equal(error.code, -1002);
  });
});

// Server answers that are wrong: each -1011 naming what was wrong, in one
// request (no retry fixes them).
for (const [what, query, reason, requests] of [
  ["an impossible Content-Range (last byte >= total)", "badRange=impossible", /impossible Content-Range "bytes 0-2097152\/2097152"/, 1],
  ["a negative Content-Length", "contentLength=-5", /Content-Length "-5"/, 1],
  ["an absurd Content-Length (20 digits)", "contentLength=99999999999999999999", /Content-Length "99999999999999999999"/, 1],
  // The probe gets 200 (ranges ignored), is cut; the retry has no Range and gets a 206.
  ["a 206 to a request without Range", "partial=1&noValidators=1&cut=100000", /206 Partial Content to a request without Range/, 2],
]) {
  test(`${what}: -1011 (badServerResponse) naming it, not retried`, async () => {
    await withApp(async ({ page }) => {
      server.resetLog();
      const name = `bad-${query.replace(/\W/g, "")}.bin`;
      const id = await start(page, `/files/${name}?size=${2 * MiB}&${query}`, name);
      const { entries, error } = await waitDone(page, id);
      assertOrder(entries, id, { error: -1011 });
      assert.match(error.userInfo.NSLocalizedFailureReason, reason);
      assert.equal(requestsTo(`/files/${name}`).length, requests, "not retried");
      // The finished task is forgotten once its events are delivered (its
      // record goes too); this profile holds no other file, so no bytes at all.
      const stored = await snapshot(page);
      assert.deepEqual(stored.idb.tasks.filter((t) => t.taskId === id), [], "the finished task is forgotten");
      assert.deepEqual(stored.cacheEntries, [], "no bytes kept");
      await assertWorkerAnswers(page, what);
    });
  });
}

test("more bytes than the Content-Range announced: -1011, not retried", async () => {
  await withApp(async ({ page }) => {
    server.resetLog();
    const id = await start(page, `/files/extra.bin?size=${2 * MiB}&extra=5000`, "extra.bin");
    const { entries, error } = await waitDone(page, id);
    assertOrder(entries, id, { error: -1011 });
    assert.match(error.userInfo.NSLocalizedFailureReason, /more than the 1048576 bytes it announced/);
    assert.equal(requestsTo("/files/extra.bin").length, 1, "not retried");
    await assertWorkerAnswers(page, "more bytes than announced");
  });
});

test("a Content-Range that does not match the request: ranges are given up, the body is fetched whole, byte-exact", async () => {
  await withApp(async ({ page }) => {
    server.resetLog();
    const size = 3 * MiB;
    const id = await start(page, `/files/shift.bin?size=${size}&badRange=shift`, "shift.bin");
    const { entries } = await waitDone(page, id);
    assertOrder(entries, id);
    const reqs = requestsTo("/files/shift.bin");
    assert.equal(reqs[0].range, `bytes=0-${MiB - 1}`);
    assert.equal(reqs.at(-1).range, null, "then asked without Range");
    assert.equal(reqs.at(-1).status, 200);
    await assertFile(server, page, "file:///Documents/shift.bin", { name: "shift.bin", size });
  });
});

// ---------------------------------------------------------------- headers

test("httpAdditionalHeaders with CR/LF, forbidden names or huge values: a TypeError naming the header, nothing changed", async () => {
  await withApp(async ({ page }) => {
    const before = await snapshot(page);
    const results = await page.evaluate(() => {
      const { URLSessionConfiguration } = window.bg;
      const config = URLSessionConfiguration.background("com.example.headers");
      config.httpAdditionalHeaders = { "X-Good": "1" };
      const out = [];
      for (const headers of [
        { "X-Evil": "a\r\nInjected: 1" },
        { "X-Evil": "a\nb" },
        { "X Space": "v" },
        { Cookie: "a=b" },
        { Host: "evil.test" },
        { "Sec-Fetch-Site": "none" },
        { "Proxy-Authorization": "x" },
        { "X-Huge": "x".repeat(9000) },
      ]) {
        try {
          config.httpAdditionalHeaders = headers;
          out.push({ headers: Object.keys(headers), threw: false });
        } catch (e) {
          out.push({ name: Object.keys(headers)[0], isTypeError: e instanceof TypeError, message: e.message });
        }
      }
      out.push({ after: config.httpAdditionalHeaders });
      return out;
    });
    const kept = results.pop();
    assert.deepEqual(kept.after, { "x-good": "1" }, "the configuration kept its headers");
    for (const r of results) {
      assert.ok(r.isTypeError, `a TypeError for ${JSON.stringify(r)}`);
      assert.ok(r.message.includes(`"${r.name}"`), `the message names the header: ${r.message}`);
    }
    assert.match(results[0].message, /CR, LF/);
    assert.match(results[3].message, /forbidden/);
    assert.match(results[7].message, /9000 bytes/);
    assert.deepEqual(await snapshot(page), before, "nothing stored changed");
  });
});

test("a request's own headers with CR/LF or forbidden names: downloadTask throws a TypeError naming it, no task stored", async () => {
  await withApp(async ({ page }) => {
    await page.evaluate((s) => window.openSession(s).ready, SESSION);
    const before = await snapshot(page);
    const results = await page.evaluate(
      ({ s, url }) => {
        const session = window.openSession(s);
        const out = [];
        for (const headers of [{ "X-A": "1\r\n2" }, { "Accept-Encoding": "br" }, { "X-Big": "y".repeat(10000) }]) {
          try {
            session.downloadTask({ url, headers });
            out.push({ threw: false });
          } catch (e) {
            out.push({ name: Object.keys(headers)[0], isTypeError: e instanceof TypeError, message: e.message });
          }
        }
        return out;
      },
      { s: SESSION, url: `${server.url}/files/h.bin?size=10` },
    );
    for (const r of results) {
      assert.ok(r.isTypeError, `a TypeError: ${JSON.stringify(r)}`);
      assert.ok(r.message.includes(`"${r.name}"`), `names the header: ${r.message}`);
    }
    assert.deepEqual(await snapshot(page), before, "nothing stored changed");
    // A good header goes through to the server.
    server.resetLog();
    const id = await page.evaluate(
      async ({ s, url }) => {
        const t = window.openSession(s).downloadTask({ url, headers: { "X-Token": "abc" } });
        t.taskDescription = "h.bin";
        await t.resume();
        return t.taskIdentifier;
      },
      { s: SESSION, url: `${server.url}/files/h.bin?size=10` },
    );
    const { entries } = await waitDone(page, id);
    assertOrder(entries, id);
    assert.equal(requestsTo("/files/h.bin")[0].requestHeaders["x-token"], "abc");
  });
});

// A new user's first mistake (a bundler serving index.html for the default
// ./bgsession-sw.js, or a path that is not there): the error names the URL
// and the setting that fixes it.
test("a serviceWorkerURL that serves no worker script: resume() rejects naming the URL and config.serviceWorkerURL", async () => {
  await withApp(async ({ page, errors }) => {
    const results = await page.evaluate(async (base) => {
      const out = [];
      for (const [i, url] of ["/fixtures/app.html", "/no-such-worker.js"].entries()) {
        const session = window.openSession(`com.example.no-worker-${i}`, { serviceWorkerURL: url });
        const task = session.downloadTask(`${base}/files/nw.bin?size=10`);
        try {
          await task.resume();
          out.push({ url, rejected: false });
        } catch (e) {
          out.push({ url, rejected: true, name: e.name, message: e.message });
        }
      }
      return out;
    }, server.url);
    for (const r of results) {
      assert.ok(r.rejected, `resume() rejects: ${JSON.stringify(r)}`);
      assert.equal(r.name, "BGSessionUnavailable", r.message);
      assert.ok(r.message.includes(r.url), `names the URL: ${r.message}`);
      assert.ok(r.message.includes("config.serviceWorkerURL"), `names the setting: ${r.message}`);
    }
    // The browser's own console lines for the two scripts it refused.
    const expected = /unsupported MIME type \('text\/html'\)|bad HTTP response code \(404\) was received when fetching the script/;
    errors.splice(0, errors.length, ...errors.filter((e) => !expected.test(e)));
  });
});

// ---------------------------------------------------------------- sandbox paths

test("sandbox paths escaping their folder, empty or absurdly long names: a clear NSError, nothing moved", async () => {
  await withApp(async ({ page }) => {
    const id = await start(page, "/files/p.bin?size=1000", "p.bin");
    assertOrder((await waitDone(page, id)).entries, id);
    const before = await settledSnapshot(page);
    const results = await page.evaluate(async () => {
      const fm = window.bg.FileManager.default;
      const out = [];
      for (const to of [
        "file:///Documents/../../x",
        "file:///Documents/..%2F..%2Fx",
        "file:///Documents/a%00b",
        "file:///Documents/",
        "",
        `file:///Documents/${"n".repeat(256)}`,
        `file:///Documents/${Array(6).fill("d".repeat(200)).join("/")}/x`, // 1,222 bytes
        `file:///Documents/${"z".repeat(10 << 20)}`,
      ]) {
        const t0 = performance.now();
        try {
          await fm.moveItem("file:///Documents/p.bin", to);
          out.push({ to: to.slice(0, 60), moved: true });
        } catch (e) {
          out.push({ to: to.slice(0, 60), domain: e.domain, code: e.code, message: e.message.length > 2000 ? e.message.slice(0, 100) + "…" + e.message.slice(-400) : e.message, ms: performance.now() - t0 });
        }
      }
      return out;
    });
    const why = [/above the sandbox/, /cannot contain/, /cannot contain/, /permission/, /file:\/\/\//, /longer than 255 bytes/, /longer than 1024 bytes/, /longer than 255 bytes/];
    results.forEach((r, i) => {
      assert.equal(r.domain, "NSCocoaErrorDomain", JSON.stringify(r));
      assert.ok([4, 513].includes(r.code), JSON.stringify(r));
      assert.match(r.message, why[i], JSON.stringify(r));
    });
    assert.ok(results.at(-1).ms < 2000, "a 10 MiB name is refused quickly");
    assert.deepEqual(await snapshot(page), before, "nothing stored changed");
    await assertFile(server, page, "file:///Documents/p.bin", { name: "p.bin", size: 1000 });
  });
});

// ---------------------------------------------------------------- evicted storage

// Deletes every Cache API cache of the origin, as a browser evicting storage would.
const evictCaches = (page) =>
  page.evaluate(async () => {
    for (const name of await caches.keys()) await caches.delete(name);
  });

test("Cache API entries deleted behind the daemon's back: FileManager says the file is gone, not wrong bytes", async () => {
  await withApp(async ({ page }) => {
    const id = await start(page, "/files/ev.bin?size=300000", "ev.bin");
    assertOrder((await waitDone(page, id)).entries, id);
    await evictCaches(page);
    const before = await settledSnapshot(page);
    const r = await page.evaluate(async () => {
      try {
        const b = await window.bg.FileManager.default.contents("file:///Documents/ev.bin");
        return { size: b.size };
      } catch (e) {
        return { domain: e.domain, code: e.code, message: e.message, reason: e.userInfo && e.userInfo.NSLocalizedFailureReason };
      }
    });
    assert.equal(r.domain, "NSCocoaErrorDomain", JSON.stringify(r));
    assert.equal(r.code, 4);
    assert.match(r.message, /ev\.bin.*doesn't exist/);
    assert.match(r.reason, /evicted/);
    assert.deepEqual(await snapshot(page), before, "nothing stored changed");
    const reply = await postToWorker(page, { op: "pending" });
    assert.ok(reply && reply.ok, "the worker answers");
  });
});

test("after the Cache API was evicted, new downloads store their bytes again", async () => {
  await withApp(async ({ page }) => {
    const id = await start(page, "/files/ev2.bin?size=300000", "ev2.bin");
    assertOrder((await waitDone(page, id)).entries, id);
    await evictCaches(page);
    await assertWorkerAnswers(page, "after eviction");
  });
});

test("Cache API entries deleted mid-download: the task starts again from zero and ends byte-exact", async () => {
  await withApp(async ({ page }) => {
    const size = 6 * MiB;
    const id = await start(page, `/files/mid.bin?size=${size}&rate=${2 * MiB}`, "mid.bin");
    await waitFor(async () => (await log(page)).some((e) => e[0] === "didWriteData" && e[1] === id && e[3] >= 2 * MiB), { what: "2 MiB stored" });
    await evictCaches(page);
    const { entries } = await waitDone(page, id, 90_000);
    assertOrder(entries, id);
    assert.ok(entries.some((e) => e[0] === "didResumeAtOffset" && e[1] === id && e[2] === 0), "told: restarted at offset 0");
    await assertFile(server, page, "file:///Documents/mid.bin", { name: "mid.bin", size });
  });
});

// ---------------------------------------------------------------- worker messages

const HOSTILE_MESSAGES = [
  ["an unknown operation", { op: "frobnicate" }, /frobnicate/],
  ["no operation at all", { hello: 1 }, /unknown daemon command ""/],
  ["not an object", "resume", /not an object|\{op/],
  ["a resume with the task of wrong type", { op: "resume", task: 42 }, /task/],
  ["a resume with no task", { op: "resume" }, /task/],
  ["a suspend with fields of wrong types", { op: "suspend", session: 5, taskId: "seven" }, /session|taskId/],
  ["a cancel of a task that does not exist", { op: "cancelByProducingResumeData", session: "nope", taskId: 12345 }, null],
  ["a 10 MiB payload", { op: "resume", __bigMiB: 10 }, /task/],
];

for (const [what, msg, reason, todo] of HOSTILE_MESSAGES) {
  test(`a message to the worker from other code: ${what}: a clear error reply, nothing stored changed, the worker answers`, { todo }, async () => {
    await withApp(async ({ page }) => {
      const id = await start(page, "/files/m.bin?size=1000", "m.bin");
      assertOrder((await waitDone(page, id)).entries, id);
      const before = await settledSnapshot(page);
      const reply = await postToWorker(page, msg);
      assert.ok(reply, "a reply came");
      if (reason) {
        assert.equal(reply.ok, false, `refused: ${JSON.stringify(reply).slice(0, 300)}`);
        assert.match(reply.error, reason);
      }
      assert.deepEqual(await snapshot(page), before, "nothing stored changed");
      await assertWorkerAnswers(page, what);
    });
  });
}

test("a forged resume of a task with a CR/LF header is refused, or its task ends with -1000 sending nothing", async () => {
  await withApp(async ({ page }) => {
    server.resetLog();
    const real = await start(page, "/files/real.bin?size=1000&rate=400", "real.bin"); // ~2.5 s: its record is read while it runs
    // A complete task record (the real one's, read before it finishes and is
    // forgotten), with a CR/LF in a header.
    const record = await waitFor(async () => (await snapshot(page)).idb.tasks.find((t) => t.taskId === real), { what: "the real task's record" });
    assertOrder((await waitDone(page, real)).entries, real);
    const request = { url: `${server.url}/files/forged.bin?size=10`, method: "GET", headers: { "x-a": "1\r\n2" } };
    const forged = {
      ...record,
      taskId: 4242,
      state: "suspended",
      error: null,
      response: null,
      segments: [],
      bytesReceived: 0,
      blobId: "dl-forged",
      nonce: "forged",
      originalRequest: request,
      currentRequest: request,
    };
    const reply = await postToWorker(page, { op: "resume", task: forged, fresh: true });
    assert.ok(reply, "a reply came");
    if (reply.ok) {
      // Accepted: the daemon must not send it, and ends it clearly (as the
      // session's delegate sees it; the finished record is then forgotten).
      const { error } = await waitDone(page, 4242);
      assert.equal(error.code, -1000);
      assert.match(error.userInfo.NSLocalizedFailureReason, /"x-a"/);
    } else {
      assert.match(reply.error, /header|x-a/i);
    }
    assert.equal(requestsTo("/files/forged.bin").length, 0, "nothing sent");
    await assertWorkerAnswers(page, "forged resume");
  });
});

test("forged daemon broadcasts (a fake 'journal grew', a fake 'killed') change nothing the delegate sees", async () => {
  await withApp(async ({ page }) => {
    const id = await start(page, `/files/bc.bin?size=${2 * MiB}&rate=${4 * MiB}`, "bc.bin");
    await page.evaluate((s) => {
      const ch = new BroadcastChannel("bgsession");
      ch.postMessage({ type: "journal", session: s });
      ch.postMessage({ type: "journal", session: 42 });
      ch.postMessage({ type: "daemon", event: "killed", transfers: -1 });
      ch.postMessage("garbage");
      ch.postMessage({ type: "journal" });
      ch.close();
    }, SESSION);
    const { entries } = await waitDone(page, id);
    assertOrder(entries, id);
    await assertFile(server, page, "file:///Documents/bc.bin", { name: "bc.bin", size: 2 * MiB });
    await assertWorkerAnswers(page, "forged broadcasts");
  });
});

// ---------------------------------------------------------------- undecodable records

// Writes `records` by hand into store `name` of the "bgsession" database.
function writeRaw(page, name, records) {
  return page.evaluate(
    ({ name, records }) =>
      new Promise((resolve, reject) => {
        const r = indexedDB.open("bgsession");
        r.onsuccess = () => {
          const db = r.result;
          const tx = db.transaction(name, "readwrite");
          for (const rec of records) tx.objectStore(name).put(rec);
          tx.oncomplete = () => {
            db.close();
            resolve();
          };
          tx.onerror = () => reject(tx.error);
        };
        r.onerror = () => reject(r.error);
      }),
    { name, records },
  );
}

test("a task record that does not decode: kept aside and reported as that task's error; the others work", async () => {
  await withApp(async ({ page, context, errors }) => {
    await page.evaluate((s) => window.openSession(s).ready, SESSION);
    await writeRaw(page, "tasks", [{ session: SESSION, taskId: 77, state: 12, originalRequest: "garbage" }]);
    const page2 = await openApp(context, server.url, errors);
    await page.close();
    await page2.evaluate((s) => window.openSession(s).ready, SESSION);
    const { entries, error } = await waitDone(page2, 77, 20_000);
    assertOrder(entries, 77, { error: error.code });
    assert.match(error.userInfo.NSLocalizedFailureReason, /decode|could not be read/);
    await assertWorkerAnswers(page2, "undecodable task");
  });
});

test("a journal entry that does not decode: kept aside, the other events delivered once, in order", async () => {
  await withApp(async ({ page, context, errors }) => {
    const id = await start(page, "/files/j.bin?size=1000", "j.bin");
    await waitDone(page, id);
    await writeRaw(page, "events", [{ session: SESSION, taskId: id, event: { what: "nonsense" }, at: "yesterday" }]);
    const page2 = await openApp(context, server.url, errors);
    await page.close();
    await page2.evaluate((s) => window.openSession(s).ready, SESSION);
    await assertWorkerAnswers(page2, "undecodable journal entry");
    const entries = await log(page2);
    assert.deepEqual(entries.filter((e) => e[1] === id), [], "the finished task's events are not delivered again");
  });
});
