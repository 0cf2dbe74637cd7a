//! The restart decisions: [`Supervisor::handle`] takes an [`Event`] and the
//! current time and returns the [`Action`]s to carry out.

use std::path::PathBuf;
use std::time::Instant;

use super::child::{grace_end, Child, State};
use super::event::{Action, Event};
use super::report::Report;
use super::types::{
    Drain, Generation, Plan, Policy, Source, Status, Waiter, CONFIRM, DRAIN_CHECK, LOOK_MAX,
    LOOK_MIN,
};
use crate::config::Readiness;
use crate::signal::Signal;

/// The supervisor's whole state.
#[derive(Debug)]
pub struct Supervisor {
    policy: Policy,
    last_generation: Generation,
    active: Option<Child>,
    replacement: Option<Child>,
    retiring: Vec<Child>,
    /// A stop-first restart: start once this generation has exited.
    start_after: Option<Generation>,
    shutting_down: bool,
    /// Whether a child of this run has sent `READY=1` ([`Readiness::Auto`]).
    notifies: bool,
}

impl Supervisor {
    pub fn new(policy: Policy) -> Supervisor {
        Supervisor {
            policy,
            last_generation: 0,
            active: None,
            replacement: None,
            retiring: Vec::new(),
            start_after: None,
            shutting_down: false,
            notifies: false,
        }
    }

    /// Starts the first child.
    pub fn begin(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        self.active = Some(self.start(now, &mut out));
        out
    }

    #[cfg(test)]
    pub fn active(&self) -> Option<&Child> {
        self.active.as_ref()
    }

    #[cfg(test)]
    pub fn replacement(&self) -> Option<&Child> {
        self.replacement.as_ref()
    }

    #[cfg(test)]
    pub fn retiring(&self) -> &[Child] {
        &self.retiring
    }

    /// When the next [`Event::Tick`] is due: the earliest end of a grace
    /// period, check of a draining child, look, or wait for listening after
    /// `READY=1`.
    pub fn next_deadline(&self) -> Option<Instant> {
        let graces = self.retiring.iter().filter_map(|child| match child.state {
            State::Stopping {
                since,
                killed: false,
            } => Some(grace_end(since, self.policy.grace)),
            State::Draining { since, next, .. } => {
                Some(next.min(grace_end(since, self.policy.grace)))
            }
            _ => None,
        });
        let starting = self.starting().flat_map(|child| {
            let unconfirmed = child.notified.filter(|_| child.waiter.is_none());
            [child.next_look, unconfirmed.map(|at| at + CONFIRM)]
        });
        graces.chain(starting.flatten()).min()
    }

    /// The children that are starting: the active one, a replacement.
    fn starting(&self) -> impl Iterator<Item = &Child> {
        [self.active.as_ref(), self.replacement.as_ref()]
            .into_iter()
            .flatten()
            .filter(|child| child.state == State::Starting)
    }

    /// Handles `events` as they came, then a [`Event::Tick`] if one is
    /// due: a steady stream of events must not hold off what is due.
    pub fn handle_all(
        &mut self,
        events: impl IntoIterator<Item = Event>,
        now: Instant,
    ) -> Vec<Action> {
        let mut out: Vec<Action> = events
            .into_iter()
            .flat_map(|event| self.handle(event, now))
            .collect();
        if self.next_deadline().is_some_and(|deadline| deadline <= now) {
            out.extend(self.handle(Event::Tick, now));
        }
        out
    }

    pub fn handle(&mut self, event: Event, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Change { path, more } => {
                if !self.shutting_down {
                    out.push(Action::Say(Report::Change { path, more }));
                    match self.to_signal() {
                        Some((pid, signal)) => {
                            out.push(Action::Say(Report::Signalled { pid, signal }));
                            out.push(Action::Signal { pid, signal });
                        }
                        None => self.restart(now, &mut out),
                    }
                }
            }
            Event::Hangup => {
                if !self.shutting_down {
                    out.push(Action::Say(Report::Hangup));
                    self.restart(now, &mut out);
                }
            }
            Event::Started { generation, pid } => {
                let looks = matches!(self.policy.ready, Readiness::Listen | Readiness::Auto);
                if let Some(child) = self.child_mut(generation) {
                    child.pid = Some(pid);
                    if looks {
                        child.next_look = Some(now + LOOK_MIN);
                    }
                    out.push(Action::Say(Report::Started { pid }));
                }
            }
            Event::StartFailed { generation, error } => {
                self.start_failed(generation, error, &mut out)
            }
            Event::Ready { generation } => self.notified(generation, now, &mut out),
            Event::Fetched { generation } => {
                if self.policy.ready == Readiness::Fetched {
                    self.ready(generation, Source::Fetched, now, &mut out);
                }
            }
            Event::Blocked {
                generation,
                status,
                program,
            } => self.blocked(generation, status, program, now, &mut out),
            Event::SeenListening { generation, waiter } => {
                self.seen_listening(generation, waiter, now, &mut out)
            }
            Event::Drain { generation, drain } => self.drained(generation, drain, now, &mut out),
            Event::Status { generation, text } => {
                let known = [self.active.as_ref(), self.replacement.as_ref()]
                    .into_iter()
                    .flatten()
                    .find(|child| child.generation == generation && child.is_running());
                if let Some(child) = known {
                    out.push(Action::Say(Report::Status {
                        pid: child.pid(),
                        text,
                    }));
                }
            }
            Event::Exited { generation, status } => self.exited(generation, status, now, &mut out),
            Event::Tick => self.tick(now, &mut out),
            Event::Resumed { after } => self.resumed(after),
            Event::Shutdown { signal } => self.shutdown(signal, now, &mut out),
            Event::Forward { signal } => {
                let serving = self.active.as_ref().filter(|child| child.is_running());
                if let Some(pid) = serving.and_then(|child| child.pid) {
                    out.push(Action::Say(Report::Forwarded { pid, signal }));
                    out.push(Action::Signal { pid, signal });
                }
            }
        }
        out
    }

    /// With `--signal`, the child a change is signalled to instead of a
    /// restart: the active one, when it runs and no restart is under way.
    fn to_signal(&self) -> Option<(u32, Signal)> {
        let signal = self.policy.signal_on_change?;
        if self.replacement.is_some() || self.start_after.is_some() {
            return None;
        }
        let active = self.active.as_ref().filter(|child| child.is_running())?;
        Some((active.pid?, signal))
    }

    fn restart(&mut self, now: Instant, out: &mut Vec<Action>) {
        if let Some(old) = self.start_after {
            let old = self.retiring.iter().find(|c| c.generation == old);
            let old = old.map_or(0, Child::pid);
            out.push(Action::Say(Report::Restart(Plan::AlreadyPending { old })));
            return;
        }
        if let Some(pending) = self.replacement.take() {
            out.push(Action::Say(Report::Restart(Plan::Supersede {
                pending: pending.pid(),
            })));
            self.retire(pending, now, out);
            self.replacement = Some(self.start(now, out));
            return;
        }
        match self.active.take() {
            Some(active) if active.is_running() => {
                if active.state == State::Ready && !self.policy.stop_first {
                    out.push(Action::Say(Report::Restart(Plan::Replace {
                        old: active.pid(),
                    })));
                    self.active = Some(active);
                    self.replacement = Some(self.start(now, out));
                } else {
                    out.push(Action::Say(Report::Restart(Plan::StopFirst {
                        old: active.pid(),
                        forced: self.policy.stop_first,
                        ready: self.policy.ready,
                        notified: active.notified.is_some(),
                    })));
                    self.start_after = Some(active.generation);
                    self.retire(active, now, out);
                }
            }
            _ => {
                out.push(Action::Say(Report::Restart(Plan::Start)));
                self.active = Some(self.start(now, out));
            }
        }
    }

    fn start(&mut self, now: Instant, out: &mut Vec<Action>) -> Child {
        self.last_generation += 1;
        if self.policy.clear {
            out.push(Action::Clear);
        }
        out.push(Action::Start(self.last_generation));
        Child {
            generation: self.last_generation,
            pid: None,
            state: State::Starting,
            started: now,
            notified: None,
            waiter: None,
            next_look: None,
        }
    }

    /// Sends the stop signal and keeps the child among the retiring until it
    /// exits. The caller's report says why.
    fn retire(&mut self, child: Child, now: Instant, out: &mut Vec<Action>) {
        let stopping = State::Stopping {
            since: now,
            killed: false,
        };
        self.set_aside(child, stopping, |pid, _| Action::Stop { pid }, out);
    }

    /// Retires `child` after a handover: the host sends the stop signal once
    /// no process of its tree holds a connection (asked at once, then every
    /// [`DRAIN_CHECK`]); [`Supervisor::tick`] stops it anyway after the grace
    /// period.
    fn drain(&mut self, child: Child, now: Instant, out: &mut Vec<Action>) {
        let draining = State::Draining {
            since: now,
            next: now + DRAIN_CHECK,
            held: 0,
        };
        let ask = |pid, generation| Action::StopWhenIdle { generation, pid };
        self.set_aside(child, draining, ask, out);
    }

    /// Puts a running `child` among the retiring in `state`, with the
    /// action `ask` makes of its pid and generation. A child that has
    /// exited, or whose start did not go through, has nothing to stop.
    fn set_aside(
        &mut self,
        mut child: Child,
        state: State,
        ask: impl FnOnce(u32, Generation) -> Action,
        out: &mut Vec<Action>,
    ) {
        if !child.is_running() {
            return;
        }
        let Some(pid) = child.pid else {
            return;
        };
        child.state = state;
        out.push(ask(pid, child.generation));
        self.retiring.push(child);
    }

    /// What the host found when asked to stop draining `generation` once
    /// idle. Only a child still draining is concerned: one stopped meanwhile
    /// (a shutdown, the grace period) or gone changes nothing.
    fn drained(
        &mut self,
        generation: Generation,
        drain: Drain,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Some(child) = self
            .retiring
            .iter_mut()
            .find(|child| child.generation == generation)
        else {
            return;
        };
        let State::Draining { since, next, .. } = child.state else {
            return;
        };
        let stopping = State::Stopping {
            since: now,
            killed: false,
        };
        match drain {
            Drain::Stopped => child.state = stopping,
            Drain::Busy(held) => child.state = State::Draining { since, next, held },
            Drain::Unknown => {
                child.state = stopping;
                out.push(Action::Stop { pid: child.pid() });
            }
        }
    }

    fn start_failed(&mut self, generation: Generation, error: String, out: &mut Vec<Action>) {
        if self
            .replacement
            .as_ref()
            .is_some_and(|c| c.generation == generation)
        {
            self.replacement = None;
            let serving = self
                .active
                .as_ref()
                .filter(|c| c.is_running())
                .map(Child::pid);
            out.push(Action::Say(Report::StartFailed { error, serving }));
        } else if self
            .active
            .as_ref()
            .is_some_and(|c| c.generation == generation)
        {
            self.active = None;
            out.push(Action::Say(Report::StartFailed {
                error,
                serving: None,
            }));
            self.finish_shutdown(out);
        }
    }

    /// `READY=1` from `generation`.
    fn notified(&mut self, generation: Generation, now: Instant, out: &mut Vec<Action>) {
        let known = [self.active.as_ref(), self.replacement.as_ref()]
            .into_iter()
            .flatten()
            .any(|c| c.generation == generation && c.is_running());
        if known {
            self.notifies = true;
        }
        let ready = self.policy.ready;
        let Some(child) = self.starting_mut(generation) else {
            return;
        };
        match (ready, child.waiter) {
            (Readiness::Notify, _) => self.ready(generation, Source::Notify, now, out),
            (Readiness::Listen | Readiness::Fetched, _) => {}
            (Readiness::Auto, Some(waiter)) => {
                self.ready(generation, Source::Both(waiter), now, out)
            }
            (Readiness::Auto, None) => {
                if child.notified.is_none() {
                    child.notified = Some(now);
                    // Look at once rather than at the next interval.
                    child.next_look = Some(now);
                }
            }
        }
    }

    /// A look found `generation` listening.
    fn seen_listening(
        &mut self,
        generation: Generation,
        waiter: Waiter,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let (ready, notifies) = (self.policy.ready, self.notifies);
        let Some(child) = self.starting_mut(generation) else {
            return;
        };
        if child.waiter.is_some() {
            return;
        }
        child.waiter = Some(waiter);
        child.next_look = None;
        let source = match ready {
            Readiness::Notify | Readiness::Fetched => return,
            Readiness::Listen => Source::Listening(waiter),
            Readiness::Auto if child.notified.is_some() => Source::Both(waiter),
            Readiness::Auto if !notifies => Source::Listening(waiter),
            Readiness::Auto => {
                out.push(Action::Say(Report::AwaitingNotify {
                    pid: child.pid(),
                    waiter,
                }));
                return;
            }
        };
        self.ready(generation, source, now, out);
    }

    fn starting_mut(&mut self, generation: Generation) -> Option<&mut Child> {
        self.child_mut(generation)
            .filter(|c| c.state == State::Starting)
    }

    /// `generation`, starting, is ready: a replacement takes over.
    fn ready(
        &mut self,
        generation: Generation,
        source: Source,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let is = |child: &Option<Child>| {
            child
                .as_ref()
                .is_some_and(|c| c.generation == generation && c.state == State::Starting)
        };
        let mut report = |child: &mut Child| {
            child.state = State::Ready;
            child.next_look = None;
            out.push(Action::Say(Report::Ready {
                pid: child.pid(),
                after: now.saturating_duration_since(child.started),
                source,
            }));
        };
        if is(&self.active) {
            report(self.active.as_mut().expect("checked"));
        } else if is(&self.replacement) {
            let mut new = self.replacement.take().expect("checked");
            report(&mut new);
            let new_pid = new.pid();
            if let Some(old) = self.active.replace(new) {
                if old.is_running() {
                    out.push(Action::Say(Report::Handover {
                        new: new_pid,
                        old: old.pid(),
                    }));
                    self.drain(old, now, out);
                }
            }
        }
    }

    fn exited(
        &mut self,
        generation: Generation,
        status: Status,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        if let Some(index) = self
            .retiring
            .iter()
            .position(|c| c.generation == generation)
        {
            let child = self.retiring.remove(index);
            out.push(Action::Say(Report::Stopped {
                pid: child.pid(),
                status,
            }));
            if self.start_after == Some(generation) {
                self.start_after = None;
                if !self.shutting_down {
                    self.active = Some(self.start(now, out));
                }
            }
            self.finish_shutdown(out);
        } else if self
            .replacement
            .as_ref()
            .is_some_and(|c| c.generation == generation)
        {
            let failed = self.replacement.take().expect("checked");
            let serving = self.active.as_ref().map_or(0, Child::pid);
            out.push(Action::Say(Report::ReplacementFailed {
                pid: failed.pid(),
                status,
                serving,
            }));
        } else if let Some(active) = self
            .active
            .as_mut()
            .filter(|c| c.generation == generation && c.is_running())
        {
            active.state = State::Exited(status);
            out.push(Action::Say(Report::Exited {
                pid: active.pid(),
                status,
            }));
            match self.replacement.take() {
                Some(replacement) => {
                    out.push(Action::Say(Report::TakesOver {
                        pid: replacement.pid(),
                    }));
                    self.active = Some(replacement);
                }
                None => out.push(Action::Say(Report::Waiting)),
            }
        }
    }

    /// A replacement that may have failed because the child serving holds
    /// its program: stop the child serving first, then start again. As for
    /// any exit, an unknown or outdated generation changes nothing.
    fn blocked(
        &mut self,
        generation: Generation,
        status: Status,
        program: PathBuf,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let is_replacement = self
            .replacement
            .as_ref()
            .is_some_and(|c| c.generation == generation);
        let serving = self.active.as_ref().is_some_and(Child::is_running);
        if !is_replacement || !serving || self.shutting_down {
            self.exited(generation, status, now, out);
            return;
        }
        let failed = self.replacement.take().expect("checked");
        let active = self.active.take().expect("checked");
        out.push(Action::Say(Report::Blocked {
            pid: failed.pid(),
            status,
            serving: active.pid(),
            program,
        }));
        self.start_after = Some(active.generation);
        self.retire(active, now, out);
    }

    /// The replacement, if `generation` is it, and the active child runs:
    /// the pid of the child serving.
    #[cfg_attr(unix, allow(dead_code))]
    pub fn serving_beside(&self, generation: Generation) -> Option<u32> {
        if self.replacement.as_ref()?.generation != generation {
            return None;
        }
        self.active
            .as_ref()
            .filter(|child| child.is_running())
            .and_then(|child| child.pid)
    }

    /// After a suspension of `after`: the retiring children's grace
    /// periods start that much later, since they could not run meanwhile.
    fn resumed(&mut self, after: std::time::Duration) {
        for child in &mut self.retiring {
            match &mut child.state {
                State::Draining { since, next, .. } => {
                    *since += after;
                    *next += after;
                }
                State::Stopping { since, .. } => *since += after,
                _ => {}
            }
        }
    }

    fn tick(&mut self, now: Instant, out: &mut Vec<Action>) {
        let generations: Vec<Generation> = self.starting().map(|c| c.generation).collect();
        for generation in generations {
            let Some(child) = self.starting_mut(generation) else {
                continue;
            };
            if child
                .notified
                .is_some_and(|at| child.waiter.is_none() && now >= at + CONFIRM)
            {
                self.ready(generation, Source::NotifyUnseen, now, out);
                continue;
            }
            if let (Some(at), Some(pid)) = (child.next_look, child.pid) {
                if now >= at {
                    let so_far = now.saturating_duration_since(child.started);
                    child.next_look = Some(now + (so_far / 10).clamp(LOOK_MIN, LOOK_MAX));
                    out.push(Action::Look { generation, pid });
                }
            }
        }
        let grace = self.policy.grace;
        for child in &mut self.retiring {
            if let State::Draining { since, next, held } = child.state {
                let pid = child.pid();
                if now >= grace_end(since, grace) {
                    child.state = State::Stopping {
                        since: now,
                        killed: false,
                    };
                    out.push(Action::Say(Report::StillHeld { pid, held, grace }));
                    out.push(Action::Stop { pid });
                } else if now >= next {
                    child.state = State::Draining {
                        since,
                        next: now + DRAIN_CHECK,
                        held,
                    };
                    out.push(Action::StopWhenIdle {
                        generation: child.generation,
                        pid,
                    });
                }
            } else if let State::Stopping {
                since,
                killed: false,
            } = child.state
            {
                if now >= grace_end(since, grace) {
                    child.state = State::Stopping {
                        since,
                        killed: true,
                    };
                    out.push(Action::Say(Report::Killing {
                        pid: child.pid(),
                        grace,
                    }));
                    out.push(Action::Kill { pid: child.pid() });
                }
            }
        }
    }

    fn shutdown(&mut self, signal: Signal, now: Instant, out: &mut Vec<Action>) {
        if self.shutting_down {
            out.push(Action::Say(Report::KillingAll { signal }));
            for child in &self.retiring {
                out.push(Action::Kill { pid: child.pid() });
            }
            out.push(Action::Exit(128 + signal.0));
            return;
        }
        self.shutting_down = true;
        self.start_after = None;
        if self.anything_runs() {
            out.push(Action::Say(Report::ShuttingDown { signal }));
        }
        if let Some(replacement) = self.replacement.take() {
            self.retire(replacement, now, out);
        }
        if let Some(active) = self.active.take() {
            self.retire(active, now, out);
        }
        // No more waiting for old children to be idle.
        for child in &mut self.retiring {
            if matches!(child.state, State::Draining { .. }) {
                child.state = State::Stopping {
                    since: now,
                    killed: false,
                };
                out.push(Action::Stop { pid: child.pid() });
            }
        }
        self.finish_shutdown(out);
    }

    /// Once shutting down and nothing runs any more, leave.
    fn finish_shutdown(&self, out: &mut Vec<Action>) {
        if self.shutting_down && !self.anything_runs() {
            out.push(Action::Exit(0));
        }
    }

    /// Whether any child may still be running.
    fn anything_runs(&self) -> bool {
        self.active.as_ref().is_some_and(Child::is_running)
            || self.replacement.is_some()
            || !self.retiring.is_empty()
    }

    fn child_mut(&mut self, generation: Generation) -> Option<&mut Child> {
        [self.active.as_mut(), self.replacement.as_mut()]
            .into_iter()
            .flatten()
            .find(|c| c.generation == generation)
    }
}
