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
    /// A `ReadableStreamDefaultReader`, or `null` for a body-less response.
    pub reader: JsValue,
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

/// Starts `plan`'s request; resolves at the response head. `abort` stops it;
/// no head within `timeout_ms` is a timeout (`timeoutIntervalForRequest`).
pub async fn start(plan: &FetchPlan, abort: &web_sys::AbortController, timeout_ms: f64) -> Result<Started, StartError> {
    let signal = abort.signal();
    let timed_out = std::rc::Rc::new(std::cell::Cell::new(false));
    let _watchdog = {
        let (flag, abort) = (timed_out.clone(), abort.clone());
        gloo_timers::callback::Timeout::new(timeout_ms.clamp(1.0, u32::MAX as f64) as u32, move || {
            flag.set(true);
            abort.abort();
        })
    };
    let init = web_sys::RequestInit::new();
    init.set_method(&plan.request.method);
    let headers = web_sys::Headers::new().map_err(|e| StartError::Failed(Failure::Connect(js::message(&e))))?;
    for (k, v) in &plan.request.headers {
        headers
            .set(k, v)
            .map_err(|e| StartError::Failed(Failure::BadResponse(format!("header {k}: {}", js::message(&e)))))?;
    }
    init.set_headers(&headers);
    init.set_signal(Some(&signal));
    init.set_cache(web_sys::RequestCache::NoStore);
    init.set_redirect(web_sys::RequestRedirect::Follow);
    let fetch: js_sys::Function = js::get(&js::global(), "fetch").unchecked_into();
    let promise: js_sys::Promise = fetch
        .call2(&js::global(), &JsValue::from_str(&plan.request.url), &init)
        .map_err(|e| StartError::Failed(Failure::Connect(js::message(&e))))?
        .unchecked_into();
    let resp: web_sys::Response = match js::wait(promise).await {
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
    let reader = match resp.body() {
        Some(body) => body.get_reader().into(),
        None => JsValue::NULL,
    };
    Ok(Started { info, reader })
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
