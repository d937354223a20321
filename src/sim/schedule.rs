//! Random schedules of faults and app events, for property tests and the
//! `simulate` example: each is played under a profile, then the app is
//! opened, the link restored and every task resumed, and the invariants
//! checked ([`Sim::violations`]). A schedule prints as a script, so a
//! failing one (shrunk by proptest) reads as what happened.

use super::{KeepFiles, Profile, Resource, Sim, Step};
use std::fmt;

/// A resource's shape in a schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceSpec {
    /// Bytes.
    pub size: u64,
    /// Bytes per second.
    pub rate: f64,
    /// Connection cuts (at evenly spread offsets).
    pub cuts: u8,
    /// 503 answers (with `Retry-After: 1`).
    pub unavailable: u8,
    /// 200 answers to `Range` requests.
    pub ignore_range: u8,
    /// Short bodies.
    pub short_bodies: u8,
    /// Sends an ETag.
    pub etag: bool,
    /// Honours `Range`.
    pub ranges: bool,
}

impl ResourceSpec {
    fn resource(&self) -> Resource {
        let mut r = Resource::new(self.size, self.rate);
        r.etag = self.etag;
        r.ranges = self.ranges;
        r.faults.cuts = (1..=self.cuts as u64).map(|i| i * self.size / (self.cuts as u64 + 1) + 1).collect();
        r.faults.unavailable = self.unavailable as u32;
        r.faults.retry_after_s = Some(1);
        r.faults.ignore_range = self.ignore_range as u32;
        r.faults.short_bodies = self.short_bodies as u32;
        r
    }
}

/// A schedule: a profile, resources, and steps at virtual times.
#[derive(Clone, PartialEq)]
pub struct Schedule {
    /// Index into [`Schedule::profiles`].
    pub profile: usize,
    /// Resources, served at `https://example.test/r{i}`.
    pub resources: Vec<ResourceSpec>,
    /// Steps at virtual ms.
    pub steps: Vec<(f64, Step)>,
}

/// When the scripted part ends and the app comes back for good.
pub const END_MS: f64 = 600_000.0;
/// How long a delegate call takes in a schedule ([`Sim::with_page_ms`]).
pub const CALL_MS: f64 = 1.0;
/// How long each of a page's writes takes in a schedule ([`Sim::with_page_ms`]).
pub const WRITE_MS: f64 = 2.0;
/// How long after [`END_MS`] everything must have settled.
pub const SETTLE_MS: f64 = 4.0 * 3_600_000.0;

impl Schedule {
    /// The profiles schedules run under.
    pub fn profiles() -> Vec<Profile> {
        vec![Profile::ios(), Profile::chromium(), Profile::firefox(), Profile::webkit(), Profile::webkit_ephemeral()]
    }

    /// The URL of resource `i`.
    pub fn url(i: usize) -> String {
        format!("https://example.test/r{i}")
    }

    /// Plays the schedule; returns the simulation and what went wrong.
    pub fn play(&self) -> (Sim, Vec<String>) {
        let profiles = Self::profiles();
        // A page's writes take a few ms (a batch of acknowledgements took
        // 0.5-3.4 ms in Chromium, tests/bench/ack-cost.mjs) and delegate
        // calls take time, so a page closed mid-replay leaves writes in
        // flight, and marks.
        let mut sim = Sim::new(profiles[self.profile % profiles.len()].clone(), Box::new(KeepFiles)).with_seed(self.profile as u64 + 11).with_page_ms(CALL_MS, WRITE_MS);
        for (i, r) in self.resources.iter().enumerate() {
            sim.server.resources.insert(Self::url(i), r.resource());
        }
        for (at, step) in &self.steps {
            sim.at(at.min(END_MS - 1.0), step.clone());
        }
        // The app comes back for good: a close still waiting for a
        // delivery from the journal does not happen.
        sim.run_until(END_MS - 0.5);
        sim.keep_open();
        sim.at(END_MS, Step::Online);
        sim.at(END_MS, Step::OpenApp);
        for id in 1..=(self.steps.len() as u64 + 1) {
            sim.at(END_MS + 1.0, Step::Resume(id));
        }
        sim.run_until(END_MS + 1.0);
        sim.run_until_settled(END_MS + SETTLE_MS);
        let v = sim.violations(true);
        (sim, v)
    }

    /// A schedule from a seed (the `simulate` example's generator).
    pub fn random(seed: u64) -> Schedule {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let n_res = 1 + rng.below(3) as usize;
        let resources = (0..n_res)
            .map(|_| ResourceSpec {
                size: 1 + rng.below(24 << 20),
                rate: (64 << 10) as f64 + rng.below(16 << 20) as f64,
                cuts: if rng.below(3) == 0 { rng.below(5) as u8 } else { 0 },
                unavailable: if rng.below(4) == 0 { rng.below(3) as u8 } else { 0 },
                ignore_range: if rng.below(4) == 0 { rng.below(3) as u8 } else { 0 },
                short_bodies: if rng.below(5) == 0 { 1 } else { 0 },
                etag: rng.below(8) != 0,
                ranges: rng.below(8) != 0,
            })
            .collect();
        let n_steps = 2 + rng.below(14) as usize;
        let mut steps = vec![(0.0, Step::OpenApp)];
        for _ in 0..n_steps {
            let at = rng.below(END_MS as u64) as f64;
            let id = 1 + rng.below(6);
            let step = match rng.below(17) {
                0..=3 => Step::Download { session: format!("s{}", rng.below(2)), url: Self::url(rng.below(n_res as u64) as usize) },
                4 => Step::OpenApp,
                5 => Step::CloseApp,
                6 => Step::KillDaemon,
                7 => Step::Restart,
                8 => Step::Offline,
                9 => Step::Suspend(id),
                10 => Step::Resume(id),
                11 => Step::Cancel(id),
                12 => Step::CancelProducingResumeData(id),
                13 => Step::ResumeWithData(id),
                14 => Step::ChangeResource(Self::url(rng.below(n_res as u64) as usize)),
                15 => Step::CloseAppWhileDelivering(rng.below(8) as u32),
                _ => {
                    if rng.below(2) == 0 {
                        Step::EvictBytes
                    } else {
                        Step::ForceQuit
                    }
                }
            };
            steps.push((at, step));
            if matches!(steps.last(), Some((_, Step::Offline))) {
                steps.push((at + rng.below(120_000) as f64, Step::Online));
            }
        }
        steps.sort_by(|a, b| a.0.total_cmp(&b.0));
        Schedule { profile: rng.below(5) as usize, resources, steps }
    }
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let profiles = Self::profiles();
        writeln!(f, "under {}:", profiles[self.profile % profiles.len()].name)?;
        for (i, r) in self.resources.iter().enumerate() {
            writeln!(
                f,
                "  r{i}: {} bytes at {:.0} B/s{}{}, faults: {} cuts, {}×503, {}×200-to-Range, {} short",
                r.size,
                r.rate,
                if r.etag { ", ETag" } else { ", no validator" },
                if r.ranges { "" } else { ", no ranges" },
                r.cuts,
                r.unavailable,
                r.ignore_range,
                r.short_bodies
            )?;
        }
        for (at, step) in &self.steps {
            writeln!(f, "  at {:>8.1} s: {step:?}", at / 1000.0)?;
        }
        write!(f, "  then: online, open the app, resume every task, wait")
    }
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        if n == 0 {
            0
        } else {
            self.0 % n
        }
    }
}
