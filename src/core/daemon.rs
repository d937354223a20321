//! The daemon as a deterministic machine (the twin of iOS's nsurlsessiond),
//! in quinn-proto's shape: inputs and `now` go in, actions are polled out.
//! No clock, no I/O, no randomness but a seeded generator.
//!
//! A host (the Service Worker, or the [simulator](crate::sim)) loops:
//! feed what happened (`handle_*`), perform what [`Daemon::poll_action`]
//! returns **in order** (a [`Action::Reply`] after an [`Action::Commit`] is
//! sent once that commit is written), and call [`Daemon::handle_timeout`] at
//! [`Daemon::poll_timeout`]. A worker that is stopped loses the machine; the
//! next one is built from the stored tasks with [`Daemon::handle_started`].
//!
//! Every lifecycle rule lives here or in the decision modules it calls:
//! scheduling under `httpMaximumConnectionsPerHost` ([`schedule`]), the
//! network's say ([`network`]), delayed requests ([`delayed`]), what a
//! response means for the stored bytes and how a body is fetched
//! ([`transfer`]), retries and backoff ([`RetryPolicy`]), uploads
//! ([`upload`]), resume data ([`ResumeData`]), progress coalescing
//! ([`plan_append`]), and when the app is launched.
//!
//! # Examples
//!
//! ```
//! use bgsession::core::daemon::{Action, Daemon};
//! use bgsession::core::protocol::Command;
//! use bgsession::core::request::Request;
//! use bgsession::core::task::TaskRecord;
//!
//! let mut daemon = Daemon::new(7);
//! daemon.handle_started(0.0, vec![], vec![]);
//! while daemon.poll_action().is_some() {} // "started", told to the pages
//! let task = TaskRecord::new_download("s", 1, Request::get("https://example.test/a").unwrap(), 0.0, "dl-1".into());
//! daemon.handle_command(0.0, 1, Command::Resume { task, fresh: true, id_floor: 1, config: None, session_description: None });
//! let actions: Vec<Action> = std::iter::from_fn(|| daemon.poll_action()).collect();
//! // The task is stored, the page is answered, and a request goes out for the 1 MiB probe.
//! assert!(matches!(&actions[0], Action::Commit(c) if c.task.as_ref().unwrap().task_id == 1));
//! assert!(actions.iter().any(|a| matches!(a, Action::Reply { to: 1, .. })));
//! assert!(actions.iter().any(|a| matches!(a, Action::Send(s) if s.request.headers["range"] == "bytes=0-1048575")));
//! ```

use crate::core::config::{ConfigData, Transport};
use crate::core::delayed;
use crate::core::error::NsError;
use crate::core::files::{download_temp_path, FileMeta};
use crate::core::journal::{plan_append, AppendPlan, Event, JournalEntry};
use crate::core::network::{self, NetworkInfo};
use crate::core::protocol::{Broadcast, Command, DaemonEvent, DelayedAnswer, Reply};
use crate::core::request::{host_key, ContentRange, Request, ResponseInfo};
use crate::core::resume::{keep_for_resume, ResumeData};
use crate::core::task::{TaskKind, TaskRecord, TaskState, Transition};
use crate::core::transfer::{self, Failure, FailureDecision, ResponseDecision, RetryPolicy, SegmentOutcome, SettledDecision};
use crate::core::upload;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// A task's key: its session identifier and task identifier.
pub type TaskKey = (String, u64);

pub use crate::core::resume::RESUME_DATA_KEY;
/// Default `httpMaximumConnectionsPerHost` (iOS's default on Wi-Fi is 6).
pub const DEFAULT_MAX_PER_HOST: usize = 6;
/// While tasks are held back by the network policy, look again this often.
pub const NETWORK_POLL_MS: f64 = 2000.0;
/// Default `timeoutIntervalForRequest` in ms.
pub const DEFAULT_REQUEST_TIMEOUT_MS: f64 = 60_000.0;
/// The slowest upload rate (bytes/s) allowed for before an upload's
/// response head is overdue.
pub const UPLOAD_SEND_RATE: f64 = 256.0 * 1024.0;
/// Default `timeoutIntervalForResource` in ms (7 days, as on iOS).
pub const DEFAULT_RESOURCE_TIMEOUT_MS: f64 = 7.0 * 86_400_000.0;

/// One request in flight, named by the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransferId(pub u64);

/// "Send this request": the host fetches it and reports its head
/// ([`Daemon::handle_response`]), each segment it stores
/// ([`Daemon::handle_segment_stored`]), its end ([`Daemon::handle_body_end`],
/// or for an upload [`Daemon::handle_upload_body`]) or its failure
/// ([`Daemon::handle_transfer_failed`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Send {
    /// Names this request in the inputs about it.
    pub transfer: TransferId,
    /// The task it is for.
    pub task: TaskKey,
    /// The request, with `Range`/`If-Range` as planned.
    pub request: Request,
    /// Stored bytes before this body (the body's first byte lands here).
    pub offset: u64,
    /// The last byte asked for (inclusive): the probe, or a fast segment.
    pub end: Option<u64>,
    /// Fast mode: read the bounded answer whole and store it as one
    /// segment. Otherwise stream the body into segments (a break keeps what
    /// arrived).
    pub whole: bool,
    /// An upload's body: the daemon's copy of the file (blob, segments).
    pub upload_body: Option<(String, Vec<u64>)>,
    /// No data for this long ends the attempt (`Failure::TimedOut`).
    pub request_timeout_ms: f64,
    /// No response head for this long ends the attempt: the request
    /// timeout, plus for an upload the time to send its body at
    /// [`UPLOAD_SEND_RATE`] (the server answers once it has read it).
    pub head_timeout_ms: f64,
    /// The browser's download service carries this task (Background Fetch,
    /// started by a page under this id): the host listens to it instead of
    /// fetching, reports its progress ([`Daemon::handle_background_fetch_progress`])
    /// and how it settled ([`Daemon::handle_background_fetch_settled`]).
    pub background_fetch: Option<String>,
}

/// One IndexedDB transaction: the task's new state, journal appends and a
/// sandbox file, all or nothing.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Commit {
    /// The task record to put (`None`: unchanged).
    pub task: Option<TaskRecord>,
    /// The session's configuration to put.
    pub config: Option<ConfigData>,
    /// A file to create (a finished download's temp file).
    pub file: Option<FileMeta>,
    /// Journal entries, each with how to append it (progress replaces the
    /// task's previous progress entry).
    pub appends: Vec<(JournalEntry, AppendPlan)>,
    /// The task (finished, its bytes taken over by a resumed task) is
    /// forgotten: delete its record in this transaction unless the journal
    /// still holds one of its entries (then the acknowledgement of its last
    /// entry deletes it, as for any finished task).
    pub forget_if_delivered: bool,
}

/// What the machine asks its host to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Start a request.
    Send(Send),
    /// The head was taken: read transfer `transfer`'s body into segments
    /// of `blob_id` from index `first_segment` (streamed, or one bounded
    /// segment read whole).
    ReadBody {
        /// The request.
        transfer: TransferId,
        /// Where the bytes go.
        blob_id: String,
        /// The index of the body's first segment.
        first_segment: usize,
    },
    /// Drop a request in flight; nothing more of it is reported (whatever
    /// is reported anyway is ignored, or counted if it was stored).
    Abort(TransferId),
    /// Write atomically (boxed: a commit carries a whole task record, and
    /// every other action is small).
    Commit(Box<Commit>),
    /// Delete stored bytes: segments `from..from + count` of `blob_id`,
    /// once the writes of the blob's transfers in flight have settled
    /// (an aborted body may still store what had arrived: a discarded
    /// blob's range covers [`UNRECORDED_SEGMENTS`] past the recorded ones).
    DeleteBytes {
        /// The blob.
        blob_id: String,
        /// First segment index to delete.
        from: usize,
        /// How many.
        count: usize,
    },
    /// Copy an upload's file into the daemon's own blob; answer with
    /// [`Daemon::handle_file_copied`].
    CopyFile {
        /// The upload task.
        task: TaskKey,
        /// The sandbox location (`file:///…`).
        from: String,
        /// The blob to copy into.
        blob_id: String,
    },
    /// Check that these segments are really stored at these lengths (an
    /// engine may have dropped or truncated them); answer with
    /// [`Daemon::handle_bytes_verified`].
    VerifyBytes {
        /// The task.
        task: TaskKey,
        /// Its blob.
        blob_id: String,
        /// The lengths the journal recorded.
        segments: Vec<u64>,
    },
    /// Read this task's stored record again: another worker ran the task
    /// ([`Failure::Busy`](crate::core::transfer::Failure::Busy)), so this
    /// daemon's view of it may be behind (bytes stored since, or the task
    /// ended). Answer with [`Daemon::handle_task_read`].
    ReadTask {
        /// The task.
        task: TaskKey,
    },
    /// Answer command `to`.
    Reply {
        /// The id the command came with.
        to: u64,
        /// The answer.
        reply: Reply,
    },
    /// Tell every page.
    Broadcast(Broadcast),
    /// Is a page holding `session`'s events open now? The machine wants to
    /// launch the app for them (iOS relaunches an app only when it is not
    /// running); answer with [`Daemon::handle_page`]. The answer decides:
    /// [`Action::LaunchApp`] follows only if no page is there.
    FindPage {
        /// The session whose events wait.
        session: String,
    },
    /// Launch the app (a notification whose click opens it): iOS's
    /// background relaunch. The host shows it only if allowed.
    LaunchApp {
        /// The session whose events wait.
        session: String,
        /// Why, in words.
        why: String,
    },
}

#[derive(Clone, Debug)]
struct Transfer {
    key: TaskKey,
    plan: transfer::FetchPlan,
    /// Bytes of this body stored so far.
    stored: u64,
    /// Segments of the task when the body started (where its segments go).
    first_segment: usize,
    /// Segments of this body stored so far.
    segments_stored: usize,
    /// A bounded request was answered 206: the body is this many bytes (the
    /// server's `Content-Range`).
    bounded: Option<u64>,
    upload: bool,
    /// When the head arrived (a streamed probe's rate is measured from here).
    head_at: f64,
    /// A Background Fetch (the browser downloads; no worker needed).
    background: bool,
    /// A settled Background Fetch's body, read into segments (its rate
    /// says nothing about the link).
    ingest: bool,
}

/// Per-attempt memory of a task (lost with the worker, as in the browser).
#[derive(Clone, Debug, Default)]
struct Attempt {
    first_response: bool,
    restarted: bool,
    /// Another worker ran the task (its lock was held): its record is read
    /// again before the next request ([`Action::ReadTask`]).
    reread: bool,
}

/// What a task waits for before it may start.
#[derive(Clone, Debug, PartialEq)]
enum Hold {
    /// Its stored bytes are being checked ([`Action::VerifyBytes`]).
    Verifying { finishing: bool },
    /// An upload's file is being copied.
    Copying,
    /// Its record is being read again ([`Action::ReadTask`]): another
    /// worker ran the task meanwhile.
    Rereading,
}

/// Orders running tasks as the scheduler picks them: higher priority
/// first, then older, then the smaller identifier.
type OrderKey = (u64, u64, u64);

fn order_key(t: &TaskRecord) -> OrderKey {
    (u64::MAX - t.priority.max(0.0).to_bits(), t.created_at.max(0.0).to_bits(), t.task_id)
}

/// When a running task needs the scheduler's attention by time: its
/// resource deadline, or the moment its begin date or retry comes.
fn attention(t: &TaskRecord, now: f64) -> Option<u64> {
    let start = match (t.earliest_begin_date, t.retry_at) {
        _ if t.asks_before_delayed_start && !t.awaiting_delayed_decision => Some(t.earliest_begin_date.unwrap_or(0.0)),
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0.0).max(b.unwrap_or(0.0))).filter(|at| *at > now),
    };
    let at = match (start, t.resource_deadline) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    at.map(|a| a.max(0.0).to_bits())
}

/// The scheduler's indexes over running tasks, so a decision costs what
/// it starts, not what is queued: per session the tasks in pick order and
/// how many run per host, and the tasks due at a time.
#[derive(Debug, Default)]
struct Index {
    /// Per session (looked up; walked in session order by `schedule`).
    order: HashMap<String, BTreeSet<OrderKey>>,
    /// Running tasks per host per session (only counted, never walked:
    /// hash maps, whose code in the wasm is smaller than a B-tree's).
    hosts: HashMap<String, HashMap<String, usize>>,
    /// (when, session number, task): the same key type as `order`'s sets
    /// (one B-tree instance in the wasm, not two; issue 11).
    due: BTreeSet<OrderKey>,
    /// Session numbers for `due` (never reused: a session's number stays).
    session_nos: HashMap<String, u64>,
    session_names: Vec<String>,
    entries: HashMap<TaskKey, (OrderKey, Option<u64>, String)>,
    non_discretionary: usize,
    policy_limited: usize,
}

impl Index {
    fn remove(&mut self, key: &TaskKey, was_discretionary: bool, was_limited: bool) {
        let Some((ok, at, host)) = self.entries.remove(key) else { return };
        if let Some(set) = self.order.get_mut(&key.0) {
            set.remove(&ok);
        }
        if let Some(h) = self.hosts.get_mut(&key.0) {
            if let Some(n) = h.get_mut(&host) {
                *n -= 1;
                if *n == 0 {
                    h.remove(&host);
                }
            }
        }
        if let Some(at) = at {
            let no = self.session_nos.get(&key.0).copied().unwrap_or(u64::MAX);
            self.due.remove(&(at, no, key.1));
        }
        self.non_discretionary -= usize::from(!was_discretionary);
        self.policy_limited -= usize::from(was_limited);
    }

    fn insert(&mut self, t: &TaskRecord, now: f64) {
        let key = key_of(t);
        let (ok, at, host) = (order_key(t), attention(t, now), host_key(&t.current_request.url));
        self.order.entry(t.session.clone()).or_default().insert(ok);
        *self.hosts.entry(t.session.clone()).or_default().entry(host.clone()).or_default() += 1;
        if let Some(at) = at {
            let no = self.session_no(&t.session);
            self.due.insert((at, no, t.task_id));
        }
        self.non_discretionary += usize::from(!t.policy.is_discretionary);
        self.policy_limited += usize::from(is_limited(t));
        self.entries.insert(key, (ok, at, host));
    }

    fn session_no(&mut self, session: &str) -> u64 {
        if let Some(no) = self.session_nos.get(session) {
            return *no;
        }
        let no = self.session_names.len() as u64;
        self.session_names.push(session.to_string());
        self.session_nos.insert(session.to_string(), no);
        no
    }

    fn running(&self, session: &str) -> usize {
        self.order.get(session).map_or(0, |s| s.len())
    }
}

/// Does the task's policy hold it back on some links?
fn is_limited(t: &TaskRecord) -> bool {
    let p = &t.policy;
    p.is_discretionary || !p.allows_cellular_access || !p.allows_expensive_network_access || !p.allows_constrained_network_access
}

/// Segments an aborted body may have stored past those the task records:
/// the one being persisted and the next, already streaming (segments are
/// pipelined). Freeing a task's bytes frees these too, or they would be
/// left with no owner (the soak found them).
pub const UNRECORDED_SEGMENTS: usize = 2;

/// The daemon. See the module documentation.
#[derive(Debug)]
pub struct Daemon {
    tasks: BTreeMap<TaskKey, TaskRecord>,
    sessions: HashMap<String, ConfigData>,
    transfers: HashMap<TransferId, Transfer>,
    active: HashMap<TaskKey, TransferId>,
    attempts: HashMap<TaskKey, Attempt>,
    holds: HashMap<TaskKey, Hold>,
    /// An upload's `resume()` is answered once the daemon has its own copy
    /// of the file (so the app may move or delete it as soon as the call
    /// resolves): the reply waits here until [`Daemon::handle_file_copied`].
    copy_replies: HashMap<TaskKey, (u64, Reply)>,
    last_progress: HashMap<TaskKey, JournalEntry>,
    /// The scheduler's indexes over running tasks.
    index: Index,
    /// Sessions the app is to be launched for once the host says no page
    /// holds their events ([`Action::FindPage`]), with why.
    launches: HashMap<String, String>,
    network: NetworkInfo,
    network_override: Option<NetworkInfo>,
    actions: VecDeque<Action>,
    next_transfer: u64,
    rng: u64,
    policy: RetryPolicy,
    started: bool,
    /// The latest `now` given (for the time index).
    now: f64,
    timer: Option<f64>,
    was_busy: bool,
    /// "idle" was broadcast and nothing started since.
    announced_idle: bool,
    decisions: u64,
}

impl Daemon {
    /// A machine whose jitter and names come from `seed` (the host passes a
    /// random one; tests a fixed one).
    pub fn new(seed: u64) -> Self {
        Daemon {
            tasks: BTreeMap::new(),
            sessions: HashMap::new(),
            transfers: HashMap::new(),
            active: HashMap::new(),
            attempts: HashMap::new(),
            holds: HashMap::new(),
            copy_replies: HashMap::new(),
            last_progress: HashMap::new(),
            index: Index::default(),
            launches: HashMap::new(),
            network: NetworkInfo::default(),
            network_override: None,
            actions: VecDeque::new(),
            next_transfer: 1,
            rng: seed.max(1),
            policy: RetryPolicy::default(),
            started: false,
            now: 0.0,
            timer: None,
            was_busy: false,
            announced_idle: false,
            decisions: 0,
        }
    }

    // ----- reading -----

    /// The next action to perform, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When to call [`Daemon::handle_timeout`] next (`None`: nothing waits).
    pub fn poll_timeout(&self) -> Option<f64> {
        self.timer
    }

    /// The task as the daemon knows it.
    pub fn task(&self, session: &str, task_id: u64) -> Option<&TaskRecord> {
        self.tasks.get(&(session.to_string(), task_id))
    }

    /// Every task.
    pub fn tasks(&self) -> impl Iterator<Item = &TaskRecord> {
        self.tasks.values()
    }

    /// Nothing runs, nothing is checked, no timer waits: a host may let the
    /// worker go.
    pub fn is_idle(&self) -> bool {
        self.background_transfers() == self.active.len() && self.holds.is_empty() && self.timer.is_none()
    }

    /// Running tasks this daemon has to carry out (transferring, or waiting
    /// for their turn, a retry or the network): what `Reply::Status` calls
    /// `pending`, and why a host keeps the worker or asks to be woken.
    pub fn pending(&self) -> usize {
        self.index.entries.len()
    }

    /// Requests in flight (Background Fetches included).
    pub fn transfers(&self) -> usize {
        self.transfers.len()
    }

    /// Is a request of this task in flight (a host holds the task's lock meanwhile)?
    pub fn is_transferring(&self, session: &str, task_id: u64) -> bool {
        self.active.contains_key(&(session.to_string(), task_id))
    }

    /// Background Fetches this machine listens to.
    pub fn background_transfers(&self) -> usize {
        self.transfers.values().filter(|t| t.background).count()
    }

    /// Scheduling decisions taken so far (for the benchmark).
    pub fn decisions(&self) -> u64 {
        self.decisions
    }

    // ----- inputs -----

    /// The worker starts (first time, or after it was stopped): the stored
    /// tasks and configurations. Tasks with stored bytes have them checked
    /// before they resume.
    pub fn handle_started(&mut self, now: f64, tasks: Vec<TaskRecord>, sessions: Vec<ConfigData>) {
        self.now = self.now.max(now);
        self.started = true;
        for c in sessions {
            self.sessions.insert(c.identifier.clone(), c);
        }
        for t in &tasks {
            // A store written before identifiers were kept with the session.
            if let Some(c) = self.sessions.get_mut(&t.session) {
                if t.task_id > c.last_task_id {
                    (c.last_task_id, c.last_task_created_at) = (t.task_id, t.created_at);
                }
            }
        }
        for t in tasks {
            if t.state == TaskState::Running && !t.segments.is_empty() && t.kind == TaskKind::Download {
                self.verify(&t, false);
            }
            self.set_task(t);
        }
        self.broadcast_daemon(DaemonEvent::Started, now);
        self.schedule(now);
    }

    /// A command from a page; its reply is an [`Action::Reply`] to `to`.
    pub fn handle_command(&mut self, now: f64, to: u64, command: Command) {
        self.now = self.now.max(now);
        let resuming = matches!(command, Command::Resume { .. });
        let reply = match command {
            Command::Resume { task, fresh, id_floor, config, .. } => self.resume(now, task, fresh, id_floor, config),
            Command::Suspend { session, task_id } => self.suspend(now, (session, task_id)),
            Command::Cancel { session, task_id, task } => self.cancel(now, (session, task_id), task, false),
            Command::CancelByProducingResumeData { session, task_id } => self.cancel(now, (session, task_id), None, true),
            Command::DelayedRequest { session, task_id, answer } => self.answer_delayed(now, (session, task_id), answer),
            Command::SimulateNetwork { conditions } => {
                self.network_override = conditions;
                Reply::Network { network: self.network_now() }
            }
            Command::BackgroundFetchUnavailable { session, task_id } => self.background_fetch_unavailable(now, (session, task_id)),
            Command::Wake | Command::Ping => Reply::Done { changed: false },
            Command::Status => {
                let background = self.transfers.values().filter(|t| t.background).count();
                Reply::Status { transfers: self.transfers.len() - background, background_fetches: background, pending: self.pending() }
            }
        };
        match &reply {
            Reply::Task { task } if resuming && self.holds.get(&key_of(task)) == Some(&Hold::Copying) => {
                self.copy_replies.insert(key_of(task), (to, reply));
            }
            _ => self.actions.push_back(Action::Reply { to, reply }),
        }
        self.schedule(now);
    }

    /// The browser's view of the link changed.
    pub fn handle_network(&mut self, now: f64, network: NetworkInfo) {
        self.now = self.now.max(now);
        self.network = network;
        self.schedule(now);
    }

    /// Whether a page holding `session`'s events is open now: the host's
    /// answer to [`Action::FindPage`]. With none, the app is launched
    /// ([`Action::LaunchApp`]); with one, that page receives the events.
    /// An answer nothing asked for changes nothing.
    pub fn handle_page(&mut self, now: f64, session: &str, present: bool) {
        self.now = self.now.max(now);
        if let Some(why) = self.launches.remove(session) {
            if !present {
                self.actions.push_back(Action::LaunchApp { session: session.to_string(), why });
            }
        }
        self.schedule(now);
    }

    /// A timer armed by [`Daemon::poll_timeout`] fired.
    pub fn handle_timeout(&mut self, now: f64) {
        self.now = self.now.max(now);
        self.timer = None;
        self.schedule(now);
    }

    /// The head of a response arrived.
    pub fn handle_response(&mut self, now: f64, id: TransferId, head: ResponseInfo) {
        self.now = self.now.max(now);
        let Some(mut tr) = self.transfers.get(&id).cloned() else { return };
        let Some(mut task) = self.running_task(&tr.key) else { return self.drop_transfer(id, now) };
        if tr.upload {
            let events = upload::on_response(&mut task, head);
            let read = Action::ReadBody { transfer: id, blob_id: String::new(), first_segment: 0 };
            self.transfers.insert(id, tr);
            self.commit(now, task, None, events);
            return self.actions.push_back(read);
        }
        if transfer::is_transient_status(head.status_code) {
            let jitter = self.random();
            if self.policy.on_server_error(&mut task, &head, now, jitter).is_some() {
                self.new_attempt(&tr.key);
                self.actions.push_back(Action::Abort(id));
                self.end_transfer(id);
                self.commit(now, task, None, vec![]);
                return self.schedule(now);
            }
        }
        let (old_blob, old_segments, had_bytes) = (task.blob_id.clone(), task.segments.len(), tr.plan.offset > 0);
        let was_206 = head.status_code == 206;
        let range_len = head.header("content-range").and_then(ContentRange::parse).map_or(0, |r| r.len());
        let decision = transfer::on_response(&mut task, &tr.plan, head);
        if task.segments.is_empty() && old_segments > 0 {
            self.free_bytes(old_blob, 0, old_segments);
        }
        let attempt = self.attempts.entry(tr.key.clone()).or_default();
        let first = std::mem::replace(&mut attempt.first_response, false);
        let mut events = Vec::new();
        match decision {
            ResponseDecision::Refetch { .. } => {
                attempt.restarted |= had_bytes;
                attempt.first_response = first;
                self.actions.push_back(Action::Abort(id));
                self.end_transfer(id);
                self.commit(now, task.clone(), None, vec![]);
                return self.send(now, task);
            }
            ResponseDecision::Restart if first && had_bytes => events.push(resumed_at(&task, 0)),
            ResponseDecision::Restart => {}
            ResponseDecision::Write { offset: 0, .. } if first && attempt.restarted => events.push(resumed_at(&task, 0)),
            ResponseDecision::Write { offset, resumed } => {
                if resumed && first {
                    events.push(resumed_at(&task, offset));
                }
            }
        }
        tr.first_segment = task.segments.len();
        tr.head_at = now;
        if tr.plan.end.is_some() && task.response.is_some() && was_206 {
            tr.bounded = Some(range_len);
        }
        let read = Action::ReadBody { transfer: id, blob_id: task.blob_id.clone(), first_segment: tr.first_segment };
        self.transfers.insert(id, tr);
        self.commit(now, task, None, events);
        self.actions.push_back(read);
    }

    /// The host stored `len` bytes of transfer `id`'s body as the next
    /// segment, which took `elapsed_ms` to arrive.
    pub fn handle_segment_stored(&mut self, now: f64, id: TransferId, len: u64, elapsed_ms: f64) {
        self.now = self.now.max(now);
        let Some(mut tr) = self.transfers.get(&id).cloned() else { return };
        let Some(mut task) = self.running_task(&tr.key) else { return self.drop_transfer(id, now) };
        if len == 0 {
            return;
        }
        if task.segments.len() != tr.first_segment + tr.segments_stored {
            return; // not the segment this transfer was writing (stale)
        }
        transfer::on_segment_stored(&mut task, len);
        tr.stored += len;
        tr.segments_stored += 1;
        // A streamed probe's rate is judged on its whole body (body end).
        let streamed = tr.plan.end.is_none();
        let judged = !tr.background && !tr.ingest && (streamed || tr.plan.whole);
        let switch = judged && transfer::after_segment(&mut task, len, elapsed_ms, streamed) == SegmentOutcome::SwitchToFast;
        let ev = Event::DidWriteData { total_bytes_written: task.bytes_received, total_bytes_expected_to_write: task.expected_or_unknown() };
        self.transfers.insert(id, tr);
        self.commit(now, task.clone(), None, vec![ev]);
        if switch && streamed && !task.bytes_expected.is_some_and(|t| task.bytes_received >= t) {
            // The link is fast: the rest comes as bounded segments.
            self.actions.push_back(Action::Abort(id));
            self.end_transfer(id);
            self.send(now, task);
        }
    }

    /// Transfer `id`'s body ended (every byte of it is stored).
    pub fn handle_body_end(&mut self, now: f64, id: TransferId) {
        self.now = self.now.max(now);
        let Some(tr) = self.transfers.get(&id).cloned() else { return };
        self.end_transfer(id);
        let Some(mut task) = self.running_task(&tr.key) else { return self.schedule(now) };
        if let Some(asked) = tr.bounded {
            if tr.stored != asked {
                self.failed(now, task, Failure::Lost(format!("a segment ended after {} of {asked} bytes", tr.stored)));
                return self.schedule(now);
            }
            if !tr.plan.whole {
                transfer::after_segment(&mut task, tr.stored, now - tr.head_at, false);
                self.commit(now, task.clone(), None, vec![]);
            }
            if !transfer::bounded_body_complete(&task, &tr.plan, tr.stored) {
                self.send(now, task);
                return self.schedule(now);
            }
        }
        match transfer::on_body_end(&task) {
            Ok(()) => self.verify(&task, true),
            Err(f) => self.failed(now, task, f),
        }
        self.schedule(now);
    }

    /// An upload's response body, read whole.
    pub fn handle_upload_body(&mut self, now: f64, id: TransferId, body: &[u8]) {
        self.now = self.now.max(now);
        let Some(tr) = self.transfers.get(&id).cloned() else { return };
        self.end_transfer(id);
        let Some(mut task) = self.running_task(&tr.key) else { return self.schedule(now) };
        let events = upload::on_body(&mut task, body);
        let (blob_id, count) = (task.blob_id.clone(), task.segments.len());
        task.segments.clear();
        let _ = task.complete(None);
        self.commit(now, task, None, events);
        self.actions.push_back(Action::DeleteBytes { blob_id, from: 0, count });
        self.schedule(now);
    }

    /// Transfer `id` failed (before or after its head).
    pub fn handle_transfer_failed(&mut self, now: f64, id: TransferId, failure: Failure) {
        self.now = self.now.max(now);
        let Some(tr) = self.transfers.get(&id).cloned() else { return };
        self.end_transfer(id);
        if let Some(task) = self.running_task(&tr.key) {
            self.failed(now, task, failure);
        }
        self.schedule(now);
    }

    /// The answer to [`Action::VerifyBytes`]: how many of the segments are
    /// stored whole (a prefix).
    pub fn handle_bytes_verified(&mut self, now: f64, key: TaskKey, intact: usize) {
        self.now = self.now.max(now);
        let Some(Hold::Verifying { finishing }) = self.holds.remove(&key) else { return };
        let Some(mut task) = self.running_task(&key) else { return self.schedule(now) };
        if intact < task.segments.len() {
            let lost = task.segments.len() - intact;
            self.free_bytes(task.blob_id.clone(), intact, lost);
            task.segments.truncate(intact);
            task.bytes_received = task.segments.iter().sum();
            if task.bytes_received == 0 {
                task.discard_bytes();
            }
            // The next request is a new attempt: its first response tells
            // the app where the download goes on (`didResumeAtOffset`).
            let attempt = self.attempts.entry(key.clone()).or_default();
            attempt.restarted = true;
            attempt.first_response = true;
            self.commit(now, task, None, vec![]);
        } else if finishing {
            self.finish(now, task);
        }
        self.schedule(now);
    }

    /// The answer to [`Action::ReadTask`]: the task's stored record
    /// (`Ok(None)`: there is none), or why it could not be read. The record
    /// is taken as it is stored, unless this daemon changed the task
    /// meanwhile (a page's command): then its own view is the newer one.
    /// A read that failed leaves the daemon's view as it was.
    pub fn handle_task_read(&mut self, now: f64, key: TaskKey, read: Result<Option<TaskRecord>, String>) {
        self.now = self.now.max(now);
        if self.holds.get(&key) != Some(&Hold::Rereading) {
            return;
        }
        self.holds.remove(&key);
        match read {
            Ok(Some(task)) => {
                self.attempts.remove(&key);
                self.last_progress.remove(&key);
                self.set_task(task);
            }
            Ok(None) => {
                if let Some(old) = self.tasks.remove(&key) {
                    self.index.remove(&key, old.policy.is_discretionary, is_limited(&old));
                }
                self.attempts.remove(&key);
                self.last_progress.remove(&key);
            }
            Err(_) => {}
        }
        self.schedule(now);
    }

    /// The answer to [`Action::CopyFile`]: the copy's segments, or the
    /// task's error (no such file, no space).
    pub fn handle_file_copied(&mut self, now: f64, key: TaskKey, copied: Result<Vec<u64>, upload::CopyFailure>) {
        self.now = self.now.max(now);
        let reply = self.copy_replies.remove(&key);
        self.file_copied(now, key, copied);
        // After the copy's commit: the page hears of it once it is written.
        if let Some((to, reply)) = reply {
            self.actions.push_back(Action::Reply { to, reply });
        }
    }

    fn file_copied(&mut self, now: f64, key: TaskKey, copied: Result<Vec<u64>, upload::CopyFailure>) {
        if self.holds.remove(&key) != Some(Hold::Copying) {
            return;
        }
        let Some(mut task) = self.running_task(&key) else { return self.schedule(now) };
        match copied {
            Ok(segments) => {
                task.bytes_expected_to_send = segments.iter().sum();
                task.segments = segments;
                self.commit(now, task, None, vec![]);
            }
            Err(failure) => {
                let error = upload::copy_error(task.upload_from.as_deref().unwrap_or_default(), failure);
                self.fail(now, task, error);
            }
        }
        self.schedule(now);
    }

    /// A Background Fetch's progress, as the browser reports it (`downloaded`
    /// of `total` bytes, 0: unknown): the counters show its figures until the
    /// body is handed over.
    pub fn handle_background_fetch_progress(&mut self, now: f64, key: TaskKey, downloaded: u64, total: u64) {
        self.now = self.now.max(now);
        let Some(mut task) = self.running_task(&key) else { return };
        if task.bg_fetch_id.is_none() || !task.segments.is_empty() || (task.bytes_received == downloaded && task.bytes_expected == (total > 0).then_some(total)) {
            return;
        }
        task.bytes_received = downloaded;
        task.bytes_expected = (total > 0).then_some(total);
        let ev = Event::DidWriteData { total_bytes_written: task.bytes_received, total_bytes_expected_to_write: task.expected_or_unknown() };
        self.commit(now, task, None, vec![ev]);
    }

    /// The Background Fetch `id` settled (`kind`: "success", "fail" or
    /// "abort"; `reason`: its `failureReason`; `head`: its response's head,
    /// if it has one). The body is then read into segments under the
    /// returned transfer (an [`Action::ReadBody`] follows); a failure is
    /// retried with `fetch` (a worker cannot start a Background Fetch).
    pub fn handle_background_fetch_settled(&mut self, now: f64, id: &str, kind: &str, reason: &str, head: Option<ResponseInfo>) -> Option<TransferId> {
        self.now = self.now.max(now);
        let key = self.tasks.values().find(|t| t.state == TaskState::Running && t.bg_fetch_id.as_deref() == Some(id)).map(key_of)?;
        let mut task = self.running_task(&key)?;
        task.bg_fetch_id = None;
        task.transport = Transport::Fetch;
        if let Some(old) = self.active.get(&key).copied() {
            self.end_transfer(old);
        }
        let result = match (transfer::on_background_fetch_settled(kind, reason, head.is_some()), head) {
            (SettledDecision::Fail(err), _) => {
                self.fail(now, task, err);
                None
            }
            (SettledDecision::Ingest, Some(head)) => Some(self.ingest(now, task, head)),
            (SettledDecision::Retry(f), _) => {
                self.failed(now, task, f);
                None
            }
            (SettledDecision::Ingest, None) => {
                self.failed(now, task, Failure::Lost("the Background Fetch has no response".into()));
                None
            }
        };
        self.schedule(now);
        result
    }

    /// A settled Background Fetch's body becomes the task's bytes, read as
    /// one streamed body.
    fn ingest(&mut self, now: f64, mut task: TaskRecord, head: ResponseInfo) -> TransferId {
        let key = key_of(&task);
        let (old_blob, old_count) = (task.blob_id.clone(), task.segments.len());
        task.discard_bytes();
        self.free_bytes(old_blob, 0, old_count);
        task.bytes_expected = head.content_length();
        task.current_request.url = head.url.clone();
        task.response = Some(head);
        let id = TransferId(self.next_transfer);
        self.next_transfer += 1;
        let plan = transfer::FetchPlan { request: task.current_request.clone(), offset: 0, end: None, whole: false };
        self.transfers.insert(id, Transfer { key: key.clone(), plan, stored: 0, first_segment: 0, segments_stored: 0, bounded: None, upload: false, head_at: now, background: false, ingest: true });
        self.active.insert(key, id);
        let read = Action::ReadBody { transfer: id, blob_id: task.blob_id.clone(), first_segment: 0 };
        self.commit(now, task, None, vec![]);
        self.actions.push_back(read);
        id
    }

    // ----- commands -----

    /// The page could not start the task's Background Fetch: it runs with `fetch`.
    fn background_fetch_unavailable(&mut self, now: f64, key: TaskKey) -> Reply {
        let Some(mut task) = self.running_task(&key).filter(|t| t.transport == Transport::BackgroundFetch) else { return Reply::Done { changed: false } };
        self.stop(&key);
        task.transport = Transport::Fetch;
        task.bg_fetch_id = None;
        self.put(now, task);
        Reply::Done { changed: true }
    }

    fn resume(&mut self, now: f64, mut rec: TaskRecord, fresh: bool, id_floor: u64, config: Option<ConfigData>) -> Reply {
        let (last, last_at) = self.sessions.get(&rec.session).map_or((0, 0.0), |c| (c.last_task_id, c.last_task_created_at));
        let mut key = key_of(&rec);
        let existing = self.tasks.get(&key).filter(|e| !fresh || e.nonce == rec.nonce).cloned();
        let is_new = existing.is_none();
        // A number below the highest used is stale only if its task was made
        // after that one (or when is unknown): a task made before it drew
        // its number first, in another tab slower to resume, and keeps it.
        let stale = fresh && (rec.task_id == last || (rec.task_id < last && (last_at <= 0.0 || rec.created_at > last_at)));
        if is_new && (self.tasks.contains_key(&key) || stale) {
            // Two tabs numbered a task alike, or a page (whose counter a
            // browser restart lost) gave a number used before: the task gets
            // the next one never used.
            let stored = self.tasks.range((rec.session.clone(), 0)..=(rec.session.clone(), u64::MAX)).last().map_or(0, |(k, _)| k.1);
            rec.task_id = (stored.max(last) + 1).max(id_floor);
            key = key_of(&rec);
        }
        let config = self.session_after(&rec.session, config, rec.task_id, rec.created_at);
        let mut task = existing.unwrap_or(rec);
        if is_new && !task.segments.is_empty() {
            self.claim_bytes(&mut task);
        }
        if task.kind == TaskKind::Download && task.bytes_received == 0 && task.bg_fetch_id.is_none() {
            if let Some(t) = config.as_ref().map(|c| c.transport) {
                task.transport = t;
            }
            if task.transport == Transport::BackgroundFetch {
                // The page starts it under this id.
                task.bg_fetch_id = Some(format!("bgsession-{:016x}", self.random_u64()));
            }
        }
        let transition = match task.resume() {
            Ok(t) => t,
            Err(e) => return Reply::Error { name: "InvalidStateError".into(), message: e.to_string() },
        };
        if transition == Transition::Schedule && task.resource_deadline.is_none() {
            let ms = config.as_ref().or(self.sessions.get(&task.session)).map_or(DEFAULT_RESOURCE_TIMEOUT_MS, |c| c.timeout_interval_for_resource * 1000.0);
            task.resource_deadline = Some(now + ms);
        }
        if transition == Transition::Schedule {
            self.attempts.insert(key.clone(), Attempt { first_response: true, restarted: false, reread: false });
        }
        let mut commit = Commit { task: Some(task.clone()), config, ..Commit::default() };
        if is_new && task.kind == TaskKind::Upload {
            self.holds.insert(key.clone(), Hold::Copying);
            let from = task.upload_from.clone().unwrap_or_default();
            self.actions.push_back(Action::Commit(Box::new(std::mem::take(&mut commit))));
            self.actions.push_back(Action::CopyFile { task: key.clone(), from, blob_id: task.blob_id.clone() });
        } else {
            self.actions.push_back(Action::Commit(Box::new(commit)));
        }
        if is_new {
            // The other pages number above it now, not when the localStorage
            // counter reaches them (see `Broadcast::Numbered`).
            self.actions.push_back(Action::Broadcast(Broadcast::Numbered { session: task.session.clone(), task_id: task.task_id }));
        }
        self.set_task(task.clone());
        Reply::Task { task: Box::new(task) }
    }

    /// The session's record once task `task_id` is stored: the page's
    /// configuration (if it sent one) with the highest identifier used.
    /// `None` when it does not change.
    fn session_after(&mut self, session: &str, sent: Option<ConfigData>, task_id: u64, created_at: f64) -> Option<ConfigData> {
        let known = self.sessions.get(session);
        let (mut last, mut last_at) = known.map_or((0, 0.0), |c| (c.last_task_id, c.last_task_created_at));
        let changed = sent.is_some() || task_id > last;
        if task_id > last {
            (last, last_at) = (task_id, created_at);
        }
        let mut config = sent.or_else(|| known.cloned())?;
        config.last_task_id = last;
        config.last_task_created_at = last_at;
        self.sessions.insert(session.to_string(), config.clone());
        changed.then_some(config)
    }

    /// A task made from resume data takes over the stored bytes, once:
    /// resume data used twice starts the second from zero.
    fn claim_bytes(&mut self, task: &mut TaskRecord) {
        let owner = self.tasks.values().find(|t| t.blob_id == task.blob_id && !t.segments.is_empty() && t.state == TaskState::Completed).cloned();
        match owner {
            Some(mut source) => {
                source.segments.clear();
                source.bytes_received = 0;
                // A finished task is not in the scheduling index: forgetting
                // it is dropping it from the map.
                self.tasks.remove(&key_of(&source));
                self.actions.push_back(Action::Commit(Box::new(Commit { task: Some(source), forget_if_delivered: true, ..Commit::default() })));
            }
            None => {
                task.discard_bytes();
                task.blob_id = format!("dl-{:016x}", self.random_u64());
            }
        }
    }

    fn suspend(&mut self, now: f64, key: TaskKey) -> Reply {
        let Some(mut task) = self.tasks.get(&key).cloned() else { return not_found(&key) };
        forget_background_fetch(&mut task);
        match task.suspend() {
            Ok(Transition::StopTransfer) => {
                self.stop(&key);
                self.put(now, task.clone());
                Reply::Task { task: Box::new(task) }
            }
            _ => Reply::Task { task: Box::new(task) },
        }
    }

    fn cancel(&mut self, now: f64, key: TaskKey, given: Option<TaskRecord>, produce_resume_data: bool) -> Reply {
        let given = given.filter(|t| key_of(t) == key && t.state == TaskState::Suspended);
        let Some(mut task) = self.tasks.get(&key).cloned().or(given) else {
            return if produce_resume_data { Reply::ResumeData { data: None } } else { not_found(&key) };
        };
        forget_background_fetch(&mut task);
        match task.cancel() {
            Ok(Transition::Complete(err)) => {
                self.stop(&key);
                let data = ResumeData::from_task(&task).filter(|_| produce_resume_data).map(|d| d.to_bytes());
                if produce_resume_data {
                    self.fail(now, task.clone(), err);
                } else {
                    // A plain cancel() gives no resume data (Apple: only a
                    // transfer error or cancel(byProducingResumeData:) do):
                    // its bytes are freed.
                    self.end_discarding(now, task.clone(), err);
                }
                let task = self.tasks.get(&key).cloned().unwrap_or(task);
                if produce_resume_data {
                    Reply::ResumeData { data }
                } else {
                    Reply::Task { task: Box::new(task) }
                }
            }
            _ if produce_resume_data => Reply::ResumeData { data: None },
            _ => Reply::Task { task: Box::new(task) },
        }
    }

    fn answer_delayed(&mut self, now: f64, key: TaskKey, answer: DelayedAnswer) -> Reply {
        let Some(mut task) = self.tasks.get(&key).cloned() else { return Reply::Done { changed: false } };
        let decision = match answer {
            DelayedAnswer::Continue => delayed::Decision::Continue,
            DelayedAnswer::Cancel => delayed::Decision::Cancel,
            DelayedAnswer::Request { request } => match request.validated() {
                Ok(r) => delayed::Decision::UseNewRequest(r),
                Err(e) => return Reply::Error { name: e.rule().into(), message: e.to_string() },
            },
        };
        match delayed::decide(&mut task, decision) {
            None => Reply::Done { changed: false },
            Some(Transition::Complete(err)) => {
                self.fail(now, task, err);
                Reply::Done { changed: true }
            }
            Some(_) => {
                self.put(now, task);
                Reply::Done { changed: true }
            }
        }
    }

    // ----- the scheduler -----

    fn schedule(&mut self, now: f64) {
        if !self.started {
            return;
        }
        self.now = self.now.max(now);
        self.decisions += 1;
        self.attend(now);
        let net = self.network_now();
        // Sessions in name order, as a B-tree would walk them (a hash map's
        // code in the wasm is smaller; issue 11).
        let mut sessions: Vec<String> = self.index.order.keys().cloned().collect();
        crate::core::order::sort_by(&mut sessions, |a, b| a.cmp(b));
        let mut held = 0;
        let mut waiting = Vec::new();
        let mut picked = Vec::new();
        for session in sessions {
            let (p, w, h) = self.pick(&session, &net, now);
            picked.extend(p);
            waiting.extend(w);
            held += h;
        }
        for key in waiting {
            if let Some(mut t) = self.tasks.get(&key).cloned() {
                t.waiting_for_connectivity = true;
                self.commit(now, t, None, vec![Event::TaskIsWaitingForConnectivity]);
            }
        }
        for key in picked {
            if let Some(t) = self.tasks.get(&key).cloned() {
                self.send(now, t);
            }
        }
        let mut wake = self.index.due.iter().map(|(at, _, _)| f64::from_bits(*at)).find(|at| *at > now);
        if held > 0 {
            let poll = now + NETWORK_POLL_MS;
            wake = Some(wake.map_or(poll, |w| w.min(poll)));
        }
        self.timer = wake;
        self.announce_activity(now);
    }

    /// Tasks whose time has come: resource deadlines, delayed requests to ask about.
    fn attend(&mut self, now: f64) {
        let bound = (now.max(0.0).to_bits(), u64::MAX, u64::MAX);
        let mut due: Vec<(u64, TaskKey)> = self.index.due.range(..=bound).map(|(at, no, id)| (*at, (self.index.session_names[*no as usize].clone(), *id))).collect();
        // In time, then session name, then task order (sessions are numbered
        // as they come, not by name).
        crate::core::order::sort_by(&mut due, |a, b| a.cmp(b));
        let due = due.into_iter().map(|(_, key)| key);
        for key in due {
            let Some(task) = self.tasks.get(&key).cloned() else { continue };
            if let Some(err) = transfer::resource_timed_out(&task, now) {
                self.stop(&key);
                self.fail(now, task, err);
            } else if delayed::due(&task, now) {
                let mut task = task;
                let question = delayed::ask(&mut task);
                self.commit(now, task, None, vec![question]);
                self.launch_if_closed(key.0.clone(), "needs the app to answer willBeginDelayedRequest");
            } else {
                self.set_task(task); // its start time passed: indexed by its deadline now
            }
        }
    }

    /// One session's tasks to start now, in pick order, up to
    /// `httpMaximumConnectionsPerHost` per host counting the busy ones;
    /// the walk stops once every host of the session is full (unless the
    /// network holds some back). Also: tasks newly waiting for another
    /// link, and how many the network holds.
    fn pick(&self, session: &str, net: &NetworkInfo, now: f64) -> (Vec<TaskKey>, Vec<TaskKey>, usize) {
        let max = self.sessions.get(session).map_or(DEFAULT_MAX_PER_HOST, |c| c.http_maximum_connections_per_host as usize).max(1);
        let mut per_host: HashMap<String, usize> = HashMap::new();
        for key in self.active.keys().chain(self.holds.keys()).filter(|k| k.0 == session) {
            if let Some((_, _, host)) = self.index.entries.get(key) {
                *per_host.entry(host.clone()).or_default() += 1;
            }
        }
        let hosts = self.index.hosts.get(session).map_or(0, |h| h.len());
        let full = |per_host: &HashMap<String, usize>| per_host.values().filter(|n| **n >= max).count() >= hosts;
        let busy_origin = self.index.non_discretionary > 0;
        let (mut picked, mut waiting, mut held) = (Vec::new(), Vec::new(), 0);
        let Some(order) = self.index.order.get(session) else { return (picked, waiting, held) };
        for (_, _, task_id) in order {
            if full(&per_host) && self.index.policy_limited == 0 {
                break;
            }
            let key = (session.to_string(), *task_id);
            let Some(t) = self.tasks.get(&key) else { continue };
            if self.active.contains_key(&key) || self.holds.contains_key(&key) || !t.is_runnable(now) {
                continue;
            }
            match network::judge(&t.policy, net, busy_origin) {
                network::Verdict::Go => {}
                network::Verdict::WaitForNetwork(_) => {
                    held += 1;
                    if !t.waiting_for_connectivity {
                        waiting.push(key);
                    }
                    continue;
                }
                network::Verdict::Defer(_) => {
                    held += 1;
                    continue;
                }
            }
            let host = self.index.entries.get(&key).map_or(String::new(), |e| e.2.clone());
            let n = per_host.entry(host).or_default();
            if *n < max {
                *n += 1;
                picked.push(key);
            }
        }
        (picked, waiting, held)
    }

    fn send(&mut self, now: f64, mut task: TaskRecord) {
        let key = key_of(&task);
        if self.active.contains_key(&key) || self.holds.contains_key(&key) || task.state != TaskState::Running {
            return;
        }
        if self.attempts.get(&key).is_some_and(|a| a.reread) {
            self.attempts.remove(&key);
            self.holds.insert(key.clone(), Hold::Rereading);
            self.actions.push_back(Action::ReadTask { task: key });
            return;
        }
        let id = TransferId(self.next_transfer);
        self.next_transfer += 1;
        let upload = task.kind == TaskKind::Upload;
        let request_timeout_ms = self.sessions.get(&task.session).map_or(DEFAULT_REQUEST_TIMEOUT_MS, |c| c.timeout_interval_for_request * 1000.0);
        let plan = if upload {
            upload::restart(&mut task);
            transfer::FetchPlan { request: task.current_request.clone(), offset: 0, end: None, whole: false }
        } else {
            transfer::plan_fetch(&task)
        };
        self.attempts.entry(key.clone()).or_insert(Attempt { first_response: true, restarted: false, reread: false });
        let send = Send {
            transfer: id,
            task: key.clone(),
            request: plan.request.clone(),
            offset: plan.offset,
            end: plan.end,
            whole: plan.whole,
            upload_body: upload.then(|| (task.blob_id.clone(), task.segments.clone())),
            request_timeout_ms,
            head_timeout_ms: request_timeout_ms + if upload { task.segments.iter().sum::<u64>() as f64 / UPLOAD_SEND_RATE * 1000.0 } else { 0.0 },
            background_fetch: task.bg_fetch_id.clone().filter(|_| task.transport == Transport::BackgroundFetch && !upload),
        };
        let background = send.background_fetch.is_some();
        self.transfers.insert(id, Transfer { key: key.clone(), plan, stored: 0, first_segment: task.segments.len(), segments_stored: 0, bounded: None, upload, head_at: now, background, ingest: false });
        self.active.insert(key.clone(), id);
        self.set_task(task);
        self.actions.push_back(Action::Send(send));
        self.announce_activity(now);
    }

    // ----- outcomes -----

    fn failed(&mut self, now: f64, mut task: TaskRecord, failure: Failure) {
        self.new_attempt(&key_of(&task));
        let jitter = self.random();
        match self.policy.on_failure(&mut task, failure, now, jitter) {
            FailureDecision::RetryAt(_) => self.commit(now, task, None, vec![]),
            FailureDecision::WaitForConnectivity { notify: true } => self.commit(now, task, None, vec![Event::TaskIsWaitingForConnectivity]),
            FailureDecision::WaitForConnectivity { notify: false } => self.commit(now, task, None, vec![]),
            FailureDecision::Fail(err) => self.fail(now, task, err),
            FailureDecision::WaitForOtherWorker(_) => {
                if let Some(a) = self.attempts.get_mut(&key_of(&task)) {
                    a.reread = true;
                }
                self.set_task(task);
            }
        }
    }

    /// Completes `task` with `err`; the bytes are kept for resume data when
    /// they can be continued, else deleted.
    fn fail(&mut self, now: f64, mut task: TaskRecord, mut err: NsError) {
        let (blob_id, count, kind) = (task.blob_id.clone(), task.segments.len(), task.kind);
        let kept = keep_for_resume(&mut task, &mut err);
        if task.complete(Some(err.clone())).is_err() {
            return;
        }
        self.commit(now, task, None, vec![Event::DidCompleteWithError { error: Some(err) }]);
        if !kept && kind == TaskKind::Download {
            self.free_bytes(blob_id, 0, count);
        } else if !kept && count > 0 {
            self.actions.push_back(Action::DeleteBytes { blob_id, from: 0, count });
        }
    }

    /// Ends `task` with `err` and frees its stored bytes.
    fn end_discarding(&mut self, now: f64, mut task: TaskRecord, err: NsError) {
        let (blob_id, count, kind) = (task.blob_id.clone(), task.segments.len(), task.kind);
        task.discard_bytes();
        if task.complete(Some(err.clone())).is_err() {
            return;
        }
        self.commit(now, task, None, vec![Event::DidCompleteWithError { error: Some(err) }]);
        if kind == TaskKind::Download {
            self.free_bytes(blob_id, 0, count);
        } else if count > 0 {
            self.actions.push_back(Action::DeleteBytes { blob_id, from: 0, count });
        }
    }

    /// Frees a download's segments `from..from + count` and the
    /// [`UNRECORDED_SEGMENTS`] an aborted body may have stored after them.
    fn free_bytes(&mut self, blob_id: String, from: usize, count: usize) {
        self.actions.push_back(Action::DeleteBytes { blob_id, from, count: count + UNRECORDED_SEGMENTS });
    }

    /// The body is stored (and checked): it becomes a temp file, and the
    /// task completes (`didFinishDownloadingTo`, `didCompleteWithError(nil)`).
    fn finish(&mut self, now: f64, mut task: TaskRecord) {
        // Named in the order of completion (the time, then 48 random bits):
        // a page acknowledging consecutive journal entries then finds their
        // unmoved temp files side by side in the store, and removes them with
        // one range read and one range delete (glue.js `removeFiles`), not two
        // requests per file.
        let name: String = format!("{:012x}{:012x}", now.max(0.0) as u64 & 0xffff_ffff_ffff, self.random_u64() & 0xffff_ffff_ffff);
        let location = download_temp_path(&name);
        let content_type = task.response.as_ref().and_then(|r| r.header("content-type").map(str::to_string));
        if task.complete(None).is_err() {
            return;
        }
        // The bytes are the temp file's now: the record holds none (so it is
        // forgotten once its events are delivered).
        let file = FileMeta::new(&location, task.blob_id.clone(), std::mem::take(&mut task.segments), now, content_type);
        let events = vec![Event::DidFinishDownloadingTo { location: location.url() }, Event::DidCompleteWithError { error: None }];
        self.commit(now, task, Some(file), events);
    }

    /// After a failure the next request is a new attempt: its first
    /// response says where the download resumes (`didResumeAtOffset`).
    fn new_attempt(&mut self, key: &TaskKey) {
        if let Some(a) = self.attempts.get_mut(key) {
            *a = Attempt { first_response: true, restarted: false, reread: false };
        }
    }

    fn verify(&mut self, task: &TaskRecord, finishing: bool) {
        let key = key_of(task);
        self.holds.insert(key.clone(), Hold::Verifying { finishing });
        self.actions.push_back(Action::VerifyBytes { task: key, blob_id: task.blob_id.clone(), segments: task.segments.clone() });
    }

    // ----- bookkeeping -----

    /// Stores the task and appends its events (progress coalesced) in one commit.
    fn commit(&mut self, now: f64, task: TaskRecord, file: Option<FileMeta>, events: Vec<Event>) {
        let key = key_of(&task);
        let mut appends = Vec::with_capacity(events.len());
        let mut previous = if events.is_empty() { None } else { self.last_progress.remove(&key) };
        let mut seq_hint = None;
        for event in events {
            let plan = plan_append(previous.take().as_ref(), &event);
            let entry = JournalEntry { v: crate::core::stored::RECORD_VERSION, seq: None, session: task.session.clone(), task_id: task.task_id, event, response: task.response.clone(), at: now };
            seq_hint = Some(entry.clone());
            appends.push((entry, plan));
        }
        let journalled = !appends.is_empty();
        let completed = appends.iter().any(|(e, _)| matches!(e.event, Event::DidCompleteWithError { .. }));
        if let Some(last) = seq_hint.filter(|e| matches!(e.event, Event::DidWriteData { .. } | Event::DidSendBodyData { .. })) {
            self.last_progress.insert(key.clone(), last);
        }
        if task.state != TaskState::Running {
            self.last_progress.remove(&key);
            self.attempts.remove(&key);
            self.holds.remove(&key);
        }
        if self.holds.get(&key) == Some(&Hold::Rereading) {
            // Changed here meanwhile: this view is the newer one.
            self.holds.remove(&key);
        }
        let session = task.session.clone();
        self.set_task(task.clone());
        self.actions.push_back(Action::Commit(Box::new(Commit { task: Some(task), file, appends, ..Commit::default() })));
        if journalled {
            self.actions.push_back(Action::Broadcast(Broadcast::Journal { session: session.clone() }));
        }
        if completed && self.index.running(&session) == 0 {
            self.launch_if_closed(session, "has finished its transfers");
        }
    }

    /// The store tells this machine the seq it gave each appended entry (so
    /// later progress can replace it).
    pub fn handle_appended(&mut self, entries: &[JournalEntry]) {
        for e in entries {
            if matches!(e.event, Event::DidWriteData { .. } | Event::DidSendBodyData { .. }) {
                let key = (e.session.clone(), e.task_id);
                if self.last_progress.get(&key).is_some_and(|p| p.event == e.event) {
                    self.last_progress.insert(key, e.clone());
                }
            }
        }
    }

    /// Keeps the task and the scheduler's indexes in step.
    fn set_task(&mut self, task: TaskRecord) {
        let key = key_of(&task);
        if let Some(old) = self.tasks.get(&key) {
            let (d, l) = (old.policy.is_discretionary, is_limited(old));
            self.index.remove(&key, d, l);
        }
        if task.state == TaskState::Running {
            self.index.insert(&task, self.now);
        }
        self.tasks.insert(key, task);
    }

    fn put(&mut self, now: f64, task: TaskRecord) {
        self.commit(now, task, None, vec![]);
    }

    /// The app is to be launched for `session`'s events (unless its
    /// configuration says not to, or a page holding them is open: asked
    /// with [`Action::FindPage`], once while the answer is awaited).
    fn launch_if_closed(&mut self, session: String, why: &str) {
        let sends = self.sessions.get(&session).map_or(true, |c| c.session_sends_launch_events);
        if sends && !self.launches.contains_key(&session) {
            self.launches.insert(session.clone(), why.into());
            self.actions.push_back(Action::FindPage { session });
        }
    }

    fn stop(&mut self, key: &TaskKey) {
        if let Some(id) = self.active.get(key).copied() {
            self.actions.push_back(Action::Abort(id));
            self.end_transfer(id);
        }
        self.holds.remove(key);
    }

    fn end_transfer(&mut self, id: TransferId) {
        if let Some(tr) = self.transfers.remove(&id) {
            if self.active.get(&tr.key) == Some(&id) {
                self.active.remove(&tr.key);
            }
        }
    }

    fn drop_transfer(&mut self, id: TransferId, now: f64) {
        self.actions.push_back(Action::Abort(id));
        self.end_transfer(id);
        self.schedule(now);
    }

    fn running_task(&self, key: &TaskKey) -> Option<TaskRecord> {
        self.tasks.get(key).filter(|t| t.state == TaskState::Running).cloned()
    }

    fn network_now(&self) -> NetworkInfo {
        self.network_override.clone().unwrap_or_else(|| self.network.clone())
    }

    /// "busy" when a transfer starts while none ran (so a retry after a
    /// wait says so again); "idle" only when nothing is left to do, not even
    /// a retry or a deadline waiting on the timer.
    fn announce_activity(&mut self, now: f64) {
        let busy = !self.active.is_empty();
        if busy && !self.was_busy {
            self.was_busy = true;
            self.announced_idle = false;
            self.broadcast_daemon(DaemonEvent::Busy, now);
        } else if !busy {
            self.was_busy = false;
            if !self.announced_idle && self.is_idle() {
                self.announced_idle = true;
                self.broadcast_daemon(DaemonEvent::Idle, now);
            }
        }
    }

    fn broadcast_daemon(&mut self, event: DaemonEvent, now: f64) {
        self.actions.push_back(Action::Broadcast(Broadcast::Daemon { event, transfers: self.active.len(), at: now }));
    }

    fn random_u64(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn random(&mut self) -> f64 {
        (self.random_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A suspended or cancelled Background Fetch is aborted and forgotten: the
/// browser's partial download is not ours to resume (a resume starts a new one).
fn forget_background_fetch(task: &mut TaskRecord) {
    if task.bg_fetch_id.take().is_some() {
        task.discard_bytes();
    }
}

fn key_of(t: &TaskRecord) -> TaskKey {
    (t.session.clone(), t.task_id)
}

fn resumed_at(task: &TaskRecord, offset: u64) -> Event {
    Event::DidResumeAtOffset { file_offset: offset, expected_total_bytes: task.expected_or_unknown() }
}

fn not_found(key: &TaskKey) -> Reply {
    Reply::Error { name: "NotFoundError".into(), message: format!("no task {} in session \"{}\"", key.1, key.0) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::request::Request;
    use std::collections::BTreeMap;

    const URL: &str = "https://example.test/a";

    fn started() -> Daemon {
        let mut d = Daemon::new(7);
        d.handle_started(0.0, vec![], vec![]);
        drain(&mut d);
        d
    }

    fn drain(d: &mut Daemon) -> Vec<Action> {
        std::iter::from_fn(|| d.poll_action()).collect()
    }

    fn task(id: u64) -> TaskRecord {
        TaskRecord::new_download("s", id, Request::get(URL).unwrap(), 0.0, format!("dl-{id}"))
    }

    fn background_config() -> ConfigData {
        let mut c = ConfigData::background("s").unwrap();
        c.transport = Transport::BackgroundFetch;
        c
    }

    fn head(status: u16, len: u64, range: Option<&str>) -> ResponseInfo {
        let mut headers = BTreeMap::new();
        headers.insert("content-length".to_string(), len.to_string());
        headers.insert("etag".to_string(), "\"v1\"".to_string());
        if let Some(r) = range {
            headers.insert("content-range".to_string(), r.to_string());
        }
        ResponseInfo { url: URL.into(), status_code: status, headers }
    }

    fn sends(actions: &[Action]) -> Vec<&Send> {
        actions.iter().filter_map(|a| if let Action::Send(s) = a { Some(s) } else { None }).collect()
    }

    fn events(actions: &[Action]) -> Vec<Event> {
        actions.iter().filter_map(|a| if let Action::Commit(c) = a { Some(c.appends.iter().map(|(e, _)| e.event.clone())) } else { None }).flatten().collect()
    }

    fn resume_background(d: &mut Daemon) -> Vec<Action> {
        d.handle_command(0.0, 1, Command::Resume { task: task(1), fresh: true, id_floor: 1, config: Some(background_config()), session_description: None });
        drain(d)
    }

    #[test]
    fn background_fetch_is_listened_to_and_its_body_ingested() {
        let mut d = started();
        let actions = resume_background(&mut d);
        let id = d.task("s", 1).unwrap().bg_fetch_id.clone().expect("a Background Fetch id for the page");
        let send = sends(&actions)[0].clone();
        assert_eq!(send.background_fetch.as_deref(), Some(id.as_str()), "the host listens instead of fetching");
        assert_eq!(d.background_transfers(), 1, "listening to the browser is not work that keeps the worker");
        d.handle_background_fetch_progress(10.0, ("s".into(), 1), 500, 1000);
        assert_eq!(events(&drain(&mut d)), vec![Event::DidWriteData { total_bytes_written: 500, total_bytes_expected_to_write: 1000 }]);
        let ingest = d.handle_background_fetch_settled(20.0, &id, "success", "", Some(head(200, 1000, None))).expect("the body is read");
        let actions = drain(&mut d);
        assert!(actions.iter().any(|a| matches!(a, Action::ReadBody { transfer, first_segment: 0, .. } if *transfer == ingest)));
        d.handle_segment_stored(30.0, ingest, 1000, 5.0);
        d.handle_body_end(31.0, ingest);
        let actions = drain(&mut d);
        assert!(sends(&actions).is_empty(), "an ingested body is never judged for the fast path");
        let Some(Action::VerifyBytes { task, .. }) = actions.iter().find(|a| matches!(a, Action::VerifyBytes { .. })).cloned() else { panic!("checked before finishing: {actions:?}") };
        d.handle_bytes_verified(32.0, task, 1);
        let evs = events(&drain(&mut d));
        assert!(matches!(evs[..], [Event::DidFinishDownloadingTo { .. }, Event::DidCompleteWithError { error: None }]), "{evs:?}");
    }

    #[test]
    fn a_failed_background_fetch_is_retried_with_fetch() {
        let mut d = started();
        resume_background(&mut d);
        let id = d.task("s", 1).unwrap().bg_fetch_id.clone().unwrap();
        assert!(d.handle_background_fetch_settled(10.0, &id, "fail", "fetch-error", None).is_none());
        let t = d.task("s", 1).unwrap();
        assert_eq!((t.transport, t.bg_fetch_id.clone(), t.state), (Transport::Fetch, None, TaskState::Running));
        let retry = t.retry_at.expect("a retry after backoff");
        d.handle_timeout(retry + 1.0);
        let actions = drain(&mut d);
        assert!(sends(&actions).iter().any(|s| s.background_fetch.is_none()), "the retry uses fetch");
        assert_eq!(d.handle_background_fetch_settled(11.0, &id, "abort", "", None), None, "a stale registration changes nothing");
    }

    #[test]
    fn suspending_a_background_fetch_aborts_and_forgets_it_and_a_resume_starts_a_new_one() {
        let mut d = started();
        let actions = resume_background(&mut d);
        let first = sends(&actions)[0].transfer;
        let id = d.task("s", 1).unwrap().bg_fetch_id.clone().unwrap();
        d.handle_command(1.0, 2, Command::Suspend { session: "s".into(), task_id: 1 });
        let actions = drain(&mut d);
        assert!(actions.contains(&Action::Abort(first)));
        assert_eq!(d.task("s", 1).unwrap().bg_fetch_id, None);
        d.handle_command(2.0, 3, Command::Resume { task: task(1), fresh: false, id_floor: 1, config: Some(background_config()), session_description: None });
        drain(&mut d);
        let again = d.task("s", 1).unwrap().bg_fetch_id.clone().expect("a new Background Fetch");
        assert_ne!(again, id);
    }

    #[test]
    fn background_fetch_unavailable_runs_the_task_with_fetch() {
        let mut d = started();
        resume_background(&mut d);
        d.handle_command(1.0, 2, Command::BackgroundFetchUnavailable { session: "s".into(), task_id: 1 });
        let actions = drain(&mut d);
        assert!(actions.contains(&Action::Reply { to: 2, reply: Reply::Done { changed: true } }));
        let s = sends(&actions);
        assert!(s.len() == 1 && s[0].background_fetch.is_none() && s[0].request.headers["range"] == "bytes=0-1048575", "{actions:?}");
    }

    #[test]
    fn cancelling_a_task_never_resumed_completes_it_with_minus_999() {
        let mut d = started();
        d.handle_command(0.0, 1, Command::Cancel { session: "s".into(), task_id: 4, task: Some(task(4)) });
        let actions = drain(&mut d);
        let evs = events(&actions);
        assert!(matches!(&evs[..], [Event::DidCompleteWithError { error: Some(e) }] if e.code == -999), "{evs:?}");
        assert_eq!(d.task("s", 4).unwrap().state, TaskState::Completed);
        d.handle_command(0.0, 2, Command::Cancel { session: "s".into(), task_id: 5, task: None });
        assert!(matches!(&drain(&mut d)[..], [Action::Reply { reply: Reply::Error { .. }, .. }]), "an unknown task without its record is not found");
    }

    /// Task 1 (4 MiB) with its 1 MiB probe stored and the rest of its body
    /// being answered (206 from 1 MiB) at t = 4.
    fn in_second_request() -> (Daemon, Send) {
        let mut d = started();
        d.handle_command(0.0, 1, Command::Resume { task: task(1), fresh: true, id_floor: 1, config: None, session_description: None });
        let probe = sends(&drain(&mut d))[0].transfer;
        d.handle_response(1.0, probe, head(206, 1 << 20, Some("bytes 0-1048575/4194304")));
        drain(&mut d);
        d.handle_segment_stored(2.0, probe, 1 << 20, 1000.0);
        d.handle_body_end(3.0, probe);
        let next = sends(&drain(&mut d))[0].clone();
        d.handle_response(4.0, next.transfer, head(206, 3 << 20, Some("bytes 1048576-4194303/4194304")));
        drain(&mut d);
        (d, next)
    }

    /// The task's lock held by another worker (the daemon's previous
    /// version during a handover, or a second registration): this daemon
    /// waits for it as long as it takes, writes nothing over that worker's
    /// record, reads the record again before each try, and goes on with the
    /// task once it gets the lock.
    #[test]
    fn a_task_another_worker_runs_is_waited_for_not_failed_nor_overwritten() {
        let mut d = started();
        d.handle_command(0.0, 1, Command::Resume { task: task(1), fresh: true, id_floor: 1, config: None, session_description: None });
        let mut send = sends(&drain(&mut d))[0].clone();
        let mut now = 1.0;
        for _ in 0..20 {
            d.handle_transfer_failed(now, send.transfer, Failure::Busy("another worker runs this task".into()));
            let actions = drain(&mut d);
            assert!(!actions.iter().any(|a| matches!(a, Action::Commit(_))), "nothing stored over the other worker's record: {actions:?}");
            assert!(events(&actions).is_empty(), "nothing journalled: {actions:?}");
            let t = d.task("s", 1).unwrap().clone();
            assert_eq!((t.state, t.failures), (TaskState::Running, 0), "still running, no failure counted");
            assert_eq!(d.pending(), 1, "still this daemon's to carry out");
            assert_eq!(t.retry_at, Some(now + crate::core::transfer::BUSY_RETRY_MS));
            now += crate::core::transfer::BUSY_RETRY_MS;
            d.handle_timeout(now);
            let actions = drain(&mut d);
            assert!(sends(&actions).is_empty(), "the record is read first: {actions:?}");
            assert!(actions.iter().any(|a| matches!(a, Action::ReadTask { task } if *task == ("s".to_string(), 1))), "{actions:?}");
            // As the other worker left it (here: no further).
            d.handle_task_read(now, ("s".into(), 1), Ok(Some(t)));
            send = sends(&drain(&mut d))[0].clone();
        }
        // The lock at last: the transfer goes on as any other.
        d.handle_response(now + 1.0, send.transfer, head(200, 100, None));
        drain(&mut d);
        d.handle_segment_stored(now + 2.0, send.transfer, 100, 10.0);
        d.handle_body_end(now + 3.0, send.transfer);
        let actions = drain(&mut d);
        let Some(Action::VerifyBytes { task, .. }) = actions.iter().find(|a| matches!(a, Action::VerifyBytes { .. })).cloned() else { panic!("checked before finishing: {actions:?}") };
        d.handle_bytes_verified(now + 4.0, task, 1);
        let evs = events(&drain(&mut d));
        assert!(matches!(evs[..], [Event::DidFinishDownloadingTo { .. }, Event::DidCompleteWithError { error: None }]), "{evs:?}");
    }

    /// Task `id` of session "s" downloaded whole (1,000 bytes) from t = `at`:
    /// the actions that followed its last step.
    fn download(d: &mut Daemon, id: u64, at: f64) -> Vec<Action> {
        d.handle_command(at, id, Command::Resume { task: task(id), fresh: true, id_floor: id, config: None, session_description: None });
        let transfer = sends(&drain(d))[0].transfer;
        d.handle_response(at + 1.0, transfer, head(200, 1000, None));
        drain(d);
        d.handle_segment_stored(at + 2.0, transfer, 1000, 5.0);
        d.handle_body_end(at + 3.0, transfer);
        let mut actions = drain(d);
        if let Some(Action::VerifyBytes { task, .. }) = actions.iter().find(|a| matches!(a, Action::VerifyBytes { .. })).cloned() {
            d.handle_bytes_verified(at + 4.0, task, 1);
            actions = drain(d);
        }
        assert_eq!(d.task("s", id).unwrap().state, TaskState::Completed, "{actions:?}");
        actions
    }

    fn launches(actions: &[Action]) -> Vec<(&str, &str)> {
        actions.iter().filter_map(|a| if let Action::LaunchApp { session, why } = a { Some((session.as_str(), why.as_str())) } else { None }).collect()
    }

    fn asks_for_page(actions: &[Action]) -> bool {
        actions.iter().any(|a| matches!(a, Action::FindPage { session } if session == "s"))
    }

    /// iOS relaunches an app for its session's events when the session's
    /// transfers are over, unless the app is running: the machine asks the
    /// host whether a page holding the events is open, and the answer
    /// decides.
    #[test]
    fn the_app_is_launched_when_its_transfers_are_over_and_no_page_is_open() {
        let mut d = started();
        let actions = download(&mut d, 1, 0.0);
        assert!(asks_for_page(&actions), "{actions:?}");
        assert!(launches(&actions).is_empty(), "not before the answer: {actions:?}");
        d.handle_page(10.0, "s", false);
        assert_eq!(launches(&drain(&mut d)), vec![("s", "has finished its transfers")]);
        // A page holding the events is open: it receives them.
        let actions = download(&mut d, 2, 20.0);
        assert!(asks_for_page(&actions), "asked again for a later end: {actions:?}");
        d.handle_page(30.0, "s", true);
        assert!(launches(&drain(&mut d)).is_empty());
        // An answer nothing asked for changes nothing.
        d.handle_page(40.0, "s", false);
        assert!(launches(&drain(&mut d)).is_empty());
    }

    #[test]
    fn the_app_is_not_launched_while_a_transfer_of_the_session_runs() {
        let mut d = started();
        d.handle_command(0.0, 9, Command::Resume { task: task(9), fresh: true, id_floor: 9, config: None, session_description: None });
        drain(&mut d);
        let actions = download(&mut d, 1, 1.0);
        assert!(!asks_for_page(&actions) && launches(&actions).is_empty(), "task 9 still runs: {actions:?}");
    }

    /// The session's transfers end twice before the host answers: one
    /// question, one launch.
    #[test]
    fn one_question_and_one_launch_for_ends_before_the_answer() {
        let mut d = started();
        assert!(asks_for_page(&download(&mut d, 1, 0.0)));
        let actions = download(&mut d, 2, 10.0);
        assert!(!asks_for_page(&actions), "the question is out already: {actions:?}");
        d.handle_page(20.0, "s", false);
        assert_eq!(launches(&drain(&mut d)), vec![("s", "has finished its transfers")]);
    }

    #[test]
    fn a_session_that_sends_no_launch_events_is_not_launched() {
        let mut d = started();
        let mut config = ConfigData::background("s").unwrap();
        config.session_sends_launch_events = false;
        d.handle_command(0.0, 1, Command::Resume { task: task(1), fresh: true, id_floor: 1, config: Some(config), session_description: None });
        let transfer = sends(&drain(&mut d))[0].transfer;
        d.handle_command(1.0, 2, Command::Cancel { session: "s".into(), task_id: 1, task: None });
        let actions = drain(&mut d);
        assert!(actions.iter().any(|a| matches!(a, Action::Abort(t) if *t == transfer)), "{actions:?}");
        assert!(!asks_for_page(&actions) && launches(&actions).is_empty(), "{actions:?}");
    }

    /// Task 1 found busy once (its lock held by another worker) and due
    /// again: its record is being read ([`Action::ReadTask`]), at t = 2001.
    fn reading_after_busy() -> Daemon {
        let mut d = started();
        d.handle_command(0.0, 1, Command::Resume { task: task(1), fresh: true, id_floor: 1, config: None, session_description: None });
        let send = sends(&drain(&mut d))[0].clone();
        d.handle_transfer_failed(1.0, send.transfer, Failure::Busy("another worker runs this task".into()));
        drain(&mut d);
        d.handle_timeout(1.0 + crate::core::transfer::BUSY_RETRY_MS);
        assert!(drain(&mut d).iter().any(|a| matches!(a, Action::ReadTask { .. })));
        d
    }

    /// Busy once, then the record read again: what the other worker did is
    /// what this daemon goes on from.
    fn after_another_worker(stored: impl FnOnce(&mut TaskRecord)) -> (Daemon, Vec<Action>) {
        let mut d = reading_after_busy();
        let mut theirs = d.task("s", 1).unwrap().clone();
        stored(&mut theirs);
        d.handle_task_read(3000.0, ("s".into(), 1), Ok(Some(theirs)));
        let actions = drain(&mut d);
        (d, actions)
    }

    #[test]
    fn a_task_another_worker_finished_is_not_fetched_again() {
        let (d, actions) = after_another_worker(|t| t.complete(None).unwrap());
        assert!(sends(&actions).is_empty() && events(&actions).is_empty(), "nothing sent, nothing journalled twice: {actions:?}");
        assert_eq!(d.task("s", 1).unwrap().state, TaskState::Completed);
        assert!(d.is_idle());
        assert_eq!(d.pending(), 0, "nothing left to carry out");
    }

    #[test]
    fn a_task_another_worker_advanced_goes_on_from_its_bytes() {
        let (_, actions) = after_another_worker(|t| {
            t.segments = vec![1 << 20];
            t.bytes_received = 1 << 20;
            t.bytes_expected = Some(4 << 20);
            t.validator = Some(crate::core::task::Validator::ETag("\"v1\"".into()));
            t.ranged = Some(true);
        });
        let send = sends(&actions)[0].clone();
        assert_eq!(send.request.headers["range"], format!("bytes={}-", 1 << 20), "from the other worker's bytes, not from zero");
    }

    #[test]
    fn a_task_changed_here_while_its_record_is_read_keeps_this_view() {
        let mut d = reading_after_busy();
        let stale = d.task("s", 1).unwrap().clone();
        d.handle_command(2500.0, 2, Command::Suspend { session: "s".into(), task_id: 1 });
        drain(&mut d);
        d.handle_task_read(3000.0, ("s".into(), 1), Ok(Some(stale)));
        assert!(sends(&drain(&mut d)).is_empty());
        assert_eq!(d.task("s", 1).unwrap().state, TaskState::Suspended, "the suspend stands");
    }

    #[test]
    fn a_task_whose_record_is_gone_is_dropped_and_one_that_cannot_be_read_goes_on() {
        let mut d = reading_after_busy();
        d.handle_task_read(2002.0, ("s".into(), 1), Err("IndexedDB closed".into()));
        assert_eq!(sends(&drain(&mut d)).len(), 1, "a failed read: tried from this worker's view");
        let mut d = reading_after_busy();
        d.handle_task_read(2002.0, ("s".into(), 1), Ok(None));
        let actions = drain(&mut d);
        assert!(sends(&actions).is_empty() && events(&actions).is_empty(), "no record: nothing to run: {actions:?}");
        assert!(d.task("s", 1).is_none() && d.is_idle(), "{:?}", d.task("s", 1));
    }

    #[test]
    fn a_retry_after_a_cut_tells_where_it_resumes() {
        let (mut d, next) = in_second_request();
        d.handle_segment_stored(5.0, next.transfer, 1000, 1000.0);
        d.handle_transfer_failed(6.0, next.transfer, Failure::Lost("cut".into()));
        drain(&mut d);
        let retry = d.task("s", 1).unwrap().retry_at.unwrap();
        d.handle_timeout(retry);
        let again = sends(&drain(&mut d))[0].clone();
        assert_eq!(again.request.headers["range"], format!("bytes={}-", (1 << 20) + 1000));
        d.handle_response(retry + 1.0, again.transfer, head(206, (3 << 20) - 1000, Some("bytes 1049576-4194303/4194304")));
        let evs = events(&drain(&mut d));
        assert!(evs.iter().any(|e| matches!(e, Event::DidResumeAtOffset { file_offset, .. } if *file_offset == (1 << 20) + 1000)), "{evs:?}");
    }

    #[test]
    fn an_upload_waits_for_its_response_as_long_as_sending_its_body_takes() {
        let mut d = started();
        let from = crate::core::path::SandboxPath::parse("file:///Documents/a.bin").unwrap();
        let up = TaskRecord::new_upload("s", 1, Request::get(URL).unwrap(), &from, 0.0, "up-1".into());
        d.handle_command(0.0, 1, Command::Resume { task: up, fresh: true, id_floor: 1, config: None, session_description: None });
        let actions = drain(&mut d);
        assert!(actions.iter().any(|a| matches!(a, Action::CopyFile { .. })));
        d.handle_file_copied(1.0, ("s".into(), 1), Ok(vec![512 * 1024]));
        let send = sends(&drain(&mut d))[0].clone();
        assert_eq!(send.head_timeout_ms, send.request_timeout_ms + 2000.0, "512 KiB at 256 KiB/s");
    }

    /// `uploadTask(...).resume()` resolves once the daemon holds its own
    /// copy: an app may delete its file right after (tests/e2e/upload.test.mjs).
    #[test]
    fn an_upload_resume_is_answered_once_the_file_is_copied() {
        let mut d = started();
        let from = crate::core::path::SandboxPath::parse("file:///Documents/a.bin").unwrap();
        let up = TaskRecord::new_upload("s", 1, Request::get(URL).unwrap(), &from, 0.0, "up-1".into());
        d.handle_command(0.0, 7, Command::Resume { task: up, fresh: true, id_floor: 1, config: None, session_description: None });
        let actions = drain(&mut d);
        assert!(actions.iter().any(|a| matches!(a, Action::CopyFile { .. })));
        assert!(!actions.iter().any(|a| matches!(a, Action::Reply { .. })), "no answer before the copy: {actions:?}");
        d.handle_file_copied(1.0, ("s".into(), 1), Ok(vec![10]));
        let actions = drain(&mut d);
        let reply = actions.iter().position(|a| matches!(a, Action::Reply { to: 7, reply: Reply::Task { .. } }));
        let commit = actions.iter().position(|a| matches!(a, Action::Commit(c) if c.task.as_ref().is_some_and(|t| t.segments == vec![10])));
        assert!(matches!((commit, reply), (Some(c), Some(r)) if c < r), "the copy is committed, then the page answered: {actions:?}");
        // A missing file: answered all the same, and the task fails.
        let up = TaskRecord::new_upload("s", 2, Request::get(URL).unwrap(), &from, 0.0, "up-2".into());
        d.handle_command(2.0, 8, Command::Resume { task: up, fresh: true, id_floor: 2, config: None, session_description: None });
        drain(&mut d);
        d.handle_file_copied(3.0, ("s".into(), 2), Err(upload::CopyFailure::NoFile));
        let actions = drain(&mut d);
        assert!(actions.iter().any(|a| matches!(a, Action::Reply { to: 8, .. })));
        assert_eq!(d.task("s", 2).map(|t| t.state), Some(TaskState::Completed));
        assert!(matches!(&events(&actions)[..], [Event::DidCompleteWithError { error: Some(e) }] if e.code == -1100), "{actions:?}");
        // The storage failing: the task ends, and its error says so.
        let up = TaskRecord::new_upload("s", 3, Request::get(URL).unwrap(), &from, 0.0, "up-3".into());
        d.handle_command(4.0, 9, Command::Resume { task: up, fresh: true, id_floor: 3, config: None, session_description: None });
        drain(&mut d);
        d.handle_file_copied(5.0, ("s".into(), 3), Err(upload::CopyFailure::Storage("UnknownError: the disk failed".into())));
        let evs = events(&drain(&mut d));
        assert!(matches!(&evs[..], [Event::DidCompleteWithError { error: Some(e) }] if e.code == -3000), "{evs:?}");
    }

    /// Bytes found gone before finishing (storage evicted mid-download):
    /// the download starts again and the app is told where
    /// (`didResumeAtOffset(0)`), as after any restart.
    #[test]
    fn bytes_lost_before_finishing_restart_the_download_and_say_so() {
        let mut d = started();
        d.handle_command(0.0, 1, Command::Resume { task: task(1), fresh: true, id_floor: 1, config: None, session_description: None });
        let probe = sends(&drain(&mut d))[0].transfer;
        d.handle_response(1.0, probe, head(206, 1000, Some("bytes 0-999/1000")));
        drain(&mut d);
        d.handle_segment_stored(2.0, probe, 1000, 10.0);
        d.handle_body_end(3.0, probe);
        let actions = drain(&mut d);
        let Some(Action::VerifyBytes { task: key, .. }) = actions.iter().find(|a| matches!(a, Action::VerifyBytes { .. })).cloned() else { panic!("checked before finishing: {actions:?}") };
        d.handle_bytes_verified(4.0, key, 0);
        let actions = drain(&mut d);
        assert!(events(&actions).is_empty(), "no success over bytes that are gone: {actions:?}");
        let again = sends(&actions).first().cloned().expect("fetched again");
        d.handle_response(5.0, again.transfer, head(206, 1000, Some("bytes 0-999/1000")));
        let evs = events(&drain(&mut d));
        assert!(evs.iter().any(|e| matches!(e, Event::DidResumeAtOffset { file_offset: 0, .. })), "{evs:?}");
    }

    /// Identifiers are never handed out twice in a session, not even after
    /// the finished tasks that had them were forgotten and the pages lost
    /// their counter (the soak found a download and an earlier upload with
    /// the same identifier: an app keying its state by it mixes them up).
    #[test]
    fn a_task_identifier_is_never_reused_in_a_session() {
        let mut d = Daemon::new(7);
        let mut stored = ConfigData::background("s").unwrap();
        stored.last_task_id = 5;
        d.handle_started(0.0, vec![], vec![stored]);
        drain(&mut d);
        let page_config = ConfigData::background("s").unwrap(); // knows nothing of identifiers
        d.handle_command(1.0, 1, Command::Resume { task: task(3), fresh: true, id_floor: 3, config: Some(page_config.clone()), session_description: None });
        let actions = drain(&mut d);
        assert!(actions.iter().any(|a| matches!(a, Action::Reply { reply: Reply::Task { task }, .. } if task.task_id == 6)), "renumbered above every identifier used: {actions:?}");
        let written = actions.iter().find_map(|a| match a {
            Action::Commit(c) if c.task.as_ref().is_some_and(|t| t.task_id == 6) => c.config.clone(),
            _ => None,
        });
        assert_eq!(written.map(|c| c.last_task_id), Some(6), "the highest identifier is written with the task");
        // A page whose number is above every one used keeps it.
        d.handle_command(2.0, 2, Command::Resume { task: task(9), fresh: true, id_floor: 9, config: Some(page_config), session_description: None });
        assert!(drain(&mut d).iter().any(|a| matches!(a, Action::Reply { reply: Reply::Task { task }, .. } if task.task_id == 9)));
        // An older store (no identifier kept): the stored tasks say it.
        let mut d = Daemon::new(7);
        let mut old = task(4);
        old.resume().unwrap();
        d.handle_started(0.0, vec![old], vec![ConfigData::background("s").unwrap()]);
        drain(&mut d);
        d.handle_command(1.0, 1, Command::Resume { task: task(2), fresh: true, id_floor: 2, config: None, session_description: None });
        assert!(drain(&mut d).iter().any(|a| matches!(a, Action::Reply { reply: Reply::Task { task }, .. } if task.task_id == 5)));
    }

    /// Two tabs draw 3 and 4; the tab with 4 resumes first. 3 was never
    /// used, so its task keeps it (multitab e2e test: a task is renumbered
    /// only when its number was drawn twice); a task made after 4 with a
    /// lower number has a stale counter and is renumbered.
    #[test]
    fn a_lower_number_drawn_first_keeps_it() {
        let mut d = Daemon::new(7);
        d.handle_started(0.0, vec![], vec![]);
        drain(&mut d);
        let config = ConfigData::background("s").unwrap();
        let made = |id: u64, at: f64| TaskRecord { created_at: at, nonce: format!("n{id}-{at}"), ..task(id) };
        let reply_id = |d: &mut Daemon| drain(d).iter().find_map(|a| match a {
            Action::Reply { reply: Reply::Task { task }, .. } => Some(task.task_id),
            _ => None,
        });
        d.handle_command(1.0, 1, Command::Resume { task: made(4, 10.0), fresh: true, id_floor: 4, config: Some(config.clone()), session_description: None });
        assert_eq!(reply_id(&mut d), Some(4));
        d.handle_command(2.0, 2, Command::Resume { task: made(3, 9.0), fresh: true, id_floor: 3, config: Some(config.clone()), session_description: None });
        assert_eq!(reply_id(&mut d), Some(3), "made before 4: drawn first, never used");
        d.handle_command(3.0, 3, Command::Resume { task: made(2, 11.0), fresh: true, id_floor: 2, config: Some(config.clone()), session_description: None });
        assert_eq!(reply_id(&mut d), Some(5), "made after 4 with a lower number: a stale counter");
        d.handle_command(4.0, 4, Command::Resume { task: made(5, 8.0), fresh: true, id_floor: 5, config: Some(config), session_description: None });
        assert_eq!(reply_id(&mut d), Some(6), "the highest number used is never kept again");
    }

    /// Every page hears a new task's final number, before the reply that
    /// resolves its `resume()` (the multitab e2e test saw a tab draw, from
    /// a lagging localStorage counter, the number the daemon had just given
    /// another tab's task: renumbered without a clash of the tabs' draws);
    /// a second `resume()` of a stored task says nothing.
    #[test]
    fn a_new_tasks_number_is_announced_before_its_reply() {
        let mut d = Daemon::new(7);
        d.handle_started(0.0, vec![], vec![]);
        drain(&mut d);
        let numbered = |actions: &[Action]| -> Vec<(usize, u64)> {
            actions.iter().enumerate().filter_map(|(i, a)| match a {
                Action::Broadcast(Broadcast::Numbered { session, task_id }) if session == "s" => Some((i, *task_id)),
                _ => None,
            }).collect()
        };
        let reply_at = |actions: &[Action]| actions.iter().position(|a| matches!(a, Action::Reply { .. })).unwrap();
        d.handle_command(1.0, 1, Command::Resume { task: task(3), fresh: true, id_floor: 3, config: None, session_description: None });
        let actions = drain(&mut d);
        assert_eq!(numbered(&actions).iter().map(|n| n.1).collect::<Vec<_>>(), [3], "{actions:?}");
        assert!(numbered(&actions)[0].0 < reply_at(&actions), "announced before the reply: {actions:?}");
        // Another tab drew 3 too: its task is renumbered, and that is announced.
        let clash = TaskRecord { nonce: "other tab".into(), ..task(3) };
        d.handle_command(2.0, 2, Command::Resume { task: clash, fresh: true, id_floor: 4, config: None, session_description: None });
        assert_eq!(numbered(&drain(&mut d)).iter().map(|n| n.1).collect::<Vec<_>>(), [4]);
        d.handle_command(3.0, 3, Command::Suspend { session: "s".into(), task_id: 3 });
        drain(&mut d);
        d.handle_command(4.0, 4, Command::Resume { task: task(3), fresh: false, id_floor: 5, config: None, session_description: None });
        assert_eq!(numbered(&drain(&mut d)), [], "resumed again: not new");
    }

    /// A cancelled download frees its recorded segments and the ones its
    /// aborted body may still store (the 30-minute soak found 6 such
    /// segments left with no owner).
    #[test]
    fn freeing_a_downloads_bytes_covers_what_an_aborted_body_may_store() {
        let (mut d, next) = in_second_request();
        d.handle_command(5.0, 2, Command::Cancel { session: "s".into(), task_id: 1, task: None });
        let actions = drain(&mut d);
        assert!(actions.iter().any(|a| matches!(a, Action::Abort(t) if *t == next.transfer)), "{actions:?}");
        assert!(actions.iter().any(|a| matches!(a, Action::DeleteBytes { from: 0, count, .. } if *count == 1 + UNRECORDED_SEGMENTS)), "{actions:?}");
        // Cancelled before anything was recorded: the first segment may still land.
        d.handle_command(6.0, 3, Command::Resume { task: task(2), fresh: true, id_floor: 2, config: None, session_description: None });
        drain(&mut d);
        d.handle_command(7.0, 4, Command::Cancel { session: "s".into(), task_id: 2, task: None });
        assert!(drain(&mut d).iter().any(|a| matches!(a, Action::DeleteBytes { from: 0, count, .. } if *count == UNRECORDED_SEGMENTS)));
    }
}
