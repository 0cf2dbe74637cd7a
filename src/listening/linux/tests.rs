use super::*;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd as _;
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(20);

/// Polls `look` until it returns something, within the deadline.
fn eventually<T>(what: &str, look: impl Fn() -> Option<T>) -> T {
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = look() {
            return value;
        }
        assert!(Instant::now() < end, "{what}: not within {DEADLINE:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn me() -> u32 {
    std::process::id()
}

fn listener() -> (TcpListener, Watched) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let watched = Watched::new([listener.as_fd()]).unwrap();
    (listener, watched)
}

/// This thread's id, from `/proc/thread-self` (`PID/task/TID`).
fn thread_id() -> u32 {
    let link = fs::read_link("/proc/thread-self").unwrap();
    link.file_name().unwrap().to_str().unwrap().parse().unwrap()
}

/// What thread `tid` of this process is blocked in, once it is.
fn blocked(tid: u32) -> Blocked {
    let path = format!("/proc/self/task/{tid}/syscall");
    eventually("the thread blocks", || {
        let call = read_syscall(std::path::Path::new(&path))?;
        Some(SyscallTable::NATIVE.unwrap().classify(&call))
    })
}

#[test]
fn the_inode_is_the_same_through_every_descriptor() {
    let (listener, watched) = listener();
    let copy = listener.try_clone().unwrap();
    assert_eq!(Watched::new([copy.as_fd()]).unwrap(), watched);
    let link = fs::read_link(format!("/proc/self/fd/{}", {
        use std::os::fd::AsRawFd as _;
        copy.as_raw_fd()
    }))
    .unwrap();
    let inode = socket_inode(link.as_os_str().as_bytes()).unwrap();
    assert_eq!(watched.position(inode), Some(0));
}

#[test]
fn a_socket_merely_held_is_not_waited_on() {
    let (_listener, watched) = listener();
    assert_eq!(find(me(), &watched), None);
    assert_eq!(find(me(), &Watched::default()), None);
}

#[test]
fn a_thread_blocked_in_accept_is_found() {
    let (listener, watched) = listener();
    let port = listener.local_addr().unwrap().port();
    let accepter = std::thread::spawn(move || listener.accept().map(drop));
    let seen = eventually("accept is seen", || find(me(), &watched));
    assert_eq!(
        seen,
        Found {
            pid: me(),
            socket: 0,
            wait: Wait::Accept
        }
    );
    TcpStream::connect(("127.0.0.1", port)).unwrap();
    accepter.join().unwrap().unwrap();
}

#[test]
fn a_thread_polling_the_socket_is_found_and_one_polling_elsewhere_is_not() {
    use rustix::event::{poll, PollFd, PollFlags};
    let (listener, watched) = listener();
    let (wake, woken) = UnixStream::pair().unwrap();
    let (tid_tx, tid_rx) = mpsc::channel();
    // First only the pipe, as a wrapper does while a compiler runs;
    // then the socket too, as a server does.
    let poller = std::thread::spawn(move || {
        tid_tx.send(thread_id()).unwrap();
        let mut fds = [PollFd::new(&woken, PollFlags::IN)];
        poll(&mut fds, None).unwrap();
        let mut byte = [0u8; 1];
        std::io::Read::read(&mut &woken, &mut byte).unwrap();
        let mut fds = [
            PollFd::new(&woken, PollFlags::IN),
            PollFd::new(&listener, PollFlags::IN),
        ];
        poll(&mut fds, None).unwrap();
    });
    let tid = tid_rx.recv().unwrap();
    assert!(matches!(blocked(tid), Blocked::Poll { count: 1, .. }));
    assert_eq!(find(me(), &watched), None);

    (&wake).write_all(b"x").unwrap();
    let seen = eventually("poll is seen", || find(me(), &watched));
    assert_eq!(seen.wait, Wait::Poll);
    (&wake).write_all(b"x").unwrap();
    poller.join().unwrap();
}

#[test]
fn a_thread_receiving_on_a_datagram_socket_is_found() {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let watched = Watched::new([socket.as_fd()]).unwrap();
    let addr = socket.local_addr().unwrap();
    let receiver = std::thread::spawn(move || socket.recv_from(&mut [0u8; 16]).map(drop));
    let seen = eventually("recvfrom is seen", || find(me(), &watched));
    assert_eq!(seen.wait, Wait::Receive);
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sender.send_to(b"x", addr).unwrap();
    receiver.join().unwrap().unwrap();
}

#[test]
fn an_epoll_registration_for_input_is_found() {
    use rustix::event::epoll;
    let (listener, watched) = listener();
    let set = epoll::create(epoll::CreateFlags::CLOEXEC).unwrap();
    epoll::add(
        &set,
        &listener,
        epoll::EventData::new_u64(1),
        epoll::EventFlags::OUT,
    )
    .unwrap();
    assert_eq!(find(me(), &watched), None, "registered for output only");
    epoll::modify(
        &set,
        &listener,
        epoll::EventData::new_u64(1),
        epoll::EventFlags::IN | epoll::EventFlags::ET,
    )
    .unwrap();
    assert_eq!(
        find(me(), &watched),
        Some(Found {
            pid: me(),
            socket: 0,
            wait: Wait::Epoll
        })
    );
    epoll::delete(&set, &listener).unwrap();
    assert_eq!(find(me(), &watched), None);
}

#[test]
fn a_grandchild_in_select_is_found_through_its_wrapper() {
    // sh stays in between (it has more to run after python), as
    // `cargo run` or `npm run` does.
    let script = "import os, select, socket\n\
        s = socket.socket()\n\
        s.bind(('127.0.0.1', 0))\n\
        s.listen()\n\
        print(os.getpid(), os.fstat(s.fileno()).st_ino, s.getsockname()[1], flush=True)\n\
        select.select([s], [], [])\n";
    let mut wrapper = std::process::Command::new("sh")
        .args(["-c", "python3 -c \"$0\"; exit 0", script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(wrapper.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let numbers: Vec<u64> = line
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    let [python, inode, port] = numbers[..] else {
        panic!("{line:?}");
    };
    let watched = Watched {
        inodes: vec![inode],
        endpoints: Vec::new(),
    };
    let seen = eventually("select is seen", || find(wrapper.id(), &watched));
    assert_eq!(
        seen,
        Found {
            pid: python as u32,
            socket: 0,
            wait: Wait::Select
        }
    );
    assert!(tree(wrapper.id()).contains(&(python as u32)));
    assert!(scan(wrapper.id()).contains(&(python as u32)));
    TcpStream::connect(("127.0.0.1", port as u16)).unwrap();
    assert!(wrapper.wait().unwrap().success());
}
