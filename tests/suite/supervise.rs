//! Supervise mode (`-w`), driven through the real binary: restarts on
//! changes and SIGHUP, ignore rules, `LISTEN_PID` per child, the readiness
//! handover, stopping, and what is left behind (nothing).

use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc;

use crate::harness::net::{addr_in, exchange};
use crate::harness::probe::{probe_entry, probe_fds};
#[cfg(target_os = "linux")]
use crate::harness::process::{alive, group_members};
#[cfg(target_os = "linux")]
use crate::harness::{
    command::wait_with_deadline, number_after, signal, systemfd_path, wait_until,
};
use crate::harness::{hello, probe, systemfd, Project, Running, Signal, TestCommand, DEADLINE};

/// systemfd with `args`, started in the project, with the project's `tmp/`
/// for its TMPDIR.
fn start(dir: &Project, args: &[&str]) -> Running {
    systemfd()
        .current_dir(dir.root())
        .env("TMPDIR", dir.path("tmp"))
        .args(args)
        .spawn()
}

/// The port of the first `~> socket 127.0.0.1:PORT …` line.
fn port(s: &mut Running) -> u16 {
    addr_in(&s.wait_for_text("~> socket 127.0.0.1:")).port()
}

/// The probe's next `KEY=value` line on stdout.
fn probe_value(s: &mut Running, key: &str) -> String {
    let line = s.wait_for(&format!("{key}="), |l| {
        probe_entry(l).is_some_and(|(k, _)| k == key)
    });
    probe_entry(&line).unwrap().1.to_owned()
}

/// A project directory for one test, with `tmp/` for systemfd's TMPDIR.
fn project() -> Project {
    Project::new(&["tmp"])
}

/// Asks the server on `port` over a fresh connection and returns the pid it
/// answers with: `Hello from pid N!` (hello) or a bare `N` (the Python server).
fn ask(port: u16) -> u32 {
    let answer = exchange(port, b"GET / HTTP/1.0\r\n\r\n").expect("ask the server");
    let body = answer.rsplit("\r\n\r\n").next().unwrap();
    let digits: String = body
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no pid in {answer:?}"))
}

/// What is in the project's `tmp/`, systemfd's TMPDIR.
fn temp_entries(dir: &Project) -> Vec<PathBuf> {
    std::fs::read_dir(dir.path("tmp"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

#[test]
fn restarts_on_a_change_with_listen_pid_set_to_each_child() {
    let dir = project();
    dir.write("src/main.rs", "");
    let mut s = start(&dir, &["-s", "tcp::0", "-w", "src", "--", &probe()]);

    let first = s.started();
    assert_eq!(probe_value(&mut s, "pid"), first.to_string());
    assert_eq!(
        probe_value(&mut s, "LISTEN_PID"),
        first.to_string(),
        "{}",
        s.report()
    );
    assert_eq!(probe_value(&mut s, "LISTEN_FDS"), "1");
    assert_eq!(probe_value(&mut s, "LISTEN_FDNAMES"), "tcp");
    assert_eq!(probe_value(&mut s, "LISTEN_FDS_FIRST_FD"), "3");
    // The socket at 3, inheritable; nothing of systemfd's own (its copies of
    // the sockets, the watcher, the readiness sockets, pipes) leaks.
    let expected = fds_with_socket_at_3();
    assert_eq!(probe_value(&mut s, "fds"), expected, "{}", s.report());
    assert!(probe_value(&mut s, "socket0").starts_with("tcp 127.0.0.1:"));
    s.wait_for_text(&format!("~> pid {first} exited with status 0"));
    s.wait_for_text("~> waiting for a change or SIGHUP");
    // It waits, rather than exiting with its command.
    assert!(s.child.try_wait().unwrap().is_none(), "{}", s.report());

    dir.write("src/main.rs", "fn main() {}");
    s.wait_for_text("~> change: src/main.rs");
    let second = s.started();
    assert_ne!(first, second);
    assert_eq!(probe_value(&mut s, "pid"), second.to_string());
    assert_eq!(
        probe_value(&mut s, "LISTEN_PID"),
        second.to_string(),
        "{}",
        s.report()
    );
    assert_eq!(probe_value(&mut s, "fds"), expected, "{}", s.report());
}

/// The probe's `fds=` line as it should read under systemfd: what a probe
/// started here directly inherits, with a socket at fd 3.
fn fds_with_socket_at_3() -> String {
    let ran = TestCommand::new(probe()).success();
    let mut fds: Vec<(u32, String)> = probe_fds(&ran.probe_report()["fds"])
        .into_iter()
        .filter(|(fd, _)| *fd != 3)
        .map(|(fd, entry)| (fd, entry.to_owned()))
        .collect();
    fds.push((3, "3s".to_owned()));
    fds.sort();
    fds.into_iter()
        .map(|(_, entry)| entry)
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn sighup_restarts() {
    let dir = project();
    let mut s = start(&dir, &["-s", "tcp::0", "-w", ".", "--", &probe()]);
    let first = s.started();
    s.wait_for_text("~> waiting for a change or SIGHUP");
    s.signal(Signal::HUP);
    s.wait_for_text("~> SIGHUP: restarting");
    let second = s.started();
    assert_ne!(first, second);
    assert_eq!(probe_value(&mut s, "LISTEN_PID"), first.to_string());
    assert_eq!(probe_value(&mut s, "LISTEN_PID"), second.to_string());
}

#[test]
fn ignored_paths_do_not_restart() {
    let dir = project();
    dir.mkdir(".git");
    dir.write(".gitignore", "/target\n*.log\ntmp/\n");
    dir.write("sub/.ignore", "*.gen\n");
    // Creating a directory is a change in itself: make it beforehand.
    dir.mkdir("src");
    let mut s = start(
        &dir,
        &[
            "-s",
            "tcp::0",
            "-w",
            ".",
            "--ignore",
            "scratch*",
            "--",
            &probe(),
        ],
    );
    s.started();
    s.wait_for_text("~> waiting for a change or SIGHUP");

    for ignored in [
        "target/debug/app",
        "target/debug/deps/app.d",
        "server.log",
        "sub/code.gen",
        "scratch.txt",
        ".git/index",
        "src/.main.rs.swp",
    ] {
        dir.write(ignored, "x");
    }
    dir.write("src/lib.rs", "x");
    // Every ignored write came first; had any counted, it would be named here.
    let change = s.wait_for_text("~> change: ");
    assert!(
        change.ends_with("~> change: src/lib.rs"),
        "{change}\n{}",
        s.report()
    );
    s.started();
    s.wait_for_text("~> waiting for a change or SIGHUP");
    assert_eq!(s.count("~> change:"), 1, "{}", s.report());
}

#[test]
fn readiness_handover_keeps_the_old_child_serving() {
    let dir = project();
    dir.write("src/app.rs", "");
    dir.mkdir("ctl");
    // Each start waits on ctl/gate while that FIFO exists, and fails at once
    // while ctl/fail exists; then it becomes hello (same pid).
    dir.write(
        "run.sh",
        &format!(
            "if [ -e ctl/fail ]; then echo failing on purpose >&2; exit 3; fi\n\
             if [ -p ctl/gate ]; then read line < ctl/gate; fi\n\
             exec '{}'\n",
            hello()
        ),
    );
    let mut s = start(&dir, &["-s", "tcp::0", "-w", "src", "--", "sh", "run.sh"]);
    let port = port(&mut s);
    let first = s.started();
    s.wait_for_text(&format!("~> ready: pid {first} after "));
    assert_eq!(ask(port), first);

    // A replacement that is not ready yet: the old child keeps serving.
    let gate = dir.path("ctl/gate");
    let made = Command::new("mkfifo").arg(&gate).status().unwrap();
    assert!(made.success());
    dir.write("src/app.rs", "1");
    s.wait_for_text(&format!(
        "~> restart: starting a replacement; pid {first} serves until it is ready"
    ));
    let second = s.started();
    for _ in 0..5 {
        assert_eq!(ask(port), first);
    }
    assert!(!s.saw("handover"), "{}", s.report());

    // Let it start: it reports READY=1, and only then is the old one stopped.
    let (tx, rx) = mpsc::channel();
    let opener = gate.clone();
    std::thread::spawn(move || {
        // Opening a FIFO for writing waits for its reader.
        let _ = tx.send(std::fs::write(opener, "go\n"));
    });
    rx.recv_timeout(DEADLINE)
        .expect("the replacement opens the gate")
        .unwrap();
    std::fs::remove_file(&gate).unwrap();
    s.wait_for_text(&format!("~> ready: pid {second} after "));
    s.wait_for_text(&format!(
        "~> handover: pid {second} is ready; stopping pid {first}"
    ));
    // hello finishes the request in hand on SIGTERM and exits by itself.
    s.wait_for_text(&format!("~> stopped pid {first}: it exited with status 0"));
    assert_eq!(ask(port), second);

    // A replacement that fails: the running child keeps serving.
    dir.write("ctl/fail", "");
    dir.write("src/app.rs", "2");
    let third = s.started();
    s.wait_for_text(&format!(
        "~> pid {third} exited with status 3 before it was ready; pid {second} keeps serving"
    ));
    assert_eq!(ask(port), second);
    assert!(!s.saw(&format!("stopping pid {second}")), "{}", s.report());
}

#[test]
fn a_child_that_never_reports_ready_is_stopped_first() {
    let dir = project();
    let mut s = start(
        &dir,
        &[
            "-s",
            "tcp::0",
            "-w",
            ".",
            "--ready",
            "notify",
            "--",
            &probe(),
            "serve",
        ],
    );
    let port = port(&mut s);
    let first = s.started();
    s.wait_for(&format!("{first} serving"), |l| l == "serving");
    s.signal(Signal::HUP);
    s.wait_for_text(&format!(
        "~> restart: stopping pid {first} first (it has not reported READY=1)"
    ));
    s.wait_for_text(&format!("~> stopped pid {first}: it was killed by SIGTERM"));
    let second = s.started();
    // probe answers "PID FIRST-LINE".
    assert_eq!(ask(port), second);
}

#[test]
fn stop_first_stops_even_a_ready_child_first() {
    let dir = project();
    let mut s = start(
        &dir,
        &["-s", "tcp::0", "-w", ".", "--stop-first", "--", &hello()],
    );
    let first = s.started();
    s.wait_for_text(&format!("~> ready: pid {first}"));
    s.signal(Signal::HUP);
    s.wait_for_text(&format!(
        "~> restart: stopping pid {first} first (--stop-first)"
    ));
    s.wait_for_text(&format!("~> stopped pid {first}"));
    let second = s.started();
    s.wait_for_text(&format!("~> ready: pid {second}"));
}

#[test]
fn a_strict_consumer_works_without_no_pid() {
    // As sd_listen_fds does: the sockets are ours only if LISTEN_PID is our pid.
    let script = r#"
import os, socket
pid = os.getpid()
assert os.environ.get("LISTEN_PID") == str(pid), "LISTEN_PID=%r, pid %d" % (os.environ.get("LISTEN_PID"), pid)
assert os.environ.get("LISTEN_FDS") == "1"
listener = socket.socket(fileno=3)
assert listener.type == socket.SOCK_STREAM
notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
notify.sendto(b"READY=1", os.environ["NOTIFY_SOCKET"])
print("python serving as", pid, flush=True)
while True:
    conn, _ = listener.accept()
    conn.recv(4096)
    conn.sendall(b"%d\n" % pid)
    conn.close()
"#;
    let dir = project();
    dir.write("server.py", script);
    let mut s = start(
        &dir,
        &[
            "-s",
            "tcp::0",
            "-w",
            "server.py",
            "--",
            "python3",
            "server.py",
        ],
    );
    let port = port(&mut s);
    let first = s.started();
    s.wait_for_text(&format!("python serving as {first}"));
    s.wait_for_text(&format!("~> ready: pid {first}"));
    assert_eq!(ask(port), first);

    dir.write("server.py", &format!("{script}\n# edited\n"));
    s.wait_for_text("~> change: server.py");
    let second = s.started();
    s.wait_for_text(&format!("python serving as {second}"));
    s.wait_for_text(&format!(
        "~> handover: pid {second} is ready; stopping pid {first}"
    ));
    // Until it has exited, the old server (which dies on SIGTERM, request in
    // hand or not) may still accept the next connection.
    s.wait_for_text(&format!("~> stopped pid {first}"));
    assert_eq!(ask(port), second);
    assert!(!s.saw("AssertionError"), "{}", s.report());
}

#[cfg(target_os = "linux")]
#[test]
fn sigterm_stops_the_whole_group_and_leaves_nothing_behind() {
    let dir = project();
    let mut s = start(
        &dir,
        &[
            "-s",
            "unix::app.sock",
            "-w",
            ".",
            "--",
            "sh",
            "-c",
            "sleep 300 & sleep 300 & wait",
        ],
    );
    let pid = s.started();
    wait_until("the command and its two children run", || {
        group_members(pid).len() == 3
    });
    assert!(dir.path("app.sock").exists());
    assert_eq!(temp_entries(&dir).len(), 1, "the private directory");

    s.signal(Signal::TERM);
    s.wait_for_text("~> SIGTERM: stopping the command");
    let status = s.wait();
    assert_eq!(status.code(), Some(0), "{}", s.report());
    wait_until("the group is gone", || group_members(pid).is_empty());
    assert!(temp_entries(&dir).is_empty(), "{:?}", temp_entries(&dir));
    assert!(!dir.path("app.sock").exists());
}

#[cfg(target_os = "linux")]
#[test]
fn sigkill_follows_the_stop_timeout() {
    let dir = project();
    let mut s = start(
        &dir,
        &[
            "-w",
            ".",
            "--stop-timeout",
            "300ms",
            "--",
            "sh",
            "-c",
            "trap '' TERM; sleep 300 & wait",
        ],
    );
    let pid = s.started();
    wait_until("the command and its child run", || {
        group_members(pid).len() == 2
    });
    s.signal(Signal::TERM);
    s.wait_for_text(&format!(
        "~> pid {pid} did not stop within 300ms; sending SIGKILL"
    ));
    s.wait_for_text(&format!("~> stopped pid {pid}: it was killed by SIGKILL"));
    assert_eq!(s.wait().code(), Some(0));
    wait_until("the group is gone", || group_members(pid).is_empty());
}

#[cfg(target_os = "linux")]
#[test]
fn a_second_interrupt_kills_at_once() {
    let dir = project();
    let mut s = start(
        &dir,
        &[
            "-w",
            ".",
            "--",
            "sh",
            "-c",
            "trap '' TERM; sleep 300 & wait",
        ],
    );
    let pid = s.started();
    wait_until("the command and its child run", || {
        group_members(pid).len() == 2
    });
    s.signal(Signal::INT);
    s.wait_for_text("~> SIGINT: stopping the command (again to kill it at once)");
    s.signal(Signal::INT);
    s.wait_for_text("~> SIGINT again: killing the command");
    assert_eq!(s.wait().code(), Some(130));
    wait_until("the group is gone", || group_members(pid).is_empty());
}

#[test]
fn the_stop_signal_is_configurable() {
    let dir = project();
    let mut s = start(
        &dir,
        &[
            "-w",
            ".",
            "--stop-signal",
            "INT",
            "--",
            "sh",
            "-c",
            "trap 'echo got INT; exit 0' INT; echo armed; while :; do sleep 1; done",
        ],
    );
    let pid = s.started();
    s.wait_for(&format!("{pid} armed"), |l| l == "armed");
    s.signal(Signal::HUP);
    s.wait_for(&format!("{pid} got INT"), |l| l == "got INT");
    s.wait_for_text(&format!("~> stopped pid {pid}: it exited with status 0"));
    s.started();
}

#[cfg(target_os = "linux")]
#[test]
fn the_command_dies_with_systemfd() {
    let dir = project();
    let mut s = start(&dir, &["-w", ".", "--", "sleep", "300"]);
    let pid = s.started();
    assert!(alive(pid));
    s.signal(Signal::KILL);
    s.wait();
    wait_until("the command is gone", || !alive(pid));
}

#[test]
fn quiet_prints_no_status_lines() {
    let dir = project();
    let mut s = start(&dir, &["-q", "-s", "tcp::0", "-w", ".", "--", &probe()]);
    let pid = probe_value(&mut s, "pid");
    s.signal(Signal::HUP);
    let next = probe_value(&mut s, "pid");
    assert_ne!(pid, next);
    s.signal(Signal::TERM);
    assert_eq!(s.wait().code(), Some(0));
    assert!(!s.saw("~>"), "{}", s.report());
}

#[test]
fn bad_values_are_usage_errors_with_no_side_effect() {
    let dir = project();
    for (args, message) in [
        (
            &["-w", "missing"][..],
            "invalid value 'missing' for '--watch <PATH>': no such file or directory",
        ),
        (
            &["-w", ".", "--stop-timeout", "soon"],
            "invalid value 'soon' for '--stop-timeout <DURATION>': not a duration",
        ),
        (
            &["-w", ".", "--debounce", "5h"],
            "invalid value '5h' for '--debounce <DURATION>': unknown unit 'h': use ms, s or m",
        ),
        (
            &["-w", ".", "--stop-signal", "NOPE"],
            "invalid value 'NOPE' for '--stop-signal <SIGNAL>': unknown signal",
        ),
        (
            &["-w", ".", "--ignore", "[oops"],
            "invalid value '[oops' for '--ignore <GLOB>': not a valid pattern",
        ),
        (
            &["-w", ".", "--stop-timeout", "10000000000000000000"],
            "invalid value '10000000000000000000' for '--stop-timeout <DURATION>': the duration is too long",
        ),
        (
            &["-w", ".", "--debounce", "9300000000000000000000"],
            "invalid value '9300000000000000000000' for '--debounce <DURATION>': the duration is too long",
        ),
        (
            &["-w", ".", "--signal", "0"],
            "invalid value '0' for '--signal <SIGNAL>': there is no signal 0",
        ),
        (
            &["--stop-first"],
            "--stop-first applies only in supervise mode: add --watch PATH",
        ),
        (
            &["--clear"],
            "--clear applies only in supervise mode: add --watch PATH",
        ),
        (
            &["-w", ".", "--ready", "soon"],
            "invalid value 'soon' for '--ready <HOW>'",
        ),
        (
            &["--ready", "notify"],
            "--ready applies only in supervise mode: add --watch PATH",
        ),
    ] {
        let ran = systemfd()
            .current_dir(dir.root())
            .env("TMPDIR", dir.path("tmp"))
            .args(["-s", "unix::app.sock"])
            .args(args)
            .args(["--", "true"])
            .output()
            .assert_code(2)
            .assert_stderr_contains(&format!("systemfd: error: {message}"));
        assert!(ran.stdout().is_empty(), "{}", ran.report());
        assert!(!dir.path("app.sock").exists(), "{}", ran.report());
        assert!(temp_entries(&dir).is_empty(), "{}", ran.report());
    }
}

#[test]
fn a_command_that_cannot_run_ends_supervision_with_126_or_127() {
    let dir = project();
    dir.write("plain", "not a program");
    for (command, code, message) in [
        (
            "systemfd-no-such-program",
            127,
            "cannot run 'systemfd-no-such-program'",
        ),
        ("./plain", 126, "cannot run './plain': Permission denied"),
    ] {
        let ran = systemfd()
            .current_dir(dir.root())
            .env("TMPDIR", dir.path("tmp"))
            .args(["-s", "unix::app.sock", "-w", ".", "--", command])
            .output()
            .assert_code(code)
            .assert_stderr_contains(&format!("systemfd: error: {message}"));
        assert!(!dir.path("app.sock").exists(), "{}", ran.report());
        assert!(temp_entries(&dir).is_empty(), "{}", ran.report());
    }
}

#[test]
fn signal_reloads_the_command_in_place_instead_of_restarting_it() {
    let dir = project();
    let mut s = start(
        &dir,
        &[
            "-w",
            ".",
            "--ignore",
            "tmp/",
            "--signal",
            "USR1",
            "--",
            "sh",
            "-c",
            "trap 'echo reloaded' USR1; echo armed; while :; do sleep 0.1; done",
        ],
    );
    let pid = s.started();
    s.wait_for("armed", |l| l == "armed");
    dir.write("app.conf", "changed");
    s.wait_for_text(&format!("~> sending SIGUSR1 to pid {pid} (--signal)"));
    s.wait_for("reloaded", |l| l == "reloaded");
    // SIGHUP to systemfd still restarts.
    s.signal(Signal::HUP);
    s.wait_for_text(&format!("~> stopped pid {pid}"));
    let second = s.started();
    assert_ne!(second, pid);
    assert_eq!(s.count("~> started pid "), 2, "{}", s.report());
}

#[test]
fn clear_sends_nothing_to_a_pipe() {
    let dir = project();
    let mut s = start(
        &dir,
        &["-w", ".", "--clear", "--", "sh", "-c", "echo up; sleep 60"],
    );
    s.started();
    s.wait_for("up", |l| l == "up");
    s.signal(Signal::TERM);
    s.wait();
    assert!(!s.saw("\u{1b}["), "{}", s.report());
}

#[cfg(target_os = "linux")]
#[test]
fn a_broken_stderr_does_not_stop_supervision() {
    use std::io::BufRead as _;
    use std::os::unix::fs::PermissionsExt as _;
    use std::process::Stdio;

    let dir = project();
    let script = dir.path("run.sh");
    let install = || {
        std::fs::write(&script, "#!/bin/sh\necho up $$\nexec sleep 60\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    install();
    let mut child = Command::new(systemfd_path())
        .current_dir(dir.root())
        .env("TMPDIR", dir.path("tmp"))
        .args(["-w", "run.sh", "--", "./run.sh"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Nobody reads stderr any more: every write to it fails with EPIPE.
    drop(child.stderr.take());
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let up = |rx: &mpsc::Receiver<String>| -> u32 {
        let line = rx.recv_timeout(DEADLINE).expect("the command starts");
        number_after(&line, "up ")
    };
    let first = up(&rx);
    // The restart stops the old child, then cannot start the program, which
    // is gone, and says so on the broken stderr.
    std::fs::remove_file(&script).unwrap();
    signal(child.id(), Signal::HUP);
    wait_until("the old child is gone", || !alive(first));
    // systemfd lives on: the next restart runs the program again.
    install();
    signal(child.id(), Signal::HUP);
    up(&rx);
    signal(child.id(), Signal::TERM);
    let status = wait_with_deadline(&mut child, DEADLINE).expect("systemfd exits");
    assert_eq!(status.code(), Some(0));
}

/// The pid a command printed on its `server PID` line.
#[cfg(target_os = "linux")]
fn server_pid(s: &mut Running) -> u32 {
    let line = s.wait_for("server PID", |l| l.starts_with("server "));
    number_after(&line, "server ")
}

#[cfg(target_os = "linux")]
#[test]
fn a_server_outliving_its_wrapper_is_stopped_too() {
    // The wrapper exits on SIGTERM at once; the server under it ignores it.
    let dir = project();
    let mut s = start(
        &dir,
        &[
            "-w",
            ".",
            "--stop-timeout",
            "300ms",
            "--",
            "sh",
            "-c",
            "trap 'exit 0' TERM; sh -c 'trap \"\" TERM; echo server $$; while :; do sleep 0.1; done' & wait",
        ],
    );
    let wrapper = s.started();
    let server = server_pid(&mut s);
    s.signal(Signal::HUP);
    // The restart waits for the whole group, SIGKILL after the timeout.
    // Its first process stopped, its group did not.
    s.wait_for_text(&format!(
        "~> process group {wrapper} did not stop within 300ms; sending SIGKILL"
    ));
    s.wait_for_text(&format!(
        "~> stopped pid {wrapper}: it exited with status 0"
    ));
    assert!(!alive(server), "{}", s.report());
    s.started();
    let next = server_pid(&mut s);
    s.signal(Signal::TERM);
    assert_eq!(s.wait().code(), Some(0), "{}", s.report());
    assert!(!alive(next), "the server outlived systemfd\n{}", s.report());
}

#[cfg(target_os = "linux")]
#[test]
fn a_command_that_exits_leaving_its_server_behind_still_runs() {
    let dir = project();
    let mut s = start(
        &dir,
        &[
            "-w",
            ".",
            "--",
            "sh",
            "-c",
            "sh -c 'echo server $$; exec sleep 60' & exit 0",
        ],
    );
    let leader = s.started();
    let server = server_pid(&mut s);
    s.wait_for_text(&format!(
        "~> pid {leader} exited with status 0; its process group runs on"
    ));
    assert!(!alive(leader), "{}", s.report());
    s.signal(Signal::TERM);
    // Named by its group from then on: pid `leader` is gone.
    s.wait_for_text(&format!(
        "~> stopped process group {leader}: its last process has exited (pid {leader} exited with status 0 before)"
    ));
    assert_eq!(s.wait().code(), Some(0), "{}", s.report());
    assert!(!alive(server), "{}", s.report());
}

/// Two commands whose wrappers both exited at once, leaving their servers
/// to systemfd: the handover stops the old server only, and the new one
/// serves on.
#[cfg(target_os = "linux")]
#[test]
fn a_handover_between_servers_whose_wrappers_exited_stops_the_old_one_only() {
    let dir = project();
    let server = "import os, socket\n\
                  s = socket.socket(fileno=3)\n\
                  print('server', os.getpid(), flush=True)\n\
                  while True:\n    c, _ = s.accept(); c.sendall(b'%d' % os.getpid()); c.close()";
    let mut s = systemfd()
        .current_dir(dir.root())
        .env("TMPDIR", dir.path("tmp"))
        .args(["-s", "tcp::0", "-w", ".", "--", "sh", "-c"])
        .arg("python3 -c \"$0\" & exit 0")
        .arg(server)
        .spawn();
    let first = s.started();
    let old_server = server_pid(&mut s);
    s.wait_for_text(&format!("~> ready: pid {old_server} (group {first})"));
    s.signal(Signal::HUP);
    let second = s.started();
    let new_server = server_pid(&mut s);
    s.wait_for_text(&format!(
        "~> handover: pid {new_server} (group {second}) is ready"
    ));
    s.wait_for_text(&format!("~> stopped process group {first}"));
    assert!(!alive(old_server), "{}", s.report());
    assert!(
        alive(new_server),
        "the new server was stopped too\n{}",
        s.report()
    );
    assert!(
        !s.saw(&format!("process group {second} has ended")),
        "{}",
        s.report()
    );
    s.signal(Signal::TERM);
    assert_eq!(s.wait().code(), Some(0), "{}", s.report());
    assert!(!alive(new_server), "{}", s.report());
}

/// A server under a wrapper that exits once it has started it: the lines
/// name the server, seen listening, not the wrapper's pid that is gone.
#[cfg(target_os = "linux")]
#[test]
fn a_server_whose_wrapper_has_exited_is_named_in_the_lines() {
    let dir = project();
    let server = "import os, socket\n\
                  s = socket.socket(fileno=3)\n\
                  print('server', os.getpid(), flush=True)\n\
                  while True:\n    c, _ = s.accept(); c.sendall(b'%d' % os.getpid()); c.close()";
    // The wrapper exits when the test writes a line to it.
    let mut s = systemfd()
        .current_dir(dir.root())
        .env("TMPDIR", dir.path("tmp"))
        .args(["-s", "tcp::0", "-w", ".", "--", "sh", "-c"])
        .arg("python3 -c \"$0\" & read line")
        .arg(server)
        .stdin_piped()
        .spawn();
    let wrapper = s.started();
    let first = server_pid(&mut s);
    s.wait_for_text(&format!("~> ready: pid {wrapper} after "));
    s.write_stdin("go\n");
    s.wait_for_text(&format!(
        "~> pid {wrapper} exited with status 0; its process group runs on (pid {first} serves)"
    ));
    s.signal(Signal::USR1);
    s.wait_for_text(&format!(
        "~> SIGUSR1: passing it on to pid {first} (group {wrapper})"
    ));
    // The Python server's default for SIGUSR1 ends it, and with it the
    // group, which says how the server ended: the next start is a plain
    // one.
    s.wait_for_text(&format!(
        "~> process group {wrapper} has ended: pid {first}, which served, was killed by SIGUSR1 (pid {wrapper} exited with status 0 before)"
    ));
    s.signal(Signal::HUP);
    let again = s.started();
    let second = server_pid(&mut s);
    s.wait_for_text(&format!("~> ready: pid {again} after "));
    s.write_stdin("go\n");
    s.wait_for_text(&format!(
        "~> pid {again} exited with status 0; its process group runs on (pid {second} serves)"
    ));
    s.signal(Signal::HUP);
    s.wait_for_text(&format!(
        "~> restart: starting a replacement; pid {second} (group {again}) serves until it is ready"
    ));
    let third = s.started();
    s.wait_for_text(&format!(
        "~> handover: pid {third} is ready; stopping pid {second} (group {again})"
    ));
    s.wait_for_text(&format!("~> stopped process group {again}"));
    s.signal(Signal::TERM);
    assert_eq!(s.wait().code(), Some(0), "{}", s.report());
    assert!(!s.saw(&format!("stopping pid {again}")), "{}", s.report());
}

#[cfg(target_os = "linux")]
#[test]
fn processes_that_leave_the_group_are_stopped_too() {
    let dir = project();
    // One leaves with setsid while its parent lives, one is orphaned.
    let mut s = start(
        &dir,
        &[
            "-w",
            ".",
            "--",
            "sh",
            "-c",
            "setsid sh -c 'echo server $$; exec sleep 60' & \
             sh -c 'setsid sh -c \"echo server \\$\\$; exec sleep 60\" &'; wait",
        ],
    );
    s.started();
    let first = server_pid(&mut s);
    let second = server_pid(&mut s);
    s.signal(Signal::TERM);
    assert_eq!(s.wait().code(), Some(0), "{}", s.report());
    wait_until("both servers are gone", || !alive(first) && !alive(second));
}

#[test]
fn a_stopped_child_is_reported_and_continued_when_it_is_stopped() {
    let dir = project();
    let mut s = start(
        &dir,
        &[
            "-w",
            ".",
            "--stop-timeout",
            "15s",
            "--",
            "sh",
            "-c",
            "trap 'echo bye; exit 0' TERM; echo up; kill -STOP $$; while :; do sleep 0.1; done",
        ],
    );
    let pid = s.started();
    s.wait_for_text(&format!("~> warning: pid {pid} was stopped by SIGSTOP"));
    s.signal(Signal::TERM);
    s.wait_for("bye", |l| l == "bye");
    // It exited by itself, long before the timeout's SIGKILL.
    s.wait_for_text(&format!("~> stopped pid {pid}: it exited with status 0"));
    assert_eq!(s.wait().code(), Some(0), "{}", s.report());
}

#[test]
fn quit_stops_and_user_signals_are_passed_on() {
    let dir = project();
    let mut s = start(
        &dir,
        &[
            "-w",
            ".",
            "--",
            "sh",
            "-c",
            "trap 'echo got USR1' USR1; trap 'echo got USR2' USR2; echo up; \
             while :; do sleep 0.1; done",
        ],
    );
    let pid = s.started();
    s.wait_for("up", |l| l == "up");
    s.signal(Signal::USR1);
    s.wait_for("got USR1", |l| l == "got USR1");
    s.wait_for_text(&format!("~> SIGUSR1: passing it on to pid {pid}"));
    s.signal(Signal::USR2);
    s.wait_for("got USR2", |l| l == "got USR2");
    s.signal(Signal::QUIT);
    s.wait_for_text(&format!("~> stopped pid {pid}"));
    assert_eq!(s.wait().code(), Some(0), "{}", s.report());
    assert!(temp_entries(&dir).is_empty(), "{}", s.report());
}

/// The resident memory of `pid`, in KiB.
#[cfg(target_os = "linux")]
fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let digits: String = line.chars().filter(char::is_ascii_digit).collect();
    digits.parse().unwrap()
}

#[cfg(target_os = "linux")]
#[test]
fn a_flood_of_status_messages_stays_bounded_and_signals_get_through() {
    use std::io::BufRead as _;
    use std::process::Stdio;

    const FLOOD: &str = r#"
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
path = os.environ["NOTIFY_SOCKET"]
n = 0
while True:
    s.sendto(b"STATUS=busy %d" % n, path)
    n += 1
    if n == 1000000:
        print("flooded", flush=True)
"#;
    let dir = project();
    let mut child = Command::new(systemfd_path())
        .current_dir(dir.root())
        .env("TMPDIR", dir.path("tmp"))
        .args(["-w", ".", "--ignore", "tmp/", "--", "python3", "-c", FLOOD])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Nobody reads stderr for now: systemfd blocks on it once the pipe is full.
    let stderr = child.stderr.take().unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "flooded");
    let rss = resident_kib(child.id());
    assert!(
        rss < 40 * 1024,
        "systemfd holds {rss} KiB after 1000000 messages"
    );
    signal(child.id(), Signal::TERM);
    // Once stderr drains, SIGTERM is among the next few things handled.
    std::thread::spawn(move || std::io::copy(&mut { stderr }, &mut std::io::sink()));
    let status = wait_with_deadline(&mut child, DEADLINE).expect("systemfd exits");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_file_rewritten_without_pause_does_not_put_off_restarts_for_ever() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let dir = project();
    let mut s = start(
        &dir,
        &[
            "-w",
            ".",
            "--ignore",
            "tmp/",
            "--debounce",
            "100ms",
            "--",
            "sleep",
            "60",
        ],
    );
    let first = s.started();
    // A log that is not ignored, rewritten every 20 ms, faster than the
    // debounce period.
    let busy = Arc::new(AtomicBool::new(true));
    let writer = {
        let busy = Arc::clone(&busy);
        let log = dir.path("build.log");
        std::thread::spawn(move || {
            let mut n = 0u64;
            while busy.load(Ordering::Relaxed) {
                n += 1;
                std::fs::write(&log, n.to_string()).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        })
    };
    dir.write("src/main.rs", "edited");
    s.wait_for_text("~> change: ");
    s.wait_for_text(&format!("~> stopped pid {first}"));
    let second = s.started();
    assert_ne!(first, second);
    busy.store(false, Ordering::Relaxed);
    writer.join().unwrap();
}
