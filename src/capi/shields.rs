//! The C ABI of the shields (contract, version 0.3): a profile by name or path, the three
//! verbs, and their report. A thin layer over `crate::shields`, as the rest of the ABI is.

use std::ffi::{c_char, CStr, CString};
use std::ptr;

use super::boundary::{arg, arg_or, ffi_boundary};
use super::{nc_status, set_bad_argument};
use crate::error::Error;
use crate::profile::{Accounts, Profile};
use crate::shields::{self, Part, ShieldsReport, Verb};
use crate::status::Status;

crate::contract_table! {
    /// `flags` of the shields calls; any other bit, or TOP_CONFIG with STATE_TREES, or RESEAL
    /// but for up, is NC_BAD_ARGUMENT.
    pub enum ShieldsFlag in C defines {
        /// `flags` of the shields calls, up: write the seal afresh from the current bytes, naming
        /// every file the profile protects (the CLI's `--reseal`).
        Reseal = 1 => NC_SHIELDS_RESEAL "reseal",
        /// `flags`: the top configuration alone (parent, dir, protected files, seal, pins), as
        /// NemoClaw's config guard moves it.
        TopConfig = 2 => NC_SHIELDS_TOP_CONFIG "top_config",
        /// `flags`: the state trees alone, dir clamped root:root 0500 meanwhile, as NemoClaw's
        /// state-dir guard moves them.
        StateTrees = 4 => NC_SHIELDS_STATE_TREES "state_trees",
    }
}

// The table's entries as plain numbers, for Rust callers (cbindgen.toml excludes them: the
// header has them from the table).
pub const NC_SHIELDS_RESEAL: u32 = ShieldsFlag::Reseal.code();
pub const NC_SHIELDS_TOP_CONFIG: u32 = ShieldsFlag::TopConfig.code();
pub const NC_SHIELDS_STATE_TREES: u32 = ShieldsFlag::StateTrees.code();
/// Every bit this version knows.
const NC_SHIELDS_KNOWN: u32 = {
    let (all, mut bits, mut i) = (ShieldsFlag::all(), 0, 0);
    while i < all.len() {
        bits |= all[i].code();
        i += 1;
    }
    bits
};

/// A shields call's report (opaque); free with nc_shields_report_free.
pub struct nc_shields_report {
    report: ShieldsReport,
    summary: CString,
    state: CString,
}

/// # Safety
/// `p` is NULL or a NUL-terminated string.
unsafe fn c_str<'a>(p: *const c_char) -> Option<&'a [u8]> {
    // SAFETY: NULL or valid (the caller's promise).
    unsafe { arg(p) }?;
    // SAFETY: non-NULL and NUL-terminated (the caller's promise).
    Some(unsafe { CStr::from_ptr(p) }.to_bytes())
}

fn load(profile: &[u8], dir: Option<&[u8]>) -> Result<Profile, Error> {
    let name = std::str::from_utf8(profile)
        .map_err(|_| Error::bad("the profile's name or path is not UTF-8"))?;
    let profile = Profile::load(name, &Accounts::system()?)?;
    match dir {
        Some(dir) => profile.with_dir(dir),
        None => Ok(profile),
    }
}

/// The checks of a shields call's arguments, made before it changes anything: the flags,
/// the profile (read, with the users and groups it names) and `dir`. Err: the text of the
/// NC_BAD_ARGUMENT (or another error, on which the call goes on to its report).
///
/// # Safety
/// As the exported functions.
unsafe fn checked(
    verb: Verb,
    profile: *const c_char,
    dir: *const c_char,
    flags: u32,
) -> Result<(Profile, Part), Error> {
    // SAFETY: forwarded caller promises.
    let Some(name) = (unsafe { c_str(profile) }) else {
        return Err(Error::bad("profile is NULL"));
    };
    if flags & !NC_SHIELDS_KNOWN != 0
        || flags & NC_SHIELDS_TOP_CONFIG != 0 && flags & NC_SHIELDS_STATE_TREES != 0
        || flags & NC_SHIELDS_RESEAL != 0 && verb != Verb::Up
    {
        return Err(Error::bad(format!(
            "shields {}: flags {flags:#x}",
            verb.name()
        )));
    }
    // SAFETY: as above.
    let dir = unsafe { c_str(dir) };
    let p = load(name, dir)?;
    let part = if flags & NC_SHIELDS_TOP_CONFIG != 0 {
        Part::TopConfig
    } else if flags & NC_SHIELDS_STATE_TREES != 0 {
        Part::StateTrees
    } else {
        Part::All
    };
    Ok((p, part))
}

/// The text of a bad argument refused before the call changes anything.
fn bad_argument_text(verb: Verb, e: &Error) -> String {
    format!("shields {}: {e}", verb.name())
}

/// nc_shields_status's own check, before the others.
const STATUS_FLAGS_MUST_BE_0: &str = "shields status: flags must be 0";

/// # Safety
/// As the exported functions.
unsafe fn run(
    verb: Verb,
    profile: *const c_char,
    dir: *const c_char,
    flags: u32,
    out: *mut *mut nc_shields_report,
) -> nc_status {
    if !out.is_null() {
        // SAFETY: a non-NULL `out` points to writable storage for one pointer.
        unsafe { *out = ptr::null_mut() };
    }
    let result = ffi_boundary!(Err(Error::bad("internal error (a panic was caught)")), {
        // SAFETY: forwarded caller promises.
        let (p, part) = unsafe { checked(verb, profile, dir, flags) }?;
        Ok(match verb {
            Verb::Up => shields::up(&p, part, flags & NC_SHIELDS_RESEAL != 0),
            Verb::Down => shields::down(&p, part),
            Verb::Status => shields::status(&p),
        }
        .unwrap_or_else(|e| ShieldsReport::from_error(verb, &p.name, &p.dir, &e)))
    });
    let report = match result {
        Ok(r) if r.status != Status::BadArgument => r,
        Ok(r) => {
            set_bad_argument(&r.summary);
            return nc_status::NC_BAD_ARGUMENT;
        }
        Err(e) => {
            let status = e.status();
            if status == Status::BadArgument {
                set_bad_argument(&bad_argument_text(verb, &e));
                return nc_status::NC_BAD_ARGUMENT;
            }
            ShieldsReport::from_error(verb, "", b"", &e)
        }
    };
    let status = report.status;
    if !out.is_null() {
        let boxed = ffi_boundary!(None, {
            let clean = |s: &str| CString::new(s.replace('\0', " ")).unwrap_or_default();
            Some(Box::new(nc_shields_report {
                summary: clean(&report.summary),
                state: clean(report.state.name()),
                report,
            }))
        });
        // SAFETY: as above.
        unsafe { *out = boxed.map_or(ptr::null_mut(), Box::into_raw) };
    }
    status
}

/// Shields up over `profile` (a built-in name, "openclaw" or "hermes", or a profile file's
/// path) on `dir` (NULL: the profile's). NC_OK up and pinned; NC_NO_CAPABILITY up, not
/// pinned; NC_INVALID refused: locked, not verified (fail closed). `out`: NULL for no report;
/// else always written (NULL on NC_BAD_ARGUMENT).
///
/// # Safety
/// Non-NULL pointers must be valid: NUL-terminated strings, `out` writable.
#[no_mangle]
pub unsafe extern "C" fn nc_shields_up(
    profile: *const c_char,
    dir: *const c_char,
    flags: u32,
    out: *mut *mut nc_shields_report,
) -> nc_status {
    // SAFETY: forwarded caller promises.
    unsafe { run(Verb::Up, profile, dir, flags, out) }
}

/// Shields down: unpin and hand back exactly what shields up locked, the parent last.
/// Arguments as nc_shields_up (NC_SHIELDS_RESEAL is NC_BAD_ARGUMENT).
///
/// # Safety
/// As nc_shields_up.
#[no_mangle]
pub unsafe extern "C" fn nc_shields_down(
    profile: *const c_char,
    dir: *const c_char,
    flags: u32,
    out: *mut *mut nc_shields_report,
) -> nc_status {
    // SAFETY: forwarded caller promises.
    unsafe { run(Verb::Down, profile, dir, flags, out) }
}

/// Shields status, read-only: NC_OK up (pinned), NC_NO_CAPABILITY up not pinned,
/// NC_NOT_FROZEN down, NC_INVALID neither. `flags` must be 0.
///
/// # Safety
/// As nc_shields_up.
#[no_mangle]
pub unsafe extern "C" fn nc_shields_status(
    profile: *const c_char,
    dir: *const c_char,
    flags: u32,
    out: *mut *mut nc_shields_report,
) -> nc_status {
    if flags & (NC_SHIELDS_TOP_CONFIG | NC_SHIELDS_STATE_TREES) != 0 {
        set_bad_argument(STATUS_FLAGS_MUST_BE_0);
        return nc_status::NC_BAD_ARGUMENT;
    }
    // SAFETY: forwarded caller promises.
    unsafe { run(Verb::Status, profile, dir, flags, out) }
}

/// Why a shields call (`verb`, an nc_shields_verb) would answer NC_BAD_ARGUMENT for these
/// arguments, as nc_explain_bad_argument does for the other calls: snprintf-like into `buf`,
/// the text's whole length returned, 0 and "" when they are good. A pure call (it reads the
/// profile and /etc/passwd and /etc/group, as the call does), not tied to a thread. A bad
/// argument that a shields call finds only while it runs (a quarantine name it cannot make)
/// is in that call's nc_last_bad_argument alone.
///
/// # Safety
/// As nc_shields_up for `profile` and `dir`; `buf` is NULL or writable for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn nc_shields_explain_bad_argument(
    verb: u32,
    profile: *const c_char,
    dir: *const c_char,
    flags: u32,
    buf: *mut c_char,
    len: usize,
) -> usize {
    ffi_boundary!(0, {
        let text = match Verb::from_code(verb) {
            None => Some(format!("verb {verb} is not an nc_shields_verb")),
            Some(Verb::Status) if flags & (NC_SHIELDS_TOP_CONFIG | NC_SHIELDS_STATE_TREES) != 0 => {
                Some(STATUS_FLAGS_MUST_BE_0.to_string())
            }
            // SAFETY: forwarded caller promises.
            Some(v) => match unsafe { checked(v, profile, dir, flags) } {
                Err(e) if e.status() == Status::BadArgument => Some(bad_argument_text(v, &e)),
                _ => None,
            },
        };
        // SAFETY: forwarded caller promise on `buf` and `len`.
        unsafe { super::write_text(text.as_deref().unwrap_or(""), buf, len) }
    })
}

/// The report's status; NC_BAD_ARGUMENT for NULL.
///
/// # Safety
/// `r` is NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn nc_shields_report_status(r: *const nc_shields_report) -> nc_status {
    ffi_boundary!(nc_status::NC_INTERNAL, {
        arg_or!(r, nc_status::NC_BAD_ARGUMENT).report.status
    })
}

/// The state: "up", "up-not-pinned", "down", "locked-not-verified" or "neither"; "" for
/// NULL. Valid while the report lives.
///
/// # Safety
/// `r` is NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn nc_shields_report_state(r: *const nc_shields_report) -> *const c_char {
    ffi_boundary!(c"".as_ptr(), { arg_or!(r, c"".as_ptr()).state.as_ptr() })
}

/// The one-line summary: the posture, what is protected and against whom. "" for NULL.
///
/// # Safety
/// `r` is NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn nc_shields_report_summary(r: *const nc_shields_report) -> *const c_char {
    ffi_boundary!(c"".as_ptr(), { arg_or!(r, c"".as_ptr()).summary.as_ptr() })
}

/// Whether the immutable flag was read back on every protected file (NemoClaw's
/// `chattrApplied`); false for NULL.
///
/// # Safety
/// `r` is NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn nc_shields_report_chattr_applied(r: *const nc_shields_report) -> bool {
    ffi_boundary!(false, { arg_or!(r, false).report.chattr_applied })
}

/// The report as one JSON object; free with nc_string_free. NULL for NULL.
///
/// # Safety
/// `r` is NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn nc_shields_report_json(r: *const nc_shields_report) -> *mut c_char {
    ffi_boundary!(ptr::null_mut(), {
        let json = arg_or!(r, ptr::null_mut()).report.to_json();
        CString::new(json).map_or(ptr::null_mut(), CString::into_raw)
    })
}

/// Frees a shields report. NULL is fine.
///
/// # Safety
/// `r` is NULL or a report not yet freed.
#[no_mangle]
pub unsafe extern "C" fn nc_shields_report_free(r: *mut nc_shields_report) {
    if !r.is_null() {
        ffi_boundary!((), {
            // SAFETY: `r` came from Box::into_raw in `run` and is freed once (caller promise).
            drop(unsafe { Box::from_raw(r) })
        })
    }
}
