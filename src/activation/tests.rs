use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
    pairs
        .iter()
        .map(|(key, value)| (key.into(), value.into()))
        .collect()
}

#[test]
fn stale_variables_are_dropped_and_others_kept() {
    let invocation = Invocation::new(
        &["server".into()],
        env(&[
            ("PATH", "/bin"),
            ("LISTEN_FDS", "9"),
            ("LISTEN_PID", "1"),
            ("SYSTEMFD_SOCKET_SECRET", "old"),
            ("NOTIFY_SOCKET", "/run/outer"),
        ]),
    );
    assert_eq!(
        invocation.env,
        env(&[("PATH", "/bin"), ("NOTIFY_SOCKET", "/run/outer")])
    );
    assert!(!invocation.listen_pid);
}

#[test]
fn sockets_add_the_protocol_variables() {
    let invocation = Invocation::new(&["server".into()], env(&[("PATH", "/bin")])).with_sockets(
        2,
        "http:unknown",
        true,
    );
    if cfg!(unix) {
        assert_eq!(
            invocation.env,
            env(&[
                ("PATH", "/bin"),
                ("LISTEN_FDS", "2"),
                ("LISTEN_FDNAMES", "http:unknown"),
                ("LISTEN_FDS_FIRST_FD", "3"),
            ])
        );
        assert!(invocation.listen_pid);
    } else {
        assert_eq!(
            invocation.env,
            env(&[("PATH", "/bin"), ("LISTEN_FDNAMES", "http:unknown")])
        );
    }
}

#[test]
fn no_sockets_no_variables_and_no_pid() {
    let invocation = Invocation::new(&["server".into()], env(&[])).with_sockets(0, "", true);
    assert!(invocation.env.is_empty());
    assert!(!invocation.listen_pid);
}

#[test]
fn set_replaces() {
    let mut invocation = Invocation::new(&["server".into()], env(&[("NOTIFY_SOCKET", "a")]));
    invocation.set("NOTIFY_SOCKET", "b");
    assert_eq!(invocation.env, env(&[("NOTIFY_SOCKET", "b")]));
}
