//! What happens to the supervisor, and what it asks for in return.

use std::path::PathBuf;

use super::report::Report;
use super::types::{Drain, Generation, LiveStatus, Outage, Status, Waiter};

use crate::signal::Signal;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Watched files changed; `path` is the first, `more` counts the
    /// others, and `paths` names them all, up to a bound (see
    /// [`crate::watch::Change`]).
    Change {
        path: PathBuf,
        more: usize,
        paths: Vec<PathBuf>,
    },
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
    /// The build step started as `pid` (the leader of its process group).
    BuildStarted { pid: u32 },
    /// The build step could not be started.
    BuildFailed { error: String },
    /// The build step ended (its whole process group).
    Built { status: Status },
    /// The build step was not started: the child serving runs `program`, a
    /// program from the working directory, which the build may have to
    /// replace, and Windows does not let a running program be replaced.
    /// The child serving is stopped first, and the build runs once it has
    /// exited.
    #[cfg_attr(unix, allow(dead_code))]
    BuildBlocked { program: PathBuf },
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
    SeenListening {
        generation: Generation,
        waiter: Waiter,
    },
    /// What asking `generation`, which has handed over, to stop once idle
    /// found ([`Action::StopWhenIdle`]).
    Drain {
        generation: Generation,
        drain: Drain,
    },
    /// What [`Action::LookOld`] found: whether a process of `generation`'s
    /// tree still waits on a passed socket.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    StillListening {
        generation: Generation,
        listening: bool,
    },
    /// `generation` sent `STATUS=…` (Unix).
    #[cfg_attr(windows, allow(dead_code))]
    Status {
        generation: Generation,
        text: String,
    },
    /// The first process of `generation` exited with `status`, and its
    /// process group runs on (Unix: a process of it still runs).
    #[cfg_attr(windows, allow(dead_code))]
    FirstExited {
        generation: Generation,
        status: Status,
    },
    /// A process systemfd inherited (Linux: its parent, a command's
    /// process, had exited) exited with `status`: if it is the one a
    /// command was seen serving from, the end of that command names it.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    Orphaned { pid: u32, status: Status },
    /// `generation` has ended: its first process exited (with `status`),
    /// and so has every other process of its group.
    Exited {
        generation: Generation,
        status: Status,
    },
    /// Time passed: a stop may have run out of grace, a look may be due.
    Tick,
    /// systemfd and its commands were suspended (Ctrl-Z) for `after` and
    /// are continued (`fg`): no grace period counts that time (Unix).
    #[cfg_attr(windows, allow(dead_code))]
    Resumed { after: std::time::Duration },
    /// systemfd received SIGINT, SIGTERM, SIGQUIT or its terminal hung up.
    Shutdown { signal: Signal },
    /// systemfd received a signal meant for the command (SIGUSR1, SIGUSR2).
    #[cfg_attr(windows, allow(dead_code))]
    Forward { signal: Signal },
    /// A connection (or a datagram) waits on the socket at position
    /// `socket` (0 is the first `-s`), while the host waited for one
    /// ([`Action::AwaitConnection`]).
    Connection { socket: usize },
    /// What [`Action::CountConnections`] found for `generation`: the
    /// connections open or waiting on the stream sockets, `None` when the
    /// host cannot see them.
    Connections {
        generation: Generation,
        count: Option<usize>,
    },
    /// What [`Action::StopIfIdle`] found for `generation`.
    IdleChecked {
        generation: Generation,
        drain: Drain,
    },
}

/// What to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Clear the terminal (`--clear`); comes just before a `Start`.
    Clear,
    /// Start COMMAND as `generation`, then report `Started` or `StartFailed`.
    Start(Generation),
    /// Run the build step, then report `BuildStarted` or `BuildFailed`
    /// (and `Built` once it ends).
    Build,
    /// Answer on the `http::` sockets with an error page that says this
    /// (`Some`), or stop answering (`None`) and return only once the host
    /// no longer accepts, so the next start finds every connection waiting.
    ErrorPage(Option<Outage>),
    /// Tell the pages to reload (`--livereload`).
    LiveReload,
    /// See whether a process of `pid`'s tree still waits on a passed
    /// socket, and report [`Event::StillListening`] for `generation`
    /// (Linux).
    LookOld { generation: Generation, pid: u32 },
    /// Tell the pages how the build and the start go (`--livereload`).
    LiveStatus(LiveStatus),
    /// Send the stop signal to the process group of `pid`.
    Stop { pid: u32 },
    /// Send the stop signal to the process group of `pid` only if no process
    /// of its tree holds an accepted connection on a passed socket, then
    /// report [`Event::Drain`] for `generation`.
    StopWhenIdle { generation: Generation, pid: u32 },
    /// Send SIGKILL to the process group of `pid`.
    Kill { pid: u32 },
    /// See whether a process of `pid`'s tree waits on a passed socket; if
    /// so, report `Listening` for `generation`.
    Look { generation: Generation, pid: u32 },
    /// Send `signal` to the process `pid` alone (`--signal`, forwarded
    /// signals).
    Signal { pid: u32, signal: Signal },
    /// Wait for a connection or a datagram on any socket, without
    /// accepting it, and report [`Event::Connection`] once one waits
    /// (`true`); or stop waiting (`false`).
    AwaitConnection(bool),
    /// Count the connections open or waiting on the stream sockets, and
    /// report [`Event::Connections`] for `generation` (`--idle-stop`).
    CountConnections { generation: Generation },
    /// Send the stop signal to the process group of `pid` only if no
    /// process of its tree holds an accepted connection, never leaving it
    /// stopped, and report [`Event::IdleChecked`] (`--idle-stop`).
    StopIfIdle { generation: Generation, pid: u32 },
    /// Send `signal` to the process group `group`, whose first process
    /// has exited and whose serving process is not known (`--signal`,
    /// forwarded signals; Unix).
    SignalGroup { group: u32, signal: Signal },
    /// Tell the user.
    Say(Report),
    /// Leave with this status.
    Exit(i32),
}
