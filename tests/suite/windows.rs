//! The Windows build, run under Wine: `systemfd.exe` serves its sockets
//! through the socket server to a consumer built on the real `listenfd` crate
//! (examples/probe.rs), keeps serving whatever other local clients send, ties
//! the command's process tree to its own lifetime, and behaves like the Unix
//! build at the edges (output, exit status, `-q`). In supervise mode (`-w`)
//! the build step runs through `cmd /C`, and the error page answers on the
//! `http::` sockets while nothing of the command runs.
//!
//! The programs run through the shared harness with Wine as the runner
//! (harness/wine.rs, which builds them and says what is needed). Without
//! Wine, mingw-w64 or the Rust target, build.rs has these tests ignored.

use std::io::{self, BufRead as _, BufReader, Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use systemfd::{MAX_REQUEST_LEN, PROTOCOL_INFO_LEN};

use crate::harness::command::Line;
use crate::harness::http::{self, Answer};
use crate::harness::net::{addr_in, ask_probe, hello_pid};
use crate::harness::process::signal_group;
use crate::harness::wine::{windows_path, wine, Wine, DEADLINE};
use crate::harness::{holds_within, number_after, signal, Project, Running, Signal};

/// How long systemfd gives the command after Ctrl-C (`CTRL_C_GRACE`).
const CTRL_C_GRACE: Duration = Duration::from_secs(3);

/// `STATUS_CONTROL_C_EXIT` (0xC000013A) as Wine reports it to Linux: the low
/// byte of the Windows exit code.
const CONTROL_C_EXIT_LOW_BYTE: i32 = 0x3a;

/// What the probe's `wait` reads from stdin before it goes on.
const GO: &str = "go\n";

// ---------------------------------------------------------------------------
// Talking to the sockets from Linux.

/// The probe's answer to one line sent to its TCP socket: `PID LINE`.
fn ask(addr: SocketAddr, line: &str) -> String {
    ask_probe(addr, line, DEADLINE)
}

/// Sends `request` to the socket server as `listenfd` does (then EOF) and
/// returns all it sends back. A reset counts as no data.
fn request(server: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect_timeout(&server, DEADLINE)
        .unwrap_or_else(|e| panic!("cannot connect to the socket server {server}: {e}"));
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let _ = stream.write_all(request);
    let _ = stream.shutdown(Shutdown::Write);
    let mut reply = Vec::new();
    match stream.read_to_end(&mut reply) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("reading the socket server's reply: {e}"),
    }
    reply
}

/// Waits until nothing accepts connections at `addr` any more.
fn wait_until_refused(addr: SocketAddr) {
    let refused = || {
        TcpStream::connect_timeout(&addr, Duration::from_secs(1))
            .is_err_and(|e| e.kind() == io::ErrorKind::ConnectionRefused)
    };
    assert!(
        holds_within(DEADLINE, refused),
        "{addr} still accepts connections"
    );
}

fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit() && !c.is_ascii_uppercase(),
        })
}

/// Fields of a `WSAPROTOCOL_INFOW` (little-endian i32s at these offsets).
const ADDRESS_FAMILY_AT: usize = 76;
const SOCKET_TYPE_AT: usize = 88;
const PROTOCOL_AT: usize = 92;

fn field(record: &[u8], at: usize) -> i32 {
    i32::from_le_bytes(record[at..at + 4].try_into().unwrap())
}

// ---------------------------------------------------------------------------
// The tests.

#[test]
#[cfg_attr(
    not(has_wine),
    ignore = "needs Wine, mingw-w64 and the x86_64-pc-windows-gnu target (see .ci/run)"
)]
fn serves_its_socket_to_a_listenfd_consumer() {
    let wine = wine();
    // Stale variables from an outer activation must not reach the command.
    let mut run = wine
        .systemfd(["-s", "tcp::0", "--", "examples\\probe.exe", "serve"])
        .env("LISTEN_FDS", "4")
        .env("LISTEN_PID", "1")
        .env("LISTEN_FDS_FIRST_FD", "9")
        .env("LISTEN_FDNAMES", "stale")
        .env("SYSTEMFD_SOCKET_SERVER", "127.0.0.1:1")
        .env(
            "SYSTEMFD_SOCKET_SECRET",
            "00000000-0000-4000-8000-000000000000",
        )
        .spawn();
    let line = run.wait_for_text("-> socket #0");
    assert!(line.starts_with("~> socket 127.0.0.1:"), "{line}");
    assert!(line.ends_with("(tcp listener) -> socket #0"), "{line}");
    let addr = addr_in(&line);
    run.wait_for_text("serving");

    let report = run.probe_report();
    assert_eq!(report["count"], "1", "{}", run.report());
    assert_eq!(addr_in(&report["socket0"]), addr, "{}", run.report());
    assert!(report["socket0"].starts_with("tcp "), "{}", run.report());
    for name in ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDS_FIRST_FD"] {
        assert_eq!(report[name], "<unset>", "{name}\n{}", run.report());
    }
    assert_eq!(report["LISTEN_FDNAMES"], "tcp", "{}", run.report());
    let server: SocketAddr = report["SYSTEMFD_SOCKET_SERVER"].parse().unwrap();
    assert!(server.ip().is_loopback() && server.port() != 1, "{server}");
    assert!(
        is_uuid(&report["SYSTEMFD_SOCKET_SECRET"]),
        "{}",
        run.report()
    );
    assert_ne!(
        report["SYSTEMFD_SOCKET_SECRET"],
        "00000000-0000-4000-8000-000000000000"
    );

    let answer = ask(addr, "hello");
    assert_eq!(answer, format!("{} hello", report["pid"]));
}

#[test]
#[cfg_attr(
    not(has_wine),
    ignore = "needs Wine, mingw-w64 and the x86_64-pc-windows-gnu target (see .ci/run)"
)]
fn replies_one_protocol_info_per_socket_in_order() {
    let wine = wine();
    let mut run = wine
        .systemfd([
            "-s",
            "web=tcp::0",
            "-s",
            "udp::0",
            "-s",
            "http::0",
            "--",
            "examples\\probe.exe",
            "wait",
            "serve",
        ])
        .spawn();
    let lines: Vec<String> = (0..3)
        .map(|n| run.wait_for_text(&format!("-> socket #{n}")))
        .collect();
    assert!(
        lines[0].ends_with("(tcp listener) -> socket #0 (name web)"),
        "{}",
        lines[0]
    );
    assert!(lines[1].ends_with("(udp) -> socket #1"), "{}", lines[1]);
    assert!(
        lines[2].starts_with("~> socket http://127.0.0.1:"),
        "{}",
        lines[2]
    );
    let addrs: Vec<SocketAddr> = lines.iter().map(|l| addr_in(l)).collect();
    run.wait_for_text("waiting");

    // Ask as listenfd would, from here, for the probe's pid: the records are
    // real WSAPROTOCOL_INFOW structs for a TCP, a UDP and a TCP socket.
    let report = run.probe_report();
    let server: SocketAddr = report["SYSTEMFD_SOCKET_SERVER"].parse().unwrap();
    let ask_for = format!("{}|{}", report["SYSTEMFD_SOCKET_SECRET"], report["pid"]);
    let reply = request(server, ask_for.as_bytes());
    assert_eq!(reply.len(), 3 * PROTOCOL_INFO_LEN, "{}", run.report());
    let expected = [(1, 6), (2, 17), (1, 6)]; // (SOCK_STREAM, TCP), (SOCK_DGRAM, UDP)
    for (record, (kind, protocol)) in reply.chunks_exact(PROTOCOL_INFO_LEN).zip(expected) {
        assert_eq!(field(record, ADDRESS_FAMILY_AT), 2, "AF_INET");
        assert_eq!(field(record, SOCKET_TYPE_AT), kind);
        assert_eq!(field(record, PROTOCOL_AT), protocol);
    }

    // And listenfd itself gets the same sockets, in the same order.
    run.write_stdin(GO);
    run.wait_for_text("serving");
    let report = run.probe_report();
    assert_eq!(report["count"], "3", "{}", run.report());
    assert_eq!(report["LISTEN_FDNAMES"], "web:udp:http", "{}", run.report());
    for (index, (addr, kind)) in addrs.iter().zip(["tcp", "udp", "tcp"]).enumerate() {
        let socket = &report[&format!("socket{index}")];
        assert!(
            socket.starts_with(&format!("{kind} {addr} ")),
            "{index}: {socket}"
        );
    }
    assert_eq!(ask(addrs[0], "first"), format!("{} first", report["pid"]));
}

#[test]
#[cfg_attr(
    not(has_wine),
    ignore = "needs Wine, mingw-w64 and the x86_64-pc-windows-gnu target (see .ci/run)"
)]
fn hostile_clients_do_not_stop_the_socket_server() {
    let wine = wine();
    let mut run = wine
        .systemfd(["-s", "tcp::0", "--", "examples\\probe.exe", "wait", "serve"])
        .spawn();
    let addr = addr_in(&run.wait_for_text("-> socket #0"));
    run.wait_for_text("waiting");
    let report = run.probe_report();
    let server: SocketAddr = report["SYSTEMFD_SOCKET_SERVER"].parse().unwrap();
    let secret = report["SYSTEMFD_SOCKET_SECRET"].clone();
    let pid = report["pid"].clone();
    // A wrong secret, for the right pid.
    let wrong = format!("{}|{pid}", "0123abcd-0000-4000-8000-000000000000");
    assert_eq!(request(server, wrong.as_bytes()), b"");
    run.wait_for_text("wrong secret");
    // Garbage, and the right secret with garbage for a pid.
    assert_eq!(request(server, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), b"");
    run.wait_for_text("the request is not SECRET|PID");
    assert_eq!(request(server, format!("{secret}|me").as_bytes()), b"");
    run.wait_for_text("the request is not SECRET|PID");
    // Far more than a request.
    assert_eq!(request(server, &vec![b'x'; 1 << 20]), b"");
    run.wait_for_text(&format!("longer than {MAX_REQUEST_LEN} bytes"));
    // Clients that never finish: one silent, one with a complete request but
    // no EOF. Both stay connected while the honest client is served.
    let silent = TcpStream::connect(server).unwrap();
    let mut unfinished = TcpStream::connect(server).unwrap();
    unfinished
        .write_all(format!("{secret}|{pid}").as_bytes())
        .unwrap();

    run.write_stdin(GO);
    run.wait_for_text("serving");
    let report = run.probe_report();
    assert_eq!(report["count"], "1", "{}", run.report());
    assert_eq!(addr_in(&report["socket0"]), addr);
    assert_eq!(ask(addr, "still here"), format!("{pid} still here"));

    // Every report was a rejection, with the client's address.
    let reports = run.seen.iter().filter_map(|l| match l {
        Line::Stderr(t) if t.contains("socket server") => Some(t),
        _ => None,
    });
    for line in reports {
        assert!(
            line.starts_with("~> warning: socket server: rejected a request from 127.0.0.1:"),
            "{line}"
        );
    }

    // The stalled connections are dropped at the request deadline, without
    // data.
    run.wait_for_text("no complete request within");
    for mut stream in [silent, unfinished] {
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut data = Vec::new();
        let _ = stream.read_to_end(&mut data);
        assert!(data.is_empty(), "{data:?}");
    }
}

#[test]
#[cfg_attr(
    not(has_wine),
    ignore = "needs Wine, mingw-w64 and the x86_64-pc-windows-gnu target (see .ci/run)"
)]
fn exit_status_is_the_commands() {
    let wine = wine();
    let ran = wine
        .systemfd(["-s", "tcp::0", "--", "cmd", "/c", "exit 7"])
        .output();
    ran.assert_code(7).assert_stderr_contains("-> socket #0");

    // Without sockets: no server, and stale server variables are removed.
    let ran = wine
        .systemfd(["--", "examples\\probe.exe"])
        .env("SYSTEMFD_SOCKET_SERVER", "127.0.0.1:1")
        .env(
            "SYSTEMFD_SOCKET_SECRET",
            "00000000-0000-4000-8000-000000000000",
        )
        .output();
    let ran = ran
        .assert_code(0)
        .assert_stderr_contains("~> warning: no sockets given (-s)");
    let report = ran.probe_report();
    assert_eq!(report["count"], "0", "{}", ran.report());
    assert_eq!(
        report["SYSTEMFD_SOCKET_SERVER"],
        "<unset>",
        "{}",
        ran.report()
    );
    assert_eq!(
        report["SYSTEMFD_SOCKET_SECRET"],
        "<unset>",
        "{}",
        ran.report()
    );
    assert_eq!(report["LISTEN_FDNAMES"], "<unset>", "{}", ran.report());
}

#[test]
#[cfg_attr(
    not(has_wine),
    ignore = "needs Wine, mingw-w64 and the x86_64-pc-windows-gnu target (see .ci/run)"
)]
fn failures_are_reported_with_the_unix_exit_codes() {
    let wine = wine();
    let ran = wine
        .systemfd(["-s", "tcp::0", "--", "no-such-command"])
        .output();
    ran.assert_code(127)
        .assert_stderr_contains("systemfd: error: cannot run 'no-such-command'");

    let ran = wine
        .systemfd(["-s", "unix::/tmp/x.sock", "--", "cmd"])
        .output();
    ran.assert_code(2)
        .assert_stderr_contains("systemfd: error:")
        .assert_stderr_contains("not supported on this platform");

    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let spec = taken.local_addr().unwrap().to_string();
    let ran = wine
        .systemfd(["-s", &spec, "--", "cmd", "/c", "exit 0"])
        .output();
    let ran = ran
        .assert_code(1)
        .assert_stderr_contains(&format!("systemfd: error: cannot create socket '{spec}'"));
    assert!(ran.stdout().is_empty(), "{}", ran.report());
}

#[test]
#[cfg_attr(
    not(has_wine),
    ignore = "needs Wine, mingw-w64 and the x86_64-pc-windows-gnu target (see .ci/run)"
)]
fn quiet_prints_nothing_not_even_rejections() {
    let wine = wine();
    let mut run = wine
        .systemfd(["-q", "-s", "tcp::0", "--", "examples\\probe.exe", "wait"])
        .spawn();
    run.wait_for_text("waiting");
    let server: SocketAddr = run.probe_report()["SYSTEMFD_SOCKET_SERVER"]
        .parse()
        .unwrap();
    assert_eq!(request(server, b"not a request"), b"");
    run.write_stdin(GO);
    let ran = run.finish().assert_code(0);
    assert!(ran.stdout().contains("count=1"), "{}", ran.report());
    assert_eq!(ran.stderr(), "", "{}", ran.report());
}

#[test]
#[cfg_attr(
    not(has_wine),
    ignore = "needs Wine, mingw-w64 and the x86_64-pc-windows-gnu target (see .ci/run)"
)]
fn ports_are_claimed_exclusively() {
    let wine = wine();
    let mut run = wine
        .systemfd([
            "-s",
            "tcp::0",
            "-s",
            "udp::0",
            "--",
            "examples\\probe.exe",
            "serve",
        ])
        .spawn();
    let addr = addr_in(&run.wait_for_text("-> socket #0"));
    run.wait_for_text("serving");
    let report = run.probe_report();
    for socket in [&report["socket0"], &report["socket1"]] {
        assert!(
            socket.ends_with(" exclusiveaddruse=1 reuseaddr=0"),
            "{socket}\n{}",
            run.report()
        );
    }
    // Another Windows process cannot take the port with SO_REUSEADDR.
    let hijack = wine
        .command("examples\\probe.exe")
        .args(["bind-reuse", &addr.to_string()])
        .output();
    let hijack = hijack.assert_code(1);
    assert!(
        hijack.stdout().starts_with("bind failed"),
        "{}",
        hijack.report()
    );
    assert_eq!(ask(addr, "mine"), format!("{} mine", report["pid"]));
}

#[test]
#[cfg_attr(
    not(has_wine),
    ignore = "needs Wine, mingw-w64 and the x86_64-pc-windows-gnu target (see .ci/run)"
)]
fn no_reuse_claims_nothing() {
    let wine = wine();
    let mut run = wine
        .systemfd([
            "--no-reuse",
            "-s",
            "tcp::0",
            "-s",
            "udp::0",
            "--",
            "examples\\probe.exe",
            "serve",
        ])
        .spawn();
    let addr = addr_in(&run.wait_for_text("-> socket #0"));
    run.wait_for_text("serving");
    let report = run.probe_report();
    for socket in [&report["socket0"], &report["socket1"]] {
        assert!(
            socket.ends_with(" exclusiveaddruse=0 reuseaddr=0"),
            "{socket}\n{}",
            run.report()
        );
    }
    assert_eq!(ask(addr, "served"), format!("{} served", report["pid"]));
}

/// Ctrl-C in a console reaches every process in it. Here, as a terminal
/// does, SIGINT goes to the whole process group, which Wine turns into a
/// console Ctrl-C in each process.
#[test]
#[cfg_attr(
    not(has_wine),
    ignore = "needs Wine, mingw-w64 and the x86_64-pc-windows-gnu target (see .ci/run)"
)]
fn ctrl_c_reaches_the_command_and_systemfd_exits_with_its_status() {
    let wine = wine();
    let mut run = wine
        .systemfd(["-s", "tcp::0", "--", "examples\\probe.exe", "serve"])
        .process_group(0)
        .spawn();
    let addr = addr_in(&run.wait_for_text("-> socket #0"));
    run.wait_for_text("serving");
    signal_group(run.pid(), Signal::INT);
    // The probe's handler exits with 3; systemfd waited for it, and did not
    // have to end it.
    let ran = run.finish().assert_code(3);
    assert!(ran.stdout().contains("interrupted"), "{}", ran.report());
    assert!(
        !ran.stderr().contains("ending the command"),
        "{}",
        ran.report()
    );
    wait_until_refused(addr);
}

/// A Ctrl-C that only systemfd sees (the command runs without a console, or
/// ignores it): after a grace period systemfd ends the command's process
/// tree and exits with `STATUS_CONTROL_C_EXIT`.
#[test]
#[cfg_attr(
    not(has_wine),
    ignore = "needs Wine, mingw-w64 and the x86_64-pc-windows-gnu target (see .ci/run)"
)]
fn ctrl_c_ends_a_command_that_does_not_exit() {
    let wine = wine();
    let mut run = wine
        .systemfd([
            "-s",
            "tcp::0",
            "--",
            "cmd",
            "/c",
            "examples\\probe.exe serve",
        ])
        .spawn();
    let addr = addr_in(&run.wait_for_text("-> socket #0"));
    run.wait_for_text("serving");
    let sent = Instant::now();
    signal(run.pid(), Signal::INT);
    let ran = run
        .finish()
        .assert_code(CONTROL_C_EXIT_LOW_BYTE)
        .assert_stderr_contains("~> ending the command and the processes it started");
    assert!(!ran.stdout().contains("interrupted"), "{}", ran.report());
    assert!(sent.elapsed() >= CTRL_C_GRACE, "{:?}", sent.elapsed());
    // The probe was a grandchild (under cmd); it is gone too.
    wait_until_refused(addr);
}

#[test]
#[cfg_attr(
    not(has_wine),
    ignore = "needs Wine, mingw-w64 and the x86_64-pc-windows-gnu target (see .ci/run)"
)]
fn killing_systemfd_ends_the_command_tree() {
    let wine = wine();
    let mut run = wine
        .systemfd([
            "-s",
            "tcp::0",
            "--",
            "cmd",
            "/c",
            "examples\\probe.exe serve",
        ])
        .spawn();
    let addr = addr_in(&run.wait_for_text("-> socket #0"));
    run.wait_for_text("serving");
    let pid = run.probe_report()["pid"].clone();
    assert_eq!(ask(addr, "before"), format!("{pid} before"));
    run.child.kill().unwrap();
    run.child.wait().unwrap();
    // Nothing holds the socket any more: not systemfd, not the probe that
    // cmd started.
    wait_until_refused(addr);
}

// ---------------------------------------------------------------------------
// Supervise mode (-w): a child per start, in a job object of its own, ready
// once it has fetched its sockets.

/// The pid in a probe's answer, `PID LINE`.
fn answering_pid(answer: &str) -> u32 {
    answer
        .split(' ')
        .next()
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no pid in the answer {answer:?}"))
}

/// A project directory with a `src` to watch, and its Windows path.
fn project() -> (Project, String) {
    let dir = Project::new(&["src"]);
    let src = windows_path(&dir.path("src"));
    (dir, src)
}

/// `systemfd.exe -s tcp::0 -w SRC ARGS…`, running, and its socket's address.
fn supervise(wine: &Wine, src: &str, args: &[&str]) -> (Running, SocketAddr) {
    let mut run = wine
        .systemfd(["-s", "tcp::0", "-w", src].iter().chain(args))
        .spawn();
    let addr = addr_in(&run.wait_for_text("-> socket #0"));
    (run, addr)
}

#[test]
#[cfg_attr(
    not(has_wine),
    ignore = "needs Wine, mingw-w64 and the x86_64-pc-windows-gnu target (see .ci/run)"
)]
fn a_change_restarts_and_the_old_child_serves_until_the_new_one_has_its_sockets() {
    let wine = wine();
    let (dir, src) = project();
    // `wait`: each probe reads a line from stdin before it fetches its
    // sockets, so the test decides when the new child has them.
    let (mut run, addr) = supervise(wine, &src, &["--", "examples\\probe.exe", "serve", "wait"]);
    let first = run.started();
    run.wait_for_text("waiting");
    run.write_stdin(GO);
    run.wait_for_text(&format!("~> ready: pid {first} after "));
    run.wait_for_text("serving");
    assert_eq!(answering_pid(&ask(addr, "first")), first);

    dir.touch("src/main.rs");
    run.wait_for_text("~> change: ");
    run.wait_for_text(&format!(
        "~> restart: starting a replacement; pid {first} serves until it is ready"
    ));
    let second = run.started();
    assert_ne!(first, second);
    run.wait_for_text("waiting");
    // The new child runs but has not fetched its sockets: the old one serves.
    for n in 0..3 {
        assert_eq!(answering_pid(&ask(addr, &format!("before {n}"))), first);
    }
    assert!(!run.report().contains("handover"), "{}", run.report());

    run.write_stdin(GO);
    run.wait_for_text(&format!("~> ready: pid {second} after "));
    run.wait_for_text(&format!(
        "~> handover: pid {second} is ready; stopping pid {first}"
    ));
    run.wait_for_text(&format!("~> stopped pid {first}: it exited with status "));
    assert_eq!(answering_pid(&ask(addr, "after")), second);
    assert!(
        run.report().contains("(it fetched its sockets)"),
        "{}",
        run.report()
    );
    drop(dir);
}

/// Requests one after another, each on a new connection, across three
/// restarts: none is refused or left unanswered in the socket's queue.
///
/// Wine cannot send Ctrl-Break (systemfd says so), so every stop here ends
/// the old child at once, and a request it has accepted and not yet answered
/// dies with it (the client sees the connection closed or reset): that is the
/// loss a graceful stop prevents, at most one per stop with this sequential
/// server. Nothing else may fail. The probe accepts with `poll`, as Wine also
/// drops a connection it accepts for a process it is terminating in the
/// middle of a waiting accept.
#[test]
#[cfg_attr(
    not(has_wine),
    ignore = "needs Wine, mingw-w64 and the x86_64-pc-windows-gnu target (see .ci/run)"
)]
fn a_request_loop_across_restarts_loses_nothing() {
    use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
    use std::sync::Arc;

    const RESTARTS: usize = 3;
    /// A request is answered in milliseconds; one that waits this long is
    /// lost.
    const ANSWER_WITHIN: Duration = Duration::from_secs(10);
    let wine = wine();
    let (dir, src) = project();
    let (mut run, addr) = supervise(wine, &src, &["--", "examples\\probe.exe", "serve", "poll"]);
    let first = number_after(&run.wait_for_text("~> ready: pid "), "ready: pid ");

    let done = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    // The pid of the latest answer.
    let latest = Arc::new(AtomicU32::new(0));
    let client = {
        let done = Arc::clone(&done);
        let answered = Arc::clone(&answered);
        let latest = Arc::clone(&latest);
        std::thread::spawn(move || {
            let mut pids = Vec::new();
            let (mut failed, mut ended) = (Vec::new(), Vec::new());
            let (mut n, mut last_answered) = (0, 0);
            while !done.load(Ordering::SeqCst) {
                n += 1;
                let result = TcpStream::connect_timeout(&addr, DEADLINE).and_then(|mut stream| {
                    stream.set_read_timeout(Some(ANSWER_WITHIN))?;
                    writeln!(stream, "request {n}")?;
                    let mut answer = String::new();
                    BufReader::new(&stream).read_line(&mut answer)?;
                    Ok(answer)
                });
                match result {
                    Ok(answer) if answer.trim_end().ends_with(&format!(" request {n}")) => {
                        let pid = answering_pid(&answer);
                        if pids.last() != Some(&pid) {
                            pids.push(pid);
                        }
                        latest.store(pid, Ordering::SeqCst);
                        last_answered = n;
                        answered.fetch_add(1, Ordering::SeqCst);
                    }
                    // Accepted, then closed before the whole answer: the
                    // child ended.
                    Ok(answer) if !answer.ends_with('\n') => {
                        ended.push((n, format!("closed after {answer:?}")))
                    }
                    // Reset, or closed before the request could be written.
                    Err(err)
                        if matches!(
                            err.kind(),
                            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
                        ) =>
                    {
                        ended.push((n, err.to_string()))
                    }
                    // Accepted and never answered (Wine, now and then,
                    // with a child it ended at that moment): the next
                    // requests must be answered.
                    Err(err)
                        if matches!(
                            err.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) =>
                    {
                        ended.push((n, "no answer".to_owned()))
                    }
                    Ok(answer) => failed.push((n, format!("answer {answer:?}"))),
                    Err(err) => failed.push((n, err.to_string())),
                }
            }
            // A request lost in an ended child is followed by answers.
            if ended.last().is_some_and(|&(lost, _)| lost > last_answered) {
                failed.extend(ended.pop());
            }
            (n, pids, failed, ended)
        })
    };

    let mut serving = first;
    for restart in 0..RESTARTS {
        dir.touch(&format!("src/file{restart}.rs"));
        let line = run.wait_for_text("~> handover: ");
        let new = number_after(&line, "handover: pid ");
        run.wait_for_text(&format!("~> stopped pid {serving}"));
        serving = new;
        // The next change once the new child has answered: each child
        // serves some of the loop, however slow Wine is today.
        let end = Instant::now() + DEADLINE;
        while latest.load(Ordering::SeqCst) != serving && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    // Answers from the last child, after the last stop, before the end.
    let after_last_stop = answered.load(Ordering::SeqCst) + 20;
    let end = Instant::now() + DEADLINE;
    while answered.load(Ordering::SeqCst) < after_last_stop && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
    }
    done.store(true, Ordering::SeqCst);
    let (requests, pids, failed, ended) = client.join().unwrap();
    signal(run.pid(), Signal::INT);
    let ran = run.finish().assert_code(0);
    let graceful = !ran.stderr().contains("cannot send Ctrl-Break");
    assert!(
        failed.is_empty() && (ended.is_empty() || !graceful) && ended.len() <= RESTARTS,
        "of {requests} requests, failed: {failed:?}; lost in an ended child: {ended:?}\n{}",
        ran.report()
    );
    // The answers came from the first child, then from each replacement.
    assert_eq!(pids.first(), Some(&first), "{pids:?}");
    assert_eq!(pids.last(), Some(&serving), "{pids:?}");
    assert!(pids.len() > RESTARTS, "{pids:?}");
    eprintln!(
        "{requests} requests, answered by {pids:?}; {} lost in a child ended at once",
        ended.len()
    );
    drop(dir);
}

#[test]
#[cfg_attr(
    not(has_wine),
    ignore = "needs Wine, mingw-w64 and the x86_64-pc-windows-gnu target (see .ci/run)"
)]
fn ignored_files_do_not_restart() {
    let wine = wine();
    let (dir, src) = project();
    dir.write("src/.gitignore", "generated/\n");
    dir.mkdir("src/generated");
    let (mut run, _) = supervise(
        wine,
        &src,
        &["--ignore", "*.log", "--", "examples\\probe.exe", "serve"],
    );
    let first = number_after(&run.wait_for_text("~> ready: pid "), "ready: pid ");
    dir.touch("src/server.log");
    dir.touch("src/generated/table.rs");
    // Past the debounce, a change that counts: the first change line is its.
    std::thread::sleep(Duration::from_millis(500));
    dir.touch("src/lib.rs");
    let change = run.wait_for_text("~> change: ");
    assert!(change.ends_with("lib.rs"), "{change}\n{}", run.report());
    run.wait_for_text("~> handover: ");
    run.wait_for_text(&format!("~> stopped pid {first}"));
    let report = run.report();
    assert!(!report.contains("server.log"), "{report}");
    assert!(!report.contains("table.rs"), "{report}");
    drop(dir);
}

#[test]
#[cfg_attr(
    not(has_wine),
    ignore = "needs Wine, mingw-w64 and the x86_64-pc-windows-gnu target (see .ci/run)"
)]
fn a_failing_replacement_leaves_the_old_child_serving() {
    let wine = wine();
    let (dir, src) = project();
    // Run from the project, with the program from elsewhere (as an
    // interpreter is): a replacement that fails is just a failure.
    let command = format!("if exist fail.flag (exit 7) else {} serve", wine.probe());
    let mut run = wine
        .systemfd_in(
            dir.root(),
            ["-s", "tcp::0", "-w", &src, "--", "cmd", "/c", &command],
        )
        .spawn();
    let addr = addr_in(&run.wait_for_text("-> socket #0"));
    let first = run.started();
    run.wait_for_text(&format!("~> ready: pid {first} "));
    run.wait_for_text("serving");
    let answering = answering_pid(&ask(addr, "before"));

    dir.write("fail.flag", "");
    dir.touch("src/main.rs");
    let started = run.wait_for_text("~> started pid ");
    let second = number_after(&started, "started pid ");
    run.wait_for_text(&format!(
        "~> pid {second} exited with status 7 before it was ready; pid {first} keeps serving"
    ));
    assert_eq!(answering_pid(&ask(addr, "after")), answering);

    // Fixed: the next change replaces it.
    std::fs::remove_file(dir.path("fail.flag")).unwrap();
    dir.touch("src/main.rs");
    run.wait_for_text(&format!("~> stopped pid {first}"));
    assert_ne!(answering_pid(&ask(addr, "fixed")), answering);
    drop(dir);
}

/// `cargo run` on Windows: the replacement's build cannot replace the
/// program the old child runs. Here the probe plays cargo: it writes a copy
/// of itself to `app.exe` in the project, as a build would, and runs that;
/// the copy fails while the old `app.exe` runs (Wine refuses it too: a
/// sharing violation).
#[test]
#[cfg_attr(
    not(has_wine),
    ignore = "needs Wine, mingw-w64 and the x86_64-pc-windows-gnu target (see .ci/run)"
)]
fn a_replacement_that_cannot_replace_the_running_program_stops_the_old_child_first() {
    let wine = wine();
    let (dir, src) = project();
    wine.add_runtime(dir.root());
    let probe = wine.probe();
    let mut run = wine
        .systemfd_in(
            dir.root(),
            [
                "-s", "tcp::0", "-w", &src, "--", &probe, "run-copy", "app.exe", "serve",
            ],
        )
        .spawn();
    let addr = addr_in(&run.wait_for_text("-> socket #0"));
    let first = run.started();
    run.wait_for_text(&format!("~> ready: pid {first} "));
    run.wait_for_text("serving");
    let old = answering_pid(&ask(addr, "before"));

    dir.touch("src/main.rs");
    let second = run.started();
    run.wait_for_text("cannot write app.exe: ");
    let line = run.wait_for_text("which Windows does not let a build replace while it runs");
    assert!(
        line.starts_with(&format!(
            "~> pid {second} exited with status 101 before it was ready; pid {first} runs {}",
            windows_path(&dir.path("app.exe"))
        )),
        "{line}"
    );
    assert!(
        line.ends_with(&format!("stopping pid {first} first and starting again")),
        "{line}"
    );
    run.wait_for_text(&format!("~> stopped pid {first}"));
    let third = run.started();
    run.wait_for_text(&format!("~> ready: pid {third} "));
    let new = answering_pid(&ask(addr, "after"));
    assert_ne!(new, old);
    drop(dir);
}

#[test]
#[cfg_attr(
    not(has_wine),
    ignore = "needs Wine, mingw-w64 and the x86_64-pc-windows-gnu target (see .ci/run)"
)]
fn ctrl_c_stops_the_children_and_leaves_no_process() {
    let wine = wine();
    let (dir, src) = project();
    // The probe runs below cmd: the job holds both.
    let (mut run, addr) = supervise(
        wine,
        &src,
        &["--", "cmd", "/c", "examples\\probe.exe serve"],
    );
    let first = number_after(&run.wait_for_text("~> ready: pid "), "ready: pid ");
    run.wait_for_text("serving");
    ask(addr, "before");
    signal(run.pid(), Signal::INT);
    run.wait_for_text("~> Ctrl-C: stopping the command (again to kill it at once)");
    run.wait_for_text(&format!("~> stopped pid {first}"));
    run.finish().assert_code(0);
    // Nothing holds the socket: not systemfd, not cmd, not the probe.
    wait_until_refused(addr);
    drop(dir);
}

#[test]
#[cfg_attr(
    not(has_wine),
    ignore = "needs Wine, mingw-w64 and the x86_64-pc-windows-gnu target (see .ci/run)"
)]
fn killing_systemfd_ends_every_child_it_supervises() {
    let wine = wine();
    let (dir, src) = project();
    let (mut run, addr) = supervise(
        wine,
        &src,
        &["--", "cmd", "/c", "examples\\probe.exe serve"],
    );
    run.wait_for_text("~> ready: pid ");
    run.wait_for_text("serving");
    ask(addr, "before");
    run.child.kill().unwrap();
    run.child.wait().unwrap();
    // The jobs went with systemfd: nothing holds the socket.
    wait_until_refused(addr);
    drop(dir);
}

/// Signals and readiness protocols are Unix's: on Windows the flags that
/// name them are usage errors that say what happens instead.
#[test]
#[cfg_attr(
    not(has_wine),
    ignore = "needs Wine, mingw-w64 and the x86_64-pc-windows-gnu target (see .ci/run)"
)]
fn unix_only_supervise_flags_are_usage_errors() {
    let wine = wine();
    let (dir, src) = project();
    for (flag, value, says) in [
        (
            "--stop-signal",
            "INT",
            "invalid value 'INT' for '--stop-signal <SIGNAL>': Windows has no signals to send",
        ),
        (
            "--signal",
            "HUP",
            "invalid value 'HUP' for '--signal <SIGNAL>': Windows has no signals to send",
        ),
        (
            "--ready",
            "notify",
            "--ready has no meaning on Windows: a new COMMAND is ready once it has fetched its sockets",
        ),
    ] {
        let ran = wine
            .systemfd(["-s", "tcp::0", "-w", &src, flag, value, "--", "cmd", "/c", "exit 0"])
            .output()
            .assert_code(2);
        let stderr = ran.stderr();
        assert!(stderr.contains(says), "{}", ran.report());
        assert!(!stderr.contains("~> socket"), "{}", ran.report());
    }
    drop(dir);
}

/// `--reuse-port` is a Unix option: refused before anything is opened.
#[test]
#[cfg_attr(
    not(has_wine),
    ignore = "needs Wine, mingw-w64 and the x86_64-pc-windows-gnu target (see .ci/run)"
)]
fn reuse_port_is_a_usage_error() {
    let ran = wine()
        .systemfd(["--reuse-port", "-s", "tcp::0", "--", "cmd", "/c", "exit 0"])
        .output()
        .assert_code(2)
        .assert_stderr_contains("systemfd: error: --reuse-port needs Unix");
    assert!(!ran.stderr().contains("~> socket"), "{}", ran.report());
}

/// As on Unix, a bad `--ignore` pattern is a usage error found before
/// anything is done: no socket opened, no command started.
#[test]
#[cfg_attr(
    not(has_wine),
    ignore = "needs Wine, mingw-w64 and the x86_64-pc-windows-gnu target (see .ci/run)"
)]
fn a_bad_ignore_pattern_is_a_usage_error_with_no_side_effect() {
    let wine = wine();
    let (dir, src) = project();
    // The command leaves a mark where it runs: first seen to, without the
    // bad pattern.
    let command = ["--", "cmd", "/c", "echo started> started.txt"];
    wine.systemfd_in(dir.root(), command)
        .output()
        .assert_code(0);
    assert!(dir.path("started.txt").exists(), "the command left no mark");
    std::fs::remove_file(dir.path("started.txt")).unwrap();

    let ran = wine
        .systemfd_in(
            dir.root(),
            ["-s", "tcp::0", "-w", &src, "--ignore", "[oops"]
                .iter()
                .chain(&command),
        )
        .output()
        .assert_code(2)
        .assert_stdout_empty()
        .assert_stderr_contains(
            "systemfd: error: invalid value '[oops' for '--ignore <GLOB>': not a valid pattern",
        );
    let stderr = ran.stderr();
    assert!(!stderr.contains("~> socket"), "{}", ran.report());
    assert!(!stderr.contains("~> started"), "{}", ran.report());
    assert!(!dir.path("started.txt").exists(), "{}", ran.report());
}

// ---------------------------------------------------------------------------
// The build step (`--build`, through `cmd /C`) and the error page that
// systemfd answers on its `http::` sockets while nothing of COMMAND runs.

/// The build step: it succeeds when `src\status.txt` says `ok`; otherwise it
/// prints `boom` and exits with status 3. (It reads the file in a loop:
/// Wine's cmd runs what follows `||` even after a command that succeeded.)
const BUILD: &str =
    r#"(for /f %i in (src\status.txt) do @if "%i"=="ok" exit /b 0)& echo boom& exit /b 3"#;

/// `GET /` on `addr`, with `Host` naming it and plain text accepted, answered
/// within the deadline; a failure shows systemfd's output.
fn get(addr: SocketAddr, run: &Running) -> Answer {
    let host = format!("Host: {addr}");
    http::request(addr, "GET", "/", &[&host, "Accept: */*"], DEADLINE)
        .unwrap_or_else(|e| panic!("{e}\n{}", run.report()))
}

/// Asserts that `answer` is the error page in plain text, with the headers
/// it promises, and returns its text.
fn page_text(answer: &Answer, run: &Running) -> String {
    http::assert_error_page(answer, "text/plain", || run.report());
    answer.text()
}

/// Supervise mode with a build step and an `http::` socket: a failed build
/// starts nothing and the page shows its output; a command that ends gets
/// the page too; and once a change fixes things, the request made while the
/// build runs waits for the server and gets its own `200`.
#[test]
#[cfg_attr(
    not(has_wine),
    ignore = "needs Wine, mingw-w64 and the x86_64-pc-windows-gnu target (see .ci/run)"
)]
fn a_failed_build_or_an_ended_command_gets_the_error_page_until_a_server_serves() {
    let wine = wine();
    let (dir, src) = project();
    dir.write("src/status.txt", "broken\n");
    // While it exists, the command exits with status 7 rather than serve.
    dir.write("crash.flag", "");
    let command = format!(
        "if exist crash.flag (echo crashing& exit 7) else {}",
        wine.hello()
    );
    let mut run = wine
        .systemfd_in(
            dir.root(),
            [
                "-s", "http::0", "-w", &src, "--build", BUILD, "--", "cmd", "/c", &command,
            ],
        )
        .spawn();
    let addr = addr_in(&run.wait_for_text("~> socket http://127.0.0.1:"));
    let building = format!("~> build: {BUILD}");
    let answering =
        format!("~> answering http://{addr}/ with an error page until a server is ready");

    // The build fails: nothing starts, and the page shows its output.
    run.wait_for("that names the build", |l| l == building);
    run.wait_for("the build's output", |l| l == "boom");
    run.wait_for_text(
        "~> build failed: it exited with status 3 (its last lines are on the error page); \
         waiting for a change",
    );
    run.wait_for("that says the page answers", |l| {
        l == format!("{answering} (--no-error-page turns this off)")
    });
    assert!(!run.saw("~> started pid"), "{}", run.report());
    let text = page_text(&get(addr, &run), &run);
    for says in [
        "Cause:    the build exited with status 3\n".to_owned(),
        format!("(built by: {BUILD})\n"),
        "\nBuild output".to_owned(),
    ] {
        assert!(text.contains(&says), "no {says:?} in\n{text}");
    }
    assert!(text.lines().any(|l| l.trim_end() == "boom"), "{text}");

    // It builds, and the command starts but ends: the page says so.
    dir.write("src/status.txt", "ok\n");
    let change = run.wait_for_text("~> change: ");
    assert!(change.ends_with("status.txt"), "{change}\n{}", run.report());
    run.wait_for("that names the build", |l| l == building);
    run.wait_for_text("~> build: done after ");
    let crashed = run.started();
    run.wait_for_text(&format!("~> pid {crashed} exited with status 7"));
    run.wait_for_text("~> waiting for a change");
    run.wait_for("that says the page answers", |l| l == answering);
    let text = page_text(&get(addr, &run), &run);
    assert!(
        text.contains(&format!("Cause:    pid {crashed} exited with status 7\n")),
        "{text}"
    );
    assert!(!text.contains("Build output"), "{text}");

    // Fixed. From the build on, systemfd accepts nothing: a request made
    // then waits in the socket's backlog for the server.
    std::fs::remove_file(dir.path("crash.flag")).unwrap();
    dir.touch("src/main.rs");
    run.wait_for("that names the build", |l| l == building);
    let answer = get(addr, &run);
    assert_eq!(answer.status, 200, "{answer:?}\n{}", run.report());
    assert!(
        hello_pid(&answer.text()).is_some(),
        "{answer:?}\n{}",
        run.report()
    );
    let serving = run.started();
    run.wait_for_text(&format!("~> ready: pid {serving} after "));
    assert_eq!(run.count("~> answering"), 2, "{}", run.report());
    drop(dir);
}

#[test]
#[cfg_attr(
    not(has_wine),
    ignore = "needs Wine, mingw-w64 and the x86_64-pc-windows-gnu target (see .ci/run)"
)]
fn on_demand_the_first_connection_starts_the_command_which_answers_it() {
    let wine = wine();
    let mut run = wine
        .systemfd([
            "--on-demand",
            "-s",
            "tcp::0",
            "--",
            "examples\\probe.exe",
            "serve",
        ])
        .spawn();
    let line = run.wait_for_text("~> waiting for the first connection on 127.0.0.1:");
    let addr = addr_in(&line);
    assert!(
        !run.shows_within("pid=", Duration::from_secs(1)),
        "started before any connection\n{}",
        run.report()
    );
    // The connection waits in the backlog while the command starts and
    // fetches its socket; the command answers it.
    let answer = ask(addr, "first");
    run.wait_for_text("~> connection on 127.0.0.1:");
    let pid = number_after(&run.wait_for_text("pid="), "pid=");
    assert_eq!(answer, format!("{pid} first"), "{}", run.report());
}

#[test]
#[cfg_attr(
    not(has_wine),
    ignore = "needs Wine, mingw-w64 and the x86_64-pc-windows-gnu target (see .ci/run)"
)]
fn on_demand_in_supervise_mode_a_change_waits_for_the_connection() {
    let wine = wine();
    let (dir, src) = project();
    let (mut run, addr) = supervise(
        wine,
        &src,
        &["--on-demand", "--", "examples\\probe.exe", "serve"],
    );
    run.wait_for_text("~> waiting for the first connection on ");
    dir.touch("src/main.rs");
    run.wait_for_text("~> not running: the next connection starts the new version");
    assert!(
        !run.shows_within("~> started pid", Duration::from_secs(1)),
        "{}",
        run.report()
    );
    let answer = ask(addr, "first");
    let pid = run.started();
    assert_eq!(answering_pid(&answer), pid, "{}", run.report());
    drop(dir);
}
