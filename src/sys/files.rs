//! The syscalls that make a fresh inode carry what an old one had (bytes, owner, mode, times,
//! extended attributes), the detached tmpfs a fresh directory is built in, and the locks and
//! leases by which calls serialize and writers are seen.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::retry;
use crate::inode::Meta;

/// `FICLONE`: the whole file as a reflink (btrfs, XFS with reflink): no bytes copied.
const FICLONE: libc::c_ulong = 0x4004_9409;

fn owned(fd: libc::c_long) -> OwnedFd {
    // SAFETY: `fd` was just returned by a successful call and is owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

/// Copies the bytes of `from` into the empty `to`: a reflink where the filesystem can, else
/// copy_file_range (in-kernel, same filesystem), else read and write. Returns the bytes
/// copied.
pub fn copy_bytes(from: BorrowedFd<'_>, to: BorrowedFd<'_>, size: u64) -> io::Result<u64> {
    // SAFETY: both fds are open; FICLONE takes the source fd as its argument.
    if retry(|| unsafe { libc::ioctl(to.as_raw_fd(), FICLONE, from.as_raw_fd()) }).is_ok() {
        return Ok(size);
    }
    let mut done = 0u64;
    let mut in_kernel = true;
    let mut buf = Vec::new();
    loop {
        let n = if in_kernel {
            // SAFETY: NULL offsets: both files' own positions are used and advanced.
            match retry(|| unsafe {
                libc::copy_file_range(
                    from.as_raw_fd(),
                    std::ptr::null_mut(),
                    to.as_raw_fd(),
                    std::ptr::null_mut(),
                    1 << 30,
                    0,
                )
            }) {
                Ok(n) => n as usize,
                Err(e)
                    if done == 0
                        && matches!(
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
            buf.resize(64 * 1024, 0);
            // SAFETY: `buf` is writable for its length.
            let n = retry(|| unsafe {
                libc::read(from.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len())
            })? as usize;
            let mut written = 0;
            while written < n {
                // SAFETY: `buf[written..n]` is readable.
                written += retry(|| unsafe {
                    libc::write(to.as_raw_fd(), buf[written..n].as_ptr().cast(), n - written)
                })? as usize;
            }
            n
        };
        if n == 0 {
            return Ok(done);
        }
        done += n as u64;
    }
}

/// Gives `fd` the owner, mode and times of `like` (owner first: chown clears set-id bits).
pub fn copy_attributes(fd: BorrowedFd<'_>, like: &Meta) -> io::Result<()> {
    // SAFETY: plain syscalls on an open fd.
    retry(|| unsafe { libc::fchown(fd.as_raw_fd(), like.uid, like.gid) })?;
    // SAFETY: as above.
    retry(|| unsafe { libc::fchmod(fd.as_raw_fd(), like.mode) })?;
    let times = [
        libc::timespec {
            tv_sec: like.accessed.0,
            tv_nsec: like.accessed.1,
        },
        libc::timespec {
            tv_sec: like.modified.0,
            tv_nsec: like.modified.1,
        },
    ];
    // SAFETY: `times` holds two timespecs.
    retry(|| unsafe { libc::futimens(fd.as_raw_fd(), times.as_ptr()) })?;
    Ok(())
}

/// Copies every extended attribute of `from` to `to` (security.*, trusted.*, user.*: the
/// ones this process may read and write). A filesystem without xattrs has none to copy.
pub fn copy_xattrs(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> io::Result<()> {
    let mut names = vec![0u8; 4096];
    let len = loop {
        // SAFETY: `names` is writable for its length.
        match retry(|| unsafe {
            libc::flistxattr(from.as_raw_fd(), names.as_mut_ptr().cast(), names.len())
        }) {
            Ok(n) => break n as usize,
            Err(e) if e.raw_os_error() == Some(libc::ERANGE) && names.len() < 1 << 20 => {
                names.resize(names.len() * 4, 0);
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP)) => return Ok(()),
            Err(e) => return Err(e),
        }
    };
    let mut value = vec![0u8; 4096];
    for name in names[..len].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = CString::new(name).expect("split at NUL");
        let n = loop {
            // SAFETY: `value` is writable for its length; `name` is NUL-terminated.
            match retry(|| unsafe {
                libc::fgetxattr(
                    from.as_raw_fd(),
                    name.as_ptr(),
                    value.as_mut_ptr().cast(),
                    value.len(),
                )
            }) {
                Ok(n) => break n as usize,
                Err(e) if e.raw_os_error() == Some(libc::ERANGE) && value.len() < 1 << 20 => {
                    value.resize(value.len() * 4, 0);
                }
                Err(e) => return Err(e),
            }
        };
        // SAFETY: `value[..n]` is readable; `name` is NUL-terminated.
        retry(|| unsafe {
            libc::fsetxattr(to.as_raw_fd(), name.as_ptr(), value.as_ptr().cast(), n, 0)
        })?;
    }
    Ok(())
}

/// `symlinkat(2)`.
pub fn symlinkat(target: &[u8], dir: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    let target = CString::new(target).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: both strings are NUL-terminated.
    retry(|| unsafe { libc::symlinkat(target.as_ptr(), dir.as_raw_fd(), name.as_ptr()) })?;
    Ok(())
}

/// `fchown` and `fchmod` of an open fd.
pub fn set_owner_mode(fd: BorrowedFd<'_>, uid: u32, gid: u32, mode: u32) -> io::Result<()> {
    // SAFETY: plain syscalls on an open fd.
    retry(|| unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) })?;
    // SAFETY: as above.
    retry(|| unsafe { libc::fchmod(fd.as_raw_fd(), mode) })?;
    Ok(())
}

/// `pread(2)` into `buf` at `offset`; returns the bytes read, 0 at the end.
pub fn pread(fd: BorrowedFd<'_>, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    // SAFETY: `buf` is writable for its length.
    let n = retry(|| unsafe {
        libc::pread(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            offset as libc::off_t,
        )
    })?;
    Ok(n as usize)
}

/// Kills this process with SIGKILL (the test-only kill points).
#[cfg(feature = "__kill-points")]
pub fn kill_self() {
    // SAFETY: raising a signal at ourselves.
    unsafe {
        libc::raise(libc::SIGKILL);
    }
}

/// `fchown` and `fchmod` of what is given (`None`: left as it is).
pub fn change_owner_mode(
    fd: BorrowedFd<'_>,
    uid: Option<u32>,
    gid: Option<u32>,
    mode: Option<u32>,
) -> io::Result<()> {
    if uid.is_some() || gid.is_some() {
        let (uid, gid) = (uid.unwrap_or(u32::MAX), gid.unwrap_or(u32::MAX));
        // SAFETY: plain syscall on an open fd; -1 leaves that id as it is.
        retry(|| unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) })?;
    }
    if let Some(mode) = mode {
        // SAFETY: as above.
        retry(|| unsafe { libc::fchmod(fd.as_raw_fd(), mode) })?;
    }
    Ok(())
}

/// Whether anyone holds `fd`'s file open for writing (a writable descriptor, or a shared
/// writable mapping, which keeps one): a read lease is refused (EAGAIN) exactly then. `None`
/// where leases are not available (disabled, or a filesystem without them). `fd` must be
/// open read-only, and ours: only the file's owner (or CAP_LEASE) may take a lease.
pub fn has_writers(fd: BorrowedFd<'_>) -> io::Result<Option<bool>> {
    // A writer seen is asked again a few times over some 50 ms: a process that forked while
    // it held a descriptor (its child has a copy until it execs) lets go by itself.
    let mut wait = std::time::Duration::from_micros(500);
    for _ in 0..7 {
        // SAFETY: plain fcntl on an open fd.
        match retry(|| unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETLEASE, libc::F_RDLCK) }) {
            Ok(_) => {
                // SAFETY: as above.
                retry(|| unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETLEASE, libc::F_UNLCK) })?;
                return Ok(Some(false));
            }
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                std::thread::sleep(wait);
                wait *= 2;
            }
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EINVAL | libc::ENOLCK | libc::EACCES | libc::EPERM)
                ) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Some(true))
}

/// `flock(2)`: `exclusive` for the calls that change, shared for verify; waits at most
/// `wait`, then EAGAIN.
pub fn lock(fd: BorrowedFd<'_>, exclusive: bool, wait: std::time::Duration) -> io::Result<()> {
    let how = if exclusive {
        libc::LOCK_EX
    } else {
        libc::LOCK_SH
    } | libc::LOCK_NB;
    let start = std::time::Instant::now();
    let mut pause = std::time::Duration::from_micros(200);
    loop {
        // SAFETY: plain syscall on an open fd.
        match retry(|| unsafe { libc::flock(fd.as_raw_fd(), how) }) {
            Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) && start.elapsed() < wait => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(20));
            }
            other => return other.map(drop),
        }
    }
}

/// Whether the kernel has fsopen (Linux 5.2): asked with flags it does not know, it answers
/// EINVAL (EPERM without CAP_SYS_ADMIN) before it looks at the name, never ENOSYS. (An
/// unknown type name would make it ask modprobe for a module: milliseconds.)
pub fn fsopen_available() -> bool {
    // SAFETY: a NUL-terminated name; refused on its flags before anything is created.
    let r = unsafe { libc::syscall(libc::SYS_fsopen, c"tmpfs".as_ptr(), !0u32) };
    if r >= 0 {
        drop(owned(r));
        return true;
    }
    io::Error::last_os_error().raw_os_error() != Some(libc::ENOSYS)
}

const FSCONFIG_SET_FLAG: libc::c_uint = 0;
const FSCONFIG_CMD_RECONFIGURE: libc::c_uint = 7;

/// Makes the filesystem of the context `fs` read-only (its superblock: every mount of it).
pub fn make_read_only(fs: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: a NUL-terminated key, no value, for a flag.
    retry(|| unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_SET_FLAG,
            c"ro".as_ptr(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    })?;
    // SAFETY: no key or value for the reconfigure command.
    retry(|| unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_RECONFIGURE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    })?;
    Ok(())
}

/// A new tmpfs, detached: created with fsopen/fsconfig/fsmount and attached nowhere, so no
/// path reaches it until it is moved over a directory. Linux 5.2+. Returns the filesystem
/// context (to make it read-only once filled) and the mount (nosuid, nodev).
pub fn detached_tmpfs() -> io::Result<(OwnedFd, OwnedFd)> {
    const FSOPEN_CLOEXEC: libc::c_uint = 1;
    const FSCONFIG_SET_STRING: libc::c_uint = 1;
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    const FSMOUNT_CLOEXEC: libc::c_uint = 1;
    // SAFETY: a NUL-terminated name and integer flags.
    let fs = owned(retry(|| unsafe {
        libc::syscall(libc::SYS_fsopen, c"tmpfs".as_ptr(), FSOPEN_CLOEXEC)
    })?);
    for (key, value) in [(c"mode", c"0700"), (c"source", c"nc-harden")] {
        // SAFETY: NUL-terminated key and value.
        retry(|| unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fs.as_raw_fd(),
                FSCONFIG_SET_STRING,
                key.as_ptr(),
                value.as_ptr(),
                0,
            )
        })?;
    }
    // SAFETY: no key or value for the create command.
    retry(|| unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    })?;
    let attrs = libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV;
    // SAFETY: integer flags; read-only comes once it is filled (`make_read_only`).
    let mount = owned(retry(|| unsafe {
        libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, attrs)
    })?);
    Ok((fs, mount))
}
