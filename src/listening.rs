//! Inferred readiness: whether a child's process tree waits for connections
//! on the passed sockets.
//!
//! Most servers never send `READY=1`. Yet the kernel shows when one starts
//! serving: a server waits for connections on its listening socket, either
//! with the socket registered in an epoll set (tokio/mio, libuv, asyncio, Go's
//! netpoller) or with a thread blocked in `accept`, `poll` or `select` on it
//! (std servers, gunicorn's sync workers). Linux shows both under `/proc`:
//! an epoll descriptor's `fdinfo` lists each registered target's inode, and
//! `/proc/PID/task/TID/syscall` shows a blocked thread's system call and
//! arguments (the `pollfd` array or `fd_set` they point to are read from
//! `/proc/PID/mem`, which the kernel lets a parent read). The passed socket
//! is the same open file in systemfd and in every process of the child's
//! tree, so its inode identifies it wherever it is, whatever its fd number.
//!
//! Holding the socket is not enough: a wrapper (`sh -c`, `cargo run`, `npm
//! run`) inherits it and then waits for a compiler or its own child, and
//! counting that would hand over to a server that does not exist yet.
//!
//! This file holds the parsing of what `/proc` shows, portable and tested on
//! every platform; `linux.rs` reads `/proc`. Other systems have no such
//! interface, so there supervise mode relies on `READY=1` alone.

// The parsing is checked on every platform but needed only where `/proc`
// is read.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

#[cfg(target_os = "linux")]
mod linux;

#[cfg(target_os = "linux")]
pub use linux::{find, Watched};

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
mod tests {
    use super::*;

    #[test]
    fn descriptor_links_name_sockets_and_epoll_sets() {
        assert_eq!(socket_inode(b"socket:[1234567]"), Some(1234567));
        assert_eq!(socket_inode(b"socket:[]"), None);
        assert_eq!(socket_inode(b"pipe:[1234567]"), None);
        assert_eq!(socket_inode(b"/tmp/socket:[1]"), None);
        assert!(is_epoll(b"anon_inode:[eventpoll]"));
        assert!(!is_epoll(b"anon_inode:[eventfd]"));
    }

    #[test]
    fn epoll_fdinfo_lists_targets_with_their_inodes() {
        // As Linux 6.1 shows an asyncio server's epoll descriptor.
        let fdinfo = "pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1057\n\
            tfd:        3 events:       19 data:                3  pos:0 ino:2b1f63 sdev:8\n\
            tfd:        7 events:  8000019 data:     7f0000000007  pos:0 ino:40a sdev:9\n\
            tfd:        9 events:        0 data:                9  pos:0 ino:2b1f64 sdev:8\n";
        let targets: Vec<EpollTarget> = EpollTarget::parse_all(fdinfo).collect();
        assert_eq!(
            targets,
            [
                EpollTarget {
                    fd: 3,
                    events: 0x19,
                    inode: 0x2b1f63
                },
                EpollTarget {
                    fd: 7,
                    events: 0x8000019,
                    inode: 0x40a
                },
                EpollTarget {
                    fd: 9,
                    events: 0,
                    inode: 0x2b1f64
                },
            ]
        );
        assert!(targets[0].wants_input() && targets[1].wants_input());
        assert!(!targets[2].wants_input(), "a spent one-shot registration");
        // The descriptor's own `ino:` line is not a target; nor is junk.
        assert_eq!(EpollTarget::parse_all("ino:\t1057\ntfd: x\n").count(), 0);
    }

    #[test]
    fn syscall_lines_give_number_and_arguments() {
        let line = "288 0x3 0x0 0x0 0x80800 0x7ffd 0x1 0x7ffc8a3e1f28 0x7f3a1b2c3d4e\n";
        assert_eq!(
            Syscall::parse(line),
            Some(Syscall {
                number: 288,
                args: [3, 0, 0, 0x80800, 0x7ffd, 1]
            })
        );
        assert_eq!(Syscall::parse("running\n"), None);
        assert_eq!(Syscall::parse("-1 0x7ffc8a3e1f28 0x7f3a1b2c3d4e\n"), None);
        assert_eq!(Syscall::parse("7 0x1 0x2\n"), None);
    }

    #[test]
    fn each_architecture_maps_its_own_numbers() {
        let call = |number, args| Syscall { number, args };
        let x86 = SyscallTable::X86_64;
        assert_eq!(
            x86.classify(&call(43, [3, 0, 0, 0, 0, 0])),
            Blocked::Accept { fd: 3 }
        );
        assert_eq!(
            x86.classify(&call(288, [4, 0, 0, 0x80800, 0, 0])),
            Blocked::Accept { fd: 4 }
        );
        assert_eq!(
            x86.classify(&call(7, [0x7ffd0000, 2, 0xffffffff, 0, 0, 0])),
            Blocked::Poll {
                fds: 0x7ffd0000,
                count: 2
            }
        );
        assert_eq!(
            x86.classify(&call(23, [9, 0x7ffd0000, 0, 0, 0, 0])),
            Blocked::Select {
                count: 9,
                read: 0x7ffd0000
            }
        );
        assert_eq!(
            x86.classify(&call(45, [5, 0, 0, 0, 0, 0])),
            Blocked::Receive { fd: 5 }
        );
        assert_eq!(x86.classify(&call(61, [0; 6])), Blocked::Other, "wait4");
        assert_eq!(x86.classify(&call(232, [0; 6])), Blocked::Other, "epoll");

        let generic = SyscallTable::GENERIC;
        assert_eq!(
            generic.classify(&call(242, [3, 0, 0, 0, 0, 0])),
            Blocked::Accept { fd: 3 }
        );
        assert_eq!(
            generic.classify(&call(73, [0x1000, 1, 0, 0, 8, 0])),
            Blocked::Poll {
                fds: 0x1000,
                count: 1
            }
        );
        assert_eq!(
            generic.classify(&call(72, [4, 0x1000, 0, 0, 0, 0])),
            Blocked::Select {
                count: 4,
                read: 0x1000
            }
        );
        // x86_64's poll is aarch64's io_setup's neighbour, nothing to us.
        assert_eq!(generic.classify(&call(7, [0; 6])), Blocked::Other);
        assert_eq!(generic.classify(&call(43, [0; 6])), Blocked::Other);
        // A descriptor argument is an int: the upper half is not looked at.
        assert_eq!(
            x86.classify(&call(43, [0xffff_ffff_0000_0003, 0, 0, 0, 0, 0])),
            Blocked::Accept { fd: 3 }
        );
    }

    #[test]
    fn the_native_table_is_known_on_common_machines() {
        let known = cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));
        assert_eq!(
            SyscallTable::NATIVE.is_some(),
            known || cfg!(target_arch = "riscv64")
        );
    }

    fn pollfd(fd: i32, events: u16) -> Vec<u8> {
        let mut entry = fd.to_ne_bytes().to_vec();
        entry.extend_from_slice(&events.to_ne_bytes());
        entry.extend_from_slice(&0u16.to_ne_bytes());
        entry
    }

    #[test]
    fn pollfd_arrays_give_the_fds_read_from() {
        let mut bytes = Vec::new();
        for (fd, events) in [(3, 0x1), (9, 0x4), (-1, 0x1), (5, 0x41), (6, 0x40)] {
            bytes.extend(pollfd(fd, events));
        }
        assert_eq!(polled_for_input(&bytes).collect::<Vec<_>>(), [3, 5, 6]);
        // A cut entry at the end is ignored.
        assert_eq!(polled_for_input(&bytes[..12]).collect::<Vec<_>>(), [3]);
    }

    #[test]
    fn fd_sets_give_their_members_below_the_count() {
        let word = std::mem::size_of::<usize>();
        assert_eq!(fd_set_len(0), 0);
        assert_eq!(fd_set_len(1), word);
        assert_eq!(fd_set_len(u64::from(usize::BITS)), word);
        assert_eq!(fd_set_len(u64::from(usize::BITS) + 1), 2 * word);

        let mut words = [0usize; 2];
        for fd in [3usize, 4, usize::BITS as usize + 2] {
            words[fd / usize::BITS as usize] |= 1 << (fd % usize::BITS as usize);
        }
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
        let all = u64::from(usize::BITS) * 2;
        assert_eq!(
            fd_set_members(&bytes, all).collect::<Vec<_>>(),
            [3, 4, usize::BITS as i32 + 2]
        );
        // Bits at or above the count are not part of the set.
        assert_eq!(fd_set_members(&bytes, 4).collect::<Vec<_>>(), [3]);
    }
}
