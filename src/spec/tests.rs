use super::*;

fn parse(s: &str) -> Result<SocketSpec, SpecError> {
    s.parse()
}

fn ok(s: &str) -> SocketSpec {
    parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

fn ip(s: &str) -> Address {
    Address::Ip(s.parse().unwrap())
}

#[test]
fn bare_port_is_tcp_on_loopback() {
    let spec = ok("5000");
    assert_eq!(spec.kind, SocketKind::Tcp);
    assert_eq!(spec.addr, ip("127.0.0.1:5000"));
    assert_eq!(spec.name, None);
    assert_eq!(spec.fd_name(), "tcp");
}

#[test]
fn typed_ports() {
    for kind in ["tcp", "http", "https", "udp"] {
        let spec = ok(&format!("{kind}::8080"));
        assert_eq!(spec.kind.as_str(), kind);
        assert_eq!(spec.addr, ip("127.0.0.1:8080"));
        assert_eq!(spec.fd_name(), kind);
    }
}

#[test]
fn ip_literals() {
    assert_eq!(ok("0.0.0.0:80").addr, ip("0.0.0.0:80"));
    assert_eq!(ok("http::[::1]:8080").addr, ip("[::1]:8080"));
    assert_eq!(ok("[::1]:8080").kind, SocketKind::Tcp);
    assert_eq!(ok("[::1]:8080").addr, ip("[::1]:8080"));
    assert_eq!(ok("udp::[fe80::1]:53").addr, ip("[fe80::1]:53"));
    assert_eq!(ok("web=[::]:0").addr, ip("[::]:0"));
}

#[test]
fn host_names() {
    let spec = ok("localhost:8080");
    assert_eq!(spec.kind, SocketKind::Tcp);
    assert_eq!(
        spec.addr,
        Address::Host {
            host: "localhost".into(),
            port: 8080
        }
    );
    assert_eq!(
        ok("https::my-host.example:443").addr,
        Address::Host {
            host: "my-host.example".into(),
            port: 443
        }
    );
}

#[test]
fn unix_paths() {
    let spec = ok("/tmp/app.sock");
    assert_eq!(spec.kind, SocketKind::Unix);
    assert_eq!(spec.addr, Address::Path("/tmp/app.sock".into()));
    assert_eq!(ok("unix::app.sock").addr, Address::Path("app.sock".into()));
    assert_eq!(ok("./app.sock").kind, SocketKind::Unix);
    assert_eq!(ok("unix-dgram::/run/a").kind, SocketKind::UnixDgram);
    assert_eq!(ok("unix-seqpacket::/run/a").kind, SocketKind::UnixSeqpacket);
    assert_eq!(ok("/tmp/a::b").addr, Address::Path("/tmp/a::b".into()));
    assert_eq!(ok("/tmp/a=b").addr, Address::Path("/tmp/a=b".into()));
    assert_eq!(ok("/tmp/a=b").name, None);
}

#[cfg(target_os = "linux")]
#[test]
fn abstract_names() {
    let spec = ok("@app");
    assert_eq!(spec.kind, SocketKind::Unix);
    assert_eq!(spec.addr, Address::Abstract("app".into()));
    assert_eq!(ok("unix-dgram::@x").addr, Address::Abstract("x".into()));
    assert_eq!(parse("unix::@"), Err(SpecError::EmptyAbstract));
}

#[test]
fn names() {
    let spec = ok("web=http::5000");
    assert_eq!(spec.name.as_deref(), Some("web"));
    assert_eq!(spec.fd_name(), "web");
    assert_eq!(ok("web=5000").name.as_deref(), Some("web"));
    assert_eq!(ok("a=b=tcp::1").name.as_deref(), Some("a=b"));
    assert_eq!(ok("a/b=tcp::1").name.as_deref(), Some("a/b"));
    assert_eq!(ok("my sock=udp::1").name.as_deref(), Some("my sock"));
    assert_eq!(ok("ctl=unix::/run/ctl").name.as_deref(), Some("ctl"));
    let long = "n".repeat(MAX_NAME_LEN);
    assert_eq!(ok(&format!("{long}=1")).name, Some(long));
}

#[test]
fn bad_names() {
    assert_eq!(parse("=5000"), Err(SpecError::EmptyName));
    assert_eq!(parse("=tcp::5000"), Err(SpecError::EmptyName));
    assert_eq!(parse("a:b=5000"), Err(SpecError::NameChar(':')));
    assert_eq!(parse("a:b=tcp::5000"), Err(SpecError::NameChar(':')));
    assert_eq!(parse("é=5000"), Err(SpecError::NameChar('é')));
    assert_eq!(parse("a\tb=5000"), Err(SpecError::NameChar('\t')));
    let long = "n".repeat(MAX_NAME_LEN + 1);
    assert_eq!(
        parse(&format!("{long}=1")),
        Err(SpecError::NameTooLong(MAX_NAME_LEN + 1))
    );
}

#[test]
fn bad_values() {
    assert_eq!(parse(""), Err(SpecError::Empty));
    assert_eq!(parse("tcp::"), Err(SpecError::EmptyValue));
    assert_eq!(parse("web="), Err(SpecError::EmptyValue));
    assert_eq!(parse("ftp::21"), Err(SpecError::UnknownType("ftp".into())));
    assert_eq!(parse("70000"), Err(SpecError::BadPort("70000".into())));
    assert_eq!(parse("host:+80"), Err(SpecError::BadPort("+80".into())));
    assert_eq!(parse("host:"), Err(SpecError::BadPort("".into())));
    assert_eq!(parse("host:x"), Err(SpecError::BadPort("x".into())));
    assert_eq!(parse("[::1]"), Err(SpecError::BadPort("".into())));
    assert_eq!(parse("[::g]:1"), Err(SpecError::BadIpv6("::g".into())));
    assert_eq!(
        parse("::1:80"),
        Err(SpecError::UnbracketedIpv6("::1".into()))
    );
    assert_eq!(
        parse("bad_host!:80"),
        Err(SpecError::BadHost("bad_host!".into()))
    );
    assert_eq!(parse("-x:80"), Err(SpecError::BadHost("-x".into())));
    assert_eq!(
        parse("localhost"),
        Err(SpecError::Ambiguous("localhost".into()))
    );
    assert_eq!(
        parse("tcp::/tmp/x"),
        Err(SpecError::NotIpAddress {
            kind: SocketKind::Tcp,
            value: "/tmp/x".into()
        })
    );
    assert_eq!(
        parse("udp::host"),
        Err(SpecError::NotIpAddress {
            kind: SocketKind::Udp,
            value: "host".into()
        })
    );
    let long = format!("/{}", "p".repeat(MAX_UNIX_PATH_LEN));
    assert_eq!(parse(&long), Err(SpecError::PathTooLong(long.len())));
}

#[test]
fn messages_name_the_problem() {
    let msg = parse("ftp::21").unwrap_err().to_string();
    assert_eq!(
        msg,
        "unknown socket type 'ftp' (expected one of: tcp, http, https, udp, unix, unix-dgram, unix-seqpacket)"
    );
    assert_eq!(
        parse("::1:80").unwrap_err().to_string(),
        "'::1' looks like an IPv6 address; write it in brackets, as [::1]:PORT"
    );
}

proptest::proptest! {
    #[test]
    fn never_panics(s in "\\PC*") {
        let _ = parse(&s);
    }

    #[test]
    fn never_panics_on_spec_shapes(
        name in proptest::option::of("[ -~]{0,4}"),
        ty in proptest::option::of("(tcp|http|https|udp|unix|unix-dgram|unix-seqpacket|x)"),
        value in "[0-9a-z:@/\\[\\]=.%-]{0,24}",
    ) {
        let mut s = String::new();
        if let Some(name) = name { s.push_str(&name); s.push('='); }
        if let Some(ty) = ty { s.push_str(&ty); s.push_str("::"); }
        s.push_str(&value);
        if let Ok(spec) = parse(&s) {
            // Whatever parses names a socket that LISTEN_FDNAMES can carry.
            proptest::prop_assert!(!spec.fd_name().is_empty());
            proptest::prop_assert!(!spec.fd_name().contains(':'));
        }
    }
}
