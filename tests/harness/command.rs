//! Running a program the way a test needs it: output read as it comes, line
//! by line, so that a test can wait for a line; every wait bounded by a
//! deadline, never a bare sleep; on failure a report with the command, its
//! status, stdout and stderr.
//!
//! A [`TestCommand`] runs a program directly, or through a runner that takes
//! the program as its first argument: the Windows build runs under Wine
//! (`super::wine`) the way a cross-compiled build runs under an emulator.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::ffi::{OsStr, OsString};
use std::io::{ErrorKind, Read, Write as _};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::probe::probe_report;
use super::{number_after, DEADLINE};

/// How long the rest of the output may take once the process has exited.
/// What it wrote is in the pipes already; but a process it started may hold
/// them open for longer (Wine's own processes do), and that end of the output
/// is not waited for.
const DRAIN: Duration = Duration::from_secs(2);

/// A command line to run, with a readable report on failure.
pub struct TestCommand {
    cmd: Command,
    deadline: Duration,
    stdin: bool,
}

impl TestCommand {
    pub fn new(program: impl AsRef<OsStr>) -> TestCommand {
        TestCommand::from(Command::new(program))
    }

    /// `RUNNER PROGRAM ARGS…`: `program` runs under `runner` (Wine, an
    /// emulator), which passes it the arguments that follow.
    pub fn with_runner(runner: impl AsRef<OsStr>, program: impl AsRef<OsStr>) -> TestCommand {
        let mut cmd = Command::new(runner);
        cmd.arg(program);
        TestCommand::from(cmd)
    }

    fn from(cmd: Command) -> TestCommand {
        TestCommand {
            cmd,
            deadline: DEADLINE,
            stdin: false,
        }
    }

    /// How long each wait for this command may take (default [`DEADLINE`]).
    pub fn deadline(mut self, limit: Duration) -> Self {
        self.deadline = limit;
        self
    }

    /// Gives the process a pipe for stdin ([`Running::write_stdin`]), closed
    /// when the test waits for the exit; otherwise stdin is `/dev/null`.
    pub fn stdin_piped(mut self) -> Self {
        self.stdin = true;
        self
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

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.cmd.current_dir(dir);
        self
    }

    /// Starts the process in process group `group` (0: a new group of its
    /// own), as a shell does for a job.
    #[cfg(unix)]
    pub fn process_group(mut self, group: i32) -> Self {
        use std::os::unix::process::CommandExt as _;
        self.cmd.process_group(group);
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

    /// Runs to completion (bounded by the deadline) and returns the output.
    pub fn output(self) -> Ran {
        self.spawn().finish()
    }

    /// Runs and asserts success.
    pub fn success(self) -> Ran {
        self.output().assert_code(0)
    }

    /// Starts without waiting; the output is read line by line.
    pub fn spawn(mut self) -> Running {
        let description = self.describe();
        let stdin = if self.stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        };
        let mut child = self
            .cmd
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {description}: {e}"));
        let (tx, events) = mpsc::channel();
        read_pipe(child.stdout.take().unwrap(), Stream::Stdout, tx.clone());
        read_pipe(child.stderr.take().unwrap(), Stream::Stderr, tx);
        Running {
            description,
            stdin: child.stdin.take(),
            child,
            deadline: self.deadline,
            events,
            open_streams: 2,
            stdout: Vec::new(),
            stderr: Vec::new(),
            partial: [Vec::new(), Vec::new()],
            pending: VecDeque::new(),
            seen: Vec::new(),
            matched: HashSet::new(),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Stream {
    Stdout = 0,
    Stderr = 1,
}

/// Bytes as read from one stream; `None` at its end.
type Event = (Stream, Option<Vec<u8>>);

/// Sends what `pipe` gives as it comes, then the end of the stream.
fn read_pipe(mut pipe: impl Read + Send + 'static, stream: Stream, tx: mpsc::Sender<Event>) {
    std::thread::spawn(move || {
        let mut buf = [0; 8192];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if tx.send((stream, Some(buf[..n].to_vec()))).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = tx.send((stream, None));
    });
}

/// Waits for `child` to exit, up to `limit`; kills it if it does not.
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

    /// The probe's report on stdout.
    pub fn probe_report(&self) -> BTreeMap<String, String> {
        probe_report(self.stdout().lines())
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

/// One line of a running process's output, without its terminator.
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
    stdin: Option<ChildStdin>,
    deadline: Duration,
    events: mpsc::Receiver<Event>,
    open_streams: usize,
    /// The output so far, as written.
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// Per stream, the start of a line whose end has not come yet.
    partial: [Vec<u8>; 2],
    /// Lines complete but not yet handed out by [`Running::next_line`].
    pending: VecDeque<Line>,
    /// Every line received so far, for failure reports.
    pub seen: Vec<Line>,
    /// The lines of `seen` that a wait has returned.
    matched: HashSet<usize>,
}

/// What [`Running::next_line`] found.
enum Next {
    Line(Line),
    /// Both streams are closed.
    Ended,
    TimedOut,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next line, waiting until `end` at most.
    fn next_line(&mut self, end: Instant) -> Next {
        loop {
            if let Some(line) = self.pending.pop_front() {
                self.seen.push(line.clone());
                return Next::Line(line);
            }
            if self.open_streams == 0 {
                return Next::Ended;
            }
            let left = end.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok((stream, Some(bytes))) => self.take(stream, &bytes),
                Ok((stream, None)) => {
                    self.open_streams -= 1;
                    self.end_partial_line(stream);
                }
                Err(_) => return Next::TimedOut,
            }
        }
    }

    /// Keeps `bytes` and queues the lines they complete.
    fn take(&mut self, stream: Stream, bytes: &[u8]) {
        match stream {
            Stream::Stdout => self.stdout.extend_from_slice(bytes),
            Stream::Stderr => self.stderr.extend_from_slice(bytes),
        }
        let partial = &mut self.partial[stream as usize];
        partial.extend_from_slice(bytes);
        while let Some(at) = partial.iter().position(|&b| b == b'\n') {
            let rest = partial.split_off(at + 1);
            let line = std::mem::replace(partial, rest);
            self.pending.push_back(make_line(stream, &line));
        }
    }

    /// Queues the unfinished line of `stream`, if any, as a line.
    fn end_partial_line(&mut self, stream: Stream) {
        let partial = std::mem::take(&mut self.partial[stream as usize]);
        if !partial.is_empty() {
            self.pending.push_back(make_line(stream, &partial));
        }
    }

    /// Waits for a line (stdout or stderr) matching `pred` that no earlier
    /// wait returned, and returns it. Lines are matched in any order:
    /// stdout and stderr come through separate pipes, so lines written in
    /// one order may be received in another.
    pub fn wait_for(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let earlier =
            (0..self.seen.len()).find(|i| !self.matched.contains(i) && pred(self.seen[*i].text()));
        if let Some(index) = earlier {
            self.matched.insert(index);
            return self.seen[index].text().to_owned();
        }
        let end = Instant::now() + self.deadline;
        loop {
            match self.next_line(end) {
                Next::Line(line) if pred(line.text()) => {
                    self.matched.insert(self.seen.len() - 1);
                    return line.text().to_owned();
                }
                Next::Line(_) => {}
                Next::Ended => panic!("the output ended without a line {what}\n{}", self.report()),
                Next::TimedOut => panic!(
                    "no line {what} within {:?}\n{}",
                    self.deadline,
                    self.report()
                ),
            }
        }
    }

    /// Takes in the lines that arrive for `period`, for [`Running::count`]
    /// to see: how a test makes sure something did not happen.
    pub fn gather(&mut self, period: Duration) {
        let end = Instant::now() + period;
        while let Next::Line(_) = self.next_line(end) {}
    }

    /// Whether a line containing `needle` that no earlier wait returned
    /// comes within `limit` (false once the output ends): for what must
    /// not happen, such as a start before the first connection.
    pub fn shows_within(&mut self, needle: &str, limit: Duration) -> bool {
        let fresh = |i: &usize, seen: &[Line]| seen[*i].text().contains(needle);
        if (0..self.seen.len()).any(|i| !self.matched.contains(&i) && fresh(&i, &self.seen)) {
            return true;
        }
        let end = Instant::now() + limit;
        loop {
            match self.next_line(end) {
                Next::Line(line) if line.text().contains(needle) => {
                    self.matched.insert(self.seen.len() - 1);
                    return true;
                }
                Next::Line(_) => {}
                Next::Ended | Next::TimedOut => return false,
            }
        }
    }

    /// Waits for a line containing `needle`.
    pub fn wait_for_text(&mut self, needle: &str) -> String {
        self.wait_for(&format!("containing {needle:?}"), |l| l.contains(needle))
    }

    /// Writes `text` to the process's stdin ([`TestCommand::stdin_piped`]).
    pub fn write_stdin(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is piped and open");
        stdin.write_all(text.as_bytes()).expect("write to stdin");
        stdin.flush().expect("flush stdin");
    }

    /// Closes stdin and waits for the process to exit, with the deadline;
    /// collects the rest of its output. A process that does not exit is
    /// killed, and the failure shows what it wrote.
    pub fn wait(&mut self) -> ExitStatus {
        drop(self.stdin.take());
        let status = wait_with_deadline(&mut self.child, self.deadline);
        let end = Instant::now() + DRAIN;
        while let Next::Line(_) = self.next_line(end) {}
        // A stream still open after the drain has ended as far as the test
        // is concerned: its last, unfinished line counts too.
        self.end_partial_line(Stream::Stdout);
        self.end_partial_line(Stream::Stderr);
        self.seen.extend(self.pending.drain(..));
        status.unwrap_or_else(|| {
            panic!(
                "{} did not exit within {:?}\n{}",
                self.description,
                self.deadline,
                self.report()
            )
        })
    }

    /// Waits for the exit, as [`Running::wait`], and returns the whole run.
    pub fn finish(mut self) -> Ran {
        let status = self.wait();
        Ran {
            description: self.description.clone(),
            output: Output {
                status,
                stdout: std::mem::take(&mut self.stdout),
                stderr: std::mem::take(&mut self.stderr),
            },
        }
    }

    /// Waits for systemfd's next `~> started pid N` and returns N.
    pub fn started(&mut self) -> u32 {
        number_after(&self.wait_for_text("~> started pid "), "~> started pid ")
    }

    /// Whether any line received so far contains `needle`.
    pub fn saw(&self, needle: &str) -> bool {
        self.count(needle) > 0
    }

    /// How many of the lines received so far contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.seen
            .iter()
            .filter(|l| l.text().contains(needle))
            .count()
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: super::Signal) {
        super::signal(self.pid(), signal);
    }

    /// The probe's report in the stdout lines received so far.
    pub fn probe_report(&self) -> BTreeMap<String, String> {
        probe_report(self.seen.iter().filter_map(|l| match l {
            Line::Stdout(s) => Some(s.as_str()),
            Line::Stderr(_) => None,
        }))
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

/// `bytes` without the line terminator, as a line of `stream`.
fn make_line(stream: Stream, bytes: &[u8]) -> Line {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    let text = String::from_utf8_lossy(bytes).into_owned();
    match stream {
        Stream::Stdout => Line::Stdout(text),
        Stream::Stderr => Line::Stderr(text),
    }
}
