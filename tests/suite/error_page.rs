//! The error page and the build step, driven through the real binary: what
//! a client gets on an `http::` socket while no server runs (the page, its
//! headers, who sees the details, its reload into the fixed server), that
//! the page never answers while anything of COMMAND or its build lives,
//! `--no-error-page`, `--build` in both modes, the page's bounds, and the
//! page in a real browser.

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::harness::browser::Browser;
use crate::harness::http::{self, Answer, Outcome};
use crate::harness::net::addr_in;
use crate::harness::tools::PYTHON3;
use crate::harness::{probe, systemfd, Project, Running, DEADLINE};

/// The app COMMAND runs, `python3 src/app.py`. What `src/mode.txt` says
/// decides what each start does: `crash N` exits with status N at once;
/// `slow S` sleeps S seconds, then serves; `serve` serves `GET` on fd 3,
/// answering `app says hello from pid PID` in an HTML page. `tick` on its
/// own line after the mode prints `tick` every 100 ms while it serves.
pub(crate) const APP: &str = r#"
import http.server, os, socket, sys, threading, time
mode = open("src/mode.txt").read().split()
if mode[0] == "crash":
    print("app: exiting with status", mode[1], flush=True)
    sys.exit(int(mode[1]))
if mode[0] == "slow":
    time.sleep(float(mode[1]))
TEXT = "app says hello from pid %d" % os.getpid()

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("<!DOCTYPE html><title>app</title><p id=app>%s</p>\n" % TEXT).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

def tick():
    while True:
        print("tick", flush=True)
        time.sleep(0.1)

if "tick" in mode:
    threading.Thread(target=tick, daemon=True).start()
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
server.socket.close()
server.socket = socket.socket(fileno=3)
print("app: serving as", os.getpid(), flush=True)
server.serve_forever()
"#;

/// A failing build's output: markup to escape, a colour to convert.
const FAILING_BUILD: &str = "echo \"<b>boom</b>\"\nprintf \"\\033[31mred\\033[0m\\n\"\nexit 3\n";

/// A project whose `src/` holds the app and its mode, with `tmp/` for
/// systemfd's TMPDIR.
pub(crate) fn project(mode: &str) -> Project {
    let dir = Project::new(&["tmp"]);
    dir.write("src/app.py", APP);
    dir.write("src/mode.txt", mode);
    dir
}

/// `systemfd SOCKETS -w src ARGS -- python3 src/app.py`, in the project.
pub(crate) fn start(dir: &Project, sockets: &[&str], args: &[&str]) -> Running {
    let mut command = systemfd()
        .current_dir(dir.root())
        .env("TMPDIR", dir.path("tmp"));
    for socket in sockets {
        command = command.args(["-s", socket]);
    }
    command
        .args(["-w", "src"])
        .args(args)
        .args(["--", PYTHON3.require(), "src/app.py"])
        .spawn()
}

/// systemfd on one `http::` socket, as [`start`]; and the socket's address.
pub(crate) fn start_http(dir: &Project, args: &[&str]) -> (Running, SocketAddr) {
    let mut s = start(dir, &["http::0"], args);
    let addr = addr_in(&s.wait_for_text("~> socket http://127.0.0.1:"));
    (s, addr)
}

/// The line that says the page answers on `addr`.
pub(crate) fn answering(addr: SocketAddr) -> String {
    format!("~> answering http://{addr}/ with an error page until a server is ready")
}

/// `GET /` with `Host` naming `addr` and `Accept: accept`, answered within
/// the deadline.
pub(crate) fn get(addr: SocketAddr, accept: &str, s: &Running) -> Answer {
    ask(addr, "GET", &[&format!("Host: {addr}"), accept], s)
}

/// A request answered within the deadline; a failure shows systemfd's
/// output.
pub(crate) fn ask(addr: SocketAddr, method: &str, headers: &[&str], s: &Running) -> Answer {
    http::request(addr, method, "/", headers, DEADLINE)
        .unwrap_or_else(|e| panic!("{e}\n{}", s.report()))
}

/// Asserts that `answer` is the error page's: `503` with the headers it
/// promises and `content_type`.
pub(crate) fn assert_page(answer: &Answer, content_type: &str, s: &Running) {
    http::assert_error_page(answer, content_type, || s.report());
}

/// Asserts that `answer` is the app's `200`, from pid `pid` when given.
pub(crate) fn assert_app(answer: &Answer, pid: Option<u32>, s: &Running) {
    let expected = match pid {
        Some(pid) => format!("app says hello from pid {pid}"),
        None => "app says hello from pid ".to_owned(),
    };
    assert!(
        answer.status == 200 && answer.text().contains(&expected),
        "not the app's answer ({expected:?}): {answer:?}\n{}",
        s.report()
    );
}

/// The page number N in the page's `/.systemfd/wait?page=N`.
fn page_number(page: &Answer) -> u64 {
    let text = page.text();
    let at = text
        .find("/.systemfd/wait?page=")
        .unwrap_or_else(|| panic!("no wait URL in the page: {text}"))
        + "/.systemfd/wait?page=".len();
    let digits: String = text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no page number in the page: {text}"))
}

/// Whether `text` holds a UTC time written `2024-05-01T12:34:56Z`.
fn has_iso_time(text: &str) -> bool {
    let shape = b"dddd-dd-ddTdd:dd:ddZ";
    text.as_bytes().windows(shape.len()).any(|w| {
        w.iter().zip(shape).all(|(&c, &s)| match s {
            b'd' => c.is_ascii_digit(),
            _ => c == s,
        })
    })
}

/// Waits until COMMAND, which crashes, has exited with `status` and the
/// page answers on `addr`; returns the pid that crashed.
fn crashed(s: &mut Running, addr: SocketAddr, status: u32) -> u32 {
    let pid = s.started();
    s.wait_for_text(&format!("~> pid {pid} exited with status {status}"));
    s.wait_for_text(&answering(addr));
    pid
}

#[test]
fn a_crash_is_answered_with_the_error_page() {
    let dir = project("crash 42");
    let (mut s, addr) = start_http(&dir, &[]);
    let pid = s.started();
    s.wait_for_text(&format!("~> pid {pid} exited with status 42"));
    let exited = Instant::now();
    let cause = format!("pid {pid} exited with status 42");

    // A browser: the HTML page with the details, within a second.
    let html = get(
        addr,
        "Accept: text/html,application/xhtml+xml,*/*;q=0.8",
        &s,
    );
    let took = exited.elapsed();
    assert_page(&html, "text/html", &s);
    assert!(
        took < Duration::from_secs(1),
        "the page came {took:?} after the exit\n{}",
        s.report()
    );
    let text = html.text();
    for fact in [&cause[..], "src/app.py", "/.systemfd/wait?page="] {
        assert!(text.contains(fact), "no {fact:?} in the page: {text}");
    }
    assert!(has_iso_time(&text), "no time in the page: {text}");

    // Anything else: plain text, the same details.
    let plain = get(addr, "Accept: */*", &s);
    assert_page(&plain, "text/plain", &s);
    let text = plain.text();
    for fact in [&cause[..], "src/app.py"] {
        assert!(text.contains(fact), "no {fact:?} in the page: {text}");
    }
    assert!(has_iso_time(&text), "no time in the page: {text}");
    assert!(!text.contains('<'), "markup in the plain page: {text}");

    // HEAD: the head alone.
    let head = ask(
        addr,
        "HEAD",
        &[&format!("Host: {addr}"), "Accept: text/html"],
        &s,
    );
    assert_page(&head, "text/html", &s);
    assert!(head.body.is_empty(), "a body for HEAD: {head:?}");

    // Details for every name of this machine, none for another host.
    let port = addr.port();
    for host in [format!("localhost:{port}"), format!("[::1]:{port}")] {
        let page = ask(addr, "GET", &[&format!("Host: {host}"), "Accept: */*"], &s);
        assert_page(&page, "text/plain", &s);
        assert!(page.text().contains(&cause), "Host {host}: {page:?}");
    }
    for accept in ["Accept: text/html", "Accept: */*"] {
        let bare = ask(addr, "GET", &["Host: evil.example", accept], &s);
        assert_eq!(bare.status, 503, "{bare:?}");
        let text = bare.text();
        for secret in [
            "exited",
            "status 42",
            "app.py",
            &pid.to_string(),
            "wait?page",
        ] {
            assert!(
                !text.contains(secret),
                "Host evil.example sees {secret:?}: {text}"
            );
        }
    }

    // The terminal said it once, with the hint.
    let said = s.wait_for_text(&answering(addr));
    assert!(
        said.ends_with(&format!(
            "{} (--no-error-page turns this off)",
            answering(addr)
        )),
        "{}",
        s.report()
    );
    assert_eq!(s.count("~> answering "), 1, "{}", s.report());
}

#[test]
fn the_page_reloads_into_the_fixed_server() {
    let dir = project("crash 42");
    let (mut s, addr) = start_http(&dir, &[]);
    crashed(&mut s, addr, 42);
    let first = get(addr, "Accept: text/html", &s);
    assert_page(&first, "text/html", &s);

    // A new crash after a change: the held wait of the old page is told to
    // reload, and the new page tells the change.
    let held = hold_wait(addr, page_number(&first), &s);
    dir.write("src/mode.txt", "crash 43");
    s.wait_for_text("~> change: src/mode.txt");
    let second = crashed(&mut s, addr, 43);
    assert_reload(held.join(), &s);
    let page = get(addr, "Accept: text/html", &s);
    assert_page(&page, "text/html", &s);
    let text = page.text();
    for fact in [
        &format!("pid {second} exited with status 43")[..],
        "mode.txt",
    ] {
        assert!(text.contains(fact), "no {fact:?} in the page: {text}");
    }
    assert_ne!(page_number(&page), page_number(&first), "{text}");
    // A wait for the old page is told to reload at once.
    let stale = http::request(
        addr,
        "GET",
        &format!("/.systemfd/wait?page={}", page_number(&first)),
        &[&format!("Host: {addr}")],
        Duration::from_secs(2),
    );
    assert_reload(stale, &s);

    // Fixed: the held wait is told to reload, and what the page asks next
    // is the app's, never the page.
    let held = hold_wait(addr, page_number(&page), &s);
    dir.write("src/mode.txt", "serve");
    let third = s.started();
    assert_reload(held.join(), &s);
    for _ in 0..5 {
        assert_app(&get(addr, "Accept: text/html", &s), Some(third), &s);
    }
    assert_eq!(
        s.count("(--no-error-page turns this off)"),
        1,
        "{}",
        s.report()
    );
}

/// A `GET /.systemfd/wait?page=N` the page holds, on a thread.
struct HeldWait {
    thread: std::thread::JoinHandle<Result<Answer, String>>,
}

impl HeldWait {
    fn join(self) -> Result<Answer, String> {
        self.thread.join().expect("the wait's thread")
    }
}

/// Sends the wait request for page `n` and returns once the page holds
/// it: connections are accepted in order, so once a request sent after it
/// has been answered, the page has taken it. (`Accept: */*`: the page's
/// script asks with `fetch`.)
fn hold_wait(addr: SocketAddr, n: u64, s: &Running) -> HeldWait {
    let (sent, was_sent) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let request =
            format!("GET /.systemfd/wait?page={n} HTTP/1.1\r\nHost: {addr}\r\nAccept: */*\r\n\r\n");
        let mut stream = TcpStream::connect_timeout(&addr, DEADLINE).map_err(|e| e.to_string())?;
        stream
            .write_all(request.as_bytes())
            .map_err(|e| e.to_string())?;
        let _ = sent.send(());
        match http::read_until_closed(&mut stream, Instant::now() + DEADLINE) {
            Ok(Outcome::Answered(bytes)) => Answer::parse(&bytes),
            other => Err(format!("the held wait: {other:?}")),
        }
    });
    was_sent
        .recv_timeout(DEADLINE)
        .expect("the wait request is sent");
    assert_page(&get(addr, "Accept: */*", s), "text/plain", s);
    assert!(
        !thread.is_finished(),
        "the wait for the page shown was not held: {:?}\n{}",
        thread.join(),
        s.report()
    );
    HeldWait { thread }
}

/// Asserts that a wait request was told to reload.
fn assert_reload(answer: Result<Answer, String>, s: &Running) {
    let answer = answer.unwrap_or_else(|e| panic!("{e}\n{}", s.report()));
    assert!(
        answer.status == 200 && answer.header("X-Systemfd") == Some("reload"),
        "not told to reload: {answer:?}\n{}",
        s.report()
    );
}

#[test]
fn a_request_while_the_server_starts_gets_the_server() {
    let dir = project("crash 42");
    let (mut s, addr) = start_http(&dir, &[]);
    crashed(&mut s, addr, 42);
    dir.write("src/mode.txt", "slow 1.5");
    let pid = s.started();
    // It sleeps before it serves: these wait in the backlog.
    let waiting: Vec<_> = (0..3)
        .map(|_| {
            std::thread::spawn(move || {
                http::request(
                    addr,
                    "GET",
                    "/",
                    &[&format!("Host: {addr}"), "Accept: text/html"],
                    DEADLINE,
                )
            })
        })
        .collect();
    for request in waiting {
        let answer = request
            .join()
            .unwrap()
            .unwrap_or_else(|e| panic!("{e}\n{}", s.report()));
        assert_app(&answer, Some(pid), &s);
    }
    s.wait_for_text(&format!("app: serving as {pid}"));
    assert_eq!(s.count("~> answering "), 1, "{}", s.report());
}

/// Sends `GET /` to `addr` and asserts that no answer comes within a
/// second (the connection waits in the backlog); returns it, for the
/// answer to come later.
fn unanswered(addr: SocketAddr, s: &Running) -> TcpStream {
    let mut stream = TcpStream::connect_timeout(&addr, DEADLINE).unwrap();
    let request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nAccept: text/html\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let outcome =
        http::read_until_closed(&mut stream, Instant::now() + Duration::from_secs(1)).unwrap();
    assert!(
        matches!(&outcome, Outcome::Silent(got) if got.is_empty()),
        "answered while no server runs: {outcome:?}\n{}",
        s.report()
    );
    stream
}

#[test]
fn no_error_page_leaves_requests_in_the_backlog() {
    let dir = project("crash 42");
    let (mut s, addr) = start_http(&dir, &["--no-error-page"]);
    let pid = s.started();
    s.wait_for_text(&format!("~> pid {pid} exited with status 42"));
    s.wait_for_text("~> waiting for a change or SIGHUP");
    let mut stream = unanswered(addr, &s);

    // The next server answers it.
    dir.write("src/mode.txt", "serve");
    let pid = s.started();
    let outcome = http::read_until_closed(&mut stream, Instant::now() + DEADLINE).unwrap();
    let Outcome::Answered(bytes) = outcome else {
        panic!("no answer from the server: {outcome:?}\n{}", s.report());
    };
    assert_app(&Answer::parse(&bytes).unwrap(), Some(pid), &s);
    assert!(!s.saw("~> answering"), "{}", s.report());
}

#[test]
fn tcp_and_https_sockets_get_no_page() {
    let dir = project("crash 42");
    let mut s = start(&dir, &["tcp::0", "https::0"], &[]);
    let tcp = addr_in(&s.wait_for_text("~> socket 127.0.0.1:"));
    let https = addr_in(&s.wait_for_text("~> socket https://127.0.0.1:"));
    let pid = s.started();
    s.wait_for_text(&format!("~> pid {pid} exited with status 42"));
    s.wait_for_text("~> waiting for a change or SIGHUP");
    unanswered(tcp, &s);
    unanswered(https, &s);
    assert!(!s.saw("~> answering"), "{}", s.report());
}

#[test]
fn a_failed_build_starts_nothing_and_its_output_is_on_the_page() {
    let dir = project("serve");
    dir.write("src/build.sh", FAILING_BUILD);
    let (mut s, addr) = start_http(&dir, &["--build", "sh src/build.sh"]);
    s.wait_for_text("~> build: sh src/build.sh");
    // Its output goes to stderr as it comes.
    s.wait_for("the build's output", |l| l == "<b>boom</b>");
    s.wait_for_text(
        "~> build failed: it exited with status 3 (its last lines are on the error page); \
         waiting for a change or SIGHUP",
    );
    s.wait_for_text(&answering(addr));
    assert!(!s.saw("~> started pid"), "{}", s.report());

    let html = get(addr, "Accept: text/html", &s);
    assert_page(&html, "text/html", &s);
    let text = html.text();
    assert!(text.contains("exited with status 3"), "{text}");
    assert!(text.contains("sh src/build.sh"), "{text}");
    assert!(text.contains("&lt;b&gt;boom&lt;/b&gt;"), "{text}");
    assert!(!text.contains("<b>boom"), "unescaped output: {text}");
    assert!(text.contains(">red<"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "escape bytes in the page: {text:?}"
    );
    let plain = get(addr, "Accept: */*", &s);
    assert_page(&plain, "text/plain", &s);
    let text = plain.text();
    assert!(text.contains("<b>boom</b>"), "{text}");
    assert!(text.lines().any(|l| l == "red"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "escape bytes in the page: {text:?}"
    );

    // Fixed: it builds, and the server serves.
    dir.write("src/build.sh", "echo building fine\n");
    s.wait_for_text("~> change: src/build.sh");
    s.wait_for_text("~> build: done after ");
    let pid = s.started();
    assert_app(&get(addr, "Accept: text/html", &s), Some(pid), &s);
}

#[test]
fn a_failed_build_leaves_the_running_server_serving() {
    let dir = project("serve");
    dir.write("src/build.sh", "echo building fine\n");
    let (mut s, addr) = start_http(&dir, &["--build", "sh src/build.sh"]);
    s.wait_for_text("~> build: done after ");
    let pid = s.started();
    assert_app(&get(addr, "Accept: text/html", &s), Some(pid), &s);

    dir.write("src/build.sh", "echo broken >&2\nexit 5\n");
    s.wait_for_text("~> change: src/build.sh");
    s.wait_for_text(&format!(
        "~> build failed: it exited with status 5; pid {pid} keeps serving the last build"
    ));
    assert_app(&get(addr, "Accept: text/html", &s), Some(pid), &s);
    assert_eq!(s.count("~> started pid"), 1, "{}", s.report());
    assert!(!s.saw("~> answering"), "{}", s.report());
}

#[test]
fn a_build_that_writes_a_watched_file_does_not_loop() {
    let dir = project("serve\ntick");
    let line = "date +%N > src/gen.txt";
    let (mut s, addr) = start_http(&dir, &["--build", line]);
    s.started();
    dir.write("src/edit.txt", "edited");
    // Lines to read for 3 s: the app's ticks, every 100 ms while it serves
    // (or the loop's own lines).
    let end = Instant::now() + Duration::from_secs(3);
    s.wait_for("3 s of output", |_| Instant::now() > end);
    let builds = s.count(&format!("~> build: {line}"));
    assert!(
        builds <= 1 + 3,
        "{builds} builds in 3 s, the first start's and one edit's\n{}",
        s.report()
    );
    let own = s.wait_for_text("taken for the build's own output");
    assert!(own.contains("src/gen.txt"), "{}", s.report());
    assert_app(&get(addr, "Accept: text/html", &s), None, &s);
}

#[test]
fn exec_mode_builds_once_before_the_command() {
    let dir = Project::new(&[]);
    let ran = systemfd()
        .current_dir(dir.root())
        .args([
            "-s",
            "0",
            "--build",
            "exit 7",
            "--",
            "sh",
            "-c",
            "touch ran",
        ])
        .output()
        .assert_code(7)
        .assert_stderr_contains(
            "systemfd: error: the build failed: it exited with status 7; 'sh' was not run",
        );
    assert!(!dir.path("ran").exists(), "{}", ran.report());

    let ran = systemfd()
        .current_dir(dir.root())
        .args(["-s", "0", "--build", "echo built", "--"])
        .arg(probe())
        .success()
        .assert_stderr_contains("~> build: echo built");
    let report = ran.probe_report();
    assert_eq!(report["LISTEN_FDS"], "1", "{}", ran.report());
    assert!(
        report["socket0"].starts_with("tcp 127.0.0.1:"),
        "{}",
        ran.report()
    );
    // The build's output is on stderr, not mixed into COMMAND's stdout.
    assert!(
        ran.stderr().lines().any(|l| l == "built"),
        "{}",
        ran.report()
    );
    assert!(!ran.stdout().contains("built"), "{}", ran.report());

    let ran = systemfd()
        .current_dir(dir.root())
        .args([
            "-s",
            "unix::app.sock",
            "--build",
            "",
            "--",
            "sh",
            "-c",
            "touch ran",
        ])
        .output()
        .assert_code(2)
        .assert_stderr_contains("systemfd: error: ")
        .assert_stderr_contains("--build");
    assert!(!dir.path("ran").exists(), "{}", ran.report());
    assert!(!dir.path("app.sock").exists(), "{}", ran.report());
}

/// Raises this process's open-file limit to its hard limit (systemfd,
/// started afterwards, inherits it): the flood tests open hundreds of
/// connections at once, more than the usual soft limit of 1024 leaves room
/// for with other tests running.
fn raise_open_files() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        let _ = setrlimit(Resource::Nofile, raised);
    }
}

/// Asserts that systemfd lives and the page still answers.
fn still_answers(addr: SocketAddr, s: &mut Running) {
    assert!(s.child.try_wait().unwrap().is_none(), "{}", s.report());
    let answer = http::request(
        addr,
        "GET",
        "/",
        &[&format!("Host: {addr}"), "Accept: */*"],
        Duration::from_secs(5),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", s.report()));
    assert_page(&answer, "text/plain", s);
}

#[test]
fn five_hundred_connections_at_once_are_each_answered_or_closed() {
    raise_open_files();
    let dir = project("crash 42");
    let (mut s, addr) = start_http(&dir, &[]);
    crashed(&mut s, addr, 42);
    let end = Instant::now() + DEADLINE;
    let clients: Vec<_> = (0..500)
        .map(|_| {
            std::thread::spawn(move || {
                let limit = end.saturating_duration_since(Instant::now());
                let request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nAccept: */*\r\n\r\n");
                http::exchange(addr, request.as_bytes(), limit)
            })
        })
        .collect();
    let mut answered = 0;
    let mut problems = Vec::new();
    for client in clients {
        match client.join().unwrap() {
            Ok(Outcome::Answered(bytes)) => match Answer::parse(&bytes) {
                Ok(answer) if answer.status == 503 => answered += 1,
                other => problems.push(format!("{other:?}")),
            },
            Ok(Outcome::Closed) => {}
            Ok(Outcome::Silent(got)) => problems.push(format!(
                "no answer nor close by the deadline: {:?}",
                String::from_utf8_lossy(&got)
            )),
            // Reset before it could send: closed, too.
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(err) => problems.push(err.to_string()),
        }
    }
    assert!(
        problems.is_empty(),
        "{} of 500 ({answered} answered): {:?}\n{}",
        problems.len(),
        &problems[..problems.len().min(5)],
        s.report()
    );
    assert!(answered > 0, "none answered\n{}", s.report());
    still_answers(addr, &mut s);
}

#[test]
fn a_head_too_large_gets_431_or_a_close() {
    let dir = project("crash 42");
    let (mut s, addr) = start_http(&dir, &[]);
    crashed(&mut s, addr, 42);
    let mut request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nX-Big: ").into_bytes();
    request.resize(request.len() + 1024 * 1024, b'a');
    request.extend_from_slice(b"\r\n\r\n");
    match http::exchange(addr, &request, DEADLINE) {
        Ok(Outcome::Answered(bytes)) => {
            let answer = Answer::parse(&bytes).unwrap();
            assert_eq!(answer.status, 431, "{answer:?}");
        }
        Ok(Outcome::Closed) => {}
        Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("a 1 MB head: {other:?}\n{}", s.report()),
    }
    still_answers(addr, &mut s);
}

#[test]
fn clients_that_never_finish_their_head_do_not_stop_others() {
    raise_open_files();
    let dir = project("crash 42");
    let (mut s, addr) = start_http(&dir, &[]);
    crashed(&mut s, addr, 42);
    // More of them than the page keeps connections.
    let slow: Vec<TcpStream> = (0..300)
        .map(|_| {
            let mut stream = TcpStream::connect_timeout(&addr, DEADLINE).unwrap();
            stream.write_all(b"GET / HTTP/1.1\r\nHost: ").unwrap();
            stream
        })
        .collect();
    for _ in 0..3 {
        let started = Instant::now();
        still_answers(addr, &mut s);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "answered after {:?}",
            started.elapsed()
        );
    }
    drop(slow);
    still_answers(addr, &mut s);
}

#[test]
#[cfg_attr(
    not(has_browser),
    ignore = "needs Chromium, chromedriver and Selenium (Debian: chromium, chromium-driver, python3-selenium)"
)]
fn a_browser_shows_the_page_and_reloads_into_the_fixed_server() {
    let mut browser = Browser::start();
    let dir = project("crash 42");
    let (mut s, addr) = start_http(&dir, &[]);
    let pid = s.started();
    s.wait_for_text(&format!("~> pid {pid} exited with status 42"));
    let exited = Instant::now();
    let url = format!("http://{addr}/");
    let cause = format!("pid {pid} exited with status 42");
    browser
        .open(&url, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", s.report()));
    browser
        .wait_text(&cause, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("{e}\n{}", s.report()));
    let took = exited.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "the browser showed the page {took:?} after the exit\n{}",
        s.report()
    );

    // The tab, left open, reloads by itself once the server is back.
    dir.write("src/mode.txt", "serve");
    let pid = s.started();
    browser
        .wait_text(
            &format!("app says hello from pid {pid}"),
            Duration::from_secs(10),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", s.report(), browser.report()));
    assert_eq!(browser.count("#app"), 1, "{}", browser.text());
}

#[test]
#[cfg_attr(
    not(has_browser),
    ignore = "needs Chromium, chromedriver and Selenium (Debian: chromium, chromium-driver, python3-selenium)"
)]
fn a_browser_shows_the_build_output_as_text() {
    let mut browser = Browser::start();
    let dir = project("serve");
    dir.write("src/build.sh", FAILING_BUILD);
    let (mut s, addr) = start_http(&dir, &["--build", "sh src/build.sh"]);
    s.wait_for_text(&answering(addr));
    browser
        .open(&format!("http://{addr}/"), Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", s.report()));
    browser
        .wait_text("<b>boom</b>", Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("{e}\n{}", s.report()));
    let text = browser.text();
    assert!(text.contains("red"), "{text}");
    assert!(!text.contains('\u{1b}'), "escape bytes shown: {text:?}");
    assert_eq!(
        browser.count("b"),
        0,
        "the output made a <b> element: {text}"
    );
}

/// A stop while a build's last writes may still be on their way (the
/// debounce period after it ended) ends systemfd at once, with status 0.
#[test]
fn a_stop_just_after_a_build_ends_at_once() {
    let dir = project("serve");
    let (mut s, _) = start_http(&dir, &["--debounce", "2s", "--build", "echo built"]);
    s.wait_for_text("~> build: echo built");
    s.wait_for_text("built");
    s.signal(crate::harness::Signal::TERM);
    let status = s.wait();
    assert_eq!(status.code(), Some(0), "{}", s.report());
    assert!(!s.saw("SIGKILL"), "{}", s.report());
}

/// A build that rewrites a watched file through a temporary file of a new
/// name each time (`sed -i`) runs a bounded number of times, says why, and
/// the app then starts.
#[test]
fn a_build_that_writes_new_names_each_time_does_not_loop() {
    // The app ticks every 100 ms, so there are lines to read meanwhile.
    let dir = project("serve\ntick");
    dir.write("src/version.env", "VERSION=0\n");
    let line = "sed -i \"s/VERSION=.*/VERSION=$(date +%N)/\" src/version.env";
    let (mut s, addr) = start_http(&dir, &["--build", line]);
    s.wait_for_text("the build keeps writing watched files");
    s.started();
    let end = Instant::now() + Duration::from_secs(2);
    s.wait_for("2 s of output", |_| Instant::now() > end);
    let builds = s.count(&format!("~> build: {line}"));
    assert!(builds <= 3, "{builds} builds\n{}", s.report());
    assert_app(&get(addr, "Accept: text/html", &s), None, &s);
}

/// In exec mode a signal to systemfd during the build stops the build
/// (its whole group) and systemfd, which runs nothing.
#[cfg(target_os = "linux")]
#[test]
fn exec_mode_stops_the_build_it_is_signalled_during() {
    let dir = Project::new(&[]);
    let mut s = systemfd()
        .current_dir(dir.root())
        .args([
            "-s",
            "0",
            "--build",
            "echo $$ > build.pid; sleep 30; echo",
            "--",
        ])
        .args(["sh", "-c", "touch ran"])
        .spawn();
    s.wait_for_text("~> build:");
    let deadline = Instant::now() + DEADLINE;
    let pid = loop {
        if let Some(pid) = std::fs::read_to_string(dir.path("build.pid"))
            .ok()
            .and_then(|text| text.trim().parse::<u32>().ok())
        {
            break pid;
        }
        assert!(Instant::now() < deadline, "no build pid\n{}", s.report());
        std::thread::sleep(Duration::from_millis(20));
    };
    s.signal(crate::harness::Signal::TERM);
    let status = s.wait();
    assert_eq!(status.code(), Some(128 + 15), "{}", s.report());
    assert!(
        s.saw("the build failed: it was stopped: systemfd received SIGTERM"),
        "{}",
        s.report()
    );
    let deadline = Instant::now() + DEADLINE;
    while crate::harness::process::alive(pid) {
        assert!(Instant::now() < deadline, "the build's shell lives on");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!dir.path("ran").exists());
}
