//! Where a Git work tree keeps the ignore rules that are not `.gitignore`
//! files: the repository's `info/exclude`, and the global excludes file
//! that `core.excludesFile` names (gitignore(5)).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A Git work tree.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct WorkTree {
    /// The top directory: the one that holds `.git`.
    pub top: PathBuf,
    /// The repository's directory, when it could be found: `.git` itself,
    /// or the directory a `.git` file names (`gitdir: PATH`, in linked
    /// work trees and submodules).
    git_dir: Option<PathBuf>,
}

/// The Git work tree `dir` is in: the nearest directory, `dir` or above,
/// that holds a `.git` directory or file. `None` outside one.
pub(super) fn work_tree(dir: &Path) -> Option<WorkTree> {
    let top = dir.ancestors().find(|d| d.join(".git").exists())?;
    let dot_git = top.join(".git");
    let git_dir = if dot_git.is_dir() {
        Some(dot_git)
    } else {
        std::fs::read(&dot_git)
            .ok()
            .and_then(|text| gitdir_line(&text))
            .map(|named| top.join(named))
    };
    Some(WorkTree {
        top: top.to_owned(),
        git_dir,
    })
}

impl WorkTree {
    /// The repository's `info/exclude`, if the file exists. A linked work
    /// tree shares it with the main one: its `commondir` file names the
    /// directory that holds it (gitrepository-layout(5)).
    pub(super) fn info_exclude(&self) -> Option<PathBuf> {
        let git_dir = self.git_dir.as_ref()?;
        let common = match std::fs::read(git_dir.join("commondir")) {
            // Usually `../..`: shown resolved.
            Ok(text) => {
                let common = git_dir.join(path_of(trim_line(&text))?);
                std::fs::canonicalize(&common).unwrap_or(common)
            }
            Err(_) => git_dir.clone(),
        };
        Some(common.join("info").join("exclude")).filter(|file| file.is_file())
    }
}

/// The path a `.git` file names: its `gitdir: PATH` line.
fn gitdir_line(text: &[u8]) -> Option<PathBuf> {
    path_of(trim_line(text.strip_prefix(b"gitdir:")?).trim_ascii_start())
}

/// The first line of `text`, without its line ending.
fn trim_line(text: &[u8]) -> &[u8] {
    let line = text.split(|&b| b == b'\n').next().unwrap_or_default();
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Bytes read from a file as a path: any bytes on Unix, UTF-8 elsewhere.
fn path_of(bytes: &[u8]) -> Option<PathBuf> {
    if bytes.is_empty() {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt as _;
        Some(PathBuf::from(std::ffi::OsStr::from_bytes(bytes)))
    }
    #[cfg(not(unix))]
    {
        std::str::from_utf8(bytes).ok().map(PathBuf::from)
    }
}

/// Git's global excludes file for the work tree at `top`, if it exists:
/// `core.excludesFile` as `git config` resolves it there (the system,
/// global and repository configuration, includes, `~/` expanded), or, when
/// it is not set, `$XDG_CONFIG_HOME/git/ignore` (`~/.config/git/ignore`
/// without it). Without a `git` to ask, the `ignore` crate reads the
/// configuration files the same way.
pub(super) fn global_excludes(top: &Path) -> Option<PathBuf> {
    let asked = Command::new("git")
        .args(["config", "--path", "--get", "core.excludesFile"])
        .current_dir(top)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    let file = match asked {
        // Set.
        Ok(out) if out.status.success() => top.join(path_of(trim_line(&out.stdout))?),
        // Not set (status 1), or git could not read its configuration.
        Ok(_) => default_excludes()?,
        Err(_) => ignore::gitignore::gitconfig_excludes_path()?,
    };
    file.is_file().then_some(file)
}

/// `$XDG_CONFIG_HOME/git/ignore`, or `~/.config/git/ignore` when it is
/// unset or empty: where Git looks when `core.excludesFile` is not set.
fn default_excludes() -> Option<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::home_dir().map(|home| home.join(".config")))?;
    Some(config.join("git").join("ignore"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_git_file_names_the_repository() {
        assert_eq!(
            gitdir_line(b"gitdir: ../.git/worktrees/feature\n"),
            Some(PathBuf::from("../.git/worktrees/feature"))
        );
        assert_eq!(
            gitdir_line(b"gitdir: /srv/repo.git/modules/lib\r\n"),
            Some(PathBuf::from("/srv/repo.git/modules/lib"))
        );
        assert_eq!(gitdir_line(b"something else"), None);
        assert_eq!(gitdir_line(b"gitdir: \n"), None);
    }

    #[test]
    fn a_linked_work_tree_reads_the_main_repository_s_exclude() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("main");
        let linked = dir.path().join("linked");
        let admin = main.join(".git/worktrees/linked");
        std::fs::create_dir_all(main.join(".git/info")).unwrap();
        std::fs::create_dir_all(&admin).unwrap();
        std::fs::create_dir_all(linked.join("src")).unwrap();
        std::fs::write(main.join(".git/info/exclude"), "*.log\n").unwrap();
        std::fs::write(admin.join("commondir"), "../..\n").unwrap();
        std::fs::write(
            linked.join(".git"),
            format!("gitdir: {}\n", admin.display()),
        )
        .unwrap();

        let tree = work_tree(&linked.join("src")).unwrap();
        assert_eq!(tree.top, linked);
        assert_eq!(
            tree.info_exclude(),
            Some(main.join(".git/info/exclude").canonicalize().unwrap())
        );
        let plain = work_tree(&main).unwrap();
        assert_eq!(plain.info_exclude(), Some(main.join(".git/info/exclude")));
        assert_eq!(work_tree(Path::new("/")), None);
    }
}
