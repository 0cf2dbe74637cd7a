//! A process's pidfd inode id: what systemd 258 and later put in
//! `LISTEN_PIDFDID` (`sd_listen_fds(3)`), so that a reader can tell its own
//! process from another that reused the pid.
//!
//! Since Linux 6.9 pidfds live on pidfs, which gives every process an inode
//! of its own, 64 bits, never reused while the system runs. systemd finds it
//! the way [`own_id`] does (`pidfd_get_inode_id_self_cached` in its
//! `src/basic/pidfd-util.c`): a pidfd of the process (`pidfd_open`), on
//! pidfs (`fstatfs`, `PID_FS_MAGIC`), its file handle's 64-bit id
//! (`name_to_handle_at`, `FILEID_KERNFS`, Linux 6.13), or else, where
//! `ino_t` has 64 bits, its inode number (`fstat`). Nothing otherwise: on
//! older kernels pidfds are anonymous inodes and there is no id to give.

use std::os::raw::{c_int, c_uint};

/// pidfs's magic number (`PID_FS_MAGIC`, `<linux/magic.h>`).
const PID_FS_MAGIC: u64 = 0x5049_4446;

/// The file handle type of pidfs's ids (`FILEID_KERNFS`,
/// `<linux/exportfs.h>`).
const FILEID_KERNFS: c_int = 0xfe;

/// A `struct file_handle` with room for pidfs's 8-byte handle: the header
/// `libc::file_handle` declares, then its bytes.
#[repr(C)]
struct KernfsHandle {
    handle_bytes: c_uint,
    handle_type: c_int,
    f_handle: [u8; 8],
}

/// The pidfd inode id of the calling process, as systemd computes it for
/// `LISTEN_PIDFDID`; `None` where pidfds have none (before Linux 6.9, no
/// pidfs) or it cannot be read. Only system calls, on the stack: safe to
/// call between fork and exec (it allocates nothing).
pub fn own_id() -> Option<u64> {
    // SAFETY: getpid and pidfd_open read no memory of ours; pidfd_open
    // returns a new descriptor, closed below.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) };
    if fd < 0 {
        return None;
    }
    let fd = fd as c_int;
    let id = pidfd_id(fd);
    // SAFETY: `fd` was returned by pidfd_open above and is closed once.
    unsafe { libc::close(fd) };
    id
}

/// The id of the pidfd `fd`, when it is on pidfs.
fn pidfd_id(fd: c_int) -> Option<u64> {
    // SAFETY: a zeroed statfs is valid for fstatfs to fill; `fd` is open.
    let on_pidfs = unsafe {
        let mut fs: libc::statfs = std::mem::zeroed();
        libc::fstatfs(fd, &mut fs) == 0 && fs.f_type as u64 == PID_FS_MAGIC
    };
    if !on_pidfs {
        return None;
    }
    let mut handle = KernfsHandle {
        handle_bytes: 8,
        handle_type: FILEID_KERNFS,
        f_handle: [0; 8],
    };
    let mut mount_id: c_int = 0;
    // SAFETY: `handle` is a file_handle header followed by the
    // `handle_bytes` (8) bytes the kernel may write; the path is an empty C
    // string, which AT_EMPTY_PATH makes name `fd` itself; `mount_id` is a
    // writable int.
    let rv = unsafe {
        libc::name_to_handle_at(
            fd,
            c"".as_ptr(),
            (&raw mut handle).cast::<libc::file_handle>(),
            &mut mount_id,
            libc::AT_EMPTY_PATH,
        )
    };
    if rv == 0 && handle.handle_bytes == 8 {
        return Some(u64::from_ne_bytes(handle.f_handle));
    }
    // As systemd: a kernel without pidfs file handles (before 6.13), or a
    // sandbox that forbids the call, falls back to the inode number; any
    // other error gives no id.
    let errno = std::io::Error::last_os_error().raw_os_error();
    let fallback = rv == 0
        || matches!(
            errno,
            Some(
                libc::EOPNOTSUPP
                    | libc::ENOTTY
                    | libc::ENOSYS
                    | libc::EPERM
                    | libc::EACCES
                    | libc::EOVERFLOW
                    | libc::EINVAL
            )
        );
    // A 32-bit inode number may not tell processes apart: systemd gives
    // none then.
    if !fallback || std::mem::size_of::<libc::ino_t>() != 8 {
        return None;
    }
    // SAFETY: a zeroed stat is valid for fstat to fill; `fd` is open.
    unsafe {
        let mut stat: libc::stat = std::mem::zeroed();
        (libc::fstat(fd, &mut stat) == 0).then_some(stat.st_ino as u64)
    }
}
