//! Browser adapters around the pure core (compiled for wasm32 only).

mod bgfetch;
pub mod bytes;
mod daemon;
mod js;
mod page;
pub mod store;
mod transport;

pub use daemon::{daemon_background_fetch_settled, daemon_handle_message, daemon_idle, daemon_sweep, daemon_wake};
pub use page::*;
