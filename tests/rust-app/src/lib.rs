//! An app written in Rust: the same flow as the JS fixture app
//! (`tests/fixtures/app.js`), through bgsession's Rust API. Every delegate
//! call is recorded in `window.log` in the same shape, so the end-to-end
//! test reads it the same way.

use bgsession::{
    CompletionHandler, DelayedRequestDisposition, FileManager, NsError, Request, TaskState, UiApplication, UrlSession,
    UrlSessionConfiguration, UrlSessionDelegate, UrlSessionTask,
};
use std::cell::RefCell;
use std::collections::HashMap;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

thread_local! {
    static SESSIONS: RefCell<HashMap<String, UrlSession>> = RefCell::new(HashMap::new());
    static HANDLERS: RefCell<HashMap<String, CompletionHandler>> = RefCell::new(HashMap::new());
}

/// Appends `[items…]` to `window.log`.
fn rec(items: &[JsValue]) {
    let window = js_sys::global();
    let mut log = js_sys::Reflect::get(&window, &"log".into()).unwrap_or(JsValue::UNDEFINED);
    if !log.is_object() {
        log = js_sys::Array::new().into();
        let _ = js_sys::Reflect::set(&window, &"log".into(), &log);
    }
    let entry: js_sys::Array = items.iter().collect();
    log.unchecked_ref::<js_sys::Array>().push(&entry);
}

fn id_of(task: &UrlSessionTask) -> JsValue {
    JsValue::from_f64(task.task_identifier() as f64)
}

fn state_name(s: TaskState) -> &'static str {
    match s {
        TaskState::Running => "running",
        TaskState::Suspended => "suspended",
        TaskState::Canceling => "canceling",
        TaskState::Completed => "completed",
    }
}

struct Recorder;

impl UrlSessionDelegate for Recorder {
    async fn did_write_data(&self, _s: &UrlSession, task: &UrlSessionTask, written: u64, total: u64, expected: i64) {
        rec(&[("didWriteData").into(), id_of(task), (written as f64).into(), (total as f64).into(), (expected as f64).into()]);
    }

    async fn did_resume_at_offset(&self, _s: &UrlSession, task: &UrlSessionTask, offset: u64, expected: i64) {
        rec(&["didResumeAtOffset".into(), id_of(task), (offset as f64).into(), (expected as f64).into()]);
    }

    async fn did_finish_downloading_to(&self, _s: &UrlSession, task: &UrlSessionTask, location: &str) {
        let status = task.response().map_or(JsValue::NULL, |r| JsValue::from_f64(r.status_code as f64));
        rec(&["didFinishDownloadingTo".into(), id_of(task), location.into(), status]);
        let dest = format!("file:///Documents/{}", task.task_description());
        match FileManager::default_manager().move_item(location, &dest).await {
            Ok(()) => rec(&["moved".into(), id_of(task), dest.into()]),
            Err(e) => rec(&["moveFailed".into(), id_of(task), e.to_string().into()]),
        }
    }

    async fn did_send_body_data(&self, _s: &UrlSession, task: &UrlSessionTask, sent: u64, total: u64, expected: i64) {
        rec(&["didSendBodyData".into(), id_of(task), (sent as f64).into(), (total as f64).into(), (expected as f64).into()]);
    }

    async fn did_receive_data(&self, _s: &UrlSession, task: &UrlSessionTask, data: &[u8]) {
        rec(&["didReceiveData".into(), id_of(task), String::from_utf8_lossy(data).into_owned().into()]);
    }

    fn asks_before_delayed_requests(&self) -> bool {
        true
    }

    async fn will_begin_delayed_request(&self, _s: &UrlSession, task: &UrlSessionTask, request: &Request) -> DelayedRequestDisposition {
        rec(&["willBeginDelayedRequest".into(), id_of(task), request.url.clone().into()]);
        match task.task_description().as_str() {
            "cancel" => DelayedRequestDisposition::Cancel,
            d if d.starts_with("swap:") => DelayedRequestDisposition::UseNewRequest(Request::get(&d[5..]).expect("a URL")),
            _ => DelayedRequestDisposition::ContinueLoading,
        }
    }

    async fn did_complete_with_error(&self, _s: &UrlSession, task: &UrlSessionTask, error: Option<&NsError>) {
        let code = error.map_or(JsValue::NULL, |e| JsValue::from_f64(e.code as f64));
        rec(&["didCompleteWithError".into(), id_of(task), code, state_name(task.state()).into()]);
    }

    async fn url_session_did_finish_events(&self, session: &UrlSession) {
        let id = session.configuration().identifier();
        rec(&["urlSessionDidFinishEvents".into(), id.clone().into()]);
        if let Some(done) = HANDLERS.with(|h| h.borrow_mut().remove(&id)) {
            done.call();
            rec(&["completionHandlerCalled".into(), id.into()]);
        }
    }
}

/// Opens (once) the session `identifier` with the Rust delegate.
#[wasm_bindgen(js_name = openSession)]
pub fn open_session(identifier: &str) -> Result<(), JsValue> {
    if SESSIONS.with(|s| s.borrow().contains_key(identifier)) {
        return Ok(());
    }
    let config = UrlSessionConfiguration::background(identifier)?;
    config.set_service_worker_url("/bgsession-sw.js".into());
    let session = UrlSession::with_delegate(&config, Recorder)?;
    SESSIONS.with(|s| s.borrow_mut().insert(identifier.to_string(), session));
    Ok(())
}

fn session(identifier: &str) -> Result<UrlSession, JsValue> {
    open_session(identifier)?;
    Ok(SESSIONS.with(|s| s.borrow().get(identifier).cloned()).expect("opened"))
}

/// The app's launch: the app delegate gets every identifier with queued events.
#[wasm_bindgen]
pub fn launch() {
    UiApplication::shared().set_delegate(|identifier: &str, done: CompletionHandler| {
        rec(&["handleEventsForBackgroundURLSession".into(), identifier.into()]);
        HANDLERS.with(|h| h.borrow_mut().insert(identifier.to_string(), done));
        if let Err(e) = open_session(identifier) {
            rec(&["openFailed".into(), e]);
        }
    });
}

/// Starts a download; resolves with its task identifier.
#[wasm_bindgen]
pub async fn download(identifier: String, url: String, description: String, begin_in_ms: Option<f64>) -> Result<f64, JsValue> {
    let task = session(&identifier)?.download_task(url.as_str())?;
    task.set_task_description(description);
    if let Some(ms) = begin_in_ms {
        task.set_earliest_begin_date(Some(js_sys::Date::now() + ms))?;
    }
    task.resume().await?;
    Ok(task.task_identifier() as f64)
}

/// Uploads a sandbox file with PUT; resolves with its task identifier.
#[wasm_bindgen]
pub async fn upload(identifier: String, url: String, from_file: String) -> Result<f64, JsValue> {
    let mut request = Request::get(&url).map_err(|e| JsValue::from_str(&e.to_string()))?;
    request.method = "PUT".into();
    let task = session(&identifier)?.upload_task(request, &from_file)?;
    task.resume().await?;
    Ok(task.task_identifier() as f64)
}

/// `getAllTasks` as `[[taskIdentifier, state, received, expected]]`.
#[wasm_bindgen(js_name = allTasks)]
pub async fn all_tasks(identifier: String) -> Result<js_sys::Array, JsValue> {
    let out = js_sys::Array::new();
    for t in session(&identifier)?.get_all_tasks().await? {
        let row: js_sys::Array = [
            JsValue::from_f64(t.task_identifier() as f64),
            state_name(t.state()).into(),
            JsValue::from_f64(t.count_of_bytes_received() as f64),
            JsValue::from_f64(t.count_of_bytes_expected_to_receive() as f64),
        ]
        .iter()
        .collect();
        out.push(&row);
    }
    Ok(out)
}

/// A file's bytes (the test hashes them).
#[wasm_bindgen]
pub async fn contents(location: String) -> Result<web_sys::Blob, JsValue> {
    Ok(FileManager::default_manager().contents(&location).await?)
}

/// `usage()` as `{documents, total}` and the largest file's URL.
#[wasm_bindgen]
pub async fn storage() -> Result<JsValue, JsValue> {
    let fm = FileManager::default_manager();
    let u = fm.usage().await?;
    let largest = fm.largest_files(1).await?;
    let o = js_sys::Object::new();
    js_sys::Reflect::set(&o, &"documents".into(), &JsValue::from_f64(u.documents as f64))?;
    js_sys::Reflect::set(&o, &"total".into(), &JsValue::from_f64(u.total as f64))?;
    js_sys::Reflect::set(&o, &"largest".into(), &largest.first().map_or(JsValue::NULL, |f| f.url.clone().into()))?;
    Ok(o.into())
}

/// Rust-side rule errors, as `"Name: message"`.
#[wasm_bindgen]
pub fn rules() -> js_sys::Array {
    let mut out = Vec::new();
    out.push(UrlSessionConfiguration::background("").err().map(|e| e.to_string()).unwrap_or_default());
    if let Ok(s) = session("com.example.rust.rules") {
        out.push(s.download_task("ftp://example.test/x").err().map(|e| e.to_string()).unwrap_or_default());
        out.push(s.upload_task("https://example.test/up", "file:///etc/passwd").err().map(|e| e.to_string()).unwrap_or_default());
    }
    let dup = UrlSessionConfiguration::background("com.example.rust.rules").and_then(|c| UrlSession::with_delegate(&c, Recorder));
    out.push(dup.err().map(|e| e.to_string()).unwrap_or_default());
    out.into_iter().map(JsValue::from).collect()
}
