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
use std::os::unix::fs::{FileExt as _, MetadataExt as _};

use crate::sys;

use super::proc::{
    fd_set_len, fd_set_members, is_epoll, polled_for_input, socket_inode, Blocked, EpollTarget,
    Found, Syscall, SyscallTable, Wait, POLLFD_SIZE,
};

/// The most `pollfd`s read from a process's memory: a listening server
/// polls a handful; a huge array is not worth reading in full.
const MAX_POLLFDS: u64 = 4096;

/// The passed sockets, by inode, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Watched {
    inodes: Vec<u64>,
}

impl Watched {
    /// The inodes of systemfd's own copies of the sockets: every process
    /// that inherited one holds the same open file, hence the same inode.
    pub fn new<'a>(sockets: impl IntoIterator<Item = BorrowedFd<'a>>) -> io::Result<Watched> {
        let inodes = sockets
            .into_iter()
            .map(|fd| Ok(File::from(fd.try_clone_to_owned()?).metadata()?.ino()))
            .collect::<io::Result<_>>()?;
        Ok(Watched { inodes })
    }

    pub fn is_empty(&self) -> bool {
        self.inodes.is_empty()
    }

    fn position(&self, inode: u64) -> Option<usize> {
        self.inodes.iter().position(|&i| i == inode)
    }
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
fn children(pid: u32) -> Option<Vec<u32>> {
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
mod tests {
    use super::*;
    use std::io::{BufRead as _, BufReader, Write as _};
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsFd as _;
    use std::os::unix::net::UnixStream;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    const DEADLINE: Duration = Duration::from_secs(20);

    /// Polls `look` until it returns something, within the deadline.
    fn eventually<T>(what: &str, look: impl Fn() -> Option<T>) -> T {
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(value) = look() {
                return value;
            }
            assert!(Instant::now() < end, "{what}: not within {DEADLINE:?}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn me() -> u32 {
        std::process::id()
    }

    fn listener() -> (TcpListener, Watched) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let watched = Watched::new([listener.as_fd()]).unwrap();
        (listener, watched)
    }

    /// This thread's id, from `/proc/thread-self` (`PID/task/TID`).
    fn thread_id() -> u32 {
        let link = fs::read_link("/proc/thread-self").unwrap();
        link.file_name().unwrap().to_str().unwrap().parse().unwrap()
    }

    /// What thread `tid` of this process is blocked in, once it is.
    fn blocked(tid: u32) -> Blocked {
        let path = format!("/proc/self/task/{tid}/syscall");
        eventually("the thread blocks", || {
            let call = read_syscall(std::path::Path::new(&path))?;
            Some(SyscallTable::NATIVE.unwrap().classify(&call))
        })
    }

    #[test]
    fn the_inode_is_the_same_through_every_descriptor() {
        let (listener, watched) = listener();
        let copy = listener.try_clone().unwrap();
        assert_eq!(Watched::new([copy.as_fd()]).unwrap(), watched);
        let link = fs::read_link(format!("/proc/self/fd/{}", {
            use std::os::fd::AsRawFd as _;
            copy.as_raw_fd()
        }))
        .unwrap();
        let inode = socket_inode(link.as_os_str().as_bytes()).unwrap();
        assert_eq!(watched.position(inode), Some(0));
    }

    #[test]
    fn a_socket_merely_held_is_not_waited_on() {
        let (_listener, watched) = listener();
        assert_eq!(find(me(), &watched), None);
        assert_eq!(find(me(), &Watched::default()), None);
    }

    #[test]
    fn a_thread_blocked_in_accept_is_found() {
        let (listener, watched) = listener();
        let port = listener.local_addr().unwrap().port();
        let accepter = std::thread::spawn(move || listener.accept().map(drop));
        let seen = eventually("accept is seen", || find(me(), &watched));
        assert_eq!(
            seen,
            Found {
                pid: me(),
                socket: 0,
                wait: Wait::Accept
            }
        );
        TcpStream::connect(("127.0.0.1", port)).unwrap();
        accepter.join().unwrap().unwrap();
    }

    #[test]
    fn a_thread_polling_the_socket_is_found_and_one_polling_elsewhere_is_not() {
        use rustix::event::{poll, PollFd, PollFlags};
        let (listener, watched) = listener();
        let (wake, woken) = UnixStream::pair().unwrap();
        let (tid_tx, tid_rx) = mpsc::channel();
        // First only the pipe, as a wrapper does while a compiler runs;
        // then the socket too, as a server does.
        let poller = std::thread::spawn(move || {
            tid_tx.send(thread_id()).unwrap();
            let mut fds = [PollFd::new(&woken, PollFlags::IN)];
            poll(&mut fds, None).unwrap();
            let mut byte = [0u8; 1];
            std::io::Read::read(&mut &woken, &mut byte).unwrap();
            let mut fds = [
                PollFd::new(&woken, PollFlags::IN),
                PollFd::new(&listener, PollFlags::IN),
            ];
            poll(&mut fds, None).unwrap();
        });
        let tid = tid_rx.recv().unwrap();
        assert!(matches!(blocked(tid), Blocked::Poll { count: 1, .. }));
        assert_eq!(find(me(), &watched), None);

        (&wake).write_all(b"x").unwrap();
        let seen = eventually("poll is seen", || find(me(), &watched));
        assert_eq!(seen.wait, Wait::Poll);
        (&wake).write_all(b"x").unwrap();
        poller.join().unwrap();
    }

    #[test]
    fn a_thread_receiving_on_a_datagram_socket_is_found() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let watched = Watched::new([socket.as_fd()]).unwrap();
        let addr = socket.local_addr().unwrap();
        let receiver = std::thread::spawn(move || socket.recv_from(&mut [0u8; 16]).map(drop));
        let seen = eventually("recvfrom is seen", || find(me(), &watched));
        assert_eq!(seen.wait, Wait::Receive);
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.send_to(b"x", addr).unwrap();
        receiver.join().unwrap().unwrap();
    }

    #[test]
    fn an_epoll_registration_for_input_is_found() {
        use rustix::event::epoll;
        let (listener, watched) = listener();
        let set = epoll::create(epoll::CreateFlags::CLOEXEC).unwrap();
        epoll::add(
            &set,
            &listener,
            epoll::EventData::new_u64(1),
            epoll::EventFlags::OUT,
        )
        .unwrap();
        assert_eq!(find(me(), &watched), None, "registered for output only");
        epoll::modify(
            &set,
            &listener,
            epoll::EventData::new_u64(1),
            epoll::EventFlags::IN | epoll::EventFlags::ET,
        )
        .unwrap();
        assert_eq!(
            find(me(), &watched),
            Some(Found {
                pid: me(),
                socket: 0,
                wait: Wait::Epoll
            })
        );
        epoll::delete(&set, &listener).unwrap();
        assert_eq!(find(me(), &watched), None);
    }

    #[test]
    fn a_grandchild_in_select_is_found_through_its_wrapper() {
        // sh stays in between (it has more to run after python), as
        // `cargo run` or `npm run` does.
        let script = "import os, select, socket\n\
            s = socket.socket()\n\
            s.bind(('127.0.0.1', 0))\n\
            s.listen()\n\
            print(os.getpid(), os.fstat(s.fileno()).st_ino, s.getsockname()[1], flush=True)\n\
            select.select([s], [], [])\n";
        let mut wrapper = std::process::Command::new("sh")
            .args(["-c", "python3 -c \"$0\"; exit 0", script])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(wrapper.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let numbers: Vec<u64> = line
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect();
        let [python, inode, port] = numbers[..] else {
            panic!("{line:?}");
        };
        let watched = Watched {
            inodes: vec![inode],
        };
        let seen = eventually("select is seen", || find(wrapper.id(), &watched));
        assert_eq!(
            seen,
            Found {
                pid: python as u32,
                socket: 0,
                wait: Wait::Select
            }
        );
        assert!(tree(wrapper.id()).contains(&(python as u32)));
        assert!(scan(wrapper.id()).contains(&(python as u32)));
        TcpStream::connect(("127.0.0.1", port as u16)).unwrap();
        assert!(wrapper.wait().unwrap().success());
    }
}
