//! The children of supervise mode as processes: each command's process
//! group, reaped and signalled as one.
//!
//! A command is running for as long as its process group has a member, not
//! just while the process systemfd started lives: a wrapper (`sh -c`,
//! `npm run`) that exits on SIGTERM at once may leave its server behind in
//! the group, still holding the port. So a child counts as exited only once
//! its leader is reaped *and* its group is empty, and every signal goes to
//! the whole group (SIGKILL after the grace period included, even when the
//! leader is already gone).
//!
//! On Linux systemfd is also a child subreaper: processes that leave the
//! group (`setsid`, daemonizing) and lose their parent become systemfd's
//! children, and stopping a command also signals its descendants outside
//! the group, and those orphans.

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt as _;

use super::state::{Generation, Status};
use crate::output::Printer;
use crate::sd_notify::Listener;
use crate::signal::Signal;
use crate::sys;

/// What [`Children::reap`] saw of a command's first process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum News {
    /// It exited (its group may live on).
    Exited { pid: u32, status: Status },
    /// A process systemfd inherited, no command's first process, exited
    /// (Linux, where systemfd is a subreaper).
    Orphan { pid: u32, status: Status },
    /// A signal stopped it.
    Stopped { pid: u32, signal: Signal },
}

/// What a process group systemfd started runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// COMMAND, as this generation.
    Command(Generation),
    /// The build step.
    Build,
}

/// A started child that has not been seen to end.
struct Running {
    kind: Kind,
    /// Closes the child's readiness socket when dropped (COMMAND's).
    _listener: Option<Listener>,
    /// The leader's status, once reaped; the group may live on.
    leader: Option<Status>,
}

/// Every running child, by its leader's pid (which is also its group's id).
#[derive(Default)]
pub struct Children {
    running: HashMap<u32, Running>,
    /// Children systemfd had before it started any (a shell's process
    /// substitution, forked before it exec'd systemfd): not orphans of a
    /// command's, so never stopped with them nor taken for a server.
    #[cfg(target_os = "linux")]
    foreign: Vec<u32>,
}

impl Children {
    /// No child yet; the processes that are already systemfd's children
    /// are someone else's (Linux).
    pub fn new() -> Children {
        #[cfg(target_os = "linux")]
        let foreign = {
            let me = std::process::id();
            sys::linux::processes()
                .iter()
                .filter(|p| p.parent == me)
                .map(|p| p.pid)
                .collect()
        };
        Children {
            running: HashMap::new(),
            #[cfg(target_os = "linux")]
            foreign,
        }
    }

    /// `pid` leads the group of a new `kind` of child; COMMAND has its
    /// readiness `listener`.
    pub fn insert(&mut self, kind: Kind, pid: u32, listener: Option<Listener>) {
        self.running.insert(
            pid,
            Running {
                kind,
                _listener: listener,
                leader: None,
            },
        );
    }

    /// Reaps what has exited (leaders, and on Linux orphans handed to
    /// systemfd) and returns what happened to the commands' leaders.
    pub fn reap(&mut self, printer: &Printer) -> Vec<News> {
        let mut news = Vec::new();
        loop {
            match sys::reap() {
                Ok(Some((pid, sys::Reaped::Exited(status)))) => {
                    let status = match status.signal() {
                        Some(signal) => Status::Signal(Signal(signal)),
                        None => Status::Code(status.code().unwrap_or(-1)),
                    };
                    match self.running.get_mut(&pid) {
                        Some(child) => {
                            child.leader = Some(status);
                            news.push(News::Exited { pid, status });
                        }
                        None => news.push(News::Orphan { pid, status }),
                    }
                }
                Ok(Some((pid, sys::Reaped::Stopped(signal)))) => {
                    if self.running.contains_key(&pid) {
                        news.push(News::Stopped {
                            pid,
                            signal: Signal(signal),
                        });
                    }
                }
                Ok(None) => return news,
                Err(err) => {
                    printer.warn(&format!("cannot reap children: {err}"));
                    return news;
                }
            }
        }
    }

    /// Sends `signal` to every running command's process group.
    pub fn signal_all(&self, signal: Signal) {
        for &pid in self.running.keys() {
            let _ = sys::signal_group(pid, signal.0);
        }
    }

    /// The children whose leader is reaped and whose group is empty, with
    /// the leader's status; they are forgotten. The build step ends with
    /// its shell, as it would in a terminal: what it left running in the
    /// background (a compiler cache's server) is left alone.
    pub fn ended(&mut self) -> Vec<(Kind, Status)> {
        let mut ended = Vec::new();
        self.running.retain(|&pid, child| match child.leader {
            Some(status) if child.kind == Kind::Build || !sys::group_exists(pid) => {
                ended.push((child.kind, status));
                false
            }
            _ => true,
        });
        ended
    }

    /// The generation of the command whose leader is `pid`, while its
    /// group has not been seen to end.
    pub fn command(&self, pid: u32) -> Option<Generation> {
        match self.running.get(&pid)?.kind {
            Kind::Command(generation) => Some(generation),
            Kind::Build => None,
        }
    }

    /// Whether a child's leader has gone while its group lives on: nothing
    /// tells systemfd when such a group empties, so it has to look.
    pub fn draining(&self) -> bool {
        self.running.values().any(|child| child.leader.is_some())
    }

    /// Sends `signals`, in order, to the child whose leader is `pid`: its
    /// process group and, on Linux, its descendants outside the group (found
    /// once for all of them).
    #[cfg(target_os = "linux")]
    pub fn signal(&self, pid: u32, signals: &[Signal]) -> std::io::Result<()> {
        self.tree(pid).signal(signals)
    }

    /// Sends `signals`, in order, to the process group of the child whose
    /// leader is `pid`.
    #[cfg(not(target_os = "linux"))]
    pub fn signal(&self, pid: u32, signals: &[Signal]) -> std::io::Result<()> {
        for signal in signals {
            sys::signal_group(pid, signal.0)?;
        }
        Ok(())
    }

    /// The processes of the child whose leader is `pid`, as they are now
    /// (Linux): one look at the process table.
    #[cfg(target_os = "linux")]
    pub fn tree(&self, pid: u32) -> Tree {
        let processes = sys::linux::processes();
        let strays = self.strays_in(pid, &processes);
        let mut members: Vec<u32> = processes
            .iter()
            .filter(|p| p.group == pid && !p.zombie)
            .map(|p| p.pid)
            .collect();
        members.extend(&strays);
        Tree {
            leader: pid,
            strays,
            members,
        }
    }

    /// The processes outside the group of `leader` that belong to it: its
    /// descendants while it lives; once it is gone, the orphans systemfd
    /// inherited, and theirs, but for those in another running command's
    /// group (a new command whose wrapper has exited too: its server is
    /// that command's, signalled with its group).
    #[cfg(target_os = "linux")]
    fn strays_in(&self, leader: u32, processes: &[sys::linux::ProcessInfo]) -> Vec<u32> {
        let alive = self
            .running
            .get(&leader)
            .is_some_and(|child| child.leader.is_none());
        let mut queue = if alive {
            vec![leader]
        } else {
            self.orphans_in(processes)
        };
        let mut tree = Vec::new();
        while let Some(pid) = queue.pop() {
            tree.push(pid);
            queue.extend(processes.iter().filter(|p| p.parent == pid).map(|p| p.pid));
        }
        tree.retain(|&pid| {
            processes.iter().any(|p| {
                p.pid == pid
                    && p.pid != leader
                    && p.group != leader
                    && !self.running.contains_key(&p.group)
            })
        });
        tree
    }

    /// Orphans systemfd inherited (Linux) that are still alive.
    #[cfg(target_os = "linux")]
    pub fn orphans(&self) -> Vec<u32> {
        self.orphans_in(&sys::linux::processes())
    }

    /// systemfd's children that are no running command's leader.
    #[cfg(target_os = "linux")]
    fn orphans_in(&self, processes: &[sys::linux::ProcessInfo]) -> Vec<u32> {
        let me = std::process::id();
        processes
            .iter()
            .filter(|p| {
                p.parent == me
                    && !self.running.contains_key(&p.pid)
                    && !self.foreign.contains(&p.pid)
            })
            .map(|p| p.pid)
            .collect()
    }
}

/// A child's processes as found at one moment (Linux): its process group,
/// which is signalled as one, and its strays (see [`Children::signal`]),
/// signalled one by one.
#[cfg(target_os = "linux")]
pub struct Tree {
    leader: u32,
    strays: Vec<u32>,
    /// The group's live members and the strays.
    members: Vec<u32>,
}

#[cfg(target_os = "linux")]
impl Tree {
    /// The live processes: the group's members, then the strays.
    pub fn members(&self) -> &[u32] {
        &self.members
    }

    /// Sends `signals`, in order, to the group and the strays. A group
    /// already gone is not an error.
    pub fn signal(&self, signals: &[Signal]) -> std::io::Result<()> {
        for signal in signals {
            for &stray in &self.strays {
                let _ = sys::signal_process(stray, signal.0);
            }
            sys::signal_group(self.leader, signal.0)?;
        }
        Ok(())
    }
}

pub fn stopped_message(pid: u32, signal: Signal) -> String {
    let why = match signal.name() {
        Some("TTIN") => " (it read from the terminal)",
        Some("TTOU") => " (it wrote to or set up the terminal)",
        _ => "",
    };
    format!("pid {pid} was stopped by {signal}{why}; it waits for SIGCONT")
}

#[cfg(test)]
mod tests;
