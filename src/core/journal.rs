//! The event journal's rules: what an event is, how progress is coalesced,
//! what the delegate is called with, what acknowledging an event changes,
//! and when `urlSessionDidFinishEvents` is due.
//!
//! The journal is an append-only log per session (IndexedDB `events`, keyed
//! by an increasing `seq`). The daemon appends; the one page holding the
//! session's lock delivers entries in `seq` order and deletes each one only
//! after the delegate method (and its Promise) returned. An entry whose
//! delivery was cut short by a closing page is therefore delivered again on
//! the next open, and never twice after it returned.
//!
//! # Examples
//!
//! Progress is coalesced on append, and the delegate still gets the right
//! `bytesWritten` on replay:
//!
//! ```
//! use bgsession::core::journal::{self, AppendPlan, CallArgs, Event, JournalEntry};
//!
//! let progress = |total| Event::DidWriteData { total_bytes_written: total, total_bytes_expected_to_write: 100 };
//! let entry = |seq, event| JournalEntry { v: 1, seq: Some(seq), session: "s".into(), task_id: 1, event, response: None, at: 0.0 };
//!
//! // Nothing journalled yet for the task: append.
//! assert_eq!(journal::plan_append(None, &progress(10)), AppendPlan::Append);
//! // Entry 7 (progress 10) is still there: progress 30 replaces it.
//! let previous = entry(7, progress(10));
//! assert_eq!(journal::plan_append(Some(&previous), &progress(30)), AppendPlan::ReplaceThenAppend(7));
//! // Any other event is appended as it is.
//! let finished = Event::DidFinishDownloadingTo { location: "file:///tmp/CFNetworkDownload_1.tmp".into() };
//! assert_eq!(journal::plan_append(Some(&previous), &finished), AppendPlan::Append);
//!
//! // The page last delivered 10 bytes; the coalesced entry says 30 of 100.
//! let call = journal::delegate_call(&entry(8, progress(30)), 10);
//! assert_eq!(call.method, "didWriteData");
//! assert_eq!(call.args, CallArgs::Numbers(vec![20.0, 30.0, 100.0])); // bytesWritten, total, expected
//!
//! // Acknowledging it records 30 as delivered, for the next delta.
//! let ack = journal::ack_for(&entry(8, progress(30))).unwrap();
//! assert_eq!((ack.seq, ack.delivered_total), (8, Some(30)));
//! ```

use crate::core::error::NsError;
use crate::core::request::ResponseInfo;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A delegate event as journalled.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Event {
    /// Progress: totals only; the per-call `bytesWritten` is computed at
    /// delivery from what the page last delivered, so coalescing loses nothing
    /// (`urlSession(_:downloadTask:didWriteData:totalBytesWritten:totalBytesExpectedToWrite:)`).
    #[serde(rename_all = "camelCase")]
    DidWriteData {
        /// Bytes of the body stored so far.
        total_bytes_written: u64,
        /// The body's length, -1 when unknown (`NSURLSessionTransferSizeUnknown`).
        total_bytes_expected_to_write: i64,
    },
    /// A download continues from stored bytes
    /// (`urlSession(_:downloadTask:didResumeAtOffset:expectedTotalBytes:)`).
    #[serde(rename_all = "camelCase")]
    DidResumeAtOffset {
        /// Bytes already stored, kept: the transfer goes on from here.
        file_offset: u64,
        /// The body's length, -1 when unknown.
        expected_total_bytes: i64,
    },
    /// Upload progress, totals only as for `DidWriteData`
    /// (`urlSession(_:task:didSendBodyData:totalBytesSent:totalBytesExpectedToSend:)`).
    #[serde(rename_all = "camelCase")]
    DidSendBodyData {
        /// Bytes of the file sent (bgsession reports it once: the whole
        /// size, when the server has answered).
        total_bytes_sent: u64,
        /// The file's size in bytes.
        total_bytes_expected_to_send: i64,
    },
    /// `location` is a `file:///tmp/…` sandbox URL, removed after delivery
    /// unless the delegate moved it
    /// (`urlSession(_:downloadTask:didFinishDownloadingTo:)`).
    #[serde(rename_all = "camelCase")]
    DidFinishDownloadingTo {
        /// The temporary file, e.g. `file:///tmp/CFNetworkDownload_….tmp`.
        location: String,
    },
    /// Part of an upload's response body (`urlSession(_:dataTask:didReceive:)`),
    /// base64 in the journal, a `Uint8Array` for the delegate.
    #[serde(rename_all = "camelCase")]
    DidReceiveData {
        /// The bytes, standard base64 ([`crate::core::base64`]).
        data: String,
    },
    /// Offline, or on a link the task may not use ([`crate::core::network`]):
    /// the task waits for connectivity; told once per spell
    /// (`urlSession(_:taskIsWaitingForConnectivity:)`).
    TaskIsWaitingForConnectivity,
    /// A delayed task's date has come: may it start?
    /// (`urlSession(_:task:willBeginDelayedRequest:completionHandler:)`; see
    /// [`crate::core::delayed`]).
    #[serde(rename_all = "camelCase")]
    WillBeginDelayedRequest {
        /// The request the task would make (its current request).
        request: crate::core::request::Request,
    },
    /// The task is over (`urlSession(_:task:didCompleteWithError:)`); always
    /// its last event.
    #[serde(rename_all = "camelCase")]
    DidCompleteWithError {
        /// `None` on success (an HTTP error status is a success, as on iOS).
        error: Option<NsError>,
    },
}

/// The derive's decoder for an internally tagged enum is the largest
/// function of the page's wasm: this one reads the event's object as a
/// `serde_json::Value`, with the derive's errors (`protocol::tagged`).
impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        Event::from_value(&value).map_err(serde::de::Error::custom)
    }
}

const EVENT_TYPES: &[&str] = &["didWriteData", "didResumeAtOffset", "didSendBodyData", "didFinishDownloadingTo", "didReceiveData", "taskIsWaitingForConnectivity", "willBeginDelayedRequest", "didCompleteWithError"];

impl Event {
    fn from_value(value: &serde_json::Value) -> Result<Event, serde_json::Error> {
        use crate::core::protocol::{field, field_text, opt_text, tagged};
        let (i, map) = tagged(value, "internally tagged enum Event", "type", EVENT_TYPES)?;
        Ok(match i {
            0 => Event::DidWriteData { total_bytes_written: field(map, "totalBytesWritten")?, total_bytes_expected_to_write: field(map, "totalBytesExpectedToWrite")? },
            1 => Event::DidResumeAtOffset { file_offset: field(map, "fileOffset")?, expected_total_bytes: field(map, "expectedTotalBytes")? },
            2 => Event::DidSendBodyData { total_bytes_sent: field(map, "totalBytesSent")?, total_bytes_expected_to_send: field(map, "totalBytesExpectedToSend")? },
            3 => Event::DidFinishDownloadingTo { location: field(map, "location")? },
            4 => Event::DidReceiveData { data: field(map, "data")? },
            5 => Event::TaskIsWaitingForConnectivity,
            6 => Event::WillBeginDelayedRequest { request: field_text(map, "request")? },
            _ => Event::DidCompleteWithError { error: map.get("error").map_or(Ok(None), opt_text)? },
        })
    }

    /// The delegate method's JS name.
    pub fn method(&self) -> &'static str {
        match self {
            Event::DidWriteData { .. } => "didWriteData",
            Event::DidResumeAtOffset { .. } => "didResumeAtOffset",
            Event::DidSendBodyData { .. } => "didSendBodyData",
            Event::DidFinishDownloadingTo { .. } => "didFinishDownloadingTo",
            Event::DidReceiveData { .. } => "didReceiveData",
            Event::TaskIsWaitingForConnectivity => "taskIsWaitingForConnectivity",
            Event::WillBeginDelayedRequest { .. } => "willBeginDelayedRequest",
            Event::DidCompleteWithError { .. } => "didCompleteWithError",
        }
    }

    fn is_progress(&self) -> bool {
        matches!(self, Event::DidWriteData { .. } | Event::DidSendBodyData { .. })
    }
}

/// One journal entry (IndexedDB `events` store).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JournalEntry {
    /// Format version of the stored record (`"v"`; absent = 0, the format
    /// of 2ddb749): [`RECORD_VERSION`](crate::core::stored::RECORD_VERSION)
    /// once read or made by this build (see `core::stored`).
    #[serde(default)]
    pub v: u32,
    /// Assigned by the store on append.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The session's identifier.
    pub session: String,
    /// The task's `taskIdentifier`.
    pub task_id: u64,
    /// What happened.
    pub event: Event,
    /// The task's response when the event was made, so a replayed task shows it.
    #[serde(default)]
    pub response: Option<ResponseInfo>,
    /// Wall time of the event (ms since epoch), for timelines.
    pub at: f64,
}

/// How to append an event, given the newest entry this daemon appended for
/// the same task (which may since have been delivered and deleted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppendPlan {
    /// Append the event as a new entry.
    Append,
    /// Delete entry `seq` (a no-op if the page already consumed it), then append:
    /// progress is coalesced so a replay gives the latest, not every chunk.
    ReplaceThenAppend(u64),
}

/// Decides how to journal `new` for a task, given `previous_of_task`, the
/// newest entry this daemon appended for it (`None`: none yet). Only
/// progress (`didWriteData`, `didSendBodyData`) replaces an entry, and only
/// one of the same method; an entry without a `seq` is never replaced.
pub fn plan_append(previous_of_task: Option<&JournalEntry>, new: &Event) -> AppendPlan {
    match previous_of_task {
        Some(prev) if new.is_progress() && prev.event.method() == new.method() => match prev.seq {
            Some(seq) => AppendPlan::ReplaceThenAppend(seq),
            None => AppendPlan::Append,
        },
        _ => AppendPlan::Append,
    }
}

/// The arguments after `(session, task)` of a delegate call.
#[derive(Clone, Debug, PartialEq)]
pub enum CallArgs {
    /// Nothing more (`taskIsWaitingForConnectivity`).
    None,
    /// Byte counts, in Apple's argument order: `didWriteData` and
    /// `didSendBodyData` get `[bytes, totalBytes, totalBytesExpected]`,
    /// `didResumeAtOffset` `[fileOffset, expectedTotalBytes]`; an expected
    /// length is -1 when unknown.
    Numbers(Vec<f64>),
    /// The `file:///tmp/…` location (`didFinishDownloadingTo`).
    Location(String),
    /// Response bytes (`didReceiveData`).
    Bytes(Vec<u8>),
    /// The request a delayed task is about to make (`willBeginDelayedRequest`).
    Request(crate::core::request::Request),
    /// The error, `None` on success (`didCompleteWithError`).
    Error(Option<NsError>),
}

/// A delegate call to make for an entry.
#[derive(Clone, Debug, PartialEq)]
pub struct DelegateCall {
    /// The delegate method's JS name, e.g. `"didWriteData"` (see [`Event::method`]).
    pub method: &'static str,
    /// Its arguments after `(session, task)`.
    pub args: CallArgs,
}

/// The delegate call for `entry`, given the progress total last delivered
/// for its task (0 if none).
pub fn delegate_call(entry: &JournalEntry, last_delivered_total: u64) -> DelegateCall {
    let args = match &entry.event {
        Event::DidWriteData { total_bytes_written: t, total_bytes_expected_to_write: e } => {
            // After a restart from zero the total drops: the delta is the new total.
            let written = if *t >= last_delivered_total { t - last_delivered_total } else { *t };
            CallArgs::Numbers(vec![written as f64, *t as f64, *e as f64])
        }
        Event::DidSendBodyData { total_bytes_sent: t, total_bytes_expected_to_send: e } => {
            let sent = if *t >= last_delivered_total { t - last_delivered_total } else { *t };
            CallArgs::Numbers(vec![sent as f64, *t as f64, *e as f64])
        }
        Event::DidResumeAtOffset { file_offset, expected_total_bytes } => {
            CallArgs::Numbers(vec![*file_offset as f64, *expected_total_bytes as f64])
        }
        Event::DidFinishDownloadingTo { location } => CallArgs::Location(location.clone()),
        Event::DidReceiveData { data } => CallArgs::Bytes(crate::core::base64::decode(data).unwrap_or_default()),
        Event::TaskIsWaitingForConnectivity => CallArgs::None,
        Event::WillBeginDelayedRequest { request } => CallArgs::Request(request.clone()),
        Event::DidCompleteWithError { error } => CallArgs::Error(error.clone()),
    };
    DelegateCall { method: entry.event.method(), args }
}

/// What acknowledging a delivered entry changes, in one transaction.
#[derive(Clone, Debug, PartialEq)]
pub struct Ack {
    /// The delivered entry, to delete.
    pub seq: u64,
    /// Its task (whose delivered-progress total this changes).
    pub task_id: u64,
    /// New "last delivered progress total" of the task, if it changes.
    pub delivered_total: Option<u64>,
    /// The temp file of `didFinishDownloadingTo`, to remove if it still
    /// exists (the delegate did not move it): the acknowledgement lists it
    /// on disk, [`ReplayAction::RemoveTempFiles`](crate::core::replayer::ReplayAction::RemoveTempFiles)
    /// removes it.
    pub remove_file: Option<String>,
    /// The task is over: forget its delivered-total bookkeeping (and its
    /// record, once completed, unless it holds bytes kept for resume data).
    pub forget_task: bool,
    /// With `forget_task`: a delivered total may be stored for the task, to
    /// delete. `ack_for` says true; the [`Replayer`](crate::core::replayer::Replayer),
    /// which knows every total of its session, says false when none is, so
    /// the acknowledgement spends no request on it.
    pub forget_total: bool,
    /// With `forget_task`: the task's stored record, read in the same
    /// transaction as this entry, was completed and held no bytes. A
    /// completed record never gains bytes, so it is deleted without being
    /// read again. Otherwise the acknowledgement reads it and deletes it
    /// only if it is completed and holds no bytes kept for resume data.
    pub record_over: bool,
}

/// What acknowledging a delivered `entry` changes; `None` if it has no `seq`
/// (it was never stored, so there is nothing to delete).
pub fn ack_for(entry: &JournalEntry) -> Option<Ack> {
    let seq = entry.seq?;
    let mut ack = Ack { seq, task_id: entry.task_id, delivered_total: None, remove_file: None, forget_task: false, forget_total: false, record_over: false };
    match &entry.event {
        Event::DidWriteData { total_bytes_written: t, .. } => ack.delivered_total = Some(*t),
        Event::DidSendBodyData { total_bytes_sent: t, .. } => ack.delivered_total = Some(*t),
        Event::DidResumeAtOffset { file_offset, .. } => ack.delivered_total = Some(*file_offset),
        Event::DidFinishDownloadingTo { location } => ack.remove_file = Some(location.clone()),
        Event::TaskIsWaitingForConnectivity | Event::DidReceiveData { .. } | Event::WillBeginDelayedRequest { .. } => {}
        Event::DidCompleteWithError { .. } => (ack.forget_task, ack.forget_total) = (true, true),
    }
    Some(ack)
}

/// Tracks one page's session: was anything queued when it opened, and is
/// `urlSessionDidFinishEvents` now due (once, after the queue drained)?
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplayTracker {
    queued_at_open: Option<bool>,
    finish_sent: bool,
}

impl ReplayTracker {
    /// The session opened and found `pending` journalled entries.
    pub fn opened(&mut self, pending: usize) {
        if self.queued_at_open.is_none() {
            self.queued_at_open = Some(pending > 0);
        }
    }

    /// Did the session find events waiting when it opened (a "relaunch")?
    pub fn was_relaunch(&self) -> bool {
        self.queued_at_open == Some(true)
    }

    /// Is `urlSessionDidFinishEvents` still to come (a relaunch, not yet drained)?
    pub fn finish_pending(&self) -> bool {
        self.was_relaunch() && !self.finish_sent
    }

    /// The journal is drained; true once if `urlSessionDidFinishEvents` is due.
    pub fn drained(&mut self) -> bool {
        if self.was_relaunch() && !self.finish_sent {
            self.finish_sent = true;
            true
        } else {
            false
        }
    }
}

/// Whether a session's view read before the page held its events lock (the
/// launch reads the views of the sessions it lists, while it lists them)
/// still stands once the page holds the lock, completed by the entries
/// appended since. `all_still_stored`: every entry of the view is still in
/// the journal; `mark_then`, `mark_now`: the session's mark (0: none) in the
/// view and now.
///
/// Only a page holding the lock takes entries away: whatever it delivered,
/// it then either moved the mark or deleted the entries (in any order, if a
/// write failed and a later one did not). So an unchanged mark and every
/// entry still stored mean that no page delivered any of the view's entries
/// (one that delivered and wrote nothing, closing first, leaves them to be
/// delivered again, as it would for a view read under the lock). The daemon
/// only appends (the entries after the view's last are read with the check)
/// and coalesces progress, deleting the entry it replaces: then the view is
/// read again.
///
/// ```
/// use bgsession::core::journal::early_view_stands;
/// assert!(early_view_stands(true, 0, 0));
/// assert!(!early_view_stands(true, 0, 7), "a page marked entries delivered meanwhile");
/// assert!(!early_view_stands(false, 0, 0), "an entry was acknowledged (or replaced) meanwhile");
/// ```
pub fn early_view_stands(all_still_stored: bool, mark_then: u64, mark_now: u64) -> bool {
    all_still_stored && mark_then == mark_now
}

/// Checks the per-task order of a sequence of events against API.md:
/// `(didResumeAtOffset | didWriteData | didSendBodyData)* didFinishDownloadingTo? didCompleteWithError`,
/// with nothing after completion and a finish only followed by success.
pub fn check_order<'a>(entries: impl IntoIterator<Item = &'a JournalEntry>) -> Result<(), String> {
    #[derive(PartialEq, Clone, Copy)]
    enum S {
        Progress,
        Finished,
        Completed,
    }
    let mut tasks: BTreeMap<(String, u64), S> = BTreeMap::new();
    for e in entries {
        let key = (e.session.clone(), e.task_id);
        let s = *tasks.get(&key).unwrap_or(&S::Progress);
        let next = match (&e.event, s) {
            (_, S::Completed) => return Err(format!("task {}: {} after didCompleteWithError", e.task_id, e.event.method())),
            (Event::DidFinishDownloadingTo { .. }, S::Progress) => S::Finished,
            (Event::DidCompleteWithError { error: Some(_) }, S::Finished) => {
                return Err(format!("task {}: an error after didFinishDownloadingTo", e.task_id))
            }
            (Event::DidCompleteWithError { .. }, _) => S::Completed,
            (_, S::Finished) => return Err(format!("task {}: {} after didFinishDownloadingTo", e.task_id, e.event.method())),
            (_, S::Progress) => S::Progress,
        };
        tasks.insert(key, next);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::error::UrlErrorCode;

    fn entry(seq: u64, task: u64, event: Event) -> JournalEntry {
        JournalEntry { v: 1, seq: Some(seq), session: "s".into(), task_id: task, event, response: None, at: 0.0 }
    }
    fn wd(total: u64) -> Event {
        Event::DidWriteData { total_bytes_written: total, total_bytes_expected_to_write: 100 }
    }
    fn fin() -> Event {
        Event::DidFinishDownloadingTo { location: "file:///tmp/a.tmp".into() }
    }
    fn done(err: Option<NsError>) -> Event {
        Event::DidCompleteWithError { error: err }
    }

    #[test]
    fn an_early_view_stands_only_while_no_page_delivered_from_it() {
        // Nothing happened, or the daemon appended: it stands.
        assert!(early_view_stands(true, 0, 0));
        assert!(early_view_stands(true, 12, 12), "the same mark an earlier page left");
        // A page marked entries delivered (a first mark, or a later one).
        assert!(!early_view_stands(true, 0, 12));
        assert!(!early_view_stands(true, 12, 30));
        // A page acknowledged entries in full: they went, and the mark with them.
        assert!(!early_view_stands(false, 12, 0));
        // Some went, the mark as it was: a page acknowledged a later batch
        // while an earlier one failed, or the daemon replaced progress.
        assert!(!early_view_stands(false, 0, 0));
    }

    #[test]
    fn progress_is_coalesced_other_events_never() {
        assert_eq!(plan_append(None, &wd(10)), AppendPlan::Append);
        assert_eq!(plan_append(Some(&entry(7, 1, wd(10))), &wd(20)), AppendPlan::ReplaceThenAppend(7));
        assert_eq!(plan_append(Some(&entry(7, 1, wd(10))), &fin()), AppendPlan::Append);
        assert_eq!(plan_append(Some(&entry(8, 1, fin())), &done(None)), AppendPlan::Append);
        let resumed = Event::DidResumeAtOffset { file_offset: 5, expected_total_bytes: 9 };
        assert_eq!(plan_append(Some(&entry(9, 1, resumed)), &wd(20)), AppendPlan::Append);
        assert_eq!(plan_append(Some(&entry(9, 1, wd(5))), &Event::TaskIsWaitingForConnectivity), AppendPlan::Append);
        let c = delegate_call(&entry(10, 1, Event::TaskIsWaitingForConnectivity), 0);
        assert_eq!((c.method, c.args), ("taskIsWaitingForConnectivity", CallArgs::None));
    }

    #[test]
    fn bytes_written_is_the_delta_since_last_delivery() {
        // Delivered 10; entries for 30 (coalesced from 20 and 30) then 50.
        let c = delegate_call(&entry(1, 1, wd(30)), 10);
        assert_eq!(c.method, "didWriteData");
        assert_eq!(c.args, CallArgs::Numbers(vec![20.0, 30.0, 100.0]));
        let c = delegate_call(&entry(2, 1, wd(50)), 30);
        assert_eq!(c.args, CallArgs::Numbers(vec![20.0, 50.0, 100.0]));
        // A restart from zero: totals drop, delta is the new total.
        let c = delegate_call(&entry(3, 1, wd(5)), 50);
        assert_eq!(c.args, CallArgs::Numbers(vec![5.0, 5.0, 100.0]));
    }

    #[test]
    fn replaying_a_coalesced_journal_sums_to_the_total() {
        // The daemon appends progress 10, 20, ..., 100; the page is away.
        let mut journal: Vec<JournalEntry> = Vec::new();
        let mut last: Option<JournalEntry> = None;
        let mut seq = 0;
        for total in (10..=100).step_by(10) {
            let ev = wd(total);
            if let AppendPlan::ReplaceThenAppend(old) = plan_append(last.as_ref(), &ev) {
                journal.retain(|e| e.seq != Some(old));
            }
            seq += 1;
            let e = entry(seq, 1, ev);
            journal.push(e.clone());
            last = Some(e);
        }
        assert_eq!(journal.len(), 1, "replay gives the latest, not every chunk");
        let mut delivered = 0;
        let mut sum = 0.0;
        for e in &journal {
            if let CallArgs::Numbers(n) = delegate_call(e, delivered).args {
                sum += n[0];
            }
            delivered = ack_for(e).unwrap().delivered_total.unwrap();
        }
        assert_eq!(sum, 100.0);
    }

    #[test]
    fn ack_removes_unmoved_temp_file_and_forgets_finished_tasks() {
        let a = ack_for(&entry(4, 1, fin())).unwrap();
        assert_eq!(a.seq, 4);
        assert_eq!(a.remove_file.as_deref(), Some("file:///tmp/a.tmp"));
        assert!(!a.forget_task);
        let a = ack_for(&entry(5, 1, done(None))).unwrap();
        assert!(a.forget_task);
        let a = ack_for(&entry(6, 1, wd(42))).unwrap();
        assert_eq!(a.delivered_total, Some(42));
        let mut unsaved = entry(0, 1, wd(1));
        unsaved.seq = None;
        assert_eq!(ack_for(&unsaved), None, "only stored entries are acknowledged");
    }

    #[test]
    fn finish_events_once_and_only_after_a_relaunch() {
        let mut t = ReplayTracker::default();
        t.opened(3);
        assert!(t.was_relaunch());
        assert!(t.drained());
        assert!(!t.drained(), "once");
        t.opened(5);
        assert!(!t.drained());

        let mut live = ReplayTracker::default();
        live.opened(0);
        assert!(!live.drained(), "nothing was queued: no relaunch, no finish");
        live.opened(2);
        assert!(!live.drained(), "the first open decides");
    }

    #[test]
    fn order_checker_accepts_apples_order_and_rejects_others() {
        let ok = [entry(1, 1, wd(1)), entry(2, 2, wd(1)), entry(3, 1, fin()), entry(4, 2, done(Some(NsError::url(UrlErrorCode::Cancelled, "")))), entry(5, 1, done(None))];
        assert_eq!(check_order(&ok), Ok(()));
        let bad = [entry(1, 1, fin()), entry(2, 1, wd(1))];
        assert!(check_order(&bad).unwrap_err().contains("after didFinishDownloadingTo"));
        let bad = [entry(1, 1, done(None)), entry(2, 1, done(None))];
        assert!(check_order(&bad).is_err());
        let bad = [entry(1, 1, fin()), entry(2, 1, done(Some(NsError::url(UrlErrorCode::TimedOut, ""))))];
        assert!(check_order(&bad).is_err());
    }

    #[test]
    fn entries_serialise_with_a_type_tag() {
        let v = serde_json::to_value(entry(1, 2, wd(3))).unwrap();
        assert_eq!(v["event"]["type"], "didWriteData");
        assert_eq!(v["event"]["totalBytesWritten"], 3);
        assert_eq!(v["taskId"], 2);
        let back: JournalEntry = serde_json::from_value(v).unwrap();
        assert_eq!(back.event, wd(3));
        let mut e = entry(1, 2, wd(3));
        e.seq = None;
        assert!(serde_json::to_value(e).unwrap().get("seq").is_none(), "the store assigns seq");
    }
}

/// Records inside events are read from their text (`protocol::from_text`):
/// what decodes and the errors (positions included) are the derive's, as
/// checked against it when the change was made.
#[cfg(test)]
mod records_in_events {
    use super::*;

    #[test]
    fn entries_decode_and_fail_as_before() {
        let cases = [
            (r#"{"session":"s","taskId":1,"at":0,"event":{"type":"didCompleteWithError","error":{"domain":3}}}"#, r#"invalid type: integer `3`, expected a string at line 1 column 94"#),
            (r#"{"session":"s","taskId":1,"at":0,"event":{"type":"didCompleteWithError","error":"x"}}"#, r#"invalid type: string "x", expected struct NsError at line 1 column 85"#),
            (r#"{"session":"s","taskId":1,"at":0,"event":{"type":"willBeginDelayedRequest"}}"#, r#"missing field `request` at line 1 column 76"#),
            (r#"{"session":"s","taskId":1,"at":0,"event":{"type":"willBeginDelayedRequest","request":{"url":5}}}"#, r#"invalid type: integer `5`, expected a string at line 1 column 96"#),
            (r#"{"session":"s","taskId":1,"at":0,"event":{"type":"willBeginDelayedRequest","request":{"url":"https://a/b","headers":{"a":1}}}}"#, r#"invalid type: integer `1`, expected a string at line 1 column 126"#),
        ];
        for (json, want) in cases {
            assert_eq!(serde_json::from_str::<JournalEntry>(json).unwrap_err().to_string(), want);
        }
        let ok = |json: &str| serde_json::from_str::<JournalEntry>(json).unwrap().event;
        assert_eq!(format!("{:?}", ok(r#"{"session":"s","taskId":1,"at":0,"event":{"type":"didCompleteWithError"}}"#)), r#"DidCompleteWithError { error: None }"#);
        assert_eq!(format!("{:?}", ok(r#"{"session":"s","taskId":1,"at":0,"event":{"type":"didCompleteWithError","error":null}}"#)), r#"DidCompleteWithError { error: None }"#);
        assert_eq!(format!("{:?}", ok(r#"{"session":"s","taskId":1,"at":0,"event":{"type":"didCompleteWithError","error":{"domain":"NSURLErrorDomain","code":-999,"localizedDescription":"cancelled"}}}"#)), r#"DidCompleteWithError { error: Some(NsError { domain: "NSURLErrorDomain", code: -999, localized_description: "cancelled", user_info: {} }) }"#);
        assert_eq!(format!("{:?}", ok(r#"{"session":"s","taskId":1,"at":0,"event":{"type":"willBeginDelayedRequest","request":{"url":"https://a/b"}}}"#)), r#"WillBeginDelayedRequest { request: Request { url: "https://a/b", method: "GET", headers: {} } }"#);
    }
}
