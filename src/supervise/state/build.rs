//! The build step (`--build`) as the supervisor sees it: whether one runs,
//! what changed while it ran, and which changes are the build's own.
//!
//! A change during a build does not stop it: the build finishes and one
//! more runs after it, for all the changes it missed. A build may write
//! files inside the watched tree (generated code, a lock file); those
//! changes must not start build after build. They cannot be told from an
//! edit by the event alone, so the first time they cost one more build:
//! when every path that changed during a build that ran *because of*
//! changes during the one before also changed during that one, the
//! build wrote them. From then on their changes during a build are
//! ignored (said once), and no further build runs for them. Changes to
//! them while no build runs still count.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

/// At most this many paths are remembered per build, and as the build's
/// own: a build that writes thousands of watched files is bounded too.
pub const MAX_PATHS: usize = 256;

/// A build that runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Running {
    /// Its pid, once started.
    pub pid: Option<u32>,
    /// When it was asked for.
    pub started: Instant,
    /// When it was sent the stop signal (a shutdown), and whether SIGKILL
    /// followed.
    pub stopping: Option<(Instant, bool)>,
    /// When it ended, and how: its writes may still be on their way from
    /// the watcher (see [`super::types::Policy::settle`]), so it counts as running
    /// a little longer.
    pub ended: Option<(Instant, super::types::Status)>,
    /// The paths that changed while it ran (not the build's own).
    changed: BTreeSet<PathBuf>,
    /// The paths whose changes during the build before made this one run.
    because: Option<BTreeSet<PathBuf>>,
}

/// What a change during a build comes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum During {
    /// Another build runs after this one.
    Again,
    /// Every path was the build's own output: nothing more runs.
    Own,
}

/// What runs after a build that ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum After {
    /// Nothing changed while it ran.
    Done,
    /// Changes came while it ran: build again.
    Again,
    /// Only paths that also changed during the build before changed:
    /// they are taken for the build's own output (the first of them and
    /// how many more), and nothing more runs.
    OwnOutput { path: PathBuf, more: usize },
}

/// Every build of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Builds {
    running: Option<Running>,
    /// Paths taken for the build's own output.
    own: BTreeSet<PathBuf>,
}

impl Builds {
    /// The build that runs, if any.
    pub fn running(&self) -> Option<&Running> {
        self.running.as_ref()
    }

    pub fn running_mut(&mut self) -> Option<&mut Running> {
        self.running.as_mut()
    }

    /// A build is asked for at `now`; `because` is the set of paths whose
    /// changes during the last build asked for it, if that is why.
    pub fn begin(&mut self, now: Instant, because: Option<BTreeSet<PathBuf>>) {
        self.running = Some(Running {
            pid: None,
            started: now,
            stopping: None,
            ended: None,
            changed: BTreeSet::new(),
            because,
        });
    }

    /// `paths` changed while a build runs.
    pub fn during(&mut self, paths: &[PathBuf]) -> During {
        let Some(running) = self.running.as_mut() else {
            return During::Own;
        };
        let fresh: Vec<&PathBuf> = paths.iter().filter(|p| !self.own.contains(*p)).collect();
        // A batch larger than the paths it names (see `watch::Change`) may
        // hold others: it counts.
        if fresh.is_empty() && !paths.is_empty() {
            return During::Own;
        }
        for path in fresh {
            if running.changed.len() < MAX_PATHS {
                running.changed.insert(path.clone());
            }
        }
        if running.changed.is_empty() {
            // Named no path at all (never sent by the watcher): count it.
            running.changed.insert(PathBuf::from("."));
        }
        During::Again
    }

    /// The build ended: what comes next. The returned set, for
    /// [`After::Again`], is what to pass to the next [`Builds::begin`].
    pub fn end(&mut self) -> (After, Option<BTreeSet<PathBuf>>) {
        let Some(running) = self.running.take() else {
            return (After::Done, None);
        };
        if running.changed.is_empty() {
            return (After::Done, None);
        }
        match running.because {
            Some(before) if running.changed.is_subset(&before) => {
                let mut paths = running.changed.into_iter();
                let path = paths.next().expect("not empty");
                let more = paths.len();
                for own in std::iter::once(path.clone()).chain(paths) {
                    if self.own.len() < MAX_PATHS {
                        self.own.insert(own);
                    }
                }
                (After::OwnOutput { path, more }, None)
            }
            _ => (After::Again, Some(running.changed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(names: &[&str]) -> Vec<PathBuf> {
        names.iter().map(PathBuf::from).collect()
    }

    #[test]
    fn a_build_with_no_change_is_done() {
        let mut builds = Builds::default();
        builds.begin(Instant::now(), None);
        assert_eq!(builds.end().0, After::Done);
        assert!(builds.running().is_none());
    }

    #[test]
    fn changes_during_a_build_ask_for_one_more() {
        let mut builds = Builds::default();
        builds.begin(Instant::now(), None);
        assert_eq!(builds.during(&paths(&["src/a.rs"])), During::Again);
        assert_eq!(builds.during(&paths(&["src/b.rs"])), During::Again);
        let (after, because) = builds.end();
        assert_eq!(after, After::Again);
        assert_eq!(because.unwrap().len(), 2);
    }

    #[test]
    fn what_changes_during_two_builds_in_a_row_is_the_builds_own() {
        let mut builds = Builds::default();
        builds.begin(Instant::now(), None);
        builds.during(&paths(&["src/gen.rs", "src/main.rs"]));
        let (_, because) = builds.end();
        builds.begin(Instant::now(), because);
        builds.during(&paths(&["src/gen.rs"]));
        assert_eq!(
            builds.end().0,
            After::OwnOutput {
                path: PathBuf::from("src/gen.rs"),
                more: 0
            }
        );
        // From then on its changes during a build are ignored…
        builds.begin(Instant::now(), None);
        assert_eq!(builds.during(&paths(&["src/gen.rs"])), During::Own);
        assert_eq!(builds.end().0, After::Done);
        // … but not an edit beside them.
        builds.begin(Instant::now(), None);
        builds.during(&paths(&["src/gen.rs", "src/lib.rs"]));
        assert_eq!(builds.end().0, After::Again);
    }

    #[test]
    fn a_new_path_during_the_second_build_builds_again() {
        let mut builds = Builds::default();
        builds.begin(Instant::now(), None);
        builds.during(&paths(&["src/a.rs"]));
        let (_, because) = builds.end();
        builds.begin(Instant::now(), because);
        builds.during(&paths(&["src/a.rs", "src/b.rs"]));
        assert_eq!(builds.end().0, After::Again);
    }

    #[test]
    fn what_is_remembered_is_bounded() {
        let mut builds = Builds::default();
        builds.begin(Instant::now(), None);
        let many: Vec<PathBuf> = (0..MAX_PATHS * 2)
            .map(|i| PathBuf::from(format!("f{i}")))
            .collect();
        builds.during(&many);
        let (_, because) = builds.end();
        assert_eq!(because.unwrap().len(), MAX_PATHS);
    }
}
