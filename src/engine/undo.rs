//! What a freeze added, so that a freeze that cannot finish takes it back: the one rollback
//! path of the engine. The fields are private; the freeze and the scan only say what they set.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::scan::open_regular;
use crate::error::Error;
use crate::escape::escape_bytes;
use crate::pin;
use crate::pin::immutable::{self, SymlinkFlags};
use crate::report::{Action, Layers};
use crate::sys;

/// The flags and the mount this call set, to be taken back if the layout turns out invalid.
#[derive(Default)]
pub struct Undo {
    directory: bool,
    /// The root of the read-only mount this call attached.
    mount: Option<OwnedFd>,
    /// `data_dir`, when this call set its flag.
    data_dir: Option<OwnedFd>,
    /// The regular files this call flagged, each with the inode (device, number) it flagged:
    /// a rollback clears the flag of that inode only, never of whatever else the name may
    /// show by then (something mounted over it).
    files: Vec<(CString, (u64, u64))>,
    links: Vec<CString>,
    /// Pins that were there before the call and that it took off to change the posture: put
    /// back whenever the call does not finish, so that no call leaves the directory less
    /// pinned than it found it.
    cleared_directory: bool,
    cleared_files: Vec<CString>,
}

impl Undo {
    /// This call set the directory's own flag.
    pub fn directory_flagged(&mut self) {
        self.directory = true;
    }

    /// This call attached the read-only mount whose root is `root` (if any).
    pub fn mounted(&mut self, root: Option<OwnedFd>) {
        self.mount = root;
    }

    /// This call set `data_dir`'s flag.
    pub fn data_dir_flagged(&mut self, data_dir: OwnedFd) {
        self.data_dir = Some(data_dir);
    }

    /// This call set the flag of the regular file `name`, the inode `meta`.
    pub fn file_flagged(&mut self, name: &CStr, meta: &crate::inode::Meta) {
        self.files.push((name.to_owned(), (meta.dev, meta.ino)));
    }

    /// This call set the flag of the symlink `name`.
    pub fn link_flagged(&mut self, name: &CStr) {
        self.links.push(name.to_owned());
    }

    /// This call took the directory's own flag off (set by an earlier freeze).
    pub fn directory_cleared(&mut self) {
        self.cleared_directory = true;
    }

    /// This call took the flag of the regular file `name` off (set by an earlier freeze).
    pub fn file_cleared(&mut self, name: &CStr) {
        self.cleared_files.push(name.to_owned());
    }

    /// Whether this call took off pins that were there before it.
    pub fn cleared_any(&self) -> bool {
        self.cleared_directory || !self.cleared_files.is_empty()
    }

    /// Puts back the pins this call took off: the flag on whatever regular file the name
    /// shows now (the same bytes, perhaps on a fresh inode), the directory's last.
    pub fn restore_cleared(&mut self, dir: BorrowedFd<'_>) -> Result<(), Error> {
        let failed = |what: &CStr, e: io::Error| {
            Error::io(
                format!(
                    "putting back the flag of \"{}\"",
                    escape_bytes(what.to_bytes())
                ),
                e,
            )
        };
        for name in self.cleared_files.drain(..) {
            let Ok(meta) = sys::lstatat(dir, &name) else {
                continue;
            };
            let Ok(fd) = open_regular(dir, &name, &meta) else {
                continue;
            };
            put_back(fd.as_fd()).map_err(|e| failed(&name, e))?;
        }
        if std::mem::take(&mut self.cleared_directory) {
            put_back(dir).map_err(|e| failed(c".", e))?;
        }
        Ok(())
    }

    /// The layers this call added, which a rollback takes away.
    pub fn added(&self) -> Layers {
        Layers {
            immutable: self.directory,
            mount: self.mount.is_some(),
            data_dir: self.data_dir.is_some(),
        }
    }

    /// Whether this call took off the directory's own flag (set before it).
    pub fn cleared_directory(&self) -> bool {
        self.cleared_directory
    }

    /// Clears every flag recorded, the directory's last so that the names stay put meanwhile.
    /// A name that no longer shows the inode flagged (something mounted over it meanwhile, or
    /// the inode replaced) is not touched: the rest is taken back all the same, and the call
    /// then fails saying which flag stays.
    pub fn rollback(&mut self, dir: BorrowedFd<'_>, path: &[u8]) -> Result<(), Error> {
        let failed = |what: &CStr, e: io::Error| {
            Error::io(
                format!(
                    "taking back the flag of \"{}\"",
                    escape_bytes(what.to_bytes())
                ),
                e,
            )
        };
        let dir_mount = pin::mountinfo::mount_facts(dir).ok().map(|f| f.mnt_id);
        // Every name whose flag stays, and the first reason.
        let mut left: Vec<String> = Vec::new();
        let mut first_failure = None;
        let mut links = SymlinkFlags::default();
        for name in std::mem::take(&mut self.links) {
            // A link's flag is cleared by name (file_setattr refuses the O_PATH descriptor a
            // link has: EBADF on Linux 6.18): only where the name shows a link of `dir`'s own
            // mount, nothing mounted over it; a mount made in the instant between this look
            // and the call is not closed (README, "Not yet closed").
            let taken_back = sys::lstatat(dir, &name).and_then(|meta| {
                if meta.kind != crate::inode::FileKind::Symlink
                    || crate::rules::is_mount_point(meta.mount, dir_mount) == Some(true)
                {
                    return Err(not_the_one_flagged());
                }
                cleared(links.unpin(dir, &name)?)
            });
            if let Err(e) = taken_back {
                left.push(format!("\"{}\"", escape_bytes(name.to_bytes())));
                first_failure.get_or_insert(e);
            }
        }
        for (name, (dev, ino)) in std::mem::take(&mut self.files) {
            let taken_back = (|| {
                let meta = sys::lstatat(dir, &name)?;
                let moved = meta.dev != dev
                    || meta.ino != ino
                    || crate::rules::is_mount_point(meta.mount, dir_mount) == Some(true);
                if moved {
                    return Err(not_the_one_flagged());
                }
                let fd = open_regular(dir, &name, &meta).map_err(|_| not_the_one_flagged())?;
                cleared(immutable::unpin_inode(fd.as_fd())?)
            })();
            if let Err(e) = taken_back {
                left.push(format!("\"{}\"", escape_bytes(name.to_bytes())));
                first_failure.get_or_insert(e);
            }
        }
        if let Some(e) = first_failure {
            // This pass stops here, the mount and the directory's flag keeping the names put;
            // the call's error names every flag that stays. (`Pending`'s rollback then takes
            // off what is left of this call's, the directory's flag among them.)
            return Err(Error::io(
                format!("taking back the flags of {}", left.join(", ")),
                e,
            ));
        }
        if let Some(mount) = self.mount.take() {
            pin::mount::rollback(path, &mount).map_err(|e| failed(c".", e))?;
        }
        if let Some(data) = self.data_dir.take() {
            let outcome =
                immutable::unpin_inode(data.as_fd()).map_err(|e| failed(c"data_dir", e))?;
            if outcome.action == Action::Denied {
                return Err(failed(
                    c"data_dir",
                    io::Error::from_raw_os_error(outcome.errno),
                ));
            }
        }
        if std::mem::take(&mut self.directory) {
            let outcome = immutable::unpin_inode(dir).map_err(|e| failed(c".", e))?;
            if outcome.action == Action::Denied {
                return Err(failed(c".", io::Error::from_raw_os_error(outcome.errno)));
            }
        }
        self.restore_cleared(dir)
    }
}

/// A flag taken off, or an error where the kernel denied it.
fn cleared(outcome: pin::Outcome) -> io::Result<()> {
    match outcome.action {
        Action::Denied => Err(io::Error::from_raw_os_error(outcome.errno)),
        _ => Ok(()),
    }
}

/// Sets the flag again, an error where the kernel denies it (the report must not say
/// "pinned from before" of a flag that is not there).
fn put_back(fd: BorrowedFd<'_>) -> io::Result<()> {
    match immutable::pin_inode(fd)? {
        outcome if outcome.action == Action::Denied || outcome.action == Action::Unsupported => {
            Err(io::Error::from_raw_os_error(outcome.errno))
        }
        _ => Ok(()),
    }
}

/// A name that shows another inode than the one this call flagged: its flag is not taken
/// back through the name (it would be the other inode's).
fn not_the_one_flagged() -> io::Error {
    io::Error::other(
        "the name shows another inode than the one flagged (something was mounted over it, or \
         put in its place): the flag stays on the inode beneath",
    )
}

/// A call's undo that is taken back unless the call finishes: dropped on an early return or
/// while a panic unwinds, it rolls back what was recorded (errors then go unreported: there
/// is no one left to tell).
pub struct Pending<'a> {
    undo: Undo,
    dir: BorrowedFd<'a>,
    path: &'a [u8],
    done: bool,
}

impl<'a> Pending<'a> {
    pub fn new(dir: BorrowedFd<'a>, path: &'a [u8]) -> Self {
        Pending {
            undo: Undo::default(),
            dir,
            path,
            done: false,
        }
    }

    pub fn undo(&mut self) -> &mut Undo {
        &mut self.undo
    }

    /// The call finished: what it did stays.
    pub fn finish(mut self) {
        self.done = true;
    }

    /// Takes back what was recorded, saying why where it cannot.
    pub fn roll_back(mut self) -> Result<(), Error> {
        self.done = true;
        self.undo.rollback(self.dir, self.path)
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.undo.rollback(self.dir, self.path);
        }
    }
}
