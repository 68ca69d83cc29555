//! The state trees: one descriptor walk per tree root of `dir`. Every directory is opened
//! with `openat(O_NOFOLLOW | O_DIRECTORY | O_NOCTTY | O_CLOEXEC)` from its parent's
//! descriptor and checked to be the inode the listing showed; no path is resolved twice, no
//! symlink is followed, and a FIFO is never opened. At most `depth` descriptors are open at
//! once; the names of one directory are read before any of them is changed.
//!
//! Locking a directory removes its write bits first (the owner's kept where the class's mode
//! keeps it: the owner could set it again until the chown), then gives it the class's owner,
//! then the class's mode: always after a chown (until then the owner may have set another
//! mode through a descriptor it holds, and the chown keeps it), else only where it differs.
//! A regular file goes the same way, and then onto a fresh inode only where a read lease
//! shows a writer (or cannot tell). What is changed is recorded first (`record`), so that
//! unlocking hands back those inodes and nothing else.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::record::{InodeId, Owners, Set, Writer};
use super::{Issue, IssueCode};
use crate::inode::{FileKind, Meta};
use crate::profile::{ClassPosture, Profile, TreeClass};
use crate::sys::{self, files, Base, DirEntries};

/// What one pass does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// Counts against the budgets; changes nothing.
    Budget,
    Lock,
    Unlock,
    /// Read-only: counts, and how much of the tree is in the locked posture.
    Status,
}

/// Counts of one tree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub directories: u64,
    pub files: u64,
    pub symlinks: u64,
    /// Roots moved aside into the quarantine (never deleted).
    pub quarantined: u64,
    /// Entries left as they are, untouched (hard links, FIFOs, sockets, devices, bad links);
    /// `refused` in the JSON.
    pub untouched: u64,
    /// Files put on a fresh inode because a writer held them.
    pub renewed: u64,
    /// Inodes whose owner or mode this pass changed.
    pub changed: u64,
    /// Carve-outs left as they are.
    pub carve_outs: u64,
    /// Entries in the locked posture / owned by someone other than root (Status).
    pub locked: u64,
    pub unlocked: u64,
    pub bytes: u64,
}

/// The posture a tree is found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TreePosture {
    Locked,
    Unlocked,
    Mixed,
    Missing,
}

impl TreePosture {
    pub fn name(self) -> &'static str {
        match self {
            TreePosture::Locked => "locked",
            TreePosture::Unlocked => "unlocked",
            TreePosture::Mixed => "mixed",
            TreePosture::Missing => "missing",
        }
    }
}

/// One tree in the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeReport {
    pub name: Vec<u8>,
    pub class: TreeClass,
    pub counts: Counts,
    pub posture: TreePosture,
}

/// A walk over the trees of one `dir`.
pub struct Walker<'a> {
    pub profile: &'a Profile,
    /// `dir`'s device: nothing on another is walked into.
    pub dev: u64,
    pub pass: Pass,
    /// Lock: where changed inodes are recorded before they change.
    pub writer: Option<&'a mut Writer>,
    /// Unlock: what a lock of nc-harden's recorded (`None`: no record, another tool's lock).
    pub recorded: Option<&'a Set<InodeId>>,
    /// The record's temporaries: the inodes a killed renewal may have left.
    pub temporaries: Option<&'a Set<InodeId>>,
    /// Unlock: the owners the record holds, of the inodes it took from someone else.
    pub owners: Option<&'a Owners>,
    pub issues: &'a mut Vec<Issue>,
    /// Budget and lock: entries and bytes seen so far, over every tree.
    pub entries: u64,
    pub bytes: u64,
    /// Lock: the files renewed (paths relative to `dir`).
    pub renewed: Vec<Vec<u8>>,
    tmp_counter: u64,
    /// Set once `dir`'s filesystem answered that it keeps no inode generation
    /// (FS_IOC_GETVERSION refused): the walk stays on that one filesystem, so it is not asked
    /// again for every file (one ioctl a file saved on tmpfs, overlayfs, ramfs).
    no_generation: std::cell::Cell<bool>,
    /// Whether `dir`'s filesystem is overlayfs, once asked (`settle`).
    overlay: std::cell::Cell<Option<bool>>,
}

/// The budgets were exceeded: why.
#[derive(Debug)]
pub struct OverBudget(pub String);

const NOFOLLOW_DIR: sys::OFlags = sys::OFlags::RDONLY
    .union(sys::OFlags::DIRECTORY)
    .union(sys::OFlags::NOFOLLOW);
const NOFOLLOW_FILE: sys::OFlags = sys::OFlags::RDONLY
    .union(sys::OFlags::NOFOLLOW)
    .union(sys::OFlags::NONBLOCK);

fn join(base: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = base.to_vec();
    if !p.is_empty() {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

/// The names of a directory, each after its `d_type` byte and with its NUL, in one buffer
/// (one allocation a directory, none an entry; bounded by the entry budget: the caller counts
/// them). `dir` is a descriptor opened for this: read from its start, no rewind.
fn names(dir: BorrowedFd<'_>) -> io::Result<Vec<u8>> {
    // Room for a hundred names of a dozen bytes before the first growth.
    let mut out = Vec::with_capacity(2048);
    let mut reader = DirEntries::new(dir);
    while let Some(e) = reader.next_entry()? {
        out.push(e.d_type as u32 as u8);
        out.extend_from_slice(e.name.to_bytes_with_nul());
    }
    Ok(out)
}

/// The entries `names` gathered, in order: what getdents said of each (`Unknown`: ask
/// statx), and its name.
fn each_name(buf: &[u8]) -> impl Iterator<Item = (FileKind, &CStr)> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        let (&kind, tail) = rest.split_first()?;
        let end = tail.iter().position(|&b| b == 0).expect("one NUL an entry");
        let name = CStr::from_bytes_with_nul(&tail[..=end]).expect("one NUL, last");
        rest = &tail[end + 1..];
        Some((kind_of(kind), name))
    })
}

fn kind_of(byte: u8) -> FileKind {
    [
        FileKind::Directory,
        FileKind::Symlink,
        FileKind::Regular,
        FileKind::Fifo,
        FileKind::Socket,
        FileKind::CharDevice,
        FileKind::BlockDevice,
    ]
    .into_iter()
    .find(|k| *k as u32 as u8 == byte)
    .unwrap_or(FileKind::Unknown)
}

impl Walker<'_> {
    /// `inode_id`, asking the generation only while `dir`'s filesystem keeps one. Only for
    /// inodes on the walk's device (`self.dev`); an answer of another filesystem is asked.
    fn inode_id(&self, fd: sys::InodeFd<'_>, m: &Meta) -> io::Result<InodeId> {
        if m.dev == self.dev && self.no_generation.get() {
            return Ok(identity(m, None));
        }
        let generation = fd.generation()?;
        if generation.is_none() && m.dev == self.dev {
            self.no_generation.set(true);
        }
        Ok(identity(m, generation))
    }
}

impl Walker<'_> {
    /// The identity to record of an inode about to change, settled first (`settle`) where the
    /// filesystem is overlayfs: fstatfs asked once a walk, and only where no generation is kept.
    fn id_for_change(&self, inode: sys::InodeFd<'_>, m: &Meta) -> io::Result<InodeId> {
        let id = self.inode_id(inode, m)?;
        if m.dev != self.dev || !self.no_generation.get() {
            return Ok(id);
        }
        if !self.on_overlay(inode.fd())? {
            return Ok(id);
        }
        settled_identity(inode, m)
    }

    /// The user the trees are handed to (the profile's unlocked owner of files): the
    /// sandbox user.
    fn user(&self) -> u32 {
        self.profile.unlocked_posture.file.uid
    }

    /// Whether the walk's filesystem is overlayfs (`fd` on it): fstatfs asked once a walk.
    fn on_overlay(&self, fd: BorrowedFd<'_>) -> io::Result<bool> {
        if let Some(known) = self.overlay.get() {
            return Ok(known);
        }
        let known = sys::is_overlayfs(fd)?;
        self.overlay.set(Some(known));
        Ok(known)
    }
}

/// An inode of overlayfs examined as `m`, copied up to the upper layer (a chmod to the mode it
/// has: nothing changes) and examined again. The first change copies it up anyway, and its
/// birth time is then the upper layer's: recorded before the change, the lower layer's would
/// be one no later call sees, and shields down would hand nothing back.
pub(super) fn settle(inode: sys::InodeFd<'_>, m: &Meta) -> io::Result<Meta> {
    sys::shields::fchmod(inode.fd(), m.mode)?;
    sys::fstat_born(inode.fd())
}

/// The identity to record of an overlayfs inode about to change: as `settle` leaves it.
pub(super) fn settled_identity(inode: sys::InodeFd<'_>, m: &Meta) -> io::Result<InodeId> {
    Ok(identity(&settle(inode, m)?, None))
}

/// After a renewal: the old inode `old`, if it keeps names its owner linked elsewhere (a
/// carve-out, before the lock's chown), guards nothing now that the name is the fresh
/// inode's, and no later call finds it: given back the owner, group and mode it had before
/// the lock (`before`), not left root's.
pub(super) fn give_back_other_names(old: BorrowedFd<'_>, before: &Meta) -> io::Result<()> {
    if sys::fstat(old)?.nlink > 0 {
        files::change_owner_mode(old, Some(before.uid), Some(before.gid), Some(before.mode))?;
    }
    Ok(())
}

/// The identity of an inode: `m` is what `sys::fstat_born` (or statx) said of `fd` when `fd`
/// was checked (`sys::InodeFd::examine`: one call for both).
fn inode_id(fd: sys::InodeFd<'_>, m: &Meta) -> io::Result<InodeId> {
    Ok(identity(m, fd.generation()?))
}

/// Device, inode number, and the generation, or where the filesystem keeps none (overlayfs,
/// tmpfs) the birth time: an inode number freed and reused (overlayfs over ext4 reuses them)
/// is then another inode to the record, and never handed back or removed for the first.
pub(super) fn identity(m: &Meta, generation: Option<u32>) -> InodeId {
    (m.dev, m.ino, generation.map_or(m.born, u64::from))
}

/// fstat of `fd`, which must be a directory or a regular file (ENOTTY otherwise): its
/// description and the checked descriptor the inode ioctls take.
fn examine(fd: BorrowedFd<'_>) -> io::Result<(Meta, sys::InodeFd<'_>)> {
    match sys::InodeFd::examine(fd)? {
        (meta, Some(checked)) => Ok((meta, checked)),
        (_, None) => Err(io::Error::from_raw_os_error(libc::ENOTTY)),
    }
}

/// Resolves the link at `link` (components relative to `dir`) pointing to `target` without
/// the kernel: `None` when it leaves `dir` or only the kernel could tell, else the
/// components of where it points.
pub fn lexical_target(dir: &[u8], link: &[u8], target: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let rest: &[u8] = if target.starts_with(b"/") {
        let mut prefix = dir.to_vec();
        prefix.push(b'/');
        target.strip_prefix(&prefix[..])?
    } else {
        let parent = match link.iter().rposition(|&b| b == b'/') {
            Some(i) => &link[..i],
            None => &b""[..],
        };
        out.extend(
            parent
                .split(|&b| b == b'/')
                .filter(|c| !c.is_empty())
                .map(<[u8]>::to_vec),
        );
        target
    };
    // A `..` is resolved here only where the kernel resolves it the same way: over the
    // link's own directories (walked, never a symlink). After a component of the target,
    // which may be a symlink (one in a carve-out, say, changed at any time), the kernel
    // climbs from wherever that led: no answer.
    let mut named = false;
    for c in rest.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." if named => return None,
            b".." => {
                out.pop()?;
            }
            c => {
                named = true;
                out.push(c.to_vec());
            }
        }
    }
    Some(out)
}

impl<'a> Walker<'a> {
    pub fn new(profile: &'a Profile, dev: u64, pass: Pass, issues: &'a mut Vec<Issue>) -> Self {
        Walker {
            profile,
            dev,
            pass,
            writer: None,
            recorded: None,
            temporaries: None,
            owners: None,
            issues,
            entries: 0,
            bytes: 0,
            renewed: Vec::new(),
            tmp_counter: 0,
            no_generation: std::cell::Cell::new(false),
            overlay: std::cell::Cell::new(None),
        }
    }

    fn issue(&mut self, code: IssueCode, path: &[u8], detail: impl Into<String>) {
        self.issues.push(Issue {
            code,
            path: path.to_vec(),
            detail: detail.into(),
        });
    }

    /// An entry left as it is: its issue said, counted as untouched.
    fn leave(
        &mut self,
        counts: &mut Counts,
        code: IssueCode,
        path: &[u8],
        detail: impl Into<String>,
    ) {
        self.issue(code, path, detail);
        counts.untouched += 1;
    }

    /// Counts an entry against the budgets: in the budget pass, and again in the lock pass
    /// (whose names are read once each directory is root's), so that entries added after
    /// the budget pass, through a directory descriptor held open, stop the lock where the
    /// budgets are passed and fail it closed. Unlock and status count nothing.
    fn count(&mut self, size: u64) -> Result<(), WalkError> {
        if !matches!(self.pass, Pass::Budget | Pass::Lock) {
            return Ok(());
        }
        self.entries += 1;
        self.bytes += size;
        if self.entries > self.profile.max_entries {
            return Err(WalkError::Budget(OverBudget(format!(
                "the state trees hold more than {} entries (the budget)",
                self.profile.max_entries
            ))));
        }
        if self.bytes > self.profile.max_bytes {
            return Err(WalkError::Budget(OverBudget(format!(
                "the state trees hold more than {} bytes (the budget)",
                self.profile.max_bytes
            ))));
        }
        Ok(())
    }

    /// Walks the tree `name` of `dir`, `listed` as the call's listing of `dir` saw it (a
    /// directory: the caller checked; a root that is not one is the quarantine's). The inode
    /// opened must be that one.
    pub fn tree(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &CStr,
        listed: &Meta,
        class: TreeClass,
    ) -> Result<TreeReport, WalkError> {
        let mut counts = Counts::default();
        let rel = name.to_bytes().to_vec();
        let posture = *self.profile.class_posture(class);
        self.directory(dir, name, listed, &rel, 1, &posture, &mut counts)?;
        // What the walk left (lock and unlock judge each inode they leave, as a status
        // would read it; the budget's count judges nothing).
        let tree_posture = match (counts.locked, counts.unlocked) {
            _ if self.pass == Pass::Budget => TreePosture::Mixed,
            (_, 0) => TreePosture::Locked,
            (0, _) => TreePosture::Unlocked,
            _ => TreePosture::Mixed,
        };
        Ok(TreeReport {
            name: rel,
            class,
            counts,
            posture: tree_posture,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn directory(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &CStr,
        listed: &Meta,
        rel: &[u8],
        depth: u32,
        class: &ClassPosture,
        counts: &mut Counts,
    ) -> Result<(), WalkError> {
        if depth > self.profile.max_depth {
            if self.pass == Pass::Budget {
                return Err(WalkError::Budget(OverBudget(format!(
                    "the state trees are deeper than {} levels (the budget)",
                    self.profile.max_depth
                ))));
            }
            self.leave(
                counts,
                IssueCode::TooDeep,
                rel,
                "deeper than the depth budget: left as it is",
            );
            return Ok(());
        }
        let fd = match sys::openat(Base::Dir(parent), name, NOFOLLOW_DIR) {
            Ok(fd) => fd,
            Err(e) => {
                self.leave(
                    counts,
                    IssueCode::Unreadable,
                    rel,
                    format!("cannot open: {e}"),
                );
                return Ok(());
            }
        };
        let (meta, inode) = examine(fd.as_fd()).map_err(|e| WalkError::io(rel, e))?;
        if !meta.same_inode(listed) {
            self.leave(
                counts,
                IssueCode::Raced,
                rel,
                "replaced while it was walked: left as it is",
            );
            return Ok(());
        }
        if meta.dev != self.dev
            || meta.mount.is_some_and(|m| m.is_root)
            || listed.mount.is_some_and(|m| m.is_root)
        {
            self.leave(
                counts,
                IssueCode::MountPoint,
                rel,
                "another filesystem is mounted here: not walked into",
            );
            return Ok(());
        }
        counts.directories += 1;
        self.count(0)?;
        // Whether the names read below can change meanwhile but by root: the directory is
        // root's with no write bit for its group or others (an ACL's named entries are
        // bounded by the group bits, its mask), as a lock left it or an unlock finds it.
        let fixed = |m: &Meta| m.uid == 0 && m.mode & 0o022 == 0;
        let names_fixed = match self.pass {
            Pass::Lock => {
                let (left, _) =
                    self.lock_inode(inode, &meta, rel, &class.dir.into(), true, counts)?;
                self.judge(&left, class, counts);
                fixed(&left)
            }
            Pass::Unlock => fixed(&meta),
            Pass::Status => {
                self.judge(&meta, class, counts);
                false
            }
            Pass::Budget => false,
        };
        let children = names(fd.as_fd()).map_err(|e| WalkError::io(rel, e))?;
        // One path buffer for every child: `rel/` then the child's name.
        let mut child_rel = join(rel, b"");
        let base = child_rel.len();
        // Lock: the regular files opened and examined, up to BATCH at once, are recorded in
        // one write before the first of them changes (write-ahead, as one by one).
        let mut batch: Vec<Ready<'_>> = Vec::new();
        for (d_type, child) in each_name(&children) {
            child_rel.truncate(base);
            child_rel.extend_from_slice(child.to_bytes());
            let child_rel = &child_rel[..];
            // A regular file, as getdents says, that lock or unlock opens anyway: its fstat
            // after the open is all it is examined by (no statx of the name before; the
            // open is O_NOFOLLOW | O_NONBLOCK, and the fstat decides). Only where no name
            // of the directory can change meanwhile but by root (`names_fixed`: a lock
            // made it so before its names were read, and on the way down it stays so until
            // they are all handled; an unlock finds it so): nothing else is ever opened
            // by it. Elsewhere the name is examined first, and a FIFO never opened.
            if d_type == FileKind::Regular
                && names_fixed
                && !child.to_bytes().starts_with(TEMP_PREFIX)
            {
                let ready = self.file(fd.as_fd(), child, None, child_rel, class, counts)?;
                self.queue(fd.as_fd(), &mut batch, child, ready, rel, class, counts)?;
                continue;
            }
            let m = match sys::lstatat(fd.as_fd(), child) {
                Ok(m) => m,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                Err(e) => return Err(WalkError::io(child_rel, e)),
            };
            if m.kind == FileKind::Regular
                && matches!(self.pass, Pass::Lock | Pass::Unlock)
                && child.to_bytes().starts_with(TEMP_PREFIX)
            {
                // Gone only where it is a killed call's temporary (the record holds its
                // inode); a file merely named like one is walked as any other.
                if let Some(set) = self.temporaries {
                    if remove_leftover(fd.as_fd(), child, &m, set)
                        .map_err(|e| WalkError::io(child_rel, e))?
                    {
                        continue;
                    }
                }
            }
            match m.kind {
                FileKind::Directory => {
                    let parts: Vec<&[u8]> = child_rel.split(|&b| b == b'/').collect();
                    if self.profile.in_carve_out(&parts) {
                        counts.carve_outs += 1;
                        continue;
                    }
                    // The batch first: at most BATCH files held open, whatever the depth.
                    self.lock_batch(fd.as_fd(), &mut batch, rel, class, counts)?;
                    self.directory(fd.as_fd(), child, &m, child_rel, depth + 1, class, counts)?;
                }
                FileKind::Regular => {
                    let ready = self.file(fd.as_fd(), child, Some(&m), child_rel, class, counts)?;
                    self.queue(fd.as_fd(), &mut batch, child, ready, rel, class, counts)?;
                }
                FileKind::Symlink => self.symlink(fd.as_fd(), child, child_rel, counts)?,
                _ => {
                    self.count(0)?;
                    if self.pass == Pass::Budget {
                        continue;
                    }
                    if self.pass != Pass::Unlock {
                        self.issue(
                            IssueCode::SpecialEntry,
                            child_rel,
                            format!("a {}: refused, left as it is (never opened)", m.kind.name()),
                        );
                    }
                    counts.untouched += 1;
                }
            }
        }
        self.lock_batch(fd.as_fd(), &mut batch, rel, class, counts)?;
        if self.pass == Pass::Unlock {
            let left = self.unlock_inode(inode, &meta, rel, true, counts)?;
            self.judge(&left, class, counts);
        }
        Ok(())
    }

    /// A regular file: `listed` is what statx said of its name, `None` when getdents said
    /// it is one and lock or unlock opens it first (its fstat is then what it is judged by).
    /// Lock: the file opened and examined, ready for `lock_batch`, when it is to be locked.
    fn file(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &CStr,
        listed: Option<&Meta>,
        rel: &[u8],
        class: &ClassPosture,
        counts: &mut Counts,
    ) -> Result<Option<(OwnedFd, Meta)>, WalkError> {
        counts.files += 1;
        let mut opened = None;
        let mut listed = match listed {
            Some(m) => *m,
            None => {
                let fd = match sys::openat(Base::Dir(dir), name, NOFOLLOW_FILE) {
                    Ok(fd) => fd,
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                        counts.files -= 1; // gone since the listing, as a statx would have said
                        return Ok(None);
                    }
                    Err(e) => {
                        self.leave(
                            counts,
                            IssueCode::Unreadable,
                            rel,
                            format!("cannot open: {e}"),
                        );
                        // Neither locked nor unlocked, as far as the walk can tell.
                        counts.locked += 1;
                        counts.unlocked += 1;
                        return Ok(None);
                    }
                };
                let meta = sys::fstat_born(fd.as_fd()).map_err(|e| WalkError::io(rel, e))?;
                if meta.kind != FileKind::Regular {
                    self.leave(
                        counts,
                        IssueCode::Raced,
                        rel,
                        "replaced or linked while it was walked: left as it is",
                    );
                    return Ok(None);
                }
                opened = Some((fd, meta));
                meta
            }
        };
        counts.bytes += listed.size;
        self.count(listed.size)?;
        if self.pass == Pass::Budget {
            return Ok(None);
        }
        // On overlayfs, the links of a file of an image's lower layer are the lower inode's:
        // the copy-up its lock makes anyway gives each name an inode of its own. Copied up
        // first (`settle`), the name has the one link it will have; links of the upper layer
        // (made since, by anyone) stay links, and are refused below.
        if listed.nlink > 1 && self.pass == Pass::Lock {
            if opened.is_none() {
                if let Ok(fd) = sys::openat(Base::Dir(dir), name, NOFOLLOW_FILE) {
                    let meta = sys::fstat_born(fd.as_fd()).map_err(|e| WalkError::io(rel, e))?;
                    opened = Some((fd, meta));
                }
            }
            if let Some((fd, meta)) = opened.take() {
                let inode = sys::InodeFd::examined(fd.as_fd(), &meta);
                let settled = match inode {
                    Some(inode)
                        if meta.same_inode(&listed)
                            && meta.kind == FileKind::Regular
                            && self
                                .on_overlay(fd.as_fd())
                                .map_err(|e| WalkError::io(rel, e))? =>
                    {
                        settle(inode, &meta).map_err(|e| WalkError::io(rel, e))?
                    }
                    _ => meta,
                };
                // A copy-up of a file with links takes an inode number of the upper layer's
                // (no origin to keep): the descriptor's file, opened at the name, is it.
                if settled.kind == FileKind::Regular {
                    listed = settled;
                }
                opened = Some((fd, settled));
            }
        }
        // More than one link: refused by lock and status. An unlock goes on: it hands back
        // only what the record holds (the lock's fail-closed change below), and judges the
        // rest, so that a root file left with other names is said, not counted as down.
        if listed.nlink > 1 && self.pass != Pass::Unlock {
            self.issue(
                IssueCode::HardlinkedEntry,
                rel,
                format!("{} links: refused, left as it is", listed.nlink),
            );
            // Fail-closed: a link the user the trees are handed to owns (the sandbox user
            // planted it) keeps no write bit and goes to the tree's owner; its read bits
            // stay as they are (never a widening). Recorded first, as every change of the
            // lock, so that an unlock hands it back. Anyone else's file (root's, the
            // gateway's linked in by the sandbox user) is not ours to change: its other
            // names are where its owner keeps it.
            if self.pass == Pass::Lock && listed.uid == self.user() {
                let opened = match opened.take() {
                    Some(o) => Some(o),
                    None => match sys::openat(Base::Dir(dir), name, NOFOLLOW_FILE) {
                        Ok(fd) => {
                            let meta =
                                sys::fstat_born(fd.as_fd()).map_err(|e| WalkError::io(rel, e))?;
                            Some((fd, meta))
                        }
                        Err(_) => None,
                    },
                };
                if let Some((fd, meta)) = opened {
                    if meta.same_inode(&listed) && meta.kind == FileKind::Regular {
                        let inode = sys::InodeFd::examined(fd.as_fd(), &meta)
                            .expect("a regular file: checked");
                        self.note_change(inode, &meta)
                            .map_err(|e| WalkError::io(rel, e))?;
                        let mode = meta.mode & 0o555;
                        files::change_owner_mode(fd.as_fd(), None, None, Some(mode))
                            .and_then(|()| {
                                // The mode again after the chown, as `lock_inode` sets it.
                                files::change_owner_mode(
                                    fd.as_fd(),
                                    Some(class.file.uid),
                                    Some(class.file.gid),
                                    Some(mode),
                                )
                            })
                            .map_err(|e| WalkError::io(rel, e))?;
                    }
                }
            }
            counts.untouched += 1;
            return Ok(None);
        }
        if self.pass == Pass::Status {
            self.judge(&listed, class, counts);
            return Ok(None);
        }
        let (fd, meta) = match opened {
            Some(o) => o,
            None => {
                let fd = match sys::openat(Base::Dir(dir), name, NOFOLLOW_FILE) {
                    Ok(fd) => fd,
                    Err(e) => {
                        self.leave(
                            counts,
                            IssueCode::Unreadable,
                            rel,
                            format!("cannot open: {e}"),
                        );
                        // As the name was listed: what a status would judge.
                        self.judge(&listed, class, counts);
                        return Ok(None);
                    }
                };
                let meta = sys::fstat_born(fd.as_fd()).map_err(|e| WalkError::io(rel, e))?;
                (fd, meta)
            }
        };
        let inode = match sys::InodeFd::examined(fd.as_fd(), &meta) {
            Some(inode)
                if meta.same_inode(&listed)
                    && meta.kind == FileKind::Regular
                    && (meta.nlink == 1 || self.pass == Pass::Unlock) =>
            {
                inode
            }
            _ => {
                self.leave(
                    counts,
                    IssueCode::Raced,
                    rel,
                    "replaced or linked while it was walked: left as it is",
                );
                if meta.kind == FileKind::Regular && meta.nlink == 1 {
                    self.judge(&meta, class, counts);
                }
                return Ok(None);
            }
        };
        if meta.dev != self.dev {
            self.leave(
                counts,
                IssueCode::MountPoint,
                rel,
                "a file of another filesystem: left as it is",
            );
            self.judge(&meta, class, counts);
            return Ok(None);
        }
        match self.pass {
            Pass::Lock => Ok(Some((fd, meta))),
            Pass::Unlock => {
                let left = self.unlock_inode(inode, &meta, rel, false, counts)?;
                self.judge(&left, class, counts);
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    /// Adds a file `file` made ready to the batch, and locks the batch once it is full.
    #[allow(clippy::too_many_arguments)]
    fn queue<'n>(
        &mut self,
        dir: BorrowedFd<'_>,
        batch: &mut Vec<Ready<'n>>,
        name: &'n CStr,
        ready: Option<(OwnedFd, Meta)>,
        rel: &[u8],
        class: &ClassPosture,
        counts: &mut Counts,
    ) -> Result<(), WalkError> {
        if let Some((fd, meta)) = ready {
            batch.push(Ready { name, fd, meta });
            if batch.len() == BATCH {
                self.lock_batch(dir, batch, rel, class, counts)?;
            }
        }
        Ok(())
    }

    /// Locks the files `file` made ready in `dir` (whose path is `rel`), emptying `batch`:
    /// the inodes about to change recorded in one write, then each locked, judged, and
    /// renewed where a writer holds it.
    fn lock_batch(
        &mut self,
        dir: BorrowedFd<'_>,
        batch: &mut Vec<Ready<'_>>,
        rel: &[u8],
        class: &ClassPosture,
        counts: &mut Counts,
    ) -> Result<(), WalkError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut path = join(rel, b"");
        let base = path.len();
        let at = |path: &mut Vec<u8>, name: &CStr| {
            path.truncate(base);
            path.extend_from_slice(name.to_bytes());
        };
        // Someone else's files change below: recorded first, as `lock_inode` changes them
        // (to the class's posture where it differs). A root file changes only where it was
        // recorded before, or narrowed: nothing to hand back.
        let changes = |m: &Meta| {
            m.uid != 0
                && (m.uid, m.gid, m.mode)
                    != (class.file.uid, class.file.gid, class.file.mode_for(m.mode))
        };
        let mut noted = false;
        for r in batch.iter().filter(|r| changes(&r.meta)) {
            let inode = sys::InodeFd::examined(r.fd.as_fd(), &r.meta)
                .expect("a regular file: `file` checked");
            let id = self.id_for_change(inode, &r.meta).map_err(|e| {
                at(&mut path, r.name);
                WalkError::io(&path, e)
            })?;
            // Recorded by an earlier shields up (a lock and an unlock of the trees alone
            // keep the record): not again, or the record would grow with every cycle.
            if self.recorded.is_some_and(|set| set.contains(&id)) {
                continue;
            }
            if let Some(w) = self.writer.as_deref_mut() {
                w.note_owned(id, &r.meta);
                noted = true;
            }
        }
        if let (true, Some(w)) = (noted, self.writer.as_deref_mut()) {
            w.flush().map_err(|e| WalkError::io(rel, e))?;
        }
        for r in batch.drain(..) {
            at(&mut path, r.name);
            let inode = sys::InodeFd::examined(r.fd.as_fd(), &r.meta)
                .expect("a regular file: `file` checked");
            let target = Target {
                uid: class.file.uid,
                gid: class.file.gid,
                mode: class.file.mode_for(r.meta.mode),
            };
            let (mut left, read_back) =
                self.lock_inode(inode, &r.meta, &path, &target, false, counts)?;
            // Until the chown its owner could link it elsewhere (into a carve-out, through a
            // descriptor it holds): what it is left as read back from the inode, as a status
            // would find it. A root file's links are root's to make.
            if r.meta.uid != 0 && !read_back {
                left = sys::fstat(r.fd.as_fd()).map_err(|e| WalkError::io(&path, e))?;
            }
            // A renewal copies owner and mode onto a fresh inode of one link: the posture
            // left. Without one, another link is refused as a status refuses it.
            let renewed = self.renew_if_written(dir, r.name, r.fd, &r.meta, &path, counts)?;
            if left.nlink > 1 && !renewed {
                self.leave(
                    counts,
                    IssueCode::HardlinkedEntry,
                    &path,
                    format!(
                        "{} links, made while it was locked: locked, refused",
                        left.nlink
                    ),
                );
            } else {
                self.judge(&left, class, counts);
            }
        }
        Ok(())
    }

    fn symlink(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &CStr,
        rel: &[u8],
        counts: &mut Counts,
    ) -> Result<(), WalkError> {
        counts.symlinks += 1;
        self.count(0)?;
        if self.pass == Pass::Budget {
            return Ok(());
        }
        if self.pass == Pass::Unlock {
            return Ok(());
        }
        let mut buf = [0u8; libc::PATH_MAX as usize + 1];
        let n = match sys::readlinkat(dir, name, &mut buf) {
            Ok(n) if n < buf.len() => n,
            Ok(_) => {
                self.leave(
                    counts,
                    IssueCode::SymlinkOutsideProtectedRoot,
                    rel,
                    "a target longer than PATH_MAX",
                );
                return Ok(());
            }
            Err(e) => {
                self.leave(
                    counts,
                    IssueCode::Unreadable,
                    rel,
                    format!("cannot read the link: {e}"),
                );
                return Ok(());
            }
        };
        let target = &buf[..n];
        match lexical_target(&self.profile.dir, rel, target) {
            Some(parts)
                if parts
                    .first()
                    .is_some_and(|root| self.profile.tree_class(root).is_some()) =>
            {
                let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
                if self.profile.in_carve_out(&refs) || self.profile.holds_carve_out(&refs) {
                    self.issue(
                        IssueCode::SymlinkCrossesCarveOut,
                        rel,
                        format!(
                            "points into, or above, a writable carve-out ({}): refused, left as it is",
                            crate::escape::escape_bytes(target)
                        ),
                    );
                    counts.untouched += 1;
                }
            }
            _ => {
                self.issue(
                    IssueCode::SymlinkOutsideProtectedRoot,
                    rel,
                    format!(
                        "points outside the protected trees ({}): refused, left as it is",
                        crate::escape::escape_bytes(target)
                    ),
                );
                counts.untouched += 1;
            }
        }
        Ok(())
    }

    /// Status: is this inode in the class's locked posture (no bit beyond it), or someone
    /// else's than root's?
    fn judge(&mut self, m: &Meta, class: &ClassPosture, counts: &mut Counts) {
        let locked = match m.kind {
            FileKind::Directory => {
                m.uid == class.dir.uid && m.gid == class.dir.gid && m.mode & !class.dir.mode == 0
            }
            _ => m.uid == class.file.uid && m.mode & !class.file.keep == 0,
        };
        if locked {
            counts.locked += 1;
        } else if m.uid != 0 {
            counts.unlocked += 1;
        } else {
            // Root's, but with more than the locked posture allows: neither.
            counts.locked += 1;
            counts.unlocked += 1;
        }
    }

    /// Records `inode` (examined as `m`) before it changes, in a write of its own, unless
    /// the record holds it already.
    fn note_change(&mut self, inode: sys::InodeFd<'_>, m: &Meta) -> io::Result<()> {
        let id = self.id_for_change(inode, m)?;
        let known = self.recorded.is_some_and(|set| set.contains(&id));
        if let (false, Some(w)) = (known, self.writer.as_deref_mut()) {
            w.note_owned(id, m);
            w.flush()?;
        }
        Ok(())
    }

    /// Lock one inode: write bits off, then the owner, then the mode; only what differs.
    /// An inode root already owned is never widened: it keeps its group, and its mode loses
    /// bits only. What it is left as, and whether that was read back from the inode after
    /// the chown (`fstat`), not taken from what was set.
    fn lock_inode(
        &mut self,
        inode: sys::InodeFd<'_>,
        m: &Meta,
        rel: &[u8],
        target: &Target,
        is_dir: bool,
        counts: &mut Counts,
    ) -> Result<(Meta, bool), WalkError> {
        let fd = inode.fd();
        // Someone's other than root's and the sandbox user's, on a filesystem that keeps
        // neither an inode generation nor a birth time: the record could not tell this inode
        // from a later one given its number, and shields down would give that one this
        // owner. Left as it is, and said (the tree is then not locked).
        let user = self.user();
        if m.uid != 0
            && m.uid != user
            && self
                .inode_id(inode, m)
                .map_err(|e| WalkError::io(rel, e))?
                .2
                == 0
        {
            self.leave(
                counts,
                IssueCode::UnprotectedEntry,
                rel,
                format!(
                    "uid {}'s, on a filesystem that keeps neither an inode generation nor a \
                     birth time: taken, it could not be given back exactly; left as it is",
                    m.uid
                ),
            );
            return Ok((*m, false));
        }
        let ours = m.uid == 0
            && self
                .recorded
                .is_some_and(|set| self.inode_id(inode, m).is_ok_and(|id| set.contains(&id)));
        let target = if m.uid == 0 && !ours {
            Target {
                uid: 0,
                gid: m.gid,
                mode: m.mode & target.mode & if is_dir { 0o7777 } else { 0o777 },
            }
        } else {
            *target
        };
        // What the inode is left as: the posture the kernel took on the held descriptor.
        // After the chown only root may change it, and a bit the kernel may drop on its own
        // (set-group-ID, without CAP_FSETID) leaves it no less locked.
        let left = Meta {
            uid: target.uid,
            gid: target.gid,
            mode: target.mode,
            ..*m
        };
        if m.uid == target.uid && m.gid == target.gid && m.mode == target.mode {
            return Ok((left, false));
        }
        let io = |e| WalkError::io(rel, e);
        // Someone else's inode is recorded before it changes: a directory here, a file by
        // `lock_batch` with the others of its batch.
        if m.uid != 0 && is_dir {
            self.note_change(inode, m).map_err(io)?;
        }
        // Write bits off first, but for the owner's where the target keeps it: until the
        // chown the owner may change the mode itself anyway, and after it the owner is the
        // target's.
        let strip = if target.mode & 0o200 != 0 {
            0o022
        } else {
            0o222
        };
        let mut mode = m.mode;
        if mode & strip != 0 {
            mode &= !strip;
            sys::shields::fchmod(fd, mode).map_err(io)?;
            crate::killpoint::step();
        }
        let chowned = (m.uid, m.gid) != (target.uid, target.gid);
        if chowned {
            sys::shields::fchown(fd, target.uid, target.gid).map_err(io)?;
            crate::killpoint::step();
        }
        // A file the strip gave its target mode already: read back once it is root's (only
        // root may change it then, and its owner could have linked it elsewhere until the
        // chown), and its mode set again only where that owner changed it before the chown.
        if chowned && !is_dir && mode == target.mode {
            let now = sys::fstat(fd).map_err(io)?;
            if (now.uid, now.gid, now.mode) == (target.uid, target.gid, target.mode) {
                counts.changed += 1;
                return Ok((now, true));
            }
        }
        // The mode last: after every chown not read back as the target above, since until
        // then the owner could change the mode itself (through a descriptor it holds) and the
        // chown keeps what it set; otherwise only where it is not the target's already (the
        // inode was root's).
        if chowned || mode != target.mode {
            sys::shields::fchmod(fd, target.mode).map_err(io)?;
            crate::killpoint::step();
        }
        counts.changed += 1;
        Ok((left, false))
    }

    /// Unlock one inode: only one this tool's lock recorded, or (no record: another tool's
    /// lock) one in exactly the locked posture, root's, one link, on `dir`'s device.
    fn unlock_inode(
        &mut self,
        inode: sys::InodeFd<'_>,
        m: &Meta,
        rel: &[u8],
        is_dir: bool,
        counts: &mut Counts,
    ) -> Result<Meta, WalkError> {
        let io = |e| WalkError::io(rel, e);
        if m.uid != 0 {
            return Ok(*m); // already someone else's: nothing to hand back
        }
        let unlocked = self.profile.unlocked_posture;
        let mut before = None;
        let eligible = match self.recorded {
            Some(set) => {
                let id = self.inode_id(inode, m).map_err(io)?;
                before = self.owners.and_then(|o| o.of(&id));
                set.contains(&id)
            }
            None => {
                let root = rel.split(|&b| b == b'/').next().unwrap_or(b"");
                let class = self
                    .profile
                    .tree_class(root)
                    .map(|c| *self.profile.class_posture(c));
                m.dev == self.dev
                    && m.nlink <= if is_dir { u64::MAX } else { 1 }
                    && class.is_some_and(|c| {
                        if is_dir {
                            m.uid == c.dir.uid && m.gid == c.dir.gid && m.mode == c.dir.mode
                        } else {
                            m.uid == c.file.uid && m.gid == c.file.gid && m.mode & !c.file.keep == 0
                        }
                    })
            }
        };
        // Root's before the lock (a renewal's copy of a root file a root process held open for
        // writing): root's it stays, as it was.
        let eligible = eligible && !matches!(before, Some([0, ..]));
        if !eligible {
            self.leave(
                counts,
                IssueCode::NotHandedBack,
                rel,
                format!(
                    "root's, {:04o}, not locked by this tool's shields up: left as it is",
                    m.mode
                ),
            );
            return Ok(*m);
        }
        let user = if is_dir {
            unlocked.dir.uid
        } else {
            unlocked.file.uid
        };
        let (uid, gid, mode) =
            if let Some([uid, gid, mode]) = before.filter(|&[uid, ..]| uid != 0 && uid != user) {
                // Taken from someone else than the user the trees are handed to (a file of the
                // gateway's, say): given back as it was, never to the sandbox user; a file
                // without its set-user-ID and set-group-ID bits (its bytes may have changed
                // while root's: the bits are never handed back with them).
                (uid, gid, if is_dir { mode } else { mode & !0o6000 })
            } else if is_dir {
                (unlocked.dir.uid, unlocked.dir.gid, unlocked.dir.mode)
            } else {
                (
                    unlocked.file.uid,
                    unlocked.file.gid,
                    unlocked.file.mode_for(m.mode),
                )
            };
        sys::shields::fchown(inode.fd(), uid, gid).map_err(io)?;
        crate::killpoint::step();
        sys::shields::fchmod(inode.fd(), mode).map_err(io)?;
        crate::killpoint::step();
        counts.changed += 1;
        Ok(Meta {
            uid,
            gid,
            mode,
            ..*m
        })
    }

    /// After a file is root's: a read lease says whether anyone still holds it open or mapped
    /// for writing; only then (or when the lease cannot tell) does it go onto a fresh inode.
    /// `true`: it did.
    fn renew_if_written(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &CStr,
        old: OwnedFd,
        before: &Meta,
        rel: &[u8],
        counts: &mut Counts,
    ) -> Result<bool, WalkError> {
        let io = |e| WalkError::io(rel, e);
        let overlay = self.on_overlay(old.as_fd()).map_err(io)?;
        let Err((_, old)) = crate::fileops::writer_check_then_close(old, Some(overlay)) else {
            return Ok(false);
        };
        // A fresh inode under a temporary's name would be one a later walk takes for a killed
        // renewal's and removes: not made. The writer is said instead.
        if name.to_bytes().starts_with(TEMP_PREFIX) {
            self.issue(
                IssueCode::Raced,
                rel,
                "held open for writing, under a name like a renewal's temporary: locked, \
                 not renewed (a writer may still change it)",
            );
            return Ok(false);
        }
        self.tmp_counter += 1;
        let temp = CString::new(format!(
            ".nc-harden-new.{}.{}",
            std::process::id(),
            self.tmp_counter
        ))
        .expect("no NUL");
        let user = self.user();
        let copied = renew_settling(
            dir,
            name,
            old.as_fd(),
            &temp,
            self.writer.as_deref_mut(),
            (before.uid != user).then_some(before),
        )
        .map_err(io)?;
        counts.renewed += 1;
        self.renewed.push(rel.to_vec());
        give_back_other_names(old.as_fd(), before).map_err(io)?;
        if copied == Copied::WhileWritten {
            self.issue(
                IssueCode::Raced,
                rel,
                "a writer changed it during every copy: the last copy has the name (locked; \
                 its bytes may be caught mid-write), the writer keeps only the old inode",
            );
        }
        Ok(true)
    }
}

/// A regular file opened and examined by `file`, to be locked by `lock_batch`.
struct Ready<'n> {
    name: &'n CStr,
    fd: OwnedFd,
    meta: Meta,
}

/// The most files held open at once for one write of the record (besides one descriptor a
/// directory of the walk's depth).
const BATCH: usize = 32;

/// Owner, group and mode to give an inode.
#[derive(Clone, Copy, Debug)]
struct Target {
    uid: u32,
    gid: u32,
    mode: u32,
}

impl From<crate::profile::Posture> for Target {
    fn from(p: crate::profile::Posture) -> Self {
        Target {
            uid: p.uid,
            gid: p.gid,
            mode: p.mode,
        }
    }
}

/// Copies the locked file `old` (examined as `meta`) to `temp` in `dir`, records the new
/// inode, and renames it over `name` if `old` did not change meanwhile. `Ok(false)`: it
/// changed, nothing left behind.
pub(super) fn renew(
    dir: BorrowedFd<'_>,
    name: &CStr,
    old: BorrowedFd<'_>,
    meta: &Meta,
    temp: &CStr,
    writer: Option<&mut Writer>,
    owner: Option<&Meta>,
) -> io::Result<bool> {
    copy_over(dir, name, old, meta, temp, writer, owner, false).map(|c| c == Copied::Whole)
}

/// What one copy of `copy_over` came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Copied {
    /// `old` did not change while it was copied: the copy has the name.
    Whole,
    /// It changed, and the copy was dropped.
    Dropped,
    /// It changed, and the copy has the name all the same (`settle`).
    WhileWritten,
}

#[allow(clippy::too_many_arguments)]
fn copy_over(
    dir: BorrowedFd<'_>,
    name: &CStr,
    old: BorrowedFd<'_>,
    meta: &Meta,
    temp: &CStr,
    writer: Option<&mut Writer>,
    owner: Option<&Meta>,
    settle: bool,
) -> io::Result<Copied> {
    let _ = sys::unlinkat(dir, temp);
    let new = sys::create_exclusive(dir, temp, 0o600)?;
    // Recorded before anything else: a call killed from here on leaves a temporary that the
    // next call knows for its own (by inode, never by its name alone) and removes. With
    // `owner` (what the file was before its lock, someone's other than the sandbox user's),
    // the copy is recorded as that file's, so that shields down gives it that owner again.
    if let Some(w) = writer {
        let (m, inode) = examine(new.as_fd())?;
        let id = inode_id(inode, &m)?;
        match owner {
            Some(before) => w.note_temporary_owned(id, before),
            None => w.note_temporary(id),
        }
        w.flush()?;
    }
    let done = (|| -> io::Result<Copied> {
        // Bytes (holes kept), owner, then the attributes (the kernel drops
        // security.capability on chown), mode, inode flags, times; `None`: `old` changed.
        let copied = match crate::engine::renew::copy_into(old, meta, new.as_fd(), meta)? {
            Some(_) => Copied::Whole,
            None if settle => Copied::WhileWritten,
            None => return Ok(Copied::Dropped),
        };
        crate::killpoint::step();
        sys::renameat(dir, temp, name)?;
        crate::killpoint::step();
        Ok(copied)
    })();
    if !matches!(done, Ok(Copied::Whole | Copied::WhileWritten)) {
        let _ = sys::unlinkat(dir, temp);
    }
    done
}

/// How often `renew_settling` copies a file that keeps changing.
const SETTLE_TRIES: usize = 4;

/// `renew` of a locked file a writer holds, from a fresh fstat each time, asked again while
/// the writer keeps changing it; the last copy takes the name however `old` moved meanwhile
/// (`Copied::WhileWritten`). The name is never left on an inode a writer holds: its
/// descriptor reaches only the old inode then, which no name of `dir` shows (the caller
/// gives its other names back). A byte the copy caught mid-write is one that writer, the
/// file's owner until the lock, could have written whole.
pub(super) fn renew_settling(
    dir: BorrowedFd<'_>,
    name: &CStr,
    old: BorrowedFd<'_>,
    temp: &CStr,
    mut writer: Option<&mut Writer>,
    owner: Option<&Meta>,
) -> io::Result<Copied> {
    for attempt in 1..=SETTLE_TRIES {
        let meta = sys::fstat(old)?;
        let settle = attempt == SETTLE_TRIES;
        match copy_over(
            dir,
            name,
            old,
            &meta,
            temp,
            writer.as_deref_mut(),
            owner,
            settle,
        )? {
            Copied::Dropped => continue,
            done => return Ok(done),
        }
    }
    unreachable!("the last try settles")
}

/// The temporary names of renewals: the engine's own prefix.
pub use crate::pin::leftovers::TEMP_PREFIX;

/// Removes `name` of `dir` if it is a temporary a killed call of this tool made: a regular
/// file of one link whose inode the record holds as one it made (`made`: the record's
/// temporaries). A file merely named like one, locked or not, is left (`false`).
pub(super) fn remove_leftover(
    dir: BorrowedFd<'_>,
    name: &CStr,
    listed: &Meta,
    made: &Set<InodeId>,
) -> io::Result<bool> {
    let Ok(fd) = sys::openat(Base::Dir(dir), name, NOFOLLOW_FILE) else {
        return Ok(false);
    };
    let (m, inode) = examine(fd.as_fd())?;
    if !m.same_inode(listed) || m.nlink != 1 || !made.contains(&inode_id(inode, &m)?) {
        return Ok(false);
    }
    sys::unlinkat(dir, name)?;
    Ok(true)
}

/// Why a walk stopped.
#[derive(Debug)]
pub enum WalkError {
    Budget(OverBudget),
    Io { path: Vec<u8>, source: io::Error },
}

impl WalkError {
    fn io(path: &[u8], source: io::Error) -> Self {
        WalkError::Io {
            path: path.to_vec(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::lexical_target;

    fn t(link: &str, target: &str) -> Option<String> {
        lexical_target(b"/sandbox/.openclaw", link.as_bytes(), target.as_bytes()).map(|p| {
            p.iter()
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join("/")
        })
    }

    #[test]
    fn links_resolve_lexically() {
        assert_eq!(t("skills/a/l", "../b").as_deref(), Some("skills/b"));
        assert_eq!(t("skills/l", "../../etc"), None);
        assert_eq!(
            t("skills/l", "/sandbox/.openclaw/hooks/x").as_deref(),
            Some("hooks/x")
        );
        assert_eq!(t("skills/l", "/sandbox/.openclaw2/x"), None);
        assert_eq!(t("skills/l", "/etc/passwd"), None);
        assert_eq!(t("skills/l", "./x/./y").as_deref(), Some("skills/x/y"));
        assert_eq!(
            t("skills/l", "../agents/main/sessions/s").as_deref(),
            Some("agents/main/sessions/s")
        );
        // `..` after a component the kernel may have followed: no lexical answer.
        assert_eq!(t("skills/l", "../agents/main/sessions/w/../../agent"), None);
        assert_eq!(t("skills/l", "x/../y"), None);
        assert_eq!(t("skills/l", "/sandbox/.openclaw/hooks/../skills"), None);
    }
}
