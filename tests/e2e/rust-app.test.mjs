// bgsession's Rust API end to end: an app written in Rust
// (tests/rust-app/src/lib.rs: a UrlSessionDelegate implementation, typed
// tasks and files, an app delegate closure) downloads, uploads, asks before
// a delayed start, outlives its tab and gets its events replayed.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, waitFor, watch, withBrowser } from "./harness.mjs";

let server;
before(async () => {
  server = await startServer({ port: 0 });
});
after(async () => {
  await server.close();
});

async function openRustApp(context, errors) {
  const page = watch(await context.newPage(), errors);
  await page.goto(`${server.url}/fixtures/rust-app/index.html`);
  await page.waitForFunction(() => window.appReady === true);
  return page;
}

const methodsOf = (log, id) => log.filter((e) => e[1] === id).map((e) => e[0]);
const ID = "com.example.rust";

test("a Rust app: delegate trait, typed tasks and files, uploads, rules, relaunch", async () => {
  await withBrowser(async ({ context, errors }) => {
  const page = await openRustApp(context, errors);
  const size = 2 << 20;
  // A download, then an upload of the downloaded file, both through Rust.
  const dl = await page.evaluate(({ id, base, size }) => window.app.download(id, `${base}/files/r1.bin?size=${size}`, "r1.bin"), { id: ID, base: server.url, size });
  await page.waitForFunction((id) => window.log.some((e) => e[0] === "didCompleteWithError" && e[1] === id), dl, { timeout: 30_000 });
  let log = await page.evaluate(() => window.log);
  assert.deepEqual(methodsOf(log, dl).filter((m) => m !== "didWriteData"), ["didFinishDownloadingTo", "moved", "didCompleteWithError"]);
  assert.ok(methodsOf(log, dl).includes("didWriteData"), "progress reached the Rust delegate");
  assert.deepEqual(log.find((e) => e[0] === "didCompleteWithError" && e[1] === dl).slice(2), [null, "completed"]);
  const want = await (await fetch(`${server.url}/sha256?size=${size}&name=r1.bin`)).json();
  assert.equal((await page.evaluate(() => window.sha256Of("file:///Documents/r1.bin"))).sha256, want.sha256, "moved by the Rust delegate, byte-exact");
  const storage = await page.evaluate(() => window.app.storage());
  assert.equal(storage.documents, size, "usage() from Rust");
  assert.equal(storage.largest, "file:///Documents/r1.bin", "largest_files() from Rust");

  const up = await page.evaluate(({ id, base }) => window.app.upload(id, `${base}/upload/r1.bin`, "file:///Documents/r1.bin"), { id: ID, base: server.url });
  await page.waitForFunction((id) => window.log.some((e) => e[0] === "didCompleteWithError" && e[1] === id), up, { timeout: 30_000 });
  log = await page.evaluate(() => window.log);
  assert.deepEqual(methodsOf(log, up), ["didSendBodyData", "didReceiveData", "didCompleteWithError"]);
  const answer = JSON.parse(log.find((e) => e[0] === "didReceiveData" && e[1] === up)[2]);
  assert.deepEqual([answer.size, answer.sha256, answer.method], [size, want.sha256, "PUT"]);

  // Delayed tasks: the Rust delegate answers continue, a new request, or cancel.
  const delayed = {};
  for (const [desc, name] of [["go", "d1.bin"], [`swap:${server.url}/files/d2-new.bin?size=1000`, "d2.bin"], ["cancel", "d3.bin"]]) {
    delayed[name] = await page.evaluate(({ id, base, desc, name }) => window.app.download(id, `${base}/files/${name}?size=1000`, desc, 500), { id: ID, base: server.url, desc, name });
  }
  await page.waitForFunction((ids) => ids.every((id) => window.log.some((e) => e[0] === "didCompleteWithError" && e[1] === id)), Object.values(delayed), { timeout: 30_000 });
  log = await page.evaluate(() => window.log);
  for (const id of Object.values(delayed)) assert.equal(methodsOf(log, id)[0], "willBeginDelayedRequest");
  assert.equal(log.find((e) => e[0] === "didCompleteWithError" && e[1] === delayed["d3.bin"])[2], -999);
  assert.equal(server.log.filter((e) => e.path === "/files/d2.bin").length, 0, "swapped for the new request");
  assert.ok(server.log.some((e) => e.path === "/files/d2-new.bin"));
  assert.ok(server.log.some((e) => e.path === "/files/d1.bin"));

  // Rules, as typed errors named after them.
  const rules = await page.evaluate(() => window.app.rules());
  assert.match(rules[0], /^EmptyIdentifier: /);
  assert.match(rules[1], /^UnsupportedURL: .*ftp:\/\/example\.test\/x/);
  assert.match(rules[2], /^InvalidArgument: .*not a sandbox location/);
  assert.match(rules[3], /^DuplicateSessionIdentifier: /);

  // Relaunch: a throttled download outlives the tab; the Rust app delegate
  // gets the identifier, the Rust delegate the replayed events, then the
  // completion handler is called.
  const slow = await page.evaluate(({ id, base }) => window.app.download(id, `${base}/files/r2.bin?size=${1 << 20}&rate=${512 << 10}`, "r2.bin"), { id: ID, base: server.url });
  const running = await page.evaluate((id) => window.app.allTasks(id), ID);
  assert.deepEqual(running.map((t) => [t[0], t[1]]), [[slow, "running"]], "get_all_tasks from Rust");
  await page.close();
  const observer = watch(await context.newPage(), errors);
  await observer.goto(`${server.url}/fixtures/observer.html`);
  await waitFor(async () => (await observer.evaluate(() => window.tasks())).every((t) => t.state === "completed"), { timeout: 30_000, interval: 250, what: "the download to finish with the tab closed" });
  await observer.close();
  const page2 = await openRustApp(context, errors);
  await page2.waitForFunction(() => window.log.some((e) => e[0] === "completionHandlerCalled"), null, { timeout: 30_000 });
  log = await page2.evaluate(() => window.log);
  assert.deepEqual(log[0], ["handleEventsForBackgroundURLSession", ID]);
  assert.deepEqual(methodsOf(log, slow).filter((m) => m !== "didWriteData"), ["didFinishDownloadingTo", "moved", "didCompleteWithError"]);
  assert.deepEqual(log.slice(-2).map((e) => e[0]), ["urlSessionDidFinishEvents", "completionHandlerCalled"]);
  const got = await page2.evaluate(() => window.sha256Of("file:///Documents/r2.bin"));
  assert.equal(got.sha256, (await (await fetch(`${server.url}/sha256?size=${1 << 20}&name=r2.bin`)).json()).sha256);
  });
});
