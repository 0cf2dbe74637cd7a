//! Supervise mode (`-w`): systemfd stays the parent, keeps the sockets, and
//! restarts COMMAND when watched files change (or, on Unix, on SIGHUP).
//!
//! The restart decisions are plain Rust in [`state`], shared by every
//! platform. On Unix, `event_loop` feeds them with what happens and carries
//! out what they say, with `children` (process groups) and `terminal`; on
//! Windows, `windows` does, with a job object and a console process group
//! per child and the socket server.

#[cfg(unix)]
mod children;
#[cfg(unix)]
mod event_loop;
mod state;
#[cfg(unix)]
mod terminal;
#[cfg(windows)]
mod windows;

#[cfg(unix)]
pub use event_loop::run;
#[cfg(windows)]
pub use windows::run;

use std::ffi::OsStr;
use std::path::PathBuf;

use crate::config::{Readiness, Supervise};
use crate::error::Failure;
use crate::output::Printer;
use crate::watch;
use state::{Event, Generation, Policy};

/// How restarts are carried out, from the settings, with `ready` what
/// readiness comes to on this platform.
fn policy(settings: &Supervise, ready: Readiness) -> Policy {
    Policy {
        stop_first: settings.stop_first,
        grace: settings.stop_timeout,
        signal_on_change: settings.signal_on_change,
        ready,
    }
}

/// Starts watching the `-w` paths, leaving out `exclude`; `on_change` gets
/// every debounced batch. Started before the first child, so that no change
/// goes unseen.
fn watch_files(
    settings: &Supervise,
    exclude: Vec<PathBuf>,
    printer: Printer,
    on_change: impl FnMut(watch::Change) -> bool + Send + 'static,
) -> Result<watch::Watcher, Failure> {
    watch::start(
        watch::Settings {
            paths: &settings.watch,
            ignores: &settings.ignore,
            debounce: settings.debounce,
            exclude,
        },
        printer,
        on_change,
    )
    .map_err(Failure::setup)
}

/// Why a start failed: systemfd's own set-up, or COMMAND itself.
enum StartError {
    Setup(anyhow::Error),
    Exec(std::io::Error),
}

impl StartError {
    /// What the failed start of `generation` means: the first start decides
    /// whether COMMAND can run at all (systemfd fails as exec mode would);
    /// a later one is reported and waited out.
    fn event(self, generation: Generation, program: &OsStr) -> Result<Event, Failure> {
        let error = match self {
            StartError::Setup(err) if generation == 1 => return Err(Failure::setup(err)),
            StartError::Exec(err) if generation == 1 => return Err(Failure::exec(program, err)),
            StartError::Setup(err) => format!("{err:#}"),
            StartError::Exec(err) => Failure::exec(program, err).to_string(),
        };
        Ok(Event::StartFailed { generation, error })
    }
}
