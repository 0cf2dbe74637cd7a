//! Where the watches go, and how they follow the tree.
//!
//! inotify watches one directory per watch, so on Linux the tree is walked
//! with the ignore rules and only directories whose changes can count get
//! a watch: an ignored `target/` costs one check, not one watch (and one
//! kernel allocation) per directory inside it, and a directory systemfd may
//! not read is never opened when it is ignored. The watches then follow the
//! tree: new directories are watched (and read, for files made before
//! their watch), removed ones dropped, and an edited ignore file re-places
//! the watches below it once the edit has settled. FSEvents is recursive by
//! nature, so elsewhere each `-w` directory gets one recursive watch.
//! Everywhere, a `-w` directory that disappears is looked for until it
//! comes back, then watched again; so is one replaced without an event.

use std::collections::BTreeSet;
use std::ops::Bound;
use std::path::{Path, PathBuf};

use notify::event::{ModifyKind, RenameMode};
use notify::{EventKind, RecursiveMode};

use super::notices::{self, Notices};
use super::rules::{is_ignore_file, Kind, Rules};

/// One watch per directory where the backend watches one directory per
/// watch (inotify); one recursive watch per `-w` directory elsewhere.
const PER_DIRECTORY: bool = cfg!(target_os = "linux");

/// The watches in place. Each method that changes them takes the backend
/// and the rules; the `-w` paths are the rules' roots, in the same order.
pub(super) struct Placement {
    /// Per `-w` path, in order.
    roots: Vec<RootState>,
    /// Watched directories: every one on Linux, the `-w` directories (and
    /// the directories of `-w` files) elsewhere.
    dirs: BTreeSet<PathBuf>,
    /// Watched directories whose ignore files changed since the last
    /// batch, placed anew once changes settle.
    stale: BTreeSet<PathBuf>,
    notices: Notices,
}

/// What is known of one `-w` path's watch.
struct RootState {
    /// The path as given, for messages.
    given: PathBuf,
    /// Its directory is gone and is looked for.
    missing: bool,
    /// The directory watched, to tell it from one made in its place.
    identity: Option<Identity>,
}

impl Placement {
    /// No watches yet for the `-w` paths `given`.
    pub(super) fn new(given: Vec<PathBuf>, notices: Notices) -> Placement {
        Placement {
            roots: given
                .into_iter()
                .map(|given| RootState {
                    given,
                    missing: false,
                    identity: None,
                })
                .collect(),
            dirs: BTreeSet::new(),
            stale: BTreeSet::new(),
            notices,
        }
    }

    /// Watches every `-w` path. Fails on the first that cannot be watched
    /// at all, naming it; directories below it that cannot be watched are
    /// only warned about.
    pub(super) fn place_all(
        &mut self,
        watcher: &mut dyn notify::Watcher,
        rules: &mut Rules,
    ) -> anyhow::Result<()> {
        for index in 0..self.roots.len() {
            if let Err(err) = self.place(watcher, rules, index) {
                return Err(notices::cannot_watch(
                    &self.roots[index].given,
                    err,
                    self.dirs.len(),
                ));
            }
        }
        Ok(())
    }

    /// Whether `dir` has a watch of its own (on Linux, every watched
    /// directory; elsewhere the `-w` directories).
    pub(super) fn watches(&self, dir: &Path) -> bool {
        self.dirs.contains(dir)
    }

    /// Whether a `-w` path is gone and must be looked for.
    pub(super) fn any_missing(&self) -> bool {
        self.roots.iter().any(|root| root.missing)
    }

    /// Whether there is work for [`Placement::settle`].
    pub(super) fn unsettled(&self) -> bool {
        !self.stale.is_empty()
    }

    /// Reports an error the backend sent instead of an event.
    pub(super) fn backend_failed(&self, err: notify::Error) {
        self.notices.backend_failed(err, self.dirs.len());
    }

    /// Moves the watches along with `event`. Returns the files found in new
    /// directories, made before any watch could see them, and the `-w`
    /// paths watched anew; all count as changed.
    pub(super) fn follow(
        &mut self,
        watcher: &mut dyn notify::Watcher,
        rules: &mut Rules,
        event: &notify::Event,
    ) -> Vec<PathBuf> {
        let mut changed = Vec::new();
        if event.need_rescan() {
            // Events were lost, and directories made or removed among them.
            for index in 0..self.roots.len() {
                let target = rules.roots()[index].target().to_owned();
                self.rewalk(watcher, rules, &target);
            }
        }
        if matches!(event.kind, EventKind::Access(_)) {
            // Reading a file moves nothing (and reading ignore files is
            // what placing watches does).
            return changed;
        }
        let paths = &event.paths;
        match event.kind {
            EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(RenameMode::From)) => {
                for path in paths {
                    self.drop_under(watcher, path);
                }
            }
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
                if let [from, to] = paths.as_slice() {
                    self.drop_under(watcher, from);
                    self.add(watcher, rules, to, &mut changed);
                }
            }
            EventKind::Create(_) | EventKind::Modify(ModifyKind::Name(_)) => {
                for path in paths {
                    if path.is_dir() {
                        self.add(watcher, rules, path, &mut changed);
                    } else {
                        self.drop_under(watcher, path);
                    }
                }
            }
            // A directory skipped as unreadable may have been made readable.
            EventKind::Modify(ModifyKind::Metadata(_)) => {
                for path in paths {
                    self.add(watcher, rules, path, &mut changed);
                }
            }
            _ => {}
        }
        if PER_DIRECTORY {
            for path in paths.iter().filter(|path| is_ignore_file(path)) {
                if let Some(dir) = path.parent() {
                    // Placed anew once the writing is over: a file being
                    // written may be read half-written (empty, just after
                    // it was truncated).
                    self.stale.insert(dir.to_owned());
                }
            }
        }
        self.check_roots(watcher, rules, &mut changed);
        changed
    }

    /// Once changes have settled: places the watches below edited ignore
    /// files anew, and notices `-w` directories removed or replaced without
    /// an event of their own (inotify reports a directory's removal only
    /// once nothing holds it, and systemfd's own current directory is held
    /// with `-w .`, as is any directory a shell or editor is in). Returns
    /// the `-w` paths watched anew, which count as changed.
    pub(super) fn settle(
        &mut self,
        watcher: &mut dyn notify::Watcher,
        rules: &mut Rules,
    ) -> Vec<PathBuf> {
        for dir in std::mem::take(&mut self.stale) {
            if self.dirs.contains(&dir) {
                self.rewalk(watcher, rules, &dir);
            }
        }
        for index in 0..self.roots.len() {
            let target = rules.roots()[index].target().to_owned();
            let root = &self.roots[index];
            if !root.missing && identity(&target) != root.identity {
                self.drop_under(watcher, &target);
            }
        }
        let mut changed = Vec::new();
        self.check_roots(watcher, rules, &mut changed);
        changed
    }

    /// Watches the missing `-w` paths that have come back. Returns their
    /// paths, which count as changed.
    pub(super) fn look_for_missing(
        &mut self,
        watcher: &mut dyn notify::Watcher,
        rules: &mut Rules,
    ) -> Vec<PathBuf> {
        let mut changed = Vec::new();
        for index in 0..self.roots.len() {
            if self.roots[index].missing && rules.roots()[index].target().is_dir() {
                self.roots[index].missing = false;
                self.notices.back(&self.roots[index].given);
                self.replace(watcher, rules, index, &mut changed);
            }
        }
        changed
    }

    /// Watches `-w` path number `index`: its directory (a file is watched
    /// through its directory), and on Linux every wanted directory below.
    /// Fails when the directory itself cannot be watched, or at the limit.
    fn place(
        &mut self,
        watcher: &mut dyn notify::Watcher,
        rules: &mut Rules,
        index: usize,
    ) -> notify::Result<()> {
        let root = &rules.roots()[index];
        let target = root.target().to_owned();
        let recursive = root.is_dir() && !PER_DIRECTORY;
        let walk = root.is_dir() && !recursive;
        if !self.dirs.contains(&target) {
            let mode = if recursive {
                RecursiveMode::Recursive
            } else {
                RecursiveMode::NonRecursive
            };
            watcher.watch(&target, mode)?;
            self.dirs.insert(target.clone());
        }
        self.roots[index].identity = identity(&target);
        if walk {
            self.walk(watcher, rules, &target, None)?;
        }
        Ok(())
    }

    /// Watches `dir` and every wanted directory below it that has no watch
    /// yet, reading each after its watch is placed; with `files`, collects
    /// the files found whose change counts, which were made before any
    /// watch could see them. Only the watch limit stops it: a directory
    /// that cannot be watched or read is skipped with a warning.
    fn walk(
        &mut self,
        watcher: &mut dyn notify::Watcher,
        rules: &mut Rules,
        dir: &Path,
        mut files: Option<&mut Vec<PathBuf>>,
    ) -> notify::Result<()> {
        let mut stack = vec![dir.to_owned()];
        while let Some(dir) = stack.pop() {
            if !self.dirs.contains(&dir) {
                match watcher.watch(&dir, RecursiveMode::NonRecursive) {
                    Ok(()) => {
                        self.dirs.insert(dir.clone());
                    }
                    Err(err) if matches!(err.kind, notify::ErrorKind::MaxFilesWatch) => {
                        return Err(err)
                    }
                    Err(err) => {
                        self.skip(&dir, &notices::reason(&err));
                        continue;
                    }
                }
            }
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(err) => {
                    self.skip(&dir, &err.to_string());
                    continue;
                }
            };
            for entry in entries.flatten() {
                // Not followed: a link to a directory is not a directory
                // here, so a link cannot lead the walk in circles.
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                let path = entry.path();
                if kind.is_dir() {
                    if rules.wants_dir(&path) {
                        stack.push(path);
                    }
                } else if let Some(files) = files.as_deref_mut() {
                    if rules.counts(&path, Kind::File) {
                        files.push(path);
                    }
                }
            }
        }
        Ok(())
    }

    /// Warns that `dir` is not watched, unless it has gone in the meantime
    /// (nothing to watch then).
    fn skip(&mut self, dir: &Path, reason: &str) {
        if dir.exists() {
            self.notices.not_watching(dir, reason);
        }
    }

    /// Watches a directory that has appeared at `path`, if it is wanted.
    fn add(
        &mut self,
        watcher: &mut dyn notify::Watcher,
        rules: &mut Rules,
        path: &Path,
        changed: &mut Vec<PathBuf>,
    ) {
        if !PER_DIRECTORY || self.dirs.contains(path) || !path.is_dir() || !rules.wants_dir(path) {
            return;
        }
        let is_link = path.symlink_metadata().is_ok_and(|m| m.is_symlink());
        if is_link {
            return;
        }
        if let Err(err) = self.walk(watcher, rules, path, Some(changed)) {
            self.notices.following_failed(err, self.dirs.len());
        }
    }

    /// Forgets the watches at and below `path`, which is gone. The backend
    /// has usually dropped them already; a directory moved out of the tree
    /// keeps its watch until it is removed here.
    fn drop_under(&mut self, watcher: &mut dyn notify::Watcher, path: &Path) {
        for dir in self.under(path) {
            self.dirs.remove(&dir);
            let _ = watcher.unwatch(&dir);
        }
    }

    /// The watched directories at and below `path`. Paths order by
    /// component, so they follow `path` in one run.
    fn under(&self, path: &Path) -> Vec<PathBuf> {
        self.dirs
            .range::<Path, _>((Bound::Included(path), Bound::Unbounded))
            .take_while(|dir| dir.starts_with(path))
            .cloned()
            .collect()
    }

    /// Places the watches at and below `dir` again, after its ignore rules
    /// changed or events were lost: directories now ignored or gone lose
    /// their watch, newly wanted ones get one.
    fn rewalk(&mut self, watcher: &mut dyn notify::Watcher, rules: &mut Rules, dir: &Path) {
        if !PER_DIRECTORY {
            return;
        }
        for d in self.under(dir) {
            if self.dirs.contains(&d) && (!d.is_dir() || !rules.wants_dir(&d)) {
                self.drop_under(watcher, &d);
            }
        }
        if self.dirs.contains(dir) {
            if let Err(err) = self.walk(watcher, rules, dir, None) {
                self.notices.following_failed(err, self.dirs.len());
            }
        }
    }

    /// Notices `-w` paths whose directory has lost its watch: watched again
    /// at once when it is back already (deleted and made again between two
    /// events), otherwise reported and looked for.
    fn check_roots(
        &mut self,
        watcher: &mut dyn notify::Watcher,
        rules: &mut Rules,
        changed: &mut Vec<PathBuf>,
    ) {
        for index in 0..self.roots.len() {
            let target = rules.roots()[index].target();
            if self.roots[index].missing || self.dirs.contains(target) {
                continue;
            }
            if target.is_dir() {
                self.replace(watcher, rules, index, changed);
            } else {
                self.roots[index].missing = true;
                self.notices.gone(&self.roots[index].given);
            }
        }
    }

    /// Watches `-w` path `index` again; it counts as changed.
    fn replace(
        &mut self,
        watcher: &mut dyn notify::Watcher,
        rules: &mut Rules,
        index: usize,
        changed: &mut Vec<PathBuf>,
    ) {
        let target = rules.roots()[index].target().to_owned();
        rules.forget(&target);
        if let Err(err) = self.place(watcher, rules, index) {
            let held = self.dirs.len();
            self.notices
                .cannot_watch_again(&self.roots[index].given, err, held);
        }
        changed.push(rules.roots()[index].path().to_owned());
    }
}

/// What tells a directory from another made at the same path.
type Identity = (u64, u64);

/// What tells the directory at `path` from another made in its place
/// (device and inode; on Windows volume and file index), if there is one.
fn identity(path: &Path) -> Option<Identity> {
    std::fs::metadata(path)
        .ok()?
        .is_dir()
        .then(|| crate::sys::file_id(path).ok())
        .flatten()
}
