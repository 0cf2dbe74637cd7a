//! The terminal systemfd runs at, shared with the command as a shell shares
//! it with a job.
//!
//! systemfd keeps the terminal's foreground while the command does not
//! touch the terminal, so Ctrl-C and Ctrl-Z reach systemfd, which stops or
//! suspends the command's process groups itself. When the command reads
//! from the terminal, or sets it up (raw mode), the kernel stops it with
//! SIGTTIN or SIGTTOU, since its group is in the background; systemfd then
//! lends it the foreground and continues it, as a shell's `fg` would. From
//! then on the terminal's keys reach the command: its Ctrl-C handling is its
//! own (a debugger's prompt survives it), and when it dies of Ctrl-C, or
//! stops on Ctrl-Z, systemfd takes the terminal back and does the same for
//! everything else. At exit the terminal gets back its foreground and the
//! settings it had when systemfd started.

use std::io::IsTerminal as _;

use crate::sys;

pub struct Terminal {
    /// Which of stdin, stdout and stderr were terminals at the start.
    was: [bool; 3],
    tty: Option<sys::Tty>,
    /// systemfd's own process group: the shell's job.
    own: u32,
    /// The command's group that holds the foreground on systemfd's behalf.
    lent_to: Option<u32>,
}

impl Terminal {
    pub fn new() -> Terminal {
        let tty = sys::Tty::open();
        if tty.is_some() {
            sys::ignore_terminal_output_stops();
        }
        Terminal {
            was: streams(),
            tty,
            own: sys::own_group(),
            lent_to: None,
        }
    }

    /// Whether a terminal systemfd had is gone (hung up: it no longer
    /// answers as a terminal). SIGHUP then means "the terminal closed", not
    /// "restart".
    pub fn hung_up(&self) -> bool {
        self.was.iter().zip(streams()).any(|(&was, is)| was && !is)
    }

    /// The group the foreground is lent to, if any.
    pub fn lent_to(&self) -> Option<u32> {
        self.lent_to
    }

    /// Lends the foreground to `group` when systemfd's job has it (a
    /// background systemfd leaves the terminal alone). Returns whether it
    /// did.
    pub fn lend(&mut self, group: u32) -> bool {
        let Some(tty) = &self.tty else {
            return false;
        };
        let foreground = tty.foreground();
        if foreground != Some(self.own) && foreground != self.lent_to {
            return false;
        }
        if tty.set_foreground(group).is_err() {
            return false;
        }
        self.lent_to = Some(group);
        true
    }

    /// Takes the foreground back from the command, if it was lent, with
    /// the settings the terminal had at the start (the command may have
    /// left raw mode on), as a shell does when a job ends.
    pub fn take_back(&mut self) {
        if let (Some(tty), Some(group)) = (&self.tty, self.lent_to.take()) {
            if tty.foreground() == Some(group) {
                let _ = tty.set_foreground(self.own);
            }
            tty.restore();
        }
    }

    /// At exit: the foreground back to systemfd's job, and the settings the
    /// terminal had at the start.
    pub fn restore(&mut self) {
        self.take_back();
    }
}

fn streams() -> [bool; 3] {
    [
        std::io::stdin().is_terminal(),
        std::io::stdout().is_terminal(),
        std::io::stderr().is_terminal(),
    ]
}
