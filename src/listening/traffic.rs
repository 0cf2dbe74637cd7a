//! Linux: the connections of the passed listeners, counted in the
//! kernel's socket tables (`--idle-stop`).
//!
//! `/proc/net/tcp`, `tcp6` and `unix` list every socket of systemfd's
//! network namespace, the connections in a listener's backlog included
//! (they have no inode yet). Reading them costs a line per socket of the
//! machine, which is why they are read at most every
//! `IDLE_LOOK_MIN` (supervise mode's state), not at every look.

use std::collections::HashSet;
use std::fs;
use std::io::{self, BufRead as _};
use std::os::unix::ffi::OsStrExt as _;

use super::linux::Watched;
use super::net::{count, TcpRow, UnixRow};
use super::proc::socket_inode;

/// How many connections are open to, or wait on, `watched`'s listeners
/// (see [`count`]), left out systemfd's own (the error page's).
///
/// # Errors
/// When a table cannot be read (`/proc` not mounted); a table the kernel
/// lacks (`tcp6` without IPv6) counts as empty.
pub fn connections(watched: &Watched) -> io::Result<usize> {
    let own = own_sockets();
    let mut tcp = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        match fs::File::open(table) {
            Ok(file) => {
                for line in io::BufReader::new(file).lines() {
                    tcp.extend(TcpRow::parse(&line?));
                }
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
    }
    let mut unix = Vec::new();
    let mut reader = io::BufReader::new(fs::File::open("/proc/net/unix")?);
    let mut line = Vec::new();
    while reader.read_until(b'\n', &mut line)? > 0 {
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        unix.extend(UnixRow::parse(&line));
        line.clear();
    }
    Ok(count(watched.endpoints(), &own, tcp, unix))
}

/// The inodes of the sockets systemfd itself holds.
fn own_sockets() -> HashSet<u64> {
    let Ok(entries) = fs::read_dir("/proc/self/fd") else {
        return HashSet::new();
    };
    entries
        .flatten()
        .filter_map(|entry| fs::read_link(entry.path()).ok())
        .filter_map(|link| socket_inode(link.as_os_str().as_bytes()))
        .collect()
}
