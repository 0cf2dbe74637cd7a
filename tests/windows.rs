//! The Windows build, run under Wine: `systemfd.exe` serves its sockets
//! through the socket server to a consumer built on the real `listenfd` crate
//! (examples/probe.rs), keeps serving whatever other local clients send, ties
//! the command's process tree to its own lifetime, and behaves like the Unix
//! build at the edges (output, exit status, `-q`).
//!
//! The tests build what they run: the Windows binaries (target
//! `x86_64-pc-windows-gnu`, linked by mingw as `.cargo/config.toml` says) and
//! the `bcryptprimitives.dll` shim in `tests/wine/`, without which Wine 8
//! cannot start a Rust program. All of them share one fresh Wine prefix.
//!
//! They need Wine (`/usr/lib/wine/wine64` from Debian's `wine64`, or the path
//! in `SYSTEMFD_WINE`), mingw (`gcc-mingw-w64-x86-64`) and the Rust target
//! (`rustup target add x86_64-pc-windows-gnu`). When one is missing every test
//! here fails and says what to install; `SYSTEMFD_SKIP_WINE=1` skips them
//! instead, and says so.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{self, BufRead as _, BufReader, Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

mod util;

use systemfd::socket_server::{MAX_REQUEST_LEN, PROTOCOL_INFO_LEN};

const TARGET: &str = "x86_64-pc-windows-gnu";

/// How long any single wait may take: Wine starts processes slowly on a busy
/// machine.
const DEADLINE: Duration = Duration::from_secs(60);

/// How long systemfd gives the command after Ctrl-C (`CTRL_C_GRACE`).
const CTRL_C_GRACE: Duration = Duration::from_secs(3);

/// `STATUS_CONTROL_C_EXIT` (0xC000013A) as Wine reports it to Linux: the low
/// byte of the Windows exit code.
const CONTROL_C_EXIT_LOW_BYTE: i32 = 0x3a;

// ---------------------------------------------------------------------------
// Setting up Wine, once for all tests.

struct Wine {
    wine: PathBuf,
    prefix: PathBuf,
    /// Where `systemfd.exe` is; `examples\probe.exe` is below it.
    bin: PathBuf,
}

/// The shared Wine set-up, or `None` when `SYSTEMFD_SKIP_WINE=1`. Panics with
/// what is missing when Wine cannot run the Windows build.
fn wine() -> Option<&'static Wine> {
    if std::env::var_os("SYSTEMFD_SKIP_WINE").is_some_and(|v| v == "1") {
        // Once, and past the test harness's capture, so that it is seen.
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| {
            let _ = writeln!(
                io::stderr(),
                "tests/windows.rs: SKIPPED, SYSTEMFD_SKIP_WINE=1: the Windows build is not tested"
            );
        });
        return None;
    }
    static WINE: OnceLock<Result<Wine, String>> = OnceLock::new();
    match WINE.get_or_init(set_up) {
        Ok(wine) => Some(wine),
        Err(problem) => panic!(
            "the Windows tests cannot run under Wine: {problem}\n\
             (SYSTEMFD_SKIP_WINE=1 skips them)"
        ),
    }
}

fn set_up() -> Result<Wine, String> {
    let started = Instant::now();
    let wine = std::env::var_os("SYSTEMFD_WINE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/wine/wine64"));
    if !wine.is_file() {
        return Err(format!(
            "{} does not exist (Debian: apt-get install wine64; or set SYSTEMFD_WINE)",
            wine.display()
        ));
    }
    let wineserver = wine.with_file_name("wineserver");
    if !wineserver.is_file() {
        return Err(format!("{} does not exist", wineserver.display()));
    }
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let target_dir = tmp.parent().ok_or("CARGO_TARGET_TMPDIR has no parent")?;
    build_windows_binaries(target_dir)?;
    let bin = target_dir.join(TARGET).join("debug");
    build_shim(&bin)?;
    let built = started.elapsed();
    let prefix = fresh_prefix(tmp, &wine, &wineserver)?;
    let wine = Wine { wine, prefix, bin };
    // A plain run of the probe proves that Wine can start a Rust program.
    let ran = Run::start(wine.command("examples\\probe.exe")).finish();
    if ran.code() != Some(0) || !ran.stdout().contains("count=0") {
        return Err(format!(
            "Wine cannot run the Windows build of the probe\n{}",
            ran.report()
        ));
    }
    eprintln!(
        "Wine is ready after {:.1?} (of which building {built:.1?})",
        started.elapsed()
    );
    Ok(wine)
}

fn build_windows_binaries(target_dir: &Path) -> Result<(), String> {
    match Command::new("x86_64-w64-mingw32-gcc")
        .arg("--version")
        .output()
    {
        Ok(out) if out.status.success() => {}
        _ => {
            return Err(
                "x86_64-w64-mingw32-gcc cannot run (Debian: apt-get install gcc-mingw-w64-x86-64)"
                    .into(),
            )
        }
    }
    // `cargo test` does not hold the build lock while tests run.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let out = Command::new(env!("CARGO"))
        .args([
            "build",
            "--target",
            TARGET,
            "--bin",
            "systemfd",
            "--example",
            "probe",
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cannot build the Windows binaries (is the target installed? \
             rustup target add {TARGET}):\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// Builds `bcryptprimitives.dll` and puts it beside both programs.
fn build_shim(bin: &Path) -> Result<(), String> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wine");
    let built = bin.join(format!("bcryptprimitives.dll.{}", std::process::id()));
    let out = Command::new("x86_64-w64-mingw32-gcc")
        .args(["-shared", "-O2", "-s", "-o"])
        .arg(&built)
        .arg(source.join("bcryptprimitives.c"))
        .arg(source.join("bcryptprimitives.def"))
        .arg("-lbcrypt")
        .output()
        .map_err(|e| format!("cannot run x86_64-w64-mingw32-gcc: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cannot build the bcryptprimitives.dll shim:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    // Renamed into place, so a concurrent run never loads a partial file.
    let in_examples = bin.join("examples").join(built.file_name().unwrap());
    std::fs::copy(&built, &in_examples)
        .and_then(|_| std::fs::rename(&in_examples, bin.join("examples/bcryptprimitives.dll")))
        .and_then(|()| std::fs::rename(&built, bin.join("bcryptprimitives.dll")))
        .map_err(|e| format!("cannot place the shim beside the programs: {e}"))
}

/// A new Wine prefix for this test process, with a wineserver of its own
/// that holds none of our pipes. Prefixes left by earlier test processes
/// (gone now) are removed first: each is some 700 MB.
fn fresh_prefix(tmp: &Path, wine: &Path, wineserver: &Path) -> Result<PathBuf, String> {
    if let Ok(entries) = std::fs::read_dir(tmp) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("wine-")) else {
                continue;
            };
            if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
                let _ = Command::new(wineserver)
                    .arg("-k")
                    .env("WINEPREFIX", entry.path())
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let prefix = tmp.join(format!("wine-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&prefix);
    std::fs::create_dir_all(&prefix)
        .map_err(|e| format!("cannot create {}: {e}", prefix.display()))?;

    let log_path = prefix.join("wineboot.log");
    let log = std::fs::File::create(&log_path)
        .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let quiet = |program: &Path, args: &[&str]| {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env("WINEPREFIX", &prefix)
            .env("WINEDEBUG", "-all")
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    };
    // Wine's own processes (the server; services.exe and the like, which
    // wineboot starts) keep the stdio of whoever started them open while they
    // run, so they get none of the pipes the tests read.
    let status = quiet(wineserver, &["-p30"])
        .status()
        .map_err(|e| format!("cannot run {}: {e}", wineserver.display()))?;
    if !status.success() {
        return Err(format!("{} -p30 failed: {status}", wineserver.display()));
    }
    let mut init = quiet(wine, &["wineboot", "--init"])
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", wine.display()))?;
    let status = util::wait_with_deadline(&mut init, Duration::from_secs(300));
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    match status {
        Some(status) if status.success() => Ok(prefix),
        Some(status) => Err(format!("wineboot --init failed ({status}):\n{}", log())),
        None => Err(format!("wineboot --init did not finish:\n{}", log())),
    }
}

impl Wine {
    /// `wine64 PROGRAM`, run in the directory of the Windows binaries.
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(&self.wine);
        cmd.arg(program)
            .current_dir(&self.bin)
            .env("WINEPREFIX", &self.prefix)
            .env("WINEDEBUG", "-all")
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY");
        cmd
    }

    fn systemfd<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.command("systemfd.exe");
        cmd.args(args);
        cmd
    }
}

// ---------------------------------------------------------------------------
// Running a Wine process and reading its output.

#[derive(Clone, Debug)]
enum Line {
    Out(String),
    Err(String),
}

/// A process under Wine; killed when dropped (and with it, through
/// systemfd's job object, the command).
struct Run {
    description: String,
    child: Child,
    stdin: Option<ChildStdin>,
    /// Lines as they come; `None` when one of the two streams ends.
    lines: mpsc::Receiver<Option<Line>>,
    open_streams: usize,
    seen: Vec<Line>,
}

impl Run {
    fn start(mut cmd: Command) -> Run {
        let description = std::iter::once(cmd.get_program())
            .chain(cmd.get_args())
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {description}: {e}"));
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let tx_err = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(Some(Line::Out(line)));
            }
            let _ = tx.send(None);
        });
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx_err.send(Some(Line::Err(line)));
            }
            let _ = tx_err.send(None);
        });
        Run {
            description,
            stdin: child.stdin.take(),
            child,
            lines,
            open_streams: 2,
            seen: Vec::new(),
        }
    }

    /// Waits for a line (stdout or stderr) that satisfies `pred`.
    fn wait_for(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + DEADLINE;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(Some(line)) => {
                    self.seen.push(line.clone());
                    let (Line::Out(text) | Line::Err(text)) = line;
                    if pred(&text) {
                        return text;
                    }
                }
                Ok(None) => self.open_streams -= 1,
                Err(_) => panic!("no line {what} within {DEADLINE:?}\n{}", self.report()),
            }
            if self.open_streams == 0 {
                panic!("the output ended without a line {what}\n{}", self.report());
            }
        }
    }

    fn wait_for_text(&mut self, needle: &str) -> String {
        self.wait_for(&format!("containing {needle:?}"), |l| l.contains(needle))
    }

    /// Writes a line to the process's stdin (the probe's `wait` goes on).
    fn release(&mut self) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin.write_all(b"go\n").expect("write to stdin");
        stdin.flush().expect("flush stdin");
    }

    /// Waits for the exit and for the rest of the output.
    fn finish(mut self) -> Finished {
        drop(self.stdin.take());
        let status = util::wait_with_deadline(&mut self.child, DEADLINE)
            .unwrap_or_else(|| panic!("{} did not exit\n{}", self.description, self.report()));
        // What the process wrote is in the pipes already. Wine's own
        // processes, when this one started them, may hold the pipes open for
        // a while longer, so the end of the output is not waited for.
        while self.open_streams > 0 {
            match self.lines.recv_timeout(Duration::from_secs(1)) {
                Ok(Some(line)) => self.seen.push(line),
                Ok(None) => self.open_streams -= 1,
                Err(_) => break,
            }
        }
        Finished {
            description: self.description.clone(),
            status,
            seen: std::mem::take(&mut self.seen),
        }
    }

    fn report(&self) -> String {
        report_lines(&self.description, None, &self.seen)
    }

    /// The `key=value` lines the probe printed so far.
    fn probe_report(&self) -> BTreeMap<String, String> {
        key_values(&self.seen)
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Finished {
    description: String,
    status: ExitStatus,
    seen: Vec<Line>,
}

impl Finished {
    fn code(&self) -> Option<i32> {
        self.status.code()
    }

    fn stdout(&self) -> String {
        self.lines(|l| matches!(l, Line::Out(_)))
    }

    fn stderr(&self) -> String {
        self.lines(|l| matches!(l, Line::Err(_)))
    }

    fn lines(&self, which: impl Fn(&Line) -> bool) -> String {
        self.seen
            .iter()
            .filter(|l| which(l))
            .map(|(Line::Out(t) | Line::Err(t))| format!("{t}\n"))
            .collect()
    }

    fn report(&self) -> String {
        report_lines(&self.description, Some(self.status), &self.seen)
    }

    fn assert_code(&self, code: i32) {
        assert_eq!(
            self.code(),
            Some(code),
            "unexpected status\n{}",
            self.report()
        );
    }

    fn assert_stderr_contains(&self, needle: &str) {
        assert!(
            self.stderr().contains(needle),
            "stderr lacks {needle:?}\n{}",
            self.report()
        );
    }
}

fn report_lines(description: &str, status: Option<ExitStatus>, seen: &[Line]) -> String {
    let mut text = format!("command: {description}\n");
    if let Some(status) = status {
        text.push_str(&format!("status: {status}\n"));
    }
    for line in seen {
        match line {
            Line::Out(t) => text.push_str(&format!("out| {t}\n")),
            Line::Err(t) => text.push_str(&format!("err| {t}\n")),
        }
    }
    text
}

fn key_values(seen: &[Line]) -> BTreeMap<String, String> {
    seen.iter()
        .filter_map(|l| match l {
            Line::Out(t) => t.split_once('='),
            Line::Err(_) => None,
        })
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

// ---------------------------------------------------------------------------
// Talking to the sockets from Linux.

/// The `127.0.0.1:PORT` in a line such as `~> socket 127.0.0.1:5000 (tcp
/// listener) -> socket #0` or `socket0=tcp 127.0.0.1:5000 …`.
fn addr_in(line: &str) -> SocketAddr {
    let start = line
        .find("127.0.0.1:")
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    let rest = &line[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':'))
        .unwrap_or(rest.len());
    rest[..end]
        .parse()
        .unwrap_or_else(|e| panic!("bad address in {line:?}: {e}"))
}

/// The probe's answer to one line sent to its TCP socket: `PID LINE`.
fn ask(addr: SocketAddr, line: &str) -> String {
    let mut stream = TcpStream::connect_timeout(&addr, DEADLINE)
        .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    writeln!(stream, "{line}").unwrap();
    let mut answer = String::new();
    BufReader::new(&stream)
        .read_line(&mut answer)
        .unwrap_or_else(|e| panic!("no answer from {addr}: {e}"));
    answer.trim_end().to_owned()
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
    let end = Instant::now() + DEADLINE;
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => return,
            _ if Instant::now() > end => panic!("{addr} still accepts connections"),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Sends SIGINT to a process, or to a process group when `pid` is negative.
fn interrupt(pid: libc::pid_t) {
    // SAFETY: kill sends a signal; it reads no memory.
    let rv = unsafe { libc::kill(pid, libc::SIGINT) };
    assert_eq!(rv, 0, "kill({pid}, SIGINT): {}", io::Error::last_os_error());
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
fn serves_its_socket_to_a_listenfd_consumer() {
    let Some(wine) = wine() else { return };
    let mut cmd = wine.systemfd(["-s", "tcp::0", "--", "examples\\probe.exe", "serve"]);
    // Stale variables from an outer activation must not reach the command.
    cmd.env("LISTEN_FDS", "4")
        .env("LISTEN_PID", "1")
        .env("LISTEN_FDS_FIRST_FD", "9")
        .env("LISTEN_FDNAMES", "stale")
        .env("SYSTEMFD_SOCKET_SERVER", "127.0.0.1:1")
        .env(
            "SYSTEMFD_SOCKET_SECRET",
            "00000000-0000-4000-8000-000000000000",
        );
    let mut run = Run::start(cmd);
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
fn replies_one_protocol_info_per_socket_in_order() {
    let Some(wine) = wine() else { return };
    let mut run = Run::start(wine.systemfd([
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
    ]));
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
    run.release();
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
fn hostile_clients_do_not_stop_the_socket_server() {
    let Some(wine) = wine() else { return };
    let mut run =
        Run::start(wine.systemfd(["-s", "tcp::0", "--", "examples\\probe.exe", "wait", "serve"]));
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

    run.release();
    run.wait_for_text("serving");
    let report = run.probe_report();
    assert_eq!(report["count"], "1", "{}", run.report());
    assert_eq!(addr_in(&report["socket0"]), addr);
    assert_eq!(ask(addr, "still here"), format!("{pid} still here"));

    // Every report was a rejection, with the client's address.
    let reports = run.seen.iter().filter_map(|l| match l {
        Line::Err(t) if t.contains("socket server") => Some(t),
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
fn exit_status_is_the_commands() {
    let Some(wine) = wine() else { return };
    let ran = Run::start(wine.systemfd(["-s", "tcp::0", "--", "cmd", "/c", "exit 7"])).finish();
    ran.assert_code(7);
    ran.assert_stderr_contains("-> socket #0");

    // Without sockets: no server, and stale server variables are removed.
    let mut cmd = wine.systemfd(["--", "examples\\probe.exe"]);
    cmd.env("SYSTEMFD_SOCKET_SERVER", "127.0.0.1:1").env(
        "SYSTEMFD_SOCKET_SECRET",
        "00000000-0000-4000-8000-000000000000",
    );
    let ran = Run::start(cmd).finish();
    ran.assert_code(0);
    ran.assert_stderr_contains("~> warning: no sockets given (-s)");
    let report = key_values(&ran.seen);
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
fn failures_are_reported_with_the_unix_exit_codes() {
    let Some(wine) = wine() else { return };
    let ran = Run::start(wine.systemfd(["-s", "tcp::0", "--", "no-such-command"])).finish();
    ran.assert_code(127);
    ran.assert_stderr_contains("systemfd: error: cannot run 'no-such-command'");

    let ran = Run::start(wine.systemfd(["-s", "unix::/tmp/x.sock", "--", "cmd"])).finish();
    ran.assert_code(2);
    ran.assert_stderr_contains("systemfd: error:");
    ran.assert_stderr_contains("not supported on this platform");

    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let spec = taken.local_addr().unwrap().to_string();
    let ran = Run::start(wine.systemfd(["-s", &spec, "--", "cmd", "/c", "exit 0"])).finish();
    ran.assert_code(1);
    ran.assert_stderr_contains(&format!("systemfd: error: cannot create socket '{spec}'"));
    assert!(ran.stdout().is_empty(), "{}", ran.report());
}

#[test]
fn quiet_prints_nothing_not_even_rejections() {
    let Some(wine) = wine() else { return };
    let mut run =
        Run::start(wine.systemfd(["-q", "-s", "tcp::0", "--", "examples\\probe.exe", "wait"]));
    run.wait_for_text("waiting");
    let server: SocketAddr = run.probe_report()["SYSTEMFD_SOCKET_SERVER"]
        .parse()
        .unwrap();
    assert_eq!(request(server, b"not a request"), b"");
    run.release();
    let ran = run.finish();
    ran.assert_code(0);
    assert!(ran.stdout().contains("count=1"), "{}", ran.report());
    assert_eq!(ran.stderr(), "", "{}", ran.report());
}

#[test]
fn ports_are_claimed_exclusively() {
    let Some(wine) = wine() else { return };
    let mut run = Run::start(wine.systemfd([
        "-s",
        "tcp::0",
        "-s",
        "udp::0",
        "--",
        "examples\\probe.exe",
        "serve",
    ]));
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
    let mut hijack = wine.command("examples\\probe.exe");
    hijack.args(["bind-reuse", &addr.to_string()]);
    let hijack = Run::start(hijack).finish();
    hijack.assert_code(1);
    assert!(
        hijack.stdout().starts_with("bind failed"),
        "{}",
        hijack.report()
    );
    assert_eq!(ask(addr, "mine"), format!("{} mine", report["pid"]));
}

#[test]
fn no_reuse_claims_nothing() {
    let Some(wine) = wine() else { return };
    let mut run = Run::start(wine.systemfd([
        "--no-reuse",
        "-s",
        "tcp::0",
        "-s",
        "udp::0",
        "--",
        "examples\\probe.exe",
        "serve",
    ]));
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
fn ctrl_c_reaches_the_command_and_systemfd_exits_with_its_status() {
    let Some(wine) = wine() else { return };
    let mut cmd = wine.systemfd(["-s", "tcp::0", "--", "examples\\probe.exe", "serve"]);
    cmd.process_group(0);
    let mut run = Run::start(cmd);
    let addr = addr_in(&run.wait_for_text("-> socket #0"));
    run.wait_for_text("serving");
    let group = run.child.id() as libc::pid_t;
    interrupt(-group);
    let ran = run.finish();
    // The probe's handler exits with 3; systemfd waited for it, and did not
    // have to end it.
    ran.assert_code(3);
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
fn ctrl_c_ends_a_command_that_does_not_exit() {
    let Some(wine) = wine() else { return };
    let mut run = Run::start(wine.systemfd([
        "-s",
        "tcp::0",
        "--",
        "cmd",
        "/c",
        "examples\\probe.exe serve",
    ]));
    let addr = addr_in(&run.wait_for_text("-> socket #0"));
    run.wait_for_text("serving");
    let sent = Instant::now();
    interrupt(run.child.id() as libc::pid_t);
    let ran = run.finish();
    ran.assert_code(CONTROL_C_EXIT_LOW_BYTE);
    ran.assert_stderr_contains("~> ending the command and the processes it started");
    assert!(!ran.stdout().contains("interrupted"), "{}", ran.report());
    assert!(sent.elapsed() >= CTRL_C_GRACE, "{:?}", sent.elapsed());
    // The probe was a grandchild (under cmd); it is gone too.
    wait_until_refused(addr);
}

#[test]
fn killing_systemfd_ends_the_command_tree() {
    let Some(wine) = wine() else { return };
    let mut run = Run::start(wine.systemfd([
        "-s",
        "tcp::0",
        "--",
        "cmd",
        "/c",
        "examples\\probe.exe serve",
    ]));
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
