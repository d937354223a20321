//! What is stored and which build wrote it: the IndexedDB schema's version,
//! each record's format version, and what a stored record this build cannot
//! read means. The decisions are here; `web::store` only reads and writes.
//!
//! # Versions
//!
//! - **Schema** ([`SCHEMA_VERSION`], the IndexedDB database version):
//!   1 = the stores `tasks`, `events` (the journal), `delivered`, `files`,
//!   `sessions` (2ddb749 and every build up to this module); 2 = the same
//!   plus `quarantine`, where records that cannot be read are kept aside.
//!   An upgrade only adds stores: a newer build opens an older database and
//!   carries on with everything in it.
//! - **Record format** ([`RECORD_VERSION`], the field `"v"` of every record:
//!   [`TaskRecord`], [`JournalEntry`], [`FileMeta`], a session's
//!   configuration, a delivered total, a quarantined record): absent = 0,
//!   the format of 2ddb749; 1 = the same fields plus `"v"`. Reading a record
//!   upgrades it to [`RECORD_VERSION`] in memory (0 → 1 changes nothing
//!   else); a record of a newer format than this build knows is not guessed
//!   at: it is unreadable, as is one that does not decode.
//!
//! # A record that cannot be read
//!
//! It is never a crash loop and never dropped silently. Each one is moved
//! to the `quarantine` store as it was (with the reason and where it was),
//! and ([`plan`]):
//! - a **task record** whose session and `taskIdentifier` can still be read
//!   is replaced by a completed record of the same task with an error, and
//!   a `didCompleteWithError` naming what could not be read is journalled
//!   for it: the app's delegate hears about it as that task's end, once.
//!   Its other, readable events are delivered before it.
//! - a **journal entry** of a task whose record says it is over
//!   (`completed`) and whose end is not in the journal before it: the entry
//!   is replaced, in place, by that task's `didCompleteWithError` naming
//!   it, and the task's later entries are kept aside too (nothing comes
//!   after a task's end). After the task's end: kept aside and logged.
//! - a journal entry of a task still running or suspended: kept aside and
//!   logged; the daemon still owns the task and its end is journalled when
//!   it comes (a lost progress event is said again by the next one, which
//!   carries totals).
//! - a journal entry of no known task, a file's metadata, anything whose
//!   session or task cannot be read: kept aside and logged (there is no
//!   delegate to tell).
//!
//! The bytes such a record names stay where they are (the daemon's sweep
//! keeps every blob a quarantined record names).
//!
//! ```
//! use bgsession::core::stored::{self, RECORD_VERSION};
//! use bgsession::core::task::{TaskRecord, TaskState};
//! use serde_json::json;
//!
//! // A task record of 2ddb749 (no "v") is read and upgraded.
//! let old = json!({"session": "s", "taskId": 1, "kind": "download", "state": "running",
//!   "originalRequest": {"url": "https://h/a"}, "currentRequest": {"url": "https://h/a"},
//!   "createdAt": 0.0, "blobId": "b1"});
//! let (good, bad) = stored::decode_many::<TaskRecord>(vec![old, json!({"session": "s", "taskId": 2, "state": 12})]);
//! assert_eq!((good.len(), good[0].v, bad.len()), (1, RECORD_VERSION, 1));
//!
//! // The unreadable one becomes that task's error, and is kept aside.
//! let plan = stored::plan(&bad, &[], &good, &[], 5.0);
//! assert_eq!(plan.quarantine.len(), 1);
//! assert_eq!((plan.tasks[0].task_id, plan.tasks[0].state), (2, TaskState::Completed));
//! assert_eq!(plan.entries[0].event.method(), "didCompleteWithError");
//! ```

use crate::core::error::NsError;
use crate::core::files::FileMeta;
use crate::core::journal::{Event, JournalEntry};
use crate::core::request::Request;
use crate::core::task::{TaskRecord, TaskState};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

/// The IndexedDB database version (see the module documentation).
pub const SCHEMA_VERSION: u32 = 2;

/// The format version this build writes in every record's `"v"`, and the
/// newest it reads.
pub const RECORD_VERSION: u32 = 1;

/// Object store of [`TaskRecord`]s, keyed by `[session, taskId]`, indexed
/// `by_session`.
pub const TASKS: &str = "tasks";
/// Object store of the journal's [`JournalEntry`]s, keyed by an
/// auto-incremented `seq`, indexed `by_session`.
pub const EVENTS: &str = "events";
/// Object store of `{session, taskId, total}`: the progress total last
/// delivered to the delegate per task (the base of the next `bytesWritten`).
pub const DELIVERED: &str = "delivered";
/// Object store of sandbox [`FileMeta`]s, keyed by `path`.
pub const FILES: &str = "files";
/// Object store of session configurations (the JSON of
/// [`ConfigData`](crate::core::config::ConfigData)), keyed by `identifier`.
pub const SESSIONS: &str = "sessions";
/// Object store of records that could not be read, kept aside
/// ([`Quarantined`]), auto-incremented keys.
pub const QUARANTINE: &str = "quarantine";

/// The object stores this build reads and writes (schema [`SCHEMA_VERSION`]).
pub const STORES: [&str; 6] = [TASKS, EVENTS, DELIVERED, FILES, SESSIONS, QUARANTINE];

/// Whether this build can use a database found at schema `version` with the
/// object stores `stores` (a newer build made it when `version` is above
/// [`SCHEMA_VERSION`]: a deploy rolled back). An upgrade only adds stores,
/// so a newer database holding every store of this build's schema is used
/// as it is: this build reads and writes the stores it knows (records in
/// the format it writes, which every newer build reads; a newer record it
/// cannot read is kept aside as any unreadable record) and leaves the rest
/// alone. One that lacks a store this build needs is not touched: the
/// error names the versions and the store.
pub fn check_schema(name: &str, version: u32, stores: &[String]) -> Result<(), String> {
    match STORES.iter().find(|s| !stores.iter().any(|have| have == *s)) {
        None => Ok(()),
        Some(missing) if version > SCHEMA_VERSION => Err(format!(
            "IndexedDB: \"{name}\" was made by a newer version of bgsession (schema {version}; this build's is {SCHEMA_VERSION}) and has no \"{missing}\" store, which this build needs: nothing in it was changed; serve the newer build again"
        )),
        Some(missing) => Err(format!("IndexedDB: \"{name}\" (schema {version}) has no \"{missing}\" store")),
    }
}

/// A stored record type with a format version.
pub trait Record: DeserializeOwned {
    /// The format it was read in (`"v"`; 0 when absent).
    fn version(&self) -> u32;
    /// Brings a record of an older, readable format to [`RECORD_VERSION`].
    fn upgrade(&mut self);
}

macro_rules! record {
    ($t:ty) => {
        impl Record for $t {
            fn version(&self) -> u32 {
                self.v
            }
            fn upgrade(&mut self) {
                // 0 (2ddb749) → 1: the same fields; "v" added.
                self.v = RECORD_VERSION;
            }
        }
    };
}
record!(JournalEntry);
record!(FileMeta);

impl Record for TaskRecord {
    fn version(&self) -> u32 {
        self.v
    }
    fn upgrade(&mut self) {
        if self.v == 0 && self.state == TaskState::Completed && self.error.is_none() && self.kind == crate::core::task::TaskKind::Download {
            // 0 (2ddb749): a successful download's record kept listing the
            // segments it had handed to its temp file (the file names the
            // same bytes). From 1 on the file has them and the record none:
            // otherwise they would count twice in `usage()`, and the record
            // would pass for a resume-data holder and never be forgotten.
            self.segments.clear();
        }
        self.v = RECORD_VERSION;
    }
}

/// A stored record this build cannot read, as it was, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Unreadable {
    /// The record as stored (JSON).
    pub raw: Value,
    /// Why it cannot be read.
    pub reason: String,
}

/// Decodes and upgrades one record, or says why it cannot be read.
pub fn decode_one<T: Record>(raw: Value) -> Result<T, Unreadable> {
    // From text, as every stored record is decoded (`serde_json::from_str`),
    // not from the `Value`: one decoder per record type in the wasm, not two.
    match serde_json::from_str::<T>(&raw.to_string()) {
        Err(err) => Err(Unreadable { reason: format!("it does not decode ({err})"), raw }),
        Ok(r) if r.version() > RECORD_VERSION => Err(Unreadable {
            reason: format!("it was written by a newer version of bgsession (record format v{}; this build reads up to v{RECORD_VERSION})", r.version()),
            raw,
        }),
        Ok(mut r) => {
            r.upgrade();
            Ok(r)
        }
    }
}

/// Decodes records one by one: the readable ones (upgraded) and the others.
pub fn decode_many<T: Record>(raws: Vec<Value>) -> (Vec<T>, Vec<Unreadable>) {
    let mut good = Vec::with_capacity(raws.len());
    let mut bad = Vec::new();
    for raw in raws {
        match decode_one(raw) {
            Ok(r) => good.push(r),
            Err(u) => bad.push(u),
        }
    }
    (good, bad)
}

/// Upgrades records decoded together; `false` (and nothing changed) if one
/// is of a newer format: then decode them one by one with [`decode_many`].
pub fn upgrade_all<T: Record>(records: &mut [T]) -> bool {
    if records.iter().any(|r| r.version() > RECORD_VERSION) {
        return false;
    }
    records.iter_mut().for_each(Record::upgrade);
    true
}

/// The error a task's delegate gets when something stored about the task
/// cannot be read: `NSCocoaErrorDomain` 259 (`NSFileReadCorruptFileError`),
/// the reason naming what and why.
pub fn unreadable_error(what: &str, reason: &str) -> NsError {
    let mut user_info = BTreeMap::new();
    user_info.insert(
        "NSLocalizedFailureReason".to_string(),
        Value::String(format!("{what} could not be read: {reason}; it is kept aside in IndexedDB's \"{QUARANTINE}\" store")),
    );
    NsError {
        domain: "NSCocoaErrorDomain".to_string(),
        code: 259,
        localized_description: "The stored data of this task couldn't be read because it isn't in the correct format.".to_string(),
        user_info,
    }
}

/// A record to move from `store` (at `key`) to the quarantine store.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Quarantined {
    /// The store it was in: `"tasks"`, `"events"` or `"files"`.
    pub store: String,
    /// Its key there (`[session, taskId]`, a `seq`, a path), as stored.
    pub key: Value,
    /// The record as it was.
    pub record: Value,
    /// Why it was set aside.
    pub reason: String,
    /// When (ms since the epoch).
    pub at: f64,
    /// Format version of this quarantine record.
    pub v: u32,
}

/// What the store does with a session's unreadable records, in one
/// transaction (see the module documentation).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SetAside {
    /// Records moved to the quarantine store (deleted where they were,
    /// unless a record below is written at the same key). The store checks
    /// that each is still there as it was; if one is not, someone else set
    /// it aside first and nothing is written.
    pub quarantine: Vec<Quarantined>,
    /// Task records written in place of unreadable ones.
    pub tasks: Vec<TaskRecord>,
    /// Journal entries to write: with a `seq`, in place of the entry with
    /// that `seq`; without, appended.
    pub entries: Vec<JournalEntry>,
    /// What to log (there is no delegate to tell, or nothing to tell it yet).
    pub log: Vec<String>,
}

impl SetAside {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.quarantine.is_empty()
    }
}

fn task_key(raw: &Value) -> Option<(String, u64)> {
    let session = raw.get("session")?.as_str()?.to_string();
    let id = raw.get("taskId")?;
    let id = id.as_u64().or_else(|| id.as_f64().filter(|f| *f >= 0.0 && f.fract() == 0.0 && *f < 9.0e15).map(|f| f as u64))?;
    Some((session, id))
}

fn raw_key(raw: &Value, fields: &[&str]) -> Value {
    match fields {
        [one] => raw.get(one).cloned().unwrap_or(Value::Null),
        many => Value::Array(many.iter().map(|f| raw.get(f).cloned().unwrap_or(Value::Null)).collect()),
    }
}

fn aside(store: &str, key: Value, record: Value, reason: &str, at: f64) -> Quarantined {
    Quarantined { store: store.to_string(), key, record, reason: reason.to_string(), at, v: RECORD_VERSION }
}

/// The completed record standing for task `id` of `session` whose stored
/// record cannot be read: what of it can still be read (its requests, its
/// description, its kind), the error, and no bytes (those stay with the
/// quarantined record).
fn stand_in(raw: &Value, session: &str, id: u64, error: NsError, now: f64) -> TaskRecord {
    let request = |field: &str| raw.get(field).and_then(|v| serde_json::from_str::<Request>(&v.to_string()).ok());
    let original = request("originalRequest").unwrap_or(Request { url: String::new(), method: "GET".into(), headers: BTreeMap::new() });
    let mut t = TaskRecord::new_download(session, id, original.clone(), now, String::new());
    t.current_request = request("currentRequest").unwrap_or(original);
    if let Some(d) = raw.get("taskDescription").and_then(Value::as_str) {
        t.task_description = d.to_string();
    }
    if raw.get("kind").and_then(Value::as_str) == Some("upload") {
        t.kind = crate::core::task::TaskKind::Upload;
    }
    t.created_at = raw.get("createdAt").and_then(Value::as_f64).unwrap_or(now);
    t.state = TaskState::Completed;
    t.error = Some(error);
    t
}

fn completion(session: &str, task_id: u64, seq: Option<u64>, error: NsError, now: f64) -> JournalEntry {
    JournalEntry { v: RECORD_VERSION, seq, session: session.to_string(), task_id, event: Event::DidCompleteWithError { error: Some(error) }, response: None, at: now }
}

/// Decides what happens to the unreadable task records and journal entries
/// of one session (`tasks` and `entries`: the readable ones, entries in
/// journal order). See the module documentation for the rules.
pub fn plan(bad_tasks: &[Unreadable], bad_entries: &[Unreadable], tasks: &[TaskRecord], entries: &[JournalEntry], now: f64) -> SetAside {
    let mut out = SetAside::default();
    // Tasks whose end is already planned: nothing more is said about them.
    let mut ended = plan_bad_tasks(&mut out, bad_tasks, now);
    let mut bad: Vec<&Unreadable> = bad_entries.iter().collect();
    crate::core::order::sort_by(&mut bad, |a, b| seq_of(&a.raw).partial_cmp(&seq_of(&b.raw)).unwrap_or(std::cmp::Ordering::Equal));
    for u in bad {
        let seq = seq_of(&u.raw);
        out.quarantine.push(aside("events", raw_key(&u.raw, &["seq"]), u.raw.clone(), &u.reason, now));
        let Some((session, id)) = task_key(&u.raw) else {
            out.log.push(format!("bgsession: journal entry {seq} could not be read ({}) and names no task; kept aside in the \"{QUARANTINE}\" store", u.reason));
            continue;
        };
        if ended.contains(&(session.clone(), id)) {
            continue; // its end is already said
        }
        let task = tasks.iter().find(|t| t.session == session && t.task_id == id);
        let mine = |e: &&JournalEntry| e.session == session && e.task_id == id;
        let ended_before = entries.iter().filter(mine).any(|e| e.seq.is_some_and(|s| (s as f64) < seq) && matches!(e.event, Event::DidCompleteWithError { .. }));
        match task.map(|t| t.state) {
            _ if ended_before => out.log.push(format!(
                "bgsession: journal entry {seq} of task {id} of session \"{session}\" could not be read ({}) and comes after the task's end; kept aside in the \"{QUARANTINE}\" store",
                u.reason
            )),
            Some(TaskState::Completed) => {
                let error = unreadable_error(&format!("an event of task {id} (journal entry {seq})"), &u.reason);
                out.entries.push(completion(&session, id, u64_seq(seq), error, now));
                // Nothing after the task's end: its later entries go aside too.
                for later in entries.iter().filter(mine).filter(|e| e.seq.is_some_and(|s| (s as f64) > seq)) {
                    // Through text, not to_value: the wasm has no second
                    // serialiser of every record type (the same Value).
                    let record = serde_json::to_string(later).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or(Value::Null);
                    let reason = format!("it came after journal entry {seq} of its task, which could not be read");
                    out.quarantine.push(aside("events", later.seq.map(Value::from).unwrap_or(Value::Null), record, &reason, now));
                }
                ended.insert((session, id));
            }
            Some(_) => out.log.push(format!(
                "bgsession: journal entry {seq} of task {id} of session \"{session}\" could not be read ({}); kept aside in the \"{QUARANTINE}\" store; the task goes on",
                u.reason
            )),
            None => out.log.push(format!(
                "bgsession: journal entry {seq} of task {id} of session \"{session}\" could not be read ({}) and its task is no longer stored; kept aside in the \"{QUARANTINE}\" store",
                u.reason
            )),
        }
    }
    out
}

/// Unreadable task records: each kept aside, and the task it names ended
/// (a stand-in record and its `didCompleteWithError`). Returns those tasks.
fn plan_bad_tasks(out: &mut SetAside, bad_tasks: &[Unreadable], now: f64) -> HashSet<(String, u64)> {
    let mut ended = HashSet::new();
    for u in bad_tasks {
        let key = raw_key(&u.raw, &["session", "taskId"]);
        out.quarantine.push(aside("tasks", key, u.raw.clone(), &u.reason, now));
        match task_key(&u.raw) {
            Some((session, id)) => {
                let what = format!("the stored record of task {id}");
                let error = unreadable_error(&what, &u.reason);
                out.tasks.push(stand_in(&u.raw, &session, id, error.clone(), now));
                out.entries.push(completion(&session, id, None, error, now));
                ended.insert((session, id));
            }
            None => out.log.push(format!("bgsession: a stored task record could not be read ({}) and names no task; kept aside in the \"{QUARANTINE}\" store", u.reason)),
        }
    }
    ended
}

/// What to do with unreadable file metadata: keep it aside, log it.
pub fn plan_files(bad: &[Unreadable], now: f64) -> SetAside {
    let mut out = SetAside::default();
    for u in bad {
        let key = raw_key(&u.raw, &["path"]);
        out.log.push(format!("bgsession: the metadata of file {key} could not be read ({}); kept aside in the \"{QUARANTINE}\" store", u.reason));
        out.quarantine.push(aside("files", key, u.raw.clone(), &u.reason, now));
    }
    out
}

fn seq_of(raw: &Value) -> f64 {
    raw.get("seq").and_then(Value::as_f64).unwrap_or(f64::NAN)
}

fn u64_seq(seq: f64) -> Option<u64> {
    (seq >= 0.0 && seq.fract() == 0.0).then_some(seq as u64)
}

/// The byte-store keys (`blobId`) that quarantined records name: their
/// bytes are kept.
pub fn blob_ids(quarantined: &[Value]) -> Vec<String> {
    quarantined.iter().filter_map(|q| q.get("record")?.get("blobId")?.as_str().map(str::to_string)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn old_task(id: u64, state: &str) -> Value {
        json!({"session": "s", "taskId": id, "kind": "download", "state": state,
               "originalRequest": {"url": "https://h/a", "method": "GET", "headers": {}},
               "currentRequest": {"url": "https://h/a", "method": "GET", "headers": {}},
               "taskDescription": "a.bin", "priority": 0.5, "createdAt": 1.0, "blobId": "b1",
               "segments": [10], "bytesReceived": 10})
    }

    fn entry(seq: u64, id: u64, event: Value) -> Value {
        json!({"seq": seq, "session": "s", "taskId": id, "event": event, "response": null, "at": 2.0})
    }

    #[test]
    fn records_of_2ddb749_are_read_and_upgraded() {
        let (tasks, bad) = decode_many::<TaskRecord>(vec![old_task(1, "running")]);
        assert!(bad.is_empty());
        assert_eq!((tasks[0].v, tasks[0].segments.clone()), (RECORD_VERSION, vec![10]));
        let (entries, bad) = decode_many::<JournalEntry>(vec![entry(3, 1, json!({"type": "didWriteData", "totalBytesWritten": 10, "totalBytesExpectedToWrite": 20}))]);
        assert!(bad.is_empty());
        assert_eq!(entries[0].v, RECORD_VERSION);
        let (files, bad) = decode_many::<FileMeta>(vec![json!({"path": "/Documents/a", "blobId": "b", "segments": [1], "size": 1, "modificationDate": 0.0})]);
        assert!(bad.is_empty());
        assert_eq!(files[0].v, RECORD_VERSION);
    }

    #[test]
    fn a_finished_download_of_2ddb749_gives_its_bytes_to_its_file() {
        let t: TaskRecord = decode_one(old_task(1, "completed")).unwrap();
        assert!(t.segments.is_empty(), "the temp file names them");
        let mut failed = old_task(2, "completed");
        failed["error"] = serde_json::to_value(crate::core::error::NsError::url(crate::core::error::UrlErrorCode::Cancelled, "")).unwrap();
        let t: TaskRecord = decode_one(failed).unwrap();
        assert_eq!(t.segments, [10], "a failed one's bytes may be resume data");
        let mut new = old_task(3, "completed");
        new["v"] = json!(1);
        let t: TaskRecord = decode_one(new).unwrap();
        assert_eq!(t.segments, [10], "only format 0 is migrated");
    }

    #[test]
    fn this_build_writes_its_version() {
        let t: TaskRecord = decode_one(old_task(1, "running")).unwrap();
        assert_eq!(serde_json::to_value(&t).unwrap()["v"], json!(RECORD_VERSION));
    }

    #[test]
    fn a_newer_format_is_not_guessed_at() {
        let mut raw = old_task(1, "running");
        raw["v"] = json!(RECORD_VERSION + 1);
        let u = decode_one::<TaskRecord>(raw).unwrap_err();
        assert!(u.reason.contains("newer version"), "{}", u.reason);
        let mut all: Vec<TaskRecord> = vec![decode_one(old_task(1, "running")).unwrap()];
        all[0].v = RECORD_VERSION + 1;
        assert!(!upgrade_all(&mut all));
    }

    #[test]
    fn an_unreadable_task_record_ends_that_task_with_an_error_naming_it() {
        let (_, bad) = decode_many::<TaskRecord>(vec![json!({"session": "s", "taskId": 77, "state": 12, "originalRequest": "garbage"})]);
        let p = plan(&bad, &[], &[], &[], 9.0);
        assert_eq!(p.quarantine.len(), 1);
        assert_eq!((p.quarantine[0].store.as_str(), p.quarantine[0].key.clone()), ("tasks", json!(["s", 77])));
        let t = &p.tasks[0];
        assert_eq!((t.task_id, t.state, t.segments.len()), (77, TaskState::Completed, 0));
        let Event::DidCompleteWithError { error: Some(e) } = &p.entries[0].event else { panic!("{:?}", p.entries) };
        assert_eq!((e.domain.as_str(), e.code), ("NSCocoaErrorDomain", 259));
        assert!(e.reason().unwrap().contains("task 77 could not be read"), "{e}");
        assert_eq!(p.entries[0].seq, None, "appended");
        assert!(p.log.is_empty());
    }

    #[test]
    fn a_task_record_naming_no_task_is_kept_aside_and_logged() {
        let (_, bad) = decode_many::<TaskRecord>(vec![json!({"session": "s", "taskId": "x"})]);
        let p = plan(&bad, &[], &[], &[], 0.0);
        assert_eq!((p.quarantine.len(), p.tasks.len(), p.entries.len(), p.log.len()), (1, 0, 0, 1));
    }

    #[test]
    fn an_unreadable_entry_of_a_finished_task_is_its_end_in_place() {
        let done: TaskRecord = decode_one(old_task(4, "completed")).unwrap();
        let (good, bad) = decode_many::<JournalEntry>(vec![
            entry(1, 4, json!({"type": "didWriteData", "totalBytesWritten": 5, "totalBytesExpectedToWrite": 10})),
            entry(2, 4, json!({"what": "nonsense"})),
            entry(3, 4, json!({"type": "didCompleteWithError", "error": null})),
        ]);
        let p = plan(&[], &bad, &[done], &good, 0.0);
        assert_eq!(p.entries.len(), 1);
        assert_eq!((p.entries[0].seq, p.entries[0].event.method()), (Some(2), "didCompleteWithError"));
        let aside: Vec<_> = p.quarantine.iter().map(|q| q.key.clone()).collect();
        assert_eq!(aside, [json!(2), json!(3)], "the bad entry and the task's later one");
    }

    #[test]
    fn an_unreadable_entry_after_its_tasks_end_is_only_kept_aside() {
        // The end is delivered (its acknowledgement not yet written): it is
        // not said again.
        let done: TaskRecord = decode_one(old_task(4, "completed")).unwrap();
        let (good, bad) = decode_many::<JournalEntry>(vec![entry(1, 4, json!({"type": "didCompleteWithError", "error": null})), entry(2, 4, json!({"what": 1}))]);
        let p = plan(&[], &bad, &[done], &good, 0.0);
        assert_eq!((p.quarantine.len(), p.entries.len(), p.log.len()), (1, 0, 1));
        assert!(p.log[0].contains("after the task's end"), "{:?}", p.log);
    }

    #[test]
    fn an_unreadable_entry_of_a_live_or_unknown_task_is_kept_aside_and_logged() {
        let running: TaskRecord = decode_one(old_task(4, "running")).unwrap();
        let (_, bad) = decode_many::<JournalEntry>(vec![entry(2, 4, json!({"what": 1})), entry(3, 9, json!({"what": 1})), json!({"seq": 5})]);
        let p = plan(&[], &bad, &[running], &[], 0.0);
        assert_eq!((p.quarantine.len(), p.entries.len(), p.tasks.len(), p.log.len()), (3, 0, 0, 3));
        assert!(p.log[0].contains("goes on") && p.log[1].contains("no longer stored") && p.log[2].contains("names no task"), "{:?}", p.log);
    }

    #[test]
    fn an_unreadable_task_with_unreadable_entries_ends_once() {
        let (_, bad_t) = decode_many::<TaskRecord>(vec![json!({"session": "s", "taskId": 4, "state": 1})]);
        let (_, bad_e) = decode_many::<JournalEntry>(vec![entry(2, 4, json!({"what": 1}))]);
        let p = plan(&bad_t, &bad_e, &[], &[], 0.0);
        assert_eq!((p.quarantine.len(), p.entries.len()), (2, 1));
    }

    #[test]
    fn quarantined_bytes_are_named() {
        let q = serde_json::to_value(aside("tasks", json!(["s", 1]), old_task(1, "running"), "r", 0.0)).unwrap();
        assert_eq!(blob_ids(&[q, json!({"record": 3})]), ["b1"]);
    }

    #[test]
    fn unreadable_file_metadata_is_kept_aside_and_logged() {
        let (_, bad) = decode_many::<FileMeta>(vec![json!({"path": "/Documents/x", "size": "big"})]);
        let p = plan_files(&bad, 0.0);
        assert_eq!((p.quarantine[0].key.clone(), p.log.len()), (json!("/Documents/x"), 1));
    }
}

#[cfg(test)]
mod glue_agrees {
    /// glue.js opens the database as the page's module loads, before the
    /// wasm: it must ask for the same version, and write delivered totals in
    /// this build's format.
    #[test]
    fn glue_js_uses_these_versions() {
        let glue = include_str!("../web/glue.js");
        assert!(glue.contains(&format!("export const SCHEMA_VERSION = {};", super::SCHEMA_VERSION)));
        assert!(glue.contains(&format!("delivered.put({{ v: {}, ", super::RECORD_VERSION)));
        for store in super::STORES {
            assert!(glue.contains(&format!("if (!has(\"{store}\"))")), "glue.js creates \"{store}\"");
        }
    }
}

#[cfg(test)]
mod schema {
    use super::*;

    fn names(extra: &[&str], without: &str) -> Vec<String> {
        STORES.iter().chain(extra).filter(|s| **s != without).map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_newer_database_with_every_store_this_build_needs_is_used() {
        assert_eq!(check_schema("bgsession", SCHEMA_VERSION, &names(&[], "")), Ok(()));
        // A deploy rolled back: a newer build added a store.
        assert_eq!(check_schema("bgsession", SCHEMA_VERSION + 1, &names(&["future"], "")), Ok(()));
    }

    #[test]
    fn a_database_without_a_store_this_build_needs_is_not_touched_and_the_error_says_why() {
        let err = check_schema("bgsession", SCHEMA_VERSION + 1, &names(&["future"], "files")).unwrap_err();
        for part in ["newer version of bgsession", &format!("schema {}", SCHEMA_VERSION + 1), &format!("this build's is {SCHEMA_VERSION}"), "\"files\"", "nothing in it was changed"] {
            assert!(err.contains(part), "{part:?} in {err}");
        }
        let err = check_schema("bgsession", SCHEMA_VERSION, &names(&[], QUARANTINE)).unwrap_err();
        assert!(err.contains("no \"quarantine\" store") && !err.contains("newer"), "{err}");
    }
}
