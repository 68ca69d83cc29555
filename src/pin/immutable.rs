//! The immutable-flag layer: FS_IMMUTABLE_FL by FS_IOC_GETFLAGS/FS_IOC_SETFLAGS on the
//! directory and its regular files, FS_XFLAG_IMMUTABLE by file_setattr(2) on symlinks where
//! the kernel and filesystem allow it. As systemd's chattr_full(): mask semantics, no ioctl
//! when nothing changes, every change read back. Callers pass only fds whose type fstat has
//! shown to be a directory or a regular file: the ioctl numbers are shared with drivers.

use std::ffi::CStr;
use std::io;
use std::os::fd::BorrowedFd;

use super::{denial, Outcome};
use crate::report::Action;
use crate::sys::{self, FS_IMMUTABLE_FL, FS_XFLAG_IMMUTABLE};

/// `(old & !mask) | (value & mask)`.
fn masked<T>(old: T, mask: T, value: T) -> T
where
    T: Copy
        + std::ops::BitAnd<Output = T>
        + std::ops::BitOr<Output = T>
        + std::ops::Not<Output = T>,
{
    (old & !mask) | (value & mask)
}

/// Whether a change sets the immutable flag (pins) or clears it (unpins).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    Set,
    Clear,
}

/// Sets or clears FS_IMMUTABLE_FL on a directory or regular file and reads it back.
fn change_inode(fd: BorrowedFd<'_>, change: Change) -> io::Result<Outcome> {
    let on = change == Change::Set;
    // One fstat for the three ioctls: the type is checked before any.
    let fd = match sys::InodeFd::check(fd) {
        Ok(fd) => fd,
        Err(e) => return denial(e),
    };
    let old = match fd.get_flags() {
        Ok(flags) => flags,
        Err(e) => return denial(e),
    };
    let new = masked(old, FS_IMMUTABLE_FL, if on { FS_IMMUTABLE_FL } else { 0 });
    if new == old {
        return Ok(Outcome::new(if on {
            Action::AlreadyFrozen
        } else {
            Action::Checked
        }));
    }
    if let Err(e) = fd.set_flags(new) {
        return denial(e);
    }
    let now_on = fd.get_flags()? & FS_IMMUTABLE_FL != 0;
    Ok(match (on, now_on) {
        (true, true) => Outcome::new(Action::Frozen),
        // The filesystem accepted the call and ignored the flag.
        (true, false) => Outcome::new(Action::Unsupported),
        (false, false) => Outcome::new(Action::Unfrozen),
        (false, true) => Outcome::new(Action::Denied),
    })
}

/// Pins a directory or regular file: Frozen, AlreadyFrozen, Denied (EPERM) or Unsupported.
pub fn pin_inode(fd: BorrowedFd<'_>) -> io::Result<Outcome> {
    change_inode(fd, Change::Set)
}

/// Unpins a directory or regular file: Unfrozen, Checked (was not pinned), Denied, Unsupported.
pub fn unpin_inode(fd: BorrowedFd<'_>) -> io::Result<Outcome> {
    change_inode(fd, Change::Clear)
}

/// Whether the flag is set: `None` where the filesystem has no flags at all.
pub fn is_pinned(fd: BorrowedFd<'_>) -> io::Result<Option<bool>> {
    match sys::get_flags(fd) {
        Ok(flags) => Ok(Some(flags & FS_IMMUTABLE_FL != 0)),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTTY | libc::EOPNOTSUPP)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Symlink flags through file_setattr(2). One call learns whether the directory's filesystem
/// can flag symlinks at all; after a denial no other link of the call is asked again.
#[derive(Default)]
pub struct SymlinkFlags {
    denied: Option<i32>,
}

impl SymlinkFlags {
    /// Pins the link's own inode where possible; else it is PinnedByDirectory.
    pub fn pin(&mut self, dir: BorrowedFd<'_>, name: &CStr) -> io::Result<Outcome> {
        self.change(dir, name, Change::Set)
    }

    /// Clears a flag that a freeze set on the link's inode; Checked where there is none.
    pub fn unpin(&mut self, dir: BorrowedFd<'_>, name: &CStr) -> io::Result<Outcome> {
        self.change(dir, name, Change::Clear)
    }

    fn change(&mut self, dir: BorrowedFd<'_>, name: &CStr, change: Change) -> io::Result<Outcome> {
        let on = change == Change::Set;
        let unflaggable = |errno| Outcome {
            action: if on {
                Action::PinnedByDirectory
            } else {
                Action::Checked
            },
            errno,
        };
        if let Some(errno) = self.denied {
            return Ok(unflaggable(errno));
        }
        let mut attr = match sys::file_getattr(dir, name) {
            Ok(attr) => attr,
            Err(e) => return self.note_denial(e, change),
        };
        let old = attr.xflags;
        attr.xflags = masked(
            old,
            FS_XFLAG_IMMUTABLE,
            if on { FS_XFLAG_IMMUTABLE } else { 0 },
        );
        if attr.xflags == old {
            return Ok(Outcome::new(if on {
                Action::AlreadyFrozen
            } else {
                Action::Checked
            }));
        }
        if let Err(e) = sys::file_setattr(dir, name, &attr) {
            return self.note_denial(e, change);
        }
        let now_on = sys::file_getattr(dir, name)?.xflags & FS_XFLAG_IMMUTABLE != 0;
        Ok(match (on, now_on) {
            (true, true) => Outcome::new(Action::Frozen),
            (true, false) => unflaggable(0),
            (false, false) => Outcome::new(Action::Unfrozen),
            (false, true) => Outcome::new(Action::Denied),
        })
    }

    fn note_denial(&mut self, e: io::Error, change: Change) -> io::Result<Outcome> {
        let on = change == Change::Set;
        let outcome = denial(e)?;
        if outcome.action == Action::Unsupported {
            self.denied = Some(outcome.errno);
            return Ok(Outcome {
                action: if on {
                    Action::PinnedByDirectory
                } else {
                    Action::Checked
                },
                errno: outcome.errno,
            });
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::masked;

    #[test]
    fn mask_semantics_touch_only_the_mask() {
        assert_eq!(masked(0b1010u32, 0b0001, 0b0001), 0b1011);
        assert_eq!(masked(0b1011u32, 0b0001, 0), 0b1010);
        assert_eq!(masked(0b1011u32, 0b0001, 0b1111), 0b1011);
    }
}
