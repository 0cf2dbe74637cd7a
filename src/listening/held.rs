//! Linux: whether the processes of a child's tree hold connections accepted
//! on the passed sockets, and whether they are held still (stopped) while
//! that is read.
//!
//! A process's descriptors (`/proc/PID/fd`, `socket:[INODE]` links) give the
//! sockets it holds; the tables of the network namespace the listeners live
//! in (`/proc/self/net/tcp`, `tcp6`, `unix`) tell which of those are
//! connections a passed listener accepted. What is read is only true while
//! the tree cannot accept another connection from the shared queue, so the
//! caller stops the tree first (SIGSTOP) and waits until [`settle`] says
//! every thread has stopped. A TCP connection that waits for its client's
//! next request (an idle keep-alive connection: `TCP_INFO` shows the answer
//! went out after the request came) is not counted.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::time::{Duration, Instant};

use super::linux::{children, Watched};
use super::proc::socket_inode;
use super::tables::{Endpoint, Run, TcpRow, UnixRow};
use crate::sys;

/// How long [`settle`] sleeps between two looks.
const SETTLE_POLL: Duration = Duration::from_micros(200);

/// `pids` and the processes they forked, and theirs: what a tree listed
/// before it was stopped has become (a process stopped forks nothing more).
pub fn with_descendants(pids: &[u32]) -> Vec<u32> {
    let mut all = pids.to_vec();
    let mut index = 0;
    while index < all.len() {
        for child in children(all[index]).unwrap_or_default() {
            if !all.contains(&child) {
                all.push(child);
            }
        }
        index += 1;
    }
    all
}

/// Waits up to `limit` for every thread of `pids` to be stopped or gone.
/// Whether they all are: a thread on its way to a stop may still finish an
/// `accept`, so nothing a process holds counts until then.
pub fn settle(pids: &[u32], limit: Duration) -> bool {
    let end = Instant::now() + limit;
    loop {
        if pids
            .iter()
            .all(|&pid| threads(pid).iter().all(|run| *run != Run::Going))
        {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(SETTLE_POLL);
    }
}

/// Whether a thread of `pids` is stopped (by a debugger, or SIGTTIN from
/// the terminal): such a tree is not systemfd's to stop and continue.
pub fn any_stopped(pids: &[u32]) -> bool {
    pids.iter().any(|&pid| threads(pid).contains(&Run::Stopped))
}

/// The state of each thread of `pid`; none once it is gone.
fn threads(pid: u32) -> Vec<Run> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| Run::parse(&fs::read_to_string(task.path().join("stat")).ok()?))
        .collect()
}

/// How many connections accepted on one of `watched`'s listeners the
/// processes `pids` hold between them (one held by two processes counts
/// once). `None` when that cannot be told: a process whose descriptors
/// systemfd may not read (it changed its user), or a table it cannot read.
pub fn held(pids: &[u32], watched: &Watched) -> Option<usize> {
    // Each socket, and one process and descriptor that hold it.
    let mut sockets = HashMap::new();
    for &pid in pids {
        let entries = match fs::read_dir(format!("/proc/{pid}/fd")) {
            Ok(entries) => entries,
            Err(_) if threads(pid).iter().all(|run| *run == Run::Gone) => continue,
            Err(_) => return None,
        };
        for entry in entries.flatten() {
            // A descriptor closed meanwhile (the process is exiting) holds
            // nothing any more.
            let Ok(link) = fs::read_link(entry.path()) else {
                continue;
            };
            let inode = socket_inode(link.as_os_str().as_bytes());
            let fd = entry.file_name().to_str().and_then(|n| n.parse().ok());
            // The passed sockets themselves are no connection.
            if let Some(inode) = inode.filter(|&i| watched.position(i).is_none()) {
                sockets.insert(inode, (pid, fd.unwrap_or(-1)));
            }
        }
    }
    if sockets.is_empty() {
        return Some(0);
    }
    let mut count = 0;
    let mut take = |inode: u64, tcp: bool| {
        if let Some((pid, fd)) = sockets.remove(&inode) {
            // An idle keep-alive connection (a browser keeps some open) holds
            // no request: stopping the server costs the client a retry,
            // which browsers make by themselves.
            if !(tcp && awaits_client(pid, fd)) {
                count += 1;
            }
        }
    };
    let tcp: Vec<_> = watched
        .endpoints()
        .iter()
        .filter_map(|endpoint| match endpoint {
            Endpoint::Tcp(address) => Some(*address),
            Endpoint::Unix(_) => None,
        })
        .collect();
    let unix: Vec<&[u8]> = watched
        .endpoints()
        .iter()
        .filter_map(|endpoint| match endpoint {
            Endpoint::Unix(name) => Some(name.as_slice()),
            Endpoint::Tcp(_) => None,
        })
        .collect();
    if !tcp.is_empty() {
        for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
            let text = match fs::read_to_string(table) {
                Ok(text) => text,
                // No IPv6 in this kernel.
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(_) => return None,
            };
            text.lines()
                .filter_map(TcpRow::parse)
                .filter(|row| tcp.iter().any(|listener| row.accepted_on(listener)))
                .for_each(|row| take(row.inode, true));
        }
    }
    if !unix.is_empty() {
        let bytes = fs::read("/proc/self/net/unix").ok()?;
        bytes
            .split(|&b| b == b'\n')
            .filter_map(UnixRow::parse)
            .filter(|row| unix.iter().any(|name| row.accepted_on(name)))
            .for_each(|row| take(row.inode, false));
    }
    Some(count)
}

/// Whether the TCP connection at descriptor `fd` of `pid` waits for its
/// client's next request (see `TcpTraffic::awaits_client`); false when that
/// cannot be read.
fn awaits_client(pid: u32, fd: i32) -> bool {
    use std::os::fd::AsFd as _;
    sys::linux::Process::open(pid)
        .and_then(|process| process.descriptor(fd))
        .and_then(|socket| sys::linux::tcp_traffic(socket.as_fd()))
        .is_ok_and(|traffic| traffic.awaits_client())
}

#[cfg(test)]
mod tests;
