//! What systemfd does with the sockets themselves, driven through the real
//! binary on Linux: the mode of a socket file (`--socket-mode`) as a client
//! of another user finds it, a socket file that the command removes or
//! replaces, who holds a port that a bind finds in use, and
//! `LISTEN_PIDFDID` as the command's own pidfd shows it.

use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

use crate::harness::tools::{self, PYTHON3};
use crate::harness::{free_port, systemfd, systemfd_path, Project, Running, Signal, TestCommand};

/// Python code that checks `LISTEN_PIDFDID` the way a reader that knows it
/// does, against a pidfd of its own process, and prints one line:
/// `pidfdid pidfs match pid-ok` where the kernel gives pidfds an id (pidfs,
/// Linux 6.9: two processes' pidfds have inodes of their own; before, they
/// share one anonymous inode) and the variable holds it; `match` also when
/// there is no id and no variable.
const PIDFD_CHECK: &str = r#"
import os
fd = os.pidfd_open(os.getpid())
pidfs = os.fstat(fd).st_ino != os.fstat(os.pidfd_open(os.getppid())).st_ino
want = str(os.fstat(fd).st_ino) if pidfs else None
got = os.environ.get("LISTEN_PIDFDID")
pid = os.environ.get("LISTEN_PID")
print("pidfdid", "pidfs" if pidfs else "no-pidfs",
      "match" if got == want else f"mismatch got={got} want={want}",
      "pid-ok" if pid == str(os.getpid()) else f"pid={pid}", flush=True)
"#;

/// The check's line, as a strict reader on this kernel must see it.
fn pidfd_matches(line: &str) -> bool {
    line == "pidfdid pidfs match pid-ok" || line == "pidfdid no-pidfs match pid-ok"
}

#[test]
fn exec_mode_gives_the_command_its_own_pidfd_id() {
    let python = PYTHON3.require();
    let ran = systemfd()
        .args(["-s", "tcp::0", "--", python, "-c", PIDFD_CHECK])
        .success();
    assert!(pidfd_matches(ran.stdout().trim()), "{}", ran.report());

    // With --adopt systemfd forks: the child computes its own.
    let ran = systemfd()
        .args(["--adopt", "-s", "tcp::0", "--", python, "-c", PIDFD_CHECK])
        .success();
    assert!(pidfd_matches(ran.stdout().trim()), "{}", ran.report());

    // --no-pid leaves it out with LISTEN_PID, and an inherited one never
    // reaches the command.
    let ran = systemfd()
        .env("LISTEN_PIDFDID", "12345")
        .args(["--no-pid", "-s", "tcp::0", "--", python, "-c", PIDFD_CHECK])
        .success();
    let line = ran.stdout();
    let line = line.trim();
    assert!(
        line.starts_with("pidfdid pidfs mismatch got=None want=")
            || line.starts_with("pidfdid no-pidfs match"),
        "{}",
        ran.report()
    );
    assert!(line.ends_with(" pid=None"), "{}", ran.report());
}

#[test]
fn every_supervised_start_gets_its_own_pidfd_id() {
    let python = PYTHON3.require();
    let dir = Project::new(&["tmp", "src"]);
    let mut run = systemfd()
        .current_dir(dir.root())
        .env("TMPDIR", dir.path("tmp"))
        .args(["-s", "tcp::0", "-w", "src", "--", python, "-c", PIDFD_CHECK])
        .spawn();
    let first = run.wait_for_text("pidfdid");
    assert!(pidfd_matches(&first), "{}", run.report());
    run.wait_for_text("~> waiting for a change or SIGHUP");
    run.signal(Signal::HUP);
    let second = run.wait_for_text("pidfdid");
    assert!(pidfd_matches(&second), "{}", run.report());
    run.signal(Signal::TERM);
    assert!(run.wait().success(), "{}", run.report());
}

#[test]
fn a_reader_that_checks_the_pidfd_id_accepts_the_sockets() {
    let reader = crate::harness::example("pidfdid_reader");
    let ran = systemfd()
        .args(["-s", "tcp::0", "--"])
        .arg(&reader)
        .success();
    assert_eq!(ran.stdout().trim(), "accepted 1", "{}", ran.report());

    // The same reader refuses an id that is not its own, with the right
    // LISTEN_PID: the id is checked, not only the pid.
    let ran = systemfd()
        .args(["-s", "tcp::0", "--", "/bin/sh", "-c"])
        .arg(format!("LISTEN_PIDFDID=12345 exec {}", reader.display()))
        .success();
    // Where pidfds have ids of their own (pidfs, Linux 6.9); before, the
    // reader has nothing to check against and takes them.
    let pidfs = TestCommand::new(PYTHON3.require())
        .args([
            "-c",
            "import os; print(os.fstat(os.pidfd_open(os.getpid())).st_ino \
             != os.fstat(os.pidfd_open(os.getppid())).st_ino)",
        ])
        .success();
    let expected = if pidfs.stdout().trim() == "True" {
        "refused: "
    } else {
        "accepted 1"
    };
    assert!(ran.stdout().starts_with(expected), "{}", ran.report());

    // Supervised starts, each with its own id.
    let dir = Project::new(&["tmp", "src"]);
    let mut run = systemfd()
        .current_dir(dir.root())
        .env("TMPDIR", dir.path("tmp"))
        .args(["-s", "tcp::0", "-w", "src", "--"])
        .arg(&reader)
        .spawn();
    run.wait_for_text("accepted 1");
    run.wait_for_text("~> waiting for a change or SIGHUP");
    run.signal(Signal::HUP);
    run.wait_for_text("accepted 1");
    run.signal(Signal::TERM);
    assert!(run.wait().success(), "{}", run.report());
}

/// A Unix stream server on fd 3 that answers each connection with `hello`;
/// with `unlink` as its second argument it removes its socket file (the
/// first argument) when it is told to stop, as some servers do.
const UNIX_SERVER: &str = r#"
import os, signal, socket, sys
def stop(*_):
    if sys.argv[2:] == ["unlink"]:
        os.unlink(sys.argv[1])
    os._exit(0)
signal.signal(signal.SIGTERM, stop)
s = socket.socket(fileno=3)
print("serving", os.getpid(), flush=True)
while True:
    c, _ = s.accept()
    c.sendall(b"hello\n")
    c.close()
"#;

/// What a client that connects to `path` as `nobody` gets: the server's
/// `hello`, or the error.
fn connect_as_nobody(path: &Path) -> String {
    let client = "import socket, sys\n\
                  s = socket.socket(socket.AF_UNIX)\n\
                  try:\n    s.connect(sys.argv[1]); print(s.recv(64).decode().strip())\n\
                  except OSError as e:\n    print(e.strerror)";
    // Debian's Python, which every user may run (not one under a home).
    tools::require(
        "/usr/bin/python3",
        "--version",
        "install python3 (Debian: `apt-get install python3`)",
    );
    TestCommand::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .args(["/usr/bin/python3", "-c", client])
        .arg(path)
        .success()
        .stdout()
        .trim()
        .to_owned()
}

/// systemfd with `args` under umask 022, serving [`UNIX_SERVER`] on
/// `socket` (in exec mode).
fn serve_unix(socket: &Path, args: &[&str]) -> Running {
    let mut run = TestCommand::new("sh")
        .args(["-c", "umask 022; exec \"$@\"", "sh"])
        .arg(systemfd_path())
        .args(args)
        .arg("-s")
        .arg(format!("unix::{}", socket.display()))
        .args(["--", PYTHON3.require(), "-c", UNIX_SERVER])
        .arg(socket)
        .spawn();
    run.wait_for_text("serving");
    run
}

fn mode_of(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

#[test]
#[cfg_attr(
    not(has_setpriv_nobody),
    ignore = "needs root, to run a client as nobody (setpriv)"
)]
fn socket_mode_decides_who_may_connect() {
    let dir = Project::new(&[]);
    // Others may reach the socket files in it.
    std::fs::set_permissions(dir.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let socket = dir.path("app.sock");

    // The default: what the umask leaves (0755), so only the owner connects.
    let run = serve_unix(&socket, &[]);
    assert_eq!(mode_of(&socket), 0o755);
    assert_eq!(connect_as_nobody(&socket), "Permission denied");
    assert_eq!(connect_unix(&socket), "hello");
    drop(run);
    std::fs::remove_file(&socket).unwrap();

    let run = serve_unix(&socket, &["--socket-mode", "0666"]);
    assert_eq!(mode_of(&socket), 0o666);
    assert_eq!(connect_as_nobody(&socket), "hello", "{}", run.report());
    drop(run);
    std::fs::remove_file(&socket).unwrap();

    // Narrower than the umask's: never wider than asked.
    let run = serve_unix(&socket, &["--socket-mode", "600"]);
    assert_eq!(mode_of(&socket), 0o600);
    assert_eq!(connect_as_nobody(&socket), "Permission denied");
    assert_eq!(connect_unix(&socket), "hello", "{}", run.report());
}

#[test]
fn socket_mode_needs_a_socket_file() {
    let dir = Project::new(&[]);
    for (args, message) in [
        (
            vec!["-s", "tcp::0"],
            "--socket-mode 0660 sets the mode of Unix socket files, and no -s gives one",
        ),
        (
            vec!["-s", "@systemfd-test-mode", "-s", "unix::x.sock"],
            "'@systemfd-test-mode' is in Linux's abstract namespace, which has no file and so no mode",
        ),
    ] {
        systemfd()
            .current_dir(dir.root())
            .args(["--socket-mode", "0660"])
            .args(args)
            .args(["--", "true"])
            .output()
            .assert_code(2)
            .assert_stdout_empty()
            .assert_stderr_contains(message);
    }
    systemfd()
        .args(["--socket-mode", "0o660", "-s", "unix::x.sock", "--", "true"])
        .output()
        .assert_code(2)
        .assert_stderr_contains("not an octal mode");
    // Nothing was created.
    assert_eq!(std::fs::read_dir(dir.root()).unwrap().count(), 0);
}

/// What a client connecting to `path` gets: `hello`, or the error.
fn connect_unix(path: &Path) -> String {
    use std::io::Read as _;
    match UnixStream::connect(path) {
        Ok(mut stream) => {
            let mut answer = String::new();
            stream.read_to_string(&mut answer).unwrap();
            answer.trim().to_owned()
        }
        Err(err) => err.kind().to_string(),
    }
}

/// systemfd supervising [`UNIX_SERVER`] on `app.sock` in `dir`, with
/// `server_args` after the socket's path.
fn supervise_unix(dir: &Project, server_args: &[&str]) -> Running {
    let mut run = systemfd()
        .current_dir(dir.root())
        .env("TMPDIR", dir.path("tmp"))
        .args(["-s", "unix::app.sock", "-w", "src", "--"])
        .args([PYTHON3.require(), "-c", UNIX_SERVER, "app.sock"])
        .args(server_args)
        .spawn();
    run.wait_for_text("serving");
    run.wait_for_text("~> ready: pid");
    run
}

#[test]
fn a_server_that_removes_its_socket_file_is_said_once() {
    let dir = Project::new(&["tmp", "src"]);
    let socket = dir.path("app.sock");
    let mut run = supervise_unix(&dir, &["unlink"]);
    assert_eq!(connect_unix(&socket), "hello");

    // The old server removes the file as it stops, after the handover.
    run.signal(Signal::HUP);
    let warning = run.wait_for_text("app.sock was removed");
    assert_eq!(
        warning,
        "~> warning: app.sock was removed (by the command?): clients that connect to it now fail (no such file), while the command keeps the socket and what is already connected; restart systemfd to make the file again",
        "{}",
        run.report()
    );
    assert_eq!(connect_unix(&socket), "entity not found");

    // Said once, whatever the restarts that follow.
    run.signal(Signal::HUP);
    run.wait_for_text("~> handover");
    run.wait_for_text("~> stopped pid");
    run.signal(Signal::TERM);
    assert!(run.wait().success(), "{}", run.report());
    assert_eq!(run.count("was removed"), 1, "{}", run.report());
}

#[test]
fn a_replaced_socket_file_is_said_and_left_in_place_at_exit() {
    let dir = Project::new(&["tmp", "src"]);
    let socket = dir.path("app.sock");
    let mut run = supervise_unix(&dir, &[]);
    // Another program puts a socket of its own at the path.
    std::fs::remove_file(&socket).unwrap();
    let other = UnixListener::bind(&socket).unwrap();
    run.signal(Signal::HUP);
    run.wait_for_text("app.sock is no longer systemfd's socket");
    run.wait_for_text("~> handover");
    run.signal(Signal::TERM);
    assert!(run.wait().success(), "{}", run.report());
    // Not systemfd's: still there, and still the other program's.
    assert!(socket.exists(), "{}", run.report());
    drop(other);

    // While the path names systemfd's file, it goes at exit.
    std::fs::remove_file(&socket).unwrap();
    let mut run = supervise_unix(&dir, &[]);
    run.signal(Signal::TERM);
    assert!(run.wait().success(), "{}", run.report());
    assert!(!socket.exists(), "{}", run.report());
    assert!(!run.saw("warning"), "{}", run.report());
}

/// Python's HTTP server on 127.0.0.1:`port`, serving.
fn python_server(port: u16) -> Running {
    let mut server = TestCommand::new(PYTHON3.require())
        .args([
            "-u",
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .spawn();
    server.wait_for_text("Serving HTTP");
    server
}

#[test]
fn a_port_in_use_names_the_process_that_holds_it() {
    let port = free_port();
    let server = python_server(port);
    let ran = bind_failure(&["-s", &format!("http::{port}")]);
    // The command line as the process shows it (a Python installed by
    // pyenv names itself by its full path).
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", server.pid())).unwrap();
    let cmdline = String::from_utf8(cmdline)
        .unwrap()
        .trim_end_matches('\0')
        .replace('\0', " ");
    assert!(
        cmdline.ends_with(&format!(
            "python3 -u -m http.server {port} --bind 127.0.0.1"
        )),
        "{cmdline}"
    );
    assert_eq!(
        ran.stderr().trim(),
        format!(
            "systemfd: error: cannot create socket 'http::{port}': cannot bind 127.0.0.1:{port}: in use by pid {} ({cmdline})",
            server.pid()
        ),
        "{}",
        ran.report()
    );
    // A wildcard bind meets the same server.
    let ran = bind_failure(&["-s", &format!("0.0.0.0:{port}")]);
    let said = format!("in use by pid {} ({cmdline})", server.pid());
    assert!(ran.stderr().contains(&said), "{}", ran.report());
}

/// systemfd with `args`, failing to bind (status 1, nothing on stdout).
/// The search for the holder is bounded (50 ms); on a machine busy with
/// other tests it may run out of time, which it says: then systemfd is run
/// again, a few times at most.
fn bind_failure(args: &[&str]) -> crate::harness::Ran {
    let mut tries = 1;
    loop {
        let ran = systemfd()
            .args(args)
            .args(["--", "true"])
            .output()
            .assert_code(1)
            .assert_stdout_empty();
        if !ran.stderr().contains("was found holding it within") || tries == 5 {
            return ran;
        }
        tries += 1;
    }
}

#[test]
fn a_port_held_by_time_wait_only_says_so() {
    use std::io::Read as _;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut client = std::net::TcpStream::connect(addr).unwrap();
    let (server, _) = listener.accept().unwrap();
    // The side that closes first keeps the connection in TIME_WAIT.
    drop(server);
    let _ = client.read(&mut [0u8; 1]);
    drop(client);
    drop(listener);
    // Without SO_REUSEADDR the closed connection keeps the port; once it
    // has reached TIME_WAIT (from FIN_WAIT2), that is what is said.
    let said = |ran: &crate::harness::Ran| ran.stderr().contains("TIME_WAIT");
    let mut ran = None;
    crate::harness::wait_until("the connection to reach TIME_WAIT", || {
        let out = systemfd()
            .args(["--no-reuse", "-s", &addr.to_string(), "--", "true"])
            .output();
        let done = said(&out);
        ran = Some(out);
        done
    });
    let ran = ran.unwrap().assert_code(1);
    assert!(
        ran.stderr().contains(&format!(
            "cannot bind {addr}: in use only by closed connections in TIME_WAIT"
        )),
        "{}",
        ran.report()
    );
}

#[test]
#[cfg_attr(
    not(has_setpriv_nobody),
    ignore = "needs root, to run systemfd as nobody (setpriv)"
)]
fn a_port_of_another_user_is_said_to_be_theirs() {
    let port = free_port();
    let _server = python_server(port);
    let ran = TestCommand::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(systemfd_path())
        .args(["-s", &port.to_string(), "--", "true"])
        .output()
        .assert_code(1);
    assert!(
        ran.stderr().contains(&format!(
            "cannot bind 127.0.0.1:{port}: in use by a process of another user, root (uid 0), which systemfd may not look into"
        )),
        "{}",
        ran.report()
    );
}
