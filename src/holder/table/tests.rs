use super::*;

/// A 32-bit word of an address as the kernel of this machine prints it.
fn word(bytes: [u8; 4]) -> String {
    format!("{:08X}", u32::from_ne_bytes(bytes))
}

/// The tables' text for `a.b.c.d:port`.
fn v4(ip: [u8; 4], port: u16) -> String {
    format!("{}:{port:04X}", word(ip))
}

/// The tables' text for an IPv6 address and port.
fn v6(ip: Ipv6Addr, port: u16) -> String {
    let words: String = ip
        .octets()
        .chunks_exact(4)
        .map(|chunk| word(chunk.try_into().unwrap()))
        .collect();
    format!("{words}:{port:04X}")
}

fn line(local: &str, state: &str, uid: u32, inode: u64) -> String {
    format!(
        "   3: {local} {} {state} 00000000:00000000 00:00000000 00000000 {uid:5}        0 {inode} 1 0000000000000000 20 4 30 10 -1",
        v4([0, 0, 0, 0], 0)
    )
}

#[cfg(target_endian = "little")]
#[test]
fn rows_read_as_this_machine_prints_them() {
    // As Linux 6.18 shows a listener on 0.0.0.0:2024 on x86_64.
    let text = "   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1587 1 00000000e1166195 100 0 0 10 0";
    assert_eq!(
        Row::parse(text),
        Some(Row {
            local: "0.0.0.0:2024".parse().unwrap(),
            state: state::LISTEN,
            rx_queue: 0,
            uid: 0,
            inode: 1587,
        })
    );
    // A TIME_WAIT connection from 127.0.0.1:46473: no inode.
    let text = "   1: 0100007F:B589 0100007F:BFD6 06 00000000:00000000 03:000002FE 00000000     0        0 0 3 000000001de04fbb";
    let row = Row::parse(text).unwrap();
    assert_eq!(row.local, "127.0.0.1:46473".parse().unwrap());
    assert_eq!((row.state, row.inode), (state::TIME_WAIT, 0));
    // ::1 port 8080, in tcp6, of uid 1000.
    let text = "   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 99 1 0000000000000000 20 4 0 10 -1";
    let row = Row::parse(text).unwrap();
    assert_eq!(row.local, "[::1]:8080".parse().unwrap());
    assert_eq!((row.uid, row.inode), (1000, 99));
}

#[test]
fn rows_of_both_families_parse() {
    let row = Row::parse(&line(&v4([10, 1, 2, 3], 5000), "01", 33, 7)).unwrap();
    assert_eq!(row.local, "10.1.2.3:5000".parse().unwrap());
    assert_eq!((row.state, row.uid, row.inode), (1, 33, 7));
    let ip: Ipv6Addr = "2001:db8::1:2".parse().unwrap();
    let row = Row::parse(&line(&v6(ip, 443), "0A", 0, 8)).unwrap();
    assert_eq!(row.local, SocketAddr::new(ip.into(), 443));
}

#[test]
fn headers_and_junk_are_no_rows() {
    let header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";
    assert_eq!(Row::parse(header), None);
    assert_eq!(Row::parse(""), None);
    let good = line(&v4([127, 0, 0, 1], 80), "0A", 0, 1);
    assert!(Row::parse(&good).is_some());
    assert_eq!(Row::parse(&good[..40]), None);
    assert_eq!(Row::parse(&line("0100007F", "0A", 0, 1)), None);
    assert_eq!(Row::parse(&line("01007F:1F90", "0A", 0, 1)), None);
    assert_eq!(Row::parse(&line(&v4([127, 0, 0, 1], 80), "zz", 0, 1)), None);
}

fn row(local: &str, state: u8, uid: u32, inode: u64) -> Row {
    Row {
        local: local.parse().unwrap(),
        state,
        rx_queue: 0,
        uid,
        inode,
    }
}

#[test]
fn the_listener_in_the_way_comes_first() {
    let addr: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let rows = [
        // Another port, another address: not in the way.
        row("127.0.0.1:5001", state::LISTEN, 0, 1),
        row("10.0.0.1:5000", state::LISTEN, 0, 2),
        // A connection the listener accepted, and the listener.
        row("127.0.0.1:5000", 0x01, 1000, 3),
        row("127.0.0.1:5000", state::LISTEN, 1000, 4),
    ];
    assert_eq!(
        blocker(rows, &addr),
        Some(Blocker::Socket {
            inode: 4,
            uid: 1000
        })
    );
    // A wildcard listener, of either family, takes every address.
    for wildcard in ["0.0.0.0:5000", "[::]:5000"] {
        let rows = [row(wildcard, state::LISTEN, 7, 5)];
        assert_eq!(
            blocker(rows, &addr),
            Some(Blocker::Socket { inode: 5, uid: 7 })
        );
    }
    // And a bind to a wildcard meets any address's listener.
    let any: SocketAddr = "0.0.0.0:5000".parse().unwrap();
    let rows = [row("10.0.0.1:5000", state::LISTEN, 7, 6)];
    assert_eq!(
        blocker(rows, &any),
        Some(Blocker::Socket { inode: 6, uid: 7 })
    );
    // IPv4 in IPv6 clothing is IPv4.
    let rows = [row("[::ffff:127.0.0.1]:5000", state::LISTEN, 7, 8)];
    assert_eq!(
        blocker(rows, &addr),
        Some(Blocker::Socket { inode: 8, uid: 7 })
    );
}

#[test]
fn a_bound_socket_comes_before_a_connection_and_time_wait_last() {
    let addr: SocketAddr = "127.0.0.1:5353".parse().unwrap();
    let rows = [
        row("127.0.0.1:5353", 0x01, 0, 1),
        row("127.0.0.1:5353", state::CLOSE, 0, 2),
    ];
    assert_eq!(
        blocker(rows, &addr),
        Some(Blocker::Socket { inode: 2, uid: 0 })
    );
    let rows = [
        row("127.0.0.1:5353", state::TIME_WAIT, 0, 0),
        row("127.0.0.1:5353", 0x08, 0, 9),
    ];
    assert_eq!(
        blocker(rows, &addr),
        Some(Blocker::Socket { inode: 9, uid: 0 })
    );
    let rows = [row("127.0.0.1:5353", state::TIME_WAIT, 0, 0)];
    assert_eq!(blocker(rows, &addr), Some(Blocker::TimeWait));
    assert_eq!(blocker([], &addr), None);
    // A row without an inode that is not TIME_WAIT tells nothing.
    let rows = [row("127.0.0.1:5353", 0x03, 0, 0)];
    assert_eq!(blocker(rows, &addr), None);
}

#[test]
fn users_are_named_from_passwd() {
    let passwd = "root:x:0:0:root:/root:/bin/bash\n\
                  www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n\
                  broken line\n\
                  :x:44:44::/:/bin/sh\n";
    assert_eq!(user_name(passwd, 0), Some("root"));
    assert_eq!(user_name(passwd, 33), Some("www-data"));
    assert_eq!(user_name(passwd, 44), None);
    assert_eq!(user_name(passwd, 1000), None);
}

#[test]
fn command_lines_are_one_line_and_bounded() {
    assert_eq!(
        command_line(b"node\0server.js\0", 80).as_deref(),
        Some("node server.js")
    );
    assert_eq!(command_line(b"", 80), None);
    assert_eq!(command_line(b"\0", 80), None);
    // A process that rewrote its title: no NUL between words.
    assert_eq!(
        command_line(b"nginx: master process\0", 80).as_deref(),
        Some("nginx: master process")
    );
    assert_eq!(
        command_line(b"python3\0-c\0print(1)\nprint(2)\0", 80).as_deref(),
        Some("python3 -c print(1) print(2)")
    );
    assert_eq!(
        command_line("ünïcode\0abcdef\0".as_bytes(), 10).as_deref(),
        Some("ünïcode ab…")
    );
}
