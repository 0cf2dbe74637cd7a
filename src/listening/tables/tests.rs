use super::*;

/// A 32-bit word of an address as the kernel of this machine prints it.
fn word(bytes: [u8; 4]) -> String {
    format!("{:08X}", u32::from_ne_bytes(bytes))
}

/// `/proc/net/tcp`'s text for `a.b.c.d:port`.
fn v4(ip: [u8; 4], port: u16) -> String {
    format!("{}:{port:04X}", word(ip))
}

/// `/proc/net/tcp6`'s text for an IPv6 address and port.
fn v6(ip: Ipv6Addr, port: u16) -> String {
    let octets = ip.octets();
    let words: String = octets
        .chunks_exact(4)
        .map(|chunk| word(chunk.try_into().unwrap()))
        .collect();
    format!("{words}:{port:04X}")
}

fn tcp_line(local: &str, state: &str, inode: u64) -> String {
    format!(
        "   3: {local} 0100007F:D4F2 {state} 00000000:00000000 00:00000000 00000000  1000        0 {inode} 1 0000000000000000 20 4 30 10 -1"
    )
}

#[cfg(target_endian = "little")]
#[test]
fn tcp_rows_read_as_this_machine_prints_them() {
    // As Linux 6.1 shows a connection to 127.0.0.1:8080 on x86_64.
    let line = "   1: 0100007F:1F90 0100007F:D4F2 01 00000000:00000000 00:00000000 00000000  1000        0 2734511 1 0000000000000000 20 4 30 10 -1";
    assert_eq!(
        TcpRow::parse(line),
        Some(TcpRow {
            local: "127.0.0.1:8080".parse().unwrap(),
            state: 1,
            inode: 2734511,
        })
    );
    // ::1 port 8080, in tcp6.
    let line = "   0: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:B2A6 08 00000000:00000000 00:00000000 00000000  1000        0 99 1 0000000000000000 20 4 0 10 -1";
    assert_eq!(
        TcpRow::parse(line).unwrap().local,
        "[::1]:8080".parse().unwrap()
    );
}

#[test]
fn tcp_rows_parse_addresses_of_both_families() {
    let row = TcpRow::parse(&tcp_line(&v4([10, 1, 2, 3], 5000), "01", 7)).unwrap();
    assert_eq!(row.local, "10.1.2.3:5000".parse().unwrap());
    assert_eq!((row.state, row.inode), (1, 7));
    let ip: Ipv6Addr = "2001:db8::1:2".parse().unwrap();
    let row = TcpRow::parse(&tcp_line(&v6(ip, 443), "0A", 8)).unwrap();
    assert_eq!(row.local, SocketAddr::new(ip.into(), 443));
    assert_eq!(row.state, TCP_LISTEN);
}

#[test]
fn tcp_headers_and_junk_are_no_rows() {
    let header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";
    assert_eq!(TcpRow::parse(header), None);
    assert_eq!(TcpRow::parse(""), None);
    assert_eq!(
        TcpRow::parse(&tcp_line("0100007F:1F90", "01", 0)[..30]),
        None
    );
    assert_eq!(TcpRow::parse(&tcp_line("0100007F", "01", 1)), None);
    assert_eq!(TcpRow::parse(&tcp_line("01007F:1F90", "01", 1)), None);
}

#[test]
fn accepted_tcp_connections_are_told_from_listeners_and_others() {
    let row = |local: &str, state: u8| TcpRow {
        local: local.parse().unwrap(),
        state,
        inode: 1,
    };
    let listener: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    // ESTABLISHED, and CLOSE_WAIT: the client is done sending, the server
    // may still be answering.
    assert!(row("127.0.0.1:5000", 0x01).accepted_on(&listener));
    assert!(row("127.0.0.1:5000", 0x08).accepted_on(&listener));
    // The listener itself; a socket closed on both sides.
    assert!(!row("127.0.0.1:5000", TCP_LISTEN).accepted_on(&listener));
    assert!(!row("127.0.0.1:5000", TCP_CLOSE).accepted_on(&listener));
    // Another port (an outgoing connection), another address.
    assert!(!row("127.0.0.1:40000", 0x01).accepted_on(&listener));
    assert!(!row("10.0.0.1:5000", 0x01).accepted_on(&listener));
    // An IPv4 client of a dual-stack listener.
    assert!(row("[::ffff:127.0.0.1]:5000", 0x01).accepted_on(&listener));
    // A listener on every address accepts on any of them.
    let any: SocketAddr = "[::]:5000".parse().unwrap();
    assert!(row("10.0.0.1:5000", 0x01).accepted_on(&any));
    assert!(row("[fe80::1]:5000", 0x01).accepted_on(&any));
    assert!(!row("10.0.0.1:5001", 0x01).accepted_on(&any));
}

#[test]
fn unix_rows_keep_the_path_whole() {
    // As Linux 6.1 shows a listener and a connection it accepted.
    let listener =
        b"0000000000000000: 00000002 00000000 00010000 0001 01 2735001 /tmp/app dir/app.sock\n";
    let accepted =
        b"0000000000000000: 00000003 00000000 00000000 0001 03 2735002 /tmp/app dir/app.sock";
    let client = b"0000000000000000: 00000003 00000000 00000000 0001 03 2735003";
    assert_eq!(
        UnixRow::parse(listener),
        Some(UnixRow {
            flags: UNIX_LISTENING,
            state: 1,
            inode: 2735001,
            path: b"/tmp/app dir/app.sock".to_vec(),
        })
    );
    let name = b"/tmp/app dir/app.sock";
    assert!(!UnixRow::parse(listener).unwrap().accepted_on(name));
    assert!(UnixRow::parse(accepted).unwrap().accepted_on(name));
    let client = UnixRow::parse(client).unwrap();
    assert_eq!((client.inode, client.path.as_slice()), (2735003, &b""[..]));
    assert!(!client.accepted_on(name));
    assert!(!client.accepted_on(b""));
    // Inodes are padded to five places.
    let short =
        UnixRow::parse(b"0000000000000000: 00000002 00000000 00000000 0002 01   123 @x").unwrap();
    assert_eq!((short.inode, short.path.as_slice()), (123, &b"@x"[..]));
    // Not UTF-8: still a path.
    let odd = UnixRow::parse(b"0: 2 0 0 1 3 9 /tmp/\xff.sock").unwrap();
    assert!(odd.accepted_on(b"/tmp/\xff.sock"));
}

#[test]
fn unix_headers_are_no_rows() {
    assert_eq!(
        UnixRow::parse(b"Num       RefCount Protocol Flags    Type St Inode Path\n"),
        None
    );
    assert_eq!(UnixRow::parse(b""), None);
    assert_eq!(UnixRow::parse(b"0: 2 0 0 1 3"), None);
}

#[test]
fn abstract_names_read_as_the_table_shows_them() {
    assert_eq!(abstract_name(b"app"), b"@app");
    assert_eq!(abstract_name(b"a\0b"), b"@a@b");
    assert_eq!(abstract_name(b""), b"@");
}

#[test]
fn thread_states_tell_stopped_from_running() {
    let stat = |state: &str| format!("4242 (my (odd) server) {state} 1 4242 4242 0 -1 4194560");
    assert_eq!(Run::parse(&stat("T")), Some(Run::Stopped));
    assert_eq!(Run::parse(&stat("t")), Some(Run::Stopped));
    assert_eq!(Run::parse(&stat("Z")), Some(Run::Gone));
    assert_eq!(Run::parse(&stat("S")), Some(Run::Going));
    assert_eq!(Run::parse(&stat("R")), Some(Run::Going));
    assert_eq!(Run::parse(&stat("D")), Some(Run::Going));
    assert_eq!(Run::parse("4242 (x"), None);
    assert_eq!(Run::parse("4242 (x)"), None);
}
