//! The three operations of the contract, built from the walk, the policy, the pinning layers
//! and the report. The Rust API, the C ABI and the CLI all call these and nothing else.

mod scan;

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::Error;
use crate::pin::mount::MountState;
use crate::pin::{immutable, mount, MountApi, Outcome};
use crate::policy::{self, FileKind, Reason};
use crate::report::{
    escape_bytes, Action, Entry, Layer, LayerAttempt, Layers, Operation, Report, Status,
    DIRECTORY_ENTRY,
};
use crate::sys::{self, DirEntries};
use crate::walk::{self, Access, Resolution};
use scan::{Mode, Scan, Undo};

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
    pub fn from_code(code: u32) -> Option<Strategy> {
        [
            Strategy::Auto,
            Strategy::Immutable,
            Strategy::Mount,
            Strategy::Both,
        ]
        .into_iter()
        .find(|s| *s as u32 == code)
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
    data_dir: Vec<u8>,
    owner: u32,
    required: Vec<Vec<u8>>,
    strategy: Strategy,
    resolution: Resolution,
    mount_api: MountApi,
    pin_data_dir: bool,
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
        PolicyBuilder {
            policy: Policy {
                dir: dir.as_ref().as_os_str().as_bytes().to_vec(),
                data_dir: data_dir.as_ref().as_os_str().as_bytes().to_vec(),
                owner: 0,
                required: Vec::new(),
                strategy: Strategy::Auto,
                resolution: Resolution::Openat2OrWalk,
                mount_api: MountApi::NewOrLegacy,
                pin_data_dir: false,
            },
        }
    }

    pub fn dir(&self) -> &[u8] {
        &self.dir
    }

    pub fn data_dir(&self) -> &[u8] {
        &self.data_dir
    }

    /// Pins first, validates what is pinned, reads every flag back. On a failed validation
    /// every flag and mount this call added is taken back and the report says NC_INVALID.
    pub fn validate_and_freeze(&self) -> Result<Report, Error> {
        #[cfg(feature = "panic-test")]
        if self.dir.ends_with(b"/nc-harden-panic-test") {
            panic!("forced by the panic-test feature");
        }
        let dir = self.resolve_dir()?;
        let data = self.resolve_data_dir(&dir)?;
        let mut undo = Undo::default();
        let mut attempts = Vec::new();
        let layers = match self.pin_directory(dir.as_fd(), &data, &mut undo, &mut attempts) {
            Ok(layers) => layers,
            Err(e) => {
                undo.rollback(dir.as_fd(), &self.dir)?;
                return Err(e);
            }
        };
        let mode = if layers.immutable {
            Mode::Freeze { flags: true }
        } else if layers.mount {
            Mode::Freeze { flags: false }
        } else {
            Mode::Check
        };
        let mut scan = Scan::new(
            dir.as_fd(),
            Some((data.fd.as_fd(), &self.data_dir)),
            self.owner,
            mode,
        );
        scan.undo = undo;
        let directory = directory_outcome(&attempts);
        let judged = if layers.mount && !layers.immutable {
            self.judge_settled(&mut scan, directory)
        } else {
            self.judge_all(&mut scan, directory.action, directory.errno)
        };
        let mut entries = match judged {
            Ok(entries) => entries,
            Err(e) => {
                // Nothing half-changed: an error mid-way takes back what was set so far.
                scan.undo.rollback(dir.as_fd(), &self.dir)?;
                return Err(e);
            }
        };
        if entries.iter().any(Entry::is_rejected) {
            let added = Layers {
                immutable: scan.undo.directory,
                mount: scan.undo.mount.is_some(),
                data_dir: scan.undo.data_dir.is_some(),
            };
            scan.undo.rollback(dir.as_fd(), &self.dir)?;
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
            }
            return Ok(self.report(
                Operation::Freeze,
                Status::Invalid,
                left,
                attempts,
                entries,
                &data,
            ));
        }
        // From outside: the path must still lead to the directory pinned. Once pinned it cannot
        // be renamed (immutable, or a mount point), so a swap can only have happened before.
        if !self.still_at_path(dir.as_fd())? {
            scan.undo.rollback(dir.as_fd(), &self.dir)?;
            return Err(self.moved());
        }
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
        Ok(self.report(Operation::Freeze, status, layers, attempts, entries, &data))
    }

    /// The report of a call that judged the entries, with what it found of `data_dir`.
    fn report(
        &self,
        operation: Operation,
        status: Status,
        layers: Layers,
        attempts: Vec<LayerAttempt>,
        entries: Vec<Entry>,
        data: &DataDir,
    ) -> Report {
        let mut report = Report::new(operation, &self.dir, status, layers, attempts, entries);
        report.set_data_dir_replaceable(data.replaceable.clone());
        report
    }

    /// Applies the layers of the strategy to the directory itself, recording each answer.
    /// AUTO tries the immutable flag, and the read-only mount where the flag is refused.
    /// With `pin_data_dir`, the immutable flag on `data_dir`'s own inode too.
    fn pin_directory(
        &self,
        dir: BorrowedFd<'_>,
        data: &DataDir,
        undo: &mut Undo,
        attempts: &mut Vec<LayerAttempt>,
    ) -> Result<Layers, Error> {
        let mut layers = Layers::default();
        let wants_flags = matches!(
            self.strategy,
            Strategy::Auto | Strategy::Immutable | Strategy::Both
        );
        if wants_flags {
            let outcome =
                immutable::pin_inode(dir).map_err(|e| Error::io("pinning the directory", e))?;
            attempts.push(attempt(Layer::Immutable, outcome));
            undo.directory = outcome.action == Action::Frozen;
            layers.immutable = outcome.action.is_pinned();
        }
        let wants_mount = match self.strategy {
            Strategy::Auto => !layers.immutable,
            Strategy::Immutable => false,
            Strategy::Mount | Strategy::Both => true,
        };
        if wants_mount {
            let reopen = || self.open_dir(Access::Read);
            let pinned = mount::pin(&self.dir, dir, &reopen, self.mount_api)?;
            attempts.push(attempt(Layer::Mount, pinned.outcome));
            undo.mount = pinned.mount;
            layers.mount = pinned.outcome.action.is_pinned();
        }
        if self.pin_data_dir {
            // The flag layer only: a read-only mount of data_dir would stop the sandbox user's
            // own writes, which the contract leaves to it.
            let outcome = if wants_flags {
                immutable::pin_inode(data.fd.as_fd())
                    .map_err(|e| Error::io("pinning data_dir", e))?
            } else {
                Outcome {
                    action: Action::Unsupported,
                    errno: libc::EOPNOTSUPP,
                }
            };
            attempts.push(attempt(Layer::DataDir, outcome));
            if outcome.action == Action::Frozen {
                undo.data_dir = Some(
                    data.fd
                        .try_clone()
                        .map_err(|e| Error::io("keeping data_dir", e))?,
                );
            }
            layers.data_dir = outcome.action.is_pinned();
        }
        Ok(layers)
    }

    /// Read-only: NC_OK when valid and pinned (by either layer), NC_NOT_FROZEN when valid
    /// and not pinned.
    pub fn verify(&self) -> Result<Report, Error> {
        let dir = self.resolve_dir()?;
        let data = self.resolve_data_dir(&dir)?;
        let flag = immutable::is_pinned(dir.as_fd())
            .map_err(|e| Error::io("reading the directory's flags", e))?;
        let mounted = match mount::state(&self.dir, dir.as_fd())? {
            MountState::Ours { .. } => true,
            MountState::Absent => false,
            MountState::Covered => return Err(mount::covered(&self.dir)),
        };
        let data_flag = if self.pin_data_dir {
            immutable::is_pinned(data.fd.as_fd())
                .map_err(|e| Error::io("reading data_dir's flags", e))?
        } else {
            None
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
        let mut scan = Scan::new(
            dir.as_fd(),
            Some((data.fd.as_fd(), &self.data_dir)),
            self.owner,
            mode,
        );
        let entries = self.judge_all(&mut scan, dir_action, 0)?;
        let status = if entries.iter().any(Entry::is_rejected) {
            Status::Invalid
        } else if !(layers.immutable || layers.mount) {
            Status::NotFrozen
        } else if self.pin_data_dir && !layers.data_dir {
            Status::Partial
        } else {
            pinned_status(&entries)
        };
        Ok(self.report(Operation::Verify, status, layers, attempts, entries, &data))
    }

    /// Removes what a freeze added: nc-harden's read-only mount (never another mount), the
    /// flags of the regular files and symlinks, then the directory's (and `data_dir`'s with
    /// `pin_data_dir`). Needs no valid layout; NC_OK where nothing was frozen, so it is safe
    /// to call twice. An entry with something mounted over it is left alone.
    pub fn unfreeze(&self) -> Result<Report, Error> {
        self.resolve_dir()?;
        let reopen = || self.open_dir(Access::Read);
        let unmounted = mount::unpin(&self.dir, &reopen)?;
        // The mount is gone (or was not there): the flags are changed on the directory itself.
        let dir = self.open_dir(Access::Read)?;
        let mut scan = Scan::new(dir.as_fd(), None, self.owner, Mode::Unfreeze);
        let mut entries = vec![];
        for_each_entry(dir.as_fd(), |name, d_type| {
            entries.push(scan.inspect(name, d_type)?);
            Ok(())
        })?;
        let flag = immutable::unpin_inode(dir.as_fd())
            .map_err(|e| Error::io("unpinning the directory", e))?;
        let mut attempts = vec![
            attempt(Layer::Mount, unmounted),
            attempt(Layer::Immutable, nothing_to_clear(flag)),
        ];
        let mut data = None;
        if self.pin_data_dir {
            let opened = self.resolve_data_dir(&dir)?;
            let outcome = immutable::unpin_inode(opened.fd.as_fd())
                .map_err(|e| Error::io("unpinning data_dir", e))?;
            attempts.push(attempt(Layer::DataDir, nothing_to_clear(outcome)));
            data = Some(opened);
        }
        let meta = sys::fstat(dir.as_fd()).map_err(|e| Error::io("examining the directory", e))?;
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
        Ok(report)
    }

    /// Judges the entries under the read-only mount alone. The mount stops every change
    /// that starts after it, but a change already under way in the writable mount beneath
    /// (its path resolved before) may still land: wait for those (the directory's lock),
    /// then judge until a pass sees the directory's change time stand still.
    fn judge_settled(&self, scan: &mut Scan<'_>, directory: Outcome) -> Result<Vec<Entry>, Error> {
        let changed = |fd| {
            sys::fstat(fd)
                .map(|m| m.changed)
                .map_err(|e| Error::io("examining the directory", e))
        };
        for _ in 0..SETTLE_PASSES {
            sys::lock_barrier(scan.dir);
            let before = changed(scan.dir)?;
            let entries = self.judge_all(scan, directory.action, directory.errno)?;
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
        if let Some(cut) = self.dir.iter().rposition(|&b| b == b'/').filter(|&i| i > 0) {
            if let Ok(parent) =
                walk::open_directory(&self.dir[..cut], Access::Read, self.resolution)
            {
                sys::lock_barrier(parent.as_fd());
            }
        } else if let Ok(root) = walk::open_directory(b"/", Access::Read, self.resolution) {
            sys::lock_barrier(root.as_fd());
        }
        let Ok(now) = self.open_dir(Access::Path) else {
            return Ok(false);
        };
        let examine = |fd: BorrowedFd<'_>| {
            sys::fstat(fd).map_err(|e| Error::io("examining the directory", e))
        };
        Ok(examine(now.as_fd())?.same_inode(&examine(dir)?))
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
    fn resolve_data_dir(&self, dir: &OwnedFd) -> Result<DataDir, Error> {
        let access = if self.pin_data_dir {
            Access::Read
        } else {
            Access::Path
        };
        let data = walk::open_directory(&self.data_dir, access, self.resolution)?;
        let examine =
            |fd: BorrowedFd<'_>| sys::fstat(fd).map_err(|e| Error::io("examining a directory", e));
        if examine(dir.as_fd())?.same_inode(&examine(data.as_fd())?) {
            return Err(Error::bad("dir and data_dir are the same directory"));
        }
        let replaceable = walk::check_ancestors(&self.data_dir, data.as_fd(), self.owner)?;
        Ok(DataDir {
            fd: data,
            replaceable,
        })
    }

    /// The directory's own record, then one per entry, then one per missing required name.
    fn judge_all(
        &self,
        scan: &mut Scan<'_>,
        dir_action: Action,
        dir_errno: i32,
    ) -> Result<Vec<Entry>, Error> {
        let meta = sys::fstat(scan.dir).map_err(|e| Error::io("examining the directory", e))?;
        let mut entries = vec![match policy::judge_directory(&meta, self.owner) {
            Reason::None => Entry {
                errno: dir_errno,
                ..Entry::new(DIRECTORY_ENTRY, FileKind::Directory, dir_action)
            },
            reason => Entry::rejected(DIRECTORY_ENTRY, FileKind::Directory, reason, 0),
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

/// No flags on this filesystem: there is nothing to clear.
fn nothing_to_clear(outcome: Outcome) -> Outcome {
    if outcome.action == Action::Unsupported {
        Outcome::new(Action::Checked)
    } else {
        outcome
    }
}

/// `data_dir`, resolved, and what the safe-path rule says of its direct parent.
struct DataDir {
    fd: OwnedFd,
    /// Why `data_dir` can be replaced by whoever controls its parent, if it can.
    replaceable: Option<String>,
}

fn for_each_entry(
    dir: BorrowedFd<'_>,
    mut f: impl FnMut(&std::ffi::CStr, sys::DirentType) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut reader = DirEntries::new(dir);
    reader
        .rewind()
        .map_err(|e| Error::io("reading the directory", e))?;
    while let Some(entry) = reader
        .next_entry()
        .map_err(|e| Error::io("reading the directory", e))?
    {
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
        policy::check_path(&p.dir).map_err(|why| Error::bad(format!("dir {why}")))?;
        policy::check_path(&p.data_dir).map_err(|why| Error::bad(format!("data_dir {why}")))?;
        policy::check_disjoint(&p.dir, &p.data_dir).map_err(Error::bad)?;
        for name in &p.required {
            policy::check_entry_name(name).map_err(Error::bad)?;
        }
        // A name required twice is one requirement.
        let mut seen = std::collections::HashSet::new();
        p.required.retain(|name| seen.insert(name.clone()));
        Ok(p)
    }
}
