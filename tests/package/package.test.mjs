// The npm package as its users get it (issue 11): scripts/package.sh makes
// the tarball (`npm pack`); these tests check what it holds, then install it
// into fresh sample apps — one built by the real Vite from npm, one plain
// page with no bundler — and drive each in headless Chromium: a download,
// the tab closed, the relaunch replay, the file's SHA-256.
//
// Run after ./scripts/build.sh (the tests pack what www/ holds):
//   node --test tests/package/
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, existsSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { startServer, waitFor, watch, withBrowser } from "../e2e/harness.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..");
const out = join(repo, "tests", "out");
let tarball;

before(() => {
  const printed = execFileSync(join(repo, "scripts", "package.sh"), {
    cwd: repo,
    env: { ...process.env, BGSESSION_SKIP_BUILD: "1" },
    encoding: "utf8",
  });
  tarball = printed.trim().split("\n").at(-1);
  assert.ok(existsSync(tarball), `package.sh printed the tarball's path (${tarball})`);
  mkdirSync(out, { recursive: true });
});

// The entries of a .tgz (ustar), read with node alone: name -> Buffer.
function untar(file) {
  const data = gunzipSync(readFileSync(file));
  const files = new Map();
  for (let off = 0; off + 512 <= data.length; ) {
    const header = data.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const str = (a, b) => header.subarray(a, b).toString("utf8").replace(/\0.*$/s, "");
    const name = (str(345, 500) ? str(345, 500) + "/" : "") + str(0, 100);
    const size = parseInt(str(124, 136).trim() || "0", 8);
    const type = str(156, 157);
    if (type === "0" || type === "") files.set(name, data.subarray(off + 512, off + 512 + size));
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

test("the packed package: the library, wasm, worker, types, README; no dependency; an exports map", () => {
  const files = untar(tarball);
  const names = [...files.keys()].map((n) => n.replace(/^package\//, "")).sort();
  for (const f of ["package.json", "bgsession.js", "bgsession_bg.wasm", "bgsession.d.ts", "bgsession-sw.js", "bgsession_worker.js", "bgsession_worker_bg.wasm", "README.md", "CHANGELOG.md"]) {
    assert.ok(names.includes(f), `the tarball holds ${f} (it holds ${names.join(", ")})`);
  }
  assert.ok(!names.some((n) => /(^|\/)(node_modules|tests?|target|src)\//.test(n) && !n.startsWith("snippets/")), `nothing of the repository's tooling: ${names.join(", ")}`);
  const text = (n) => files.get(`package/${n}`).toString("utf8");

  // Every relative import of the library and of the worker resolves inside the tarball.
  const imports = (n) => [...text(n).matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1] || m[2]);
  const resolve = (from, spec) => new URL(spec, `file:///pkg/${from}`).pathname.slice("/pkg/".length);
  const swImports = imports("bgsession-sw.js");
  // The page and the worker each load their own wasm (issue 11: built apart, each half the size).
  assert.deepEqual(swImports, ["./bgsession_worker.js"], "the worker imports its wasm module next to it, by a relative path a bundler follows");
  for (const [module, wasm] of [["bgsession.js", "bgsession_bg.wasm"], ["bgsession_worker.js", "bgsession_worker_bg.wasm"]]) {
    const libImports = imports(module);
    assert.ok(libImports.length > 0 && libImports.every((s) => s.startsWith("./")), `${module} imports only its own files: ${libImports}`);
    for (const spec of libImports) assert.ok(names.includes(resolve(module, spec)), `${module} imports ${spec}: in the tarball`);
    assert.match(text(module), new RegExp(`new URL\\(['"]${wasm.replace(".", "\\.")}['"], import\\.meta\\.url\\)`), `${module}: its wasm is found next to the module (a bundler emits it as an asset)`);
  }

  const pkg = JSON.parse(text("package.json"));
  const cargoVersion = readFileSync(join(repo, "Cargo.toml"), "utf8").match(/^version = "(.+)"/m)[1];
  assert.equal(pkg.name, "bgsession");
  assert.equal(pkg.version, cargoVersion, "one version for the crate and the npm package");
  assert.equal(pkg.type, "module");
  for (const k of ["dependencies", "peerDependencies", "optionalDependencies", "bundleDependencies", "bundledDependencies", "devDependencies"]) {
    assert.ok(!pkg[k] || Object.keys(pkg[k]).length === 0, `no ${k}: the library uses no package at run time (got ${JSON.stringify(pkg[k])})`);
  }
  assert.ok(!pkg.scripts || !["preinstall", "install", "postinstall"].some((s) => pkg.scripts[s]), "no install scripts");
  assert.deepEqual(pkg.exports["."], { types: "./bgsession.d.ts", default: "./bgsession.js" });
  assert.equal(pkg.exports["./sw"], "./bgsession-sw.js", "the worker has its own entry");
  const targets = Object.values(pkg.exports).flatMap((v) => (typeof v === "string" ? [v] : Object.values(v)));
  for (const t of targets) assert.ok(names.includes(t.replace(/^\.\//, "")), `exports target ${t} is in the tarball`);
  assert.equal(pkg.types, "./bgsession.d.ts");
  assert.match(text("bgsession.d.ts"), /export class URLSession\b/, "types for URLSession");
  assert.match(text("README.md"), /npm install bgsession/, "a README for package users");
});

test("the README's Rust example is examples/podcasts.rs (which scripts/test.sh builds for wasm32)", () => {
  const readme = readFileSync(join(repo, "README.md"), "utf8");
  const shown = readme.match(/### From Rust[\s\S]*?```rust\n([\s\S]*?)```/)[1];
  const example = readFileSync(join(repo, "examples", "podcasts.rs"), "utf8");
  const built = example.match(/\/\/ --- the README's example, as shown there ---\n([\s\S]*?)\n\s*\/\/ --- end of the README's example ---/)[1];
  const norm = (t) => t.split("\n").map((l) => l.trim()).filter(Boolean).join("\n");
  assert.ok(norm(shown).length > 200, "the README shows a Rust example");
  assert.equal(norm(built), norm(shown), "examples/podcasts.rs holds the README's example, line for line");
});

// Copies a sample app into a fresh folder and installs the packed tarball
// there (npm's cache makes a second run fast; the tarball is installed anew).
function freshApp(kind) {
  const dir = mkdtempSync(join(out, `package-${kind}-`));
  cpSync(join(here, kind), dir, { recursive: true });
  cpSync(join(here, "app.js"), join(dir, "app.js"));
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error", tarball], { cwd: dir, stdio: "inherit" });
  const installed = JSON.parse(readFileSync(join(dir, "node_modules", "bgsession", "package.json"), "utf8"));
  assert.equal(installed.name, "bgsession");
  const lock = JSON.parse(readFileSync(join(dir, "package-lock.json"), "utf8"));
  assert.match(lock.packages["node_modules/bgsession"].resolved, /^file:.*bgsession-.*\.tgz$/, "bgsession came from the packed tarball");
  return dir;
}

const ID = "com.example.package";
const SIZE = 3 << 20;

// Download -> close the tab -> relaunch -> replay, byte-exact, at `appURL`.
async function downloadCloseRelaunch(server, appURL, checkWorker) {
  await withBrowser(async ({ context, errors }) => {
    const open = async () => {
      const page = watch(await context.newPage(), errors);
      await page.goto(appURL);
      await page.waitForFunction(() => window.appReady === true, null, { timeout: 30_000 });
      return page;
    };
    const page1 = await open();
    const file = `${server.url}/files/pkg.bin?size=${SIZE}&rate=${1 << 20}`;
    const taskId = await page1.evaluate(async ({ id, file }) => {
      const task = window.openSession(id).downloadTask(file);
      task.taskDescription = "pkg.bin";
      await task.resume();
      return task.taskIdentifier;
    }, { id: ID, file });
    const registration = await page1.evaluate(async () => {
      const regs = await navigator.serviceWorker.getRegistrations();
      return regs.map((r) => ({ scope: r.scope, script: (r.active || r.waiting || r.installing).scriptURL }));
    });
    assert.equal(registration.length, 1, "one worker registered");
    assert.equal(registration[0].script, new URL(await page1.evaluate(() => window.swURL), appURL).href, "the worker is the app's");
    await checkWorker(registration[0]);
    // Background Sync is asked of the daemon's own registration, whatever its
    // scope (the plain page's worker lives under node_modules/bgsession/).
    await waitFor(
      () => page1.evaluate(async () => {
        const [reg] = await navigator.serviceWorker.getRegistrations();
        return reg.sync ? (await reg.sync.getTags()).includes("bgsession-wake") : "no Background Sync";
      }),
      { timeout: 5_000, what: "a Background Sync registration \"bgsession-wake\" on the daemon's registration" },
    );
    await new Promise((r) => setTimeout(r, 700));
    assert.ok(!(await page1.evaluate(() => window.log)).some((e) => e[0] === "didFinishDownloadingTo"), "not finished before the tab closed");
    await page1.close();

    // The tab is closed: the daemon finishes the download and journals its events.
    await waitFor(() => server.log.some((e) => e.path === "/files/pkg.bin" && e.completed), { timeout: 30_000, what: "the download to be served whole" });
    // A page of the origin that loads no bgsession (not watched: its only
    // console error is the server's 404 for /favicon.ico).
    const observer = await context.newPage();
    await observer.goto(`${server.url}/status/200`);
    await waitFor(
      () => observer.evaluate(() => new Promise((resolve) => {
        const req = indexedDB.open("bgsession");
        req.onsuccess = () => {
          const db = req.result;
          if (!db.objectStoreNames.contains("tasks")) { db.close(); return resolve(false); }
          const r = db.transaction("tasks").objectStore("tasks").getAll();
          r.onsuccess = () => { db.close(); resolve(r.result.length === 1 && r.result[0].state === "completed"); };
          r.onerror = () => resolve(false);
        };
        req.onerror = () => resolve(false);
      })),
      { timeout: 30_000, interval: 200, what: "the daemon to complete the task with no app page open" },
    );
    await observer.close();

    // The relaunch: handleEvents, the queued events in order, then urlSessionDidFinishEvents.
    const page2 = await open();
    await page2.waitForFunction(() => window.log.some((e) => e[0] === "urlSessionDidFinishEvents"), null, { timeout: 30_000 });
    const log = (await page2.evaluate(() => window.log)).filter((e) => e[0] !== "didWriteData");
    assert.deepEqual(await page2.evaluate(() => window.launchedIds), [ID], "UIApplication.shared.launched names the session");
    assert.deepEqual(log.map((e) => e[0]), ["handleEventsForBackgroundURLSession", "didFinishDownloadingTo", "didCompleteWithError", "urlSessionDidFinishEvents"]);
    assert.equal(log[1][1], taskId);
    assert.equal(log[1][3], 200);
    assert.deepEqual(log[2].slice(1), [taskId, null, "completed"]);
    const got = await page2.evaluate(() => window.sha256Of("file:///Documents/pkg.bin"));
    const want = await (await fetch(`${server.url}/sha256?size=${SIZE}&name=pkg.bin`)).json();
    assert.deepEqual(got, { size: SIZE, sha256: want.sha256 }, "the moved file is byte-exact");
    await page2.close();
  });
}

test("a Vite app built from the packed tarball: download, tab closed, relaunch replay, byte-exact", async () => {
  const dir = freshApp("vite");
  execFileSync(join(dir, "node_modules", ".bin", "vite"), ["build", "--logLevel", "warn"], { cwd: dir, stdio: "inherit" });
  const dist = join(dir, "dist");
  const assets = readdirSync(join(dist, "assets"));
  const top = readdirSync(dist);
  const wasm = assets.filter((f) => /^bgsession_bg-[\w-]+\.wasm$/.test(f));
  assert.equal(wasm.length, 1, `the wasm is emitted once, with a hashed name (assets: ${assets})`);
  const workers = top.filter((f) => /^bgsession-sw-[\w-]+\.js$/.test(f));
  assert.equal(workers.length, 1, `the worker is emitted with a hashed name (dist: ${top})`);
  assert.ok(!top.includes("bgsession-sw.js") && !assets.includes("bgsession-sw.js"), "no unhashed copy of the worker");
  const workerWasm = assets.filter((f) => /^bgsession_worker_bg-[\w-]+\.wasm$/.test(f));
  assert.equal(workerWasm.length, 1, `the worker's wasm is emitted once, with a hashed name (assets: ${assets})`);
  const worker = readFileSync(join(dist, workers[0]), "utf8");
  assert.ok(worker.includes(workerWasm[0]), "the bundled worker loads its hashed wasm");
  assert.ok(!/from\s*["'](\.\/bgsession(_worker)?\.js|bgsession)["']/.test(worker), "the worker's import of its wasm module was bundled");
  const server = await startServer({ port: 0, root: dist, extraRoots: {} });
  try {
    await downloadCloseRelaunch(server, `${server.url}/`, (reg) => {
      assert.equal(reg.script, `${server.url}/${workers[0]}`, "the page registered the emitted, hashed worker");
      assert.equal(reg.scope, `${server.url}/`);
    });
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a page with no bundler, the packed tarball installed: download, tab closed, relaunch replay, byte-exact", async () => {
  const dir = freshApp("plain");
  const server = await startServer({ port: 0, root: dir, extraRoots: {} });
  try {
    await downloadCloseRelaunch(server, `${server.url}/`, (reg) => {
      assert.equal(reg.script, `${server.url}/node_modules/bgsession/bgsession-sw.js`);
    });
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
