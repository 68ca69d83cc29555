//! The few syscalls the shields' tree walk needs beyond the others: owner and mode of an open
//! descriptor one at a time (write bits go first, then the owner, then the mode), the inode
//! generation, a rename from one directory to another without replacing, random bytes for
//! the quarantine's names, and a detached clone of a tree.

#![forbid(unsafe_code)]

use std::ffi::CStr;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};

use super::rx;

/// `fchmod(2)`.
pub fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    super::files::set_mode(fd, mode)
}

/// `fchown(2)`.
pub fn fchown(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> io::Result<()> {
    super::files::set_owner(fd, uid, gid)
}

/// The inode's generation (`FS_IOC_GETVERSION`); `None` where the filesystem keeps none
/// (tmpfs answers ENOTTY). The type is checked first (`InodeFd::check`).
pub fn generation(fd: BorrowedFd<'_>) -> io::Result<Option<u32>> {
    super::generation(fd)
}

/// `renameat2(2)` from one directory to another with `RENAME_NOREPLACE`: nothing at `to` is
/// ever replaced.
pub fn move_noreplace(
    from_dir: BorrowedFd<'_>,
    from: &CStr,
    to_dir: BorrowedFd<'_>,
    to: &CStr,
) -> io::Result<()> {
    rx(|| {
        rustix::fs::renameat_with(
            from_dir,
            from,
            to_dir,
            to,
            rustix::fs::RenameFlags::NOREPLACE,
        )
    })
}

/// Eight random bytes from the kernel (`getrandom(2)`), for names that must not be guessed.
pub fn random_u64() -> io::Result<u64> {
    let mut buf = [0u8; 8];
    super::files::random_bytes(&mut buf)?;
    Ok(u64::from_ne_bytes(buf))
}

/// `open_tree(dir, name, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW)`: a
/// detached bind mount of the file or directory `name` (Linux 5.2). Attached nowhere until
/// `move_mount`: a process killed before that leaves nothing mounted.
pub fn clone_tree(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<OwnedFd> {
    use rustix::mount::OpenTreeFlags as F;
    let flags = F::OPEN_TREE_CLONE | F::OPEN_TREE_CLOEXEC | F::AT_SYMLINK_NOFOLLOW;
    rx(|| rustix::mount::open_tree(dir, name, flags))
}
