//! Exec mode: hand the sockets to COMMAND once and end with it.
//!
//! On Unix the sockets are moved to fds 3… and systemfd execs the command, so
//! the command keeps systemfd's pid (and `LISTEN_PID` is simply ours). On
//! Windows sockets cannot be inherited that way: systemfd spawns the command
//! in a job object, serves it duplicates over the socket server (see
//! `crate::socket_server` and `docs/protocol.md`) and exits with its status.

use crate::activation;
use crate::config::Launch;
use crate::error::Failure;
use crate::output::Printer;
use crate::socket::Sockets;

/// COMMAND with its arguments, and none of the socket-passing variables that
/// an outer provider may have left in the environment.
fn command(launch: &Launch) -> std::process::Command {
    let mut command = std::process::Command::new(launch.program());
    command.args(&launch.command[1..]);
    for name in activation::STALE_VARIABLES {
        command.env_remove(name);
    }
    command
}

/// Places the sockets at fds 3… and execs COMMAND; returns only if that fails.
#[cfg(unix)]
pub fn hand_over(sockets: Sockets, launch: &Launch, _printer: &Printer) -> Result<i32, Failure> {
    use std::os::unix::process::CommandExt as _;

    use anyhow::Context as _;

    use crate::activation::FIRST_FD;
    use crate::sys;

    let mut command = command(launch);
    command.envs(activation::variables(&sockets));
    if launch.set_pid && !sockets.is_empty() {
        // exec keeps the pid, so the command's pid is ours.
        command.env("LISTEN_PID", std::process::id().to_string());
    }
    let staged = sys::stage(&sockets.fds(), FIRST_FD + sockets.len() as i32)
        .context("cannot duplicate a socket")
        .map_err(Failure::setup)?;
    for (target, fd) in (FIRST_FD..).zip(&staged) {
        sys::place(fd, target)
            .with_context(|| format!("cannot move a socket to fd {target}"))
            .map_err(Failure::setup)?;
    }
    let err = command.exec();
    // Only reached when exec failed: dropping `sockets` removes the files.
    Err(Failure::exec(launch.program(), err))
}

/// Spawns COMMAND in a job object, serves it the sockets, and returns its
/// exit status once it has exited.
#[cfg(windows)]
pub fn hand_over(sockets: Sockets, launch: &Launch, printer: &Printer) -> Result<i32, Failure> {
    use std::time::{Duration, Instant};

    use anyhow::Context as _;

    use crate::sys::{self, CtrlC, Job, Woke};

    /// How long the command has to exit by itself after Ctrl-C (which it
    /// receives too when it shares the console) before its process tree is
    /// ended.
    const CTRL_C_GRACE: Duration = Duration::from_secs(3);

    // `LISTEN_PID` (and so `--no-pid`) has no meaning here: the command finds
    // the sockets through the socket server, whatever its pid.
    let mut command = command(launch);
    if !sockets.is_empty() {
        // Names in the order of the reply, for consumers that want them.
        command.env("LISTEN_FDNAMES", sockets.fd_names());
        // The server's threads serve until systemfd exits.
        let server = windows::start_server(sockets, *printer).map_err(Failure::setup)?;
        command.envs(server.variables());
    }

    let job = Job::new()
        .context("cannot create a job object for the command")
        .map_err(Failure::setup)?;
    let interrupt = CtrlC::install()
        .context("cannot handle Ctrl-C")
        .map_err(Failure::setup)?;
    let mut child =
        sys::spawn_suspended(&mut command).map_err(|err| Failure::exec(launch.program(), err))?;
    let job = match job.assign(&child) {
        Ok(()) => Some(job),
        Err(err) => {
            printer.warn(&format!(
                "cannot put the command in a job object ({err}); processes it starts may outlive systemfd"
            ));
            None
        }
    };
    if let Err(err) = sys::resume(child.id()) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(Failure::setup(
            anyhow::Error::new(err).context("cannot start the command's main thread"),
        ));
    }

    // On Ctrl-C the command has CTRL_C_GRACE to exit by itself; after that,
    // or on a second Ctrl-C, its process tree is ended.
    let mut deadline: Option<Instant> = None;
    loop {
        let woke = sys::wait_for(&child, &interrupt, deadline)
            .context("cannot wait for the command")
            .map_err(Failure::setup)?;
        match woke {
            Woke::Exited => break,
            Woke::Interrupted if deadline.is_none() => {
                deadline = Some(Instant::now() + CTRL_C_GRACE);
            }
            Woke::Interrupted | Woke::TimedOut => {
                printer.status("ending the command and the processes it started");
                match &job {
                    Some(job) => job.terminate(),
                    None => child.kill(),
                }
                .context("cannot end the command")
                .map_err(Failure::setup)?;
                // Neither waits; the process handle is signalled once the
                // command is gone.
                deadline = None;
            }
        }
    }
    let status = child
        .wait()
        .context("cannot read the command's exit status")
        .map_err(Failure::setup)?;
    // On Windows every status is a code, NTSTATUS values included.
    Ok(status.code().unwrap_or(1))
}

#[cfg(windows)]
mod windows {
    use std::net::{Ipv4Addr, SocketAddr, TcpListener};
    use std::sync::Arc;

    use anyhow::Context as _;
    use socket2::{Domain, Protocol, Socket, Type};

    use crate::output::Printer;
    use crate::socket::Sockets;
    use crate::socket_server::{Event, Limits, ProtocolInfo, Server, PROTOCOL_INFO_LEN};
    use crate::sys;

    // The reply is made of the records `sys::duplicate` makes.
    const _: () = assert!(sys::PROTOCOL_INFO_LEN == PROTOCOL_INFO_LEN);

    /// Starts the socket server on 127.0.0.1 with a random port. Its own
    /// port is claimed exclusively too, so no other process can intercept
    /// the secret.
    pub(super) fn start_server(sockets: Sockets, printer: Printer) -> anyhow::Result<Server> {
        let listener = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))
            .context("cannot create the socket server's socket")?;
        sys::exclusive_address_use(&listener, true)?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        listener
            .bind(&addr.into())
            .and_then(|()| listener.listen(128))
            .with_context(|| format!("cannot listen on {addr} for the socket server"))?;
        let sockets = Arc::new(sockets);
        Server::start(
            TcpListener::from(listener),
            Limits::default(),
            Box::new(move |pid| duplicate(&sockets, pid)),
            Box::new(move |event| report(&printer, &event)),
        )
        .context("cannot start the socket server")
    }

    /// One record per socket, in order, for the process `pid`.
    fn duplicate(sockets: &Sockets, pid: u32) -> std::io::Result<Vec<ProtocolInfo>> {
        sockets
            .sockets
            .iter()
            .map(|open| sys::duplicate(&open.socket, pid))
            .collect()
    }

    /// Rejections and failures are worth a line; serving is what is expected.
    fn report(printer: &Printer, event: &Event) {
        if !matches!(event, Event::Served { .. }) {
            printer.warn(&format!("socket server: {event}"));
        }
    }
}
