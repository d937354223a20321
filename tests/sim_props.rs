//! Property test: random schedules of faults and app events under every
//! worker-lifetime profile keep the invariants ([`Sim::violations`]): each
//! task's delegate sees exactly one `didCompleteWithError`; success means
//! the bytes equal the server's; no journal entry is lost or delivered
//! twice (but what a page closed mid-replay delivered without its
//! acknowledgement on disk, which comes again once); nothing is left
//! behind. A page's writes take 2 ms, so a page closed while it delivers
//! leaves some in flight. 1,000 schedules (`PROPTEST_CASES` to
//! change); a failure shrinks to a short, readable script.
#![cfg(all(feature = "sim", not(target_arch = "wasm32")))]

use bgsession::sim::{ResourceSpec, Schedule, Step};
use proptest::prelude::*;

fn resource() -> impl Strategy<Value = ResourceSpec> {
    (1u64..24 << 20, 64u64 << 10..16 << 20, 0u8..5, 0u8..3, 0u8..3, 0u8..2, any::<bool>(), prop::bool::weighted(0.9)).prop_map(
        |(size, rate, cuts, unavailable, ignore_range, short_bodies, etag, ranges)| ResourceSpec {
            size,
            rate: rate as f64,
            cuts,
            unavailable,
            ignore_range,
            short_bodies,
            etag,
            ranges,
        },
    )
}

fn step(resources: usize) -> impl Strategy<Value = Step> {
    let url = (0..resources).prop_map(Schedule::url);
    prop_oneof![
        4 => ((0u8..2), url.clone()).prop_map(|(s, url)| Step::Download { session: format!("s{s}"), url }),
        1 => Just(Step::OpenApp),
        1 => Just(Step::CloseApp),
        1 => (0u32..8).prop_map(Step::CloseAppWhileDelivering),
        1 => Just(Step::KillDaemon),
        1 => Just(Step::Restart),
        1 => Just(Step::Offline),
        1 => Just(Step::Online),
        1 => (1u64..7).prop_map(Step::Suspend),
        1 => (1u64..7).prop_map(Step::Resume),
        1 => (1u64..7).prop_map(Step::Cancel),
        1 => (1u64..7).prop_map(Step::CancelProducingResumeData),
        1 => (1u64..7).prop_map(Step::ResumeWithData),
        1 => url.prop_map(Step::ChangeResource),
        1 => Just(Step::EvictBytes),
        1 => Just(Step::ForceQuit),
    ]
}

fn schedule() -> impl Strategy<Value = Schedule> {
    (0usize..5, prop::collection::vec(resource(), 1..4)).prop_flat_map(|(profile, resources)| {
        let n = resources.len();
        prop::collection::vec((0u32..600, step(n)), 1..16).prop_map(move |mut steps| {
            steps.sort_by_key(|(at, _)| *at);
            let mut all = vec![(0.0, Step::OpenApp)];
            all.extend(steps.into_iter().map(|(at, s)| (at as f64 * 1000.0, s)));
            Schedule { profile, resources: resources.clone(), steps: all }
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000), max_shrink_iters: 2000, ..ProptestConfig::default() })]

    #[test]
    fn every_schedule_keeps_the_invariants(s in schedule()) {
        let (_, violations) = s.play();
        prop_assert!(violations.is_empty(), "{}", violations.join("\n"));
    }
}
