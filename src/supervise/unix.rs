//! The Unix host of supervise mode.
//!
//! systemfd forks every child itself, in a process group of its own, with
//! the sockets at fds 3… and a `NOTIFY_SOCKET` of its own, and reaps them
//! all (on SIGCHLD) on the loop's thread, so that the children's
//! parent-death signal (Linux) is tied to the thread that lives as long as
//! systemfd.
//!
//! Its threads only forward: the signal thread (signal-hook's self-pipe;
//! the handlers do nothing else) and one readiness listener per child.
//! Readiness messages are coalesced per child in a [`Mailbox`], so a child
//! that floods `NOTIFY_SOCKET` queues at most one message, and signals are
//! never far behind.

use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGTSTP, SIGUSR1, SIGUSR2};

use super::build_log::BuildLog;
use super::children::{self, Children, Kind, News as ChildNews};
use super::host::{Host, Input, StartError};
use super::mailbox::Mailbox;
use super::page::Page;
use super::state::{Drain, Event, Generation, Outage, Policy, Status, Waiter};
use super::terminal::Terminal;
use crate::activation::{self, Invocation, FIRST_FD, LISTEN_PID, LISTEN_PIDFDID, NOTIFY_SOCKET};
#[cfg(target_os = "linux")]
use crate::adopt::{self, Adopter};
use crate::config::Adopt;
use crate::error::Failure;
#[cfg(target_os = "linux")]
use crate::listening;
use crate::output::Printer;
use crate::sd_notify::{Directory, Message};
use crate::signal::Signal;
use crate::socket::{SocketFile, Sockets};
use crate::sys;

/// How often a group whose leader has exited is looked at until it empties.
const DRAIN_POLL: Duration = Duration::from_millis(20);

/// How long an old child frozen to count its connections may take to come
/// to a stop (a thread in an uninterruptible wait stops late); past that
/// it is continued and asked again at the next check.
#[cfg(target_os = "linux")]
const FREEZE_LIMIT: Duration = Duration::from_millis(20);

/// What the host's threads forward to the loop.
#[derive(Debug)]
pub enum News {
    /// systemfd received this signal.
    Signal(i32),
    /// A child's mailbox has news.
    Notify {
        generation: Generation,
        mailbox: Arc<Mutex<Mailbox>>,
    },
}

/// Children as process groups, forked by systemfd.
pub struct UnixHost {
    policy: Policy,
    printer: Printer,
    invocation: Invocation,
    /// The sockets, duplicated above the fds they go to, for every start.
    staged: Vec<OwnedFd>,
    /// The passed sockets as `/proc` shows them, to look for listeners.
    #[cfg(target_os = "linux")]
    watched: listening::Watched,
    directory: Directory,
    terminal: Terminal,
    children: Children,
    tx: mpsc::Sender<Input<News>>,
    /// Answers each child's binds (Linux, unless `--no-adopt`).
    #[cfg(target_os = "linux")]
    adopter: Option<Adopter>,
    /// The draining children whose trees systemfd left stopped, with the
    /// connections they held.
    #[cfg(target_os = "linux")]
    frozen: std::collections::HashMap<u32, usize>,
    /// The build step (`--build`), and the output of its last run.
    build: Option<Invocation>,
    build_log: Option<BuildLog>,
    /// The error page, with `http::` sockets (unless `--no-error-page`).
    page: Option<Page>,
    /// The Unix sockets' files, and whether each one's loss was said.
    files: Vec<(SocketFile, bool)>,
}

impl UnixHost {
    /// Sets up supervision of `invocation` with `sockets`: the private
    /// directory for the readiness sockets, the signal thread, and (Linux)
    /// the subreaper role. `tx` is the loop's channel.
    ///
    /// # Errors
    /// A set-up [`Failure`] when any of that cannot be made.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        policy: Policy,
        invocation: Invocation,
        build: Option<Invocation>,
        page: Option<Page>,
        sockets: &Sockets,
        adopt: Adopt,
        tx: mpsc::Sender<Input<News>>,
        printer: Printer,
    ) -> Result<UnixHost, Failure> {
        #[cfg(target_os = "linux")]
        let adopter = adopter(adopt, sockets, printer)?;
        #[cfg(not(target_os = "linux"))]
        let _ = adopt;
        let directory = Directory::create()
            .context("cannot create a private directory for the readiness sockets")
            .map_err(Failure::setup)?;
        let terminal = Terminal::new();
        #[cfg(target_os = "linux")]
        if let Err(err) = sys::linux::become_subreaper() {
            printer.warn(&format!(
                "cannot become a child subreaper ({err}); processes that leave the command's group may outlive it"
            ));
        }
        forward_signals(tx.clone())?;
        let staged = activation::stage(sockets).map_err(Failure::setup)?;
        #[cfg(target_os = "linux")]
        let watched = listening::Watched::new(staged.iter().map(std::os::fd::AsFd::as_fd))
            .context("cannot identify the sockets")
            .map_err(Failure::setup)?;
        Ok(UnixHost {
            policy,
            printer,
            invocation,
            staged,
            #[cfg(target_os = "linux")]
            watched,
            directory,
            terminal,
            children: Children::new(),
            tx,
            #[cfg(target_os = "linux")]
            adopter,
            #[cfg(target_os = "linux")]
            frozen: std::collections::HashMap::new(),
            build,
            build_log: None,
            page,
            files: sockets
                .files()
                .into_iter()
                .map(|file| (file, false))
                .collect(),
        })
    }

    /// The directory of the readiness sockets, which is not to be watched.
    pub fn private_directory(&self) -> &Path {
        self.directory.path()
    }

    /// Says, once for each, which socket files the path no longer names (a
    /// command removed the file, or put another in its place): looked at
    /// before each start and whenever a command has ended.
    fn check_files(&mut self) {
        for (file, said) in &mut self.files {
            if *said {
                continue;
            }
            if let Some(warning) = file.warning(file.state()) {
                *said = true;
                self.printer.warn(&warning);
            }
        }
    }

    /// Signals a child's process group (and its strays), saying so if
    /// that fails.
    fn send(&self, pid: u32, signals: &[Signal]) {
        if let Err(err) = self.children.signal(pid, signals) {
            self.printer
                .warn(&format!("cannot signal pid {pid}: {err}"));
        }
    }

    /// Lends the terminal to a command that wants it, and acts on Ctrl-C
    /// and Ctrl-Z that reached a command holding it (see `terminal`).
    fn share_terminal(&mut self, news: &[ChildNews]) -> Vec<Event> {
        let mut events = Vec::new();
        for &item in news {
            #[cfg(target_os = "linux")]
            match item {
                ChildNews::Stopped { pid, .. } if self.frozen.contains_key(&pid) => continue,
                ChildNews::Exited { pid, .. } => {
                    self.frozen.remove(&pid);
                }
                ChildNews::Stopped { .. } | ChildNews::Orphan { .. } => {}
            }
            match item {
                ChildNews::Stopped { pid, signal } if is_terminal_stop(signal) => {
                    if self.terminal.lend(pid) {
                        self.printer.status(&format!(
                            "pid {pid} uses the terminal: it is in the foreground"
                        ));
                        let _ = sys::signal_group(pid, Signal::CONT.0);
                    } else {
                        self.printer.warn(&children::stopped_message(pid, signal));
                    }
                }
                // Ctrl-Z reached the command in the foreground: suspend it all.
                ChildNews::Stopped { pid, .. } if self.terminal.lent_to() == Some(pid) => {
                    events.push(self.suspend());
                }
                ChildNews::Stopped { pid, signal } => {
                    self.printer.warn(&children::stopped_message(pid, signal));
                }
                ChildNews::Exited { pid, status } if self.terminal.lent_to() == Some(pid) => {
                    self.terminal.take_back();
                    // Ctrl-C reached the command in the foreground: end it all.
                    if status == Status::Signal(Signal::INT) {
                        events.push(Event::Shutdown {
                            signal: Signal::INT,
                        });
                    }
                }
                ChildNews::Exited { .. } | ChildNews::Orphan { .. } => {}
            }
        }
        events
    }

    /// Ctrl-Z: every command's group and systemfd stop until `fg`
    /// continues systemfd, which continues them. Returns the event that
    /// says how long that took.
    fn suspend(&mut self) -> Event {
        let stopped = Instant::now();
        let lent = self.terminal.lent_to();
        self.terminal.take_back();
        self.children.signal_all(Signal::TSTP);
        sys::stop_self();
        // Continued.
        if let Some(group) = lent {
            self.terminal.lend(group);
        }
        self.children.signal_all(Signal::CONT);
        Event::Resumed {
            after: stopped.elapsed(),
        }
    }

    /// At exit, the orphans systemfd inherited from its commands (Linux)
    /// get the stop signal and, if they outlast the stop timeout (or the
    /// exit is not `graceful`: the second Ctrl-C's), SIGKILL: nothing
    /// systemfd started outlives it.
    #[cfg(target_os = "linux")]
    fn end_orphans(&mut self, graceful: bool) {
        let orphans = self.children.orphans();
        if orphans.is_empty() {
            return;
        }
        let first = if graceful {
            self.policy.stop_signal
        } else {
            Signal::KILL
        };
        for &pid in &orphans {
            let _ = sys::signal_process(pid, first.0);
            let _ = sys::signal_process(pid, Signal::CONT.0);
        }
        let end = Instant::now() + self.policy.grace;
        while Instant::now() < end {
            let _ = self.children.reap(&self.printer);
            if self.children.orphans().is_empty() {
                return;
            }
            std::thread::sleep(DRAIN_POLL);
        }
        for pid in self.children.orphans() {
            let _ = sys::signal_process(pid, Signal::KILL.0);
        }
        let _ = self.children.reap(&self.printer);
    }

    /// Freezes the child's tree (SIGSTOP to its group and strays), so that
    /// no process of it can accept a connection from the shared queue
    /// while its connections are counted. None: the stop signal goes out
    /// while it is frozen, then SIGCONT (left at its default action, a
    /// fatal signal ends even a stopped process at once, so it never runs
    /// again to accept one; a server that catches it stops as it sees fit).
    /// Some: the tree stays frozen until the next check, which continues it
    /// and looks again at the one after. So while it drains, the old child
    /// runs half of the time to finish the requests it holds, and the new
    /// one, always running, takes most new connections: even a busy old
    /// child comes to an idle moment.
    ///
    /// Its stops are systemfd's own: `reap` does not report them as a
    /// stopped child (no warning, no lending of the terminal).
    ///
    /// `hold`: a busy tree stays stopped until the next call (a drain);
    /// otherwise it is continued at once (`--idle-stop`'s check of a child
    /// serving alone).
    #[cfg(target_os = "linux")]
    fn stop_if_quiet(&mut self, pid: u32, hold: bool) -> Drain {
        if !self.watched.accepts() {
            // No passed socket accepts connections: none can be held.
            self.stop(pid);
            return Drain::Stopped;
        }
        let tree = self.children.tree(pid);
        if let Some(held) = self.frozen.remove(&pid) {
            // Left frozen by the last check: its turn to run.
            if let Err(err) = tree.signal(&[Signal::CONT]) {
                self.printer
                    .warn(&format!("cannot signal pid {pid}: {err}"));
            }
            return Drain::Busy(held);
        }
        if listening::any_stopped(tree.members()) {
            // Stopped by something else (a debugger, SIGTTIN): it serves
            // nothing, and continuing it is not systemfd's to do.
            return Drain::Unknown;
        }
        if let Err(err) = tree.signal(&[Signal::STOP]) {
            self.printer
                .warn(&format!("cannot signal pid {pid}: {err}"));
            let _ = tree.signal(&[Signal::CONT]);
            return Drain::Unknown;
        }
        let members = listening::with_descendants(tree.members());
        let settled = listening::settle(&members, FREEZE_LIMIT);
        let held = listening::held(&members, &self.watched);
        let (signals, drain): (&[Signal], _) = match held {
            Some(0) if settled => (&[self.policy.stop_signal, Signal::CONT], Drain::Stopped),
            Some(held) if hold => (&[], Drain::Busy(held)),
            Some(held) => (&[Signal::CONT], Drain::Busy(held)),
            None => (&[Signal::CONT], Drain::Unknown),
        };
        if let (Drain::Busy(held), true) = (drain, hold) {
            self.frozen.insert(pid, held);
        }
        if let Err(err) = tree.signal(signals) {
            self.printer
                .warn(&format!("cannot signal pid {pid}: {err}"));
        }
        drain
    }
}

impl Host for UnixHost {
    type News = News;

    fn start(&mut self, generation: Generation) -> Result<u32, StartError> {
        self.check_files();
        let notify_tx = self.tx.clone();
        let mailbox = Arc::new(Mutex::new(Mailbox::default()));
        let listener = self
            .directory
            .listen(generation, move |message: Message| {
                let tell = mailbox.lock().is_ok_and(|mut news| news.put(message));
                if tell {
                    let _ = notify_tx.send(Input::Host(News::Notify {
                        generation,
                        mailbox: Arc::clone(&mailbox),
                    }));
                }
            })
            .with_context(|| {
                format!(
                    "cannot create the readiness socket in {}",
                    self.directory.path().display()
                )
            })
            .map_err(StartError::Setup)?;
        let mut invocation = self.invocation.clone();
        invocation.set(NOTIFY_SOCKET, listener.path());
        #[cfg(target_os = "linux")]
        let pending = match &self.adopter {
            Some(adopter) => Some(
                adopter
                    .prepare(FIRST_FD + self.staged.len() as i32)
                    .context("cannot prepare the seccomp filter")
                    .map_err(StartError::Setup)?,
            ),
            None => None,
        };
        #[cfg(target_os = "linux")]
        let filter = self
            .adopter
            .as_ref()
            .zip(pending.as_ref())
            .and_then(|(adopter, pending)| adopter.interception(pending));
        #[cfg(not(target_os = "linux"))]
        let filter = None;
        let pid = sys::spawn(&sys::ChildSpec {
            command: &invocation.command,
            env: &invocation.env,
            sockets: &self.staged,
            first_fd: FIRST_FD,
            pid_variable: invocation.listen_pid.then_some(LISTEN_PID),
            pidfd_variable: invocation.listen_pid.then_some(LISTEN_PIDFDID),
            own_group: true,
            filter,
            stdio: None,
        })
        .map_err(StartError::Exec)?;
        #[cfg(target_os = "linux")]
        if let Some((adopter, pending)) = self.adopter.as_ref().zip(pending) {
            if let Err(err) = adopter.serve(pending, pid) {
                self.printer.warn(&format!(
                    "cannot answer pid {pid}'s binds ({err}): its binds fail with ENOSYS"
                ));
            }
        }
        self.children
            .insert(Kind::Command(generation), pid, Some(listener));
        Ok(pid)
    }

    fn build(&mut self) -> Result<u32, StartError> {
        let Some(build) = &self.build else {
            return Err(StartError::Setup(anyhow::anyhow!("no build step")));
        };
        if let Some(line) = build.command.last() {
            self.printer
                .status(&format!("build: {}", crate::output::one_line(line)));
        }
        let (reader, writer) = std::io::pipe()
            .context("cannot make a pipe for the build's output")
            .map_err(StartError::Setup)?;
        let input = std::fs::File::open("/dev/null")
            .context("cannot open /dev/null for the build's stdin")
            .map_err(StartError::Setup)?;
        let (input, output) = (OwnedFd::from(input), OwnedFd::from(writer));
        let stdio = sys::Stdio {
            input: &input,
            output: &output,
        };
        let pid = sys::spawn(&sys::ChildSpec::build(&build.command, &build.env, stdio))
            .map_err(StartError::Exec)?;
        // Only the build holds the write end now: end of file comes when
        // it and whatever it started are done.
        drop(output);
        self.children.insert(Kind::Build, pid, None);
        match BuildLog::start(reader) {
            Ok(log) => self.build_log = Some(log),
            // Its output then ends (SIGPIPE): it fails, and says why here.
            Err(err) => self.printer.warn(&format!(
                "cannot start the thread that shows the build's output: {err}"
            )),
        }
        Ok(pid)
    }

    fn build_output(&self) -> Vec<u8> {
        self.build_log
            .as_ref()
            .map(BuildLog::output)
            .unwrap_or_default()
    }

    fn answer(&mut self, outage: Option<&Outage>) {
        let Some(page) = &mut self.page else {
            return;
        };
        // A process that left a command's group and outlived it may still
        // accept on the sockets: the page would take its connections.
        #[cfg(target_os = "linux")]
        if let (Some(_), Some(pid)) = (outage, self.children.orphans().first()) {
            self.printer.warn(&format!(
                "no error page: pid {pid}, which left the command's process group, still runs and may serve"
            ));
            return;
        }
        let log = self.build_log.as_ref();
        page.answer(outage, || log.map(BuildLog::output).unwrap_or_default());
    }

    // A stopped child cannot act on the stop signal: SIGCONT.
    fn stop(&mut self, pid: u32) {
        #[cfg(target_os = "linux")]
        self.frozen.remove(&pid);
        self.send(pid, &[self.policy.stop_signal, Signal::CONT]);
    }

    #[cfg(target_os = "linux")]
    fn stop_when_idle(&mut self, pid: u32) -> Drain {
        self.stop_if_quiet(pid, true)
    }

    // Connections are seen through Linux's /proc only.
    #[cfg(not(target_os = "linux"))]
    fn stop_when_idle(&mut self, _pid: u32) -> Drain {
        Drain::Unknown
    }

    #[cfg(target_os = "linux")]
    fn stop_if_idle(&mut self, pid: u32) -> Drain {
        self.stop_if_quiet(pid, false)
    }

    #[cfg(not(target_os = "linux"))]
    fn stop_if_idle(&mut self, _pid: u32) -> Drain {
        Drain::Unknown
    }

    #[cfg(target_os = "linux")]
    fn connections(&mut self) -> Option<usize> {
        match listening::connections(&self.watched) {
            Ok(count) => Some(count),
            Err(err) => {
                self.printer.warn(&format!(
                    "cannot count the connections in /proc/net ({err}): --idle-stop stops nothing"
                ));
                None
            }
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn connections(&mut self) -> Option<usize> {
        None
    }

    fn kill(&mut self, pid: u32) {
        #[cfg(target_os = "linux")]
        self.frozen.remove(&pid);
        self.send(pid, &[Signal::KILL]);
    }

    fn signal(&mut self, pid: u32, signal: Signal) {
        if let Err(err) = sys::signal_process(pid, signal.0) {
            self.printer
                .warn(&format!("cannot send {signal} to pid {pid}: {err}"));
        }
    }

    fn signal_group(&mut self, group: u32, signal: Signal) {
        if let Err(err) = sys::signal_group(group, signal.0) {
            self.printer.warn(&format!(
                "cannot send {signal} to process group {group}: {err}"
            ));
        }
    }

    #[cfg(target_os = "linux")]
    fn look(&mut self, pid: u32) -> Option<Waiter> {
        listening::find(pid, &self.watched).map(|found| Waiter {
            pid: found.pid,
            fd: FIRST_FD + found.socket as i32,
        })
    }

    // Listening is seen through Linux's /proc only; elsewhere no look is
    // asked for (see `Readiness::resolve`).
    #[cfg(not(target_os = "linux"))]
    fn look(&mut self, _pid: u32) -> Option<Waiter> {
        None
    }

    // A running program can be replaced on Unix.
    fn blocker(&self, _pid: u32) -> Option<std::path::PathBuf> {
        None
    }

    fn deadline(&self, due: Option<Instant>) -> Option<Instant> {
        if !self.children.draining() {
            return due;
        }
        let poll = Instant::now() + DRAIN_POLL;
        Some(due.map_or(poll, |at| at.min(poll)))
    }

    fn events(&mut self, news: Option<News>) -> Vec<Event> {
        let mut reaped = Vec::new();
        let mut events = match news {
            None => vec![Event::Tick],
            Some(News::Signal(SIGCHLD)) => {
                reaped = self.children.reap(&self.printer);
                self.share_terminal(&reaped)
            }
            Some(News::Signal(SIGTSTP)) => vec![self.suspend()],
            Some(News::Signal(SIGHUP)) if self.terminal.hung_up() => vec![Event::Shutdown {
                signal: Signal(SIGHUP),
            }],
            Some(News::Signal(SIGHUP)) => vec![Event::Hangup],
            Some(News::Signal(signal @ (SIGUSR1 | SIGUSR2))) => vec![Event::Forward {
                signal: Signal(signal),
            }],
            Some(News::Signal(signal)) => vec![Event::Shutdown {
                signal: Signal(signal),
            }],
            Some(News::Notify {
                generation,
                mailbox,
            }) => match mailbox.lock() {
                Ok(mut mailbox) => mailbox.take(generation),
                Err(_) => Vec::new(),
            },
        };
        let ended = self.children.ended();
        if ended
            .iter()
            .any(|(kind, _)| matches!(kind, Kind::Command(_)))
        {
            self.check_files();
        }
        // A command's first process that exited while its group runs on.
        for item in reaped {
            match item {
                ChildNews::Exited { pid, status } => {
                    if let Some(generation) = self.children.command(pid) {
                        events.push(Event::FirstExited { generation, status });
                    }
                }
                ChildNews::Orphan { pid, status } => {
                    events.push(Event::Orphaned { pid, status });
                }
                ChildNews::Stopped { .. } => {}
            }
        }
        events.extend(ended.into_iter().map(|(kind, status)| match kind {
            Kind::Command(generation) => Event::Exited { generation, status },
            Kind::Build => Event::Built { status },
        }));
        events
    }

    fn finish(&mut self, code: i32) {
        self.terminal.restore();
        #[cfg(target_os = "linux")]
        self.end_orphans(code == 0);
        #[cfg(not(target_os = "linux"))]
        let _ = code;
    }
}

/// Adoption as asked: `--adopt` fails where the kernel cannot; the default
/// says so once and goes on without.
#[cfg(target_os = "linux")]
fn adopter(adopt: Adopt, sockets: &Sockets, printer: Printer) -> Result<Option<Adopter>, Failure> {
    if adopt == Adopt::Off {
        return Ok(None);
    }
    let ready = adopt::probe()
        .and_then(|()| Adopter::new(sockets, FIRST_FD, printer, adopt == Adopt::Auto));
    match ready {
        Ok(adopter) => Ok(Some(adopter)),
        Err(err) if adopt == Adopt::Required => Err(Failure::setup(
            anyhow::Error::new(err).context("--adopt: this system cannot adopt binds"),
        )),
        Err(err) => {
            printer.warn(&format!(
                "cannot adopt binds here ({err}): a COMMAND that binds a passed socket's port itself will find it in use; --no-adopt silences this"
            ));
            Ok(None)
        }
    }
}

fn is_terminal_stop(signal: Signal) -> bool {
    matches!(signal.name(), Some("TTIN" | "TTOU"))
}

/// Starts the thread that forwards the signals supervise mode acts on.
fn forward_signals(tx: mpsc::Sender<Input<News>>) -> Result<(), Failure> {
    let mut signals = signal_hook::iterator::Signals::new([
        SIGHUP, SIGINT, SIGTERM, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD, SIGTSTP,
    ])
    .context("cannot handle signals")
    .map_err(Failure::setup)?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if tx.send(Input::Host(News::Signal(signal))).is_err() {
                    return;
                }
            }
        })
        .context("cannot start the signal thread")
        .map_err(Failure::setup)?;
    Ok(())
}
