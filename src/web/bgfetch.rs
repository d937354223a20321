//! The Background Fetch transport: the browser's own download service runs
//! the transfer (it goes on with no worker alive, and wakes the worker with
//! `backgroundfetchsuccess/fail/abort`); the daemon then copies the body
//! into the segment store and journals the same events as the fetch
//! transport, so the delegate cannot tell them apart.

use crate::core::journal::Event;
use crate::core::task::{TaskRecord, TaskState};
use crate::core::transfer::{self, Failure, SettledDecision};
use crate::web::bytes;
use crate::web::js;
use crate::web::store::Store;
use crate::web::transport;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;

/// Re-attaches this worker to the task's running Background Fetch (started
/// by the page: Chromium refuses to start one from a worker) to journal its
/// progress. False if the browser has no such fetch.
pub async fn attach(task: &TaskRecord) -> Result<bool, JsValue> {
    let Some(id) = task.bg_fetch_id.clone() else { return Ok(false) };
    let (session, task_id) = (task.session.clone(), task.task_id);
    let on_progress = Closure::<dyn FnMut(f64, f64)>::new(move |downloaded: f64, total: f64| {
        let session = session.clone();
        spawn_local(async move {
            if let Err(e) = progress(&session, task_id, downloaded, total).await {
                js::console_warn(&format!("bgsession: Background Fetch progress: {}", js::message(&e)));
            }
        });
    });
    let found = js::wait(js::bg_fetch_attach(&id, on_progress.as_ref().unchecked_ref())).await?;
    // The browser calls it for as long as this worker lives.
    on_progress.forget();
    Ok(found.as_bool().unwrap_or(false))
}

async fn progress(session: &str, task_id: u64, downloaded: f64, total: f64) -> Result<(), JsValue> {
    let store = crate::web::daemon::daemon_store().await?;
    let Some(mut task) = store.get_task(session, task_id).await? else { return Ok(()) };
    if task.state != TaskState::Running || !task.segments.is_empty() {
        return Ok(());
    }
    // While the browser downloads, the counters show its figures; the
    // segments are written when the body is handed over.
    task.bytes_received = downloaded as u64;
    task.bytes_expected = (total > 0.0).then_some(total as u64);
    let ev = Event::DidWriteData { total_bytes_written: task.bytes_received, total_bytes_expected_to_write: task.expected_or_unknown() };
    crate::web::daemon::journal_running(&store, &task, None, vec![ev]).await
}

/// Stops the task's Background Fetch, if any (suspend, cancel).
pub async fn abort(task: &TaskRecord) {
    if let Some(id) = &task.bg_fetch_id {
        if let Err(e) = js::wait(js::bg_fetch_abort(id)).await {
            js::console_warn(&format!("bgsession: aborting Background Fetch {id}: {}", js::message(&e)));
        }
    }
}

/// What a settled Background Fetch means for its task, once decided: the
/// daemon applies it.
pub enum Settled {
    /// Not ours, or the task moved on (suspended, cancelled, already done).
    Stale,
    Finished(TaskRecord),
    Failed(TaskRecord, Failure),
    Ended(TaskRecord, crate::core::error::NsError),
}

/// Handles `backgroundfetch{success,fail,abort}` for `registration`.
pub async fn settled(kind: &str, registration: &JsValue) -> Result<Settled, JsValue> {
    let id = js::get(registration, "id").as_string().unwrap_or_default();
    let store = crate::web::daemon::daemon_store().await?;
    let Some(mut task) = store.tasks(None).await?.into_iter().find(|t| t.bg_fetch_id.as_deref() == Some(id.as_str())) else {
        return Ok(Settled::Stale);
    };
    if task.state != TaskState::Running || crate::web::daemon::is_stopping(&task.session, task.task_id) {
        return Ok(Settled::Stale);
    }
    let reason = js::get(registration, "failureReason").as_string().unwrap_or_default();
    let response = js::wait(js::bg_fetch_response(registration)).await.unwrap_or(JsValue::NULL);
    task.bg_fetch_id = None;
    match transfer::on_background_fetch_settled(kind, &reason, !response.is_null()) {
        SettledDecision::Fail(err) => Ok(Settled::Ended(task, err)),
        SettledDecision::Retry(f) => Ok(Settled::Failed(task, f)),
        SettledDecision::Ingest => match ingest(&store, &mut task, response.unchecked_into()).await {
            Ok(()) => Ok(Settled::Finished(task)),
            Err(f) => Ok(Settled::Failed(task, f)),
        },
    }
}

/// Copies the response body into the segment store.
async fn ingest(store: &Store, task: &mut TaskRecord, response: web_sys::Response) -> Result<(), Failure> {
    let bytes = bytes::shared().await.map_err(|e| Failure::Write(js::message(&e)))?;
    let info = transport::head_of(&response);
    task.discard_bytes();
    task.bytes_expected = info.content_length();
    task.current_request.url = info.url.clone();
    task.response = Some(info);
    let reader: JsValue = match response.body() {
        Some(body) => body.get_reader().into(),
        None => JsValue::NULL,
    };
    let carry = JsValue::from(js_sys::Object::new());
    let mut done = reader.is_null();
    while !done {
        let index = task.segments.len();
        let started = bytes.start_segment(&reader, &task.blob_id, index, crate::web::daemon::SEGMENT_BYTES, 60_000.0, 60_000.0, &carry);
        let seg = bytes::Segment::from_js(started).await.map_err(|e| transport::classify(&e))?;
        seg.persisted().await.map_err(|e| transport::classify(&e))?;
        transfer::on_segment_stored(task, seg.written);
        done = seg.done;
        if let Some(e) = seg.broken {
            return Err(transport::classify(&e));
        }
    }
    transfer::on_body_end(task)?;
    let ev = Event::DidWriteData { total_bytes_written: task.bytes_received, total_bytes_expected_to_write: task.expected_or_unknown() };
    crate::web::daemon::journal_running(store, task, None, vec![ev]).await.map_err(|e| Failure::Write(js::message(&e)))
}
