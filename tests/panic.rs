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
