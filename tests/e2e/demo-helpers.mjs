// What the demo's end-to-end tests share (demo.test.mjs, demo-lab.test.mjs):
// the catalogue items, a fresh profile per test, opening the demo page and
// reading its rows.
import { before, after } from "node:test";
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { startServer, watch, withBrowser } from "./harness.mjs";

export const OUT = fileURLToPath(new URL("../out/", import.meta.url));
export const MiB = 1 << 20;
export const EP1 = { item: "ep01-welcome.mp3", title: "Ep. 1: Welcome to background transfers", size: 6 * MiB };
export const EP2 = { item: "ep02-inside-urlsession.mp3", title: "Ep. 2: Inside URLSession", size: 8 * MiB };
export const THROTTLE = { none: "0", "8MiB": String(8 * MiB), "2MiB": String(2 * MiB), "256KiB": String(256 * 1024) };

// Starts the test server for the file's tests; `holder.server` is set before they run.
export function demoServer() {
  const holder = {};
  before(async () => {
    holder.server = await startServer({ port: 0 });
    await mkdir(OUT, { recursive: true });
  });
  after(async () => {
    await holder.server.close();
  });
  return holder;
}

// Runs `body({context, errors})` with a fresh profile; checks no console errors.
export const withDemo = (body) => withBrowser(body);

export async function openDemo(base, context, errors, viewport = { width: 1280, height: 800 }) {
  const page = watch(await context.newPage(), errors);
  await page.setViewportSize(viewport);
  await page.goto(`${base}/`);
  await page.waitForFunction(() => document.body.dataset.ready === "1", null, { timeout: 30_000 });
  return page;
}

export const row = (page, ep) => page.locator(`[data-item="${ep.item}"]`);

export async function waitPhase(page, ep, phase, timeout = 60_000) {
  await page.waitForFunction(
    ([item, phase]) => document.querySelector(`[data-item="${item}"]`).dataset.phase === phase,
    [ep.item, phase],
    { timeout },
  );
}
