//! `UIApplication.shared`: the app delegate that a relaunched page is given
//! `handleEventsForBackgroundURLSession(identifier, completionHandler)` on.

use crate::core::config::DEFAULT_SERVICE_WORKER_URL;
use crate::core::launch::{Launch, LaunchStep};
use crate::core::protocol::PAGE_WAKE_AFTER_MS as WAKE_AFTER_MS;
use crate::core::task::TaskState;
use crate::web::js;
use crate::web::page::session::{is_live, lock_name};
use crate::web::store;
use std::cell::RefCell;
use std::collections::BTreeSet;
use wasm_bindgen::prelude::*;

#[derive(Default)]
struct AppState {
    delegate: JsValue,
    /// Which sessions this page's launch handed to the delegate (the core
    /// decides which get `handleEventsForBackgroundURLSession`).
    launch: Launch,
    /// Identifiers whose completion handler has been called.
    completed: BTreeSet<String>,
    launched: Option<js_sys::Promise>,
    /// The daemon was woken by this page (once per page life).
    woke: bool,
}

thread_local! {
    static APP: RefCell<AppState> = RefCell::new(AppState::default());
}

/// The application object (`UIApplication.shared`). Setting its delegate is
/// the page's "launch": each session identifier with queued events (and no
/// other page receiving them) is handed to
/// `application(_:handleEventsForBackgroundURLSession:completionHandler:)`.
// The example is for rustdoc only: wasm-bindgen copies doc comments
// into bgsession.d.ts, where JS readers would see Rust code.
#[cfg_attr(doc, doc = r#"# Examples

```ignore
use bgsession::{CompletionHandler, UiApplication, UrlSession, UrlSessionConfiguration, UrlSessionDelegate};
use std::cell::RefCell;
use std::collections::HashMap;

thread_local! {
    static SESSIONS: RefCell<HashMap<String, UrlSession>> = RefCell::new(HashMap::new());
    static HANDLERS: RefCell<HashMap<String, CompletionHandler>> = RefCell::new(HashMap::new());
}

struct App;
impl UrlSessionDelegate for App {
    async fn url_session_did_finish_events(&self, session: &UrlSession) {
        // Every queued event was delivered: call the saved handler.
        let id = session.configuration().identifier();
        if let Some(done) = HANDLERS.with(|h| h.borrow_mut().remove(&id)) {
            done.call();
        }
    }
}

UiApplication::shared().set_delegate(|identifier: &str, done: CompletionHandler| {
    HANDLERS.with(|h| h.borrow_mut().insert(identifier.to_string(), done));
    if SESSIONS.with(|s| s.borrow().contains_key(identifier)) {
        return; // already open: it is receiving the events
    }
    // Recreate the session, and keep it: its delegate receives the queued events.
    let config = UrlSessionConfiguration::background(identifier).expect("a non-empty identifier");
    let session = UrlSession::with_delegate(&config, App).expect("the only session with this identifier");
    SESSIONS.with(|s| s.borrow_mut().insert(identifier.to_string(), session));
});
```"#)]
#[wasm_bindgen(js_name = UIApplication)]
pub struct UiApplication {
    _private: (),
}

#[wasm_bindgen(js_class = UIApplication)]
impl UiApplication {
    /// The shared application.
    #[wasm_bindgen(getter)]
    pub fn shared() -> UiApplication {
        wake_daemon_once();
        UiApplication { _private: () }
    }

    /// `delegate`: the app delegate last set (from JS, or the JS object that
    /// wraps a Rust [`ApplicationDelegate`](crate::ApplicationDelegate)).
    #[wasm_bindgen(getter, unchecked_return_type = "UIApplicationDelegate | null | undefined")]
    pub fn delegate(&self) -> JsValue {
        APP.with(|a| a.borrow().delegate.clone())
    }

    /// Setting the delegate is the page's "launch": every session identifier
    /// with queued events (and no other page receiving them) is handed to
    /// `delegate.handleEventsForBackgroundURLSession(identifier, completionHandler)`.
    #[doc(hidden)]
    #[wasm_bindgen(setter = delegate)]
    pub fn js_set_delegate(&self, #[wasm_bindgen(unchecked_param_type = "UIApplicationDelegate | null | undefined")] delegate: JsValue) {
        APP.with(|a| a.borrow_mut().delegate = delegate);
        let launched = wasm_bindgen_futures::future_to_promise(async {
            match launch().await {
                Ok(ids) => Ok(ids),
                Err(e) => {
                    js::console_error(&format!("bgsession: launch check failed: {}", js::message(&e)));
                    Err(e)
                }
            }
        });
        APP.with(|a| a.borrow_mut().launched = Some(launched));
    }

    /// Resolves with the identifiers handed to
    /// `handleEventsForBackgroundURLSession` by the last delegate assignment
    /// (a bgsession addition: lets a page or a test know the launch check ran).
    #[wasm_bindgen(getter, unchecked_return_type = "Promise<string[]>")]
    pub fn launched(&self) -> js_sys::Promise {
        APP.with(|a| a.borrow().launched.clone()).unwrap_or_else(|| js_sys::Promise::resolve(&JsValue::from(js_sys::Array::new())))
    }

    /// Identifiers whose completion handler the app has called.
    #[wasm_bindgen(getter = completedBackgroundSessions, unchecked_return_type = "string[]")]
    pub fn completed_background_sessions(&self) -> js_sys::Array {
        APP.with(|a| a.borrow().completed.iter().map(|s| JsValue::from_str(s)).collect())
    }
}

/// Any page that loads the library wakes the daemon when transfers are
/// pending, so they resume by themselves (as nsurlsessiond does) even if the
/// page creates no `URLSession` — after a browser restart, say. Once per
/// page, after the replay has had its head start ([`WAKE_AFTER_MS`]).
fn wake_daemon_once() {
    if APP.with(|a| std::mem::replace(&mut a.borrow_mut().woke, true)) || !js::get(&js::global(), "document").is_object() {
        return;
    }
    wasm_bindgen_futures::spawn_local(async {
        gloo_timers::future::TimeoutFuture::new(WAKE_AFTER_MS).await;
        if let Err(e) = wake_daemon().await {
            js::console_warn(&format!("bgsession: could not wake the daemon: {}", js::message(&e)));
        }
    });
}

async fn wake_daemon() -> Result<(), JsValue> {
    let store = store::shared().await?;
    // Inserts, not collect(): a BTreeSet built from an iterator sorts it
    // first, a sort instance per element type in the wasm (issue 11).
    let mut pending = BTreeSet::new();
    for t in store.tasks(None).await? {
        if t.state == TaskState::Running {
            pending.insert(t.session);
        }
    }
    let mut urls = BTreeSet::new();
    for session in pending {
        let config = store.session(&session).await?.unwrap_or(JsValue::UNDEFINED);
        urls.insert(js::get(&config, "serviceWorkerUrl").as_string().unwrap_or_else(|| DEFAULT_SERVICE_WORKER_URL.to_string()));
    }
    for url in urls {
        let worker = js::wait(js::active_worker(&url)).await?;
        js::wait(js::ask_worker(&worker, &js::to_js(&crate::core::protocol::Command::Wake))).await?;
    }
    Ok(())
}

async fn launch() -> Result<JsValue, JsValue> {
    // The Web Locks query runs while the database opens and is read.
    let held = js::held_lock_names();
    let ids = store::shared().await?.sessions_with_events().await?;
    let held = held.await?;
    // Another page holds a session's events if it holds its lock and this
    // page does not (a live session of this page holds it itself).
    let waiting: Vec<(String, bool)> = ids
        .into_iter()
        .map(|id| {
            let elsewhere = held.contains(&lock_name(&id)) && !is_live(&id);
            (id, elsewhere)
        })
        .collect();
    let steps = APP.with(|a| a.borrow_mut().launch.plan(&waiting));
    let out = js_sys::Array::new();
    for step in steps {
        match step {
            LaunchStep::WaitForOtherPage(id) => wasm_bindgen_futures::spawn_local(async move {
                let _ = js::wait(js::lock_freed(&lock_name(&id))).await;
                if let Err(e) = launch().await {
                    js::console_error(&format!("bgsession: launch check failed: {}", js::message(&e)));
                }
            }),
            LaunchStep::HandleEvents(id) => {
                let delegate = APP.with(|a| a.borrow().delegate.clone());
                let done_id = id.clone();
                let handler = Closure::once_into_js(move || {
                    APP.with(|a| a.borrow_mut().completed.insert(done_id));
                });
                let args = js_sys::Array::of2(&JsValue::from_str(&id), &handler);
                if let Err(e) = js::wait(js::call_delegate(&delegate, "handleEventsForBackgroundURLSession", &args)).await {
                    js::console_error(&format!("bgsession: handleEventsForBackgroundURLSession threw: {}", js::message(&e)));
                }
                out.push(&JsValue::from_str(&id));
            }
        }
    }
    Ok(out.into())
}
