//! The daemon's cost per scheduling decision with 500, 5,000 and 10,000
//! queued tasks under `httpMaximumConnectionsPerHost = 6` (simulated, in
//! virtual time; the wall time is the machines' own cost).
//!
//! ```sh
//! cargo run --release --features sim --example schedule_cost
//! ```

use bgsession::sim::{KeepFiles, Profile, Resource, Sim, Step};

fn main() {
    println!("{:>7} {:>10} {:>12} {:>16} {:>14}", "tasks", "decisions", "wall ms", "µs per decision", "µs per task");
    for n in [500usize, 5_000, 10_000] {
        let mut sim = Sim::new(Profile::chromium(), Box::new(KeepFiles));
        sim.set_max_connections("s", 6);
        sim.at(0.0, Step::OpenApp);
        for i in 0..n {
            let url = format!("https://example.test/f{i}");
            sim.server.resources.insert(url.clone(), Resource::new(16 * 1024, 64.0 * 1024.0 * 1024.0));
            sim.at(0.0, Step::Download { session: "s".into(), url });
        }
        let t0 = std::time::Instant::now();
        sim.run_until_settled(24.0 * 3_600_000.0);
        let wall = t0.elapsed().as_secs_f64() * 1000.0;
        let decisions = sim.daemon_decisions().max(1);
        assert!(sim.is_settled(), "all {n} tasks done");
        assert!(sim.max_concurrent() <= 6, "cap kept: {}", sim.max_concurrent());
        println!("{n:>7} {decisions:>10} {wall:>12.0} {:>16.1} {:>14.1}", wall * 1000.0 / decisions as f64, wall * 1000.0 / n as f64);
    }
}
