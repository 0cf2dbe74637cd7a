//! Seccomp user notification (Linux): a filter installed in a child sends
//! its `bind()` and `listen()` calls to systemfd, which may answer them
//! itself, put one of its own sockets in place of the child's descriptor,
//! or let them go through.
//!
//! The kernel facts used here are from seccomp(2) and
//! seccomp_unotify(2): `SECCOMP_FILTER_FLAG_NEW_LISTENER` and
//! `SECCOMP_RET_USER_NOTIF` (Linux 5.0), `SECCOMP_USER_NOTIF_FLAG_CONTINUE`
//! (5.5), `pidfd_getfd` (5.6), `SECCOMP_IOCTL_NOTIF_ADDFD` with
//! `SECCOMP_ADDFD_FLAG_SETFD` (5.9) and
//! `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV` (5.19, used where there).
//!
//! The filter is built before the fork ([`Filter::new`]) and installed by
//! the child with no allocation ([`install`]); the child sends the
//! listener's descriptor back through a socket pair ([`channel`],
//! [`receive_listener`]) and execs.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd as _, AsRawFd as _, BorrowedFd, FromRawFd as _, OwnedFd, RawFd};
use std::os::unix::fs::FileExt as _;
use std::time::Duration;

/// The architecture the filter checks for (`AUDIT_ARCH_*`, from
/// `<linux/audit.h>`): a system call made through another ABI has other
/// numbers and is let through.
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;
#[cfg(target_arch = "riscv64")]
const AUDIT_ARCH: u32 = 0xC000_00F3;
#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64"
)))]
const AUDIT_ARCH: u32 = 0;

// Offsets in `struct seccomp_data` (`<linux/seccomp.h>`).
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;

// Classic BPF opcodes (`<linux/bpf_common.h>`): BPF_LD | BPF_W | BPF_ABS
// (0x00 | 0x00 | 0x20), BPF_JMP | BPF_JEQ | BPF_K, BPF_RET | BPF_K.
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JMP_JEQ_K: u16 = 0x05 | 0x10;
const BPF_RET_K: u16 = 0x06;

/// A system call the filter sends to systemfd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// `bind(fd, addr, addrlen)`.
    Bind,
    /// `listen(fd, backlog)`.
    Listen,
}

/// The filter program: `bind` and `listen` to the listener, everything
/// else (and every call through another ABI) allowed. Built before the
/// fork; the child only points the kernel at it.
pub struct Filter {
    program: Vec<libc::sock_filter>,
}

impl Filter {
    /// The filter for this architecture.
    ///
    /// # Errors
    /// `Unsupported` on an architecture whose `AUDIT_ARCH` value is not
    /// known here.
    pub fn new() -> io::Result<Filter> {
        if AUDIT_ARCH == 0 {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this processor architecture is not supported",
            ));
        }
        let statement = |code, k| libc::sock_filter {
            code,
            jt: 0,
            jf: 0,
            k,
        };
        let jump = |k, jt, jf| libc::sock_filter {
            code: BPF_JMP_JEQ_K,
            jt,
            jf,
            k,
        };
        let program = vec![
            statement(BPF_LD_W_ABS, DATA_ARCH),
            // Another ABI: on to "allow", three instructions on.
            jump(AUDIT_ARCH, 0, 3),
            statement(BPF_LD_W_ABS, DATA_NR),
            jump(libc::SYS_bind as u32, 2, 0),
            jump(libc::SYS_listen as u32, 1, 0),
            statement(BPF_RET_K, libc::SECCOMP_RET_ALLOW),
            statement(BPF_RET_K, libc::SECCOMP_RET_USER_NOTIF),
        ];
        Ok(Filter { program })
    }
}

/// The socket pair the child sends its listener through: systemfd's end,
/// and the child's, both close-on-exec, the child's at or above `min` so
/// that placing the sockets at their fds cannot clobber it.
///
/// # Errors
/// When the pair cannot be made.
pub fn channel(min: RawFd) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` is a valid array of two ints for socketpair to fill.
    let rv = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if rv < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: socketpair just returned both descriptors; nobody else owns them.
    let (ours, low) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: F_DUPFD_CLOEXEC on the open descriptor `low` only creates a
    // new descriptor at or above `min`.
    let high = unsafe { libc::fcntl(low.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) };
    if high < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `high` was just returned by fcntl and is owned by nobody else.
    Ok((ours, unsafe { OwnedFd::from_raw_fd(high) }))
}

/// In the child: sets `no_new_privs`, installs `filter` with a new
/// listener, sends the listener through `channel` and closes it. On
/// failure returns false with errno set.
///
/// # Safety
/// Meant for a forked child before exec: it makes only async-signal-safe
/// system calls and allocates nothing. `channel` must be the child's end
/// of a [`channel`].
pub unsafe fn install(filter: &Filter, channel: RawFd) -> bool {
    let fprog = libc::sock_fprog {
        len: filter.program.len() as u16,
        filter: filter.program.as_ptr().cast_mut(),
    };
    // SAFETY: prctl and seccomp read only `fprog`, which points at the
    // program built before the fork; sendmsg reads only the local buffers
    // below; close releases the listener, which this process owns.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return false;
        }
        let seccomp = |flags: libc::c_ulong| {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                flags,
                &fprog as *const libc::sock_fprog,
            )
        };
        let new = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
        let mut listener = seccomp(new | libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV);
        if listener < 0 && *libc::__errno_location() == libc::EINVAL {
            // Before Linux 5.19.
            listener = seccomp(new);
        }
        if listener < 0 {
            return false;
        }
        let sent = send_fd(channel, listener as RawFd);
        libc::close(listener as RawFd);
        sent
    }
}

/// Room for one descriptor's control message, aligned as `cmsghdr` needs.
#[repr(C, align(8))]
struct ControlBuffer([u8; 64]);

/// A message of one byte in `byte` with `control` as its control buffer,
/// `control_len` bytes of it used. Allocation-free.
fn message(
    byte: &mut [u8; 1],
    iov: &mut libc::iovec,
    control: &mut ControlBuffer,
    control_len: usize,
) -> libc::msghdr {
    iov.iov_base = byte.as_mut_ptr().cast();
    iov.iov_len = 1;
    // SAFETY: a zeroed msghdr is a valid value (no name, no buffers).
    let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
    message.msg_iov = iov;
    message.msg_iovlen = 1;
    message.msg_control = control.0.as_mut_ptr().cast();
    message.msg_controllen = control_len.min(control.0.len()) as _;
    message
}

/// Sends `fd` over the socket `channel` with one byte of data.
/// Allocation-free.
fn send_fd(channel: RawFd, fd: RawFd) -> bool {
    let mut byte = [1u8];
    let mut iov = libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    };
    let mut control = ControlBuffer([0; 64]);
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(4) } as usize;
    let message = message(&mut byte, &mut iov, &mut control, space);
    // SAFETY: the message points at the local byte, iovec and control
    // buffer, which outlive the call. CMSG_SPACE(4) (24 on 64-bit) fits the
    // 64-byte buffer, so CMSG_FIRSTHDR is non-null and its data has room for
    // one int.
    unsafe {
        let header = libc::CMSG_FIRSTHDR(&message);
        (*header).cmsg_level = libc::SOL_SOCKET;
        (*header).cmsg_type = libc::SCM_RIGHTS;
        (*header).cmsg_len = libc::CMSG_LEN(4) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(header).cast::<RawFd>(), fd);
        libc::sendmsg(channel, &message, libc::MSG_NOSIGNAL) == 1
    }
}

/// Receives the listener a child sent through `ours`, its end of a
/// [`channel`] (the child's end must be closed here already).
///
/// # Errors
/// When the child sent nothing (it exited or exec'd before), or the
/// message carries no descriptor.
pub fn receive_listener(ours: &OwnedFd) -> io::Result<Listener> {
    let mut byte = [0u8];
    let mut iov = libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    };
    let mut control = ControlBuffer([0; 64]);
    let mut message = message(&mut byte, &mut iov, &mut control, 64);
    // SAFETY: the message points at local buffers that outlive the call;
    // the control buffer is 64 bytes as msg_controllen says. CMSG_FIRSTHDR
    // and CMSG_DATA read within it, and only a header the kernel filled
    // (checked for level, type and length) is read.
    unsafe {
        let read = libc::recvmsg(ours.as_raw_fd(), &mut message, libc::MSG_CMSG_CLOEXEC);
        if read < 0 {
            return Err(io::Error::last_os_error());
        }
        let header = libc::CMSG_FIRSTHDR(&message);
        if read == 0
            || header.is_null()
            || (*header).cmsg_level != libc::SOL_SOCKET
            || (*header).cmsg_type != libc::SCM_RIGHTS
            || (*header).cmsg_len < libc::CMSG_LEN(4) as _
        {
            return Err(io::Error::other("the command sent no seccomp listener"));
        }
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(header).cast::<RawFd>());
        Ok(Listener(OwnedFd::from_raw_fd(fd)))
    }
}

/// One system call a filtered process waits in, as the kernel reports it
/// (`struct seccomp_notif`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Notification {
    /// The kernel's id for this notification, for the answer.
    pub id: u64,
    /// The process that made the call, in systemfd's pid namespace.
    pub pid: u32,
    /// Which call: the filter sends only these two.
    pub call: Option<Call>,
    /// The call's six arguments, as raw values.
    pub args: [u64; 6],
}

/// What waiting on a listener found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waited {
    /// A notification can be received.
    Ready,
    /// Every process under the filter has exited: nothing will come.
    Closed,
    /// Neither within the time given.
    TimedOut,
}

/// The listener of a filter: where its notifications are received and
/// answered.
#[derive(Debug)]
pub struct Listener(OwnedFd);

impl Listener {
    /// Waits up to `timeout` (or forever) for a notification.
    ///
    /// # Errors
    /// When poll fails for another reason than a signal.
    pub fn wait(&self, timeout: Option<Duration>) -> io::Result<Waited> {
        let mut poll = libc::pollfd {
            fd: self.0.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as i32);
        // SAFETY: `poll` is one valid pollfd, as the count says.
        let rv = unsafe { libc::poll(&mut poll, 1, ms) };
        if rv < 0 {
            let err = io::Error::last_os_error();
            return match err.kind() {
                io::ErrorKind::Interrupted => Ok(Waited::TimedOut),
                _ => Err(err),
            };
        }
        Ok(if poll.revents & libc::POLLIN != 0 {
            Waited::Ready
        } else if poll.revents & (libc::POLLHUP | libc::POLLERR) != 0 {
            Waited::Closed
        } else {
            Waited::TimedOut
        })
    }

    /// Receives the next notification (blocks until there is one).
    ///
    /// # Errors
    /// `ENOENT` when the process gave up the call before it was received
    /// (a signal); others when the listener is broken.
    pub fn receive(&self) -> io::Result<Notification> {
        // SAFETY: a zeroed seccomp_notif is what the kernel asks for; the
        // ioctl writes only into it.
        let notif = unsafe {
            let mut notif: libc::seccomp_notif = std::mem::zeroed();
            if libc::ioctl(
                self.0.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_RECV,
                &mut notif,
            ) < 0
            {
                return Err(io::Error::last_os_error());
            }
            notif
        };
        let nr = i64::from(notif.data.nr);
        let call = if nr == libc::SYS_bind {
            Some(Call::Bind)
        } else if nr == libc::SYS_listen {
            Some(Call::Listen)
        } else {
            None
        };
        Ok(Notification {
            id: notif.id,
            pid: notif.pid,
            call,
            args: notif.data.args,
        })
    }

    /// Whether the notification `id` still waits for an answer: after
    /// reading a process's memory, this confirms the pid still named the
    /// process that made the call.
    pub fn is_valid(&self, id: u64) -> bool {
        let mut id = id;
        // SAFETY: the ioctl reads the u64 `id` only.
        unsafe {
            libc::ioctl(
                self.0.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_ID_VALID,
                &mut id,
            ) == 0
        }
    }

    /// Lets the call `id` go through to the kernel as the process made it.
    ///
    /// # Errors
    /// `ENOENT` when the call is no longer waiting.
    pub fn proceed(&self, id: u64) -> io::Result<()> {
        self.send(id, 0, 0, libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32)
    }

    /// Answers the call `id` with `value` (a success) without making it.
    ///
    /// # Errors
    /// `ENOENT` when the call is no longer waiting.
    pub fn answer(&self, id: u64, value: i64) -> io::Result<()> {
        self.send(id, value, 0, 0)
    }

    /// Answers the call `id` with the error `errno` without making it.
    ///
    /// # Errors
    /// `ENOENT` when the call is no longer waiting.
    pub fn refuse(&self, id: u64, errno: i32) -> io::Result<()> {
        self.send(id, 0, -errno, 0)
    }

    fn send(&self, id: u64, val: i64, error: i32, flags: u32) -> io::Result<()> {
        let mut response = libc::seccomp_notif_resp {
            id,
            val,
            error,
            flags,
        };
        // SAFETY: the ioctl reads the response only.
        let rv = unsafe {
            libc::ioctl(
                self.0.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_SEND,
                &mut response,
            )
        };
        if rv < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Puts a duplicate of `fd` at descriptor `target` of the process that
    /// made the call `id`, closing what was there (`SECCOMP_ADDFD_FLAG_SETFD`);
    /// close-on-exec when `cloexec`.
    ///
    /// # Errors
    /// `ENOENT` when the call is no longer waiting; `EBADF` or others from
    /// the kernel.
    pub fn add_fd(
        &self,
        id: u64,
        fd: BorrowedFd<'_>,
        target: u32,
        cloexec: bool,
    ) -> io::Result<()> {
        let mut add = libc::seccomp_notif_addfd {
            id,
            flags: libc::SECCOMP_ADDFD_FLAG_SETFD as u32,
            srcfd: fd.as_raw_fd() as u32,
            newfd: target,
            newfd_flags: if cloexec { libc::O_CLOEXEC as u32 } else { 0 },
        };
        // SAFETY: the ioctl reads the request only; `fd` is open.
        let rv = unsafe {
            libc::ioctl(
                self.0.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_ADDFD,
                &mut add,
            )
        };
        if rv < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// A process seen through a pidfd (Linux 5.3): its memory and its
/// descriptors, which a parent (or any ancestor, under Yama's
/// `ptrace_scope=1`) may read.
#[derive(Debug)]
pub struct Process {
    /// The thread it was opened through: `/proc/TID/…` shows the process.
    thread: u32,
    /// The process's pid (its thread group's id).
    pid: u32,
    pidfd: OwnedFd,
}

impl Process {
    /// Opens the process that the thread `tid` belongs to (a notification
    /// names the thread that made the call; for a process's first thread
    /// that is the process's pid). Memory and descriptors are shared by
    /// every thread of a process.
    ///
    /// # Errors
    /// `ESRCH` when it is gone.
    pub fn open(tid: u32) -> io::Result<Process> {
        let (pid, pidfd) = match pidfd_open(tid) {
            // Not a process's first thread (EINVAL before Linux 6.9, ENOENT
            // since): open its process.
            Err(err) if matches!(err.raw_os_error(), Some(libc::EINVAL | libc::ENOENT)) => {
                let pid = thread_group(tid)?;
                (pid, pidfd_open(pid)?)
            }
            other => (tid, other?),
        };
        Ok(Process {
            thread: tid,
            pid,
            pidfd,
        })
    }

    /// Reads `buf.len()` bytes of the process's memory at `address`
    /// (`/proc/PID/mem`). Returns how many were read.
    ///
    /// # Errors
    /// When the memory cannot be read (the process is gone, or the address
    /// is not mapped).
    pub fn read_memory(&self, address: u64, buf: &mut [u8]) -> io::Result<usize> {
        let mem = File::open(format!("/proc/{}/mem", self.thread))?;
        mem.read_at(buf, address)
    }

    /// A duplicate of the process's descriptor `fd` (`pidfd_getfd`, Linux
    /// 5.6): the same open file, close-on-exec here.
    ///
    /// # Errors
    /// `EBADF` when the process has no such descriptor.
    pub fn descriptor(&self, fd: i32) -> io::Result<OwnedFd> {
        // SAFETY: pidfd_getfd takes descriptors and flags and returns a new
        // descriptor, which is then owned here.
        let dup = unsafe { libc::syscall(libc::SYS_pidfd_getfd, self.pidfd.as_raw_fd(), fd, 0) };
        if dup < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `dup` was just returned and is owned by nobody else.
        Ok(unsafe { OwnedFd::from_raw_fd(dup as RawFd) })
    }

    /// The process's pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// `/proc/TID/NAME` for the thread it was opened through, which shows
    /// the process (its `cwd`, its `fdinfo`).
    pub fn proc_path(&self, name: &str) -> std::path::PathBuf {
        std::path::PathBuf::from(format!("/proc/{}/{name}", self.thread))
    }
}

/// pidfd_open(2) (Linux 5.3): `EINVAL` or `ENOENT` for a thread that is
/// not its process's first.
fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new
    // descriptor, which is then owned here.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// The process the thread `tid` belongs to: the `Tgid:` line of
/// `/proc/TID/status`.
fn thread_group(tid: u32) -> io::Result<u32> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Tgid:"))
        .and_then(|value| value.trim().parse().ok())
        .ok_or_else(|| io::Error::from_raw_os_error(libc::ESRCH))
}

/// How long the probe waits for its child at each step.
const PROBE_WAIT: Duration = Duration::from_secs(5);

/// Whether this kernel, in this container, lets a child be filtered and
/// given a descriptor in place of its own: a throwaway child installs the
/// filter, sends its listener and binds a socket; its address and socket
/// are read, and the bind is answered by putting another socket at its
/// descriptor. Takes about a millisecond.
///
/// # Errors
/// What failed, in a sentence that names the missing kernel feature where
/// that is the cause.
pub fn probe() -> io::Result<()> {
    let filter = Filter::new()?;
    let (ours, theirs) = channel(3)?;
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: `probe_child` makes only async-signal-safe system calls and
    // allocates nothing; `filter` and `theirs` are the child's own copies.
    let pid =
        unsafe { super::super::fork::fork(|| probe_child(&filter, theirs.as_raw_fd(), parent)) }?;
    drop(theirs);
    let result = probe_parent(&ours);
    if result.is_err() {
        // SAFETY: kill sends a signal to our own child, not reaped yet.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    }
    let status = super::super::fork::wait(pid)?;
    // The child exits with errno when a step of its own failed.
    let child_error = match status.code() {
        Some(0) => None,
        Some(errno) => Some(io::Error::from_raw_os_error(errno)),
        None => Some(io::Error::other("the probe's child was killed")),
    };
    match (result, child_error) {
        // The kernel allows one listener in a process's filters.
        (Err(Probe::NoListener), Some(err)) if err.raw_os_error() == Some(libc::EBUSY) => {
            Err(io::Error::new(
                err.kind(),
                "systemfd already runs under a seccomp filter that notifies another program (systemfd under systemfd, or a sandbox), and the kernel allows one",
            ))
        }
        (Err(Probe::NoListener), Some(err)) => Err(io::Error::new(
            err.kind(),
            format!("cannot install a seccomp filter with a listener (Linux 5.0 has them; adoption needs 5.9): {err}"),
        )),
        (Err(Probe::NoListener), None) => Err(io::Error::other(
            "cannot install a seccomp filter with a listener",
        )),
        (Err(Probe::Failed(err)), _) => Err(err),
        (Ok(()), None) => Ok(()),
        (Ok(()), Some(err)) => Err(io::Error::new(
            err.kind(),
            format!("a bind answered through seccomp failed: {err}"),
        )),
    }
}

/// Why the probe failed, as its parent saw it.
enum Probe {
    /// The child sent no listener: its exit status tells why.
    NoListener,
    Failed(io::Error),
}

fn probe_parent(ours: &OwnedFd) -> Result<(), Probe> {
    let listener = receive_listener(ours).map_err(|_| Probe::NoListener)?;
    let failed = Probe::Failed;
    if listener.wait(Some(PROBE_WAIT)).map_err(failed)? != Waited::Ready {
        return Err(Probe::Failed(io::Error::other(
            "the probe's bind was not notified",
        )));
    }
    let notification = listener.receive().map_err(failed)?;
    // What answering a real bind takes: its address and its socket.
    let looked = Process::open(notification.pid).and_then(|process| {
        let mut address = [0u8; 16];
        process.read_memory(notification.args[1], &mut address)?;
        process.descriptor(notification.args[0] as i32)
    });
    if let Err(err) = looked {
        let _ = listener.refuse(notification.id, libc::ENOSYS);
        return Err(Probe::Failed(io::Error::new(
            err.kind(),
            format!(
                "cannot read a child's bind (pidfd_getfd is Linux 5.6; ptrace restrictions such as kernel.yama.ptrace_scope=2 forbid it): {err}"
            ),
        )));
    }
    let replacement = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(failed)?;
    let added = listener.add_fd(
        notification.id,
        replacement.as_fd(),
        notification.args[0] as u32,
        true,
    );
    match added {
        Ok(()) => listener.answer(notification.id, 0).map_err(failed),
        Err(err) => {
            let _ = listener.refuse(notification.id, libc::ENOSYS);
            Err(Probe::Failed(io::Error::new(
                err.kind(),
                format!("SECCOMP_IOCTL_NOTIF_ADDFD failed (Linux 5.9 has it): {err}"),
            )))
        }
    }
}

/// The probe's child: filter, send the listener, bind; exit 0 when the bind
/// was answered with success, else with errno.
///
/// # Safety
/// Only in a freshly forked child.
unsafe fn probe_child(filter: &Filter, channel: RawFd, parent: libc::pid_t) -> ! {
    // SAFETY: prctl, getppid, `install` and `bind_loopback` make only
    // async-signal-safe system calls and allocate nothing; _exit ends the
    // child.
    unsafe {
        // It holds systemfd's sockets: it must not outlive systemfd, even
        // when a signal ends systemfd while the child's bind waits for it.
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0
            || libc::getppid() != parent
        {
            libc::_exit(libc::ESRCH);
        }
        if !install(filter, channel) {
            libc::_exit(*libc::__errno_location());
        }
        libc::_exit(bind_loopback())
    }
}

/// Binds a new TCP socket to 127.0.0.1, any port: 0, or errno.
/// Allocation-free.
fn bind_loopback() -> i32 {
    // SAFETY: socket and bind read only the local, initialised
    // sockaddr_in, whose size is passed; errno is this thread's.
    unsafe {
        let socket = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        let mut address: libc::sockaddr_in = std::mem::zeroed();
        address.sin_family = libc::AF_INET as libc::sa_family_t;
        address.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        let rv = libc::bind(
            socket,
            (&address as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        if rv == 0 {
            0
        } else {
            *libc::__errno_location()
        }
    }
}

#[cfg(test)]
#[path = "seccomp/tests.rs"]
mod tests;
