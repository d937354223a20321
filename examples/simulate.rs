//! Plays N random schedules (default 100,000) under every profile and
//! prints what they covered and any violation, with the failing script.
//!
//! ```sh
//! cargo run --release --features sim --example simulate -- 100000
//! ```

use bgsession::sim::Schedule;
use std::collections::BTreeMap;

fn main() {
    let n: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let t0 = std::time::Instant::now();
    let mut covered: BTreeMap<String, u64> = BTreeMap::new();
    let mut failures = 0u64;
    for seed in 0..n {
        let schedule = Schedule::random(seed);
        let (sim, violations) = schedule.play();
        *covered.entry(format!("profile {}", sim.profile.name)).or_default() += 1;
        for (what, count) in &sim.counts {
            *covered.entry((*what).to_string()).or_default() += count;
        }
        *covered.entry("tasks".into()).or_default() += sim.store.all_tasks().count() as u64;
        // By task: a call delivered again after a close mid-replay counts once.
        let ok = sim.trace.iter().filter(|e| e.what == "didCompleteWithError" && e.detail == "nil").filter_map(|e| e.task).collect::<std::collections::BTreeSet<_>>().len() as u64;
        *covered.entry("tasks ended in success".into()).or_default() += ok;
        *covered.entry("journal entries delivered".into()).or_default() += sim.deliveries.len() as u64;
        if !violations.is_empty() {
            failures += 1;
            if failures <= 3 {
                eprintln!("schedule {seed} broke an invariant:\n{schedule:?}\n{}\n", violations.join("\n"));
            }
        }
    }
    println!("{n} schedules in {:.1} s", t0.elapsed().as_secs_f64());
    for (what, count) in &covered {
        println!("  {what:<32} {count}");
    }
    println!("schedules with a violation: {failures}");
    if failures > 0 {
        std::process::exit(1);
    }
}
