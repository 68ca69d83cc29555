//! Whether this process can run the privileged tests, and the private mount namespace they
//! run in. Under `NC_HARDEN_REQUIRE_PRIVILEGED=1` (set by `.ci/run`) a missing privilege is a
//! failure, never a skip.

use std::io;

use crate::creds::{has_capability, CAP_LINUX_IMMUTABLE, CAP_SYS_ADMIN};

/// The variable under which a missing privilege fails the run.
pub const REQUIRE_VAR: &str = "NC_HARDEN_REQUIRE_PRIVILEGED";

pub fn required() -> bool {
    std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1")
}

/// What is missing for the privileged tests, or None.
pub fn missing() -> Option<String> {
    // SAFETY: plain getter.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not running as root".into());
    }
    for (cap, name) in [
        (CAP_LINUX_IMMUTABLE, "CAP_LINUX_IMMUTABLE"),
        (CAP_SYS_ADMIN, "CAP_SYS_ADMIN"),
    ] {
        if !has_capability(cap) {
            return Some(format!("{name} is not in the effective set"));
        }
    }
    None
}

/// unshare(CLONE_NEWNS) and make every mount private, so that nothing mounted afterwards is
/// seen outside this process; then a fresh tmpfs on /run, so that nc-harden's state records
/// (`/run/nc-harden`) live and die with the namespace too. Must be called while the process
/// has one thread.
pub fn enter_private_mount_namespace() -> io::Result<()> {
    // SAFETY: plain syscalls with constant arguments.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) == -1 {
            return Err(io::Error::last_os_error());
        }
        if libc::mount(
            c"none".as_ptr(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) == -1
        {
            return Err(io::Error::last_os_error());
        }
        if libc::mount(
            c"tmpfs".as_ptr(),
            c"/run".as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            c"mode=0755".as_ptr().cast(),
        ) == -1
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
