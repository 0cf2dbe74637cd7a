//! The platform edge: how the command receives the sockets.
//!
//! One file per OS, each exporting the same functions. On Unix the sockets are
//! moved to fds 3… and systemfd execs the command (so `hand_over` returns only
//! on failure); on Windows the sockets cannot be inherited that way, so
//! systemfd spawns the command, serves duplicates over a local socket server
//! and waits for the command to exit.

#[cfg_attr(unix, path = "unix.rs")]
#[cfg_attr(windows, path = "windows.rs")]
mod imp;

#[cfg(not(any(unix, windows)))]
compile_error!("systemfd supports Unix and Windows only");

use crate::error::Failure;
use crate::output::Printer;
use crate::socket::Sockets;
use crate::{activation, socket_server};

/// The socket-passing variables an outer provider may have left in the
/// environment: none of them reaches COMMAND unless systemfd sets it anew.
pub const STALE_VARIABLES: [&str; 6] = {
    let listen = activation::VARIABLES;
    [
        listen[0],
        listen[1],
        listen[2],
        listen[3],
        socket_server::SERVER_VAR,
        socket_server::SECRET_VAR,
    ]
};

/// What to run, and how.
#[derive(Debug)]
pub struct Launch<'a> {
    /// COMMAND and its arguments; never empty.
    pub command: &'a [std::ffi::OsString],
    /// Whether to set `LISTEN_PID` (`--no-pid` turns it off).
    pub set_pid: bool,
}

impl Launch<'_> {
    /// COMMAND's program.
    pub fn program(&self) -> &std::ffi::OsStr {
        &self.command[0]
    }

    /// COMMAND with its arguments, and none of the socket-passing variables
    /// that an outer provider may have left in the environment.
    pub fn command(&self) -> std::process::Command {
        let mut command = std::process::Command::new(self.program());
        command.args(&self.command[1..]);
        for name in STALE_VARIABLES {
            command.env_remove(name);
        }
        command
    }
}

/// Runs the command with the sockets and returns the status systemfd exits
/// with. On Unix this execs and returns only if the command cannot be run.
pub fn hand_over(sockets: Sockets, launch: &Launch<'_>, printer: &Printer) -> Result<i32, Failure> {
    imp::hand_over(sockets, launch, printer)
}

/// Windows: whether the sockets claim their ports with `SO_EXCLUSIVEADDRUSE`.
#[cfg(windows)]
pub use imp::exclusive_address_use;

/// Unix, supervise mode: start children with the sockets at 3… (fork and
/// exec), signal their process groups, reap them.
#[cfg(unix)]
pub use imp::{ignore_sigpipe, resolve, signal_group, spawn, stage, wait, ChildSpec};

/// How the printed line names the place socket `index` is handed over:
/// `fd #3` on Unix, `socket #0` on Windows (the reply's position).
pub fn target_label(index: usize) -> String {
    imp::target_label(index)
}
