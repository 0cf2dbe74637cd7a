//! What the supervise loop needs from the platform: the contract each OS's
//! host fulfils, so that the loop in `driver` is written once.
//!
//! A host starts, stops and signals children, looks at them, and turns
//! what its own threads report (signals, readiness messages, exits,
//! fetches) into [`Event`]s. The decisions stay in `state`; the loop only
//! carries them out through the host.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::Instant;

use super::state::{Drain, Event, Generation, Outage, Waiter};
use crate::error::Failure;
use crate::watch::Change;

/// What reaches the loop over its one channel: a batch of changes from the
/// watcher, or news from one of the host's own threads.
#[derive(Debug)]
pub enum Input<T> {
    /// Watched files changed (debounced).
    Change(Change),
    /// The host's own news, turned into events by [`Host::events`].
    Host(T),
    /// A connection or a datagram waits on the socket at this position,
    /// while the loop waited for one (the doorbell of `crate::demand`).
    Connection(usize),
}

/// A platform's way of running children. Every method is called from the
/// loop's thread.
pub trait Host {
    /// What the host's threads send to the loop (as [`Input::Host`]).
    type News: Send + 'static;

    /// Starts COMMAND as `generation`. Returns the pid of its first process.
    ///
    /// # Errors
    /// [`StartError::Setup`] when systemfd could not prepare the start,
    /// [`StartError::Exec`] when COMMAND could not be run.
    fn start(&mut self, generation: Generation) -> Result<u32, StartError>;

    /// Starts the build step (`--build`) through the shell, in a process
    /// group (Windows: a job) of its own, with stdin closed; its output
    /// goes to systemfd's stderr as it comes, and its last part is kept
    /// for the error page. Returns the pid of its first process; its end
    /// comes as [`Event::Built`] from [`Host::events`].
    ///
    /// # Errors
    /// [`StartError::Setup`] when the pipe or the process group cannot be
    /// made, [`StartError::Exec`] when the shell cannot be run.
    fn build(&mut self) -> Result<u32, StartError>;

    /// The kept output of the last build (its last 64 KiB; empty without
    /// one), for the pages' banner.
    fn build_output(&self) -> Vec<u8>;

    /// Answers every connection on the `http::` sockets with an error page
    /// that tells `outage` (`Some`); or (`None`) stops answering, and
    /// returns only once nothing in systemfd accepts any more (bounded:
    /// see `error_page`), so connections wait for what starts next. A host
    /// without `http::` sockets does nothing.
    fn answer(&mut self, outage: Option<&Outage>);

    /// Asks the child `pid` to stop: the policy's stop signal to its
    /// process group (Unix), Ctrl-Break (Windows). Failures are reported
    /// by the host, on the terminal.
    fn stop(&mut self, pid: u32);

    /// Asks the child `pid`, which has handed over, to stop only if no
    /// process of its tree holds a connection accepted on a passed socket:
    /// then it is sent what [`Host::stop`] sends, and the answer is
    /// [`Drain::Stopped`]. Otherwise nothing is sent: [`Drain::Busy`] with
    /// the connections held, or [`Drain::Unknown`] where connections cannot
    /// be seen. The check must not race a connection being accepted
    /// meanwhile.
    fn stop_when_idle(&mut self, pid: u32) -> Drain;

    /// Like [`Host::stop_when_idle`], for a child serving alone that has
    /// had no connection for `--idle-stop`'s time: its tree is held still
    /// while its connections are counted, and never left stopped.
    /// [`Drain::Unknown`] where connections cannot be seen.
    fn stop_if_idle(&mut self, pid: u32) -> Drain;

    /// How many connections are open to the passed stream sockets or wait
    /// in their backlogs, systemfd's own left out (`--idle-stop`); `None`
    /// where that cannot be seen (not Linux, or `/proc` unreadable).
    fn connections(&mut self) -> Option<usize>;

    /// Ends the child `pid` and its whole process tree at once.
    fn kill(&mut self, pid: u32);

    /// Sends `signal` to the process `pid` alone (`--signal`, forwarded
    /// signals; Unix).
    fn signal(&mut self, pid: u32, signal: crate::signal::Signal);

    /// Sends `signal` to the process group `group`, a child's whose first
    /// process has exited (`--signal`, forwarded signals; Unix, where a
    /// group outlives its first process: elsewhere never asked).
    fn signal_group(&mut self, group: u32, signal: crate::signal::Signal);

    /// Whether a process of the child `pid`'s tree is waiting for
    /// connections on a passed socket; `None` where that cannot be seen.
    fn look(&mut self, pid: u32) -> Option<Waiter>;

    /// The program from the working directory (a build's output) that the
    /// child `pid` runs, where a running program cannot be replaced
    /// (Windows): a replacement that exits early may have failed to
    /// rebuild it. `None` elsewhere.
    fn blocker(&self, pid: u32) -> Option<PathBuf>;

    /// When the loop must wake at the latest, given `due`, the supervisor's
    /// next deadline: a host may need to look sooner.
    fn deadline(&self, due: Option<Instant>) -> Option<Instant> {
        due
    }

    /// The events `news` means (`None`: the deadline passed), followed by
    /// the exit of every child seen to end since the last call.
    fn events(&mut self, news: Option<Self::News>) -> Vec<Event>;

    /// Called once, just before systemfd exits with `code`: a host ends
    /// whatever it still holds (`code` 0 is a graceful exit) and gives back
    /// what it borrowed (the terminal).
    fn finish(&mut self, code: i32);
}

/// Why a start failed: systemfd's own set-up, or COMMAND itself.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// systemfd could not prepare the start (a socket, a job object).
    #[error("{0:#}")]
    Setup(anyhow::Error),
    /// COMMAND could not be run (not found: exit 127, else 126).
    #[error("{0}")]
    Exec(std::io::Error),
}

impl StartError {
    /// What the failed start of `generation` means: the first start decides
    /// whether COMMAND can run at all (systemfd fails as exec mode would);
    /// a later one is reported and waited out.
    ///
    /// # Errors
    /// The [`Failure`] systemfd ends with, for the first generation.
    pub fn event(self, generation: Generation, program: &OsStr) -> Result<Event, Failure> {
        let error = match self {
            StartError::Setup(err) if generation == 1 => return Err(Failure::setup(err)),
            StartError::Exec(err) if generation == 1 => return Err(Failure::exec(program, err)),
            StartError::Setup(err) => format!("{err:#}"),
            StartError::Exec(err) => Failure::exec(program, err).to_string(),
        };
        Ok(Event::StartFailed { generation, error })
    }
}
