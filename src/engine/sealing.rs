//! Seals and postures: the SHA-256 of each pinned file checked against a `sha256sum`-format
//! seal of the directory (or the seal written afresh), and the locked posture (owner, 0755,
//! files 0444) that NemoClaw's "shields up" brings a directory to.

use std::ffi::{CStr, CString};
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::escape::escape_bytes;
use crate::inode::{FileKind, Meta};
use crate::pin::leftovers::Temp;
use crate::report::SealResult;
use crate::report::{Action, Entry};
use crate::rules::seal::{self, SealLine, SEAL_MAX};
use crate::rules::Reason;
use crate::sys::{self, files, Base, DirEntries};

/// The locked posture of the contract: the owner, 0755 for the directory, 0444 for its files.
pub const LOCKED_DIR_MODE: u32 = 0o755;
pub const LOCKED_FILE_MODE: u32 = 0o444;

fn open_file(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<OwnedFd> {
    let flags = sys::OFlags::RDONLY | sys::OFlags::NOFOLLOW | sys::OFlags::NONBLOCK;
    let fd = sys::openat(Base::Dir(dir), name, flags)?;
    if sys::fstat(fd.as_fd())?.kind != FileKind::Regular {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    Ok(fd)
}

/// The bytes of an open regular file, from its start (pread: the offset is not moved).
fn read_all(fd: BorrowedFd<'_>, cap: Option<usize>) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = sys::files::pread(fd, &mut buf, out.len() as u64)?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
        if cap.is_some_and(|cap| out.len() > cap) {
            return Ok(out);
        }
    }
}

/// The SHA-256 of an open regular file's bytes, streamed through one buffer of at most
/// `crate::fileops::CHUNK` bytes whatever the file's size; the holes of a sparse file (SEEK_DATA,
/// SEEK_HOLE) are hashed as the zeros they read as, without reading them.
fn digest(fd: BorrowedFd<'_>) -> io::Result<[u8; 32]> {
    let size = sys::fstat(fd)?.size;
    let mut hash = Sha256::new();
    // One byte more than a small file holds: its end is seen without a second buffer.
    let len = usize::try_from(size.saturating_add(1))
        .map_or(crate::fileops::CHUNK, |n| n.min(crate::fileops::CHUNK));
    let mut buf = vec![0u8; len.max(512)];
    let mut at = 0u64;
    for run in crate::fileops::runs(fd, size) {
        match run {
            crate::fileops::Run::Hole { start, end } => {
                buf.fill(0);
                let mut left = end - start;
                while left > 0 {
                    let n = left.min(buf.len() as u64) as usize;
                    hash.update(&buf[..n]);
                    left -= n as u64;
                }
                at = end;
            }
            crate::fileops::Run::Data { end, .. } => {
                while at < end {
                    let want = (end - at).min(buf.len() as u64) as usize;
                    let n = files::pread(fd, &mut buf[..want], at)?;
                    if n == 0 {
                        // Shorter than it was: what it holds now is what is hashed.
                        return Ok(hash.finalize().into());
                    }
                    hash.update(&buf[..n]);
                    at += n as u64;
                }
            }
        }
    }
    // Longer than it was: the rest, to its end.
    loop {
        let n = files::pread(fd, &mut buf, at)?;
        if n == 0 {
            return Ok(hash.finalize().into());
        }
        hash.update(&buf[..n]);
        at += n as u64;
    }
}

fn name_of(bytes: &[u8]) -> CString {
    CString::new(bytes).expect("entry names hold no NUL")
}

/// Checks the seal `name` against the pinned files of `shown` (the directory the path shows):
/// each valid regular entry gets its SHA-256; the seal entry is rejected when missing
/// (`seal_missing`) or malformed (`seal_malformed`: not a regular file, not `sha256sum`
/// format, too large, or naming something that is not a regular file of the directory), a
/// sealed file whose bytes differ is rejected (`seal_mismatch`).
pub fn check(
    shown: BorrowedFd<'_>,
    path: &[u8],
    name: &[u8],
    entries: &mut Vec<Entry>,
) -> Result<SealResult, Error> {
    let failed = |what: &[u8], e| Error::io(format!("reading \"{}\"", escape_bytes(what)), e);
    for entry in entries.iter_mut() {
        if entry.kind == FileKind::Regular && !entry.is_rejected() && !entry.is_directory_itself() {
            let fd = open_file(shown, &name_of(&entry.name)).map_err(|e| failed(&entry.name, e))?;
            entry.sha256 = Some(digest(fd.as_fd()).map_err(|e| failed(&entry.name, e))?);
        }
    }
    let mark = |entries: &mut Vec<Entry>, who: &[u8], reason: Reason| match entries
        .iter_mut()
        .find(|e| e.name == who && !e.is_directory_itself())
    {
        Some(entry) => {
            entry.action = Action::Rejected;
            entry.reason = reason;
        }
        None => entries.push(Entry::rejected(who, FileKind::Unknown, reason, 0)),
    };
    let Some(seal_entry) = entries.iter().find(|e| e.name == name) else {
        mark(entries, name, Reason::SealMissing);
        return Ok(SealResult::Missing);
    };
    if seal_entry.kind != FileKind::Regular {
        mark(entries, name, Reason::SealMalformed);
        return Ok(SealResult::Malformed);
    }
    let fd = open_file(shown, &name_of(name)).map_err(|e| failed(name, e))?;
    let text = read_all(fd.as_fd(), Some(SEAL_MAX)).map_err(|e| failed(name, e))?;
    let lines = match seal::parse(&text, path, name) {
        Ok(lines) => lines,
        Err(_) => {
            mark(entries, name, Reason::SealMalformed);
            return Ok(SealResult::Malformed);
        }
    };
    let regular = |n: &[u8]| {
        entries
            .iter()
            .find(|e| e.name == n && e.kind == FileKind::Regular && !e.is_directory_itself())
            .and_then(|e| e.sha256)
    };
    if lines.iter().any(|l| regular(&l.name).is_none()) {
        mark(entries, name, Reason::SealMalformed);
        return Ok(SealResult::Malformed);
    }
    let differ: Vec<Vec<u8>> = lines
        .iter()
        .filter(|l| regular(&l.name) != Some(l.digest))
        .map(|l| l.name.clone())
        .collect();
    for name in &differ {
        mark(entries, name, Reason::SealMismatch);
    }
    Ok(if differ.is_empty() {
        SealResult::Ok
    } else {
        SealResult::Mismatch
    })
}

/// Whether the seal `name` of `shown` holds for the bytes shown: well formed, and every file
/// it names a regular file of the directory with that digest.
pub fn holds(shown: BorrowedFd<'_>, path: &[u8], name: &[u8]) -> Result<bool, Error> {
    let failed = |e| Error::io(format!("reading the seal \"{}\"", escape_bytes(name)), e);
    let Ok(fd) = open_file(shown, &name_of(name)) else {
        return Ok(false);
    };
    let text = read_all(fd.as_fd(), Some(SEAL_MAX)).map_err(failed)?;
    let Ok(lines) = seal::parse(&text, path, name) else {
        return Ok(false);
    };
    for line in lines {
        let Ok(file) = open_file(shown, &name_of(&line.name)) else {
            return Ok(false);
        };
        if digest(file.as_fd()).map_err(failed)? != line.digest {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The regular files of `dir` other than `except`, by name.
fn regular_names(dir: BorrowedFd<'_>, except: &[u8]) -> io::Result<Vec<CString>> {
    let mut names = Vec::new();
    let mut reader = DirEntries::new(dir);
    reader.rewind()?;
    while let Some(entry) = reader.next_entry()? {
        if entry.name.to_bytes() != except {
            names.push(entry.name.to_owned());
        }
    }
    names.retain(|n| sys::lstatat(dir, n).is_ok_and(|m| m.kind == FileKind::Regular));
    Ok(names)
}

/// What `write` came to, short of an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SealWrite {
    Written,
    /// A file to name is not a regular file of `dir`, or there is none: nothing written.
    Rejected(Reason),
}

/// Writes the seal `name` of `dir` afresh (a fresh inode, renamed over the old by
/// descriptor) from the current bytes of the files the old seal names, or of every other
/// regular file where there is none (or it cannot be read as one); `SealWrite::Rejected`
/// when one of them is not a regular file of `dir`, or the seal would be larger than
/// `SEAL_MAX`. Owner and mode: `attrs`, else those
/// of the old seal, else `fallback`. `on_fresh` is told of the fresh inode, complete, before
/// it takes the name.
pub fn write(
    dir: BorrowedFd<'_>,
    path: &[u8],
    name: &[u8],
    attrs: Option<(u32, u32, u32)>,
    fallback: (u32, u32, u32),
    on_fresh: &mut dyn FnMut(BorrowedFd<'_>) -> io::Result<()>,
) -> Result<SealWrite, Error> {
    let failed = |e| Error::io(format!("writing the seal \"{}\"", escape_bytes(name)), e);
    let cname = name_of(name);
    let old = open_file(dir, &cname).ok();
    let old_meta = old.as_ref().and_then(|fd| sys::fstat(fd.as_fd()).ok());
    let named: Option<Vec<Vec<u8>>> = old
        .as_ref()
        .and_then(|fd| read_all(fd.as_fd(), Some(SEAL_MAX)).ok())
        .and_then(|text| seal::parse(&text, path, name).ok())
        .map(|lines| lines.into_iter().map(|l| l.name).collect());
    let names: Vec<Vec<u8>> = match named {
        Some(names) => names,
        None => regular_names(dir, name)
            .map_err(failed)?
            .into_iter()
            .map(|n| n.into_bytes())
            .collect(),
    };
    let mut lines = Vec::new();
    for file in names {
        let Ok(fd) = open_file(dir, &name_of(&file)) else {
            return Ok(SealWrite::Rejected(Reason::SealMalformed));
        };
        lines.push(SealLine {
            digest: digest(fd.as_fd()).map_err(failed)?,
            name: file,
        });
    }
    if lines.is_empty() {
        return Ok(SealWrite::Rejected(Reason::SealMalformed));
    }
    // Larger than a seal is read: written, it would be refused as malformed by every call
    // after, this one's check first. Nothing is written.
    let Ok(text) = seal::render(&lines) else {
        return Ok(SealWrite::Rejected(Reason::SealMalformed));
    };
    let (uid, gid, mode) = attrs
        .or(old_meta.map(|m: Meta| (m.uid, m.gid, m.mode)))
        .unwrap_or(fallback);
    let (mut temp, fd) = Temp::create(dir, 0o600).map_err(failed)?;
    let written = (|| -> io::Result<()> {
        let mut file = std::fs::File::from(fd.try_clone()?);
        file.write_all(&text)?;
        sys::files::set_owner_mode(fd.as_fd(), uid, gid, mode)?;
        on_fresh(fd.as_fd())?;
        crate::killpoint::step();
        sys::renameat(dir, temp.name(), &cname)
    })();
    if let Err(e) = written {
        temp.discard(dir);
        return Err(failed(e));
    }
    temp.forget();
    crate::killpoint::step();
    Ok(SealWrite::Written)
}

/// Whether the regular file `meta` is in exactly the locked posture: the owner's (user and
/// group), 0444, one link, on the directory's device `dev`.
pub fn in_locked_posture(meta: &Meta, owner: u32, dev: u64) -> bool {
    meta.kind == FileKind::Regular
        && meta.uid == owner
        && meta.gid == owner
        && meta.mode == LOCKED_FILE_MODE
        && meta.nlink == 1
        && meta.dev == dev
}

/// Whether `dir` (the one the path shows) and its regular files are in the locked posture.
pub fn is_locked(dir: BorrowedFd<'_>, owner: u32) -> io::Result<bool> {
    let meta = sys::fstat(dir)?;
    if meta.uid != owner || meta.mode != LOCKED_DIR_MODE {
        return Ok(false);
    }
    for name in regular_names(dir, b"")? {
        let m = sys::lstatat(dir, &name)?;
        if m.uid != owner || m.mode != LOCKED_FILE_MODE {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    /// A sparse file: holes at the start, between runs and at the end, and runs that do not
    /// fall on a buffer's boundaries.
    fn sparse(path: &std::path::Path, size: u64, runs: &[(u64, usize)]) -> std::fs::File {
        let file = std::fs::File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .unwrap();
        file.set_len(size).unwrap();
        for &(at, len) in runs {
            let bytes: Vec<u8> = (0..len).map(|i| (i % 253) as u8 + 1).collect();
            file.write_all_at(&bytes, at).unwrap();
        }
        file
    }

    #[test]
    fn digest_of_a_sparse_file_is_that_of_its_bytes() {
        let dir = std::env::temp_dir().join(format!("nc-harden-digest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cases: [(u64, &[(u64, usize)]); 4] = [
            (0, &[]),
            (10, &[(0, 10)]),
            (5 << 20, &[(3 << 20, 12345), ((5 << 20) - 7, 7)]),
            (9 << 20, &[(1, 1), ((2 << 20) + 17, (1 << 20) + 3)]),
        ];
        for (n, (size, runs)) in cases.iter().enumerate() {
            let path = dir.join(format!("f{n}"));
            let file = sparse(&path, *size, runs);
            let expected: [u8; 32] = Sha256::digest(std::fs::read(&path).unwrap()).into();
            assert_eq!(digest(file.as_fd()).unwrap(), expected, "case {n}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
