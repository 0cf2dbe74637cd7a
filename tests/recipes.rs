//! The recipes of docs/recipes.md, run as the page shows them: each real
//! server (axum through `listenfd`, the std example, Python's standard
//! library, uvicorn, gunicorn, Node, go-systemd) is started through the real
//! systemfd binary on a free loopback port and answers a real HTTP request.
//! Supervise mode (`-w`) runs the servers that report readiness through a
//! restart, and the traps the page warns about are shown as they happen:
//! tokio on a blocking socket (a panic in a debug build, a hang in a release
//! build), and gunicorn's `READY=1` before its workers have imported the
//! application (which `--preload` avoids, and which systemfd, seeing the
//! workers listen, makes harmless on Linux).
//!
//! The servers need tools from outside the crate, all installed by `.ci/run`:
//! `cargo` builds recipes/axum into `TARGET/recipes`; `python3`; a virtual
//! environment with uvicorn and gunicorn (`SYSTEMFD_RECIPES_VENV`, by default
//! `target/recipes-venv`); `node`; Go and Debian's go-systemd. A test whose
//! tool is missing fails and says what to install; `SYSTEMFD_SKIP_RECIPES=1`
//! skips these tests instead, and says so.
#![cfg(target_os = "linux")]

mod util;

use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use util::{example, free_port, systemfd, temp_dir, Running, TestCommand, DEADLINE};

/// How long building a recipe may take: the first build of the axum recipe
/// downloads and compiles tokio, hyper and axum.
const BUILD_DEADLINE: Duration = Duration::from_secs(900);

/// Where Debian's `golang-github-coreos-go-systemd-dev` puts go-systemd, for
/// a build in GOPATH mode (there is no Go module proxy to fetch it from).
const DEBIAN_GOPATH: &str = "/usr/share/gocode";

const SKIP_HINT: &str = "(SYSTEMFD_SKIP_RECIPES=1 skips the recipe tests)";

// ---------------------------------------------------------------------------
// The tools and the recipes.

/// Whether `SYSTEMFD_SKIP_RECIPES=1` asks to skip; says so where it is seen.
fn skipped(test: &str) -> bool {
    if std::env::var_os("SYSTEMFD_SKIP_RECIPES").is_some_and(|v| v == "1") {
        // Past the test harness's capture, so that the skip is seen.
        let _ = writeln!(
            io::stderr(),
            "tests/recipes.rs: SKIPPED {test}, SYSTEMFD_SKIP_RECIPES=1"
        );
        return true;
    }
    false
}

/// Panics with `install` unless `program ARG` runs and succeeds.
fn require(program: impl AsRef<Path>, arg: &str, install: &str) {
    let program = program.as_ref();
    let problem = match Command::new(program)
        .arg(arg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(status) if status.success() => return,
        Ok(status) => format!("ended with {status}"),
        Err(err) => err.to_string(),
    };
    panic!(
        "`{} {arg}` does not run ({problem}): {install}\n{SKIP_HINT}",
        program.display()
    );
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn recipe(path: &str) -> PathBuf {
    root().join("recipes").join(path)
}

/// `TARGET/recipes`: what the recipes build goes there, beside (not in) the
/// crate's own build, so building them never waits for cargo's lock on it.
fn build_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // TARGET/debug/deps/recipes-HASH
    let target = exe
        .ancestors()
        .nth(3)
        .expect("the test executable sits in TARGET/PROFILE/deps");
    target.join("recipes")
}

/// A program of the virtual environment that holds uvicorn and gunicorn.
fn venv_program(name: &str) -> PathBuf {
    let venv = std::env::var_os("SYSTEMFD_RECIPES_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/recipes-venv"));
    let program = venv.join("bin").join(name);
    require(
        &program,
        "--version",
        &format!(
            "the recipe tests need a virtual environment with uvicorn and gunicorn at {v}: \
             `python3 -m venv {v} && {v}/bin/pip install uvicorn gunicorn` \
             (Debian: `apt-get install python3-venv` first; .ci/run pins the versions), \
             or SYSTEMFD_RECIPES_VENV set to one",
            v = venv.display()
        ),
    );
    program
}

fn python3() -> &'static str {
    require(
        "python3",
        "--version",
        "install Python 3 (`apt-get install python3`)",
    );
    "python3"
}

/// The axum recipe's binary, as `cargo run` builds it.
fn axum_recipe() -> PathBuf {
    util::axum_recipe(false)
}

/// The axum recipe's binary in a release build.
fn axum_recipe_release() -> PathBuf {
    util::axum_recipe(true)
}

/// The Go recipe's binary, built in GOPATH mode against Debian's go-systemd.
fn go_recipe() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let install = "install Go and go-systemd \
                 (`apt-get install golang-go golang-github-coreos-go-systemd-dev`)";
            require("go", "version", install);
            let go_systemd = Path::new(DEBIAN_GOPATH).join("src/github.com/coreos/go-systemd");
            assert!(
                go_systemd.join("activation").is_dir(),
                "{} is missing: {install}\n{SKIP_HINT}",
                go_systemd.display()
            );
            let out = build_dir().join("hello-go");
            TestCommand::new("go")
                .args(["build", "-o"])
                .arg(&out)
                .arg("./recipes/go")
                .current_dir(root())
                .env("GO111MODULE", "off")
                .env("GOPATH", DEBIAN_GOPATH)
                .env("GOCACHE", build_dir().join("go-cache"))
                .deadline(BUILD_DEADLINE)
                .success();
            out
        })
        .clone()
}

// ---------------------------------------------------------------------------
// Talking to the servers.

/// `GET /` on 127.0.0.1:`port`: the status line and the body.
fn get(port: u16) -> io::Result<(String, String)> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, DEADLINE)?;
    stream.set_read_timeout(Some(DEADLINE))?;
    stream.set_write_timeout(Some(DEADLINE))?;
    stream.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| io::Error::other(format!("no end of the head in {text:?}")))?;
    let status = head.lines().next().unwrap_or_default().to_owned();
    Ok((status, body.to_owned()))
}

/// The body of the `200` answer to `GET /`; otherwise stops the server and
/// panics with its output.
fn hello(port: u16, server: &mut Running) -> String {
    let problem = match get(port) {
        Ok((status, body)) if status.starts_with("HTTP/1.") && status.contains(" 200 ") => {
            return body
        }
        Ok((status, body)) => format!("GET / answered {status:?} with {body:?}"),
        Err(err) => format!("GET / on port {port}: {err}"),
    };
    signal(server.pid(), "TERM");
    server.wait();
    panic!("{problem}\n{}", server.report());
}

/// The pid in a `Hello from …, pid N!` answer.
fn pid_in(body: &str) -> u32 {
    body.rsplit_once("pid ")
        .and_then(|(_, rest)| rest.trim_end().strip_suffix('!'))
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {body:?}"))
}

/// The parent of process `pid`, from `/proc/PID/stat`.
fn parent_of(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat");
    // `PID (COMM) STATE PPID …`; COMM may hold spaces and parentheses.
    let after_comm = &stat[stat.rfind(')').expect("comm in stat") + 1..];
    after_comm
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

fn signal(pid: u32, name: &str) {
    use rustix::process::{kill_process, Pid, Signal};
    let signal = match name {
        "HUP" => Signal::HUP,
        "TERM" => Signal::TERM,
        "KILL" => Signal::KILL,
        _ => unreachable!("{name}"),
    };
    let pid = Pid::from_raw(pid as i32).expect("a pid is positive");
    kill_process(pid, signal).unwrap_or_else(|e| panic!("kill -{name} {pid:?}: {e}"));
}

/// Stops the server (or the supervising systemfd) with SIGTERM, and waits
/// for it.
fn stop(mut server: Running) -> (ExitStatus, Running) {
    signal(server.pid(), "TERM");
    let status = server.wait();
    (status, server)
}

/// `systemfd -s http::PORT [FLAGS] -- COMMAND…`, in exec mode.
fn exec_mode(port: u16, flags: &[&str]) -> TestCommand {
    systemfd()
        .args(["-s", &format!("http::{port}")])
        .args(flags)
        .arg("--")
}

/// Starts `command` and waits until systemfd has opened the socket on
/// `port`: from then on a connection waits in its backlog until the server
/// accepts it, however long the server takes to start.
fn spawn_on(command: TestCommand, port: u16) -> Running {
    let mut server = command.spawn();
    server.wait_for_text(&format!("~> socket http://127.0.0.1:{port}/ -> fd #3"));
    server
}

/// The pid in a `~> started pid N` line, waiting for the next one.
fn started(server: &mut Running) -> u32 {
    let line = server.wait_for_text("~> started pid ");
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

// ---------------------------------------------------------------------------
// Rust.

#[test]
fn axum_through_listenfd_with_nonblocking() {
    if skipped("axum_through_listenfd_with_nonblocking") {
        return;
    }
    let axum = axum_recipe();
    let port = free_port();
    let mut server = spawn_on(exec_mode(port, &["--nonblocking"]).arg(&axum), port);
    let body = hello(port, &mut server);
    // systemfd execs the server, so the server has systemfd's pid.
    assert_eq!(
        body,
        format!("Hello from axum, pid {}!\n", server.pid()),
        "{}",
        server.report()
    );
    stop(server);
}

#[test]
fn axum_on_a_blocking_socket_panics_in_a_debug_build() {
    if skipped("axum_on_a_blocking_socket_panics_in_a_debug_build") {
        return;
    }
    let axum = axum_recipe();
    exec_mode(free_port(), &[])
        .arg(&axum)
        .output()
        .assert_code(101)
        .assert_stderr_contains(
            "Registering a blocking socket with the tokio runtime is unsupported",
        );
}

/// `accept4`'s system call number, as `/proc/PID/syscall` shows it.
#[cfg(target_arch = "x86_64")]
const ACCEPT4: &str = "288";
#[cfg(target_arch = "aarch64")]
const ACCEPT4: &str = "242";

/// How many of process `pid`'s descriptors are sockets.
fn sockets_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read /proc/PID/fd")
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count()
}

/// Waits (within the deadline) until `what` holds of the server's process.
fn wait_until(server: &mut Running, what: &str, holds: impl Fn(u32) -> bool) {
    let end = std::time::Instant::now() + DEADLINE;
    while !holds(server.pid()) {
        if std::time::Instant::now() > end {
            signal(server.pid(), "TERM");
            server.wait();
            panic!("not within {DEADLINE:?}: {what}\n{}", server.report());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[test]
fn axum_on_a_blocking_socket_hangs_in_a_release_build() {
    if skipped("axum_on_a_blocking_socket_hangs_in_a_release_build") {
        return;
    }
    let axum = axum_recipe_release();
    let port = free_port();
    let mut server = spawn_on(exec_mode(port, &[]).arg(&axum), port);
    server.wait_for_text("axum: serving");
    let listening = sockets_of(server.pid());

    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    // Woken by the connection, the runtime accepts it and, the socket being
    // blocking, goes straight into another accept(3) that blocks: its only
    // thread (the process's main thread) never runs the code that would
    // answer. `/proc/PID/syscall` shows `NR fd …` while blocked.
    wait_until(
        &mut server,
        "the connection accepted, the thread blocked in accept(3)",
        |pid| {
            sockets_of(pid) == listening + 1
                && std::fs::read_to_string(format!("/proc/{pid}/syscall"))
                    .is_ok_and(|call| call.starts_with(&format!("{ACCEPT4} 0x3 ")))
        },
    );
    client.set_nonblocking(true).unwrap();
    let mut byte = [0; 1];
    let unanswered = client.read(&mut byte);
    assert!(
        unanswered
            .as_ref()
            .is_err_and(|e| e.kind() == io::ErrorKind::WouldBlock),
        "{unanswered:?}\n{}",
        server.report()
    );
    // Its SIGTERM handler is a task of the blocked runtime too: only SIGKILL
    // ends it.
    signal(server.pid(), "KILL");
    server.wait();

    // The same build with --nonblocking answers.
    let port = free_port();
    let mut server = spawn_on(exec_mode(port, &["--nonblocking"]).arg(&axum), port);
    let body = hello(port, &mut server);
    assert_eq!(body, format!("Hello from axum, pid {}!\n", server.pid()));
    stop(server);
}

#[test]
fn std_server_example() {
    if skipped("std_server_example") {
        return;
    }
    let port = free_port();
    let mut server = spawn_on(exec_mode(port, &[]).arg(example("hello")), port);
    let body = hello(port, &mut server);
    assert_eq!(body, format!("Hello from pid {}!\n", server.pid()));
    stop(server);
}

// ---------------------------------------------------------------------------
// Python.

#[test]
fn python_standard_library_server_hands_over_under_watch() {
    if skipped("python_standard_library_server_hands_over_under_watch") {
        return;
    }
    let python = python3();
    let watched = temp_dir();
    let port = free_port();
    let mut server = systemfd()
        .args(["-s", &format!("http::{port}"), "-w"])
        .arg(watched.path())
        .args(["--", python])
        .arg(recipe("python/stdlib_server.py"))
        .spawn();
    let first = started(&mut server);
    // It took the socket only because LISTEN_PID was its own pid, and it
    // reported readiness on NOTIFY_SOCKET.
    server.wait_for_text(&format!("~> ready: pid {first} "));
    let body = hello(port, &mut server);
    assert_eq!(body, format!("Hello from Python, pid {first}!\n"));

    std::fs::write(watched.path().join("app.py"), "changed").unwrap();
    let second = started(&mut server);
    server.wait_for_text(&format!(
        "~> handover: pid {second} is ready; stopping pid {first}"
    ));
    server.wait_for_text(&format!("~> stopped pid {first}"));
    let body = hello(port, &mut server);
    assert_eq!(body, format!("Hello from Python, pid {second}!\n"));

    let (status, server) = stop(server);
    assert!(status.success(), "{status}\n{}", server.report());
}

#[test]
fn uvicorn_serves_fd_3() {
    if skipped("uvicorn_serves_fd_3") {
        return;
    }
    let uvicorn = venv_program("uvicorn");
    let port = free_port();
    let mut server = spawn_on(
        exec_mode(port, &[])
            .arg(uvicorn)
            .args(["--fd", "3", "--app-dir"])
            .arg(recipe("python"))
            .arg("asgi_app:app"),
        port,
    );
    let body = hello(port, &mut server);
    assert_eq!(body, format!("Hello from uvicorn, pid {}!\n", server.pid()));
    stop(server);
}

#[test]
fn gunicorn_takes_the_sockets_in_exec_mode() {
    if skipped("gunicorn_takes_the_sockets_in_exec_mode") {
        return;
    }
    let gunicorn = venv_program("gunicorn");
    let port = free_port();
    let mut server = spawn_on(
        exec_mode(port, &[])
            .arg(gunicorn)
            .arg("--chdir")
            .arg(recipe("python"))
            .arg("wsgi_app:app"),
        port,
    );
    let body = hello(port, &mut server);
    assert!(body.starts_with("Hello from gunicorn, pid "), "{body:?}");
    // A worker answers; its parent is the arbiter, which has systemfd's pid.
    assert_eq!(parent_of(pid_in(&body)), server.pid(), "{body:?}");
    stop(server);
}

/// gunicorn under `-w` with an application whose import the test holds up
/// (tests/gunicorn/slow_app.py), started and made to serve once.
struct Gunicorn {
    server: Running,
    port: u16,
    hold: PathBuf,
    arbiter: u32,
    _watched: tempfile::TempDir,
    _holds: tempfile::TempDir,
}

impl Gunicorn {
    fn start(preload: bool, flags: &[&str]) -> Gunicorn {
        let gunicorn = venv_program("gunicorn");
        let watched = temp_dir();
        // Not in the watched directory, where making it would restart.
        let holds = temp_dir();
        let hold = holds.path().join("hold");
        let port = free_port();
        let mut command = systemfd()
            .args(["-s", &format!("http::{port}"), "-w"])
            .arg(watched.path())
            .args(flags)
            .arg("--")
            .arg(gunicorn)
            .arg("--chdir")
            .arg(root().join("tests/gunicorn"))
            .env("SLOW_APP_HOLD", &hold);
        if preload {
            command = command.arg("--preload");
        }
        let mut server = command.arg("slow_app:app").spawn();
        let arbiter = started(&mut server);
        server.wait_for_text(&format!("~> ready: pid {arbiter} "));
        Gunicorn {
            server,
            port,
            hold,
            arbiter,
            _watched: watched,
            _holds: holds,
        }
    }

    /// Holds up the next import of the application, and restarts.
    fn restart_with_import_held(&mut self) -> u32 {
        std::fs::write(&self.hold, "").unwrap();
        signal(self.server.pid(), "HUP");
        started(&mut self.server)
    }

    fn imports_done(&self) -> usize {
        self.server
            .seen
            .iter()
            .filter(|l| l.text().starts_with("slow_app: imported in pid "))
            .count()
    }

    fn finish(self) {
        let (status, server) = stop(self.server);
        assert!(status.success(), "{status}\n{}", server.report());
    }
}

#[test]
fn gunicorn_without_preload_serves_until_a_new_worker_listens() {
    if skipped("gunicorn_without_preload_serves_until_a_new_worker_listens") {
        return;
    }
    let mut g = Gunicorn::start(false, &[]);
    let old = hello(g.port, &mut g.server);
    let old_worker = pid_in(&old);
    let new = g.restart_with_import_held();
    // The new arbiter sends READY=1 at once, while its worker imports the
    // application; systemfd waits for a worker to listen, and the old
    // server answers meanwhile.
    g.server.wait_for("the new worker's import", |l| {
        l.starts_with("slow_app: importing in pid ") && !l.ends_with(&format!(" {old_worker}"))
    });
    let meanwhile = hello(g.port, &mut g.server);
    assert_eq!(meanwhile, old, "{}", g.server.report());
    let early = format!("~> ready: pid {new} ");
    assert!(
        !g.server.seen.iter().any(|l| l.text().starts_with(&early)),
        "{}",
        g.server.report()
    );

    std::fs::remove_file(&g.hold).unwrap();
    let ready = g.server.wait_for_text(&early);
    let old_arbiter = g.arbiter;
    g.server.wait_for_text(&format!(
        "~> handover: pid {new} is ready; stopping pid {old_arbiter}"
    ));
    g.server
        .wait_for_text(&format!("~> stopped pid {old_arbiter}"));
    let body = hello(g.port, &mut g.server);
    let worker = pid_in(&body);
    assert_eq!(parent_of(worker), new);
    assert!(
        ready.ends_with(&format!("(READY=1, pid {worker} listening on fd 3)")),
        "{ready}\n{}",
        g.server.report()
    );
    g.finish();
}

#[test]
fn gunicorn_without_preload_under_ready_notify_hands_over_before_importing() {
    if skipped("gunicorn_without_preload_under_ready_notify_hands_over_before_importing") {
        return;
    }
    let mut g = Gunicorn::start(false, &["--ready", "notify"]);
    let old = hello(g.port, &mut g.server);
    let new = g.restart_with_import_held();
    // With READY=1 alone, systemfd stops the old server while the new one's
    // worker is still importing the application: the handover happens with
    // the import held up.
    let (old_arbiter, server) = (g.arbiter, &mut g.server);
    server.wait_for_text(&format!(
        "~> handover: pid {new} is ready; stopping pid {old_arbiter}"
    ));
    server.wait_for_text(&format!("~> stopped pid {old_arbiter}"));
    assert_eq!(g.imports_done(), 1, "{}", g.server.report());

    // Nothing serves now but the worker being held; requests wait for it.
    std::fs::remove_file(&g.hold).unwrap();
    let body = hello(g.port, &mut g.server);
    assert_ne!(pid_in(&body), pid_in(&old));
    assert_eq!(parent_of(pid_in(&body)), new);
    g.finish();
}

#[test]
fn gunicorn_with_preload_serves_until_the_new_application_is_imported() {
    if skipped("gunicorn_with_preload_serves_until_the_new_application_is_imported") {
        return;
    }
    let mut g = Gunicorn::start(true, &[]);
    let old = hello(g.port, &mut g.server);
    let new = g.restart_with_import_held();
    // With --preload the new arbiter imports the application before it
    // sends READY=1 ...
    g.server
        .wait_for_text(&format!("slow_app: importing in pid {new}"));
    // ... so meanwhile the old server answers.
    let meanwhile = hello(g.port, &mut g.server);
    assert_eq!(meanwhile, old, "{}", g.server.report());
    let early = format!("~> ready: pid {new} ");
    assert!(
        !g.server.seen.iter().any(|l| l.text().starts_with(&early)),
        "{}",
        g.server.report()
    );

    std::fs::remove_file(&g.hold).unwrap();
    let old_arbiter = g.arbiter;
    g.server.wait_for_text(&format!(
        "~> handover: pid {new} is ready; stopping pid {old_arbiter}"
    ));
    g.server
        .wait_for_text(&format!("~> stopped pid {old_arbiter}"));
    let body = hello(g.port, &mut g.server);
    assert_ne!(body, old);
    assert_eq!(parent_of(pid_in(&body)), new);
    g.finish();
}

// ---------------------------------------------------------------------------
// Node and Go.

#[test]
fn node_listens_on_fd_3() {
    if skipped("node_listens_on_fd_3") {
        return;
    }
    require(
        "node",
        "--version",
        "install Node.js (`apt-get install nodejs`)",
    );
    let port = free_port();
    let mut server = spawn_on(
        exec_mode(port, &[])
            .arg("node")
            .arg(recipe("node/server.js")),
        port,
    );
    let body = hello(port, &mut server);
    assert_eq!(body, format!("Hello from Node, pid {}!\n", server.pid()));
    stop(server);
}

#[test]
fn node_hands_over_under_watch() {
    if skipped("node_hands_over_under_watch") {
        return;
    }
    require(
        "node",
        "--version",
        "install Node.js (`apt-get install nodejs`)",
    );
    require(
        "systemd-notify",
        "--version",
        "install systemd-notify (`apt-get install systemd`)",
    );
    let watched = temp_dir();
    let port = free_port();
    let mut server = systemfd()
        .args(["-s", &format!("http::{port}"), "-w"])
        .arg(watched.path())
        .args(["--", "node"])
        .arg(recipe("node/server.js"))
        .spawn();
    let first = started(&mut server);
    // `systemd-notify --ready`, a process the server started, reported.
    server.wait_for_text(&format!("~> ready: pid {first} "));
    assert_eq!(
        hello(port, &mut server),
        format!("Hello from Node, pid {first}!\n")
    );
    std::fs::write(watched.path().join("server.js"), "changed").unwrap();
    let second = started(&mut server);
    server.wait_for_text(&format!(
        "~> handover: pid {second} is ready; stopping pid {first}"
    ));
    server.wait_for_text(&format!("~> stopped pid {first}"));
    assert_eq!(
        hello(port, &mut server),
        format!("Hello from Node, pid {second}!\n")
    );
    let (status, server) = stop(server);
    assert!(status.success(), "{status}\n{}", server.report());
}

#[test]
fn go_systemd_activation_listeners() {
    if skipped("go_systemd_activation_listeners") {
        return;
    }
    let go = go_recipe();
    let port = free_port();
    let mut server = spawn_on(exec_mode(port, &[]).arg(&go), port);
    let body = hello(port, &mut server);
    assert_eq!(body, format!("Hello from Go, pid {}!\n", server.pid()));
    stop(server);
}

#[test]
fn go_systemd_server_hands_over_under_watch() {
    if skipped("go_systemd_server_hands_over_under_watch") {
        return;
    }
    // As the page shows it: each start builds, then execs the server, so
    // that the server has the pid systemfd announced in LISTEN_PID.
    let binary = go_recipe().with_file_name("hello-go-watched");
    let script = format!(
        "GO111MODULE=off GOPATH={DEBIAN_GOPATH} go build -o {0} ./recipes/go && exec {0}",
        binary.display()
    );
    let watched = temp_dir();
    let port = free_port();
    let mut server = systemfd()
        .args(["-s", &format!("http::{port}"), "-w"])
        .arg(watched.path())
        .args(["--", "sh", "-c", &script])
        .current_dir(root())
        .env("GOCACHE", build_dir().join("go-cache"))
        .spawn();
    let first = started(&mut server);
    // go-systemd's daemon.SdNotify reported readiness.
    server.wait_for_text(&format!("~> ready: pid {first} "));
    assert_eq!(
        hello(port, &mut server),
        format!("Hello from Go, pid {first}!\n")
    );
    std::fs::write(watched.path().join("main.go"), "changed").unwrap();
    let second = started(&mut server);
    server.wait_for_text(&format!(
        "~> handover: pid {second} is ready; stopping pid {first}"
    ));
    server.wait_for_text(&format!("~> stopped pid {first}"));
    assert_eq!(
        hello(port, &mut server),
        format!("Hello from Go, pid {second}!\n")
    );
    let (status, server) = stop(server);
    assert!(status.success(), "{status}\n{}", server.report());
}
