//! Watching files for supervise mode: which changes restart the command.
//!
//! The `notify` crate reports changes under every `--watch` path (inotify on
//! Linux, FSEvents on macOS, kqueue on the BSDs: no polling). A change counts
//! unless it is ignored by:
//! - systemfd's own private directory (the readiness sockets);
//! - a built-in list: version-control directories and editor swap files;
//! - `--ignore` patterns, in `.gitignore` syntax, relative to the current
//!   directory (a `!pattern` re-includes what an ignore file excludes);
//! - `.ignore` and `.gitignore` files in the watched directories and their
//!   parents, up to the top of the Git repository that holds them (the
//!   nearest directory with a `.git`), or up to the watched directory outside
//!   a repository. A deeper file overrides a shallower one, `.ignore`
//!   overrides `.gitignore`, and nothing inside an ignored directory counts,
//!   so `target/` in a cargo project's `.gitignore` silences the build.
//!
//! A path named by `-w` is watched even when an ignore rule covers it: only
//! what lies below it is filtered. Counted changes are debounced: the restart
//! comes once no counted change has arrived for the debounce period.
//!
//! Where the watches go decides what watching costs. inotify watches one
//! directory per watch, so on Linux the tree is walked with the same rules
//! and only directories whose changes can count get a watch: an ignored
//! `target/` or `node_modules/` costs one check, not one watch (and one
//! kernel allocation) per directory inside it, and a directory systemfd may
//! not read is never opened when it is ignored. The watches then follow the
//! tree: new directories are watched (and read, for files made before their
//! watch), removed ones dropped, and an edited ignore file re-places the
//! watches below it. FSEvents is recursive by nature, so elsewhere each
//! watched directory gets one recursive watch and ignored changes are
//! filtered as they arrive. Everywhere, a watched directory that disappears
//! is looked for until it comes back, then watched again.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::Match;
use notify::event::{CreateKind, ModifyKind, RemoveKind, RenameMode};
use notify::{EventKind, RecursiveMode};

use crate::output::Printer;

/// Ignored wherever they are: version control, editor swap and backup files.
const BUILT_IN: &[&str] = &[
    ".git/",
    ".hg/",
    ".svn/",
    ".jj/",
    "*.swp",
    "*.swx",
    "*~",
    ".#*",
    ".DS_Store",
];

/// The files that hold ignore rules, strongest first.
const IGNORE_FILES: [&str; 2] = [".ignore", ".gitignore"];

/// One watch per directory where the backend watches one directory per
/// watch (inotify); one recursive watch per `-w` directory elsewhere.
const PER_DIRECTORY: bool = cfg!(target_os = "linux");

/// How often a `-w` path that has disappeared is looked for. A stat call
/// per missing path, and only while one is missing.
const MISSING_POLL: Duration = Duration::from_millis(100);

/// A debounced batch of changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The first changed path, relative to the current directory when under it.
    pub path: PathBuf,
    /// How many other paths changed in the same batch.
    pub more: usize,
}

/// What to watch and what to ignore.
#[derive(Debug)]
pub struct Settings<'a> {
    /// The `--watch` paths; each exists.
    pub paths: &'a [PathBuf],
    /// The `--ignore` patterns.
    pub ignores: &'a [String],
    pub debounce: Duration,
    /// Directories whose changes never count (systemfd's own).
    pub exclude: Vec<PathBuf>,
}

/// Watches until dropped.
pub struct Watcher {
    /// The watching thread holds a weak reference: dropping this one ends
    /// the backend, which closes its channel, which ends the thread.
    _inner: Arc<Mutex<notify::RecommendedWatcher>>,
}

/// Starts watching; `on_change` is called on a thread of its own for every
/// debounced batch of counted changes, until it returns `false`.
pub fn start(
    settings: Settings<'_>,
    printer: Printer,
    mut on_change: impl FnMut(Change) -> bool + Send + 'static,
) -> Result<Watcher> {
    let base = std::env::current_dir()
        .and_then(canonicalize)
        .context("cannot read the current directory")?;
    let mut roots = Vec::new();
    for path in settings.paths {
        let canonical =
            canonicalize(path).with_context(|| format!("cannot watch {}", path.display()))?;
        roots.push(canonical);
    }
    let exclude = settings
        .exclude
        .iter()
        .map(|p| canonicalize(p).unwrap_or_else(|_| p.clone()))
        .collect();
    let mut rules = Rules::new(&roots, settings.ignores, &base, exclude)?;

    let (tx, rx) = mpsc::channel();
    let mut inner = notify::recommended_watcher(tx).context("cannot start watching files")?;
    let mut placement = Placement::new(settings.paths.to_vec(), base.clone(), printer);
    for index in 0..settings.paths.len() {
        placement
            .place(&mut inner, &mut rules, index)
            .map_err(|err| placement.explain(err))
            .with_context(|| format!("cannot watch {}", settings.paths[index].display()))?;
    }

    let inner = Arc::new(Mutex::new(inner));
    let mut state = State {
        rules,
        placement,
        watcher: Arc::downgrade(&inner),
    };
    let debounce = settings.debounce;
    std::thread::Builder::new()
        .name("watch".into())
        .spawn(move || loop {
            let Some(batch) = next_batch(&rx, &mut state, debounce) else {
                return;
            };
            let mut paths = batch.into_iter();
            let first = paths.next().expect("a batch is never empty");
            let path = match first.strip_prefix(&base) {
                // The current directory itself (a rescan, `-w .` back again).
                Ok(relative) if relative.as_os_str().is_empty() => PathBuf::from("."),
                Ok(relative) => relative.to_owned(),
                Err(_) => first.clone(),
            };
            let change = Change {
                path,
                more: paths.len(),
            };
            if !on_change(change) {
                return;
            }
        })
        .context("cannot start the watching thread")?;
    Ok(Watcher { _inner: inner })
}

/// What the watching thread keeps between events.
struct State {
    rules: Rules,
    placement: Placement,
    watcher: Weak<Mutex<notify::RecommendedWatcher>>,
}

impl State {
    /// The paths of `event` that count, after the watches have followed it:
    /// files found in a new directory count too.
    fn follow(&mut self, event: &notify::Event) -> Vec<PathBuf> {
        let counted = self.rules.counted(event);
        self.place(counted, |placement, watcher, rules, counted| {
            placement.follow(watcher, rules, event, counted)
        })
    }

    /// Brings the watches up to date once changes have settled; a
    /// replaced `-w` directory is watched anew and counts.
    fn settle(&mut self) -> Vec<PathBuf> {
        self.place(Vec::new(), Placement::settle)
    }

    /// Watches the `-w` paths that have come back; their paths count.
    fn look_for_missing(&mut self) -> Vec<PathBuf> {
        self.place(Vec::new(), Placement::look_for_missing)
    }

    /// Runs `change` on the placement with the backend, unless the backend
    /// is gone (systemfd is stopping); returns `counted` with what it added.
    fn place(
        &mut self,
        mut counted: Vec<PathBuf>,
        change: impl FnOnce(&mut Placement, &mut dyn notify::Watcher, &mut Rules, &mut Vec<PathBuf>),
    ) -> Vec<PathBuf> {
        if let Some(watcher) = self.watcher.upgrade() {
            let mut watcher = watcher.lock().unwrap_or_else(PoisonError::into_inner);
            change(
                &mut self.placement,
                &mut *watcher,
                &mut self.rules,
                &mut counted,
            );
        }
        counted
    }
}

/// The longest a batch gathers changes after its first one: a file that is
/// rewritten without pause (a log, build output that is not ignored) must
/// not put off the restart for ever.
fn batch_limit(debounce: Duration) -> Duration {
    debounce.saturating_mul(10).max(Duration::from_secs(1))
}

/// The absolute path with every link resolved, in the form a user reads:
/// on Windows without the `\\?\` prefix that `fs::canonicalize` gives, when
/// the path means the same without it (a drive path or a share, short
/// enough). The changes are reported under the paths watched.
fn canonicalize(path: impl AsRef<Path>) -> std::io::Result<PathBuf> {
    let canonical = std::fs::canonicalize(path)?;
    #[cfg(windows)]
    if let Some(text) = canonical.to_str() {
        let plain = if let Some(share) = text.strip_prefix(r"\\?\UNC\") {
            Some(format!(r"\\{share}"))
        } else if let Some(drive) = text.strip_prefix(r"\\?\") {
            let bytes = drive.as_bytes();
            (bytes.len() >= 3 && bytes[0].is_ascii_alphabetic() && &bytes[1..3] == br":\")
                .then(|| drive.to_owned())
        } else {
            None
        };
        // Longer paths need the prefix.
        if let Some(plain) = plain.filter(|p| p.len() < 260) {
            return Ok(PathBuf::from(plain));
        }
    }
    Ok(canonical)
}

/// Waits for a counted change, then gathers more until the debounce period
/// passes without one, or [`batch_limit`] after the first, then brings the
/// watches up to date. `None` once the watcher is gone.
fn next_batch(
    rx: &mpsc::Receiver<notify::Result<notify::Event>>,
    state: &mut State,
    debounce: Duration,
) -> Option<Vec<PathBuf>> {
    let mut batch: Vec<PathBuf> = Vec::new();
    let mut seen = HashSet::new();
    let mut quiet_until: Option<Instant> = None;
    // When the batch must end, once it has a change.
    let mut cut_at: Option<Instant> = None;
    loop {
        let poll = state.placement.any_missing().then_some(MISSING_POLL);
        let wait = match (quiet_until, poll) {
            (Some(until), poll) => Some(
                until
                    .saturating_duration_since(Instant::now())
                    .min(poll.unwrap_or(Duration::MAX)),
            ),
            (None, poll) => poll,
        };
        let received = match wait {
            None => Some(rx.recv().ok()?),
            Some(wait) => match rx.recv_timeout(wait) {
                Ok(received) => Some(received),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
            },
        };
        let counted = match received {
            None => {
                let mut counted = state.look_for_missing();
                if counted.is_empty() && quiet_until.is_some_and(|until| Instant::now() >= until) {
                    counted = state.settle();
                    if counted.is_empty() {
                        if batch.is_empty() {
                            // Settled changes that did not count.
                            quiet_until = None;
                            continue;
                        }
                        return Some(batch);
                    }
                }
                counted
            }
            Some(Ok(event)) => {
                let counted = state.follow(&event);
                if quiet_until.is_none() && state.placement.unsettled() {
                    quiet_until = Some(Instant::now() + debounce);
                }
                counted
            }
            Some(Err(err)) => {
                let err = state.placement.explain(err);
                state
                    .placement
                    .printer
                    .warn(&format!("watching files: {err:#}"));
                continue;
            }
        };
        if counted.is_empty() {
            continue;
        }
        for path in counted {
            if seen.insert(path.clone()) {
                batch.push(path);
            }
        }
        let now = Instant::now();
        let cut =
            *cut_at.get_or_insert_with(|| now.checked_add(batch_limit(debounce)).unwrap_or(now));
        quiet_until = Some(now.checked_add(debounce).unwrap_or(now).min(cut));
    }
}

/// Where the watches are, and what has been said about the ones that could
/// not be placed.
struct Placement {
    /// The `-w` paths as given, for messages.
    given: Vec<PathBuf>,
    /// Watched directories: every one on Linux, the `-w` directories (and
    /// the directories of `-w` files) elsewhere.
    dirs: BTreeSet<PathBuf>,
    /// Per `-w` path: its directory is gone and is looked for.
    missing: Vec<bool>,
    /// Watched directories whose ignore files changed since the last batch.
    stale: BTreeSet<PathBuf>,
    /// Per `-w` path: the device and inode of the directory watched, to
    /// tell it from one made in its place.
    identity: Vec<Option<(u64, u64)>>,
    /// Directories already warned about, so each is named once.
    warned: HashSet<PathBuf>,
    /// Whether the watch limit has been reported while following the tree.
    limit_warned: bool,
    base: PathBuf,
    printer: Printer,
}

impl Placement {
    fn new(given: Vec<PathBuf>, base: PathBuf, printer: Printer) -> Placement {
        Placement {
            missing: vec![false; given.len()],
            identity: vec![None; given.len()],
            stale: BTreeSet::new(),
            given,
            dirs: BTreeSet::new(),
            warned: HashSet::new(),
            limit_warned: false,
            base,
            printer,
        }
    }

    fn any_missing(&self) -> bool {
        self.missing.contains(&true)
    }

    /// Watches `-w` path number `index`: its directory (a file is watched
    /// through its directory, so that an editor that saves by replacing the
    /// file is still seen), and on Linux every wanted directory below.
    /// Fails when the directory itself cannot be watched, or at the limit.
    fn place(
        &mut self,
        watcher: &mut dyn notify::Watcher,
        rules: &mut Rules,
        index: usize,
    ) -> notify::Result<()> {
        let root = &rules.roots[index];
        let target = root.target().to_owned();
        let recursive = root.is_dir && !PER_DIRECTORY;
        if !self.dirs.contains(&target) {
            let mode = if recursive {
                RecursiveMode::Recursive
            } else {
                RecursiveMode::NonRecursive
            };
            watcher.watch(&target, mode)?;
            self.dirs.insert(target.clone());
        }
        self.identity[index] = identity(&target);
        if root.is_dir && !recursive {
            self.walk(watcher, rules, &target, None)?;
        }
        Ok(())
    }

    /// Whether there is work for [`Placement::settle`].
    fn unsettled(&self) -> bool {
        !self.stale.is_empty()
    }

    /// Once changes have settled: places the watches below edited ignore
    /// files anew, and notices `-w` directories removed or replaced without
    /// an event of their own (inotify reports a directory's removal only
    /// once nothing holds it, and systemfd's own current directory is held
    /// with `-w .`, as is any directory a shell or editor is in).
    fn settle(
        &mut self,
        watcher: &mut dyn notify::Watcher,
        rules: &mut Rules,
        counted: &mut Vec<PathBuf>,
    ) {
        for dir in std::mem::take(&mut self.stale) {
            if self.dirs.contains(&dir) {
                self.rewalk(watcher, rules, &dir);
            }
        }
        for index in 0..self.given.len() {
            let target = rules.roots[index].target().to_owned();
            if !self.missing[index] && identity(&target) != self.identity[index] {
                self.drop_under(watcher, &target);
            }
        }
        self.check_roots(watcher, rules, counted);
    }

    /// Watches `dir` and every wanted directory below it that has no watch
    /// yet, reading each after its watch is placed; with `files`, collects
    /// the counted files found, which were made before any watch could see
    /// them. Only the watch limit stops it: a directory that cannot be
    /// watched or read is skipped with a warning.
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
                        self.skip(&dir, &reason(&err));
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
                    if rules.is_counted(&path) {
                        files.push(path);
                    }
                }
            }
        }
        Ok(())
    }

    /// Says once that `dir` is not watched, unless it has gone in the
    /// meantime (nothing to watch then).
    fn skip(&mut self, dir: &Path, reason: &str) {
        if !dir.exists() || !self.warned.insert(dir.to_owned()) {
            return;
        }
        self.printer.warn(&format!(
            "not watching {}: {reason}; changes in it are not seen",
            self.show(dir)
        ));
    }

    /// Moves the watches along with `event`; files found in new directories
    /// are added to `counted`.
    fn follow(
        &mut self,
        watcher: &mut dyn notify::Watcher,
        rules: &mut Rules,
        event: &notify::Event,
        counted: &mut Vec<PathBuf>,
    ) {
        if event.need_rescan() {
            // Events were lost, and directories made or removed among them.
            for index in 0..self.given.len() {
                let target = rules.roots[index].target().to_owned();
                self.rewalk(watcher, rules, &target);
            }
        }
        if matches!(event.kind, EventKind::Access(_)) {
            // Reading a file moves nothing (and reading ignore files is
            // what placing watches does).
            return;
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
                    self.add(watcher, rules, to, counted);
                }
            }
            EventKind::Create(_) | EventKind::Modify(ModifyKind::Name(_)) => {
                for path in paths {
                    if path.is_dir() {
                        self.add(watcher, rules, path, counted);
                    } else {
                        self.drop_under(watcher, path);
                    }
                }
            }
            _ => {}
        }
        if PER_DIRECTORY {
            for path in paths {
                let is_ignore_file = path
                    .file_name()
                    .is_some_and(|name| IGNORE_FILES.iter().any(|f| name == *f));
                if let (true, Some(dir)) = (is_ignore_file, path.parent()) {
                    // Placed anew once the writing is over: a file being
                    // written may be read half-written (empty, just after
                    // it was truncated).
                    self.stale.insert(dir.to_owned());
                }
            }
        }
        self.check_roots(watcher, rules, counted);
    }

    /// Watches a directory that has appeared at `path`, if it is wanted.
    fn add(
        &mut self,
        watcher: &mut dyn notify::Watcher,
        rules: &mut Rules,
        path: &Path,
        counted: &mut Vec<PathBuf>,
    ) {
        if !PER_DIRECTORY || self.dirs.contains(path) || !path.is_dir() || !rules.wants_dir(path) {
            return;
        }
        let is_link = path.symlink_metadata().is_ok_and(|m| m.is_symlink());
        if is_link {
            return;
        }
        if let Err(err) = self.walk(watcher, rules, path, Some(counted)) {
            self.warn_error(err);
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
                self.warn_error(err);
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
        counted: &mut Vec<PathBuf>,
    ) {
        for index in 0..self.given.len() {
            let target = rules.roots[index].target();
            if self.missing[index] || self.dirs.contains(target) {
                continue;
            }
            if target.is_dir() {
                self.replace(watcher, rules, index, counted);
            } else {
                self.missing[index] = true;
                self.printer.warn(&format!(
                    "{} is gone; it is watched again when it comes back",
                    self.given[index].display()
                ));
            }
        }
    }

    /// Watches the missing `-w` paths that have come back.
    fn look_for_missing(
        &mut self,
        watcher: &mut dyn notify::Watcher,
        rules: &mut Rules,
        counted: &mut Vec<PathBuf>,
    ) {
        for index in 0..self.given.len() {
            if self.missing[index] && rules.roots[index].target().is_dir() {
                self.missing[index] = false;
                self.printer.status(&format!(
                    "{} is back; watching it again",
                    self.given[index].display()
                ));
                self.replace(watcher, rules, index, counted);
            }
        }
    }

    /// Watches `-w` path `index` again; it counts as changed.
    fn replace(
        &mut self,
        watcher: &mut dyn notify::Watcher,
        rules: &mut Rules,
        index: usize,
        counted: &mut Vec<PathBuf>,
    ) {
        rules.forget(rules.roots[index].target().to_owned().as_path());
        if let Err(err) = self.place(watcher, rules, index) {
            let err = self
                .explain(err)
                .context(format!("cannot watch {}", self.given[index].display()));
            self.printer.warn(&format!("{err:#}"));
        }
        counted.push(rules.roots[index].path.clone());
    }

    /// Warns about an error met while following the tree: at the watch
    /// limit, once.
    fn warn_error(&mut self, err: notify::Error) {
        let limit = matches!(err.kind, notify::ErrorKind::MaxFilesWatch);
        if limit && std::mem::replace(&mut self.limit_warned, true) {
            return;
        }
        let err = self.explain(err);
        self.printer.warn(&format!("{err:#}"));
    }

    /// notify's error, in words that say what to do at the watch limit.
    fn explain(&self, err: notify::Error) -> anyhow::Error {
        if matches!(err.kind, notify::ErrorKind::MaxFilesWatch) {
            anyhow::anyhow!(limit_message(watch_limit(), self.dirs.len()))
        } else {
            anyhow::anyhow!(reason(&err))
        }
    }

    /// `path` relative to the current directory when under it.
    fn show(&self, path: &Path) -> String {
        path.strip_prefix(&self.base)
            .unwrap_or(path)
            .display()
            .to_string()
    }
}

/// The device and inode of the directory at `path`, if there is one.
#[cfg(unix)]
fn identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    let metadata = std::fs::metadata(path).ok()?;
    metadata.is_dir().then(|| (metadata.dev(), metadata.ino()))
}

/// The volume and file index of the directory at `path`, if there is one.
#[cfg(windows)]
fn identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path)
        .ok()?
        .is_dir()
        .then(|| crate::sys::file_id(path).ok())
        .flatten()
}

/// A notify error's message, without the list of paths notify appends.
fn reason(err: &notify::Error) -> String {
    match &err.kind {
        notify::ErrorKind::Io(io) => io.to_string(),
        notify::ErrorKind::PathNotFound => "no such file or directory".into(),
        notify::ErrorKind::Generic(text) => text.clone(),
        notify::ErrorKind::WatchNotFound => "no such watch".into(),
        notify::ErrorKind::InvalidConfig(_) => "invalid watcher configuration".into(),
        notify::ErrorKind::MaxFilesWatch => "the watch limit is reached".into(),
    }
}

/// What to say when no more watches can be placed.
fn limit_message(limit: Option<u64>, held: usize) -> String {
    if cfg!(target_os = "linux") {
        let limit = limit.map_or(String::new(), |n| format!(" of {n}"));
        format!(
            "the system's limit{limit} inotify watches per user is reached \
             (systemfd holds {held}, one per watched directory): raise \
             fs.inotify.max_user_watches (sysctl fs.inotify.max_user_watches=524288), \
             or ignore more directories"
        )
    } else {
        format!(
            "the system's limit on watched files is reached (systemfd holds {held} \
             watches): raise it, or ignore more directories"
        )
    }
}

/// The number of inotify watches a user may hold here: the lower of the
/// system-wide setting and this user namespace's.
#[cfg(target_os = "linux")]
fn watch_limit() -> Option<u64> {
    [
        "/proc/sys/fs/inotify/max_user_watches",
        "/proc/sys/user/max_inotify_watches",
    ]
    .iter()
    .filter_map(|file| std::fs::read_to_string(file).ok()?.trim().parse().ok())
    .min()
}

#[cfg(not(target_os = "linux"))]
fn watch_limit() -> Option<u64> {
    None
}

/// One `--watch` path.
#[derive(Debug)]
struct Root {
    path: PathBuf,
    is_dir: bool,
    /// The last directory whose ignore files apply: the top of the Git
    /// repository around `path`, or `path` itself outside one.
    top: PathBuf,
}

impl Root {
    /// The directory that holds the watch: the path, or a file's directory.
    fn target(&self) -> &Path {
        if self.is_dir {
            &self.path
        } else {
            self.path.parent().unwrap_or(&self.path)
        }
    }
}

/// Decides which changed paths count.
#[derive(Debug)]
pub struct Rules {
    roots: Vec<Root>,
    built_in: Gitignore,
    patterns: Gitignore,
    exclude: Vec<PathBuf>,
    /// Parsed ignore files by path; `None` when there is no such file.
    files: HashMap<PathBuf, Option<Gitignore>>,
}

impl Rules {
    /// `roots` are canonical; `--ignore` patterns are relative to `base`.
    pub fn new(
        roots: &[PathBuf],
        patterns: &[String],
        base: &Path,
        exclude: Vec<PathBuf>,
    ) -> Result<Rules> {
        let mut built_in = GitignoreBuilder::new("/");
        for line in BUILT_IN {
            built_in.add_line(None, line)?;
        }
        let mut builder = GitignoreBuilder::new(base);
        for line in patterns {
            builder
                .add_line(None, line)
                .with_context(|| format!("invalid --ignore pattern '{line}'"))?;
        }
        let roots = roots
            .iter()
            .map(|path| {
                let is_dir = path.is_dir();
                let dir = if is_dir {
                    path.as_path()
                } else {
                    path.parent().unwrap_or(path)
                };
                let top = dir
                    .ancestors()
                    .find(|d| d.join(".git").exists())
                    .unwrap_or(dir)
                    .to_owned();
                Root {
                    path: path.clone(),
                    is_dir,
                    top,
                }
            })
            .collect();
        Ok(Rules {
            roots,
            built_in: built_in.build()?,
            patterns: builder.build()?,
            exclude,
            files: HashMap::new(),
        })
    }

    /// The paths of `event` that count as a change.
    pub fn counted(&mut self, event: &notify::Event) -> Vec<PathBuf> {
        if event.need_rescan() {
            // Events were lost: assume the worst.
            return self
                .roots
                .first()
                .map(|r| r.path.clone())
                .into_iter()
                .collect();
        }
        // Opening or reading a file changes nothing.
        if matches!(event.kind, EventKind::Access(_) | EventKind::Other) {
            return Vec::new();
        }
        let moved_or_removed = matches!(
            event.kind,
            EventKind::Remove(_) | EventKind::Modify(notify::event::ModifyKind::Name(_))
        );
        for path in &event.paths {
            let is_ignore_file = path
                .file_name()
                .is_some_and(|name| IGNORE_FILES.iter().any(|f| name == *f));
            if is_ignore_file || moved_or_removed {
                self.forget(path);
            }
        }
        // A removed directory can no longer be looked at; the event says
        // what it was, so that removing an ignored `target/` stays ignored.
        let is_dir = match event.kind {
            EventKind::Create(CreateKind::Folder) | EventKind::Remove(RemoveKind::Folder) => {
                Some(true)
            }
            EventKind::Create(CreateKind::File) | EventKind::Remove(RemoveKind::File) => {
                Some(false)
            }
            _ => None,
        };
        event
            .paths
            .iter()
            .filter(|path| self.counts(path, is_dir))
            .cloned()
            .collect()
    }

    /// Drops what is known about ignore files at or under `path`.
    pub fn forget(&mut self, path: &Path) {
        self.files.retain(|file, _| !file.starts_with(path));
    }

    /// Whether a change to `path` (absolute) counts.
    pub fn is_counted(&mut self, path: &Path) -> bool {
        self.counts(path, None)
    }

    /// Whether the directory `dir` (absolute) needs a watch: changes in it
    /// can count, or it holds a watched file.
    fn wants_dir(&mut self, dir: &Path) -> bool {
        self.counts(dir, Some(true))
            || self
                .roots
                .iter()
                .any(|root| !root.is_dir && root.path.parent() == Some(dir))
    }

    /// Whether a change to `path` counts; `is_dir` is looked up when `None`.
    fn counts(&mut self, path: &Path, is_dir: Option<bool>) -> bool {
        if self.exclude.iter().any(|dir| path.starts_with(dir)) {
            return false;
        }
        for index in 0..self.roots.len() {
            let root = &self.roots[index];
            if !root.is_dir {
                if path == root.path {
                    return true;
                }
                continue;
            }
            let Ok(below) = path.strip_prefix(&root.path) else {
                continue;
            };
            let components: Vec<_> = below.components().collect();
            let (root_path, top) = (root.path.clone(), root.top.clone());
            let mut candidate = root_path;
            let mut ignored = false;
            for (i, component) in components.iter().enumerate() {
                candidate.push(component);
                let is_dir = if i + 1 < components.len() {
                    true
                } else {
                    is_dir.unwrap_or_else(|| candidate.is_dir())
                };
                if self.is_ignored(&candidate, is_dir, &top) {
                    ignored = true;
                    break;
                }
            }
            if !ignored {
                return true;
            }
        }
        false
    }

    /// Whether `path` itself is ignored, whatever its parents are.
    fn is_ignored(&mut self, path: &Path, is_dir: bool, top: &Path) -> bool {
        if self.built_in.matched(path, is_dir).is_ignore() {
            return true;
        }
        match self.patterns.matched(path, is_dir) {
            Match::Ignore(_) => return true,
            Match::Whitelist(_) => return false,
            Match::None => {}
        }
        for dir in path.ancestors().skip(1) {
            for name in IGNORE_FILES {
                let file = self
                    .files
                    .entry(dir.join(name))
                    .or_insert_with_key(|file| load(file));
                match file.as_ref().map(|rules| rules.matched(path, is_dir)) {
                    Some(Match::Ignore(_)) => return true,
                    Some(Match::Whitelist(_)) => return false,
                    _ => {}
                }
            }
            if dir == top {
                break;
            }
        }
        false
    }
}

/// Parses an ignore file; lines that do not parse are skipped, as git does.
fn load(file: &Path) -> Option<Gitignore> {
    if !file.is_file() {
        return None;
    }
    let mut builder = GitignoreBuilder::new(file.parent()?);
    let _ = builder.add(file);
    builder.build().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// A project tree in a temporary directory.
    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        dir
    }

    fn rules(root: &Path, watched: &[&str], patterns: &[&str]) -> Rules {
        let root = fs::canonicalize(root).unwrap();
        let roots: Vec<PathBuf> = watched
            .iter()
            .map(|w| fs::canonicalize(root.join(w)).unwrap())
            .collect();
        let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        Rules::new(&roots, &patterns, &root, Vec::new()).unwrap()
    }

    fn printer() -> Printer {
        Printer::new(crate::config::Output {
            quiet: true,
            color: crate::config::Color::Never,
        })
    }

    fn counted(rules: &mut Rules, root: &Path, path: &str) -> bool {
        let root = fs::canonicalize(root).unwrap();
        rules.is_counted(&root.join(path))
    }

    #[test]
    fn gitignore_at_the_top_silences_the_build_directory() {
        let dir = tree(&[
            (".gitignore", "/target\n*.log\n"),
            ("src/main.rs", ""),
            ("target/debug/app", ""),
        ]);
        fs::create_dir(dir.path().join(".git")).unwrap();
        let mut r = rules(dir.path(), &["."], &[]);
        assert!(counted(&mut r, dir.path(), "src/main.rs"));
        assert!(!counted(&mut r, dir.path(), "target/debug/app"));
        assert!(!counted(
            &mut r,
            dir.path(),
            "target/new-file-not-yet-there"
        ));
        assert!(!counted(&mut r, dir.path(), "src/debug.log"));
        assert!(!counted(&mut r, dir.path(), "target"));
    }

    #[test]
    fn the_repository_top_applies_to_a_watched_subdirectory() {
        let dir = tree(&[(".gitignore", "*.tmp\n"), ("src/a.rs", "")]);
        fs::create_dir(dir.path().join(".git")).unwrap();
        let mut r = rules(dir.path(), &["src"], &[]);
        assert!(counted(&mut r, dir.path(), "src/a.rs"));
        assert!(!counted(&mut r, dir.path(), "src/x.tmp"));
    }

    #[test]
    fn outside_a_repository_parents_do_not_apply() {
        let dir = tree(&[(".gitignore", "*.tmp\n"), ("src/a.rs", "")]);
        let mut r = rules(dir.path(), &["src"], &[]);
        assert!(counted(&mut r, dir.path(), "src/x.tmp"));
    }

    #[test]
    fn deeper_files_and_dot_ignore_take_precedence() {
        let dir = tree(&[
            (".gitignore", "*.gen\n"),
            ("keep/.gitignore", "!*.gen\n"),
            ("sub/.gitignore", "!local.dat\n"),
            ("sub/.ignore", "*.dat\n"),
        ]);
        let mut r = rules(dir.path(), &["."], &[]);
        assert!(!counted(&mut r, dir.path(), "a.gen"));
        assert!(counted(&mut r, dir.path(), "keep/b.gen"));
        assert!(!counted(&mut r, dir.path(), "sub/local.dat"));
        assert!(!counted(&mut r, dir.path(), "sub/other.dat"));
    }

    #[test]
    fn nothing_inside_an_ignored_directory_counts() {
        let dir = tree(&[(".gitignore", "build/\n"), ("build/.gitignore", "!*\n")]);
        let mut r = rules(dir.path(), &["."], &[]);
        assert!(!counted(&mut r, dir.path(), "build/out/x.o"));
    }

    #[test]
    fn ignore_flags_are_gitignore_patterns_relative_to_the_current_directory() {
        let dir = tree(&[(".gitignore", "*.log\n")]);
        let mut r = rules(dir.path(), &["."], &["tmp*", "/docs/", "!keep.log"]);
        assert!(!counted(&mut r, dir.path(), "tmpfile"));
        assert!(!counted(&mut r, dir.path(), "src/tmp/x.rs"));
        assert!(!counted(&mut r, dir.path(), "docs/index.md"));
        assert!(counted(&mut r, dir.path(), "src/docs/index.md"));
        assert!(!counted(&mut r, dir.path(), "a.log"));
        assert!(counted(&mut r, dir.path(), "keep.log"));
    }

    #[test]
    fn built_in_rules_skip_version_control_and_swap_files() {
        let dir = tree(&[]);
        let mut r = rules(dir.path(), &["."], &[]);
        assert!(!counted(&mut r, dir.path(), ".git/index"));
        assert!(!counted(&mut r, dir.path(), "src/.main.rs.swp"));
        assert!(!counted(&mut r, dir.path(), "src/main.rs~"));
        assert!(!counted(&mut r, dir.path(), "src/.#main.rs"));
        assert!(counted(&mut r, dir.path(), "src/main.rs"));
    }

    #[test]
    fn an_explicitly_watched_path_counts_even_if_ignored() {
        let dir = tree(&[
            (".gitignore", "target/\n"),
            ("target/doc/index.html", ""),
            ("notes.txt", ""),
        ]);
        let mut r = rules(dir.path(), &["target/doc", "notes.txt"], &[]);
        assert!(counted(&mut r, dir.path(), "target/doc/index.html"));
        assert!(counted(&mut r, dir.path(), "notes.txt"));
        // A watched file's neighbours do not count.
        assert!(!counted(&mut r, dir.path(), "other.txt"));
        assert!(!counted(&mut r, dir.path(), "target/debug/app"));
    }

    #[test]
    fn own_directories_never_count() {
        let dir = tree(&[("private/notify-1", "")]);
        let root = fs::canonicalize(dir.path()).unwrap();
        let mut r = Rules::new(
            std::slice::from_ref(&root),
            &[],
            &root,
            vec![root.join("private")],
        )
        .unwrap();
        assert!(!r.is_counted(&root.join("private/notify-1")));
        assert!(r.is_counted(&root.join("public")));
    }

    #[test]
    fn an_edited_ignore_file_is_read_again() {
        let dir = tree(&[(".gitignore", "")]);
        let mut r = rules(dir.path(), &["."], &[]);
        assert!(counted(&mut r, dir.path(), "out.bin"));
        fs::write(dir.path().join(".gitignore"), "*.bin\n").unwrap();
        let gitignore = fs::canonicalize(dir.path()).unwrap().join(".gitignore");
        let event = notify::Event::new(EventKind::Modify(notify::event::ModifyKind::Any))
            .add_path(gitignore.clone());
        assert_eq!(r.counted(&event), [gitignore]);
        assert!(!counted(&mut r, dir.path(), "out.bin"));
    }

    #[test]
    fn batches_keep_the_order_drop_repeats_and_skip_ignored_paths() {
        let dir = tree(&[(".gitignore", "*.log\n")]);
        let root = fs::canonicalize(dir.path()).unwrap();
        let printer = printer();
        // No backend: only the filtering and the batching are under test.
        let mut state = State {
            rules: rules(dir.path(), &["."], &[]),
            placement: Placement::new(vec![PathBuf::from(".")], root.clone(), printer),
            watcher: Weak::new(),
        };
        let modify = |name: &str| {
            Ok(
                notify::Event::new(EventKind::Modify(notify::event::ModifyKind::Any))
                    .add_path(root.join(name)),
            )
        };
        let debounce = Duration::from_millis(50);
        let (tx, rx) = mpsc::channel();
        for name in ["b.rs", "x.log", "a.rs", "b.rs"] {
            tx.send(modify(name)).unwrap();
        }
        let batch = next_batch(&rx, &mut state, debounce).unwrap();
        assert_eq!(batch, [root.join("b.rs"), root.join("a.rs")]);

        // Only ignored changes: no batch until a counted one comes.
        tx.send(modify("y.log")).unwrap();
        tx.send(modify("c.rs")).unwrap();
        let batch = next_batch(&rx, &mut state, debounce).unwrap();
        assert_eq!(batch, [root.join("c.rs")]);

        drop(tx);
        assert_eq!(next_batch(&rx, &mut state, debounce), None);
    }

    #[test]
    fn a_batch_ends_at_its_limit_however_busy_the_files_are() {
        assert_eq!(
            batch_limit(Duration::from_millis(50)),
            Duration::from_secs(1)
        );
        assert_eq!(
            batch_limit(Duration::from_millis(500)),
            Duration::from_secs(5)
        );
        assert_eq!(
            batch_limit(Duration::MAX),
            Duration::MAX,
            "saturates instead of overflowing"
        );
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn the_watch_limit_is_named_with_the_setting_that_raises_it() {
        let message = limit_message(Some(8192), 8190);
        assert!(message.starts_with(
            "the system's limit of 8192 inotify watches per user is reached \
             (systemfd holds 8190, one per watched directory)"
        ));
        assert!(message.contains("sysctl fs.inotify.max_user_watches="));
        let err = notify::Error::new(notify::ErrorKind::MaxFilesWatch);
        let placement = Placement::new(Vec::new(), PathBuf::from("/"), printer());
        let explained = format!("{:#}", placement.explain(err));
        assert!(
            explained.contains("fs.inotify.max_user_watches"),
            "{explained}"
        );
    }

    #[test]
    fn other_errors_keep_their_reason_without_notify_s_path_list() {
        let err =
            notify::Error::io(std::io::Error::from_raw_os_error(13)).add_path(PathBuf::from("/x"));
        assert_eq!(reason(&err), "Permission denied (os error 13)");
    }

    #[test]
    fn reads_and_opens_do_not_count() {
        let dir = tree(&[("a.rs", "")]);
        let mut r = rules(dir.path(), &["."], &[]);
        let path = fs::canonicalize(dir.path()).unwrap().join("a.rs");
        let open = notify::Event::new(EventKind::Access(notify::event::AccessKind::Open(
            notify::event::AccessMode::Any,
        )))
        .add_path(path.clone());
        assert!(r.counted(&open).is_empty());
        let write = notify::Event::new(EventKind::Modify(notify::event::ModifyKind::Any))
            .add_path(path.clone());
        assert_eq!(r.counted(&write), [path]);
    }
}
