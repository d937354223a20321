//! The one protocol between pages and the daemon: commands a page sends,
//! the daemon's replies, and what it broadcasts. Serde enums, so nothing
//! crossing the worker boundary is read by a string name; the browser hosts
//! and the simulator use the same types.
//!
//! # Examples
//!
//! ```
//! use bgsession::core::protocol::Command;
//!
//! let cmd = Command::Suspend { session: "com.example".into(), task_id: 3 };
//! let json = serde_json::to_string(&cmd).unwrap();
//! assert_eq!(json, r#"{"op":"suspend","session":"com.example","taskId":3}"#);
//! assert_eq!(serde_json::from_str::<Command>(&json).unwrap(), cmd);
//! assert!(serde_json::from_str::<Command>(r#"{"op":"format"}"#).is_err(), "unknown operations are refused");
//! ```

use crate::core::config::ConfigData;
use crate::core::network::NetworkInfo;
use crate::core::request::Request;
use crate::core::task::TaskRecord;
use serde::{Deserialize, Serialize};

/// The BroadcastChannel on which the daemon tells pages what it did.
pub const CHANNEL: &str = "bgsession";

/// The Web Lock a page holds while it receives a session's events (one page
/// at a time per identifier).
pub fn session_lock(identifier: &str) -> String {
    format!("bgsession:session:{identifier}")
}

/// The Web Lock a worker holds while it runs a task (an old and a new worker
/// version can briefly coexist during an update).
pub fn task_lock(session: &str, task_id: u64) -> String {
    format!("bgsession:task:{session}:{task_id}")
}

/// A page's answer to `willBeginDelayedRequest`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "camelCase")]
pub enum DelayedAnswer {
    /// `.continueLoading`.
    Continue,
    /// `.cancel`: the task completes with -999.
    Cancel,
    /// `.useNewRequest(request)`.
    Request {
        /// The request the task makes instead.
        request: Request,
    },
}

/// A command from a page to the daemon.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase", deny_unknown_fields)]
pub enum Command {
    /// `task.resume()`: store the task (first time) and run it.
    #[serde(rename_all = "camelCase")]
    Resume {
        /// The task as the page knows it.
        task: TaskRecord,
        /// The page has not stored this task yet (its first `resume()`).
        fresh: bool,
        /// Task identifiers below this are taken in the session (renumbering floor).
        id_floor: u64,
        /// The session's configuration, stored with the task.
        config: Option<ConfigData>,
    },
    /// `task.suspend()`.
    #[serde(rename_all = "camelCase")]
    Suspend {
        /// The session identifier.
        session: String,
        /// The task's identifier.
        task_id: u64,
    },
    /// `task.cancel()`.
    #[serde(rename_all = "camelCase")]
    Cancel {
        /// The session identifier.
        session: String,
        /// The task's identifier.
        task_id: u64,
        /// The task as the page knows it: a task never resumed is not
        /// stored yet, and is cancelled (and stored) as given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        task: Option<TaskRecord>,
    },
    /// `cancel(byProducingResumeData:)`.
    #[serde(rename_all = "camelCase")]
    CancelByProducingResumeData {
        /// The session identifier.
        session: String,
        /// The task's identifier.
        task_id: u64,
    },
    /// The app's answer to `willBeginDelayedRequest`.
    #[serde(rename_all = "camelCase")]
    DelayedRequest {
        /// The session identifier.
        session: String,
        /// The task's identifier.
        task_id: u64,
        /// What the delegate decided.
        answer: DelayedAnswer,
    },
    /// `simulateNetworkConditions`: judge as if the link were this (`None`: the real one).
    SimulateNetwork {
        /// The link to assume.
        conditions: Option<NetworkInfo>,
    },
    /// The page could not start the task's Background Fetch (the browser
    /// has none, or refused): the task runs with `fetch`.
    #[serde(rename_all = "camelCase")]
    BackgroundFetchUnavailable {
        /// The session identifier.
        session: String,
        /// The task's identifier.
        task_id: u64,
    },
    /// Any page of the origin loaded the library: resume what is pending.
    Wake,
    /// A page's heartbeat (keeps engines that stop idle workers from doing so).
    Ping,
    /// `daemonStatus()`.
    Status,
}

/// The daemon's answer to a [`Command`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "camelCase")]
pub enum Reply {
    /// The task as stored after the command.
    Task {
        /// The stored record.
        task: TaskRecord,
    },
    /// `cancelByProducingResumeData`: the resume data, if the download can continue.
    ResumeData {
        /// The bytes (`None`: nothing to resume from).
        data: Option<Vec<u8>>,
    },
    /// Done (or, `false`, nothing to do).
    Done {
        /// Whether the command changed anything.
        changed: bool,
    },
    /// `daemonStatus()`.
    Status {
        /// Transfers running in this worker.
        transfers: usize,
        /// Tasks not yet completed.
        pending: usize,
    },
    /// The link the daemon judges by.
    Network {
        /// As judged.
        network: NetworkInfo,
    },
    /// The command was refused; `name` is the rule (e.g. `InvalidStateError`).
    Error {
        /// The error's name.
        name: String,
        /// What was wrong, in a sentence.
        message: String,
    },
}

/// What the daemon is doing, for timelines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DaemonEvent {
    /// A new worker life began.
    Started,
    /// A transfer started with none running.
    Busy,
    /// Nothing runs or waits for a timer.
    Idle,
}

/// A message from the daemon to every page of the origin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Broadcast {
    /// The journal of `session` grew.
    Journal {
        /// The session identifier.
        session: String,
    },
    /// The daemon's own life.
    Daemon {
        /// What happened.
        event: DaemonEvent,
        /// Transfers running now.
        transfers: usize,
        /// When (ms since epoch).
        at: f64,
    },
}
