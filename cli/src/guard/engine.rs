//! The one integration point with the shields engine (profiles `openclaw` and `hermes`,
//! parts TopConfig and StateTrees): what `lock` and `unlock` of each guard ask of it, and
//! what they need back to print the guard's records. Everything around it (arguments, the
//! preconditions, NemoClaw's mutex, the records, the exit status) is the protocol's, in
//! `mod.rs`, and does not change when the engine is wired in.
//!
//! [`Engine`] is the shields engine (`nc_harden::shields`) over the built-in `openclaw`
//! profile, with one change the guard's semantics need: a regular file of `dir` that the
//! profile does not name is left as it is (`others = "keep"`), as the guard leaves it,
//! where `nc-harden shields up` would refuse it unsealed.

use nc_harden::guard::identity::Identity;
use nc_harden::guard::GuardError;
use nc_harden::profile::{Accounts, Others, Profile};
use nc_harden::shields::{self, Found, Issue, IssueCode, Part, ShieldsReport, State};

/// A transition of a guard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    Lock,
    Unlock,
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

/// The shields engine over the `openclaw` profile at `config_dir`.
pub struct Engine;

/// The profile the drop-in moves: the built-in `openclaw` (`hermes` for `/sandbox/.hermes`,
/// whose state trees the state-dir guard locks too), other regular files of `dir` kept (the
/// guard never touches them).
fn profile(config_dir: &[u8]) -> Result<Profile, GuardError> {
    let accounts = Accounts::system().map_err(|e| operation(config_dir, &e))?;
    let name = if config_dir == nc_harden::guard::HERMES_DIR.as_bytes() {
        "hermes"
    } else {
        "openclaw"
    };
    let mut p = Profile::load(name, &accounts)
        .and_then(|p| p.with_dir(config_dir))
        .map_err(|e| operation(config_dir, &e))?;
    p.others = Others::Keep;
    Ok(p)
}

/// An error of the engine before a verdict: the guard's `operation-failed` (its `except
/// OSError`), at the directory.
fn operation(config_dir: &[u8], e: &nc_harden::Error) -> GuardError {
    GuardError::new("operation-failed", config_dir, e.to_string())
}

/// The guard's code for the engine's, where the same condition arises.
fn guard_code(code: IssueCode) -> &'static str {
    match code {
        // The guard names the failed `stat` of a missing file.
        IssueCode::MissingConfigFile => "stat-failed",
        IssueCode::MountPoint => "cross-device-entry",
        IssueCode::TooDeep => "tree-too-deep",
        IssueCode::Unreadable => "open-failed",
        // The guard's verification of a posture it did not reach.
        IssueCode::TreePosture | IssueCode::NotHandedBack => "verification-failed",
        IssueCode::PinRefused => "transition-failed",
        // The guard quarantines nothing of the trees: the root moved aside is an unsafe one.
        IssueCode::Quarantined => "unsafe-config-entry",
        IssueCode::UnsealedFile | IssueCode::UnprotectedEntry => "unsafe-config-entry",
        IssueCode::RootOnlyFile => "unsafe-config-file",
        // The rest carry the guard's own names already.
        other => other.name(),
    }
}

/// `config_dir/path` (the guard reports absolute paths).
fn absolute(config_dir: &[u8], path: &[u8]) -> Vec<u8> {
    if path.is_empty() {
        return config_dir.to_vec();
    }
    let mut out = config_dir.to_vec();
    out.push(b'/');
    out.extend_from_slice(path);
    out
}

fn guard_issue(config_dir: &[u8], i: &Issue) -> GuardError {
    GuardError::new(
        guard_code(i.code),
        absolute(config_dir, &i.path),
        i.detail.clone(),
    )
}

/// The issue that stops the call: the first that blocks a shields up, else the first, else
/// the state's reason.
fn refusal(config_dir: &[u8], r: &ShieldsReport) -> GuardError {
    match r
        .issues
        .iter()
        .find(|i| i.code.blocks_up())
        .or(r.issues.first())
    {
        Some(i) => guard_issue(config_dir, i),
        None => GuardError::new(
            "verification-failed",
            config_dir,
            format!(
                "shields {} left the state {}{}",
                r.verb.name(),
                r.state.name(),
                r.state
                    .reason()
                    .map(|w| format!(": {w}"))
                    .unwrap_or_default()
            ),
        ),
    }
}

/// Whether the top configuration was read back in its mutable posture.
fn handed_back(r: &ShieldsReport) -> bool {
    let mutable = |p: Option<shields::PostureFound>| p.is_some_and(|p| p.found == Found::Mutable);
    mutable(r.parent)
        && mutable(r.directory)
        && !r.files.is_empty()
        && r.files
            .iter()
            .all(|f| f.posture.found == Found::Mutable && f.immutable != Some(true))
}

impl Shields for Engine {
    fn top_config(
        &self,
        t: Transition,
        config_dir: &[u8],
        _: Identity,
    ) -> Result<TopConfigDone, GuardError> {
        let p = profile(config_dir)?;
        match t {
            Transition::Lock => {
                let r = shields::up(&p, Part::TopConfig, false)
                    .map_err(|e| operation(config_dir, &e))?;
                match r.state {
                    State::Up | State::UpNotPinned => Ok(TopConfigDone {
                        chattr_applied: r.chattr_applied,
                    }),
                    _ => Err(refusal(config_dir, &r)),
                }
            }
            Transition::Unlock => {
                let r =
                    shields::down(&p, Part::TopConfig).map_err(|e| operation(config_dir, &e))?;
                if handed_back(&r) {
                    Ok(TopConfigDone {
                        chattr_applied: false,
                    })
                } else {
                    Err(refusal(config_dir, &r))
                }
            }
        }
    }

    fn state_trees(&self, t: Transition, config_dir: &[u8], _: Identity) -> StateDirDone {
        let one = |e: GuardError| StateDirDone {
            issues: vec![e],
            ..StateDirDone::default()
        };
        let p = match profile(config_dir) {
            Ok(p) => p,
            Err(e) => return one(e),
        };
        let r = match t {
            Transition::Lock => shields::up(&p, Part::StateTrees, false),
            Transition::Unlock => shields::down(&p, Part::StateTrees),
        };
        let r = match r {
            Ok(r) => r,
            Err(e) => return one(operation(config_dir, &e)),
        };
        let mut done = StateDirDone {
            roots: r.trees.len() as u64,
            ..StateDirDone::default()
        };
        for tree in &r.trees {
            done.directories += tree.counts.directories;
            done.files += tree.counts.files;
            done.symlinks += tree.counts.symlinks;
            done.removed_entries += tree.counts.quarantined;
        }
        done.issues = r
            .issues
            .iter()
            .map(|i| guard_issue(config_dir, i))
            .collect();
        if done.issues.is_empty() && matches!(r.state, State::LockedNotVerified { .. }) {
            done.issues.push(refusal(config_dir, &r));
        }
        done
    }
}

/// The engine's unpin of the `openclaw` profile: the pins off, the posture untouched.
pub fn unpin(config_dir: &[u8]) -> Result<(), GuardError> {
    let p = profile(config_dir)?;
    let fail = |detail: String| GuardError::new("unpin-failed", config_dir, detail);
    match shields::unpin(&p) {
        Ok((true, _)) => Ok(()),
        Ok((false, issues)) => Err(fail(
            issues
                .first()
                .map(|i| i.detail.clone())
                .unwrap_or_else(|| "a pin cannot come off".into()),
        )),
        Err(e) => Err(fail(e.to_string())),
    }
}

/// The engine the CLI uses.
pub fn current() -> impl Shields {
    Engine
}
