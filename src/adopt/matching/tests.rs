use std::net::SocketAddr;
use std::path::PathBuf;

use super::*;

fn sockaddr_in(ip: [u8; 4], port: u16) -> Vec<u8> {
    let mut bytes = AF_INET.to_ne_bytes().to_vec();
    bytes.extend_from_slice(&port.to_be_bytes());
    bytes.extend_from_slice(&ip);
    bytes.extend_from_slice(&[0; 8]);
    bytes
}

fn sockaddr_in6(ip: std::net::Ipv6Addr, port: u16) -> Vec<u8> {
    let mut bytes = AF_INET6.to_ne_bytes().to_vec();
    bytes.extend_from_slice(&port.to_be_bytes());
    bytes.extend_from_slice(&[0; 4]);
    bytes.extend_from_slice(&ip.octets());
    bytes.extend_from_slice(&[0; 4]);
    bytes
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

#[test]
fn ipv4_and_ipv6_addresses_are_read_as_the_kernel_lays_them_out() {
    assert_eq!(
        parse_sockaddr(&sockaddr_in([127, 0, 0, 1], 3000)),
        Requested::Ip(addr("127.0.0.1:3000"))
    );
    assert_eq!(
        parse_sockaddr(&sockaddr_in6("::1".parse().unwrap(), 8080)),
        Requested::Ip(addr("[::1]:8080"))
    );
    // Too short for its family.
    assert_eq!(
        parse_sockaddr(&sockaddr_in([127, 0, 0, 1], 1)[..6]),
        Requested::Other
    );
    assert_eq!(parse_sockaddr(&[]), Requested::Other);
}

#[test]
fn unix_paths_are_read_up_to_the_nul_and_abstract_names_are_not_paths() {
    let mut bytes = AF_UNIX.to_ne_bytes().to_vec();
    bytes.extend_from_slice(b"run/app.sock\0garbage");
    assert_eq!(
        parse_sockaddr(&bytes),
        Requested::Path(PathBuf::from("run/app.sock"))
    );
    let mut abstract_name = AF_UNIX.to_ne_bytes().to_vec();
    abstract_name.extend_from_slice(b"\0name");
    assert_eq!(
        parse_sockaddr(&abstract_name),
        Requested::Abstract(b"name".to_vec())
    );
    assert_eq!(parse_sockaddr(&AF_UNIX.to_ne_bytes()), Requested::Other);
}

#[test]
fn the_same_port_matches_the_same_host_a_wildcard_or_loopback_across_families() {
    let held = addr("127.0.0.1:3000");
    assert_eq!(match_ip(addr("127.0.0.1:3000"), held), Some(Match::Same));
    assert_eq!(match_ip(addr("0.0.0.0:3000"), held), Some(Match::Wildcard));
    assert_eq!(match_ip(addr("[::]:3000"), held), Some(Match::Wildcard));
    assert_eq!(match_ip(addr("[::1]:3000"), held), Some(Match::Loopback));
    // Another loopback address is another host.
    assert_eq!(match_ip(addr("127.0.0.2:3000"), held), None);
    assert_eq!(
        match_ip(addr("[::ffff:127.0.0.1]:3000"), held),
        Some(Match::Same)
    );
    let v6 = addr("[::1]:3000");
    assert_eq!(match_ip(addr("127.0.0.1:3000"), v6), Some(Match::Loopback));
    assert_eq!(match_ip(addr("[::1]:3000"), v6), Some(Match::Same));
}

#[test]
fn another_port_another_host_or_port_zero_does_not_match() {
    let held = addr("127.0.0.1:3000");
    assert_eq!(match_ip(addr("127.0.0.1:3001"), held), None);
    assert_eq!(match_ip(addr("192.168.1.5:3000"), held), None);
    assert_eq!(match_ip(addr("0.0.0.0:0"), addr("0.0.0.0:0")), None);
    // A loopback bind does not take a socket held on another address.
    assert_eq!(
        match_ip(addr("127.0.0.1:3000"), addr("192.168.1.5:3000")),
        None
    );
    // Nor does a program's specific address take a wildcard socket: it
    // asked for less than the socket serves.
    assert_eq!(match_ip(addr("127.0.0.1:3000"), addr("0.0.0.0:3000")), None);
}

#[test]
fn close_on_exec_is_read_from_the_octal_flags_line() {
    let info = "pos:\t0\nflags:\t02000002\nmnt_id:\t9\nino:\t123\n";
    assert_eq!(fdinfo_cloexec(info), Some(true));
    assert_eq!(fdinfo_cloexec("pos:\t0\nflags:\t00000002\n"), Some(false));
    assert_eq!(fdinfo_cloexec("pos:\t0\n"), None);
    assert_eq!(fdinfo_cloexec("flags:\tnot octal\n"), None);
}
