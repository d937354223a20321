//! `FileManager.default`: the emulated app sandbox (`/tmp`, `/Documents`,
//! `/Library/Caches`). Metadata in IndexedDB, bytes in the segment store;
//! moving relabels, never copies.

use crate::core::files::{self, FileError, FileMeta};
use crate::core::path::{Root, SandboxPath};
use crate::web::bytes;
use crate::web::js;
use crate::web::page::thrown_ns_error;
use crate::web::store;
use wasm_bindgen::prelude::*;

const COCOA: &str = "NSCocoaErrorDomain";

fn file_error(e: FileError) -> JsValue {
    thrown_ns_error(COCOA, e.code(), &e.to_string())
}

/// Cocoa's "no such file" (4) for a file whose bytes the browser evicted;
/// `userInfo.NSLocalizedFailureReason` says what was found.
fn gone(path: &SandboxPath, why: &str) -> JsValue {
    let err = file_error(FileError::NoSuchFile(path.url()));
    let info = js::get(&err, "userInfo");
    js::set(&info, "NSLocalizedFailureReason", &JsValue::from_str(&format!("its bytes were evicted from browser storage: {why}")));
    err
}

fn location(v: &JsValue, what: &str) -> Result<SandboxPath, JsValue> {
    let s = v.as_string().or_else(|| v.is_object().then(|| js::get(v, "href").as_string()).flatten());
    let Some(s) = s else {
        return Err(file_error(FileError::BadLocation(format!("{what} must be a file:/// location string"))));
    };
    SandboxPath::parse(&s).map_err(|e| file_error(FileError::BadLocation(e.to_string())))
}

fn meta_js(f: &FileMeta) -> JsValue {
    let url = f.sandbox_path().map(|p| p.url()).unwrap_or_else(|| f.path.clone());
    js::object(&[
        ("url", url.into()),
        ("size", JsValue::from_f64(f.size as f64)),
        ("modificationDate", js_sys::Date::new(&JsValue::from_f64(f.modification_date)).into()),
    ])
}

/// The app sandbox's file manager (`FileManager.default`). Locations are
/// `file:///tmp/…`, `file:///Documents/…` or `file:///Library/Caches/…`
/// strings; a failure is an error with Apple's `NSCocoaErrorDomain` code (4:
/// no such file, 516: the destination exists, 513: not permitted).
// The example is for rustdoc only: wasm-bindgen copies doc comments
// into bgsession.d.ts, where JS readers would see Rust code.
#[cfg_attr(doc, doc = r#"# Examples

```ignore
use bgsession::FileManager;

# async fn run(location: &str) -> Result<(), bgsession::Error> {
// In did_finish_downloading_to: keep the file before the method returns.
let fm = FileManager::default_manager();
fm.move_item(location, "file:///Documents/ep1.mp3").await?; // no bytes copied
assert!(fm.file_exists("file:///Documents/ep1.mp3").await?);
let size = fm.attributes_of_item("file:///Documents/ep1.mp3").await?.size; // bytes

let blob = fm.contents("file:///Documents/ep1.mp3").await?; // a web_sys::Blob
let names = fm.contents_of_directory("file:///Documents").await?;

let usage = fm.usage().await?; // bytes per directory, and the origin's quota
for f in fm.largest_files(5).await? {
    let _ = (f.url, f.size);
}
fm.remove_item("file:///Documents/ep1.mp3").await?;
# let _ = (size, blob, names, usage);
# Ok(()) }
```"#)]
#[wasm_bindgen(js_name = FileManager)]
pub struct FileManager {
    _private: (),
}

#[wasm_bindgen(js_class = FileManager)]
impl FileManager {
    /// `FileManager.default`.
    #[wasm_bindgen(getter = default)]
    pub fn default_manager() -> FileManager {
        FileManager { _private: () }
    }

    /// Moves a file (metadata relabel; no bytes are copied). Fails if the
    /// source is missing (code 4) or the destination exists (code 516).
    #[doc(hidden)]
    #[wasm_bindgen(js_name = moveItem)]
    pub async fn js_move_item(&self, #[wasm_bindgen(unchecked_param_type = "FileLocation")] at: JsValue, #[wasm_bindgen(unchecked_param_type = "FileLocation")] to: JsValue) -> Result<(), JsValue> {
        let from = location(&at, "moveItem(at:)")?;
        let to = location(&to, "moveItem(to:)")?;
        let store = store::shared().await?;
        store.move_file(&from, &to).await?.map_err(file_error)?;
        Ok(())
    }

    /// Copies a file (its stored segments are duplicated in the browser's store).
    #[doc(hidden)]
    #[wasm_bindgen(js_name = copyItem)]
    pub async fn js_copy_item(&self, #[wasm_bindgen(unchecked_param_type = "FileLocation")] at: JsValue, #[wasm_bindgen(unchecked_param_type = "FileLocation")] to: JsValue) -> Result<(), JsValue> {
        let from = location(&at, "copyItem(at:)")?;
        let to = location(&to, "copyItem(to:)")?;
        let store = store::shared().await?;
        let src = store.get_file(&from).await?.ok_or_else(|| file_error(FileError::NoSuchFile(from.url())))?;
        if to.is_root() {
            return Err(file_error(FileError::NotPermitted(to.url())));
        }
        if store.get_file(&to).await?.is_some() {
            return Err(file_error(FileError::FileExists(to.url())));
        }
        let blob_id = format!("cp-{}", js::random_id());
        bytes::shared().await?.copy(&src, &blob_id).await?;
        let copy = FileMeta { path: to.key(), blob_id, modification_date: js::now(), ..src };
        store.put_file(&copy).await
    }

    /// Removes a file, or every file under a directory.
    #[doc(hidden)]
    #[wasm_bindgen(js_name = removeItem)]
    pub async fn js_remove_item(&self, #[wasm_bindgen(unchecked_param_type = "FileLocation")] at: JsValue) -> Result<(), JsValue> {
        let path = location(&at, "removeItem(at:)")?;
        let store = store::shared().await?;
        let bytes = bytes::shared().await?;
        if let Some(meta) = store.remove_file(&path).await? {
            return bytes.delete(&meta.blob_id, meta.segments.len()).await;
        }
        let prefix = path.child_prefix();
        let under: Vec<FileMeta> = store.files().await?.into_iter().filter(|f| f.path.starts_with(&prefix)).collect();
        if under.is_empty() && !path.is_root() {
            return Err(file_error(FileError::NoSuchFile(path.url())));
        }
        for f in under {
            if let Some(p) = f.sandbox_path() {
                if let Some(meta) = store.remove_file(&p).await? {
                    bytes.delete(&meta.blob_id, meta.segments.len()).await?;
                }
            }
        }
        Ok(())
    }

    /// Resolves true if a file (or a directory holding files, or a root) is there.
    #[doc(hidden)]
    #[wasm_bindgen(js_name = fileExists)]
    pub async fn js_file_exists(&self, #[wasm_bindgen(unchecked_param_type = "FileLocation")] at: JsValue) -> Result<bool, JsValue> {
        let path = location(&at, "fileExists(atPath:)")?;
        if path.is_root() {
            return Ok(true);
        }
        let store = store::shared().await?;
        if store.get_file(&path).await?.is_some() {
            return Ok(true);
        }
        let prefix = path.child_prefix();
        Ok(store.files().await?.iter().any(|f| f.path.starts_with(&prefix)))
    }

    /// The file's bytes as a Blob.
    #[doc(hidden)]
    #[wasm_bindgen(js_name = contents)]
    pub async fn js_contents(&self, #[wasm_bindgen(unchecked_param_type = "FileLocation")] at: JsValue) -> Result<web_sys::Blob, JsValue> {
        let path = location(&at, "contents(atPath:)")?;
        let store = store::shared().await?;
        let meta = store.get_file(&path).await?.ok_or_else(|| file_error(FileError::NoSuchFile(path.url())))?;
        // Bytes evicted behind our back (Cache API entries deleted, or cut
        // short): the file is gone, never returned with wrong bytes.
        match bytes::shared().await?.read(&meta).await {
            Ok(blob) if blob.size() as u64 == meta.size => Ok(blob),
            Ok(blob) => Err(gone(&path, &format!("its stored bytes are {} of the {} recorded", blob.size(), meta.size))),
            Err(e) => Err(gone(&path, &js::message(&e))),
        }
    }

    /// Locations (`file:///…`) directly inside a directory; subdirectories end in `/`.
    #[doc(hidden)]
    #[wasm_bindgen(js_name = contentsOfDirectory, unchecked_return_type = "string[]")]
    pub async fn js_contents_of_directory(&self, #[wasm_bindgen(unchecked_param_type = "FileLocation")] at: JsValue) -> Result<js_sys::Array, JsValue> {
        let dir = location(&at, "contentsOfDirectory(at:)")?;
        let all = store::shared().await?.files().await?;
        let (direct, dirs) = files::list_directory(&dir, &all);
        let out = js_sys::Array::new();
        for f in direct {
            if let Some(p) = f.sandbox_path() {
                out.push(&JsValue::from_str(&p.url()));
            }
        }
        for d in dirs {
            if let Ok(p) = dir.join(&d) {
                out.push(&JsValue::from_str(&format!("{}/", p.url())));
            }
        }
        Ok(out)
    }

    /// `{size, modificationDate}`.
    #[doc(hidden)]
    #[wasm_bindgen(js_name = attributesOfItem, unchecked_return_type = "FileAttributes")]
    pub async fn js_attributes_of_item(&self, #[wasm_bindgen(unchecked_param_type = "FileLocation")] at: JsValue) -> Result<JsValue, JsValue> {
        let path = location(&at, "attributesOfItem(atPath:)")?;
        let meta = store::shared().await?.get_file(&path).await?.ok_or_else(|| file_error(FileError::NoSuchFile(path.url())))?;
        Ok(js::object(&[
            ("size", JsValue::from_f64(meta.size as f64)),
            ("modificationDate", js_sys::Date::new(&JsValue::from_f64(meta.modification_date)).into()),
        ]))
    }

    /// Space used, as a storage cleaner shows it: `{tmp, documents, caches,
    /// total, quota}` in bytes (`quota` from `navigator.storage.estimate()`),
    /// and `daemon`: what the daemon holds outside the sandbox (downloads in
    /// progress, resume data), not in `total`.
    #[doc(hidden)]
    #[wasm_bindgen(js_name = usage, unchecked_return_type = "StorageUsage")]
    pub async fn js_usage(&self) -> Result<JsValue, JsValue> {
        let all = store::shared().await?.files().await?;
        let u = files::usage(&all);
        let daemon = files::daemon_bytes(&store::shared().await?.tasks(None).await?);
        let quota = estimate_quota().await.unwrap_or(-1.0);
        let _ = Root::ALL;
        Ok(js::object(&[
            ("tmp", JsValue::from_f64(u.tmp as f64)),
            ("documents", JsValue::from_f64(u.documents as f64)),
            ("caches", JsValue::from_f64(u.caches as f64)),
            ("total", JsValue::from_f64(u.total as f64)),
            ("quota", JsValue::from_f64(quota)),
            ("daemon", JsValue::from_f64(daemon as f64)),
        ]))
    }

    /// The `limit` largest files (default 10), largest first: `[{url, size, modificationDate}]`.
    #[doc(hidden)]
    #[wasm_bindgen(js_name = largestFiles, unchecked_return_type = "FileEntry[]")]
    pub async fn js_largest_files(&self, limit: Option<u32>) -> Result<js_sys::Array, JsValue> {
        let all = store::shared().await?.files().await?;
        Ok(files::largest(&all, limit.unwrap_or(10) as usize).into_iter().map(meta_js).collect())
    }
}

async fn estimate_quota() -> Option<f64> {
    let nav = js::get(&js::global(), "navigator");
    let storage = js::get(&nav, "storage");
    if storage.is_undefined() {
        return None;
    }
    let estimate: js_sys::Function = js::get(&storage, "estimate").dyn_into().ok()?;
    let p: js_sys::Promise = estimate.call0(&storage).ok()?.dyn_into().ok()?;
    let r = js::wait(p).await.ok()?;
    js::get(&r, "quota").as_f64()
}
