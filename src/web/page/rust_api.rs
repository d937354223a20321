//! The page API for Rust apps: the same types as JS uses, with Rust names
//! and Rust types (`&str`, `u64`, [`Request`], enums, [`Error`]), `async`
//! where JS returns a Promise, and a [`UrlSessionDelegate`] trait instead of
//! a JS object. The JS-facing methods of the same types are hidden from these
//! docs (they take and return `JsValue`s).

use crate::core::error::{NsError, UsageError};
use crate::core::request::{Request, ResponseInfo};
use crate::core::task::{TaskKind, TaskState};
use crate::web::js;
use crate::web::page::delegate::{Error, UrlSessionDelegate};
use crate::web::page::state::DelegateTarget;
use crate::web::page::{FileManager, UiApplication, UrlSession, UrlSessionConfiguration, UrlSessionTask};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// What a task is asked to fetch: a URL (`&str`, `String`) or a [`Request`].
pub enum TaskRequest {
    /// An absolute URL, or one relative to the page (resolved against its
    /// location): a GET for downloads, a POST for uploads.
    Url(String),
    /// A full request: URL, method, headers.
    Request(Request),
}

impl From<&str> for TaskRequest {
    fn from(s: &str) -> Self {
        TaskRequest::Url(s.to_string())
    }
}
impl From<String> for TaskRequest {
    fn from(s: String) -> Self {
        TaskRequest::Url(s)
    }
}
impl From<Request> for TaskRequest {
    fn from(r: Request) -> Self {
        TaskRequest::Request(r)
    }
}

impl TaskRequest {
    fn to_js(&self) -> JsValue {
        match self {
            TaskRequest::Url(u) => JsValue::from_str(u),
            TaskRequest::Request(r) => js::to_js(r),
        }
    }
}

/// The Rust view of the task object a JS-facing method returned.
fn task_of(session: &UrlSession, v: JsValue) -> Result<UrlSessionTask, Error> {
    let id = js::get(&v, "taskIdentifier").as_f64().ok_or_else(|| Error::Js(js::error("TypeError", "not a task")))? as u64;
    session.task_with_identifier(id).ok_or_else(|| Error::Js(js::error("TypeError", "task not in its session")))
}

impl UrlSessionConfiguration {
    /// `URLSessionConfiguration.background(withIdentifier:)`; an empty
    /// identifier is [`UsageError::EmptyIdentifier`].
    pub fn background(identifier: &str) -> Result<UrlSessionConfiguration, Error> {
        Ok(Self::from_data(crate::core::config::ConfigData::background(identifier)?))
    }
}

impl UrlSession {
    /// `URLSession(configuration:delegate:delegateQueue:)` with a Rust
    /// delegate: registers the daemon worker and starts delivering the
    /// identifier's events to `delegate`.
    pub fn with_delegate<D: UrlSessionDelegate>(configuration: &UrlSessionConfiguration, delegate: D) -> Result<UrlSession, Error> {
        Ok(Self::create(configuration, DelegateTarget::Rust(Rc::new(delegate)))?)
    }

    /// `downloadTask(with:)`: a suspended task; call [`UrlSessionTask::resume`].
    pub fn download_task(&self, request: impl Into<TaskRequest>) -> Result<UrlSessionTask, Error> {
        let v = self.js_download_task(request.into().to_js(), None).map_err(Error::Js)?;
        task_of(self, v)
    }

    /// `downloadTask(withResumeData:)`.
    pub fn download_task_with_resume_data(&self, resume_data: &[u8]) -> Result<UrlSessionTask, Error> {
        let v = self.js_download_task_with_resume_data(js_sys::Uint8Array::from(resume_data).into(), None).map_err(Error::Js)?;
        task_of(self, v)
    }

    /// `uploadTask(with:fromFile:)`: `from_file` is a sandbox location
    /// (`file:///Documents/…`); a bare URL uploads with POST.
    pub fn upload_task(&self, request: impl Into<TaskRequest>, from_file: &str) -> Result<UrlSessionTask, Error> {
        let v = self.js_upload_task(request.into().to_js(), JsValue::from_str(from_file), None).map_err(Error::Js)?;
        task_of(self, v)
    }

    /// `getAllTasks`: the tasks that have not completed, also those made
    /// before a reload.
    pub async fn get_all_tasks(&self) -> Result<Vec<UrlSessionTask>, Error> {
        let all = self.js_get_all_tasks().await?;
        all.iter().map(|v| task_of(self, v)).collect()
    }
}

impl UrlSessionTask {
    /// `taskIdentifier`: unique in its session, stable across reloads.
    pub fn task_identifier(&self) -> u64 {
        self.inner.record.borrow().task_id
    }

    /// Download or upload.
    pub fn kind(&self) -> TaskKind {
        self.inner.record.borrow().kind
    }

    /// `state`.
    pub fn state(&self) -> TaskState {
        self.inner.record.borrow().state
    }

    /// `originalRequest`: the request the task was made with.
    pub fn original_request(&self) -> Request {
        self.inner.record.borrow().original_request.clone()
    }

    /// The request last made (after redirects, or `willBeginDelayedRequest`'s new one).
    pub fn current_request(&self) -> Request {
        self.inner.record.borrow().current_request.clone()
    }

    /// The server's answer, once there is one.
    pub fn response(&self) -> Option<ResponseInfo> {
        self.inner.record.borrow().response.clone()
    }

    /// The error the task completed with.
    pub fn error(&self) -> Option<NsError> {
        self.inner.record.borrow().error.clone()
    }

    /// `countOfBytesReceived`: body bytes stored so far (as of the last
    /// event delivered to this page). For an upload: response bytes delivered.
    pub fn count_of_bytes_received(&self) -> u64 {
        self.inner.record.borrow().bytes_received
    }

    /// -1 while unknown (`NSURLSessionTransferSizeUnknown`).
    pub fn count_of_bytes_expected_to_receive(&self) -> i64 {
        self.inner.record.borrow().expected_or_unknown()
    }

    /// `countOfBytesSent` (uploads): 0 until the server has answered, then
    /// the file's size (browsers report no finer upload progress).
    pub fn count_of_bytes_sent(&self) -> u64 {
        self.inner.record.borrow().bytes_sent
    }

    /// `countOfBytesExpectedToSend` (uploads): the file's size in bytes.
    pub fn count_of_bytes_expected_to_send(&self) -> u64 {
        self.inner.record.borrow().bytes_expected_to_send
    }

    /// Milliseconds since the epoch, if set.
    pub fn earliest_begin_date(&self) -> Option<f64> {
        self.inner.record.borrow().earliest_begin_date
    }

    /// Not before this time (milliseconds since the epoch); set before `resume()`.
    pub fn set_earliest_begin_date(&self, ms: Option<f64>) -> Result<(), Error> {
        if ms.is_some_and(|m| !m.is_finite()) {
            return Err(UsageError::InvalidArgument { what: "earliestBeginDate must be a finite time".into() }.into());
        }
        self.inner.record.borrow_mut().earliest_begin_date = ms;
        Ok(())
    }

    /// `cancel(byProducingResumeData:)`: `None` when the transfer cannot be continued.
    pub async fn cancel_by_producing_resume_data(&self) -> Result<Option<Vec<u8>>, Error> {
        let v = self.js_cancel_by_producing_resume_data().await?;
        Ok(v.dyn_ref::<js_sys::Uint8Array>().map(|a| a.to_vec()))
    }
}

/// `FileManager.default.attributesOfItem(atPath:)`.
#[derive(Clone, Debug, PartialEq)]
pub struct FileAttributes {
    /// `.size`, in bytes.
    pub size: u64,
    /// `.modificationDate`, in milliseconds since the epoch.
    pub modification_date: f64,
}

/// One entry of [`FileManager::largest_files`].
#[derive(Clone, Debug, PartialEq)]
pub struct FileEntry {
    /// `file:///…` location.
    pub url: String,
    /// Bytes.
    pub size: u64,
    /// Milliseconds since the epoch.
    pub modification_date: f64,
}

/// [`FileManager::usage`], in bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct StorageUsage {
    /// Under `file:///tmp/`.
    pub tmp: u64,
    /// Under `file:///Documents/`.
    pub documents: u64,
    /// Under `file:///Library/Caches/`.
    pub caches: u64,
    /// Every file of the sandbox.
    pub total: u64,
    /// The origin's quota (`navigator.storage.estimate()`), -1 when unknown.
    pub quota: f64,
}

fn date_ms(v: &JsValue) -> f64 {
    v.dyn_ref::<js_sys::Date>().map_or(0.0, |d| d.get_time())
}

impl FileManager {
    /// Moves a file (no bytes are copied).
    pub async fn move_item(&self, at: &str, to: &str) -> Result<(), Error> {
        Ok(self.js_move_item(at.into(), to.into()).await?)
    }

    /// `copyItem(at:to:)`: copies a file's bytes to a new location; fails if
    /// `at` is missing (code 4) or `to` exists (code 516).
    pub async fn copy_item(&self, at: &str, to: &str) -> Result<(), Error> {
        Ok(self.js_copy_item(at.into(), to.into()).await?)
    }

    /// Removes a file, or every file under a directory.
    pub async fn remove_item(&self, at: &str) -> Result<(), Error> {
        Ok(self.js_remove_item(at.into()).await?)
    }

    /// `fileExists(atPath:)`: true for a file, a directory holding files, or a
    /// sandbox root.
    pub async fn file_exists(&self, at: &str) -> Result<bool, Error> {
        Ok(self.js_file_exists(at.into()).await?)
    }

    /// The file's bytes, as a Blob (read it with `Blob::array_buffer`).
    pub async fn contents(&self, at: &str) -> Result<web_sys::Blob, Error> {
        Ok(self.js_contents(at.into()).await?)
    }

    /// Locations directly inside a directory; subdirectories end in `/`.
    pub async fn contents_of_directory(&self, at: &str) -> Result<Vec<String>, Error> {
        Ok(self.js_contents_of_directory(at.into()).await?.iter().filter_map(|v| v.as_string()).collect())
    }

    /// `attributesOfItem(atPath:)`: size and modification date of a file.
    pub async fn attributes_of_item(&self, at: &str) -> Result<FileAttributes, Error> {
        let v = self.js_attributes_of_item(at.into()).await?;
        Ok(FileAttributes { size: js::get(&v, "size").as_f64().unwrap_or(0.0) as u64, modification_date: date_ms(&js::get(&v, "modificationDate")) })
    }

    /// Space used per sandbox directory, and the origin's quota.
    pub async fn usage(&self) -> Result<StorageUsage, Error> {
        let v = self.js_usage().await?;
        let n = |k: &str| js::get(&v, k).as_f64().unwrap_or(0.0);
        Ok(StorageUsage { tmp: n("tmp") as u64, documents: n("documents") as u64, caches: n("caches") as u64, total: n("total") as u64, quota: n("quota") })
    }

    /// The `limit` largest files, largest first.
    pub async fn largest_files(&self, limit: u32) -> Result<Vec<FileEntry>, Error> {
        let all = self.js_largest_files(Some(limit)).await?;
        Ok(all
            .iter()
            .map(|v| FileEntry {
                url: js::get(&v, "url").as_string().unwrap_or_default(),
                size: js::get(&v, "size").as_f64().unwrap_or(0.0) as u64,
                modification_date: date_ms(&js::get(&v, "modificationDate")),
            })
            .collect())
    }
}

/// The completion handler `handle_events_for_background_url_session`
/// receives: call it once every event was delivered
/// (from `url_session_did_finish_events`).
pub struct CompletionHandler(js_sys::Function);

impl CompletionHandler {
    /// Calls the handler, as an iOS app does once it has handled the
    /// session's events; the identifier then shows in
    /// `UIApplication.shared.completedBackgroundSessions`. Consumes it: one call.
    pub fn call(self) {
        let _ = self.0.call0(&JsValue::UNDEFINED);
    }
}

/// The app delegate for Rust apps:
/// `application(_:handleEventsForBackgroundURLSession:completionHandler:)`.
/// Any `Fn(&str, CompletionHandler)` closure is one.
pub trait ApplicationDelegate: 'static {
    /// `application(_:handleEventsForBackgroundURLSession:completionHandler:)`:
    /// the session `identifier` has queued events. Recreate it (its delegate
    /// then receives them) and keep `completion_handler` to call from
    /// [`UrlSessionDelegate::url_session_did_finish_events`].
    fn handle_events_for_background_url_session(&self, identifier: &str, completion_handler: CompletionHandler);
}

impl<F: Fn(&str, CompletionHandler) + 'static> ApplicationDelegate for F {
    fn handle_events_for_background_url_session(&self, identifier: &str, completion_handler: CompletionHandler) {
        self(identifier, completion_handler)
    }
}

impl UiApplication {
    /// Sets the app delegate: the page's "launch". Each session identifier
    /// with queued events is handed to it once.
    pub fn set_delegate(&self, delegate: impl ApplicationDelegate) {
        let f = Closure::<dyn Fn(String, js_sys::Function)>::new(move |id: String, done: js_sys::Function| {
            delegate.handle_events_for_background_url_session(&id, CompletionHandler(done));
        });
        let obj = js::object(&[("handleEventsForBackgroundURLSession", f.into_js_value())]);
        self.js_set_delegate(obj);
    }
}
