//! The page thread's loop: it polls the waker, the listening sockets (only
//! while answering) and the connections; looks at the control state after
//! every poll and before every accept; accepts at most once per ready
//! listening socket per round; and moves every connection along.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::conn::{Conn, Next};
use super::control::{Control, Order};
use super::limits::{after, Limits};
use super::request::{Hosts, Request};
use super::response::{Fixed, Pages};
use crate::local_server::Wakeup;
use crate::sys::{self, Interest, PollEntry};

/// How long the listening sockets are left alone after an accept failed
/// for want of resources (descriptors, memory), instead of spinning on it.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// How long to wait before polling again after poll itself failed.
const POLL_PAUSE: Duration = Duration::from_millis(10);

/// One held `http::` listening socket.
#[derive(Debug)]
pub struct Site {
    /// A `try_clone()` of the listening socket. Only polled and accepted:
    /// its flags are shared with every process that holds it.
    pub socket: socket2::Socket,
    /// The address it is bound to; its IP address, unless unspecified,
    /// makes a `Host` header trusted.
    pub local: SocketAddr,
    /// The host name given in `-s`, e.g. `myhost.local`, if it was a name;
    /// it makes a `Host` header trusted.
    pub host: Option<String>,
}

/// Records the thread's end when dropped, however it ends.
struct Ended<'a>(&'a Control);

impl Drop for Ended<'_> {
    fn drop(&mut self) {
        self.0.ended();
    }
}

struct Server {
    sites: Vec<Site>,
    limits: Limits,
    hosts: Hosts,
    fixed: Fixed,
    /// The pages of the outage answered; `None` while idle.
    pages: Option<Arc<Pages>>,
    /// In the order they were accepted, oldest first.
    conns: Vec<Conn>,
    /// Until when the listening sockets are left alone (`ACCEPT_PAUSE`).
    paused: Option<Instant>,
}

/// The thread's body: serves until told to quit, then closes everything.
pub fn run(control: &Control, wakeup: Wakeup, sites: Vec<Site>, limits: Limits) {
    let _ended = Ended(control);
    let hosts = Hosts::new(
        sites.iter().filter_map(|site| site.host.clone()),
        sites.iter().map(|site| site.local.ip()),
    );
    let mut server = Server {
        sites,
        limits,
        hosts,
        fixed: Fixed::new(),
        pages: None,
        conns: Vec::new(),
        paused: None,
    };
    let seen = control.observe();
    if !server.follow(seen.order) {
        return;
    }
    loop {
        let now = Instant::now();
        server.paused = server.paused.filter(|&until| until > now);
        let listening = server.pages.is_some() && server.paused.is_none();
        let ready = server.poll(&wakeup, listening);
        // Drain before looking: an order is made before its wake-up is
        // sent, so the look sees every order whose wake-up was drained, and
        // a later one wakes the next poll.
        if ready.woken {
            wakeup.drain();
        }
        // Look again at once: a stop may be what ended the poll.
        let seen = control.observe();
        let generation = seen.generation;
        if !server.follow(seen.order) {
            return;
        }
        server.serve(&ready.conns);
        if listening {
            for (site, _) in ready.sites.iter().enumerate().filter(|(_, &r)| r) {
                if !control.may_accept(generation) {
                    break;
                }
                server.accept(site);
            }
        }
    }
}

/// Which sockets a poll found ready.
struct Ready {
    woken: bool,
    /// By site; all false when the sites were not polled.
    sites: Vec<bool>,
    /// By connection, in `Server::conns` order as it was at the poll.
    conns: Vec<bool>,
}

impl Server {
    /// Carries out `order`; false when it is to quit. A new outage is
    /// rendered here, once. Held wait requests on any other outage than the
    /// one now answered (all of them after a stop) are answered `reload`.
    fn follow(&mut self, order: Order) -> bool {
        match order {
            Order::Quit => return false,
            Order::Idle => self.pages = None,
            Order::Answer { epoch, outage } => match outage {
                Some(outage) => {
                    self.pages = Some(Arc::new(Pages::new(&outage, epoch, &self.fixed)));
                }
                // Taken at an earlier look, when these pages were made.
                None if self.pages.as_ref().is_some_and(|p| p.epoch == epoch) => {}
                None => self.pages = None,
            },
        }
        let epoch = self.pages.as_ref().map(|pages| pages.epoch);
        let now = Instant::now();
        let mut closed = Vec::new();
        for (index, conn) in self.conns.iter_mut().enumerate() {
            if conn.held().is_some_and(|held| Some(held) != epoch) {
                let reload = self.fixed.reload.clone();
                if conn.respond(reload, false, &self.limits, now) == Next::Close {
                    closed.push(index);
                }
            }
        }
        self.remove(&closed);
        true
    }

    /// Waits for the waker, the connections and (when `listening`) the
    /// listening sockets, until the nearest deadline.
    fn poll(&self, wakeup: &Wakeup, listening: bool) -> Ready {
        let sites = if listening { self.sites.len() } else { 0 };
        let mut entries = Vec::with_capacity(1 + sites + self.conns.len());
        entries.push(PollEntry::new(wakeup.socket(), Interest::Read));
        for site in &self.sites[..sites] {
            entries.push(PollEntry::new(&site.socket, Interest::Read));
        }
        for conn in &self.conns {
            entries.push(PollEntry::new(conn.socket(), conn.interest()));
        }
        let deadline = self
            .conns
            .iter()
            .map(Conn::deadline)
            .chain(self.paused.filter(|_| self.pages.is_some()))
            .min();
        let timeout = deadline.map(|at| at.saturating_duration_since(Instant::now()));
        if sys::poll(&mut entries, timeout).is_err() {
            std::thread::sleep(POLL_PAUSE);
        }
        let mut ready = entries.iter().map(PollEntry::ready);
        Ready {
            woken: ready.next().unwrap_or(false),
            sites: (0..self.sites.len())
                .map(|index| index < sites && ready.next().unwrap_or(false))
                .collect(),
            conns: ready.collect(),
        }
    }

    /// Moves along each connection that is ready or past its deadline.
    fn serve(&mut self, ready: &[bool]) {
        let now = Instant::now();
        let mut closed = Vec::new();
        for index in 0..self.conns.len() {
            let mut next = Next::Wait;
            if ready.get(index).copied().unwrap_or(false) {
                next = self.conns[index].on_ready(&self.limits, &self.hosts);
            }
            if let Next::Decide(request) = next {
                next = self.decide(index, request, now);
            }
            if next == Next::Wait && now >= self.conns[index].deadline() {
                next = self.conns[index].on_deadline(&self.fixed.wait, &self.limits, now);
            }
            if next == Next::Close {
                closed.push(index);
            }
        }
        self.remove(&closed);
    }

    /// Answers (or holds) the request of connection `index`.
    fn decide(&mut self, index: usize, request: Request, now: Instant) -> Next {
        let fixed = &self.fixed;
        let (response, head_only) = match request {
            Request::Page {
                head_only,
                html,
                trusted,
                target,
            } => match &self.pages {
                Some(pages) => (pages.page(html, trusted).clone(), head_only),
                // Accepted while the page was up, asked once it is down.
                None => (super::response::again(&target), head_only),
            },
            Request::Wait { page } => match &self.pages {
                Some(pages) if page == Some(pages.epoch) => {
                    if !self.may_hold(index) {
                        (fixed.busy.clone(), false)
                    } else {
                        let epoch = pages.epoch;
                        self.conns[index].hold(epoch, after(now, self.limits.hold));
                        return Next::Wait;
                    }
                }
                _ => (fixed.reload.clone(), false),
            },
            Request::TooLarge => (fixed.too_large.clone(), false),
            Request::Malformed => (fixed.malformed.clone(), false),
        };
        self.conns[index].respond(response, head_only, &self.limits, now)
    }

    /// Whether one more wait request, connection `index`'s, may be held.
    fn may_hold(&self, index: usize) -> bool {
        let peer = self.conns[index].peer();
        let held = self.conns.iter().filter(|conn| conn.held().is_some());
        let (all, theirs) = held.fold((0, 0), |(all, theirs), conn| {
            (all + 1, theirs + usize::from(conn.peer() == peer))
        });
        all < self.limits.max_held && theirs < self.limits.max_held_per_client
    }

    /// Accepts one connection on site `site`. When the connections are at
    /// their limit, the oldest that is still reading its head (or done)
    /// makes room; with none, the new one is closed at once.
    fn accept(&mut self, site: usize) {
        let now = Instant::now();
        let (socket, peer) = match self.sites[site].socket.accept() {
            Ok(accepted) => accepted,
            Err(err) => {
                if !matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::Interrupted
                        | io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::ConnectionReset
                ) {
                    self.paused = Some(now + ACCEPT_PAUSE);
                }
                return;
            }
        };
        let (Some(peer), Some(_)) = (peer.as_socket(), &self.pages) else {
            return;
        };
        if self.conns.len() >= self.limits.max_connections {
            match self.conns.iter().position(Conn::evictable) {
                Some(oldest) => drop(self.conns.remove(oldest)),
                None => return,
            }
        }
        if let Ok(conn) = Conn::new(socket, peer.ip(), &self.limits, now) {
            self.conns.push(conn);
        }
    }

    /// Drops the connections at `indices` (ascending), closing them.
    fn remove(&mut self, indices: &[usize]) {
        for &index in indices.iter().rev() {
            self.conns.remove(index);
        }
    }
}
