//! Watching files for supervise mode: which changes restart the command.
//!
//! The `notify` crate reports changes under every `--watch` path (inotify on
//! Linux, FSEvents on macOS: no polling). A change counts unless it is
//! ignored by:
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

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::Match;
use notify::{EventKind, RecursiveMode, Watcher as _};

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
    _inner: notify::RecommendedWatcher,
}

/// Starts watching; `on_change` is called on a thread of its own for every
/// debounced batch of counted changes, until it returns `false`.
pub fn start(
    settings: Settings<'_>,
    printer: Printer,
    mut on_change: impl FnMut(Change) -> bool + Send + 'static,
) -> Result<Watcher> {
    let base = std::env::current_dir()
        .and_then(std::fs::canonicalize)
        .context("cannot read the current directory")?;
    let mut roots = Vec::new();
    for path in settings.paths {
        let canonical = std::fs::canonicalize(path)
            .with_context(|| format!("cannot watch {}", path.display()))?;
        roots.push(canonical);
    }
    let exclude = settings
        .exclude
        .iter()
        .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
        .collect();
    let mut rules = Rules::new(&roots, settings.ignores, &base, exclude)?;

    let (tx, rx) = mpsc::channel();
    let mut inner = notify::recommended_watcher(tx).context("cannot start watching files")?;
    for (root, given) in roots.iter().zip(settings.paths) {
        // A single file is watched through its directory, so that an editor
        // that saves by replacing the file is still seen.
        let (target, mode) = match root.parent() {
            Some(parent) if !root.is_dir() => (parent, RecursiveMode::NonRecursive),
            _ => (root.as_path(), RecursiveMode::Recursive),
        };
        inner
            .watch(target, mode)
            .map_err(explain)
            .with_context(|| format!("cannot watch {}", given.display()))?;
    }

    let debounce = settings.debounce;
    std::thread::Builder::new()
        .name("watch".into())
        .spawn(move || loop {
            let Some(batch) = next_batch(&rx, &mut rules, debounce, printer) else {
                return;
            };
            let mut paths = batch.into_iter();
            let first = paths.next().expect("a batch is never empty");
            let change = Change {
                path: first
                    .strip_prefix(&base)
                    .map_or(first.clone(), Path::to_path_buf),
                more: paths.len(),
            };
            if !on_change(change) {
                return;
            }
        })
        .context("cannot start the watching thread")?;
    Ok(Watcher { _inner: inner })
}

/// Waits for a counted change, then gathers more until the debounce period
/// passes without one. `None` once the watcher is gone.
fn next_batch(
    rx: &mpsc::Receiver<notify::Result<notify::Event>>,
    rules: &mut Rules,
    debounce: Duration,
    printer: Printer,
) -> Option<Vec<PathBuf>> {
    let mut batch: Vec<PathBuf> = Vec::new();
    let mut seen = HashSet::new();
    let mut quiet_until: Option<Instant> = None;
    loop {
        let received = match quiet_until {
            None => rx.recv().ok()?,
            Some(until) => match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
                Ok(received) => received,
                Err(mpsc::RecvTimeoutError::Timeout) => return Some(batch),
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
            },
        };
        let event = match received {
            Ok(event) => event,
            Err(err) => {
                printer.warn(&format!("watching files: {}", explain(err)));
                continue;
            }
        };
        let counted = rules.counted(&event);
        if counted.is_empty() {
            continue;
        }
        for path in counted {
            if seen.insert(path.clone()) {
                batch.push(path);
            }
        }
        quiet_until = Some(Instant::now() + debounce);
    }
}

/// notify's error, with a hint where one helps.
fn explain(err: notify::Error) -> anyhow::Error {
    let hint = matches!(err.kind, notify::ErrorKind::MaxFilesWatch).then_some(
        "the system's limit on watches is reached (on Linux: raise fs.inotify.max_user_watches, or watch fewer directories)",
    );
    let err = anyhow::Error::new(err);
    match hint {
        Some(hint) => err.context(hint),
        None => err,
    }
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
        event
            .paths
            .iter()
            .filter(|path| self.is_counted(path))
            .cloned()
            .collect()
    }

    /// Drops what is known about ignore files at or under `path`.
    pub fn forget(&mut self, path: &Path) {
        self.files.retain(|file, _| !file.starts_with(path));
    }

    /// Whether a change to `path` (absolute) counts.
    pub fn is_counted(&mut self, path: &Path) -> bool {
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
                let is_dir = i + 1 < components.len() || candidate.is_dir();
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
        let mut r = rules(dir.path(), &["."], &[]);
        let root = fs::canonicalize(dir.path()).unwrap();
        let modify = |name: &str| {
            Ok(
                notify::Event::new(EventKind::Modify(notify::event::ModifyKind::Any))
                    .add_path(root.join(name)),
            )
        };
        let printer = Printer::new(crate::config::Output {
            quiet: true,
            color: crate::config::Color::Never,
        });
        let debounce = Duration::from_millis(50);
        let (tx, rx) = mpsc::channel();
        for name in ["b.rs", "x.log", "a.rs", "b.rs"] {
            tx.send(modify(name)).unwrap();
        }
        let batch = next_batch(&rx, &mut r, debounce, printer).unwrap();
        assert_eq!(batch, [root.join("b.rs"), root.join("a.rs")]);

        // Only ignored changes: no batch until a counted one comes.
        tx.send(modify("y.log")).unwrap();
        tx.send(modify("c.rs")).unwrap();
        let batch = next_batch(&rx, &mut r, debounce, printer).unwrap();
        assert_eq!(batch, [root.join("c.rs")]);

        drop(tx);
        assert_eq!(next_batch(&rx, &mut r, debounce, printer), None);
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
