//! A child whose first process exits while its process group runs on (a
//! wrapper that leaves its server running): lines name the process seen
//! serving, or the group, never the pid that is gone, and signals meant
//! for the command reach what is left of it.

use super::event::{Action, Event};
use super::tests::{deeds, policy, reports, Harness, GRACE};
use super::types::{Drain, Policy, Status};
use crate::config::Readiness;
use crate::signal::Signal;

fn first_exited(h: &mut Harness, generation: u64, code: i32) -> Vec<Action> {
    h.send(Event::FirstExited {
        generation,
        status: Status::Code(code),
    })
}

#[test]
fn once_the_first_process_is_gone_lines_name_the_one_seen_serving() {
    let (mut h, _) = Harness::with(policy(false, Readiness::Auto));
    // The wrapper, pid 101, started the server, pid 200, which listens.
    assert_eq!(
        reports(&h.listening(1, 200)),
        ["ready: pid 101 after 0 ms (pid 200 listening on fd 3)"]
    );
    let actions = first_exited(&mut h, 1, 0);
    assert_eq!(
        reports(&actions),
        ["pid 101 exited with status 0; its process group runs on (pid 200 serves)"]
    );
    assert!(deeds(&actions).is_empty());

    assert_eq!(
        reports(&h.change()),
        [
            "change: src/main.rs",
            "restart: starting a replacement; pid 200 (group 101) serves until it is ready",
            "started pid 102",
        ]
    );
    let actions = h.listening(2, 102);
    assert_eq!(
        reports(&actions),
        [
            "ready: pid 102 after 0 ms (listening on fd 3)",
            "handover: pid 102 is ready; stopping pid 200 (group 101)",
        ]
    );
    // Signals go to the group, as ever: its id is the first pid.
    assert_eq!(
        deeds(&actions),
        [Action::StopWhenIdle {
            generation: 1,
            pid: 101
        }]
    );
    h.send(Event::Drain {
        generation: 1,
        drain: Drain::Stopped,
    });
    assert_eq!(
        reports(&h.exited(1, 0)),
        ["stopped process group 101: its last process has exited (pid 101 exited with status 0 before)"]
    );
}

#[test]
fn a_group_whose_server_is_unknown_is_named_and_signalled_as_a_group() {
    let hup = Signal(1);
    let (mut h, _) = Harness::with(Policy {
        signal_on_change: Some(hup),
        ..policy(false, Readiness::Notify)
    });
    h.ready(1);
    assert_eq!(
        reports(&first_exited(&mut h, 1, 0)),
        ["pid 101 exited with status 0; its process group runs on"]
    );
    let usr1 = Signal(10);
    let actions = h.send(Event::Forward { signal: usr1 });
    assert_eq!(
        reports(&actions),
        [format!("{usr1}: passing it on to process group 101")]
    );
    assert_eq!(
        deeds(&actions),
        [Action::SignalGroup {
            group: 101,
            signal: usr1
        }]
    );
    let actions = h.change();
    assert_eq!(
        reports(&actions)[1],
        format!("sending {hup} to process group 101 (--signal)")
    );
    assert_eq!(
        deeds(&actions),
        [Action::SignalGroup {
            group: 101,
            signal: hup
        }]
    );
    // It ends by itself.
    assert_eq!(
        reports(&h.exited(1, 0)),
        [
            "process group 101 has ended: its last process has exited (pid 101 exited with status 0 before)",
            "waiting for a change or SIGHUP",
        ]
    );
}

#[test]
fn a_child_being_stopped_is_renamed_without_a_line() {
    let (mut h, _) = Harness::with(policy(true, Readiness::Notify));
    h.ready(1);
    let actions = h.change();
    assert_eq!(
        reports(&actions)[1],
        "restart: stopping pid 101 first (--stop-first)"
    );
    assert_eq!(deeds(&actions), [Action::Stop { pid: 101 }]);
    // The wrapper dies on the stop signal; its server does not.
    assert!(reports(&first_exited(&mut h, 1, 143)).is_empty());
    h.later(GRACE);
    let actions = h.send(Event::Tick);
    let said = reports(&actions);
    assert!(
        said.len() == 1 && said[0].starts_with("process group 101 did not stop within 5s; "),
        "{said:?}"
    );
    assert_eq!(deeds(&actions), [Action::Kill { pid: 101 }]);
    // It did stop, on the stop signal: the line says so of it.
    assert_eq!(
        reports(&h.exited(1, 143))[0],
        "stopped pid 101: it exited with status 143"
    );
}

#[test]
fn an_unknown_or_ended_generation_changes_nothing() {
    let (mut h, _) = Harness::with(policy(false, Readiness::Notify));
    assert!(first_exited(&mut h, 7, 0).is_empty());
    h.exited(1, 0);
    assert!(first_exited(&mut h, 1, 0).is_empty());
}

#[test]
fn the_end_of_a_group_names_how_its_server_exited() {
    let (mut h, _) = Harness::with(policy(false, Readiness::Auto));
    h.listening(1, 200);
    first_exited(&mut h, 1, 0);
    // A process of no child's, then the server, killed.
    h.send(Event::Orphaned {
        pid: 300,
        status: Status::Code(1),
    });
    h.send(Event::Orphaned {
        pid: 200,
        status: Status::Signal(Signal(9)),
    });
    let reports = reports(&h.exited(1, 0));
    assert_eq!(
        reports[0],
        format!(
            "process group 101 has ended: pid 200, which served, was killed by {} \
             (pid 101 exited with status 0 before)",
            Signal(9)
        )
    );
}

#[test]
fn a_server_that_died_before_it_served_is_named_by_its_exit() {
    let (mut h, _) = Harness::with(policy(false, Readiness::Auto));
    first_exited(&mut h, 1, 0);
    h.send(Event::Orphaned {
        pid: 200,
        status: Status::Code(1),
    });
    assert_eq!(
        reports(&h.exited(1, 0))[0],
        "process group 101 has ended: pid 200, its last process, exited with status 1 \
         (pid 101 exited with status 0 before)"
    );
}
