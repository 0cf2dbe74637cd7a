//! The build step (`--build`) and the error page: what runs when, and
//! when the host answers with the page.

use super::child::State;
use super::event::{Action, Event};
use super::tests::{deeds, policy, reports, Harness, BUILD, GRACE, TERM};
use super::types::{Outage, Policy, Status};
use crate::config::Readiness;
use crate::signal::Signal;
use std::time::Duration;

fn with(build: bool, error_page: bool) -> (Harness, Vec<Action>) {
    Harness::with(Policy {
        build,
        error_page,
        ..policy(false, Readiness::Notify)
    })
}

/// The build ends with `code`, and its writes have had time to arrive.
fn built(h: &mut Harness, code: i32) -> Vec<Action> {
    let mut actions = h.send(Event::Built {
        status: Status::Code(code),
    });
    assert_eq!(deeds(&actions), [], "nothing before the build settles");
    actions.extend(h.next_tick());
    actions
}

/// The error page's action, if any, among `actions`.
fn page(actions: &[Action]) -> Option<Option<Outage>> {
    actions.iter().find_map(|action| match action {
        Action::ErrorPage(outage) => Some(outage.clone()),
        _ => None,
    })
}

#[test]
fn the_first_start_waits_for_the_build() {
    let (mut h, actions) = with(true, true);
    assert_eq!(deeds(&actions), [Action::Build]);
    let actions = built(&mut h, 0);
    assert_eq!(deeds(&actions), [Action::Start(1)]);
    assert!(reports(&actions)[0].starts_with("build: done after"));
}

#[test]
fn a_failed_first_build_starts_nothing_and_shows_the_page() {
    let (mut h, _) = with(true, true);
    let actions = built(&mut h, 101);
    assert_eq!(
        deeds(&actions),
        [Action::ErrorPage(Some(Outage {
            cause: "the build exited with status 101".into(),
            build_failed: true,
            trigger: None,
        }))]
    );
    assert_eq!(
        reports(&actions),
        ["build failed: it exited with status 101 (its last lines are on the error page); waiting for a change or SIGHUP"]
    );
    // The next change builds, the page stopped first.
    let actions = h.change();
    assert_eq!(deeds(&actions), [Action::ErrorPage(None), Action::Build]);
    let actions = built(&mut h, 0);
    assert_eq!(deeds(&actions), [Action::Start(1)]);
}

#[test]
fn a_failed_build_leaves_the_serving_child_serving() {
    let (mut h, _) = with(true, true);
    built(&mut h, 0);
    h.ready(1);
    let actions = h.change();
    assert_eq!(deeds(&actions), [Action::Build]);
    let actions = built(&mut h, 2);
    assert_eq!(deeds(&actions), []);
    assert_eq!(
        reports(&actions),
        ["build failed: it exited with status 2; pid 101 keeps serving the last build"]
    );
    assert_eq!(h.active(), (1, State::Ready));
    // A good build then replaces it as usual.
    h.change();
    assert_eq!(deeds(&built(&mut h, 0)), [Action::Start(2)]);
}

#[test]
fn changes_during_a_build_make_one_more_run_after_it() {
    let (mut h, _) = with(true, false);
    let actions = h.change();
    assert_eq!(deeds(&actions), []);
    assert_eq!(reports(&actions), ["change: src/main.rs"]);
    assert_eq!(reports(&h.change()), ["change: src/main.rs"]);
    let actions = built(&mut h, 0);
    assert_eq!(deeds(&actions), [Action::Build]);
    assert_eq!(
        reports(&actions),
        ["build: files changed while it ran; building again"]
    );
    // The first start stays the first: no restart line.
    let actions = built(&mut h, 0);
    assert_eq!(deeds(&actions), [Action::Start(1)]);
}

#[test]
fn a_build_that_writes_a_watched_file_does_not_loop() {
    let (mut h, _) = with(true, false);
    let generated = || Event::Change {
        path: "gen.rs".into(),
        more: 0,
        paths: vec!["gen.rs".into()],
    };
    h.send(generated());
    assert_eq!(deeds(&built(&mut h, 0)), [Action::Build]);
    h.send(generated());
    let actions = built(&mut h, 0);
    assert_eq!(deeds(&actions), [Action::Start(1)]);
    assert!(reports(&actions)[0].starts_with("gen.rs changed during two builds in a row"));
    // From then on it is ignored during builds, without a line.
    h.ready(1);
    h.change();
    assert_eq!(h.send(generated()), []);
    assert_eq!(deeds(&built(&mut h, 0)), [Action::Start(2)]);
}

#[test]
fn what_the_build_writes_just_before_it_ends_counts_as_during_it() {
    let (mut h, _) = with(true, false);
    h.send(Event::Built {
        status: Status::Code(0),
    });
    // The watcher's batch comes after the build's end, within the settle
    // time.
    h.later(Duration::from_millis(100));
    assert_eq!(deeds(&h.change()), []);
    assert_eq!(deeds(&h.next_tick()), [Action::Build]);
}

#[test]
fn with_signal_the_signal_follows_a_build_that_succeeded() {
    let hup = Signal(1);
    let (mut h, _) = Harness::with(Policy {
        build: true,
        signal_on_change: Some(hup),
        ..policy(false, Readiness::Notify)
    });
    built(&mut h, 0);
    h.ready(1);
    assert_eq!(deeds(&h.change()), [Action::Build]);
    assert_eq!(deeds(&built(&mut h, 1)), []);
    h.change();
    assert_eq!(
        deeds(&built(&mut h, 0)),
        [Action::Signal {
            pid: 101,
            signal: hup
        }]
    );
}

#[test]
fn a_shutdown_stops_the_build_and_waits_for_it() {
    let (mut h, _) = with(true, true);
    let actions = h.send(Event::Shutdown { signal: TERM });
    assert_eq!(deeds(&actions), [Action::Stop { pid: BUILD }]);
    // It outlasts the grace period: SIGKILL.
    h.later(GRACE);
    assert_eq!(deeds(&h.next_tick()), [Action::Kill { pid: BUILD }]);
    let actions = h.send(Event::Built {
        status: Status::Code(-1),
    });
    assert_eq!(deeds(&actions), [Action::Exit(0)]);
}

#[test]
fn a_build_that_would_replace_the_running_program_waits_for_it_to_stop() {
    let (mut h, _) = with(true, false);
    built(&mut h, 0);
    h.ready(1);
    h.change();
    let actions = h.send(Event::BuildBlocked {
        program: "C:\\app\\target\\debug\\app.exe".into(),
    });
    assert_eq!(deeds(&actions), [Action::Stop { pid: 101 }]);
    assert!(reports(&actions)[0].contains("stopping pid 101 first"));
    let actions = h.exited(1, 0);
    assert_eq!(deeds(&actions), [Action::Build]);
    assert_eq!(deeds(&built(&mut h, 0)), [Action::Start(2)]);
}

#[test]
fn a_crash_shows_the_page_until_the_next_start() {
    let (mut h, _) = with(false, true);
    h.ready(1);
    let actions = h.exited(1, 42);
    assert_eq!(
        page(&actions),
        Some(Some(Outage {
            cause: "pid 101 exited with status 42".into(),
            build_failed: false,
            trigger: None,
        }))
    );
    let actions = h.change();
    assert_eq!(deeds(&actions), [Action::ErrorPage(None), Action::Start(2)]);
    // A start that fails again: the page comes back, naming the change.
    let actions = h.exited(2, 1);
    assert_eq!(
        page(&actions).flatten().unwrap().trigger.as_deref(),
        Some("src/main.rs")
    );
}

#[test]
fn no_page_while_anything_of_the_command_runs() {
    let (mut h, _) = with(false, true);
    h.ready(1);
    h.change();
    // The active child exits while its replacement starts: no page.
    let actions = h.exited(1, 1);
    assert_eq!(page(&actions), None);
    // A stop-first restart: none while waiting for the old one to stop.
    let (mut h, _) = Harness::with(Policy {
        error_page: true,
        ..policy(true, Readiness::Notify)
    });
    let actions = h.change();
    assert_eq!(page(&actions), None);
    assert_eq!(page(&h.exited(1, 0)), None);
}

#[test]
fn without_the_page_nothing_is_answered() {
    let (mut h, _) = with(false, false);
    h.ready(1);
    assert_eq!(page(&h.exited(1, 42)), None);
}

#[test]
fn a_shutdown_while_a_build_settles_exits_at_once() {
    let (mut h, _) = with(true, true);
    h.send(Event::Built {
        status: Status::Code(0),
    });
    let actions = h.send(Event::Shutdown { signal: TERM });
    assert_eq!(deeds(&actions), [Action::Exit(0)]);
}

#[test]
fn sighup_during_a_build_builds_again_without_a_word_of_files() {
    let (mut h, _) = with(true, false);
    h.send(Event::Hangup);
    let actions = built(&mut h, 0);
    assert_eq!(deeds(&actions), [Action::Build]);
    assert_eq!(
        reports(&actions),
        ["build: SIGHUP came while it ran; building again"]
    );
}

#[test]
fn clear_comes_before_the_build_not_the_start() {
    let (mut h, actions) = Harness::with(Policy {
        build: true,
        clear: true,
        ..policy(false, Readiness::Notify)
    });
    assert_eq!(deeds(&actions), [Action::Clear, Action::Build]);
    assert_eq!(deeds(&built(&mut h, 0)), [Action::Start(1)]);
}

#[test]
fn a_crash_after_a_failed_build_shows_both_and_what_started_it() {
    let (mut h, _) = with(true, true);
    built(&mut h, 0);
    h.ready(1);
    h.change();
    built(&mut h, 101);
    let actions = h.exited(1, 1);
    assert_eq!(
        page(&actions),
        Some(Some(Outage {
            cause: "pid 101 exited with status 1; the last build failed too: the build exited with status 101".into(),
            build_failed: true,
            trigger: None,
        }))
    );
}
