//! Supervise mode's vocabulary and restart decisions, as plain Rust.
//!
//! Nothing here touches a process, a clock or a file. [`Supervisor::handle`]
//! takes an [`Event`] and the current time and returns the [`Action`]s to
//! carry out; the event loop performs them and feeds back what happened. Every
//! decision is therefore testable without starting a process.
//!
//! Each child is a *generation* with a [`State`]. At most three roles exist
//! at once:
//! - the **active** child, the one serving (or the last one, once exited);
//! - a **replacement**, started by a restart while the active child is ready,
//!   which takes over once it is ready;
//! - **retiring** children, sent the stop signal and awaited (SIGKILL after
//!   the grace period).
//!
//! A child is ready when it says so (`READY=1`) or, on Linux, when a process
//! of its tree is seen waiting for connections on a passed socket; which of
//! the two counts is the [`Readiness`] policy. On Windows a child is ready
//! once a process of its tree has fetched its sockets from the socket server. Seeing requires looking: while
//! a child starts, the supervisor asks for a look ([`Action::Look`]) at
//! growing intervals, and for none once every child is ready.
//!
//! A restart while a replacement is still starting supersedes it: the
//! unready replacement is stopped and a fresh one started, so the files of
//! the latest change are what ends up serving. A restart while a stop-first
//! restart waits for the old child to exit changes nothing: the pending start
//! will see the latest files anyway.

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::config::Readiness;
use crate::signal::Signal;

/// A child's generation number: 1 for the first child, then 2, 3, ….
pub type Generation = u64;

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// It exited with this code.
    Code(i32),
    /// A signal killed it (Unix).
    #[cfg_attr(windows, allow(dead_code))]
    Signal(Signal),
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // An NTSTATUS, such as 0xC000013A for Ctrl-C, reads in hex.
            Status::Code(code) if cfg!(windows) && *code < 0 => {
                write!(f, "exited with status {:#010X}", *code as u32)
            }
            Status::Code(code) => write!(f, "exited with status {code}"),
            Status::Signal(signal) => write!(f, "was killed by {signal}"),
        }
    }
}

/// Where a child is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Started; not ready yet.
    Starting,
    /// Ready: it serves.
    Ready,
    /// Sent the stop signal at `since`; `killed` once SIGKILL followed.
    Stopping { since: Instant, killed: bool },
    /// Exited on its own.
    Exited(Status),
}

/// One child, as the supervisor sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Child {
    pub generation: Generation,
    /// Known once the start succeeded.
    pub pid: Option<u32>,
    pub state: State,
    pub started: Instant,
    /// While starting: when it sent `READY=1`.
    notified: Option<Instant>,
    /// While starting: where it was seen listening.
    listening: Option<Waiter>,
    /// While starting and looked at: when to look next.
    next_look: Option<Instant>,
}

impl Child {
    fn is_running(&self) -> bool {
        !matches!(self.state, State::Exited(_))
    }

    fn pid(&self) -> u32 {
        self.pid.unwrap_or(0)
    }
}

/// How restarts are carried out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// `--stop-first`: never run the old and the new child side by side.
    pub stop_first: bool,
    /// `--stop-timeout`: how long after the stop signal SIGKILL follows.
    pub grace: Duration,
    /// `--signal`: on a change, send this to the running child instead of
    /// restarting it.
    pub signal_on_change: Option<Signal>,
    /// `--ready`, as it applies here: [`Readiness::Notify`] wherever
    /// listening cannot be seen (not Linux, or no sockets).
    pub ready: Readiness,
}

/// The first look at a starting child comes this long after its start, and
/// the next ones at a tenth of its time so far, at least this far apart…
pub const LOOK_MIN: Duration = Duration::from_millis(10);
/// … and at most this far apart, so a long build costs a few looks a second.
pub const LOOK_MAX: Duration = Duration::from_millis(250);
/// How long after `READY=1` a child may take to be seen listening
/// ([`Readiness::Auto`]) before its `READY=1` counts alone. Generous: while
/// it runs the old child serves, so waiting costs clients nothing, and an
/// application that gunicorn's workers import after the master's `READY=1`
/// may take many seconds. It bounds the wait for a server whose waiting no
/// look can see (io_uring, or a process systemfd may not read).
pub const CONFIRM: Duration = Duration::from_secs(30);

/// A process of a child's tree seen waiting on a passed socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Waiter {
    /// The child itself or one of its descendants.
    pub pid: u32,
    /// The fd the socket was passed at (3, 4, …).
    pub fd: i32,
}

/// What made a child ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// `READY=1`.
    Notify,
    /// Waiting for connections.
    Listening(Waiter),
    /// `READY=1`, and waiting for connections.
    Both(Waiter),
    /// `READY=1`, not seen listening within [`CONFIRM`].
    NotifyUnseen,
    /// It fetched its sockets from the socket server (Windows).
    Fetched,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Watched files changed; `path` is the first, `more` counts the others.
    Change { path: PathBuf, more: usize },
    /// systemfd received SIGHUP (Unix).
    #[cfg_attr(windows, allow(dead_code))]
    Hangup,
    /// The start of `generation` succeeded.
    Started { generation: Generation, pid: u32 },
    /// The start of `generation` failed before COMMAND ran.
    StartFailed {
        generation: Generation,
        error: String,
    },
    /// `generation` sent `READY=1` (Unix).
    #[cfg_attr(windows, allow(dead_code))]
    Ready { generation: Generation },
    /// A process of `generation`'s tree fetched its sockets from the socket
    /// server (Windows).
    #[cfg_attr(unix, allow(dead_code))]
    Fetched { generation: Generation },
    /// The replacement `generation` exited before it was ready while the
    /// child serving runs `program`, a program from the working directory:
    /// the replacement may have failed only because it could not rebuild
    /// `program` while that runs (Windows does not let a running program be
    /// replaced). The child serving is stopped and COMMAND started again.
    #[cfg_attr(unix, allow(dead_code))]
    Blocked {
        generation: Generation,
        status: Status,
        program: PathBuf,
    },
    /// A look found a process of `generation`'s tree waiting on a socket
    /// (Linux only: elsewhere nothing looks).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    Listening {
        generation: Generation,
        waiter: Waiter,
    },
    /// `generation` sent `STATUS=…` (Unix).
    #[cfg_attr(windows, allow(dead_code))]
    Status {
        generation: Generation,
        text: String,
    },
    /// `generation`'s process exited.
    Exited {
        generation: Generation,
        status: Status,
    },
    /// Time passed: a stop may have run out of grace, a look may be due.
    Tick,
    /// systemfd received SIGINT, SIGTERM, SIGQUIT or its terminal hung up.
    Shutdown { signal: Signal },
    /// systemfd received a signal meant for the command (SIGUSR1, SIGUSR2).
    #[cfg_attr(windows, allow(dead_code))]
    Forward { signal: Signal },
}

/// What to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Start COMMAND as `generation`, then report `Started` or `StartFailed`.
    Start(Generation),
    /// Send the stop signal to the process group of `pid`.
    Stop { pid: u32 },
    /// Send SIGKILL to the process group of `pid`.
    Kill { pid: u32 },
    /// See whether a process of `pid`'s tree waits on a passed socket; if
    /// so, report `Listening` for `generation`.
    Look { generation: Generation, pid: u32 },
    /// Send `signal` to the process `pid` alone (`--signal`).
    Signal { pid: u32, signal: Signal },
    /// Tell the user.
    Say(Report),
    /// Leave with this status.
    Exit(i32),
}

/// Why a restart does what it does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Nothing is running: start.
    Start,
    /// The active child is ready: start a replacement beside it.
    Replace { old: u32 },
    /// Stop the active child, then start. `forced` by `--stop-first`;
    /// otherwise the child is not ready, and `ready` tells what would have
    /// made it so.
    StopFirst {
        old: u32,
        forced: bool,
        ready: Readiness,
    },
    /// A replacement was still starting: stop it and start another.
    Supersede { pending: u32 },
    /// A stop-first restart is waiting for `old` to exit already.
    AlreadyPending { old: u32 },
}

/// One line for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Report {
    Change {
        path: PathBuf,
        more: usize,
    },
    Hangup,
    Restart(Plan),
    Signalled {
        pid: u32,
        signal: Signal,
    },
    Forwarded {
        pid: u32,
        signal: Signal,
    },
    Started {
        pid: u32,
    },
    Ready {
        pid: u32,
        after: Duration,
        source: Source,
    },
    /// Seen listening, but its predecessors sent `READY=1`: it should too.
    AwaitingNotify {
        pid: u32,
        waiter: Waiter,
    },
    Status {
        pid: u32,
        text: String,
    },
    Handover {
        new: u32,
        old: u32,
    },
    Killing {
        pid: u32,
        grace: Duration,
    },
    Stopped {
        pid: u32,
        status: Status,
    },
    Exited {
        pid: u32,
        status: Status,
    },
    TakesOver {
        pid: u32,
    },
    ReplacementFailed {
        pid: u32,
        status: Status,
        serving: u32,
    },
    Blocked {
        pid: u32,
        status: Status,
        serving: u32,
        program: PathBuf,
    },
    StartFailed {
        error: String,
        serving: Option<u32>,
    },
    Waiting,
    ShuttingDown {
        signal: Signal,
    },
    KillingAll {
        signal: Signal,
    },
}

impl Report {
    /// Whether the line is an error, shown even with `--quiet`.
    pub fn is_error(&self) -> bool {
        matches!(self, Report::StartFailed { .. })
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Report::Change { path, more: 0 } => write!(f, "change: {}", path.display()),
            Report::Change { path, more } => {
                write!(f, "change: {} (and {more} more)", path.display())
            }
            Report::Hangup => f.write_str("SIGHUP: restarting"),
            Report::Restart(Plan::Start) => f.write_str("restart: starting the command"),
            Report::Restart(Plan::Replace { old }) => write!(
                f,
                "restart: starting a replacement; pid {old} serves until it is ready"
            ),
            Report::Restart(Plan::StopFirst {
                old, forced: true, ..
            }) => {
                write!(f, "restart: stopping pid {old} first (--stop-first)")
            }
            Report::Restart(Plan::StopFirst {
                old,
                forced: false,
                ready,
            }) => {
                let why = match ready {
                    Readiness::Notify => "it has not reported READY=1",
                    Readiness::Listen | Readiness::Auto => {
                        "it is not ready: no READY=1, not seen listening"
                    }
                    Readiness::Fetched => "it has not fetched its sockets",
                };
                write!(f, "restart: stopping pid {old} first ({why})")
            }
            Report::Restart(Plan::Supersede { pending }) => write!(
                f,
                "restart: stopping pid {pending}, which was not ready yet, and starting anew"
            ),
            Report::Restart(Plan::AlreadyPending { old }) => write!(
                f,
                "restart: already waiting for pid {old} to stop before starting"
            ),
            Report::Signalled { pid, signal } => {
                write!(f, "sending {signal} to pid {pid} (--signal)")
            }
            Report::Forwarded { pid, signal } => write!(f, "{signal}: passing it on to pid {pid}"),
            Report::Started { pid } => write!(f, "started pid {pid}"),
            Report::Ready { pid, after, source } => {
                write!(f, "ready: pid {pid} after {} ms (", after.as_millis())?;
                match source {
                    Source::Notify => f.write_str("READY=1")?,
                    Source::Listening(waiter) => listening(f, *pid, waiter)?,
                    Source::Both(waiter) => {
                        f.write_str("READY=1, ")?;
                        listening(f, *pid, waiter)?;
                    }
                    Source::NotifyUnseen => write!(
                        f,
                        "READY=1; not seen listening within {}",
                        humanize(CONFIRM)
                    )?,
                    Source::Fetched => f.write_str("it fetched its sockets")?,
                }
                f.write_str(")")
            }
            Report::AwaitingNotify { pid, waiter } => {
                write!(f, "pid {pid}: ")?;
                listening(f, *pid, waiter)?;
                f.write_str("; waiting for its READY=1, as an earlier child sent one")
            }
            Report::Status { pid, text } => write!(f, "status of pid {pid}: {text}"),
            Report::Handover { new, old } => {
                write!(f, "handover: pid {new} is ready; stopping pid {old}")
            }
            Report::Killing { pid, grace } => write!(
                f,
                "pid {pid} did not stop within {}; {KILLING}",
                humanize(*grace)
            ),
            Report::Stopped { pid, status } => write!(f, "stopped pid {pid}: it {status}"),
            Report::Exited { pid, status } => write!(f, "pid {pid} {status}"),
            Report::TakesOver { pid } => write!(f, "pid {pid} takes over"),
            Report::ReplacementFailed {
                pid,
                status,
                serving,
            } => write!(
                f,
                "pid {pid} {status} before it was ready; pid {serving} keeps serving"
            ),
            Report::Blocked {
                pid,
                status,
                serving,
                program,
            } => write!(
                f,
                "pid {pid} {status} before it was ready; pid {serving} runs {}, which Windows does not let a build replace while it runs: stopping pid {serving} first and starting again",
                program.display()
            ),
            Report::StartFailed {
                error,
                serving: Some(pid),
            } => write!(f, "{error}; pid {pid} keeps serving"),
            Report::StartFailed {
                error,
                serving: None,
            } => write!(f, "{error}; {WAITING}"),
            Report::Waiting => f.write_str(WAITING),
            Report::ShuttingDown { signal } => write!(
                f,
                "{signal}: stopping the command (again to kill it at once)"
            ),
            Report::KillingAll { signal } => write!(f, "{signal} again: killing the command"),
        }
    }
}

/// How a child that outlasts its grace period is ended.
const KILLING: &str = if cfg!(windows) {
    "ending its process tree"
} else {
    "sending SIGKILL"
};

/// What restarts a command that is not running.
const WAITING: &str = if cfg!(windows) {
    "waiting for a change"
} else {
    "waiting for a change or SIGHUP"
};

/// `listening on fd 3`, or `pid 125 listening on fd 3` when the waiter is
/// not the child `pid` itself (a worker, or a server below a wrapper).
fn listening(f: &mut fmt::Formatter<'_>, pid: u32, waiter: &Waiter) -> fmt::Result {
    if waiter.pid != pid {
        write!(f, "pid {} ", waiter.pid)?;
    }
    write!(f, "listening on fd {}", waiter.fd)
}

/// `500ms`, `5s`, `1.5s`: the forms `--stop-timeout` accepts.
fn humanize(duration: Duration) -> String {
    if duration.subsec_millis() == 0 && duration.as_secs() > 0 {
        format!("{}s", duration.as_secs())
    } else if duration.as_secs() == 0 {
        format!("{}ms", duration.as_millis())
    } else {
        format!("{}s", duration.as_secs_f64())
    }
}

/// When a stop that began at `since` runs out of `grace`. The command line
/// bounds the grace to a day; one too long for the clock would end a day
/// after `since`.
fn grace_end(since: Instant, grace: Duration) -> Instant {
    since
        .checked_add(grace)
        .or_else(|| since.checked_add(Duration::from_secs(24 * 60 * 60)))
        .unwrap_or(since)
}

/// The supervisor's whole state.
#[derive(Debug)]
pub struct Supervisor {
    policy: Policy,
    last_generation: Generation,
    active: Option<Child>,
    replacement: Option<Child>,
    retiring: Vec<Child>,
    /// A stop-first restart: start once this generation has exited.
    start_after: Option<Generation>,
    shutting_down: bool,
    /// Whether a child of this run has sent `READY=1` ([`Readiness::Auto`]).
    notifies: bool,
}

impl Supervisor {
    pub fn new(policy: Policy) -> Supervisor {
        Supervisor {
            policy,
            last_generation: 0,
            active: None,
            replacement: None,
            retiring: Vec::new(),
            start_after: None,
            shutting_down: false,
            notifies: false,
        }
    }

    /// Starts the first child.
    pub fn begin(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        self.active = Some(self.start(now, &mut out));
        out
    }

    #[cfg(test)]
    pub fn active(&self) -> Option<&Child> {
        self.active.as_ref()
    }

    #[cfg(test)]
    pub fn replacement(&self) -> Option<&Child> {
        self.replacement.as_ref()
    }

    #[cfg(test)]
    pub fn retiring(&self) -> &[Child] {
        &self.retiring
    }

    /// When the next [`Event::Tick`] is due: the earliest end of a grace
    /// period, look, or wait for listening after `READY=1`.
    pub fn next_deadline(&self) -> Option<Instant> {
        let graces = self.retiring.iter().filter_map(|child| match child.state {
            State::Stopping {
                since,
                killed: false,
            } => Some(grace_end(since, self.policy.grace)),
            _ => None,
        });
        let starting = self.starting().flat_map(|child| {
            let unconfirmed = child.notified.filter(|_| child.listening.is_none());
            [child.next_look, unconfirmed.map(|at| at + CONFIRM)]
        });
        graces.chain(starting.flatten()).min()
    }

    /// The children that are starting: the active one, a replacement.
    fn starting(&self) -> impl Iterator<Item = &Child> {
        [self.active.as_ref(), self.replacement.as_ref()]
            .into_iter()
            .flatten()
            .filter(|child| child.state == State::Starting)
    }

    /// Handles `events` as they came, then a [`Event::Tick`] if one is
    /// due: a steady stream of events must not hold off what is due.
    pub fn handle_all(
        &mut self,
        events: impl IntoIterator<Item = Event>,
        now: Instant,
    ) -> Vec<Action> {
        let mut out: Vec<Action> = events
            .into_iter()
            .flat_map(|event| self.handle(event, now))
            .collect();
        if self.next_deadline().is_some_and(|deadline| deadline <= now) {
            out.extend(self.handle(Event::Tick, now));
        }
        out
    }

    pub fn handle(&mut self, event: Event, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Change { path, more } => {
                if !self.shutting_down {
                    out.push(Action::Say(Report::Change { path, more }));
                    match self.to_signal() {
                        Some((pid, signal)) => {
                            out.push(Action::Say(Report::Signalled { pid, signal }));
                            out.push(Action::Signal { pid, signal });
                        }
                        None => self.restart(now, &mut out),
                    }
                }
            }
            Event::Hangup => {
                if !self.shutting_down {
                    out.push(Action::Say(Report::Hangup));
                    self.restart(now, &mut out);
                }
            }
            Event::Started { generation, pid } => {
                let looks = matches!(self.policy.ready, Readiness::Listen | Readiness::Auto);
                if let Some(child) = self.child_mut(generation) {
                    child.pid = Some(pid);
                    if looks {
                        child.next_look = Some(now + LOOK_MIN);
                    }
                    out.push(Action::Say(Report::Started { pid }));
                }
            }
            Event::StartFailed { generation, error } => {
                self.start_failed(generation, error, &mut out)
            }
            Event::Ready { generation } => self.notified(generation, now, &mut out),
            Event::Fetched { generation } => {
                if self.policy.ready == Readiness::Fetched {
                    self.ready(generation, Source::Fetched, now, &mut out);
                }
            }
            Event::Blocked {
                generation,
                status,
                program,
            } => self.blocked(generation, status, program, now, &mut out),
            Event::Listening { generation, waiter } => {
                self.listening(generation, waiter, now, &mut out)
            }
            Event::Status { generation, text } => {
                let known = [self.active.as_ref(), self.replacement.as_ref()]
                    .into_iter()
                    .flatten()
                    .find(|child| child.generation == generation && child.is_running());
                if let Some(child) = known {
                    out.push(Action::Say(Report::Status {
                        pid: child.pid(),
                        text,
                    }));
                }
            }
            Event::Exited { generation, status } => self.exited(generation, status, now, &mut out),
            Event::Tick => self.tick(now, &mut out),
            Event::Shutdown { signal } => self.shutdown(signal, now, &mut out),
            Event::Forward { signal } => {
                let serving = self.active.as_ref().filter(|child| child.is_running());
                if let Some(pid) = serving.and_then(|child| child.pid) {
                    out.push(Action::Say(Report::Forwarded { pid, signal }));
                    out.push(Action::Signal { pid, signal });
                }
            }
        }
        out
    }

    /// With `--signal`, the child a change is signalled to instead of a
    /// restart: the active one, when it runs and no restart is under way.
    fn to_signal(&self) -> Option<(u32, Signal)> {
        let signal = self.policy.signal_on_change?;
        if self.replacement.is_some() || self.start_after.is_some() {
            return None;
        }
        let active = self.active.as_ref().filter(|child| child.is_running())?;
        Some((active.pid?, signal))
    }

    fn restart(&mut self, now: Instant, out: &mut Vec<Action>) {
        if let Some(old) = self.start_after {
            let old = self.retiring.iter().find(|c| c.generation == old);
            let old = old.map_or(0, Child::pid);
            out.push(Action::Say(Report::Restart(Plan::AlreadyPending { old })));
            return;
        }
        if let Some(pending) = self.replacement.take() {
            out.push(Action::Say(Report::Restart(Plan::Supersede {
                pending: pending.pid(),
            })));
            self.retire(pending, now, out);
            self.replacement = Some(self.start(now, out));
            return;
        }
        match self.active.take() {
            Some(active) if active.is_running() => {
                if active.state == State::Ready && !self.policy.stop_first {
                    out.push(Action::Say(Report::Restart(Plan::Replace {
                        old: active.pid(),
                    })));
                    self.active = Some(active);
                    self.replacement = Some(self.start(now, out));
                } else {
                    out.push(Action::Say(Report::Restart(Plan::StopFirst {
                        old: active.pid(),
                        forced: self.policy.stop_first,
                        ready: self.policy.ready,
                    })));
                    self.start_after = Some(active.generation);
                    self.retire(active, now, out);
                }
            }
            _ => {
                out.push(Action::Say(Report::Restart(Plan::Start)));
                self.active = Some(self.start(now, out));
            }
        }
    }

    fn start(&mut self, now: Instant, out: &mut Vec<Action>) -> Child {
        self.last_generation += 1;
        out.push(Action::Start(self.last_generation));
        Child {
            generation: self.last_generation,
            pid: None,
            state: State::Starting,
            started: now,
            notified: None,
            listening: None,
            next_look: None,
        }
    }

    /// Sends the stop signal and keeps the child among the retiring until it
    /// exits. The caller's report says why.
    fn retire(&mut self, mut child: Child, now: Instant, out: &mut Vec<Action>) {
        if !child.is_running() {
            return;
        }
        let Some(pid) = child.pid else {
            // Its start did not go through: there is nothing to stop.
            return;
        };
        child.state = State::Stopping {
            since: now,
            killed: false,
        };
        out.push(Action::Stop { pid });
        self.retiring.push(child);
    }

    fn start_failed(&mut self, generation: Generation, error: String, out: &mut Vec<Action>) {
        if self
            .replacement
            .as_ref()
            .is_some_and(|c| c.generation == generation)
        {
            self.replacement = None;
            let serving = self
                .active
                .as_ref()
                .filter(|c| c.is_running())
                .map(Child::pid);
            out.push(Action::Say(Report::StartFailed { error, serving }));
        } else if self
            .active
            .as_ref()
            .is_some_and(|c| c.generation == generation)
        {
            self.active = None;
            out.push(Action::Say(Report::StartFailed {
                error,
                serving: None,
            }));
            self.finish_shutdown(out);
        }
    }

    /// `READY=1` from `generation`.
    fn notified(&mut self, generation: Generation, now: Instant, out: &mut Vec<Action>) {
        let known = [self.active.as_ref(), self.replacement.as_ref()]
            .into_iter()
            .flatten()
            .any(|c| c.generation == generation && c.is_running());
        if known {
            self.notifies = true;
        }
        let ready = self.policy.ready;
        let Some(child) = self.starting_mut(generation) else {
            return;
        };
        match (ready, child.listening) {
            (Readiness::Notify, _) => self.ready(generation, Source::Notify, now, out),
            (Readiness::Listen | Readiness::Fetched, _) => {}
            (Readiness::Auto, Some(waiter)) => {
                self.ready(generation, Source::Both(waiter), now, out)
            }
            (Readiness::Auto, None) => {
                if child.notified.is_none() {
                    child.notified = Some(now);
                    // Look at once rather than at the next interval.
                    child.next_look = Some(now);
                }
            }
        }
    }

    /// A look found `generation` listening.
    fn listening(
        &mut self,
        generation: Generation,
        waiter: Waiter,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let (ready, notifies) = (self.policy.ready, self.notifies);
        let Some(child) = self.starting_mut(generation) else {
            return;
        };
        if child.listening.is_some() {
            return;
        }
        child.listening = Some(waiter);
        child.next_look = None;
        let source = match ready {
            Readiness::Notify | Readiness::Fetched => return,
            Readiness::Listen => Source::Listening(waiter),
            Readiness::Auto if child.notified.is_some() => Source::Both(waiter),
            Readiness::Auto if !notifies => Source::Listening(waiter),
            Readiness::Auto => {
                out.push(Action::Say(Report::AwaitingNotify {
                    pid: child.pid(),
                    waiter,
                }));
                return;
            }
        };
        self.ready(generation, source, now, out);
    }

    fn starting_mut(&mut self, generation: Generation) -> Option<&mut Child> {
        self.child_mut(generation)
            .filter(|c| c.state == State::Starting)
    }

    /// `generation`, starting, is ready: a replacement takes over.
    fn ready(
        &mut self,
        generation: Generation,
        source: Source,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let is = |child: &Option<Child>| {
            child
                .as_ref()
                .is_some_and(|c| c.generation == generation && c.state == State::Starting)
        };
        let mut report = |child: &mut Child| {
            child.state = State::Ready;
            child.next_look = None;
            out.push(Action::Say(Report::Ready {
                pid: child.pid(),
                after: now.saturating_duration_since(child.started),
                source,
            }));
        };
        if is(&self.active) {
            report(self.active.as_mut().expect("checked"));
        } else if is(&self.replacement) {
            let mut new = self.replacement.take().expect("checked");
            report(&mut new);
            let new_pid = new.pid();
            if let Some(old) = self.active.replace(new) {
                if old.is_running() {
                    out.push(Action::Say(Report::Handover {
                        new: new_pid,
                        old: old.pid(),
                    }));
                    self.retire(old, now, out);
                }
            }
        }
    }

    fn exited(
        &mut self,
        generation: Generation,
        status: Status,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        if let Some(index) = self
            .retiring
            .iter()
            .position(|c| c.generation == generation)
        {
            let child = self.retiring.remove(index);
            out.push(Action::Say(Report::Stopped {
                pid: child.pid(),
                status,
            }));
            if self.start_after == Some(generation) {
                self.start_after = None;
                if !self.shutting_down {
                    self.active = Some(self.start(now, out));
                }
            }
            self.finish_shutdown(out);
        } else if self
            .replacement
            .as_ref()
            .is_some_and(|c| c.generation == generation)
        {
            let failed = self.replacement.take().expect("checked");
            let serving = self.active.as_ref().map_or(0, Child::pid);
            out.push(Action::Say(Report::ReplacementFailed {
                pid: failed.pid(),
                status,
                serving,
            }));
        } else if let Some(active) = self
            .active
            .as_mut()
            .filter(|c| c.generation == generation && c.is_running())
        {
            active.state = State::Exited(status);
            out.push(Action::Say(Report::Exited {
                pid: active.pid(),
                status,
            }));
            match self.replacement.take() {
                Some(replacement) => {
                    out.push(Action::Say(Report::TakesOver {
                        pid: replacement.pid(),
                    }));
                    self.active = Some(replacement);
                }
                None => out.push(Action::Say(Report::Waiting)),
            }
        }
    }

    /// A replacement that may have failed because the child serving holds
    /// its program: stop the child serving first, then start again. As for
    /// any exit, an unknown or outdated generation changes nothing.
    fn blocked(
        &mut self,
        generation: Generation,
        status: Status,
        program: PathBuf,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let is_replacement = self
            .replacement
            .as_ref()
            .is_some_and(|c| c.generation == generation);
        let serving = self.active.as_ref().is_some_and(Child::is_running);
        if !is_replacement || !serving || self.shutting_down {
            self.exited(generation, status, now, out);
            return;
        }
        let failed = self.replacement.take().expect("checked");
        let active = self.active.take().expect("checked");
        out.push(Action::Say(Report::Blocked {
            pid: failed.pid(),
            status,
            serving: active.pid(),
            program,
        }));
        self.start_after = Some(active.generation);
        self.retire(active, now, out);
    }

    /// The replacement, if `generation` is it, and the active child runs:
    /// the pid of the child serving.
    #[cfg_attr(unix, allow(dead_code))]
    pub fn serving_beside(&self, generation: Generation) -> Option<u32> {
        if self.replacement.as_ref()?.generation != generation {
            return None;
        }
        self.active
            .as_ref()
            .filter(|child| child.is_running())
            .and_then(|child| child.pid)
    }

    fn tick(&mut self, now: Instant, out: &mut Vec<Action>) {
        let generations: Vec<Generation> = self.starting().map(|c| c.generation).collect();
        for generation in generations {
            let Some(child) = self.starting_mut(generation) else {
                continue;
            };
            if child
                .notified
                .is_some_and(|at| child.listening.is_none() && now >= at + CONFIRM)
            {
                self.ready(generation, Source::NotifyUnseen, now, out);
                continue;
            }
            if let (Some(at), Some(pid)) = (child.next_look, child.pid) {
                if now >= at {
                    let so_far = now.saturating_duration_since(child.started);
                    child.next_look = Some(now + (so_far / 10).clamp(LOOK_MIN, LOOK_MAX));
                    out.push(Action::Look { generation, pid });
                }
            }
        }
        for child in &mut self.retiring {
            if let State::Stopping {
                since,
                killed: false,
            } = child.state
            {
                if now >= grace_end(since, self.policy.grace) {
                    child.state = State::Stopping {
                        since,
                        killed: true,
                    };
                    out.push(Action::Say(Report::Killing {
                        pid: child.pid(),
                        grace: self.policy.grace,
                    }));
                    out.push(Action::Kill { pid: child.pid() });
                }
            }
        }
    }

    fn shutdown(&mut self, signal: Signal, now: Instant, out: &mut Vec<Action>) {
        if self.shutting_down {
            out.push(Action::Say(Report::KillingAll { signal }));
            for child in &self.retiring {
                out.push(Action::Kill { pid: child.pid() });
            }
            out.push(Action::Exit(128 + signal.0));
            return;
        }
        self.shutting_down = true;
        self.start_after = None;
        if self.anything_runs() {
            out.push(Action::Say(Report::ShuttingDown { signal }));
        }
        if let Some(replacement) = self.replacement.take() {
            self.retire(replacement, now, out);
        }
        if let Some(active) = self.active.take() {
            self.retire(active, now, out);
        }
        self.finish_shutdown(out);
    }

    /// Once shutting down and nothing runs any more, leave.
    fn finish_shutdown(&self, out: &mut Vec<Action>) {
        if self.shutting_down && !self.anything_runs() {
            out.push(Action::Exit(0));
        }
    }

    /// Whether any child may still be running.
    fn anything_runs(&self) -> bool {
        self.active.as_ref().is_some_and(Child::is_running)
            || self.replacement.is_some()
            || !self.retiring.is_empty()
    }

    fn child_mut(&mut self, generation: Generation) -> Option<&mut Child> {
        [self.active.as_mut(), self.replacement.as_mut()]
            .into_iter()
            .flatten()
            .find(|c| c.generation == generation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(5);

    /// Drives a [`Supervisor`] the way the event loop does: each `Start`
    /// succeeds at once with pid 100 + generation.
    struct Harness {
        supervisor: Supervisor,
        now: Instant,
    }

    impl Harness {
        fn new(stop_first: bool) -> (Harness, Vec<Action>) {
            Harness::with(Policy {
                stop_first,
                grace: GRACE,
                signal_on_change: None,
                ready: Readiness::Notify,
            })
        }

        /// A harness whose children may be ready by listening.
        fn with_ready(stop_first: bool, ready: Readiness) -> (Harness, Vec<Action>) {
            Harness::with(Policy {
                stop_first,
                grace: GRACE,
                signal_on_change: None,
                ready,
            })
        }

        fn with(policy: Policy) -> (Harness, Vec<Action>) {
            let mut harness = Harness {
                supervisor: Supervisor::new(policy),
                now: Instant::now(),
            };
            let actions = harness.supervisor.begin(harness.now);
            let actions = harness.follow(actions);
            (harness, actions)
        }

        fn send(&mut self, event: Event) -> Vec<Action> {
            let actions = self.supervisor.handle(event, self.now);
            self.follow(actions)
        }

        /// Answers every `Start` with `Started`, as the loop does.
        fn follow(&mut self, actions: Vec<Action>) -> Vec<Action> {
            let mut all = Vec::new();
            for action in actions {
                let started = match action {
                    Action::Start(generation) => Some(generation),
                    _ => None,
                };
                all.push(action);
                if let Some(generation) = started {
                    let pid = 100 + generation as u32;
                    let more = self
                        .supervisor
                        .handle(Event::Started { generation, pid }, self.now);
                    all.extend(self.follow(more));
                }
            }
            all
        }

        fn later(&mut self, by: Duration) {
            self.now += by;
        }

        fn change(&mut self) -> Vec<Action> {
            self.send(Event::Change {
                path: "src/main.rs".into(),
                more: 0,
            })
        }

        fn ready(&mut self, generation: Generation) -> Vec<Action> {
            self.send(Event::Ready { generation })
        }

        fn exited(&mut self, generation: Generation, code: i32) -> Vec<Action> {
            self.send(Event::Exited {
                generation,
                status: Status::Code(code),
            })
        }

        fn listening(&mut self, generation: Generation, pid: u32) -> Vec<Action> {
            let waiter = Waiter { pid, fd: 3 };
            self.send(Event::Listening { generation, waiter })
        }

        /// Moves time to the next deadline and ticks; the looks asked for.
        fn next_tick(&mut self) -> Vec<Action> {
            let deadline = self.supervisor.next_deadline().expect("a deadline");
            assert!(deadline >= self.now, "a deadline in the past");
            self.now = deadline;
            self.send(Event::Tick)
        }

        fn active(&self) -> (Generation, State) {
            let active = self.supervisor.active().expect("an active child");
            (active.generation, active.state)
        }
    }

    /// The actions other than reports.
    fn deeds(actions: &[Action]) -> Vec<Action> {
        actions
            .iter()
            .filter(|a| !matches!(a, Action::Say(_)))
            .cloned()
            .collect()
    }

    fn reports(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Say(report) => Some(report.to_string()),
                _ => None,
            })
            .collect()
    }

    #[cfg(unix)]
    const TERM: Signal = Signal(libc::SIGTERM);
    #[cfg(not(unix))]
    const TERM: Signal = Signal(15);

    #[test]
    fn with_signal_a_change_signals_the_running_child_instead_of_restarting() {
        let hup = Signal(1);
        let (mut h, _) = Harness::with(Policy {
            stop_first: false,
            grace: GRACE,
            signal_on_change: Some(hup),
            ready: Readiness::Notify,
        });
        let actions = h.change();
        assert_eq!(
            deeds(&actions),
            [Action::Signal {
                pid: 101,
                signal: hup
            }]
        );
        assert_eq!(
            reports(&actions),
            [
                "change: src/main.rs",
                "sending SIGHUP to pid 101 (--signal)"
            ]
        );
        assert_eq!(h.active(), (1, State::Starting));

        // SIGHUP to systemfd still restarts.
        h.ready(1);
        let actions = h.send(Event::Hangup);
        assert_eq!(deeds(&actions), [Action::Start(2)]);
        // While a replacement starts, a change restarts as usual.
        let actions = h.change();
        assert_eq!(
            deeds(&actions),
            [Action::Stop { pid: 102 }, Action::Start(3)]
        );
    }

    #[test]
    fn with_signal_a_change_starts_a_command_that_is_not_running() {
        let (mut h, _) = Harness::with(Policy {
            stop_first: false,
            grace: GRACE,
            signal_on_change: Some(Signal(1)),
            ready: Readiness::Notify,
        });
        h.exited(1, 0);
        let actions = h.change();
        assert_eq!(deeds(&actions), [Action::Start(2)]);
    }

    #[test]
    fn user_signals_are_passed_on_to_the_serving_child() {
        let usr1 = Signal(10);
        let (mut h, _) = Harness::new(false);
        let actions = h.send(Event::Forward { signal: usr1 });
        assert_eq!(
            deeds(&actions),
            [Action::Signal {
                pid: 101,
                signal: usr1
            }]
        );
        h.exited(1, 0);
        assert!(h.send(Event::Forward { signal: usr1 }).is_empty());
    }

    #[test]
    fn begins_with_one_start() {
        let (h, actions) = Harness::new(false);
        assert_eq!(deeds(&actions), [Action::Start(1)]);
        assert_eq!(reports(&actions), ["started pid 101"]);
        assert_eq!(h.active(), (1, State::Starting));
    }

    #[test]
    fn ready_is_reported_with_the_time_since_start() {
        let (mut h, _) = Harness::new(false);
        h.later(Duration::from_millis(215));
        let actions = h.ready(1);
        assert_eq!(reports(&actions), ["ready: pid 101 after 215 ms (READY=1)"]);
        assert_eq!(h.active(), (1, State::Ready));
        // A repeated READY=1 changes nothing.
        assert!(h.ready(1).is_empty());
    }

    #[test]
    fn a_ready_child_is_replaced_once_the_new_one_is_ready() {
        let (mut h, _) = Harness::new(false);
        h.ready(1);
        let actions = h.change();
        assert_eq!(deeds(&actions), [Action::Start(2)]);
        assert_eq!(
            reports(&actions),
            [
                "change: src/main.rs",
                "restart: starting a replacement; pid 101 serves until it is ready",
                "started pid 102",
            ]
        );
        // The old child keeps serving while the new one starts.
        assert_eq!(h.active(), (1, State::Ready));
        assert_eq!(h.supervisor.replacement().unwrap().state, State::Starting);

        let actions = h.ready(2);
        assert_eq!(deeds(&actions), [Action::Stop { pid: 101 }]);
        assert!(reports(&actions).contains(&"handover: pid 102 is ready; stopping pid 101".into()));
        assert_eq!(h.active(), (2, State::Ready));
        assert!(h.supervisor.replacement().is_none());

        let actions = h.exited(1, 0);
        assert!(deeds(&actions).is_empty());
        assert_eq!(
            reports(&actions),
            ["stopped pid 101: it exited with status 0"]
        );
        assert!(h.supervisor.retiring().is_empty());
    }

    #[test]
    fn an_unready_child_is_stopped_before_the_new_one_starts() {
        let (mut h, _) = Harness::new(false);
        let actions = h.change();
        assert_eq!(deeds(&actions), [Action::Stop { pid: 101 }]);
        assert!(reports(&actions)
            .contains(&"restart: stopping pid 101 first (it has not reported READY=1)".into()));
        assert!(h.supervisor.active().is_none());

        let actions = h.exited(1, 143);
        assert_eq!(deeds(&actions), [Action::Start(2)]);
        assert_eq!(h.active(), (2, State::Starting));
    }

    #[test]
    fn stop_first_never_runs_two_children() {
        let (mut h, _) = Harness::new(true);
        h.ready(1);
        let actions = h.change();
        assert_eq!(deeds(&actions), [Action::Stop { pid: 101 }]);
        assert!(
            reports(&actions).contains(&"restart: stopping pid 101 first (--stop-first)".into())
        );
        assert_eq!(deeds(&h.exited(1, 0)), [Action::Start(2)]);
    }

    #[test]
    fn a_replacement_that_exits_early_leaves_the_old_child_serving() {
        let (mut h, _) = Harness::new(false);
        h.ready(1);
        h.change();
        let actions = h.exited(2, 101);
        assert!(deeds(&actions).is_empty(), "{actions:?}");
        assert_eq!(
            reports(&actions),
            ["pid 102 exited with status 101 before it was ready; pid 101 keeps serving"]
        );
        assert_eq!(h.active(), (1, State::Ready));
        assert!(h.supervisor.replacement().is_none());
        // The next change tries again beside the same old child.
        assert_eq!(deeds(&h.change()), [Action::Start(3)]);
        assert_eq!(h.active(), (1, State::Ready));
    }

    #[test]
    fn a_change_during_a_handover_supersedes_the_pending_replacement() {
        let (mut h, _) = Harness::new(false);
        h.ready(1);
        h.change();
        let actions = h.change();
        assert_eq!(
            deeds(&actions),
            [Action::Stop { pid: 102 }, Action::Start(3)]
        );
        assert!(reports(&actions).contains(
            &"restart: stopping pid 102, which was not ready yet, and starting anew".into()
        ));
        assert_eq!(h.active(), (1, State::Ready));
        assert_eq!(h.supervisor.replacement().unwrap().generation, 3);

        // The superseded one's exit is a stop, not a failed replacement.
        let actions = h.exited(2, 143);
        assert_eq!(
            reports(&actions),
            ["stopped pid 102: it exited with status 143"]
        );
        assert_eq!(h.supervisor.replacement().unwrap().generation, 3);
        // Its late READY=1 is ignored; the newest one's takes over.
        assert!(deeds(&h.ready(2)).is_empty());
        assert_eq!(deeds(&h.ready(3)), [Action::Stop { pid: 101 }]);
        assert_eq!(h.active(), (3, State::Ready));
    }

    #[test]
    fn a_change_while_waiting_for_a_stop_changes_nothing() {
        let (mut h, _) = Harness::new(false);
        h.change();
        let actions = h.change();
        assert!(deeds(&actions).is_empty());
        assert!(reports(&actions)
            .contains(&"restart: already waiting for pid 101 to stop before starting".into()));
        assert_eq!(deeds(&h.exited(1, 0)), [Action::Start(2)]);
    }

    #[test]
    fn an_exit_on_its_own_waits_for_the_next_change() {
        let (mut h, _) = Harness::new(false);
        h.ready(1);
        let actions = h.exited(1, 3);
        assert!(deeds(&actions).is_empty());
        assert_eq!(
            reports(&actions),
            [
                "pid 101 exited with status 3",
                "waiting for a change or SIGHUP"
            ]
        );
        assert_eq!(h.active(), (1, State::Exited(Status::Code(3))));
        let actions = h.send(Event::Hangup);
        assert_eq!(deeds(&actions), [Action::Start(2)]);
        assert_eq!(
            reports(&actions)[..2],
            ["SIGHUP: restarting", "restart: starting the command"]
        );
    }

    #[test]
    fn the_old_child_exiting_during_a_handover_lets_the_new_one_take_over() {
        let (mut h, _) = Harness::new(false);
        h.ready(1);
        h.change();
        let actions = h.exited(1, 1);
        assert_eq!(
            reports(&actions),
            ["pid 101 exited with status 1", "pid 102 takes over"]
        );
        assert_eq!(h.active(), (2, State::Starting));
        let actions = h.ready(2);
        assert!(deeds(&actions).is_empty());
        assert_eq!(h.active(), (2, State::Ready));
    }

    #[test]
    fn sigkill_follows_when_the_grace_period_runs_out() {
        let (mut h, _) = Harness::new(false);
        h.change();
        assert_eq!(h.supervisor.next_deadline(), Some(h.now + GRACE));
        h.later(GRACE - Duration::from_millis(1));
        assert!(h.send(Event::Tick).is_empty());
        h.later(Duration::from_millis(1));
        let actions = h.send(Event::Tick);
        assert_eq!(deeds(&actions), [Action::Kill { pid: 101 }]);
        assert_eq!(
            reports(&actions),
            ["pid 101 did not stop within 5s; sending SIGKILL"]
        );
        // Only once; and no deadline remains.
        assert!(h.send(Event::Tick).is_empty());
        assert_eq!(h.supervisor.next_deadline(), None);
        h.send(Event::Exited {
            generation: 1,
            status: Status::Signal(Signal(9)),
        });
        assert_eq!(h.active(), (2, State::Starting));
    }

    #[test]
    fn shutdown_stops_every_child_then_exits() {
        let (mut h, _) = Harness::new(false);
        h.ready(1);
        h.change();
        let actions = h.send(Event::Shutdown { signal: TERM });
        assert_eq!(
            deeds(&actions),
            [Action::Stop { pid: 102 }, Action::Stop { pid: 101 }]
        );
        assert!(deeds(&h.exited(2, 0)).is_empty());
        assert_eq!(deeds(&h.exited(1, 0)), [Action::Exit(0)]);
    }

    #[test]
    fn shutdown_with_nothing_running_exits_at_once() {
        let (mut h, _) = Harness::new(false);
        h.exited(1, 0);
        assert_eq!(
            deeds(&h.send(Event::Shutdown { signal: TERM })),
            [Action::Exit(0)]
        );
    }

    #[test]
    fn a_second_shutdown_kills_at_once() {
        let (mut h, _) = Harness::new(false);
        h.send(Event::Shutdown { signal: TERM });
        let actions = h.send(Event::Shutdown { signal: TERM });
        assert_eq!(
            deeds(&actions),
            [Action::Kill { pid: 101 }, Action::Exit(128 + TERM.0)]
        );
    }

    #[test]
    fn no_restart_while_shutting_down() {
        let (mut h, _) = Harness::new(false);
        h.send(Event::Shutdown { signal: TERM });
        assert!(h.change().is_empty());
        assert!(h.send(Event::Hangup).is_empty());
        // Not even the stop-first start that was pending.
        let (mut h, _) = Harness::new(false);
        h.change();
        h.send(Event::Shutdown { signal: TERM });
        assert_eq!(deeds(&h.exited(1, 0)), [Action::Exit(0)]);
    }

    #[test]
    fn a_failed_start_keeps_the_old_child_or_waits() {
        let (mut h, _) = Harness::new(false);
        h.ready(1);
        let actions = h.supervisor.handle(
            Event::Change {
                path: "a".into(),
                more: 2,
            },
            h.now,
        );
        assert_eq!(reports(&actions)[0], "change: a (and 2 more)");
        let actions = h.send(Event::StartFailed {
            generation: 2,
            error: "cannot run 'x'".into(),
        });
        assert_eq!(reports(&actions), ["cannot run 'x'; pid 101 keeps serving"]);
        assert!(matches!(&actions[0], Action::Say(r) if r.is_error()));
        assert_eq!(h.active(), (1, State::Ready));

        let (mut h, _) = Harness::new(false);
        h.change();
        h.supervisor.handle(
            Event::Exited {
                generation: 1,
                status: Status::Code(0),
            },
            h.now,
        );
        let actions = h.send(Event::StartFailed {
            generation: 2,
            error: "cannot run 'x'".into(),
        });
        assert_eq!(
            reports(&actions),
            ["cannot run 'x'; waiting for a change or SIGHUP"]
        );
        assert!(h.supervisor.active().is_none());
        assert_eq!(deeds(&h.change()), [Action::Start(3)]);
    }

    #[test]
    fn status_messages_of_live_children_are_shown() {
        let (mut h, _) = Harness::new(false);
        let actions = h.send(Event::Status {
            generation: 1,
            text: "warming up".into(),
        });
        assert_eq!(reports(&actions), ["status of pid 101: warming up"]);
        assert!(h
            .send(Event::Status {
                generation: 7,
                text: "?".into()
            })
            .is_empty());
    }

    fn looks(actions: &[Action]) -> Vec<Generation> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Look { generation, .. } => Some(*generation),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn notify_alone_never_looks() {
        let (mut h, _) = Harness::new(false);
        assert_eq!(h.supervisor.next_deadline(), None);
        h.later(Duration::from_secs(1));
        assert!(h.send(Event::Tick).is_empty());
        // Listening, were it reported, does not make it ready.
        assert!(h.listening(1, 101).is_empty());
        assert_eq!(h.active(), (1, State::Starting));
    }

    #[test]
    fn a_child_that_listens_is_ready_auto_or_listen() {
        for ready in [Readiness::Auto, Readiness::Listen] {
            let (mut h, _) = Harness::with_ready(false, ready);
            assert_eq!(h.supervisor.next_deadline(), Some(h.now + LOOK_MIN));
            h.later(LOOK_MIN - Duration::from_millis(1));
            assert!(h.send(Event::Tick).is_empty(), "not due yet");
            h.later(Duration::from_millis(1));
            assert_eq!(
                deeds(&h.send(Event::Tick)),
                [Action::Look {
                    generation: 1,
                    pid: 101
                }]
            );
            let actions = h.listening(1, 101);
            assert_eq!(
                reports(&actions),
                ["ready: pid 101 after 10 ms (listening on fd 3)"]
            );
            assert_eq!(h.active(), (1, State::Ready));
            // Nothing to look at any more: no deadline, no looks.
            assert_eq!(h.supervisor.next_deadline(), None);
            h.later(Duration::from_secs(60));
            assert!(h.send(Event::Tick).is_empty());
        }
    }

    #[test]
    fn looks_grow_apart_while_a_child_starts() {
        let (mut h, _) = Harness::with_ready(false, Readiness::Auto);
        let start = h.now;
        let mut times = Vec::new();
        while h.now < start + Duration::from_secs(30) {
            let actions = h.next_tick();
            assert_eq!(looks(&actions), [1]);
            times.push(h.now - start);
        }
        let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(
            gaps.iter().all(|g| (LOOK_MIN..=LOOK_MAX).contains(g)),
            "{gaps:?}"
        );
        assert!(gaps.windows(2).all(|w| w[0] <= w[1]), "{gaps:?}");
        // A 1.5 s start is seen within a tenth of its time; a 30 s build
        // costs about four looks a second.
        let by = |limit: u64| {
            times
                .iter()
                .filter(|t| **t <= Duration::from_millis(limit))
                .count()
        };
        assert!(by(1500) < 40, "{} looks in 1.5 s", by(1500));
        let late = times
            .iter()
            .filter(|t| **t > Duration::from_secs(20))
            .count();
        assert!((39..=41).contains(&late), "{late} looks in the last 10 s");
    }

    #[test]
    fn a_replacement_that_listens_takes_over() {
        let (mut h, _) = Harness::with_ready(false, Readiness::Auto);
        h.next_tick();
        h.listening(1, 101);
        let actions = h.change();
        assert_eq!(deeds(&actions), [Action::Start(2)]);
        h.later(Duration::from_millis(1500));
        // Only the replacement is looked at; the old one serves meanwhile.
        assert_eq!(looks(&h.send(Event::Tick)), [2]);
        assert_eq!(h.active(), (1, State::Ready));
        // gunicorn: a worker (a grandchild) is the one that listens.
        let actions = h.listening(2, 205);
        assert_eq!(deeds(&actions), [Action::Stop { pid: 101 }]);
        assert_eq!(
            reports(&actions),
            [
                "ready: pid 102 after 1500 ms (pid 205 listening on fd 3)",
                "handover: pid 102 is ready; stopping pid 101"
            ]
        );
        assert_eq!(h.active(), (2, State::Ready));
        assert_eq!(h.supervisor.next_deadline(), Some(h.now + GRACE));
    }

    #[test]
    fn once_a_child_sent_ready_1_its_successors_must_too() {
        let (mut h, _) = Harness::with_ready(false, Readiness::Auto);
        h.next_tick();
        h.listening(1, 101);
        // It sends READY=1 once its warm-up is done, after it listens.
        assert!(deeds(&h.ready(1)).is_empty());
        h.change();
        h.next_tick();
        let actions = h.listening(2, 102);
        assert!(deeds(&actions).is_empty(), "{actions:?}");
        assert_eq!(
            reports(&actions),
            ["pid 102: listening on fd 3; waiting for its READY=1, as an earlier child sent one"]
        );
        assert_eq!(h.supervisor.replacement().unwrap().state, State::Starting);
        // Seen once is enough: no more looks, and no deadline.
        assert_eq!(h.supervisor.next_deadline(), None);
        h.later(Duration::from_secs(2));
        let actions = h.ready(2);
        assert_eq!(deeds(&actions), [Action::Stop { pid: 101 }]);
        assert!(reports(&actions)[0].ends_with("(READY=1, listening on fd 3)"));
    }

    #[test]
    fn ready_1_before_the_workers_listen_waits_for_them() {
        // gunicorn: the master reports READY=1, the workers serve later.
        let (mut h, _) = Harness::with_ready(false, Readiness::Auto);
        h.later(Duration::from_millis(300));
        assert!(deeds(&h.ready(1)).is_empty());
        assert_eq!(h.active(), (1, State::Starting));
        // Looked at once, without waiting for the next interval.
        assert_eq!(h.supervisor.next_deadline(), Some(h.now));
        let actions = h.next_tick();
        assert_eq!(looks(&actions), [1]);
        h.later(Duration::from_millis(700));
        let actions = h.listening(1, 111);
        assert_eq!(
            reports(&actions),
            ["ready: pid 101 after 1000 ms (READY=1, pid 111 listening on fd 3)"]
        );

        h.change();
        h.ready(2);
        for _ in 0..5 {
            h.later(Duration::from_millis(200));
            h.send(Event::Tick);
        }
        assert_eq!(h.active(), (1, State::Ready), "not cut over at READY=1");
        assert_eq!(deeds(&h.listening(2, 222)), [Action::Stop { pid: 101 }]);
    }

    #[test]
    fn ready_1_counts_alone_if_listening_never_shows() {
        let (mut h, _) = Harness::with_ready(false, Readiness::Auto);
        h.ready(1);
        let notified = h.now;
        loop {
            let actions = h.next_tick();
            if h.now >= notified + CONFIRM {
                assert!(looks(&actions).is_empty());
                assert_eq!(
                    reports(&actions),
                    ["ready: pid 101 after 30000 ms (READY=1; not seen listening within 30s)"]
                );
                break;
            }
            assert_eq!(looks(&actions), [1]);
        }
        assert_eq!(h.active(), (1, State::Ready));
        assert_eq!(h.supervisor.next_deadline(), None);
    }

    #[test]
    fn listen_ignores_ready_1() {
        let (mut h, _) = Harness::with_ready(false, Readiness::Listen);
        assert!(h.ready(1).is_empty());
        assert_eq!(h.active(), (1, State::Starting));
        h.later(CONFIRM * 2);
        assert_eq!(looks(&h.send(Event::Tick)), [1]);
        assert_eq!(h.active(), (1, State::Starting));
        h.listening(1, 101);
        assert_eq!(h.active(), (1, State::Ready));
    }

    #[test]
    fn an_unready_child_is_stopped_first_whatever_is_awaited() {
        let (mut h, _) = Harness::with_ready(false, Readiness::Auto);
        let actions = h.change();
        assert_eq!(deeds(&actions), [Action::Stop { pid: 101 }]);
        assert!(reports(&actions).contains(
            &"restart: stopping pid 101 first (it is not ready: no READY=1, not seen listening)"
                .into()
        ));
        // A stopping child is not looked at, nor is a late sighting taken.
        assert_eq!(h.supervisor.next_deadline(), Some(h.now + GRACE));
        assert!(h.listening(1, 101).is_empty());
    }

    #[test]
    fn stop_first_wins_over_listening() {
        let (mut h, _) = Harness::with_ready(true, Readiness::Auto);
        h.next_tick();
        h.listening(1, 101);
        let actions = h.change();
        assert_eq!(deeds(&actions), [Action::Stop { pid: 101 }]);
        assert!(
            reports(&actions).contains(&"restart: stopping pid 101 first (--stop-first)".into())
        );
    }

    #[test]
    fn a_superseded_replacement_is_no_longer_looked_at() {
        let (mut h, _) = Harness::with_ready(false, Readiness::Auto);
        h.next_tick();
        h.listening(1, 101);
        h.change();
        h.next_tick();
        let actions = h.change();
        assert_eq!(
            deeds(&actions),
            [Action::Stop { pid: 102 }, Action::Start(3)]
        );
        // Its sighting, late, changes nothing; the newest one's takes over.
        assert!(deeds(&h.listening(2, 102)).is_empty());
        assert_eq!(looks(&h.next_tick()), [3]);
        assert_eq!(deeds(&h.listening(3, 103)), [Action::Stop { pid: 101 }]);
        assert_eq!(h.active(), (3, State::Ready));
    }

    #[test]
    fn a_replacement_that_exits_before_it_listens_leaves_the_old_one_serving() {
        let (mut h, _) = Harness::with_ready(false, Readiness::Auto);
        h.next_tick();
        h.listening(1, 101);
        h.change();
        h.next_tick();
        let actions = h.exited(2, 101);
        assert!(deeds(&actions).is_empty());
        assert_eq!(h.active(), (1, State::Ready));
        assert_eq!(
            h.supervisor.next_deadline(),
            None,
            "nothing left to look at"
        );
    }

    #[cfg(unix)]
    #[test]
    fn statuses_read_as_sentences() {
        assert_eq!(Status::Code(0).to_string(), "exited with status 0");
        assert_eq!(
            Status::Signal(Signal(libc::SIGSEGV)).to_string(),
            "was killed by SIGSEGV"
        );
        assert_eq!(humanize(Duration::from_millis(500)), "500ms");
        assert_eq!(humanize(Duration::from_millis(1500)), "1.5s");
    }
}
