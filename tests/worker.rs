//! In a Service Worker (where the daemon runs): IndexedDB store round trips,
//! the journal's rules, chunked writes to the segment store.
#![cfg(target_arch = "wasm32")]

mod common;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_service_worker);

#[wasm_bindgen_test]
async fn task_round_trip() {
    common::task_round_trip().await;
}

#[wasm_bindgen_test]
async fn journal_order_coalescing_and_ack() {
    common::journal_order_coalescing_and_ack().await;
}

#[wasm_bindgen_test]
async fn chunked_writes_round_trip() {
    common::chunked_writes_round_trip().await;
}

#[wasm_bindgen_test]
async fn files_move_relabels() {
    common::files_move_relabels().await;
}
