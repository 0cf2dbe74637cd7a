//! The `sd_notify` protocol, receiving end: how a child reports readiness.
//!
//! Every supervised child gets `NOTIFY_SOCKET`, the path of a Unix datagram
//! socket that systemfd binds for that child alone, in a private directory
//! (mode 0700, removed on exit). Any datagram on a child's socket therefore
//! comes from that child's process tree: no credentials are needed, which
//! keeps it working on macOS too. A datagram holds newline-separated
//! `KEY=VALUE` assignments; systemfd acts on `READY=1` and shows `STATUS=`.
//! See `docs/protocol.md`.

use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What one datagram said. Unknown keys and lines without `=` are ignored,
/// as systemd ignores them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    /// `READY=1`: startup is finished.
    pub ready: bool,
    /// `STOPPING=1`: shutting down.
    pub stopping: bool,
    /// `STATUS=…`: a free-form status line.
    pub status: Option<String>,
}

impl Message {
    pub fn parse(datagram: &[u8]) -> Message {
        let mut message = Message::default();
        let text = String::from_utf8_lossy(datagram);
        for line in text.split('\n') {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            match key {
                "READY" => message.ready |= value == "1",
                "STOPPING" => message.stopping |= value == "1",
                "STATUS" => message.status = Some(value.to_owned()),
                _ => {}
            }
        }
        message
    }
}

/// The private directory that holds the children's sockets.
#[derive(Debug)]
pub struct Directory {
    dir: tempfile::TempDir,
}

impl Directory {
    /// Creates `$TMPDIR/systemfd-PID-XXXXXX`, readable by its owner only,
    /// after removing those that runs which no longer live left behind (a
    /// SIGKILLed systemfd cannot clean up after itself).
    pub fn create() -> io::Result<Directory> {
        remove_stale(&std::env::temp_dir());
        let dir = tempfile::Builder::new()
            .prefix(&format!("{PREFIX}{}-", std::process::id()))
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()?;
        // A socket path must fit sun_path.
        let longest = dir.path().join(format!("notify-{}", u64::MAX));
        if longest.as_os_str().len() > crate::spec::MAX_UNIX_PATH_LEN {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} is too long a path for Unix sockets; set TMPDIR to a shorter directory",
                    dir.path().display()
                ),
            ));
        }
        Ok(Directory { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Binds the socket for child `generation` and calls `on_message` for
    /// each datagram, on a thread of its own, until the [`Listener`] is dropped.
    pub fn listen(
        &self,
        generation: u64,
        mut on_message: impl FnMut(Message) + Send + 'static,
    ) -> io::Result<Listener> {
        let path = self.dir.path().join(format!("notify-{generation}"));
        let socket = UnixDatagram::bind(&path)?;
        let closed = Arc::new(AtomicBool::new(false));
        let listener = Listener {
            path,
            closed: Arc::clone(&closed),
        };
        std::thread::Builder::new()
            .name(format!("notify-{generation}"))
            .spawn(move || {
                // sd_notify datagrams are small; a longer one is cut, not lost.
                let mut buf = vec![0u8; 4096];
                while let Ok(len) = socket.recv(&mut buf) {
                    if closed.load(Ordering::Acquire) {
                        break;
                    }
                    on_message(Message::parse(&buf[..len]));
                }
            })?;
        Ok(listener)
    }
}

/// How the private directories are named: `systemfd-PID-XXXXXX`.
const PREFIX: &str = "systemfd-";

/// The pid of the run that made `name`, if it is one of our directories.
fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    let (pid, random) = rest.split_once('-')?;
    if random.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Removes private directories in `tmp` of runs whose process is gone: only
/// directories of this user, named as ours, holding nothing but `notify-N`
/// sockets. Anything else is left alone.
fn remove_stale(tmp: &Path) {
    use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    let me = crate::sys::user_id();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(owner_pid) else {
            continue;
        };
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.is_dir() || meta.uid() != me || crate::sys::process_exists(pid) {
            continue;
        }
        let Ok(inside) = std::fs::read_dir(&path) else {
            continue;
        };
        for socket in inside.flatten() {
            let is_ours = socket.file_name().to_str().is_some_and(|n| {
                n.strip_prefix("notify-")
                    .is_some_and(|g| !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit()))
            });
            let is_socket = socket.file_type().is_ok_and(|t| t.is_socket());
            if is_ours && is_socket {
                let _ = std::fs::remove_file(socket.path());
            }
        }
        // Fails, and leaves it, if anything else is inside.
        let _ = std::fs::remove_dir(&path);
    }
}

/// One child's socket; dropping it stops its thread and removes the file.
#[derive(Debug)]
pub struct Listener {
    path: PathBuf,
    closed: Arc<AtomicBool>,
}

impl Listener {
    /// The value of `NOTIFY_SOCKET` for the child.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Release);
        // Wake the thread with an empty datagram. Non-blocking: if the child
        // filled the queue, the thread wakes on that backlog instead.
        if let Ok(waker) = UnixDatagram::unbound() {
            let _ = waker.set_nonblocking(true);
            let _ = waker.send_to(&[], &self.path);
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests;
