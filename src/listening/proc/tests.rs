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
