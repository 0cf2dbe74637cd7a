//! The restart decisions: [`Supervisor::handle`] takes an [`Event`] and the
//! current time and returns the [`Action`]s to carry out.

use std::path::PathBuf;
use std::time::Instant;

use super::build::{After, Builds, During};
use super::child::{grace_end, Child, State};
use super::event::{Action, Event};
use super::idle::Idle;
use super::report::Report;
use super::types::{
    Dormant, Drain, Generation, LiveStatus, Names, Outage, Plan, Policy, Reload, Source, Status,
    Waiter, Who, CONFIRM, DRAIN_CHECK, LOOK_AFTER_READY, LOOK_MAX, LOOK_MIN, RELOAD_GRACE,
    RELOAD_MAX, SIGNAL_RELOAD,
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
    /// The build step's runs (`--build`).
    builds: Builds,
    /// What the build that runs leads to once it succeeds.
    then: Option<Then>,
    /// What started the run under way (a change, SIGHUP), for the error
    /// page; `None` for the first start.
    trigger: Option<String>,
    /// Why nothing serves, since COMMAND ended or its build failed; cleared
    /// by the next start or build.
    outage: Option<Outage>,
    /// Whether the host answers with the error page.
    page: bool,
    /// Why the last build failed, until one succeeds: a child from an
    /// earlier build that ends meanwhile is shown with it.
    failed_build: Option<String>,
    /// A page reload that waits (`--livereload`).
    reload: Option<Reload>,
    /// The build waits for this generation, which runs what it replaces,
    /// to exit (Windows).
    build_after: Option<Generation>,
    /// What the lines name.
    names: Names,
    /// Nothing runs, and the host waits for a connection that starts
    /// COMMAND (`--on-demand`, `--idle-stop`).
    dormant: Option<Dormant>,
    /// The connections of the child serving, as `--idle-stop` counts them.
    idle: Idle,
    /// `--idle-stop` stopped this generation: once it has exited, the
    /// host waits for a connection.
    idle_stopping: Option<Generation>,
}

/// What a build leads to once it succeeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Then {
    /// What a change asks for: `--signal`'s signal, or a restart.
    Change,
    /// A restart (SIGHUP).
    Restart,
    /// The first start.
    First,
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
            builds: Builds::default(),
            then: None,
            trigger: None,
            outage: None,
            page: false,
            failed_build: None,
            reload: None,
            build_after: None,
            names: Names::default(),
            dormant: None,
            idle: Idle::default(),
            idle_stopping: None,
        }
    }

    /// The supervisor, naming the sockets and COMMAND as `names` say in
    /// its lines.
    pub fn named(self, names: Names) -> Supervisor {
        Supervisor { names, ..self }
    }

    /// Starts the first child, or the build before it; with `--on-demand`,
    /// waits for a connection to do so.
    pub fn begin(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if self.policy.on_demand {
            self.go_dormant(Dormant::First, &mut out);
        } else if self.policy.build {
            self.build(now, Then::First, &mut out);
        } else {
            self.active = Some(self.start(now, &mut out));
        }
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
        let build = self.builds.running().and_then(|build| {
            if self.shutting_down {
                let (since, _) = build.stopping.filter(|&(_, killed)| !killed)?;
                Some(grace_end(since, self.policy.grace))
            } else {
                build.ended.map(|(at, _)| at + self.policy.settle)
            }
        });
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
        let reload = match &self.reload {
            Some(Reload::Pending { look, .. }) => {
                let ends = self.retiring.iter().filter_map(|child| match child.state {
                    State::Stopping { since, .. } => Some(since + self.reload_wait()),
                    _ => None,
                });
                ends.chain(*look).min()
            }
            Some(Reload::AfterSignal { at }) => Some(*at + SIGNAL_RELOAD),
            None => None,
        };
        let count = self.counted().and(self.idle.next());
        graces
            .chain(starting.flatten())
            .chain(build)
            .chain(reload)
            .chain(count)
            .min()
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
            Event::Change { path, more, paths } => {
                if self.shutting_down {
                    return out;
                }
                let during = match self.builds.running() {
                    Some(_) => match self.builds.during(&paths) {
                        During::Own => return out,
                        During::Again => true,
                    },
                    None => false,
                };
                self.trigger = Some(match more {
                    0 => path.display().to_string(),
                    more => format!("{} (and {more} more)", path.display()),
                });
                out.push(Action::Say(Report::Change { path, more }));
                if self.stays_stale() {
                    self.stale(&mut out);
                } else {
                    self.asked(Then::Change, during, now, &mut out);
                }
            }
            Event::Hangup => {
                if !self.shutting_down {
                    self.wake(&mut out);
                    let during = self.builds.running().is_some();
                    if during {
                        self.builds.ask_again();
                    }
                    self.trigger = Some("SIGHUP".to_owned());
                    out.push(Action::Say(Report::Hangup));
                    self.asked(Then::Restart, during, now, &mut out);
                }
            }
            Event::BuildStarted { pid } => {
                if let Some(build) = self.builds.running_mut() {
                    build.pid = Some(pid);
                }
            }
            Event::BuildFailed { error } => {
                self.builds.discard();
                self.then = None;
                let serving = self.serving_who();
                self.failed(
                    format!("cannot run the build step: {error}"),
                    false,
                    &mut out,
                );
                out.push(Action::Say(Report::BuildNotStarted { error, serving }));
                self.finish_shutdown(&mut out);
            }
            Event::Built { status } => self.built(status, now, &mut out),
            Event::BuildBlocked { program } => {
                match self.active.take().filter(Child::is_running) {
                    Some(active) if !self.shutting_down => {
                        out.push(Action::Say(Report::BuildBlocked {
                            serving: active.pid(),
                            program,
                        }));
                        self.build_after = Some(active.generation);
                        self.retire(active, now, &mut out);
                    }
                    // Nothing to wait for: build now (or not at all).
                    active => {
                        self.active = active;
                        if self.shutting_down {
                            self.builds.discard();
                        } else {
                            out.push(Action::Build);
                        }
                    }
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
            Event::StillListening {
                generation,
                listening,
            } => self.still_listening(generation, listening),
            Event::Status { generation, text } => {
                let known = [self.active.as_ref(), self.replacement.as_ref()]
                    .into_iter()
                    .flatten()
                    .find(|child| child.generation == generation && child.is_running());
                if let Some(child) = known {
                    out.push(Action::Say(Report::Status {
                        who: child.who(),
                        text,
                    }));
                }
            }
            Event::FirstExited { generation, status } => {
                self.first_exited(generation, status, &mut out)
            }
            Event::Orphaned { pid, status } => self.orphaned(pid, status),
            Event::Exited { generation, status } => self.exited(generation, status, now, &mut out),
            Event::Tick => self.tick(now, &mut out),
            Event::Resumed { after } => self.resumed(after),
            Event::Shutdown { signal } => self.shutdown(signal, now, &mut out),
            Event::Forward { signal } => {
                if let Some(who) = self.serving_who() {
                    out.push(Action::Say(Report::Forwarded { who, signal }));
                    out.push(signal_to(who, signal));
                }
            }
            Event::Connection { socket } => self.connection(socket, now, &mut out),
            Event::Connections { generation, count } => {
                self.connections(generation, count, now, &mut out)
            }
            Event::IdleChecked { generation, drain } => {
                self.idle_checked(generation, drain, now, &mut out)
            }
        }
        if !self.shutting_down {
            self.settle_reload(now, &mut out);
        }
        self.settle_page(&mut out);
        self.settle_idle(now);
        out
    }

    /// Whether a change only marks COMMAND stale: nothing runs because
    /// `--idle-stop` stopped it, or, with `--on-demand`, because it has
    /// not started or has ended; the next connection starts the new
    /// version.
    fn stays_stale(&self) -> bool {
        if self.dormant.is_some() || self.idle_stopping.is_some() {
            return true;
        }
        self.policy.on_demand
            && !self.anything_runs()
            && self.start_after.is_none()
            && self.build_after.is_none()
    }

    /// A change while nothing runs: said, and the host waits for a
    /// connection (an ended COMMAND's error page stops). Pages that
    /// `--livereload` reaches reload: their request is that connection.
    fn stale(&mut self, out: &mut Vec<Action>) {
        out.push(Action::Say(Report::Stale));
        if self.dormant.is_none() && self.idle_stopping.is_none() {
            self.go_dormant(Dormant::Changed, out);
        }
        self.reload_now(out);
    }

    /// Nothing runs, for `why`: the host waits for a connection to start
    /// COMMAND, and the error page, if it answered, stops.
    fn go_dormant(&mut self, why: Dormant, out: &mut Vec<Action>) {
        self.page_off(out);
        self.dormant = Some(why);
        out.push(Action::Say(Report::Dormant {
            why,
            sockets: self.names.sockets.clone(),
            command: self.names.command.clone(),
        }));
        out.push(Action::AwaitConnection(true));
    }

    /// Stops waiting for a connection, if the host waited: something else
    /// (SIGHUP) starts COMMAND.
    fn wake(&mut self, out: &mut Vec<Action>) {
        if self.dormant.take().is_some() {
            out.push(Action::AwaitConnection(false));
        }
    }

    /// A connection waits on the socket at `socket`: if nothing runs for
    /// want of one, COMMAND starts (after its build), and takes it.
    fn connection(&mut self, socket: usize, now: Instant, out: &mut Vec<Action>) {
        if self.shutting_down || self.dormant.is_none() {
            return;
        }
        self.wake(out);
        let on = self.names.sockets.get(socket).cloned().unwrap_or_default();
        out.push(Action::Say(Report::Connection {
            on,
            command: self.names.command.clone(),
        }));
        if self.policy.build {
            self.live(LiveStatus::Building, out);
            self.build(now, Then::First, out);
        } else {
            self.active = Some(self.start(now, out));
        }
    }

    /// The child `--idle-stop` counts connections of: the active one,
    /// ready, with nothing else under way (no replacement, no old child,
    /// no build). Its generation and pid.
    fn counted(&self) -> Option<(Generation, u32)> {
        self.policy.idle_stop?;
        let active = self.active.as_ref()?;
        let alone = self.replacement.is_none()
            && self.retiring.is_empty()
            && self.builds.running().is_none()
            && self.start_after.is_none()
            && !self.shutting_down;
        (alone && active.state == State::Ready).then_some((active.generation, active.pid?))
    }

    /// Keeps how the process `pid` exited for the child it belongs to,
    /// once that child's first process has gone: the child seen serving
    /// from it, or else the only such child not seen serving at all (a
    /// server that died before it listened).
    fn orphaned(&mut self, pid: u32, status: Status) {
        let mut children: Vec<&mut Child> = self
            .active
            .iter_mut()
            .chain(self.replacement.iter_mut())
            .chain(self.retiring.iter_mut())
            .filter(|child| child.first_exited.is_some())
            .collect();
        if let Some(child) = children
            .iter_mut()
            .find(|child| child.waiter.is_some_and(|w| w.pid == pid))
        {
            child.server_exited = Some((pid, status));
            return;
        }
        let mut unseen = children.into_iter().filter(|child| child.waiter.is_none());
        if let (Some(child), None) = (unseen.next(), unseen.next()) {
            child.server_exited = Some((pid, status));
        }
    }

    /// Keeps `--idle-stop`'s clock on the child it counts.
    fn settle_idle(&mut self, now: Instant) {
        let counted = self.counted().map(|(generation, _)| generation);
        self.idle.follow(counted, now);
    }

    /// What a count of `generation`'s connections found: with none for
    /// the idle time, the child is stopped if it holds none either.
    fn connections(
        &mut self,
        generation: Generation,
        count: Option<usize>,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let (Some((counted, pid)), Some(after)) = (self.counted(), self.policy.idle_stop) else {
            return;
        };
        if counted == generation && self.idle.counted(generation, count, now, after) {
            out.push(Action::StopIfIdle { generation, pid });
        }
    }

    /// What asking the idle `generation` to stop found.
    fn idle_checked(
        &mut self,
        generation: Generation,
        drain: Drain,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Some((counted, _)) = self.counted() else {
            return;
        };
        if counted != generation {
            return;
        }
        if drain != Drain::Stopped {
            // A connection came after all, or the tree cannot be seen.
            self.idle.busy();
            return;
        }
        let Some(mut active) = self.active.take() else {
            return;
        };
        out.push(Action::Say(Report::IdleStop {
            who: active.who(),
            after: self.policy.idle_stop.unwrap_or_default(),
        }));
        active.state = State::Stopping {
            since: now,
            killed: false,
        };
        self.retiring.push(active);
        self.idle_stopping = Some(generation);
    }

    /// The active child's pid, while it runs.
    pub fn serving(&self) -> Option<u32> {
        self.active
            .as_ref()
            .filter(|child| child.is_running())
            .and_then(|child| child.pid)
    }

    /// How a line names the active child, while it runs.
    fn serving_who(&self) -> Option<Who> {
        self.active
            .as_ref()
            .filter(|child| child.is_running() && child.pid.is_some())
            .map(Child::who)
    }

    /// The first process of `generation` exited while its group runs on:
    /// from now on lines name the process seen serving, or the group. A
    /// child that is being stopped or drains is only named so; one that
    /// serves or starts is said to run on.
    fn first_exited(&mut self, generation: Generation, status: Status, out: &mut Vec<Action>) {
        if let Some(child) = self
            .retiring
            .iter_mut()
            .find(|child| child.generation == generation)
        {
            child.first_exited = Some(status);
            child.exited_on_stop = matches!(child.state, State::Stopping { .. });
        } else if let Some(child) = self.child_mut(generation).filter(|c| c.is_running()) {
            child.first_exited = Some(status);
            out.push(Action::Say(Report::FirstExited {
                pid: child.pid(),
                status,
                now: child.who(),
            }));
        }
    }

    /// A change or SIGHUP asks for `then`: the build first, if there is
    /// one, else at once. `during`: a build runs, and has been told of the
    /// change.
    fn asked(&mut self, then: Then, during: bool, now: Instant, out: &mut Vec<Action>) {
        self.live(LiveStatus::Building, out);
        if during {
            // The first start stays the first; a restart outweighs a change.
            self.then = Some(self.then.map_or(then, |was| was.max(then)));
        } else if self.policy.build {
            self.build(now, then, out);
        } else {
            self.then_do(then, now, out);
        }
    }

    /// Carries out what a change, SIGHUP or the first start asked for.
    fn then_do(&mut self, then: Then, now: Instant, out: &mut Vec<Action>) {
        match then {
            Then::First => self.active = Some(self.start(now, out)),
            Then::Restart => self.restart(now, out),
            Then::Change => match self.to_signal() {
                Some((who, signal)) => {
                    out.push(Action::Say(Report::Signalled { who, signal }));
                    out.push(signal_to(who, signal));
                    if self.policy.livereload {
                        self.reload = Some(Reload::AfterSignal { at: now });
                    }
                }
                None => self.restart(now, out),
            },
        }
    }

    /// Runs the build step, to do `then` once it succeeds. `--clear`
    /// clears the terminal before the build, not before the start, so its
    /// output stays in sight.
    fn build(&mut self, now: Instant, then: Then, out: &mut Vec<Action>) {
        self.page_off(out);
        self.builds.begin(now);
        self.then = Some(then);
        if self.policy.clear {
            out.push(Action::Clear);
        }
        out.push(Action::Build);
    }

    /// The build step ended with `status`: what it wrote may still be on
    /// its way, so what follows waits until [`Policy::settle`] has passed
    /// ([`Supervisor::tick`]). While shutting down, nothing follows.
    fn built(&mut self, status: Status, now: Instant, out: &mut Vec<Action>) {
        let Some(build) = self.builds.running_mut() else {
            return;
        };
        build.ended = Some((now, status));
        if self.shutting_down {
            self.builds.discard();
            self.then = None;
            self.finish_shutdown(out);
        }
    }

    /// The build step that ended with `status` at `ended` has settled: what
    /// it leads to.
    fn settled(&mut self, ended: Instant, status: Status, now: Instant, out: &mut Vec<Action>) {
        let Some(started) = self.builds.running().map(|build| build.started) else {
            return;
        };
        let then = self.then.take().unwrap_or(Then::Change);
        match self.builds.end() {
            After::Again { files } => {
                out.push(Action::Say(Report::BuildAgain { files }));
                self.build(now, then, out);
                return;
            }
            After::OwnOutput { path, more } => {
                out.push(Action::Say(Report::OwnOutput { path, more }))
            }
            After::Looping { path, more } => out.push(Action::Say(Report::Looping { path, more })),
            After::Done => {}
        }
        if status == Status::Code(0) {
            self.failed_build = None;
            out.push(Action::Say(Report::Built {
                after: ended.saturating_duration_since(started),
            }));
            self.then_do(then, now, out);
            return;
        }
        let cause = format!("the build {status}");
        self.failed_build = Some(cause.clone());
        let serving = self.serving_who();
        self.failed(cause, true, out);
        out.push(Action::Say(Report::BuildFailed {
            status,
            serving,
            page: serving.is_none() && self.policy.error_page,
        }));
    }

    /// The new version failed, for `cause` (with the build's output when
    /// `build_failed`): the pages are told, and with nothing serving, the
    /// error page will say it.
    fn failed(&mut self, cause: String, build_failed: bool, out: &mut Vec<Action>) {
        if self.serving().is_none() {
            self.outage = Some(Outage {
                cause: cause.clone(),
                build_failed,
                trigger: self.trigger.clone(),
            });
        }
        self.live(
            LiveStatus::Failed {
                cause,
                build_failed,
            },
            out,
        );
    }

    /// Tells the pages `status` (`--livereload`).
    fn live(&self, status: LiveStatus, out: &mut Vec<Action>) {
        if self.policy.livereload {
            out.push(Action::LiveStatus(status));
        }
    }

    /// A new child serves: the pages reload once no old one may serve them
    /// ([`Supervisor::settle_reload`]).
    fn reload_when_served(&mut self) {
        if self.policy.livereload {
            self.reload = Some(Reload::Pending {
                quiet: Vec::new(),
                look: None,
            });
        }
    }

    /// Tells the pages to reload now (`--livereload`): a new child serves
    /// alone.
    fn reload_now(&mut self, out: &mut Vec<Action>) {
        self.reload = None;
        if self.policy.livereload {
            out.push(Action::LiveStatus(LiveStatus::Ok));
            out.push(Action::LiveReload);
        }
    }

    /// Whether the host can see a child listen (Linux, with sockets).
    fn looks(&self) -> bool {
        matches!(self.policy.ready, Readiness::Listen | Readiness::Auto)
    }

    /// How long after an old child's stop signal the pages wait at most
    /// for it to listen no more.
    fn reload_wait(&self) -> std::time::Duration {
        if self.looks() {
            RELOAD_MAX
        } else {
            RELOAD_GRACE
        }
    }

    /// What a look at the old child `generation` found.
    fn still_listening(&mut self, generation: Generation, listening: bool) {
        if let Some(Reload::Pending { quiet, .. }) = &mut self.reload {
            if !listening && !quiet.contains(&generation) {
                quiet.push(generation);
            }
        }
    }

    /// A reload that waits is sent once no old child may serve the page
    /// (see [`Reload::Pending`]); until then the stopping ones are looked at
    /// every [`LOOK_MIN`], where that shows anything.
    fn settle_reload(&mut self, now: Instant, out: &mut Vec<Action>) {
        let Some(Reload::Pending { quiet, look }) = &self.reload else {
            return;
        };
        let wait = self.reload_wait();
        let mut to_look = Vec::new();
        let mut done = true;
        for child in &self.retiring {
            match child.state {
                State::Draining { .. } => done = false,
                State::Stopping { since, .. } => {
                    if quiet.contains(&child.generation) || now >= since + wait {
                        continue;
                    }
                    done = false;
                    to_look.push((child.generation, child.pid()));
                }
                _ => {}
            }
        }
        if done {
            self.reload_now(out);
            return;
        }
        let looks = self.looks();
        let due = look.is_none_or(|at| now >= at);
        if looks && due && !to_look.is_empty() {
            for (generation, pid) in to_look {
                out.push(Action::LookOld { generation, pid });
            }
            if let Some(Reload::Pending { look, .. }) = &mut self.reload {
                *look = Some(now + LOOK_MIN);
            }
        }
    }

    /// Stops the error page before anything starts: from then on the host
    /// accepts nothing, and connections wait for what starts.
    fn page_off(&mut self, out: &mut Vec<Action>) {
        self.outage = None;
        if std::mem::replace(&mut self.page, false) {
            out.push(Action::ErrorPage(None));
        }
    }

    /// Once nothing of COMMAND runs because it ended, and nothing starts,
    /// the host answers with the error page.
    fn settle_page(&mut self, out: &mut Vec<Action>) {
        let idle = !self.shutting_down
            && !self.anything_runs()
            && self.start_after.is_none()
            && self.dormant.is_none();
        if !self.policy.error_page || self.page || !idle {
            return;
        }
        if let Some(outage) = &self.outage {
            self.page = true;
            out.push(Action::ErrorPage(Some(outage.clone())));
        }
    }

    /// With `--signal`, the child a change is signalled to instead of a
    /// restart: the active one, when it runs and no restart is under way.
    fn to_signal(&self) -> Option<(Who, Signal)> {
        let signal = self.policy.signal_on_change?;
        if self.replacement.is_some() || self.start_after.is_some() {
            return None;
        }
        Some((self.serving_who()?, signal))
    }

    fn restart(&mut self, now: Instant, out: &mut Vec<Action>) {
        if let Some(stopping) = self.idle_stopping.take() {
            // Stopped for being idle: start once it has exited.
            self.start_after = Some(stopping);
        }
        if let Some(old) = self.start_after {
            let old = self.retiring.iter().find(|c| c.generation == old);
            let old = old.map_or(Who::Pid(0), Child::who);
            out.push(Action::Say(Report::Restart(Plan::AlreadyPending { old })));
            return;
        }
        if let Some(pending) = self.replacement.take() {
            out.push(Action::Say(Report::Restart(Plan::Supersede {
                pending: pending.who(),
            })));
            self.retire(pending, now, out);
            self.replacement = Some(self.start(now, out));
            return;
        }
        match self.active.take() {
            Some(active) if active.is_running() => {
                if active.state == State::Ready && !self.policy.stop_first {
                    out.push(Action::Say(Report::Restart(Plan::Replace {
                        old: active.who(),
                    })));
                    self.active = Some(active);
                    self.replacement = Some(self.start(now, out));
                } else {
                    out.push(Action::Say(Report::Restart(Plan::StopFirst {
                        old: active.who(),
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
        self.page_off(out);
        self.last_generation += 1;
        if self.policy.clear && !self.policy.build {
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
            first_exited: None,
            exited_on_stop: false,
            server_exited: None,
            next_look: None,
            trigger: self.trigger.clone(),
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
            let serving = self.serving_who();
            self.failed(error.clone(), false, out);
            out.push(Action::Say(Report::StartFailed { error, serving }));
        } else if self
            .active
            .as_ref()
            .is_some_and(|c| c.generation == generation)
        {
            self.active = None;
            self.failed(error.clone(), false, out);
            out.push(Action::Say(Report::StartFailed {
                error,
                serving: None,
            }));
            self.finish_shutdown(out);
        }
    }

    /// `READY=1` from `generation`.
    fn notified(&mut self, generation: Generation, now: Instant, out: &mut Vec<Action>) {
        // A child signalled to reload in place says it is done.
        let serving = self
            .active
            .as_ref()
            .is_some_and(|c| c.generation == generation && c.state == State::Ready);
        if serving && matches!(self.reload, Some(Reload::AfterSignal { .. })) {
            self.reload_now(out);
            return;
        }
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
                    who: child.who(),
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
                who: child.who(),
                after: now.saturating_duration_since(child.started),
                source,
            }));
        };
        if is(&self.active) {
            report(self.active.as_mut().expect("checked"));
            self.reload_when_served();
        } else if is(&self.replacement) {
            let mut new = self.replacement.take().expect("checked");
            report(&mut new);
            let new_who = new.who();
            if let Some(old) = self.active.replace(new) {
                if old.is_running() {
                    out.push(Action::Say(Report::Handover {
                        new: new_who,
                        old: old.who(),
                    }));
                    self.drain(old, now, out);
                }
            }
            self.reload_when_served();
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
                who: child.who_stopped(),
                status,
            }));
            if self.start_after == Some(generation) {
                self.start_after = None;
                if !self.shutting_down {
                    self.active = Some(self.start(now, out));
                }
            }
            if self.build_after == Some(generation) {
                self.build_after = None;
                if !self.shutting_down {
                    out.push(Action::Build);
                }
            }
            if self.idle_stopping == Some(generation) {
                self.idle_stopping = None;
                if !self.shutting_down && self.start_after.is_none() {
                    // A connection that came during the stop wakes the
                    // host at once.
                    self.go_dormant(Dormant::Idle, out);
                }
            }
            self.finish_shutdown(out);
        } else if self
            .replacement
            .as_ref()
            .is_some_and(|c| c.generation == generation)
        {
            let failed = self.replacement.take().expect("checked");
            let serving = self.active.as_ref().map_or(Who::Pid(0), Child::who);
            let report = Report::ReplacementFailed {
                who: failed.who(),
                status,
                serving,
            };
            let cause = format!("pid {} {status} before it was ready", failed.pid());
            self.live(
                LiveStatus::Failed {
                    cause,
                    build_failed: false,
                },
                out,
            );
            out.push(Action::Say(report));
        } else if let Some(active) = self
            .active
            .as_mut()
            .filter(|c| c.generation == generation && c.is_running())
        {
            active.state = State::Exited(status);
            let exited = Report::Exited {
                who: active.who(),
                status,
                server: active.server_exited,
            };
            // It may come from an earlier build than the last, which failed.
            self.outage = Some(Outage {
                cause: match &self.failed_build {
                    Some(build) => format!("{exited}; the last build failed too: {build}"),
                    None => exited.to_string(),
                },
                build_failed: self.failed_build.is_some(),
                trigger: active.trigger.clone(),
            });
            if self.policy.livereload && self.replacement.is_none() {
                out.push(Action::LiveStatus(LiveStatus::Failed {
                    cause: exited.to_string(),
                    build_failed: false,
                }));
            }
            out.push(Action::Say(exited));
            match self.replacement.take() {
                Some(replacement) => {
                    out.push(Action::Say(Report::TakesOver {
                        who: replacement.who(),
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
        if let (Some((generation, _)), Some(after)) = (self.counted(), self.policy.idle_stop) {
            if self.idle.due(now, after) {
                out.push(Action::CountConnections { generation });
            }
        }
        let signalled =
            matches!(self.reload, Some(Reload::AfterSignal { at }) if now >= at + SIGNAL_RELOAD);
        if signalled && !self.shutting_down {
            self.reload_now(out);
        }
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
                    let just_ready = child
                        .notified
                        .is_some_and(|ready| now < ready + LOOK_AFTER_READY);
                    let gap = match just_ready {
                        true => LOOK_MIN,
                        false => (so_far / 10).clamp(LOOK_MIN, LOOK_MAX),
                    };
                    child.next_look = Some(now + gap);
                    out.push(Action::Look { generation, pid });
                }
            }
        }
        let settled = self
            .builds
            .running()
            .and_then(|build| build.ended)
            .filter(|&(at, _)| !self.shutting_down && now >= at + self.policy.settle);
        if let Some((ended, status)) = settled {
            self.settled(ended, status, now, out);
        }
        let grace = self.policy.grace;
        if let Some(build) = self.builds.running_mut() {
            if let (Some((since, false)), Some(pid)) = (build.stopping, build.pid) {
                if now >= grace_end(since, grace) {
                    build.stopping = Some((since, true));
                    out.push(Action::Say(Report::Killing {
                        who: Who::Pid(pid),
                        grace,
                    }));
                    out.push(Action::Kill { pid });
                }
            }
        }
        for child in &mut self.retiring {
            if let State::Draining { since, next, held } = child.state {
                let pid = child.pid();
                if now >= grace_end(since, grace) {
                    child.state = State::Stopping {
                        since: now,
                        killed: false,
                    };
                    out.push(Action::Say(Report::StillHeld {
                        who: child.who(),
                        held,
                        grace,
                    }));
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
                        who: child.who(),
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
            if let Some(pid) = self.builds.running().and_then(|build| build.pid) {
                out.push(Action::Kill { pid });
            }
            out.push(Action::Exit(128 + signal.0));
            return;
        }
        self.shutting_down = true;
        self.start_after = None;
        self.reload = None;
        self.dormant = None;
        self.idle_stopping = None;
        if self.anything_runs() {
            let children = self.active.as_ref().is_some_and(Child::is_running)
                || self.replacement.is_some()
                || !self.retiring.is_empty();
            out.push(Action::Say(Report::ShuttingDown {
                signal,
                build_only: !children,
            }));
        }
        if let Some(replacement) = self.replacement.take() {
            self.retire(replacement, now, out);
        }
        if let Some(active) = self.active.take() {
            self.retire(active, now, out);
        }
        self.build_after = None;
        if let Some(build) = self.builds.running_mut() {
            match build.pid {
                // Already ended: its writes were awaited, nothing else.
                Some(_) if build.ended.is_some() => {
                    self.builds.discard();
                    self.then = None;
                }
                Some(pid) => {
                    build.stopping = Some((now, false));
                    out.push(Action::Stop { pid });
                }
                // Not started: waiting for a child to stop first.
                None => {
                    self.builds.discard();
                }
            }
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

    /// Whether any child, or the build step, may still be running.
    fn anything_runs(&self) -> bool {
        self.active.as_ref().is_some_and(Child::is_running)
            || self.replacement.is_some()
            || !self.retiring.is_empty()
            || self.builds.running().is_some()
    }

    fn child_mut(&mut self, generation: Generation) -> Option<&mut Child> {
        [self.active.as_mut(), self.replacement.as_mut()]
            .into_iter()
            .flatten()
            .find(|c| c.generation == generation)
    }
}

/// The action that sends `signal` to the process a line names `who`: the
/// first process, or the one seen serving; else, as no process is known,
/// the group.
fn signal_to(who: Who, signal: Signal) -> Action {
    match who.pid() {
        Some(pid) => Action::Signal { pid, signal },
        None => Action::SignalGroup {
            group: who.group(),
            signal,
        },
    }
}
