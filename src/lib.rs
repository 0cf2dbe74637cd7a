//! systemfd: opens listening sockets and runs a command that inherits them,
//! using the systemd socket-activation protocol (see `docs/protocol.md`).
//!
//! The binary parses its command line with [`cli`] into a [`config::Config`]
//! and calls [`run`]; everything else is internal. The modules form layers,
//! and each imports only from the layers below it:
//!
//! 1. `cli`: the command line, checked and turned into a `Config`.
//! 2. `exec` (hand over once) and `supervise` (restart on changes): the two
//!    modes.
//! 3. `watch`, `sd_notify` (readiness messages), `listening`, `adopt`,
//!    `error_page`, `livereload`, `demand` (waiting for the first
//!    connection): what supervise mode listens to, looks at and answers.
//! 4. `output`: the status lines.
//! 5. `config`, `activation`: the settings, and the variables a command
//!    receives.
//! 6. `socket`: creating the sockets.
//! 7. `spec`, `signal`, `socket_server`, `local_server` (what the error
//!    page and the LiveReload server share), `holder` (who holds an
//!    address in use), `error`: plain Rust, tested on every platform.
//! 8. `sys`: the operating system's primitives, one file per OS; the only
//!    place with `unsafe`.
//!
//! `tests/layers.rs` checks that every import points down.

#![warn(missing_docs)]

pub mod cli;
pub mod config;
pub mod error;

mod activation;
mod adopt;
mod demand;
mod error_page;
mod exec;
mod holder;
#[cfg(unix)]
mod listening;
mod livereload;
mod local_server;
mod output;
#[cfg(unix)]
mod sd_notify;
mod signal;
mod socket;
// Serves only on Windows, yet portable, so the protocol is tested on every
// platform.
#[cfg_attr(unix, allow(dead_code))]
mod socket_server;
mod spec;
mod supervise;
mod watch;

// The operating system's primitives, the floor every other module stands on.
#[cfg_attr(unix, path = "sys/unix.rs")]
#[cfg_attr(windows, path = "sys/windows.rs")]
mod sys;

#[cfg(not(any(unix, windows)))]
compile_error!("systemfd supports Unix and Windows only");

// The socket server's wire limits, for clients of the Windows protocol
// (and its tests); the server itself stays inside.
pub use crate::socket_server::{MAX_REQUEST_LEN, PROTOCOL_INFO_LEN};

use crate::activation::Invocation;
use crate::config::{Config, Mode};
use crate::error::Failure;
use crate::output::Printer;
use crate::socket::Sockets;

/// Creates the sockets, reports them, and hands them to the command.
/// Returns the status systemfd should exit with: in exec mode the command's
/// (Unix never returns: it execs), in supervise mode 0 after a graceful stop
/// or 128+N when a second signal N ended it at once.
///
/// # Errors
/// A [`Failure`] carrying its exit status: 1 when a socket or supervision
/// cannot be set up, 126 or 127 when COMMAND cannot be run (in supervise
/// mode, at its first start; with `--on-demand` and no `--build`, a COMMAND
/// that is nowhere to be found is said at once, not at the first
/// connection).
pub fn run(config: Config) -> Result<i32, Failure> {
    let printer = Printer::new(config.output);
    #[cfg(unix)]
    if config.launch.on_demand && config.launch.build.is_none() {
        let program = &config.launch.command[0];
        activation::find_program(program).map_err(|err| Failure::exec(program, err))?;
    }
    let sockets = Sockets::open(&config.sockets, &config.socket_options).map_err(Failure::setup)?;
    let described = describe(&sockets, &printer);
    if sockets.is_empty() {
        printer.warn("no sockets given (-s); running the command without any");
    } else {
        printer.write(&described);
    }
    let invocation = Invocation::new(&config.launch.command, std::env::vars_os()).with_sockets(
        sockets.len(),
        &sockets.fd_names(),
        config.launch.set_pid,
    );
    match &config.mode {
        Mode::Exec => {
            let command = output::command_line(&config.launch.command, None);
            let command = output::one_line(command.as_ref());
            let wait = config.launch.on_demand;
            if wait && !exec::wait_for_connection(&sockets, &command, &printer)? {
                return Ok(0);
            }
            if let Some(line) = &config.launch.build {
                exec::build(line, invocation.program(), &printer)?;
            }
            exec::hand_over(sockets, invocation, config.launch.adopt, &printer)
        }
        Mode::Supervise(settings) => supervise::run(
            settings,
            invocation,
            sockets,
            config.launch.adopt,
            config.launch.build.as_ref(),
            config.launch.on_demand,
            &described,
            &printer,
        ),
    }
}

/// One `~> socket …` line per socket, in order.
fn describe(sockets: &Sockets, printer: &Printer) -> String {
    let mut text = String::new();
    for (index, open) in sockets.sockets.iter().enumerate() {
        text.push_str(&printer.socket_line(
            &open.describe(),
            &activation::target_label(index),
            open.spec.name.as_deref(),
        ));
    }
    text
}
