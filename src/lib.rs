//! # bgsession
//!
//! iOS's *background URLSession*, emulated in the browser. A Service Worker
//! (the "daemon", twin of iOS's `nsurlsessiond`) runs download tasks with
//! `fetch`, streams bodies into the Cache API in segments and journals every
//! delegate event in IndexedDB; the page offers Apple's API and replays the
//! queued events, exactly once and in order, when it opens again.
//!
//! The crate has two layers:
//! - [`core`]: the pure decisions (task state machine, resume by range,
//!   retry/backoff, scheduling, journal rules), no browser in it, tested
//!   natively with `cargo test`;
//! - the browser adapters (`cfg(target_arch = "wasm32")`): IndexedDB store,
//!   segmented byte store, fetch transport, the daemon host and the page API.
//!
//! The page API has the same shape for JS (Apple's names, built with
//! `wasm-pack build --target web`) and for Rust apps compiled to wasm32:
//! `UrlSessionConfiguration`, `UrlSession`, `UrlSessionTask`,
//! `UrlSessionDelegate` (a trait whose methods all default to doing
//! nothing), `UiApplication` and `FileManager`, with Rust names and types
//! (`&str`, `u64`, [`Request`], enums, `Error`) and `async` methods where JS
//! returns a Promise. Those types exist on `wasm32` only; the methods that
//! take and return `JsValue`s for JS are hidden from these docs.
//!
//! # Examples
//!
//! A Rust app (wasm32; the same flow as `tests/rust-app`):
//!
//! ```ignore
//! use bgsession::{CompletionHandler, UiApplication, UrlSession, UrlSessionConfiguration, UrlSessionDelegate};
//!
//! struct App;
//! impl UrlSessionDelegate for App {}
//!
//! # async fn run() -> Result<(), bgsession::Error> {
//! // A relaunch first: sessions with queued events are handed over.
//! UiApplication::shared().set_delegate(|identifier: &str, done: CompletionHandler| {
//!     // recreate the session `identifier`; call `done.call()` from
//!     // `url_session_did_finish_events`
//! });
//! let config = UrlSessionConfiguration::background("com.example.maps")?;
//! config.set_http_maximum_connections_per_host(4.0)?;
//! let session = UrlSession::with_delegate(&config, App)?;
//! let task = session.download_task("https://example.test/tiles/europe.pack")?;
//! task.resume().await?;
//! for t in session.get_all_tasks().await? {
//!     let line = format!("{} {:?} {}/{}", t.task_identifier(), t.state(), t.count_of_bytes_received(), t.count_of_bytes_expected_to_receive());
//!     web_sys::console::log_1(&line.into());
//! }
//! # Ok(()) }
//! ```
//!
//! The pure core runs anywhere:
//!
//! ```
//! use bgsession::core::request::Request;
//! use bgsession::core::task::{TaskRecord, Transition};
//! use bgsession::TaskState;
//!
//! let mut task = TaskRecord::new_download("com.example.maps", 1, Request::get("https://example.test/a").unwrap(), 0.0, "blob-1".into());
//! assert_eq!(task.resume(), Ok(Transition::Schedule));
//! assert_eq!(task.state, TaskState::Running);
//! ```

#![warn(missing_docs)]

pub mod core;

#[cfg(feature = "sim")]
pub mod sim;

// The plain data the Rust API hands out, at the crate root.
pub use crate::core::error::{NsError, UrlErrorCode, UsageError};
pub use crate::core::request::{Request, ResponseInfo};
pub use crate::core::task::{TaskKind, TaskState};

#[cfg(target_arch = "wasm32")]
mod web;

#[cfg(target_arch = "wasm32")]
pub use web::*;

/// The browser adapters, exposed for this crate's own `wasm-pack test`
/// suites (store round trips, segment writes). Not a stable API.
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod internals {
    pub use crate::web::{bytes, store};
}
