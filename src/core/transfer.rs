//! One transfer attempt of a download task, as decisions: which request to
//! send (a `Range` when bytes are already stored), what a response means for
//! the stored bytes, when the body is complete, and whether a failure is
//! retried. Time and randomness are passed in.
//!
//! # Examples
//!
//! A fresh download asks for a 1 MiB probe; one with stored bytes and a
//! validator asks for the rest with `Range` and `If-Range`:
//!
//! ```
//! use bgsession::core::request::Request;
//! use bgsession::core::task::{TaskRecord, Validator};
//! use bgsession::core::transfer::{plan_fetch, PROBE_SEGMENT};
//!
//! let mut task = TaskRecord::new_download("s", 1, Request::get("https://h/f").unwrap(), 0.0, "b".into());
//! let plan = plan_fetch(&task);
//! assert_eq!((plan.offset, plan.end), (0, Some(PROBE_SEGMENT - 1)));
//! assert_eq!(plan.request.headers["range"], "bytes=0-1048575");
//!
//! // 30 bytes stored from a server that sent an ETag, and no fast mode: stream the rest.
//! task.segments = vec![30];
//! task.bytes_received = 30;
//! task.validator = Some(Validator::ETag("\"v1\"".into()));
//! let plan = plan_fetch(&task);
//! assert_eq!((plan.offset, plan.end), (30, None));
//! assert_eq!(plan.request.headers["range"], "bytes=30-");
//! assert_eq!(plan.request.headers["if-range"], "\"v1\"");
//! ```
//!
//! A failed attempt is retried with backoff, or ends the task:
//!
//! ```
//! use bgsession::core::request::Request;
//! use bgsession::core::task::TaskRecord;
//! use bgsession::core::transfer::{Failure, FailureDecision, RetryPolicy};
//!
//! let policy = RetryPolicy { max_failures: 2, base_ms: 1000.0, cap_ms: 60_000.0 };
//! let mut task = TaskRecord::new_download("s", 1, Request::get("https://h/f").unwrap(), 0.0, "b".into());
//! task.resume().unwrap();
//!
//! // First failure: retry after 500–1000 ms (jitter 0 gives the shortest).
//! let now = 10_000.0;
//! let first = policy.on_failure(&mut task, Failure::Lost("reset".into()), now, 0.0);
//! assert_eq!(first, FailureDecision::RetryAt(now + 500.0));
//! // Second: the retries are spent; -1005 (networkConnectionLost).
//! match policy.on_failure(&mut task, Failure::Lost("reset".into()), now, 0.0) {
//!     FailureDecision::Fail(error) => assert_eq!(error.code, -1005),
//!     other => panic!("{other:?}"),
//! }
//! // Offline is not a failure: wait for connectivity, telling the delegate once.
//! let mut task = TaskRecord::new_download("s", 2, Request::get("https://h/g").unwrap(), 0.0, "c".into());
//! assert_eq!(policy.on_failure(&mut task, Failure::Offline, now, 0.0), FailureDecision::WaitForConnectivity { notify: true });
//! assert_eq!(policy.on_failure(&mut task, Failure::Offline, now, 0.0), FailureDecision::WaitForConnectivity { notify: false });
//! ```

use crate::core::error::{NsError, UrlErrorCode};
use crate::core::request::{ContentRange, Request, ResponseInfo};
use crate::core::task::{TaskRecord, Validator};

/// The request to send for the next attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct FetchPlan {
    /// The task's current request, with `Range` / `If-Range` set as planned
    /// (and any of the app's own removed, unless the app asked for a range).
    pub request: Request,
    /// Bytes already stored, asked for from here on (0: the whole body).
    pub offset: u64,
    /// The last byte asked for (inclusive), for the probe and in fast mode.
    pub end: Option<u64>,
    /// Fast mode: the browser reads the bounded answer whole (one segment;
    /// a break loses it). Otherwise the body is streamed into segments and
    /// a break keeps what arrived — the probe too, so a cut during the very
    /// first request keeps its bytes.
    pub whole: bool,
}

/// The largest streamed segment (one Cache API entry): 16 MiB.
pub const STREAM_SEGMENT_BYTES: u64 = 16 << 20;
/// A streamed segment with bytes in it is stored after this long at most,
/// so a slow transfer loses little when the worker dies.
pub const STREAM_SEGMENT_MS: f64 = 1000.0;
/// A settled Background Fetch's body is local: its segments are cut by
/// size ([`STREAM_SEGMENT_BYTES`]), not by time.
pub const INGEST_SEGMENT_MS: f64 = 60_000.0;
/// Bounded segments (fast mode) are sized to take about this long.
pub const SEGMENT_TARGET_MS: f64 = 1000.0;
/// The smallest bounded segment in fast mode: 1 MiB.
pub const MIN_FAST_SEGMENT: u64 = 1 << 20;
/// A fresh download starts with one small bounded segment read whole: it
/// measures the link (and whether ranges work) at once, and on a fast link
/// the body never goes through the slow streamed path.
pub const PROBE_SEGMENT: u64 = 1 << 20;
/// The largest bounded segment in fast mode: 128 MiB. (A 32 MiB cap would
/// bound what a killed worker fetches again to 32 MiB, but measured 20–35 %
/// slower here: 344/361 against 429/543 MiB/s, alternating builds.)
pub const MAX_FAST_SEGMENT: u64 = 128 << 20;
/// At or above this rate (bytes/s) a streamed body switches to fast mode: the
/// browser's own reading of a whole segment beats streaming it through script
/// into the store (~2× measured in Chromium, ../README.md).
pub const FAST_RATE: f64 = 100.0 * 1024.0 * 1024.0;
/// Below this rate fast mode goes back to streaming (hysteresis).
pub const SLOW_RATE: f64 = 50.0 * 1024.0 * 1024.0;

/// Resume from the stored bytes only when a validator proves the server's
/// representation is the one they came from (`If-Range`). In fast mode, ask
/// for one bounded segment.
pub fn plan_fetch(task: &TaskRecord) -> FetchPlan {
    if task.original_request.headers.contains_key("range") {
        // The app asked for a range itself: send it as it is, no resuming.
        return FetchPlan { request: task.current_request.clone(), offset: 0, end: None, whole: false };
    }
    let mut request = task.current_request.clone();
    request.headers.remove("range");
    request.headers.remove("if-range");
    let resumable = task.validator.as_ref().filter(|_| task.bytes_received > 0);
    let offset = if resumable.is_some() { task.bytes_received } else { 0 };
    if let Some(v) = resumable {
        request.headers.insert("if-range".into(), v.if_range_value().to_string());
    }
    // From zero: always one bounded segment (the probe, or a fast segment);
    // further on, bounded segments only in fast mode with a validator.
    let rangeable = task.ranged != Some(false) && task.method_allows_ranges();
    let bounded = rangeable && (offset == 0 || (task.fast && task.validator.is_some()));
    let end = bounded.then(|| {
        let len = if task.fast { task.segment_len.clamp(MIN_FAST_SEGMENT, MAX_FAST_SEGMENT) } else { PROBE_SEGMENT };
        let end = offset + len - 1;
        task.bytes_expected.filter(|t| *t > 0).map_or(end, |t| end.min(t - 1))
    });
    match (offset, end) {
        (_, Some(end)) => {
            request.headers.insert("range".into(), format!("bytes={offset}-{end}"));
        }
        (0, None) => {}
        (n, None) => {
            request.headers.insert("range".into(), format!("bytes={n}-"));
        }
    }
    let whole = end.is_some() && task.fast;
    FetchPlan { request, offset, end, whole }
}

/// How a stored segment changes the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentOutcome {
    /// Go on as before.
    Continue,
    /// The link is fast: stop streaming this body and fetch the rest as
    /// bounded segments.
    SwitchToFast,
}

/// A segment of `len` bytes took `elapsed_ms`: adapt the mode and the next
/// fast segment's size (about `SEGMENT_TARGET_MS` of transfer).
pub fn after_segment(task: &mut TaskRecord, len: u64, elapsed_ms: f64, streamed: bool) -> SegmentOutcome {
    if len == 0 || elapsed_ms <= 0.0 {
        return SegmentOutcome::Continue;
    }
    let rate = len as f64 / (elapsed_ms / 1000.0);
    let next = ((rate * SEGMENT_TARGET_MS / 1000.0) as u64).clamp(MIN_FAST_SEGMENT, MAX_FAST_SEGMENT);
    if streamed {
        let can = task.validator.is_some() && task.ranged != Some(false) && len >= (1 << 20);
        if can && rate >= FAST_RATE {
            task.fast = true;
            task.ranged = Some(true); // we ask; a 200 answer turns it off again
            task.segment_len = next;
            return SegmentOutcome::SwitchToFast;
        }
    } else if rate < SLOW_RATE {
        task.fast = false;
    } else {
        task.fast = true;
        task.segment_len = next;
    }
    SegmentOutcome::Continue
}

/// What to do with a response's body.
#[derive(Clone, Debug, PartialEq)]
pub enum ResponseDecision {
    /// Append the body after `offset` stored bytes; `resumed`: tell the
    /// delegate (`didResumeAtOffset`).
    Write {
        /// Bytes already stored before this body (0: the body starts the file).
        offset: u64,
        /// `offset > 0`: journal `didResumeAtOffset` first.
        resumed: bool,
    },
    /// The stored bytes were discarded (server sent the whole body again, or
    /// a different representation): write this body from zero.
    Restart,
    /// This response cannot be used (a range that does not continue ours):
    /// drop it, discard the stored bytes, fetch again from zero.
    Refetch {
        /// What was wrong with the response, for logs.
        reason: String,
    },
}

/// Applies a response's head to the task (response, validator, expected
/// length, whether ranges work) and decides what its body is.
pub fn on_response(task: &mut TaskRecord, plan: &FetchPlan, resp: ResponseInfo) -> ResponseDecision {
    // Redirects were followed: `currentRequest` is the last request made (as
    // on iOS), and later ranges go straight there.
    if !resp.url.is_empty() && resp.url != task.current_request.url {
        task.current_request.url = resp.url.clone();
    }
    let status = resp.status_code;
    let new_validator = if (200..300).contains(&status) { Validator::from_response(&resp) } else { None };
    let asked_range = plan.offset > 0 || plan.end.is_some();
    let mut shown = resp.clone();
    let decision = if status == 206 && asked_range {
        match partial_content(task, plan, &resp, &new_validator) {
            Ok(decision) => {
                shown = whole_response(&resp, task.bytes_expected);
                decision
            }
            Err(refetch) => return refetch,
        }
    } else if status == 416 && asked_range {
        task.discard_bytes();
        no_more_ranges(task);
        return refetch(task, "the server refused the range (416)".into());
    } else {
        // The whole representation (a 200 to a Range: ranges ignored, or
        // If-Range did not match; or an error status with its body).
        if plan.end.is_some() {
            no_more_ranges(task);
        }
        task.discard_bytes();
        task.bytes_expected = resp.content_length();
        if plan.offset == 0 {
            ResponseDecision::Write { offset: 0, resumed: false }
        } else {
            ResponseDecision::Restart
        }
    };
    task.validator = new_validator.or_else(|| if matches!(decision, ResponseDecision::Write { offset, .. } if offset > 0) { task.validator.clone() } else { None });
    task.current_request.url = resp.url.clone();
    task.response = Some(shown);
    decision
}

/// A 206 to our range request: the body to write at `plan.offset` if the
/// range continues ours and the representation is the same (`Ok`), else
/// the stored bytes are discarded and the task fetched again (`Err`).
fn partial_content(task: &mut TaskRecord, plan: &FetchPlan, resp: &ResponseInfo, new_validator: &Option<Validator>) -> Result<ResponseDecision, ResponseDecision> {
    let range = resp.header("content-range").and_then(ContentRange::parse);
    let same_representation = match (&task.validator, new_validator) {
        (Some(old), Some(new)) => old == new,
        _ => true, // If-Range already made the server check
    };
    match range {
        Some(r) if r.first == plan.offset && same_representation && plan.end.map_or(true, |e| r.last <= e) => {
            if plan.offset == 0 {
                task.discard_bytes();
            }
            task.ranged = Some(true);
            if new_validator.is_none() && task.validator.is_none() {
                // Without a validator separate range requests could
                // splice two versions: no more ranges for this task.
                no_more_ranges(task);
            }
            task.bytes_expected = r.total.or_else(|| resp.content_length().map(|l| l + plan.offset));
            Ok(ResponseDecision::Write { offset: plan.offset, resumed: plan.offset > 0 })
        }
        Some(r) if !same_representation => {
            task.discard_bytes();
            Err(refetch(task, format!("the ETag changed (range {}-{})", r.first, r.last)))
        }
        other => {
            task.discard_bytes();
            no_more_ranges(task);
            Err(refetch(task, format!("asked for {:?}, got Content-Range {:?}", plan.request.headers.get("range"), other)))
        }
    }
}

/// The task's later requests ask for the whole body, never a range.
fn no_more_ranges(task: &mut TaskRecord) {
    task.fast = false;
    task.ranged = Some(false);
}

/// The ranges are ours, not the app's: the response the app sees is the
/// whole representation's (200, its full length, no Content-Range).
fn whole_response(resp: &ResponseInfo, total: Option<u64>) -> ResponseInfo {
    let mut r = resp.clone();
    r.status_code = 200;
    r.headers.remove("content-range");
    match total {
        Some(t) => {
            r.headers.insert("content-length".into(), t.to_string());
        }
        None => {
            r.headers.remove("content-length");
        }
    }
    r
}

/// Is the body complete once `task`'s bounded segment for `plan` is stored?
pub fn bounded_body_complete(task: &TaskRecord, plan: &FetchPlan, segment_len: u64) -> bool {
    match (task.bytes_expected, plan.end) {
        (Some(total), _) => task.bytes_received >= total,
        // Unknown total: a segment shorter than asked was the last one.
        (None, Some(end)) => segment_len < end + 1 - plan.offset,
        (None, None) => true,
    }
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
    task.waiting_for_connectivity = false;
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
    /// No data for `timeoutIntervalForRequest`: the attempt ends and is
    /// retried (a background session's rule).
    TimedOut(String),
    /// The browser withheld the response (a cross-origin URL without CORS):
    /// retrying cannot help.
    NotAllowed(String),
    /// The redirects could not be followed (a loop: more than 20 hops).
    TooManyRedirects(String),
    /// The request cannot be sent as it is (a header the browser refuses).
    BadRequest(String),
    /// Another worker holds the task's lock and runs it (the daemon's
    /// previous version while a new one takes over, or a second
    /// registration of the daemon on the origin): not a failure of the
    /// task. Tried again in [`BUSY_RETRY_MS`], not counted, so it never
    /// uses up the retries of the errors above.
    Busy(String),
}

/// The name of the error a host's body reader fails with when the body
/// goes on past the size its response announced ([`classify_error`]:
/// a bad server response).
pub const BAD_RESPONSE_ERROR: &str = "BgsessionBadServerResponse";

/// What an error thrown while fetching or storing a body means, by the
/// name the browser gave it (`DOMException` names; `message` kept as the
/// detail): a body longer than announced ([`BAD_RESPONSE_ERROR`]) is the
/// server's fault, no space is quota, a timeout is a timeout. Anything else
/// while `online` is false is the network going away. Otherwise the
/// storage engine's refusals (`InvalidStateError`: a closed database or
/// cache; `UnknownError`; `NotAllowedError`) are write failures, and the
/// rest (a `TypeError` from a broken stream, say) a lost connection.
pub fn classify_error(name: &str, message: String, online: bool) -> Failure {
    match name {
        BAD_RESPONSE_ERROR => Failure::BadResponse(message),
        "QuotaExceededError" => Failure::Quota(message),
        "TimeoutError" => Failure::TimedOut(message),
        _ if !online => Failure::Offline,
        "InvalidStateError" | "UnknownError" | "NotAllowedError" => Failure::Write(message),
        _ => Failure::Lost(message),
    }
}

/// How long a task another worker runs ([`Failure::Busy`]) waits before
/// this daemon tries to take it again.
pub const BUSY_RETRY_MS: f64 = 2_000.0;

/// The largest byte count a browser can represent exactly (2^53 - 1): a
/// `Content-Length` above it is absurd.
pub const MAX_CONTENT_LENGTH: u64 = (1 << 53) - 1;

/// Checks a response's head before its body is used, against the request
/// that was sent (`request`): a `Content-Length` that is not a byte count (negative,
/// not a number, beyond [`MAX_CONTENT_LENGTH`]), a `206` to a request
/// without `Range`, or a `206` whose `Content-Range` is impossible or
/// disagrees with its `Content-Length` is a bad server response (-1011),
/// which no retry fixes. (A possible range that does not continue ours is
/// [`on_response`]'s to handle: it fetches the body again whole.)
///
/// ```
/// use bgsession::core::request::{Request, ResponseInfo};
/// use bgsession::core::transfer::{check_response, Failure};
///
/// let request = Request::get("https://h/f").unwrap(); // no Range
/// let partial = ResponseInfo { url: "https://h/f".into(), status_code: 206, headers: [("content-range".to_string(), "bytes 0-9/10".to_string())].into() };
/// assert!(matches!(check_response(&request, &partial), Err(Failure::BadResponse(why)) if why.contains("without Range")));
/// ```
pub fn check_response(request: &Request, resp: &ResponseInfo) -> Result<(), Failure> {
    let length = match resp.header("content-length") {
        None => None,
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) if n <= MAX_CONTENT_LENGTH && v.trim().bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return Err(Failure::BadResponse(format!("the server sent Content-Length {v:?}, which is not a byte count"))),
        },
    };
    if resp.status_code != 206 {
        return Ok(());
    }
    let Some(asked) = request.headers.get("range") else {
        return Err(Failure::BadResponse("the server answered 206 Partial Content to a request without Range".into()));
    };
    // No Content-Range: a cross-origin server that does not expose it
    // (Access-Control-Expose-Headers); `on_response` fetches the body whole.
    let Some(value) = resp.header("content-range") else { return Ok(()) };
    let Some(range) = ContentRange::parse(value) else {
        return Err(Failure::BadResponse(format!("the server answered {asked:?} with an impossible Content-Range {value:?}")));
    };
    match length {
        Some(n) if n != range.len() => Err(Failure::BadResponse(format!(
            "Content-Range {value:?} announces {} bytes but Content-Length says {n}",
            range.len()
        ))),
        _ => Ok(()),
    }
}

/// The most body bytes a response may carry: its range's length for a
/// 206, else its `Content-Length`; `None` when it announced nothing. More
/// is [`body_too_long`].
pub fn body_limit(resp: &ResponseInfo) -> Option<u64> {
    if resp.status_code == 206 {
        if let Some(r) = resp.header("content-range").and_then(ContentRange::parse) {
            return Some(r.len());
        }
    }
    resp.content_length()
}

/// The failure for a body that went on past [`body_limit`] (-1011, not
/// retried: the same server sends the same body again).
pub fn body_too_long(limit: u64) -> Failure {
    Failure::BadResponse(format!("the server sent more than the {limit} bytes it announced"))
}

/// What a `redirect: "manual"` request to the same URL showed, after the
/// followed request failed with no response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedirectProbe {
    /// The URL answers with a redirect (`opaqueredirect`): the failure was
    /// in following the redirects.
    Redirected,
    /// The URL answers without redirecting.
    Answered,
    /// The probe failed too (the host itself is unreachable).
    Failed,
}

/// Explains a request that failed without a response once
/// [`RedirectProbe`] says why. Browsers give one bare `TypeError` for a
/// redirect loop (more than 20 hops), a redirect to a URL that is not
/// http(s), and a redirect to an unreachable host, and hide `Location` from
/// scripts; so a failure while following redirects is
/// `httpTooManyRedirects` (-1007), not retried (a loop stays a loop), its
/// reason naming the other possibilities. Otherwise the failure stays.
///
/// ```
/// use bgsession::core::transfer::{explain_no_response, Failure, RedirectProbe};
///
/// let f = explain_no_response(Failure::Connect("Failed to fetch".into()), "https://h/loop", RedirectProbe::Redirected);
/// assert!(matches!(f, Failure::TooManyRedirects(ref why) if why.contains("https://h/loop")));
/// let f = explain_no_response(Failure::Connect("Failed to fetch".into()), "https://h/x", RedirectProbe::Failed);
/// assert_eq!(f, Failure::Connect("Failed to fetch".into()));
/// ```
pub fn explain_no_response(failure: Failure, url: &str, probe: RedirectProbe) -> Failure {
    match (failure, probe) {
        (Failure::Connect(detail), RedirectProbe::Redirected) => Failure::TooManyRedirects(format!(
            "{url} redirects, and following its redirects failed ({detail}): more than 20 redirects (a loop), \
             or a redirect to a URL that is not http(s) or cannot be reached (the browser does not say which)"
        )),
        (failure, _) => failure,
    }
}

/// What a settled Background Fetch means for its task.
#[derive(Clone, Debug, PartialEq)]
pub enum SettledDecision {
    /// Copy the response body into the store and finish as usual (an HTTP
    /// error status is an answer, not a task error).
    Ingest,
    /// Count a failure and try again (a new Background Fetch).
    Retry(Failure),
    /// End the task.
    Fail(NsError),
}

/// Maps a `backgroundfetchsuccess/fail/abort` event (`kind`), the
/// registration's `failureReason`, and whether a response is there.
pub fn on_background_fetch_settled(kind: &str, reason: &str, has_response: bool) -> SettledDecision {
    match (kind, reason) {
        ("abort", _) => SettledDecision::Fail(NsError::url(UrlErrorCode::Cancelled, "the download was cancelled in the browser's download UI")),
        (_, "quota-exceeded") => SettledDecision::Fail(NsError::url(UrlErrorCode::CannotWriteToFile, "storage quota exceeded (Background Fetch)")),
        (_, "download-total-exceeded") => SettledDecision::Fail(NsError::url(UrlErrorCode::BadServerResponse, "the body was larger than announced")),
        ("success", _) | (_, "bad-status") if has_response => SettledDecision::Ingest,
        _ => SettledDecision::Retry(Failure::Lost(format!("Background Fetch failed ({})", if reason.is_empty() { "no response" } else { reason }))),
    }
}

/// While offline, look again this often.
pub const OFFLINE_POLL_MS: f64 = 1000.0;

/// Has the task run past `timeoutIntervalForResource`?
pub fn resource_timed_out(task: &TaskRecord, now: f64) -> Option<NsError> {
    let deadline = task.resource_deadline?;
    (now >= deadline).then(|| {
        NsError::url(UrlErrorCode::TimedOut, "timeoutIntervalForResource elapsed before the transfer completed")
    })
}

/// Retry policy: exponential backoff with full jitter, capped.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Failures in a row after which the task fails (default 6).
    pub max_failures: u32,
    /// The first retry's delay ceiling in ms, doubled per failure (default 1000).
    pub base_ms: f64,
    /// The largest delay ceiling in ms (default 60 000).
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
    /// Offline: wait for connectivity (background sessions always wait, as
    /// on iOS); `notify`: tell the delegate (`taskIsWaitingForConnectivity`),
    /// once per offline spell.
    WaitForConnectivity {
        /// Journal `taskIsWaitingForConnectivity`: the first offline
        /// failure of the spell.
        notify: bool,
    },
    /// The task ends with this error.
    Fail(NsError),
    /// Another worker runs the task ([`Failure::Busy`]): try to take it at
    /// this time. Its record is that worker's to write meanwhile: this
    /// daemon stores nothing of its own view.
    WaitForOtherWorker(f64),
}

/// The longest `Retry-After` honoured (longer ones are capped).
pub const MAX_RETRY_AFTER_MS: f64 = 10.0 * 60.0 * 1000.0;

/// Statuses that mean "try again later" rather than "this is the answer".
pub fn is_transient_status(status: u16) -> bool {
    matches!(status, 500 | 502 | 503 | 504)
}

/// Parses `Retry-After`: delta-seconds, or an IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`) relative to `now` (ms since epoch).
/// Returns the delay in ms.
pub fn parse_retry_after(value: &str, now: f64) -> Option<f64> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(secs as f64 * 1000.0);
    }
    let at = parse_http_date(v)?;
    Some((at - now).max(0.0))
}

/// IMF-fixdate → ms since epoch.
pub fn parse_http_date(v: &str) -> Option<f64> {
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    let rest = v.split_once(", ")?.1;
    let parts: Vec<&str> = rest.split(' ').collect();
    if parts.len() != 5 || parts[4] != "GMT" {
        return None;
    }
    let day: i64 = parts[0].parse().ok()?;
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        .iter()
        .position(|m| *m == parts[1])? as i64
        + 1;
    let year: i64 = parts[2].parse().ok()?;
    let hms: Vec<i64> = parts[3].split(':').map(|x| x.parse().ok()).collect::<Option<_>>()?;
    if hms.len() != 3 || !(1..=31).contains(&day) {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some(((days * 86400 + hms[0] * 3600 + hms[1] * 60 + hms[2]) * 1000) as f64)
}

impl RetryPolicy {
    /// Delay before retry number `failures` (1-based), `jitter` in [0, 1).
    pub fn backoff_ms(&self, failures: u32, jitter: f64) -> f64 {
        let exp = self.base_ms * 2f64.powi(failures.saturating_sub(1).min(30) as i32);
        let ceiling = exp.min(self.cap_ms);
        // "equal jitter": at least half the ceiling, so retries never bunch at 0.
        ceiling / 2.0 + ceiling / 2.0 * jitter.clamp(0.0, 1.0)
    }

    /// A 500/502/503/504 answer: retry later (honouring `Retry-After`, at
    /// least the backoff) while retries remain, counting it as a failure;
    /// `None` once they are spent: the response is then the answer, and its
    /// body the file (an HTTP status is not a task error).
    pub fn on_server_error(&self, task: &mut TaskRecord, resp: &ResponseInfo, now: f64, jitter: f64) -> Option<f64> {
        if !is_transient_status(resp.status_code) || task.failures + 1 >= self.max_failures {
            return None;
        }
        task.failures += 1;
        let backoff = self.backoff_ms(task.failures, jitter);
        let asked = resp.header("retry-after").and_then(|v| parse_retry_after(v, now)).map(|ms| ms.min(MAX_RETRY_AFTER_MS));
        let at = now + asked.map_or(backoff, |a| a.max(self.base_ms / 2.0));
        task.retry_at = Some(at);
        Some(at)
    }

    /// Counts the failure on the task and decides.
    pub fn on_failure(&self, task: &mut TaskRecord, failure: Failure, now: f64, jitter: f64) -> FailureDecision {
        let (code, detail, retryable) = match failure {
            Failure::Offline => {
                let notify = !task.waiting_for_connectivity;
                task.waiting_for_connectivity = true;
                task.retry_at = Some(now + OFFLINE_POLL_MS);
                return FailureDecision::WaitForConnectivity { notify };
            }
            // Apple: "Any upload or download tasks created by a background
            // session are automatically retried if the original request
            // fails due to a timeout"; `timeoutIntervalForResource` bounds
            // them. Not counted as a failure: a slow server never uses up
            // the retries of the errors below.
            Failure::TimedOut(_) => {
                let at = now + self.backoff_ms(1, jitter);
                task.retry_at = Some(at);
                return FailureDecision::RetryAt(at);
            }
            Failure::Busy(_) => {
                let at = now + BUSY_RETRY_MS;
                task.retry_at = Some(at);
                return FailureDecision::WaitForOtherWorker(at);
            }
            Failure::Connect(d) => (UrlErrorCode::CannotConnectToHost, d, true),
            Failure::Lost(d) => (UrlErrorCode::NetworkConnectionLost, d, true),
            Failure::Quota(d) => (UrlErrorCode::CannotWriteToFile, format!("storage quota exceeded: {d}"), false),
            Failure::Write(d) => (UrlErrorCode::CannotWriteToFile, d, false),
            // The same server answers the same nonsense again: not retried.
            Failure::BadResponse(d) => (UrlErrorCode::BadServerResponse, d, false),
            Failure::NotAllowed(d) => (UrlErrorCode::BadServerResponse, d, false),
            Failure::TooManyRedirects(d) => (UrlErrorCode::HttpTooManyRedirects, d, false),
            Failure::BadRequest(d) => (UrlErrorCode::BadUrl, d, false),
        };
        task.failures += 1;
        task.segment_len = (task.segment_len / 2).max(MIN_FAST_SEGMENT);
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
    fn a_redirect_moves_the_current_request_not_the_original() {
        let mut t = task();
        let plan = plan_fetch(&t);
        let mut r = resp(206, &[("content-range", "bytes 0-1048575/2000000"), ("etag", "\"e\"")]);
        r.url = "https://cdn/f".into();
        on_response(&mut t, &plan, r);
        assert_eq!(t.current_request.url, "https://cdn/f");
        assert_eq!(t.original_request.url, "https://h/f");
        assert_eq!(plan_fetch(&t).request.url, "https://cdn/f", "the next range goes to the final URL");
        assert_eq!(t.response.as_ref().unwrap().url, "https://cdn/f");
    }

    #[test]
    fn a_fresh_fetch_probes_with_one_small_segment() {
        let p = plan_fetch(&task());
        assert_eq!(p.offset, 0);
        assert_eq!(p.end, Some(PROBE_SEGMENT - 1));
        assert_eq!(p.request.headers["range"], format!("bytes=0-{}", PROBE_SEGMENT - 1));
        assert!(!p.request.headers.contains_key("if-range"));
        let mut post = task();
        post.current_request.method = "POST".into();
        assert_eq!(plan_fetch(&post).end, None, "no ranges for other methods");
        let mut ranged = task();
        ranged.original_request.headers.insert("range".into(), "bytes=0-9".into());
        ranged.current_request = ranged.original_request.clone();
        let p = plan_fetch(&ranged);
        assert_eq!(p.end, None);
        assert_eq!(p.request.headers["range"], "bytes=0-9", "the app's own Range is left alone");
        let mut again = task();
        again.ranged = Some(true);
        again.failures = 1;
        assert_eq!(plan_fetch(&again).end, Some(PROBE_SEGMENT - 1), "a failed probe probes again");
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
        let mut t = task();
        match p.on_failure(&mut t, Failure::NotAllowed("no CORS".into()), 0.0, 0.0) {
            FailureDecision::Fail(e) => assert_eq!((e.code, e.reason()), (-1011, Some("no CORS"))),
            d => panic!("CORS is not retried: {d:?}"),
        }
    }

    fn plan_with_range(range: Option<&str>) -> Request {
        let mut request = Request::get("https://h/f").unwrap();
        if let Some(r) = range {
            request.headers.insert("range".into(), r.into());
        }
        request
    }

    fn bad_response(r: Result<(), Failure>) -> String {
        match r {
            Err(Failure::BadResponse(why)) => why,
            other => panic!("expected a bad server response, got {other:?}"),
        }
    }

    #[test]
    fn hostile_heads_are_bad_server_responses() {
        let ranged = plan_with_range(Some("bytes=0-99"));
        let plain = plan_with_range(None);
        // Fine answers pass.
        assert_eq!(check_response(&plain, &resp(200, &[("content-length", "10")])), Ok(()));
        assert_eq!(check_response(&plain, &resp(200, &[])), Ok(()));
        assert_eq!(check_response(&ranged, &resp(206, &[("content-range", "bytes 0-99/1000"), ("content-length", "100")])), Ok(()));
        assert_eq!(check_response(&ranged, &resp(206, &[("content-range", "bytes 0-99/*")])), Ok(()));
        assert_eq!(check_response(&ranged, &resp(200, &[("content-length", "1000")])), Ok(()), "ranges ignored: an answer");
        // Negative or absurd Content-Length.
        for v in ["-5", "abc", "99999999999999999999", "9007199254740992", "1e3", "+5", ""] {
            let why = bad_response(check_response(&plain, &resp(200, &[("content-length", v)])));
            assert!(why.contains("Content-Length") && why.contains(&format!("{v:?}")), "{v}: {why}");
        }
        assert_eq!(check_response(&plain, &resp(200, &[("content-length", "9007199254740991")])), Ok(()));
        // 206 to a request without Range.
        assert!(bad_response(check_response(&plain, &resp(206, &[("content-range", "bytes 0-9/10")]))).contains("without Range"));
        // Impossible or missing Content-Range.
        for v in ["bytes 5-2/10", "bytes 0-10/10", "bytes 0-9/5", "bytes */10", "furlongs 0-1/2", "bytes -1-5/10"] {
            let why = bad_response(check_response(&ranged, &resp(206, &[("content-range", v)])));
            assert!(why.contains("impossible Content-Range"), "{v}: {why}");
        }
        assert_eq!(check_response(&ranged, &resp(206, &[])), Ok(()), "a Content-Range not exposed by CORS: on_response refetches whole");
        // A Content-Length that disagrees with the range: more (or fewer) bytes than announced.
        let why = bad_response(check_response(&ranged, &resp(206, &[("content-range", "bytes 0-99/1000"), ("content-length", "200")])));
        assert!(why.contains("announces 100 bytes but Content-Length says 200"), "{why}");
        // Body limits.
        assert_eq!(body_limit(&resp(206, &[("content-range", "bytes 0-99/1000"), ("content-length", "100")])), Some(100));
        assert_eq!(body_limit(&resp(200, &[("content-length", "7")])), Some(7));
        assert_eq!(body_limit(&resp(200, &[])), None);
        assert!(matches!(body_too_long(100), Failure::BadResponse(why) if why.contains("more than the 100 bytes")));
    }

    #[test]
    fn errors_no_retry_can_fix_end_the_task_at_once_each_with_its_code() {
        let p = RetryPolicy::default();
        let cases = [
            (Failure::BadResponse("206 without Range".into()), -1011),
            (Failure::TooManyRedirects("a loop".into()), -1007),
            (Failure::BadRequest("header X-A has CR/LF".into()), -1000),
            (Failure::NotAllowed("no CORS".into()), -1011),
            (Failure::Quota("full".into()), -3003),
            (Failure::Write("broken store".into()), -3003),
        ];
        for (failure, code) in cases {
            let mut t = task();
            let why = format!("{failure:?}");
            match p.on_failure(&mut t, failure, 0.0, 0.0) {
                FailureDecision::Fail(e) => {
                    assert_eq!(e.code, code, "{why}");
                    assert!(e.reason().is_some_and(|r| !r.is_empty()), "{why}: a reason");
                }
                d => panic!("{why} was retried: {d:?}"),
            }
            assert_eq!(t.failures, 1);
        }
        // What a retry can fix is retried.
        for failure in [Failure::Connect("refused".into()), Failure::Lost("cut".into())] {
            let mut t = task();
            assert!(matches!(p.on_failure(&mut t, failure, 0.0, 0.0), FailureDecision::RetryAt(_)));
        }
    }

    #[test]
    fn a_failure_while_following_redirects_is_too_many_redirects() {
        let connect = || Failure::Connect("Failed to fetch".into());
        match explain_no_response(connect(), "http://h/loop", RedirectProbe::Redirected) {
            Failure::TooManyRedirects(why) => {
                assert!(why.contains("http://h/loop") && why.contains("more than 20") && why.contains("not http(s)"), "{why}");
            }
            f => panic!("{f:?}"),
        }
        assert_eq!(explain_no_response(connect(), "http://h/x", RedirectProbe::Answered), connect());
        assert_eq!(explain_no_response(connect(), "http://h/x", RedirectProbe::Failed), connect());
        assert_eq!(explain_no_response(Failure::Offline, "http://h/x", RedirectProbe::Redirected), Failure::Offline);
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after("120", 0.0), Some(120_000.0));
        let t = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(t, 784_111_777_000.0);
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", t), Some(10_000.0));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:27 GMT", t), Some(0.0), "a date in the past: now");
        assert_eq!(parse_retry_after("soon", 0.0), None);
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0.0));
        assert_eq!(parse_http_date("Mon, 01 Jan 2024 00:00:00 GMT"), Some(1_704_067_200_000.0));
    }

    #[test]
    fn server_errors_retry_with_retry_after_then_become_the_answer() {
        let p = RetryPolicy { max_failures: 3, base_ms: 100.0, cap_ms: 1000.0 };
        let mut t = task();
        let busy = resp(503, &[("retry-after", "5")]);
        assert_eq!(p.on_server_error(&mut t, &busy, 0.0, 0.0), Some(5000.0), "Retry-After honoured");
        let plain = resp(503, &[]);
        assert_eq!(p.on_server_error(&mut t, &plain, 0.0, 1.0), Some(200.0), "else the backoff");
        assert_eq!(p.on_server_error(&mut t, &plain, 0.0, 1.0), None, "retries spent: the 503 is the answer");
        let mut t = task();
        assert_eq!(p.on_server_error(&mut t, &resp(404, &[]), 0.0, 0.0), None, "a 404 is an answer");
        let huge = resp(503, &[("retry-after", "999999")]);
        assert_eq!(p.on_server_error(&mut t, &huge, 0.0, 0.0), Some(MAX_RETRY_AFTER_MS), "capped");
    }

    #[test]
    fn offline_waits_and_notifies_once() {
        let p = RetryPolicy::default();
        let mut t = task();
        assert_eq!(p.on_failure(&mut t, Failure::Offline, 0.0, 0.0), FailureDecision::WaitForConnectivity { notify: true });
        assert_eq!(p.on_failure(&mut t, Failure::Offline, 10.0, 0.0), FailureDecision::WaitForConnectivity { notify: false });
        assert_eq!(t.failures, 0, "waiting is not failing");
        assert_eq!(t.retry_at, Some(10.0 + OFFLINE_POLL_MS));
        on_segment_stored(&mut t, 5);
        assert!(!t.waiting_for_connectivity, "data flows again");
    }

    #[test]
    fn errors_are_classified_by_name_then_by_the_network() {
        let m = || "m".to_string();
        for (name, online, want) in [
            (BAD_RESPONSE_ERROR, true, Failure::BadResponse(m())),
            (BAD_RESPONSE_ERROR, false, Failure::BadResponse(m())),
            ("QuotaExceededError", false, Failure::Quota(m())),
            ("TimeoutError", false, Failure::TimedOut(m())),
            ("TypeError", false, Failure::Offline),
            ("InvalidStateError", false, Failure::Offline),
            ("InvalidStateError", true, Failure::Write(m())),
            ("UnknownError", true, Failure::Write(m())),
            ("NotAllowedError", true, Failure::Write(m())),
            ("TypeError", true, Failure::Lost(m())),
            ("AbortError", true, Failure::Lost(m())),
            ("", true, Failure::Lost(m())),
        ] {
            assert_eq!(classify_error(name, m(), online), want, "{name:?}, online {online}");
        }
        // What each means for the task: a write failure or a bad response is
        // final, a lost connection is retried.
        let p = RetryPolicy::default();
        assert!(matches!(p.on_failure(&mut task(), classify_error("InvalidStateError", m(), true), 0.0, 0.0), FailureDecision::Fail(e) if e.code == -3003));
        assert!(matches!(p.on_failure(&mut task(), classify_error("TypeError", m(), true), 0.0, 0.0), FailureDecision::RetryAt(_)));
    }

    #[test]
    fn a_task_another_worker_runs_waits_for_it_and_never_fails_for_it() {
        let p = RetryPolicy::default();
        let mut t = task();
        let segment_len = t.segment_len;
        for i in 0..10 * p.max_failures {
            let now = i as f64 * BUSY_RETRY_MS;
            assert_eq!(p.on_failure(&mut t, Failure::Busy("another worker runs this task".into()), now, 0.5), FailureDecision::WaitForOtherWorker(now + BUSY_RETRY_MS));
        }
        assert_eq!(t.failures, 0, "waiting for another worker is not failing");
        assert_eq!(t.segment_len, segment_len, "nor a reason for shorter segments");
        // A real failure after it still counts from zero.
        assert!(matches!(p.on_failure(&mut t, Failure::Lost("cut".into()), 0.0, 0.0), FailureDecision::RetryAt(_)));
        assert_eq!(t.failures, 1);
    }

    #[test]
    fn a_request_timeout_is_retried_and_the_resource_timeout_ends_the_task_with_minus_1001() {
        let p = RetryPolicy::default();
        let mut t = task();
        for _ in 0..3 * p.max_failures {
            match p.on_failure(&mut t, Failure::TimedOut("no data for 60 s".into()), 0.0, 0.0) {
                FailureDecision::RetryAt(at) => assert!(at > 0.0 && at <= p.base_ms, "{at}"),
                d => panic!("a background session retries a request that timed out: {d:?}"),
            }
        }
        assert_eq!(t.failures, 0, "timeouts use up no retries");
        let mut t = task();
        assert_eq!(resource_timed_out(&t, 1e12), None, "no deadline");
        t.resource_deadline = Some(100.0);
        assert_eq!(resource_timed_out(&t, 99.0), None);
        assert_eq!(resource_timed_out(&t, 100.0).unwrap().code, -1001);
    }

    #[test]
    fn background_fetch_outcomes() {
        assert_eq!(on_background_fetch_settled("success", "", true), SettledDecision::Ingest);
        assert_eq!(on_background_fetch_settled("fail", "bad-status", true), SettledDecision::Ingest, "a 404 is an answer");
        assert!(matches!(on_background_fetch_settled("fail", "fetch-error", false), SettledDecision::Retry(Failure::Lost(_))));
        assert!(matches!(on_background_fetch_settled("success", "", false), SettledDecision::Retry(_)));
        match on_background_fetch_settled("fail", "quota-exceeded", false) {
            SettledDecision::Fail(e) => assert_eq!(e.code, -3003),
            d => panic!("{d:?}"),
        }
        match on_background_fetch_settled("abort", "aborted", false) {
            SettledDecision::Fail(e) => assert_eq!(e.code, -999),
            d => panic!("{d:?}"),
        }
        match on_background_fetch_settled("fail", "download-total-exceeded", false) {
            SettledDecision::Fail(e) => assert_eq!(e.code, -1011),
            d => panic!("{d:?}"),
        }
    }

    fn probed(total: u64, probe_ms: f64) -> TaskRecord {
        let mut t = task();
        let p = plan_fetch(&t);
        let cr = format!("bytes 0-{}/{}", PROBE_SEGMENT - 1, total);
        let d = on_response(&mut t, &p, resp(206, &[("content-range", &cr), ("etag", "\"v\"")]));
        assert_eq!(d, ResponseDecision::Write { offset: 0, resumed: false });
        let shown = t.response.as_ref().unwrap();
        assert_eq!(shown.status_code, 200, "the app sees the whole representation");
        assert_eq!(shown.content_length(), Some(total));
        assert_eq!(shown.header("content-range"), None);
        on_segment_stored(&mut t, PROBE_SEGMENT);
        after_segment(&mut t, PROBE_SEGMENT, probe_ms, false);
        t
    }

    #[test]
    fn a_fast_link_continues_in_bounded_segments() {
        // 1 MiB in 2 ms: 500 MiB/s.
        let mut t = probed(1_000_000_000, 2.0);
        assert!(t.fast);
        assert_eq!(t.segment_len, MAX_FAST_SEGMENT, "about 1 s of transfer, capped");
        assert_eq!(t.bytes_expected, Some(1_000_000_000));
        let p = plan_fetch(&t);
        assert_eq!(p.offset, PROBE_SEGMENT);
        assert_eq!(p.end, Some(PROBE_SEGMENT + MAX_FAST_SEGMENT - 1));
        assert_eq!(p.request.headers["if-range"], "\"v\"");
        let cr = format!("bytes {}-{}/1000000000", PROBE_SEGMENT, PROBE_SEGMENT + MAX_FAST_SEGMENT - 1);
        let d = on_response(&mut t, &p, resp(206, &[("content-range", &cr), ("etag", "\"v\"")]));
        assert_eq!(d, ResponseDecision::Write { offset: PROBE_SEGMENT, resumed: true });
        on_segment_stored(&mut t, MAX_FAST_SEGMENT);
        assert!(!bounded_body_complete(&t, &p, MAX_FAST_SEGMENT));
        // The last segment is clipped to the total.
        t.bytes_received = 1_000_000_000 - 10;
        assert_eq!(plan_fetch(&t).end, Some(1_000_000_000 - 1));
    }

    #[test]
    fn slow_links_and_servers_without_ranges_stream() {
        // 1 MiB in 1 s: stream the rest, open-ended.
        let t = probed(100_000_000, 1000.0);
        assert!(!t.fast);
        let p = plan_fetch(&t);
        assert_eq!(p.end, None);
        assert_eq!(p.request.headers["range"], format!("bytes={}-", PROBE_SEGMENT));
        // A fast streamed segment switches to bounded segments.
        let mut t = t;
        on_segment_stored(&mut t, 32 << 20);
        assert_eq!(after_segment(&mut t, 32 << 20, 100.0, true), SegmentOutcome::SwitchToFast);
        assert!(plan_fetch(&t).end.is_some());
        // A server that ignores ranges answers the probe with the whole body.
        let mut t = task();
        let p = plan_fetch(&t);
        let d = on_response(&mut t, &p, resp(200, &[("content-length", "100000000"), ("etag", "\"v\"")]));
        assert_eq!(d, ResponseDecision::Write { offset: 0, resumed: false });
        assert_eq!(t.ranged, Some(false));
        on_segment_stored(&mut t, 8 << 20);
        assert_eq!(after_segment(&mut t, 8 << 20, 10.0, true), SegmentOutcome::Continue, "no ranges: keep streaming");
        let p = plan_fetch(&t);
        assert_eq!(p.end, None);
        // Fast mode falls back to streaming when the rate drops.
        let mut t = probed(100_000_000, 2.0);
        assert!(t.fast);
        after_segment(&mut t, 4 << 20, 1000.0, false);
        assert!(!t.fast);
    }

    #[test]
    fn no_validator_no_bounded_continuation() {
        let mut t = task();
        let p = plan_fetch(&t);
        let cr = format!("bytes 0-{}/100000000", PROBE_SEGMENT - 1);
        on_response(&mut t, &p, resp(206, &[("content-range", &cr)]));
        on_segment_stored(&mut t, PROBE_SEGMENT);
        after_segment(&mut t, PROBE_SEGMENT, 2.0, false);
        let p = plan_fetch(&t);
        assert_eq!(p.end, None, "no validator: no bounded segments");
        assert_eq!(p.offset, 0, "and no resume: the body is fetched again whole");
        assert!(!p.request.headers.contains_key("range"));
    }

    #[test]
    fn unknown_totals_end_with_a_short_segment() {
        let mut t = task();
        t.fast = true;
        t.ranged = Some(true);
        t.validator = Some(Validator::ETag("\"v\"".into()));
        t.segment_len = MIN_FAST_SEGMENT;
        let p = plan_fetch(&t);
        assert!(!bounded_body_complete(&t, &p, MIN_FAST_SEGMENT));
        assert!(bounded_body_complete(&t, &p, 10));
    }

    #[test]
    fn progress_resets_failure_count() {
        let mut t = task();
        t.failures = 4;
        on_segment_stored(&mut t, 1);
        assert_eq!(t.failures, 0);
    }
}
