//! Every access to /proc. /proc is opened as a directory (`O_DIRECTORY | O_NOFOLLOW`) and
//! taken only where fstatfs says it is procfs (`PROC_SUPER_MAGIC`) and fstat that it is the
//! root of that filesystem (inode 1), as libpathrs checks; every file below it is opened with
//! openat2 `RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS` (so nothing
//! mounted over a part of /proc, and no symlink, is followed) and checked to be on procfs
//! again. `self` and `thread-self` are symlinks: their targets (`<pid>`,
//! `<pid>/task/<tid>`) are read from the verified root and must be numbers. A /proc that
//! fails a check is an error that says so, never a read of the plain path instead.

#![forbid(unsafe_code)]

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use super::{rx, Base, OFlags, ResolveFlags};

/// The inode number of procfs's root directory (`PROC_ROOT_INO`).
const PROC_ROOT_INO: u64 = 1;

/// `PROC_SUPER_MAGIC`.
const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// A directory fd of /proc that has been checked to be the root of a procfs.
pub struct Proc {
    root: OwnedFd,
}

fn not_procfs(what: &str) -> io::Error {
    io::Error::other(format!(
        "{what} is not procfs (a filesystem over /proc, or /proc not mounted): refusing to read it"
    ))
}

/// Whether `fd` is on procfs.
fn is_procfs(fd: BorrowedFd<'_>) -> io::Result<bool> {
    let st = rx(|| rustix::fs::fstatfs(fd))?;
    #[allow(clippy::unnecessary_cast)] // the field's type differs between architectures
    Ok(st.f_type as i64 == PROC_SUPER_MAGIC)
}

impl Proc {
    /// Opens /proc and checks it.
    pub fn open() -> io::Result<Self> {
        let root = super::openat(Base::Cwd, c"/proc", OFlags::PATH | OFlags::DIRECTORY)?;
        Self::verify(root)
    }

    /// Takes `root` as /proc where it is the root directory of a procfs: else an error.
    pub fn verify(root: OwnedFd) -> io::Result<Self> {
        if !is_procfs(root.as_fd())? || super::fstat(root.as_fd())?.ino != PROC_ROOT_INO {
            return Err(not_procfs("/proc"));
        }
        Ok(Proc { root })
    }

    /// Opens `path` below the root: no symlink, magic link or mount crossed; checked to be on
    /// procfs. openat2 does it in one call; where it is missing or filtered (ENOSYS, EPERM) or
    /// answers EAGAIN, one component at a time with `O_NOFOLLOW`, each checked to be on the
    /// root's procfs (its device).
    fn open_below(&self, path: &CStr, flags: OFlags) -> io::Result<OwnedFd> {
        let resolve =
            ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_XDEV | ResolveFlags::NO_MAGICLINKS;
        let fd = match super::openat2(Base::Dir(self.root.as_fd()), path, flags, resolve) {
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOSYS | libc::EPERM | libc::EAGAIN)
                ) =>
            {
                self.walk_below(path, flags)?
            }
            other => other?,
        };
        if !is_procfs(fd.as_fd())? {
            return Err(not_procfs(&format!("/proc/{}", path.to_string_lossy())));
        }
        Ok(fd)
    }

    fn walk_below(&self, path: &CStr, flags: OFlags) -> io::Result<OwnedFd> {
        let dev = super::fstat(self.root.as_fd())?.dev;
        let parts: Vec<&[u8]> = path.to_bytes().split(|&b| b == b'/').collect();
        let mut current: Option<OwnedFd> = None;
        for (i, part) in parts.iter().enumerate() {
            if part.is_empty() || *part == b"." || *part == b".." {
                return Err(io::Error::from_raw_os_error(libc::EINVAL));
            }
            let name =
                CString::new(*part).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
            let base = current.as_ref().map_or(self.root.as_fd(), |fd| fd.as_fd());
            let last = i + 1 == parts.len();
            let step = if last {
                flags
            } else {
                OFlags::PATH | OFlags::DIRECTORY
            };
            let fd = super::openat(Base::Dir(base), &name, step)?;
            if super::fstat(fd.as_fd())?.dev != dev || !is_procfs(fd.as_fd())? {
                return Err(not_procfs(&format!("/proc/{}", path.to_string_lossy())));
            }
            current = Some(fd);
        }
        current.ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))
    }

    /// The target of the procfs symlink `name` (`self`, `thread-self`), which must be made of
    /// numbers and `/task/`: the directory of this process or thread.
    fn own_dir(&self, name: &CStr) -> io::Result<CString> {
        let mut buf = [0u8; 64];
        let n = match super::readlinkat(self.root.as_fd(), name, &mut buf) {
            // `self` names no process in the procfs of a pid namespace the caller is not in.
            // (`thread-self` missing is an older kernel: the caller falls back to `self`.)
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) && name == c"self" => {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    "/proc/self names no process: /proc is the procfs of another pid namespace; \
                     refusing to read it",
                ))
            }
            other => other?,
        };
        let target = &buf[..n.min(buf.len())];
        let well_formed = n < buf.len()
            && !target.is_empty()
            && target
                .split(|&b| b == b'/')
                .enumerate()
                .all(|(i, part)| match i {
                    0 | 2 => !part.is_empty() && part.iter().all(u8::is_ascii_digit),
                    1 => part == b"task",
                    _ => false,
                });
        if !well_formed {
            return Err(not_procfs(&format!("/proc/{}", name.to_string_lossy())));
        }
        Ok(CString::new(target).expect("digits and slashes"))
    }

    /// The calling thread's directory (`thread-self`; `self` before Linux 3.17), so that a
    /// thread with a mount namespace of its own reads its own.
    fn thread_path(&self, below: &str) -> io::Result<CString> {
        let dir = match self.own_dir(c"thread-self") {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => self.own_dir(c"self")?,
            other => other?,
        };
        let mut path = dir.into_bytes();
        path.push(b'/');
        path.extend_from_slice(below.as_bytes());
        CString::new(path).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
    }

    fn read(&self, path: &CStr) -> io::Result<Vec<u8>> {
        use std::io::Read;
        let fd = self.open_below(path, OFlags::RDONLY)?;
        // 64 KiB to start with: a procfs file says its size is 0, and small reads would each
        // make the kernel walk the mount table again.
        let mut out = Vec::with_capacity(64 << 10);
        std::fs::File::from(fd).read_to_end(&mut out)?;
        Ok(out)
    }

    /// The calling thread's `mountinfo`.
    pub fn mountinfo(&self) -> io::Result<Vec<u8>> {
        self.read(&self.thread_path("mountinfo")?)
    }

    /// The calling thread's `mountinfo`, opened and not read: a watch on its mount namespace.
    /// The kernel notes the namespace's mount events at the open; `mount_table_changed` says
    /// whether any came since (a mount made or taken off, even one that came and went).
    pub fn mount_table_watch(&self) -> io::Result<OwnedFd> {
        self.open_below(&self.thread_path("mountinfo")?, OFlags::RDONLY)
    }

    /// The calling thread's `fdinfo/<fd>`.
    pub fn fdinfo(&self, fd: BorrowedFd<'_>) -> io::Result<Vec<u8>> {
        self.read(&self.thread_path(&format!("fdinfo/{}", fd.as_raw_fd()))?)
    }

    /// This process's `stat`.
    pub fn self_stat(&self) -> io::Result<Vec<u8>> {
        let mut path = self.own_dir(c"self")?.into_bytes();
        path.extend_from_slice(b"/stat");
        self.read(&CString::new(path).expect("no NUL"))
    }

    /// `/proc/locks`.
    pub fn locks(&self) -> io::Result<Vec<u8>> {
        self.read(c"locks")
    }

    /// `/proc/<pid>/comm`.
    pub fn comm(&self, pid: u32) -> io::Result<Vec<u8>> {
        self.read(&CString::new(format!("{pid}/comm")).expect("digits"))
    }

    /// What the kernel says `fd` names: the target of its magic link `fd/<fd>`, a path
    /// relative to this process's root, as mountinfo writes mount points. Read from the
    /// directory `fd/` (opened without following anything), never followed.
    pub fn fd_target_path(&self, fd: BorrowedFd<'_>) -> io::Result<Vec<u8>> {
        let fds = self.open_below(&self.thread_path("fd")?, OFlags::PATH | OFlags::DIRECTORY)?;
        let name = CString::new(fd.as_raw_fd().to_string()).expect("digits");
        let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
        let n = super::readlinkat(fds.as_fd(), &name, &mut buf)?;
        if n >= buf.len() {
            return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
        }
        buf.truncate(n);
        Ok(buf)
    }

    /// The path of `fd`'s magic link, `/proc/<pid>/task/<tid>/fd/<fd>`, for the calls that
    /// take only a path (legacy mount(2), umount2): the kernel follows it to exactly what
    /// `fd` names. /proc is checked first; the call resolves the path again itself.
    pub fn fd_magic_link(&self, fd: BorrowedFd<'_>) -> io::Result<CString> {
        let mut path = b"/proc/".to_vec();
        path.extend_from_slice(
            self.thread_path(&format!("fd/{}", fd.as_raw_fd()))?
                .as_bytes(),
        );
        Ok(CString::new(path).expect("no NUL"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_is_verified_and_read() {
        let proc = Proc::open().expect("/proc is procfs here");
        assert!(!proc.mountinfo().unwrap().is_empty());
        let stat = proc.self_stat().unwrap();
        let pid = std::process::id().to_string();
        assert!(stat.starts_with(pid.as_bytes()));
        let dir = std::fs::File::open("/").unwrap();
        let target = proc.fd_target_path(dir.as_fd()).unwrap();
        assert_eq!(target, b"/");
        assert!(proc.fdinfo(dir.as_fd()).unwrap().starts_with(b"pos:"));
        assert!(proc
            .fd_magic_link(dir.as_fd())
            .unwrap()
            .to_bytes()
            .starts_with(b"/proc/"));
    }

    #[test]
    fn a_directory_that_is_not_procfs_is_refused() {
        // /dev/shm is a tmpfs, / a disk or an overlay: neither is procfs.
        for path in ["/dev/shm", "/", "/sys"] {
            let Ok(dir) = std::fs::File::open(path) else {
                continue;
            };
            let err = Proc::verify(OwnedFd::from(dir)).err().expect(path);
            assert!(err.to_string().contains("not procfs"), "{path}: {err}");
        }
    }

    #[test]
    fn a_procfs_directory_that_is_not_the_root_is_refused() {
        let dir = std::fs::File::open("/proc/self/fdinfo").unwrap();
        let err = Proc::verify(OwnedFd::from(dir))
            .err()
            .expect("not the root");
        assert!(err.to_string().contains("not procfs"), "{err}");
    }
}
