//! How the owner steers the LiveReload thread, and how the thread answers:
//! a state under a mutex, a condition variable for the answers, and a
//! waker that ends the thread's poll.
//!
//! A reload is numbered; the thread takes every pending one at a look
//! ([`Control::observe`]), sends one `reload` for them all, and confirms
//! the last with the number of clients it reached
//! ([`Control::reloaded`]). A status is handed over whole; only the last
//! one not yet taken counts.

use std::io;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::status::Report;
use crate::local_server::{self, Waker, Wakeup};

#[derive(Debug, Default)]
struct State {
    /// The thread is to end.
    quit: bool,
    /// A status the thread has not taken yet.
    status: Option<Report>,
    /// The number of the last reload asked for.
    asked: u64,
    /// The number of the last reload done.
    done: u64,
    /// How many clients the last reload done reached.
    reached: usize,
    /// How many clients have completed their hello, as the thread last
    /// counted.
    clients: usize,
    /// Whether the thread has ended.
    ended: bool,
}

/// The state shared by the owner and the thread.
#[derive(Debug)]
pub struct Control {
    state: Mutex<State>,
    answered: Condvar,
    /// Wakes the thread's [`Wakeup`].
    waker: Waker,
}

/// What the thread saw at a look.
#[derive(Debug, Default)]
pub struct Seen {
    /// It is to end.
    pub quit: bool,
    /// A new status, to send and keep.
    pub status: Option<Report>,
    /// A reload is asked for, up to this number: to confirm with
    /// [`Control::reloaded`].
    pub reload: Option<u64>,
}

impl Control {
    /// A control and the thread's end of its waker
    /// ([`local_server::waker`]).
    ///
    /// # Errors
    /// When the waker's sockets cannot be made.
    pub fn new() -> io::Result<(Control, Wakeup)> {
        let (waker, wakeup) = local_server::waker()?;
        let control = Control {
            state: Mutex::new(State::default()),
            answered: Condvar::new(),
            waker,
        };
        Ok((control, wakeup))
    }

    /// The state; a panic elsewhere while it was held leaves it whole.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands `report` to the thread. Returns at once.
    pub fn status(&self, report: Report) {
        self.state().status = Some(report);
        self.waker.wake();
    }

    /// Asks the thread to send `reload`; returns how many clients it
    /// reached once it has, or, when it has not within `limit` (or has
    /// ended), how many had completed their hello at its last count.
    pub fn reload(&self, limit: Duration) -> usize {
        let mut state = self.state();
        state.asked += 1;
        let wanted = state.asked;
        self.waker.wake();
        let (state, _) = self
            .answered
            .wait_timeout_while(state, limit, |s| s.done < wanted && !s.ended)
            .unwrap_or_else(PoisonError::into_inner);
        if state.done >= wanted {
            state.reached
        } else {
            state.clients
        }
    }

    /// Tells the thread to end; true once it has, false when it has not
    /// within `limit`.
    pub fn quit(&self, limit: Duration) -> bool {
        let mut state = self.state();
        state.quit = true;
        self.waker.wake();
        let (state, _) = self
            .answered
            .wait_timeout_while(state, limit, |s| !s.ended)
            .unwrap_or_else(PoisonError::into_inner);
        state.ended
    }

    /// The thread's look at the state: takes the new status and the
    /// pending reloads.
    pub fn observe(&self) -> Seen {
        let mut state = self.state();
        Seen {
            quit: state.quit,
            status: state.status.take(),
            reload: (state.asked > state.done).then_some(state.asked),
        }
    }

    /// The thread has sent the reloads up to number `asked`, which reached
    /// `reached` clients.
    pub fn reloaded(&self, asked: u64, reached: usize) {
        let mut state = self.state();
        state.done = state.done.max(asked);
        state.reached = reached;
        self.answered.notify_all();
    }

    /// The thread's count of the clients that have completed their hello.
    pub fn count(&self, clients: usize) {
        self.state().clients = clients;
    }

    /// Records that the thread has ended.
    pub fn ended(&self) {
        self.state().ended = true;
        self.answered.notify_all();
    }
}
