use std::net::SocketAddr;

use super::*;

fn tcp(text: &str) -> Endpoint {
    Endpoint::Tcp(text.parse::<SocketAddr>().unwrap())
}

#[test]
fn a_tcp_connection_bears_its_listeners_address_and_port() {
    let listener = tcp("127.0.0.1:8000");
    assert!(listener.bears(&tcp("127.0.0.1:8000")));
    assert!(!listener.bears(&tcp("127.0.0.1:8001")));
    assert!(!listener.bears(&tcp("127.0.0.2:8000")));
    // An IPv4 client of an IPv4 listener, as a dual-stack socket shows it.
    assert!(listener.bears(&tcp("[::ffff:127.0.0.1]:8000")));
    // A wildcard listener's connections have the address they came to.
    let any = tcp("[::]:8000");
    assert!(any.bears(&tcp("[::1]:8000")));
    assert!(any.bears(&tcp("192.168.1.5:8000")));
    assert!(!any.bears(&tcp("192.168.1.5:9000")));
}

#[test]
fn a_unix_connection_bears_its_listeners_name() {
    let listener = Endpoint::Unix(b"/run/app.sock".to_vec());
    assert!(listener.bears(&Endpoint::Unix(b"/run/app.sock".to_vec())));
    assert!(!listener.bears(&Endpoint::Unix(b"/run/other.sock".to_vec())));
    assert!(!listener.bears(&tcp("127.0.0.1:8000")));
    // An unnamed listener names nothing.
    assert!(!Endpoint::Unix(Vec::new()).bears(&Endpoint::Unix(Vec::new())));
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
