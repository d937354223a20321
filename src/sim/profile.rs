//! Worker-lifetime profiles: how long each platform lets the daemon live,
//! what it does with stored bytes, and whether it relaunches the app. The
//! browser figures are those measured in `shared/ENGINES.md` (2026-12-01);
//! iOS's are Apple's documentation and what developers report. Each rule
//! carries the sentence a timeline shows when it makes a lane differ.

/// One platform's terms.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    /// "iOS", "Chromium", "Firefox", "WebKit".
    pub name: &'static str,
    /// The daemon outlives everything but a device restart (nsurlsessiond).
    pub daemon_is_system: bool,
    /// With no page open, the worker is stopped this long after the last
    /// page closed (`None`: not for that reason).
    pub stop_after_last_page_ms: Option<f64>,
    /// The worker is stopped this long after its last event, even mid-transfer
    /// (an open page's heartbeat is an event).
    pub stop_after_last_event_ms: Option<f64>,
    /// With no page, a worker that is idle (no transfer, no timer) is stopped after this long.
    pub stop_when_idle_ms: f64,
    /// The engine drops the origin's Cache API entries when its last page
    /// closes (WebKit's ephemeral data store, Safari's private browsing).
    pub drops_bytes_on_last_page_close: bool,
    /// A worker stopped mid-stream leaves a truncated entry (Firefox's
    /// `cache.put` commits what it had).
    pub truncates_on_stop: bool,
    /// The system relaunches the app in the background when its session's
    /// events are ready (iOS), with a delay that doubles each time.
    pub relaunches_app: bool,
    /// Force-quitting the app cancels its background transfers (iOS).
    pub force_quit_cancels: bool,
    /// The daemon restarts by itself after a device/browser restart.
    pub daemon_starts_at_boot: bool,
    /// Why the worker stopped, for a timeline.
    pub why_stopped: &'static str,
    /// What happens at a force-quit, for a timeline.
    pub why_force_quit: &'static str,
    /// The system restarts a killed daemon at once (iOS: launchd restarts
    /// nsurlsessiond).
    pub restarts_after_kill: bool,
    /// What happens when the system kills the daemon, for a timeline.
    pub why_killed: &'static str,
    /// What happens at a device (browser) restart, for a timeline.
    pub why_restart: &'static str,
    /// The daemon sees the link's type (Wi-Fi or cellular): iOS does;
    /// desktop Chromium, Firefox and WebKit do not say it.
    pub sees_link: bool,
    /// What `isDiscretionary` does here, for a timeline.
    pub why_discretionary: &'static str,
    /// What happens when a closed app's session has events ready (iOS: a
    /// background relaunch; a browser: they wait for a page), for a timeline.
    pub why_relaunch: &'static str,
    /// What happens to the temporary file when `didFinishDownloadingTo`
    /// returns and the app has not moved it, for a timeline.
    pub why_temp_deleted: &'static str,
}

impl Profile {
    /// iOS: nsurlsessiond, a system daemon.
    pub fn ios() -> Self {
        Profile {
            name: "iOS",
            daemon_is_system: true,
            stop_after_last_page_ms: None,
            stop_after_last_event_ms: None,
            stop_when_idle_ms: f64::INFINITY,
            drops_bytes_on_last_page_close: false,
            truncates_on_stop: false,
            relaunches_app: true,
            force_quit_cancels: true,
            daemon_starts_at_boot: true,
            why_stopped: "iOS: nsurlsessiond is a system daemon; it stops only with the device",
            why_force_quit: "iOS: force-quit cancels the app's background transfers with -999, and the app is not relaunched for them",
            restarts_after_kill: true,
            why_killed: "iOS: launchd restarts nsurlsessiond at once, and it resumes the transfer",
            why_restart: "iOS: nsurlsessiond starts at boot and resumes the transfers before the app is opened",
            sees_link: true,
            why_discretionary: "iOS: isDiscretionary lets the system defer the transfer until Wi-Fi (and power) are good",
            why_relaunch: "iOS relaunches the app in the background when its session's events are ready; the delay doubles on each background relaunch and resets when the app comes to the foreground",
            why_temp_deleted: "iOS deletes the temporary file when didFinishDownloadingTo returns: the app must move it first",
        }
    }

    /// Chromium: a worker with a streaming `fetch` lives on with no page;
    /// an event's `waitUntil` is capped at 5 minutes.
    pub fn chromium() -> Self {
        Profile {
            name: "Chromium",
            daemon_is_system: false,
            stop_after_last_page_ms: None,
            stop_after_last_event_ms: Some(300_000.0),
            stop_when_idle_ms: 30_000.0,
            drops_bytes_on_last_page_close: false,
            truncates_on_stop: false,
            relaunches_app: false,
            force_quit_cancels: false,
            daemon_starts_at_boot: false,
            why_stopped: "Chromium stopped the worker: an event's waitUntil lasts at most 5 minutes; the transfer waits for the next page",
            why_force_quit: "Chromium: no force-quit gesture; closing the tab is the system ending a suspended app, and transfers go on",
            restarts_after_kill: false,
            why_killed: "Chromium: a killed worker starts again only with the next event (a page, a message)",
            why_restart: "Chromium: the worker does not start with the browser; the transfer resumes at the next page",
            sees_link: false,
            why_discretionary: "Chromium on a desktop does not say whether the link is cellular: a discretionary task waits only while other transfers run",
            why_relaunch: "Chromium cannot launch a closed app: the events wait in the journal for the next page",
            why_temp_deleted: "Chromium (bgsession): the temporary file is deleted when didFinishDownloadingTo returns, as on iOS",
        }
    }

    /// Firefox ESR: stops a worker ~60 s after its last event, page or not.
    pub fn firefox() -> Self {
        Profile {
            name: "Firefox",
            daemon_is_system: false,
            stop_after_last_page_ms: None,
            stop_after_last_event_ms: Some(60_000.0),
            stop_when_idle_ms: 30_000.0,
            drops_bytes_on_last_page_close: false,
            truncates_on_stop: true,
            relaunches_app: false,
            force_quit_cancels: false,
            daemon_starts_at_boot: false,
            why_stopped: "Firefox stopped the worker 60 s after its last event: the transfer waits for the next page",
            why_force_quit: "Firefox: no force-quit gesture; closing the tab ends the page, and the worker goes on until Firefox stops it (60 s)",
            restarts_after_kill: false,
            why_killed: "Firefox: a killed worker starts again only with the next event (a page, a message)",
            why_restart: "Firefox: the worker does not start with the browser; the transfer resumes at the next page",
            sees_link: false,
            why_discretionary: "Firefox has no Network Information API: a discretionary task waits only while other transfers run",
            why_relaunch: "Firefox cannot launch a closed app: the events wait in the journal for the next page",
            why_temp_deleted: "Firefox (bgsession): the temporary file is deleted when didFinishDownloadingTo returns, as on iOS",
        }
    }

    /// WebKit (Safari's engine): stops the worker ~10 s after its last page.
    pub fn webkit() -> Self {
        Profile {
            name: "WebKit",
            daemon_is_system: false,
            stop_after_last_page_ms: Some(10_000.0),
            stop_after_last_event_ms: None,
            stop_when_idle_ms: 10_000.0,
            drops_bytes_on_last_page_close: false,
            truncates_on_stop: false,
            relaunches_app: false,
            force_quit_cancels: false,
            daemon_starts_at_boot: false,
            why_stopped: "WebKit stopped the worker 10 s after its last page closed: the transfer waits for the next page",
            why_force_quit: "WebKit: no force-quit gesture; closing the tab ends the page, and WebKit stops the worker 10 s later",
            restarts_after_kill: false,
            why_killed: "WebKit: a killed worker starts again only with the next event (a page, a message)",
            why_restart: "WebKit: the worker does not start with the browser; the transfer resumes at the next page",
            sees_link: false,
            why_discretionary: "WebKit has no Network Information API: a discretionary task waits only while other transfers run",
            why_relaunch: "WebKit cannot launch a closed app: the events wait in the journal for the next page",
            why_temp_deleted: "WebKit (bgsession): the temporary file is deleted when didFinishDownloadingTo returns, as on iOS",
        }
    }

    /// WebKit with an ephemeral data store (Safari's private browsing, the
    /// driver's default): Cache API entries are dropped with the last page.
    pub fn webkit_ephemeral() -> Self {
        Profile { name: "WebKit (ephemeral)", drops_bytes_on_last_page_close: true, ..Self::webkit() }
    }

    /// The four platforms a timeline compares.
    pub fn all() -> Vec<Profile> {
        vec![Self::ios(), Self::chromium(), Self::firefox(), Self::webkit()]
    }

    /// A profile by its short name: "ios", "chromium", "firefox", "webkit",
    /// "webkit-ephemeral".
    pub fn by_name(name: &str) -> Option<Profile> {
        match name.to_ascii_lowercase().as_str() {
            "ios" => Some(Self::ios()),
            "chromium" => Some(Self::chromium()),
            "firefox" => Some(Self::firefox()),
            "webkit" => Some(Self::webkit()),
            "webkit-ephemeral" => Some(Self::webkit_ephemeral()),
            _ => None,
        }
    }
}
