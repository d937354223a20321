// The package README's TypeScript example (npm/README.md, "## TypeScript")
// type-checks against the built declarations (www/pkg/bgsession.d.ts) with
// the settings the README names — strict, unused names refused, the
// ESNext.Disposable library — and fails without that library, as the README
// says. Run after ./scripts/build.sh: node --test tests/api/
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
const tsc = join(root, "node_modules/.bin/tsc");

function check(lib) {
  const readme = readFileSync(join(root, "npm/README.md"), "utf8");
  const block = /## TypeScript[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme);
  assert.ok(block, "npm/README.md has a TypeScript example");
  const dir = mkdtempSync(join(tmpdir(), "bgsession-readme-ts-"));
  try {
    const code = block[1].replaceAll('from "bgsession"', `from ${JSON.stringify(join(root, "www/pkg/bgsession.js"))}`);
    writeFileSync(join(dir, "main.ts"), `${code}export {};\n`);
    const compilerOptions = {
      strict: true, noEmit: true, target: "es2022", module: "esnext", moduleResolution: "bundler",
      lib, types: [], skipLibCheck: false, noUnusedLocals: true, noUnusedParameters: true,
    };
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions, files: ["main.ts"] }));
    try {
      execFileSync(tsc, ["-p", join(dir, "tsconfig.json")], { encoding: "utf8" });
      return "";
    } catch (err) {
      return `${err.stdout}${err.stderr}`;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("the package README's TypeScript example type-checks (strict, no unused names) with the settings it names", () => {
  assert.equal(check(["ES2022", "DOM", "ESNext.Disposable"]), "");
});

test("without ESNext.Disposable the declarations' Symbol.dispose does not type-check, as the README says", () => {
  assert.match(check(["ES2022", "DOM"]), /Property 'dispose' does not exist on type 'SymbolConstructor'/);
});
