//! No panic crosses the C boundary: with the test-only `__panic-test` feature, a freeze of a
//! directory named `nc-harden-panic-test` panics inside the engine; the C ABI must answer
//! NC_INTERNAL with a report that says so, and the process must go on.
//! Run: `cargo test -p nc-harden --features __panic-test --test panic` (scripts/test does).

use std::ffi::{CStr, CString};
use std::ptr;

use nc_harden::capi::{self, nc_report, nc_status};

#[test]
fn a_panic_inside_becomes_nc_internal() {
    let dir = CString::new("/nonexistent-nc/nc-harden-panic-test").unwrap();
    let data = CString::new("/nonexistent-nc/data").unwrap();
    let mut out: *mut nc_report = ptr::NonNull::dangling().as_ptr();
    // SAFETY: valid strings, NULL options, writable out.
    let status =
        unsafe { capi::nc_validate_and_freeze(dir.as_ptr(), data.as_ptr(), ptr::null(), &mut out) };
    assert_eq!(status, nc_status::NC_INTERNAL);
    assert!(!out.is_null(), "the caller still gets a report");
    // SAFETY: a live report, freed once.
    unsafe {
        assert_eq!(capi::nc_report_status(out), nc_status::NC_INTERNAL);
        let summary = CStr::from_ptr(capi::nc_report_summary(out))
            .to_string_lossy()
            .into_owned();
        assert!(summary.contains("NC_INTERNAL"), "{summary}");
        capi::nc_report_free(out);
    }
    // And the library still works after it.
    let fine = CString::new("/nonexistent-nc/.openclaw").unwrap();
    // SAFETY: as above, no report wanted.
    let status =
        unsafe { capi::nc_verify(fine.as_ptr(), data.as_ptr(), ptr::null(), ptr::null_mut()) };
    assert_eq!(status, nc_status::NC_NOT_FOUND);
}

#[test]
fn the_panic_reaches_the_rust_api_as_a_panic() {
    let policy = nc_harden::Policy::builder(
        "/nonexistent-nc/nc-harden-panic-test",
        "/nonexistent-nc/data",
    )
    .build()
    .unwrap();
    let caught = std::panic::catch_unwind(|| policy.validate_and_freeze());
    assert!(
        caught.is_err(),
        "the hook must really panic, or the C test proves nothing"
    );
}

/// A panic half-way through a freeze, after the directory's flag was set: the undo guard
/// takes the flag back while the panic unwinds, so the directory is not left pinned by a call
/// that never answered. Runs as root in a child process of its own mount namespace (a tmpfs
/// for /run and for the directory), so that nothing outside is touched.
#[test]
fn a_panic_half_way_takes_back_what_the_freeze_set() {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        assert!(
            std::env::var_os("NC_HARDEN_REQUIRE_PRIVILEGED").is_none(),
            "this test needs root"
        );
        eprintln!("skipped: needs root (not counted as passed under NC_HARDEN_REQUIRE_PRIVILEGED)");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private"])
        .arg(exe)
        .args(["--exact", "panic_child", "--test-threads=1", "--nocapture"])
        .env("NC_HARDEN_PANIC_CHILD", "1")
        .output()
        .expect("unshare runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "the child: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn panic_child() {
    if std::env::var_os("NC_HARDEN_PANIC_CHILD").is_none() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let run = |args: &[&str]| {
        let ok = std::process::Command::new(args[0])
            .args(&args[1..])
            .status()
            .unwrap()
            .success();
        assert!(ok, "{args:?}");
    };
    run(&["mount", "--make-rprivate", "/"]);
    run(&["mount", "-t", "tmpfs", "-o", "mode=755", "tmpfs", "/run"]);
    let area = std::env::temp_dir().join(format!("nc-harden-panic-{}", std::process::id()));
    std::fs::create_dir(&area).unwrap();
    run(&["mount", "-t", "tmpfs", "tmpfs", area.to_str().unwrap()]);
    let dir = area.join(".openclaw");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(dir.join("openclaw.json"), b"{}\n").unwrap();
    std::fs::set_permissions(
        dir.join("openclaw.json"),
        std::fs::Permissions::from_mode(0o444),
    )
    .unwrap();
    let policy = nc_harden::Policy::flat(&dir)
        .strategy(nc_harden::Strategy::Immutable)
        .build()
        .unwrap();
    // Every step of the freeze in turn: a panic there leaves nothing of the call pinned.
    let pinned = |path: &std::path::Path| {
        let out = std::process::Command::new("lsattr")
            .arg("-d")
            .arg(path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "lsattr {path:?}");
        text.split_whitespace().next().unwrap_or("").contains('i')
    };
    let mut walked = 0;
    for k in 1..50 {
        let at = nc_harden::__steps_taken() + k;
        std::env::set_var("NC_HARDEN_PANIC_AT", at.to_string());
        let caught = std::panic::catch_unwind(|| policy.validate_and_freeze());
        std::env::remove_var("NC_HARDEN_PANIC_AT");
        let left = [pinned(&dir), pinned(&dir.join("openclaw.json"))];
        // Whatever the answer, the scratch directory is cleared before it speaks.
        let _ = policy.unfreeze();
        if caught.is_ok() {
            break;
        }
        assert_eq!(left, [false, false], "pinned after a panic at step {k}");
        walked = k;
    }
    assert!(walked >= 2, "only {walked} steps walked");
    // And the flag was really set first: a freeze without the panic pins it.
    let report = policy.validate_and_freeze().unwrap();
    assert_eq!(
        report.status(),
        nc_harden::Status::Ok,
        "{}",
        report.summary()
    );
    assert!(policy.unfreeze().is_ok());
    // The mount point goes too: the tmpfs over it ends with the namespace, the directory
    // itself would be left in the machine's temporary directory.
    run(&["umount", area.to_str().unwrap()]);
    std::fs::remove_dir(&area).unwrap();
}
