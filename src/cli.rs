//! The command line, compatible with systemfd 0.4's flags.
//!
//! clap parses; [`Cli::into_config`] checks what the flags mean together and
//! applies every default, once, to make the [`Config`] the library runs.

#![warn(missing_docs)]

mod values;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::TypedValueParser as _;
use clap::{Parser, ValueEnum};

use crate::config::{self, Adopt, Config, Launch, Mode, Output};
use crate::error::Failure;
use crate::signal::Signal;
use crate::socket;
use crate::spec::SocketSpec;

const EXAMPLES: &str = "\
Examples:
  Serve http://127.0.0.1:5000/ to a server that takes its socket via listenfd:
    $ systemfd -s http::5000 -- cargo run

  Two named sockets (LISTEN_FDNAMES=web:admin), the second on all IPv6 addresses:
    $ systemfd -s web=http::5000 -s admin=tcp::[::]:5001 -- ./server

  A Unix socket and a UDP socket:
    $ systemfd -s unix::/tmp/app.sock -s udp::5353 -- ./server

  Supervise: rebuild and restart the server whenever a file under src/ changes
  (SIGHUP restarts it too; the old server serves until the new one is ready):
    $ systemfd -s http::5000 -w src -- cargo run

  Supervise a server that is built first: a failed build starts nothing, and
  while no server runs, the browser gets an error page with the build's output:
    $ systemfd -s http::5000 -w src --build 'cargo build' -- target/debug/app

  Start the server at the first request, and stop it after 5 minutes without one (Linux):
    $ systemfd -s http::5000 -w src --on-demand --idle-stop 5m -- cargo run

  Supervise, ignoring generated files and stopping the old server first:
    $ systemfd -s http::5000 -w . --ignore '*.gen.rs' --stop-first -- ./run.sh

Spec forms (-s):
  5000                     tcp on 127.0.0.1:5000 (port 0 picks a free port)
  HOST:PORT                tcp; HOST is an IPv4 literal, [IPv6] or a host name
  /path/to/sock, @name     Unix stream socket (@name: Linux abstract namespace)
  TYPE::VALUE              TYPE: tcp, http, https, udp, unix, unix-dgram, unix-seqpacket
  NAME=SPEC                the socket's name in LISTEN_FDNAMES (default: its TYPE)

Exit status: the command's own; 2 for a bad command line or spec, 1 when a
socket cannot be set up, 126/127 when COMMAND cannot be run / is not found,
the build's own when --build fails in exec mode. When a port is in use, the
error names what holds it on Linux (a process, another user, TIME_WAIT);
elsewhere it is the system's (Address already in use).
In supervise mode (-w): 0 once SIGINT, SIGTERM or SIGQUIT (Windows: Ctrl-C) has
stopped the command, 128+N when a second one, N, killed it at once (Windows:
130).";

/// Opens listening sockets and runs a command that inherits them.
///
/// The sockets are passed with the systemd socket-activation protocol: they sit at
/// file descriptors 3, 4, … in the order given, described by LISTEN_FDS, LISTEN_PID,
/// LISTEN_FDNAMES and LISTEN_FDS_FIRST_FD, and on Linux 6.9+ LISTEN_PIDFDID. Because
/// systemfd holds the sockets, the command can restart without a single client being
/// refused.
#[derive(Debug, Parser)]
#[command(name = "systemfd", version, after_help = EXAMPLES, max_term_width = 100)]
pub struct Cli {
    /// A socket to open, as [NAME=][TYPE::]VALUE (repeatable; fds follow this order)
    #[arg(short = 's', long = "socket", value_name = "SPEC", value_parser = parse_spec)]
    sockets: Vec<SocketSpec>,

    /// The listen backlog [default: the system maximum]
    #[arg(short = 'b', long, value_name = "N", value_parser = clap::value_parser!(i32).range(1..))]
    backlog: Option<i32>,

    /// Do not set SO_REUSEADDR (on Windows: do not claim the port exclusively)
    #[arg(long)]
    no_reuse: bool,

    /// Set SO_REUSEPORT, letting other processes bind the same port (Unix only)
    #[arg(long, conflicts_with = "no_reuse")]
    reuse_port: bool,

    /// Hand the sockets over in non-blocking mode (as tokio's from_std wants)
    #[arg(long)]
    nonblocking: bool,

    /// The mode of the Unix socket files, in octal, as systemd's SocketMode= (0660, 600, …) [default: what the umask leaves]
    ///
    /// A client needs write permission on a socket file to connect. systemfd binds under a umask
    /// that leaves no more than MODE, then sets MODE with chmod, so the file is never more open
    /// than asked. Without this flag the file gets what the umask leaves (0755 under umask 022:
    /// only its owner can connect); systemd's default, 0666, would let every local user in, so
    /// it is not systemfd's. It applies to every unix::, unix-dgram:: and unix-seqpacket:: socket
    /// with a path, and is a usage error without one, or with an @name: Linux's abstract
    /// namespace has no file, and no mode. Unix only (Linux, macOS and FreeBSD check the mode on
    /// connect); Windows has no Unix sockets.
    #[arg(long, value_name = "MODE", value_parser = values::socket_mode)]
    socket_mode: Option<u32>,

    /// Do not set LISTEN_PID nor LISTEN_PIDFDID (for commands that run the server as a grandchild)
    #[arg(long)]
    no_pid: bool,

    /// Adopt binds: a COMMAND that binds a passed socket's address gets that socket (Linux 5.9+)
    ///
    /// For servers that bind their own port and cannot be told to use fd 3. systemfd installs a
    /// seccomp filter in COMMAND that sends its bind() and listen() calls to systemfd. A bind to a
    /// passed socket's port, on the same address, a wildcard (0.0.0.0, ::) or loopback for
    /// loopback (127.0.0.1 and [::1]), gets the passed socket in place of COMMAND's own, and
    /// listen() on it succeeds without touching it; every other bind goes through. The program
    /// that adopts a socket decides its blocking mode, whatever --nonblocking says. The filter
    /// sets no_new_privs: inside COMMAND, setuid programs (sudo, newuidmap) and file capabilities
    /// gain no privileges. On by default in supervise mode, where the kernel allows it (--no-adopt
    /// turns it off); --adopt there makes it an error when the kernel does not. In exec mode
    /// systemfd stays COMMAND's parent to answer its binds, so LISTEN_PID is COMMAND's pid.
    #[arg(long, conflicts_with = "no_adopt")]
    adopt: bool,

    /// Do not adopt binds (see --adopt): a COMMAND that binds a passed socket's address itself finds it in use
    #[arg(long)]
    no_adopt: bool,

    /// Run COMMAND_LINE through the shell before COMMAND: once, or in supervise mode before each start
    ///
    /// It runs through `sh -c` (Windows: `cmd /C`) in the current directory, with stdin closed
    /// and without the sockets; its output goes to stderr as it comes, in colour when systemfd's
    /// own lines are (see --color: CARGO_TERM_COLOR, CLICOLOR_FORCE and FORCE_COLOR are then set
    /// for it unless set already). It is done when its shell exits. When it fails, nothing starts: in exec mode systemfd exits with its status; in
    /// supervise mode the running COMMAND keeps serving, or the error page shows the build's last
    /// lines. Changes while it runs make one more build run after it. With --signal the signal is
    /// sent only after a build that succeeded.
    #[arg(long, value_name = "COMMAND_LINE", value_parser = clap::builder::OsStringValueParser::new().try_map(values::build_line))]
    build: Option<OsString>,

    /// Start COMMAND only when the first connection (or datagram) arrives, as systemd's socket units do
    ///
    /// systemfd opens the sockets and waits, without accepting: the connection waits in the
    /// socket's backlog and COMMAND takes it. With --build the build runs then too, just before
    /// COMMAND, so it builds the newest files. In supervise mode a change while COMMAND is not
    /// running only marks it stale: the next connection starts the newest code (SIGHUP starts it
    /// at once); a COMMAND that crashed starts again at a connection only after a change (until
    /// then the error page answers). SIGINT, SIGTERM (Windows: Ctrl-C) before the first
    /// connection end systemfd with status 0. Works on every platform.
    #[arg(long)]
    on_demand: bool,

    /// Print nothing but errors
    #[arg(short, long)]
    quiet: bool,

    /// When to colour the output (NO_COLOR turns `auto` off)
    #[arg(long, value_name = "WHEN", value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,

    /// Supervise: stay the parent and restart COMMAND when files under PATH change (repeatable)
    ///
    /// systemfd keeps the sockets, starts COMMAND with them (LISTEN_PID is its pid) and
    /// restarts it on a change under PATH or on SIGHUP. .gitignore and .ignore files,
    /// the repository's info/exclude and git's global excludes file are honoured. A
    /// directory on a network or FUSE file system (or a mount below PATH on one: NFS, SMB,
    /// 9p as in WSL2's /mnt/c, VirtualBox and virtiofs shares) is polled as well, since its
    /// changes made elsewhere send no event (see --poll). A ready command (it sent READY=1 to NOTIFY_SOCKET or, on Linux, it waits
    /// for connections on a socket: see --ready) is replaced only once its successor is
    /// ready; any other is stopped first, while the sockets hold new connections. On Windows a
    /// command is ready once it has fetched its sockets, and file changes alone restart it.
    #[arg(short = 'w', long = "watch", value_name = "PATH", value_parser = clap::builder::OsStringValueParser::new().try_map(values::watch_path), help_heading = "Supervise mode")]
    watch: Vec<PathBuf>,

    /// Ignore changes to paths matching GLOB, in .gitignore syntax (repeatable)
    #[arg(long = "ignore", value_name = "GLOB", value_parser = values::ignore_pattern, help_heading = "Supervise mode")]
    ignore: Vec<String>,

    /// Count only changes to files with one of these extensions (rs,toml; repeatable); with --filter, a change counts if it passes either
    #[arg(short = 'e', long = "exts", value_name = "LIST", value_delimiter = ',', value_parser = values::extension, help_heading = "Supervise mode")]
    exts: Vec<String>,

    /// Count only changes to paths matching GLOB, in .gitignore syntax relative to the current directory ('*.toml', 'src/'; repeatable)
    #[arg(short = 'f', long = "filter", value_name = "GLOB", value_parser = values::filter_pattern, help_heading = "Supervise mode")]
    filter: Vec<String>,

    /// Don't ignore what systemfd ignores by itself: version control directories, editor files, and what language tools and servers write as they run (__pycache__/, *.sqlite3, crash reports)
    #[arg(long, help_heading = "Supervise mode")]
    no_default_ignore: bool,

    /// Don't read git's global excludes file (core.excludesFile, by default ~/.config/git/ignore)
    #[arg(long, help_heading = "Supervise mode")]
    no_global_ignore: bool,

    /// Find changes by polling every INTERVAL instead of the system's change notifications (500ms, 1s; plain numbers are ms) [default: 500ms]
    ///
    /// Without it, directories on network and FUSE file systems are polled besides being
    /// watched, and the rest is watched only. A scan that takes long stretches the interval,
    /// so polling takes at most 5% of the time.
    #[arg(long, value_name = "INTERVAL", num_args = 0..=1, require_equals = false, value_parser = values::poll_interval, conflicts_with = "no_poll", help_heading = "Supervise mode")]
    poll: Option<Option<Duration>>,

    /// Never poll: use the system's change notifications only, even on network and FUSE file systems
    #[arg(long, help_heading = "Supervise mode")]
    no_poll: bool,

    /// Restart once changes have settled for this long (500ms, 1s; plain numbers are ms) [default: 100ms]
    #[arg(long, value_name = "DURATION", value_parser = values::debounce, help_heading = "Supervise mode")]
    debounce: Option<Duration>,

    /// The signal that stops COMMAND's process group (TERM, SIGINT, 15, …; Unix only) [default: TERM]
    #[arg(long, value_name = "SIGNAL", value_parser = values::signal, help_heading = "Supervise mode")]
    stop_signal: Option<Signal>,

    /// How long COMMAND has to exit after the stop signal (Windows: Ctrl-Break) before SIGKILL (Windows: its job is ended) (500ms, 5s; plain numbers are seconds) [default: 5s]
    #[arg(long, value_name = "DURATION", value_parser = values::stop_timeout, help_heading = "Supervise mode")]
    stop_timeout: Option<Duration>,

    /// Always stop the running COMMAND before starting the next, even if it is ready
    #[arg(long, help_heading = "Supervise mode")]
    stop_first: bool,

    /// On a change, send SIGNAL to COMMAND instead of restarting it (HUP, USR1, …; Unix only)
    ///
    /// For servers that reload themselves in place, such as gunicorn (HUP) or nginx
    /// (HUP). The signal goes to COMMAND's own process, not to the processes it started.
    /// SIGHUP sent to systemfd still restarts COMMAND, and a change while COMMAND is not
    /// running starts it.
    #[arg(long, value_name = "SIGNAL", value_parser = values::signal, help_heading = "Supervise mode")]
    signal: Option<Signal>,

    /// Clear the terminal before each start of COMMAND
    #[arg(short = 'c', long, help_heading = "Supervise mode")]
    clear: bool,

    /// What makes a new COMMAND ready to take over: READY=1, listening, or either (Unix only) [default: auto]
    ///
    /// notify: it sends READY=1 to NOTIFY_SOCKET. listen (Linux): a process of its tree waits
    /// for connections on a passed socket (in epoll, accept, poll or select), which systemfd
    /// sees in /proc. auto: listening, until a child of this run has sent READY=1; from then
    /// on READY=1, and only once it also listens (or 30 s after READY=1), since some servers
    /// report READY=1 before their workers serve. Outside Linux, auto is notify. Until the
    /// new COMMAND is ready the old one serves; a COMMAND that is not ready is stopped first.
    #[arg(long, value_name = "HOW", value_enum, help_heading = "Supervise mode")]
    ready: Option<ReadyChoice>,

    /// Do not answer with an error page while COMMAND is not running
    ///
    /// By default, once COMMAND has ended (it exited, crashed, could not start, or its build
    /// failed) and until something starts again, systemfd accepts on the http:: sockets itself
    /// and answers each request with 503 Service Unavailable and a page that tells why (to
    /// clients on this machine) and reloads itself once a new COMMAND starts. With this flag,
    /// connections wait in the socket's backlog instead until COMMAND runs again.
    #[arg(long, help_heading = "Supervise mode")]
    no_error_page: bool,

    /// Serve the LiveReload protocol on ADDR [default: 127.0.0.1:35729]: pages reload once a new COMMAND serves
    ///
    /// A page that loads the script at $SYSTEMFD_LIVERELOAD_URL (set for COMMAND; for example
    /// <script src="http://127.0.0.1:35729/livereload.js"></script> in a development template), or
    /// that the LiveReload browser extension watches, reloads once the new COMMAND is ready and the
    /// old one has stopped accepting, so it never shows the old code nor the error page. The script
    /// also shows a banner while a change builds and when the new version failed. Without ADDR,
    /// 127.0.0.1:35729, or a free port when that is taken; ADDR given and taken is an error.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, value_parser = values::livereload_addr, help_heading = "Supervise mode")]
    livereload: Option<Option<std::net::SocketAddr>>,

    /// Stop COMMAND once its stream sockets have had no connection for DURATION; the next one starts it again (Linux) (30s, 5m; plain numbers are seconds)
    ///
    /// A connection counts while it is open (established, being set up, or closed by the client
    /// but not yet by COMMAND) or waits in the socket's backlog, as /proc/net/tcp, tcp6 and unix
    /// show them; TIME_WAIT and FIN_WAIT2 do not, nor systemfd's own. Before the stop signal,
    /// COMMAND's processes are held still and looked at once more, so a connection that has just
    /// come is not cut. Once COMMAND has stopped, the next connection (one that came meanwhile
    /// too) starts it again; changes meanwhile only mark it stale. Datagram sockets (udp::,
    /// unix-dgram::) have no connections: they do not count, and a run with only those is
    /// refused. Linux only: elsewhere systemfd cannot see connections.
    #[arg(long, value_name = "DURATION", value_parser = values::idle_stop, help_heading = "Supervise mode")]
    idle_stop: Option<Duration>,

    /// Print a man page or a shell completion script on stdout, and exit
    #[arg(long, value_name = "KIND", value_enum, exclusive = true)]
    generate: Option<Generate>,

    /// The command to run, with its arguments, after `--`
    #[arg(value_name = "COMMAND", required = true, last = true)]
    command: Vec<OsString>,
}

/// What `--generate` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Generate {
    /// The man page (roff), for `man -l` or a `man1` directory.
    Man,
    /// A bash completion script.
    CompleteBash,
    /// A zsh completion script.
    CompleteZsh,
    /// A fish completion script.
    CompleteFish,
    /// A PowerShell completion script.
    CompletePowershell,
}

impl Cli {
    /// `--generate`, when given: systemfd prints that and runs nothing.
    pub fn generate(&self) -> Option<Generate> {
        self.generate
    }

    /// What the flags ask for, as the library's settings: the combinations
    /// are checked here (a usage error before any socket exists) and every
    /// default is applied.
    ///
    /// # Errors
    /// A usage [`Failure`] (exit 2) naming the flag, when flags do not go
    /// together: a supervise-mode flag without `--watch`, `--ready listen`
    /// where listening cannot be seen or without a socket, `--ready` or
    /// `--reuse-port` on Windows.
    pub fn into_config(self) -> Result<Config, Failure> {
        #[cfg(windows)]
        if self.reuse_port {
            return Err(Failure::usage(anyhow::anyhow!(
                "--reuse-port needs Unix: Windows has no SO_REUSEPORT (systemfd claims the port exclusively; --no-reuse turns that off)"
            )));
        }
        self.check_socket_mode()?;
        let mode = self.mode()?;
        let adopt = self.adopt(&mode)?;
        self.check_on_demand()?;
        let defaults = socket::Options::default();
        Ok(Config {
            sockets: self.sockets,
            socket_options: socket::Options {
                backlog: self.backlog.unwrap_or(defaults.backlog),
                reuse_addr: !self.no_reuse,
                reuse_port: self.reuse_port,
                nonblocking: self.nonblocking,
                mode: self.socket_mode,
            },
            launch: Launch {
                command: self.command,
                set_pid: !self.no_pid,
                adopt,
                build: self.build,
                on_demand: self.on_demand,
            },
            output: Output {
                quiet: self.quiet,
                color: self.color.into(),
            },
            mode,
        })
    }

    /// `--socket-mode` sets the mode of socket files: it needs a Unix
    /// socket with a path, and an abstract one (no file) could not honour
    /// it.
    fn check_socket_mode(&self) -> Result<(), Failure> {
        use crate::spec::Address;
        let Some(mode) = self.socket_mode else {
            return Ok(());
        };
        if let Some(spec) = self
            .sockets
            .iter()
            .find(|spec| matches!(spec.addr, Address::Abstract(_)))
        {
            return Err(Failure::usage(anyhow::anyhow!(
                "--socket-mode {mode:04o}: '{}' is in Linux's abstract namespace, which has no file and so no mode (any process that shares the network namespace can connect); give it a path, or drop --socket-mode",
                spec.text
            )));
        }
        let files = self
            .sockets
            .iter()
            .any(|spec| spec.kind.is_unix() && matches!(spec.addr, Address::Path(_)));
        if !files {
            return Err(Failure::usage(anyhow::anyhow!(
                "--socket-mode {mode:04o} sets the mode of Unix socket files, and no -s gives one (unix::PATH, unix-dgram::PATH, unix-seqpacket::PATH{})",
                if cfg!(windows) { "; Unix sockets need Unix" } else { "" }
            )));
        }
        Ok(())
    }

    /// Whether binds are adopted: asked with `--adopt` (which needs Linux
    /// and a socket), off with `--no-adopt`, and otherwise on by default in
    /// supervise mode on Linux when there is a socket to give.
    fn adopt(&self, mode: &Mode) -> Result<Adopt, Failure> {
        if self.adopt {
            if cfg!(not(target_os = "linux")) {
                return Err(Failure::usage(anyhow::anyhow!(
                    "--adopt needs Linux, whose seccomp user notification lets systemfd answer COMMAND's bind()"
                )));
            }
            if self.sockets.is_empty() {
                return Err(Failure::usage(anyhow::anyhow!(
                    "--adopt needs a socket (-s): adoption gives a passed socket to COMMAND's bind"
                )));
            }
            return Ok(Adopt::Required);
        }
        let supervised = matches!(mode, Mode::Supervise(_));
        Ok(
            if supervised && !self.no_adopt && !self.sockets.is_empty() && cfg!(target_os = "linux")
            {
                Adopt::Auto
            } else {
                Adopt::Off
            },
        )
    }

    /// Any supervise-mode flag selects supervise mode, which needs
    /// `--watch`.
    fn mode(&self) -> Result<Mode, Failure> {
        match self.supervise_flags().first() {
            None => Ok(Mode::Exec),
            Some(flag) => self.supervise(flag),
        }
    }

    fn supervise(&self, flag: &str) -> Result<Mode, Failure> {
        use config::Supervise;
        if self.watch.is_empty() {
            return Err(Failure::usage(anyhow::anyhow!(
                "{flag} applies only in supervise mode: add --watch PATH"
            )));
        }
        #[cfg(windows)]
        self.refuse_unix_flags()?;
        Ok(Mode::Supervise(Supervise {
            watch: self.watch.clone(),
            ignore: self.ignore.clone(),
            exts: self.exts.clone(),
            filter: self.filter.clone(),
            default_ignore: !self.no_default_ignore,
            global_ignore: !self.no_global_ignore,
            poll: match (self.poll, self.no_poll) {
                (Some(every), _) => {
                    config::Poll::Always(every.unwrap_or(config::Poll::DEFAULT_INTERVAL))
                }
                (None, true) => config::Poll::Never,
                (None, false) => config::Poll::Auto(config::Poll::DEFAULT_INTERVAL),
            },
            debounce: self.debounce.unwrap_or(Supervise::DEFAULT_DEBOUNCE),
            stop_signal: self.stop_signal.unwrap_or(Supervise::DEFAULT_STOP_SIGNAL),
            stop_timeout: self.stop_timeout.unwrap_or(Supervise::DEFAULT_STOP_TIMEOUT),
            stop_first: self.stop_first,
            signal_on_change: self.signal,
            clear: self.clear,
            ready: config::Readiness::resolve(self.asked_readiness()?, !self.sockets.is_empty()),
            error_page: !self.no_error_page,
            livereload: self.livereload.map(|addr| config::LiveReloadAt {
                addr: addr.unwrap_or(config::LiveReloadAt::DEFAULT),
                explicit: addr.is_some(),
            }),
            idle_stop: self.idle_stop()?,
        }))
    }

    /// `--on-demand` waits for a connection on a socket: it needs one.
    fn check_on_demand(&self) -> Result<(), Failure> {
        if self.on_demand && self.sockets.is_empty() {
            return Err(Failure::usage(anyhow::anyhow!(
                "--on-demand needs a socket (-s): COMMAND starts at the first connection to one"
            )));
        }
        Ok(())
    }

    /// `--idle-stop`, checked (`None` when not given): connections can be
    /// counted only on Linux, and only on stream sockets.
    fn idle_stop(&self) -> Result<Option<Duration>, Failure> {
        let Some(after) = self.idle_stop else {
            return Ok(None);
        };
        if cfg!(not(target_os = "linux")) {
            return Err(Failure::usage(anyhow::anyhow!(
                "--idle-stop needs Linux: systemfd counts connections in /proc/net, and cannot see them on this system"
            )));
        }
        if !self.sockets.iter().any(|spec| spec.kind.listens()) {
            let why = if self.sockets.is_empty() {
                "no socket is given (-s)"
            } else {
                "a datagram socket has no connections to count"
            };
            return Err(Failure::usage(anyhow::anyhow!(
                "--idle-stop needs a stream socket (tcp::, http::, https::, unix::, unix-seqpacket::): {why}"
            )));
        }
        Ok(Some(after))
    }

    /// `--ready`, which names Unix's readiness protocols. (The signal flags
    /// are refused by their value parser.)
    #[cfg(windows)]
    fn refuse_unix_flags(&self) -> Result<(), Failure> {
        if self.ready.is_some() {
            return Err(Failure::usage(anyhow::anyhow!(
                "--ready has no meaning on Windows: a new COMMAND is ready once it has fetched its sockets from the socket server"
            )));
        }
        Ok(())
    }

    /// `--ready`, checked (`None` when not given): listening can be seen
    /// only on Linux, and only on a passed socket. What it comes to is
    /// decided by [`config::Readiness::resolve`].
    fn asked_readiness(&self) -> Result<Option<config::Readiness>, Failure> {
        let Some(choice) = self.ready else {
            return Ok(None);
        };
        if choice == ReadyChoice::Listen {
            if cfg!(not(target_os = "linux")) {
                return Err(Failure::usage(anyhow::anyhow!(
                    "--ready listen needs Linux, where /proc shows a server listening; use --ready notify (READY=1)"
                )));
            }
            if self.sockets.is_empty() {
                return Err(Failure::usage(anyhow::anyhow!(
                    "--ready listen needs a socket (-s) for COMMAND to listen on"
                )));
            }
        }
        Ok(Some(match choice {
            ReadyChoice::Notify => config::Readiness::Notify,
            ReadyChoice::Listen => config::Readiness::Listen,
            ReadyChoice::Auto => config::Readiness::Auto,
        }))
    }

    /// The supervise-mode flags given, as written on the command line.
    fn supervise_flags(&self) -> Vec<&'static str> {
        [
            ("--watch", !self.watch.is_empty()),
            ("--ignore", !self.ignore.is_empty()),
            ("--exts", !self.exts.is_empty()),
            ("--filter", !self.filter.is_empty()),
            ("--no-default-ignore", self.no_default_ignore),
            ("--no-global-ignore", self.no_global_ignore),
            ("--poll", self.poll.is_some()),
            ("--no-poll", self.no_poll),
            ("--debounce", self.debounce.is_some()),
            ("--stop-signal", self.stop_signal.is_some()),
            ("--stop-timeout", self.stop_timeout.is_some()),
            ("--stop-first", self.stop_first),
            ("--signal", self.signal.is_some()),
            ("--clear", self.clear),
            ("--ready", self.ready.is_some()),
            ("--no-error-page", self.no_error_page),
            ("--livereload", self.livereload.is_some()),
            ("--idle-stop", self.idle_stop.is_some()),
        ]
        .into_iter()
        .filter_map(|(flag, given)| given.then_some(flag))
        .collect()
    }
}

/// `--ready`'s values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReadyChoice {
    /// READY=1 on NOTIFY_SOCKET
    Notify,
    /// waiting for connections on a passed socket (Linux)
    Listen,
    /// listening, or READY=1 once a child has sent it
    Auto,
}

/// `--color`'s values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// When stderr is a terminal and NO_COLOR is unset or empty
    Auto,
    /// Also into a pipe or a file
    Always,
    /// Plain text
    Never,
}

impl From<ColorChoice> for config::Color {
    fn from(choice: ColorChoice) -> config::Color {
        match choice {
            ColorChoice::Auto => config::Color::Auto,
            ColorChoice::Always => config::Color::Always,
            ColorChoice::Never => config::Color::Never,
        }
    }
}

/// Writes what `--generate` asks for (`kind`) to `out`: roff for the man
/// page, a script for a shell.
///
/// # Errors
/// When writing to `out` fails.
pub fn generate(kind: Generate, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    use clap::CommandFactory as _;
    use clap_complete::Shell;
    let mut command = Cli::command();
    let shell = match kind {
        Generate::Man => return clap_mangen::Man::new(command).render(out),
        Generate::CompleteBash => Shell::Bash,
        Generate::CompleteZsh => Shell::Zsh,
        Generate::CompleteFish => Shell::Fish,
        Generate::CompletePowershell => Shell::PowerShell,
    };
    clap_complete::generate(shell, &mut command, "systemfd", out);
    Ok(())
}

fn parse_spec(text: &str) -> Result<SocketSpec, crate::spec::SpecError> {
    text.parse()
}

#[cfg(test)]
mod tests;
