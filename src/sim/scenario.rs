//! A scenario as data (JSON), played under a profile, and its trace as
//! data: what the demo's "What would happen" view shows. The page runs this
//! very code (compiled to wasm by `crates/sim-wasm`), so every line of a
//! timeline, and every explanation, comes from the simulator and the
//! profile that caused it.
//!
//! ```
//! use bgsession::sim::scenario::{play, Scenario};
//!
//! let s: Scenario = serde_json::from_str(r#"{
//!   "downloads": [{ "size": 4194304, "rate": 1048576 }],
//!   "events": [{ "at": 1000, "step": "close" }, { "at": 60000, "step": "open" }],
//!   "untilMs": 120000
//! }"#).unwrap();
//! let ios = play(&s, "ios").unwrap();
//! assert!(ios.events.iter().any(|e| e.what == "relaunched in the background"));
//! let firefox = play(&s, "firefox").unwrap();
//! assert!(firefox.events.iter().any(|e| e.what == "events wait for a page"));
//! ```

use super::{KeepFiles, Lane, Profile, Resource, Sim, Step};
use serde::{Deserialize, Serialize};

/// The most tasks a scenario may start (a timeline shows each).
pub const MAX_TASKS: u64 = 500;
/// The longest a scenario may run: a day of virtual time.
pub const MAX_MS: f64 = 24.0 * 3_600_000.0;

/// Downloads started when the scenario begins (the app is open at 0).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Downloads {
    /// How many files like this.
    #[serde(default = "one")]
    pub count: u64,
    /// Bytes each.
    pub size: u64,
    /// The link's rate for each, bytes per second.
    pub rate: f64,
}

fn one() -> u64 {
    1
}
fn yes() -> bool {
    true
}

/// A scripted event at a virtual time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Event {
    /// Virtual ms since the start.
    pub at: f64,
    /// "open", "close", "forceQuit", "killDaemon", "restart", "offline",
    /// "online", "stopRanges", "wifi", "cellular".
    pub step: String,
}

/// A scenario: downloads, a session's settings, events, how long to run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scenario {
    /// A title for people.
    #[serde(default)]
    pub title: String,
    /// What the app downloads at 0 (one session, "s").
    pub downloads: Vec<Downloads>,
    /// `httpMaximumConnectionsPerHost` (`None`: the default).
    #[serde(default)]
    pub max_connections: Option<u32>,
    /// `isDiscretionary`.
    #[serde(default)]
    pub discretionary: bool,
    /// Does the delegate move the file in `didFinishDownloadingTo`?
    #[serde(default = "yes")]
    pub keep_files: bool,
    /// Events at times.
    #[serde(default)]
    pub events: Vec<Event>,
    /// Virtual time to run (ms).
    pub until_ms: f64,
    /// Which profiles to show ("ios", "chromium", "firefox", "webkit").
    #[serde(default)]
    pub profiles: Vec<String>,
}

/// One line of a played scenario's timeline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Line {
    /// Virtual ms.
    pub at: f64,
    /// "app", "daemon" or "network" (the system and the link).
    pub lane: &'static str,
    /// A delegate method, a lifecycle word, or a request ("GET").
    pub what: String,
    /// The task, if any.
    pub task: Option<u64>,
    /// Numbers, the error, the range asked.
    pub detail: String,
    /// A delegate call delivered from the journal after the app came back.
    pub replayed: bool,
    /// Why this lane differs, from the profile's rule.
    pub note: Option<String>,
}

/// A scenario played under one profile.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Played {
    /// The profile's name ("iOS", "Chromium"…).
    pub profile: String,
    /// The lines, in time order.
    pub events: Vec<Line>,
    /// Tasks whose file is byte-exact in `/Documents` at the end.
    pub files_exact: u64,
    /// Tasks started.
    pub tasks: u64,
    /// The simulator's invariants broken (none expected).
    pub violations: Vec<String>,
}

/// Why a scenario cannot be played.
pub fn check(s: &Scenario) -> Result<(), String> {
    let tasks: u64 = s.downloads.iter().map(|d| d.count).sum();
    if tasks == 0 || tasks > MAX_TASKS {
        return Err(format!("between 1 and {MAX_TASKS} downloads, not {tasks}"));
    }
    if s.downloads.iter().any(|d| d.size == 0 || !(d.rate.is_finite() && d.rate >= 1.0)) {
        return Err("each download needs a size and a rate of at least 1 byte/s".into());
    }
    if !(s.until_ms.is_finite() && s.until_ms > 0.0 && s.until_ms <= MAX_MS) {
        return Err(format!("run for 1 ms to {} h", MAX_MS / 3_600_000.0));
    }
    if s.max_connections.is_some_and(|n| !(1..=1000).contains(&n)) {
        return Err("httpMaximumConnectionsPerHost is 1 to 1000".into());
    }
    for e in &s.events {
        step_of(&e.step)?;
        if !(e.at.is_finite() && e.at >= 0.0) {
            return Err(format!("event \"{}\" has no valid time", e.step));
        }
    }
    Ok(())
}

fn step_of(name: &str) -> Result<Step, String> {
    Ok(match name {
        "open" => Step::OpenApp,
        "close" => Step::CloseApp,
        "closeWhileDelivering" => Step::CloseAppWhileDelivering(0),
        "forceQuit" => Step::ForceQuit,
        "killDaemon" => Step::KillDaemon,
        "restart" => Step::Restart,
        "offline" => Step::Offline,
        "online" => Step::Online,
        "stopRanges" => Step::ServerStopsRanges,
        "wifi" | "cellular" => Step::Link(name.to_string()),
        other => return Err(format!("unknown event \"{other}\"")),
    })
}

/// A delegate that leaves the file where `didFinishDownloadingTo` put it.
struct Forgetful;
impl super::Delegate for Forgetful {}

/// The simulation a scenario sets up under `profile` (not yet run).
pub fn setup(s: &Scenario, profile: Profile) -> Result<Sim, String> {
    check(s)?;
    let delegate: Box<dyn super::Delegate> = if s.keep_files { Box::new(KeepFiles) } else { Box::new(Forgetful) };
    let mut sim = Sim::new(profile, delegate);
    if let Some(n) = s.max_connections {
        sim.set_max_connections("s", n);
    }
    sim.set_discretionary("s", s.discretionary);
    // Link events at 0 come before the first request.
    for e in s.events.iter().filter(|e| e.at == 0.0 && matches!(e.step.as_str(), "wifi" | "cellular")) {
        sim.at(0.0, step_of(&e.step)?);
    }
    sim.at(0.0, Step::OpenApp);
    let mut i = 0;
    for d in &s.downloads {
        for _ in 0..d.count {
            let url = format!("https://example.test/f{i}");
            sim.server.resources.insert(url.clone(), Resource::new(d.size, d.rate));
            sim.at(0.0, Step::Download { session: "s".into(), url });
            i += 1;
        }
    }
    for e in s.events.iter().filter(|e| !(e.at == 0.0 && matches!(e.step.as_str(), "wifi" | "cellular"))) {
        sim.at(e.at, step_of(&e.step)?);
    }
    Ok(sim)
}

/// Plays `s` under the profile named `profile` ("ios", "chromium"…).
pub fn play(s: &Scenario, profile: &str) -> Result<Played, String> {
    let p = Profile::by_name(profile).ok_or_else(|| format!("unknown profile \"{profile}\""))?;
    let mut sim = setup(s, p)?;
    sim.run_until(s.until_ms);
    let mut p = played(&sim);
    if !s.keep_files {
        // The delegate moved nothing: no file in /Documents is what it asked for.
        p.violations.retain(|v| !v.contains("file:///Documents/"));
    }
    Ok(p)
}

/// The lines of a run: the trace and the server's log, merged in time order.
pub fn played(sim: &Sim) -> Played {
    let mut events: Vec<Line> = sim
        .trace
        .iter()
        .map(|e| Line {
            at: e.at,
            lane: match e.lane {
                Lane::App => "app",
                Lane::Daemon => "daemon",
                Lane::System => "network",
            },
            what: e.what.clone(),
            task: e.task,
            detail: e.detail.clone(),
            replayed: e.lane == Lane::App && e.task.is_some() && !e.app_alive,
            note: e.note.clone(),
        })
        .collect();
    let requests = sim.server.log.iter().map(|r| Line {
        at: r.at,
        lane: "network",
        what: "GET".into(),
        task: r.url.rsplit_once("/f").and_then(|(_, n)| n.parse::<u64>().ok()).map(|n| n + 1),
        detail: format!("{} → {}", r.range.as_deref().unwrap_or("whole"), r.status),
        replayed: false,
        note: None,
    });
    events.extend(requests);
    // Stable: the trace's order holds within a millisecond.
    events.sort_by(|a, b| a.at.total_cmp(&b.at));
    let tasks = sim.store.all_tasks().count() as u64;
    let files_exact = sim.store.all_tasks().filter(|t| sim.file_is_exact(&format!("file:///Documents/{}", t.task_id), &t.original_request.url)).count() as u64;
    Played { profile: sim.profile.name.to_string(), events, files_exact, tasks, violations: sim.violations(false) }
}
