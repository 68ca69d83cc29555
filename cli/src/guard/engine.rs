//! The one integration point with the shields engine (profiles `openclaw` and `hermes`,
//! parts TopConfig and StateTrees): what `lock` and `unlock` of each guard ask of it, and
//! what they need back to print the guard's records. Everything around it (arguments, the
//! preconditions, NemoClaw's mutex, the records, the exit status) is the protocol's, in
//! `mod.rs`, and does not change when the engine is wired in.
//!
//! Until the engine is merged, [`Pending`] answers every call with a truthful failure
//! (`unsupported-action`): no posture is changed, nothing is claimed.

use nc_harden::guard::identity::Identity;
use nc_harden::guard::GuardError;

/// A transition of a guard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    Lock,
    Unlock,
}

impl Transition {
    pub fn name(self) -> &'static str {
        match self {
            Transition::Lock => "lock",
            Transition::Unlock => "unlock",
        }
    }
}

/// What a top-level config transition that held reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopConfigDone {
    /// The immutable flag was read back on both files (`chattrApplied`).
    pub chattr_applied: bool,
}

/// The counts of a state-dir pass (`roots`, `directories`, `files`, `symlinks`,
/// `removedEntries`) and every issue it found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StateDirDone {
    pub issues: Vec<GuardError>,
    pub roots: u64,
    pub directories: u64,
    pub files: u64,
    pub symlinks: u64,
    pub removed_entries: u64,
}

/// What the drop-in asks of the shields engine. Called with NemoClaw's mutex held (except
/// for `/sandbox/.hermes`, which the guard does not serialize either), after every
/// precondition held; `config_dir` is normalized.
pub trait Shields {
    /// `openclaw-config-guard.py lock|unlock`: the end state of its posture table, on fresh
    /// inodes, `.config-hash` written as the guard writes it; plus the pins.
    fn top_config(
        &self,
        t: Transition,
        config_dir: &[u8],
        id: Identity,
    ) -> Result<TopConfigDone, GuardError>;
    /// `state-dir-guard.py lock|unlock` (its `preflight` is the library's read-only judge,
    /// `nc_harden::guard::state_dir`).
    fn state_trees(&self, t: Transition, config_dir: &[u8], id: Identity) -> StateDirDone;
}

/// The engine as it is in this build: not merged yet.
pub struct Pending;

const NOT_YET: &str =
    "the shields engine that performs this action is not part of this build of nc-harden; \
     nothing was changed";

impl Shields for Pending {
    fn top_config(
        &self,
        t: Transition,
        config_dir: &[u8],
        _: Identity,
    ) -> Result<TopConfigDone, GuardError> {
        Err(GuardError::new(
            "unsupported-action",
            config_dir,
            format!("{}: {NOT_YET}", t.name()),
        ))
    }

    fn state_trees(&self, t: Transition, config_dir: &[u8], _: Identity) -> StateDirDone {
        let action = t.name();
        StateDirDone {
            issues: vec![GuardError::new(
                "unsupported-action",
                config_dir,
                format!("{action}: {NOT_YET}"),
            )],
            ..StateDirDone::default()
        }
    }
}

/// The engine the CLI uses.
pub fn current() -> impl Shields {
    Pending
}
