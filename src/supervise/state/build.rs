//! The build step (`--build`) as the supervisor sees it: whether one runs,
//! what changed while it ran, and which changes are the build's own.
//!
//! A change during a build does not stop it: the build finishes and one
//! more runs after it, for all the changes it missed. A build may write
//! files inside the watched tree (generated code, a lock file, a file
//! rewritten through a temporary one); those changes must not start build
//! after build. They cannot be told from an edit by the event alone, so:
//! - a path that changed during a build that ran *because of* changes
//!   during the one before, and during that one too, is the build's own
//!   output: from then on its changes during a build are ignored, and
//!   changes to it while no build runs still count;
//! - after [`MAX_CHAIN`] builds in a row that each ran because of changes
//!   during the one before, no further one runs for the changes during
//!   the last (a build that writes new names each time).
//!
//! Either is said once it happens, so the user can `--ignore` the paths.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

use super::types::Status;

/// At most this many paths are remembered per build, and as the build's
/// own: a build that writes thousands of watched files is bounded too.
pub const MAX_PATHS: usize = 256;

/// At most this many builds in a row run because of changes during the
/// build before (so one change costs at most `1 + MAX_CHAIN` builds).
pub const MAX_CHAIN: u32 = 2;

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
    /// the watcher (see [`super::types::Policy::settle`]), so it counts as
    /// running a little longer.
    pub ended: Option<(Instant, Status)>,
    /// The paths that changed while it ran (not the build's own).
    changed: BTreeSet<PathBuf>,
    /// Whether one more was asked for whatever changed (SIGHUP).
    asked: bool,
    /// What made this one run: the changes during the build before, and
    /// how many builds in a row ran that way.
    because: Option<(BTreeSet<PathBuf>, u32)>,
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
    /// Changes came while it ran (`files`), or SIGHUP: build again.
    Again { files: bool },
    /// Only paths that also changed during the build before changed:
    /// they are taken for the build's own output (the first of them and
    /// how many more), and nothing more runs.
    OwnOutput { path: PathBuf, more: usize },
    /// Paths changed during [`MAX_CHAIN`] builds in a row that ran because
    /// of the changes before (the first of the last and how many more):
    /// nothing more runs.
    Looping { path: PathBuf, more: usize },
}

/// Every build of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Builds {
    running: Option<Running>,
    /// Paths taken for the build's own output.
    own: BTreeSet<PathBuf>,
    /// Why the next build runs, when it runs because of the changes
    /// during the last.
    next: Option<(BTreeSet<PathBuf>, u32)>,
}

impl Builds {
    /// The build that runs, if any.
    pub fn running(&self) -> Option<&Running> {
        self.running.as_ref()
    }

    pub fn running_mut(&mut self) -> Option<&mut Running> {
        self.running.as_mut()
    }

    /// A build is asked for at `now`: one that [`Builds::end`] said to run
    /// again, or a new one.
    pub fn begin(&mut self, now: Instant) {
        self.running = Some(Running {
            pid: None,
            started: now,
            stopping: None,
            ended: None,
            changed: BTreeSet::new(),
            asked: false,
            because: self.next.take(),
        });
    }

    /// `paths` changed while a build runs.
    pub fn during(&mut self, paths: &[PathBuf]) -> During {
        let Some(running) = self.running.as_mut() else {
            return During::Own;
        };
        let fresh: Vec<&PathBuf> = paths.iter().filter(|p| !self.own.contains(*p)).collect();
        if fresh.is_empty() {
            return During::Own;
        }
        for path in fresh {
            if running.changed.len() < MAX_PATHS {
                running.changed.insert(path.clone());
            }
        }
        During::Again
    }

    /// Forgets the build that runs, and why a next one would (it could not
    /// start, or systemfd is stopping).
    pub fn discard(&mut self) {
        self.running = None;
        self.next = None;
    }

    /// One more build is asked for while one runs, whatever changed
    /// (SIGHUP).
    pub fn ask_again(&mut self) {
        if let Some(running) = self.running.as_mut() {
            running.asked = true;
        }
    }

    /// The build ended: what comes next.
    pub fn end(&mut self) -> After {
        self.next = None;
        let Some(running) = self.running.take() else {
            return After::Done;
        };
        if running.changed.is_empty() {
            return if running.asked {
                After::Again { files: false }
            } else {
                After::Done
            };
        }
        let Some((before, chain)) = running.because else {
            self.next = Some((running.changed, 1));
            return After::Again { files: true };
        };
        let (own, new): (BTreeSet<PathBuf>, BTreeSet<PathBuf>) = running
            .changed
            .into_iter()
            .partition(|path| before.contains(path));
        for path in &own {
            if self.own.len() < MAX_PATHS {
                self.own.insert(path.clone());
            }
        }
        if running.asked {
            return After::Again { files: false };
        }
        let first_and_more = |set: BTreeSet<PathBuf>| {
            let more = set.len() - 1;
            (set.into_iter().next().expect("not empty"), more)
        };
        if new.is_empty() {
            let (path, more) = first_and_more(own);
            return After::OwnOutput { path, more };
        }
        if chain >= MAX_CHAIN {
            let (path, more) = first_and_more(new);
            return After::Looping { path, more };
        }
        self.next = Some((new, chain + 1));
        After::Again { files: true }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(names: &[&str]) -> Vec<PathBuf> {
        names.iter().map(PathBuf::from).collect()
    }

    /// One build during which `changed` changed; what comes after it.
    fn build(builds: &mut Builds, changed: &[&str]) -> After {
        builds.begin(Instant::now());
        if !changed.is_empty() {
            builds.during(&paths(changed));
        }
        builds.end()
    }

    #[test]
    fn a_build_with_no_change_is_done() {
        let mut builds = Builds::default();
        assert_eq!(build(&mut builds, &[]), After::Done);
        assert!(builds.running().is_none());
    }

    #[test]
    fn changes_during_a_build_ask_for_one_more() {
        let mut builds = Builds::default();
        builds.begin(Instant::now());
        assert_eq!(builds.during(&paths(&["src/a.rs"])), During::Again);
        assert_eq!(builds.during(&paths(&["src/b.rs"])), During::Again);
        assert_eq!(builds.end(), After::Again { files: true });
        // The next one ran because of them; nothing changed during it.
        assert_eq!(build(&mut builds, &[]), After::Done);
    }

    #[test]
    fn sighup_during_a_build_asks_for_one_more_without_files() {
        let mut builds = Builds::default();
        builds.begin(Instant::now());
        builds.ask_again();
        assert_eq!(builds.end(), After::Again { files: false });
        builds.begin(Instant::now());
        builds.ask_again();
        assert_eq!(builds.end(), After::Again { files: false });
    }

    #[test]
    fn what_changes_during_two_builds_in_a_row_is_the_builds_own() {
        let mut builds = Builds::default();
        assert_eq!(
            build(&mut builds, &["src/gen.rs", "src/main.rs"]),
            After::Again { files: true }
        );
        assert_eq!(
            build(&mut builds, &["src/gen.rs"]),
            After::OwnOutput {
                path: PathBuf::from("src/gen.rs"),
                more: 0
            }
        );
        // From then on its changes during a build are ignored…
        builds.begin(Instant::now());
        assert_eq!(builds.during(&paths(&["src/gen.rs"])), During::Own);
        assert_eq!(builds.end(), After::Done);
        // … but not an edit beside them.
        assert_eq!(
            build(&mut builds, &["src/gen.rs", "src/lib.rs"]),
            After::Again { files: true }
        );
    }

    #[test]
    fn a_build_that_writes_new_names_each_time_stops_after_a_few() {
        let mut builds = Builds::default();
        // sed -i: the file, and a temporary file of a new name each time.
        assert_eq!(
            build(&mut builds, &["version.env", "sedA"]),
            After::Again { files: true }
        );
        assert_eq!(
            build(&mut builds, &["version.env", "sedB"]),
            After::Again { files: true }
        );
        assert_eq!(
            build(&mut builds, &["sedC"]),
            After::Looping {
                path: PathBuf::from("sedC"),
                more: 0
            }
        );
        // version.env was taken for its own on the way.
        builds.begin(Instant::now());
        assert_eq!(builds.during(&paths(&["version.env"])), During::Own);
    }

    #[test]
    fn what_is_remembered_is_bounded() {
        let mut builds = Builds::default();
        let many: Vec<PathBuf> = (0..MAX_PATHS * 2)
            .map(|i| PathBuf::from(format!("f{i}")))
            .collect();
        builds.begin(Instant::now());
        builds.during(&many);
        builds.end();
        assert_eq!(builds.next.as_ref().unwrap().0.len(), MAX_PATHS);
    }
}
