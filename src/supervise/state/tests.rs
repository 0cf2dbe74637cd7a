use std::time::{Duration, Instant};

use super::child::State;
use super::types::{CONFIRM, DRAIN_CHECK, LOOK_MAX, LOOK_MIN};
use super::*;
use crate::config::Readiness;
use crate::signal::Signal;

pub(super) const STOP: Signal = Signal(15);
pub(super) const GRACE: Duration = Duration::from_secs(5);

pub(super) fn policy(stop_first: bool, ready: Readiness) -> Policy {
    Policy {
        stop_first,
        stop_signal: STOP,
        grace: GRACE,
        signal_on_change: None,
        ready,
        clear: false,
        build: false,
        settle: Duration::from_millis(150),
        error_page: false,
        livereload: false,
        on_demand: false,
        idle_stop: None,
    }
}

/// Drives a [`Supervisor`] the way the event loop does: each `Start`
/// succeeds at once with pid 100 + generation.
pub(super) struct Harness {
    supervisor: Supervisor,
    now: Instant,
}

impl Harness {
    fn new(stop_first: bool) -> (Harness, Vec<Action>) {
        Harness::with(policy(stop_first, Readiness::Notify))
    }

    /// A harness whose children may be ready by listening.
    fn with_ready(stop_first: bool, ready: Readiness) -> (Harness, Vec<Action>) {
        Harness::with(policy(stop_first, ready))
    }

    pub(super) fn with(policy: Policy) -> (Harness, Vec<Action>) {
        let mut harness = Harness {
            supervisor: Supervisor::new(policy).named(Names {
                sockets: vec!["http://127.0.0.1:5000/".into()],
                command: "app".into(),
            }),
            now: Instant::now(),
        };
        let actions = harness.supervisor.begin(harness.now);
        let actions = harness.follow(actions);
        (harness, actions)
    }

    pub(super) fn send(&mut self, event: Event) -> Vec<Action> {
        let actions = self.supervisor.handle(event, self.now);
        self.follow(actions)
    }

    /// Answers every `Start` with `Started`, as the loop does.
    fn follow(&mut self, actions: Vec<Action>) -> Vec<Action> {
        let mut all = Vec::new();
        for action in actions {
            let started = match action {
                Action::Start(generation) => Some(generation),
                _ => None,
            };
            let build = action == Action::Build;
            all.push(action);
            if build {
                let more = self
                    .supervisor
                    .handle(Event::BuildStarted { pid: BUILD }, self.now);
                all.extend(self.follow(more));
            }
            if let Some(generation) = started {
                let pid = 100 + generation as u32;
                let more = self
                    .supervisor
                    .handle(Event::Started { generation, pid }, self.now);
                all.extend(self.follow(more));
            }
        }
        all
    }

    pub(super) fn later(&mut self, by: Duration) {
        self.now += by;
    }

    pub(super) fn change(&mut self) -> Vec<Action> {
        self.send(Event::Change {
            path: "src/main.rs".into(),
            more: 0,
            paths: vec!["src/main.rs".into()],
        })
    }

    pub(super) fn ready(&mut self, generation: Generation) -> Vec<Action> {
        self.send(Event::Ready { generation })
    }

    pub(super) fn exited(&mut self, generation: Generation, code: i32) -> Vec<Action> {
        self.send(Event::Exited {
            generation,
            status: Status::Code(code),
        })
    }

    /// The host's answer to [`Action::StopWhenIdle`] for `generation`.
    fn drained(&mut self, generation: Generation, drain: Drain) -> Vec<Action> {
        self.send(Event::Drain { generation, drain })
    }

    /// A handover from 1 (ready) to 2: 1 drains.
    fn handed_over() -> Harness {
        let (mut h, _) = Harness::new(false);
        h.ready(1);
        h.change();
        assert_eq!(deeds(&h.ready(2)), [idle(1)]);
        h
    }

    pub(super) fn listening(&mut self, generation: Generation, pid: u32) -> Vec<Action> {
        let waiter = Waiter { pid, fd: 3 };
        self.send(Event::SeenListening { generation, waiter })
    }

    /// Moves time to the next deadline and ticks; the looks asked for.
    pub(super) fn next_tick(&mut self) -> Vec<Action> {
        let deadline = self.supervisor.next_deadline().expect("a deadline");
        assert!(deadline >= self.now, "a deadline in the past");
        self.now = deadline;
        self.send(Event::Tick)
    }

    pub(super) fn supervisor_now(&self) -> Instant {
        self.now
    }

    pub(super) fn supervisor_deadline(&self) -> Option<Instant> {
        self.supervisor.next_deadline()
    }

    pub(super) fn active(&self) -> (Generation, State) {
        let active = self.supervisor.active().expect("an active child");
        (active.generation, active.state)
    }
}

/// The pid every build gets from the harness.
pub(super) const BUILD: u32 = 99;

/// Asking the host to stop `generation` (pid 100 + generation) once idle.
fn idle(generation: Generation) -> Action {
    Action::StopWhenIdle {
        generation,
        pid: 100 + generation as u32,
    }
}

/// The actions other than reports.
pub(super) fn deeds(actions: &[Action]) -> Vec<Action> {
    actions
        .iter()
        .filter(|a| !matches!(a, Action::Say(_)))
        .cloned()
        .collect()
}

pub(super) fn reports(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Say(report) => Some(report.to_string()),
            _ => None,
        })
        .collect()
}

#[cfg(unix)]
pub(super) const TERM: Signal = Signal(libc::SIGTERM);
#[cfg(not(unix))]
pub(super) const TERM: Signal = Signal(15);

#[test]
fn with_signal_a_change_signals_the_running_child_instead_of_restarting() {
    let hup = Signal(1);
    let (mut h, _) = Harness::with(Policy {
        signal_on_change: Some(hup),
        ..policy(false, Readiness::Notify)
    });
    let actions = h.change();
    assert_eq!(
        deeds(&actions),
        [Action::Signal {
            pid: 101,
            signal: hup
        }]
    );
    assert_eq!(
        reports(&actions),
        [
            "change: src/main.rs",
            "sending SIGHUP to pid 101 (--signal)"
        ]
    );
    assert_eq!(h.active(), (1, State::Starting));

    // SIGHUP to systemfd still restarts.
    h.ready(1);
    let actions = h.send(Event::Hangup);
    assert_eq!(deeds(&actions), [Action::Start(2)]);
    // While a replacement starts, a change restarts as usual.
    let actions = h.change();
    assert_eq!(
        deeds(&actions),
        [Action::Stop { pid: 102 }, Action::Start(3)]
    );
}

#[test]
fn with_signal_a_change_starts_a_command_that_is_not_running() {
    let (mut h, _) = Harness::with(Policy {
        signal_on_change: Some(Signal(1)),
        ..policy(false, Readiness::Notify)
    });
    h.exited(1, 0);
    let actions = h.change();
    assert_eq!(deeds(&actions), [Action::Start(2)]);
}

#[test]
fn user_signals_are_passed_on_to_the_serving_child() {
    let usr1 = Signal(10);
    let (mut h, _) = Harness::new(false);
    let actions = h.send(Event::Forward { signal: usr1 });
    assert_eq!(
        deeds(&actions),
        [Action::Signal {
            pid: 101,
            signal: usr1
        }]
    );
    h.exited(1, 0);
    assert!(h.send(Event::Forward { signal: usr1 }).is_empty());
}

#[test]
fn begins_with_one_start() {
    let (h, actions) = Harness::new(false);
    assert_eq!(deeds(&actions), [Action::Start(1)]);
    assert_eq!(reports(&actions), ["started pid 101"]);
    assert_eq!(h.active(), (1, State::Starting));
}

#[test]
fn ready_is_reported_with_the_time_since_start() {
    let (mut h, _) = Harness::new(false);
    h.later(Duration::from_millis(215));
    let actions = h.ready(1);
    assert_eq!(reports(&actions), ["ready: pid 101 after 215 ms (READY=1)"]);
    assert_eq!(h.active(), (1, State::Ready));
    // A repeated READY=1 changes nothing.
    assert!(h.ready(1).is_empty());
}

#[test]
fn a_ready_child_is_replaced_once_the_new_one_is_ready() {
    let (mut h, _) = Harness::new(false);
    h.ready(1);
    let actions = h.change();
    assert_eq!(deeds(&actions), [Action::Start(2)]);
    assert_eq!(
        reports(&actions),
        [
            "change: src/main.rs",
            "restart: starting a replacement; pid 101 serves until it is ready",
            "started pid 102",
        ]
    );
    // The old child keeps serving while the new one starts.
    assert_eq!(h.active(), (1, State::Ready));
    assert_eq!(h.supervisor.replacement().unwrap().state, State::Starting);

    let actions = h.ready(2);
    assert_eq!(deeds(&actions), [idle(1)]);
    assert!(reports(&actions).contains(&"handover: pid 102 is ready; stopping pid 101".into()));
    assert_eq!(h.active(), (2, State::Ready));
    assert!(h.supervisor.replacement().is_none());
    // It was idle: the host sent the stop signal.
    assert!(h.drained(1, Drain::Stopped).is_empty());

    let actions = h.exited(1, 0);
    assert!(deeds(&actions).is_empty());
    assert_eq!(
        reports(&actions),
        ["stopped pid 101: it exited with status 0"]
    );
    assert!(h.supervisor.retiring().is_empty());
}

#[test]
fn an_unready_child_is_stopped_before_the_new_one_starts() {
    let (mut h, _) = Harness::new(false);
    let actions = h.change();
    assert_eq!(deeds(&actions), [Action::Stop { pid: 101 }]);
    assert!(reports(&actions)
        .contains(&"restart: stopping pid 101 first (it has not reported READY=1)".into()));
    assert!(h.supervisor.active().is_none());

    let actions = h.exited(1, 143);
    assert_eq!(deeds(&actions), [Action::Start(2)]);
    assert_eq!(h.active(), (2, State::Starting));
}

#[test]
fn stop_first_never_runs_two_children() {
    let (mut h, _) = Harness::new(true);
    h.ready(1);
    let actions = h.change();
    assert_eq!(deeds(&actions), [Action::Stop { pid: 101 }]);
    assert!(reports(&actions).contains(&"restart: stopping pid 101 first (--stop-first)".into()));
    assert_eq!(deeds(&h.exited(1, 0)), [Action::Start(2)]);
}

#[test]
fn a_replacement_that_exits_early_leaves_the_old_child_serving() {
    let (mut h, _) = Harness::new(false);
    h.ready(1);
    h.change();
    let actions = h.exited(2, 101);
    assert!(deeds(&actions).is_empty(), "{actions:?}");
    assert_eq!(
        reports(&actions),
        ["pid 102 exited with status 101 before it was ready; pid 101 keeps serving"]
    );
    assert_eq!(h.active(), (1, State::Ready));
    assert!(h.supervisor.replacement().is_none());
    // The next change tries again beside the same old child.
    assert_eq!(deeds(&h.change()), [Action::Start(3)]);
    assert_eq!(h.active(), (1, State::Ready));
}

#[test]
fn a_change_during_a_handover_supersedes_the_pending_replacement() {
    let (mut h, _) = Harness::new(false);
    h.ready(1);
    h.change();
    let actions = h.change();
    assert_eq!(
        deeds(&actions),
        [Action::Stop { pid: 102 }, Action::Start(3)]
    );
    assert!(reports(&actions)
        .contains(&"restart: stopping pid 102, which was not ready yet, and starting anew".into()));
    assert_eq!(h.active(), (1, State::Ready));
    assert_eq!(h.supervisor.replacement().unwrap().generation, 3);

    // The superseded one's exit is a stop, not a failed replacement.
    let actions = h.exited(2, 143);
    assert_eq!(
        reports(&actions),
        ["stopped pid 102: it exited with status 143"]
    );
    assert_eq!(h.supervisor.replacement().unwrap().generation, 3);
    // Its late READY=1 is ignored; the newest one's takes over.
    assert!(deeds(&h.ready(2)).is_empty());
    assert_eq!(deeds(&h.ready(3)), [idle(1)]);
    assert_eq!(h.active(), (3, State::Ready));
}

#[test]
fn a_change_while_waiting_for_a_stop_changes_nothing() {
    let (mut h, _) = Harness::new(false);
    h.change();
    let actions = h.change();
    assert!(deeds(&actions).is_empty());
    assert!(reports(&actions)
        .contains(&"restart: already waiting for pid 101 to stop before starting".into()));
    assert_eq!(deeds(&h.exited(1, 0)), [Action::Start(2)]);
}

#[test]
fn an_exit_on_its_own_waits_for_the_next_change() {
    let (mut h, _) = Harness::new(false);
    h.ready(1);
    let actions = h.exited(1, 3);
    assert!(deeds(&actions).is_empty());
    assert_eq!(
        reports(&actions),
        [
            "pid 101 exited with status 3",
            "waiting for a change or SIGHUP"
        ]
    );
    assert_eq!(h.active(), (1, State::Exited(Status::Code(3))));
    let actions = h.send(Event::Hangup);
    assert_eq!(deeds(&actions), [Action::Start(2)]);
    assert_eq!(
        reports(&actions)[..2],
        ["SIGHUP: restarting", "restart: starting the command"]
    );
}

#[test]
fn the_old_child_exiting_during_a_handover_lets_the_new_one_take_over() {
    let (mut h, _) = Harness::new(false);
    h.ready(1);
    h.change();
    let actions = h.exited(1, 1);
    assert_eq!(
        reports(&actions),
        ["pid 101 exited with status 1", "pid 102 takes over"]
    );
    assert_eq!(h.active(), (2, State::Starting));
    let actions = h.ready(2);
    assert!(deeds(&actions).is_empty());
    assert_eq!(h.active(), (2, State::Ready));
}

#[test]
fn sigkill_follows_when_the_grace_period_runs_out() {
    let (mut h, _) = Harness::new(false);
    h.change();
    assert_eq!(h.supervisor.next_deadline(), Some(h.now + GRACE));
    h.later(GRACE - Duration::from_millis(1));
    assert!(h.send(Event::Tick).is_empty());
    h.later(Duration::from_millis(1));
    let actions = h.send(Event::Tick);
    assert_eq!(deeds(&actions), [Action::Kill { pid: 101 }]);
    assert_eq!(
        reports(&actions),
        ["pid 101 did not stop within 5s; sending SIGKILL"]
    );
    // Only once; and no deadline remains.
    assert!(h.send(Event::Tick).is_empty());
    assert_eq!(h.supervisor.next_deadline(), None);
    h.send(Event::Exited {
        generation: 1,
        status: Status::Signal(Signal(9)),
    });
    assert_eq!(h.active(), (2, State::Starting));
}

#[test]
fn shutdown_stops_every_child_then_exits() {
    let (mut h, _) = Harness::new(false);
    h.ready(1);
    h.change();
    let actions = h.send(Event::Shutdown { signal: TERM });
    assert_eq!(
        deeds(&actions),
        [Action::Stop { pid: 102 }, Action::Stop { pid: 101 }]
    );
    assert!(deeds(&h.exited(2, 0)).is_empty());
    assert_eq!(deeds(&h.exited(1, 0)), [Action::Exit(0)]);
}

#[test]
fn shutdown_with_nothing_running_exits_at_once() {
    let (mut h, _) = Harness::new(false);
    h.exited(1, 0);
    assert_eq!(
        deeds(&h.send(Event::Shutdown { signal: TERM })),
        [Action::Exit(0)]
    );
}

#[test]
fn a_second_shutdown_kills_at_once() {
    let (mut h, _) = Harness::new(false);
    h.send(Event::Shutdown { signal: TERM });
    let actions = h.send(Event::Shutdown { signal: TERM });
    assert_eq!(
        deeds(&actions),
        [Action::Kill { pid: 101 }, Action::Exit(128 + TERM.0)]
    );
}

#[test]
fn no_restart_while_shutting_down() {
    let (mut h, _) = Harness::new(false);
    h.send(Event::Shutdown { signal: TERM });
    assert!(h.change().is_empty());
    assert!(h.send(Event::Hangup).is_empty());
    // Not even the stop-first start that was pending.
    let (mut h, _) = Harness::new(false);
    h.change();
    h.send(Event::Shutdown { signal: TERM });
    assert_eq!(deeds(&h.exited(1, 0)), [Action::Exit(0)]);
}

#[test]
fn a_failed_start_keeps_the_old_child_or_waits() {
    let (mut h, _) = Harness::new(false);
    h.ready(1);
    let actions = h.supervisor.handle(
        Event::Change {
            path: "a".into(),
            more: 2,
            paths: vec!["a".into(), "b".into(), "c".into()],
        },
        h.now,
    );
    assert_eq!(reports(&actions)[0], "change: a (and 2 more)");
    let actions = h.send(Event::StartFailed {
        generation: 2,
        error: "cannot run 'x'".into(),
    });
    assert_eq!(reports(&actions), ["cannot run 'x'; pid 101 keeps serving"]);
    assert!(matches!(&actions[0], Action::Say(r) if r.is_error()));
    assert_eq!(h.active(), (1, State::Ready));

    let (mut h, _) = Harness::new(false);
    h.change();
    h.supervisor.handle(
        Event::Exited {
            generation: 1,
            status: Status::Code(0),
        },
        h.now,
    );
    let actions = h.send(Event::StartFailed {
        generation: 2,
        error: "cannot run 'x'".into(),
    });
    assert_eq!(
        reports(&actions),
        ["cannot run 'x'; waiting for a change or SIGHUP"]
    );
    assert!(h.supervisor.active().is_none());
    assert_eq!(deeds(&h.change()), [Action::Start(3)]);
}

#[test]
fn status_messages_of_live_children_are_shown() {
    let (mut h, _) = Harness::new(false);
    let actions = h.send(Event::Status {
        generation: 1,
        text: "warming up".into(),
    });
    assert_eq!(reports(&actions), ["status of pid 101: warming up"]);
    assert!(h
        .send(Event::Status {
            generation: 7,
            text: "?".into()
        })
        .is_empty());
}

fn looks(actions: &[Action]) -> Vec<Generation> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Look { generation, .. } => Some(*generation),
            _ => None,
        })
        .collect()
}

#[test]
fn notify_alone_never_looks() {
    let (mut h, _) = Harness::new(false);
    assert_eq!(h.supervisor.next_deadline(), None);
    h.later(Duration::from_secs(1));
    assert!(h.send(Event::Tick).is_empty());
    // Listening, were it reported, does not make it ready.
    assert!(h.listening(1, 101).is_empty());
    assert_eq!(h.active(), (1, State::Starting));
}

#[test]
fn a_child_that_listens_is_ready_auto_or_listen() {
    for ready in [Readiness::Auto, Readiness::Listen] {
        let (mut h, _) = Harness::with_ready(false, ready);
        assert_eq!(h.supervisor.next_deadline(), Some(h.now + LOOK_MIN));
        h.later(LOOK_MIN - Duration::from_millis(1));
        assert!(h.send(Event::Tick).is_empty(), "not due yet");
        h.later(Duration::from_millis(1));
        assert_eq!(
            deeds(&h.send(Event::Tick)),
            [Action::Look {
                generation: 1,
                pid: 101
            }]
        );
        let actions = h.listening(1, 101);
        assert_eq!(
            reports(&actions),
            ["ready: pid 101 after 10 ms (listening on fd 3)"]
        );
        assert_eq!(h.active(), (1, State::Ready));
        // Nothing to look at any more: no deadline, no looks.
        assert_eq!(h.supervisor.next_deadline(), None);
        h.later(Duration::from_secs(60));
        assert!(h.send(Event::Tick).is_empty());
    }
}

#[test]
fn looks_grow_apart_while_a_child_starts() {
    let (mut h, _) = Harness::with_ready(false, Readiness::Auto);
    let start = h.now;
    let mut times = Vec::new();
    while h.now < start + Duration::from_secs(30) {
        let actions = h.next_tick();
        assert_eq!(looks(&actions), [1]);
        times.push(h.now - start);
    }
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.iter().all(|g| (LOOK_MIN..=LOOK_MAX).contains(g)),
        "{gaps:?}"
    );
    assert!(gaps.windows(2).all(|w| w[0] <= w[1]), "{gaps:?}");
    // A 1.5 s start is seen within a tenth of its time; a 30 s build
    // costs twenty looks a second.
    let by = |limit: u64| {
        times
            .iter()
            .filter(|t| **t <= Duration::from_millis(limit))
            .count()
    };
    assert!(by(1500) < 50, "{} looks in 1.5 s", by(1500));
    let late = times
        .iter()
        .filter(|t| **t > Duration::from_secs(20))
        .count();
    assert!((199..=201).contains(&late), "{late} looks in the last 10 s");
}

#[test]
fn a_replacement_that_listens_takes_over() {
    let (mut h, _) = Harness::with_ready(false, Readiness::Auto);
    h.next_tick();
    h.listening(1, 101);
    let actions = h.change();
    assert_eq!(deeds(&actions), [Action::Start(2)]);
    h.later(Duration::from_millis(1500));
    // Only the replacement is looked at; the old one serves meanwhile.
    assert_eq!(looks(&h.send(Event::Tick)), [2]);
    assert_eq!(h.active(), (1, State::Ready));
    // gunicorn: a worker (a grandchild) is the one that listens.
    let actions = h.listening(2, 205);
    assert_eq!(deeds(&actions), [idle(1)]);
    assert_eq!(
        reports(&actions),
        [
            "ready: pid 102 after 1500 ms (pid 205 listening on fd 3)",
            "handover: pid 102 is ready; stopping pid 101"
        ]
    );
    assert_eq!(h.active(), (2, State::Ready));
    assert_eq!(h.supervisor.next_deadline(), Some(h.now + DRAIN_CHECK));
    h.drained(1, Drain::Stopped);
    assert_eq!(h.supervisor.next_deadline(), Some(h.now + GRACE));
}

#[test]
fn once_a_child_sent_ready_1_its_successors_must_too() {
    let (mut h, _) = Harness::with_ready(false, Readiness::Auto);
    h.next_tick();
    h.listening(1, 101);
    // It sends READY=1 once its warm-up is done, after it listens.
    assert!(deeds(&h.ready(1)).is_empty());
    h.change();
    h.next_tick();
    let actions = h.listening(2, 102);
    assert!(deeds(&actions).is_empty(), "{actions:?}");
    assert_eq!(
        reports(&actions),
        ["pid 102: listening on fd 3; waiting for its READY=1, as an earlier child sent one"]
    );
    assert_eq!(h.supervisor.replacement().unwrap().state, State::Starting);
    // Seen once is enough: no more looks, and no deadline.
    assert_eq!(h.supervisor.next_deadline(), None);
    h.later(Duration::from_secs(2));
    let actions = h.ready(2);
    assert_eq!(deeds(&actions), [idle(1)]);
    assert!(reports(&actions)[0].ends_with("(READY=1, listening on fd 3)"));
}

#[test]
fn ready_1_before_the_workers_listen_waits_for_them() {
    // gunicorn: the master reports READY=1, the workers serve later.
    let (mut h, _) = Harness::with_ready(false, Readiness::Auto);
    h.later(Duration::from_millis(300));
    assert!(deeds(&h.ready(1)).is_empty());
    assert_eq!(h.active(), (1, State::Starting));
    // Looked at once, without waiting for the next interval.
    assert_eq!(h.supervisor.next_deadline(), Some(h.now));
    let actions = h.next_tick();
    assert_eq!(looks(&actions), [1]);
    h.later(Duration::from_millis(700));
    let actions = h.listening(1, 111);
    assert_eq!(
        reports(&actions),
        ["ready: pid 101 after 1000 ms (READY=1, pid 111 listening on fd 3)"]
    );

    h.change();
    h.ready(2);
    for _ in 0..5 {
        h.later(Duration::from_millis(200));
        h.send(Event::Tick);
    }
    assert_eq!(h.active(), (1, State::Ready), "not cut over at READY=1");
    assert_eq!(deeds(&h.listening(2, 222)), [idle(1)]);
}

#[test]
fn ready_1_counts_alone_if_listening_never_shows() {
    let (mut h, _) = Harness::with_ready(false, Readiness::Auto);
    h.ready(1);
    let notified = h.now;
    loop {
        let actions = h.next_tick();
        if h.now >= notified + CONFIRM {
            assert!(looks(&actions).is_empty());
            assert_eq!(
                reports(&actions),
                ["ready: pid 101 after 30000 ms (READY=1; not seen listening within 30s)"]
            );
            break;
        }
        assert_eq!(looks(&actions), [1]);
    }
    assert_eq!(h.active(), (1, State::Ready));
    assert_eq!(h.supervisor.next_deadline(), None);
}

#[test]
fn listen_ignores_ready_1() {
    let (mut h, _) = Harness::with_ready(false, Readiness::Listen);
    assert!(h.ready(1).is_empty());
    assert_eq!(h.active(), (1, State::Starting));
    h.later(CONFIRM * 2);
    assert_eq!(looks(&h.send(Event::Tick)), [1]);
    assert_eq!(h.active(), (1, State::Starting));
    h.listening(1, 101);
    assert_eq!(h.active(), (1, State::Ready));
}

#[test]
fn an_unready_child_is_stopped_first_whatever_is_awaited() {
    let (mut h, _) = Harness::with_ready(false, Readiness::Auto);
    let actions = h.change();
    assert_eq!(deeds(&actions), [Action::Stop { pid: 101 }]);
    assert!(reports(&actions).contains(
        &"restart: stopping pid 101 first (it is not ready: no READY=1, not seen listening)".into()
    ));
    // A stopping child is not looked at, nor is a late sighting taken.
    assert_eq!(h.supervisor.next_deadline(), Some(h.now + GRACE));
    assert!(h.listening(1, 101).is_empty());
}

#[test]
fn the_stop_first_line_says_what_was_seen() {
    let (mut h, _) = Harness::with_ready(false, Readiness::Auto);
    h.ready(1);
    assert!(reports(&h.change()).contains(
        &"restart: stopping pid 101 first (it is not ready: READY=1, but not seen listening yet)"
            .into()
    ));
    let (mut h, _) = Harness::with_ready(false, Readiness::Listen);
    h.ready(1);
    assert!(reports(&h.change())
        .contains(&"restart: stopping pid 101 first (it is not ready: not seen listening)".into()));
}

#[test]
fn stop_first_wins_over_listening() {
    let (mut h, _) = Harness::with_ready(true, Readiness::Auto);
    h.next_tick();
    h.listening(1, 101);
    let actions = h.change();
    assert_eq!(deeds(&actions), [Action::Stop { pid: 101 }]);
    assert!(reports(&actions).contains(&"restart: stopping pid 101 first (--stop-first)".into()));
}

#[test]
fn a_superseded_replacement_is_no_longer_looked_at() {
    let (mut h, _) = Harness::with_ready(false, Readiness::Auto);
    h.next_tick();
    h.listening(1, 101);
    h.change();
    h.next_tick();
    let actions = h.change();
    assert_eq!(
        deeds(&actions),
        [Action::Stop { pid: 102 }, Action::Start(3)]
    );
    // Its sighting, late, changes nothing; the newest one's takes over.
    assert!(deeds(&h.listening(2, 102)).is_empty());
    assert_eq!(looks(&h.next_tick()), [3]);
    assert_eq!(deeds(&h.listening(3, 103)), [idle(1)]);
    assert_eq!(h.active(), (3, State::Ready));
}

#[test]
fn a_replacement_that_exits_before_it_listens_leaves_the_old_one_serving() {
    let (mut h, _) = Harness::with_ready(false, Readiness::Auto);
    h.next_tick();
    h.listening(1, 101);
    h.change();
    h.next_tick();
    let actions = h.exited(2, 101);
    assert!(deeds(&actions).is_empty());
    assert_eq!(h.active(), (1, State::Ready));
    assert_eq!(
        h.supervisor.next_deadline(),
        None,
        "nothing left to look at"
    );
}

#[cfg(unix)]
#[test]
fn statuses_read_as_sentences() {
    assert_eq!(Status::Code(0).to_string(), "exited with status 0");
    assert_eq!(
        Status::Signal(Signal(libc::SIGSEGV)).to_string(),
        "was killed by SIGSEGV"
    );
    use crate::output::humanize;
    assert_eq!(humanize(Duration::from_millis(500)), "500ms");
    assert_eq!(humanize(Duration::from_millis(1500)), "1.5s");
}

#[test]
fn with_clear_every_start_is_preceded_by_clearing() {
    let (mut h, actions) = Harness::with(Policy {
        clear: true,
        ..policy(false, Readiness::Notify)
    });
    assert_eq!(deeds(&actions), [Action::Clear, Action::Start(1)]);
    h.send(Event::Ready { generation: 1 });
    assert_eq!(deeds(&h.change()), [Action::Clear, Action::Start(2)]);
    let (mut h, actions) = Harness::new(false);
    assert_eq!(deeds(&actions), [Action::Start(1)]);
    assert_eq!(deeds(&h.change()), [Action::Stop { pid: 101 }]);
}

#[test]
fn a_handed_over_child_is_stopped_once_it_holds_no_connection() {
    let mut h = Harness::handed_over();
    let since = h.now;
    assert!(matches!(
        h.supervisor.retiring()[0].state,
        State::Draining { .. }
    ));
    // Busy: nothing is said or done until the next check.
    assert!(h.drained(1, Drain::Busy(2)).is_empty());
    assert_eq!(h.supervisor.next_deadline(), Some(since + DRAIN_CHECK));
    h.later(DRAIN_CHECK - Duration::from_millis(1));
    assert!(h.send(Event::Tick).is_empty());
    assert_eq!(h.next_tick(), [idle(1)]);
    assert!(h.drained(1, Drain::Busy(1)).is_empty());
    assert_eq!(h.next_tick(), [idle(1)]);
    // Idle: the host sent the stop signal; SIGKILL follows after the
    // grace period, counted from then.
    assert!(h.drained(1, Drain::Stopped).is_empty());
    assert_eq!(
        h.supervisor.retiring()[0].state,
        State::Stopping {
            since: h.now,
            killed: false
        }
    );
    assert_eq!(h.supervisor.next_deadline(), Some(h.now + GRACE));
    let actions = h.exited(1, 143);
    assert_eq!(
        reports(&actions),
        ["stopped pid 101: it exited with status 143"]
    );
    assert_eq!(h.supervisor.next_deadline(), None);
}

#[test]
fn a_child_that_holds_connections_past_the_grace_period_is_stopped_anyway() {
    let mut h = Harness::handed_over();
    let since = h.now;
    let mut checks = 0;
    let actions = loop {
        h.drained(1, Drain::Busy(3));
        let actions = h.next_tick();
        if actions != [idle(1)] {
            break actions;
        }
        checks += 1;
    };
    assert_eq!(h.now, since + GRACE);
    assert!(checks >= (GRACE.as_millis() / DRAIN_CHECK.as_millis()) as usize - 1);
    assert_eq!(deeds(&actions), [Action::Stop { pid: 101 }]);
    assert_eq!(
        reports(&actions),
        ["pid 101 still holds 3 connections after 5s: stopping it anyway"]
    );
    // No more checks; SIGKILL after another grace period.
    assert_eq!(h.supervisor.next_deadline(), Some(h.now + GRACE));
    assert!(h.drained(1, Drain::Stopped).is_empty(), "a late answer");
    let actions = h.next_tick();
    assert_eq!(deeds(&actions), [Action::Kill { pid: 101 }]);
}

#[test]
fn the_stopped_anyway_line_counts_connections() {
    let line = |held| {
        let mut h = Harness::handed_over();
        h.drained(1, Drain::Busy(held));
        h.later(GRACE);
        reports(&h.send(Event::Tick))
    };
    assert_eq!(
        line(1),
        ["pid 101 still holds 1 connection after 5s: stopping it anyway"]
    );
    assert_eq!(
        line(0),
        ["pid 101 could not be checked for connections within 5s: stopping it anyway"]
    );
}

#[test]
fn a_host_that_cannot_tell_stops_the_old_child_at_once() {
    let mut h = Harness::handed_over();
    let actions = h.drained(1, Drain::Unknown);
    assert_eq!(actions, [Action::Stop { pid: 101 }]);
    assert_eq!(h.supervisor.next_deadline(), Some(h.now + GRACE));
}

#[test]
fn a_draining_child_that_exits_is_done_with() {
    let mut h = Harness::handed_over();
    h.drained(1, Drain::Busy(1));
    let actions = h.exited(1, 0);
    assert!(deeds(&actions).is_empty());
    assert_eq!(
        reports(&actions),
        ["stopped pid 101: it exited with status 0"]
    );
    assert!(h.supervisor.retiring().is_empty());
    assert_eq!(h.supervisor.next_deadline(), None);
    assert!(h.drained(1, Drain::Busy(1)).is_empty());
}

#[test]
fn shutdown_while_draining_stops_at_once() {
    let mut h = Harness::handed_over();
    h.drained(1, Drain::Busy(1));
    let actions = h.send(Event::Shutdown { signal: TERM });
    assert_eq!(
        deeds(&actions),
        [Action::Stop { pid: 102 }, Action::Stop { pid: 101 }]
    );
    // An answer to a check asked before changes nothing.
    assert!(h.drained(1, Drain::Stopped).is_empty());
    assert!(h.send(Event::Tick).is_empty());
    assert!(deeds(&h.exited(1, 0)).is_empty());
    assert_eq!(deeds(&h.exited(2, 0)), [Action::Exit(0)]);
}

#[test]
fn a_restart_while_the_old_child_drains_starts_beside_the_new_one() {
    let mut h = Harness::handed_over();
    let actions = h.change();
    assert_eq!(deeds(&actions), [Action::Start(3)]);
    assert_eq!(h.active(), (2, State::Ready));
    assert_eq!(h.next_tick(), [idle(1)]);
    // The next handover drains 2 beside 1.
    assert_eq!(deeds(&h.ready(3)), [idle(2)]);
    assert_eq!(h.supervisor.retiring().len(), 2);
}

#[test]
fn time_suspended_with_ctrl_z_does_not_count_against_the_grace_period() {
    let mut h = Harness::handed_over();
    h.drained(1, Drain::Busy(1));
    // Suspended for 8 s, most of it past the grace period.
    h.later(Duration::from_secs(8));
    h.send(Event::Resumed {
        after: Duration::from_secs(8),
    });
    // Still draining: only the time it could run counts.
    let actions = h.next_tick();
    assert_eq!(actions, [idle(1)]);
    h.later(GRACE);
    let actions = h.send(Event::Tick);
    assert_eq!(deeds(&actions), [Action::Stop { pid: 101 }]);
}

#[test]
fn after_ready_a_child_not_seen_listening_is_looked_at_often() {
    let (mut h, _) = Harness::with_ready(false, Readiness::Auto);
    let begun = h.now;
    while h.now < begun + Duration::from_secs(5) {
        h.next_tick();
    }
    h.ready(1);
    // At once, then every LOOK_MIN for a while.
    let start = h.now;
    let mut times = Vec::new();
    while h.now < start + Duration::from_millis(200) {
        if !looks(&h.next_tick()).is_empty() {
            times.push(h.now - start);
        }
    }
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().all(|g| *g == LOOK_MIN), "{gaps:?}");
}
