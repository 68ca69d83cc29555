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

/// The largest buffer a digest or a copy holds: whatever the file's size, this much memory.
pub(crate) const CHUNK: usize = 1 << 20;

/// Below this size a file is read as one run of data: asking where its holes are would cost
/// more syscalls than reading them.
const SPARSE_MIN: u64 = CHUNK as u64;

/// A run of a file: `Data` to read, or a `Hole`, which reads as zeros and needs no reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Run {
    Data { start: u64, end: u64 },
    Hole { start: u64, end: u64 },
}

/// The runs of data and holes of `fd` up to `size` (its size when examined), found with
/// SEEK_DATA and SEEK_HOLE; one run of data where the filesystem cannot tell (or the file is
/// small). The file's offset moves: callers read with pread.
pub struct Runs<'a> {
    fd: BorrowedFd<'a>,
    pos: u64,
    size: u64,
    sparse: bool,
}

pub fn runs(fd: BorrowedFd<'_>, size: u64) -> Runs<'_> {
    Runs {
        fd,
        pos: 0,
        size,
        sparse: size >= SPARSE_MIN,
    }
}

fn seek(fd: BorrowedFd<'_>, offset: u64, whence: i32) -> io::Result<u64> {
    // SAFETY: plain lseek on an open fd.
    let r = retry(|| unsafe { libc::lseek(fd.as_raw_fd(), offset as libc::off_t, whence) })?;
    Ok(r as u64)
}

impl Iterator for Runs<'_> {
    type Item = Run;

    fn next(&mut self) -> Option<Run> {
        let (start, size) = (self.pos, self.size);
        if start >= size {
            return None;
        }
        let data = |end: u64| Run::Data { start, end };
        let run = if !self.sparse {
            data(size)
        } else {
            match seek(self.fd, start, libc::SEEK_DATA) {
                // No data after `start`: a hole to the end (or the file shrank).
                Err(e) if e.raw_os_error() == Some(libc::ENXIO) => Run::Hole { start, end: size },
                Err(_) => {
                    self.sparse = false;
                    data(size)
                }
                Ok(at) if at > start => Run::Hole {
                    start,
                    end: at.min(size),
                },
                Ok(_) => match seek(self.fd, start, libc::SEEK_HOLE) {
                    Ok(hole) => data(hole.clamp(start + 1, size)),
                    Err(_) => data(size),
                },
            }
        };
        self.pos = match run {
            Run::Data { end, .. } | Run::Hole { end, .. } => end,
        };
        Some(run)
    }
}

/// `pwrite(2)` of all of `buf` at `offset`.
pub fn pwrite_all(fd: BorrowedFd<'_>, buf: &[u8], offset: u64) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: `buf[done..]` is readable for its length.
        let n = retry(|| unsafe {
            libc::pwrite(
                fd.as_raw_fd(),
                buf[done..].as_ptr().cast(),
                buf.len() - done,
                (offset + done as u64) as libc::off_t,
            )
        })? as usize;
        if n == 0 {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        done += n;
    }
    Ok(())
}

/// Copies the bytes of `from` (of `size` bytes when examined) into the empty `to`, holes
/// kept: a reflink where the filesystem can (FICLONE: nothing copied); else each run of data
/// by copy_file_range (in the kernel) or, across filesystems, pread and pwrite through one
/// buffer of at most `CHUNK` bytes; holes are skipped, and `to` is then truncated to `size`
/// so that a trailing hole stays one. Returns the bytes of data copied.
pub fn copy_bytes(from: BorrowedFd<'_>, to: BorrowedFd<'_>, size: u64) -> io::Result<u64> {
    // SAFETY: both fds are open; FICLONE takes the source fd as its argument.
    if retry(|| unsafe { libc::ioctl(to.as_raw_fd(), FICLONE, from.as_raw_fd()) }).is_ok() {
        return Ok(size);
    }
    let mut done = 0u64;
    let mut in_kernel = true;
    let mut buf = Vec::new();
    'runs: for run in runs(from, size) {
        let Run::Data { start, end } = run else {
            continue;
        };
        let mut at = start;
        while at < end {
            let want = (end - at).min(1 << 30) as usize;
            let n = if in_kernel {
                let (mut off_in, mut off_out) = (at as libc::loff_t, at as libc::loff_t);
                // SAFETY: both offsets are valid for the call; the kernel advances them.
                match retry(|| unsafe {
                    libc::copy_file_range(
                        from.as_raw_fd(),
                        &mut off_in,
                        to.as_raw_fd(),
                        &mut off_out,
                        want,
                        0,
                    )
                }) {
                    Ok(n) => n as usize,
                    Err(e)
                        if matches!(
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
                buf.resize(CHUNK.min(want.max(4096)).max(buf.len()), 0);
                let len = want.min(buf.len());
                let n = pread(from, &mut buf[..len], at)?;
                pwrite_all(to, &buf[..n], at)?;
                n
            };
            if n == 0 && in_kernel {
                // Asked again by pread: only a read says for sure that the file ends here.
                in_kernel = false;
                continue;
            }
            if n == 0 {
                // The file ends sooner than it did (a truncate: the caller sees it changed).
                break 'runs;
            }
            at += n as u64;
            done += n as u64;
        }
    }
    // SAFETY: plain ftruncate of an open fd.
    retry(|| unsafe { libc::ftruncate(to.as_raw_fd(), size as libc::off_t) })?;
    Ok(done)
}

/// `fchown` of an open fd. The kernel clears the set-id bits and `security.capability` on
/// a change of owner: what must survive it is set after.
pub fn set_owner(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: plain syscall on an open fd.
    retry(|| unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) })?;
    Ok(())
}

/// `fchmod` of an open fd.
pub fn set_mode(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    // SAFETY: plain syscall on an open fd.
    retry(|| unsafe { libc::fchmod(fd.as_raw_fd(), mode) })?;
    Ok(())
}

/// Gives `fd` the access and modification times of `like` (last: every other change moves
/// the change time only).
pub fn set_times(fd: BorrowedFd<'_>, like: &Meta) -> io::Result<()> {
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

/// Copies every extended attribute of `from` that this process can list to `to`
/// (security.*, user.*, system.* ACLs; trusted.* only with CAP_SYS_ADMIN, which lists them).
/// Returns the names that `to` refused (no CAP_SETFCAP for `security.capability`, a
/// filesystem without that namespace, no room): the copy goes on without them, and the
/// caller reports them. A filesystem without xattrs has none to copy.
pub fn copy_xattrs(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> io::Result<Vec<CString>> {
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
            Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP)) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        }
    };
    let mut refused = Vec::new();
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
                Ok(n) => break Some(n as usize),
                Err(e) if e.raw_os_error() == Some(libc::ERANGE) && value.len() < 1 << 20 => {
                    value.resize(value.len() * 4, 0);
                }
                // Removed since it was listed: nothing to carry.
                Err(e) if e.raw_os_error() == Some(libc::ENODATA) => break None,
                Err(e) => return Err(e),
            }
        };
        let Some(n) = n else { continue };
        // SAFETY: `value[..n]` is readable; `name` is NUL-terminated.
        match retry(|| unsafe {
            libc::fsetxattr(to.as_raw_fd(), name.as_ptr(), value.as_ptr().cast(), n, 0)
        }) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(
                        libc::EPERM
                            | libc::EACCES
                            | libc::EOPNOTSUPP
                            | libc::ENOSPC
                            | libc::E2BIG
                            | libc::EINVAL
                    )
                ) =>
            {
                refused.push(name)
            }
            Err(e) => return Err(e),
        }
    }
    Ok(refused)
}

/// `struct fsxattr` of FS_IOC_FSGETXATTR and FS_IOC_FSSETXATTR.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct FsXattr {
    xflags: u32,
    extsize: u32,
    nextents: u32,
    projid: u32,
    cowextsize: u32,
    pad: [u8; 8],
}

const FS_IOC_FSGETXATTR: libc::c_ulong = 0x801c_581f;
const FS_IOC_FSSETXATTR: libc::c_ulong = 0x401c_5820;

/// The inode flags a fresh inode is given: no dump, no access-time updates.
const XFLAGS_CARRIED: u32 = FS_XFLAG_NOATIME | FS_XFLAG_NODUMP;
const FS_XFLAG_PREALLOC: u32 = 0x2;
const FS_XFLAG_IMMUTABLE: u32 = 0x8;
const FS_XFLAG_APPEND: u32 = 0x10;
const FS_XFLAG_NOATIME: u32 = 0x40;
const FS_XFLAG_NODUMP: u32 = 0x80;
const FS_XFLAG_HASATTR: u32 = 0x8000_0000;
/// Neither carried nor lost: the pins (set by the engine), and what only describes the
/// inode (it has preallocated extents, it has xattrs).
const XFLAGS_NOT_OURS: u32 =
    FS_XFLAG_IMMUTABLE | FS_XFLAG_APPEND | FS_XFLAG_PREALLOC | FS_XFLAG_HASATTR;

fn fsxattr(fd: BorrowedFd<'_>) -> io::Result<FsXattr> {
    let mut attr = FsXattr::default();
    // SAFETY: the kernel writes one struct fsxattr into `attr`.
    retry(|| unsafe { libc::ioctl(fd.as_raw_fd(), FS_IOC_FSGETXATTR, &mut attr) })?;
    Ok(attr)
}

/// What of its inode flags `carry_inode_flags` could not give: the FS_XFLAG_* bits, and
/// whether the project id was lost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlagsLost {
    pub xflags: u32,
    pub project: bool,
}

/// Gives the regular file `to` the no-dump and no-atime flags and the project id of `from`
/// (FS_IOC_FSGETXATTR / FSSETXATTR). Every other flag of `from` but the pins (immutable,
/// append-only: the engine's) is returned as lost, and so are these where `to`'s filesystem
/// refuses them (tmpfs has no project ids). One ioctl where `from` has nothing to carry.
pub fn carry_inode_flags(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> io::Result<FlagsLost> {
    let old = match fsxattr(from) {
        Ok(old) => old,
        // No inode flags on this filesystem: none to carry.
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOTTY | libc::EOPNOTSUPP | libc::EINVAL)
            ) =>
        {
            return Ok(FlagsLost::default())
        }
        Err(e) => return Err(e),
    };
    let mut lost = FlagsLost {
        xflags: old.xflags & !(XFLAGS_CARRIED | XFLAGS_NOT_OURS),
        project: false,
    };
    let wanted = old.xflags & XFLAGS_CARRIED;
    if wanted == 0 && old.projid == 0 {
        return Ok(lost);
    }
    let set = |attr: &FsXattr| {
        // SAFETY: the kernel reads one struct fsxattr from `attr`.
        retry(|| unsafe { libc::ioctl(to.as_raw_fd(), FS_IOC_FSSETXATTR, attr) }).map(drop)
    };
    let Ok(mut new) = fsxattr(to) else {
        lost.xflags |= wanted;
        lost.project = old.projid != 0;
        return Ok(lost);
    };
    let base = new;
    new.xflags |= wanted;
    new.projid = old.projid;
    if set(&new).is_ok() {
        return Ok(lost);
    }
    // A filesystem with flags but no project ids (tmpfs): the flags alone.
    lost.project = old.projid != base.projid;
    new.projid = base.projid;
    if set(&new).is_err() {
        lost.xflags |= wanted;
    }
    Ok(lost)
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

/// `openat(2)` with `O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY` and `mode`: the
/// file, new or not (NemoClaw's mutex file). O_NONBLOCK: a lease on it fails the open at once
/// rather than blocking it for the lease-break time.
pub fn open_or_create(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> io::Result<OwnedFd> {
    let flags = libc::O_RDWR
        | libc::O_CREAT
        | libc::O_NOFOLLOW
        | libc::O_NONBLOCK
        | libc::O_NOCTTY
        | libc::O_CLOEXEC;
    // SAFETY: a NUL-terminated name; the mode is the variadic argument of O_CREAT.
    let fd = retry(|| unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags, mode) })?;
    Ok(owned(fd as libc::c_long))
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

/// What a read lease says of the writers of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriterCheck {
    /// Nobody holds it open for writing (nor mapped shared and writable).
    NoWriter,
    /// Someone does: the lease was refused (EAGAIN).
    Writer,
    /// The lease could not be taken, with this errno: EACCES (not the file's owner, and no
    /// CAP_LEASE), EINVAL (a filesystem without leases, or leases disabled), ENOLCK, others.
    /// Never to be read as "no writer".
    CannotTell(i32),
}

impl WriterCheck {
    /// Whether a writer may hold the file: `Writer` or `CannotTell`.
    pub fn may_have_writer(self) -> bool {
        self != WriterCheck::NoWriter
    }
}

/// Whether anyone holds `fd`'s file open for writing (a writable descriptor, or a shared
/// writable mapping, which keeps one): a read lease (F_SETLEASE F_RDLCK, released at once)
/// is refused with EAGAIN exactly then. `fd` must be open read-only; the lease needs the
/// caller to own the file or hold CAP_LEASE (else `CannotTell(EACCES)`).
pub fn writer_check(fd: BorrowedFd<'_>) -> WriterCheck {
    // A writer seen is asked again a few times over some 50 ms: a process that forked while
    // it held a descriptor (its child has a copy until it execs) lets go by itself.
    let mut wait = std::time::Duration::from_micros(500);
    for _ in 0..7 {
        // SAFETY: plain fcntl on an open fd.
        match retry(|| unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETLEASE, libc::F_RDLCK) }) {
            Ok(_) => {
                // SAFETY: as above.
                return match retry(|| unsafe {
                    libc::fcntl(fd.as_raw_fd(), libc::F_SETLEASE, libc::F_UNLCK)
                }) {
                    Ok(_) => WriterCheck::NoWriter,
                    Err(e) => WriterCheck::CannotTell(e.raw_os_error().unwrap_or(libc::EIO)),
                };
            }
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                std::thread::sleep(wait);
                wait *= 2;
            }
            Err(e) => return WriterCheck::CannotTell(e.raw_os_error().unwrap_or(libc::EIO)),
        }
    }
    WriterCheck::Writer
}

/// `getrandom(2)`: `buf` filled from the kernel's generator.
pub fn random_bytes(buf: &mut [u8]) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: `buf[done..]` is writable for its length.
        let n = retry(|| unsafe {
            libc::getrandom(buf[done..].as_mut_ptr().cast(), buf.len() - done, 0)
        })?;
        done += n as usize;
    }
    Ok(())
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

/// How much a detached tmpfs may hold: bytes (tmpfs rounds them up to pages) and inodes
/// (its root is one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TmpfsLimits {
    pub bytes: u64,
    pub inodes: u64,
}

/// A new tmpfs, detached: created with fsopen/fsconfig/fsmount and attached nowhere, so no
/// path reaches it until it is moved over a directory. Linux 5.2+. Its `size=` and
/// `nr_inodes=` are `limits`, so that what is copied into it cannot grow without bound.
/// Returns the filesystem context (to make it read-only once filled) and the mount (nosuid,
/// nodev).
pub fn detached_tmpfs(limits: TmpfsLimits) -> io::Result<(OwnedFd, OwnedFd)> {
    const FSOPEN_CLOEXEC: libc::c_uint = 1;
    const FSCONFIG_SET_STRING: libc::c_uint = 1;
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    const FSMOUNT_CLOEXEC: libc::c_uint = 1;
    // SAFETY: a NUL-terminated name and integer flags.
    let fs = owned(retry(|| unsafe {
        libc::syscall(libc::SYS_fsopen, c"tmpfs".as_ptr(), FSOPEN_CLOEXEC)
    })?);
    let size = CString::new(limits.bytes.to_string()).expect("digits");
    let inodes = CString::new(limits.inodes.to_string()).expect("digits");
    for (key, value) in [
        (c"mode", c"0700"),
        (c"source", c"nc-harden"),
        (c"size", size.as_c_str()),
        (c"nr_inodes", inodes.as_c_str()),
    ] {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::fs::{FileExt, MetadataExt};

    #[test]
    fn a_lease_sees_a_writer() {
        let path = std::env::temp_dir().join(format!("nc-harden-lease-{}", std::process::id()));
        std::fs::write(&path, b"x").unwrap();
        let reader = std::fs::File::open(&path).unwrap();
        assert_eq!(writer_check(reader.as_fd()), WriterCheck::NoWriter);
        let writer = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        assert_eq!(writer_check(reader.as_fd()), WriterCheck::Writer);
        drop(writer);
        assert_eq!(writer_check(reader.as_fd()), WriterCheck::NoWriter);
        // A descriptor open for writing cannot take a read lease: never "no writer".
        let rw = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        assert!(writer_check(rw.as_fd()).may_have_writer());
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn copies_keep_holes_and_bytes() {
        let dir = std::env::temp_dir().join(format!("nc-harden-copy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (from, to) = (dir.join("from"), dir.join("to"));
        let file = std::fs::File::create(&from).unwrap();
        file.set_len(32 << 20).unwrap();
        file.write_all_at(&[7u8; 100_000], 8 << 20).unwrap();
        drop(file);
        let src = std::fs::File::open(&from).unwrap();
        let dst = std::fs::File::create(&to).unwrap();
        copy_bytes(src.as_fd(), dst.as_fd(), 32 << 20).unwrap();
        assert_eq!(std::fs::read(&from).unwrap(), std::fs::read(&to).unwrap());
        let meta = std::fs::metadata(&to).unwrap();
        assert_eq!(meta.len(), 32 << 20);
        assert!(
            meta.blocks() * 512 <= 1 << 20,
            "{} bytes on disk",
            meta.blocks() * 512
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
