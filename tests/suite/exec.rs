//! Exec mode on Unix, driven through the real binary with real consumers:
//! the `listenfd` crate (examples/probe.rs), Python's standard library, and
//! `systemd-socket-activate` for parity.

use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixListener;
use std::time::Duration;

use crate::harness::net::{addr_in, ask_probe, exchange};
use crate::harness::probe::probe_fds;
use crate::harness::tools::{SS, SYSTEMD_SOCKET_ACTIVATE};
use crate::harness::{
    free_port, probe, systemfd, systemfd_path, temp_dir, Ran, TestCommand, DEADLINE,
};

/// Runs systemfd from a launcher that closes every descriptor above 2 (and
/// optionally opens some), so the child's fd table is exactly predictable.
fn launched(setup: &str, args: &[&str]) -> TestCommand {
    let script = format!(
        "import os, sys\nos.closerange(3, 4096)\n{setup}\nos.execv(sys.argv[1], sys.argv[1:])"
    );
    TestCommand::new("python3")
        .args(["-c", &script])
        .arg(systemfd_path())
        .args(args)
}

/// Python code the command runs as a strict consumer: it checks the
/// variables the way `sd_listen_fds` does, then prints facts about each fd.
const PY_CONSUMER: &str = r#"
import os, socket, fcntl
assert os.environ["LISTEN_PID"] == str(os.getpid()), "LISTEN_PID is not our pid"
n = int(os.environ["LISTEN_FDS"])
names = os.environ["LISTEN_FDNAMES"].split(":")
assert len(names) == n
for i in range(n):
    fd = 3 + i
    s = socket.socket(fileno=os.dup(fd))
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    print(f"fd{fd}", names[i], s.family.name, s.type.name,
          "nonblocking" if flags & os.O_NONBLOCK else "blocking",
          "reuseaddr=%d" % s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR),
          "reuseport=%d" % s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT),
          "listening=%d" % s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN),
          s.getsockname())
"#;

fn py_lines(ran: &Ran) -> Vec<String> {
    ran.stdout().lines().map(str::to_owned).collect()
}

#[test]
fn listenfd_consumer_gets_every_socket_in_order() {
    let dir = temp_dir();
    let sock = dir.path().join("app.sock");
    let ran = systemfd()
        .args(["-s", "http::0", "-s", "web=udp::0", "-s"])
        .arg(format!("unix::{}", sock.display()))
        .args(["-s", "@systemfd-test-abstract", "--"])
        .arg(probe())
        .success();
    let r = ran.probe_report();
    assert_eq!(r["LISTEN_FDS"], "4", "{}", ran.report());
    assert_eq!(
        r["LISTEN_PID"], r["pid"],
        "exec mode: LISTEN_PID is the command's pid"
    );
    assert_eq!(r["LISTEN_FDNAMES"], "http:web:unix:unix");
    assert_eq!(r["LISTEN_FDS_FIRST_FD"], "3");
    assert_eq!(r["count"], "4");

    let lines: Vec<String> = ran.stderr().lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 4, "{}", ran.report());
    let http_port = addr_in(&lines[0]).port();
    assert_ne!(http_port, 0, "port 0 is shown as the real port");
    assert_eq!(
        lines[0],
        format!("~> socket http://127.0.0.1:{http_port}/ -> fd #3")
    );
    let udp_port = addr_in(&lines[1]).port();
    assert_eq!(
        lines[1],
        format!("~> socket 127.0.0.1:{udp_port} (udp) -> fd #4 (name web)")
    );
    assert_eq!(
        lines[2],
        format!("~> socket {} (unix listener) -> fd #5", sock.display())
    );
    assert_eq!(
        lines[3],
        "~> socket @systemfd-test-abstract (unix listener) -> fd #6"
    );

    assert_eq!(r["socket0"], format!("tcp 127.0.0.1:{http_port}"));
    assert_eq!(r["socket1"], format!("udp 127.0.0.1:{udp_port}"));
    assert_eq!(r["socket2"], format!("unix {}", sock.display()));
    assert_eq!(r["socket3"], "unix @systemfd-test-abstract");
}

#[test]
fn listenfd_consumer_serves_a_client() {
    let mut running = systemfd()
        .args(["-s", "http::0", "--"])
        .arg(probe())
        .arg("serve")
        .spawn();
    let addr = addr_in(&running.wait_for_text("-> fd #3"));
    running.wait_for_text("serving");
    assert_eq!(
        ask_probe(addr, "ping", DEADLINE),
        format!("{} ping", running.pid()),
        "exec mode keeps the pid"
    );
}

#[test]
fn python_standard_library_consumer() {
    let script = r#"
import os, socket
assert os.environ["LISTEN_PID"] == str(os.getpid())
assert os.environ["LISTEN_FDS"] == "1"
s = socket.socket(fileno=3)
print("ready", flush=True)
conn, _ = s.accept()
conn.sendall(b"hello from python\n")
conn.close()
"#;
    let mut running = systemfd()
        .args(["-s", "tcp::0", "--", "python3", "-c", script])
        .spawn();
    let port = addr_in(&running.wait_for_text("(tcp listener) -> fd #3")).port();
    running.wait_for_text("ready");
    let answer = exchange(port, b"").unwrap();
    assert_eq!(answer, "hello from python\n");
    assert!(running.wait().success(), "{}", running.report());
}

#[test]
fn python_sees_the_socket_types_and_options() {
    let dir = temp_dir();
    let dgram = dir.path().join("d.sock");
    let seq = dir.path().join("q.sock");
    let ran = systemfd()
        .args(["-s", "a=tcp::0", "-s", "b=udp::0", "-s"])
        .arg(format!("c=unix-dgram::{}", dgram.display()))
        .arg("-s")
        .arg(format!("d=unix-seqpacket::{}", seq.display()))
        .args(["--", "python3", "-c", PY_CONSUMER])
        .success();
    let lines = py_lines(&ran);
    assert_eq!(lines.len(), 4, "{}", ran.report());
    let expect = [
        "fd3 a AF_INET SOCK_STREAM blocking reuseaddr=1 reuseport=0 listening=1",
        "fd4 b AF_INET SOCK_DGRAM blocking reuseaddr=1 reuseport=0 listening=0",
        "fd5 c AF_UNIX SOCK_DGRAM blocking reuseaddr=0 reuseport=0 listening=0",
        "fd6 d AF_UNIX SOCK_SEQPACKET blocking reuseaddr=0 reuseport=0 listening=1",
    ];
    for (line, expect) in lines.iter().zip(expect) {
        assert!(
            line.starts_with(expect),
            "{line:?} should start with {expect:?}\n{}",
            ran.report()
        );
    }
    assert!(
        lines[2].ends_with(&format!(" {}", dgram.display())),
        "{}",
        lines[2]
    );
}

#[test]
fn socket_options_follow_the_flags() {
    let cases: [(&[&str], &str); 2] = [
        (
            &["--no-reuse", "--nonblocking"],
            "fd3 tcp AF_INET SOCK_STREAM nonblocking reuseaddr=0 reuseport=0",
        ),
        (
            &["--reuse-port"],
            "fd3 tcp AF_INET SOCK_STREAM blocking reuseaddr=1 reuseport=1",
        ),
    ];
    for (flags, expect) in cases {
        let ran = systemfd()
            .args(flags)
            .args(["-s", "tcp::0", "--", "python3", "-c", PY_CONSUMER])
            .success();
        assert!(py_lines(&ran)[0].starts_with(expect), "{}", ran.report());
    }
}

/// `ss` shows a listening socket's backlog in its Send-Q column.
fn backlog_of(args: &[&str]) -> Option<u32> {
    SS.require();
    // The port is only known once bound: the child asks ss about its own fd 3.
    let py = r#"
import socket, subprocess
s = socket.socket(fileno=3)
port = s.getsockname()[1]
out = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True, check=True).stdout
print(*[l.split()[2] for l in out.splitlines() if l.split()[3].endswith(f":{port}")])
"#;
    let ran = systemfd()
        .args(args)
        .args(["-s", "tcp::0", "--", "python3", "-c", py])
        .success();
    ran.stdout().trim().parse().ok()
}

#[test]
#[cfg_attr(not(has_ss), ignore = "needs ss (Debian: iproute2)")]
fn backlog_defaults_to_the_system_maximum() {
    let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(backlog_of(&[]), Some(somaxconn));
    assert_eq!(backlog_of(&["-b", "16"]), Some(16));
}

#[test]
#[cfg_attr(
    not(has_systemd),
    ignore = "needs systemd-socket-activate (Debian: systemd)"
)]
fn parity_with_systemd_socket_activate() {
    let activate = SYSTEMD_SOCKET_ACTIVATE.require();
    // systemd-socket-activate starts the command on the first connection.
    let (port, other) = (free_port(), free_port());
    let mut reference = TestCommand::new(activate)
        .args(["-l", &format!("127.0.0.1:{port}")])
        .args([
            "-l",
            &format!("127.0.0.1:{other}"),
            "--fdname=web:api",
            "--",
        ])
        .arg(probe())
        .spawn();
    let deadline = std::time::Instant::now() + DEADLINE;
    let _client = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(stream) => break stream,
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(err) => panic!("cannot reach systemd-socket-activate: {err}"),
        }
    };
    let status = reference.wait();
    assert!(status.success(), "{}", reference.report());
    let theirs = reference.probe_report();

    let (port, other) = (free_port(), free_port());
    let ran = launched(
        "",
        &[
            "-s",
            &format!("web=tcp::127.0.0.1:{port}"),
            "-s",
            &format!("api=127.0.0.1:{other}"),
            "--",
        ],
    )
    .arg(probe())
    .success();
    let ours = ran.probe_report();
    for key in ["LISTEN_FDS", "LISTEN_FDNAMES", "count"] {
        assert_eq!(ours[key], theirs[key], "{key} differs\n{}", ran.report());
    }
    assert_eq!(theirs["LISTEN_PID"], theirs["pid"]);
    assert_eq!(ours["LISTEN_PID"], ours["pid"]);
    // The same fd table: numbers, kinds and close-on-exec flags.
    assert_eq!(
        fd_numbers(&ours["fds"]),
        fd_numbers(&theirs["fds"]),
        "{}",
        ran.report()
    );
    assert_eq!(socket_fds(&ours["fds"]), socket_fds(&theirs["fds"]));
    assert_eq!(ours["LISTEN_FDNAMES"], "web:api");
    assert_eq!(ours["socket0"], format!("tcp 127.0.0.1:{port}"));
    assert_eq!(ours["socket1"], format!("tcp 127.0.0.1:{other}"));
}

fn fd_numbers(fds: &str) -> Vec<u32> {
    probe_fds(fds).into_iter().map(|(fd, _)| fd).collect()
}

fn socket_fds(fds: &str) -> Vec<&str> {
    probe_fds(fds)
        .into_iter()
        .map(|(_, entry)| entry)
        .filter(|entry| entry.contains('s'))
        .collect()
}

#[test]
fn child_has_exactly_the_expected_fds() {
    let ran = launched("", &["-s", "0", "-s", "udp::0", "--"])
        .arg(probe())
        .success();
    let r = ran.probe_report();
    // stdio, then the two sockets, inheritable; nothing of systemfd's own.
    assert_eq!(fd_numbers(&r["fds"]), [0, 1, 2, 3, 4], "{}", ran.report());
    assert_eq!(socket_fds(&r["fds"]), ["3s", "4s"]);
}

#[test]
fn parent_fds_in_the_range_are_replaced_and_others_pass_through() {
    // fd 3 and fd 6 open in the parent, not close-on-exec.
    let setup =
        "fd = os.open('/dev/null', os.O_RDONLY)\nos.dup2(fd, 3)\nos.dup2(fd, 6)\nos.close(fd)";
    let ran = launched(setup, &["-s", "http::0", "-s", "udp::0", "--"])
        .arg(probe())
        .success();
    let r = ran.probe_report();
    assert_eq!(r["fds"], "0f,1p,2p,3s,4s,6f", "{}", ran.report());
    assert!(
        r["socket0"].starts_with("tcp 127.0.0.1:"),
        "{}",
        ran.report()
    );
    assert!(
        r["socket1"].starts_with("udp 127.0.0.1:"),
        "{}",
        ran.report()
    );

    // The failure gunicorn had with systemfd 0.4: fd 3 must be the socket.
    let py = "import socket; s = socket.socket(fileno=3); print(s.type.name)";
    let ran = launched(setup, &["-s", "tcp::0", "--", "python3", "-c", py]).success();
    assert_eq!(ran.stdout(), "SOCK_STREAM\n");
}

#[test]
fn host_names_are_resolved_and_the_address_bound_is_shown() {
    let ran = systemfd()
        .args(["-s", "localhost:0", "--"])
        .arg(probe())
        .success();
    let line = ran.stderr();
    assert!(
        line.starts_with("~> socket 127.0.0.1:") || line.starts_with("~> socket [::1]:"),
        "the line shows what was bound\n{}",
        ran.report()
    );
}

#[test]
#[cfg_attr(not(has_ipv6_loopback), ignore = "needs an IPv6 loopback address")]
fn ipv6_addresses() {
    let ran = systemfd()
        .args(["-s", "http::[::1]:0", "--"])
        .arg(probe())
        .success();
    assert!(
        ran.stderr().starts_with("~> socket http://[::1]:"),
        "{}",
        ran.report()
    );
    assert!(ran.probe_report()["socket0"].starts_with("tcp [::1]:"));
}

#[test]
fn no_sockets_warns_and_sets_no_variables() {
    let ran = systemfd()
        .env("LISTEN_FDS", "9")
        .env("LISTEN_PID", "1")
        .arg("--")
        .arg(probe())
        .success()
        .assert_stderr_contains("warning: no sockets given");
    let r = ran.probe_report();
    for key in [
        "LISTEN_FDS",
        "LISTEN_PID",
        "LISTEN_FDNAMES",
        "LISTEN_FDS_FIRST_FD",
    ] {
        assert_eq!(r[key], "<unset>", "{key}\n{}", ran.report());
    }
}

#[test]
fn no_pid_omits_listen_pid() {
    let ran = systemfd()
        .env("LISTEN_PID", "1")
        .args(["--no-pid", "-s", "0", "--"])
        .arg(probe())
        .success();
    let r = ran.probe_report();
    assert_eq!(r["LISTEN_PID"], "<unset>");
    assert_eq!(r["LISTEN_FDS"], "1");
    assert_eq!(
        r["socket0"].split(' ').next(),
        Some("tcp"),
        "listenfd accepts a missing LISTEN_PID"
    );
}

#[test]
fn quiet_and_colour() {
    let ran = systemfd().args(["-q", "-s", "0", "--", "true"]).success();
    assert_eq!(ran.stderr(), "");
    let ran = systemfd().args(["-q", "--", "true"]).success();
    assert_eq!(ran.stderr(), "", "-q silences the warning too");

    let ran = systemfd()
        .args(["--color", "always", "-s", "0", "--", "true"])
        .success();
    assert!(ran.stderr().contains("\x1b["), "{}", ran.report());
    let ran = systemfd()
        .args(["--color", "never", "-s", "0", "--", "true"])
        .success();
    assert!(!ran.stderr().contains('\x1b'));
    // auto: stderr is a pipe here, and NO_COLOR is honoured either way.
    let ran = systemfd()
        .env("NO_COLOR", "1")
        .args(["-s", "0", "--", "true"])
        .success();
    assert!(!ran.stderr().contains('\x1b'));
}

#[test]
fn exit_status_is_the_commands() {
    systemfd()
        .args(["-s", "0", "--", "sh", "-c", "exit 7"])
        .output()
        .assert_code(7);
    systemfd()
        .args(["--", "sh", "-c", "exit 0"])
        .output()
        .assert_code(0);
}

#[test]
fn command_not_found_or_not_executable() {
    systemfd()
        .args(["-s", "0", "--", "systemfd-no-such-command"])
        .output()
        .assert_code(127)
        .assert_stdout_empty()
        .assert_stderr_contains(
            "systemfd: error: cannot run 'systemfd-no-such-command': No such file or directory",
        );
    let dir = temp_dir();
    let file = dir.path().join("script");
    std::fs::write(&file, "#!/bin/sh\n").unwrap();
    systemfd()
        .arg("--")
        .arg(&file)
        .output()
        .assert_code(126)
        .assert_stderr_contains("Permission denied");
}

#[test]
fn bad_specs_are_usage_errors_quoting_the_spec() {
    let cases = [
        ("ftp::21", "unknown socket type 'ftp'"),
        ("70000", "'70000' is not a valid port"),
        ("a:b=5000", "the socket name contains ':'"),
        ("=5000", "the socket name is empty"),
        ("::1:80", "write it in brackets"),
        ("localhost", "cannot tell the socket type of 'localhost'"),
        (
            "tcp::/tmp/x",
            "'/tmp/x' is not a port or HOST:PORT, which tcp sockets take",
        ),
        ("", "the spec is empty"),
    ];
    for (spec, message) in cases {
        let ran = systemfd().args(["-s", spec, "--", "true"]).output();
        let ran = ran
            .assert_code(2)
            .assert_stdout_empty()
            .assert_stderr_contains(&format!("systemfd: error: invalid value '{spec}'"))
            .assert_stderr_contains(message);
        assert!(
            ran.stderr().starts_with("systemfd: error: "),
            "{}",
            ran.report()
        );
    }
    systemfd()
        .args(["-s", "0", "true"])
        .output()
        .assert_code(2)
        .assert_stderr_contains("systemfd: error:");
    systemfd()
        .args(["-b", "0", "-s", "0", "--", "true"])
        .output()
        .assert_code(2);
}

#[test]
fn every_spec_is_checked_before_anything_is_created() {
    let dir = temp_dir();
    let sock = dir.path().join("first.sock");
    systemfd()
        .arg("-s")
        .arg(format!("unix::{}", sock.display()))
        .args(["-s", "bogus::1", "--", "true"])
        .output()
        .assert_code(2);
    assert!(
        !sock.exists(),
        "no socket was created for a rejected command line"
    );
}

#[test]
fn port_in_use_is_an_error_not_sharing() {
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let ran = systemfd()
        .args(["-s", &format!("http::{port}"), "--", "true"])
        .output()
        .assert_code(1)
        .assert_stdout_empty();
    let cause = ran
        .stderr()
        .strip_prefix(&format!(
            "systemfd: error: cannot create socket 'http::{port}': cannot bind 127.0.0.1:{port}: "
        ))
        .map(str::to_owned);
    // Linux names the holder, this test's own process (or says it ran out
    // of time looking, on a busy machine); elsewhere the errno stays.
    let named = format!("in use by pid {} (", std::process::id());
    let expected = |cause: &str| match cfg!(target_os = "linux") {
        true => cause.starts_with(&named) || cause.contains("was found holding it within"),
        false => cause.starts_with("Address already in use"),
    };
    assert!(cause.as_deref().is_some_and(expected), "{}", ran.report());
}

#[test]
fn unresolvable_host_is_a_setup_error() {
    systemfd()
        .args(["-s", "no-such-host.invalid:80", "--", "true"])
        .output()
        .assert_code(1)
        .assert_stderr_contains("cannot resolve host name 'no-such-host.invalid'");
}

/// Runs `systemfd -s SPEC -- true`, which must fail to set up (status 1).
fn unix_spec_refused(spec: impl AsRef<std::ffi::OsStr>) -> Ran {
    systemfd()
        .arg("-s")
        .arg(spec)
        .args(["--", "true"])
        .output()
        .assert_code(1)
}

#[test]
fn stale_unix_socket_is_replaced() {
    let dir = temp_dir();
    let path = dir.path().join("s.sock");
    drop(UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let ran = systemfd()
        .arg("-s")
        .arg(format!("unix::{}", path.display()))
        .arg("--")
        .arg(probe())
        .success();
    assert_eq!(
        ran.probe_report()["socket0"],
        format!("unix {}", path.display())
    );
}

#[test]
fn live_unix_socket_is_in_use() {
    let dir = temp_dir();
    let path = dir.path().join("s.sock");
    let live = UnixListener::bind(&path).unwrap();
    unix_spec_refused(path.to_str().unwrap()).assert_stderr_contains("is in use");
    assert!(path.exists());
    // The live listener still works.
    std::os::unix::net::UnixStream::connect(&path).unwrap();
    live.accept().unwrap();
}

#[test]
fn a_listener_with_a_full_backlog_is_in_use_too() {
    use socket2::{Domain, SockAddr, Socket, Type};
    let dir = temp_dir();
    let path = dir.path().join("s.sock");
    let listener = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
    listener.bind(&SockAddr::unix(&path).unwrap()).unwrap();
    listener.listen(0).unwrap();
    // Fill the backlog: the next connect would block.
    let mut clients = Vec::new();
    loop {
        let client = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
        client.set_nonblocking(true).unwrap();
        match client.connect(&SockAddr::unix(&path).unwrap()) {
            Ok(()) => clients.push(client),
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(err) => panic!("connect: {err}"),
        }
        assert!(clients.len() < 1000, "the backlog never filled");
    }
    unix_spec_refused(path.to_str().unwrap()).assert_stderr_contains("is in use");
    assert!(path.exists());
}

#[test]
fn non_socket_paths_are_never_deleted() {
    let dir = temp_dir();
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, "precious").unwrap();
    unix_spec_refused(format!("unix::{}", file.display()))
        .assert_stderr_contains("exists and is a regular file; refusing to replace it");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "precious");

    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    unix_spec_refused(format!("unix::{}", sub.display()))
        .assert_stderr_contains("exists and is a directory");
    assert!(sub.is_dir());
}

#[test]
fn a_failure_removes_the_socket_files_created_so_far() {
    let dir = temp_dir();
    let first = dir.path().join("first.sock");
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = holder.local_addr().unwrap().to_string();
    systemfd()
        .arg("-s")
        .arg(format!("unix::{}", first.display()))
        .args(["-s", &busy, "--", "true"])
        .output()
        .assert_code(1);
    assert!(!first.exists(), "the earlier socket file was removed");

    // Likewise when the command cannot be run.
    systemfd()
        .arg("-s")
        .arg(format!("unix::{}", first.display()))
        .args(["--", "systemfd-no-such-command"])
        .output()
        .assert_code(127);
    assert!(!first.exists());
}

#[test]
fn help_and_version() {
    let ran = systemfd().arg("--help").success();
    assert!(
        ran.stdout().contains("-s, --socket <SPEC>"),
        "{}",
        ran.report()
    );
    assert!(ran
        .stdout()
        .contains("$ systemfd -s http::5000 -- cargo run"));
    let ran = systemfd().arg("--version").success();
    assert_eq!(
        ran.stdout(),
        format!("systemfd {}\n", env!("CARGO_PKG_VERSION"))
    );
}

/// How long a command that was not to start is given to show up anyway.
const NOT_STARTED: Duration = Duration::from_millis(500);

/// Connects to 127.0.0.1:`port` until it answers (the provider may not
/// listen yet), within the deadline.
fn connect_when_listening(port: u16) -> TcpStream {
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(stream) => return stream,
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(err) => panic!("cannot connect to port {port}: {err}"),
        }
    }
}

/// The LISTEN_* variables a report names, as a set, less `extras`.
fn listen_vars<'a>(
    report: &'a std::collections::BTreeMap<String, String>,
    extras: &[&str],
) -> std::collections::BTreeSet<&'a str> {
    report["listen_vars"]
        .split(',')
        .filter(|name| !name.is_empty() && !extras.contains(name))
        .collect()
}

#[test]
#[cfg_attr(
    not(has_systemd),
    ignore = "needs systemd-socket-activate (Debian: systemd)"
)]
fn on_demand_parity_with_systemd_socket_activate() {
    let activate = SYSTEMD_SOCKET_ACTIVATE.require();
    // Both hold the sockets and start the probe at the first connection
    // only, which it leaves unaccepted.
    let (port, other) = (free_port(), free_port());
    let mut reference = TestCommand::new(activate)
        .args(["-l", &format!("127.0.0.1:{port}")])
        .args([
            "-l",
            &format!("127.0.0.1:{other}"),
            "--fdname=web:api",
            "--",
        ])
        .arg(probe())
        .spawn();
    reference.wait_for_text(&format!("Listening on 127.0.0.1:{other} as 4."));
    assert!(
        !reference.shows_within("pid=", NOT_STARTED),
        "systemd-socket-activate started without a connection?\n{}",
        reference.report()
    );
    // Either socket wakes it: the second here.
    let _client = connect_when_listening(other);
    assert!(reference.wait().success(), "{}", reference.report());
    let theirs = reference.probe_report();

    let (port, other) = (free_port(), free_port());
    let mut ours = launched(
        "",
        &[
            "--on-demand",
            "-s",
            &format!("web=tcp::127.0.0.1:{port}"),
            "-s",
            &format!("api=127.0.0.1:{other}"),
            "--",
        ],
    )
    .arg(probe())
    .spawn();
    ours.wait_for_text(&format!(
        "~> waiting for the first connection on 127.0.0.1:{port} (tcp listener) or 127.0.0.1:{other} (tcp listener) to start "
    ));
    assert!(
        !ours.shows_within("pid=", NOT_STARTED),
        "started before any connection\n{}",
        ours.report()
    );
    let _client = connect_when_listening(other);
    ours.wait_for_text(&format!(
        "~> connection on 127.0.0.1:{other} (tcp listener): starting "
    ));
    assert!(ours.wait().success(), "{}", ours.report());
    let ours = ours.probe_report();

    for key in ["LISTEN_FDS", "LISTEN_FDNAMES", "count"] {
        assert_eq!(ours[key], theirs[key], "{key} differs");
    }
    assert_eq!(theirs["LISTEN_PID"], theirs["pid"]);
    assert_eq!(ours["LISTEN_PID"], ours["pid"], "exec keeps systemfd's pid");
    // The same fd table: numbers, kinds and close-on-exec flags.
    assert_eq!(fd_numbers(&ours["fds"]), fd_numbers(&theirs["fds"]));
    assert_eq!(socket_fds(&ours["fds"]), socket_fds(&theirs["fds"]));
    // The same standard variables. systemfd adds LISTEN_FDS_FIRST_FD (read
    // by listenfd and watchexec); LISTEN_PIDFDID (systemd 258) may be set
    // by either side, and Debian's older systemd does not set it.
    let pidfdid = "LISTEN_PIDFDID";
    assert!(
        listen_vars(&ours, &[]).contains("LISTEN_FDS_FIRST_FD"),
        "{}",
        ours["listen_vars"]
    );
    assert_eq!(
        listen_vars(&ours, &["LISTEN_FDS_FIRST_FD", pidfdid]),
        listen_vars(&theirs, &[pidfdid]),
    );
    assert_eq!(
        listen_vars(&theirs, &[pidfdid]),
        ["LISTEN_FDNAMES", "LISTEN_FDS", "LISTEN_PID"].into(),
    );
}

/// A Python command that prints `running` the moment it runs, then answers
/// one HTTP request on fd 3 with its pid.
const PY_ONE_ANSWER: &str = r#"
import os, socket, sys
print("run" + "ning", flush=True)
s = socket.socket(fileno=3)
c, _ = s.accept()
c.recv(4096)
c.sendall(b"HTTP/1.0 200 OK\r\n\r\npid %d" % os.getpid())
c.close()
"#;

/// Python's HTTP client: prints the body of `GET` on the URL it is given.
const PY_GET: &str = "import sys, urllib.request\nsys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=20).read().decode())";

#[test]
fn on_demand_a_first_connection_starts_the_command_which_answers_it() {
    let mut s = systemfd()
        .args(["--on-demand", "-s", "http::0", "--", "python3", "-c"])
        .arg(PY_ONE_ANSWER)
        .spawn();
    let line = s.wait_for_text("~> waiting for the first connection on http://127.0.0.1:");
    let addr = addr_in(&line);
    assert!(line.ends_with(" to start python3 -c ' …"), "{line}");
    assert!(
        !s.shows_within("running", NOT_STARTED),
        "nothing starts without a connection\n{}",
        s.report()
    );
    // Python's HTTP client waits in the backlog while the command starts.
    let client = std::process::Command::new("python3")
        .args(["-c", PY_GET, &format!("http://{addr}/")])
        .output()
        .expect("run python3");
    assert!(client.status.success(), "{client:?}\n{}", s.report());
    assert_eq!(
        String::from_utf8_lossy(&client.stdout),
        format!("pid {}", s.pid()),
        "answered by the command, which has systemfd's pid (exec)"
    );
    s.wait_for_text(&format!(
        "~> connection on http://{addr}/: starting python3"
    ));
    assert!(s.wait().success(), "{}", s.report());
}

#[test]
fn on_demand_a_datagram_starts_the_command_which_reads_it() {
    let script = "import socket\nprint('run' + 'ning', flush=True)\ns = socket.socket(fileno=3)\nprint('got', s.recv(100).decode(), flush=True)";
    let mut s = systemfd()
        .args(["--on-demand", "-s", "udp::0", "--", "python3", "-c", script])
        .spawn();
    let addr = addr_in(&s.wait_for_text("~> waiting for the first connection on 127.0.0.1:"));
    assert!(!s.shows_within("running", NOT_STARTED), "{}", s.report());
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sender.send_to(b"hello", addr).unwrap();
    s.wait_for_text("got hello");
    assert!(s.wait().success(), "{}", s.report());
}

#[test]
fn on_demand_a_unix_client_starts_the_command() {
    let dir = temp_dir();
    let path = dir.path().join("app.sock");
    let script = "import socket\nprint('run' + 'ning', flush=True)\ns = socket.socket(fileno=3)\nc, _ = s.accept()\nc.sendall(b'hello from the command')\nc.close()";
    let mut s = systemfd()
        .args(["--on-demand", "-s"])
        .arg(format!("unix::{}", path.display()))
        .args(["--", "python3", "-c", script])
        .spawn();
    s.wait_for_text(&format!(
        "~> waiting for the first connection on {} (unix listener)",
        path.display()
    ));
    assert!(!s.shows_within("running", NOT_STARTED), "{}", s.report());
    let mut client = std::os::unix::net::UnixStream::connect(&path).unwrap();
    client.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut client, &mut answer).unwrap();
    assert_eq!(answer, "hello from the command");
    assert!(s.wait().success(), "{}", s.report());
}

#[test]
fn on_demand_a_signal_before_the_first_connection_exits_cleanly() {
    let mut s = systemfd()
        .args(["--on-demand", "-s", "http::0", "--", "python3", "-c"])
        .arg(PY_ONE_ANSWER)
        .spawn();
    s.wait_for_text("~> waiting for the first connection on ");
    // SIGUSR1, which supervise mode passes on, has nothing to reach yet.
    s.signal(crate::harness::Signal::USR1);
    std::thread::sleep(std::time::Duration::from_millis(200));
    #[cfg(target_os = "linux")]
    assert!(
        crate::harness::process::alive(s.pid()),
        "SIGUSR1 ended the wait\n{}",
        s.report()
    );
    s.signal(crate::harness::Signal::TERM);
    let ran = s.finish();
    assert_eq!(ran.code(), Some(0), "{}", ran.report());
    assert!(
        ran.stderr()
            .contains("~> SIGTERM: stopping before the first connection; nothing ran"),
        "{}",
        ran.report()
    );
    assert!(!ran.stdout().contains("running"), "{}", ran.report());
}

#[test]
fn on_demand_a_command_nowhere_to_be_found_is_said_at_once() {
    for mode in [&["--on-demand"][..], &["--on-demand", "-w", "."]] {
        let ran = systemfd()
            .args(mode)
            .args(["-s", "tcp::0", "--", "systemfd-no-such-command"])
            .output();
        assert_eq!(ran.code(), Some(127), "{}", ran.report());
        assert!(
            ran.stderr()
                .contains("cannot run 'systemfd-no-such-command': no such file or directory"),
            "{}",
            ran.report()
        );
        // Before any socket was opened, and without waiting.
        assert!(!ran.stderr().contains("~> socket"), "{}", ran.report());
    }
}

#[test]
fn on_demand_the_build_runs_at_the_first_connection() {
    let dir = temp_dir();
    let marker = dir.path().join("built");
    let build = format!("echo built > {}", marker.display());
    let mut s = systemfd()
        .args(["--on-demand", "-s", "http::0", "--build", &build, "--"])
        .args(["python3", "-c", PY_ONE_ANSWER])
        .spawn();
    let addr = addr_in(&s.wait_for_text("~> waiting for the first connection on "));
    assert!(!s.shows_within("~> build:", NOT_STARTED), "{}", s.report());
    assert!(!marker.exists(), "built before the first connection");
    let answer = exchange(addr.port(), b"GET / HTTP/1.0\r\n\r\n").unwrap();
    assert!(answer.ends_with(&format!("pid {}", s.pid())), "{answer:?}");
    assert!(marker.exists());
    assert!(s.wait().success(), "{}", s.report());
}
