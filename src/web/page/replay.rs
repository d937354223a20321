//! The page's host of [`Replayer`]: it takes the session's events lock,
//! opens the journal, feeds the machine what arrives (entries, the daemon's
//! announcements, delegate calls returned, acknowledgements written) and
//! performs what it polls out: the delegate call, the batch of
//! acknowledgements (glue.js `ackEntries`, written while the next calls
//! run), a read of the journal, `urlSessionDidFinishEvents`, the removal
//! of the temp files the delegate did not move (glue.js `removeTempFiles`),
//! the invalidation. Every decision is the machine's.

use crate::core::journal::{Ack, CallArgs, DelegateCall, JournalEntry};
use crate::core::replayer::{ReplayAction, Replayer};
use crate::core::request::Request;
use crate::core::task::{TaskRecord, TaskState};
use crate::web::bytes;
use crate::core::protocol::{Broadcast, Command, DelayedAnswer, CHANNEL};
use crate::web::js;
use crate::web::page::error_for_delegate;
use crate::web::page::session::{lock_name, parse_request, LIVE};
use crate::web::page::state::{DelegateTarget, SessionInner, TaskInner};
use crate::web::store;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;

use crate::core::protocol::{PAGE_HEARTBEAT_MS as HEARTBEAT_MS, PAGE_WAKE_AFTER_MS as WAKE_AFTER_MS};

/// A replay gives the page's event loop a turn after running this long:
/// delegate calls that return at once (or resolve at once) would otherwise
/// chain as microtasks, and the results of the acknowledgement being
/// written (and any input) would wait until delivery paused.
const YIELD_AFTER_MS: f64 = 4.0;

/// The clock is read every this many actions, not after each (a delivery
/// takes tens of microseconds; each reading is a call out of the wasm,
/// about 3 ms of a 1,000-event replay's main thread when done per event).
const CLOCK_EVERY: u32 = 8;

impl SessionInner {
    /// Takes the identifier's events lock, listens to the daemon's
    /// announcements, reads the session (tasks, journal, delivered totals)
    /// and starts the replay.
    pub(crate) async fn open(self: &Rc<Self>) -> Result<(), JsValue> {
        // Listened to from the start: while another tab holds the events,
        // this page's task objects follow the records (announced_elsewhere).
        self.listen();
        let release = js::wait(js::hold_lock(&lock_name(&self.config.identifier))).await?;
        if self.replayer.borrow().is_invalidated() {
            let _ = release.unchecked_ref::<js_sys::Function>().call0(&JsValue::UNDEFINED);
            return Ok(());
        }
        // Listened to (above) before the journal is read, so an entry
        // appended after the read is announced.
        *self.release_lock.borrow_mut() = Some(release.unchecked_into());
        let view = store::shared().await?.session_view(&self.config.identifier).await?;
        self.replayer.borrow_mut().handle_records(&view.tasks);
        self.take_records(view.tasks, view.read_at);
        // Background Fetch tasks whose download a closed page never started.
        let waiting: Vec<Rc<TaskInner>> = self.tasks.borrow().values().map(|(t, _)| t.clone()).collect();
        for t in waiting {
            self.start_background_fetch(&t).await;
        }
        // This page is now the one writer of the delivered totals: all of them are here.
        self.replayer.borrow_mut().handle_delivered_mark(view.delivered_up_to);
        self.replayer.borrow_mut().handle_opened(view.entries, view.delivered_totals);
        self.replayer.borrow_mut().handle_unremoved_temp_files(view.unremoved_temp_files);
        self.keep_daemon_awake();
        self.kick();
        Ok(())
    }

    /// The daemon's announcements of journal growth go to the machine once
    /// this page holds the session's events; until then they refresh the
    /// page's task objects. One listener per session.
    fn listen(self: &Rc<Self>) {
        if self.channel.borrow().is_some() || self.replayer.borrow().is_invalidated() {
            return;
        }
        let weak = Rc::downgrade(self);
        let identifier = self.config.identifier.clone();
        let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            match js::from_js::<Broadcast>(ev.data(), "daemon broadcast") {
                Ok(Broadcast::Journal { session }) if session == identifier => {}
                _ => return,
            }
            let Some(s) = weak.upgrade() else { return };
            if s.release_lock.borrow().is_some() {
                s.replayer.borrow_mut().handle_announced();
                s.kick();
            } else {
                s.announced_elsewhere();
            }
        });
        if let Ok(ch) = web_sys::BroadcastChannel::new(CHANNEL) {
            ch.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            *self.channel.borrow_mut() = Some((ch, on_message));
        }
    }

    /// Another tab holds the events and delivers them: this page reads its
    /// task records again a moment later, so that its objects of tasks that
    /// tab sees end say so (`core::task::RefreshElsewhere` decides when).
    fn announced_elsewhere(self: &Rc<Self>) {
        let open = self.tasks.borrow().values().any(|(t, _)| t.persisted() && t.record.borrow().state != TaskState::Completed);
        let now = js::monotonic_now();
        let Some(at) = self.refresh.borrow_mut().handle_announced(now, open) else { return };
        let weak = Rc::downgrade(self);
        gloo_timers::callback::Timeout::new((at - now).max(0.0).ceil() as u32, move || {
            let Some(s) = weak.upgrade() else { return };
            if !s.refresh.borrow_mut().handle_timer() || s.release_lock.borrow().is_some() || s.replayer.borrow().is_invalidated() {
                return;
            }
            spawn_local(async move {
                if let Err(e) = s.load_tasks().await {
                    js::console_warn(&format!("bgsession: reading the tasks of \"{}\" failed: {}", s.config.identifier, js::message(&e)));
                }
            });
        })
        .forget();
    }

    /// Wakes the daemon (it resumes the origin's unfinished transfers) once
    /// the queued events are delivered or [`WAKE_AFTER_MS`] has passed (its
    /// scheduling pass reads every task and would compete with the replay
    /// for IndexedDB), then every [`HEARTBEAT_MS`] while a task runs.
    fn keep_daemon_awake(self: &Rc<Self>) {
        let weak = Rc::downgrade(self);
        gloo_timers::callback::Timeout::new(WAKE_AFTER_MS, move || {
            if let Some(s) = weak.upgrade() {
                s.wake_once();
            }
        })
        .forget();
        let weak = Rc::downgrade(self);
        let beat = gloo_timers::callback::Interval::new(HEARTBEAT_MS, move || {
            if let Some(s) = weak.upgrade() {
                let running = s.tasks.borrow().values().any(|(t, _)| t.persisted() && t.record.borrow().state == TaskState::Running);
                if running {
                    s.wake();
                }
            }
        });
        *self.heartbeat.borrow_mut() = Some(beat);
    }

    fn wake_once(self: &Rc<Self>) {
        if !self.woke.replace(true) {
            self.wake();
        }
    }

    /// Runs the machine's actions until it waits; one runner at a time
    /// (a kick while it runs is seen at its next poll).
    pub(crate) fn kick(self: &Rc<Self>) {
        if self.pumping.replace(true) {
            return;
        }
        let me = self.clone();
        spawn_local(async move { me.pump().await });
    }

    async fn pump(self: &Rc<Self>) {
        self.sync_open_tasks();
        let mut since = js::now();
        let mut count = 0u32;
        loop {
            let action = self.replayer.borrow_mut().poll();
            let Some(action) = action else { break };
            self.perform(action).await;
            count += 1;
            if count % CLOCK_EVERY == 0 && js::now() - since >= YIELD_AFTER_MS {
                let _ = js::wait(js::next_task()).await;
                since = js::now();
            }
        }
        self.pumping.set(false);
        let r = self.replayer.borrow();
        if r.is_opened() && r.is_drained() {
            drop(r);
            self.wake_once();
        }
    }

    /// Tells the machine which tasks are open (stored, not completed).
    fn sync_open_tasks(&self) {
        let mut r = self.replayer.borrow_mut();
        for (id, (t, _)) in self.tasks.borrow().iter() {
            r.handle_task_open(*id, t.persisted() && t.record.borrow().state != TaskState::Completed);
        }
    }

    async fn perform(self: &Rc<Self>, action: ReplayAction) {
        match action {
            ReplayAction::Deliver { entry, call } => match self.deliver(&entry, &call).await {
                Ok(()) => self.replayer.borrow_mut().handle_delivered(),
                Err(e) => {
                    js::console_error(&format!("bgsession: delivering {} failed: {}", call.method, js::message(&e)));
                    self.replayer.borrow_mut().handle_delivery_failed();
                }
            },
            ReplayAction::WriteAcks(acks) => self.write_acks(acks),
            ReplayAction::MarkDelivered(up_to) => self.mark_delivered(up_to),
            ReplayAction::ReadJournal => {
                let after = self.replayer.borrow().read_after();
                let read = async { store::shared().await?.pending_events_after(&self.config.identifier, after).await }.await;
                match read {
                    Ok(entries) => self.replayer.borrow_mut().handle_entries(entries),
                    Err(e) => {
                        js::console_error(&format!("bgsession: reading the journal failed: {}", js::message(&e)));
                        self.replayer.borrow_mut().handle_read_failed();
                    }
                }
            }
            ReplayAction::FinishEvents => self.finish_events().await,
            ReplayAction::RemoveTempFiles(locations) => self.remove_temp_files(locations),
            ReplayAction::BecomeInvalid => self.invalidate().await,
        }
    }

    /// Writes a batch of acknowledgements in one transaction (listing the
    /// temp files the delegate did not move) while delivery goes on.
    fn write_acks(self: &Rc<Self>, acks: Vec<Ack>) {
        let session = self.config.identifier.clone();
        // Shared with the write, which is dropped before the report: a failed
        // batch is taken back whole, not copied.
        let acks = Rc::new(acks);
        let written = acks.clone();
        self.spawn_write(move |s| s.ack(&session, &written), "acknowledging events", move |r, ok| match ok {
            true => r.handle_acks_written(),
            false => r.handle_acks_failed(Rc::try_unwrap(acks).unwrap_or_else(|a| (*a).clone())),
        });
    }

    /// Stores the mark (entries up to `up_to` delivered) while delivery goes on.
    fn mark_delivered(self: &Rc<Self>, up_to: u64) {
        let session = self.config.identifier.clone();
        self.spawn_write(move |s| s.mark_delivered(&session, up_to), "marking events delivered", |r, ok| match ok {
            true => r.handle_mark_written(),
            false => r.handle_mark_failed(),
        });
    }

    /// Runs `write` and reports to the machine whether it committed. Its
    /// transaction begins now if the store is open (not when this page's
    /// next turn comes), else once it is.
    fn spawn_write<F>(self: &Rc<Self>, write: impl Fn(&store::Store) -> F + 'static, what: &'static str, report: impl FnOnce(&mut Replayer, bool) + 'static)
    where
        F: std::future::Future<Output = Result<(), JsValue>> + 'static,
    {
        let begun = store::shared_now().map(|s| write(&s));
        let me = self.clone();
        spawn_local(async move {
            let written = match begun {
                Some(w) => w.await,
                None => async { write(&*store::shared().await?).await }.await,
            };
            drop(write); // and what it holds, before the report
            if let Err(e) = &written {
                js::console_error(&format!("bgsession: {what} failed: {}", js::message(e)));
            }
            report(&mut me.replayer.borrow_mut(), written.is_ok());
            me.kick();
        });
    }

    /// Removes the temp files of acknowledged entries that the delegate did
    /// not move (and their bytes), with the session's lists of them.
    fn remove_temp_files(self: &Rc<Self>, locations: Vec<String>) {
        let me = self.clone();
        spawn_local(async move {
            let removed = async {
                let removed = store::shared().await?.remove_temp_files(&me.config.identifier, &locations).await?;
                if !removed.is_empty() {
                    let bytes = bytes::shared().await?;
                    for f in removed {
                        bytes.delete(&f.blob_id, f.segments.len()).await?;
                    }
                }
                Ok::<(), JsValue>(())
            }
            .await;
            match removed {
                Ok(()) => me.replayer.borrow_mut().handle_temp_files_removed(),
                Err(e) => {
                    js::console_error(&format!("bgsession: removing temp files failed: {}", js::message(&e)));
                    me.replayer.borrow_mut().handle_temp_files_failed(locations);
                }
            }
            me.kick();
        });
    }

    /// Calls the delegate with one entry (the task's view updated first).
    async fn deliver(self: &Rc<Self>, entry: &JournalEntry, call: &DelegateCall) -> Result<(), JsValue> {
        let (task, task_obj) = self.task_for(entry).await?;
        task.apply(entry);
        match (&call.args, &self.delegate) {
            (CallArgs::Request(r), _) => {
                let args = self.call_args(&task_obj, &call.args);
                args.push(&js::to_js(r));
                let answer = self.delayed_answer(&task, r, &args).await;
                self.tell_delayed_answer(entry.task_id, answer).await
            }
            (_, DelegateTarget::Js(d)) => {
                // Awaited only if the method returned a Promise.
                let outcome = match self.call_now(d, &task_obj, call) {
                    Ok(p) if !p.is_undefined() => crate::web::page::settle::settled(&p).await.map(|_| ()),
                    other => other.map(|_| ()),
                };
                if let Err(e) = outcome {
                    // As an uncaught exception in a delegate method: reported, and the
                    // event counts as delivered (it would only throw again).
                    js::console_error(&format!("bgsession: delegate {} threw: {}", call.method, js::message(&e)));
                }
                Ok(())
            }
            (_, DelegateTarget::Rust(d)) => {
                d.task_event(self.clone(), task.clone(), call).await;
                Ok(())
            }
        }
    }

    /// The task object of an entry: the one this page has, or one made
    /// from the stored record (a task of an earlier page or another tab).
    async fn task_for(self: &Rc<Self>, entry: &JournalEntry) -> Result<(Rc<TaskInner>, JsValue), JsValue> {
        let known = self.tasks.borrow().get(&entry.task_id).filter(|(t, _)| t.persisted()).cloned();
        if let Some(known) = known {
            return Ok(known);
        }
        let read_at = js::monotonic_now();
        let record = match store::shared().await?.get_task(&self.config.identifier, entry.task_id).await? {
            Some(r) => r,
            None => {
                let unknown = Request::get("http://unknown.invalid/").expect("a valid URL");
                let mut r = TaskRecord::new_download(&self.config.identifier, entry.task_id, unknown, entry.at, String::new());
                r.state = TaskState::Running;
                r
            }
        };
        self.adopt(record, Some(read_at));
        Ok(self.tasks.borrow().get(&entry.task_id).cloned().expect("adopted"))
    }

    /// Calls a JS delegate's method with `(session, task, …)` in one step
    /// (glue.js `deliverNow`): the replay's hot path, one crossing per event.
    fn call_now(self: &Rc<Self>, delegate: &JsValue, task_obj: &JsValue, call: &DelegateCall) -> Result<JsValue, JsValue> {
        let session = self.session_js();
        let method = js::static_str(call.method);
        let none = JsValue::UNDEFINED;
        let call_with = |kind: u32, value: &JsValue, n: &[f64]| {
            let at = |i: usize| n.get(i).copied().unwrap_or(0.0);
            js::deliver_now(delegate, &method, &session, task_obj, kind, value, at(0), at(1), at(2))
        };
        match &call.args {
            CallArgs::None | CallArgs::Request(_) => call_with(0, &none, &[]),
            // At most three numbers (Apple's byte counts): kinds 2 to 5.
            CallArgs::Numbers(ns) => call_with(2 + ns.len().min(3) as u32, &none, ns),
            CallArgs::Location(l) => call_with(1, &JsValue::from_str(l), &[]),
            CallArgs::Bytes(b) => call_with(1, &js_sys::Uint8Array::from(b.as_slice()).into(), &[]),
            CallArgs::Error(e) => call_with(1, &e.as_ref().map(error_for_delegate).unwrap_or(JsValue::NULL), &[]),
        }
    }

    /// `(session, task, …)`: the arguments of a delegate call.
    fn call_args(self: &Rc<Self>, task_obj: &JsValue, call_args: &CallArgs) -> js_sys::Array {
        let args = js_sys::Array::of2(&self.session_js(), task_obj);
        match call_args {
            CallArgs::None | CallArgs::Request(_) => {}
            CallArgs::Numbers(ns) => ns.iter().for_each(|n| {
                args.push(&JsValue::from_f64(*n));
            }),
            CallArgs::Location(l) => {
                args.push(&JsValue::from_str(l));
            }
            CallArgs::Bytes(b) => {
                args.push(&js_sys::Uint8Array::from(b.as_slice()).into());
            }
            CallArgs::Error(e) => {
                args.push(&e.as_ref().map(error_for_delegate).unwrap_or(JsValue::NULL));
            }
        }
        args
    }

    /// `willBeginDelayedRequest(session, task, request)`: the delegate returns
    /// (or resolves to) "continue", "cancel" or a new request.
    async fn delayed_answer(self: &Rc<Self>, task: &Rc<TaskInner>, request: &Request, args: &js_sys::Array) -> DelayedAnswer {
        const METHOD: &str = "willBeginDelayedRequest";
        match &self.delegate {
            DelegateTarget::Rust(d) => d.delayed(self.clone(), task.clone(), request).await,
            DelegateTarget::Js(delegate) => match js::wait(js::call_delegate_for_value(delegate, METHOD, args)).await {
                Err(e) => {
                    js::console_error(&format!("bgsession: delegate {METHOD} threw: {}; the task continues", js::message(&e)));
                    DelayedAnswer::Continue
                }
                Ok(r) if js::get(&r, "exists").as_bool() != Some(true) => DelayedAnswer::Continue,
                Ok(r) => self.js_delayed_answer(&js::get(&r, "value")),
            },
        }
    }

    fn js_delayed_answer(&self, value: &JsValue) -> DelayedAnswer {
        const METHOD: &str = "willBeginDelayedRequest";
        match value.as_string().as_deref() {
            Some("continue") | Some("continueLoading") => DelayedAnswer::Continue,
            Some("cancel") => DelayedAnswer::Cancel,
            _ if value.is_object() => match parse_request(value, &self.config) {
                Ok(request) => DelayedAnswer::Request { request },
                Err(e) => {
                    js::console_error(&format!("bgsession: {METHOD} returned a bad request ({}); the task continues with its own", js::message(&e)));
                    DelayedAnswer::Continue
                }
            },
            _ => {
                js::console_error(&format!(
                    "bgsession: {METHOD} must return \"continue\", \"cancel\" or a new request {{url, method, headers}}, not {}; the task continues",
                    js::message(value)
                ));
                DelayedAnswer::Continue
            }
        }
    }

    /// The daemon is told before the event is acknowledged, so a page
    /// closing meanwhile asks again on the next open.
    async fn tell_delayed_answer(&self, task_id: u64, answer: DelayedAnswer) -> Result<(), JsValue> {
        self.ask(&Command::DelayedRequest { session: self.config.identifier.clone(), task_id, answer }).await.map(|_| ())
    }

    /// `urlSessionDidFinishEvents(session)`: the events queued when the
    /// page opened are delivered and acknowledged on disk.
    async fn finish_events(self: &Rc<Self>) {
        match &self.delegate {
            DelegateTarget::Js(d) => {
                let args = js_sys::Array::of1(&self.session_js());
                if let Err(e) = js::wait(js::call_delegate(d, "urlSessionDidFinishEvents", &args)).await {
                    js::console_error(&format!("bgsession: urlSessionDidFinishEvents threw: {}", js::message(&e)));
                }
            }
            DelegateTarget::Rust(d) => d.finished_events(self.clone()).await,
        }
    }

    /// `didBecomeInvalidWithError(session, null)`: the lock, the channel and
    /// the identifier are given up first.
    async fn invalidate(self: &Rc<Self>) {
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
            DelegateTarget::Rust(d) => d.invalid(self.clone(), None).await,
        }
        // Break the cycle session → wrapper → session.
        self.js_self.borrow_mut().take();
    }
}

