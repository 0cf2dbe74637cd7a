//! What a failed run reports, and the exit status it maps to.

use std::fmt;

/// The exit status for a bad command line or spec.
pub const EXIT_USAGE: u8 = 2;
/// The exit status for a setup failure: bind, permission, resolution.
pub const EXIT_SETUP: u8 = 1;
/// The exit status when COMMAND exists but cannot be executed.
pub const EXIT_CANNOT_EXECUTE: u8 = 126;
/// The exit status when COMMAND is not found.
pub const EXIT_NOT_FOUND: u8 = 127;

/// An error that ends the run, with the exit status it calls for.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

impl Failure {
    pub fn usage(error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            code: EXIT_USAGE,
            error: error.into(),
        }
    }

    pub fn setup(error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            code: EXIT_SETUP,
            error: error.into(),
        }
    }

    /// COMMAND could not be started: 127 when it was not found, else 126.
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

impl fmt::Display for Failure {
    /// The message with its cause chain, as printed after `systemfd: error: `.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.error)
    }
}
