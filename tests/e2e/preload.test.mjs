// The pages that load the library (the test app, the demo, the package's
// page without a bundler) ask for its whole module graph and its wasm at once
// (`<link rel="modulepreload">` / `preload`): a relaunch waits for nothing
// fetched one after the other. Each preloaded file must exist in the build,
// and each module the library imports must be preloaded — the wasm-bindgen
// snippet's folder is named by a hash that a new version changes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const www = path.join(repo, "www");

// Each page, and where its URLs point in the build: the package's files are
// www/pkg's (scripts/package.sh copies them to the package's root).
const PAGES = [
  { page: "tests/fixtures/app.html", map: (href) => path.join(www, href) },
  { page: "www/index.html", map: (href) => path.join(www, href) },
  { page: "tests/package/plain/index.html", map: (href) => path.join(www, "pkg", href.replace(/^\/node_modules\/bgsession\//, "")) },
];

const preloads = (html) => [...html.matchAll(/<link rel="(?:modulepreload|preload)" href="([^"]+)"/g)].map((m) => m[1]);

// Static imports of a module, as paths relative to its folder.
const importsOf = (js) => [...new Set([...js.matchAll(/^import .* from ['"](\.\/[^'"]+)['"]/gm)].map((m) => m[1]))];

for (const { page, map } of PAGES) {
  test(`${page}: every preloaded file exists, and the library's imports are preloaded`, () => {
    const html = readFileSync(path.join(repo, page), "utf8");
    const hrefs = preloads(html);
    assert.ok(hrefs.length >= 3, `${page} preloads the library, its snippet and the wasm: ${hrefs}`);
    const files = hrefs.map(map);
    for (const [i, f] of files.entries()) assert.ok(existsSync(f), `${page} preloads ${hrefs[i]}, which the build does not have (${f})`);
    const library = files.find((f) => f.endsWith(`${path.sep}pkg${path.sep}bgsession.js`));
    assert.ok(library, `${page} preloads bgsession.js`);
    const wanted = importsOf(readFileSync(library, "utf8")).map((rel) => path.join(path.dirname(library), rel));
    assert.ok(wanted.length >= 1, "bgsession.js imports its snippet module");
    for (const w of wanted) assert.ok(files.includes(w), `${page} does not preload ${path.relative(www, w)}, which bgsession.js imports`);
    assert.ok(files.some((f) => f.endsWith("bgsession_bg.wasm")), `${page} preloads the wasm`);
  });
}
