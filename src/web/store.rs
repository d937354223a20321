//! IndexedDB adapter (requests made by glue.js's `storeTx`/`storeReq`,
//! each awaited as a Promise: no binding crate in the wasm): task records, session configurations,
//! the event journal, delivered-progress bookkeeping and sandbox file
//! metadata. Bytes are not here (see `bytes.rs`). Every multi-record change
//! is one transaction, so a killed worker or a closed page leaves either the
//! old state or the new one.

use crate::core::files::{plan_move, FileError, FileMeta};
use crate::core::journal::{Ack, AppendPlan, JournalEntry};
use crate::core::path::SandboxPath;
use crate::core::stored::{self, Record, SetAside, Unreadable};
use crate::core::task::TaskRecord;
use crate::web::js::{self, to_js};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

/// Name of the origin's IndexedDB database.
pub const DB_NAME: &str = "bgsession";
/// The schema's version (glue.js `openDatabase` creates the stores; what
/// each version holds: `core::stored`).
const DB_VERSION: u32 = stored::SCHEMA_VERSION;
/// The object stores (what each holds: `core::stored`).
pub use crate::core::stored::{DELIVERED, EVENTS, FILES, QUARANTINE, SESSIONS, TASKS};

type Result<T> = std::result::Result<T, JsValue>;

fn e(err: JsValue) -> JsValue {
    js::error("BGSessionStoreError", &format!("IndexedDB: {}", js::message(&err)))
}

/// An IndexedDB transaction (glue.js `storeTx`), kept alive by requests
/// made before it has nothing pending, as IndexedDB wants: each request's
/// Promise settles in a microtask of the request's event.
struct Transaction(JsValue);

impl Transaction {
    /// One request (`op`: glue.js `storeReq`) on `store`, or on its
    /// `by_session` index.
    async fn req(&self, store: &str, by_session: bool, op: &str, arg: &JsValue) -> Result<JsValue> {
        js::wait(js::store_req(&self.0, store, by_session.then_some("by_session"), op, arg)).await.map_err(e)
    }

    /// `get`: the record under `key`, if any.
    async fn get(&self, store: &str, key: &JsValue) -> Result<Option<JsValue>> {
        let v = self.req(store, false, "get", key).await?;
        Ok((!v.is_undefined()).then_some(v))
    }

    /// `getAll`: every record of `store` (`key`: those of one session, by
    /// the `by_session` index).
    async fn get_all(&self, store: &str, key: Option<&str>) -> Result<Vec<JsValue>> {
        let arg = key.map_or(JsValue::UNDEFINED, JsValue::from_str);
        Ok(js_sys::Array::from(&self.req(store, key.is_some(), "getAll", &arg).await?).to_vec())
    }

    async fn put(&self, store: &str, record: &JsValue) -> Result<JsValue> {
        self.req(store, false, "put", record).await
    }

    async fn add(&self, store: &str, record: &JsValue) -> Result<JsValue> {
        self.req(store, false, "add", record).await
    }

    async fn delete(&self, store: &str, key: &JsValue) -> Result<()> {
        self.req(store, false, "delete", key).await.map(drop)
    }

    fn abort(&self) {
        let _ = js_sys::Reflect::get(&self.0, &JsValue::from_str("abort")).ok().and_then(|f| f.dyn_into::<js_sys::Function>().ok()).map(|f| f.call0(&self.0));
    }
}

/// The database of this origin.
pub struct Store {
    /// The connection, a plain `IDBDatabase` for glue.js.
    raw: JsValue,
    /// The daemon's copy of every task record (see [`Store::keep_tasks`]):
    /// `None` until first read, then kept up to date by this store's own
    /// writes.
    tasks: RefCell<Option<TaskCache>>,
    keep_tasks: std::cell::Cell<bool>,
    /// Task writes committed by this store, counted (a read that overlapped
    /// one is not kept).
    task_writes: std::cell::Cell<u64>,
    /// Task writes in progress, each a Promise settled when it ends: a read
    /// of the kept records waits for those begun before it, as an
    /// IndexedDB read waits for the write transactions created before it.
    writing: RefCell<Vec<(u64, js_sys::Promise)>>,
    next_write: std::cell::Cell<u64>,
    /// What the launch listing ([`Store::sessions_with_events`]) read of
    /// each of its sessions, for that session's first view. Dropped by the
    /// next listing.
    launched: RefCell<Vec<Launched>>,
}

/// A session of the launch listing, as the listing read it.
struct Launched {
    session: String,
    /// The journal's first undelivered entry then: the session's view, if
    /// read again, is read from there on by sequence number (every entry of
    /// the session is at or above it: the journal's keys only grow), which
    /// seeks past the deleted entries that a read through the session index
    /// walks over (Chromium leaves their index entries until LevelDB
    /// compacts).
    from: f64,
    /// Its view then (glue.js `sessionsWithEvents`: `[tasks, entries,
    /// delivered]` as stored), taken by its first view if it still stands
    /// ([`Store::session_view`]).
    view: Option<js_sys::Array>,
}

/// What a page opening a session reads first ([`Store::session_view`]).
pub struct SessionView {
    /// The session's task records.
    pub tasks: Vec<TaskRecord>,
    /// Its journal entries, in order: those above `delivered_up_to` undelivered.
    pub entries: Vec<JournalEntry>,
    /// The mark a page left: its entries up to this key were delivered and
    /// not yet acknowledged in full (glue.js markDelivered); 0 if none.
    pub delivered_up_to: u64,
    /// Its tasks' delivered-progress totals (task id → total).
    pub delivered_totals: std::collections::HashMap<u64, u64>,
    /// Temp files that acknowledgements listed for removal and nobody
    /// removed yet (the page that wrote them closed first): their locations.
    pub unremoved_temp_files: Vec<String>,
    /// A time (`js::monotonic_now()`) before its read began: 0 for a view the launch
    /// listing read (it may predate tasks this page stored since).
    pub read_at: f64,
}

/// A task write in progress (see `Store::writing`); dropped when it ends,
/// however it ends.
struct TaskWrite<'a> {
    store: &'a Store,
    id: u64,
    settle: js_sys::Function,
}

impl Drop for TaskWrite<'_> {
    fn drop(&mut self) {
        self.store.writing.borrow_mut().retain(|(id, _)| *id != self.id);
        let _ = self.settle.call0(&JsValue::UNDEFINED);
    }
}

/// Journal entries in journal order (`core::order`: no sort instance of
/// its own in the wasm).
fn by_seq(entries: &mut Vec<JournalEntry>) {
    crate::core::order::sort_by(entries, |a, b| a.seq.cmp(&b.seq));
}

type TaskCache = std::collections::BTreeMap<(String, u64), TaskRecord>;

thread_local! {
    static SHARED: RefCell<Option<Rc<Store>>> = const { RefCell::new(None) };
    /// The open in progress, shared by every caller that comes meanwhile.
    static OPENING: RefCell<Option<js_sys::Promise>> = const { RefCell::new(None) };
}

/// The store of this page or worker, opened once (callers that come while
/// it opens wait for that same open).
pub async fn shared() -> Result<Rc<Store>> {
    if let Some(s) = SHARED.with(|s| s.borrow().clone()) {
        return Ok(s);
    }
    let opening = OPENING.with(|o| {
        o.borrow_mut()
            .get_or_insert_with(|| {
                wasm_bindgen_futures::future_to_promise(async {
                    let store = Rc::new(Store::open(DB_NAME).await?);
                    SHARED.with(|s| *s.borrow_mut() = Some(store));
                    Ok(JsValue::UNDEFINED)
                })
            })
            .clone()
    });
    let opened = js::wait(opening).await;
    OPENING.with(|o| o.borrow_mut().take()); // a failed open is tried again next time
    opened?;
    SHARED.with(|s| s.borrow().clone()).ok_or_else(|| js::error("BGSessionStoreError", "IndexedDB: the database is not open"))
}

/// The store of this page or worker if it is open already.
pub fn shared_now() -> Option<Rc<Store>> {
    SHARED.with(|s| s.borrow().clone())
}

/// Decodes many stored records at once: one `JSON.stringify` (glue.js
/// `recordsJson`, which also encodes the text) and `serde_json` is several
/// times faster than decoding each object field by
/// field through `serde_wasm_bindgen`. Records are upgraded to this build's
/// format; those that cannot be read (they do not decode, or a newer build
/// wrote them) are returned apart, as stored (`core::stored` decides what
/// they mean).
fn decode_records<T: Record>(array: &js_sys::Array, what: &str) -> Result<(Vec<T>, Vec<Unreadable>)> {
    if array.length() == 0 {
        return Ok((Vec::new(), Vec::new()));
    }
    let bytes = js::records_json(array).map_err(|_| js::type_error(&format!("{what}: cannot be read")))?.to_vec();
    let text = std::str::from_utf8(&bytes).map_err(|_| js::type_error(&format!("{what}: cannot be read")))?;
    if let Ok(mut all) = serde_json::from_str::<Vec<T>>(text) {
        if stored::upgrade_all(&mut all) {
            return Ok((all, Vec::new()));
        }
    }
    // One at a time, to tell the readable ones from the others.
    let raws: Vec<serde_json::Value> = serde_json::from_str(text).map_err(|err| js::type_error(&format!("{what}: {err}")))?;
    Ok(stored::decode_many(raws))
}

/// A session's view from what glue.js `sessionView` reads: `[tasks,
/// entries, delivered]` as stored; with the records that cannot be read.
fn view_of(all: &js_sys::Array) -> Result<(SessionView, Vec<Unreadable>, Vec<Unreadable>)> {
    let (tasks, bad_tasks) = decode_records::<TaskRecord>(&all.get(0).into(), "stored tasks")?;
    let (mut entries, bad_entries) = decode_records::<JournalEntry>(&all.get(1).into(), "journal entries")?;
    by_seq(&mut entries);
    // The `delivered` store holds the tasks' totals and, under keys no
    // task has, the acknowledgements' lists of temp files (glue.js
    // ackEntries) and the session's mark (glue.js markDelivered).
    let mut totals = std::collections::HashMap::new();
    let mut unremoved_temp_files = Vec::new();
    let mut delivered_up_to = 0;
    for r in js_sys::Array::from(&all.get(2)).iter() {
        match (js::get(&r, "taskId").as_f64(), js::get(&r, "total").as_f64()) {
            (Some(task), Some(total)) if task > 0.0 => {
                totals.insert(task as u64, total as u64);
            }
            (Some(0.0), _) => delivered_up_to = js::get(&r, "deliveredUpTo").as_f64().map_or(0, |n| n as u64),
            _ => {
                let list = js::get(&r, "tempFiles");
                if js_sys::Array::is_array(&list) {
                    unremoved_temp_files.extend(js_sys::Array::from(&list).iter().filter_map(|l| l.as_string()));
                }
            }
        }
    }
    Ok((SessionView { tasks, entries, delivered_up_to, delivered_totals: totals, unremoved_temp_files, read_at: 0.0 }, bad_tasks, bad_entries))
}

/// One stored record, upgraded; an error naming why if it cannot be read.
fn decode_value<T: Record>(v: JsValue, what: &str) -> Result<T> {
    let text = js_sys::JSON::stringify(&v).ok().and_then(|t| t.as_string()).ok_or_else(|| js::type_error(&format!("{what}: cannot be read")))?;
    let raw: serde_json::Value = serde_json::from_str(&text).map_err(|err| js::type_error(&format!("{what}: {err}")))?;
    stored::decode_one(raw).map_err(|u| js::type_error(&format!("{what}: {}", u.reason)))
}

/// Texts joined by NUL (which no sandbox name holds): one string for
/// glue.js, one crossing, not one per text.
fn joined<S: AsRef<str>>(texts: impl Iterator<Item = S>) -> String {
    let mut out = String::new();
    for t in texts {
        if !out.is_empty() {
            out.push('\0');
        }
        out.push_str(t.as_ref());
    }
    out
}

fn array(values: Vec<JsValue>) -> js_sys::Array {
    values.into_iter().collect()
}

/// Decodes a JS array of records of any type at once (no versions).
fn decode_array<T: serde::de::DeserializeOwned>(array: &js_sys::Array, what: &str) -> Result<Vec<T>> {
    if array.length() == 0 {
        return Ok(Vec::new());
    }
    let text = js_sys::JSON::stringify(array).map_err(|_| js::type_error(&format!("{what}: cannot be read")))?;
    let text = text.as_string().unwrap_or_default();
    serde_json::from_str(&text).map_err(|err| js::type_error(&format!("{what}: {err}")))
}

fn read_error(what: &str, err: &JsValue) -> JsValue {
    js::error("BGSessionStoreError", &format!("IndexedDB: reading {what} failed: {}", js::message(err)))
}

fn key2(session: &str, task_id: u64) -> JsValue {
    js_sys::Array::of2(&JsValue::from_str(session), &JsValue::from_f64(task_id as f64)).into()
}

impl Store {
    /// Opens (creating or upgrading) the database `name`.
    pub async fn open(name: &str) -> Result<Store> {
        // glue.js opens it (a page starts as soon as the module loads) and
        // creates the stores named above.
        let raw = js::wait(js::open_database(name, DB_VERSION))
            .await
            .map_err(|err| js::error("BGSessionStoreError", &format!("IndexedDB: opening \"{name}\" failed: {}", js::message(&err))))?;
        // A newer build's database (glue.js opens it as it is) is used if it
        // holds every store this build needs.
        let version = js::get(&raw, "version").as_f64().map_or(0, |v| v.min(u32::MAX as f64) as u32);
        // A DOMStringList, copied by Array.from.
        let stores: Vec<String> = js_sys::Array::from(&js::get(&raw, "objectStoreNames")).iter().filter_map(|s| s.as_string()).collect();
        if let Err(why) = stored::check_schema(name, version, &stores) {
            js::forget_database(&raw, name, DB_VERSION);
            return Err(js::error("BGSessionStoreError", &why));
        }
        Ok(Store { raw, tasks: RefCell::new(None), keep_tasks: std::cell::Cell::new(false), task_writes: std::cell::Cell::new(0), writing: RefCell::new(Vec::new()), next_write: std::cell::Cell::new(0), launched: RefCell::new(Vec::new()) })
    }

    fn tx(&self, stores: &[&str], write: bool) -> Result<Transaction> {
        let names: js_sys::Array = stores.iter().map(|s| JsValue::from_str(s)).collect();
        js::store_tx(&self.raw, &names, write).map(Transaction).map_err(e)
    }

    async fn finish(tx: Transaction) -> Result<()> {
        if js::wait(js::store_commit(&tx.0)).await.map_err(e)?.is_truthy() {
            Ok(())
        } else {
            Err(js::error("BGSessionStoreError", "IndexedDB transaction aborted"))
        }
    }

    // ---- tasks -------------------------------------------------------------

    /// Keeps every task record in memory, kept up to date by this store's
    /// writes, so reads cost no IndexedDB request and no decoding (the
    /// daemon's scheduling pass reads them all after every command). Only
    /// for the daemon: it is the one writer of task records; a page reads
    /// what the daemon wrote, so it never keeps them.
    pub fn keep_tasks(&self) {
        self.keep_tasks.set(true);
    }

    /// Forgets the kept records (they are read again when next needed), as
    /// a restarted worker would.
    pub fn forget_tasks(&self) {
        self.tasks.borrow_mut().take();
    }

    /// Marks a task write as begun (before its transaction is created).
    fn begin_task_write(&self) -> TaskWrite<'_> {
        let id = self.next_write.get();
        self.next_write.set(id + 1);
        let mut settle = None;
        let promise = js_sys::Promise::new(&mut |resolve, _| settle = Some(resolve));
        self.writing.borrow_mut().push((id, promise));
        TaskWrite { store: self, id, settle: settle.expect("the executor runs at once") }
    }

    /// A task write failed: what it left is unknown, so the kept records
    /// are read again.
    fn task_write_failed<T>(&self, r: Result<T>) -> Result<T> {
        if r.is_err() {
            self.forget_tasks();
        }
        r
    }

    /// After a committed write: the kept copy follows.
    fn wrote_task(&self, t: &TaskRecord) {
        self.task_writes.set(self.task_writes.get() + 1);
        if !cfg!(feature = "worker") {
            return;
        }
        if let Some(cache) = self.tasks.borrow_mut().as_mut() {
            cache.insert((t.session.clone(), t.task_id), t.clone());
        }
    }

    /// Only the daemon keeps task records: the page's wasm holds none of
    /// this (a `cfg!` test would leave the async body's states in it).
    #[cfg(not(feature = "worker"))]
    async fn kept_tasks(&self) -> Result<Option<std::cell::Ref<'_, TaskCache>>> {
        Ok(None)
    }

    /// The kept records, read from IndexedDB the first time.
    #[cfg(feature = "worker")]
    async fn kept_tasks(&self) -> Result<Option<std::cell::Ref<'_, TaskCache>>> {
        if !self.keep_tasks.get() {
            return Ok(None);
        }
        let before: Vec<JsValue> = self.writing.borrow().iter().map(|(_, p)| p.clone().into()).collect();
        if !before.is_empty() {
            let _ = js::wait(js_sys::Promise::all(&before.into_iter().collect::<js_sys::Array>())).await;
        }
        while self.tasks.borrow().is_none() {
            let writes = self.task_writes.get();
            let all = self.read_tasks(None).await?;
            // A write that committed meanwhile may be missing from the read:
            // read again.
            let mut cache = self.tasks.borrow_mut();
            if cache.is_none() && self.task_writes.get() == writes {
                let mut map = TaskCache::new(); // inserts, not collect(): no sort in the wasm
                for t in all {
                    map.insert((t.session.clone(), t.task_id), t);
                }
                *cache = Some(map);
            }
        }
        Ok(Some(std::cell::Ref::map(self.tasks.borrow(), |c| c.as_ref().expect("just filled"))))
    }

    /// The stored record of task `task_id` of `session`, if any.
    pub async fn get_task(&self, session: &str, task_id: u64) -> Result<Option<TaskRecord>> {
        if let Some(kept) = self.kept_tasks().await? {
            return Ok(kept.get(&(session.to_string(), task_id)).cloned());
        }
        let v = self.tx(&[TASKS], false)?.get(TASKS, &key2(session, task_id)).await?;
        v.map(|v| decode_value(v, "stored task")).transpose()
    }

    /// All tasks, or those of one session, in key order.
    pub async fn tasks(&self, session: Option<&str>) -> Result<Vec<TaskRecord>> {
        if let Some(kept) = self.kept_tasks().await? {
            return Ok(kept.values().filter(|t| session.map_or(true, |s| t.session == s)).cloned().collect());
        }
        self.read_tasks(session).await
    }

    async fn read_tasks(&self, session: Option<&str>) -> Result<Vec<TaskRecord>> {
        let all = self.read_tasks_raw(session).await?;
        let (tasks, bad) = decode_records(&array(all), "stored tasks")?;
        if bad.is_empty() {
            return Ok(tasks);
        }
        // Set the unreadable ones aside (each reported as its task's
        // error), then read again: the stand-ins are among the tasks.
        self.set_aside(stored::plan(&bad, &[], &tasks, &[], js::now())).await?;
        let all = self.read_tasks_raw(session).await?;
        Ok(decode_records(&array(all), "stored tasks")?.0)
    }

    async fn read_tasks_raw(&self, session: Option<&str>) -> Result<Vec<JsValue>> {
        self.tx(&[TASKS], false)?.get_all(TASKS, session).await
    }

    // ---- records that cannot be read -----------------------------------------

    /// Carries out `core::stored`'s plan for unreadable records in one
    /// transaction: each moved to the quarantine store (if it is still
    /// there as read: another context may have set it aside first, and then
    /// nothing is written), the stand-in task records and journal entries
    /// written, and the plan's lines logged as warnings.
    async fn set_aside(&self, plan: SetAside) -> Result<()> {
        if plan.is_empty() {
            return Ok(());
        }
        let tx = self.tx(&[TASKS, EVENTS, FILES, QUARANTINE], true)?;
        for q in &plan.quarantine {
            let key = to_js(&q.key);
            let now: Option<serde_json::Value> = match tx.get(&q.store, &key).await? {
                Some(v) => js_sys::JSON::stringify(&v).ok().and_then(|t| t.as_string()).and_then(|t| serde_json::from_str(&t).ok()),
                None => None,
            };
            if now.as_ref() != Some(&q.record) {
                tx.abort();
                return Ok(()); // set aside by someone else meanwhile
            }
            tx.delete(&q.store, &key).await?;
            tx.add(QUARANTINE, &to_js(q)).await?;
        }
        for t in &plan.tasks {
            tx.put(TASKS, &to_js(t)).await?;
        }
        for entry in &plan.entries {
            match entry.seq {
                Some(_) => tx.put(EVENTS, &to_js(entry)).await?,
                None => tx.add(EVENTS, &to_js(entry)).await?,
            };
        }
        Self::finish(tx).await?;
        for line in &plan.log {
            js::console_warn(line);
        }
        Ok(())
    }

    /// The byte-store keys named by records kept aside: their bytes stay.
    pub async fn quarantined_blob_ids(&self) -> Result<Vec<String>> {
        let all = self.tx(&[QUARANTINE], false)?.get_all(QUARANTINE, None).await?;
        let text = js_sys::JSON::stringify(&array(all)).ok().and_then(|t| t.as_string()).unwrap_or_default();
        Ok(stored::blob_ids(&serde_json::from_str::<Vec<serde_json::Value>>(&text).unwrap_or_default()))
    }

    // ---- sessions ----------------------------------------------------------

    /// Every stored session configuration (JS objects `{identifier, ...}`).
    pub async fn sessions(&self) -> Result<Vec<JsValue>> {
        self.tx(&[SESSIONS], false)?.get_all(SESSIONS, None).await
    }

    /// The stored configuration of session `identifier` (a JS object), if any.
    pub async fn session(&self, identifier: &str) -> Result<Option<JsValue>> {
        self.tx(&[SESSIONS], false)?.get(SESSIONS, &JsValue::from_str(identifier)).await
    }

    // ---- journal -----------------------------------------------------------

    /// One transaction: writes `task` and `file` if given and appends the
    /// entries as planned. Returns the entries with their `seq`.
    ///
    /// A session's configuration (a JS object `{identifier, ...}`) is written
    /// in the same transaction: the daemon's `Commit` action, all or nothing.
    /// The transaction is created before the first await, so commits made
    /// one after another are written in that order.
    ///
    /// With `forget_if_delivered`, the task record is deleted instead of
    /// written unless the journal still holds one of its entries (then the
    /// acknowledgement of its last entry deletes it).
    pub async fn commit_all(&self, task: Option<&TaskRecord>, config: Option<&JsValue>, file: Option<&FileMeta>, appends: Vec<(JournalEntry, AppendPlan)>, forget_if_delivered: bool) -> Result<Vec<JournalEntry>> {
        let Some(t) = task else {
            return self.commit_tx(None, config, file, appends, false).await;
        };
        let _write = self.begin_task_write();
        let r = self.commit_tx(task, config, file, appends, forget_if_delivered).await;
        let out = self.task_write_failed(r)?;
        self.wrote_task(t);
        Ok(out)
    }

    async fn commit_tx(&self, task: Option<&TaskRecord>, config: Option<&JsValue>, file: Option<&FileMeta>, appends: Vec<(JournalEntry, AppendPlan)>, forget: bool) -> Result<Vec<JournalEntry>> {
        let tx = self.tx(&[TASKS, FILES, EVENTS, SESSIONS], true)?;
        if let Some(c) = config {
            js::set(c, "v", &JsValue::from(stored::RECORD_VERSION));
            tx.put(SESSIONS, c).await?;
        }
        if let Some(t) = task {
            if forget && !Self::journal_holds(&tx, t).await? {
                tx.delete(TASKS, &key2(&t.session, t.task_id)).await?;
            } else {
                tx.put(TASKS, &to_js(t)).await?;
            }
        }
        if let Some(f) = file {
            tx.put(FILES, &to_js(f)).await?;
        }
        let mut out = Vec::with_capacity(appends.len());
        for (mut entry, plan) in appends {
            if let AppendPlan::ReplaceThenAppend(old) = plan {
                tx.delete(EVENTS, &JsValue::from_f64(old as f64)).await?;
            }
            entry.seq = None;
            let key = tx.add(EVENTS, &to_js(&entry)).await?;
            entry.seq = key.as_f64().map(|k| k as u64);
            out.push(entry);
        }
        Self::finish(tx).await?;
        Ok(out)
    }

    /// Does the journal still hold an entry of `t`?
    async fn journal_holds(tx: &Transaction, t: &TaskRecord) -> Result<bool> {
        let all = tx.get_all(EVENTS, Some(&t.session)).await?;
        Ok(all.iter().any(|v| js::get(v, "taskId").as_f64() == Some(t.task_id as f64)))
    }

    /// The session's undelivered entries, in journal order.
    pub async fn pending_events(&self, session: &str) -> Result<Vec<JournalEntry>> {
        self.pending_events_after(session, 0).await
    }

    /// The session's undelivered entries after key `after` (0: all), in
    /// journal order. With a key, read by key from there (the session index
    /// would be walked over every entry deleted since LevelDB last compacted,
    /// as the launch listing's `from` says).
    pub async fn pending_events_after(&self, session: &str, after: u64) -> Result<Vec<JournalEntry>> {
        let (mut v, bad) = self.pending_events_read(session, after).await?;
        if !bad.is_empty() {
            // The session's view sets them aside (it needs the tasks too).
            return Ok(self.session_view(session).await?.entries);
        }
        by_seq(&mut v);
        Ok(v)
    }

    async fn pending_events_read(&self, session: &str, after: u64) -> Result<(Vec<JournalEntry>, Vec<Unreadable>)> {
        if after == 0 {
            let all = self.tx(&[EVENTS], false)?.get_all(EVENTS, Some(session)).await?;
            return decode_records(&array(all), "journal entries");
        }
        let all = js::wait(js::entries_after(&self.raw, session, after as f64)).await.map_err(|err| read_error("the journal", &err))?;
        decode_records(&js_sys::Array::from(&all), "journal entries")
    }

    /// A session's task records, its undelivered journal entries (in order)
    /// and its delivered-progress totals, read in one transaction: what a
    /// page opening the session needs first.
    ///
    /// Records that cannot be read are set aside as `core::stored::plan`
    /// says (an unreadable task record becomes that task's error), then the
    /// view is read again.
    pub async fn session_view(&self, session: &str) -> Result<SessionView> {
        if let Some(view) = self.launch_view(session).await? {
            return Ok(view);
        }
        let (mut view, bad_tasks, bad_entries) = self.session_view_read(session).await?;
        if bad_tasks.is_empty() && bad_entries.is_empty() {
            return Ok(view);
        }
        self.set_aside(stored::plan(&bad_tasks, &bad_entries, &view.tasks, &view.entries, js::now())).await?;
        // What still cannot be read (written meanwhile) waits for the next read.
        (view, _, _) = self.session_view_read(session).await?;
        Ok(view)
    }

    /// The session's view as the launch listing read it, with the entries
    /// appended since, if it still stands
    /// ([`early_view_stands`](crate::core::journal::early_view_stands)):
    /// what changed is read (one round trip) while the view is decoded.
    /// `None`: read it again (also when a record cannot be read: the full
    /// read sets it aside).
    async fn launch_view(&self, session: &str) -> Result<Option<SessionView>> {
        let taken = self.launched.borrow_mut().iter_mut().find(|l| l.session == session).and_then(|l| l.view.take());
        let Some(all) = taken else { return Ok(None) };
        if js_sys::Array::from(&all.get(1)).length() == 0 {
            return Ok(None);
        }
        let check = js::view_check(&self.raw, session, &all.get(1));
        let decoded = view_of(&all);
        // A failed check is no answer: the view is read again (and a failure
        // of that read is reported).
        let Ok(check) = js::wait(check).await else { return Ok(None) };
        let check = js_sys::Array::from(&check);
        let (mut view, bad_tasks, bad_entries) = decoded?;
        let mark_now = check.get(1).as_f64().unwrap_or(0.0) as u64;
        if !bad_tasks.is_empty() || !bad_entries.is_empty() || !crate::core::journal::early_view_stands(check.get(0).is_truthy(), view.delivered_up_to, mark_now) {
            return Ok(None);
        }
        let (newer, bad) = decode_records::<JournalEntry>(&check.get(2).into(), "journal entries")?;
        if !bad.is_empty() {
            return Ok(None);
        }
        view.entries.extend(newer);
        by_seq(&mut view.entries);
        self.launched.borrow_mut().retain(|l| l.session != session);
        Ok(Some(view))
    }

    async fn session_view_read(&self, session: &str) -> Result<(SessionView, Vec<Unreadable>, Vec<Unreadable>)> {
        let from = {
            let mut launched = self.launched.borrow_mut();
            launched.iter().position(|l| l.session == session).map(|i| launched.swap_remove(i).from)
        };
        let read_at = js::monotonic_now();
        let all = js::wait(js::session_view(&self.raw, session, from)).await.map_err(|err| read_error("a session's tasks and journal", &err))?;
        let (mut view, bad_tasks, bad_entries) = view_of(&js_sys::Array::from(&all))?;
        view.read_at = read_at;
        Ok((view, bad_tasks, bad_entries))
    }

    /// Identifiers of sessions that have undelivered entries (above their
    /// marks), in order. The journal's first key and the views read with
    /// them (glue.js `sessionsWithEvents`: two round trips, the journal then
    /// the sessions' tasks and delivered records) are kept for their first
    /// views ([`Store::session_view`]).
    pub async fn sessions_with_events(&self) -> Result<Vec<String>> {
        let found = js::wait(js::sessions_with_events(&self.raw)).await.map_err(|err| read_error("the journal's sessions", &err))?;
        let mut ids = Vec::new();
        let mut launched = self.launched.borrow_mut();
        launched.clear();
        for found in js_sys::Array::from(&found).iter() {
            let found = js_sys::Array::from(&found);
            let (Some(id), Some(from)) = (found.get(0).as_string(), found.get(1).as_f64()) else { continue };
            launched.push(Launched { session: id.clone(), from, view: Some(js_sys::Array::from(&found.get(2))) });
            ids.push(id);
        }
        Ok(ids)
    }

    /// How many undelivered entries a session has (above its mark).
    pub async fn count_pending(&self, session: &str) -> Result<usize> {
        let n = js::wait(js::count_pending(&self.raw, session)).await.map_err(|err| read_error("the journal's size", &err))?;
        Ok(n.as_f64().unwrap_or(0.0) as usize)
    }

    /// The progress total last delivered for a task; 0 if none.
    pub async fn delivered_total(&self, session: &str, task_id: u64) -> Result<u64> {
        let v = self.tx(&[DELIVERED], false)?.get(DELIVERED, &key2(session, task_id)).await?;
        Ok(v.and_then(|v| js::get(&v, "total").as_f64()).unwrap_or(0.0) as u64)
    }

    /// Stores the session's mark: its entries up to key `up_to` are
    /// delivered (one small record; [`Store::ack`] writes them in full
    /// later and deletes it). The transaction is begun when this is called,
    /// not when it is awaited.
    pub fn mark_delivered(&self, session: &str, up_to: u64) -> impl std::future::Future<Output = Result<()>> {
        let written = js::mark_delivered(&self.raw, session, up_to as f64);
        async move {
            js::wait(written)
                .await
                .map_err(|err| js::error("BGSessionStoreError", &format!("IndexedDB: marking events delivered failed: {}", js::message(&err))))?;
            Ok(())
        }
    }

    /// Acknowledges delivered entries in one transaction (a group commit):
    /// deletes them, sets or forgets their tasks' delivered-progress totals,
    /// lists the temp files the delegate did not move (for
    /// [`Store::remove_temp_files`]) and deletes the session's mark
    /// ([`Store::mark_delivered`]: they are all it stood for). The
    /// transaction is begun when this is called, not when it is awaited.
    pub fn ack(&self, session: &str, acks: &[Ack]) -> impl std::future::Future<Output = Result<()>> {
        let mut ops = Vec::with_capacity(acks.len() * 4);
        // One text for glue.js (one crossing, not one per location), split
        // at NUL (which no sandbox name holds).
        let temp_files = joined(acks.iter().filter_map(|a| a.remove_file.as_deref()));
        for ack in acks {
            // Flags of glue.js ackEntries.
            let forget = ack.forget_task;
            let flags = ack.delivered_total.map_or(0, |_| 1) | u8::from(forget && ack.forget_total) << 1 | u8::from(forget && !ack.record_over) << 2 | u8::from(forget && ack.record_over) << 3;
            ops.extend([ack.seq as f64, ack.task_id as f64, f64::from(flags), ack.delivered_total.unwrap_or(0) as f64]);
        }
        let written = js::ack_entries(&self.raw, session, &ops, &temp_files);
        async move {
            js::wait(written)
                .await
                .map_err(|err| js::error("BGSessionStoreError", &format!("IndexedDB: acknowledging events failed: {}", js::message(&err))))?;
            Ok(())
        }
    }

    /// Removes the temp files at `locations` that still exist and the
    /// session's lists of temp files ([`Store::ack`]), in one transaction.
    /// Resolves with the metadata of the removed files that hold bytes,
    /// which the caller then deletes.
    pub async fn remove_temp_files(&self, session: &str, locations: &[String]) -> Result<Vec<FileMeta>> {
        let paths = joined(locations.iter().filter_map(|l| SandboxPath::key_of(l)));
        let removed = js::wait(js::remove_temp_files(&self.raw, session, &paths))
            .await
            .map_err(|err| js::error("BGSessionStoreError", &format!("IndexedDB: removing temp files failed: {}", js::message(&err))))?;
        decode_array(&removed.into(), "file metadata")
    }

    // ---- files -------------------------------------------------------------

    /// Writes a file's metadata (insert or replace), in its own transaction.
    pub async fn put_file(&self, f: &FileMeta) -> Result<()> {
        let tx = self.tx(&[FILES], true)?;
        tx.put(FILES, &to_js(f)).await?;
        Self::finish(tx).await
    }

    /// The metadata of the file at `path`, if there is one.
    pub async fn get_file(&self, path: &SandboxPath) -> Result<Option<FileMeta>> {
        let v = self.tx(&[FILES], false)?.get(FILES, &JsValue::from_str(&path.key())).await?;
        v.map(|v| decode_value(v, "file metadata")).transpose()
    }

    /// Every file's metadata, in path order.
    pub async fn files(&self) -> Result<Vec<FileMeta>> {
        let all = self.tx(&[FILES], false)?.get_all(FILES, None).await?;
        let (files, bad) = decode_records(&array(all), "file metadata")?;
        if !bad.is_empty() {
            self.set_aside(stored::plan_files(&bad, js::now())).await?;
        }
        Ok(files)
    }

    /// `moveItem`: relabels the metadata in one transaction; no byte moves.
    pub async fn move_file(&self, from: &SandboxPath, to: &SandboxPath) -> Result<std::result::Result<FileMeta, FileError>> {
        let tx = self.tx(&[FILES], true)?;
        let src = tx.get(FILES, &JsValue::from_str(&from.key())).await?;
        let src: Option<FileMeta> = src.map(|v| decode_value(v, "file metadata")).transpose()?;
        let dst_exists = tx.get(FILES, &JsValue::from_str(&to.key())).await?.is_some();
        match plan_move(src.as_ref(), dst_exists, from, to) {
            Ok(moved) => {
                tx.put(FILES, &to_js(&moved)).await?;
                tx.delete(FILES, &JsValue::from_str(&from.key())).await?;
                Self::finish(tx).await?;
                Ok(Ok(moved))
            }
            Err(err) => {
                tx.abort();
                Ok(Err(err))
            }
        }
    }

    /// Removes a file's metadata; returns it so the caller deletes its bytes.
    pub async fn remove_file(&self, path: &SandboxPath) -> Result<Option<FileMeta>> {
        let tx = self.tx(&[FILES], true)?;
        let key = JsValue::from_str(&path.key());
        let v = tx.get(FILES, &key).await?;
        let meta: Option<FileMeta> = v.map(|v| decode_value(v, "file metadata")).transpose()?;
        if meta.is_some() {
            tx.delete(FILES, &key).await?;
        }
        Self::finish(tx).await?;
        Ok(meta)
    }
}
