// Shared pieces of the cross-engine scenarios: one test per (scenario,
// engine) for the engines ENGINE selects, the local server, known gaps
// marked `todo` per engine with the reason, and measured figures written to
// tests/out/engine-figures.jsonl (and printed as "# " diagnostics).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startServer } from "../../server/server.mjs";
import { engines, launchEngine, openAppIn, pollPage } from "../engines.mjs";

export { engines, launchEngine, openAppIn, pollPage };
export const MiB = 1 << 20;

export const server = {};
before(async () => {
  server.real = await startServer({ port: 0 }); // carries url, log, close
});
after(async () => {
  await server.real.close();
});

// The server's request log (the live array of the running server).
export const requestsFor = (path) => server.real.log.filter((e) => e.path === path);
export const sentFor = (path) => requestsFor(path).reduce((n, e) => n + e.bytesSent, 0);
export const base = () => server.real.url;
// The requests for `path`, one line each, for failure messages.
export const shown = (path) =>
  requestsFor(path).map((r) => `${r.method} ${r.range ?? "-"} ifRange=${r.ifRange ?? "-"} → ${r.status} ${r.bytesSent} B${r.cutAt != null ? ` cut@${r.cutAt}` : ""}${r.completed ? "" : " (not completed)"}`).join("; ");

const OUT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "out");
// Records a measured figure for the README's per-engine table.
export function figure(engine, what, value, unit = "") {
  mkdirSync(OUT, { recursive: true });
  appendFileSync(join(OUT, "engine-figures.jsonl"), JSON.stringify({ at: new Date().toISOString(), engine, what, value, unit }) + "\n");
  console.log(`# [${engine}] ${what}: ${value}${unit ? " " + unit : ""}`);
}

// Registers `name` once per selected engine. `opts.only`: engines the
// scenario applies to (others are skipped with opts.why); `opts.todo`:
// { engine: "reason" } for a known gap of that engine (the test asserts the
// correct behaviour and is reported as todo while it fails).
export function eachEngine(name, opts, fn) {
  for (const engine of engines()) {
    const o = {};
    if (opts.only && !opts.only.includes(engine)) o.skip = opts.why || `not applicable to ${engine}`;
    else if (opts.todo?.[engine]) o.todo = opts.todo[engine];
    o.timeout = opts.timeout ?? 240_000;
    test(`[${engine}] ${name}`, o, () => fn(engine));
  }
}

// Runs `body(browser)` in a fresh browser of `engine` (launch options in
// `launch`), then checks that no page logged a console error (errors matching
// `allow` excepted) and closes the browser.
export async function inBrowser(engine, body, { launch = {}, allow } = {}) {
  const browser = await launchEngine(engine, launch);
  try {
    await body(browser);
    const errors = allow ? browser.errors.filter((e) => !allow.test(e)) : browser.errors;
    assert.deepEqual(errors, [], "no console errors");
  } finally {
    await browser.close();
  }
}

export const appLog = (page) => page.evaluate(() => window.log);

export async function waitDone(page, id, timeout = 90_000) {
  await pollPage(page, (id) => window.log.some((e) => e[0] === "didCompleteWithError" && e[1] === id), {
    arg: id,
    timeout,
    what: `task ${id}'s didCompleteWithError`,
  });
  return appLog(page);
}

export async function waitBytes(page, id, atLeast, timeout = 60_000) {
  await pollPage(page, ([id, n]) => window.log.some((e) => e[0] === "didWriteData" && e[1] === id && e[3] >= n), {
    arg: [id, atLeast],
    timeout,
    what: `task ${id} to store ${atLeast} bytes`,
  });
}


// Shared with the Chromium suites: starting a download, and Apple's order for one task.
export { startDownload, assertOrder } from "../order-helpers.mjs";

// The file at /Documents/<name> is exactly what the server generates.
export async function assertFile(page, name, { size, seed, flip = false }) {
  const got = await page.evaluate((loc) => window.sha256Of(loc), `file:///Documents/${name}`);
  const q = seed === undefined ? `name=${name}` : `seed=${seed}`;
  const want = await (await fetch(`${base()}/sha256?size=${size}&${q}${flip ? "&flip=1" : ""}`)).json();
  assert.equal(got.size, size, `${name}: size`);
  assert.equal(got.sha256, want.sha256, `${name}: SHA-256 equals the served bytes`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
