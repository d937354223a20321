//! The page's side of the journal as a deterministic machine: journal
//! entries in, delegate calls and acknowledgements out. It decides the
//! order of delivery, deduplication (an entry at or below the last one
//! delivered is never delivered again), group commit of acknowledgements,
//! when `urlSessionDidFinishEvents` is due, and when an invalidated session
//! says `didBecomeInvalidWithError`. One `Replayer` per session per page;
//! only the page holding the session's lock runs one.
//!
//! The host loops: perform [`Replayer::poll`]'s actions, report back with
//! `handle_*`. A delegate call is one at a time; acknowledgements are
//! written while the next calls run, at most [`MAX_ACKS_IN_FLIGHT`] waiting.
//!
//! # Examples
//!
//! ```
//! use bgsession::core::journal::{Event, JournalEntry};
//! use bgsession::core::replayer::{ReplayAction, Replayer};
//!
//! let entry = |seq, event| JournalEntry { seq: Some(seq), session: "s".into(), task_id: 1, event, response: None, at: 0.0 };
//! let mut r = Replayer::new();
//! r.handle_opened(vec![entry(1, Event::DidWriteData { total_bytes_written: 5, total_bytes_expected_to_write: 5 }),
//!                      entry(2, Event::DidCompleteWithError { error: None })], Default::default());
//! let mut calls = vec![];
//! while let Some(a) = r.poll() {
//!     match a {
//!         ReplayAction::Deliver { call, .. } => { calls.push(call.method); r.handle_delivered(); }
//!         ReplayAction::WriteAcks(_) => r.handle_acks_written(),
//!         ReplayAction::FinishEvents => calls.push("urlSessionDidFinishEvents"),
//!         other => panic!("{other:?}"),
//!     }
//! }
//! assert_eq!(calls, ["didWriteData", "didCompleteWithError", "urlSessionDidFinishEvents"]);
//! ```

use crate::core::journal::{ack_for, delegate_call, Ack, DelegateCall, Event, JournalEntry, ReplayTracker};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Acknowledgements waiting to be written before delivery pauses.
pub const MAX_ACKS_IN_FLIGHT: usize = 256;

/// What the replayer asks of its host.
#[derive(Clone, Debug, PartialEq)]
pub enum ReplayAction {
    /// Call the delegate; report [`Replayer::handle_delivered`] when it returned.
    Deliver {
        /// The entry (its task's state changes with it).
        entry: JournalEntry,
        /// The call to make.
        call: DelegateCall,
    },
    /// Write these acknowledgements in one transaction; report
    /// [`Replayer::handle_acks_written`].
    WriteAcks(Vec<Ack>),
    /// Read the session's pending entries; report [`Replayer::handle_entries`].
    ReadJournal,
    /// Call `urlSessionDidFinishEvents` (everything acknowledged on disk).
    FinishEvents,
    /// Call `didBecomeInvalidWithError(nil)`; the session is over.
    BecomeInvalid,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Life {
    Live,
    /// `finishTasksAndInvalidate`: invalid once no task is open.
    Finishing,
    Invalidated,
}

/// See the module documentation.
#[derive(Clone, Debug)]
pub struct Replayer {
    opened: bool,
    queue: VecDeque<JournalEntry>,
    delivered_up_to: u64,
    totals: BTreeMap<u64, u64>,
    tracker: ReplayTracker,
    in_delegate: bool,
    acks: Vec<Ack>,
    writing: bool,
    read_wanted: bool,
    reading: bool,
    life: Life,
    open_tasks: BTreeSet<u64>,
}

impl Default for Replayer {
    fn default() -> Self {
        Self::new()
    }
}

impl Replayer {
    /// A replayer for a session not yet opened.
    pub fn new() -> Self {
        Replayer {
            opened: false,
            queue: VecDeque::new(),
            delivered_up_to: 0,
            totals: BTreeMap::new(),
            tracker: ReplayTracker::default(),
            in_delegate: false,
            acks: Vec::new(),
            writing: false,
            read_wanted: false,
            reading: false,
            life: Life::Live,
            open_tasks: BTreeSet::new(),
        }
    }

    /// The session opened: its pending entries and the progress totals
    /// delivered before (per task), read in one transaction.
    pub fn handle_opened(&mut self, entries: Vec<JournalEntry>, delivered_totals: BTreeMap<u64, u64>) {
        self.opened = true;
        self.tracker.opened(entries.len());
        self.totals = delivered_totals;
        self.take(entries);
    }

    /// Did the session find events waiting when it opened (a relaunch)?
    pub fn was_relaunch(&self) -> bool {
        self.tracker.was_relaunch()
    }

    /// The daemon announced that the journal grew.
    pub fn handle_announced(&mut self) {
        self.read_wanted = true;
    }

    /// A read of the journal (asked by [`ReplayAction::ReadJournal`]).
    pub fn handle_entries(&mut self, entries: Vec<JournalEntry>) {
        self.reading = false;
        self.take(entries);
    }

    /// The delegate method returned (or its Promise settled).
    pub fn handle_delivered(&mut self) {
        self.in_delegate = false;
    }

    /// The last [`ReplayAction::WriteAcks`] committed.
    pub fn handle_acks_written(&mut self) {
        self.writing = false;
    }

    /// A task of this session is open (not completed) on the page's side.
    pub fn handle_task_open(&mut self, task_id: u64, open: bool) {
        if open {
            self.open_tasks.insert(task_id);
        } else {
            self.open_tasks.remove(&task_id);
        }
    }

    /// `finishTasksAndInvalidate()`.
    pub fn finish_tasks_and_invalidate(&mut self) {
        if self.life == Life::Live {
            self.life = Life::Finishing;
        }
    }

    /// Is the session invalidated?
    pub fn is_invalidated(&self) -> bool {
        self.life == Life::Invalidated
    }

    /// Nothing to deliver, read or write: every entry it had is acknowledged on disk.
    pub fn is_drained(&self) -> bool {
        self.queue.is_empty() && self.acks.is_empty() && !self.writing && !self.reading && !self.read_wanted && !self.in_delegate
    }

    /// Progress total last delivered for a task.
    pub fn delivered_total(&self, task_id: u64) -> u64 {
        self.totals.get(&task_id).copied().unwrap_or(0)
    }

    /// The next action, or `None` while waiting for the host.
    pub fn poll(&mut self) -> Option<ReplayAction> {
        if !self.opened || self.life == Life::Invalidated || self.in_delegate {
            return None;
        }
        if !self.writing && (!self.acks.is_empty()) && (self.acks.len() >= MAX_ACKS_IN_FLIGHT || self.queue.is_empty()) {
            self.writing = true;
            return Some(ReplayAction::WriteAcks(std::mem::take(&mut self.acks)));
        }
        if self.acks.len() >= MAX_ACKS_IN_FLIGHT {
            return None; // wait for the write in progress
        }
        if let Some(entry) = self.queue.pop_front() {
            return Some(self.deliver(entry));
        }
        if self.reading {
            return None;
        }
        if self.read_wanted {
            self.read_wanted = false;
            self.reading = true;
            return Some(ReplayAction::ReadJournal);
        }
        if self.writing || !self.acks.is_empty() {
            return None;
        }
        if self.life == Life::Finishing && self.open_tasks.is_empty() {
            self.life = Life::Invalidated;
            return Some(ReplayAction::BecomeInvalid);
        }
        self.tracker.drained().then_some(ReplayAction::FinishEvents)
    }

    fn take(&mut self, entries: Vec<JournalEntry>) {
        let floor = self.delivered_up_to.max(self.queue.back().and_then(|e| e.seq).unwrap_or(0));
        self.queue.extend(entries.into_iter().filter(|e| e.seq.map_or(true, |s| s > floor)));
    }

    fn deliver(&mut self, entry: JournalEntry) -> ReplayAction {
        let last = self.delivered_total(entry.task_id);
        let call = delegate_call(&entry, last);
        if let Some(seq) = entry.seq {
            self.delivered_up_to = self.delivered_up_to.max(seq);
        }
        if let Some(mut ack) = ack_for(&entry) {
            if let Some(total) = ack.delivered_total {
                self.totals.insert(entry.task_id, total);
            }
            if ack.forget_task && self.totals.remove(&entry.task_id).is_none() {
                ack.forget_task = false;
            }
            self.acks.push(ack);
        }
        if matches!(entry.event, Event::DidCompleteWithError { .. }) {
            self.open_tasks.remove(&entry.task_id);
        }
        self.in_delegate = true;
        ReplayAction::Deliver { entry, call }
    }
}
