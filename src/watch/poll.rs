//! Polling: finding changes by looking, where no event reports them.
//!
//! Each scan walks the polled directories with the same rules as the
//! watches (an ignored directory is not entered, a file that does not count
//! is not looked at, so the cost grows with what is watched, not with what
//! is ignored) and compares what it finds with the scan before: a change is
//! an entry added or removed, or a file whose size, modification time,
//! change time or inode differs. The changes come out as the events a
//! backend would send, so they follow the same way from there.
//!
//! A scan that takes long stretches the interval: scans take at most 5% of
//! the time. A scan's wall-clock time bounds its CPU time too (one thread),
//! and on 9p or NFS, where a scan mostly waits for the other side, it is
//! the wall-clock time that weighs.
//!
//! Changes that events report too (polling alongside the watches) are
//! taken into the snapshot as they are reported, so that a scan does not
//! report them again.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use notify::event::{CreateKind, DataChange, ModifyKind, RemoveKind};
use notify::EventKind;

use super::rules::{is_ignore_file, Kind, Rules};

/// At most this share of the time goes to scanning: the interval grows to
/// this many times a scan's length when that is longer.
const SHARE: u32 = 20;

/// One directory (or file) to poll.
#[derive(Clone, Debug)]
pub(super) struct Target {
    /// The `-w` path it is at or below, by index.
    pub root: usize,
    /// A directory at or below that `-w` path, or the `-w` file itself.
    pub path: PathBuf,
}

/// What tells a file's state from another: a difference is a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    is_dir: bool,
    len: u64,
    modified: Option<SystemTime>,
    /// The inode change time in ns (Unix); 0 elsewhere.
    changed: i128,
    /// The inode (Unix); 0 elsewhere.
    inode: u64,
}

impl Stamp {
    fn of(metadata: &std::fs::Metadata) -> Stamp {
        if metadata.is_dir() {
            // A directory's times change with its entries, which are
            // compared one by one; only its identity counts.
            return Stamp {
                is_dir: true,
                len: 0,
                modified: None,
                changed: 0,
                inode: inode(metadata),
            };
        }
        Stamp {
            is_dir: false,
            len: metadata.len(),
            modified: metadata.modified().ok(),
            changed: changed(metadata),
            inode: inode(metadata),
        }
    }
}

#[cfg(unix)]
fn changed(metadata: &std::fs::Metadata) -> i128 {
    use std::os::unix::fs::MetadataExt as _;
    i128::from(metadata.ctime()) * 1_000_000_000 + i128::from(metadata.ctime_nsec())
}

#[cfg(unix)]
fn inode(metadata: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    metadata.ino()
}

#[cfg(not(unix))]
fn changed(_: &std::fs::Metadata) -> i128 {
    0
}

#[cfg(not(unix))]
fn inode(_: &std::fs::Metadata) -> u64 {
    0
}

/// What a polled directory held at the last scan, by name: the rules'
/// verdict on each entry, and the stamp of those that count. While the
/// rules stay the same, a scan asks them only about new names.
type Listing = HashMap<OsString, Slot>;

/// An entry, and whether the scan under way has seen it.
#[derive(Clone, Copy, Debug)]
struct Slot {
    entry: Entry,
    seen: bool,
}

/// One entry of a [`Listing`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entry {
    Counts(Stamp),
    /// Ignored, or filtered out.
    Left,
}

/// The state of the polled trees and when to look again.
pub(super) struct Poller {
    targets: Vec<Target>,
    /// The interval asked for.
    interval: Duration,
    /// The interval in use: longer when scans take long.
    every: Duration,
    due: Instant,
    /// Every polled directory that counts, as the last scan (or an event
    /// since) left it.
    dirs: HashMap<PathBuf, Listing>,
    /// The `-w` files polled, as the last scan left them.
    files: HashMap<PathBuf, Option<Stamp>>,
    /// The ignore rules changed since the last scan: they are asked about
    /// every path again, and paths that appear or vanish because of that
    /// are taken in silently.
    rules_changed: bool,
    /// The interval was stretched, and it has been said.
    stretched: Option<Duration>,
}

/// What a scan found.
pub(super) struct Scan {
    /// The changes, as a backend reports them.
    pub events: Vec<notify::Event>,
    /// Set the first time scans take so long that the interval grows: the
    /// interval now used.
    pub stretched: Option<Duration>,
}

impl Poller {
    /// A poller for `targets`, every `interval`; the first scan, which
    /// reports nothing, is made at once.
    pub(super) fn new(mut targets: Vec<Target>, interval: Duration, rules: &mut Rules) -> Poller {
        // A path given twice is polled once, for the first.
        let mut seen = std::collections::HashSet::new();
        targets.retain(|target| seen.insert(target.path.clone()));
        let mut poller = Poller {
            targets,
            interval,
            every: interval,
            due: Instant::now(),
            dirs: HashMap::new(),
            files: HashMap::new(),
            rules_changed: false,
            stretched: None,
        };
        poller.look(rules, None);
        poller.due = Instant::now() + interval;
        poller
    }

    /// The paths polled.
    pub(super) fn paths(&self) -> Vec<PathBuf> {
        self.targets.iter().map(|t| t.path.clone()).collect()
    }

    /// Polls `target` too, from now on: what it holds now is taken in
    /// without being reported.
    pub(super) fn add(&mut self, target: Target, rules: &mut Rules) {
        if self.targets.iter().any(|t| t.path == target.path) {
            return;
        }
        let stamp = std::fs::symlink_metadata(&target.path)
            .ok()
            .map(|m| Stamp::of(&m));
        self.files.insert(target.path.clone(), stamp);
        self.targets.push(target);
        let target = self.targets.last().expect("just pushed");
        if stamp.is_some_and(|s| s.is_dir) {
            let mut found = HashMap::new();
            Walk {
                root: target.root,
                rules,
                old: &mut HashMap::new(),
                new: &mut found,
                ask_all: true,
                changes: None,
                others: &self.targets,
            }
            .dir(&target.path);
            self.dirs.extend(found);
        }
    }

    /// When the next scan is due.
    pub(super) fn due(&self) -> Instant {
        self.due
    }

    /// The interval in use.
    pub(super) fn every(&self) -> Duration {
        self.every
    }

    /// Scans now: the changes since the last scan, as events, in path
    /// order. The next scan is due an interval from the end of this one,
    /// or later when this one took long.
    pub(super) fn scan(&mut self, rules: &mut Rules) -> Scan {
        let started = Instant::now();
        let mut changes = Vec::new();
        self.look(rules, Some(&mut changes));
        changes.sort_unstable_by(|a: &(PathBuf, EventKind), b| a.0.cmp(&b.0));
        let events = changes
            .into_iter()
            .map(|(path, kind)| notify::Event::new(kind).add_path(path))
            .collect();
        let took = started.elapsed();
        self.every = self.interval.max(round_up(took.saturating_mul(SHARE)));
        let stretched = (self.every > self.interval && self.stretched.is_none()).then(|| {
            self.stretched = Some(self.every);
            self.every
        });
        self.due = Instant::now() + self.every;
        Scan { events, stretched }
    }

    /// Takes into the snapshot the state of `paths`, which events reported
    /// as changed, so that the next scan does not report them again: a
    /// path gone is dropped with everything below it, a new directory read
    /// whole.
    pub(super) fn refresh(&mut self, paths: &[PathBuf], rules: &mut Rules) {
        for path in paths {
            if is_ignore_file(path) {
                self.rules_changed = true;
            }
            if let Some(stamp) = self.files.get_mut(path) {
                *stamp = std::fs::symlink_metadata(path).ok().map(|m| Stamp::of(&m));
                continue;
            }
            let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
                continue;
            };
            let Some(root) = self
                .targets
                .iter()
                .find(|t| path.starts_with(&t.path))
                .map(|t| t.root)
            else {
                continue;
            };
            let Some(listing) = self.dirs.get_mut(parent) else {
                continue;
            };
            match std::fs::symlink_metadata(path) {
                Ok(metadata) => {
                    let entry = Entry::Counts(Stamp::of(&metadata));
                    listing.insert(name.to_owned(), Slot { entry, seen: false });
                    if metadata.is_dir() && !self.dirs.contains_key(path) {
                        let mut found = HashMap::new();
                        Walk {
                            root,
                            rules,
                            old: &mut HashMap::new(),
                            new: &mut found,
                            ask_all: true,
                            changes: None,
                            others: &[],
                        }
                        .dir(path);
                        self.dirs.extend(found);
                    }
                }
                Err(_) => {
                    listing.remove(name);
                    self.dirs.retain(|dir, _| !dir.starts_with(path));
                }
            }
        }
    }

    /// Walks the targets, bringing the snapshot up to date; with
    /// `changes`, collects what differs from it.
    fn look(&mut self, rules: &mut Rules, mut changes: Option<&mut Vec<(PathBuf, EventKind)>>) {
        let ask_all = std::mem::take(&mut self.rules_changed);
        let mut old = std::mem::take(&mut self.dirs);
        let mut new = HashMap::with_capacity(old.len());
        for target in &self.targets {
            // The target itself: a `-w` file, or a directory that may be
            // gone or made anew (the watches then look for it).
            let found = std::fs::symlink_metadata(&target.path).ok();
            let stamp = found.as_ref().map(Stamp::of);
            let before = self.files.insert(target.path.clone(), stamp).flatten();
            let kind = match (before, stamp) {
                (None, Some(after)) => Some(created(&after)),
                (Some(before), None) => Some(removed(&before)),
                (Some(before), Some(after)) if before.is_dir || after.is_dir => {
                    (before.inode != after.inode || before.is_dir != after.is_dir)
                        .then(|| created(&after))
                }
                (Some(before), Some(after)) => (before != after)
                    .then_some(EventKind::Modify(ModifyKind::Data(DataChange::Any))),
                (None, None) => None,
            };
            if let (Some(changes), Some(kind)) = (changes.as_deref_mut(), kind) {
                changes.push((target.path.clone(), kind));
            }
            if stamp.is_some_and(|s| s.is_dir) {
                Walk {
                    root: target.root,
                    rules: &mut *rules,
                    old: &mut old,
                    new: &mut new,
                    ask_all,
                    changes: changes.as_deref_mut(),
                    others: &self.targets,
                }
                .dir(&target.path);
            }
        }
        self.dirs = new;
    }
}

/// The event for `stamp`'s path appearing.
fn created(stamp: &Stamp) -> EventKind {
    EventKind::Create(if stamp.is_dir {
        CreateKind::Folder
    } else {
        CreateKind::File
    })
}

/// The event for `stamp`'s path going.
fn removed(stamp: &Stamp) -> EventKind {
    EventKind::Remove(if stamp.is_dir {
        RemoveKind::Folder
    } else {
        RemoveKind::File
    })
}

/// `duration` rounded up to a tenth of a second, for the line that says the
/// interval grew.
fn round_up(duration: Duration) -> Duration {
    let tenths = duration.as_nanos().div_ceil(100_000_000);
    Duration::from_millis(u64::try_from(tenths * 100).unwrap_or(u64::MAX))
}

/// One walk of a tree below a `-w` directory.
struct Walk<'a> {
    /// The `-w` path, by index.
    root: usize,
    rules: &'a mut Rules,
    /// The listings of the last scan; taken out as the walk reaches them.
    old: &'a mut HashMap<PathBuf, Listing>,
    /// The listings made.
    new: &'a mut HashMap<PathBuf, Listing>,
    /// Ask the rules about every entry, not only the new ones (they
    /// changed); what appears or vanishes then is not a change.
    ask_all: bool,
    /// Where the differences go, if anywhere.
    changes: Option<&'a mut Vec<(PathBuf, EventKind)>>,
    /// Every target: a directory that is another target is left to
    /// that target's walk, so that nothing is walked twice.
    others: &'a [Target],
}

impl Walk<'_> {
    /// Lists `top` and every directory below it that counts. Links are not
    /// followed.
    fn dir(&mut self, top: &Path) {
        let mut stack = vec![top.to_owned()];
        while let Some(dir) = stack.pop() {
            let mut listing = self.old.remove(&dir).unwrap_or_default();
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                let name = entry.file_name();
                let slot = listing.get_mut(&name);
                let was = slot.as_ref().map(|slot| slot.entry);
                let counts = match was {
                    Some(Entry::Counts(_)) if !self.ask_all => true,
                    Some(Entry::Left) if !self.ask_all => false,
                    _ => {
                        let path = dir.join(&name);
                        !self.rules.ignores_entry(self.root, &path, kind.is_dir())
                            && (kind.is_dir() || self.rules.passes(&path, Kind::File))
                    }
                };
                let now = if counts {
                    let Ok(metadata) = entry.metadata() else {
                        continue;
                    };
                    Entry::Counts(Stamp::of(&metadata))
                } else {
                    if was.is_none() && !self.ask_all && self.changes.is_some() {
                        // New and ignored: the rules keep the first such
                        // change of a source that did not exist before, to
                        // be said.
                        let path = dir.join(&name);
                        let what = if kind.is_dir() { Kind::Dir } else { Kind::File };
                        self.rules.counts(&path, what);
                    }
                    Entry::Left
                };
                match slot {
                    Some(slot) => {
                        *slot = Slot {
                            entry: now,
                            seen: true,
                        }
                    }
                    None => {
                        listing.insert(
                            name.clone(),
                            Slot {
                                entry: now,
                                seen: true,
                            },
                        );
                    }
                }
                let Entry::Counts(stamp) = now else {
                    continue;
                };
                let change = match was {
                    Some(Entry::Counts(before)) if before == stamp => None,
                    // Replaced: made anew in its place.
                    Some(Entry::Counts(before)) if before.is_dir || stamp.is_dir => {
                        Some(created(&stamp))
                    }
                    Some(Entry::Counts(_)) => {
                        Some(EventKind::Modify(ModifyKind::Data(DataChange::Any)))
                    }
                    _ if self.ask_all => None,
                    _ => Some(created(&stamp)),
                };
                if stamp.is_dir || change.is_some() {
                    let path = dir.join(&name);
                    if let (Some(changes), Some(change)) = (self.changes.as_deref_mut(), change) {
                        changes.push((path.clone(), change));
                    }
                    if stamp.is_dir && !self.others.iter().any(|t| t.path == path) {
                        stack.push(path);
                    }
                }
            }
            let mut changes = self.changes.as_deref_mut().filter(|_| !self.ask_all);
            listing.retain(|name, slot| {
                if std::mem::replace(&mut slot.seen, false) {
                    return true;
                }
                if let (Some(changes), Entry::Counts(stamp)) = (changes.as_deref_mut(), slot.entry)
                {
                    changes.push((dir.join(name), removed(&stamp)));
                }
                false
            });
            self.new.insert(dir, listing);
        }
    }
}
