// The demo page's controls and failure lab, driven as a person would, each
// checked through what the page shows (the callbacks list, the timeline, the
// rows) and what the test server saw:
// - task controls: throttle (rate, ETA, session total), Pause/Resume,
//   Cancel (-999), "Cancel, keep resume data" + "Resume from data" across a
//   "Reload as a relaunch";
// - Upload a downloaded file: the upload's callbacks on the timeline, the
//   server's answer next to the file's size and SHA-256, "hang up once" (sent
//   again), uploading from memory refused; and a slow upload that outlives
//   its tab, whose callbacks the reopened page gets replayed;
// - Kill the daemon: it comes back and resumes with Range (didResumeAtOffset);
// - every "Make the server fail" option through what it provokes (a resume,
//   a retry after the server's Retry-After, a restart from zero, a re-fetch);
// - offline, then online: taskIsWaitingForConnectivity, then completion.
import { test } from "node:test";
import assert from "node:assert/strict";
import { waitFor, watch } from "./harness.mjs";
import { OUT, MiB, EP1, EP2, THROTTLE, demoServer, withDemo, openDemo as openDemoAt, row, waitPhase } from "./demo-helpers.mjs";

const holder = demoServer();
const openDemo = (context, errors, viewport) => openDemoAt(holder.server.url, context, errors, viewport);

// ---- helpers ------------------------------------------------------------------




const rowButton = (page, ep, name) => row(page, ep).getByRole("button", { name, exact: true });


// Stop commands (Pause, Cancel, Kill) are sent once the bar has passed 2 MiB,
// as a person watching it would; the test at the end stops one at once.
const PAST_PROBE = 2 * MiB;

async function waitProgress(page, ep, atLeast = 1) {
  await page.waitForFunction(
    ([item, n]) => document.querySelector(`[data-item="${item}"] progress`).value >= n,
    [ep.item, atLeast],
    { timeout: 30_000 },
  );
}

// Picks the throttle (and the server failure) like a person, then presses Download.
async function download(page, ep, { throttle = "8MiB", fault = "none" } = {}) {
  await page.selectOption("#throttle", THROTTLE[throttle]);
  await page.locator(`#fault-${fault}`).check();
  await row(page, ep).getByRole("button", { name: /^Download/ }).click();
}

// The callbacks list as a reader sees it, from entry `from` on.
const entries = async (page, from = 0) =>
  (await page.locator("#callbacks > li").evaluateAll((lis) =>
    lis.map((li) => ({ method: li.dataset.method, replayed: li.classList.contains("replayed"), text: li.innerText })),
  )).slice(from);

// The byte offset a didResumeAtOffset line shows ("Resumed at byte 4,194,304 …").
const resumedAt = (list) => {
  const e = list.find((x) => x.method === "didResumeAtOffset");
  assert.ok(e, `a didResumeAtOffset line: ${list.map((x) => x.method).join(", ")}`);
  return Number(/Resumed at byte ([\d,]+)/.exec(e.text)[1].replace(/,/g, ""));
};

const count = (page) => page.locator("#callbacks > li").count();

const entry = (page, method, hasText) => {
  const l = page.locator(`#callbacks > li[data-method="${method}"]`);
  return hasText ? l.filter({ hasText }) : l;
};

const requests = (ep) => holder.server.log.filter((e) => e.path === `/files/${ep.item}`);
// The first byte a request asked for (0 without Range).
const rangeStart = (e) => (e.range ? Number(/^bytes=(\d+)-/.exec(e.range)?.[1] ?? NaN) : 0);
// A request that continued a transfer from byte n > 0.
const isResume = (e) => rangeStart(e) > 0 && /^bytes=\d+-$/.test(e.range);

// ---- task controls ---------------------------------------------------------

test("demo lab: throttle, pause/resume, cancel, cancel with resume data + resume from data across a relaunch", async () => {
  await withDemo(async ({ context, errors }) => {
    holder.server.resetLog();
    let page = await openDemo(context, errors);

    // Throttle 2 MiB/s: the server is asked for that rate; the row shows rate and ETA.
    await download(page, EP2, { throttle: "2MiB" });
    await waitFor(async () => /MiB\/s/.test(await row(page, EP2).locator(".rate").innerText()), { what: "a rate on the row" });
    const rate = await row(page, EP2).locator(".rate").innerText();
    const mibs = parseFloat(rate);
    assert.ok(mibs >= 1 && mibs <= 3, `shown rate near 2 MiB/s: ${rate}`);
    assert.match(await row(page, EP2).locator(".eta").innerText(), /^about .* left$/);
    assert.match(await row(page, EP2).locator(".bytes").innerText(), /^[\d.]+ (KiB|MiB) of 8\.0 MiB$/);
    assert.match(await row(page, EP2).locator(".item-server").innerText(), /throttled to 2\.0 MiB\/s/);
    assert.match(await page.locator("#session-total").innerText(), /^Session: 1 download, [\d.]+ MiB of 8\.0 MiB at [\d.]+ MiB\/s, about .* left\.$/);
    assert.ok(requests(EP2).every((e) => e.query.rate === String(2 * MiB)), "rate=2 MiB/s on every request");

    // Pause: the transfer stops; Resume: it continues with Range.
    await waitProgress(page, EP2, PAST_PROBE);
    await rowButton(page, EP2, "Pause").click();
    await waitPhase(page, EP2, "suspended");
    assert.match(await row(page, EP2).locator(".state").innerText(), /^Paused \(task\.suspend\(\)\)/);
    assert.equal(await row(page, EP2).locator(".rate").innerText(), "paused");
    await entry(page, "action", "You pressed “Pause”").waitFor();
    await page.waitForTimeout(300);
    const whilePaused = requests(EP2).length;
    await page.waitForTimeout(700);
    assert.equal(requests(EP2).length, whilePaused, "no request while paused");
    assert.ok(requests(EP2).every((e) => e.end != null), "the paused transfer's connection is closed");
    await rowButton(page, EP2, "Resume").click();
    const resumed = entry(page, "didResumeAtOffset", EP2.title);
    await resumed.waitFor({ timeout: 30_000 });
    assert.match(await resumed.innerText(), /Resumed at byte [\d,]+ \(\d+ %\) of 8\.0 MiB/);
    await waitPhase(page, EP2, "done");
    const afterPause = requests(EP2).slice(whilePaused);
    assert.ok(afterPause.length >= 1 && isResume(afterPause[0]) && afterPause[0].status === 206, `resumed with Range: ${JSON.stringify(afterPause.map((e) => [e.range, e.status]))}`);
    assert.match(await row(page, EP2).locator(".state").innerText(), /Downloaded and saved in Documents/);

    // Cancel: didCompleteWithError with -999.
    await download(page, EP1, { throttle: "2MiB" });
    await waitProgress(page, EP1, PAST_PROBE);
    let from = await count(page);
    await rowButton(page, EP1, "Cancel").click();
    await waitPhase(page, EP1, "cancelled");
    assert.equal(await row(page, EP1).locator(".state").innerText(), "Cancelled (-999).");
    const cancelled = (await entries(page, from)).find((e) => e.method === "didCompleteWithError");
    assert.match(cancelled.text, /urlSession\(_:task:\s*didCompleteWithError:\)[\s\S]*cancelled \(NSURLErrorCancelled, -999\)/);
    assert.equal(await rowButton(page, EP1, "Resume from data").count(), 0, "no resume data from a plain cancel");

    // Cancel, keep resume data: the row keeps the data and offers to resume from it.
    holder.server.resetLog();
    await download(page, EP1, { throttle: "2MiB" });
    await waitProgress(page, EP1, PAST_PROBE);
    await rowButton(page, EP1, "Cancel, keep resume data").click();
    await waitPhase(page, EP1, "cancelled");
    await waitFor(async () => /^Cancelled with resume data \(\d+ bytes/.test(await row(page, EP1).locator(".state").innerText()), { what: "the resume data note" });
    assert.match(await entry(page, "didCompleteWithError", EP1.title).last().innerText(), /-999/);
    await rowButton(page, EP1, "Resume from data").waitFor();

    // "Reload as a relaunch": the history and the resume data survive.
    await Promise.all([page.waitForEvent("load"), page.locator("#reload").click()]);
    await page.waitForFunction(() => document.body.dataset.ready === "1", null, { timeout: 30_000 });
    const list = await entries(page);
    assert.equal(list.filter((e) => e.method === "life").length, 2, "two page lives in the list");
    assert.ok(list.some((e) => e.method === "action" && /You pressed “Reload as a relaunch”/.test(e.text)), "the reload press was kept");
    assert.ok(list.some((e) => e.method === "action" && /You pressed “Cancel, keep resume data”/.test(e.text)), "the history before the reload was kept");
    from = await count(page);
    const clickedAt = Date.now();
    await rowButton(page, EP1, "Resume from data").click();
    const fromData = entry(page, "didResumeAtOffset", EP1.title);
    await fromData.waitFor({ timeout: 30_000 });
    await waitPhase(page, EP1, "done");
    const after = await entries(page, from);
    assert.ok(after.some((e) => e.method === "action" && /Resume from data/.test(e.text)));
    const done = after.find((e) => e.method === "didCompleteWithError");
    assert.ok(done.text.includes(EP1.title), "the new task has the same taskDescription");
    assert.match(done.text, /with no error/);
    const resumedReq = requests(EP1).filter((e) => e.start >= clickedAt)[0];
    assert.ok(resumedReq && isResume(resumedReq) && resumedReq.status === 206, "resumed with Range from the kept bytes");
    await waitFor(async () => /ep01-welcome\.mp3[\s\S]*6\.0 MiB/.test(await page.locator("#st-largest").innerText()), { what: "Ep. 1 in the inspector" });

    // Unthrottled and 256 KiB/s reach the server as asked.
    holder.server.resetLog();
    await download(page, EP2, { throttle: "none" });
    await waitPhase(page, EP2, "done");
    assert.ok(requests(EP2).every((e) => e.query.rate === undefined), "unthrottled: no rate");
    await download(page, EP1, { throttle: "256KiB" });
    await waitFor(() => requests(EP1).length > 0, { what: "the 256 KiB/s request" });
    assert.ok(requests(EP1).every((e) => e.query.rate === String(256 * 1024)), "rate=256 KiB/s");
    assert.match(await row(page, EP1).locator(".item-server").innerText(), /throttled to 256 KiB\/s/);
    // Past the probe (4 s at this rate), the row shows the slow rate; then cancel.
    await waitProgress(page, EP1, MiB + 1);
    await waitFor(async () => /KiB\/s/.test(await row(page, EP1).locator(".rate").innerText()), { what: "a KiB/s rate on the row" });
    const slow = parseFloat(await row(page, EP1).locator(".rate").innerText());
    assert.ok(slow >= 150 && slow <= 400, `shown rate near 256 KiB/s: ${slow}`);
    await rowButton(page, EP1, "Cancel").click();
    await waitPhase(page, EP1, "cancelled");

    // Clear history: the list and the timeline start again.
    assert.ok(await entry(page, "life").count() >= 2);
    await page.getByRole("button", { name: "Clear history" }).click();
    await waitFor(async () => (await entry(page, "action").count()) === 0, { what: "the list cleared" });
    assert.ok((await entry(page, "life").count()) <= 1, "the earlier page lives are gone from the list");
    assert.equal(await page.locator("#tl-svg rect.tl-closed").count(), 0, "no closed gap left on the timeline");
    assert.equal(await page.locator("#tl-svg g.mk-action").count(), 0);
    await page.reload();
    await page.waitForFunction(() => document.body.dataset.ready === "1", null, { timeout: 30_000 });
    assert.equal(await entry(page, "action").count(), 0, "cleared for good");
    await page.close();
  });
});

// ---- kill the daemon --------------------------------------------------------

test("demo lab: Kill the daemon; it comes back and resumes with Range", async () => {
  await withDemo(async ({ context, errors }) => {
    holder.server.resetLog();
    const page = await openDemo(context, errors);
    await download(page, EP2, { throttle: "2MiB" });
    await waitProgress(page, EP2, PAST_PROBE);
    const from = await count(page);
    const killedAt = Date.now();
    await page.getByRole("button", { name: "Kill the daemon" }).click();
    await waitFor(async () => (await page.locator("#kill-result").innerText()).length > 0, { what: "the kill result" });
    assert.match(await page.locator("#kill-result").innerText(), /^Killed: 1 transfer stopped mid-way/);
    await waitPhase(page, EP2, "done");
    const list = await entries(page, from);
    const i = (method) => list.findIndex((e) => e.method === method);
    assert.ok(i("daemon:killed") >= 0 && i("daemon:killed") < i("daemon:started") && i("daemon:started") < i("didResumeAtOffset"), `killed, started, resumed: ${list.map((e) => e.method).join(", ")}`);
    assert.match(list[i("daemon:killed")].text, /DAEMON[\s\S]*Killed: 1 transfer stopped/);
    assert.match(list[i("didResumeAtOffset")].text, /Resumed at byte [\d,]+/);
    assert.match(list.at(-1).text, /with no error/);
    // On the timeline: the kill mark and the killed stretch on the Daemon lane.
    assert.equal(await page.locator("#tl-svg g.mk-daemon-killed").count(), 1);
    assert.ok(await page.locator("#tl-svg rect.tl-d-killed").count() >= 1);
    const reqs = requests(EP2);
    assert.ok(reqs.some((e) => e.start < killedAt && e.aborted), "a transfer was stopped by the kill");
    const after = reqs.filter((e) => e.start >= killedAt);
    assert.ok(after.length >= 1 && isResume(after[0]) && after[0].status === 206, `resumed with Range: ${JSON.stringify(after.map((e) => [e.range, e.status]))}`);
    await page.locator(".tl").screenshot({ path: `${OUT}demo-kill.png` });
    await page.close();
  });
});

// ---- make the server fail ---------------------------------------------------

test("demo lab: every server failure shows its callback (cut, 503 x2, ignore Range, ETag change, short body)", async () => {
  await withDemo(async ({ context, errors }) => {
    holder.server.resetLog();
    const page = await openDemo(context, errors);
    const run = async (ep, fault, throttle = "8MiB") => {
      const from = await count(page);
      const start = Date.now();
      const n = requests(ep).length;
      await download(page, ep, { throttle, fault });
      assert.equal(await page.locator("#fault-none").isChecked(), true, "the failure applies to one download");
      await waitPhase(page, ep, "done");
      await waitFor(async () => (await entries(page, from)).some((e) => e.method === "didCompleteWithError"), { what: "didCompleteWithError" });
      const list = await entries(page, from);
      assert.match(list.find((e) => e.method === "didCompleteWithError").text, /with no error/);
      assert.match(await row(page, ep).locator(".item-server").innerText(), /server: /);
      return { list, ms: Date.now() - start, reqs: requests(ep).slice(n) };
    };

    // Cut at 50 %: resumed exactly there.
    const show = (reqs) => JSON.stringify(reqs.map((e) => [e.range, e.ifRange, e.status, e.bytesSent, e.cutAt, e.shortAt, e.flipped]));
    let r = await run(EP2, "cut");
    let offset = resumedAt(r.list);
    // At the cut, less the bytes in flight when the connection broke.
    assert.ok(offset <= 4 * MiB && offset > 4 * MiB - 512 * 1024, `resumed near 50 %: ${offset}`);
    assert.match(r.list.find((e) => e.method === "didResumeAtOffset").text, /\((49|50) %\) of 8\.0 MiB/);
    const cut = r.reqs.findIndex((e) => e.cutAt === 4 * MiB);
    assert.ok(cut >= 0, `the server cut at 4 MiB: ${show(r.reqs)}`);
    assert.ok(r.reqs.slice(cut + 1).some((e) => e.range === `bytes=${offset}-` && e.status === 206), `resumed at ${offset}: ${show(r.reqs)}`);

    // 503 twice with Retry-After: 2: retried, then completes.
    r = await run(EP1, "503");
    assert.deepEqual(r.reqs.filter((e) => e.status === 503).length, 2, show(r.reqs));
    assert.ok(r.reqs.at(-1).status < 300 && r.reqs.at(-1).completed, show(r.reqs));
    assert.ok(r.ms >= 3500, `waited as the server asked (${r.ms} ms)`);
    assert.ok(r.list.some((e) => e.method === "daemon:busy" && /Busy again/.test(e.text)), "the retries show on the Daemon lane");
    assert.ok(r.list.some((e) => e.method === "didFinishDownloadingTo" && e.text.includes(EP1.title)));

    // Ignore Range: the resume gets the whole file, the download starts over.
    r = await run(EP1, "ignoreRange", "2MiB");
    assert.ok(r.list.some((e) => /Started over from zero/.test(e.text)), `restart shown: ${r.list.map((e) => e.text).join("\n")}`);
    assert.ok(r.reqs.some((e) => isResume(e) && e.status === 200), `a Range request answered 200: ${show(r.reqs)}`);
    assert.ok(await page.locator("#tl-svg g.mk-restart").count() >= 1, "the restart is a mark on the timeline");

    // ETag changed mid-way: If-Range misses, the new version comes whole.
    // When the change shows depends on the daemon's requests (its first one
    // may be a short probe): the page shows the restart (progress going
    // down) or, after the cut at 75 %, the resume of the new version.
    r = await run(EP1, "flip", "2MiB");
    assert.ok(r.list.some((e) => /Started over from zero/.test(e.text) || e.method === "didResumeAtOffset"), "restart or resume shown");
    assert.ok(r.reqs.some((e) => isResume(e) && e.ifRange && e.flipped && e.status === 200), `If-Range missed, new version sent whole: ${show(r.reqs)}`);

    // Short body: never a success; what is missing is fetched again.
    r = await run(EP2, "short");
    const short = r.reqs.findIndex((e) => e.shortAt != null);
    assert.ok(short >= 0, `the body was short: ${show(r.reqs)}`);
    assert.ok(r.reqs.slice(short + 1).some((e) => rangeStart(e) <= r.reqs[short].shortAt && e.completed), `the missing bytes fetched again: ${show(r.reqs)}`);
    assert.ok(r.list.some((e) => e.method === "daemon:busy" && /Busy again/.test(e.text)), "the retry shows on the Daemon lane");
    if (r.list.some((e) => e.method === "didResumeAtOffset")) assert.ok(resumedAt(r.list) <= r.reqs[short].shortAt);
    await waitFor(async () => /ep02-inside-urlsession\.mp3[\s\S]*8\.0 MiB/.test(await page.locator("#st-largest").innerText()), { what: "the whole 8 MiB in the inspector" });
    assert.equal(await page.locator('#st-largest li[data-url="file:///Documents/ep02-inside-urlsession.mp3"]').getAttribute("data-size"), String(8 * MiB));
    await page.close();
  });
});

// ---- offline, then online ---------------------------------------------------

test("demo lab: offline, then online: navigator.onLine shown, taskIsWaitingForConnectivity, then the download completes", async () => {
  await withDemo(async ({ context, errors }) => {
    holder.server.resetLog();
    const page = await openDemo(context, errors);
    assert.match(await page.locator("#net-state").innerText(), /^online/);
    // Offline emulation stops new requests only: the connection is cut at
    // 50 % while offline, and the retry finds no network.
    await download(page, EP2, { throttle: "2MiB", fault: "cut" });
    await waitProgress(page, EP2);
    await context.setOffline(true);
    await waitFor(async () => /^offline/.test(await page.locator("#net-state").innerText()), { what: "the page to show offline" });
    const waiting = entry(page, "taskIsWaitingForConnectivity", EP2.title);
    await waiting.waitFor({ timeout: 30_000 });
    assert.match(await waiting.innerText(), /urlSession\(_:taskIsWaitingForConnectivity:\)[\s\S]*No network/);
    await waitPhase(page, EP2, "waiting");
    assert.equal(await row(page, EP2).locator(".state").innerText(), "Waiting for the network…");
    assert.equal(await page.locator("#tl-svg g.mk-wait").count(), 1, "the waiting mark on the timeline");
    await page.waitForTimeout(1000);
    await context.setOffline(false);
    await waitFor(async () => /^online/.test(await page.locator("#net-state").innerText()), { what: "the page to show online" });
    await waitPhase(page, EP2, "done");
    const list = await entries(page);
    const w = list.findIndex((e) => e.method === "taskIsWaitingForConnectivity");
    assert.ok(list.slice(w).some((e) => e.method === "didResumeAtOffset"), "continued from the stored bytes");
    assert.equal(list.filter((e) => e.method === "taskIsWaitingForConnectivity").length, 1, "told once");
    await page.close();
  });
});

// ---- a stop during the first request (once a library bug, now fixed) ----------

test("demo lab: Pause or Cancel pressed right after Download stops the transfer", async () => {
  await withDemo(async ({ context, errors }) => {
    holder.server.resetLog();
    const page = await openDemo(context, errors);
    await download(page, EP2, { throttle: "2MiB" });
    await rowButton(page, EP2, "Pause").click(); // at once, while the probe runs
    await waitPhase(page, EP2, "suspended");
    await page.waitForTimeout(1500);
    const sent = requests(EP2).reduce((s, e) => s + e.bytesSent, 0);
    await page.waitForTimeout(1000);
    assert.equal(requests(EP2).reduce((s, e) => s + e.bytesSent, 0), sent, "nothing sent while paused");
    assert.equal(await entry(page, "didFinishDownloadingTo", EP2.title).count(), 0, "a paused download does not finish");
    await download(page, EP1, { throttle: "2MiB" });
    await rowButton(page, EP1, "Cancel").click();
    await waitPhase(page, EP1, "cancelled");
    await page.waitForTimeout(4000);
    assert.equal(await entry(page, "didCompleteWithError", EP1.title).count(), 1, "one didCompleteWithError per task");
    await page.close();
  });
});

// ---- upload a downloaded file -------------------------------------------------

const uploadCard = (page, ep) => page.locator(`#uploads > li[data-upload="${ep.item}"]`);
const uploadRequests = (ep) => holder.server.log.filter((e) => e.path === `/upload/${ep.item}`);
// What the test server generated for an episode (computed on its side).
const generated = async (ep) => (await fetch(`${holder.server.url}/sha256?size=${ep.size}&name=${ep.item}`)).json();
// Apple's selector as a pattern (the page lets it wrap after "(" and ":").
const apple = (name) => new RegExp(name.replace(/[()]/g, "\\$&").replace(/([(:])/g, "$1\\s*"));
const SENT = apple("urlSession(_:task:didSendBodyData:totalBytesSent:totalBytesExpectedToSend:)");
const RECEIVED = apple("urlSession(_:dataTask:didReceive:)");
const COMPLETED = apple("urlSession(_:task:didCompleteWithError:)");

async function waitUpload(page, ep, phase, timeout = 60_000) {
  await waitFor(async () => (await uploadCard(page, ep).first().getAttribute("data-phase")) === phase, { timeout, what: `the upload of ${ep.item} to be ${phase}` });
}

// The card's two sides, as visible text.
async function checkVerified(card, want) {
  assert.equal(await card.locator(".up-device .up-hash").innerText(), want.sha256, "the file's SHA-256 on the device");
  assert.equal(await card.locator(".up-server .up-hash").innerText(), want.sha256, "the SHA-256 the server received");
  const size = `${want.size.toLocaleString("en-US")} bytes`;
  assert.ok((await card.locator(".up-device .up-size").innerText()).startsWith(size));
  assert.ok((await card.locator(".up-server .up-size").innerText()).startsWith(size));
  assert.equal(await card.locator(".up-verdict").innerText(), "✓ Same size, same SHA-256: the bytes arrived intact.");
}

test("demo lab: upload a downloaded file: its callbacks on the timeline, the server's answer next to the file's SHA-256; hang up once; cancel; from memory is refused", async () => {
  await withDemo(async ({ context, errors }) => {
    holder.server.resetLog();
    const page = await openDemo(context, errors);
    const label = `Upload of ${EP1.item}`;

    // Before any download: nothing to upload, and the page says what iOS does.
    const upload = page.locator("#upload");
    assert.equal(await upload.getAttribute("aria-disabled"), null, "a real control now");
    assert.equal(await upload.innerText(), "Upload a file");
    assert.match(await page.locator("#upload-file").innerText(), /No downloaded files yet/);
    assert.equal(await page.locator("#upload-start").isDisabled(), true);
    assert.equal(await rowButton(page, EP1, "Upload").count(), 0, "no Upload on a row without a file");
    assert.match(await page.locator("#upload-panel .ios").innerText(), /uploads only from a file[\s\S]*nsurlsessiond reads the file itself and keeps sending while the app is suspended, or after the system has terminated it[\s\S]*Uploads from memory[\s\S]*not allowed in a background session/);
    assert.match(await page.locator("#uploads-empty").innerText(), /No uploads yet/);

    // Download Ep. 1: its row offers Upload, the chooser lists the file.
    await download(page, EP1);
    await waitPhase(page, EP1, "done");
    await rowButton(page, EP1, "Upload").waitFor();
    await waitFor(async () => /ep01-welcome\.mp3 \(Documents, 6\.0 MiB\)/.test(await page.locator("#upload-file").innerText()), { what: "the file in the chooser" });
    assert.equal(await page.locator("#upload-start").isDisabled(), false);
    await upload.click(); // the header control leads to the chooser
    await waitFor(() => page.evaluate(() => document.activeElement && document.activeElement.id === "upload-file"), { what: "the chooser to get the focus" });

    // Upload from the row (normal server).
    holder.server.resetLog();
    let from = await count(page);
    await rowButton(page, EP1, "Upload").click();
    await waitUpload(page, EP1, "done");
    const want = await generated(EP1);
    let card = uploadCard(page, EP1).first();
    await checkVerified(card, want);
    assert.equal(await card.locator(".state").innerText(), "Uploaded: the server answered HTTP 200.");
    assert.equal(await card.locator(".up-sent").innerText(), "Sent 6.0 MiB of 6.0 MiB (countOfBytesSent), reported once, when the server answered.");
    assert.match(await card.innerText(), /On this device\s+file:\/\/\/Documents\/ep01-welcome\.mp3[\s\S]*The server received\s+PUT \/upload\/ep01-welcome\.mp3[\s\S]*PUT, Content-Type audio\/mpeg/);
    assert.match(await card.locator(".up-call").innerText(), /^session\.uploadTask\(\{ url: "http:\/\/[^"]+\/upload\/ep01-welcome\.mp3", method: "PUT", headers: \{ "Content-Type": "audio\/mpeg" \} \}, "file:\/\/\/Documents\/ep01-welcome\.mp3"\)$/);
    let reqs = uploadRequests(EP1);
    assert.equal(reqs.length, 1, "one request");
    assert.equal(reqs[0].method, "PUT");
    assert.equal(reqs[0].bytesReceived, EP1.size);

    // The callbacks, in Apple's order, with Apple's names and what they mean.
    let list = (await entries(page, from)).filter((e) => e.text.includes(label));
    assert.deepEqual(list.map((e) => e.method), ["action", "didSendBodyData", "didReceiveData", "didCompleteWithError"]);
    assert.match(list[0].text, /You pressed “Upload”/);
    assert.match(list[1].text, SENT);
    assert.match(list[1].text, /The daemon sent the file: 6\.0 MiB of 6\.0 MiB\. .*a browser reports no upload progress, so here it comes once, with the whole size, when the server answers\./);
    assert.match(list[2].text, RECEIVED);
    assert.match(list[2].text, new RegExp(`The server's answer \\(the response body\\), \\d+ bytes: it received 6,291,456 bytes, SHA-256 ${want.sha256.slice(0, 12)}… An upload task hands the body to the app in pieces`));
    assert.match(list[3].text, COMPLETED);
    assert.match(list[3].text, /The upload is over, with no error: the server answered HTTP 200\./);
    assert.match(list[3].text, /The app compared the answer with the file it noted before the upload\. Same size, same SHA-256: the bytes arrived intact\./);
    assert.ok(list.every((e) => !e.replayed), "delivered live");

    // On the timeline: two upload marks; the tooltip names them.
    const svg = page.locator("#tl-svg");
    assert.equal(await svg.locator("g.mk-data").count(), 2, "didSendBodyData and didReceiveData marks");
    const xs = await svg.locator("g.mk-data").evaluateAll((gs) => gs.map((g) => Number(g.dataset.x)).sort((a, b) => a - b));
    assert.ok(xs[1] - xs[0] >= 15, `the two marks are drawn apart: ${xs}`);
    await svg.locator("g.mk-data").first().hover();
    const tip = page.locator("#tl-tip");
    await tip.waitFor({ state: "visible" });
    assert.match(await tip.innerText(), /urlSession\(_:task:didSendBodyData:totalBytesSent:totalBytesExpectedToSend:\)[\s\S]*Upload of ep01-welcome\.mp3[\s\S]*no upload progress/);
    await page.mouse.move(0, 0);

    // "Hang up once": the server cuts the connection after reading the body;
    // the daemon sends the file again, and the app sees one upload.
    holder.server.resetLog();
    from = await count(page);
    await page.locator("#upload-mode-drop").check();
    await page.selectOption("#upload-file", "file:///Documents/ep01-welcome.mp3");
    await page.locator("#upload-start").click();
    await waitFor(async () => (await uploadCard(page, EP1).count()) === 2, { what: "a second upload card" });
    assert.ok(await page.locator("#upload-mode-normal").isChecked(), "the fault is for one upload only");
    await waitUpload(page, EP1, "done");
    card = uploadCard(page, EP1).first();
    await checkVerified(card, want);
    assert.match(await card.locator(".item-meta").innerText(), /PUT · Hang up once \(drop=1\)/);
    reqs = uploadRequests(EP1);
    assert.deepEqual(reqs.map((e) => [e.cutAt !== null, e.bytesReceived]), [[true, EP1.size], [false, EP1.size]], "cut once after the whole body, then sent again whole");
    const all = await entries(page, from);
    list = all.filter((e) => e.text.includes(label));
    assert.deepEqual(list.map((e) => e.method), ["action", "didSendBodyData", "didReceiveData", "didCompleteWithError"], "one upload for the app");
    // The attempts are the server's business; the card quotes its log.
    await waitFor(async () => (await card.locator(".up-log").count()) === 1, { what: "the server's log on the card" });
    assert.match(await card.locator(".up-log").innerText(), /^The test server's log shows 2 requests for this upload \(the app never sees the attempts\): #1: read 6\.0 MiB, then hung up without answering; #2: read 6\.0 MiB, answered HTTP 200 [\d.]+ s after the request began\.$/);

    // Cancel an upload the slow server is sitting on: -999, nothing sent.
    holder.server.resetLog();
    from = await count(page);
    await page.locator("#upload-mode-slow").check();
    await rowButton(page, EP1, "Upload").click();
    await waitUpload(page, EP1, "uploading");
    await waitFor(() => uploadRequests(EP1).some((e) => e.query.delayMs === "15000"), { what: "the slow upload to reach the server" });
    card = uploadCard(page, EP1).first();
    await card.getByRole("button", { name: "Cancel" }).click();
    await waitUpload(page, EP1, "cancelled");
    assert.equal(await card.locator(".state").innerText(), "Cancelled (-999).");
    assert.match(await card.locator(".up-server").innerText(), /no answer/);
    list = (await entries(page, from)).filter((e) => e.text.includes(label));
    assert.deepEqual(list.map((e) => e.method), ["action", "action", "didCompleteWithError"], "Upload, Cancel, then the completion only");
    assert.match(list[1].text, /You pressed “Cancel”/);
    assert.match(list[2].text, /The upload is over: it was cancelled \(NSURLErrorCancelled, -999\)\./);

    // Uploading from memory: refused, as on iOS.
    await page.locator(".up-memory summary").click();
    await page.getByRole("button", { name: "Try it" }).click();
    await waitFor(async () => (await page.locator("#upload-memory-result").innerText()).length > 0, { what: "the answer to an upload from memory" });
    assert.match(await page.locator("#upload-memory-result").innerText(), /^It throws, as on iOS: UploadFromDataInBackgroundSession: .*write the body to a file/);

    // Screenshots: desktop, then phone width (no sideways scrolling).
    await page.evaluate(() => document.activeElement && document.activeElement.blur());
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: `${OUT}demo-upload.png`, fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(300);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `no horizontal scrolling at 390px (scrollWidth ${width})`);
    await page.locator("#upload-panel").screenshot({ path: `${OUT}demo-upload-phone.png` });
    await page.close();
  });
});

test("demo lab: an upload to a slow server outlives its tab; the reopened page gets its callbacks replayed and the verified answer", async () => {
  await withDemo(async ({ context, errors }) => {
    holder.server.resetLog();
    const page1 = await openDemo(context, errors);
    const label = `Upload of ${EP1.item}`;
    await download(page1, EP1);
    await waitPhase(page1, EP1, "done");

    // Slow server: it reads the file, then answers 15 s later.
    holder.server.resetLog();
    await page1.locator("#upload-mode-slow").check();
    await rowButton(page1, EP1, "Upload").click();
    await waitUpload(page1, EP1, "uploading");
    const card1 = uploadCard(page1, EP1).first();
    assert.equal(await card1.locator(".state").innerText(), "Uploading in the daemon. The server answers 15 s after the last byte. You can close this tab now.");
    assert.equal(await card1.locator(".up-sent").innerText(), "Sent: unknown until the server answers. The browser reports no upload progress.");
    assert.equal(await card1.locator("progress").evaluate((p) => p.hasAttribute("value")), false, "an indeterminate bar");
    assert.match(await card1.locator(".up-server").innerText(), /waiting for the answer…/);
    const want = await generated(EP1);
    assert.equal(await card1.locator(".up-device .up-hash").innerText(), want.sha256, "the app noted the file's SHA-256 before handing it over");
    await waitFor(() => uploadRequests(EP1).some((e) => e.query.delayMs === "15000"), { what: "the upload to reach the server" });
    await page1.waitForTimeout(450); // the timeline is saved within 0.4 s of a change
    await page1.close(); // close the app mid-upload
    const closedAt = Date.now();

    // With no demo page open, the daemon gets the answer and completes the task.
    const observer = watch(await context.newPage(), errors);
    await observer.goto(`${holder.server.url}/fixtures/observer.html`);
    await waitFor(
      async () => (await observer.evaluate(() => window.tasks())).some((t) => t.kind === "upload" && t.state === "completed"),
      { timeout: 60_000, interval: 250, what: "the upload to complete with the tab closed" },
    );
    await observer.close();
    const reqs = uploadRequests(EP1);
    assert.equal(reqs.length, 1, "sent once");
    assert.ok(reqs[0].completed && reqs[0].end > closedAt, "the server answered after the tab was closed");

    // Reopen: relaunch, the upload's callbacks replayed, then all delivered.
    const page2 = await openDemo(context, errors);
    await entry(page2, "urlSessionDidFinishEvents").last().waitFor({ timeout: 30_000 });
    const list = await entries(page2);
    const lives = list.flatMap((e, i) => (e.method === "life" ? [i] : []));
    assert.equal(lives.length, 2, "two page lives in the list");
    const before = list.slice(0, lives[1]);
    assert.ok(before.some((e) => e.method === "action" && e.text.includes(label) && /You pressed “Upload”/.test(e.text)), "the Upload press before the close");
    assert.ok(!before.some((e) => e.method === "didSendBodyData"), "nothing was reported sent before the close (the server had not answered)");
    const after = list.slice(lives[1]);
    const at = (method) => after.findIndex((e) => e.method === method && (method.startsWith("urlSession") || method.startsWith("handle") || e.text.includes(label)));
    const handle = at("handleEventsForBackgroundURLSession");
    const done = at("urlSessionDidFinishEvents");
    const mine = after.filter((e) => e.text.includes(label));
    assert.deepEqual(mine.map((e) => e.method), ["didSendBodyData", "didReceiveData", "didCompleteWithError"], `the upload's callbacks: ${after.map((e) => e.method).join(", ")}`);
    assert.ok(handle >= 0 && handle < at("didSendBodyData") && at("didCompleteWithError") < done, `relaunch, upload callbacks, all delivered: ${after.map((e) => e.method).join(", ")}`);
    for (const e of mine) {
      assert.ok(e.replayed, `${e.method} marked replayed`);
      assert.match(e.text, /REPLAYED/i);
    }
    assert.match(mine[0].text, SENT);
    assert.match(mine[0].text, /6\.0 MiB of 6\.0 MiB[\s\S]*no upload progress/);
    assert.match(mine[1].text, RECEIVED);
    assert.match(mine[1].text, new RegExp(`it received 6,291,456 bytes, SHA-256 ${want.sha256.slice(0, 12)}…`));
    assert.match(mine[2].text, COMPLETED);
    assert.match(mine[2].text, /with no error: the server answered HTTP 200[\s\S]*Same size, same SHA-256: the bytes arrived intact/);

    // The card: the answer next to the hash noted before the close.
    await waitUpload(page2, EP1, "done");
    const card = uploadCard(page2, EP1).first();
    await checkVerified(card, want);
    assert.equal(await card.locator(".state").innerText(), "Uploaded while this page was closed: the server answered HTTP 200, and the callbacks were replayed at the relaunch.");
    assert.match(await card.locator(".item-meta").innerText(), /Slow server[\s\S]*replayed/i);
    await waitFor(async () => (await card.locator(".up-log").count()) === 1, { what: "the server's log on the card" });
    const waited = Number(/1 request for this upload \(the app never sees the attempts\): read 6\.0 MiB, answered HTTP 200 ([\d.]+) s after the request began\./.exec(await card.locator(".up-log").innerText())?.[1]);
    assert.ok(waited >= 15, `the server answered 15 s late: ${waited}`);

    // The timeline: replayed upload marks after the closed gap.
    const svg = page2.locator("#tl-svg");
    assert.equal(await svg.locator("g.mk-data.mk-replayed").count(), 2, "replayed didSendBodyData and didReceiveData marks");
    assert.ok(await svg.locator("g.mk-ok.mk-replayed").count() >= 1, "the replayed completion");
    assert.ok(await svg.locator("rect.tl-closed").count() >= 1, "the closed gap");
    await page2.evaluate(() => window.scrollTo(0, 0));
    await page2.locator(".timeline-panel").screenshot({ path: `${OUT}demo-upload-relaunch.png` });
    await page2.close();
  });
});
