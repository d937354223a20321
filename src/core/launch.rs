//! A page's launch, as iOS relaunches an app for its background sessions:
//! when the app delegate is set (`UIApplication.shared.delegate`), each
//! session with events waiting is handed to
//! `application(_:handleEventsForBackgroundURLSession:completionHandler:)`
//! once per page — unless another page of the app holds the session's
//! events (its events lock): that page receives them, and this one is
//! launched for them only if that page goes away first.
//!
//! The host lists the sessions with undelivered events and whether another
//! page holds each ([`Launch::plan`]), then performs the steps: it calls the
//! delegate for [`LaunchStep::HandleEvents`], and for
//! [`LaunchStep::WaitForOtherPage`] waits until that page lets the session
//! go, then plans again.

use std::collections::BTreeSet;

/// What a page's launch does for one session with events waiting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LaunchStep {
    /// Call `handleEventsForBackgroundURLSession` for this session.
    HandleEvents(String),
    /// Another page holds this session's events: wait until it lets them
    /// go (closed, or closing the session), then plan again.
    WaitForOtherPage(String),
}

/// One page's launch: the sessions already handed to the app delegate in
/// this page's life.
#[derive(Clone, Debug, Default)]
pub struct Launch {
    handed: BTreeSet<String>,
}

impl Launch {
    /// The steps for `waiting`: each session with undelivered events (in
    /// the order given), with whether another page holds its events now.
    /// A session is handed to the delegate at most once per page; a page
    /// holding the events elsewhere is waited for (once per plan: the
    /// host's wait ends when that page goes).
    pub fn plan(&mut self, waiting: &[(String, bool)]) -> Vec<LaunchStep> {
        let mut steps = Vec::new();
        for (session, elsewhere) in waiting {
            if self.handed.contains(session) {
                continue;
            }
            if *elsewhere {
                steps.push(LaunchStep::WaitForOtherPage(session.clone()));
            } else {
                self.handed.insert(session.clone());
                steps.push(LaunchStep::HandleEvents(session.clone()));
            }
        }
        steps
    }

    /// Was `session` handed to the delegate in this page's life?
    pub fn was_handed(&self, session: &str) -> bool {
        self.handed.contains(session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(list: &[(&str, bool)]) -> Vec<(String, bool)> {
        list.iter().map(|(s, e)| (s.to_string(), *e)).collect()
    }

    #[test]
    fn each_session_with_events_is_handed_once_per_page() {
        let mut l = Launch::default();
        assert_eq!(l.plan(&waiting(&[("a", false), ("b", false)])), vec![LaunchStep::HandleEvents("a".into()), LaunchStep::HandleEvents("b".into())]);
        assert!(l.was_handed("a") && l.was_handed("b"));
        // The delegate set again (or a later plan): not handed twice.
        assert_eq!(l.plan(&waiting(&[("a", false), ("b", false), ("c", false)])), vec![LaunchStep::HandleEvents("c".into())]);
        // A new page hands them again.
        assert_eq!(Launch::default().plan(&waiting(&[("a", false)])), vec![LaunchStep::HandleEvents("a".into())]);
    }

    #[test]
    fn a_session_another_page_holds_is_waited_for_then_handed() {
        let mut l = Launch::default();
        assert_eq!(l.plan(&waiting(&[("a", true), ("b", false)])), vec![LaunchStep::WaitForOtherPage("a".into()), LaunchStep::HandleEvents("b".into())]);
        assert!(!l.was_handed("a"), "that page receives them");
        // That page went away with events still waiting: this page is the app now.
        assert_eq!(l.plan(&waiting(&[("a", false)])), vec![LaunchStep::HandleEvents("a".into())]);
        // It delivered them first: nothing left to hand.
        let mut m = Launch::default();
        m.plan(&waiting(&[("a", true)]));
        assert_eq!(m.plan(&waiting(&[])), vec![]);
    }

    #[test]
    fn a_session_already_handed_is_not_waited_for() {
        // This page was handed "a", then another page took its events (this
        // page's session closed): this page's app was told already.
        let mut l = Launch::default();
        l.plan(&waiting(&[("a", false)]));
        assert_eq!(l.plan(&waiting(&[("a", true)])), vec![]);
    }
}
