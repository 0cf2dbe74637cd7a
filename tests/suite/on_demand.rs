//! Supervise mode on demand (`--on-demand`) and stopping when idle
//! (`--idle-stop`), through the real binary with real clients: nothing
//! starts before a connection, a connection starts COMMAND and is answered
//! by it, changes meanwhile only mark it stale, an idle COMMAND is stopped
//! and the next connection starts it again, and the error page where a
//! crash meets these states.

use std::net::SocketAddr;
use std::time::Duration;

use crate::error_page::{answering, assert_app, assert_page, get, project, start_http};
use crate::harness::{number_after, Running, Signal};

/// How long a start that is not to come is given to show up anyway.
const NOT_STARTED: Duration = Duration::from_millis(500);

/// The pid of the next `~> started pid N`.
fn started(s: &mut Running) -> u32 {
    s.started()
}

/// `GET /` answered by the app: its pid.
fn app_pid(addr: SocketAddr, s: &Running) -> u32 {
    let answer = get(addr, "Accept: text/html", s);
    assert_app(&answer, None, s);
    number_after(&answer.text(), "app says hello from pid ")
}

/// Stops systemfd with SIGTERM and checks it exits with 0.
fn stop(mut s: Running) {
    s.signal(Signal::TERM);
    let status = s.wait();
    assert!(status.success(), "{}", s.report());
}

#[test]
fn a_connection_starts_the_command_and_changes_before_only_mark_it_stale() {
    let dir = project("serve");
    let (mut s, addr) = start_http(&dir, &["--on-demand"]);
    s.wait_for_text(&format!(
        "~> waiting for the first connection on http://{addr}/ to start python3 src/app.py"
    ));
    assert!(
        !s.shows_within("~> started pid", NOT_STARTED),
        "{}",
        s.report()
    );
    dir.write("src/mode.txt", "serve\n");
    s.wait_for_text("~> change: src/mode.txt");
    s.wait_for_text("~> not running: the next connection starts the new version");
    assert!(
        !s.shows_within("~> started pid", NOT_STARTED),
        "{}",
        s.report()
    );
    // The request waits in the backlog while the app starts, and the app
    // answers it.
    let pid = app_pid(addr, &s);
    s.wait_for_text(&format!(
        "~> connection on http://{addr}/: starting python3 src/app.py"
    ));
    assert_eq!(started(&mut s), pid);
    stop(s);
}

#[test]
fn a_crash_gets_the_error_page_and_after_a_change_a_connection_starts_it() {
    let dir = project("crash 3");
    let (mut s, addr) = start_http(&dir, &["--on-demand"]);
    s.wait_for_text("~> waiting for the first connection on ");
    // The first request starts the app, which crashes without taking it:
    // the error page answers it.
    let answer = get(addr, "Accept: text/html", &s);
    assert_page(&answer, "text/html", &s);
    let crashed = started(&mut s);
    s.wait_for_text(&format!("~> pid {crashed} exited with status 3"));
    s.wait_for_text(&answering(addr));
    // Crashed with no change since: the page answers, nothing starts.
    assert_page(&get(addr, "Accept: text/html", &s), "text/html", &s);
    assert_eq!(s.count("~> started pid"), 1, "{}", s.report());
    // Changed: the page stops, and the next connection starts the app.
    dir.write("src/mode.txt", "serve");
    s.wait_for_text("~> not running: the next connection starts the new version");
    s.wait_for_text(&format!(
        "~> waiting for a connection on http://{addr}/ to start python3 src/app.py anew"
    ));
    assert!(
        !s.shows_within("~> started pid", NOT_STARTED),
        "{}",
        s.report()
    );
    let pid = app_pid(addr, &s);
    assert_eq!(started(&mut s), pid);
    stop(s);
}

#[cfg(target_os = "linux")]
#[test]
fn an_idle_command_is_stopped_and_the_next_connection_starts_it_again() {
    let dir = project("serve");
    let (mut s, addr) = start_http(&dir, &["--idle-stop", "1s"]);
    let first = started(&mut s);
    assert_eq!(app_pid(addr, &s), first);
    let answered = std::time::Instant::now();
    s.wait_for_text(&format!(
        "~> pid {first} had no connection for 1s: stopping it (--idle-stop)"
    ));
    assert!(
        answered.elapsed() >= Duration::from_secs(1),
        "stopped {:?} after the last connection\n{}",
        answered.elapsed(),
        s.report()
    );
    s.wait_for_text(&format!("~> stopped pid {first}"));
    s.wait_for_text(&format!(
        "~> waiting for the next connection on http://{addr}/ to start python3 src/app.py again"
    ));
    assert!(
        !s.shows_within("~> started pid", NOT_STARTED),
        "{}",
        s.report()
    );
    // A change while stopped only marks it stale.
    dir.write("src/mode.txt", "serve\n");
    s.wait_for_text("~> not running: the next connection starts the new version");
    let second = app_pid(addr, &s);
    assert_ne!(second, first);
    s.wait_for_text(&format!("~> connection on http://{addr}/: starting"));
    assert_eq!(started(&mut s), second);
    // Idle again: stopped again.
    s.wait_for_text(&format!("~> pid {second} had no connection for 1s"));
    stop(s);
}

#[cfg(target_os = "linux")]
#[test]
fn an_open_connection_holds_the_idle_stop_off() {
    let dir = project("serve");
    let (mut s, addr) = start_http(&dir, &["--idle-stop", "1s"]);
    let first = started(&mut s);
    s.wait_for_text(&format!("~> ready: pid {first}"));
    // Connected, sending nothing: open as long as the client keeps it.
    let client = std::net::TcpStream::connect(addr).unwrap();
    assert!(
        !s.shows_within("had no connection", Duration::from_millis(2500)),
        "stopped while a connection was open\n{}",
        s.report()
    );
    drop(client);
    s.wait_for_text(&format!("~> pid {first} had no connection for 1s"));
    stop(s);
}

/// A Unix stream server on fd 3 that keeps every connection until its
/// client closes it.
#[cfg(target_os = "linux")]
const PY_UNIX_HOLDER: &str = r#"
import socket, threading
s = socket.socket(fileno=3)
def hold(c):
    while c.recv(100):
        pass
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=hold, args=(c,), daemon=True).start()
"#;

#[cfg(target_os = "linux")]
#[test]
fn a_unix_connection_holds_the_idle_stop_off_and_a_unix_client_starts_it_again() {
    let dir = crate::harness::Project::new(&["tmp", "src"]);
    let path = dir.path("tmp/app.sock");
    let mut s = crate::harness::systemfd()
        .current_dir(dir.root())
        .env("TMPDIR", dir.path("tmp"))
        .args(["-s", &format!("unix::{}", path.display())])
        .args(["-w", "src", "--idle-stop", "1s", "--"])
        .args(["python3", "-c", PY_UNIX_HOLDER])
        .spawn();
    let first = started(&mut s);
    s.wait_for_text(&format!("~> ready: pid {first}"));
    let client = std::os::unix::net::UnixStream::connect(&path).unwrap();
    assert!(
        !s.shows_within("had no connection", Duration::from_millis(2500)),
        "stopped while a Unix connection was open\n{}",
        s.report()
    );
    drop(client);
    s.wait_for_text(&format!("~> pid {first} had no connection for 1s"));
    s.wait_for_text("~> waiting for the next connection on ");
    let _again = std::os::unix::net::UnixStream::connect(&path).unwrap();
    s.wait_for_text(&format!(
        "~> connection on {} (unix listener)",
        path.display()
    ));
    assert_ne!(started(&mut s), first);
    stop(s);
}

/// An HTTP server on fd 3 answering each request with its pid, which
/// takes a second to stop on SIGTERM, accepting nothing meanwhile.
#[cfg(target_os = "linux")]
const PY_SLOW_STOP: &str = r#"
import os, signal, socket, sys, time
def slow(*_):
    print("stopping slowly", flush=True)
    time.sleep(1)
    sys.exit(0)
signal.signal(signal.SIGTERM, slow)
s = socket.socket(fileno=3)
while True:
    c, _ = s.accept()
    c.recv(4096)
    c.sendall(b"HTTP/1.0 200 OK\r\n\r\napp says hello from pid %d" % os.getpid())
    c.close()
"#;

#[cfg(target_os = "linux")]
#[test]
fn a_connection_during_the_idle_stop_starts_the_command_once_it_has_exited() {
    let dir = project("serve");
    let mut s = crate::harness::systemfd()
        .current_dir(dir.root())
        .env("TMPDIR", dir.path("tmp"))
        .args(["-s", "http::0", "-w", "src", "--idle-stop", "1s", "--"])
        .args(["python3", "-c", PY_SLOW_STOP])
        .spawn();
    let addr = crate::harness::net::addr_in(&s.wait_for_text("~> socket http://127.0.0.1:"));
    let first = started(&mut s);
    s.wait_for_text(&format!("~> pid {first} had no connection for 1s"));
    s.wait_for_text("stopping slowly");
    // It no longer accepts, and has not exited: the request waits in the
    // backlog, and the next command answers it.
    let pid = app_pid(addr, &s);
    assert_ne!(pid, first);
    s.wait_for_text(&format!("~> stopped pid {first}"));
    s.wait_for_text(&format!("~> connection on http://{addr}/: starting"));
    assert_eq!(started(&mut s), pid);
    stop(s);
}
