//! A task's persistent record and its state machine (`URLSessionTask.State`).
//!
//! # Examples
//!
//! ```
//! use bgsession::core::request::Request;
//! use bgsession::core::task::{TaskRecord, TaskState, Transition};
//!
//! let request = Request::get("https://example.test/ep1.mp3").unwrap();
//! let mut task = TaskRecord::new_download("com.example.podcasts", 1, request, 0.0, "blob-1".into());
//! assert_eq!(task.state, TaskState::Suspended); // tasks start suspended, as on iOS
//!
//! assert_eq!(task.resume(), Ok(Transition::Schedule));
//! assert_eq!(task.resume(), Ok(Transition::Unchanged)); // resuming a running task does nothing
//! assert!(task.is_runnable(0.0));
//! assert_eq!(task.expected_or_unknown(), -1); // NSURLSessionTransferSizeUnknown
//!
//! assert_eq!(task.suspend(), Ok(Transition::StopTransfer)); // the bytes stay
//! match task.cancel().unwrap() {
//!     Transition::Complete(error) => assert_eq!(error.code, -999),
//!     other => panic!("{other:?}"),
//! }
//! assert_eq!(task.state, TaskState::Canceling);
//! ```

use crate::core::error::{NsError, UrlErrorCode};
use crate::core::request::{Request, ResponseInfo};
use crate::core::protocol::{Shape, Slot};
use serde::{Deserialize, Serialize};

/// `URLSessionTask.State`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    /// `.running`: resumed; the daemon transfers it when it may.
    Running,
    /// `.suspended`: new, or suspended; no transfer, stored bytes kept.
    Suspended,
    /// `.canceling`: cancelled; `didCompleteWithError` (-999) is on its way.
    Canceling,
    /// `.completed`: over, with or without an error.
    Completed,
}

/// One decoder for every unit-only enum (`protocol::unit_variant`).
impl<'de> Deserialize<'de> for TaskState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let all = [Self::Running, Self::Suspended, Self::Canceling, Self::Completed];
        Ok(all[crate::core::protocol::unit_variant(d, "TaskState", &["running", "suspended", "canceling", "completed"])?])
    }
}

impl TaskState {
    /// The JS name: `"running"`, `"suspended"`, `"canceling"` or `"completed"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Suspended => "suspended",
            Self::Canceling => "canceling",
            Self::Completed => "completed",
        }
    }
}

/// Download or upload (background sessions have no data tasks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    /// `URLSessionDownloadTask`: the body goes to a file.
    Download,
    /// `URLSessionUploadTask`: a sandbox file is the request body.
    Upload,
}

impl<'de> Deserialize<'de> for TaskKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok([Self::Download, Self::Upload][crate::core::protocol::unit_variant(d, "TaskKind", &["download", "upload"])?])
    }
}

/// What makes a resumed range safe: the representation must be the same one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Validator {
    /// A strong `ETag`, quotes included (weak `W/` ones cannot be used).
    ETag(String),
    /// The `Last-Modified` date, as the server wrote it.
    LastModified(String),
}

impl Validator {
    /// The strongest validator a response offers: ETag (if strong), else Last-Modified.
    pub fn from_response(resp: &ResponseInfo) -> Option<Self> {
        if let Some(etag) = resp.header("etag") {
            // A weak ETag may not be used with If-Range (RFC 9110 §13.1.5).
            if !etag.trim_start().starts_with("W/") {
                return Some(Validator::ETag(etag.trim().to_string()));
            }
        }
        resp.header("last-modified")
            .map(|lm| Validator::LastModified(lm.trim().to_string()))
    }

    /// The `If-Range` header value: the ETag or the date itself.
    pub fn if_range_value(&self) -> &str {
        match self {
            Validator::ETag(v) | Validator::LastModified(v) => v,
        }
    }
}

/// Everything the daemon keeps about one task (IndexedDB `tasks` store).
///
/// # Examples
///
/// ```
/// use bgsession::core::request::Request;
/// use bgsession::core::task::TaskRecord;
///
/// let mut task = TaskRecord::new_download("s", 1, Request::get("https://h/f").unwrap(), 0.0, "b1".into());
/// task.earliest_begin_date = Some(1_000.0); // ms since epoch
/// task.resume().unwrap();
/// assert!(!task.is_runnable(999.0)); // not before its date
/// assert!(task.is_runnable(1_000.0));
/// task.retry_at = Some(5_000.0); // a backoff after a failure
/// assert!(!task.is_runnable(4_999.0));
///
/// // Stored as camelCase JSON.
/// let json = serde_json::to_value(&task).unwrap();
/// assert_eq!((json["taskId"].as_u64(), json["state"].as_str()), (Some(1), Some("running")));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskRecord {
    /// Format version of the stored record (`"v"`; absent = 0, the format
    /// of 2ddb749): [`RECORD_VERSION`](crate::core::stored::RECORD_VERSION)
    /// once read or made by this build (see `core::stored`).
    #[serde(default)]
    pub v: u32,
    /// Identifier of the task's session (`configuration.identifier`).
    pub session: String,
    /// `taskIdentifier`: unique in its session, stable across reloads.
    pub task_id: u64,
    /// Download or upload, fixed when the task is made.
    pub kind: TaskKind,
    /// `originalRequest`: the request the task was made with.
    pub original_request: Request,
    /// `currentRequest`: the request now made (after redirects, or the one
    /// `willBeginDelayedRequest` substituted).
    pub current_request: Request,
    /// `taskDescription`: the app's own label; empty by default.
    #[serde(default)]
    pub task_description: String,
    /// `state`: changed by [`resume`](Self::resume), [`suspend`](Self::suspend),
    /// [`cancel`](Self::cancel) and [`complete`](Self::complete).
    pub state: TaskState,
    /// `priority`, 0.0 to 1.0 (default 0.5): higher ones start first.
    #[serde(default = "default_priority")]
    pub priority: f64,
    /// Milliseconds since the epoch; `None`: start now.
    #[serde(default)]
    pub earliest_begin_date: Option<f64>,
    /// When the page made the task (ms since epoch); older ones start first
    /// at equal priority.
    pub created_at: f64,
    /// `response`: the server's answer, once there is one (as the app sees
    /// it: the whole representation's, even when bgsession asked for ranges).
    #[serde(default)]
    pub response: Option<ResponseInfo>,
    /// Bytes persisted so far (the sum of `segments`).
    #[serde(default)]
    pub bytes_received: u64,
    /// Total expected, when the server said.
    #[serde(default)]
    pub bytes_expected: Option<u64>,
    /// What proves stored bytes still match the server's representation;
    /// `None`: they cannot be continued (a restart fetches from zero).
    #[serde(default)]
    pub validator: Option<Validator>,
    /// Key of the byte store holding this task's segments.
    pub blob_id: String,
    /// Length of each persisted segment, in order.
    #[serde(default)]
    pub segments: Vec<u64>,
    /// `error`: what the task completed with; `None` while running and on success.
    #[serde(default)]
    pub error: Option<NsError>,
    /// Transfer attempts that failed in a row (reset by progress).
    #[serde(default)]
    pub failures: u32,
    /// Not before this time (ms since epoch) for the next attempt (backoff).
    #[serde(default)]
    pub retry_at: Option<f64>,
    /// Offline and told the delegate so (`taskIsWaitingForConnectivity`).
    #[serde(default)]
    pub waiting_for_connectivity: bool,
    /// `timeoutIntervalForResource` runs out at this time (ms since epoch),
    /// counted from the first `resume()`.
    #[serde(default)]
    pub resource_deadline: Option<f64>,
    /// Does the server answer ranges for this task (learned from its answers)?
    #[serde(default)]
    pub ranged: Option<bool>,
    /// The link is fast: bodies are fetched as bounded segments read whole by
    /// the browser (see `transfer::after_segment`).
    #[serde(default)]
    pub fast: bool,
    /// Size of the next bounded segment in fast mode.
    #[serde(default)]
    pub segment_len: u64,
    /// Which transport runs it (from the session's configuration).
    #[serde(default)]
    pub transport: crate::core::config::Transport,
    /// With Background Fetch: the id of the browser's registration.
    #[serde(default)]
    pub bg_fetch_id: Option<String>,
    /// For upload tasks: the sandbox path of the body.
    #[serde(default)]
    pub upload_from: Option<String>,
    /// `countOfBytesSent` (uploads): 0 until the server answers, then the
    /// file's size.
    #[serde(default)]
    pub bytes_sent: u64,
    /// `countOfBytesExpectedToSend` (uploads): the file's size in bytes.
    #[serde(default)]
    pub bytes_expected_to_send: u64,
    /// Which links it may use (from the session's configuration).
    #[serde(default)]
    pub policy: crate::core::network::NetworkPolicy,
    /// The delegate implements `willBeginDelayedRequest` and the task has
    /// an `earliestBeginDate`: ask before starting (see `core::delayed`).
    #[serde(default)]
    pub asks_before_delayed_start: bool,
    /// The question is in the journal; the task waits for the app's answer.
    #[serde(default)]
    pub awaiting_delayed_decision: bool,
    /// Random, set when the page creates the task: tells a second `resume()`
    /// of the same new task from another tab's task that drew the same
    /// `taskIdentifier` (see `Store::insert_task`).
    #[serde(default)]
    pub nonce: String,
}

fn default_priority() -> f64 {
    0.5
}

/// Read field by field ([`protocol::Fields`](crate::core::protocol)) as
/// `derive(Deserialize)` with the attributes above read it (the same
/// records, the same errors: test `records_decode_as_the_derive`).
impl<'de> Deserialize<'de> for TaskRecord {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const SHAPE: &Shape = &Shape {
            name: "TaskRecord",
            names: &[
                "v", "session", "taskId", "kind", "originalRequest", "currentRequest", "taskDescription", "state", "priority",
                "earliestBeginDate", "createdAt", "response", "bytesReceived", "bytesExpected", "validator", "blobId", "segments",
                "error", "failures", "retryAt", "waitingForConnectivity", "resourceDeadline", "ranged", "fast", "segmentLen",
                "transport", "bgFetchId", "uploadFrom", "bytesSent", "bytesExpectedToSend", "policy", "asksBeforeDelayedStart",
                "awaitingDelayedDecision", "nonce",
            ],
            required: 1 << 1 | 1 << 2 | 1 << 3 | 1 << 4 | 1 << 5 | 1 << 7 | 1 << 10 | 1 << 15,
        };
        crate::core::protocol::read_fields(d, SHAPE, Self::blank())
    }
}

impl TaskRecord {
    /// Every field's default (`v` 0: absent), the required ones empty.
    fn blank() -> Self {
        let nothing = Request { url: String::new(), method: String::new(), headers: Default::default() };
        let mut t = Self::new_download("", 0, nothing, 0.0, String::new());
        t.v = 0;
        t
    }
}

impl crate::core::protocol::Fields for TaskRecord {
    fn slot(&mut self, i: usize) -> Slot<'_> {
        match i {
            0 => Slot::U32(&mut self.v),
            1 => Slot::Text(&mut self.session),
            2 => Slot::U64(&mut self.task_id),
            3 => Slot::Kind(&mut self.kind),
            4 => Slot::Request(&mut self.original_request),
            5 => Slot::Request(&mut self.current_request),
            6 => Slot::Text(&mut self.task_description),
            7 => Slot::State(&mut self.state),
            8 => Slot::F64(&mut self.priority),
            9 => Slot::OptF64(&mut self.earliest_begin_date),
            10 => Slot::F64(&mut self.created_at),
            11 => Slot::Response(&mut self.response),
            12 => Slot::U64(&mut self.bytes_received),
            13 => Slot::OptU64(&mut self.bytes_expected),
            14 => Slot::Validator(&mut self.validator),
            15 => Slot::Text(&mut self.blob_id),
            16 => Slot::Lengths(&mut self.segments),
            17 => Slot::Error(&mut self.error),
            18 => Slot::U32(&mut self.failures),
            19 => Slot::OptF64(&mut self.retry_at),
            20 => Slot::Bool(&mut self.waiting_for_connectivity),
            21 => Slot::OptF64(&mut self.resource_deadline),
            22 => Slot::OptBool(&mut self.ranged),
            23 => Slot::Bool(&mut self.fast),
            24 => Slot::U64(&mut self.segment_len),
            25 => Slot::Transport(&mut self.transport),
            26 => Slot::OptText(&mut self.bg_fetch_id),
            27 => Slot::OptText(&mut self.upload_from),
            28 => Slot::U64(&mut self.bytes_sent),
            29 => Slot::U64(&mut self.bytes_expected_to_send),
            30 => Slot::Policy(&mut self.policy),
            31 => Slot::Bool(&mut self.asks_before_delayed_start),
            32 => Slot::Bool(&mut self.awaiting_delayed_decision),
            _ => Slot::Text(&mut self.nonce),
        }
    }
}

/// A state change asked of a task that its state does not allow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransitionError {
    /// The state the task was in.
    pub from: TaskState,
    /// What was asked, e.g. `"complete"`.
    pub action: &'static str,
}

impl std::fmt::Display for TransitionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot {} a task that is {}", self.action, self.from.as_str())
    }
}

/// What a transition asks of the daemon.
#[derive(Clone, Debug, PartialEq)]
pub enum Transition {
    /// Nothing changes (e.g. resume of a running task, as on iOS).
    Unchanged,
    /// The task may now be scheduled.
    Schedule,
    /// Stop the transfer in flight, keep the bytes.
    StopTransfer,
    /// Stop the transfer and complete the task with this error.
    Complete(NsError),
}

impl TaskRecord {
    /// A new, suspended download task (tasks start suspended, as on iOS).
    pub fn new_download(session: &str, task_id: u64, request: Request, now: f64, blob_id: String) -> Self {
        TaskRecord {
            v: crate::core::stored::RECORD_VERSION,
            session: session.to_string(),
            task_id,
            kind: TaskKind::Download,
            current_request: request.clone(),
            original_request: request,
            task_description: String::new(),
            state: TaskState::Suspended,
            priority: default_priority(),
            earliest_begin_date: None,
            created_at: now,
            response: None,
            bytes_received: 0,
            bytes_expected: None,
            validator: None,
            blob_id,
            segments: Vec::new(),
            error: None,
            failures: 0,
            retry_at: None,
            waiting_for_connectivity: false,
            resource_deadline: None,
            ranged: None,
            fast: false,
            segment_len: 0,
            transport: Default::default(),
            bg_fetch_id: None,
            upload_from: None,
            bytes_sent: 0,
            bytes_expected_to_send: 0,
            policy: Default::default(),
            asks_before_delayed_start: false,
            awaiting_delayed_decision: false,
            nonce: String::new(),
        }
    }

    /// A new, suspended upload task of the sandbox file `from` (a
    /// `file:///…` location). The daemon takes its own copy of the file when
    /// the task is first resumed (into `blob_id`), so the app may move or
    /// delete the file afterwards, as with nsurlsessiond.
    pub fn new_upload(session: &str, task_id: u64, request: Request, from: &crate::core::path::SandboxPath, now: f64, blob_id: String) -> Self {
        let mut t = Self::new_download(session, task_id, request, now, blob_id);
        t.kind = TaskKind::Upload;
        t.upload_from = Some(from.url());
        t
    }

    /// `resume()`.
    pub fn resume(&mut self) -> Result<Transition, TransitionError> {
        match self.state {
            TaskState::Suspended => {
                self.state = TaskState::Running;
                Ok(Transition::Schedule)
            }
            TaskState::Running => Ok(Transition::Unchanged),
            // iOS ignores resume on a finished or cancelling task.
            TaskState::Canceling | TaskState::Completed => Ok(Transition::Unchanged),
        }
    }

    /// `suspend()`.
    pub fn suspend(&mut self) -> Result<Transition, TransitionError> {
        match self.state {
            TaskState::Running => {
                self.state = TaskState::Suspended;
                Ok(Transition::StopTransfer)
            }
            TaskState::Suspended | TaskState::Canceling | TaskState::Completed => Ok(Transition::Unchanged),
        }
    }

    /// `cancel()`: the task completes with -999.
    pub fn cancel(&mut self) -> Result<Transition, TransitionError> {
        match self.state {
            TaskState::Running | TaskState::Suspended => {
                self.state = TaskState::Canceling;
                Ok(Transition::Complete(NsError::url(UrlErrorCode::Cancelled, "")))
            }
            TaskState::Canceling | TaskState::Completed => Ok(Transition::Unchanged),
        }
    }

    /// The task is over, with `error` or successfully.
    pub fn complete(&mut self, error: Option<NsError>) -> Result<(), TransitionError> {
        if self.state == TaskState::Completed {
            return Err(TransitionError { from: self.state, action: "complete" });
        }
        self.state = TaskState::Completed;
        self.error = error;
        self.retry_at = None;
        Ok(())
    }

    /// Range requests only make sense for GET (a download's normal method).
    pub fn method_allows_ranges(&self) -> bool {
        self.kind == TaskKind::Download
            && self.current_request.method.eq_ignore_ascii_case("GET")
            && !self.original_request.headers.contains_key("range")
    }

    /// May the scheduler start a transfer now?
    pub fn is_runnable(&self, now: f64) -> bool {
        self.state == TaskState::Running
            && !self.asks_before_delayed_start
            && !self.awaiting_delayed_decision
            && self.earliest_begin_date.map_or(true, |t| t <= now)
            && self.retry_at.map_or(true, |t| t <= now)
    }

    /// `countOfBytesExpectedToReceive`: -1 when unknown (`NSURLSessionTransferSizeUnknown`).
    pub fn expected_or_unknown(&self) -> i64 {
        self.bytes_expected.map_or(-1, |n| n as i64)
    }
    /// Over for good: completed, with no bytes kept for resume data. Its
    /// record may be forgotten once its last event is acknowledged, and no
    /// stored bytes are its (glue.js `forgetTasks` applies the same rule to
    /// the stored records).
    pub fn is_over(&self) -> bool {
        self.state == TaskState::Completed && self.segments.is_empty()
    }


    /// Forget the stored bytes (the server's representation changed).
    pub fn discard_bytes(&mut self) {
        self.segments.clear();
        self.bytes_received = 0;
        self.validator = None;
    }
}

// ----- the app's view of a task -----
//
// A page's task object is a view of the daemon's record: its counters and
// `response` follow the journalled events as the delegate receives them
// (`TaskRecord::apply`), and its `state` says "completed" only once the
// delegate has heard `didCompleteWithError` (or the task ended where this
// page could not see it: `ended_unseen`). The daemon's answers to the
// page's commands carry its record, whose state may be ahead of what the
// delegate has heard: the functions below say what the object shows.

impl TaskRecord {
    /// Applies a journalled event to the app's view of the task, before the
    /// delegate sees it: the byte counters, the response and the current
    /// request (after redirects), and "completed" with its error.
    pub fn apply(&mut self, entry: &crate::core::journal::JournalEntry) {
        use crate::core::journal::Event;
        if let Some(resp) = &entry.response {
            // Redirects were followed: the current request is the last one.
            if !resp.url.is_empty() && resp.url != self.current_request.url {
                self.current_request.url = resp.url.clone();
            }
            self.response = Some(resp.clone());
        }
        match &entry.event {
            Event::DidWriteData { total_bytes_written, total_bytes_expected_to_write } => {
                self.bytes_received = *total_bytes_written;
                self.bytes_expected = u64::try_from(*total_bytes_expected_to_write).ok();
            }
            Event::DidResumeAtOffset { file_offset, expected_total_bytes } => {
                self.bytes_received = *file_offset;
                self.bytes_expected = u64::try_from(*expected_total_bytes).ok();
            }
            Event::DidSendBodyData { total_bytes_sent, total_bytes_expected_to_send } => {
                self.bytes_sent = *total_bytes_sent;
                self.bytes_expected_to_send = u64::try_from(*total_bytes_expected_to_send).unwrap_or(0);
            }
            Event::DidReceiveData { data } => {
                // Counts what the delegate has been given so far.
                let n = crate::core::base64::decode(data).map_or(0, |b| b.len() as u64);
                self.bytes_received += n;
            }
            Event::DidFinishDownloadingTo { .. } | Event::TaskIsWaitingForConnectivity | Event::WillBeginDelayedRequest { .. } => {}
            Event::DidCompleteWithError { error } => {
                self.state = TaskState::Completed;
                self.error = error.clone();
            }
        }
    }
}

/// The state a task object shows once the daemon has answered a command
/// with its record (`stored`), when the object showed `shown` and the app
/// asked for `asked` (`suspend()`: suspended; `cancel()`: canceling;
/// `resume()`: running; a read of the records: the stored state). A task
/// whose end the delegate heard stays completed. Otherwise the stored
/// state, except that a task the daemon has ended shows what was asked
/// until the delegate hears the end from the journal (as on iOS, a
/// cancelled task is "canceling" until `didCompleteWithError`).
pub fn shown_state(shown: TaskState, asked: TaskState, stored: TaskState) -> TaskState {
    match (shown, stored) {
        (TaskState::Completed, _) => TaskState::Completed,
        (_, TaskState::Completed) => asked,
        (_, stored) => stored,
    }
}

/// Has a task a page holds ended without the page seeing it end? A task's
/// record is deleted only once its completion was delivered, by whichever
/// page held the session's events then: perhaps another tab, whose delegate
/// heard it while this page's object still says "running". So a read of
/// the session's records that does not list the task has seen it end, if
/// the read began after the page learnt the record was stored (`stored_at`:
/// the daemon answers once the record is written; `None` if the daemon has
/// not stored it). A read begun earlier, or at the same instant, may
/// predate the record.
pub fn ended_unseen(stored_at: Option<f64>, read_at: f64, listed: bool) -> bool {
    !listed && stored_at.is_some_and(|at| at < read_at)
}

/// How long a page that does not hold a session's events waits, after the
/// daemon announces the session's journal grew, before it reads the
/// session's task records again (and so at most how often it does).
pub const REFRESH_ELSEWHERE_MS: f64 = 1_000.0;

/// When a page that does not hold a session's events refreshes its task
/// objects. Another tab delivers the session's events, so this page's
/// objects would say "running" with stale counters until it read the
/// records ([`ended_unseen`]); the daemon announces each change to the
/// journal, and the page reads the records [`REFRESH_ELSEWHERE_MS`] after
/// the first announcement, once for every announcement meanwhile, and only
/// while it holds a task the daemon stored that has not completed.
///
/// ```
/// use bgsession::core::task::RefreshElsewhere;
/// let mut r = RefreshElsewhere::default();
/// assert_eq!(r.handle_announced(10.0, false), None, "no open task: nothing to refresh");
/// assert_eq!(r.handle_announced(10.0, true), Some(1_010.0));
/// assert_eq!(r.handle_announced(500.0, true), None, "one read for the announcements meanwhile");
/// assert!(r.handle_timer(), "the host's timer for 1,010 ms came: read");
/// assert_eq!(r.handle_announced(1_200.0, true), Some(2_200.0));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RefreshElsewhere {
    due: Option<f64>,
}

impl RefreshElsewhere {
    /// The daemon announced the journal grew; `open_tasks`: the page holds
    /// a stored task that has not completed. Returns when to read, if a
    /// read is to be scheduled now (none is yet).
    pub fn handle_announced(&mut self, now: f64, open_tasks: bool) -> Option<f64> {
        if !open_tasks || self.due.is_some() {
            return None;
        }
        let at = now + REFRESH_ELSEWHERE_MS;
        self.due = Some(at);
        Some(at)
    }

    /// The host's timer for the time [`RefreshElsewhere::handle_announced`]
    /// gave came: read now? (Later announcements schedule the next read.)
    pub fn handle_timer(&mut self) -> bool {
        self.due.take().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> TaskRecord {
        TaskRecord::new_download("s", 1, Request::get("https://h/f").unwrap(), 0.0, "b1".into())
    }

    fn entry(event: crate::core::journal::Event, response: Option<ResponseInfo>) -> crate::core::journal::JournalEntry {
        crate::core::journal::JournalEntry { v: 1, seq: Some(1), session: "s".into(), task_id: 1, event, response, at: 0.0 }
    }

    #[test]
    fn the_apps_view_follows_the_events_the_delegate_hears() {
        use crate::core::journal::Event;
        let mut t = task();
        t.resume().unwrap();
        let moved = ResponseInfo { url: "https://h/moved".into(), status_code: 200, headers: Default::default() };
        t.apply(&entry(Event::DidWriteData { total_bytes_written: 10, total_bytes_expected_to_write: 100 }, Some(moved.clone())));
        assert_eq!((t.bytes_received, t.bytes_expected), (10, Some(100)));
        assert_eq!(t.current_request.url, "https://h/moved", "redirects followed: the last request");
        assert_eq!(t.response, Some(moved));
        t.apply(&entry(Event::DidResumeAtOffset { file_offset: 5, expected_total_bytes: -1 }, None));
        assert_eq!((t.bytes_received, t.bytes_expected), (5, None), "-1: unknown");
        t.apply(&entry(Event::DidReceiveData { data: "AAEC".into() }, None));
        assert_eq!(t.bytes_received, 8, "3 bytes given to the delegate");
        assert_eq!(t.state, TaskState::Running, "running until the end is heard");
        let error = NsError::url(UrlErrorCode::TimedOut, "slow");
        t.apply(&entry(Event::DidCompleteWithError { error: Some(error.clone()) }, None));
        assert_eq!((t.state, t.error), (TaskState::Completed, Some(error)));
    }

    #[test]
    fn what_a_task_object_shows_after_the_daemon_answers() {
        use TaskState::*;
        for (shown, asked, stored, want) in [
            (Running, Suspended, Suspended, Suspended),
            (Suspended, Running, Running, Running),
            // Ended by the daemon, not yet heard by the delegate.
            (Running, Canceling, Completed, Canceling),
            (Running, Suspended, Completed, Suspended),
            (Suspended, Running, Completed, Running), // resume(): an upload whose file is gone
            // The delegate heard the end: it stays.
            (Completed, Suspended, Running, Completed),
            (Completed, Canceling, Canceling, Completed),
            (Completed, Running, Completed, Completed),
        ] {
            assert_eq!(shown_state(shown, asked, stored), want, "shown {shown:?}, asked {asked:?}, stored {stored:?}");
        }
    }

    #[test]
    fn a_page_without_the_events_refreshes_once_a_second_at_most_and_only_with_open_tasks() {
        let mut r = RefreshElsewhere::default();
        assert_eq!(r.handle_announced(0.0, false), None);
        assert!(!r.handle_timer(), "nothing scheduled");
        assert_eq!(r.handle_announced(100.0, true), Some(100.0 + REFRESH_ELSEWHERE_MS));
        for t in [200.0, 600.0, 1_099.0] {
            assert_eq!(r.handle_announced(t, true), None, "already scheduled");
        }
        assert!(r.handle_timer());
        assert!(!r.handle_timer(), "once");
        assert_eq!(r.handle_announced(1_150.0, true), Some(2_150.0), "the next announcement schedules the next read");
    }

    #[test]
    fn starts_suspended_and_resumes() {
        let mut t = task();
        assert_eq!(t.state, TaskState::Suspended);
        assert_eq!(t.resume(), Ok(Transition::Schedule));
        assert_eq!(t.state, TaskState::Running);
        assert_eq!(t.resume(), Ok(Transition::Unchanged));
    }

    #[test]
    fn suspend_stops_transfer_keeps_bytes() {
        let mut t = task();
        t.resume().unwrap();
        t.segments = vec![10];
        t.bytes_received = 10;
        assert_eq!(t.suspend(), Ok(Transition::StopTransfer));
        assert_eq!(t.state, TaskState::Suspended);
        assert_eq!(t.bytes_received, 10);
        assert_eq!(t.suspend(), Ok(Transition::Unchanged));
    }

    #[test]
    fn cancel_completes_with_minus_999_once() {
        let mut t = task();
        t.resume().unwrap();
        match t.cancel().unwrap() {
            Transition::Complete(e) => assert_eq!(e.code, -999),
            other => panic!("{other:?}"),
        }
        assert_eq!(t.state, TaskState::Canceling);
        assert_eq!(t.cancel(), Ok(Transition::Unchanged));
        t.complete(Some(NsError::url(UrlErrorCode::Cancelled, ""))).unwrap();
        assert_eq!(t.state, TaskState::Completed);
        assert!(t.complete(None).is_err(), "a task completes once");
        assert_eq!(t.resume(), Ok(Transition::Unchanged));
        assert_eq!(t.cancel(), Ok(Transition::Unchanged));
    }

    #[test]
    fn runnable_honours_begin_date_and_backoff() {
        let mut t = task();
        assert!(!t.is_runnable(0.0), "suspended");
        t.resume().unwrap();
        assert!(t.is_runnable(0.0));
        t.earliest_begin_date = Some(100.0);
        assert!(!t.is_runnable(99.0));
        assert!(t.is_runnable(100.0));
        t.retry_at = Some(200.0);
        assert!(!t.is_runnable(150.0));
        assert!(t.is_runnable(200.0));
    }

    #[test]
    fn a_stored_task_missing_from_a_later_read_ended_elsewhere() {
        // Stored at 10: a read begun at 11 that lists it not has seen it end.
        assert!(ended_unseen(Some(10.0), 11.0, false));
        assert!(!ended_unseen(Some(10.0), 11.0, true), "listed: still there");
        // A read begun before (or as) the page learnt of the record may predate it.
        assert!(!ended_unseen(Some(10.0), 9.0, false));
        assert!(!ended_unseen(Some(10.0), 10.0, false));
        // Never stored (not yet resumed): no record to miss.
        assert!(!ended_unseen(None, 11.0, false));
    }

    #[test]
    fn validators_prefer_strong_etag() {
        let mut r = ResponseInfo { url: "u".into(), status_code: 200, headers: Default::default() };
        assert_eq!(Validator::from_response(&r), None);
        r.headers.insert("last-modified".into(), "Wed, 21 Oct 2015 07:28:00 GMT".into());
        assert!(matches!(Validator::from_response(&r), Some(Validator::LastModified(_))));
        r.headers.insert("etag".into(), "W/\"weak\"".into());
        assert!(matches!(Validator::from_response(&r), Some(Validator::LastModified(_))));
        r.headers.insert("etag".into(), "\"strong\"".into());
        assert_eq!(Validator::from_response(&r), Some(Validator::ETag("\"strong\"".into())));
    }

    #[test]
    fn record_round_trips_through_json() {
        let mut t = task();
        t.bytes_expected = Some(5);
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["state"], "suspended");
        assert_eq!(v["taskId"], 1);
        let back: TaskRecord = serde_json::from_value(v).unwrap();
        assert_eq!(back, t);
    }
}

/// `TaskRecord`, read by hand (`protocol::Fields`), decodes and fails as
/// `derive(Deserialize)` with its attributes did: a derived mirror.
#[cfg(test)]
mod records_as_derived {
    use super::*;
    use crate::core::config::Transport;
    use crate::core::protocol;
    use crate::core::network::NetworkPolicy;
    use serde_json::json;

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Derived {
        #[serde(default)]
        v: u32,
        session: String,
        task_id: u64,
        kind: TaskKind,
        original_request: Request,
        current_request: Request,
        #[serde(default)]
        task_description: String,
        state: TaskState,
        #[serde(default = "default_priority")]
        priority: f64,
        #[serde(default)]
        earliest_begin_date: Option<f64>,
        created_at: f64,
        #[serde(default)]
        response: Option<ResponseInfo>,
        #[serde(default)]
        bytes_received: u64,
        #[serde(default)]
        bytes_expected: Option<u64>,
        #[serde(default)]
        validator: Option<Validator>,
        blob_id: String,
        #[serde(default)]
        segments: Vec<u64>,
        #[serde(default)]
        error: Option<NsError>,
        #[serde(default)]
        failures: u32,
        #[serde(default)]
        retry_at: Option<f64>,
        #[serde(default)]
        waiting_for_connectivity: bool,
        #[serde(default)]
        resource_deadline: Option<f64>,
        #[serde(default)]
        ranged: Option<bool>,
        #[serde(default)]
        fast: bool,
        #[serde(default)]
        segment_len: u64,
        #[serde(default)]
        transport: Transport,
        #[serde(default)]
        bg_fetch_id: Option<String>,
        #[serde(default)]
        upload_from: Option<String>,
        #[serde(default)]
        bytes_sent: u64,
        #[serde(default)]
        bytes_expected_to_send: u64,
        #[serde(default)]
        policy: NetworkPolicy,
        #[serde(default)]
        asks_before_delayed_start: bool,
        #[serde(default)]
        awaiting_delayed_decision: bool,
        #[serde(default)]
        nonce: String,
    }

    /// Every field away from its default.
    fn full() -> TaskRecord {
        let mut t = TaskRecord::new_upload("s", 7, Request::get("https://h/f").unwrap(), &crate::core::path::SandboxPath::parse("/Documents/a").unwrap(), 3.5, "b7".into());
        t.current_request = Request::get("https://h/g").unwrap();
        t.task_description = "d".into();
        t.state = TaskState::Canceling;
        t.priority = 0.75;
        t.earliest_begin_date = Some(9.5);
        t.response = Some(ResponseInfo { url: "https://h/g".into(), status_code: 206, headers: [("etag".to_string(), "\"e\"".to_string())].into() });
        t.bytes_received = 10;
        t.bytes_expected = Some(20);
        t.validator = Some(Validator::ETag("\"e\"".into()));
        t.segments = vec![4, 6];
        t.error = Some(NsError::url(UrlErrorCode::Cancelled, "why"));
        t.failures = 2;
        t.retry_at = Some(11.0);
        t.waiting_for_connectivity = true;
        t.resource_deadline = Some(12.0);
        t.ranged = Some(false);
        t.fast = true;
        t.segment_len = 65536;
        t.transport = Transport::BackgroundFetch;
        t.bg_fetch_id = Some("bf".into());
        t.bytes_sent = 5;
        t.bytes_expected_to_send = 6;
        t.policy = NetworkPolicy { is_discretionary: true, allows_cellular_access: false, ..Default::default() };
        t.asks_before_delayed_start = true;
        t.awaiting_delayed_decision = true;
        t.nonce = "n".into();
        t
    }

    #[test]
    fn records_decode_as_the_derive() {
        let full = serde_json::to_value(full()).unwrap();
        let min = json!({"session": "s", "taskId": 1, "kind": "download", "originalRequest": {"url": "https://h/a"}, "currentRequest": {"url": "https://h/a"}, "state": "running", "createdAt": 0.0, "blobId": "b"});
        let mut cases = protocol::struct_cases(&full, &min);
        cases.extend([
            r#"{"session":"s","session":"t"}"#.into(),
            r#"{"taskId":1,"session":5}"#.into(),
            r#"{"session":5,"taskId":"x"}"#.into(),
            r#"{"zzz":1,"taskId":"x","session":5}"#.into(),
            r#"{"session":"s","taskId":1"#.into(),
            r#"["s"]"#.into(),
            r#"[0,"s",1,"download",{"url":"u"},{"url":"u"},"","running",0.5,null,1.0,null,0,null,null,"b"]"#.into(),
            r#"[0,"s",1,"download",{"url":"u"},{"url":"u"},"","running",0.5,null,1.0]"#.into(),
            r#"[0,"s",1,"download",{"url":"u"},{"url":"u"},"","running",0.5,null,1.0,null,0,null,null,"b",[],null,0,null,false,null,null,false,0,"fetch",null,null,0,0,{},false,false,"n"]"#.into(),
            r#"[0,"s",1,"download",{"url":"u"},{"url":"u"},"","running",0.5,null,1.0,null,0,null,null,"b",[],null,0,null,false,null,null,false,0,"fetch",null,null,0,0,{},false,false,"n",5]"#.into(),
        ]);
        protocol::decodes_as_derived::<TaskRecord, Derived>("TaskRecord", &cases);
        let all = format!("[{full},{min}]");
        assert_eq!(serde_json::from_str::<Vec<TaskRecord>>(&all).unwrap().len(), 2);
        assert_eq!(serde_json::from_value::<TaskRecord>(full).unwrap(), self::full());
    }
}
