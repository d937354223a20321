//! In a Service Worker (where the daemon runs): IndexedDB store round trips,
//! the journal's rules, chunked writes to the segment store.
#![cfg(target_arch = "wasm32")]

mod common;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_service_worker);

shared_store_tests!(task_round_trip, journal_order_coalescing_and_ack, marks_stand_for_delivered_entries_until_acknowledged_in_full, a_launch_view_stands_only_while_no_page_delivered, acks_spare_other_sessions, chunked_writes_round_trip, files_move_relabels, idb_round_trip, idb_intact_truncated_copy, idb_sweep, idb_reads_cache_api_segments, backend_recorded);
