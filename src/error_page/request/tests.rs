use std::net::{IpAddr, Ipv4Addr};

use super::*;

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn hosts() -> Hosts {
    Hosts::new(
        ["MyHost.Local".to_owned()],
        [
            "10.0.0.5".parse().unwrap(),
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        ],
    )
}

fn trusts(peer: &str, host: Option<&str>) -> bool {
    trusted(peer.parse().unwrap(), host.map(str::as_bytes), &hosts())
}

#[test]
fn trusted_only_from_loopback_with_a_local_host() {
    for host in [
        "localhost",
        "localhost:8000",
        "LOCALHOST.",
        "127.0.0.1",
        "127.0.0.1:8000",
        "127.1.2.3:1",
        "[::1]",
        "[::1]:8000",
        "[::ffff:127.0.0.1]:80",
        "myhost.local:8000",
        "10.0.0.5:8000",
    ] {
        assert!(trusts("127.0.0.1", Some(host)), "{host}");
        assert!(trusts("::1", Some(host)), "{host}");
        assert!(trusts("::ffff:127.0.0.2", Some(host)), "{host}");
    }
    for host in [
        "evil.example",
        "evil.example:8000",
        "localhost.evil.example",
        "0.0.0.0:8000",
        "[::]:8000",
        "10.0.0.6",
        "::1",
        "[::1]x",
        "localhost:80x",
        "",
        ":8000",
        "127.0.0.1:8000 evil",
    ] {
        assert!(!trusts("127.0.0.1", Some(host)), "{host}");
    }
    assert!(!trusts("127.0.0.1", None));
    for peer in ["192.168.1.2", "10.0.0.5", "::2", "::ffff:10.0.0.1"] {
        assert!(!trusts(peer, Some("localhost")), "{peer}");
    }
    assert!(!trusted(LOCAL, Some(b"local\xffhost"), &hosts()));
}

fn parse_all(head: &str, peer: IpAddr) -> Option<Request> {
    let bytes = head.as_bytes();
    assert!(has_end(bytes, 0), "{head:?}");
    parse(bytes, false, peer, &hosts())
}

#[test]
fn pages_by_accept_method_and_trust() {
    let page = |head_only, html, trusted, target: &str| {
        Some(Request::Page {
            head_only,
            html,
            trusted,
            target: target.to_owned(),
        })
    };
    let browser = "GET / HTTP/1.1\r\nHost: localhost:8000\r\n\
        Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\n\r\n";
    assert_eq!(parse_all(browser, LOCAL), page(false, true, true, "/"));
    let curl = "GET /x?y=1 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nAccept: */*\r\n\r\n";
    assert_eq!(parse_all(curl, LOCAL), page(false, false, true, "/x?y=1"));
    let head = "HEAD / HTTP/1.0\r\nhost: localhost\r\naccept: TEXT/HTML\r\n\r\n";
    assert_eq!(parse_all(head, LOCAL), page(true, true, true, "/"));
    let rebound = "GET / HTTP/1.1\r\nHost: evil.example\r\nAccept: text/html\r\n\r\n";
    assert_eq!(parse_all(rebound, LOCAL), page(false, true, false, "/"));
    let post = "POST /form HTTP/1.1\nHost: localhost\nContent-Length: 5\n\nhello";
    assert_eq!(parse_all(post, LOCAL), page(false, false, true, "/form"));
    // An absolute target (a proxy's form) is not echoed back.
    let absolute = "GET http://elsewhere/ HTTP/1.1\r\nHost: localhost\r\n\r\n";
    assert_eq!(parse_all(absolute, LOCAL), page(false, false, true, "/"));
}

#[test]
fn the_wait_path_for_trusted_clients() {
    let wait = |target: &str, host: &str| {
        parse_all(
            &format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n"),
            LOCAL,
        )
    };
    assert_eq!(
        wait("/.systemfd/wait?page=17", "localhost"),
        Some(Request::Wait { page: Some(17) })
    );
    assert_eq!(
        wait("/.systemfd/wait?x=1&page=18", "localhost"),
        Some(Request::Wait { page: Some(18) })
    );
    assert_eq!(
        wait("/.systemfd/wait?page=x", "localhost"),
        Some(Request::Wait { page: None })
    );
    assert_eq!(
        wait("/.systemfd/wait", "localhost"),
        Some(Request::Wait { page: None })
    );
    let bare = Some(Request::Page {
        head_only: false,
        html: false,
        trusted: false,
        target: "/.systemfd/wait?page=17".to_owned(),
    });
    assert_eq!(wait("/.systemfd/wait?page=17", "evil.example"), bare);
    let head = "HEAD /.systemfd/wait?page=17 HTTP/1.1\r\nHost: localhost\r\n\r\n";
    assert!(matches!(
        parse_all(head, LOCAL),
        Some(Request::Page {
            head_only: true,
            ..
        })
    ));
}

#[test]
fn incomplete_too_large_and_malformed_heads() {
    let hosts = hosts();
    let partial = b"GET / HTTP/1.1\r\nHost: local";
    assert!(!has_end(partial, 0));
    assert_eq!(parse(partial, false, LOCAL, &hosts), None);
    assert_eq!(parse(partial, true, LOCAL, &hosts), Some(Request::TooLarge));
    let many: String = (0..100).map(|i| format!("X-{i}: y\r\n")).collect();
    let many = format!("GET / HTTP/1.1\r\n{many}\r\n");
    assert_eq!(parse_all(&many, LOCAL), Some(Request::TooLarge));
    assert_eq!(
        parse_all("\x16\x03\x01 garbage\r\n\r\n", LOCAL),
        Some(Request::Malformed)
    );
    assert_eq!(
        parse_all("GET / HTTP/1.1\r\nNo colon\r\n\r\n", LOCAL),
        Some(Request::Malformed)
    );
}

#[test]
fn the_end_is_found_in_new_bytes_with_overlap() {
    let head = b"GET / HTTP/1.1\r\n\r\n";
    for searched in 0..head.len() {
        assert!(has_end(head, searched), "{searched}");
    }
    assert!(!has_end(head, head.len() + 3));
    assert!(has_end(b"GET / HTTP/1.0\n\n", 15));
}
