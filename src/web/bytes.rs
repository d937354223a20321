//! The downloaded bytes: one stored entry per segment, keyed by a synthetic
//! same-origin URL that is never fetched, in one of two backends (glue.js,
//! `openByteStore`): the Cache API (the fastest persisted store measured in
//! Chromium; Firefox too, for our downloads) or IndexedDB ArrayBuffers in the
//! `bgsession-bytes` database where IndexedDB refuses Blobs (WebKit's
//! ephemeral store, like Safari's private browsing, which also drops Cache
//! API entries with the last page: ArrayBuffers there are both faster and
//! kept). The origin's backend is chosen once and recorded in that
//! database, so a page and the worker agree; the IndexedDB backend still
//! reads Cache API segments written before.
//! A file is a `blob_id` plus its segment lengths; a resumed transfer loses
//! at most the segment in flight.

use crate::core::files::FileMeta;
use crate::web::js;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// Name of the Cache API cache that holds every segment of the origin.
pub const CACHE_NAME: &str = "bgsession-bytes-v1";

/// A segment whose bytes have all been handed to the store.
pub struct Segment {
    /// Bytes handed to the store in this segment.
    pub written: u64,
    /// The body ended with it.
    pub done: bool,
    /// The body broke after these bytes (they are kept).
    pub broken: Option<JsValue>,
    /// Settles when the segment is persisted; rejects on a store failure.
    pub stored: js_sys::Promise,
}

impl Segment {
    /// Waits for [`Bytes::start_segment`]'s promise.
    pub async fn from_js(started: js_sys::Promise) -> Result<Segment> {
        let r = js::wait(started).await?;
        Ok(Segment {
            written: js::get(&r, "written").as_f64().unwrap_or(0.0) as u64,
            done: js::get(&r, "done").as_bool().unwrap_or(false),
            broken: Some(js::get(&r, "error")).filter(|e| !e.is_null() && !e.is_undefined()),
            stored: js::get(&r, "stored").unchecked_into(),
        })
    }

    /// Waits until the segment is persisted.
    pub async fn persisted(&self) -> Result<()> {
        js::wait(self.stored.clone()).await.map(|_| ())
    }
}
/// Path prefix of segment keys (under the origin).
pub const KEY_PREFIX: &str = "/__bgsession__/bytes/";

type Result<T> = std::result::Result<T, JsValue>;

/// Where segments are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Cache API entries.
    CacheApi,
    /// ArrayBuffers in IndexedDB (database `bgsession-bytes`).
    IndexedDb,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::CacheApi => "cache",
            Backend::IndexedDb => "indexeddb",
        }
    }
}

/// The segment store of this page or worker.
pub struct Bytes {
    store: JsValue,
    origin: String,
}

thread_local! {
    static SHARED: std::cell::RefCell<Option<Rc<Bytes>>> = const { std::cell::RefCell::new(None) };
}

/// The segment store of this page or worker, opened once, and again when
/// its cache was deleted meanwhile (storage evicted, or site data cleared):
/// a `Cache` object opened before goes on accepting writes that are lost
/// and reading entries that are gone for everyone else, so bytes written
/// after the eviction would vanish and bytes lost by it would look intact.
pub async fn shared() -> Result<Rc<Bytes>> {
    if let Some(b) = SHARED.with(|s| s.borrow().clone()) {
        if b.call0("alive").await?.as_bool() == Some(true) {
            return Ok(b);
        }
        js::console_warn("bgsession: the byte store was deleted under the library (storage evicted?): opened again; transfers whose bytes were in it start again");
    }
    let b = Rc::new(open_store("").await?);
    SHARED.with(|s| *s.borrow_mut() = Some(b.clone()));
    Ok(b)
}

/// A segment store on the given backend, whatever the origin's choice
/// (tests; the library uses [`shared`]).
pub async fn open(backend: Backend) -> Result<Bytes> {
    open_store(backend.name()).await
}

/// A new store on the origin's recorded backend (tests; the library uses
/// [`shared`]).
pub async fn open_recorded() -> Result<Bytes> {
    open_store("").await
}

async fn open_store(backend: &str) -> Result<Bytes> {
    let store = js::wait(js::open_byte_store(backend, CACHE_NAME)).await?;
    Ok(Bytes { store, origin: js::origin() })
}

impl Bytes {
    /// The backend this store writes to.
    pub fn backend(&self) -> Backend {
        match js::get(&self.store, "kind").as_string().as_deref() {
            Some("indexeddb") => Backend::IndexedDb,
            _ => Backend::CacheApi,
        }
    }

    /// Calls the store's method `name` with `args` and waits for its promise.
    async fn call(&self, name: &str, args: &[JsValue]) -> Result<JsValue> {
        let f: js_sys::Function = js::get(&self.store, name).dyn_into()?;
        let args: js_sys::Array = args.iter().collect();
        let p = js_sys::Promise::resolve(&f.apply(&self.store, &args)?);
        js::wait(p).await
    }

    async fn call0(&self, name: &str) -> Result<JsValue> {
        self.call(name, &[]).await
    }

    /// The key of segment `index` of `blob_id`.
    pub fn key(&self, blob_id: &str, index: usize) -> String {
        format!("{}{}{}/{}", self.origin, KEY_PREFIX, blob_id, index)
    }

    fn keys(&self, blob_id: &str, count: usize) -> js_sys::Array {
        (0..count).map(|i| JsValue::from_str(&self.key(blob_id, i))).collect()
    }

    /// Starts streaming the next segment of a body (see `pumpSegment` in
    /// glue.js) at once; the promise resolves (see [`Segment::from_js`]) when
    /// its bytes are all handed to the store, so the caller can commit the
    /// previous segment meanwhile.
    #[allow(clippy::too_many_arguments)]
    pub fn start_segment(&self, reader: &JsValue, blob_id: &str, index: usize, max_bytes: u64, max_ms: f64, idle_ms: f64, carry: &JsValue) -> js_sys::Promise {
        js::pump_segment(reader, &self.store, &self.key(blob_id, index), max_bytes as f64, max_ms, idle_ms, carry)
    }

    /// Stores a whole segment the browser has read as a Blob.
    pub async fn put_blob(&self, blob_id: &str, index: usize, blob: &web_sys::Blob) -> Result<()> {
        self.call("putBlob", &[JsValue::from_str(&self.key(blob_id, index)), blob.into()]).await.map(|_| ())
    }

    /// A file's contents as one Blob.
    pub async fn read(&self, file: &FileMeta) -> Result<web_sys::Blob> {
        let keys = self.keys(&file.blob_id, file.segments.len());
        let lengths: js_sys::Array = file.segments.iter().map(|n| JsValue::from_f64(*n as f64)).collect();
        let blob = js::wait(js::read_segments(&self.store, &keys, file.content_type.as_deref().unwrap_or(""), &lengths)).await?;
        Ok(blob.unchecked_into())
    }

    /// How many of `segments` (a prefix) of `blob_id` are stored whole at
    /// the recorded lengths (see `core::daemon::Action::VerifyBytes`).
    pub async fn intact_prefix(&self, blob_id: &str, segments: &[u64]) -> Result<usize> {
        let lengths: js_sys::Array = segments.iter().map(|n| JsValue::from_f64(*n as f64)).collect();
        let n = js::wait(js::intact_segments(&self.store, &self.keys(blob_id, segments.len()), &lengths)).await?;
        Ok(n.as_f64().unwrap_or(0.0) as usize)
    }

    /// Copies a file's segments under `new_blob_id`.
    pub async fn copy(&self, file: &FileMeta, new_blob_id: &str) -> Result<()> {
        let n = file.segments.len();
        js::wait(js::copy_segments(&self.store, &self.keys(&file.blob_id, n), &self.keys(new_blob_id, n))).await?;
        Ok(())
    }

    /// Deletes the first `count` segments of `blob_id` (missing ones are fine).
    pub async fn delete(&self, blob_id: &str, count: usize) -> Result<()> {
        self.delete_range(blob_id, 0, count).await
    }

    /// Deletes segments `from..from + count` of `blob_id`.
    pub async fn delete_range(&self, blob_id: &str, from: usize, count: usize) -> Result<()> {
        for i in from..from + count {
            self.call("delete", &[JsValue::from_str(&self.key(blob_id, i))]).await?;
        }
        Ok(())
    }

    /// Deletes every stored segment whose blob id `keep` rejects; returns how
    /// many entries were deleted (a sweep of bytes left by an interrupted
    /// removal).
    pub async fn sweep(&self, keep: impl Fn(&str) -> bool) -> Result<u32> {
        let keys: js_sys::Array = self.call0("keys").await?.unchecked_into();
        let mut n = 0;
        for key in keys.iter() {
            let url = key.as_string().unwrap_or_default();
            let Some(rest) = url.split(KEY_PREFIX).nth(1) else { continue };
            let blob_id = rest.split('/').next().unwrap_or("");
            if !keep(blob_id) {
                self.call("delete", &[JsValue::from_str(&url)]).await?;
                n += 1;
            }
        }
        Ok(n)
    }
}
