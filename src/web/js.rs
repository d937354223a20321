//! Small conversions between Rust values and JS values.

use js_sys::{Object, Promise, Reflect};
use serde::{de::DeserializeOwned, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen(module = "/src/web/glue.js")]
extern "C" {
    #[wasm_bindgen(js_name = pumpSegment)]
    pub fn pump_segment(reader: &JsValue, store: &JsValue, key: &str, max_bytes: f64, max_ms: f64, idle_ms: f64, carry: &JsValue) -> Promise;
    #[wasm_bindgen(js_name = readSegments)]
    pub fn read_segments(store: &JsValue, keys: &JsValue, content_type: &str, lengths: &JsValue) -> Promise;
    #[wasm_bindgen(js_name = intactSegments)]
    pub fn intact_segments(store: &JsValue, keys: &JsValue, lengths: &JsValue) -> Promise;
    #[wasm_bindgen(js_name = copySegments)]
    pub fn copy_segments(store: &JsValue, from: &JsValue, to: &JsValue) -> Promise;
    #[wasm_bindgen(js_name = openByteStore)]
    pub fn open_byte_store(backend: &str, cache_name: &str) -> Promise;
    #[wasm_bindgen(js_name = holdLock)]
    pub fn hold_lock(name: &str) -> Promise;
    #[wasm_bindgen(js_name = lockFreed)]
    pub fn lock_freed(name: &str) -> Promise;
    #[wasm_bindgen(js_name = heldLocks)]
    pub fn held_locks() -> Promise;
    #[wasm_bindgen(js_name = callDelegate)]
    pub fn call_delegate(delegate: &JsValue, method: &str, args: &js_sys::Array) -> Promise;
    #[wasm_bindgen(js_name = askWorker)]
    pub fn ask_worker(worker: &JsValue, msg: &JsValue) -> Promise;
    #[wasm_bindgen(js_name = randomId)]
    pub fn random_id() -> String;
    #[wasm_bindgen(js_name = deliverNow, catch)]
    #[allow(clippy::too_many_arguments)]
    pub fn deliver_now(delegate: &JsValue, method: &JsValue, session: &JsValue, task: &JsValue, kind: u32, value: &JsValue, a: f64, b: f64, c: f64) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = callDelegateForValue)]
    pub fn call_delegate_for_value(delegate: &JsValue, method: &str, args: &js_sys::Array) -> Promise;
    #[wasm_bindgen(js_name = nextTask)]
    pub fn next_task() -> Promise;
    #[wasm_bindgen(js_name = showLaunchNotification)]
    pub fn show_launch_notification(session: &str, description: &str, why: &str, pending: f64, url: &str) -> Promise;
}

/// Names of the Web Locks held anywhere in this origin.
/// (The query is sent when this is called, before it is awaited.)
pub fn held_lock_names() -> impl std::future::Future<Output = Result<Vec<String>, JsValue>> {
    let query = held_locks();
    async move {
        let held: js_sys::Array = wait(query).await?.unchecked_into();
        Ok(held.iter().filter_map(|v| v.as_string()).collect())
    }
}

// One serialisation path, JSON: serde_json on the Rust side and the
// engine's own JSON.parse/JSON.stringify on the other. A second serde
// format (serde-wasm-bindgen) doubled every record type's generated code
// in the wasm for no measurable gain.

/// Rust value → plain JS object (maps as objects, u64 as numbers).
pub fn to_js<T: Serialize + ?Sized>(v: &T) -> JsValue {
    match serde_json::to_string(v) {
        Ok(text) => js_sys::JSON::parse(&text).unwrap_or(JsValue::NULL),
        Err(e) => JsValue::from_str(&format!("serialisation failed: {e}")),
    }
}

/// JS value → Rust value, with an error that says what was expected.
/// (`undefined` properties are missing fields, as JSON has them.)
pub fn from_js<T: DeserializeOwned>(v: JsValue, what: &str) -> Result<T, JsValue> {
    let text = match js_sys::JSON::stringify(&v) {
        Ok(t) => t.as_string(),
        Err(_) => None,
    };
    // JSON.stringify(undefined) is undefined; a cycle or a BigInt throws.
    let text = text.ok_or_else(|| type_error(&format!("{what}: expected a plain object, not {}", message(&v))))?;
    serde_json::from_str(&text).map_err(|e| type_error(&format!("{what}: {}", json_error(&e))))
}

/// A serde_json error without its position in a text the caller never saw.
pub fn json_error(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// A `'static` name (a delegate method's, a task state's) as a JS string,
/// made once per name: a replay passes the same few thousands of times, and
/// each string made anew is a copy out of the wasm and a `TextDecoder` call.
pub fn static_str(name: &'static str) -> JsValue {
    thread_local! {
        static NAMES: std::cell::RefCell<Vec<(&'static str, JsValue)>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    NAMES.with(|names| {
        let mut names = names.borrow_mut();
        if let Some((_, v)) = names.iter().find(|(n, _)| *n == name) {
            return v.clone();
        }
        let v = JsValue::from_str(name);
        names.push((name, v.clone()));
        v
    })
}

pub fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

pub fn set(obj: &JsValue, key: &str, value: &JsValue) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), value);
}

pub fn object(pairs: &[(&str, JsValue)]) -> JsValue {
    let o: JsValue = Object::new().into();
    for (k, v) in pairs {
        set(&o, k, v);
    }
    o
}

/// A JS `Error` with `name` set (e.g. the rule a usage error broke).
pub fn error(name: &str, message: &str) -> JsValue {
    let e = js_sys::Error::new(message);
    e.set_name(name);
    e.into()
}

pub fn type_error(message: &str) -> JsValue {
    js_sys::TypeError::new(message).into()
}

/// The message of a thrown JS value, for logs and error reasons.
pub fn message(v: &JsValue) -> String {
    if let Some(s) = v.as_string() {
        return s;
    }
    let name = get(v, "name").as_string().unwrap_or_default();
    let msg = get(v, "message").as_string().unwrap_or_default();
    match (name.is_empty(), msg.is_empty()) {
        (true, true) => format!("{v:?}"),
        (false, true) => name,
        (true, false) => msg,
        (false, false) => format!("{name}: {msg}"),
    }
}

pub fn error_name(v: &JsValue) -> String {
    get(v, "name").as_string().unwrap_or_default()
}

pub async fn wait(p: Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(p).await
}

pub fn now() -> f64 {
    js_sys::Date::now()
}

pub fn global() -> JsValue {
    js_sys::global().into()
}

/// `location.origin` in a page or a worker.
pub fn origin() -> String {
    get(&get(&global(), "location"), "origin").as_string().unwrap_or_default()
}

pub fn console_error(msg: &str) {
    web_sys::console::error_1(&JsValue::from_str(msg));
}

pub fn console_warn(msg: &str) {
    web_sys::console::warn_1(&JsValue::from_str(msg));
}

#[wasm_bindgen(module = "/src/web/glue.js")]
extern "C" {
    /// A clock that never goes back (`performance.now()`, ms since the page
    /// or worker began): for ordering what happened in this context, where
    /// the wall clock ([`now`]) may be set back meanwhile.
    #[wasm_bindgen(js_name = monotonicNow)]
    pub fn monotonic_now() -> f64;
    /// `records` as JSON text, in UTF-8 (glue.js `recordsJson`); throws what
    /// `JSON.stringify` throws.
    #[wasm_bindgen(js_name = recordsJson, catch)]
    pub fn records_json(records: &JsValue) -> Result<js_sys::Uint8Array, JsValue>;
    #[wasm_bindgen(js_name = activeWorker)]
    pub fn active_worker(script_url: &str) -> Promise;
    #[wasm_bindgen(js_name = registerSync)]
    pub fn register_sync(tag: &str) -> Promise;
    #[wasm_bindgen(js_name = bgFetchAttach)]
    pub fn bg_fetch_attach(id: &str, on_progress: &js_sys::Function) -> Promise;
    #[wasm_bindgen(js_name = bgFetchFromPage)]
    pub fn bg_fetch_from_page(script_url: &str, id: &str, url: &str, method: &str, headers: &JsValue, title: &str) -> Promise;
    #[wasm_bindgen(js_name = bgFetchAbort)]
    pub fn bg_fetch_abort(id: &str) -> Promise;
    #[wasm_bindgen(js_name = bgFetchResponse)]
    pub fn bg_fetch_response(registration: &JsValue) -> Promise;
    #[wasm_bindgen(js_name = tryLock)]
    pub fn try_lock(name: &str) -> Promise;
    #[wasm_bindgen(js_name = openDatabase)]
    pub fn open_database(name: &str, version: u32) -> Promise;
    #[wasm_bindgen(js_name = forgetDatabase)]
    pub fn forget_database(db: &JsValue, name: &str, version: u32);
    #[wasm_bindgen(js_name = sessionsWithEvents)]
    pub fn sessions_with_events(db: &JsValue) -> Promise;
    #[wasm_bindgen(js_name = sessionView)]
    pub fn session_view(db: &JsValue, session: &str, from: Option<f64>) -> Promise;
    #[wasm_bindgen(js_name = viewCheck)]
    pub fn view_check(db: &JsValue, session: &str, entries: &JsValue) -> Promise;
    #[wasm_bindgen(js_name = entriesAfter)]
    pub fn entries_after(db: &JsValue, session: &str, after: f64) -> Promise;
    #[wasm_bindgen(js_name = ackEntries)]
    pub fn ack_entries(db: &JsValue, session: &str, ops: &[f64], temp_files: &str) -> Promise;
    #[wasm_bindgen(js_name = markDelivered)]
    pub fn mark_delivered(db: &JsValue, session: &str, up_to: f64) -> Promise;
    #[wasm_bindgen(js_name = countPending)]
    pub fn count_pending(db: &JsValue, session: &str) -> Promise;
    #[wasm_bindgen(js_name = removeTempFiles)]
    pub fn remove_temp_files(db: &JsValue, session: &str, paths: &str) -> Promise;
    #[wasm_bindgen(js_name = storeTx, catch)]
    pub fn store_tx(db: &JsValue, stores: &js_sys::Array, write: bool) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = storeReq)]
    pub fn store_req(tx: &JsValue, store: &str, index: Option<&str>, op: &str, arg: &JsValue) -> Promise;
    #[wasm_bindgen(js_name = storeCommit)]
    pub fn store_commit(tx: &JsValue) -> Promise;
}
