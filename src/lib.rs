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

pub mod core;

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
