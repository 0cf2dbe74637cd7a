use super::*;

#[test]
fn the_filter_checks_the_architecture_then_sends_bind_and_listen() {
    let filter = Filter::new().unwrap();
    let program = &filter.program;
    assert_eq!(program.len(), 7);
    // Another ABI's call skips to "allow" (a jump counts from the next
    // instruction).
    assert_eq!((program[1].k, program[1].jf), (AUDIT_ARCH, 3));
    assert_eq!(program[5].k, libc::SECCOMP_RET_ALLOW);
    // bind jumps over listen's test to the notification; listen reaches it too.
    assert_eq!((program[3].k, program[3].jt), (libc::SYS_bind as u32, 2));
    assert_eq!((program[4].k, program[4].jt), (libc::SYS_listen as u32, 1));
    assert_eq!(program[6].k, libc::SECCOMP_RET_USER_NOTIF);
}

#[test]
fn the_probe_passes_on_a_kernel_that_has_user_notification_and_addfd() {
    // This kernel (Linux 5.9 or later, as CI's) has both; an error names
    // what is missing.
    probe().unwrap();
}

#[test]
fn a_child_sends_its_listener_and_its_bind_is_notified() {
    let filter = Filter::new().unwrap();
    let (ours, theirs) = channel(3).unwrap();
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the child makes only system calls, then _exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: this is the freshly forked child.
        unsafe { probe_child(&filter, theirs.as_raw_fd(), parent) }
    }
    drop(theirs);
    let listener = receive_listener(&ours).unwrap();
    assert_eq!(listener.wait(Some(PROBE_WAIT)).unwrap(), Waited::Ready);
    let notification = listener.receive().unwrap();
    assert_eq!(notification.call, Some(Call::Bind));
    assert_eq!(notification.pid, pid as u32);
    assert!(listener.is_valid(notification.id));
    // Its address, read from its memory: 127.0.0.1, port 0.
    let process = Process::open(notification.pid).unwrap();
    let mut address = [0u8; 8];
    let read = process
        .read_memory(notification.args[1], &mut address)
        .unwrap();
    assert_eq!(read, 8);
    assert_eq!(
        u16::from_ne_bytes([address[0], address[1]]),
        libc::AF_INET as u16
    );
    assert_eq!(&address[4..8], &[127, 0, 0, 1]);
    // Its socket, duplicated: the same open file.
    let socket = process.descriptor(notification.args[0] as i32).unwrap();
    let socket = socket2::Socket::from(socket);
    assert_eq!(socket.r#type().unwrap(), socket2::Type::STREAM);
    listener.refuse(notification.id, libc::EADDRINUSE).unwrap();
    assert!(!listener.is_valid(notification.id));
    let status = crate::sys::wait(pid as u32).unwrap();
    assert_eq!(status.code(), Some(libc::EADDRINUSE));
    // Its one process has exited: the listener hangs up.
    assert_eq!(listener.wait(Some(PROBE_WAIT)).unwrap(), Waited::Closed);
}

#[test]
fn a_thread_that_is_not_the_first_opens_as_its_process() {
    let (tx, rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        // SAFETY: gettid reads no memory.
        tx.send(unsafe { libc::gettid() } as u32).unwrap();
        let _ = done_rx.recv();
    });
    let tid = rx.recv().unwrap();
    assert_ne!(tid, std::process::id());
    let process = Process::open(tid).unwrap();
    // Its descriptors are the process's: stderr is there.
    process.descriptor(2).unwrap();
    done_tx.send(()).unwrap();
    thread.join().unwrap();
}

/// A call through another ABI (x86_64's 32-bit `int 0x80`) has other
/// numbers, and is let through: the first call notified is the bind.
#[cfg(target_arch = "x86_64")]
#[test]
fn a_call_through_another_abi_is_not_notified() {
    let filter = Filter::new().unwrap();
    let (ours, theirs) = channel(3).unwrap();
    let channel = theirs.as_raw_fd();
    // SAFETY: the child makes only system calls, then _exits.
    let pid = unsafe {
        crate::sys::fork::fork(|| {
            if !install(&filter, channel) {
                libc::_exit(1);
            }
            // getpid (20 in i386's table; 20 is not bind or listen in
            // x86_64's either) through the 32-bit entry.
            let mut number: i64 = 20;
            std::arch::asm!("int 0x80", inout("rax") number);
            let _ = number;
            libc::_exit(bind_loopback())
        })
    }
    .unwrap();
    drop(theirs);
    let listener = receive_listener(&ours).unwrap();
    assert_eq!(listener.wait(Some(PROBE_WAIT)).unwrap(), Waited::Ready);
    let notification = listener.receive().unwrap();
    assert_eq!(notification.call, Some(Call::Bind), "{notification:?}");
    listener.refuse(notification.id, libc::EADDRINUSE).unwrap();
    let status = crate::sys::wait(pid).unwrap();
    assert_eq!(status.code(), Some(libc::EADDRINUSE));
}
