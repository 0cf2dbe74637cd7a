//! The ignore rules: which changed paths count.
//!
//! A change counts when it lies at or below a `-w` path and nothing
//! ignores it: not systemfd's own directories, not the built-in list, not
//! an `--ignore` pattern, not an `.ignore` or `.gitignore` file between it
//! and the top of its Git repository. The rules look at paths and the
//! files on disk only, never at a backend's events, so the event-driven
//! watching and any other way of noticing changes decide alike.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::Match;

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

/// Whether `path` names an ignore file, whose edits change the rules.
pub(super) fn is_ignore_file(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|name| IGNORE_FILES.iter().any(|file| name == *file))
}

/// What a changed path is. A removed path can no longer be looked at, so
/// the caller says what it was when it knows: removing an ignored `target/`
/// must stay ignored although `target/` (a directory pattern) no longer
/// names anything on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    File,
    Dir,
    /// Looked up on disk.
    Unknown,
}

/// One `--watch` path.
#[derive(Debug)]
pub(super) struct Root {
    /// Canonical.
    path: PathBuf,
    is_dir: bool,
    /// The last directory whose ignore files apply: the top of the Git
    /// repository around `path`, or `path` itself outside one.
    top: PathBuf,
}

impl Root {
    fn new(path: &Path) -> Root {
        let is_dir = path.is_dir();
        let dir = if is_dir {
            path
        } else {
            path.parent().unwrap_or(path)
        };
        let top = dir
            .ancestors()
            .find(|d| d.join(".git").exists())
            .unwrap_or(dir)
            .to_owned();
        Root {
            path: path.to_owned(),
            is_dir,
            top,
        }
    }

    /// The path as watched: canonical.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the path was a directory when watching started.
    pub(super) fn is_dir(&self) -> bool {
        self.is_dir
    }

    /// The directory that holds the watch: the path, or a file's directory
    /// (an editor that saves by replacing a file is seen only there).
    pub(super) fn target(&self) -> &Path {
        if self.is_dir {
            &self.path
        } else {
            self.path.parent().unwrap_or(&self.path)
        }
    }
}

/// Decides which changed paths count; reads ignore files as it needs them
/// and keeps them until told to forget.
#[derive(Debug)]
pub(super) struct Rules {
    roots: Vec<Root>,
    built_in: Gitignore,
    patterns: Gitignore,
    /// Directories whose changes never count (systemfd's own).
    exclude: Vec<PathBuf>,
    /// Parsed ignore files by path; `None` when there is no such file.
    files: HashMap<PathBuf, Option<Gitignore>>,
}

impl Rules {
    /// Rules for the canonical `roots`, in `-w` order, with the `--ignore`
    /// `patterns` relative to `base`. Fails on a pattern that does not
    /// parse, naming it.
    pub(super) fn new(
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
        Ok(Rules {
            roots: roots.iter().map(|path| Root::new(path)).collect(),
            built_in: built_in.build()?,
            patterns: builder.build()?,
            exclude,
            files: HashMap::new(),
        })
    }

    /// The `-w` paths, in order.
    pub(super) fn roots(&self) -> &[Root] {
        &self.roots
    }

    /// Drops what is known about ignore files at or under `path`, which
    /// changed, moved or went away: they are read again when next needed.
    pub(super) fn forget(&mut self, path: &Path) {
        self.files.retain(|file, _| !file.starts_with(path));
    }

    /// Whether a change to `path` (absolute) is ignored: outside every `-w`
    /// path, in an excluded directory, or ignored by a rule at any level
    /// between a `-w` directory and the path. A `-w` path itself is never
    /// ignored: only what lies below it is filtered.
    pub(super) fn ignores(&mut self, path: &Path, kind: Kind) -> bool {
        if self.exclude.iter().any(|dir| path.starts_with(dir)) {
            return true;
        }
        for index in 0..self.roots.len() {
            let root = &self.roots[index];
            if !root.is_dir {
                if path == root.path {
                    return false;
                }
                continue;
            }
            let Ok(below) = path.strip_prefix(&root.path) else {
                continue;
            };
            let components: Vec<_> = below.components().collect();
            let top = root.top.clone();
            let mut candidate = root.path.clone();
            let mut ignored = false;
            for (i, component) in components.iter().enumerate() {
                candidate.push(component);
                let is_dir = if i + 1 < components.len() {
                    true
                } else {
                    match kind {
                        Kind::File => false,
                        Kind::Dir => true,
                        Kind::Unknown => candidate.is_dir(),
                    }
                };
                if self.rule_ignores(&candidate, is_dir, &top) {
                    ignored = true;
                    break;
                }
            }
            if !ignored {
                return false;
            }
        }
        true
    }

    /// Whether a walk of the tree goes into the directory `dir` (absolute):
    /// changes in it can count, or it holds a watched file.
    pub(super) fn wants_dir(&mut self, dir: &Path) -> bool {
        !self.ignores(dir, Kind::Dir)
            || self
                .roots
                .iter()
                .any(|root| !root.is_dir && root.path.parent() == Some(dir))
    }

    /// Whether a rule ignores `path` itself, whatever its parents; the
    /// ignore files searched go up to `top`.
    fn rule_ignores(&mut self, path: &Path, is_dir: bool, top: &Path) -> bool {
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
