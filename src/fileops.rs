//! What is built of the syscalls of `sys::files`: copies with their fallbacks (a reflink,
//! else copy_file_range, else pread and pwrite; holes kept), extended attributes and inode
//! flags carried, the read-lease check of writers with its retries, the lock wait with its
//! back-off, and the detached tmpfs a fresh directory is built in, configured.

#![forbid(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::sys::files::{self as f, FsXattr, Lease};
use crate::sys::InodeFd;

/// The largest buffer a digest or a copy holds: whatever the file's size, this much memory.
pub(crate) const CHUNK: usize = 1 << 20;

/// Below this size a file is read as one run of data: asking where its holes are would cost
/// more syscalls than reading them.
const SPARSE_MIN: u64 = CHUNK as u64;

/// A run of a file: `Data` to read, or a `Hole`, which reads as zeros and needs no reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Run {
    Data { start: u64, end: u64 },
    Hole { start: u64, end: u64 },
}

/// The runs of data and holes of `fd` up to `size` (its size when examined), found with
/// SEEK_DATA and SEEK_HOLE; one run of data where the filesystem cannot tell (or the file is
/// small). The file's offset moves: callers read with pread.
pub struct Runs<'a> {
    fd: BorrowedFd<'a>,
    pos: u64,
    size: u64,
    sparse: bool,
}

pub fn runs(fd: BorrowedFd<'_>, size: u64) -> Runs<'_> {
    Runs {
        fd,
        pos: 0,
        size,
        sparse: size >= SPARSE_MIN,
    }
}

impl Iterator for Runs<'_> {
    type Item = Run;

    fn next(&mut self) -> Option<Run> {
        let (start, size) = (self.pos, self.size);
        if start >= size {
            return None;
        }
        let data = |end: u64| Run::Data { start, end };
        let run = if !self.sparse {
            data(size)
        } else {
            match f::seek_data(self.fd, start) {
                // No data after `start`: a hole to the end (or the file shrank).
                Err(e) if e.raw_os_error() == Some(libc::ENXIO) => Run::Hole { start, end: size },
                Err(_) => {
                    self.sparse = false;
                    data(size)
                }
                Ok(at) if at > start => Run::Hole {
                    start,
                    end: at.min(size),
                },
                Ok(_) => match f::seek_hole(self.fd, start) {
                    Ok(hole) => data(hole.clamp(start + 1, size)),
                    Err(_) => data(size),
                },
            }
        };
        self.pos = match run {
            Run::Data { end, .. } | Run::Hole { end, .. } => end,
        };
        Some(run)
    }
}

/// Copies the bytes of `from` (of `size` bytes when examined) into the empty `to`, holes
/// kept: a reflink where the filesystem can (FICLONE: nothing copied); else each run of data
/// by copy_file_range (in the kernel) or, across filesystems, pread and pwrite through one
/// buffer of at most `CHUNK` bytes; holes are skipped, and `to` is then truncated to `size`
/// so that a trailing hole stays one. Returns the bytes of data copied.
pub fn copy_bytes(from: BorrowedFd<'_>, to: BorrowedFd<'_>, size: u64) -> io::Result<u64> {
    if f::ficlone(to, from).is_ok() {
        return Ok(size);
    }
    let mut done = 0u64;
    let mut in_kernel = true;
    let mut buf = Vec::new();
    'runs: for run in runs(from, size) {
        let Run::Data { start, end } = run else {
            continue;
        };
        let mut at = start;
        while at < end {
            let want = (end - at).min(1 << 30) as usize;
            let n = if in_kernel {
                match f::copy_file_range(from, to, at, want) {
                    Ok(n) => n,
                    Err(e)
                        if matches!(
                            e.raw_os_error(),
                            Some(
                                libc::EXDEV
                                    | libc::EINVAL
                                    | libc::ENOSYS
                                    | libc::EOPNOTSUPP
                                    | libc::EPERM
                            )
                        ) =>
                    {
                        in_kernel = false;
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            } else {
                buf.resize(CHUNK.min(want.max(4096)).max(buf.len()), 0);
                let len = want.min(buf.len());
                let n = f::pread(from, &mut buf[..len], at)?;
                f::pwrite_all(to, &buf[..n], at)?;
                n
            };
            if n == 0 && in_kernel {
                // Asked again by pread: only a read says for sure that the file ends here.
                in_kernel = false;
                continue;
            }
            if n == 0 {
                // The file ends sooner than it did (a truncate: the caller sees it changed).
                break 'runs;
            }
            at += n as u64;
            done += n as u64;
        }
    }
    f::ftruncate(to, size)?;
    Ok(done)
}

/// Copies every extended attribute of `from` that this process can list to `to`
/// (security.*, user.*, system.* ACLs; trusted.* only with CAP_SYS_ADMIN, which lists them).
/// Returns the names that `to` refused (no CAP_SETFCAP for `security.capability`, a
/// filesystem without that namespace, no room): the copy goes on without them, and the
/// caller reports them. A filesystem without xattrs has none to copy.
pub fn copy_xattrs(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> io::Result<Vec<CString>> {
    let mut names = vec![0u8; 4096];
    let len = loop {
        match f::flistxattr(from, &mut names) {
            Ok(n) => break n,
            Err(e) if e.raw_os_error() == Some(libc::ERANGE) && names.len() < 1 << 20 => {
                names.resize(names.len() * 4, 0);
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP)) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        }
    };
    let mut refused = Vec::new();
    let mut value = vec![0u8; 4096];
    for name in names[..len].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = CString::new(name).expect("split at NUL");
        let n = loop {
            match f::fgetxattr(from, &name, &mut value) {
                Ok(n) => break Some(n),
                Err(e) if e.raw_os_error() == Some(libc::ERANGE) && value.len() < 1 << 20 => {
                    value.resize(value.len() * 4, 0);
                }
                // Removed since it was listed: nothing to carry.
                Err(e) if e.raw_os_error() == Some(libc::ENODATA) => break None,
                Err(e) => return Err(e),
            }
        };
        let Some(n) = n else { continue };
        match f::fsetxattr(to, &name, &value[..n]) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(
                        libc::EPERM
                            | libc::EACCES
                            | libc::EOPNOTSUPP
                            | libc::ENOSPC
                            | libc::E2BIG
                            | libc::EINVAL
                    )
                ) =>
            {
                refused.push(name)
            }
            Err(e) => return Err(e),
        }
    }
    Ok(refused)
}

/// The inode flags a fresh inode is given: no dump, no access-time updates.
const XFLAGS_CARRIED: u32 = FS_XFLAG_NOATIME | FS_XFLAG_NODUMP;
const FS_XFLAG_PREALLOC: u32 = 0x2;
const FS_XFLAG_IMMUTABLE: u32 = 0x8;
const FS_XFLAG_APPEND: u32 = 0x10;
const FS_XFLAG_NOATIME: u32 = 0x40;
const FS_XFLAG_NODUMP: u32 = 0x80;
const FS_XFLAG_HASATTR: u32 = 0x8000_0000;
/// Neither carried nor lost: the pins (set by the engine), and what only describes the
/// inode (it has preallocated extents, it has xattrs).
const XFLAGS_NOT_OURS: u32 =
    FS_XFLAG_IMMUTABLE | FS_XFLAG_APPEND | FS_XFLAG_PREALLOC | FS_XFLAG_HASATTR;

fn fsxattr(fd: BorrowedFd<'_>) -> io::Result<FsXattr> {
    f::fsgetxattr(InodeFd::check(fd)?)
}

/// What of its inode flags `carry_inode_flags` could not give: the FS_XFLAG_* bits, and
/// whether the project id was lost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlagsLost {
    pub xflags: u32,
    pub project: bool,
}

/// Gives the regular file `to` the no-dump and no-atime flags and the project id of `from`
/// (FS_IOC_FSGETXATTR / FSSETXATTR). Every other flag of `from` but the pins (immutable,
/// append-only: the engine's) is returned as lost, and so are these where `to`'s filesystem
/// refuses them (tmpfs has no project ids). One ioctl where `from` has nothing to carry.
pub fn carry_inode_flags(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> io::Result<FlagsLost> {
    let old = match fsxattr(from) {
        Ok(old) => old,
        // No inode flags on this filesystem: none to carry.
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOTTY | libc::EOPNOTSUPP | libc::EINVAL)
            ) =>
        {
            return Ok(FlagsLost::default())
        }
        Err(e) => return Err(e),
    };
    let mut lost = FlagsLost {
        xflags: old.xflags & !(XFLAGS_CARRIED | XFLAGS_NOT_OURS),
        project: false,
    };
    let wanted = old.xflags & XFLAGS_CARRIED;
    if wanted == 0 && old.projid == 0 {
        return Ok(lost);
    }
    let set = |attr: &FsXattr| InodeFd::check(to).and_then(|to| f::fssetxattr(to, attr));
    let Ok(mut new) = fsxattr(to) else {
        lost.xflags |= wanted;
        lost.project = old.projid != 0;
        return Ok(lost);
    };
    let base = new;
    new.xflags |= wanted;
    new.projid = old.projid;
    if set(&new).is_ok() {
        return Ok(lost);
    }
    // A filesystem with flags but no project ids (tmpfs): the flags alone.
    lost.project = old.projid != base.projid;
    new.projid = base.projid;
    if set(&new).is_err() {
        lost.xflags |= wanted;
    }
    Ok(lost)
}

/// What a read lease says of the writers of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriterCheck {
    /// Nobody holds it open for writing (nor mapped shared and writable).
    NoWriter,
    /// Someone does: the lease was refused (EAGAIN).
    Writer,
    /// The lease could not be taken, with this errno: EACCES (not the file's owner, and no
    /// CAP_LEASE), EINVAL (a filesystem without leases, or leases disabled), ENOLCK, others.
    /// Never to be read as "no writer".
    CannotTell(i32),
}

impl WriterCheck {
    /// Whether a writer may hold the file: `Writer` or `CannotTell`.
    pub fn may_have_writer(self) -> bool {
        self != WriterCheck::NoWriter
    }
}

/// Whether anyone holds `fd`'s file open for writing (a writable descriptor, or a shared
/// writable mapping, which keeps one): a read lease (F_SETLEASE F_RDLCK, released at once)
/// is refused with EAGAIN exactly then. `fd` must be open read-only; the lease needs the
/// caller to own the file or hold CAP_LEASE (else `CannotTell(EACCES)`).
pub fn writer_check(fd: BorrowedFd<'_>) -> WriterCheck {
    leased(fd, true, None)
}

/// `writer_check` that closes `fd` where nobody writes: the close gives the lease back (as
/// `F_UNLCK` would, one system call fewer a file). Otherwise the answer, and `fd` back. Only
/// for a descriptor of nc-harden's own that nothing else shares. `overlay`: whether `fd` is
/// on overlayfs, where the caller knows it (a walk of one filesystem asks once), else asked.
pub fn writer_check_then_close(
    fd: OwnedFd,
    overlay: Option<bool>,
) -> Result<(), (WriterCheck, OwnedFd)> {
    match leased(fd.as_fd(), false, overlay) {
        WriterCheck::NoWriter => Ok(()), // `fd` closed here, the lease with it
        other => Err((other, fd)),
    }
}

/// Leases on overlayfs cannot tell: a shared writable mapping holds the upper layer's file,
/// not the overlay's, and once its descriptor is closed the overlay inode has no writer a
/// lease sees (the lease is granted, and the mapping still writes the file). `EOPNOTSUPP`
/// then, never "no writer" (one fstatfs before every lease).
fn lease_tells(fd: BorrowedFd<'_>, overlay: Option<bool>) -> Result<(), i32> {
    match overlay.map_or_else(|| crate::sys::is_overlayfs(fd), Ok) {
        Ok(false) => Ok(()),
        Ok(true) => Err(libc::EOPNOTSUPP),
        Err(e) => Err(e.raw_os_error().unwrap_or(libc::EIO)),
    }
}

fn leased(fd: BorrowedFd<'_>, release: bool, overlay: Option<bool>) -> WriterCheck {
    if let Err(errno) = lease_tells(fd, overlay) {
        return WriterCheck::CannotTell(errno);
    }
    // A writer seen is asked again a few times over some 50 ms: a process that forked while
    // it held a descriptor (its child has a copy until it execs) lets go by itself.
    let mut wait = std::time::Duration::from_micros(500);
    for _ in 0..7 {
        match f::set_lease(fd, Lease::Read) {
            Ok(()) if !release => return WriterCheck::NoWriter,
            Ok(()) => {
                return match f::set_lease(fd, Lease::Release) {
                    Ok(_) => WriterCheck::NoWriter,
                    Err(e) => WriterCheck::CannotTell(e.raw_os_error().unwrap_or(libc::EIO)),
                };
            }
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                std::thread::sleep(wait);
                wait *= 2;
            }
            Err(e) => return WriterCheck::CannotTell(e.raw_os_error().unwrap_or(libc::EIO)),
        }
    }
    WriterCheck::Writer
}

/// One read lease, taken and given back at once: `true` when nobody holds `fd`'s file open
/// or mapped for writing now; `false` when somebody does or the lease cannot tell (no
/// waiting: the caller then renews, and asks `writer_check` after the pin).
pub fn no_writer_now(fd: BorrowedFd<'_>) -> bool {
    lease_tells(fd, None).is_ok()
        && f::set_lease(fd, Lease::Read).is_ok()
        && f::set_lease(fd, Lease::Release).is_ok()
}

/// `flock(2)`: `exclusive` for the calls that change, shared for verify; asked again with a
/// growing pause (200 µs to 20 ms) for at most `wait`, then EAGAIN.
pub fn lock(fd: BorrowedFd<'_>, exclusive: bool, wait: std::time::Duration) -> io::Result<()> {
    let start = std::time::Instant::now();
    let mut pause = std::time::Duration::from_micros(200);
    loop {
        match f::flock_nonblocking(fd, exclusive) {
            Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) && start.elapsed() < wait => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(20));
            }
            other => return other.map(drop),
        }
    }
}

/// Makes the filesystem of the context `fs` read-only (its superblock: every mount of it).
pub fn make_read_only(fs: BorrowedFd<'_>) -> io::Result<()> {
    f::fsconfig_set_flag(fs, c"ro")?;
    f::fsconfig_reconfigure(fs)
}

/// How much a detached tmpfs may hold: bytes (tmpfs rounds them up to pages) and inodes
/// (its root is one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TmpfsLimits {
    pub bytes: u64,
    pub inodes: u64,
}

/// A new tmpfs, detached: created with fsopen/fsconfig/fsmount and attached nowhere, so no
/// path reaches it until it is moved over a directory. Linux 5.2+. Mode 0700, source
/// `nc-harden`, and `size=`/`nr_inodes=` from `limits`, so that what is copied into it cannot
/// grow without bound. Returns the filesystem context (to make it read-only once filled) and
/// the mount (nosuid, nodev).
pub fn detached_tmpfs(limits: TmpfsLimits) -> io::Result<(OwnedFd, OwnedFd)> {
    let fs = f::fsopen(c"tmpfs")?;
    let size = CString::new(limits.bytes.to_string()).expect("digits");
    let inodes = CString::new(limits.inodes.to_string()).expect("digits");
    for (key, value) in [
        (c"mode", c"0700"),
        (c"source", c"nc-harden"),
        (c"size", size.as_c_str()),
        (c"nr_inodes", inodes.as_c_str()),
    ] {
        f::fsconfig_set_string(fs.as_fd(), key, value)?;
    }
    f::fsconfig_create(fs.as_fd())?;
    let mount = f::fsmount_nosuid_nodev(fs.as_fd())?;
    Ok((fs, mount))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::fs::{FileExt, MetadataExt};

    #[test]
    fn a_lease_sees_a_writer() {
        let path = std::env::temp_dir().join(format!("nc-harden-lease-{}", std::process::id()));
        std::fs::write(&path, b"x").unwrap();
        let reader = std::fs::File::open(&path).unwrap();
        assert_eq!(writer_check(reader.as_fd()), WriterCheck::NoWriter);
        let writer = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        assert_eq!(writer_check(reader.as_fd()), WriterCheck::Writer);
        drop(writer);
        assert_eq!(writer_check(reader.as_fd()), WriterCheck::NoWriter);
        // A descriptor open for writing cannot take a read lease: never "no writer".
        let rw = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        assert!(writer_check(rw.as_fd()).may_have_writer());
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn copies_keep_holes_and_bytes() {
        let dir = std::env::temp_dir().join(format!("nc-harden-copy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (from, to) = (dir.join("from"), dir.join("to"));
        let file = std::fs::File::create(&from).unwrap();
        file.set_len(32 << 20).unwrap();
        file.write_all_at(&[7u8; 100_000], 8 << 20).unwrap();
        drop(file);
        let src = std::fs::File::open(&from).unwrap();
        let dst = std::fs::File::create(&to).unwrap();
        copy_bytes(src.as_fd(), dst.as_fd(), 32 << 20).unwrap();
        assert_eq!(std::fs::read(&from).unwrap(), std::fs::read(&to).unwrap());
        let meta = std::fs::metadata(&to).unwrap();
        assert_eq!(meta.len(), 32 << 20);
        assert!(
            meta.blocks() * 512 <= 1 << 20,
            "{} bytes on disk",
            meta.blocks() * 512
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
