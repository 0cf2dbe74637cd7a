//! The event loop of supervise mode.
//!
//! Everything that happens arrives over one channel, from threads that only
//! forward: the signal thread (signal-hook's self-pipe; the handlers do
//! nothing else), the file watcher, one readiness listener per child and one
//! waiter per child. The loop runs on the main thread, which also forks every
//! child, so that the children's parent-death signal (Linux) is tied to the
//! thread that lives as long as systemfd.

use std::collections::{HashMap, VecDeque};
use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt as _;
use std::sync::mpsc;
use std::time::Instant;

use anyhow::Context as _;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use super::state::{Action, Event, Generation, Policy, Status, Supervisor};
use crate::activation::{self, FIRST_FD};
use crate::config::{Launch, Supervise};
use crate::error::Failure;
use crate::output::Printer;
use crate::readiness::{self, Directory, Listener, Message};
use crate::signal::Signal;
use crate::socket::Sockets;
use crate::sys;
use crate::watch::{self, Change};

/// What the threads forward to the loop.
enum Input {
    Change(Change),
    Signal(i32),
    Notify {
        generation: Generation,
        message: Message,
    },
    Exited {
        generation: Generation,
        status: Status,
    },
}

/// A child that has been started and not yet seen to exit.
struct Running {
    /// Closes the child's readiness socket when dropped.
    _listener: Listener,
}

/// Runs COMMAND under supervision until SIGINT or SIGTERM; returns the
/// status systemfd exits with.
pub fn run(
    settings: &Supervise,
    launch: &Launch,
    sockets: Sockets,
    printer: &Printer,
) -> Result<i32, Failure> {
    let policy = Policy {
        stop_first: settings.stop_first,
        grace: settings.stop_timeout,
        signal_on_change: settings.signal_on_change,
    };
    let directory = Directory::create()
        .context("cannot create a private directory for the readiness sockets")
        .map_err(Failure::setup)?;
    let (tx, rx) = mpsc::channel();

    let mut signals = signal_hook::iterator::Signals::new([SIGHUP, SIGINT, SIGTERM])
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

    // Watching starts before the first child, so no change goes unseen.
    let change_tx = tx.clone();
    let _watcher = watch::start(
        watch::Settings {
            paths: &settings.watch,
            ignores: &settings.ignore,
            debounce: settings.debounce,
            exclude: vec![directory.path().to_owned()],
        },
        *printer,
        move |change| change_tx.send(Input::Change(change)).is_ok(),
    )
    .map_err(Failure::setup)?;

    let staged = sys::stage(&sockets.fds(), FIRST_FD + sockets.len() as i32)
        .context("cannot duplicate a socket")
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
    let mut running: HashMap<Generation, Running> = HashMap::new();
    let mut actions: VecDeque<Action> = supervisor.begin(Instant::now()).into();
    loop {
        while let Some(action) = actions.pop_front() {
            match action {
                Action::Start(generation) => {
                    if settings.clear {
                        printer.clear_screen();
                    }
                    let event = match starter.start(generation) {
                        Ok((pid, child)) => {
                            running.insert(generation, child);
                            Event::Started { generation, pid }
                        }
                        // The first start decides whether COMMAND can run at all.
                        Err(StartError::Setup(err)) if generation == 1 => {
                            return Err(Failure::setup(err))
                        }
                        Err(StartError::Exec(err)) if generation == 1 => {
                            return Err(Failure::exec(program, err))
                        }
                        Err(err) => Event::StartFailed {
                            generation,
                            error: err.describe(program),
                        },
                    };
                    actions.extend(supervisor.handle(event, Instant::now()));
                }
                Action::Stop { pid } => send(pid, settings.stop_signal, printer),
                Action::Kill { pid } => send(pid, Signal::KILL, printer),
                Action::Signal { pid, signal } => {
                    if let Err(err) = sys::signal_process(pid, signal.0) {
                        printer.warn(&format!("cannot send {signal} to pid {pid}: {err}"));
                    }
                }
                Action::Say(report) if report.is_error() => eprintln!("systemfd: error: {report}"),
                Action::Say(report) => printer.status(&report.to_string()),
                Action::Exit(code) => return Ok(code),
            }
        }

        let input = match supervisor.next_deadline() {
            Some(deadline) => rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .ok(),
            // The loop holds a sender, so this never ends with an error.
            None => rx.recv().ok(),
        };
        let events = match input {
            None => vec![Event::Tick],
            Some(Input::Change(Change { path, more })) => vec![Event::Change { path, more }],
            Some(Input::Signal(SIGHUP)) => vec![Event::Hangup],
            Some(Input::Signal(signal)) => vec![Event::Shutdown {
                signal: Signal(signal),
            }],
            Some(Input::Notify {
                generation,
                message,
            }) => {
                let mut events = Vec::new();
                if let Some(text) = message.status {
                    events.push(Event::Status { generation, text });
                }
                if message.ready {
                    events.push(Event::Ready { generation });
                }
                events
            }
            Some(Input::Exited { generation, status }) => {
                running.remove(&generation);
                vec![Event::Exited { generation, status }]
            }
        };
        for event in events {
            actions.extend(supervisor.handle(event, Instant::now()));
        }
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

/// Signals a child's process group, saying so if that fails.
fn send(pid: u32, signal: Signal, printer: &Printer) {
    if let Err(err) = sys::signal_group(pid, signal.0) {
        printer.warn(&format!("cannot send {signal} to pid {pid}: {err}"));
    }
}

/// Why a start failed: systemfd's own set-up, or COMMAND itself.
enum StartError {
    Setup(anyhow::Error),
    Exec(std::io::Error),
}

impl StartError {
    fn describe(self, program: &std::ffi::OsStr) -> String {
        match self {
            StartError::Setup(err) => format!("{err:#}"),
            StartError::Exec(err) => Failure::exec(program, err).to_string(),
        }
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
    fn start(&self, generation: Generation) -> Result<(u32, Running), StartError> {
        let notify_tx = self.tx.clone();
        let listener = self
            .directory
            .listen(generation, move |message| {
                let _ = notify_tx.send(Input::Notify {
                    generation,
                    message,
                });
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
        let exit_tx = self.tx.clone();
        let waiter = std::thread::Builder::new()
            .name(format!("wait-{pid}"))
            .spawn(move || {
                let status = match sys::wait(pid) {
                    Ok(status) => match status.signal() {
                        Some(signal) => Status::Signal(Signal(signal)),
                        None => Status::Code(status.code().unwrap_or(-1)),
                    },
                    // Only possible if someone else reaped our child.
                    Err(_) => Status::Code(-1),
                };
                let _ = exit_tx.send(Input::Exited { generation, status });
            });
        if let Err(err) = waiter {
            // Without a waiter nobody would notice its exit: take it back.
            let _ = sys::signal_group(pid, Signal::KILL.0);
            let _ = sys::wait(pid);
            return Err(StartError::Setup(
                anyhow::Error::new(err).context("cannot start a thread to wait for the command"),
            ));
        }
        Ok((
            pid,
            Running {
                _listener: listener,
            },
        ))
    }
}
