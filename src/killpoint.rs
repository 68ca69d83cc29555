//! Kill points, for the crash-safety tests only (feature `__kill-points`, never in a release
//! build): every step of freeze and unfreeze that changes something calls `step()`, and the
//! process kills itself with SIGKILL at the step `NC_HARDEN_KILL_AT` names (1 is the first).
//! `NC_HARDEN_KILL_COUNT=1` prints the number of steps a call passed, to stderr, at each.

#![forbid(unsafe_code)]

#[cfg(feature = "__kill-points")]
pub fn step() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static STEPS: AtomicUsize = AtomicUsize::new(0);
    let n = STEPS.fetch_add(1, Ordering::SeqCst) + 1;
    if std::env::var_os("NC_HARDEN_KILL_COUNT").is_some() {
        eprintln!("nc-harden kill point {n}");
    }
    let at = std::env::var("NC_HARDEN_KILL_AT")
        .ok()
        .and_then(|v| v.parse::<usize>().ok());
    if at == Some(n) {
        crate::sys::files::kill_self();
    }
}

#[cfg(not(feature = "__kill-points"))]
#[inline(always)]
pub fn step() {}
