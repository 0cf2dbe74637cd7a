use std::time::Duration;

use super::*;
use crate::sys::{self, Interest, PollEntry};

/// Whether the wakeup's socket has a datagram within `timeout`.
fn woken(wakeup: &Wakeup, timeout: Duration) -> bool {
    let mut entries = [PollEntry::new(wakeup.socket(), Interest::Read)];
    sys::poll(&mut entries, Some(timeout)).unwrap() == 1
}

#[test]
fn a_wake_ends_a_poll_and_a_drain_takes_it() {
    let (waker, wakeup) = waker().unwrap();
    assert!(!woken(&wakeup, Duration::ZERO));
    waker.wake();
    assert!(woken(&wakeup, Duration::from_secs(10)));
    wakeup.drain();
    assert!(!woken(&wakeup, Duration::ZERO));
}

#[test]
fn a_response_has_its_head_and_body() {
    let response = Response::new("200 OK", &["X-A: b"], b"hello\n");
    let head = "HTTP/1.1 200 OK\r\nX-A: b\r\nContent-Length: 6\r\n\
                Cache-Control: no-store\r\nConnection: close\r\n\r\n";
    assert_eq!(response.bytes(true), head.as_bytes());
    assert_eq!(response.bytes(false), format!("{head}hello\n").as_bytes());
}

#[test]
fn a_204_has_no_content_length() {
    let response = Response::new("204 No Content", &[], b"");
    assert_eq!(
        response.bytes(false),
        b"HTTP/1.1 204 No Content\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
    );
}

#[test]
fn raw_bytes_are_sent_whole() {
    let response = Response::raw(b"HTTP/1.1 101 Switching Protocols\r\n\r\n".to_vec());
    assert_eq!(response.bytes(true), response.bytes(false));
}

#[test]
fn sending_writes_everything_once() {
    let response = Response::new("200 OK", &[], b"body");
    let mut sending = Sending::new(response.clone(), true);
    let mut out = Vec::new();
    assert_eq!(sending.write(&mut out), Stop::Done);
    assert_eq!(sending.write(&mut out), Stop::Done);
    assert_eq!(out, response.bytes(true));
}

#[test]
fn reads_stop_at_the_limit_or_the_close() {
    let mut buf = Vec::new();
    assert_eq!(read_into(&b"abcdef"[..], &mut buf, 4), Stop::Done);
    assert_eq!(buf, b"abcd");
    assert_eq!(read_into(&b"ef"[..], &mut buf, 8), Stop::Closed);
    assert_eq!(buf, b"abcdef");

    let mut read = 0;
    assert_eq!(discard(&b"abc"[..], &mut read, 8), Stop::Closed);
    assert_eq!(read, 3);
    assert_eq!(discard(&b"abcdefgh"[..], &mut read, 8), Stop::Closed);
    assert!(read > 8);
}
