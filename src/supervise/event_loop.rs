//! The event loop of supervise mode.
//!
//! Everything that happens arrives over one channel, from threads that only
//! forward: the signal thread (signal-hook's self-pipe; the handlers do
//! nothing else), the file watcher and one readiness listener per child. The
//! loop runs on the main thread, which also forks every child and reaps them
//! all (on SIGCHLD), so that the children's parent-death signal (Linux) is
//! tied to the thread that lives as long as systemfd.
//!
//! Readiness messages are coalesced per child (the latest `STATUS=` wins,
//! with a count of those skipped), so a child that floods `NOTIFY_SOCKET`
//! queues at most one message, and signals are never far behind.

use std::collections::VecDeque;
use std::ffi::OsString;
#[cfg(target_os = "linux")]
use std::os::fd::AsFd;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGTSTP, SIGUSR1, SIGUSR2};

use super::children::{self, Children, News};
#[cfg(target_os = "linux")]
use super::state::Waiter;
use super::state::{Action, Event, Generation, Status, Supervisor};
use super::terminal::Terminal;
use super::StartError;
use crate::activation::{self, FIRST_FD};
use crate::config::{Launch, Readiness, Supervise};
use crate::error::Failure;
#[cfg(target_os = "linux")]
use crate::listening;
use crate::output::Printer;
use crate::readiness::{self, Directory, Listener, Message};
use crate::signal::Signal;
use crate::socket::Sockets;
use crate::sys;
use crate::watch::Change;

/// How often a group whose leader has exited is looked at until it empties.
const DRAIN_POLL: Duration = Duration::from_millis(20);

/// What the threads forward to the loop.
enum Input {
    Change(Change),
    Signal(i32),
    /// A child's mailbox has news.
    Notify {
        generation: Generation,
        mailbox: Arc<Mutex<Mailbox>>,
    },
}

/// What a child has sent on `NOTIFY_SOCKET` since the loop last looked.
#[derive(Debug, Default)]
struct Mailbox {
    ready: bool,
    /// The latest `STATUS=` text.
    status: Option<String>,
    /// `STATUS=` texts replaced by a later one before the loop saw them.
    skipped: usize,
    /// Whether an `Input::Notify` for this mailbox is in the channel.
    queued: bool,
}

impl Mailbox {
    /// Keeps what `message` says; returns whether the loop must be told
    /// (nothing of this mailbox is in the channel yet).
    fn put(&mut self, message: Message) -> bool {
        self.ready |= message.ready;
        if let Some(text) = message.status {
            if self.status.replace(text).is_some() {
                self.skipped += 1;
            }
        }
        !std::mem::replace(&mut self.queued, true)
    }

    /// Takes the news, as events for the supervisor.
    fn take(&mut self, generation: Generation) -> Vec<Event> {
        let mut events = Vec::new();
        if let Some(text) = self.status.take() {
            let text = match std::mem::take(&mut self.skipped) {
                0 => text,
                skipped => format!("{text} ({skipped} earlier not shown)"),
            };
            events.push(Event::Status { generation, text });
        }
        if std::mem::take(&mut self.ready) {
            events.push(Event::Ready { generation });
        }
        self.queued = false;
        events
    }
}

/// Runs COMMAND under supervision until SIGINT or SIGTERM; returns the
/// status systemfd exits with.
pub fn run(
    settings: &Supervise,
    launch: &Launch,
    sockets: Sockets,
    printer: &Printer,
) -> Result<i32, Failure> {
    let policy = super::policy(settings, readiness(settings.ready, &sockets));
    let directory = Directory::create()
        .context("cannot create a private directory for the readiness sockets")
        .map_err(Failure::setup)?;
    let (tx, rx) = mpsc::channel();
    let mut terminal = Terminal::new();
    #[cfg(target_os = "linux")]
    if let Err(err) = sys::become_subreaper() {
        printer.warn(&format!(
            "cannot become a child subreaper ({err}); processes that leave the command's group may outlive it"
        ));
    }

    let mut signals = signal_hook::iterator::Signals::new([
        SIGHUP, SIGINT, SIGTERM, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD, SIGTSTP,
    ])
    .context("cannot handle signals")
    .map_err(Failure::setup)?;
    let signal_tx = tx.clone();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if signal_tx.send(Input::Signal(signal)).is_err() {
                    return;
                }
            }
        })
        .context("cannot start the signal thread")
        .map_err(Failure::setup)?;

    let change_tx = tx.clone();
    let _watcher = super::watch_files(
        settings,
        vec![directory.path().to_owned()],
        *printer,
        move |change| change_tx.send(Input::Change(change)).is_ok(),
    )?;

    let staged = sys::stage(&sockets.fds(), FIRST_FD + sockets.len() as i32)
        .context("cannot duplicate a socket")
        .map_err(Failure::setup)?;
    #[cfg(target_os = "linux")]
    let watched = listening::Watched::new(staged.iter().map(AsFd::as_fd))
        .context("cannot identify the sockets")
        .map_err(Failure::setup)?;
    let environment = environment(&sockets);
    let program = launch.program();
    let starter = Starter {
        launch,
        directory: &directory,
        environment: &environment,
        staged: &staged,
        tx: &tx,
    };

    let mut supervisor = Supervisor::new(policy);
    let mut children = Children::default();
    let mut actions: VecDeque<Action> = supervisor.begin(Instant::now()).into();
    loop {
        while let Some(action) = actions.pop_front() {
            match action {
                Action::Start(generation) => {
                    if settings.clear {
                        printer.clear_screen();
                    }
                    let event = match starter.start(generation) {
                        Ok((pid, listener)) => {
                            children.insert(generation, pid, listener);
                            Event::Started { generation, pid }
                        }
                        Err(err) => err.event(generation, program)?,
                    };
                    actions.extend(supervisor.handle(event, Instant::now()));
                }
                // A stopped child cannot act on the stop signal: SIGCONT.
                Action::Stop { pid } => send(
                    &children,
                    pid,
                    &[settings.stop_signal, Signal::CONT],
                    printer,
                ),
                Action::Kill { pid } => send(&children, pid, &[Signal::KILL], printer),
                Action::Signal { pid, signal } => {
                    if let Err(err) = sys::signal_process(pid, signal.0) {
                        printer.warn(&format!("cannot send {signal} to pid {pid}: {err}"));
                    }
                }
                #[cfg(target_os = "linux")]
                Action::Look { generation, pid } => {
                    if let Some(found) = listening::find(pid, &watched) {
                        let waiter = Waiter {
                            pid: found.pid,
                            fd: FIRST_FD + found.socket as i32,
                        };
                        let event = Event::Listening { generation, waiter };
                        actions.extend(supervisor.handle(event, Instant::now()));
                    }
                }
                // Asked for only where listening can be seen.
                #[cfg(not(target_os = "linux"))]
                Action::Look { .. } => {}
                Action::Say(report) if report.is_error() => printer.error(&report.to_string()),
                Action::Say(report) => printer.status(&report.to_string()),
                Action::Exit(code) => {
                    terminal.restore();
                    #[cfg(target_os = "linux")]
                    end_orphans(&mut children, settings, code == 0, printer);
                    return Ok(code);
                }
            }
        }

        let mut deadline = supervisor.next_deadline();
        if children.draining() {
            let poll = Instant::now() + DRAIN_POLL;
            deadline = Some(deadline.map_or(poll, |at| at.min(poll)));
        }
        let input = match deadline {
            Some(deadline) => rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .ok(),
            // The loop holds a sender, so this never ends with an error.
            None => rx.recv().ok(),
        };
        let mut events = match input {
            None => vec![Event::Tick],
            Some(Input::Change(Change { path, more })) => vec![Event::Change { path, more }],
            Some(Input::Signal(SIGCHLD)) => {
                let news = children.reap(printer);
                share_terminal(&news, &children, &mut terminal, printer)
            }
            Some(Input::Signal(SIGTSTP)) => {
                suspend(&children, &mut terminal);
                Vec::new()
            }
            Some(Input::Signal(SIGHUP)) if terminal.hung_up() => vec![Event::Shutdown {
                signal: Signal(SIGHUP),
            }],
            Some(Input::Signal(SIGHUP)) => vec![Event::Hangup],
            Some(Input::Signal(signal @ (SIGUSR1 | SIGUSR2))) => vec![Event::Forward {
                signal: Signal(signal),
            }],
            Some(Input::Signal(signal)) => vec![Event::Shutdown {
                signal: Signal(signal),
            }],
            Some(Input::Notify {
                generation,
                mailbox,
            }) => match mailbox.lock() {
                Ok(mut mailbox) => mailbox.take(generation),
                Err(_) => Vec::new(),
            },
        };
        events.extend(
            children
                .ended()
                .into_iter()
                .map(|(generation, status)| Event::Exited { generation, status }),
        );
        actions.extend(supervisor.handle_all(events, Instant::now()));
    }
}

/// Lends the terminal to a command that wants it, and acts on Ctrl-C and
/// Ctrl-Z that reached a command holding it (see `super::terminal`).
fn share_terminal(
    news: &[News],
    children: &Children,
    terminal: &mut Terminal,
    printer: &Printer,
) -> Vec<Event> {
    let mut events = Vec::new();
    for &item in news {
        match item {
            News::Stopped { pid, signal } if is_terminal_stop(signal) => {
                if terminal.lend(pid) {
                    printer.status(&format!(
                        "pid {pid} uses the terminal: it is in the foreground"
                    ));
                    let _ = sys::signal_group(pid, Signal::CONT.0);
                } else {
                    printer.warn(&children::stopped_message(pid, signal));
                }
            }
            // Ctrl-Z reached the command in the foreground: suspend it all.
            News::Stopped { pid, .. } if terminal.lent_to() == Some(pid) => {
                suspend(children, terminal);
            }
            News::Stopped { pid, signal } => {
                printer.warn(&children::stopped_message(pid, signal));
            }
            News::Exited { pid, status } if terminal.lent_to() == Some(pid) => {
                terminal.take_back();
                // Ctrl-C reached the command in the foreground: end it all.
                if status == Status::Signal(Signal::INT) {
                    events.push(Event::Shutdown {
                        signal: Signal::INT,
                    });
                }
            }
            News::Exited { .. } => {}
        }
    }
    events
}

fn is_terminal_stop(signal: Signal) -> bool {
    matches!(signal.name(), Some("TTIN" | "TTOU"))
}

/// Ctrl-Z: every command's group and systemfd stop until `fg` continues
/// systemfd, which continues them.
fn suspend(children: &Children, terminal: &mut Terminal) {
    let lent = terminal.lent_to();
    terminal.take_back();
    children.signal_all(Signal::TSTP);
    sys::stop_self();
    // Continued.
    if let Some(group) = lent {
        terminal.lend(group);
    }
    children.signal_all(Signal::CONT);
}

/// At exit, the orphans systemfd inherited from its commands (Linux) get the
/// stop signal and, if they outlast the stop timeout (or the exit is the
/// second Ctrl-C's), SIGKILL: nothing systemfd started outlives it.
#[cfg(target_os = "linux")]
fn end_orphans(children: &mut Children, settings: &Supervise, graceful: bool, printer: &Printer) {
    let orphans = children.orphans();
    if orphans.is_empty() {
        return;
    }
    let first = if graceful {
        settings.stop_signal
    } else {
        Signal::KILL
    };
    for &pid in &orphans {
        let _ = sys::signal_process(pid, first.0);
        let _ = sys::signal_process(pid, Signal::CONT.0);
    }
    let end = Instant::now() + settings.stop_timeout;
    while Instant::now() < end {
        let _ = children.reap(printer);
        if children.orphans().is_empty() {
            return;
        }
        std::thread::sleep(DRAIN_POLL);
    }
    for pid in children.orphans() {
        let _ = sys::signal_process(pid, Signal::KILL.0);
    }
    let _ = children.reap(printer);
}

/// What `--ready` comes to here: listening is seen through Linux's `/proc`,
/// and only on passed sockets; elsewhere only `READY=1` can tell.
fn readiness(asked: Readiness, sockets: &Sockets) -> Readiness {
    if cfg!(target_os = "linux") && !sockets.is_empty() {
        asked
    } else {
        Readiness::Notify
    }
}

/// The environment every child gets, but for `NOTIFY_SOCKET` and `LISTEN_PID`.
fn environment(sockets: &Sockets) -> Vec<(OsString, OsString)> {
    let mut environment: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(key, _)| {
            key != readiness::VARIABLE
                && !activation::STALE_VARIABLES.iter().any(|name| key == *name)
        })
        .collect();
    environment.extend(
        activation::variables(sockets)
            .into_iter()
            .map(|(key, value)| (key.into(), value.into())),
    );
    environment
}

/// Signals a child's process group (and its strays), saying so if that fails.
fn send(children: &Children, pid: u32, signals: &[Signal], printer: &Printer) {
    if let Err(err) = children.signal(pid, signals) {
        printer.warn(&format!("cannot signal pid {pid}: {err}"));
    }
}

/// Starts children: everything a start needs besides the generation.
struct Starter<'a> {
    launch: &'a Launch,
    directory: &'a Directory,
    environment: &'a [(OsString, OsString)],
    staged: &'a [std::os::fd::OwnedFd],
    tx: &'a mpsc::Sender<Input>,
}

impl Starter<'_> {
    fn start(&self, generation: Generation) -> Result<(u32, Listener), StartError> {
        let notify_tx = self.tx.clone();
        let mailbox = Arc::new(Mutex::new(Mailbox::default()));
        let listener = self
            .directory
            .listen(generation, move |message: Message| {
                let tell = mailbox.lock().is_ok_and(|mut news| news.put(message));
                if tell {
                    let _ = notify_tx.send(Input::Notify {
                        generation,
                        mailbox: Arc::clone(&mailbox),
                    });
                }
            })
            .with_context(|| {
                format!(
                    "cannot create the readiness socket in {}",
                    self.directory.path().display()
                )
            })
            .map_err(StartError::Setup)?;
        let mut environment = self.environment.to_vec();
        environment.push((readiness::VARIABLE.into(), listener.path().into()));
        let pid = sys::spawn(&sys::ChildSpec {
            command: &self.launch.command,
            env: &environment,
            sockets: self.staged,
            first_fd: FIRST_FD,
            pid_variable: (self.launch.set_pid && !self.staged.is_empty()).then_some("LISTEN_PID"),
        })
        .map_err(StartError::Exec)?;
        Ok((pid, listener))
    }
}
