//! The Background Fetch transport, as the worker host sees it: the
//! browser's own download service runs the transfer (it goes on with no
//! worker alive, and wakes the worker with `backgroundfetchsuccess/fail/abort`).
//! The daemon machine decides what its progress and its end mean
//! (`Daemon::handle_background_fetch_progress` and `_settled`); this module
//! only listens to the browser, aborts, and hands over the response.

use crate::web::js;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// Attaches this worker to the running Background Fetch `id` (started by
/// the page: Chromium refuses to start one from a worker); `on_progress`
/// gets `(downloaded, total)` for as long as this worker lives. False if
/// the browser has no such fetch (not started yet, or already settled).
pub async fn attach(id: &str, on_progress: impl Fn(u64, u64) + 'static) -> Result<bool, JsValue> {
    let callback = Closure::<dyn FnMut(f64, f64)>::new(move |downloaded: f64, total: f64| {
        on_progress(downloaded.max(0.0) as u64, total.max(0.0) as u64);
    });
    let found = js::wait(js::bg_fetch_attach(id, callback.as_ref().unchecked_ref())).await?;
    // The browser calls it for as long as this worker lives.
    callback.forget();
    Ok(found.as_bool().unwrap_or(false))
}

/// Stops the Background Fetch `id`, if the browser still runs it.
pub async fn abort(id: &str) {
    if let Err(e) = js::wait(js::bg_fetch_abort(id)).await {
        js::console_warn(&format!("bgsession: aborting Background Fetch {id}: {}", js::message(&e)));
    }
}

/// A settled registration's id, `failureReason` and response (if it has one).
pub async fn settled(registration: &JsValue) -> (String, String, Option<web_sys::Response>) {
    let id = js::get(registration, "id").as_string().unwrap_or_default();
    let reason = js::get(registration, "failureReason").as_string().unwrap_or_default();
    let response = js::wait(js::bg_fetch_response(registration)).await.ok().filter(|r| r.is_object()).map(|r| r.unchecked_into());
    (id, reason, response)
}
