//! Request heads sorted, and the origin decision.

use super::*;

const UPGRADE: &str = "GET /livereload HTTP/1.1\r\nHost: 127.0.0.1:35729\r\n\
    Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

fn origins() -> Vec<String> {
    vec![
        "http://127.0.0.1:5000".to_owned(),
        "http://localhost:5000/".to_owned(),
    ]
}

fn sort(head: &str) -> Request {
    assert!(has_end(head.as_bytes(), 0), "{head:?}");
    parse(head.as_bytes(), false, &origins()).unwrap()
}

fn upgrade(extra: &str) -> Request {
    sort(&format!("{UPGRADE}{extra}\r\n"))
}

#[test]
fn the_script_with_or_without_a_query() {
    for head in [
        "GET /livereload.js HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /livereload.js?snipver=1&port=35729 HTTP/1.1\r\n\r\n",
        "GET /livereload.js HTTP/1.0\n\n",
    ] {
        assert_eq!(sort(head), Request::Script { head_only: false });
    }
    assert_eq!(
        sort("HEAD /livereload.js HTTP/1.1\r\n\r\n"),
        Request::Script { head_only: true }
    );
}

#[test]
fn anything_else_is_not_found() {
    for head in [
        "GET / HTTP/1.1\r\n\r\n",
        "GET /livereload.jsx HTTP/1.1\r\n\r\n",
        "POST /livereload.js HTTP/1.1\r\n\r\n",
        "GET /livereload/ HTTP/1.1\r\n\r\n",
    ] {
        assert_eq!(sort(head), Request::NotFound { head_only: false }, "{head}");
    }
}

#[test]
fn an_upgrade_gets_101_with_the_accept_key() {
    let Request::Socket {
        answer,
        trusted,
        head_len,
    } = upgrade("")
    else {
        panic!("no upgrade");
    };
    let answer = String::from_utf8(answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 101 "), "{answer}");
    // RFC 6455's example key and its answer.
    assert!(answer.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{answer}");
    assert!(answer.ends_with("\r\n\r\n"));
    assert!(trusted);
    assert_eq!(head_len, UPGRADE.len() + 2);
}

#[test]
fn the_origin_decides_trust() {
    let trusted = |extra: &str| match upgrade(extra) {
        Request::Socket { trusted, .. } => trusted,
        other => panic!("{other:?}"),
    };
    assert!(trusted("Origin: http://127.0.0.1:5000\r\n"));
    assert!(trusted("Origin: HTTP://LOCALHOST:5000\r\n"));
    assert!(!trusted("Origin: http://evil.example\r\n"));
    assert!(!trusted("Origin: http://127.0.0.1:5001\r\n"));
    assert!(!trusted("Origin: null\r\n"));
    assert!(!trusted("Origin: \r\n"));
    assert!(!trusted(
        "Origin: http://127.0.0.1:5000\r\nOrigin: http://evil.example\r\n"
    ));
}

#[test]
fn a_bad_upgrade_is_refused() {
    assert_eq!(
        sort("GET /livereload HTTP/1.1\r\nHost: x\r\n\r\n"),
        Request::NotUpgraded
    );
    let no_key = UPGRADE.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "");
    assert_eq!(sort(&format!("{no_key}\r\n")), Request::BadUpgrade);
    let old = UPGRADE.replace("Version: 13", "Version: 8");
    assert_eq!(sort(&format!("{old}\r\n")), Request::BadUpgrade);
    let post = UPGRADE.replace("GET", "POST");
    assert_eq!(sort(&format!("{post}\r\n")), Request::BadUpgrade);
    let http10 = UPGRADE.replace("HTTP/1.1", "HTTP/1.0");
    assert_eq!(sort(&format!("{http10}\r\n")), Request::BadUpgrade);
}

#[test]
fn too_large_malformed_and_partial() {
    let partial = b"GET /livereload.js HTTP/1.1\r\nHost: x";
    assert_eq!(parse(partial, false, &[]), None);
    assert_eq!(parse(partial, true, &[]), Some(Request::TooLarge));
    let many: String = (0..100).map(|n| format!("X-{n}: y\r\n")).collect();
    assert_eq!(
        sort(&format!("GET / HTTP/1.1\r\n{many}\r\n")),
        Request::TooLarge
    );
    assert_eq!(sort("\x16\x03\x01 hello\r\n\r\n"), Request::Malformed);
}

#[test]
fn the_end_is_found_in_new_bytes() {
    let head = b"GET / HTTP/1.1\r\n\r\n";
    assert!(has_end(head, head.len() - 1));
    assert!(!has_end(b"GET / HTTP/1.1\r\n", 0));
}
