//! Helpers for the simulator tests: the trace folded into a shape, and the
//! invariants every scenario must keep.
#![allow(dead_code)]

use bgsession::sim::{Lane, Sim};

/// The delegate methods of a task, runs of `didWriteData` folded into
/// `didWriteData+`, completions with their error (`(nil)` on success).
pub fn shape(s: &Sim, task: u64) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in s.trace.iter().filter(|e| e.task == Some(task) && e.lane == Lane::App) {
        let name = match e.what.as_str() {
            "didWriteData" => "didWriteData+".to_string(),
            "didCompleteWithError" if e.detail == "nil" => "didCompleteWithError(nil)".to_string(),
            other => other.to_string(),
        };
        if out.last() != Some(&name) || name != "didWriteData+" {
            out.push(name);
        }
    }
    out
}

/// Was this method delivered from the journal after a relaunch (the app was
/// not alive when the daemon journalled it)?
pub fn replayed(s: &Sim, task: u64, method: &str) -> bool {
    s.trace.iter().any(|e| e.task == Some(task) && e.what == method && !e.app_alive)
}

/// `didCompleteWithError`'s errors for a task ("nil", or "code description").
pub fn completions(s: &Sim, task: u64) -> Vec<String> {
    s.trace
        .iter()
        .filter(|e| e.task == Some(task) && e.what == "didCompleteWithError")
        .map(|e| if e.detail == "nil" { "nil".to_string() } else { e.detail.split(':').next().unwrap_or_default().trim().to_string() })
        .collect()
}

/// Bytes the server sent for `url` beyond its size.
pub fn refetched(s: &Sim, url: &str) -> u64 {
    s.bytes_served(url).saturating_sub(s.server.resources[url].size)
}

/// The invariants, as `Sim::violations` after running to the end.
pub fn check_invariants(s: &Sim) -> Result<(), String> {
    let v = s.violations(true);
    if v.is_empty() { Ok(()) } else { Err(v.join("\n")) }
}
