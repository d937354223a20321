//! The daemon, twin of iOS's nsurlsessiond: runs in the Service Worker
//! (`www/bgsession-sw.js`), takes commands from pages, runs transfers with
//! `fetch` into the segment store, and journals delegate events. It keeps no
//! state that matters in memory: killed and woken again, it reloads the
//! tasks from IndexedDB and resumes them from their stored bytes.

use crate::core::error::{NsError, UrlErrorCode};
use crate::core::resume::ResumeData;
use crate::core::files::FileMeta;
use crate::core::delayed;
use crate::core::journal::{plan_append, Event, JournalEntry};
use crate::core::network::{self, NetworkInfo};
use crate::core::path::SandboxPath;
use crate::core::schedule;
use crate::core::task::{TaskKind, TaskRecord, TaskState, Transition};
use crate::core::upload;
use crate::core::transfer::{self, Failure, FailureDecision, ResponseDecision, RetryPolicy, SegmentOutcome};
use crate::core::config::Transport;
use crate::web::bgfetch;
use crate::web::bytes;
use crate::web::js::{self, from_js, to_js};
use crate::web::store::{self, Store};
use crate::web::transport::{self, StartError};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;

/// Largest segment persisted in one Cache API entry.
pub const SEGMENT_BYTES: u64 = 16 * 1024 * 1024;
/// A segment with bytes in it is persisted after this long at most, so a slow
/// transfer loses little when the worker dies.
pub const SEGMENT_MS: f64 = 1000.0;
/// The BroadcastChannel on which the daemon tells pages the journal grew.
pub const CHANNEL: &str = "bgsession";
/// Default `httpMaximumConnectionsPerHost` (iOS's default on Wi-Fi is 6).
pub const DEFAULT_MAX_PER_HOST: usize = 6;
/// While tasks are held back by the network policy, look again this often.
pub const NETWORK_POLL_MS: f64 = 2000.0;

type Key = (String, u64);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Stop {
    Suspend,
    Cancel,
    /// `simulateKill`: stop as if the worker died (nothing recorded).
    Kill,
}

struct Active {
    abort: web_sys::AbortController,
    stop: Rc<Cell<Option<Stop>>>,
}

#[derive(Default)]
struct Daemon {
    /// "started" was announced for this worker life.
    announced: bool,
    /// After `simulateKill`: nothing starts until the next wake.
    frozen: bool,
    active: HashMap<Key, Active>,
    /// The newest progress entry appended per task (for coalescing).
    last_progress: HashMap<Key, JournalEntry>,
    scheduling: bool,
    again: bool,
    timer: Option<(f64, gloo_timers::callback::Timeout)>,
    idle_waiters: Vec<js_sys::Function>,
    /// Tasks a command is stopping right now: the scheduler leaves them alone.
    stopping: std::collections::HashSet<Key>,
    /// Tasks whose Background Fetch this worker has started or re-attached to.
    bg_active: std::collections::HashSet<Key>,
    channel: Option<web_sys::BroadcastChannel>,
    /// `simulateNetworkConditions`: the link as a page says it is (until
    /// cleared, or this worker's life ends).
    network_override: Option<NetworkInfo>,
}

thread_local! {
    static DAEMON: RefCell<Daemon> = RefCell::new(Daemon::default());
}

fn policy() -> RetryPolicy {
    RetryPolicy::default()
}

fn post(msg: &JsValue) {
    DAEMON.with(|d| {
        let mut d = d.borrow_mut();
        if d.channel.is_none() {
            d.channel = web_sys::BroadcastChannel::new(CHANNEL).ok();
        }
        if let Some(ch) = &d.channel {
            let _ = ch.post_message(msg);
        }
    });
}

/// Tells pages the journal of `session` grew.
fn broadcast(session: &str) {
    post(&js::object(&[("type", "journal".into()), ("session", session.into())]));
}

/// Tells pages what the daemon itself is doing (for timelines such as the
/// demo's): "started" (a new worker life), "busy", "idle", "killed".
fn announce(event: &str) {
    let active = DAEMON.with(|d| d.borrow().active.len());
    post(&js::object(&[
        ("type", "daemon".into()),
        ("event", event.into()),
        ("transfers", JsValue::from_f64(active as f64)),
        ("at", JsValue::from_f64(js::now())),
    ]));
}

fn is_idle(d: &Daemon) -> bool {
    d.active.is_empty() && d.timer.is_none() && !d.scheduling
}

fn notify_idle() {
    let (waiters, became_idle) = DAEMON.with(|d| {
        let mut d = d.borrow_mut();
        if is_idle(&d) {
            let had = !d.idle_waiters.is_empty();
            (std::mem::take(&mut d.idle_waiters), had)
        } else {
            (Vec::new(), false)
        }
    });
    if became_idle {
        announce("idle");
    }
    for w in waiters {
        let _ = w.call0(&JsValue::UNDEFINED);
    }
}

/// Resolves when no transfer is running or waiting for a timer: the Service
/// Worker passes this (raced with a cap) to `waitUntil`, so the browser keeps
/// the daemon alive while it works.
#[wasm_bindgen(js_name = daemonIdle)]
pub fn daemon_idle() -> js_sys::Promise {
    js_sys::Promise::new(&mut |resolve, _reject| {
        let idle = DAEMON.with(|d| {
            let mut d = d.borrow_mut();
            if is_idle(&d) {
                true
            } else {
                d.idle_waiters.push(resolve.clone());
                false
            }
        });
        if idle {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
    })
}

/// Picks up every runnable task (after a restart: resumes them from their
/// stored bytes). Called on activation and on every message.
#[wasm_bindgen(js_name = daemonWake)]
pub async fn daemon_wake() -> Result<(), JsValue> {
    DAEMON.with(|d| d.borrow_mut().frozen = false);
    announce_start();
    schedule_now().await
}

/// Deletes stored bytes that no file and no unfinished task refers to (left
/// by a removal or a failure cut short). Called when a new worker activates.
#[wasm_bindgen(js_name = daemonSweep)]
pub async fn daemon_sweep() -> Result<u32, JsValue> {
    let store = daemon_store().await?;
    let mut keep: std::collections::HashSet<String> = store.files().await?.into_iter().map(|f| f.blob_id).collect();
    // Unfinished tasks' bytes, and a cancelled or failed task's bytes kept for its resume data.
    keep.extend(store.tasks(None).await?.into_iter().filter(|t| t.state != TaskState::Completed || !t.segments.is_empty()).map(|t| t.blob_id));
    bytes::shared().await?.sweep(|id| keep.contains(id)).await
}

/// Handles a command from a page (`{op, ...}`); resolves with the reply.
#[wasm_bindgen(js_name = daemonHandleMessage)]
pub async fn daemon_handle_message(msg: JsValue) -> Result<JsValue, JsValue> {
    let op = js::get(&msg, "op").as_string().unwrap_or_default();
    if op != "simulateKill" {
        DAEMON.with(|d| d.borrow_mut().frozen = false);
        announce_start();
    }
    let store = daemon_store().await?;
    let reply = match op.as_str() {
        "resume" => {
            let rec: TaskRecord = from_js(js::get(&msg, "task"), "task")?;
            // The page has not stored this task yet (its first resume()).
            let fresh = js::get(&msg, "fresh").as_bool().unwrap_or(false);
            let floor = js::get(&msg, "idFloor").as_f64().unwrap_or(0.0) as u64;
            let config = js::get(&msg, "config");
            if config.is_object() {
                store.put_session(&config).await?;
            }
            let existing = store.get_task(&rec.session, rec.task_id).await?.filter(|e| !fresh || e.nonce == rec.nonce);
            let is_new = existing.is_none();
            let mut task = match existing {
                Some(existing) => existing,
                None if rec.kind == TaskKind::Upload => {
                    let mut fresh = rec;
                    fresh.transport = Transport::Fetch;
                    if let Some(err) = snapshot_upload(&store, &mut fresh).await? {
                        // As on iOS, a missing file is the task's error, not a throw.
                        let _ = fresh.resume();
                        store.insert_task(&mut fresh, floor).await?;
                        fail_task(&store, &mut fresh, err).await?;
                        return Ok(to_js(&fresh));
                    }
                    fresh
                }
                None => {
                    let mut fresh = rec;
                    // A task made from resume data takes over the stored bytes,
                    // once: resume data used twice starts the second from zero.
                    if !fresh.segments.is_empty() && !store.claim_bytes(&fresh.blob_id).await? {
                        fresh.discard_bytes();
                        fresh.blob_id = format!("dl-{}", js::random_id());
                    }
                    fresh
                }
            };
            if task.bytes_received == 0 && task.bg_fetch_id.is_none() && task.kind == TaskKind::Download {
                if let Some(t) = js::get(&config, "transport").as_string() {
                    task.transport = Transport::parse(&t).map_err(|e| js::error(e.rule(), &e.to_string()))?;
                }
                if task.transport == Transport::BackgroundFetch {
                    // The page starts it under this id (see `bgFetchFromPage`).
                    task.bg_fetch_id = Some(format!("bgsession-{}", js::random_id()));
                }
            }
            if task.resume().map_err(|e| js::error("InvalidStateError", &e.to_string()))? == Transition::Schedule && task.resource_deadline.is_none() {
                let seconds = js::get(&config, "timeoutIntervalForResource").as_f64().unwrap_or(7.0 * 86400.0);
                task.resource_deadline = Some(js::now() + seconds * 1000.0);
            }
            if is_new {
                store.insert_task(&mut task, floor).await?;
            } else {
                store.put_task(&task).await?;
            }
            to_js(&task)
        }
        "cancelByProducingResumeData" => {
            let (session, task_id) = task_key(&msg);
            stop_active(&(session.clone(), task_id), Stop::Cancel);
            let _stopping = Stopping::new((session.clone(), task_id));
            let Some(mut task) = store.get_task(&session, task_id).await? else {
                return Ok(JsValue::NULL); // never resumed: nothing stored, nothing to resume
            };
            if task.bg_fetch_id.is_some() {
                bgfetch::abort(&task).await;
                DAEMON.with(|d| d.borrow_mut().bg_active.remove(&(session.clone(), task_id)));
                task.bg_fetch_id = None;
                task.discard_bytes(); // the browser's partial download is not ours to resume
            }
            if task.cancel().map_err(|e| js::error("InvalidStateError", &e.to_string()))? == Transition::Unchanged {
                return Ok(JsValue::NULL);
            }
            let data = ResumeData::from_task(&task);
            fail_task(&store, &mut task, NsError::url(UrlErrorCode::Cancelled, "")).await?;
            match data {
                Some(d) => js_sys::Uint8Array::from(d.to_bytes().as_slice()).into(),
                None => JsValue::NULL,
            }
        }
        "suspend" | "cancel" => {
            let (session, task_id) = task_key(&msg);
            let given = js::get(&msg, "task");
            let mut task = match store.get_task(&session, task_id).await? {
                Some(t) => t,
                None if given.is_object() => from_js(given, "task")?,
                None => return Err(js::error("NotFoundError", &format!("no task {task_id} in session \"{session}\""))),
            };
            let stop = if op == "suspend" { Stop::Suspend } else { Stop::Cancel };
            stop_active(&(session.clone(), task_id), stop);
            let _stopping = Stopping::new((session.clone(), task_id));
            let was_bg_fetch = task.bg_fetch_id.is_some();
            if was_bg_fetch {
                bgfetch::abort(&task).await;
                DAEMON.with(|d| d.borrow_mut().bg_active.remove(&(session.clone(), task_id)));
                // A suspended Background Fetch starts again from zero.
                task.bg_fetch_id = None;
                task.discard_bytes();
            }
            let transition = if stop == Stop::Suspend { task.suspend() } else { task.cancel() }
                .map_err(|e| js::error("InvalidStateError", &e.to_string()))?;
            match transition {
                Transition::Complete(err) => {
                    // Re-read: a transfer may have committed bytes meanwhile.
                    let mut task = store.get_task(&session, task_id).await?.unwrap_or(task);
                    let _ = task.cancel();
                    fail_task(&store, &mut task, err).await?;
                    to_js(&task)
                }
                _ => {
                    let mut latest = store.get_task(&session, task_id).await?.unwrap_or(task.clone());
                    latest.state = task.state;
                    if was_bg_fetch {
                        // Stored too, or a resume would wait on the aborted registration.
                        latest.bg_fetch_id = None;
                        latest.discard_bytes();
                    }
                    store.put_task(&latest).await?;
                    to_js(&latest)
                }
            }
        }
        "delayedRequest" => {
            let (session, task_id) = task_key(&msg);
            let decision = match js::get(&msg, "decision").as_string().as_deref() {
                Some("continue") => delayed::Decision::Continue,
                Some("cancel") => delayed::Decision::Cancel,
                Some("request") => delayed::Decision::UseNewRequest(from_js(js::get(&msg, "request"), "request")?),
                other => return Err(js::error("TypeError", &format!("unknown willBeginDelayedRequest decision {other:?}"))),
            };
            let Some(mut task) = store.get_task(&session, task_id).await? else { return Ok(JsValue::FALSE) };
            match delayed::decide(&mut task, decision) {
                None => JsValue::FALSE,
                Some(Transition::Complete(err)) => {
                    fail_task(&store, &mut task, err).await?;
                    JsValue::TRUE
                }
                Some(_) => {
                    store.put_task(&task).await?;
                    JsValue::TRUE
                }
            }
        }
        "simulateNetwork" => {
            let given = js::get(&msg, "conditions");
            let net: Option<NetworkInfo> = if given.is_object() { Some(from_js(given, "conditions {type, effectiveType, saveData}")?) } else { None };
            DAEMON.with(|d| d.borrow_mut().network_override = net);
            to_js(&network_now())
        }
        "wake" | "ping" => JsValue::TRUE,
        "status" => js::object(&[
            ("transfers", JsValue::from_f64(DAEMON.with(|d| d.borrow().active.len()) as f64)),
            ("backgroundFetches", JsValue::from_f64(DAEMON.with(|d| d.borrow().bg_active.len()) as f64)),
        ]),
        "simulateKill" => {
            // For teaching and tests where the browser's own kill is not at
            // hand: drop every transfer and all memory as a killed worker
            // would (bytes in flight are lost; stored segments stay), and
            // come back on the next wake.
            let keys: Vec<Key> = DAEMON.with(|d| d.borrow().active.keys().cloned().collect());
            for k in &keys {
                stop_active(k, Stop::Kill);
            }
            DAEMON.with(|d| {
                let mut d = d.borrow_mut();
                d.last_progress.clear();
                d.bg_active.clear();
                d.timer = None;
                d.announced = false;
                d.frozen = true;
            });
            store.forget_tasks();
            announce("killed");
            return Ok(JsValue::from_f64(keys.len() as f64));
        }
        "backgroundFetchUnavailable" => {
            // The page could not start the Background Fetch: run it with fetch.
            let (session, task_id) = task_key(&msg);
            let reason = js::get(&msg, "reason").as_string().unwrap_or_default();
            if let Some(mut task) = store.get_task(&session, task_id).await? {
                if task.state == TaskState::Running && task.transport == Transport::BackgroundFetch {
                    js::console_warn(&format!("bgsession: task {task_id} runs with fetch: {reason}"));
                    task.transport = Transport::Fetch;
                    task.bg_fetch_id = None;
                    store.put_task(&task).await?;
                }
            }
            JsValue::TRUE
        }
        "pending" => JsValue::from_bool(store.tasks(None).await?.iter().any(|t| t.state == TaskState::Running)),
        other => return Err(js::error("TypeError", &format!("unknown daemon command \"{other}\""))),
    };
    schedule_now().await?;
    Ok(reply)
}

/// The `(session, taskId)` a command names.
fn task_key(msg: &JsValue) -> Key {
    (js::get(msg, "session").as_string().unwrap_or_default(), js::get(msg, "taskId").as_f64().unwrap_or(-1.0) as u64)
}

/// The store as the daemon uses it: task records kept in memory (it is
/// their one writer; see `Store::keep_tasks`).
pub(crate) async fn daemon_store() -> Result<Rc<Store>, JsValue> {
    let store = store::shared().await?;
    store.keep_tasks();
    Ok(store)
}

/// Marks a task as being stopped by a command until dropped.
struct Stopping(Key);

/// Is a command stopping this task right now (suspend, cancel)? Its own
/// abort of a Background Fetch then settles nothing.
pub(crate) fn is_stopping(session: &str, task_id: u64) -> bool {
    DAEMON.with(|d| d.borrow().stopping.contains(&(session.to_string(), task_id)))
}

impl Stopping {
    fn new(key: Key) -> Self {
        DAEMON.with(|d| d.borrow_mut().stopping.insert(key.clone()));
        Stopping(key)
    }
}

impl Drop for Stopping {
    fn drop(&mut self) {
        DAEMON.with(|d| d.borrow_mut().stopping.remove(&self.0));
    }
}

fn stop_active(key: &Key, why: Stop) {
    DAEMON.with(|d| {
        if let Some(a) = d.borrow().active.get(key) {
            a.stop.set(Some(why));
            a.abort.abort();
        }
    });
}

fn announce_start() {
    let first = DAEMON.with(|d| !std::mem::replace(&mut d.borrow_mut().announced, true));
    if first {
        announce("started");
    }
}

/// The link as the browser reports it (`navigator.connection`), or as
/// `simulateNetworkConditions` set it.
fn network_now() -> NetworkInfo {
    if let Some(n) = DAEMON.with(|d| d.borrow().network_override.clone()) {
        return n;
    }
    let conn = js::get(&js::get(&js::global(), "navigator"), "connection");
    if !conn.is_object() {
        return NetworkInfo::default();
    }
    NetworkInfo {
        kind: js::get(&conn, "type").as_string(),
        effective_type: js::get(&conn, "effectiveType").as_string(),
        save_data: js::get(&conn, "saveData").as_bool().unwrap_or(false),
    }
}

/// Starts what may start now and arms a timer for what waits.
async fn schedule_now() -> Result<(), JsValue> {
    let busy = DAEMON.with(|d| {
        let mut d = d.borrow_mut();
        if d.frozen {
            return true;
        }
        if d.scheduling {
            d.again = true;
            true
        } else {
            d.scheduling = true;
            false
        }
    });
    if busy {
        return Ok(());
    }
    let result = schedule_loop().await;
    DAEMON.with(|d| d.borrow_mut().scheduling = false);
    notify_idle();
    result
}

async fn schedule_loop() -> Result<(), JsValue> {
    let store = daemon_store().await?;
    loop {
        DAEMON.with(|d| d.borrow_mut().again = false);
        let mut tasks = store.tasks(None).await?;
        let now = js::now();
        for t in tasks.iter_mut().filter(|t| t.state == TaskState::Running) {
            if let Some(err) = transfer::resource_timed_out(t, now) {
                stop_active(&(t.session.clone(), t.task_id), Stop::Cancel);
                fail_task(&store, t, err).await?;
            }
        }
        // Delayed tasks whose date has come: ask the app first.
        for t in tasks.iter_mut().filter(|t| delayed::due(t, now)) {
            let question = delayed::ask(t);
            journal(&store, t, None, vec![question]).await?;
            launch_app_if_closed(&store, &t.session, "needs the app to answer willBeginDelayedRequest").await;
        }
        let active = |t: &TaskRecord| {
            let key = (t.session.clone(), t.task_id);
            DAEMON.with(|d| {
                let d = d.borrow();
                d.active.contains_key(&key) || d.bg_active.contains(&key) || d.stopping.contains(&key)
            })
        };
        let running: Vec<TaskRecord> = tasks.iter().filter(|t| t.state == TaskState::Running).cloned().collect();
        // The network's say: policies (cellular, expensive, constrained, discretionary).
        let admission = network::admit(&running, &network_now(), active, now);
        for t in admission.newly_waiting {
            let mut t = t.clone();
            t.waiting_for_connectivity = true;
            journal(&store, &t, None, vec![Event::TaskIsWaitingForConnectivity]).await?;
        }
        // Every running task of a session (active ones count against its
        // cap); only admitted ones may start.
        let mut by_session: HashMap<String, Vec<TaskRecord>> = HashMap::new();
        for t in running.iter().filter(|t| admission.admitted.contains(&(t.session.clone(), t.task_id)) || active(t)) {
            by_session.entry(t.session.clone()).or_default().push(t.clone());
        }
        let admitted = admission.admitted;
        for (session, list) in &by_session {
            if !list.iter().any(|t| admitted.contains(&(t.session.clone(), t.task_id))) {
                continue; // only active ones: nothing may start, no need for the cap
            }
            let max = match store.session(session).await? {
                Some(cfg) => js::get(&cfg, "httpMaximumConnectionsPerHost").as_f64().map(|n| n as usize).unwrap_or(DEFAULT_MAX_PER_HOST),
                None => DEFAULT_MAX_PER_HOST,
            };
            let may_start = |t: &TaskRecord| admitted.contains(&(t.session.clone(), t.task_id));
            let picked: Vec<TaskRecord> = schedule::pick_among(list, active, may_start, max, now).into_iter().cloned().collect();
            for t in picked {
                start(t);
            }
        }
        let mut wake = schedule::next_wake(&running, now);
        if admission.held > 0 {
            // Held back by the network: look again soon (the link may change).
            let poll = now + NETWORK_POLL_MS;
            wake = Some(wake.map_or(poll, |w| w.min(poll)));
        }
        arm_timer(wake, now);
        if !DAEMON.with(|d| d.borrow().again) {
            return Ok(());
        }
    }
}

fn arm_timer(at: Option<f64>, now: f64) {
    DAEMON.with(|d| {
        let mut d = d.borrow_mut();
        match at {
            None => d.timer = None,
            Some(at) => {
                if d.timer.as_ref().is_some_and(|(t, _)| *t == at) {
                    return;
                }
                let delay = (at - now).max(0.0).min(i32::MAX as f64) as u32;
                let timeout = gloo_timers::callback::Timeout::new(delay, || {
                    DAEMON.with(|d| d.borrow_mut().timer = None);
                    spawn_local(async {
                        if let Err(e) = schedule_now().await {
                            js::console_error(&format!("bgsession daemon: {}", js::message(&e)));
                        }
                    });
                });
                d.timer = Some((at, timeout));
            }
        }
    });
}

/// The Web Lock that makes one worker at a time run a task (an old and a new
/// version of the worker can briefly coexist during an update).
fn task_lock(key: &Key) -> String {
    format!("bgsession:task:{}:{}", key.0, key.1)
}

fn start(task: TaskRecord) {
    if task.transport == Transport::BackgroundFetch {
        return start_background_fetch(task);
    }
    let key = (task.session.clone(), task.task_id);
    let Ok(abort) = web_sys::AbortController::new() else { return };
    let stop = Rc::new(Cell::new(None));
    let was_idle = DAEMON.with(|d| d.borrow().active.is_empty());
    DAEMON.with(|d| d.borrow_mut().active.insert(key.clone(), Active { abort: abort.clone(), stop: stop.clone() }));
    if was_idle {
        announce("busy");
    }
    spawn_local(async move {
        let release = match js::wait(js::try_lock(&task_lock(&key))).await {
            Ok(r) if r.is_function() => r,
            _ => {
                // Another worker runs it; look again later.
                DAEMON.with(|d| d.borrow_mut().active.remove(&key));
                arm_timer(Some(js::now() + 2_000.0), js::now());
                notify_idle();
                return;
            }
        };
        let mut task = task;
        let outcome = run(&mut task, &abort, &stop).await;
        abort.abort(); // drop whatever connection is left
        let _ = release.unchecked_ref::<js_sys::Function>().call0(&JsValue::UNDEFINED);
        DAEMON.with(|d| d.borrow_mut().active.remove(&key));
        let handled = match outcome {
            Ok(()) => Ok(()),
            Err(_) if stop.get().is_some() => Ok(()),
            Err(failure) => on_failure(&mut task, failure).await,
        };
        if let Err(e) = handled {
            js::console_error(&format!("bgsession daemon, task {}: {}", key.1, js::message(&e)));
        }
        if let Err(e) = schedule_now().await {
            js::console_error(&format!("bgsession daemon: {}", js::message(&e)));
        }
        notify_idle();
    });
}

/// A Background Fetch task: the browser's download service carries it (the
/// page started it); this worker only listens to its progress.
fn start_background_fetch(task: TaskRecord) {
    let key = (task.session.clone(), task.task_id);
    DAEMON.with(|d| d.borrow_mut().bg_active.insert(key.clone()));
    spawn_local(async move {
        match bgfetch::attach(&task).await {
            Ok(true) => {}
            // Not started yet (the page starts it) or already settled (its
            // event is on the way): look again at the next wake.
            Ok(false) => {
                DAEMON.with(|d| d.borrow_mut().bg_active.remove(&key));
            }
            Err(e) => {
                DAEMON.with(|d| d.borrow_mut().bg_active.remove(&key));
                js::console_warn(&format!("bgsession: task {}: {}", key.1, js::message(&e)));
            }
        }
        notify_idle();
    });
}

/// `backgroundfetchsuccess`, `backgroundfetchfail`, `backgroundfetchabort`
/// (`kind` without the prefix): ingests the body or maps the failure.
#[wasm_bindgen(js_name = daemonBackgroundFetchSettled)]
pub async fn daemon_background_fetch_settled(kind: String, registration: JsValue) -> Result<(), JsValue> {
    let store = daemon_store().await?;
    match bgfetch::settled(&kind, &registration).await? {
        bgfetch::Settled::Stale => {}
        bgfetch::Settled::Finished(mut task) => {
            DAEMON.with(|d| d.borrow_mut().bg_active.remove(&(task.session.clone(), task.task_id)));
            finish(&store, &mut task).await?;
        }
        bgfetch::Settled::Failed(mut task, failure) => {
            DAEMON.with(|d| d.borrow_mut().bg_active.remove(&(task.session.clone(), task.task_id)));
            // A worker cannot start a new Background Fetch: the retry runs
            // with fetch (and resumes with Range if the body was partly taken).
            task.transport = Transport::Fetch;
            store.put_task(&task).await?;
            on_failure(&mut task, failure).await?;
        }
        bgfetch::Settled::Ended(mut task, err) => {
            DAEMON.with(|d| d.borrow_mut().bg_active.remove(&(task.session.clone(), task.task_id)));
            fail_task(&store, &mut task, err).await?;
        }
    }
    schedule_now().await
}

/// Appends events for `task` (coalescing its progress) with the task's
/// state, in one transaction; tells the pages.
pub(crate) async fn journal(store: &Store, task: &TaskRecord, file: Option<&FileMeta>, events: Vec<Event>) -> Result<(), JsValue> {
    append(store, task, file, events, false).await
}

/// [`journal`] for a transfer's own writes: only while the stored task is
/// still running (see `Store::commit`).
pub(crate) async fn journal_running(store: &Store, task: &TaskRecord, file: Option<&FileMeta>, events: Vec<Event>) -> Result<(), JsValue> {
    append(store, task, file, events, true).await
}

async fn append(store: &Store, task: &TaskRecord, file: Option<&FileMeta>, events: Vec<Event>, only_if_running: bool) -> Result<(), JsValue> {
    let key = (task.session.clone(), task.task_id);
    let now = js::now();
    let mut appends = Vec::new();
    // Only the first event can coalesce with what was appended before, and
    // only the last of several appended at once can be coalesced later.
    let mut previous = if events.is_empty() { None } else { DAEMON.with(|d| d.borrow_mut().last_progress.remove(&key)) };
    for event in events {
        let plan = plan_append(previous.take().as_ref(), &event);
        let entry = JournalEntry { seq: None, session: task.session.clone(), task_id: task.task_id, event, response: task.response.clone(), at: now };
        appends.push((entry, plan));
    }
    let written = store.commit(Some(task), file, appends, only_if_running).await?;
    if let Some(last) = written.last() {
        if matches!(last.event, Event::DidWriteData { .. } | Event::DidSendBodyData { .. }) {
            DAEMON.with(|d| d.borrow_mut().last_progress.insert(key.clone(), last.clone()));
        }
    }
    if task.state == TaskState::Completed {
        DAEMON.with(|d| d.borrow_mut().last_progress.remove(&key));
    }
    broadcast(&task.session);
    if written.iter().any(|e| matches!(e.event, Event::DidCompleteWithError { .. })) {
        launch_app_if_finished(store, &task.session).await;
    }
    Ok(())
}

/// One transfer of a download task, until its body is stored or it fails.
/// A slow link streams the body into segments (kept up to a break); a fast
/// one is fetched as bounded segments that the browser reads whole (the fast
/// path into the store). See `transfer::after_segment`.
async fn run(task: &mut TaskRecord, abort: &web_sys::AbortController, stop: &Rc<Cell<Option<Stop>>>) -> Result<(), Failure> {
    if task.kind == TaskKind::Upload {
        return run_upload(task, abort, stop).await;
    }
    let store = daemon_store().await.map_err(|e| Failure::Write(js::message(&e)))?;
    let bytes = bytes::shared().await.map_err(|e| Failure::Write(js::message(&e)))?;
    let persist = |e: JsValue| Failure::Write(js::message(&e));
    let config = store.session(&task.session).await.ok().flatten().unwrap_or(JsValue::UNDEFINED);
    let request_timeout_ms = js::get(&config, "timeoutIntervalForRequest").as_f64().unwrap_or(60.0) * 1000.0;
    let mut first_response = true;
    // Stored bytes were found stale or gone and dropped (told as didResumeAtOffset(0)).
    let mut restarted = !keep_intact(&store, &bytes, task).await.map_err(persist)? && task.bytes_received == 0;
    // In fast mode the next segment's request is sent before the current
    // one is stored, so the network and the store work at the same time.
    let mut prefetched: Option<(transfer::FetchPlan, js_sys::Promise)> = None;
    loop {
        let (plan, pending) = match prefetched.take() {
            Some(p) => p,
            None => {
                let plan = transfer::plan_fetch(task);
                let pending = match transport::begin(&plan, abort) {
                    Ok(p) => p,
                    Err(StartError::Aborted) => return Ok(()),
                    Err(StartError::Failed(f)) => return Err(f),
                };
                (plan, pending)
            }
        };
        let Some(started) = response_head(pending, abort, request_timeout_ms, &plan.request.url, stop).await? else { return Ok(()) };
        if transfer::is_transient_status(started.info.status_code) {
            if let Some(at) = policy().on_server_error(task, &started.info, js::now(), js_sys::Math::random()) {
                started.discard();
                js::console_warn(&format!("bgsession: task {} got {}; retries at {}", task.task_id, started.info.status_code, at));
                return journal_running(&store, task, None, vec![]).await.map_err(persist);
            }
        }
        let stored_segments = task.segments.len();
        let old_blob = task.blob_id.clone();
        let had_bytes = plan.offset > 0;
        let decision = transfer::on_response(task, &plan, started.info.clone());
        if task.segments.is_empty() && stored_segments > 0 {
            bytes.delete(&old_blob, stored_segments).await.map_err(persist)?;
        }
        let mut events = Vec::new();
        match decision {
            ResponseDecision::Refetch { reason } => {
                restarted |= had_bytes;
                started.discard();
                js::console_warn(&format!("bgsession: task {} restarts from zero: {reason}", task.task_id));
                journal_running(&store, task, None, vec![]).await.map_err(persist)?;
                continue;
            }
            // Apple: "If the file's cached data is no longer valid, the offset is zero."
            ResponseDecision::Restart if first_response && had_bytes => {
                events.push(Event::DidResumeAtOffset { file_offset: 0, expected_total_bytes: task.expected_or_unknown() });
            }
            ResponseDecision::Restart => {}
            ResponseDecision::Write { offset: 0, .. } if first_response && restarted => {
                events.push(Event::DidResumeAtOffset { file_offset: 0, expected_total_bytes: task.expected_or_unknown() });
            }
            ResponseDecision::Write { offset, resumed } => {
                if resumed && first_response {
                    events.push(Event::DidResumeAtOffset { file_offset: offset, expected_total_bytes: task.expected_or_unknown() });
                }
            }
        }
        first_response = false;
        journal_running(&store, task, None, events).await.map_err(persist)?;

        let bounded = plan.end.is_some() && started.info.status_code == 206;
        if bounded && plan.whole {
            // Fast mode: one bounded segment, read whole by the browser.
            let t0 = js::now();
            let blob = match transport::read_blob(&started.response, abort, request_timeout_ms).await {
                Ok(b) => b,
                Err(StartError::Aborted) => return Ok(()),
                Err(StartError::Failed(f)) => return Err(f),
            };
            if stop.get().is_some() {
                return Ok(());
            }
            let asked = started.info.header("content-range").and_then(crate::core::request::ContentRange::parse).map_or(0, |r| r.len());
            let len = blob.size() as u64;
            if len != asked {
                return Err(Failure::Lost(format!("a segment ended after {len} of {asked} bytes")));
            }
            // What the task will be once this segment is stored; ask for the
            // next segment right away.
            let mut next = task.clone();
            transfer::on_segment_stored(&mut next, len);
            transfer::after_segment(&mut next, len, js::now() - t0, false);
            let complete = transfer::bounded_body_complete(&next, &plan, len);
            if !complete && next.fast {
                let next_plan = transfer::plan_fetch(&next);
                if let Ok(p) = transport::begin(&next_plan, abort) {
                    prefetched = Some((next_plan, p));
                }
            }
            bytes.put_blob(&task.blob_id, task.segments.len(), &blob).await.map_err(|e| transport::classify(&e))?;
            if stop.get().is_some() {
                count_stored_segment(&store, task, task.segments.len(), len).await;
                return Ok(());
            }
            *task = next;
            let ev = Event::DidWriteData { total_bytes_written: task.bytes_received, total_bytes_expected_to_write: task.expected_or_unknown() };
            journal_running(&store, task, None, vec![ev]).await.map_err(persist)?;
            if complete {
                transfer::on_body_end(task)?;
                if !keep_intact(&store, &bytes, task).await.map_err(persist)? {
                    return Err(Failure::Lost("a stored segment was missing or short when the body ended: fetched again".into()));
                }
                return finish(&store, task).await.map_err(persist);
            }
            continue;
        }

        // Streaming: segment i+1 is read while segment i is persisted and
        // journalled.
        let reader = started.reader();
        let carry = JsValue::from(js_sys::Object::new());
        let mut done = reader.is_null();
        let mut handed: Option<(bytes::Segment, f64)> = None;
        let mut switch_to_fast = false;
        // A streamed probe (bounded, not fast): its rate is judged on the whole body.
        let (body_t0, body_start) = (js::now(), task.bytes_received);
        while !done || handed.is_some() {
            let next = (!done && !switch_to_fast).then(|| {
                let index = task.segments.len() + usize::from(handed.is_some());
                (bytes.start_segment(&reader, &task.blob_id, index, SEGMENT_BYTES, SEGMENT_MS, request_timeout_ms, &carry), js::now())
            });
            if let Some((seg, elapsed)) = handed.take() {
                let index = task.segments.len();
                if let Err(e) = seg.persisted().await {
                    return if stop.get().is_some() { Ok(()) } else { Err(transport::classify(&e)) };
                }
                if stop.get().is_some() {
                    count_stored_segment(&store, task, index, seg.written).await;
                    return Ok(());
                }
                transfer::on_segment_stored(task, seg.written);
                if !bounded && !switch_to_fast && !seg.done && transfer::after_segment(task, seg.written, elapsed, true) == SegmentOutcome::SwitchToFast {
                    // Stop streaming; the segment already started takes what
                    // arrived, then the rest comes as bounded segments.
                    switch_to_fast = true;
                    transport::discard(&reader);
                }
                if seg.written > 0 {
                    let ev = Event::DidWriteData { total_bytes_written: task.bytes_received, total_bytes_expected_to_write: task.expected_or_unknown() };
                    journal_running(&store, task, None, vec![ev]).await.map_err(persist)?;
                }
                if let Some(err) = seg.broken.filter(|_| !switch_to_fast) {
                    return Err(transport::classify(&err));
                }
            }
            if let Some((started_segment, t0)) = next {
                let seg = match bytes::Segment::from_js(started_segment).await {
                    Ok(seg) => seg,
                    Err(_) if stop.get().is_some() => return Ok(()),
                    Err(e) => return Err(transport::classify(&e)),
                };
                done = seg.done || seg.broken.is_some();
                let elapsed = js::now() - t0;
                handed = Some((seg, elapsed));
            }
            if switch_to_fast && handed.is_none() {
                break;
            }
        }
        if switch_to_fast && !task.bytes_expected.is_some_and(|t| task.bytes_received >= t) {
            journal_running(&store, task, None, vec![]).await.map_err(persist)?;
            continue;
        }
        if bounded {
            let (asked, len) = (plan.end.map_or(0, |e| e + 1 - plan.offset), task.bytes_received - body_start);
            let asked = started.info.header("content-range").and_then(crate::core::request::ContentRange::parse).map_or(asked, |r| r.len());
            if len != asked {
                return Err(Failure::Lost(format!("a segment ended after {len} of {asked} bytes")));
            }
            transfer::after_segment(task, len, js::now() - body_t0, false);
            if !transfer::bounded_body_complete(task, &plan, len) {
                journal_running(&store, task, None, vec![]).await.map_err(persist)?;
                continue;
            }
        }
        transfer::on_body_end(task)?;
        if !keep_intact(&store, &bytes, task).await.map_err(persist)? {
            return Err(Failure::Lost("a stored segment was missing or short when the body ended: fetched again".into()));
        }
        return finish(&store, task).await.map_err(persist);
    }
}

/// Checks a download's stored segments against the lengths recorded (an
/// engine may drop entries — WebKit's ephemeral store with the last page —
/// or commit a truncated one — Firefox when the worker is stopped
/// mid-stream) and keeps only the intact prefix; false if any was lost.
/// Success is never reported over bytes that are not there.
async fn keep_intact(store: &Store, bytes: &bytes::Bytes, task: &mut TaskRecord) -> Result<bool, JsValue> {
    if task.segments.is_empty() {
        return Ok(true);
    }
    let intact = bytes.intact_prefix(&task.blob_id, &task.segments).await?;
    if intact == task.segments.len() {
        return Ok(true);
    }
    let lost = task.segments.len() - intact;
    js::console_warn(&format!("bgsession: task {}: {lost} stored segment(s) missing or short; continuing from segment {intact}", task.task_id));
    bytes.delete_range(&task.blob_id, intact, lost).await?;
    task.segments.truncate(intact);
    task.bytes_received = task.segments.iter().sum();
    if task.bytes_received == 0 {
        task.discard_bytes();
    }
    journal_running(store, task, None, vec![]).await?;
    Ok(false)
}

/// `sessionSendsLaunchEvents`: with no page of the app holding this
/// session's events, shows a notification whose click opens the app — the
/// browser's twin of iOS relaunching the app in the background. Quietly does
/// nothing without notification permission.
async fn launch_app_if_closed(store: &Store, session: &str, why: &str) {
    launch_app_when(store, session, why, || async { true }).await
}

/// [`launch_app_if_closed`] once the session's last running task is over.
async fn launch_app_if_finished(store: &Store, session: &str) {
    launch_app_when(store, session, "has finished its transfers", || async {
        store.tasks(Some(session)).await.is_ok_and(|ts| !ts.iter().any(|t| t.state == TaskState::Running))
    })
    .await
}

async fn launch_app_when<F: std::future::Future<Output = bool>>(store: &Store, session: &str, why: &str, also: impl FnOnce() -> F) {
    let permission = js::get(&js::get(&js::global(), "Notification"), "permission").as_string();
    if permission.as_deref() != Some("granted") {
        return; // skip quietly without permission
    }
    let Ok(Some(config)) = store.session(session).await else { return };
    if js::get(&config, "sessionSendsLaunchEvents").as_bool() == Some(false) {
        return;
    }
    let held = js::held_lock_names().await.unwrap_or_default();
    if held.iter().any(|n| *n == crate::web::page::session_lock_name(session)) {
        return; // a page is open: it receives the events
    }
    if !also().await {
        return;
    }
    let pending = store.count_pending(session).await.unwrap_or(0);
    let url = js::get(&config, "launchURL").as_string().unwrap_or_else(|| "./".into());
    let description = js::get(&config, "sessionDescription").as_string().filter(|s| !s.is_empty()).unwrap_or_else(|| session.to_string());
    if let Err(e) = js::wait(js::show_launch_notification(session, &description, why, pending as f64, &url)).await {
        js::console_warn(&format!("bgsession: no launch notification for \"{session}\": {}", js::message(&e)));
    }
}

/// Takes the daemon's own copy of an upload's file (so the app may move or
/// delete it meanwhile). Returns the task's error when there is no file.
async fn snapshot_upload(store: &Store, task: &mut TaskRecord) -> Result<Option<NsError>, JsValue> {
    let from = task.upload_from.clone().unwrap_or_default();
    let missing = || Some(NsError::url(UrlErrorCode::FileDoesNotExist, format!("uploadTask(fromFile:): there is no file at {from}")));
    let Ok(path) = SandboxPath::parse(&from) else { return Ok(missing()) };
    let Some(file) = store.get_file(&path).await? else { return Ok(missing()) };
    if let Err(e) = bytes::shared().await?.copy(&file, &task.blob_id).await {
        let f = transport::classify(&e);
        return Ok(Some(NsError::url(UrlErrorCode::CannotCreateFile, format!("could not copy {from} for the upload: {f:?}"))));
    }
    task.segments = file.segments.clone();
    task.bytes_expected_to_send = file.size;
    Ok(None)
}

/// One attempt of an upload task: the request with the file as its body,
/// then the whole response; see `core::upload` for what is reported.
async fn run_upload(task: &mut TaskRecord, abort: &web_sys::AbortController, stop: &Rc<Cell<Option<Stop>>>) -> Result<(), Failure> {
    let store = daemon_store().await.map_err(|e| Failure::Write(js::message(&e)))?;
    let bytes = bytes::shared().await.map_err(|e| Failure::Write(js::message(&e)))?;
    let persist = |e: JsValue| Failure::Write(js::message(&e));
    let config = store.session(&task.session).await.ok().flatten().unwrap_or(JsValue::UNDEFINED);
    let request_timeout_ms = js::get(&config, "timeoutIntervalForRequest").as_f64().unwrap_or(60.0) * 1000.0;
    let snapshot = FileMeta::new(&SandboxPath::parse("/tmp/upload").expect("a valid path"), task.blob_id.clone(), task.segments.clone(), 0.0, None);
    let body = bytes.read(&snapshot).await.map_err(|e| Failure::Write(format!("the upload's copy of its file is unreadable: {}", js::message(&e))))?;
    upload::restart(task);
    let plan = transfer::FetchPlan { request: task.current_request.clone(), offset: 0, end: None, whole: false };
    let pending = match transport::begin_with_body(&plan, Some(&body), abort) {
        Ok(p) => p,
        Err(StartError::Aborted) => return Ok(()),
        Err(StartError::Failed(f)) => return Err(f),
    };
    // No response until the server has read the body: allow for sending it
    // at a modest 256 KiB/s on top of the request timeout.
    let send_ms = task.bytes_expected_to_send as f64 / (256.0 * 1024.0) * 1000.0;
    let Some(started) = response_head(pending, abort, request_timeout_ms + send_ms, &plan.request.url, stop).await? else { return Ok(()) };
    let events = upload::on_response(task, started.info.clone());
    journal_running(&store, task, None, events).await.map_err(persist)?;
    let blob = match transport::read_blob(&started.response, abort, request_timeout_ms).await {
        Ok(b) => b,
        Err(StartError::Aborted) => return Ok(()),
        Err(StartError::Failed(f)) => return Err(f),
    };
    let data = match js::wait(blob.array_buffer()).await {
        Ok(buf) => js_sys::Uint8Array::new(&buf).to_vec(),
        Err(e) => return Err(transport::classify(&e)),
    };
    if stop.get().is_some() {
        return Ok(());
    }
    let events = upload::on_body(task, &data);
    let (blob_id, segments) = (task.blob_id.clone(), task.segments.len());
    task.segments.clear();
    task.complete(None).map_err(|e| Failure::Write(e.to_string()))?;
    journal_running(&store, task, None, events).await.map_err(persist)?;
    // The daemon's copy of the file is no longer needed.
    if let Err(e) = bytes.delete(&blob_id, segments).await {
        js::console_warn(&format!("bgsession: task {}: the upload's copy stays until the next sweep: {}", task.task_id, js::message(&e)));
    }
    Ok(())
}

/// Waits for the head of a response; `None` when the transfer was stopped
/// meanwhile (suspend, cancel, kill). A failure before any response is
/// explained (CORS or not, see `transport::diagnose`).
async fn response_head(pending: js_sys::Promise, abort: &web_sys::AbortController, timeout_ms: f64, url: &str, stop: &Rc<Cell<Option<Stop>>>) -> Result<Option<transport::Started>, Failure> {
    let started = match transport::arrive(pending, abort, timeout_ms).await {
        Ok(s) => s,
        Err(StartError::Aborted) => return Ok(None),
        Err(StartError::Failed(f)) => return Err(transport::diagnose(f, url).await),
    };
    if stop.get().is_some() {
        started.discard();
        return Ok(None);
    }
    Ok(Some(started))
}

/// A segment was stored but the task moved on (suspend, cancel, kill):
/// count it so a resume continues after it.
async fn count_stored_segment(store: &Store, task: &TaskRecord, index: usize, written: u64) {
    if written == 0 {
        return;
    }
    if let Ok(Some(mut latest)) = store.get_task(&task.session, task.task_id).await {
        if latest.state != TaskState::Completed && latest.segments.len() == index {
            transfer::on_segment_stored(&mut latest, written);
            let _ = store.put_task(&latest).await;
        }
    }
}

/// The body is stored: it becomes a temp file in the sandbox, and the task
/// completes (`didFinishDownloadingTo`, then `didCompleteWithError(null)`).
async fn finish(store: &Store, task: &mut TaskRecord) -> Result<(), JsValue> {
    let location = crate::core::files::download_temp_path(&js::random_id().replace('-', "").chars().take(12).collect::<String>());
    let content_type = task.response.as_ref().and_then(|r| r.header("content-type").map(str::to_string));
    task.complete(None).map_err(|e| js::error("InvalidStateError", &e.to_string()))?;
    // The bytes are the temp file's now (core::daemon's finish does the same).
    let file = FileMeta::new(&location, task.blob_id.clone(), std::mem::take(&mut task.segments), js::now(), content_type);
    let events = vec![Event::DidFinishDownloadingTo { location: location.url() }, Event::DidCompleteWithError { error: None }];
    journal_running(store, task, Some(&file), events).await
}

async fn on_failure(task: &mut TaskRecord, failure: Failure) -> Result<(), JsValue> {
    let store = daemon_store().await?;
    // The page may have changed the task meanwhile (suspend, cancel).
    if let Some(latest) = store.get_task(&task.session, task.task_id).await? {
        if latest.state != TaskState::Running {
            return Ok(());
        }
    }
    let jitter = js_sys::Math::random();
    match policy().on_failure(task, failure, js::now(), jitter) {
        FailureDecision::RetryAt(at) => {
            js::console_warn(&format!("bgsession: task {} retries at {}", task.task_id, at));
            journal_running(&store, task, None, vec![]).await
        }
        FailureDecision::WaitForConnectivity { notify: true } => journal_running(&store, task, None, vec![Event::TaskIsWaitingForConnectivity]).await,
        FailureDecision::WaitForConnectivity { notify: false } => journal_running(&store, task, None, vec![]).await,
        FailureDecision::Fail(err) => fail_task(&store, task, err).await,
    }
}

/// Completes `task` with `err`. If the bytes so far can be continued, they
/// are kept and the error carries `NSURLSessionDownloadTaskResumeData` (as
/// on iOS); otherwise they are deleted.
async fn fail_task(store: &Store, task: &mut TaskRecord, mut err: NsError) -> Result<(), JsValue> {
    let segments = task.segments.len();
    let blob = task.blob_id.clone();
    let kept = crate::core::resume::keep_for_resume(task, &mut err);
    if task.complete(Some(err.clone())).is_err() {
        return Ok(());
    }
    journal(store, task, None, vec![Event::DidCompleteWithError { error: Some(err) }]).await?;
    if !kept {
        bytes::shared().await?.delete(&blob, segments).await?;
    }
    Ok(())
}

pub use crate::core::resume::RESUME_DATA_KEY;
