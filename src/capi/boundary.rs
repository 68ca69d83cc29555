//! The two mechanisms every exported function goes through, written once (as rustls-ffi
//! does): one panic boundary, and one way of turning a caller's pointer into a reference.

/// Runs `$body` so that no panic crosses into C: a panic yields `$fallback` instead.
/// `return` inside `$body` leaves the body with that value.
macro_rules! ffi_boundary {
    ($fallback:expr, $body:block) => {
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $body)) {
            Ok(value) => value,
            Err(_) => $fallback,
        }
    };
}

/// `Some(&T)` for a non-NULL pointer, `None` for NULL.
///
/// # Safety
/// A non-NULL `ptr` must point to a valid `T` that outlives `'a` and is not mutated meanwhile:
/// the C caller's side of the contract.
pub(super) unsafe fn arg<'a, T>(ptr: *const T) -> Option<&'a T> {
    // SAFETY: the caller guarantees that a non-NULL pointer is valid for 'a.
    unsafe { ptr.as_ref() }
}

/// Dereferences an argument or returns `$fallback` from the enclosing function or boundary.
macro_rules! arg_or {
    ($ptr:expr, $fallback:expr) => {
        // SAFETY: non-NULL pointers passed to the API must be valid (documented in the header).
        match unsafe { $crate::capi::boundary::arg($ptr) } {
            Some(value) => value,
            None => return $fallback,
        }
    };
}

pub(super) use {arg_or, ffi_boundary};
