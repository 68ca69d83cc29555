//! The top of the configuration: `dir` itself, its protected files, the seal, the pins, and
//! the examination that `status` (and every transition, at its end) makes.

use std::ffi::{CStr, CString};
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use sha2::{Digest, Sha256};

use super::record;
use super::tree::{Counts, OverBudget, Pass, TreePosture, TreeReport, WalkError, Walker};
use super::{
    io_err, posture_of, set_posture, tree_roots, FileState, Found, IssueCode, SealState,
    ShieldsReport, State, Verb,
};
use crate::error::Error;
use crate::escape::escape_bytes;
use crate::inode::{FileKind, Meta};
use crate::pin::immutable;
use crate::profile::{Others, Profile, SealForm};
use crate::report::Action;
use crate::rules::seal::{self, SealLine, SEAL_MAX};
use crate::status::Status;
use crate::sys::{self, Base, DirEntries};

const NOFOLLOW_FILE: sys::OFlags = sys::OFlags::RDONLY
    .union(sys::OFlags::NOFOLLOW)
    .union(sys::OFlags::NONBLOCK);
const NOFOLLOW_DIR: sys::OFlags = sys::OFlags::RDONLY
    .union(sys::OFlags::DIRECTORY)
    .union(sys::OFlags::NOFOLLOW);

/// The quarantine of a call: a fresh root-only directory of `dir` (never an old one: a name
/// the sandbox user could have planted is not reused).
pub const QUARANTINE_PREFIX: &[u8] = b".nc-harden-quarantine-";
use super::tree::TEMP_PREFIX;

fn cstr(bytes: &[u8]) -> CString {
    CString::new(bytes).expect("names hold no NUL")
}

fn open_regular(dir: BorrowedFd<'_>, name: &CStr) -> std::io::Result<(OwnedFd, Meta)> {
    let fd = sys::openat(Base::Dir(dir), name, NOFOLLOW_FILE)?;
    let m = sys::fstat_born(fd.as_fd())?;
    if m.kind != FileKind::Regular {
        return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    }
    Ok((fd, m))
}

/// Reads `fd` from its start to its end, handing each read to `each` until it answers
/// `false`: the first 4 KiB through a buffer on the stack (a protected file is small), the
/// rest 64 KiB at a time through one buffer on the heap (bounded memory whatever the size).
fn stream(fd: BorrowedFd<'_>, mut each: impl FnMut(&[u8]) -> bool) -> std::io::Result<()> {
    let mut small = [0u8; 4096];
    let mut large = Vec::new();
    let mut offset = 0u64;
    loop {
        let buf: &mut [u8] = if offset < small.len() as u64 {
            &mut small[offset as usize..]
        } else {
            if large.is_empty() {
                large = vec![0u8; 64 * 1024];
            }
            &mut large
        };
        let n = sys::files::pread(fd, buf, offset)?;
        if n == 0 || !each(&buf[..n]) {
            return Ok(());
        }
        offset += n as u64;
    }
}

/// SHA-256 of an open file, streamed (bounded memory whatever its size).
fn digest(fd: BorrowedFd<'_>) -> std::io::Result<[u8; 32]> {
    let mut hasher = Sha256::new();
    stream(fd, |bytes| {
        hasher.update(bytes);
        true
    })?;
    Ok(hasher.finalize().into())
}

/// The bytes of `fd`, read until they are more than `cap` (the caller refuses those).
fn read_capped(fd: BorrowedFd<'_>, cap: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    stream(fd, |bytes| {
        out.extend_from_slice(bytes);
        out.len() <= cap
    })?;
    Ok(out)
}

/// Removes the temporaries a killed call left in `dir` (those the record holds as made).
fn remove_leftovers(dir: BorrowedFd<'_>, made: &record::Set<record::InodeId>) -> Result<(), Error> {
    for (name, kind) in listing(dir)?.iter() {
        if kind == FileKind::Regular && name.starts_with(TEMP_PREFIX) {
            let cname = cstr(name);
            if let Ok(m) = sys::lstatat(dir, &cname) {
                super::tree::remove_leftover(dir, &cname, &m, made)
                    .map_err(io_err("removing a leftover"))?;
            }
        }
    }
    Ok(())
}

/// Whether an entry of `dir` is one of this tool's own: a quarantine (a directory) or a
/// renewal's temporary (a regular file), by its name and as only root could have left it
/// (root's, no write bit for its group or others). One the sandbox user made under such a
/// name is not: it is protected, or said, as any other.
fn ours(dir: BorrowedFd<'_>, name: &[u8], kind: FileKind) -> bool {
    let want = if name.starts_with(QUARANTINE_PREFIX) {
        FileKind::Directory
    } else if name.starts_with(TEMP_PREFIX) {
        FileKind::Regular
    } else {
        return false;
    };
    kind == want
        && sys::lstatat(dir, &cstr(name))
            .is_ok_and(|m| m.kind == want && m.uid == 0 && m.mode & 0o022 == 0)
}

/// The regular files of `dir` the profile protects: its named files, and (`others = seal`)
/// every regular file no list names.
fn protected_names(dir: BorrowedFd<'_>, profile: &Profile) -> Result<Vec<Vec<u8>>, Error> {
    if profile.others == Others::Seal {
        Ok(protected_in(dir, profile, &listing(dir)?))
    } else {
        Ok(profile.files.clone())
    }
}

/// `protected_names` from a listing the caller took.
fn protected_in(dir: BorrowedFd<'_>, profile: &Profile, listed: &Listing) -> Vec<Vec<u8>> {
    let mut out = profile.files.clone();
    if profile.others == Others::Seal {
        for (name, kind) in listed.iter() {
            if kind == FileKind::Regular && !known(profile, name) && !ours(dir, name, kind) {
                out.push(name.to_vec());
            }
        }
    }
    out
}

fn known(profile: &Profile, name: &[u8]) -> bool {
    profile.files.iter().any(|f| f == name)
        || profile.keep.iter().any(|k| k == name)
        || profile.tree_class(name).is_some()
}

/// The names of `dir` and their kinds, sorted: the kind getdents gives (`lstat` only where
/// the filesystem does not say). What is done with a name checks the inode it opens again.
/// The names share one buffer (a listing is taken several times a call, and a name apiece
/// was most of its cost).
struct Listing {
    names: Vec<u8>,
    entries: Vec<(usize, usize, FileKind)>,
}

impl Listing {
    fn iter(&self) -> impl Iterator<Item = (&[u8], FileKind)> {
        self.entries
            .iter()
            .map(|&(start, end, kind)| (&self.names[start..end], kind))
    }
}

fn listing(dir: BorrowedFd<'_>) -> Result<Listing, Error> {
    let mut out = Listing {
        names: Vec::new(),
        entries: Vec::new(),
    };
    let mut unknown = false;
    let mut reader = DirEntries::new(dir);
    reader.rewind().map_err(io_err("listing dir"))?;
    while let Some(e) = reader.next_entry().map_err(io_err("listing dir"))? {
        let start = out.names.len();
        out.names.extend_from_slice(e.name.to_bytes());
        out.entries.push((start, out.names.len(), e.d_type));
        unknown |= e.d_type == FileKind::Unknown;
    }
    if unknown {
        let mut i = 0;
        while i < out.entries.len() {
            let (start, end, kind) = out.entries[i];
            if kind == FileKind::Unknown {
                match sys::lstatat(dir, &cstr(&out.names[start..end])) {
                    Ok(m) => out.entries[i].2 = m.kind,
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                        out.entries.swap_remove(i); // sorted below: the order is free
                        continue;
                    }
                    Err(e) => return Err(Error::io("examining dir", e)),
                }
            }
            i += 1;
        }
    }
    let names = &out.names;
    out.entries
        .sort_unstable_by(|a, b| names[a.0..a.1].cmp(&names[b.0..b.1]));
    Ok(out)
}

/// Moves `name` of `dir` into this call's quarantine (created on first use); returns where.
fn quarantine(
    dir: BorrowedFd<'_>,
    name: &CStr,
    slot: &mut Option<(OwnedFd, Vec<u8>)>,
) -> Result<Vec<u8>, Error> {
    if slot.is_none() {
        for _ in 0..8 {
            let tag = sys::shields::random_u64().map_err(io_err("naming the quarantine"))?;
            let mut qname = QUARANTINE_PREFIX.to_vec();
            qname.extend_from_slice(format!("{tag:016x}").as_bytes());
            match sys::mkdirat(dir, &cstr(&qname), 0o700) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => continue,
                Err(e) => return Err(Error::io("making the quarantine", e)),
            }
            let q = sys::openat(Base::Dir(dir), &cstr(&qname), NOFOLLOW_DIR)
                .map_err(io_err("opening the quarantine"))?;
            let m = sys::fstat(q.as_fd()).map_err(io_err("examining the quarantine"))?;
            sys::shields::fchown(q.as_fd(), 0, 0).map_err(io_err("owning the quarantine"))?;
            sys::shields::fchmod(q.as_fd(), 0o700).map_err(io_err("closing the quarantine"))?;
            debug_assert_eq!(m.kind, FileKind::Directory);
            *slot = Some((q, qname));
            break;
        }
    }
    let (q, qname) = slot
        .as_ref()
        .ok_or_else(|| Error::bad("no free quarantine name"))?;
    sys::shields::move_noreplace(dir, name, q.as_fd(), name)
        .map_err(io_err("moving an entry into the quarantine"))?;
    crate::killpoint::step();
    let mut to = qname.clone();
    to.push(b'/');
    to.extend_from_slice(name.to_bytes());
    Ok(to)
}

/// `dir` is not a directory (or missing): a non-directory is moved aside in the parent
/// (never deleted) and the call refused, the parent locked.
pub(super) fn refuse_dir(
    profile: &Profile,
    parent: BorrowedFd<'_>,
    name: &CStr,
    e: std::io::Error,
    mut report: ShieldsReport,
) -> Result<ShieldsReport, Error> {
    if e.raw_os_error() == Some(libc::ENOENT) {
        return Err(Error::NotFound {
            path: escape_bytes(&profile.dir),
        });
    }
    let tag = sys::shields::random_u64().map_err(io_err("naming the rejected entry"))?;
    let mut aside = b".nc-harden-rejected-".to_vec();
    aside.extend_from_slice(name.to_bytes());
    aside.extend_from_slice(format!("-{tag:016x}").as_bytes());
    sys::shields::move_noreplace(parent, name, parent, &cstr(&aside))
        .map_err(io_err("moving dir aside"))?;
    report.quarantined.push((Vec::new(), aside.clone()));
    report.issue(
        IssueCode::Quarantined,
        b"",
        format!(
            "dir was not a directory ({e}): moved aside to {} in its parent, never deleted",
            escape_bytes(&aside)
        ),
    );
    report.issue(IssueCode::UnsafeConfigFile, b"", "dir is not a directory");
    report.status = Status::Invalid;
    report.state = State::LockedNotVerified {
        reason: "dir was not a directory: moved aside".into(),
    };
    report.summary = summary(&report, profile);
    Ok(report)
}

/// Clears the immutable flags of an earlier shields up on `dir` and the protected files.
/// `false` when a flag is set and cannot be cleared (no CAP_LINUX_IMMUTABLE).
pub(super) fn unpin_all(
    dir: BorrowedFd<'_>,
    profile: &Profile,
    report: &mut ShieldsReport,
) -> Result<bool, Error> {
    let mut cleared = unmount_ours(dir, profile, report)?;
    let mut fds = Vec::new();
    for name in protected_names(dir, profile)? {
        if let Ok((fd, _)) = open_regular(dir, &cstr(&name)) {
            fds.push((name, fd));
        }
    }
    let dir_pinned = immutable::is_pinned(dir).map_err(io_err("reading dir's flags"))?;
    if dir_pinned == Some(true) {
        let out = immutable::unpin_inode(dir).map_err(io_err("unpinning dir"))?;
        crate::killpoint::step();
        if out.action != Action::Unfrozen {
            cleared = false;
            report.issue(
                IssueCode::PinRefused,
                b"",
                "dir's immutable flag cannot be cleared",
            );
        }
    }
    for (name, fd) in fds {
        if immutable::is_pinned(fd.as_fd()).map_err(io_err("reading a file's flags"))? == Some(true)
        {
            let out = immutable::unpin_inode(fd.as_fd()).map_err(io_err("unpinning a file"))?;
            crate::killpoint::step();
            if out.action != Action::Unfrozen {
                cleared = false;
                report.issue(
                    IssueCode::PinRefused,
                    &name,
                    "its immutable flag cannot be cleared",
                );
            }
        }
    }
    Ok(cleared)
}

/// Takes off nc-harden's read-only mounts over the protected files (known by the mount ids
/// the record holds, never by their shape). `false` when one cannot come off.
fn unmount_ours(
    dir: BorrowedFd<'_>,
    profile: &Profile,
    report: &mut ShieldsReport,
) -> Result<bool, Error> {
    let Some(mounts) =
        record::load_mounts(&profile.dir).map_err(io_err("reading the shields record"))?
    else {
        return Ok(true);
    };
    if mounts.is_empty() {
        return Ok(true);
    }
    let mut ok = true;
    for name in profile
        .files
        .iter()
        .chain(protected_names(dir, profile)?.iter())
    {
        for _ in 0..4 {
            let flags = sys::OFlags::PATH | sys::OFlags::NOFOLLOW;
            let Ok(fd) = sys::openat(Base::Dir(dir), &cstr(name), flags) else {
                break;
            };
            let facts = crate::pin::mountinfo::mount_facts(fd.as_fd())
                .map_err(io_err("examining a mount"))?;
            if !facts.is_mount_root || !mounts.contains(&facts.mnt_id) {
                break;
            }
            if let Err(e) = sys::mount::unmount(fd.as_fd()) {
                ok = false;
                report.issue(
                    IssueCode::PinRefused,
                    name,
                    format!("nc-harden's read-only mount cannot be taken off: {e}"),
                );
                break;
            }
            crate::killpoint::step();
        }
    }
    Ok(ok)
}

/// The mount layer of one protected file: a detached read-only bind mount of it (recorded
/// by its mount id while still detached: a kill before it is attached leaves nothing), moved
/// over its own name; read back.
fn mount_file(
    dir: BorrowedFd<'_>,
    name: &CStr,
    locked: &Meta,
    writer: &mut record::Writer,
) -> std::io::Result<bool> {
    let mnt = sys::shields::clone_tree(dir, name)?;
    sys::mount::mount_setattr(mnt.as_fd(), sys::mount::PIN_ATTRS)?;
    let id = crate::pin::mountinfo::mount_id_of(mnt.as_fd())?;
    writer.note_mount(id);
    writer.flush()?;
    crate::killpoint::step();
    let target = sys::openat(
        Base::Dir(dir),
        name,
        sys::OFlags::PATH | sys::OFlags::NOFOLLOW,
    )?;
    if !sys::fstat(target.as_fd())?.same_inode(locked) {
        return Ok(false);
    }
    sys::mount::move_mount(mnt.as_fd(), target.as_fd())?;
    crate::killpoint::step();
    read_only_mount(dir, name, Some(id))
}

/// Whether `name` of `dir` is the root of a read-only mount (`id`: that one).
fn read_only_mount(dir: BorrowedFd<'_>, name: &CStr, id: Option<u64>) -> std::io::Result<bool> {
    let fd = sys::openat(
        Base::Dir(dir),
        name,
        sys::OFlags::PATH | sys::OFlags::NOFOLLOW,
    )?;
    let facts = crate::pin::mountinfo::mount_facts(fd.as_fd())?;
    Ok(facts.is_mount_root
        && id.map_or(true, |id| id == facts.mnt_id)
        && sys::mount::mount_flags(fd.as_fd())?.read_only)
}

/// What a lock or an unlock of the trees left, as a status would find it: each tree walked,
/// its posture judged inode by inode as the walk left it, and the walk's issues. The call's
/// examination takes these instead of walking the trees a second time.
pub(super) struct Walked {
    pub trees: Vec<TreeReport>,
    pub issues: Vec<super::Issue>,
}

/// Locks the state trees: the budgets first (nothing changes if they are exceeded), then
/// each tree. `None`: over budget (the caller fails closed).
pub(super) fn lock_trees(
    dir: BorrowedFd<'_>,
    profile: &Profile,
    dev: u64,
    report: &mut ShieldsReport,
    recorded: Option<&record::Loaded>,
) -> Result<Option<Walked>, Error> {
    let roots = tree_roots(dir, profile)?;
    let mut issues = Vec::new();
    {
        let mut w = Walker::new(profile, dev, Pass::Budget, &mut issues);
        for (name, class, m) in &roots {
            if m.kind != FileKind::Directory {
                continue;
            }
            match w.tree(dir, name, m, *class) {
                Ok(_) => {}
                Err(WalkError::Budget(OverBudget(why))) => {
                    report.issue(IssueCode::WorkEntryLimit, name.to_bytes(), why);
                    return Ok(None);
                }
                Err(WalkError::Io { path, source }) => {
                    return Err(Error::io(
                        format!("walking \"{}\"", escape_bytes(&path)),
                        source,
                    ))
                }
            }
        }
    }
    issues.clear();
    let mut writer =
        record::Writer::open(&profile.dir).map_err(io_err("opening the shields record"))?;
    let mut slot = None;
    let mut walked = Vec::new();
    // One walker over every tree, as the budget pass: the budgets are counted again over
    // them all.
    let mut w = Walker::new(profile, dev, Pass::Lock, &mut issues);
    w.writer = Some(&mut writer);
    w.recorded = recorded.map(|l| &l.inodes);
    w.temporaries = recorded.map(|l| &l.temporaries);
    for (name, class, m) in &roots {
        if m.kind != FileKind::Directory {
            let to = quarantine(dir, name, &mut slot)?;
            report.issue(
                IssueCode::Quarantined,
                name.to_bytes(),
                format!(
                    "a {} where a directory belongs: moved to {}, never deleted",
                    m.kind.name(),
                    escape_bytes(&to)
                ),
            );
            report.quarantined.push((name.to_bytes().to_vec(), to));
            report.trees.push(TreeReport {
                name: name.to_bytes().to_vec(),
                class: *class,
                counts: Counts {
                    quarantined: 1,
                    ..Counts::default()
                },
                posture: TreePosture::Missing,
            });
            continue;
        }
        let tree = match w.tree(dir, name, m, *class) {
            Ok(t) => t,
            Err(WalkError::Budget(OverBudget(why))) => {
                report.issue(IssueCode::WorkEntryLimit, name.to_bytes(), why);
                return Ok(None);
            }
            Err(WalkError::Io { path, source }) => {
                return Err(Error::io(
                    format!("locking \"{}\"", escape_bytes(&path)),
                    source,
                ))
            }
        };
        walked.push(tree.clone());
        report.trees.push(tree);
    }
    report.renewed.extend(std::mem::take(&mut w.renewed));
    drop(w);
    report.issues.extend(issues.iter().cloned());
    Ok(Some(Walked {
        trees: walked,
        issues,
    }))
}

/// Hands the trees back: only what the record holds (or, with no record, what is exactly in
/// the locked posture).
pub(super) fn unlock_trees(
    dir: BorrowedFd<'_>,
    profile: &Profile,
    dev: u64,
    report: &mut ShieldsReport,
    recorded: Option<&record::Loaded>,
) -> Result<Walked, Error> {
    let mut issues = Vec::new();
    let mut walked = Walked {
        trees: Vec::new(),
        issues: Vec::new(),
    };
    for (name, class, m) in tree_roots(dir, profile)? {
        if m.kind != FileKind::Directory {
            walked.issues.push(not_a_tree(&name, &m));
            continue;
        }
        let mut w = Walker::new(profile, dev, Pass::Unlock, &mut issues);
        w.recorded = recorded.map(|l| &l.inodes);
        w.temporaries = recorded.map(|l| &l.temporaries);
        w.owners = recorded.map(|l| &l.owners);
        match w.tree(dir, &name, &m, class) {
            Ok(t) => {
                walked.trees.push(t.clone());
                report.trees.push(t);
            }
            Err(WalkError::Budget(OverBudget(why))) => {
                report.issue(IssueCode::WorkEntryLimit, name.to_bytes(), why)
            }
            Err(WalkError::Io { path, source }) => {
                return Err(Error::io(
                    format!("unlocking \"{}\"", escape_bytes(&path)),
                    source,
                ))
            }
        }
    }
    // What a status walk would say of them (the unlock keeps quiet of some of its
    // findings, as a hand-back leaves them): the tree walk's issues it gathers.
    walked.issues.extend(issues.iter().cloned());
    report.issues.extend(issues);
    Ok(walked)
}

/// The issue of a tree root that is not a directory.
fn not_a_tree(name: &CStr, m: &Meta) -> super::Issue {
    super::Issue {
        code: IssueCode::TreePosture,
        path: name.to_bytes().to_vec(),
        detail: format!("a {} where a directory belongs", m.kind.name()),
    }
}

/// Locks the protected files (owner root, then mode), each onto a fresh inode as NemoClaw's
/// config guard does at every lock. A file root already owns that the locked posture would
/// widen (a root-only 0600 file moved in) is refused and left as it is.
pub(super) fn lock_files(
    dir: BorrowedFd<'_>,
    profile: &Profile,
    report: &mut ShieldsReport,
    recorded: Option<&record::Loaded>,
) -> Result<(), Error> {
    let dir_meta = sys::fstat(dir).map_err(io_err("examining dir"))?;
    let l = profile.file_locked;
    let mut slot = None;
    let mut writer =
        record::Writer::open(&profile.dir).map_err(io_err("opening the shields record"))?;
    if let Some(set) = recorded {
        remove_leftovers(dir, &set.temporaries)?;
    }
    // What is left under this tool's own names and is not its own (`ours`) the sandbox user
    // made: moved aside, so that the names keep meaning what `ours` takes them for.
    for (name, kind) in listing(dir)?.iter() {
        if (name.starts_with(TEMP_PREFIX) || name.starts_with(QUARANTINE_PREFIX))
            && !ours(dir, name, kind)
        {
            let to = quarantine(dir, &cstr(name), &mut slot)?;
            report.issue(
                IssueCode::Quarantined,
                name,
                format!(
                    "a {} under a name of this tool's own, not its own: moved to {}, never deleted",
                    kind.name(),
                    escape_bytes(&to)
                ),
            );
            report.quarantined.push((name.to_vec(), to));
        }
    }
    for (n, name) in protected_names(dir, profile)?.into_iter().enumerate() {
        let cname = cstr(&name);
        let listed = match sys::lstatat(dir, &cname) {
            Ok(m) => m,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                if profile.seal.as_ref().is_some_and(|s| s.file == name) {
                    continue; // written from the bytes below
                }
                report.issue(
                    IssueCode::MissingConfigFile,
                    &name,
                    "a protected file is missing",
                );
                continue;
            }
            Err(e) => {
                return Err(
                    Error::io("examining a protected file", e).at_bytes(&path_in(profile, &name))
                )
            }
        };
        if listed.kind != FileKind::Regular {
            let to = quarantine(dir, &cname, &mut slot)?;
            report.quarantined.push((name.clone(), to.clone()));
            report.issue(
                IssueCode::UnsafeConfigFile,
                &name,
                format!(
                    "a {} where a protected file belongs: moved to {}, never opened",
                    listed.kind.name(),
                    escape_bytes(&to)
                ),
            );
            continue;
        }
        let (fd, m) = match open_regular(dir, &cname) {
            Ok(x) => x,
            Err(e) => {
                report.issue(
                    IssueCode::UnsafeConfigFile,
                    &name,
                    format!("cannot open: {e}"),
                );
                continue;
            }
        };
        // A protected file the sandbox user owns goes onto a fresh inode whatever its links
        // (its other names keep the old inode, locked below): refusing it would leave the
        // sandbox user the owner of the config. One root owns is refused when linked.
        if !m.same_inode(&listed) || (m.nlink != 1 && m.uid == 0) {
            report.issue(
                IssueCode::HardlinkedConfigFile,
                &name,
                format!("{} links: refused, left as it is", m.nlink),
            );
            continue;
        }
        if m.dev != dir_meta.dev || listed.mount.is_some_and(|mt| mt.is_root) {
            report.issue(
                IssueCode::MountPoint,
                &name,
                "something is mounted over it: refused",
            );
            continue;
        }
        let generation =
            sys::shields::generation(fd.as_fd()).map_err(io_err("reading a generation"))?;
        let mut id = super::tree::identity(&m, generation);
        // Root's and recorded: a killed shields up of this tool got this far with it.
        let ours = recorded
            .as_ref()
            .is_some_and(|set| set.inodes.contains(&id));
        // Someone's other than root's and the sandbox user's (the gateway's key, renamed in
        // by the sandbox user while `dir` was its own): the locked posture would hand its
        // bytes to every reader, and shields down the file to the sandbox user. Refused.
        if m.uid != 0 && m.uid != profile.file_mutable.uid {
            report.issue(
                IssueCode::UnsafeConfigFile,
                &name,
                format!(
                    "uid {}'s, {:04o}: neither root's nor the sandbox user's: refused, left as it is",
                    m.uid, m.mode
                ),
            );
            continue;
        }
        if m.uid == 0
            && !ours
            && (m.uid, m.gid, m.mode) != (l.uid, l.gid, l.mode)
            && m.mode & l.mode != l.mode
        {
            report.issue(
                IssueCode::RootOnlyFile,
                &name,
                format!(
                    "root's, {:04o}: the locked posture ({:04o}) would widen it: refused, left as it is",
                    m.mode, l.mode
                ),
            );
            continue;
        }
        if m.uid != 0 && !ours {
            // On overlayfs, the identity the copy-up gives it (`tree::settle`).
            if generation.is_none()
                && sys::is_overlayfs(fd.as_fd()).map_err(io_err("examining a protected file"))?
            {
                let inode = sys::InodeFd::examined(fd.as_fd(), &m).expect("a regular file");
                id = super::tree::settled_identity(inode, &m)
                    .map_err(io_err("examining a protected file"))?;
            }
            writer.note_owned(id, &m);
            writer
                .flush()
                .map_err(io_err("writing the shields record"))?;
        }
        let was_locked = (m.uid, m.gid, m.mode) == (l.uid, l.gid, l.mode);
        set_posture(fd.as_fd(), &m, l.uid, l.gid, l.mode).map_err(|e| {
            Error::io("locking a protected file", e)
                .at_bytes(&path_in(profile, &name))
                .needs_on_denied(super::POSTURE_NEEDS)
        })?;
        // From the mutable posture every protected file goes onto a fresh inode, as
        // NemoClaw's guard does; one already locked only where a writer still holds it.
        let writers = crate::fileops::writer_check(fd.as_fd());
        if was_locked && writers == crate::fileops::WriterCheck::NoWriter {
            continue;
        }
        let temp = cstr(format!(".nc-harden-new.{}.f{n}", std::process::id()).as_bytes());
        // Each copy from an fstat taken after the lease's waits: one taken before them
        // would see any write a held descriptor made meanwhile as a change during the copy.
        let copied =
            super::tree::renew_settling(dir, &cname, fd.as_fd(), &temp, Some(&mut writer), None)
                .map_err(|e| Error::io("renewing a protected file", e))?;
        report.renewed.push(name.clone());
        // Other names of the old inode (the sandbox user linked the config into a carve-out
        // before the lock) are no longer the config's. A root file's other names are root's:
        // left.
        if m.uid != 0 {
            super::tree::give_back_other_names(fd.as_fd(), &m)
                .map_err(io_err("handing back a renewed file's other names"))?;
        }
        if copied == super::tree::Copied::WhileWritten {
            report.issue(
                IssueCode::Raced,
                &name,
                "a writer changed it during every copy: the last copy has the name (locked; its \
                 bytes may be caught mid-write), the writer keeps only the old inode",
            );
        }
    }
    Ok(())
}

/// The name a seal line carries in the profile's form.
fn sealed_name(profile: &Profile, form: SealForm, name: &[u8]) -> Vec<u8> {
    match form {
        SealForm::Relative => name.to_vec(),
        SealForm::Absolute => {
            let mut p = profile.dir.clone();
            p.push(b'/');
            p.extend_from_slice(name);
            p
        }
    }
}

/// Writes the seal afresh (`afresh`: from the mutable posture, or `--reseal`) or checks it.
pub(super) fn seal(
    dir: BorrowedFd<'_>,
    profile: &Profile,
    report: &mut ShieldsReport,
    afresh: bool,
    reseal: bool,
) -> Result<(), Error> {
    let Some(spec) = &profile.seal else {
        return Ok(());
    };
    let missing = matches!(sys::lstatat(dir, &cstr(&spec.file)), Err(e) if e.raw_os_error() == Some(libc::ENOENT));
    let protected = protected_names(dir, profile)?;
    let others: Vec<Vec<u8>> = protected
        .iter()
        .filter(|n| **n != spec.file && !spec.names.contains(n))
        .cloned()
        .collect();
    if !(afresh || missing) {
        let state = check_seal(dir, profile, &protected)?;
        if !state.holds {
            let malformed = state
                .problem
                .as_deref()
                .is_some_and(|p| p.contains("malformed"));
            report.issue(
                if malformed {
                    IssueCode::InvalidConfigHash
                } else {
                    IssueCode::ConfigHashMismatch
                },
                &spec.file,
                state
                    .problem
                    .clone()
                    .unwrap_or_else(|| "the seal does not hold".into()),
            );
        }
        for n in &state.unsealed {
            report.issue(
                IssueCode::UnsealedFile,
                n,
                "protected but not named by the seal: repeat with --reseal to seal its bytes",
            );
        }
        report.seal = Some(state);
        return Ok(());
    }
    let mut names = spec.names.clone();
    if reseal {
        names.extend(others.iter().cloned());
    } else {
        for n in &others {
            report.issue(
                IssueCode::UnsealedFile,
                n,
                "protected but not named by the seal: repeat with --reseal to seal its bytes",
            );
        }
    }
    let mut lines = Vec::new();
    for n in &names {
        match open_regular(dir, &cstr(n)) {
            Ok((fd, _)) => lines.push(SealLine {
                digest: digest(fd.as_fd()).map_err(io_err("hashing a protected file"))?,
                name: sealed_name(profile, spec.form, n),
            }),
            Err(_) => {
                report.issue(
                    IssueCode::MissingConfigFile,
                    n,
                    "a sealed file is not a regular file of dir",
                );
                return Ok(());
            }
        }
    }
    let text = match seal::render(&lines) {
        Ok(text) => text,
        Err(len) => {
            // Written, it would read back as malformed on this call's check and every later
            // one: refused before anything is written, the old seal (if any) left.
            report.issue(
                IssueCode::InvalidConfigHash,
                &spec.file,
                format!(
                    "a seal of {} files would be {len} bytes, more than the {} KiB a seal may \
                     be: not written",
                    lines.len(),
                    SEAL_MAX / 1024
                ),
            );
            return Ok(());
        }
    };
    let l = profile.file_locked;
    let temp = cstr(format!(".nc-harden-new.{}.seal", std::process::id()).as_bytes());
    let _ = sys::unlinkat(dir, &temp);
    let fd = sys::create_exclusive(dir, &temp, 0o600).map_err(io_err("writing the seal"))?;
    let written = (|| -> std::io::Result<()> {
        // One fstat: the description, and the type check of the generation's ioctl.
        let (m, inode) = sys::InodeFd::examine(fd.as_fd())?;
        let generation = match inode {
            Some(inode) => inode.generation()?,
            None => return Err(std::io::Error::from_raw_os_error(libc::ENOTTY)),
        };
        let mut writer = record::Writer::open(&profile.dir)?;
        writer.note_temporary(super::tree::identity(&m, generation));
        writer.flush()?;
        let mut file = std::fs::File::from(fd.try_clone()?);
        file.write_all(&text)?;
        sys::files::set_owner_mode(fd.as_fd(), l.uid, l.gid, l.mode)?;
        crate::killpoint::step();
        sys::renameat(dir, &temp, &cstr(&spec.file))
    })();
    if let Err(e) = written {
        let _ = sys::unlinkat(dir, &temp);
        return Err(Error::io("writing the seal", e));
    }
    crate::killpoint::step();
    let mut state = check_seal(dir, profile, &protected)?;
    state.written = true;
    if !reseal {
        state.unsealed = others;
    }
    report.seal = Some(state);
    Ok(())
}

/// Reads the seal and checks it against the bytes of the files it names; says which of the
/// `protected` files (the caller's `protected_names`) it leaves out.
fn check_seal(
    dir: BorrowedFd<'_>,
    profile: &Profile,
    protected: &[Vec<u8>],
) -> Result<SealState, Error> {
    let spec = profile.seal.as_ref().expect("a seal");
    let mut state = SealState {
        file: spec.file.clone(),
        form: spec.form,
        written: false,
        holds: false,
        named: Vec::new(),
        unsealed: Vec::new(),
        problem: None,
    };
    let text = match open_regular(dir, &cstr(&spec.file)) {
        Ok((fd, _)) => read_capped(fd.as_fd(), SEAL_MAX).map_err(io_err("reading the seal"))?,
        Err(e) => {
            state.problem = Some(format!("the seal cannot be read: {e}"));
            return Ok(state);
        }
    };
    let lines = match seal::parse(&text, &profile.dir, &spec.file) {
        Ok(lines) => lines,
        Err(why) => {
            state.problem = Some(format!("the seal is malformed: {why}"));
            return Ok(state);
        }
    };
    let mut all = true;
    for line in &lines {
        let ok = match open_regular(dir, &cstr(&line.name)) {
            Ok((fd, _)) => {
                digest(fd.as_fd()).map_err(io_err("hashing a sealed file"))? == line.digest
            }
            Err(_) => false,
        };
        all &= ok;
        state.named.push((line.name.clone(), ok));
    }
    let named = |n: &[u8]| lines.iter().any(|l| l.name == n);
    let absent: Vec<&Vec<u8>> = spec.names.iter().filter(|n| !named(n)).collect();
    for n in protected {
        if *n != spec.file && !named(n) {
            state.unsealed.push(n.clone());
        }
    }
    state.holds = all && absent.is_empty();
    if !all {
        state.problem = Some("a sealed file's bytes do not match the seal".into());
    } else if let Some(n) = absent.first() {
        state.problem = Some(format!("the seal does not name {}", escape_bytes(n)));
    }
    Ok(state)
}

/// Pins the protected files, then `dir` (the immutable flag, read back).
pub(super) fn pin_all(
    dir: BorrowedFd<'_>,
    profile: &Profile,
    report: &mut ShieldsReport,
) -> Result<(), Error> {
    let mut denied = None;
    let mut all_files = true;
    let protected = protected_names(dir, profile)?;
    for name in &protected {
        let Ok((fd, _)) = open_regular(dir, &cstr(name)) else {
            all_files = false;
            continue;
        };
        let out = immutable::pin_inode(fd.as_fd()).map_err(io_err("pinning a protected file"))?;
        crate::killpoint::step();
        if !out.action.is_pinned() {
            all_files = false;
            denied.get_or_insert(out.action);
        }
    }
    let out = immutable::pin_inode(dir).map_err(io_err("pinning dir"))?;
    crate::killpoint::step();
    report.dir_pinned = out.action.is_pinned();
    if !report.dir_pinned {
        denied.get_or_insert(out.action);
    }
    report.chattr_applied = all_files;
    // Where the flag is refused: a read-only bind mount over each protected file (the
    // directory itself is not mounted over: its carve-outs must stay writable).
    if !all_files && sys::has_effective_capability(sys::CAP_SYS_ADMIN) {
        let mut writer =
            record::Writer::open(&profile.dir).map_err(io_err("opening the shields record"))?;
        for name in &protected {
            let cname = cstr(name);
            let Ok((fd, m)) = open_regular(dir, &cname) else {
                continue;
            };
            if immutable::is_pinned(fd.as_fd()).map_err(io_err("reading a file's flags"))?
                == Some(true)
            {
                continue;
            }
            if !mount_file(dir, &cname, &m, &mut writer)
                .map_err(io_err("mounting a file read-only"))?
            {
                report.issue(
                    IssueCode::PinRefused,
                    name,
                    "the read-only mount did not read back",
                );
            }
        }
    }
    Ok(())
}

/// A shields up refused: the locked posture stays, nothing is claimed.
pub(super) fn finish_blocked(mut report: ShieldsReport, profile: &Profile) -> ShieldsReport {
    let reason = report
        .blocking()
        .map(|i| {
            if i.path.is_empty() {
                i.detail.clone()
            } else {
                format!("{}: {}", escape_bytes(&i.path), i.detail)
            }
        })
        .unwrap_or_else(|| "refused".into());
    if let Ok(v) = super::examine(profile, Verb::Status) {
        report.parent = v.parent;
        report.directory = v.directory;
        report.files = v.files;
        if report.seal.is_none() {
            report.seal = v.seal;
        }
    }
    report.status = Status::Invalid;
    report.state = State::LockedNotVerified { reason };
    report.dir_pinned = false;
    report.chattr_applied = false;
    report.summary = summary(&report, profile);
    report
}

/// A shields up that went through: what it left is examined afresh, and that is what is
/// claimed: the parent, `dir` and the protected files read again (postures, flags, digests,
/// the seal), the trees as the lock walk judged each inode it left (`walked`: no second walk
/// of the trees, whose directories were root's before their names were read).
pub(super) fn finish_up(
    mut report: ShieldsReport,
    profile: &Profile,
    part: super::Part,
    walked: Option<&Walked>,
) -> ShieldsReport {
    match super::examine_part(profile, Verb::Status, part, walked) {
        Ok(v) => {
            report.parent = v.parent;
            report.directory = v.directory;
            report.files = v.files;
            report.seal = v.seal.or(report.seal);
            for t in &mut report.trees {
                if let Some(found) = v.trees.iter().find(|f| f.name == t.name) {
                    t.posture = found.posture;
                }
            }
            report.dir_pinned = v.dir_pinned;
            report.chattr_applied = v.chattr_applied;
            for i in v.issues {
                if !report.issues.contains(&i) && i.code.blocks_up() {
                    report.issues.push(i);
                }
            }
            report.state = match v.state {
                State::Up | State::UpNotPinned => v.state,
                other => State::LockedNotVerified {
                    reason: other.reason().unwrap_or("not verified").to_string(),
                },
            };
            report.status = match report.state {
                State::Up => Status::Ok,
                State::UpNotPinned => {
                    let unsupported = report.files.iter().any(|f| f.immutable.is_none());
                    if unsupported && sys::has_effective_capability(sys::CAP_LINUX_IMMUTABLE) {
                        Status::Unsupported
                    } else {
                        Status::NoCapability
                    }
                }
                _ => Status::Invalid,
            };
        }
        Err(e) => {
            report.status = Status::Invalid;
            report.state = State::LockedNotVerified {
                reason: format!("cannot be examined: {e}"),
            };
        }
    }
    report.summary = summary(&report, profile);
    report
}

/// Hands the protected files back: each onto a fresh inode in the mutable posture, but only
/// one in exactly the locked posture (root's, one link); any other is left and reported.
pub(super) fn unlock_files(
    dir: BorrowedFd<'_>,
    profile: &Profile,
    report: &mut ShieldsReport,
    recorded: Option<&record::Loaded>,
) -> Result<(), Error> {
    let (l, mu) = (profile.file_locked, profile.file_mutable);
    let mut writer =
        record::Writer::open(&profile.dir).map_err(io_err("opening the shields record"))?;
    if let Some(set) = recorded {
        remove_leftovers(dir, &set.temporaries)?;
    }
    for (n, name) in protected_names(dir, profile)?.into_iter().enumerate() {
        let cname = cstr(&name);
        let Ok(listed) = sys::lstatat(dir, &cname) else {
            continue;
        };
        if listed.kind != FileKind::Regular {
            report.issue(
                IssueCode::NotHandedBack,
                &name,
                format!("a {}: left as it is", listed.kind.name()),
            );
            continue;
        }
        let Ok((fd, m)) = open_regular(dir, &cname) else {
            continue;
        };
        if (m.uid, m.gid, m.mode) == (mu.uid, mu.gid, mu.mode) {
            continue;
        }
        if (m.uid, m.gid, m.mode) != (l.uid, l.gid, l.mode)
            || m.nlink != 1
            || !m.same_inode(&listed)
        {
            report.issue(
                IssueCode::NotHandedBack,
                &name,
                format!(
                    "{}:{} {:04o}, {} links: not in the locked posture, left as it is",
                    m.uid, m.gid, m.mode, m.nlink
                ),
            );
            continue;
        }
        let like = Meta {
            uid: mu.uid,
            gid: mu.gid,
            mode: mu.mode,
            ..m
        };
        let temp = cstr(format!(".nc-harden-new.{}.d{n}", std::process::id()).as_bytes());
        match super::tree::renew(
            dir,
            &cname,
            fd.as_fd(),
            &like,
            &temp,
            Some(&mut writer),
            None,
        ) {
            Ok(true) => report.renewed.push(name),
            Ok(false) => report.issue(
                IssueCode::Raced,
                &name,
                "changed while it was copied: left locked",
            ),
            Err(e) => return Err(Error::io("handing back a protected file", e)),
        }
    }
    Ok(())
}

/// Reads everything a status answers: postures, flags, the trees, the seal; and decides.
pub(super) fn examine(
    dir: BorrowedFd<'_>,
    profile: &Profile,
    report: &mut ShieldsReport,
    part: super::Part,
    walked: Option<&Walked>,
) -> Result<(), Error> {
    let dm = sys::fstat(dir).map_err(io_err("examining dir"))?;
    report.directory = Some(posture_of(&dm, &profile.dir_locked, &profile.dir_mutable));
    let dir_flag = immutable::is_pinned(dir).map_err(io_err("reading dir's flags"))?;
    report.dir_pinned = dir_flag == Some(true);
    // nc-harden's own read-only mounts over the protected files (none readable: none ours).
    let mounts = record::load_mounts(&profile.dir)
        .ok()
        .flatten()
        .unwrap_or_default();
    // One listing for the whole examination: the files, the entries no list names, the seal.
    let listed = listing(dir)?;
    let protected = protected_in(dir, profile, &listed);
    let seal_file = profile.seal.as_ref().map(|s| s.file.clone());
    for name in &protected {
        let cname = cstr(name);
        let state = match sys::lstatat(dir, &cname) {
            Err(_) => FileState {
                name: name.clone(),
                posture: super::PostureFound {
                    uid: 0,
                    gid: 0,
                    mode: 0,
                    found: Found::Missing,
                },
                immutable: None,
                renewed: false,
                sha256: None,
                read_only_mount: false,
            },
            Ok(listed) if listed.kind != FileKind::Regular => {
                report.issue(
                    IssueCode::UnsafeConfigFile,
                    name,
                    format!("a {}, not a regular file", listed.kind.name()),
                );
                FileState {
                    name: name.clone(),
                    posture: super::PostureFound {
                        uid: listed.uid,
                        gid: listed.gid,
                        mode: listed.mode,
                        found: Found::Other,
                    },
                    immutable: None,
                    renewed: false,
                    sha256: None,
                    read_only_mount: false,
                }
            }
            Ok(listed) => {
                let (fd, m) =
                    open_regular(dir, &cname).map_err(io_err("opening a protected file"))?;
                if m.nlink != 1 {
                    report.issue(
                        IssueCode::HardlinkedConfigFile,
                        name,
                        format!("{} links", m.nlink),
                    );
                }
                let mounted = listed.mount.filter(|mt| mt.is_root);
                let read_only_mount = match mounted {
                    Some(mt) if mounts.contains(&mt.id) => {
                        read_only_mount(dir, &cname, Some(mt.id)).unwrap_or(false)
                    }
                    _ => false,
                };
                if mounted.is_some() && !read_only_mount {
                    report.issue(IssueCode::MountPoint, name, "something is mounted over it");
                }
                FileState {
                    read_only_mount,
                    name: name.clone(),
                    posture: posture_of(&m, &profile.file_locked, &profile.file_mutable),
                    immutable: immutable::is_pinned(fd.as_fd())
                        .map_err(io_err("reading a file's flags"))?,
                    renewed: report.renewed.contains(name),
                    sha256: Some(digest(fd.as_fd()).map_err(io_err("hashing a protected file"))?),
                }
            }
        };
        report.files.push(state);
    }
    for (name, kind) in listed.iter() {
        if known(profile, name) || protected.iter().any(|p| p == name) || ours(dir, name, kind) {
            continue;
        }
        report.issue(
            IssueCode::UnprotectedEntry,
            name,
            format!(
                "a {} the profile does not name: left the sandbox user's",
                kind.name()
            ),
        );
    }
    let mut issues = Vec::new();
    let roots = match walked {
        _ if part == super::Part::TopConfig => Vec::new(),
        // The trees as this call's lock or unlock left them, judged as it went.
        Some(w) => {
            report.trees.extend(w.trees.iter().cloned());
            issues.extend(w.issues.iter().cloned());
            Vec::new()
        }
        None => tree_roots(dir, profile)?,
    };
    for (name, class, m) in roots {
        if m.kind != FileKind::Directory {
            issues.push(not_a_tree(&name, &m));
            continue;
        }
        let mut w = Walker::new(profile, dm.dev, Pass::Status, &mut issues);
        match w.tree(dir, &name, &m, class) {
            Ok(t) => report.trees.push(t),
            Err(WalkError::Budget(OverBudget(why))) => {
                return Err(Error::bad(why));
            }
            Err(WalkError::Io { path, source }) => {
                return Err(Error::io(
                    format!("examining \"{}\"", escape_bytes(&path)),
                    source,
                ))
            }
        }
    }
    report.issues.extend(issues);
    if profile.seal.is_some() {
        report.seal = Some(check_seal(dir, profile, &protected)?);
    }
    decide(report, profile, seal_file.as_deref(), part);
    Ok(())
}

fn decide(
    report: &mut ShieldsReport,
    profile: &Profile,
    seal_file: Option<&[u8]>,
    part: super::Part,
) {
    if part == super::Part::StateTrees {
        // The state trees alone: up when every tree is locked and nothing blocks, down when
        // every tree is the sandbox user's.
        let not_locked = report
            .trees
            .iter()
            .find(|t| t.posture != TreePosture::Locked);
        let blocking = report.issues.iter().find(|i| i.code.blocks_up());
        report.state = match (not_locked, blocking) {
            (None, None) => State::Up,
            _ if report
                .trees
                .iter()
                .all(|t| t.posture == TreePosture::Unlocked) =>
            {
                State::Down
            }
            (Some(t), _) => State::Neither {
                reason: format!(
                    "the state tree {} is {}",
                    escape_bytes(&t.name),
                    t.posture.name()
                ),
            },
            (None, Some(i)) => State::Neither {
                reason: format!("{}: {}", escape_bytes(&i.path), i.detail),
            },
        };
        report.status = super::status_of(&report.state);
        return;
    }
    let parent = report.parent.map(|p| p.found);
    let directory = report.directory.map(|p| p.found);
    let reason_up = || -> Option<String> {
        if parent != Some(Found::Locked) {
            let p = report.parent?;
            return Some(format!(
                "the parent is {}:{} {:04o}, not the locked posture ({})",
                p.uid,
                p.gid,
                p.mode,
                profile.parent_locked.describe()
            ));
        }
        if directory != Some(Found::Locked) {
            let d = report.directory?;
            return Some(format!(
                "dir is {}:{} {:04o}, not the locked posture ({})",
                d.uid,
                d.gid,
                d.mode,
                profile.dir_locked.describe()
            ));
        }
        if let Some(f) = report
            .files
            .iter()
            .find(|f| f.posture.found != Found::Locked)
        {
            return Some(format!(
                "{} is {}",
                escape_bytes(&f.name),
                if f.posture.found == Found::Missing {
                    "missing".to_string()
                } else {
                    format!(
                        "{}:{} {:04o}, not locked",
                        f.posture.uid, f.posture.gid, f.posture.mode
                    )
                }
            ));
        }
        if let Some(seal) = &report.seal {
            if !seal.holds {
                return Some(
                    seal.problem
                        .clone()
                        .unwrap_or_else(|| "the seal does not hold".into()),
                );
            }
            if let Some(n) = seal.unsealed.first() {
                return Some(format!("{} is protected but not sealed", escape_bytes(n)));
            }
        }
        if let Some(t) = report
            .trees
            .iter()
            .find(|t| t.posture != TreePosture::Locked)
        {
            return Some(format!(
                "the state tree {} is {}",
                escape_bytes(&t.name),
                t.posture.name()
            ));
        }
        if let Some(i) = report.issues.iter().find(|i| i.code.blocks_up()) {
            return Some(format!("{}: {}", escape_bytes(&i.path), i.detail));
        }
        None
    };
    let up_reason = reason_up();
    let reason_down = || -> Option<String> {
        if let Some(d) = report.directory.filter(|d| d.found != Found::Mutable) {
            return Some(format!(
                "dir is {}:{} {:04o}, not the mutable posture ({})",
                d.uid,
                d.gid,
                d.mode,
                profile.dir_mutable.describe()
            ));
        }
        if let Some(f) = report.files.iter().find(|f| {
            f.posture.found != Found::Mutable
                && !(f.posture.found == Found::Missing && Some(f.name.as_slice()) == seal_file)
        }) {
            return Some(format!(
                "{} is {}:{} {:04o}, not the mutable posture ({})",
                escape_bytes(&f.name),
                f.posture.uid,
                f.posture.gid,
                f.posture.mode,
                profile.file_mutable.describe()
            ));
        }
        if report.dir_pinned || report.files.iter().any(|f| f.immutable == Some(true)) {
            return Some("an immutable flag is set".into());
        }
        if let Some(t) = report
            .trees
            .iter()
            .find(|t| t.posture != TreePosture::Unlocked)
        {
            return Some(format!(
                "the state tree {} is {}",
                escape_bytes(&t.name),
                t.posture.name()
            ));
        }
        None
    };
    let down_reason = if parent == Some(Found::Mutable) {
        reason_down()
    } else {
        Some(String::new())
    };
    let down = down_reason.is_none();
    let up_reason = match (up_reason, down_reason) {
        (Some(_), Some(d)) if parent == Some(Found::Mutable) => Some(d),
        (u, _) => u,
    };
    let pinned = report.dir_pinned && report.files.iter().all(|f| f.immutable == Some(true));
    report.chattr_applied =
        report.files.iter().all(|f| f.immutable == Some(true)) && !report.files.is_empty();
    report.state = match up_reason {
        None if pinned => State::Up,
        None => State::UpNotPinned,
        Some(_) if down => State::Down,
        Some(reason) => State::Neither { reason },
    };
    report.status = super::status_of(&report.state);
}

/// One or two lines: the posture, what is protected, and against whom.
pub(super) fn summary(report: &ShieldsReport, profile: &Profile) -> String {
    let dir = escape_bytes(&report.dir);
    let files: Vec<String> = report.files.iter().map(|f| escape_bytes(&f.name)).collect();
    let trees = report.trees.len();
    let who = format!(
        "the sandbox user (uid {}) and its group",
        profile.sandbox_uid
    );
    let verb = report.verb.name();
    match &report.state {
        State::Up => format!(
            "shields {verb}: {dir} is up: locked, sealed and pinned (immutable flag read back on dir and {}); {trees} state trees root's: holds against {who}, and against root without CAP_LINUX_IMMUTABLE",
            files.join(", ")
        ),
        State::UpNotPinned => {
            let mounted = !report.files.is_empty() && report.files.iter().all(|f| f.read_only_mount);
            let why = if sys::has_effective_capability(sys::CAP_LINUX_IMMUTABLE) {
                "the filesystem refuses the immutable flag"
            } else {
                "no immutable flag: CAP_LINUX_IMMUTABLE missing"
            };
            if mounted {
                format!(
                    "shields {verb}: {dir} is up, not pinned: locked and sealed ({}; {trees} state trees root's; writers revoked by fresh inodes), the protected files on read-only bind mounts: holds against {who}, and the files' bytes against root without CAP_SYS_ADMIN; not dir itself ({why})",
                    files.join(", ")
                )
            } else {
                format!(
                    "shields {verb}: {dir} is up, not pinned: locked and sealed ({}; {trees} state trees root's; writers revoked by fresh inodes): holds against {who}, not against root ({why})",
                    files.join(", ")
                )
            }
        }
        State::Down => format!(
            "shields {verb}: {dir} is down: the mutable posture, the sandbox user's; nothing is protected"
        ),
        State::LockedNotVerified { reason } => {
            let still = still_writable(report, profile);
            let access = if still.is_empty() {
                "The sandbox user has lost write access to dir and its protected files".to_string()
            } else {
                format!("The sandbox user can still write {}", still.join(", "))
            };
            format!(
                "shields {verb}: {dir} locked, not verified: {}. {access}; fix it and repeat, --reseal to accept the current bytes, or shields down",
                super::one_line(reason)
            )
        }
        State::Neither { reason } => format!(
            "shields {verb}: {dir} is neither up nor down: {}",
            super::one_line(reason)
        ),
    }
}

/// What of `dir` and its protected files, as the report last examined them, the sandbox
/// user may still write by its posture: its own with the owner's write bit, its group's with
/// the group's, or anyone's. (A descriptor it held from before is revoked by the fresh inode
/// every protected file is given, `lock_files`.)
fn still_writable(report: &ShieldsReport, profile: &Profile) -> Vec<String> {
    let writable = |p: &super::PostureFound| {
        p.found != Found::Missing
            && ((p.uid == profile.sandbox_uid && p.mode & 0o200 != 0)
                || (p.gid == profile.sandbox_gid && p.mode & 0o020 != 0)
                || p.mode & 0o002 != 0)
    };
    let mut still = Vec::new();
    if report.directory.as_ref().is_some_and(writable) {
        still.push("dir".to_string());
    }
    for f in report.files.iter().filter(|f| writable(&f.posture)) {
        still.push(escape_bytes(&f.name));
    }
    still
}

/// The path of `dir`'s entry `name`, for an error to name.
fn path_in(profile: &Profile, name: &[u8]) -> Vec<u8> {
    [&profile.dir[..], b"/", name].concat()
}
