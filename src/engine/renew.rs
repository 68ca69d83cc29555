//! Fresh inodes: writers already inside lose their hold. A process that opened (or mapped) a
//! regular file of `dir` for writing before the call keeps writing to that inode whatever
//! flag or mount is put on it afterwards (tmpfs, XFS and btrfs let it; ext4 refuses), so a
//! fresh inode goes at the name, with the same bytes (holes kept), owner, mode, times,
//! extended attributes and inode flags; what cannot be carried is returned, to be reported.
//!
//! Which files: `Which::Every` (the posture of shields up, as NemoClaw's config guard does
//! it for its two files), or `Which::Held`: only where a read lease shows a writer, or
//! cannot tell ("cannot tell" never counts as "no writer").
//!
//! A copy goes to a tagged temporary name first (recorded in the state directory, so that
//! the next call removes exactly what a killed one made: `pin::leftovers`) and is renamed
//! over the old name only if the old inode did not change while it was copied: each name
//! shows the old or the new inode, with the same bytes, whenever the process is killed. It
//! is not fsync'ed (that tripled the cost of a freeze on a disk): across a power loss, the
//! filesystems' ordering of a rename that replaces a file is relied on (ext4's
//! auto_da_alloc, XFS and btrfs write the new data before such a rename).

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::escape::escape_bytes;
use crate::inode::{FileKind, Meta};
use crate::pin::leftovers::Temp;
use crate::rules::{self, Reason};
use crate::sys::files;
use crate::sys::{self, Base, DirEntries};

/// Whether a copy can carry every extended attribute: `trusted.*` ones are listed only to a
/// process with CAP_SYS_ADMIN. Without it a copy says that they may be lost
/// (`Uncarried::trusted_unlisted`).
pub fn copies_every_attribute() -> bool {
    sys::has_effective_capability(sys::CAP_SYS_ADMIN)
}

/// Which regular files `renew_all` renews.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// Every one the policy accepts.
    Every,
    /// Only those a writer may hold: a read lease refused (`Writer`) or not to be had
    /// (`CannotTell`).
    Held,
}

/// What a fresh inode could not be given of the old one's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Uncarried {
    /// Extended attributes the new inode refused (no CAP_SETFCAP for
    /// `security.capability`, a namespace the filesystem lacks, no room).
    pub xattrs: Vec<CString>,
    /// `trusted.*` attributes could not even be listed (no CAP_SYS_ADMIN): any there were
    /// are not carried.
    pub trusted_unlisted: bool,
    /// Inode flags (`FS_XFLAG_*`) not carried: all but no-dump and no-atime, and those where
    /// the new inode's filesystem refused them. The pins (immutable, append-only) are the
    /// engine's and never listed.
    pub xflags: u32,
    /// The project id was not carried (tmpfs has none).
    pub project: bool,
}

impl Uncarried {
    pub fn is_empty(&self) -> bool {
        self.xattrs.is_empty() && !self.trusted_unlisted && self.xflags == 0 && !self.project
    }

    /// In words, for a report: `"security.capability, trusted.* (not listed without
    /// CAP_SYS_ADMIN), inode flags 0x20"`.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .xattrs
            .iter()
            .map(|n| escape_bytes(n.to_bytes()))
            .collect();
        if self.trusted_unlisted {
            parts.push("trusted.* (not listed without CAP_SYS_ADMIN)".into());
        }
        if self.xflags != 0 {
            parts.push(format!("inode flags {:#x}", self.xflags));
        }
        if self.project {
            parts.push("the project id".into());
        }
        parts.join(", ")
    }
}

/// A file put onto a fresh inode, and what the fresh inode lacks of the old one's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Renewed {
    pub name: CString,
    pub uncarried: Uncarried,
}

/// The names of `renewed`.
pub fn names(renewed: &[Renewed]) -> Vec<CString> {
    renewed.iter().map(|r| r.name.clone()).collect()
}

/// A note for the report where some renewal could not carry everything: each file with what
/// it lost.
pub fn uncarried_note(renewed: &[Renewed]) -> Option<String> {
    let mut seen = Vec::new();
    let lost: Vec<String> = renewed
        .iter()
        .filter(|r| !r.uncarried.is_empty())
        // A pass over the entries may be made again: each file once.
        .filter(|r| {
            let first = !seen.contains(&&r.name);
            seen.push(&r.name);
            first
        })
        .map(|r| {
            format!(
                "\"{}\": {}",
                escape_bytes(r.name.to_bytes()),
                r.uncarried.describe()
            )
        })
        .collect();
    (!lost.is_empty()).then(|| format!("not carried to the fresh inodes: {}", lost.join("; ")))
}

/// The same inode with the same contents: a write or a truncate moves the size, the
/// modification time or the change time.
fn unchanged(before: &Meta, now: &Meta) -> bool {
    now.same_inode(before)
        && now.size == before.size
        && now.modified == before.modified
        && now.changed == before.changed
}

/// Gives the empty, new regular file `new` what the regular file `old` (examined as `meta`)
/// has: its bytes (a reflink where the filesystem can; holes kept), then the owner (`like`'s:
/// chown drops `security.capability`, so it comes first), the extended attributes, the
/// mode, the inode flags that can be carried, the times. `None` when `old` changed while it
/// was copied.
pub(crate) fn copy_into(
    old: BorrowedFd<'_>,
    meta: &Meta,
    new: BorrowedFd<'_>,
    like: &Meta,
) -> io::Result<Option<Uncarried>> {
    crate::fileops::copy_bytes(old, new, meta.size)?;
    files::set_owner(new, like.uid, like.gid)?;
    let xattrs = crate::fileops::copy_xattrs(old, new)?;
    // After the attributes: a POSIX ACL copied sets the mode too; this mode is the one.
    files::set_mode(new, like.mode)?;
    let flags = crate::fileops::carry_inode_flags(old, new)?;
    files::set_times(new, like)?;
    if !unchanged(meta, &sys::fstat(old)?) {
        return Ok(None);
    }
    Ok(Some(Uncarried {
        xattrs,
        trusted_unlisted: !copies_every_attribute(),
        xflags: flags.xflags,
        project: flags.project,
    }))
}

fn like(meta: &Meta, posture: Option<Posture>) -> Meta {
    match posture {
        Some(p) => Meta {
            uid: p.uid,
            gid: p.gid,
            mode: p.mode,
            ..*meta
        },
        None => *meta,
    }
}

/// Copies the regular file `old` (examined as `meta`) to a new file `name` of `to` (the
/// fresh directory of the mount layer): see `copy_into`. `None` (and no file left) when
/// `old` changed while it was copied.
pub fn copy_file(
    old: BorrowedFd<'_>,
    meta: &Meta,
    to: BorrowedFd<'_>,
    name: &CStr,
    posture: Option<Posture>,
) -> io::Result<Option<(OwnedFd, Uncarried)>> {
    let new = sys::create_exclusive(to, name, 0o600)?;
    match copy_into(old, meta, new.as_fd(), &like(meta, posture)) {
        Ok(Some(lost)) => Ok(Some((new, lost))),
        Ok(None) => {
            let _ = sys::unlinkat(to, name);
            Ok(None)
        }
        Err(e) => {
            let _ = sys::unlinkat(to, name);
            Err(e)
        }
    }
}

/// Owner, group and mode a renewed file takes instead of the old one's (the locked posture).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Posture {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

/// Puts the regular file `name` of `dir` (open read-only as `old`, examined as `meta`) onto
/// a fresh inode: a copy at a tagged temporary name, renamed over `name` if `old` did not
/// change meanwhile (`None` then, and nothing left). The directory must be writable (not
/// yet pinned), and `old` must not carry the immutable flag (the rename would be refused).
pub fn renew_one(
    dir: BorrowedFd<'_>,
    name: &CStr,
    old: BorrowedFd<'_>,
    meta: &Meta,
    posture: Option<Posture>,
) -> io::Result<Option<Renewed>> {
    let (mut temp, new) = Temp::create(dir, 0o600)?;
    let copied = copy_into(old, meta, new.as_fd(), &like(meta, posture));
    drop(new);
    let uncarried = match copied {
        Ok(Some(lost)) => lost,
        Ok(None) => {
            temp.discard(dir);
            return Ok(None);
        }
        Err(e) => {
            temp.discard(dir);
            return Err(e);
        }
    };
    crate::killpoint::step();
    if let Err(e) = sys::renameat(dir, temp.name(), name) {
        temp.discard(dir);
        return Err(e);
    }
    temp.forget();
    crate::killpoint::step();
    Ok(Some(Renewed {
        name: name.to_owned(),
        uncarried,
    }))
}

/// `renew_one` where a writer may hold the file: its read lease (taken on `old`, which must
/// be open read-only) refused, or not to be had. Called once the file is locked (owner and
/// mode of the locked posture, or its flag: no new writer can open it), so that what the
/// lease answers stays true. `Ok(None)`: no writer, nothing done (or `old` changed).
pub fn renew_if_held(
    dir: BorrowedFd<'_>,
    name: &CStr,
    old: BorrowedFd<'_>,
    meta: &Meta,
    posture: Option<Posture>,
) -> io::Result<Option<Renewed>> {
    if crate::fileops::writer_check(old).may_have_writer() {
        renew_one(dir, name, old, meta, posture)
    } else {
        Ok(None)
    }
}

/// Renews the regular files of `dir` in place (`which`: every one, or those a writer may
/// hold); returns what was renewed. A file that the policy rejects as it is (another owner,
/// writable by others, hard-linked; with `posture`, hard-linked only), that `skip` names, or
/// that keeps changing while it is copied, is left as it is: the pass that follows judges it.
pub fn renew_all(
    dir: BorrowedFd<'_>,
    owner: u32,
    posture: Option<Posture>,
    which: Which,
    skip: &dyn Fn(&CStr) -> bool,
) -> io::Result<Vec<Renewed>> {
    let mut regular = Vec::new();
    let mut reader = DirEntries::new(dir);
    reader.rewind()?;
    while let Some(entry) = reader.next_entry()? {
        if matches!(entry.d_type, FileKind::Regular | FileKind::Unknown) && !skip(entry.name) {
            regular.push(entry.name.to_owned());
        }
    }
    let mut renewed = Vec::new();
    for name in regular {
        let Ok(meta) = sys::lstatat(dir, &name) else {
            continue;
        };
        // Only a plain regular file of this directory's own mount is ours to renew.
        if meta.kind != FileKind::Regular || meta.mount.is_some_and(|m| m.is_root) {
            continue;
        }
        let flags = sys::OFlags::RDONLY | sys::OFlags::NOFOLLOW | sys::OFlags::NONBLOCK;
        let Ok(old) = sys::openat(Base::Dir(dir), &name, flags) else {
            continue;
        };
        let now = sys::fstat(old.as_fd())?;
        let judged = match posture {
            Some(p) => Meta {
                uid: p.uid,
                mode: p.mode,
                ..now
            },
            None => now,
        };
        if !now.same_inode(&meta) || rules::judge_regular(&judged, owner) != Reason::None {
            continue;
        }
        let done = match which {
            Which::Every => renew_one(dir, &name, old.as_fd(), &now, posture)?,
            Which::Held => renew_if_held(dir, &name, old.as_fd(), &now, posture)?,
        };
        renewed.extend(done);
    }
    Ok(renewed)
}

/// Removes the temporary files that a renewal (or a seal being written) killed half-way
/// left in `dir`: only those it recorded making (`pin::leftovers`).
pub fn remove_leftovers(dir: BorrowedFd<'_>) -> io::Result<usize> {
    crate::pin::leftovers::remove(dir)
}
