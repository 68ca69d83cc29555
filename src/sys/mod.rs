//! Thin, typed wrappers over the syscalls: one function per syscall, and the only module
//! (with the C ABI) that holds `unsafe`. rustix makes the calls it has (openat2, statx,
//! the mount API, the inode-flag ioctls, getdents); a wrapper of our own over libc makes
//! the rest (file_getattr/file_setattr, FS_IOC_FSGETXATTR, FS_IOC_GETVERSION, F_SETLEASE,
//! mount_setattr, statmount, capget). Every function returns `io::Result`, owns what it
//! opens (`OwnedFd`) and retries EINTR; nothing here retries anything else or waits, and
//! only two things fall back from one call to another (`lstatat`: statx, else fstatat;
//! `procfs`: openat2, else a checked walk): the rest is `crate::fileops`, `pin` and
//! `engine`. What this module reads of /proc it reads through `procfs`, which checks that
//! it is procfs.

mod dirents;
pub mod fdio;
pub mod files;
pub mod mount;
pub mod procfs;
pub mod shields;
pub mod state;

pub use dirents::DirEntries;
pub use rustix::fs::{OFlags, ResolveFlags};

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

use rustix::fs::{AtFlags, Mode, StatxFlags};

use crate::inode::{FileKind, Meta, Mount};

/// `FS_IMMUTABLE_FL` of `FS_IOC_GETFLAGS`/`FS_IOC_SETFLAGS`.
pub const FS_IMMUTABLE_FL: u32 = 0x0000_0010;
/// `FS_XFLAG_IMMUTABLE` of `struct file_attr` (`file_getattr(2)`/`file_setattr(2)`).
pub const FS_XFLAG_IMMUTABLE: u64 = 0x0000_0008;

/// Linux 6.17 gave `file_getattr`/`file_setattr` the same number on every architecture of
/// the generic table; libc does not name them yet.
const SYS_FILE_GETATTR: libc::c_long = 468;
const SYS_FILE_SETATTR: libc::c_long = 469;

/// Where a path given to an `*at` call is resolved from.
#[derive(Clone, Copy)]
pub enum Base<'a> {
    Cwd,
    Dir(BorrowedFd<'a>),
}

impl<'a> Base<'a> {
    fn fd(self) -> BorrowedFd<'a> {
        match self {
            Base::Cwd => rustix::fs::CWD,
            Base::Dir(fd) => fd,
        }
    }
}

/// A libc call that answers -1 and errno, retried on EINTR.
pub(crate) fn retry<T: PartialEq + From<i8>>(mut call: impl FnMut() -> T) -> io::Result<T> {
    loop {
        let r = call();
        if r != T::from(-1) {
            return Ok(r);
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
}

/// A rustix call, retried on EINTR.
pub(crate) fn rx<T>(call: impl FnMut() -> rustix::io::Result<T>) -> io::Result<T> {
    rustix::io::retry_on_intr(call).map_err(io::Error::from)
}

/// The one place open flags are completed: every descriptor is close-on-exec, and no open
/// makes a terminal the controlling one. No call site can drop either. (An `O_PATH` open
/// opens no file, so never a terminal, and openat2 refuses `O_NOCTTY` beside it.)
fn completed(flags: OFlags) -> OFlags {
    if flags.contains(OFlags::PATH) {
        flags | OFlags::CLOEXEC
    } else {
        flags | OFlags::CLOEXEC | OFlags::NOCTTY
    }
}

/// `openat2(2)` with `RESOLVE_*` flags; `ENOSYS` where the kernel predates it. `O_CLOEXEC`
/// and `O_NOCTTY` are always added.
pub fn openat2(
    base: Base<'_>,
    path: &CStr,
    flags: OFlags,
    resolve: ResolveFlags,
) -> io::Result<OwnedFd> {
    rx(|| rustix::fs::openat2(base.fd(), path, completed(flags), Mode::empty(), resolve))
}

/// `openat(2)`; `O_NOFOLLOW`, `O_CLOEXEC` and `O_NOCTTY` are always added (no path this
/// crate opens ends in a symlink it means to follow: `/`, `..` and `.` are none).
pub fn openat(base: Base<'_>, path: &CStr, flags: OFlags) -> io::Result<OwnedFd> {
    let flags = completed(flags | OFlags::NOFOLLOW);
    rx(|| rustix::fs::openat(base.fd(), path, flags, Mode::empty()))
}

/// `openat(2)` with `O_CREAT | O_NOFOLLOW` and `mode` (plus `flags`, such as `O_EXCL`,
/// `O_NONBLOCK`, the access mode); `O_CLOEXEC` and `O_NOCTTY` always.
pub fn create(dir: BorrowedFd<'_>, name: &CStr, flags: OFlags, mode: u32) -> io::Result<OwnedFd> {
    let flags = completed(flags | OFlags::CREATE | OFlags::NOFOLLOW);
    rx(|| rustix::fs::openat(dir, name, flags, Mode::from_raw_mode(mode)))
}

/// `openat(2)` with `O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW` and `mode`: a new file,
/// never an old one.
pub fn create_exclusive(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> io::Result<OwnedFd> {
    create(dir, name, OFlags::WRONLY | OFlags::EXCL, mode)
}

fn meta_of(st: &rustix::fs::Stat) -> Meta {
    #[allow(clippy::unnecessary_cast)] // the field types differ between architectures
    Meta {
        kind: FileKind::from_mode(st.st_mode as u32),
        mode: st.st_mode as u32 & 0o7777,
        uid: st.st_uid,
        gid: st.st_gid,
        nlink: st.st_nlink as u64,
        dev: st.st_dev as u64,
        ino: st.st_ino as u64,
        size: st.st_size as u64,
        changed: st.st_ctime as i128 * 1_000_000_000 + st.st_ctime_nsec as i128,
        modified: (st.st_mtime as i64, st.st_mtime_nsec as i64),
        accessed: (st.st_atime as i64, st.st_atime_nsec as i64),
        mount: None,
        born: 0,
    }
}

fn meta_of_statx(stx: &rustix::fs::Statx) -> Meta {
    use rustix::fs::StatxAttributes as A;
    let mount = (stx.stx_mask & StatxFlags::MNT_ID.bits() != 0).then_some(Mount {
        id: stx.stx_mnt_id,
        is_root: stx.stx_attributes_mask.contains(A::MOUNT_ROOT)
            && stx.stx_attributes.contains(A::MOUNT_ROOT),
    });
    Meta {
        kind: FileKind::from_mode(u32::from(stx.stx_mode)),
        mode: u32::from(stx.stx_mode) & 0o7777,
        uid: stx.stx_uid,
        gid: stx.stx_gid,
        nlink: u64::from(stx.stx_nlink),
        dev: rustix::fs::makedev(stx.stx_dev_major, stx.stx_dev_minor),
        ino: stx.stx_ino,
        size: stx.stx_size,
        changed: stx.stx_ctime.tv_sec as i128 * 1_000_000_000 + stx.stx_ctime.tv_nsec as i128,
        modified: (stx.stx_mtime.tv_sec, i64::from(stx.stx_mtime.tv_nsec)),
        accessed: (stx.stx_atime.tv_sec, i64::from(stx.stx_atime.tv_nsec)),
        mount,
        born: if stx.stx_mask & StatxFlags::BTIME.bits() != 0 {
            ((stx.stx_btime.tv_sec as u64) << 30) | u64::from(stx.stx_btime.tv_nsec & 0x3fff_ffff)
        } else {
            0
        },
    }
}

/// `fstat(2)`.
pub fn fstat(fd: BorrowedFd<'_>) -> io::Result<Meta> {
    rx(|| rustix::fs::fstat(fd)).map(|st| meta_of(&st))
}

/// Whether `fd` is on overlayfs (`fstatfs`), whose inodes are copied up to the upper layer,
/// with a birth time of the upper layer's, by their first change.
pub fn is_overlayfs(fd: BorrowedFd<'_>) -> io::Result<bool> {
    const OVERLAYFS_SUPER_MAGIC: i64 = 0x794c_7630;
    let st = rx(|| rustix::fs::fstatfs(fd))?;
    #[allow(clippy::unnecessary_cast)] // the field's type differs between architectures
    Ok(st.f_type as i64 == OVERLAYFS_SUPER_MAGIC)
}

/// What `fstat` says, and the birth time (`Meta::born`): `statx(2)` of the descriptor
/// (`AT_EMPTY_PATH`), one call as fstat is; `fstat` where statx is missing or filtered
/// (ENOSYS, EPERM: `born` 0). `mount` is `None`, as fstat has it.
pub fn fstat_born(fd: BorrowedFd<'_>) -> io::Result<Meta> {
    let flags = AtFlags::EMPTY_PATH | AtFlags::STATX_SYNC_AS_STAT;
    let mask = StatxFlags::BASIC_STATS | StatxFlags::BTIME;
    match rx(|| rustix::fs::statx(fd, c"", flags, mask)) {
        Ok(stx) => Ok(Meta {
            mount: None,
            ..meta_of_statx(&stx)
        }),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => fstat(fd),
        Err(e) => Err(e),
    }
}

/// `statx(2)` of the entry `name` of `dir` itself, never what it points to, and the mount
/// it is on (Linux 5.8+): one syscall, so that an entry with a file or a directory mounted
/// over it is seen as the mount point it is.
pub fn statx_nofollow(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<Meta> {
    let flags = AtFlags::SYMLINK_NOFOLLOW | AtFlags::STATX_SYNC_AS_STAT;
    let mask = StatxFlags::BASIC_STATS | StatxFlags::MNT_ID | StatxFlags::BTIME;
    rx(|| rustix::fs::statx(dir, name, flags, mask)).map(|stx| meta_of_statx(&stx))
}

/// `fstatat(2)` with `AT_SYMLINK_NOFOLLOW`.
pub fn fstatat_nofollow(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<Meta> {
    rx(|| rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)).map(|st| meta_of(&st))
}

/// Describes the entry `name` of `dir` itself: `statx_nofollow`, and `fstatat_nofollow`
/// (then `mount` is `None`) where statx is missing or filtered (ENOSYS, EPERM).
pub fn lstatat(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<Meta> {
    match statx_nofollow(dir, name) {
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
            fstatat_nofollow(dir, name)
        }
        other => other,
    }
}

/// `mkdirat(2)`.
pub fn mkdirat(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> io::Result<()> {
    rx(|| rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(mode)))
}

/// `renameat(2)` within one directory.
pub fn renameat(dir: BorrowedFd<'_>, from: &CStr, to: &CStr) -> io::Result<()> {
    rx(|| rustix::fs::renameat(dir, from, dir, to))
}

/// `unlinkat(2)` of a file (not a directory).
pub fn unlinkat(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    rx(|| rustix::fs::unlinkat(dir, name, AtFlags::empty()))
}

/// `readlinkat(2)` into `buf`; returns the target's length. A result of `buf.len()` means the
/// target may have been cut: callers size `buf` one byte past the longest target they accept.
pub fn readlinkat(dir: BorrowedFd<'_>, name: &CStr, buf: &mut [u8]) -> io::Result<usize> {
    rx(|| rustix::fs::readlinkat_raw(dir, name, &mut *buf))
}

/// `getdents64(2)` into the spare capacity of `buf`, cleared first: afterwards `buf` holds
/// the records read, and is empty at the end of the directory. Nothing is written before
/// the kernel writes (a zeroed buffer would fault in every page of it, some 3 us a page on
/// a virtual machine, for a directory whose records take a few hundred bytes).
pub fn getdents(dir: BorrowedFd<'_>, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.clear();
    let spare = buf.spare_capacity_mut();
    let (ptr, cap) = (spare.as_mut_ptr(), spare.len());
    // SAFETY: `ptr` is writable for `cap` bytes; the kernel writes whole records only.
    let n = retry(|| unsafe { libc::syscall(libc::SYS_getdents64, dir.as_raw_fd(), ptr, cap) })?;
    // SAFETY: the kernel initialised the first `n` bytes (at most `cap`) of the capacity.
    unsafe { buf.set_len((n as usize).min(cap)) };
    Ok(())
}

/// `lseek(fd, 0, SEEK_SET)`: rewinds a directory stream for a second pass.
pub fn rewind(dir: BorrowedFd<'_>) -> io::Result<()> {
    rx(|| rustix::fs::seek(dir, rustix::fs::SeekFrom::Start(0))).map(drop)
}

/// A descriptor that fstat has shown to be a regular file or a directory: the only kind the
/// inode ioctls (`FS_IOC_GETFLAGS`, `FS_IOC_SETFLAGS`, `FS_IOC_GETVERSION`) are sent to, since
/// their numbers are shared with device drivers. Made only by `examine` or `check`.
#[derive(Clone, Copy)]
pub struct InodeFd<'fd> {
    fd: BorrowedFd<'fd>,
}

impl<'fd> InodeFd<'fd> {
    /// fstat's `fd`: its description, and the checked descriptor where it is a regular file
    /// or a directory.
    pub fn examine(fd: BorrowedFd<'fd>) -> io::Result<(Meta, Option<Self>)> {
        let meta = fstat_born(fd)?;
        let checked = matches!(meta.kind, FileKind::Regular | FileKind::Directory);
        Ok((meta, checked.then_some(InodeFd { fd })))
    }

    /// The checked descriptor from an fstat of `fd` already made (`meta` must be what
    /// `fstat(fd)` answered): `None` for a type without inode flags. Saves a second fstat
    /// where the caller needed the description first.
    pub fn examined(fd: BorrowedFd<'fd>, meta: &Meta) -> Option<Self> {
        matches!(meta.kind, FileKind::Regular | FileKind::Directory).then_some(InodeFd { fd })
    }

    /// The checked descriptor; `ENOTTY` (what the ioctl answers a file without inode flags)
    /// for any other type.
    pub fn check(fd: BorrowedFd<'fd>) -> io::Result<Self> {
        Self::examine(fd)?
            .1
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOTTY))
    }

    /// The descriptor, for the calls that take any.
    pub fn fd(self) -> BorrowedFd<'fd> {
        self.fd
    }

    fn raw(self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// `FS_IOC_GETFLAGS`. Our own wrapper rather than rustix's `ioctl_getflags`, which passes
    /// a 4-byte payload where the number says a long: see `FlagsPayload`.
    pub fn get_flags(self) -> io::Result<u32> {
        let mut payload = FlagsPayload::new(0);
        // SAFETY: the fd is a regular file or a directory (checked when `self` was made), for
        // which this number is the filesystem's; the kernel writes one int at the start of
        // `payload`, which has a long's room.
        retry(|| unsafe { libc::ioctl(self.raw(), libc::FS_IOC_GETFLAGS, &mut payload) })?;
        Ok(payload.flags as u32)
    }

    /// `FS_IOC_SETFLAGS` (our own wrapper, as for `get_flags`).
    pub fn set_flags(self, flags: u32) -> io::Result<()> {
        let payload = FlagsPayload::new(flags);
        // SAFETY: as for `get_flags`; the kernel reads one int from the start of `payload`.
        retry(|| unsafe { libc::ioctl(self.raw(), libc::FS_IOC_SETFLAGS, &payload) })?;
        Ok(())
    }

    /// `FS_IOC_GETVERSION`: the inode's generation, which tells a reused inode number from
    /// the inode once recorded (ext4, XFS, btrfs). `None` where the filesystem keeps none
    /// (ENOTTY, EOPNOTSUPP, EINVAL; tmpfs answers ENOTTY).
    pub fn generation(self) -> io::Result<Option<u32>> {
        // `_IOR('v', 1, long)`: the kernel writes one int, the long gives room to spare.
        let mut version: libc::c_long = 0;
        // SAFETY: the fd is a regular file or a directory (checked when `self` was made), for
        // which this number is the filesystem's; the kernel writes at most a long.
        match retry(|| unsafe { libc::ioctl(self.fd.as_raw_fd(), FS_IOC_GETVERSION, &mut version) })
        {
            Ok(_) => Ok(Some(version as u32)),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOTTY | libc::EOPNOTSUPP | libc::EINVAL | libc::ENOSYS)
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// The payload of FS_IOC_GETFLAGS/SETFLAGS. The kernel reads and writes one 4-byte int at
/// its start, whatever the `long` in the ioctl numbers says; the zeroed tail, as wide as that
/// `long`, keeps tools that trust the numbers (valgrind, which the memory suite runs) from
/// reading undefined bytes or seeing a write past the payload.
#[repr(C)]
struct FlagsPayload {
    flags: libc::c_int,
    _tail: [u8; std::mem::size_of::<libc::c_long>() - std::mem::size_of::<libc::c_int>()],
}

impl FlagsPayload {
    fn new(flags: u32) -> Self {
        FlagsPayload {
            flags: flags as libc::c_int,
            _tail: [0; std::mem::size_of::<libc::c_long>() - std::mem::size_of::<libc::c_int>()],
        }
    }
}

/// `_IOR('v', 1, long)`.
const FS_IOC_GETVERSION: libc::Ioctl = (0x8000_0000u32
    | ((std::mem::size_of::<libc::c_long>() as u32) << 16)
    | ((b'v' as u32) << 8)
    | 1) as libc::Ioctl;

/// `FS_IOC_GETFLAGS` of `fd`, its type checked first (`InodeFd::check`).
pub fn get_flags(fd: BorrowedFd<'_>) -> io::Result<u32> {
    InodeFd::check(fd)?.get_flags()
}

/// `FS_IOC_GETVERSION` of `fd`, its type checked first (`InodeFd::check`).
pub fn generation(fd: BorrowedFd<'_>) -> io::Result<Option<u32>> {
    InodeFd::check(fd)?.generation()
}

/// Waits for every change of the directory `dir` already under way: takes its inode lock
/// exclusively, by an fsetxattr that can only fail (XATTR_REPLACE of an attribute nobody
/// sets) and so changes nothing. The kernel takes the lock before it looks at the name or
/// the permission; a filesystem without xattrs only makes the barrier weaker, not wrong.
pub fn lock_barrier(dir: BorrowedFd<'_>) {
    let _ = rustix::fs::fsetxattr(
        dir,
        c"trusted.nc-harden.barrier",
        &[],
        rustix::fs::XattrFlags::REPLACE,
    );
}

/// `struct file_attr` of Linux 6.17 (`FILE_ATTR_SIZE_VER0` = 24 bytes).
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct FileAttr {
    pub xflags: u64,
    pub extsize: u32,
    pub nextents: u32,
    pub projid: u32,
    pub cowextsize: u32,
}

/// `file_getattr(2)` with `AT_SYMLINK_NOFOLLOW`: the attributes of the entry itself.
pub fn file_getattr(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<FileAttr> {
    let mut attr = FileAttr::default();
    // SAFETY: `attr` is writable for the size passed; `name` is NUL-terminated.
    retry(|| unsafe {
        libc::syscall(
            SYS_FILE_GETATTR,
            dir.as_raw_fd(),
            name.as_ptr(),
            &mut attr as *mut FileAttr,
            std::mem::size_of::<FileAttr>(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    Ok(attr)
}

/// `file_setattr(2)` with `AT_SYMLINK_NOFOLLOW`. Linux 6.17+, and only where the filesystem
/// keeps flags on symlink inodes (XFS); elsewhere `EOPNOTSUPP`, and `ENOSYS` before 6.17.
pub fn file_setattr(dir: BorrowedFd<'_>, name: &CStr, attr: &FileAttr) -> io::Result<()> {
    // SAFETY: `attr` is readable for the size passed; `name` is NUL-terminated.
    retry(|| unsafe {
        libc::syscall(
            SYS_FILE_SETATTR,
            dir.as_raw_fd(),
            name.as_ptr(),
            attr as *const FileAttr,
            std::mem::size_of::<FileAttr>(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    Ok(())
}

/// `CAP_LINUX_IMMUTABLE`, for `has_effective_capability`.
pub(crate) const CAP_LINUX_IMMUTABLE: u32 = 9;
/// `CAP_SYS_ADMIN`, for `has_effective_capability`.
pub(crate) const CAP_SYS_ADMIN: u32 = 21;

/// Whether the calling thread has `cap` in its effective set (capget(2)); false when the
/// kernel will not say.
pub fn has_effective_capability(cap: u32) -> bool {
    let wanted = rustix::thread::CapabilitySet::from_bits_retain(1 << cap);
    rustix::thread::capabilities(None).is_ok_and(|sets| sets.effective.contains(wanted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn the_inode_ioctls_refuse_a_device_before_asking() {
        // /dev/null is a character device: its driver, not a filesystem, would answer the
        // ioctl numbers. The check answers ENOTTY without sending them.
        let null = std::fs::File::open("/dev/null").unwrap();
        let (meta, checked) = InodeFd::examine(null.as_fd()).unwrap();
        assert_eq!(meta.kind, FileKind::CharDevice);
        assert!(checked.is_none());
        let err = get_flags(null.as_fd()).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOTTY));
        assert_eq!(
            generation(null.as_fd()).unwrap_err().raw_os_error(),
            Some(libc::ENOTTY)
        );
        let dir = std::fs::File::open("/").unwrap();
        assert!(InodeFd::check(dir.as_fd()).is_ok());
    }

    #[test]
    fn every_open_is_close_on_exec_and_without_a_controlling_terminal() {
        let fd = openat(Base::Cwd, c"/dev/null", OFlags::RDONLY).unwrap();
        let fd_flags = rustix::io::fcntl_getfd(&fd).unwrap();
        assert!(fd_flags.contains(rustix::io::FdFlags::CLOEXEC));
        assert!(completed(OFlags::RDONLY).contains(OFlags::NOCTTY | OFlags::CLOEXEC));
        assert!(!completed(OFlags::PATH).contains(OFlags::NOCTTY));
        // A symlink in the last component is never followed.
        let err = openat(Base::Cwd, c"/proc/self", OFlags::RDONLY);
        assert_eq!(err.unwrap_err().raw_os_error(), Some(libc::ELOOP));
    }
}
