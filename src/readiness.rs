//! Readiness: the `sd_notify` protocol, receiving end.
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

/// The variable that names the socket.
pub const VARIABLE: &str = "NOTIFY_SOCKET";

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
    /// Creates `$TMPDIR/systemfd-XXXXXX`, readable by its owner only.
    pub fn create() -> io::Result<Directory> {
        let dir = tempfile::Builder::new()
            .prefix("systemfd-")
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
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn parses_newline_separated_assignments() {
        let message = Message::parse(b"READY=1\nSTATUS=Serving on :5000\nMAINPID=42\n");
        assert_eq!(
            message,
            Message {
                ready: true,
                stopping: false,
                status: Some("Serving on :5000".into()),
            }
        );
    }

    #[test]
    fn only_ready_1_is_readiness() {
        assert!(Message::parse(b"READY=1").ready);
        for text in [
            &b"READY=0"[..],
            b"READY=",
            b"READY",
            b"ready=1",
            b"READY=1 ",
            b"",
            b"\n\n",
        ] {
            assert!(
                !Message::parse(text).ready,
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn ignores_junk_and_keeps_the_last_status() {
        let message = Message::parse(b"garbage\n=\nSTATUS=a=b\nSTOPPING=1\nSTATUS=two\xff");
        assert!(message.stopping && !message.ready);
        assert_eq!(message.status.as_deref(), Some("two\u{fffd}"));
    }

    #[test]
    fn the_directory_is_private_and_removed() {
        let directory = Directory::create().unwrap();
        let path = directory.path().to_owned();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        drop(directory);
        assert!(!path.exists());
    }

    #[test]
    fn datagrams_reach_the_listener_until_it_is_dropped() {
        let directory = Directory::create().unwrap();
        let (tx, rx) = mpsc::channel();
        let listener = directory.listen(7, move |m| tx.send(m).unwrap()).unwrap();
        assert!(listener.path().ends_with("notify-7"));
        let client = UnixDatagram::unbound().unwrap();
        client.send_to(b"READY=1", listener.path()).unwrap();
        let message = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(message.ready);

        let path = listener.path().to_owned();
        drop(listener);
        assert!(!path.exists());
        // The thread ended: its sender is gone.
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(10)),
            Err(mpsc::RecvTimeoutError::Disconnected)
        );
    }
}
