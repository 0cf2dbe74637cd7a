//! A project directory of a test's own: what systemfd runs in, watches and
//! writes its sockets to.

use std::path::{Path, PathBuf};
use std::time::Instant;

/// A fresh directory, removed when dropped, and the files a test puts in it.
pub struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    /// A project with the directories `dirs` (relative paths) made.
    pub fn new(dirs: &[&str]) -> Project {
        let project = Project {
            dir: super::temp_dir(),
        };
        for dir in dirs {
            project.mkdir(dir);
        }
        project
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Makes a directory, and those above it.
    pub fn mkdir(&self, relative: &str) {
        std::fs::create_dir_all(self.path(relative)).unwrap();
    }

    /// Writes a file, making the directories above it.
    pub fn write(&self, relative: &str, text: &str) {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// Writes a file with new content each time: a change to see.
    pub fn touch(&self, relative: &str) {
        self.write(relative, &format!("{:?}\n", Instant::now()));
    }
}
