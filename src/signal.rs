//! Signals by number, named as the platform names them.
//!
//! Portable so that the restart decisions and their messages are plain Rust;
//! only Unix has signals to send (`--stop-signal` is refused elsewhere;
//! Windows knows Ctrl-C, which stops supervise mode).

use std::fmt;

/// A signal, by its number on this platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signal(pub i32);

impl Signal {
    /// The signal that stops a child unless `--stop-signal` says otherwise.
    #[cfg(unix)]
    pub const TERM: Signal = Signal(libc::SIGTERM);
    #[cfg(unix)]
    pub const KILL: Signal = Signal(libc::SIGKILL);
    #[cfg(unix)]
    pub const CONT: Signal = Signal(libc::SIGCONT);
    /// Holds a process still; it cannot be caught (supervise mode freezes
    /// an old child with it while it counts its connections).
    #[cfg(unix)]
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub const STOP: Signal = Signal(libc::SIGSTOP);
    #[cfg(unix)]
    pub const TSTP: Signal = Signal(libc::SIGTSTP);
    #[cfg(unix)]
    pub const INT: Signal = Signal(libc::SIGINT);
    /// Ctrl-C, as the C runtime numbers it; what stops supervise mode.
    #[cfg(windows)]
    pub const INT: Signal = Signal(2);
    /// Ctrl-Break, as the C runtime numbers it (`SIGBREAK`); what asks a
    /// child to stop in supervise mode.
    #[cfg(windows)]
    pub const BREAK: Signal = Signal(21);

    /// The highest signal number there is: Linux has real-time signals up
    /// to 64; elsewhere the classic 31.
    pub const MAX: i32 = if cfg!(any(target_os = "linux", target_os = "android")) {
        64
    } else {
        31
    };

    /// The signal called `name` (`TERM`, without `SIG`), if there is one here.
    pub fn from_name(name: &str) -> Option<Signal> {
        NAMES
            .iter()
            .find(|&&(known, _)| known == name)
            .map(|&(_, number)| Signal(number))
    }

    /// The name without `SIG`, when the signal has one here.
    pub fn name(self) -> Option<&'static str> {
        NAMES
            .iter()
            .find(|&&(_, number)| number == self.0)
            .map(|&(name, _)| name)
    }
}

impl fmt::Display for Signal {
    /// `SIGTERM`, or `signal 40` for one without a name; on Windows, where
    /// the only one is the console's, `Ctrl-C`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        #[cfg(windows)]
        if *self == Signal::INT {
            return f.write_str("Ctrl-C");
        }
        #[cfg(windows)]
        if *self == Signal::BREAK {
            return f.write_str("Ctrl-Break");
        }
        match self.name() {
            Some(name) => write!(f, "SIG{name}"),
            None => write!(f, "signal {}", self.0),
        }
    }
}

/// The signals known by name, with their numbers here.
#[cfg(unix)]
const NAMES: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("SYS", libc::SIGSYS),
];

/// Windows has no signals to send.
#[cfg(not(unix))]
const NAMES: &[(&str, i32)] = &[];

#[cfg(all(test, unix))]
mod tests;
