//! `state-dir-guard.py preflight`: the read-only judge of the state trees under
//! `/sandbox/.openclaw` (or `.hermes`), with the guard's codes, paths and details. Roots are
//! the guard's (`HIGH_RISK_STATE_DIRS`, `workspace-*`, and the confidential `credentials`,
//! `identity`, `pairing`), each walked by descriptor without following anything, the
//! writable `agents/*/sessions` carve-out not entered; a symlink is judged by resolving its
//! target here, never by the kernel (it must stay inside the protected roots, outside the
//! carve-out, on the same filesystem), except the one image-owned extension peer link;
//! budgets of 100,000 entries, 16 GiB logical and 8 GiB allocated bytes, 10 minutes.
//!
//! Marked for the merge with the shields engine: its StateTrees walker performs `lock` and
//! `unlock`; this judge may be replaced by that walker's read-only pass as long as the
//! records stay the guard's (the privileged suite checks them against the guard itself).

use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use super::mutex::cstring;
use super::{python, GuardError};
use crate::inode::{FileKind, Meta};
use crate::profile::builtin::{CONFIDENTIAL, HIGH_RISK};
use crate::sys::{self, fdio, Base, DirEntries};

const MAX_SYMLINK_EXPANSIONS: usize = 40;
const MAX_DEPTH: usize = 256;
const MAX_ENTRIES: u64 = 100_000;
const MAX_LOGICAL: u64 = 16 * 1024 * 1024 * 1024;
const MAX_ALLOCATED: u64 = 8 * 1024 * 1024 * 1024;
const MAX_SECONDS: u64 = 10 * 60;
const PEER_LINK_TARGET: &[u8] = b"/usr/local/lib/node_modules/openclaw";
const DIR_FLAGS: sys::OFlags = sys::OFlags::RDONLY
    .union(sys::OFlags::NOFOLLOW)
    .union(sys::OFlags::DIRECTORY);

/// What a preflight found: the number of roots, and every issue.
#[derive(Debug, Default)]
pub struct Preflight {
    pub roots: u64,
    pub issues: Vec<GuardError>,
}

fn is_root_name(name: &[u8]) -> bool {
    let text = std::str::from_utf8(name).unwrap_or("");
    CONFIDENTIAL.contains(&text) || HIGH_RISK.contains(&text) || name.starts_with(b"workspace-")
}

/// `_entry_kind`.
fn kind(m: &Meta) -> &'static str {
    match m.kind {
        FileKind::Directory => "directory",
        FileKind::Regular => "regular file",
        FileKind::Symlink => "symlink",
        FileKind::Fifo => "FIFO",
        FileKind::Socket => "socket",
        FileKind::CharDevice => "character device",
        FileKind::BlockDevice => "block device",
        FileKind::Unknown => "unknown entry",
    }
}

/// `_os_issue`: `<operation> failed: <strerror>`.
fn os_issue(code: &'static str, path: &[u8], operation: &str, e: &std::io::Error) -> GuardError {
    let text = e
        .raw_os_error()
        .map_or_else(|| e.to_string(), fdio::strerror);
    GuardError::new(code, path, format!("{operation} failed: {text}"))
}

fn join(a: &[u8], b: &[u8]) -> Vec<u8> {
    if a.is_empty() {
        return b.to_vec();
    }
    let mut out = a.to_vec();
    if !out.ends_with(b"/") {
        out.push(b'/');
    }
    out.extend_from_slice(b);
    out
}

/// `parts[0] == "agents"`, a real id, `parts[2] == "sessions"`: exactly (`exact`) or below.
fn carveout(relative: &[u8], exact: bool) -> bool {
    let parts: Vec<&[u8]> = relative.split(|&b| b == b'/').collect();
    let shape = parts.len() >= 3
        && parts[0] == b"agents"
        && !matches!(parts[1], b"" | b"." | b"..")
        && parts[2] == b"sessions";
    shape && (!exact || parts.len() == 3)
}

struct Walk<'a> {
    config_fd: BorrowedFd<'a>,
    config_path: &'a [u8],
    config_dev: u64,
    roots: Vec<Vec<u8>>,
    deadline: Instant,
    entries: u64,
    logical: u64,
    allocated: u64,
}

/// A budget exceeded stops the whole pass (the guard's `GuardOperationError`).
struct Stop(GuardError);

impl Walk<'_> {
    fn display(&self, relative: &[u8]) -> Vec<u8> {
        join(self.config_path, relative)
    }

    fn protected(&self, relative: &[u8]) -> bool {
        self.roots.iter().any(|r| {
            relative == r.as_slice()
                || (relative.starts_with(r) && relative.get(r.len()) == Some(&b'/'))
        })
    }

    fn check_time(&self, path: &[u8]) -> Result<(), Stop> {
        if Instant::now() > self.deadline {
            return Err(Stop(GuardError::new(
                "work-time-limit",
                path,
                format!("state-dir guard exceeded {MAX_SECONDS} seconds"),
            )));
        }
        Ok(())
    }

    fn observe(
        &mut self,
        path: &[u8],
        m: &Meta,
        dir: BorrowedFd<'_>,
        name: &CString,
    ) -> Result<(), Stop> {
        self.check_time(path)?;
        self.entries += 1;
        if self.entries > MAX_ENTRIES {
            return Err(Stop(GuardError::new(
                "work-entry-limit",
                path,
                format!("state tree exceeds {MAX_ENTRIES} entries in one pass"),
            )));
        }
        if m.kind != FileKind::Regular {
            return Ok(());
        }
        self.logical += m.size;
        self.allocated += fdio::allocated_bytes(dir, name).unwrap_or(0);
        if self.logical > MAX_LOGICAL {
            return Err(Stop(GuardError::new(
                "work-logical-byte-limit",
                path,
                format!("state tree exceeds {MAX_LOGICAL} logical bytes"),
            )));
        }
        if self.allocated > MAX_ALLOCATED {
            return Err(Stop(GuardError::new(
                "work-allocated-byte-limit",
                path,
                format!("state tree exceeds {MAX_ALLOCATED} allocated bytes"),
            )));
        }
        Ok(())
    }

    /// `_bounded_directory_names`, sorted (bytes: the order of Python's str for UTF-8 names).
    fn names(
        &self,
        dir: BorrowedFd<'_>,
        path: &[u8],
        timed: bool,
    ) -> Result<Result<Vec<Vec<u8>>, std::io::Error>, Stop> {
        let mut names = Vec::new();
        let mut reader = DirEntries::new(dir);
        loop {
            match reader.next_entry() {
                Ok(Some(entry)) => {
                    if timed {
                        self.check_time(path)?;
                    }
                    names.push(entry.name.to_bytes().to_vec());
                    if names.len() as u64 > MAX_ENTRIES {
                        return Err(Stop(GuardError::new(
                            "work-entry-limit",
                            path,
                            format!("directory exceeds {MAX_ENTRIES} entries"),
                        )));
                    }
                }
                Ok(None) => break,
                Err(e) => return Ok(Err(e)),
            }
        }
        names.sort();
        Ok(Ok(names))
    }

    /// `_normalize_link_target`: the target as a path relative to the config directory,
    /// inside a protected root. `Err`: (code, detail).
    fn normalize_target(
        &self,
        link_parent: &[u8],
        target: &[u8],
    ) -> Result<Vec<u8>, (&'static str, String)> {
        let relative = if target.starts_with(b"/") {
            let absolute = python::normpath(target);
            let inside = absolute == self.config_path
                || (absolute.starts_with(self.config_path)
                    && absolute.get(self.config_path.len()) == Some(&b'/'));
            if !inside {
                return Err((
                    "symlink-outside-protected-root",
                    "absolute symlink target is outside the config directory".into(),
                ));
            }
            if absolute == self.config_path {
                b".".to_vec()
            } else {
                absolute[self.config_path.len() + 1..].to_vec()
            }
        } else {
            python::normpath(&join(link_parent, target))
        };
        if relative.is_empty()
            || relative == b"."
            || relative == b".."
            || relative.starts_with(b"../")
        {
            return Err((
                "symlink-outside-protected-root",
                "symlink target escapes the config directory".into(),
            ));
        }
        if !self.protected(&relative) {
            return Err((
                "symlink-outside-protected-root",
                "symlink target is not inside a protected state-dir root".into(),
            ));
        }
        Ok(relative)
    }

    fn peer_link(&self, relative: &[u8], target: &[u8]) -> bool {
        if target != PEER_LINK_TARGET || !self.config_path.ends_with(b"/.openclaw") {
            return false;
        }
        let parts: Vec<&[u8]> = relative.split(|&b| b == b'/').collect();
        parts.len() == 4
            && parts[0] == b"extensions"
            && parts[1].first().is_some_and(u8::is_ascii_alphanumeric)
            && parts[1]
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            && parts[2] == b"node_modules"
            && parts[3] == b"openclaw"
    }

    /// `_resolve_internal_symlink`: the chain followed here, component by component, each
    /// looked at without following it. `Err`: (code, the issue's own path, detail).
    fn resolve(&self, link: &[u8], target: &[u8]) -> Result<(), (&'static str, String)> {
        let mut relative = self.normalize_target(parent_of(link), target)?;
        if carveout(link, false) || carveout(&relative, false) {
            return Err((
                "symlink-crosses-runtime-carveout",
                "symlinks may not enter or originate in the writable sessions carveout".into(),
            ));
        }
        let mut seen: Vec<Vec<u8>> = Vec::new();
        let mut expansions = 0;
        'chain: loop {
            if seen.contains(&relative) {
                return Err((
                    "symlink-cycle",
                    "internal symlink chain contains a cycle".into(),
                ));
            }
            seen.push(relative.clone());
            let components: Vec<Vec<u8>> =
                relative.split(|&b| b == b'/').map(<[u8]>::to_vec).collect();
            let mut current: Option<OwnedFd> = None;
            let mut resolved: Vec<Vec<u8>> = Vec::new();
            for (index, component) in components.iter().enumerate() {
                let dir = current.as_ref().map_or(self.config_fd, |fd| fd.as_fd());
                let here = self.display(
                    &resolved
                        .iter()
                        .chain([component])
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(&b'/'),
                );
                let name = cstring(component).map_err(|_| {
                    (
                        "symlink-target-unavailable",
                        "stat symlink target failed: Invalid argument".to_string(),
                    )
                })?;
                let st = sys::lstatat(dir, &name).map_err(|e| {
                    let issue = os_issue(
                        "symlink-target-unavailable",
                        &here,
                        "stat symlink target",
                        &e,
                    );
                    (issue.code, issue.detail)
                })?;
                if st.dev != self.config_dev {
                    return Err((
                        "cross-device-entry",
                        "symlink target crosses to a different filesystem".into(),
                    ));
                }
                let remaining = &components[index + 1..];
                if st.kind == FileKind::Symlink {
                    if st.nlink != 1 {
                        return Err((
                            "hardlinked-entry",
                            format!("symlink has link count {}, expected 1", st.nlink),
                        ));
                    }
                    expansions += 1;
                    if expansions > MAX_SYMLINK_EXPANSIONS {
                        return Err((
                            "too-many-symlinks",
                            "internal symlink chain is too deep".into(),
                        ));
                    }
                    let nested = read_link(dir, &name).map_err(|e| read_failed(&e))?;
                    let expanded = self.normalize_target(&resolved.join(&b'/'), &nested)?;
                    let mut joined = expanded;
                    for part in remaining {
                        joined = join(&joined, part);
                    }
                    relative = python::normpath(&joined);
                    if !self.protected(&relative) {
                        return Err((
                            "symlink-outside-protected-root",
                            "expanded symlink target leaves protected roots".into(),
                        ));
                    }
                    if carveout(&relative, false) {
                        return Err((
                            "symlink-crosses-runtime-carveout",
                            "symlink chain enters the writable sessions carveout".into(),
                        ));
                    }
                    continue 'chain;
                }
                if !remaining.is_empty() {
                    if st.kind != FileKind::Directory {
                        return Err((
                            "symlink-target-invalid",
                            "non-directory occurs before the end of a symlink target".into(),
                        ));
                    }
                    let next = sys::openat(Base::Dir(dir), &name, DIR_FLAGS)
                        .map_err(|e| read_failed(&e))?;
                    let actual = sys::fstat(next.as_fd()).map_err(|e| read_failed(&e))?;
                    if !st.same_inode(&actual) {
                        return Err((
                            "entry-raced",
                            "directory changed while it was being opened".into(),
                        ));
                    }
                    current = Some(next);
                    resolved.push(component.clone());
                    continue;
                }
                if !matches!(st.kind, FileKind::Directory | FileKind::Regular) {
                    return Err((
                        "special-entry",
                        format!("symlink resolves to a {}", kind(&st)),
                    ));
                }
                if st.kind == FileKind::Regular && st.nlink != 1 {
                    return Err((
                        "hardlinked-entry",
                        format!("regular file has link count {}, expected 1", st.nlink),
                    ));
                }
            }
            return Ok(());
        }
    }

    /// `_validate_symlink`: the issue is reported at the link, with the code and detail of
    /// whatever judged it.
    fn validate_symlink(
        &self,
        dir: BorrowedFd<'_>,
        name: &CString,
        relative: &[u8],
        st: &Meta,
    ) -> Option<GuardError> {
        let path = self.display(relative);
        if st.dev != self.config_dev {
            return Some(GuardError::new(
                "cross-device-entry",
                &path,
                "symlink is on a different filesystem",
            ));
        }
        if st.nlink != 1 {
            return Some(GuardError::new(
                "hardlinked-entry",
                &path,
                format!("symlink has link count {}, expected 1", st.nlink),
            ));
        }
        let target = match read_link(dir, name) {
            Ok(t) => t,
            Err(e) => return Some(os_issue("readlink-failed", &path, "read symlink", &e)),
        };
        if self.peer_link(relative, &target) {
            return None;
        }
        self.resolve(relative, &target)
            .err()
            .map(|(code, detail)| GuardError::new(code, &path, detail))
    }

    /// `_scan_dir` for preflight (every finding is an issue).
    fn scan(
        &mut self,
        dir: BorrowedFd<'_>,
        relative_dir: &[u8],
        issues: &mut Vec<GuardError>,
        depth: usize,
    ) -> Result<(), Stop> {
        let dir_path = self.display(relative_dir);
        if depth > MAX_DEPTH {
            issues.push(GuardError::new(
                "tree-too-deep",
                &dir_path,
                format!("state tree exceeds {MAX_DEPTH} directory levels"),
            ));
            return Ok(());
        }
        let names = match self.names(dir, &dir_path, true)? {
            Ok(names) => names,
            Err(e) => {
                issues.push(os_issue("list-failed", &dir_path, "list directory", &e));
                return Ok(());
            }
        };
        for name in names {
            let relative = join(relative_dir, &name);
            let path = self.display(&relative);
            let Ok(cname) = cstring(&name) else { continue };
            let st = match sys::lstatat(dir, &cname) {
                Ok(st) => st,
                Err(e) => {
                    issues.push(os_issue("stat-failed", &path, "stat entry", &e));
                    continue;
                }
            };
            self.observe(&path, &st, dir, &cname)?;
            if st.dev != self.config_dev {
                issues.push(GuardError::new(
                    "cross-device-entry",
                    &path,
                    "entry is on a different filesystem",
                ));
                continue;
            }
            match st.kind {
                FileKind::Directory => {
                    // The sessions carve-out stays live while shields are up: not entered.
                    if carveout(&relative, true) {
                        continue;
                    }
                    match open_child(dir, &cname, &st) {
                        Ok(child) => self.scan(child.as_fd(), &relative, issues, depth + 1)?,
                        Err(Ok(e)) => {
                            issues.push(os_issue("open-failed", &path, "open directory", &e))
                        }
                        Err(Err(())) => issues.push(GuardError::new(
                            "entry-raced",
                            &path,
                            "directory changed while it was being opened",
                        )),
                    }
                }
                FileKind::Regular => {
                    if st.nlink != 1 {
                        issues.push(GuardError::new(
                            "hardlinked-entry",
                            &path,
                            format!("regular file has link count {}, expected 1", st.nlink),
                        ));
                    }
                }
                FileKind::Symlink => {
                    issues.extend(self.validate_symlink(dir, &cname, &relative, &st))
                }
                _ => issues.push(GuardError::new(
                    "special-entry",
                    &path,
                    format!("state tree contains a {}", kind(&st)),
                )),
            }
        }
        Ok(())
    }
}

/// An OS error while a link is resolved: the guard's `_validate_symlink` reports any as
/// `readlink-failed`.
fn read_failed(e: &std::io::Error) -> (&'static str, String) {
    let issue = os_issue("readlink-failed", b"", "read symlink", e);
    (issue.code, issue.detail)
}

fn parent_of(relative: &[u8]) -> &[u8] {
    match relative.iter().rposition(|&b| b == b'/') {
        Some(i) => &relative[..i],
        None => b"",
    }
}

fn read_link(dir: BorrowedFd<'_>, name: &CString) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
    let n = sys::readlinkat(dir, name, &mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

/// `_open_child_dir`: `Err(Ok(e))` an OS error, `Err(Err(()))` not the inode looked at.
fn open_child(
    dir: BorrowedFd<'_>,
    name: &CString,
    expected: &Meta,
) -> Result<OwnedFd, Result<std::io::Error, ()>> {
    let fd = sys::openat(Base::Dir(dir), name, DIR_FLAGS).map_err(Ok)?;
    let actual = sys::fstat(fd.as_fd()).map_err(Ok)?;
    if !expected.same_inode(&actual) {
        return Err(Err(()));
    }
    Ok(fd)
}

/// `preflight` of `state-dir-guard.py` on `config_dir` (absolute, normalized).
pub fn preflight(config_dir: &[u8]) -> Preflight {
    let deadline = Instant::now() + Duration::from_secs(MAX_SECONDS);
    let config_fd = match open_plain(config_dir) {
        Ok(fd) => fd,
        Err(e) => {
            return Preflight {
                roots: 0,
                issues: vec![os_issue(
                    "config-open-failed",
                    config_dir,
                    "open config directory",
                    &e,
                )],
            }
        }
    };
    let config = match sys::fstat(config_fd.as_fd()) {
        Ok(m) => m,
        Err(e) => {
            return Preflight {
                roots: 0,
                issues: vec![os_issue(
                    "config-open-failed",
                    config_dir,
                    "open config directory",
                    &e,
                )],
            }
        }
    };
    let mut walk = Walk {
        config_fd: config_fd.as_fd(),
        config_path: config_dir,
        config_dev: config.dev,
        roots: Vec::new(),
        deadline,
        entries: 0,
        logical: 0,
        allocated: 0,
    };
    match run(&mut walk) {
        Ok(found) => found,
        Err(Stop(e)) => Preflight {
            roots: 0,
            issues: vec![e],
        },
    }
}

fn run(walk: &mut Walk<'_>) -> Result<Preflight, Stop> {
    let mut issues = Vec::new();
    // `_select_roots`.
    let names = match walk.names(walk.config_fd, walk.config_path, false)? {
        Ok(names) => names,
        Err(e) => {
            return Ok(Preflight {
                roots: 0,
                issues: vec![os_issue(
                    "list-failed",
                    walk.config_path,
                    "list config directory",
                    &e,
                )],
            })
        }
    };
    let mut roots: Vec<(Vec<u8>, Meta)> = Vec::new();
    for name in names.into_iter().filter(|n| is_root_name(n)) {
        let path = walk.display(&name);
        let Ok(cname) = cstring(&name) else { continue };
        let st = match sys::lstatat(walk.config_fd, &cname) {
            Ok(st) => st,
            Err(e) => {
                issues.push(os_issue("stat-failed", &path, "stat state-dir root", &e));
                continue;
            }
        };
        if st.dev != walk.config_dev {
            issues.push(GuardError::new(
                "cross-device-entry",
                &path,
                "state-dir root is on a different filesystem",
            ));
        } else if st.kind == FileKind::Symlink {
            issues.push(GuardError::new(
                "state-root-symlink",
                &path,
                "state-dir roots must not be symlinks",
            ));
        } else if st.kind != FileKind::Directory {
            issues.push(GuardError::new(
                "state-root-not-directory",
                &path,
                format!("state-dir root is a {}, not a directory", kind(&st)),
            ));
        } else {
            roots.push((name, st));
        }
    }
    walk.roots = roots.iter().map(|(n, _)| n.clone()).collect();
    for (name, _) in &roots {
        let path = walk.display(name);
        let Ok(cname) = cstring(name) else { continue };
        let st = match sys::lstatat(walk.config_fd, &cname) {
            Ok(st) => st,
            Err(e) => {
                issues.push(os_issue("open-failed", &path, "open state-dir root", &e));
                continue;
            }
        };
        // At a root, a budget exceeded is that root's issue (the guard catches it there).
        if let Err(Stop(e)) = walk.observe(&path, &st, walk.config_fd, &cname) {
            issues.push(e);
            continue;
        }
        match open_child(walk.config_fd, &cname, &st) {
            Ok(fd) => walk.scan(fd.as_fd(), name, &mut issues, 1)?,
            Err(Ok(e)) => issues.push(os_issue("open-failed", &path, "open state-dir root", &e)),
            Err(Err(())) => issues.push(GuardError::new(
                "entry-raced",
                &path,
                "directory changed while it was being opened",
            )),
        }
    }
    Ok(Preflight {
        roots: roots.len() as u64,
        issues,
    })
}

/// `_open_absolute_dir_nofollow`: each component opened `O_NOFOLLOW | O_DIRECTORY`.
fn open_plain(path: &[u8]) -> std::io::Result<OwnedFd> {
    let mut fd = sys::openat(Base::Cwd, c"/", DIR_FLAGS)?;
    for component in path.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
        let name =
            CString::new(component).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
        fd = sys::openat(Base::Dir(fd.as_fd()), &name, DIR_FLAGS)?;
    }
    Ok(fd)
}
