//! The page's state: a session and its tasks, as the page host's modules
//! share them. The behaviour lives beside it: `session.rs` (the API and
//! opening), `replay.rs` (delivery of the journal), `task.rs` (a task's
//! API). Keeping the data here lets each of those import this module and
//! not each other.

use crate::core::config::ConfigData;
use crate::core::replayer::Replayer;
use crate::core::task::TaskRecord;
use crate::web::js;
use crate::core::error::NsError;
use crate::core::journal::DelegateCall;
use crate::core::protocol::DelayedAnswer;
use crate::core::request::Request;
use std::future::Future;
use std::pin::Pin;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::{Rc, Weak};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::spawn_local;

/// The daemon's BroadcastChannel and the listener that drains the journal.
type JournalChannel = (web_sys::BroadcastChannel, Closure<dyn FnMut(web_sys::MessageEvent)>);

pub(crate) type LocalFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// A Rust [`UrlSessionDelegate`](crate::UrlSessionDelegate) behind a pointer
/// (its `async fn`s make it generic); `delegate.rs` implements it for every
/// delegate.
pub(crate) trait ErasedDelegate {
    fn task_event<'a>(&'a self, session: Rc<SessionInner>, task: Rc<TaskInner>, call: &'a DelegateCall) -> LocalFuture<'a, ()>;
    fn asks(&self) -> bool;
    /// `willBeginDelayedRequest`, as the daemon takes the answer.
    fn delayed<'a>(&'a self, session: Rc<SessionInner>, task: Rc<TaskInner>, request: &'a Request) -> LocalFuture<'a, DelayedAnswer>;
    fn finished_events(&self, session: Rc<SessionInner>) -> LocalFuture<'_, ()>;
    fn invalid<'a>(&'a self, session: Rc<SessionInner>, error: Option<&'a NsError>) -> LocalFuture<'a, ()>;
}

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

/// A session as this page knows it (shared by its JS/Rust handles).
pub(crate) struct SessionInner {
    pub(crate) config: ConfigData,
    pub(crate) delegate: DelegateTarget,
    pub(crate) description: RefCell<String>,
    pub(crate) tasks: RefCell<BTreeMap<u64, (Rc<TaskInner>, JsValue)>>,
    /// The object passed as `session` to delegate methods.
    pub(crate) js_self: RefCell<Option<JsValue>>,
    pub(crate) worker: RefCell<Option<js_sys::Promise>>,
    pub(crate) opened: RefCell<Option<js_sys::Promise>>,
    /// The replay's decisions (see `replay.rs`, its host).
    pub(crate) replayer: RefCell<Replayer>,
    /// Is the host running the machine's actions?
    pub(crate) pumping: Cell<bool>,
    /// Has this page woken the daemon since the session opened?
    pub(crate) woke: Cell<bool>,
    /// Tasks not yet resumed whose number turned out to be another tab's
    /// stored task (filed under their own number once the daemon gives one).
    pub(crate) provisional: RefCell<Vec<(Rc<TaskInner>, JsValue)>>,
    pub(crate) release_lock: RefCell<Option<js_sys::Function>>,
    pub(crate) channel: RefCell<Option<JournalChannel>>,
    pub(crate) heartbeat: RefCell<Option<gloo_timers::callback::Interval>>,
    /// When Background Sync was last asked for (ms since epoch).
    pub(crate) sync_requested_at: Cell<f64>,
    /// While another tab holds the events: when to read the task records
    /// again (`replay.rs`, `announced_elsewhere`).
    pub(crate) refresh: RefCell<crate::core::task::RefreshElsewhere>,
}

/// A task as this page knows it (shared by its JS/Rust handles).
pub(crate) struct TaskInner {
    pub(crate) record: RefCell<TaskRecord>,
    pub(crate) session: Weak<SessionInner>,
    /// When this page learnt the daemon stored it (`js::monotonic_now()`;
    /// see `set_stored`); `None` until then (before the first `resume()`).
    pub(crate) stored_at: Cell<Option<f64>>,
}

/// Holds a session's delivery while a fresh task's `resume()` waits for the
/// daemon, which may renumber it (`Replayer::handle_identifier_pending`);
/// released when dropped (the answer, or an error, came) or after
/// [`NUMBERING_HOLD_MS`] (a daemon killed before it answered never will).
pub(crate) struct Numbering {
    session: Rc<SessionInner>,
    settled: Rc<std::cell::Cell<bool>>,
}

/// The longest a `resume()` without an answer holds the session's delivery.
const NUMBERING_HOLD_MS: u32 = 10_000;

impl Numbering {
    pub(crate) fn start(session: &Rc<SessionInner>) -> Numbering {
        session.replayer.borrow_mut().handle_identifier_pending();
        let hold = Numbering { session: session.clone(), settled: Rc::new(std::cell::Cell::new(false)) };
        let (weak, settled) = (Rc::downgrade(session), hold.settled.clone());
        spawn_local(async move {
            gloo_timers::future::TimeoutFuture::new(NUMBERING_HOLD_MS).await;
            if let Some(s) = weak.upgrade() {
                Numbering::settle(&s, &settled);
            }
        });
        hold
    }

    fn settle(session: &Rc<SessionInner>, settled: &std::cell::Cell<bool>) {
        if !settled.replace(true) {
            session.replayer.borrow_mut().handle_identifier_settled();
            session.kick();
        }
    }
}

impl Drop for Numbering {
    fn drop(&mut self) {
        Numbering::settle(&self.session, &self.settled);
    }
}
