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
            ("LISTEN_PIDFDID", "5"),
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

#[test]
fn the_build_step_runs_through_the_shell_without_sockets() {
    let inherited = env(&[
        ("PATH", "/bin"),
        ("LISTEN_FDS", "1"),
        ("NOTIFY_SOCKET", "/run/outer"),
        ("FORCE_COLOR", "0"),
    ]);
    let plain = build_step(OsStr::new("cargo build"), inherited.clone(), false);
    assert_eq!(plain.command.last().unwrap(), "cargo build");
    assert_eq!(plain.command.len(), if cfg!(windows) { 3 } else { 4 });
    let kept: Vec<&str> = if cfg!(unix) {
        vec!["PATH", "FORCE_COLOR"]
    } else {
        vec!["PATH", "NOTIFY_SOCKET", "FORCE_COLOR"]
    };
    let names: Vec<String> = plain
        .env
        .iter()
        .map(|(k, _)| k.to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, kept);
    // Colours on, but a value the user set stays.
    let coloured = build_step(OsStr::new("make"), inherited, true);
    let value = |name: &str| {
        coloured
            .env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.to_string_lossy().into_owned())
    };
    assert_eq!(value("CARGO_TERM_COLOR").as_deref(), Some("always"));
    assert_eq!(value("CLICOLOR_FORCE").as_deref(), Some("1"));
    assert_eq!(value("FORCE_COLOR").as_deref(), Some("0"));
}
