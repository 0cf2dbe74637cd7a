//! Watching files for supervise mode: which changes restart the command.
//!
//! The `notify` crate reports changes under every `--watch` path (inotify on
//! Linux, FSEvents on macOS, kqueue on the BSDs, ReadDirectoryChangesW on
//! Windows). Where those miss edits made elsewhere (a `-w` directory, or a
//! mount below one, on a network or FUSE file system), the directory is
//! polled as well; with `--poll`, everything is polled and nothing else.
//! A change counts unless it is ignored by:
//! - systemfd's own private directory (the readiness sockets);
//! - `--ignore` patterns, in `.gitignore` syntax, relative to the current
//!   directory (a `!pattern` re-includes what the rules below exclude);
//! - a built-in list: version-control directories, editor swap files, and
//!   what language tools and servers write into the tree as they run
//!   (`__pycache__/`, a SQLite database, crash reports);
//! - `.ignore` and `.gitignore` files in the watched directories and their
//!   parents, up to the top of the Git work tree that holds them (the
//!   nearest directory with a `.git`), or up to the watched directory outside
//!   one. A deeper file overrides a shallower one, `.ignore` overrides
//!   `.gitignore`, and nothing inside an ignored directory counts, so
//!   `target/` in a cargo project's `.gitignore` silences the build;
//! - in a Git work tree, the repository's `info/exclude`, then git's global
//!   excludes file (`core.excludesFile`).
//!
//! With `-e` or `--filter`, a change counts only if it passes one of them
//! as well. A path named by `-w` is watched even when an ignore rule covers
//! it: only what lies below it is filtered. Changes that count are
//! debounced: the restart comes once none has arrived for the debounce
//! period.
//!
//! The parts:
//! - `rules`: which paths count, from paths and files alone, so that any
//!   way of noticing changes decides alike; `git` finds the repository's
//!   other ignore files;
//! - `events`: what a `notify` event means to the rules;
//! - `placement`: where the watches go and how they follow the tree, which
//!   decides what watching costs;
//! - `mounts`: which directories the watches cannot see into, and `poll`,
//!   which looks at them;
//! - `notices`: what is said about the watches, in words;
//! - `debounce`: the watching thread's loop, events in, batches out.

mod debounce;
mod events;
mod git;
mod mounts;
mod notices;
mod placement;
mod poll;
mod rules;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result};

use crate::output::Printer;

use self::debounce::{next_batch, Backend, Watching};
use self::notices::Notices;
use self::placement::Placement;
use self::poll::{Poller, Target};
use self::rules::{Options, Rules};

/// A debounced batch of changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The first changed path, relative to the current directory when under it.
    pub path: PathBuf,
    /// How many other paths changed in the same batch.
    pub more: usize,
    /// Every changed path of the batch, `path` first, shown the same way,
    /// up to [`MAX_NAMED`] of them.
    pub paths: Vec<PathBuf>,
}

/// How many of a batch's paths a [`Change`] names.
pub const MAX_NAMED: usize = 256;

/// What to watch and what to ignore.
#[derive(Debug)]
pub struct Settings<'a> {
    /// The `--watch` paths; each exists.
    pub paths: &'a [PathBuf],
    /// The `--ignore` patterns.
    pub ignores: &'a [String],
    /// `-e`: extensions, without the dot; with `filters`, what a changed
    /// file must be to count (everything counts when both are empty).
    pub exts: &'a [String],
    /// `--filter` patterns, in `.gitignore` syntax.
    pub filters: &'a [String],
    /// Whether the built-in ignore list applies.
    pub default_ignore: bool,
    /// Whether git's global excludes file applies.
    pub global_ignore: bool,
    /// How changes are noticed.
    pub poll: Poll,
    /// How long changes must pause before a batch is handed on.
    pub debounce: Duration,
    /// Directories whose changes never count (systemfd's own).
    pub exclude: Vec<PathBuf>,
}

pub use crate::config::Poll;

/// Watches until dropped.
pub struct Watcher {
    /// The watching thread holds a weak reference: dropping this one ends
    /// the backend, which closes its channel, which ends the thread.
    _inner: Arc<Mutex<Backend>>,
    /// The thread's channel, held open while everything is polled (the
    /// backend then holds none).
    _open: mpsc::Sender<notify::Result<notify::Event>>,
}

/// Starts watching; `on_change` is called on a thread of its own for every
/// debounced batch of changes that count, until it returns `false`. Fails
/// when the current directory or a `-w` path cannot be read or watched, or
/// an `--ignore` pattern does not parse.
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
    let mut rules = Rules::new(
        &roots,
        Options {
            ignores: settings.ignores,
            exts: settings.exts,
            filters: settings.filters,
            base: &base,
            exclude,
            default_ignore: settings.default_ignore,
            global_ignore: settings.global_ignore,
        },
    )?;
    let notices = Notices::new(printer, base.clone());

    let (tx, rx) = mpsc::channel();
    let every = match settings.poll {
        Poll::Auto(every) | Poll::Always(every) => every,
        Poll::Never => Poll::DEFAULT_INTERVAL,
    };
    let (mut inner, targets): (Backend, Vec<Target>) = match settings.poll {
        Poll::Always(_) => {
            let targets = roots
                .iter()
                .enumerate()
                .map(|(root, path)| Target {
                    root,
                    path: path.clone(),
                })
                .collect();
            notices.polling_asked(every);
            (Box::new(notify::NullWatcher), targets)
        }
        Poll::Auto(_) | Poll::Never => {
            let native =
                notify::recommended_watcher(tx.clone()).context("cannot start watching files")?;
            let targets = match settings.poll {
                Poll::Auto(_) => mounts::to_poll(&mut rules, &[])
                    .into_iter()
                    .map(|(target, kind)| {
                        notices.polling(&target.path, every, &kind);
                        target
                    })
                    .collect(),
                _ => Vec::new(),
            };
            (Box::new(native), targets)
        }
    };
    let mut placement =
        Placement::new(settings.paths.to_vec(), Notices::new(printer, base.clone()));
    placement.place_all(&mut *inner, &mut rules)?;
    let poller = (!targets.is_empty()).then(|| Poller::new(targets, every, &mut rules));
    // Elsewhere the mounts are read once.
    let follow = matches!(settings.poll, Poll::Auto(_)) && cfg!(target_os = "linux");
    let mounts = follow.then(|| mounts::Mounts::new(every));

    let inner = Arc::new(Mutex::new(inner));
    let mut state = Watching::new(rules, placement, Arc::downgrade(&inner), poller, notices);
    state.follow_mounts(mounts);
    let debounce = settings.debounce;
    std::thread::Builder::new()
        .name("watch".into())
        .spawn(move || {
            while let Some(batch) = next_batch(&rx, &mut state, debounce) {
                if !on_change(change(batch, &base)) {
                    return;
                }
            }
        })
        .context("cannot start the watching thread")?;
    Ok(Watcher {
        _inner: inner,
        _open: tx,
    })
}

/// The change a non-empty batch reports: its paths, shown relative to
/// `base` when under it.
fn change(batch: Vec<PathBuf>, base: &Path) -> Change {
    let more = batch.len().saturating_sub(1);
    let shown = |path: PathBuf| match path.strip_prefix(base) {
        // The current directory itself (a rescan, `-w .` back again).
        Ok(relative) if relative.as_os_str().is_empty() => PathBuf::from("."),
        Ok(relative) => relative.to_owned(),
        Err(_) => path,
    };
    let paths: Vec<PathBuf> = batch.into_iter().take(MAX_NAMED).map(shown).collect();
    let path = paths.first().cloned().expect("a batch is never empty");
    Change { path, more, paths }
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
