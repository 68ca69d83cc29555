//! Fresh inodes: writers already inside lose their hold. A process that opened (or mapped) a
//! regular file of `dir` for writing before the call keeps writing to that inode whatever
//! flag or mount is put on it afterwards (tmpfs, XFS and btrfs let it; ext4 refuses), so the
//! freeze puts a fresh inode at the name, with the same bytes, owner, mode, times and
//! extended attributes (NemoClaw's config guard does the same for its two files).
//!
//! A copy goes to a temporary name first (the next call removes one a killed call left) and
//! is renamed over the old name only if the old inode did not change while it was copied:
//! each name shows the old or the new inode, with the same bytes, whenever the process is
//! killed. It is not fsync'ed (that tripled the cost of a freeze on a disk): across a power
//! loss, the filesystems' ordering of a rename that replaces a file is relied on (ext4's
//! auto_da_alloc, XFS and btrfs write the new data before such a rename).

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::inode::{FileKind, Meta};
use crate::rules::{self, Reason};
use crate::sys::{self, files, Base, DirEntries};

/// Whether a copy can carry every extended attribute: `trusted.*` ones are listed only to a
/// process with CAP_SYS_ADMIN. Without it there is no renewal (the lease check that follows
/// the flag refuses a writer all the same) rather than a copy that silently lost some.
pub fn copies_every_attribute() -> bool {
    sys::has_effective_capability(sys::CAP_SYS_ADMIN)
}

/// The temporary names of renewals: `.nc-harden-new.<pid>.<n>`.
pub const TEMP_PREFIX: &[u8] = b".nc-harden-new.";

/// The same inode with the same contents: a write or a truncate moves the size, the
/// modification time or the change time.
fn unchanged(before: &Meta, now: &Meta) -> bool {
    now.same_inode(before)
        && now.size == before.size
        && now.modified == before.modified
        && now.changed == before.changed
}

/// Copies the regular file `old` (examined as `meta`) to a new file `name` of `to`: its
/// bytes (a reflink where the filesystem can), extended attributes, then owner, mode and
/// times. `None` (and no file left) when `old` changed while it was copied.
pub fn copy_file(
    old: BorrowedFd<'_>,
    meta: &Meta,
    to: BorrowedFd<'_>,
    name: &CStr,
    posture: Option<Posture>,
) -> io::Result<Option<OwnedFd>> {
    let new = sys::create_exclusive(to, name, 0o600)?;
    let like = match posture {
        Some(p) => Meta {
            uid: p.uid,
            gid: p.gid,
            mode: p.mode,
            ..*meta
        },
        None => *meta,
    };
    let copied = (|| -> io::Result<bool> {
        sys::rewind(old)?;
        files::copy_bytes(old, new.as_fd(), meta.size)?;
        files::copy_xattrs(old, new.as_fd())?;
        files::copy_attributes(new.as_fd(), &like)?;
        Ok(unchanged(meta, &sys::fstat(old)?))
    })();
    match copied {
        Ok(true) => Ok(Some(new)),
        Ok(false) => {
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

/// Renews every regular file of `dir` in place; returns the names renewed. A file that the
/// policy rejects as it is (another owner, writable by others, hard-linked; with `posture`,
/// hard-linked only), that `skip` names, or that keeps changing while it is copied, is left
/// as it is: the pass that follows judges it.
pub fn renew_all(
    dir: BorrowedFd<'_>,
    owner: u32,
    posture: Option<Posture>,
    skip: &dyn Fn(&CStr) -> bool,
) -> io::Result<Vec<CString>> {
    let mut regular = Vec::new();
    let mut reader = DirEntries::new(dir);
    reader.rewind()?;
    while let Some(entry) = reader.next_entry()? {
        let maybe_regular = matches!(entry.d_type, FileKind::Regular | FileKind::Unknown);
        if maybe_regular && !entry.name.to_bytes().starts_with(TEMP_PREFIX) && !skip(entry.name) {
            regular.push(entry.name.to_owned());
        }
    }
    let mut renewed = Vec::new();
    for (n, name) in regular.into_iter().enumerate() {
        let Ok(meta) = sys::lstatat(dir, &name) else {
            continue;
        };
        // Only a plain regular file of this directory's own mount is ours to renew.
        if meta.kind != FileKind::Regular || meta.mount.is_some_and(|m| m.is_root) {
            continue;
        }
        let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY;
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
        let temp = temp_name(n);
        if copy_file(old.as_fd(), &now, dir, &temp, posture)?.is_some() {
            crate::killpoint::step();
            if let Err(e) = sys::renameat(dir, &temp, &name) {
                let _ = sys::unlinkat(dir, &temp);
                return Err(e);
            }
            crate::killpoint::step();
            renewed.push(name);
        }
    }
    Ok(renewed)
}

fn temp_name(n: usize) -> CString {
    let mut name = TEMP_PREFIX.to_vec();
    name.extend_from_slice(format!("{}.{n}", std::process::id()).as_bytes());
    CString::new(name).expect("no NUL")
}

/// Removes the temporary files a renewal that was killed half-way left in `dir`.
pub fn remove_leftovers(dir: BorrowedFd<'_>) -> io::Result<usize> {
    let mut names = Vec::new();
    let mut reader = DirEntries::new(dir);
    reader.rewind()?;
    while let Some(entry) = reader.next_entry()? {
        if entry.name.to_bytes().starts_with(TEMP_PREFIX) {
            names.push(entry.name.to_owned());
        }
    }
    let mut removed = 0;
    for name in names {
        if sys::lstatat(dir, &name)?.kind == FileKind::Regular {
            sys::unlinkat(dir, &name)?;
            removed += 1;
        }
    }
    Ok(removed)
}
