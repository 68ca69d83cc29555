//! Plain I/O on a descriptor, and the process facts a guard checks (NemoClaw's drop-in):
//! read, write, truncate, fsync, flock without waiting, the effective uid, random bytes.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::retry;

/// `read(2)` at the current offset; 0 at the end.
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is writable for its length.
    let n = retry(|| unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })?;
    Ok(n as usize)
}

/// `write(2)` until all of `data` is written.
pub fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        // SAFETY: `data` is readable for its length.
        let n = retry(|| unsafe { libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) })?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        data = &data[n as usize..];
    }
    Ok(())
}

/// `ftruncate(fd, 0)` and `lseek(fd, 0, SEEK_SET)`: an empty file, written from its start.
pub fn truncate_and_rewind(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: plain syscalls on an open fd.
    retry(|| unsafe { libc::ftruncate(fd.as_raw_fd(), 0) })?;
    // SAFETY: as above.
    retry(|| unsafe { libc::lseek(fd.as_raw_fd(), 0, libc::SEEK_SET) })?;
    Ok(())
}

/// `fsync(2)`.
pub fn fsync(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: plain syscall on an open fd.
    retry(|| unsafe { libc::fsync(fd.as_raw_fd()) })?;
    Ok(())
}

/// `flock(2)` with `LOCK_NB`: `Ok(false)` when another holder has it (EWOULDBLOCK).
pub fn try_flock(fd: BorrowedFd<'_>, exclusive: bool) -> io::Result<bool> {
    let how = if exclusive {
        libc::LOCK_EX
    } else {
        libc::LOCK_SH
    } | libc::LOCK_NB;
    // SAFETY: plain syscall on an open fd.
    match retry(|| unsafe { libc::flock(fd.as_raw_fd(), how) }) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `flock(fd, LOCK_UN)`.
pub fn unflock(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: plain syscall on an open fd.
    retry(|| unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_UN) })?;
    Ok(())
}

/// `geteuid(2)`.
pub fn effective_uid() -> u32 {
    // SAFETY: a getter without arguments; it cannot fail.
    unsafe { libc::geteuid() }
}

/// `getpid(2)`.
pub fn pid() -> u32 {
    // SAFETY: a getter without arguments; it cannot fail.
    unsafe { libc::getpid() as u32 }
}

/// `getrandom(2)`: `buf` filled from the kernel's generator (blocking until it is seeded).
pub fn random_bytes(buf: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: `rest` is writable for its length.
        let n = retry(|| unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) })?;
        filled += n as usize;
    }
    Ok(())
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
    let blocks = unsafe { st.assume_init() }.st_blocks;
    Ok((blocks.max(0) as u64) * 512)
}
