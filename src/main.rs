use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;

use systemfd::cli::Cli;
use systemfd::error::{Failure, EXIT_USAGE};

fn main() -> ExitCode {
    let status = run();
    // Statuses that do not fit in a byte (a Windows command's NTSTATUS) are
    // passed on whole; everything of ours is dropped by now.
    match u8::try_from(status) {
        Ok(code) => ExitCode::from(code),
        Err(_) => std::process::exit(status),
    }
}

/// Parses the command line, runs, and returns the exit status.
fn run() -> i32 {
    let config = match Cli::try_parse() {
        Ok(cli) => match cli.generate() {
            Some(kind) => return generate(kind),
            None => cli.into_config(),
        },
        Err(err) => return usage_error(err),
    };
    match config.and_then(systemfd::run) {
        Ok(status) => status,
        Err(failure) => report(&failure),
    }
}

/// `--generate`: the man page or a completion script on stdout.
fn generate(kind: systemfd::cli::Generate) -> i32 {
    match systemfd::cli::generate(kind, &mut std::io::stdout().lock()) {
        Ok(()) => 0,
        Err(err) => report(&Failure::setup(
            anyhow::Error::new(err).context("cannot write to stdout"),
        )),
    }
}

/// `systemfd: error: …` with the cause chain, and the failure's status.
fn report(failure: &Failure) -> i32 {
    // A closed stderr must not turn an error into a panic.
    let _ = writeln!(std::io::stderr(), "systemfd: error: {failure}");
    i32::from(failure.code)
}

/// Help and version go to stdout with status 0; anything else is a usage
/// error, reported in systemfd's own format with status 2.
fn usage_error(err: clap::Error) -> i32 {
    if !err.use_stderr() {
        let _ = err.print();
        return 0;
    }
    let rendered = err.render().to_string();
    let message = rendered.strip_prefix("error: ").unwrap_or(&rendered);
    let _ = write!(std::io::stderr(), "systemfd: error: {message}");
    i32::from(EXIT_USAGE)
}
