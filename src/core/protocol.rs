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
        #[serde(default)]
        fresh: bool,
        /// Task identifiers below this are taken in the session (renumbering floor).
        #[serde(default)]
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

/// A page's message to the worker, decoded ([`decode_page_message`]).
#[derive(Clone, Debug, PartialEq)]
pub enum PageMessage {
    /// A command for the machine.
    Command {
        /// The `op` it came with (the reply's shape depends on it).
        op: String,
        /// The command.
        command: Command,
        /// `(identifier, sessionDescription)` of a `resume`'s configuration
        /// (stored with it; the machine does not need it).
        description: Option<(String, String)>,
    },
    /// `simulateDaemonKill`: the host ends this worker life.
    SimulateKill,
    /// Background Sync asks whether any task is unfinished.
    Pending,
}

/// Decodes what a page posts (`{op, ...}` as JSON). Pages send the
/// protocol's commands, except that `delayedRequest` carries its
/// `decision` and `request` flat, `suspend` may carry the page's `task`,
/// `backgroundFetchUnavailable` a `reason`, and `resume`'s configuration a
/// `sessionDescription`. Anything else is refused with a sentence naming
/// the problem.
///
/// ```
/// use bgsession::core::protocol::{decode_page_message, Command, DelayedAnswer, PageMessage};
///
/// let m = decode_page_message(r#"{"op":"delayedRequest","session":"s","taskId":2,"decision":"cancel"}"#).unwrap();
/// assert_eq!(m, PageMessage::Command { op: "delayedRequest".into(), command: Command::DelayedRequest { session: "s".into(), task_id: 2, answer: DelayedAnswer::Cancel }, description: None });
/// assert!(decode_page_message(r#"{"op":"format"}"#).unwrap_err().contains("format"));
/// assert!(decode_page_message(r#""hello""#).unwrap_err().contains("object"));
/// ```
pub fn decode_page_message(json: &str) -> Result<PageMessage, String> {
    let mut value: serde_json::Value = serde_json::from_str(json).map_err(|e| format!("a daemon command must be an object {{op, ...}}: {e}"))?;
    let obj = value.as_object_mut().ok_or("a daemon command must be an object {op, ...}")?;
    let op = obj.get("op").and_then(|o| o.as_str()).unwrap_or_default().to_string();
    let Some(shape) = page_shape(&op) else {
        return Err(format!("unknown daemon command \"{op}\" (a daemon command is an object {{op, ...}})"));
    };
    let mut description = None;
    match op.as_str() {
        "simulateKill" => return Ok(PageMessage::SimulateKill),
        "pending" => return Ok(PageMessage::Pending),
        "suspend" => drop(obj.remove("task")),
        "backgroundFetchUnavailable" => drop(obj.remove("reason")),
        "delayedRequest" => {
            let mut answer = serde_json::Map::new();
            answer.insert("decision".into(), obj.remove("decision").unwrap_or_default());
            if let Some(r) = obj.remove("request") {
                answer.insert("request".into(), r);
            }
            obj.insert("answer".into(), answer.into());
        }
        "resume" => {
            let config = obj.get("config").and_then(|c| c.as_object());
            description = config.and_then(|c| Some((c.get("identifier")?.as_str()?.to_string(), c.get("sessionDescription")?.as_str()?.to_string())));
        }
        _ => {}
    }
    let command = serde_json::from_value::<Command>(value).map_err(|e| format!("daemon command \"{op}\" {shape}: {e}"))?;
    Ok(PageMessage::Command { op, command, description })
}

/// The fields a page sends with each `op` (for error messages); `None`:
/// no such command.
fn page_shape(op: &str) -> Option<&'static str> {
    Some(match op {
        "resume" => "{op, task, fresh, idFloor, config}",
        "suspend" | "cancel" | "cancelByProducingResumeData" => "{op, session, taskId}",
        "delayedRequest" => "{op, session, taskId, decision, request}",
        "backgroundFetchUnavailable" => "{op, session, taskId, reason}",
        "simulateNetwork" => "{op, conditions}",
        "wake" | "ping" | "status" | "simulateKill" | "pending" => "{op}",
        _ => return None,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_messages_decode_or_say_what_is_wrong() {
        let suspend = decode_page_message(r#"{"op":"suspend","session":"s","taskId":3,"task":{"whatever":1}}"#).unwrap();
        assert_eq!(suspend, PageMessage::Command { op: "suspend".into(), command: Command::Suspend { session: "s".into(), task_id: 3 }, description: None });
        let unavailable = decode_page_message(r#"{"op":"backgroundFetchUnavailable","session":"s","taskId":3,"reason":"NotSupportedError"}"#).unwrap();
        assert!(matches!(unavailable, PageMessage::Command { command: Command::BackgroundFetchUnavailable { task_id: 3, .. }, .. }));
        let delayed = decode_page_message(r#"{"op":"delayedRequest","session":"s","taskId":1,"decision":"request","request":{"url":"https://example.test/b"}}"#);
        assert!(matches!(delayed, Ok(PageMessage::Command { command: Command::DelayedRequest { answer: DelayedAnswer::Request { .. }, .. }, .. })), "{delayed:?}");
        assert_eq!(decode_page_message(r#"{"op":"simulateKill"}"#), Ok(PageMessage::SimulateKill));
        assert_eq!(decode_page_message(r#"{"op":"pending"}"#), Ok(PageMessage::Pending));
        for (bad, names) in [
            (r#"{"op":"resume","task":5}"#, "resume"),
            (r#"{"op":"suspend","session":"s"}"#, "taskId"),
            (r#"{"op":"suspend","session":5,"taskId":"seven"}"#, "session, taskId"),
            (r#"{"op":"resume","task":42}"#, "task"),
            (r#"{"session":"s"}"#, "unknown daemon command \"\""),
            (r#"{"op":"resume","fresh":true}"#, "missing field `task`"),
            (r#"[1,2]"#, "object"),
            (r#"{"op":"frobnicate"}"#, "frobnicate"),
        ] {
            let err = decode_page_message(bad).unwrap_err();
            assert!(err.contains(names), "{bad}: {err}");
        }
    }
}
