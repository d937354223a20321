//! The Service Worker host of the daemon machine ([`core::daemon::Daemon`],
//! the twin of iOS's nsurlsessiond). The machine makes every lifecycle
//! decision; this host only loops, as quinn's I/O crate does around
//! quinn-proto: it feeds the machine what happened (a page's command, a
//! response head, a stored segment, a body's end, a failure, a timer) with
//! `now` = `Date.now()`, and performs what [`Daemon::poll_action`] returns,
//! in order: `fetch` with the planned `Range`/`If-Range`, a body streamed
//! into Cache API segments (glue.js `pumpSegment`) or a fast segment read
//! whole, one IndexedDB transaction per commit, replies and broadcasts.
//!
//! One machine per worker life: it is built from the stored tasks and
//! session configurations when the worker first needs it, and lost with the
//! worker (or with `simulateDaemonKill`).
//!
//! [`core::daemon::Daemon`]: crate::core::daemon::Daemon

use crate::core::config::ConfigData;
use crate::core::daemon::{Action, Commit, Daemon, Send, TaskKey, TransferId};
use crate::core::files::FileMeta;
use crate::core::network::NetworkInfo;
use crate::core::path::SandboxPath;
use crate::core::protocol::{decode_page_message, task_lock, Broadcast, Command, DaemonEvent, HostRequest, PageMessage, Reply};
use crate::core::transfer::{Failure, FetchPlan, INGEST_SEGMENT_MS, STREAM_SEGMENT_BYTES, STREAM_SEGMENT_MS};
use crate::core::upload::CopyFailure;
use crate::web::js::{self, to_js};
use crate::web::transport::{self, StartError};
use crate::web::{bgfetch, bytes, store};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, spawn_local};

pub use crate::core::protocol::CHANNEL;

/// One request the machine sent ([`Action::Send`]) and its browser objects.
struct Flight {
    key: TaskKey,
    abort: web_sys::AbortController,
    /// False once the machine aborted it (or the worker life ended).
    alive: Cell<bool>,
    response: RefCell<Option<web_sys::Response>>,
    whole: bool,
    upload: bool,
    head_timeout_ms: f64,
    timeout_ms: f64,
    segment_ms: f64,
    /// A Background Fetch's id: the browser downloads, this worker listens.
    background: Option<String>,
    attached: Cell<bool>,
    /// Settles once the task's previous flight has ended its writes.
    before: RefCell<Option<js_sys::Promise>>,
    /// Called when this flight is dropped: its writes are over.
    settle: js_sys::Function,
}

impl Drop for Flight {
    fn drop(&mut self) {
        let _ = self.settle.call0(&JsValue::UNDEFINED);
    }
}

/// A page's command waiting for its reply.
struct Waiter {
    op: String,
    resolve: js_sys::Function,
    reject: js_sys::Function,
}

#[derive(Default)]
struct Host {
    daemon: Option<Rc<RefCell<Daemon>>>,
    /// Counts worker lives (a kill starts a new one): late results of an
    /// old life are dropped.
    life: u64,
    starting: Option<js_sys::Promise>,
    flights: HashMap<TransferId, Rc<Flight>>,
    /// Per task, settles when its latest flight has ended its writes.
    tails: HashMap<TaskKey, js_sys::Promise>,
    /// Per blob, settles when its pending deletions are done.
    deletes: HashMap<String, js_sys::Promise>,
    /// Per blob, settles when the writes of the latest flight that wrote
    /// it have ended (a deletion waits for them: an aborted body may still
    /// store what had arrived).
    writes: HashMap<String, js_sys::Promise>,
    /// Task locks held (released once the task transfers no more).
    locks: HashMap<TaskKey, js_sys::Function>,
    waiters: HashMap<u64, Waiter>,
    next_command: u64,
    /// The latest commit: a reply is sent once it is written.
    last_commit: Option<js_sys::Promise>,
    /// Commits being written.
    busy: usize,
    timer: Option<(f64, gloo_timers::callback::Timeout)>,
    idle_waiters: Vec<js_sys::Function>,
    channel: Option<web_sys::BroadcastChannel>,
    /// `sessionDescription` per session (stored with its configuration).
    descriptions: HashMap<String, String>,
    network: Option<NetworkInfo>,
}

thread_local! {
    static HOST: RefCell<Host> = RefCell::new(Host::default());
}

fn host<R>(f: impl FnOnce(&mut Host) -> R) -> R {
    HOST.with(|h| f(&mut h.borrow_mut()))
}

// ----- the loop -----

/// Gives the machine of worker life `life` an input, without performing
/// what it asks yet (see [`pump`]); `None` if that life is over.
fn input<R>(life: u64, f: impl FnOnce(&mut Daemon, f64) -> R) -> Option<R> {
    let d = host(|h| h.daemon.clone().filter(|_| h.life == life))?;
    let r = f(&mut d.borrow_mut(), js::now());
    Some(r)
}

/// Performs every action the machine has, then arms its timer.
fn pump(life: u64) {
    let Some(d) = host(|h| h.daemon.clone().filter(|_| h.life == life)) else { return };
    loop {
        let next = d.borrow_mut().poll_action();
        let Some(action) = next else { break };
        perform(life, action);
    }
    release_locks(&d.borrow());
    arm_timer(life, d.borrow().poll_timeout());
    notify_idle();
}

/// [`input`] then [`pump`].
fn feed<R>(life: u64, f: impl FnOnce(&mut Daemon, f64) -> R) -> Option<R> {
    let r = input(life, f)?;
    pump(life);
    Some(r)
}

fn perform(life: u64, action: Action) {
    match action {
        Action::Send(s) => send(life, s),
        Action::ReadBody { transfer, blob_id, first_segment } => read_body(life, transfer, blob_id, first_segment),
        Action::Abort(id) => abort(id),
        Action::Commit(c) => commit(life, *c),
        Action::DeleteBytes { blob_id, from, count } => delete_bytes(blob_id, from, count),
        Action::CopyFile { task, from, blob_id } => spawn_local(async move {
            let copied = copy_upload(&from, &blob_id).await;
            feed(life, |d, now| d.handle_file_copied(now, task, copied));
        }),
        Action::VerifyBytes { task, blob_id, segments } => spawn_local(verify(life, task, blob_id, segments)),
        Action::ReadTask { task } => spawn_local(read_task(life, task)),
        Action::Reply { to, reply } => answer(to, reply),
        Action::Broadcast(b) => after_commits(async move { post(&to_js(&b)) }),
        Action::FindPage { session } => after_commits(async move {
            // The page holds the session's Web Lock while it holds its events.
            let held = js::held_lock_names().await.unwrap_or_else(|e| {
                js::console_warn(&format!("bgsession: the Web Locks held could not be listed ({}): \"{session}\" taken as having no page", js::message(&e)));
                Vec::new()
            });
            let present = held.iter().any(|n| *n == crate::core::protocol::session_lock(&session));
            feed(life, |d, now| d.handle_page(now, &session, present));
        }),
        Action::LaunchApp { session, why } => after_commits(async move {
            if let Err(e) = launch_app(&session, &why).await {
                js::console_warn(&format!("bgsession: no launch notification for \"{session}\": {}", js::message(&e)));
            }
        }),
    }
}

/// Runs `f` once what the machine committed so far is written (pages read
/// the journal when told it grew; a reply reports a stored state).
fn after_commits(f: impl std::future::Future<Output = ()> + 'static) {
    let after = host(|h| h.last_commit.clone());
    spawn_local(async move {
        if let Some(p) = after {
            let _ = js::wait(p).await;
        }
        f.await
    });
}

fn arm_timer(life: u64, at: Option<f64>) {
    host(|h| match at {
        None => h.timer = None,
        Some(at) if h.timer.as_ref().is_some_and(|(t, _)| *t == at) => {}
        Some(at) => {
            let delay = (at - js::now()).clamp(0.0, i32::MAX as f64) as u32;
            let timeout = gloo_timers::callback::Timeout::new(delay, move || {
                host(|h| h.timer = None);
                refresh_network(life);
                feed(life, |d, now| d.handle_timeout(now));
            });
            h.timer = Some((at, timeout));
        }
    });
}

/// The link as the browser reports it (`navigator.connection`); the
/// machine hears of a change.
fn refresh_network(life: u64) {
    let net = network_now();
    let changed = host(|h| (h.network.as_ref() != Some(&net)).then(|| h.network = Some(net.clone())).is_some());
    if changed {
        feed(life, |d, now| d.handle_network(now, net));
    }
}

fn network_now() -> NetworkInfo {
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

// ----- worker lives -----

/// The machine of this worker life, built first from the stored tasks and
/// configurations; returns the life.
async fn ensure_started() -> Result<u64, JsValue> {
    if let Some(life) = host(|h| h.daemon.as_ref().map(|_| h.life)) {
        return Ok(life);
    }
    let starting = host(|h| h.starting.get_or_insert_with(|| future_to_promise(start_life())).clone());
    let started = js::wait(starting).await;
    host(|h| h.starting = None);
    started?;
    host(|h| h.daemon.as_ref().map(|_| h.life)).ok_or_else(|| js::error("InvalidStateError", "the daemon stopped while it started"))
}

async fn start_life() -> Result<JsValue, JsValue> {
    let store = store::shared().await?;
    let tasks = store.tasks(None).await?;
    let configs = read_configs(&store).await?;
    let seed = (js_sys::Math::random() * 9_007_199_254_740_992.0) as u64;
    let daemon = Rc::new(RefCell::new(Daemon::new(seed)));
    let net = network_now();
    let life = host(|h| {
        h.daemon = Some(daemon);
        h.network = Some(net.clone());
        h.life
    });
    feed(life, |d, now| {
        d.handle_network(now, net);
        d.handle_started(now, tasks, configs);
    });
    Ok(JsValue::UNDEFINED)
}

/// The stored session configurations (and their descriptions).
async fn read_configs(store: &store::Store) -> Result<Vec<ConfigData>, JsValue> {
    let mut configs = Vec::new();
    for raw in store.sessions().await? {
        if let Some(d) = js::get(&raw, "sessionDescription").as_string() {
            let id = js::get(&raw, "identifier").as_string().unwrap_or_default();
            host(|h| h.descriptions.insert(id, d));
        }
        match js::from_js::<ConfigData>(raw, "stored session configuration") {
            Ok(c) => configs.push(c),
            Err(e) => js::console_warn(&format!("bgsession: {}", js::message(&e))),
        }
    }
    Ok(configs)
}

/// `simulateDaemonKill`: the worker life ends as if the browser had killed
/// it (transfers stop, bytes in flight are lost, stored segments stay);
/// the next message starts a new one. Returns the transfers stopped.
fn kill() -> usize {
    let (flights, locks, waiters, stopped) = host(|h| {
        h.life += 1;
        h.daemon = None;
        h.starting = None;
        h.timer = None;
        let stopped = h.flights.values().filter(|f| f.background.is_none()).count();
        (std::mem::take(&mut h.flights), std::mem::take(&mut h.locks), std::mem::take(&mut h.waiters), stopped)
    });
    for f in flights.values() {
        f.alive.set(false);
        if f.background.is_none() {
            f.abort.abort(); // a Background Fetch goes on without the worker
        }
    }
    for release in locks.values() {
        let _ = release.call0(&JsValue::UNDEFINED);
    }
    for w in waiters.values() {
        let _ = w.reject.call1(&JsValue::UNDEFINED, &js::error("AbortError", "the daemon was stopped"));
    }
    post(&to_js(&Broadcast::Daemon { event: DaemonEvent::Killed, transfers: stopped, at: js::now() }));
    notify_idle();
    stopped
}

// ----- entry points (www/bgsession-sw.js) -----

/// Handles a command from a page (`{op, ...}`); resolves with the reply.
/// A message that is not a command is refused with a `TypeError` naming
/// the problem, and changes nothing.
#[wasm_bindgen(js_name = daemonHandleMessage)]
pub async fn daemon_handle_message(msg: JsValue) -> Result<JsValue, JsValue> {
    match decode(&msg).map_err(|m| js::type_error(&m))? {
        PageMessage::Host(HostRequest::SimulateKill) => reply_to_js("simulateKill", Reply::Killed { transfers: kill() }),
        PageMessage::Host(HostRequest::Pending) => {
            let life = ensure_started().await?;
            let running = input(life, |d, _| d.pending() > 0).unwrap_or(false);
            reply_to_js("pending", Reply::Pending { running })
        }
        PageMessage::Command { op, command } => {
            if let Command::Resume { config: Some(c), session_description: Some(d), .. } = &command {
                host(|h| h.descriptions.insert(c.identifier.clone(), d.clone()));
            }
            run_command(op, command).await
        }
    }
}

/// Picks up every runnable task (after a restart: resumes them from their
/// stored bytes). Called on activation and by Background Sync.
#[wasm_bindgen(js_name = daemonWake)]
pub async fn daemon_wake() -> Result<(), JsValue> {
    run_command("wake".into(), Command::Wake).await.map(|_| ())
}

/// Resolves when no transfer runs and no timer waits: the Service Worker
/// passes this (raced with a cap) to `waitUntil`, so the browser keeps the
/// daemon alive while it works.
#[wasm_bindgen(js_name = daemonIdle)]
pub fn daemon_idle() -> js_sys::Promise {
    js_sys::Promise::new(&mut |resolve, _reject| {
        let idle = host(|h| {
            let idle = is_idle(h);
            if !idle {
                h.idle_waiters.push(resolve.clone());
            }
            idle
        });
        if idle {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
    })
}

/// Deletes stored bytes that no file and no unfinished task refers to (left
/// by a removal or a failure cut short). Called when a new worker activates.
#[wasm_bindgen(js_name = daemonSweep)]
pub async fn daemon_sweep() -> Result<u32, JsValue> {
    let store = store::shared().await?;
    let mut keep: std::collections::HashSet<String> = store.files().await?.into_iter().map(|f| f.blob_id).collect();
    // Unfinished tasks' bytes, and a cancelled or failed task's bytes kept for its resume data.
    keep.extend(store.tasks(None).await?.into_iter().filter(|t| !t.is_over()).map(|t| t.blob_id));
    // Bytes named by records kept aside (core::stored): never dropped.
    keep.extend(store.quarantined_blob_ids().await?);
    bytes::shared().await?.sweep(|id| keep.contains(id)).await
}

/// `backgroundfetchsuccess`, `backgroundfetchfail`, `backgroundfetchabort`
/// (`kind` without the prefix): the machine decides; a body to keep is
/// read into segments.
#[wasm_bindgen(js_name = daemonBackgroundFetchSettled)]
pub async fn daemon_background_fetch_settled(kind: String, registration: JsValue) -> Result<(), JsValue> {
    let life = ensure_started().await?;
    let (id, reason, response) = bgfetch::settled(&registration).await;
    let head = response.as_ref().map(transport::head_of);
    let key = input(life, |d, _| d.tasks().find(|t| t.bg_fetch_id.as_deref() == Some(id.as_str())).map(|t| (t.session.clone(), t.task_id))).flatten();
    let ingest = input(life, |d, now| d.handle_background_fetch_settled(now, &id, &kind, &reason, head)).flatten();
    host(|h| h.flights.retain(|_, f| f.background.as_deref() != Some(id.as_str())));
    if let (Some(transfer), Some(key), Some(response)) = (ingest, key, response) {
        let flight = flight(key, Some(response), false, false, 60_000.0, 0.0, INGEST_SEGMENT_MS, None);
        host(|h| h.flights.insert(transfer, flight));
    }
    pump(life);
    Ok(())
}

// ----- commands -----

/// A page's message, decoded ([`decode_page_message`]).
fn decode(msg: &JsValue) -> Result<PageMessage, String> {
    let text = js_sys::JSON::stringify(msg).ok().and_then(|s| s.as_string()).ok_or("a daemon command must be an object {op, ...}")?;
    decode_page_message(&text)
}

/// Feeds a command to the machine; resolves with its reply, sent once
/// what the machine committed before it is written.
async fn run_command(op: String, command: Command) -> Result<JsValue, JsValue> {
    let life = ensure_started().await?;
    reattach();
    refresh_network(life);
    let mut parts = None;
    let reply = js_sys::Promise::new(&mut |resolve, reject| parts = Some((resolve, reject)));
    let (resolve, reject) = parts.expect("the executor runs at once");
    let to = host(|h| {
        h.next_command += 1;
        h.waiters.insert(h.next_command, Waiter { op, resolve, reject });
        h.next_command
    });
    if feed(life, |d, now| d.handle_command(now, to, command)).is_none() {
        host(|h| h.waiters.remove(&to));
        return Err(js::error("AbortError", "the daemon was stopped"));
    }
    js::wait(reply).await
}

fn answer(to: u64, reply: Reply) {
    let Some(w) = host(|h| h.waiters.remove(&to)) else { return };
    let value = reply_to_js(&w.op, reply);
    after_commits(async move {
        let _ = match value {
            Ok(v) => w.resolve.call1(&JsValue::UNDEFINED, &v),
            Err(e) => w.reject.call1(&JsValue::UNDEFINED, &e),
        };
    });
}

/// A reply in the shape pages read (those of earlier versions too): the
/// task record, the resume data, `true`/`false`, the status object, the
/// network conditions, the number of transfers stopped; an error rejects.
fn reply_to_js(op: &str, reply: Reply) -> Result<JsValue, JsValue> {
    Ok(match reply {
        Reply::Task { task } => to_js(&task),
        Reply::ResumeData { data } => data.map_or(JsValue::NULL, |d| js_sys::Uint8Array::from(d.as_slice()).into()),
        Reply::Done { changed } => JsValue::from_bool(changed || matches!(op, "wake" | "ping" | "backgroundFetchUnavailable")),
        Reply::Status { transfers, background_fetches, pending } => js::object(&[
            ("transfers", JsValue::from_f64(transfers as f64)),
            ("backgroundFetches", JsValue::from_f64(background_fetches as f64)),
            ("pending", JsValue::from_f64(pending as f64)),
        ]),
        Reply::Network { network } => to_js(&network),
        Reply::Killed { transfers } => JsValue::from_f64(transfers as f64),
        Reply::Pending { running } => JsValue::from_bool(running),
        Reply::Error { name, message } => return Err(js::error(&name, &message)),
    })
}

// ----- what the machine asks -----

fn send(life: u64, s: Send) {
    let flight = new_flight(&s);
    host(|h| h.flights.insert(s.transfer, flight.clone()));
    if let Some(id) = s.background_fetch.clone() {
        return spawn_local(attach(life, flight, id));
    }
    spawn_local(fly(life, s, flight));
}

fn new_flight(s: &Send) -> Rc<Flight> {
    let (timeout, head_timeout) = (s.request_timeout_ms, s.head_timeout_ms);
    flight(s.task.clone(), None, s.whole, s.upload_body.is_some(), timeout, head_timeout - timeout, STREAM_SEGMENT_MS, s.background_fetch.clone())
}

#[allow(clippy::too_many_arguments)]
fn flight(key: TaskKey, response: Option<web_sys::Response>, whole: bool, upload: bool, timeout_ms: f64, extra_head_ms: f64, segment_ms: f64, background: Option<String>) -> Rc<Flight> {
    let mut settle = None;
    let settled = js_sys::Promise::new(&mut |resolve, _| settle = Some(resolve));
    let before = host(|h| h.tails.insert(key.clone(), settled));
    let abort = web_sys::AbortController::new().expect("AbortController exists in workers");
    Rc::new(Flight {
        key,
        abort,
        alive: Cell::new(true),
        response: RefCell::new(response),
        whole,
        upload,
        head_timeout_ms: timeout_ms + extra_head_ms,
        timeout_ms,
        segment_ms,
        background,
        attached: Cell::new(false),
        before: RefCell::new(before),
        settle: settle.expect("the executor runs at once"),
    })
}

/// Sends the request and reports its head (or why there is none).
async fn fly(life: u64, s: Send, flight: Rc<Flight>) {
    let id = s.transfer;
    if !hold_task_lock(&flight.key).await {
        return failed(life, id, Failure::Busy("another worker runs this task".into()));
    }
    let body = match upload_body(&s).await {
        Ok(b) => b,
        Err(f) => return failed(life, id, f),
    };
    let plan = FetchPlan { request: s.request.clone(), offset: s.offset, end: s.end, whole: s.whole };
    let pending = match transport::begin_with_body(&plan, body.as_ref(), &flight.abort) {
        Ok(p) => p,
        Err(StartError::Aborted) => return,
        Err(StartError::Failed(f)) => return failed(life, id, f),
    };
    match transport::arrive(pending, &flight.abort, flight.head_timeout_ms).await {
        Ok(started) if !flight.alive.get() => started.discard(),
        Ok(transport::Started { info, response }) => {
            *flight.response.borrow_mut() = Some(response);
            feed(life, |d, now| d.handle_response(now, id, info));
        }
        Err(StartError::Aborted) => {}
        Err(StartError::Failed(f)) => {
            let f = transport::diagnose(f, &s.request.url).await;
            failed(life, id, f)
        }
    }
}

/// An upload's body: the daemon's own copy of the file.
async fn upload_body(s: &Send) -> Result<Option<web_sys::Blob>, Failure> {
    let Some((blob_id, segments)) = &s.upload_body else { return Ok(None) };
    let copy = FileMeta::new(&SandboxPath::parse("/tmp/upload").expect("a valid path"), blob_id.clone(), segments.clone(), 0.0, None);
    let read = match bytes::shared().await {
        Ok(b) => b.read(&copy).await,
        Err(e) => Err(e),
    };
    read.map(Some).map_err(|e| Failure::Write(format!("the upload's copy of its file is unreadable: {}", js::message(&e))))
}

/// Holds the task's Web Lock while it transfers (an old and a new worker
/// version can briefly coexist during an update); false if another holds it.
async fn hold_task_lock(key: &TaskKey) -> bool {
    if host(|h| h.locks.contains_key(key)) {
        return true;
    }
    match js::wait(js::try_lock(&task_lock(&key.0, key.1))).await {
        Ok(release) if release.is_function() => {
            let release: js_sys::Function = release.unchecked_into();
            if let Some(other) = host(|h| h.locks.insert(key.clone(), release)) {
                let _ = other.call0(&JsValue::UNDEFINED);
            }
            true
        }
        _ => false,
    }
}

fn release_locks(d: &Daemon) {
    let done: Vec<js_sys::Function> = host(|h| {
        let keys: Vec<TaskKey> = h.locks.keys().filter(|k| !d.is_transferring(&k.0, k.1)).cloned().collect();
        keys.iter().filter_map(|k| h.locks.remove(k)).collect()
    });
    for release in done {
        let _ = release.call0(&JsValue::UNDEFINED);
    }
}

/// Listens to a Background Fetch's progress (the page starts it: if it
/// has not yet, this is tried again at the next message).
async fn attach(life: u64, flight: Rc<Flight>, id: String) {
    if flight.attached.replace(true) {
        return;
    }
    let key = flight.key.clone();
    let on_progress = move |downloaded, total| {
        feed(life, |d, now| d.handle_background_fetch_progress(now, key.clone(), downloaded, total));
    };
    match bgfetch::attach(&id, on_progress).await {
        Ok(true) => {}
        Ok(false) => flight.attached.set(false),
        Err(e) => {
            flight.attached.set(false);
            js::console_warn(&format!("bgsession: task {}: {}", flight.key.1, js::message(&e)));
        }
    }
}

/// Attaches again to the Background Fetches not found before.
fn reattach() {
    let (life, pending) = host(|h| (h.life, h.flights.values().filter(|f| f.background.is_some() && !f.attached.get()).cloned().collect::<Vec<_>>()));
    for f in pending {
        let id = f.background.clone().unwrap_or_default();
        spawn_local(attach(life, f, id));
    }
}

/// The machine ended the request: it is dropped.
fn abort(id: TransferId) {
    let Some(f) = host(|h| h.flights.remove(&id)) else { return };
    f.alive.set(false);
    f.abort.abort();
    if let Some(bg) = f.background.clone() {
        spawn_local(async move { bgfetch::abort(&bg).await });
    }
}

/// The flight ended on its own (body end, failure): false if the machine
/// had already dropped it.
fn end_flight(id: TransferId) -> bool {
    host(|h| h.flights.remove(&id)).is_some_and(|f| f.alive.get())
}

fn failed(life: u64, id: TransferId, failure: Failure) {
    if end_flight(id) {
        feed(life, |d, now| d.handle_transfer_failed(now, id, failure));
    }
}

fn body_end(life: u64, id: TransferId) {
    if end_flight(id) {
        feed(life, |d, now| d.handle_body_end(now, id));
    }
}

fn read_body(life: u64, id: TransferId, blob_id: String, first: usize) {
    let Some(flight) = host(|h| h.flights.get(&id).cloned()) else { return };
    spawn_local(async move {
        // Writes of the task's previous request, and deletions, go first.
        let before = flight.before.borrow_mut().take();
        let deleting = host(|h| {
            if let Some(tail) = h.tails.get(&flight.key).cloned() {
                h.writes.insert(blob_id.clone(), tail);
            }
            h.deletes.get(&blob_id).cloned()
        });
        for p in before.into_iter().chain(deleting) {
            let _ = js::wait(p).await;
        }
        let Some(response) = flight.response.borrow_mut().take() else { return };
        if flight.upload {
            upload_response(life, id, &flight, response).await
        } else if flight.whole {
            read_whole(life, id, &flight, response, &blob_id, first).await
        } else {
            stream(life, id, &flight, response, &blob_id, first).await
        }
    });
}

/// Streams the body into segments from index `first`: segment i+1 is read
/// while segment i is persisted and reported; a break keeps what arrived.
async fn stream(life: u64, id: TransferId, flight: &Flight, response: web_sys::Response, blob_id: &str, first: usize) {
    let store = match bytes::shared().await {
        Ok(s) => s,
        Err(e) => return failed(life, id, transport::classify(&e)),
    };
    let reader: JsValue = response.body().map_or(JsValue::NULL, |b| b.get_reader().into());
    let carry = JsValue::from(js_sys::Object::new());
    let start = |index| (store.start_segment(&reader, blob_id, index, STREAM_SEGMENT_BYTES, flight.segment_ms, flight.timeout_ms, &carry), js::now());
    let mut next = Some(start(first));
    let mut index = first;
    while let Some((pending, t0)) = next.take() {
        let seg = match bytes::Segment::from_js(pending).await {
            Ok(seg) => seg,
            Err(e) => return failed(life, id, transport::classify(&e)),
        };
        let elapsed = js::now() - t0;
        index += usize::from(seg.written > 0);
        let last = seg.done || seg.broken.is_some();
        next = (!last && flight.alive.get()).then(|| start(index));
        let persisted = seg.persisted().await;
        if let Err(e) = persisted.as_ref().map_err(transport::classify).and_then(|_| report(life, id, flight, &seg, elapsed)) {
            transport::discard(&reader);
            settle_segment(next).await;
            return failed(life, id, e);
        }
        if !flight.alive.get() {
            transport::discard(&reader);
            return settle_segment(next).await;
        }
        if seg.done {
            return body_end(life, id);
        }
    }
}

/// Reports a persisted segment; the body's break, if it broke after it.
fn report(life: u64, id: TransferId, flight: &Flight, seg: &bytes::Segment, elapsed: f64) -> Result<(), Failure> {
    if !flight.alive.get() {
        return Ok(());
    }
    if seg.written > 0 {
        feed(life, |d, now| d.handle_segment_stored(now, id, seg.written, elapsed));
    }
    match &seg.broken {
        Some(err) if flight.alive.get() => Err(transport::classify(err)),
        _ => Ok(()),
    }
}

/// Waits for a segment started after the request was dropped to be
/// written (its bytes are not counted; the next request rewrites it).
async fn settle_segment(next: Option<(js_sys::Promise, f64)>) {
    if let Some((pending, _)) = next {
        if let Ok(seg) = bytes::Segment::from_js(pending).await {
            let _ = seg.persisted().await;
        }
    }
}

/// A fast segment: the bounded answer read whole by the browser, stored as
/// one segment.
async fn read_whole(life: u64, id: TransferId, flight: &Flight, response: web_sys::Response, blob_id: &str, index: usize) {
    let t0 = js::now();
    let blob = match transport::read_blob(&response, &flight.abort, flight.timeout_ms).await {
        Ok(b) => b,
        Err(StartError::Aborted) => return,
        Err(StartError::Failed(f)) => return failed(life, id, f),
    };
    let elapsed = js::now() - t0;
    if !flight.alive.get() {
        return;
    }
    let stored = match bytes::shared().await {
        Ok(b) => b.put_blob(blob_id, index, &blob).await,
        Err(e) => Err(e),
    };
    if let Err(e) = stored {
        return failed(life, id, transport::classify(&e));
    }
    let len = blob.size() as u64;
    feed(life, |d, now| d.handle_segment_stored(now, id, len, elapsed));
    body_end(life, id);
}

/// An upload's response body, read whole.
async fn upload_response(life: u64, id: TransferId, flight: &Flight, response: web_sys::Response) {
    let blob = match transport::read_blob(&response, &flight.abort, flight.timeout_ms).await {
        Ok(b) => b,
        Err(StartError::Aborted) => return,
        Err(StartError::Failed(f)) => return failed(life, id, f),
    };
    let data = match js::wait(blob.array_buffer()).await {
        Ok(buf) => js_sys::Uint8Array::new(&buf).to_vec(),
        Err(e) => return failed(life, id, transport::classify(&e)),
    };
    if end_flight(id) {
        feed(life, |d, now| d.handle_upload_body(now, id, &data));
    }
}

/// One IndexedDB transaction. Transactions are created in the order of
/// the commits, so they are written in that order.
fn commit(life: u64, c: Commit) {
    let config = c.config.as_ref().map(|cfg| {
        let js = to_js(cfg);
        if let Some(d) = host(|h| h.descriptions.get(&cfg.identifier).cloned()) {
            js::set(&js, "sessionDescription", &JsValue::from_str(&d));
        }
        js
    });
    host(|h| h.busy += 1);
    let written = future_to_promise(async move {
        let written = match store::shared().await {
            Ok(s) => s.commit_all(c.task.as_ref(), config.as_ref(), c.file.as_ref(), c.appends, c.forget_if_delivered).await,
            Err(e) => Err(e),
        };
        host(|h| h.busy -= 1);
        match written {
            Ok(entries) => drop(input(life, |d, _| d.handle_appended(&entries))),
            Err(e) => js::console_error(&format!("bgsession daemon: a commit failed: {}", js::message(&e))),
        }
        notify_idle();
        Ok(JsValue::UNDEFINED)
    });
    host(|h| h.last_commit = Some(written));
}

/// Deletes stored bytes once the blob's writes in flight have ended; a body
/// written to the same blob afterwards waits for the deletion.
fn delete_bytes(blob_id: String, from: usize, count: usize) {
    let before = host(|h| [h.deletes.get(&blob_id).cloned(), h.writes.remove(&blob_id)]);
    let id = blob_id.clone();
    let done = future_to_promise(async move {
        for p in before.into_iter().flatten() {
            let _ = js::wait(p).await;
        }
        let deleted = match bytes::shared().await {
            Ok(b) => b.delete_range(&id, from, count).await,
            Err(e) => Err(e),
        };
        if let Err(e) = deleted {
            js::console_warn(&format!("bgsession: stored bytes of {id} stay until the next sweep: {}", js::message(&e)));
        }
        Ok(JsValue::UNDEFINED)
    });
    host(|h| h.deletes.insert(blob_id, done));
}

/// Takes the daemon's own copy of an upload's file (so the app may move or
/// delete it meanwhile): its segments, or what went wrong (the core names
/// the task's error: `core::upload::copy_error`).
async fn copy_upload(from: &str, blob_id: &str) -> Result<Vec<u64>, CopyFailure> {
    let path = SandboxPath::parse(from).map_err(|_| CopyFailure::NoFile)?;
    let storage = |e: JsValue| CopyFailure::Storage(format!("{}: {}", js::error_name(&e), js::message(&e)));
    let file = store::shared().await.map_err(storage)?.get_file(&path).await.map_err(storage)?.ok_or(CopyFailure::NoFile)?;
    bytes::shared().await.map_err(storage)?.copy(&file, blob_id).await.map_err(storage)?;
    Ok(file.segments)
}

/// How many of a task's segments are stored whole (an engine may drop
/// entries — WebKit's ephemeral store with the last page — or commit a
/// truncated one — Firefox when the worker is stopped mid-stream).
async fn verify(life: u64, key: TaskKey, blob_id: String, segments: Vec<u64>) {
    let intact = match bytes::shared().await {
        Ok(b) => b.intact_prefix(&blob_id, &segments).await,
        Err(e) => Err(e),
    };
    let intact = intact.unwrap_or_else(|e| {
        js::console_warn(&format!("bgsession: task {}: stored bytes unreadable ({}): fetched again", key.1, js::message(&e)));
        0
    });
    if intact < segments.len() {
        js::console_warn(&format!("bgsession: task {}: {} stored segment(s) missing or short; continuing from segment {intact}", key.1, segments.len() - intact));
    }
    feed(life, |d, now| d.handle_bytes_verified(now, key, intact));
}

/// The task's record as stored now (another worker ran the task): the kept
/// records are dropped and read again from IndexedDB, where that worker
/// wrote.
async fn read_task(life: u64, key: TaskKey) {
    let read = async {
        let store = store::shared().await?;
        store.forget_tasks();
        Ok::<_, JsValue>(store.tasks(Some(&key.0)).await?.into_iter().find(|t| t.task_id == key.1))
    }
    .await
    .map_err(|e| {
        let why = js::message(&e);
        js::console_warn(&format!("bgsession: task {}: its record could not be read again ({why}); this worker goes on from its own view", key.1));
        why
    });
    feed(life, |d, now| d.handle_task_read(now, key, read));
}

/// iOS relaunching the app in the background, the browser's way: a
/// notification whose click opens the app. Shown only with notification
/// permission (the machine asked first whether a page of the session is
/// open: [`Action::FindPage`]).
async fn launch_app(session: &str, why: &str) -> Result<(), JsValue> {
    let permission = js::get(&js::get(&js::global(), "Notification"), "permission").as_string();
    if permission.as_deref() != Some("granted") {
        return Ok(());
    }
    let store = store::shared().await?;
    let config = store.session(session).await?.unwrap_or(JsValue::UNDEFINED);
    let pending = store.count_pending(session).await.unwrap_or(0);
    let url = js::get(&config, "launchURL").as_string().unwrap_or_else(|| "./".into());
    let description = js::get(&config, "sessionDescription").as_string().filter(|s| !s.is_empty()).unwrap_or_else(|| session.to_string());
    js::wait(js::show_launch_notification(session, &description, why, pending as f64, &url)).await.map(|_| ())
}

// ----- pages and idleness -----

fn post(msg: &JsValue) {
    let channel = host(|h| {
        if h.channel.is_none() {
            h.channel = web_sys::BroadcastChannel::new(CHANNEL).ok();
        }
        h.channel.clone()
    });
    if let Some(ch) = channel {
        let _ = ch.post_message(msg);
    }
}

fn is_idle(h: &Host) -> bool {
    h.busy == 0 && h.daemon.as_ref().map_or(true, |d| d.try_borrow().is_ok_and(|d| d.is_idle()))
}

fn notify_idle() {
    let waiters = host(|h| if is_idle(h) { std::mem::take(&mut h.idle_waiters) } else { Vec::new() });
    for w in waiters {
        let _ = w.call0(&JsValue::UNDEFINED);
    }
}
