use std::collections::HashSet;

use super::*;

// Lines as a Linux 6.x kernel on x86_64 (little-endian) prints them.
const TCP: &str = "\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1388 00000000:0000 0A 00000000:00000002 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1388 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000  1000        0 0 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:1388 0100007F:D2F2 01 00000000:00000000 00:00000000 00000000  1000        0 5151 1 0000000000000000 20 4 30 10 -1
   3: 0100007F:D2F0 0100007F:1388 01 00000000:00000000 00:00000000 00000000  1000        0 6161 1 0000000000000000 20 4 30 10 -1
   4: 0100007F:1388 0100007F:D2F4 06 00000000:00000000 03:00000F9C 00000000     0        0 0 3 0000000000000000
   5: 0100007F:1388 0100007F:D2F6 05 00000000:00000000 00:00000000 00000000     0        0 0 3 0000000000000000
   6: 0100007F:1388 0100007F:D2F8 08 00000000:00000000 00:00000000 00000000  1000        0 7171 1 0000000000000000
   7: 0100007F:1389 0100007F:D2FA 01 00000000:00000000 00:00000000 00000000  1000        0 8181 1 0000000000000000
";

const TCP6: &str = "\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 9191 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:E000 01 00000000:00000000 00:00000000 00000000  1000        0 9292 1 0000000000000000 20 4 30 10 -1
";

const UNIX: &[u8] = b"\
Num       RefCount Protocol Flags    Type St Inode Path
ffff8d0000000001: 00000002 00000000 00010000 0001 01 1001 /tmp/app.sock
ffff8d0000000002: 00000003 00000000 00000000 0001 03 1002 /tmp/app.sock
ffff8d0000000003: 00000003 00000000 00000000 0001 03 1003
ffff8d0000000004: 00000002 00000000 00010000 0001 01 1004 @abs
ffff8d0000000005: 00000003 00000000 00000000 0001 03 1005 /tmp/other.sock
ffff8d0000000006: 00000002 00000000 00000000 0002 01 1006 /tmp/dir with space/d.sock
";

fn tcp(text: &str) -> Vec<TcpRow> {
    text.lines().filter_map(TcpRow::parse).collect()
}

fn unix() -> Vec<UnixRow> {
    UNIX.split(|b| *b == b'\n')
        .filter_map(UnixRow::parse)
        .collect()
}

fn listener(addr: &str) -> Endpoint {
    Endpoint::Tcp(addr.parse().unwrap())
}

#[test]
fn tcp_rows_parse_address_state_backlog_and_inode() {
    let rows = tcp(TCP);
    assert_eq!(rows.len(), 8, "the header is no row");
    assert_eq!(
        rows[0],
        TcpRow {
            local: "127.0.0.1:5000".parse().unwrap(),
            state: state::LISTEN,
            rx_queue: 2,
            uid: 1000,
            inode: 4242,
        }
    );
    assert_eq!(rows[1].inode, 0, "a connection in the backlog has no inode");
    let rows6 = tcp(TCP6);
    assert_eq!(rows6[0].local, "[::1]:8080".parse().unwrap());
    assert_eq!(rows6[1].local, "[::ffff:127.0.0.1]:8080".parse().unwrap());
}

#[test]
fn unix_rows_parse_flags_state_and_names_with_blanks() {
    let rows = unix();
    assert_eq!(rows.len(), 6, "the header is no row");
    assert!(rows[0].listening && !rows[0].connected);
    assert_eq!(rows[0].name, b"/tmp/app.sock");
    assert!(rows[1].connected && !rows[1].listening);
    assert_eq!(rows[2].name, b"", "a client's socket has no name");
    assert_eq!(rows[3].name, b"@abs");
    assert_eq!(rows[5].name, b"/tmp/dir with space/d.sock");
}

#[test]
fn counts_open_and_waiting_connections_of_the_listener_only() {
    let none = HashSet::new();
    // Port 5000: the backlog (2), rows 1 and 2 (established), 6 (close
    // wait); not 3 (the client's end), 4 (TIME_WAIT), 5 (FIN_WAIT2), nor 7
    // (another port).
    let count = count(&[listener("127.0.0.1:5000")], &none, tcp(TCP), []);
    assert_eq!(count, 2 + 3);
}

#[test]
fn systemfds_own_connections_do_not_count() {
    let own = HashSet::from([5151, 7171]);
    let count = count(&[listener("127.0.0.1:5000")], &own, tcp(TCP), []);
    assert_eq!(count, 2 + 1);
}

#[test]
fn a_wildcard_listener_counts_by_port_and_a_dual_stack_one_its_ipv4_clients() {
    let none = HashSet::new();
    assert_eq!(count(&[listener("0.0.0.0:5001")], &none, tcp(TCP), []), 1);
    assert_eq!(count(&[listener("[::]:8080")], &none, tcp(TCP6), []), 1);
    assert_eq!(
        count(&[listener("127.0.0.2:5000")], &none, tcp(TCP), []),
        0,
        "another address on the same port is another listener's"
    );
}

#[test]
fn unix_connections_bear_the_listeners_name() {
    let none = HashSet::new();
    let path = Endpoint::Unix(b"/tmp/app.sock".to_vec());
    assert_eq!(count(std::slice::from_ref(&path), &none, [], unix()), 1);
    assert_eq!(count(&[path], &HashSet::from([1002]), [], unix()), 0);
    let abs = Endpoint::Unix(b"@abs".to_vec());
    assert_eq!(count(&[abs], &none, [], unix()), 0);
}
