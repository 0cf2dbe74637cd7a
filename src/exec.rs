//! Exec mode: hand the sockets to COMMAND once and end with it.
//!
//! On Unix the sockets are moved to fds 3… and systemfd execs the command, so
//! the command keeps systemfd's pid (and `LISTEN_PID` is simply ours). On
//! Windows sockets cannot be inherited that way: systemfd spawns the command
//! in a job object, serves it duplicates over the socket server (see
//! `crate::socket_server` and `docs/protocol.md`) and exits with its status.

use crate::activation::{self, Invocation};
use crate::config::Adopt;
use crate::error::Failure;
use crate::output::Printer;
use crate::socket::Sockets;

/// `--on-demand` in exec mode: says what it waits for, then waits until a
/// connection or a datagram waits on one of `sockets`, leaving it for
/// COMMAND (shown as `command`). Returns false when a signal asked
/// systemfd to stop first (Unix: SIGINT, SIGTERM, SIGHUP, SIGQUIT;
/// Windows: Ctrl-C): then nothing is to run.
///
/// # Errors
/// A set-up [`Failure`] when a socket cannot be duplicated or the wait
/// cannot be set up.
pub fn wait_for_connection(
    sockets: &Sockets,
    command: &str,
    printer: &Printer,
) -> Result<bool, Failure> {
    use anyhow::Context as _;

    use crate::demand::{self, First};

    let names: Vec<String> = sockets.sockets.iter().map(|s| s.describe()).collect();
    let copies = sockets.duplicates().map_err(Failure::setup)?;
    let announce = || {
        printer.status(&format!(
            "waiting for the first connection on {} to start {command}",
            names.join(" or ")
        ))
    };
    let first = demand::first(copies, announce)
        .context("cannot wait for the first connection")
        .map_err(Failure::setup)?;
    match first {
        First::Connection(index) => {
            let on = names.get(index).map_or("", String::as_str);
            printer.status(&format!("connection on {on}: starting {command}"));
            Ok(true)
        }
        First::Signal(signal) => {
            printer.status(&format!(
                "{signal}: stopping before the first connection; nothing ran"
            ));
            Ok(false)
        }
    }
}

/// `--build` in exec mode: runs `line` once through the shell (see
/// [`activation::build_step`]) in a process group of its own, with stdin
/// closed and its output on systemfd's stderr, and returns once it
/// succeeded. `command` is COMMAND's program, named when the build fails.
/// SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to systemfd meanwhile go to the
/// build's group (Unix), and then systemfd exits too.
///
/// # Errors
/// A [`Failure`] with the build's status when it fails (128+N when signal
/// N killed it, or was sent to systemfd), or an exec failure (126, 127)
/// when the shell cannot run.
pub fn build(
    line: &std::ffi::OsStr,
    command: &std::ffi::OsStr,
    printer: &Printer,
) -> Result<(), Failure> {
    let invocation = activation::build_step(line, std::env::vars_os(), printer.colors());
    printer.status(&format!("build: {}", crate::output::one_line(line)));
    let started = std::time::Instant::now();
    let ended = run_build(&invocation)?;
    let (code, how) = match ended {
        Ended::Code(0) => {
            printer.status(&format!(
                "build: done after {} ms",
                started.elapsed().as_millis()
            ));
            return Ok(());
        }
        Ended::Code(code) => (
            code.clamp(1, 255) as u8,
            format!("exited with status {code}"),
        ),
        Ended::Signal(signal) => (
            (128 + signal.0).clamp(0, 255) as u8,
            format!("was killed by {signal}"),
        ),
        Ended::Stopped(signal) => (
            (128 + signal.0).clamp(0, 255) as u8,
            format!("was stopped: systemfd received {signal}"),
        ),
    };
    Err(Failure::build(code, &how, command))
}

/// How the build step ended.
enum Ended {
    Code(i32),
    #[cfg_attr(windows, allow(dead_code))]
    Signal(crate::signal::Signal),
    /// systemfd received this signal while it ran.
    #[cfg_attr(windows, allow(dead_code))]
    Stopped(crate::signal::Signal),
}

/// Runs the build in a process group of its own, passing on the signals
/// that ask systemfd to stop, and waits for it.
#[cfg(unix)]
fn run_build(invocation: &Invocation) -> Result<Ended, Failure> {
    use std::os::fd::AsFd as _;
    use std::os::unix::process::ExitStatusExt as _;
    use std::sync::atomic::{AtomicI32, Ordering};
    use std::sync::Arc;

    use anyhow::Context as _;
    use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};

    use crate::signal::Signal;
    use crate::sys;

    let setup = |err: std::io::Error, what: &str| {
        Failure::setup(anyhow::Error::new(err).context(what.to_owned()))
    };
    let input = std::fs::File::open("/dev/null")
        .map_err(|e| setup(e, "cannot open /dev/null for the build"))?;
    let input = std::os::fd::OwnedFd::from(input);
    let output = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| setup(e, "cannot give the build systemfd's stderr"))?;
    // SIGUSR1 and SIGUSR2, which supervise mode passes on to COMMAND, have
    // nothing to reach yet: caught, so as not to end systemfd.
    let mut signals =
        signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2])
            .context("cannot handle signals during the build")
            .map_err(Failure::setup)?;
    let stdio = sys::Stdio {
        input: &input,
        output: &output,
    };
    let pid = sys::spawn(&sys::ChildSpec::build(
        &invocation.command,
        &invocation.env,
        stdio,
    ))
    .map_err(|err| Failure::exec(invocation.program(), err))?;
    let received = Arc::new(AtomicI32::new(0));
    let handle = signals.handle();
    let seen = Arc::clone(&received);
    let forwarder = std::thread::spawn(move || {
        for signal in signals.forever() {
            if signal == SIGUSR1 || signal == SIGUSR2 {
                continue;
            }
            seen.store(signal, Ordering::SeqCst);
            let _ = sys::signal_group(pid, signal);
        }
    });
    let status = sys::wait(pid);
    handle.close();
    let _ = forwarder.join();
    let status = status
        .context("cannot wait for the build")
        .map_err(Failure::setup)?;
    Ok(match received.load(Ordering::SeqCst) {
        0 if status.success() => Ended::Code(0),
        0 => match status.signal() {
            Some(signal) => Ended::Signal(Signal(signal)),
            None => Ended::Code(status.code().unwrap_or(1)),
        },
        signal => Ended::Stopped(Signal(signal)),
    })
}

/// Runs the build and waits for it (Ctrl-C reaches its console group as
/// it reaches systemfd).
#[cfg(windows)]
fn run_build(invocation: &Invocation) -> Result<Ended, Failure> {
    use std::os::windows::io::AsHandle as _;
    use std::os::windows::process::CommandExt as _;

    use anyhow::Context as _;

    let stderr = std::io::stderr()
        .as_handle()
        .try_clone_to_owned()
        .context("cannot give the build systemfd's stderr")
        .map_err(Failure::setup)?;
    let line = invocation.command.last().cloned().unwrap_or_default();
    let status = std::process::Command::new(invocation.program())
        .args(&invocation.command[1..invocation.command.len() - 1])
        .raw_arg(&line)
        .env_clear()
        .envs(invocation.env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::from(stderr))
        .status()
        .map_err(|err| Failure::exec(invocation.program(), err))?;
    Ok(Ended::Code(status.code().unwrap_or(1)))
}

/// Places the sockets at fds 3… and execs COMMAND; returns only if that
/// fails.
///
/// # Errors
/// A set-up [`Failure`] when a socket cannot be placed; an exec failure
/// (127 not found, 126 otherwise) when COMMAND cannot be run.
#[cfg(unix)]
pub fn hand_over(
    sockets: Sockets,
    invocation: Invocation,
    adopt: Adopt,
    printer: &Printer,
) -> Result<i32, Failure> {
    use std::os::unix::process::CommandExt as _;

    use anyhow::Context as _;

    use crate::activation::{self, FIRST_FD, LISTEN_PID, LISTEN_PIDFDID};
    use crate::sys;

    #[cfg(target_os = "linux")]
    if adopt == Adopt::Required {
        return adopting::run(&sockets, &invocation, printer);
    }
    // `--adopt` is refused elsewhere (cli).
    let _ = (adopt, printer);
    let mut command = invocation.to_command();
    if invocation.listen_pid {
        // exec keeps the pid, so the command's pid is ours, and so is its
        // pidfd id.
        command.env(LISTEN_PID, std::process::id().to_string());
        if let Some(id) = sys::own_pidfd_id() {
            command.env(LISTEN_PIDFDID, id.to_string());
        }
    }
    let staged = activation::stage(&sockets).map_err(Failure::setup)?;
    for (target, fd) in (FIRST_FD..).zip(&staged) {
        sys::place(fd, target)
            .with_context(|| format!("cannot move a socket to fd {target}"))
            .map_err(Failure::setup)?;
    }
    let err = command.exec();
    // Only reached when exec failed: dropping `sockets` removes the files.
    Err(Failure::exec(invocation.program(), err))
}

/// Exec mode with `--adopt` (Linux): systemfd stays COMMAND's parent to
/// answer the binds its seccomp filter sends (a helper below COMMAND could
/// not read COMMAND's memory where Yama allows only ancestors to).
#[cfg(target_os = "linux")]
mod adopting {
    use anyhow::Context as _;

    use crate::activation::{self, Invocation, FIRST_FD, LISTEN_PID, LISTEN_PIDFDID};
    use crate::adopt::{self, Adopter};
    use crate::error::Failure;
    use crate::output::Printer;
    use crate::socket::Sockets;
    use crate::sys::{self, linux::SignalSet};

    /// Starts COMMAND with the sockets and the filter, answers its binds,
    /// passes on the signals sent to systemfd, and returns COMMAND's exit
    /// status (128+N when signal N killed it).
    ///
    /// # Errors
    /// A set-up [`Failure`] when the kernel cannot adopt binds (the probe
    /// says why) or supervision cannot be set up; an exec failure when
    /// COMMAND cannot be run.
    pub fn run(
        sockets: &Sockets,
        invocation: &Invocation,
        printer: &Printer,
    ) -> Result<i32, Failure> {
        adopt::probe()
            .context("--adopt: this system cannot adopt binds")
            .map_err(Failure::setup)?;
        let adopter = Adopter::new(sockets, FIRST_FD, *printer, false)
            .context("cannot prepare the sockets for adoption")
            .map_err(Failure::setup)?;
        let staged = activation::stage(sockets).map_err(Failure::setup)?;
        // Blocked before any thread starts, so that every signal waits for
        // the loop below; the child clears its mask.
        let signals = SignalSet::block(&[
            libc::SIGCHLD,
            libc::SIGINT,
            libc::SIGQUIT,
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGUSR1,
            libc::SIGUSR2,
        ])
        .context("cannot handle signals")
        .map_err(Failure::setup)?;
        let min = FIRST_FD + staged.len() as i32;
        let pending = adopter
            .prepare(min)
            .context("cannot prepare the seccomp filter")
            .map_err(Failure::setup)?;
        let pid = sys::spawn(&sys::ChildSpec {
            command: &invocation.command,
            env: &invocation.env,
            sockets: &staged,
            first_fd: FIRST_FD,
            pid_variable: invocation.listen_pid.then_some(LISTEN_PID),
            pidfd_variable: invocation.listen_pid.then_some(LISTEN_PIDFDID),
            // In systemfd's group, as after an exec: the terminal's Ctrl-C
            // and Ctrl-Z reach COMMAND directly.
            own_group: false,
            filter: adopter.interception(&pending),
            stdio: None,
        })
        .map_err(|err| Failure::exec(invocation.program(), err))?;
        drop(staged);
        if let Err(err) = adopter.serve(pending, pid) {
            let _ = sys::signal_process(pid, libc::SIGKILL);
            let _ = sys::wait(pid);
            return Err(Failure::setup(
                anyhow::Error::new(err).context("cannot answer COMMAND's binds"),
            ));
        }
        wait_passing_signals(pid, &signals).map_err(Failure::setup)
    }

    /// Waits for COMMAND to exit, sending it each signal a process sent
    /// systemfd. A signal the kernel sent (the terminal's Ctrl-C, Ctrl-\,
    /// hang-up) reached COMMAND's process group, which is systemfd's, so it
    /// is not sent twice.
    fn wait_passing_signals(pid: u32, signals: &SignalSet) -> anyhow::Result<i32> {
        use std::os::unix::process::ExitStatusExt as _;
        loop {
            if let Some(status) = sys::try_wait(pid).context("cannot wait for COMMAND")? {
                return Ok(status
                    .code()
                    .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)));
            }
            let (signal, from_kernel) = signals.wait().context("cannot wait for signals")?;
            if signal != libc::SIGCHLD && !from_kernel {
                let _ = sys::signal_process(pid, signal);
            }
        }
    }
}

/// Spawns COMMAND in a job object, serves it the sockets, and returns its
/// exit status once it has exited.
///
/// # Errors
/// A set-up [`Failure`] when the socket server, the job object or the
/// wait fails; an exec failure when COMMAND cannot be run.
#[cfg(windows)]
pub fn hand_over(
    sockets: Sockets,
    mut invocation: Invocation,
    _adopt: Adopt,
    printer: &Printer,
) -> Result<i32, Failure> {
    use std::time::{Duration, Instant};

    use anyhow::Context as _;

    use crate::sys::{self, CtrlC, Job, Woke};

    /// How long the command has to exit by itself after Ctrl-C (which it
    /// receives too when it shares the console) before its process tree is
    /// ended.
    const CTRL_C_GRACE: Duration = Duration::from_secs(3);

    // `LISTEN_PID` (and so `--no-pid`) has no meaning here: the command finds
    // the sockets through the socket server, whatever its pid.
    if !sockets.is_empty() {
        // The server's threads serve until systemfd exits.
        let printer = *printer;
        let server = sockets
            .serve(Box::new(move |event| report(&printer, &event)))
            .map_err(Failure::setup)?;
        let (_, secret) = server
            .issue()
            .context("cannot make the socket server's secret")
            .map_err(Failure::setup)?;
        for (name, value) in server.variables(&secret) {
            invocation.set(name, value);
        }
    }
    let mut command = invocation.to_command();

    let job = Job::new()
        .context("cannot create a job object for the command")
        .map_err(Failure::setup)?;
    let interrupt = CtrlC::install()
        .context("cannot handle Ctrl-C")
        .map_err(Failure::setup)?;
    let mut child = sys::spawn_suspended(&mut command, sys::Spawn::SameGroup)
        .map_err(|err| Failure::exec(invocation.program(), err))?;
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

/// The socket server's rejections and failures are worth a line; serving is
/// what is expected.
#[cfg(windows)]
fn report(printer: &Printer, event: &crate::socket_server::Event) {
    if !matches!(event, crate::socket_server::Event::Served { .. }) {
        printer.warn(&format!("socket server: {event}"));
    }
}
