//! The three operations of the contract, built from the walk, the policy, the pinning layers
//! and the report. The Rust API, the C ABI and the CLI all call these and nothing else.

#![forbid(unsafe_code)]

mod freeze;
mod posture;
pub(crate) mod renew;
mod scan;
mod sealing;
mod undo;
mod unfreeze;
mod verify;

use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::{Context, Error};
use crate::escape::escape_bytes;
use crate::inode::FileKind;
use crate::killpoint;
use crate::pin::mount::MountState;
use crate::pin::{self, immutable, mount, LockMode, MountApi, Outcome, StateDir};
use crate::report::{Action, Entry, Layer, LayerAttempt, Layers, Operation, Report};
use crate::rules::{self, Reason};
use crate::status::Status;
use crate::sys::{self, DirEntries};
use crate::walk::{self, Access, Resolution};
use scan::{Mode, PinnedBy, Scan};
use undo::Undo;

crate::contract_table! {
    /// Which pinning layers a freeze applies: `nc_options.strategy`.
    pub enum Strategy in C enum nc_strategy {
        /// The immutable flags; the read-only mount where they are refused or unsupported.
        Auto = 0 => NC_STRATEGY_AUTO "auto",
        /// The immutable flags only (needs CAP_LINUX_IMMUTABLE).
        Immutable = 1 => NC_STRATEGY_IMMUTABLE "immutable",
        /// The read-only mount only: a fresh directory mounted over `dir` (needs
        /// CAP_SYS_ADMIN; lives in the caller's mount namespace).
        Mount = 2 => NC_STRATEGY_MOUNT "mount",
        /// Both layers; NC_PARTIAL when only one could be applied.
        Both = 3 => NC_STRATEGY_BOTH "both",
    }
}

// Not derived: `contract_table!` takes no attributes on an entry (`#[default]`).
#[allow(clippy::derivable_impls)]
impl Default for Strategy {
    fn default() -> Self {
        Strategy::Auto
    }
}

impl Strategy {
    /// The strategy of a CLI name (`"auto"`, ...).
    pub fn from_name(name: &str) -> Option<Strategy> {
        Strategy::all().into_iter().find(|s| s.name() == name)
    }
}

/// A checked request: which directory, against which data directory, under which rules.
/// Built by [`PolicyBuilder::build`], which refuses every bad argument before any syscall.
#[derive(Clone, Debug)]
pub struct Policy {
    paths: Paths,
    layout: Layout,
    freeze: FreezeSteps,
    /// What unfreeze hands back.
    hand_to: HandTo,
}

/// The paths of a call and how they are resolved.
#[derive(Clone, Debug)]
struct Paths {
    dir: Vec<u8>,
    /// `None`: a flat layout, regular files only.
    data_dir: Option<Vec<u8>>,
    resolution: Resolution,
    /// Where the call's lock and records are.
    state_dir: StateDir,
}

/// The layout's rules: what every call judges.
#[derive(Clone, Debug)]
struct Layout {
    owner: u32,
    required: Vec<Vec<u8>>,
    allow_missing: bool,
    /// The seal's entry name (freeze checks it after pinning, verify read-only).
    seal: Option<Vec<u8>>,
}

/// What freeze does beyond judging (unfreeze and verify read `mount_api` and `pin_data_dir`
/// to find and take off what it did).
#[derive(Clone, Debug)]
struct FreezeSteps {
    strategy: Strategy,
    mount_api: MountApi,
    pin_data_dir: bool,
    reseal: bool,
    lock_posture: bool,
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
    /// The state directory asked for, checked by `build`.
    state_dir: Option<PathBuf>,
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
                paths: Paths {
                    dir: dir.as_os_str().as_bytes().to_vec(),
                    data_dir: data_dir.map(|d| d.as_os_str().as_bytes().to_vec()),
                    resolution: Resolution::Openat2OrWalk,
                    state_dir: StateDir::default(),
                },
                layout: Layout {
                    owner: 0,
                    required: Vec::new(),
                    allow_missing: false,
                    seal: None,
                },
                freeze: FreezeSteps {
                    strategy: Strategy::Auto,
                    mount_api: MountApi::NewOrLegacy,
                    pin_data_dir: false,
                    reseal: false,
                    lock_posture: false,
                },
                hand_to: HandTo::default(),
            },
            state_dir: None,
        }
    }

    pub fn dir(&self) -> &[u8] {
        &self.paths.dir
    }

    /// `None` for a flat layout.
    pub fn data_dir(&self) -> Option<&[u8]> {
        self.paths.data_dir.as_deref()
    }

    /// The posture of the directory the path shows, where the call is about shields (a lock
    /// of the posture, or a seal): `None` otherwise, to spare a stat per entry.
    fn shields_posture(&self, shown: BorrowedFd<'_>) -> Option<bool> {
        if self.freeze.lock_posture || self.layout.seal.is_some() || self.hand_to.any() {
            sealing::is_locked(shown, self.layout.owner).ok()
        } else {
            None
        }
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
        let mut report = Report::new(
            operation,
            &self.paths.dir,
            status,
            layers,
            attempts,
            entries,
        );
        report.set_data_dir_replaceable(data.as_ref().and_then(|d| d.replaceable.clone()));
        report
    }

    /// The lock that serializes the calls on this path, in the policy's state directory
    /// (see `record::lock_in`).
    fn lock(&self, mode: LockMode) -> Result<pin::StateLock, Error> {
        pin::lock_in(&self.paths.state_dir, &self.paths.dir, mode).map_err(|e| {
            // The error says what stood in the way: who holds the lock past the wait, or what
            // is wrong with the state directory.
            Error::io("taking nc-harden's lock of this path", e)
        })
    }

    /// Whether the path resolves, afresh, to the directory `dir` is. A rename of the
    /// directory already under way is waited for first (its parent's lock): the pinned
    /// directory cannot be renamed any more, so the answer then stays true.
    fn still_at_path(&self, dir: BorrowedFd<'_>) -> Result<bool, Error> {
        self.still_at(&self.paths.dir, dir)
    }

    /// Whether `path` resolves, afresh, to the directory `fd` is, once the renames under
    /// way in its parent are done.
    fn still_at(&self, path: &[u8], fd: BorrowedFd<'_>) -> Result<bool, Error> {
        let parent: &[u8] = match path.iter().rposition(|&b| b == b'/').filter(|&i| i > 0) {
            Some(cut) => &path[..cut],
            None => b"/",
        };
        if let Ok(parent) = walk::open_directory(parent, Access::Read, self.paths.resolution) {
            sys::lock_barrier(parent.as_fd());
        }
        let Ok(now) = walk::open_directory(path, Access::Path, self.paths.resolution) else {
            return Ok(false);
        };
        let examine = |fd: BorrowedFd<'_>| sys::fstat(fd).context("examining the directory");
        Ok(examine(now.as_fd())?.same_inode(&examine(fd)?))
    }

    fn moved(&self) -> Error {
        Error::UnsafePath {
            path: escape_bytes(&self.paths.dir),
            why: format!(
                "the directory was moved or replaced during the call; {}",
                self.left_by_a_refusal()
            ),
        }
    }

    /// What a freeze refused by an error after its pass leaves: the pins it made are taken
    /// back (`undo::Pending`), but a posture transition is not (fail-closed: a posture
    /// locked stays locked, a seal written stays).
    fn left_by_a_refusal(&self) -> &'static str {
        if self.freeze.lock_posture || self.freeze.reseal {
            "the pins this call made are taken back; the posture and the seal stay as the call \
             left them (fail-closed), not verified"
        } else {
            "nothing left changed"
        }
    }

    fn open_dir(&self, access: Access) -> Result<OwnedFd, Error> {
        walk::open_directory(&self.paths.dir, access, self.paths.resolution)
    }

    /// Opens `dir` and holds its path to the safe-path rule (its direct parent exempt: a
    /// pinned directory cannot be moved out of it).
    fn resolve_dir(&self) -> Result<OwnedFd, Error> {
        Ok(self.resolve_dir_checked()?.0)
    }

    /// `resolve_dir`, with the ancestors it found safe (for `resolve_data_dir_after`).
    fn resolve_dir_checked(&self) -> Result<(OwnedFd, walk::Checked), Error> {
        let dir = self.open_dir(Access::Read)?;
        let meta = sys::fstat(dir.as_fd()).context("examining an ancestor")?;
        let mut checked = walk::Checked::default();
        walk::check_ancestors_after(
            &self.paths.dir,
            dir.as_fd(),
            &meta,
            self.layout.owner,
            &mut checked,
        )?;
        Ok((dir, checked))
    }

    /// Opens `data_dir`, refuses it when it is `dir` itself under another path, and holds
    /// its path to the safe-path rule; a direct parent that fails it is reported (whoever
    /// controls it can replace `data_dir` itself), not refused: that is the real layout.
    fn resolve_data_dir(&self, dir: &OwnedFd) -> Result<Option<DataDir>, Error> {
        self.resolve_data_dir_after(dir, &mut walk::Checked::default())
    }

    /// `resolve_data_dir`, climbing no higher than an ancestor `dir`'s check found safe.
    fn resolve_data_dir_after(
        &self,
        dir: &OwnedFd,
        checked: &mut walk::Checked,
    ) -> Result<Option<DataDir>, Error> {
        let access = if self.freeze.pin_data_dir {
            Access::Read
        } else {
            Access::Path
        };
        let Some(path) = self.paths.data_dir.as_deref() else {
            return Ok(None);
        };
        let data = walk::open_directory(path, access, self.paths.resolution)?;
        let examine = |fd: BorrowedFd<'_>| sys::fstat(fd).context("examining a directory");
        let data_meta = examine(data.as_fd())?;
        if examine(dir.as_fd())?.same_inode(&data_meta) {
            return Err(Error::bad("dir and data_dir are the same directory"));
        }
        let replaceable = walk::check_ancestors_after(
            path,
            data.as_fd(),
            &data_meta,
            self.layout.owner,
            checked,
        )?;
        Ok(Some(DataDir {
            fd: data,
            path: path.to_vec(),
            replaceable,
        }))
    }

    /// The bad argument that shows only once the paths are opened (`dir` and `data_dir` the
    /// same directory under two names), checked without changing anything: what
    /// `nc_explain_bad_argument` adds to the checks of [`PolicyBuilder::build`]. Any other
    /// failure to open them is not a bad argument, and is the call's to report.
    pub(crate) fn check_bad_argument_on_disk(&self) -> Result<(), Error> {
        let Some(data_path) = self.paths.data_dir.as_deref() else {
            return Ok(());
        };
        let open =
            |path: &[u8]| walk::open_directory(path, Access::Path, self.paths.resolution).ok();
        let (Some(dir), Some(data)) = (open(&self.paths.dir), open(data_path)) else {
            return Ok(());
        };
        let examine = |fd: BorrowedFd<'_>| sys::fstat(fd).ok();
        match (examine(dir.as_fd()), examine(data.as_fd())) {
            (Some(a), Some(b)) if a.same_inode(&b) => {
                Err(Error::bad("dir and data_dir are the same directory"))
            }
            _ => Ok(()),
        }
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
            meta.uid = self.layout.owner;
            meta.mode = sealing::LOCKED_DIR_MODE;
        }
        let mut entries = vec![match rules::judge_directory(&meta, self.layout.owner) {
            Reason::None => Entry {
                errno: dir_errno,
                ..Entry::directory(FileKind::Directory, dir_action)
            },
            reason => Entry {
                found: Some(scan::found(&meta, self.layout.owner)),
                ..Entry::directory_rejected(reason)
            },
        }];
        let mut found = vec![false; self.layout.required.len()];
        for_each_entry(scan.dir, |name, d_type| {
            if let Some(i) = self
                .layout
                .required
                .iter()
                .position(|r| r.as_slice() == name.to_bytes())
            {
                found[i] = true;
            }
            entries.push(scan.apply_mode(name, d_type)?);
            Ok(())
        })?;
        for (name, _) in self
            .layout
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

/// What a judging pass gets of `data_dir`.
fn scan_data(data: &Option<DataDir>) -> Option<(BorrowedFd<'_>, &[u8])> {
    data.as_ref().map(|d| (d.fd.as_fd(), d.path.as_slice()))
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
        self.policy.layout.owner = uid;
        self
    }

    /// An entry name that must be present.
    pub fn require(mut self, name: impl AsRef<[u8]>) -> Self {
        self.policy.layout.required.push(name.as_ref().to_vec());
        self
    }

    /// Also set FS_IMMUTABLE_FL on `data_dir`'s own inode: its set of names is fixed (their
    /// contents stay writable) and it cannot be renamed away. The immutable layer only;
    /// NC_PARTIAL where it cannot be set. Unfreeze with it clears that flag too.
    pub fn pin_data_dir(mut self, on: bool) -> Self {
        self.policy.freeze.pin_data_dir = on;
        self
    }

    /// A link that reads exactly `data_dir/<name>` whose `data_dir/<name>` does not exist yet
    /// is accepted and reported (an entrypoint may create it later); a symlink there is still
    /// rejected.
    pub fn allow_missing(mut self, on: bool) -> Self {
        self.policy.layout.allow_missing = on;
        self
    }

    /// A regular file of `dir`, in `sha256sum` format, whose digests are checked against the
    /// pinned bytes of the files it names (freeze: after pinning; verify: read-only).
    pub fn seal(mut self, name: impl AsRef<[u8]>) -> Self {
        self.policy.layout.seal = Some(name.as_ref().to_vec());
        self
    }

    /// Freeze: first write the seal from the current bytes of the files it names (every other
    /// regular file of `dir` where it does not exist yet), as a fresh inode; then pin and
    /// check it.
    pub fn reseal(mut self, on: bool) -> Self {
        self.policy.freeze.reseal = on;
        self
    }

    /// Freeze: bring `dir` to the owner, mode 0755, and its regular files to the owner, mode
    /// 0444 (on fresh inodes), before pinning, instead of rejecting what is not so.
    pub fn lock_posture(mut self, on: bool) -> Self {
        self.policy.freeze.lock_posture = on;
        self
    }

    /// Unfreeze: after unpinning, hand `dir` and its regular files back in this posture.
    pub fn hand_to(mut self, hand_to: HandTo) -> Self {
        self.policy.hand_to = hand_to;
        self
    }

    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.policy.freeze.strategy = strategy;
        self
    }

    /// How `dir` and `data_dir` are resolved. `Resolution::WalkOnly` forces the fallback
    /// walk; it is as safe, one syscall per component slower, and exists for tests (feature
    /// `__test-knobs` only).
    #[cfg(feature = "__test-knobs")]
    #[doc(hidden)]
    pub fn resolution(mut self, resolution: Resolution) -> Self {
        self.policy.paths.resolution = resolution;
        self
    }

    /// Which mount API the mount layer uses. `MountApi::Legacy` forces the mount(2)
    /// fallback taken where the new API is missing; it exists for tests (feature
    /// `__test-knobs` only).
    #[cfg(feature = "__test-knobs")]
    #[doc(hidden)]
    pub fn mount_api(mut self, api: MountApi) -> Self {
        self.policy.freeze.mount_api = api;
        self
    }

    /// Where the call's lock and records are kept (default [`crate::STATE_DIR`]); held to
    /// the rules of [`StateDir`].
    pub fn state_dir(mut self, path: impl AsRef<Path>) -> Self {
        self.state_dir = Some(path.as_ref().to_path_buf());
        self
    }

    /// Checks every argument (no syscall): absolute, normalized, at most PATH_MAX, disjoint,
    /// required names that are entry names.
    pub fn build(self) -> Result<Policy, Error> {
        let mut p = self.policy;
        rules::check_path(&p.paths.dir).map_err(|why| Error::bad(format!("dir {why}")))?;
        if let Some(data_dir) = &p.paths.data_dir {
            rules::check_path(data_dir).map_err(|why| Error::bad(format!("data_dir {why}")))?;
            rules::check_disjoint(&p.paths.dir, data_dir).map_err(Error::bad)?;
        } else if p.freeze.pin_data_dir {
            return Err(Error::bad("pin_data_dir needs a data_dir"));
        } else if p.layout.allow_missing {
            return Err(Error::bad("allow_missing needs a data_dir"));
        }
        for name in &p.layout.required {
            rules::check_entry_name(name).map_err(Error::bad)?;
        }
        if let Some(seal) = &p.layout.seal {
            rules::check_entry_name(seal).map_err(|why| {
                Error::bad(format!(
                    "seal: {}",
                    why.replace("a required name", "the name")
                ))
            })?;
        } else if p.freeze.reseal {
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
        if let Some(path) = &self.state_dir {
            p.paths.state_dir = StateDir::new(path)?;
        }
        // A name required twice is one requirement.
        let mut seen = std::collections::HashSet::new();
        p.layout.required.retain(|name| seen.insert(name.clone()));
        Ok(p)
    }
}
