//! The page's side of the journal as a deterministic machine: journal
//! entries in, delegate calls and acknowledgements out. It decides the
//! order of delivery, deduplication (an entry at or below the last one
//! delivered is never delivered again), group commit of acknowledgements,
//! when `urlSessionDidFinishEvents` is due, and when an invalidated session
//! says `didBecomeInvalidWithError`. One `Replayer` per session per page;
//! only the page holding the session's lock opens it
//! ([`Replayer::handle_opened`]); until then it decides only the invalidation.
//!
//! The host loops: perform [`Replayer::poll`]'s actions, report back with
//! `handle_*`. A delegate call is one at a time; acknowledgements are
//! written while the next calls run (whatever waits goes as soon as the
//! write before committed), at most [`MAX_ACKS_IN_FLIGHT`] waiting. Nothing
//! is delivered while a fresh task's identifier may still change
//! ([`Replayer::handle_identifier_pending`]). A failed read, write or
//! delivery is retried at the next announcement.
//!
//! The temp files the delegate did not move are removed once delivery and
//! its acknowledgements are done ([`ReplayAction::RemoveTempFiles`]; after
//! `urlSessionDidFinishEvents` on a relaunch), all in one transaction, not
//! in each acknowledgement: an acknowledgement only lists them, which needs
//! no read, so it commits without waiting for the page's main thread (11–14
//! ms a batch of 256 in a relaunch's replay when it read and removed them,
//! `tests/bench/ack-cost.mjs`). A page closed in between leaves the lists;
//! the next one to open the session removes what they name
//! ([`Replayer::handle_unremoved_temp_files`]).
//!
//! While more is to be delivered (the rest of a relaunch's queue, or its
//! `urlSessionDidFinishEvents`), an acknowledgement is a mark: one small
//! record, "delivered up to entry N" ([`ReplayAction::MarkDelivered`]),
//! not the entries' deletion with their tasks' bookkeeping, which waits
//! until nothing is left to deliver ([`ReplayAction::WriteAcks`] then
//! writes every acknowledgement not yet written in full and deletes the
//! mark). A mark costs 0.5 ms a batch in Chromium against 3.4 ms (the
//! entries and their tasks: `tests/bench/ack-cost.mjs`), and its
//! transaction leaves IndexedDB free for the replay's other work. A page
//! closed in between leaves the mark: the next page to open the session
//! takes the entries at or below it as delivered, without calling the
//! delegate ([`Replayer::handle_delivered_mark`]), and writes their
//! acknowledgements.
//!
//! # Examples
//!
//! ```
//! use bgsession::core::journal::{Event, JournalEntry};
//! use bgsession::core::replayer::{ReplayAction, Replayer};
//!
//! let entry = |seq, event| JournalEntry { v: 1, seq: Some(seq), session: "s".into(), task_id: 1, event, response: None, at: 0.0 };
//! let mut r = Replayer::new();
//! r.handle_opened(vec![entry(1, Event::DidWriteData { total_bytes_written: 5, total_bytes_expected_to_write: 5 }),
//!                      entry(2, Event::DidCompleteWithError { error: None })], []);
//! let mut calls = vec![];
//! while let Some(a) = r.poll() {
//!     match a {
//!         ReplayAction::Deliver { call, .. } => { calls.push(call.method); r.handle_delivered(); }
//!         ReplayAction::MarkDelivered(_) => r.handle_mark_written(),
//!         ReplayAction::FinishEvents => calls.push("urlSessionDidFinishEvents"),
//!         ReplayAction::WriteAcks(_) => r.handle_acks_written(),
//!         other => panic!("{other:?}"),
//!     }
//! }
//! assert_eq!(calls, ["didWriteData", "didCompleteWithError", "urlSessionDidFinishEvents"]);
//! ```

use crate::core::journal::{ack_for, delegate_call, Ack, DelegateCall, Event, JournalEntry, ReplayTracker};
use crate::core::task::TaskRecord;
use crate::core::path::{Root, SandboxPath};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Acknowledgements waiting to be written before delivery pauses. With the
/// batch being written it bounds what a page closed in the middle of a
/// replay can have delivered without its acknowledgement on disk (at most
/// twice this; those entries are delivered again on the next launch). 128
/// made 1,000 events ~25 ms slower to replay in Chromium.
pub const MAX_ACKS_IN_FLIGHT: usize = 256;

/// Acknowledgements a page holds under marks, not yet written in full,
/// before it writes them all even with more to deliver: bounds its memory
/// and the size of that write (and what a next page takes from a mark).
pub const MAX_MARKED: usize = 4096;

/// What the replayer asks of its host.
// Made by `poll` one at a time and never queued, so the size of the
// delivery variant costs nothing (boxing it would cost an allocation per
// event on the replay's hot path).
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum ReplayAction {
    /// Call the delegate; report [`Replayer::handle_delivered`] when it returned.
    Deliver {
        /// The entry (its task's state changes with it).
        entry: JournalEntry,
        /// The call to make.
        call: DelegateCall,
    },
    /// Write these acknowledgements in one transaction, and delete the
    /// session's mark ([`ReplayAction::MarkDelivered`]): they are every one
    /// not yet written in full. Report [`Replayer::handle_acks_written`].
    WriteAcks(Vec<Ack>),
    /// Store that the session's entries up to this key are delivered (one
    /// record per session, replaced by each mark): an acknowledgement of
    /// them all, whose full write waits ([`ReplayAction::WriteAcks`]).
    /// Report [`Replayer::handle_mark_written`].
    MarkDelivered(u64),
    /// Read the session's pending entries; report [`Replayer::handle_entries`].
    ReadJournal,
    /// Call `urlSessionDidFinishEvents` (everything acknowledged on disk).
    FinishEvents,
    /// Remove these temp files where they still exist (the locations of
    /// acknowledged `didFinishDownloadingTo` entries: the delegate did not
    /// move them), their bytes, and the session's stored lists of them, in
    /// one transaction; report [`Replayer::handle_temp_files_removed`].
    RemoveTempFiles(Vec<String>),
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
    /// Tasks whose delivered total may be stored: on disk when the session
    /// opened, or set by a batch handed to the host since.
    stored_totals: BTreeSet<u64>,
    /// Tasks whose stored record, read with the entries at open, was
    /// completed with no bytes kept ([`Replayer::handle_records`]).
    records_over: BTreeSet<u64>,
    tracker: ReplayTracker,
    /// The entry whose delegate call is running.
    delivering: Option<JournalEntry>,
    acks: Vec<Ack>,
    /// Acknowledgements the mark being written covers.
    marking: Vec<Ack>,
    /// Acknowledgements a written mark covers, to write in full.
    marked: Vec<Ack>,
    /// The mark an earlier page left on disk (0: none).
    stored_mark: u64,
    /// An acknowledgement batch or a removal of temp files is being written.
    writing: bool,
    /// The temp files named by the batch being written.
    writing_temp_files: Vec<String>,
    /// Temp files of acknowledged entries (the acknowledgement listed them
    /// on disk), to remove.
    temp_files: Vec<String>,
    read_wanted: bool,
    reading: bool,
    /// A read, write or delivery failed: nothing more until the next announcement.
    stalled: bool,
    /// Fresh tasks whose identifier the daemon has not confirmed yet.
    unsettled: usize,
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
            stored_totals: BTreeSet::new(),
            records_over: BTreeSet::new(),
            tracker: ReplayTracker::default(),
            delivering: None,
            acks: Vec::new(),
            marking: Vec::new(),
            marked: Vec::new(),
            stored_mark: 0,
            writing: false,
            writing_temp_files: Vec::new(),
            temp_files: Vec::new(),
            read_wanted: false,
            reading: false,
            stalled: false,
            unsettled: 0,
            life: Life::Live,
            open_tasks: BTreeSet::new(),
        }
    }

    /// The session opened: its pending entries and the progress totals
    /// delivered before (per task), read in one transaction.
    pub fn handle_opened(&mut self, entries: Vec<JournalEntry>, delivered_totals: impl IntoIterator<Item = (u64, u64)>) {
        self.opened = true;
        self.totals = BTreeMap::new(); // inserts, not collect(): no sort instance in the wasm
        self.totals.extend(delivered_totals);
        for task in self.totals.keys() {
            self.stored_totals.insert(*task);
        }
        self.take(entries);
        // Entries an earlier page delivered (under its mark) do not make a relaunch.
        self.tracker.opened(self.queue.len());
    }

    /// The mark an earlier page stored ([`ReplayAction::MarkDelivered`]),
    /// read with the entries; given before [`Replayer::handle_opened`]. The
    /// entries at or below it were delivered: they are not delivered again,
    /// and their acknowledgements are written in full with this page's.
    pub fn handle_delivered_mark(&mut self, up_to: u64) {
        debug_assert!(!self.opened, "the mark is read with the entries");
        self.stored_mark = self.stored_mark.max(up_to);
    }

    /// The session's stored task records, read in the same transaction as
    /// the entries given to [`Replayer::handle_opened`]: those completed
    /// with no bytes kept are deleted by their last acknowledgement without
    /// being read again ([`Ack::record_over`]; a completed record never
    /// gains bytes, and an identifier is never given twice).
    pub fn handle_records(&mut self, records: &[TaskRecord]) {
        for r in records.iter().filter(|r| r.is_over()) {
            self.records_over.insert(r.task_id);
        }
    }

    /// Temp files that an earlier page's acknowledgements listed for removal
    /// and that page did not remove (it closed first), read with the
    /// entries given to [`Replayer::handle_opened`]: removed once this
    /// page's delivery is done.
    /// Only files in `/tmp` are taken: a list read from disk that names any
    /// other file is not obeyed for it.
    pub fn handle_unremoved_temp_files(&mut self, locations: Vec<String>) {
        // Parsed in full: lists are read only after a page closed mid-replay.
        let in_tmp = |l: &String| SandboxPath::parse(l).is_ok_and(|p| p.root() == Root::Tmp && !p.is_root());
        self.temp_files.extend(locations.into_iter().filter(in_tmp));
    }

    /// Has the session opened (this page holds its events)?
    pub fn is_opened(&self) -> bool {
        self.opened
    }

    /// Did the session find events waiting when it opened (a relaunch)?
    pub fn was_relaunch(&self) -> bool {
        self.tracker.was_relaunch()
    }

    /// The daemon announced that the journal grew (this also retries
    /// whatever failed before).
    pub fn handle_announced(&mut self) {
        self.read_wanted = true;
        self.stalled = false;
    }

    /// A read of the journal (asked by [`ReplayAction::ReadJournal`]).
    pub fn handle_entries(&mut self, entries: Vec<JournalEntry>) {
        self.reading = false;
        self.take(entries);
    }

    /// The read asked by [`ReplayAction::ReadJournal`] failed: read again
    /// at the next announcement.
    pub fn handle_read_failed(&mut self) {
        self.reading = false;
        self.stalled = true;
    }

    /// The delegate method returned (or its Promise settled; a delegate
    /// that threw counts as delivered: it would only throw again). The
    /// entry's acknowledgement joins the next batch.
    pub fn handle_delivered(&mut self) {
        let Some(entry) = self.delivering.take() else { return };
        if let Some(ack) = self.delivered(&entry) {
            self.acks.push(ack);
        }
    }

    /// Bookkeeping of a delivered entry; its acknowledgement, if any.
    fn delivered(&mut self, entry: &JournalEntry) -> Option<Ack> {
        if let Some(seq) = entry.seq {
            self.delivered_up_to = self.delivered_up_to.max(seq);
        }
        let ack = ack_for(entry);
        if let Some(ack) = &ack {
            if let Some(total) = ack.delivered_total {
                self.totals.insert(entry.task_id, total);
            }
            if ack.forget_task {
                // The task is over: its stored total goes, and its record
                // (unless it holds bytes kept for resume data).
                self.totals.remove(&entry.task_id);
            }
        }
        if matches!(entry.event, Event::DidCompleteWithError { .. }) {
            self.open_tasks.remove(&entry.task_id);
        }
        ack
    }

    /// The host could not make the delegate call (its task could not be
    /// read, the daemon did not take a delayed request's answer): the entry
    /// is delivered again, first, at the next announcement.
    pub fn handle_delivery_failed(&mut self) {
        if let Some(entry) = self.delivering.take() {
            self.queue.push_front(entry);
            self.stalled = true;
        }
    }

    /// The last [`ReplayAction::WriteAcks`] committed.
    pub fn handle_acks_written(&mut self) {
        self.writing = false;
        let listed = std::mem::take(&mut self.writing_temp_files);
        self.temp_files.extend(listed);
    }

    /// The last [`ReplayAction::WriteAcks`] failed: written again, before
    /// the later ones, at the next announcement.
    pub fn handle_acks_failed(&mut self, mut acks: Vec<Ack>) {
        self.writing = false;
        self.writing_temp_files.clear(); // named again by the acks, written again
        // Nothing of it was written: the totals and records it deleted are stored still.
        for a in acks.iter().filter(|a| a.forget_task) {
            if a.forget_total {
                self.stored_totals.insert(a.task_id);
            }
            if a.record_over {
                self.records_over.insert(a.task_id);
            }
        }
        acks.append(&mut self.acks);
        self.acks = acks;
        self.stalled = true;
    }

    /// The last [`ReplayAction::MarkDelivered`] committed.
    pub fn handle_mark_written(&mut self) {
        self.writing = false;
        let covered = std::mem::take(&mut self.marking);
        self.marked.extend(covered);
    }

    /// The last [`ReplayAction::MarkDelivered`] failed: its entries are
    /// acknowledged again, first, at the next announcement.
    pub fn handle_mark_failed(&mut self) {
        self.writing = false;
        let mut acks = std::mem::take(&mut self.marking);
        acks.append(&mut self.acks);
        self.acks = acks;
        self.stalled = true;
    }

    /// The last [`ReplayAction::RemoveTempFiles`] committed.
    pub fn handle_temp_files_removed(&mut self) {
        self.writing = false;
    }

    /// The last [`ReplayAction::RemoveTempFiles`] failed: tried again at
    /// the next announcement (the lists stay on disk meanwhile).
    pub fn handle_temp_files_failed(&mut self, mut locations: Vec<String>) {
        self.writing = false;
        locations.append(&mut self.temp_files);
        self.temp_files = locations;
        self.stalled = true;
    }

    /// A task of this session is open (not completed) on the page's side.
    pub fn handle_task_open(&mut self, task_id: u64, open: bool) {
        if open {
            self.open_tasks.insert(task_id);
        } else {
            self.open_tasks.remove(&task_id);
        }
    }

    /// A fresh task went to the daemon, which may give it another
    /// identifier (another tab numbered a task alike): nothing is delivered
    /// until [`Replayer::handle_identifier_settled`], so the delegate never
    /// sees a task under a number it is about to lose.
    pub fn handle_identifier_pending(&mut self) {
        self.unsettled += 1;
    }

    /// The daemon answered (or failed to answer) a fresh task's resume.
    pub fn handle_identifier_settled(&mut self) {
        self.unsettled = self.unsettled.saturating_sub(1);
    }

    /// `finishTasksAndInvalidate()` (or `invalidateAndCancel()`, whose
    /// cancellations complete every task).
    pub fn finish_tasks_and_invalidate(&mut self) {
        if self.life == Life::Live {
            self.life = Life::Finishing;
        }
    }

    /// Does the session take new tasks (not being invalidated)?
    pub fn is_live(&self) -> bool {
        self.life == Life::Live
    }

    /// Is the session invalidated?
    pub fn is_invalidated(&self) -> bool {
        self.life == Life::Invalidated
    }

    /// Nothing to deliver, read or write: every entry it had is acknowledged
    /// on disk, and the temp files of those the delegate did not move are removed.
    pub fn is_drained(&self) -> bool {
        self.queue.is_empty() && self.acks.is_empty() && self.marked.is_empty() && !self.writing && !self.reading && !self.read_wanted && self.delivering.is_none() && self.temp_files.is_empty()
    }

    /// The journal key a read for [`ReplayAction::ReadJournal`] may start
    /// after: an entry at or below it was delivered or is queued already,
    /// and [`Replayer::handle_entries`] drops it. 0 when nothing was yet.
    pub fn read_after(&self) -> u64 {
        let queued = self.queue.back().or(self.delivering.as_ref()).and_then(|e| e.seq).unwrap_or(0);
        self.delivered_up_to.max(queued)
    }

    /// Progress total last delivered for a task.
    pub fn delivered_total(&self, task_id: u64) -> u64 {
        self.totals.get(&task_id).copied().unwrap_or(0)
    }

    /// The next action, or `None` while waiting for the host.
    pub fn poll(&mut self) -> Option<ReplayAction> {
        if self.life == Life::Invalidated || self.delivering.is_some() || self.stalled {
            return None;
        }
        if !self.opened {
            // Waiting for the events lock: only the invalidation can happen.
            return self.invalidate_if_done();
        }
        // Group commit: whatever waits is written as soon as the write
        // before has committed (a page closed mid-replay has delivered
        // little that is not acknowledged on disk).
        if !self.writing && !self.acks.is_empty() {
            self.writing = true;
            if self.mark_pays() {
                self.marking = std::mem::take(&mut self.acks);
                return Some(ReplayAction::MarkDelivered(self.delivered_up_to));
            }
            return Some(self.write_in_full());
        }
        if self.acks.len() >= MAX_ACKS_IN_FLIGHT || (!self.queue.is_empty() && self.unsettled > 0) {
            return None; // wait for the write in progress, or for an identifier
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
        // Delivered and acknowledged. The temp files go after
        // urlSessionDidFinishEvents (the app's wait is for its events),
        // and before the invalidation (which gives up the session's lock).
        if !self.invalidating() && self.tracker.drained() {
            return Some(ReplayAction::FinishEvents);
        }
        if !self.marked.is_empty() {
            self.writing = true;
            return Some(self.write_in_full());
        }
        if !self.temp_files.is_empty() {
            self.writing = true;
            return Some(ReplayAction::RemoveTempFiles(std::mem::take(&mut self.temp_files)));
        }
        self.invalidate_if_done()
    }

    /// Is a mark the acknowledgement to write now? While more is to be
    /// delivered (entries queued or being read, or a relaunch's
    /// `urlSessionDidFinishEvents`), unless [`MAX_MARKED`] are held.
    fn mark_pays(&self) -> bool {
        let finish = self.tracker.finish_pending() && !self.invalidating();
        let more = !self.queue.is_empty() || self.reading || self.read_wanted || finish;
        more && self.marked.len() + self.acks.len() <= MAX_MARKED
    }

    /// Every acknowledgement not yet written in full, as one batch (the
    /// write deletes the mark).
    fn write_in_full(&mut self) -> ReplayAction {
        let mut acks = std::mem::take(&mut self.marked);
        acks.append(&mut self.acks);
        self.writing_temp_files = acks.iter().filter_map(|a| a.remove_file.clone()).collect();
        ReplayAction::WriteAcks(self.batch(acks))
    }

    /// Makes the acknowledgements waiting into one batch: a task's total
    /// set and then forgotten in the same batch is not written at all, and a
    /// forgotten total is deleted only if one may be stored (this page is
    /// the session's one writer of totals: it knows them all). Each request
    /// saved is a round trip to the browser's storage process.
    fn batch(&mut self, mut acks: Vec<Ack>) -> Vec<Ack> {
        let mut forgotten_later = BTreeSet::new();
        for a in acks.iter_mut().rev() {
            if a.forget_task {
                forgotten_later.insert(a.task_id);
            } else if forgotten_later.contains(&a.task_id) {
                a.delivered_total = None;
            }
        }
        for a in &mut acks {
            if a.delivered_total.is_some() {
                self.stored_totals.insert(a.task_id);
            }
            if a.forget_task {
                a.forget_total = self.stored_totals.remove(&a.task_id);
                a.record_over = self.records_over.remove(&a.task_id);
            }
        }
        acks
    }

    /// Will the session be invalidated once drained (no finish then)?
    fn invalidating(&self) -> bool {
        self.life == Life::Finishing && self.open_tasks.is_empty()
    }

    fn invalidate_if_done(&mut self) -> Option<ReplayAction> {
        if self.invalidating() {
            self.life = Life::Invalidated;
            return Some(ReplayAction::BecomeInvalid);
        }
        None
    }

    fn take(&mut self, entries: Vec<JournalEntry>) {
        // Journal order is seq order: an entry at or below the last one
        // delivered (or queued) was read before (before its ack was written).
        let floor = self.read_after();
        for e in entries.into_iter().filter(|e| e.seq.map_or(true, |s| s > floor)) {
            if e.seq.is_some_and(|s| s <= self.stored_mark) {
                // Delivered by an earlier page, under its mark.
                if let Some(ack) = self.delivered(&e) {
                    self.marked.push(ack);
                }
            } else {
                self.queue.push_back(e);
            }
        }
    }

    fn deliver(&mut self, entry: JournalEntry) -> ReplayAction {
        let call = delegate_call(&entry, self.delivered_total(entry.task_id));
        self.delivering = Some(entry.clone());
        ReplayAction::Deliver { entry, call }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::task::TaskState;
    use crate::core::journal::CallArgs;

    fn entry(seq: u64, task_id: u64, event: Event) -> JournalEntry {
        JournalEntry { v: 1, seq: Some(seq), session: "s".into(), task_id, event, response: None, at: 0.0 }
    }
    fn progress(seq: u64, task_id: u64, total: u64) -> JournalEntry {
        entry(seq, task_id, Event::DidWriteData { total_bytes_written: total, total_bytes_expected_to_write: 100 })
    }
    fn done(seq: u64, task_id: u64) -> JournalEntry {
        entry(seq, task_id, Event::DidCompleteWithError { error: None })
    }

    enum Write {
        Acks,
        Mark,
        Removal,
    }

    /// Plays the host: delivers, reads `journal` when asked, and writes
    /// acknowledgements while the next calls run (a write commits when the
    /// machine has nothing else to do); returns what it did, in order.
    fn run(r: &mut Replayer, journal: &[JournalEntry]) -> Vec<String> {
        let mut out = vec![];
        // The write in progress.
        let mut writing = None;
        loop {
            let Some(a) = r.poll() else {
                match writing.take() {
                    None => return out,
                    Some(Write::Acks) => r.handle_acks_written(),
                    Some(Write::Mark) => r.handle_mark_written(),
                    Some(Write::Removal) => r.handle_temp_files_removed(),
                }
                out.push("committed".into());
                continue;
            };
            match a {
                ReplayAction::Deliver { entry, call } => {
                    out.push(format!("{}#{}", call.method, entry.seq.unwrap()));
                    r.handle_delivered();
                }
                ReplayAction::WriteAcks(acks) => {
                    assert!(writing.is_none(), "one write at a time");
                    writing = Some(Write::Acks);
                    out.push(format!("ack{:?}", acks.iter().map(|a| a.seq).collect::<Vec<_>>()));
                }
                ReplayAction::MarkDelivered(up_to) => {
                    assert!(writing.is_none(), "one write at a time");
                    writing = Some(Write::Mark);
                    out.push(format!("mark{up_to}"));
                }
                ReplayAction::ReadJournal => {
                    out.push("read".into());
                    r.handle_entries(journal.to_vec());
                }
                ReplayAction::FinishEvents => out.push("finish".into()),
                ReplayAction::RemoveTempFiles(files) => {
                    assert!(writing.is_none(), "one write at a time");
                    writing = Some(Write::Removal);
                    out.push(format!("remove{files:?}"));
                }
                ReplayAction::BecomeInvalid => out.push("invalid".into()),
            }
        }
    }

    fn finished(seq: u64, task_id: u64, location: &str) -> JournalEntry {
        entry(seq, task_id, Event::DidFinishDownloadingTo { location: location.into() })
    }

    #[test]
    fn temp_files_are_listed_by_their_acks_and_removed_together_after_the_finish() {
        let mut r = Replayer::new();
        r.handle_opened(vec![finished(1, 1, "file:///tmp/a.tmp"), done(2, 1), finished(3, 2, "file:///tmp/b.tmp"), done(4, 2)], []);
        let out = run(&mut r, &[]);
        assert_eq!(
            out,
            [
                "didFinishDownloadingTo#1",
                "mark1",
                "didCompleteWithError#2",
                "didFinishDownloadingTo#3",
                "didCompleteWithError#4",
                "committed",
                "mark4",
                "committed",
                "finish",
                "ack[1, 2, 3, 4]",
                "committed",
                r#"remove["file:///tmp/a.tmp", "file:///tmp/b.tmp"]"#,
                "committed"
            ]
        );
        assert!(r.is_drained());
        assert_eq!(r.poll(), None, "removed once");
    }

    #[test]
    fn a_temp_file_is_not_removed_before_its_acknowledgement_is_written() {
        let mut r = Replayer::new();
        r.handle_opened(vec![finished(1, 1, "file:///tmp/a.tmp")], []);
        assert!(matches!(r.poll(), Some(ReplayAction::Deliver { .. })));
        r.handle_delivered();
        assert_eq!(r.poll(), Some(ReplayAction::MarkDelivered(1)), "a mark: the finish waits");
        assert_eq!(r.poll(), None, "nothing while the mark is written");
        r.handle_mark_written();
        assert_eq!(r.poll(), Some(ReplayAction::FinishEvents));
        let Some(ReplayAction::WriteAcks(acks)) = r.poll() else { panic!() };
        assert_eq!(acks[0].remove_file.as_deref(), Some("file:///tmp/a.tmp"), "the acknowledgement lists it");
        assert_eq!(r.poll(), None, "nothing while the acknowledgement is written");
        assert!(!r.is_drained());
        // The write failed: nothing was listed; it is written again, then removed.
        r.handle_acks_failed(acks);
        r.handle_announced();
        assert_eq!(run(&mut r, &[]), ["mark1", "read", "committed", "ack[1]", "committed", r#"remove["file:///tmp/a.tmp"]"#, "committed"]);
        assert!(r.is_drained());
    }

    #[test]
    fn temp_files_an_earlier_page_left_are_removed_after_this_ones_events() {
        let mut r = Replayer::new();
        r.handle_opened(vec![finished(5, 2, "file:///tmp/b.tmp")], []);
        r.handle_unremoved_temp_files(vec!["file:///tmp/a.tmp".into()]);
        assert!(!r.is_drained(), "a removal is due");
        let out = run(&mut r, &[]);
        assert_eq!(out, ["didFinishDownloadingTo#5", "mark5", "committed", "finish", "ack[5]", "committed", r#"remove["file:///tmp/a.tmp", "file:///tmp/b.tmp"]"#, "committed"]);
        // With no events at all, the leftovers are removed all the same (no finish: no relaunch).
        let mut r = Replayer::new();
        r.handle_opened(vec![], []);
        r.handle_unremoved_temp_files(vec!["file:///tmp/a.tmp".into()]);
        assert_eq!(run(&mut r, &[]), [r#"remove["file:///tmp/a.tmp"]"#, "committed"]);
        // A list read from disk is obeyed for temp files only.
        let mut r = Replayer::new();
        r.handle_opened(vec![], []);
        let listed = ["file:///Documents/keep.bin", "file:///tmp/", "file:///tmp/../Documents/x", "garbage", "file:///tmpx/a", "file:///tmp/a.tmp"];
        r.handle_unremoved_temp_files(listed.iter().map(|s| s.to_string()).collect());
        assert_eq!(run(&mut r, &[]), [r#"remove["file:///tmp/a.tmp"]"#, "committed"]);
    }

    #[test]
    fn a_failed_removal_is_tried_again_at_the_next_announcement() {
        let mut r = Replayer::new();
        r.handle_opened(vec![], []);
        r.handle_unremoved_temp_files(vec!["file:///tmp/a.tmp".into()]);
        let Some(ReplayAction::RemoveTempFiles(files)) = r.poll() else { panic!() };
        r.handle_temp_files_failed(files);
        assert_eq!(r.poll(), None, "stalled until the next announcement");
        assert!(!r.is_drained());
        r.handle_announced();
        assert_eq!(r.poll(), Some(ReplayAction::ReadJournal));
        r.handle_entries(vec![]);
        assert_eq!(r.poll(), Some(ReplayAction::RemoveTempFiles(vec!["file:///tmp/a.tmp".into()])));
    }

    #[test]
    fn temp_files_are_removed_before_the_invalidation_gives_up_the_lock() {
        let mut r = Replayer::new();
        r.handle_opened(vec![finished(1, 1, "file:///tmp/a.tmp"), done(2, 1)], []);
        r.finish_tasks_and_invalidate();
        let out = run(&mut r, &[]);
        assert_eq!(out, ["didFinishDownloadingTo#1", "mark1", "didCompleteWithError#2", "committed", "ack[1, 2]", "committed", r#"remove["file:///tmp/a.tmp"]"#, "committed", "invalid"], "no finish comes: no mark waits for it");
    }

    #[test]
    fn an_entry_read_twice_is_delivered_once_and_acks_carry_their_task() {
        let mut r = Replayer::new();
        r.handle_opened(vec![progress(1, 7, 10), progress(2, 7, 20)], [(7, 5)]);
        let Some(ReplayAction::Deliver { call, .. }) = r.poll() else { panic!() };
        assert_eq!(call.method, "didWriteData");
        r.handle_delivered();
        r.handle_announced();
        // The read returns entries 1 and 2 again (not acknowledged yet) and 3.
        let out = run(&mut r, &[progress(1, 7, 10), progress(2, 7, 20), done(3, 7)]);
        assert_eq!(out, ["mark1", "didWriteData#2", "read", "didCompleteWithError#3", "committed", "mark3", "committed", "finish", "ack[1, 2, 3]", "committed"]);
        assert!(r.is_drained());
    }

    #[test]
    fn acks_are_group_committed_at_most_max_in_flight_waiting() {
        /// Replays `n` entries, each write committing only when the machine
        /// has nothing else to do (delivery goes on meanwhile); returns the
        /// marks' keys and the sizes of the writes in full, in order.
        fn replay(n: u64) -> (Vec<u64>, Vec<usize>, Vec<&'static str>) {
            let mut r = Replayer::new();
            r.handle_opened((1..=n).map(|s| progress(s, 1, s)).collect(), []);
            let (mut marks, mut full, mut order) = (vec![], vec![], vec![]);
            let mut in_flight: Option<bool> = None; // Some(true): a mark
            loop {
                let Some(a) = r.poll() else {
                    match in_flight.take() {
                        None => break,
                        Some(true) => r.handle_mark_written(),
                        Some(false) => r.handle_acks_written(),
                    }
                    continue;
                };
                match a {
                    ReplayAction::Deliver { .. } => r.handle_delivered(),
                    ReplayAction::MarkDelivered(up_to) => {
                        assert!(in_flight.is_none(), "one write at a time");
                        (in_flight, _) = (Some(true), marks.push(up_to));
                        order.push("mark");
                    }
                    ReplayAction::WriteAcks(acks) => {
                        assert!(in_flight.is_none(), "one write at a time");
                        (in_flight, _) = (Some(false), full.push(acks.len()));
                        order.push("full");
                    }
                    ReplayAction::FinishEvents => order.push("finish"),
                    other => panic!("{other:?}"),
                }
            }
            assert!(r.is_drained());
            (marks, full, order)
        }
        let n = MAX_ACKS_IN_FLIGHT as u64 * 2 + 10;
        let (marks, full, order) = replay(n);
        assert_eq!(marks[0], 1, "the first is marked at once");
        assert_eq!(*marks.last().unwrap(), n);
        let steps: Vec<u64> = marks.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(steps.iter().all(|&d| d as usize <= MAX_ACKS_IN_FLIGHT), "{steps:?}");
        assert!(steps.contains(&(MAX_ACKS_IN_FLIGHT as u64)), "delivery waited for the write at the bound: {steps:?}");
        assert_eq!(full, [n as usize], "written in full once, all together");
        assert_eq!(&order[order.len() - 2..], ["finish", "full"], "after the finish");
        // Past MAX_MARKED held, they are written in full before the end.
        let n = MAX_MARKED as u64 + 600;
        let (_, full, _) = replay(n);
        assert!(full.len() >= 2, "{full:?}");
        assert!(full.iter().all(|&f| f <= MAX_MARKED + MAX_ACKS_IN_FLIGHT), "{full:?}");
        assert_eq!(full.iter().sum::<usize>() as u64, n, "every entry acknowledged in full once");
    }

    #[test]
    fn entries_an_earlier_page_marked_are_not_delivered_and_are_acknowledged_in_full() {
        let journal = [finished(1, 1, "file:///tmp/a.tmp"), done(2, 1), progress(3, 2, 40), done(4, 2)];
        let mut r = Replayer::new();
        r.handle_delivered_mark(3);
        r.handle_opened(journal.to_vec(), [(2, 10)]);
        assert!(r.was_relaunch(), "entry 4 was never delivered");
        assert_eq!(r.delivered_total(2), 40, "the marked progress counts as delivered");
        let out = run(&mut r, &[]);
        assert_eq!(out, ["didCompleteWithError#4", "mark4", "committed", "finish", "ack[1, 2, 3, 4]", "committed", r#"remove["file:///tmp/a.tmp"]"#, "committed"]);
        // Everything marked: nothing delivered, no relaunch, written in full all the same.
        let mut r = Replayer::new();
        r.handle_delivered_mark(4);
        r.handle_opened(journal.to_vec(), []);
        assert!(!r.was_relaunch());
        assert_eq!(run(&mut r, &[]), ["ack[1, 2, 3, 4]", "committed", r#"remove["file:///tmp/a.tmp"]"#, "committed"]);
        assert!(r.is_drained());
        // A later read gives nothing at or below the mark again.
        r.handle_announced();
        assert_eq!(run(&mut r, &journal), ["read"]);
    }

    #[test]
    fn a_failed_delivery_is_delivered_again_first_at_the_next_announcement() {
        let mut r = Replayer::new();
        r.handle_opened(vec![progress(1, 1, 10), progress(2, 1, 20)], []);
        assert!(matches!(r.poll(), Some(ReplayAction::Deliver { .. })));
        r.handle_delivery_failed();
        assert_eq!(r.poll(), None, "stalled until announced");
        assert!(!r.is_drained());
        r.handle_announced();
        let out = run(&mut r, &[progress(1, 1, 10), progress(2, 1, 20)]);
        assert_eq!(out, ["didWriteData#1", "mark1", "didWriteData#2", "read", "committed", "mark2", "committed", "finish", "ack[1, 2]", "committed"]);
    }

    #[test]
    fn a_failed_ack_write_is_written_again_before_later_ones() {
        // Live (nothing queued at open): an entry alone is acknowledged in full.
        let mut r = Replayer::new();
        r.handle_opened(vec![], []);
        r.handle_announced();
        assert_eq!(r.poll(), Some(ReplayAction::ReadJournal));
        r.handle_entries(vec![progress(1, 1, 10)]);
        assert!(matches!(r.poll(), Some(ReplayAction::Deliver { .. })));
        r.handle_delivered();
        let Some(ReplayAction::WriteAcks(acks)) = r.poll() else { panic!() };
        r.handle_acks_failed(acks);
        assert_eq!(r.poll(), None, "stalled until the next announcement");
        assert!(!r.is_drained());
        r.handle_announced();
        let out = run(&mut r, &[progress(1, 1, 10), done(2, 1)]);
        assert_eq!(out, ["mark1", "read", "didCompleteWithError#2", "committed", "ack[1, 2]", "committed"], "the failed batch first");
        // In a relaunch the finish waits for it.
        let mut r = Replayer::new();
        r.handle_opened(vec![progress(1, 1, 10)], []);
        assert!(matches!(r.poll(), Some(ReplayAction::Deliver { .. })));
        r.handle_delivered();
        assert_eq!(r.poll(), Some(ReplayAction::MarkDelivered(1)));
        r.handle_mark_failed();
        assert_eq!(r.poll(), None, "no urlSessionDidFinishEvents: nothing is on disk");
        r.handle_announced();
        assert_eq!(run(&mut r, &[progress(1, 1, 10), done(2, 1)]), ["mark1", "read", "didCompleteWithError#2", "committed", "mark2", "committed", "finish", "ack[1, 2]", "committed"]);
    }

    #[test]
    fn a_read_needs_only_the_entries_after_read_after() {
        let journal = [progress(1, 1, 10), progress(2, 1, 20), done(3, 1), done(4, 2)];
        let mut r = Replayer::new();
        assert_eq!(r.read_after(), 0, "nothing delivered or queued");
        r.handle_opened(journal[..2].to_vec(), []);
        assert_eq!(r.read_after(), 2, "the last one queued");
        assert!(matches!(r.poll(), Some(ReplayAction::Deliver { .. })));
        r.handle_delivered();
        r.handle_announced();
        let mut from_after = r.clone();
        let whole = run(&mut r, &journal);
        assert_eq!(whole, ["mark1", "didWriteData#2", "read", "didCompleteWithError#3", "didCompleteWithError#4", "committed", "mark4", "committed", "finish", "ack[1, 2, 3, 4]", "committed"]);
        let after = from_after.read_after();
        let tail: Vec<JournalEntry> = journal.iter().filter(|e| e.seq.unwrap() > after).cloned().collect();
        assert_eq!(tail.len(), 2);
        assert_eq!(run(&mut from_after, &tail), whole, "the same deliveries from the entries after it alone");
    }

    #[test]
    fn a_failed_read_is_retried_at_the_next_announcement() {
        let mut r = Replayer::new();
        r.handle_opened(vec![], []);
        r.handle_announced();
        assert_eq!(r.poll(), Some(ReplayAction::ReadJournal));
        r.handle_read_failed();
        assert_eq!(r.poll(), None);
        r.handle_announced();
        assert_eq!(run(&mut r, &[done(4, 2)]), ["read", "didCompleteWithError#4", "ack[4]", "committed"], "no finish: nothing was queued at open");
    }

    #[test]
    fn nothing_is_delivered_while_a_fresh_task_identifier_is_unsettled() {
        let mut r = Replayer::new();
        r.handle_opened(vec![], []);
        r.handle_identifier_pending();
        r.handle_announced();
        assert_eq!(r.poll(), Some(ReplayAction::ReadJournal));
        r.handle_entries(vec![progress(1, 3, 10)]);
        assert_eq!(r.poll(), None, "the task may be renumbered: wait");
        r.handle_identifier_settled();
        assert_eq!(run(&mut r, &[]), ["didWriteData#1", "ack[1]", "committed"]);
    }

    #[test]
    fn unsettled_identifiers_hold_delivery_but_not_the_acks_already_due() {
        let mut r = Replayer::new();
        r.handle_opened(vec![progress(1, 1, 10), progress(2, 1, 20)], []);
        assert!(matches!(r.poll(), Some(ReplayAction::Deliver { .. })));
        r.handle_delivered();
        r.handle_identifier_pending();
        assert_eq!(r.poll(), Some(ReplayAction::MarkDelivered(1)));
        r.handle_mark_written();
        assert_eq!(r.poll(), None);
    }

    #[test]
    fn finishing_invalidates_once_the_last_open_task_completed_and_acks_are_written() {
        let mut r = Replayer::new();
        r.handle_task_open(1, true);
        r.handle_opened(vec![], []);
        r.finish_tasks_and_invalidate();
        assert!(!r.is_live() && !r.is_invalidated());
        assert_eq!(r.poll(), None);
        r.handle_announced();
        assert_eq!(run(&mut r, &[done(9, 1)]), ["read", "didCompleteWithError#9", "ack[9]", "committed", "invalid"]);
        assert!(r.is_invalidated());
        r.handle_announced();
        assert_eq!(r.poll(), None, "nothing after the invalidation");
    }

    #[test]
    fn a_session_waiting_for_its_lock_can_still_be_invalidated() {
        let mut r = Replayer::new();
        r.handle_task_open(1, true);
        r.finish_tasks_and_invalidate();
        assert_eq!(r.poll(), None, "a task is open");
        r.handle_task_open(1, false);
        assert_eq!(r.poll(), Some(ReplayAction::BecomeInvalid));
        assert_eq!(r.poll(), None);
    }

    /// Runs `r` to the end, each write done at once (a read finds nothing
    /// new); returns the batches written in full.
    fn batches(r: &mut Replayer) -> Vec<Vec<Ack>> {
        let mut out = vec![];
        while let Some(a) = r.poll() {
            match a {
                ReplayAction::Deliver { .. } => r.handle_delivered(),
                ReplayAction::WriteAcks(acks) => {
                    out.push(acks);
                    r.handle_acks_written();
                }
                ReplayAction::MarkDelivered(_) => r.handle_mark_written(),
                ReplayAction::ReadJournal => r.handle_entries(vec![]),
                ReplayAction::RemoveTempFiles(_) => r.handle_temp_files_removed(),
                ReplayAction::FinishEvents | ReplayAction::BecomeInvalid => {}
            }
        }
        out
    }

    /// Delivers, marks and reads (finding nothing new) until `r` asks for a
    /// write in full; returns it.
    fn next_write(r: &mut Replayer) -> Vec<Ack> {
        loop {
            match r.poll().expect("a write in full") {
                ReplayAction::Deliver { .. } => r.handle_delivered(),
                ReplayAction::WriteAcks(acks) => return acks,
                ReplayAction::MarkDelivered(_) => r.handle_mark_written(),
                ReplayAction::ReadJournal => r.handle_entries(vec![]),
                _ => {}
            }
        }
    }

    #[test]
    fn a_forgotten_task_total_is_deleted_only_if_one_may_be_stored() {
        // Task 1 had a total stored before; task 2 none; task 3 gets one in
        // the first batch (its entry came alone, live) and is forgotten in a later one.
        let mut r = Replayer::new();
        r.handle_opened(vec![], [(1, 50)]);
        r.handle_announced();
        assert_eq!(r.poll(), Some(ReplayAction::ReadJournal));
        r.handle_entries(vec![progress(1, 3, 10)]);
        let mut acks = batches(&mut r).concat();
        assert_eq!(acks.len(), 1);
        r.handle_announced();
        assert_eq!(r.poll(), Some(ReplayAction::ReadJournal));
        r.handle_entries(vec![done(2, 1), done(3, 2), done(4, 3)]);
        acks.extend(batches(&mut r).concat());
        let forgets: Vec<(u64, bool)> = acks.iter().filter(|a| a.forget_task).map(|a| (a.task_id, a.forget_total)).collect();
        assert_eq!(forgets, [(1, true), (2, false), (3, true)]);
        assert_eq!(acks[0].delivered_total, Some(10), "written in a batch before the forget");
        assert_eq!(acks.iter().map(|a| a.seq).collect::<Vec<_>>(), [1, 2, 3, 4], "every entry acknowledged");
    }

    #[test]
    fn a_total_set_and_forgotten_in_one_batch_is_not_written() {
        let mut r = Replayer::new();
        // Marked as they are delivered; written in full in one batch.
        r.handle_opened(vec![progress(1, 9, 1), progress(2, 4, 30), progress(3, 4, 70), done(4, 4), progress(5, 5, 20)], [(4, 10)]);
        let batches = batches(&mut r);
        assert_eq!(batches.len(), 1);
        let view: Vec<(u64, Option<u64>, bool, bool)> = batches[0].iter().map(|a| (a.seq, a.delivered_total, a.forget_task, a.forget_total)).collect();
        assert_eq!(
            view,
            [(1, Some(1), false, false), (2, None, false, false), (3, None, false, false), (4, None, true, true), (5, Some(20), false, false)],
            "task 4's stored total (10) is deleted; its new ones never written"
        );
        assert_eq!(r.delivered_total(4), 0);
        assert_eq!(r.delivered_total(5), 20);
    }

    #[test]
    fn a_failed_batch_deletes_the_totals_it_held_when_written_again() {
        let mut r = Replayer::new();
        r.handle_opened(vec![done(1, 1)], [(1, 5)]);
        let acks = next_write(&mut r);
        assert!(acks[0].forget_total);
        r.handle_acks_failed(acks);
        r.handle_announced();
        let again = next_write(&mut r);
        assert_eq!((again[0].seq, again[0].forget_total), (1, true), "nothing of the failed batch was written");
    }

    #[test]
    fn a_record_read_completed_with_no_bytes_is_forgotten_unread() {
        use crate::core::request::Request;
        let record = |id, state, segments: Vec<u64>| {
            let mut t = TaskRecord::new_download("s", id, Request::get("https://example.test/f").unwrap(), 0.0, format!("b{id}"));
            (t.state, t.segments) = (state, segments);
            t
        };
        let mut r = Replayer::new();
        r.handle_opened(vec![done(1, 1), done(2, 2), done(3, 3)], []);
        // Task 1 over; task 2 keeps bytes for resume data; task 3 was read running.
        r.handle_records(&[record(1, TaskState::Completed, vec![]), record(2, TaskState::Completed, vec![5]), record(3, TaskState::Running, vec![])]);
        let first = next_write(&mut r);
        r.handle_acks_failed(first);
        r.handle_announced();
        let acks: Vec<Ack> = batches(&mut r).concat();
        let view: Vec<(u64, bool)> = acks.iter().map(|a| (a.task_id, a.record_over)).collect();
        assert_eq!(view, [(1, true), (2, false), (3, false)], "only task 1 unread (also when written again after a failure); the others are read first");
        assert!(acks.iter().all(|a| a.forget_task));
    }

    #[test]
    fn progress_is_coalesced_against_the_total_delivered_before() {
        let mut r = Replayer::new();
        r.handle_opened(vec![progress(1, 4, 30), progress(2, 4, 70)], [(4, 10)]);
        let (mut args, mut acked) = (vec![], vec![]);
        while let Some(a) = r.poll() {
            match a {
                ReplayAction::Deliver { call, .. } => {
                    args.push(call.args);
                    r.handle_delivered();
                }
                ReplayAction::WriteAcks(acks) => {
                    acked.extend(acks.iter().map(|a| (a.task_id, a.delivered_total)));
                    r.handle_acks_written();
                }
                ReplayAction::MarkDelivered(_) => r.handle_mark_written(),
                _ => {}
            }
        }
        assert_eq!(acked, [(4, Some(30)), (4, Some(70))]);
        assert_eq!(args, [CallArgs::Numbers(vec![20.0, 30.0, 100.0]), CallArgs::Numbers(vec![40.0, 70.0, 100.0])]);
        assert_eq!(r.delivered_total(4), 70);
    }
}
