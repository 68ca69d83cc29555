//! Safe resolution of `dir` and `data_dir` to file descriptors: no component may be a symlink,
//! every component must be a directory. openat2(RESOLVE_NO_SYMLINKS) does it in one call; where
//! it is missing (ENOSYS) or filtered (EPERM, as seccomp profiles answer), a walk opens one
//! component at a time with O_PATH|O_NOFOLLOW|O_DIRECTORY from the fd of the one before, so
//! nothing is ever resolved twice by path.

#![forbid(unsafe_code)]

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::error::{Context, Error};
use crate::escape::escape_bytes;
use crate::sys::{self, Base};

/// How paths are resolved: openat2, and the walk where openat2 is missing or filtered. The
/// test-only feature `__test-knobs` adds `WalkOnly`, which skips openat2, so that the fallback
/// is tested as thoroughly as the main path (as libpathrs reruns its suite with openat2
/// disabled); release builds have no way to ask for it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Resolution {
    #[default]
    Openat2OrWalk,
    #[cfg(feature = "__test-knobs")]
    WalkOnly,
}

/// What the final fd is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Readable directory: getdents and the flags ioctls need a real open file.
    Read,
    /// O_PATH: enough to be the base of `*at` calls.
    Path,
}

impl Access {
    fn flags(self) -> sys::OFlags {
        match self {
            Access::Read => sys::OFlags::RDONLY,
            Access::Path => sys::OFlags::PATH,
        }
    }
}

/// openat2 may answer EAGAIN when a rename races with the lookup; try a few times.
const EAGAIN_RETRIES: usize = 16;

/// Opens the directory at `path` (absolute and normalized: the policy checked it).
pub fn open_directory(
    path: &[u8],
    access: Access,
    resolution: Resolution,
) -> Result<OwnedFd, Error> {
    let cpath = CString::new(path).map_err(|_| Error::bad("path contains a NUL byte"))?;
    if resolution == Resolution::Openat2OrWalk {
        let flags = access.flags() | sys::OFlags::DIRECTORY | sys::OFlags::NOFOLLOW;
        let resolve = sys::ResolveFlags::NO_SYMLINKS | sys::ResolveFlags::NO_MAGICLINKS;
        for _ in 0..EAGAIN_RETRIES {
            match sys::openat2(Base::Cwd, &cpath, flags, resolve) {
                Ok(fd) => return Ok(fd),
                Err(e) => match e.raw_os_error() {
                    Some(libc::EAGAIN) => continue,
                    Some(libc::ENOSYS) | Some(libc::EPERM) => break,
                    // Name the offending component: the walk finds it.
                    Some(libc::ELOOP) | Some(libc::ENOTDIR) => {
                        return Err(walk(path, access)
                            .err()
                            .unwrap_or_else(|| Error::UnsafePath {
                                path: display(path),
                                why: "a component is a symlink or not a directory".into(),
                            }))
                    }
                    _ => return Err(classify(path, path, e)),
                },
            }
        }
    }
    walk(path, access)
}

fn display(path: &[u8]) -> String {
    escape_bytes(path)
}

/// Maps an error on `prefix` (the part of `path` resolved so far) to the contract's status.
fn classify(path: &[u8], prefix: &[u8], e: io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::ENOENT) => Error::NotFound {
            path: display(prefix),
        },
        Some(libc::ELOOP) | Some(libc::ENOTDIR) => Error::UnsafePath {
            path: display(path),
            why: format!("\"{}\" is a symlink or not a directory", display(prefix)),
        },
        _ => Error::io(format!("opening \"{}\"", display(prefix)), e),
    }
}

/// The component-by-component walk.
fn walk(path: &[u8], access: Access) -> Result<OwnedFd, Error> {
    let root = c"/";
    let components: Vec<&[u8]> = path
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .collect();
    if components.is_empty() {
        return sys::openat(Base::Cwd, root, access.flags() | sys::OFlags::DIRECTORY)
            .map_err(|e| classify(path, b"/", e));
    }
    let mut current = sys::openat(Base::Cwd, root, sys::OFlags::PATH | sys::OFlags::DIRECTORY)
        .map_err(|e| classify(path, b"/", e))?;
    let mut resolved = 0usize;
    for (i, component) in components.iter().enumerate() {
        let last = i + 1 == components.len();
        let flags = if last {
            access.flags()
        } else {
            sys::OFlags::PATH
        } | sys::OFlags::DIRECTORY
            | sys::OFlags::NOFOLLOW;
        let name = CString::new(*component).map_err(|_| Error::bad("path contains a NUL byte"))?;
        resolved += 1 + component.len();
        let prefix = &path[..resolved];
        match sys::openat(Base::Dir(current.as_fd()), &name, flags) {
            Ok(fd) => current = fd,
            Err(e) => return Err(explain(path, prefix, &current, &name, e)),
        }
    }
    Ok(current)
}

/// Says whether a refused component is a symlink or some other non-directory.
fn explain(path: &[u8], prefix: &[u8], parent: &OwnedFd, name: &CStr, e: io::Error) -> Error {
    if !matches!(e.raw_os_error(), Some(libc::ENOTDIR) | Some(libc::ELOOP)) {
        return classify(path, prefix, e);
    }
    let what = match sys::lstatat(parent.as_fd(), name) {
        Ok(meta) if meta.kind == crate::inode::FileKind::Symlink => "is a symlink",
        _ => "is not a directory",
    };
    Error::UnsafePath {
        path: display(path),
        why: format!("\"{}\" {what}", display(prefix)),
    }
}

/// The ancestors one call found safe under the safe-path rule, each by its path and its
/// inode, with every ancestor above it: a second path of the same call (`data_dir` after
/// `dir`) that climbs to one of them, the same inode under the same path, stops there.
#[derive(Debug, Default)]
pub struct Checked {
    owner: Option<u32>,
    safe: Vec<(Vec<u8>, u64, u64)>,
}

impl Checked {
    fn holds(&self, owner: u32, prefix: &[u8], m: &crate::inode::Meta) -> bool {
        self.owner == Some(owner)
            && self
                .safe
                .iter()
                .any(|(p, dev, ino)| p == prefix && *dev == m.dev && *ino == m.ino)
    }
}

/// The safe-path rule of the contract, checked upward from the directory `fd` (resolved from
/// `path`) to the root: each ancestor must be owned by root or `owner` and not writable by
/// group or others (a sticky one, as `/tmp`, when the child on the path is root's or the
/// owner's). The direct parent is exempt, as the contract allows for `dir`'s; its verdict is
/// returned instead (`None`: safe, else why not), so that the caller can report what it
/// means (`data_dir` replaceable). Each step is checked to be the path's: the parent must
/// hold the child under the path's name, else the directory moved meanwhile.
///
/// `fd` is examined as `meta`; the walk climbs no higher than an ancestor that
/// `checked` holds (the same inode at the same path, checked for the same owner earlier in
/// the call); what it finds safe is added to `checked` when the whole path is.
pub fn check_ancestors_after(
    path: &[u8],
    fd: BorrowedFd<'_>,
    meta: &crate::inode::Meta,
    owner: u32,
    checked: &mut Checked,
) -> Result<Option<String>, Error> {
    let examine = |fd: BorrowedFd<'_>| sys::fstat(fd).context("examining an ancestor");
    let components: Vec<&[u8]> = path
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .collect();
    let mut child = *meta;
    let mut below: Option<OwnedFd> = None;
    let mut parent_verdict = None;
    let mut safe = Vec::new();
    for depth in (0..components.len()).rev() {
        let base = below.as_ref().map_or(fd, |b| b.as_fd());
        let up = sys::openat(
            Base::Dir(base),
            c"..",
            sys::OFlags::PATH | sys::OFlags::DIRECTORY,
        )
        .context("opening an ancestor")?;
        let meta = examine(up.as_fd())?;
        let prefix = if depth == 0 {
            b"/".to_vec()
        } else {
            path[..components[..depth]
                .iter()
                .map(|c| c.len() + 1)
                .sum::<usize>()]
                .to_vec()
        };
        let name =
            CString::new(components[depth]).map_err(|_| Error::bad("path contains a NUL byte"))?;
        let named = sys::lstatat(up.as_fd(), &name).map_err(|e| classify(path, &prefix, e))?;
        if !named.same_inode(&child) {
            return Err(Error::UnsafePath {
                path: display(path),
                why: "the directory was moved or replaced during the call; nothing left changed"
                    .into(),
            });
        }
        let verdict = crate::rules::judge_ancestor(&meta, &child, owner).map(|why| {
            format!(
                "ancestor \"{}\" (owner uid {}, mode {:04o}) {why}",
                display(&prefix),
                meta.uid,
                meta.mode
            )
        });
        let safe_here = verdict.is_none();
        if depth + 1 == components.len() {
            parent_verdict = verdict;
        } else if let Some(why) = verdict {
            return Err(Error::UnsafePath {
                path: display(path),
                why: format!(
                    "{why}: whoever controls it can move the path away (safe-path rule: every ancestor \
                     above the direct parent is root's or the owner's and writable by no one else, \
                     or sticky)"
                ),
            });
        }
        if checked.holds(owner, &prefix, &meta) {
            break; // it, and every ancestor above it, held a moment ago
        }
        if safe_here {
            safe.push((prefix, meta.dev, meta.ino));
        }
        child = meta;
        below = Some(up);
    }
    if checked.owner.map_or(true, |o| o == owner) {
        checked.owner = Some(owner);
        checked.safe.extend(safe);
    }
    Ok(parent_verdict)
}
