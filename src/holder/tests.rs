use super::*;

#[test]
fn each_holder_is_said_in_words() {
    let process = Holder::Process {
        pid: 4242,
        command: Some("node server.js".to_owned()),
    };
    assert_eq!(process.to_string(), "in use by pid 4242 (node server.js)");
    let bare = Holder::Process {
        pid: 7,
        command: None,
    };
    assert_eq!(bare.to_string(), "in use by pid 7");
    let other = Holder::OtherUser {
        uid: 33,
        name: Some("www-data".to_owned()),
    };
    assert_eq!(
        other.to_string(),
        "in use by a process of another user, www-data (uid 33), which systemfd may not look into"
    );
    let nameless = Holder::OtherUser { uid: 5, name: None };
    assert!(nameless.to_string().contains("another user, uid 5,"));
    assert!(Holder::TimeWait.to_string().contains("TIME_WAIT"));
    assert!(Holder::Unseen { timed_out: true }
        .to_string()
        .contains("within 50 ms"));
    assert!(Holder::Unseen { timed_out: false }
        .to_string()
        .contains("no process in sight"));
}

/// [`find`] without its bound, which a machine busy with other tests may
/// overrun: what is found, not how soon.
#[cfg(target_os = "linux")]
fn find_unhurried(protocol: Protocol, addr: &std::net::SocketAddr) -> Option<Holder> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    linux::find(protocol, addr, deadline)
}

#[cfg(target_os = "linux")]
#[test]
fn a_listener_of_this_process_is_found_with_its_command_line() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let found = find_unhurried(Protocol::Tcp, &addr).expect("the tables show the listener");
    let Holder::Process { pid, command } = found else {
        panic!("not found: {found}");
    };
    assert_eq!(pid, std::process::id());
    let exe = std::env::args().next().unwrap();
    assert!(command.unwrap().starts_with(&exe[..exe.len().min(60)]));

    // UDP has tables of its own.
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let found = find_unhurried(Protocol::Udp, &udp.local_addr().unwrap());
    assert!(
        matches!(found, Some(Holder::Process { pid, .. }) if pid == std::process::id()),
        "{found:?}"
    );

    // Out of time: said so, at once.
    let started = std::time::Instant::now();
    let late = linux::find(Protocol::Tcp, &addr, started);
    assert_eq!(late, Some(Holder::Unseen { timed_out: true }));
    // The bound holds, with room for a busy machine's scheduling.
    let _ = find(Protocol::Tcp, &addr);
    assert!(started.elapsed() < LIMIT * 10, "{:?}", started.elapsed());

    // Nothing on a port: nothing to say.
    drop(listener);
    assert_eq!(find(Protocol::Tcp, &addr), None);
}

#[cfg(target_os = "linux")]
#[test]
fn a_port_held_only_in_time_wait_has_no_holder() {
    use std::io::Read as _;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut client = std::net::TcpStream::connect(addr).unwrap();
    let (server, _) = listener.accept().unwrap();
    // The side that closes first keeps the connection in TIME_WAIT: here
    // the server's, on the listener's port.
    drop(server);
    let _ = client.read(&mut [0u8; 1]);
    drop(client);
    drop(listener);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match find_unhurried(Protocol::Tcp, &addr) {
            Some(Holder::TimeWait) => break,
            // FIN_WAIT2 on the way to TIME_WAIT shows no inode either, but
            // is not TIME_WAIT yet.
            None if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(5))
            }
            other => panic!("{other:?}"),
        }
    }
}
