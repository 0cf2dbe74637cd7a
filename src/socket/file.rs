//! A Unix socket's file: which file `bind` made (device and inode, read
//! right after it), so that systemfd can tell later whether the path still
//! names it, and only then remove it. A command may remove the file (some
//! servers unlink their socket's path when they stop) or put another in its
//! place (a socket it bound itself): the socket systemfd passes keeps
//! working, but clients that connect by the path no longer reach it.

use std::io;
use std::path::{Path, PathBuf};

/// The file a Unix socket was bound to, as found right after `bind`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketFile {
    /// The path as given in the spec (relative to the working directory
    /// systemfd started in, which it never leaves).
    pub path: PathBuf,
    /// Its device and inode.
    pub id: (u64, u64),
}

/// What the path of a [`SocketFile`] names now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileState {
    /// The socket file systemfd made.
    Ours,
    /// Nothing: the file was removed.
    Removed,
    /// Another file, or one that cannot be read.
    Replaced,
}

impl SocketFile {
    /// The socket file just bound at `path` (not following a symbolic link:
    /// `bind` makes the file itself).
    ///
    /// # Errors
    /// When `path` cannot be looked at, or is no socket.
    pub fn bound(path: &Path) -> io::Result<SocketFile> {
        use std::os::unix::fs::FileTypeExt as _;
        let metadata = std::fs::symlink_metadata(path)?;
        if !metadata.file_type().is_socket() {
            return Err(io::Error::other("it is not a socket"));
        }
        Ok(SocketFile {
            path: path.to_owned(),
            id: identity(&metadata),
        })
    }

    /// What the path names now.
    pub fn state(&self) -> FileState {
        match std::fs::symlink_metadata(&self.path) {
            Ok(metadata) if identity(&metadata) == self.id => FileState::Ours,
            Err(err) if err.kind() == io::ErrorKind::NotFound => FileState::Removed,
            _ => FileState::Replaced,
        }
    }

    /// Removes the file if the path still names it; leaves alone whatever
    /// took its place.
    pub fn remove(&self) {
        if self.state() == FileState::Ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }

    /// Gives the file `mode` (its permission bits): `chmod` on the path,
    /// once it is seen to be this socket's file (`fchmod` on a socket does
    /// not change its file).
    ///
    /// # Errors
    /// When the path no longer names the file, or chmod fails.
    pub fn set_mode(&self, mode: u32) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt as _;
        if self.state() != FileState::Ours {
            return Err(io::Error::other("another file took its place"));
        }
        std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(mode))
    }

    /// What a user should know once the path no longer names the file, as a
    /// warning line; `None` while it does.
    pub fn warning(&self, state: FileState) -> Option<String> {
        let path = self.path.display();
        match state {
            FileState::Ours => None,
            FileState::Removed => Some(format!(
                "{path} was removed (by the command?): clients that connect to it now fail (no such file), while the command keeps the socket and what is already connected; restart systemfd to make the file again"
            )),
            FileState::Replaced => Some(format!(
                "{path} is no longer systemfd's socket: another file took its place (a socket the command bound itself?); clients that connect to it reach that file, not the passed socket, and systemfd leaves it there at exit"
            )),
        }
    }
}

fn identity(metadata: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt as _;
    (metadata.dev(), metadata.ino())
}

#[cfg(test)]
mod tests;
