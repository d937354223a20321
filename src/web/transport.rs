//! The fetch transport: starts a request and hands back the response head
//! and a body reader; classifies what went wrong.

use crate::core::request::ResponseInfo;
use crate::core::transfer::{self, FetchPlan, Failure, RedirectProbe};
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

/// Classifies an error thrown while fetching or storing a body
/// ([`transfer::classify_error`] decides).
pub fn classify(err: &JsValue) -> Failure {
    transfer::classify_error(&js::error_name(err), js::message(err), online())
}

/// The name of the error a limited body fails with when it goes on past
/// its announced size (see [`limit_body`], [`classify`]).
const BAD_RESPONSE: &str = transfer::BAD_RESPONSE_ERROR;

/// A body without `Content-Length` (chunked) is not cut by the browser at
/// the size its `Content-Range` announced: past `transfer::body_limit` this
/// copy of the response errors with a [`BAD_RESPONSE`] error (so the reader
/// sees `transfer::body_too_long`). Other responses are returned as they are.
fn limit_body(resp: JsValue, head: &ResponseInfo) -> JsValue {
    let limit = match transfer::body_limit(head) {
        Some(l) if head.header("content-length").is_none() => l,
        _ => return resp,
    };
    let r: &web_sys::Response = resp.unchecked_ref();
    let Some(body) = r.body() else { return resp };
    let seen = std::rc::Rc::new(std::cell::Cell::new(0.0));
    let transform = Closure::<dyn FnMut(JsValue, JsValue)>::new(move |chunk: JsValue, controller: JsValue| {
        let n = seen.get() + js::get(&chunk, "byteLength").as_f64().unwrap_or(0.0);
        seen.set(n);
        let (method, arg) = if n > limit as f64 {
            let why = match transfer::body_too_long(limit) {
                Failure::BadResponse(why) => why,
                other => format!("{other:?}"),
            };
            ("error", js::error(BAD_RESPONSE, &why))
        } else {
            ("enqueue", chunk)
        };
        let f: js_sys::Function = js::get(&controller, method).unchecked_into();
        let _ = f.call1(&controller, &arg);
    });
    let transformer = js::object(&[("transform", transform.as_ref().clone())]);
    transform.forget(); // lives as long as the stream
    let global = js::global();
    let wrap = || -> Result<JsValue, JsValue> {
        let ts = js_sys::Reflect::construct(js::get(&global, "TransformStream").unchecked_ref::<js_sys::Function>(), &js_sys::Array::of1(&transformer))?;
        let pipe: js_sys::Function = js::get(&body, "pipeThrough").unchecked_into();
        let piped = pipe.call1(&body, &ts)?;
        let init = js::object(&[
            ("status", JsValue::from_f64(r.status() as f64)),
            ("statusText", JsValue::from_str(&r.status_text())),
            ("headers", r.headers().into()),
        ]);
        let copy = js_sys::Reflect::construct(js::get(&global, "Response").unchecked_ref::<js_sys::Function>(), &js_sys::Array::of2(&piped, &init))?;
        // `url` (the last redirect's) and `redirected` as the original's.
        for key in ["url", "redirected"] {
            let desc = js::object(&[("value", js::get(&resp, key))]);
            js_sys::Reflect::apply(js::get(&js::get(&global, "Object"), "defineProperty").unchecked_ref::<js_sys::Function>(), &JsValue::UNDEFINED, &js_sys::Array::of3(&copy, &JsValue::from_str(key), &desc))?;
        }
        Ok(copy)
    };
    wrap().unwrap_or(resp)
}

/// The property of a request's promise (from [`begin_with_body`]) holding the
/// request as JSON, for [`arrive`] to check the answer against.
const SENT: &str = "bgsessionRequest";

/// `transfer::check_response` on the head `resp` of the request sent as
/// `pending`: `Err` with the bad response's failure (its body dropped), or
/// the response to read (a chunked body limited, see [`limit_body`]).
fn checked(pending: &js_sys::Promise, resp: web_sys::Response) -> Result<web_sys::Response, Failure> {
    let Some(request) = js::get(pending, SENT).as_string().and_then(|j| serde_json::from_str::<crate::core::request::Request>(&j).ok()) else {
        return Ok(resp);
    };
    let head = head_of(&resp);
    if let Err(failure) = transfer::check_response(&request, &head) {
        if let Some(body) = resp.body() {
            let _ = body.cancel();
        }
        return Err(failure);
    }
    Ok(limit_body(resp.into(), &head).unchecked_into())
}

/// Sends `plan`'s request now (with a request body: an upload's file), so it
/// can travel while other work goes on; [`arrive`] waits for its head and
/// checks it against the request (`transfer::check_response`).
pub fn begin_with_body(plan: &FetchPlan, body: Option<&web_sys::Blob>, abort: &web_sys::AbortController) -> Result<js_sys::Promise, StartError> {
    let init = web_sys::RequestInit::new();
    if let Some(body) = body {
        init.set_body(body);
    }
    init.set_method(&plan.request.method);
    // A stored request with a header the browser refuses or drops (written
    // by an older build, or by other code): -1000, not retried.
    crate::core::request::check_headers(&plan.request.headers).map_err(|e| StartError::Failed(Failure::BadRequest(e.to_string())))?;
    let headers = web_sys::Headers::new().map_err(|e| StartError::Failed(Failure::Connect(js::message(&e))))?;
    for (k, v) in &plan.request.headers {
        headers
            .set(k, v)
            .map_err(|e| StartError::Failed(Failure::BadRequest(format!("header {k:?} cannot be sent: {}", js::message(&e)))))?;
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
    if let Ok(json) = serde_json::to_string(&plan.request) {
        js::set(&promise, SENT, &JsValue::from_str(&json));
    }
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
    let resp: web_sys::Response = match js::wait(pending.clone()).await {
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
    let resp = checked(&pending, resp).map_err(StartError::Failed)?;
    let info = head_of(&resp);
    Ok(Started { info, response: resp })
}

/// Explains a `fetch` that failed before any response. Browsers give the
/// same bare `TypeError` for an unreachable host, for a redirect chain that
/// cannot be followed (a loop past 20 hops, a redirect to a non-http URL),
/// and for a cross-origin answer without CORS headers. Two probes tell them
/// apart: the same URL with `redirect: "manual"` (an `opaqueredirect`
/// answer: the redirects were the problem, see
/// `transfer::explain_no_response`), then for another origin an opaque
/// `no-cors` request (answered: the failure was CORS). Neither is fixed by
/// a retry.
pub async fn diagnose(failure: Failure, url: &str) -> Failure {
    if !matches!(failure, Failure::Connect(_)) {
        return failure;
    }
    let failure = transfer::explain_no_response(failure, url, redirect_probe(url).await);
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

/// Asks `url` once more, `HEAD` with `redirect: "manual"` (10 s at most):
/// does it answer with a redirect? Works in a Service Worker in every engine
/// (the answer is an `opaqueredirect` response; its `Location` is hidden).
async fn redirect_probe(url: &str) -> RedirectProbe {
    let Ok(abort) = web_sys::AbortController::new() else { return RedirectProbe::Failed };
    let (_timed_out, _watchdog) = watchdog(&abort, 10_000.0);
    let init = web_sys::RequestInit::new();
    init.set_method("HEAD");
    init.set_redirect(web_sys::RequestRedirect::Manual);
    init.set_cache(web_sys::RequestCache::NoStore);
    init.set_signal(Some(&abort.signal()));
    let fetch: js_sys::Function = js::get(&js::global(), "fetch").unchecked_into();
    let Ok(p) = fetch.call2(&js::global(), &JsValue::from_str(url), &init) else { return RedirectProbe::Failed };
    match js::wait(p.unchecked_into()).await {
        Ok(r) => {
            if js::get(&r, "type").as_string().as_deref() == Some("opaqueredirect") {
                RedirectProbe::Redirected
            } else {
                RedirectProbe::Answered
            }
        }
        Err(_) => RedirectProbe::Failed,
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
