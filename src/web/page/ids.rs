//! Task identifiers: handed out synchronously (`downloadTask` returns a task
//! with its `taskIdentifier`) from a per-identifier counter in localStorage
//! shared by the origin's tabs.
//!
//! localStorage is no lock: two tabs may read the same value at the same
//! instant, and Chromium's per-process copies may even hand a tab back an
//! older value another tab wrote. So each tab also keeps its own high-water
//! mark: the numbers it hands out are strictly increasing, whatever the
//! shared counter says. Two tabs may still draw the same number; the daemon
//! stores a fresh task under the next free number if its own is taken (at
//! least `peek`, this tab's next number, so no task of this tab has it), and
//! the page files the task under that number before any event is delivered
//! (see `Replayer::handle_identifier_pending`). The daemon also announces
//! each new task's number to every page (`Broadcast::Numbered`), which
//! reaches a tab sooner than the counter may: Chromium's copies were seen
//! lagging by more than a round of the multitab test on a loaded machine.

use std::cell::RefCell;
use std::collections::HashMap;

use wasm_bindgen::prelude::*;

use crate::core::protocol::{Broadcast, CHANNEL};
use crate::web::js;

type Listener = (web_sys::BroadcastChannel, Closure<dyn FnMut(web_sys::MessageEvent)>);

thread_local! {
    /// The highest number this tab handed out or saw, per session identifier.
    static HIGH: RefCell<HashMap<String, u64>> = RefCell::new(HashMap::new());
    /// This page's listener for the daemon's announcements of numbers.
    static FOLLOWING: RefCell<Option<Listener>> = const { RefCell::new(None) };
}

/// From now on this page numbers the tasks of session `identifier` above
/// every number the daemon announces for it (`Broadcast::Numbered`).
pub(crate) fn follow(identifier: &str) {
    raise_high(identifier, 0);
    FOLLOWING.with(|f| {
        if f.borrow().is_some() {
            return;
        }
        let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(|ev: web_sys::MessageEvent| {
            let data = ev.data();
            // Only these are decoded (journal growth is announced at every progress commit).
            if js::get(&data, "type").as_string().as_deref() != Some("numbered") {
                return;
            }
            if let Ok(Broadcast::Numbered { session, task_id }) = js::from_js::<Broadcast>(data, "daemon broadcast") {
                if HIGH.with(|h| h.borrow().contains_key(&session)) {
                    saw(&session, task_id);
                }
            }
        });
        if let Ok(ch) = web_sys::BroadcastChannel::new(CHANNEL) {
            ch.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            *f.borrow_mut() = Some((ch, on_message));
        }
    });
}

fn key(identifier: &str) -> String {
    format!("bgsession.nextTaskIdentifier.{identifier}")
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window().and_then(|w| w.local_storage().ok().flatten())
}

/// The shared counter (the next number), if there is one.
fn shared(identifier: &str) -> Option<u64> {
    storage()?.get_item(&key(identifier)).ok().flatten()?.parse().ok()
}

/// Raises the shared counter to at least `next` (never lowers it).
fn raise_shared(identifier: &str, next: u64) {
    if let Some(s) = storage() {
        if !shared(identifier).is_some_and(|n| n >= next) {
            let _ = s.set_item(&key(identifier), &next.to_string());
        }
    }
}

fn high(identifier: &str) -> u64 {
    HIGH.with(|h| h.borrow().get(identifier).copied().unwrap_or(0))
}

fn raise_high(identifier: &str, n: u64) {
    HIGH.with(|h| {
        let mut h = h.borrow_mut();
        let v = h.entry(identifier.to_string()).or_insert(0);
        *v = (*v).max(n);
    });
}

/// The number [`next`] would hand out (without taking it).
pub(crate) fn peek(identifier: &str) -> u64 {
    shared(identifier).unwrap_or(1).max(high(identifier) + 1)
}

/// A number for a new task: above every number this tab handed out or saw,
/// and not `in_use` in this page.
pub(crate) fn next(identifier: &str, in_use: impl Fn(u64) -> bool) -> u64 {
    let mut n = peek(identifier);
    while in_use(n) {
        n += 1;
    }
    raise_high(identifier, n);
    raise_shared(identifier, n + 1);
    n
}

/// A task numbered `n` exists (stored, or renumbered by the daemon): this
/// tab and the shared counter go on above it.
pub(crate) fn saw(identifier: &str, n: u64) {
    raise_high(identifier, n);
    raise_shared(identifier, n + 1);
}

/// [`saw`] for the stored tasks a page reads when it opens a session: this
/// tab's own mark now, the shared counter a moment later. A page's first
/// touch of localStorage waits for the browser to load the origin's storage
/// (milliseconds), and a relaunch has its replay to start; until then
/// [`next`] still numbers above `n` (it reads the counter, and this tab's
/// mark is raised), and another tab drawing a clashing number meanwhile is
/// renumbered by the daemon, as at any time.
pub(crate) fn saw_soon(identifier: &str, n: u64) {
    raise_high(identifier, n);
    let identifier = identifier.to_string();
    gloo_timers::callback::Timeout::new(SHARED_AFTER_MS, move || raise_shared(&identifier, n + 1)).forget();
}

/// How long [`saw_soon`] leaves the shared counter for.
const SHARED_AFTER_MS: u32 = 1_000;
