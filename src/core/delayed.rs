//! `earliestBeginDate` and `willBeginDelayedRequest`: a delayed task whose
//! delegate implements the method is not started when its date comes; the
//! daemon journals the question, the app answers (continue, cancel, or a
//! new request), and only then does the task start. As on iOS, where the
//! system launches the app to ask, the task waits for an app page to answer.
//!
//! # Examples
//!
//! ```
//! use bgsession::core::delayed::{self, Decision};
//! use bgsession::core::journal::Event;
//! use bgsession::core::request::Request;
//! use bgsession::core::task::{TaskRecord, Transition};
//!
//! let mut task = TaskRecord::new_download("s", 1, Request::get("https://h/a").unwrap(), 0.0, "b".into());
//! task.earliest_begin_date = Some(60_000.0); // ms since epoch
//! task.asks_before_delayed_start = true; // the delegate has willBeginDelayedRequest
//! task.resume().unwrap();
//!
//! assert!(!delayed::due(&task, 59_999.0));
//! assert!(delayed::due(&task, 60_000.0));
//! assert!(matches!(delayed::ask(&mut task), Event::WillBeginDelayedRequest { .. }));
//! assert!(!task.is_runnable(60_000.0)); // waits for the answer
//!
//! // The app answers with a new request: the task starts with it.
//! let newer = Request::get("https://h/b").unwrap();
//! assert_eq!(delayed::decide(&mut task, Decision::UseNewRequest(newer)), Some(Transition::Schedule));
//! assert_eq!(task.current_request.url, "https://h/b");
//! assert!(task.is_runnable(60_000.0));
//! // A second answer changes nothing.
//! assert_eq!(delayed::decide(&mut task, Decision::Cancel), None);
//! ```

use crate::core::error::{NsError, UrlErrorCode};
use crate::core::journal::Event;
use crate::core::request::Request;
use crate::core::task::{TaskRecord, TaskState, Transition};

/// The app's answer (`URLSession.DelayedRequestDisposition`).
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// `.continueLoading`: start with the original request.
    Continue,
    /// `.useNewRequest`: start with this one instead.
    UseNewRequest(Request),
    /// `.cancel`: the task completes with -999.
    Cancel,
}

/// Is it time to ask the app about this task?
pub fn due(task: &TaskRecord, now: f64) -> bool {
    task.state == TaskState::Running
        && task.asks_before_delayed_start
        && !task.awaiting_delayed_decision
        && task.earliest_begin_date.map_or(true, |t| t <= now)
}

/// Marks the question asked; the event to journal.
pub fn ask(task: &mut TaskRecord) -> Event {
    task.awaiting_delayed_decision = true;
    Event::WillBeginDelayedRequest { request: task.current_request.clone() }
}

/// Applies the app's answer. `None`: no question was pending (an answer
/// given twice, say): nothing changes.
pub fn decide(task: &mut TaskRecord, decision: Decision) -> Option<Transition> {
    if !task.awaiting_delayed_decision || task.state != TaskState::Running {
        return None;
    }
    task.awaiting_delayed_decision = false;
    task.asks_before_delayed_start = false;
    match decision {
        Decision::Continue => Some(Transition::Schedule),
        Decision::UseNewRequest(r) => {
            task.current_request = r;
            Some(Transition::Schedule)
        }
        Decision::Cancel => {
            task.state = TaskState::Canceling;
            Some(Transition::Complete(NsError::url(UrlErrorCode::Cancelled, "willBeginDelayedRequest answered cancel")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::schedule;

    fn delayed(at: f64) -> TaskRecord {
        let mut t = TaskRecord::new_download("s", 1, Request::get("https://h/a").unwrap(), 0.0, "b".into());
        t.earliest_begin_date = Some(at);
        t.asks_before_delayed_start = true;
        t.resume().unwrap();
        t
    }

    #[test]
    fn asks_once_when_the_date_comes_and_waits_for_the_answer() {
        let mut t = delayed(100.0);
        assert!(!due(&t, 99.0));
        assert!(!t.is_runnable(100.0), "not started before the app answers");
        assert_eq!(schedule::next_wake(std::slice::from_ref(&t), 0.0), Some(100.0), "wakes at the date to ask");
        assert!(due(&t, 100.0));
        assert_eq!(ask(&mut t), Event::WillBeginDelayedRequest { request: t.current_request.clone() });
        assert!(!due(&t, 200.0), "asked once");
        assert!(!t.is_runnable(200.0));
        assert_eq!(decide(&mut t, Decision::Continue), Some(Transition::Schedule));
        assert!(t.is_runnable(200.0));
        assert_eq!(decide(&mut t, Decision::Cancel), None, "a second answer changes nothing");
    }

    #[test]
    fn a_new_request_replaces_the_current_one_and_cancel_ends_with_999() {
        let mut t = delayed(0.0);
        ask(&mut t);
        let newer = Request::get("https://h/b").unwrap();
        assert_eq!(decide(&mut t, Decision::UseNewRequest(newer.clone())), Some(Transition::Schedule));
        assert_eq!(t.current_request, newer);
        assert_eq!(t.original_request.url, "https://h/a");
        let mut c = delayed(0.0);
        ask(&mut c);
        match decide(&mut c, Decision::Cancel) {
            Some(Transition::Complete(e)) => assert_eq!(e.code, -999),
            other => panic!("{other:?}"),
        }
        assert_eq!(c.state, TaskState::Canceling);
    }

    #[test]
    fn a_task_that_does_not_ask_just_waits_for_its_date() {
        let mut t = delayed(100.0);
        t.asks_before_delayed_start = false;
        assert!(!due(&t, 100.0));
        assert!(t.is_runnable(100.0));
    }
}
