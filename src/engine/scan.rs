//! One pass over the entries of a directory: each entry is looked at once, by name relative
//! to the directory fd, pinned or unpinned as the call asks, and judged by the policy.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::renew;
use super::undo::Undo;
use crate::error::Error;
use crate::escape::escape_bytes;
use crate::fileops::WriterCheck;
use crate::inode::{FileKind, Meta};
use crate::pin;
use crate::pin::immutable::{self, SymlinkFlags};
use crate::pin::Outcome;
use crate::report::{Action, Entry};
use crate::rules::{self, Reason, NAME_MAX, PATH_MAX};
use crate::sys::{self, Base};

/// What the pass does to each entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The directory is pinned: pin each entry as `PinnedBy` says, then judge what is
    /// pinned.
    Freeze(PinnedBy),
    /// Nothing could be pinned: judge only, never open an entry.
    Check,
    /// Judge, and read whether each entry is pinned (by its flag, or by the mount).
    Verify { dir_pinned: bool, mounted: bool },
    /// Clear the flags; no judging.
    Unfreeze,
}

/// What pins the entries of a frozen directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinnedBy {
    /// Each entry's own immutable flag (the flag layer).
    OwnFlag,
    /// The directory alone: its read-only mount holds every entry (the mount layer only).
    Directory,
}

/// Opens a regular entry so that nothing can block or follow: O_NONBLOCK (a FIFO swapped in
/// cannot hang us), O_NOFOLLOW, O_NOCTTY; then checks by fstat that it is the very inode
/// `expected` describes and a regular file, before any ioctl is sent to it.
pub(super) fn open_regular(
    dir: BorrowedFd<'_>,
    name: &CStr,
    expected: &Meta,
) -> Result<OwnedFd, Rejection> {
    let flags = sys::OFlags::RDONLY | sys::OFlags::NOFOLLOW | sys::OFlags::NONBLOCK;
    let fd = sys::openat(Base::Dir(dir), name, flags).map_err(Rejection::unreadable)?;
    let meta = sys::fstat(fd.as_fd()).map_err(Rejection::unreadable)?;
    if meta.kind != FileKind::Regular || !meta.same_inode(expected) {
        return Err(Rejection::new(Reason::EntryChanged, 0));
    }
    Ok(fd)
}

pub(super) struct Rejection {
    reason: Reason,
    errno: i32,
}

impl Rejection {
    fn new(reason: Reason, errno: i32) -> Self {
        Rejection { reason, errno }
    }
    fn unreadable(e: io::Error) -> Self {
        Rejection::new(Reason::EntryUnreadable, e.raw_os_error().unwrap_or(0))
    }
}

/// Which entries have something mounted over them. statx tells it for every entry it
/// examines (the mount id, the mount-root attribute) at no extra cost; a symlink is only
/// read, never examined, so it costs one statx more, paid only where some mount lies below
/// the directory at all (listmount and statmount of the directory's mount say, else one
/// read of the thread's mountinfo per call).
struct EntryMounts {
    /// The mount `dir` is on, as the kernel gives it.
    dir_mount: Option<u64>,
    /// Some mount may lie below `dir`; `true` whenever that cannot be ruled out.
    possible: bool,
    /// The thread's mountinfo, opened (not read) before anything above was asked: a mount
    /// made or taken off while the pass runs (one over a symlink, which readlinkat would
    /// read through) shows there as an event. `None` where it cannot vouch for `dir`: /proc
    /// cannot be had (none, a foreign one), or `dir`'s mount is not known to be in the
    /// thread's namespace (a chroot into another namespace's tree, where a mount over an
    /// entry is an event of that namespace only). Every link is then read again.
    watch: Option<OwnedFd>,
}

impl EntryMounts {
    /// `watched`: the pass reads links (freeze, verify, check) and is asked afterwards
    /// whether they held (`Scan::links_still_hold`); an unfreeze reads none, and opening the
    /// watch (the thread's mountinfo) is the dearest step here, some 18 us.
    fn of(dir: BorrowedFd<'_>, watched: bool) -> Self {
        // One verified /proc for the watch and the path.
        let proc = sys::procfs::Proc::open().ok();
        let watch = proc
            .as_ref()
            .filter(|_| watched)
            .and_then(|p| p.mount_table_watch().ok());
        let dir_mount = crate::pin::mountinfo::mount_facts(dir)
            .ok()
            .map(|f| f.mnt_id);
        // Whether some mount may lie below `dir`, and whether `dir`'s mount is known to be in
        // the thread's namespace (the one the watch watches).
        let probe = |proc: &sys::procfs::Proc| -> io::Result<(bool, bool)> {
            let path = proc.fd_target_path(dir)?;
            // A directory outside this process's root has no path that mountinfo could name.
            if !path.starts_with(b"/") {
                return Ok((true, false));
            }
            match pin::mountinfo::any_child_mount_below(dir, &path) {
                // listmount finds `dir`'s mount in the caller's namespace only (ENOENT else).
                Ok(answer) => Ok((answer, true)),
                Err(_) => {
                    let text = proc.mountinfo()?;
                    let ours =
                        dir_mount.is_some_and(|id| pin::mountinfo::all(&text).any(|m| m.id == id));
                    Ok((pin::mountinfo::any_mount_below(&text, &path), ours))
                }
            }
        };
        let (possible, in_namespace) = proc
            .as_ref()
            .map_or(Ok((true, false)), probe)
            .unwrap_or((true, false));
        EntryMounts {
            dir_mount,
            possible,
            watch: watch.filter(|_| in_namespace),
        }
    }

    /// Whether the mount table may have changed since `of`: yes where there is no watch
    /// that vouches for `dir`, or its poll cannot answer.
    fn changed(&self) -> bool {
        self.watch.as_ref().map_or(true, |watch| {
            sys::mount::mount_table_changed(watch.as_fd()).unwrap_or(true)
        })
    }

    /// Whether the entry `name`, examined as `meta`, has something mounted over it.
    fn over(&self, dir: BorrowedFd<'_>, name: &CStr, meta: &Meta) -> io::Result<bool> {
        if let Some(known) = rules::is_mount_point(meta.mount, self.dir_mount) {
            return Ok(known);
        }
        if !self.possible {
            return Ok(false);
        }
        // No mount id from statx (filtered, or before Linux 5.8): ask the entry's own fd.
        let fd = sys::openat(
            Base::Dir(dir),
            name,
            sys::OFlags::PATH | sys::OFlags::NOFOLLOW,
        )?;
        Ok(Some(crate::pin::mountinfo::mount_id_of(fd.as_fd())?) != self.dir_mount)
    }
}

/// The state of one pass.
pub struct Scan<'a, 'u> {
    pub dir: BorrowedFd<'a>,
    /// Names of regular files this call renewed in place before the pass (`renew::renew_all`).
    pub renewed: Vec<CString>,
    /// The fresh directory being built (a detached tmpfs, mount layer): each entry found
    /// valid is copied into it, regular files as fresh inodes.
    pub fresh: Option<BorrowedFd<'a>>,
    /// The copies into `fresh` that could not carry everything of the old inode's.
    pub uncarried: Vec<renew::Renewed>,
    /// After pinning a regular file in place, make sure that nobody holds it open for writing.
    pub check_writers: bool,
    /// No file was renewed before the pass (`freeze::Renewal::WhenFound`): before a regular
    /// file's flag is set, a read lease asks whether a writer holds it; one that is held (or
    /// cannot be told) is left unpinned and `found_held` set.
    pub renewal_deferred: bool,
    /// A regular file was found held, before its flag or right after it (`renewal_deferred`).
    pub found_held: bool,
    /// A link whose data entry does not exist yet is accepted (and so reported).
    pub allow_missing: bool,
    /// The locked posture is about to be set: the owner and mode of the directory and of its
    /// regular files are not judged (they will be the owner's, 0755 and 0444).
    pub posture_to_come: bool,
    /// `data_dir` and its fd; `None` for unfreeze, which judges nothing.
    pub data: Option<(BorrowedFd<'a>, &'a [u8])>,
    pub owner: u32,
    pub mode: Mode,
    pub undo: Option<&'u mut Undo>,
    links: SymlinkFlags,
    mounts: EntryMounts,
    /// One byte longer than the longest target that can match (`data_dir/<NAME_MAX bytes>`):
    /// a read that fills it was cut, and never equals the expected target.
    target: Box<[u8]>,
}

impl<'a> Scan<'a, '_> {
    pub fn new(
        dir: BorrowedFd<'a>,
        data: Option<(BorrowedFd<'a>, &'a [u8])>,
        owner: u32,
        mode: Mode,
    ) -> Self {
        let target_len = data.map_or(PATH_MAX, |(_, path)| path.len() + 1 + NAME_MAX + 1);
        Scan {
            dir,
            renewed: Vec::new(),
            fresh: None,
            uncarried: Vec::new(),
            check_writers: false,
            renewal_deferred: false,
            found_held: false,
            allow_missing: false,
            posture_to_come: false,
            data,
            owner,
            mode,
            undo: None,
            links: SymlinkFlags::default(),
            mounts: EntryMounts::of(dir, mode != Mode::Unfreeze),
            target: vec![0u8; target_len].into_boxed_slice(),
        }
    }

    /// Whether what the pass read of its links still holds, however the mount table moved
    /// meanwhile. readlinkat reads a link by name, through whatever is mounted on the name
    /// at that moment (a good link mounted over a bad one for an instant). Where the thread's
    /// mount namespace, `dir`'s own, had no mount event since the pass began (the watch),
    /// nothing can have shown there; otherwise (or where there is no such watch: no /proc, a
    /// chroot into another namespace) every link judged valid is read again by a descriptor of its
    /// own (`O_PATH | O_NOFOLLOW`), which must lie on `dir`'s mount and name the expected
    /// target. Unrelated mounts elsewhere in the namespace (a runtime's, a test's) cost that
    /// second reading and refuse nothing.
    pub fn links_still_hold(&mut self, entries: &[Entry]) -> bool {
        if !self.mounts.changed() {
            return true;
        }
        let Some((_, data_dir)) = self.data else {
            // A flat layout: no link is valid there.
            return true;
        };
        let (dir, dir_mount) = (self.dir, self.mounts.dir_mount);
        let target = &mut self.target;
        entries
            .iter()
            .filter(|e| e.kind == FileKind::Symlink && !e.is_rejected())
            .all(|e| {
                let Ok(name) = CString::new(e.name.clone()) else {
                    return false;
                };
                let flags = sys::OFlags::PATH | sys::OFlags::NOFOLLOW;
                let Ok(link) = sys::openat(Base::Dir(dir), &name, flags) else {
                    return false;
                };
                let on_dir = pin::mountinfo::mount_id_of(link.as_fd()).ok();
                if on_dir.is_none() || on_dir != dir_mount {
                    return false;
                }
                match sys::readlinkat(link.as_fd(), c"", target) {
                    Ok(n) if n < target.len() => {
                        rules::link_target_matches(data_dir, &e.name, &target[..n])
                    }
                    _ => false,
                }
            })
    }

    /// Does what the pass's `Mode` asks of one entry: pins it, copies it into the fresh
    /// directory and judges it (freeze), judges it (check, verify), or clears its flag
    /// (unfreeze). `d_type` spares an fstatat for symlinks and for the types that are
    /// rejected by type alone; an entry whose d_type is unknown is fstat'ed first.
    pub fn apply_mode(&mut self, name: &CStr, kind: FileKind) -> Result<Entry, Error> {
        if self.mode == Mode::Unfreeze {
            return self.unfreeze(name, kind);
        }
        match kind {
            FileKind::Symlink => self.symlink(name),
            FileKind::Regular | FileKind::Unknown => self.by_stat(name),
            other => Ok(Entry::rejected(
                name.to_bytes(),
                other,
                rules::judge_kind(other),
                0,
            )),
        }
    }

    /// Examines an entry (statx): its type, and whether something is mounted over it. A mount
    /// point is rejected here, before any flag could be set or cleared on what it shows.
    fn examine(&self, name: &CStr, kind: FileKind) -> Result<Meta, Box<Entry>> {
        let meta =
            sys::lstatat(self.dir, name).map_err(|e| Box::new(unreadable(name, kind, &e)))?;
        match self.mounts.over(self.dir, name, &meta) {
            Ok(false) => Ok(meta),
            Ok(true) => Err(Box::new(Entry::rejected(
                name.to_bytes(),
                meta.kind,
                Reason::MountPoint,
                0,
            ))),
            Err(e) => Err(Box::new(unreadable(name, meta.kind, &e))),
        }
    }

    /// Entries whose type must come from fstatat.
    fn by_stat(&mut self, name: &CStr) -> Result<Entry, Error> {
        let meta = match self.examine(name, FileKind::Unknown) {
            Ok(meta) => meta,
            Err(entry) => return Ok(*entry),
        };
        match meta.kind {
            FileKind::Regular => self.regular(name, &meta),
            FileKind::Symlink => self.symlink(name),
            other => Ok(Entry::rejected(
                name.to_bytes(),
                other,
                rules::judge_kind(other),
                0,
            )),
        }
    }

    fn regular(&mut self, name: &CStr, lmeta: &Meta) -> Result<Entry, Error> {
        let bytes = name.to_bytes();
        let mut renewed = self.renewed.iter().any(|r| r.as_c_str() == name);
        let posture_to_come = self.posture_to_come;
        let judge = |meta: &Meta, outcome: Outcome, renewed: bool| {
            let judged = if posture_to_come {
                Meta {
                    uid: self.owner,
                    mode: super::sealing::LOCKED_FILE_MODE,
                    ..*meta
                }
            } else {
                *meta
            };
            let mut entry = match rules::judge_regular(&judged, self.owner) {
                Reason::None => Entry {
                    errno: outcome.errno,
                    ..Entry::new(bytes, FileKind::Regular, outcome.action)
                },
                reason => Entry {
                    found: Some(found(&judged, self.owner)),
                    ..Entry::rejected(bytes, FileKind::Regular, reason, 0)
                },
            };
            entry.renewed = renewed;
            entry
        };
        if self.mode == Mode::Check {
            return Ok(judge(lmeta, Outcome::new(Action::Checked), renewed));
        }
        let fd = match open_regular(self.dir, name, lmeta) {
            Ok(fd) => fd,
            // Verify as a user who may not open the file: judge by fstatat, flag unknown.
            Err(r) if r.errno == libc::EACCES && matches!(self.mode, Mode::Verify { .. }) => {
                return Ok(judge(
                    lmeta,
                    Outcome {
                        action: Action::Checked,
                        errno: r.errno,
                    },
                    false,
                ));
            }
            Err(r) => return Ok(Entry::rejected(bytes, FileKind::Regular, r.reason, r.errno)),
        };
        let outcome = match self.mode {
            Mode::Freeze(PinnedBy::OwnFlag) => {
                // A held file is never flagged: its writer would meet EPERM, and the file
                // needs a fresh inode first.
                if self.renewal_deferred && !renewed && !crate::fileops::no_writer_now(fd.as_fd()) {
                    self.found_held = true;
                    return Ok(Entry::rejected(
                        bytes,
                        FileKind::Regular,
                        Reason::OpenForWriting,
                        0,
                    ));
                }
                let outcome =
                    immutable::pin_inode(fd.as_fd()).map_err(|e| io_on(name, "pinning", e))?;
                if outcome.action == Action::Frozen {
                    if let Some(undo) = self.undo.as_deref_mut() {
                        undo.file_flagged(name, lmeta);
                    }
                }
                crate::killpoint::step();
                outcome
            }
            Mode::Freeze(PinnedBy::Directory) => Outcome::new(Action::PinnedByDirectory),
            _ => {
                let mounted = matches!(self.mode, Mode::Verify { mounted: true, .. });
                match immutable::is_pinned(fd.as_fd())
                    .map_err(|e| io_on(name, "reading the flags of", e))?
                {
                    Some(true) => Outcome::new(Action::AlreadyFrozen),
                    _ if mounted => Outcome::new(Action::PinnedByDirectory),
                    Some(false) => Outcome::new(Action::Checked),
                    None => Outcome::new(Action::Unsupported),
                }
            }
        };
        // Judge the inode as it is now that it is pinned: chmod, chown and link are refused.
        let meta = sys::fstat(fd.as_fd()).map_err(|e| io_on(name, "examining", e))?;
        if let Mode::Freeze(_) = self.mode {
            // A writer that opened it before the flag (or the mount) would write on: the
            // pin holds only where nobody has it open for writing. Where the lease cannot
            // tell (not the file's owner and no CAP_LEASE, a filesystem without leases),
            // only an inode this call renewed (before the pin: nobody held it from before)
            // is taken; any other is rejected, never pinned with a writer possibly inside.
            if self.check_writers {
                let rejected = match crate::fileops::writer_check(fd.as_fd()) {
                    WriterCheck::NoWriter => None,
                    WriterCheck::Writer => Some(0),
                    WriterCheck::CannotTell(_) if renewed => None,
                    WriterCheck::CannotTell(errno) => Some(errno),
                };
                if let Some(errno) = rejected {
                    // Opened between the lease asked before the flag and the flag: with the
                    // renewal still to come, the pass is taken back and made again renewing.
                    if self.renewal_deferred {
                        self.found_held = true;
                    }
                    return Ok(Entry::rejected(
                        bytes,
                        FileKind::Regular,
                        Reason::OpenForWriting,
                        errno,
                    ));
                }
            }
            if let Some(fresh) = self.fresh {
                match renew::copy_file(fd.as_fd(), &meta, fresh, name, None)
                    .map_err(|e| io_on(name, "copying", e))?
                {
                    Some((_, lost)) => {
                        renewed = true;
                        if !lost.is_empty() {
                            self.uncarried.push(renew::Renewed {
                                name: name.to_owned(),
                                uncarried: lost,
                            });
                        }
                        crate::killpoint::step();
                    }
                    None => {
                        return Ok(Entry::rejected(
                            bytes,
                            FileKind::Regular,
                            Reason::EntryChanged,
                            0,
                        ))
                    }
                }
            }
        }
        Ok(judge(&meta, outcome, renewed))
    }

    fn symlink(&mut self, name: &CStr) -> Result<Entry, Error> {
        let bytes = name.to_bytes();
        if self.mounts.possible {
            match self.examine(name, FileKind::Symlink) {
                Ok(meta) if meta.kind != FileKind::Symlink => return self.by_stat(name),
                Ok(_) => {}
                Err(entry) => return Ok(*entry),
            }
        }
        let outcome = match self.mode {
            Mode::Freeze(PinnedBy::OwnFlag) => {
                let outcome = self
                    .links
                    .pin(self.dir, name)
                    .map_err(|e| io_on(name, "pinning", e))?;
                if outcome.action == Action::Frozen {
                    if let Some(undo) = self.undo.as_deref_mut() {
                        undo.link_flagged(name);
                    }
                }
                crate::killpoint::step();
                outcome
            }
            Mode::Freeze(PinnedBy::Directory)
            | Mode::Verify {
                dir_pinned: true, ..
            } => Outcome::new(Action::PinnedByDirectory),
            _ => Outcome::new(Action::Checked),
        };
        let n = match sys::readlinkat(self.dir, name, &mut self.target) {
            Ok(n) => n,
            // d_type said symlink but it is not one (only where nothing is pinned).
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => return self.by_stat(name),
            Err(e) => return Ok(unreadable(name, FileKind::Symlink, &e)),
        };
        let target = &self.target[..n];
        let Some((data_fd, data_dir)) = self.data else {
            // A flat layout: no link belongs there.
            let mut entry = Entry::rejected(bytes, FileKind::Symlink, Reason::UnexpectedSymlink, 0);
            entry.target = Some(target.to_vec());
            return Ok(entry);
        };
        let cut = n == self.target.len();
        if cut || !rules::link_target_matches(data_dir, bytes, target) {
            let mut entry =
                Entry::rejected(bytes, FileKind::Symlink, Reason::LinkTargetMismatch, 0);
            entry.target = Some(target.to_vec());
            entry.expected = Some([data_dir, b"/", bytes].concat());
            return Ok(entry);
        }
        let found = match sys::lstatat(data_fd, name) {
            Ok(meta) => Some(meta.kind),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT)) => None,
            Err(e) => {
                let errno = e.raw_os_error().unwrap_or(0);
                return Ok(Entry::rejected(
                    bytes,
                    FileKind::Symlink,
                    Reason::DataEntryUnreadable,
                    errno,
                ));
            }
        };
        // Not there yet, and the caller allows it (the entrypoint creates it later).
        let absent = found.is_none() && self.allow_missing;
        Ok(match rules::judge_data_entry(found) {
            reason if reason == Reason::None || absent => {
                if let Some(fresh) = self.fresh {
                    sys::files::symlinkat(&self.target[..n], fresh, name)
                        .map_err(|e| io_on(name, "copying", e))?;
                    crate::killpoint::step();
                }
                Entry {
                    errno: outcome.errno,
                    data_entry_missing: absent,
                    ..Entry::new(bytes, FileKind::Symlink, outcome.action)
                }
            }
            reason => Entry {
                // The path it leads to, which is the one expected: the line names it.
                target: Some(target.to_vec()),
                ..Entry::rejected(bytes, FileKind::Symlink, reason, 0)
            },
        })
    }

    /// Clears the flags of one entry; entries of other types are left untouched, unopened, and
    /// so is an entry with something mounted over it (its flags are not ours to clear).
    fn unfreeze(&mut self, name: &CStr, kind: FileKind) -> Result<Entry, Error> {
        let bytes = name.to_bytes();
        let examined = match kind {
            FileKind::Symlink if !self.mounts.possible => None,
            FileKind::Symlink | FileKind::Regular | FileKind::Unknown => {
                match self.examine(name, kind) {
                    Ok(meta) => Some(meta),
                    Err(entry) => return Ok(*entry),
                }
            }
            _ => None,
        };
        let kind = examined.map_or(kind, |m| m.kind);
        let outcome = match (kind, examined) {
            (FileKind::Symlink, _) => self
                .links
                .unpin(self.dir, name)
                .map_err(|e| io_on(name, "unpinning", e))?,
            (FileKind::Regular, Some(meta)) => match open_regular(self.dir, name, &meta) {
                Ok(fd) => {
                    immutable::unpin_inode(fd.as_fd()).map_err(|e| io_on(name, "unpinning", e))?
                }
                Err(r) => return Ok(Entry::rejected(bytes, kind, r.reason, r.errno)),
            },
            _ => Outcome::new(Action::Checked),
        };
        crate::killpoint::step();
        // No flags on this filesystem (or on its symlinks): there is nothing to clear, and no
        // error to report.
        let (action, errno) = if outcome.action == Action::Unsupported {
            (Action::Checked, 0)
        } else {
            (outcome.action, outcome.errno)
        };
        Ok(Entry {
            errno,
            ..Entry::new(bytes, kind, action)
        })
    }
}

/// What an owner, mode or link-count rejection found.
pub fn found(meta: &Meta, owner: u32) -> crate::report::Found {
    crate::report::Found {
        uid: meta.uid,
        required_uid: owner,
        mode: meta.mode,
        links: meta.nlink,
    }
}

fn unreadable(name: &CStr, kind: FileKind, e: &io::Error) -> Entry {
    Entry::rejected(
        name.to_bytes(),
        kind,
        Reason::EntryUnreadable,
        e.raw_os_error().unwrap_or(0),
    )
}

fn io_on(name: &CStr, doing: &str, e: io::Error) -> Error {
    Error::io(format!("{doing} \"{}\"", escape_bytes(name.to_bytes())), e)
}
