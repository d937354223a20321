// One browser abstraction over three engines, for the cross-engine
// end-to-end scenarios (tests/e2e/engines/*.engine.mjs):
//   chromium  playwright-core, persistent profile (as tests/e2e/harness.mjs)
//   firefox   puppeteer-core over WebDriver BiDi, /usr/bin/firefox-esr,
//             persistent profile dir + prefs (lowered worker idle timeouts on request)
//   webkit    selenium-webdriver + /usr/bin/WebKitWebDriver + MiniBrowser, under
//             `xvfb-run -a` (started here); MiniBrowser --automation always uses
//             an ephemeral data store, so there is no profile to restart with.
// Pick with ENGINE=chromium|firefox|webkit (several: comma-separated; "all").
//
// A Browser: newPage(url) → Page, stopWorker(), restart(), close(), errors[].
// A Page: evaluate(fn, arg) (awaits a returned promise; arg and result are
// JSON), close(), url.
// Each browser keeps one blank "keeper" tab open so that closing every app
// page does not end the browser (WebDriver ends the session with the last
// window; Firefox quits with its last tab): "every page of the site closed"
// is then what the Service Worker sees.
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FLAGS, CHROMIUM } from "./harness.mjs";

export const FIREFOX = process.env.FIREFOX || "/usr/bin/firefox-esr";
export const WEBKIT_DRIVER = process.env.WEBKIT_DRIVER || "/usr/bin/WebKitWebDriver";
export const MINIBROWSER = process.env.MINIBROWSER || "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser";

export const ALL = ["chromium", "firefox", "webkit"];

// The engines selected by ENGINE (default chromium).
export function engines() {
  const v = (process.env.ENGINE || "chromium").trim();
  if (v === "all") return ALL;
  const list = v.split(",").map((s) => s.trim()).filter(Boolean);
  for (const e of list) if (!ALL.includes(e)) throw new Error(`unknown ENGINE ${e} (chromium|firefox|webkit|all)`);
  return list;
}

// What each engine offers a test.
export const CAN = {
  chromium: { restart: true, stopWorkerNow: true },
  firefox: { restart: true, stopWorkerNow: false },
  webkit: { restart: false, stopWorkerNow: false },
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Serialises a page function and its JSON argument into a script that
// WebDriver/BiDi evaluates (the result of a returned promise is awaited).
const asScript = (fn, arg) => `return (${fn.toString()})(${arg === undefined ? "" : JSON.stringify(arg)});`;

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------- Chromium
async function chromiumBrowser(opts) {
  const { chromium } = await import("playwright-core");
  const profile = opts.profile;
  const b = { engine: "chromium", profile, errors: [], pages: new Set() };
  b.context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS });
  b.newPage = async (url) => {
    const p = await b.context.newPage();
    p.on("console", (m) => m.type() === "error" && b.errors.push(`${p.url()}: ${m.text()}`));
    p.on("pageerror", (e) => b.errors.push(`${p.url()}: ${e}`));
    await p.goto(url);
    const page = {
      url,
      raw: p,
      evaluate: (fn, arg) => p.evaluate(fn, arg),
      close: async () => {
        b.pages.delete(page);
        await p.close();
      },
    };
    b.pages.add(page);
    return page;
  };
  // CDP ServiceWorker.stopAllWorkers (the in-flight fetch is aborted), then close every page.
  b.stopWorker = async () => {
    const host = [...b.pages][0]?.raw ?? b.context.pages()[0] ?? (await b.context.newPage());
    const cdp = await b.context.newCDPSession(host);
    await cdp.send("ServiceWorker.enable");
    await cdp.send("ServiceWorker.stopAllWorkers");
    await cdp.detach().catch(() => {});
    for (const p of [...b.pages]) await p.close();
  };
  b.close = async () => {
    b.pages.clear();
    await b.context.close();
  };
  // Kills the browser outright (SIGKILL, no graceful shutdown: a graceful close
  // can take seconds during which the worker goes on). Playwright does not give
  // the pid of a persistent context: it is the process whose command line
  // names this test's own profile dir.
  b.kill = async () => {
    for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
      let cmd = "";
      try {
        cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      } catch {}
      if (cmd.includes(`--user-data-dir=${profile}\0`) && !cmd.includes("--type=")) process.kill(Number(pid), "SIGKILL");
    }
    b.pages.clear();
    await b.context.close().catch(() => {});
  };
  return b;
}

// ---------------------------------------------------------------- Firefox
export function firefoxPrefs({ workerIdleMs } = {}) {
  const prefs = {
    // keep it off the (closed) internet and quiet
    "app.update.enabled": false,
    "browser.safebrowsing.malware.enabled": false,
    "browser.safebrowsing.phishing.enabled": false,
    "network.captive-portal-service.enabled": false,
    "network.connectivity-service.enabled": false,
    "extensions.getAddons.cache.enabled": false,
    "dom.serviceWorkers.testing.enabled": true,
  };
  if (workerIdleMs) {
    // The worker is stopped about 2 × workerIdleMs after its last event (defaults 30 s + 30 s).
    prefs["dom.serviceWorkers.idle_timeout"] = workerIdleMs;
    prefs["dom.serviceWorkers.idle_extended_timeout"] = workerIdleMs;
  }
  return prefs;
}

async function firefoxBrowser(opts) {
  const puppeteer = (await import("puppeteer-core")).default;
  const b = { engine: "firefox", profile: opts.profile, errors: [], pages: new Set() };
  b.browser = await puppeteer.launch({
    browser: "firefox",
    executablePath: FIREFOX,
    headless: true,
    userDataDir: opts.profile,
    extraPrefsFirefox: firefoxPrefs(opts),
    protocolTimeout: 300_000,
  });
  b.newPage = async (url) => {
    const p = await b.browser.newPage();
    p.on("console", (m) => m.type() === "error" && b.errors.push(`${p.url()}: ${m.text()}`));
    p.on("pageerror", (e) => b.errors.push(`${p.url()}: ${e}`));
    await p.goto(url);
    const page = {
      url,
      raw: p,
      evaluate: (fn, arg) => p.evaluate(fn, arg),
      close: async () => {
        b.pages.delete(page);
        await p.close();
      },
    };
    b.pages.add(page);
    return page;
  };
  // Firefox has no way to stop a worker from outside: every page of the site
  // is closed, and the worker is stopped by its idle timeout (launch with
  // { workerIdleMs } to make that seconds). Waits 2 × timeout + 3 s.
  b.stopWorker = async () => {
    for (const p of [...b.pages]) await p.close();
    await sleep(2 * (opts.workerIdleMs ?? 30_000) + 3_000);
  };
  b.close = async () => {
    b.pages.clear();
    await b.browser.close();
  };
  b.kill = async () => {
    b.browser.process()?.kill("SIGKILL");
    b.pages.clear();
    await b.browser.close().catch(() => {});
  };
  return b;
}

// ---------------------------------------------------------------- WebKit
async function webkitBrowser(opts) {
  const { Builder } = await import("selenium-webdriver");
  const b = { engine: "webkit", profile: null, errors: [], pages: new Set() };
  const port = await freePort();
  // xvfb-run -a gives MiniBrowser (a GTK app, no headless mode) a display.
  b.proc = spawn("xvfb-run", ["-a", WEBKIT_DRIVER, `--port=${port}`], { stdio: ["ignore", "ignore", "pipe"], detached: true });
  let stderr = "";
  b.proc.stderr.on("data", (d) => (stderr += d));
  const end = Date.now() + 30_000;
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/status`);
      if (r.ok) break;
    } catch {}
    if (Date.now() > end) throw new Error(`WebKitWebDriver did not start: ${stderr}`);
    await sleep(200);
  }
  b.driver = await new Builder()
    .usingServer(`http://127.0.0.1:${port}`)
    .withCapabilities({
      browserName: "MiniBrowser",
      "webkitgtk:browserOptions": { binary: MINIBROWSER, args: ["--automation"] },
    })
    .build();
  await b.driver.manage().setTimeouts({ script: 300_000, pageLoad: 60_000 });
  b.keeper = await b.driver.getWindowHandle();
  let current = b.keeper;
  // One WebDriver session has one current window: every command is queued.
  let chain = Promise.resolve();
  const locked = (handle, op) => {
    const run = chain.then(async () => {
      if (handle && current !== handle) {
        await b.driver.switchTo().window(handle);
        current = handle;
      }
      return op();
    });
    chain = run.catch(() => {});
    return run;
  };
  // WebKitWebDriver has no console log access: each page wraps console.error
  // and listens for errors from the moment the test page is loaded.
  const hook = () => {
    if (window.__errors) return;
    window.__errors = [];
    const orig = console.error.bind(console);
    console.error = (...a) => {
      window.__errors.push(a.map(String).join(" "));
      orig(...a);
    };
    window.addEventListener("error", (e) => window.__errors.push(String(e.message || e)));
    window.addEventListener("unhandledrejection", (e) => window.__errors.push(`unhandled rejection: ${e.reason}`));
  };
  const collect = async (handle, url) => {
    try {
      const errs = await locked(handle, () => b.driver.executeScript("return (window.__errors || []).splice(0)"));
      for (const e of errs) b.errors.push(`${url}: ${e}`);
    } catch {}
  };
  b.newPage = async (url) => {
    const handle = await locked(null, async () => {
      await b.driver.switchTo().newWindow("tab");
      current = await b.driver.getWindowHandle();
      await b.driver.get(url);
      await b.driver.executeScript(asScript(hook));
      return current;
    });
    const page = {
      url,
      handle,
      evaluate: (fn, arg) => locked(handle, () => b.driver.executeScript(asScript(fn, arg))),
      close: async () => {
        b.pages.delete(page);
        await collect(handle, url);
        await locked(handle, async () => {
          await b.driver.close();
          await b.driver.switchTo().window(b.keeper);
          current = b.keeper;
        });
      },
    };
    b.pages.add(page);
    return page;
  };
  // WebKit stops the worker ~10-12 s after the site's last page closes.
  b.stopWorker = async () => {
    for (const p of [...b.pages]) await p.close();
    await sleep(15_000);
  };
  b.close = async () => {
    for (const p of [...b.pages]) await collect(p.handle, p.url);
    b.pages.clear();
    await b.driver.quit().catch(() => {});
    try {
      process.kill(-b.proc.pid, "SIGTERM");
    } catch {}
  };
  return b;
}

const LAUNCH = { chromium: chromiumBrowser, firefox: firefoxBrowser, webkit: webkitBrowser };

// Launches `engine` on a new (or given) profile dir. opts: { profile, workerIdleMs (firefox) }.
export async function launchEngine(engine, opts = {}) {
  const own = !opts.profile;
  const profile = opts.profile ?? (await mkdtemp(join(tmpdir(), `bgsession-${engine}-`)));
  const b = await LAUNCH[engine]({ ...opts, profile });
  const errors = b.errors;
  const api = {
    engine,
    get errors() {
      return errors;
    },
    newPage: (url) => b.newPage(url),
    stopWorker: () => b.stopWorker(),
    get pages() {
      return [...b.pages];
    },
    // Kills the browser (SIGKILL; { graceful: true } closes it instead) and
    // launches it again on the same profile; errors carry over.
    async restart({ graceful = false } = {}) {
      if (!CAN[engine].restart) throw new Error(`${engine}: the driver keeps no profile across restarts`);
      if (graceful) await b.close();
      else await b.kill();
      const nb = await LAUNCH[engine]({ ...opts, profile });
      nb.errors = errors;
      Object.assign(b, nb, { errors });
    },
    async close() {
      await b.close().catch(() => {});
      if (own) await rm(profile, { recursive: true, force: true }).catch(() => {});
    },
  };
  return api;
}

// Opens the test app page (tests/fixtures/app.html) and waits until it is
// ready and UIApplication.shared.launched has settled.
export async function openAppIn(browser, base, query = "") {
  const page = await browser.newPage(`${base}/fixtures/app.html${query}`);
  await pollPage(page, () => window.appReady === true, { what: "the app page to be ready" });
  await page.evaluate(() => window.launched.then(() => true));
  return page;
}

// Polls a page function until it returns a truthy value (then returns it).
export async function pollPage(page, fn, { arg, timeout = 60_000, interval = 200, what = "condition" } = {}) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await page.evaluate(fn, arg).catch((e) => {
      if (Date.now() > end) throw e;
      return undefined;
    });
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(interval);
  }
}
