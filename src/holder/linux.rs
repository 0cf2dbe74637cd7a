//! Linux: who holds an address, read from `/proc`. The socket tables give
//! the socket in the way and the user that made it; the descriptors of
//! that user's processes (`/proc/PID/fd`, `socket:[INODE]` links) give the
//! process, looked at one process after another until one holds it or the
//! time runs out.

use std::fs;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt as _;
use std::time::Instant;

use super::found::{Holder, Protocol};
use super::table::{self, Blocker, Row};
use crate::sys;

/// The longest command line shown, in characters.
const MAX_COMMAND: usize = 120;

/// Who keeps `addr` from being bound for `protocol`, giving up the search
/// at `deadline`: `None` when the tables show nothing in the way, or could
/// not be read in time.
pub fn find(protocol: Protocol, addr: &SocketAddr, deadline: Instant) -> Option<Holder> {
    let rows = rows_in_the_way(protocol, addr, deadline)?;
    let (inode, uid) = match table::blocker(rows, addr)? {
        Blocker::TimeWait => return Some(Holder::TimeWait),
        Blocker::Socket { inode, uid } => (inode, uid),
    };
    let me = sys::user_id();
    // Another user's processes cannot be looked into (root's can all be).
    if uid != me && me != 0 {
        let name = fs::read_to_string("/etc/passwd")
            .ok()
            .and_then(|passwd| table::user_name(&passwd, uid).map(str::to_owned));
        return Some(Holder::OtherUser { uid, name });
    }
    let link = format!("socket:[{inode}]");
    let Ok(entries) = fs::read_dir("/proc") else {
        return Some(Holder::Unseen { timed_out: false });
    };
    let mut processes: Vec<(u32, fs::DirEntry)> = entries
        .flatten()
        .filter_map(|entry| Some((entry.file_name().to_str()?.parse().ok()?, entry)))
        .collect();
    // The newest first: the holder is most likely a server started lately
    // (the old one left running in another terminal), rarely a process as
    // old as the system.
    processes.sort_unstable_by_key(|(pid, _)| std::cmp::Reverse(*pid));
    for (pid, entry) in processes {
        if Instant::now() >= deadline {
            return Some(Holder::Unseen { timed_out: true });
        }
        // Only the socket's user's processes, where the user is not root
        // (who may look into every process, the holder's own may have
        // changed its user since it made the socket).
        if me != 0 && entry.metadata().map(|m| m.uid()).ok() != Some(uid) {
            continue;
        }
        if holds(pid, &link, deadline) {
            let command = fs::read(format!("/proc/{pid}/cmdline"))
                .ok()
                .and_then(|raw| table::command_line(&raw, MAX_COMMAND));
            return Some(Holder::Process { pid, command });
        }
    }
    Some(Holder::Unseen {
        timed_out: Instant::now() >= deadline,
    })
}

/// The rows of the socket tables for `protocol` that overlap `addr`;
/// `None` when they cannot all be read by `deadline`.
///
/// The kernel lists a TCP table's listeners first (its listening hash),
/// then the rest, which after a load holds tens of thousands of
/// connections in `TIME_WAIT` whose text takes it tens of milliseconds to
/// write. So the tables are read a row at a time, the listeners of both
/// first, and a listener in the way ends the reading: the common case
/// costs a few rows whatever the load.
fn rows_in_the_way(protocol: Protocol, addr: &SocketAddr, deadline: Instant) -> Option<Vec<Row>> {
    let paths: &[&str] = match protocol {
        Protocol::Tcp => &["/proc/net/tcp", "/proc/net/tcp6"],
        Protocol::Udp => &["/proc/net/udp", "/proc/net/udp6"],
    };
    // A kernel without IPv6 has no tcp6.
    let mut tables: Vec<_> = paths
        .iter()
        .filter_map(|path| fs::File::open(path).ok())
        .map(|file| {
            BufReader::new(file)
                .lines()
                .map_while(Result::ok)
                .filter_map(|line| Row::parse(&line))
        })
        .collect();
    let mut found = Vec::new();
    for table in &mut tables {
        for row in table.by_ref() {
            if !row.listens() {
                // The listeners are behind; this row is of the rest.
                if row.overlaps(addr) {
                    found.push(row);
                }
                break;
            }
            if row.overlaps(addr) {
                return Some(vec![row]);
            }
        }
    }
    for table in &mut tables {
        for (count, row) in table.enumerate() {
            if count % 256 == 0 && Instant::now() >= deadline {
                return None;
            }
            if row.overlaps(addr) {
                found.push(row);
            }
        }
    }
    Some(found)
}

/// Whether a descriptor of `pid` is the socket whose link is `link`.
fn holds(pid: u32, link: &str, deadline: Instant) -> bool {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    for (count, fd) in fds.flatten().enumerate() {
        // A process with thousands of descriptors must not overrun the
        // time given.
        if count % 64 == 63 && Instant::now() >= deadline {
            return false;
        }
        if fs::read_link(fd.path()).is_ok_and(|target| target.as_os_str() == link) {
            return true;
        }
    }
    false
}
