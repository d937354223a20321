//! One transfer attempt of a download task, as decisions: which request to
//! send (a `Range` when bytes are already stored), what a response means for
//! the stored bytes, when the body is complete, and whether a failure is
//! retried. Time and randomness are passed in.

use crate::core::error::{NsError, UrlErrorCode};
use crate::core::request::{ContentRange, Request, ResponseInfo};
use crate::core::task::{TaskRecord, Validator};

/// The request to send for the next attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct FetchPlan {
    pub request: Request,
    /// Bytes already stored, asked for from here on (0: the whole body).
    pub offset: u64,
}

/// Resume from the stored bytes only when a validator proves the server's
/// representation is the one they came from (`If-Range`).
pub fn plan_fetch(task: &TaskRecord) -> FetchPlan {
    let mut request = task.current_request.clone();
    request.headers.remove("range");
    request.headers.remove("if-range");
    let offset = match (&task.validator, task.bytes_received) {
        (Some(v), n) if n > 0 => {
            request.headers.insert("range".into(), format!("bytes={n}-"));
            request.headers.insert("if-range".into(), v.if_range_value().to_string());
            n
        }
        _ => 0,
    };
    FetchPlan { request, offset }
}

/// What to do with a response's body.
#[derive(Clone, Debug, PartialEq)]
pub enum ResponseDecision {
    /// Append the body after `offset` stored bytes; `resumed`: tell the
    /// delegate (`didResumeAtOffset`).
    Write { offset: u64, resumed: bool },
    /// The stored bytes were discarded (server sent the whole body again, or
    /// a different representation): write this body from zero.
    Restart,
    /// This response cannot be used (a range that does not continue ours):
    /// drop it, discard the stored bytes, fetch again from zero.
    Refetch { reason: String },
}

/// Applies a response's head to the task (response, validator, expected
/// length) and decides what its body is.
pub fn on_response(task: &mut TaskRecord, plan: &FetchPlan, resp: ResponseInfo) -> ResponseDecision {
    let status = resp.status_code;
    let new_validator = if (200..300).contains(&status) { Validator::from_response(&resp) } else { None };
    let decision = if plan.offset == 0 {
        task.discard_bytes();
        task.bytes_expected = resp.content_length();
        ResponseDecision::Write { offset: 0, resumed: false }
    } else if status == 206 {
        let range = resp.header("content-range").and_then(ContentRange::parse);
        let same_representation = match (&task.validator, &new_validator) {
            (Some(old), Some(new)) => old == new,
            _ => true, // If-Range already made the server check
        };
        match range {
            Some(r) if r.first == plan.offset && same_representation => {
                task.bytes_expected = r.total.or_else(|| resp.content_length().map(|l| l + plan.offset));
                ResponseDecision::Write { offset: plan.offset, resumed: true }
            }
            Some(r) if !same_representation => {
                task.discard_bytes();
                return refetch(task, format!("the ETag changed (range {}-{})", r.first, r.last));
            }
            other => {
                task.discard_bytes();
                return refetch(
                    task,
                    format!("asked for bytes={}-, got Content-Range {:?}", plan.offset, other),
                );
            }
        }
    } else if status == 416 {
        task.discard_bytes();
        return refetch(task, "the server refused the range (416)".into());
    } else {
        // 200 to a Range request (ignored Range, or If-Range did not match):
        // this is the whole representation again.
        task.discard_bytes();
        task.bytes_expected = resp.content_length();
        ResponseDecision::Restart
    };
    task.validator = new_validator;
    task.current_request.url = resp.url.clone();
    task.response = Some(resp);
    decision
}

fn refetch(task: &mut TaskRecord, reason: String) -> ResponseDecision {
    task.bytes_expected = None;
    ResponseDecision::Refetch { reason }
}

/// A segment of `len` bytes has been persisted.
pub fn on_segment_stored(task: &mut TaskRecord, len: u64) {
    if len == 0 {
        return;
    }
    task.segments.push(len);
    task.bytes_received += len;
    task.failures = 0;
}

/// The body ended: is what was stored the whole of it? A short body is never
/// success.
pub fn on_body_end(task: &TaskRecord) -> Result<(), Failure> {
    match task.bytes_expected {
        Some(n) if task.bytes_received < n => Err(Failure::Lost(format!(
            "the body ended after {} of the {} bytes the server announced",
            task.bytes_received, n
        ))),
        Some(n) if task.bytes_received > n => Err(Failure::BadResponse(format!(
            "the server sent {} bytes but announced {}",
            task.bytes_received, n
        ))),
        _ => Ok(()),
    }
}

/// Why an attempt failed.
#[derive(Clone, Debug, PartialEq)]
pub enum Failure {
    /// `fetch` rejected before a response (host unreachable, refused…).
    Connect(String),
    /// The body stream broke, or ended short.
    Lost(String),
    /// The browser reports being offline.
    Offline,
    /// Persisting bytes failed for lack of space.
    Quota(String),
    /// Persisting bytes failed otherwise.
    Write(String),
    /// The server answered nonsense.
    BadResponse(String),
}

/// Retry policy: exponential backoff with full jitter, capped.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    pub max_failures: u32,
    pub base_ms: f64,
    pub cap_ms: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_failures: 6, base_ms: 1000.0, cap_ms: 60_000.0 }
    }
}

/// What a failure leads to.
#[derive(Clone, Debug, PartialEq)]
pub enum FailureDecision {
    /// Try again at this time (ms since epoch).
    RetryAt(f64),
    /// The task ends with this error.
    Fail(NsError),
}

impl RetryPolicy {
    /// Delay before retry number `failures` (1-based), `jitter` in [0, 1).
    pub fn backoff_ms(&self, failures: u32, jitter: f64) -> f64 {
        let exp = self.base_ms * 2f64.powi(failures.saturating_sub(1).min(30) as i32);
        let ceiling = exp.min(self.cap_ms);
        // "equal jitter": at least half the ceiling, so retries never bunch at 0.
        ceiling / 2.0 + ceiling / 2.0 * jitter.clamp(0.0, 1.0)
    }

    /// Counts the failure on the task and decides.
    pub fn on_failure(&self, task: &mut TaskRecord, failure: Failure, now: f64, jitter: f64) -> FailureDecision {
        let (code, detail, retryable) = match failure {
            Failure::Connect(d) => (UrlErrorCode::CannotConnectToHost, d, true),
            Failure::Lost(d) => (UrlErrorCode::NetworkConnectionLost, d, true),
            Failure::Offline => (UrlErrorCode::NotConnectedToInternet, String::new(), true),
            Failure::Quota(d) => (UrlErrorCode::CannotWriteToFile, format!("storage quota exceeded: {d}"), false),
            Failure::Write(d) => (UrlErrorCode::CannotWriteToFile, d, false),
            Failure::BadResponse(d) => (UrlErrorCode::BadServerResponse, d, true),
        };
        task.failures += 1;
        if retryable && task.failures < self.max_failures {
            let at = now + self.backoff_ms(task.failures, jitter);
            task.retry_at = Some(at);
            FailureDecision::RetryAt(at)
        } else {
            FailureDecision::Fail(NsError::url(code, detail))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn task() -> TaskRecord {
        let mut t = TaskRecord::new_download("s", 1, Request::get("https://h/f").unwrap(), 0.0, "b".into());
        t.resume().unwrap();
        t
    }

    fn resp(status: u16, headers: &[(&str, &str)]) -> ResponseInfo {
        ResponseInfo {
            url: "https://h/f".into(),
            status_code: status,
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
        }
    }

    #[test]
    fn fresh_fetch_has_no_range() {
        let p = plan_fetch(&task());
        assert_eq!(p.offset, 0);
        assert!(!p.request.headers.contains_key("range"));
    }

    #[test]
    fn stored_bytes_without_validator_are_not_resumed() {
        let mut t = task();
        on_segment_stored(&mut t, 100);
        let p = plan_fetch(&t);
        assert_eq!(p.offset, 0, "no validator: a range could splice two versions");
    }

    #[test]
    fn resume_with_if_range_and_206() {
        let mut t = task();
        let p = plan_fetch(&t);
        let d = on_response(&mut t, &p, resp(200, &[("content-length", "1000"), ("etag", "\"v1\"")]));
        assert_eq!(d, ResponseDecision::Write { offset: 0, resumed: false });
        assert_eq!(t.bytes_expected, Some(1000));
        on_segment_stored(&mut t, 400);
        let p = plan_fetch(&t);
        assert_eq!(p.offset, 400);
        assert_eq!(p.request.headers["range"], "bytes=400-");
        assert_eq!(p.request.headers["if-range"], "\"v1\"");
        let d = on_response(
            &mut t,
            &p,
            resp(206, &[("content-length", "600"), ("content-range", "bytes 400-999/1000"), ("etag", "\"v1\"")]),
        );
        assert_eq!(d, ResponseDecision::Write { offset: 400, resumed: true });
        assert_eq!(t.bytes_received, 400);
        on_segment_stored(&mut t, 600);
        assert_eq!(on_body_end(&t), Ok(()));
    }

    #[test]
    fn a_200_to_a_range_restarts_from_zero() {
        let mut t = task();
        t.validator = Some(Validator::ETag("\"v1\"".into()));
        on_segment_stored(&mut t, 400);
        let p = plan_fetch(&t);
        let d = on_response(&mut t, &p, resp(200, &[("content-length", "1000"), ("etag", "\"v2\"")]));
        assert_eq!(d, ResponseDecision::Restart);
        assert_eq!(t.bytes_received, 0);
        assert!(t.segments.is_empty());
        assert_eq!(t.validator, Some(Validator::ETag("\"v2\"".into())));
    }

    #[test]
    fn a_changed_etag_on_206_refetches() {
        let mut t = task();
        t.validator = Some(Validator::ETag("\"v1\"".into()));
        on_segment_stored(&mut t, 400);
        let p = plan_fetch(&t);
        let d = on_response(&mut t, &p, resp(206, &[("content-range", "bytes 400-999/1000"), ("etag", "\"v2\"")]));
        assert!(matches!(d, ResponseDecision::Refetch { .. }));
        assert_eq!(t.bytes_received, 0);
        assert_eq!(plan_fetch(&t).offset, 0);
    }

    #[test]
    fn a_range_that_does_not_continue_refetches() {
        let mut t = task();
        t.validator = Some(Validator::ETag("\"v1\"".into()));
        on_segment_stored(&mut t, 400);
        let p = plan_fetch(&t);
        let d = on_response(&mut t, &p, resp(206, &[("content-range", "bytes 0-999/1000")]));
        assert!(matches!(d, ResponseDecision::Refetch { .. }));
        let mut t2 = task();
        t2.validator = Some(Validator::ETag("\"v1\"".into()));
        on_segment_stored(&mut t2, 400);
        let p = plan_fetch(&t2);
        assert!(matches!(on_response(&mut t2, &p, resp(416, &[])), ResponseDecision::Refetch { .. }));
    }

    #[test]
    fn http_errors_are_bodies_not_failures() {
        let mut t = task();
        let p = plan_fetch(&t);
        let d = on_response(&mut t, &p, resp(404, &[("content-length", "9")]));
        assert_eq!(d, ResponseDecision::Write { offset: 0, resumed: false });
        assert_eq!(t.response.as_ref().unwrap().status_code, 404);
        assert_eq!(t.validator, None, "no resume against an error body");
    }

    #[test]
    fn short_and_long_bodies_fail() {
        let mut t = task();
        t.bytes_expected = Some(10);
        on_segment_stored(&mut t, 9);
        match on_body_end(&t).unwrap_err() {
            Failure::Lost(why) => assert!(why.contains("9 of the 10"), "{why}"),
            f => panic!("{f:?}"),
        }
        on_segment_stored(&mut t, 2);
        assert!(matches!(on_body_end(&t).unwrap_err(), Failure::BadResponse(_)));
        t.bytes_expected = None;
        assert_eq!(on_body_end(&t), Ok(()), "unknown length: the end is the end");
    }

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff_ms(1, 0.0), 500.0);
        assert_eq!(p.backoff_ms(1, 1.0), 1000.0);
        assert_eq!(p.backoff_ms(3, 1.0), 4000.0);
        assert_eq!(p.backoff_ms(30, 1.0), 60_000.0);
        assert!(p.backoff_ms(30, 0.0) >= 30_000.0);
    }

    #[test]
    fn failures_retry_then_fail_and_quota_fails_at_once() {
        let p = RetryPolicy { max_failures: 3, base_ms: 100.0, cap_ms: 1000.0 };
        let mut t = task();
        assert_eq!(p.on_failure(&mut t, Failure::Lost("cut".into()), 0.0, 1.0), FailureDecision::RetryAt(100.0));
        assert_eq!(t.retry_at, Some(100.0));
        assert_eq!(p.on_failure(&mut t, Failure::Lost("cut".into()), 0.0, 1.0), FailureDecision::RetryAt(200.0));
        match p.on_failure(&mut t, Failure::Lost("cut".into()), 0.0, 1.0) {
            FailureDecision::Fail(e) => assert_eq!(e.code, -1005),
            d => panic!("{d:?}"),
        }
        let mut t = task();
        match p.on_failure(&mut t, Failure::Quota("QuotaExceededError".into()), 0.0, 0.0) {
            FailureDecision::Fail(e) => {
                assert_eq!(e.code, -3003);
                assert!(e.reason().unwrap().contains("quota"));
            }
            d => panic!("{d:?}"),
        }
    }

    #[test]
    fn progress_resets_failure_count() {
        let mut t = task();
        t.failures = 4;
        on_segment_stored(&mut t, 1);
        assert_eq!(t.failures, 0);
    }
}
