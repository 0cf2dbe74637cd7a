//! Zero-gap restarts of servers that never send `READY=1`: on Linux,
//! systemfd sees the new server wait for connections on the socket and only
//! then stops the old one.
//!
//! Each server is real (the std example, a tokio server through `listenfd`,
//! Python's asyncio, Node) and starts through `sh -c 'sleep 1.5; exec …'`,
//! standing for `cargo run` compiling. Clients keep asking while SIGHUP
//! restarts it; every request must succeed, and the old server must go on
//! answering while the new one starts.
//!
//! The old server gets its stop signal only once it holds no connection:
//! a server that dies on SIGTERM (Python's `http.server`) finishes slow
//! requests first, and one that holds a connection for ever is stopped
//! after `--stop-timeout` all the same.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::harness::net::{addr_in, exchange, hello_pid, http_get};
use crate::harness::process::sockets_of;
use crate::harness::tools::{axum_recipe, NODE};
use crate::harness::{hello, number_after, systemfd, Project, Running, Signal, DEADLINE};

/// The wrapper every server starts through: the delay stands for a build;
/// no `NOTIFY_SOCKET` reaches the server, as none would use it.
const DELAYED: &str = "sleep 1.5; unset NOTIFY_SOCKET; exec \"$@\"";

/// Python's asyncio, standard library only: on SIGTERM it stops accepting
/// and finishes the requests it has accepted.
const ASYNCIO: &str = r#"
import asyncio, os, signal, socket

async def handle(reader, writer):
    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
        pass
    body = b"Hello from pid %d!\n" % os.getpid()
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
    await writer.drain()
    writer.close()

async def main():
    server = await asyncio.start_server(handle, sock=socket.socket(fileno=3))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    server.close()
    # Every connection accepted before the close has a task by now (the
    # accept creates it); it starts the handler a few turns later. Wait for
    # them all, whatever the machine's load: a fixed pause can be overtaken.
    me = asyncio.current_task()
    while others := [t for t in asyncio.all_tasks() if t is not me]:
        await asyncio.gather(*others, return_exceptions=True)

asyncio.run(main())
"#;

/// Node's `http`, listening on fd 3; on SIGTERM it closes the server, which
/// lets the requests in hand finish.
const NODE_SERVER: &str = r#"
const http = require("http");
const server = http.createServer((req, res) => {
  res.setHeader("Connection", "close");
  res.end(`Hello from pid ${process.pid}!\n`);
});
server.listen({ fd: 3 });
process.on("SIGTERM", () => server.close(() => process.exit(0)));
"#;

/// A gunicorn-like server, standard library only: the master reports
/// `READY=1` at once, then forks a worker that loads for a second before it
/// serves, waiting in `select` on the (non-blocking) socket.
const PREFORK: &str = r#"
import os, select, signal, socket, sys, time

listener = socket.socket(fileno=3)
notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
notify.sendto(b"READY=1", os.environ["NOTIFY_SOCKET"])
worker = os.fork()
if worker == 0:
    time.sleep(1.0)
    listener.setblocking(False)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    while not stop:
        readable, _, _ = select.select([listener], [], [], 0.2)
        if not readable:
            continue
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            continue
        conn.setblocking(True)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(4096)
            if not chunk:
                break
            head += chunk
        body = b"Hello from pid %d!\n" % os.getpid()
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        conn.close()
    sys.exit(0)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
os.waitpid(worker, 0)
"#;

/// Python's `http.server`, threaded, on fd 3, as most development servers
/// are: no SIGTERM handler, so SIGTERM ends it with its requests. Each
/// answer takes 300 ms, or `?ms=N`.
const SLOW: &str = r#"
import http.server, os, socket, time, urllib.parse

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        time.sleep(int(query.get("ms", ["300"])[0]) / 1000)
        body = b"Hello from pid %d!\n" % os.getpid()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

class Server(http.server.ThreadingHTTPServer):
    def server_bind(self):
        pass

    def server_activate(self):
        pass

server = Server(("", 0), Handler, bind_and_activate=False)
server.socket.close()
server.socket = socket.socket(fileno=3)
server.serve_forever()
"#;

/// One request: when it started, and the pid that answered (or why not).
struct Answer {
    started: Instant,
    took: Duration,
    result: Result<u32, String>,
}

/// Clients asking the server on `port` over and over, each on a fresh
/// connection, until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    clients: Vec<JoinHandle<Vec<Answer>>>,
}

impl Load {
    fn start(port: u16) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let clients = (0..2)
            .map(|_| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut answers = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let started = Instant::now();
                        let result = ask(port);
                        let took = started.elapsed();
                        answers.push(Answer {
                            started,
                            took,
                            result,
                        });
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    answers
                })
            })
            .collect();
        Load { stop, clients }
    }

    fn finish(self) -> Vec<Answer> {
        self.stop.store(true, Ordering::Relaxed);
        let mut all: Vec<Answer> = self
            .clients
            .into_iter()
            .flat_map(|c| c.join().expect("a client thread"))
            .collect();
        all.sort_by_key(|a| a.started);
        all
    }
}

/// The pid in the server's `Hello from pid N!`.
fn ask(port: u16) -> Result<u32, String> {
    let (status, body) = http_get(port).map_err(|e| e.to_string())?;
    hello_pid(&body)
        .filter(|_| status == "HTTP/1.1 200 OK")
        .ok_or_else(|| format!("a bad answer: {status:?} {body:?}"))
}

/// What a restart under load showed.
struct Restart {
    run: Running,
    /// The pid each generation answers with (the child, or its worker).
    old: u32,
    new: u32,
    /// When `~> started pid NEW` and `~> ready: pid NEW` arrived.
    new_started: Instant,
    new_ready: Instant,
    /// The ready lines of the first and the second child.
    ready_lines: [String; 2],
    answers: Vec<Answer>,
}

impl Restart {
    /// Runs `command` under systemfd with `flags`, restarts it once with
    /// SIGHUP while clients ask, and keeps asking until the new server has
    /// answered for a while.
    fn run(dir: &Path, flags: &[&str], command: &[&str]) -> Restart {
        let mut run = systemfd()
            .current_dir(dir)
            .args(["-s", "tcp::0", "-w", "watched"])
            .args(flags)
            .arg("--")
            .args(command)
            .spawn();
        let port = addr_in(&run.wait_for_text("~> socket 127.0.0.1:")).port();
        let first = run.started();
        let first_ready = run.wait_for_text(&format!("~> ready: pid {first} "));
        let old = ask(port).unwrap_or_else(|e| panic!("{e}\n{}", run.report()));

        let load = Load::start(port);
        // Let the clients get going against the old server.
        std::thread::sleep(Duration::from_millis(100));
        run.signal(Signal::HUP);
        let second = run.started();
        let new_started = Instant::now();
        let second_ready = run.wait_for_text(&format!("~> ready: pid {second} "));
        let new_ready = Instant::now();
        run.wait_for_text(&format!("~> stopped pid {first}"));
        let stopped = Instant::now();
        // Ask the new server until it has answered for a while.
        let new = loop {
            let pid = ask(port).unwrap_or_else(|e| panic!("{e}\n{}", run.report()));
            if pid != old || stopped.elapsed() > DEADLINE {
                break pid;
            }
        };
        // Long enough for requests well after the handover.
        while new_ready.elapsed() < Duration::from_millis(1500) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let answers = load.finish();
        Restart {
            run,
            old,
            new,
            new_started,
            new_ready,
            ready_lines: [first_ready, second_ready],
            answers,
        }
    }

    /// No request failed; the old server answered requests made while the
    /// new one started, and the new one answers from the handover on.
    fn assert_zero_gap(&self) {
        let report = || self.run.report();
        let failed: Vec<&String> = self
            .answers
            .iter()
            .filter_map(|a| a.result.as_ref().err())
            .collect();
        assert!(
            failed.is_empty(),
            "failed requests: {failed:?}\n{}",
            report()
        );
        assert_ne!(self.old, self.new, "{}", report());
        let during_start = self
            .answers
            .iter()
            .filter(|a| a.started > self.new_started && a.started < self.new_ready)
            .filter(|a| a.result == Ok(self.old))
            .count();
        assert!(
            during_start > 0,
            "the old server answered nothing while the new one started\n{}",
            report()
        );
        let after: Vec<&Answer> = self
            .answers
            .iter()
            .filter(|a| a.started > self.new_ready + Duration::from_secs(1))
            .collect();
        assert!(!after.is_empty(), "{}", report());
        assert!(
            after.iter().all(|a| a.result == Ok(self.new)),
            "{}",
            report()
        );
    }
}

/// The lines of a restart that waited for the new server to listen.
fn assert_listening_handover(restart: &Restart) {
    for line in &restart.ready_lines {
        assert!(
            line.ends_with("(listening on fd 3)"),
            "{line}\n{}",
            restart.run.report()
        );
    }
    assert!(
        restart.run.saw("~> restart: starting a replacement; pid "),
        "{}",
        restart.run.report()
    );
}

/// `sh -c DELAYED sh PROGRAM ARGS…`
fn delayed<'a>(program: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut command = vec!["sh", "-c", DELAYED, "sh", program];
    command.extend_from_slice(args);
    command
}

fn project() -> Project {
    Project::new(&["watched"])
}

#[test]
fn a_std_server_is_replaced_without_a_gap() {
    let dir = project();
    let hello = hello();
    let restart = Restart::run(dir.root(), &[], &delayed(&hello, &[]));
    restart.assert_zero_gap();
    assert_listening_handover(&restart);
}

#[test]
fn a_tokio_server_through_listenfd_is_replaced_without_a_gap() {
    let dir = project();
    // The axum recipe: tokio through listenfd, which wants the socket
    // non-blocking.
    let server = axum_recipe(false).display().to_string();
    let restart = Restart::run(dir.root(), &["--nonblocking"], &delayed(&server, &[]));
    restart.assert_zero_gap();
    assert_listening_handover(&restart);
}

#[test]
fn a_python_asyncio_server_is_replaced_without_a_gap() {
    let dir = project();
    dir.write("server.py", ASYNCIO);
    let restart = Restart::run(dir.root(), &[], &delayed("python3", &["server.py"]));
    restart.assert_zero_gap();
    assert_listening_handover(&restart);
}

#[test]
#[cfg_attr(not(has_node), ignore = "needs Node.js (Debian: nodejs)")]
fn a_node_server_is_replaced_without_a_gap() {
    let node = NODE.require();
    let dir = project();
    dir.write("server.js", NODE_SERVER);
    let restart = Restart::run(dir.root(), &[], &delayed(node, &["server.js"]));
    restart.assert_zero_gap();
    assert_listening_handover(&restart);
}

#[test]
fn ready_1_before_the_workers_serve_waits_for_them() {
    let dir = project();
    dir.write("server.py", PREFORK);
    let restart = Restart::run(dir.root(), &[], &["python3", "server.py"]);
    restart.assert_zero_gap();
    // The worker, not the master, answers and is seen listening; the master
    // reported READY=1 a second earlier.
    let [_, second] = &restart.ready_lines;
    let expected = format!("(READY=1, pid {} listening on fd 3)", restart.new);
    assert!(
        second.ends_with(&expected),
        "{second}\n{}",
        restart.run.report()
    );
    let after = number_after(second, " after ");
    assert!(after >= 1000, "{second}\n{}", restart.run.report());
}

#[test]
fn without_looking_the_same_restart_stops_first() {
    // What any server that sends no READY=1 got before: the old one stops,
    // and clients wait for the new one to start.
    let dir = project();
    let hello = hello();
    let mut run = systemfd()
        .current_dir(dir.root())
        .args(["-s", "tcp::0", "-w", "watched", "--ready", "notify", "--"])
        .args(delayed(&hello, &[]))
        .spawn();
    let port = addr_in(&run.wait_for_text("~> socket 127.0.0.1:")).port();
    let first = run.started();
    assert_eq!(ask(port), Ok(first), "{}", run.report());
    let load = Load::start(port);
    std::thread::sleep(Duration::from_millis(100));
    run.signal(Signal::HUP);
    run.wait_for_text(&format!(
        "~> restart: stopping pid {first} first (it has not reported READY=1)"
    ));
    let second = run.started();
    assert_eq!(ask(port), Ok(second), "{}", run.report());
    let answers = load.finish();
    assert!(answers.iter().all(|a| a.result.is_ok()), "{}", run.report());
    // Some request waited through the new server's start.
    let slowest = answers.iter().map(|a| a.took).max().unwrap();
    assert!(
        slowest >= Duration::from_secs(1),
        "{slowest:?}\n{}",
        run.report()
    );
    assert!(!run.saw("~> ready:"), "{}", run.report());
}

/// A client that starts a request every `period`, each on a connection
/// and a thread of its own, so several are in flight at any time.
struct Paced {
    stop: Arc<AtomicBool>,
    pacer: JoinHandle<Vec<Answer>>,
}

impl Paced {
    fn start(port: u16, period: Duration) -> Paced {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let pacer = std::thread::spawn(move || {
            let mut requests = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                requests.push(std::thread::spawn(move || {
                    let started = Instant::now();
                    let result = ask(port);
                    Answer {
                        started,
                        took: started.elapsed(),
                        result,
                    }
                }));
                std::thread::sleep(period);
            }
            requests
                .into_iter()
                .map(|r| r.join().expect("a request thread"))
                .collect()
        });
        Paced { stop, pacer }
    }

    fn finish(self) -> Vec<Answer> {
        self.stop.store(true, Ordering::Relaxed);
        self.pacer.join().expect("the pacer thread")
    }
}

/// `GET /?ms=MS`: an answer that takes `ms` milliseconds.
fn ask_slowly(port: u16, ms: u64) -> Result<u32, String> {
    let request = format!("GET /?ms={ms} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    let text = exchange(port, request.as_bytes()).map_err(|e| e.to_string())?;
    text.starts_with("HTTP/1.1 200 OK\r\n")
        .then(|| {
            text.split_once("\r\n\r\n")
                .and_then(|(_, body)| hello_pid(body))
        })
        .flatten()
        .ok_or_else(|| format!("a bad answer: {text:?}"))
}

/// No line says that a child was stopped by a signal: the freezes that
/// count an old server's connections are silent.
fn assert_no_stop_reported(run: &Running) {
    assert!(!run.saw(" was stopped by "), "{}", run.report());
}

#[test]
fn an_old_server_that_dies_on_sigterm_finishes_its_requests_first() {
    let dir = project();
    dir.write("server.py", SLOW);
    // Long enough that only an idle moment ends the drain.
    let mut run = systemfd()
        .current_dir(dir.root())
        .args([
            "-s",
            "tcp::0",
            "-w",
            "watched",
            "--stop-timeout",
            "20s",
            "--",
        ])
        .args(delayed("python3", &["server.py"]))
        .spawn();
    let port = addr_in(&run.wait_for_text("~> socket 127.0.0.1:")).port();
    let first = run.started();
    run.wait_for_text(&format!("~> ready: pid {first} "));
    assert_eq!(ask(port), Ok(first), "{}", run.report());

    // A request every 50 ms, each taking 300 ms: several are in flight
    // whenever the old server could be stopped.
    let load = Paced::start(port, Duration::from_millis(50));
    std::thread::sleep(Duration::from_millis(200));
    run.signal(Signal::HUP);
    let second = run.started();
    // Only the old server listens while the new one "builds": it takes this
    // request, which it answers well after the handover.
    let long = std::thread::spawn(move || {
        let started = Instant::now();
        (started, ask_slowly(port, 2500))
    });
    run.wait_for_text(&format!(
        "~> handover: pid {second} is ready; stopping pid {first}"
    ));
    run.wait_for_text(&format!("~> stopped pid {first}: it was killed by SIGTERM"));
    let stopped = Instant::now();
    let (long_started, long_answer) = long.join().unwrap();
    // The new server alone from here on.
    std::thread::sleep(Duration::from_millis(500));
    let answers = load.finish();

    let report = run.report();
    assert_eq!(long_answer, Ok(first), "{report}");
    assert!(
        stopped - long_started >= Duration::from_millis(2500),
        "stopped {:?} after the long request began\n{report}",
        stopped - long_started
    );
    let failed: Vec<&String> = answers
        .iter()
        .filter_map(|a| a.result.as_ref().err())
        .collect();
    assert!(failed.is_empty(), "failed requests: {failed:?}\n{report}");
    let by = |pid: u32| answers.iter().filter(|a| a.result == Ok(pid)).count();
    assert!(by(first) > 0 && by(second) > 0, "{report}");
    assert!(!run.saw("still holds"), "{report}");
    assert_no_stop_reported(&run);
}

#[test]
fn an_old_server_that_holds_a_connection_for_ever_is_stopped_after_the_timeout() {
    let dir = project();
    dir.write("server.py", SLOW);
    let mut run = systemfd()
        .current_dir(dir.root())
        .args(["-s", "tcp::0", "-w", "watched", "--stop-timeout", "1", "--"])
        .args(delayed("python3", &["server.py"]))
        .spawn();
    let port = addr_in(&run.wait_for_text("~> socket 127.0.0.1:")).port();
    let first = run.started();
    run.wait_for_text(&format!("~> ready: pid {first} "));
    // A client that sends half a request and no more; the server's thread
    // waits for the rest. (One that sent nothing at all would be taken
    // for a browser's preconnection after a second, which holds nothing.)
    let before = sockets_of(first);
    let idle = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    std::io::Write::write_all(&mut &idle, b"GET / HTTP/1.1\r\n").unwrap();
    crate::harness::wait_until("the old server accepts the idle client", || {
        sockets_of(first) > before
    });

    let hup = Instant::now();
    run.signal(Signal::HUP);
    let second = run.started();
    run.wait_for_text(&format!(
        "~> handover: pid {second} is ready; stopping pid {first}"
    ));
    run.wait_for_text(&format!(
        "~> pid {first} still holds 1 connection after 1s: stopping it anyway"
    ));
    // The build's 1.5 s, then the second.
    assert!(
        hup.elapsed() >= Duration::from_millis(2500),
        "{}",
        run.report()
    );
    run.wait_for_text(&format!("~> stopped pid {first}: it was killed by SIGTERM"));
    // The idle client's connection is gone with it.
    idle.set_read_timeout(Some(crate::harness::DEADLINE))
        .unwrap();
    let mut byte = [0u8; 1];
    assert!(
        matches!(std::io::Read::read(&mut &idle, &mut byte), Ok(0) | Err(_)),
        "{}",
        run.report()
    );
    assert_eq!(ask(port), Ok(second), "{}", run.report());
    assert_no_stop_reported(&run);
}

/// A connection that carries nothing (a browser's preconnection) holds an
/// old server no longer than a second: it is stopped long before its
/// stop timeout.
#[test]
fn a_preconnection_does_not_hold_an_old_server() {
    let dir = project();
    dir.write("server.py", SLOW);
    let mut run = systemfd()
        .current_dir(dir.root())
        .args([
            "-s",
            "tcp::0",
            "-w",
            "watched",
            "--stop-timeout",
            "20",
            "--",
        ])
        .args(["python3", "server.py"])
        .spawn();
    let port = addr_in(&run.wait_for_text("~> socket 127.0.0.1:")).port();
    let first = run.started();
    run.wait_for_text(&format!("~> ready: pid {first} "));
    let before = sockets_of(first);
    let _preconnection = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    crate::harness::wait_until("the old server accepts the preconnection", || {
        sockets_of(first) > before
    });
    let hup = Instant::now();
    run.signal(Signal::HUP);
    let second = run.started();
    run.wait_for_text(&format!("~> stopped pid {first}"));
    assert!(hup.elapsed() < Duration::from_secs(10), "{}", run.report());
    assert!(!run.saw("still holds"), "{}", run.report());
    assert_eq!(ask(port), Ok(second), "{}", run.report());
}
