//! What only Linux has: the child subreaper, and the process table as
//! `/proc` shows it. (Later Linux-only primitives belong here too.)

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

#[cfg(test)]
#[path = "linux/tests.rs"]
mod tests;
