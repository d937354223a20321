//! The Rust face of the delegate: [`UrlSessionDelegate`], a trait whose
//! methods all have default (do-nothing) bodies, as Apple's protocol methods
//! are all optional. Methods are `async`: the session awaits each one before
//! it delivers the session's next event (a JS delegate does the same with a
//! returned Promise), so `did_finish_downloading_to` can move the file first.

use crate::core::error::{NsError, UsageError};
use crate::core::journal::{CallArgs, DelegateCall};
use crate::core::request::Request;
use crate::core::protocol::DelayedAnswer;
use crate::web::js;
use crate::web::page::session::UrlSession;
use crate::web::page::state::{ErasedDelegate, LocalFuture, SessionInner, TaskInner};
use crate::web::page::task::UrlSessionTask;
use std::rc::Rc;
use wasm_bindgen::JsValue;

/// An error of the Rust API: a broken rule (named, as the JS error's `name`)
/// or an error from the browser.
#[derive(Debug, Clone)]
pub enum Error {
    /// A rule of background sessions, as iOS enforces it (thrown, not queued).
    Usage(UsageError),
    /// Anything the browser or the daemon reported (its `name: message`).
    Js(JsValue),
}

impl Error {
    /// The rule's name (`"EmptyIdentifier"`…) or the JS error's `name`.
    pub fn name(&self) -> String {
        match self {
            Error::Usage(u) => u.rule().to_string(),
            Error::Js(v) => crate::web::js::error_name(v),
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Usage(u) => write!(f, "{}: {u}", u.rule()),
            Error::Js(v) => write!(f, "{}: {}", crate::web::js::error_name(v), crate::web::js::message(v)),
        }
    }
}

impl std::error::Error for Error {}

impl From<UsageError> for Error {
    fn from(e: UsageError) -> Self {
        Error::Usage(e)
    }
}

impl From<JsValue> for Error {
    fn from(v: JsValue) -> Self {
        Error::Js(v)
    }
}

impl From<Error> for JsValue {
    fn from(e: Error) -> Self {
        match e {
            Error::Usage(u) => crate::web::page::usage(u),
            Error::Js(v) => v,
        }
    }
}

/// What `will_begin_delayed_request` answers (`URLSession.DelayedRequestDisposition`).
#[derive(Clone, Debug, PartialEq)]
pub enum DelayedRequestDisposition {
    /// Start with the task's request.
    ContinueLoading,
    /// Start with this request instead.
    UseNewRequest(Request),
    /// Cancel the task (it completes with -999).
    Cancel,
}

/// A background session's delegate, for Rust apps (JS apps pass a plain
/// object with Apple's method names). Every method is optional (its default
/// does nothing); the arguments are Apple's, in Rust types. Methods are
/// `async`: the session awaits each one before it delivers the session's
/// next event, so `did_finish_downloading_to` can move the file first.
///
/// # Examples
///
/// ```ignore
/// use bgsession::{FileManager, UrlSession, UrlSessionConfiguration, UrlSessionDelegate, UrlSessionTask};
///
/// struct Podcasts;
///
/// impl UrlSessionDelegate for Podcasts {
///     async fn did_finish_downloading_to(&self, _session: &UrlSession, task: &UrlSessionTask, location: &str) {
///         // Move it now: the temp file is deleted when this returns.
///         let dest = format!("file:///Documents/{}", task.task_description());
///         if let Err(e) = FileManager::default_manager().move_item(location, &dest).await {
///             web_sys::console::error_1(&format!("not moved: {e}").into());
///         }
///     }
///     async fn did_complete_with_error(&self, _session: &UrlSession, task: &UrlSessionTask, error: Option<&bgsession::NsError>) {
///         web_sys::console::log_1(&format!("task {} done: {:?}", task.task_identifier(), error).into());
///     }
/// }
///
/// # async fn run() -> Result<(), bgsession::Error> {
/// let config = UrlSessionConfiguration::background("com.example.podcasts")?;
/// let session = UrlSession::with_delegate(&config, Podcasts)?;
/// let task = session.download_task("https://example.test/ep1.mp3")?;
/// task.set_task_description("ep1.mp3".into());
/// task.resume().await?;
/// # Ok(()) }
/// ```
#[allow(async_fn_in_trait, unused_variables)]
pub trait UrlSessionDelegate: 'static {
    /// `urlSession(_:downloadTask:didWriteData:totalBytesWritten:totalBytesExpectedToWrite:)`;
    /// `total_bytes_expected_to_write` is -1 when unknown. Coalesced on replay.
    async fn did_write_data(&self, session: &UrlSession, task: &UrlSessionTask, bytes_written: u64, total_bytes_written: u64, total_bytes_expected_to_write: i64) {}

    /// `urlSession(_:downloadTask:didResumeAtOffset:expectedTotalBytes:)`.
    async fn did_resume_at_offset(&self, session: &UrlSession, task: &UrlSessionTask, file_offset: u64, expected_total_bytes: i64) {}

    /// `urlSession(_:downloadTask:didFinishDownloadingTo:)`: `location`
    /// (`file:///tmp/…`) is deleted when this returns unless moved.
    async fn did_finish_downloading_to(&self, session: &UrlSession, task: &UrlSessionTask, location: &str) {}

    /// `urlSession(_:task:didSendBodyData:totalBytesSent:totalBytesExpectedToSend:)`
    /// (coarse: once, when the server has the whole body).
    async fn did_send_body_data(&self, session: &UrlSession, task: &UrlSessionTask, bytes_sent: u64, total_bytes_sent: u64, total_bytes_expected_to_send: i64) {}

    /// `urlSession(_:dataTask:didReceive:)`, for uploads: part of the
    /// server's response body.
    async fn did_receive_data(&self, session: &UrlSession, task: &UrlSessionTask, data: &[u8]) {}

    /// `urlSession(_:taskIsWaitingForConnectivity:)`.
    async fn task_is_waiting_for_connectivity(&self, session: &UrlSession, task: &UrlSessionTask) {}

    /// Return true if you implement [`will_begin_delayed_request`](Self::will_begin_delayed_request):
    /// a task with an `earliest_begin_date` then waits for its answer (JS
    /// delegates are asked only if they have the method; Rust cannot see
    /// whether a default method was overridden).
    fn asks_before_delayed_requests(&self) -> bool {
        false
    }

    /// `urlSession(_:task:willBeginDelayedRequest:completionHandler:)`.
    async fn will_begin_delayed_request(&self, session: &UrlSession, task: &UrlSessionTask, request: &Request) -> DelayedRequestDisposition {
        DelayedRequestDisposition::ContinueLoading
    }

    /// `urlSession(_:task:didCompleteWithError:)`: `None` on success (an
    /// HTTP error status is not an error).
    async fn did_complete_with_error(&self, session: &UrlSession, task: &UrlSessionTask, error: Option<&NsError>) {}

    /// `urlSessionDidFinishEvents(forBackgroundURLSession:)`: every queued
    /// event has been delivered after a relaunch.
    async fn url_session_did_finish_events(&self, session: &UrlSession) {}

    /// `urlSession(_:didBecomeInvalidWithError:)`.
    async fn did_become_invalid_with_error(&self, session: &UrlSession, error: Option<&NsError>) {}
}

/// The page's [`ErasedDelegate`] is any [`UrlSessionDelegate`]: each call
/// makes the handles its methods take.
impl<D: UrlSessionDelegate> ErasedDelegate for D {
    fn task_event<'a>(&'a self, session: Rc<SessionInner>, task: Rc<TaskInner>, call: &'a DelegateCall) -> LocalFuture<'a, ()> {
        Box::pin(async move {
            let (session, task) = (&UrlSession { inner: session }, &UrlSessionTask { inner: task });
            let n = |i: usize| match &call.args {
                CallArgs::Numbers(v) => v.get(i).copied().unwrap_or(0.0),
                _ => 0.0,
            };
            match (call.method, &call.args) {
                ("didWriteData", _) => self.did_write_data(session, task, n(0) as u64, n(1) as u64, n(2) as i64).await,
                ("didResumeAtOffset", _) => self.did_resume_at_offset(session, task, n(0) as u64, n(1) as i64).await,
                ("didSendBodyData", _) => self.did_send_body_data(session, task, n(0) as u64, n(1) as u64, n(2) as i64).await,
                ("didFinishDownloadingTo", CallArgs::Location(l)) => self.did_finish_downloading_to(session, task, l).await,
                ("didReceiveData", CallArgs::Bytes(b)) => self.did_receive_data(session, task, b).await,
                ("taskIsWaitingForConnectivity", _) => self.task_is_waiting_for_connectivity(session, task).await,
                ("didCompleteWithError", CallArgs::Error(e)) => self.did_complete_with_error(session, task, e.as_ref()).await,
                _ => {}
            }
        })
    }

    fn asks(&self) -> bool {
        self.asks_before_delayed_requests()
    }

    fn delayed<'a>(&'a self, session: Rc<SessionInner>, task: Rc<TaskInner>, request: &'a Request) -> LocalFuture<'a, DelayedAnswer> {
        Box::pin(async move {
            let (session, task) = (UrlSession { inner: session }, UrlSessionTask { inner: task });
            match self.will_begin_delayed_request(&session, &task, request).await {
                DelayedRequestDisposition::ContinueLoading => DelayedAnswer::Continue,
                DelayedRequestDisposition::Cancel => DelayedAnswer::Cancel,
                DelayedRequestDisposition::UseNewRequest(r) => match r.validated() {
                    Ok(request) => DelayedAnswer::Request { request },
                    Err(e) => {
                        js::console_error(&format!("bgsession: willBeginDelayedRequest returned a bad request ({e}); the task continues with its own"));
                        DelayedAnswer::Continue
                    }
                },
            }
        })
    }

    fn finished_events(&self, session: Rc<SessionInner>) -> LocalFuture<'_, ()> {
        Box::pin(async move { self.url_session_did_finish_events(&UrlSession { inner: session }).await })
    }

    fn invalid<'a>(&'a self, session: Rc<SessionInner>, error: Option<&'a NsError>) -> LocalFuture<'a, ()> {
        Box::pin(async move { self.did_become_invalid_with_error(&UrlSession { inner: session }, error).await })
    }
}
