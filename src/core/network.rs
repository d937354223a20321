//! Which network a task may use: `allowsCellularAccess`,
//! `allowsExpensiveNetworkAccess`, `allowsConstrainedNetworkAccess` and
//! `isDiscretionary`, judged from what the browser says about the link
//! (the Network Information API: `navigator.connection.type`,
//! `effectiveType`, `saveData`).
//!
//! The policy, as documented in the README:
//! - *cellular*: `type` is `"cellular"`;
//! - *expensive* (iOS: cellular or a personal hotspot): `type` is
//!   `"cellular"`, `"wimax"` or `"bluetooth"` (tethering);
//! - *constrained* (iOS: Low Data Mode): `saveData` is on;
//! - a task that may not use the link waits for another (no error), and its
//!   delegate hears `taskIsWaitingForConnectivity` once, as on iOS;
//! - a *discretionary* task waits, silently, for good conditions: a link that
//!   is neither expensive nor constrained, `effectiveType` `"4g"` (or
//!   unknown), and no non-discretionary transfer of the origin running or
//!   ready to run (the network is otherwise idle). Power is not considered:
//!   workers cannot see the battery.
//!
//! Where the browser does not say (desktop Chromium has no `type`), nothing
//! is held back.
//!
//! # Examples
//!
//! ```
//! use bgsession::core::network::{judge, NetworkInfo, NetworkPolicy, Verdict};
//!
//! let cellular = NetworkInfo { kind: Some("cellular".into()), effective_type: Some("4g".into()), save_data: false };
//! let wifi = NetworkInfo { kind: Some("wifi".into()), ..Default::default() };
//!
//! // allowsCellularAccess = false: wait for another link (and tell the delegate).
//! let no_cellular = NetworkPolicy { allows_cellular_access: false, ..Default::default() };
//! assert!(matches!(judge(&no_cellular, &cellular, false), Verdict::WaitForNetwork(_)));
//! assert_eq!(judge(&no_cellular, &wifi, false), Verdict::Go);
//! // An unknown link (desktop Chromium): nothing is held back.
//! assert_eq!(judge(&no_cellular, &NetworkInfo::default(), false), Verdict::Go);
//!
//! // isDiscretionary: wait quietly while other transfers run (`busy`).
//! let discretionary = NetworkPolicy { is_discretionary: true, ..Default::default() };
//! assert!(matches!(judge(&discretionary, &wifi, true), Verdict::Defer(_)));
//! assert_eq!(judge(&discretionary, &wifi, false), Verdict::Go);
//! ```

use crate::core::task::{TaskRecord, TaskState};
use crate::core::protocol::{Shape, Slot};
use serde::{Deserialize, Serialize};

/// What the browser reports about the link (all optional).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInfo {
    /// `navigator.connection.type`: "wifi", "cellular", "ethernet"…
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// `navigator.connection.effectiveType`: "slow-2g", "2g", "3g", "4g".
    #[serde(default)]
    pub effective_type: Option<String>,
    /// `navigator.connection.saveData`.
    #[serde(default)]
    pub save_data: bool,
}

impl NetworkInfo {
    /// `type` is `"cellular"`.
    pub fn is_cellular(&self) -> bool {
        self.kind.as_deref() == Some("cellular")
    }
    /// iOS's "expensive": `type` is `"cellular"`, `"wimax"` or `"bluetooth"`
    /// (tethering).
    pub fn is_expensive(&self) -> bool {
        matches!(self.kind.as_deref(), Some("cellular" | "wimax" | "bluetooth"))
    }
    /// iOS's "constrained" (Low Data Mode): `saveData` is on.
    pub fn is_constrained(&self) -> bool {
        self.save_data
    }
    /// Good enough for discretionary work: neither expensive nor constrained,
    /// and `effectiveType` `"4g"` or unknown.
    pub fn is_good(&self) -> bool {
        !self.is_expensive() && !self.is_constrained() && self.effective_type.as_deref().map_or(true, |t| t == "4g")
    }
}

/// A task's network rules (copied from its session's configuration). The
/// default allows every link and is not discretionary, as iOS's defaults.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicy {
    /// `isDiscretionary`: wait for a good, idle link ([`Verdict::Defer`]).
    pub is_discretionary: bool,
    /// `allowsCellularAccess`: false holds the task off cellular links.
    pub allows_cellular_access: bool,
    /// `allowsExpensiveNetworkAccess`: false holds it off expensive links.
    pub allows_expensive_network_access: bool,
    /// `allowsConstrainedNetworkAccess`: false holds it off while Save-Data is on.
    pub allows_constrained_network_access: bool,
}

impl Default for NetworkPolicy {
    fn default() -> Self {
        NetworkPolicy { is_discretionary: false, allows_cellular_access: true, allows_expensive_network_access: true, allows_constrained_network_access: true }
    }
}

/// Read field by field (`protocol::Fields`) as the derive with
/// `#[serde(default)]` read it: a missing field keeps its default (test
/// `policies_decode_as_the_derive`).
impl<'de> Deserialize<'de> for NetworkPolicy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const SHAPE: &Shape = &Shape {
            name: "NetworkPolicy",
            names: &[
                "isDiscretionary", "allowsCellularAccess", "allowsExpensiveNetworkAccess", "allowsConstrainedNetworkAccess",
            ],
            required: 0,
        };
        crate::core::protocol::read_fields(d, SHAPE, Self::default())
    }
}

impl crate::core::protocol::Fields for NetworkPolicy {
    fn slot(&mut self, i: usize) -> Slot<'_> {
        match i {
            0 => Slot::Bool(&mut self.is_discretionary),
            1 => Slot::Bool(&mut self.allows_cellular_access),
            2 => Slot::Bool(&mut self.allows_expensive_network_access),
            _ => Slot::Bool(&mut self.allows_constrained_network_access),
        }
    }
}

/// May a task use the link now?
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The task may start on this link.
    Go,
    /// Not on this link: wait for another, telling the delegate
    /// (`taskIsWaitingForConnectivity`); the reason is for logs and teaching.
    WaitForNetwork(&'static str),
    /// Discretionary: wait quietly for better conditions.
    Defer(&'static str),
}

/// Judges one task; `busy`: a non-discretionary transfer runs or is ready.
pub fn judge(policy: &NetworkPolicy, net: &NetworkInfo, busy: bool) -> Verdict {
    if net.is_cellular() && !policy.allows_cellular_access {
        return Verdict::WaitForNetwork("the link is cellular and allowsCellularAccess is false");
    }
    if net.is_expensive() && !policy.allows_expensive_network_access {
        return Verdict::WaitForNetwork("the link is expensive (cellular or tethered) and allowsExpensiveNetworkAccess is false");
    }
    if net.is_constrained() && !policy.allows_constrained_network_access {
        return Verdict::WaitForNetwork("Save-Data (Low Data Mode) is on and allowsConstrainedNetworkAccess is false");
    }
    if policy.is_discretionary {
        if !net.is_good() {
            return Verdict::Defer("discretionary: waiting for a fast, unmetered link");
        }
        if busy {
            return Verdict::Defer("discretionary: waiting until the app's other transfers are done");
        }
    }
    Verdict::Go
}

/// The tasks of one origin that the network lets start now, and those that
/// just began waiting for another link (to be told once).
pub struct Admission<'a> {
    /// (session, task id) of the tasks the network lets start.
    pub admitted: std::collections::HashSet<(String, u64)>,
    /// Tasks held off this link that have not yet been told so
    /// (`waiting_for_connectivity` false): journal
    /// `taskIsWaitingForConnectivity` for each, once.
    pub newly_waiting: Vec<&'a TaskRecord>,
    /// Tasks held back (look again later).
    pub held: usize,
}

/// Applies [`judge`] to the running tasks that could start (`is_runnable`,
/// not active).
pub fn admit<'a>(tasks: &'a [TaskRecord], net: &NetworkInfo, is_active: impl Fn(&TaskRecord) -> bool, now: f64) -> Admission<'a> {
    let busy = tasks
        .iter()
        .any(|t| t.state == TaskState::Running && !t.policy.is_discretionary && (is_active(t) || t.is_runnable(now)));
    let mut out = Admission { admitted: Default::default(), newly_waiting: Vec::new(), held: 0 };
    for t in tasks.iter().filter(|t| !is_active(t) && t.is_runnable(now)) {
        match judge(&t.policy, net, busy) {
            Verdict::Go => {
                out.admitted.insert((t.session.clone(), t.task_id));
            }
            Verdict::WaitForNetwork(_) => {
                out.held += 1;
                if !t.waiting_for_connectivity {
                    out.newly_waiting.push(t);
                }
            }
            Verdict::Defer(_) => out.held += 1,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::request::Request;

    fn net(kind: Option<&str>, eff: Option<&str>, save: bool) -> NetworkInfo {
        NetworkInfo { kind: kind.map(str::to_string), effective_type: eff.map(str::to_string), save_data: save }
    }

    #[test]
    fn cellular_expensive_and_constrained_rules() {
        let all = NetworkPolicy::default();
        let cell = net(Some("cellular"), Some("4g"), false);
        assert_eq!(judge(&all, &cell, false), Verdict::Go);
        let no_cell = NetworkPolicy { allows_cellular_access: false, ..all.clone() };
        assert!(matches!(judge(&no_cell, &cell, false), Verdict::WaitForNetwork(r) if r.contains("allowsCellularAccess")));
        assert_eq!(judge(&no_cell, &net(Some("wifi"), None, false), false), Verdict::Go, "wifi is fine");
        let no_exp = NetworkPolicy { allows_expensive_network_access: false, ..all.clone() };
        assert!(matches!(judge(&no_exp, &net(Some("bluetooth"), None, false), false), Verdict::WaitForNetwork(r) if r.contains("Expensive")));
        let no_constrained = NetworkPolicy { allows_constrained_network_access: false, ..all.clone() };
        assert!(matches!(judge(&no_constrained, &net(None, None, true), false), Verdict::WaitForNetwork(r) if r.contains("Save-Data")));
        assert_eq!(judge(&no_cell, &NetworkInfo::default(), false), Verdict::Go, "unknown link: nothing held back");
    }

    #[test]
    fn discretionary_waits_for_a_good_idle_link() {
        let d = NetworkPolicy { is_discretionary: true, ..Default::default() };
        assert_eq!(judge(&d, &net(Some("wifi"), Some("4g"), false), false), Verdict::Go);
        assert_eq!(judge(&d, &NetworkInfo::default(), false), Verdict::Go);
        for bad in [net(Some("cellular"), Some("4g"), false), net(None, Some("3g"), false), net(None, None, true)] {
            assert!(matches!(judge(&d, &bad, false), Verdict::Defer(_)), "{bad:?}");
        }
        assert!(matches!(judge(&d, &NetworkInfo::default(), true), Verdict::Defer(r) if r.contains("other transfers")));
    }

    fn task(id: u64, discretionary: bool, cellular: bool) -> TaskRecord {
        let mut t = TaskRecord::new_download("s", id, Request::get("https://h/f").unwrap(), 0.0, format!("b{id}"));
        t.policy.is_discretionary = discretionary;
        t.policy.allows_cellular_access = cellular;
        t.resume().unwrap();
        t
    }

    #[test]
    fn admission_tells_waiting_once_and_holds_discretionary_while_busy() {
        let tasks = vec![task(1, false, true), task(2, true, true), task(3, false, false)];
        let a = admit(&tasks, &NetworkInfo::default(), |_| false, 0.0);
        let mut ids: Vec<u64> = a.admitted.iter().map(|k| k.1).collect();
        ids.sort();
        assert_eq!(ids, vec![1, 3], "the discretionary task waits for the others");
        assert_eq!(a.held, 1);
        let cell = net(Some("cellular"), Some("4g"), false);
        let a = admit(&tasks, &cell, |_| false, 0.0);
        assert_eq!(a.admitted.iter().map(|k| k.1).collect::<Vec<_>>(), vec![1]);
        assert_eq!(a.newly_waiting.iter().map(|t| t.task_id).collect::<Vec<_>>(), vec![3]);
        let mut told = tasks.clone();
        told[2].waiting_for_connectivity = true;
        assert!(admit(&told, &cell, |_| false, 0.0).newly_waiting.is_empty(), "told once");
        let a = admit(&tasks[1..2], &NetworkInfo::default(), |_| false, 0.0);
        assert_eq!(a.admitted.len(), 1, "alone, the discretionary task goes");
    }
}

/// `NetworkPolicy`, read by hand (`protocol::Fields`), decodes and fails as
/// the derive with `#[serde(default)]` did.
#[cfg(test)]
mod policies_as_derived {
    use super::*;
    use crate::core::protocol::{decodes_as_derived, struct_cases};
    use serde_json::json;

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "camelCase", default)]
    struct Derived {
        is_discretionary: bool,
        allows_cellular_access: bool,
        allows_expensive_network_access: bool,
        allows_constrained_network_access: bool,
    }

    impl Default for Derived {
        fn default() -> Self {
            Derived { is_discretionary: false, allows_cellular_access: true, allows_expensive_network_access: true, allows_constrained_network_access: true }
        }
    }

    #[test]
    fn policies_decode_as_the_derive() {
        let full = json!({"isDiscretionary": true, "allowsCellularAccess": false, "allowsExpensiveNetworkAccess": false, "allowsConstrainedNetworkAccess": false});
        let mut cases = struct_cases(&full, &json!({"allowsCellularAccess": false}));
        cases.extend(["[true]", "[true,false,false,false]", "[true,false,false,false,true]", "[1]"].map(String::from));
        decodes_as_derived::<NetworkPolicy, Derived>("NetworkPolicy", &cases);
    }
}
