//! Mount syscalls: the new mount API (fsopen, fsconfig, fsmount, open_tree, move_mount,
//! mount_setattr), the legacy mount(2) and umount2, and the facts (statx mount id, statvfs
//! flags, mountinfo through `procfs`) by which a mount is recognised.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::procfs::Proc;
use super::{retry, rx};

/// `struct mount_attr` of mount_setattr(2), first version (libc's is non-exhaustive).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// `MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV`.
pub const PIN_ATTRS: u64 =
    libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV;

/// `mount_setattr(mnt, "", AT_EMPTY_PATH, {attr_set})` (Linux 5.12).
pub fn mount_setattr(mnt: BorrowedFd<'_>, attr_set: u64) -> io::Result<()> {
    let attr = MountAttr {
        attr_set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: `attr` is readable for the size passed.
    retry(|| unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            mnt.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })?;
    Ok(())
}

/// `move_mount(from, "", to, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)`:
/// attaches the detached mount `from` onto the directory `to`, both by fd.
pub fn move_mount(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> io::Result<()> {
    let flags = rustix::mount::MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH
        | rustix::mount::MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH;
    rx(|| rustix::mount::move_mount(from, c"", to, c"", flags))
}

/// Legacy `mount(2)` recursive bind of `src` onto `target`, both named by their magic links
/// in the verified /proc.
pub fn bind_mount(src: BorrowedFd<'_>, target: BorrowedFd<'_>) -> io::Result<()> {
    let proc = Proc::open()?;
    let (src, target) = (proc.fd_magic_link(src)?, proc.fd_magic_link(target)?);
    rx(|| rustix::mount::mount_bind_recursive(src.as_c_str(), target.as_c_str()))
}

/// Legacy remount of the bind mount whose root `mnt` is: read-only, nosuid, nodev.
pub fn remount_pinned(mnt: BorrowedFd<'_>) -> io::Result<()> {
    use rustix::mount::MountFlags as F;
    let target = Proc::open()?.fd_magic_link(mnt)?;
    let flags = F::BIND | F::RDONLY | F::NOSUID | F::NODEV;
    rx(|| rustix::mount::mount_remount(target.as_c_str(), flags, c""))
}

/// `umount2(MNT_DETACH)` of the mount whose root `mnt` is, through its magic link in the
/// verified /proc, so that exactly that mount goes, whatever the path to it is now.
pub fn unmount(mnt: BorrowedFd<'_>) -> io::Result<()> {
    let target = Proc::open()?.fd_magic_link(mnt)?;
    rx(|| rustix::mount::unmount(target.as_c_str(), rustix::mount::UnmountFlags::DETACH))
}

/// What statx says of an fd's place in the mount tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MountFacts {
    pub mnt_id: u64,
    /// The fd names the root of its mount.
    pub is_mount_root: bool,
}

/// `statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID)` (Linux 5.8+): the mount the fd is on, and
/// whether it is that mount's root. ENOSYS where the kernel does not fill the mount id.
pub fn statx_mount(fd: BorrowedFd<'_>) -> io::Result<MountFacts> {
    use rustix::fs::{AtFlags, StatxAttributes, StatxFlags};
    let stx = rx(|| rustix::fs::statx(fd, c"", AtFlags::EMPTY_PATH, StatxFlags::MNT_ID))?;
    if stx.stx_mask & StatxFlags::MNT_ID.bits() == 0 {
        return Err(io::Error::from_raw_os_error(libc::ENOSYS));
    }
    Ok(MountFacts {
        mnt_id: stx.stx_mnt_id,
        is_mount_root: stx.stx_attributes.contains(StatxAttributes::MOUNT_ROOT),
    })
}

/// `statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID_UNIQUE)` (Linux 6.8+): the mount's id that is
/// never reused while the system runs; `None` where the kernel does not fill it.
pub fn statx_unique_mount_id(fd: BorrowedFd<'_>) -> io::Result<Option<u64>> {
    use rustix::fs::{AtFlags, StatxFlags};
    let unique = StatxFlags::from_bits_retain(STATX_MNT_ID_UNIQUE);
    let stx = rx(|| rustix::fs::statx(fd, c"", AtFlags::EMPTY_PATH, unique))?;
    Ok((stx.stx_mask & STATX_MNT_ID_UNIQUE != 0).then_some(stx.stx_mnt_id))
}

/// The `mnt_id:` line of the calling thread's `fdinfo/<fd>` in the verified /proc (Linux
/// 3.15+): the mount id where statx will not give it.
pub fn fdinfo_mnt_id(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let text = Proc::open()?.fdinfo(fd)?;
    String::from_utf8_lossy(&text)
        .lines()
        .find_map(|l| l.strip_prefix("mnt_id:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOSYS))
}

/// The flags of the mount an fd is on, as fstatvfs gives them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MountFlags {
    /// `ST_RDONLY`.
    pub read_only: bool,
    /// `ST_NOSUID`.
    pub nosuid: bool,
    /// `ST_NODEV`.
    pub nodev: bool,
}

impl MountFlags {
    /// Read-only, nosuid and nodev: the flags of a pinned mount.
    pub fn is_pinned(self) -> bool {
        self.read_only && self.nosuid && self.nodev
    }
}

/// `fstatvfs(2)`: the flags of the mount the fd is on.
pub fn mount_flags(fd: BorrowedFd<'_>) -> io::Result<MountFlags> {
    use rustix::fs::StatVfsMountFlags as F;
    let flags = rx(|| rustix::fs::fstatvfs(fd))?.f_flag;
    Ok(MountFlags {
        read_only: flags.contains(F::RDONLY),
        nosuid: flags.contains(F::NOSUID),
        nodev: flags.contains(F::NODEV),
    })
}

/// The bytes of the calling thread's mountinfo, from the verified /proc: a thread may have a
/// mount namespace of its own (unshare or setns on one thread, as Go programs do), where
/// /proc/self's would be the process leader's.
pub fn read_mountinfo() -> io::Result<Vec<u8>> {
    Proc::open()?.mountinfo()
}

/// Whether the mount namespace of a `Proc::mount_table_watch` has had a mount event since the
/// watch was opened: poll(2) answers POLLERR | POLLPRI for a mounts file whose namespace
/// changed (proc(5), /proc/pid/mounts), without generating the table.
pub fn mount_table_changed(watch: BorrowedFd<'_>) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: watch.as_raw_fd(),
        events: libc::POLLPRI,
        revents: 0,
    };
    // SAFETY: `pfd` is writable; a zero timeout never blocks.
    retry(|| unsafe { libc::poll(&mut pfd, 1, 0) as libc::c_long })?;
    Ok(pfd.revents & (libc::POLLERR | libc::POLLPRI) != 0)
}

/// `STATX_MNT_ID_UNIQUE` (Linux 6.8): a mount id never reused while the system runs.
const STATX_MNT_ID_UNIQUE: u32 = 0x4000;
/// statmount(2), Linux 6.8; the same number on every architecture of the generic table.
const SYS_STATMOUNT: libc::c_long = 457;
/// listmount(2), Linux 6.8; the same number on every architecture of the generic table.
const SYS_LISTMOUNT: libc::c_long = 458;
/// `STATMOUNT_SB_BASIC`: the smallest thing statmount can be asked for.
const STATMOUNT_SB_BASIC: u64 = 0x1;
/// `STATMOUNT_MNT_POINT`: the mount point, relative to the process's root.
const STATMOUNT_MNT_POINT: u64 = 0x10;
/// `struct statmount`: where `mnt_point` (a `u32` offset into the strings) is, and where the
/// strings start (the fixed part is 512 bytes in every version: new fields take spare room).
const STATMOUNT_MNT_POINT_AT: usize = 108;
const STATMOUNT_STRINGS_AT: usize = 512;

/// `struct mnt_id_req` of statmount(2), first version.
#[repr(C)]
struct MntIdReq {
    size: u32,
    spare: u32,
    mnt_id: u64,
    param: u64,
}

/// The unique ids of the mounts below the mount of unique id `parent` (listmount(2), Linux
/// 6.8: its children; Linux 6.18 gives the whole subtree, in ascending order), in the calling
/// thread's mount namespace. ENOSYS before Linux 6.8; ENOENT for a mount of another namespace.
pub fn child_mounts(parent: u64) -> io::Result<Vec<u64>> {
    let mut children = Vec::new();
    let mut ids = [0u64; 64];
    loop {
        // Each round asks for the children after the last one the previous round gave.
        let req = MntIdReq {
            size: std::mem::size_of::<MntIdReq>() as u32,
            spare: 0,
            mnt_id: parent,
            param: children.last().copied().unwrap_or(0),
        };
        // SAFETY: `req` is readable for its size, `ids` writable for the count passed.
        let n = retry(|| unsafe {
            libc::syscall(
                SYS_LISTMOUNT,
                &req as *const MntIdReq,
                ids.as_mut_ptr(),
                ids.len(),
                0,
            )
        })? as usize;
        children.extend_from_slice(&ids[..n.min(ids.len())]);
        if n < ids.len() {
            return Ok(children);
        }
    }
}

/// A buffer for `mount_point`: the fixed part of `struct statmount` and a path.
pub fn statmount_buffer() -> Vec<u64> {
    vec![0u64; (STATMOUNT_STRINGS_AT + libc::PATH_MAX as usize + 8) / 8]
}

/// Where the mount of unique id `id` is, relative to the process's root (statmount(2)
/// `STATMOUNT_MNT_POINT`, Linux 6.8), as mountinfo would write it unescaped; `buf` from
/// `statmount_buffer`, reused from call to call.
pub fn mount_point(id: u64, buf: &mut [u64]) -> io::Result<&[u8]> {
    let req = MntIdReq {
        size: std::mem::size_of::<MntIdReq>() as u32,
        spare: 0,
        mnt_id: id,
        param: STATMOUNT_MNT_POINT,
    };
    let len = std::mem::size_of_val(buf);
    // SAFETY: `req` is readable for its size, `buf` writable for the size passed.
    retry(|| unsafe {
        libc::syscall(
            SYS_STATMOUNT,
            &req as *const MntIdReq,
            buf.as_mut_ptr(),
            len,
            0,
        )
    })?;
    // SAFETY: u64s are bytes; the slice covers exactly `buf`'s memory.
    let bytes: &[u8] = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), len) };
    let u32_at =
        |at: usize| u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    // `size` (u32 at 0), `mask` (u64 at 8, the buffer's second word), `mnt_point` (u32).
    let (size, mask) = (u32_at(0) as usize, buf[1]);
    let start = STATMOUNT_STRINGS_AT + u32_at(STATMOUNT_MNT_POINT_AT) as usize;
    let answered = mask & STATMOUNT_MNT_POINT != 0 && start < size.min(len);
    let point = answered
        .then(|| &bytes[start..size.min(len)])
        .and_then(|rest| rest.split(|&b| b == 0).next())
        .filter(|p| p.starts_with(b"/"))
        .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOSYS))?;
    Ok(point)
}

/// Whether the mount of unique id `id` is attached in this mount namespace: statmount
/// answers ENOENT for a mount that is gone. ENOSYS before Linux 6.8.
pub fn unique_mount_exists(id: u64) -> io::Result<bool> {
    let req = MntIdReq {
        size: std::mem::size_of::<MntIdReq>() as u32,
        spare: 0,
        mnt_id: id,
        param: STATMOUNT_SB_BASIC,
    };
    let mut buf = [0u64; 512];
    // SAFETY: `req` is readable for its size, `buf` writable for the size passed.
    let r = retry(|| unsafe {
        libc::syscall(
            SYS_STATMOUNT,
            &req as *const MntIdReq,
            buf.as_mut_ptr(),
            std::mem::size_of_val(&buf),
            0,
        )
    });
    match r {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}
