//! What `/proc` shows of a process waiting for connections, parsed: the
//! links of its descriptors, an epoll set's `fdinfo`, a thread's `syscall`
//! line, and the `pollfd` arrays and `fd_set`s read from its memory.

// The parsing is checked on every platform but needed only where `/proc`
// is read.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

/// How a process was seen waiting on a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// The socket is registered for input in an epoll set.
    Epoll,
    /// A thread is blocked in `accept` or `accept4` on it.
    Accept,
    /// A thread is blocked in `poll` or `ppoll` with it among the fds.
    Poll,
    /// A thread is blocked in `select` or `pselect6` with it among the fds.
    Select,
    /// A thread is blocked receiving from it (a datagram socket).
    Receive,
}

/// A process of the tree that waits on one of the sockets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    /// The waiting process (the child itself or one of its descendants).
    pub pid: u32,
    /// Which of the passed sockets, by position (0 is the one at fd 3).
    pub socket: usize,
    pub wait: Wait,
}

/// The inode of a descriptor that is a socket, from its `/proc/PID/fd/N`
/// link: `socket:[12345]`.
pub fn socket_inode(link: &[u8]) -> Option<u64> {
    let digits = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Whether a `/proc/PID/fd/N` link is an epoll descriptor.
pub fn is_epoll(link: &[u8]) -> bool {
    link == b"anon_inode:[eventpoll]"
}

/// Input readiness in `poll` and epoll event masks (`POLLIN`/`EPOLLIN` and
/// `POLLRDNORM`/`EPOLLRDNORM`; the same values on every Linux architecture).
const INPUT: u32 = 0x1 | 0x40;

/// One target of an epoll set, from the epoll descriptor's `fdinfo`:
/// `tfd:        3 events:       19 data: … pos:0 ino:2b1f sdev:8`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpollTarget {
    /// The target's fd number in the process that registered it.
    pub fd: i32,
    pub events: u32,
    /// The target's inode (the number in `socket:[…]`).
    pub inode: u64,
}

impl EpollTarget {
    /// Every target listed in an epoll descriptor's `fdinfo` text.
    pub fn parse_all(fdinfo: &str) -> impl Iterator<Item = EpollTarget> + '_ {
        fdinfo.lines().filter_map(EpollTarget::parse)
    }

    fn parse(line: &str) -> Option<EpollTarget> {
        let rest = line.strip_prefix("tfd:")?;
        let mut words = rest.split_ascii_whitespace();
        let fd = words.next()?.parse().ok()?;
        let (mut events, mut inode) = (None, None);
        while let Some(word) = words.next() {
            if word == "events:" {
                events = u32::from_str_radix(words.next()?, 16).ok();
            } else if let Some(hex) = word.strip_prefix("ino:") {
                inode = u64::from_str_radix(hex, 16).ok();
            }
        }
        Some(EpollTarget {
            fd,
            events: events?,
            inode: inode?,
        })
    }

    /// Whether the registration waits for input (a connection, for a
    /// listening socket). A spent one-shot registration keeps no events.
    pub fn wants_input(&self) -> bool {
        self.events & INPUT != 0
    }
}

/// A blocked thread's system call, from `/proc/PID/task/TID/syscall`:
/// `NR ARG1 … ARG6 SP PC`, the arguments in hex.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Syscall {
    pub number: i64,
    pub args: [u64; 6],
}

impl Syscall {
    /// `None` for `running` (the thread is on a CPU: the arguments are not
    /// shown) and for `-1 SP PC` (blocked, but not in a system call).
    pub fn parse(text: &str) -> Option<Syscall> {
        let mut words = text.split_ascii_whitespace();
        let number: i64 = words.next()?.parse().ok()?;
        if number < 0 {
            return None;
        }
        let mut args = [0u64; 6];
        for arg in &mut args {
            let word = words.next()?;
            *arg = u64::from_str_radix(word.strip_prefix("0x").unwrap_or(word), 16).ok()?;
        }
        Some(Syscall { number, args })
    }
}

/// What a blocked system call waits for, as far as sockets go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blocked {
    /// `accept`/`accept4` on `fd`.
    Accept { fd: i32 },
    /// `poll`/`ppoll` on `count` `struct pollfd`s at address `fds`.
    Poll { fds: u64, count: u64 },
    /// `select`/`pselect6` on descriptors below `count`, the read set at
    /// address `read` (0 when there is none).
    Select { count: u64, read: u64 },
    /// `read`, `recvfrom`, `recvmsg` or `recvmmsg` on `fd`.
    Receive { fd: i32 },
    /// Anything else: not waiting on a socket for a client.
    Other,
}

/// The numbers of the system calls that matter, for one architecture.
#[derive(Clone, Copy, Debug)]
pub struct SyscallTable {
    accept: &'static [i64],
    poll: &'static [i64],
    select: &'static [i64],
    receive: &'static [i64],
}

impl SyscallTable {
    /// x86_64 (`arch/x86/entry/syscalls/syscall_64.tbl`): accept 43,
    /// accept4 288; poll 7, ppoll 271; select 23, pselect6 270; read 0,
    /// recvfrom 45, recvmsg 47, recvmmsg 299.
    pub const X86_64: SyscallTable = SyscallTable {
        accept: &[43, 288],
        poll: &[7, 271],
        select: &[23, 270],
        receive: &[0, 45, 47, 299],
    };

    /// The generic table (`include/uapi/asm-generic/unistd.h`) of aarch64,
    /// riscv64 and loongarch64, which have no `poll` or `select`: accept 202,
    /// accept4 242; ppoll 73; pselect6 72; read 63, recvfrom 207, recvmsg
    /// 212, recvmmsg 243.
    pub const GENERIC: SyscallTable = SyscallTable {
        accept: &[202, 242],
        poll: &[73],
        select: &[72],
        receive: &[63, 207, 212, 243],
    };

    /// This machine's table; `None` where systemfd knows none (there only
    /// epoll registrations are seen).
    pub const NATIVE: Option<SyscallTable> = if cfg!(target_arch = "x86_64") {
        Some(SyscallTable::X86_64)
    } else if cfg!(any(
        target_arch = "aarch64",
        target_arch = "riscv64",
        target_arch = "loongarch64"
    )) {
        Some(SyscallTable::GENERIC)
    } else {
        None
    };

    pub fn classify(&self, call: &Syscall) -> Blocked {
        let [a0, a1, ..] = call.args;
        // File descriptors are ints: the kernel looks at the low 32 bits.
        let fd = a0 as u32 as i32;
        if self.accept.contains(&call.number) {
            Blocked::Accept { fd }
        } else if self.poll.contains(&call.number) {
            Blocked::Poll { fds: a0, count: a1 }
        } else if self.select.contains(&call.number) {
            Blocked::Select {
                count: a0 as u32 as u64,
                read: a1,
            }
        } else if self.receive.contains(&call.number) {
            Blocked::Receive { fd }
        } else {
            Blocked::Other
        }
    }
}

/// The size of a `struct pollfd { int fd; short events; short revents; }`.
pub const POLLFD_SIZE: usize = 8;

/// The descriptors a `pollfd` array (as read from memory, native byte
/// order) asks input of.
pub fn polled_for_input(bytes: &[u8]) -> impl Iterator<Item = i32> + '_ {
    bytes.chunks_exact(POLLFD_SIZE).filter_map(|entry| {
        let fd = i32::from_ne_bytes(entry[0..4].try_into().expect("four bytes"));
        let events = u16::from_ne_bytes(entry[4..6].try_into().expect("two bytes"));
        (fd >= 0 && u32::from(events) & INPUT != 0).then_some(fd)
    })
}

/// How many bytes of an `fd_set` cover descriptors below `count`: whole
/// `long`s, as the kernel reads them.
pub fn fd_set_len(count: u64) -> usize {
    let word_bits = usize::BITS as u64;
    (count.div_ceil(word_bits) * u64::from(usize::BITS / 8)) as usize
}

/// The descriptors below `count` in an `fd_set` (an array of `long`s in
/// native byte order, descriptor N at bit N % BITS of word N / BITS).
pub fn fd_set_members(bytes: &[u8], count: u64) -> impl Iterator<Item = i32> + '_ {
    const WORD: usize = std::mem::size_of::<usize>();
    bytes
        .chunks_exact(WORD)
        .enumerate()
        .flat_map(|(index, word)| {
            let word = usize::from_ne_bytes(word.try_into().expect("a word"));
            (0..usize::BITS as usize)
                .filter(move |bit| word & (1 << bit) != 0)
                .map(move |bit| index * usize::BITS as usize + bit)
        })
        .filter(move |fd| (*fd as u64) < count)
        .map(|fd| fd as i32)
}

#[cfg(test)]
mod tests;
