// Shared pieces of the end-to-end tests: the local server, headless
// Chromium with a persistent profile (so a test can close and relaunch the
// browser with the same storage), and polling helpers.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer } from "../server/server.mjs";

export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
// Root needs --no-sandbox; the rest keep Chromium off the (closed) internet.
export const FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

export { startServer };

export async function newProfile() {
  return mkdtemp(join(tmpdir(), "bgsession-profile-"));
}

export async function removeProfile(dir) {
  await rm(dir, { recursive: true, force: true });
}

export function launch(profileDir) {
  return chromium.launchPersistentContext(profileDir, { executablePath: CHROMIUM, headless: true, args: FLAGS });
}

// Collects console errors and uncaught exceptions of a page.
export function watch(page, errors) {
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`${page.url()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`${page.url()}: ${e}`));
  return page;
}

// Polls `fn` until it returns a truthy value.
export async function waitFor(fn, { timeout = 60_000, interval = 100, what = "condition" } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

export async function openApp(context, base, errors) {
  const page = watch(await context.newPage(), errors);
  await page.goto(`${base}/fixtures/app.html`);
  await page.waitForFunction(() => window.appReady === true);
  await page.evaluate(() => window.launched);
  return page;
}

// Runs `fn({context, errors})` in a fresh browser profile (optionally with
// permissions for `origin`), then checks that no page logged a console error.
export async function withBrowser(fn, { permissions = [], origin } = {}) {
  const profile = await newProfile();
  const context = await launch(profile);
  if (permissions.length) await context.grantPermissions(permissions, origin ? { origin } : undefined);
  const errors = [];
  try {
    await fn({ context, errors });
    assert.deepEqual(errors, [], "no console errors");
  } finally {
    await context.close();
    await removeProfile(profile);
  }
}
