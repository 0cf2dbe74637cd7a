//! A reader that checks `LISTEN_PIDFDID`: the `listen-fds` crate takes the
//! sockets only when `LISTEN_PID` and, where it is set, `LISTEN_PIDFDID`
//! name this process (its own pidfd's id). Prints `accepted N` with the
//! number of sockets, or `refused: ERROR`; tests/suite/sockets.rs runs it.

fn main() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: the first thing main does, before any thread exists.
        match unsafe { listen_fds::ListenFds::new() } {
            Ok(fds) => println!("accepted {}", fds.len()),
            Err(err) => println!("refused: {err}"),
        }
    }
    #[cfg(not(target_os = "linux"))]
    eprintln!("the listen-fds crate reads Linux's pidfds: Linux only");
}
