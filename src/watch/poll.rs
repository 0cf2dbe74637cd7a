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
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use notify::event::{CreateKind, DataChange, ModifyKind, RemoveKind};
use notify::EventKind;

use super::rules::{is_ignore_file, Rules};

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

/// The state of the polled trees and when to look again.
pub(super) struct Poller {
    targets: Vec<Target>,
    /// The interval asked for.
    interval: Duration,
    /// The interval in use: longer when scans take long.
    every: Duration,
    due: Instant,
    /// Every path that counts, as the last scan (or an event since) left it.
    snapshot: HashMap<PathBuf, Stamp>,
    /// The ignore rules changed since the last scan: paths that appear or
    /// vanish because of that are taken in silently.
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
    pub(super) fn new(targets: Vec<Target>, interval: Duration, rules: &mut Rules) -> Poller {
        let mut poller = Poller {
            targets,
            interval,
            every: interval,
            due: Instant::now(),
            snapshot: HashMap::new(),
            rules_changed: false,
            stretched: None,
        };
        poller.snapshot = poller.look(rules);
        poller.due = Instant::now() + interval;
        poller
    }

    /// When the next scan is due.
    pub(super) fn due(&self) -> Instant {
        self.due
    }

    /// The interval in use.
    pub(super) fn every(&self) -> Duration {
        self.every
    }

    /// Scans now: the changes since the last scan, as events. The next scan
    /// is due an interval from the end of this one, or later when this one
    /// took long.
    pub(super) fn scan(&mut self, rules: &mut Rules) -> Scan {
        let started = Instant::now();
        let now = self.look(rules);
        let old = std::mem::replace(&mut self.snapshot, now);
        let silent = std::mem::take(&mut self.rules_changed);
        let mut events = Vec::new();
        let mut paths: Vec<&PathBuf> = self.snapshot.keys().chain(old.keys()).collect();
        paths.sort_unstable();
        paths.dedup();
        for path in paths {
            let event = match (old.get(path), self.snapshot.get(path)) {
                (None, Some(_)) if silent => continue,
                (Some(_), None) if silent => continue,
                (None, Some(stamp)) => EventKind::Create(if stamp.is_dir {
                    CreateKind::Folder
                } else {
                    CreateKind::File
                }),
                (Some(stamp), None) => EventKind::Remove(if stamp.is_dir {
                    RemoveKind::Folder
                } else {
                    RemoveKind::File
                }),
                (Some(before), Some(after)) if before != after => {
                    if before.is_dir != after.is_dir || after.is_dir {
                        // Replaced: made anew in its place.
                        EventKind::Create(if after.is_dir {
                            CreateKind::Folder
                        } else {
                            CreateKind::File
                        })
                    } else {
                        EventKind::Modify(ModifyKind::Data(DataChange::Any))
                    }
                }
                _ => continue,
            };
            events.push(notify::Event::new(event).add_path(path.clone()));
        }
        let took = started.elapsed();
        self.every = self.interval.max(took.saturating_mul(SHARE));
        let stretched = (self.every > self.interval && self.stretched.is_none()).then(|| {
            self.stretched = Some(self.every);
            self.every
        });
        self.due = Instant::now() + self.every;
        Scan { events, stretched }
    }

    /// Takes into the snapshot the state of `paths`, which events reported
    /// as changed, so that the next scan does not report them again: a
    /// path gone is dropped with everything below it, a directory read
    /// whole.
    pub(super) fn refresh(&mut self, paths: &[PathBuf], rules: &mut Rules) {
        for path in paths {
            if is_ignore_file(path) {
                self.rules_changed = true;
            }
            let Some(index) = self.targets.iter().position(|t| path.starts_with(&t.path)) else {
                continue;
            };
            let root = self.targets[index].root;
            match std::fs::symlink_metadata(path) {
                Ok(metadata) if metadata.is_dir() => {
                    let mut found = HashMap::new();
                    walk(root, path, rules, &mut found);
                    self.snapshot.extend(found);
                }
                Ok(metadata) => {
                    self.snapshot.insert(path.clone(), Stamp::of(&metadata));
                }
                Err(_) => self.snapshot.retain(|known, _| !known.starts_with(path)),
            }
        }
    }

    /// Every path under the targets that counts, with its stamp.
    fn look(&self, rules: &mut Rules) -> HashMap<PathBuf, Stamp> {
        let mut found = HashMap::with_capacity(self.snapshot.len());
        for target in &self.targets {
            match std::fs::symlink_metadata(&target.path) {
                Ok(metadata) if metadata.is_dir() => {
                    walk(target.root, &target.path, rules, &mut found);
                }
                Ok(metadata) => {
                    found.insert(target.path.clone(), Stamp::of(&metadata));
                }
                // Gone: reported as removed; the watches look for it.
                Err(_) => {}
            }
        }
        found
    }
}

/// Adds to `found` the directory `dir` (below `-w` path number `root`)
/// and every path under it that counts. Links are not followed.
fn walk(root: usize, dir: &Path, rules: &mut Rules, found: &mut HashMap<PathBuf, Stamp>) {
    if let Ok(metadata) = std::fs::symlink_metadata(dir) {
        found.insert(dir.to_owned(), Stamp::of(&metadata));
    }
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            let is_dir = kind.is_dir();
            if rules.ignores_entry(root, &path, is_dir) {
                continue;
            }
            if is_dir {
                if let Ok(metadata) = entry.metadata() {
                    found.insert(path.clone(), Stamp::of(&metadata));
                }
                stack.push(path);
            } else if rules.passes(&path, super::rules::Kind::File) {
                if let Ok(metadata) = entry.metadata() {
                    found.insert(path, Stamp::of(&metadata));
                }
            }
        }
    }
}
