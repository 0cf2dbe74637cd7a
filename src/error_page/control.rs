//! How the owner steers the page thread, and how the thread confirms it
//! has seen an order: a state under a mutex, a condition variable for the
//! confirmations, and a waker that ends the thread's poll.
//!
//! Every order bumps a generation counter. The thread looks at the state
//! after each poll and before each accept ([`Control::observe`],
//! [`Control::may_accept`]); each look records the generation it saw, and
//! so confirms every order up to it. An order to stop answering is thereby
//! confirmed only by a look that saw it: from then on the thread neither
//! polls nor accepts the listening sockets until it is told to answer
//! again.

use std::io;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::outage::Outage;
use crate::local_server::{self, Waker, Wakeup};

/// What the thread is told to do.
#[derive(Debug)]
pub enum Order {
    /// Accept nothing; serve the connections already accepted to their end.
    Idle,
    /// Accept and answer with outage number `epoch`.
    Answer {
        /// The outage's number.
        epoch: u64,
        /// The outage, until the thread takes it to render its pages.
        outage: Option<Outage>,
    },
    /// Close everything and end.
    Quit,
}

#[derive(Debug)]
struct State {
    order: Order,
    /// Bumped by every order.
    generation: u64,
    /// The last generation the thread has seen.
    seen: u64,
    /// Whether the thread has ended.
    ended: bool,
    /// The number of the next outage.
    next_epoch: u64,
}

/// The state shared by the owner and the thread.
#[derive(Debug)]
pub struct Control {
    state: Mutex<State>,
    confirmed: Condvar,
    /// Wakes the thread's [`Wakeup`].
    waker: Waker,
}

/// What the thread saw at a look.
#[derive(Debug)]
pub struct Seen {
    /// The generation it saw.
    pub generation: u64,
    /// The order then; an outage in it is the thread's from now on.
    pub order: Order,
}

impl Control {
    /// A control, idle, and the thread's end of its waker
    /// ([`local_server::waker`]). Outage numbers start at the wall-clock
    /// time in milliseconds, so that a page left open from an earlier
    /// systemfd never matches a new one.
    ///
    /// # Errors
    /// When the waker's sockets cannot be made.
    pub fn new() -> io::Result<(Control, Wakeup)> {
        let (waker, wakeup) = local_server::waker()?;
        let start = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| u64::try_from(d.as_millis()).unwrap_or(1));
        let state = State {
            order: Order::Idle,
            generation: 0,
            seen: 0,
            ended: false,
            next_epoch: start,
        };
        let control = Control {
            state: Mutex::new(state),
            confirmed: Condvar::new(),
            waker,
        };
        Ok((control, wakeup))
    }

    /// The state; a panic elsewhere while it was held leaves it whole.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Gives an order (none after `Quit`) and wakes the thread; returns the
    /// generation that confirms it.
    fn order(&self, state: &mut State, order: Order) -> u64 {
        if !matches!(state.order, Order::Quit) {
            state.order = order;
        }
        state.generation += 1;
        self.waker.wake();
        state.generation
    }

    /// Tells the thread to answer with `outage`, numbered anew. Returns at
    /// once.
    pub fn answer(&self, outage: Outage) {
        let mut state = self.state();
        let epoch = state.next_epoch;
        state.next_epoch += 1;
        let outage = Some(outage);
        self.order(&mut state, Order::Answer { epoch, outage });
    }

    /// Tells the thread to stop accepting; true once it has confirmed (or
    /// has ended, which accepts nothing either), false when it has done
    /// neither within `limit`.
    pub fn stop(&self, limit: Duration) -> bool {
        let mut state = self.state();
        let wanted = self.order(&mut state, Order::Idle);
        let (state, _) = self
            .confirmed
            .wait_timeout_while(state, limit, |s| s.seen < wanted && !s.ended)
            .unwrap_or_else(PoisonError::into_inner);
        state.seen >= wanted || state.ended
    }

    /// Tells the thread to end; true once it has, false when it has not
    /// within `limit`.
    pub fn quit(&self, limit: Duration) -> bool {
        let mut state = self.state();
        self.order(&mut state, Order::Quit);
        let (state, _) = self
            .confirmed
            .wait_timeout_while(state, limit, |s| !s.ended)
            .unwrap_or_else(PoisonError::into_inner);
        state.ended
    }

    /// The thread's look at the state, which confirms every order up to the
    /// one it sees. A new outage in the order is taken, to be rendered.
    pub fn observe(&self) -> Seen {
        let mut state = self.state();
        state.seen = state.generation;
        self.confirmed.notify_all();
        let order = match &mut state.order {
            Order::Idle => Order::Idle,
            Order::Quit => Order::Quit,
            Order::Answer { epoch, outage } => Order::Answer {
                epoch: *epoch,
                outage: outage.take(),
            },
        };
        Seen {
            generation: state.generation,
            order,
        }
    }

    /// The thread's look before an accept: whether it may accept, that is
    /// whether the order it saw at `generation` still stands and is to
    /// answer. Confirms as [`Control::observe`] does.
    pub fn may_accept(&self, generation: u64) -> bool {
        let mut state = self.state();
        state.seen = state.generation;
        self.confirmed.notify_all();
        state.generation == generation && matches!(state.order, Order::Answer { .. })
    }

    /// Records that the thread has ended.
    pub fn ended(&self) {
        self.state().ended = true;
        self.confirmed.notify_all();
    }
}
