// Two tabs of one origin, each with its own URLSession for the same
// identifier (allowed: one live session per identifier per page). API.md:
// "Events for an identifier go to one page at a time (other tabs of the
// origin don't receive them twice)", each event exactly once and in order;
// taskIdentifier is "unique in its session".
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, openApp, waitFor, watch, withBrowser } from "./harness.mjs";
import { MiB, assertTaskOrder, assertProgress, readJournal, appLog, waitLog, assertFile } from "./order-helpers.mjs";

let server;
before(async () => {
  server = await startServer({ port: 0 });
});
after(async () => {
  await server.close();
});

const DOWNLOAD = "didWriteData* didFinishDownloadingTo didCompleteWithError";
const lockName = (id) => `bgsession:events:${id}`;


// Opens the identifier's session in a tab and notes when it holds the
// identifier's lock (`session.ready`).
function openSessionIn(page, id) {
  return page.evaluate((id) => {
    window.sessionReady = false;
    window.openSession(id).ready.then(() => (window.sessionReady = true));
  }, id);
}

// This tab's view of the Web Locks of the origin, for one lock name.
function lockState(page, name) {
  return page.evaluate(async (name) => {
    const s = await navigator.locks.query();
    return { held: s.held.filter((l) => l.name === name).length, pending: s.pending.filter((l) => l.name === name).length };
  }, name);
}

test("one tab at a time gets an identifier's events; when it closes, the other takes over: each event once overall, in order", async () => {
  await withBrowser(async ({ context, errors }) => {
    const ID = "com.example.multitab";
    const files = {
      a: { name: "tab-a.bin", size: 4 * MiB, rate: 512 << 10 }, // ~8 s
      b: { name: "tab-b.bin", size: 4 * MiB, rate: 512 << 10 },
    };
    const tabA = await openApp(context, server.url, errors);
    await openSessionIn(tabA, ID);
    await tabA.waitForFunction(() => window.sessionReady === true);
    const tabB = await openApp(context, server.url, errors);
    assert.deepEqual(await tabB.evaluate(() => window.launchedIds), [], "B's launch check leaves the identifier to A");
    await openSessionIn(tabB, ID);
    // B's session waits for the identifier's lock, which A holds.
    await waitFor(async () => (await lockState(tabB, lockName(ID))).pending === 1, { what: "B's request for the lock" });
    assert.deepEqual(await lockState(tabB, lockName(ID)), { held: 1, pending: 1 });

    // Each tab starts one throttled download in its own URLSession object.
    const start = (page, f) =>
      page.evaluate(
        async ({ id, url, name }) => {
          const task = window.sessions[id].downloadTask(url);
          task.taskDescription = name;
          await task.resume();
          return task.taskIdentifier;
        },
        { id: ID, url: `${server.url}/files/${f.name}?size=${f.size}&rate=${f.rate}`, name: f.name },
      );
    const idA = await start(tabA, files.a);
    const idB = await start(tabB, files.b);
    assert.notEqual(idA, idB, "distinct task identifiers");

    // Only A, the lock holder, receives events — for B's task too.
    for (const id of [idA, idB]) await waitLog(tabA, (e) => e[0] === "didWriteData" && e[1] === id, `A to get progress of task ${id}`);
    assert.deepEqual(await appLog(tabB), [], "B received nothing while A holds the identifier");
    assert.equal(await tabB.evaluate(() => window.sessionReady), false, "B's session is still waiting for the lock");

    // A stops in the middle of a delegate call (its didWriteData never
    // returns), so that call is not delivered and events pile up; then A closes.
    await tabA.evaluate((id) => {
      const delegate = window.sessions[id].delegate;
      delegate.didWriteData = (session, task, written, total, expected) => {
        window.blocked = ["didWriteData", task.taskIdentifier, written, total, expected];
        return new Promise(() => {});
      };
    }, ID);
    const blocked = await tabA.waitForFunction(() => window.blocked, null, { timeout: 30_000 }).then((h) => h.jsonValue());
    const logA = await appLog(tabA);
    assert.ok(!logA.some((e) => e[0] === "didFinishDownloadingTo"), "no download finished in A");
    const lastTotalA = (id) => logA.filter((e) => e[0] === "didWriteData" && e[1] === id).reduce((n, e) => Math.max(n, e[3]), 0);
    // Wait for a later event than the blocked one, so several are queued.
    const queued = await waitFor(
      async () => {
        const j = (await readJournal(tabB)).filter((e) => e.session === ID);
        const later = j.some((e) => e.event.type !== "didWriteData" || e.taskId !== blocked[1] || e.event.totalBytesWritten > blocked[3]);
        return later && j;
      },
      { timeout: 30_000, what: "an event after the blocked one" },
    );
    // Nothing A has delivered is still in the journal (its acknowledgements
    // are committed), so A's log counts as delivered, not to be replayed.
    for (const e of queued) {
      if (e.event.type === "didWriteData") assert.ok(e.event.totalBytesWritten > lastTotalA(e.taskId), "queued progress is newer than what A delivered");
    }
    assert.deepEqual(await appLog(tabB), [], "B still received nothing");
    await tabA.close();

    // B takes the lock and delivers the rest.
    await tabB.waitForFunction(() => window.sessionReady === true, null, { timeout: 30_000 });
    assert.deepEqual(await lockState(tabB, lockName(ID)), { held: 1, pending: 0 }, "B holds the lock");
    for (const id of [idA, idB]) await waitLog(tabB, (e) => e[0] === "didCompleteWithError" && e[1] === id, `B to get task ${id}'s completion`);
    const logB = await appLog(tabB);

    // The interrupted call is delivered again in B (coalesced progress may
    // carry a later total).
    const firstInB = logB.find((e) => e[1] === blocked[1] && e[0] !== "moved");
    assert.equal(firstInB[0], "didWriteData", "B's first call for the interrupted task is its progress");
    assert.ok(firstInB[3] >= blocked[3], "at or after the interrupted total");
    assert.equal(firstInB[2], firstInB[3] - lastTotalA(blocked[1]), "bytesWritten counts from what A delivered");

    // Every event exactly once over both tabs, in API.md's order.
    const both = [...logA, ...logB];
    for (const [id, f] of [[idA, files.a], [idB, files.b]]) {
      const calls = assertTaskOrder(both, id, DOWNLOAD, `task ${id} over both tabs`);
      const { sum } = assertProgress(calls, { size: f.size, what: `task ${id} over both tabs` });
      assert.equal(sum, f.size, `task ${id}: bytesWritten over both tabs adds up to the file size (no progress lost or repeated)`);
      assert.deepEqual(calls.at(-1), ["didCompleteWithError", id, null, "completed"]);
      assert.ok(logA.some((e) => e[1] === id), `A delivered some of task ${id}'s events`);
      assert.ok(logB.some((e) => e[0] === "didFinishDownloadingTo" && e[1] === id), `B delivered task ${id}'s file`);
      await assertFile(server, tabB, `file:///Documents/${f.name}`, f);
    }
    // App-level calls: the takeover is not a page launch, so B gets no
    // handleEventsForBackgroundURLSession; its session opened with queued
    // events, so it gets urlSessionDidFinishEvents once, after those.
    assert.ok(!logA.some((e) => e[0] === "urlSessionDidFinishEvents" || e[0] === "handleEventsForBackgroundURLSession"), "A: live session, no app-level calls");
    assert.ok(!logB.some((e) => e[0] === "handleEventsForBackgroundURLSession"), "B: no handleEventsForBackgroundURLSession");
    const finishes = logB.map((e, i) => [e, i]).filter(([e]) => e[0] === "urlSessionDidFinishEvents");
    assert.equal(finishes.length, 1, "B: urlSessionDidFinishEvents once");
    assert.ok(finishes[0][1] > logB.indexOf(firstInB), "after the queued events");
    console.log(`# takeover: A delivered ${logA.length} calls, B ${logB.length}: ${logB.map((e) => e[0]).join(", ")}`);
    assert.deepEqual(await readJournal(tabB), [], "the journal is empty");
  });
});

test("two tabs creating tasks in one session at the same moment get distinct taskIdentifiers", async () => {
  await withBrowser(async ({ context, errors }) => {
    const ID = "com.example.multitab.ids";
    const ROUNDS = 5;
    const size = 64 << 10;
    const tabs = { A: await openApp(context, server.url, errors), B: await openApp(context, server.url, errors) };
    await openSessionIn(tabs.A, ID);
    await tabs.A.waitForFunction(() => window.sessionReady === true);
    await openSessionIn(tabs.B, ID);
    // On a "go" message each tab creates and resumes a task at once.
    for (const [tag, page] of Object.entries(tabs)) {
      await page.evaluate(
        ({ id, tag, base, size }) => {
          window.created = [];
          new BroadcastChannel("multitab-go").onmessage = async ({ data: round }) => {
            const name = `ids-${tag}${round}.bin`;
            // Slow enough (4 s) that every record is still stored when the
            // test reads them: a finished task is forgotten once delivered.
            const url = `${base}/files/${name}?size=${size}&rate=${size / 4}`;
            const task = window.sessions[id].downloadTask(url);
            task.taskDescription = name;
            const atCreation = task.taskIdentifier;
            await task.resume();
            window.created.push({ round, name, url, atCreation, afterResume: task.taskIdentifier, urlAfterResume: task.originalRequest.url });
          };
        },
        { id: ID, tag, base: server.url, size },
      );
    }
    // A third page sends "go" to both tabs at once, round after round.
    const starter = watch(await context.newPage(), errors);
    await starter.goto(`${server.url}/fixtures/observer.html`);
    for (let round = 0; round < ROUNDS; round++) {
      await starter.evaluate((round) => new BroadcastChannel("multitab-go").postMessage(round), round);
      for (const page of Object.values(tabs)) {
        await page.waitForFunction((n) => window.created.length === n, round + 1);
      }
    }
    const created = [];
    for (const [tag, page] of Object.entries(tabs)) created.push(...(await page.evaluate(() => window.created)).map((c) => ({ tag, ...c })));
    // What the daemon stored, once every resume() has been answered (each
    // record is final then; a finished one is forgotten once delivered, so
    // this reads them while they run).
    const stored = await waitFor(
      async () => {
        const tasks = (await starter.evaluate(() => window.tasks())).filter((t) => t.session === ID);
        return tasks.length >= 2 * ROUNDS && tasks;
      },
      { timeout: 60_000, what: "the daemon to store every task" },
    );
    const ids = created.map((c) => c.atCreation);
    const dupes = [...new Set(ids.filter((id, i) => ids.indexOf(id) !== i))];
    console.log(
      `# ${created.length} tasks created, ${new Set(ids).size} distinct taskIdentifiers, the daemon stored ${stored.length}, ` +
        `the server was asked for ${new Set(server.log.filter((e) => e.path.startsWith("/files/ids-")).map((e) => e.path)).size} files` +
        (dupes.length ? `; shared identifiers: ${dupes.map((d) => `${d} (${created.filter((c) => c.atCreation === d).map((c) => c.name).join(" / ")})`).join(", ")}` : "") +
        created
          .filter((c) => c.urlAfterResume !== c.url)
          .map((c) => `; after resume() ${c.name} is ${c.urlAfterResume.split("/").pop().split("?")[0]}`)
          .join("") +
        created
          .filter((c) => !server.log.some((e) => e.path === `/files/${c.name}`))
          .map((c) => `; ${c.name} never fetched`)
          .join(""),
    );

    // After resume(): every task is in the session under its own identifier,
    // and is still the task its tab created (not another tab's).
    const afterResume = created.map((c) => c.afterResume);
    assert.equal(new Set(afterResume).size, 2 * ROUNDS, `every resumed task has its own taskIdentifier (${JSON.stringify(created.map((c) => [c.name, c.afterResume]))})`);
    for (const c of created) {
      assert.equal(c.urlAfterResume, c.url, `${c.name}: after resume() the task is still the one created (not another tab's)`);
    }
    assert.equal(stored.length, 2 * ROUNDS, "the daemon stored every task");
    for (const c of created) {
      const s = stored.find((t) => t.taskId === c.afterResume);
      assert.equal(s.originalRequest.url, c.url, `${c.name}: stored under its own identifier`);
    }
    // Tabs cannot share a counter synchronously, so two tabs creating tasks
    // in the same instant may draw the same number; the daemon, which stores
    // tasks one transaction at a time, keeps it for the first and renumbers
    // the other when its resume() stores it (before any event). So: only a
    // shared number ever changes, and one task of each shared number keeps it.
    for (const c of created) {
      if (c.afterResume !== c.atCreation) assert.ok(dupes.includes(c.atCreation), `${c.name}: renumbered only because ${c.atCreation} was drawn twice`);
    }
    for (const d of dupes) {
      assert.equal(created.filter((c) => c.atCreation === d && c.afterResume === d).length, 1, `one task keeps the shared number ${d}`);
    }
    // The lock holder (A) delivers every task's events, B's too, and every file is exact.
    for (const c of created) {
      const log = await waitLog(tabs.A, (e) => e[0] === "didCompleteWithError" && e[1] === c.afterResume, `${c.name}'s completion in A`);
      assertTaskOrder(log, c.afterResume, DOWNLOAD, c.name);
      await assertFile(server, tabs.A, `file:///Documents/${c.name}`, { name: c.name, size });
    }
    assert.deepEqual(await appLog(tabs.B), [], "B received nothing");
    assert.deepEqual(await readJournal(tabs.A), [], "the journal is empty");
  });
});

// Tab A holds the identifier's events; tab B, waiting for them, makes a
// download task (window.waiting) of /files/<name>?<query> and resumes it.
async function taskInWaitingTab(context, errors, id, name, query) {
  const tabA = await openApp(context, server.url, errors);
  await openSessionIn(tabA, id);
  await tabA.waitForFunction(() => window.sessionReady === true);
  const tabB = await openApp(context, server.url, errors);
  await openSessionIn(tabB, id);
  await waitFor(async () => (await lockState(tabB, lockName(id))).pending === 1, { what: "B's request for the lock" });
  const idB = await tabB.evaluate(
    async ({ id, url, name }) => {
      const task = (window.waiting = window.sessions[id].downloadTask(url));
      task.taskDescription = name;
      await task.resume();
      return task.taskIdentifier;
    },
    { id, url: `${server.url}/files/${name}?${query}`, name },
  );
  return { tabA, tabB, idB };
}

// The chaos soak found this (SEED=348656): a tab waiting for the
// identifier's lock made a task; the tab holding the lock delivered its
// completion and the daemon forgot it; the waiting tab's object still said
// "running" and its getAllTasks() listed it for ever (and its heartbeat woke
// the daemon for it every few seconds).
test("a tab's task whose completion another tab delivered is completed in the first tab too: getAllTasks() no longer lists it", async () => {
  await withBrowser(async ({ context, errors }) => {
    const ID = "com.example.multitab.elsewhere";
    const { tabA, tabB, idB } = await taskInWaitingTab(context, errors, ID, "elsewhere.bin", `size=${64 << 10}`);
    assert.equal(await tabB.evaluate(() => window.waiting.state), "running");
    // A, the lock holder, delivers it all; the daemon forgets the task.
    await waitLog(tabA, (e) => e[0] === "didCompleteWithError" && e[1] === idB, `A to get task ${idB}'s completion`);
    const observer = watch(await context.newPage(), errors);
    await observer.goto(`${server.url}/fixtures/observer.html`);
    await waitFor(async () => !(await observer.evaluate(() => window.tasks())).some((t) => t.session === ID), { timeout: 30_000, what: "the task's record to be forgotten" });
    assert.deepEqual(await appLog(tabB), [], "B received nothing (A holds the identifier)");
    const listed = await tabB.evaluate(async (id) => (await window.sessions[id].getAllTasks()).map((t) => [t.taskIdentifier, t.state]), ID);
    assert.deepEqual(listed, [], "B's getAllTasks() lists no task");
    assert.equal(await tabB.evaluate(() => window.waiting.state), "completed", "B's object of the task says completed");
  });
});

test("a tab that does not hold the events sees its task end without asking: its object says completed within seconds of the other tab's delivery", async () => {
  await withBrowser(async ({ context, errors }) => {
    const ID = "com.example.multitab.follows";
    // Slow enough (1 MiB at 256 KiB/s) that B sees it running first.
    const { tabA, tabB, idB } = await taskInWaitingTab(context, errors, ID, "follows.bin", `size=${MiB}&rate=${256 << 10}`);
    assert.equal(await tabB.evaluate(() => window.waiting.state), "running");
    await waitLog(tabA, (e) => e[0] === "didCompleteWithError" && e[1] === idB, `A to get task ${idB}'s completion`, 60_000);
    // B never calls getAllTasks(): the daemon's announcements make it read the records.
    await waitFor(async () => (await tabB.evaluate(() => window.waiting.state)) === "completed", { timeout: 15_000, what: "B's object to say completed" });
    assert.deepEqual(await appLog(tabB), [], "B received nothing (A holds the identifier)");
    assert.equal(await tabB.evaluate(() => window.sessionReady), false, "B still waits for the identifier's events");
  });
});
