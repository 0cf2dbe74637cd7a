//! What watching tells the user, in words: a directory it cannot watch, a
//! `-w` path gone or back, the system's watch limit. The placement of the
//! watches decides when to speak; the wording lives here, so either can
//! change alone.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use std::time::Duration;

use super::rules::Source;
use crate::output::{humanize, Printer};

/// Says what happens to the watches, each warning about a directory once.
pub(super) struct Notices {
    printer: Printer,
    /// The current directory: paths under it are shown relative to it.
    base: PathBuf,
    /// Directories already warned about.
    warned: HashSet<PathBuf>,
    /// Whether the watch limit has been reported while following the tree.
    limit_warned: bool,
}

impl Notices {
    pub(super) fn new(printer: Printer, base: PathBuf) -> Notices {
        Notices {
            printer,
            base,
            warned: HashSet::new(),
            limit_warned: false,
        }
    }

    /// The directory `dir` gets no watch, for `reason`; said once per
    /// directory.
    pub(super) fn not_watching(&mut self, dir: &Path, reason: &str) {
        if !self.warned.insert(dir.to_owned()) {
            return;
        }
        let shown = dir.strip_prefix(&self.base).unwrap_or(dir);
        self.printer.warn(&format!(
            "not watching {}: {reason}; changes in it are not seen",
            shown.display()
        ));
    }

    /// The `-w` path `given` has disappeared.
    pub(super) fn gone(&self, given: &Path) {
        self.printer.warn(&format!(
            "{} is gone; it is watched again when it comes back",
            given.display()
        ));
    }

    /// The `-w` path `given` has come back.
    pub(super) fn back(&self, given: &Path) {
        self.printer
            .status(&format!("{} is back; watching it again", given.display()));
    }

    /// The `-w` path `given` could not be watched again; `held` watches
    /// are in place.
    pub(super) fn cannot_watch_again(&self, given: &Path, err: notify::Error, held: usize) {
        self.printer
            .warn(&format!("{:#}", cannot_watch(given, err, held)));
    }

    /// An error met while following the tree; at the watch limit, said once.
    pub(super) fn following_failed(&mut self, err: notify::Error, held: usize) {
        let limit = matches!(err.kind, notify::ErrorKind::MaxFilesWatch);
        if limit && std::mem::replace(&mut self.limit_warned, true) {
            return;
        }
        self.printer.warn(&format!("{:#}", explain(err, held)));
    }

    /// `dir` is polled every `every`, because its file system, of type
    /// `kind`, does not report changes made elsewhere.
    pub(super) fn polling(&self, dir: &Path, every: Duration, kind: &str) {
        let shown = dir.strip_prefix(&self.base).unwrap_or(dir);
        let shown = if shown.as_os_str().is_empty() {
            Path::new(".")
        } else {
            shown
        };
        self.printer.status(&format!(
            "polling {} every {}: {kind} does not report changes made outside this system",
            shown.display(),
            humanize(every)
        ));
    }

    /// Everything is polled every `every` (`--poll`).
    pub(super) fn polling_asked(&self, every: Duration) {
        self.printer.status(&format!(
            "polling every {} (--poll): changes are found by looking, not reported by the system",
            humanize(every)
        ));
    }

    /// Scans take so long that the interval grew from `asked` to `every`.
    pub(super) fn poll_stretched(&self, asked: Duration, every: Duration) {
        self.printer.status(&format!(
            "polling every {} instead of {}: a scan takes {} here, and scans take at most 5% \
             of the time (ignore more, or watch less, to poll more often)",
            humanize(every),
            humanize(asked),
            humanize(every / 20)
        ));
    }

    /// A change to `path` was ignored by `source`, a rule that did not
    /// apply before; said the first time each source acts.
    pub(super) fn first_ignored(&self, source: &Source, path: &Path) {
        let shown = path.strip_prefix(&self.base).unwrap_or(path);
        let why = match source {
            Source::BuiltIn(pattern, what) => format!(
                "{what} ({pattern}, built in; --no-default-ignore or --ignore '!{pattern}' \
                 counts it)"
            ),
            Source::InfoExclude(file) => format!(
                "ignored by {} (--ignore '!PATTERN' counts it)",
                file.display()
            ),
            Source::Global(file) => format!(
                "ignored by {}, git's global excludes (--no-global-ignore counts it)",
                file.display()
            ),
        };
        self.printer
            .status(&format!("not restarting for {}: {why}", shown.display()));
    }

    /// An error the backend reported on its own.
    pub(super) fn backend_failed(&self, err: notify::Error, held: usize) {
        self.printer
            .warn(&format!("watching files: {:#}", explain(err, held)));
    }
}

/// The error for a `-w` path, `given`, that cannot be watched.
pub(super) fn cannot_watch(given: &Path, err: notify::Error, held: usize) -> anyhow::Error {
    explain(err, held).context(format!("cannot watch {}", given.display()))
}

/// notify's error, in words that say what to do at the watch limit;
/// `held` watches are in place.
pub(super) fn explain(err: notify::Error, held: usize) -> anyhow::Error {
    if matches!(err.kind, notify::ErrorKind::MaxFilesWatch) {
        anyhow::anyhow!(limit_message(watch_limit(), held))
    } else {
        anyhow::anyhow!(reason(&err))
    }
}

/// A notify error's message, without the list of paths notify appends.
pub(super) fn reason(err: &notify::Error) -> String {
    match &err.kind {
        notify::ErrorKind::Io(io) => io.to_string(),
        notify::ErrorKind::PathNotFound => "no such file or directory".into(),
        notify::ErrorKind::Generic(text) => text.clone(),
        notify::ErrorKind::WatchNotFound => "no such watch".into(),
        notify::ErrorKind::InvalidConfig(_) => "invalid watcher configuration".into(),
        notify::ErrorKind::MaxFilesWatch => "the watch limit is reached".into(),
    }
}

/// What to say when no more watches can be placed: the system's `limit`
/// when known, the `held` watches, and the setting that raises the limit.
pub(super) fn limit_message(limit: Option<u64>, held: usize) -> String {
    if cfg!(target_os = "linux") {
        let limit = limit.map_or(String::new(), |n| format!(" of {n}"));
        format!(
            "the system's limit{limit} inotify watches per user is reached \
             (systemfd holds {held}, one per watched directory): raise \
             fs.inotify.max_user_watches (sysctl fs.inotify.max_user_watches=524288), \
             ignore more directories, or poll instead (--poll)"
        )
    } else {
        format!(
            "the system's limit on watched files is reached (systemfd holds {held} \
             watches): raise it, ignore more directories, or poll instead (--poll)"
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
