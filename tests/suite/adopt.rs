//! Adoption (Linux): servers that bind their own port, run as their users
//! write them, get systemfd's socket for that bind instead of "Address
//! already in use".
//!
//! Each real server (Python's `http.server`, Flask's and Django's
//! development servers, PHP's built-in server, Express, a Go net/http
//! server) runs through the real systemfd on a free loopback port, in exec
//! mode with `--adopt` and in supervise mode, where adoption is on by
//! default. It must answer, exactly one socket must listen on the port
//! (systemfd's, which the server holds at a descriptor of its own as well
//! as at fd 3), and under `-w` a SIGHUP restart under a browser-like load
//! must fail no request.
//!
//! A one-file Python server binds what each test tells it to, for the
//! addresses adoption matches (wildcards, loopback across families, an IPv6
//! socket), a port it leaves alone, and a program that binds an address
//! twice, which must see what it would see with the port to itself.
//! `--no-adopt` keeps the old behaviour: the server finds the port in use.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Instant;

use crate::harness::command::Line;
use crate::harness::listeners::{listening_on, Listener};
use crate::harness::load::{BrowserLoad, Request};
use crate::harness::net::{body_of_ok, free_port_on, hello_pid};
use crate::harness::process::{alive, children_of};
use crate::harness::servers::{
    django_runserver, express, flask_run, go_net_http, http_server, php_server,
};
use crate::harness::tools::PYTHON3;
use crate::harness::{
    free_port, holds_within, systemfd, temp_dir, wait_until, Running, Signal, TestCommand, DEADLINE,
};

// ---------------------------------------------------------------------------
// The servers, as their users run them.

/// What a server answers to `GET /`.
#[derive(Clone, Copy)]
enum Greets {
    /// `GREETING, pid N!` from the server's own process.
    Pid(&'static str),
    /// A page containing this text, which does not tell who serves it.
    Page(&'static str),
}

/// A server that binds 127.0.0.1:PORT or a wildcard itself.
struct Server {
    greets: Greets,
    /// Adds the server's command line, for a port, after `--`.
    command: fn(TestCommand, u16) -> TestCommand,
}

/// `python3 -m http.server PORT --bind 127.0.0.1`, serving recipes/static.
const HTTP_SERVER: Server = Server {
    greets: Greets::Page("Hello from http.server!"),
    command: http_server,
};

/// `flask run --no-reload`: werkzeug binds 127.0.0.1.
const FLASK: Server = Server {
    greets: Greets::Pid("Hello from Flask"),
    command: flask_run,
};

/// `manage.py runserver --noreload`: Django binds 127.0.0.1.
const DJANGO: Server = Server {
    greets: Greets::Pid("Hello from Django"),
    command: django_runserver,
};

/// `php -S localhost:PORT`: PHP binds the first address `localhost` has
/// (127.0.0.1 or ::1; loopback either way).
const PHP_SERVER: Server = Server {
    greets: Greets::Pid("Hello from PHP"),
    command: php_server,
};

/// Express's `app.listen(PORT)`: Node binds the wildcard `::`
/// (non-blocking, in libuv's epoll).
const EXPRESS: Server = Server {
    greets: Greets::Pid("Hello from Express"),
    command: express,
};

/// `http.ListenAndServe(":"+PORT, …)`: Go binds the wildcard `::`
/// (non-blocking, in Go's netpoller).
const GO_NET_HTTP: Server = Server {
    greets: Greets::Pid("Hello from Go net/http"),
    command: go_net_http,
};

// ---------------------------------------------------------------------------
// Asking and looking.

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// The body of the `200` answer to `GET /` on `addr`.
fn get(addr: SocketAddr, run: &mut Running) -> String {
    body_of_ok(addr, run)
}

/// Asserts that `body` is what `greets` describes, from process `pid`.
fn assert_greets(greets: Greets, body: &str, pid: u32, run: &Running) {
    let right = match greets {
        Greets::Pid(greeting) => body == format!("{greeting}, pid {pid}!\n"),
        Greets::Page(text) => body.contains(text),
    };
    assert!(right, "{body:?} is not from pid {pid}\n{}", run.report());
}

/// The one socket listening on `port`: at `local`, systemfd's (held by
/// `systemfd`), held by `server` at a descriptor other than fd 3, where its
/// own bind put it, and with systemfd's backlog (the system maximum), which
/// the server's own `listen()` (5 for http.server) did not shrink.
fn assert_adopted(port: u16, local: &str, systemfd: u32, server: u32, run: &Running) -> Listener {
    let mut listeners = listening_on(port);
    let report = |listeners: &[Listener]| {
        let lines: Vec<&str> = listeners.iter().map(|l| l.line.as_str()).collect();
        format!("ss: {lines:#?}\n{}", run.report())
    };
    assert_eq!(
        listeners.len(),
        1,
        "not exactly one socket on port {port}: {}",
        report(&listeners)
    );
    let listener = &listeners[0];
    assert_eq!(listener.local, local, "{}", report(&listeners));
    let somaxconn = std::fs::read_to_string("/proc/sys/net/core/somaxconn").expect("somaxconn");
    assert_eq!(
        Some(listener.backlog),
        somaxconn.trim().parse().ok(),
        "{}",
        report(&listeners)
    );
    assert!(listener.held_by(systemfd), "{}", report(&listeners));
    assert!(
        listener.fds_of(server).any(|fd| fd != 3),
        "pid {server} does not hold the socket where it bound it: {}",
        report(&listeners)
    );
    listeners.remove(0)
}

/// The one child of systemfd in exec mode: the server.
fn only_child(run: &Running) -> u32 {
    let children = children_of(run.pid());
    match children[..] {
        [child] => child,
        _ => panic!("children {children:?} of systemfd\n{}", run.report()),
    }
}

/// Stops exec mode with SIGTERM, which systemfd passes on; the server must
/// be gone with it.
fn stop_exec(mut run: Running, server: u32) {
    run.signal(Signal::TERM);
    run.wait();
    if !holds_within(DEADLINE, || !alive(server)) {
        crate::harness::signal(server, Signal::KILL);
        panic!("pid {server} outlived systemfd\n{}", run.report());
    }
}

/// Stops supervise mode with SIGTERM; it must exit with status 0.
fn stop_supervise(mut run: Running) {
    run.signal(Signal::TERM);
    let status = run.wait();
    assert!(status.success(), "{status}\n{}", run.report());
}

/// The stderr line that the first adoption prints: it says `adopt` and
/// names `--no-adopt`.
fn is_hint(line: &str) -> bool {
    line.contains("--no-adopt") && line.replace("--no-adopt", "").contains("adopt")
}

// ---------------------------------------------------------------------------
// Each server, in exec mode and under `-w`.

/// `systemfd --adopt -s http::PORT -- SERVER`: the server answers, more than
/// once (a server left on a socket in the wrong blocking mode would answer
/// the first request and hang), from systemfd's one socket.
fn adopted_in_exec_mode(server: Server) {
    let port = free_port();
    let command = systemfd().args(["--adopt", "-s", &format!("http::{port}"), "--"]);
    let mut run = (server.command)(command, port).spawn();
    run.wait_for_text(&format!("~> socket http://127.0.0.1:{port}/ -> fd #3"));
    let bodies: Vec<String> = (0..3).map(|_| get(loopback(port), &mut run)).collect();
    let child = only_child(&run);
    for body in &bodies {
        assert_greets(server.greets, body, child, &run);
    }
    assert_adopted(port, &format!("127.0.0.1:{port}"), run.pid(), child, &run);
    stop_exec(run, child);
}

/// `systemfd -s http::PORT -w DIR -- SERVER`, adoption on by default: the
/// server answers from systemfd's one socket; systemfd says once that it
/// adopted, naming `--no-adopt`; and a SIGHUP restart while a browser-like
/// client asks every 50 ms fails no request, until the new server has
/// answered.
fn adopted_under_watch_and_restarted_under_load(server: Server) {
    let watched = temp_dir();
    let port = free_port();
    let command = systemfd()
        .args(["-s", &format!("http::{port}"), "-w"])
        .arg(watched.path())
        .arg("--");
    let mut run = (server.command)(command, port).spawn();
    let first = run.started();
    let body = get(loopback(port), &mut run);
    assert_greets(server.greets, &body, first, &run);
    let hint = run.wait_for("saying it adopted, naming --no-adopt", is_hint);
    assert!(
        run.seen
            .iter()
            .any(|line| matches!(line, Line::Stderr(text) if *text == hint)),
        "{hint:?} is not on stderr\n{}",
        run.report()
    );
    assert_adopted(port, &format!("127.0.0.1:{port}"), run.pid(), first, &run);

    let load = BrowserLoad::start(loopback(port));
    // The first server answers the client before the restart.
    wait_until("two requests before the restart", || load.count() >= 2);
    let restart = Instant::now();
    run.signal(Signal::HUP);
    let second = run.started();
    let (stopped, failed) = (
        format!("~> stopped pid {first}"),
        format!("~> pid {second} exited"),
    );
    let line = run.wait_for("saying the old server stopped", |line| {
        line.starts_with(&stopped) || line.starts_with(&failed)
    });
    assert!(
        line.starts_with(&stopped),
        "the new server failed\n{}",
        run.report()
    );
    let stopped = Instant::now();
    let last = load.answered_since(stopped, DEADLINE);
    let requests = load.finish();
    let report = |requests: &[Request]| {
        let lines: Vec<String> = requests.iter().map(|r| r.describe(restart)).collect();
        format!(
            "requests, their start counted from the SIGHUP:\n{}\n{}",
            lines.join("\n"),
            run.report()
        )
    };
    let failed: Vec<&Request> = requests
        .iter()
        .filter(|r| r.body_if_ok().is_none())
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {}",
        failed.len(),
        requests.len(),
        report(&requests)
    );
    let Some(last) = last else {
        panic!(
            "no answer within {DEADLINE:?} after pid {first} stopped: {}",
            report(&requests)
        );
    };
    assert_greets(server.greets, &last, second, &run);
    assert_adopted(port, &format!("127.0.0.1:{port}"), run.pid(), second, &run);
    // Said once in the run, not at every start.
    assert_eq!(
        run.seen.iter().filter(|l| is_hint(l.text())).count(),
        1,
        "{}",
        run.report()
    );
    stop_supervise(run);
}

#[test]
#[cfg_attr(not(has_ss), ignore = "needs ss (Debian: iproute2)")]
fn http_server_is_adopted_in_exec_mode() {
    adopted_in_exec_mode(HTTP_SERVER);
}

#[test]
#[cfg_attr(not(has_ss), ignore = "needs ss (Debian: iproute2)")]
fn http_server_is_adopted_under_watch_and_restarts_under_load() {
    adopted_under_watch_and_restarted_under_load(HTTP_SERVER);
}

#[test]
#[cfg_attr(
    not(all(has_ss, has_recipes_venv)),
    ignore = "needs ss (Debian: iproute2) and Flask in SYSTEMFD_RECIPES_VENV or target/recipes-venv (see .ci/run)"
)]
fn flask_is_adopted_in_exec_mode() {
    adopted_in_exec_mode(FLASK);
}

#[test]
#[cfg_attr(
    not(all(has_ss, has_recipes_venv)),
    ignore = "needs ss (Debian: iproute2) and Flask in SYSTEMFD_RECIPES_VENV or target/recipes-venv (see .ci/run)"
)]
fn flask_is_adopted_under_watch_and_restarts_under_load() {
    adopted_under_watch_and_restarted_under_load(FLASK);
}

#[test]
#[cfg_attr(
    not(all(has_ss, has_recipes_venv)),
    ignore = "needs ss (Debian: iproute2) and Django in SYSTEMFD_RECIPES_VENV or target/recipes-venv (see .ci/run)"
)]
fn django_is_adopted_in_exec_mode() {
    adopted_in_exec_mode(DJANGO);
}

#[test]
#[cfg_attr(
    not(all(has_ss, has_recipes_venv)),
    ignore = "needs ss (Debian: iproute2) and Django in SYSTEMFD_RECIPES_VENV or target/recipes-venv (see .ci/run)"
)]
fn django_is_adopted_under_watch_and_restarts_under_load() {
    adopted_under_watch_and_restarted_under_load(DJANGO);
}

#[test]
#[cfg_attr(
    not(all(has_ss, has_php)),
    ignore = "needs ss and PHP (Debian: iproute2, php-cli)"
)]
fn php_is_adopted_in_exec_mode() {
    adopted_in_exec_mode(PHP_SERVER);
}

#[test]
#[cfg_attr(
    not(all(has_ss, has_php)),
    ignore = "needs ss and PHP (Debian: iproute2, php-cli)"
)]
fn php_is_adopted_under_watch_and_restarts_under_load() {
    adopted_under_watch_and_restarted_under_load(PHP_SERVER);
}

#[test]
#[cfg_attr(
    not(all(has_ss, has_express)),
    ignore = "needs ss (Debian: iproute2), Node.js and Express (`npm ci --prefix recipes/express`)"
)]
fn express_is_adopted_in_exec_mode() {
    adopted_in_exec_mode(EXPRESS);
}

#[test]
#[cfg_attr(
    not(all(has_ss, has_express)),
    ignore = "needs ss (Debian: iproute2), Node.js and Express (`npm ci --prefix recipes/express`)"
)]
fn express_is_adopted_under_watch_and_restarts_under_load() {
    adopted_under_watch_and_restarted_under_load(EXPRESS);
}

#[test]
#[cfg_attr(
    not(all(has_ss, has_go)),
    ignore = "needs ss and Go (Debian: iproute2, golang-go)"
)]
fn go_net_http_is_adopted_in_exec_mode() {
    adopted_in_exec_mode(GO_NET_HTTP);
}

#[test]
#[cfg_attr(
    not(all(has_ss, has_go)),
    ignore = "needs ss and Go (Debian: iproute2, golang-go)"
)]
fn go_net_http_is_adopted_under_watch_and_restarts_under_load() {
    adopted_under_watch_and_restarted_under_load(GO_NET_HTTP);
}

// ---------------------------------------------------------------------------
// What a bind matches: a one-file server that binds as it is told.

/// `python3 -c BIND_SERVER MODE STEP…`. Each step is `KIND:ADDRESS`
/// (`listen:0.0.0.0:5000`, `listen:[::1]:5000`): a TCP socket with
/// SO_REUSEADDR, as servers make them, bound to ADDRESS and listening.
/// KIND `probe` closes it again, as a program that looks for a free port
/// does before it binds for good; `reuseport` sets SO_REUSEPORT too, as a
/// server with a listener per thread does; `thread` binds and listens on a
/// thread other than the main one, as Go's runtime may. Each step prints what bind and
/// listen returned (`step 2 listen: bind EADDRINUSE`). MODE `check` stops
/// there; `serve` prints `serving` and answers `GET /` on every socket it
/// kept with `Hello from ADDRESS, pid N!`.
const BIND_SERVER: &str = r#"
import errno, os, selectors, socket, sys, threading

def attempt(what, call):
    try:
        call()
    except OSError as err:
        return f"{what} {errno.errorcode.get(err.errno, err.errno)}"
    return f"{what} ok"

mode, *steps = sys.argv[1:]
kept = []
for number, step in enumerate(steps, 1):
    kind, address = step.split(":", 1)
    host, port = address.rsplit(":", 1)
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if kind == "reuseport":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if kind == "v6only":
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    def bind_and_listen():
        outcome.append(attempt("bind", lambda: sock.bind((host, int(port)))))
        if outcome[-1] == "bind ok":
            outcome.append(attempt("listen", lambda: sock.listen(16)))
    outcome = []
    if kind == "thread":
        thread = threading.Thread(target=bind_and_listen)
        thread.start()
        thread.join()
    else:
        bind_and_listen()
    if kind == "probe" or not outcome[-1].endswith(" ok"):
        sock.close()
    else:
        kept.append((sock, address))
    print(f"step {number} {kind}: {', '.join(outcome)}", flush=True)

if mode == "check":
    sys.exit(0)
if not kept:
    sys.exit("nothing to serve")
selector = selectors.DefaultSelector()
for sock, address in kept:
    sock.setblocking(False)
    selector.register(sock, selectors.EVENT_READ, address)
print("serving", flush=True)
while True:
    for key, _ in selector.select():
        try:
            conn, _ = key.fileobj.accept()
        except BlockingIOError:
            continue
        try:
            with conn:
                conn.setblocking(True)
                conn.settimeout(10)
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    head += chunk
                body = f"Hello from {key.data}, pid {os.getpid()}!\n".encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        except OSError:
            pass
"#;

/// `IP:PORT` as a step's address (IPv6 in brackets).
fn step(kind: &str, ip: IpAddr, port: u16) -> String {
    format!("{kind}:{}", SocketAddr::from((ip, port)))
}

/// The step lines of a run's stdout.
fn step_lines<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    lines
        .into_iter()
        .filter(|line| line.starts_with("step "))
        .map(str::to_owned)
        .collect()
}

/// What the steps get from the kernel with the port to themselves, no
/// systemfd running.
fn alone(steps: &[String]) -> Vec<String> {
    let ran = TestCommand::new(PYTHON3.require())
        .args(["-c", BIND_SERVER, "check"])
        .args(steps)
        .success();
    step_lines(ran.stdout().lines())
}

/// `systemfd --adopt -s SPEC -- python3 -c BIND_SERVER serve STEP…`, once
/// the server serves; with the step lines it printed and its pid.
fn adopting(spec: &str, steps: &[String]) -> (Running, Vec<String>, u32) {
    let mut run = systemfd()
        .args([
            "--adopt",
            "-s",
            spec,
            "--",
            PYTHON3.require(),
            "-c",
            BIND_SERVER,
            "serve",
        ])
        .args(steps)
        .spawn();
    run.wait_for_text("~> socket ");
    run.wait_for("serving", |line| line == "serving");
    let lines = step_lines(run.seen.iter().map(Line::text));
    let server = only_child(&run);
    (run, lines, server)
}

/// Asserts that every step bound and listened.
fn assert_all_ok(lines: &[String], steps: &[String], run: &Running) {
    assert_eq!(lines.len(), steps.len(), "{}", run.report());
    for line in lines {
        assert!(
            line.ends_with(": bind ok, listen ok"),
            "{line}\n{}",
            run.report()
        );
    }
}

/// Asserts that `addr` answers from the socket the server bound as
/// `label`, and that the server's pid is `server`.
fn assert_answers(addr: SocketAddr, label: &str, server: u32, run: &mut Running) {
    let body = get(addr, run);
    assert_eq!(
        body,
        format!("Hello from {label}, pid {server}!\n"),
        "{}",
        run.report()
    );
    assert_eq!(hello_pid(&body), Some(server));
}

/// systemfd holds 127.0.0.1:PORT; the program binds `ip`:PORT, which is
/// adopted: it answers on 127.0.0.1, and only systemfd's socket listens.
fn bind_on_loopback_port_is_adopted(ip: IpAddr) {
    let port = free_port();
    let steps = [step("listen", ip, port)];
    let (mut run, lines, server) = adopting(&format!("http::{port}"), &steps);
    assert_all_ok(&lines, &steps, &run);
    let label = SocketAddr::from((ip, port)).to_string();
    assert_answers(loopback(port), &label, server, &mut run);
    assert_adopted(port, &format!("127.0.0.1:{port}"), run.pid(), server, &run);
    stop_exec(run, server);
}

#[test]
#[cfg_attr(not(has_ss), ignore = "needs ss (Debian: iproute2)")]
fn a_bind_to_the_ipv4_wildcard_is_adopted() {
    bind_on_loopback_port_is_adopted(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
}

#[test]
#[cfg_attr(
    not(all(has_ss, has_ipv6_loopback)),
    ignore = "needs ss (Debian: iproute2) and an IPv6 loopback address"
)]
fn a_bind_to_the_ipv6_wildcard_is_adopted() {
    bind_on_loopback_port_is_adopted(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
}

#[test]
#[cfg_attr(
    not(all(has_ss, has_ipv6_loopback)),
    ignore = "needs ss (Debian: iproute2) and an IPv6 loopback address"
)]
fn a_bind_to_ipv6_loopback_is_adopted_when_systemfd_holds_ipv4_loopback() {
    bind_on_loopback_port_is_adopted(IpAddr::V6(Ipv6Addr::LOCALHOST));
}

#[test]
#[cfg_attr(
    not(all(has_ss, has_ipv6_loopback)),
    ignore = "needs ss (Debian: iproute2) and an IPv6 loopback address"
)]
fn an_ipv6_passed_socket_is_adopted_by_an_ipv6_loopback_bind() {
    let ip = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let port = free_port_on(ip);
    let steps = [step("listen", ip, port)];
    let (mut run, lines, server) = adopting(&format!("[::1]:{port}"), &steps);
    assert_all_ok(&lines, &steps, &run);
    let label = SocketAddr::from((ip, port)).to_string();
    assert_answers(SocketAddr::from((ip, port)), &label, server, &mut run);
    assert_adopted(port, &format!("[::1]:{port}"), run.pid(), server, &run);
    stop_exec(run, server);
}

/// An IPv4 socket cannot take an IPv6 one (the program's buffers are too
/// small for the addresses it would accept): its loopback bind goes
/// through, on a socket of its own, and systemfd says why.
#[test]
#[cfg_attr(
    not(all(has_ss, has_ipv6_loopback)),
    ignore = "needs ss (Debian: iproute2) and an IPv6 loopback address"
)]
fn an_ipv4_socket_does_not_take_an_ipv6_passed_socket() {
    let port = free_port_on(IpAddr::V6(Ipv6Addr::LOCALHOST));
    let steps = [step("listen", IpAddr::V4(Ipv4Addr::LOCALHOST), port)];
    let (mut run, lines, server) = adopting(&format!("[::1]:{port}"), &steps);
    assert_all_ok(&lines, &steps, &run);
    run.wait_for_text("with an IPv4 socket, which cannot take the IPv6 socket");
    // It answers on its own socket, with its client's address whole.
    assert_answers(
        loopback(port),
        &format!("127.0.0.1:{port}"),
        server,
        &mut run,
    );
    let mut locals: Vec<String> = listening_on(port).into_iter().map(|l| l.local).collect();
    locals.sort();
    assert_eq!(
        locals,
        [format!("127.0.0.1:{port}"), format!("[::1]:{port}")]
    );
    stop_exec(run, server);
}

#[test]
#[cfg_attr(not(has_ss), ignore = "needs ss (Debian: iproute2)")]
fn a_wildcard_passed_socket_is_adopted_by_a_wildcard_bind() {
    let port = free_port_on(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let steps = [step("listen", IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)];
    let (mut run, lines, server) = adopting(&format!("0.0.0.0:{port}"), &steps);
    assert_all_ok(&lines, &steps, &run);
    assert_answers(loopback(port), &format!("0.0.0.0:{port}"), server, &mut run);
    assert_adopted(port, &format!("0.0.0.0:{port}"), run.pid(), server, &run);
    stop_exec(run, server);
}

#[test]
#[cfg_attr(not(has_ss), ignore = "needs ss (Debian: iproute2)")]
fn a_bind_to_another_port_goes_through() {
    let (port, other) = (free_port(), free_port());
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let steps = [step("listen", ip, port), step("listen", ip, other)];
    let (mut run, lines, server) = adopting(&format!("http::{port}"), &steps);
    assert_all_ok(&lines, &steps, &run);
    assert_answers(
        loopback(port),
        &format!("127.0.0.1:{port}"),
        server,
        &mut run,
    );
    assert_answers(
        loopback(other),
        &format!("127.0.0.1:{other}"),
        server,
        &mut run,
    );
    assert_adopted(port, &format!("127.0.0.1:{port}"), run.pid(), server, &run);
    // The other port has a socket of the server's own, which systemfd
    // neither made nor holds.
    let listeners = listening_on(other);
    assert!(
        matches!(
            &listeners[..],
            [own] if own.local == format!("127.0.0.1:{other}")
                && own.held_by(server)
                && !own.held_by(run.pid())
        ),
        "{listeners:#?}\n{}",
        run.report()
    );
    assert!(
        !run.seen
            .iter()
            .any(|l| l.text().contains(&format!(":{other}"))),
        "systemfd spoke of port {other}\n{}",
        run.report()
    );
    stop_exec(run, server);
}

/// The bind comes to systemfd from the thread that makes it: one other than
/// the process's main thread is adopted too.
#[test]
#[cfg_attr(not(has_ss), ignore = "needs ss (Debian: iproute2)")]
fn a_bind_from_another_thread_is_adopted() {
    let port = free_port();
    let steps = [step("thread", IpAddr::V4(Ipv4Addr::LOCALHOST), port)];
    let (mut run, lines, server) = adopting(&format!("http::{port}"), &steps);
    assert_all_ok(&lines, &steps, &run);
    assert_answers(
        loopback(port),
        &format!("127.0.0.1:{port}"),
        server,
        &mut run,
    );
    assert_adopted(port, &format!("127.0.0.1:{port}"), run.pid(), server, &run);
    stop_exec(run, server);
}

/// A program that binds 127.0.0.1:PORT twice, as `steps` say, sees under
/// systemfd what it sees with the port to itself, and serves.
fn binds_twice_as_alone(first: &str, second: &str) -> (Running, Vec<String>, u32, u16) {
    let port = free_port();
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let steps = [step(first, ip, port), step(second, ip, port)];
    let expected = alone(&steps);
    let (mut run, lines, server) = adopting(&format!("http::{port}"), &steps);
    assert_eq!(
        lines,
        expected,
        "alone, the program saw {expected:?}\n{}",
        run.report()
    );
    assert_answers(
        loopback(port),
        &format!("127.0.0.1:{port}"),
        server,
        &mut run,
    );
    assert_adopted(port, &format!("127.0.0.1:{port}"), run.pid(), server, &run);
    (run, lines, server, port)
}

/// A program that looks for a free port by binding it and closing the
/// socket (as Node's detect-port and portfinder do), then binds it for
/// good: both binds are adopted.
#[test]
#[cfg_attr(not(has_ss), ignore = "needs ss (Debian: iproute2)")]
fn a_port_probed_then_bound_is_adopted_both_times() {
    let (run, lines, server, _) = binds_twice_as_alone("probe", "listen");
    assert_eq!(
        lines,
        [
            "step 1 probe: bind ok, listen ok",
            "step 2 listen: bind ok, listen ok"
        ],
        "{}",
        run.report()
    );
    stop_exec(run, server);
}

/// A second socket bound to the same address while the program still holds
/// the first gets the passed socket too. (With the port to itself the
/// program would get EADDRINUSE: systemfd does not follow which of a
/// program's descriptors hold an adopted socket, and a program that binds
/// one address twice has nothing to lose by both succeeding.)
#[test]
#[cfg_attr(not(has_ss), ignore = "needs ss (Debian: iproute2)")]
fn a_second_socket_on_an_adopted_address_gets_it_too() {
    let port = free_port();
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let steps = [step("listen", ip, port), step("listen", ip, port)];
    let (mut run, lines, server) = adopting(&format!("http::{port}"), &steps);
    assert_eq!(
        lines,
        [
            "step 1 listen: bind ok, listen ok",
            "step 2 listen: bind ok, listen ok"
        ],
        "{}",
        run.report()
    );
    assert_answers(
        loopback(port),
        &format!("127.0.0.1:{port}"),
        server,
        &mut run,
    );
    let listeners = listening_on(port);
    let fds: Vec<u32> = listeners[0].fds_of(server).filter(|&fd| fd != 3).collect();
    assert_eq!(fds.len(), 2, "{listeners:#?}\n{}", run.report());
    stop_exec(run, server);
}

/// A server that listens on both families with two sockets, `0.0.0.0` and
/// `[::]` with IPV6_V6ONLY (as nginx's `listen 80; listen [::]:80;`): alone
/// both bind, and under systemfd both get its socket.
#[test]
#[cfg_attr(not(has_ss), ignore = "needs ss (Debian: iproute2)")]
#[cfg_attr(not(has_ipv6_loopback), ignore = "needs IPv6 on loopback")]
fn an_ipv4_and_an_ipv6_only_wildcard_both_get_the_socket() {
    let port = free_port();
    let steps = [
        step("listen", IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
        step("v6only", IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED), port),
    ];
    let expected = alone(&steps);
    assert_eq!(
        expected,
        [
            "step 1 listen: bind ok, listen ok",
            "step 2 v6only: bind ok, listen ok"
        ]
    );
    let (mut run, lines, server) = adopting(&format!("http::{port}"), &steps);
    assert_eq!(lines, expected, "{}", run.report());
    // Either descriptor may take the connection: they are the same socket.
    let body = get(loopback(port), &mut run);
    assert_eq!(hello_pid(&body), Some(server), "{body}\n{}", run.report());
    let listeners = listening_on(port);
    let fds: Vec<u32> = listeners[0].fds_of(server).filter(|&fd| fd != 3).collect();
    assert_eq!(fds.len(), 2, "{listeners:#?}\n{}", run.report());
    stop_exec(run, server);
}

/// Two sockets with SO_REUSEPORT on one address (a listener per thread):
/// alone both bind and listen, and under systemfd both get its socket.
#[test]
#[cfg_attr(not(has_ss), ignore = "needs ss (Debian: iproute2)")]
fn two_reuseport_sockets_on_an_adopted_address_both_get_it() {
    let (run, lines, server, port) = binds_twice_as_alone("reuseport", "reuseport");
    assert_eq!(
        lines,
        [
            "step 1 reuseport: bind ok, listen ok",
            "step 2 reuseport: bind ok, listen ok"
        ],
        "{}",
        run.report()
    );
    let listeners = listening_on(port);
    let fds: Vec<u32> = listeners[0].fds_of(server).filter(|&fd| fd != 3).collect();
    assert_eq!(fds.len(), 2, "{listeners:#?}\n{}", run.report());
    stop_exec(run, server);
}

// ---------------------------------------------------------------------------
// Turned off.

/// `--no-adopt` under `-w`, and exec mode without `--adopt`: the old
/// behaviour, a server that binds the port finds it in use.
#[test]
#[cfg_attr(not(has_ss), ignore = "needs ss (Debian: iproute2)")]
fn without_adoption_the_server_finds_the_port_in_use() {
    let port = free_port();
    let watched = temp_dir();
    let command = systemfd()
        .args(["-s", &format!("http::{port}"), "--no-adopt", "-w"])
        .arg(watched.path())
        .arg("--");
    let mut run = (HTTP_SERVER.command)(command, port).spawn();
    let first = run.started();
    run.wait_for_text("Address already in use");
    wait_until("the server to exit", || !alive(first));
    // Only systemfd holds the port.
    let listeners = listening_on(port);
    assert!(
        matches!(&listeners[..], [one] if one.holders.iter().all(|&(pid, _)| pid == run.pid())),
        "{listeners:#?}\n{}",
        run.report()
    );
    assert!(
        !run.seen.iter().any(|l| is_hint(l.text())),
        "{}",
        run.report()
    );
    stop_supervise(run);

    let command = systemfd().args(["-s", &format!("http::{port}"), "--"]);
    (HTTP_SERVER.command)(command, port)
        .output()
        .assert_code(1)
        .assert_stderr_contains("Address already in use");
}

// ---------------------------------------------------------------------------
// Unix sockets: matched by path.

/// Binds the Unix socket path `argv[2]` (relative to its working
/// directory), after removing it first when `argv[1]` is `unlink`; then
/// answers one connection with `hello` and waits.
const UNIX_SERVER: &str = r#"
import os, socket, sys, time
mode, path = sys.argv[1:]
if mode == "unlink":
    os.unlink(path)
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    sock.bind(path)
    sock.listen(5)
except OSError as err:
    print(f"bind failed: {err}", flush=True)
    sys.exit(1)
print("serving", flush=True)
conn, _ = sock.accept()
conn.sendall(b"hello")
conn.close()
time.sleep(60)
"#;

fn unix_server(mode: &str) -> (Running, tempfile::TempDir) {
    let dir = temp_dir();
    let spec = format!("unix::{}", dir.path().join("app.sock").display());
    let mut run = systemfd()
        .args(["--adopt", "-s", &spec, "--"])
        .args([PYTHON3.require(), "-c", UNIX_SERVER, mode, "app.sock"])
        .current_dir(dir.path())
        .spawn();
    run.wait_for("serving", |line| {
        line == "serving" || line.starts_with("bind failed")
    });
    (run, dir)
}

/// What connecting to `path` reads.
fn read_unix(path: &std::path::Path) -> String {
    use std::io::Read as _;
    let mut stream = std::os::unix::net::UnixStream::connect(path).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("read");
    text
}

/// A server that binds the Unix socket path systemfd holds, by a path
/// relative to its working directory, gets systemfd's socket: alone its
/// bind would fail, the file being there.
#[test]
fn a_unix_socket_path_is_adopted() {
    let (mut run, dir) = unix_server("keep");
    assert!(
        run.seen.iter().any(|l| l.text() == "serving"),
        "{}",
        run.report()
    );
    assert_eq!(read_unix(&dir.path().join("app.sock")), "hello");
    run.wait_for_text("binds app.sock: adopted");
    run.signal(Signal::TERM);
    run.wait();
}

/// A server that removes the socket file before binding its path gets a
/// socket of its own, and systemfd says why restarts will refuse
/// connections.
#[test]
fn a_server_that_removes_the_socket_file_first_is_told_why() {
    let (mut run, dir) = unix_server("unlink");
    assert_eq!(read_unix(&dir.path().join("app.sock")), "hello");
    // On stderr, which may come after the server's line on stdout.
    run.wait_for_text("the socket file systemfd made there is gone");
    assert!(
        !run.seen.iter().any(|l| l.text().contains("adopted")),
        "{}",
        run.report()
    );
    run.signal(Signal::TERM);
    run.wait();
}

/// An abstract Unix socket (`@name`, Linux) is adopted by its name.
#[test]
fn an_abstract_unix_socket_is_adopted() {
    let name = format!("systemfd-test-{}", std::process::id());
    let script = r#"
import socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.bind("\0" + sys.argv[1])
sock.listen(5)
print("serving", flush=True)
conn, _ = sock.accept()
conn.sendall(b"hello")
conn.close()
"#;
    let mut run = systemfd()
        .args(["--adopt", "-s", &format!("@{name}"), "--"])
        .args([PYTHON3.require(), "-c", script, &name])
        .spawn();
    run.wait_for("serving", |line| line == "serving");
    run.wait_for_text(&format!("binds @{name}: adopted"));
    use std::os::linux::net::SocketAddrExt as _;
    let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let mut stream = std::os::unix::net::UnixStream::connect_addr(&address).expect("connect");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut stream, &mut text).expect("read");
    assert_eq!(text, "hello");
    run.wait();
}
