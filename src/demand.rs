//! Starting on demand (`--on-demand`, and after `--idle-stop`): waiting
//! for the first connection or datagram on the sockets without taking it.
//!
//! systemd's socket units start their service when a socket becomes
//! readable, and the service accepts the connection that woke it
//! (`systemd.socket(5)`, `Accept=no`). systemfd does the same: it polls
//! its own copies of the listening sockets (a listening socket is readable
//! once a connection waits in its backlog; a datagram socket once a
//! datagram waits) and never accepts or reads, so what woke it is the
//! command's. Polling changes nothing of the socket, whose flags belong to
//! every process that holds it.
//!
//! [`Doorbell`] is supervise mode's: a thread that, while armed, polls the
//! sockets and rings once when one is readable, then waits to be armed
//! again (a connection left in the backlog would otherwise ring without
//! end). [`first`] is exec mode's: it waits on the calling thread until a
//! connection comes or a signal asks systemfd to stop. Both use
//! `sys::poll`, so they work on every platform.

use std::io;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::local_server::{self, Waker, Wakeup};
use crate::signal::Signal;
use crate::sys::{self, Interest, PollEntry};

/// How long to wait before polling again after poll itself failed.
const POLL_PAUSE: std::time::Duration = std::time::Duration::from_millis(10);

/// What the owner asks of the doorbell's thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Orders {
    armed: bool,
    quit: bool,
}

/// A thread that tells when a connection or a datagram waits on one of
/// the sockets, once per arming.
#[derive(Debug)]
pub struct Doorbell {
    orders: Arc<Mutex<Orders>>,
    waker: Waker,
    thread: Option<JoinHandle<()>>,
}

impl Doorbell {
    /// Starts the thread, unarmed, over `sockets` (duplicates of the
    /// passed sockets, in `-s` order). Once armed and one of them is
    /// readable, it calls `ring` with that socket's position and disarms
    /// itself; `ring` returning false (its receiver is gone) ends the
    /// thread.
    ///
    /// # Errors
    /// When the waker cannot be made or the thread cannot start.
    pub fn start(
        sockets: Vec<socket2::Socket>,
        ring: impl Fn(usize) -> bool + Send + 'static,
    ) -> io::Result<Doorbell> {
        let (waker, wakeup) = local_server::waker()?;
        let orders = Arc::new(Mutex::new(Orders::default()));
        let shared = Arc::clone(&orders);
        let thread = std::thread::Builder::new()
            .name("on-demand".into())
            .spawn(move || ring_loop(&shared, &wakeup, &sockets, ring))?;
        Ok(Doorbell {
            orders,
            waker,
            thread: Some(thread),
        })
    }

    /// Waits for a connection (`true`), or stops waiting (`false`). A ring
    /// may still be on its way after a disarm: the owner ignores a ring it
    /// did not wait for.
    pub fn arm(&self, armed: bool) {
        if let Ok(mut orders) = self.orders.lock() {
            orders.armed = armed;
        }
        self.waker.wake();
    }
}

impl Drop for Doorbell {
    fn drop(&mut self) {
        if let Ok(mut orders) = self.orders.lock() {
            orders.quit = true;
        }
        self.waker.wake();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The doorbell's thread: polls the waker, and the sockets while armed.
fn ring_loop(
    orders: &Mutex<Orders>,
    wakeup: &Wakeup,
    sockets: &[socket2::Socket],
    ring: impl Fn(usize) -> bool,
) {
    loop {
        let Ok(seen) = orders.lock().map(|orders| *orders) else {
            return;
        };
        if seen.quit {
            return;
        }
        let mut entries = vec![PollEntry::new(wakeup.socket(), Interest::Read)];
        if seen.armed {
            entries.extend(sockets.iter().map(|s| PollEntry::new(s, Interest::Read)));
        }
        if sys::poll(&mut entries, None).is_err() {
            std::thread::sleep(POLL_PAUSE);
            continue;
        }
        if entries[0].ready() {
            wakeup.drain();
        }
        let Some(index) = entries[1..].iter().position(PollEntry::ready) else {
            continue;
        };
        // Armed still? An order made meanwhile wins.
        let Ok(mut now) = orders.lock() else {
            return;
        };
        if now.quit {
            return;
        }
        if !now.armed {
            continue;
        }
        now.armed = false;
        drop(now);
        if !ring(index) {
            return;
        }
    }
}

/// What ended exec mode's wait ([`first`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum First {
    /// A connection or a datagram waits on the socket at this position.
    Connection(usize),
    /// systemfd received this signal (Unix: SIGINT, SIGTERM, SIGHUP or
    /// SIGQUIT; Windows: Ctrl-C or Ctrl-Break, as [`Signal::INT`]).
    Signal(Signal),
}

/// Exec mode's wait: returns once a connection or a datagram waits on one
/// of `sockets` (duplicates of the passed sockets, in `-s` order), or
/// systemfd was asked to stop. Neither is taken: the connection is left for
/// the command, and the signal is reported rather than acted on.
/// `announce` is called once the signals are handled, just before the
/// wait: a signal sent after what it says is caught.
///
/// # Errors
/// When the signals cannot be handled or the doorbell cannot start.
pub fn first(sockets: Vec<socket2::Socket>, announce: impl FnOnce()) -> io::Result<First> {
    let (tx, rx) = std::sync::mpsc::channel();
    let rung = tx.clone();
    let stop = stop_signals(tx)?;
    let doorbell = Doorbell::start(sockets, move |index| {
        rung.send(First::Connection(index)).is_ok()
    })?;
    announce();
    doorbell.arm(true);
    let first = rx.recv().map_err(io::Error::other);
    stop.close();
    drop(doorbell);
    first
}

/// The signals that end exec mode's wait, sent over `tx` from a thread of
/// their own until closed.
#[cfg(unix)]
fn stop_signals(tx: std::sync::mpsc::Sender<First>) -> io::Result<Stop> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};
    // SIGUSR1 and SIGUSR2, which supervise mode passes on to the command,
    // have nothing to reach yet: they are caught so as not to end systemfd.
    let mut signals =
        signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2])?;
    let handle = signals.handle();
    let thread = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let stop = signals
                .forever()
                .find(|&signal| signal != SIGUSR1 && signal != SIGUSR2);
            if let Some(signal) = stop {
                let _ = tx.send(First::Signal(Signal(signal)));
            }
        })?;
    Ok(Stop {
        handle,
        thread: Some(thread),
    })
}

/// Ctrl-C and Ctrl-Break end exec mode's wait (Windows). The console's
/// handler stays installed: exec mode installs it again for the command.
#[cfg(windows)]
fn stop_signals(tx: std::sync::mpsc::Sender<First>) -> io::Result<Stop> {
    let interrupt = sys::CtrlC::install()?;
    std::thread::Builder::new()
        .name("ctrl-c".into())
        .spawn(move || {
            if interrupt.wait().is_ok() {
                let _ = tx.send(First::Signal(Signal::INT));
            }
        })?;
    Ok(Stop)
}

/// The signal handling of [`first`], ended once it is done.
#[cfg(unix)]
struct Stop {
    handle: signal_hook::iterator::Handle,
    thread: Option<JoinHandle<()>>,
}

#[cfg(unix)]
impl Stop {
    /// Unregisters the handlers, so that the signals act as before.
    fn close(mut self) {
        self.handle.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The console handler's thread waits for a Ctrl-C that may never come; it
/// ends with systemfd.
#[cfg(windows)]
struct Stop;

#[cfg(windows)]
impl Stop {
    fn close(self) {}
}

#[cfg(test)]
mod tests;
