//! File metadata of the emulated sandbox and the rules on it: a file is a
//! label (its path) on a run of stored byte segments, so moving a file
//! relabels it and never copies bytes. Storage accounting is computed here.
//!
//! # Examples
//!
//! ```
//! use bgsession::core::files::{self, FileMeta, Usage};
//! use bgsession::core::path::SandboxPath;
//!
//! let tmp = SandboxPath::parse("file:///tmp/CFNetworkDownload_1.tmp").unwrap();
//! let file = FileMeta::new(&tmp, "blob-1".into(), vec![1000, 500], 0.0, None);
//! assert_eq!(file.size, 1500);
//!
//! // moveItem(at:to:) relabels: same bytes (blob), new path.
//! let dest = SandboxPath::parse("file:///Documents/ep1.mp3").unwrap();
//! let moved = files::plan_move(Some(&file), false, &tmp, &dest).unwrap();
//! assert_eq!((moved.path.as_str(), moved.blob_id.as_str()), ("/Documents/ep1.mp3", "blob-1"));
//!
//! // The destination exists: Apple's NSFileWriteFileExistsError (516).
//! assert_eq!(files::plan_move(Some(&file), true, &tmp, &dest).unwrap_err().code(), 516);
//!
//! assert_eq!(files::usage([&moved]), Usage { tmp: 0, documents: 1500, caches: 0, total: 1500 });
//! ```

use crate::core::path::{Root, SandboxPath};
use crate::core::protocol::{Shape, Slot};
use serde::{Deserialize, Serialize};

/// One file (IndexedDB `files` store, keyed by `path`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileMeta {
    /// Format version of the stored record (`"v"`; absent = 0, the format
    /// of 2ddb749): [`RECORD_VERSION`](crate::core::stored::RECORD_VERSION)
    /// once read or made by this build (see `core::stored`).
    #[serde(default)]
    pub v: u32,
    /// Normalised key, e.g. `/Documents/ep1.mp3` ([`SandboxPath::key`]).
    pub path: String,
    /// Which stored byte run holds the contents.
    pub blob_id: String,
    /// Length of each stored segment, in order.
    pub segments: Vec<u64>,
    /// Bytes: the sum of `segments`.
    pub size: u64,
    /// Milliseconds since the epoch.
    pub modification_date: f64,
    /// The `Content-Type` the bytes came with (a download's response), given to
    /// the Blob that `FileManager.contents` returns; `None` when unknown.
    #[serde(default)]
    pub content_type: Option<String>,
}

/// Read field by field (`protocol::Fields`) as the derive with the
/// attributes above read it (test `files_decode_as_the_derive`).
impl<'de> Deserialize<'de> for FileMeta {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const SHAPE: &Shape = &Shape {
            name: "FileMeta",
            names: &[
                "v", "path", "blobId", "segments", "size", "modificationDate", "contentType",
            ],
            required: 0b11_1110,
        };
        crate::core::protocol::read_fields(d, SHAPE, FileMeta { v: 0, path: String::new(), blob_id: String::new(), segments: Vec::new(), size: 0, modification_date: 0.0, content_type: None })
    }
}

impl crate::core::protocol::Fields for FileMeta {
    fn slot(&mut self, i: usize) -> Slot<'_> {
        match i {
            0 => Slot::U32(&mut self.v),
            1 => Slot::Text(&mut self.path),
            2 => Slot::Text(&mut self.blob_id),
            3 => Slot::Lengths(&mut self.segments),
            4 => Slot::U64(&mut self.size),
            5 => Slot::F64(&mut self.modification_date),
            _ => Slot::OptText(&mut self.content_type),
        }
    }
}

impl FileMeta {
    /// The metadata of a file at `path` made of the stored segments `segments`
    /// (their lengths, in order) of `blob_id`; `size` is their sum and `now` (ms
    /// since the epoch) its modification date.
    pub fn new(path: &SandboxPath, blob_id: String, segments: Vec<u64>, now: f64, content_type: Option<String>) -> Self {
        FileMeta {
            v: crate::core::stored::RECORD_VERSION,
            path: path.key(),
            blob_id,
            size: segments.iter().sum(),
            segments,
            modification_date: now,
            content_type,
        }
    }

    /// The parsed [`path`](Self::path); `None` if the stored key is not a sandbox
    /// path (never, for metadata made by [`FileMeta::new`]).
    pub fn sandbox_path(&self) -> Option<SandboxPath> {
        SandboxPath::parse(&self.path).ok()
    }
}

/// Why a file operation was refused, with Apple's `NSCocoaErrorDomain` code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileError {
    /// 4 (NSFileNoSuchFileError).
    NoSuchFile(String),
    /// 516 (NSFileWriteFileExistsError).
    FileExists(String),
    /// 513 (NSFileWriteNoPermissionError): e.g. removing a top-level directory.
    NotPermitted(String),
    /// 4 as well, but for a location that is not in the sandbox.
    BadLocation(String),
}

impl FileError {
    /// Apple's `NSCocoaErrorDomain` code: 4, 516 or 513.
    pub fn code(&self) -> i64 {
        match self {
            FileError::NoSuchFile(_) | FileError::BadLocation(_) => 4,
            FileError::FileExists(_) => 516,
            FileError::NotPermitted(_) => 513,
        }
    }
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileError::NoSuchFile(p) => write!(f, "The file \"{p}\" doesn't exist."),
            FileError::FileExists(p) => write!(f, "\"{p}\" couldn't be written because an item with the same name already exists."),
            FileError::NotPermitted(p) => write!(f, "You don't have permission to change \"{p}\"."),
            FileError::BadLocation(why) => f.write_str(why),
        }
    }
}

/// The move of `src` to `dst` as iOS's `moveItem(at:to:)` allows it: the
/// source must exist, the destination must not.
pub fn plan_move(src: Option<&FileMeta>, dst_exists: bool, from: &SandboxPath, to: &SandboxPath) -> Result<FileMeta, FileError> {
    if to.is_root() {
        return Err(FileError::NotPermitted(to.url()));
    }
    let src = src.ok_or_else(|| FileError::NoSuchFile(from.url()))?;
    if dst_exists {
        return Err(FileError::FileExists(to.url()));
    }
    let mut moved = src.clone();
    moved.path = to.key();
    Ok(moved)
}

/// Space used per top-level directory, in bytes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Under `file:///tmp/` (downloads not yet moved, temp files).
    pub tmp: u64,
    /// Under `file:///Documents/`.
    pub documents: u64,
    /// Under `file:///Library/Caches/`.
    pub caches: u64,
    /// Every file.
    pub total: u64,
}

/// Bytes the daemon holds for tasks, outside the sandbox: the stored
/// segments of downloads in progress, of resume data kept for a failed or
/// cancelled download, and of uploads' copies of their files.
pub fn daemon_bytes<'a>(tasks: impl IntoIterator<Item = &'a crate::core::task::TaskRecord>) -> u64 {
    tasks.into_iter().map(|t| t.segments.iter().sum::<u64>()).sum()
}

/// Adds up file sizes per top-level directory (`FileManager.usage()` without
/// the quota); `total` also counts files outside the three roots (none in
/// practice).
pub fn usage<'a>(files: impl IntoIterator<Item = &'a FileMeta>) -> Usage {
    let mut u = Usage::default();
    for f in files {
        match f.sandbox_path().map(|p| p.root()) {
            Some(Root::Tmp) => u.tmp += f.size,
            Some(Root::Documents) => u.documents += f.size,
            Some(Root::Caches) => u.caches += f.size,
            None => {}
        }
        u.total += f.size;
    }
    u
}

/// The `n` largest files, largest first (ties by path).
pub fn largest(files: &[FileMeta], n: usize) -> Vec<&FileMeta> {
    let mut v: Vec<&FileMeta> = files.iter().collect();
    crate::core::order::sort_by(&mut v, |a, b| b.size.cmp(&a.size).then(a.path.cmp(&b.path)));
    v.truncate(n);
    v
}

/// Files directly inside `dir` (not deeper), and the names of subdirectories.
pub fn list_directory<'a>(dir: &SandboxPath, files: &'a [FileMeta]) -> (Vec<&'a FileMeta>, Vec<String>) {
    let prefix = dir.child_prefix();
    let mut direct = Vec::new();
    let mut dirs: Vec<String> = Vec::new();
    for f in files {
        if let Some(rest) = f.path.strip_prefix(&prefix) {
            match rest.split_once('/') {
                None => direct.push(f),
                Some((sub, _)) => {
                    // Kept sorted as it grows (no sort instance in the wasm).
                    if let Err(at) = dirs.binary_search_by(|d| d.as_str().cmp(sub)) {
                        dirs.insert(at, sub.to_string());
                    }
                }
            }
        }
    }
    (direct, dirs)
}

/// The temp file the daemon stores a finished download in, named as iOS
/// names it: `/tmp/CFNetworkDownload_<id>.tmp`.
pub fn download_temp_path(id: &str) -> SandboxPath {
    SandboxPath::parse(&format!("/tmp/{DOWNLOAD_TEMP_PREFIX}{id}.tmp")).expect("a valid temp path")
}

const DOWNLOAD_TEMP_PREFIX: &str = "CFNetworkDownload_";

#[cfg(test)]
mod tests {
    use super::*;

    fn f(path: &str, size: u64) -> FileMeta {
        FileMeta::new(&SandboxPath::parse(path).unwrap(), format!("b-{path}"), vec![size], 1.0, None)
    }

    #[test]
    fn move_relabels_without_copying() {
        let a = f("/tmp/a", 10);
        let from = SandboxPath::parse("/tmp/a").unwrap();
        let to = SandboxPath::parse("file:///Documents/a.mp3").unwrap();
        let m = plan_move(Some(&a), false, &from, &to).unwrap();
        assert_eq!(m.path, "/Documents/a.mp3");
        assert_eq!(m.blob_id, a.blob_id, "same bytes");
        assert_eq!(m.size, 10);
    }

    #[test]
    fn move_errors_are_apples() {
        let from = SandboxPath::parse("/tmp/a").unwrap();
        let to = SandboxPath::parse("/Documents/a").unwrap();
        let e = plan_move(None, false, &from, &to).unwrap_err();
        assert_eq!(e.code(), 4);
        assert!(e.to_string().contains("file:///tmp/a"));
        let e = plan_move(Some(&f("/tmp/a", 1)), true, &from, &to).unwrap_err();
        assert_eq!(e.code(), 516);
        let root = SandboxPath::parse("/Documents").unwrap();
        assert_eq!(plan_move(Some(&f("/tmp/a", 1)), false, &from, &root).unwrap_err().code(), 513);
    }

    #[test]
    fn daemon_bytes_add_every_tasks_segments() {
        let mut a = crate::core::task::TaskRecord::new_download("s", 1, crate::core::request::Request::get("https://h/a").unwrap(), 0.0, "b1".into());
        a.segments = vec![10, 20];
        let mut b = a.clone();
        b.segments = vec![5];
        let none = crate::core::task::TaskRecord::new_download("s", 2, crate::core::request::Request::get("https://h/b").unwrap(), 0.0, "b2".into());
        assert_eq!(daemon_bytes([&a, &b, &none]), 35);
    }

    #[test]
    fn usage_and_largest() {
        let files = vec![f("/tmp/a", 5), f("/Documents/b", 7), f("/Library/Caches/c", 11), f("/Documents/d", 7)];
        let u = usage(&files);
        assert_eq!(u, Usage { tmp: 5, documents: 14, caches: 11, total: 30 });
        let l: Vec<&str> = largest(&files, 3).iter().map(|f| f.path.as_str()).collect();
        assert_eq!(l, vec!["/Library/Caches/c", "/Documents/b", "/Documents/d"]);
    }

    #[test]
    fn directory_listing_is_one_level() {
        let files = vec![f("/Documents/a", 1), f("/Documents/sub/b", 1), f("/Documents/sub/c", 1), f("/tmp/x", 1)];
        let dir = SandboxPath::parse("/Documents").unwrap();
        let (direct, dirs) = list_directory(&dir, &files);
        assert_eq!(direct.len(), 1);
        assert_eq!(dirs, vec!["sub".to_string()]);
    }

    #[test]
    fn download_temp_files_are_named_as_on_ios() {
        assert_eq!(download_temp_path("bbb").key(), "/tmp/CFNetworkDownload_bbb.tmp");
    }
}

/// `FileMeta`, read by hand (`protocol::Fields`), decodes and fails as the
/// derive with its attributes did.
#[cfg(test)]
mod files_as_derived {
    use super::*;
    use crate::core::protocol::{decodes_as_derived, struct_cases};

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Derived {
        #[serde(default)]
        v: u32,
        path: String,
        blob_id: String,
        segments: Vec<u64>,
        size: u64,
        modification_date: f64,
        #[serde(default)]
        content_type: Option<String>,
    }

    #[test]
    fn files_decode_as_the_derive() {
        let full = serde_json::json!({"v": 1, "path": "/tmp/a", "blobId": "b", "segments": [1, 2], "size": 3, "modificationDate": 4.5, "contentType": "audio/mpeg"});
        let min = serde_json::json!({"path": "/tmp/a", "blobId": "b", "segments": [], "size": 0, "modificationDate": 0});
        let mut cases = struct_cases(&full, &min);
        cases.extend([r#"[1,"/tmp/a","b",[],0,0]"#, r#"[1,"/tmp/a","b",[],0]"#, r#"[1,"/tmp/a","b",[],0,0,null,7]"#].map(String::from));
        decodes_as_derived::<FileMeta, Derived>("FileMeta", &cases);
    }
}
