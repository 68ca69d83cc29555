//! The few syscalls the shields' tree walk needs beyond the others: owner and mode of an open
//! descriptor one at a time (write bits go first, then the owner, then the mode), the inode
//! generation, a rename from one directory to another without replacing, and random bytes
//! for the quarantine's names.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::retry;

/// `FS_IOC_GETVERSION` (`_IOR('v', 1, long)`): the inode's generation number.
const FS_IOC_GETVERSION: libc::c_ulong = 0x8000_0000
    | ((std::mem::size_of::<libc::c_long>() as libc::c_ulong) << 16)
    | ((b'v' as libc::c_ulong) << 8)
    | 1;

/// `fchmod(2)`.
pub fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    // SAFETY: plain syscall on an open fd.
    retry(|| unsafe { libc::fchmod(fd.as_raw_fd(), mode) })?;
    Ok(())
}

/// `fchown(2)`.
pub fn fchown(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: plain syscall on an open fd.
    retry(|| unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) })?;
    Ok(())
}

/// The inode's generation (`FS_IOC_GETVERSION`); `None` where the filesystem keeps none
/// (tmpfs answers ENOTTY). Callers pass only directories and regular files.
pub fn generation(fd: BorrowedFd<'_>) -> io::Result<Option<u32>> {
    let mut version: libc::c_long = 0;
    // SAFETY: the kernel writes one int (the payload is a long: room to spare).
    match retry(|| unsafe { libc::ioctl(fd.as_raw_fd(), FS_IOC_GETVERSION, &mut version) }) {
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

/// `renameat2(2)` from one directory to another with `RENAME_NOREPLACE`: nothing at `to` is
/// ever replaced.
pub fn move_noreplace(
    from_dir: BorrowedFd<'_>,
    from: &CStr,
    to_dir: BorrowedFd<'_>,
    to: &CStr,
) -> io::Result<()> {
    // SAFETY: both names are NUL-terminated.
    retry(|| unsafe {
        libc::renameat2(
            from_dir.as_raw_fd(),
            from.as_ptr(),
            to_dir.as_raw_fd(),
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    })?;
    Ok(())
}

/// Eight random bytes from the kernel (`getrandom(2)`), for names that must not be guessed.
pub fn random_u64() -> io::Result<u64> {
    let mut buf = [0u8; 8];
    // SAFETY: `buf` is writable for its length.
    let n = retry(|| unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) })?;
    if n as usize != buf.len() {
        return Err(io::Error::from_raw_os_error(libc::EIO));
    }
    Ok(u64::from_ne_bytes(buf))
}

/// `open_tree(dir, name, OPEN_TREE_CLONE | AT_SYMLINK_NOFOLLOW)`: a detached bind mount of
/// the file or directory `name` (Linux 5.2). Attached nowhere until `move_mount`: a process
/// killed before that leaves nothing mounted.
pub fn clone_tree(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<std::os::fd::OwnedFd> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    let flags = OPEN_TREE_CLONE
        | libc::O_CLOEXEC as libc::c_uint
        | libc::AT_SYMLINK_NOFOLLOW as libc::c_uint;
    // SAFETY: a NUL-terminated name and integer flags.
    let fd = retry(|| unsafe {
        libc::syscall(libc::SYS_open_tree, dir.as_raw_fd(), name.as_ptr(), flags)
    })?;
    // SAFETY: open_tree returned a new descriptor that nobody else owns.
    Ok(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) })
}
