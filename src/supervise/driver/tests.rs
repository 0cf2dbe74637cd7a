//! The loop, run over a fake host: what it carries out, in what order, and
//! when it leaves.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use super::{run, Aids};
use crate::config::{Color, Output, Readiness};
use crate::error::EXIT_NOT_FOUND;
use crate::output::Printer;
use crate::signal::Signal;
use crate::supervise::host::{Host, Input, StartError};
use crate::supervise::state::{Drain, Event, Generation, Outage, Policy, Status, Waiter};
use crate::watch::Change;

/// What the fake host was asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Call {
    Start(Generation),
    Stop(u32),
    StopWhenIdle(u32),
    Kill(u32),
    Signal(u32, Signal),
    SignalGroup(u32, Signal),
    Look(u32),
    Build,
    /// The error page answers (`true`) or stops (`false`).
    Page(bool),
    StopIfIdle(u32),
    Count,
    Finish(i32),
}

/// A host whose children are numbers: generation N is pid 100 + N. What
/// its "threads" report is scripted, one batch of events per turn of the
/// loop; it answers every look with `listening`, and each request to stop
/// once idle with the next of `drains` (then `Stopped`).
#[derive(Default)]
struct FakeHost {
    calls: Vec<Call>,
    /// Turns of the loop, in order: the events each returns.
    script: Vec<Vec<Event>>,
    /// Whether a start fails, by generation.
    fail: Vec<Generation>,
    listening: Option<Waiter>,
    drains: Vec<Drain>,
    blocker: Option<PathBuf>,
    /// Set: every stop and look is answered, as a real host's threads
    /// would, by one more scripted turn.
    answer: Option<mpsc::Sender<Input<()>>>,
    /// What each count of connections finds, in turn (then none).
    counts: Vec<usize>,
}

impl FakeHost {
    fn respond(&self) {
        if let Some(tx) = &self.answer {
            tx.send(Input::Host(())).unwrap();
        }
    }
}

impl Host for FakeHost {
    type News = ();

    fn start(&mut self, generation: Generation) -> Result<u32, StartError> {
        self.calls.push(Call::Start(generation));
        if self.fail.contains(&generation) {
            return Err(StartError::Exec(std::io::ErrorKind::NotFound.into()));
        }
        Ok(100 + generation as u32)
    }

    fn build(&mut self) -> Result<u32, StartError> {
        self.calls.push(Call::Build);
        Ok(99)
    }

    fn build_output(&self) -> Vec<u8> {
        Vec::new()
    }

    fn answer(&mut self, outage: Option<&Outage>) {
        self.calls.push(Call::Page(outage.is_some()));
    }

    fn stop(&mut self, pid: u32) {
        self.calls.push(Call::Stop(pid));
        self.respond();
    }

    fn stop_when_idle(&mut self, pid: u32) -> Drain {
        self.calls.push(Call::StopWhenIdle(pid));
        if self.drains.is_empty() {
            self.respond();
            return Drain::Stopped;
        }
        self.drains.remove(0)
    }

    fn stop_if_idle(&mut self, pid: u32) -> Drain {
        self.calls.push(Call::StopIfIdle(pid));
        self.respond();
        Drain::Stopped
    }

    fn connections(&mut self) -> Option<usize> {
        self.calls.push(Call::Count);
        Some(match self.counts.is_empty() {
            true => 0,
            false => self.counts.remove(0),
        })
    }

    fn kill(&mut self, pid: u32) {
        self.calls.push(Call::Kill(pid));
    }

    fn signal(&mut self, pid: u32, signal: Signal) {
        self.calls.push(Call::Signal(pid, signal));
    }

    fn signal_group(&mut self, group: u32, signal: Signal) {
        self.calls.push(Call::SignalGroup(group, signal));
    }

    fn look(&mut self, pid: u32) -> Option<Waiter> {
        self.calls.push(Call::Look(pid));
        self.respond();
        self.listening
    }

    fn blocker(&self, _pid: u32) -> Option<PathBuf> {
        self.blocker.clone()
    }

    fn events(&mut self, news: Option<()>) -> Vec<Event> {
        if news.is_none() {
            return vec![Event::Tick];
        }
        if self.script.is_empty() {
            panic!("the script ran out; calls so far: {:?}", self.calls);
        }
        self.script.remove(0)
    }

    fn finish(&mut self, code: i32) {
        self.calls.push(Call::Finish(code));
    }
}

fn policy(ready: Readiness) -> Policy {
    Policy {
        stop_first: false,
        stop_signal: Signal(15),
        grace: Duration::from_secs(60),
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

/// One input queued for the loop before it runs.
#[derive(Clone, Copy)]
enum Turn {
    /// A change to a watched file.
    Change,
    /// The next scripted batch of the host's events.
    Host,
    /// A connection waits on the first socket.
    Connection,
}

/// Runs the loop over `host` with `turns` queued; with `answer`, the host
/// answers stops and looks with more turns. Returns the status (or the
/// failure's exit code) and the calls.
fn drive(
    mut host: FakeHost,
    turns: &[Turn],
    answer: bool,
    policy: Policy,
) -> (Result<i32, u8>, Vec<Call>) {
    let (tx, rx) = mpsc::channel();
    for turn in turns {
        tx.send(match turn {
            Turn::Change => Input::Change(Change {
                path: "src/main.rs".into(),
                more: 0,
                paths: vec!["src/main.rs".into()],
            }),
            Turn::Host => Input::Host(()),
            Turn::Connection => Input::Connection(0),
        })
        .unwrap();
    }
    if answer {
        host.answer = Some(tx);
    }
    let printer = Printer::new(Output {
        quiet: true,
        color: Color::Never,
    });
    let aids = Aids {
        live: None,
        doorbell: None,
    };
    let names = crate::supervise::state::Names::default();
    let status = run(
        &mut host,
        &rx,
        policy,
        aids,
        "server".as_ref(),
        "",
        names,
        &printer,
    );
    (status.map_err(|failure| failure.code), host.calls)
}

/// A turn for each scripted batch.
fn scripted(host: &FakeHost) -> Vec<Turn> {
    vec![Turn::Host; host.script.len()]
}

const INT: Signal = Signal(2);

fn exited(generation: Generation, code: i32) -> Event {
    Event::Exited {
        generation,
        status: Status::Code(code),
    }
}

#[test]
fn starts_then_stops_and_finishes_on_shutdown() {
    let host = FakeHost {
        script: vec![vec![Event::Shutdown { signal: INT }], vec![exited(1, 0)]],
        ..FakeHost::default()
    };
    let turns = scripted(&host);
    let (status, calls) = drive(host, &turns, false, policy(Readiness::Notify));
    assert_eq!(status, Ok(0));
    assert_eq!(calls, [Call::Start(1), Call::Stop(101), Call::Finish(0)]);
}

#[test]
fn a_change_starts_a_replacement_that_takes_over_once_ready() {
    let host = FakeHost {
        script: vec![
            vec![Event::Ready { generation: 1 }],
            vec![Event::Ready { generation: 2 }],
            vec![exited(1, 0)],
            vec![
                Event::Shutdown { signal: INT },
                Event::Shutdown { signal: INT },
            ],
        ],
        ..FakeHost::default()
    };
    // The first child is ready before the change.
    let turns = [Turn::Host, Turn::Change, Turn::Host, Turn::Host, Turn::Host];
    let (status, calls) = drive(host, &turns, false, policy(Readiness::Notify));
    assert_eq!(status, Ok(128 + INT.0));
    assert_eq!(
        calls,
        [
            Call::Start(1),
            Call::Start(2),
            // Handed over: it was idle, and got the stop signal.
            Call::StopWhenIdle(101),
            // Shutdown stops the one serving; the second kills at once.
            Call::Stop(102),
            Call::Kill(102),
            Call::Finish(130),
        ]
    );
}

#[test]
fn a_first_start_that_fails_fails_the_run() {
    let host = FakeHost {
        fail: vec![1],
        ..FakeHost::default()
    };
    let (status, calls) = drive(host, &[], false, policy(Readiness::Notify));
    assert_eq!(status, Err(EXIT_NOT_FOUND));
    assert_eq!(calls, [Call::Start(1)]);
}

#[test]
fn a_later_start_that_fails_is_waited_out() {
    let host = FakeHost {
        fail: vec![2],
        script: vec![vec![exited(1, 1)], vec![Event::Shutdown { signal: INT }]],
        ..FakeHost::default()
    };
    // Generation 1 exits, then a change fails to start generation 2; the
    // loop goes on until the shutdown.
    let turns = [Turn::Host, Turn::Change, Turn::Host];
    let (status, calls) = drive(host, &turns, false, policy(Readiness::Notify));
    assert_eq!(status, Ok(0));
    assert_eq!(calls, [Call::Start(1), Call::Start(2), Call::Finish(0)]);
}

#[test]
fn forwarded_signals_go_to_the_host() {
    let host = FakeHost {
        script: vec![
            vec![Event::Forward { signal: Signal(10) }],
            vec![Event::Shutdown { signal: INT }],
            vec![exited(1, 0)],
        ],
        ..FakeHost::default()
    };
    let turns = scripted(&host);
    let (status, calls) = drive(host, &turns, false, policy(Readiness::Notify));
    assert_eq!(status, Ok(0));
    assert_eq!(
        calls,
        [
            Call::Start(1),
            Call::Signal(101, Signal(10)),
            Call::Stop(101),
            Call::Finish(0),
        ]
    );
}

#[test]
fn a_look_that_finds_a_listener_makes_the_child_ready() {
    // Nothing is queued: the first look comes when its deadline passes,
    // and the host answers the look and the stop with the next turns.
    let host = FakeHost {
        listening: Some(Waiter { pid: 101, fd: 3 }),
        script: vec![vec![Event::Shutdown { signal: INT }], vec![exited(1, 0)]],
        ..FakeHost::default()
    };
    let (status, calls) = drive(host, &[], true, policy(Readiness::Listen));
    assert_eq!(status, Ok(0));
    assert_eq!(
        calls,
        [
            Call::Start(1),
            Call::Look(101),
            Call::Stop(101),
            Call::Finish(0),
        ]
    );
}

#[test]
fn a_replacement_that_exits_beside_a_blocker_restarts_stop_first() {
    let host = FakeHost {
        blocker: Some("C:\\app\\target\\debug\\app.exe".into()),
        script: vec![
            vec![Event::Fetched { generation: 1 }],
            vec![exited(2, 1)],
            vec![exited(1, 0)],
            vec![
                Event::Shutdown { signal: INT },
                Event::Shutdown { signal: INT },
            ],
        ],
        ..FakeHost::default()
    };
    let turns = [Turn::Host, Turn::Change, Turn::Host, Turn::Host, Turn::Host];
    let (status, calls) = drive(host, &turns, false, policy(Readiness::Fetched));
    assert_eq!(status, Ok(128 + INT.0));
    assert_eq!(
        calls,
        [
            Call::Start(1),
            Call::Start(2),
            // Generation 2 exited while 1 holds the program: 1 is stopped
            // first, and a fresh start follows its exit.
            Call::Stop(101),
            Call::Start(3),
            Call::Stop(103),
            Call::Kill(103),
            Call::Finish(130),
        ]
    );
}

#[test]
fn without_a_blocker_a_failed_replacement_leaves_the_old_one_serving() {
    let host = FakeHost {
        script: vec![
            vec![Event::Fetched { generation: 1 }],
            vec![exited(2, 1)],
            vec![Event::Shutdown { signal: INT }],
            vec![exited(1, 0)],
        ],
        ..FakeHost::default()
    };
    let turns = [Turn::Host, Turn::Change, Turn::Host, Turn::Host, Turn::Host];
    let (status, calls) = drive(host, &turns, false, policy(Readiness::Fetched));
    assert_eq!(status, Ok(0));
    assert_eq!(
        calls,
        [
            Call::Start(1),
            Call::Start(2),
            Call::Stop(101),
            Call::Finish(0),
        ]
    );
}

#[test]
fn a_busy_old_child_is_asked_again_until_it_is_idle() {
    // Generation 1 hands over while it holds connections: the loop asks
    // again at every check (the deadline passes in real time) until the
    // host stops it; its exit and a shutdown follow.
    let host = FakeHost {
        drains: vec![Drain::Busy(2), Drain::Busy(1)],
        script: vec![
            vec![Event::Ready { generation: 1 }],
            vec![Event::Ready { generation: 2 }],
            vec![exited(1, 0), Event::Shutdown { signal: INT }],
            vec![exited(2, 0)],
        ],
        ..FakeHost::default()
    };
    let turns = [Turn::Host, Turn::Change, Turn::Host];
    let (status, calls) = drive(host, &turns, true, policy(Readiness::Notify));
    assert_eq!(status, Ok(0));
    assert_eq!(
        calls,
        [
            Call::Start(1),
            Call::Start(2),
            Call::StopWhenIdle(101),
            Call::StopWhenIdle(101),
            Call::StopWhenIdle(101),
            Call::Stop(102),
            Call::Finish(0),
        ]
    );
}

#[test]
fn a_host_that_cannot_tell_stops_the_old_child_at_once() {
    let host = FakeHost {
        drains: vec![Drain::Unknown],
        script: vec![
            vec![Event::Ready { generation: 1 }],
            vec![Event::Ready { generation: 2 }],
            vec![exited(1, 0)],
            vec![Event::Shutdown { signal: INT }],
            vec![exited(2, 0)],
        ],
        ..FakeHost::default()
    };
    let turns = scripted(&host);
    let turns = [&turns[..1], &[Turn::Change], &turns[1..]].concat();
    let (status, calls) = drive(host, &turns, false, policy(Readiness::Notify));
    assert_eq!(status, Ok(0));
    assert_eq!(
        calls,
        [
            Call::Start(1),
            Call::Start(2),
            Call::StopWhenIdle(101),
            Call::Stop(101),
            Call::Stop(102),
            Call::Finish(0),
        ]
    );
}

#[test]
fn on_demand_starts_at_the_connection_only() {
    let host = FakeHost {
        script: vec![vec![Event::Shutdown { signal: INT }], vec![exited(1, 0)]],
        ..FakeHost::default()
    };
    let turns = [Turn::Connection, Turn::Host, Turn::Host];
    let policy = Policy {
        on_demand: true,
        ..policy(Readiness::Notify)
    };
    let (status, calls) = drive(host, &turns, false, policy);
    assert_eq!(status, Ok(0));
    assert_eq!(calls, [Call::Start(1), Call::Stop(101), Call::Finish(0)]);
}

#[test]
fn idle_stop_counts_then_stops_and_the_next_connection_starts_again() {
    // Generation 1 is ready with one connection open; the counts (in real
    // time, a tenth of the idle time apart) find it gone, then the child is
    // stopped; once it has exited, a connection starts generation 2.
    let host = FakeHost {
        counts: vec![1],
        script: vec![
            vec![Event::Ready { generation: 1 }],
            vec![exited(1, 0)],
            vec![Event::Shutdown { signal: INT }],
            vec![exited(2, 0)],
        ],
        ..FakeHost::default()
    };
    let policy = Policy {
        idle_stop: Some(Duration::from_millis(300)),
        ..policy(Readiness::Notify)
    };
    let (tx, rx) = mpsc::channel();
    tx.send(Input::Host(())).unwrap();
    let mut host = FakeHost {
        answer: Some(tx.clone()),
        ..host
    };
    // The connection comes once the loop waits for one.
    let feeder = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(800));
        tx.send(Input::Connection(0)).unwrap();
        tx.send(Input::Host(())).unwrap();
    });
    let printer = Printer::new(Output {
        quiet: true,
        color: Color::Never,
    });
    let aids = Aids {
        live: None,
        doorbell: None,
    };
    let names = crate::supervise::state::Names::default();
    let status = run(
        &mut host,
        &rx,
        policy,
        aids,
        "server".as_ref(),
        "",
        names,
        &printer,
    );
    feeder.join().unwrap();
    assert_eq!(status.map_err(|f| f.code), Ok(0));
    let calls = host.calls;
    let counts = calls.iter().filter(|c| **c == Call::Count).count();
    assert!(counts >= 2, "{calls:?}");
    let rest: Vec<&Call> = calls.iter().filter(|c| **c != Call::Count).collect();
    assert_eq!(
        rest,
        [
            &Call::Start(1),
            &Call::StopIfIdle(101),
            &Call::Start(2),
            &Call::Stop(102),
            &Call::Finish(0),
        ]
    );
}
