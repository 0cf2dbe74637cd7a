//! The harness the integration tests drive the real binary with.
//!
//! On failure every assertion prints the command, its status, stdout and
//! stderr. Waits are bounded by deadlines, never bare sleeps.
#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long any single wait in a test may take.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// The systemfd binary under test.
pub fn systemfd_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_systemfd"))
}

/// A program from `examples/`, which `cargo test` builds next to the tests.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let path = dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} was not built; run `cargo test`, which builds examples",
        path.display()
    );
    path
}

/// A port that was free a moment ago (bound to port 0, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// A command line to run, with a readable report on failure.
pub struct TestCommand {
    cmd: Command,
}

pub fn systemfd() -> TestCommand {
    TestCommand::new(systemfd_path())
}

impl TestCommand {
    pub fn new(program: impl AsRef<OsStr>) -> TestCommand {
        let mut cmd = Command::new(program);
        cmd.stdin(Stdio::null());
        TestCommand { cmd }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.cmd.arg(arg);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.cmd.env(key, value);
        self
    }

    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.cmd.env_remove(key);
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<std::path::Path>) -> Self {
        self.cmd.current_dir(dir);
        self
    }

    pub fn describe(&self) -> String {
        let mut parts: Vec<OsString> = vec![self.cmd.get_program().to_owned()];
        parts.extend(self.cmd.get_args().map(OsStr::to_owned));
        parts
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Starts with stdout and stderr piped.
    fn start(mut self) -> (String, Child) {
        let description = self.describe();
        let child = self
            .cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {description}: {e}"));
        (description, child)
    }

    /// Runs to completion (bounded by [`DEADLINE`]) and returns the output.
    pub fn output(self) -> Ran {
        let (description, mut child) = self.start();
        let stdout = read_in_background(child.stdout.take().unwrap());
        let stderr = read_in_background(child.stderr.take().unwrap());
        let status = wait_with_deadline(&mut child, DEADLINE)
            .unwrap_or_else(|| panic!("{description} did not finish within {DEADLINE:?}"));
        Ran {
            description,
            output: Output {
                status,
                stdout: stdout.recv().unwrap_or_default(),
                stderr: stderr.recv().unwrap_or_default(),
            },
        }
    }

    /// Runs and asserts success.
    pub fn success(self) -> Ran {
        self.output().assert_code(0)
    }

    /// Starts without waiting; stderr is read line by line.
    pub fn spawn(self) -> Running {
        let (description, mut child) = self.start();
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let tx_out = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(Line::Stderr(line));
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx_out.send(Line::Stdout(line));
            }
        });
        Running {
            description,
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }
}

fn read_in_background(mut pipe: impl std::io::Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

/// Waits for `child` to exit, up to `limit`.
pub fn wait_with_deadline(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let end = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A finished run.
pub struct Ran {
    pub description: String,
    pub output: Output,
}

impl Ran {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    pub fn report(&self) -> String {
        format!(
            "command: {}\nstatus: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.description,
            self.output.status,
            self.stdout(),
            self.stderr()
        )
    }

    pub fn code(&self) -> Option<i32> {
        self.output.status.code()
    }

    pub fn assert_code(self, code: i32) -> Self {
        assert_eq!(
            self.code(),
            Some(code),
            "unexpected status\n{}",
            self.report()
        );
        self
    }

    pub fn assert_stderr_contains(self, needle: &str) -> Self {
        assert!(
            self.stderr().contains(needle),
            "stderr lacks {needle:?}\n{}",
            self.report()
        );
        self
    }

    pub fn assert_stdout_empty(self) -> Self {
        assert!(
            self.output.stdout.is_empty(),
            "stdout not empty\n{}",
            self.report()
        );
        self
    }
}

/// One line of a running process's output.
#[derive(Clone, Debug)]
pub enum Line {
    Stdout(String),
    Stderr(String),
}

impl Line {
    pub fn text(&self) -> &str {
        match self {
            Line::Stdout(s) | Line::Stderr(s) => s,
        }
    }
}

/// A process started with [`TestCommand::spawn`]; killed when dropped.
pub struct Running {
    pub description: String,
    pub child: Child,
    lines: mpsc::Receiver<Line>,
    /// Every line received so far, for failure reports.
    pub seen: Vec<Line>,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a line (stdout or stderr) matching `pred` and returns it.
    pub fn wait_for(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + DEADLINE;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(line.text()) {
                        return line.text().to_owned();
                    }
                }
                Err(_) => panic!("no line {what} within {DEADLINE:?}\n{}", self.report()),
            }
        }
    }

    /// Waits for a line containing `needle`.
    pub fn wait_for_text(&mut self, needle: &str) -> String {
        self.wait_for(&format!("containing {needle:?}"), |l| l.contains(needle))
    }

    /// Waits for the process to exit, with a deadline; collects remaining lines.
    pub fn wait(&mut self) -> ExitStatus {
        let status = wait_with_deadline(&mut self.child, DEADLINE)
            .unwrap_or_else(|| panic!("{} did not exit\n{}", self.description, self.report()));
        let end = Instant::now() + Duration::from_secs(2);
        while let Ok(line) = self
            .lines
            .recv_timeout(end.saturating_duration_since(Instant::now()))
        {
            self.seen.push(line);
        }
        status
    }

    pub fn report(&self) -> String {
        let lines: Vec<String> = self
            .seen
            .iter()
            .map(|l| match l {
                Line::Stdout(s) => format!("out| {s}"),
                Line::Stderr(s) => format!("err| {s}"),
            })
            .collect();
        format!("command: {}\n{}", self.description, lines.join("\n"))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
