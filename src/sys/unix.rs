//! Unix primitives: put sockets at fixed descriptors, and start, signal and
//! reap children that receive them.
//!
//! Only the system calls are here; exec mode (`crate::exec`) and supervise
//! mode (`crate::supervise`) decide what to do with them.

use std::ffi::{CString, OsStr, OsString};
use std::io::{self, Read as _};
use std::os::fd::{AsRawFd as _, BorrowedFd, FromRawFd as _, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;

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

// Children are forked and exec'd here rather than by std's Command, because
// a child may need its own pid in a variable (`LISTEN_PID`), known only after
// the fork.
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
}

impl Step {
    fn from_byte(byte: u8) -> Option<Step> {
        [
            Step::ProcessGroup,
            Step::ParentDeathSignal,
            Step::SignalMask,
            Step::Sockets,
            Step::Exec,
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
        }
    }
}

/// Starts a child in its own process group, with the sockets at their
/// fds, its pid in `pid_variable` (if set), all signal
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

    // No signal handler may run in the child before its dispositions are
    // reset, so every signal is blocked across the fork; the child starts
    // with the blocked mask and clears it itself.
    // SAFETY: sigfillset and pthread_sigmask write only to the sigset_t
    // values, which are valid, owned locals.
    let old_mask = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        old
    };
    // SAFETY: fork is safe to call in a multithreaded process as long as the
    // child makes only async-signal-safe calls until exec, which `in_child`
    // guarantees: every buffer it uses was built above.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: we are the child of the fork just made; `prepared` and the
        // report pipe's write end are this process's private copies.
        unsafe { in_child(&prepared, report_write.as_raw_fd(), parent) }
    }
    let fork_error = io::Error::last_os_error();
    // SAFETY: restores the mask saved above; `old_mask` is a valid sigset_t.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old_mask, std::ptr::null_mut()) };
    if pid < 0 {
        return Err(fork_error);
    }
    drop(report_write);

    // End of file without a report: exec closed the pipe (close-on-exec).
    let mut report = Vec::with_capacity(REPORT_LEN);
    let read = std::fs::File::from(report_read).read_to_end(&mut report);
    if report.len() < REPORT_LEN {
        read?;
        return Ok(pid as u32);
    }
    // The child has exited or is about to: reap it.
    let _ = wait(pid as u32);
    let step = Step::from_byte(report[0]).unwrap_or(Step::Exec);
    let errno = i32::from_ne_bytes(report[1..REPORT_LEN].try_into().expect("four bytes"));
    let cause = io::Error::from_raw_os_error(errno);
    Err(match step {
        Step::Exec => cause,
        other => io::Error::new(cause.kind(), format!("{}: {cause}", other.describe())),
    })
}

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

/// Waits for the child `pid` to exit and reaps it.
pub fn wait(pid: u32) -> io::Result<std::process::ExitStatus> {
    use std::os::unix::process::ExitStatusExt as _;
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid, writable int for waitpid's report.
        let rv = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, 0) };
        if rv >= 0 {
            return Ok(std::process::ExitStatus::from_raw(status));
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
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

/// Makes systemfd the reaper of its orphaned descendants (Linux): a process
/// that leaves its parent behind (a daemon, a wrapper's background job whose
/// wrapper exited) becomes systemfd's child instead of init's, so it can
/// still be found and stopped.
#[cfg(target_os = "linux")]
pub fn become_subreaper() -> io::Result<()> {
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) sets a flag of this process and
    // reads no memory.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A process as `/proc/PID/stat` describes it: its parent, its group, and
/// whether it is a zombie.
#[cfg(target_os = "linux")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    pub parent: u32,
    pub group: u32,
    /// Exited, not reaped yet (state `Z` or `X`).
    pub zombie: bool,
}

/// Every process this user can see, with its parent and group (Linux, from
/// `/proc`). Processes that exit during the scan are left out.
#[cfg(target_os = "linux")]
pub fn processes() -> Vec<ProcessInfo> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            parse_stat(pid, &stat)
        })
        .collect()
}

/// `PID (COMM) STATE PPID PGRP …`; COMM may hold spaces and parentheses,
/// so the fields are counted from the last `)`.
#[cfg(target_os = "linux")]
fn parse_stat(pid: u32, stat: &str) -> Option<ProcessInfo> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let zombie = matches!(fields.next()?, "Z" | "X");
    let parent = fields.next()?.parse().ok()?;
    let group = fields.next()?.parse().ok()?;
    Some(ProcessInfo {
        pid,
        parent,
        group,
        zombie,
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

/// Room for any pid's digits and the final NUL, after `NAME=`.
const PID_ROOM: usize = 20;

/// Everything the child touches, built before the fork: C strings, the
/// pointer arrays execve takes, and the slot the child writes its pid into.
struct Prepared<'a> {
    program: CString,
    _argv: Vec<CString>,
    argv: Vec<*const libc::c_char>,
    _env: Vec<CString>,
    /// Owns the `NAME=…` entry of the pid variable; `envp` and `pid_digits`
    /// point into it.
    _pid_entry: Vec<u8>,
    envp: Vec<*const libc::c_char>,
    /// Where the digits go (`PID_ROOM` bytes), when there is a pid variable.
    pid_digits: Option<*mut u8>,
    /// (staged socket, target fd) pairs.
    sockets: Vec<(&'a OwnedFd, RawFd)>,
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

        let mut env_owned = Vec::with_capacity(spec.env.len());
        for (key, value) in spec.env {
            let mut entry = key.as_bytes().to_vec();
            entry.push(b'=');
            entry.extend_from_slice(value.as_bytes());
            env_owned.push(cstring(OsStr::from_bytes(&entry))?);
        }
        let mut envp: Vec<*const libc::c_char> = env_owned.iter().map(|e| e.as_ptr()).collect();
        let mut pid_entry = Vec::new();
        let mut pid_digits = None;
        if let Some(name) = spec.pid_variable {
            pid_entry.extend_from_slice(name.as_bytes());
            pid_entry.push(b'=');
            let prefix = pid_entry.len();
            pid_entry.resize(prefix + PID_ROOM + 1, 0);
            // Moving the Vec below does not move its heap buffer, so these
            // pointers stay valid for the life of `Prepared`.
            let base = pid_entry.as_mut_ptr();
            envp.push(base.cast_const().cast());
            // SAFETY: `prefix` is within the buffer's length.
            pid_digits = Some(unsafe { base.add(prefix) });
        }
        envp.push(std::ptr::null());

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
            _env: env_owned,
            _pid_entry: pid_entry,
            envp,
            pid_digits,
            sockets,
            default_action,
            empty_mask,
        })
    }
}

/// Writes `value` in decimal at the start of `out`, followed by a NUL.
/// Allocation-free, for use between fork and exec; `out` must hold at least
/// 11 bytes (a u32's digits and the NUL).
fn write_decimal(value: u32, out: &mut [u8]) {
    let mut digits = [0u8; 10];
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
    // slot, which has PID_ROOM bytes and is this process's private copy.
    unsafe {
        // Its own process group, so that stopping it reaches its children
        // and the terminal's Ctrl-C reaches systemfd alone.
        if libc::setpgid(0, 0) != 0 {
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
        if let Some(digits) = prepared.pid_digits {
            let slot = std::slice::from_raw_parts_mut(digits, PID_ROOM);
            write_decimal(libc::getpid() as u32, slot);
        }
        libc::execve(
            prepared.program.as_ptr(),
            prepared.argv.as_ptr(),
            prepared.envp.as_ptr(),
        );
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
mod tests {
    use super::*;

    #[test]
    fn decimals_are_written_with_a_nul() {
        for (value, text) in [
            (0, "0"),
            (7, "7"),
            (4194304, "4194304"),
            (u32::MAX, "4294967295"),
        ] {
            let mut out = [b'x'; PID_ROOM];
            write_decimal(value, &mut out);
            let end = out.iter().position(|&b| b == 0).unwrap();
            assert_eq!(&out[..end], text.as_bytes());
            assert!(
                out[end + 1..].iter().all(|&b| b == b'x'),
                "wrote past the NUL"
            );
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn stat_lines_are_read_from_the_last_parenthesis() {
        let line = "42 (a (b) c) S 7 42 42 34816 42 4194560 1 0 0 0";
        assert_eq!(
            parse_stat(42, line),
            Some(ProcessInfo {
                pid: 42,
                parent: 7,
                group: 42,
                zombie: false,
            })
        );
        let stat = "4242 (cargo run) S 4200 4242 4200 34816 4242 4194560 1 0 0 0";
        let info = parse_stat(4242, stat).unwrap();
        assert_eq!((info.parent, info.group, info.zombie), (4200, 4242, false));
        // A command name may hold ") " itself; the last ")" ends it.
        let odd = "77 (a) Z 1 (b)) Z 70 71 0 0";
        let info = parse_stat(77, odd).unwrap();
        assert_eq!((info.parent, info.group, info.zombie), (70, 71, true));
        assert_eq!(parse_stat(12, "12 (x) S"), None);
        assert_eq!(parse_stat(0, ""), None);
        assert_eq!(parse_stat(1, "1 (init"), None);
        let me = processes()
            .into_iter()
            .find(|p| p.pid == std::process::id())
            .expect("this process is listed");
        // SAFETY: getppid and getpgrp read no memory.
        let (parent, group) = unsafe { (libc::getppid(), libc::getpgrp()) };
        assert_eq!((me.parent, me.group), (parent as u32, group as u32));
    }

    #[test]
    fn programs_are_looked_up_like_execvp() {
        let path = OsStr::new("/nonexistent:/bin:/usr/bin");
        let sh = resolve(OsStr::new("sh"), Some(path)).unwrap();
        assert!(sh.ends_with("sh") && sh.is_absolute(), "{}", sh.display());
        assert_eq!(
            resolve(OsStr::new("./x"), None).unwrap(),
            PathBuf::from("./x")
        );
        let missing = resolve(OsStr::new("systemfd-no-such-program"), Some(path)).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        assert!(resolve(OsStr::new(""), Some(path)).is_err());

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("plain"), "").unwrap();
        let err = resolve(OsStr::new("plain"), Some(dir.path().as_os_str())).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
    }

    fn spec<'a>(command: &'a [OsString], env: &'a [(OsString, OsString)]) -> ChildSpec<'a> {
        ChildSpec {
            command,
            env,
            sockets: &[],
            first_fd: 3,
            pid_variable: Some("LISTEN_PID"),
        }
    }

    #[test]
    fn a_program_that_cannot_be_executed_is_reported_by_the_child() {
        // Found (it has a slash), so only execve can tell: through the pipe.
        let command = [OsString::from("/dev/null")];
        let err = spawn(&spec(&command, &[])).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{err}");
        let command = [OsString::from("/nonexistent/program")];
        let err = spawn(&spec(&command, &[])).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
    }

    #[test]
    fn a_child_runs_in_its_own_process_group_and_reports_its_status() {
        use std::os::unix::process::ExitStatusExt as _;
        let command = ["/bin/sh", "-c", "exit 3"].map(OsString::from);
        let pid = spawn(&spec(&command, &[])).unwrap();
        assert_eq!(wait(pid).unwrap().code(), Some(3));

        let command = ["/bin/sh", "-c", "sleep 60"].map(OsString::from);
        let pid = spawn(&spec(&command, &[])).unwrap();
        // SAFETY: getpgid reads no memory.
        let group = unsafe { libc::getpgid(pid as libc::pid_t) };
        assert_eq!(group, pid as libc::pid_t);
        signal_group(pid, libc::SIGTERM).unwrap();
        assert_eq!(wait(pid).unwrap().signal(), Some(libc::SIGTERM));
        // Gone: signalling it again is not an error.
        signal_group(pid, libc::SIGTERM).unwrap();
    }
}
