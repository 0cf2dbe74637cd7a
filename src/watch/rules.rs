//! The ignore rules and filters: which changed paths count.
//!
//! A change counts when it lies at or below a `-w` path, nothing ignores
//! it, and it passes the filters. Ignored are systemfd's own directories,
//! then, first match deciding: an `--ignore` pattern, the built-in list,
//! an `.ignore` or `.gitignore` file between the path and the top of its
//! Git repository (deeper first), the repository's `info/exclude`, and
//! git's global excludes file. With `-e` or `--filter`, a file counts only
//! when it has one of the extensions or matches one of the patterns. The
//! rules look at paths and the files on disk only, never at a backend's
//! events, so the event-driven watching and the polling decide alike.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result};
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::Match;

use super::git;

/// Ignored wherever they are, each with what writes it. The first group
/// is version control and editors; the second is what language tools and
/// servers write into the tree during a normal run, which would otherwise
/// restart the server by itself running.
const BUILT_IN: &[(&str, &str)] = &[
    (".git/", "Git's own directory"),
    (".hg/", "Mercurial's own directory"),
    (".svn/", "Subversion's own directory"),
    (".jj/", "Jujutsu's own directory"),
    ("*.swp", "a Vim swap file"),
    ("*.swx", "a Vim swap file"),
    ("*~", "an editor backup file"),
    (".#*", "an Emacs lock file"),
    (".DS_Store", "written by the macOS Finder"),
    // Python 3 writes the bytecode of every module it imports, and a
    // temporary `NAME.cpython-3X.pyc.NNNN` next to it, into `__pycache__/`
    // beside the source (PEP 3147): the first start of an app would restart
    // it, and every edit of an imported module restart it twice.
    ("__pycache__/", "written by Python when it imports a module"),
    // Python 2 writes bytecode next to the source (`.pyo` under `python
    // -O`), and so does `python3 -m compileall -b`.
    ("*.pyc", "Python bytecode"),
    ("*.pyo", "Python bytecode"),
    // A development server's SQLite database in the project (Django's
    // `startproject` puts `db.sqlite3` at the top) changes with every
    // request that writes, and so do its journal, WAL and shared-memory
    // files: a login would restart the server.
    (
        "*.sqlite3",
        "a SQLite database, written by the running server",
    ),
    (
        "*.sqlite3-journal",
        "a SQLite journal, written by the running server",
    ),
    (
        "*.sqlite3-wal",
        "a SQLite journal, written by the running server",
    ),
    (
        "*.sqlite3-shm",
        "SQLite's shared memory, written by the running server",
    ),
    // Crash reports written into the working directory when the server
    // dies (the BEAM's, the JVM's): the report would restart the crashed
    // server at once, and a server that crashes on start would loop.
    ("erl_crash.dump", "the Erlang VM's crash report"),
    ("hs_err_pid*.log", "the JVM's crash report"),
];

/// How many of [`BUILT_IN`]'s entries were there before the language tools'
/// entries: the first time one of the others ignores a change, the
/// terminal says so.
const BUILT_IN_BEFORE: usize = 9;

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

/// What the rules are made from, besides the `-w` paths.
#[derive(Debug)]
pub(super) struct Options<'a> {
    /// `--ignore` patterns, relative to `base`.
    pub ignores: &'a [String],
    /// `-e`: extensions, without the dot.
    pub exts: &'a [String],
    /// `--filter` patterns, relative to `base`.
    pub filters: &'a [String],
    /// The current directory, canonical.
    pub base: &'a Path,
    /// Directories whose changes never count (systemfd's own).
    pub exclude: Vec<PathBuf>,
    /// Whether the built-in list applies (`--no-default-ignore` drops it).
    pub default_ignore: bool,
    /// Whether git's global excludes file applies (`--no-global-ignore`).
    pub global_ignore: bool,
}

/// Where a rule that ignored a change came from, for the line said the
/// first time a source that did not exist before acts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum Source {
    /// An entry of the built-in list added with the language tools: the
    /// pattern and what writes such files.
    BuiltIn(&'static str, &'static str),
    /// A repository's `info/exclude`.
    InfoExclude(PathBuf),
    /// Git's global excludes file.
    Global(PathBuf),
}

/// One `--watch` path.
#[derive(Debug)]
pub(super) struct Root {
    /// Canonical.
    path: PathBuf,
    is_dir: bool,
    /// The last directory whose ignore files apply: the top of the Git
    /// work tree around `path`, or `path` itself outside one.
    top: PathBuf,
    /// The repository's `info/exclude` and the global excludes, when `top`
    /// is a Git work tree: the rules after the ignore files.
    repository: Option<Arc<Repository>>,
}

/// A Git work tree's rules beyond its ignore files, weakest last.
#[derive(Debug)]
struct Repository {
    excludes: Vec<(Source, Gitignore)>,
}

impl Repository {
    /// The work tree `tree`'s `info/exclude`, and with `global_ignore` git's
    /// global excludes file (which asks `git config`).
    fn read(tree: &git::WorkTree, global_ignore: bool) -> Repository {
        let mut excludes = Vec::new();
        if let Some(file) = tree.info_exclude() {
            if let Some(rules) = load(&file, &tree.top) {
                excludes.push((Source::InfoExclude(file), rules));
            }
        }
        if global_ignore {
            if let Some(file) = git::global_excludes(&tree.top) {
                if let Some(rules) = load(&file, &tree.top) {
                    excludes.push((Source::Global(file), rules));
                }
            }
        }
        Repository { excludes }
    }
}

impl Root {
    /// The root for the canonical `path`; a work tree's other rules are
    /// read once for all the roots in it (`repositories`, by top).
    fn new(
        path: &Path,
        global_ignore: bool,
        repositories: &mut HashMap<PathBuf, Arc<Repository>>,
    ) -> Root {
        let is_dir = path.is_dir();
        let dir = if is_dir {
            path
        } else {
            path.parent().unwrap_or(path)
        };
        let work_tree = git::work_tree(dir);
        let top = work_tree.as_ref().map_or(dir, |tree| &tree.top).to_owned();
        let repository = work_tree.map(|tree| {
            Arc::clone(
                repositories
                    .entry(tree.top.clone())
                    .or_insert_with(|| Arc::new(Repository::read(&tree, global_ignore))),
            )
        });
        Root {
            path: path.to_owned(),
            is_dir,
            top,
            repository,
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

/// `-e` and `--filter`: what a file must be for its change to count.
#[derive(Debug)]
struct Filters {
    /// Without the dot.
    exts: Vec<OsString>,
    patterns: Gitignore,
    /// The current directory, which the patterns are relative to.
    base: PathBuf,
}

impl Filters {
    /// Whether a change to `path` passes: a file with one of the
    /// extensions, or anything a pattern matches (a pattern naming a
    /// directory takes what is below it).
    fn pass(&self, path: &Path, is_dir: bool) -> bool {
        if !is_dir
            && path
                .extension()
                .is_some_and(|ext| self.exts.iter().any(|e| e == ext))
        {
            return true;
        }
        if self.patterns.num_ignores() == 0 {
            return false;
        }
        // The path, then its directories up to the current directory (a
        // pattern naming a directory takes what is below it).
        let mut current = Some(path);
        let mut is_dir = is_dir;
        while let Some(at) = current {
            match self.patterns.matched(glob_path(at), is_dir) {
                Match::Ignore(_) => return true,
                Match::Whitelist(_) => return false,
                Match::None => {}
            }
            current = at
                .parent()
                .filter(|dir| dir.starts_with(&self.base) && *dir != self.base);
            is_dir = true;
        }
        false
    }
}

/// Decides which changed paths count; reads ignore files as it needs them
/// and keeps them until told to forget.
#[derive(Debug)]
pub(super) struct Rules {
    roots: Vec<Root>,
    built_in: Gitignore,
    patterns: Gitignore,
    /// `None` without `-e` and `--filter`: everything passes.
    filters: Option<Filters>,
    /// Directories whose changes never count (systemfd's own).
    exclude: Vec<PathBuf>,
    /// Parsed ignore files by path; `None` when there is no such file.
    files: HashMap<PathBuf, Option<Gitignore>>,
    /// The new sources that have ignored a change, and what they ignored
    /// first; said once each.
    acted: HashSet<Source>,
    first_acts: Vec<(Source, PathBuf)>,
}

impl Rules {
    /// Rules for the canonical `roots`, in `-w` order. Fails on an
    /// `--ignore` or `--filter` pattern that does not parse, naming it.
    pub(super) fn new(roots: &[PathBuf], options: Options<'_>) -> Result<Rules> {
        let mut built_in = GitignoreBuilder::new("/");
        if options.default_ignore {
            for (line, _) in BUILT_IN {
                built_in.add_line(None, line)?;
            }
        }
        let mut patterns = GitignoreBuilder::new(options.base);
        for line in options.ignores {
            patterns
                .add_line(None, line)
                .with_context(|| format!("invalid --ignore pattern '{line}'"))?;
        }
        let filters = if options.exts.is_empty() && options.filters.is_empty() {
            None
        } else {
            let mut builder = GitignoreBuilder::new(options.base);
            for line in options.filters {
                builder
                    .add_line(None, line)
                    .with_context(|| format!("invalid --filter pattern '{line}'"))?;
            }
            Some(Filters {
                exts: options.exts.iter().map(OsString::from).collect(),
                patterns: builder.build()?,
                base: options.base.to_owned(),
            })
        };
        let mut repositories = HashMap::new();
        Ok(Rules {
            roots: roots
                .iter()
                .map(|path| Root::new(path, options.global_ignore, &mut repositories))
                .collect(),
            built_in: built_in.build()?,
            patterns: patterns.build()?,
            filters,
            exclude: options.exclude,
            files: HashMap::new(),
            acted: HashSet::new(),
            first_acts: Vec::new(),
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

    /// Whether a change to `path` (absolute) counts: nothing ignores it
    /// (see [`Rules::ignores`]) and it passes `-e` and `--filter`. The
    /// first time a source that did not exist before ignores a change, it
    /// is kept for [`Rules::take_first_acts`].
    pub(super) fn counts(&mut self, path: &Path, kind: Kind) -> bool {
        match self.verdict(path, kind) {
            Verdict::Ignored(Some(source)) => {
                if self.acted.insert(source.clone()) {
                    self.first_acts.push((source, path.to_owned()));
                }
                false
            }
            Verdict::Ignored(None) => false,
            Verdict::Counts => self.passes(path, kind),
        }
    }

    /// The sources that ignored a change for the first time since the last
    /// call, each with the path it ignored.
    pub(super) fn take_first_acts(&mut self) -> Vec<(Source, PathBuf)> {
        std::mem::take(&mut self.first_acts)
    }

    /// Whether `path` passes `-e` and `--filter` (everything does without
    /// them). A `-w` path itself always passes.
    pub(super) fn passes(&self, path: &Path, kind: Kind) -> bool {
        let Some(filters) = &self.filters else {
            return true;
        };
        if self.roots.iter().any(|root| root.path == path) {
            return true;
        }
        let is_dir = match kind {
            Kind::File => false,
            // A directory gone (removed, moved away) may have held files
            // that pass: what it held is no longer there to ask.
            Kind::Dir if !path.exists() => return true,
            Kind::Dir => true,
            Kind::Unknown => path.is_dir(),
        };
        filters.pass(path, is_dir)
    }

    /// Whether a change to `path` (absolute) is ignored: outside every `-w`
    /// path, in an excluded directory, or ignored by a rule at any level
    /// between a `-w` directory and the path. A `-w` path itself is never
    /// ignored: only what lies below it is filtered.
    pub(super) fn ignores(&mut self, path: &Path, kind: Kind) -> bool {
        matches!(self.verdict(path, kind), Verdict::Ignored(_))
    }

    fn verdict(&mut self, path: &Path, kind: Kind) -> Verdict {
        if self.exclude.iter().any(|dir| path.starts_with(dir)) {
            return Verdict::Ignored(None);
        }
        let mut first = None;
        for index in 0..self.roots.len() {
            let root = &self.roots[index];
            if !root.is_dir {
                if path == root.path {
                    return Verdict::Counts;
                }
                continue;
            }
            let Ok(below) = path.strip_prefix(&root.path) else {
                continue;
            };
            let components: Vec<_> = below.components().collect();
            let mut candidate = root.path.clone();
            let mut ignored = None;
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
                if let Some(source) = self.rule_ignores(index, &candidate, is_dir) {
                    ignored = Some(source);
                    break;
                }
            }
            match ignored {
                None => return Verdict::Counts,
                Some(source) => {
                    first.get_or_insert(source);
                }
            }
        }
        Verdict::Ignored(first.flatten())
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

    /// Whether a walk that reached `path`, in a directory it wanted below
    /// `-w` path number `root`, is to leave `path` alone: a rule ignores
    /// `path` itself, whatever its parents (which the walk has judged).
    pub(super) fn ignores_entry(&mut self, root: usize, path: &Path, is_dir: bool) -> bool {
        self.exclude.iter().any(|dir| path.starts_with(dir))
            || self.rule_ignores(root, path, is_dir).is_some()
    }

    /// Whether a rule ignores `path` itself, whatever its parents, for the
    /// `-w` directory number `root`: `Some` with the rule's source when it
    /// is one that did not exist before, `Some(None)` for the others.
    fn rule_ignores(&mut self, root: usize, path: &Path, is_dir: bool) -> Option<Option<Source>> {
        let glob = glob_path(path);
        match self.patterns.matched(&glob, is_dir) {
            Match::Ignore(_) => return Some(None),
            Match::Whitelist(_) => return None,
            Match::None => {}
        }
        if let Match::Ignore(rule) = self.built_in.matched(&glob, is_dir) {
            let entry = BUILT_IN
                .iter()
                .position(|(line, _)| *line == rule.original())
                .filter(|&at| at >= BUILT_IN_BEFORE)
                .map(|at| Source::BuiltIn(BUILT_IN[at].0, BUILT_IN[at].1));
            return Some(entry);
        }
        let top = &self.roots[root].top;
        for dir in path.ancestors().skip(1) {
            for name in IGNORE_FILES {
                let file = self
                    .files
                    .entry(dir.join(name))
                    .or_insert_with_key(|file| load(file, file.parent().unwrap_or(file)));
                match file.as_ref().map(|rules| rules.matched(&glob, is_dir)) {
                    Some(Match::Ignore(_)) => return Some(None),
                    Some(Match::Whitelist(_)) => return None,
                    _ => {}
                }
            }
            if dir == top {
                break;
            }
        }
        let repository = self.roots[root].repository.as_ref()?;
        for (source, rules) in &repository.excludes {
            match rules.matched(&glob, is_dir) {
                Match::Ignore(_) => return Some(Some(source.clone())),
                Match::Whitelist(_) => return None,
                Match::None => {}
            }
        }
        None
    }
}

/// What the rules say of a path.
enum Verdict {
    Counts,
    /// With the source when it is one that did not exist before.
    Ignored(Option<Source>),
}

/// Parses a file in `.gitignore` syntax whose patterns are relative to
/// `dir`; lines that do not parse are skipped, as git does. The lines are
/// read as bytes: a name that is not UTF-8 is matched as git matches it
/// (see [`glob_text`]). `None` when there is no such file.
fn load(file: &Path, dir: &Path) -> Option<Gitignore> {
    let bytes = std::fs::read(file).ok()?;
    let mut builder = GitignoreBuilder::new(dir);
    // Git skips a byte order mark at the start.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    for line in bytes.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let _ = builder.add_line(Some(file.to_owned()), &glob_text(line));
    }
    builder.build().ok()
}

/// The first code point of the block that stands for bytes that are not
/// UTF-8: byte `b` becomes `U+10FE00 + b`, in a private use plane no file
/// name uses, so such a byte in a pattern matches the same byte in a name,
/// and only it.
const RAW_BYTE: u32 = 0x10_FE00;

/// `bytes` (a line of an ignore file, or a name) as text the glob matcher
/// takes: UTF-8 as it is, each other byte as a code point of its own
/// (see [`RAW_BYTE`]).
pub(super) fn glob_text(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Cow::Borrowed(text);
    }
    let mut text = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        text.push_str(chunk.valid());
        for &byte in chunk.invalid() {
            text.push(char::from_u32(RAW_BYTE + u32::from(byte)).expect("a valid code point"));
        }
    }
    Cow::Owned(text)
}

/// `path` as the glob matcher sees it: itself when it is UTF-8 (or on
/// Windows, where names are UTF-16), otherwise through [`glob_text`].
pub(super) fn glob_path(path: &Path) -> Cow<'_, Path> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt as _;
        if path.to_str().is_none() {
            let text = glob_text(path.as_os_str().as_bytes()).into_owned();
            return Cow::Owned(PathBuf::from(text));
        }
    }
    Cow::Borrowed(path)
}
