//! Sockets at fixed descriptors: staged out of the way first, then placed
//! at 3… (in the child, between fork and exec, or before exec mode's exec).

use std::io;
use std::os::fd::{AsRawFd as _, BorrowedFd, FromRawFd as _, OwnedFd, RawFd};

/// Duplicates every socket to a close-on-exec fd at or above `min`, so that
/// moving them into 3… cannot overwrite one another.
pub fn stage(sockets: &[BorrowedFd<'_>], min: RawFd) -> io::Result<Vec<OwnedFd>> {
    sockets
        .iter()
        .map(|socket| {
            // SAFETY: fcntl(F_DUPFD_CLOEXEC) on a borrowed, open descriptor only
            // creates a new descriptor; it reads no memory.
            let fd = unsafe { libc::fcntl(socket.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) };
            if fd < 0 {
                return Err(io::Error::last_os_error());
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
