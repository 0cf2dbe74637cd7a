//! What only Linux has: the child subreaper, the process table as `/proc`
//! shows it, and seccomp user notification (`linux/seccomp.rs`).

#[path = "linux/seccomp.rs"]
pub mod seccomp;

use std::io;

/// Makes systemfd the reaper of its orphaned descendants (Linux): a process
/// that leaves its parent behind (a daemon, a wrapper's background job whose
/// wrapper exited) becomes systemfd's child instead of init's, so it can
/// still be found and stopped.
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

/// Signals blocked in the calling thread (and the threads it starts
/// after), to be taken one at a time with [`SignalSet::wait`].
pub struct SignalSet(libc::sigset_t);

impl SignalSet {
    /// Blocks `signals` in the calling thread. Children started by
    /// `sys::spawn` clear their mask, so they receive them as usual.
    ///
    /// # Errors
    /// When the mask cannot be changed.
    pub fn block(signals: &[i32]) -> io::Result<SignalSet> {
        // SAFETY: sigemptyset, sigaddset and pthread_sigmask write only to
        // the local sigset_t; an unknown signal number is refused by
        // sigaddset, checked below.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for &signal in signals {
                if libc::sigaddset(&mut set, signal) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            let rv = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            if rv != 0 {
                return Err(io::Error::from_raw_os_error(rv));
            }
            Ok(SignalSet(set))
        }
    }

    /// Waits for one of the signals. Returns it, and whether the kernel
    /// sent it (a terminal's Ctrl-C or hang-up, a child's exit) rather than
    /// a process (kill).
    ///
    /// # Errors
    /// When sigwaitinfo fails for another reason than being interrupted.
    pub fn wait(&self) -> io::Result<(i32, bool)> {
        loop {
            // SAFETY: a zeroed siginfo_t is valid for sigwaitinfo to fill;
            // the set is a valid sigset_t.
            let (signal, info) = unsafe {
                let mut info: libc::siginfo_t = std::mem::zeroed();
                (libc::sigwaitinfo(&self.0, &mut info), info)
            };
            if signal > 0 {
                return Ok((signal, info.si_code == libc::SI_KERNEL));
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}

#[cfg(test)]
#[path = "linux/tests.rs"]
mod tests;
