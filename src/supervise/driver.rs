//! The loop of supervise mode, written once for every platform.
//!
//! It feeds the [`Supervisor`] what happens and carries out what it
//! decides, through a [`Host`]. Everything that happens arrives over one
//! channel, from threads that only forward (the watcher, and the host's
//! own), so the loop runs on one thread: the one that starts the children.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::sync::mpsc::Receiver;
use std::time::Instant;

use super::host::{Host, Input};
use super::state::{Action, Event, LiveStatus, Names, Policy, Supervisor};
use crate::demand::Doorbell;
use crate::error::Failure;
use crate::livereload::{self, LiveReload};
use crate::output::Printer;

/// What the loop steers besides the host: the LiveReload server
/// (`--livereload`) and the doorbell that waits for a connection
/// (`--on-demand`, `--idle-stop`).
pub struct Aids<'a> {
    pub live: Option<&'a LiveReload>,
    pub doorbell: Option<&'a Doorbell>,
}

/// Runs the supervisor under `policy` until it decides to exit; returns the
/// status systemfd exits with. `program` is COMMAND's program, named when a
/// start fails; `described`, the sockets' lines, stays in sight when the
/// terminal is cleared; `names`, the sockets and COMMAND as lines name
/// them.
///
/// # Errors
/// A [`Failure`] when the first start fails: COMMAND cannot run at all.
#[allow(clippy::too_many_arguments)]
pub fn run<H: Host>(
    host: &mut H,
    inputs: &Receiver<Input<H::News>>,
    policy: Policy,
    aids: Aids<'_>,
    program: &OsStr,
    described: &str,
    names: Names,
    printer: &Printer,
) -> Result<i32, Failure> {
    let live = aids.live;
    let mut supervisor = Supervisor::new(policy).named(names);
    let mut actions: VecDeque<Action> = supervisor.begin(Instant::now()).into();
    loop {
        while let Some(action) = actions.pop_front() {
            let event = match action {
                Action::Clear => {
                    printer.clear_screen(described);
                    None
                }
                Action::Start(generation) => Some(match host.start(generation) {
                    Ok(pid) => Event::Started { generation, pid },
                    Err(err) => err.event(generation, program)?,
                }),
                Action::Build => Some(
                    match supervisor.serving().and_then(|pid| host.blocker(pid)) {
                        Some(program) => Event::BuildBlocked { program },
                        None => match host.build() {
                            Ok(pid) => Event::BuildStarted { pid },
                            Err(err) => Event::BuildFailed {
                                error: err.to_string(),
                            },
                        },
                    },
                ),
                Action::ErrorPage(outage) => {
                    host.answer(outage.as_ref());
                    None
                }
                Action::LiveReload => {
                    if let Some(live) = live {
                        let pages = match live.reload() {
                            0 => "no page is connected".to_owned(),
                            1 => "1 page".to_owned(),
                            pages => format!("{pages} pages"),
                        };
                        printer.status(&format!("live reload: {pages}"));
                    }
                    None
                }
                Action::LiveStatus(status) => {
                    if let Some(live) = live {
                        live.status(match status {
                            LiveStatus::Building => livereload::Status::Building,
                            LiveStatus::Ok => livereload::Status::Ok,
                            LiveStatus::Failed {
                                cause,
                                build_failed,
                            } => livereload::Status::Failed {
                                cause,
                                output: match build_failed {
                                    true => {
                                        String::from_utf8_lossy(&host.build_output()).into_owned()
                                    }
                                    false => String::new(),
                                },
                            },
                        });
                    }
                    None
                }
                Action::Stop { pid } => {
                    host.stop(pid);
                    None
                }
                Action::StopWhenIdle { generation, pid } => Some(Event::Drain {
                    generation,
                    drain: host.stop_when_idle(pid),
                }),
                Action::Kill { pid } => {
                    host.kill(pid);
                    None
                }
                Action::AwaitConnection(armed) => {
                    if let Some(doorbell) = aids.doorbell {
                        doorbell.arm(armed);
                    }
                    None
                }
                Action::CountConnections { generation } => Some(Event::Connections {
                    generation,
                    count: host.connections(),
                }),
                Action::StopIfIdle { generation, pid } => Some(Event::IdleChecked {
                    generation,
                    drain: host.stop_if_idle(pid),
                }),
                Action::Signal { pid, signal } => {
                    host.signal(pid, signal);
                    None
                }
                Action::SignalGroup { group, signal } => {
                    host.signal_group(group, signal);
                    None
                }
                Action::LookOld { generation, pid } => Some(Event::StillListening {
                    generation,
                    listening: host.look(pid).is_some(),
                }),
                Action::Look { generation, pid } => host
                    .look(pid)
                    .map(|waiter| Event::SeenListening { generation, waiter }),
                Action::Say(report) if report.is_error() => {
                    printer.error(&report.to_string());
                    None
                }
                Action::Say(report) => {
                    printer.status(&report.to_string());
                    None
                }
                Action::Exit(code) => {
                    host.finish(code);
                    return Ok(code);
                }
            };
            if let Some(event) = event {
                actions.extend(supervisor.handle(event, Instant::now()));
            }
        }

        let news = match host.deadline(supervisor.next_deadline()) {
            Some(deadline) => inputs
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .ok(),
            // A host keeps a sender as long as it runs, so this ends only if
            // every thread is gone; time passing is all that is left then.
            None => inputs.recv().ok(),
        };
        let events = match news {
            Some(Input::Change(change)) => vec![Event::Change {
                path: change.path,
                more: change.more,
                paths: change.paths,
            }],
            Some(Input::Host(news)) => host.events(Some(news)),
            Some(Input::Connection(socket)) => vec![Event::Connection { socket }],
            None => host.events(None),
        };
        let events: Vec<Event> = events
            .into_iter()
            .map(|event| blocked(event, &supervisor, host))
            .collect();
        actions.extend(supervisor.handle_all(events, Instant::now()));
    }
}

/// The exit of a replacement that may have failed only because the child
/// serving beside it runs the program it had to rebuild (see
/// [`Host::blocker`]) becomes [`Event::Blocked`].
fn blocked<H: Host>(event: Event, supervisor: &Supervisor, host: &H) -> Event {
    let Event::Exited { generation, status } = event else {
        return event;
    };
    match supervisor
        .serving_beside(generation)
        .and_then(|serving| host.blocker(serving))
    {
        Some(program) => Event::Blocked {
            generation,
            status,
            program,
        },
        None => Event::Exited { generation, status },
    }
}

#[cfg(test)]
mod tests;
