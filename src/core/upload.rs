//! Upload tasks (`uploadTask(request, fromFile)`): what the request may be,
//! and what the server's answer turns into.
//!
//! The browser's `fetch` reports no upload progress (streamed request
//! bodies need HTTP/2 in Chromium, and their pulls would only tell what
//! entered the socket buffer), so `didSendBodyData` is coarse: one call with
//! the whole size once the server has answered, which it does after reading
//! the body. An upload that breaks is sent again from its first byte
//! (browsers have no resumable uploads yet).
//!
//! # Examples
//!
//! ```
//! use bgsession::core::journal::Event;
//! use bgsession::core::path::SandboxPath;
//! use bgsession::core::request::{Request, ResponseInfo};
//! use bgsession::core::task::TaskRecord;
//! use bgsession::core::upload;
//!
//! let mut request = Request::get("https://h/up").unwrap();
//! assert!(upload::check_request(&request).is_err()); // a GET carries no body
//! request.method = "PUT".into();
//! assert!(upload::check_request(&request).is_ok());
//!
//! let from = SandboxPath::parse("file:///Documents/photo.jpg").unwrap();
//! let mut task = TaskRecord::new_upload("s", 1, request, &from, 0.0, "up-1".into());
//! task.bytes_expected_to_send = 2048; // the file's size
//!
//! // The server answered (even with a 500: an answer, not a task error).
//! let answer = ResponseInfo { url: "https://h/up".into(), status_code: 500, headers: Default::default() };
//! let events = upload::on_response(&mut task, answer);
//! assert_eq!(events, vec![Event::DidSendBodyData { total_bytes_sent: 2048, total_bytes_expected_to_send: 2048 }]);
//!
//! // Its body: didReceiveData per chunk, then didCompleteWithError(nil).
//! let events = upload::on_body(&mut task, b"oops");
//! assert_eq!(events.last(), Some(&Event::DidCompleteWithError { error: None }));
//! assert!(matches!(&events[0], Event::DidReceiveData { data } if data == "b29wcw=="));
//! ```

use crate::core::base64;
use crate::core::error::{NsError, UrlErrorCode, UsageError};
use crate::core::journal::Event;
use crate::core::request::{Request, ResponseInfo};
use crate::core::task::TaskRecord;

/// Response bytes per `didReceiveData` call.
pub const RECEIVE_CHUNK: usize = 256 * 1024;

/// The method an upload gets when the caller named none (a URL string).
pub const DEFAULT_METHOD: &str = "POST";

/// An upload carries a body: GET and HEAD cannot (fetch refuses them).
pub fn check_request(request: &Request) -> Result<(), UsageError> {
    if request.method == "GET" || request.method == "HEAD" {
        return Err(UsageError::InvalidArgument {
            what: format!(
                "an upload task sends its file as the request body, which {} cannot carry: use POST or PUT",
                request.method
            ),
        });
    }
    Ok(())
}

/// The server answered (the body has been sent): the task takes the
/// response (its URL is the last one of any redirects) and the progress.
pub fn on_response(task: &mut TaskRecord, resp: ResponseInfo) -> Vec<Event> {
    if !resp.url.is_empty() && resp.url != task.current_request.url {
        task.current_request.url = resp.url.clone();
    }
    task.response = Some(resp);
    task.failures = 0;
    task.waiting_for_connectivity = false;
    let expected = task.bytes_expected_to_send;
    task.bytes_sent = expected;
    if expected == 0 {
        return Vec::new();
    }
    vec![Event::DidSendBodyData { total_bytes_sent: expected, total_bytes_expected_to_send: expected as i64 }]
}

/// The response body has been read whole: the task completes. Events:
/// `didReceiveData` per chunk, then `didCompleteWithError(null)` (an HTTP
/// error status is an answer, not a task error, as on iOS).
pub fn on_body(task: &mut TaskRecord, body: &[u8]) -> Vec<Event> {
    task.bytes_received = body.len() as u64;
    task.bytes_expected = Some(body.len() as u64);
    let mut events: Vec<Event> = body.chunks(RECEIVE_CHUNK).map(|c| Event::DidReceiveData { data: base64::encode(c) }).collect();
    events.push(Event::DidCompleteWithError { error: None });
    events
}

/// An attempt broke: the next one sends the body from its first byte.
pub fn restart(task: &mut TaskRecord) {
    task.bytes_sent = 0;
}

/// Why the daemon could not take its own copy of an upload's file: what
/// the host saw ([`copy_error`] names the task's error).
#[derive(Clone, Debug, PartialEq)]
pub enum CopyFailure {
    /// No file at that location, or not a sandbox location.
    NoFile,
    /// The storage failed: opening the store, reading the file's record or
    /// copying its bytes (the host's words).
    Storage(String),
}

/// The error an upload ends with when its file could not be copied (at
/// `resume()`, before anything is sent): -1100 for a missing file, as iOS
/// gives; -3000 (`cannotCreateFile`) when the storage failed. Not retried:
/// a failed write is not retried during a transfer either
/// ([`RetryPolicy::on_failure`](crate::core::transfer::RetryPolicy::on_failure)).
pub fn copy_error(from: &str, failure: CopyFailure) -> NsError {
    match failure {
        CopyFailure::NoFile => NsError::url(UrlErrorCode::FileDoesNotExist, format!("uploadTask(fromFile:): there is no file at {from}")),
        CopyFailure::Storage(why) => NsError::url(UrlErrorCode::CannotCreateFile, format!("could not copy {from} for the upload: {why}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::journal::{delegate_call, CallArgs, JournalEntry};
    use crate::core::path::SandboxPath;
    use crate::core::task::TaskKind;

    fn upload() -> TaskRecord {
        let mut req = Request::get("https://h/up").unwrap();
        req.method = "PUT".into();
        let from = SandboxPath::parse("/Documents/a.bin").unwrap();
        let mut t = TaskRecord::new_upload("s", 3, req, &from, 0.0, "up-1".into());
        t.bytes_expected_to_send = 10;
        t.resume().unwrap();
        t
    }

    #[test]
    fn upload_needs_a_method_with_a_body() {
        let get = Request::get("https://h/up").unwrap();
        let err = check_request(&get).unwrap_err();
        assert_eq!(err.rule(), "InvalidArgument");
        assert!(err.to_string().contains("GET cannot carry"), "{err}");
        let mut put = get.clone();
        put.method = "PUT".into();
        assert_eq!(check_request(&put), Ok(()));
    }

    #[test]
    fn a_new_upload_remembers_its_file_and_has_no_resume_data() {
        let t = upload();
        assert_eq!(t.kind, TaskKind::Upload);
        assert_eq!(t.upload_from.as_deref(), Some("file:///Documents/a.bin"));
        let mut with_bytes = t.clone();
        with_bytes.segments = vec![10];
        with_bytes.bytes_received = 10;
        with_bytes.validator = Some(crate::core::task::Validator::ETag("\"x\"".into()));
        assert!(crate::core::resume::ResumeData::from_task(&with_bytes).is_none(), "uploads start again from the file");
    }

    #[test]
    fn the_answer_gives_progress_data_then_success_even_for_a_500() {
        let mut t = upload();
        t.failures = 2;
        let resp = ResponseInfo { url: "https://h/final".into(), status_code: 500, headers: Default::default() };
        let ev = on_response(&mut t, resp);
        assert_eq!(ev, vec![Event::DidSendBodyData { total_bytes_sent: 10, total_bytes_expected_to_send: 10 }]);
        assert_eq!(t.current_request.url, "https://h/final", "redirects show in currentRequest");
        assert_eq!(t.original_request.url, "https://h/up");
        assert_eq!(t.failures, 0);
        let body: Vec<u8> = (0..(RECEIVE_CHUNK + 5)).map(|i| i as u8).collect();
        let ev = on_body(&mut t, &body);
        assert_eq!(ev.len(), 3);
        assert_eq!(ev[2], Event::DidCompleteWithError { error: None });
        let mut got = Vec::new();
        for e in &ev[..2] {
            let entry = JournalEntry { v: 1, seq: Some(1), session: "s".into(), task_id: 3, event: e.clone(), response: None, at: 0.0 };
            let call = delegate_call(&entry, 0);
            assert_eq!(call.method, "didReceiveData");
            match call.args {
                CallArgs::Bytes(b) => got.extend(b),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(got, body);
        assert_eq!(t.bytes_received, body.len() as u64);
    }

    #[test]
    fn a_file_not_copied_ends_the_upload_with_an_error_naming_it() {
        let missing = copy_error("file:///Documents/a.bin", CopyFailure::NoFile);
        assert_eq!(missing.code, -1100);
        assert!(missing.user_info["NSLocalizedFailureReason"].as_str().unwrap().contains("there is no file at file:///Documents/a.bin"), "{missing:?}");
        let storage = copy_error("file:///Documents/a.bin", CopyFailure::Storage("QuotaExceededError".into()));
        assert_eq!(storage.code, -3000);
        assert!(format!("{storage:?}").contains("could not copy file:///Documents/a.bin for the upload: QuotaExceededError"), "{storage:?}");
    }

    #[test]
    fn an_empty_file_sends_no_progress_and_a_broken_attempt_starts_over() {
        let mut t = upload();
        t.bytes_expected_to_send = 0;
        let resp = ResponseInfo { url: "https://h/up".into(), status_code: 201, headers: Default::default() };
        assert!(on_response(&mut t, resp).is_empty());
        assert_eq!(on_body(&mut t, b""), vec![Event::DidCompleteWithError { error: None }]);
        let mut u = upload();
        u.bytes_sent = 10;
        restart(&mut u);
        assert_eq!(u.bytes_sent, 0);
    }
}
