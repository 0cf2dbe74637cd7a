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
//! tool build.rs did not find is ignored, saying what to install.

use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::OnceLock;
use std::time::Duration;

use crate::harness::net::{body_of_ok, hello_pid};
use crate::harness::process::{alive, children_of, parent_of, sockets_held, sockets_of};
use crate::harness::servers::{
    django_runserver, express, flask_run, go_net_http, http_server, php_server, recipe,
};
use crate::harness::tools::{
    axum_recipe, go_cache, recipes_build_dir, venv_program, GO, NODE, PYTHON3, SYSTEMD_NOTIFY,
};
use crate::harness::{
    example, free_port, holds_within, systemfd, temp_dir, Running, Signal, TestCommand, DEADLINE,
};

/// How long building a recipe may take: the first build of the axum recipe
/// downloads and compiles tokio, hyper and axum.
const BUILD_DEADLINE: Duration = Duration::from_secs(900);

/// Where Debian's `golang-github-coreos-go-systemd-dev` puts go-systemd, for
/// a build in GOPATH mode (there is no Go module proxy to fetch it from).
const DEBIAN_GOPATH: &str = "/usr/share/gocode";

// ---------------------------------------------------------------------------
// The tools and the recipes.

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The Go recipe's binary, built in GOPATH mode against Debian's go-systemd.
fn go_recipe() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let go = GO.require();
            let go_systemd = Path::new(DEBIAN_GOPATH).join("src/github.com/coreos/go-systemd");
            assert!(
                go_systemd.join("activation").is_dir(),
                "{} is missing: {}",
                go_systemd.display(),
                GO.install
            );
            let out = recipes_build_dir().join("hello-go");
            TestCommand::new(go)
                .args(["build", "-o"])
                .arg(&out)
                .arg("./recipes/go")
                .current_dir(root())
                .env("GO111MODULE", "off")
                .env("GOPATH", DEBIAN_GOPATH)
                .env("GOCACHE", go_cache())
                .deadline(BUILD_DEADLINE)
                .success();
            out
        })
        .clone()
}

// ---------------------------------------------------------------------------
// Talking to the servers.

/// The body of the `200` answer to `GET /` on 127.0.0.1:`port`.
fn hello(port: u16, server: &mut Running) -> String {
    body_of_ok(SocketAddr::from(([127, 0, 0, 1], port)), server)
}

/// The pid in a `Hello from …, pid N!` answer.
fn pid_in(body: &str) -> u32 {
    hello_pid(body).unwrap_or_else(|| panic!("no pid in {body:?}"))
}

/// Stops the server (or the supervising systemfd) with SIGTERM, and waits
/// for it.
fn stop(mut server: Running) -> (ExitStatus, Running) {
    server.signal(Signal::TERM);
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

/// What a recipe's server answers to `GET /`.
#[derive(Clone, Copy)]
enum Greets {
    /// `GREETING, pid N!`, N being the pid systemfd started.
    Pid(&'static str),
    /// `GREETING, pid N!`, N being a child of the pid systemfd started (a
    /// server below `go run`).
    ChildPid(&'static str),
    /// A page containing this text, which does not tell who serves it.
    Page(&'static str),
}

impl Greets {
    /// Whether `body` is the answer of the command systemfd started as
    /// `pid`.
    fn from(self, body: &str, pid: u32) -> bool {
        match self {
            Greets::Pid(greeting) => body == format!("{greeting}, pid {pid}!\n"),
            Greets::ChildPid(greeting) => hello_pid(body).is_some_and(|server| {
                body == format!("{greeting}, pid {server}!\n") && parent_of(server) == pid
            }),
            Greets::Page(text) => body.contains(text),
        }
    }
}

/// Supervise mode as the page shows it: the server (`server` adds it, after
/// `--`) runs under `systemfd -s http::PORT -w WATCHED` and reports
/// readiness (or, on Linux, is seen listening); a change to `changed` in the
/// watched directory starts a second one, and systemfd stops the first only
/// once the second is ready.
fn hands_over_under_watch(
    greets: Greets,
    changed: &str,
    server: impl FnOnce(TestCommand, u16) -> TestCommand,
) {
    let watched = temp_dir();
    let port = free_port();
    let command = systemfd()
        .args(["-s", &format!("http::{port}"), "-w"])
        .arg(watched.path())
        .arg("--");
    let mut server = server(command, port).spawn();
    let first = server.started();
    server.wait_for_text(&format!("~> ready: pid {first} "));
    let body = hello(port, &mut server);
    assert!(greets.from(&body, first), "{body:?}\n{}", server.report());

    std::fs::write(watched.path().join(changed), "changed").unwrap();
    let second = server.started();
    server.wait_for_text(&format!(
        "~> handover: pid {second} is ready; stopping pid {first}"
    ));
    server.wait_for_text(&format!("~> stopped pid {first}"));
    let body = hello(port, &mut server);
    assert!(greets.from(&body, second), "{body:?}\n{}", server.report());

    let (status, server) = stop(server);
    assert!(status.success(), "{status}\n{}", server.report());
}

/// `systemfd --adopt -s http::PORT -- COMMAND…` (`server` adds the
/// command, for the port): the server binds its own port, gets systemfd's
/// socket and answers from the one child systemfd started.
fn adopted_in_exec_mode(greets: Greets, server: impl FnOnce(TestCommand, u16) -> TestCommand) {
    let port = free_port();
    let mut run = spawn_on(server(exec_mode(port, &["--adopt"]), port), port);
    let body = hello(port, &mut run);
    let children = children_of(run.pid());
    assert!(
        matches!(children[..], [child] if greets.from(&body, child)),
        "{body:?} from children {children:?}\n{}",
        run.report()
    );
    let (_, run) = stop(run);
    // systemfd passed SIGTERM on and waited for the server.
    let left: Vec<u32> = children.into_iter().filter(|&pid| alive(pid)).collect();
    assert!(left.is_empty(), "left running: {left:?}\n{}", run.report());
}

// ---------------------------------------------------------------------------
// Rust.

#[test]
fn axum_through_listenfd_with_nonblocking() {
    let axum = axum_recipe(false);
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

/// docs/recipes.md's axum with `--build`, on a copy of the recipe: the
/// first build serves; a compile error starts nothing and the server from
/// the last good build keeps serving; the fix serves its new answer.
#[test]
fn axum_with_a_build_step() {
    // Built once already, so the copy's build compiles only its own crate.
    axum_recipe(false);
    let copy = temp_dir();
    // Under another name, so its binary does not replace the one other
    // tests run.
    for file in ["Cargo.toml", "Cargo.lock", "src/main.rs"] {
        let to = copy.path().join(file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        let text = std::fs::read_to_string(root().join("recipes/axum").join(file)).unwrap();
        std::fs::write(
            &to,
            text.replace("\"recipe-axum\"", "\"recipe-axum-built\""),
        )
        .unwrap();
    }
    let source = copy.path().join("src/main.rs");
    let original = std::fs::read_to_string(&source).unwrap();
    let target = recipes_build_dir();
    let manifest = copy.path().join("Cargo.toml");
    let port = free_port();
    let mut server = spawn_on(
        systemfd()
            .args(["-s", &format!("http::{port}"), "--nonblocking", "-w"])
            .arg(copy.path().join("src"))
            .arg("--build")
            .arg(format!(
                "cargo build --locked --manifest-path '{}'",
                manifest.display()
            ))
            .arg("--")
            .arg(target.join("debug/recipe-axum-built"))
            .env("CARGO_TARGET_DIR", &target)
            .deadline(BUILD_DEADLINE),
        port,
    );
    server.wait_for_text("~> build: done after");
    let first = pid_in(&hello(port, &mut server));

    std::fs::write(
        &source,
        original.replace("async fn serve()", "async fn serve( {"),
    )
    .unwrap();
    server.wait_for_text("~> build failed: it exited with status 101");
    assert!(server.saw(&format!("pid {first} keeps serving the last build")));
    assert_eq!(pid_in(&hello(port, &mut server)), first);

    std::fs::write(
        &source,
        original.replace("Hello from axum", "Hello again from axum"),
    )
    .unwrap();
    // Until it has stopped, the old server may still take a connection.
    server.wait_for_text(&format!("~> stopped pid {first}"));
    let body = hello(port, &mut server);
    assert!(body.starts_with("Hello again from axum"), "{body:?}");
    let (status, server) = stop(server);
    assert!(status.success(), "{}", server.report());
}

#[test]
fn axum_on_a_blocking_socket_panics_in_a_debug_build() {
    let axum = axum_recipe(false);
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

/// Waits (within the deadline) until `what` holds of the server's process.
fn wait_until(server: &mut Running, what: &str, holds: impl Fn(u32) -> bool) {
    let pid = server.pid();
    if !holds_within(DEADLINE, || holds(pid)) {
        server.signal(Signal::TERM);
        server.wait();
        panic!("not within {DEADLINE:?}: {what}\n{}", server.report());
    }
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[test]
fn axum_on_a_blocking_socket_hangs_in_a_release_build() {
    let axum = axum_recipe(true);
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
    server.signal(Signal::KILL);
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
    let python = PYTHON3.require();
    // It takes the socket only because LISTEN_PID is its own pid, and it
    // reports readiness on NOTIFY_SOCKET.
    hands_over_under_watch(Greets::Pid("Hello from Python"), "app.py", |command, _| {
        command.arg(python).arg(recipe("python/stdlib_server.py"))
    });
}

/// Stopped at a handover, the old server finishes the request it has begun
/// to read: a client in the middle of one is answered, not cut off.
#[test]
fn python_standard_library_server_finishes_a_request_under_way_when_stopped() {
    let python = PYTHON3.require();
    let watched = temp_dir();
    let port = free_port();
    let mut server = systemfd()
        .args(["-s", &format!("http::{port}"), "-w"])
        .arg(watched.path())
        .arg("--")
        .arg(python)
        .arg(recipe("python/stdlib_server.py"))
        .spawn();
    let first = server.started();
    server.wait_for_text(&format!("~> ready: pid {first} "));
    // Half a request: the old server accepts it and waits for the rest.
    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    client.set_read_timeout(Some(DEADLINE)).unwrap();
    client.write_all(b"GET / HTTP/1.0\r\n").unwrap();
    assert_eq!(
        hello(port, &mut server),
        format!("Hello from Python, pid {first}!\n")
    );

    std::fs::write(watched.path().join("app.py"), "changed").unwrap();
    let second = server.started();
    server.wait_for_text(&format!(
        "~> handover: pid {second} is ready; stopping pid {first}"
    ));
    // Stopping: it has let go of the listening socket (or is gone), and
    // holds only the connection under way.
    let listening_or_gone = || sockets_held(first).is_none_or(|held| held < 2);
    assert!(
        holds_within(DEADLINE, listening_or_gone),
        "the old server did not stop listening\n{}",
        server.report()
    );
    client.write_all(b"\r\n").unwrap();
    let mut answer = String::new();
    client.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.0 200") && answer.ends_with(&format!("pid {first}!\n")),
        "{answer:?}\n{}",
        server.report()
    );
    server.wait_for_text(&format!("~> stopped pid {first}: it exited with status 0"));
    let (status, server) = stop(server);
    assert!(status.success(), "{status}\n{}", server.report());
}

#[test]
#[cfg_attr(
    not(has_recipes_venv),
    ignore = "needs uvicorn and gunicorn in SYSTEMFD_RECIPES_VENV or target/recipes-venv (see .ci/run)"
)]
fn uvicorn_serves_fd_3() {
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
#[cfg_attr(
    not(has_recipes_venv),
    ignore = "needs uvicorn and gunicorn in SYSTEMFD_RECIPES_VENV or target/recipes-venv (see .ci/run)"
)]
fn gunicorn_takes_the_sockets_in_exec_mode() {
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
        let arbiter = server.started();
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
        self.server.signal(Signal::HUP);
        self.server.started()
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
#[cfg_attr(
    not(has_recipes_venv),
    ignore = "needs uvicorn and gunicorn in SYSTEMFD_RECIPES_VENV or target/recipes-venv (see .ci/run)"
)]
fn gunicorn_without_preload_serves_until_a_new_worker_listens() {
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
#[cfg_attr(
    not(has_recipes_venv),
    ignore = "needs uvicorn and gunicorn in SYSTEMFD_RECIPES_VENV or target/recipes-venv (see .ci/run)"
)]
fn gunicorn_without_preload_under_ready_notify_hands_over_before_importing() {
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
#[cfg_attr(
    not(has_recipes_venv),
    ignore = "needs uvicorn and gunicorn in SYSTEMFD_RECIPES_VENV or target/recipes-venv (see .ci/run)"
)]
fn gunicorn_with_preload_serves_until_the_new_application_is_imported() {
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
#[cfg_attr(not(has_node), ignore = "needs Node.js (Debian: nodejs)")]
fn node_listens_on_fd_3() {
    let node = NODE.require();
    let port = free_port();
    let mut server = spawn_on(
        exec_mode(port, &[]).arg(node).arg(recipe("node/server.js")),
        port,
    );
    let body = hello(port, &mut server);
    assert_eq!(body, format!("Hello from Node, pid {}!\n", server.pid()));
    stop(server);
}

#[test]
#[cfg_attr(
    not(all(has_node, has_systemd)),
    ignore = "needs Node.js and systemd-notify (Debian: nodejs, systemd)"
)]
fn node_hands_over_under_watch() {
    let node = NODE.require();
    SYSTEMD_NOTIFY.require();
    // `systemd-notify --ready`, a process the server starts, reports.
    hands_over_under_watch(Greets::Pid("Hello from Node"), "server.js", |command, _| {
        command.arg(node).arg(recipe("node/server.js"))
    });
}

#[test]
#[cfg_attr(
    not(has_go_systemd),
    ignore = "needs Go and go-systemd (Debian: golang-go, golang-github-coreos-go-systemd-dev)"
)]
fn go_systemd_activation_listeners() {
    let go = go_recipe();
    let port = free_port();
    let mut server = spawn_on(exec_mode(port, &[]).arg(&go), port);
    let body = hello(port, &mut server);
    assert_eq!(body, format!("Hello from Go, pid {}!\n", server.pid()));
    stop(server);
}

#[test]
#[cfg_attr(
    not(has_go_systemd),
    ignore = "needs Go and go-systemd (Debian: golang-go, golang-github-coreos-go-systemd-dev)"
)]
fn go_systemd_server_hands_over_under_watch() {
    // As the page shows it: each start builds, then execs the server, so
    // that the server has the pid systemfd announced in LISTEN_PID.
    let binary = go_recipe().with_file_name("hello-go-watched");
    let script = format!(
        "GO111MODULE=off GOPATH={DEBIAN_GOPATH} go build -o {0} ./recipes/go && exec {0}",
        binary.display()
    );
    // go-systemd's daemon.SdNotify reports readiness.
    hands_over_under_watch(Greets::Pid("Hello from Go"), "main.go", |command, _| {
        command
            .args(["sh", "-c", &script])
            .current_dir(root())
            .env("GOCACHE", go_cache())
    });
}

// ---------------------------------------------------------------------------
// Servers that bind their own port: adopted (Linux), run unchanged.

#[test]
fn http_server_binds_its_own_port_and_is_adopted() {
    adopted_in_exec_mode(Greets::Page("Hello from http.server!"), http_server);
}

#[test]
fn http_server_hands_over_under_watch() {
    hands_over_under_watch(
        Greets::Page("Hello from http.server!"),
        "index.html",
        http_server,
    );
}

#[test]
#[cfg_attr(
    not(has_recipes_venv),
    ignore = "needs Flask in SYSTEMFD_RECIPES_VENV or target/recipes-venv (see .ci/run)"
)]
fn flask_run_is_adopted() {
    adopted_in_exec_mode(Greets::Pid("Hello from Flask"), flask_run);
}

#[test]
#[cfg_attr(
    not(has_recipes_venv),
    ignore = "needs Flask in SYSTEMFD_RECIPES_VENV or target/recipes-venv (see .ci/run)"
)]
fn flask_run_hands_over_under_watch() {
    hands_over_under_watch(Greets::Pid("Hello from Flask"), "app.py", flask_run);
}

#[test]
#[cfg_attr(
    not(has_recipes_venv),
    ignore = "needs Django in SYSTEMFD_RECIPES_VENV or target/recipes-venv (see .ci/run)"
)]
fn django_runserver_is_adopted() {
    adopted_in_exec_mode(Greets::Pid("Hello from Django"), django_runserver);
}

#[test]
#[cfg_attr(
    not(has_recipes_venv),
    ignore = "needs Django in SYSTEMFD_RECIPES_VENV or target/recipes-venv (see .ci/run)"
)]
fn django_runserver_hands_over_under_watch() {
    hands_over_under_watch(
        Greets::Pid("Hello from Django"),
        "manage.py",
        django_runserver,
    );
}

#[test]
#[cfg_attr(not(has_php), ignore = "needs PHP (Debian: php-cli)")]
fn php_built_in_server_is_adopted() {
    adopted_in_exec_mode(Greets::Pid("Hello from PHP"), php_server);
}

#[test]
#[cfg_attr(not(has_php), ignore = "needs PHP (Debian: php-cli)")]
fn php_built_in_server_hands_over_under_watch() {
    hands_over_under_watch(Greets::Pid("Hello from PHP"), "index.php", php_server);
}

#[test]
#[cfg_attr(
    not(has_express),
    ignore = "needs Node.js and Express (`npm ci --prefix recipes/express`)"
)]
fn express_is_adopted() {
    adopted_in_exec_mode(Greets::Pid("Hello from Express"), express);
}

#[test]
#[cfg_attr(
    not(has_express),
    ignore = "needs Node.js and Express (`npm ci --prefix recipes/express`)"
)]
fn express_hands_over_under_watch() {
    hands_over_under_watch(Greets::Pid("Hello from Express"), "app.js", express);
}

#[test]
#[cfg_attr(not(has_go), ignore = "needs Go (Debian: golang-go)")]
fn go_net_http_is_adopted() {
    adopted_in_exec_mode(Greets::Pid("Hello from Go net/http"), go_net_http);
}

#[test]
#[cfg_attr(not(has_go), ignore = "needs Go (Debian: golang-go)")]
fn go_run_net_http_hands_over_under_watch() {
    let go = GO.require();
    // As the page shows it, through `go run`: the server is go run's child,
    // and adoption reaches it there.
    hands_over_under_watch(
        Greets::ChildPid("Hello from Go net/http"),
        "main.go",
        |command, port| {
            command
                .args([go, "run"])
                .arg(recipe("go-nethttp/main.go"))
                .env("PORT", port.to_string())
                .env("GOCACHE", go_cache())
        },
    );
}
