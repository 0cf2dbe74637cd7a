use super::*;
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsFd as _;
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Command, Stdio};

use crate::sys;

fn me() -> Vec<u32> {
    vec![std::process::id()]
}

/// How many connections accepted on `watched` this process holds.
fn mine(watched: &Watched) -> usize {
    held(&me(), watched).expect("this process's descriptors are readable")
}

#[test]
fn accepted_tcp_connections_are_counted_and_nothing_else() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let watched = Watched::new([listener.as_fd()]).unwrap();
    assert!(watched.accepts());
    assert_eq!(mine(&watched), 0, "the listener itself is no connection");

    // A connection still in the queue belongs to no process; the client's
    // end (held here too) is bound to another port.
    let first = TcpStream::connect(addr).unwrap();
    assert_eq!(mine(&watched), 0);
    let (served, _) = listener.accept().unwrap();
    assert_eq!(mine(&watched), 1);
    let second = TcpStream::connect(addr).unwrap();
    let (also_served, _) = listener.accept().unwrap();
    // Held twice, counted once.
    let copy = also_served.try_clone().unwrap();
    assert_eq!(mine(&watched), 2);

    // The client is done sending (CLOSE_WAIT): the answer may be under way.
    first.shutdown(Shutdown::Write).unwrap();
    assert_eq!(mine(&watched), 2);
    drop(served);
    drop((also_served, copy));
    assert_eq!(mine(&watched), 0);
    drop(second);

    // Another listener's connections do not count.
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let _client = TcpStream::connect(other.local_addr().unwrap()).unwrap();
    let _accepted = other.accept().unwrap();
    assert_eq!(mine(&watched), 0);
}

#[test]
fn a_listener_on_every_address_counts_connections_to_any() {
    let Ok(listener) = TcpListener::bind("[::]:0") else {
        // No IPv6 here.
        return;
    };
    let port = listener.local_addr().unwrap().port();
    let watched = Watched::new([listener.as_fd()]).unwrap();
    let Ok(_client) = TcpStream::connect(("127.0.0.1", port)) else {
        // IPv6-only sockets by default here.
        return;
    };
    let _served = listener.accept().unwrap();
    assert_eq!(mine(&watched), 1);
}

#[test]
fn accepted_unix_connections_are_counted_by_path_and_abstract_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app sock");
    let listener = UnixListener::bind(&path).unwrap();
    let watched = Watched::new([listener.as_fd()]).unwrap();
    assert!(watched.accepts());
    let _client = UnixStream::connect(&path).unwrap();
    assert_eq!(mine(&watched), 0);
    let (served, _) = listener.accept().unwrap();
    assert_eq!(mine(&watched), 1);
    drop(served);
    assert_eq!(mine(&watched), 0);

    use std::os::linux::net::SocketAddrExt as _;
    let name = format!("systemfd-held-test-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(&name).unwrap();
    let listener = UnixListener::bind_addr(&addr).unwrap();
    let watched = Watched::new([listener.as_fd()]).unwrap();
    let _client = UnixStream::connect_addr(&addr).unwrap();
    let (_served, _) = listener.accept().unwrap();
    assert_eq!(mine(&watched), 1);
}

#[test]
fn datagram_sockets_accept_nothing() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let watched = Watched::new([socket.as_fd()]).unwrap();
    assert!(!watched.accepts());
    assert!(!Watched::default().accepts());
}

#[test]
fn connections_are_counted_in_every_process_given() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let watched = Watched::new([listener.as_fd()]).unwrap();
    // A child that inherits an accepted connection as its stdin and
    // holds it while it sleeps.
    let _client = TcpStream::connect(addr).unwrap();
    let (served, _) = listener.accept().unwrap();
    let mut child = Command::new("sleep")
        .arg("30")
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(served)))
        .spawn()
        .unwrap();
    assert_eq!(mine(&watched), 0);
    assert_eq!(held(&[child.id()], &watched), Some(1));
    let both = [std::process::id(), child.id()];
    assert_eq!(held(&both, &watched), Some(1));
    child.kill().unwrap();
    child.wait().unwrap();
    // Gone: it holds nothing.
    assert_eq!(held(&[child.id()], &watched), Some(0));
}

#[test]
fn a_stopped_process_is_settled_and_a_sleeping_one_is_not() {
    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = child.id();
    assert!(!settle(&[pid], Duration::from_millis(30)));
    assert!(!any_stopped(&[pid]));
    sys::signal_process(pid, libc::SIGSTOP).unwrap();
    assert!(settle(&[pid], Duration::from_secs(10)));
    assert!(any_stopped(&[pid]));
    sys::signal_process(pid, libc::SIGCONT).unwrap();
    assert!(!any_stopped(&[pid]));
    child.kill().unwrap();
    child.wait().unwrap();
    // Gone counts as settled.
    assert!(settle(&[pid], Duration::ZERO));
}

#[test]
fn descendants_are_found_below_the_pids_given() {
    let mut wrapper = Command::new("sh")
        .args(["-c", "sleep 30 & echo $!; wait"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(wrapper.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    let sleeper: u32 = line.trim().parse().unwrap();
    let all = with_descendants(&[wrapper.id()]);
    assert_eq!(all, [wrapper.id(), sleeper]);
    sys::signal_process(sleeper, libc::SIGKILL).unwrap();
    wrapper.wait().unwrap();
}
