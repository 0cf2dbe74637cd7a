use super::*;

#[test]
fn stat_lines_are_read_from_the_last_parenthesis() {
    let line = "42 (a (b) c) S 7 42 42 34816 42 4194560 1 0 0 0";
    assert_eq!(
        parse_stat(42, line),
        Some(ProcessInfo {
            pid: 42,
            parent: 7,
            group: 42,
            zombie: false,
        })
    );
    let stat = "4242 (cargo run) S 4200 4242 4200 34816 4242 4194560 1 0 0 0";
    let info = parse_stat(4242, stat).unwrap();
    assert_eq!((info.parent, info.group, info.zombie), (4200, 4242, false));
    // A command name may hold ") " itself; the last ")" ends it.
    let odd = "77 (a) Z 1 (b)) Z 70 71 0 0";
    let info = parse_stat(77, odd).unwrap();
    assert_eq!((info.parent, info.group, info.zombie), (70, 71, true));
    assert_eq!(parse_stat(12, "12 (x) S"), None);
    assert_eq!(parse_stat(0, ""), None);
    assert_eq!(parse_stat(1, "1 (init"), None);
    let me = processes()
        .into_iter()
        .find(|p| p.pid == std::process::id())
        .expect("this process is listed");
    // SAFETY: getppid and getpgrp read no memory.
    let (parent, group) = unsafe { (libc::getppid(), libc::getpgrp()) };
    assert_eq!((me.parent, me.group), (parent as u32, group as u32));
}

#[test]
fn a_connection_awaits_its_client_once_it_has_answered_and_not_before() {
    use std::io::{Read as _, Write as _};
    use std::os::fd::AsFd as _;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut server, _) = listener.accept().unwrap();
    client.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let mut request = [0u8; 18];
    server.read_exact(&mut request).unwrap();
    // A request read, no answer yet: busy.
    let busy = tcp_traffic(server.as_fd()).unwrap();
    assert!(!busy.awaits_client(), "{busy:?}");
    server
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        .unwrap();
    let mut answer = [0u8; 38];
    client.read_exact(&mut answer).unwrap();
    // Acknowledged: wait for the client's ACK to be counted.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let idle = tcp_traffic(server.as_fd()).unwrap();
        if idle.awaits_client() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{idle:?}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // The next request makes it busy again.
    std::thread::sleep(std::time::Duration::from_millis(20));
    client.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    server.read_exact(&mut request).unwrap();
    let again = tcp_traffic(server.as_fd()).unwrap();
    assert!(!again.awaits_client(), "{again:?}");
}

#[test]
fn an_answer_and_a_request_in_the_same_tick_count_as_busy_until_quiet() {
    let traffic = |sent, recv| TcpTraffic {
        unacked: 0,
        last_data_sent: sent,
        last_data_recv: recv,
        bytes_acked: 100,
        bytes_received: 80,
    };
    // Answered after the last request.
    assert!(traffic(3, 40).awaits_client());
    // A request after the last answer.
    assert!(!traffic(40, 3).awaits_client());
    // The same tick: a request sent at once after the answer, maybe.
    assert!(!traffic(5, 5).awaits_client());
    assert!(traffic(SAME_TICK_IDLE, SAME_TICK_IDLE).awaits_client());
    // Nothing answered yet, or data in flight.
    assert!(!TcpTraffic {
        bytes_acked: 0,
        ..traffic(3, 40)
    }
    .awaits_client());
    assert!(!TcpTraffic {
        unacked: 1,
        ..traffic(3, 40)
    }
    .awaits_client());
    // Nothing either way: a preconnection, once quiet for a second; a
    // client about to send its first request before that.
    let untouched = |since| TcpTraffic {
        bytes_acked: 0,
        bytes_received: 0,
        ..traffic(since, since)
    };
    assert!(untouched(SAME_TICK_IDLE).awaits_client());
    assert!(!untouched(SAME_TICK_IDLE - 1).awaits_client());
    // A request received and not answered yet is busy, however long ago.
    assert!(!TcpTraffic {
        bytes_acked: 0,
        ..traffic(5000, 5000)
    }
    .awaits_client());
}

#[test]
fn the_pidfd_id_is_the_pidfds_inode_on_pidfs_and_none_elsewhere() {
    // SAFETY: pidfd_open returns a new descriptor, owned below; a zeroed
    // statfs and stat are valid for fstatfs and fstat to fill.
    let (fs_type, inode) = unsafe {
        let fd = libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0);
        assert!(fd >= 0, "pidfd_open: {}", io::Error::last_os_error());
        let fd = <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32);
        let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
        let mut fs: libc::statfs = std::mem::zeroed();
        assert_eq!(libc::fstatfs(raw, &mut fs), 0);
        let mut stat: libc::stat = std::mem::zeroed();
        assert_eq!(libc::fstat(raw, &mut stat), 0);
        (fs.f_type as u64, stat.st_ino as u64)
    };
    let id = pidfd::own_id();
    if fs_type == 0x5049_4446 {
        // pidfs (Linux 6.9+): the 64-bit id, which its file handle and, on
        // 64-bit systems, its inode number give alike.
        assert_eq!(id, Some(inode));
    } else {
        assert_eq!(id, None);
    }
    // The same process, the same id.
    assert_eq!(pidfd::own_id(), id);
}
