//! `openclaw-config-guard.py`'s read-only half: opening `/sandbox/.openclaw` by descriptor,
//! capturing the pair `openclaw.json` + `.config-hash` as it is (stable across reads, one
//! link, regular, same device, size caps) and judging the hash record against the captured
//! bytes; the journal and posture discriminators that every action but `lock` looks at
//! first. Codes, paths and details are the guard's, condition by condition.

use std::ffi::CStr;
use std::os::fd::{AsFd, OwnedFd};

use sha2::{Digest, Sha256};

use super::identity::Identity;
use super::mutex::{cstring, kind_name, open_absolute_dir};
use super::{os, os_on, python, Failure, GuardError};
use crate::inode::{FileKind, Meta};
use crate::sys::{self, fdio, Base};

/// The two protected files, in the order of the result's `files`.
pub const CONFIG_FILES: [&str; 2] = ["openclaw.json", ".config-hash"];
/// The guard's size caps: 16 MiB for the config, 64 KiB for the hash record.
pub fn max_bytes(name: &str) -> u64 {
    if name == "openclaw.json" {
        16 * 1024 * 1024
    } else {
        64 * 1024
    }
}
/// The Python guard's journals: the rootfs one (trusted) and the one inside the directory.
pub const JOURNAL_PATH: &str = "/etc/nemoclaw/openclaw-config-transaction.json";
pub const PERSISTENT_JOURNAL_NAME: &str = ".nemoclaw-config-transaction.json";
const MAX_JOURNAL_BYTES: u64 = 48 * 1024 * 1024;
const STABLE_READ_ATTEMPTS: usize = 3;
const FS_APPEND_FL: u32 = 0x20;

const DIR_FLAGS: sys::OFlags = sys::OFlags::RDONLY
    .union(sys::OFlags::NOFOLLOW)
    .union(sys::OFlags::DIRECTORY);
const FILE_FLAGS: sys::OFlags = sys::OFlags::RDONLY
    .union(sys::OFlags::NOFOLLOW)
    .union(sys::OFlags::NONBLOCK);

/// `.openclaw` and its parent, open; what `fstat` said of them when opened.
pub struct OpenConfig {
    /// The normalized path (`/sandbox/.openclaw`).
    pub config_path: Vec<u8>,
    pub parent_fd: OwnedFd,
    pub config_fd: OwnedFd,
    pub parent: Meta,
    pub config: Meta,
    name: std::ffi::CString,
}

impl OpenConfig {
    fn display(&self, name: &str) -> Vec<u8> {
        let mut p = self.config_path.clone();
        p.push(b'/');
        p.extend_from_slice(name.as_bytes());
        p
    }
}

/// One file as captured: its metadata when opened, its bytes, its inode flags.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub name: &'static str,
    pub meta: Meta,
    pub data: Vec<u8>,
    /// `FS_IOC_GETFLAGS`; `None` where the filesystem has none.
    pub flags: Option<u32>,
}

impl Snapshot {
    pub fn immutable(&self) -> bool {
        self.flags.is_some_and(|f| f & sys::FS_IMMUTABLE_FL != 0)
    }
    fn blocking_flags(&self) -> bool {
        self.flags
            .is_some_and(|f| f & (sys::FS_IMMUTABLE_FL | FS_APPEND_FL) != 0)
    }
}

/// What a preflight that holds found.
#[derive(Clone, Debug)]
pub struct Preflight {
    /// Both files carry the immutable flag, read back.
    pub both_immutable: bool,
    pub config_sha256: String,
}

/// `_open_config`: the parent by a descriptor walk from `/`, then `.openclaw` in it, checked
/// to be a directory, the inode looked at, on the parent's device.
pub fn open_config(config_dir: &[u8]) -> Result<OpenConfig, Failure> {
    let normalized = python::normpath(config_dir);
    let (parent_path, config_name) = match normalized.iter().rposition(|&b| b == b'/') {
        Some(0) => (b"/".to_vec(), normalized[1..].to_vec()),
        Some(i) => (normalized[..i].to_vec(), normalized[i + 1..].to_vec()),
        None => (Vec::new(), normalized.clone()),
    };
    if config_name != b".openclaw" || parent_path.is_empty() {
        return Err(GuardError::new(
            "invalid-config-path",
            config_dir,
            "config directory must be an absolute path ending in .openclaw",
        )
        .into());
    }
    let parent_fd = open_absolute_dir(&parent_path)?;
    let parent = sys::fstat(parent_fd.as_fd()).map_err(os)?;
    let name = cstring(&config_name)?;
    let before = sys::lstatat(parent_fd.as_fd(), &name).map_err(os_on(&config_name))?;
    if before.kind != FileKind::Directory {
        return Err(GuardError::new(
            "unsafe-config-entry",
            &normalized,
            format!(
                "config entry is a {}, expected directory",
                kind_name(&before)
            ),
        )
        .into());
    }
    let config_fd =
        sys::openat(Base::Dir(parent_fd.as_fd()), &name, DIR_FLAGS).map_err(os_on(&config_name))?;
    let config = sys::fstat(config_fd.as_fd()).map_err(os)?;
    let after = sys::lstatat(parent_fd.as_fd(), &name).map_err(os_on(&config_name))?;
    if !before.same_inode(&config) || !config.same_inode(&after) {
        return Err(GuardError::new(
            "entry-raced",
            &normalized,
            "config directory changed while opening",
        )
        .into());
    }
    if config.dev != parent.dev {
        return Err(GuardError::new(
            "cross-device-entry",
            &normalized,
            "config directory is on another filesystem",
        )
        .into());
    }
    Ok(OpenConfig {
        config_path: normalized,
        parent_fd,
        config_fd,
        parent,
        config,
        name,
    })
}

/// `_assert_config_binding`: `.openclaw` is still the directory we hold.
fn assert_binding(opened: &OpenConfig) -> Result<(), Failure> {
    let current = sys::lstatat(opened.parent_fd.as_fd(), &opened.name)
        .map_err(os_on(opened.name.to_bytes()))?;
    let actual = sys::fstat(opened.config_fd.as_fd()).map_err(os)?;
    if current.kind != FileKind::Directory || !current.same_inode(&actual) {
        return Err(GuardError::new(
            "entry-raced",
            &opened.config_path,
            "config directory binding changed",
        )
        .into());
    }
    Ok(())
}

fn stable(a: &Meta, b: &Meta) -> bool {
    a.same_inode(b) && a.size == b.size && a.modified == b.modified && a.changed == b.changed
}

/// `_open_checked_file`.
fn open_checked(opened: &OpenConfig, name: &'static str) -> Result<(OwnedFd, Meta), Failure> {
    let display = opened.display(name);
    let cname = cstring(name.as_bytes())?;
    let before = sys::lstatat(opened.config_fd.as_fd(), &cname).map_err(|e| {
        GuardError::new(
            "stat-failed",
            &display,
            format!(
                "stat failed: {}",
                python::os_error(&e, Some(name.as_bytes()))
            ),
        )
    })?;
    if before.kind != FileKind::Regular {
        return Err(GuardError::new(
            "unsafe-config-file",
            &display,
            format!("entry is a {}, expected regular file", kind_name(&before)),
        )
        .into());
    }
    if before.nlink != 1 {
        return Err(GuardError::new(
            "hardlinked-config-file",
            &display,
            format!("link count is {}, expected 1", before.nlink),
        )
        .into());
    }
    let max = max_bytes(name);
    if before.size > max {
        return Err(GuardError::new(
            "config-file-too-large",
            &display,
            format!("file is {} bytes, maximum is {max}", before.size),
        )
        .into());
    }
    if before.dev != opened.config.dev {
        return Err(GuardError::new(
            "cross-device-entry",
            &display,
            "config file is on another filesystem",
        )
        .into());
    }
    let fd = sys::openat(Base::Dir(opened.config_fd.as_fd()), &cname, FILE_FLAGS).map_err(|e| {
        GuardError::new(
            "open-failed",
            &display,
            format!(
                "open failed: {}",
                python::os_error(&e, Some(name.as_bytes()))
            ),
        )
    })?;
    let actual = sys::fstat(fd.as_fd()).map_err(os)?;
    let after = sys::lstatat(opened.config_fd.as_fd(), &cname).map_err(os_on(name.as_bytes()))?;
    if actual.kind != FileKind::Regular
        || actual.nlink != 1
        || !before.same_inode(&actual)
        || !actual.same_inode(&after)
        || !stable(&before, &actual)
        || !stable(&actual, &after)
    {
        return Err(GuardError::new(
            "entry-raced",
            &display,
            "config file changed while it was being opened",
        )
        .into());
    }
    Ok((fd, actual))
}

/// `_snapshot_file`: the bytes of a file that stayed the same inode, size and times while
/// they were read; three tries.
fn snapshot_file(opened: &OpenConfig, name: &'static str) -> Result<Snapshot, Failure> {
    let display = opened.display(name);
    let max = max_bytes(name);
    let cname = cstring(name.as_bytes())?;
    for _ in 0..STABLE_READ_ATTEMPTS {
        let (fd, before) = open_checked(opened, name)?;
        let mut data = Vec::with_capacity(before.size as usize);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = fdio::read(fd.as_fd(), &mut buf).map_err(os)?;
            if n == 0 {
                break;
            }
            if (data.len() + n) as u64 > max {
                return Err(GuardError::new(
                    "config-file-too-large",
                    &display,
                    format!("file grew beyond the {max}-byte maximum while reading"),
                )
                .into());
            }
            data.extend_from_slice(&buf[..n]);
        }
        let flags = match sys::get_flags(fd.as_fd()) {
            Ok(flags) => Some(flags),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOTTY | libc::ENOTSUP | libc::EINVAL)
                ) =>
            {
                None
            }
            Err(e) => return Err(os(e)),
        };
        let after = sys::fstat(fd.as_fd()).map_err(os)?;
        let current =
            sys::lstatat(opened.config_fd.as_fd(), &cname).map_err(os_on(name.as_bytes()))?;
        if stable(&before, &after) && after.same_inode(&current) {
            if data.len() as u64 != before.size {
                continue;
            }
            return Ok(Snapshot {
                name,
                meta: before,
                data,
                flags,
            });
        }
    }
    Err(GuardError::new(
        "unstable-config-file",
        &display,
        format!("file did not remain stable across {STABLE_READ_ATTEMPTS} reads"),
    )
    .into())
}

/// `_snapshot_is_current`.
fn is_current(opened: &OpenConfig, s: &Snapshot) -> bool {
    let Ok(name) = cstring(s.name.as_bytes()) else {
        return false;
    };
    sys::lstatat(opened.config_fd.as_fd(), &name).is_ok_and(|c| {
        c.kind == FileKind::Regular
            && c.nlink == 1
            && c.same_inode(&s.meta)
            && c.size == s.meta.size
            && c.modified == s.meta.modified
            && c.changed == s.meta.changed
    })
}

/// `_validate_hash_record`: one canonical `sha256sum` line (`<64 hex> ` then ` ` or `*`,
/// then the name, an optional final newline), naming `openclaw.json` or
/// `<configDir>/openclaw.json`, whose digest is that of the captured bytes.
pub fn validate_hash_record(
    opened: &OpenConfig,
    config: &Snapshot,
    hash: &Snapshot,
) -> Result<(), GuardError> {
    let display = opened.display(hash.name);
    if !hash.data.is_ascii() {
        return Err(GuardError::new(
            "invalid-config-hash",
            &display,
            "hash record must be ASCII",
        ));
    }
    let record = hash.data.strip_suffix(b"\n").unwrap_or(&hash.data);
    let canonical = record.len() > 66
        && record[..64].iter().all(u8::is_ascii_hexdigit)
        && record[64] == b' '
        && matches!(record[65], b' ' | b'*')
        && !record[66..].iter().any(|&b| b == b'\r' || b == b'\n');
    if !canonical {
        return Err(GuardError::new(
            "invalid-config-hash",
            &display,
            "expected one canonical sha256sum record",
        ));
    }
    let recorded = &record[66..];
    if recorded != b"openclaw.json" && recorded != opened.display("openclaw.json").as_slice() {
        return Err(GuardError::new(
            "invalid-config-hash-path",
            &display,
            format!(
                "hash record path {} is not an allowed OpenClaw config path",
                python::repr(recorded)
            ),
        ));
    }
    let actual = hex(&Sha256::digest(&config.data));
    if !record[..64].to_ascii_lowercase().eq(actual.as_bytes()) {
        return Err(GuardError::new(
            "config-hash-mismatch",
            &display,
            "hash record does not match the captured openclaw.json bytes",
        ));
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `_snapshot_pair` (`validate`: the hash record judged too) or `_snapshot_raw_pair`: both
/// files captured and still current, three tries; the last finding says so.
pub fn snapshot_pair(opened: &OpenConfig, validate: bool) -> Result<(Snapshot, Snapshot), Failure> {
    let mut last: Option<GuardError> = None;
    for _ in 0..STABLE_READ_ATTEMPTS {
        let attempt = (|| -> Result<(Snapshot, Snapshot), Failure> {
            let config = snapshot_file(opened, "openclaw.json")?;
            let hash = snapshot_file(opened, ".config-hash")?;
            if !is_current(opened, &config) || !is_current(opened, &hash) {
                return Err(GuardError::new(
                    "config-pair-raced",
                    &opened.config_path,
                    "OpenClaw config/hash pair changed while it was captured",
                )
                .into());
            }
            if validate {
                validate_hash_record(opened, &config, &hash)?;
            }
            Ok((config, hash))
        })();
        match attempt {
            Ok(pair) => return Ok(pair),
            Err(Failure::Guard(e)) => last = Some(e),
            Err(other) => return Err(other),
        }
    }
    let last = last.expect("three attempts failed");
    Err(GuardError::new(
        last.code,
        last.path,
        format!("{} after {STABLE_READ_ATTEMPTS} pair attempts", last.detail),
    )
    .into())
}

fn has_posture(m: &Meta, uid: u32, gid: u32, mode: u32) -> bool {
    m.kind == FileKind::Directory && m.uid == uid && m.gid == gid && m.mode == mode
}

/// The postures of the guard's table, read from the descriptors (fresh `fstat`).
pub struct Postures {
    parent: Meta,
    config: Meta,
    id: Identity,
}

impl Postures {
    pub fn of(opened: &OpenConfig, id: Identity) -> Result<Postures, Failure> {
        Ok(Postures {
            parent: sys::fstat(opened.parent_fd.as_fd()).map_err(os)?,
            config: sys::fstat(opened.config_fd.as_fd()).map_err(os)?,
            id,
        })
    }

    /// `_is_mutable_dir_posture`: parent sandbox:sandbox 0755, `.openclaw` sandbox:sandbox 2770.
    pub fn mutable(&self) -> bool {
        has_posture(
            &self.parent,
            self.id.sandbox_uid,
            self.id.sandbox_gid,
            0o755,
        ) && has_posture(
            &self.config,
            self.id.sandbox_uid,
            self.id.sandbox_gid,
            0o2770,
        )
    }

    /// `_has_locked_dir_posture`: parent root:sandbox 1775, `.openclaw` root:root 0755.
    pub fn locked(&self) -> bool {
        has_posture(
            &self.parent,
            Identity::ROOT_UID,
            self.id.sandbox_gid,
            0o1775,
        ) && has_posture(&self.config, Identity::ROOT_UID, Identity::ROOT_GID, 0o755)
    }

    /// `_is_partial_frozen_mutable_posture`: a freeze of the guard killed before the files
    /// were replaced (a root-owned parent or `.openclaw` is the mark).
    pub fn partial_frozen(&self) -> bool {
        if self.mutable() {
            return false;
        }
        let (p, c, id) = (&self.parent, &self.config, &self.id);
        let parent_known = matches!(p.mode, 0o555 | 0o755)
            && p.gid == id.sandbox_gid
            && (p.uid == Identity::ROOT_UID || p.uid == id.sandbox_uid);
        let config_known = (c.uid == Identity::ROOT_UID
            && c.gid == Identity::ROOT_GID
            && matches!(c.mode, 0o000 | 0o500 | 0o700 | 0o770))
            || (c.uid == id.sandbox_uid
                && c.gid == id.sandbox_gid
                && matches!(c.mode, 0o000 | 0o500 | 0o770 | 0o2770));
        parent_known && config_known && (p.uid == Identity::ROOT_UID || c.uid == Identity::ROOT_UID)
    }
}

/// `_verify_mutable_files` without `allow_blocking_flags`.
fn verify_mutable_files(
    opened: &OpenConfig,
    pair: &(Snapshot, Snapshot),
    id: Identity,
) -> Result<(), GuardError> {
    for s in [&pair.0, &pair.1] {
        if s.meta.uid != id.sandbox_uid
            || s.meta.gid != id.sandbox_gid
            || s.meta.mode != 0o660
            || s.blocking_flags()
        {
            return Err(GuardError::new(
                "config-not-mutable",
                opened.display(s.name),
                "write-config requires sandbox:sandbox 0660 without immutable/append flags",
            ));
        }
    }
    Ok(())
}

/// A journal read: absent, or its JSON object.
type Journal = Option<serde_json::Map<String, serde_json::Value>>;

fn read_bounded(fd: &OwnedFd, max: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = fdio::read(fd.as_fd(), &mut buf)?;
        if n == 0 {
            return Ok(Some(out));
        }
        out.extend_from_slice(&buf[..n]);
        if out.len() as u64 > max {
            return Ok(None);
        }
    }
}

fn journal_object(
    raw: &[u8],
    path: &[u8],
    what: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, GuardError> {
    let value: serde_json::Value = std::str::from_utf8(raw)
        .ok()
        .and_then(|text| serde_json::from_str(text).ok())
        .ok_or_else(|| {
            GuardError::new("invalid-journal", path, format!("{what} JSON is invalid"))
        })?;
    match value {
        serde_json::Value::Object(map) => Ok(map),
        _ => Err(GuardError::new(
            "invalid-journal",
            path,
            format!("{what} is not an object"),
        )),
    }
}

fn trusted_journal_meta(m: &Meta) -> bool {
    m.kind == FileKind::Regular
        && m.nlink == 1
        && m.uid == Identity::ROOT_UID
        && m.gid == Identity::ROOT_GID
        && m.mode & 0o077 == 0
        && m.size <= MAX_JOURNAL_BYTES
}

/// `_read_secondary_journal`: `/etc/nemoclaw/openclaw-config-transaction.json`.
fn read_secondary_journal() -> Result<Journal, Failure> {
    let etc = open_absolute_dir(b"/etc")?;
    let before = match sys::lstatat(etc.as_fd(), c"nemoclaw") {
        Ok(m) => m,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
        Err(e) => return Err(os_on(b"nemoclaw")(e)),
    };
    if before.kind != FileKind::Directory {
        return Err(GuardError::new(
            "unsafe-state-path",
            "/etc/nemoclaw",
            "state parent is not a directory",
        )
        .into());
    }
    let dir =
        sys::openat(Base::Dir(etc.as_fd()), c"nemoclaw", DIR_FLAGS).map_err(os_on(b"nemoclaw"))?;
    let actual = sys::fstat(dir.as_fd()).map_err(os)?;
    if !before.same_inode(&actual) {
        return Err(GuardError::new(
            "entry-raced",
            "/etc/nemoclaw",
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
            "/etc/nemoclaw",
            "state directory must be root-owned and not group/world-writable",
        )
        .into());
    }
    let name: &CStr = c"openclaw-config-transaction.json";
    let fd = match sys::openat(Base::Dir(dir.as_fd()), name, FILE_FLAGS) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
        Err(e) => return Err(os_on(name.to_bytes())(e)),
    };
    let before = sys::fstat(fd.as_fd()).map_err(os)?;
    let current = sys::lstatat(dir.as_fd(), name).map_err(os_on(name.to_bytes()))?;
    if !trusted_journal_meta(&before) || !before.same_inode(&current) {
        return Err(GuardError::new(
            "unsafe-journal",
            JOURNAL_PATH,
            "journal metadata is not trusted",
        )
        .into());
    }
    let raw = read_bounded(&fd, MAX_JOURNAL_BYTES)
        .map_err(os)?
        .ok_or_else(|| {
            GuardError::new(
                "journal-too-large",
                JOURNAL_PATH,
                "journal exceeds size cap",
            )
        })?;
    let after = sys::fstat(fd.as_fd()).map_err(os)?;
    if !stable(&before, &after) {
        return Err(
            GuardError::new("entry-raced", JOURNAL_PATH, "journal changed while reading").into(),
        );
    }
    Ok(Some(journal_object(
        &raw,
        JOURNAL_PATH.as_bytes(),
        "journal",
    )?))
}

/// `_read_persistent_journal`: `.nemoclaw-config-transaction.json` inside `.openclaw`.
fn read_persistent_journal(opened: &OpenConfig) -> Result<Journal, Failure> {
    let display = opened.display(PERSISTENT_JOURNAL_NAME);
    let name: &CStr = c".nemoclaw-config-transaction.json";
    let before = match sys::lstatat(opened.config_fd.as_fd(), name) {
        Ok(m) => m,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
        Err(e) => return Err(os_on(name.to_bytes())(e)),
    };
    if !trusted_journal_meta(&before) {
        return Err(GuardError::new(
            "unsafe-journal",
            &display,
            "persistent journal metadata is not trusted",
        )
        .into());
    }
    let fd = sys::openat(Base::Dir(opened.config_fd.as_fd()), name, FILE_FLAGS)
        .map_err(os_on(name.to_bytes()))?;
    let actual = sys::fstat(fd.as_fd()).map_err(os)?;
    if !before.same_inode(&actual) {
        return Err(GuardError::new(
            "entry-raced",
            &display,
            "persistent journal changed while opening",
        )
        .into());
    }
    let raw = read_bounded(&fd, MAX_JOURNAL_BYTES)
        .map_err(os)?
        .ok_or_else(|| {
            GuardError::new(
                "journal-too-large",
                &display,
                "persistent journal exceeds size cap",
            )
        })?;
    let after = sys::fstat(fd.as_fd()).map_err(os)?;
    if !stable(&before, &after) {
        return Err(GuardError::new(
            "entry-raced",
            &display,
            "persistent journal changed while reading",
        )
        .into());
    }
    Ok(Some(journal_object(&raw, &display, "persistent journal")?))
}

/// `_read_journal` with the main loop's reading of its failures, for an action that is
/// not `lock`: an interrupted transaction of the Python guard (its journals) must be
/// recovered by it first (`recovery-required`), except a persistent journal that the
/// sandbox could have planted or replayed in the exact mutable posture, which is no
/// authority. `read_only` (preflight): a partially frozen tree must be recovered too.
pub fn check_no_pending_transaction(
    opened: &OpenConfig,
    id: Identity,
    read_only: bool,
) -> Result<(), Failure> {
    let postures = Postures::of(opened, id)?;
    let mutable_or_partial = postures.mutable() || postures.partial_frozen();
    let display = opened.display(PERSISTENT_JOURNAL_NAME);
    let pending: Journal = match read_journal(opened, mutable_or_partial) {
        Ok(journal) => journal,
        Err(Failure::Guard(e)) if e.path == display => {
            let secondary = read_secondary_journal()?;
            let replay_without_secondary = e.code == "persistent-journal-without-secondary"
                && secondary.is_none()
                && mutable_or_partial;
            if secondary.is_some()
                || !(replay_without_secondary || nonauthoritative(opened, id, &postures)?)
            {
                return Err(Failure::Guard(e));
            }
            None
        }
        Err(f) => return Err(f),
    };
    if pending.is_some() {
        return Err(GuardError::new(
            "recovery-required",
            JOURNAL_PATH,
            "an interrupted config transaction must be recovered first",
        )
        .into());
    }
    if read_only && Postures::of(opened, id)?.partial_frozen() {
        return Err(GuardError::new(
            "recovery-required",
            &opened.config_path,
            "a partially frozen config transaction must be recovered first",
        )
        .into());
    }
    Ok(())
}

fn read_journal(opened: &OpenConfig, mutable_or_partial: bool) -> Result<Journal, Failure> {
    let secondary = read_secondary_journal()?;
    let persistent = match read_persistent_journal(opened) {
        Ok(p) => p,
        Err(_) if secondary.is_some() && mutable_or_partial => return Ok(secondary),
        Err(f) => return Err(f),
    };
    match persistent {
        Some(persistent) if mutable_or_partial => match secondary {
            None => Err(GuardError::new(
                "persistent-journal-without-secondary",
                opened.display(PERSISTENT_JOURNAL_NAME),
                "persistent journal is replayable after mutable handoff",
            )
            .into()),
            // Private rootfs state wins in the mutable posture.
            Some(secondary) if secondary != persistent => Ok(Some(secondary)),
            Some(_) => Ok(Some(persistent)),
        },
        Some(persistent) => Ok(Some(persistent)),
        None => Ok(secondary),
    }
}

/// `_mutable_reserved_entry_is_nonauthoritative`.
fn nonauthoritative(
    opened: &OpenConfig,
    id: Identity,
    postures: &Postures,
) -> Result<bool, Failure> {
    if !postures.mutable() {
        return Ok(false);
    }
    let pair = snapshot_pair(opened, false)?;
    verify_mutable_files(opened, &pair, id)?;
    let entry = match sys::lstatat(
        opened.config_fd.as_fd(),
        c".nemoclaw-config-transaction.json",
    ) {
        Ok(m) => m,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(false),
        Err(e) => return Err(os_on(PERSISTENT_JOURNAL_NAME.as_bytes())(e)),
    };
    let sandbox_owned = entry.uid == id.sandbox_uid && entry.gid == id.sandbox_gid;
    let retained_root_dir = entry.kind == FileKind::Directory
        && entry.uid == Identity::ROOT_UID
        && entry.gid == Identity::ROOT_GID;
    Ok(sandbox_owned || retained_root_dir)
}

/// `preflight` after the preconditions and the mutex: `.openclaw` opened, no transaction
/// of the Python guard pending, then the pair captured and judged, `.openclaw` still bound.
pub fn preflight(config_dir: &[u8], id: Identity) -> Result<Preflight, Failure> {
    let opened = open_config(config_dir)?;
    check_no_pending_transaction(&opened, id, true)?;
    assert_binding(&opened)?;
    let (config, hash) = snapshot_pair(&opened, true)?;
    assert_binding(&opened)?;
    Ok(Preflight {
        both_immutable: config.immutable() && hash.immutable(),
        config_sha256: hex(&Sha256::digest(&config.data)),
    })
}

/// Whether anything that pins `/sandbox/.openclaw` the way nc-harden pins it is there: the
/// immutable flag on the directory or on one of the two files, or a mount on the directory
/// itself (statx says it is a mount root). The stub's `unpin` has nothing to do otherwise.
pub fn has_pins(config_dir: &[u8]) -> Result<bool, Failure> {
    let opened = open_config(config_dir)?;
    let entry = sys::lstatat(opened.parent_fd.as_fd(), &opened.name)
        .map_err(os_on(opened.name.to_bytes()))?;
    if entry.mount.is_some_and(|m| m.is_root) {
        return Ok(true);
    }
    let immutable =
        |fd: &OwnedFd| sys::get_flags(fd.as_fd()).is_ok_and(|f| f & sys::FS_IMMUTABLE_FL != 0);
    if immutable(&opened.config_fd) {
        return Ok(true);
    }
    for name in CONFIG_FILES {
        let cname = cstring(name.as_bytes())?;
        let is_file = sys::lstatat(opened.config_fd.as_fd(), &cname)
            .is_ok_and(|m| m.kind == FileKind::Regular);
        if !is_file {
            continue;
        }
        if let Ok(fd) = sys::openat(Base::Dir(opened.config_fd.as_fd()), &cname, FILE_FLAGS) {
            let still_file = sys::fstat(fd.as_fd()).is_ok_and(|m| m.kind == FileKind::Regular);
            if still_file && immutable(&fd) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}
