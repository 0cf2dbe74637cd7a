//! What a failed run reports, and the exit status it maps to.
//!
//! A run that fails before or instead of running the command ends with a
//! [`Failure`]: the message `main` prints on stderr after
//! `systemfd: error: `, and one of the statuses below. A run that reaches
//! the command exits with the command's own status instead (`run`'s `Ok`).
//! The statuses are those of the README's "Exit status" table; 126 and 127
//! follow the shells' convention.

#![warn(missing_docs)]

use std::fmt;

/// The exit status for a bad command line or socket spec, 2: nothing was
/// created.
pub const EXIT_USAGE: u8 = 2;
/// The exit status for a set-up failure, 1: a socket could not be bound,
/// permission was denied, a host name did not resolve, a file could not be
/// watched.
pub const EXIT_SETUP: u8 = 1;
/// The exit status when COMMAND exists but cannot be executed, 126.
pub const EXIT_CANNOT_EXECUTE: u8 = 126;
/// The exit status when COMMAND is not found, 127.
pub const EXIT_NOT_FOUND: u8 = 127;

/// An error that ends the run, with the exit status it calls for. `Display`
/// gives the message with its cause chain on one line
/// (`outer: cause: root cause`), as printed after `systemfd: error: `.
#[derive(Debug)]
pub struct Failure {
    /// The exit status: one of the `EXIT_*` constants.
    pub code: u8,
    /// What went wrong, with its causes.
    pub error: anyhow::Error,
}

impl Failure {
    /// A usage failure ([`EXIT_USAGE`]): the command line or a spec is wrong.
    pub fn usage(error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            code: EXIT_USAGE,
            error: error.into(),
        }
    }

    /// A set-up failure ([`EXIT_SETUP`]): systemfd could not prepare what
    /// the command needs.
    pub fn setup(error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            code: EXIT_SETUP,
            error: error.into(),
        }
    }

    /// COMMAND, `program`, could not be started because of `err`:
    /// [`EXIT_NOT_FOUND`] when `err` is of kind `NotFound`, else
    /// [`EXIT_CANNOT_EXECUTE`]. The message is
    /// `cannot run 'PROGRAM': ` followed by `err`.
    pub fn exec(program: &std::ffi::OsStr, err: std::io::Error) -> Failure {
        let code = if err.kind() == std::io::ErrorKind::NotFound {
            EXIT_NOT_FOUND
        } else {
            EXIT_CANNOT_EXECUTE
        };
        let error =
            anyhow::Error::new(err).context(format!("cannot run '{}'", program.to_string_lossy()));
        Failure { code, error }
    }
}

impl Failure {
    /// The build step (`--build`) of exec mode failed: systemfd exits with
    /// its status, `code` (128+N when signal N killed it), and says `how`
    /// it ended, and that `program` (COMMAND's) was not run.
    pub fn build(code: u8, how: &str, program: &std::ffi::OsStr) -> Failure {
        Failure {
            code,
            error: anyhow::anyhow!(
                "the build failed: it {how}; '{}' was not run",
                program.to_string_lossy()
            ),
        }
    }
}

impl fmt::Display for Failure {
    /// The message with its cause chain, as printed after `systemfd: error: `.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.error)
    }
}
