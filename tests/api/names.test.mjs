// Every name of the API contract is in the built package (issue #4).
//
// The contract is tests/api/API.md: a COPY of the shared contract
// (../shared/API.md from the repository root, i.e. /work/shared/API.md on the
// project's machine). The first test fails when the copy and the shared file
// differ, so the copy cannot go stale silently.
//
// The names are extracted from API.md, not listed here:
//   - the JS code block: its imports, every property access and object-literal
//     method, resolved with the TypeScript checker against the built
//     www/pkg/bgsession.d.ts (so `config.isDiscretionary` is looked up on the
//     type `URLSessionConfiguration.background()` returns), and the property
//     lists in its comments ("plus: a, b, c/D", "{url, method, headers}");
//   - the "Session:" and "Task:" paragraphs: every backticked method/property
//     on the type of the code block's `session` / `task`, the keys and literal
//     values given in parentheses, the `→ Promise<…>` results;
//   - the delegate table: each JS method on the delegate type URLSession's
//     constructor takes (optional), with the argument names of its row;
//   - the Errors section: the NSError keys, and every "code description" pair
//     as `URLError.<swiftName> === code` in the runtime export and the .d.ts;
//   - the Files section: `FileManager.default`'s methods and the `→ {…}` keys;
//   - the served files and the default worker URL of the daemon section;
//   - the Rust names of the introduction, in src/;
//   - any other backticked name or dotted path, against everything the
//     package declares.
// Runtime presence is checked too: the package is loaded in node with
// `initSync` and the wasm file read from disk; class members are looked up on
// the classes (static) and their prototypes (instance).
//
// Run after ./scripts/build.sh: node --test tests/api/

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import ts from "typescript";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const API_MD = path.join(here, "API.md");
const SHARED_API_MD = path.resolve(root, "../shared/API.md");
const WWW = path.join(root, "www");
const PKG = path.join(WWW, "pkg");
const DTS = path.join(PKG, "bgsession.d.ts");
const JS = path.join(PKG, "bgsession.js");
const WASM = path.join(PKG, "bgsession_bg.wasm");

// Identifiers API.md's example code uses that are the reader's own, not the API's.
const IGNORE = new Set(["saved", "openSession", "delegate", "iOS"]);
// Declarations of the generated glue that are not API (wasm internals).
const GLUE = new Set(["InitOutput", "InitInput", "SyncInitInput"]);

// The copy starts with an HTML comment saying it is a copy; the contract is what follows
// (so line numbers in messages are the shared API.md's).
const copy = fs.readFileSync(API_MD, "utf8");
const md = copy.replace(/^<!--[\s\S]*?-->\n/, "");
const mdLines = md.split("\n");

test("tests/api/API.md is an up-to-date copy of the shared contract", (t) => {
    if (!fs.existsSync(SHARED_API_MD)) {
        t.skip(`${SHARED_API_MD} not present (outside the project's machine): using the copy`);
        return;
    }
    const shared = fs.readFileSync(SHARED_API_MD, "utf8");
    assert.ok(
        shared === md,
        `tests/api/API.md differs from ${SHARED_API_MD}: the contract changed; update the copy, keeping ` +
            `its first comment line ({ head -1 tests/api/API.md; cat ${SHARED_API_MD}; } > /tmp/API.md && ` +
            `mv /tmp/API.md tests/api/API.md), and make the package match it`,
    );
});

// ---------------------------------------------------------------------------
// The built package: files, runtime module, declarations.

const missingFiles = [JS, WASM, DTS].filter((f) => !fs.existsSync(f));
if (missingFiles.length) {
    test("the package is built", () => {
        assert.fail(`missing ${missingFiles.map((f) => path.relative(root, f)).join(", ")}: run ./scripts/build.sh first`);
    });
} else {
    await checkNames();
}

async function checkNames() {
    const mod = await import(pathToFileURL(JS).href);
    mod.initSync({ module: fs.readFileSync(WASM) });

    // --- API.md's structure -------------------------------------------------
    const fence = mdLines.findIndex((l) => /^```js\s*$/.test(l));
    assert.ok(fence >= 0, "API.md has no ```js code block: the extraction needs updating");
    const fenceEnd = mdLines.findIndex((l, i) => i > fence && /^```\s*$/.test(l));
    const block = mdLines.slice(fence + 1, fenceEnd).join("\n");
    const blockLine0 = fence + 2; // API.md line number of the block's first line

    // Sections: consecutive "## " lines form one heading.
    const sections = [];
    {
        let cur = { title: "(introduction)", start: 1, lines: [] };
        for (let i = 0; i < mdLines.length; i++) {
            const l = mdLines[i];
            if (l.startsWith("## ")) {
                if (cur.lines.length || cur.title === "(introduction)") {
                    sections.push(cur);
                    cur = { title: "", start: i + 1, lines: [] };
                }
                cur.title = (cur.title + " " + l.slice(3)).trim();
                cur.start = i + 2;
            } else {
                cur.lines.push({ n: i + 1, text: l });
            }
        }
        sections.push(cur);
    }

    // --- The TypeScript program: the .d.ts and API.md's code block ------------
    const blockFile = path.join(here, "__api_md_code_block__.ts");
    const relPkg = "./" + path.relative(here, JS).split(path.sep).join("/");
    const imp = /import\s+(\w+)\s*,\s*\{([^}]*)\}\s*from\s*"([^"]+)"/.exec(block);
    assert.ok(imp, "API.md's code block has no `import init, { … } from \"…\"` line: the extraction needs updating");
    const blockText = block.replace(`"${imp[3]}"`, JSON.stringify(relPkg));
    const options = {
        strict: true,
        noEmit: true,
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.ESNext,
        moduleResolution: ts.ModuleResolutionKind.Bundler,
        lib: ["lib.es2022.d.ts", "lib.esnext.disposable.d.ts", "lib.dom.d.ts"],
        types: [],
    };
    const host = ts.createCompilerHost(options, true);
    const base = { getSourceFile: host.getSourceFile, fileExists: host.fileExists, readFile: host.readFile };
    const isBlock = (f) => path.resolve(f) === blockFile;
    host.getSourceFile = (f, lang, ...rest) => (isBlock(f) ? ts.createSourceFile(f, blockText, lang, true, ts.ScriptKind.TS) : base.getSourceFile.call(host, f, lang, ...rest));
    host.fileExists = (f) => isBlock(f) || base.fileExists.call(host, f);
    host.readFile = (f) => (isBlock(f) ? blockText : base.readFile.call(host, f));
    const program = ts.createProgram([blockFile, DTS], options, host);
    const checker = program.getTypeChecker();
    const dtsFile = program.getSourceFile(DTS);
    const src = program.getSourceFile(blockFile);
    const dtsSyntax = program.getSyntacticDiagnostics(dtsFile).concat(program.getSemanticDiagnostics(dtsFile));

    const exportsList = checker.getExportsOfModule(checker.getSymbolAtLocation(dtsFile));
    const exported = new Map(exportsList.map((s) => [s.name, s]));
    const resolveAlias = (s) => (s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s);

    const fromPkg = (sym) => !!sym?.declarations?.some((d) => d.getSourceFile() === dtsFile);
    const parts = (type) => {
        const t = checker.getNonNullableType(type);
        return t.isUnion() ? t.types : [t];
    };
    const pkgParts = (type) => parts(type).filter((p) => fromPkg(p.getSymbol() ?? p.aliasSymbol));
    const isAny = (type) => !!(type.flags & ts.TypeFlags.Any);
    const show = (type) => checker.typeToString(type, undefined, ts.TypeFormatFlags.NoTruncation);
    const propOf = (type, name) => {
        for (const p of parts(type)) {
            const s = p.getProperty(name);
            if (s) return s;
        }
        return undefined;
    };
    const typeOfProp = (sym) => checker.getTypeOfSymbol(sym);
    const classOf = (type) => {
        // {cls, isStatic} when `type` is a class of the package (its static side or its instances).
        const s = type.getSymbol();
        if (!s || !(s.flags & ts.SymbolFlags.Class) || !fromPkg(s)) return null;
        return { cls: s.name, isStatic: checker.getTypeOfSymbol(s) === type };
    };

    // --- Expectations ---------------------------------------------------------
    const checks = []; // {what, line, ok, why}
    const expect = (what, line, ok, why = "", name = undefined) => checks.push({ what, line, ok: !!ok, why, name });

    /** Checks `name` as a member of `type` in the .d.ts, and at runtime when `type` is a class. */
    function expectMember(type, name, line, label = show(type)) {
        if (isAny(type)) {
            expect(`${label}.${name}`, line, false, `${label} is typed \`any\` in the .d.ts`);
            return undefined;
        }
        const sym = propOf(type, name);
        let runtime = true;
        let runtimeWhy = "";
        for (const p of pkgParts(type)) {
            const c = classOf(p);
            if (!c) continue;
            const target = c.isStatic ? mod[c.cls] : mod[c.cls]?.prototype;
            runtime = target != null && name in target;
            if (!runtime) runtimeWhy = `not on ${c.cls}${c.isStatic ? "" : ".prototype"} at runtime`;
        }
        expect(`${label}.${name}`, line, sym && runtime, !sym ? `not declared on ${label} in bgsession.d.ts` : runtimeWhy, name);
        return sym ? typeOfProp(sym) : undefined;
    }

    function expectExport(name, line) {
        const inDts = exported.has(name);
        const atRuntime = name in mod && mod[name] !== undefined;
        expect(`export ${name}`, line, inDts && atRuntime, !inDts ? "not exported by bgsession.d.ts" : "not exported by bgsession.js at runtime", name);
    }

    // Everything the package declares (for backticked names found in prose).
    const surface = new Set();
    for (const [name, s0] of exported) {
        if (GLUE.has(name)) continue;
        surface.add(name);
        const s = resolveAlias(s0);
        const types = [];
        if (s.flags & ts.SymbolFlags.Class) types.push(checker.getTypeOfSymbol(s), checker.getDeclaredTypeOfSymbol(s));
        else if (s.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias)) types.push(checker.getDeclaredTypeOfSymbol(s));
        else if (s.flags & ts.SymbolFlags.Enum) types.push(checker.getTypeOfSymbol(s));
        for (const t of types) for (const p of parts(t)) for (const m of p.getProperties()) surface.add(m.name);
    }

    // --- 1. The code block --------------------------------------------------------
    const lineOfPos = (pos) => blockLine0 + src.getLineAndCharacterOfPosition(pos).line;
    const vars = new Map(); // code-block variable name → type
    {
        const defaultName = imp[1];
        expect(`default export (${defaultName}) is the init function`, lineOfPos(imp.index), typeof mod.default === "function" && exported.has("default"), "no default export function");
        for (const name of imp[2].split(",").map((s) => s.trim()).filter(Boolean)) expectExport(name, lineOfPos(imp.index));

        const visit = (node) => {
            if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name)) {
                vars.set(node.name.text, checker.getTypeAtLocation(node.name));
            }
            if (ts.isPropertyAccessExpression(node)) {
                const baseType = checker.getTypeAtLocation(node.expression);
                const name = node.name.text;
                const line = lineOfPos(node.name.getStart());
                if (pkgParts(baseType).length) {
                    expectMember(baseType, name, line, node.expression.getText());
                } else if (isAny(baseType) && ts.isPropertyAccessExpression(node.expression) && fromPkg(checker.getSymbolAtLocation(node.expression.name))) {
                    expect(`${node.getText()}`, line, false, `${node.expression.getText()} is typed \`any\` in the .d.ts`);
                }
            }
            if (ts.isObjectLiteralExpression(node)) {
                const ctx = checker.getContextualType(node);
                const target = node.parent && ts.isBinaryExpression(node.parent) ? node.parent.left.getText() : "an argument";
                for (const m of node.properties) {
                    const name = m.name && ts.isIdentifier(m.name) ? m.name.text : undefined;
                    if (!name) continue;
                    if (!ctx || isAny(ctx) || !pkgParts(ctx).length) {
                        expect(`${target}: { ${name} }`, lineOfPos(m.getStart()), false, `the type of ${target} in the .d.ts is ${ctx ? show(ctx) : "unknown"}, not a declared interface`);
                    } else {
                        expectMember(ctx, name, lineOfPos(m.getStart()), `(${target}: ${show(checker.getNonNullableType(ctx))})`);
                    }
                }
            }
            if (ts.isIdentifier(node) && !ts.isPropertyAccessExpression(node.parent) && !(ts.isPropertyAssignment(node.parent) || ts.isMethodDeclaration(node.parent)) && !ts.isParameter(node.parent) && !ts.isVariableDeclaration(node.parent) && !ts.isImportSpecifier(node.parent) && !ts.isImportClause(node.parent)) {
                const sym = checker.getSymbolAtLocation(node);
                if (!sym && !IGNORE.has(node.text)) {
                    expect(node.text, lineOfPos(node.getStart()), false, "API.md's code uses this identifier but the package does not declare it");
                }
            }
            ts.forEachChild(node, visit);
        };
        visit(src);

        // Comments: "plus: a, b, c/D (…), …" lists and "{a, b}" key lists.
        const comments = [];
        const scanner = ts.createScanner(ts.ScriptTarget.ES2022, false, ts.LanguageVariant.Standard, blockText);
        for (let k = scanner.scan(); k !== ts.SyntaxKind.EndOfFileToken; k = scanner.scan()) {
            if (k === ts.SyntaxKind.SingleLineCommentTrivia || k === ts.SyntaxKind.MultiLineCommentTrivia) {
                const pos = scanner.getTokenPos();
                comments.push({ pos, line: src.getLineAndCharacterOfPosition(pos).line, text: scanner.getTokenText().replace(/^\/\/\s?|^\/\*|\*\/$/g, "").trim() });
            }
        }
        const nodesOnLine = (line, pred) => {
            const out = [];
            const walk = (n) => {
                if (pred(n) && src.getLineAndCharacterOfPosition(n.getStart()).line === line) out.push(n);
                ts.forEachChild(n, walk);
            };
            walk(src);
            return out;
        };
        for (let c = 0; c < comments.length; c++) {
            const cm = comments[c];
            if (cm.consumed) continue;
            const mdLine = blockLine0 + cm.line;
            const plus = /^plus:\s*(.*)$/.exec(cm.text);
            if (plus) {
                let text = plus[1];
                for (let d = c + 1; d < comments.length && text.trim().endsWith(","); d++) {
                    text += " " + comments[d].text;
                    comments[d].consumed = true;
                }
                const assigned = nodesOnLine(cm.line, (n) => ts.isBinaryExpression(n) && n.operatorToken.kind === ts.SyntaxKind.EqualsToken && ts.isPropertyAccessExpression(n.left));
                assert.ok(assigned.length, `API.md line ${mdLine}: a "plus:" list not after an assignment \`x.y = …\`: the extraction needs updating`);
                const owner = assigned[0].left.expression;
                const ownerType = checker.getTypeAtLocation(owner);
                for (const name of splitNames(text)) expectMember(ownerType, name, mdLine, owner.getText());
                continue;
            }
            const keys = /\{([^}]*)\}/.exec(cm.text);
            if (keys) {
                const calls = nodesOnLine(cm.line, (n) => ts.isCallExpression(n) && n.arguments.length > 0);
                assert.ok(calls.length, `API.md line ${mdLine}: a "{…}" key list not after a call: the extraction needs updating`);
                const sig = checker.getResolvedSignature(calls[0]);
                const param = sig?.parameters[0];
                const ptype = param ? checker.getTypeOfSymbol(param) : undefined;
                const objects = ptype ? pkgParts(ptype) : [];
                const label = `${calls[0].expression.getText()}(${param?.name ?? "?"}: {…})`;
                for (const key of splitNames(keys[1])) {
                    const ok = objects.some((o) => o.getProperty(key));
                    expect(`${label}.${key}`, mdLine, ok, objects.length ? `no declared object type of ${label.split("(")[0]}'s first parameter (${show(ptype)}) has it` : `${label.split("(")[0]}'s first parameter has no declared object type`);
                }
                continue;
            }
            // Other camelCase names in comments (Swift selectors removed) must be API names.
            const prose = cm.text.replace(/\w+\((?:[\w_]*:)+\)/g, "");
            for (const w of prose.match(/\b[a-z]+(?:[A-Z][a-z0-9]*)+\b/g) ?? []) {
                if (IGNORE.has(w)) continue;
                expect(`${w} (in a comment)`, mdLine, surface.has(w), "not a name the package declares");
            }
        }
    }

    // --- 2. Prose: paragraphs of every section (tables and code removed) -------------
    const tableRows = [];
    for (const sec of sections) {
        const paras = [];
        let cur = [];
        let inFence = false;
        for (const l of sec.lines) {
            if (/^```/.test(l.text)) {
                inFence = !inFence;
                continue;
            }
            if (inFence) continue;
            if (l.text.startsWith("|")) {
                tableRows.push({ ...l, section: sec.title });
                continue;
            }
            if (!l.text.trim()) {
                if (cur.length) paras.push(cur);
                cur = [];
            } else cur.push(l);
        }
        if (cur.length) paras.push(cur);
        sec.paras = paras.map((ls) => ({ line: ls[0].n, lines: ls, text: ls.map((l) => l.text).join("\n") }));
    }
    const lineOf = (para, index) => para.line + (para.text.slice(0, index).match(/\n/g)?.length ?? 0);
    const isIdent = (s) => /^[A-Za-z_$][\w$]*$/.test(s);
    const tokensOf = (para) => [...para.text.matchAll(/`([^`]+)`/g)].map((m) => ({ raw: m[1], index: m.index, after: para.text.slice(m.index + m[0].length), line: lineOf(para, m.index) }));

    // A backticked path `a.b.c` or `a`: the root is an export, a variable of the code
    // block, or a member of one of their types (`error` of `task`).
    function rootType(name) {
        if (exported.has(name)) return checker.getTypeOfSymbol(resolveAlias(exported.get(name)));
        if (vars.has(name)) return vars.get(name);
        for (const [, t] of vars) {
            const s = pkgParts(t).length ? propOf(t, name) : undefined;
            if (s) return typeOfProp(s);
        }
        return undefined;
    }
    function expectPath(pathText, line, { instanceOfClassRoot = true } = {}) {
        const segs = pathText.split(".");
        let type = rootType(segs[0]);
        if (!type) {
            expect(pathText, line, surface.has(segs[0]), `${segs[0]} is not a name the package declares`);
            return;
        }
        if (segs.length === 1) {
            expect(pathText, line, true);
            return;
        }
        let label = segs[0];
        for (const seg of segs.slice(1)) {
            // Apple's documentation style `Class.property` names an instance property.
            const c = classOf(type);
            if (c?.isStatic && instanceOfClassRoot && !propOf(type, seg)) {
                type = checker.getDeclaredTypeOfSymbol(type.getSymbol());
            }
            const next = expectMember(type, seg, line, label);
            if (!next) return;
            type = next;
            label += "." + seg;
        }
    }

    const handledParas = new Set();

    // 2a. "Session:" / "Task:" paragraphs: members of the code block's `session` / `task`.
    for (const sec of sections) {
        for (const para of sec.paras) {
            const m = /^(\w+):\s/.exec(para.text);
            if (!m || !vars.has(m[1].toLowerCase())) continue;
            handledParas.add(para);
            const subjectName = m[1].toLowerCase();
            const subject = vars.get(subjectName);
            for (const tok of tokensOf(para)) {
                const call = /^([A-Za-z_$][\w$]*)\((.*)\)$/.exec(tok.raw);
                const name = call ? call[1] : tok.raw;
                if (!isIdent(name)) continue; // a location like `file:///…`
                if (exported.has(name)) {
                    expectExport(name, tok.line);
                    continue;
                }
                const t = expectMember(subject, name, tok.line, subjectName);
                if (!t) continue;
                if (call && !t.getCallSignatures().length) expect(`${subjectName}.${name}()`, tok.line, false, "declared, but not as a method");
                checkDetails(t, tok, `${subjectName}.${name}`, !!call);
            }
        }
    }

    /** "(…)" right after a token: `{keys}` or `"literal" | …`; "→ …" after a call: its result. */
    function checkDetails(type, tok, label, isCall) {
        const paren = /^\s*\(([^)]*)\)/.exec(tok.after);
        if (paren) {
            const inner = paren[1].trim();
            const keys = /^\{([^}]*)\}$/.exec(inner);
            if (keys) for (const k of splitNames(keys[1])) expectMember(type, k, tok.line, label);
            const literals = [...inner.matchAll(/"([^"]*)"/g)].map((x) => x[1]);
            if (literals.length && /^"[^"]*"(\s*\|\s*"[^"]*")*$/.test(inner)) {
                const declared = new Set(parts(type).filter((p) => p.isStringLiteral()).map((p) => p.value));
                for (const v of literals) expect(`${label} === "${v}"`, tok.line, declared.has(v), `${label} is declared as ${show(type)}`);
            }
        }
        const arrow = /^\s*→\s*(Promise<(.*?)>(?=[,.;\s]|$)|\{([^}]*)\})/.exec(tok.after);
        if (arrow && isCall) {
            const sig = type.getCallSignatures()[0];
            let result = sig ? checker.getReturnTypeOfSignature(sig) : undefined;
            if (!result) return;
            if (arrow[2] !== undefined) {
                const isPromise = result.getSymbol()?.name === "Promise";
                expect(`${label}() → Promise`, tok.line, isPromise, `returns ${show(result)}`);
                if (!isPromise) return;
                const awaited = checker.getAwaitedType(result) ?? result;
                for (const part of arrow[2].split("|").map((s) => s.trim())) {
                    const arr = /^(\w+)\[\]$/.exec(part);
                    let ok;
                    if (part === "null") ok = parts(awaited).length < (awaited.isUnion() ? awaited.types.length : 1) || !!(awaited.flags & ts.TypeFlags.Null);
                    else if (arr) {
                        const elem = vars.get(arr[1]) ?? rootType(arr[1]);
                        const a = checker.getNonNullableType(awaited);
                        ok = checker.isArrayType(a) && elem && show(checker.getTypeArguments(a)[0]) === show(elem);
                    } else ok = parts(awaited).some((p) => (p.getSymbol() ?? p.aliasSymbol)?.name === part);
                    expect(`${label}() → Promise<… ${part} …>`, tok.line, ok, `resolves with ${show(awaited)}`);
                }
            } else {
                const awaited = checker.getAwaitedType(result) ?? result;
                for (const k of splitNames(arrow[3])) expectMember(awaited, k, tok.line, `${label}() result`);
            }
        }
    }

    // 2b. The delegate table: the type URLSession's constructor takes as its delegate.
    const sessionClass = vars.get("session") && classOf(vars.get("session"));
    const ctorSigs = sessionClass ? checker.getTypeOfSymbol(resolveAlias(exported.get(sessionClass.cls))).getConstructSignatures() : [];
    const delegateParam = ctorSigs[0]?.parameters.find((p) => p.name === "delegate");
    const delegateType = delegateParam ? checker.getNonNullableType(checker.getTypeOfSymbol(delegateParam)) : undefined;
    const rows = tableRows
        .map((r) => ({ ...r, cells: r.text.split("|").slice(1, -1).map((c) => c.trim()) }))
        .filter((r) => /^`\w+`$/.test(r.cells[0] ?? ""));
    assert.ok(rows.length, "API.md has no table of delegate methods (`name` | Apple | arguments): the extraction needs updating");
    const header = tableRows.find((r) => /JS method/i.test(r.text));
    const baseArgs = /arguments after \(([^)]*)\)/.exec(header?.text ?? "")?.[1].split(",").map((s) => s.trim()) ?? ["session", "task"];
    for (const row of rows) {
        const name = row.cells[0].slice(1, -1);
        const label = `URLSession delegate ${delegateType ? show(delegateType) : "(untyped)"}`;
        if (!delegateType || isAny(delegateType) || !pkgParts(delegateType).length) {
            expect(`delegate.${name}`, row.n, false, `URLSession's constructor delegate parameter is ${delegateType ? show(delegateType) : "missing"} in the .d.ts, not a declared interface`);
            continue;
        }
        const sym = propOf(delegateType, name);
        expect(`${label}.${name}`, row.n, sym, "not declared on the delegate type", name);
        if (!sym) continue;
        expect(`${label}.${name} is optional`, row.n, sym.flags & ts.SymbolFlags.Optional, "declared as required");
        const sig = checker.getNonNullableType(typeOfProp(sym)).getCallSignatures()[0];
        const actual = sig ? sig.parameters.map((p) => p.name) : [];
        const wanted = delegateArgs(row.cells[2] ?? "", baseArgs);
        expect(`${label}.${name}(${wanted.join(", ")})`, row.n, actual.join(",") === wanted.join(","), `declared as ${name}(${actual.join(", ")})`);
        const ret = /return\s+(.*)$/.exec(row.cells[2] ?? "");
        if (ret && sig) {
            const result = checker.getReturnTypeOfSignature(sig);
            const lits = new Set();
            for (const p of parts(result)) {
                if (p.isStringLiteral()) lits.add(p.value);
                const aw = checker.getAwaitedType(p);
                if (aw && aw !== p) for (const q of parts(aw)) if (q.isStringLiteral()) lits.add(q.value);
            }
            for (const v of [...ret[1].matchAll(/"([^"]*)"/g)].map((x) => x[1])) expect(`${label}.${name} may return "${v}"`, row.n, lits.has(v), `returns ${show(result)}`);
        }
    }

    // 2c. Errors: the NSError keys and Apple's codes.
    const errSec = sections.find((s) => /\berrors?\b/i.test(s.title));
    assert.ok(errSec, "API.md has no Errors section: the extraction needs updating");
    {
        const text = errSec.paras.map((p) => p.text).join("\n");
        const para = errSec.paras[0];
        handledParas.add(para);
        const obj = /`\{([^}]*)\}`/.exec(text);
        assert.ok(obj, "API.md's Errors section has no `{ domain: …, code, … }` object: the extraction needs updating");
        const errType = rootType("error");
        for (const k of splitNames(obj[1])) {
            if (errType) expectMember(errType, k, lineOf(para, obj.index), "task.error");
            else expect(`error.${k}`, lineOf(para, obj.index), false, "the code block's task has no `error`");
        }
        const codesAt = text.search(/codes:/);
        assert.ok(codesAt >= 0, "API.md's Errors section lists no codes (\"codes: -999 cancelled, …\"): the extraction needs updating");
        const codesText = text.slice(codesAt).replace(/\([^)]*\)/g, "").replace(/\s+/g, " ");
        const codes = [...codesText.matchAll(/(-\d+)\s+([A-Za-z][A-Za-z ]*?)\s*(?=,|\.|$)/g)].map((m) => ({ code: Number(m[1]), words: m[2].replace(/^or\s+/, "") }));
        const numbers = codesText.match(/-\d+/g) ?? [];
        assert.ok(codes.length >= 5 && codes.length === numbers.length, `could not read every error code of API.md's Errors section (read ${codes.map((c) => c.code)} of ${numbers})`);
        const runtime = mod.URLError;
        const enumSym = exported.get("URLError");
        for (const { code, words } of codes) {
            const name = swiftName(words);
            const what = `URLError.${name} === ${code} (API.md: "${code} ${words}")`;
            const line = lineOf(para, para.text.indexOf(String(code)));
            if (!runtime || !enumSym) {
                expect(what, line, false, "the package exports no URLError table of Apple's codes");
                continue;
            }
            const member = checker.getTypeOfSymbol(resolveAlias(enumSym)).getProperty(name);
            const dtsValue = member?.valueDeclaration && ts.isEnumMember(member.valueDeclaration) ? checker.getConstantValue(member.valueDeclaration) : undefined;
            const ok = runtime[name] === code && runtime[code] === name && dtsValue === code;
            expect(what, line, ok, `runtime URLError.${name} = ${runtime[name]}, URLError[${code}] = ${runtime[code]}, .d.ts value ${dtsValue}`, name);
        }
    }

    // 2d. Files: `X.y`: then methods of X.y's type, "→ {keys}", "a way to list the <word> files".
    const filesSec = sections.find((s) => /\bfiles?\b/i.test(s.title) && /sandbox|FileManager/i.test(s.title + s.lines.map((l) => l.text).join(" ")));
    assert.ok(filesSec, "API.md has no Files section: the extraction needs updating");
    for (const para of filesSec.paras) {
        const subj = /`([A-Za-z_$][\w$]*\.[\w$.]+)`:/.exec(para.text);
        if (!subj) continue;
        handledParas.add(para);
        expectPath(subj[1], lineOf(para, subj.index), { instanceOfClassRoot: false });
        const [root, ...rest] = subj[1].split(".");
        let type = rootType(root);
        for (const seg of rest) type = type && propOf(type, seg) ? typeOfProp(propOf(type, seg)) : undefined;
        if (!type) continue;
        for (const tok of tokensOf(para)) {
            if (tok.index <= subj.index) continue;
            const call = /^([A-Za-z_$][\w$]*)\((.*)\)$/.exec(tok.raw);
            if (!call) continue;
            const t = expectMember(type, call[1], tok.line, subj[1]);
            if (t) checkDetails(t, tok, `${subj[1]}.${call[1]}`, true);
        }
        const way = /a way to (\w+) the (\w+) (\w+)/.exec(para.text);
        if (way) {
            const word = way[2].toLowerCase();
            const methods = pkgParts(type).flatMap((p) => p.getProperties()).map((s) => s.name).filter((n) => n.toLowerCase().includes(word));
            expect(`${subj[1]}: "${way[0]}" (a method named *${word}*)`, lineOf(para, way.index), methods.length, `no method of ${subj[1]} has "${word}" in its name`);
        }
    }

    // 2e. Files a site serves: backticked paths under www/, and the default worker URL.
    for (const sec of sections) {
        for (const para of sec.paras) {
            for (const tok of tokensOf(para)) {
                const p = tok.raw;
                if (/^www\/\S+$/.test(p)) expect(`file ${p}`, tok.line, fs.existsSync(path.join(root, p)), "not built");
                else if (/^\.\/\S+\.js$/.test(p)) expect(`file ${p} (relative to www/)`, tok.line, fs.existsSync(path.join(WWW, p)), "not in www/");
                else if (/^\.wasm$/.test(p)) expect(`file www/pkg/*.wasm`, tok.line, fs.readdirSync(PKG).some((f) => f.endsWith(".wasm")), "no .wasm in www/pkg");
            }
            for (const m of para.text.matchAll(/`([^`]+)`\s+by\s+default\s+\(`(\w+)\.(\w+)`/g)) {
                let actual;
                try {
                    actual = mod[m[2]]?.background?.("api-names-test")?.[m[3]];
                } catch (e) {
                    actual = `(threw ${e})`;
                }
                expect(`${m[2]}.${m[3]} defaults to ${m[1]}`, lineOf(para, m.index), actual === m[1], `default is ${actual}`);
            }
        }
    }

    // 2f. The introduction's Rust names, in src/.
    const rustSrc = readTree(path.join(root, "src"));
    for (const para of sections[0].paras) {
        handledParas.add(para);
        for (const tok of tokensOf(para)) {
            if (!isIdent(tok.raw) || tok.raw === "bgsession") continue;
            const re = new RegExp(`\\bpub\\s+(?:async\\s+)?(?:struct|enum|trait|fn|type)\\s+${tok.raw}\\b`);
            expect(`Rust ${tok.raw}`, tok.line, re.test(rustSrc), "no `pub struct/enum/trait/fn` of that name in src/");
        }
    }

    // 2g. Every other backticked name or path, anywhere in the prose.
    for (const sec of sections) {
        for (const para of sec.paras) {
            if (handledParas.has(para)) continue;
            for (const tok of tokensOf(para)) {
                const call = /^([A-Za-z_$][\w$.]*)\((.*)\)$/.exec(tok.raw);
                const name = call ? call[1] : tok.raw;
                if (!/^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/.test(name) || IGNORE.has(name)) continue;
                expectPath(name, tok.line);
            }
        }
    }

    // --- Tests ------------------------------------------------------------------
    const unique = new Map();
    for (const c of checks) {
        const prev = unique.get(c.what);
        if (!prev || (prev.ok && !c.ok)) unique.set(c.what, c);
    }
    const all = [...unique.values()];
    const failed = all.filter((c) => !c.ok);

    test(`every name of API.md is in the built package (${all.length} checks)`, (t) => {
        t.diagnostic(`${all.length} distinct checks from API.md (${checks.length} occurrences)`);
        if (process.env.API_NAMES_VERBOSE) for (const c of all) t.diagnostic(`${c.ok ? "ok  " : "MISS"} API.md:${c.line} ${c.what}`);
        assert.ok(
            failed.length === 0,
            `${failed.length} name(s) of API.md missing from the built package:\n` + failed.map((c) => `  API.md:${c.line}  ${c.what} — ${c.why}`).join("\n"),
        );
    });

    test("the extraction found every part of the contract", () => {
        const count = (re) => all.filter((c) => re.test(c.what)).length;
        assert.ok(count(/^export /) >= 4, "fewer than 4 exports found in API.md's imports");
        assert.ok(count(/^URLSession delegate .*\.\w+$/) >= 5, "fewer than 5 delegate methods found in API.md's table");
        assert.ok(count(/^URLError\./) >= 5, "fewer than 5 error codes found in API.md");
        assert.ok(count(/^(session|task)\./) >= 20, "fewer than 20 session/task members found in API.md");
    });

    test("tests/api/sample.ts (type-checked by tsc) uses every name found in API.md", (t) => {
        const sample = fs.readFileSync(path.join(here, "sample.ts"), "utf8").replace(/^\s*\/\/.*$/gm, "");
        const names = [...new Set(all.filter((c) => c.name).map((c) => c.name))];
        const unused = names.filter((n) => !new RegExp(`\\b${n.replace(/\$/g, "\\$")}\\b`).test(sample));
        t.diagnostic(`${names.length} distinct API names looked for in sample.ts`);
        assert.deepEqual(unused, [], "names of API.md that sample.ts does not use");
    });

    test("the generated .d.ts type-checks and the page API has no `any`", () => {
        const diags = dtsSyntax.map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
        assert.deepEqual(diags, [], "bgsession.d.ts has errors");
        const anys = [];
        for (const [name, s0] of exported) {
            const s = resolveAlias(s0);
            if (!(s.flags & ts.SymbolFlags.Class)) continue;
            for (const side of [checker.getTypeOfSymbol(s), checker.getDeclaredTypeOfSymbol(s)]) {
                for (const m of side.getProperties()) {
                    const text = show(typeOfProp(m));
                    if (/\bany\b/.test(text)) anys.push(`${name}.${m.name}: ${text}`);
                }
            }
        }
        assert.deepEqual(anys, [], "members typed `any` (add unchecked_return_type / unchecked_param_type)");
    });
}

// --- Helpers -------------------------------------------------------------------

/** Splits a comma list of names ("a, b (…), c: …"); `timeoutIntervalForRequest/Resource` gives both names. */
function splitNames(text) {
    const out = [];
    for (let item of text.split(",")) {
        item = item.replace(/\([^)]*\)/g, "").replace(/:.*$/, "").trim();
        if (!item) continue;
        const [first, ...alts] = item.split("/").map((s) => s.trim());
        out.push(first);
        for (const alt of alts) {
            const stem = first.replace(/[A-Z][a-z0-9]*$/, "");
            out.push(stem + alt);
        }
    }
    return out.filter((n) => /^[A-Za-z_$][\w$]*$/.test(n));
}

/** "cannot connect to host" → "cannotConnectToHost"; "unsupported URL" → "unsupportedURL". */
function swiftName(words) {
    return words
        .trim()
        .split(/\s+/)
        .map((w, i) => (i === 0 ? w.toLowerCase() : w === w.toUpperCase() ? w : w[0].toUpperCase() + w.slice(1)))
        .join("");
}

/** The argument names of a delegate table row ("a, b, c (…)", "—", "request; …", "(session) only"). */
function delegateArgs(cell, base) {
    let text = cell.trim();
    const whole = /^\(([^)]*)\)/.exec(text);
    if (whole) return whole[1].split(",").map((s) => s.trim()).filter(Boolean);
    text = text.replace(/\([^)]*\)/g, "").replace(/`[^`]*`/g, "").split(";")[0].replace(/\bor null\b/g, "").trim();
    if (/^[—–-]*$/.test(text)) return [...base];
    return [...base, ...text.split(",").map((s) => s.trim()).filter(Boolean)];
}

function readTree(dir) {
    let out = "";
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) out += readTree(p);
        else if (e.name.endsWith(".rs")) out += fs.readFileSync(p, "utf8") + "\n";
    }
    return out;
}
