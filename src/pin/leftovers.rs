//! Leftovers identified by what made them, never by their name. A renewal (or a seal being
//! written) puts its fresh inode at a temporary name `.nc-harden-new.<tag>` of the directory
//! first, then renames it over the real one; a call killed in between leaves the name. The
//! tag is 128 random bits, and before the name is created it is recorded in the root-only
//! state directory (`<dev>-<ino>.<tag>.new`, for the directory by device and inode); the
//! inode made at that name is written into the record right after it is created, and the
//! record goes once the name is gone (renamed or removed).
//!
//! So the next call on the directory removes exactly the temporaries a killed call made: a
//! name whose tag is recorded for this directory and whose inode is the one recorded. A file
//! the sandbox user named `.nc-harden-new.anything`, or a recorded name that someone replaced
//! with a file of their own, is left as it is. Where the state directory cannot be used
//! (not root, no `/run`), the temporary is made unrecorded: a kill then leaves its name,
//! which no later call removes.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::record;
use crate::inode::{FileKind, Meta};
use crate::sys::{self, Base};

/// The names of nc-harden's temporaries: `.nc-harden-new.<32 hex digits>`.
pub const TEMP_PREFIX: &[u8] = b".nc-harden-new.";

const SUFFIX: &str = ".new";

/// Larger than any record of ours.
const RECORD_MAX: usize = 128;

use crate::escape::hex;

/// The records of `dir` begin so: its device and inode.
fn prefix(dir: &Meta) -> String {
    format!("{:x}-{:x}.", dir.dev, dir.ino)
}

/// A temporary file of this call, at its tagged name in the directory.
pub struct Temp {
    name: CString,
    /// The state directory and the record's name; `None`: unrecorded.
    record: Option<(OwnedFd, CString)>,
}

/// A record made and still open: the state directory, the record's name, its fd.
type Opened = (OwnedFd, CString, OwnedFd);

impl Temp {
    /// Creates a new file (mode `mode`, exclusive) at a fresh tagged name of `dir`, its tag
    /// recorded before the name exists and its inode right after. Returns it and its fd
    /// (open for writing).
    pub fn create(dir: BorrowedFd<'_>, mode: u32) -> io::Result<(Temp, OwnedFd)> {
        let mut tag = [0u8; 16];
        sys::files::random_bytes(&mut tag)?;
        let tag = hex(&tag);
        let mut name = TEMP_PREFIX.to_vec();
        name.extend_from_slice(tag.as_bytes());
        let name = CString::new(name).expect("hex has no NUL");
        let dir_meta = sys::fstat(dir)?;
        let opened: Option<Opened> = match record::state_dir(true) {
            Ok(Some(state)) => {
                let file = CString::new(format!("{}{tag}{SUFFIX}", prefix(&dir_meta)))
                    .expect("hex has no NUL");
                // Empty: the tag is known, its inode not yet.
                let rec = sys::create_exclusive(state.as_fd(), &file, 0o600)?;
                Some((state, file, rec))
            }
            // Not root, or no state directory to be had: unrecorded.
            _ => None,
        };
        let (record, rec) = match opened {
            Some((state, file, rec)) => (Some((state, file)), Some(rec)),
            None => (None, None),
        };
        let mut temp = Temp { name, record };
        let fd = match sys::create_exclusive(dir, &temp.name, mode) {
            Ok(fd) => fd,
            Err(e) => {
                temp.forget();
                return Err(e);
            }
        };
        let recorded = match &rec {
            Some(rec) => sys::fstat(fd.as_fd()).and_then(|made| {
                let line = format!("{} {}\n", made.dev, made.ino);
                sys::files::pwrite_all(rec.as_fd(), line.as_bytes(), 0)
            }),
            None => Ok(()),
        };
        if let Err(e) = recorded {
            temp.discard(dir);
            return Err(e);
        }
        Ok((temp, fd))
    }

    pub fn name(&self) -> &CStr {
        &self.name
    }

    /// The name is gone (renamed over its target): the record goes.
    pub fn forget(&mut self) {
        if let Some((state, file)) = self.record.take() {
            let _ = sys::unlinkat(state.as_fd(), &file);
        }
    }

    /// Removes the name (a copy given up), then the record.
    pub fn discard(mut self, dir: BorrowedFd<'_>) {
        let _ = sys::unlinkat(dir, &self.name);
        self.forget();
    }
}

/// Removes what killed calls left in `dir`: each name recorded for this directory whose
/// inode is the one recorded. Every record of `dir` goes (a call on `dir` holds its lock, so
/// none is another live call's). Returns the names removed.
pub fn remove(dir: BorrowedFd<'_>) -> io::Result<usize> {
    let Some(state) = record::state_dir(false)? else {
        return Ok(0);
    };
    let dir_meta = sys::fstat(dir)?;
    let prefix = prefix(&dir_meta);
    let mut records = Vec::new();
    let mut reader = sys::DirEntries::new(state.as_fd());
    while let Some(entry) = reader.next_entry()? {
        let name = entry.name.to_bytes();
        if name.starts_with(prefix.as_bytes()) && name.ends_with(SUFFIX.as_bytes()) {
            records.push(entry.name.to_owned());
        }
    }
    let mut removed = 0;
    for file in records {
        let bytes = file.to_bytes();
        let tag = &bytes[prefix.len()..bytes.len() - SUFFIX.len()];
        if tag.len() == 32 && tag.iter().all(u8::is_ascii_hexdigit) {
            if let Some((dev, ino)) = read(state.as_fd(), &file)? {
                let mut name = TEMP_PREFIX.to_vec();
                name.extend_from_slice(tag);
                let name = CString::new(name).expect("hex has no NUL");
                let ours = sys::lstatat(dir, &name)
                    .is_ok_and(|m| m.kind == FileKind::Regular && m.dev == dev && m.ino == ino);
                if ours {
                    sys::unlinkat(dir, &name)?;
                    removed += 1;
                }
            }
        }
        sys::unlinkat(state.as_fd(), &file)?;
    }
    Ok(removed)
}

/// The inode a record holds; `None` where it holds none (killed before it was written) or is
/// not a record of ours (not root's alone).
fn read(state: BorrowedFd<'_>, file: &CStr) -> io::Result<Option<(u64, u64)>> {
    let flags = sys::OFlags::RDONLY | sys::OFlags::NOFOLLOW | sys::OFlags::NONBLOCK;
    let fd = match sys::openat(Base::Dir(state), file, flags) {
        Ok(fd) => fd,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ELOOP)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let meta = sys::fstat(fd.as_fd())?;
    if meta.kind != FileKind::Regular || meta.uid != 0 || meta.mode & 0o077 != 0 {
        return Ok(None);
    }
    let mut buf = [0u8; RECORD_MAX];
    let n = sys::files::pread(fd.as_fd(), &mut buf, 0)?;
    let text = std::str::from_utf8(&buf[..n]).unwrap_or("");
    let mut fields = text.trim_end_matches('\n').split(' ');
    let (Some(dev), Some(ino), None) = (fields.next(), fields.next(), fields.next()) else {
        return Ok(None);
    };
    Ok(dev.parse().ok().zip(ino.parse().ok()))
}
