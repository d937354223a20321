//! Waiting for a thenable a delegate method returned, without a pair of
//! wasm closures per wait: `JsFuture` makes (and later frees) a resolve and
//! a reject closure each time, and a replay waits once per event of an
//! `async` delegate method. Here glue.js `whenSettled` reports every
//! settlement to one callback, made once, by a number.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/web/glue.js")]
extern "C" {
    #[wasm_bindgen(js_name = onSettled)]
    fn on_settled(callback: &JsValue);
    #[wasm_bindgen(js_name = whenSettled)]
    fn when_settled(thenable: &JsValue, token: u32);
}

#[derive(Default)]
struct Slot {
    outcome: Option<Result<JsValue, JsValue>>,
    waker: Option<Waker>,
}

thread_local! {
    // A few at most (one per session replaying): a list, not a map type of its own in the wasm.
    static WAITING: RefCell<Vec<(u32, Slot)>> = const { RefCell::new(Vec::new()) };
    static NEXT: Cell<u32> = const { Cell::new(0) };
    static LISTENING: Cell<bool> = const { Cell::new(false) };
}

/// Resolves with what `thenable` resolves to, or fails with its reason.
pub(crate) fn settled(thenable: &JsValue) -> Settled {
    if !LISTENING.with(|l| l.replace(true)) {
        let callback = Closure::<dyn FnMut(u32, bool, JsValue)>::new(|token: u32, ok: bool, value: JsValue| {
            let waker = WAITING.with(|w| {
                let mut w = w.borrow_mut();
                let (_, slot) = w.iter_mut().find(|(t, _)| *t == token)?;
                slot.outcome = Some(if ok { Ok(value) } else { Err(value) });
                slot.waker.take()
            });
            if let Some(waker) = waker {
                waker.wake();
            }
        });
        on_settled(&callback.into_js_value());
    }
    let token = NEXT.with(|n| n.replace(n.get().wrapping_add(1)));
    WAITING.with(|w| w.borrow_mut().push((token, Slot::default())));
    when_settled(thenable, token);
    Settled { token }
}

/// See [`settled`]; dropped before it settles, the outcome is ignored.
pub(crate) struct Settled {
    token: u32,
}

impl Future for Settled {
    type Output = Result<JsValue, JsValue>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        WAITING.with(|w| {
            let mut w = w.borrow_mut();
            let Some(at) = w.iter().position(|(t, _)| *t == self.token) else { return Poll::Ready(Err(JsValue::UNDEFINED)) };
            let slot = &mut w[at].1;
            match slot.outcome.take() {
                Some(outcome) => {
                    w.swap_remove(at);
                    Poll::Ready(outcome)
                }
                None => {
                    slot.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
    }
}

impl Drop for Settled {
    fn drop(&mut self) {
        WAITING.with(|w| w.borrow_mut().retain(|(t, _)| *t != self.token));
    }
}
