//! The pure core: no browser, no clock, no I/O. Every decision the daemon and
//! the page make about tasks and events is a function here, fed plain data
//! (and `now`, and randomness) and returning plain data. It builds and tests
//! natively with `cargo test`.

pub mod base64;
pub mod config;
pub mod daemon;
pub mod delayed;
pub mod error;
pub mod files;
pub mod journal;
pub mod launch;
pub mod network;
pub mod order;
pub mod path;
pub mod protocol;
pub mod replayer;
pub mod request;
pub mod resume;
pub mod schedule;
pub mod stored;
pub mod task;
pub mod transfer;
pub mod upload;
