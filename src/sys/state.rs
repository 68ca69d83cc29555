//! The few syscalls of nc-harden's state directory (`pin::record`) that the others do not
//! have: a lock file opened without ever blocking, and who the caller is.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use super::{owned, retry};

/// Opens (creating, mode 0600) the lock file `name` of `dir`, read-only and with
/// `O_NONBLOCK`: a lease that another process holds on it makes the open fail at once with
/// EWOULDBLOCK instead of waiting out the lease-break time (45 s by default). Read-only, so
/// that a read lease does not conflict at all; `flock(2)` needs no write access.
pub fn open_lock(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<OwnedFd> {
    let flags = libc::O_RDONLY
        | libc::O_CREAT
        | libc::O_NOFOLLOW
        | libc::O_NONBLOCK
        | libc::O_NOCTTY
        | libc::O_CLOEXEC;
    let mode: libc::c_uint = 0o600;
    // SAFETY: a NUL-terminated name; the mode is the variadic argument of O_CREAT.
    let fd = retry(|| unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags, mode) })?;
    Ok(owned(fd))
}

/// Whether this process acts as root (its effective uid is 0): only root may make the state
/// directory, wherever /run lets others create names too.
pub fn is_root() -> bool {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() == 0 }
}

/// `flock(LOCK_UN)`: releases what `fd` holds (closing it does too).
pub fn unlock(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: plain syscall on an open fd.
    retry(|| unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_UN) })?;
    Ok(())
}
