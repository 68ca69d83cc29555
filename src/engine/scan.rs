//! One pass over the entries of a directory: each entry is looked at once, by name relative
//! to the directory fd, pinned or unpinned as the call asks, and judged by the policy.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::error::Error;
use crate::pin;
use crate::pin::immutable::{self, SymlinkFlags};
use crate::pin::Outcome;
use crate::policy::{self, FileKind, Meta, Reason, PATH_MAX};
use crate::report::{escape_bytes, Action, Entry};
use crate::sys::{self, Base, DirentType};

/// What the pass does to each entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The directory is pinned: pin each entry (by its own flag where `flags`, else it is
    /// held by the directory's read-only mount), then judge what is pinned.
    Freeze { flags: bool },
    /// Nothing could be pinned: judge only, never open an entry.
    Check,
    /// Judge, and read whether each entry is pinned (by its flag, or by the mount).
    Verify { dir_pinned: bool, mounted: bool },
    /// Clear the flags; no judging.
    Unfreeze,
}

/// The flags and the mount this call set, to be taken back if the layout turns out invalid.
#[derive(Default)]
pub struct Undo {
    pub directory: bool,
    /// The root of the read-only mount this call attached.
    pub mount: Option<OwnedFd>,
    files: Vec<CString>,
    links: Vec<CString>,
}

impl Undo {
    /// Clears every flag recorded, the directory's last so that the names stay put meanwhile.
    pub fn rollback(&mut self, dir: BorrowedFd<'_>) -> Result<(), Error> {
        let failed = |what: &CStr, e: io::Error| {
            Error::io(
                format!(
                    "taking back the flag of \"{}\"",
                    escape_bytes(what.to_bytes())
                ),
                e,
            )
        };
        let mut links = SymlinkFlags::default();
        for name in self.links.drain(..) {
            links.unpin(dir, &name).map_err(|e| failed(&name, e))?;
        }
        for name in self.files.drain(..) {
            let meta = sys::lstatat(dir, &name).map_err(|e| failed(&name, e))?;
            let fd = open_regular(dir, &name, &meta)
                .map_err(|_| failed(&name, io::Error::from_raw_os_error(libc::ESTALE)))?;
            let outcome = immutable::unpin_inode(fd.as_fd()).map_err(|e| failed(&name, e))?;
            if outcome.action == Action::Denied {
                return Err(failed(&name, io::Error::from_raw_os_error(outcome.errno)));
            }
        }
        if let Some(mount) = self.mount.take() {
            pin::mount::rollback(&mount).map_err(|e| failed(c".", e))?;
        }
        if std::mem::take(&mut self.directory) {
            let outcome = immutable::unpin_inode(dir).map_err(|e| failed(c".", e))?;
            if outcome.action == Action::Denied {
                return Err(failed(c".", io::Error::from_raw_os_error(outcome.errno)));
            }
        }
        Ok(())
    }
}

/// Opens a regular entry so that nothing can block or follow: O_NONBLOCK (a FIFO swapped in
/// cannot hang us), O_NOFOLLOW, O_NOCTTY; then checks by fstat that it is the very inode
/// `expected` describes and a regular file, before any ioctl is sent to it.
fn open_regular(dir: BorrowedFd<'_>, name: &CStr, expected: &Meta) -> Result<OwnedFd, Rejection> {
    let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY;
    let fd = sys::openat(Base::Dir(dir), name, flags).map_err(Rejection::unreadable)?;
    let meta = sys::fstat(fd.as_fd()).map_err(Rejection::unreadable)?;
    if meta.kind != FileKind::Regular || !meta.same_inode(expected) {
        return Err(Rejection::new(Reason::EntryChanged, 0));
    }
    Ok(fd)
}

struct Rejection {
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

fn kind_of(d_type: DirentType) -> FileKind {
    match d_type {
        DirentType::Fifo => FileKind::Fifo,
        DirentType::CharDevice => FileKind::CharDevice,
        DirentType::Directory => FileKind::Directory,
        DirentType::BlockDevice => FileKind::BlockDevice,
        DirentType::Regular => FileKind::Regular,
        DirentType::Symlink => FileKind::Symlink,
        DirentType::Socket => FileKind::Socket,
        DirentType::Unknown => FileKind::Unknown,
    }
}

/// The state of one pass.
pub struct Scan<'a> {
    pub dir: BorrowedFd<'a>,
    /// `data_dir` and its fd; `None` for unfreeze, which judges nothing.
    pub data: Option<(BorrowedFd<'a>, &'a [u8])>,
    pub owner: u32,
    pub mode: Mode,
    pub undo: Undo,
    links: SymlinkFlags,
    target: Box<[u8]>,
}

impl<'a> Scan<'a> {
    pub fn new(
        dir: BorrowedFd<'a>,
        data: Option<(BorrowedFd<'a>, &'a [u8])>,
        owner: u32,
        mode: Mode,
    ) -> Self {
        Scan {
            dir,
            data,
            owner,
            mode,
            undo: Undo::default(),
            links: SymlinkFlags::default(),
            target: vec![0u8; PATH_MAX].into_boxed_slice(),
        }
    }

    /// Looks at one entry. `d_type` spares an fstatat for symlinks and for the types that are
    /// rejected by type alone; an entry whose d_type is unknown is fstat'ed first.
    pub fn inspect(&mut self, name: &CStr, d_type: DirentType) -> Result<Entry, Error> {
        let kind = kind_of(d_type);
        if self.mode == Mode::Unfreeze {
            return self.unfreeze(name, kind);
        }
        match kind {
            FileKind::Symlink => self.symlink(name),
            FileKind::Regular | FileKind::Unknown => self.by_stat(name),
            other => Ok(Entry::rejected(
                name.to_bytes(),
                other,
                policy::judge_kind(other),
                0,
            )),
        }
    }

    /// Entries whose type must come from fstatat.
    fn by_stat(&mut self, name: &CStr) -> Result<Entry, Error> {
        let meta = match sys::lstatat(self.dir, name) {
            Ok(meta) => meta,
            Err(e) => return Ok(unreadable(name, FileKind::Unknown, &e)),
        };
        match meta.kind {
            FileKind::Regular => self.regular(name, &meta),
            FileKind::Symlink => self.symlink(name),
            other => Ok(Entry::rejected(
                name.to_bytes(),
                other,
                policy::judge_kind(other),
                0,
            )),
        }
    }

    fn regular(&mut self, name: &CStr, lmeta: &Meta) -> Result<Entry, Error> {
        let bytes = name.to_bytes();
        let judge = |meta: &Meta, outcome: Outcome| match policy::judge_regular(meta, self.owner) {
            Reason::None => Entry {
                errno: outcome.errno,
                ..Entry::new(bytes, FileKind::Regular, outcome.action)
            },
            reason => Entry::rejected(bytes, FileKind::Regular, reason, 0),
        };
        if self.mode == Mode::Check {
            return Ok(judge(lmeta, Outcome::new(Action::Checked)));
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
                ));
            }
            Err(r) => return Ok(Entry::rejected(bytes, FileKind::Regular, r.reason, r.errno)),
        };
        let outcome = match self.mode {
            Mode::Freeze { flags: true } => {
                let outcome =
                    immutable::pin_inode(fd.as_fd()).map_err(|e| io_on(name, "pinning", e))?;
                if outcome.action == Action::Frozen {
                    self.undo.files.push(name.to_owned());
                }
                outcome
            }
            Mode::Freeze { flags: false } => Outcome::new(Action::PinnedByDirectory),
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
        Ok(judge(&meta, outcome))
    }

    fn symlink(&mut self, name: &CStr) -> Result<Entry, Error> {
        let bytes = name.to_bytes();
        let outcome = match self.mode {
            Mode::Freeze { flags: true } => {
                let outcome = self
                    .links
                    .pin(self.dir, name)
                    .map_err(|e| io_on(name, "pinning", e))?;
                if outcome.action == Action::Frozen {
                    self.undo.links.push(name.to_owned());
                }
                outcome
            }
            Mode::Freeze { flags: false }
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
        let (data_fd, data_dir) = self.data.expect("judging passes have data_dir");
        if !policy::link_target_matches(data_dir, bytes, target) {
            let mut entry =
                Entry::rejected(bytes, FileKind::Symlink, Reason::LinkTargetMismatch, 0);
            entry.target = Some(target.to_vec());
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
        Ok(match policy::judge_data_entry(found) {
            Reason::None => Entry {
                errno: outcome.errno,
                ..Entry::new(bytes, FileKind::Symlink, outcome.action)
            },
            reason => Entry::rejected(bytes, FileKind::Symlink, reason, 0),
        })
    }

    /// Clears the flags of one entry; entries of other types are left untouched, unopened.
    fn unfreeze(&mut self, name: &CStr, kind: FileKind) -> Result<Entry, Error> {
        let bytes = name.to_bytes();
        let (kind, outcome) = match kind {
            FileKind::Symlink => (
                kind,
                self.links
                    .unpin(self.dir, name)
                    .map_err(|e| io_on(name, "unpinning", e))?,
            ),
            FileKind::Regular | FileKind::Unknown => {
                let meta = match sys::lstatat(self.dir, name) {
                    Ok(meta) => meta,
                    Err(e) => return Ok(unreadable(name, kind, &e)),
                };
                match meta.kind {
                    FileKind::Regular => match open_regular(self.dir, name, &meta) {
                        Ok(fd) => (
                            meta.kind,
                            immutable::unpin_inode(fd.as_fd())
                                .map_err(|e| io_on(name, "unpinning", e))?,
                        ),
                        Err(r) => return Ok(Entry::rejected(bytes, meta.kind, r.reason, r.errno)),
                    },
                    FileKind::Symlink => (
                        meta.kind,
                        self.links
                            .unpin(self.dir, name)
                            .map_err(|e| io_on(name, "unpinning", e))?,
                    ),
                    other => (other, Outcome::new(Action::Checked)),
                }
            }
            other => (other, Outcome::new(Action::Checked)),
        };
        // No flags on this filesystem: there is nothing to clear.
        let action = if outcome.action == Action::Unsupported {
            Action::Checked
        } else {
            outcome.action
        };
        Ok(Entry {
            errno: outcome.errno,
            ..Entry::new(bytes, kind, action)
        })
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
