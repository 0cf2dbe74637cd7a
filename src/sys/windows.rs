//! Windows primitives: `SO_EXCLUSIVEADDRUSE`, `WSADuplicateSocketW`, a
//! process started suspended (in a console process group of its own when
//! supervised), the job object that ties a process tree to systemfd's
//! lifetime and tells which programs it runs, Ctrl-Break to a process group,
//! Ctrl-C as an event to wait on, and escape sequences in the console.
//!
//! Only what needs the Windows API is here; what the modes do with it is in
//! `crate::exec` and `crate::supervise`.

use std::ffi::c_void;
use std::io;
use std::mem;
use std::os::windows::ffi::OsStringExt as _;
use std::os::windows::io::{AsRawHandle as _, AsRawSocket as _, FromRawHandle as _, OwnedHandle};
use std::os::windows::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::time::Instant;

use anyhow::Context as _;
use socket2::Socket;
use windows_sys::Win32::Foundation::{
    ERROR_MORE_DATA, HANDLE, INVALID_HANDLE_VALUE, STATUS_CONTROL_C_EXIT, WAIT_OBJECT_0,
    WAIT_TIMEOUT,
};
use windows_sys::Win32::Networking::WinSock::{
    setsockopt, WSADuplicateSocketW, WSAGetLastError, SOCKET, SOCKET_ERROR, SOL_SOCKET,
    SO_EXCLUSIVEADDRUSE, WSAPROTOCOL_INFOW,
};
use windows_sys::Win32::System::Console::{
    GenerateConsoleCtrlEvent, GetConsoleMode, GetStdHandle, SetConsoleCtrlHandler, SetConsoleMode,
    CONSOLE_MODE, CTRL_BREAK_EVENT, CTRL_C_EVENT, ENABLE_VIRTUAL_TERMINAL_PROCESSING, STD_HANDLE,
};
use windows_sys::Win32::System::Console::{STD_ERROR_HANDLE, STD_OUTPUT_HANDLE};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, Thread32First, Thread32Next, TH32CS_SNAPTHREAD, THREADENTRY32,
};
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JobObjectBasicProcessIdList,
    JobObjectExtendedLimitInformation, QueryInformationJobObject, SetInformationJobObject,
    TerminateJobObject, JOBOBJECT_EXTENDED_LIMIT_INFORMATION, JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
};
use windows_sys::Win32::System::Threading::{
    CreateEventW, OpenProcess, OpenThread, QueryFullProcessImageNameW, ResumeThread, SetEvent,
    WaitForMultipleObjects, WaitForSingleObject, CREATE_NEW_PROCESS_GROUP, CREATE_SUSPENDED,
    INFINITE, PROCESS_NAME_WIN32, PROCESS_QUERY_LIMITED_INFORMATION, THREAD_SUSPEND_RESUME,
};

/// Sets up `socket` before `bind` for `reuse_addr` (`--no-reuse` turns it
/// off). On Windows that claims the port with `SO_EXCLUSIVEADDRUSE`:
/// `SO_REUSEADDR` there would let another process bind the same port and
/// take connections meant for the command. With `reuse_addr` false neither
/// option is set: Windows' default. (`reuse_port` has no Windows meaning;
/// the command line refuses it.)
///
/// # Errors
/// When the option cannot be set.
pub fn set_reuse(socket: &Socket, reuse_addr: bool, _reuse_port: bool) -> anyhow::Result<()> {
    if !reuse_addr {
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

/// The size of the record [`duplicate`] makes.
pub const PROTOCOL_INFO_LEN: usize = mem::size_of::<WSAPROTOCOL_INFOW>();

/// A `WSAPROTOCOL_INFOW` record from which the process `pid` can make its
/// own copy of `socket`, as bytes.
pub fn duplicate(socket: &Socket, pid: u32) -> io::Result<[u8; PROTOCOL_INFO_LEN]> {
    // SAFETY: WSAPROTOCOL_INFOW is plain data (integers, a GUID and a UTF-16
    // array), for which all zeroes is a valid value.
    let mut info: WSAPROTOCOL_INFOW = unsafe { mem::zeroed() };
    // SAFETY: the socket handle is open for the duration of the call
    // (borrowed from `socket`); `info` is a valid, writable WSAPROTOCOL_INFOW.
    let rv = unsafe { WSADuplicateSocketW(socket.as_raw_socket() as SOCKET, pid, &mut info) };
    if rv != 0 {
        return Err(last_wsa_error());
    }
    let mut record = [0u8; PROTOCOL_INFO_LEN];
    // SAFETY: `info` is PROTOCOL_INFO_LEN bytes of initialised data: zeroed,
    // then written by WSADuplicateSocketW. The two regions are distinct
    // locals.
    unsafe {
        ptr::copy_nonoverlapping(
            ptr::from_ref(&info).cast::<u8>(),
            record.as_mut_ptr(),
            PROTOCOL_INFO_LEN,
        );
    }
    Ok(record)
}

fn last_wsa_error() -> io::Error {
    // SAFETY: WSAGetLastError only reads the calling thread's error code.
    io::Error::from_raw_os_error(unsafe { WSAGetLastError() })
}

/// A job object that ends every process in it when systemfd exits, however
/// it exits: the last handle to it is systemfd's, and it is not inherited.
pub struct Job(OwnedHandle);

impl Job {
    pub fn new() -> io::Result<Job> {
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

    pub fn assign(&self, child: &Child) -> io::Result<()> {
        // SAFETY: both handles are open for the duration of the call: the job
        // is owned by `self`, the process handle by `child`.
        let ok = unsafe { AssignProcessToJobObject(self.handle(), child.as_raw_handle()) };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// The programs the job's processes run, as full paths; a process that
    /// exits meanwhile is left out.
    pub fn programs(&self) -> io::Result<Vec<PathBuf>> {
        /// JOBOBJECT_BASIC_PROCESS_ID_LIST with room for this many ids.
        const ROOM: usize = 256;
        #[repr(C)]
        struct ProcessIdList {
            assigned: u32,
            listed: u32,
            ids: [usize; ROOM],
        }
        let mut list = ProcessIdList {
            assigned: 0,
            listed: 0,
            ids: [0; ROOM],
        };
        // SAFETY: the job handle is open; the pointer and length describe
        // `list`, laid out as the struct this information class fills, alive
        // across the call.
        let ok = unsafe {
            QueryInformationJobObject(
                self.handle(),
                JobObjectBasicProcessIdList,
                ptr::from_mut(&mut list).cast::<c_void>(),
                mem::size_of_val(&list) as u32,
                ptr::null_mut(),
            )
        };
        // ERROR_MORE_DATA still fills the list as far as it goes.
        if ok == 0 && io::Error::last_os_error().raw_os_error() != Some(ERROR_MORE_DATA as i32) {
            return Err(io::Error::last_os_error());
        }
        let listed = (list.listed as usize).min(ROOM);
        Ok(list.ids[..listed]
            .iter()
            .filter_map(|&pid| program(pid as u32).ok())
            .collect())
    }

    /// Ends every process in the job, with the status of a process ended by
    /// Ctrl-C.
    pub fn terminate(&self) -> io::Result<()> {
        // SAFETY: the job handle is open (owned by `self`).
        let ok = unsafe { TerminateJobObject(self.handle(), STATUS_CONTROL_C_EXIT as u32) };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// The volume serial number and file index of the file or directory at
/// `path`: what tells it from another made in its place.
pub fn file_id(path: &std::path::Path) -> io::Result<(u64, u64)> {
    use std::os::windows::fs::OpenOptionsExt as _;
    use windows_sys::Win32::Storage::FileSystem::{
        GetFileInformationByHandle, BY_HANDLE_FILE_INFORMATION, FILE_FLAG_BACKUP_SEMANTICS,
    };
    // Opening a directory takes FILE_FLAG_BACKUP_SEMANTICS; no access is
    // asked for, so any file can be opened to be identified.
    let file = std::fs::OpenOptions::new()
        .access_mode(0)
        .custom_flags(FILE_FLAG_BACKUP_SEMANTICS)
        .open(path)?;
    let mut info = BY_HANDLE_FILE_INFORMATION::default();
    // SAFETY: the file handle is open (owned by `file`) and `info` is a
    // writable BY_HANDLE_FILE_INFORMATION.
    if unsafe { GetFileInformationByHandle(file.as_raw_handle(), &mut info) } == 0 {
        return Err(io::Error::last_os_error());
    }
    let index = (u64::from(info.nFileIndexHigh) << 32) | u64::from(info.nFileIndexLow);
    Ok((info.dwVolumeSerialNumber.into(), index))
}

/// Whether `path` (absolute) is on a network drive: a share
/// (`\\server\share`) or a drive letter mapped to one (GetDriveTypeW's
/// `DRIVE_REMOTE`).
pub fn is_network_drive(path: &std::path::Path) -> bool {
    use std::os::windows::ffi::OsStrExt as _;
    use windows_sys::Win32::Storage::FileSystem::GetDriveTypeW;
    /// winbase.h's DRIVE_REMOTE.
    const DRIVE_REMOTE: u32 = 4;
    let Some(std::path::Component::Prefix(prefix)) = path.components().next() else {
        return false;
    };
    let drive = match prefix.kind() {
        std::path::Prefix::UNC(..) | std::path::Prefix::VerbatimUNC(..) => return true,
        std::path::Prefix::Disk(letter) | std::path::Prefix::VerbatimDisk(letter) => letter,
        _ => return false,
    };
    let root: Vec<u16> = std::ffi::OsStr::new(&format!("{}:\\", char::from(drive)))
        .encode_wide()
        .chain([0])
        .collect();
    // SAFETY: `root` is a NUL-terminated wide string that outlives the call.
    unsafe { GetDriveTypeW(root.as_ptr()) == DRIVE_REMOTE }
}

/// The full path of the program the process `pid` runs.
fn program(pid: u32) -> io::Result<PathBuf> {
    // SAFETY: opening a process by id reads no memory of ours.
    let process = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if process.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `process` was just returned by OpenProcess, owned by nothing else.
    let process = unsafe { OwnedHandle::from_raw_handle(process) };
    let mut name = vec![0u16; 32 * 1024];
    let mut len = name.len() as u32;
    // SAFETY: the process handle is open with the access the call needs;
    // `name` has room for `len` UTF-16 units, and `len` is writable.
    let ok = unsafe {
        QueryFullProcessImageNameW(
            process.as_raw_handle(),
            PROCESS_NAME_WIN32,
            name.as_mut_ptr(),
            &mut len,
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    name.truncate(len as usize);
    Ok(PathBuf::from(std::ffi::OsString::from_wide(&name)))
}

/// Sends Ctrl-Break to the console process group `group` (a process started
/// with [`Spawn::NewGroup`] leads one, its id the group's). It fails when
/// systemfd has no console to send it through.
pub fn ctrl_break(group: u32) -> io::Result<()> {
    // SAFETY: generating a console event reads no memory of ours.
    if unsafe { GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, group) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A standard stream that escape sequences are written to.
#[derive(Clone, Copy, Debug)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Turns on escape sequences in the console behind `stream`; false when it
/// is not a console or does not take them.
pub fn enable_escape_sequences(stream: Stream) -> bool {
    let which: STD_HANDLE = match stream {
        Stream::Stdout => STD_OUTPUT_HANDLE,
        Stream::Stderr => STD_ERROR_HANDLE,
    };
    // SAFETY: reads the process's standard handle; no memory of ours.
    let handle = unsafe { GetStdHandle(which) };
    if handle.is_null() || handle == INVALID_HANDLE_VALUE {
        return false;
    }
    let mut mode: CONSOLE_MODE = 0;
    // SAFETY: `handle` is the process's standard handle, not closed by us;
    // `mode` is writable.
    if unsafe { GetConsoleMode(handle, &mut mode) } == 0 {
        return false;
    }
    // SAFETY: as above; the mode is the console's own plus one flag.
    unsafe { SetConsoleMode(handle, mode | ENABLE_VIRTUAL_TERMINAL_PROCESSING) != 0 }
}

/// Resumes the threads of a process created suspended (it has one). The
/// standard library keeps the thread handle from CreateProcess to itself, so
/// the thread is found through a snapshot.
pub fn resume(pid: u32) -> io::Result<()> {
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
///
/// The event is never closed: the handler may run on its own thread at any
/// moment until the process exits, so the handle it sets must stay open.
pub struct CtrlC(HANDLE);

impl CtrlC {
    pub fn install() -> io::Result<CtrlC> {
        // SAFETY: an unnamed auto-reset event, initially unset, with null
        // (non-inheritable) attributes.
        let event = unsafe { CreateEventW(ptr::null(), 0, 0, ptr::null()) };
        if event.is_null() {
            return Err(io::Error::last_os_error());
        }
        CTRL_C.store(event, Ordering::SeqCst);
        // SAFETY: `on_ctrl` has the signature a handler routine must have and
        // touches only the static event.
        if unsafe { SetConsoleCtrlHandler(Some(on_ctrl), 1) } == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(CtrlC(event))
    }

    fn handle(&self) -> HANDLE {
        self.0
    }

    /// Waits for the next Ctrl-C or Ctrl-Break.
    pub fn wait(&self) -> io::Result<()> {
        // SAFETY: the event is never closed (see `CtrlC`), so the handle is
        // open.
        if unsafe { WaitForSingleObject(self.handle(), INFINITE) } != WAIT_OBJECT_0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

// SAFETY: the event handle is valid on every thread and never closed; waiting
// on it from another thread is what it is for.
unsafe impl Send for CtrlC {}

unsafe extern "system" fn on_ctrl(kind: u32) -> i32 {
    if kind != CTRL_C_EVENT && kind != CTRL_BREAK_EVENT {
        return 0;
    }
    let event = CTRL_C.load(Ordering::SeqCst);
    if !event.is_null() {
        // SAFETY: the event is never closed (see `CtrlC`), so the handle is
        // open.
        unsafe { SetEvent(event) };
    }
    // Handled: systemfd stays to report the command's status.
    1
}

/// Where a process started by [`spawn_suspended`] stands in the console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spawn {
    /// In systemfd's console process group: Ctrl-C at the console reaches it.
    SameGroup,
    /// Leading a console process group of its own, which [`ctrl_break`] can
    /// address; Ctrl-C at the console is ignored in it unless a process
    /// turns it back on (Windows' rule for such groups).
    NewGroup,
}

/// Starts `command` with its main thread suspended, so that it cannot start
/// a process outside a job before it is in one; [`resume`] lets it run.
pub fn spawn_suspended(command: &mut Command, group: Spawn) -> io::Result<Child> {
    let flags = match group {
        Spawn::SameGroup => CREATE_SUSPENDED,
        Spawn::NewGroup => CREATE_SUSPENDED | CREATE_NEW_PROCESS_GROUP,
    };
    command.creation_flags(flags).spawn()
}

/// What [`wait_for`] woke up for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Woke {
    /// The process exited.
    Exited,
    /// Ctrl-C or Ctrl-Break.
    Interrupted,
    /// The deadline passed.
    TimedOut,
}

/// Waits until `child` exits, Ctrl-C arrives or `deadline` (if any) passes.
pub fn wait_for(child: &Child, interrupt: &CtrlC, deadline: Option<Instant>) -> io::Result<Woke> {
    let handles = [child.as_raw_handle(), interrupt.handle()];
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
        WAIT_OBJECT_0 => Ok(Woke::Exited),
        n if n == WAIT_OBJECT_0 + 1 => Ok(Woke::Interrupted),
        WAIT_TIMEOUT => Ok(Woke::TimedOut),
        _ => Err(io::Error::last_os_error()),
    }
}

/// What [`poll`] waits for on one socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interest {
    /// Something to read: data, a connection to accept, or the peer's end.
    Read,
    /// Room to write.
    Write,
}

/// One socket for [`poll`]: what to wait for, and then whether it came.
#[derive(Debug)]
pub struct PollEntry<'a> {
    socket: std::os::windows::io::BorrowedSocket<'a>,
    interest: Interest,
    ready: bool,
}

impl<'a> PollEntry<'a> {
    /// Waits on `socket` (borrowed for as long as the entry lives) for
    /// `interest`.
    pub fn new(
        socket: &'a impl std::os::windows::io::AsSocket,
        interest: Interest,
    ) -> PollEntry<'a> {
        PollEntry {
            socket: socket.as_socket(),
            interest,
            ready: false,
        }
    }

    /// Whether the last [`poll`] found the socket ready for its interest: a
    /// read (or accept, or write) will not block. An error or a hang-up
    /// counts as ready, so that the call reports it.
    pub fn ready(&self) -> bool {
        self.ready
    }
}

/// Waits until one of `entries` is ready or `timeout` has passed (`None`:
/// no limit), over `WSAPoll`. The timeout is rounded up to whole
/// milliseconds, so a wait never ends before its deadline. Returns how many
/// entries are ready: 0 when the time ran out or the wait was interrupted
/// (callers check their deadlines and call again). With no entries it only
/// sleeps (`WSAPoll` refuses an empty array).
///
/// # Errors
/// When `WSAPoll` fails otherwise; with no entries and no timeout, an
/// `InvalidInput` error instead of a sleep forever.
pub fn poll(
    entries: &mut [PollEntry<'_>],
    timeout: Option<std::time::Duration>,
) -> io::Result<usize> {
    use windows_sys::Win32::Networking::WinSock::{
        WSAPoll, POLLERR, POLLHUP, POLLNVAL, POLLRDNORM, POLLWRNORM, WSAEINTR, WSAPOLLFD,
    };
    let events = |interest| match interest {
        Interest::Read => POLLRDNORM,
        Interest::Write => POLLWRNORM,
    };
    if entries.is_empty() {
        return match timeout {
            Some(timeout) => {
                std::thread::sleep(timeout);
                Ok(0)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "poll with no sockets and no timeout would wait forever",
            )),
        };
    }
    let mut fds: Vec<WSAPOLLFD> = entries
        .iter()
        .map(|entry| WSAPOLLFD {
            fd: entry.socket.as_raw_socket() as SOCKET,
            events: events(entry.interest),
            revents: 0,
        })
        .collect();
    let timeout = match timeout {
        None => -1,
        Some(timeout) => {
            let ms = timeout.as_nanos().div_ceil(1_000_000);
            i32::try_from(ms).unwrap_or(i32::MAX)
        }
    };
    for entry in entries.iter_mut() {
        entry.ready = false;
    }
    let count = u32::try_from(fds.len()).unwrap_or(u32::MAX);
    // SAFETY: `fds` is a valid, writable array of at least `count` WSAPOLLFD;
    // every socket in it is borrowed by an entry, so open across the call.
    let rv = unsafe { WSAPoll(fds.as_mut_ptr(), count, timeout) };
    if rv == SOCKET_ERROR {
        let err = last_wsa_error();
        return match err.raw_os_error() {
            Some(WSAEINTR) => Ok(0),
            _ => Err(err),
        };
    }
    let mut ready = 0;
    for (entry, fd) in entries.iter_mut().zip(&fds) {
        let wanted = events(entry.interest) | POLLHUP | POLLERR | POLLNVAL;
        entry.ready = fd.revents & wanted != 0;
        ready += usize::from(entry.ready);
    }
    Ok(ready)
}
