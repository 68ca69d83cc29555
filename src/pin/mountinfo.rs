//! Where an fd stands in the mount tree (statx, else the verified /proc's fdinfo), and reading
//! mountinfo: whether a recorded mount is still attached (kernels without statmount), and
//! whether any mount lies below a directory. The parsing is pure and unit-tested; the bytes
//! come from `sys::mount::read_mountinfo`.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use crate::sys::mount::{
    child_mounts, fdinfo_mnt_id, mount_point, statmount_buffer, statx_mount, statx_unique_mount_id,
    MountFacts,
};
use crate::sys::{self, Base, OFlags};

/// Whether statx's answer calls for the procfs way: a kernel or a seccomp profile without it.
fn statx_missing(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOSYS | libc::EINVAL | libc::EPERM)
    )
}

/// Where the fd stands in the mount tree: `statx(STATX_MNT_ID)` (Linux 5.8+), else procfs
/// (`fdinfo`, Linux 3.15+; a directory is the root of its mount when its `..` lies in
/// another mount).
pub fn mount_facts(fd: BorrowedFd<'_>) -> io::Result<MountFacts> {
    match statx_mount(fd) {
        Err(e) if statx_missing(&e) => {
            let mnt_id = fdinfo_mnt_id(fd)?;
            let parent = sys::openat(Base::Dir(fd), c"..", OFlags::PATH | OFlags::DIRECTORY)?;
            Ok(MountFacts {
                mnt_id,
                is_mount_root: fdinfo_mnt_id(parent.as_fd())? != mnt_id,
            })
        }
        other => other,
    }
}

/// The mount id of whatever `fd` names (a file or a symlink too): statx, else procfs.
pub fn mount_id_of(fd: BorrowedFd<'_>) -> io::Result<u64> {
    match statx_mount(fd) {
        Err(e) if statx_missing(&e) => fdinfo_mnt_id(fd),
        other => other.map(|f| f.mnt_id),
    }
}

/// A mount's identity: the reusable id every kernel since 3.15 gives (`STATX_MNT_ID` or
/// procfs), and the unique id of Linux 6.8+, never reused while the system runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MountIds {
    pub legacy: u64,
    pub unique: Option<u64>,
}

/// The identity of the mount `fd` is on (an attached mount, or a detached one from
/// open_tree).
pub fn mount_ids(fd: BorrowedFd<'_>) -> io::Result<MountIds> {
    Ok(MountIds {
        unique: statx_unique_mount_id(fd).ok().flatten(),
        legacy: mount_facts(fd)?.mnt_id,
    })
}

/// One line of mountinfo (proc(5)): the fields nc-harden looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountInfo {
    pub id: u64,
    pub parent: u64,
    /// `major:minor` of the filesystem.
    pub dev: Vec<u8>,
    /// The directory of the filesystem that is the root of this mount.
    pub root: Vec<u8>,
    /// Where the mount is, relative to the process's root.
    pub mount_point: Vec<u8>,
    /// Per-mount options, e.g. `ro,nosuid,nodev,relatime`.
    pub options: Vec<u8>,
    /// The filesystem type and its source, after the optional fields' ` - `.
    pub fstype: Vec<u8>,
    pub source: Vec<u8>,
}

/// mountinfo escapes space, tab, newline and backslash as `\NNN` (octal).
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let octal = field
            .get(i + 1..i + 4)
            .filter(|d| field[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') << 6 | (d[1] - b'0') << 3 | (d[2] - b'0'));
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

fn parse_line(line: &[u8]) -> Option<MountInfo> {
    let mut fields = line.split(|&b| b == b' ');
    let number = |f: Option<&[u8]>| std::str::from_utf8(f?).ok()?.parse::<u64>().ok();
    let (id, parent) = (number(fields.next())?, number(fields.next())?);
    let dev = fields.next()?.to_vec();
    let root = unescape(fields.next()?);
    let mount_point = unescape(fields.next()?);
    let options = fields.next()?.to_vec();
    // Optional fields (`shared:1`, ...) up to the lone `-`.
    fields.find(|f| *f == b"-")?;
    Some(MountInfo {
        id,
        parent,
        dev,
        root,
        mount_point,
        options,
        fstype: unescape(fields.next()?),
        source: unescape(fields.next()?),
    })
}

/// Every mount of the text.
pub fn all(text: &[u8]) -> impl Iterator<Item = MountInfo> + '_ {
    text.split(|&b| b == b'\n').filter_map(parse_line)
}

/// The entry of mount `id`.
#[cfg(test)]
pub fn find(text: &[u8], id: u64) -> Option<MountInfo> {
    text.split(|&b| b == b'\n')
        .filter_map(parse_line)
        .find(|m| m.id == id)
}

/// Whether any mount of the namespace has its mount point strictly below `dir` (a path as
/// the kernel writes it for an fd: `/proc/self/fd/N`). Used only to skip a per-entry check
/// where no entry can be a mount point; a yes is always confirmed entry by entry.
pub fn any_mount_below(text: &[u8], dir: &[u8]) -> bool {
    text.split(|&b| b == b'\n')
        .filter_map(parse_line)
        .any(|m| strictly_below(&m.mount_point, dir))
}

/// The same question asked of the kernel, without mountinfo (whose generation costs some
/// 50 us even for a short table): the mounts whose parent is `dir`'s own mount (listmount),
/// and where each is (statmount). A mount over an entry of `dir` is always such a child.
/// Linux 6.8+; any error (ENOSYS before) leaves the question to mountinfo.
pub fn any_child_mount_below(dir: BorrowedFd<'_>, path: &[u8]) -> io::Result<bool> {
    let id =
        statx_unique_mount_id(dir)?.ok_or_else(|| io::Error::from_raw_os_error(libc::ENOSYS))?;
    let mut buf = statmount_buffer();
    for child in child_mounts(id)? {
        match mount_point(child, &mut buf) {
            Ok(point) if strictly_below(point, path) => return Ok(true),
            Ok(_) => {}
            // Gone between the two calls: not below anything.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

/// Whether the path `mount_point` lies strictly below the directory path `dir`.
fn strictly_below(mount_point: &[u8], dir: &[u8]) -> bool {
    let dir = if dir == b"/" { &b""[..] } else { dir };
    mount_point.len() > dir.len() + 1
        && mount_point.starts_with(dir)
        && mount_point[dir.len()] == b'/'
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &[u8] = b"\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
40 22 254:0 /tmp/a\\040b/.openclaw /tmp/a\\040b/.openclaw ro,nosuid,nodev,relatime shared:1 - ext4 /dev/vda rw
41 22 0:55 / /tmp/t rw,relatime - tmpfs tmpfs rw
42 41 0:55 /x/host.json /tmp/t/x/.openclaw/openclaw.json ro - tmpfs tmpfs rw
";

    #[test]
    fn parses_and_unescapes() {
        let m = find(TEXT, 40).expect("present");
        assert_eq!(m.parent, 22);
        assert_eq!(m.mount_point, b"/tmp/a b/.openclaw");
        assert_eq!(m.root, b"/tmp/a b/.openclaw");
        assert_eq!(unescape(b"a\\134b\\012"), b"a\\b\n");
        assert_eq!(unescape(b"trailing\\04"), b"trailing\\04");
        assert!(find(TEXT, 99).is_none());
    }

    #[test]
    fn strictly_below_is_by_whole_components() {
        assert!(strictly_below(b"/a/b", b"/a"));
        assert!(strictly_below(b"/a", b"/"));
        assert!(!strictly_below(b"/", b"/"));
        assert!(!strictly_below(b"/a", b"/a"));
        assert!(!strictly_below(b"/ab", b"/a"));
        assert!(!strictly_below(b"/a/", b"/a"));
        assert!(!strictly_below(b"/b/a", b"/a"));
    }

    #[test]
    fn mounts_below_a_directory_are_found() {
        assert!(any_mount_below(TEXT, b"/tmp/t/x/.openclaw"));
        assert!(any_mount_below(TEXT, b"/tmp/t"));
        assert!(any_mount_below(TEXT, b"/"));
        assert!(
            !any_mount_below(TEXT, b"/tmp/a b/.openclaw"),
            "itself is not below"
        );
        assert!(
            !any_mount_below(TEXT, b"/tmp/t/x/.open"),
            "a prefix of a name is not a parent"
        );
    }
}
