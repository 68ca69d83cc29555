//! The state records by which nc-harden knows its own mounts: one small file per directory
//! under `/run/nc-harden/` (root's, not writable by anyone else, gone at reboot with the
//! mounts it describes), written when a freeze attaches a mount, removed when the mount is
//! taken off. A mount is ours when a record holds its id: identity, never shape, so that an
//! administrator's own read-only bind is never taken for ours. Records are named after the
//! path they were made for, and found by that path or by the mount id they hold (a
//! directory moved since its freeze still has its mount known).
//!
//! Records are written to a temporary name and renamed into place, so a reader sees a whole
//! record or none. A record whose mount is gone (taken off by hand) is stale and ignored.

use std::ffi::CString;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};

use sha2::{Digest, Sha256};

use crate::inode::FileKind;
use crate::sys::{self, Base};

/// Where records live. `/run` is a tmpfs emptied at boot, as mounts are.
pub const STATE_DIR: &str = "/run/nc-harden";

/// How long a call waits for another on the same path. Root without capabilities can open
/// the lock file too (DAC bypassed) and hold it: past this, the call gives up with EAGAIN
/// (NC_IO_ERROR) rather than wait for ever.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(4);

/// Larger than any record; a bigger file is not one of ours.
const RECORD_MAX: usize = 4096;

/// What a freeze recorded of the mount it attached on `path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The reusable mount id (every kernel).
    pub legacy: u64,
    /// The unique mount id (Linux 6.8+).
    pub unique: Option<u64>,
    /// The directory the mount shows.
    pub dev: u64,
    pub ino: u64,
}

/// The record's file name: the SHA-256 of the path, so that any path has a short name.
fn file_name(path: &[u8]) -> CString {
    let digest = Sha256::digest(path);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    CString::new(format!("{hex}.mount")).expect("hex has no NUL")
}

fn unsafe_state(why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("{STATE_DIR} {why}: its records cannot be trusted"),
    )
}

/// Opens the state directory, creating it when asked. `Ok(None)` when it does not exist
/// and `create` is false. Refused unless `/run` and it are root's and writable by no one else.
pub(super) fn state_dir(create: bool) -> io::Result<Option<OwnedFd>> {
    let nofollow = libc::O_DIRECTORY | libc::O_NOFOLLOW;
    let run = sys::openat(Base::Cwd, c"/run", libc::O_PATH | nofollow)?;
    let trusted = |meta: &crate::inode::Meta| {
        meta.kind == FileKind::Directory && meta.uid == 0 && meta.mode & 0o022 == 0
    };
    if !trusted(&sys::fstat(run.as_fd())?) {
        return Err(unsafe_state("is under a /run not owned by root"));
    }
    if create {
        match sys::mkdirat(run.as_fd(), c"nc-harden", 0o755) {
            Err(e) if e.raw_os_error() != Some(libc::EEXIST) => return Err(e),
            _ => {}
        }
    }
    let dir = match sys::openat(
        Base::Dir(run.as_fd()),
        c"nc-harden",
        libc::O_RDONLY | nofollow,
    ) {
        Ok(dir) => dir,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) && !create => return Ok(None),
        Err(e) => return Err(e),
    };
    if !trusted(&sys::fstat(dir.as_fd())?) {
        return Err(unsafe_state("is not root's, or is writable by others"));
    }
    Ok(Some(dir))
}

/// Every record (a handful: one per directory frozen with the mount layer), with the path
/// each was made for.
pub fn all() -> io::Result<Vec<(Vec<u8>, Record)>> {
    let Some(dir) = state_dir(false)? else {
        return Ok(Vec::new());
    };
    let mut names = Vec::new();
    let mut reader = sys::DirEntries::new(dir.as_fd());
    while let Some(entry) = reader.next_entry()? {
        let name = entry.name.to_bytes();
        if name.len() == 64 + ".mount".len() && name.ends_with(b".mount") {
            names.push(entry.name.to_owned());
        }
    }
    let mut records = Vec::new();
    for name in names {
        if let Some(found) = read(dir.as_fd(), &name)? {
            records.push(found);
        }
    }
    Ok(records)
}

/// One record file. A file that is not a root-owned regular file writable by root alone,
/// or that does not parse, is not a record of ours: `None`.
fn read(
    dir: std::os::fd::BorrowedFd<'_>,
    name: &std::ffi::CStr,
) -> io::Result<Option<(Vec<u8>, Record)>> {
    let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY;
    let fd = match sys::openat(Base::Dir(dir), name, flags) {
        Ok(fd) => fd,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ELOOP)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let meta = sys::fstat(fd.as_fd())?;
    if meta.kind != FileKind::Regular || meta.uid != 0 || meta.mode & 0o022 != 0 {
        return Ok(None);
    }
    let mut text = Vec::new();
    std::fs::File::from(fd)
        .take(RECORD_MAX as u64 + 1)
        .read_to_end(&mut text)?;
    Ok(parse(&text).filter(|(path, _)| file_name(path).as_c_str() == name))
}

/// Writes the record of `path` (whole or not at all: a temporary name, then rename).
pub fn store(path: &[u8], record: &Record) -> io::Result<()> {
    let dir = state_dir(true)?.expect("created");
    let name = file_name(path);
    let temp = CString::new(format!(
        "{}.{}.tmp",
        name.to_str().expect("ASCII"),
        std::process::id()
    ))
    .expect("no NUL");
    let _ = sys::unlinkat(dir.as_fd(), &temp);
    let fd = sys::create_exclusive(dir.as_fd(), &temp, 0o644)?;
    let mut file = std::fs::File::from(fd);
    let written = file
        .write_all(render(path, record).as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| sys::renameat(dir.as_fd(), &temp, &name));
    if written.is_err() {
        let _ = sys::unlinkat(dir.as_fd(), &temp);
    }
    written
}

fn named(path: &[u8], suffix: &str) -> CString {
    let mut name = file_name(path).into_bytes();
    name.truncate(64);
    name.extend_from_slice(suffix.as_bytes());
    CString::new(name).expect("no NUL")
}

/// Serializes the calls on `path` across processes: an exclusive lock for freeze and
/// unfreeze (held for the call: drop the fd to release it), a shared one for verify, so that
/// verify never sees a half-done freeze. `None` where there is no lock to take: a caller that
/// may not create the state directory (not root) changes nothing that needs one.
pub fn lock(path: &[u8], exclusive: bool) -> io::Result<Option<OwnedFd>> {
    let dir = match state_dir(exclusive) {
        Ok(Some(dir)) => dir,
        Ok(None) => return Ok(None),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EACCES | libc::EPERM | libc::EROFS | libc::ENOENT)
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let name = named(path, ".lock");
    let fd = if exclusive {
        match sys::files::open_or_create(dir.as_fd(), &name, 0o644) {
            Ok(fd) => fd,
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EACCES | libc::EPERM | libc::EROFS)
                ) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(e),
        }
    } else {
        match sys::openat(
            Base::Dir(dir.as_fd()),
            &name,
            libc::O_RDONLY | libc::O_NOFOLLOW,
        ) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
            Err(e) => return Err(e),
        }
    };
    sys::files::lock(fd.as_fd(), exclusive, LOCK_WAIT)?;
    Ok(Some(fd))
}

/// Removes the record of `path`; fine when there is none.
pub fn remove(path: &[u8]) -> io::Result<()> {
    let Some(dir) = state_dir(false)? else {
        return Ok(());
    };
    match sys::unlinkat(dir.as_fd(), &file_name(path)) {
        Err(e) if e.raw_os_error() != Some(libc::ENOENT) => Err(e),
        _ => Ok(()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn render(path: &[u8], r: &Record) -> String {
    format!(
        "nc-harden mount record 1\npath {}\nlegacy {}\nunique {}\ndev {}\nino {}\n",
        hex(path),
        r.legacy,
        r.unique.map_or("none".to_string(), |u| u.to_string()),
        r.dev,
        r.ino
    )
}

/// The record in `text`, if it is a whole one, with the path it names.
fn parse(text: &[u8]) -> Option<(Vec<u8>, Record)> {
    let text = std::str::from_utf8(text).ok()?;
    let mut lines = text.strip_suffix('\n')?.split('\n');
    if lines.next()? != "nc-harden mount record 1" {
        return None;
    }
    let mut field =
        |key: &str| -> Option<&str> { lines.next()?.strip_prefix(key)?.strip_prefix(' ') };
    let path = unhex(field("path")?)?;
    let legacy = field("legacy")?.parse().ok()?;
    let unique = match field("unique")? {
        "none" => None,
        n => Some(n.parse().ok()?),
    };
    let dev = field("dev")?.parse().ok()?;
    let ino = field("ino")?.parse().ok()?;
    if lines.next().is_some() {
        return None;
    }
    Some((
        path,
        Record {
            legacy,
            unique,
            dev,
            ino,
        },
    ))
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_as_written() {
        for unique in [Some(1u64 << 40), None] {
            let r = Record {
                legacy: 417,
                unique,
                dev: 2049,
                ino: 12,
            };
            let path = b"/sandbox/.openclaw\xff";
            assert_eq!(
                parse(render(path, &r).as_bytes()),
                Some((path.to_vec(), r.clone()))
            );
        }
    }

    #[test]
    fn a_cut_or_padded_record_is_none() {
        let r = Record {
            legacy: 1,
            unique: Some(2),
            dev: 3,
            ino: 4,
        };
        let text = render(b"/d", &r);
        for cut in 0..text.len() {
            assert_eq!(parse(&text.as_bytes()[..cut]), None, "{cut}");
        }
        assert_eq!(parse(format!("{text}x\n").as_bytes()), None);
    }

    #[test]
    fn names_are_hashes() {
        let name = file_name(b"/sandbox/.openclaw");
        assert_eq!(name.to_bytes().len(), 64 + ".mount".len());
        assert_ne!(name, file_name(b"/sandbox/.openclaw2"));
    }
}
