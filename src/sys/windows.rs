//! Windows: spawn the command in a job object and serve it duplicates of the
//! sockets over the socket server (see `crate::socket_server` and
//! `docs/protocol.md`), then exit with the command's status.
//!
//! Only what needs the Windows API is here: `WSADuplicateSocketW`,
//! `SO_EXCLUSIVEADDRUSE`, the job object that ties the command's process
//! tree to systemfd's lifetime, and Ctrl-C.

use std::ffi::c_void;
use std::io;
use std::mem;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::windows::io::{AsRawHandle as _, AsRawSocket as _, FromRawHandle as _, OwnedHandle};
use std::os::windows::process::CommandExt as _;
use std::process::Child;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use socket2::{Domain, Protocol, Socket, Type};
use windows_sys::Win32::Foundation::{
    HANDLE, INVALID_HANDLE_VALUE, STATUS_CONTROL_C_EXIT, WAIT_OBJECT_0, WAIT_TIMEOUT,
};
use windows_sys::Win32::Networking::WinSock::{
    setsockopt, WSADuplicateSocketW, WSAGetLastError, SOCKET, SOCKET_ERROR, SOL_SOCKET,
    SO_EXCLUSIVEADDRUSE, WSAPROTOCOL_INFOW,
};
use windows_sys::Win32::System::Console::{SetConsoleCtrlHandler, CTRL_BREAK_EVENT, CTRL_C_EVENT};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, Thread32First, Thread32Next, TH32CS_SNAPTHREAD, THREADENTRY32,
};
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JobObjectExtendedLimitInformation,
    SetInformationJobObject, TerminateJobObject, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
    JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
};
use windows_sys::Win32::System::Threading::{
    CreateEventW, OpenThread, ResumeThread, SetEvent, WaitForMultipleObjects, CREATE_SUSPENDED,
    THREAD_SUSPEND_RESUME,
};

use crate::error::Failure;
use crate::output::Printer;
use crate::socket::Sockets;
use crate::socket_server::{Event, Limits, ProtocolInfo, Server, PROTOCOL_INFO_LEN};

use super::Launch;

// The reply is made of these structs, sent as bytes.
const _: () = assert!(mem::size_of::<WSAPROTOCOL_INFOW>() == PROTOCOL_INFO_LEN);

/// How long the command has to exit by itself after Ctrl-C (which it receives
/// too when it shares the console) before its process tree is ended.
const CTRL_C_GRACE: Duration = Duration::from_secs(3);

pub fn hand_over(sockets: Sockets, launch: &Launch<'_>, printer: &Printer) -> Result<i32, Failure> {
    // `LISTEN_PID` (and so `--no-pid`) has no meaning here: the command finds
    // the sockets through the socket server, whatever its pid.
    let mut command = launch.command();
    if !sockets.is_empty() {
        // Names in the order of the reply, for consumers that want them.
        command.env("LISTEN_FDNAMES", sockets.fd_names());
        let server = start_server(sockets, *printer).map_err(Failure::setup)?;
        command.envs(server.variables());
    }

    let job = Job::new()
        .context("cannot create a job object for the command")
        .map_err(Failure::setup)?;
    let interrupt = CtrlC::install()
        .context("cannot handle Ctrl-C")
        .map_err(Failure::setup)?;
    // Suspended, so that it cannot start a process outside the job before it
    // is in it.
    command.creation_flags(CREATE_SUSPENDED);
    let mut child = command
        .spawn()
        .map_err(|err| Failure::exec(launch.program(), err))?;
    let job = match job.assign(&child) {
        Ok(()) => Some(job),
        Err(err) => {
            printer.warn(&format!(
                "cannot put the command in a job object ({err}); processes it starts may outlive systemfd"
            ));
            None
        }
    };
    if let Err(err) = resume(child.id()) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(Failure::setup(
            anyhow::Error::new(err).context("cannot start the command's main thread"),
        ));
    }
    let status = wait(&mut child, job.as_ref(), &interrupt, printer).map_err(Failure::setup)?;
    Ok(status)
}

pub fn target_label(index: usize) -> String {
    format!("socket #{index}")
}

/// Claims the socket's port with `SO_EXCLUSIVEADDRUSE`, which must be set
/// before `bind`. Without it another process may bind the same port with
/// `SO_REUSEADDR` and take connections meant for the command. With
/// `exclusive` false (`--no-reuse`) neither option is set: Windows' default.
pub fn exclusive_address_use(socket: &Socket, exclusive: bool) -> anyhow::Result<()> {
    if !exclusive {
        return Ok(());
    }
    let on: i32 = 1;
    // SAFETY: the socket handle is open for the duration of the call (borrowed
    // from `socket`); `optval` points to an i32 that lives across the call and
    // `optlen` is its size.
    let rv = unsafe {
        setsockopt(
            socket.as_raw_socket() as SOCKET,
            SOL_SOCKET,
            SO_EXCLUSIVEADDRUSE,
            ptr::from_ref(&on).cast(),
            mem::size_of::<i32>() as i32,
        )
    };
    if rv == SOCKET_ERROR {
        return Err(last_wsa_error()).context("cannot set SO_EXCLUSIVEADDRUSE");
    }
    Ok(())
}

/// Starts the socket server on 127.0.0.1 with a random port. Its own port is
/// claimed exclusively too, so no other process can intercept the secret.
fn start_server(sockets: Sockets, printer: Printer) -> anyhow::Result<Server> {
    let listener = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))
        .context("cannot create the socket server's socket")?;
    exclusive_address_use(&listener, true)?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    listener
        .bind(&addr.into())
        .and_then(|()| listener.listen(128))
        .with_context(|| format!("cannot listen on {addr} for the socket server"))?;
    let sockets = Arc::new(sockets);
    Server::start(
        TcpListener::from(listener),
        Limits::default(),
        Box::new(move |pid| duplicate(&sockets, pid)),
        Box::new(move |event| report(&printer, &event)),
    )
    .context("cannot start the socket server")
}

/// Rejections and failures are worth a line; serving is what is expected.
fn report(printer: &Printer, event: &Event) {
    if !matches!(event, Event::Served { .. }) {
        printer.warn(&format!("socket server: {event}"));
    }
}

/// One `WSAPROTOCOL_INFOW` per socket, in order, for the process `pid`.
fn duplicate(sockets: &Sockets, pid: u32) -> io::Result<Vec<ProtocolInfo>> {
    sockets
        .sockets
        .iter()
        .map(|open| {
            // SAFETY: WSAPROTOCOL_INFOW is plain data (integers, a GUID and a
            // UTF-16 array), for which all zeroes is a valid value.
            let mut info: WSAPROTOCOL_INFOW = unsafe { mem::zeroed() };
            // SAFETY: the socket handle is open for the duration of the call
            // (owned by `open.socket`, which `sockets` keeps alive); `info` is a
            // valid, writable WSAPROTOCOL_INFOW.
            let rv = unsafe {
                WSADuplicateSocketW(open.socket.as_raw_socket() as SOCKET, pid, &mut info)
            };
            if rv != 0 {
                return Err(last_wsa_error());
            }
            let mut record = [0u8; PROTOCOL_INFO_LEN];
            // SAFETY: `info` is PROTOCOL_INFO_LEN bytes (asserted above) of
            // initialised data: zeroed, then written by WSADuplicateSocketW. The
            // two regions are distinct locals.
            unsafe {
                ptr::copy_nonoverlapping(
                    ptr::from_ref(&info).cast::<u8>(),
                    record.as_mut_ptr(),
                    PROTOCOL_INFO_LEN,
                );
            }
            Ok(record)
        })
        .collect()
}

fn last_wsa_error() -> io::Error {
    // SAFETY: WSAGetLastError only reads the calling thread's error code.
    io::Error::from_raw_os_error(unsafe { WSAGetLastError() })
}

/// A job object that ends every process in it when systemfd exits, however
/// it exits: the last handle to it is systemfd's, and it is not inherited.
struct Job(OwnedHandle);

impl Job {
    fn new() -> io::Result<Job> {
        // SAFETY: null attributes (not inheritable) and a null name are
        // allowed; the call reads no other memory.
        let handle = unsafe { CreateJobObjectW(ptr::null(), ptr::null()) };
        if handle.is_null() {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `handle` was just returned by CreateJobObjectW and is owned by
        // nothing else.
        let job = Job(unsafe { OwnedHandle::from_raw_handle(handle) });
        let mut limits = JOBOBJECT_EXTENDED_LIMIT_INFORMATION::default();
        limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
        // SAFETY: the job handle is open; the pointer and length describe
        // `limits`, the struct this information class takes, alive across the
        // call.
        let ok = unsafe {
            SetInformationJobObject(
                job.handle(),
                JobObjectExtendedLimitInformation,
                ptr::from_ref(&limits).cast::<c_void>(),
                mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(job)
    }

    fn handle(&self) -> HANDLE {
        self.0.as_raw_handle()
    }

    fn assign(&self, child: &Child) -> io::Result<()> {
        // SAFETY: both handles are open for the duration of the call: the job
        // is owned by `self`, the process handle by `child`.
        let ok = unsafe { AssignProcessToJobObject(self.handle(), child.as_raw_handle()) };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Ends every process in the job.
    fn terminate(&self, code: u32) -> io::Result<()> {
        // SAFETY: the job handle is open (owned by `self`).
        let ok = unsafe { TerminateJobObject(self.handle(), code) };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Resumes the threads of a process created suspended (it has one). The
/// standard library keeps the thread handle from CreateProcess to itself, so
/// the thread is found through a snapshot.
fn resume(pid: u32) -> io::Result<()> {
    // SAFETY: takes a snapshot of the system's threads; reads no memory of ours.
    let snapshot = unsafe { CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0) };
    if snapshot == INVALID_HANDLE_VALUE {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `snapshot` is a valid handle owned by nothing else.
    let snapshot = unsafe { OwnedHandle::from_raw_handle(snapshot) };
    let mut entry = THREADENTRY32 {
        dwSize: mem::size_of::<THREADENTRY32>() as u32,
        ..THREADENTRY32::default()
    };
    let mut resumed = 0;
    // SAFETY: the snapshot handle is open and `entry` is a writable
    // THREADENTRY32 whose dwSize is set, as Thread32First requires.
    let mut more = unsafe { Thread32First(snapshot.as_raw_handle(), &mut entry) } != 0;
    while more {
        if entry.th32OwnerProcessID == pid {
            // SAFETY: opening a thread by id reads no memory of ours.
            let thread = unsafe { OpenThread(THREAD_SUSPEND_RESUME, 0, entry.th32ThreadID) };
            if thread.is_null() {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `thread` was just returned by OpenThread, owned by nothing
            // else.
            let thread = unsafe { OwnedHandle::from_raw_handle(thread) };
            // SAFETY: the thread handle is open and has THREAD_SUSPEND_RESUME.
            if unsafe { ResumeThread(thread.as_raw_handle()) } == u32::MAX {
                return Err(io::Error::last_os_error());
            }
            resumed += 1;
        }
        // SAFETY: as for Thread32First.
        more = unsafe { Thread32Next(snapshot.as_raw_handle(), &mut entry) } != 0;
    }
    if resumed == 0 {
        return Err(io::Error::other(format!(
            "no thread of process {pid} found"
        )));
    }
    Ok(())
}

/// The event the console's Ctrl-C handler sets; null until installed.
static CTRL_C: AtomicPtr<c_void> = AtomicPtr::new(ptr::null_mut());

/// Ctrl-C and Ctrl-Break, as an event to wait on. Closing the console,
/// logging off and shutdown are left to the default handler, which ends
/// systemfd, and with it, through the job, the command.
struct CtrlC(OwnedHandle);

impl CtrlC {
    fn install() -> io::Result<CtrlC> {
        // SAFETY: an unnamed auto-reset event, initially unset, with null
        // (non-inheritable) attributes.
        let event = unsafe { CreateEventW(ptr::null(), 0, 0, ptr::null()) };
        if event.is_null() {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `event` was just returned by CreateEventW, owned by nothing
        // else.
        let event = unsafe { OwnedHandle::from_raw_handle(event) };
        CTRL_C.store(event.as_raw_handle(), Ordering::SeqCst);
        // SAFETY: `on_ctrl` has the signature a handler routine must have and
        // touches only the static event.
        if unsafe { SetConsoleCtrlHandler(Some(on_ctrl), 1) } == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(CtrlC(event))
    }

    fn handle(&self) -> HANDLE {
        self.0.as_raw_handle()
    }
}

unsafe extern "system" fn on_ctrl(kind: u32) -> i32 {
    if kind != CTRL_C_EVENT && kind != CTRL_BREAK_EVENT {
        return 0;
    }
    let event = CTRL_C.load(Ordering::SeqCst);
    if !event.is_null() {
        // SAFETY: the event is owned by the `CtrlC` that `hand_over` keeps
        // until systemfd exits, so the handle is open.
        unsafe { SetEvent(event) };
    }
    // Handled: systemfd stays to report the command's status.
    1
}

/// Waits for the command to exit and returns its status. On Ctrl-C the
/// command has [`CTRL_C_GRACE`] to exit by itself; after that, or on a second
/// Ctrl-C, its process tree is ended.
fn wait(
    child: &mut Child,
    job: Option<&Job>,
    interrupt: &CtrlC,
    printer: &Printer,
) -> anyhow::Result<i32> {
    let handles = [child.as_raw_handle(), interrupt.handle()];
    let mut deadline: Option<Instant> = None;
    loop {
        let timeout = match deadline {
            None => u32::MAX, // INFINITE
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now()).as_millis();
                u32::try_from(left).unwrap_or(u32::MAX - 1)
            }
        };
        // SAFETY: both handles are open (owned by `child` and `interrupt`) and
        // the pointer and count describe the array.
        let woke = unsafe { WaitForMultipleObjects(2, handles.as_ptr(), 0, timeout) };
        match woke {
            WAIT_OBJECT_0 => break,
            n if n == WAIT_OBJECT_0 + 1 && deadline.is_none() => {
                deadline = Some(Instant::now() + CTRL_C_GRACE);
            }
            n if n == WAIT_OBJECT_0 + 1 || n == WAIT_TIMEOUT => {
                printer.status("ending the command and the processes it started");
                match job {
                    Some(job) => job.terminate(STATUS_CONTROL_C_EXIT as u32),
                    None => child.kill(),
                }
                .context("cannot end the command")?;
                // Neither waits; the process handle is signalled once the
                // command is gone.
                deadline = None;
            }
            _ => {
                return Err(io::Error::last_os_error()).context("cannot wait for the command");
            }
        }
    }
    let status = child
        .wait()
        .context("cannot read the command's exit status")?;
    // On Windows every status is a code, NTSTATUS values included.
    Ok(status.code().unwrap_or(1))
}
