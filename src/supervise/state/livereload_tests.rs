//! Live reload (`--livereload`): when the pages are told to reload, and
//! what they are told of builds and starts.

use std::time::Duration;

use super::event::{Action, Event};
use super::tests::{deeds, policy, Harness, TERM};
use super::types::{Drain, LiveStatus, Policy, Status, RELOAD_GRACE, SIGNAL_RELOAD};
use crate::config::Readiness;
use crate::signal::Signal;

fn live(ready: Readiness) -> Policy {
    Policy {
        livereload: true,
        ..policy(false, ready)
    }
}

/// Whether `actions` tell the pages to reload.
fn reloads(actions: &[Action]) -> bool {
    actions.contains(&Action::LiveReload)
}

/// The statuses among `actions`.
fn statuses(actions: &[Action]) -> Vec<LiveStatus> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::LiveStatus(status) => Some(status.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn the_first_start_reloads_once_ready() {
    let (mut h, actions) = Harness::with(live(Readiness::Notify));
    assert!(!reloads(&actions));
    let actions = h.ready(1);
    assert_eq!(
        deeds(&actions),
        [Action::LiveStatus(LiveStatus::Ok), Action::LiveReload]
    );
}

#[test]
fn a_handover_reloads_once_the_old_child_accepts_no_more() {
    let (mut h, _) = Harness::with(live(Readiness::Notify));
    h.ready(1);
    let actions = h.change();
    assert_eq!(statuses(&actions), [LiveStatus::Building]);
    // Ready, but the old one still drains: not yet.
    assert!(!reloads(&h.ready(2)));
    assert!(!reloads(&h.send(Event::Drain {
        generation: 1,
        drain: Drain::Busy(1)
    })));
    h.later(Duration::from_millis(15));
    // Its stop signal goes out: the reload follows RELOAD_GRACE later…
    assert!(!reloads(&h.send(Event::Drain {
        generation: 1,
        drain: Drain::Stopped
    })));
    h.later(RELOAD_GRACE / 2);
    assert!(!reloads(&h.send(Event::Tick)));
    h.later(RELOAD_GRACE / 2);
    assert!(reloads(&h.send(Event::Tick)));
}

#[test]
fn a_handover_reloads_at_the_old_childs_exit_if_sooner() {
    let (mut h, _) = Harness::with(live(Readiness::Notify));
    h.ready(1);
    h.change();
    h.ready(2);
    h.send(Event::Drain {
        generation: 1,
        drain: Drain::Stopped,
    });
    assert!(reloads(&h.exited(1, 0)));
    // Once only.
    h.later(RELOAD_GRACE);
    assert!(!reloads(&h.send(Event::Tick)));
}

#[test]
fn a_replacement_that_is_never_ready_never_reloads() {
    // --ready notify, and it never sends READY=1: the old one serves on.
    let (mut h, _) = Harness::with(live(Readiness::Notify));
    h.ready(1);
    h.change();
    h.later(Duration::from_secs(60));
    assert!(!reloads(&h.send(Event::Tick)));
    assert_eq!(h.active().0, 1);
}

#[test]
fn a_failed_replacement_is_told_and_nothing_reloads() {
    let (mut h, _) = Harness::with(live(Readiness::Notify));
    h.ready(1);
    h.change();
    let actions = h.exited(2, 1);
    assert!(!reloads(&actions));
    assert_eq!(
        statuses(&actions),
        [LiveStatus::Failed {
            cause: "pid 102 exited with status 1 before it was ready".into(),
            build_failed: false
        }]
    );
}

#[test]
fn a_failed_build_is_told_with_its_output() {
    let (mut h, _) = Harness::with(Policy {
        build: true,
        ..live(Readiness::Notify)
    });
    h.send(Event::Built {
        status: Status::Code(0),
    });
    h.next_tick();
    h.ready(1);
    h.change();
    h.send(Event::Built {
        status: Status::Code(101),
    });
    let actions = h.next_tick();
    assert_eq!(
        statuses(&actions),
        [LiveStatus::Failed {
            cause: "the build exited with status 101".into(),
            build_failed: true
        }]
    );
}

#[test]
fn with_signal_the_reload_follows_ready_or_a_second() {
    let hup = Signal(1);
    let (mut h, _) = Harness::with(Policy {
        signal_on_change: Some(hup),
        ..live(Readiness::Notify)
    });
    h.ready(1);
    h.change();
    // READY=1 after the signal: reloaded in place.
    assert!(reloads(&h.ready(1)));
    // Without it: a second after the signal.
    h.change();
    h.later(SIGNAL_RELOAD / 2);
    assert!(!reloads(&h.send(Event::Tick)));
    h.later(SIGNAL_RELOAD / 2);
    assert!(reloads(&h.send(Event::Tick)));
}

#[test]
fn a_shutdown_reloads_nothing() {
    let (mut h, _) = Harness::with(live(Readiness::Notify));
    h.ready(1);
    h.change();
    h.ready(2);
    assert!(!reloads(&h.send(Event::Shutdown { signal: TERM })));
    h.later(RELOAD_GRACE);
    assert!(!reloads(&h.exited(1, 0)));
}

#[test]
fn where_listening_shows_the_reload_follows_the_old_childs_listener() {
    let (mut h, _) = Harness::with(live(Readiness::Auto));
    h.listening(1, 101);
    h.change();
    h.listening(2, 102);
    h.send(Event::Drain {
        generation: 1,
        drain: Drain::Stopped,
    });
    // Looked at every LOOK_MIN while it still listens…
    let look = Action::LookOld {
        generation: 1,
        pid: 101,
    };
    assert_eq!(deeds(&h.next_tick()), std::slice::from_ref(&look));
    let still = |listening| Event::StillListening {
        generation: 1,
        listening,
    };
    assert!(!reloads(&h.send(still(true))));
    assert_eq!(deeds(&h.next_tick()), [look]);
    // … and the pages reload once it listens no more.
    assert!(reloads(&h.send(still(false))));
}

#[test]
fn an_old_child_that_listens_on_holds_the_reload_a_second_at_most() {
    let (mut h, _) = Harness::with(live(Readiness::Auto));
    h.listening(1, 101);
    h.change();
    h.listening(2, 102);
    h.send(Event::Drain {
        generation: 1,
        drain: Drain::Stopped,
    });
    let mut reloaded = false;
    for _ in 0..200 {
        let actions = h.next_tick();
        if reloads(&actions) {
            reloaded = true;
            break;
        }
        h.send(Event::StillListening {
            generation: 1,
            listening: true,
        });
    }
    assert!(reloaded);
}

#[test]
fn the_reload_waits_for_every_old_child_not_only_the_last() {
    // Two saves in a row: 1 hands over to 2, which hands over to 3 while 1
    // still drains (it holds a browser's kept-alive connection).
    let (mut h, _) = Harness::with(live(Readiness::Notify));
    h.ready(1);
    h.change();
    h.ready(2);
    h.send(Event::Drain {
        generation: 1,
        drain: Drain::Busy(1),
    });
    h.change();
    h.ready(3);
    h.send(Event::Drain {
        generation: 2,
        drain: Drain::Stopped,
    });
    // 2 is long stopped, but 1 still serves: no reload.
    assert!(!reloads(&h.exited(2, 0)));
    h.later(RELOAD_GRACE * 2);
    assert!(!reloads(&h.send(Event::Tick)));
    // Once 1 is stopped too, and gone, the pages reload.
    h.send(Event::Drain {
        generation: 1,
        drain: Drain::Stopped,
    });
    assert!(reloads(&h.exited(1, 0)));
}
