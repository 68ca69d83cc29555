//! The read-only mount layer: a fresh directory (a detached tmpfs sized from what `dir` holds,
//! `FreshDirectory`) filled with copies of the entries, made read-only, nosuid, nodev, and
//! attached over `dir`. It needs CAP_SYS_ADMIN instead of CAP_LINUX_IMMUTABLE, and pins the
//! entries as well (EROFS on create, remove, rename and on writes to the regular files, which
//! are fresh inodes no earlier descriptor reaches), while writes through the links into the
//! data directory, another mount, go on working.
//!
//! The new mount API does it by fd alone (fsopen, fsmount, mount_setattr, move_mount): no path
//! is resolved twice. Where it is missing (ENOSYS, or a seccomp profile), the directory is
//! bound read-only onto itself by mount(2) through procfs fd paths, and the remount goes to
//! the new mount found by a fresh walk, checked by fd (mount id, inode).
//!
//! A mount is nc-harden's by identity: the id recorded when it was made (`record`), never
//! by its shape. So an administrator's own read-only bind is never taken off, a mount of
//! ours is never stacked on another of ours, and one covered by a foreign mount is left
//! alone with a status that says so.
//!
//! The protection lives in the caller's mount namespace, and holds against processes
//! without CAP_SYS_ADMIN and CAP_DAC_READ_SEARCH (open_by_handle_at reaches the directory
//! through another mount of its filesystem) and with no other mount of the same directory.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::mountinfo::{self, MountInfo};
use super::record::{self, Record};
use super::{denial, Outcome};
use crate::error::Error;
use crate::escape::escape_bytes;
use crate::inode::FileKind;
use crate::report::Action;
use crate::sys::{self, mount as m};

/// Which mount API pins: the new one, and mount(2) where fsopen is missing. The test-only
/// feature `__test-knobs` adds `Legacy`, which forces the mount(2) fallback so that it is
/// tested; release builds have no way to ask for it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MountApi {
    #[default]
    NewOrLegacy,
    #[cfg(feature = "__test-knobs")]
    Legacy,
}

impl MountApi {
    /// Whether the mount(2) fallback is forced (never, without `__test-knobs`).
    pub(crate) fn forces_legacy(self) -> bool {
        self != MountApi::NewOrLegacy
    }
}

/// What the path shows, as far as nc-harden's mount goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MountState {
    /// The top of the mounts on the path is nc-harden's, made by a freeze of `frozen_as`
    /// (the path then: the directory may have been moved since). `read_only` false: someone
    /// with CAP_SYS_ADMIN remounted it read-write.
    Ours { frozen_as: Vec<u8>, read_only: bool },
    /// nc-harden has no mount on the path.
    Absent,
    /// nc-harden's mount is there, but a mount it did not make is on top of it.
    Covered,
}

/// Resolves the directory afresh by path: the top of the mounts on it.
pub type Reopen<'a> = &'a dyn Fn() -> Result<OwnedFd, Error>;

/// The source name of nc-harden's fresh directories (a tmpfs), as mountinfo shows it.
/// Only a process with CAP_SYS_ADMIN can make a mount, so none of the threat model can
/// make one so named; a record in the state directory, which root without capabilities can
/// write, is never enough on its own.
pub const SOURCE: &[u8] = b"nc-harden";

fn io(what: &str) -> impl FnOnce(io::Error) -> Error + '_ {
    move |e| Error::io(what, e)
}

/// Which mounts of nc-harden's a call can find on a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OurMounts {
    /// Its fresh directories alone (the new mount API is there).
    FreshOnly,
    /// Also a plain read-only bind that a record names (the mount(2) fallback made it).
    WithLegacyBinds,
}

/// What the mount API offers this call: asked once per operation (`probe`) and passed down,
/// never kept for the process (a seccomp filter loaded on one thread, or a later call in a
/// thread that moved, may answer otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MountSupport {
    /// fsopen is there and the new API is not forced off.
    NewApi,
    /// The mount(2) fallback is forced (`MountApi::Legacy`), or the kernel has no fsopen
    /// (before Linux 5.2, or a seccomp profile that hides it).
    LegacyOnly,
}

impl MountSupport {
    /// Probes fsopen once (unless `api` forces the fallback).
    pub fn probe(api: MountApi) -> Self {
        if api.forces_legacy() || sys::files::fsopen_probe().is_err() {
            MountSupport::LegacyOnly
        } else {
            MountSupport::NewApi
        }
    }

    /// Which mounts can be nc-harden's here: also legacy binds where only the mount(2)
    /// fallback is there. Only then is a record that names a plain read-only bind taken for
    /// identity; elsewhere a record (which root without capabilities can write) never makes
    /// a mount ours on its own.
    pub fn our_mounts(self) -> OurMounts {
        match self {
            MountSupport::NewApi => OurMounts::FreshOnly,
            MountSupport::LegacyOnly => OurMounts::WithLegacyBinds,
        }
    }
}

/// Whether `top` (the directory resolved by `path`: the top of the mounts there) is
/// nc-harden's mount: the fresh directory it made (a tmpfs named `SOURCE`, its root at the
/// path, and the very mount the record of the path names, where there is a live one), or,
/// with `OurMounts::WithLegacyBinds`, a bind that a record names by its ids and that has the
/// read-only shape. Read-only: a stale record is only ignored here.
pub fn state(path: &[u8], top: BorrowedFd<'_>, kinds: OurMounts) -> Result<MountState, Error> {
    let reading = || io("reading the directory's mount");
    let facts = crate::pin::mountinfo::mount_facts(top).map_err(reading())?;
    let records = record::all().map_err(io("reading nc-harden's mount records"))?;
    // Ours, at the path or beneath another mount there, is always a mount root; one beneath
    // a mount that covers an ancestor of the path is found by its record (recorded before it
    // is attached). Without either, mountinfo (some 50 us to generate) has nothing to add.
    if !facts.is_mount_root && !records.iter().any(|(p, _)| is_at_or_above(p, path)) {
        return Ok(MountState::Absent);
    }
    let ids = crate::pin::mountinfo::mount_ids(top).map_err(reading())?;
    let flags = m::mount_flags(top).map_err(reading())?;
    let meta = sys::fstat(top).map_err(io("examining the directory"))?;
    let text = m::read_mountinfo().map_err(io("reading mountinfo"))?;
    let mounts: Vec<MountInfo> = mountinfo::all(&text).collect();
    let names_top = |rec: &Record| match (rec.unique, ids.unique) {
        (Some(recorded), Some(now)) => recorded == now,
        _ => rec.legacy == ids.legacy,
    };
    let mut live = Vec::new();
    for (p, rec) in records {
        if still_attached(&rec, &mounts)? {
            live.push((p, rec));
        }
    }
    let naming_top = live.iter().find(|(_, rec)| names_top(rec));
    let of_path = live.iter().find(|(p, _)| p == path);
    let fresh = |m: &MountInfo| m.fstype == b"tmpfs" && m.source == SOURCE && m.root == b"/";
    let top_info = mounts.iter().find(|m| m.id == facts.mnt_id);
    let frozen_as = naming_top.map_or(path.to_vec(), |(p, _)| p.clone());
    let ours = if facts.is_mount_root && top_info.is_some_and(fresh) {
        // A bind of our fresh directory stacked on it has the same name: the record of the
        // path, where there is one, says which of them is ours.
        of_path.map_or(true, |(_, rec)| names_top(rec))
    } else {
        kinds == OurMounts::WithLegacyBinds
            && facts.is_mount_root
            && flags.is_pinned()
            && naming_top.is_some_and(|(_, rec)| meta.dev == rec.dev && meta.ino == rec.ino)
    };
    if ours {
        return Ok(MountState::Ours {
            frozen_as,
            read_only: flags.read_only,
        });
    }
    // Ours beneath another: a fresh directory of ours at the same mount point as the top, or
    // the live record of the path naming another mount.
    let beneath = top_info.is_some_and(|top| {
        mounts
            .iter()
            .any(|m| m.id != top.id && fresh(m) && m.mount_point == top.mount_point)
    });
    if beneath || of_path.is_some() {
        Ok(MountState::Covered)
    } else {
        Ok(MountState::Absent)
    }
}

/// Whether the recorded path `recorded` is `path` or one of its ancestors.
fn is_at_or_above(recorded: &[u8], path: &[u8]) -> bool {
    let recorded = recorded.strip_suffix(b"/").unwrap_or(recorded);
    path == recorded
        || (path.starts_with(recorded) && path.get(recorded.len()) == Some(&b'/'))
        || recorded.is_empty()
}

/// Whether the recorded mount is still attached somewhere in this namespace.
fn still_attached(rec: &Record, mounts: &[MountInfo]) -> Result<bool, Error> {
    if let Some(unique) = rec.unique {
        match m::unique_mount_exists(unique) {
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {}
            other => return other.map_err(io("looking for nc-harden's mount")),
        }
    }
    Ok(mounts.iter().any(|m| m.id == rec.legacy))
}

/// Whether the mount `mnt` sits right on a fresh directory of nc-harden's at the same place.
fn stacked_on_ours(mnt: BorrowedFd<'_>) -> Result<bool, Error> {
    let id = crate::pin::mountinfo::mount_facts(mnt)
        .map_err(io("reading the mount"))?
        .mnt_id;
    let text = m::read_mountinfo().map_err(io("reading mountinfo"))?;
    let mounts: Vec<MountInfo> = mountinfo::all(&text).collect();
    let Some(ours) = mounts.iter().find(|m| m.id == id) else {
        return Ok(false);
    };
    Ok(mounts.iter().any(|m| {
        m.id == ours.parent
            && m.mount_point == ours.mount_point
            && m.fstype == b"tmpfs"
            && m.source == SOURCE
            && m.root == b"/"
    }))
}

/// Makes nc-harden's mount, whose root `top` is, read-only again (someone with CAP_SYS_ADMIN
/// remounted it read-write).
pub fn make_read_only(top: BorrowedFd<'_>) -> Result<(), Error> {
    read_only(|| m::mount_setattr(top, m::PIN_ATTRS))
        .map_err(io("making nc-harden's mount read-only again"))
}

/// Whether a mount nc-harden did not make lies inside its mount `top` (a runtime's file
/// mounted over an entry after the freeze): taking nc-harden's off would take that too.
pub fn has_submounts(top: BorrowedFd<'_>) -> Result<bool, Error> {
    let id = crate::pin::mountinfo::mount_facts(top)
        .map_err(io("reading the directory's mount"))?
        .mnt_id;
    let text = m::read_mountinfo().map_err(io("reading mountinfo"))?;
    let found = mountinfo::all(&text).any(|m| m.parent == id);
    Ok(found)
}

/// The error of a call that finds nc-harden's mount covered by another.
pub fn covered(path: &[u8]) -> Error {
    Error::UnsafePath {
        path: escape_bytes(path),
        why: "nc-harden's read-only mount of this path is still attached, but the path shows \
              a mount nc-harden did not make (stacked on top of it), or the directory was \
              moved; nothing changed (take the other mount off first)"
            .into(),
    }
}

/// The error of a call whose directory moved under it.
fn moved(path: &[u8]) -> Error {
    Error::UnsafePath {
        path: escape_bytes(path),
        why: "the directory was moved or replaced during the call; nothing left changed".into(),
    }
}

/// What the layer did: the outcome, and the root of the mount when this call attached it.
pub struct Pinned {
    pub outcome: Outcome,
    pub mount: Option<OwnedFd>,
}

/// The mount layer where the new mount API is missing (before Linux 5.2): `dir` bound
/// read-only onto itself by mount(2), the mount recorded, then checked from outside (a fresh
/// walk by `reopen`): the path must lead to that mount, read-only, and to the same
/// directory. (Descriptors of the directory opened before the call keep its writable side
/// here: the fresh directory of `FreshDirectory` needs fsopen.)
pub fn pin_legacy(path: &[u8], dir: BorrowedFd<'_>, reopen: Reopen<'_>) -> Result<Pinned, Error> {
    let meta = sys::fstat(dir).map_err(io("examining the directory"))?;
    let mount = match attach_legacy(path, dir, &meta, reopen) {
        Ok(mount) => mount,
        Err(e) if e.raw_os_error() == Some(libc::ESTALE) => return Err(moved(path)),
        Err(e) => {
            return Ok(Pinned {
                outcome: denial(e).map_err(io("mounting the directory read-only"))?,
                mount: None,
            })
        }
    };
    if let Err(e) = check_from_outside(path, dir, &mount, reopen) {
        let _ = rollback(path, &mount);
        return Err(e);
    }
    Ok(Pinned {
        outcome: Outcome::new(Action::Frozen),
        mount: Some(mount),
    })
}

/// A fresh directory for the mount layer: a detached tmpfs (no path reaches it) whose root
/// takes `dir`'s owner, mode and extended attributes, to be filled with copies of `dir`'s
/// entries and then mounted read-only over `dir`. Descriptors of the old directory and of its
/// files, and syscalls already in flight, then land beneath, out of sight; it works where a
/// rename cannot (a directory of overlayfs's lower layer, a directory that is a mount root).
pub struct FreshDirectory {
    fs: OwnedFd,
    mount: OwnedFd,
    root: OwnedFd,
}

impl FreshDirectory {
    /// Needs CAP_SYS_ADMIN (EPERM without) and Linux 5.2 (ENOSYS before). Its size and
    /// inode limits come from what `like` holds now (`limits_for`).
    pub fn new(like: BorrowedFd<'_>) -> io::Result<FreshDirectory> {
        let (fs, mount) = crate::fileops::detached_tmpfs(limits_for(like)?)?;
        let root = sys::openat(
            sys::Base::Dir(mount.as_fd()),
            c".",
            sys::OFlags::RDONLY | sys::OFlags::DIRECTORY,
        )?;
        let meta = sys::fstat(like)?;
        crate::fileops::copy_xattrs(like, root.as_fd())?;
        sys::files::set_owner_mode(root.as_fd(), meta.uid, meta.gid, meta.mode)?;
        Ok(FreshDirectory { fs, mount, root })
    }

    /// Its root, to fill.
    pub fn root(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }
}

/// Room a fresh directory is given beyond what it will hold: a few entries made meanwhile
/// and the pages of a file that grew a little while it was copied (the copy is then refused
/// as changed, not cut short).
const SLACK_BYTES: u64 = 1 << 20;
const SLACK_INODES: u64 = 16;
const PAGE: u64 = 4096;

/// The size and inode limits of a fresh directory for `dir`: the sizes of its entries, each
/// rounded up to a page (what tmpfs charges), plus a page each for symlinks and the rest,
/// and its entries, each with some slack. A copy can then never grow past what `dir` held.
pub fn limits_for(dir: BorrowedFd<'_>) -> io::Result<crate::fileops::TmpfsLimits> {
    let mut limits = crate::fileops::TmpfsLimits {
        bytes: SLACK_BYTES,
        inodes: SLACK_INODES + 1,
    };
    let mut reader = sys::DirEntries::new(dir);
    reader.rewind()?;
    while let Some(entry) = reader.next_entry()? {
        let name = entry.name.to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        limits.inodes += 1;
        let maybe_regular = matches!(entry.d_type, FileKind::Regular | FileKind::Unknown);
        let size = match maybe_regular.then(|| sys::lstatat(dir, entry.name)) {
            Some(Ok(meta)) if meta.kind == FileKind::Regular => meta.size,
            // Gone meanwhile, or not a file: a page (a symlink's target, at most).
            _ => 0,
        };
        limits.bytes = limits
            .bytes
            .saturating_add(size.div_ceil(PAGE).saturating_mul(PAGE))
            .saturating_add(PAGE);
    }
    Ok(limits)
}

/// Mounts the filled `fresh` directory read-only, nosuid, nodev over `dir`, recorded first,
/// then checks from outside that the path leads to it.
pub fn attach_fresh(
    path: &[u8],
    dir: BorrowedFd<'_>,
    fresh: FreshDirectory,
    reopen: Reopen<'_>,
) -> Result<Pinned, Error> {
    let attached = (|| -> io::Result<()> {
        // A read-only mount (mount_setattr, Linux 5.12); before it, a read-only superblock
        // (fsconfig, Linux 5.2). Nosuid and nodev since fsmount.
        match read_only(|| m::mount_setattr(fresh.mount.as_fd(), m::PIN_ATTRS)) {
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                read_only(|| crate::fileops::make_read_only(fresh.fs.as_fd()))?
            }
            other => other?,
        }
        let meta = sys::fstat(fresh.root.as_fd())?;
        record::store(path, &record_of(fresh.mount.as_fd(), &meta)?).map_err(unrecordable)?;
        crate::killpoint::step();
        if let Err(e) = m::move_mount(fresh.mount.as_fd(), dir) {
            let _ = record::remove(path);
            return Err(e);
        }
        crate::killpoint::step();
        Ok(())
    })();
    if let Err(e) = attached {
        return Ok(Pinned {
            outcome: denial(e).map_err(io("mounting the fresh directory read-only"))?,
            mount: None,
        });
    }
    // Never two of ours stacked, whatever let a second freeze this far (the lock of the
    // path is not held by callers without the state directory): if the mount beneath is a fresh
    // directory of ours at the same place, this one goes again and that one stands.
    if stacked_on_ours(fresh.mount.as_fd())? {
        let _ = m::unmount(fresh.mount.as_fd());
        let _ = record::remove(path);
        return Ok(Pinned {
            outcome: Outcome::new(Action::AlreadyFrozen),
            mount: None,
        });
    }
    if let Err(e) = check_from_outside(path, fresh.root.as_fd(), &fresh.mount, reopen) {
        let _ = rollback(path, &fresh.mount);
        return Err(e);
    }
    Ok(Pinned {
        outcome: Outcome::new(Action::Frozen),
        mount: Some(fresh.mount),
    })
}

/// Makes a mount read-only: EBUSY while a file on it is open for writing, which only a
/// child forked meanwhile by another thread of this process can hold (a copy of one of our
/// descriptors, until it execs): asked again a few times over some 100 ms.
fn read_only(mut make: impl FnMut() -> io::Result<()>) -> io::Result<()> {
    let mut wait = std::time::Duration::from_micros(500);
    for _ in 0..8 {
        match make() {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                std::thread::sleep(wait);
                wait *= 2;
            }
            other => return other,
        }
    }
    make()
}

fn record_of(mount: BorrowedFd<'_>, meta: &crate::inode::Meta) -> io::Result<Record> {
    let ids = crate::pin::mountinfo::mount_ids(mount)?;
    Ok(Record {
        legacy: ids.legacy,
        unique: ids.unique,
        dev: meta.dev,
        ino: meta.ino,
    })
}

/// Where the record cannot be written (no /run, a read-only /run, an unsafe state
/// directory), no mount is made: it could never be told apart from a foreign one.
fn unrecordable(e: io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(errno) => io::Error::from_raw_os_error(match errno {
            libc::EPERM | libc::EACCES => errno,
            _ => libc::EOPNOTSUPP,
        }),
        None => io::Error::from_raw_os_error(libc::EPERM),
    }
}

fn attach_legacy(
    path: &[u8],
    dir: BorrowedFd<'_>,
    meta: &crate::inode::Meta,
    reopen: Reopen<'_>,
) -> io::Result<OwnedFd> {
    let under = crate::pin::mountinfo::mount_facts(dir)?.mnt_id;
    m::bind_mount(dir, dir)?;
    let changed = || io::Error::from_raw_os_error(libc::ESTALE);
    let top = reopen().map_err(|_| changed())?;
    let fresh = crate::pin::mountinfo::mount_facts(top.as_fd())?;
    if fresh.mnt_id == under || !fresh.is_mount_root || !sys::fstat(top.as_fd())?.same_inode(meta) {
        // The path no longer leads to the directory (a parent was renamed in between): the
        // bind stays on the real directory, where nobody can reach it by fd to take it off.
        // The error says so; the new mount API, which has no such window, is the norm.
        return Err(changed());
    }
    let recorded = m::remount_pinned(top.as_fd())
        .and_then(|()| record::store(path, &record_of(top.as_fd(), meta)?).map_err(unrecordable));
    if let Err(e) = recorded {
        let _ = m::unmount(top.as_fd());
        return Err(e);
    }
    Ok(top)
}

/// The path must now lead to the mount just attached, read-only, and to the same directory.
fn check_from_outside(
    path: &[u8],
    dir: BorrowedFd<'_>,
    mount: &OwnedFd,
    reopen: Reopen<'_>,
) -> Result<(), Error> {
    let moved = || moved(path);
    let top = reopen().map_err(|_| moved())?;
    let check = || -> io::Result<bool> {
        Ok(crate::pin::mountinfo::mount_facts(top.as_fd())?.mnt_id
            == crate::pin::mountinfo::mount_facts(mount.as_fd())?.mnt_id
            && m::mount_flags(top.as_fd())?.is_pinned()
            && sys::fstat(top.as_fd())?.same_inode(&sys::fstat(dir)?))
    };
    match check() {
        Ok(true) => Ok(()),
        Ok(false) => Err(moved()),
        Err(e) => Err(Error::io("checking the read-only mount from outside", e)),
    }
}

/// Takes nc-harden's mount off the directory (and only it): Unfrozen, Checked where there
/// is none, Denied without CAP_SYS_ADMIN. A mount of ours covered by a foreign one: the
/// `covered` error, nothing changed.
pub fn unpin(path: &[u8], reopen: Reopen<'_>, kinds: OurMounts) -> Result<Outcome, Error> {
    let top = reopen()?;
    match state(path, top.as_fd(), kinds)? {
        MountState::Covered => Err(covered(path)),
        MountState::Absent => {
            // A stale record (its mount taken off by hand) goes; only root may remove it.
            let _ = record::remove(path);
            Ok(Outcome::new(Action::Checked))
        }
        MountState::Ours { frozen_as, .. } => {
            if has_submounts(top.as_fd())? {
                return Err(Error::UnsafePath {
                    path: escape_bytes(path),
                    why: "a mount nc-harden did not make lies inside its read-only mount (over \
                          an entry); taking nc-harden's off would take it too: nothing changed"
                        .into(),
                });
            }
            if let Err(e) = m::unmount(top.as_fd()) {
                return denial(e).map_err(io("taking the read-only mount off"));
            }
            record::remove(&frozen_as).map_err(io("removing nc-harden's mount record"))?;
            Ok(Outcome::new(Action::Unfrozen))
        }
    }
}

/// Takes off the mount this call attached (a failed validation), and its record.
pub fn rollback(path: &[u8], mount: &OwnedFd) -> io::Result<()> {
    m::unmount(mount.as_fd())?;
    record::remove(path)
}

#[cfg(test)]
mod tests {
    use super::is_at_or_above;

    #[test]
    fn a_record_at_or_above_the_path_is_found_by_whole_components() {
        assert!(is_at_or_above(b"/sandbox/.openclaw", b"/sandbox/.openclaw"));
        assert!(is_at_or_above(b"/sandbox", b"/sandbox/.openclaw"));
        assert!(is_at_or_above(b"/sandbox/", b"/sandbox/.openclaw"));
        assert!(is_at_or_above(b"/", b"/sandbox/.openclaw"));
        assert!(!is_at_or_above(b"/sand", b"/sandbox/.openclaw"));
        assert!(!is_at_or_above(
            b"/sandbox/.openclaw/x",
            b"/sandbox/.openclaw"
        ));
        assert!(!is_at_or_above(b"/other", b"/sandbox/.openclaw"));
    }
}
