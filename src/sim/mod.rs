//! The simulator (cargo feature `sim`): the real [`Daemon`] and
//! [`Replayer`] driven in virtual time against a scripted server, a
//! simulated store, and scripted app and system events — closed pages,
//! relaunches, killed daemons, restarts, offline spells, faults — under a
//! platform's worker-lifetime [`Profile`]. It returns the delegate's trace
//! (virtual timestamps, which process was alive) and the files' bytes.
//! Natively, thousands of scenarios run in a second.
//!
//! # Examples
//!
//! An app that forgets to move the file in `didFinishDownloadingTo` loses
//! it, as on iOS — a test catches that:
//!
//! ```
//! use bgsession::sim::{Delegate, Files, Profile, Resource, Sim, Step};
//!
//! struct Forgetful;
//! impl Delegate for Forgetful {}          // never moves the file
//! struct Careful;
//! impl Delegate for Careful {
//!     fn did_finish_downloading_to(&mut self, files: &mut Files, task_id: u64, location: &str) {
//!         files.move_item(location, &format!("file:///Documents/{task_id}.bin")).unwrap();
//!     }
//! }
//!
//! for (delegate, kept) in [(Box::new(Forgetful) as Box<dyn Delegate>, false), (Box::new(Careful), true)] {
//!     let mut sim = Sim::new(Profile::chromium(), delegate);
//!     sim.server.resources.insert("https://example.test/a".into(), Resource::new(3 << 20, 1048576.0));
//!     sim.at(0.0, Step::OpenApp);
//!     sim.at(0.0, Step::Download { session: "s".into(), url: "https://example.test/a".into() });
//!     sim.at(500.0, Step::CloseApp);
//!     sim.at(60_000.0, Step::OpenApp);
//!     sim.run_until(120_000.0);
//!     assert_eq!(sim.trace_methods(1), ["didWriteData", "didFinishDownloadingTo", "didCompleteWithError"]);
//!     assert_eq!(sim.file_is_exact("file:///Documents/1.bin", "https://example.test/a"), kept);
//! }
//! ```

mod profile;
pub mod scenario;
mod schedule;
mod server;
mod store;

pub use crate::core::daemon::{Daemon, TransferId};
pub use crate::core::replayer::Replayer;
pub use profile::Profile;
pub use schedule::{ResourceSpec, Schedule};
pub use server::{byte_at, Faults, Piece, Resource, Served, Server};
pub use store::{Files, Store};

use crate::core::config::ConfigData;
use crate::core::daemon::Action;
use crate::core::error::NsError;
use crate::core::journal::{CallArgs, DelegateCall, JournalEntry};
use crate::core::launch::{Launch, LaunchStep};
use crate::core::protocol::{Broadcast, Command, Reply};
use crate::core::replayer::ReplayAction;
use crate::core::request::Request;
use crate::core::task::{TaskRecord, TaskState};
use crate::core::transfer::Failure;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

/// Largest streamed segment: the browser host's (16 MiB).
pub const SEGMENT_BYTES: u64 = crate::core::transfer::STREAM_SEGMENT_BYTES;
/// A streamed segment is stored after this long at most (the browser host's).
pub const SEGMENT_MS: f64 = crate::core::transfer::STREAM_SEGMENT_MS;
/// Time from a request to its response head.
pub const LATENCY_MS: f64 = 20.0;
/// The note on a delegate call made again ([`Step::CloseAppWhileDelivering`]).
pub const AGAIN: &str = "delivered again: the page that delivered it closed before its acknowledgement was written (a page must handle a repeated call after a close mid-replay)";
/// An open page's heartbeat to the daemon (the browser page's).
pub const HEARTBEAT_MS: f64 = crate::core::protocol::PAGE_HEARTBEAT_MS as f64;

/// The app's delegate in a simulation: every method defaults to doing
/// nothing, as `UrlSessionDelegate`'s.
pub trait Delegate {
    /// `didFinishDownloadingTo`: move the file now or lose it.
    fn did_finish_downloading_to(&mut self, _files: &mut Files, _task_id: u64, _location: &str) {}
    /// `didCompleteWithError`.
    fn did_complete_with_error(&mut self, _files: &mut Files, _task_id: u64, _error: Option<&NsError>) {}
}

/// A delegate that moves every download to `/Documents/<taskId>`.
pub struct KeepFiles;

impl Delegate for KeepFiles {
    fn did_finish_downloading_to(&mut self, files: &mut Files, task_id: u64, location: &str) {
        let _ = files.move_item(location, &format!("file:///Documents/{task_id}"));
    }
}

/// A scripted event.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// The user opens the app (a page loads; it wakes the daemon).
    OpenApp,
    /// The user closes the app (the tab; iOS: the system suspends and ends it).
    CloseApp,
    /// The user closes the app while a delegate method delivered from the
    /// journal runs: during the (n + 1)-th such call from now (in the next
    /// replay if none runs now). What the page had delivered without its
    /// acknowledgement on disk is delivered again at the next launch — the
    /// one exception to exactly once, which [`Sim::violations`] allows
    /// only for those entries.
    CloseAppWhileDelivering(u32),
    /// The user force-quits the app (iOS: its transfers are cancelled).
    ForceQuit,
    /// The system stops the daemon (the browser kills the worker).
    KillDaemon,
    /// The device (browser) restarts: app and daemon end.
    Restart,
    /// The link goes down.
    Offline,
    /// The link comes back.
    Online,
    /// The app starts a download in `session` (the page must be open).
    Download {
        /// Session identifier.
        session: String,
        /// The URL.
        url: String,
    },
    /// The app suspends a task.
    Suspend(u64),
    /// The app resumes a task.
    Resume(u64),
    /// The app cancels a task.
    Cancel(u64),
    /// `cancel(byProducingResumeData:)`; the data is kept for `ResumeWithData`.
    CancelProducingResumeData(u64),
    /// `downloadTask(withResumeData:)` with the data task `.0` produced, then `resume()`.
    ResumeWithData(u64),
    /// The resource at this URL changes (new bytes, new ETag).
    ChangeResource(String),
    /// The browser evicts the origin's stored bytes behind the daemon's back.
    EvictBytes,
    /// The server stops honouring `Range` (it answers 200 with the whole body).
    ServerStopsRanges,
    /// The link becomes this type ("wifi", "cellular"…); a profile that
    /// cannot see the link's type ([`Profile::sees_link`]) tells the daemon nothing.
    Link(String),
}

/// Who did something, for a timeline's lanes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// The app (page): delegate callbacks, launches.
    App,
    /// The daemon (worker).
    Daemon,
    /// The system or browser (kills, restarts, the network).
    System,
}

/// One line of the trace.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceEvent {
    /// Virtual ms since the start.
    pub at: f64,
    /// Whose lane.
    pub lane: Lane,
    /// A delegate method's name, or a lifecycle word ("launched", "stopped"…).
    pub what: String,
    /// The task, for delegate calls.
    pub task: Option<u64>,
    /// Numbers or the error, in words.
    pub detail: String,
    /// Was the app alive when the event happened in the daemon (false: it
    /// was journalled and replayed at a relaunch)?
    pub app_alive: bool,
    /// Why this lane differs, from the profile's rule that caused it.
    pub note: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct At(f64, u64);
impl Eq for At {}
impl PartialOrd for At {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for At {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Reversed: BinaryHeap is a max-heap.
        other.0.total_cmp(&self.0).then(other.1.cmp(&self.1))
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Due {
    Script(Step),
    Head(TransferId),
    Chunk(TransferId),
    Timer,
    Heartbeat,
    WorkerCheck,
    BackgroundLaunch,
    /// A page's write lands ([`Sim::with_page_ms`]).
    PageWrite(u64),
    /// A delegate method returns (page, session) ([`Sim::with_page_ms`]).
    Returned(u64, String),
}

/// A page's IndexedDB write, as its replayer asked for it.
#[derive(Clone, Debug, PartialEq)]
enum PageWrite {
    Acks(Vec<crate::core::journal::Ack>),
    Mark(u64),
    TempFiles(Vec<String>),
}

#[derive(Clone, Debug)]
struct Conn {
    answer: server::Answer,
    blob_id: String,
    next_segment: usize,
    sent: u64,
    bounded: bool,
    segment: Vec<Piece>,
    segment_bytes: u64,
    segment_started: f64,
    upload: bool,
}

/// A simulation. See the module documentation.
pub struct Sim {
    /// The platform.
    pub profile: Profile,
    /// The scripted server.
    pub server: Server,
    /// What survives everything: tasks, journal, files, bytes.
    pub store: Store,
    daemon: Option<Daemon>,
    replayers: BTreeMap<String, Replayer>,
    delegate: Box<dyn Delegate>,
    app_open: bool,
    /// When the app was last opened (events journalled before were replayed).
    opened_at: f64,
    app_background: bool,
    online: bool,
    now: f64,
    queue: BinaryHeap<(At, usize)>,
    dues: Vec<Option<Due>>,
    seq: u64,
    conns: BTreeMap<TransferId, Conn>,
    sessions: BTreeSet<String>,
    next_task_id: u64,
    resume_data: BTreeMap<u64, Vec<u8>>,
    last_event: f64,
    last_page_closed: f64,
    relaunch_delay_ms: f64,
    /// Told the trace, since the app closed, that a browser cannot relaunch it.
    told_no_relaunch: bool,
    link: Option<String>,
    discretionary: BTreeSet<String>,
    seed: u64,
    /// The delegate's trace and the lifecycle, in order.
    pub trace: Vec<TraceEvent>,
    /// Counts of what happened (faults injected, kills, launches…).
    pub counts: BTreeMap<&'static str, u64>,
    /// Every entry delivered, by (session, seq), how many times: more than
    /// 1 only after a page closed before the entry's acknowledgement was
    /// on disk ([`Step::CloseAppWhileDelivering`]).
    pub deliveries: BTreeMap<(String, u64), u32>,
    /// Entries delivered again although their acknowledgement was on disk,
    /// or by the page that had delivered them: violations.
    twice: Vec<String>,
    /// Entries whose own acknowledgement is on disk.
    acked: BTreeSet<(String, u64)>,
    /// Per session, the highest mark on disk so far: the entries at or
    /// below it were acknowledged.
    marked: BTreeMap<String, u64>,
    /// The page (its number) that last delivered each entry, and where in the trace.
    delivered_by: BTreeMap<(String, u64), (u64, usize)>,
    /// Trace lines of deliveries made again later: left out of the checks
    /// that count a task's calls.
    superseded: BTreeSet<usize>,
    /// The open page's number (each page load takes the next).
    page: u64,
    /// Delegate calls from the journal until the app closes ([`Step::CloseAppWhileDelivering`]).
    close_during: Option<u32>,
    /// How long a delegate call and a page's write take ([`Sim::with_page_ms`]).
    call_ms: f64,
    write_ms: f64,
    /// The open page's writes in flight, in the order asked: (due, session, write).
    writes: Vec<(u64, String, PageWrite)>,
    next_write: u64,
    /// The most requests in flight at once.
    pub max_in_flight: usize,
    max_connections: BTreeMap<String, u32>,
    served: BTreeMap<String, u64>,
    /// When the daemon committed each finished download's file.
    finished_at: BTreeMap<u64, f64>,
    /// When stored bytes were dropped behind the daemon's back.
    lost_at: Vec<f64>,
}

impl Sim {
    /// A simulation under `profile` with the app's `delegate`.
    pub fn new(profile: Profile, delegate: Box<dyn Delegate>) -> Self {
        Sim {
            profile,
            server: Server::default(),
            store: Store::default(),
            daemon: None,
            replayers: BTreeMap::new(),
            delegate,
            app_open: false,
            opened_at: 0.0,
            app_background: false,
            online: true,
            now: 0.0,
            queue: BinaryHeap::new(),
            dues: Vec::new(),
            seq: 0,
            conns: BTreeMap::new(),
            sessions: BTreeSet::new(),
            next_task_id: 1,
            resume_data: BTreeMap::new(),
            last_event: 0.0,
            last_page_closed: 0.0,
            relaunch_delay_ms: 1000.0,
            told_no_relaunch: false,
            link: None,
            discretionary: BTreeSet::new(),
            seed: 1,
            trace: Vec::new(),
            counts: BTreeMap::new(),
            deliveries: BTreeMap::new(),
            twice: Vec::new(),
            acked: BTreeSet::new(),
            marked: BTreeMap::new(),
            delivered_by: BTreeMap::new(),
            superseded: BTreeSet::new(),
            page: 0,
            close_during: None,
            call_ms: 0.0,
            write_ms: 0.0,
            writes: Vec::new(),
            next_write: 0,
            max_in_flight: 0,
            max_connections: BTreeMap::new(),
            served: BTreeMap::new(),
            finished_at: BTreeMap::new(),
            lost_at: Vec::new(),
        }
    }

    /// `httpMaximumConnectionsPerHost` of the sessions the app creates.
    pub fn set_max_connections(&mut self, session: &str, n: u32) {
        self.max_connections.insert(session.to_string(), n);
    }

    /// `isDiscretionary` of the sessions the app creates.
    pub fn set_discretionary(&mut self, session: &str, on: bool) {
        if on {
            self.discretionary.insert(session.to_string());
        } else {
            self.discretionary.remove(session);
        }
    }

    /// The current delay before iOS relaunches the app in the background
    /// (doubles on each background relaunch, resets in the foreground;
    /// infinite after a force-quit).
    pub fn relaunch_delay_ms(&self) -> f64 {
        self.relaunch_delay_ms
    }

    /// What the daemon is told about the link under this profile.
    fn network_info(&self) -> crate::core::network::NetworkInfo {
        let kind = if self.profile.sees_link { self.link.clone() } else { None };
        crate::core::network::NetworkInfo { kind, ..Default::default() }
    }

    /// The most requests that were in flight at once.
    pub fn max_concurrent(&self) -> usize {
        self.max_in_flight
    }

    /// Body bytes the server sent for `url`, in all.
    pub fn bytes_served(&self, url: &str) -> u64 {
        self.served.get(url).copied().unwrap_or(0)
    }

    /// What went wrong, checked after a run (`finished`: every task should
    /// be over and its events delivered):
    /// - each task's delegate saw exactly one `didCompleteWithError`, last;
    /// - success means `/Documents/<taskId>` (where [`KeepFiles`] moves it)
    ///   holds exactly the server's bytes;
    /// - no journal entry delivered twice, none left undelivered (a page
    ///   closed mid-replay aside: what it delivered without the
    ///   acknowledgement on disk comes again, at most twice
    ///   [`MAX_ACKS_IN_FLIGHT`](crate::core::replayer::MAX_ACKS_IN_FLIGHT)
    ///   and the call that was running; the checks below count such a call
    ///   once);
    /// - nothing left behind: no temp file, no orphan segment, no finished
    ///   task's record (one holding resume bytes aside);
    /// - `usage()` equals the bytes really stored for the files.
    pub fn violations(&self, finished: bool) -> Vec<String> {
        let mut out = self.twice.clone();
        for t in self.store.all_tasks() {
            // A call made again after a close mid-replay counts once.
            let methods: Vec<&str> = self.trace.iter().enumerate().filter(|(i, e)| e.task == Some(t.task_id) && e.lane == Lane::App && !self.superseded.contains(i)).map(|(_, e)| e.what.as_str()).collect();
            let completions = methods.iter().filter(|m| **m == "didCompleteWithError").count();
            if completions > 1 || (finished && completions != 1) {
                out.push(format!("task {}: {completions} didCompleteWithError ({:?})", t.task_id, methods));
            }
            if completions == 1 && methods.last() != Some(&"didCompleteWithError") {
                out.push(format!("task {}: events after didCompleteWithError: {methods:?}", t.task_id));
            }
            let success = self.trace.iter().any(|e| e.task == Some(t.task_id) && e.what == "didCompleteWithError" && e.detail == "nil");
            if success && t.kind == crate::core::task::TaskKind::Download {
                let path = format!("file:///Documents/{}", t.task_id);
                let url = &t.original_request.url;
                let finished_version = self.trace.iter().any(|e| e.task == Some(t.task_id) && e.what == "didFinishDownloadingTo");
                match self.store.file_pieces(&path) {
                    // The browser may drop stored bytes (eviction, WebKit's
                    // ephemeral store): the file is then gone, never wrong.
                    None if finished_version && !self.lost_after(t.task_id) => out.push(format!("task {}: success but {path} is missing or unreadable", t.task_id)),
                    Some(_) if finished_version && !self.file_is_exact(&path, url) && !self.changed_after_finish(url) => {
                        out.push(format!("task {}: success but {path} differs from the server's bytes", t.task_id))
                    }
                    _ => {}
                }
            }
        }
        if finished {
            if !self.store.journal.is_empty() {
                out.push(format!("{} journal entries never delivered", self.store.journal.len()));
            }
            // Only a failed download's record whose error carried resume
            // data may stay (it owns the bytes that data names).
            let holds_resume_data = |t: &crate::core::task::TaskRecord| !t.segments.is_empty() && t.error.as_ref().is_some_and(|e| e.user_info.contains_key(crate::core::resume::RESUME_DATA_KEY));
            let kept: Vec<u64> = self.store.tasks.values().filter(|t| t.state == crate::core::task::TaskState::Completed && !holds_resume_data(t)).map(|t| t.task_id).collect();
            if !kept.is_empty() {
                out.push(format!("finished task records never forgotten: {kept:?}"));
            }
            let temps: Vec<&String> = self.store.files.keys().filter(|k| k.starts_with("/tmp/")).collect();
            if !temps.is_empty() {
                out.push(format!("temp files left: {temps:?}"));
            }
        }
        let orphans = self.store.orphans();
        if finished && !orphans.is_empty() {
            out.push(format!("orphan segments: {orphans:?}"));
        }
        let stored: u64 = self.store.files.values().map(|f| (0..f.segments.len()).filter_map(|i| self.store.blobs.get(&(f.blob_id.clone(), i))).flatten().map(|p| p.len).sum::<u64>()).sum();
        if self.store.usage().total != stored && !self.bytes_were_lost() {
            out.push(format!("usage() says {} bytes, {} are stored", self.store.usage().total, stored));
        }
        out
    }

    /// Were stored bytes dropped after the task's file was made (at the same
    /// virtual ms too: a page closed while the file's delegate call ran)?
    fn lost_after(&self, task_id: u64) -> bool {
        let at = self.finished_at.get(&task_id).copied().unwrap_or(f64::INFINITY);
        self.lost_at.iter().any(|l| *l >= at)
    }

    fn bytes_were_lost(&self) -> bool {
        self.counts.contains_key("bytes evicted") || self.counts.contains_key("bytes dropped by the engine")
    }

    fn changed_after_finish(&self, url: &str) -> bool {
        self.server.resources.get(url).is_some_and(|r| r.version > 1)
    }

    /// Seeds the daemon's jitter (each new worker life takes the next seed).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed.max(1);
        self
    }

    /// How long a delegate call from the journal takes to return, and
    /// each of a page's IndexedDB writes to land (acknowledgements, marks,
    /// the temp files' removal; reads stay instant). 0 and 0 (the
    /// default): at once. Otherwise delivery goes on while writes are in
    /// flight, and a page closed meanwhile
    /// ([`Step::CloseAppWhileDelivering`]) leaves them written or not, as
    /// a browser may: the first few of them in order (by the seed), never
    /// a later one without those before it.
    pub fn with_page_ms(mut self, call_ms: f64, write_ms: f64) -> Self {
        self.call_ms = call_ms.max(0.0);
        self.write_ms = write_ms.max(0.0);
        self
    }

    /// Drops a [`Step::CloseAppWhileDelivering`] still waiting for its
    /// delegate call: the user will not close the app after all.
    pub fn keep_open(&mut self) {
        self.close_during = None;
    }

    /// Schedules a step at virtual time `at` (ms).
    pub fn at(&mut self, at: f64, step: Step) {
        self.push(at, Due::Script(step));
    }

    /// Virtual now.
    pub fn now(&self) -> f64 {
        self.now
    }

    /// Scheduling passes the current daemon life has made.
    pub fn daemon_decisions(&self) -> u64 {
        self.daemon.as_ref().map_or(0, |d| d.decisions())
    }

    /// Is the daemon (worker) alive?
    pub fn daemon_alive(&self) -> bool {
        self.daemon.is_some()
    }

    /// Runs until `until` (virtual ms) or until nothing is left to happen.
    pub fn run_until(&mut self, until: f64) {
        while let Some((At(at, _), i)) = self.queue.peek().copied() {
            if at > until {
                break;
            }
            self.queue.pop();
            self.now = self.now.max(at);
            if let Some(due) = self.dues[i].take() {
                self.happen(due);
            }
        }
        self.now = self.now.max(until);
    }

    /// Runs until every task is over and its events delivered, or `limit`.
    pub fn run_until_settled(&mut self, limit: f64) {
        while self.now < limit {
            let next = (self.now + 60_000.0).min(limit);
            self.run_until(next);
            if self.is_settled() {
                return;
            }
        }
    }

    /// Every task over, the journal delivered, nothing in flight.
    pub fn is_settled(&self) -> bool {
        self.conns.is_empty() && self.store.journal.is_empty() && self.store.tasks.values().all(|t| t.state == TaskState::Completed)
    }

    /// The delegate methods called for a task, in order.
    pub fn trace_methods(&self, task_id: u64) -> Vec<&str> {
        self.trace.iter().filter(|e| e.task == Some(task_id) && e.lane == Lane::App).map(|e| e.what.as_str()).collect()
    }

    /// Does the file at `path` hold exactly the current representation of `url`?
    pub fn file_is_exact(&self, path: &str, url: &str) -> bool {
        let Some(r) = self.server.resources.get(url) else { return false };
        self.store.file_matches(path, Server::seed(url, r.version), r.size)
    }

    // ----- the loop -----

    fn push(&mut self, at: f64, due: Due) {
        self.seq += 1;
        self.dues.push(Some(due));
        self.queue.push((At(at, self.seq), self.dues.len() - 1));
    }

    fn happen(&mut self, due: Due) {
        match due {
            Due::Script(step) => self.step(step),
            Due::Head(id) => self.head(id),
            Due::Chunk(id) => self.chunk(id),
            Due::Timer => {
                if let Some(d) = self.daemon.as_mut() {
                    if d.poll_timeout().is_some_and(|t| t <= self.now) {
                        d.handle_timeout(self.now);
                    }
                }
            }
            Due::Heartbeat => {
                if self.app_open {
                    self.wake("heartbeat");
                    self.push(self.now + HEARTBEAT_MS, Due::Heartbeat);
                }
            }
            Due::WorkerCheck => self.worker_check(),
            Due::Returned(page, session) => {
                if let Some(r) = self.replayers.get_mut(&session).filter(|_| page == self.page) {
                    r.handle_delivered();
                }
            }
            Due::PageWrite(id) => {
                if let Some(i) = self.writes.iter().position(|(w, _, _)| *w == id) {
                    // Writes land in the order asked (overlapping transactions).
                    let landed: Vec<(u64, String, PageWrite)> = self.writes.drain(..=i).collect();
                    for (_, session, write) in landed {
                        self.land(&session, write, true);
                    }
                }
            }
            Due::BackgroundLaunch => {
                if !self.app_open {
                    self.app_background = true;
                    let note = Some(format!("{} relaunched the app in the background: its session's events are ready", self.profile.name));
                    self.note(Lane::System, "relaunched in the background", None, note);
                    self.open_app();
                }
            }
        }
        self.pump();
    }

    fn step(&mut self, step: Step) {
        match step {
            Step::OpenApp => {
                self.app_background = false;
                self.relaunch_delay_ms = 1000.0; // the foreground resets the relaunch limiter
                if !self.app_open {
                    self.note(Lane::App, "opened", None, None);
                    self.open_app();
                }
            }
            Step::CloseApp => self.close_app("closed"),
            Step::CloseAppWhileDelivering(n) => self.close_during = Some(n),
            Step::ForceQuit => self.force_quit(),
            Step::KillDaemon => self.kill("killed by the system"),
            Step::Restart => self.restart(),
            Step::Offline => self.offline(),
            Step::Online => {
                self.online = true;
                self.note(Lane::System, "online", None, None);
            }
            Step::Download { session, url } => self.download(session, url),
            Step::Suspend(id) => self.task_command(id, |session, task_id| Command::Suspend { session, task_id }),
            Step::Resume(id) => self.resume_task(id),
            Step::Cancel(id) => self.task_command(id, |session, task_id| Command::Cancel { session, task_id, task: None }),
            Step::CancelProducingResumeData(id) => self.task_command(id, |session, task_id| Command::CancelByProducingResumeData { session, task_id }),
            Step::ResumeWithData(id) => self.resume_with_data(id),
            Step::ChangeResource(url) => {
                self.count("resource changed");
                self.server.change(&url);
            }
            Step::ServerStopsRanges => {
                for r in self.server.resources.values_mut() {
                    r.ranges = false;
                }
                self.note(Lane::System, "server stops honouring Range", None, None);
            }
            Step::Link(kind) => {
                self.link = Some(kind.clone());
                self.note(Lane::System, &format!("link: {kind}"), None, None);
                let info = self.network_info();
                self.daemon_input(|d, now| d.handle_network(now, info));
            }
            Step::EvictBytes => {
                self.count("bytes evicted");
                self.lost_at.push(self.now);
                self.store.blobs.clear();
            }
        }
    }

    /// The device restarts: the app and the daemon end; the daemon comes
    /// back at boot where the profile says it does.
    fn restart(&mut self) {
        self.count("restart");
        let note = Some(self.profile.why_restart.to_string());
        self.note(Lane::System, "restart", None, note);
        self.close_app("ended by the restart");
        self.kill("ended by the restart");
        if self.profile.daemon_starts_at_boot {
            self.wake("boot");
        }
    }

    /// The network goes away: every open connection fails.
    fn offline(&mut self) {
        self.count("offline");
        self.online = false;
        self.note(Lane::System, "offline", None, None);
        let ids: Vec<TransferId> = self.conns.keys().copied().collect();
        for id in ids {
            self.conns.remove(&id);
            self.daemon_input(|d, now| d.handle_transfer_failed(now, id, Failure::Offline));
        }
    }

    // ----- the app -----

    fn open_app(&mut self) {
        self.app_open = true;
        self.page += 1;
        self.told_no_relaunch = false;
        self.opened_at = self.now;
        self.count("app launches");
        self.push(self.now + HEARTBEAT_MS, Due::Heartbeat);
        // Any page that loads the library wakes the daemon.
        self.wake("page");
        // The launch: which sessions the app delegate is handed (one page:
        // no other holds any), as the browser's page decides it.
        let waiting: Vec<(String, bool)> = self.store.sessions_with_events().into_iter().map(|s| (s, false)).collect();
        for step in Launch::default().plan(&waiting) {
            if let LaunchStep::HandleEvents(_) = step {
                self.note(Lane::App, "handleEventsForBackgroundURLSession", None, None);
            }
        }
        let sessions: Vec<String> = waiting.into_iter().map(|(s, _)| s).chain(self.sessions.iter().cloned()).collect::<BTreeSet<_>>().into_iter().collect();
        for s in sessions {
            self.open_session(&s);
        }
    }

    fn open_session(&mut self, session: &str) {
        if self.replayers.contains_key(session) {
            return;
        }
        self.sessions.insert(session.to_string());
        let mut r = Replayer::new();
        if self.store.mark(session) > 0 {
            self.count("sessions opened on a mark a closed page left");
        }
        for t in self.store.tasks.values().filter(|t| t.session == session && t.state != TaskState::Completed) {
            r.handle_task_open(t.task_id, true);
        }
        r.handle_delivered_mark(self.store.mark(session));
        r.handle_opened(self.store.pending(session), self.store.totals(session));
        r.handle_unremoved_temp_files(self.store.unremoved_temp_files(session));
        self.replayers.insert(session.to_string(), r);
    }

    fn close_app(&mut self, why: &str) {
        if !self.app_open {
            return;
        }
        self.close_during = None;
        // The page's writes in flight: the first few land, the rest never do.
        let writes = std::mem::take(&mut self.writes);
        if !writes.is_empty() {
            self.seed = self.seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let landing = (self.seed >> 33) as usize % (writes.len() + 1);
            *self.counts.entry("page writes in flight at a close, written").or_default() += landing as u64;
            *self.counts.entry("page writes in flight at a close, lost").or_default() += (writes.len() - landing) as u64;
            for (_, session, write) in writes.into_iter().take(landing) {
                self.land(&session, write, false);
            }
        }
        // What it delivered without the acknowledgement on disk comes again;
        // the machine bounds it (twice its acknowledgements in flight, and
        // the call that was running).
        let page = self.page;
        let unacked = self.delivered_by.iter().filter(|(k, (p, _))| *p == page && !self.is_acked(k)).count();
        let bound = 2 * crate::core::replayer::MAX_ACKS_IN_FLIGHT + 1;
        if unacked > bound {
            self.twice.push(format!("a page closed with {unacked} entries delivered and not acknowledged on disk (at most {bound})"));
        }
        self.app_open = false;
        self.app_background = false;
        self.last_page_closed = self.now;
        self.note(Lane::App, why, None, None);
        self.replayers.clear();
        if self.profile.drops_bytes_on_last_page_close {
            self.count("bytes dropped by the engine");
            self.lost_at.push(self.now);
            self.store.blobs.clear();
            let note = Some(format!("{}: the ephemeral data store dropped the Cache API entries with the last page", self.profile.name));
            self.note(Lane::System, "stored bytes dropped", None, note);
        }
        self.schedule_worker_check();
    }

    fn force_quit(&mut self) {
        self.count("force quits");
        let note = Some(self.profile.why_force_quit.to_string());
        self.note(Lane::System, "force-quit", None, note);
        if self.profile.force_quit_cancels {
            let open: Vec<(String, u64)> = self.store.tasks.values().filter(|t| t.state != TaskState::Completed).map(|t| (t.session.clone(), t.task_id)).collect();
            for (session, task_id) in open {
                self.command(Command::Cancel { session, task_id, task: None });
            }
            self.relaunch_delay_ms = f64::INFINITY; // not relaunched for them
        }
        self.close_app("force-quit");
    }

    fn download(&mut self, session: String, url: String) {
        if !self.app_open {
            return;
        }
        self.open_session(&session);
        let id = self.next_task_id;
        self.next_task_id += 1;
        let Ok(req) = Request::get(&url) else { return };
        let mut task = TaskRecord::new_download(&session, id, req, self.now, format!("dl-{id}"));
        task.nonce = format!("n{id}");
        let discretionary = self.discretionary.contains(&session);
        task.policy.is_discretionary = discretionary;
        if let Some(r) = self.replayers.get_mut(&session) {
            r.handle_task_open(id, true);
        }
        let config = ConfigData::background(&session).ok().map(|mut c| {
            if let Some(n) = self.max_connections.get(&session) {
                c.http_maximum_connections_per_host = *n;
            }
            c.is_discretionary = discretionary;
            c
        });
        if discretionary {
            let note = Some(self.profile.why_discretionary.to_string());
            self.note(Lane::Daemon, "discretionary task", Some(id), note);
        }
        self.command(Command::Resume { task, fresh: true, id_floor: id, config, session_description: None });
    }

    fn task_key(&self, id: u64) -> Option<(String, u64)> {
        self.store.tasks.keys().find(|k| k.1 == id).cloned()
    }

    fn task_command(&mut self, id: u64, make: impl FnOnce(String, u64) -> Command) {
        if !self.app_open {
            return;
        }
        if let Some((s, t)) = self.task_key(id) {
            self.command(make(s, t));
        }
    }

    fn resume_task(&mut self, id: u64) {
        if !self.app_open {
            return;
        }
        if let Some(task) = self.task_key(id).and_then(|k| self.store.tasks.get(&k).cloned()) {
            self.command(Command::Resume { task, fresh: false, id_floor: 0, config: None, session_description: None });
        }
    }

    fn resume_with_data(&mut self, from: u64) {
        let Some(bytes) = self.resume_data.get(&from).cloned() else { return };
        if !self.app_open {
            return;
        }
        let Ok(data) = crate::core::resume::ResumeData::from_bytes(&bytes) else { return };
        let id = self.next_task_id;
        self.next_task_id += 1;
        let session = data.session.clone();
        let task = data.into_task(&session, id, self.now);
        if let Some(r) = self.replayers.get_mut(&session) {
            r.handle_task_open(id, true);
        }
        self.command(Command::Resume { task, fresh: true, id_floor: id, config: None, session_description: None });
    }

    /// Sends a command (waking the daemon: a message starts a worker).
    fn command(&mut self, cmd: Command) {
        self.wake("command");
        self.last_event = self.now;
        let to = match &cmd {
            Command::CancelByProducingResumeData { task_id, .. } => *task_id,
            _ => 0,
        };
        self.daemon_input(|d, now| d.handle_command(now, to, cmd));
    }

    // ----- the daemon's host -----

    fn wake(&mut self, why: &str) {
        self.last_event = self.now;
        if self.daemon.is_some() {
            return;
        }
        self.count("worker starts");
        self.seed = self.seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let mut d = Daemon::new(self.seed);
        let tasks: Vec<TaskRecord> = self.store.tasks.values().cloned().collect();
        let configs: Vec<ConfigData> = self.store.configs.values().cloned().collect();
        d.handle_network(self.now, self.network_info());
        d.handle_started(self.now, tasks, configs);
        self.daemon = Some(d);
        self.note(Lane::Daemon, "started", None, Some(format!("woken by: {why}")));
        self.schedule_worker_check();
    }

    fn kill(&mut self, why: &str) {
        if self.daemon.take().is_none() {
            return;
        }
        self.count("daemon kills");
        // Bytes in flight are lost; Firefox commits what the segment had.
        let conns = std::mem::take(&mut self.conns);
        if self.profile.truncates_on_stop {
            for c in conns.values().filter(|c| !c.segment.is_empty() && !c.upload) {
                self.store.blobs.insert((c.blob_id.clone(), c.next_segment), c.segment.clone());
            }
        }
        let note = match why {
            "ended by the restart" => None,
            "killed by the system" => Some(self.profile.why_killed.to_string()),
            // Nothing left to do: every engine stops an idle worker, and nothing waits.
            "stopped (idle)" => None,
            _ => Some(self.profile.why_stopped.to_string()),
        };
        self.note(Lane::Daemon, why, None, note);
        if why == "killed by the system" && self.profile.restarts_after_kill {
            self.wake("launchd");
        }
    }

    fn schedule_worker_check(&mut self) {
        let at = self.now + 1000.0;
        self.push(at, Due::WorkerCheck);
    }

    /// Applies the profile's terms: is the worker stopped now?
    fn worker_check(&mut self) {
        let Some(d) = self.daemon.as_ref() else { return };
        if self.profile.daemon_is_system {
            return;
        }
        let idle = d.is_idle();
        let p = &self.profile;
        let stop = if self.app_open {
            // An open page's heartbeat is an event: no engine stops it then.
            false
        } else {
            p.stop_after_last_page_ms.is_some_and(|ms| self.now - self.last_page_closed >= ms)
                || p.stop_after_last_event_ms.is_some_and(|ms| self.now - self.last_event >= ms)
                || (idle && self.now - self.last_event >= p.stop_when_idle_ms)
        };
        if stop {
            let why = if idle { "stopped (idle)" } else { "stopped by the engine" };
            self.kill(why);
        } else {
            self.schedule_worker_check();
        }
    }

    fn daemon_input(&mut self, f: impl FnOnce(&mut Daemon, f64)) {
        if let Some(d) = self.daemon.as_mut() {
            f(d, self.now);
        }
        self.pump();
    }

    /// Performs every pending action of the daemon and the replayers.
    fn pump(&mut self) {
        for _ in 0..100_000 {
            let a = self.daemon.as_mut().and_then(|d| d.poll_action());
            if let Some(a) = a {
                self.perform(a);
                continue;
            }
            if !self.pump_replayers() {
                break;
            }
        }
        if let Some(t) = self.daemon.as_ref().and_then(|d| d.poll_timeout()) {
            if !self.queue.iter().any(|(At(at, _), i)| *at == t && self.dues[*i] == Some(Due::Timer)) {
                self.push(t.max(self.now), Due::Timer);
            }
        }
    }

    fn perform(&mut self, action: Action) {
        let now = self.now;
        match action {
            Action::Send(s) => self.send(s),
            Action::ReadBody { transfer, blob_id, first_segment } => self.read_body(transfer, blob_id, first_segment),
            Action::Abort(id) => {
                self.conns.remove(&id);
            }
            Action::Commit(c) => {
                if let (Some(_), Some(t)) = (&c.file, &c.task) {
                    self.finished_at.insert(t.task_id, now);
                }
                let written = self.store.commit(*c);
                if let Some(d) = self.daemon.as_mut() {
                    d.handle_appended(&written);
                }
            }
            Action::DeleteBytes { blob_id, from, count } => {
                for i in from..from + count {
                    self.store.blobs.remove(&(blob_id.clone(), i));
                }
            }
            Action::CopyFile { task, from, blob_id } => {
                let result = self.store.copy_file(&from, &blob_id).ok_or(crate::core::upload::CopyFailure::NoFile);
                if let Some(d) = self.daemon.as_mut() {
                    d.handle_file_copied(now, task, result);
                }
            }
            Action::ReadTask { task } => {
                // The simulator runs one daemon: no other worker holds a task.
                let record = self.store.tasks.get(&task).filter(|_| !self.store.forgotten.contains_key(&task)).cloned();
                if let Some(d) = self.daemon.as_mut() {
                    d.handle_task_read(now, task, Ok(record));
                }
            }
            Action::VerifyBytes { task, blob_id, segments } => {
                let intact = self.store.intact_prefix(&blob_id, &segments);
                if intact < segments.len() {
                    self.count("lost segments found");
                }
                if let Some(d) = self.daemon.as_mut() {
                    d.handle_bytes_verified(now, task, intact);
                }
            }
            Action::Reply { to, reply } => {
                if let Reply::ResumeData { data: Some(bytes) } = reply {
                    self.resume_data.insert(to, bytes);
                }
            }
            Action::Broadcast(Broadcast::Journal { session }) => {
                if let Some(r) = self.replayers.get_mut(&session) {
                    r.handle_announced();
                }
            }
            Action::Broadcast(Broadcast::Daemon { .. } | Broadcast::Numbered { .. }) => {}
            Action::FindPage { session } => self.find_page(now, &session),
            Action::LaunchApp { session, why } => self.launch_app(session, why),
        }
    }

    /// The daemon asks whether a page holds `session`'s events: the app's
    /// page holds every session's while it is open.
    fn find_page(&mut self, now: f64, session: &str) {
        let open = self.app_open;
        if let Some(d) = self.daemon.as_mut() {
            d.handle_page(now, session, open);
        }
    }

    fn launch_app(&mut self, session: String, why: String) {
        if !self.profile.relaunches_app {
            if !self.told_no_relaunch {
                self.told_no_relaunch = true;
                let note = Some(self.profile.why_relaunch.to_string());
                self.note(Lane::System, "events wait for a page", None, note);
            }
            return;
        }
        if !self.relaunch_delay_ms.is_finite() {
            return;
        }
        let delay = self.relaunch_delay_ms;
        self.relaunch_delay_ms *= 2.0; // the limiter: each background relaunch doubles the next delay
        self.note(Lane::System, "relaunch scheduled", None, Some(format!("{}: session \"{session}\" {why}; iOS waits {:.0} s", self.profile.why_relaunch, delay / 1000.0)));
        self.push(self.now + delay, Due::BackgroundLaunch);
    }

    fn send(&mut self, s: crate::core::daemon::Send) {
        if !self.online {
            let id = s.transfer;
            self.push(self.now + LATENCY_MS, Due::Head(id));
            self.conns.insert(id, Conn { answer: offline_answer(), blob_id: String::new(), next_segment: 0, sent: 0, bounded: false, segment: vec![], segment_bytes: 0, segment_started: self.now, upload: false });
            return;
        }
        let answer = self.server.answer(self.now, &s.request);
        if answer.head.status_code == 503 {
            self.count("503 answered");
        }
        let bounded = s.whole && answer.head.status_code == 206;
        let upload = s.upload_body.is_some();
        let id = s.transfer;
        self.conns.insert(id, Conn { answer, blob_id: String::new(), next_segment: 0, sent: 0, bounded, segment: vec![], segment_bytes: 0, segment_started: self.now, upload });
        self.max_in_flight = self.max_in_flight.max(self.conns.len());
        self.push(self.now + LATENCY_MS, Due::Head(id));
    }

    fn head(&mut self, id: TransferId) {
        let Some(c) = self.conns.get(&id).cloned() else { return };
        if c.answer.head.status_code == 0 || !self.online {
            self.conns.remove(&id);
            return self.daemon_input(|d, now| d.handle_transfer_failed(now, id, Failure::Offline));
        }
        let head = c.answer.head.clone();
        self.daemon_input(|d, now| d.handle_response(now, id, head));
    }

    fn read_body(&mut self, id: TransferId, blob_id: String, first_segment: usize) {
        if let Some(c) = self.conns.get_mut(&id) {
            c.blob_id = blob_id;
            c.next_segment = first_segment;
            c.segment_started = self.now;
            let at = self.now + next_chunk_ms(c);
            self.push(at, Due::Chunk(id));
        }
    }

    /// The next piece of a body arrives: a streamed segment is stored, a
    /// bounded one read whole, a cut breaks it (keeping a streamed body's
    /// bytes; a body read whole is lost with it), the end ends it.
    fn chunk(&mut self, id: TransferId) {
        let Some(mut c) = self.conns.remove(&id) else { return };
        if c.upload {
            let body = format!("stored {} bytes", c.answer.len).into_bytes();
            return self.daemon_input(|d, now| d.handle_upload_body(now, id, &body));
        }
        let n = chunk_len(&c);
        if n > 0 {
            *self.served.entry(c.answer.head.url.clone()).or_default() += n;
            c.segment.push(Piece { seed: c.answer.seed, start: c.answer.start + c.sent, len: n });
            c.segment_bytes += n;
            c.sent += n;
        }
        let cut = c.answer.cut_after.is_some_and(|k| c.sent >= k);
        let ended = c.sent >= c.answer.len;
        let segment_full = !c.bounded && (c.segment_bytes >= SEGMENT_BYTES || self.now - c.segment_started >= SEGMENT_MS);
        if (segment_full || (cut && !c.bounded) || ended) && c.segment_bytes > 0 {
            self.store.blobs.insert((c.blob_id.clone(), c.next_segment), std::mem::take(&mut c.segment));
            let (len, elapsed) = (c.segment_bytes, self.now - c.segment_started);
            c.next_segment += 1;
            c.segment_bytes = 0;
            c.segment_started = self.now;
            self.conns.insert(id, c.clone());
            self.daemon_input(|d, now| d.handle_segment_stored(now, id, len, elapsed));
            if !self.conns.contains_key(&id) {
                return; // aborted by the daemon meanwhile
            }
            c = self.conns.remove(&id).unwrap_or(c);
        }
        if cut {
            self.count("connection cuts");
            return self.daemon_input(|d, now| d.handle_transfer_failed(now, id, Failure::Lost("the connection was cut".into())));
        }
        if ended {
            return self.daemon_input(|d, now| d.handle_body_end(now, id));
        }
        let at = self.now + next_chunk_ms(&c);
        self.conns.insert(id, c);
        self.push(at, Due::Chunk(id));
    }

    // ----- the replayers -----

    /// Runs each open session's replayer one action; false if none had one.
    fn pump_replayers(&mut self) -> bool {
        let sessions: Vec<String> = self.replayers.keys().cloned().collect();
        let mut any = false;
        for s in sessions {
            let Some(action) = self.replayers.get_mut(&s).and_then(|r| r.poll()) else { continue };
            any = true;
            self.replay(&s, action);
        }
        any
    }

    fn replay(&mut self, session: &str, action: ReplayAction) {
        match action {
            ReplayAction::Deliver { entry, call } => self.deliver(session, &entry, &call),
            ReplayAction::WriteAcks(acks) => self.write(session, PageWrite::Acks(acks)),
            ReplayAction::MarkDelivered(up_to) => self.write(session, PageWrite::Mark(up_to)),
            ReplayAction::ReadJournal => {
                let entries = self.store.pending(session);
                if let Some(r) = self.replayers.get_mut(session) {
                    r.handle_entries(entries);
                }
            }
            ReplayAction::FinishEvents => {
                self.note(Lane::App, "urlSessionDidFinishEvents", None, None);
                self.suspend_if_done();
            }
            ReplayAction::RemoveTempFiles(locations) => self.write(session, PageWrite::TempFiles(locations)),
            ReplayAction::BecomeInvalid => self.note(Lane::App, "didBecomeInvalidWithError", None, None),
        }
    }

    /// A delegate call from the journal: made and traced, then it returns
    /// (at once, or after [`Sim::with_page_ms`]) unless the user closes the
    /// app during it ([`Step::CloseAppWhileDelivering`]).
    fn deliver(&mut self, session: &str, entry: &JournalEntry, call: &DelegateCall) {
        let note = self.count_delivery(session, entry.seq.unwrap_or(0));
        let mut files = Files { store: &mut self.store, now: self.now };
        match &call.args {
            CallArgs::Location(l) => self.delegate.did_finish_downloading_to(&mut files, entry.task_id, l),
            CallArgs::Error(e) => self.delegate.did_complete_with_error(&mut files, entry.task_id, e.as_ref()),
            _ => {}
        }
        let detail = match &call.args {
            CallArgs::Numbers(n) => n.iter().map(|x| format!("{x}")).collect::<Vec<_>>().join(", "),
            CallArgs::Location(l) => l.clone(),
            CallArgs::Error(Some(e)) => format!("{} {}", e.code, e.localized_description),
            CallArgs::Error(None) => "nil".into(),
            _ => String::new(),
        };
        let alive = entry.at >= self.opened_at;
        self.trace.push(TraceEvent { at: self.now, lane: Lane::App, what: call.method.to_string(), task: Some(entry.task_id), detail, app_alive: alive, note });
        // The temporary file goes when the method returns (the acks remove it).
        if let CallArgs::Location(l) = &call.args {
            if (Files { store: &mut self.store, now: self.now }).file_exists(l) {
                let note = Some(self.profile.why_temp_deleted.to_string());
                self.note(Lane::System, "temporary file deleted", Some(entry.task_id), note);
            }
        }
        if let Some(n) = self.close_during {
            if n == 0 {
                // The method was running: it never returns.
                self.count("pages closed mid-replay");
                return self.close_app("closed while its events were delivered");
            }
            self.close_during = Some(n - 1);
        }
        if self.call_ms > 0.0 {
            let at = self.now + self.call_ms;
            self.push(at, Due::Returned(self.page, session.to_string()));
        } else if let Some(r) = self.replayers.get_mut(session) {
            r.handle_delivered();
        }
    }

    /// Counts a delivery of the entry. Another one is allowed only from a
    /// later page, with the entry's acknowledgement not on disk (the page
    /// that delivered it closed first): its trace note then, and the first
    /// call is left out of the per-task checks; otherwise a violation.
    fn count_delivery(&mut self, session: &str, seq: u64) -> Option<String> {
        let key = (session.to_string(), seq);
        let n = self.deliveries.entry(key.clone()).or_default();
        *n += 1;
        let n = *n;
        let (page, line) = self.delivered_by.insert(key.clone(), (self.page, self.trace.len()))?;
        if page == self.page || self.is_acked(&key) {
            let why = if page == self.page { "pending in the same page" } else { "on disk" };
            self.twice.push(format!("entry {seq} of \"{session}\" delivered {n} times (its acknowledgement {why})"));
            return None;
        }
        self.superseded.insert(line);
        self.count("entries delivered again after a close mid-replay");
        Some(AGAIN.to_string())
    }

    /// A page's write: lands at once, or after [`Sim::with_page_ms`].
    fn write(&mut self, session: &str, write: PageWrite) {
        if self.write_ms == 0.0 {
            return self.land(session, write, true);
        }
        self.next_write += 1;
        self.writes.push((self.next_write, session.to_string(), write));
        let at = self.now + self.write_ms;
        self.push(at, Due::PageWrite(self.next_write));
    }

    /// Is the entry's acknowledgement on disk (its own, or a mark's)?
    fn is_acked(&self, key: &(String, u64)) -> bool {
        self.acked.contains(key) || self.marked.get(&key.0).is_some_and(|m| key.1 <= *m)
    }

    /// A page's write is on disk; `report`: its page is still open to hear it.
    fn land(&mut self, session: &str, write: PageWrite, report: bool) {
        match write {
            PageWrite::Acks(acks) => {
                self.acked.extend(acks.iter().map(|a| (session.to_string(), a.seq)));
                self.store.apply_acks(session, &acks);
                if let Some(r) = self.replayers.get_mut(session).filter(|_| report) {
                    r.handle_acks_written();
                }
            }
            PageWrite::Mark(up_to) => {
                let m = self.marked.entry(session.to_string()).or_default();
                *m = (*m).max(up_to);
                self.store.set_mark(session, up_to);
                if let Some(r) = self.replayers.get_mut(session).filter(|_| report) {
                    r.handle_mark_written();
                }
            }
            PageWrite::TempFiles(locations) => {
                self.store.remove_temp_files(session, &locations);
                if let Some(r) = self.replayers.get_mut(session).filter(|_| report) {
                    r.handle_temp_files_removed();
                }
                if report {
                    self.suspend_if_done();
                }
            }
        }
    }

    /// iOS suspends a relaunched app once it called every completion
    /// handler (here: every session's replay is done, its temp files removed).
    fn suspend_if_done(&mut self) {
        if self.app_background && self.replayers.values().all(|r| r.is_drained()) {
            self.close_app("suspended again");
        }
    }

    fn note(&mut self, lane: Lane, what: &str, task: Option<u64>, note: Option<String>) {
        let alive = self.app_open;
        self.trace.push(TraceEvent { at: self.now, lane, what: what.to_string(), task, detail: String::new(), app_alive: alive, note });
    }

    fn count(&mut self, what: &'static str) {
        *self.counts.entry(what).or_default() += 1;
    }
}

fn offline_answer() -> server::Answer {
    server::Answer { head: crate::core::request::ResponseInfo { url: String::new(), status_code: 0, headers: Default::default() }, seed: 0, start: 0, len: 0, cut_after: None, rate: 1.0 }
}

/// Bytes of the next piece: up to the segment boundary (streamed), the cut,
/// or the end.
fn chunk_len(c: &Conn) -> u64 {
    let left = c.answer.len - c.sent;
    let to_cut = c.answer.cut_after.map_or(u64::MAX, |k| k.saturating_sub(c.sent));
    let per_segment = if c.bounded { u64::MAX } else { ((c.answer.rate * SEGMENT_MS / 1000.0) as u64).clamp(1, SEGMENT_BYTES) };
    left.min(to_cut).min(per_segment)
}

fn next_chunk_ms(c: &Conn) -> f64 {
    if c.upload {
        return c.answer.len as f64 / c.answer.rate * 1000.0;
    }
    (chunk_len(c) as f64 / c.answer.rate * 1000.0).max(0.001)
}
