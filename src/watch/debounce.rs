//! The watching thread's loop: events in, debounced batches of changed
//! paths out.
//!
//! A batch opens with the first change that counts and closes once no
//! change has come for the debounce period, or at the batch limit after its
//! first change, whichever is sooner. Before it closes, the watches are
//! brought up to date (which may find more changes). Meanwhile, a `-w`
//! path that has gone is looked for at a steady pace.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use super::events;
use super::mounts::Mounts;
use super::notices::Notices;
use super::placement::Placement;
use super::poll::Poller;
use super::rules::Rules;

/// How often a `-w` path that has disappeared is looked for. A stat call
/// per missing path, and only while one is missing.
const MISSING_POLL: Duration = Duration::from_millis(100);

/// The longest a batch gathers changes after its first one: a file that is
/// rewritten without pause (a log, build output that is not ignored) must
/// not put off the restart for ever.
pub(super) fn batch_limit(debounce: Duration) -> Duration {
    debounce.saturating_mul(10).max(Duration::from_secs(1))
}

/// When the batch being gathered is due. It reads no clock: every method
/// is given the time, so the timing is tested with made-up instants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Timing {
    debounce: Duration,
    /// When the batch is due, if anything waits: the debounce period after
    /// the latest change, or after the watches needed bringing up to date.
    due: Option<Instant>,
    /// The latest the batch may be due: the batch limit after its first
    /// change.
    cut: Option<Instant>,
}

impl Timing {
    /// Nothing waits.
    pub(super) fn new(debounce: Duration) -> Timing {
        Timing {
            debounce,
            due: None,
            cut: None,
        }
    }

    /// How long to wait for an event at `now`: until the batch is due, or
    /// `poll` when something is looked for, whichever is sooner. `None`
    /// waits for as long as it takes.
    pub(super) fn wait(&self, now: Instant, poll: Option<Duration>) -> Option<Duration> {
        match (self.due, poll) {
            (Some(due), poll) => Some(
                due.saturating_duration_since(now)
                    .min(poll.unwrap_or(Duration::MAX)),
            ),
            (None, poll) => poll,
        }
    }

    /// Whether the batch is due at `now`.
    pub(super) fn is_due(&self, now: Instant) -> bool {
        self.due.is_some_and(|due| now >= due)
    }

    /// A change joined the batch at `now`.
    pub(super) fn changed(&mut self, now: Instant) {
        let cut = *self
            .cut
            .get_or_insert_with(|| later(now, batch_limit(self.debounce)));
        self.due = Some(later(now, self.debounce).min(cut));
    }

    /// The watches need bringing up to date once changes settle: due a
    /// debounce period after `now`, unless something is due sooner.
    pub(super) fn unsettled(&mut self, now: Instant) {
        if self.due.is_none() {
            self.due = Some(later(now, self.debounce));
        }
    }

    /// The watches were brought up to date and nothing counted: nothing
    /// waits any more. Only for a batch still empty.
    pub(super) fn settled(&mut self) {
        *self = Timing::new(self.debounce);
    }
}

/// `now` plus `period`. The command line bounds the debounce far below
/// what an `Instant` can hold; were it not, the batch would be due at once
/// rather than never.
fn later(now: Instant, period: Duration) -> Instant {
    now.checked_add(period).unwrap_or(now)
}

/// The backend that reports changes: a `notify` watcher, or one that
/// watches nothing when everything is polled.
pub(super) type Backend = Box<dyn notify::Watcher + Send>;

/// What the watching thread keeps between events.
pub(super) struct Watching {
    rules: Rules,
    placement: Placement,
    /// The backend, weakly: it ends when the `Watcher` is dropped, which
    /// closes the event channel and so ends the thread.
    watcher: Weak<Mutex<Backend>>,
    /// The directories polled, if any.
    poller: Option<Poller>,
    /// What is said of the rules and the polling.
    notices: Notices,
    /// The mount table, followed for new mounts to poll (automatic
    /// polling only).
    mounts: Option<Mounts>,
}

impl Watching {
    pub(super) fn new(
        rules: Rules,
        placement: Placement,
        watcher: Weak<Mutex<Backend>>,
        poller: Option<Poller>,
        notices: Notices,
    ) -> Watching {
        Watching {
            rules,
            placement,
            watcher,
            poller,
            notices,
            mounts: None,
        }
    }

    /// Follows the mount table, for mounts made after the start.
    pub(super) fn follow_mounts(&mut self, mounts: Option<Mounts>) {
        self.mounts = mounts;
    }

    /// The paths of `event` that count, after the watches have followed it:
    /// files found in a new directory count too. The polling takes them in
    /// so as not to report them again.
    fn follow(&mut self, event: &notify::Event) -> Vec<PathBuf> {
        let placement = &self.placement;
        let was_dir = |path: &std::path::Path| placement.watches(path);
        let mut changed = events::changed_paths(event, &mut self.rules, &was_dir);
        changed.extend(
            self.place(|placement, watcher, rules| placement.follow(watcher, rules, event)),
        );
        self.say_first_acts();
        if let Some(poller) = &mut self.poller {
            poller.refresh(&changed, &mut self.rules);
        }
        changed
    }

    /// Says which rules that did not exist before ignored a change for the
    /// first time.
    fn say_first_acts(&mut self) {
        for (source, path) in self.rules.take_first_acts() {
            self.notices.first_ignored(&source, &path);
        }
    }

    /// When the next scan is due, if anything is polled.
    fn poll_due(&self) -> Option<Instant> {
        let scan = self.poller.as_ref().map(Poller::due);
        let look = self.mounts.as_ref().map(Mounts::next);
        match (scan, look) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Scans the polled directories if a scan is due at `now`; returns the
    /// paths that count among the changes found.
    fn poll(&mut self, now: Instant) -> Vec<PathBuf> {
        if let Some(mounts) = self.mounts.as_mut().filter(|m| now >= m.next()) {
            let known = self.poller.as_ref().map(Poller::paths).unwrap_or_default();
            for (target, kind) in mounts.look(now, &mut self.rules, &known) {
                let dir = target.path.clone();
                match &mut self.poller {
                    Some(poller) => poller.add(target, &mut self.rules),
                    None => {
                        self.poller =
                            Some(Poller::new(vec![target], mounts.every(), &mut self.rules));
                    }
                }
                // Once what it holds is taken in: what changes from now on
                // is seen.
                self.notices.polling(&dir, mounts.every(), &kind);
            }
        }
        let Some(poller) = self.poller.as_mut().filter(|p| now >= p.due()) else {
            return Vec::new();
        };
        let asked = poller.every();
        let scan = poller.scan(&mut self.rules);
        if let Some(every) = scan.stretched {
            self.notices.poll_stretched(asked, every);
        }
        self.say_first_acts();
        let mut changed = Vec::new();
        for event in &scan.events {
            changed.extend(self.follow(event));
        }
        changed
    }

    /// Brings the watches up to date once changes have settled; a replaced
    /// `-w` directory is watched anew and counts.
    fn settle(&mut self) -> Vec<PathBuf> {
        self.place(Placement::settle)
    }

    /// Watches the `-w` paths that have come back; their paths count.
    fn look_for_missing(&mut self) -> Vec<PathBuf> {
        self.place(Placement::look_for_missing)
    }

    /// Runs `change` on the placement with the backend, unless the backend
    /// is gone (systemfd is stopping); returns the paths it found changed.
    fn place(
        &mut self,
        change: impl FnOnce(&mut Placement, &mut dyn notify::Watcher, &mut Rules) -> Vec<PathBuf>,
    ) -> Vec<PathBuf> {
        let Some(watcher) = self.watcher.upgrade() else {
            return Vec::new();
        };
        let mut watcher = watcher.lock().unwrap_or_else(PoisonError::into_inner);
        change(&mut self.placement, &mut **watcher, &mut self.rules)
    }
}

/// Waits for a change that counts, then gathers more until the batch is
/// due (see [`Timing`]), bringing the watches up to date on the way. The
/// batch holds each path once, in the order first seen. `None` once the
/// backend is gone.
pub(super) fn next_batch(
    rx: &mpsc::Receiver<notify::Result<notify::Event>>,
    state: &mut Watching,
    debounce: Duration,
) -> Option<Vec<PathBuf>> {
    let mut batch: Vec<PathBuf> = Vec::new();
    let mut seen = HashSet::new();
    let mut timing = Timing::new(debounce);
    loop {
        let now = Instant::now();
        let missing = state.placement.any_missing().then_some(MISSING_POLL);
        let scan = state
            .poll_due()
            .map(|due| due.saturating_duration_since(now));
        let poll = match (missing, scan) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let received = match timing.wait(now, poll) {
            None => Some(rx.recv().ok()?),
            Some(wait) => match rx.recv_timeout(wait) {
                Ok(received) => Some(received),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return None,
            },
        };
        let changed = match received {
            Some(Ok(event)) => {
                let mut changed = state.follow(&event);
                if state.placement.unsettled() {
                    timing.unsettled(Instant::now());
                }
                // Events that never pause must not hold off a scan.
                changed.extend(state.poll(Instant::now()));
                changed
            }
            Some(Err(err)) => {
                state.placement.backend_failed(err);
                continue;
            }
            None => {
                let mut changed = state.poll(Instant::now());
                changed.extend(state.look_for_missing());
                if !changed.is_empty() || !timing.is_due(Instant::now()) {
                    changed
                } else {
                    let settled = state.settle();
                    match (settled.is_empty(), batch.is_empty()) {
                        (false, _) => settled,
                        (true, false) => return Some(batch),
                        // Settled changes that did not count.
                        (true, true) => {
                            timing.settled();
                            continue;
                        }
                    }
                }
            }
        };
        if changed.is_empty() {
            continue;
        }
        for path in changed {
            if seen.insert(path.clone()) {
                batch.push(path);
            }
        }
        timing.changed(Instant::now());
    }
}
