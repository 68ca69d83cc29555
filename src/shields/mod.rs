//! Shields up, down and status over a profile (`crate::profile`): the layout NemoClaw ships
//! now (workload.md, variant H). One call takes one lock (`pin::lock_in` of `dir`'s path, in the options' state directory) and
//! walks from `/` by descriptor; nothing is resolved by path twice.
//!
//! Shields up, in this order: the parent to its locked posture (the sandbox user can no
//! longer move `dir`), `dir` clamped root-only while the state trees are locked, the
//! protected files locked and put on fresh inodes, the seal written (from the mutable
//! posture) or checked, `dir` to its locked posture, then the pins (the immutable flag, read
//! back). A refused shields up fails closed: what was locked stays locked, no pin is claimed,
//! and the state says `locked, not verified`. Shields down is the reverse and hands back only
//! what a shields up locked; the parent goes last.

#![forbid(unsafe_code)]

mod json;
mod record;
mod top;
pub mod tree;

use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::error::Error;
use crate::escape::escape_bytes;
use crate::inode::Meta;
use crate::pin;
use crate::profile::{Profile, SealForm, TreeClass};
use crate::status::Status;
use crate::sys::{self, Base};
use crate::walk::{self, Access, Resolution};
pub use tree::{Counts, TreePosture, TreeReport};

/// Which half of the shields a call moves: both, or the halves NemoClaw's two guards move
/// (the top configuration lock, and the state-tree lock).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Part {
    #[default]
    All,
    /// The parent, `dir`, the protected files, the seal and the pins.
    TopConfig,
    /// The state trees alone, `dir` clamped root:root 0500 during the pass.
    StateTrees,
}

/// Whether shields up rewrites the seal from the files' current bytes (`--reseal`) or
/// checks it as it is (it is written afresh anyway from the mutable posture).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reseal {
    #[default]
    Check,
    Rewrite,
}

/// How a shields call runs: which half, the seal (shields up only), and where its lock and
/// record are kept (default [`crate::STATE_DIR`]).
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub part: Part,
    pub reseal: Reseal,
    pub state_dir: pin::StateDir,
}

impl Options {
    pub fn new(part: Part) -> Self {
        Options {
            part,
            ..Options::default()
        }
    }
}

crate::contract_table! {
    /// The three verbs; `nc_shields_explain_bad_argument`'s `verb`.
    pub enum Verb in C enum nc_shields_verb {
        /// nc_shields_up.
        Up = 1 => NC_SHIELDS_VERB_UP "up",
        /// nc_shields_down.
        Down = 2 => NC_SHIELDS_VERB_DOWN "down",
        /// nc_shields_status.
        Status = 3 => NC_SHIELDS_VERB_STATUS "status",
    }
}

/// What state the shields are in, as found at the end of the call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Locked posture, the seal holds, pinned (every flag read back).
    Up,
    /// Locked posture and the seal hold; not pinned (no capability, or no flag support).
    UpNotPinned,
    /// Exactly the mutable posture.
    Down,
    /// A shields up that was refused left the locked posture in place, unverified.
    LockedNotVerified { reason: String },
    /// Neither up nor down: tampered, partly locked, a seal that does not hold.
    Neither { reason: String },
}

impl State {
    pub fn name(&self) -> &'static str {
        match self {
            State::Up => "up",
            State::UpNotPinned => "up-not-pinned",
            State::Down => "down",
            State::LockedNotVerified { .. } => "locked-not-verified",
            State::Neither { .. } => "neither",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            State::LockedNotVerified { reason } | State::Neither { reason } => Some(reason),
            _ => None,
        }
    }
}

/// Stable issue codes (NemoClaw's guards' names where the same condition arises), numbered
/// as docs/contract.md lists them; never renumbered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum IssueCode {
    HardlinkedEntry = 1,
    SpecialEntry = 2,
    SymlinkOutsideProtectedRoot = 3,
    SymlinkCrossesCarveOut = 4,
    Quarantined = 5,
    MountPoint = 6,
    WorkEntryLimit = 7,
    TooDeep = 8,
    Unreadable = 9,
    Raced = 10,
    NotHandedBack = 11,
    RootOnlyFile = 12,
    UnsafeConfigFile = 13,
    HardlinkedConfigFile = 14,
    MissingConfigFile = 15,
    ConfigHashMismatch = 16,
    InvalidConfigHash = 17,
    UnsealedFile = 18,
    UnprotectedEntry = 19,
    PinRefused = 20,
    TreePosture = 21,
}

impl IssueCode {
    /// Every code, in their numbers' order.
    pub const fn all() -> [IssueCode; 21] {
        [
            IssueCode::HardlinkedEntry,
            IssueCode::SpecialEntry,
            IssueCode::SymlinkOutsideProtectedRoot,
            IssueCode::SymlinkCrossesCarveOut,
            IssueCode::Quarantined,
            IssueCode::MountPoint,
            IssueCode::WorkEntryLimit,
            IssueCode::TooDeep,
            IssueCode::Unreadable,
            IssueCode::Raced,
            IssueCode::NotHandedBack,
            IssueCode::RootOnlyFile,
            IssueCode::UnsafeConfigFile,
            IssueCode::HardlinkedConfigFile,
            IssueCode::MissingConfigFile,
            IssueCode::ConfigHashMismatch,
            IssueCode::InvalidConfigHash,
            IssueCode::UnsealedFile,
            IssueCode::UnprotectedEntry,
            IssueCode::PinRefused,
            IssueCode::TreePosture,
        ]
    }

    pub fn name(self) -> &'static str {
        match self {
            IssueCode::HardlinkedEntry => "hardlinked-entry",
            IssueCode::SpecialEntry => "special-entry",
            IssueCode::SymlinkOutsideProtectedRoot => "symlink-outside-protected-root",
            IssueCode::SymlinkCrossesCarveOut => "symlink-crosses-runtime-carveout",
            IssueCode::Quarantined => "quarantined-entry",
            IssueCode::MountPoint => "mount-point",
            IssueCode::WorkEntryLimit => "work-entry-limit",
            IssueCode::TooDeep => "work-depth-limit",
            IssueCode::Unreadable => "unreadable-entry",
            IssueCode::Raced => "entry-changed",
            IssueCode::NotHandedBack => "not-handed-back",
            IssueCode::RootOnlyFile => "root-only-file",
            IssueCode::UnsafeConfigFile => "unsafe-config-file",
            IssueCode::HardlinkedConfigFile => "hardlinked-config-file",
            IssueCode::MissingConfigFile => "missing-config-file",
            IssueCode::ConfigHashMismatch => "config-hash-mismatch",
            IssueCode::InvalidConfigHash => "invalid-config-hash",
            IssueCode::UnsealedFile => "unsealed-file",
            IssueCode::UnprotectedEntry => "unprotected-entry",
            IssueCode::PinRefused => "pin-refused",
            IssueCode::TreePosture => "tree-posture",
        }
    }

    /// Whether the issue stops a shields up from being verified (the rest are reported).
    pub fn blocks_up(self) -> bool {
        !matches!(
            self,
            IssueCode::UnprotectedEntry | IssueCode::Quarantined | IssueCode::NotHandedBack
        )
    }
}

/// One finding: a stable code, the path relative to `dir` (bytes), and what to know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    pub code: IssueCode,
    pub path: Vec<u8>,
    pub detail: String,
}

/// Which posture an inode was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    Locked,
    Mutable,
    Other,
    Missing,
}

impl Found {
    pub fn name(self) -> &'static str {
        match self {
            Found::Locked => "locked",
            Found::Mutable => "mutable",
            Found::Other => "other",
            Found::Missing => "missing",
        }
    }
}

/// An inode's owner and mode, and which posture that is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PostureFound {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    pub found: Found,
}

/// One protected file (or an unnamed regular file the profile seals).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileState {
    pub name: Vec<u8>,
    pub posture: PostureFound,
    /// The immutable flag, read back (`None`: no flags on this filesystem, or no file).
    pub immutable: Option<bool>,
    pub renewed: bool,
    pub sha256: Option<[u8; 32]>,
    /// A read-only bind mount of nc-harden's covers it (the layer where the flag is refused).
    pub read_only_mount: bool,
}

/// The seal as found (or written).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealState {
    pub file: Vec<u8>,
    pub form: SealForm,
    /// Written afresh by this call.
    pub written: bool,
    pub holds: bool,
    /// Each name the seal holds, and whether the file's bytes match.
    pub named: Vec<(Vec<u8>, bool)>,
    /// Regular files the profile protects that the seal does not name.
    pub unsealed: Vec<Vec<u8>>,
    pub problem: Option<String>,
}

/// The result of a shields call: what the guard drop-in and the CLI render.
#[derive(Clone, Debug)]
pub struct ShieldsReport {
    pub verb: Verb,
    pub status: Status,
    pub state: State,
    pub profile: String,
    pub dir: Vec<u8>,
    pub parent: Option<PostureFound>,
    pub directory: Option<PostureFound>,
    pub files: Vec<FileState>,
    pub trees: Vec<TreeReport>,
    pub seal: Option<SealState>,
    /// The immutable flag read back on `dir`.
    pub dir_pinned: bool,
    /// The immutable flag read back on every protected file.
    pub chattr_applied: bool,
    /// Files put on fresh inodes (paths relative to `dir`).
    pub renewed: Vec<Vec<u8>>,
    /// Entries moved into the quarantine, and where.
    pub quarantined: Vec<(Vec<u8>, Vec<u8>)>,
    pub issues: Vec<Issue>,
    pub summary: String,
}

impl ShieldsReport {
    fn new(verb: Verb, profile: &Profile) -> Self {
        Self::blank(
            verb,
            &profile.name,
            &profile.dir,
            Status::Internal,
            "not examined",
        )
    }

    /// A report of nothing found yet: what `new` and `from_error` fill in.
    fn blank(verb: Verb, profile_name: &str, dir: &[u8], status: Status, reason: &str) -> Self {
        ShieldsReport {
            verb,
            status,
            state: State::Neither {
                reason: reason.to_string(),
            },
            profile: profile_name.to_string(),
            dir: dir.to_vec(),
            parent: None,
            directory: None,
            files: Vec::new(),
            trees: Vec::new(),
            seal: None,
            dir_pinned: false,
            chattr_applied: false,
            renewed: Vec::new(),
            quarantined: Vec::new(),
            issues: Vec::new(),
            summary: String::new(),
        }
    }

    /// A call that stopped on an error before a verdict.
    pub fn from_error(verb: Verb, profile_name: &str, dir: &[u8], e: &Error) -> Self {
        let mut report = Self::blank(verb, profile_name, dir, e.status(), &e.to_string());
        report.summary = format!(
            "shields {}: {}: {}",
            verb.name(),
            escape_bytes(dir),
            one_line(&e.to_string())
        );
        report
    }

    /// The report as one JSON object.
    pub fn to_json(&self) -> String {
        json::render(self)
    }

    fn issue(&mut self, code: IssueCode, path: &[u8], detail: impl Into<String>) {
        self.issues.push(Issue {
            code,
            path: path.to_vec(),
            detail: detail.into(),
        });
    }

    fn blocking(&self) -> Option<&Issue> {
        self.issues.iter().find(|i| i.code.blocks_up())
    }
}

/// Escapes what a log line must not carry (the name bytes escape themselves).
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\r' | '\u{2028}' | '\u{2029}' | '\u{85}' => ' ',
            c if c.is_control() => '?',
            c => c,
        })
        .collect()
}

const NOFOLLOW_DIR: sys::OFlags = sys::OFlags::RDONLY
    .union(sys::OFlags::DIRECTORY)
    .union(sys::OFlags::NOFOLLOW);

fn posture_of(
    m: &Meta,
    locked: &crate::profile::Posture,
    mutable: &crate::profile::Posture,
) -> PostureFound {
    let is = |p: &crate::profile::Posture| m.uid == p.uid && m.gid == p.gid && m.mode == p.mode;
    PostureFound {
        uid: m.uid,
        gid: m.gid,
        mode: m.mode,
        found: if is(locked) {
            Found::Locked
        } else if is(mutable) {
            Found::Mutable
        } else {
            Found::Other
        },
    }
}

/// The parent and `dir`, opened by descriptor from `/`. `dir` is `Err` with the kernel's
/// answer when it is not a directory (or missing).
struct Opened {
    parent: OwnedFd,
    parent_meta: Meta,
    dir: std::io::Result<OwnedFd>,
    name: CString,
}

fn open(profile: &Profile) -> Result<Opened, Error> {
    let (parent_path, name) = profile.split_dir();
    let parent = walk::open_directory(parent_path, Access::Read, Resolution::Openat2OrWalk)?;
    let parent_meta =
        sys::fstat(parent.as_fd()).map_err(|e| Error::io("examining the parent", e))?;
    let name = CString::new(name).map_err(|_| Error::bad("dir contains a NUL byte"))?;
    let dir = sys::openat(Base::Dir(parent.as_fd()), &name, NOFOLLOW_DIR);
    Ok(Opened {
        parent,
        parent_meta,
        dir,
        name,
    })
}

/// Sets owner and mode where they differ: write bits first off, then the owner, then the
/// mode, so that a descriptor opened before loses write at once.
fn set_posture(
    fd: BorrowedFd<'_>,
    m: &Meta,
    uid: u32,
    gid: u32,
    mode: u32,
) -> std::io::Result<bool> {
    if (m.uid, m.gid, m.mode) == (uid, gid, mode) {
        return Ok(false);
    }
    if m.mode & 0o222 != 0 && m.uid != uid {
        sys::shields::fchmod(fd, m.mode & !0o222)?;
        crate::killpoint::step();
    }
    if (m.uid, m.gid) != (uid, gid) {
        sys::shields::fchown(fd, uid, gid)?;
        crate::killpoint::step();
    }
    sys::shields::fchmod(fd, mode)?;
    crate::killpoint::step();
    Ok(true)
}

/// The parent to its locked posture (the top configuration's calls only).
fn lock_parent(parent: BorrowedFd<'_>, profile: &Profile, part: Part) -> Result<(), Error> {
    if part == Part::StateTrees {
        return Ok(());
    }
    let m = sys::fstat(parent).map_err(io_err("examining the parent"))?;
    let p = &profile.parent_locked;
    set_posture(parent, &m, p.uid, p.gid, p.mode)
        .map_err(posture_err("locking the parent", profile.split_dir().0))?;
    Ok(())
}

/// Hands an inode to someone: the owner first, then the mode (widening comes last).
fn hand_over(fd: BorrowedFd<'_>, m: &Meta, uid: u32, gid: u32, mode: u32) -> std::io::Result<bool> {
    if (m.uid, m.gid, m.mode) == (uid, gid, mode) {
        return Ok(false);
    }
    if (m.uid, m.gid) != (uid, gid) {
        sys::shields::fchown(fd, uid, gid)?;
        crate::killpoint::step();
    }
    sys::shields::fchmod(fd, mode)?;
    crate::killpoint::step();
    Ok(true)
}

fn io_err(what: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::io(what, e)
}

/// What changing an owner and a mode takes, said where the kernel refuses it.
const POSTURE_NEEDS: &str = "root, or CAP_CHOWN and CAP_FOWNER";

/// An owner or mode change refused on `path`: the error names the path, and on EPERM or
/// EACCES what the change takes.
fn posture_err<'a>(what: &'a str, path: &'a [u8]) -> impl Fn(std::io::Error) -> Error + 'a {
    move |e| {
        Error::io(what, e)
            .at_bytes(path)
            .needs_on_denied(POSTURE_NEEDS)
    }
}

/// The tree roots of `dir` that the profile names, with their class.
fn tree_roots(
    dir: BorrowedFd<'_>,
    profile: &Profile,
) -> Result<Vec<(CString, TreeClass, Meta)>, Error> {
    let mut out = Vec::new();
    let mut reader = sys::DirEntries::new(dir);
    reader.rewind().map_err(io_err("listing dir"))?;
    let mut names = Vec::new();
    while let Some(e) = reader.next_entry().map_err(io_err("listing dir"))? {
        names.push(e.name.to_owned());
    }
    for name in names {
        if let Some(class) = profile.tree_class(name.to_bytes()) {
            match sys::lstatat(dir, &name) {
                Ok(m) => out.push((name, class, m)),
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                Err(e) => return Err(Error::io("examining a state tree", e)),
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Shields up of `part`, in the default state directory; `reseal`: [`Reseal::Rewrite`].
pub fn up(profile: &Profile, part: Part, reseal: bool) -> Result<ShieldsReport, Error> {
    let reseal = if reseal {
        Reseal::Rewrite
    } else {
        Reseal::Check
    };
    up_with(
        profile,
        &Options {
            reseal,
            ..Options::new(part)
        },
    )
}

/// Shields up.
pub fn up_with(profile: &Profile, options: &Options) -> Result<ShieldsReport, Error> {
    let part = options.part;
    let reseal = options.reseal == Reseal::Rewrite;
    let _lock = pin::lock_in(&options.state_dir, &profile.dir, pin::LockMode::Exclusive)
        .map_err(io_err("taking the lock"))?;
    let mut report = ShieldsReport::new(Verb::Up, profile);
    let opened = open(profile)?;
    let parent = opened.parent.as_fd();
    // 1. The parent first, and writable by root alone until `dir` is root's (the sandbox
    // user owns `dir` until then, and a sticky directory lets an owner rename its entry):
    // `dir` cannot be moved or swapped once it is opened below.
    if part != Part::StateTrees {
        let p = &profile.parent_locked;
        set_posture(parent, &opened.parent_meta, p.uid, p.gid, p.mode & !0o022)
            .map_err(posture_err("locking the parent", profile.split_dir().0))?;
    }
    let parent_meta = sys::fstat(parent).map_err(io_err("examining the parent"))?;
    report.parent = Some(posture_of(
        &parent_meta,
        &profile.parent_locked,
        &profile.parent_mutable,
    ));
    let dir = match sys::openat(Base::Dir(parent), &opened.name, NOFOLLOW_DIR) {
        Ok(fd) => fd,
        Err(e) => {
            let r = top::refuse_dir(profile, parent, &opened.name, e, report);
            lock_parent(parent, profile, part)?;
            return r;
        }
    };
    let dir_fd = dir.as_fd();
    let before = sys::fstat(dir_fd).map_err(io_err("examining dir"))?;
    if before.dev != parent_meta.dev {
        report.issue(
            IssueCode::MountPoint,
            b"",
            "dir is on another filesystem than its parent: refused",
        );
        lock_parent(parent, profile, part)?;
        return Ok(top::finish_blocked(report, profile));
    }
    let was_mutable =
        posture_of(&before, &profile.dir_locked, &profile.dir_mutable).found == Found::Mutable;
    // Flags of an earlier shields up come off while the posture changes (root's by then);
    // the pins go back on at the end.
    let was_pinned = crate::pin::immutable::is_pinned(dir_fd)
        .map_err(io_err("reading dir's flags"))?
        == Some(true);
    if !top::unpin_all(dir_fd, profile, &mut report)? {
        // Pinned by an earlier shields up and the flags cannot come off: verify only.
        lock_parent(parent, profile, part)?;
        // The part asked for is what is judged (a top-configuration lock leaves the trees).
        let mut v = examine_part(profile, Verb::Up, part, None)?;
        v.issues.extend(report.issues);
        return Ok(v);
    }
    // 2. `dir` clamped root-only while the trees are locked.
    let clamp = if part == Part::StateTrees {
        0o500
    } else {
        0o700
    };
    set_posture(dir_fd, &before, 0, 0, clamp).map_err(posture_err("clamping dir", &profile.dir))?;
    // `dir` is root's: the parent may take its locked posture (sticky, group-writable).
    lock_parent(parent, profile, part)?;
    // The record as the call found it, read once for the trees and the files.
    let recorded = record::load(&profile.dir).map_err(io_err("reading the shields record"))?;
    // Over budget: fail closed, dir stays clamped.
    let walked = if part == Part::TopConfig {
        None
    } else {
        match top::lock_trees(dir_fd, profile, before.dev, &mut report, recorded.as_ref())? {
            Some(walked) => Some(walked),
            None => return Ok(top::finish_blocked(report, profile)),
        }
    };
    if part == Part::StateTrees {
        // Back to the posture it had (NemoClaw's state-dir guard restores the config lock's),
        // and the pins of the top configuration back on where they were.
        let now = sys::fstat(dir_fd).map_err(io_err("examining dir"))?;
        hand_over(dir_fd, &now, before.uid, before.gid, before.mode)
            .map_err(io_err("restoring dir"))?;
        if was_pinned {
            top::pin_all(dir_fd, profile, &mut report)?;
        }
        return Ok(top::finish_up(report, profile, part, walked.as_ref()));
    }
    // 3. The protected files, then the seal.
    top::lock_files(dir_fd, profile, &mut report, recorded.as_ref())?;
    top::seal(dir_fd, profile, &mut report, was_mutable || reseal, reseal)?;
    // 4. `dir` to its locked posture.
    let now = sys::fstat(dir_fd).map_err(io_err("examining dir"))?;
    let l = &profile.dir_locked;
    set_posture(dir_fd, &now, l.uid, l.gid, l.mode)
        .map_err(posture_err("locking dir", &profile.dir))?;
    let m = sys::fstat(dir_fd).map_err(io_err("examining dir"))?;
    report.directory = Some(posture_of(&m, &profile.dir_locked, &profile.dir_mutable));
    if report.blocking().is_some() {
        return Ok(top::finish_blocked(report, profile));
    }
    // 5. The pins.
    top::pin_all(dir_fd, profile, &mut report)?;
    Ok(top::finish_up(report, profile, part, walked.as_ref()))
}

/// Shields down of `part`, in the default state directory.
pub fn down(profile: &Profile, part: Part) -> Result<ShieldsReport, Error> {
    down_with(profile, &Options::new(part))
}

/// Shields down (`options.reseal` is not read).
pub fn down_with(profile: &Profile, options: &Options) -> Result<ShieldsReport, Error> {
    let part = options.part;
    let _lock = pin::lock_in(&options.state_dir, &profile.dir, pin::LockMode::Exclusive)
        .map_err(io_err("taking the lock"))?;
    let mut report = ShieldsReport::new(Verb::Down, profile);
    let opened = open(profile)?;
    let parent = opened.parent.as_fd();
    let dir = opened.dir.map_err(|e| match e.raw_os_error() {
        Some(libc::ENOENT) => Error::NotFound {
            path: escape_bytes(&profile.dir),
        },
        _ => Error::UnsafePath {
            path: escape_bytes(&profile.dir),
            why: format!("not a directory ({e}): nothing handed back"),
        },
    })?;
    let dir_fd = dir.as_fd();
    let before = sys::fstat(dir_fd).map_err(io_err("examining dir"))?;
    let was_pinned = crate::pin::immutable::is_pinned(dir_fd)
        .map_err(io_err("reading dir's flags"))?
        == Some(true);
    if !top::unpin_all(dir_fd, profile, &mut report)? {
        report.status = Status::NoCapability;
        report.state = State::Neither {
            reason: "the immutable flags cannot be cleared without CAP_LINUX_IMMUTABLE: nothing handed back".into(),
        };
        report.summary = top::summary(&report, profile);
        return Ok(report);
    }
    // Root-only while the trees are handed back.
    let clamp = if part == Part::StateTrees {
        0o500
    } else {
        0o700
    };
    if before.uid == 0 {
        set_posture(dir_fd, &before, 0, 0, clamp)
            .map_err(posture_err("clamping dir", &profile.dir))?;
    }
    let recorded = record::load(&profile.dir).map_err(io_err("reading the shields record"))?;
    let walked = if part == Part::TopConfig {
        None
    } else {
        Some(top::unlock_trees(
            dir_fd,
            profile,
            before.dev,
            &mut report,
            recorded.as_ref(),
        )?)
    };
    if part == Part::StateTrees {
        let now = sys::fstat(dir_fd).map_err(io_err("examining dir"))?;
        hand_over(dir_fd, &now, before.uid, before.gid, before.mode)
            .map_err(io_err("restoring dir"))?;
        if was_pinned {
            top::pin_all(dir_fd, profile, &mut report)?;
        }
    } else {
        top::unlock_files(dir_fd, profile, &mut report, recorded.as_ref())?;
        let now = sys::fstat(dir_fd).map_err(io_err("examining dir"))?;
        let mu = &profile.dir_mutable;
        hand_over(dir_fd, &now, mu.uid, mu.gid, mu.mode).map_err(io_err("handing dir back"))?;
        // The parent last.
        let pm = sys::fstat(parent).map_err(io_err("examining the parent"))?;
        let p = &profile.parent_mutable;
        hand_over(parent, &pm, p.uid, p.gid, p.mode).map_err(io_err("handing the parent back"))?;
        if !report
            .issues
            .iter()
            .any(|i| i.code == IssueCode::NotHandedBack)
            || part == Part::All
        {
            record::remove(&profile.dir).map_err(io_err("removing the shields record"))?;
        }
    }
    // What the call leaves, read back.
    let status = examine_part(profile, Verb::Down, part, walked.as_ref())?;
    report.parent = status.parent;
    report.directory = status.directory;
    report.files = status.files;
    report.trees = status.trees;
    report.state = status.state;
    report.status = match report.state {
        State::Down => Status::Ok,
        _ if part != Part::All => Status::Ok,
        _ => Status::Invalid,
    };
    report.summary = top::summary(&report, profile);
    Ok(report)
}

/// Takes the pins off (the immutable flags on `dir` and the protected files, nc-harden's
/// read-only mounts over them), the posture untouched: what NemoClaw's guard needs before
/// it runs an action it keeps (it refuses a locked tree whose files carry the flag). The
/// next shields up pins again. `Ok(false)` when a pin cannot come off (the issues say
/// which); a missing `dir` has no pins.
pub fn unpin(profile: &Profile) -> Result<(bool, Vec<Issue>), Error> {
    unpin_with(profile, &Options::default())
}

/// `unpin`, with the state directory of `options` (the other options are not read).
pub fn unpin_with(profile: &Profile, options: &Options) -> Result<(bool, Vec<Issue>), Error> {
    let _lock = pin::lock_in(&options.state_dir, &profile.dir, pin::LockMode::Exclusive)
        .map_err(io_err("taking the lock"))?;
    let mut report = ShieldsReport::new(Verb::Down, profile);
    let opened = open(profile)?;
    let Ok(dir) = opened.dir else {
        return Ok((true, Vec::new()));
    };
    let cleared = top::unpin_all(dir.as_fd(), profile, &mut report)?;
    Ok((cleared, report.issues))
}

/// Shields status (read-only), in the default state directory.
pub fn status(profile: &Profile) -> Result<ShieldsReport, Error> {
    status_with(profile, &Options::default())
}

/// Shields status (read-only; only `options.state_dir` is read).
pub fn status_with(profile: &Profile, options: &Options) -> Result<ShieldsReport, Error> {
    let _lock = pin::lock_in(&options.state_dir, &profile.dir, pin::LockMode::Shared)
        .map_err(io_err("taking the lock"))?;
    examine(profile, Verb::Status)
}

fn examine(profile: &Profile, verb: Verb) -> Result<ShieldsReport, Error> {
    examine_part(profile, verb, Part::All, None)
}

/// The examination, judging `part` alone (the top configuration ignores the trees); the
/// trees as `walked` says, where this call's lock or unlock walked them.
fn examine_part(
    profile: &Profile,
    verb: Verb,
    part: Part,
    walked: Option<&top::Walked>,
) -> Result<ShieldsReport, Error> {
    let mut report = ShieldsReport::new(verb, profile);
    let opened = open(profile)?;
    report.parent = Some(posture_of(
        &opened.parent_meta,
        &profile.parent_locked,
        &profile.parent_mutable,
    ));
    let dir = opened.dir.map_err(|e| match e.raw_os_error() {
        Some(libc::ENOENT) => Error::NotFound {
            path: escape_bytes(&profile.dir),
        },
        _ => Error::UnsafePath {
            path: escape_bytes(&profile.dir),
            why: format!("not a directory ({e})"),
        },
    })?;
    top::examine(dir.as_fd(), profile, &mut report, part, walked)?;
    report.summary = top::summary(&report, profile);
    Ok(report)
}

/// `verify --seal` of a flat directory whose shields are down: the built-in profile that
/// describes it (`.hermes` is Hermes', anything else OpenClaw's), if its seal is the one
/// asked for, says whether the directory is exactly in the mutable posture; if so, its
/// summary (verify then answers NC_NOT_FROZEN with the state "down", not NC_INVALID).
/// `None`: not down, or no profile describes it (verify answers as usual).
pub(crate) fn down_summary(dir: &[u8], seal: &[u8]) -> Option<String> {
    let accounts = crate::profile::Accounts::system().ok()?;
    let name = if dir.ends_with(b"/.hermes") {
        "hermes"
    } else {
        "openclaw"
    };
    let profile = Profile::load(name, &accounts).ok()?.with_dir(dir).ok()?;
    if profile.seal.as_ref()?.file.as_slice() != seal {
        return None;
    }
    let report = status(&profile).ok()?;
    (report.state == State::Down).then_some(report.summary)
}

/// The status of a shields report's state, for a caller that maps states itself.
pub fn status_of(state: &State) -> Status {
    match state {
        State::Up => Status::Ok,
        State::UpNotPinned => Status::NoCapability,
        State::Down => Status::NotFrozen,
        State::LockedNotVerified { .. } | State::Neither { .. } => Status::Invalid,
    }
}
