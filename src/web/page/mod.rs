//! The page side: Apple's API for JS (and Rust through wasm-bindgen types).

mod application;
mod config;
mod delegate;
mod file_manager;
mod ids;
mod replay;
pub(crate) mod session;
mod state;
mod rust_api;
mod settle;
mod task;
mod typescript;

pub use application::UiApplication;
pub use config::UrlSessionConfiguration;
pub use delegate::{DelayedRequestDisposition, Error, UrlSessionDelegate};
pub use file_manager::FileManager;
pub use session::UrlSession;
pub use rust_api::{ApplicationDelegate, CompletionHandler, FileAttributes, FileEntry, StorageUsage, TaskRequest};
pub use task::UrlSessionTask;
pub use typescript::UrlError;

use crate::core::error::{NsError, UsageError};
use crate::core::resume::RESUME_DATA_KEY;
use crate::web::js;
use wasm_bindgen::JsValue;

/// A broken rule as a thrown JS `Error` whose `name` is the rule (a real
/// `TypeError` for the rules named so, e.g. an invalid header).
pub(crate) fn usage(e: UsageError) -> JsValue {
    if e.rule() == "TypeError" {
        return js::type_error(&e.to_string());
    }
    js::error(e.rule(), &e.to_string())
}

/// An `NSError` as delivered to JS: `{domain, code, localizedDescription, userInfo}`.
pub(crate) fn ns_error(e: &NsError) -> JsValue {
    js::to_js(e)
}

/// A thrown `Error` carrying NSError fields (for rejected file operations).
pub(crate) fn thrown_ns_error(domain: &str, code: i64, description: &str) -> JsValue {
    let err = js::error(domain, description);
    js::set(&err, "domain", &JsValue::from_str(domain));
    js::set(&err, "code", &JsValue::from_f64(code as f64));
    js::set(&err, "localizedDescription", &JsValue::from_str(description));
    js::set(&err, "userInfo", &js_sys::Object::new());
    err
}

pub(crate) fn error_for_delegate(e: &crate::core::error::NsError) -> JsValue {
    let v = ns_error(e);
    let info = js::get(&v, "userInfo");
    if let Some(text) = js::get(&info, RESUME_DATA_KEY).as_string() {
        js::set(&info, RESUME_DATA_KEY, &js_sys::Uint8Array::from(text.as_bytes()).into());
    }
    v
}
