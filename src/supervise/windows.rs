//! The Windows host of supervise mode.
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
//! The host's threads forward fetches from the socket server, Ctrl-C, and
//! the exit of each child, from a thread that waits for it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::mpsc;

use anyhow::Context as _;

use super::build_log::BuildLog;
use super::host::{Host, Input, StartError};
use super::page::Page;
use super::state::{Drain, Event, Generation, Outage, Status, Waiter};
use crate::activation::Invocation;
use crate::error::Failure;
use crate::output::Printer;
use crate::signal::Signal;
use crate::socket::Sockets;
use crate::socket_server::{self, Key, Server};
use crate::sys::{self, CtrlC, Job, Spawn};

/// What the host's threads forward to the loop.
#[derive(Debug)]
pub enum News {
    /// Ctrl-C or Ctrl-Break at systemfd's console.
    Interrupt,
    /// A process fetched its sockets with this secret.
    Fetched(Key),
    /// A child's first process exited.
    Exited {
        generation: Generation,
        status: std::io::Result<ExitStatus>,
    },
    /// The build step's first process exited.
    Built(std::io::Result<ExitStatus>),
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

/// Children as job objects and console process groups, served their
/// sockets by the socket server.
pub struct WindowsHost {
    printer: Printer,
    invocation: Invocation,
    /// Serves the sockets for the whole run; `None` without sockets.
    server: Option<Server>,
    /// The working directory, where a build's output is.
    here: Option<PathBuf>,
    children: HashMap<u32, Running>,
    /// Whether it was said that Ctrl-Break cannot be sent.
    said_no_break: bool,
    tx: mpsc::Sender<Input<News>>,
    /// The build step (`--build`); the job of its run and its pid, while it
    /// runs; the output of its last run.
    build: Option<Invocation>,
    building: Option<(u32, Job)>,
    build_log: Option<BuildLog>,
    /// The error page, with `http::` sockets (unless `--no-error-page`).
    page: Option<Page>,
}

impl WindowsHost {
    /// Sets up supervision of `invocation` with `sockets`: Ctrl-C handling
    /// and the socket server. `tx` is the loop's channel.
    ///
    /// # Errors
    /// A set-up [`Failure`] when either cannot be made.
    pub fn new(
        invocation: Invocation,
        build: Option<Invocation>,
        page: Option<Page>,
        sockets: Sockets,
        tx: mpsc::Sender<Input<News>>,
        printer: Printer,
    ) -> Result<WindowsHost, Failure> {
        let interrupt = CtrlC::install()
            .context("cannot handle Ctrl-C")
            .map_err(Failure::setup)?;
        let interrupt_tx = tx.clone();
        std::thread::Builder::new()
            .name("ctrl-c".into())
            .spawn(move || {
                while interrupt.wait().is_ok() {
                    if interrupt_tx.send(Input::Host(News::Interrupt)).is_err() {
                        return;
                    }
                }
            })
            .context("cannot start the Ctrl-C thread")
            .map_err(Failure::setup)?;
        let server = if sockets.is_empty() {
            None
        } else {
            let fetch_tx = tx.clone();
            let server = sockets
                .serve(Box::new(move |event| match event {
                    socket_server::Event::Served { key, .. } => {
                        let _ = fetch_tx.send(Input::Host(News::Fetched(key)));
                    }
                    other => printer.warn(&format!("socket server: {other}")),
                }))
                .map_err(Failure::setup)?;
            Some(server)
        };
        Ok(WindowsHost {
            printer,
            invocation,
            server,
            here: std::env::current_dir().ok(),
            children: HashMap::new(),
            said_no_break: false,
            tx,
            build,
            building: None,
            build_log: None,
            page,
        })
    }

    fn revoke(&self, key: Option<Key>) {
        if let (Some(server), Some(key)) = (&self.server, key) {
            server.revoke(key);
        }
    }

    /// Forgets the child `generation` whose first process exited: whatever
    /// else its job holds is ended, and its secret no longer fetches
    /// sockets.
    fn ended(&mut self, generation: Generation) {
        let Some(&pid) = self
            .children
            .iter()
            .find(|(_, child)| child.generation == generation)
            .map(|(pid, _)| pid)
        else {
            return;
        };
        let child = self.children.remove(&pid).expect("found");
        if let Err(err) = child.job.terminate() {
            self.printer.warn(&format!(
                "cannot end what is left of pid {pid}'s process tree: {err}"
            ));
        }
        self.revoke(child.key);
    }

    /// Starts `generation` in a job of its own, leading a console process
    /// group of its own, with a secret of its own (revoked again if the
    /// start fails).
    fn start_with(
        &mut self,
        generation: Generation,
        key: Option<Key>,
        invocation: &Invocation,
    ) -> Result<u32, StartError> {
        let job = Job::new()
            .context("cannot create a job object for the command")
            .map_err(StartError::Setup)?;
        let mut command = invocation.to_command();
        let mut child =
            sys::spawn_suspended(&mut command, Spawn::NewGroup).map_err(StartError::Exec)?;
        let placed = job
            .assign(&child)
            .context("cannot put the command in a job object")
            .and_then(|()| {
                sys::resume(child.id()).context("cannot start the command's main thread")
            });
        if let Err(err) = placed {
            let _ = child.kill();
            let _ = child.wait();
            return Err(StartError::Setup(err));
        }
        let pid = child.id();
        let exit_tx = self.tx.clone();
        let waiting = std::thread::Builder::new()
            .name(format!("wait {pid}"))
            .spawn(move || {
                let status = child.wait();
                let _ = exit_tx.send(Input::Host(News::Exited { generation, status }));
            });
        if let Err(err) = waiting {
            let _ = job.terminate();
            return Err(StartError::Setup(
                anyhow::Error::new(err).context("cannot start a thread to wait for the command"),
            ));
        }
        self.children.insert(
            pid,
            Running {
                generation,
                job,
                key,
            },
        );
        Ok(pid)
    }

    /// Ends the build step's job, if `pid` is the build's; says whether
    /// it was.
    fn end_build(&self, pid: u32) -> bool {
        let Some((_, job)) = self.building.as_ref().filter(|(build, _)| *build == pid) else {
            return false;
        };
        if let Err(err) = job.terminate() {
            self.printer
                .warn(&format!("cannot end the build's process tree: {err}"));
        }
        true
    }

    /// Ends the child `pid`'s whole process tree at once.
    fn terminate(&self, pid: u32) {
        let Some(child) = self.children.get(&pid) else {
            return;
        };
        if let Err(err) = child.job.terminate() {
            self.printer
                .warn(&format!("cannot end pid {pid}'s process tree: {err}"));
        }
    }
}

impl Host for WindowsHost {
    type News = News;

    fn start(&mut self, generation: Generation) -> Result<u32, StartError> {
        let mut invocation = self.invocation.clone();
        let key = match &self.server {
            Some(server) => {
                let (key, secret) = server
                    .issue()
                    .context("cannot make a secret for the socket server")
                    .map_err(StartError::Setup)?;
                for (name, value) in server.variables(&secret) {
                    invocation.set(name, value);
                }
                Some(key)
            }
            None => None,
        };
        let started = self.start_with(generation, key, &invocation);
        if started.is_err() {
            self.revoke(key);
        }
        started
    }

    /// Through `cmd /C`, the command line passed as it is (cmd does its
    /// own quoting), in a job of its own.
    fn build(&mut self) -> Result<u32, StartError> {
        use std::os::windows::process::CommandExt as _;
        let Some(build) = &self.build else {
            return Err(StartError::Setup(anyhow::anyhow!("no build step")));
        };
        let line = build.command.last().cloned().unwrap_or_default();
        self.printer
            .status(&format!("build: {}", crate::output::one_line(&line)));
        let (reader, writer) = std::io::pipe()
            .context("cannot make a pipe for the build's output")
            .map_err(StartError::Setup)?;
        let job = Job::new()
            .context("cannot create a job object for the build")
            .map_err(StartError::Setup)?;
        let mut command = std::process::Command::new(build.program());
        command
            .args(&build.command[1..build.command.len() - 1])
            .raw_arg(&line)
            .env_clear()
            .envs(build.env.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::null())
            .stdout(
                writer
                    .try_clone()
                    .context("cannot make a pipe for the build's output")
                    .map_err(StartError::Setup)?,
            )
            .stderr(writer);
        let mut child =
            sys::spawn_suspended(&mut command, Spawn::NewGroup).map_err(StartError::Exec)?;
        // The command holds the pipe's write ends: end of file comes only
        // once they are gone.
        drop(command);
        let placed = job
            .assign(&child)
            .context("cannot put the build in a job object")
            .and_then(|()| sys::resume(child.id()).context("cannot start the build"));
        if let Err(err) = placed {
            let _ = child.kill();
            let _ = child.wait();
            return Err(StartError::Setup(err));
        }
        let pid = child.id();
        let exit_tx = self.tx.clone();
        let waiting = std::thread::Builder::new()
            .name("wait build".into())
            .spawn(move || {
                let status = child.wait();
                let _ = exit_tx.send(Input::Host(News::Built(status)));
            });
        if let Err(err) = waiting {
            let _ = job.terminate();
            return Err(StartError::Setup(
                anyhow::Error::new(err).context("cannot start a thread to wait for the build"),
            ));
        }
        match BuildLog::start(reader) {
            Ok(log) => self.build_log = Some(log),
            Err(err) => self.printer.warn(&format!(
                "cannot start the thread that shows the build's output: {err}"
            )),
        }
        self.building = Some((pid, job));
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
        let log = self.build_log.as_ref();
        page.answer(outage, || log.map(BuildLog::output).unwrap_or_default());
    }

    /// Ctrl-Break first; where systemfd cannot send it (it has no console),
    /// the process tree is ended at once, which is said once. (The build
    /// step is ended at once: it serves nothing.)
    fn stop(&mut self, pid: u32) {
        if self.end_build(pid) || !self.children.contains_key(&pid) {
            return;
        }
        let Err(err) = sys::ctrl_break(pid) else {
            return;
        };
        if !std::mem::replace(&mut self.said_no_break, true) {
            self.printer.warn(&format!(
                "cannot send Ctrl-Break to pid {pid} ({err}): commands are ended without a graceful stop"
            ));
        }
        self.terminate(pid);
    }

    // Not looked at on Windows: telling a connection the child accepted
    // from one still queued, without a race against its next accept, would
    // need its whole job held still while its connections are listed. The
    // old child is stopped at once, as before draining existed.
    fn stop_when_idle(&mut self, _pid: u32) -> Drain {
        Drain::Unknown
    }

    // `--idle-stop` is refused here (cli): connections are not counted.
    fn stop_if_idle(&mut self, _pid: u32) -> Drain {
        Drain::Unknown
    }

    fn connections(&mut self) -> Option<usize> {
        None
    }

    fn kill(&mut self, pid: u32) {
        if !self.end_build(pid) {
            self.terminate(pid);
        }
    }

    // Never asked for: there is no --signal on Windows, nor a signal to
    // forward.
    fn signal(&mut self, _pid: u32, _signal: Signal) {}

    // A job ends with its first process: no group outlives it.
    fn signal_group(&mut self, _group: u32, _signal: Signal) {}

    // Never asked for: readiness is having fetched the sockets.
    fn look(&mut self, _pid: u32) -> Option<Waiter> {
        None
    }

    /// A program that the child `pid` runs from below the working
    /// directory: the output of a build, which a replacement may have
    /// failed to rebuild.
    fn blocker(&self, pid: u32) -> Option<PathBuf> {
        let here = lowercase(self.here.as_deref()?);
        self.children
            .get(&pid)?
            .job
            .programs()
            .ok()?
            .into_iter()
            .find(|program| lowercase(program).starts_with(&here))
    }

    fn events(&mut self, news: Option<News>) -> Vec<Event> {
        let event = match news {
            None => Event::Tick,
            Some(News::Interrupt) => Event::Shutdown {
                signal: Signal::INT,
            },
            Some(News::Fetched(key)) => {
                match self.children.values().find(|child| child.key == Some(key)) {
                    Some(child) => Event::Fetched {
                        generation: child.generation,
                    },
                    None => Event::Tick,
                }
            }
            Some(News::Exited { generation, status }) => {
                let status = match status {
                    // On Windows every status is a code, NTSTATUS values
                    // included.
                    Ok(status) => Status::Code(status.code().unwrap_or(-1)),
                    Err(err) => {
                        self.printer
                            .warn(&format!("cannot read the command's exit status: {err}"));
                        Status::Code(-1)
                    }
                };
                self.ended(generation);
                Event::Exited { generation, status }
            }
            Some(News::Built(status)) => {
                // Whatever the build left behind ends with its job.
                self.building = None;
                Event::Built {
                    status: Status::Code(status.map_or(-1, |s| s.code().unwrap_or(-1))),
                }
            }
        };
        vec![event]
    }

    // Dropping the children closes their jobs, which ends whatever is left
    // of them.
    fn finish(&mut self, _code: i32) {
        self.children.clear();
    }
}

/// Windows paths compare without regard to case.
fn lowercase(path: &Path) -> PathBuf {
    PathBuf::from(path.to_string_lossy().to_lowercase())
}
