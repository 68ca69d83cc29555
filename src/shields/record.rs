//! What a shields up locked, kept so that shields down hands back exactly that: one line per
//! inode (device, inode number, generation), in `<state directory>/<sha256 of dir>.shields`,
//! root's (the state directory 0700, the file 0600). Lines are appended before each change
//! (write-ahead: a killed call leaves a record of every inode it may have changed), so the
//! memory it takes is the records', never the files'.

use std::collections::HashSet;
use std::ffi::CString;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};

use crate::inode::FileKind;
use crate::sys::{self, Base};

/// One inode: device, number, generation (0 where the filesystem keeps none).
pub type InodeId = (u64, u64, u32);

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

/// What a record holds: the inodes changed, and the read-only mounts attached (mount ids).
#[derive(Debug, Default)]
pub struct Loaded {
    pub inodes: HashSet<InodeId>,
    pub mounts: HashSet<u64>,
}

/// What the shields calls of `path` recorded; `None` when there is no record.
pub fn load(path: &[u8]) -> io::Result<Option<Loaded>> {
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
    let mut text = Vec::new();
    std::fs::File::from(fd)
        .take(RECORD_MAX)
        .read_to_end(&mut text)?;
    let mut loaded = Loaded::default();
    let mut lines = text.split(|&b| b == b'\n');
    if lines.next() != Some(&b"nc-harden shields record 1"[..]) {
        return Ok(Some(loaded));
    }
    for line in lines {
        let line = std::str::from_utf8(line).unwrap_or("");
        let (mount, rest) = match line.strip_prefix("m ") {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let fields: Option<Vec<u64>> = rest.split(' ').map(|f| f.parse().ok()).collect();
        // A line cut by a kill is not a record.
        match (mount, fields.as_deref()) {
            (false, Some(&[dev, ino, generation])) if generation <= u64::from(u32::MAX) => {
                loaded.inodes.insert((dev, ino, generation as u32));
            }
            (true, Some(&[id])) => {
                loaded.mounts.insert(id);
            }
            _ => {}
        }
    }
    Ok(Some(loaded))
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
            pending: Vec::new(),
        })
    }

    /// Notes an inode; `flush` writes what was noted.
    pub fn note(&mut self, id: InodeId) {
        // Into the pending buffer itself: no allocation a note (Write for Vec cannot fail).
        let _ = writeln!(self.pending, "{} {} {}", id.0, id.1, id.2);
    }

    /// Notes a mount about to be attached (its id, known while it is still detached).
    pub fn note_mount(&mut self, id: u64) {
        self.pending
            .extend_from_slice(format!("m {id}\n").as_bytes());
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
