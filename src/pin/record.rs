//! The state records by which nc-harden knows its own mounts, and the locks that serialize
//! its calls: one small file per directory in the state directory (`/run/nc-harden/` unless
//! the call names another: [`StateDir`]; root's alone: the directory 0700, its files 0600,
//! gone at reboot with the mounts it describes), written when a freeze attaches a mount,
//! removed when the mount is taken off. A mount is ours when a record holds its id: identity, never shape, so that an
//! administrator's own read-only bind is never taken for ours. Records are named after the
//! path they were made for, and found by that path or by the mount id they hold (a
//! directory moved since its freeze still has its mount known).
//!
//! Records are written to a temporary name and renamed into place, so a reader sees a whole
//! record or none. A record whose mount is gone (taken off by hand) is stale and ignored.

use std::cell::RefCell;
use std::ffi::{CStr, CString};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::escape::escape_bytes;
use crate::inode::{FileKind, Meta};
use crate::rules;
use crate::sys::{self, Base};

/// The default state directory. `/run` is a tmpfs emptied at boot, as mounts are.
pub const STATE_DIR: &str = "/run/nc-harden";

/// Where a call keeps its records and locks: an absolute, normalized path other than `/`
/// ([`STATE_DIR`] by default). Whatever directory it names is held to the same rules: every
/// ancestor root's and writable by others only when sticky, the directory itself root's,
/// writable by root alone, made 0700 (and tightened to 0700 by freeze and unfreeze), reached
/// without following a symlink.
///
/// A call's lock ([`lock_in`]) makes it the state directory of everything that call does on
/// its thread (records, what shields up locked, leftovers); outside a call, the default.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StateDir {
    path: Vec<u8>,
}

impl Default for StateDir {
    fn default() -> Self {
        StateDir {
            path: STATE_DIR.as_bytes().to_vec(),
        }
    }
}

impl StateDir {
    /// The state directory at `path`: NC_BAD_ARGUMENT unless it is absolute, normalized, at
    /// most PATH_MAX and not `/` (no syscall; its rules are checked when a call opens it).
    pub fn new(path: impl AsRef<Path>) -> Result<StateDir, Error> {
        let path = path.as_ref().as_os_str().as_bytes();
        rules::check_path(path).map_err(|why| Error::bad(format!("state_dir {why}")))?;
        if path == b"/" {
            return Err(Error::bad(
                "state_dir is /, which is no directory of its own",
            ));
        }
        Ok(StateDir {
            path: path.to_vec(),
        })
    }

    pub fn path(&self) -> &Path {
        Path::new(std::ffi::OsStr::from_bytes(&self.path))
    }

    /// The path, escaped, for messages.
    pub fn display(&self) -> String {
        escape_bytes(&self.path)
    }

    /// The components of the path, the last one the directory's own name.
    fn components(&self) -> impl Iterator<Item = CString> + '_ {
        self.path[1..]
            .split(|&b| b == b'/')
            .map(|c| CString::new(c).expect("checked: no NUL"))
    }

    /// The parent's path, for messages.
    fn parent_display(&self) -> String {
        let cut = self.path.iter().rposition(|&b| b == b'/').unwrap_or(0);
        escape_bytes(if cut == 0 { b"/" } else { &self.path[..cut] })
    }
}

/// The state directory of this thread's call ([`lock_in`]); the default outside one.
pub(crate) fn current() -> StateDir {
    CALL.with(|c| c.borrow().as_ref().map(|call| call.state.clone()))
        .unwrap_or_default()
}

/// How long a call waits for another on the same path. Root without capabilities can open
/// the lock file too (DAC bypassed) and hold it, or take a lease on it: past this, the call
/// gives up with EAGAIN (NC_IO_ERROR, naming the holder) rather than wait for ever.
const LOCK_WAIT: Duration = Duration::from_secs(4);

/// Larger than any record; a bigger file is not one of ours.
const RECORD_MAX: usize = 4096;

/// The modes of the state: root's alone. Nothing in it is for anyone else to read (a lock
/// file another user can open is a lock it can hold), and root needs no group or other bits.
const DIR_MODE: u32 = 0o700;
const FILE_MODE: u32 = 0o600;

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
pub(crate) fn file_name(path: &[u8]) -> CString {
    digest_name(path, ".mount")
}

/// A state file's name for `path`: its SHA-256 in hex, then `suffix` (`.mount`, `.lock`,
/// `.locked`, `.shields`).
pub(crate) fn digest_name(path: &[u8], suffix: &str) -> CString {
    // A call names several state files of one path (its lock, its records): the digest of
    // the last path is kept, per thread, rather than computed for each.
    thread_local! {
        static LAST: std::cell::RefCell<(Vec<u8>, String)> = const {
            std::cell::RefCell::new((Vec::new(), String::new()))
        };
    }
    let mut name = LAST.with_borrow_mut(|(last, hex)| {
        if hex.is_empty() || last.as_slice() != path {
            *hex = crate::escape::hex(&Sha256::digest(path));
            last.clear();
            last.extend_from_slice(path);
        }
        hex.clone()
    });
    name.push_str(suffix);
    CString::new(name).expect("hex has no NUL")
}

fn unsafe_state(state: &StateDir, why: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!(
            "{} {why}: its records and locks cannot be trusted",
            state.display()
        ),
    )
}

/// Who may write `meta`'s directory entries besides root, in words; `None` when no one.
fn writable_by_others(meta: &Meta) -> Option<String> {
    if meta.uid != 0 {
        Some(format!("is owned by uid {}, not root", meta.uid))
    } else if meta.mode & 0o022 != 0 {
        Some(format!("is writable by others (mode {:04o})", meta.mode))
    } else {
        None
    }
}

/// Opens the state directory of this thread's call ([`current`]), creating it (root only)
/// when asked. `Ok(None)` when it does not exist and `create` is false, or when this caller
/// may not create it.
///
/// Its parent must be root's; it may be writable by all if it is sticky (1777, as a fresh
/// tmpfs `/run` mounted without a mode is): there, only the owner of a name can remove or
/// rename it, so a state directory that root made 0700 is as safe as in a 0755 parent. The
/// one thing the sandbox user can do there is make the state directory first: it is then
/// refused, saying so. Every ancestor between `/` and the parent is held to the parent's rule
/// (`/` itself only when it is the parent), and no component is followed as a symlink. A
/// state directory of root's in an older version's mode (0755) is tightened to 0700 when
/// `create` (freeze and unfreeze); one writable by others is refused (anyone could have
/// planted what is in it).
pub(crate) fn state_dir(create: bool) -> io::Result<Option<OwnedFd>> {
    if let Some(dir) = held_state_dir(create) {
        return Ok(Some(dir));
    }
    open_state_dir(&current(), create)
}

/// The parent of `state` opened (`O_PATH`), its metadata, and the state directory's own
/// name. Each component is opened without following a symlink and must be `trusted` (else
/// `untrusted` says why, naming it); `/` is held to it only when it is the parent.
pub(crate) fn open_parent(
    state: &StateDir,
    trusted: impl Fn(&Meta) -> bool,
    untrusted: impl Fn(&StateDir, &str, &Meta) -> io::Error,
) -> io::Result<(OwnedFd, Meta, CString)> {
    let nofollow = sys::OFlags::DIRECTORY | sys::OFlags::NOFOLLOW;
    let mut components: Vec<CString> = state.components().collect();
    let name = components.pop().expect("not /: a last component");
    let mut at = sys::openat(Base::Cwd, c"/", sys::OFlags::PATH | nofollow)?;
    let mut walked = Vec::new();
    let mut last = None;
    for component in components {
        walked.push(b'/');
        walked.extend_from_slice(component.to_bytes());
        at = sys::openat(
            Base::Dir(at.as_fd()),
            &component,
            sys::OFlags::PATH | nofollow,
        )?;
        let meta = sys::fstat(at.as_fd())?;
        if !trusted(&meta) {
            return Err(untrusted(state, &escape_bytes(&walked), &meta));
        }
        last = Some(meta);
    }
    // The parent is `/` itself where nothing was walked; else its fstat is the last one.
    let meta = match last {
        Some(meta) => meta,
        None => sys::fstat(at.as_fd())?,
    };
    if walked.is_empty() && !trusted(&meta) {
        return Err(untrusted(state, "/", &meta));
    }
    Ok((at, meta, name))
}

/// The rule of the parent and every ancestor: root's, writable by others only when sticky.
fn trusted_ancestor(meta: &Meta) -> bool {
    let sticky = meta.mode & libc::S_ISVTX != 0;
    meta.kind == FileKind::Directory && meta.uid == 0 && (meta.mode & 0o022 == 0 || sticky)
}

fn open_state_dir(state: &StateDir, create: bool) -> io::Result<Option<OwnedFd>> {
    let nofollow = sys::OFlags::DIRECTORY | sys::OFlags::NOFOLLOW;
    let (parent, parent_meta, name) = open_parent(state, trusted_ancestor, |state, at, meta| {
        unsafe_state(
            state,
            format!(
                "is under a {at} that is not root's or is writable by others without the \
                 sticky bit (owner uid {}, mode {:04o})",
                meta.uid, meta.mode
            ),
        )
    })?;
    let sticky = parent_meta.mode & libc::S_ISVTX != 0;
    let create = create && sys::state::is_root();
    if create {
        match sys::mkdirat(parent.as_fd(), &name, DIR_MODE) {
            Err(e) if e.raw_os_error() != Some(libc::EEXIST) => return Err(e),
            _ => {}
        }
    }
    let dir = match sys::openat(
        Base::Dir(parent.as_fd()),
        &name,
        sys::OFlags::RDONLY | nofollow,
    ) {
        Ok(dir) => dir,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) && !create => return Ok(None),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) => {
            return Err(unsafe_state(
                state,
                "is not a directory (a symlink or a file someone else made there)".into(),
            ))
        }
        Err(e) => return Err(e),
    };
    let meta = sys::fstat(dir.as_fd())?;
    if let Some(why) = writable_by_others(&meta) {
        let hint = if sticky && meta.uid != 0 {
            format!(
                " (made by that user before nc-harden's first call, in a {} writable by all: \
                 remove it and call again)",
                state.parent_display()
            )
        } else {
            String::new()
        };
        return Err(unsafe_state(state, format!("{why}{hint}")));
    }
    if create && meta.mode != DIR_MODE {
        // An older version made it 0755: records and locks were readable by all.
        sys::files::change_owner_mode(dir.as_fd(), None, None, Some(DIR_MODE))?;
    }
    Ok(Some(dir))
}

/// Every record (a handful: one per directory frozen with the mount layer), with the path
/// each was made for. A caller that is not root cannot read the state directory (0700):
/// it sees no records, and nc-harden's mount is then known by its source alone.
pub fn all() -> io::Result<Vec<(Vec<u8>, Record)>> {
    let dir = match state_dir(false) {
        Ok(Some(dir)) => dir,
        Ok(None) => return Ok(Vec::new()),
        Err(e) if e.raw_os_error() == Some(libc::EACCES) => return Ok(Vec::new()),
        Err(e) => return Err(e),
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
/// or that does not parse, is not a record of ours: `None`. One of an older version (0644)
/// is tightened to 0600 where the caller may.
fn read(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<Option<(Vec<u8>, Record)>> {
    let flags = sys::OFlags::RDONLY | sys::OFlags::NOFOLLOW | sys::OFlags::NONBLOCK;
    let fd = match sys::openat(Base::Dir(dir), name, flags) {
        Ok(fd) => fd,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ELOOP)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let meta = sys::fstat(fd.as_fd())?;
    if meta.kind != FileKind::Regular || writable_by_others(&meta).is_some() {
        return Ok(None);
    }
    if meta.mode != FILE_MODE && sys::state::is_root() {
        let _ = sys::files::change_owner_mode(fd.as_fd(), None, None, Some(FILE_MODE));
    }
    let mut text = Vec::new();
    std::fs::File::from(fd)
        .take(RECORD_MAX as u64 + 1)
        .read_to_end(&mut text)?;
    Ok(parse(&text).filter(|(path, _)| file_name(path).as_c_str() == name))
}

/// Writes the record of `path` (whole or not at all: a temporary name, then rename).
pub fn store(path: &[u8], record: &Record) -> io::Result<()> {
    let dir = state_dir(true)?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("only root may write to {}", current().display()),
        )
    })?;
    let name = file_name(path);
    let temp = CString::new(format!(
        "{}.{}.tmp",
        name.to_str().expect("ASCII"),
        std::process::id()
    ))
    .expect("no NUL");
    let _ = sys::unlinkat(dir.as_fd(), &temp);
    let fd = sys::create_exclusive(dir.as_fd(), &temp, FILE_MODE)?;
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

/// How a call holds its path's lock: shared among readers (verify, status), or alone (every
/// call that changes something).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockMode {
    Shared,
    Exclusive,
}

/// The lock that serializes the calls on one path, held until dropped, and the scope of the
/// call's state directory on this thread ([`current`]). Dropping it removes the lock file
/// where no other call holds it, so that lock files (of paths that no longer exist, say) do
/// not accumulate.
///
/// Removal is safe by one rule, which every holder keeps: the name is unlinked only by a
/// process that holds the exclusive lock of the inode the name shows, and every process,
/// after its `flock` succeeds, checks that the name still shows the inode it locked (else it
/// opens the name again). So two calls never hold locks of different inodes for one path.
/// (Root without capabilities can unlink the name at any time; it can also kill the call:
/// nothing here holds against it but the bounded wait.)
#[derive(Debug)]
pub struct StateLock {
    /// The state directory, the lock file and its name; `None` where there is no lock to
    /// take (a caller that is not root).
    held: Option<(OwnedFd, OwnedFd, CString)>,
    /// What `CALL` said before this lock (a lock taken inside another).
    outer: Option<Call>,
}

/// The state directory of a call, and that directory open, checked when it was opened (and
/// made, when `true`).
#[derive(Debug)]
struct Call {
    state: StateDir,
    open: Option<(OwnedFd, bool)>,
}

thread_local! {
    /// The call of this thread that holds a `StateLock`: its state directory, and that
    /// directory open, so that the call's later uses of it (its records, its leftovers) take
    /// a duplicate rather than walking the path again.
    static CALL: RefCell<Option<Call>> = const { RefCell::new(None) };
}

/// The state directory this thread's lock holds, opened again (`.` of the held descriptor:
/// the same directory, with a file offset of its own), when it was opened at least as
/// `create` asks (`None`: open it).
///
/// Not a `dup`: a duplicate shares the held descriptor's offset, and a listing that ran to
/// its end (the records, `all`) would leave every later listing of the call empty (the
/// leftovers of a killed renewal went unseen, and were pinned as the directory's own files).
pub(crate) fn held_state_dir(create: bool) -> Option<OwnedFd> {
    CALL.with(|c| {
        c.borrow()
            .as_ref()
            .and_then(|call| call.open.as_ref())
            .filter(|(_, made)| *made || !create)
            .and_then(|(fd, _)| {
                let flags = sys::OFlags::RDONLY | sys::OFlags::DIRECTORY | sys::OFlags::NOFOLLOW;
                sys::openat(Base::Dir(fd.as_fd()), c".", flags).ok()
            })
    })
}

impl StateLock {
    /// Makes `state` the state directory of this thread's call until the lock is dropped.
    fn scope(state: &StateDir) -> Self {
        let outer = CALL.with(|c| c.borrow_mut().take());
        // A lock inside another of the same state directory keeps the directory it opened.
        let open = outer
            .as_ref()
            .filter(|o| o.state == *state)
            .and_then(|o| o.open.as_ref())
            .and_then(|(fd, made)| Some((fd.try_clone().ok()?, *made)));
        let call = Call {
            state: state.clone(),
            open,
        };
        CALL.with(|c| *c.borrow_mut() = Some(call));
        StateLock { held: None, outer }
    }

    fn hold(&mut self, dir: OwnedFd, file: OwnedFd, name: CString, made: bool) {
        let dup = dir.try_clone().ok();
        CALL.with(|c| {
            if let Some(call) = c.borrow_mut().as_mut() {
                call.open = dup.map(|fd| (fd, made));
            }
        });
        self.held = Some((dir, file, name));
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        let outer = self.outer.take();
        CALL.with(|c| *c.borrow_mut() = outer);
        let Some((dir, file, name)) = &self.held else {
            return;
        };
        // A shared holder (verify) converts to exclusive without waiting; either way, only
        // with the exclusive lock is the name unlinked. Failing that, another call holds the
        // file and the last of them removes it.
        if crate::fileops::lock(file.as_fd(), true, Duration::ZERO).is_ok()
            && same_inode(dir.as_fd(), name, file.as_fd())
        {
            let _ = sys::unlinkat(dir.as_fd(), name);
        }
    }
}

/// Whether `name` in `dir` is the inode open as `fd`.
fn same_inode(dir: BorrowedFd<'_>, name: &CStr, fd: BorrowedFd<'_>) -> bool {
    match (sys::lstatat(dir, name), sys::fstat(fd)) {
        (Ok(named), Ok(open)) => named.dev == open.dev && named.ino == open.ino,
        _ => false,
    }
}

/// Serializes the calls on `path` across processes, in the state directory `state`: an
/// exclusive lock for freeze and unfreeze, a shared one for verify, so that verify never
/// sees a half-done freeze; held until the `StateLock` is dropped, and `state` the state
/// directory of everything the call does on this thread until then. No lock file where
/// there is no lock to take: a caller that is not root can open nothing in the state
/// directory, and changes nothing that needs it.
///
/// Every wait is bounded (`LOCK_WAIT` in all): the open never blocks on a lease
/// (`O_NONBLOCK`), and `flock` is retried without blocking. Past the wait: EAGAIN, naming who
/// holds the file (from /proc/locks). A lock file that is not root's alone (0644, left by an
/// older version, which others may hold open) is replaced, never used.
pub fn lock_in(state: &StateDir, path: &[u8], mode: LockMode) -> io::Result<StateLock> {
    let exclusive = mode == LockMode::Exclusive;
    let deadline = Instant::now() + LOCK_WAIT;
    let mut lock = StateLock::scope(state);
    let dir = match state_dir(exclusive) {
        Ok(Some(dir)) => dir,
        Ok(None) => return Ok(lock),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EACCES | libc::EPERM | libc::EROFS | libc::ENOENT)
            ) =>
        {
            return Ok(lock)
        }
        Err(e) => return Err(e),
    };
    if !sys::state::is_root() {
        return Ok(lock);
    }
    let name = digest_name(path, ".lock");
    let mut pause = Duration::from_micros(200);
    let mut wait = |what: &str, dev_ino: Option<(u64, u64)>| -> io::Result<()> {
        if Instant::now() >= deadline {
            return Err(held(&name, what, dev_ino));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
        Ok(())
    };
    loop {
        // Every way round this loop is bounded too (a state directory removed under us makes
        // each open fail with ENOENT).
        if Instant::now() >= deadline {
            let dev_ino = sys::lstatat(dir.as_fd(), &name)
                .ok()
                .map(|m| (m.dev, m.ino));
            return Err(held(&name, "the lock file", dev_ino));
        }
        if let Ok(meta) = sys::lstatat(dir.as_fd(), &name) {
            if meta.kind != FileKind::Regular || meta.uid != 0 || meta.mode & 0o077 != 0 {
                replace(dir.as_fd(), &name, &meta, deadline)?;
                continue;
            }
        }
        let file = match sys::state::open_lock(dir.as_fd(), &name) {
            Ok(file) => file,
            Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => {
                let dev_ino = sys::lstatat(dir.as_fd(), &name)
                    .ok()
                    .map(|m| (m.dev, m.ino));
                wait("a lease", dev_ino)?;
                continue;
            }
            // Unlinked by the holder that released it between our look and the open.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(e),
        };
        let meta = sys::fstat(file.as_fd())?;
        if meta.uid != 0 || meta.mode & 0o077 != 0 {
            continue; // Swapped in between the look and the open: looked at again.
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match crate::fileops::lock(file.as_fd(), exclusive, left) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => {
                return Err(held(&name, "a lock", Some((meta.dev, meta.ino))))
            }
            Err(e) => return Err(e),
        }
        if same_inode(dir.as_fd(), &name, file.as_fd()) {
            lock.hold(dir, file, name, exclusive);
            return Ok(lock);
        }
        // Released and removed by the call before us: the name is another inode, or none.
    }
}

/// Replaces the lock file `name` whose `meta` is not root's alone: whoever opened it while
/// it was (an older version made it 0644 in a 0755 directory) could hold it for ever. It is
/// unlinked, never locked, so no call of this version ever holds it, and the caller makes a
/// fresh one; the replacements are serialized by a lock on the state directory itself (which
/// no one but root can open), so that one never unlinks another's fresh file.
fn replace(dir: BorrowedFd<'_>, name: &CStr, meta: &Meta, deadline: Instant) -> io::Result<()> {
    let left = deadline.saturating_duration_since(Instant::now());
    if let Err(e) = crate::fileops::lock(dir, true, left) {
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "{} itself is locked by another process past the wait",
                    current().display()
                ),
            ));
        }
        return Err(e);
    }
    let result = match sys::lstatat(dir, name) {
        Ok(now) if now.dev == meta.dev && now.ino == meta.ino => {
            if meta.kind == FileKind::Directory {
                Err(unsafe_state(
                    &current(),
                    format!(
                        "holds a directory where a lock file belongs ({})",
                        escape_bytes(name.to_bytes())
                    ),
                ))
            } else {
                sys::unlinkat(dir, name).or_else(|e| {
                    if e.raw_os_error() == Some(libc::ENOENT) {
                        Ok(())
                    } else {
                        Err(e)
                    }
                })
            }
        }
        _ => Ok(()),
    };
    let _ = sys::state::unlock(dir);
    result
}

/// The error of a wait that ran out: EAGAIN's words, and who holds `name` (`what`: a lock or
/// a lease), as /proc/locks says.
fn held(name: &CStr, what: &str, dev_ino: Option<(u64, u64)>) -> io::Error {
    let holders = dev_ino
        .map(|(dev, ino)| holders(dev, ino))
        .unwrap_or_default();
    let who = if holders.is_empty() {
        "by a process /proc/locks does not name".to_string()
    } else {
        holders.join(", ")
    };
    io::Error::new(
        io::ErrorKind::WouldBlock,
        format!(
            "{} after {} s: {what} on {}/{} is held {who}",
            io::Error::from_raw_os_error(libc::EAGAIN)
                .to_string()
                .split(" (os error")
                .next()
                .unwrap_or("Resource temporarily unavailable"),
            LOCK_WAIT.as_secs(),
            current().display(),
            escape_bytes(name.to_bytes()),
        ),
    )
}

/// Who holds a lock or lease on the inode `dev`/`ino`, from /proc/locks: "by pid N (comm),
/// a FLOCK ADVISORY WRITE" (a lease being broken shows as `LEASE BREAKING READ`). Empty
/// where /proc is not there, or is not procfs (`sys::procfs` refuses it).
fn holders(dev: u64, ino: u64) -> Vec<String> {
    let Ok(proc) = sys::procfs::Proc::open() else {
        return Vec::new();
    };
    let Ok(text) = proc.locks() else {
        return Vec::new();
    };
    parse_locks(&String::from_utf8_lossy(&text), dev, ino)
        .into_iter()
        .map(|(pid, kind)| {
            let comm = u32::try_from(pid)
                .ok()
                .and_then(|pid| proc.comm(pid).ok())
                .unwrap_or_default();
            let comm = escape_bytes(comm.strip_suffix(b"\n").unwrap_or(&comm));
            format!("by pid {pid} ({comm}), {kind}")
        })
        .collect()
}

/// The holders in /proc/locks of the inode `dev`/`ino`: pid and what it holds (`FLOCK
/// ADVISORY WRITE`, `LEASE ACTIVE WRITE`, ...). Lines of waiters (`->`) are not holders.
fn parse_locks(text: &str, dev: u64, ino: u64) -> Vec<(i64, String)> {
    // "1: FLOCK  ADVISORY  WRITE 1234 00:2d:5678 0 EOF"; the device is MAJOR:MINOR in hex.
    let inode = format!(
        "{:02x}:{:02x}:{ino}",
        libc::major(dev as libc::dev_t),
        libc::minor(dev as libc::dev_t)
    );
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                [_, kind, state, access, pid, id, ..] if *kind != "->" && *id == inode => {
                    Some((pid.parse().ok()?, format!("a {kind} {state} {access}")))
                }
                _ => None,
            }
        })
        .collect()
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

fn render(path: &[u8], r: &Record) -> String {
    format!(
        "nc-harden mount record 1\npath {}\nlegacy {}\nunique {}\ndev {}\nino {}\n",
        crate::escape::hex(path),
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
    fn holders_are_read_from_proc_locks() {
        let dev = libc::makedev(0, 0x2d);
        let text = "1: FLOCK  ADVISORY  WRITE 4242 00:2d:77 0 EOF\n\
                    1: -> FLOCK  ADVISORY  WRITE 4343 00:2d:77 0 EOF\n\
                    2: LEASE  BREAKING  WRITE 4444 00:2d:77 0 EOF\n\
                    3: FLOCK  ADVISORY  WRITE 4545 00:2d:78 0 EOF\n\
                    4: POSIX  ADVISORY  READ 4646 08:01:77 0 EOF\n";
        assert_eq!(
            parse_locks(text, dev, 77),
            vec![
                (4242, "a FLOCK ADVISORY WRITE".to_string()),
                (4444, "a LEASE BREAKING WRITE".to_string())
            ]
        );
    }

    #[test]
    fn a_state_directory_is_an_absolute_normalized_path_other_than_root() {
        assert_eq!(StateDir::default().path(), Path::new(STATE_DIR));
        assert_eq!(
            StateDir::new("/srv/state").unwrap().path(),
            Path::new("/srv/state")
        );
        for bad in ["", "relative", "/", "/a/../b", "/a/", "/a//b"] {
            assert!(StateDir::new(bad).is_err(), "{bad:?}");
        }
        let state = StateDir::new("/srv/nc/state").unwrap();
        let names: Vec<CString> = state.components().collect();
        assert_eq!(names, [c"srv", c"nc", c"state"]);
        assert_eq!(state.parent_display(), "/srv/nc");
        assert_eq!(StateDir::new("/state").unwrap().parent_display(), "/");
    }

    #[test]
    fn a_lock_scopes_its_state_directory_to_the_call() {
        assert_eq!(current(), StateDir::default());
        let state = StateDir::new("/nonexistent-nc-harden/state").unwrap();
        {
            let _outer = StateLock::scope(&state);
            assert_eq!(current(), state);
            {
                let _inner = StateLock::scope(&StateDir::default());
                assert_eq!(current(), StateDir::default());
            }
            assert_eq!(current(), state);
        }
        assert_eq!(current(), StateDir::default());
    }

    #[test]
    fn names_are_hashes() {
        let name = file_name(b"/sandbox/.openclaw");
        assert_eq!(name.to_bytes().len(), 64 + ".mount".len());
        assert_ne!(name, file_name(b"/sandbox/.openclaw2"));
    }
}
