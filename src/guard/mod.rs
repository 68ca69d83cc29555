//! The drop-in for NemoClaw's guards (`openclaw-config-guard.py`, `state-dir-guard.py`):
//! the checks that read the filesystem, with the guards' own issue codes, paths and
//! details, so that `nc-harden guard ...` answers what the guard answers for the same state.
//! The protocol (arguments, JSON lines, exit status) is the CLI's (`cli/src/guard`).
//!
//! - `identity`: the `sandbox` user and group, as the guards look them up;
//! - `mutex`: NemoClaw's mutation mutex `/run/nemoclaw/openclaw-config-mutation.lock`,
//!   shared with the Python guards, so that nc-harden and they never run at once;
//! - `openclaw`: `preflight` of the top-level config (read-only), and the journal and
//!   posture discriminators every action looks at first;
//! - `python`: how the guards spell paths, reprs and OS errors in their details.
//!
//! Nothing here prints or exits; a failure is a [`GuardError`], the one issue record the
//! guard prints before its failed result.

pub mod identity;
pub mod mutex;
pub mod openclaw;
pub mod python;
pub mod state_dir;

use std::io;

/// NemoClaw's production config directory, the only one its guards act on.
pub const CONFIG_DIR: &str = "/sandbox/.openclaw";
/// The Hermes agent's, which `state-dir-guard.py` also serves (without the mutex).
pub const HERMES_DIR: &str = "/sandbox/.hermes";

/// One issue record: `{"code","detail","path","type":"issue"}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuardError {
    pub code: &'static str,
    /// Bytes, as the guard has them (Python decodes argv with surrogateescape).
    pub path: Vec<u8>,
    pub detail: String,
}

impl GuardError {
    pub fn new(code: &'static str, path: impl AsRef<[u8]>, detail: impl Into<String>) -> Self {
        GuardError {
            code,
            path: path.as_ref().to_vec(),
            detail: detail.into(),
        }
    }
}

/// Why a check stopped: a finding of the guard's own, or an OS error that the guard lets
/// reach its `except OSError` (`operation-failed`, at the path the caller gave, with
/// Python's `str(exc)` as the detail).
#[derive(Debug)]
pub enum Failure {
    Guard(GuardError),
    Os(io::Error, Option<Vec<u8>>),
}

impl From<GuardError> for Failure {
    fn from(e: GuardError) -> Self {
        Failure::Guard(e)
    }
}

impl Failure {
    /// The issue the guard prints for this failure; `config_dir` is `--config-dir` as given.
    pub fn into_issue(self, config_dir: &[u8]) -> GuardError {
        match self {
            Failure::Guard(e) => e,
            Failure::Os(e, name) => GuardError::new(
                "operation-failed",
                config_dir,
                python::os_error(&e, name.as_deref()),
            ),
        }
    }
}

/// An OS error of a call on `name` (Python's `OSError.filename`).
pub(crate) fn os_on(name: &[u8]) -> impl FnOnce(io::Error) -> Failure + '_ {
    move |e| Failure::Os(e, Some(name.to_vec()))
}

/// An OS error of a call on a descriptor (no file name in Python's message).
pub(crate) fn os(e: io::Error) -> Failure {
    Failure::Os(e, None)
}

/// The effective uid: the guards' first precondition is 0 (`root-required`).
pub fn effective_uid() -> u32 {
    crate::sys::fdio::effective_uid()
}
