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

use crate::error::Failure;
use state::{Event, Generation};

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
