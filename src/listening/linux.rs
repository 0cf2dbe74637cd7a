//! Linux: reads `/proc` to find a process of a child's tree that waits on
//! one of the passed sockets.
//!
//! Only plain file reads: `/proc/PID/stat` for the tree, `fd/` links and
//! `fdinfo/` for descriptors and epoll sets, `task/TID/syscall` and `mem`
//! for blocked threads. The kernel lets a process read these of its own
//! descendants (same user; Yama's `ptrace_scope=1` allows ancestors). Any
//! read that fails (the process exited meanwhile, or is not ours to read)
//! counts as "not seen waiting", never as an error: the next look tries again.

use std::fs::{self, File};
use std::io;
use std::os::fd::BorrowedFd;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::FileExt as _;

use crate::sys;

use super::proc::{
    fd_set_len, fd_set_members, is_epoll, polled_for_input, socket_inode, Blocked, EpollTarget,
    Found, Syscall, SyscallTable, Wait, POLLFD_SIZE,
};
use super::tables::{abstract_name, Endpoint};

/// The most `pollfd`s read from a process's memory: a listening server
/// polls a handful; a huge array is not worth reading in full.
const MAX_POLLFDS: u64 = 4096;

/// The passed sockets, by inode, in order, and the connections those that
/// accept connections give.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Watched {
    inodes: Vec<u64>,
    endpoints: Vec<Endpoint>,
}

impl Watched {
    /// The inodes of systemfd's own copies of the sockets: every process
    /// that inherited one holds the same open file, hence the same inode.
    /// And the addresses of the listeners among them (TCP, Unix stream and
    /// sequenced-packet), which the connections they accept bear.
    ///
    /// # Errors
    /// When a descriptor's inode, type or address cannot be read.
    pub fn new<'a>(sockets: impl IntoIterator<Item = BorrowedFd<'a>>) -> io::Result<Watched> {
        let mut watched = Watched::default();
        for fd in sockets {
            watched.inodes.push(sys::inode(fd)?);
            watched.endpoints.extend(endpoint(fd)?);
        }
        Ok(watched)
    }

    pub fn is_empty(&self) -> bool {
        self.inodes.is_empty()
    }

    /// Whether any of the sockets accepts connections (not only UDP and
    /// Unix datagram sockets).
    pub fn accepts(&self) -> bool {
        !self.endpoints.is_empty()
    }

    /// The listeners among the sockets.
    pub(super) fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    pub(super) fn position(&self, inode: u64) -> Option<usize> {
        self.inodes.iter().position(|&i| i == inode)
    }
}

/// The listener `fd` is, as the connections it accepts show it; `None`
/// for a socket that accepts none (UDP, Unix datagram, unnamed).
pub(super) fn endpoint(fd: BorrowedFd<'_>) -> io::Result<Option<Endpoint>> {
    let socket = socket2::SockRef::from(&fd);
    let kind = socket.r#type()?;
    let address = socket.local_addr()?;
    if let Some(address) = address.as_socket() {
        return Ok((kind == socket2::Type::STREAM).then_some(Endpoint::Tcp(address)));
    }
    if kind != socket2::Type::STREAM && kind != socket2::Type::SEQPACKET {
        return Ok(None);
    }
    if let Some(path) = address.as_pathname() {
        return Ok(Some(Endpoint::Unix(path.as_os_str().as_bytes().to_vec())));
    }
    Ok(address
        .as_abstract_namespace()
        .map(|name| Endpoint::Unix(abstract_name(name))))
}

/// Looks through the tree of `root` (its descendants, and the members of
/// its process group, which is its own) for a process that waits on one of
/// `watched`. The first found, nearest to `root` first.
pub fn find(root: u32, watched: &Watched) -> Option<Found> {
    if watched.is_empty() {
        return None;
    }
    tree(root).into_iter().find_map(|pid| inspect(pid, watched))
}

/// `root` and the live processes below it, breadth first.
///
/// Each thread's `children` file lists the processes it forked, so the walk
/// costs a few reads per process of the tree, however many processes the
/// machine runs; it misses a process whose parent has exited (it moved to
/// a subreaper or init). Without those files (a kernel built without
/// `CONFIG_PROC_CHILDREN`), every `/proc/PID/stat` is read instead, which
/// also finds such a process by its process group.
fn tree(root: u32) -> Vec<u32> {
    let mut members = vec![root];
    let mut index = 0;
    while index < members.len() {
        let Some(children) = children(members[index]) else {
            return if index == 0 { scan(root) } else { members };
        };
        for child in children {
            if !members.contains(&child) {
                members.push(child);
            }
        }
        index += 1;
    }
    members
}

/// The processes forked by any thread of `pid`; `None` if its threads'
/// `children` files cannot be read.
pub(super) fn children(pid: u32) -> Option<Vec<u32>> {
    let mut children = Vec::new();
    for task in fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        let Ok(list) = fs::read_to_string(task.path().join("children")) else {
            continue;
        };
        children.extend(
            list.split_ascii_whitespace()
                .filter_map(|p| p.parse::<u32>().ok()),
        );
    }
    // A live process has at least one thread whose file could be read.
    fs::metadata(format!("/proc/{pid}/task/{pid}/children")).ok()?;
    Some(children)
}

/// [`tree`] by reading every process's `stat`: descendants by parent pid,
/// and anything left in `root`'s process group (a daemonised grandchild has
/// another parent but keeps the group).
fn scan(root: u32) -> Vec<u32> {
    let processes: Vec<_> = sys::linux::processes()
        .into_iter()
        .filter(|p| !p.zombie && p.pid != root)
        .collect();
    let mut members = vec![root];
    members.extend(processes.iter().filter(|p| p.group == root).map(|p| p.pid));
    let mut index = 0;
    while index < members.len() {
        let parent = members[index];
        for child in processes.iter().filter(|p| p.parent == parent) {
            if !members.contains(&child.pid) {
                members.push(child.pid);
            }
        }
        index += 1;
    }
    members
}

/// Whether process `pid` waits on one of `watched`.
fn inspect(pid: u32, watched: &Watched) -> Option<Found> {
    let dir = format!("/proc/{pid}");
    // The passed sockets among its descriptors (fd, socket index), and its
    // epoll sets.
    let mut sockets: Vec<(i32, usize)> = Vec::new();
    let mut epolls: Vec<i32> = Vec::new();
    for entry in fs::read_dir(format!("{dir}/fd")).ok()?.flatten() {
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        let Ok(link) = fs::read_link(entry.path()) else {
            continue;
        };
        let link = link.as_os_str().as_bytes();
        if let Some(index) = socket_inode(link).and_then(|i| watched.position(i)) {
            sockets.push((fd, index));
        } else if is_epoll(link) {
            epolls.push(fd);
        }
    }
    let found = |socket, wait| Some(Found { pid, socket, wait });

    // An epoll set names its targets by inode, so it counts even if the
    // process has since closed its own descriptor of the socket.
    for fd in epolls {
        let Ok(fdinfo) = fs::read_to_string(format!("{dir}/fdinfo/{fd}")) else {
            continue;
        };
        let registered = EpollTarget::parse_all(&fdinfo)
            .filter(EpollTarget::wants_input)
            .find_map(|target| watched.position(target.inode));
        if let Some(socket) = registered {
            return found(socket, Wait::Epoll);
        }
    }

    // A blocked thread can only wait on a socket the process holds.
    if sockets.is_empty() {
        return None;
    }
    let table = SyscallTable::NATIVE?;
    let socket_at = |fd: i32| sockets.iter().find(|(f, _)| *f == fd).map(|&(_, i)| i);
    let mut memory: Option<File> = None;
    for task in fs::read_dir(format!("{dir}/task")).ok()?.flatten() {
        let path = task.path().join("syscall");
        let Some(call) = read_syscall(&path) else {
            continue;
        };
        let (socket, wait) = match table.classify(&call) {
            Blocked::Accept { fd } => (socket_at(fd), Wait::Accept),
            Blocked::Receive { fd } => (socket_at(fd), Wait::Receive),
            Blocked::Poll { fds, count } => {
                let len = count.min(MAX_POLLFDS) as usize * POLLFD_SIZE;
                let polled = read_memory(&dir, &mut memory, fds, len)
                    .and_then(|bytes| polled_for_input(&bytes).find_map(socket_at));
                (polled, Wait::Poll)
            }
            Blocked::Select { count, read } if read != 0 => {
                let selected = read_memory(&dir, &mut memory, read, fd_set_len(count))
                    .and_then(|bytes| fd_set_members(&bytes, count).find_map(socket_at));
                (selected, Wait::Select)
            }
            Blocked::Select { .. } | Blocked::Other => continue,
        };
        let Some(socket) = socket else {
            continue;
        };
        // The memory was read after the call was seen: had the thread
        // returned in between, the bytes could be anything. Still in the
        // same call, they are its arguments.
        if matches!(wait, Wait::Poll | Wait::Select) && read_syscall(&path) != Some(call) {
            continue;
        }
        return found(socket, wait);
    }
    None
}

fn read_syscall(path: &std::path::Path) -> Option<Syscall> {
    Syscall::parse(&fs::read_to_string(path).ok()?)
}

/// `len` bytes at `address` in the memory of the process whose `/proc`
/// directory is `dir`; the file is opened once per process.
fn read_memory(dir: &str, memory: &mut Option<File>, address: u64, len: usize) -> Option<Vec<u8>> {
    if memory.is_none() {
        *memory = Some(File::open(format!("{dir}/mem")).ok()?);
    }
    let mut bytes = vec![0u8; len];
    memory.as_ref()?.read_exact_at(&mut bytes, address).ok()?;
    Some(bytes)
}

#[cfg(test)]
mod tests;
