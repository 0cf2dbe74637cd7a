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
use std::net::UdpSocket;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::status::Report;

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
    /// Sends to the thread's [`Wakeup`].
    waker: UdpSocket,
}

/// The thread's end of the waker: a datagram on it ends a poll.
#[derive(Debug)]
pub struct Wakeup(UdpSocket);

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
    /// A control and the thread's end of its waker: a pair of connected
    /// loopback UDP sockets (they work on every OS, with poll and `WSAPoll`
    /// alike).
    ///
    /// # Errors
    /// When the sockets cannot be made.
    pub fn new() -> io::Result<(Control, Wakeup)> {
        let waker = UdpSocket::bind("127.0.0.1:0")?;
        let wakeup = UdpSocket::bind("127.0.0.1:0")?;
        waker.connect(wakeup.local_addr()?)?;
        wakeup.connect(waker.local_addr()?)?;
        waker.set_nonblocking(true)?;
        wakeup.set_nonblocking(true)?;
        let control = Control {
            state: Mutex::new(State::default()),
            answered: Condvar::new(),
            waker,
        };
        Ok((control, Wakeup(wakeup)))
    }

    /// The state; a panic elsewhere while it was held leaves it whole.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wake(&self) {
        // A full buffer means a wake-up is pending anyway.
        let _ = self.waker.send(&[1]);
    }

    /// Hands `report` to the thread. Returns at once.
    pub fn status(&self, report: Report) {
        self.state().status = Some(report);
        self.wake();
    }

    /// Asks the thread to send `reload`; returns how many clients it
    /// reached once it has, or, when it has not within `limit` (or has
    /// ended), how many had completed their hello at its last count.
    pub fn reload(&self, limit: Duration) -> usize {
        let mut state = self.state();
        state.asked += 1;
        let wanted = state.asked;
        self.wake();
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
        self.wake();
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

impl Wakeup {
    /// The socket to poll for reading.
    pub fn socket(&self) -> &UdpSocket {
        &self.0
    }

    /// Reads the pending wake-ups, a bounded number of them.
    pub fn drain(&self) {
        let mut buf = [0u8; 16];
        for _ in 0..64 {
            if self.0.recv(&mut buf).is_err() {
                break;
            }
        }
    }
}
