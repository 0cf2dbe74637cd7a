//! Supervise mode (`-w`): systemfd stays the parent, keeps the sockets, and
//! restarts COMMAND when watched files change (or, on Unix, on SIGHUP).
//!
//! Where to look:
//! - `state`: the restart decisions, as plain Rust tested with fake time,
//!   and the wording of every line they produce;
//! - `driver`: the one loop that feeds the decisions what happens and
//!   carries out what they say;
//! - `host`: what the loop needs from the platform, as a trait;
//! - `unix` (with `children`, `terminal`, `mailbox`) and `windows`: the two
//!   hosts, one per OS.

mod build_log;
#[cfg(unix)]
mod children;
mod driver;
mod host;
#[cfg(unix)]
mod mailbox;
mod page;
mod state;
#[cfg(unix)]
mod terminal;
#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::mpsc;

use anyhow::Context as _;

use crate::activation::{self, Invocation};
use crate::config::{Adopt, LiveReloadAt, Supervise};
use crate::demand::Doorbell;
use crate::error::Failure;
use crate::livereload::{self, LiveReload};
use crate::output::Printer;
use crate::socket::Sockets;
use crate::watch;
use host::Input;
use page::Page;
use state::Policy;

/// How long after the watcher's debounce period a build's last write is
/// still taken for one it made (see [`Policy::settle`]): the watcher's
/// events come within milliseconds of the write.
const SETTLE_MARGIN: std::time::Duration = std::time::Duration::from_millis(50);

/// Runs `invocation` under supervision with `sockets` until SIGINT or
/// SIGTERM (Windows: Ctrl-C); returns the status systemfd exits with.
/// `described` is the sockets' lines, shown again after `--clear`;
/// `adopt`, whether COMMAND's binds are adopted (Linux); `build`, the
/// build step's command line (`--build`); `on_demand`, whether COMMAND
/// waits for the first connection (`--on-demand`).
///
/// # Errors
/// A [`Failure`] when supervision cannot be set up (watching, signals, the
/// socket server), or when the first start of COMMAND fails.
#[allow(clippy::too_many_arguments)]
pub fn run(
    settings: &Supervise,
    invocation: Invocation,
    sockets: Sockets,
    adopt: Adopt,
    build: Option<&OsString>,
    on_demand: bool,
    described: &str,
    printer: &Printer,
) -> Result<i32, Failure> {
    let mut invocation = invocation;
    let live = match settings.livereload {
        Some(at) => Some(live_reload(at, &sockets, printer)?),
        None => None,
    };
    let script = live.as_ref().map(LiveReload::script_url);
    if let Some(url) = &script {
        invocation.set(activation::LIVERELOAD_URL, url);
    }
    let page = match settings.error_page {
        true => Page::new(&sockets, &invocation.command, build, script, *printer)?,
        false => None,
    };
    let build =
        build.map(|line| activation::build_step(line, std::env::vars_os(), printer.colors()));
    let policy = Policy {
        stop_first: settings.stop_first,
        stop_signal: settings.stop_signal,
        grace: settings.stop_timeout,
        signal_on_change: settings.signal_on_change,
        ready: settings.ready,
        clear: settings.clear,
        build: build.is_some(),
        settle: settings.debounce + SETTLE_MARGIN,
        error_page: page.is_some(),
        livereload: live.is_some(),
        on_demand,
        idle_stop: settings.idle_stop,
    };
    let names = state::Names {
        sockets: sockets.sockets.iter().map(|open| open.describe()).collect(),
        command: crate::output::one_line(
            crate::output::command_line(&invocation.command, None).as_ref(),
        ),
    };
    let program = invocation.program().to_owned();
    // The loop keeps `tx` too, so its channel never closes while it runs.
    let (tx, rx) = mpsc::channel();
    let doorbell = match policy.on_demand || policy.idle_stop.is_some() {
        true => Some(doorbell(&sockets, tx.clone())?),
        false => None,
    };
    #[cfg(unix)]
    let mut host = unix::UnixHost::new(
        policy,
        invocation,
        build,
        page,
        &sockets,
        adopt,
        tx.clone(),
        *printer,
    )?;
    #[cfg(unix)]
    let exclude = vec![host.private_directory().to_owned()];
    #[cfg(windows)]
    let _ = adopt;
    #[cfg(windows)]
    let mut host =
        windows::WindowsHost::new(invocation, build, page, sockets, tx.clone(), *printer)?;
    #[cfg(windows)]
    let exclude = Vec::new();
    // Started before the first child, so that no change goes unseen.
    let _watcher = watch_files(settings, exclude, *printer, tx.clone())?;
    let aids = driver::Aids {
        live: live.as_ref(),
        doorbell: doorbell.as_ref(),
    };
    let status = driver::run(
        &mut host, &rx, policy, aids, &program, described, names, printer,
    );
    drop(doorbell);
    drop(tx);
    // On Unix the sockets' files go once every child is gone.
    #[cfg(unix)]
    drop(sockets);
    status
}

/// Starts the LiveReload server `at` its address, for pages of the
/// `http::` sockets' origins, and says where its script is.
///
/// # Errors
/// A set-up [`Failure`] when the address is taken (given with
/// `--livereload ADDR`) or cannot be bound.
fn live_reload(
    at: LiveReloadAt,
    sockets: &Sockets,
    printer: &Printer,
) -> Result<LiveReload, Failure> {
    let origins = origins(sockets);
    let live = LiveReload::start(at.addr, at.explicit, origins, livereload::Limits::default())
        .context("--livereload")
        .map_err(Failure::setup)?;
    if live.fell_back() {
        printer.status(&format!(
            "live reload: {} is taken; serving on {} instead",
            at.addr,
            live.local_addr()
        ));
    }
    if !live.local_addr().ip().is_loopback() {
        printer.warn(&format!(
            "live reload on {}: any machine that reaches it can connect (give a loopback ADDR to keep it local)",
            live.local_addr()
        ));
    }
    printer.status(&format!(
        "live reload: {} (in {} for the command)",
        live.script_url(),
        activation::LIVERELOAD_URL
    ));
    Ok(live)
}

/// The origins of the pages the `http::` sockets serve: the origin the
/// socket line shows, and `localhost` beside a loopback address.
fn origins(sockets: &Sockets) -> Vec<String> {
    let mut origins = Vec::new();
    for open in &sockets.sockets {
        let (crate::socket::LocalAddr::Ip(addr), crate::spec::SocketKind::Http) =
            (&open.local, open.spec.kind)
        else {
            continue;
        };
        origins.push(format!("http://{addr}"));
        if let crate::spec::Address::Host { host, .. } = &open.spec.addr {
            origins.push(format!("http://{host}:{}", addr.port()));
        }
        if addr.ip().is_loopback() {
            origins.push(format!("http://localhost:{}", addr.port()));
        }
    }
    origins
}

/// The doorbell that tells the loop, over `tx`, when a connection or a
/// datagram waits on one of `sockets` (`--on-demand`, `--idle-stop`).
///
/// # Errors
/// A set-up [`Failure`] when a socket cannot be duplicated or the thread
/// cannot start.
fn doorbell<T: Send + 'static>(
    sockets: &Sockets,
    tx: mpsc::Sender<Input<T>>,
) -> Result<Doorbell, Failure> {
    let copies = sockets.duplicates().map_err(Failure::setup)?;
    Doorbell::start(copies, move |socket| {
        tx.send(Input::Connection(socket)).is_ok()
    })
    .context("cannot start waiting for connections")
    .map_err(Failure::setup)
}

/// Starts watching the `-w` paths, leaving out `exclude`; every debounced
/// batch goes to the loop over `tx`.
fn watch_files<T: Send + 'static>(
    settings: &Supervise,
    exclude: Vec<PathBuf>,
    printer: Printer,
    tx: mpsc::Sender<Input<T>>,
) -> Result<watch::Watcher, Failure> {
    watch::start(
        watch::Settings {
            paths: &settings.watch,
            ignores: &settings.ignore,
            exts: &settings.exts,
            filters: &settings.filter,
            default_ignore: settings.default_ignore,
            global_ignore: settings.global_ignore,
            poll: settings.poll,
            debounce: settings.debounce,
            exclude,
        },
        printer,
        move |change| tx.send(Input::Change(change)).is_ok(),
    )
    .map_err(Failure::setup)
}
