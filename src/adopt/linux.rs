//! Answering the kernel's notifications: one thread per filtered command
//! tree, which reads what each `bind()` asks for and answers it.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd as _, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use socket2::{Domain, Socket, Type};

use super::matching::{self, Match, Requested, MAX_ADDRESS_LEN};
use crate::output::Printer;
use crate::socket::{LocalAddr, Sockets};
use crate::sys;
use crate::sys::linux::seccomp::{self, Call, Filter, Listener, Notification, Process, Waited};

/// At most this many distinct lines are said about adoptions in a run; a
/// program that binds ever new addresses cannot grow systemfd's memory.
const MAX_SAID: usize = 64;

/// Whether this kernel lets systemfd adopt binds: a throwaway child tries
/// it (see `seccomp::probe`).
///
/// # Errors
/// What is missing, in a sentence.
pub fn probe() -> io::Result<()> {
    seccomp::probe()
}

/// A passed socket, as adoption compares and hands it.
struct Held {
    /// A duplicate of the socket (close-on-exec): what ADDFD copies.
    socket: Socket,
    /// Its inode: what tells an adopted descriptor.
    inode: u64,
    kind: Type,
    address: HeldAddress,
    /// The fd it is passed at (3, 4, …).
    fd: RawFd,
    /// How the socket lines name it (`http://127.0.0.1:3000/`).
    label: String,
}

enum HeldAddress {
    Ip(SocketAddr),
    /// The socket file: its path made absolute, and its device and inode.
    Path {
        path: PathBuf,
        id: Option<(u64, u64)>,
    },
    /// A name in Linux's abstract namespace.
    Abstract(Vec<u8>),
}

/// The passed sockets and what has been said about them, shared by the
/// threads that answer each command tree's notifications.
struct Shared {
    held: Vec<Held>,
    filter: Filter,
    printer: Printer,
    /// Name `--no-adopt` in the first adoption's line (adoption is on by
    /// default); cleared once it is said.
    hint: AtomicBool,
    said: Mutex<HashSet<String>>,
}

/// Adoption for one run: prepares each start and answers the started
/// command's binds.
#[derive(Clone)]
pub struct Adopter(Arc<Shared>);

/// A start being prepared: the two ends of the channel the child sends its
/// filter's listener through.
pub struct Pending {
    ours: OwnedFd,
    theirs: Option<OwnedFd>,
}

impl Adopter {
    /// Adoption of `sockets`, passed at `first_fd`, `first_fd + 1`, ….
    /// `hint`: the first adoption says that `--no-adopt` turns it off.
    ///
    /// # Errors
    /// When a socket cannot be duplicated or looked at.
    pub fn new(
        sockets: &Sockets,
        first_fd: RawFd,
        printer: Printer,
        hint: bool,
    ) -> io::Result<Adopter> {
        let cwd = std::env::current_dir()?;
        let mut held = Vec::new();
        for (open, fd) in sockets.sockets.iter().zip(first_fd..) {
            let socket = open.socket.try_clone()?;
            let inode = sys::inode(socket.as_fd())?;
            let address = match &open.local {
                LocalAddr::Ip(addr) => HeldAddress::Ip(*addr),
                LocalAddr::Unix(path) => match socket.local_addr()?.as_abstract_namespace() {
                    Some(name) => HeldAddress::Abstract(name.to_vec()),
                    None => HeldAddress::Path {
                        path: cwd.join(path),
                        // As bind made it, not what the path names now.
                        id: open.file.as_ref().map(|file| file.id),
                    },
                },
            };
            held.push(Held {
                kind: socket.r#type()?,
                socket,
                inode,
                address,
                fd,
                label: open.describe(),
            });
        }
        Ok(Adopter(Arc::new(Shared {
            held,
            filter: Filter::new()?,
            printer,
            hint: AtomicBool::new(hint),
            said: Mutex::new(HashSet::new()),
        })))
    }

    /// The channel for one start; the child's end at or above `min`.
    ///
    /// # Errors
    /// When the socket pair cannot be made.
    pub fn prepare(&self, min: RawFd) -> io::Result<Pending> {
        let (ours, theirs) = seccomp::channel(min)?;
        Ok(Pending {
            ours,
            theirs: Some(theirs),
        })
    }

    /// What the child installs, for `sys::spawn`.
    pub fn interception<'a>(&'a self, pending: &'a Pending) -> Option<sys::Interception<'a>> {
        Some(sys::Interception {
            filter: &self.0.filter,
            channel: pending.theirs.as_ref()?.as_fd(),
        })
    }

    /// After the child `pid` exec'd: receives its filter's listener and
    /// answers its tree's binds on a thread of their own until every
    /// process of the tree has exited.
    ///
    /// # Errors
    /// When the listener did not arrive or the thread cannot start.
    pub fn serve(&self, mut pending: Pending, pid: u32) -> io::Result<()> {
        // The child has its own copy; with ours closed, a child that sent
        // nothing reads as the end of the channel.
        drop(pending.theirs.take());
        let listener = seccomp::receive_listener(&pending.ours)?;
        let shared = Arc::clone(&self.0);
        std::thread::Builder::new()
            .name(format!("adopt-{pid}"))
            .spawn(move || shared.answer_all(&listener))?;
        Ok(())
    }
}

impl Shared {
    fn answer_all(&self, listener: &Listener) {
        loop {
            match listener.wait(None) {
                Ok(Waited::Ready) => {}
                Ok(Waited::TimedOut) => continue,
                Ok(Waited::Closed) | Err(_) => return,
            }
            let notification = match listener.receive() {
                Ok(notification) => notification,
                // ENOENT: the process gave the call up (a signal) before it
                // was received; it makes it again.
                Err(err) if matches!(err.raw_os_error(), Some(libc::ENOENT | libc::EINTR)) => {
                    continue
                }
                // A broken listener: the tree's binds fail from now on
                // (ENOSYS), and systemfd says so.
                Err(err) => {
                    self.printer.warn(&format!(
                        "cannot receive the command's binds any more: {err}"
                    ));
                    return;
                }
            };
            let answered = match notification.call {
                Some(Call::Bind) => self.bind(listener, &notification),
                Some(Call::Listen) => self.listen(listener, &notification),
                None => Answer::Proceed,
            };
            // An answer to a call that is no longer waiting fails with
            // ENOENT: the process was killed, or gave the call up and makes
            // it again (then it is answered again).
            let _ = match answered {
                Answer::Proceed => listener.proceed(notification.id),
                Answer::Success => listener.answer(notification.id, 0),
                Answer::Gone => Ok(()),
            };
        }
    }

    /// A bind: adopted when its address names a held socket of the same
    /// kind.
    fn bind(&self, listener: &Listener, call: &Notification) -> Answer {
        let len = call.args[2] as usize;
        if !(2..=MAX_ADDRESS_LEN).contains(&len) {
            return Answer::Proceed;
        }
        let Ok(process) = Process::open(call.pid) else {
            return Answer::Proceed;
        };
        let mut bytes = [0u8; MAX_ADDRESS_LEN];
        let read = match process.read_memory(call.args[1], &mut bytes[..len]) {
            Ok(read) => read,
            // Not allowed to read it: say why binds go through.
            Err(err) if err.kind() == std::io::ErrorKind::PermissionDenied => {
                self.cannot_look(process.pid(), &err);
                return Answer::Proceed;
            }
            // A bad address (the kernel answers EFAULT), or gone.
            Err(_) => return Answer::Proceed,
        };
        // The pid was read before the memory: only a call still waiting
        // proves both were that process's.
        if !listener.is_valid(call.id) {
            return Answer::Gone;
        }
        let requested = matching::parse_sockaddr(&bytes[..read]);
        if !self.may_match(&requested) {
            // Port 0, another port, another family: the most common binds
            // (a client's, a test's) go through without a closer look.
            return Answer::Proceed;
        }
        let fd = call.args[0] as i32;
        let theirs = match process.descriptor(fd) {
            Ok(socket) => Socket::from(socket),
            Err(err) if err.raw_os_error() == Some(libc::EBADF) => return Answer::Proceed,
            Err(err) => {
                self.cannot_look(process.pid(), &err);
                return Answer::Proceed;
            }
        };
        if self.adopted(&theirs).is_some() {
            // Adopted already: a call made again after a signal, or a second
            // bind of the same socket. Either way it is bound as asked.
            return Answer::Success;
        }
        let Some((held, why)) = self.find(&requested, &theirs, &process) else {
            return Answer::Proceed;
        };
        let cloexec = std::fs::read_to_string(process.proc_path(&format!("fdinfo/{fd}")))
            .ok()
            .and_then(|info| matching::fdinfo_cloexec(&info))
            .unwrap_or(false);
        // O_NONBLOCK belongs to the open socket, shared by every process
        // that holds it: the program that adopts it decides, as it would
        // for a socket of its own (libuv and Go wait in epoll, and a
        // blocking listener would freeze them in accept).
        if let Ok(nonblocking) = theirs.nonblocking() {
            let _ = held.socket.set_nonblocking(nonblocking);
        }
        if !listener.is_valid(call.id) {
            return Answer::Gone;
        }
        match listener.add_fd(call.id, held.socket.as_fd(), fd as u32, cloexec) {
            Ok(()) => {}
            Err(err) if err.raw_os_error() == Some(libc::ENOENT) => return Answer::Gone,
            Err(err) => {
                self.say_once(
                    format!("fail {}", held.fd),
                    &format!(
                        "cannot give pid {} the socket {}: {err}; its bind goes through as asked",
                        process.pid(),
                        held.label
                    ),
                    true,
                );
                return Answer::Proceed;
            }
        }
        self.adoption(process.pid(), &requested, held, why);
        Answer::Success
    }

    /// A listen on an adopted socket succeeds untouched; any other goes
    /// through.
    fn listen(&self, listener: &Listener, call: &Notification) -> Answer {
        let Ok(process) = Process::open(call.pid) else {
            return Answer::Proceed;
        };
        let Ok(theirs) = process.descriptor(call.args[0] as i32) else {
            return Answer::Proceed;
        };
        if !listener.is_valid(call.id) {
            return Answer::Gone;
        }
        match self.adopted(&Socket::from(theirs)) {
            Some(_) => Answer::Success,
            None => Answer::Proceed,
        }
    }

    /// Whether a held socket could be what `requested` names: one on its
    /// port (never 0), or a Unix socket for a Unix name.
    fn may_match(&self, requested: &Requested) -> bool {
        self.held
            .iter()
            .any(|held| match (requested, &held.address) {
                (Requested::Ip(asked), HeldAddress::Ip(have)) => {
                    asked.port() != 0 && asked.port() == have.port()
                }
                (Requested::Path(_), HeldAddress::Path { .. }) => true,
                (Requested::Abstract(_), HeldAddress::Abstract(_)) => true,
                _ => false,
            })
    }

    /// The held socket `socket` is (the same open file), if any.
    fn adopted(&self, socket: &Socket) -> Option<&Held> {
        let inode = sys::inode(socket.as_fd()).ok()?;
        self.held.iter().find(|held| held.inode == inode)
    }

    /// The held socket a bind to `requested` on `theirs` should get.
    fn find(
        &self,
        requested: &Requested,
        theirs: &Socket,
        process: &Process,
    ) -> Option<(&Held, Match)> {
        let kind = theirs.r#type().ok()?;
        let domain = theirs.domain().ok()?;
        let candidates = self.held.iter().filter(|held| held.kind == kind);
        match requested {
            Requested::Ip(asked) if domain == Domain::IPV4 || domain == Domain::IPV6 => {
                let mut near = None;
                for held in candidates {
                    let HeldAddress::Ip(have) = held.address else {
                        continue;
                    };
                    match matching::match_ip(*asked, have) {
                        // An IPv4 socket cannot take an IPv6 one: the
                        // program's address buffers are too small for the
                        // addresses it would accept.
                        Some(_) if domain == Domain::IPV4 && have.is_ipv6() => {
                            self.say_once(
                                format!("family {asked} {}", held.fd),
                                &format!(
                                    "pid {} binds {asked} with an IPv4 socket, which cannot take the IPv6 socket {}: it is not adopted; pass -s with an IPv4 address",
                                    process.pid(),
                                    held.label
                                ),
                                true,
                            );
                            return None;
                        }
                        Some(why) => return Some((held, why)),
                        None if asked.port() == have.port() => near = Some((held, have)),
                        None => {}
                    }
                }
                if let Some((held, have)) = near {
                    // A wildcard socket takes the whole port; a socket on
                    // one address leaves the others free.
                    let outcome = if have.ip().is_unspecified() {
                        "it is not adopted and will find the port in use"
                    } else {
                        "its bind goes through, to a socket of its own that systemfd does not hold"
                    };
                    self.say_once(
                        format!("near {asked} {}", held.fd),
                        &format!(
                            "pid {} binds {asked}, on the port of the socket {} but not its address: {outcome}; pass -s with the address it binds to have it adopted",
                            process.pid(),
                            held.label
                        ),
                        true,
                    );
                }
                None
            }
            Requested::Abstract(name) if domain == Domain::UNIX => candidates
                .into_iter()
                .find(|held| matches!(&held.address, HeldAddress::Abstract(have) if have == name))
                .map(|held| (held, Match::Same)),
            Requested::Path(path) if domain == Domain::UNIX => {
                let path = absolute(path, process)?;
                let found = sys::file_id(&path).ok();
                for held in candidates {
                    let HeldAddress::Path { path: have, id } = &held.address else {
                        continue;
                    };
                    if found.is_some() && found == *id {
                        return Some((held, Match::Same));
                    }
                    if *have == path {
                        self.say_once(
                            format!("unlinked {}", held.fd),
                            &format!(
                                "pid {} binds {}, but the socket file systemfd made there is gone (the program removed it first?): it gets a socket of its own, which systemfd does not hold",
                                process.pid(),
                                path.display()
                            ),
                            true,
                        );
                    }
                }
                None
            }
            _ => None,
        }
    }

    /// Says what was adopted: once per address and socket in a run.
    fn adoption(&self, pid: u32, requested: &Requested, held: &Held, why: Match) {
        let asked = match requested {
            Requested::Ip(addr) => addr.to_string(),
            Requested::Path(path) => path.display().to_string(),
            Requested::Abstract(name) => format!("@{}", String::from_utf8_lossy(name)),
            Requested::Other => String::from("?"),
        };
        let mut line = format!("pid {pid} binds {asked}");
        if why != Match::Same {
            let _ = write!(line, " ({})", why.describe());
        }
        let _ = write!(
            line,
            ": adopted, it gets the socket {} (fd {})",
            held.label, held.fd
        );
        let key = format!("adopt {asked} {}", held.fd);
        if self.is_new(&key) && self.hint.swap(false, Ordering::Relaxed) {
            line.push_str("; --no-adopt turns adoption off");
        }
        self.say_once(key, &line, false);
    }

    fn cannot_look(&self, pid: u32, err: &io::Error) {
        self.say_once(
            String::from("cannot look"),
            &format!(
                "cannot read pid {pid}'s bind ({err}): binds go through as asked; is ptrace restricted (kernel.yama.ptrace_scope)?"
            ),
            true,
        );
    }

    /// Whether `key` has not been said yet.
    fn is_new(&self, key: &str) -> bool {
        self.said.lock().is_ok_and(|said| !said.contains(key))
    }

    /// Prints `line` the first time `key` is seen, up to [`MAX_SAID`] keys.
    fn say_once(&self, key: String, line: &str, warning: bool) {
        let new = self
            .said
            .lock()
            .is_ok_and(|mut said| said.len() < MAX_SAID && said.insert(key));
        if new && warning {
            self.printer.warn(line);
        } else if new {
            self.printer.status(line);
        }
    }
}

/// How a notification is answered.
enum Answer {
    /// Let the call go through as made.
    Proceed,
    /// Return 0 without making it.
    Success,
    /// The call is no longer waiting: nothing to answer.
    Gone,
}

/// `path` as `process` means it: relative to its working directory.
fn absolute(path: &Path, process: &Process) -> Option<PathBuf> {
    if path.is_absolute() {
        return Some(path.to_owned());
    }
    let cwd = std::fs::read_link(process.proc_path("cwd")).ok()?;
    Some(cwd.join(path))
}
