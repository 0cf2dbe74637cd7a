//! The wording of every line the decisions produce: what the user reads,
//! kept apart from what decides it.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::types::{Dormant, Plan, Source, Status, Waiter, Who, CONFIRM};
use crate::config::Readiness;
use crate::output::humanize;
use crate::signal::Signal;

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
        who: Who,
        signal: Signal,
    },
    Forwarded {
        who: Who,
        signal: Signal,
    },
    Started {
        pid: u32,
    },
    Ready {
        who: Who,
        after: Duration,
        source: Source,
    },
    /// Seen listening, but its predecessors sent `READY=1`: it should too.
    AwaitingNotify {
        who: Who,
        waiter: Waiter,
    },
    Status {
        who: Who,
        text: String,
    },
    Handover {
        new: Who,
        old: Who,
    },
    /// A child that handed over still held `held` connections when its
    /// grace period ended.
    StillHeld {
        who: Who,
        held: usize,
        grace: Duration,
    },
    Killing {
        who: Who,
        grace: Duration,
    },
    /// A child's first process exited with `status` while its process
    /// group runs on; from now on it is named `now`.
    FirstExited {
        pid: u32,
        status: Status,
        now: Who,
    },
    /// A child stopped: its whole process group has exited, and its first
    /// process with `status`.
    Stopped {
        who: Who,
        status: Status,
    },
    /// A child ended by itself (its whole group), its first process with
    /// `status`.
    Exited {
        who: Who,
        status: Status,
        /// How the process seen serving exited, when its group's first
        /// process had gone before it.
        server: Option<(u32, Status)>,
    },
    TakesOver {
        who: Who,
    },
    ReplacementFailed {
        who: Who,
        status: Status,
        serving: Who,
    },
    Blocked {
        pid: u32,
        status: Status,
        serving: u32,
        program: PathBuf,
    },
    StartFailed {
        error: String,
        serving: Option<Who>,
    },
    Waiting,
    /// The build step succeeded after `after`.
    Built {
        after: Duration,
    },
    /// The build step failed: nothing new starts.
    BuildFailed {
        status: Status,
        serving: Option<Who>,
        /// Whether the error page shows its output.
        page: bool,
    },
    /// The build step could not be started.
    BuildNotStarted {
        error: String,
        serving: Option<Who>,
    },
    /// Files changed while the build ran (`files`), or SIGHUP came: one
    /// more runs.
    BuildAgain {
        files: bool,
    },
    /// Paths changed during several builds in a row, each run because of
    /// the changes during the one before: no more runs.
    Looping {
        path: PathBuf,
        more: usize,
    },
    /// The build must wait for `serving`, which runs `program`, to stop.
    BuildBlocked {
        serving: u32,
        program: PathBuf,
    },
    /// Only paths that had changed during the build before changed during
    /// a build: taken for its own output.
    OwnOutput {
        path: PathBuf,
        more: usize,
    },
    ShuttingDown {
        signal: Signal,
        /// Only the build step runs.
        build_only: bool,
    },
    KillingAll {
        signal: Signal,
    },
    /// Nothing runs, and a connection on `sockets` starts `command`.
    Dormant {
        why: Dormant,
        sockets: Vec<String>,
        command: String,
    },
    /// A change while nothing runs: the next connection starts the new
    /// version.
    Stale,
    /// A connection waits on `on`: `command` starts.
    Connection {
        on: String,
        command: String,
    },
    /// The child `who` had no connection for `after`: it was sent its
    /// stop signal (`--idle-stop`).
    IdleStop {
        who: Who,
        after: Duration,
    },
}

impl Report {
    /// Whether the line is an error, shown even with `--quiet`.
    pub fn is_error(&self) -> bool {
        matches!(
            self,
            Report::StartFailed { .. } | Report::BuildNotStarted { .. }
        )
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
                "restart: starting a replacement; {old} serves until it is ready"
            ),
            Report::Restart(Plan::StopFirst {
                old, forced: true, ..
            }) => {
                write!(f, "restart: stopping {old} first (--stop-first)")
            }
            Report::Restart(Plan::StopFirst {
                old,
                forced: false,
                ready,
                notified,
            }) => {
                // What was awaited, and what of it was seen.
                let why = match (ready, notified) {
                    (Readiness::Notify, _) => "it has not reported READY=1",
                    (Readiness::Listen, _) => "it is not ready: not seen listening",
                    (Readiness::Auto, true) => {
                        "it is not ready: READY=1, but not seen listening yet"
                    }
                    (Readiness::Auto, false) => "it is not ready: no READY=1, not seen listening",
                    (Readiness::Fetched, _) => "it has not fetched its sockets",
                };
                write!(f, "restart: stopping {old} first ({why})")
            }
            Report::Restart(Plan::Supersede { pending }) => write!(
                f,
                "restart: stopping {pending}, which was not ready yet, and starting anew"
            ),
            Report::Restart(Plan::AlreadyPending { old }) => write!(
                f,
                "restart: already waiting for {old} to stop before starting"
            ),
            Report::Signalled { who, signal } => {
                write!(f, "sending {signal} to {who} (--signal)")
            }
            Report::Forwarded { who, signal } => write!(f, "{signal}: passing it on to {who}"),
            Report::Started { pid } => write!(f, "started pid {pid}"),
            Report::Ready { who, after, source } => {
                write!(f, "ready: {who} after {} ms (", after.as_millis())?;
                match source {
                    Source::Notify => f.write_str("READY=1")?,
                    Source::Listening(waiter) => write_waiter(f, *who, waiter)?,
                    Source::Both(waiter) => {
                        f.write_str("READY=1, ")?;
                        write_waiter(f, *who, waiter)?;
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
            Report::AwaitingNotify { who, waiter } => {
                write!(f, "{who}: ")?;
                write_waiter(f, *who, waiter)?;
                f.write_str("; waiting for its READY=1, as an earlier child sent one")
            }
            Report::Status { who, text } => write!(f, "status of {who}: {text}"),
            Report::Handover { new, old } => {
                write!(f, "handover: {new} is ready; stopping {old}")
            }
            // Counted 0 only when the tree never held still to be counted.
            Report::StillHeld { who, held: 0, grace } => write!(
                f,
                "{who} could not be checked for connections within {}: stopping it anyway",
                humanize(*grace)
            ),
            Report::StillHeld { who, held, grace } => write!(
                f,
                "{who} still holds {held} connection{} after {}: stopping it anyway",
                if *held == 1 { "" } else { "s" },
                humanize(*grace)
            ),
            Report::Killing { who, grace } => write!(
                f,
                "{who} did not stop within {}; {KILLING}",
                humanize(*grace)
            ),
            Report::FirstExited { pid, status, now } => {
                write!(f, "pid {pid} {status}; its process group runs on")?;
                match now.pid() {
                    Some(server) => write!(f, " (pid {server} serves)"),
                    None => Ok(()),
                }
            }
            Report::Stopped { who, status } if who.first_gone() => write!(
                f,
                "stopped process group {}: its last process has exited (pid {} {status} before)",
                who.group(),
                who.group()
            ),
            Report::Stopped { who, status } => write!(f, "stopped {who}: it {status}"),
            Report::Exited {
                who,
                status,
                server: Some((pid, ended)),
            } if who.first_gone() => write!(
                f,
                "process group {} has ended: pid {pid}, {} {ended} (pid {} {status} before)",
                who.group(),
                if matches!(who, Who::Server { .. }) {
                    "which served,"
                } else {
                    "its last process,"
                },
                who.group()
            ),
            Report::Exited { who, status, .. } if who.first_gone() => write!(
                f,
                "process group {} has ended: its last process has exited (pid {} {status} before)",
                who.group(),
                who.group()
            ),
            Report::Exited { who, status, .. } => write!(f, "{who} {status}"),
            Report::TakesOver { who } => write!(f, "{who} takes over"),
            Report::ReplacementFailed {
                who,
                status,
                serving,
            } => write!(
                f,
                "{} {status} before it was ready; {serving} keeps serving",
                Who::Pid(who.group())
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
                serving: Some(who),
            } => write!(f, "{error}; {who} keeps serving"),
            Report::StartFailed {
                error,
                serving: None,
            } => write!(f, "{error}; {WAITING}"),
            Report::Waiting => f.write_str(WAITING),
            Report::Built { after } => write!(f, "build: done after {} ms", after.as_millis()),
            Report::BuildFailed {
                status,
                serving: Some(who),
                ..
            } => write!(
                f,
                "build failed: it {status}; {who} keeps serving the last build"
            ),
            Report::BuildFailed {
                status,
                serving: None,
                page,
            } => write!(
                f,
                "build failed: it {status}{}; {WAITING}",
                if *page {
                    " (its last lines are on the error page)"
                } else {
                    ""
                }
            ),
            Report::BuildNotStarted {
                error,
                serving: Some(who),
            } => write!(f, "cannot run the build step: {error}; {who} keeps serving"),
            Report::BuildNotStarted {
                error,
                serving: None,
            } => write!(f, "cannot run the build step: {error}; {WAITING}"),
            Report::BuildBlocked { serving, program } => write!(
                f,
                "build: pid {serving} runs {}, which Windows does not let a build replace while it runs: stopping pid {serving} first (no zero-gap restart here)",
                program.display()
            ),
            Report::BuildAgain { files: true } => {
                f.write_str("build: files changed while it ran; building again")
            }
            Report::BuildAgain { files: false } => {
                f.write_str("build: SIGHUP came while it ran; building again")
            }
            Report::Looping { path, more } => {
                write!(f, "{}", path.display())?;
                if *more > 0 {
                    write!(f, " (and {more} more)")?;
                }
                write!(
                    f,
                    " changed during {} builds in a row, each run for what changed during the one before: the build keeps writing watched files, so no more builds run for them (--ignore them to stop watching them)",
                    1 + super::build::MAX_CHAIN
                )
            }
            Report::OwnOutput { path, more } => {
                write!(f, "{}", path.display())?;
                if *more > 0 {
                    write!(f, " (and {more} more)")?;
                }
                f.write_str(
                    " changed during two builds in a row: taken for the build's own output, whose changes during a build no longer ask for another (--ignore it to stop watching it)",
                )
            }
            Report::ShuttingDown {
                signal,
                build_only: false,
            } => write!(
                f,
                "{signal}: stopping the command (again to kill it at once)"
            ),
            Report::ShuttingDown {
                signal,
                build_only: true,
            } => write!(
                f,
                "{signal}: stopping the build (again to kill it at once)"
            ),
            Report::KillingAll { signal } => write!(f, "{signal} again: killing the command"),
            Report::Dormant {
                why,
                sockets,
                command,
            } => {
                let sockets = sockets.join(" or ");
                match why {
                    Dormant::First => write!(
                        f,
                        "waiting for the first connection on {sockets} to start {command}"
                    ),
                    Dormant::Idle => write!(
                        f,
                        "waiting for the next connection on {sockets} to start {command} again"
                    ),
                    Dormant::Changed => write!(
                        f,
                        "waiting for a connection on {sockets} to start {command} anew"
                    ),
                }
            }
            Report::Stale => f.write_str(
                "not running: the next connection starts the new version",
            ),
            Report::Connection { on, command } => {
                write!(f, "connection on {on}: starting {command}")
            }
            Report::IdleStop { who, after } => write!(
                f,
                "{who} had no connection for {}: stopping it (--idle-stop)",
                humanize(*after)
            ),
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
/// not the process that names the child, `who` (a worker, or a server below
/// a wrapper).
fn write_waiter(f: &mut fmt::Formatter<'_>, who: Who, waiter: &Waiter) -> fmt::Result {
    if who.pid() != Some(waiter.pid) {
        write!(f, "pid {} ", waiter.pid)?;
    }
    write!(f, "listening on fd {}", waiter.fd)
}

/// When a stop that began at `since` runs out of `grace`. The command line
/// bounds the grace to a day; one too long for the clock would end a day
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
