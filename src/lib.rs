//! systemfd: opens listening sockets and runs a command that inherits them,
//! using the systemd socket-activation protocol (see `docs/protocol.md`).
//!
//! The binary is a thin wrapper around [`run`].

pub mod activation;
pub mod cli;
pub mod error;
#[cfg(unix)]
pub mod listening;
pub mod output;
#[cfg(unix)]
pub mod readiness;
pub mod socket;
pub mod socket_server;
pub mod spec;
pub mod supervise;
pub mod sys;
#[cfg(unix)]
pub mod watch;

use crate::cli::Cli;
use crate::error::Failure;
use crate::output::Printer;
use crate::socket::{Options, Sockets};

/// Creates the sockets, reports them, and hands them to the command.
/// Returns the status systemfd should exit with.
pub fn run(cli: Cli) -> Result<i32, Failure> {
    check_supervise_flags(&cli)?;
    let printer = Printer::new(cli.quiet, cli.color);
    let options = Options {
        backlog: cli.backlog.unwrap_or(Options::default().backlog),
        reuse_addr: !cli.no_reuse,
        reuse_port: cli.reuse_port,
        nonblocking: cli.nonblocking,
    };
    let sockets = Sockets::open(&cli.sockets, &options).map_err(Failure::setup)?;
    if sockets.is_empty() {
        printer.warn("no sockets given (-s); running the command without any");
    } else if !printer.is_quiet() {
        printer.write(&describe(&sockets, &printer));
    }
    #[cfg(unix)]
    if !cli.watch.is_empty() {
        return supervise::run(&cli, sockets, &printer);
    }
    let launch = sys::Launch {
        command: &cli.command,
        set_pid: !cli.no_pid,
    };
    sys::hand_over(sockets, &launch, &printer)
}

/// Supervise mode's flags need `--watch`, and Unix: anything else is a
/// usage error, found before any socket exists.
fn check_supervise_flags(cli: &Cli) -> Result<(), Failure> {
    let Some(flag) = cli.supervise_flags().first().copied() else {
        return Ok(());
    };
    if cfg!(not(unix)) {
        return Err(Failure::usage(anyhow::anyhow!(
            "{flag} is not supported on Windows: supervise mode needs Unix process groups and signals"
        )));
    }
    if cli.watch.is_empty() {
        return Err(Failure::usage(anyhow::anyhow!(
            "{flag} applies only in supervise mode: add --watch PATH"
        )));
    }
    Ok(())
}

/// One `~> socket …` line per socket, in order.
fn describe(sockets: &Sockets, printer: &Printer) -> String {
    let mut text = String::new();
    for (index, open) in sockets.sockets.iter().enumerate() {
        text.push_str(&printer.socket_line(
            &open.describe(),
            &sys::target_label(index),
            open.spec.name.as_deref(),
        ));
    }
    text
}
