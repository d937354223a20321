//! The shape of the browser hosts (`src/web/`), checked natively:
//! - no function is longer than 60 lines (counted as `../shared/tools/fnlen.py`
//!   counts: from `fn` to its closing brace);
//! - no module imports a module that imports it back (parent and child aside);
//! - the page (`web::page`) and the worker (`web::daemon`, `web::bgfetch`)
//!   share nothing but the core: neither names the other.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_FN_LINES: usize = 60;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/web/page/session.rs` → `web::page::session`; `mod.rs` names its folder.
fn module_of(root: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(root).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts.join("::")
}

/// The source with comments, strings and char literals blanked (newlines kept).
fn strip(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let blank = |out: &mut Vec<u8>, s: &[u8]| out.extend(s.iter().map(|&c| if c == b'\n' { b'\n' } else { b' ' }));
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        let ident_before = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        let end = if rest.starts_with(b"//") {
            rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len())
        } else if rest.starts_with(b"/*") {
            rest[2..].windows(2).position(|w| w == b"*/").map_or(rest.len(), |p| p + 4)
        } else if rest[0] == b'r' && !ident_before && rest[1..].iter().take_while(|&&c| c == b'#').count() + 1 < rest.len() && rest[1 + rest[1..].iter().take_while(|&&c| c == b'#').count()] == b'"' {
            let hashes = rest[1..].iter().take_while(|&&c| c == b'#').count();
            let close: Vec<u8> = std::iter::once(b'"').chain(std::iter::repeat(b'#').take(hashes)).collect();
            let body = 2 + hashes;
            rest[body..].windows(close.len()).position(|w| w == close.as_slice()).map_or(rest.len(), |p| body + p + close.len())
        } else if rest[0] == b'"' {
            let mut j = 1;
            while j < rest.len() && rest[j] != b'"' {
                j += if rest[j] == b'\\' { 2 } else { 1 };
            }
            (j + 1).min(rest.len())
        } else if rest[0] == b'\'' && rest.len() >= 3 && ((rest[1] != b'\\' && rest[2] == b'\'') || (rest[1] == b'\\' && rest.len() >= 4 && rest[3] == b'\'')) {
            if rest[1] == b'\\' { 4 } else { 3 }
        } else {
            out.push(rest[0]);
            i += 1;
            continue;
        };
        blank(&mut out, &rest[..end]);
        i += end;
    }
    String::from_utf8(out).unwrap()
}

/// `(lines, name, first line)` of every function with a body.
fn functions(src: &str) -> Vec<(usize, String, usize)> {
    let s = strip(src);
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(p) = s[from..].find("fn ") {
        let at = from + p;
        from = at + 3;
        if at > 0 && (b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_') {
            continue;
        }
        let name: String = s[at + 3..].trim_start().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        if name.is_empty() {
            continue;
        }
        let (mut j, mut depth) = (at + 3, 0i32);
        while j < b.len() && !(depth <= 0 && (b[j] == b'{' || b[j] == b';')) {
            match b[j] {
                b'(' | b'<' | b'[' => depth += 1,
                b')' | b'>' | b']' => depth -= 1,
                _ => {}
            }
            j += 1;
        }
        if j >= b.len() || b[j] == b';' {
            continue;
        }
        let mut d = 0;
        let mut k = j;
        while k < b.len() {
            match b[k] {
                b'{' => d += 1,
                b'}' => {
                    d -= 1;
                    if d == 0 {
                        break;
                    }
                }
                _ => {}
            }
            k += 1;
        }
        let first = s[..at].matches('\n').count() + 1;
        let last = s[..k].matches('\n').count() + 1;
        out.push((last - first + 1, name, first));
    }
    out
}

/// The modules of `src/` that `file` (module `me`) names: `crate::a::b`
/// paths and `super::` paths, each taken to the longest known module.
fn imports(src: &str, me: &str, known: &BTreeSet<String>, reexports: &BTreeMap<(String, String), String>) -> BTreeSet<String> {
    let s = strip(src);
    let mut out = BTreeSet::new();
    let here: Vec<&str> = me.split("::").collect();
    let mut paths: Vec<Vec<String>> = Vec::new();
    for (i, _) in s.match_indices("crate::") {
        paths.extend(use_paths(&s[i + 7..]));
    }
    for (i, _) in s.match_indices("super::") {
        if i >= 2 && &s[i - 2..i] == "::" {
            continue; // counted from the first super
        }
        let mut base: Vec<String> = here.iter().map(|p| p.to_string()).collect();
        let mut r = &s[i..];
        while let Some(more) = r.strip_prefix("super::") {
            base.pop();
            r = more;
        }
        for tail in use_paths(r) {
            paths.push(base.iter().cloned().chain(tail).collect());
        }
    }
    for parts in paths {
        for n in (1..=parts.len()).rev() {
            let m = parts[..n].join("::");
            if known.contains(&m) {
                // A name the module re-exports from a child is that child's.
                let m = parts.get(n).and_then(|name| reexports.get(&(m.clone(), name.clone()))).cloned().unwrap_or(m);
                if m != me {
                    out.insert(m);
                }
                break;
            }
        }
    }
    out
}

/// The paths a `use` tree starting at `rest` names: `a::b::{c, d::e}` →
/// `[a, b, c]`, `[a, b, d, e]`.
fn use_paths(rest: &str) -> Vec<Vec<String>> {
    let mut parts = Vec::new();
    let mut r = rest;
    loop {
        let id: String = r.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        if id.is_empty() {
            break;
        }
        r = &r[id.len()..];
        parts.push(id);
        match r.strip_prefix("::") {
            Some(more) => r = more.trim_start(),
            None => return vec![parts],
        }
    }
    let Some(group) = r.strip_prefix('{') else { return vec![parts] };
    let (mut depth, mut start, mut out) = (0, 0, Vec::new());
    for (k, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                out.push(&group[start..k]);
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&group[start..k]);
                start = k + 1;
            }
            _ => {}
        }
    }
    let items = out.into_iter().map(str::trim).filter(|i| !i.is_empty());
    items.flat_map(|item| use_paths(item).into_iter().map(|tail| parts.iter().cloned().chain(tail).collect::<Vec<_>>()).collect::<Vec<_>>()).collect()
}

/// `(module, name) → child` for every `pub use child::{name, ...}` of a module.
fn reexports_of(me: &str, src: &str) -> Vec<((String, String), String)> {
    let mut out = Vec::new();
    for line in strip(src).lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("pub use ").or_else(|| line.strip_prefix("pub(crate) use ")) else { continue };
        let Some((child, names)) = rest.split_once("::") else { continue };
        let names = names.trim_end_matches(';').trim_start_matches('{').trim_end_matches('}');
        for name in names.split(',').map(|n| n.trim()).filter(|n| !n.is_empty()) {
            let exported = name.rsplit(" as ").next().unwrap().trim().to_string();
            out.push(((me.to_string(), exported), format!("{me}::{child}")));
        }
    }
    out
}

fn is_parent_or_child(a: &str, b: &str) -> bool {
    a.starts_with(&format!("{b}::")) || b.starts_with(&format!("{a}::"))
}

struct Crate {
    files: BTreeMap<String, (PathBuf, String)>,
    graph: BTreeMap<String, BTreeSet<String>>,
}

fn load() -> Crate {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    rust_files(&root, &mut all);
    let known: BTreeSet<String> = all.iter().map(|f| module_of(&root, f)).collect();
    let mut files = BTreeMap::new();
    for f in &all {
        files.insert(module_of(&root, f), (f.clone(), std::fs::read_to_string(f).unwrap()));
    }
    let reexports: BTreeMap<(String, String), String> = files.iter().flat_map(|(m, (_, src))| reexports_of(m, src)).filter(|(_, child)| known.contains(child)).collect();
    let graph = files.iter().map(|(m, (_, src))| (m.clone(), imports(src, m, &known, &reexports))).collect();
    Crate { files, graph }
}

#[test]
fn no_function_in_the_browser_hosts_is_longer_than_60_lines() {
    let c = load();
    let mut over = Vec::new();
    let mut longest = (0, String::new());
    for (module, (path, src)) in c.files.iter().filter(|(m, _)| m.starts_with("web")) {
        for (lines, name, line) in functions(src) {
            if lines > longest.0 {
                longest = (lines, format!("{module}::{name}"));
            }
            if lines > MAX_FN_LINES {
                over.push(format!("{}:{line} {name}: {lines} lines", path.display()));
            }
        }
    }
    assert!(longest.0 > 10, "the counter found functions ({longest:?})");
    assert!(over.is_empty(), "longer than {MAX_FN_LINES} lines:\n{}", over.join("\n"));
}

#[test]
fn no_module_of_the_browser_hosts_imports_one_that_imports_it_back() {
    let c = load();
    // Every cycle of the import graph (parent/child edges left out) among web's modules.
    let web: Vec<&String> = c.graph.keys().filter(|m| m.starts_with("web")).collect();
    let edges = |m: &str| -> Vec<String> { c.graph[m].iter().filter(|t| t.starts_with("web") && !is_parent_or_child(m, t)).cloned().collect() };
    let mut cycles = Vec::new();
    for start in &web {
        // Depth-first search for a path from `start` back to itself.
        let mut stack = vec![(start.to_string(), vec![start.to_string()])];
        let mut seen = BTreeSet::new();
        while let Some((at, path)) = stack.pop() {
            for next in edges(&at) {
                if next == **start {
                    cycles.push(format!("{} -> {next}", path.join(" -> ")));
                } else if seen.insert(next.clone()) {
                    let mut p = path.clone();
                    p.push(next.clone());
                    stack.push((next, p));
                }
            }
        }
    }
    let total: usize = web.iter().map(|m| edges(m).len()).sum();
    assert!(total > 5, "the import graph was read ({total} edges)");
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn page_and_worker_share_nothing_but_the_core() {
    let c = load();
    let worker = ["web::daemon", "web::bgfetch"];
    let mut wrong = Vec::new();
    for (module, targets) in &c.graph {
        let is_page = module.starts_with("web::page");
        let is_worker = worker.iter().any(|w| module == w || module.starts_with(&format!("{w}::")));
        for t in targets {
            if is_page && worker.iter().any(|w| t.starts_with(w)) {
                wrong.push(format!("{module} (page) names {t} (worker)"));
            }
            if is_worker && t.starts_with("web::page") {
                wrong.push(format!("{module} (worker) names {t} (page)"));
            }
        }
    }
    assert!(c.graph.get("web::page::session").is_some_and(|t| t.contains("core::protocol")), "the page speaks the core's protocol");
    assert!(c.graph.get("web::daemon").is_some_and(|t| t.contains("core::protocol")), "so does the worker");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_checks_see_what_they_look_for() {
    let src = "fn a() {\n    let s = \"}\";\n    // }\n}\nfn b() -> u8 { 1 }\n";
    let f = functions(src);
    assert_eq!(f.iter().map(|(n, name, _)| (*n, name.as_str())).collect::<Vec<_>>(), vec![(4, "a"), (1, "b")]);
    let known: BTreeSet<String> = ["web", "web::page", "web::page::task", "web::store", "core::protocol"].iter().map(|s| s.to_string()).collect();
    let reexports: BTreeMap<(String, String), String> = reexports_of("web::page", "pub use task::{UrlSessionTask, Other as Renamed};\n").into_iter().collect();
    assert_eq!(reexports.get(&("web::page".into(), "Renamed".into())).map(String::as_str), Some("web::page::task"));
    let i = imports("use crate::web::store::Store;\nuse super::task::X;\nuse crate::core::protocol::{A, B};", "web::page::session", &known, &reexports);
    assert_eq!(i, ["core::protocol", "web::page::task", "web::store"].iter().map(|s| s.to_string()).collect());
    let through_parent = imports("use crate::web::page::{UrlSessionTask, usage};", "web::page::session", &known, &reexports);
    assert_eq!(through_parent, ["web::page", "web::page::task"].iter().map(|s| s.to_string()).collect(), "a re-exported name is its module's");
}
