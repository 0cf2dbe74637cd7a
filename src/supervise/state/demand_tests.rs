//! Starting on demand (`--on-demand`) and stopping when idle
//! (`--idle-stop`): when the host waits for a connection, what a change
//! does meanwhile, and how the error page meets these states.

use std::time::Duration;

use super::event::{Action, Event};
use super::idle::IDLE_LOOK_MIN;
use super::tests::{deeds, policy, reports, Harness, BUILD};
use super::types::{Drain, Policy, Status};
use crate::config::Readiness;
use crate::signal::Signal;

const IDLE: Duration = Duration::from_secs(1);

fn on_demand() -> Policy {
    Policy {
        on_demand: true,
        ..policy(false, Readiness::Notify)
    }
}

fn idle_stop() -> Policy {
    Policy {
        idle_stop: Some(IDLE),
        ..policy(false, Readiness::Notify)
    }
}

fn connection(h: &mut Harness) -> Vec<Action> {
    h.send(Event::Connection { socket: 0 })
}

fn count(generation: u64) -> Action {
    Action::CountConnections { generation }
}

fn counted(h: &mut Harness, found: usize) -> Vec<Action> {
    h.send(Event::Connections {
        generation: 1,
        count: Some(found),
    })
}

/// A child serving under `--idle-stop`, ready, its first count taken
/// (finding `found`).
fn serving(policy: Policy, found: usize) -> Harness {
    let (mut h, _) = Harness::with(policy);
    h.ready(1);
    assert_eq!(deeds(&h.next_tick()), [count(1)], "a count at once");
    assert!(deeds(&counted(&mut h, found)).is_empty());
    h
}

/// Moves through counts that find nothing until the child is asked to
/// stop; returns how long after the first that came.
fn quiet_until_asked(h: &mut Harness) -> Duration {
    let mut waited = Duration::ZERO;
    loop {
        let before = h.supervisor_now();
        assert_eq!(deeds(&h.next_tick()), [count(1)]);
        waited += h.supervisor_now() - before;
        let actions = counted(h, 0);
        if !actions.is_empty() {
            assert_eq!(
                deeds(&actions),
                [Action::StopIfIdle {
                    generation: 1,
                    pid: 101
                }]
            );
            return waited;
        }
        assert!(waited < IDLE * 3, "never asked to stop");
    }
}

#[test]
fn on_demand_nothing_starts_before_a_connection() {
    let (h, actions) = Harness::with(on_demand());
    assert_eq!(deeds(&actions), [Action::AwaitConnection(true)]);
    assert_eq!(
        reports(&actions),
        ["waiting for the first connection on http://127.0.0.1:5000/ to start app"]
    );
    assert_eq!(h.supervisor_deadline(), None, "nothing to wake for");
}

#[test]
fn a_connection_starts_the_command() {
    let (mut h, _) = Harness::with(on_demand());
    let actions = connection(&mut h);
    assert_eq!(
        deeds(&actions),
        [Action::AwaitConnection(false), Action::Start(1)]
    );
    assert_eq!(
        reports(&actions),
        [
            "connection on http://127.0.0.1:5000/: starting app",
            "started pid 101"
        ]
    );
    assert!(
        deeds(&connection(&mut h)).is_empty(),
        "a ring not waited for changes nothing"
    );
}

#[test]
fn with_a_build_the_connection_builds_first() {
    let (mut h, actions) = Harness::with(Policy {
        build: true,
        ..on_demand()
    });
    assert_eq!(deeds(&actions), [Action::AwaitConnection(true)]);
    let actions = connection(&mut h);
    assert_eq!(
        deeds(&actions),
        [Action::AwaitConnection(false), Action::Build]
    );
    h.send(Event::Built {
        status: Status::Code(0),
    });
    h.later(Duration::from_millis(150));
    assert_eq!(deeds(&h.send(Event::Tick)), [Action::Start(1)]);
    let _ = BUILD;
}

#[test]
fn a_change_before_the_first_connection_only_marks_it_stale() {
    let (mut h, _) = Harness::with(on_demand());
    let actions = h.change();
    assert!(deeds(&actions).is_empty(), "{actions:?}");
    assert_eq!(
        reports(&actions),
        [
            "change: src/main.rs",
            "not running: the next connection starts the new version"
        ]
    );
    assert_eq!(deeds(&connection(&mut h))[1], Action::Start(1));
}

#[test]
fn sighup_starts_at_once() {
    let (mut h, _) = Harness::with(on_demand());
    let actions = h.send(Event::Hangup);
    assert_eq!(
        deeds(&actions),
        [Action::AwaitConnection(false), Action::Start(1)]
    );
}

#[test]
fn a_signal_while_waiting_exits_at_once() {
    let (mut h, _) = Harness::with(on_demand());
    let actions = h.send(Event::Shutdown { signal: Signal(2) });
    assert_eq!(deeds(&actions), [Action::Exit(0)]);
}

#[test]
fn a_crash_gets_the_error_page_until_a_change_then_a_connection_starts_it() {
    let (mut h, _) = Harness::with(Policy {
        error_page: true,
        ..on_demand()
    });
    connection(&mut h);
    let actions = h.exited(1, 1);
    assert!(
        matches!(deeds(&actions)[..], [Action::ErrorPage(Some(_))]),
        "crashed, no change since: the error page ({actions:?})"
    );
    let actions = h.change();
    assert_eq!(
        deeds(&actions),
        [Action::ErrorPage(None), Action::AwaitConnection(true)],
        "crashed, then changed: the next connection starts it"
    );
    assert_eq!(
        reports(&actions)[2],
        "waiting for a connection on http://127.0.0.1:5000/ to start app anew"
    );
    assert_eq!(
        deeds(&connection(&mut h)),
        [Action::AwaitConnection(false), Action::Start(2)]
    );
}

#[test]
fn without_on_demand_a_change_after_a_crash_starts_at_once() {
    let (mut h, _) = Harness::with(Policy {
        error_page: true,
        ..idle_stop()
    });
    h.exited(1, 1);
    let actions = h.change();
    assert!(deeds(&actions).contains(&Action::Start(2)), "{actions:?}");
}

#[test]
fn a_waiting_page_reloads_into_the_connection_that_starts_it() {
    let (mut h, _) = Harness::with(Policy {
        livereload: true,
        ..on_demand()
    });
    assert!(h.change().contains(&Action::LiveReload));
}

#[test]
fn idle_stop_counts_while_the_child_serves_alone() {
    let (mut h, _) = Harness::with(idle_stop());
    assert_eq!(h.supervisor_deadline(), None, "not ready: no count");
    h.ready(1);
    assert_eq!(deeds(&h.next_tick()), [count(1)]);
    counted(&mut h, 1);
    let before = h.supervisor_now();
    assert_eq!(deeds(&h.next_tick()), [count(1)]);
    assert_eq!(
        h.supervisor_now() - before,
        IDLE_LOOK_MIN,
        "a tenth of the idle time apart, at least 100 ms"
    );
}

#[test]
fn an_idle_stop_names_the_server_once_its_wrapper_has_gone() {
    let (mut h, _) = Harness::with(Policy {
        idle_stop: Some(IDLE),
        ..policy(false, Readiness::Auto)
    });
    // The wrapper, pid 101, started the server, pid 200, and exited.
    h.listening(1, 200);
    h.send(Event::FirstExited {
        generation: 1,
        status: Status::Code(0),
    });
    assert_eq!(deeds(&h.next_tick()), [count(1)]);
    counted(&mut h, 0);
    quiet_until_asked(&mut h);
    let actions = h.send(Event::IdleChecked {
        generation: 1,
        drain: Drain::Stopped,
    });
    assert_eq!(
        reports(&actions),
        ["pid 200 (group 101) had no connection for 1s: stopping it (--idle-stop)"]
    );
}

#[test]
fn a_child_without_connections_for_the_idle_time_is_stopped() {
    let mut h = serving(idle_stop(), 0);
    let waited = quiet_until_asked(&mut h);
    assert_eq!(
        waited, IDLE,
        "stopped the idle time after the first quiet count"
    );
    let actions = h.send(Event::IdleChecked {
        generation: 1,
        drain: Drain::Stopped,
    });
    assert_eq!(
        reports(&actions),
        ["pid 101 had no connection for 1s: stopping it (--idle-stop)"]
    );
    let actions = h.exited(1, 0);
    assert_eq!(deeds(&actions), [Action::AwaitConnection(true)]);
    assert_eq!(
        reports(&actions),
        [
            "stopped pid 101: it exited with status 0",
            "waiting for the next connection on http://127.0.0.1:5000/ to start app again"
        ]
    );
    let actions = connection(&mut h);
    assert_eq!(
        deeds(&actions),
        [Action::AwaitConnection(false), Action::Start(2)]
    );
}

#[test]
fn a_connection_puts_the_stop_off() {
    let mut h = serving(idle_stop(), 0);
    h.later(IDLE / 2);
    counted(&mut h, 1);
    h.later(IDLE / 2);
    assert!(
        deeds(&counted(&mut h, 0)).is_empty(),
        "quiet since now only"
    );
    h.later(IDLE / 2);
    assert!(deeds(&counted(&mut h, 0)).is_empty());
    h.later(IDLE / 2);
    assert!(!deeds(&counted(&mut h, 0)).is_empty(), "a whole idle time");
}

#[test]
fn a_child_found_busy_at_the_stop_keeps_serving() {
    let mut h = serving(idle_stop(), 0);
    quiet_until_asked(&mut h);
    let actions = h.send(Event::IdleChecked {
        generation: 1,
        drain: Drain::Busy(1),
    });
    assert!(actions.is_empty());
    assert_eq!(h.active().0, 1);
    // The idle time starts again, at the next count.
    assert_eq!(quiet_until_asked(&mut h), IDLE + IDLE_LOOK_MIN);
}

#[test]
fn no_count_while_a_replacement_starts() {
    let mut h = serving(idle_stop(), 0);
    let actions = h.change();
    assert!(deeds(&actions).contains(&Action::Start(2)));
    assert_eq!(h.supervisor_deadline(), None, "nothing to count");
    h.later(IDLE * 2);
    let actions = h.send(Event::Tick);
    assert!(!actions
        .iter()
        .any(|a| matches!(a, Action::CountConnections { .. })));
}

#[test]
fn a_change_during_the_idle_stop_only_marks_it_stale() {
    let mut h = serving(idle_stop(), 0);
    quiet_until_asked(&mut h);
    h.send(Event::IdleChecked {
        generation: 1,
        drain: Drain::Stopped,
    });
    let actions = h.change();
    assert!(deeds(&actions).is_empty(), "{actions:?}");
    assert_eq!(deeds(&h.exited(1, 0)), [Action::AwaitConnection(true)]);
    // Still stale once waiting.
    assert!(deeds(&h.change()).is_empty());
}

#[test]
fn sighup_during_the_idle_stop_starts_once_it_has_exited() {
    let mut h = serving(idle_stop(), 0);
    quiet_until_asked(&mut h);
    h.send(Event::IdleChecked {
        generation: 1,
        drain: Drain::Stopped,
    });
    assert!(deeds(&h.send(Event::Hangup)).is_empty());
    assert_eq!(deeds(&h.exited(1, 0)), [Action::Start(2)]);
}

#[test]
fn no_error_page_after_an_idle_stop() {
    let mut h = serving(
        Policy {
            error_page: true,
            ..idle_stop()
        },
        0,
    );
    quiet_until_asked(&mut h);
    h.send(Event::IdleChecked {
        generation: 1,
        drain: Drain::Stopped,
    });
    let actions = h.exited(1, 0);
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::ErrorPage(Some(_)))),
        "{actions:?}"
    );
}
