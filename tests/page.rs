//! In a page: the API's rules as thrown errors, and the same store tests as
//! in the worker (the page acknowledges events and moves files).
#![cfg(target_arch = "wasm32")]

mod common;
use bgsession::{FileManager, TaskKind, TaskState, UrlSession, UrlSessionConfiguration, UrlSessionDelegate};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn err_parts(e: JsValue) -> (String, String) {
    let name = js_sys::Reflect::get(&e, &"name".into()).unwrap().as_string().unwrap_or_default();
    let msg = js_sys::Reflect::get(&e, &"message".into()).unwrap().as_string().unwrap_or_default();
    (name, msg)
}

/// The rule's name and the whole message of a Rust API error.
fn rust_err(e: bgsession::Error) -> (String, String) {
    (e.name(), e.to_string())
}

fn config(id: &str) -> UrlSessionConfiguration {
    let c = UrlSessionConfiguration::background(id).unwrap();
    // No daemon is served by the test runner's page; the rules are checked
    // before any worker is involved.
    c.set_service_worker_url("./no-daemon-here.js".into());
    c
}

/// A Rust delegate that implements nothing (every method has a default).
struct Quiet;
impl UrlSessionDelegate for Quiet {}

#[wasm_bindgen_test]
fn empty_identifier_is_refused() {
    let (name, msg) = rust_err(UrlSessionConfiguration::background("").err().expect("must fail"));
    assert_eq!(name, "EmptyIdentifier");
    assert!(msg.contains("non-empty identifier"), "{msg}");
    // The JS face: the same rule as a thrown Error named after it.
    let (name, _) = err_parts(UrlSessionConfiguration::js_background("".into()).err().expect("must throw"));
    assert_eq!(name, "EmptyIdentifier");
    let (name, _) = err_parts(UrlSessionConfiguration::js_background(JsValue::from_f64(3.0)).err().expect("must throw"));
    assert_eq!(name, "InvalidArgument");
}

#[wasm_bindgen_test]
fn non_http_urls_are_refused() {
    let session = UrlSession::with_delegate(&config(&common::unique("url")), Quiet).unwrap();
    for bad in ["ftp://example.test/a", "file:///tmp/x", "data:text/plain,hi", "javascript:alert(1)"] {
        let (name, msg) = rust_err(session.download_task(bad).err().expect(bad));
        assert_eq!(name, "UnsupportedURL", "{bad}");
        assert!(msg.contains(bad) && msg.contains("http://"), "{msg}");
    }
    let ok = session.download_task("https://example.test/a.bin").unwrap();
    assert_eq!(ok.state(), TaskState::Suspended, "tasks start suspended");
    assert_eq!(ok.kind(), TaskKind::Download);
    assert_eq!(ok.count_of_bytes_expected_to_receive(), -1);
    let relative = session.download_task("files/a.bin").unwrap();
    assert!(relative.original_request().url.starts_with("http://"), "relative URLs resolve against the page");
    assert!(relative.task_identifier() > ok.task_identifier(), "identifiers increase");
    let mut req = bgsession::Request::get("https://example.test/b.bin").unwrap();
    req.headers.insert("x-app".into(), "1".into());
    let with_headers = session.download_task(req).unwrap();
    assert_eq!(with_headers.current_request().headers.get("x-app").map(String::as_str), Some("1"));
}

#[wasm_bindgen_test]
fn data_tasks_are_refused() {
    let session = UrlSession::new(&config(&common::unique("data")), JsValue::NULL).unwrap();
    let (name, msg) = err_parts(session.data_task("https://example.test/".into(), JsValue::UNDEFINED).err().unwrap());
    assert_eq!(name, "DataTaskInBackgroundSession");
    assert!(msg.contains("Data tasks are not supported in background sessions"), "{msg}");
}

#[wasm_bindgen_test]
fn completion_handlers_and_upload_from_data_are_refused() {
    let session = UrlSession::new(&config(&common::unique("ch")), JsValue::NULL).unwrap();
    let handler = js_sys::Function::new_no_args("");
    let (name, _) = err_parts(session.js_download_task("https://example.test/".into(), Some(handler.clone().into())).err().unwrap());
    assert_eq!(name, "CompletionHandlerInBackgroundSession");
    let (name, _) = err_parts(UrlSession::new(&config(&common::unique("ch")), handler.into()).err().unwrap());
    assert_eq!(name, "CompletionHandlerInBackgroundSession", "a function in place of the delegate");
    let data = js_sys::Uint8Array::new_with_length(4);
    let req: JsValue = "https://example.test/up".into();
    let (name, msg) = err_parts(session.js_upload_task(req, data.into(), None).err().unwrap());
    assert_eq!(name, "UploadFromDataInBackgroundSession");
    assert!(msg.contains("fromFile"), "{msg}");
    // From Rust: a location outside the sandbox, and a GET, are named.
    let (name, msg) = rust_err(session.upload_task("https://example.test/up", "file:///etc/passwd").err().unwrap());
    assert_eq!(name, "InvalidArgument");
    assert!(msg.contains("not a sandbox location"), "{msg}");
    let get = bgsession::Request::get("https://example.test/up").unwrap();
    let (_, msg) = rust_err(session.upload_task(get, "file:///Documents/a").err().unwrap());
    assert!(msg.contains("GET cannot carry"), "{msg}");
    let up = session.upload_task("https://example.test/up", "file:///Documents/a").unwrap();
    assert_eq!((up.kind(), up.original_request().method.as_str()), (TaskKind::Upload, "POST"));
}

#[wasm_bindgen_test]
fn a_second_live_session_with_the_same_identifier_is_refused() {
    let id = common::unique("dup");
    let first = UrlSession::with_delegate(&config(&id), Quiet).unwrap();
    let (name, msg) = rust_err(UrlSession::with_delegate(&config(&id), Quiet).err().expect("second must fail"));
    assert_eq!(name, "DuplicateSessionIdentifier");
    assert!(msg.contains(&id), "{msg}");
    let (name, _) = err_parts(UrlSession::new(&config(&id), JsValue::NULL).err().expect("second must throw"));
    assert_eq!(name, "DuplicateSessionIdentifier");
    let other = UrlSession::new(&config(&common::unique("dup")), JsValue::NULL);
    assert!(other.is_ok(), "another identifier is fine");
    drop(first);
}

#[wasm_bindgen_test]
fn bad_configuration_values_are_named() {
    let c = config(&common::unique("cfg"));
    let (name, msg) = err_parts(c.set_http_maximum_connections_per_host(0.0).err().unwrap());
    assert_eq!(name, "InvalidArgument");
    assert!(msg.contains("httpMaximumConnectionsPerHost"));
    assert!(c.set_timeout_interval_for_request(-1.0).is_err());
    c.set_http_maximum_connections_per_host(4.0).unwrap();
    assert_eq!(c.http_maximum_connections_per_host(), 4);
}

#[wasm_bindgen_test]
async fn file_manager_rejects_locations_outside_the_sandbox() {
    let fm = FileManager::default_manager();
    let e = fm.js_move_item("file:///etc/passwd".into(), "file:///Documents/x".into()).await.err().unwrap();
    let code = js_sys::Reflect::get(&e, &"code".into()).unwrap().as_f64();
    let domain = js_sys::Reflect::get(&e, &"domain".into()).unwrap().as_string();
    assert_eq!(code, Some(4.0));
    assert_eq!(domain.as_deref(), Some("NSCocoaErrorDomain"));
    let (_, msg) = rust_err(fm.contents("file:///Documents/nope").await.err().unwrap());
    assert!(msg.contains("doesn't exist"), "{msg}");
    assert!(!fm.file_exists("file:///Documents/nope").await.unwrap());
    let usage = fm.usage().await.unwrap();
    assert!(usage.quota > 0.0);
    assert_eq!(usage.total, usage.tmp + usage.documents + usage.caches);
}

shared_store_tests!(task_round_trip, journal_order_coalescing_and_ack, marks_stand_for_delivered_entries_until_acknowledged_in_full, a_launch_view_stands_only_while_no_page_delivered, acks_spare_other_sessions, chunked_writes_round_trip, files_move_relabels, idb_round_trip, idb_intact_truncated_copy, idb_sweep, idb_reads_cache_api_segments, backend_recorded);
