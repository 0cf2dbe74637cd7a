//! The vocabulary of supervise mode: generations, how a child ended, what
//! made it ready, and the policy the decisions follow.

use std::time::Duration;

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

/// How restarts are carried out: everything the decisions and the hosts
/// that carry them out need from the settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// `--stop-first`: never run the old and the new child side by side.
    pub stop_first: bool,
    /// `--stop-signal`: what asks a child's process group to stop (Windows:
    /// Ctrl-Break, the only way there is).
    pub stop_signal: Signal,
    /// `--stop-timeout`: how long after the stop signal SIGKILL follows
    /// (Windows: the child's job is terminated).
    pub grace: Duration,
    /// `--signal`: on a change, send this to the running child instead of
    /// restarting it.
    pub signal_on_change: Option<Signal>,
    /// What makes a new child ready, as decided for this platform and these
    /// sockets (see [`Readiness::resolve`]).
    pub ready: Readiness,
    /// `--clear`: clear the terminal before each start.
    pub clear: bool,
    /// `--build`: a build step runs before each start (and before the
    /// signal of `--signal`).
    pub build: bool,
    /// How long after the build step ends its own writes may still reach
    /// the supervisor as changes (the watcher's debounce, and a margin):
    /// until then the build counts as running, so that its writes are
    /// taken for changes during it.
    pub settle: Duration,
    /// While nothing of COMMAND runs because it ended (or its build
    /// failed), and nothing is starting, the host answers on the `http::`
    /// sockets with an error page (`--no-error-page` turns it off; no
    /// `http::` socket, nothing to answer on).
    pub error_page: bool,
    /// `--livereload`: pages are told to reload once a new child serves
    /// alone, and told how builds and starts go.
    pub livereload: bool,
    /// `--on-demand`: the first start (and its build) waits for a
    /// connection; a change while nothing runs only marks COMMAND stale,
    /// and the next connection starts it.
    pub on_demand: bool,
    /// `--idle-stop`: a child serving whose stream sockets have had no
    /// connection for this long is stopped, and the next connection
    /// starts COMMAND again (Linux, where the host can count them).
    pub idle_stop: Option<Duration>,
}

/// What the lines name: the sockets, as their `~> socket` lines show them
/// (`http://127.0.0.1:5000/`, `/tmp/app.sock (unix listener)`), in `-s`
/// order, and COMMAND as typed (`python3 app.py`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Names {
    pub sockets: Vec<String>,
    pub command: String,
}

/// Why nothing runs while a connection would start COMMAND: the host waits
/// for one on the sockets, without accepting it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dormant {
    /// `--on-demand`: nothing has started yet.
    First,
    /// Stopped by `--idle-stop`.
    Idle,
    /// `--on-demand`: COMMAND had ended (crashed, or its build failed), and
    /// files changed since.
    Changed,
}

/// After a handover the pages reload once the old child accepts no more:
/// when it has exited, or, where listening can be seen (Linux), when no
/// process of its tree is seen waiting on a passed socket after its stop
/// signal (looked at every [`LOOK_MIN`]), or at the latest this long after
/// that signal. A server that stops gracefully closes its listener first,
/// then finishes the requests in hand, which may take seconds that the
/// reload need not wait.
pub const RELOAD_MAX: Duration = Duration::from_secs(1);

/// Where listening cannot be seen, the pages reload this long after the
/// old child's stop signal, unless it exits sooner. Measured: a server
/// that dies on SIGTERM, and axum, gunicorn and Node's `server.close()`,
/// accept nothing from the signal on; uvicorn accepts for up to 100 ms
/// (its loop looks for the signal every 0.1 s).
pub const RELOAD_GRACE: Duration = Duration::from_millis(150);

/// With `--signal`, a child that reloads in place may say when it is done
/// (`READY=1` after the signal, sd_notify's reload protocol); the pages
/// reload then, or this long after the signal.
pub const SIGNAL_RELOAD: Duration = Duration::from_secs(1);

/// What the pages are told of the build and the start (`--livereload`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LiveStatus {
    /// A change is being built or started.
    Building,
    /// The new version failed, for this reason (as the terminal said it);
    /// with the build's output when the build failed.
    Failed { cause: String, build_failed: bool },
    /// Nothing to show.
    Ok,
}

/// A page reload that waits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reload {
    /// For every old child to serve no more (see [`RELOAD_MAX`]): none
    /// drains, and each one stopping has exited, or was seen listening no
    /// more (`quiet`), or was sent its stop signal long enough ago. The
    /// stopping ones are looked at next at `look` (Linux). Not one of them
    /// only: a browser reuses a kept-alive connection to any of them.
    Pending {
        quiet: Vec<Generation>,
        look: Option<std::time::Instant>,
    },
    /// For the child signalled at `at` (`--signal`) to reload in place.
    AfterSignal { at: std::time::Instant },
}

/// Why nothing serves, as the error page says it: the reason is the same
/// line the terminal showed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outage {
    /// How COMMAND ended, or why it could not start: `pid 42 exited with
    /// status 1`, `the build exited with status 101`.
    pub cause: String,
    /// Whether the build failed (the host adds its kept output).
    pub build_failed: bool,
    /// What started the run that failed: `src/main.rs (and 2 more)`,
    /// `SIGHUP`; `None` for the first start.
    pub trigger: Option<String>,
}

/// The first look at a starting child comes this long after its start, and
/// the next ones at a tenth of its time so far, at least this far apart…
pub const LOOK_MIN: Duration = Duration::from_millis(10);
/// … and at most this far apart: after a long build the new server is seen
/// within 50 ms of listening (a page reloaded by `--livereload` waits for
/// that), for twenty looks a second, each a few reads in `/proc` of the
/// child's tree (about 0.3 ms of CPU: `benches/livereload.rs` prints the
/// CPU per restart).
pub const LOOK_MAX: Duration = Duration::from_millis(50);

/// For this long after `READY=1`, a child not yet seen listening is looked
/// at every [`LOOK_MIN`]: having said it is ready, it is about to wait on
/// its socket, and a look that came just before that must not leave it
/// unseen for a tenth of its start time.
pub const LOOK_AFTER_READY: Duration = Duration::from_secs(1);

/// How long after `READY=1` a child may take to be seen listening
/// ([`Readiness::Auto`]) before its `READY=1` counts alone. Generous: while
/// it runs the old child serves, so waiting costs clients nothing, and an
/// application that gunicorn's workers import after the master's `READY=1`
/// may take many seconds. It bounds the wait for a server whose waiting no
/// look can see (io_uring, or a process systemfd may not read).
pub const CONFIRM: Duration = Duration::from_secs(30);

/// While a child that has handed over waits to be idle, the host is asked
/// this often whether it still holds connections: often enough that the
/// stop follows its last request closely, seldom enough that freezing it
/// to look costs it nothing noticeable.
pub const DRAIN_CHECK: Duration = Duration::from_millis(15);

/// What [`Action::StopWhenIdle`](super::Action::StopWhenIdle) found: whether
/// the host sent the stop signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drain {
    /// No process of the child's tree held an accepted connection on a
    /// passed socket: the stop signal went out.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    Stopped,
    /// Processes of its tree hold this many accepted connections (0 when
    /// the tree could not be held still to be counted): nothing was sent.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    Busy(usize),
    /// The host cannot see connections (no `/proc`; a process it may not
    /// read, or one stopped by something else): nothing was sent.
    Unknown,
}

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

/// How a line names a child. A child is its process group, which runs on
/// when its first process (the leader, whose pid is the group's id) has
/// exited while another process of it serves (`sh -c 'server &'`, a
/// wrapper that exits): a line then names the process seen serving, or
/// else the group, never a pid that is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    /// Its first process, which runs: `pid 4242`.
    Pid(u32),
    /// Its first process has exited; `pid` was seen serving in its
    /// `group`: `pid 4263 (group 4242)`.
    Server { pid: u32, group: u32 },
    /// Its first process has exited, and no process of it was seen
    /// serving: `process group 4242`.
    Group(u32),
}

impl Who {
    /// The process a line names, if it names one.
    pub fn pid(self) -> Option<u32> {
        match self {
            Who::Pid(pid) | Who::Server { pid, .. } => Some(pid),
            Who::Group(_) => None,
        }
    }

    /// Whether its first process has exited.
    pub fn first_gone(self) -> bool {
        !matches!(self, Who::Pid(_))
    }

    /// Its process group's id: the pid of its first process.
    pub fn group(self) -> u32 {
        match self {
            Who::Pid(group) | Who::Server { group, .. } | Who::Group(group) => group,
        }
    }
}

impl std::fmt::Display for Who {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Who::Pid(pid) => write!(f, "pid {pid}"),
            Who::Server { pid, group } => write!(f, "pid {pid} (group {group})"),
            Who::Group(group) => write!(f, "process group {group}"),
        }
    }
}

/// Why a restart does what it does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Nothing is running: start.
    Start,
    /// The active child is ready: start a replacement beside it.
    Replace { old: Who },
    /// Stop the active child, then start. `forced` by `--stop-first`;
    /// otherwise the child is not ready, and `ready` tells what would have
    /// made it so.
    StopFirst {
        old: Who,
        forced: bool,
        ready: Readiness,
        /// Whether it sent `READY=1` (still waiting to be seen listening).
        notified: bool,
    },
    /// A replacement was still starting: stop it and start another.
    Supersede { pending: Who },
    /// A stop-first restart is waiting for `old` to exit already.
    AlreadyPending { old: Who },
}
