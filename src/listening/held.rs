//! Linux: whether the processes of a child's tree hold connections accepted
//! on the passed sockets, and whether they are held still (stopped) while
//! that is read.
//!
//! A process's descriptors (`/proc/PID/fd`, `socket:[INODE]` links) give the
//! sockets it holds; a duplicate of each (`pidfd_getfd`) tells which are
//! connections a passed listener accepted: they bear its address. What is read is only true while
//! the tree cannot accept another connection from the shared queue, so the
//! caller stops the tree first (SIGSTOP) and waits until [`settle`] says
//! every thread has stopped. A TCP connection that waits for its client's
//! next request (an idle keep-alive connection: `TCP_INFO` shows the answer
//! went out after the request came) is not counted.

use std::collections::HashSet;
use std::fs;
use std::os::unix::ffi::OsStrExt as _;
use std::time::{Duration, Instant};

use super::linux::{children, endpoint, Watched};
use super::proc::socket_inode;
use super::tables::{Endpoint, Run};
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
/// once), leaving out TCP connections that wait for their client's next
/// request. `None` when that cannot be told: a process whose descriptors
/// systemfd may not read (it changed its user).
///
/// Each socket a process holds is looked at through a duplicate
/// (`pidfd_getfd`): a connection, not a listener, whose own address is a
/// passed listener's. That costs a few system calls per socket held, where
/// reading `/proc/net/tcp` would cost a line per socket of the machine
/// (thousands in `TIME_WAIT` after a load).
pub fn held(pids: &[u32], watched: &Watched) -> Option<usize> {
    // The sockets counted already (one may be held by several processes).
    let mut seen = HashSet::new();
    let mut count = 0;
    for &pid in pids {
        let entries = match fs::read_dir(format!("/proc/{pid}/fd")) {
            Ok(entries) => entries,
            Err(_) if threads(pid).iter().all(|run| *run == Run::Gone) => continue,
            Err(_) => return None,
        };
        let Ok(process) = sys::linux::Process::open(pid) else {
            // Gone since: it holds nothing.
            continue;
        };
        for entry in entries.flatten() {
            // A descriptor closed meanwhile (the process is exiting) holds
            // nothing any more.
            let Ok(link) = fs::read_link(entry.path()) else {
                continue;
            };
            let Some(inode) = socket_inode(link.as_os_str().as_bytes()) else {
                continue;
            };
            let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            // The passed sockets themselves are no connection.
            if watched.position(inode).is_some() || !seen.insert(inode) {
                continue;
            }
            let socket = match process.descriptor(fd) {
                Ok(socket) => socket2::Socket::from(socket),
                // Closed since.
                Err(err) if err.raw_os_error() == Some(libc::EBADF) => continue,
                Err(_) => return None,
            };
            let Some(tcp) = accepted(&socket, watched) else {
                continue;
            };
            // An idle keep-alive connection (a browser keeps some open)
            // holds no request: stopping the server costs the client a
            // retry, which browsers make by themselves.
            if !(tcp && awaits_client(&socket)) {
                count += 1;
            }
        }
    }
    Some(count)
}

/// Whether `socket` is a connection accepted on one of `watched`'s
/// listeners: `Some(true)` for TCP, `Some(false)` for a Unix socket, `None`
/// for anything else (a listener, an outgoing connection, a pipe's end…).
fn accepted(socket: &socket2::Socket, watched: &Watched) -> Option<bool> {
    use std::os::fd::AsFd as _;
    if socket.is_listener().unwrap_or(true) || socket.peer_addr().is_err() {
        return None;
    }
    let own = endpoint(socket.as_fd()).ok()??;
    watched
        .endpoints()
        .iter()
        .any(|listener| listener.bears(&own))
        .then_some(matches!(own, Endpoint::Tcp(_)))
}

/// Whether the TCP connection `socket` waits for its client's next request
/// (see `TcpTraffic::awaits_client`); false when that cannot be read.
fn awaits_client(socket: &socket2::Socket) -> bool {
    use std::os::fd::AsFd as _;
    sys::linux::tcp_traffic(socket.as_fd()).is_ok_and(|traffic| traffic.awaits_client())
}

#[cfg(test)]
mod tests;
