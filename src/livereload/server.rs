//! The LiveReload thread's loop: it polls the waker, the listening socket
//! and the connections; moves every connection along; then carries out
//! what the owner asked (a status, a reload) and accepts what waits.

use std::io;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use super::client::{self, Client};
use super::conn::{self, Conn};
use super::control::Control;
use super::limits::{after, Limits};
use super::message;
use super::response::Fixed;
use super::status::Report;
use crate::local_server::Wakeup;
use crate::sys::{self, Interest, PollEntry};

/// How long the listening socket is left alone after an accept failed for
/// want of resources (descriptors, memory), instead of spinning on it.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// How long to wait before polling again after poll itself failed.
const POLL_PAUSE: Duration = Duration::from_millis(10);
/// The most connections accepted per round.
const ACCEPTS_PER_ROUND: usize = 16;

/// Records the thread's end when dropped, however it ends.
struct Ended<'a>(&'a Control);

impl Drop for Ended<'_> {
    fn drop(&mut self) {
        self.0.ended();
    }
}

/// A connection: HTTP until it is upgraded, then a WebSocket client.
#[derive(Debug)]
enum Entry {
    Http(Conn),
    Client(Client),
}

impl Entry {
    fn socket(&self) -> &std::net::TcpStream {
        match self {
            Entry::Http(conn) => conn.socket(),
            Entry::Client(client) => client.socket(),
        }
    }

    fn interest(&self) -> Interest {
        match self {
            Entry::Http(conn) => conn.interest(),
            Entry::Client(client) => client.interest(),
        }
    }

    fn deadline(&self, limits: &Limits) -> Instant {
        match self {
            Entry::Http(conn) => conn.deadline(limits),
            Entry::Client(client) => client.deadline(limits),
        }
    }

    /// Whether a new connection may take its place: one that has not
    /// completed its handshake, or whose HTTP answer is written.
    fn evictable(&self) -> bool {
        match self {
            Entry::Http(conn) => conn.evictable(),
            Entry::Client(client) => !client.greeted(),
        }
    }
}

/// What becomes of an entry after a round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Remove,
    Upgrade,
}

struct Server {
    listener: TcpListener,
    origins: Vec<String>,
    limits: Limits,
    fixed: Fixed,
    /// The last status given, for clients that greet later.
    report: Option<Report>,
    /// In the order they were accepted, oldest first.
    entries: Vec<Entry>,
    /// Until when the listening socket is left alone (`ACCEPT_PAUSE`).
    paused: Option<Instant>,
}

/// Which sockets a poll found ready.
struct Ready {
    woken: bool,
    listener: bool,
    /// By entry, in `Server::entries` order as it was at the poll.
    entries: Vec<bool>,
}

/// The thread's body: serves on `listener` (non-blocking) until told to
/// quit, then closes everything.
pub fn run(
    control: &Control,
    wakeup: Wakeup,
    listener: TcpListener,
    origins: Vec<String>,
    limits: Limits,
) {
    let _ended = Ended(control);
    let mut server = Server {
        listener,
        origins,
        limits,
        fixed: Fixed::new(),
        report: None,
        entries: Vec::new(),
        paused: None,
    };
    loop {
        control.count(server.greeted());
        let now = Instant::now();
        server.paused = server.paused.filter(|&until| until > now);
        let ready = server.poll(&wakeup);
        // Drain before looking: an order is made before its wake-up is
        // sent, so the look sees every order whose wake-up was drained, and
        // a later one wakes the next poll.
        if ready.woken {
            wakeup.drain();
        }
        let seen = control.observe();
        if seen.quit {
            return;
        }
        server.serve(&ready.entries);
        if let Some(report) = seen.status {
            server.status(report);
        }
        if let Some(asked) = seen.reload {
            let reached = server.reload();
            control.reloaded(asked, reached);
        }
        if ready.listener {
            server.accept();
        }
    }
}

impl Server {
    /// Waits for the waker, the listening socket (unless paused) and the
    /// connections, until the nearest deadline; not at all while a client
    /// has messages waiting unread.
    fn poll(&self, wakeup: &Wakeup) -> Ready {
        let listening = self.paused.is_none();
        let mut polled = Vec::with_capacity(2 + self.entries.len());
        polled.push(PollEntry::new(wakeup.socket(), Interest::Read));
        if listening {
            polled.push(PollEntry::new(&self.listener, Interest::Read));
        }
        for entry in &self.entries {
            polled.push(PollEntry::new(entry.socket(), entry.interest()));
        }
        let pending = self.entries.iter().any(|entry| match entry {
            Entry::Client(client) => client.pending(),
            Entry::Http(_) => false,
        });
        let deadline = self
            .entries
            .iter()
            .map(|entry| entry.deadline(&self.limits))
            .chain(self.paused)
            .min();
        let timeout = if pending {
            Some(Duration::ZERO)
        } else {
            deadline.map(|at| at.saturating_duration_since(Instant::now()))
        };
        if sys::poll(&mut polled, timeout).is_err() {
            std::thread::sleep(POLL_PAUSE);
        }
        let mut ready = polled.iter().map(PollEntry::ready);
        Ready {
            woken: ready.next().unwrap_or(false),
            listener: listening && ready.next().unwrap_or(false),
            entries: ready.collect(),
        }
    }

    /// Moves along each connection that is ready or past its deadline.
    fn serve(&mut self, ready: &[bool]) {
        let now = Instant::now();
        let mut fates = Vec::new();
        for (index, entry) in self.entries.iter_mut().enumerate() {
            let ready = ready.get(index).copied().unwrap_or(false);
            let fate = match entry {
                Entry::Http(conn) => {
                    let mut next = conn::Next::Wait;
                    if ready {
                        next = conn.on_ready(&self.limits, &self.origins, &self.fixed);
                    }
                    match next {
                        conn::Next::Wait if now >= conn.deadline(&self.limits) => {
                            Some(Fate::Remove)
                        }
                        conn::Next::Wait => None,
                        conn::Next::Upgrade => Some(Fate::Upgrade),
                        conn::Next::Close => Some(Fate::Remove),
                    }
                }
                Entry::Client(client) => {
                    let report = self.report.as_ref();
                    let mut next = client::Next::Wait;
                    if ready || client.pending() {
                        next = client.on_ready(report, now);
                    }
                    if next == client::Next::Wait && now >= client.deadline(&self.limits) {
                        next = client.on_deadline(report, &self.limits, now);
                    }
                    (next == client::Next::Close).then_some(Fate::Remove)
                }
            };
            if let Some(fate) = fate {
                fates.push((index, fate));
            }
        }
        // From the last, so that the indices stay right.
        for &(index, fate) in fates.iter().rev() {
            let entry = self.entries.remove(index);
            if fate == Fate::Upgrade {
                if let Entry::Http(conn) = entry {
                    if let Some((stream, upgrade)) = conn.upgrade() {
                        let client = Client::new(stream, upgrade, &self.limits, now);
                        self.entries.insert(index, Entry::Client(client));
                    }
                }
            }
        }
    }

    /// How many clients have completed their hello.
    fn greeted(&self) -> usize {
        self.entries
            .iter()
            .filter(|entry| matches!(entry, Entry::Client(client) if client.greeted()))
            .count()
    }

    /// Sends `report` to the clients that want it, and keeps it for those
    /// that greet later.
    fn status(&mut self, report: Report) {
        self.entries.retain_mut(|entry| match entry {
            Entry::Client(client) if client.wants_status() => {
                client.status(&report) == client::Next::Wait
            }
            _ => true,
        });
        self.report = Some(report);
    }

    /// Sends `reload` to every client that has completed its hello;
    /// returns how many it reached (a client closed for its backlog is
    /// not counted).
    fn reload(&mut self) -> usize {
        let mut reached = 0;
        self.entries.retain_mut(|entry| match entry {
            Entry::Client(client) if client.greeted() => {
                let kept = client.send(message::RELOAD) == client::Next::Wait;
                reached += usize::from(kept);
                kept
            }
            _ => true,
        });
        reached
    }

    /// Accepts what waits, a bounded number per round. When the
    /// connections are at their limit, the oldest that has not completed
    /// its handshake makes room; with none, the new one is closed at once.
    fn accept(&mut self) {
        for _ in 0..ACCEPTS_PER_ROUND {
            let now = Instant::now();
            let stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(err) => match err.kind() {
                    io::ErrorKind::WouldBlock => return,
                    io::ErrorKind::Interrupted
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::ConnectionReset => continue,
                    _ => {
                        self.paused = Some(after(now, ACCEPT_PAUSE));
                        return;
                    }
                },
            };
            if self.entries.len() >= self.limits.max_connections {
                match self.entries.iter().position(Entry::evictable) {
                    Some(oldest) => drop(self.entries.remove(oldest)),
                    None => continue,
                }
            }
            if let Ok(conn) = Conn::new(stream, now) {
                self.entries.push(Entry::Http(conn));
            }
        }
    }
}
