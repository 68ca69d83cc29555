//! The three operations of the contract, built from the walk, the policy, the pinning layers
//! and the report. The Rust API, the C ABI and the CLI all call these and nothing else.

mod scan;

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::Error;
use crate::pin::immutable;
use crate::policy::{self, FileKind, Reason};
use crate::report::{Action, Entry, Layers, Operation, Report, Status, DIRECTORY_ENTRY};
use crate::sys::{self, DirEntries};
use crate::walk::{self, Access, Resolution};
use scan::{Mode, Scan};

/// Which pinning layers a freeze applies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u32)]
pub enum Strategy {
    /// The immutable flags; the mount layer where they are refused (once it exists).
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
    /// every flag this call set is taken back and the report says NC_INVALID.
    pub fn validate_and_freeze(&self) -> Result<Report, Error> {
        let dir = self.open_dir(Access::Read)?;
        let data = self.open_data_dir(&dir)?;
        let dir_pin =
            immutable::pin_inode(dir.as_fd()).map_err(|e| Error::io("pinning the directory", e))?;
        let mode = if dir_pin.action.is_pinned() {
            Mode::Freeze
        } else {
            Mode::Check
        };
        let mut scan = Scan::new(
            dir.as_fd(),
            Some((data.as_fd(), &self.data_dir)),
            self.owner,
            mode,
        );
        scan.undo.directory = dir_pin.action == Action::Frozen;

        let judged = self.judge_all(&mut scan, dir_pin.action, dir_pin.errno);
        let mut entries = match judged {
            Ok(entries) => entries,
            Err(e) => {
                // Nothing half-changed: an error mid-way takes back what was set so far.
                scan.undo.rollback(dir.as_fd())?;
                return Err(e);
            }
        };
        if entries.iter().any(Entry::is_rejected) {
            let rolled_back_dir = scan.undo.directory;
            scan.undo.rollback(dir.as_fd())?;
            for entry in &mut entries {
                let taken_back = entry.action == Action::Frozen
                    || (rolled_back_dir && entry.action == Action::PinnedByDirectory);
                if taken_back {
                    entry.action = Action::Checked;
                }
            }
            let layers = Layers {
                immutable: !rolled_back_dir && dir_pin.action.is_pinned(),
            };
            return Ok(Report::new(
                Operation::Freeze,
                &self.dir,
                Status::Invalid,
                layers,
                entries,
            ));
        }
        let status = match dir_pin.action {
            Action::Frozen | Action::AlreadyFrozen => pinned_status(&entries),
            Action::Denied => Status::NoCapability,
            _ => Status::Unsupported,
        };
        let layers = Layers {
            immutable: dir_pin.action.is_pinned(),
        };
        Ok(Report::new(
            Operation::Freeze,
            &self.dir,
            status,
            layers,
            entries,
        ))
    }

    /// Read-only: NC_OK when valid and pinned, NC_NOT_FROZEN when valid and not pinned.
    pub fn verify(&self) -> Result<Report, Error> {
        let dir = self.open_dir(Access::Read)?;
        let data = self.open_data_dir(&dir)?;
        let pinned = immutable::is_pinned(dir.as_fd())
            .map_err(|e| Error::io("reading the directory's flags", e))?;
        let dir_action = match pinned {
            Some(true) => Action::AlreadyFrozen,
            Some(false) => Action::Checked,
            None => Action::Unsupported,
        };
        let mode = Mode::Verify {
            dir_pinned: pinned == Some(true),
        };
        let mut scan = Scan::new(
            dir.as_fd(),
            Some((data.as_fd(), &self.data_dir)),
            self.owner,
            mode,
        );
        let entries = self.judge_all(&mut scan, dir_action, 0)?;
        let status = if entries.iter().any(Entry::is_rejected) {
            Status::Invalid
        } else if pinned == Some(true) {
            pinned_status(&entries)
        } else {
            Status::NotFrozen
        };
        let layers = Layers {
            immutable: pinned == Some(true),
        };
        Ok(Report::new(
            Operation::Verify,
            &self.dir,
            status,
            layers,
            entries,
        ))
    }

    /// Removes what a freeze added: the flags of the regular files and symlinks, then the
    /// directory's. Needs no valid layout; NC_OK where nothing was frozen.
    pub fn unfreeze(&self) -> Result<Report, Error> {
        let dir = self.open_dir(Access::Read)?;
        let mut scan = Scan::new(dir.as_fd(), None, self.owner, Mode::Unfreeze);
        let mut entries = vec![];
        for_each_entry(dir.as_fd(), |name, d_type| {
            entries.push(scan.inspect(name, d_type)?);
            Ok(())
        })?;
        let outcome = immutable::unpin_inode(dir.as_fd())
            .map_err(|e| Error::io("unpinning the directory", e))?;
        let dir_action = if outcome.action == Action::Unsupported {
            Action::Checked
        } else {
            outcome.action
        };
        let meta = sys::fstat(dir.as_fd()).map_err(|e| Error::io("examining the directory", e))?;
        entries.insert(
            0,
            Entry {
                errno: outcome.errno,
                ..Entry::new(DIRECTORY_ENTRY, meta.kind, dir_action)
            },
        );
        let status = if entries.iter().any(|e| e.action == Action::Denied) {
            Status::NoCapability
        } else {
            Status::Ok
        };
        let layers = Layers {
            immutable: dir_action == Action::Denied,
        };
        Ok(Report::new(
            Operation::Unfreeze,
            &self.dir,
            status,
            layers,
            entries,
        ))
    }

    fn open_dir(&self, access: Access) -> Result<OwnedFd, Error> {
        walk::open_directory(&self.dir, access, self.resolution)
    }

    /// Opens `data_dir` and refuses it when it is `dir` itself under another path.
    fn open_data_dir(&self, dir: &OwnedFd) -> Result<OwnedFd, Error> {
        let data = walk::open_directory(&self.data_dir, Access::Path, self.resolution)?;
        let examine =
            |fd: BorrowedFd<'_>| sys::fstat(fd).map_err(|e| Error::io("examining a directory", e));
        if examine(dir.as_fd())?.same_inode(&examine(data.as_fd())?) {
            return Err(Error::bad("dir and data_dir are the same directory"));
        }
        Ok(data)
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

/// Valid and the directory pinned: NC_OK when every entry is pinned too, else NC_PARTIAL.
fn pinned_status(entries: &[Entry]) -> Status {
    if entries.iter().all(|e| e.action.is_pinned()) {
        Status::Ok
    } else {
        Status::Partial
    }
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

    /// Checks every argument (no syscall): absolute, normalized, at most PATH_MAX, disjoint,
    /// required names that are entry names, a strategy this build implements.
    pub fn build(self) -> Result<Policy, Error> {
        let p = self.policy;
        policy::check_path(&p.dir).map_err(|why| Error::bad(format!("dir {why}")))?;
        policy::check_path(&p.data_dir).map_err(|why| Error::bad(format!("data_dir {why}")))?;
        policy::check_disjoint(&p.dir, &p.data_dir).map_err(Error::bad)?;
        for name in &p.required {
            policy::check_entry_name(name).map_err(Error::bad)?;
        }
        if matches!(p.strategy, Strategy::Mount | Strategy::Both) {
            return Err(Error::bad(format!(
                "strategy {} needs the read-only bind mount layer, which this version does not have",
                p.strategy.name()
            )));
        }
        Ok(p)
    }
}
