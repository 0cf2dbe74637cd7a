//! What only Linux has: the child subreaper, the process table as `/proc`
//! shows it, seccomp user notification (`linux/seccomp.rs`) and a
//! process's pidfd id (`linux/pidfd.rs`).

#[path = "linux/pidfd.rs"]
pub mod pidfd;
#[path = "linux/seccomp.rs"]
pub mod seccomp;

pub use seccomp::Process;

use std::io;

/// Makes systemfd the reaper of its orphaned descendants (Linux): a process
/// that leaves its parent behind (a daemon, a wrapper's background job whose
/// wrapper exited) becomes systemfd's child instead of init's, so it can
/// still be found and stopped.
pub fn become_subreaper() -> io::Result<()> {
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) sets a flag of this process and
    // reads no memory.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A process as `/proc/PID/stat` describes it: its parent, its group, and
/// whether it is a zombie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    pub parent: u32,
    pub group: u32,
    /// Exited, not reaped yet (state `Z` or `X`).
    pub zombie: bool,
}

/// Every process this user can see, with its parent and group (Linux, from
/// `/proc`). Processes that exit during the scan are left out.
pub fn processes() -> Vec<ProcessInfo> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            parse_stat(pid, &stat)
        })
        .collect()
}

/// `PID (COMM) STATE PPID PGRP …`; COMM may hold spaces and parentheses,
/// so the fields are counted from the last `)`.
fn parse_stat(pid: u32, stat: &str) -> Option<ProcessInfo> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let zombie = matches!(fields.next()?, "Z" | "X");
    let parent = fields.next()?.parse().ok()?;
    let group = fields.next()?.parse().ok()?;
    Some(ProcessInfo {
        pid,
        parent,
        group,
        zombie,
    })
}

/// Signals blocked in the calling thread (and the threads it starts
/// after), to be taken one at a time with [`SignalSet::wait`].
pub struct SignalSet(libc::sigset_t);

impl SignalSet {
    /// Blocks `signals` in the calling thread. Children started by
    /// `sys::spawn` clear their mask, so they receive them as usual.
    ///
    /// # Errors
    /// When the mask cannot be changed.
    pub fn block(signals: &[i32]) -> io::Result<SignalSet> {
        // SAFETY: sigemptyset, sigaddset and pthread_sigmask write only to
        // the local sigset_t; an unknown signal number is refused by
        // sigaddset, checked below.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for &signal in signals {
                if libc::sigaddset(&mut set, signal) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            let rv = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            if rv != 0 {
                return Err(io::Error::from_raw_os_error(rv));
            }
            Ok(SignalSet(set))
        }
    }

    /// Waits for one of the signals. Returns it, and whether the kernel
    /// sent it (a terminal's Ctrl-C or hang-up, a child's exit) rather than
    /// a process (kill).
    ///
    /// # Errors
    /// When sigwaitinfo fails for another reason than being interrupted.
    pub fn wait(&self) -> io::Result<(i32, bool)> {
        loop {
            // SAFETY: a zeroed siginfo_t is valid for sigwaitinfo to fill;
            // the set is a valid sigset_t.
            let (signal, info) = unsafe {
                let mut info: libc::siginfo_t = std::mem::zeroed();
                (libc::sigwaitinfo(&self.0, &mut info), info)
            };
            if signal > 0 {
                return Ok((signal, info.si_code == libc::SI_KERNEL));
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}

/// How long, in ms, a connection whose last answer and last request fell in
/// the same tick must stay quiet to count as waiting for its client.
pub const SAME_TICK_IDLE: u32 = 1000;

/// What `TCP_INFO` tells of a connection's traffic (`struct tcp_info`,
/// `<linux/tcp.h>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpTraffic {
    /// Segments sent and not acknowledged yet.
    pub unacked: u32,
    /// Milliseconds since data was last sent.
    pub last_data_sent: u32,
    /// Milliseconds since data was last received.
    pub last_data_recv: u32,
    /// Bytes sent and acknowledged by the peer (Linux 4.1).
    pub bytes_acked: u64,
    /// Bytes received (Linux 4.1).
    pub bytes_received: u64,
}

/// `TCP_INFO` of the TCP socket `socket`.
///
/// # Errors
/// When `socket` is not a TCP socket, or the kernel's answer is too short.
pub fn tcp_traffic(socket: std::os::fd::BorrowedFd<'_>) -> io::Result<TcpTraffic> {
    use std::os::fd::AsRawFd as _;
    // Offsets in struct tcp_info: tcpi_unacked, tcpi_last_data_sent,
    // tcpi_last_data_recv, tcpi_bytes_acked, tcpi_bytes_received.
    const UNACKED: usize = 24;
    const LAST_DATA_SENT: usize = 44;
    const LAST_DATA_RECV: usize = 52;
    const BYTES_ACKED: usize = 120;
    const BYTES_RECEIVED: usize = 128;
    let mut info = [0u8; 136];
    let mut len = info.len() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `info` and the
    // length it wrote into `len`.
    let rv = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rv < 0 {
        return Err(io::Error::last_os_error());
    }
    if (len as usize) < BYTES_RECEIVED + 8 {
        return Err(io::Error::other("TCP_INFO is too short"));
    }
    let field =
        |at: usize| u32::from_ne_bytes([info[at], info[at + 1], info[at + 2], info[at + 3]]);
    Ok(TcpTraffic {
        unacked: field(UNACKED),
        last_data_sent: field(LAST_DATA_SENT),
        last_data_recv: field(LAST_DATA_RECV),
        bytes_acked: u64::from_ne_bytes(
            info[BYTES_ACKED..BYTES_ACKED + 8]
                .try_into()
                .expect("8 bytes"),
        ),
        bytes_received: u64::from_ne_bytes(
            info[BYTES_RECEIVED..BYTES_RECEIVED + 8]
                .try_into()
                .expect("8 bytes"),
        ),
    })
}

impl TcpTraffic {
    /// Whether the connection waits for the client's next request, as an
    /// idle keep-alive connection does: an answer was sent and acknowledged
    /// in full, and nothing was received since. The times are in the
    /// kernel's ticks (1–10 ms), so an answer and a request in the same tick
    /// cannot be put in order: that counts as busy (a request sent at once
    /// after the last answer) until [`SAME_TICK_IDLE`] has passed quietly.
    /// A connection that has carried nothing either way since it was
    /// accepted [`SAME_TICK_IDLE`] ago waits too: a browser's preconnected
    /// connection, which may never carry a request. Any other connection
    /// that has answered nothing yet, or has data in flight, is busy.
    pub fn awaits_client(&self) -> bool {
        let answered_last = self.last_data_recv > self.last_data_sent
            || (self.last_data_recv == self.last_data_sent
                && self.last_data_sent >= SAME_TICK_IDLE);
        let untouched = self.bytes_received == 0
            && self.bytes_acked == 0
            && self.unacked == 0
            && self.last_data_recv >= SAME_TICK_IDLE;
        untouched || (self.bytes_acked > 0 && self.unacked == 0 && answered_last)
    }
}

#[cfg(test)]
#[path = "linux/tests.rs"]
mod tests;
