//! The simulated storage: what IndexedDB and the byte store hold in a
//! browser (tasks, configurations, the journal, delivered totals, sandbox
//! files) and the bytes themselves, as [`Piece`]s. It survives kills and
//! restarts; engines may drop its bytes (see [`super::Profile`]).

use super::server::{byte_at, Piece};
use crate::core::config::ConfigData;
use crate::core::daemon::{Commit, TaskKey};
use crate::core::files::{self, FileMeta};
use crate::core::journal::{Ack, AppendPlan, JournalEntry};
use crate::core::path::SandboxPath;
use crate::core::task::TaskRecord;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// See the module documentation.
#[derive(Clone, Debug, Default)]
pub struct Store {
    /// Task records.
    pub tasks: BTreeMap<TaskKey, TaskRecord>,
    /// Records deleted once their last event was acknowledged (as iOS
    /// forgets a finished task); kept here only for the simulator's checks.
    pub forgotten: BTreeMap<TaskKey, TaskRecord>,
    /// Session configurations.
    pub configs: BTreeMap<String, ConfigData>,
    /// The journal, by seq.
    pub journal: BTreeMap<u64, JournalEntry>,
    next_seq: u64,
    /// Progress totals delivered, per task.
    pub totals: BTreeMap<TaskKey, u64>,
    /// Sandbox files by key (`/Documents/a`).
    pub files: BTreeMap<String, FileMeta>,
    /// Stored segments by (blob, index).
    pub blobs: HashMap<(String, usize), Vec<Piece>>,
    /// Per session, the temp files its acknowledgements listed for removal
    /// (the page's `delivered` records with a `tempFiles` list).
    pub temp_lists: BTreeMap<String, Vec<String>>,
    /// Per session, the mark of the entries delivered up to a key (the
    /// page's `delivered` record under taskId 0), until acknowledged in full.
    pub marks: BTreeMap<String, u64>,
}

impl Store {
    /// Every task record ever stored: those kept and those forgotten.
    pub fn all_tasks(&self) -> impl Iterator<Item = &TaskRecord> {
        let kept = self.tasks.iter().filter(|(k, _)| !self.forgotten.contains_key(*k)).map(|(_, t)| t);
        kept.chain(self.forgotten.values())
    }

    /// Applies a daemon commit in one transaction; returns the entries
    /// written, with their seqs.
    pub fn commit(&mut self, c: Commit) -> Vec<JournalEntry> {
        if let Some(cfg) = c.config {
            self.configs.insert(cfg.identifier.clone(), cfg);
        }
        if let Some(t) = c.task.clone() {
            self.tasks.insert((t.session.clone(), t.task_id), t);
        }
        if let Some(f) = c.file {
            self.files.insert(f.path.clone(), f);
        }
        if let Some(key) = c.task.as_ref().filter(|_| c.forget_if_delivered).map(|t| (t.session.clone(), t.task_id)) {
            if !self.journal.values().any(|e| e.session == key.0 && e.task_id == key.1) {
                if let Some(t) = self.tasks.remove(&key) {
                    self.forgotten.insert(key, t);
                }
            }
        }
        let mut written = Vec::new();
        for (mut e, plan) in c.appends {
            if let AppendPlan::ReplaceThenAppend(seq) = plan {
                self.journal.remove(&seq);
            }
            self.next_seq += 1;
            e.seq = Some(self.next_seq);
            self.journal.insert(self.next_seq, e.clone());
            written.push(e);
        }
        written
    }

    /// A session's pending entries, in order.
    pub fn pending(&self, session: &str) -> Vec<JournalEntry> {
        self.journal.values().filter(|e| e.session == session).cloned().collect()
    }

    /// Sessions with entries not delivered (above their mark).
    pub fn sessions_with_events(&self) -> BTreeSet<String> {
        self.journal.values().filter(|e| e.seq.unwrap_or(0) > self.mark(&e.session)).map(|e| e.session.clone()).collect()
    }

    /// The session's mark: its entries up to this key are delivered (0: none).
    pub fn mark(&self, session: &str) -> u64 {
        self.marks.get(session).copied().unwrap_or(0)
    }

    /// Stores a page's mark (one record, replaced).
    pub fn set_mark(&mut self, session: &str, up_to: u64) {
        self.marks.insert(session.to_string(), up_to);
    }

    /// A session's delivered totals, by task.
    pub fn totals(&self, session: &str) -> BTreeMap<u64, u64> {
        self.totals.iter().filter(|(k, _)| k.0 == session).map(|(k, v)| (k.1, *v)).collect()
    }

    /// Writes a page's acknowledgements in one transaction.
    pub fn apply_acks(&mut self, session: &str, acks: &[Ack]) {
        // They are every acknowledgement the mark stood for.
        self.marks.remove(session);
        for a in acks {
            let task = self.journal.remove(&a.seq).map(|e| e.task_id);
            let Some(task_id) = task else { continue };
            let key = (session.to_string(), task_id);
            if let Some(t) = a.delivered_total {
                self.totals.insert(key.clone(), t);
            }
            if a.forget_task {
                self.totals.remove(&key);
                // As the page's acknowledgement does (glue.js ackEntries): a
                // finished task is forgotten unless it holds resume bytes.
                if self.tasks.get(&key).is_some_and(TaskRecord::is_over) {
                    if let Some(t) = self.tasks.remove(&key) {
                        self.forgotten.insert(key.clone(), t);
                    }
                }
            }
            // Listed in this transaction, removed later (remove_temp_files).
            if let Some(loc) = &a.remove_file {
                self.temp_lists.entry(session.to_string()).or_default().push(loc.clone());
            }
        }
    }

    /// The temp files a session's acknowledgements listed and nobody removed yet.
    pub fn unremoved_temp_files(&self, session: &str) -> Vec<String> {
        self.temp_lists.get(session).cloned().unwrap_or_default()
    }

    /// Removes the temp files at `locations` that still exist (and their
    /// bytes) and the session's lists of them, in one transaction.
    pub fn remove_temp_files(&mut self, session: &str, locations: &[String]) {
        for loc in locations {
            if let Some(key) = SandboxPath::key_of(loc) {
                if let Some(f) = self.files.remove(key.as_ref()) {
                    self.delete_blob(&f.blob_id, f.segments.len());
                }
            }
        }
        self.temp_lists.remove(session);
    }

    fn delete_blob(&mut self, blob: &str, count: usize) {
        for i in 0..count {
            self.blobs.remove(&(blob.to_string(), i));
        }
    }

    /// How many of `segments` (a prefix) are stored whole at `blob`.
    pub fn intact_prefix(&self, blob: &str, segments: &[u64]) -> usize {
        segments
            .iter()
            .enumerate()
            .take_while(|(i, len)| self.blobs.get(&(blob.to_string(), *i)).is_some_and(|p| p.iter().map(|x| x.len).sum::<u64>() == **len))
            .count()
    }

    /// Copies the file at `from` into `blob` (an upload's snapshot).
    pub fn copy_file(&mut self, from: &str, blob: &str) -> Option<Vec<u64>> {
        let f = self.files.get(SandboxPath::key_of(from)?.as_ref())?.clone();
        for i in 0..f.segments.len() {
            let p = self.blobs.get(&(f.blob_id.clone(), i))?.clone();
            self.blobs.insert((blob.to_string(), i), p);
        }
        Some(f.segments)
    }

    /// The pieces of a file, in order (`None`: no file, or bytes missing).
    pub fn file_pieces(&self, path: &str) -> Option<Vec<Piece>> {
        let f = self.files.get(SandboxPath::key_of(path)?.as_ref())?;
        let mut out = Vec::new();
        for (i, len) in f.segments.iter().enumerate() {
            let p = self.blobs.get(&(f.blob_id.clone(), i))?;
            if p.iter().map(|x| x.len).sum::<u64>() != *len {
                return None;
            }
            out.extend(p.iter().cloned());
        }
        Some(out)
    }

    /// Is the file at `path` exactly bytes `0..size` of representation `seed`?
    pub fn file_matches(&self, path: &str, seed: u64, size: u64) -> bool {
        let Some(pieces) = self.file_pieces(path) else { return false };
        let mut at = 0;
        for p in pieces {
            if p.seed != seed || p.start != at {
                return false;
            }
            at += p.len;
        }
        at == size
    }

    /// Segments stored that no file and no unfinished task refers to.
    pub fn orphans(&self) -> Vec<(String, usize)> {
        let mut owned: HashMap<&str, usize> = HashMap::new();
        for f in self.files.values() {
            owned.insert(&f.blob_id, f.segments.len());
        }
        for t in self.tasks.values() {
            let n = owned.entry(&t.blob_id).or_default();
            *n = (*n).max(t.segments.len());
        }
        let mut out: Vec<(String, usize)> = self.blobs.keys().filter(|(b, i)| owned.get(b.as_str()).map_or(true, |n| i >= n)).cloned().collect();
        out.sort();
        out
    }

    /// Bytes stored per folder, as `FileManager.usage()` reports.
    pub fn usage(&self) -> files::Usage {
        files::usage(self.files.values())
    }
}

/// The sandbox as a delegate sees it: `FileManager`'s moves and reads.
pub struct Files<'a> {
    pub(super) store: &'a mut Store,
    pub(super) now: f64,
}

impl Files<'_> {
    /// `moveItem(at:to:)`.
    pub fn move_item(&mut self, from: &str, to: &str) -> Result<(), String> {
        let from = SandboxPath::parse(from).map_err(|e| e.to_string())?;
        let to = SandboxPath::parse(to).map_err(|e| e.to_string())?;
        let src = self.store.files.get(&from.key()).cloned();
        let dst_exists = self.store.files.contains_key(&to.key());
        let mut moved = files::plan_move(src.as_ref(), dst_exists, &from, &to).map_err(|e| e.to_string())?;
        moved.modification_date = self.now;
        self.store.files.remove(&from.key());
        self.store.files.insert(to.key(), moved);
        Ok(())
    }

    /// `fileExists(atPath:)`.
    pub fn file_exists(&self, path: &str) -> bool {
        SandboxPath::key_of(path).is_some_and(|k| self.store.files.contains_key(k.as_ref()))
    }

    /// `contents(atPath:)`: the bytes (`None`: no file, or its bytes are gone).
    pub fn contents(&self, path: &str) -> Option<Vec<u8>> {
        let pieces = self.store.file_pieces(path)?;
        Some(pieces.iter().flat_map(|p| (p.start..p.start + p.len).map(move |i| byte_at(p.seed, i))).collect())
    }
}
