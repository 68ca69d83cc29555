//! nc-harden: check a configuration directory of symlinks against a strict policy, then pin it
//! so that it can no longer change, and report the truth entry by entry.
//!
//! ```no_run
//! use nc_harden::{Policy, Status};
//!
//! let policy = Policy::builder("/sandbox/.openclaw", "/sandbox/.openclaw-data")
//!     .require("openclaw.json")
//!     .build()?;
//! let report = policy.validate_and_freeze()?;
//! if report.status() != Status::Ok {
//!     eprintln!("[SECURITY] {}", report.summary());
//! }
//! # Ok::<(), nc_harden::Error>(())
//! ```
//!
//! The layout of the source follows the architecture: `inode` (what the kernel says of an
//! inode), `rules` (pure rules over it), `walk` (safe resolution), `pin` (the layers), `status`
//! and `report`, `engine` (the operations), `sys` (the only raw
//! syscalls) and `capi` (the C ABI). The contract is `docs/contract.md`; the way a call goes
//! through these, `docs/architecture.md`.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod capi;
mod engine;
mod error;
mod escape;
mod fileops;
pub mod guard;
mod inode;
mod killpoint;
/// Test-only (feature `__panic-test`): the kill points passed so far.
#[cfg(feature = "__panic-test")]
#[doc(hidden)]
pub use killpoint::steps_taken as __steps_taken;
mod pin;
pub mod profile;
mod report;
pub mod rules;
pub mod shields;
mod status;
mod sys;
#[doc(hidden)]
pub mod table;
mod walk;

pub use engine::{HandTo, Policy, PolicyBuilder, Strategy};
pub use error::{Error, ErrorKind};
pub use escape::{escape_bytes, escape_controls};
pub use inode::{FileKind, Meta, Mount};
/// Test-only (feature `__test-knobs`): forces the mount(2) fallback.
#[cfg(feature = "__test-knobs")]
#[doc(hidden)]
pub use pin::mount::MountApi;
pub use pin::{StateDir, STATE_DIR};
pub use report::{
    Action, Entry, Found, Layer, LayerAttempt, Layers, Operation, Report, SealResult,
};
pub use status::Status;
/// Test-only (feature `__test-knobs`): forces the fallback walk.
#[cfg(feature = "__test-knobs")]
#[doc(hidden)]
pub use walk::Resolution;

/// The library's version, as `nc_version()` returns it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
