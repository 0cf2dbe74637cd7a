//! Starting a child: fork, the steps the child takes in order before exec
//! (process group, parent-death signal, signal mask, sockets, `LISTEN_PID`
//! and `LISTEN_PIDFDID`), and the report of a step that failed.

use std::ffi::{CString, OsStr, OsString};
use std::io::{self, Read as _};
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;

use super::fds::place;
use super::fork::{fork, wait};

// Children are forked and exec'd here rather than by std's Command, because
// a child may need its own pid in a variable (`LISTEN_PID`), and its pidfd
// id (`LISTEN_PIDFDID`), known only after the fork.
// Everything the child needs is prepared before the fork; between fork and
// exec the child makes only async-signal-safe calls and allocates nothing.

/// A child to start.
#[derive(Debug)]
pub struct ChildSpec<'a> {
    /// The program and its arguments; never empty.
    pub command: &'a [OsString],
    /// The child's whole environment, but for `pid_variable`.
    pub env: &'a [(OsString, OsString)],
    /// The sockets as [`stage`] left them; the child gets them at
    /// `first_fd`, `first_fd + 1`, ….
    pub sockets: &'a [OwnedFd],
    pub first_fd: RawFd,
    /// A variable to set to the child's own pid, if any.
    pub pid_variable: Option<&'a str>,
    /// A variable to set to the child's own pidfd inode id (Linux 6.9+,
    /// see `linux::pidfd`), if any; left out of the environment where the
    /// child has none (other systems, older kernels).
    pub pidfd_variable: Option<&'a str>,
    /// Whether the child gets a process group of its own (supervise mode)
    /// or stays in systemfd's (exec mode that stays the parent, so the
    /// terminal treats the command as it would after an exec).
    pub own_group: bool,
    /// A seccomp filter the child installs last, just before exec, and the
    /// child's end of the channel its listener goes through (Linux).
    pub filter: Option<Interception<'a>>,
    /// Where the child's stdin and its stdout and stderr go, when not
    /// systemfd's own (the build step's).
    pub stdio: Option<Stdio<'a>>,
}

impl<'a> ChildSpec<'a> {
    /// The build step (`--build`): `command` with `env`, no sockets and no
    /// variables of systemfd's, in a process group of its own, its stdin
    /// and output as `stdio` says.
    pub fn build(
        command: &'a [OsString],
        env: &'a [(OsString, OsString)],
        stdio: Stdio<'a>,
    ) -> ChildSpec<'a> {
        ChildSpec {
            command,
            env,
            sockets: &[],
            // No socket to place.
            first_fd: 3,
            pid_variable: None,
            pidfd_variable: None,
            own_group: true,
            filter: None,
            stdio: Some(stdio),
        }
    }
}

/// A child's standard descriptors: `input` becomes its fd 0, `output` its
/// fds 1 and 2.
#[derive(Clone, Copy, Debug)]
pub struct Stdio<'a> {
    pub input: &'a OwnedFd,
    pub output: &'a OwnedFd,
}

/// A seccomp filter for the child to install, and where it sends the
/// listener (see `linux::seccomp`).
#[cfg(target_os = "linux")]
#[derive(Clone, Copy)]
pub struct Interception<'a> {
    /// The filter, built before the fork.
    pub filter: &'a super::linux::seccomp::Filter,
    /// The child's end of `linux::seccomp::channel`.
    pub channel: std::os::fd::BorrowedFd<'a>,
}

/// Only Linux has seccomp user notification: elsewhere there is no
/// filter to give.
#[cfg(not(target_os = "linux"))]
#[derive(Clone, Copy)]
pub enum Interception<'a> {
    #[doc(hidden)]
    _Never(std::convert::Infallible, std::marker::PhantomData<&'a ()>),
}

impl std::fmt::Debug for Interception<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Interception")
    }
}

/// What a child reports through the pipe when it cannot exec: which step
/// failed (one byte), then errno (native order).
const REPORT_LEN: usize = 1 + std::mem::size_of::<i32>();

/// The steps in the child that can fail, as reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Step {
    ProcessGroup = 1,
    ParentDeathSignal = 2,
    SignalMask = 3,
    Sockets = 4,
    Exec = 5,
    Filter = 6,
    Stdio = 7,
}

impl Step {
    fn from_byte(byte: u8) -> Option<Step> {
        [
            Step::ProcessGroup,
            Step::ParentDeathSignal,
            Step::SignalMask,
            Step::Sockets,
            Step::Exec,
            Step::Filter,
            Step::Stdio,
        ]
        .into_iter()
        .find(|step| *step as u8 == byte)
    }

    fn describe(self) -> &'static str {
        match self {
            Step::ProcessGroup => "cannot give the command its own process group",
            Step::ParentDeathSignal => "cannot set the parent-death signal",
            Step::SignalMask => "cannot reset the signal mask",
            Step::Sockets => "cannot place the sockets at fd 3",
            Step::Exec => "exec failed",
            Step::Filter => "cannot install the seccomp filter that adopts binds",
            Step::Stdio => "cannot connect stdin, stdout and stderr",
        }
    }
}

/// Starts a child (in its own process group when `own_group`), with the sockets at their
/// fds, its pid in `pid_variable` and its pidfd id in `pidfd_variable` (if
/// set, and where it has one), all signal
/// dispositions at their defaults and an empty signal mask. Returns its pid
/// once it has exec'd. An error of kind `NotFound` means the program was not
/// found (127); any other, that it could not be executed (126).
///
/// Call it from the thread that outlives the children (the main thread): on
/// Linux the parent-death signal fires when the thread that forked exits.
pub fn spawn(spec: &ChildSpec<'_>) -> io::Result<u32> {
    let min = spec.first_fd + spec.sockets.len() as RawFd;
    let prepared = Prepared::new(spec)?;
    let (report_read, report_write) = report_pipe(min)?;
    let parent = std::process::id() as libc::pid_t;

    // SAFETY: `in_child` makes only async-signal-safe calls and allocates
    // nothing: every buffer it uses was built above; `prepared` and the
    // report pipe's write end are the child's private copies.
    let pid = unsafe { fork(|| in_child(&prepared, report_write.as_raw_fd(), parent)) }?;
    drop(report_write);

    // End of file without a report: exec closed the pipe (close-on-exec).
    let mut report = Vec::with_capacity(REPORT_LEN);
    let read = std::fs::File::from(report_read).read_to_end(&mut report);
    if report.len() < REPORT_LEN {
        read?;
        return Ok(pid);
    }
    // The child has exited or is about to: reap it.
    let _ = wait(pid);
    let step = Step::from_byte(report[0]).unwrap_or(Step::Exec);
    let errno = i32::from_ne_bytes(report[1..REPORT_LEN].try_into().expect("four bytes"));
    let cause = io::Error::from_raw_os_error(errno);
    Err(match step {
        Step::Exec => cause,
        other => io::Error::new(cause.kind(), format!("{}: {cause}", other.describe())),
    })
}

/// Finds `program` the way execvp does, before the fork: names with a slash
/// are used as they are; others are looked up in `path` (`PATH`).
pub fn resolve(program: &OsStr, path: Option<&OsStr>) -> io::Result<PathBuf> {
    if program.as_bytes().contains(&b'/') {
        return Ok(PathBuf::from(program));
    }
    let mut denied = false;
    if !program.is_empty() {
        let search = path.unwrap_or(OsStr::new("/usr/local/bin:/usr/bin:/bin"));
        for dir in std::env::split_paths(search) {
            // An empty entry means the current directory.
            let dir = if dir.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                dir
            };
            let candidate = dir.join(program);
            match std::fs::metadata(&candidate) {
                Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o111 != 0 => {
                    return Ok(candidate);
                }
                Ok(meta) if meta.is_file() => denied = true,
                _ => {}
            }
        }
    }
    let errno = if denied { libc::EACCES } else { libc::ENOENT };
    Err(io::Error::from_raw_os_error(errno))
}

/// The pipe a child reports an exec failure through: both ends close-on-exec,
/// the write end above the sockets' targets so placing them cannot clobber it.
fn report_pipe(min: RawFd) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    #[cfg(any(target_os = "linux", target_os = "android"))]
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
    let rv = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    // SAFETY: `fds` is a valid array of two ints for pipe to fill. Only the
    // main thread forks, so no child can inherit the ends before they are
    // made close-on-exec below.
    let rv = unsafe { libc::pipe(fds.as_mut_ptr()) };
    if rv < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe just returned both descriptors; nobody else owns them.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: F_SETFD on the open descriptor `read` sets a flag and reads no memory.
    if unsafe { libc::fcntl(read.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: F_DUPFD_CLOEXEC on the open descriptor `write` only creates a
    // new descriptor at or above `min`.
    let high = unsafe { libc::fcntl(write.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) };
    if high < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `high` was just returned by fcntl and is owned by nobody else.
    Ok((read, unsafe { OwnedFd::from_raw_fd(high) }))
}

/// Room for any u64's digits (20) and the final NUL, after `NAME=`: a pid,
/// or a pidfd id.
const NUMBER_ROOM: usize = 21;

/// Everything the child touches, built before the fork: C strings, the
/// pointer arrays execve takes, and the slots the child writes its pid and
/// its pidfd id into.
struct Prepared<'a> {
    program: CString,
    _argv: Vec<CString>,
    argv: Vec<*const libc::c_char>,
    /// `/bin/sh`, and its arguments to run `program` as a script: what
    /// execvp does when the kernel does not know the file's format (a
    /// script without `#!`), as POSIX asks of it.
    shell: CString,
    shell_argv: Vec<*const libc::c_char>,
    _env: Vec<CString>,
    /// Own the `NAME=…` entries of the pid and pidfd id variables; `envp`,
    /// `pid_digits` and `pidfd_digits` point into them.
    _pid_entry: Vec<u8>,
    _pidfd_entry: Vec<u8>,
    envp: Vec<*const libc::c_char>,
    /// Where the digits go (`NUMBER_ROOM` bytes), when there is a pid
    /// variable.
    pid_digits: Option<*mut u8>,
    /// Where the pidfd id's digits go (`NUMBER_ROOM` bytes), and the slot of
    /// `envp` that points to its entry, the last before the NULL: a child
    /// without an id writes NULL there, which ends the environment before
    /// it. `None` when there is no such variable.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pidfd_digits: Option<(*mut u8, *mut *const libc::c_char)>,
    /// (staged socket, target fd) pairs.
    sockets: Vec<(&'a OwnedFd, RawFd)>,
    own_group: bool,
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    filter: Option<Interception<'a>>,
    stdio: Option<Stdio<'a>>,
    /// The disposition every signal is reset to.
    default_action: libc::sigaction,
    empty_mask: libc::sigset_t,
}

impl<'a> Prepared<'a> {
    fn new(spec: &ChildSpec<'a>) -> io::Result<Prepared<'a>> {
        let cstring = |text: &OsStr| {
            CString::new(text.as_bytes()).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{:?} contains a NUL byte", text),
                )
            })
        };
        let Some(name) = spec.command.first() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no program to run",
            ));
        };
        let path_var = spec
            .env
            .iter()
            .rev()
            .find(|(key, _)| key == "PATH")
            .map(|(_, value)| value.as_os_str());
        let program = cstring(resolve(name, path_var)?.as_os_str())?;

        let argv_owned = spec
            .command
            .iter()
            .map(|a| cstring(a))
            .collect::<io::Result<Vec<_>>>()?;
        let mut argv: Vec<*const libc::c_char> = argv_owned.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        let shell = CString::new("/bin/sh").expect("no NUL byte");
        // Moving the CStrings into `Prepared` does not move their heap
        // buffers, so these pointers stay valid for its life.
        let shell_argv = [shell.as_ptr(), program.as_ptr()]
            .into_iter()
            .chain(argv[1..].iter().copied())
            .collect();

        let mut env_owned = Vec::with_capacity(spec.env.len());
        for (key, value) in spec.env {
            let mut entry = key.as_bytes().to_vec();
            entry.push(b'=');
            entry.extend_from_slice(value.as_bytes());
            env_owned.push(cstring(OsStr::from_bytes(&entry))?);
        }
        let mut envp: Vec<*const libc::c_char> = env_owned.iter().map(|e| e.as_ptr()).collect();
        let mut pid_entry = Vec::new();
        let pid_digits = spec
            .pid_variable
            .map(|name| number_entry(name, &mut pid_entry, &mut envp));
        let mut pidfd_entry = Vec::new();
        // Only Linux's pidfds have ids; elsewhere the variable is left out.
        let pidfd_variable = spec.pidfd_variable.filter(|_| cfg!(target_os = "linux"));
        let pidfd_digits = pidfd_variable.map(|name| {
            let digits = number_entry(name, &mut pidfd_entry, &mut envp);
            (digits, envp.len() - 1)
        });
        envp.push(std::ptr::null());
        // The slot's address, now that `envp` has its final length: moving
        // the Vec does not move its buffer.
        let pidfd_digits = pidfd_digits.map(|(digits, slot)| {
            // SAFETY: `slot` is an index within `envp`.
            (digits, unsafe { envp.as_mut_ptr().add(slot) })
        });

        let sockets = spec.sockets.iter().zip(spec.first_fd..).collect();
        // SAFETY: a zeroed sigaction is a valid value (no flags, empty mask);
        // setting its handler to SIG_DFL makes it "the default action".
        // sigemptyset writes only to the local sigset_t.
        let (default_action, empty_mask) = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = libc::SIG_DFL;
            let mut mask: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut mask);
            (action, mask)
        };
        Ok(Prepared {
            program,
            _argv: argv_owned,
            argv,
            shell,
            shell_argv,
            _env: env_owned,
            _pid_entry: pid_entry,
            _pidfd_entry: pidfd_entry,
            envp,
            pid_digits,
            pidfd_digits,
            sockets,
            own_group: spec.own_group,
            filter: spec.filter,
            stdio: spec.stdio,
            default_action,
            empty_mask,
        })
    }
}

/// Fills `entry` with `NAME=` and room for a number's digits
/// (`NUMBER_ROOM` bytes, zeroed), pushes a pointer to it onto `envp`, and
/// returns where the digits go. Moving `entry` later does not move its
/// heap buffer, so the pointers stay valid while it lives.
fn number_entry(name: &str, entry: &mut Vec<u8>, envp: &mut Vec<*const libc::c_char>) -> *mut u8 {
    entry.extend_from_slice(name.as_bytes());
    entry.push(b'=');
    let prefix = entry.len();
    entry.resize(prefix + NUMBER_ROOM, 0);
    let base = entry.as_mut_ptr();
    envp.push(base.cast_const().cast());
    // SAFETY: `prefix` is within the buffer's length.
    unsafe { base.add(prefix) }
}

/// Writes `value` in decimal at the start of `out`, followed by a NUL.
/// Allocation-free, for use between fork and exec; `out` must hold at least
/// 21 bytes (a u64's digits and the NUL).
fn write_decimal(value: u64, out: &mut [u8]) {
    let mut digits = [0u8; 20];
    let mut len = 0;
    let mut rest = value;
    loop {
        digits[len] = b'0' + (rest % 10) as u8;
        len += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for (slot, digit) in out.iter_mut().zip(digits[..len].iter().rev().chain(&[0])) {
        *slot = *digit;
    }
}

/// The child's side of [`spawn`]: between fork and exec, so only
/// async-signal-safe calls, no allocation, no panics. Never returns.
///
/// # Safety
/// Must run in a freshly forked child, with `prepared` built before the fork
/// and `report` the write end of the report pipe.
unsafe fn in_child(prepared: &Prepared<'_>, report: RawFd, parent: libc::pid_t) -> ! {
    // SAFETY: each call below is async-signal-safe and reads only memory
    // prepared before the fork (valid C strings, NULL-terminated pointer
    // arrays, initialised sigaction/sigset_t values) or writes into the pid
    // and pidfd id slots, which have NUMBER_ROOM bytes each, or the envp
    // slot of the pidfd id, all in this process's private copy.
    unsafe {
        // Its own process group, so that stopping it reaches its children
        // and the terminal's Ctrl-C reaches systemfd alone.
        if prepared.own_group && libc::setpgid(0, 0) != 0 {
            fail(report, Step::ProcessGroup);
        }
        #[cfg(target_os = "linux")]
        {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                fail(report, Step::ParentDeathSignal);
            }
            // systemfd may have died before the line above took effect.
            if libc::getppid() != parent {
                libc::_exit(127);
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = parent;
        // Handlers are reset by exec anyway; ignored signals are not.
        for signal in 1..32 {
            if signal != libc::SIGKILL && signal != libc::SIGSTOP {
                libc::sigaction(signal, &prepared.default_action, std::ptr::null_mut());
            }
        }
        if libc::sigprocmask(
            libc::SIG_SETMASK,
            &prepared.empty_mask,
            std::ptr::null_mut(),
        ) != 0
        {
            fail(report, Step::SignalMask);
        }
        for &(fd, target) in &prepared.sockets {
            if place(fd, target).is_err() {
                fail(report, Step::Sockets);
            }
        }
        if let Some(stdio) = prepared.stdio {
            let placed = [(stdio.input, 0), (stdio.output, 1), (stdio.output, 2)];
            if placed
                .into_iter()
                .any(|(fd, target)| place(fd, target).is_err())
            {
                fail(report, Step::Stdio);
            }
        }
        if let Some(digits) = prepared.pid_digits {
            let slot = std::slice::from_raw_parts_mut(digits, NUMBER_ROOM);
            write_decimal(u64::from(libc::getpid() as u32), slot);
        }
        // The id of a pidfd of this process, which exec keeps.
        #[cfg(target_os = "linux")]
        if let Some((digits, entry)) = prepared.pidfd_digits {
            match super::linux::pidfd::own_id() {
                Some(id) => write_decimal(id, std::slice::from_raw_parts_mut(digits, NUMBER_ROOM)),
                // The entry is the last: NULL in its place ends the
                // environment before it.
                None => *entry = std::ptr::null(),
            }
        }
        // Last: once installed, the filter sends this process's binds to
        // systemfd.
        #[cfg(target_os = "linux")]
        if let Some(interception) = prepared.filter {
            use std::os::fd::AsRawFd as _;
            let channel = interception.channel.as_raw_fd();
            if !super::linux::seccomp::install(interception.filter, channel) {
                fail(report, Step::Filter);
            }
        }
        libc::execve(
            prepared.program.as_ptr(),
            prepared.argv.as_ptr(),
            prepared.envp.as_ptr(),
        );
        if io::Error::last_os_error().raw_os_error() == Some(libc::ENOEXEC) {
            libc::execve(
                prepared.shell.as_ptr(),
                prepared.shell_argv.as_ptr(),
                prepared.envp.as_ptr(),
            );
        }
        fail(report, Step::Exec)
    }
}

/// Reports `step` and errno through the pipe and exits with 127.
fn fail(report: RawFd, step: Step) -> ! {
    let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
    let mut message = [0u8; REPORT_LEN];
    message[0] = step as u8;
    message[1..].copy_from_slice(&errno.to_ne_bytes());
    // SAFETY: `message` is valid for REPORT_LEN bytes; write and _exit are
    // async-signal-safe. A failed write cannot be reported: the parent then
    // sees end of file and the exit status.
    unsafe {
        libc::write(report, message.as_ptr().cast(), REPORT_LEN);
        libc::_exit(127)
    }
}

#[cfg(test)]
mod tests;
