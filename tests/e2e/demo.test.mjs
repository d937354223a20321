// The demo page (www/index.html) end to end, driven as a person would:
// 1. downloads started on the page finish in the daemon after the tab was
//    closed; reopening shows, as visible text, the closed gap on the timeline,
//    the relaunch, the replayed callbacks (with the history from before the
//    close), and the storage inspector's sizes;
// 2. the storage inspector: folders, largest files, leftover temp files,
//    delete, clear a folder, and the persistent-storage button.
// Screenshots go to tests/out/ (demo-desktop.png, demo-timeline.png, demo-phone.png, demo-storage.png).
// The failure lab and the task controls are in demo-lab.test.mjs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { waitFor, watch } from "./harness.mjs";
import { OUT, MiB, EP1, EP2, THROTTLE, demoServer, withDemo, openDemo as openDemoAt, row, waitPhase } from "./demo-helpers.mjs";

const holder = demoServer();
const openDemo = (context, errors, viewport) => openDemoAt(holder.server.url, context, errors, viewport);

// ---- helpers ------------------------------------------------------------------






// Picks the throttle (and the server failure) like a person, then presses Download.
async function download(page, ep, { throttle = "8MiB", fault = "none", saveTo } = {}) {
  await page.selectOption("#throttle", THROTTLE[throttle]);
  await page.locator(`#fault-${fault}`).check();
  if (saveTo) await page.selectOption("#save-to", saveTo);
  await row(page, ep).getByRole("button", { name: /^Download/ }).click();
}

// The callbacks list as a reader sees it.
const entries = (page) =>
  page.locator("#callbacks > li").evaluateAll((lis) =>
    lis.map((li) => ({ method: li.dataset.method, replayed: li.classList.contains("replayed"), text: li.innerText })),
  );

const entry = (page, method, hasText) => {
  const l = page.locator(`#callbacks > li[data-method="${method}"]`);
  return hasText ? l.filter({ hasText }) : l;
};

// ---- 1. close the tab, reopen: the timeline across the closed period --------

test("demo: downloads finish with the tab closed; the reopened page shows the closed gap, the relaunch, the replayed callbacks and the sizes", async () => {
  await withDemo(async ({ context, errors }) => {
    // Start two downloads at 2 MiB/s (about 3 s and 4 s), as a person would.
    const page1 = await openDemo(context, errors);
    assert.equal(await row(page1, EP2).locator(".state").innerText(), "Not downloaded");
    assert.match(await page1.locator("#timeline-heading").innerText(), /Timeline/);
    await download(page1, EP2, { throttle: "2MiB" });
    await download(page1, EP1, { throttle: "2MiB" });
    await page1.waitForFunction((item) => document.querySelector(`[data-item="${item}"] progress`).value > 0, EP2.item, { timeout: 30_000 });
    const progressed = await row(page1, EP2).locator("progress").evaluate((p) => ({ value: p.value, max: p.max }));
    assert.ok(progressed.value > 0 && progressed.value < progressed.max, `the bar moved but is not full: ${JSON.stringify(progressed)}`);
    assert.match(await row(page1, EP2).locator(".state").innerText(), /Downloading/);
    assert.match(await row(page1, EP2).locator(".bytes").innerText(), /of 8\.0 MiB/);
    assert.match(await page1.locator("#session-total").innerText(), /Session: 2 downloads, .* of 14\.0 MiB/);
    assert.ok(await entry(page1, "didWriteData", EP2.title).first().isVisible(), "a live didWriteData line");
    assert.ok(await page1.locator("#tl-svg .mk-tick").count() > 0, "progress ticks on the App lane");
    assert.ok(await page1.locator("#tl-svg .tl-d-busy").count() > 0, "the Daemon lane is busy");
    await page1.waitForTimeout(450); // the timeline is saved within 0.4 s of a change
    await page1.close(); // "close the app"

    // 2. With no demo page open, the daemon completes both tasks.
    const observer = watch(await context.newPage(), errors);
    await observer.goto(`${holder.server.url}/fixtures/observer.html`);
    await waitFor(
      async () => {
        const tasks = await observer.evaluate(() => window.tasks());
        return tasks.length === 2 && tasks.every((t) => t.state === "completed");
      },
      { timeout: 60_000, interval: 250, what: "the daemon to complete both downloads with the tab closed" },
    );
    await observer.close();
    for (const ep of [EP1, EP2]) {
      assert.ok(holder.server.log.some((e) => e.path === `/files/${ep.item}` && e.completed), `the server sent all of ${ep.item}`);
    }

    // 3. Reopen: relaunch, replayed callbacks, then urlSessionDidFinishEvents.
    const page2 = await openDemo(context, errors);
    await entry(page2, "urlSessionDidFinishEvents").last().waitFor({ timeout: 30_000 });
    const list = await entries(page2);
    const lives = list.flatMap((e, i) => (e.method === "life" ? [i] : []));
    assert.equal(lives.length, 2, `two page lives in the list: ${list.map((e) => e.method).join(", ")}`);
    assert.match(list[lives[1]].text, /Closed from \d\d:\d\d:\d\d to \d\d:\d\d:\d\d \(\d+(\.\d)? s\)\. The page opened again/);
    // The history from before the close was kept (localStorage).
    const before = list.slice(0, lives[1]);
    assert.ok(before.some((e) => e.method === "action" && /You pressed “Download”/.test(e.text) && e.text.includes(EP2.title)), "the Download press before the close");
    assert.ok(before.some((e) => e.method === "didWriteData" && !e.replayed && e.text.includes(EP2.title)), "the live progress before the close");
    const afterClose = list.slice(lives[1]);
    const at = (method, title) => afterClose.findIndex((e) => e.method === method && (!title || e.text.includes(title)));
    const handle = at("handleEventsForBackgroundURLSession");
    const done = at("urlSessionDidFinishEvents");
    assert.ok(at("launch") < handle, "the page opened, then the relaunch");
    assert.match(afterClose[handle].text, /RELAUNCH/i);
    assert.match(afterClose[handle].text, /application\(_:handleEventsForBackgroundURLSession:completionHandler:\)/);
    for (const ep of [EP1, EP2]) {
      const finish = at("didFinishDownloadingTo", ep.title);
      const complete = at("didCompleteWithError", ep.title);
      assert.ok(handle < finish && finish < complete && complete < done, `order for ${ep.item}: ${afterClose.map((e) => e.method).join(", ")}`);
      assert.ok(afterClose[finish].replayed && afterClose[complete].replayed, `${ep.item}: marked replayed`);
      assert.match(afterClose[finish].text, /REPLAYED/i);
      assert.match(afterClose[finish].text, /urlSession\(_:downloadTask:\s*didFinishDownloadingTo:\)/);
      assert.match(afterClose[finish].text, new RegExp(`moved it to file:///Documents/${ep.item.replace(/\./g, "\\.")}`));
      assert.match(afterClose[complete].text, /urlSession\(_:task:\s*didCompleteWithError:\)/);
      assert.match(afterClose[complete].text, /with no error/);
    }
    assert.equal(afterClose.filter((e) => e.method === "handleEventsForBackgroundURLSession").length, 1);
    assert.equal(afterClose.filter((e) => e.method === "urlSessionDidFinishEvents").length, 1);
    assert.ok(!afterClose[handle].replayed && !afterClose[done].replayed);
    assert.match(await page2.locator("#session-status").innerText(), /all queued events delivered/);

    // The timeline: a closed gap on the App lane, "not observed" on the
    // Daemon lane, replayed marks, the summary.
    const svg = page2.locator("#tl-svg");
    await svg.locator("rect.tl-closed").first().waitFor({ state: "attached" });
    assert.ok(await svg.locator("rect.tl-d-unobserved").count() >= 1, "the daemon was not observed while closed");
    assert.ok(await svg.locator("rect.tl-alive.relaunched").count() === 1, "the relaunched life");
    assert.ok(await svg.locator("text", { hasText: /^closed/ }).first().isVisible(), "the word “closed” on the App lane");
    assert.ok(await svg.locator("g.mk-replayed").count() >= 4, "replayed marks");
    const summary = await page2.locator("#tl-summary").innerText();
    assert.match(summary, /\d+ callbacks since \d\d:\d\d:\d\d, \d+ of them replayed after a relaunch; the app was closed 1 time \(\d+(\.\d)? s in all\)\./);
    // Hover a replayed mark: Apple's name and the explanation.
    const finishMark = svg.locator("g.mk-replayed.mk-ok").first();
    await finishMark.hover();
    const tip = page2.locator("#tl-tip");
    await tip.waitFor({ state: "visible" });
    assert.match(await tip.innerText(), /urlSession\(_:downloadTask:didFinishDownloadingTo:\)[\s\S]*replayed[\s\S]*temporary location/);
    // Keyboard: focus moves between marks with the arrow keys.
    await finishMark.focus();
    const first = await tip.innerText();
    await page2.keyboard.press("ArrowRight");
    await waitFor(async () => (await tip.innerText()) !== first, { what: "the tooltip to follow the focus" });
    assert.equal(await page2.evaluate(() => document.activeElement.getAttribute("tabindex")), "0", "roving tabindex");
    await page2.screenshot({ path: `${OUT}demo-timeline-tip.png`, clip: await page2.locator(".tl").boundingBox() });

    // The rows and the storage inspector, as visible text.
    for (const ep of [EP1, EP2]) {
      await waitFor(async () => /saved in Documents/.test(await row(page2, ep).locator(".state").innerText()), { what: `${ep.item} saved` });
    }
    const docs = page2.locator('#st-usage .st-row[data-folder="documents"]');
    await waitFor(async () => /14\.0 MiB/.test(await docs.innerText()), { what: "Documents 14.0 MiB in the inspector" });
    assert.equal(await docs.getAttribute("data-bytes"), String(14 * MiB));
    assert.match(await page2.locator('#st-usage .st-row[data-folder="tmp"]').innerText(), /0 B/);
    assert.match(await page2.locator('#st-usage .st-row[data-folder="caches"]').innerText(), /0 B/);
    assert.match(await page2.locator("#st-total").innerText(), /^Total 14\.0 MiB of about .* this site may use/);
    const largest = await page2.locator("#st-largest > li").allInnerTexts();
    assert.equal(largest.length, 2);
    assert.match(largest[0], /ep02-inside-urlsession\.mp3[\s\S]*\/Documents[\s\S]*8\.0 MiB/);
    assert.match(largest[1], /ep01-welcome\.mp3[\s\S]*\/Documents[\s\S]*6\.0 MiB/);
    assert.match(await page2.locator("#st-tmp-count").innerText(), /none/);

    // Screenshots: desktop, the timeline, then phone width.
    await page2.mouse.move(0, 0);
    await page2.evaluate(() => document.activeElement && document.activeElement.blur());
    await page2.evaluate(() => window.scrollTo(0, 0));
    await page2.screenshot({ path: `${OUT}demo-desktop.png`, fullPage: true });
    await page2.locator(".timeline-panel").screenshot({ path: `${OUT}demo-timeline.png` });
    await page2.setViewportSize({ width: 390, height: 844 });
    await page2.waitForTimeout(300);
    const overflow = await page2.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(overflow <= 390, `no horizontal scrolling at 390px (scrollWidth ${overflow})`);
    assert.ok(await svg.locator("rect.tl-closed").first().isVisible() || (await page2.locator("#tl-scroll").evaluate((s) => s.scrollWidth > s.clientWidth)), "the timeline fits or scrolls inside its box");
    await page2.evaluate(() => window.scrollTo(0, 0));
    await page2.screenshot({ path: `${OUT}demo-phone.png`, fullPage: true });
    await page2.close();
  });
});

// ---- 2. the storage inspector ---------------------------------------------

test("demo: the storage inspector shows folders, largest files and leftovers; delete, clear and persist work", async () => {
  await withDemo(async ({ context, errors }) => {
    const page = await openDemo(context, errors);
    await page.locator("#storage-panel[data-ready='1']").waitFor();
    assert.match(await page.locator("#st-largest-empty").innerText(), /No files yet/);

    // Ep. 1 into Documents, Ep. 2 into Library/Caches.
    await download(page, EP1, { saveTo: "file:///Documents" });
    await waitPhase(page, EP1, "done");
    await download(page, EP2, { saveTo: "file:///Library/Caches" });
    await waitPhase(page, EP2, "done");
    assert.match(await row(page, EP2).locator(".state").innerText(), /saved in Library\/Caches/);
    const usage = (folder) => page.locator(`#st-usage .st-row[data-folder="${folder}"]`);
    await waitFor(async () => /8\.0 MiB/.test(await usage("caches").innerText()), { what: "Caches 8.0 MiB" });
    assert.match(await usage("documents").innerText(), /6\.0 MiB/);
    assert.match(await usage("tmp").innerText(), /0 B/);
    assert.match(await page.locator("#st-total").innerText(), /^Total 14\.0 MiB/);
    // The bars are drawn to scale: Caches is the longest, Documents 3/4 of it.
    const widths = await page.locator("#st-usage .st-fill").evaluateAll((f) => f.map((x) => parseFloat(x.style.width)));
    assert.deepEqual(widths, [0, 75, 100], "bar lengths (%) of tmp, Documents, Caches");
    let largest = await page.locator("#st-largest > li").allInnerTexts();
    assert.match(largest[0], /ep02-inside-urlsession\.mp3[\s\S]*\/Library\/Caches[\s\S]*8\.0 MiB/);
    assert.match(largest[1], /ep01-welcome\.mp3[\s\S]*\/Documents[\s\S]*6\.0 MiB/);

    // A temp file left behind (as by an app that crashed in didFinishDownloadingTo).
    await page.evaluate(async () => {
      const { FileManager } = await import("/pkg/bgsession.js");
      await FileManager.default.copyItem("file:///Documents/ep01-welcome.mp3", "file:///tmp/CFNetworkDownload_leftover.tmp");
    });
    await page.locator("#st-refresh").click();
    await waitFor(async () => /1 leftover file, 6\.0 MiB/.test(await page.locator("#st-tmp-count").innerText()), { what: "the leftover temp file" });
    assert.match(await page.locator("#st-tmp").innerText(), /file:\/\/\/tmp\/CFNetworkDownload_leftover\.tmp[\s\S]*6\.0 MiB/);
    assert.match(await usage("tmp").innerText(), /6\.0 MiB/);
    await page.locator("#storage-panel").screenshot({ path: `${OUT}demo-storage.png` });
    await page.getByRole("button", { name: "Delete temp files" }).click();
    await waitFor(async () => /none/.test(await page.locator("#st-tmp-count").innerText()), { what: "tmp emptied" });
    assert.match(await usage("tmp").innerText(), /0 B/);
    assert.match(await page.locator("#st-status").innerText(), /Cleared file:\/\/\/tmp/);

    // Delete one file from the largest-files list: the row says it is gone.
    await page.getByRole("button", { name: "Delete ep02-inside-urlsession.mp3" }).click();
    await waitFor(async () => /0 B/.test(await usage("caches").innerText()), { what: "Caches emptied" });
    assert.match(await page.locator("#st-status").innerText(), /Deleted ep02-inside-urlsession\.mp3 \(8\.0 MiB\)/);
    largest = await page.locator("#st-largest > li").allInnerTexts();
    assert.equal(largest.length, 1);
    await waitFor(async () => (await row(page, EP2).locator(".state").innerText()) === "Not downloaded", { what: "Ep. 2 not downloaded any more" });

    // Clear a whole folder: Documents.
    await page.getByRole("button", { name: /^Clear Documents/ }).click();
    await waitFor(async () => /0 B/.test(await usage("documents").innerText()), { what: "Documents cleared" });
    assert.match(await page.locator("#st-status").innerText(), /Cleared file:\/\/\/Documents/);
    assert.match(await page.locator("#st-total").innerText(), /^Total 0 B/);
    await page.locator("#st-largest-empty").waitFor({ state: "visible" });
    assert.equal(await page.getByRole("button", { name: /^Clear Documents/ }).isDisabled(), true);
    await waitFor(async () => (await row(page, EP1).locator(".state").innerText()) === "Not downloaded", { what: "Ep. 1 not downloaded any more" });

    // And Library/Caches.
    await download(page, EP2, { saveTo: "file:///Library/Caches" });
    await waitPhase(page, EP2, "done");
    await waitFor(async () => /8\.0 MiB/.test(await usage("caches").innerText()), { what: "Caches 8.0 MiB again" });
    await page.getByRole("button", { name: /^Clear Library\/Caches/ }).click();
    await waitFor(async () => /0 B/.test(await usage("caches").innerText()), { what: "Caches cleared" });
    assert.match(await page.locator("#st-status").innerText(), /Cleared file:\/\/\/Library\/Caches/);
    assert.equal(await page.getByRole("button", { name: /^Clear Library\/Caches/ }).isDisabled(), true);

    // Persistent storage: a fresh profile is best effort; the button asks
    // and the page shows the browser's answer.
    assert.match(await page.locator("#st-persisted").innerText(), /^Best effort/);
    assert.equal(await page.locator("#st-persist").isDisabled(), false);
    await page.getByRole("button", { name: "Request persistent storage" }).click();
    await waitFor(async () => (await page.locator("#st-persist-result").innerText()).length > 0, { what: "the answer to persist()" });
    const granted = await page.evaluate(() => navigator.storage.persisted());
    assert.match(await page.locator("#st-persist-result").innerText(), granted ? /granted persistent storage/ : /said no/);
    assert.match(await page.locator("#st-persisted").innerText(), granted ? /^Persistent/ : /^Best effort/);
    await page.close();
  });
});
