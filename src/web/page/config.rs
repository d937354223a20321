//! `URLSessionConfiguration` for JS.

use crate::core::config::ConfigData;
use crate::web::js;
use crate::web::page::usage;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

/// A background session's configuration (`URLSessionConfiguration.background(withIdentifier:)`),
/// with iOS's defaults. A session copies it when created: later changes do
/// not reach an existing session.
// The example is for rustdoc only: wasm-bindgen copies doc comments
// into bgsession.d.ts, where JS readers would see Rust code.
#[cfg_attr(doc, doc = r#"# Examples

```ignore
use bgsession::{UrlSession, UrlSessionConfiguration, UrlSessionDelegate};

struct App;
impl UrlSessionDelegate for App {}

# fn run() -> Result<(), bgsession::Error> {
let config = UrlSessionConfiguration::background("com.example.maps")?;
assert_eq!(config.http_maximum_connections_per_host(), 6);
config.set_http_maximum_connections_per_host(4.0)?;
config.set_timeout_interval_for_request(30.0)?; // seconds
config.set_allows_cellular_access(false); // wait for Wi-Fi (when the browser tells)
config.set_service_worker_url("/bgsession-sw.js".into()); // where the daemon's script is served
let session = UrlSession::with_delegate(&config, App)?;
assert_eq!(session.configuration().identifier(), "com.example.maps");

// Rules are errors, as iOS's exceptions.
assert_eq!(UrlSessionConfiguration::background("").err().unwrap().name(), "EmptyIdentifier");
assert!(config.set_http_maximum_connections_per_host(0.0).is_err());
# Ok(()) }
```"#)]
#[wasm_bindgen(js_name = URLSessionConfiguration)]
#[derive(Clone)]
pub struct UrlSessionConfiguration {
    pub(crate) data: Rc<RefCell<ConfigData>>,
}

impl UrlSessionConfiguration {
    pub(crate) fn from_data(data: ConfigData) -> Self {
        UrlSessionConfiguration { data: Rc::new(RefCell::new(data)) }
    }

    pub(crate) fn snapshot(&self) -> ConfigData {
        self.data.borrow().clone()
    }
}

#[wasm_bindgen(js_class = URLSessionConfiguration)]
impl UrlSessionConfiguration {
    /// `URLSessionConfiguration.background(identifier)`: the identifier is how
    /// a relaunched page finds its session again. Throws on an empty one.
    #[doc(hidden)]
    #[wasm_bindgen(js_name = background)]
    pub fn js_background(#[wasm_bindgen(unchecked_param_type = "string")] identifier: JsValue) -> Result<UrlSessionConfiguration, JsValue> {
        let Some(id) = identifier.as_string() else {
            return Err(usage(crate::core::error::UsageError::InvalidArgument {
                what: "URLSessionConfiguration.background(identifier) needs a string identifier".into(),
            }));
        };
        ConfigData::background(&id).map(Self::from_data).map_err(usage)
    }

    /// `identifier`: the name a relaunched page finds its session by.
    #[wasm_bindgen(getter)]
    pub fn identifier(&self) -> String {
        self.data.borrow().identifier.clone()
    }

    /// `isDiscretionary` (default false): tasks wait quietly for a fast,
    /// unmetered, otherwise idle link.
    #[wasm_bindgen(getter = isDiscretionary)]
    pub fn is_discretionary(&self) -> bool {
        self.data.borrow().is_discretionary
    }
    /// Sets `isDiscretionary`.
    #[wasm_bindgen(setter = isDiscretionary)]
    pub fn set_is_discretionary(&self, v: bool) {
        self.data.borrow_mut().is_discretionary = v;
    }

    /// `sessionSendsLaunchEvents` (default true): with no page of the session
    /// open, the daemon shows a notification that opens the app (see
    /// `launchURL`) once the session's last running task is over, or when a
    /// delayed task needs `willBeginDelayedRequest` answered. Needs
    /// notification permission.
    #[wasm_bindgen(getter = sessionSendsLaunchEvents)]
    pub fn session_sends_launch_events(&self) -> bool {
        self.data.borrow().session_sends_launch_events
    }
    /// Sets `sessionSendsLaunchEvents`.
    #[wasm_bindgen(setter = sessionSendsLaunchEvents)]
    pub fn set_session_sends_launch_events(&self, v: bool) {
        self.data.borrow_mut().session_sends_launch_events = v;
    }

    /// `allowsCellularAccess` (default true): false makes tasks wait while the
    /// browser reports a cellular link.
    #[wasm_bindgen(getter = allowsCellularAccess)]
    pub fn allows_cellular_access(&self) -> bool {
        self.data.borrow().allows_cellular_access
    }
    /// Sets `allowsCellularAccess`.
    #[wasm_bindgen(setter = allowsCellularAccess)]
    pub fn set_allows_cellular_access(&self, v: bool) {
        self.data.borrow_mut().allows_cellular_access = v;
    }

    /// `allowsExpensiveNetworkAccess` (default true): false makes tasks wait on
    /// cellular, WiMAX or Bluetooth-tethered links.
    #[wasm_bindgen(getter = allowsExpensiveNetworkAccess)]
    pub fn allows_expensive_network_access(&self) -> bool {
        self.data.borrow().allows_expensive_network_access
    }
    /// Sets `allowsExpensiveNetworkAccess`.
    #[wasm_bindgen(setter = allowsExpensiveNetworkAccess)]
    pub fn set_allows_expensive_network_access(&self, v: bool) {
        self.data.borrow_mut().allows_expensive_network_access = v;
    }

    /// `allowsConstrainedNetworkAccess` (default true): false makes tasks wait
    /// while Save-Data (Low Data Mode) is on.
    #[wasm_bindgen(getter = allowsConstrainedNetworkAccess)]
    pub fn allows_constrained_network_access(&self) -> bool {
        self.data.borrow().allows_constrained_network_access
    }
    /// Sets `allowsConstrainedNetworkAccess`.
    #[wasm_bindgen(setter = allowsConstrainedNetworkAccess)]
    pub fn set_allows_constrained_network_access(&self, v: bool) {
        self.data.borrow_mut().allows_constrained_network_access = v;
    }

    /// `httpMaximumConnectionsPerHost` (default 6): transfers of this session at
    /// once per host.
    #[wasm_bindgen(getter = httpMaximumConnectionsPerHost)]
    pub fn http_maximum_connections_per_host(&self) -> u32 {
        self.data.borrow().http_maximum_connections_per_host
    }
    /// Sets `httpMaximumConnectionsPerHost`; a whole number from 1 to 1000, else
    /// an `InvalidArgument` error.
    #[wasm_bindgen(setter = httpMaximumConnectionsPerHost)]
    pub fn set_http_maximum_connections_per_host(&self, v: f64) -> Result<(), JsValue> {
        self.data.borrow_mut().http_maximum_connections_per_host = ConfigData::check_connections(v).map_err(usage)?;
        Ok(())
    }

    /// `timeoutIntervalForRequest`, in seconds (default 60): how long a transfer
    /// may go without receiving data before the task fails with -1001.
    #[wasm_bindgen(getter = timeoutIntervalForRequest)]
    pub fn timeout_interval_for_request(&self) -> f64 {
        self.data.borrow().timeout_interval_for_request
    }
    /// Sets `timeoutIntervalForRequest` (seconds, > 0, else an `InvalidArgument` error).
    #[wasm_bindgen(setter = timeoutIntervalForRequest)]
    pub fn set_timeout_interval_for_request(&self, v: f64) -> Result<(), JsValue> {
        self.data.borrow_mut().timeout_interval_for_request = ConfigData::check_timeout("timeoutIntervalForRequest", v).map_err(usage)?;
        Ok(())
    }

    /// `timeoutIntervalForResource`, in seconds (default 604 800, one week): how
    /// long a task may take from its first `resume()` before it fails with -1001.
    #[wasm_bindgen(getter = timeoutIntervalForResource)]
    pub fn timeout_interval_for_resource(&self) -> f64 {
        self.data.borrow().timeout_interval_for_resource
    }
    /// Sets `timeoutIntervalForResource` (seconds, > 0, else an `InvalidArgument` error).
    #[wasm_bindgen(setter = timeoutIntervalForResource)]
    pub fn set_timeout_interval_for_resource(&self, v: f64) -> Result<(), JsValue> {
        self.data.borrow_mut().timeout_interval_for_resource = ConfigData::check_timeout("timeoutIntervalForResource", v).map_err(usage)?;
        Ok(())
    }

    /// Headers added to every request of the session (a plain object).
    #[wasm_bindgen(getter = httpAdditionalHeaders, unchecked_return_type = "Record<string, string>")]
    pub fn http_additional_headers(&self) -> JsValue {
        js::to_js(&self.data.borrow().http_additional_headers)
    }
    /// Sets `httpAdditionalHeaders` (null clears them); names are lower-cased, and
    /// a request's own header of the same name wins. A header with CR, LF or
    /// NUL, a forbidden name (`Cookie`, `Host`, `Sec-…`) or a value over 8 KiB
    /// throws a `TypeError` naming it, and nothing changes.
    #[wasm_bindgen(setter = httpAdditionalHeaders)]
    pub fn set_http_additional_headers(&self, #[wasm_bindgen(unchecked_param_type = "Record<string, string> | null")] v: JsValue) -> Result<(), JsValue> {
        let map: BTreeMap<String, String> = if v.is_null() || v.is_undefined() {
            BTreeMap::new()
        } else {
            js::from_js(v, "httpAdditionalHeaders must be an object of string values")?
        };
        // CR/LF, forbidden names, huge values: a TypeError naming the header,
        // here rather than a task that cannot send its request.
        crate::core::request::check_headers(&map).map_err(usage)?;
        let mut lower = BTreeMap::new(); // inserts, not collect(): no sort in the wasm
        for (k, v) in map {
            lower.insert(k.to_ascii_lowercase(), v);
        }
        self.data.borrow_mut().http_additional_headers = lower;
        Ok(())
    }

    /// `waitsForConnectivity` (default true). Background sessions always wait
    /// for connectivity, as on iOS: setting it changes nothing.
    #[wasm_bindgen(getter = waitsForConnectivity)]
    pub fn waits_for_connectivity(&self) -> bool {
        self.data.borrow().waits_for_connectivity
    }
    /// Sets `waitsForConnectivity` (kept, not acted on).
    #[wasm_bindgen(setter = waitsForConnectivity)]
    pub fn set_waits_for_connectivity(&self, v: bool) {
        self.data.borrow_mut().waits_for_connectivity = v;
    }

    /// bgsession's addition: `"fetch"` (default: fastest; resumes with Range
    /// when the worker wakes again) or `"backgroundFetch"` (the browser's
    /// download service: goes on with no worker alive; Chromium only).
    #[wasm_bindgen(getter, unchecked_return_type = "URLSessionTransport")]
    pub fn transport(&self) -> String {
        self.data.borrow().transport.as_str().to_string()
    }
    /// Sets `transport`: `"fetch"` or `"backgroundFetch"`, else an
    /// `InvalidArgument` error.
    #[wasm_bindgen(setter)]
    pub fn set_transport(&self, #[wasm_bindgen(unchecked_param_type = "URLSessionTransport")] v: String) -> Result<(), JsValue> {
        self.data.borrow_mut().transport = crate::core::config::Transport::parse(&v).map_err(usage)?;
        Ok(())
    }

    /// bgsession's addition: the page that a launch notification opens
    /// (`sessionSendsLaunchEvents`); null (default): the page that created
    /// the session.
    #[wasm_bindgen(getter = launchURL)]
    pub fn launch_url(&self) -> Option<String> {
        self.data.borrow().launch_url.clone()
    }
    /// Sets `launchURL`; null or `""` restores the default.
    #[wasm_bindgen(setter = launchURL)]
    pub fn set_launch_url(&self, v: Option<String>) {
        self.data.borrow_mut().launch_url = v.filter(|s| !s.is_empty());
    }

    /// The daemon's script (default `./bgsession-sw.js`, relative to the page).
    #[wasm_bindgen(getter = serviceWorkerURL)]
    pub fn service_worker_url(&self) -> String {
        self.data.borrow().service_worker_url.clone()
    }
    /// Sets `serviceWorkerURL`; read when the `URLSession` is created.
    #[wasm_bindgen(setter = serviceWorkerURL)]
    pub fn set_service_worker_url(&self, v: String) {
        self.data.borrow_mut().service_worker_url = v;
    }
}
