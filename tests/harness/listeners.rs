//! Which sockets listen on a port, and who holds them, as `ss` tells: the
//! OS-level fact behind "exactly one socket listens" and "the server listens
//! on systemfd's socket".

use super::tools::SS;
use super::TestCommand;

/// One listening TCP socket, as a line of `ss -Hltnp`.
#[derive(Debug)]
pub struct Listener {
    /// The line as `ss` printed it, for failure messages.
    pub line: String,
    /// Its local address as `ss` shows it: `127.0.0.1:5000`, `[::1]:5000`,
    /// `*:5000` (a dual-stack wildcard).
    pub local: String,
    /// Its listen backlog (the Send-Q column of a listening socket).
    pub backlog: u32,
    /// Each descriptor that refers to it: `(pid, fd)`.
    pub holders: Vec<(u32, u32)>,
}

impl Listener {
    /// Whether process `pid` holds the socket.
    pub fn held_by(&self, pid: u32) -> bool {
        self.fds_of(pid).next().is_some()
    }

    /// The descriptors of process `pid` that refer to the socket.
    pub fn fds_of(&self, pid: u32) -> impl Iterator<Item = u32> + '_ {
        self.holders
            .iter()
            .filter(move |(holder, _)| *holder == pid)
            .map(|(_, fd)| *fd)
    }
}

/// The TCP sockets listening on `port`, on any address:
/// `ss -Hltnp sport = :PORT`.
pub fn listening_on(port: u16) -> Vec<Listener> {
    let ss = SS.require();
    let ran = TestCommand::new(ss)
        .args(["-Hltnp", &format!("sport = :{port}")])
        .success();
    ran.stdout()
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(parse)
        .collect()
}

/// `LISTEN 0 4096 127.0.0.1:5000 0.0.0.0:* users:(("systemfd",pid=7,fd=3),…)`
fn parse(line: &str) -> Listener {
    let local = line
        .split_whitespace()
        .nth(3)
        .unwrap_or_else(|| panic!("no local address in the ss line {line:?}"))
        .to_owned();
    let number = |text: &str| -> u32 {
        let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
        digits
            .parse()
            .unwrap_or_else(|_| panic!("no number in {text:?} of the ss line {line:?}"))
    };
    let backlog = number(
        line.split_whitespace()
            .nth(2)
            .unwrap_or_else(|| panic!("no Send-Q in the ss line {line:?}")),
    );
    let holders = line
        .split("pid=")
        .skip(1)
        .map(|rest| {
            let fd = rest
                .split_once("fd=")
                .unwrap_or_else(|| panic!("no fd= after pid= in the ss line {line:?}"))
                .1;
            (number(rest), number(fd))
        })
        .collect();
    Listener {
        line: line.to_owned(),
        local,
        backlog,
        holders,
    }
}

#[cfg(test)]
mod tests {
    // The harness is compiled into the test crate, so this runs with it.
    use super::parse;

    #[test]
    fn an_ss_line_is_read() {
        let listener = parse(
            "LISTEN 0      4096       127.0.0.1:5000      0.0.0.0:*    \
             users:((\"python3\",pid=42,fd=5),(\"python3\",pid=42,fd=3),(\"systemfd\",pid=7,fd=3))",
        );
        assert_eq!(listener.local, "127.0.0.1:5000");
        assert_eq!(listener.backlog, 4096);
        assert_eq!(listener.holders, [(42, 5), (42, 3), (7, 3)]);
        assert!(listener.held_by(7));
        assert_eq!(listener.fds_of(42).collect::<Vec<_>>(), [5, 3]);
        assert!(!listener.held_by(4));
    }
}
