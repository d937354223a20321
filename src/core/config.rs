//! `URLSessionConfiguration` as plain data (stored with the session so the
//! daemon applies it), with iOS's defaults.
//!
//! # Examples
//!
//! ```
//! use bgsession::core::config::{ConfigData, Transport};
//!
//! let mut config = ConfigData::background("com.example.maps").unwrap();
//! config.transport = Transport::parse("backgroundFetch").unwrap();
//! assert_eq!(config.transport.as_str(), "backgroundFetch");
//! assert!(Transport::parse("carrier-pigeon").is_err());
//!
//! // Stored as camelCase JSON, the names JS uses.
//! let json = serde_json::to_value(&config).unwrap();
//! assert_eq!(json["httpMaximumConnectionsPerHost"], 6);
//! assert_eq!(json["transport"], "backgroundFetch");
//! ```

use crate::core::error::UsageError;
use crate::core::protocol::{Shape, Slot};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The script the page registers as the daemon unless told otherwise.
pub const DEFAULT_SERVICE_WORKER_URL: &str = "./bgsession-sw.js";

/// How the daemon runs a download.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Transport {
    /// `fetch` in the Service Worker, streamed into the segment store; resumes
    /// with `Range` after the worker dies (needs a wake-up: a page, a message,
    /// Background Sync). The default: the fastest (see the README's figures).
    #[default]
    Fetch,
    /// The browser's own download service (Background Fetch): goes on with
    /// no worker at all and wakes the worker when done; the body is then
    /// copied into the segment store. Chromium only; no resume data.
    BackgroundFetch,
}

/// One decoder for every unit-only enum (`protocol::unit_variant`).
impl<'de> Deserialize<'de> for Transport {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok([Self::Fetch, Self::BackgroundFetch][crate::core::protocol::unit_variant(d, "Transport", &["fetch", "backgroundFetch"])?])
    }
}

impl Transport {
    /// Parses the JS spelling, `"fetch"` or `"backgroundFetch"`; anything else is
    /// [`UsageError::InvalidArgument`] naming the bad value.
    pub fn parse(s: &str) -> Result<Self, UsageError> {
        match s {
            "fetch" => Ok(Transport::Fetch),
            "backgroundFetch" => Ok(Transport::BackgroundFetch),
            other => Err(UsageError::InvalidArgument { what: format!("transport must be \"fetch\" or \"backgroundFetch\", not \"{other}\"") }),
        }
    }

    /// The JS spelling, as [`parse`](Self::parse) accepts it.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Fetch => "fetch",
            Transport::BackgroundFetch => "backgroundFetch",
        }
    }
}

/// A background `URLSessionConfiguration` as plain data: what the page's
/// `URLSessionConfiguration` holds, and what is stored with the session (IndexedDB
/// `sessions`, camelCase JSON) so the daemon applies it. Made by
/// [`ConfigData::background`] with iOS's defaults.
///
/// # Examples
///
/// ```
/// use bgsession::core::config::{ConfigData, Transport};
///
/// let c = ConfigData::background("com.example.podcasts").unwrap();
/// assert_eq!(c.http_maximum_connections_per_host, 6);
/// assert_eq!(c.timeout_interval_for_request, 60.0); // seconds
/// assert_eq!(c.timeout_interval_for_resource, 7.0 * 24.0 * 3600.0); // one week
/// assert!(c.session_sends_launch_events && !c.is_discretionary);
/// assert_eq!(c.transport, Transport::Fetch);
///
/// // The JS setters check their numbers the same way.
/// assert_eq!(ConfigData::check_connections(4.0), Ok(4));
/// assert!(ConfigData::check_connections(0.0).is_err());
/// assert!(ConfigData::check_timeout("timeoutIntervalForRequest", -1.0).is_err());
///
/// // An empty identifier is refused, as iOS does.
/// assert!(ConfigData::background("").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigData {
    /// `identifier`: the name under which a relaunched app finds its session
    /// (and its queued events) again. Never empty.
    pub identifier: String,
    /// `isDiscretionary` (default false): tasks wait, silently, for a fast
    /// unmetered link and an otherwise idle network (see [`crate::core::network`]).
    pub is_discretionary: bool,
    /// `sessionSendsLaunchEvents` (default true): with no page of the session
    /// open, the daemon shows a notification that opens the app (`launch_url`)
    /// once the session's last running task is over, or when a delayed task
    /// needs the app's answer. Needs notification permission.
    pub session_sends_launch_events: bool,
    /// `allowsCellularAccess` (default true): false makes tasks wait while the
    /// link is cellular.
    pub allows_cellular_access: bool,
    /// `allowsExpensiveNetworkAccess` (default true): false makes tasks wait on
    /// cellular, WiMAX or Bluetooth-tethered links.
    pub allows_expensive_network_access: bool,
    /// `allowsConstrainedNetworkAccess` (default true): false makes tasks wait
    /// while Save-Data (the browser's Low Data Mode) is on.
    pub allows_constrained_network_access: bool,
    /// `httpMaximumConnectionsPerHost` (default 6, 1 to 1000): transfers at once
    /// per `scheme://host:port`, counted over this session's tasks.
    pub http_maximum_connections_per_host: u32,
    /// Seconds.
    pub timeout_interval_for_request: f64,
    /// Seconds.
    pub timeout_interval_for_resource: f64,
    /// `httpAdditionalHeaders`: headers added to every request of the session
    /// (names lower-cased); a request's own header of the same name wins.
    pub http_additional_headers: BTreeMap<String, String>,
    /// `waitsForConnectivity` (default true). Kept for the API only: background
    /// sessions always wait for connectivity, as on iOS.
    pub waits_for_connectivity: bool,
    /// bgsession's addition: the daemon's script the page registers
    /// (`serviceWorkerURL`, default [`DEFAULT_SERVICE_WORKER_URL`], resolved
    /// against the page).
    pub service_worker_url: String,
    /// bgsession's addition: which transport runs this session's downloads.
    #[serde(default)]
    pub transport: Transport,
    /// bgsession's addition: the page a launch notification opens
    /// (`sessionSendsLaunchEvents`); default: the page that made the session.
    #[serde(default, rename = "launchURL")]
    pub launch_url: Option<String>,
    /// Not a setting: the highest task identifier the daemon has stored in
    /// this session, kept with the session's record so that an identifier
    /// is never handed out twice — not even after finished tasks are
    /// forgotten or a browser restart lost the pages' counter (iOS: "uniquely
    /// identifies the task within a given session"). What a page sends is
    /// ignored.
    #[serde(default)]
    pub last_task_id: u64,
    /// Not a setting: when the task numbered `last_task_id` was made (its
    /// `createdAt`; 0 when unknown). A fresh task with a lower number made
    /// before it drew its number first (another tab, slower to resume) and
    /// keeps it; one made after it got its number from a stale counter.
    #[serde(default)]
    pub last_task_created_at: f64,
}

/// Read field by field (`protocol::Fields`) as the derive with the
/// attributes above read it (test `configs_decode_as_the_derive`).
impl<'de> Deserialize<'de> for ConfigData {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const SHAPE: &Shape = &Shape {
            name: "ConfigData",
            names: &[
                "identifier", "isDiscretionary", "sessionSendsLaunchEvents", "allowsCellularAccess", "allowsExpensiveNetworkAccess",
                "allowsConstrainedNetworkAccess", "httpMaximumConnectionsPerHost", "timeoutIntervalForRequest", "timeoutIntervalForResource",
                "httpAdditionalHeaders", "waitsForConnectivity", "serviceWorkerUrl", "transport", "launchURL", "lastTaskId", "lastTaskCreatedAt",
            ],
            required: (1 << 12) - 1 /* all up to serviceWorkerUrl */,
        };
        crate::core::protocol::read_fields(d, SHAPE, Self::with_defaults(String::new()))
    }
}

impl crate::core::protocol::Fields for ConfigData {
    fn slot(&mut self, i: usize) -> Slot<'_> {
        match i {
            0 => Slot::Text(&mut self.identifier),
            1 => Slot::Bool(&mut self.is_discretionary),
            2 => Slot::Bool(&mut self.session_sends_launch_events),
            3 => Slot::Bool(&mut self.allows_cellular_access),
            4 => Slot::Bool(&mut self.allows_expensive_network_access),
            5 => Slot::Bool(&mut self.allows_constrained_network_access),
            6 => Slot::U32(&mut self.http_maximum_connections_per_host),
            7 => Slot::F64(&mut self.timeout_interval_for_request),
            8 => Slot::F64(&mut self.timeout_interval_for_resource),
            9 => Slot::Headers(&mut self.http_additional_headers),
            10 => Slot::Bool(&mut self.waits_for_connectivity),
            11 => Slot::Text(&mut self.service_worker_url),
            12 => Slot::Transport(&mut self.transport),
            13 => Slot::OptText(&mut self.launch_url),
            14 => Slot::U64(&mut self.last_task_id),
            _ => Slot::F64(&mut self.last_task_created_at),
        }
    }
}

impl ConfigData {
    /// `URLSessionConfiguration.background(withIdentifier:)`.
    pub fn background(identifier: &str) -> Result<Self, UsageError> {
        if identifier.trim().is_empty() {
            return Err(UsageError::EmptyIdentifier);
        }
        Ok(Self::with_defaults(identifier.to_string()))
    }

    fn with_defaults(identifier: String) -> Self {
        ConfigData {
            identifier,
            is_discretionary: false,
            session_sends_launch_events: true,
            allows_cellular_access: true,
            allows_expensive_network_access: true,
            allows_constrained_network_access: true,
            http_maximum_connections_per_host: 6,
            timeout_interval_for_request: 60.0,
            timeout_interval_for_resource: 7.0 * 24.0 * 3600.0,
            http_additional_headers: BTreeMap::new(),
            waits_for_connectivity: true,
            service_worker_url: DEFAULT_SERVICE_WORKER_URL.to_string(),
            transport: Transport::Fetch,
            launch_url: None,
            last_task_id: 0,
            last_task_created_at: 0.0,
        }
    }

    /// The network rules its tasks follow.
    pub fn network_policy(&self) -> crate::core::network::NetworkPolicy {
        crate::core::network::NetworkPolicy {
            is_discretionary: self.is_discretionary,
            allows_cellular_access: self.allows_cellular_access,
            allows_expensive_network_access: self.allows_expensive_network_access,
            allows_constrained_network_access: self.allows_constrained_network_access,
        }
    }

    /// Checks a connection count (at least 1).
    pub fn check_connections(n: f64) -> Result<u32, UsageError> {
        if n.is_finite() && (1.0..=1000.0).contains(&n) && n.fract() == 0.0 {
            Ok(n as u32)
        } else {
            Err(UsageError::InvalidArgument { what: format!("httpMaximumConnectionsPerHost must be a whole number from 1 to 1000, not {n}") })
        }
    }

    /// Checks a timeout in seconds (> 0).
    pub fn check_timeout(name: &str, seconds: f64) -> Result<f64, UsageError> {
        if seconds.is_finite() && seconds > 0.0 {
            Ok(seconds)
        } else {
            Err(UsageError::InvalidArgument { what: format!("{name} must be a positive number of seconds, not {seconds}") })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn background_defaults_are_ios_defaults() {
        let c = ConfigData::background("com.example.app").unwrap();
        assert_eq!(c.http_maximum_connections_per_host, 6);
        assert_eq!(c.timeout_interval_for_request, 60.0);
        assert_eq!(c.timeout_interval_for_resource, 604800.0);
        assert!(c.session_sends_launch_events);
        assert!(!c.is_discretionary);
        assert_eq!(c.service_worker_url, "./bgsession-sw.js");
    }

    #[test]
    fn transports_parse_and_name_the_bad_one() {
        assert_eq!(Transport::parse("fetch"), Ok(Transport::Fetch));
        assert_eq!(Transport::parse("backgroundFetch").unwrap().as_str(), "backgroundFetch");
        assert!(Transport::parse("carrier-pigeon").unwrap_err().to_string().contains("carrier-pigeon"));
        let json = serde_json::to_value(ConfigData::background("x").unwrap()).unwrap();
        assert_eq!(json["transport"], "fetch");
    }

    #[test]
    fn empty_identifier_is_refused() {
        assert_eq!(ConfigData::background("").unwrap_err(), UsageError::EmptyIdentifier);
        assert_eq!(ConfigData::background("  ").unwrap_err(), UsageError::EmptyIdentifier);
    }

    #[test]
    fn bad_numbers_are_named() {
        assert_eq!(ConfigData::check_connections(4.0), Ok(4));
        for bad in [0.0, -1.0, 2.5, f64::NAN, 1e9] {
            assert!(ConfigData::check_connections(bad).unwrap_err().to_string().contains("httpMaximumConnectionsPerHost"));
        }
        assert!(ConfigData::check_timeout("timeoutIntervalForRequest", 0.0).unwrap_err().to_string().contains("timeoutIntervalForRequest"));
        assert_eq!(ConfigData::check_timeout("t", 1.5), Ok(1.5));
    }
}

/// `ConfigData`, read by hand (`protocol::Fields`), decodes and fails as
/// the derive with its attributes did.
#[cfg(test)]
mod configs_as_derived {
    use super::*;
    use crate::core::protocol::{decodes_as_derived, struct_cases};

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Derived {
        identifier: String,
        is_discretionary: bool,
        session_sends_launch_events: bool,
        allows_cellular_access: bool,
        allows_expensive_network_access: bool,
        allows_constrained_network_access: bool,
        http_maximum_connections_per_host: u32,
        timeout_interval_for_request: f64,
        timeout_interval_for_resource: f64,
        http_additional_headers: BTreeMap<String, String>,
        waits_for_connectivity: bool,
        service_worker_url: String,
        #[serde(default)]
        transport: Transport,
        #[serde(default, rename = "launchURL")]
        launch_url: Option<String>,
        #[serde(default)]
        last_task_id: u64,
        #[serde(default)]
        last_task_created_at: f64,
    }

    #[test]
    fn configs_decode_as_the_derive() {
        let mut c = ConfigData::background("s").unwrap();
        c.http_additional_headers.insert("x-a".into(), "1".into());
        c.transport = Transport::BackgroundFetch;
        c.launch_url = Some("https://h/app".into());
        c.last_task_id = 9;
        c.last_task_created_at = 1.5;
        let full = serde_json::to_value(&c).unwrap();
        let mut min = full.clone();
        for key in ["transport", "launchURL", "lastTaskId", "lastTaskCreatedAt"] {
            min.as_object_mut().unwrap().remove(key);
        }
        let mut cases = struct_cases(&full, &min);
        cases.extend([r#"["s",false,true,true,true,true,6,60.0,1.0,{},true,"./sw.js"]"#, r#"["s",false,true,true,true,true,6,60.0,1.0,{},true]"#, r#"{"sessionDescription":"old","identifier":"s"}"#].map(String::from));
        decodes_as_derived::<ConfigData, Derived>("ConfigData", &cases);
    }
}
