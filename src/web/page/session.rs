//! `URLSession` for JS: creates tasks, talks to the daemon, and delivers the
//! journal to the delegate — live or replayed, exactly once and in order.

use crate::core::config::ConfigData;
use crate::core::error::UsageError;
use crate::core::journal::{ack_for, delegate_call, CallArgs, Event, JournalEntry, ReplayTracker};
use crate::core::path::SandboxPath;
use crate::core::request::Request;
use crate::core::resume::ResumeData;
use crate::web::daemon::RESUME_DATA_KEY;
use crate::core::task::{TaskRecord, TaskState};
use crate::web::bytes;
use crate::web::daemon::CHANNEL;
use crate::web::js;
use crate::web::page::config::UrlSessionConfiguration;
use crate::web::page::delegate::{DelayedRequestDisposition, ErasedDelegate};
use crate::web::page::task::{TaskInner, UrlSessionTask};
use crate::web::page::{ns_error, usage};
use crate::web::store;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::{Rc, Weak};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;

/// The daemon's BroadcastChannel and the listener that drains the journal.
type JournalChannel = (web_sys::BroadcastChannel, Closure<dyn FnMut(web_sys::MessageEvent)>);

/// Who receives a session's events: a JS object with Apple's method names,
/// or a Rust [`UrlSessionDelegate`](crate::UrlSessionDelegate).
pub(crate) enum DelegateTarget {
    Js(JsValue),
    Rust(Rc<dyn ErasedDelegate>),
}

impl DelegateTarget {
    /// Does the delegate answer `willBeginDelayedRequest`?
    pub(crate) fn asks_before_delayed_requests(&self) -> bool {
        match self {
            DelegateTarget::Js(d) => js::get(d, "willBeginDelayedRequest").is_function(),
            DelegateTarget::Rust(d) => d.asks(),
        }
    }
}

/// Lock held by the one page that receives an identifier's events.
pub(crate) fn lock_name(identifier: &str) -> String {
    format!("bgsession:events:{identifier}")
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Life {
    Live,
    /// `finishTasksAndInvalidate()`: no new tasks; invalid when all are done.
    Finishing,
    Invalidated,
}

pub(crate) struct SessionInner {
    pub(crate) config: ConfigData,
    pub(crate) delegate: DelegateTarget,
    pub(crate) description: RefCell<String>,
    tasks: RefCell<BTreeMap<u64, (Rc<TaskInner>, JsValue)>>,
    /// The object passed as `session` to delegate methods.
    js_self: RefCell<Option<JsValue>>,
    life: Cell<Life>,
    worker: RefCell<Option<js_sys::Promise>>,
    opened: RefCell<Option<js_sys::Promise>>,
    replay: RefCell<ReplayTracker>,
    draining: Cell<bool>,
    drain_again: Cell<bool>,
    /// The highest journal `seq` delivered by this page (delivery is in seq
    /// order), so an entry read twice is not delivered twice.
    delivered_up_to: Cell<u64>,
    /// Delivered-progress totals by task (all of the session's, read when
    /// it opened, then kept as they are written).
    delivered: RefCell<HashMap<u64, u64>>,
    release_lock: RefCell<Option<js_sys::Function>>,
    channel: RefCell<Option<JournalChannel>>,
    heartbeat: RefCell<Option<gloo_timers::callback::Interval>>,
    /// Acknowledgements not yet committed.
    acks: Rc<AckWriter>,
    /// When Background Sync was last asked for (ms since epoch).
    sync_requested_at: Cell<f64>,
}

/// A page asks for a Background Sync wake-up at most this often.
const SYNC_REREGISTER_MS: f64 = 10_000.0;

/// Writes acknowledgements in batches, one transaction at a time, in order
/// (a group commit: the next event need not wait for the disk), with the
/// temp files the delegate did not move.
#[derive(Default)]
struct AckWriter {
    queue: RefCell<Vec<(u64, crate::core::journal::Ack)>>,
    /// The running write loop; `None` when idle.
    writer: RefCell<Option<js_sys::Promise>>,
}

impl AckWriter {
    /// Starts the write loop if it is idle.
    fn kick(this: &Rc<AckWriter>, session: String) {
        if this.writer.borrow().is_some() {
            return;
        }
        let me = this.clone();
        let run = wasm_bindgen_futures::future_to_promise(async move {
            let result = async {
                let store = store::shared().await?;
                loop {
                    let batch: Vec<_> = me.queue.borrow_mut().drain(..).collect();
                    if batch.is_empty() {
                        return Ok::<(), JsValue>(());
                    }
                    for f in store.ack(&session, &batch).await? {
                        bytes::shared().await?.delete(&f.blob_id, f.segments.len()).await?;
                    }
                }
            }
            .await;
            me.writer.borrow_mut().take();
            result.map(|_| JsValue::UNDEFINED)
        });
        // The loop starts on the next microtask, so it is still to run here.
        *this.writer.borrow_mut() = Some(run);
    }
}

/// At most this many acknowledgements wait for a transaction before
/// delivery waits for them to be written. With the batch being written it
/// bounds what a page closed in the middle of a replay can have delivered
/// without its acknowledgement on disk (at most twice this; those entries
/// are delivered again on the next launch). 128 made 1,000 events ~25 ms
/// slower to replay here.
const MAX_ACKS_IN_FLIGHT: usize = 256;

/// While a page has running tasks it pokes the daemon this often: each
/// command re-extends the worker's lifetime, and wakes (and so resumes) a
/// daemon the browser has stopped.
const HEARTBEAT_MS: u32 = 2_000;

/// A page opening a session wakes the daemon once the queued events are
/// delivered, or after this long if that takes longer.
const WAKE_AFTER_MS: u32 = 500;

thread_local! {
    static LIVE: RefCell<HashMap<String, Weak<SessionInner>>> = RefCell::new(HashMap::new());
}

/// Is a session with this identifier live in this page?
pub(crate) fn is_live(identifier: &str) -> bool {
    LIVE.with(|l| l.borrow().get(identifier).and_then(|w| w.upgrade()).is_some_and(|s| s.life.get() != Life::Invalidated))
}

/// A background `URLSession`: the page's handle on one session identifier.
/// Creating it registers the daemon (a Service Worker), takes the
/// identifier's event lock (one page at a time receives its events) and
/// delivers the identifier's journal to the delegate, in order, starting
/// with the events queued while no page had it. JS
/// creates it with `new URLSession(configuration, delegate)`; Rust with
/// [`UrlSession::with_delegate`] and a [`UrlSessionDelegate`](crate::UrlSessionDelegate).
// The example is for rustdoc only: wasm-bindgen copies doc comments
// into bgsession.d.ts, where JS readers would see Rust code.
#[cfg_attr(doc, doc = r#"# Examples

```ignore
use bgsession::{UrlSession, UrlSessionConfiguration, UrlSessionDelegate};

struct App;
impl UrlSessionDelegate for App {}

# async fn run() -> Result<(), bgsession::Error> {
let config = UrlSessionConfiguration::background("com.example.podcasts")?;
let session = UrlSession::with_delegate(&config, App)?;
session.set_session_description("Podcasts".into());

let task = session.download_task("https://example.test/ep1.mp3")?; // suspended
task.resume().await?; // the daemon has stored it

// Uploads send a sandbox file; a bare URL uploads with POST.
let upload = session.upload_task("https://example.test/upload", "file:///Documents/notes.txt")?;
upload.resume().await?;

// Tasks not yet completed, including those made before a reload.
for t in session.get_all_tasks().await? {
    let _ = (t.task_identifier(), t.state(), t.count_of_bytes_received());
}

// Identifiers are one session per page: a second one is refused.
assert!(UrlSession::with_delegate(&config, App).is_err());
# Ok(()) }
```"#)]
#[wasm_bindgen(js_name = URLSession)]
#[derive(Clone)]
pub struct UrlSession {
    inner: Rc<SessionInner>,
}

fn next_task_id(identifier: &str) -> u64 {
    let key = format!("bgsession.nextTaskIdentifier.{identifier}");
    let storage = web_sys::window().and_then(|w| w.local_storage().ok().flatten());
    let Some(storage) = storage else {
        thread_local!(static N: Cell<u64> = const { Cell::new(1) });
        return N.with(|n| {
            let v = n.get();
            n.set(v + 1);
            v
        });
    };
    let n = storage.get_item(&key).ok().flatten().and_then(|s| s.parse::<u64>().ok()).unwrap_or(1);
    let _ = storage.set_item(&key, &(n + 1).to_string());
    n
}

/// The next number `next_task_id` would hand out (without taking it).
pub(crate) fn peek_task_id(identifier: &str) -> u64 {
    let key = format!("bgsession.nextTaskIdentifier.{identifier}");
    web_sys::window()
        .and_then(|w| w.local_storage().ok().flatten())
        .and_then(|s| s.get_item(&key).ok().flatten())
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(1)
}

fn bump_task_id(identifier: &str, at_least: u64) {
    let key = format!("bgsession.nextTaskIdentifier.{identifier}");
    if let Some(storage) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
        let n = storage.get_item(&key).ok().flatten().and_then(|s| s.parse::<u64>().ok()).unwrap_or(1);
        if n < at_least {
            let _ = storage.set_item(&key, &at_least.to_string());
        }
    }
}

fn resolve_url(url: &str) -> String {
    let base = js::get(&js::get(&js::global(), "location"), "href").as_string().unwrap_or_default();
    match web_sys::Url::new_with_base(url, &base) {
        Ok(u) if !url.trim().is_empty() => u.href(),
        _ => url.to_string(),
    }
}

/// Accepts a URL string, a `URL`, or a Request-like `{url, method, headers}`.
fn parse_request(v: &JsValue, config: &ConfigData) -> Result<Request, JsValue> {
    let req = if let Some(s) = v.as_string() {
        Request { url: resolve_url(&s), method: "GET".into(), headers: BTreeMap::new() }
    } else if v.is_instance_of::<web_sys::Url>() {
        Request { url: v.unchecked_ref::<web_sys::Url>().href(), method: "GET".into(), headers: BTreeMap::new() }
    } else if v.is_object() {
        let url = js::get(v, "url");
        let url = url.as_string().or_else(|| url.is_object().then(|| js::message(&url))).unwrap_or_default();
        let method = js::get(v, "method").as_string().unwrap_or_else(|| "GET".into());
        let mut headers = BTreeMap::new();
        let h = js::get(v, "headers");
        if h.is_instance_of::<web_sys::Headers>() {
            if let Ok(Some(iter)) = js_sys::try_iter(&h) {
                for pair in iter.flatten() {
                    let pair: js_sys::Array = pair.unchecked_into();
                    if let (Some(k), Some(val)) = (pair.get(0).as_string(), pair.get(1).as_string()) {
                        headers.insert(k, val);
                    }
                }
            }
        } else if h.is_object() {
            headers = js::from_js(h, "request headers must be an object of string values")?;
        }
        Request { url: resolve_url(&url), method, headers }
    } else {
        return Err(usage(UsageError::InvalidArgument { what: "expected a URL string or a request {url, method, headers}".into() }));
    };
    // Header names are compared lower-cased: the request's own header wins.
    let mut req = req.validated().map_err(usage)?;
    for (k, val) in &config.http_additional_headers {
        req.headers.entry(k.to_ascii_lowercase()).or_insert_with(|| val.clone());
    }
    Ok(req)
}

/// Marks a promise's rejection as handled (it is reported where it is used).
fn quiet(p: &js_sys::Promise) {
    let c = Closure::<dyn FnMut(JsValue)>::new(|_e: JsValue| {});
    let _ = p.catch(&c);
    c.forget();
}

/// An NSError for the delegate; resume data in `userInfo` becomes bytes.
pub(crate) fn error_for_delegate(e: &crate::core::error::NsError) -> JsValue {
    let v = ns_error(e);
    let info = js::get(&v, "userInfo");
    if let Some(text) = js::get(&info, RESUME_DATA_KEY).as_string() {
        js::set(&info, RESUME_DATA_KEY, &js_sys::Uint8Array::from(text.as_bytes()).into());
    }
    v
}

fn reject_completion_handler(method: &'static str, args: &[&JsValue]) -> Result<(), JsValue> {
    if args.iter().any(|a| a.is_function()) {
        return Err(usage(UsageError::CompletionHandlerInBackgroundSession { method }));
    }
    Ok(())
}

#[wasm_bindgen(js_class = URLSession)]
impl UrlSession {
    /// `new URLSession(configuration, delegate)`: registers the daemon worker,
    /// takes this identifier's event lock, and starts delivering its journal.
    #[wasm_bindgen(constructor)]
    pub fn new(configuration: &UrlSessionConfiguration, #[wasm_bindgen(unchecked_optional_param_type = "URLSessionDelegate | null")] delegate: JsValue) -> Result<UrlSession, JsValue> {
        if delegate.is_function() {
            return Err(usage(UsageError::CompletionHandlerInBackgroundSession { method: "URLSession(configuration, delegate)" }));
        }
        Self::create(configuration, DelegateTarget::Js(delegate)).map_err(usage)
    }
}

impl UrlSession {
    /// The task object of this session with this identifier, if it knows it.
    pub(crate) fn task_with_identifier(&self, id: u64) -> Option<UrlSessionTask> {
        self.inner.tasks.borrow().get(&id).map(|(t, _)| UrlSessionTask { inner: t.clone() })
    }

    pub(crate) fn create(configuration: &UrlSessionConfiguration, delegate: DelegateTarget) -> Result<UrlSession, UsageError> {
        let mut config = configuration.snapshot();
        if config.launch_url.is_none() {
            config.launch_url = js::get(&js::get(&js::global(), "location"), "href").as_string();
        }
        if is_live(&config.identifier) {
            return Err(UsageError::DuplicateSession { identifier: config.identifier });
        }
        let inner = Rc::new(SessionInner {
            config: config.clone(),
            delegate,
            description: RefCell::new(String::new()),
            tasks: RefCell::new(BTreeMap::new()),
            js_self: RefCell::new(None),
            life: Cell::new(Life::Live),
            worker: RefCell::new(None),
            opened: RefCell::new(None),
            replay: RefCell::new(ReplayTracker::default()),
            draining: Cell::new(false),
            drain_again: Cell::new(false),
            delivered_up_to: Cell::new(0),
            delivered: RefCell::new(HashMap::new()),
            release_lock: RefCell::new(None),
            channel: RefCell::new(None),
            heartbeat: RefCell::new(None),
            acks: Rc::new(AckWriter::default()),
            sync_requested_at: Cell::new(f64::NEG_INFINITY),
        });
        LIVE.with(|l| l.borrow_mut().insert(config.identifier.clone(), Rc::downgrade(&inner)));
        let worker_url = resolve_url(&config.service_worker_url);
        let worker = js::active_worker(&worker_url);
        // Keep an unhandled rejection quiet here; callers see it on use.
        quiet(&worker);
        *inner.worker.borrow_mut() = Some(worker);
        let opener = inner.clone();
        let opened = wasm_bindgen_futures::future_to_promise(async move {
            opener.open().await.map(|_| JsValue::UNDEFINED).inspect_err(|e| {
                js::console_error(&format!("bgsession: session \"{}\" could not open: {}", opener.config.identifier, js::message(e)));
            })
        });
        quiet(&opened);
        *inner.opened.borrow_mut() = Some(opened);
        Ok(UrlSession { inner })
    }
}

#[wasm_bindgen(js_class = URLSession)]
impl UrlSession {

    /// A copy of the session's configuration.
    #[wasm_bindgen(getter)]
    pub fn configuration(&self) -> UrlSessionConfiguration {
        UrlSessionConfiguration::from_data(self.inner.config.clone())
    }

    /// `sessionDescription`: the app's own label for the session (empty by
    /// default); the launch notification shows it.
    #[wasm_bindgen(getter = sessionDescription)]
    pub fn session_description(&self) -> String {
        self.inner.description.borrow().clone()
    }
    /// Sets `sessionDescription`.
    #[wasm_bindgen(setter = sessionDescription)]
    pub fn set_session_description(&self, v: String) {
        *self.inner.description.borrow_mut() = v;
    }

    /// The delegate given to the constructor.
    #[wasm_bindgen(getter, unchecked_return_type = "URLSessionDelegate | null | undefined")]
    pub fn delegate(&self) -> JsValue {
        match &self.inner.delegate {
            DelegateTarget::Js(d) => d.clone(),
            DelegateTarget::Rust(_) => JsValue::UNDEFINED, // a Rust delegate has no JS face
        }
    }

    /// Resolves once the session holds its identifier's event lock and has
    /// started replaying queued events (a bgsession addition, for tests).
    #[wasm_bindgen(getter, unchecked_return_type = "Promise<void>")]
    pub fn ready(&self) -> js_sys::Promise {
        self.inner.opened.borrow().clone().unwrap_or_else(|| js_sys::Promise::resolve(&JsValue::UNDEFINED))
    }

    /// `downloadTask(with: url | request)`: a suspended task; call `resume()`.
    #[doc(hidden)]
    #[wasm_bindgen(js_name = downloadTask, unchecked_return_type = "URLSessionTask")]
    pub fn js_download_task(&self, #[wasm_bindgen(js_name = urlOrRequest, unchecked_param_type = "string | URL | URLRequestInit")] url_or_request: JsValue, #[wasm_bindgen(js_name = completionHandler, unchecked_optional_param_type = "never")] completion_handler: Option<JsValue>) -> Result<JsValue, JsValue> {
        reject_completion_handler("downloadTask", &[completion_handler.as_ref().unwrap_or(&JsValue::UNDEFINED)])?;
        self.inner.check_live()?;
        let request = parse_request(&url_or_request, &self.inner.config)?;
        let id = next_task_id(&self.inner.config.identifier);
        let blob_id = format!("dl-{}", js::random_id());
        let record = TaskRecord::new_download(&self.inner.config.identifier, id, request, js::now(), blob_id);
        Ok(self.inner.adopt(record, false))
    }

    /// A download task that continues from `resumeData` (from
    /// `cancelByProducingResumeData()` or `error.userInfo.NSURLSessionDownloadTaskResumeData`).
    #[doc(hidden)]
    #[wasm_bindgen(js_name = downloadTaskWithResumeData, unchecked_return_type = "URLSessionTask")]
    pub fn js_download_task_with_resume_data(&self, #[wasm_bindgen(js_name = resumeData, unchecked_param_type = "Uint8Array | ArrayBuffer")] resume_data: JsValue, #[wasm_bindgen(js_name = completionHandler, unchecked_optional_param_type = "never")] completion_handler: Option<JsValue>) -> Result<JsValue, JsValue> {
        reject_completion_handler("downloadTaskWithResumeData", &[completion_handler.as_ref().unwrap_or(&JsValue::UNDEFINED)])?;
        self.inner.check_live()?;
        let bytes: Vec<u8> = if resume_data.is_instance_of::<js_sys::Uint8Array>() {
            resume_data.unchecked_ref::<js_sys::Uint8Array>().to_vec()
        } else if resume_data.is_instance_of::<js_sys::ArrayBuffer>() {
            js_sys::Uint8Array::new(&resume_data).to_vec()
        } else {
            return Err(usage(UsageError::InvalidArgument { what: "resumeData must be a Uint8Array (from cancelByProducingResumeData)".into() }));
        };
        let data = ResumeData::from_bytes(&bytes).map_err(|e| usage(UsageError::InvalidArgument { what: e.to_string() }))?;
        if data.session != self.inner.config.identifier {
            js::console_warn(&format!("bgsession: resume data from session \"{}\" used in \"{}\"", data.session, self.inner.config.identifier));
        }
        let id = next_task_id(&self.inner.config.identifier);
        let record = data.into_task(&self.inner.config.identifier, id, js::now());
        Ok(self.inner.adopt(record, false))
    }

    /// Background sessions have no data tasks: always throws, as iOS does.
    #[wasm_bindgen(js_name = dataTask, unchecked_return_type = "never")]
    pub fn data_task(&self, #[wasm_bindgen(js_name = urlOrRequest, unchecked_param_type = "unknown")] _url_or_request: JsValue, #[wasm_bindgen(js_name = completionHandler, unchecked_param_type = "unknown")] _completion_handler: JsValue) -> Result<JsValue, JsValue> {
        Err(usage(UsageError::DataTaskInBackgroundSession))
    }

    /// `uploadTask(request, fromFile)`: `fromFile` is a `file:///…` sandbox
    /// location; uploading from memory (`fromData`) throws, as on iOS.
    #[doc(hidden)]
    #[wasm_bindgen(js_name = uploadTask, unchecked_return_type = "URLSessionTask")]
    pub fn js_upload_task(&self, #[wasm_bindgen(unchecked_param_type = "string | URL | URLRequestInit")] request: JsValue, #[wasm_bindgen(js_name = fromFile, unchecked_param_type = "FileLocation")] from_file: JsValue, #[wasm_bindgen(js_name = completionHandler, unchecked_optional_param_type = "never")] completion_handler: Option<JsValue>) -> Result<JsValue, JsValue> {
        reject_completion_handler("uploadTask", &[completion_handler.as_ref().unwrap_or(&JsValue::UNDEFINED)])?;
        self.inner.check_live()?;
        let location = if let Some(s) = from_file.as_string() {
            s
        } else if from_file.is_instance_of::<web_sys::Url>() {
            from_file.unchecked_ref::<web_sys::Url>().href()
        } else {
            return Err(usage(UsageError::UploadFromData));
        };
        let from = SandboxPath::parse(&location)
            .map_err(|e| usage(UsageError::InvalidArgument { what: format!("uploadTask fromFile: {e}") }))?;
        // A bare URL means POST (an upload has a body); a request names its method.
        let named_method = request.is_object() && !request.is_instance_of::<web_sys::Url>() && js::get(&request, "method").is_string();
        let mut req = parse_request(&request, &self.inner.config)?;
        if !named_method {
            req.method = crate::core::upload::DEFAULT_METHOD.into();
        }
        crate::core::upload::check_request(&req).map_err(usage)?;
        let id = next_task_id(&self.inner.config.identifier);
        let record = TaskRecord::new_upload(&self.inner.config.identifier, id, req, &from, js::now(), format!("up-{}", js::random_id()));
        Ok(self.inner.adopt(record, false))
    }

    /// Tasks of this session that have not completed (after a reload too).
    #[doc(hidden)]
    #[wasm_bindgen(js_name = getAllTasks, unchecked_return_type = "URLSessionTask[]")]
    pub async fn js_get_all_tasks(&self) -> Result<js_sys::Array, JsValue> {
        self.inner.load_tasks().await?;
        let out = js_sys::Array::new();
        for (_, (t, obj)) in self.inner.tasks.borrow().iter() {
            if t.record.borrow().state != TaskState::Completed {
                out.push(obj);
            }
        }
        Ok(out)
    }

    /// bgsession addition, for teaching and tests: what the daemon is doing
    /// now, `{transfers, backgroundFetches}`. (Its life events are posted on
    /// the BroadcastChannel "bgsession" as `{type: "daemon", event, transfers, at}`
    /// with event "started", "busy", "idle" or "killed".)
    #[wasm_bindgen(js_name = daemonStatus, unchecked_return_type = "DaemonStatus")]
    pub async fn daemon_status(&self) -> Result<JsValue, JsValue> {
        self.inner.ask(js::object(&[("op", "status".into())])).await
    }

    /// bgsession addition, for teaching and tests: makes the daemon behave as
    /// if the browser had killed its worker (transfers stop, bytes in flight
    /// are lost, stored segments stay) until something wakes it — an open
    /// page does within 2 s. Resolves with the number of transfers stopped.
    #[wasm_bindgen(js_name = simulateDaemonKill, unchecked_return_type = "number")]
    pub async fn simulate_daemon_kill(&self) -> Result<JsValue, JsValue> {
        self.inner.ask(js::object(&[("op", "simulateKill".into())])).await
    }

    /// bgsession addition, for teaching and tests: makes the daemon judge the
    /// network as `{type, effectiveType, saveData}` (as `navigator.connection`
    /// reports them: e.g. `{type: "cellular"}`) instead of what the browser
    /// says, until called with null or the worker restarts. This is how to
    /// see `allowsCellularAccess`, `allowsExpensiveNetworkAccess`,
    /// `allowsConstrainedNetworkAccess` and `isDiscretionary` at work on a
    /// desktop browser, which reports no connection type. Resolves with the
    /// conditions the daemon now uses.
    #[wasm_bindgen(js_name = simulateNetworkConditions, unchecked_return_type = "NetworkConditions")]
    pub async fn simulate_network_conditions(&self, #[wasm_bindgen(unchecked_param_type = "NetworkConditions | null")] conditions: JsValue) -> Result<JsValue, JsValue> {
        if !(conditions.is_object() || conditions.is_null() || conditions.is_undefined()) {
            return Err(usage(UsageError::InvalidArgument { what: "simulateNetworkConditions takes {type, effectiveType, saveData} or null".into() }));
        }
        if conditions.is_object() {
            let _: crate::core::network::NetworkInfo = js::from_js(conditions.clone(), "simulateNetworkConditions({type, effectiveType, saveData})")?;
        }
        let reply = self.inner.ask(js::object(&[("op", "simulateNetwork".into()), ("conditions", conditions)])).await?;
        self.inner.wake();
        Ok(reply)
    }

    /// No new tasks; the session becomes invalid once its tasks have completed
    /// (`didBecomeInvalidWithError(session, null)`).
    #[wasm_bindgen(js_name = finishTasksAndInvalidate)]
    pub fn finish_tasks_and_invalidate(&self) {
        if self.inner.life.get() == Life::Live {
            self.inner.life.set(Life::Finishing);
            let inner = self.inner.clone();
            spawn_local(async move { inner.maybe_invalidate().await });
        }
    }

    /// Cancels every task, then invalidates the session: as on iOS, the
    /// delegate gets each task's `didCompleteWithError` (-999) first, then
    /// `didBecomeInvalidWithError(session, null)`.
    #[wasm_bindgen(js_name = invalidateAndCancel)]
    pub async fn invalidate_and_cancel(&self) -> Result<(), JsValue> {
        if self.inner.life.get() == Life::Invalidated {
            return Ok(());
        }
        self.inner.life.set(Life::Finishing);
        let _ = self.inner.load_tasks().await;
        let tasks: Vec<Rc<TaskInner>> = self.inner.tasks.borrow().values().map(|(t, _)| t.clone()).collect();
        for t in tasks {
            let open = matches!(t.record.borrow().state, TaskState::Running | TaskState::Suspended);
            if open && t.persisted.get() {
                let task = UrlSessionTask { inner: t.clone() };
                task.cancel().await?;
            }
        }
        // Not invalidate(): that closes the channel, and completions still on
        // their way from the daemon would wait for the next page. Invalid
        // once the last one has been delivered (deliver() checks again).
        self.inner.maybe_invalidate().await;
        Ok(())
    }
}

impl SessionInner {
    fn check_live(&self) -> Result<(), JsValue> {
        match self.life.get() {
            Life::Live => Ok(()),
            _ => Err(usage(UsageError::SessionInvalidated { identifier: self.config.identifier.clone() })),
        }
    }

    /// The JS object for a record (one per task, so identity holds).
    fn adopt(self: &Rc<Self>, mut record: TaskRecord, persisted: bool) -> JsValue {
        if !persisted && record.nonce.is_empty() {
            record.nonce = js::random_id();
        }
        let id = record.task_id;
        if let Some((t, obj)) = self.tasks.borrow().get(&id) {
            if persisted {
                t.update_from(record);
                t.persisted.set(true);
            }
            return obj.clone();
        }
        let inner = TaskInner::new(record, Rc::downgrade(self), persisted);
        let obj: JsValue = UrlSessionTask { inner: inner.clone() }.into();
        self.tasks.borrow_mut().insert(id, (inner, obj.clone()));
        obj
    }

    /// The daemon gave a new task another number (another tab's task had
    /// drawn the same one at the same instant): file it under that number.
    pub(crate) fn renumber(&self, task: &Rc<TaskInner>, old: u64, new: u64) {
        bump_task_id(&self.config.identifier, new + 1);
        let mut tasks = self.tasks.borrow_mut();
        if tasks.get(&old).is_some_and(|(t, _)| Rc::ptr_eq(t, task)) {
            let entry = tasks.remove(&old).expect("present");
            // `new` is at least this page's next number: no task of ours has it.
            tasks.insert(new, entry);
        }
    }

    fn session_js(self: &Rc<Self>) -> JsValue {
        if let Some(s) = self.js_self.borrow().as_ref() {
            return s.clone();
        }
        let obj: JsValue = UrlSession { inner: self.clone() }.into();
        *self.js_self.borrow_mut() = Some(obj.clone());
        obj
    }

    /// Sends a command to the daemon and waits for its reply.
    pub(crate) async fn ask(&self, msg: JsValue) -> Result<JsValue, JsValue> {
        let worker = self.worker.borrow().clone().ok_or_else(|| js::error("BGSessionUnavailable", "no daemon"))?;
        let worker = js::wait(worker).await?;
        js::wait(js::ask_worker(&worker, &msg)).await
    }

    /// Starts a Background Fetch task's download in the browser's download
    /// service (only a page may); if that is impossible the daemon runs it
    /// with fetch instead.
    pub(crate) async fn start_background_fetch(&self, task: &Rc<TaskInner>) {
        let (id, url, method, headers, title, sid, tid) = {
            let r = task.record.borrow();
            if r.state != TaskState::Running || r.transport != crate::core::config::Transport::BackgroundFetch {
                return;
            }
            let Some(id) = r.bg_fetch_id.clone() else { return };
            let title = if r.task_description.is_empty() { r.current_request.url.clone() } else { r.task_description.clone() };
            (id, r.current_request.url.clone(), r.current_request.method.clone(), js::to_js(&r.current_request.headers), title, r.session.clone(), r.task_id)
        };
        let script = resolve_url(&self.config.service_worker_url);
        let started = js::wait(js::bg_fetch_from_page(&script, &id, &url, &method, &headers, &title)).await;
        if started.is_ok() {
            // The daemon attaches to it and journals its progress.
            let _ = self.ask(js::object(&[("op", "wake".into())])).await;
        }
        if let Err(e) = started {
            let msg = js::object(&[
                ("op", "backgroundFetchUnavailable".into()),
                ("session", sid.into()),
                ("taskId", JsValue::from_f64(tid as f64)),
                ("reason", js::message(&e).into()),
            ]);
            if let Err(e) = self.ask(msg).await {
                js::console_warn(&format!("bgsession: {}", js::message(&e)));
            }
        }
    }

    /// Asks the browser to wake the daemon even with no page open (one-off
    /// Background Sync, where the browser has it): the worker's `sync`
    /// handler resumes unfinished transfers, and fails the event while work
    /// remains so that the browser tries again later.
    pub(crate) fn request_background_wake(&self) {
        // One registration stands for every task started meanwhile: the
        // event resumes them all.
        let now = js::now();
        if now - self.sync_requested_at.get() < SYNC_REREGISTER_MS {
            return;
        }
        self.sync_requested_at.set(now);
        let p = js::register_sync("bgsession-wake");
        quiet(&p);
    }

    pub(crate) fn wake(self: &Rc<Self>) {
        let me = self.clone();
        spawn_local(async move {
            if let Err(e) = me.ask(js::object(&[("op", "wake".into())])).await {
                js::console_warn(&format!("bgsession: could not reach the daemon: {}", js::message(&e)));
            }
        });
    }

    async fn load_tasks(self: &Rc<Self>) -> Result<(), JsValue> {
        let records = store::shared().await?.tasks(Some(&self.config.identifier)).await?;
        self.take_records(records);
        Ok(())
    }

    /// Makes (or refreshes) the task objects of stored records.
    fn take_records(self: &Rc<Self>, records: Vec<TaskRecord>) {
        let max = records.iter().map(|r| r.task_id).max().unwrap_or(0);
        bump_task_id(&self.config.identifier, max + 1);
        for r in records {
            let known = self.tasks.borrow().contains_key(&r.task_id);
            if known {
                // Keep the delivered view's state; refresh counters.
                let (t, _) = self.tasks.borrow().get(&r.task_id).cloned().unwrap();
                let state = t.record.borrow().state;
                t.update_from(r);
                if state == TaskState::Completed {
                    t.record.borrow_mut().state = state;
                }
                t.persisted.set(true);
            } else {
                self.adopt(r, true);
            }
        }
    }

    async fn open(self: &Rc<Self>) -> Result<(), JsValue> {
        let release = js::wait(js::hold_lock(&lock_name(&self.config.identifier))).await?;
        if self.life.get() == Life::Invalidated {
            let _ = release.unchecked_ref::<js_sys::Function>().call0(&JsValue::UNDEFINED);
            return Ok(());
        }
        *self.release_lock.borrow_mut() = Some(release.unchecked_into());
        // Journal notifications from the daemon, listened to before the
        // journal is read (so an entry appended after the read is
        // announced). Until the opening read is delivered they only mark
        // that the journal is to be read again.
        self.draining.set(true);
        let weak = Rc::downgrade(self);
        let identifier = self.config.identifier.clone();
        let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            let data = ev.data();
            if js::get(&data, "session").as_string().as_deref() == Some(identifier.as_str()) {
                if let Some(s) = weak.upgrade() {
                    spawn_local(async move { s.drain(Vec::new()).await });
                }
            }
        });
        if let Ok(ch) = web_sys::BroadcastChannel::new(CHANNEL) {
            ch.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            *self.channel.borrow_mut() = Some((ch, on_message));
        }
        let view = match store::shared().await {
            Ok(store) => store.session_view(&self.config.identifier).await,
            Err(e) => Err(e),
        };
        let view = match view {
            Ok(v) => v,
            Err(e) => {
                self.draining.set(false);
                return Err(e);
            }
        };
        self.take_records(view.tasks);
        // This page is now the one writer of these totals: all of them are here.
        *self.delivered.borrow_mut() = view.delivered_totals;
        let entries = view.entries;
        self.replay.borrow_mut().opened(entries.len());
        // Background Fetch tasks whose download a closed page never started.
        let waiting: Vec<Rc<TaskInner>> = self.tasks.borrow().values().map(|(t, _)| t.clone()).collect();
        for t in waiting {
            self.start_background_fetch(&t).await;
        }
        // Wake the daemon: it resumes this origin's unfinished transfers.
        // Not before the queued events are delivered (or WAKE_AFTER_MS has
        // passed): its scheduling pass reads every task of the origin and
        // would compete with the replay for IndexedDB.
        let woke = Rc::new(Cell::new(false));
        let (weak, w) = (Rc::downgrade(self), woke.clone());
        gloo_timers::callback::Timeout::new(WAKE_AFTER_MS, move || {
            if let Some(s) = weak.upgrade() {
                if !w.replace(true) {
                    s.wake();
                }
            }
        })
        .forget();
        let weak = Rc::downgrade(self);
        let beat = gloo_timers::callback::Interval::new(HEARTBEAT_MS, move || {
            if let Some(s) = weak.upgrade() {
                let running = s.tasks.borrow().values().any(|(t, _)| t.persisted.get() && t.record.borrow().state == TaskState::Running);
                if running {
                    s.wake();
                }
            }
        });
        *self.heartbeat.borrow_mut() = Some(beat);
        let me = self.clone();
        spawn_local(async move {
            me.drain_owned(entries).await;
            if !woke.replace(true) {
                me.wake();
            }
        });
        Ok(())
    }

    /// Delivers the journal until it is empty; one drain at a time. `first`:
    /// entries already read (the session's opening read), delivered before
    /// the journal is read again (only if the daemon announced more).
    async fn drain(self: &Rc<Self>, first: Vec<JournalEntry>) {
        if self.release_lock.borrow().is_none() {
            return; // not the page that holds this identifier's events
        }
        if self.draining.get() {
            self.drain_again.set(true);
            return;
        }
        self.draining.set(true);
        self.drain_owned(first).await;
    }

    /// [`SessionInner::drain`] once `draining` is set (by it, or by `open`).
    async fn drain_owned(self: &Rc<Self>, first: Vec<JournalEntry>) {
        let mut first = Some(first).filter(|v| !v.is_empty());
        loop {
            let entries = match first.take() {
                Some(v) => Ok(v),
                None => {
                    // What was announced before this read is in it.
                    self.drain_again.set(false);
                    match store::shared().await {
                        Ok(s) => s.pending_events(&self.config.identifier).await,
                        Err(e) => Err(e),
                    }
                }
            };
            let mut entries = match entries {
                Ok(v) => v,
                Err(e) => {
                    js::console_error(&format!("bgsession: reading the journal failed: {}", js::message(&e)));
                    break;
                }
            };
            // Journal order is seq order: an entry at or below the last one
            // delivered here was delivered already (read before its ack).
            let up_to = self.delivered_up_to.get();
            entries.retain(|e| e.seq.map_or(true, |s| s > up_to));
            if entries.is_empty() && !self.drain_again.get() {
                break;
            }
            for entry in entries {
                if self.life.get() == Life::Invalidated {
                    break;
                }
                if let Err(e) = self.deliver(&entry).await {
                    js::console_error(&format!("bgsession: delivering {} failed: {}", entry.event.method(), js::message(&e)));
                    self.draining.set(false);
                    return;
                }
            }
            // The daemon announces every entry it appends (and this page
            // listened before it read): read again only if one was announced.
            if self.drain_again.get() {
                continue;
            }
            // Done once every delivered entry is acknowledged on disk (then
            // urlSessionDidFinishEvents: a page closed after it gets none of
            // them again), unless more was announced meanwhile.
            if let Err(e) = self.flush_acks().await {
                js::console_error(&format!("bgsession: acknowledging events failed: {}", js::message(&e)));
                self.draining.set(false);
                return;
            }
            if !self.drain_again.get() {
                break;
            }
        }
        self.draining.set(false);
        if self.life.get() != Life::Invalidated && self.replay.borrow_mut().drained() {
            match &self.delegate {
                DelegateTarget::Js(d) => {
                    let args = js_sys::Array::of1(&self.session_js());
                    if let Err(e) = js::wait(js::call_delegate(d, "urlSessionDidFinishEvents", &args)).await {
                        js::console_error(&format!("bgsession: urlSessionDidFinishEvents threw: {}", js::message(&e)));
                    }
                }
                DelegateTarget::Rust(d) => d.finished_events(&UrlSession { inner: self.clone() }).await,
            }
        }
        if self.life.get() == Life::Finishing {
            self.maybe_invalidate().await;
        }
    }

    /// Delivers one entry, then acknowledges it (exactly once: the ack is
    /// written only after the delegate method and its Promise returned).
    async fn deliver(self: &Rc<Self>, entry: &JournalEntry) -> Result<(), JsValue> {
        let task_obj = self.tasks.borrow().get(&entry.task_id).map(|(_, obj)| obj.clone());
        let task_obj = match task_obj {
            Some(o) => o,
            None => match store::shared().await?.get_task(&self.config.identifier, entry.task_id).await? {
                Some(r) => self.adopt(r, true),
                None => {
                    let mut r = TaskRecord::new_download(&self.config.identifier, entry.task_id, Request::get("http://unknown.invalid/").unwrap(), entry.at, String::new());
                    r.state = TaskState::Running;
                    self.adopt(r, true)
                }
            },
        };
        let inner = self.tasks.borrow().get(&entry.task_id).map(|(t, _)| t.clone()).unwrap();
        inner.apply(entry);
        // Every stored total was read when the session opened.
        let last = self.delivered.borrow().get(&entry.task_id).copied().unwrap_or(0);
        let call = delegate_call(entry, last);
        let args = js_sys::Array::new();
        args.push(&self.session_js());
        args.push(&task_obj);
        match &call.args {
            CallArgs::None => {}
            CallArgs::Numbers(ns) => ns.iter().for_each(|n| {
                args.push(&JsValue::from_f64(*n));
            }),
            CallArgs::Location(l) => {
                args.push(&JsValue::from_str(l));
            }
            CallArgs::Bytes(b) => {
                args.push(&js_sys::Uint8Array::from(b.as_slice()).into());
            }
            CallArgs::Request(_) => {} // see below
            CallArgs::Error(e) => {
                args.push(&e.as_ref().map(error_for_delegate).unwrap_or(JsValue::NULL));
            }
        }
        if let CallArgs::Request(r) = &call.args {
            args.push(&js::to_js(r));
            self.answer_delayed_request(entry.task_id, &inner, r, &args).await?;
        } else {
            match &self.delegate {
                DelegateTarget::Js(d) => {
                    // Awaited only if the method returned a Promise.
                    let outcome = match js::call_delegate_now(d, call.method, &args) {
                        Ok(p) if !p.is_undefined() => js::wait(js_sys::Promise::resolve(&p)).await.map(|_| ()),
                        Ok(_) => Ok(()),
                        Err(e) => Err(e),
                    };
                    if let Err(e) = outcome {
                        // As an uncaught exception in a delegate method: reported, and the
                        // event counts as delivered (it would only throw again).
                        js::console_error(&format!("bgsession: delegate {} threw: {}", call.method, js::message(&e)));
                    }
                }
                DelegateTarget::Rust(d) => {
                    d.task_event(&UrlSession { inner: self.clone() }, &UrlSessionTask { inner: inner.clone() }, &call).await;
                }
            }
        }
        if let Some(seq) = entry.seq {
            self.delivered_up_to.set(self.delivered_up_to.get().max(seq));
        }
        if let Some(mut ack) = ack_for(entry) {
            if let Some(total) = ack.delivered_total {
                self.delivered.borrow_mut().insert(entry.task_id, total);
            }
            if ack.forget_task && self.delivered.borrow_mut().remove(&entry.task_id).is_none() {
                ack.forget_task = false; // no stored total to delete
            }
            // Group commit: the acknowledgement joins those waiting for the
            // next transaction, written as soon as the one before commits.
            self.acks.queue.borrow_mut().push((entry.task_id, ack));
            AckWriter::kick(&self.acks, self.config.identifier.clone());
            if self.acks.queue.borrow().len() >= MAX_ACKS_IN_FLIGHT {
                self.flush_acks().await?;
            }
        }
        if matches!(entry.event, Event::DidCompleteWithError { .. }) && self.life.get() == Life::Finishing {
            self.maybe_invalidate().await;
        }
        Ok(())
    }

    /// `willBeginDelayedRequest(session, task, request)`: the delegate returns
    /// (or resolves to) "continue", "cancel" or a new request; the daemon is
    /// told before the event is acknowledged, so a page closing meanwhile
    /// asks again on the next open.
    async fn answer_delayed_request(self: &Rc<Self>, task_id: u64, task: &Rc<TaskInner>, request: &Request, args: &js_sys::Array) -> Result<(), JsValue> {
        let method = "willBeginDelayedRequest";
        let (decision, request) = match &self.delegate {
            DelegateTarget::Rust(d) => {
                match d.delayed(&UrlSession { inner: self.clone() }, &UrlSessionTask { inner: task.clone() }, request).await {
                    DelayedRequestDisposition::ContinueLoading => ("continue", JsValue::UNDEFINED),
                    DelayedRequestDisposition::Cancel => ("cancel", JsValue::UNDEFINED),
                    DelayedRequestDisposition::UseNewRequest(r) => match r.validated() {
                        Ok(r) => ("request", js::to_js(&r)),
                        Err(e) => {
                            js::console_error(&format!("bgsession: {method} returned a bad request ({e}); the task continues with its own"));
                            ("continue", JsValue::UNDEFINED)
                        }
                    },
                }
            }
            DelegateTarget::Js(delegate) => match js::wait(js::call_delegate_for_value(delegate, method, args)).await {
            Err(e) => {
                js::console_error(&format!("bgsession: delegate {method} threw: {}; the task continues", js::message(&e)));
                ("continue", JsValue::UNDEFINED)
            }
            Ok(r) if js::get(&r, "exists").as_bool() != Some(true) => ("continue", JsValue::UNDEFINED),
            Ok(r) => {
                let value = js::get(&r, "value");
                match value.as_string().as_deref() {
                    Some("continue") | Some("continueLoading") => ("continue", JsValue::UNDEFINED),
                    Some("cancel") => ("cancel", JsValue::UNDEFINED),
                    _ if value.is_object() => match parse_request(&value, &self.config) {
                        Ok(req) => ("request", js::to_js(&req)),
                        Err(e) => {
                            js::console_error(&format!("bgsession: {method} returned a bad request ({}); the task continues with its own", js::message(&e)));
                            ("continue", JsValue::UNDEFINED)
                        }
                    },
                    _ => {
                        js::console_error(&format!(
                            "bgsession: {method} must return \"continue\", \"cancel\" or a new request {{url, method, headers}}, not {}; the task continues",
                            js::message(&value)
                        ));
                        ("continue", JsValue::UNDEFINED)
                    }
                }
            }
            },
        };
        let msg = js::object(&[
            ("op", "delayedRequest".into()),
            ("session", self.config.identifier.clone().into()),
            ("taskId", JsValue::from_f64(task_id as f64)),
            ("decision", decision.into()),
            ("request", request),
        ]);
        self.ask(msg).await?;
        Ok(())
    }

    /// Waits until every queued acknowledgement is written.
    async fn flush_acks(&self) -> Result<(), JsValue> {
        loop {
            let running = self.acks.writer.borrow().clone();
            match running {
                Some(p) => {
                    js::wait(p.clone()).await?;
                    let mut w = self.acks.writer.borrow_mut();
                    if w.as_ref().is_some_and(|x| JsValue::from(x.clone()) == JsValue::from(p.clone())) {
                        *w = None; // finished
                    }
                }
                None if self.acks.queue.borrow().is_empty() => return Ok(()),
                None => AckWriter::kick(&self.acks, self.config.identifier.clone()),
            }
        }
    }

    async fn maybe_invalidate(self: &Rc<Self>) {
        if self.life.get() != Life::Finishing {
            return;
        }
        let open = self.tasks.borrow().values().any(|(t, _)| t.persisted.get() && t.record.borrow().state != TaskState::Completed);
        if !open {
            self.invalidate().await;
        }
    }

    async fn invalidate(self: &Rc<Self>) {
        if self.life.get() == Life::Invalidated {
            return;
        }
        self.life.set(Life::Invalidated);
        self.heartbeat.borrow_mut().take();
        if let Some((ch, _)) = self.channel.borrow_mut().take() {
            ch.set_onmessage(None);
            ch.close();
        }
        if let Some(release) = self.release_lock.borrow_mut().take() {
            let _ = release.call0(&JsValue::UNDEFINED);
        }
        LIVE.with(|l| {
            let mut l = l.borrow_mut();
            if l.get(&self.config.identifier).is_some_and(|w| w.ptr_eq(&Rc::downgrade(self))) {
                l.remove(&self.config.identifier);
            }
        });
        match &self.delegate {
            DelegateTarget::Js(d) => {
                let args = js_sys::Array::of2(&self.session_js(), &JsValue::NULL);
                if let Err(e) = js::wait(js::call_delegate(d, "didBecomeInvalidWithError", &args)).await {
                    js::console_error(&format!("bgsession: didBecomeInvalidWithError threw: {}", js::message(&e)));
                }
            }
            DelegateTarget::Rust(d) => d.invalid(&UrlSession { inner: self.clone() }, None).await,
        }
        // Break the cycle session → wrapper → session.
        self.js_self.borrow_mut().take();
    }
}

