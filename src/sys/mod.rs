//! Thin, typed wrappers over the raw syscalls: the only module (with the C ABI) that holds
//! `unsafe`. Every function returns `io::Result`, owns what it opens (`OwnedFd`) and retries
//! EINTR; nothing above this module ever sees a raw `-1`.

mod dirents;
pub mod fdio;
pub mod files;
pub mod mount;
pub mod shields;
pub mod state;

pub use dirents::DirEntries;

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

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

impl Base<'_> {
    fn raw(self) -> RawFd {
        match self {
            Base::Cwd => libc::AT_FDCWD,
            Base::Dir(fd) => fd.as_raw_fd(),
        }
    }
}

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

fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: `fd` was just returned by a successful open call and is owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// `struct open_how` of openat2(2), first version (libc's is non-exhaustive).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// `openat2(2)` with `RESOLVE_*` flags; `ENOSYS` where the kernel predates it.
pub fn openat2(base: Base<'_>, path: &CStr, flags: i32, resolve: u64) -> io::Result<OwnedFd> {
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve,
    };
    let fd = retry(|| {
        // SAFETY: `path` is NUL-terminated, `how` is a valid `open_how` of the size passed.
        unsafe {
            libc::syscall(
                libc::SYS_openat2,
                base.raw(),
                path.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        }
    })?;
    Ok(owned(fd as RawFd))
}

/// `openat(2)`; `O_CLOEXEC` is always added.
pub fn openat(base: Base<'_>, path: &CStr, flags: i32) -> io::Result<OwnedFd> {
    // SAFETY: `path` is NUL-terminated; no mode is needed without O_CREAT.
    let fd = retry(|| unsafe { libc::openat(base.raw(), path.as_ptr(), flags | libc::O_CLOEXEC) })?;
    Ok(owned(fd))
}

fn meta_of(st: &libc::stat) -> Meta {
    Meta {
        kind: FileKind::from_mode(st.st_mode),
        mode: st.st_mode & 0o7777,
        uid: st.st_uid,
        gid: st.st_gid,
        #[allow(clippy::unnecessary_cast)] // u32 on some targets
        nlink: st.st_nlink as u64,
        dev: st.st_dev,
        ino: st.st_ino,
        size: st.st_size as u64,
        changed: st.st_ctime as i128 * 1_000_000_000 + st.st_ctime_nsec as i128,
        modified: (st.st_mtime, st.st_mtime_nsec),
        accessed: (st.st_atime, st.st_atime_nsec),
        mount: None,
    }
}

fn meta_of_statx(stx: &libc::statx) -> Meta {
    let mount = (stx.stx_mask & libc::STATX_MNT_ID != 0).then_some(Mount {
        id: stx.stx_mnt_id,
        is_root: stx.stx_attributes_mask & libc::STATX_ATTR_MOUNT_ROOT as u64 != 0
            && stx.stx_attributes & libc::STATX_ATTR_MOUNT_ROOT as u64 != 0,
    });
    Meta {
        kind: FileKind::from_mode(u32::from(stx.stx_mode)),
        mode: u32::from(stx.stx_mode) & 0o7777,
        uid: stx.stx_uid,
        gid: stx.stx_gid,
        nlink: u64::from(stx.stx_nlink),
        dev: libc::makedev(stx.stx_dev_major, stx.stx_dev_minor),
        ino: stx.stx_ino,
        size: stx.stx_size,
        changed: stx.stx_ctime.tv_sec as i128 * 1_000_000_000 + stx.stx_ctime.tv_nsec as i128,
        modified: (stx.stx_mtime.tv_sec, i64::from(stx.stx_mtime.tv_nsec)),
        accessed: (stx.stx_atime.tv_sec, i64::from(stx.stx_atime.tv_nsec)),
        mount,
    }
}

/// `fstat(2)`.
pub fn fstat(fd: BorrowedFd<'_>) -> io::Result<Meta> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is a valid out-pointer for one `struct stat`.
    retry(|| unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: fstat succeeded, so it filled `st`.
    Ok(meta_of(unsafe { &st.assume_init() }))
}

/// Describes the entry `name` of `dir` itself, never what it points to, and (where statx
/// answers, Linux 5.8+) the mount it is on: one syscall, so that an entry with a file or a
/// directory mounted over it is seen as the mount point it is. `fstatat(2)` where statx is
/// missing or filtered, and then `mount` is `None`.
pub fn lstatat(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<Meta> {
    // Not zeroed first (a memset of 256 bytes an entry): on success the kernel copies out a
    // whole `struct statx` (cp_statx), every field and spare set.
    let mut stx = std::mem::MaybeUninit::<libc::statx>::uninit();
    // SAFETY: `name` is NUL-terminated and `stx` a valid out-pointer.
    let r = retry(|| unsafe {
        libc::statx(
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW | libc::AT_STATX_SYNC_AS_STAT,
            libc::STATX_BASIC_STATS | libc::STATX_MNT_ID,
            stx.as_mut_ptr(),
        )
    });
    match r {
        // SAFETY: statx succeeded, so the kernel wrote the whole struct.
        Ok(_) => return Ok(meta_of_statx(unsafe { &stx.assume_init() })),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {}
        Err(e) => return Err(e),
    }
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `name` is NUL-terminated and `st` a valid out-pointer.
    retry(|| unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    // SAFETY: fstatat succeeded, so it filled `st`.
    Ok(meta_of(unsafe { &st.assume_init() }))
}

/// `openat(2)` with `O_CREAT | O_EXCL | O_NOFOLLOW` and `mode`: a new file, never an old one.
pub fn create_exclusive(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> io::Result<OwnedFd> {
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: `name` is NUL-terminated; the mode is passed as the variadic argument.
    let fd = retry(|| unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags, mode) })?;
    Ok(owned(fd))
}

/// `mkdirat(2)`.
pub fn mkdirat(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: `name` is NUL-terminated.
    retry(|| unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), mode) })?;
    Ok(())
}

/// `renameat(2)` within one directory.
pub fn renameat(dir: BorrowedFd<'_>, from: &CStr, to: &CStr) -> io::Result<()> {
    let raw = dir.as_raw_fd();
    // SAFETY: both names are NUL-terminated.
    retry(|| unsafe { libc::renameat(raw, from.as_ptr(), raw, to.as_ptr()) })?;
    Ok(())
}

/// `unlinkat(2)` of a file (not a directory).
pub fn unlinkat(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    // SAFETY: `name` is NUL-terminated.
    retry(|| unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) })?;
    Ok(())
}

/// The path the kernel gives for what `fd` names (`/proc/self/fd/N`), relative to this
/// process's root, as /proc/self/mountinfo writes mount points.
pub fn fd_path(fd: BorrowedFd<'_>) -> io::Result<Vec<u8>> {
    let link = std::ffi::CString::new(format!("/proc/thread-self/fd/{}", fd.as_raw_fd()))
        .expect("no NUL in a number");
    let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
    let n = readlinkat_raw(libc::AT_FDCWD, &link, &mut buf)?;
    if n >= buf.len() {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    buf.truncate(n);
    Ok(buf)
}

fn readlinkat_raw(dir: RawFd, name: &CStr, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is writable for `buf.len()` bytes; `name` is NUL-terminated.
    let n = retry(|| unsafe {
        libc::readlinkat(dir, name.as_ptr(), buf.as_mut_ptr().cast(), buf.len())
    })?;
    Ok(n as usize)
}

/// `readlinkat(2)` into `buf`; returns the target's length. A result of `buf.len()` means the
/// target may have been cut: callers size `buf` one byte past the longest target they accept.
pub fn readlinkat(dir: BorrowedFd<'_>, name: &CStr, buf: &mut [u8]) -> io::Result<usize> {
    readlinkat_raw(dir.as_raw_fd(), name, buf)
}

/// `getdents64(2)` into `buf`; returns the number of bytes filled, 0 at the end.
pub fn getdents(dir: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is writable for `buf.len()` bytes; the kernel writes whole records only.
    let n = retry(|| unsafe {
        libc::syscall(
            libc::SYS_getdents64,
            dir.as_raw_fd(),
            buf.as_mut_ptr(),
            buf.len(),
        )
    })?;
    Ok(n as usize)
}

/// `lseek(fd, 0, SEEK_SET)`: rewinds a directory stream for a second pass.
pub fn rewind(dir: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: plain syscall on a borrowed fd.
    retry(|| unsafe { libc::lseek(dir.as_raw_fd(), 0, libc::SEEK_SET) })?;
    Ok(())
}

/// The payload of FS_IOC_GETFLAGS/SETFLAGS. The kernel reads and writes one 4-byte int at
/// its start, whatever the `long` in the ioctl numbers says; the zeroed tail, as wide as that
/// `long`, only keeps tools that trust the numbers (valgrind) from reading undefined bytes.
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

/// `FS_IOC_GETFLAGS`. Callers check the file type first: the ioctl numbers are shared with
/// device drivers.
pub fn get_flags(fd: BorrowedFd<'_>) -> io::Result<u32> {
    let mut payload = FlagsPayload::new(0);
    // SAFETY: the kernel writes one int at the start of `payload`.
    retry(|| unsafe { libc::ioctl(fd.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut payload) })?;
    Ok(payload.flags as u32)
}

/// `FS_IOC_SETFLAGS`.
pub fn set_flags(fd: BorrowedFd<'_>, flags: u32) -> io::Result<()> {
    let payload = FlagsPayload::new(flags);
    // SAFETY: the kernel reads one int from the start of `payload`.
    retry(|| unsafe { libc::ioctl(fd.as_raw_fd(), libc::FS_IOC_SETFLAGS, &payload) })?;
    Ok(())
}

/// `FS_IOC_GETVERSION`: the inode's generation, which tells a reused inode number from the
/// inode once recorded (ext4, XFS, btrfs). `None` where the filesystem keeps none (ENOTTY,
/// EOPNOTSUPP). Only regular files and directories are asked: the number is shared with
/// device drivers, so the type is checked here first.
pub fn generation(fd: BorrowedFd<'_>) -> io::Result<Option<u32>> {
    if !matches!(fstat(fd)?.kind, FileKind::Regular | FileKind::Directory) {
        return Err(io::Error::from_raw_os_error(libc::ENOTTY));
    }
    let mut payload = FlagsPayload::new(0);
    // SAFETY: the kernel writes one int at the start of `payload` (a long's room).
    match retry(|| unsafe { libc::ioctl(fd.as_raw_fd(), FS_IOC_GETVERSION, &mut payload) }) {
        Ok(_) => Ok(Some(payload.flags as u32)),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOTTY | libc::EOPNOTSUPP | libc::EINVAL)
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// `_IOR('v', 1, long)`.
const FS_IOC_GETVERSION: libc::Ioctl = 0x8008_7601;

/// Waits for every change of the directory `dir` already under way: takes its inode lock
/// exclusively, by an fsetxattr that can only fail (XATTR_REPLACE of an attribute nobody
/// sets) and so changes nothing. The kernel takes the lock before it looks at the name or
/// the permission; a filesystem without xattrs only makes the barrier weaker, not wrong.
pub fn lock_barrier(dir: BorrowedFd<'_>) {
    // SAFETY: a NUL-terminated name and an empty value.
    let _ = unsafe {
        libc::fsetxattr(
            dir.as_raw_fd(),
            c"trusted.nc-harden.barrier".as_ptr(),
            std::ptr::null(),
            0,
            libc::XATTR_REPLACE,
        )
    };
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
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut header = Header {
        version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: a version-3 header and room for its two data blocks.
    let r = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut header as *mut Header,
            data.as_mut_ptr(),
        )
    };
    r == 0
        && data
            .get((cap / 32) as usize)
            .is_some_and(|d| d.effective & (1 << (cap % 32)) != 0)
}
