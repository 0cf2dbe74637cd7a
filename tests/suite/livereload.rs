//! LiveReload (`--livereload`), driven through the real binary: a client of
//! the protocol is told to reload once the new version serves, never
//! before (a replacement that is not ready, a failed build, `--signal`
//! before READY=1), systemfd's own client is told the build's status, the
//! address and its fallback, `SYSTEMFD_LIVERELOAD_URL`, and pages in a real
//! browser that reload by themselves, show a failed build's banner, and
//! leave the error page for the fixed app.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use crate::harness::browser::Browser;
use crate::harness::http;
use crate::harness::livereload::{Client, Origin, OFFICIAL_7, STATUS_1};
use crate::harness::net::addr_in;
use crate::harness::tools::PYTHON3;
use crate::harness::{
    free_port, holds_within, signal, systemfd, Project, Running, Signal, DEADLINE,
};

/// The app COMMAND runs, `python3 src/app.py VERSION_FILE`. The file's first
/// word is the version it serves; `crash` as that word makes it exit with
/// status 1 at once. `notify` among the words makes it send READY=1 once it
/// serves; `stall`, never serve (as one stuck in its start-up); `hup`, reread its version on SIGHUP: 0.4 s later, after which it
/// sends READY=1, noting both times (`time.monotonic()`) in `events.txt`.
/// It serves `GET` on fd 3: an HTML page saying `version V from pid P`,
/// that notes V in the tab's `sessionStorage` (`versions`, a list: one entry
/// per load) and loads the script at `SYSTEMFD_LIVERELOAD_URL` when that is
/// set.
const APP: &str = r#"
import http.server, os, signal, socket, sys, threading, time
VERSION_FILE = sys.argv[1]

def words():
    return open(VERSION_FILE).read().split()

first = words()
if first[0] == "crash":
    print("app: exiting with status 1", flush=True)
    sys.exit(1)
state = {"version": first[0]}
URL = os.environ.get("SYSTEMFD_LIVERELOAD_URL")

def notify():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(b"READY=1", os.environ["NOTIFY_SOCKET"])
    s.close()

def note(event):
    with open("events.txt", "a") as f:
        f.write("%s %r\n" % (event, time.monotonic()))

def reread():
    time.sleep(0.4)
    state["version"] = words()[0]
    print("app: reloaded as", state["version"], flush=True)
    note("ready")
    notify()

def on_hup(*_):
    note("hup")
    threading.Thread(target=reread, daemon=True).start()

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        version = state["version"]
        script = '<script src="%s"></script>' % URL if URL else ""
        body = ("<!DOCTYPE html><title>app</title>"
                "<p id=app>version %s from pid %d</p>"
                "<script>var v = JSON.parse(sessionStorage.getItem('versions') || '[]');"
                "v.push('%s'); sessionStorage.setItem('versions', JSON.stringify(v));</script>"
                "%s\n" % (version, os.getpid(), version, script)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

if "hup" in first:
    signal.signal(signal.SIGHUP, on_hup)
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
server.socket.close()
server.socket = socket.socket(fileno=3)
if "stall" in first:
    print("app: stalling as", os.getpid(), flush=True)
    time.sleep(3600)
print("app: serving", state["version"], "as", os.getpid(), flush=True)
if "notify" in first:
    notify()
server.serve_forever()
"#;

/// Where the app reads its version when there is no build step: watched.
const VERSION: &str = "src/version.txt";

/// Where the app reads its version with the build step, which writes it
/// there: not watched.
const BUILT_VERSION: &str = "build/version.txt";

/// The build step's script at first: builds v1.
const BUILD_V1: &str = "echo compiling v1\necho v1 > build/version.txt\n";

/// A failing build's script: output on stdout and stderr, status 3.
const FAILING_BUILD: &str = "echo compiling v2\necho 'error: mismatched types' >&2\nexit 3\n";

/// A project whose `src/` holds the app and its version file saying
/// `version`, with `tmp/` for systemfd's TMPDIR and `build/` for the build
/// step's output.
fn project(version: &str) -> Project {
    let dir = Project::new(&["tmp", "build"]);
    dir.write("src/app.py", APP);
    dir.write(VERSION, version);
    dir
}

/// A project whose build step (`src/build.sh`) builds v1 into
/// [`BUILT_VERSION`].
fn built_project() -> Project {
    let dir = project("unused");
    dir.write("src/build.sh", BUILD_V1);
    dir
}

/// `systemfd -s http::0 -w src --livereload 127.0.0.1:0 ARGS -- python3
/// src/app.py VERSION_FILE` in the project; and the app's and the LiveReload
/// server's addresses.
fn start(dir: &Project, version_file: &str, args: &[&str]) -> (Running, SocketAddr, SocketAddr) {
    let mut s = systemfd()
        .current_dir(dir.root())
        .env("TMPDIR", dir.path("tmp"))
        .args(["-s", "http::0", "-w", "src", "--livereload", "127.0.0.1:0"])
        .args(args)
        .args(["--", PYTHON3.require(), "src/app.py", version_file])
        .spawn();
    let app = addr_in(&s.wait_for_text("~> socket http://127.0.0.1:"));
    let live = addr_in(&s.wait_for_text("~> live reload: http://127.0.0.1:"));
    (s, app, live)
}

/// [`start`] with the build step `sh src/build.sh`.
fn start_built(dir: &Project) -> (Running, SocketAddr, SocketAddr) {
    start(dir, BUILT_VERSION, &["--build", "sh src/build.sh"])
}

/// Waits until the first COMMAND is ready and the pages were told (none
/// is connected yet), so that a client connected afterwards is told of
/// the changes alone; returns its pid.
fn first_start(s: &mut Running) -> u32 {
    let pid = s.started();
    s.wait_for_text(&format!("~> ready: pid {pid}"));
    let told = told(s);
    assert!(
        told.ends_with("~> live reload: no page is connected"),
        "{}",
        s.report()
    );
    pid
}

/// Waits for the next line saying how many pages were told to reload.
fn told(s: &mut Running) -> String {
    s.wait_for("saying how many pages were told to reload", |l| {
        l.contains("~> live reload: ")
            && (l.ends_with(" page")
                || l.ends_with(" pages")
                || l.ends_with("no page is connected"))
    })
}

/// How many lines so far said how many pages were told to reload.
fn told_count(s: &Running) -> usize {
    s.count("~> live reload: ") - s.count("~> live reload: http://") - s.count(" is taken; ")
}

/// `GET /` on the app, which must answer 200; its body.
fn get(app: SocketAddr, s: &Running) -> String {
    let answer = http::request(app, "GET", "/", &[&format!("Host: {app}")], DEADLINE)
        .unwrap_or_else(|e| panic!("{e}\n{}", s.report()));
    assert_eq!(answer.status, 200, "{answer:?}\n{}", s.report());
    answer.text()
}

/// What the app's page says for `version`.
fn says(version: &str) -> String {
    format!("version {version} from pid ")
}

/// Asserts that `body` is the app's page for `version`.
fn assert_version(body: &str, version: &str, context: impl Fn() -> String) {
    assert!(
        body.contains(&says(version)),
        "not {version}: {body:?}\n{}",
        context()
    );
}

/// Asserts that the server's `hello` speaks version 7 as systemfd, and
/// lists `systemfd-status-1` exactly when `own`.
fn assert_hello(client: &mut Client, own: bool) {
    let hello = client.message("hello");
    assert_eq!(
        hello.field("serverName"),
        Some("systemfd"),
        "{}",
        client.report()
    );
    let protocols = hello.field("protocols").unwrap_or_default();
    assert!(protocols.contains(OFFICIAL_7), "{}", client.report());
    assert_eq!(protocols.contains(STATUS_1), own, "{}", client.report());
}

/// Asserts that the next message is `systemfd-status` in `state`; returns
/// it.
fn assert_status(client: &mut Client, state: &str) -> crate::harness::livereload::Message {
    let status = client.message("systemfd-status");
    assert_eq!(status.field("state"), Some(state), "{}", client.report());
    status
}

/// Asserts that the next messages are `reload` for `/` and, when the client
/// asks the app, that the app answered with `version` right after it.
fn assert_reload(client: &mut Client, version: Option<&str>, s: &Running) -> f64 {
    let reload = client.message("reload");
    assert_eq!(reload.field("path"), Some("/"), "{}", client.report());
    if let Some(version) = version {
        let (status, body) = client.got();
        assert_eq!(status, 200, "{body}\n{}", client.report());
        assert_version(&body, version, || {
            format!("the GET right after the reload\n{}", s.report())
        });
    }
    reload.at
}

#[test]
#[cfg_attr(
    not(has_python_websocket),
    ignore = "needs Python's websocket module for /usr/bin/python3 (Debian: python3-websocket)"
)]
fn a_client_is_told_to_reload_once_the_new_version_serves() {
    let dir = project("v1");
    let (mut s, app, live) = start(&dir, VERSION, &[]);
    first_start(&mut s);
    let mut client = Client::connect(live, &[OFFICIAL_7], Origin::Default, Some(app));
    assert_hello(&mut client, false);
    for n in 2..=6 {
        let version = format!("v{n}");
        dir.write(VERSION, &version);
        // The GET the client makes the moment the reload comes gets the
        // new version, never the old one.
        assert_reload(&mut client, Some(&version), &s);
        assert_version(&get(app, &s), &version, || s.report());
        let told = told(&mut s);
        assert!(told.ends_with("~> live reload: 1 page"), "{}", s.report());
    }
    assert_eq!(told_count(&s), 6, "{}", s.report());
}

#[test]
#[cfg_attr(
    not(has_python_websocket),
    ignore = "needs Python's websocket module for /usr/bin/python3 (Debian: python3-websocket)"
)]
fn a_replacement_that_is_never_ready_reloads_nothing() {
    let dir = project("v1 notify");
    let (mut s, app, live) = start(&dir, VERSION, &["--ready", "notify"]);
    let first = first_start(&mut s);
    let mut client = Client::connect(live, &[OFFICIAL_7], Origin::Default, Some(app));
    assert_hello(&mut client, false);

    // It never sends READY=1 (nor accepts, which it could do on the
    // socket they share): the old one serves on, and no page reloads.
    dir.write(VERSION, "v2 stall");
    s.wait_for_text("~> change: src/version.txt");
    let second = s.started();
    s.wait_for_text(&format!("app: stalling as {second}"));
    client.silent_for(Duration::from_secs(3), || s.report());
    let body = get(app, &s);
    assert_version(&body, "v1", || s.report());
    assert!(body.contains(&format!("pid {first}")), "{body}");

    // One that is ready takes over, and only then the page is told.
    dir.write(VERSION, "v3 notify");
    assert_reload(&mut client, Some("v3"), &s);
    let told = told(&mut s);
    assert!(told.ends_with("~> live reload: 1 page"), "{}", s.report());
    assert_eq!(told_count(&s), 2, "{}", s.report());
}

#[test]
#[cfg_attr(
    not(has_python_websocket),
    ignore = "needs Python's websocket module for /usr/bin/python3 (Debian: python3-websocket)"
)]
fn a_failed_build_is_told_and_its_fix_reloads() {
    let dir = built_project();
    let (mut s, app, live) = start_built(&dir);
    let first = first_start(&mut s);
    assert_version(&get(app, &s), "v1", || s.report());
    // systemfd's own client, as a tool without an Origin; a plain one, as
    // livereload.js; systemfd's own client on a page of another origin.
    let mut own = Client::connect(live, &[OFFICIAL_7, STATUS_1], Origin::None, Some(app));
    assert_hello(&mut own, true);
    let mut plain = Client::connect(live, &[OFFICIAL_7], Origin::Default, None);
    assert_hello(&mut plain, false);
    let mut foreign = Client::connect(
        live,
        &[OFFICIAL_7, STATUS_1],
        Origin::Of("http://evil.example"),
        None,
    );
    assert_hello(&mut foreign, true);

    dir.write("src/build.sh", FAILING_BUILD);
    assert_status(&mut own, "building");
    let failed = assert_status(&mut own, "failed");
    let cause = failed.field("cause").unwrap_or_default();
    assert!(cause.contains("exited with status 3"), "{}", own.report());
    let output = failed.field("output").unwrap_or_default();
    for line in ["compiling v2", "error: mismatched types"] {
        assert!(
            output.lines().any(|l| l == line),
            "no {line:?} in the output\n{}",
            own.report()
        );
    }
    // Another origin learns the state alone.
    assert_status(&mut foreign, "building");
    let bare = assert_status(&mut foreign, "failed");
    assert!(
        bare.field("cause").is_none() && bare.field("output").is_none(),
        "{}",
        foreign.report()
    );
    s.wait_for_text(&format!(
        "~> build failed: it exited with status 3; pid {first} keeps serving the last build"
    ));
    // Nothing reloads: the old version serves on.
    own.silent_for(Duration::from_secs(1), || s.report());
    assert_version(&get(app, &s), "v1", || s.report());

    // Fixed: building, then ok just before the reload, into the new version.
    dir.write("src/build.sh", "echo v2 > build/version.txt\n");
    assert_status(&mut own, "building");
    assert_status(&mut own, "ok");
    assert_reload(&mut own, Some("v2"), &s);
    assert_status(&mut foreign, "building");
    assert_status(&mut foreign, "ok");
    assert_reload(&mut foreign, None, &s);
    // The plain client was told nothing but the reload.
    assert_reload(&mut plain, None, &s);
    assert_version(&get(app, &s), "v2", || s.report());
    let told = told(&mut s);
    assert!(told.ends_with("~> live reload: 3 pages"), "{}", s.report());
    assert_eq!(told_count(&s), 2, "{}", s.report());
}

/// The times of the app's `events.txt` lines named `event`.
fn events(dir: &Project, event: &str) -> Vec<f64> {
    std::fs::read_to_string(dir.path("events.txt"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.strip_prefix(event)?.trim().parse().ok())
        .collect()
}

#[test]
#[cfg_attr(
    not(has_python_websocket),
    ignore = "needs Python's websocket module for /usr/bin/python3 (Debian: python3-websocket)"
)]
fn with_signal_the_reload_follows_ready() {
    let dir = project("v1 notify hup");
    let (mut s, app, live) = start(&dir, VERSION, &["--signal", "HUP"]);
    let pid = first_start(&mut s);
    let mut client = Client::connect(live, &[OFFICIAL_7], Origin::Default, Some(app));
    assert_hello(&mut client, false);
    for n in 2..=4 {
        let version = format!("v{n}");
        dir.write(VERSION, &format!("{version} notify hup"));
        s.wait_for_text(&format!("~> sending SIGHUP to pid {pid} (--signal)"));
        // The app rereads its version 0.4 s after the signal and then
        // sends READY=1: the reload comes after that, and a GET gets the
        // new version.
        let at = assert_reload(&mut client, Some(&version), &s);
        let ready = events(&dir, "ready");
        let hup = events(&dir, "hup");
        assert_eq!(
            (hup.len(), ready.len()),
            (n - 1, n - 1),
            "{:?}\n{}",
            std::fs::read_to_string(dir.path("events.txt")),
            s.report()
        );
        let ready = ready[n - 2];
        assert!(
            at > ready,
            "the reload came {:.3} s before READY=1 (the signal: {:.3} s before it)\n{}",
            ready - at,
            ready - hup[n - 2],
            s.report()
        );
        let told = told(&mut s);
        assert!(told.ends_with("~> live reload: 1 page"), "{}", s.report());
    }
    assert_eq!(s.count("~> started pid"), 1, "{}", s.report());
}

#[test]
fn a_livereload_address_taken_is_an_error() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let dir = Project::new(&["src"]);
    // IP:PORT, and a bare port, which is 127.0.0.1's.
    for given in [addr.to_string(), addr.port().to_string()] {
        let ran = systemfd()
            .current_dir(dir.root())
            .args(["-s", "0", "-w", "src", "--livereload", &given, "--"])
            .args(["sh", "-c", "touch ran"])
            .output()
            .assert_code(1)
            .assert_stderr_contains("systemfd: error: ")
            .assert_stderr_contains(&format!("on {addr}"));
        assert!(!dir.path("ran").exists(), "{}", ran.report());
    }
}

/// The LiveReload protocol's own port, the default.
const DEFAULT_PORT: u16 = 35729;

#[test]
fn the_default_port_taken_falls_back_to_a_free_one() {
    // Taken here if it is free; if something else has it, systemfd falls
    // back all the same (unless it was freed meanwhile).
    let held = TcpListener::bind(("127.0.0.1", DEFAULT_PORT)).ok();
    let dir = Project::new(&["src"]);
    let mut s = systemfd()
        .current_dir(dir.root())
        .args(["-s", "0", "-w", "src", "--livereload", "--"])
        .args(["sh", "-c", r#"echo "url=$SYSTEMFD_LIVERELOAD_URL""#])
        .spawn();
    let line = s.wait_for_text("~> live reload: http://");
    let live = addr_in(&line);
    let fell_back =
        format!("~> live reload: 127.0.0.1:{DEFAULT_PORT} is taken; serving on {live} instead");
    if held.is_some() || live.port() != DEFAULT_PORT {
        assert_ne!(live.port(), DEFAULT_PORT, "{}", s.report());
        assert!(s.saw(&fell_back), "{}", s.report());
    }
    let url = format!("http://{live}/livereload.js");
    assert!(
        line.ends_with(&format!(
            "~> live reload: {url} (in SYSTEMFD_LIVERELOAD_URL for the command)"
        )),
        "{}",
        s.report()
    );
    assert_eq!(s.wait_for_text("url="), format!("url={url}"));
    // It works: the script is served there.
    let script = http::request(live, "GET", "/livereload.js", &[], DEADLINE)
        .unwrap_or_else(|e| panic!("{e}\n{}", s.report()));
    assert_eq!(script.status, 200, "{script:?}");
    assert!(script.text().contains("/livereload"), "{script:?}");
    drop(held);
}

#[test]
fn the_script_url_reaches_the_command_only_with_livereload() {
    const SHOW: &str = r#"echo "url=${SYSTEMFD_LIVERELOAD_URL-unset}""#;
    const STALE: &str = "http://127.0.0.1:9/stale/livereload.js";
    let dir = Project::new(&["src"]);
    // Exec mode: an inherited one is not passed on.
    let ran = systemfd()
        .current_dir(dir.root())
        .env("SYSTEMFD_LIVERELOAD_URL", STALE)
        .args(["-s", "0", "--", "sh", "-c", SHOW])
        .success();
    assert!(
        ran.stdout().lines().any(|l| l == "url=unset"),
        "{}",
        ran.report()
    );
    // Supervise mode without --livereload: neither.
    let mut s = systemfd()
        .current_dir(dir.root())
        .env("SYSTEMFD_LIVERELOAD_URL", STALE)
        .args(["-s", "0", "-w", "src", "--", "sh", "-c", SHOW])
        .spawn();
    assert_eq!(s.wait_for_text("url="), "url=unset", "{}", s.report());
    drop(s);
    // With it, a bare port: the script's URL on 127.0.0.1.
    let port = free_port();
    let mut s = systemfd()
        .current_dir(dir.root())
        .env("SYSTEMFD_LIVERELOAD_URL", STALE)
        .args(["-s", "0", "-w", "src", "--livereload", &port.to_string()])
        .args(["--", "sh", "-c", SHOW])
        .spawn();
    let url = format!("http://127.0.0.1:{port}/livereload.js");
    s.wait_for_text(&format!(
        "~> live reload: {url} (in SYSTEMFD_LIVERELOAD_URL for the command)"
    ));
    assert_eq!(
        s.wait_for_text("url="),
        format!("url={url}"),
        "{}",
        s.report()
    );
}

#[test]
fn the_script_is_served_and_the_error_page_includes_it() {
    let dir = project("v1");
    let (mut s, app, live) = start(&dir, VERSION, &[]);
    let pid = first_start(&mut s);
    let url = format!("http://{live}/livereload.js");
    assert!(get(app, &s).contains(&format!("<script src=\"{url}\">")));

    let script = http::request(live, "GET", "/livereload.js", &[], DEADLINE)
        .unwrap_or_else(|e| panic!("{e}\n{}", s.report()));
    assert_eq!(script.status, 200, "{script:?}");
    assert!(
        script
            .header("Content-Type")
            .is_some_and(|t| t.contains("javascript")),
        "{script:?}"
    );
    assert!(script.text().contains("official-7"), "{script:?}");
    // The WebSocket's path without the upgrade.
    let plain = http::request(live, "GET", "/livereload", &[], DEADLINE)
        .unwrap_or_else(|e| panic!("{e}\n{}", s.report()));
    assert_eq!(plain.status, 426, "{plain:?}");

    // While nothing serves, the error page loads the script too.
    signal(pid, Signal::KILL);
    s.wait_for_text(&format!(
        "~> answering http://{app}/ with an error page until a server is ready"
    ));
    let page = http::request(
        app,
        "GET",
        "/",
        &[&format!("Host: {app}"), "Accept: text/html"],
        DEADLINE,
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", s.report()));
    http::assert_error_page(&page, "text/html", || s.report());
    assert!(
        page.text()
            .contains(&format!("<script src=\"{url}\"></script>")),
        "{}",
        page.text()
    );
}

/// What the tab received ([`Browser::network`]), kept across calls.
struct Network {
    lines: Vec<String>,
}

impl Network {
    fn new() -> Network {
        Network { lines: Vec::new() }
    }

    /// Waits until the tab's script has been greeted since the last call:
    /// from then on the page is told of a reload.
    fn wait_hello(&mut self, browser: &mut Browser, s: &Running) {
        let mut greeted = false;
        let found = holds_within(Duration::from_secs(10), || {
            for line in browser.network() {
                greeted |=
                    line.starts_with("ws-received ") && line.contains(r#""command":"hello""#);
                self.lines.push(line);
            }
            greeted
        });
        assert!(
            found,
            "the tab's script was not greeted within 10 s: {:?}\n{}\n{}",
            self.lines,
            s.report(),
            browser.report()
        );
    }

    /// The statuses of the pages loaded from `url`, in order.
    fn documents(&mut self, browser: &mut Browser, url: &str) -> Vec<u16> {
        self.lines.extend(browser.network());
        self.lines
            .iter()
            .filter_map(|line| {
                let (status, at) = line.strip_prefix("document ")?.split_once(' ')?;
                (at == url).then(|| status.parse().unwrap_or(0))
            })
            .collect()
    }
}

/// The versions the tab's loads of the app noted, in order.
fn versions_shown(browser: &mut Browser) -> Vec<String> {
    let json = browser.script("return JSON.parse(sessionStorage.getItem('versions') || '[]')");
    json.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .map(|v| v.trim().trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
        .collect()
}

/// The number of version `vN`.
fn number(version: &str) -> u32 {
    version
        .strip_prefix('v')
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a version: {version:?}"))
}

#[test]
#[cfg_attr(
    not(has_browser),
    ignore = "needs Chromium, chromedriver and Selenium (Debian: chromium, chromium-driver, python3-selenium)"
)]
fn a_page_with_the_script_reloads_into_each_new_version() {
    let mut browser = Browser::start();
    let dir = project("v1");
    let (mut s, app, _) = start(&dir, VERSION, &[]);
    first_start(&mut s);
    let url = format!("http://{app}/");
    let mut network = Network::new();
    browser
        .open(&url, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", s.report()));
    browser
        .wait_text(&says("v1"), Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("{e}\n{}", s.report()));
    network.wait_hello(&mut browser, &s);
    for n in 2..=5 {
        let version = format!("v{n}");
        dir.write(VERSION, &version);
        browser
            .wait_text(&says(&version), Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{e}\n{}\n{}", s.report(), browser.report()));
        let told = told(&mut s);
        assert!(told.ends_with("~> live reload: 1 page"), "{}", s.report());
        network.wait_hello(&mut browser, &s);
    }
    // Each load noted its version: never an older one after a newer one,
    // every version shown, and never the error page.
    let shown = versions_shown(&mut browser);
    let numbers: Vec<u32> = shown.iter().map(|v| number(v)).collect();
    assert!(
        numbers.windows(2).all(|w| w[0] <= w[1]),
        "the tab showed {shown:?}\n{}",
        s.report()
    );
    let mut distinct = numbers.clone();
    distinct.dedup();
    assert_eq!(distinct, [1, 2, 3, 4, 5], "the tab showed {shown:?}");
    let documents = network.documents(&mut browser, &url);
    assert!(
        documents.iter().all(|&status| status == 200) && documents.len() == shown.len(),
        "pages loaded: {documents:?}, versions shown: {shown:?}\n{}",
        s.report()
    );
}

#[test]
#[cfg_attr(
    not(has_browser),
    ignore = "needs Chromium, chromedriver and Selenium (Debian: chromium, chromium-driver, python3-selenium)"
)]
fn a_page_keeps_the_old_version_and_shows_a_failed_build() {
    let mut browser = Browser::start();
    let dir = built_project();
    let (mut s, app, _) = start_built(&dir);
    first_start(&mut s);
    let url = format!("http://{app}/");
    let mut network = Network::new();
    browser
        .open(&url, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", s.report()));
    browser
        .wait_text(&says("v1"), Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("{e}\n{}", s.report()));
    network.wait_hello(&mut browser, &s);

    dir.write("src/build.sh", FAILING_BUILD);
    browser
        .wait_text(
            "systemfd: the new version failed: this page is the previous one",
            Duration::from_secs(10),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", s.report(), browser.report()));
    let text = browser.text();
    for shown in [
        &says("v1")[..],
        "exited with status 3",
        "compiling v2",
        "error: mismatched types",
    ] {
        assert!(text.contains(shown), "no {shown:?} in the tab: {text}");
    }
    assert_eq!(versions_shown(&mut browser), ["v1"], "{}", s.report());
    // The banner goes when dismissed.
    assert_eq!(browser.count("[role=status]"), 1, "{text}");
    browser.script("document.querySelector('[role=status] button').click()");
    assert_eq!(browser.count("[role=status]"), 0, "{}", browser.text());

    // Fixed, slowly: "rebuilding…" meanwhile, then the new version.
    dir.write("src/build.sh", "sleep 1\necho v2 > build/version.txt\n");
    browser
        .wait_text("systemfd: rebuilding", Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", s.report(), browser.report()));
    browser
        .wait_text(&says("v2"), Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", s.report(), browser.report()));
    assert_eq!(browser.count("[role=status]"), 0, "{}", browser.text());
    assert_eq!(versions_shown(&mut browser), ["v1", "v2"], "{}", s.report());
    let documents = network.documents(&mut browser, &url);
    assert_eq!(documents, [200, 200], "{}", s.report());
}

#[test]
#[cfg_attr(
    not(has_browser),
    ignore = "needs Chromium, chromedriver and Selenium (Debian: chromium, chromium-driver, python3-selenium)"
)]
fn the_error_page_loads_the_script_and_reloads_into_the_fixed_app() {
    let mut browser = Browser::start();
    let dir = project("v1");
    let (mut s, app, live) = start(&dir, VERSION, &[]);
    let pid = first_start(&mut s);
    let url = format!("http://{app}/");
    let mut network = Network::new();

    // The app dies: the error page answers, with the script.
    signal(pid, Signal::KILL);
    s.wait_for_text(&format!(
        "~> answering {url} with an error page until a server is ready"
    ));
    browser
        .open(&url, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", s.report()));
    browser
        .wait_text(
            &format!("pid {pid} was killed by SIGKILL"),
            Duration::from_secs(5),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", s.report(), browser.report()));
    let script = format!("script[src=\"http://{live}/livereload.js\"]");
    assert_eq!(browser.count(&script), 1, "{}", browser.text());
    network.wait_hello(&mut browser, &s);

    // Fixed: the tab shows it by itself.
    dir.write(VERSION, "v2");
    browser
        .wait_text(&says("v2"), Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", s.report(), browser.report()));
    assert_eq!(versions_shown(&mut browser), ["v2"], "{}", s.report());
    let documents = network.documents(&mut browser, &url);
    assert_eq!(documents.first(), Some(&503), "{documents:?}");
    assert_eq!(documents.last(), Some(&200), "{documents:?}");
}
