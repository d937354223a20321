//! The fetch transport: starts a request and hands back the response head
//! and a body reader; classifies what went wrong.

use crate::core::request::ResponseInfo;
use crate::core::transfer::{FetchPlan, Failure};
use crate::web::js;
use std::collections::BTreeMap;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// A response whose body is still to be read.
pub struct Started {
    pub info: ResponseInfo,
    pub response: web_sys::Response,
}

impl Started {
    /// Abandons a body we will not read.
    pub fn discard(&self) {
        if let Some(body) = self.response.body() {
            let _ = body.cancel();
        }
    }
}

/// Aborts `abort` after `timeout_ms` unless the returned timer is dropped
/// first; the flag tells a timeout from another abort.
fn watchdog(abort: &web_sys::AbortController, timeout_ms: f64) -> (std::rc::Rc<std::cell::Cell<bool>>, gloo_timers::callback::Timeout) {
    let timed_out = std::rc::Rc::new(std::cell::Cell::new(false));
    let (flag, abort) = (timed_out.clone(), abort.clone());
    let timer = gloo_timers::callback::Timeout::new(timeout_ms.clamp(1.0, u32::MAX as f64) as u32, move || {
        flag.set(true);
        abort.abort();
    });
    (timed_out, timer)
}

/// Reads a whole (bounded) body as a Blob: the browser reads it natively,
/// the fast path into the store. No body within `timeout_ms` is a timeout.
pub async fn read_blob(resp: &web_sys::Response, abort: &web_sys::AbortController, timeout_ms: f64) -> Result<web_sys::Blob, StartError> {
    let (timed_out, _watchdog) = watchdog(abort, timeout_ms);
    let promise = resp.blob().map_err(|e| StartError::Failed(classify(&e)))?;
    match js::wait(promise).await {
        Ok(b) => Ok(b.unchecked_into()),
        Err(_) if timed_out.get() => Err(StartError::Failed(Failure::TimedOut(format!(
            "a segment did not arrive within {} s (timeoutIntervalForRequest)",
            (timeout_ms / 1000.0).round()
        )))),
        Err(e) if abort.signal().aborted() || js::error_name(&e) == "AbortError" => Err(StartError::Aborted),
        Err(e) => Err(StartError::Failed(classify(&e))),
    }
}

/// How a fetch attempt ended before its body.
pub enum StartError {
    /// Our own abort (suspend, cancel).
    Aborted,
    Failed(Failure),
}

fn online() -> bool {
    let nav = js::get(&js::global(), "navigator");
    js::get(&nav, "onLine").as_bool().unwrap_or(true)
}

/// Classifies an error thrown while fetching or storing a body.
pub fn classify(err: &JsValue) -> Failure {
    let name = js::error_name(err);
    let msg = js::message(err);
    if name == "QuotaExceededError" {
        Failure::Quota(msg)
    } else if name == "TimeoutError" {
        Failure::TimedOut(msg)
    } else if !online() {
        Failure::Offline
    } else if name == "InvalidStateError" || name == "UnknownError" || name == "NotAllowedError" {
        Failure::Write(msg)
    } else {
        Failure::Lost(msg)
    }
}

/// Sends `plan`'s request now (with a request body: an upload's file), so it
/// can travel while other work goes on; [`arrive`] waits for its head.
pub fn begin_with_body(plan: &FetchPlan, body: Option<&web_sys::Blob>, abort: &web_sys::AbortController) -> Result<js_sys::Promise, StartError> {
    let init = web_sys::RequestInit::new();
    if let Some(body) = body {
        init.set_body(body);
    }
    init.set_method(&plan.request.method);
    let headers = web_sys::Headers::new().map_err(|e| StartError::Failed(Failure::Connect(js::message(&e))))?;
    for (k, v) in &plan.request.headers {
        headers
            .set(k, v)
            .map_err(|e| StartError::Failed(Failure::BadResponse(format!("header {k}: {}", js::message(&e)))))?;
    }
    init.set_headers(&headers);
    init.set_signal(Some(&abort.signal()));
    init.set_cache(web_sys::RequestCache::NoStore);
    init.set_redirect(web_sys::RequestRedirect::Follow);
    let fetch: js_sys::Function = js::get(&js::global(), "fetch").unchecked_into();
    let promise = fetch
        .call2(&js::global(), &JsValue::from_str(&plan.request.url), &init)
        .map_err(|e| StartError::Failed(Failure::Connect(js::message(&e))))?;
    // Rejections are handled in `arrive`; keep an early one quiet meanwhile.
    let promise: js_sys::Promise = promise.unchecked_into();
    let quiet = Closure::<dyn FnMut(JsValue)>::new(|_e: JsValue| {});
    let _ = promise.catch(&quiet);
    quiet.forget();
    Ok(promise)
}

/// Waits for the head of a request sent by [`begin_with_body`]; none within
/// `timeout_ms` is a timeout (`timeoutIntervalForRequest`).
pub async fn arrive(pending: js_sys::Promise, abort: &web_sys::AbortController, timeout_ms: f64) -> Result<Started, StartError> {
    let signal = abort.signal();
    let (timed_out, _watchdog) = watchdog(abort, timeout_ms);
    let resp: web_sys::Response = match js::wait(pending).await {
        Ok(r) => r.unchecked_into(),
        Err(_) if timed_out.get() => {
            return Err(StartError::Failed(Failure::TimedOut(format!(
                "no response within {} s (timeoutIntervalForRequest)",
                (timeout_ms / 1000.0).round()
            ))))
        }
        Err(e) if signal.aborted() || js::error_name(&e) == "AbortError" => return Err(StartError::Aborted),
        Err(e) => {
            return Err(StartError::Failed(if online() {
                Failure::Connect(format!("{} (unreachable host, refused connection, or a cross-origin URL without CORS)", js::message(&e)))
            } else {
                Failure::Offline
            }))
        }
    };
    let info = head_of(&resp);
    Ok(Started { info, response: resp })
}

/// Explains a `fetch` that failed before any response. The browser gives
/// the same bare `TypeError` for an unreachable host and for a cross-origin
/// answer without CORS headers (whose body script may not read); an opaque
/// `no-cors` request to the same URL tells them apart: if the server answers
/// it, the failure was CORS, which no retry will fix.
pub async fn diagnose(failure: Failure, url: &str) -> Failure {
    let Failure::Connect(detail) = failure else { return failure };
    let own = js::get(&js::get(&js::global(), "location"), "origin").as_string().unwrap_or_default();
    let origin = web_sys::Url::new(url).map(|u| u.origin()).unwrap_or_default();
    if origin.is_empty() || origin == own {
        return Failure::Connect(detail);
    }
    let init = web_sys::RequestInit::new();
    init.set_mode(web_sys::RequestMode::NoCors);
    init.set_method("HEAD");
    init.set_cache(web_sys::RequestCache::NoStore);
    let fetch: js_sys::Function = js::get(&js::global(), "fetch").unchecked_into();
    let Ok(p) = fetch.call2(&js::global(), &JsValue::from_str(url), &init) else { return Failure::Connect(detail) };
    match js::wait(p.unchecked_into()).await {
        Ok(_) => Failure::NotAllowed(format!(
            "{origin} answered, but without CORS headers allowing {own} to read the response \
             (Access-Control-Allow-Origin): the browser withholds it. Serve the file with CORS, or from {own}"
        )),
        Err(_) => Failure::Connect(detail),
    }
}

/// A response's head as plain data (header names lower-cased).
pub fn head_of(resp: &web_sys::Response) -> ResponseInfo {
    let mut map = BTreeMap::new();
    if let Ok(Some(iter)) = js_sys::try_iter(&resp.headers()) {
        for pair in iter.flatten() {
            let pair: js_sys::Array = pair.unchecked_into();
            if let (Some(k), Some(v)) = (pair.get(0).as_string(), pair.get(1).as_string()) {
                map.insert(k.to_ascii_lowercase(), v);
            }
        }
    }
    ResponseInfo { url: resp.url(), status_code: resp.status(), headers: map }
}

/// Abandons a body we will not read.
pub fn discard(reader: &JsValue) {
    if !reader.is_null() {
        let r: web_sys::ReadableStreamDefaultReader = reader.clone().unchecked_into();
        let _ = r.cancel();
    }
}
