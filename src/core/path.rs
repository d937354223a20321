//! Locations in the emulated app sandbox: `file:///tmp/…`,
//! `file:///Documents/…`, `file:///Library/Caches/…`.
//!
//! # Examples
//!
//! ```
//! use bgsession::core::path::{Root, SandboxPath};
//!
//! let p = SandboxPath::parse("file:///Documents/ep%201.mp3").unwrap();
//! assert_eq!(p.root(), Root::Documents);
//! assert_eq!(p.key(), "/Documents/ep 1.mp3"); // percent-escapes decoded
//! assert_eq!(p.url(), "file:///Documents/ep%201.mp3");
//! assert_eq!(p.name(), "ep 1.mp3");
//!
//! // Absolute paths work too; `.` and `..` are resolved.
//! assert_eq!(SandboxPath::parse("/tmp/a/../b").unwrap().key(), "/tmp/b");
//!
//! // Outside the sandbox: refused, with the reason.
//! let err = SandboxPath::parse("file:///etc/passwd").unwrap_err();
//! assert!(err.to_string().contains("outside /tmp, /Documents and /Library/Caches"));
//! ```

use std::fmt;

/// The longest name of one file or directory, in bytes (`NAME_MAX` on iOS).
pub const MAX_NAME_BYTES: usize = 255;
/// The longest whole path, in bytes (`PATH_MAX` on iOS).
pub const MAX_PATH_BYTES: usize = 1024;

/// The sandbox's top-level directories.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Root {
    /// `file:///tmp/`: where finished downloads land (`NSTemporaryDirectory()`).
    Tmp,
    /// `file:///Documents/`: the app's documents (`.documentDirectory`).
    Documents,
    /// `file:///Library/Caches/`: the app's caches (`.cachesDirectory`).
    Caches,
}

impl Root {
    /// The three roots, in this order: tmp, Documents, Caches.
    pub const ALL: [Root; 3] = [Root::Tmp, Root::Documents, Root::Caches];

    /// The root's path: `/tmp`, `/Documents` or `/Library/Caches`.
    pub fn prefix(self) -> &'static str {
        match self {
            Root::Tmp => "/tmp",
            Root::Documents => "/Documents",
            Root::Caches => "/Library/Caches",
        }
    }

    /// The key used in storage accounting (`usage()`).
    pub fn usage_key(self) -> &'static str {
        match self {
            Root::Tmp => "tmp",
            Root::Documents => "documents",
            Root::Caches => "caches",
        }
    }
}

/// A normalised sandbox path such as `/Documents/ep1.mp3` (a directory is the
/// same with no name after its root, e.g. `/tmp`).
///
/// # Examples
///
/// ```
/// use bgsession::core::path::SandboxPath;
///
/// let docs = SandboxPath::parse("file:///Documents").unwrap();
/// assert!(docs.is_root());
/// let file = docs.join("Season 1/ep1.mp3").unwrap();
/// assert_eq!(file.key(), "/Documents/Season 1/ep1.mp3");
/// assert_eq!(file.to_string(), "file:///Documents/Season%201/ep1.mp3");
/// assert!(docs.join("../../etc").is_err()); // never above the sandbox
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SandboxPath {
    root: Root,
    /// Components below the root, never empty strings, `.` or `..`.
    parts: Vec<String>,
}

/// A location that is not in the sandbox, or not a location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathError {
    /// The location as given.
    pub input: String,
    /// What is wrong with it.
    pub why: &'static str,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "\"{}\" is not a sandbox location: {} (use file:///tmp/…, file:///Documents/… or file:///Library/Caches/…)",
            self.input, self.why
        )
    }
}

impl std::error::Error for PathError {}

impl SandboxPath {
    /// Parses `file:///Documents/a.mp3` or `/Documents/a.mp3`; percent-escapes
    /// are decoded, `.` and `..` resolved (never above the root).
    pub fn parse(input: &str) -> Result<Self, PathError> {
        let err = |why| PathError { input: input.to_string(), why };
        let path = if let Some(rest) = input.strip_prefix("file://") {
            if !rest.starts_with('/') {
                return Err(err("a file URL must have an empty host: file:///…"));
            }
            rest
        } else if input.starts_with('/') {
            input
        } else {
            return Err(err("expected a file:/// URL or an absolute path"));
        };
        let path = path.split(['?', '#']).next().unwrap_or("");
        let mut parts: Vec<String> = Vec::new();
        for raw in path.split('/') {
            let seg = percent_decode(raw).ok_or_else(|| err("bad percent-escape"))?;
            if seg.contains(['/', '\0']) {
                // An escaped "/" would hide "..": `a%2F..%2F..%2Fx`.
                return Err(err("a name cannot contain \"/\" or NUL (escaped or not)"));
            }
            if seg.len() > MAX_NAME_BYTES {
                return Err(err("a name is longer than 255 bytes"));
            }
            match seg.as_str() {
                "" | "." => {}
                ".." => {
                    if parts.pop().is_none() {
                        return Err(err("\"..\" goes above the sandbox"));
                    }
                }
                _ => parts.push(seg),
            }
        }
        let (root, skip) = match parts.first().map(|s| s.as_str()) {
            Some("tmp") => (Root::Tmp, 1),
            Some("Documents") => (Root::Documents, 1),
            Some("Library") if parts.get(1).map(|s| s.as_str()) == Some("Caches") => (Root::Caches, 2),
            _ => return Err(err("it is outside /tmp, /Documents and /Library/Caches")),
        };
        let path = SandboxPath { root, parts: parts[skip..].to_vec() };
        if path.key().len() > MAX_PATH_BYTES {
            return Err(err("the path is longer than 1024 bytes"));
        }
        Ok(path)
    }

    /// The [`key`](SandboxPath::key) of the path `location` names (as
    /// [`SandboxPath::parse`] reads it), if it is one. A plain location is
    /// its own key and is not parsed: a replay acknowledging 1,000 events
    /// spent about 6 ms of its main thread parsing the daemon's temp files'.
    pub fn key_of(location: &str) -> Option<std::borrow::Cow<'_, str>> {
        match Self::plain_key(location) {
            Some(key) => Some(key.into()),
            None => Self::parse(location).ok().map(|p| p.key().into()),
        }
    }

    /// `parse(location)`'s key without building the path, when `location`
    /// needs no decoding or resolving: `file:///` then names of ASCII
    /// letters, digits, `.`, `_` and `-` under one of the three roots (the
    /// daemon's temp files, the usual app file). `None` means "not that
    /// simple", not "invalid".
    fn plain_key(location: &str) -> Option<&str> {
        let path = location.strip_prefix("file://")?;
        let rest = ["/tmp/", "/Documents/", "/Library/Caches/"].iter().find_map(|root| path.strip_prefix(root))?;
        let plain = |seg: &str| {
            !seg.is_empty() && seg != "." && seg != ".." && seg.len() <= MAX_NAME_BYTES && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
        };
        (path.len() <= MAX_PATH_BYTES && rest.split('/').all(plain)).then_some(path)
    }

    /// Which top-level directory it is in.
    pub fn root(&self) -> Root {
        self.root
    }

    /// Is this one of the three top-level directories itself?
    pub fn is_root(&self) -> bool {
        self.parts.is_empty()
    }

    /// The last component (empty for a root).
    pub fn name(&self) -> &str {
        self.parts.last().map(|s| s.as_str()).unwrap_or("")
    }

    /// The stored key, e.g. `/Library/Caches/maps/a.bin`.
    pub fn key(&self) -> String {
        let mut s = self.root.prefix().to_string();
        for p in &self.parts {
            s.push('/');
            s.push_str(p);
        }
        s
    }

    /// The `file:///…` URL (components percent-encoded where needed).
    pub fn url(&self) -> String {
        let mut s = format!("file://{}", self.root.prefix());
        for p in &self.parts {
            s.push('/');
            s.push_str(&percent_encode(p));
        }
        s
    }

    /// The key prefix of everything below this path (`/tmp/`).
    pub fn child_prefix(&self) -> String {
        format!("{}/", self.key())
    }

    /// A child of this directory.
    pub fn join(&self, name: &str) -> Result<Self, PathError> {
        Self::parse(&format!("{}/{}", self.key(), name))
    }
}

impl fmt::Display for SandboxPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url())
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&c) {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `plain_key` answers only where `parse` gives that very key, and
    /// answers for the daemon's temp files and ordinary names.
    #[test]
    fn a_plain_key_is_the_parsed_key() {
        let long = format!("file:///tmp/{}", "a".repeat(256));
        let deep = format!("file:///Documents/{}", ["abcdefghij"; 100].join("/"));
        let inputs = [
            "file:///tmp/CFNetworkDownload_0194a3b2c1d0e1f2a3b4c5d6.tmp",
            "file:///Documents/a.mp3",
            "file:///Library/Caches/x/y-z_1.bin",
            "file:///Documents/a b.mp3",
            "file:///Documents/a%20b.mp3",
            "file:///Documents/./a",
            "file:///Documents/../tmp/a",
            "file:///Documents/a/..",
            "file:///Documents//a",
            "file:///Documents/a/",
            "file:///Documents/",
            "file:///Documents",
            "file:///tmp",
            "file:///Library/a",
            "file:///Library/Caches",
            "file:///etc/passwd",
            "file://host/tmp/a",
            "/tmp/a",
            "file:///tmp/a?b",
            "file:///tmp/a#b",
            "file:///tmp/é",
            "file:///tmp/...",
            long.as_str(),
            deep.as_str(),
        ];
        let mut answered = 0;
        for input in inputs {
            let parsed = SandboxPath::parse(input).ok().map(|p| p.key());
            if let Some(k) = SandboxPath::plain_key(input) {
                assert_eq!(Some(k.to_string()), parsed, "{input}");
                answered += 1;
            }
        }
        assert_eq!(answered, 4, "temp file, a.mp3, Caches, \"...\"");
        for input in inputs {
            assert_eq!(SandboxPath::key_of(input).map(String::from), SandboxPath::parse(input).ok().map(|p| p.key()), "{input}");
        }
        assert!(SandboxPath::plain_key("file:///tmp/CFNetworkDownload_0194a3b2c1d0e1f2a3b4c5d6.tmp").is_some());
    }

    #[test]
    fn parses_the_three_roots() {
        let p = SandboxPath::parse("file:///Documents/ep%201.mp3").unwrap();
        assert_eq!(p.root(), Root::Documents);
        assert_eq!(p.key(), "/Documents/ep 1.mp3");
        assert_eq!(p.url(), "file:///Documents/ep%201.mp3");
        assert_eq!(p.name(), "ep 1.mp3");
        assert_eq!(SandboxPath::parse("/Library/Caches/a/b").unwrap().root(), Root::Caches);
        assert_eq!(SandboxPath::parse("file:///tmp/").unwrap().key(), "/tmp");
        assert!(SandboxPath::parse("file:///tmp").unwrap().is_root());
        assert_eq!(SandboxPath::parse("/tmp/a/../b/./c").unwrap().key(), "/tmp/b/c");
    }

    #[test]
    fn rejects_outside_and_names_why() {
        for (bad, why) in [
            ("file:///etc/passwd", "outside"),
            ("file:///Library/Preferences/x", "outside"),
            ("https://h/x", "file:///"),
            ("relative/x", "file:///"),
            ("file://host/tmp/x", "empty host"),
            ("/tmp/../../x", "above"),
            ("/tmp/%zz", "percent"),
            ("file:///Documents/../../x", "above"),
            ("file:///Documents/..%2F..%2Fx", "cannot contain"),
            ("file:///Documents/a%2Fb", "cannot contain"),
            ("file:///Documents/a%00b", "cannot contain"),
            ("", "file:///"),
        ] {
            let e = SandboxPath::parse(bad).unwrap_err();
            assert!(e.to_string().contains(why), "{bad}: {e}");
            assert!(e.to_string().contains(bad));
        }
        // Leaving a root by .. lands outside the sandbox.
        assert!(SandboxPath::parse("/tmp/../Documents/x").is_ok());
        assert!(SandboxPath::parse("/tmp/../x").is_err());
    }

    #[test]
    fn absurdly_long_names_and_paths_are_refused() {
        let name = "n".repeat(MAX_NAME_BYTES);
        assert!(SandboxPath::parse(&format!("file:///Documents/{name}")).is_ok());
        let e = SandboxPath::parse(&format!("file:///Documents/{name}n")).unwrap_err();
        assert!(e.why.contains("longer than 255 bytes"), "{e}");
        // 255 bytes counted after decoding: 86 escaped "é" are 172 bytes.
        assert!(SandboxPath::parse(&format!("file:///Documents/{}", "%C3%A9".repeat(86))).is_ok());
        let deep = format!("file:///Documents/{}", vec!["d".repeat(200); 6].join("/"));
        let e = SandboxPath::parse(&deep).unwrap_err();
        assert!(e.why.contains("longer than 1024 bytes"), "{e}");
        let big = format!("file:///Documents/{}", "x".repeat(10 << 20));
        assert!(SandboxPath::parse(&big).is_err(), "a 10 MiB name");
    }

    #[test]
    fn join_and_prefix() {
        let d = SandboxPath::parse("file:///Documents").unwrap();
        assert_eq!(d.join("a.mp3").unwrap().key(), "/Documents/a.mp3");
        assert_eq!(d.child_prefix(), "/Documents/");
        assert!(d.join("../../x").is_err());
    }
}
