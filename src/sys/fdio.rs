//! Plain I/O on a descriptor, and the process facts a guard checks (NemoClaw's drop-in):
//! read, write, truncate, fsync, flock without waiting, the effective uid, random bytes.

use std::io;
use std::os::fd::BorrowedFd;

use super::rx;

/// `read(2)` at the current offset; 0 at the end.
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    rx(|| rustix::io::read(fd, &mut *buf))
}

/// `write(2)` until all of `data` is written.
pub fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        let n = rx(|| rustix::io::write(fd, data))?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        data = &data[n..];
    }
    Ok(())
}

/// `ftruncate(fd, 0)` and `lseek(fd, 0, SEEK_SET)`: an empty file, written from its start.
pub fn truncate_and_rewind(fd: BorrowedFd<'_>) -> io::Result<()> {
    super::files::ftruncate(fd, 0)?;
    super::rewind(fd)
}

/// `fsync(2)`.
pub fn fsync(fd: BorrowedFd<'_>) -> io::Result<()> {
    rx(|| rustix::fs::fsync(fd))
}

/// `flock(2)` with `LOCK_NB`: `Ok(false)` when another holder has it (EWOULDBLOCK).
pub fn try_flock(fd: BorrowedFd<'_>, exclusive: bool) -> io::Result<bool> {
    match super::files::flock_nonblocking(fd, exclusive) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `flock(fd, LOCK_UN)`.
pub fn unflock(fd: BorrowedFd<'_>) -> io::Result<()> {
    super::files::funlock(fd)
}

/// `geteuid(2)`.
pub fn effective_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// `getpid(2)`.
pub fn pid() -> u32 {
    rustix::process::getpid().as_raw_nonzero().get() as u32
}

/// `getrandom(2)`: `buf` filled from the kernel's generator (blocking until it is seeded).
pub fn random_bytes(buf: &mut [u8]) -> io::Result<()> {
    super::files::random_bytes(buf)
}

/// `strerror(3)` of an errno, as Python's `OSError.strerror` gives it.
pub fn strerror(errno: i32) -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the XSI strerror_r writes a NUL-terminated message into `buf`, its length given.
    let r = unsafe { libc::strerror_r(errno, buf.as_mut_ptr().cast(), buf.len()) };
    if r != 0 {
        return format!("Unknown error {errno}");
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// `st_blocks * 512` of the entry `name` of `dir`, not followed: the bytes a file occupies.
pub fn allocated_bytes(dir: BorrowedFd<'_>, name: &std::ffi::CStr) -> io::Result<u64> {
    let st = rx(|| rustix::fs::statat(dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW))?;
    #[allow(clippy::unnecessary_cast)] // the field's type differs between architectures
    Ok((st.st_blocks as i64).max(0) as u64 * 512)
}
