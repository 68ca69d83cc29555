//! Kill points, for the crash-safety tests only (features `__kill-points` and `__panic-test`,
//! never in a release build): every step of freeze and unfreeze that changes something calls
//! `step()`, and the process kills itself with SIGKILL at the step `NC_HARDEN_KILL_AT` names
//! (1 is the first), or panics at the step `NC_HARDEN_PANIC_AT` names.
//! `NC_HARDEN_KILL_COUNT=1` prints the number of steps a call passed, to stderr, at each.

#![forbid(unsafe_code)]

#[cfg(any(feature = "__kill-points", feature = "__panic-test"))]
static STEPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The steps this process has passed so far (the panic test walks them).
#[cfg(feature = "__panic-test")]
pub fn steps_taken() -> usize {
    STEPS.load(std::sync::atomic::Ordering::SeqCst)
}

#[cfg(any(feature = "__kill-points", feature = "__panic-test"))]
pub fn step() {
    use std::sync::atomic::Ordering;
    let n = STEPS.fetch_add(1, Ordering::SeqCst) + 1;
    if std::env::var_os("NC_HARDEN_KILL_COUNT").is_some() {
        eprintln!("nc-harden kill point {n}");
    }
    let at = |var: &str| {
        std::env::var(var)
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
    };
    #[cfg(feature = "__kill-points")]
    if at("NC_HARDEN_KILL_AT") == Some(n) {
        crate::sys::files::kill_self();
    }
    #[cfg(feature = "__panic-test")]
    if at("NC_HARDEN_PANIC_AT") == Some(n) {
        panic!("forced at step {n} by the panic-test feature");
    }
}

#[cfg(not(any(feature = "__kill-points", feature = "__panic-test")))]
#[inline(always)]
pub fn step() {}
