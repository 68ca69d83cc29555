//! What every module of the suite shares (each takes it with `use super::*`): the imports the
//! tests use most, `ensure!`, the shape of a registered test (`Trial`) and the helpers that
//! more than one feature's tests call.

use std::os::unix::fs::PermissionsExt;

pub use std::fs;
pub use std::io;
pub use std::path::{Path, PathBuf};
pub use std::process::Command;
pub use std::time::Duration;

pub use super::common::native::{compile_c, ensure_ok};
pub use super::common::{Call, Face, Op, Outcome};
pub use libtest_mimic::Failed;
pub use nc_harden::rules::Reason;
pub use nc_harden::{escape_bytes, Action, Status, Strategy};
pub use nc_harden_testkit::creds::{CAP_LINUX_IMMUTABLE, CAP_SYS_ADMIN};
pub use nc_harden_testkit::{
    immutable_flag, privilege, run_as, Creds, Expect, FsKind, Layout, Scratch, Tamper, Variant,
    ATTACKS, SANDBOX_UID,
};

pub type TestResult = Result<(), Failed>;

/// A test's body: it runs on the directory of the area it was registered on.
pub type Body = Box<dyn FnOnce(&Path) -> TestResult + Send>;

/// One test as a module registers it: its name, the filesystem of its area, its body.
/// Every module has `pub fn trials() -> Vec<Trial>`; main.rs collects them.
pub type Trial = (String, FsKind, Body);

/// A registered test (the boxing said once).
pub fn trial(
    name: impl Into<String>,
    kind: FsKind,
    body: impl FnOnce(&Path) -> TestResult + Send + 'static,
) -> Trial {
    (name.into(), kind, Box::new(body))
}

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        let holds: bool = $cond;
        if !holds {
            return Err(format!($($msg)+).into());
        }
    };
}
pub(crate) use ensure;

/// The root process of the threat model: uid 0 (DAC bypassed), without CAP_LINUX_IMMUTABLE
/// and CAP_SYS_ADMIN.
pub const ROOT_ATTACKER: Creds = Creds::RootWithout(&[CAP_LINUX_IMMUTABLE, CAP_SYS_ADMIN]);

/// A launcher as sandbox runtimes start it: CAP_SYS_ADMIN, no CAP_LINUX_IMMUTABLE.
pub const NO_IMMUTABLE: Creds = Creds::RootWithout(&[CAP_LINUX_IMMUTABLE]);

pub fn chown(path: &Path, uid: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid))
}

pub fn chmod(path: &Path, mode: u32) -> io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

pub fn expect_rejected(out: &Outcome, name: &str, reason: Reason) -> TestResult {
    expect_status(out, Status::Invalid)?;
    let r = out.record(name);
    ensure!(
        r.action == Action::Rejected && r.reason == reason,
        "{name}: expected {reason:?}, got {r:?}"
    );
    Ok(())
}

pub fn call_of(l: &Layout) -> Call {
    let mut call = Call::new(&l.dir, &l.data, l.owner);
    call.require = vec!["openclaw.json".into(), ".config-hash".into()];
    call
}

/// Every inode of `dir` (and `dir` itself) with its immutable flag, read without nc-harden.
pub fn flags(dir: &Path) -> io::Result<Vec<(PathBuf, bool)>> {
    let mut out = vec![(dir.to_path_buf(), immutable_flag(dir)?)];
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        out.push((path.clone(), immutable_flag(&path)?));
    }
    out.sort();
    Ok(out)
}

pub fn with_timeout<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Failed> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(30))
        .map_err(|_| "the call blocked for 30 s".into())
}

pub fn expect_status(out: &Outcome, status: Status) -> TestResult {
    ensure!(
        out.status == status,
        "expected {}, got {}: {}",
        status.name(),
        out.status.name(),
        out.summary
    );
    Ok(())
}
