// Cross-engine: the fault cases of faults.test.mjs (connection cuts, 503 +
// Retry-After, a 200 to a Range, the ETag changed, a short body), each ending
// with the file byte-exact and Apple's order. ENGINE=chromium|firefox|webkit|all.
import assert from "node:assert/strict";
import { shown, eachEngine, inBrowser, openAppIn, base, requestsFor, sentFor, assertOrder, assertFile, startDownload, waitDone, MiB, figure } from "./common.mjs";

const S = "com.example.x-faults";

eachEngine("connection cut 3 times: retried with Range, byte-exact, the bytes before each cut kept", {}, async (engine) => {
  await inBrowser(engine, async (browser) => {
    const page = await openAppIn(browser, base());
    const size = 4 * MiB;
    const name = `cuts-${engine}.bin`;
    const cuts = [700_001, 1_900_003, 3_100_005];
    const id = await startDownload(page, { session: S, url: `${base()}/files/${name}?size=${size}&rate=${4 * MiB}&cut=${cuts.join(",")}`, name });
    const entries = await waitDone(page, id);
    const reqs = requestsFor(`/files/${name}`);
    const reason = await page.evaluate((id) => window.errors?.[id]?.userInfo?.NSLocalizedFailureReason ?? null, id);
    assert.equal(reason, null, `the task failed: ${reason}`);
    assertOrder(entries, id);
    assert.equal(reqs.filter((r) => r.cutAt !== null).length, 3, "all 3 cuts happened");
    assert.ok(reqs.slice(1).every((r) => r.range && r.status === 206), "every retry a Range answered 206");
    const refetched = sentFor(`/files/${name}`) - size;
    figure(engine, "3 connection cuts: bytes fetched again", refetched, "B");
    // Each retry goes on from (about) where its cut was. When a connection
    // breaks, an engine discards the body it had received but not yet handed
    // to script, which no script can keep: WebKit hands the body over in
    // large batches and drops the unread one (per cut 68–350 KB seen; see the
    // unthrottled 200-to-a-Range scenario), Chromium 0 or one chunk (3 cuts: 0 and 353 KB),
    // Firefox 0. WebKit's sum can pass 1 MiB.
    reqs.slice(1).forEach((r, i) => {
      const from = Number(/^bytes=(\d+)-/.exec(r.range)?.[1] ?? 0);
      const cut = reqs[i].cutAt; // the file offset the previous request was cut at
      if (cut != null) assert.ok(cut - from <= 512 * 1024, `retry ${i + 1} starts at most 512 KiB before its cut (${cut - from} B): ${shown(`/files/${name}`)}`);
    });
    if (engine !== "webkit") assert.ok(refetched < MiB, `the bytes before each cut were kept: ${shown(`/files/${name}`)}`);
    await assertFile(page, name, { size });
  });
});

eachEngine("503 with Retry-After: 1 then the file", {}, async (engine) => {
  await inBrowser(engine, async (browser) => {
    const page = await openAppIn(browser, base());
    const size = 2 * MiB;
    const name = `busy-${engine}.bin`;
    const id = await startDownload(page, { session: S, url: `${base()}/files/${name}?size=${size}&fail503=2&retryAfter=1`, name });
    const entries = await waitDone(page, id);
    assertOrder(entries, id);
    const reqs = requestsFor(`/files/${name}`);
    assert.deepEqual(reqs.slice(0, 2).map((r) => r.status), [503, 503]);
    assert.ok(reqs.slice(2).every((r) => r.completed), "then answered");
    // Retry-After honoured: the retries were not sooner than asked (a lower bound only).
    assert.ok(reqs[1].start - reqs[0].start >= 950 && reqs[2].start - reqs[1].start >= 950, "Retry-After: 1 s honoured");
    await assertFile(page, name, { size });
  });
});

eachEngine("a server that answers 200 to a Range: restarts from zero, byte-exact", {
  // The scenario needs bytes stored before the cut, which this setup cannot
  // give in WebKit: an engine limit, not a decision of ours (measured in a
  // page of WebKitGTK 2.50.6 with tests/server: fetch, then reader.read()
  // until it rejects). WebKitGTK hands a fetch body to script in large
  // batches and, when the connection breaks, drops what it has received but
  // not yet handed over: reader.read() rejects (TypeError: Load failed) with
  // the last batch unread. Unthrottled on loopback the 2 MiB before this cut
  // arrive as one batch, so script gets 0 bytes (cut at 4 MiB: 0; at 16 MiB:
  // 8.1 MiB); Chromium and Firefox hand over every byte before the error.
  // With nothing stored the retry rightly asks for no Range (200, whole
  // body, byte-exact) and the 200-to-a-Range path is not reached. WebKit
  // runs the same scenario on an 8 MiB/s link (next test), where it is.
  only: ["chromium", "firefox"],
  why: "WebKit drops the unread body batch when the connection breaks, so unthrottled nothing is stored before the cut and no Range is sent: the 8 MiB/s scenario below takes this path in WebKit",
}, async (engine) => {
  await inBrowser(engine, async (browser) => {
    const page = await openAppIn(browser, base());
    const size = 4 * MiB;
    const name = `norange-${engine}.bin`;
    const id = await startDownload(page, { session: S, url: `${base()}/files/${name}?size=${size}&ignoreRange=1&cut=${2 * MiB}`, name });
    const entries = await waitDone(page, id);
    assertOrder(entries, id);
    const reqs = requestsFor(`/files/${name}`);
    assert.ok(reqs.slice(1).some((r) => r.range && r.status === 200), `a later request asked for a Range and got the whole body: ${shown(`/files/${name}`)}`);
    assert.deepEqual(entries.filter((e) => e[0] === "didResumeAtOffset" && e[1] === id).map((e) => e[2]), [0], "didResumeAtOffset(0)");
    await assertFile(page, name, { size });
  });
});

// The same server on a link of 8 MiB/s: every engine, WebKit too, hands
// script most of the bytes before the cut (WebKit ~1.7 of 2 MiB), so the retry
// asks for a Range (with If-Range) and gets the whole body again.
eachEngine("a server that answers 200 to a Range, 8 MiB/s link: restarts from zero, byte-exact", {}, async (engine) => {
  await inBrowser(engine, async (browser) => {
    const page = await openAppIn(browser, base());
    const size = 4 * MiB;
    const name = `norange-slow-${engine}.bin`;
    const id = await startDownload(page, { session: S, url: `${base()}/files/${name}?size=${size}&ignoreRange=1&cut=${2 * MiB}&rate=${8 * MiB}`, name });
    const entries = await waitDone(page, id);
    assertOrder(entries, id);
    const reqs = requestsFor(`/files/${name}`);
    assert.ok(reqs.slice(1).some((r) => r.range && r.status === 200), `a later request asked for a Range and got the whole body: ${shown(`/files/${name}`)}`);
    assert.deepEqual(entries.filter((e) => e[0] === "didResumeAtOffset" && e[1] === id).map((e) => e[2]), [0], "didResumeAtOffset(0)");
    await assertFile(page, name, { size });
  });
});

eachEngine("the ETag changes mid-transfer: the stale bytes are dropped, the new file is exact", {}, async (engine) => {
  await inBrowser(engine, async (browser) => {
    const page = await openAppIn(browser, base());
    const size = 4 * MiB;
    const name = `flip-${engine}.bin`;
    const id = await startDownload(page, { session: S, url: `${base()}/files/${name}?size=${size}&flipAfter=1&cut=${2 * MiB}`, name });
    const entries = await waitDone(page, id);
    assertOrder(entries, id);
    assert.ok(requestsFor(`/files/${name}`).some((r) => r.ifRange && r.status === 200), `If-Range did not match: the whole new body: ${shown(`/files/${name}`)}`);
    await assertFile(page, name, { size, flip: true });
  });
});

eachEngine("a short body (fewer bytes than Content-Length) is never success: retried, byte-exact", {}, async (engine) => {
  await inBrowser(engine, async (browser) => {
    const page = await openAppIn(browser, base());
    const size = 3 * MiB;
    const name = `short-${engine}.bin`;
    const id = await startDownload(page, { session: S, url: `${base()}/files/${name}?size=${size}&short=1&shortBy=4096`, name });
    const entries = await waitDone(page, id);
    assertOrder(entries, id);
    const reqs = requestsFor(`/files/${name}`);
    const short = reqs.findIndex((r) => r.shortAt !== null);
    assert.ok(short >= 0, "a short answer was sent");
    assert.ok(reqs.length > short + 1, "and retried");
    assert.ok(reqs.slice(short + 1).every((r) => r.status === 206), "with Ranges");
    const refetched = sentFor(`/files/${name}`) - size;
    figure(engine, "short body: bytes fetched again", refetched, "B");
    assert.ok(refetched <= reqs[short].bytesSent, "at most the broken answer is fetched again");
    await assertFile(page, name, { size });
  });
});
