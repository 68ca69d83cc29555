//! The three operations of the contract, built from the walk, the policy, the pinning layers
//! and the report. The Rust API, the C ABI and the CLI all call these and nothing else.

#![forbid(unsafe_code)]

pub(crate) mod renew;
mod scan;
mod sealing;
mod undo;

use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{Context, Error};
use crate::escape::escape_bytes;
use crate::inode::FileKind;
use crate::killpoint;
use crate::pin::mount::MountState;
use crate::pin::{self, immutable, mount, MountApi, Outcome};
use crate::report::{
    Action, Entry, Layer, LayerAttempt, Layers, Operation, Report, DIRECTORY_ENTRY,
};
use crate::rules::{self, Reason};
use crate::status::Status;
use crate::sys::{self, DirEntries};
use crate::walk::{self, Access, Resolution};
use scan::{Mode, Scan};
use undo::Undo;

/// How many passes `judge_settled` makes before it gives up on a directory that keeps
/// changing under a fresh read-only mount.
const SETTLE_PASSES: usize = 4;

/// Which pinning layers a freeze applies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u32)]
pub enum Strategy {
    /// The immutable flags; the read-only mount where they are refused or unsupported.
    #[default]
    Auto = 0,
    Immutable = 1,
    Mount = 2,
    Both = 3,
}

impl Strategy {
    /// Every strategy, in the order of their numbers: what the CLI offers and the C ABI takes.
    pub const fn all() -> [Strategy; 4] {
        [
            Strategy::Auto,
            Strategy::Immutable,
            Strategy::Mount,
            Strategy::Both,
        ]
    }

    pub fn from_code(code: u32) -> Option<Strategy> {
        Strategy::all().into_iter().find(|s| *s as u32 == code)
    }

    /// The strategy of a CLI name (`"auto"`, ...).
    pub fn from_name(name: &str) -> Option<Strategy> {
        Strategy::all().into_iter().find(|s| s.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Strategy::Auto => "auto",
            Strategy::Immutable => "immutable",
            Strategy::Mount => "mount",
            Strategy::Both => "both",
        }
    }
}

/// A checked request: which directory, against which data directory, under which rules.
/// Built by [`PolicyBuilder::build`], which refuses every bad argument before any syscall.
#[derive(Clone, Debug)]
pub struct Policy {
    dir: Vec<u8>,
    /// `None`: a flat layout, regular files only.
    data_dir: Option<Vec<u8>>,
    owner: u32,
    required: Vec<Vec<u8>>,
    strategy: Strategy,
    resolution: Resolution,
    mount_api: MountApi,
    pin_data_dir: bool,
    allow_missing: bool,
    seal: Option<Vec<u8>>,
    reseal: bool,
    lock_posture: bool,
    hand_to: HandTo,
}

/// What `unfreeze` hands back (NemoClaw's mutable posture is sandbox:sandbox, 2770, 0660):
/// `None` leaves that attribute as it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HandTo {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub dir_mode: Option<u32>,
    pub file_mode: Option<u32>,
}

impl HandTo {
    fn any(self) -> bool {
        self.uid.is_some()
            || self.gid.is_some()
            || self.dir_mode.is_some()
            || self.file_mode.is_some()
    }
}

/// Builder for [`Policy`].
#[derive(Clone, Debug)]
pub struct PolicyBuilder {
    policy: Policy,
}

impl Policy {
    /// Starts a policy for `dir`, whose symlinks must point into `data_dir`. Defaults: owner
    /// uid 0, no required names, strategy AUTO.
    pub fn builder(dir: impl AsRef<Path>, data_dir: impl AsRef<Path>) -> PolicyBuilder {
        Self::start(dir.as_ref(), Some(data_dir.as_ref()))
    }

    /// Starts a policy for a flat `dir`: no data directory, regular files only (any symlink
    /// is rejected), as NemoClaw's configuration directory is since it dropped the links.
    pub fn flat(dir: impl AsRef<Path>) -> PolicyBuilder {
        Self::start(dir.as_ref(), None)
    }

    fn start(dir: &Path, data_dir: Option<&Path>) -> PolicyBuilder {
        PolicyBuilder {
            policy: Policy {
                dir: dir.as_os_str().as_bytes().to_vec(),
                data_dir: data_dir.map(|d| d.as_os_str().as_bytes().to_vec()),
                owner: 0,
                required: Vec::new(),
                strategy: Strategy::Auto,
                resolution: Resolution::Openat2OrWalk,
                mount_api: MountApi::NewOrLegacy,
                pin_data_dir: false,
                allow_missing: false,
                seal: None,
                reseal: false,
                lock_posture: false,
                hand_to: HandTo::default(),
            },
        }
    }

    pub fn dir(&self) -> &[u8] {
        &self.dir
    }

    /// `None` for a flat layout.
    pub fn data_dir(&self) -> Option<&[u8]> {
        self.data_dir.as_deref()
    }

    /// Pins first, validates what is pinned, reads every flag back. On a failed validation
    /// every flag and mount this call added is taken back and the report says NC_INVALID.
    /// Calls on the same path serialize; one that was killed half-way is converged on.
    pub fn validate_and_freeze(&self) -> Result<Report, Error> {
        #[cfg(feature = "__panic-test")]
        if self.dir.ends_with(b"/nc-harden-panic-test") {
            panic!("forced by the panic-test feature");
        }
        let _lock = self.lock(true)?;
        let dir = self.resolve_dir()?;
        let data = self.resolve_data_dir(&dir)?;
        self.freeze(&dir, &data)
    }

    /// Whether a lock of the posture or a reseal has something to change in `shown` (the
    /// directory the path shows): a reseal where the seal already holds for the bytes shown
    /// changes nothing, so a second "shields up" is a no-op, never a rewrite.
    fn transition_needed(&self, shown: BorrowedFd<'_>) -> Result<bool, Error> {
        let locked = || sealing::is_locked(shown, self.owner).context("examining the posture");
        if self.lock_posture && !locked()? {
            return Ok(true);
        }
        match (&self.seal, self.reseal) {
            (Some(seal), true) => Ok(!sealing::holds(shown, &self.dir, seal)?),
            _ => Ok(false),
        }
    }

    /// Shields up's posture step: the locked posture (directory the owner's, 0755; files the
    /// owner's, 0444, on fresh inodes) and a fresh seal.
    ///
    /// Judged first, as the posture will be. A refusal that the caller's privileges decide (a
    /// flag in the way without CAP_LINUX_IMMUTABLE to clear it) changes nothing. A refusal
    /// that the directory's contents decide fails closed: the posture is locked all the same
    /// (a planted entry must not veto shields up), nothing is sealed or pinned, and the report
    /// says `locked, not verified`. A file that the locked posture would make readable by
    /// someone who could not read it is refused and left as it is; a file that cannot be
    /// renewed loses its write bits in place. Pins taken off on the way are put back whenever
    /// the call does not finish.
    fn transition(
        &self,
        dir: &OwnedFd,
        data: &Option<DataDir>,
        undo: &mut Undo,
    ) -> Result<Transition, Error> {
        if !self.transition_needed(dir.as_fd())? {
            return Ok(Transition::Unneeded);
        }
        let before = sys::fstat(dir.as_fd()).context("examining the directory")?;
        let mut scan = Scan::new(dir.as_fd(), scan_data(data), self.owner, Mode::Check);
        scan.allow_missing = self.allow_missing;
        scan.posture_to_come = self.lock_posture;
        let mut entries = self.judge_all(&mut scan, Action::Checked, 0)?;
        drop(scan);
        let regular = |e: &Entry| e.kind == FileKind::Regular && e.name != DIRECTORY_ENTRY;
        if self.lock_posture {
            for entry in entries
                .iter_mut()
                .filter(|e| regular(e) && !e.is_rejected())
            {
                let name = CString::new(entry.name.clone()).expect("entry names hold no NUL");
                let meta = sys::lstatat(dir.as_fd(), &name).map_err(|e| {
                    Error::io(format!("examining \"{}\"", escape_bytes(&entry.name)), e)
                })?;
                if rules::would_widen_access(&meta, &before) {
                    entry.action = Action::Rejected;
                    entry.reason = Reason::WouldWidenAccess;
                }
            }
        }
        let refused = entries.iter().any(Entry::is_rejected);
        if refused && !self.lock_posture {
            // A reseal alone changes nothing on a refusal: there is no posture to fail closed to.
            return Ok(Transition::Refused(Box::new(self.report(
                Operation::Freeze,
                Status::Invalid,
                Layers::default(),
                Vec::new(),
                entries,
                data,
            ))));
        }
        // Flags in the way (a directory pinned before, or set by hand): cleared where this
        // call may set them again, else nothing changes and the report says why.
        let mut flagged = Vec::new();
        if immutable::is_pinned(dir.as_fd()).ok().flatten() == Some(true) {
            flagged.push(None);
        }
        for entry in entries.iter().filter(|e| regular(e)) {
            let name = CString::new(entry.name.clone()).expect("entry names hold no NUL");
            let Ok(meta) = sys::lstatat(dir.as_fd(), &name) else {
                continue;
            };
            let Ok(file) = scan::open_regular(dir.as_fd(), &name, &meta) else {
                continue;
            };
            if immutable::is_pinned(file.as_fd()).ok().flatten() == Some(true) {
                flagged.push(Some((name, file)));
            }
        }
        if !flagged.is_empty() {
            if !sys::has_effective_capability(sys::CAP_LINUX_IMMUTABLE) {
                let mut report = self.report(
                    Operation::Freeze,
                    Status::NoCapability,
                    Layers::default(),
                    Vec::new(),
                    entries,
                    data,
                );
                report.set_note(
                    "posture and seal unchanged: a file or the directory carries the immutable flag and CAP_LINUX_IMMUTABLE is missing to clear it",
                );
                report.set_posture(sealing::is_locked(dir.as_fd(), self.owner).ok());
                return Ok(Transition::Refused(Box::new(report)));
            }
            for (name, file) in flagged.iter().flatten() {
                immutable::unpin_inode(file.as_fd()).map_err(|e| {
                    Error::io(
                        format!("unpinning \"{}\"", escape_bytes(name.to_bytes())),
                        e,
                    )
                })?;
                undo.file_cleared(name);
            }
            if flagged.iter().any(Option::is_none) {
                immutable::unpin_inode(dir.as_fd()).context("unpinning the directory")?;
                undo.directory_cleared();
            }
            killpoint::step();
        }
        let _ = renew::remove_leftovers(dir.as_fd());
        let locked = renew::Posture {
            uid: self.owner,
            gid: self.owner,
            mode: sealing::LOCKED_FILE_MODE,
        };
        let mut renewed = Vec::new();
        let mut recorded = None;
        if self.lock_posture {
            let previous = pin::locked::load(&self.dir).ok().flatten();
            // With no record of nc-harden's, a directory already in the locked posture was
            // locked by another tool (NemoClaw's guards): what it locked is what is found so.
            let inherited = previous.is_none()
                && before.uid == self.owner
                && before.mode == sealing::LOCKED_DIR_MODE;
            let start = self.locked_files(dir.as_fd())?;
            sys::files::set_owner_mode(
                dir.as_fd(),
                self.owner,
                self.owner,
                sealing::LOCKED_DIR_MODE,
            )
            .context("locking the directory's posture")?;
            killpoint::step();
            let skip = |name: &std::ffi::CStr| {
                entries
                    .iter()
                    .any(|e| e.name == name.to_bytes() && e.is_rejected())
            };
            renewed = renew::renew_all(
                dir.as_fd(),
                self.owner,
                Some(locked),
                renew::Which::Every,
                &skip,
            )
            .context("locking the files' posture")?;
            // What could not be renewed (it kept changing, or is refused) loses its write bits
            // in place: the sandbox user keeps no write access to a name of the directory.
            self.strip_write_in_place(dir.as_fd())?;
            killpoint::step();
            recorded =
                Some(self.record_locked(dir.as_fd(), &start, previous.as_ref(), inherited)?);
        }
        if refused {
            let restored = restore_pins(undo, dir.as_fd())?;
            let mut report = self.report(
                Operation::Freeze,
                Status::Invalid,
                Layers::default(),
                Vec::new(),
                entries,
                data,
            );
            report.set_posture(sealing::is_locked(dir.as_fd(), self.owner).ok());
            report.set_fail_closed(restored);
            return Ok(Transition::Refused(Box::new(report)));
        }
        if let (true, Some(seal)) = (self.reseal, &self.seal) {
            let attrs = self
                .lock_posture
                .then_some((locked.uid, locked.gid, locked.mode));
            let fallback = (locked.uid, locked.gid, locked.mode);
            // The seal's fresh inode joins the record before it takes the name, so that a
            // kill between the two never leaves a locked seal that shields down would not
            // hand back.
            let mut on_fresh = |fd: BorrowedFd<'_>| -> std::io::Result<()> {
                let Some(set) = recorded.as_mut() else {
                    return Ok(());
                };
                let meta = sys::fstat(fd)?;
                set.files.push(pin::locked::Identity::of(fd, &meta)?);
                pin::locked::store(&self.dir, set)
            };
            let written =
                sealing::write(dir.as_fd(), &self.dir, seal, attrs, fallback, &mut on_fresh)?;
            if let Err(reason) = written {
                match entries.iter_mut().find(|e| e.name == *seal) {
                    Some(e) => {
                        e.action = Action::Rejected;
                        e.reason = reason;
                    }
                    None => entries.push(Entry::rejected(seal, FileKind::Unknown, reason, 0)),
                }
                let restored = restore_pins(undo, dir.as_fd())?;
                let mut report = self.report(
                    Operation::Freeze,
                    Status::Invalid,
                    Layers::default(),
                    Vec::new(),
                    entries,
                    data,
                );
                if self.lock_posture {
                    report.set_posture(sealing::is_locked(dir.as_fd(), self.owner).ok());
                    report.set_fail_closed(restored);
                }
                return Ok(Transition::Refused(Box::new(report)));
            }
        }
        Ok(Transition::Done(renewed))
    }

    /// Records what shields up locked in `dir` (see `pin::locked`): the directory, and each
    /// regular file now in exactly the locked posture that this call brought there, or that
    /// was found so at `start` and locked before (by nc-harden's `previous` record, or, with
    /// `inherited`, by another tool). A file found locked that no one recorded (moved in
    /// while the shields were down) is not recorded: shields down leaves it as it is.
    fn record_locked(
        &self,
        dir: BorrowedFd<'_>,
        start: &[(Vec<u8>, pin::locked::Identity)],
        previous: Option<&pin::locked::LockedSet>,
        inherited: bool,
    ) -> Result<pin::locked::LockedSet, Error> {
        let examined = sys::fstat(dir).context("examining the directory")?;
        let mut set = pin::locked::LockedSet {
            directory: Some(
                pin::locked::Identity::of(dir, &examined).context("examining the directory")?,
            ),
            files: Vec::new(),
        };
        for (name, id) in self.locked_files(dir)? {
            let ours = match start.iter().find(|(n, _)| *n == name) {
                None => true,
                Some((_, old)) => inherited || previous.is_some_and(|p| p.holds_file(old)),
            };
            if ours {
                set.files.push(id);
            }
        }
        pin::locked::store(&self.dir, &set)
            .context("recording what shields up locked (in nc-harden's state directory)")?;
        Ok(set)
    }

    /// The regular files of `dir` in exactly the locked posture (the owner's, 0444, one link,
    /// on the directory's device), with their identities.
    fn locked_files(
        &self,
        dir: BorrowedFd<'_>,
    ) -> Result<Vec<(Vec<u8>, pin::locked::Identity)>, Error> {
        let dev = sys::fstat(dir).context("examining the directory")?.dev;
        let mut found = Vec::new();
        for_each_entry(dir, |name, d_type| {
            if !matches!(d_type, FileKind::Regular | FileKind::Unknown) {
                return Ok(());
            }
            let Ok(meta) = sys::lstatat(dir, name) else {
                return Ok(());
            };
            if !sealing::in_locked_posture(&meta, self.owner, dev) {
                return Ok(());
            }
            let Ok(fd) = scan::open_regular(dir, name, &meta) else {
                return Ok(());
            };
            let id = pin::locked::Identity::of(fd.as_fd(), &meta).map_err(|e| {
                Error::io(
                    format!("examining \"{}\"", escape_bytes(name.to_bytes())),
                    e,
                )
            })?;
            found.push((name.to_bytes().to_vec(), id));
            Ok(())
        })?;
        Ok(found)
    }

    /// Takes every write bit off the regular files of `dir` that still have one after the
    /// posture was locked (a file refused, or one that kept changing while it was copied),
    /// and gives them to the owner: never a widening (read bits are kept as they are), and
    /// the sandbox user keeps no write access. A root-owned file is left alone when it is
    /// hard-linked (its other names are not this directory's to change); one the sandbox
    /// user owns is not, whatever its links: a link it planted must not keep its write
    /// access.
    fn strip_write_in_place(&self, dir: BorrowedFd<'_>) -> Result<(), Error> {
        let mut names = Vec::new();
        for_each_entry(dir, |name, d_type| {
            if matches!(d_type, FileKind::Regular | FileKind::Unknown) {
                names.push(name.to_owned());
            }
            Ok(())
        })?;
        for name in names {
            let Ok(meta) = sys::lstatat(dir, &name) else {
                continue;
            };
            if meta.kind != FileKind::Regular
                || (meta.nlink != 1 && meta.uid == 0)
                || meta.mount.is_some_and(|m| m.is_root)
                || (meta.uid == self.owner && meta.mode & 0o222 == 0)
            {
                continue;
            }
            if meta.uid == 0 && meta.mode & 0o022 == 0 {
                continue;
            }
            let Ok(fd) = scan::open_regular(dir, &name, &meta) else {
                continue;
            };
            sys::files::change_owner_mode(fd.as_fd(), None, None, Some(meta.mode & !0o7222))
                .and_then(|()| {
                    sys::files::change_owner_mode(
                        fd.as_fd(),
                        Some(self.owner),
                        Some(self.owner),
                        None,
                    )
                })
                .map_err(|e| {
                    Error::io(
                        format!("locking \"{}\" in place", escape_bytes(name.to_bytes())),
                        e,
                    )
                })?;
        }
        Ok(())
    }

    /// The freeze itself: renew, pin the directory, judge (and copy, for the mount layer)
    /// every entry, attach the fresh directory, check from outside.
    ///
    /// The one rollback path: whatever error stops the freeze, what it added is taken back
    /// here, and a panic takes it back too (`Pending` rolls back when dropped unfinished);
    /// an invalid layout is an answer, not an error: `pin_and_judge` takes it back itself
    /// and reports what is left.
    fn freeze(&self, dir: &OwnedFd, data: &Option<DataDir>) -> Result<Report, Error> {
        let mut pending = undo::Pending::new(dir.as_fd(), &self.dir);
        match self.pin_and_judge(dir, data, pending.undo()) {
            Ok(report) => {
                pending.finish();
                Ok(report)
            }
            Err(e) => {
                // Nothing half-changed; a rollback that fails says why instead.
                pending.roll_back()?;
                Err(e)
            }
        }
    }

    fn pin_and_judge(
        &self,
        dir: &OwnedFd,
        data: &Option<DataDir>,
        undo: &mut Undo,
    ) -> Result<Report, Error> {
        let ours = match mount::state(&self.dir, dir.as_fd(), mount::legacy_binds(self.mount_api))?
        {
            MountState::Covered => return Err(mount::covered(&self.dir)),
            MountState::Ours { read_only, .. } => {
                // Remounted read-write by someone with CAP_SYS_ADMIN: read-only again.
                if !read_only {
                    mount::make_read_only(dir.as_fd())?;
                }
                true
            }
            MountState::Absent => false,
        };
        // Over nc-harden's own mount, what lies beneath may have been changed since through a
        // descriptor held from before: a transition made there would seal and pin those
        // bytes. Only shields down (unfreeze) and up again may change the posture.
        if ours && (self.lock_posture || self.reseal) && self.transition_needed(dir.as_fd())? {
            return Err(Error::UnsafePath {
                path: escape_bytes(&self.dir),
                why: "pinned by nc-harden's read-only mount in another posture or seal; what lies \
                      beneath is not to be trusted: unfreeze (shields down) first; nothing changed"
                    .into(),
            });
        }
        let mut renewed = Vec::new();
        if self.lock_posture || self.reseal {
            match self.transition(dir, data, undo)? {
                Transition::Unneeded => {}
                Transition::Done(names) => renewed = names,
                Transition::Refused(refused) => return Ok(*refused),
            }
        }
        let wants_flags = self.strategy != Strategy::Mount;
        let legacy = self.mount_api == MountApi::Legacy;
        let may_flag = wants_flags && sys::has_effective_capability(sys::CAP_LINUX_IMMUTABLE);
        // Fresh inodes, in place, where the flags (or the legacy bind) will pin the files
        // themselves; the fresh directory of the mount layer makes its own.
        let in_place = !ours && immutable::is_pinned(dir.as_fd()).ok().flatten() != Some(true);
        if in_place && renewed.is_empty() {
            let legacy_mount = legacy && self.strategy != Strategy::Immutable;
            // A killed renewal's temporary files go first; a directory we may not write has
            // none of ours.
            let _ = renew::remove_leftovers(dir.as_fd());
            if may_flag || legacy_mount {
                // Only what a writer may hold goes onto a fresh inode (a read lease refused,
                // or one that cannot be had: "cannot tell" renews); the pass that pins each
                // file asks the lease again, so a writer that opened it meanwhile is refused.
                // What shields up recorded follows its files onto their fresh inodes.
                let record = pin::locked::load(&self.dir).ok().flatten();
                let start = match &record {
                    Some(_) => self.locked_files(dir.as_fd())?,
                    None => Vec::new(),
                };
                match renew::renew_all(dir.as_fd(), self.owner, None, renew::Which::Held, &|_| {
                    false
                }) {
                    Ok(names) => renewed = names,
                    Err(e) if refused(&e) => {}
                    Err(e) => return Err(Error::io("renewing the regular files", e)),
                }
                if let (Some(record), false) = (&record, renewed.is_empty()) {
                    self.record_locked(dir.as_fd(), &start, Some(record), false)?;
                }
            }
        }
        let mut attempts = Vec::new();
        let mut layers = Layers::default();
        if wants_flags {
            let outcome = immutable::pin_inode(dir.as_fd()).context("pinning the directory")?;
            if outcome.action == Action::Frozen {
                undo.directory_flagged();
            }
            killpoint::step();
            attempts.push(attempt(Layer::Immutable, outcome));
            layers.immutable = outcome.action.is_pinned();
        }
        let wants_mount = match self.strategy {
            Strategy::Auto => !layers.immutable,
            Strategy::Immutable => false,
            Strategy::Mount | Strategy::Both => true,
        };
        let reopen = || self.open_dir(Access::Read);
        let mut fresh = None;
        let mut bound = false;
        if wants_mount && ours {
            attempts.push(attempt(Layer::Mount, Outcome::new(Action::AlreadyFrozen)));
            layers.mount = true;
        } else if wants_mount {
            let made = if legacy {
                Err(std::io::Error::from_raw_os_error(libc::ENOSYS))
            } else {
                mount::Fresh::new(dir.as_fd())
            };
            match made {
                Ok(made) => fresh = Some(made),
                Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                    let pinned = mount::pin_legacy(&self.dir, dir.as_fd(), &reopen);
                    let pinned = pinned?;
                    attempts.push(attempt(Layer::Mount, pinned.outcome));
                    undo.mounted(pinned.mount);
                    layers.mount = pinned.outcome.action.is_pinned();
                    bound = layers.mount;
                }
                Err(e) => {
                    let outcome = pin::refusal(e).context("making a fresh directory")?;
                    attempts.push(attempt(Layer::Mount, outcome));
                }
            }
        }
        self.pin_data_dir(data, wants_flags, undo, &mut attempts, &mut layers)?;
        // The sandbox user owns data_dir's parent and may have swapped data_dir meanwhile:
        // the path must still lead to the directory whose names were pinned.
        if let Some(data) = data.as_ref().filter(|_| layers.data_dir) {
            if !self.still_at(&data.path, data.fd.as_fd())? {
                return Err(Error::UnsafePath {
                    path: escape_bytes(&data.path),
                    why: "data_dir was moved or replaced during the call; nothing left changed"
                        .into(),
                });
            }
        }
        let mode = if layers.immutable {
            Mode::Freeze { flags: true }
        } else if layers.mount || fresh.is_some() {
            Mode::Freeze { flags: false }
        } else {
            Mode::Check
        };
        let mut scan = Scan::new(dir.as_fd(), scan_data(data), self.owner, mode);
        scan.allow_missing = self.allow_missing;
        scan.undo = Some(&mut *undo);
        let renewed_in_place = renew::names(&renewed);
        scan.renewed = renewed_in_place.clone();
        scan.fresh = fresh.as_ref().map(mount::Fresh::root);
        scan.check_writers = layers.immutable || bound;
        let judged = if bound && !layers.immutable {
            self.judge_settled(&mut scan)
        } else {
            self.judge_all(&mut scan, Action::Checked, 0)
        };
        renewed.append(&mut scan.uncarried);
        let uncarried = renew::uncarried_note(&renewed);
        drop(scan);
        let mut entries = judged?;
        let valid = !entries.iter().any(Entry::is_rejected);
        // The fresh directory, filled with what was judged, goes over `dir` (read-only; with
        // BOTH its entries carry the flag too).
        let mut shown = None;
        if let (Some(fresh), true) = (fresh, valid) {
            if self.strategy == Strategy::Both && layers.immutable {
                pin_copies(fresh.root())?;
            }
            let root = fresh
                .root()
                .try_clone_to_owned()
                .context("keeping the fresh directory")?;
            let pinned = mount::attach_fresh(&self.dir, dir.as_fd(), fresh, &reopen)?;
            attempts.push(attempt(Layer::Mount, pinned.outcome));
            layers.mount = pinned.outcome.action.is_pinned();
            if pinned.mount.is_some() {
                shown = Some(root);
            } else if pinned.outcome.action == Action::AlreadyFrozen {
                // Another freeze's fresh directory stood there first: it is what is shown.
                shown = Some(self.open_dir(Access::Read)?);
            }
            undo.mounted(pinned.mount);
            // The path shows the copies now: a symlink there is held by the fresh directory
            // (tmpfs keeps no flag on a symlink), whatever flag its original carries beneath.
            if layers.mount {
                for entry in &mut entries {
                    if entry.kind == FileKind::Symlink && entry.action == Action::Frozen {
                        entry.action = Action::PinnedByDirectory;
                    }
                }
            }
        }
        // The seal, on the pinned bytes the path shows (on the bytes as they are where nothing
        // could be pinned: the result is reported all the same).
        let shown_fd = shown.as_ref().map_or(dir.as_fd(), |r| r.as_fd());
        let mut sealed = None;
        if let (Some(seal), true) = (&self.seal, valid) {
            sealed = Some(sealing::check(shown_fd, &self.dir, seal, &mut entries)?);
        }
        let valid = !entries.iter().any(Entry::is_rejected);
        let posture = self.shields_posture(shown_fd);
        let finish = |mut report: Report| {
            if let (Some(seal), Some(result)) = (&self.seal, sealed) {
                report.set_seal(seal, result);
            }
            report.set_posture(posture);
            if let Some(note) = &uncarried {
                report.set_note(note);
            }
            report
        };
        let directory = directory_outcome(&attempts);
        if let Some(record) = entries.first_mut().filter(|e| !e.is_rejected()) {
            record.action = directory.action;
            record.errno = directory.errno;
        }
        if !valid {
            let added = undo.added();
            let restored = undo.cleared_any();
            undo.rollback(dir.as_fd(), &self.dir)?;
            let left = Layers {
                immutable: layers.immutable && !added.immutable,
                mount: layers.mount && !added.mount,
                data_dir: layers.data_dir && !added.data_dir,
            };
            for entry in &mut entries {
                let taken_back = entry.action == Action::Frozen
                    || (!left.any() && entry.action == Action::PinnedByDirectory);
                if taken_back {
                    entry.action = Action::Checked;
                }
                // The fresh directory's copies are gone with it; files renewed in place stay so.
                entry.renewed = renewed_in_place
                    .iter()
                    .any(|n| n.to_bytes() == entry.name.as_slice());
            }
            let mut report = finish(self.report(
                Operation::Freeze,
                Status::Invalid,
                left,
                attempts,
                entries,
                data,
            ));
            if self.lock_posture {
                report.set_fail_closed(if restored {
                    "the pins found before the call were put back"
                } else {
                    ""
                });
            }
            return Ok(report);
        }
        // From outside: the path must still lead to the directory pinned (the fresh one where
        // it was mounted). Once pinned it cannot be renamed (immutable, or a mount point), so
        // a swap can only have happened before.
        let pinned_dir = shown.as_ref().map_or(dir.as_fd(), |r| r.as_fd());
        if !self.still_at_path(pinned_dir)? {
            return Err(self.moved());
        }
        killpoint::step();
        let status = if !layers.any() {
            if attempts.iter().any(|a| a.action == Action::Denied) {
                Status::NoCapability
            } else {
                Status::Unsupported
            }
        } else if (self.strategy == Strategy::Both && !(layers.immutable && layers.mount))
            || (self.pin_data_dir && !layers.data_dir)
        {
            Status::Partial
        } else {
            pinned_status(&entries)
        };
        Ok(finish(self.report(
            Operation::Freeze,
            status,
            layers,
            attempts,
            entries,
            data,
        )))
    }

    /// The posture of the directory the path shows, where the call is about shields (a lock
    /// of the posture, or a seal): `None` otherwise, to spare a stat per entry.
    fn shields_posture(&self, shown: BorrowedFd<'_>) -> Option<bool> {
        if self.lock_posture || self.seal.is_some() || self.hand_to.any() {
            sealing::is_locked(shown, self.owner).ok()
        } else {
            None
        }
    }

    /// `pin_data_dir`: FS_IMMUTABLE_FL on `data_dir`'s own inode. The flag layer only: a
    /// read-only mount of `data_dir` would stop the sandbox user's own writes, which the
    /// contract leaves to it.
    fn pin_data_dir(
        &self,
        data: &Option<DataDir>,
        wants_flags: bool,
        undo: &mut Undo,
        attempts: &mut Vec<LayerAttempt>,
        layers: &mut Layers,
    ) -> Result<(), Error> {
        let Some(data) = data.as_ref().filter(|_| self.pin_data_dir) else {
            return Ok(());
        };
        let outcome = if wants_flags {
            immutable::pin_inode(data.fd.as_fd()).context("pinning data_dir")?
        } else {
            Outcome {
                action: Action::Unsupported,
                errno: libc::EOPNOTSUPP,
            }
        };
        attempts.push(attempt(Layer::DataDir, outcome));
        if outcome.action == Action::Frozen {
            undo.data_dir_flagged(data.fd.try_clone().context("keeping data_dir")?);
        }
        layers.data_dir = outcome.action.is_pinned();
        Ok(())
    }

    /// The report of a call that judged the entries, with what it found of `data_dir`.
    fn report(
        &self,
        operation: Operation,
        status: Status,
        layers: Layers,
        attempts: Vec<LayerAttempt>,
        entries: Vec<Entry>,
        data: &Option<DataDir>,
    ) -> Report {
        let mut report = Report::new(operation, &self.dir, status, layers, attempts, entries);
        report.set_data_dir_replaceable(data.as_ref().and_then(|d| d.replaceable.clone()));
        report
    }

    /// The lock that serializes the calls on this path (see `record::lock`).
    fn lock(&self, exclusive: bool) -> Result<Option<pin::StateLock>, Error> {
        pin::lock(&self.dir, exclusive).map_err(|e| {
            // The error says what stood in the way: who holds the lock past the wait, or what
            // is wrong with the state directory.
            Error::io("taking nc-harden's lock of this path", e)
        })
    }

    /// Read-only: NC_OK when valid and pinned (by either layer), NC_NOT_FROZEN when valid
    /// and not pinned.
    pub fn verify(&self) -> Result<Report, Error> {
        // A freeze or unfreeze under way finishes first: verify never sees one half-done.
        let _lock = self.lock(false)?;
        let dir = self.resolve_dir()?;
        let data = self.resolve_data_dir(&dir)?;
        let flag = immutable::is_pinned(dir.as_fd()).context("reading the directory's flags")?;
        let mounted =
            match mount::state(&self.dir, dir.as_fd(), mount::legacy_binds(self.mount_api))? {
                // A mount of ours remounted read-write holds nothing.
                MountState::Ours { read_only, .. } => read_only,
                MountState::Absent => false,
                MountState::Covered => return Err(mount::covered(&self.dir)),
            };
        let data_flag = match data.as_ref().filter(|_| self.pin_data_dir) {
            Some(data) => {
                immutable::is_pinned(data.fd.as_fd()).context("reading data_dir's flags")?
            }
            None => None,
        };
        let layers = Layers {
            immutable: flag == Some(true),
            mount: mounted,
            data_dir: data_flag == Some(true),
        };
        let held = |flag: Option<bool>| match flag {
            Some(true) => Action::AlreadyFrozen,
            Some(false) => Action::Checked,
            None => Action::Unsupported,
        };
        let mut attempts = vec![
            LayerAttempt {
                layer: Layer::Immutable,
                action: held(flag),
                errno: 0,
            },
            LayerAttempt {
                layer: Layer::Mount,
                action: held(Some(mounted)),
                errno: 0,
            },
        ];
        if self.pin_data_dir {
            attempts.push(LayerAttempt {
                layer: Layer::DataDir,
                action: held(data_flag),
                errno: 0,
            });
        }
        let dir_action = if layers.any() {
            Action::AlreadyFrozen
        } else {
            attempts[0].action
        };
        let mode = Mode::Verify {
            dir_pinned: layers.immutable || layers.mount,
            mounted,
        };
        let mut scan = Scan::new(dir.as_fd(), scan_data(&data), self.owner, mode);
        scan.allow_missing = self.allow_missing;
        let mut entries = self.judge_all(&mut scan, dir_action, 0)?;
        drop(scan);
        // The seal, read-only, on the bytes the path shows: "are the shields up?" in one call.
        let mut sealed = None;
        if let Some(seal) = &self.seal {
            if !entries.iter().any(Entry::is_rejected) {
                sealed = Some(sealing::check(dir.as_fd(), &self.dir, seal, &mut entries)?);
            }
        }
        let status = if entries.iter().any(Entry::is_rejected) {
            Status::Invalid
        } else if !(layers.immutable || layers.mount) {
            Status::NotFrozen
        } else if self.pin_data_dir && !layers.data_dir {
            Status::Partial
        } else {
            pinned_status(&entries)
        };
        let mut report = self.report(Operation::Verify, status, layers, attempts, entries, &data);
        if let (Some(seal), Some(result)) = (&self.seal, sealed) {
            report.set_seal(seal, result);
        }
        report.set_posture(self.shields_posture(dir.as_fd()));
        Ok(report)
    }

    /// Removes what a freeze added: nc-harden's read-only mount (never another mount), the
    /// flags of the regular files and symlinks, then the directory's (and `data_dir`'s with
    /// `pin_data_dir`). Needs no valid layout; NC_OK where nothing was frozen, so it is safe
    /// to call twice. An entry with something mounted over it is left alone.
    pub fn unfreeze(&self) -> Result<Report, Error> {
        let _lock = self.lock(true)?;
        let resolved = self.resolve_dir()?;
        self.thaw(resolved)
    }

    fn thaw(&self, resolved: OwnedFd) -> Result<Report, Error> {
        let reopen = || self.open_dir(Access::Read);
        let unmounted = mount::unpin(&self.dir, &reopen, mount::legacy_binds(self.mount_api))?;
        killpoint::step();
        // The flags are changed, and the directory handed back, through the descriptor
        // resolved at the start; under nc-harden's mount that was the mount's root, and the
        // directory beneath is opened once the mount is off (the hand-back then holds it to
        // what shields up recorded, so a directory swapped in meanwhile is not handed back).
        let dir = if unmounted.action == Action::Unfrozen {
            self.open_dir(Access::Read)?
        } else {
            resolved
        };
        let mut scan = Scan::new(dir.as_fd(), None, self.owner, Mode::Unfreeze);
        let mut entries = vec![];
        for_each_entry(dir.as_fd(), |name, d_type| {
            entries.push(scan.inspect(name, d_type)?);
            Ok(())
        })?;
        let flag = immutable::unpin_inode(dir.as_fd()).context("unpinning the directory")?;
        killpoint::step();
        let mut attempts = vec![
            attempt(Layer::Mount, unmounted),
            attempt(Layer::Immutable, nothing_to_clear(flag)),
        ];
        let mut data = None;
        if self.pin_data_dir {
            if let Some(opened) = self.resolve_data_dir(&dir)? {
                let outcome =
                    immutable::unpin_inode(opened.fd.as_fd()).context("unpinning data_dir")?;
                attempts.push(attempt(Layer::DataDir, nothing_to_clear(outcome)));
                data = Some(opened);
            }
        }
        // Shields down: hand the directory back in the mutable posture, once nothing pins it.
        let pins_left = entries.iter().any(|e| e.action == Action::Denied)
            || attempts.iter().any(|a| a.action == Action::Denied);
        let mut note = None;
        if self.hand_to.any() {
            if pins_left {
                note = Some("not handed back: pins are left that this call could not take off");
            } else {
                note = self.hand_back(dir.as_fd(), &mut entries)?;
            }
        }
        let meta = sys::fstat(dir.as_fd()).context("examining the directory")?;
        let directory = directory_outcome(&attempts[..2]);
        entries.insert(
            0,
            Entry {
                errno: directory.errno,
                ..Entry::new(DIRECTORY_ENTRY, meta.kind, directory.action)
            },
        );
        let status = if entries.iter().any(|e| e.action == Action::Denied)
            || attempts.iter().any(|a| a.action == Action::Denied)
        {
            Status::NoCapability
        } else {
            Status::Ok
        };
        let still = |layer: Layer| {
            attempts
                .iter()
                .any(|a| a.layer == layer && a.action == Action::Denied)
        };
        let layers = Layers {
            immutable: still(Layer::Immutable),
            mount: still(Layer::Mount),
            data_dir: still(Layer::DataDir),
        };
        let mut report = Report::new(
            Operation::Unfreeze,
            &self.dir,
            status,
            layers,
            attempts,
            entries,
        );
        if let Some(data) = data {
            report.set_data_dir_replaceable(data.replaceable);
        }
        if let Some(note) = note {
            report.set_note(note);
        }
        report.set_posture(self.shields_posture(dir.as_fd()));
        Ok(report)
    }

    /// `hand_to`: hands back exactly what shields up locked, through `dir` (the descriptor
    /// that was unpinned): the directory and the regular files whose identity (device, inode,
    /// generation) its record holds; with no record (locked by another tool, or before a
    /// reboot emptied /run), only a directory in the locked posture and the files in exactly
    /// the locked posture (the owner's, 0444, one link, on the directory's device). Anything
    /// else (a hard link to a root file, a file moved in, a directory swapped in at the path)
    /// is left as it is and reported (`not_locked_by_shields`).
    fn hand_back(
        &self,
        dir: BorrowedFd<'_>,
        entries: &mut [Entry],
    ) -> Result<Option<&'static str>, Error> {
        let h = self.hand_to;
        let failed =
            |what: &[u8], e| Error::io(format!("handing back \"{}\"", escape_bytes(what)), e);
        let record = pin::locked::load(&self.dir)
            .context("reading what shields up locked (nc-harden's state directory)")?;
        let dir_meta = sys::fstat(dir).map_err(|e| failed(b".", e))?;
        let dir_id = pin::locked::Identity::of(dir, &dir_meta).map_err(|e| failed(b".", e))?;
        let record = record.filter(|set| set.directory == Some(dir_id));
        let dir_locked = dir_meta.uid == self.owner && dir_meta.mode == sealing::LOCKED_DIR_MODE;
        let already = h.uid.map_or(true, |u| u == dir_meta.uid)
            && h.gid.map_or(true, |g| g == dir_meta.gid)
            && h.dir_mode.map_or(true, |m| m == dir_meta.mode);
        if record.is_none() && !dir_locked && !already {
            return Ok(Some(
                "not handed back: the directory at the path is neither the one shields up \
                 locked nor in the locked posture",
            ));
        }
        let mut left = 0;
        for entry in entries
            .iter_mut()
            .filter(|e| e.kind == FileKind::Regular && !e.is_rejected())
        {
            let name = CString::new(entry.name.clone()).expect("entry names hold no NUL");
            let Ok(meta) = sys::lstatat(dir, &name) else {
                continue;
            };
            let Ok(file) = scan::open_regular(dir, &name, &meta) else {
                continue;
            };
            let id = pin::locked::Identity::of(file.as_fd(), &meta)
                .map_err(|e| failed(&entry.name, e))?;
            let locked_here = match &record {
                Some(set) => set.holds_file(&id),
                None => sealing::in_locked_posture(&meta, self.owner, dir_meta.dev),
            };
            let handed = h.uid.map_or(true, |u| u == meta.uid)
                && h.gid.map_or(true, |g| g == meta.gid)
                && h.file_mode.map_or(true, |m| m == meta.mode);
            if !locked_here {
                if !handed {
                    entry.action = Action::Rejected;
                    entry.reason = Reason::NotLockedByShields;
                    left += 1;
                }
                continue;
            }
            sys::files::change_owner_mode(file.as_fd(), h.uid, h.gid, h.file_mode)
                .map_err(|e| failed(&entry.name, e))?;
            killpoint::step();
        }
        sys::files::change_owner_mode(dir, h.uid, h.gid, h.dir_mode)
            .map_err(|e| failed(b".", e))?;
        killpoint::step();
        pin::locked::remove(&self.dir).context("removing the record of what shields up locked")?;
        Ok((left > 0).then_some(
            "entries that shields up did not lock were left as they are (not_locked_by_shields)",
        ))
    }

    /// Judges the entries under the read-only mount alone. The mount stops every change
    /// that starts after it, but a change already under way in the writable mount beneath
    /// (its path resolved before) may still land: wait for those (the directory's lock),
    /// then judge until a pass sees the directory's change time stand still.
    fn judge_settled(&self, scan: &mut Scan<'_, '_>) -> Result<Vec<Entry>, Error> {
        let changed = |fd| {
            sys::fstat(fd)
                .map(|m| m.changed)
                .context("examining the directory")
        };
        for _ in 0..SETTLE_PASSES {
            sys::lock_barrier(scan.dir);
            let before = changed(scan.dir)?;
            let entries = self.judge_all(scan, Action::Checked, 0)?;
            if changed(scan.dir)? != before {
                continue;
            }
            // A writer preempted between its lookup and the directory's lock gets the CPU
            // once more and is waited for; only then is the pass taken as settled.
            std::thread::yield_now();
            sys::lock_barrier(scan.dir);
            if changed(scan.dir)? == before {
                return Ok(entries);
            }
        }
        Err(Error::io(
            "judging the directory",
            std::io::Error::from_raw_os_error(libc::EAGAIN),
        ))
    }

    /// Whether the path resolves, afresh, to the directory `dir` is. A rename of the
    /// directory already under way is waited for first (its parent's lock): the pinned
    /// directory cannot be renamed any more, so the answer then stays true.
    fn still_at_path(&self, dir: BorrowedFd<'_>) -> Result<bool, Error> {
        self.still_at(&self.dir, dir)
    }

    /// Whether `path` resolves, afresh, to the directory `fd` is, once the renames under
    /// way in its parent are done.
    fn still_at(&self, path: &[u8], fd: BorrowedFd<'_>) -> Result<bool, Error> {
        let parent: &[u8] = match path.iter().rposition(|&b| b == b'/').filter(|&i| i > 0) {
            Some(cut) => &path[..cut],
            None => b"/",
        };
        if let Ok(parent) = walk::open_directory(parent, Access::Read, self.resolution) {
            sys::lock_barrier(parent.as_fd());
        }
        let Ok(now) = walk::open_directory(path, Access::Path, self.resolution) else {
            return Ok(false);
        };
        let examine = |fd: BorrowedFd<'_>| sys::fstat(fd).context("examining the directory");
        Ok(examine(now.as_fd())?.same_inode(&examine(fd)?))
    }

    fn moved(&self) -> Error {
        Error::UnsafePath {
            path: escape_bytes(&self.dir),
            why: "the directory was moved or replaced during the call; nothing left changed".into(),
        }
    }

    fn open_dir(&self, access: Access) -> Result<OwnedFd, Error> {
        walk::open_directory(&self.dir, access, self.resolution)
    }

    /// Opens `dir` and holds its path to the safe-path rule (its direct parent exempt: a
    /// pinned directory cannot be moved out of it).
    fn resolve_dir(&self) -> Result<OwnedFd, Error> {
        let dir = self.open_dir(Access::Read)?;
        walk::check_ancestors(&self.dir, dir.as_fd(), self.owner)?;
        Ok(dir)
    }

    /// Opens `data_dir`, refuses it when it is `dir` itself under another path, and holds
    /// its path to the safe-path rule; a direct parent that fails it is reported (whoever
    /// controls it can replace `data_dir` itself), not refused: that is the real layout.
    fn resolve_data_dir(&self, dir: &OwnedFd) -> Result<Option<DataDir>, Error> {
        let access = if self.pin_data_dir {
            Access::Read
        } else {
            Access::Path
        };
        let Some(path) = self.data_dir.as_deref() else {
            return Ok(None);
        };
        let data = walk::open_directory(path, access, self.resolution)?;
        let examine = |fd: BorrowedFd<'_>| sys::fstat(fd).context("examining a directory");
        if examine(dir.as_fd())?.same_inode(&examine(data.as_fd())?) {
            return Err(Error::bad("dir and data_dir are the same directory"));
        }
        let replaceable = walk::check_ancestors(path, data.as_fd(), self.owner)?;
        Ok(Some(DataDir {
            fd: data,
            path: path.to_vec(),
            replaceable,
        }))
    }

    /// The directory's own record, then one per entry, then one per missing required name.
    fn judge_all(
        &self,
        scan: &mut Scan<'_, '_>,
        dir_action: Action,
        dir_errno: i32,
    ) -> Result<Vec<Entry>, Error> {
        let mut meta = sys::fstat(scan.dir).context("examining the directory")?;
        if scan.posture_to_come {
            meta.uid = self.owner;
            meta.mode = sealing::LOCKED_DIR_MODE;
        }
        let mut entries = vec![match rules::judge_directory(&meta, self.owner) {
            Reason::None => Entry {
                errno: dir_errno,
                ..Entry::new(DIRECTORY_ENTRY, FileKind::Directory, dir_action)
            },
            reason => Entry {
                found: Some(scan::found(&meta, self.owner)),
                ..Entry::rejected(DIRECTORY_ENTRY, FileKind::Directory, reason, 0)
            },
        }];
        let mut found = vec![false; self.required.len()];
        for_each_entry(scan.dir, |name, d_type| {
            if let Some(i) = self
                .required
                .iter()
                .position(|r| r.as_slice() == name.to_bytes())
            {
                found[i] = true;
            }
            entries.push(scan.inspect(name, d_type)?);
            Ok(())
        })?;
        for (name, _) in self
            .required
            .iter()
            .zip(&found)
            .filter(|(_, found)| !**found)
        {
            entries.push(Entry::rejected(
                name,
                FileKind::Unknown,
                Reason::RequiredMissing,
                0,
            ));
        }
        Ok(entries)
    }
}

fn attempt(layer: Layer, outcome: Outcome) -> LayerAttempt {
    LayerAttempt {
        layer,
        action: outcome.action,
        errno: outcome.errno,
    }
}

/// The directory's own record: what the most successful layer did to it.
fn directory_outcome(attempts: &[LayerAttempt]) -> Outcome {
    let rank = |a: &&LayerAttempt| match a.action {
        Action::Frozen | Action::Unfrozen => 0,
        Action::AlreadyFrozen => 1,
        Action::Denied => 2,
        _ => 3,
    };
    attempts
        .iter()
        .min_by_key(rank)
        .map_or(Outcome::new(Action::Checked), |a| Outcome {
            action: a.action,
            errno: a.errno,
        })
}

/// Valid and the directory pinned: NC_OK when every entry is pinned too, else NC_PARTIAL.
fn pinned_status(entries: &[Entry]) -> Status {
    if entries.iter().all(|e| e.action.is_pinned()) {
        Status::Ok
    } else {
        Status::Partial
    }
}

/// A refusal to write the directory (not root, read-only): nothing of ours to renew there.
fn refused(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EPERM | libc::EACCES | libc::EROFS)
    )
}

/// BOTH: the fresh directory's root and regular files carry the flag too, so that the copy
/// also holds against a process that could remount it read-write.
fn pin_copies(root: BorrowedFd<'_>) -> Result<(), Error> {
    let failed = |e| Error::io("pinning the fresh directory", e);
    let mut names = Vec::new();
    for_each_entry(root, |name, d_type| {
        if d_type == FileKind::Regular {
            names.push(name.to_owned());
        }
        Ok(())
    })?;
    for name in names {
        let file = sys::openat(
            sys::Base::Dir(root),
            &name,
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK,
        )
        .map_err(failed)?;
        immutable::pin_inode(file.as_fd()).map_err(failed)?;
    }
    immutable::pin_inode(root).map_err(failed)?;
    Ok(())
}

/// No flags on this filesystem: there is nothing to clear.
fn nothing_to_clear(outcome: Outcome) -> Outcome {
    if outcome.action == Action::Unsupported {
        Outcome::new(Action::Checked)
    } else {
        outcome
    }
}

/// What a judging pass gets of `data_dir`.
fn scan_data(data: &Option<DataDir>) -> Option<(BorrowedFd<'_>, &[u8])> {
    data.as_ref().map(|d| (d.fd.as_fd(), d.path.as_slice()))
}

/// What shields up's posture step came to.
enum Transition {
    /// Nothing to change: the posture and the seal already hold.
    Unneeded,
    /// Locked (and resealed where asked): the names renewed onto fresh inodes.
    Done(Vec<renew::Renewed>),
    /// Refused: the report to answer with (the posture left locked where it was asked for).
    Refused(Box<Report>),
}

/// Puts back the pins the call took off (see `Undo::restore_cleared`), and says so.
fn restore_pins(undo: &mut Undo, dir: BorrowedFd<'_>) -> Result<&'static str, Error> {
    let any = undo.cleared_any();
    undo.restore_cleared(dir)?;
    Ok(if any {
        "the pins found before the call were put back"
    } else {
        ""
    })
}

/// `data_dir`, resolved, and what the safe-path rule says of its direct parent.
struct DataDir {
    fd: OwnedFd,
    path: Vec<u8>,
    /// Why `data_dir` can be replaced by whoever controls its parent, if it can.
    replaceable: Option<String>,
}

fn for_each_entry(
    dir: BorrowedFd<'_>,
    mut f: impl FnMut(&std::ffi::CStr, FileKind) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut reader = DirEntries::new(dir);
    reader.rewind().context("reading the directory")?;
    while let Some(entry) = reader.next_entry().context("reading the directory")? {
        f(entry.name, entry.d_type)?;
    }
    Ok(())
}

impl PolicyBuilder {
    /// Required owner of `dir` and of its regular files (default 0).
    pub fn owner(mut self, uid: u32) -> Self {
        self.policy.owner = uid;
        self
    }

    /// An entry name that must be present.
    pub fn require(mut self, name: impl AsRef<[u8]>) -> Self {
        self.policy.required.push(name.as_ref().to_vec());
        self
    }

    /// Also set FS_IMMUTABLE_FL on `data_dir`'s own inode: its set of names is fixed (their
    /// contents stay writable) and it cannot be renamed away. The immutable layer only;
    /// NC_PARTIAL where it cannot be set. Unfreeze with it clears that flag too.
    pub fn pin_data_dir(mut self, on: bool) -> Self {
        self.policy.pin_data_dir = on;
        self
    }

    /// A link that reads exactly `data_dir/<name>` whose `data_dir/<name>` does not exist yet
    /// is accepted and reported (an entrypoint may create it later); a symlink there is still
    /// rejected.
    pub fn allow_missing(mut self, on: bool) -> Self {
        self.policy.allow_missing = on;
        self
    }

    /// A regular file of `dir`, in `sha256sum` format, whose digests are checked against the
    /// pinned bytes of the files it names (freeze: after pinning; verify: read-only).
    pub fn seal(mut self, name: impl AsRef<[u8]>) -> Self {
        self.policy.seal = Some(name.as_ref().to_vec());
        self
    }

    /// Freeze: first write the seal from the current bytes of the files it names (every other
    /// regular file of `dir` where it does not exist yet), as a fresh inode; then pin and
    /// check it.
    pub fn reseal(mut self, on: bool) -> Self {
        self.policy.reseal = on;
        self
    }

    /// Freeze: bring `dir` to the owner, mode 0755, and its regular files to the owner, mode
    /// 0444 (on fresh inodes), before pinning, instead of rejecting what is not so.
    pub fn lock_posture(mut self, on: bool) -> Self {
        self.policy.lock_posture = on;
        self
    }

    /// Unfreeze: after unpinning, hand `dir` and its regular files back in this posture.
    pub fn hand_to(mut self, hand_to: HandTo) -> Self {
        self.policy.hand_to = hand_to;
        self
    }

    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.policy.strategy = strategy;
        self
    }

    /// How `dir` and `data_dir` are resolved. `Resolution::WalkOnly` forces the fallback
    /// walk; it is as safe, one syscall per component slower, and exists for tests.
    pub fn resolution(mut self, resolution: Resolution) -> Self {
        self.policy.resolution = resolution;
        self
    }

    /// Which mount API the mount layer uses. `MountApi::Legacy` forces the mount(2)
    /// fallback taken where the new API is missing; it exists for tests.
    pub fn mount_api(mut self, api: MountApi) -> Self {
        self.policy.mount_api = api;
        self
    }

    /// Checks every argument (no syscall): absolute, normalized, at most PATH_MAX, disjoint,
    /// required names that are entry names.
    pub fn build(self) -> Result<Policy, Error> {
        let mut p = self.policy;
        rules::check_path(&p.dir).map_err(|why| Error::bad(format!("dir {why}")))?;
        if let Some(data_dir) = &p.data_dir {
            rules::check_path(data_dir).map_err(|why| Error::bad(format!("data_dir {why}")))?;
            rules::check_disjoint(&p.dir, data_dir).map_err(Error::bad)?;
        } else if p.pin_data_dir {
            return Err(Error::bad("pin_data_dir needs a data_dir"));
        } else if p.allow_missing {
            return Err(Error::bad("allow_missing needs a data_dir"));
        }
        for name in &p.required {
            rules::check_entry_name(name).map_err(Error::bad)?;
        }
        if let Some(seal) = &p.seal {
            rules::check_entry_name(seal).map_err(|why| {
                Error::bad(format!(
                    "seal: {}",
                    why.replace("a required name", "the name")
                ))
            })?;
        } else if p.reseal {
            return Err(Error::bad("reseal needs a seal name"));
        }
        for (what, mode) in [
            ("dir_mode", p.hand_to.dir_mode),
            ("file_mode", p.hand_to.file_mode),
        ] {
            if mode.is_some_and(|m| m > 0o7777) {
                return Err(Error::bad(format!(
                    "{what} is not a permission mode (at most 07777)"
                )));
            }
        }
        // A name required twice is one requirement.
        let mut seen = std::collections::HashSet::new();
        p.required.retain(|name| seen.insert(name.clone()));
        Ok(p)
    }
}
