//! Which tasks to start now, under the per-host connection cap, and when to
//! look again.
//!
//! # Examples
//!
//! ```
//! use bgsession::core::request::Request;
//! use bgsession::core::schedule::{next_wake, pick};
//! use bgsession::core::task::TaskRecord;
//!
//! let task = |id: u64, url: &str, priority: f64| {
//!     let mut t = TaskRecord::new_download("s", id, Request::get(url).unwrap(), id as f64, format!("b{id}"));
//!     t.priority = priority;
//!     t.resume().unwrap();
//!     t
//! };
//! let mut tasks = vec![task(1, "https://a/1", 0.5), task(2, "https://a/2", 0.5), task(3, "https://a/3", 1.0), task(4, "https://b/1", 0.5)];
//!
//! // At most 2 per host: host a gets task 3 (highest priority) and task 1 (older); host b gets task 4.
//! let ids: Vec<u64> = pick(&tasks, |_| false, 2, 0.0).iter().map(|t| t.task_id).collect();
//! assert_eq!(ids, vec![3, 1, 4]);
//!
//! // A task with a later earliestBeginDate is not picked; the daemon wakes for it.
//! tasks[3].earliest_begin_date = Some(5_000.0);
//! assert!(pick(&tasks[3..], |_| false, 2, 0.0).is_empty());
//! assert_eq!(next_wake(&tasks, 0.0), Some(5_000.0));
//! ```

use crate::core::request::host_key;
use crate::core::task::TaskRecord;
use std::collections::HashMap;

/// Picks tasks to start: runnable (`TaskRecord::is_runnable`), not already
/// active, at most `max_per_host` transfers per host counting the active
/// ones; higher `priority` first, then older.
pub fn pick(
    tasks: &[TaskRecord],
    is_active: impl Fn(&TaskRecord) -> bool,
    max_per_host: usize,
    now: f64,
) -> Vec<&TaskRecord> {
    pick_among(tasks, is_active, |_| true, max_per_host, now)
}

/// [`pick`], starting only tasks `may_start` allows (the network's say);
/// every active task of `tasks` still counts against the cap.
pub fn pick_among(
    tasks: &[TaskRecord],
    is_active: impl Fn(&TaskRecord) -> bool,
    may_start: impl Fn(&TaskRecord) -> bool,
    max_per_host: usize,
    now: f64,
) -> Vec<&TaskRecord> {
    let max = max_per_host.max(1);
    let mut per_host: HashMap<String, usize> = HashMap::new();
    for t in tasks.iter().filter(|t| is_active(t)) {
        *per_host.entry(host_key(&t.current_request.url)).or_default() += 1;
    }
    let mut candidates: Vec<&TaskRecord> =
        tasks.iter().filter(|t| !is_active(t) && t.is_runnable(now) && may_start(t)).collect();
    crate::core::order::sort_by(&mut candidates, |a, b| {
        b.priority
            .partial_cmp(&a.priority)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.created_at.partial_cmp(&b.created_at).unwrap_or(std::cmp::Ordering::Equal))
            .then(a.task_id.cmp(&b.task_id))
    });
    let mut out = Vec::new();
    for t in candidates {
        let n = per_host.entry(host_key(&t.current_request.url)).or_default();
        if *n < max {
            *n += 1;
            out.push(t);
        }
    }
    out
}

/// The next time something is due for a running task: a waiting one
/// becomes runnable (begin date, backoff), or a resource deadline passes.
pub fn next_wake(tasks: &[TaskRecord], now: f64) -> Option<f64> {
    let running = tasks.iter().filter(|t| t.state == crate::core::task::TaskState::Running);
    let starts = running.clone().filter(|t| !t.is_runnable(now)).map(|t| {
        let a = t.earliest_begin_date.unwrap_or(now);
        let b = t.retry_at.unwrap_or(now);
        a.max(b)
    });
    let deadlines = running.filter_map(|t| t.resource_deadline);
    starts.chain(deadlines).filter(|at| *at > now).min_by(|a, b| a.partial_cmp(b).unwrap())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::request::Request;

    fn t(id: u64, url: &str, prio: f64) -> TaskRecord {
        let mut t = TaskRecord::new_download("s", id, Request::get(url).unwrap(), id as f64, format!("b{id}"));
        t.priority = prio;
        t.resume().unwrap();
        t
    }

    #[test]
    fn caps_per_host_and_orders_by_priority_then_age() {
        let tasks = vec![
            t(1, "https://a/1", 0.5),
            t(2, "https://a/2", 0.5),
            t(3, "https://a/3", 1.0),
            t(4, "https://b/1", 0.5),
        ];
        let picked: Vec<u64> = pick(&tasks, |_| false, 2, 0.0).iter().map(|t| t.task_id).collect();
        assert_eq!(picked, vec![3, 1, 4]);
        let picked: Vec<u64> = pick(&tasks, |t| t.task_id == 3, 2, 0.0).iter().map(|t| t.task_id).collect();
        assert_eq!(picked, vec![1, 4], "active ones count against the cap");
    }

    #[test]
    fn the_network_filter_does_not_hide_active_tasks_from_the_cap() {
        let tasks = vec![t(1, "https://a/1", 0.5), t(2, "https://a/2", 0.5), t(3, "https://a/3", 0.5), t(4, "https://a/4", 0.5)];
        let active = |t: &TaskRecord| t.task_id <= 2;
        let picked = pick_among(&tasks, active, |t| t.task_id != 4, 3, 0.0);
        assert_eq!(picked.iter().map(|t| t.task_id).collect::<Vec<_>>(), vec![3], "2 active + 1 new = the cap of 3; task 4 held by the network");
        assert!(pick_among(&tasks, active, |_| true, 2, 0.0).is_empty(), "the cap is full with the active ones");
    }

    #[test]
    fn skips_suspended_and_delayed_and_reports_wake_time() {
        let mut tasks = vec![t(1, "https://a/1", 0.5), t(2, "https://a/2", 0.5), t(3, "https://a/3", 0.5)];
        tasks[0].suspend().unwrap();
        tasks[1].earliest_begin_date = Some(500.0);
        tasks[2].retry_at = Some(300.0);
        assert!(pick(&tasks, |_| false, 6, 0.0).is_empty());
        assert_eq!(next_wake(&tasks, 0.0), Some(300.0));
        assert_eq!(pick(&tasks, |_| false, 6, 300.0).len(), 1);
        assert_eq!(next_wake(&tasks, 300.0), Some(500.0));
        tasks[2].resource_deadline = Some(400.0);
        assert_eq!(next_wake(&tasks, 300.0), Some(400.0), "a resource deadline is a wake too");
    }
}
