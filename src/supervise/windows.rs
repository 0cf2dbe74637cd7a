//! Supervise mode on Windows.
//!
//! The sockets stay with systemfd's socket server for the whole run, and
//! every child fetches its duplicates from it, as in exec mode. Each start
//! gets a secret of its own, so the server tells which child fetched: a child
//! that has fetched its sockets is about to serve, and that is what makes a
//! replacement ready to take over (`Readiness::Fetched`). A child's secret is
//! revoked when it ends.
//!
//! Each child runs in a job object of its own, which holds its whole process
//! tree, and leads a console process group of its own. It is asked to stop
//! with Ctrl-Break to that group, and after `--stop-timeout` its job is
//! terminated. Where Ctrl-Break cannot be sent (systemfd has no console) the
//! job is terminated at once. A child counts as ended when its first process
//! exits; whatever else its job holds is ended with it.
//!
//! Windows does not let a running program be replaced, so a replacement that
//! rebuilds the program the child serving runs (`cargo run`) fails while that
//! runs. When a replacement exits before it is ready while the child serving
//! runs a program from the working directory (a build's output, not an
//! interpreter installed elsewhere), systemfd takes that for the cause: it
//! stops the child serving first and starts again (`Event::Blocked`).
//!
//! Everything that happens arrives over one channel: changes from the
//! watcher, fetches from the socket server, Ctrl-C, and the exit of each
//! child, from a thread that waits for it.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::mpsc;
use std::time::Instant;

use anyhow::Context as _;

use super::state::{Action, Event, Generation, Status, Supervisor};
use super::StartError;
use crate::activation;
use crate::config::{Launch, Readiness, Supervise};
use crate::error::Failure;
use crate::output::Printer;
use crate::signal::Signal;
use crate::socket::Sockets;
use crate::socket_server::{self, Key, Server};
use crate::sys::{self, CtrlC, Job, Spawn};
use crate::watch::Change;

/// What the threads forward to the loop.
enum Input {
    Change(Change),
    /// Ctrl-C or Ctrl-Break at systemfd's console.
    Interrupt,
    /// A process fetched its sockets with this secret.
    Fetched(Key),
    /// A child's first process exited.
    Exited {
        generation: Generation,
        status: std::io::Result<ExitStatus>,
    },
}

/// A started child that has not been seen to end.
struct Running {
    generation: Generation,
    /// Holds the child's process tree: terminated to end it, and closed
    /// (ending whatever is left) when the child is forgotten.
    job: Job,
    /// The secret it fetches its sockets with.
    key: Option<Key>,
}

/// Runs COMMAND under supervision until Ctrl-C; returns the status systemfd
/// exits with.
pub fn run(
    settings: &Supervise,
    launch: &Launch,
    sockets: Sockets,
    printer: &Printer,
) -> Result<i32, Failure> {
    // `--signal` is refused here, so a change always restarts.
    let policy = super::policy(settings, Readiness::Fetched);
    let (tx, rx) = mpsc::channel();

    let interrupt = CtrlC::install()
        .context("cannot handle Ctrl-C")
        .map_err(Failure::setup)?;
    let interrupt_tx = tx.clone();
    std::thread::Builder::new()
        .name("ctrl-c".into())
        .spawn(move || {
            while interrupt.wait().is_ok() {
                if interrupt_tx.send(Input::Interrupt).is_err() {
                    return;
                }
            }
        })
        .context("cannot start the Ctrl-C thread")
        .map_err(Failure::setup)?;

    let change_tx = tx.clone();
    let _watcher = super::watch_files(settings, Vec::new(), *printer, move |change| {
        change_tx.send(Input::Change(change)).is_ok()
    })?;

    let fd_names = sockets.fd_names();
    let server = if sockets.is_empty() {
        None
    } else {
        let (fetch_tx, report) = (tx.clone(), *printer);
        let server = sockets
            .serve(Box::new(move |event| match event {
                socket_server::Event::Served { key, .. } => {
                    let _ = fetch_tx.send(Input::Fetched(key));
                }
                other => report.warn(&format!("socket server: {other}")),
            }))
            .map_err(Failure::setup)?;
        Some(server)
    };
    let starter = Starter {
        launch,
        server: server.as_ref(),
        fd_names: &fd_names,
        tx: &tx,
    };
    let here = std::env::current_dir().ok();
    let program = launch.program();

    let mut supervisor = Supervisor::new(policy);
    let mut children: HashMap<u32, Running> = HashMap::new();
    let mut stops = Stops::default();
    let mut actions: VecDeque<Action> = supervisor.begin(Instant::now()).into();
    loop {
        while let Some(action) = actions.pop_front() {
            match action {
                Action::Start(generation) => {
                    if settings.clear {
                        printer.clear_screen();
                    }
                    let event = match starter.start(generation) {
                        Ok((pid, running)) => {
                            children.insert(pid, running);
                            Event::Started { generation, pid }
                        }
                        Err(err) => err.event(generation, program)?,
                    };
                    actions.extend(supervisor.handle(event, Instant::now()));
                }
                Action::Stop { pid } => {
                    if let Some(child) = children.get(&pid) {
                        stops.stop(pid, &child.job, printer);
                    }
                }
                Action::Kill { pid } => {
                    if let Some(child) = children.get(&pid) {
                        terminate(pid, &child.job, printer);
                    }
                }
                // Neither is asked for here: there is no --signal on Windows,
                // and listening is not looked for.
                Action::Signal { .. } | Action::Look { .. } => {}
                Action::Say(report) if report.is_error() => printer.error(&report.to_string()),
                Action::Say(report) => printer.status(&report.to_string()),
                // Dropping the children closes their jobs, which ends
                // whatever is left of them.
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
        let event = match input {
            None => Event::Tick,
            Some(Input::Change(Change { path, more })) => Event::Change { path, more },
            Some(Input::Interrupt) => Event::Shutdown {
                signal: Signal::INT,
            },
            Some(Input::Fetched(key)) => {
                match children.values().find(|child| child.key == Some(key)) {
                    Some(child) => Event::Fetched {
                        generation: child.generation,
                    },
                    None => Event::Tick,
                }
            }
            Some(Input::Exited { generation, status }) => {
                let status = match status {
                    // On Windows every status is a code, NTSTATUS values
                    // included.
                    Ok(status) => Status::Code(status.code().unwrap_or(-1)),
                    Err(err) => {
                        printer.warn(&format!("cannot read the command's exit status: {err}"));
                        Status::Code(-1)
                    }
                };
                ended(&mut children, generation, server.as_ref(), printer);
                match supervisor
                    .serving_beside(generation)
                    .and_then(|serving| children.get(&serving))
                    .and_then(|serving| built_here(&serving.job, here.as_deref()))
                {
                    Some(program) => Event::Blocked {
                        generation,
                        status,
                        program,
                    },
                    None => Event::Exited { generation, status },
                }
            }
        };
        actions.extend(supervisor.handle_all([event], Instant::now()));
    }
}

/// Forgets the child `generation` whose first process exited: whatever else
/// its job holds is ended, and its secret no longer fetches sockets.
fn ended(
    children: &mut HashMap<u32, Running>,
    generation: Generation,
    server: Option<&Server>,
    printer: &Printer,
) {
    let Some(&pid) = children
        .iter()
        .find(|(_, child)| child.generation == generation)
        .map(|(pid, _)| pid)
    else {
        return;
    };
    let child = children.remove(&pid).expect("found");
    if let Err(err) = child.job.terminate() {
        printer.warn(&format!(
            "cannot end what is left of pid {pid}'s process tree: {err}"
        ));
    }
    if let (Some(server), Some(key)) = (server, child.key) {
        server.revoke(key);
    }
}

/// Ends the child `pid`'s whole process tree at once.
fn terminate(pid: u32, job: &Job, printer: &Printer) {
    if let Err(err) = job.terminate() {
        printer.warn(&format!("cannot end pid {pid}'s process tree: {err}"));
    }
}

/// Stopping children: Ctrl-Break first; where systemfd cannot send it (it has
/// no console), their process trees are ended at once, which is said once.
#[derive(Default)]
struct Stops {
    said: bool,
}

impl Stops {
    fn stop(&mut self, pid: u32, job: &Job, printer: &Printer) {
        let Err(err) = sys::ctrl_break(pid) else {
            return;
        };
        if !std::mem::replace(&mut self.said, true) {
            printer.warn(&format!(
                "cannot send Ctrl-Break to pid {pid} ({err}): commands are ended without a graceful stop"
            ));
        }
        terminate(pid, job, printer);
    }
}

/// A program that `job` runs from below `here`, the working directory: the
/// output of a build, which a replacement may have failed to rebuild.
fn built_here(job: &Job, here: Option<&Path>) -> Option<PathBuf> {
    let here = lowercase(here?);
    job.programs()
        .ok()?
        .into_iter()
        .find(|program| lowercase(program).starts_with(&here))
}

/// Windows paths compare without regard to case.
fn lowercase(path: &Path) -> PathBuf {
    PathBuf::from(path.to_string_lossy().to_lowercase())
}

/// Starts children: everything a start needs besides the generation.
struct Starter<'a> {
    launch: &'a Launch,
    server: Option<&'a Server>,
    fd_names: &'a str,
    tx: &'a mpsc::Sender<Input>,
}

impl Starter<'_> {
    /// Starts `generation` in a job of its own, leading a console process
    /// group of its own, with a secret of its own.
    fn start(&self, generation: Generation) -> Result<(u32, Running), StartError> {
        let mut command = std::process::Command::new(self.launch.program());
        command.args(&self.launch.command[1..]);
        for name in activation::STALE_VARIABLES {
            command.env_remove(name);
        }
        let key = match self.server {
            Some(server) => {
                let (key, secret) = server
                    .issue()
                    .context("cannot make a secret for the socket server")
                    .map_err(StartError::Setup)?;
                command.env("LISTEN_FDNAMES", self.fd_names);
                command.envs(server.variables(&secret));
                Some(key)
            }
            None => None,
        };
        let revoke = || {
            if let (Some(server), Some(key)) = (self.server, key) {
                server.revoke(key);
            }
        };
        let job = Job::new()
            .context("cannot create a job object for the command")
            .map_err(|err| {
                revoke();
                StartError::Setup(err)
            })?;
        let mut child = sys::spawn_suspended(&mut command, Spawn::NewGroup).map_err(|err| {
            revoke();
            StartError::Exec(err)
        })?;
        let placed = job
            .assign(&child)
            .context("cannot put the command in a job object")
            .and_then(|()| {
                sys::resume(child.id()).context("cannot start the command's main thread")
            });
        if let Err(err) = placed {
            let _ = child.kill();
            let _ = child.wait();
            revoke();
            return Err(StartError::Setup(err));
        }
        let pid = child.id();
        let exit_tx = self.tx.clone();
        let waiting = std::thread::Builder::new()
            .name(format!("wait {pid}"))
            .spawn(move || {
                let status = child.wait();
                let _ = exit_tx.send(Input::Exited { generation, status });
            });
        if let Err(err) = waiting {
            let _ = job.terminate();
            revoke();
            return Err(StartError::Setup(
                anyhow::Error::new(err).context("cannot start a thread to wait for the command"),
            ));
        }
        Ok((
            pid,
            Running {
                generation,
                job,
                key,
            },
        ))
    }
}
