//! Linux: who holds an address, read from `/proc`. The socket tables give
//! the socket in the way and the user that made it; the descriptors of
//! that user's processes (`/proc/PID/fd`, `socket:[INODE]` links) give the
//! process, looked at one process after another until one holds it or the
//! time runs out.

use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt as _;
use std::time::Instant;

use super::found::{Holder, Protocol};
use super::table::{self, Blocker, Row};
use crate::sys;

/// The longest command line shown, in characters.
const MAX_COMMAND: usize = 120;

/// Who keeps `addr` from being bound for `protocol`, giving up the search
/// for the process at `deadline`.
pub fn find(protocol: Protocol, addr: &SocketAddr, deadline: Instant) -> Option<Holder> {
    let tables: &[&str] = match protocol {
        Protocol::Tcp => &["/proc/net/tcp", "/proc/net/tcp6"],
        Protocol::Udp => &["/proc/net/udp", "/proc/net/udp6"],
    };
    let mut rows = Vec::new();
    for path in tables {
        // A kernel without IPv6 has no tcp6.
        if let Ok(text) = fs::read_to_string(path) {
            rows.extend(text.lines().filter_map(Row::parse));
        }
    }
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
