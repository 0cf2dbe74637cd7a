//! fork(2) with every signal blocked across it, for the children that
//! systemfd starts itself, and the wait that reaps one.

use std::io;

/// Forks; the child runs `child`, and the parent gets the child's pid.
///
/// Every signal is blocked across the fork, so no handler of systemfd's can
/// run in the child before it resets them; the child starts with every
/// signal blocked, and the parent's mask is restored.
///
/// # Errors
/// When fork fails (too many processes, no memory).
///
/// # Safety
/// `child` runs in the forked child of a process that may have other
/// threads: it may make only async-signal-safe calls and must not allocate.
/// It should exec or `_exit`; if it returns, the child exits with 127.
pub unsafe fn fork(child: impl FnOnce()) -> io::Result<u32> {
    // SAFETY: sigfillset and pthread_sigmask write only to the sigset_t
    // values, which are valid, owned locals.
    let old_mask = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        old
    };
    // SAFETY: fork is safe in a multithreaded process as long as the child
    // keeps to async-signal-safe calls until it execs or exits, which the
    // caller guarantees for `child`.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        child();
        // SAFETY: _exit is async-signal-safe and ends the child at once.
        unsafe { libc::_exit(127) };
    }
    let fork_error = io::Error::last_os_error();
    // SAFETY: restores the mask saved above; `old_mask` is a valid sigset_t.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old_mask, std::ptr::null_mut()) };
    if pid < 0 {
        return Err(fork_error);
    }
    Ok(pid as u32)
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
