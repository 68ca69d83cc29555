//! One wrapper per syscall for what makes a fresh inode carry what an old one had (bytes,
//! owner, mode, times, extended attributes, inode flags), the filesystem-context calls a
//! detached tmpfs is made with, and the locks and leases by which calls serialize and
//! writers are seen. The copies, fallbacks, retries and waits built of them are in
//! `crate::fileops`.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use rustix::fs::{Mode, SeekFrom, Timespec, Timestamps, XattrFlags};

use super::{retry, rx, OFlags};
use crate::inode::Meta;

/// `lseek(fd, offset, SEEK_DATA)`: where the next data at or after `offset` starts; ENXIO
/// when there is none.
pub fn seek_data(fd: BorrowedFd<'_>, offset: u64) -> io::Result<u64> {
    rx(|| rustix::fs::seek(fd, SeekFrom::Data(offset)))
}

/// `lseek(fd, offset, SEEK_HOLE)`: where the next hole at or after `offset` starts.
pub fn seek_hole(fd: BorrowedFd<'_>, offset: u64) -> io::Result<u64> {
    rx(|| rustix::fs::seek(fd, SeekFrom::Hole(offset)))
}

/// `pwrite(2)` of `buf` at `offset`; returns the bytes written.
pub fn pwrite(fd: BorrowedFd<'_>, buf: &[u8], offset: u64) -> io::Result<usize> {
    rx(|| rustix::io::pwrite(fd, buf, offset))
}

/// `pwrite(2)` of all of `buf` at `offset` (a short write is written on from where it
/// stopped).
pub fn pwrite_all(fd: BorrowedFd<'_>, buf: &[u8], offset: u64) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let n = pwrite(fd, &buf[done..], offset + done as u64)?;
        if n == 0 {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        done += n;
    }
    Ok(())
}

/// `pread(2)` into `buf` at `offset`; returns the bytes read, 0 at the end.
pub fn pread(fd: BorrowedFd<'_>, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    rx(|| rustix::io::pread(fd, &mut *buf, offset))
}

/// `ioctl(to, FICLONE, from)`: the whole file as a reflink (btrfs, XFS with reflink).
pub fn ficlone(to: BorrowedFd<'_>, from: BorrowedFd<'_>) -> io::Result<()> {
    rx(|| rustix::fs::ioctl_ficlone(to, from))
}

/// `copy_file_range(2)` of at most `len` bytes at `offset` of `from` to the same offset of
/// `to`; returns the bytes copied, 0 at the end of `from`.
pub fn copy_file_range(
    from: BorrowedFd<'_>,
    to: BorrowedFd<'_>,
    offset: u64,
    len: usize,
) -> io::Result<usize> {
    rx(|| {
        let (mut off_in, mut off_out) = (offset, offset);
        rustix::fs::copy_file_range(from, Some(&mut off_in), to, Some(&mut off_out), len)
    })
}

/// `ftruncate(2)`.
pub fn ftruncate(fd: BorrowedFd<'_>, size: u64) -> io::Result<()> {
    rx(|| rustix::fs::ftruncate(fd, size))
}

/// `fchown` of an open fd. The kernel clears the set-id bits and `security.capability` on
/// a change of owner: what must survive it is set after.
pub fn set_owner(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> io::Result<()> {
    rx(|| {
        rustix::fs::fchown(
            fd,
            Some(rustix::fs::Uid::from_raw(uid)),
            Some(rustix::fs::Gid::from_raw(gid)),
        )
    })
}

/// `fchmod` of an open fd.
pub fn set_mode(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    rx(|| rustix::fs::fchmod(fd, Mode::from_raw_mode(mode)))
}

/// `futimens(2)`: gives `fd` the access and modification times of `like` (last: every other
/// change moves the change time only).
pub fn set_times(fd: BorrowedFd<'_>, like: &Meta) -> io::Result<()> {
    let times = Timestamps {
        last_access: Timespec {
            tv_sec: like.accessed.0,
            tv_nsec: like.accessed.1 as _,
        },
        last_modification: Timespec {
            tv_sec: like.modified.0,
            tv_nsec: like.modified.1 as _,
        },
    };
    rx(|| rustix::fs::futimens(fd, &times))
}

/// `fchown` and then `fchmod` of an open fd.
pub fn set_owner_mode(fd: BorrowedFd<'_>, uid: u32, gid: u32, mode: u32) -> io::Result<()> {
    set_owner(fd, uid, gid)?;
    set_mode(fd, mode)
}

/// `fchown` and `fchmod` of what is given (`None`: left as it is).
pub fn change_owner_mode(
    fd: BorrowedFd<'_>,
    uid: Option<u32>,
    gid: Option<u32>,
    mode: Option<u32>,
) -> io::Result<()> {
    if uid.is_some() || gid.is_some() {
        let (uid, gid) = (
            uid.map(rustix::fs::Uid::from_raw),
            gid.map(rustix::fs::Gid::from_raw),
        );
        rx(|| rustix::fs::fchown(fd, uid, gid))?;
    }
    if let Some(mode) = mode {
        set_mode(fd, mode)?;
    }
    Ok(())
}

/// `flistxattr(2)` into `names`; returns the bytes filled (ERANGE where they do not fit).
pub fn flistxattr(fd: BorrowedFd<'_>, names: &mut [u8]) -> io::Result<usize> {
    rx(|| rustix::fs::flistxattr(fd, &mut *names))
}

/// `fgetxattr(2)` of `name` into `value`; returns the bytes filled.
pub fn fgetxattr(fd: BorrowedFd<'_>, name: &CStr, value: &mut [u8]) -> io::Result<usize> {
    rx(|| rustix::fs::fgetxattr(fd, name, &mut *value))
}

/// `fsetxattr(2)` of `name` to `value`, created or replaced.
pub fn fsetxattr(fd: BorrowedFd<'_>, name: &CStr, value: &[u8]) -> io::Result<()> {
    rx(|| rustix::fs::fsetxattr(fd, name, value, XattrFlags::empty()))
}

/// `struct fsxattr` of FS_IOC_FSGETXATTR and FS_IOC_FSSETXATTR.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct FsXattr {
    pub xflags: u32,
    pub extsize: u32,
    pub nextents: u32,
    pub projid: u32,
    pub cowextsize: u32,
    pad: [u8; 8],
}

const FS_IOC_FSGETXATTR: libc::c_ulong = 0x801c_581f;
const FS_IOC_FSSETXATTR: libc::c_ulong = 0x401c_5820;

/// `FS_IOC_FSGETXATTR` of a regular file (the type checked by the `InodeFd`).
pub fn fsgetxattr(fd: super::InodeFd<'_>) -> io::Result<FsXattr> {
    let mut attr = FsXattr::default();
    // SAFETY: the fd is a regular file or a directory, for which this number is the
    // filesystem's; the kernel writes one struct fsxattr into `attr`.
    retry(|| unsafe { libc::ioctl(fd.raw(), FS_IOC_FSGETXATTR, &mut attr) })?;
    Ok(attr)
}

/// `FS_IOC_FSSETXATTR` of a regular file (the type checked by the `InodeFd`).
pub fn fssetxattr(fd: super::InodeFd<'_>, attr: &FsXattr) -> io::Result<()> {
    // SAFETY: as for `fsgetxattr`; the kernel reads one struct fsxattr from `attr`.
    retry(|| unsafe { libc::ioctl(fd.raw(), FS_IOC_FSSETXATTR, attr) })?;
    Ok(())
}

/// `symlinkat(2)`.
pub fn symlinkat(target: &[u8], dir: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    let target = CString::new(target).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    rx(|| rustix::fs::symlinkat(target.as_c_str(), dir, name))
}

/// `openat(2)` with `O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK` and `mode`: the file, new
/// or not (NemoClaw's mutex file). O_NONBLOCK: a lease on it fails the open at once rather
/// than blocking it for the lease-break time.
pub fn open_or_create(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> io::Result<OwnedFd> {
    super::create(dir, name, OFlags::RDWR | OFlags::NONBLOCK, mode)
}

/// Kills this process with SIGKILL (the test-only kill points).
#[cfg(feature = "__kill-points")]
pub fn kill_self() {
    // SAFETY: raising a signal at ourselves.
    unsafe {
        libc::raise(libc::SIGKILL);
    }
}

/// The lease of `F_SETLEASE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lease {
    Read,
    Release,
}

/// `fcntl(fd, F_SETLEASE, F_RDLCK | F_UNLCK)` (rustix does not have it). A read lease is
/// refused with EAGAIN while anyone holds the file open for writing.
pub fn set_lease(fd: BorrowedFd<'_>, lease: Lease) -> io::Result<()> {
    let arg = match lease {
        Lease::Read => libc::F_RDLCK,
        Lease::Release => libc::F_UNLCK,
    };
    // SAFETY: plain fcntl on an open fd with an integer argument.
    retry(|| unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETLEASE, arg) })?;
    Ok(())
}

/// `getrandom(2)`: `buf` filled from the kernel's generator (a short answer is asked on).
pub fn random_bytes(buf: &mut [u8]) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        done += rx(|| rustix::rand::getrandom(&mut *rest, rustix::rand::GetRandomFlags::empty()))?;
    }
    Ok(())
}

/// `flock(2)` with `LOCK_NB`: exclusive or shared; EWOULDBLOCK while another holds it.
pub fn flock_nonblocking(fd: BorrowedFd<'_>, exclusive: bool) -> io::Result<()> {
    use rustix::fs::FlockOperation as Op;
    let op = if exclusive {
        Op::NonBlockingLockExclusive
    } else {
        Op::NonBlockingLockShared
    };
    rx(|| rustix::fs::flock(fd, op))
}

/// `flock(LOCK_UN)`.
pub fn funlock(fd: BorrowedFd<'_>) -> io::Result<()> {
    rx(|| rustix::fs::flock(fd, rustix::fs::FlockOperation::Unlock))
}

/// Asks fsopen (Linux 5.2) with flags it does not know: it answers EINVAL (EPERM without
/// CAP_SYS_ADMIN) before it looks at the name, and ENOSYS only where it is missing or
/// filtered. Ok where the call exists. (An unknown type name would make it ask modprobe for
/// a module: milliseconds.)
pub fn fsopen_probe() -> io::Result<()> {
    let unknown = rustix::mount::FsOpenFlags::from_bits_retain(!0);
    match rustix::mount::fsopen(c"tmpfs", unknown) {
        Err(rustix::io::Errno::NOSYS) => Err(io::Error::from_raw_os_error(libc::ENOSYS)),
        // EINVAL or EPERM: the call is there. (A descriptor, from a kernel that took the
        // flags, is closed as it is dropped.)
        _ => Ok(()),
    }
}

/// `fsopen(2)` with `FSOPEN_CLOEXEC`: a new filesystem context of type `fs`.
pub fn fsopen(fs: &CStr) -> io::Result<OwnedFd> {
    rx(|| rustix::mount::fsopen(fs, rustix::mount::FsOpenFlags::FSOPEN_CLOEXEC))
}

/// `fsconfig(FSCONFIG_SET_STRING)`.
pub fn fsconfig_set_string(fs: BorrowedFd<'_>, key: &CStr, value: &CStr) -> io::Result<()> {
    rx(|| rustix::mount::fsconfig_set_string(fs, key, value))
}

/// `fsconfig(FSCONFIG_SET_FLAG)`.
pub fn fsconfig_set_flag(fs: BorrowedFd<'_>, key: &CStr) -> io::Result<()> {
    rx(|| rustix::mount::fsconfig_set_flag(fs, key))
}

/// `fsconfig(FSCONFIG_CMD_CREATE)`.
pub fn fsconfig_create(fs: BorrowedFd<'_>) -> io::Result<()> {
    rx(|| rustix::mount::fsconfig_create(fs))
}

/// `fsconfig(FSCONFIG_CMD_RECONFIGURE)`.
pub fn fsconfig_reconfigure(fs: BorrowedFd<'_>) -> io::Result<()> {
    rx(|| rustix::mount::fsconfig_reconfigure(fs))
}

/// `fsmount(2)` with `FSMOUNT_CLOEXEC`, nosuid and nodev: the detached mount of a created
/// context.
pub fn fsmount_nosuid_nodev(fs: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    use rustix::mount::{FsMountFlags, MountAttrFlags};
    let attrs = MountAttrFlags::MOUNT_ATTR_NOSUID | MountAttrFlags::MOUNT_ATTR_NODEV;
    rx(|| rustix::mount::fsmount(fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs))
}
