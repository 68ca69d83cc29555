//! Pinning layers. Each returns what it really did, as read back from the kernel: a flag that
//! did not stick is not claimed.

#![forbid(unsafe_code)]

pub mod immutable;
pub mod leftovers;
pub(crate) mod locked;
pub mod mount;
pub(crate) mod mountinfo;
mod record;

pub(crate) use record::{
    current as current_state_dir, digest_name as state_file_name, held_state_dir,
    open_parent as open_state_parent,
};
pub use record::{lock_in, LockMode, StateDir, StateLock, STATE_DIR};

use std::io;

use crate::report::Action;

pub use mount::MountApi;

/// What a layer did to one inode: the action for the report and the errno behind it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub action: Action,
    pub errno: i32,
}

impl Outcome {
    pub const fn new(action: Action) -> Self {
        Outcome { action, errno: 0 }
    }
}

/// What the kernel's denial `e` is in the contract's words (denied, unsupported), or the
/// error itself when it is none the contract has a status for.
pub(crate) fn denial(e: io::Error) -> io::Result<Outcome> {
    let errno = e.raw_os_error().unwrap_or(0);
    let action = match errno {
        libc::EPERM | libc::EACCES => Action::Denied,
        // EROFS: flags cannot change through a read-only mount (nc-harden's own, say).
        libc::ENOTTY | libc::EOPNOTSUPP | libc::ENOSYS | libc::EROFS => Action::Unsupported,
        _ => return Err(e),
    };
    Ok(Outcome { action, errno })
}
