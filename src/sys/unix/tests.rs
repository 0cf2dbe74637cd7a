use super::*;

#[test]
fn decimals_are_written_with_a_nul() {
    for (value, text) in [
        (0, "0"),
        (7, "7"),
        (4194304, "4194304"),
        (u64::from(u32::MAX), "4294967295"),
        (u64::MAX, "18446744073709551615"),
    ] {
        let mut out = [b'x'; NUMBER_ROOM + 1];
        write_decimal(value, &mut out);
        let end = out.iter().position(|&b| b == 0).unwrap();
        assert_eq!(&out[..end], text.as_bytes());
        assert!(
            out[end + 1..].iter().all(|&b| b == b'x'),
            "wrote past the NUL"
        );
    }
}

#[test]
fn programs_are_looked_up_like_execvp() {
    let path = OsStr::new("/nonexistent:/bin:/usr/bin");
    let sh = resolve(OsStr::new("sh"), Some(path)).unwrap();
    assert!(sh.ends_with("sh") && sh.is_absolute(), "{}", sh.display());
    assert_eq!(
        resolve(OsStr::new("./x"), None).unwrap(),
        PathBuf::from("./x")
    );
    let missing = resolve(OsStr::new("systemfd-no-such-program"), Some(path)).unwrap_err();
    assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    assert!(resolve(OsStr::new(""), Some(path)).is_err());

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plain"), "").unwrap();
    let err = resolve(OsStr::new("plain"), Some(dir.path().as_os_str())).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
}

fn spec<'a>(command: &'a [OsString], env: &'a [(OsString, OsString)]) -> ChildSpec<'a> {
    ChildSpec {
        command,
        env,
        sockets: &[],
        first_fd: 3,
        pid_variable: Some("LISTEN_PID"),
        pidfd_variable: None,
        own_group: true,
        filter: None,
        stdio: None,
    }
}

#[test]
fn a_program_that_cannot_be_executed_is_reported_by_the_child() {
    // Found (it has a slash), so only execve can tell: through the pipe.
    let command = [OsString::from("/dev/null")];
    let err = spawn(&spec(&command, &[])).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{err}");
    let command = [OsString::from("/nonexistent/program")];
    let err = spawn(&spec(&command, &[])).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
}

#[test]
fn a_child_runs_in_its_own_process_group_and_reports_its_status() {
    use std::os::unix::process::ExitStatusExt as _;
    let command = ["/bin/sh", "-c", "exit 3"].map(OsString::from);
    let pid = spawn(&spec(&command, &[])).unwrap();
    assert_eq!(wait(pid).unwrap().code(), Some(3));

    let command = ["/bin/sh", "-c", "sleep 60"].map(OsString::from);
    let pid = spawn(&spec(&command, &[])).unwrap();
    // SAFETY: getpgid reads no memory.
    let group = unsafe { libc::getpgid(pid as libc::pid_t) };
    assert_eq!(group, pid as libc::pid_t);
    crate::sys::signal_group(pid, libc::SIGTERM).unwrap();
    assert_eq!(wait(pid).unwrap().signal(), Some(libc::SIGTERM));
    // Gone: signalling it again is not an error.
    crate::sys::signal_group(pid, libc::SIGTERM).unwrap();
}

#[test]
fn a_script_without_a_shebang_runs_in_the_shell_as_execvp_would() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("script");
    let out = dir.path().join("out");
    std::fs::write(&script, "echo \"ran with $1\" > \"$2\"\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let command = [
        script.clone().into_os_string(),
        "hello".into(),
        out.clone().into_os_string(),
    ];
    let pid = spawn(&spec(&command, &[])).unwrap();
    assert_eq!(wait(pid).unwrap().code(), Some(0));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "ran with hello\n");
}

#[test]
fn stdio_goes_where_it_is_told() {
    let (reader, writer) = std::io::pipe().unwrap();
    let output = OwnedFd::from(writer);
    let input = OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
    let command: Vec<OsString> = ["/bin/sh", "-c", "read line; echo out:$?; echo err >&2"]
        .iter()
        .map(OsString::from)
        .collect();
    let mut spec = spec(&command, &[]);
    spec.stdio = Some(Stdio {
        input: &input,
        output: &output,
    });
    let pid = spawn(&spec).unwrap();
    drop(output);
    let mut text = String::new();
    std::io::Read::read_to_string(&mut { reader }, &mut text).unwrap();
    assert!(wait(pid).unwrap().success());
    // `read` met end of file at once (status 1): stdin is /dev/null.
    assert_eq!(text, "out:1\nerr\n");
}

#[test]
fn the_child_writes_its_own_pid_and_pidfd_id_last_in_its_environment() {
    let (reader, writer) = std::io::pipe().unwrap();
    let output = OwnedFd::from(writer);
    let input = OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
    let command: Vec<OsString> = [
        "/bin/sh",
        "-c",
        "echo \"$$ ${LISTEN_PID-none} ${LISTEN_PIDFDID-none} $KEPT\"",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    let env = [(OsString::from("KEPT"), OsString::from("yes"))];
    let mut spec = spec(&command, &env);
    spec.pidfd_variable = Some("LISTEN_PIDFDID");
    spec.stdio = Some(Stdio {
        input: &input,
        output: &output,
    });
    let pid = spawn(&spec).unwrap();
    drop(output);
    let mut text = String::new();
    std::io::Read::read_to_string(&mut { reader }, &mut text).unwrap();
    assert!(wait(pid).unwrap().success());
    let words: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(words[0], pid.to_string(), "{text}");
    assert_eq!(words[1], pid.to_string(), "{text}");
    assert_eq!(words[3], "yes", "{text}");
    // Where this process has a pidfd id, so does the child: another one.
    #[cfg(target_os = "linux")]
    match crate::sys::linux::pidfd::own_id() {
        Some(own) => {
            let id: u64 = words[2].parse().expect("a decimal id");
            assert_ne!(id, own);
        }
        None => assert_eq!(words[2], "none", "{text}"),
    }
    #[cfg(not(target_os = "linux"))]
    assert_eq!(words[2], "none", "{text}");
}
