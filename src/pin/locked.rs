//! What a shields up locked: the identity (device, inode, generation) of the directory and of
//! each regular file it brought to the locked posture, kept in the root-only state directory
//! beside the mount records, so that shields down hands back exactly those inodes and never
//! one that arrived since (a hard link to a root file, a file moved in, a directory swapped
//! in at the path). Gone at reboot, as /run is: then only an entry in exactly the locked
//! posture is handed back (see `engine`).

use std::ffi::CString;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};

use super::record;
use crate::inode::{FileKind, Meta};
use crate::sys::{self, Base};

/// Larger than any set nc-harden writes for a directory within its entry budget.
const SET_MAX: u64 = 16 << 20;

/// One inode: where it is and which one it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Identity {
    pub dev: u64,
    pub ino: u64,
    /// The inode's generation where the filesystem keeps one (an inode number reused since
    /// carries another).
    pub generation: Option<u32>,
    /// Where it keeps none (overlayfs, tmpfs): the birth time (`Meta::born`), which an inode
    /// number reused since (overlayfs over ext4 reuses them at once) does not carry; 0 where
    /// a generation tells, or neither is kept.
    pub born: u64,
}

impl Identity {
    /// The identity of the open inode `fd`, examined as `meta`.
    pub fn of(fd: BorrowedFd<'_>, meta: &Meta) -> io::Result<Identity> {
        let generation = sys::generation(fd)?;
        let born = match (generation, meta.born) {
            (Some(_), _) => 0,
            (None, 0) => sys::fstat_born(fd)?.born,
            (None, born) => born,
        };
        Ok(Identity {
            dev: meta.dev,
            ino: meta.ino,
            generation,
            born,
        })
    }
}

/// The inodes one shields up locked in a directory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LockedSet {
    pub directory: Option<Identity>,
    pub files: Vec<Identity>,
}

impl LockedSet {
    pub fn holds_file(&self, id: &Identity) -> bool {
        self.files.contains(id)
    }
}

fn set_name(path: &[u8]) -> CString {
    record::digest_name(path, ".locked")
}

/// Writes the set of `path` (whole or not at all: a temporary name, then rename), root 0600.
pub fn store(path: &[u8], set: &LockedSet) -> io::Result<()> {
    let dir = record::state_dir(true)?.expect("created");
    let name = set_name(path);
    let mut temp = name.as_bytes().to_vec();
    temp.extend_from_slice(format!(".{}.tmp", std::process::id()).as_bytes());
    let temp = CString::new(temp).expect("no NUL");
    let _ = sys::unlinkat(dir.as_fd(), &temp);
    let fd = sys::create_exclusive(dir.as_fd(), &temp, 0o600)?;
    let mut file = std::fs::File::from(fd);
    let written = file
        .write_all(render(path, set).as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| sys::renameat(dir.as_fd(), &temp, &name));
    if written.is_err() {
        let _ = sys::unlinkat(dir.as_fd(), &temp);
    }
    written
}

/// The set recorded for `path`, if a root-owned, root-only, whole one is there.
pub fn load(path: &[u8]) -> io::Result<Option<LockedSet>> {
    let Some(dir) = record::state_dir(false)? else {
        return Ok(None);
    };
    let flags = sys::OFlags::RDONLY | sys::OFlags::NOFOLLOW | sys::OFlags::NONBLOCK;
    let fd = match sys::openat(Base::Dir(dir.as_fd()), &set_name(path), flags) {
        Ok(fd) => fd,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ELOOP)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let meta = sys::fstat(fd.as_fd())?;
    if meta.kind != FileKind::Regular || meta.uid != 0 || meta.mode & 0o077 != 0 {
        return Ok(None);
    }
    let mut text = Vec::new();
    std::fs::File::from(fd)
        .take(SET_MAX + 1)
        .read_to_end(&mut text)?;
    Ok(parse(&text).filter(|(p, _)| p == path).map(|(_, set)| set))
}

/// Removes the set of `path`; fine when there is none.
pub fn remove(path: &[u8]) -> io::Result<()> {
    let Some(dir) = record::state_dir(false)? else {
        return Ok(());
    };
    match sys::unlinkat(dir.as_fd(), &set_name(path)) {
        Err(e) if e.raw_os_error() != Some(libc::ENOENT) => Err(e),
        _ => Ok(()),
    }
}

fn line(kind: char, id: &Identity) -> String {
    let generation = id
        .generation
        .map_or_else(|| "none".to_string(), |g| g.to_string());
    match id.born {
        0 => format!("{kind} {} {} {generation}\n", id.dev, id.ino),
        born => format!("{kind} {} {} {generation} {born}\n", id.dev, id.ino),
    }
}

fn render(path: &[u8], set: &LockedSet) -> String {
    let hex = crate::escape::hex(path);
    let mut text = format!("nc-harden locked set 1\npath {hex}\n");
    if let Some(dir) = &set.directory {
        text.push_str(&line('d', dir));
    }
    for file in &set.files {
        text.push_str(&line('f', file));
    }
    text.push_str("end\n");
    text
}

fn parse(text: &[u8]) -> Option<(Vec<u8>, LockedSet)> {
    let text = std::str::from_utf8(text).ok()?;
    let mut lines = text.strip_suffix("end\n")?.lines();
    if lines.next()? != "nc-harden locked set 1" {
        return None;
    }
    let hex = lines.next()?.strip_prefix("path ")?;
    if hex.len() % 2 != 0 {
        return None;
    }
    let path = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    let mut set = LockedSet::default();
    for l in lines {
        let mut f = l.split(' ');
        let kind = f.next()?;
        let id = Identity {
            dev: f.next()?.parse().ok()?,
            ino: f.next()?.parse().ok()?,
            generation: match f.next()? {
                "none" => None,
                g => Some(g.parse().ok()?),
            },
            born: match f.next() {
                None => 0,
                Some(b) => b.parse().ok().filter(|&b| b != 0)?,
            },
        };
        if f.next().is_some() {
            return None;
        }
        match kind {
            "d" if set.directory.is_none() => set.directory = Some(id),
            "f" => set.files.push(id),
            _ => return None,
        }
    }
    Some((path, set))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_reads_back_as_written_and_a_cut_one_is_none() {
        let id = |ino, generation, born| Identity {
            dev: 2049,
            ino,
            generation,
            born,
        };
        let set = LockedSet {
            directory: Some(id(2, Some(7), 0)),
            files: vec![
                id(12, None, 0),
                id(13, Some(u32::MAX), 0),
                id(14, None, (1_764_000_000 << 30) | 123_456_789),
            ],
        };
        let text = render(b"/sandbox/.openclaw\n", &set);
        assert_eq!(
            parse(text.as_bytes()),
            Some((b"/sandbox/.openclaw\n".to_vec(), set))
        );
        for cut in 0..text.len() {
            assert_eq!(parse(&text.as_bytes()[..cut]), None, "{cut}");
        }
    }
}
