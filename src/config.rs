//! What a run is asked to do, as one plain value.
//!
//! The command line is parsed and checked at the edge (`cli`); what reaches
//! the library is a [`Config`] with every default already applied, so no
//! layer below the edge knows how the settings were spelled or what a flag
//! left out means.

#![warn(missing_docs)]

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::time::Duration;

use crate::signal::Signal;
use crate::socket;
use crate::spec::SocketSpec;

/// Everything one run of systemfd needs.
#[derive(Clone, Debug)]
pub struct Config {
    /// The sockets to open, in `-s` order (the order of the fds).
    pub sockets: Vec<SocketSpec>,
    /// How the sockets are set up.
    pub socket_options: socket::Options,
    /// What to run with them.
    pub launch: Launch,
    /// How status lines are printed.
    pub output: Output,
    /// Hand over once, or supervise.
    pub mode: Mode,
}

/// The command, and how it learns that the sockets are its own.
#[derive(Clone, Debug)]
pub struct Launch {
    /// COMMAND and its arguments; never empty.
    pub command: Vec<OsString>,
    /// Whether to set `LISTEN_PID` (`--no-pid` turns it off).
    pub set_pid: bool,
    /// Whether COMMAND's binds to a passed socket's address get that
    /// socket (Linux).
    pub adopt: Adopt,
    /// `--build`: a shell command line run before COMMAND (in supervise
    /// mode, before each start); never empty.
    pub build: Option<OsString>,
    /// `--on-demand`: COMMAND (and its build) starts only once a
    /// connection or a datagram waits on a socket, as systemd's socket
    /// units do by default; never without a socket.
    pub on_demand: bool,
}

/// Adoption of COMMAND's binds (`--adopt`, `--no-adopt`; Linux only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adopt {
    /// Binds go through as COMMAND makes them.
    Off,
    /// Adopted where the kernel allows it (supervise mode's default);
    /// where it does not, systemfd says so once and runs without.
    Auto,
    /// Adopted, or systemfd fails to start (`--adopt`).
    Required,
}

impl Launch {
    /// COMMAND's program.
    pub fn program(&self) -> &OsStr {
        &self.command[0]
    }
}

/// Status lines on stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Output {
    /// Print nothing but errors.
    pub quiet: bool,
    /// When the lines are coloured (`--color`).
    pub color: Color,
}

/// When status lines are coloured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Color {
    /// When stderr is a terminal and `NO_COLOR` is unset or empty.
    Auto,
    /// Always, even into a pipe or a file.
    Always,
    /// Never.
    Never,
}

/// What systemfd does once the sockets are open.
#[derive(Clone, Debug)]
// Made once per run: its size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Mode {
    /// Hand the sockets to COMMAND and end with it (exec on Unix).
    Exec,
    /// Stay the parent and restart COMMAND on changes.
    Supervise(Supervise),
}

/// Supervise mode's settings, defaults applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Supervise {
    /// The paths whose changes restart COMMAND; each existed at start.
    pub watch: Vec<PathBuf>,
    /// Extra ignore patterns, in `.gitignore` syntax.
    pub ignore: Vec<String>,
    /// `-e`: extensions without the dot; with `filter`, what a changed file
    /// must be to count (everything counts when both are empty).
    pub exts: Vec<String>,
    /// `--filter` patterns, in `.gitignore` syntax.
    pub filter: Vec<String>,
    /// Whether the built-in ignore list applies (`--no-default-ignore`).
    pub default_ignore: bool,
    /// Whether git's global excludes file applies (`--no-global-ignore`).
    pub global_ignore: bool,
    /// How changes are noticed (`--poll`, `--no-poll`).
    pub poll: Poll,
    /// How long changes must settle before a restart.
    pub debounce: Duration,
    /// The signal that asks COMMAND's process group to stop. (Windows has
    /// one way: Ctrl-Break to COMMAND's console process group.)
    pub stop_signal: Signal,
    /// How long COMMAND has to exit after the stop signal (Windows:
    /// Ctrl-Break) before SIGKILL (Windows: its job object is terminated).
    pub stop_timeout: Duration,
    /// Never run the old and the new child side by side.
    pub stop_first: bool,
    /// On a change, send this to the running child instead of restarting it
    /// (Unix).
    pub signal_on_change: Option<Signal>,
    /// Clear the terminal before each start.
    pub clear: bool,
    /// What makes a new child ready to take over, decided for this
    /// platform and these sockets by [`Readiness::resolve`].
    pub ready: Readiness,
    /// Whether systemfd answers on the `http::` sockets with an error page
    /// while COMMAND is not running because it ended or its build failed
    /// (`--no-error-page` turns it off).
    pub error_page: bool,
    /// `--livereload`: where systemfd serves the LiveReload protocol.
    pub livereload: Option<LiveReloadAt>,
    /// `--idle-stop`: stop COMMAND once its stream sockets have had no
    /// connection open and none waiting for this long; the next connection
    /// starts it again (Linux, with a stream socket).
    pub idle_stop: Option<Duration>,
}

/// How supervise mode notices changes (`--poll [INTERVAL]`, `--no-poll`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Poll {
    /// The system's change notifications, and polling every interval
    /// (ms) where they miss edits made elsewhere: network and FUSE file
    /// systems.
    Auto(Duration),
    /// `--poll`: polling everything every interval, and nothing else.
    Always(Duration),
    /// `--no-poll`: the system's change notifications only.
    Never,
}

impl Poll {
    /// The interval when none is given: 500 ms.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(500);
}

/// Where the LiveReload server listens (`--livereload [ADDR]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveReloadAt {
    /// The address: ADDR, or [`LiveReloadAt::DEFAULT`].
    pub addr: std::net::SocketAddr,
    /// Whether ADDR was given: then it being taken is an error; the
    /// default being taken falls back to a free port.
    pub explicit: bool,
}

impl LiveReloadAt {
    /// `127.0.0.1:35729`: loopback, on the LiveReload protocol's port.
    pub const DEFAULT: std::net::SocketAddr = std::net::SocketAddr::V4(
        std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 35729),
    );
}

/// What makes a new child ready to take over from the one serving
/// (`--ready` on Unix).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// `READY=1` on `NOTIFY_SOCKET` only.
    Notify,
    /// Being seen waiting for connections on a passed socket only (Linux);
    /// `READY=1` is not needed and not waited for.
    Listen,
    /// Listening, as long as no child of this run has sent `READY=1`. Once
    /// one has, its successors are ready at their `READY=1`, and only once
    /// they are also seen listening: a server such as gunicorn reports
    /// `READY=1` from its master before its workers serve. Listening that
    /// does not show within 30 s of `READY=1` is not waited for.
    /// Where listening cannot be seen (not Linux), this is `Notify`.
    Auto,
    /// Having fetched its sockets from the socket server: Windows, where it
    /// is the only one (a command that has its sockets is about to serve).
    Fetched,
}

impl Supervise {
    /// `--debounce` when not given.
    pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(100);
    /// `--stop-timeout` when not given.
    pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(5);
    /// `--stop-signal` when not given; on Windows, the only way there is.
    #[cfg(unix)]
    pub const DEFAULT_STOP_SIGNAL: Signal = Signal::TERM;
    /// `--stop-signal` when not given; on Windows, the only way there is.
    #[cfg(windows)]
    pub const DEFAULT_STOP_SIGNAL: Signal = Signal::BREAK;
}

impl Readiness {
    /// What makes a new child ready on this platform, given `asked`
    /// (`--ready`; `None` when not given) and whether the run passes any
    /// socket. This is the one place the choice is made:
    /// - Windows: [`Readiness::Fetched`], the only kind there is.
    /// - Linux with sockets: `asked`, [`Readiness::Auto`] by default.
    /// - Elsewhere, or without sockets, listening cannot be seen (it is
    ///   seen through Linux's `/proc`, on passed sockets only), so only
    ///   `READY=1` can tell: [`Readiness::Notify`].
    ///
    /// The command line refuses `--ready listen` where it cannot work, so
    /// what it asks for is only ever narrowed here, never refused.
    pub fn resolve(asked: Option<Readiness>, has_sockets: bool) -> Readiness {
        if cfg!(windows) {
            Readiness::Fetched
        } else if cfg!(target_os = "linux") && has_sockets {
            asked.unwrap_or(Readiness::Auto)
        } else {
            Readiness::Notify
        }
    }
}

#[cfg(test)]
mod tests;
