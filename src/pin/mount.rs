//! The read-only bind mount layer: the directory mounted onto itself read-only, nosuid,
//! nodev. It needs CAP_SYS_ADMIN instead of CAP_LINUX_IMMUTABLE, and pins the entries as well
//! (EROFS on create, remove, rename and on writes to the regular files), while writes through
//! the links into the data directory, another mount, go on working.
//!
//! The new mount API does it by fd alone (open_tree, mount_setattr, move_mount): no path is
//! resolved twice. Where it is missing (ENOSYS), mount(2) binds by procfs fd paths and the
//! remount goes to the new mount found by a fresh walk, checked by fd (mount id, inode).
//!
//! The protection lives in the caller's mount namespace. A process that held a descriptor
//! on the directory before the freeze keeps its writable view through it: freeze before the
//! sandbox's processes start.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::mountinfo;
use super::{refusal, Outcome};
use crate::report::Action;
use crate::sys::{self, mount as m};

/// Which mount API pins. `Legacy` forces the mount(2) fallback, so that it is tested.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MountApi {
    #[default]
    NewOrLegacy,
    Legacy,
}

/// At most this many of nc-harden's mounts are taken off one directory by one unfreeze.
const MAX_STACKED: usize = 8;

/// Whether `dir` (an fd resolved by path: the top of the mounts on that path) is the root of
/// nc-harden's mount: a read-only, nosuid, nodev bind of the directory onto itself.
pub fn is_pin_mount(dir: BorrowedFd<'_>) -> io::Result<bool> {
    let facts = m::mount_facts(dir)?;
    if !facts.is_mount_root || m::mount_flags(dir)? != (true, true, true) {
        return Ok(false);
    }
    let text = m::read_mountinfo()?;
    let Some(mount) = mountinfo::find(&text, facts.mnt_id) else {
        return Ok(false);
    };
    let Some(parent) = mountinfo::find(&text, mount.parent) else {
        return Ok(false);
    };
    Ok(
        mountinfo::has_options(&mount.options, &[b"ro", b"nosuid", b"nodev"])
            && mountinfo::is_self_bind(&mount, &parent),
    )
}

/// What the layer did: the outcome, and the root of the mount when this call attached it.
pub struct Pinned {
    pub outcome: Outcome,
    pub mount: Option<OwnedFd>,
}

/// Mounts `dir` read-only onto itself, then checks from outside (a fresh walk by `reopen`)
/// that the path now leads to that mount, read-only, and to the same directory.
pub fn pin(
    dir: BorrowedFd<'_>,
    reopen: &dyn Fn() -> io::Result<OwnedFd>,
    api: MountApi,
) -> io::Result<Pinned> {
    if is_pin_mount(dir)? {
        return Ok(Pinned {
            outcome: Outcome::new(Action::AlreadyFrozen),
            mount: None,
        });
    }
    let attached = match api {
        MountApi::NewOrLegacy => match attach_new(dir) {
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => attach_legacy(dir, reopen),
            other => other,
        },
        MountApi::Legacy => attach_legacy(dir, reopen),
    };
    let mount = match attached {
        Ok(mount) => mount,
        Err(e) => {
            return Ok(Pinned {
                outcome: refusal(e)?,
                mount: None,
            })
        }
    };
    if let Err(e) = check_from_outside(dir, &mount, reopen) {
        let _ = m::unmount(mount.as_fd());
        return Err(e);
    }
    Ok(Pinned {
        outcome: Outcome::new(Action::Frozen),
        mount: Some(mount),
    })
}

fn attach_new(dir: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let tree = m::open_tree_clone(dir)?;
    m::mount_setattr(tree.as_fd(), m::PIN_ATTRS)?;
    m::move_mount(tree.as_fd(), dir)?;
    Ok(tree)
}

fn attach_legacy(
    dir: BorrowedFd<'_>,
    reopen: &dyn Fn() -> io::Result<OwnedFd>,
) -> io::Result<OwnedFd> {
    let under = m::mount_facts(dir)?.mnt_id;
    m::bind_mount(dir, dir)?;
    let top = reopen()?;
    let changed = io::Error::from_raw_os_error(libc::ESTALE);
    let fresh = m::mount_facts(top.as_fd())?;
    if fresh.mnt_id == under
        || !fresh.is_mount_root
        || !sys::fstat(top.as_fd())?.same_inode(&sys::fstat(dir)?)
    {
        // The path no longer leads to the directory (a parent was renamed in between): the
        // bind stays on the real directory, where nobody can reach it by fd to take it off.
        // The error says so; the new mount API, which has no such window, is the norm.
        return Err(changed);
    }
    if let Err(e) = m::remount_pinned(top.as_fd()) {
        let _ = m::unmount(top.as_fd());
        return Err(e);
    }
    Ok(top)
}

fn check_from_outside(
    dir: BorrowedFd<'_>,
    mount: &OwnedFd,
    reopen: &dyn Fn() -> io::Result<OwnedFd>,
) -> io::Result<()> {
    let top = reopen()?;
    let ours = m::mount_facts(mount.as_fd())?.mnt_id;
    let ok = m::mount_facts(top.as_fd())?.mnt_id == ours
        && m::mount_flags(top.as_fd())? == (true, true, true)
        && sys::fstat(top.as_fd())?.same_inode(&sys::fstat(dir)?);
    if ok {
        Ok(())
    } else {
        // The path leads elsewhere now: the directory was moved (ESTALE says "moved").
        Err(io::Error::from_raw_os_error(libc::ESTALE))
    }
}

/// Takes nc-harden's mounts off the directory (and only those): Unfrozen, Checked where
/// there was none, Denied without CAP_SYS_ADMIN.
pub fn unpin(reopen: &dyn Fn() -> io::Result<OwnedFd>) -> io::Result<Outcome> {
    let mut removed = false;
    for _ in 0..MAX_STACKED {
        let top = reopen()?;
        if !is_pin_mount(top.as_fd())? {
            break;
        }
        if let Err(e) = m::unmount(top.as_fd()) {
            return refusal(e);
        }
        removed = true;
    }
    Ok(Outcome::new(if removed {
        Action::Unfrozen
    } else {
        Action::Checked
    }))
}

/// Takes off the mount this call attached (a failed validation).
pub fn rollback(mount: &OwnedFd) -> io::Result<()> {
    m::unmount(mount.as_fd())
}
