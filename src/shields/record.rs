//! What a shields up locked, kept so that shields down hands back exactly that: one line per
//! inode (device, inode number, generation, and the owner, group and mode it had where it
//! was someone else's; after `t ` for an inode it made, a renewal's copy; after `m ` a mount
//! id instead), in `<state directory>/<sha256 of dir>.shields`,
//! root's (the state directory 0700, the file 0600). Lines are appended before each change
//! (write-ahead: a killed call leaves a record of every inode it may have changed), so the
//! memory it takes is the records', never the files'.

use std::ffi::CString;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};

use crate::inode::FileKind;
use crate::sys::{self, Base};

/// One inode: device, number, and what tells it from an earlier inode of that number: its
/// generation where the filesystem keeps one, else its birth time (`Meta::born`), else 0.
pub type InodeId = (u64, u64, u64);

/// The records are bounded by the entry budget; a file larger than this is not ours.
const RECORD_MAX: u64 = 64 << 20;

fn state_dir(create: bool) -> io::Result<Option<OwnedFd>> {
    // The one the call's lock holds, when it holds one (shields up and down do).
    if let Some(dir) = crate::pin::held_state_dir(create) {
        return Ok(Some(dir));
    }
    let state = crate::pin::current_state_dir();
    let trusted =
        |m: &crate::inode::Meta| m.kind == FileKind::Directory && m.uid == 0 && m.mode & 0o022 == 0;
    let (parent, _, name) = crate::pin::open_state_parent(&state, trusted, |state, at, _| {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is under a {at} that is not root's or writable by others",
                state.display()
            ),
        )
    })?;
    if create {
        match sys::mkdirat(parent.as_fd(), &name, 0o700) {
            Err(e) if e.raw_os_error() != Some(libc::EEXIST) => return Err(e),
            _ => {}
        }
    }
    let flags = sys::OFlags::RDONLY | sys::OFlags::DIRECTORY | sys::OFlags::NOFOLLOW;
    let dir = match sys::openat(Base::Dir(parent.as_fd()), &name, flags) {
        Ok(dir) => dir,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) && !create => return Ok(None),
        Err(e) => return Err(e),
    };
    if !trusted(&sys::fstat(dir.as_fd())?) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is not root's, or is writable by others",
                state.display()
            ),
        ));
    }
    Ok(Some(dir))
}

fn file_name(path: &[u8]) -> CString {
    crate::pin::state_file_name(path, ".shields")
}

/// A set of recorded values, sorted for a binary search: no hasher to seed and run on every
/// line, and some 24 bytes an inode.
#[derive(Debug)]
pub struct Set<T>(Vec<T>);

impl<T: Ord> Set<T> {
    fn of(mut values: Vec<T>) -> Self {
        values.sort_unstable();
        values.dedup();
        Set(values)
    }

    pub fn contains(&self, value: &T) -> bool {
        self.0.binary_search(value).is_ok()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<T> Default for Set<T> {
    fn default() -> Self {
        Set(Vec::new())
    }
}

/// What a record holds: the inodes changed (and made), the inodes made (a renewal's copy,
/// under its temporary name until the rename), and the read-only mounts attached (mount ids).
#[derive(Debug, Default)]
pub struct Loaded {
    pub inodes: Set<InodeId>,
    /// Only these may be removed where a temporary's name holds them: an inode merely
    /// changed (a file of the sandbox user's, whatever its name) never is.
    pub temporaries: Set<InodeId>,
    /// The owner, group and mode an inode had when it was recorded, where the line says.
    pub owners: Owners,
    pub mounts: Set<u64>,
}

/// Owner, group and mode, as an inode had them before a lock changed them.
pub type Owner = [u32; 3];

/// The owners the record holds, sorted by inode: the first line of an inode says (a later
/// one would be a lock's of an inode already changed).
#[derive(Debug, Default)]
pub struct Owners(Vec<(InodeId, Owner)>);

impl Owners {
    fn of_lines(mut lines: Vec<(InodeId, Owner)>) -> Self {
        lines.sort_by_key(|&(id, _)| id); // stable: the first line of an inode first
        lines.dedup_by_key(|&mut (id, _)| id);
        Owners(lines)
    }

    /// What `id` had before it was first changed, if its line says.
    pub fn of(&self, id: &InodeId) -> Option<Owner> {
        let at = self.0.binary_search_by_key(id, |&(id, _)| id).ok()?;
        Some(self.0[at].1)
    }
}

/// The fields of one record line, up to `N` decimal numbers below 2^64 each separated by one
/// space, and how many there are: `None` for anything else (a line cut by a kill is not a
/// record). One pass over the bytes; a number of up to 19 digits cannot overflow, so only a
/// twentieth digit is checked.
fn numbers<const N: usize>(line: &[u8]) -> Option<([u64; N], usize)> {
    let mut out = [0u64; N];
    let (mut count, mut n, mut digits) = (0, 0u64, 0);
    for &b in line {
        let digit = b.wrapping_sub(b'0');
        if digit < 10 {
            n = match digits {
                0..=18 => n * 10 + u64::from(digit),
                19 => n.checked_mul(10)?.checked_add(u64::from(digit))?,
                _ => return None,
            };
            digits += 1;
        } else if b == b' ' && digits != 0 && count + 1 < N {
            out[count] = n;
            (count, n, digits) = (count + 1, 0, 0);
        } else {
            return None;
        }
    }
    if digits == 0 || count >= N {
        return None;
    }
    out[count] = n;
    Some((out, count + 1))
}

/// What the shields calls of `path` recorded; `None` when there is no record.
pub fn load(path: &[u8]) -> io::Result<Option<Loaded>> {
    load_lines(path, false)
}

/// The mounts `path`'s record holds (its inode lines passed over unread); `None` when there
/// is no record.
pub fn load_mounts(path: &[u8]) -> io::Result<Option<Set<u64>>> {
    Ok(load_lines(path, true)?.map(|l| l.mounts))
}

fn load_lines(path: &[u8], mounts_only: bool) -> io::Result<Option<Loaded>> {
    let Some(dir) = state_dir(false)? else {
        return Ok(None);
    };
    let flags = sys::OFlags::RDONLY | sys::OFlags::NOFOLLOW | sys::OFlags::NONBLOCK;
    let fd = match sys::openat(Base::Dir(dir.as_fd()), &file_name(path), flags) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
        Err(e) => return Err(e),
    };
    let meta = sys::fstat(fd.as_fd())?;
    if meta.kind != FileKind::Regular || meta.uid != 0 || meta.mode & 0o077 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "the shields record is not a root-only regular file: not trusted",
        ));
    }
    let mut text = Vec::with_capacity(meta.size.min(RECORD_MAX) as usize + 1);
    std::fs::File::from(fd)
        .take(RECORD_MAX)
        .read_to_end(&mut text)?;
    // A byte loop, not the memchr crate: its first search asks the CPU what it has (cpuid,
    // some 2 us each on a virtual machine, eight of them), more than a record's lines cost.
    let mut lines = text.split(|&b| b == b'\n');
    if lines.next() != Some(&b"nc-harden shields record 1"[..]) {
        return Ok(Some(Loaded::default()));
    }
    let (mut inodes, mut temporaries, mut mounts) = (Vec::new(), Vec::new(), Vec::new());
    let mut owners = Vec::new();
    for line in lines {
        if let Some(rest) = line.strip_prefix(b"m ") {
            if let Some(([id], 1)) = numbers(rest) {
                mounts.push(id);
            }
            continue;
        }
        if mounts_only {
            continue;
        }
        let (made, line) = match line.strip_prefix(b"t ") {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let (id, owner) = match numbers::<6>(line) {
            Some(([dev, ino, generation, ..], 3)) => ([dev, ino, generation], None),
            Some(([dev, ino, generation, uid, gid, mode], 6)) => {
                ([dev, ino, generation], Some([uid, gid, mode]))
            }
            _ => continue,
        };
        let [dev, ino, generation] = id;
        let id = (dev, ino, generation);
        inodes.push(id);
        if made {
            temporaries.push(id);
        }
        if let Some([Ok(uid), Ok(gid), Ok(mode)]) = owner.map(|o| o.map(u32::try_from)) {
            owners.push((id, [uid, gid, mode]));
        }
    }
    Ok(Some(Loaded {
        inodes: Set::of(inodes),
        temporaries: Set::of(temporaries),
        owners: Owners::of_lines(owners),
        mounts: Set::of(mounts),
    }))
}

/// Appends to the record of one shields up.
pub struct Writer {
    file: std::fs::File,
    pending: Vec<u8>,
}

impl Writer {
    /// Opens the record of `path` for appending (created, with its header, if new).
    pub fn open(path: &[u8]) -> io::Result<Writer> {
        let dir = state_dir(true)?.expect("created");
        let name = file_name(path);
        let fd = sys::files::open_or_create(dir.as_fd(), &name, 0o600)?;
        let meta = sys::fstat(fd.as_fd())?;
        if meta.kind != FileKind::Regular || meta.uid != 0 || meta.nlink != 1 {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the shields record is not a root-owned regular file",
            ));
        }
        sys::shields::fchmod(fd.as_fd(), 0o600)?;
        let mut file = std::fs::File::from(fd);
        use std::io::Seek;
        if meta.size == 0 {
            file.write_all(b"nc-harden shields record 1\n")?;
        } else {
            file.seek(io::SeekFrom::End(0))?;
        }
        Ok(Writer {
            file,
            // Room for a batch of notes before the first growth (a record is flushed often).
            pending: Vec::with_capacity(4096),
        })
    }

    /// Notes an inode; `flush` writes what was noted.
    pub fn note(&mut self, id: InodeId) {
        // Into the pending buffer itself: no allocation a note, no formatter.
        decimal(&mut self.pending, id.0, b' ');
        decimal(&mut self.pending, id.1, b' ');
        decimal(&mut self.pending, id.2, b'\n');
    }

    /// Notes an inode about to change, with the owner, group and mode it has (`m`): what
    /// shields down gives back to an inode of someone other than root and the user the
    /// profile hands the trees to.
    pub fn note_owned(&mut self, id: InodeId, m: &crate::inode::Meta) {
        decimal(&mut self.pending, id.0, b' ');
        decimal(&mut self.pending, id.1, b' ');
        decimal(&mut self.pending, id.2, b' ');
        decimal(&mut self.pending, u64::from(m.uid), b' ');
        decimal(&mut self.pending, u64::from(m.gid), b' ');
        decimal(&mut self.pending, u64::from(m.mode), b'\n');
    }

    /// Notes an inode this tool made (a renewal's copy, under its temporary name): handed
    /// back as any recorded inode, and removed where a killed call left it under that name.
    pub fn note_temporary(&mut self, id: InodeId) {
        self.pending.extend_from_slice(b"t ");
        self.note(id);
    }

    /// Notes a renewal's copy of a file someone other than the sandbox user owned, with the
    /// owner, group and mode that file had (`m`): the copy is its, and shields down gives it
    /// that, or leaves it root's where it was root's.
    pub fn note_temporary_owned(&mut self, id: InodeId, m: &crate::inode::Meta) {
        self.pending.extend_from_slice(b"t ");
        self.note_owned(id, m);
    }

    /// Notes a mount about to be attached (its id, known while it is still detached).
    pub fn note_mount(&mut self, id: u64) {
        self.pending.extend_from_slice(b"m ");
        decimal(&mut self.pending, id, b'\n');
    }

    /// Writes every noted inode: called before the changes they announce.
    pub fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            self.file.write_all(&self.pending)?;
            self.pending.clear();
        }
        Ok(())
    }
}

/// Appends `n` in decimal, then `end`: what `numbers` reads back.
fn decimal(out: &mut Vec<u8>, n: u64, end: u8) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.push(end);
}

/// Removes the record of `path` (after a shields down handed everything back).
pub fn remove(path: &[u8]) -> io::Result<()> {
    let Some(dir) = state_dir(false)? else {
        return Ok(());
    };
    match sys::unlinkat(dir.as_fd(), &file_name(path)) {
        Err(e) if e.raw_os_error() != Some(libc::ENOENT) => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::{numbers, Set};

    #[test]
    fn record_lines_parse_exactly() {
        assert_eq!(numbers::<3>(b"2049 131 0"), Some(([2049, 131, 0], 3)));
        assert_eq!(numbers::<1>(b"18446744073709551615"), Some(([u64::MAX], 1)));
        assert_eq!(
            numbers::<6>(b"2049 131 7 997 998 416"),
            Some(([2049, 131, 7, 997, 998, 416], 6))
        );
        assert_eq!(
            numbers::<6>(b"2049 131"),
            Some(([2049, 131, 0, 0, 0, 0], 2))
        );
        // A line cut by a kill, or anything not written by `Writer`, is no record.
        for bad in [
            &b""[..],
            b"2049 131",
            b"2049 131 ",
            b"2049  131 0",
            b"2049 131 0 7",
            b"+2049 131 0",
            b"2049 13a 0",
            b"18446744073709551616 1 0",
            b"2049 131 0\r",
        ] {
            assert_eq!(
                numbers::<3>(bad).filter(|&(_, n)| n == 3),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn notes_read_back() {
        let mut line = Vec::new();
        for (dev, ino, generation) in [(0, 0, 0u64), (2049, 131, 7), (u64::MAX, 10, u64::MAX)] {
            line.clear();
            super::decimal(&mut line, dev, b' ');
            super::decimal(&mut line, ino, b' ');
            super::decimal(&mut line, generation, b'\n');
            assert_eq!(line, format!("{dev} {ino} {generation}\n").into_bytes());
            assert_eq!(
                numbers::<3>(&line[..line.len() - 1]),
                Some(([dev, ino, generation], 3))
            );
        }
    }

    #[test]
    fn the_first_owner_of_an_inode_says() {
        let owners = super::Owners::of_lines(vec![
            ((2049, 7, 0), [997, 998, 0o640]),
            ((2049, 3, 0), [998, 998, 0o660]),
            ((2049, 7, 0), [0, 0, 0o440]),
        ]);
        assert_eq!(owners.of(&(2049, 7, 0)), Some([997, 998, 0o640]));
        assert_eq!(owners.of(&(2049, 3, 0)), Some([998, 998, 0o660]));
        assert_eq!(owners.of(&(2049, 5, 0)), None);
    }

    #[test]
    fn sets_answer_by_binary_search() {
        let set = Set::of(vec![(3, 1, 0), (1, 9, 2), (3, 1, 0), (2, 0, 0)]);
        assert!(set.contains(&(3, 1, 0)) && set.contains(&(1, 9, 2)) && set.contains(&(2, 0, 0)));
        assert!(!set.contains(&(3, 1, 1)) && !set.contains(&(0, 0, 0)));
        assert!(Set::<u64>::default().is_empty());
    }
}
