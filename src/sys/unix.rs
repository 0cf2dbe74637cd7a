//! Unix primitives: put sockets at fixed descriptors, and start, signal and
//! reap children that receive them.
//!
//! Only the system calls are here; exec mode (`crate::exec`) and supervise
//! mode (`crate::supervise`) decide what to do with them. Placing the
//! sockets is in `unix/fds.rs`, forking and exec'ing a child in
//! `unix/spawn.rs`, and what only Linux has (`/proc`, the subreaper) in
//! `linux.rs`.

#[path = "unix/fds.rs"]
mod fds;
#[path = "unix/fork.rs"]
mod fork;
#[cfg(target_os = "linux")]
pub mod linux;
#[path = "unix/spawn.rs"]
mod spawn;

use std::io;
use std::os::fd::{AsRawFd as _, OwnedFd};

pub use fds::{place, stage};

/// A standard stream that escape sequences are written to.
#[derive(Clone, Copy, Debug)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Terminals take escape sequences as they are: always true (the same name
/// turns them on in a Windows console).
pub fn enable_escape_sequences(_stream: Stream) -> bool {
    true
}

/// Sets up `socket` before `bind`: `SO_REUSEADDR` when `reuse_addr`, so a
/// restarted systemfd can rebind at once (`--no-reuse` turns it off), and
/// `SO_REUSEPORT` when `reuse_port`, which lets other processes bind the
/// same port.
///
/// # Errors
/// When an option cannot be set, naming it.
pub fn set_reuse(
    socket: &socket2::Socket,
    reuse_addr: bool,
    reuse_port: bool,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    socket
        .set_reuse_address(reuse_addr)
        .context("cannot set SO_REUSEADDR")?;
    if reuse_port {
        socket
            .set_reuse_port(true)
            .context("cannot set SO_REUSEPORT")?;
    }
    Ok(())
}

/// Runs `f` with the file mode creation mask set to `mask`, and puts the
/// mask back after. The mask belongs to the process, not the thread: call
/// it only while no other thread creates files (systemfd opens its sockets
/// before it starts any thread).
pub fn with_umask<T>(mask: u32, f: impl FnOnce() -> T) -> T {
    // SAFETY: umask sets a process attribute and reads no memory.
    let old = unsafe { libc::umask(mask as libc::mode_t) };
    let result = f();
    // SAFETY: as above; `old` is the mask umask returned.
    unsafe { libc::umask(old) };
    result
}

/// The device and inode of the file or directory at `path`: what tells it
/// from another made in its place.
///
/// # Errors
/// When `path` cannot be read (gone, or not allowed).
pub fn file_id(path: &std::path::Path) -> io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    let metadata = std::fs::metadata(path)?;
    Ok((metadata.dev(), metadata.ino()))
}
pub use fork::wait;

/// The pidfd inode id of this process (`LISTEN_PIDFDID`; see
/// `linux::pidfd`): `None` where pidfds have none, and outside Linux.
pub fn own_pidfd_id() -> Option<u64> {
    #[cfg(target_os = "linux")]
    return linux::pidfd::own_id();
    #[cfg(not(target_os = "linux"))]
    None
}
#[cfg(target_os = "linux")]
pub use spawn::Interception;
/// The inode of the open file `fd` (fstat): what tells a socket from
/// another in every process that holds it, whatever its descriptor.
///
/// # Errors
/// When fstat fails.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub fn inode(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<u64> {
    use std::os::fd::AsRawFd as _;
    // SAFETY: a zeroed stat is valid for fstat to fill; `fd` is open.
    let stat = unsafe {
        let mut stat: libc::stat = std::mem::zeroed();
        if libc::fstat(fd.as_raw_fd(), &mut stat) != 0 {
            return Err(io::Error::last_os_error());
        }
        stat
    };
    Ok(stat.st_ino as u64)
}

pub use spawn::{resolve, spawn, ChildSpec, Stdio};

/// Sends `signal` to the process group `group` (a child's pid). A group
/// that is already gone is not an error. The group's id stays reserved
/// while any member of the group lives, so it cannot name another group.
pub fn signal_group(group: u32, signal: i32) -> io::Result<()> {
    kill(-(group as libc::pid_t), signal)
}

/// Sends `signal` to the process `pid` alone. A process that is already
/// gone is not an error.
pub fn signal_process(pid: u32, signal: i32) -> io::Result<()> {
    kill(pid as libc::pid_t, signal)
}

/// kill(2), where a target that no longer exists is not an error.
fn kill(target: libc::pid_t, signal: i32) -> io::Result<()> {
    // SAFETY: kill reads no memory.
    if unsafe { libc::kill(target, signal) } == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::ESRCH) => Ok(()),
        _ => Err(err),
    }
}

/// Whether kill(2) finds `target` (a process, or a group when negative),
/// zombies included.
fn exists(target: libc::pid_t) -> bool {
    // SAFETY: kill with signal 0 only checks; it reads no memory.
    let rv = unsafe { libc::kill(target, 0) };
    rv == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// What [`reap`] found about a child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reaped {
    /// It exited (or a signal killed it) and is reaped.
    Exited(std::process::ExitStatus),
    /// A signal stopped it (SIGTTIN, SIGTSTP, …): it waits for SIGCONT.
    Stopped(i32),
}

/// Reaps one child of systemfd that has exited, or reports one that has
/// stopped, without waiting: `None` when there is nothing to report.
pub fn reap() -> io::Result<Option<(u32, Reaped)>> {
    use std::os::unix::process::ExitStatusExt as _;
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid, writable int for waitpid's report.
        let rv = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG | libc::WUNTRACED) };
        if rv > 0 {
            let found = if libc::WIFSTOPPED(status) {
                Reaped::Stopped(libc::WSTOPSIG(status))
            } else {
                Reaped::Exited(std::process::ExitStatus::from_raw(status))
            };
            return Ok(Some((rv as u32, found)));
        }
        if rv == 0 {
            return Ok(None);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::ECHILD) => return Ok(None),
            _ => return Err(err),
        }
    }
}

/// The controlling terminal, when systemfd has one, with the settings it had
/// when opened.
#[derive(Debug)]
pub struct Tty {
    fd: OwnedFd,
    settings: Option<libc::termios>,
}

impl Tty {
    /// Opens `/dev/tty`: `None` without a controlling terminal.
    pub fn open() -> Option<Tty> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .ok()?;
        let fd = OwnedFd::from(file);
        // SAFETY: a zeroed termios is a valid value for tcgetattr to fill;
        // the descriptor is open (owned by `fd`).
        let settings = unsafe {
            let mut settings: libc::termios = std::mem::zeroed();
            (libc::tcgetattr(fd.as_raw_fd(), &mut settings) == 0).then_some(settings)
        };
        Some(Tty { fd, settings })
    }

    /// The terminal's foreground process group.
    pub fn foreground(&self) -> Option<u32> {
        // SAFETY: tcgetpgrp on an open descriptor reads no memory of ours.
        let group = unsafe { libc::tcgetpgrp(self.fd.as_raw_fd()) };
        (group > 0).then_some(group as u32)
    }

    /// Makes `group` the terminal's foreground process group. systemfd
    /// ignores SIGTTOU (see [`ignore_terminal_output_stops`]), so this works
    /// from the background too.
    pub fn set_foreground(&self, group: u32) -> io::Result<()> {
        // SAFETY: tcsetpgrp on an open descriptor reads no memory of ours.
        if unsafe { libc::tcsetpgrp(self.fd.as_raw_fd(), group as libc::pid_t) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Puts back the settings the terminal had when opened (a child may
    /// have left it in raw mode).
    pub fn restore(&self) {
        if let Some(settings) = &self.settings {
            // SAFETY: `settings` is a termios that tcgetattr filled; the
            // descriptor is open.
            unsafe { libc::tcsetattr(self.fd.as_raw_fd(), libc::TCSADRAIN, settings) };
        }
    }
}

/// This process's process group.
pub fn own_group() -> u32 {
    // SAFETY: getpgrp cannot fail and reads no memory.
    unsafe { libc::getpgrp() as u32 }
}

/// Lets systemfd set the terminal's foreground group and write to it while
/// in the background, as a shell does. Children get the default back.
pub fn ignore_terminal_output_stops() {
    // SAFETY: setting SIGTTOU's disposition to SIG_IGN installs no handler
    // and touches no memory of ours.
    unsafe { libc::signal(libc::SIGTTOU, libc::SIG_IGN) };
}

/// Stops systemfd itself until it is continued (`fg`), as the default
/// action of SIGTSTP would.
pub fn stop_self() {
    // SAFETY: raise reads no memory; SIGSTOP cannot be caught.
    unsafe { libc::raise(libc::SIGSTOP) };
}

/// Whether a process `pid` exists (a zombie counts).
pub fn process_exists(pid: u32) -> bool {
    exists(pid as libc::pid_t)
}

/// This process's real user id.
pub fn user_id() -> u32 {
    // SAFETY: getuid cannot fail and reads no memory.
    unsafe { libc::getuid() }
}

/// Whether the process group `group` still has a member (a zombie counts
/// until it is reaped).
pub fn group_exists(group: u32) -> bool {
    exists(-(group as libc::pid_t))
}

/// Reaps the child `pid` if it has exited, without waiting.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
///
/// # Errors
/// When waitpid fails (`pid` is not a child).
pub fn try_wait(pid: u32) -> io::Result<Option<std::process::ExitStatus>> {
    use std::os::unix::process::ExitStatusExt as _;
    let mut status = 0;
    // SAFETY: `status` is a valid, writable int for waitpid's report.
    let rv = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, libc::WNOHANG) };
    match rv {
        0 => Ok(None),
        rv if rv > 0 => Ok(Some(std::process::ExitStatus::from_raw(status))),
        _ => Err(io::Error::last_os_error()),
    }
}

/// What [`poll`] waits for on one socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interest {
    /// Something to read: data, a connection to accept, or the peer's end.
    Read,
    /// Room to write.
    Write,
}

/// One socket for [`poll`]: what to wait for, and then whether it came.
#[derive(Debug)]
pub struct PollEntry<'a> {
    fd: std::os::fd::BorrowedFd<'a>,
    interest: Interest,
    ready: bool,
}

impl<'a> PollEntry<'a> {
    /// Waits on `socket` (borrowed for as long as the entry lives) for
    /// `interest`.
    pub fn new(socket: &'a impl std::os::fd::AsFd, interest: Interest) -> PollEntry<'a> {
        PollEntry {
            fd: socket.as_fd(),
            interest,
            ready: false,
        }
    }

    /// Whether the last [`poll`] found the socket ready for its interest: a
    /// read (or accept, or write) will not block. An error or a hang-up
    /// counts as ready, so that the call reports it.
    pub fn ready(&self) -> bool {
        self.ready
    }
}

/// Waits until one of `entries` is ready or `timeout` has passed (`None`:
/// no limit), over poll(2). The timeout is rounded up to whole
/// milliseconds, so a wait never ends before its deadline. Returns how many
/// entries are ready: 0 when the time ran out, or when a signal interrupted
/// the wait (EINTR; callers check their deadlines and call again).
///
/// # Errors
/// When poll fails otherwise (no memory, too many entries).
pub fn poll(
    entries: &mut [PollEntry<'_>],
    timeout: Option<std::time::Duration>,
) -> io::Result<usize> {
    let events = |interest| match interest {
        Interest::Read => libc::POLLIN,
        Interest::Write => libc::POLLOUT,
    };
    let mut fds: Vec<libc::pollfd> = entries
        .iter()
        .map(|entry| libc::pollfd {
            fd: entry.fd.as_raw_fd(),
            events: events(entry.interest),
            revents: 0,
        })
        .collect();
    let timeout = match timeout {
        None => -1,
        Some(timeout) => {
            let ms = timeout.as_nanos().div_ceil(1_000_000);
            libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
        }
    };
    for entry in entries.iter_mut() {
        entry.ready = false;
    }
    // SAFETY: `fds` is a valid, writable array of `fds.len()` pollfd; every
    // descriptor in it is borrowed by an entry, so open across the call.
    let rv = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
    if rv < 0 {
        let err = io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(libc::EINTR) => Ok(0),
            _ => Err(err),
        };
    }
    let mut ready = 0;
    for (entry, fd) in entries.iter_mut().zip(&fds) {
        let wanted = events(entry.interest) | libc::POLLHUP | libc::POLLERR | libc::POLLNVAL;
        entry.ready = fd.revents & wanted != 0;
        ready += usize::from(entry.ready);
    }
    Ok(ready)
}

/// The mounted file systems, from getfsstat(2): per mount, where it is
/// mounted, its type (`apfs`, `smbfs`, `nfs`, `macfuse`, …) and whether
/// the system calls it local (`MNT_LOCAL`). Empty when they cannot be
/// read.
#[cfg(any(target_os = "macos", target_os = "freebsd"))]
pub fn mounts() -> Vec<(std::path::PathBuf, String, bool)> {
    use std::ffi::CStr;
    use std::os::unix::ffi::OsStrExt as _;
    // SAFETY: a null buffer asks getfsstat for the count only.
    let count = unsafe { libc::getfsstat(std::ptr::null_mut(), 0, libc::MNT_NOWAIT) };
    let Ok(count) = usize::try_from(count) else {
        return Vec::new();
    };
    // Room for mounts made in between.
    let mut all: Vec<libc::statfs> = Vec::with_capacity(count + 8);
    let Ok(size) = (all.capacity() * std::mem::size_of::<libc::statfs>()).try_into() else {
        return Vec::new();
    };
    // SAFETY: `all` has room for `size` bytes of statfs entries, which
    // getfsstat fills, returning how many.
    let filled = unsafe { libc::getfsstat(all.as_mut_ptr(), size, libc::MNT_NOWAIT) };
    let Ok(filled) = usize::try_from(filled) else {
        return Vec::new();
    };
    // SAFETY: getfsstat initialised the first `filled` entries, no more
    // than the capacity it was told of.
    unsafe { all.set_len(filled.min(all.capacity())) };
    let text = |chars: &[libc::c_char]| {
        // SAFETY: c_char and u8 have the same size and alignment.
        let bytes: &[u8] = unsafe { &*(std::ptr::from_ref(chars) as *const [u8]) };
        CStr::from_bytes_until_nul(bytes)
            .map_or(&[][..], CStr::to_bytes)
            .to_vec()
    };
    all.iter()
        .map(|fs| {
            let point = std::ffi::OsStr::from_bytes(&text(&fs.f_mntonname)).into();
            let kind = String::from_utf8_lossy(&text(&fs.f_fstypename)).into_owned();
            #[allow(clippy::unnecessary_cast)] // u32 on macOS, u64 on FreeBSD.
            let local = fs.f_flags as u64 & libc::MNT_LOCAL as u64 != 0;
            (point, kind, local)
        })
        .collect()
}

/// Elsewhere the mounts are not read: nothing is polled without `--poll`.
#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "freebsd")))]
pub fn mounts() -> Vec<(std::path::PathBuf, String, bool)> {
    Vec::new()
}
