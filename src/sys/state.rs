//! The few syscalls of nc-harden's state directory (`pin::record`) that the others do not
//! have: a lock file opened without ever blocking, and who the caller is.

#![forbid(unsafe_code)]

use std::ffi::CStr;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};

use super::OFlags;

/// Opens (creating, mode 0600) the lock file `name` of `dir`, read-only and with
/// `O_NONBLOCK`: a lease that another process holds on it makes the open fail at once with
/// EWOULDBLOCK instead of waiting out the lease-break time (45 s by default). Read-only, so
/// that a read lease does not conflict at all; `flock(2)` needs no write access.
pub fn open_lock(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<OwnedFd> {
    super::create(dir, name, OFlags::RDONLY | OFlags::NONBLOCK, 0o600)
}

/// Whether this process acts as root (its effective uid is 0): only root may make the state
/// directory, wherever /run lets others create names too.
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// `flock(LOCK_UN)`: releases what `fd` holds (closing it does too).
pub fn unlock(fd: BorrowedFd<'_>) -> io::Result<()> {
    super::files::funlock(fd)
}
