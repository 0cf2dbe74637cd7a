//! Which watched directories are on file systems whose change
//! notifications miss edits made elsewhere, and so are polled.
//!
//! inotify, FSEvents and ReadDirectoryChangesW report what this system's
//! kernel does to a file. On a network or FUSE file system, an edit made
//! by the other side (the host of a Docker Desktop bind mount or of a WSL2
//! `/mnt/c`, a VirtualBox share's host, another NFS client, a FUSE
//! daemon's backing store) never passes through this kernel, and no event
//! comes. Those directories are polled too.

#[cfg(any(windows, test))]
use std::path::Path;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::poll::Target;
use super::rules::Rules;

/// A mounted file system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Mount {
    /// Where it is mounted, absolute.
    pub point: PathBuf,
    /// Its type, as the system names it (`9p`, `fuse.bindfs`, `nfs4`,
    /// `smbfs`).
    pub kind: String,
    /// Whether the system itself says it is not local (macOS and the BSDs:
    /// no `MNT_LOCAL`; Windows: a network drive).
    pub remote: bool,
}

/// A directory to poll, with why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Unreported {
    /// The `-w` path it is at or below, by index.
    pub root: usize,
    /// The directory: the `-w` directory, or a mount below it.
    pub dir: PathBuf,
    /// The file system's type, for the line that says why.
    pub kind: String,
}

/// Whether a file system of type `kind` (Linux's names, as in
/// `/proc/self/mountinfo`) misses changes made outside this system.
fn unreported_kind(kind: &str) -> bool {
    // FUSE: the daemon serves what it likes; an edit to bindfs's or
    // sshfs's backing files, or on the other side of rclone or gcsfuse,
    // is not a write by this kernel. `fuseblk` is left out: it is a disk
    // (ntfs-3g, exfat-fuse) that only this system writes.
    if kind == "fuse" || kind.starts_with("fuse.") {
        return true;
    }
    matches!(
        kind,
        // WSL2's /mnt/c and the Plan 9 shares of QEMU and crosvm.
        "9p"
        // Network file systems: other clients write too.
        | "nfs" | "nfs4" | "cifs" | "smb3" | "smbfs" | "ncpfs" | "afs" | "ceph"
        | "lustre" | "gpfs"
        // Virtual machines' shared folders: the host writes.
        | "vboxsf" | "virtiofs" | "vmhgfs" | "prl_fs"
    )
}

/// Whether the file system `mount` misses changes made elsewhere.
fn unreported(mount: &Mount) -> bool {
    mount.remote || unreported_kind(&mount.kind) || {
        // macOS names FUSE mounts by the implementation.
        let kind = mount.kind.to_ascii_lowercase();
        kind.contains("fuse") && kind != "fuseblk"
    }
}

/// The directories to poll for the canonical `-w` directories `roots`
/// (files are watched through their directory), given the system's
/// `mounts`: a `-w` directory whose own file system misses changes made
/// elsewhere, and otherwise each such mount below it. A mount shadowed by a
/// later one at the same point counts as that later one.
pub(super) fn unreported_dirs(roots: &[PathBuf], mounts: &[Mount]) -> Vec<Unreported> {
    let mut found = Vec::new();
    for (index, root) in roots.iter().enumerate() {
        // The last mount at the longest point above the root is its file
        // system.
        let own = mounts
            .iter()
            .enumerate()
            .filter(|(_, m)| root.starts_with(&m.point))
            .max_by_key(|(at, m)| (m.point.components().count(), *at));
        if let Some((_, mount)) = own.filter(|(_, m)| unreported(m)) {
            found.push(Unreported {
                root: index,
                dir: root.clone(),
                kind: mount.kind.clone(),
            });
            continue;
        }
        for (at, mount) in mounts.iter().enumerate() {
            let below = mount.point.starts_with(root) && mount.point != *root;
            let shadowed = mounts[at + 1..].iter().any(|m| m.point == mount.point);
            let inside = found
                .iter()
                .any(|u: &Unreported| u.root == index && mount.point.starts_with(&u.dir));
            if below && !shadowed && !inside && unreported(mount) {
                found.push(Unreported {
                    root: index,
                    dir: mount.point.clone(),
                    kind: mount.kind.clone(),
                });
            }
        }
    }
    found
}

/// The mounts listed in Linux's `/proc/self/mountinfo` (proc(5)): per line,
/// the fifth field is the mount point (with space, tab, newline and
/// backslash written as octal escapes such as `\040`), and the first field
/// after the lone `-` is the file system type. Lines that do not parse are
/// skipped.
// Read on Linux; the parser is tested everywhere.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(super) fn parse_mountinfo(text: &[u8]) -> Vec<Mount> {
    text.split(|&b| b == b'\n')
        .filter_map(|line| {
            let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
            let point = fields.get(4)?;
            let dash = fields.iter().skip(6).position(|f| *f == b"-")? + 6;
            let kind = std::str::from_utf8(fields.get(dash + 1)?).ok()?;
            Some(Mount {
                point: path_of(unescape(point)),
                kind: kind.to_owned(),
                remote: false,
            })
        })
        .collect()
}

/// A mountinfo field with its octal escapes (`\040`) decoded.
// Read on Linux; the parser is tested everywhere.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let octal = field
            .get(i + 1..i + 4)
            .filter(|digits| field[i] == b'\\' && digits.iter().all(|d| (b'0'..=b'7').contains(d)));
        match octal {
            Some(digits) => {
                let value = digits.iter().fold(0u32, |n, d| n * 8 + u32::from(d - b'0'));
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 4;
            }
            None => {
                out.push(field[i]);
                i += 1;
            }
        }
    }
    out
}

// Read on Linux; the parser is tested everywhere.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
#[cfg(unix)]
fn path_of(bytes: Vec<u8>) -> PathBuf {
    use std::os::unix::ffi::OsStringExt as _;
    PathBuf::from(std::ffi::OsString::from_vec(bytes))
}

// Read on Linux; the parser is tested everywhere.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
#[cfg(not(unix))]
fn path_of(bytes: Vec<u8>) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(&bytes).into_owned())
}

/// The mount table as it stands, to tell whether it changed: Linux's
/// `/proc/self/mountinfo`; empty elsewhere, where mounts are read once.
pub(super) fn table() -> Vec<u8> {
    #[cfg(target_os = "linux")]
    {
        std::fs::read("/proc/self/mountinfo").unwrap_or_default()
    }
    #[cfg(not(target_os = "linux"))]
    {
        Vec::new()
    }
}

/// The system's mounts, as far as they matter to `roots`. Empty when they
/// cannot be read: then nothing is polled without `--poll`.
pub(super) fn mounts(roots: &[PathBuf]) -> Vec<Mount> {
    #[cfg(target_os = "linux")]
    {
        let _ = roots;
        std::fs::read("/proc/self/mountinfo")
            .map(|text| parse_mountinfo(&text))
            .unwrap_or_default()
    }
    #[cfg(all(unix, not(target_os = "linux")))]
    {
        let _ = roots;
        crate::sys::mounts()
            .into_iter()
            .map(|(point, kind, local)| Mount {
                point,
                kind,
                remote: !local,
            })
            .collect()
    }
    #[cfg(windows)]
    {
        roots
            .iter()
            .filter(|root| crate::sys::is_network_drive(root))
            .map(|root| Mount {
                point: drive_of(root),
                kind: "a network drive".into(),
                remote: true,
            })
            .collect()
    }
}

/// The drive or share a Windows path is on: `C:\`, `\\server\share`.
#[cfg(windows)]
fn drive_of(path: &Path) -> PathBuf {
    path.ancestors().last().unwrap_or(path).to_owned()
}

/// The directories to poll, besides watching them, that are not among
/// `known`: each `-w` directory on a file system whose change notifications
/// miss edits made elsewhere, and each such mount below one that the rules
/// do not ignore; each with its file system's type, for the line that
/// says why.
pub(super) fn to_poll(rules: &mut Rules, known: &[PathBuf]) -> Vec<(Target, String)> {
    let dirs: Vec<PathBuf> = rules
        .roots()
        .iter()
        .map(|root| root.target().to_owned())
        .collect();
    let mut targets: Vec<(Target, String)> = Vec::new();
    for found in unreported_dirs(&dirs, &mounts(&dirs)) {
        if found.dir != dirs[found.root] && !rules.wants_dir(&found.dir) {
            continue;
        }
        if known.contains(&found.dir) || targets.iter().any(|(t, _)| t.path == found.dir) {
            continue;
        }
        let target = Target {
            root: found.root,
            path: found.dir,
        };
        targets.push((target, found.kind));
    }
    targets
}

/// Linux: the mount table, looked at again now and then, so that a network
/// or FUSE file system mounted under a `-w` path after the start is polled
/// too.
pub(super) struct Mounts {
    /// The polling interval for what is found.
    every: Duration,
    /// When to look next.
    next: Instant,
    /// `/proc/self/mountinfo` as last read.
    table: Vec<u8>,
}

impl Mounts {
    /// How often the mount table is read: a read of a few KiB.
    const LOOK: Duration = Duration::from_secs(2);

    pub(super) fn new(every: Duration) -> Mounts {
        Mounts {
            every,
            next: Instant::now() + Mounts::LOOK,
            table: table(),
        }
    }

    /// When to look next.
    pub(super) fn next(&self) -> Instant {
        self.next
    }

    /// If a look is due at `now` and the table changed: the directories to
    /// poll that are not among `known` (see [`to_poll`]).
    pub(super) fn look(
        &mut self,
        now: Instant,
        rules: &mut Rules,
        known: &[PathBuf],
    ) -> Vec<(Target, String)> {
        if now < self.next {
            return Vec::new();
        }
        self.next = now + Mounts::LOOK;
        let table = table();
        if table == self.table {
            return Vec::new();
        }
        self.table = table;
        to_poll(rules, known)
    }

    /// The interval for new polls.
    pub(super) fn every(&self) -> Duration {
        self.every
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &[u8] = b"\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
35 22 0:31 / /mnt/c rw,noatime - 9p C:\\134 rw,aname=drvfs
36 22 0:40 / /home/me/proj rw,nosuid shared:5 master:2 - fuse.bindfs bindfs rw
37 36 0:41 / /home/me/proj/target rw - tmpfs tmpfs rw
38 22 0:42 / /srv/with\\040space rw - nfs4 server:/x rw
39 22 0:43 / /media/disk rw - fuseblk /dev/sdb1 rw
not a mountinfo line
";

    fn parsed() -> Vec<Mount> {
        parse_mountinfo(MOUNTINFO)
    }

    #[test]
    fn mountinfo_gives_points_and_types() {
        let mounts = parsed();
        assert_eq!(mounts.len(), 6);
        assert_eq!(mounts[1].point, Path::new("/mnt/c"));
        assert_eq!(mounts[1].kind, "9p");
        // Optional fields before the dash.
        assert_eq!(mounts[2].kind, "fuse.bindfs");
        assert_eq!(mounts[4].point, Path::new("/srv/with space"));
        assert_eq!(mounts[4].kind, "nfs4");
    }

    #[test]
    fn a_root_on_9p_is_polled_whole() {
        let roots = [PathBuf::from("/mnt/c/Users/me/app")];
        let found = unreported_dirs(&roots, &parsed());
        assert_eq!(
            found,
            [Unreported {
                root: 0,
                dir: roots[0].clone(),
                kind: "9p".into()
            }]
        );
    }

    #[test]
    fn a_fuse_mount_below_a_local_root_is_polled_alone() {
        let roots = [PathBuf::from("/home/me"), PathBuf::from("/var/www")];
        let found = unreported_dirs(&roots, &parsed());
        assert_eq!(
            found,
            [Unreported {
                root: 0,
                dir: PathBuf::from("/home/me/proj"),
                kind: "fuse.bindfs".into()
            }]
        );
    }

    #[test]
    fn a_local_mount_inside_a_fuse_mount_is_not_polled_for_itself() {
        // The tmpfs on /home/me/proj/target is local, and already inside.
        let roots = [PathBuf::from("/home/me/proj/target")];
        assert_eq!(unreported_dirs(&roots, &parsed()), []);
        let roots = [PathBuf::from("/home/me/proj/src")];
        assert_eq!(unreported_dirs(&roots, &parsed()).len(), 1);
    }

    #[test]
    fn local_disks_and_fuseblk_keep_native_watching_only() {
        let roots = [PathBuf::from("/media/disk"), PathBuf::from("/etc")];
        assert_eq!(unreported_dirs(&roots, &parsed()), []);
    }

    #[test]
    fn a_mount_the_system_calls_remote_is_polled_whatever_its_name() {
        let mounts = [
            Mount {
                point: PathBuf::from("/"),
                kind: "apfs".into(),
                remote: false,
            },
            Mount {
                point: PathBuf::from("/Volumes/share"),
                kind: "smbfs".into(),
                remote: true,
            },
            Mount {
                point: PathBuf::from("/Volumes/fuse"),
                kind: "macfuse".into(),
                remote: false,
            },
        ];
        let found = unreported_dirs(&[PathBuf::from("/Volumes")], &mounts);
        let dirs: Vec<_> = found.iter().map(|u| u.dir.clone()).collect();
        assert_eq!(
            dirs,
            [Path::new("/Volumes/share"), Path::new("/Volumes/fuse")]
        );
    }

    #[test]
    fn escapes_decode_to_bytes() {
        assert_eq!(unescape(br"a\040b\011c\134d"), b"a b\tc\\d");
        assert_eq!(unescape(br"trailing\04"), br"trailing\04");
    }
}
