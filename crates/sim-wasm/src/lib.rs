//! `run(scenario_json, profile_name) -> trace_json`: the simulator for the
//! demo's "What would happen" view. The modules are the library's own files
//! (the pure core and the simulator), so the page plays the very machines
//! the native tests check, with the profiles' own explanations.
#![allow(missing_docs, dead_code)]

#[path = "../../../src/core/mod.rs"]
pub mod core;
#[path = "../../../src/sim/mod.rs"]
pub mod sim;

use wasm_bindgen::prelude::*;

/// Plays a scenario (JSON, see `sim::scenario::Scenario`) under a profile
/// ("ios", "chromium", "firefox", "webkit") and returns its timeline (JSON,
/// `sim::scenario::Played`).
#[wasm_bindgen]
pub fn run(scenario_json: &str, profile_name: &str) -> Result<String, JsError> {
    run_json(scenario_json, profile_name).map_err(|e| JsError::new(&e))
}

/// The profiles' names and explanations, for the page's legend (JSON).
#[wasm_bindgen]
pub fn profiles() -> String {
    let all: Vec<serde_json::Value> = sim::Profile::all()
        .iter()
        .map(|p| {
            let ms = |v: Option<f64>| v.filter(|x| x.is_finite());
            serde_json::json!({
                "name": p.name, "whyStopped": p.why_stopped, "whyForceQuit": p.why_force_quit, "whyKilled": p.why_killed,
                "whyRestart": p.why_restart, "whyRelaunch": p.why_relaunch,
                "stopAfterLastEventMs": ms(p.stop_after_last_event_ms), "stopAfterLastPageMs": ms(p.stop_after_last_page_ms),
                "stopWhenIdleMs": ms(Some(p.stop_when_idle_ms)), "truncatesOnStop": p.truncates_on_stop,
            })
        })
        .collect();
    serde_json::Value::Array(all).to_string()
}

pub fn run_json(scenario_json: &str, profile_name: &str) -> Result<String, String> {
    let s: sim::scenario::Scenario = serde_json::from_str(scenario_json).map_err(|e| format!("scenario: {e}"))?;
    let played = sim::scenario::play(&s, profile_name)?;
    serde_json::to_string(&played).map_err(|e| e.to_string())
}
