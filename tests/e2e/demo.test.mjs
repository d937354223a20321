// The demo page (www/index.html) end to end: a download started on the page
// finishes in the daemon after the tab was closed, and reopening the page
// shows the relaunch (handleEventsForBackgroundURLSession), the replayed
// callbacks and the file in Documents, as visible text.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { startServer, newProfile, removeProfile, launch, watch, waitFor } from "./harness.mjs";

const OUT = fileURLToPath(new URL("../out/", import.meta.url));
const ITEM = "ep02-inside-urlsession.mp3"; // 8 MiB at 1 MiB/s: about 8 s
const TITLE = "Ep. 2: Inside URLSession";
const ID = "com.example.bgsession.demo";

let server;
before(async () => {
  server = await startServer({ port: 0 });
  await mkdir(OUT, { recursive: true });
});
after(async () => {
  await server.close();
});

async function openDemo(context, errors, viewport = { width: 1280, height: 800 }) {
  const page = watch(await context.newPage(), errors);
  await page.setViewportSize(viewport);
  await page.goto(`${server.url}/`);
  await page.waitForFunction(() => document.body.dataset.ready === "1", null, { timeout: 30_000 });
  return page;
}

test("demo: a download finishes with the tab closed; reopening shows the replayed callbacks and the file", async () => {
  const profile = await newProfile();
  const context = await launch(profile);
  const errors = [];
  try {
    // 1. Start the 8 MiB episode and wait until its progress bar moves.
    const page1 = await openDemo(context, errors);
    const row = page1.locator(`[data-item="${ITEM}"]`);
    assert.equal(await row.locator(".state").innerText(), "Not downloaded");
    await row.locator("button.download").click();
    await page1.waitForFunction(
      (item) => document.querySelector(`[data-item="${item}"] progress`).value > 0,
      ITEM,
      { timeout: 30_000 },
    );
    const progressed = await row.locator("progress").evaluate((p) => ({ value: p.value, max: p.max }));
    assert.ok(progressed.value > 0 && progressed.value < progressed.max, `the bar moved but is not full: ${JSON.stringify(progressed)}`);
    assert.match(await row.locator(".state").innerText(), /Downloading/);
    assert.ok(
      await page1.locator('#callbacks li[data-method="didWriteData"]').filter({ hasText: TITLE }).isVisible(),
      "a live didWriteData line for the item",
    );
    await page1.close();

    // 2. With no demo page open, the daemon completes the task.
    const observer = watch(await context.newPage(), errors);
    await observer.goto(`${server.url}/fixtures/observer.html`);
    await waitFor(
      async () => {
        const tasks = await observer.evaluate(() => window.tasks());
        return tasks.length === 1 && tasks[0].state === "completed";
      },
      { timeout: 60_000, interval: 250, what: "the daemon to complete the download with the tab closed" },
    );
    await observer.close();
    const served = server.log.filter((e) => e.path === `/files/${ITEM}`);
    assert.ok(served.some((e) => e.completed), "the server sent the whole file");

    // 3. Reopen the demo: relaunch, replayed callbacks, then urlSessionDidFinishEvents.
    const page2 = await openDemo(context, errors);
    const callbacks = page2.locator("#callbacks");
    await callbacks.locator('li[data-method="urlSessionDidFinishEvents"]').waitFor({ timeout: 30_000 });
    const entries = await callbacks.locator("li").evaluateAll((lis) =>
      lis.map((li) => ({ method: li.dataset.method, replayed: li.classList.contains("replayed"), text: li.innerText })),
    );
    const index = (method) => entries.findIndex((e) => e.method === method && (method.startsWith("did") ? e.text.includes(TITLE) : true));
    const handle = index("handleEventsForBackgroundURLSession");
    const finish = index("didFinishDownloadingTo");
    const complete = index("didCompleteWithError");
    const done = index("urlSessionDidFinishEvents");
    assert.equal(handle, 0, "handleEventsForBackgroundURLSession comes first");
    assert.ok(handle < finish && finish < complete && complete < done, `order: ${entries.map((e) => e.method).join(", ")}`);
    assert.equal(entries.filter((e) => e.method === "handleEventsForBackgroundURLSession").length, 1);
    assert.equal(entries.filter((e) => e.method === "urlSessionDidFinishEvents").length, 1);
    assert.ok(entries[finish].replayed && entries[complete].replayed, "didFinishDownloadingTo and didCompleteWithError are marked replayed");
    assert.ok(!entries[handle].replayed && !entries[done].replayed);

    // Visible text, as a reader sees it.
    const text = await callbacks.innerText();
    assert.match(text, /application\(_:handleEventsForBackgroundURLSession:completionHandler:\)/);
    assert.match(text, /urlSessionDidFinishEvents\(forBackgroundURLSession:\)/);
    const finishLi = callbacks.locator('li.replayed[data-method="didFinishDownloadingTo"]').filter({ hasText: TITLE });
    const completeLi = callbacks.locator('li.replayed[data-method="didCompleteWithError"]').filter({ hasText: TITLE });
    assert.equal(await finishLi.count(), 1);
    assert.equal(await completeLi.count(), 1);
    await finishLi.scrollIntoViewIfNeeded();
    assert.ok(await finishLi.isVisible());
    const finishText = await finishLi.innerText();
    assert.match(finishText, /replayed/i);
    assert.match(finishText, /urlSession\(_:downloadTask:\s*didFinishDownloadingTo:\)/);
    assert.match(finishText, new RegExp(`moved it to file:///Documents/${ITEM.replace(/\./g, "\\.")}`));
    const completeText = await completeLi.innerText();
    assert.match(completeText, /urlSession\(_:task:\s*didCompleteWithError:\)/);
    assert.match(completeText, /no error/);
    assert.match(await page2.locator("#session-status").innerText(), /all queued events delivered/);

    // The row and the Documents list.
    const row2 = page2.locator(`[data-item="${ITEM}"]`);
    await waitFor(async () => /saved in Documents/.test(await row2.locator(".state").innerText()), { what: "the row to say saved" });
    const doc = page2.locator(`#documents li[data-url="file:///Documents/${ITEM}"]`);
    await doc.waitFor({ timeout: 10_000 });
    const docText = await doc.innerText();
    assert.match(docText, new RegExp(ITEM.replace(/\./g, "\\.")));
    assert.match(docText, /8\.0 MiB/);
    assert.equal(await doc.getAttribute("data-size"), String(8 << 20));
    assert.match(await page2.locator("#storage").innerText(), /Documents 8\.0 MiB/);

    // Screenshots: desktop, then phone width.
    await page2.evaluate(() => window.scrollTo(0, 0));
    await page2.screenshot({ path: `${OUT}demo-desktop.png`, fullPage: true });
    await page2.setViewportSize({ width: 390, height: 844 });
    const overflow = await page2.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(overflow <= 390, `no horizontal scrolling at 390px (scrollWidth ${overflow})`);
    await page2.screenshot({ path: `${OUT}demo-phone.png`, fullPage: true });
    await page2.close();

    assert.deepEqual(errors, [], "no console errors");
  } finally {
    await context.close();
    await removeProfile(profile);
  }
});
