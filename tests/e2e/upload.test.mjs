// Upload tasks end to end in headless Chromium: a file of the emulated
// sandbox goes up with `uploadTask(request, fromFile)`, outlives its tab,
// is retried after a cut, and reports Apple's events in Apple's order:
// didSendBodyData → didReceiveData* → didCompleteWithError.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, openApp, waitFor, watch, withBrowser } from "./harness.mjs";

let server;
before(async () => {
  server = await startServer({ port: 0 });
});
after(async () => {
  await server.close();
});

const SIZE = 3 << 20;

// Downloads a file into /Documents/<name> so there is something to upload.
async function makeFile(page, id, name, size = SIZE) {
  await page.evaluate(
    async ({ id, base, name, size }) => {
      const t = window.openSession(id).downloadTask(`${base}/files/${name}?size=${size}`);
      t.taskDescription = name;
      await t.resume();
    },
    { id, base: server.url, name, size },
  );
  await page.waitForFunction((dest) => window.log.some((e) => e[0] === "moved" && e[2] === dest), `file:///Documents/${name}`, { timeout: 30_000 });
}

// The delegate log of one task, method names only.
const methodsOf = (log, taskId) => log.filter((e) => e[1] === taskId).map((e) => e[0]);

async function served(name, size = SIZE) {
  return (await fetch(`${server.url}/sha256?size=${size}&name=${name}`)).json();
}

test("an upload sends the file and reports didSendBodyData, didReceiveData, didCompleteWithError(null)", async () => {
  await withBrowser(async ({ context, errors }) => {
  const page = await openApp(context, server.url, errors);
  await makeFile(page, "com.example.up", "a.bin");
  const id = await page.evaluate(async ({ base }) => {
    const task = window.openSession("com.example.up").uploadTask({ url: `${base}/upload/a.bin`, method: "PUT", headers: { "Content-Type": "application/x-test" } }, "file:///Documents/a.bin");
    window.upTask = task;
    await task.resume();
    return task.taskIdentifier;
  }, { base: server.url });
  await page.waitForFunction((id) => window.log.some((e) => e[0] === "didCompleteWithError" && e[1] === id), id, { timeout: 30_000 });
  const log = await page.evaluate(() => window.log);
  assert.deepEqual(methodsOf(log, id), ["didSendBodyData", "didReceiveData", "didCompleteWithError"]);
  const sent = log.find((e) => e[0] === "didSendBodyData" && e[1] === id);
  assert.deepEqual(sent.slice(2), [SIZE, SIZE, SIZE], "bytesSent, totalBytesSent, totalBytesExpectedToSend");
  const answer = JSON.parse(log.find((e) => e[0] === "didReceiveData" && e[1] === id)[2]);
  const want = await served("a.bin");
  assert.equal(answer.size, SIZE);
  assert.equal(answer.sha256, want.sha256, "the server received the file's exact bytes");
  assert.equal(answer.method, "PUT");
  assert.equal(answer.contentType, "application/x-test", "the request's headers are sent");
  assert.equal(log.find((e) => e[0] === "didCompleteWithError" && e[1] === id)[2], null);
  const view = await page.evaluate(() => {
    const t = window.upTask;
    return { state: t.state, kind: t.kind, sent: t.countOfBytesSent, toSend: t.countOfBytesExpectedToSend, status: t.response && t.response.statusCode, received: t.countOfBytesReceived };
  });
  assert.deepEqual(view, { state: "completed", kind: "upload", sent: SIZE, toSend: SIZE, status: 200, received: JSON.stringify(answer).length });
  assert.equal(server.log.filter((e) => e.path === "/upload/a.bin" && e.method === "PUT").length, 1, "one request");
  assert.deepEqual(await page.evaluate(() => window.pendingJournal()), [], "the journal is empty");
  });
});

test("an upload outlives its tab; the relaunched app gets its events once, in order", async () => {
  await withBrowser(async ({ context, errors }) => {
  const page1 = await openApp(context, server.url, errors);
  await makeFile(page1, "com.example.up2", "b.bin");
  const id = await page1.evaluate(async ({ base }) => {
    // The server answers 3 s after the body arrived: the tab is gone by then.
    const task = window.openSession("com.example.up2").uploadTask(`${base}/upload/b.bin?delayMs=3000`, "file:///Documents/b.bin");
    await task.resume();
    return task.taskIdentifier;
  }, { base: server.url });
  // Delete the app's file at once: the daemon uploads its own copy.
  await page1.evaluate(() => window.bg.FileManager.default.removeItem("file:///Documents/b.bin"));
  await waitFor(() => server.log.some((e) => e.path === "/upload/b.bin" && e.method === "POST"), { what: "the upload request" });
  await page1.close();

  const observer = watch(await context.newPage(), errors);
  await observer.goto(`${server.url}/fixtures/observer.html`);
  await waitFor(async () => (await observer.evaluate(() => window.tasks())).some((t) => t.taskId === id && t.state === "completed"), {
    timeout: 30_000,
    interval: 250,
    what: "the upload to complete with no app page open",
  });
  await observer.close();

  const page2 = await openApp(context, server.url, errors);
  await page2.waitForFunction(() => window.log.some((e) => e[0] === "urlSessionDidFinishEvents"), null, { timeout: 30_000 });
  const log = await page2.evaluate(() => window.log);
  assert.deepEqual(log[0], ["handleEventsForBackgroundURLSession", "com.example.up2"]);
  assert.deepEqual(methodsOf(log, id), ["didSendBodyData", "didReceiveData", "didCompleteWithError"]);
  assert.equal(log.at(-1)[0], "urlSessionDidFinishEvents");
  const answer = JSON.parse(log.find((e) => e[0] === "didReceiveData")[2]);
  assert.equal(answer.sha256, (await served("b.bin")).sha256, "the copy taken at resume() was uploaded");
  assert.equal(answer.method, "POST", "a bare URL uploads with POST");
  const reqs = server.log.filter((e) => e.path === "/upload/b.bin" && e.method === "POST");
  assert.equal(reqs.length, 1, "sent once");
  assert.ok(reqs[0].completed);
  assert.deepEqual(await page2.evaluate(() => window.pendingJournal()), []);
  });
});

test("a cut upload is sent again; cancel gives -999; a missing file gives -1100; the rules throw", async () => {
  await withBrowser(async ({ context, errors }) => {
  const page = await openApp(context, server.url, errors);
  await makeFile(page, "com.example.up3", "c.bin", 1 << 20);
  const ids = await page.evaluate(async ({ base }) => {
    const s = window.openSession("com.example.up3");
    const cut = s.uploadTask({ url: `${base}/upload/c.bin?drop=1`, method: "PUT" }, "file:///Documents/c.bin");
    await cut.resume();
    const slow = s.uploadTask({ url: `${base}/upload/c.bin?delayMs=20000`, method: "PUT" }, new URL("file:///Documents/c.bin"));
    await slow.resume();
    const missing = s.uploadTask({ url: `${base}/upload/none`, method: "PUT" }, "file:///Documents/none.bin");
    await missing.resume();
    window.slow = slow;
    return { cut: cut.taskIdentifier, slow: slow.taskIdentifier, missing: missing.taskIdentifier };
  }, { base: server.url });
  await waitFor(() => server.log.some((e) => e.method === "PUT" && e.query.delayMs === "20000"), { what: "the slow upload to reach the server" });
  await page.evaluate(() => window.slow.cancel());
  await page.waitForFunction((ids) => Object.values(ids).every((id) => window.log.some((e) => e[0] === "didCompleteWithError" && e[1] === id)), ids, { timeout: 30_000 });
  const log = await page.evaluate(() => window.log);
  const completion = (id) => log.find((e) => e[0] === "didCompleteWithError" && e[1] === id);
  assert.equal(completion(ids.cut)[2], null, "the cut upload succeeded on its retry");
  assert.deepEqual(methodsOf(log, ids.cut), ["didSendBodyData", "didReceiveData", "didCompleteWithError"]);
  assert.deepEqual(server.log.filter((e) => e.method === "PUT" && e.query.drop === "1").map((e) => e.cutAt !== null), [true, false], "cut once, then sent whole");
  assert.equal(completion(ids.slow)[2], -999);
  assert.deepEqual(methodsOf(log, ids.slow), ["didCompleteWithError"]);
  assert.equal(completion(ids.missing)[2], -1100);
  const missingError = await page.evaluate((id) => window.errors[id].userInfo.NSLocalizedFailureReason, ids.missing);
  assert.match(missingError, /no file at file:\/\/\/Documents\/none\.bin/);

  const thrown = await page.evaluate(async ({ base }) => {
    const s = window.openSession("com.example.up3");
    const names = [];
    const attempt = (f) => {
      try { f(); names.push("no error"); } catch (e) { names.push(`${e.name}: ${e.message}`); }
    };
    attempt(() => s.uploadTask(`${base}/upload/x`, new Uint8Array([1, 2, 3])));
    attempt(() => s.uploadTask({ url: `${base}/upload/x`, method: "GET" }, "file:///Documents/c.bin"));
    attempt(() => s.uploadTask(`${base}/upload/x`, "file:///etc/passwd"));
    attempt(() => s.uploadTask(`${base}/upload/x`, "file:///Documents/c.bin", () => {}));
    return names;
  }, { base: server.url });
  assert.match(thrown[0], /^UploadFromDataInBackgroundSession: .*write the body to a file/);
  assert.match(thrown[1], /^InvalidArgument: .*GET cannot carry/);
  assert.match(thrown[2], /^InvalidArgument: .*uploadTask fromFile: .*not a sandbox location/);
  assert.match(thrown[3], /^CompletionHandlerInBackgroundSession: /);
  });
});
