use std::net::{TcpListener, TcpStream, UdpSocket};
use std::sync::mpsc;
use std::time::Duration;

use super::*;

/// Long enough for a ring that would come to come.
const QUIET: Duration = Duration::from_millis(200);
const LIMIT: Duration = Duration::from_secs(5);

fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").unwrap()
}

fn doorbell(sockets: Vec<socket2::Socket>) -> (Doorbell, mpsc::Receiver<usize>) {
    let (tx, rx) = mpsc::channel();
    let bell = Doorbell::start(sockets, move |index| tx.send(index).is_ok()).unwrap();
    (bell, rx)
}

#[test]
fn rings_for_the_socket_a_connection_waits_on_and_leaves_it_waiting() {
    let (first, second) = (listener(), listener());
    let sockets = vec![
        socket2::Socket::from(first.try_clone().unwrap()),
        socket2::Socket::from(second.try_clone().unwrap()),
    ];
    let (bell, rx) = doorbell(sockets);
    bell.arm(true);
    let _client = TcpStream::connect(second.local_addr().unwrap()).unwrap();
    assert_eq!(rx.recv_timeout(LIMIT), Ok(1));
    // Not taken: the command accepts it.
    second.set_nonblocking(true).unwrap();
    assert!(second.accept().is_ok(), "the connection is still waiting");
}

#[test]
fn rings_once_per_arming() {
    let listener = listener();
    let (bell, rx) = doorbell(vec![listener.try_clone().unwrap().into()]);
    let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    assert!(
        rx.recv_timeout(QUIET).is_err(),
        "an unarmed doorbell is silent"
    );
    bell.arm(true);
    assert_eq!(rx.recv_timeout(LIMIT), Ok(0));
    // The connection still waits, yet no second ring comes unasked.
    assert!(rx.recv_timeout(QUIET).is_err());
    bell.arm(true);
    assert_eq!(rx.recv_timeout(LIMIT), Ok(0), "armed again: rings again");
    bell.arm(false);
    assert!(rx.recv_timeout(QUIET).is_err(), "disarmed: silent");
}

#[test]
fn a_datagram_rings() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (bell, rx) = doorbell(vec![socket.try_clone().unwrap().into()]);
    bell.arm(true);
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    sender.send_to(b"hi", socket.local_addr().unwrap()).unwrap();
    assert_eq!(rx.recv_timeout(LIMIT), Ok(0));
    let mut buf = [0u8; 8];
    socket.set_nonblocking(true).unwrap();
    assert_eq!(
        socket.recv(&mut buf).unwrap(),
        2,
        "the datagram is left unread"
    );
}

#[test]
fn first_returns_the_socket_with_a_connection() {
    let listener = listener();
    let addr = listener.local_addr().unwrap();
    let client = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        TcpStream::connect(addr).unwrap()
    });
    let got = first(vec![listener.try_clone().unwrap().into()], || {}).unwrap();
    assert_eq!(got, First::Connection(0));
    let _client = client.join().unwrap();
}
