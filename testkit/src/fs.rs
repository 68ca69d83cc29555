//! Scratch directories that clean up after themselves, filesystems mounted inside them, and
//! an independent reading of the immutable flag.
//!
//! A `Scratch` owns one temporary directory. Dropping it (also while a test panics) detaches
//! every mount made in it, clears every immutable flag below it and removes it. Mounts are
//! only ever made by processes that entered a private mount namespace first
//! (`privilege::enter_private_mount_namespace`), so none is seen outside the test process.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const FS_IMMUTABLE_FL: libc::c_int = 0x10;
const FS_XFLAG_IMMUTABLE: u64 = 0x8;
const SYS_FILE_GETATTR: libc::c_long = 468;
const SYS_FILE_SETATTR: libc::c_long = 469;

fn cpath(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn check(r: libc::c_long) -> io::Result<libc::c_long> {
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Opens a directory or regular file without following a link or blocking.
fn open_inode(path: &Path) -> io::Result<OwnedFd> {
    let meta = fs::symlink_metadata(path)?;
    if !(meta.is_dir() || meta.is_file()) {
        return Err(io::Error::from_raw_os_error(libc::ENOTTY));
    }
    let flags =
        libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;
    let p = cpath(path)?;
    // SAFETY: `p` is NUL-terminated.
    let fd = check(unsafe { libc::open(p.as_ptr(), flags) } as libc::c_long)?;
    // SAFETY: `fd` was just opened and is owned by nobody else.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd as i32) })
}

fn get_flags(fd: &OwnedFd) -> io::Result<libc::c_int> {
    let mut flags: libc::c_int = 0;
    // SAFETY: FS_IOC_GETFLAGS writes one int.
    check(
        unsafe { libc::ioctl(fd.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) } as libc::c_long,
    )?;
    Ok(flags)
}

/// Whether FS_IMMUTABLE_FL is set on a directory or regular file (for a symlink: whether
/// FS_XFLAG_IMMUTABLE is set on its own inode, `false` where the filesystem has none).
pub fn immutable_flag(path: &Path) -> io::Result<bool> {
    let meta = fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Ok(symlink_xflags(path)?.0 & FS_XFLAG_IMMUTABLE != 0);
    }
    if !(meta.is_dir() || meta.is_file()) {
        // FIFOs, sockets and devices carry no flag nc-harden could set; never open them.
        return Ok(false);
    }
    let fd = open_inode(path)?;
    match get_flags(&fd) {
        Ok(flags) => Ok(flags & FS_IMMUTABLE_FL != 0),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTTY | libc::EOPNOTSUPP)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `struct file_attr` of file_getattr(2).
#[repr(C)]
#[derive(Default)]
struct FileAttr(u64, u32, u32, u32, u32);

fn symlink_xflags(path: &Path) -> io::Result<FileAttr> {
    let p = cpath(path)?;
    let mut attr = FileAttr::default();
    // SAFETY: `attr` is writable for its size; `p` is NUL-terminated.
    let r = unsafe {
        libc::syscall(
            SYS_FILE_GETATTR,
            libc::AT_FDCWD,
            p.as_ptr(),
            &mut attr as *mut FileAttr,
            std::mem::size_of::<FileAttr>(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    match check(r) {
        Ok(_) => Ok(attr),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EOPNOTSUPP | libc::ENOSYS | libc::ENOTTY)
            ) =>
        {
            Ok(FileAttr::default())
        }
        Err(e) => Err(e),
    }
}

/// Clears the immutable flag of one inode if it is set; Ok where there are no flags.
pub fn clear_immutable(path: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        let mut attr = symlink_xflags(path)?;
        if attr.0 & FS_XFLAG_IMMUTABLE != 0 {
            attr.0 &= !FS_XFLAG_IMMUTABLE;
            let p = cpath(path)?;
            // SAFETY: `attr` is readable for its size; `p` is NUL-terminated.
            check(unsafe {
                libc::syscall(
                    SYS_FILE_SETATTR,
                    libc::AT_FDCWD,
                    p.as_ptr(),
                    &attr as *const FileAttr,
                    std::mem::size_of::<FileAttr>(),
                    libc::AT_SYMLINK_NOFOLLOW,
                )
            })?;
        }
        return Ok(());
    }
    if !(meta.is_dir() || meta.is_file()) {
        return Ok(());
    }
    let fd = open_inode(path)?;
    let flags = match get_flags(&fd) {
        Ok(flags) => flags,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTTY | libc::EOPNOTSUPP)) => {
            return Ok(())
        }
        Err(e) => return Err(e),
    };
    if flags & FS_IMMUTABLE_FL != 0 {
        let new = flags & !FS_IMMUTABLE_FL;
        // SAFETY: FS_IOC_SETFLAGS reads one int.
        check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::FS_IOC_SETFLAGS, &new) } as libc::c_long)?;
    }
    Ok(())
}

/// Clears every immutable flag at and below `path`, staying on its filesystem.
pub fn clear_immutable_tree(path: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    clear_immutable(path)?;
    if meta.is_dir() {
        for entry in fs::read_dir(path)? {
            let entry = entry?;
            let child = entry.path();
            let child_meta = fs::symlink_metadata(&child)?;
            if std::os::unix::fs::MetadataExt::dev(&child_meta)
                == std::os::unix::fs::MetadataExt::dev(&meta)
            {
                clear_immutable_tree(&child)?;
            } else {
                clear_immutable(&child)?;
            }
        }
    }
    Ok(())
}

/// A filesystem to mount inside a scratch directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsKind {
    /// The filesystem the temporary directory is on (no mount).
    Disk,
    Tmpfs,
    Ramfs,
    /// A fresh ext4 image on a loop device.
    Ext4,
    /// A fresh XFS image on a loop device (xfsprogs).
    Xfs,
    /// A fresh btrfs image on a loop device (btrfs-progs).
    Btrfs,
    /// overlayfs with its lower, upper and work directories on a fresh ext4 image, as a
    /// container's root is.
    Overlay,
}

impl FsKind {
    pub fn name(self) -> &'static str {
        match self {
            FsKind::Disk => "disk",
            FsKind::Tmpfs => "tmpfs",
            FsKind::Ramfs => "ramfs",
            FsKind::Ext4 => "ext4",
            FsKind::Xfs => "xfs",
            FsKind::Btrfs => "btrfs",
            FsKind::Overlay => "overlay",
        }
    }
}

/// A temporary directory that takes everything made in it away when dropped.
pub struct Scratch {
    root: PathBuf,
    mounts: Vec<PathBuf>,
}

impl Scratch {
    /// A new empty directory, mode 0755, under the system's temporary directory.
    pub fn new(tag: &str) -> io::Result<Scratch> {
        Scratch::new_in(&std::env::temp_dir(), tag)
    }

    /// A new empty directory, mode 0755, inside `parent` (another scratch's area, say).
    pub fn new_in(parent: &Path, tag: &str) -> io::Result<Scratch> {
        let template = parent.join(format!("nc-harden-{tag}-XXXXXX"));
        let mut bytes = cpath(&template)?.into_bytes_with_nul();
        // SAFETY: `bytes` is a writable NUL-terminated template ending in XXXXXX.
        if unsafe { libc::mkdtemp(bytes.as_mut_ptr().cast()) }.is_null() {
            return Err(io::Error::last_os_error());
        }
        bytes.pop();
        let root =
            PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(bytes));
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755))?;
        Ok(Scratch {
            root,
            mounts: Vec::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    /// A directory inside the scratch on a fresh filesystem of `kind` (for `Disk`, a plain
    /// subdirectory). Needs a private mount namespace for every kind but `Disk`.
    pub fn area(&mut self, kind: FsKind) -> io::Result<PathBuf> {
        let target = self
            .root
            .join(format!("{}-{}", kind.name(), self.mounts.len()));
        fs::create_dir(&target)?;
        fs::set_permissions(&target, fs::Permissions::from_mode(0o755))?;
        match kind {
            FsKind::Disk => return Ok(target),
            FsKind::Tmpfs | FsKind::Ramfs => mount_fs(kind.name(), &target, "mode=0755")?,
            FsKind::Ext4 | FsKind::Xfs | FsKind::Btrfs => {
                let (mkfs, args, size): (&str, &[&str], u64) = match kind {
                    FsKind::Ext4 => ("mkfs.ext4", &["-q", "-F"], 64),
                    FsKind::Xfs => ("mkfs.xfs", &["-q", "-f"], 320),
                    _ => ("mkfs.btrfs", &["-q", "-f"], 128),
                };
                let image = self
                    .root
                    .join(format!("{}-{}.img", kind.name(), self.mounts.len()));
                fs::File::create(&image)?.set_len(size << 20)?;
                run(Command::new(mkfs).args(args).arg(&image))?;
                run(Command::new("mount")
                    .args(["-o", "loop"])
                    .arg(&image)
                    .arg(&target))?;
                fs::set_permissions(&target, fs::Permissions::from_mode(0o755))?;
            }
            FsKind::Overlay => {
                let base = self.area(FsKind::Ext4)?;
                let dirs: Vec<PathBuf> = ["lower", "upper", "work"]
                    .iter()
                    .map(|d| base.join(d))
                    .collect();
                for d in &dirs {
                    fs::create_dir(d)?;
                }
                let data = format!(
                    "lowerdir={},upperdir={},workdir={}",
                    dirs[0].display(),
                    dirs[1].display(),
                    dirs[2].display()
                );
                mount_fs("overlay", &target, &data)?;
                fs::set_permissions(&target, fs::Permissions::from_mode(0o755))?;
            }
        }
        self.mounts.push(target.clone());
        Ok(target)
    }
}

fn run(cmd: &mut Command) -> io::Result<()> {
    let out = cmd.output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// mount(2) of a virtual filesystem (`tmpfs`, `ramfs`) on `target`.
pub fn mount_fs(fstype: &str, target: &Path, data: &str) -> io::Result<()> {
    let (src, t, ty, d) = (
        CString::new(fstype)?,
        cpath(target)?,
        CString::new(fstype)?,
        CString::new(data)?,
    );
    // SAFETY: all strings are NUL-terminated.
    check(
        unsafe { libc::mount(src.as_ptr(), t.as_ptr(), ty.as_ptr(), 0, d.as_ptr().cast()) }
            as libc::c_long,
    )?;
    Ok(())
}

/// A bind mount of `src` onto `target`, remounted read-only when `readonly`.
pub fn bind(src: &Path, target: &Path, readonly: bool) -> io::Result<()> {
    let (s, t) = (cpath(src)?, cpath(target)?);
    // SAFETY: NUL-terminated paths; NULL type and data are allowed for binds.
    check(unsafe {
        libc::mount(
            s.as_ptr(),
            t.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    } as libc::c_long)?;
    if readonly {
        let flags =
            libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV;
        // SAFETY: as above.
        check(unsafe {
            libc::mount(
                std::ptr::null(),
                t.as_ptr(),
                std::ptr::null(),
                flags,
                std::ptr::null(),
            )
        } as libc::c_long)?;
    }
    Ok(())
}

/// A bind mount of `src` onto `target`, remounted read-write: a bind of a read-only mount is
/// read-only until then.
pub fn bind_writable(src: &Path, target: &Path) -> io::Result<()> {
    bind(src, target, false)?;
    let t = cpath(target)?;
    // SAFETY: a NUL-terminated path; NULL source, type and data are allowed for a remount.
    check(unsafe {
        libc::mount(
            std::ptr::null(),
            t.as_ptr(),
            std::ptr::null(),
            libc::MS_REMOUNT | libc::MS_BIND,
            std::ptr::null(),
        )
    } as libc::c_long)?;
    Ok(())
}

/// A mount as /proc/self/mountinfo lists it, read here independently of nc-harden.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountEntry {
    pub id: u64,
    pub root: Vec<u8>,
    pub mount_point: Vec<u8>,
    pub options: String,
}

impl MountEntry {
    pub fn read_only(&self) -> bool {
        self.options.split(',').any(|o| o == "ro")
    }
}

fn unescape_octal(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'\\'
            && i + 4 <= field.len()
            && field[i + 1..i + 4].iter().all(u8::is_ascii_digit)
        {
            out.push(
                u8::from_str_radix(std::str::from_utf8(&field[i + 1..i + 4]).unwrap_or("0"), 8)
                    .unwrap_or(0),
            );
            i += 4;
        } else {
            out.push(field[i]);
            i += 1;
        }
    }
    out
}

/// Every mount of this process's namespace, in mountinfo order (a later one on the same
/// mount point is on top of an earlier one).
pub fn mounts() -> io::Result<Vec<MountEntry>> {
    let text = fs::read("/proc/self/mountinfo")?;
    Ok(text
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            let f: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
            Some(MountEntry {
                id: std::str::from_utf8(f.first()?).ok()?.parse().ok()?,
                root: unescape_octal(f.get(3)?),
                mount_point: unescape_octal(f.get(4)?),
                options: String::from_utf8_lossy(f.get(5)?).into_owned(),
            })
        })
        .collect())
}

/// The mounts whose mount point is `path`, bottom first.
pub fn mounts_at(path: &Path) -> io::Result<Vec<MountEntry>> {
    let path = path.as_os_str().as_bytes();
    Ok(mounts()?
        .into_iter()
        .filter(|m| m.mount_point == path)
        .collect())
}

/// umount2(MNT_DETACH | UMOUNT_NOFOLLOW): the top mount on `target`, which may be a symlink
/// with something mounted over it.
pub fn unmount(target: &Path) -> io::Result<()> {
    let t = cpath(target)?;
    let flags = libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW;
    // SAFETY: `t` is NUL-terminated.
    check(unsafe { libc::umount2(t.as_ptr(), flags) } as libc::c_long)?;
    Ok(())
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Whatever a failed test left mounted below the scratch (a read-only bind of a
        // layout, say) goes first, deepest first; then the mounts the scratch made itself.
        let root = self.root.as_os_str().as_bytes().to_vec();
        let below = |m: &MountEntry| {
            m.mount_point.starts_with(&root) && m.mount_point.get(root.len()) == Some(&b'/')
        };
        for _ in 0..64 {
            let Ok(all) = mounts() else { break };
            let mut left: Vec<MountEntry> = all
                .into_iter()
                .filter(|m| {
                    below(m)
                        && !self
                            .mounts
                            .iter()
                            .any(|t| t.as_os_str().as_bytes() == m.mount_point.as_slice())
                })
                .collect();
            let Some(deepest) = left.pop() else { break };
            let _ = unmount(Path::new(std::ffi::OsStr::from_bytes(&deepest.mount_point)));
        }
        // Flags first: an immutable directory cannot be unmounted from or removed.
        let _ = clear_immutable_tree(&self.root);
        for target in self.mounts.iter().rev() {
            let _ = clear_immutable_tree(target);
            let _ = unmount(target);
        }
        let _ = clear_immutable_tree(&self.root);
        if let Err(e) = fs::remove_dir_all(&self.root) {
            eprintln!(
                "nc-harden testkit: could not remove {}: {e}",
                self.root.display()
            );
        }
    }
}

/// Mounts `src` (a file, directory or symlink, never followed) over `target` (never
/// followed either: a symlink can be a mount point), by the new mount API, as a runtime's
/// `-v host.json:/dir/openclaw.json` or a Kubernetes `subPath` puts a file over an entry.
pub fn mount_over(src: &Path, target: &Path) -> io::Result<()> {
    let (s, t) = (cpath(src)?, cpath(target)?);
    let flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | libc::AT_SYMLINK_NOFOLLOW as u32;
    // SAFETY: a NUL-terminated path and integer flags.
    let tree =
        check(unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, s.as_ptr(), flags) })?;
    // SAFETY: `tree` was just returned and is owned by nobody else.
    let tree: OwnedFd = unsafe { std::os::fd::FromRawFd::from_raw_fd(tree as i32) };
    let flags = libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: `t` is NUL-terminated.
    let to = check(unsafe { libc::open(t.as_ptr(), flags) } as libc::c_long)?;
    // SAFETY: as above.
    let to: OwnedFd = unsafe { std::os::fd::FromRawFd::from_raw_fd(to as i32) };
    // SAFETY: empty NUL-terminated paths with the EMPTY_PATH flags.
    check(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            to.as_raw_fd(),
            c"".as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH | libc::MOVE_MOUNT_T_EMPTY_PATH,
        )
    })?;
    Ok(())
}
