//! Browser adapters around the pure core (compiled for wasm32 only).
//!
//! Features `page` and `worker` (both by default) pick the hosts compiled in:
//! the build makes one wasm of each, so a page does not load the daemon and
//! the worker does not load the page API. The shared adapters (store, bytes,
//! js) then have parts only the other host uses.
#![cfg_attr(not(all(feature = "page", feature = "worker")), allow(dead_code, unused_imports))]

#[cfg(feature = "worker")]
mod bgfetch;
pub mod bytes;
#[cfg(feature = "worker")]
mod daemon;
mod js;
#[cfg(feature = "page")]
mod page;
pub mod store;
#[cfg(feature = "worker")]
mod transport;

#[cfg(feature = "worker")]
pub use daemon::{daemon_background_fetch_settled, daemon_handle_message, daemon_idle, daemon_sweep, daemon_wake};
#[cfg(feature = "page")]
pub use page::*;
