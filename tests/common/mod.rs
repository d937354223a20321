//! Store and segment tests shared by the page suite and the Service Worker
//! suite: the same adapters must behave the same in both.
#![allow(dead_code)]

/// Declares the shared store tests in the including suite (page or worker).
#[macro_export]
macro_rules! shared_store_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[wasm_bindgen_test]
            async fn $name() {
                common::$name().await;
            }
        )*
    };
}

use bgsession::core::files::FileMeta;
use bgsession::core::journal::{ack_for, plan_append, AppendPlan, Event, JournalEntry};
use bgsession::core::path::SandboxPath;
use bgsession::core::request::Request;
use bgsession::core::task::TaskRecord;
use bgsession::internals::{bytes, store};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", js_sys::Math::random().to_string().replace('.', ""))
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ ((i >> 8) as u8)).collect()
}

fn reader_of(data: &[u8]) -> JsValue {
    let mut copy = data.to_vec();
    let resp = web_sys::Response::new_with_opt_u8_array(Some(&mut copy)).unwrap();
    resp.body().unwrap().get_reader().into()
}

async fn blob_bytes(blob: &web_sys::Blob) -> Vec<u8> {
    let buf = JsFuture::from(blob.array_buffer()).await.unwrap();
    js_sys::Uint8Array::new(&buf).to_vec()
}

pub async fn task_round_trip() {
    let s = store::shared().await.unwrap();
    let session = unique("rt");
    let mut t = TaskRecord::new_download(&session, 7, Request::get("https://example.test/a").unwrap(), 1.0, "b".into());
    t.task_description = "Episode 1".into();
    t.resume().unwrap();
    s.commit_all(Some(&t), None, None, vec![], false).await.unwrap();
    let back = s.get_task(&session, 7).await.unwrap().expect("stored");
    assert_eq!(back, t);
    let mut t2 = t.clone();
    t2.task_id = 8;
    s.commit_all(Some(&t2), None, None, vec![], false).await.unwrap();
    let all = s.tasks(Some(&session)).await.unwrap();
    assert_eq!(all.iter().map(|t| t.task_id).collect::<Vec<_>>(), vec![7, 8]);
    assert!(s.get_task(&session, 9).await.unwrap().is_none());
}

fn wd(session: &str, task: u64, total: u64) -> JournalEntry {
    JournalEntry {
        v: 1,
        seq: None,
        session: session.into(),
        task_id: task,
        event: Event::DidWriteData { total_bytes_written: total, total_bytes_expected_to_write: 100 },
        response: None,
        at: 0.0,
    }
}

pub async fn journal_order_coalescing_and_ack() {
    let s = store::shared().await.unwrap();
    let session = unique("journal");
    // progress 10 for task 1, progress 5 for task 2, then task 1's 20 replaces its 10.
    let a = s.commit_all(None, None, None, vec![(wd(&session, 1, 10), AppendPlan::Append)], false).await.unwrap().remove(0);
    s.commit_all(None, None, None, vec![(wd(&session, 2, 5), AppendPlan::Append)], false).await.unwrap();
    let plan = plan_append(Some(&a), &wd(&session, 1, 20).event);
    assert!(matches!(plan, AppendPlan::ReplaceThenAppend(seq) if Some(seq) == a.seq));
    s.commit_all(None, None, None, vec![(wd(&session, 1, 20), plan)], false).await.unwrap();
    // A temp file and its finish + completion events, in one transaction.
    let tmp = SandboxPath::parse(&format!("/tmp/{}.tmp", unique("f"))).unwrap();
    let file = FileMeta::new(&tmp, unique("blob"), vec![3], 0.0, None);
    let fin = JournalEntry { event: Event::DidFinishDownloadingTo { location: tmp.url() }, ..wd(&session, 1, 0) };
    let done = JournalEntry { event: Event::DidCompleteWithError { error: None }, ..wd(&session, 1, 0) };
    s.commit_all(None, None, Some(&file), vec![(fin, AppendPlan::Append), (done, AppendPlan::Append)], false).await.unwrap();

    let pending = s.pending_events(&session).await.unwrap();
    let kinds: Vec<(u64, &str)> = pending.iter().map(|e| (e.task_id, e.event.method())).collect();
    assert_eq!(
        kinds,
        vec![(2, "didWriteData"), (1, "didWriteData"), (1, "didFinishDownloadingTo"), (1, "didCompleteWithError")],
        "journal order, progress coalesced"
    );
    assert!(pending.windows(2).all(|w| w[0].seq < w[1].seq));
    // Read by key from past one of them: the same entries after it.
    let after = pending[1].seq.unwrap();
    assert_eq!(s.pending_events_after(&session, after).await.unwrap(), pending[2..].to_vec(), "by key, after the second");
    assert!(s.sessions_with_events().await.unwrap().contains(&session));

    assert_eq!(s.count_pending(&session).await.unwrap(), 4);
    // Acknowledge the first one alone, then the rest in one group commit:
    // progress totals are kept, the temp file listed, then removed.
    let acks: Vec<_> = pending.iter().map(|e| ack_for(e).unwrap()).collect();
    s.ack(&session, &acks[..1]).await.unwrap();
    assert_eq!(s.delivered_total(&session, 2).await.unwrap(), 5);
    assert_eq!(s.count_pending(&session).await.unwrap(), 3);
    assert!(s.session_view(&session).await.unwrap().unremoved_temp_files.is_empty());
    s.ack(&session, &acks[1..]).await.unwrap();
    assert!(s.get_file(&tmp).await.unwrap().is_some(), "listed, not removed, by the acknowledgement");
    let view = s.session_view(&session).await.unwrap();
    assert_eq!(view.unremoved_temp_files, vec![tmp.url()], "the acknowledgement's list is in the session's view");
    assert_eq!(view.delivered_totals.get(&2), Some(&5), "beside the totals");
    let removed = s.remove_temp_files(&session, &view.unremoved_temp_files).await.unwrap();
    assert_eq!(removed.iter().map(|f| f.path.clone()).collect::<Vec<_>>(), vec![tmp.key()], "unmoved temp file removed");
    assert!(s.session_view(&session).await.unwrap().unremoved_temp_files.is_empty(), "and the list with it");
    assert!(s.pending_events(&session).await.unwrap().is_empty(), "each event acknowledged once");
    assert_eq!(s.delivered_total(&session, 1).await.unwrap(), 0, "a completed task's bookkeeping is forgotten");
    assert!(s.get_file(&tmp).await.unwrap().is_none());
    assert!(!s.sessions_with_events().await.unwrap().contains(&session));
}

pub async fn marks_stand_for_delivered_entries_until_acknowledged_in_full() {
    let s = store::shared().await.unwrap();
    let session = unique("mark");
    let written = s.commit_all(None, None, None, vec![(wd(&session, 1, 10), AppendPlan::Append), (wd(&session, 2, 5), AppendPlan::Append)], false).await.unwrap();
    let (first, second) = (written[0].seq.unwrap(), written[1].seq.unwrap());
    assert_eq!(s.session_view(&session).await.unwrap().delivered_up_to, 0, "no mark yet");
    // The first entry marked delivered: one pending, the view says up to where.
    s.mark_delivered(&session, first).await.unwrap();
    let view = s.session_view(&session).await.unwrap();
    assert_eq!(view.delivered_up_to, first);
    assert_eq!(view.entries.len(), 2, "the marked entry is still stored, for its acknowledgement in full");
    assert!(view.delivered_totals.is_empty(), "a mark is no task's total");
    assert_eq!(s.count_pending(&session).await.unwrap(), 1);
    assert!(s.sessions_with_events().await.unwrap().contains(&session));
    // Both marked: the session has nothing to deliver, for a launch.
    s.mark_delivered(&session, second).await.unwrap();
    assert_eq!(s.session_view(&session).await.unwrap().delivered_up_to, second, "each mark replaces the last");
    assert_eq!(s.count_pending(&session).await.unwrap(), 0);
    assert!(!s.sessions_with_events().await.unwrap().contains(&session));
    // Acknowledged in full: the entries, the totals, and the mark goes.
    let acks: Vec<_> = written.iter().map(|e| ack_for(e).unwrap()).collect();
    s.ack(&session, &acks).await.unwrap();
    let view = s.session_view(&session).await.unwrap();
    assert_eq!((view.delivered_up_to, view.entries.len()), (0, 0));
    assert_eq!(s.delivered_total(&session, 1).await.unwrap(), 10);
    // A new entry after it is pending again.
    s.commit_all(None, None, None, vec![(wd(&session, 1, 20), AppendPlan::Append)], false).await.unwrap();
    assert_eq!(s.count_pending(&session).await.unwrap(), 1);
    assert!(s.sessions_with_events().await.unwrap().contains(&session));
}

pub async fn a_launch_view_stands_only_while_no_page_delivered() {
    let s = store::shared().await.unwrap();
    let session = unique("early");
    let seqs = |v: &store::SessionView| v.entries.iter().map(|e| e.seq.unwrap()).collect::<Vec<_>>();
    let written = s.commit_all(None, None, None, vec![(wd(&session, 1, 10), AppendPlan::Append), (wd(&session, 2, 5), AppendPlan::Append)], false).await.unwrap();
    let (first, second) = (written[0].seq.unwrap(), written[1].seq.unwrap());

    // Listed (its view read with it), then the daemon appends and writes a
    // task: the page's view is the launch's, with the entry appended since.
    assert!(s.sessions_with_events().await.unwrap().contains(&session));
    let later = s.commit_all(None, None, None, vec![(wd(&session, 3, 7), AppendPlan::Append)], false).await.unwrap()[0].seq.unwrap();
    let t = TaskRecord::new_download(&session, 9, Request::get("https://example.test/9").unwrap(), 1.0, "b9".into());
    s.commit_all(Some(&t), None, None, vec![], false).await.unwrap();
    let view = s.session_view(&session).await.unwrap();
    assert_eq!(seqs(&view), vec![first, second, later], "the launch's entries, then the one appended since");
    // The launch's view it is: the task written after the listing is not in
    // it (a page learns of such a task from its events, as it does of one
    // written after a view read under the lock).
    assert!(view.tasks.iter().all(|t| t.task_id != 9), "the launch's tasks");
    assert!(s.session_view(&session).await.unwrap().tasks.iter().any(|t| t.task_id == 9), "a view read now has it");

    // Listed, then a page acknowledges the second entry in full, not the
    // first (its batch failed): read again, without the second.
    assert!(s.sessions_with_events().await.unwrap().contains(&session));
    let acks: Vec<_> = written.iter().map(|e| ack_for(e).unwrap()).collect();
    s.ack(&session, &acks[1..]).await.unwrap();
    let view = s.session_view(&session).await.unwrap();
    assert_eq!((view.delivered_up_to, seqs(&view)), (0, vec![first, later]), "not the second again");
    assert!(view.tasks.iter().any(|t| t.task_id == 9), "read again");

    // Listed, then a page marks the first entry delivered: read again.
    assert!(s.sessions_with_events().await.unwrap().contains(&session));
    s.mark_delivered(&session, first).await.unwrap();
    let view = s.session_view(&session).await.unwrap();
    assert_eq!((view.delivered_up_to, seqs(&view)), (first, vec![first, later]), "the mark is in the view");

    // Listed, then a page acknowledges the first in full: read again.
    assert!(s.sessions_with_events().await.unwrap().contains(&session));
    s.ack(&session, &acks[..1]).await.unwrap();
    let view = s.session_view(&session).await.unwrap();
    assert_eq!((view.delivered_up_to, seqs(&view)), (0, vec![later]), "none of what was acknowledged");
}

pub async fn chunked_writes_round_trip() {
    round_trip(&bytes::shared().await.unwrap()).await;
}

/// The IndexedDB backend (ArrayBuffers in `bgsession-bytes`): the same round trip.
pub async fn idb_round_trip() {
    backend_round_trip(bytes::Backend::IndexedDb).await;
}

async fn backend_round_trip(backend: bytes::Backend) {
    let b = bytes::open(backend).await.unwrap();
    assert_eq!(b.backend(), backend);
    round_trip(&b).await;
}

/// Streams `data` into segments of at most `max` bytes under `blob_id`;
/// returns the segment lengths.
async fn write_segments(b: &bytes::Bytes, blob_id: &str, data: &[u8], max: u64) -> Vec<u64> {
    let reader = reader_of(data);
    let carry: JsValue = js_sys::Object::new().into();
    let mut segments = Vec::new();
    loop {
        let seg = bytes::Segment::from_js(b.start_segment(&reader, blob_id, segments.len(), max, 60_000.0, 60_000.0, &carry)).await.unwrap();
        seg.persisted().await.unwrap();
        assert!(seg.broken.is_none());
        if seg.written > 0 {
            segments.push(seg.written);
        }
        if seg.done {
            break;
        }
    }
    segments
}

async fn round_trip(b: &bytes::Bytes) {
    let data = pattern(5 * 1024 * 1024 + 123, 7);
    let blob_id = unique("seg");
    let segments = write_segments(b, &blob_id, &data, 2 * 1024 * 1024).await;
    assert_eq!(segments, vec![2 * 1024 * 1024, 2 * 1024 * 1024, 1024 * 1024 + 123], "segments cut at the size bound");
    let path = SandboxPath::parse(&format!("/tmp/{blob_id}")).unwrap();
    let file = FileMeta::new(&path, blob_id.clone(), segments.clone(), 0.0, Some("application/x-test".into()));
    let blob = b.read(&file).await.unwrap();
    assert_eq!(blob.size() as usize, data.len());
    assert_eq!(blob.type_(), "application/x-test");
    assert!(blob_bytes(&blob).await == data, "bytes read back equal bytes written");
    b.delete(&blob_id, segments.len()).await.unwrap();
    assert!(b.read(&file).await.is_err(), "deleted segments are gone");
}

/// IndexedDB backend: the intact check counts the whole segments; a
/// truncated or missing segment ends the prefix; a copy reads back equal.
pub async fn idb_intact_truncated_copy() {
    intact_truncated_copy(bytes::Backend::IndexedDb).await;
}

async fn intact_truncated_copy(backend: bytes::Backend) {
    let b = bytes::open(backend).await.unwrap();
    let data = pattern(3 * 1024 * 1024, 3);
    let blob_id = unique("intact");
    let segments = write_segments(&b, &blob_id, &data, 1024 * 1024).await;
    assert_eq!(segments, vec![1024 * 1024; 3]);
    assert_eq!(b.intact_prefix(&blob_id, &segments).await.unwrap(), 3, "all three whole");
    let mut longer = segments.clone();
    longer.push(10);
    assert_eq!(b.intact_prefix(&blob_id, &longer).await.unwrap(), 3, "a fourth segment never stored is not intact");

    let path = SandboxPath::parse(&format!("/tmp/{blob_id}")).unwrap();
    let file = FileMeta::new(&path, blob_id.clone(), segments.clone(), 0.0, None);
    let copy_id = unique("copy");
    b.copy(&file, &copy_id).await.unwrap();
    let copied = FileMeta::new(&path, copy_id.clone(), segments.clone(), 0.0, None);
    assert!(blob_bytes(&b.read(&copied).await.unwrap()).await == data, "the copy reads back equal");

    // Segment 1 committed short (as an engine stopped mid-stream may leave it).
    let short = web_sys::Blob::new_with_u8_array_sequence(&js_sys::Array::of1(&js_sys::Uint8Array::from(&data[..1000]))).unwrap();
    b.put_blob(&blob_id, 1, &short).await.unwrap();
    assert_eq!(b.intact_prefix(&blob_id, &segments).await.unwrap(), 1, "the truncated segment ends the intact prefix");
    assert!(b.read(&file).await.is_err(), "a truncated segment is an error, never wrong bytes");
    b.delete_range(&blob_id, 0, 1).await.unwrap();
    assert_eq!(b.intact_prefix(&blob_id, &segments).await.unwrap(), 0, "a missing first segment: nothing intact");
    assert!(blob_bytes(&b.read(&copied).await.unwrap()).await == data, "the copy is independent of its source");
    b.delete(&blob_id, 3).await.unwrap();
    b.delete(&copy_id, 3).await.unwrap();
}

/// IndexedDB backend: a sweep deletes every segment whose blob id is not
/// kept, and only those.
pub async fn idb_sweep() {
    sweep(bytes::Backend::IndexedDb).await;
}

async fn sweep(backend: bytes::Backend) {
    let b = bytes::open(backend).await.unwrap();
    let (keep, drop) = (unique("keep"), unique("drop"));
    let data = pattern(300_000, 9);
    let kept = write_segments(&b, &keep, &data, 100_000).await;
    let dropped = write_segments(&b, &drop, &data, 100_000).await;
    assert_eq!(dropped.len(), 3);
    let n = b.sweep(|id| id != drop).await.unwrap();
    assert_eq!(n, 3, "the three segments of the unkept blob are swept, no other");
    assert_eq!(b.intact_prefix(&drop, &dropped).await.unwrap(), 0, "swept segments are gone");
    assert_eq!(b.intact_prefix(&keep, &kept).await.unwrap(), 3, "kept segments stay");
    b.delete(&keep, 3).await.unwrap();
}

/// Bytes written to the Cache API before the origin chose IndexedDB stay
/// readable through the IndexedDB store, and its deletion reaches them.
pub async fn idb_reads_cache_api_segments() {
    reads_cache_api_segments(bytes::Backend::IndexedDb).await;
}

async fn reads_cache_api_segments(backend: bytes::Backend) {
    let cache = bytes::open(bytes::Backend::CacheApi).await.unwrap();
    let idb = bytes::open(backend).await.unwrap();
    let data = pattern(700_000, 5);
    let blob_id = unique("legacy");
    let segments = write_segments(&cache, &blob_id, &data, 300_000).await;
    assert_eq!(segments, vec![300_000, 300_000, 100_000]);
    assert_eq!(idb.intact_prefix(&blob_id, &segments).await.unwrap(), 3, "Cache API segments count as intact");
    let path = SandboxPath::parse(&format!("/tmp/{blob_id}")).unwrap();
    let file = FileMeta::new(&path, blob_id.clone(), segments.clone(), 0.0, None);
    assert!(blob_bytes(&idb.read(&file).await.unwrap()).await == data, "read back equal through the IndexedDB store");
    idb.delete(&blob_id, 3).await.unwrap();
    assert_eq!(cache.intact_prefix(&blob_id, &segments).await.unwrap(), 0, "deleted from the Cache API too");
}

/// The origin's backend is chosen once and recorded: every open agrees.
pub async fn backend_recorded() {
    let a = bytes::shared().await.unwrap().backend();
    let again = bytes::open_recorded().await.unwrap().backend();
    assert_eq!(a, again, "the recorded choice is read back");
    // Chromium and Firefox: the Cache API (WebKit's ephemeral store, which
    // refuses Blobs in IndexedDB, is the one that takes IndexedDB).
    let navigator = js_sys::Reflect::get(&js_sys::global(), &"navigator".into()).unwrap();
    let ua = js_sys::Reflect::get(&navigator, &"userAgent".into()).unwrap().as_string().unwrap_or_default();
    if ua.contains("Firefox/") || ua.contains("Chrome/") {
        assert_eq!(a, bytes::Backend::CacheApi, "{ua}");
    }
}

pub async fn files_move_relabels() {
    let s = store::shared().await.unwrap();
    let from = SandboxPath::parse(&format!("file:///tmp/{}.tmp", unique("mv"))).unwrap();
    let to = SandboxPath::parse(&format!("file:///Documents/{}.bin", unique("mv"))).unwrap();
    let f = FileMeta::new(&from, unique("blob"), vec![10, 20], 5.0, None);
    s.put_file(&f).await.unwrap();
    let moved = s.move_file(&from, &to).await.unwrap().unwrap();
    assert_eq!(moved.blob_id, f.blob_id, "same bytes, new label");
    assert_eq!(moved.size, 30);
    assert!(s.get_file(&from).await.unwrap().is_none());
    assert_eq!(s.get_file(&to).await.unwrap().unwrap().path, to.key());
    let err = s.move_file(&from, &to).await.unwrap().unwrap_err();
    assert_eq!(err.code(), 4, "source gone");
    s.put_file(&f).await.unwrap();
    let err = s.move_file(&from, &to).await.unwrap().unwrap_err();
    assert_eq!(err.code(), 516, "destination exists");
    assert!(s.get_file(&from).await.unwrap().is_some(), "a refused move changes nothing");
}

/// The group commit deletes a run of entries in one range delete and the
/// unmoved temp files in one span delete, but only when nothing of another
/// session lies inside: here something does, then not. A session's view has
/// its tasks, entries and delivered totals.
pub async fn acks_spare_other_sessions() {
    let s = store::shared().await.unwrap();
    let (a, b) = (unique("ack-a"), unique("ack-b"));
    let done = |session: &str, task: u64| JournalEntry { event: Event::DidCompleteWithError { error: None }, ..wd(session, task, 0) };
    let fin = |session: &str, task: u64, path: &SandboxPath| JournalEntry { event: Event::DidFinishDownloadingTo { location: path.url() }, ..wd(session, task, 0) };
    // Temp files: a's two with b's between them (in key order), and a's
    // third and fourth side by side.
    let stem = unique("span");
    let paths: Vec<SandboxPath> = ["1", "2", "3", "4", "5"].iter().map(|n| SandboxPath::parse(&format!("/tmp/{stem}-{n}.tmp")).unwrap()).collect();
    // Each holds bytes: `remove_temp_files` hands back the removed files
    // that hold bytes (the caller deletes those), and removes the others
    // without a word.
    for (p, session) in paths.iter().zip([&a, &b, &a, &a, &a]) {
        s.put_file(&FileMeta::new(p, unique(session), vec![10], 0.0, None)).await.unwrap();
    }
    // Journal: a, b, a, b, a (interleaved), then a, a, a (a run of its own).
    let plan = vec![
        (fin(&a, 1, &paths[0]), AppendPlan::Append),
        (fin(&b, 1, &paths[1]), AppendPlan::Append),
        (fin(&a, 2, &paths[2]), AppendPlan::Append),
        (done(&b, 1), AppendPlan::Append),
        (done(&a, 1), AppendPlan::Append),
        (fin(&a, 3, &paths[3]), AppendPlan::Append),
        (fin(&a, 4, &paths[4]), AppendPlan::Append),
        (wd(&a, 5, 10), AppendPlan::Append),
    ];
    s.commit_all(None, None, None, plan, false).await.unwrap();
    let ours = s.pending_events(&a).await.unwrap();
    assert_eq!(ours.len(), 6);
    let acks: Vec<_> = ours.iter().map(|e| ack_for(e).unwrap()).collect();
    s.ack(&a, &acks[..3]).await.unwrap();
    let listed = s.session_view(&a).await.unwrap().unremoved_temp_files;
    assert_eq!(listed, vec![paths[0].url(), paths[2].url()], "a's acknowledgement lists a's temp files");
    assert!(s.session_view(&b).await.unwrap().unremoved_temp_files.is_empty(), "b's lists nothing");
    let mut removed: Vec<String> = s.remove_temp_files(&a, &listed).await.unwrap().into_iter().map(|f| f.path).collect();
    removed.sort();
    assert_eq!(removed, vec![paths[0].key(), paths[2].key()], "a's unmoved temp files, not b's");
    assert!(s.get_file(&paths[0]).await.unwrap().is_none() && s.get_file(&paths[2]).await.unwrap().is_none(), "a's are removed");
    assert!(s.get_file(&paths[1]).await.unwrap().is_some(), "b's file between them stays");
    assert_eq!(s.pending_events(&b).await.unwrap().len(), 2, "b's entries between a's stay");
    assert_eq!(s.pending_events(&a).await.unwrap().len(), 3);
    // The rest of a's entries are a run, and so are its files: all gone, b's still there.
    s.ack(&a, &acks[3..]).await.unwrap();
    let listed = s.session_view(&a).await.unwrap().unremoved_temp_files;
    let mut removed: Vec<String> = s.remove_temp_files(&a, &listed).await.unwrap().into_iter().map(|f| f.path).collect();
    removed.sort();
    assert_eq!(removed, vec![paths[3].key(), paths[4].key()]);
    assert!(s.pending_events(&a).await.unwrap().is_empty());
    assert_eq!(s.pending_events(&b).await.unwrap().len(), 2);
    assert!(s.get_file(&paths[1]).await.unwrap().is_some());
    assert_eq!(s.delivered_total(&a, 5).await.unwrap(), 10, "progress total kept");
    assert_eq!(s.session_view(&a).await.unwrap().delivered_totals.get(&5), Some(&10), "a's totals come with its view");
    // What a page opening b reads first: its tasks and its entries in order.
    let mut t = TaskRecord::new_download(&b, 1, Request::get("https://example.test/b").unwrap(), 1.0, "blob-b".into());
    t.resume().unwrap();
    s.commit_all(Some(&t), None, None, vec![], false).await.unwrap();
    let view = s.session_view(&b).await.unwrap();
    assert_eq!(view.tasks, vec![t]);
    assert_eq!(view.entries.iter().map(|e| e.event.method()).collect::<Vec<_>>(), vec!["didFinishDownloadingTo", "didCompleteWithError"]);
    assert!(view.delivered_totals.is_empty());
}
