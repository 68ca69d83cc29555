//! What nc-harden's tests and its demo share: the NemoClaw layout of
//! `shared/design/workload.md`, the attacks of its threat model, credentials to run them
//! with, and guards that leave nothing behind (no flag, no mount) even when a test fails.
//!
//! It reads flags and mounts by its own syscalls, never through nc-harden, so that a test
//! checks the library against the kernel and not against itself.

pub mod attacks;
pub mod creds;
pub mod fs;
pub mod layout;
pub mod privilege;

pub use attacks::{Attack, ATTACKS};
pub use creds::{command_as, run_as, run_denying, Creds};
pub use fs::{
    bind, bind_writable, immutable_flag, mount_over, mounts_at, unmount, FsKind, MountEntry,
    Scratch,
};
pub use layout::{
    check_from_outside, sha256_line, Case, Expect, Flat, Layout, Tamper, Variant, SANDBOX_UID,
};
