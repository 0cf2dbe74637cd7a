//! Processes seen from outside: signals sent to them, and on Linux what
//! `/proc` tells of them (whether they live, their parent and group, their
//! sockets).

pub use rustix::process::Signal;
use rustix::process::{kill_process, kill_process_group, Pid};

fn pid(pid: u32) -> Pid {
    i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .unwrap_or_else(|| panic!("{pid} is not a pid"))
}

/// Sends `signal` to process `target`.
pub fn signal(target: u32, signal: Signal) {
    kill_process(pid(target), signal).unwrap_or_else(|e| panic!("kill {signal:?} {target}: {e}"));
}

/// Sends `signal` to every process in process group `group`, as a terminal
/// does for Ctrl-C.
pub fn signal_group(group: u32, signal: Signal) {
    kill_process_group(pid(group), signal)
        .unwrap_or_else(|e| panic!("kill {signal:?} -{group}: {e}"));
}

/// The fields of `/proc/PID/stat` after `(COMM)`: state, ppid, pgrp, …;
/// `None` once the process is reaped.
#[cfg(target_os = "linux")]
fn stat(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // COMM may hold spaces and parentheses.
    let after_comm = &stat[stat.rfind(')')? + 1..];
    Some(after_comm.split_whitespace().map(str::to_owned).collect())
}

/// Whether `pid` runs (a zombie counts as gone).
#[cfg(target_os = "linux")]
pub fn alive(pid: u32) -> bool {
    stat(pid).is_some_and(|fields| fields[0] != "Z")
}

/// The parent of process `pid`.
#[cfg(target_os = "linux")]
pub fn parent_of(pid: u32) -> u32 {
    let fields = stat(pid).unwrap_or_else(|| panic!("no process {pid}"));
    fields[1].parse().unwrap()
}

/// The live processes of process group `group`.
#[cfg(target_os = "linux")]
pub fn group_members(group: u32) -> Vec<u32> {
    let group = group.to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| stat(pid).is_some_and(|f| f[0] != "Z" && f[2] == group))
        .collect()
}

/// How many of process `pid`'s descriptors are sockets.
#[cfg(target_os = "linux")]
pub fn sockets_of(pid: u32) -> usize {
    sockets_held(pid).expect("read /proc/PID/fd")
}

/// How many of process `pid`'s descriptors are sockets; `None` once it is
/// gone.
#[cfg(target_os = "linux")]
pub fn sockets_held(pid: u32) -> Option<usize> {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(
        fds.filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
            .filter(|target| target.to_string_lossy().starts_with("socket:"))
            .count(),
    )
}

/// The live children of process `pid`, in the order the kernel lists them
/// (`/proc/PID/task/*/children`); none once it is gone.
#[cfg(target_os = "linux")]
pub fn children_of(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|child| child.parse().ok())
                .collect::<Vec<u32>>()
        })
        .filter(|&child| alive(child))
        .collect()
}
