//! Unix: place the sockets at fds 3… and exec the command.

use std::io;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd, RawFd};
use std::os::unix::process::CommandExt as _;
use std::process::Command;

use anyhow::Context as _;

use crate::activation::{self, FIRST_FD};
use crate::error::Failure;
use crate::output::Printer;
use crate::socket::Sockets;

use super::Launch;

pub fn hand_over(
    sockets: Sockets,
    launch: &Launch<'_>,
    _printer: &Printer,
) -> Result<i32, Failure> {
    let (program, args) = launch
        .command
        .split_first()
        .expect("clap requires a command");
    let mut command = Command::new(program);
    command.args(args);
    for name in activation::VARIABLES {
        command.env_remove(name);
    }
    command.envs(activation::variables(&sockets));
    if launch.set_pid && !sockets.is_empty() {
        // exec keeps the pid, so the command's pid is ours.
        command.env("LISTEN_PID", std::process::id().to_string());
    }

    let count = sockets.len() as RawFd;
    let staged = stage(&sockets, FIRST_FD + count).map_err(Failure::setup)?;
    for (target, fd) in (FIRST_FD..).zip(&staged) {
        place(fd, target)
            .with_context(|| format!("cannot move a socket to fd {target}"))
            .map_err(Failure::setup)?;
    }
    let err = command.exec();
    // Only reached when exec failed: dropping `sockets` removes the files.
    Err(Failure::exec(program, err))
}

/// Duplicates every socket to a close-on-exec fd at or above `min`, so that
/// moving them into 3… cannot overwrite one another.
pub fn stage(sockets: &Sockets, min: RawFd) -> anyhow::Result<Vec<OwnedFd>> {
    sockets
        .sockets
        .iter()
        .map(|open| {
            // SAFETY: fcntl(F_DUPFD_CLOEXEC) on a descriptor owned by `open.socket`
            // (alive for the call) only creates a new descriptor; it reads no memory.
            let fd = unsafe { libc::fcntl(open.socket.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) };
            if fd < 0 {
                return Err(io::Error::last_os_error()).context("cannot duplicate a socket");
            }
            // SAFETY: `fd` was just returned by fcntl and is owned by nobody else.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        })
        .collect()
}

/// Puts a copy of `fd` at `target`, inheritable, replacing whatever was there
/// (as systemd does with an fd the parent left open in that range).
///
/// Only calls dup2, so it is async-signal-safe and fit to run between fork
/// and exec.
pub fn place(fd: &OwnedFd, target: RawFd) -> io::Result<()> {
    loop {
        // SAFETY: dup2 reads no memory; `fd` is open for the duration of the
        // call. `target` may be open (inherited, or one of our own close-on-exec
        // sockets): dup2 closes it atomically, and nothing in this process uses
        // that number again before exec.
        let rv = unsafe { libc::dup2(fd.as_raw_fd(), target) };
        if rv >= 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

pub fn target_label(index: usize) -> String {
    format!("fd #{}", FIRST_FD as usize + index)
}
