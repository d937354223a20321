// HTTP behaviour a background session shows the app: redirects are
// followed and reflected in currentRequest/response.url; a cross-origin URL
// without CORS fails with a clear error instead of an empty file; an HTTP
// error status is an answer, not a task error.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, newProfile, removeProfile, launch, openApp, withBrowser } from "./harness.mjs";

let server;
before(async () => {
  server = await startServer({ port: 0 });
});
after(async () => {
  await server.close();
});

async function download(page, id, url, description) {
  const taskId = await page.evaluate(async ({ id, url, description }) => {
    const t = window.openSession(id).downloadTask(url);
    t.taskDescription = description;
    (window.tasksById = window.tasksById || {})[t.taskIdentifier] = t;
    await t.resume();
    return t.taskIdentifier;
  }, { id, url, description });
  await page.waitForFunction((tid) => window.log.some((e) => e[0] === "didCompleteWithError" && e[1] === tid), taskId, { timeout: 60_000 });
  return taskId;
}

test("redirects are followed: currentRequest and response.url show the last URL, originalRequest the first", async () => {
  await withBrowser(async ({ context, errors }) => {
  const page = await openApp(context, server.url, errors);
  const size = 3 << 20;
  const target = `/files/r.bin?size=${size}`;
  const first = `${server.url}/redirect/2?to=${encodeURIComponent(target)}&status=301`;
  const tid = await download(page, "com.example.http", first, "r.bin");
  const view = await page.evaluate((tid) => {
    const t = window.tasksById[tid];
    return { original: t.originalRequest.url, current: t.currentRequest.url, response: t.response.url, status: t.response.statusCode, error: t.error };
  }, tid);
  assert.deepEqual(view, { original: first, current: `${server.url}${target}`, response: `${server.url}${target}`, status: 200, error: null });
  const got = await page.evaluate(() => window.sha256Of("file:///Documents/r.bin"));
  const want = await (await fetch(`${server.url}/sha256?size=${size}&name=r.bin`)).json();
  assert.equal(got.sha256, want.sha256, "the redirected file is byte-exact");
  // Only the first request went through the redirects; ranges went straight to the target.
  const hops = server.log.filter((e) => e.path.startsWith("/redirect/"));
  const files = server.log.filter((e) => e.path === "/files/r.bin");
  assert.equal(hops.length, 2, "two hops, once");
  assert.ok(files.length >= 2, "the body came in several ranged requests");
  });
});

test("a cross-origin URL without CORS fails at once with a clear error; a 404 finishes with its body", async () => {
  const profile = await newProfile();
  const context = await launch(profile);
  const errors = [];
  try {
    const page = await openApp(context, server.url, errors);
    // The page is on 127.0.0.1; "localhost" is another origin of the same server.
    const other = server.url.replace("127.0.0.1", "localhost");
    const blocked = await download(page, "com.example.http2", `${other}/nocors/x.bin?size=1000`, "x.bin");
    const err = await page.evaluate((tid) => window.errors[tid], blocked);
    assert.equal(err.code, -1011);
    assert.match(err.userInfo.NSLocalizedFailureReason, /without CORS headers allowing http:\/\/127\.0\.0\.1:\d+ to read the response/);
    const tries = server.log.filter((e) => e.path === "/nocors/x.bin" && e.method === "GET");
    assert.equal(tries.length, 1, "not retried: no retry can fix CORS");
    const exists = await page.evaluate(() => window.bg.FileManager.default.contentsOfDirectory("file:///tmp/"));
    assert.deepEqual(exists, [], "no empty file left behind");

    const missing = await download(page, "com.example.http2", `${server.url}/status/404`, "missing");
    const log = await page.evaluate(() => window.log);
    const finished = log.find((e) => e[0] === "didFinishDownloadingTo" && e[1] === missing);
    assert.equal(finished[3], 404, "didFinishDownloadingTo with statusCode 404");
    assert.equal(log.find((e) => e[0] === "didCompleteWithError" && e[1] === missing)[2], null, "no error");
    const body = await page.evaluate(async () => (await window.bg.FileManager.default.contents("file:///Documents/missing")).text());
    assert.equal(body, "status 404");
    // The console error the browser logs for the blocked request is expected.
    assert.deepEqual(errors.filter((e) => !/CORS|Access-Control-Allow-Origin|ERR_FAILED/.test(e)), []);
  } finally {
    await context.close();
    await removeProfile(profile);
  }
});
