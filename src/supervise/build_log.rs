//! The build step's output: shown on systemfd's stderr as it comes, and
//! its last part kept for the error page.
//!
//! COMMAND's own output is never piped (a pipe would turn its colours off,
//! hold back Python's logs and break `breakpoint()`); the build's is,
//! because its last lines are what the error page shows when it fails.

use std::io::{Read, Write as _};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// How much of the build's output is kept: its last 64 KiB.
pub const KEEP: usize = 64 * 1024;

/// How long [`BuildLog::output`] waits for the end of the output once the
/// build has exited (a process it left behind may hold the pipe open).
pub const SETTLE: Duration = Duration::from_millis(200);

/// One build's output, copied by a thread of its own.
pub struct BuildLog {
    tail: Arc<Mutex<Vec<u8>>>,
    /// Closed once the thread has read to the end.
    done: mpsc::Receiver<()>,
}

impl BuildLog {
    /// Starts copying `reader` (the read end of the build's stdout and
    /// stderr) to systemfd's stderr, keeping the last [`KEEP`] bytes.
    ///
    /// # Errors
    /// When the thread cannot be started.
    pub fn start(reader: impl Read + Send + 'static) -> std::io::Result<BuildLog> {
        let tail = Arc::new(Mutex::new(Vec::new()));
        let (done_tx, done) = mpsc::channel::<()>();
        let kept = Arc::clone(&tail);
        std::thread::Builder::new()
            .name("build output".into())
            .spawn(move || {
                copy(reader, &kept);
                drop(done_tx);
            })?;
        Ok(BuildLog { tail, done })
    }

    /// The kept output: its last [`KEEP`] bytes at most, from the start of
    /// a line when it was cut. Waits up to [`SETTLE`] for the output to end.
    pub fn output(&self) -> Vec<u8> {
        let _ = self.done.recv_timeout(SETTLE);
        let tail = self.tail.lock().map(|t| t.clone()).unwrap_or_default();
        from_line_start(tail)
    }
}

/// Copies until end of file or an error, keeping the tail in `kept`. An
/// output whose last line has no line break gets one, so that systemfd's
/// next line starts a line of its own.
fn copy(mut reader: impl Read, kept: &Mutex<Vec<u8>>) {
    let mut buffer = [0u8; 8192];
    let mut open_line = false;
    loop {
        let read = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        open_line = buffer[read - 1] != b'\n';
        // A closed stderr must not stop the build: its output is dropped.
        let _ = std::io::stderr().lock().write_all(&buffer[..read]);
        if let Ok(mut tail) = kept.lock() {
            keep(&mut tail, &buffer[..read]);
        }
    }
    if open_line {
        let _ = std::io::stderr().lock().write_all(b"\n");
    }
}

/// Appends `bytes` to `tail`, which holds at most twice [`KEEP`] bytes
/// between trims, so trimming costs once per [`KEEP`] bytes.
fn keep(tail: &mut Vec<u8>, bytes: &[u8]) {
    tail.extend_from_slice(bytes);
    if tail.len() > 2 * KEEP {
        let start = line_start(tail, tail.len() - KEEP);
        tail.drain(..start);
    }
}

/// The last [`KEEP`] bytes of `tail`, from the start of a line.
fn from_line_start(mut tail: Vec<u8>) -> Vec<u8> {
    if tail.len() > KEEP {
        let start = line_start(&tail, tail.len() - KEEP);
        tail.drain(..start);
    }
    tail
}

/// Where the first line that starts at or after `cut` starts (`cut`
/// itself when no line break follows it).
fn line_start(tail: &[u8], cut: usize) -> usize {
    if cut == 0 || tail[cut - 1] == b'\n' {
        return cut;
    }
    tail[cut..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(cut, |at| cut + at + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_output_is_kept_whole() {
        let log = BuildLog::start(&b"warning: unused variable\n"[..]).unwrap();
        assert_eq!(log.output(), b"warning: unused variable\n");
    }

    #[test]
    fn long_output_keeps_its_last_lines_whole() {
        let mut input = Vec::new();
        for i in 0..20_000 {
            input.extend_from_slice(format!("line {i}\n").as_bytes());
        }
        let log = BuildLog::start(std::io::Cursor::new(input)).unwrap();
        let output = log.output();
        assert!(output.len() <= KEEP);
        assert!(output.starts_with(b"line "), "cut inside a line");
        assert!(output.ends_with(b"line 19999\n"));
    }
}
