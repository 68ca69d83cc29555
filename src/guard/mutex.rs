//! NemoClaw's mutation mutex, `/run/nemoclaw/openclaw-config-mutation.lock`: both Python
//! guards serialize on it (`openclaw-config-guard.py`: shared and non-blocking for the
//! preflights, exclusive and non-blocking for every other action; `state-dir-guard.py`:
//! exclusive and blocking), and so does the drop-in, so that nc-harden and the Python guards
//! it leaves in place for the other actions never run at once.
//!
//! The file is checked as the guards check it (a root:root 0600 regular file with one link,
//! in a root-owned `/run/nemoclaw` without group or world write, no symlink followed on the
//! way), and the exclusive holder writes the owner record the top guard writes and reads
//! (`{"action","pid","pidStartTime","token","version":1}`), so that a busy lock names its
//! holder whichever program holds it.

use std::ffi::CStr;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use super::identity::Identity;
use super::{os, os_on, Failure, GuardError};
use crate::inode::{FileKind, Meta};
use crate::sys::{self, fdio, Base};

/// Where NemoClaw keeps the mutex.
pub const MUTEX_PATH: &str = "/run/nemoclaw/openclaw-config-mutation.lock";
const STATE_DIR: &str = "/run/nemoclaw";
const MUTEX_NAME: &CStr = c"openclaw-config-mutation.lock";
/// The top guard refuses a larger file (`MAX_MUTEX_BYTES`).
const MAX_MUTEX_BYTES: usize = 16 * 1024;
/// `state-dir-guard.py`'s own deadline for a whole pass (`MAX_GUARD_SECONDS`).
pub const STATE_DIR_WAIT: Duration = Duration::from_secs(10 * 60);

const DIR_FLAGS: sys::OFlags = sys::OFlags::RDONLY
    .union(sys::OFlags::NOFOLLOW)
    .union(sys::OFlags::DIRECTORY);

/// How the mutex is wanted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hold {
    /// `openclaw-config-guard.py preflight`: shared, not waiting.
    Shared,
    /// `openclaw-config-guard.py lock|unlock|...`: exclusive, not waiting.
    Exclusive,
    /// `state-dir-guard.py`: exclusive, waiting at most this long.
    ExclusiveWaiting(Duration),
}

/// The mutex, held until dropped. An exclusive holder's owner record is emptied on release
/// if it is still ours (its token), as the top guard does.
pub struct MutationMutex {
    fd: OwnedFd,
    _dir: OwnedFd,
    token: Option<String>,
}

/// Takes the mutex for `action` (the name written in the owner record).
pub fn acquire(action: &str, hold: Hold) -> Result<MutationMutex, Failure> {
    let waiting = matches!(hold, Hold::ExclusiveWaiting(_));
    let (dir, fd) = open(waiting)?;
    let exclusive = hold != Hold::Shared;
    match hold {
        Hold::Shared | Hold::Exclusive => {
            if !fdio::try_flock(fd.as_fd(), exclusive).map_err(os)? {
                return Err(
                    GuardError::new("mutation-in-progress", MUTEX_PATH, owner_detail(&fd)).into(),
                );
            }
        }
        Hold::ExclusiveWaiting(wait) => wait_exclusive(&dir, &fd, wait)?,
    }
    let token = if exclusive {
        let token = new_token().map_err(os)?;
        write_owner(&fd, action, &token).map_err(os)?;
        Some(token)
    } else {
        None
    };
    Ok(MutationMutex {
        fd,
        _dir: dir,
        token,
    })
}

/// `_open_private_state_dir("/run/nemoclaw", create=True)` then `_open_mutex_file` (the top
/// guard), or the state-dir guard's codes for the same checks (`waiting`).
fn open(waiting: bool) -> Result<(OwnedFd, OwnedFd), Failure> {
    let lock_failed = |f: Failure| match (waiting, f) {
        (true, Failure::Os(e, _)) => GuardError::new(
            "transition-lock-failed",
            MUTEX_PATH,
            format!(
                "acquire transition mutex failed: {}",
                fdio::strerror(e.raw_os_error().unwrap_or(0))
            ),
        )
        .into(),
        (_, f) => f,
    };
    let dir = open_state_dir().map_err(lock_failed)?;
    let fd = sys::files::open_or_create(dir.as_fd(), MUTEX_NAME, 0o600)
        .map_err(os_on(MUTEX_NAME.to_bytes()))
        .map_err(lock_failed)?;
    let actual = sys::fstat(fd.as_fd()).map_err(os).map_err(lock_failed)?;
    let current = sys::lstatat(dir.as_fd(), MUTEX_NAME)
        .map_err(os_on(MUTEX_NAME.to_bytes()))
        .map_err(lock_failed)?;
    let private = actual.kind == FileKind::Regular
        && actual.nlink == 1
        && actual.same_inode(&current)
        && actual.uid == Identity::ROOT_UID
        && actual.gid == Identity::ROOT_GID
        && actual.mode == 0o600
        && actual.size <= MAX_MUTEX_BYTES as u64;
    if !private {
        return Err(if waiting {
            GuardError::new(
                "unsafe-transition-lock",
                MUTEX_PATH,
                "transition mutex must be a private root-owned regular file",
            )
        } else {
            GuardError::new(
                "unsafe-mutation-mutex",
                MUTEX_PATH,
                "mutation mutex must be a private root-owned regular file",
            )
        }
        .into());
    }
    sys::files::set_owner_mode(fd.as_fd(), Identity::ROOT_UID, Identity::ROOT_GID, 0o600)
        .map_err(os)
        .map_err(lock_failed)?;
    fdio::fsync(dir.as_fd()).map_err(os).map_err(lock_failed)?;
    Ok((dir, fd))
}

/// `/run/nemoclaw`, reached from `/` one component at a time without following a link,
/// each component checked to be the inode that was looked at; created 0700 when missing;
/// root-owned (uid and gid) without group or world write.
fn open_state_dir() -> Result<OwnedFd, Failure> {
    let run = open_absolute_dir(b"/run")?;
    let name = c"nemoclaw";
    let before = match sys::lstatat(run.as_fd(), name) {
        Ok(meta) => meta,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            sys::mkdirat(run.as_fd(), name, 0o700).map_err(os_on(b"nemoclaw"))?;
            fdio::fsync(run.as_fd()).map_err(os)?;
            sys::lstatat(run.as_fd(), name).map_err(os_on(b"nemoclaw"))?
        }
        Err(e) => return Err(os_on(b"nemoclaw")(e)),
    };
    if before.kind != FileKind::Directory {
        return Err(GuardError::new(
            "unsafe-state-path",
            STATE_DIR,
            "state parent is not a directory",
        )
        .into());
    }
    let fd = sys::openat(Base::Dir(run.as_fd()), name, DIR_FLAGS).map_err(os_on(b"nemoclaw"))?;
    let actual = sys::fstat(fd.as_fd()).map_err(os)?;
    if !before.same_inode(&actual) {
        return Err(GuardError::new(
            "entry-raced",
            STATE_DIR,
            "state directory changed while opening",
        )
        .into());
    }
    if actual.uid != Identity::ROOT_UID
        || actual.gid != Identity::ROOT_GID
        || actual.mode & 0o022 != 0
    {
        return Err(GuardError::new(
            "unsafe-state-path",
            STATE_DIR,
            "state directory must be root-owned and not group/world-writable",
        )
        .into());
    }
    Ok(fd)
}

/// The guards' `_open_absolute_dir`: from `/`, each component of the normalized path looked
/// at without following it (it must be a directory), opened `O_NOFOLLOW | O_DIRECTORY`, and
/// checked to be the inode looked at. `path` is absolute.
pub fn open_absolute_dir(path: &[u8]) -> Result<OwnedFd, Failure> {
    let mut fd = sys::openat(Base::Cwd, c"/", DIR_FLAGS).map_err(os_on(b"/"))?;
    for component in super::python::normpath(path).split(|&b| b == b'/') {
        if component.is_empty() {
            continue;
        }
        let name = cstring(component)?;
        let before = sys::lstatat(fd.as_fd(), &name).map_err(os_on(component))?;
        if before.kind != FileKind::Directory {
            return Err(GuardError::new(
                "unsafe-path-component",
                path,
                format!(
                    "path component {} is a {}",
                    super::python::repr(component),
                    kind_name(&before)
                ),
            )
            .into());
        }
        let next =
            sys::openat(Base::Dir(fd.as_fd()), &name, DIR_FLAGS).map_err(os_on(component))?;
        let after = sys::fstat(next.as_fd()).map_err(os)?;
        if !before.same_inode(&after) {
            return Err(GuardError::new(
                "entry-raced",
                path,
                format!(
                    "path component {} changed while opening",
                    super::python::repr(component)
                ),
            )
            .into());
        }
        fd = next;
    }
    Ok(fd)
}

pub(crate) fn cstring(name: &[u8]) -> Result<std::ffi::CString, Failure> {
    std::ffi::CString::new(name).map_err(|_| {
        Failure::Os(
            std::io::Error::from_raw_os_error(libc::EINVAL),
            Some(name.to_vec()),
        )
    })
}

/// The guards' `_kind`: "regular file", "directory", "symlink", "FIFO", ...
pub fn kind_name(meta: &Meta) -> &'static str {
    match meta.kind {
        FileKind::Regular => "regular file",
        FileKind::Directory => "directory",
        FileKind::Symlink => "symlink",
        FileKind::Fifo => "FIFO",
        FileKind::Socket => "socket",
        FileKind::CharDevice => "character device",
        FileKind::BlockDevice => "block device",
        _ => "special entry",
    }
}

/// The state-dir guard's blocking `flock(LOCK_EX)`, bounded: after `wait`, the issue names
/// the holder. The file must still be at its name afterwards (`transition-lock-raced`).
fn wait_exclusive(dir: &OwnedFd, fd: &OwnedFd, wait: Duration) -> Result<(), Failure> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(5);
    let failed = |e: std::io::Error| -> Failure {
        GuardError::new(
            "transition-lock-failed",
            MUTEX_PATH,
            format!(
                "acquire transition mutex failed: {}",
                fdio::strerror(e.raw_os_error().unwrap_or(0))
            ),
        )
        .into()
    };
    while !fdio::try_flock(fd.as_fd(), true).map_err(failed)? {
        if start.elapsed() >= wait {
            return Err(GuardError::new(
                "transition-lock-failed",
                MUTEX_PATH,
                format!(
                    "acquire transition mutex failed: still held after {} s: {}",
                    wait.as_secs_f64(),
                    owner_detail(fd)
                ),
            )
            .into());
        }
        std::thread::sleep(pause.min(wait.saturating_sub(start.elapsed())));
        pause = (pause * 2).min(Duration::from_millis(200));
    }
    let opened = sys::fstat(fd.as_fd()).map_err(failed)?;
    let after = sys::lstatat(dir.as_fd(), MUTEX_NAME).map_err(failed)?;
    if !opened.same_inode(&after) {
        return Err(GuardError::new(
            "transition-lock-raced",
            MUTEX_PATH,
            "transition mutex changed while waiting",
        )
        .into());
    }
    Ok(())
}

/// `_mutex_owner_detail`: who holds it, from the owner record the holder wrote.
fn owner_detail(fd: &OwnedFd) -> String {
    let fallback = "another guard process owns the mutation mutex".to_string();
    let Ok(Some(raw)) = read_record(fd) else {
        return fallback;
    };
    if raw.is_empty() {
        return fallback;
    }
    let Ok(owner) = serde_json::from_slice::<serde_json::Value>(&raw) else {
        return fallback;
    };
    match (
        owner.get("pid"),
        owner.get("action").and_then(|a| a.as_str()),
    ) {
        (Some(pid), Some(action)) if pid.is_i64() || pid.is_u64() => {
            format!("guard pid {pid} is still running action {action}")
        }
        _ => fallback,
    }
}

/// The whole record (from offset 0), or `None` if larger than the guard allows.
fn read_record(fd: &OwnedFd) -> std::io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = sys::files::pread(fd.as_fd(), &mut buf, out.len() as u64)?;
        if n == 0 {
            return Ok(Some(out));
        }
        out.extend_from_slice(&buf[..n]);
        if out.len() > MAX_MUTEX_BYTES {
            return Ok(None);
        }
    }
}

fn new_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    fdio::random_bytes(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Field 22 of `/proc/self/stat` (the start time in clock ticks), as the guard records it.
fn own_start_time() -> Option<String> {
    let raw = sys::procfs::Proc::open().and_then(|p| p.self_stat()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let after = &text[text.rfind(')')? + 2..];
    after.split_whitespace().nth(19).map(str::to_string)
}

fn write_owner(fd: &OwnedFd, action: &str, token: &str) -> std::io::Result<()> {
    let record = serde_json::json!({
        "version": 1,
        "token": token,
        "action": action,
        "pid": fdio::pid(),
        "pidStartTime": own_start_time(),
    });
    // serde_json's maps are sorted by key: the guard's `sort_keys=True, separators=(",", ":")`.
    let mut payload = serde_json::to_vec(&record).map_err(std::io::Error::other)?;
    payload.push(b'\n');
    fdio::truncate_and_rewind(fd.as_fd())?;
    fdio::write_all(fd.as_fd(), &payload)?;
    fdio::fsync(fd.as_fd())
}

impl Drop for MutationMutex {
    fn drop(&mut self) {
        // As `_release_mutation_mutex`: the record is emptied only if it is still ours;
        // errors are not reported (the guard swallows them too), the lock goes with the fd.
        if let Some(token) = &self.token {
            let ours = read_record(&self.fd)
                .ok()
                .flatten()
                .and_then(|raw| serde_json::from_slice::<serde_json::Value>(&raw).ok())
                .is_some_and(|owner| owner.get("token").and_then(|t| t.as_str()) == Some(token));
            if ours && fdio::truncate_and_rewind(self.fd.as_fd()).is_ok() {
                let _ = fdio::fsync(self.fd.as_fd());
            }
        }
        let _ = fdio::unflock(self.fd.as_fd());
    }
}
