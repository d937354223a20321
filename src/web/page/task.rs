//! `URLSessionTask` for JS: a view of a task record kept up to date by the
//! session as events are delivered; its methods are commands to the daemon.

use crate::core::journal::JournalEntry;
use crate::core::protocol::Command;
use crate::core::task::{TaskRecord, TaskState};
use crate::web::js::{self, to_js};
use crate::web::page::state::{Numbering, SessionInner, TaskInner};
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use wasm_bindgen::prelude::*;

impl TaskInner {
    /// `stored_at`: see [`TaskInner::set_stored`]; `None` for a task the
    /// daemon has not stored yet.
    pub(crate) fn new(record: TaskRecord, session: Weak<SessionInner>, stored_at: Option<f64>) -> Rc<Self> {
        Rc::new(TaskInner { record: RefCell::new(record), session, stored_at: Cell::new(stored_at) })
    }

    /// Has the daemon stored this task (after the first `resume()`)?
    pub(crate) fn persisted(&self) -> bool {
        self.stored_at.get().is_some()
    }

    /// The daemon has stored this task, as this page learnt at `at`
    /// (`js::monotonic_now()`: its reply came, or a read begun then listed
    /// it): from then on a read of the session that does not list it saw
    /// it end (`core::task::ended_unseen`). The first time counts.
    pub(crate) fn set_stored(&self, at: f64) {
        if self.stored_at.get().is_none() {
            self.stored_at.set(Some(at));
        }
    }

    /// Applies a journalled event to the view before the delegate sees it
    /// ([`TaskRecord::apply`]).
    pub(crate) fn apply(&self, entry: &JournalEntry) {
        self.record.borrow_mut().apply(entry);
    }

    /// Takes the daemon's copy of the record, keeping what the page owns.
    pub(crate) fn update_from(&self, stored: TaskRecord) {
        let mut r = self.record.borrow_mut();
        let description = r.task_description.clone();
        *r = stored;
        if r.task_description.is_empty() {
            r.task_description = description;
        }
    }
}

/// A download (or upload) task of a background session (`URLSessionTask`):
/// a view of the daemon's record, updated as the session delivers events.
/// Made suspended by [`UrlSession::download_task`](crate::UrlSession::download_task),
/// [`download_task_with_resume_data`](crate::UrlSession::download_task_with_resume_data)
/// or [`upload_task`](crate::UrlSession::upload_task); one object per task, so
/// the delegate receives the same one the app made.
// The example is for rustdoc only: wasm-bindgen copies doc comments
// into bgsession.d.ts, where JS readers would see Rust code.
#[cfg_attr(doc, doc = r#"# Examples

```ignore
use bgsession::{TaskState, UrlSession};

# async fn run(session: &UrlSession) -> Result<(), bgsession::Error> {
let task = session.download_task("https://example.test/ep1.mp3")?;
task.set_task_description("ep1.mp3".into());
task.set_priority(0.8)?;
// Not before a minute from now (ms since the epoch); set before resume().
task.set_earliest_begin_date(Some(js_sys::Date::now() + 60_000.0))?;
task.resume().await?;
assert_eq!(task.state(), TaskState::Running);

// Later: stop it, keeping what can be continued.
if let Some(resume_data) = task.cancel_by_producing_resume_data().await? {
    let again = session.download_task_with_resume_data(&resume_data)?;
    again.resume().await?;
}
# Ok(()) }
```"#)]
#[wasm_bindgen(js_name = URLSessionTask)]
#[derive(Clone)]
pub struct UrlSessionTask {
    pub(crate) inner: Rc<TaskInner>,
}

fn request_js(r: &crate::core::request::Request) -> JsValue {
    to_js(r)
}

#[wasm_bindgen(js_class = URLSessionTask)]
impl UrlSessionTask {
    /// Unique in its session, stable across reloads.
    #[doc(hidden)]
    #[wasm_bindgen(getter = taskIdentifier)]
    pub fn js_task_identifier(&self) -> f64 {
        self.inner.record.borrow().task_id as f64
    }

    /// "download" or "upload".
    #[doc(hidden)]
    #[wasm_bindgen(getter = kind, unchecked_return_type = "\"download\" | \"upload\"")]
    pub fn js_kind(&self) -> String {
        match self.inner.record.borrow().kind {
            crate::core::task::TaskKind::Download => "download".into(),
            crate::core::task::TaskKind::Upload => "upload".into(),
        }
    }

    /// `taskDescription`: the app's own label for the task (empty by default);
    /// kept by the page, e.g. to name the file in `didFinishDownloadingTo`.
    #[wasm_bindgen(getter = taskDescription)]
    pub fn task_description(&self) -> String {
        self.inner.record.borrow().task_description.clone()
    }
    /// Sets `taskDescription`.
    #[wasm_bindgen(setter = taskDescription)]
    pub fn set_task_description(&self, v: String) {
        self.inner.record.borrow_mut().task_description = v;
    }

    /// "running" | "suspended" | "canceling" | "completed".
    #[doc(hidden)]
    #[wasm_bindgen(getter = state, unchecked_return_type = "URLSessionTaskState")]
    pub fn js_state(&self) -> JsValue {
        js::static_str(self.inner.record.borrow().state.as_str())
    }

    /// JS `originalRequest`: `{url, method, headers}`.
    #[doc(hidden)]
    #[wasm_bindgen(getter = originalRequest, unchecked_return_type = "URLRequest")]
    pub fn js_original_request(&self) -> JsValue {
        request_js(&self.inner.record.borrow().original_request)
    }

    /// JS `currentRequest`: `{url, method, headers}`, after redirects.
    #[doc(hidden)]
    #[wasm_bindgen(getter = currentRequest, unchecked_return_type = "URLRequest")]
    pub fn js_current_request(&self) -> JsValue {
        request_js(&self.inner.record.borrow().current_request)
    }

    /// `{url, statusCode, headers}` once the server answered, else null.
    #[doc(hidden)]
    #[wasm_bindgen(getter = response, unchecked_return_type = "HTTPURLResponse | null")]
    pub fn js_response(&self) -> JsValue {
        match &self.inner.record.borrow().response {
            Some(r) => to_js(r),
            None => JsValue::NULL,
        }
    }

    /// The error the task completed with, else null (resume data in
    /// `userInfo` as a `Uint8Array`, as the delegate got it).
    #[doc(hidden)]
    #[wasm_bindgen(getter = error, unchecked_return_type = "NSError | null")]
    pub fn js_error(&self) -> JsValue {
        match &self.inner.record.borrow().error {
            Some(e) => crate::web::page::error_for_delegate(e),
            None => JsValue::NULL,
        }
    }

    /// JS `countOfBytesReceived`.
    #[doc(hidden)]
    #[wasm_bindgen(getter = countOfBytesReceived)]
    pub fn js_count_of_bytes_received(&self) -> f64 {
        self.inner.record.borrow().bytes_received as f64
    }

    /// -1 while unknown (`NSURLSessionTransferSizeUnknown`).
    #[doc(hidden)]
    #[wasm_bindgen(getter = countOfBytesExpectedToReceive)]
    pub fn js_count_of_bytes_expected_to_receive(&self) -> f64 {
        self.inner.record.borrow().expected_or_unknown() as f64
    }

    /// JS `countOfBytesSent`.
    #[doc(hidden)]
    #[wasm_bindgen(getter = countOfBytesSent)]
    pub fn js_count_of_bytes_sent(&self) -> f64 {
        self.inner.record.borrow().bytes_sent as f64
    }

    /// JS `countOfBytesExpectedToSend`.
    #[doc(hidden)]
    #[wasm_bindgen(getter = countOfBytesExpectedToSend)]
    pub fn js_count_of_bytes_expected_to_send(&self) -> f64 {
        self.inner.record.borrow().bytes_expected_to_send as f64
    }

    /// A `Date`, or null.
    #[doc(hidden)]
    #[wasm_bindgen(getter = earliestBeginDate, unchecked_return_type = "Date | null")]
    pub fn js_earliest_begin_date(&self) -> JsValue {
        match self.inner.record.borrow().earliest_begin_date {
            Some(ms) => js_sys::Date::new(&JsValue::from_f64(ms)).into(),
            None => JsValue::NULL,
        }
    }
    /// JS `earliestBeginDate = Date | ms since epoch | null`.
    #[doc(hidden)]
    #[wasm_bindgen(setter = earliestBeginDate)]
    pub fn js_set_earliest_begin_date(&self, #[wasm_bindgen(unchecked_param_type = "Date | number | null")] v: JsValue) -> Result<(), JsValue> {
        let ms = if v.is_null() || v.is_undefined() {
            None
        } else if let Some(n) = v.as_f64() {
            Some(n)
        } else if v.is_instance_of::<js_sys::Date>() {
            Some(v.unchecked_ref::<js_sys::Date>().get_time())
        } else {
            return Err(js::type_error("earliestBeginDate must be a Date, a number of milliseconds, or null"));
        };
        if ms.is_some_and(|m| !m.is_finite()) {
            return Err(js::type_error("earliestBeginDate is an invalid Date"));
        }
        self.inner.record.borrow_mut().earliest_begin_date = ms;
        Ok(())
    }

    /// `priority`: 0.0 to 1.0 (default 0.5); among a session's runnable tasks
    /// the higher start first.
    #[wasm_bindgen(getter)]
    pub fn priority(&self) -> f64 {
        self.inner.record.borrow().priority
    }
    /// Sets `priority`: 0.0 to 1.0, else an `InvalidArgument` error. The
    /// daemon learns it from `resume()`.
    #[wasm_bindgen(setter)]
    pub fn set_priority(&self, v: f64) -> Result<(), JsValue> {
        if !(0.0..=1.0).contains(&v) {
            return Err(js::error("InvalidArgument", &format!("priority must be between 0.0 and 1.0, not {v}")));
        }
        self.inner.record.borrow_mut().priority = v;
        Ok(())
    }

    /// Hands the task to the daemon; resolves once the daemon has stored it.
    pub async fn resume(&self) -> Result<(), JsValue> {
        let session = self.session()?;
        let mut record = self.inner.record.borrow().clone();
        if !self.inner.persisted() {
            record.policy = session.config.network_policy();
            let asks = session.delegate.asks_before_delayed_requests();
            record.asks_before_delayed_start = record.earliest_begin_date.is_some() && asks;
        }
        let fresh = !self.inner.persisted();
        // Until the daemon answers, the task's number may change: nothing is
        // delivered meanwhile (dropped, however this ends).
        let numbering = fresh.then(|| Numbering::start(&session));
        let msg = Command::Resume {
            task: record.clone(),
            fresh,
            id_floor: session.id_floor(),
            config: Some(session.config.clone()),
            session_description: Some(session.description.borrow().clone()),
        };
        let stored = session.ask(&msg).await?;
        let mut stored: TaskRecord = js::from_js(stored, "daemon reply")?;
        if stored.task_id != record.task_id {
            session.renumber(&self.inner, record.task_id, stored.task_id);
        }
        // Failed at once (an upload's missing file): the delegate hears it
        // from the journal; until then the task shows as running.
        stored.state = crate::core::task::shown_state(self.inner.record.borrow().state, TaskState::Running, stored.state);
        self.inner.update_from(stored);
        self.inner.set_stored(js::monotonic_now());
        drop(numbering); // filed under its final number: delivery goes on
        session.start_background_fetch(&self.inner).await;
        session.request_background_wake();
        Ok(())
    }

    /// Stops the transfer, keeping its bytes; `resume()` continues it.
    pub async fn suspend(&self) -> Result<(), JsValue> {
        self.command(TaskState::Suspended).await
    }

    /// Cancels the task: the delegate gets `didCompleteWithError` with -999.
    pub async fn cancel(&self) -> Result<(), JsValue> {
        self.command(TaskState::Canceling).await
    }

    /// Cancels the task and resolves with resume data for
    /// `session.downloadTaskWithResumeData(data)`, or null when the transfer
    /// cannot be continued (nothing stored yet, or a server without ETag /
    /// Last-Modified). The delegate gets `didCompleteWithError` with -999.
    #[doc(hidden)]
    #[wasm_bindgen(js_name = cancelByProducingResumeData, unchecked_return_type = "Uint8Array | null")]
    pub async fn js_cancel_by_producing_resume_data(&self) -> Result<JsValue, JsValue> {
        if !self.inner.persisted() {
            self.command(TaskState::Canceling).await?;
            return Ok(JsValue::NULL);
        }
        let session = self.session()?;
        let (sid, id) = {
            let r = self.inner.record.borrow();
            (r.session.clone(), r.task_id)
        };
        let data = session.ask(&Command::CancelByProducingResumeData { session: sid, task_id: id }).await?;
        {
            // Ended by the daemon: "canceling" until the delegate hears it.
            let mut r = self.inner.record.borrow_mut();
            r.state = crate::core::task::shown_state(r.state, TaskState::Canceling, TaskState::Completed);
        }
        Ok(data)
    }
}

impl UrlSessionTask {
    fn session(&self) -> Result<Rc<SessionInner>, JsValue> {
        self.inner
            .session
            .upgrade()
            .ok_or_else(|| js::error("SessionInvalidated", "this task's URLSession no longer exists"))
    }

    /// `suspend()` (`local` Suspended) or `cancel()` (Canceling).
    async fn command(&self, local: TaskState) -> Result<(), JsValue> {
        if !self.inner.persisted() && local == TaskState::Suspended {
            return Ok(()); // a task not yet resumed is already suspended
        }
        let session = self.session()?;
        let record = self.inner.record.borrow().clone();
        let (session_id, task_id) = (record.session.clone(), record.task_id);
        let msg = match local {
            TaskState::Suspended => Command::Suspend { session: session_id, task_id },
            _ => Command::Cancel { session: session_id, task_id, task: Some(record) },
        };
        let stored = session.ask(&msg).await?;
        let stored: TaskRecord = js::from_js(stored, "daemon reply")?;
        // The delegate learns of completion through the journal; keep the
        // view's state at most what was asked until then.
        let state = crate::core::task::shown_state(self.inner.record.borrow().state, local, stored.state);
        self.inner.update_from(stored);
        self.inner.record.borrow_mut().state = state;
        self.inner.set_stored(js::monotonic_now());
        Ok(())
    }
}
