//! The C ABI: a thin layer that converts arguments, calls the engine and converts the result.
//! No logic lives only here. `include/nc_harden.h` is generated from this module by cbindgen.
#![allow(non_camel_case_types)]

pub(crate) mod boundary;
pub mod shields;

use std::ffi::{c_char, CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::ptr;

use boundary::{arg_or, ffi_boundary};

use crate::inode::FileKind;
use crate::report::{Action, Operation, Report};
use crate::rules::Reason;
use crate::status::Status;
use crate::{Error, Policy, Strategy};

/// The status a call returns: the contract's one table (`src/status.rs`), under its C name.
pub use crate::status::Status as nc_status;
/// `nc_options.strategy`: the contract's one table (`src/engine/mod.rs`), under its C name.
pub use crate::Strategy as nc_strategy;

crate::contract_table! {
    /// `nc_options.flags` bits; any other bit is NC_BAD_ARGUMENT.
    pub enum Flag in C defines {
        /// `nc_options.flags`: also set FS_IMMUTABLE_FL on data_dir's own inode (its set of names
        /// fixed, their contents still writable; it cannot be renamed away). The immutable layer
        /// only: NC_PARTIAL where it cannot be set. nc_unfreeze with it clears that flag too.
        PinDataDir = 1 => NC_FLAG_PIN_DATA_DIR "pin_data_dir",
        /// `nc_options.flags`: a link that reads exactly data_dir/<name> whose data_dir/<name> does
        /// not exist yet is accepted (and reported); a symlink there is still rejected.
        AllowMissing = 2 => NC_FLAG_ALLOW_MISSING "allow_missing",
        /// `nc_options.flags`, freeze: first write the seal (opts->seal) from the current bytes of
        /// the files it names (every other regular file of dir where it does not exist yet).
        Reseal = 4 => NC_FLAG_RESEAL "reseal",
        /// `nc_options.flags`, freeze: bring dir (owner_uid, 0755) and its regular files
        /// (owner_uid, 0444, on fresh inodes) to the locked posture before pinning.
        LockPosture = 8 => NC_FLAG_LOCK_POSTURE "lock_posture",
        /// `nc_options.flags`, unfreeze: hand dir and its regular files back as hand_to_uid,
        /// hand_to_gid, dir_mode and file_mode say. (A flag of its own, so that a zero-initialised
        /// struct never hands a directory to root with mode 0.)
        HandTo = 16 => NC_FLAG_HAND_TO "hand_to",
    }
}

impl Flag {
    /// Whether `flags` has this bit.
    fn is_in(self, flags: u32) -> bool {
        flags & self.code() != 0
    }
}

/// Every flag bit this version knows; any other bit is NC_BAD_ARGUMENT.
const NC_FLAGS_KNOWN: u32 = {
    let (all, mut bits, mut i) = (Flag::all(), 0, 0);
    while i < all.len() {
        bits |= all[i].code();
        i += 1;
    }
    bits
};

crate::contract_table! {
    /// The values of `nc_report_posture`.
    pub enum Posture in C defines {
        /// `nc_report_posture`: the call did not look (no seal, no posture asked for).
        Unknown = 0 => NC_POSTURE_UNKNOWN "unknown",
        /// `nc_report_posture`: dir is owner_uid's, 0755, its regular files owner_uid's, 0444.
        Locked = 1 => NC_POSTURE_LOCKED "locked",
        /// `nc_report_posture`: anything else (NemoClaw's mutable posture, say).
        Unlocked = 2 => NC_POSTURE_UNLOCKED "unlocked",
    }
}

// The tables' entries as plain numbers, for Rust callers of this module that spell them as
// C does (`opts.flags = NC_FLAG_RESEAL`). The header takes them from the tables, not from
// here: cbindgen.toml excludes these names.
pub const NC_LAYER_IMMUTABLE: u32 = crate::Layer::Immutable.code();
pub const NC_LAYER_MOUNT: u32 = crate::Layer::Mount.code();
pub const NC_LAYER_DATA_DIR: u32 = crate::Layer::DataDir.code();
pub const NC_FLAG_PIN_DATA_DIR: u32 = Flag::PinDataDir.code();
pub const NC_FLAG_ALLOW_MISSING: u32 = Flag::AllowMissing.code();
pub const NC_FLAG_RESEAL: u32 = Flag::Reseal.code();
pub const NC_FLAG_LOCK_POSTURE: u32 = Flag::LockPosture.code();
pub const NC_FLAG_HAND_TO: u32 = Flag::HandTo.code();
pub const NC_POSTURE_UNKNOWN: u32 = Posture::Unknown.code();
pub const NC_POSTURE_LOCKED: u32 = Posture::Locked.code();
pub const NC_POSTURE_UNLOCKED: u32 = Posture::Unlocked.code();

/// Options of a call. Zero-initialise, set `size = sizeof(nc_options)`, then the fields.
/// As with openat2's `struct open_how`, the struct may grow: a smaller `size` than this
/// first version, one that ends inside a field, or a larger one with a non-zero byte past
/// what the library knows, is NC_BAD_ARGUMENT; a larger one with zeroes is accepted.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct nc_options {
    /// sizeof(nc_options) as the caller knows it.
    pub size: u32,
    /// NC_FLAG_* bits; unknown bits are NC_BAD_ARGUMENT.
    pub flags: u32,
    /// Required owner of dir and of its regular files; default 0.
    pub owner_uid: u32,
    /// An nc_strategy.
    pub strategy: u32,
    /// NULL-terminated array of entry names that must exist, or NULL.
    pub required: *const *const c_char,
    /// A regular file of dir in sha256sum format, whose digests are checked against the
    /// pinned bytes (freeze: after pinning; verify: read-only), or NULL. (Version 0.2.)
    pub seal: *const c_char,
    /// nc_unfreeze with NC_FLAG_HAND_TO: the owner, group and modes dir and its regular
    /// files are handed back in; NC_LEAVE leaves that one as it is.
    pub hand_to_uid: u32,
    pub hand_to_gid: u32,
    pub dir_mode: u32,
    pub file_mode: u32,
}

/// `nc_options` value: leave this attribute as it is.
pub const NC_LEAVE: u32 = u32::MAX;

/// One record of a report. `name` points into the report (valid until nc_report_free): its
/// `name_len` bytes need not be UTF-8, and a NUL follows them. The directory itself is the
/// record named ".".
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct nc_entry {
    pub name: *const c_char,
    pub name_len: usize,
    pub kind: FileKind,
    pub action: Action,
    pub reason: Reason,
    /// The errno behind the action or reason, 0 where there is none.
    pub error: i32,
}

/// An opaque report: what a call found and did. Free with nc_report_free.
pub struct nc_report {
    report: Report,
    summary: CString,
    names: Vec<CString>,
}

impl nc_report {
    fn new(report: Report) -> Self {
        let to_c = |bytes: &[u8]| CString::new(bytes).unwrap_or_default();
        nc_report {
            summary: to_c(report.summary().as_bytes()),
            names: report.entries().iter().map(|e| to_c(&e.name)).collect(),
            report,
        }
    }
}

/// The first version of nc_options (`size` to `required`); the size below which a struct is
/// refused.
const OPTIONS_SIZE_VER0: usize = std::mem::offset_of!(nc_options, seal);
/// This version of nc_options.
const OPTIONS_SIZE: usize = std::mem::size_of::<nc_options>();
/// Where each field of nc_options ends: the sizes a caller's struct may have, since every
/// version is a prefix that ends after a whole field (24 to 48 on 64-bit targets).
const OPTIONS_FIELD_ENDS: [usize; 6] = {
    macro_rules! end {
        ($field:ident, $ty:ty) => {
            std::mem::offset_of!(nc_options, $field) + std::mem::size_of::<$ty>()
        };
    }
    [
        end!(required, *const *const c_char),
        end!(seal, *const c_char),
        end!(hand_to_uid, u32),
        end!(hand_to_gid, u32),
        end!(dir_mode, u32),
        end!(file_mode, u32),
    ]
};
// A field added to nc_options must be added to OPTIONS_FIELD_ENDS too.
const _: () = assert!(OPTIONS_FIELD_ENDS[OPTIONS_FIELD_ENDS.len() - 1] == OPTIONS_SIZE);
/// No nc_options will ever be larger than a page (openat2 draws the same line).
const OPTIONS_SIZE_MAX: usize = 4096;
/// A bound on `required`, so that an unterminated array is refused rather than run off.
const REQUIRED_MAX: usize = 65_536;

/// The options of a caller that passes none, and the value of every field a smaller (older)
/// struct does not have.
const DEFAULT_OPTIONS: nc_options = nc_options {
    size: OPTIONS_SIZE as u32,
    flags: 0,
    owner_uid: 0,
    strategy: 0,
    required: ptr::null(),
    seal: ptr::null(),
    hand_to_uid: NC_LEAVE,
    hand_to_gid: NC_LEAVE,
    dir_mode: NC_LEAVE,
    file_mode: NC_LEAVE,
};

/// Reads `opts` under the extensible-struct rule: the fields an older (smaller) struct has,
/// the defaults for the others; refused when smaller than the first version, when it ends
/// inside a field, or larger with a non-zero byte past this version.
///
/// # Safety
/// `opts` is NULL or points to `opts->size` readable bytes.
unsafe fn read_options(opts: *const nc_options) -> Result<nc_options, Error> {
    // SAFETY: NULL or a valid nc_options (the caller's promise), whose first field is `size`.
    let Some(first) = (unsafe { boundary::arg(opts.cast::<u32>()) }) else {
        return Ok(DEFAULT_OPTIONS);
    };
    let size = *first as usize;
    if size < OPTIONS_SIZE_VER0 {
        return Err(Error::bad(
            "opts->size is smaller than the first version of nc_options",
        ));
    }
    if size > OPTIONS_SIZE_MAX {
        return Err(Error::bad("opts->size is larger than any nc_options"));
    }
    if size < OPTIONS_SIZE && !OPTIONS_FIELD_ENDS.contains(&size) {
        // A size inside a field would leave half of it (half a pointer) to be read as the
        // default's other half: no version of the struct ever ended there.
        return Err(Error::bad(
            "opts->size ends inside a field of nc_options (not the size of any version)",
        ));
    }
    // SAFETY: the caller promises `size` readable bytes at `opts`.
    let bytes = unsafe { std::slice::from_raw_parts(opts.cast::<u8>(), size) };
    if bytes
        .get(OPTIONS_SIZE..)
        .is_some_and(|tail| tail.iter().any(|&b| b != 0))
    {
        return Err(Error::bad(
            "opts has non-zero fields this version does not know",
        ));
    }
    let mut read = DEFAULT_OPTIONS;
    let known = size.min(OPTIONS_SIZE);
    // SAFETY: `known` bytes are readable at `opts` and writable at `read`, whose layout is
    // the same up to there; every bit pattern of the copied fields is a valid value.
    unsafe {
        ptr::copy_nonoverlapping(
            opts.cast::<u8>(),
            (&mut read as *mut nc_options).cast::<u8>(),
            known,
        )
    };
    Ok(read)
}

/// # Safety
/// `p` is NULL or a NUL-terminated string.
unsafe fn c_path<'a>(p: *const c_char, what: &str) -> Result<&'a std::path::Path, Error> {
    // SAFETY: NULL or a valid string (the caller's promise): the one NULL check of the ABI.
    if unsafe { boundary::arg(p) }.is_none() {
        return Err(Error::bad(format!("{what} is NULL")));
    }
    // SAFETY: non-NULL, and the caller promises a NUL-terminated string.
    let s = unsafe { CStr::from_ptr(p) };
    Ok(std::path::Path::new(std::ffi::OsStr::from_bytes(
        s.to_bytes(),
    )))
}

/// # Safety
/// As the exported functions: valid strings, `opts` NULL or valid for `opts->size` bytes,
/// `opts->required` NULL or a NULL-terminated array of strings.
unsafe fn build_policy(
    dir: *const c_char,
    data_dir: *const c_char,
    opts: *const nc_options,
) -> Result<Policy, Error> {
    // SAFETY: forwarded caller promises.
    let (dir, opts) = unsafe { (c_path(dir, "dir")?, read_options(opts)?) };
    // SAFETY: NULL (a flat layout) or a valid string (the caller's promise).
    let data_dir = match unsafe { boundary::arg(data_dir) } {
        None => None,
        // SAFETY: as above.
        Some(_) => Some(unsafe { c_path(data_dir, "data_dir")? }),
    };
    if opts.flags & !NC_FLAGS_KNOWN != 0 {
        return Err(Error::bad(
            "opts->flags has bits this version does not know",
        ));
    }
    if opts.owner_uid == u32::MAX {
        return Err(Error::bad("opts->owner_uid is (uid_t)-1"));
    }
    let strategy = Strategy::from_code(opts.strategy)
        .ok_or_else(|| Error::bad("opts->strategy is not an nc_strategy"))?;
    let flag = |bit: Flag| bit.is_in(opts.flags);
    let leave = |v: u32| (v != NC_LEAVE).then_some(v);
    let mut builder = match data_dir {
        Some(data_dir) => Policy::builder(dir, data_dir),
        None => Policy::flat(dir),
    }
    .owner(opts.owner_uid)
    .strategy(strategy)
    .pin_data_dir(flag(Flag::PinDataDir))
    .allow_missing(flag(Flag::AllowMissing))
    .reseal(flag(Flag::Reseal))
    .lock_posture(flag(Flag::LockPosture));
    if flag(Flag::HandTo) {
        builder = builder.hand_to(crate::HandTo {
            uid: leave(opts.hand_to_uid),
            gid: leave(opts.hand_to_gid),
            dir_mode: leave(opts.dir_mode),
            file_mode: leave(opts.file_mode),
        });
    }
    // SAFETY: NULL or a NUL-terminated string (the caller's promise).
    if unsafe { boundary::arg(opts.seal) }.is_some() {
        // SAFETY: as above, and non-NULL.
        builder = builder.seal(unsafe { CStr::from_ptr(opts.seal) }.to_bytes());
    }
    if !opts.required.is_null() {
        for i in 0.. {
            if i == REQUIRED_MAX {
                return Err(Error::bad(
                    "opts->required has too many names (or no NULL at its end)",
                ));
            }
            // SAFETY: `required` is a NULL-terminated array; we stop at its NULL.
            let name = unsafe { *opts.required.add(i) };
            if name.is_null() {
                break;
            }
            // SAFETY: each element before the NULL is a NUL-terminated string.
            builder = builder.require(unsafe { CStr::from_ptr(name) }.to_bytes());
        }
    }
    builder.build()
}

/// The shared body of the three calls: `*out` is written first (NULL), then with the report.
///
/// # Safety
/// As the exported functions.
unsafe fn run(
    operation: Operation,
    dir: *const c_char,
    data_dir: *const c_char,
    opts: *const nc_options,
    out: *mut *mut nc_report,
    call: fn(&Policy) -> Result<Report, Error>,
) -> nc_status {
    if !out.is_null() {
        // SAFETY: a non-NULL `out` points to writable storage for one pointer.
        unsafe { *out = ptr::null_mut() };
    }
    let report = ffi_boundary!(Ok(Report::internal(operation, b"")), {
        // SAFETY: forwarded caller promises.
        unsafe { build_policy(dir, data_dir, opts) }
            .map(|policy| Report::from_result(operation, policy.dir(), call(&policy)))
    });
    let report = match report {
        Ok(report) => report,
        Err(bad) => {
            set_bad_argument(&bad_argument_text(operation, &bad));
            return nc_status::NC_BAD_ARGUMENT;
        }
    };
    // A bad argument has no report, also when it shows only once the paths are opened
    // (dir and data_dir the same directory under two names).
    if report.status() == Status::BadArgument {
        set_bad_argument(report.summary());
        return nc_status::NC_BAD_ARGUMENT;
    }
    let status = report.status();
    if !out.is_null() {
        let boxed = ffi_boundary!(None, { Some(Box::new(nc_report::new(report))) });
        // SAFETY: as above.
        unsafe { *out = boxed.map_or(ptr::null_mut(), Box::into_raw) };
    }
    status
}

/// The text of a bad argument refused before any path is opened, as nc_last_bad_argument and
/// nc_explain_bad_argument give it.
fn bad_argument_text(operation: Operation, bad: &Error) -> String {
    format!("{}: {bad}", operation.name())
}

/// The text of the NC_BAD_ARGUMENT that `operation` would answer for these arguments, or
/// None when they are good; changes nothing (opens the paths O_PATH at most).
///
/// # Safety
/// As the exported functions.
unsafe fn explain(
    operation: Operation,
    dir: *const c_char,
    data_dir: *const c_char,
    opts: *const nc_options,
) -> Option<String> {
    // SAFETY: forwarded caller promises.
    match unsafe { build_policy(dir, data_dir, opts) } {
        Err(bad) => Some(bad_argument_text(operation, &bad)),
        // The text `run` gives for one found once the paths are opened: the report's summary.
        Ok(policy) => policy.check_bad_argument_on_disk().err().map(|bad| {
            Report::from_error(operation, policy.dir(), &bad)
                .summary()
                .to_string()
        }),
    }
}

/// Why `op` (an nc_operation) would answer NC_BAD_ARGUMENT for these arguments, written to
/// `buf` as snprintf does: at most `len - 1` bytes and a NUL (nothing when `len` is 0 or
/// `buf` NULL). Returns the text's whole length, without its NUL; 0, and "" in `buf`, when
/// the arguments are good (the call would not answer NC_BAD_ARGUMENT for them). An `op`
/// that is no nc_operation is explained too.
///
/// A pure call: it checks what nc_validate_and_freeze, nc_verify or nc_unfreeze check before
/// they change anything, and changes nothing. Unlike nc_last_bad_argument, the text is not
/// tied to a thread: it can be asked from any thread, at any time after the call (callers
/// whose threads move, such as Go's, ask it with the arguments they passed).
///
/// # Safety
/// As nc_validate_and_freeze for `dir`, `data_dir` and `opts`; `buf` is NULL or writable for
/// `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn nc_explain_bad_argument(
    op: u32,
    dir: *const c_char,
    data_dir: *const c_char,
    opts: *const nc_options,
    buf: *mut c_char,
    len: usize,
) -> usize {
    ffi_boundary!(0, {
        let text = match Operation::from_code(op) {
            None => Some(format!("op {op} is not an nc_operation")),
            // SAFETY: forwarded caller promises.
            Some(operation) => unsafe { explain(operation, dir, data_dir, opts) },
        };
        // SAFETY: forwarded caller promise on `buf` and `len`.
        unsafe { write_text(text.as_deref().unwrap_or(""), buf, len) }
    })
}

/// Writes `text` to `buf` as snprintf does (at most `len - 1` bytes, then a NUL; nothing when
/// `buf` is NULL or `len` 0; a NUL in the text becomes a space) and returns its whole length.
///
/// # Safety
/// `buf` is NULL or writable for `len` bytes.
pub(crate) unsafe fn write_text(text: &str, buf: *mut c_char, len: usize) -> usize {
    let text = text.replace('\0', " ");
    if !buf.is_null() && len > 0 {
        let n = text.len().min(len - 1);
        // SAFETY: `buf` is writable for `len` bytes (caller promise) and `n < len`.
        unsafe {
            ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), n);
            buf.add(n).write(0);
        }
    }
    text.len()
}

thread_local! {
    /// The text of this thread's last NC_BAD_ARGUMENT (a bad argument has no report).
    static BAD_ARGUMENT: std::cell::RefCell<CString> = std::cell::RefCell::new(CString::default());
}

fn set_bad_argument(text: &str) {
    let text = CString::new(text.replace('\0', " ")).unwrap_or_default();
    BAD_ARGUMENT.with(|last| *last.borrow_mut() = text);
}

/// Why the last call on this thread answered NC_BAD_ARGUMENT (which writes no report), in one
/// line; "" before any. Valid until the next call of this library on this thread. Tied to the
/// thread: a caller whose threads move (Go) asks nc_explain_bad_argument instead.
#[no_mangle]
pub extern "C" fn nc_last_bad_argument() -> *const c_char {
    ffi_boundary!(c"".as_ptr(), {
        BAD_ARGUMENT.with(|last| last.borrow().as_ptr())
    })
}

/// Validates `dir` against `data_dir` and pins it: pin first, validate what is pinned, read
/// every flag back; on NC_INVALID every change of this call is taken back.
///
/// `dir`, `data_dir`: absolute, normalized paths. `opts`: NULL for defaults. `out`: NULL for
/// no report; otherwise always written: a report (free with nc_report_free), or NULL on
/// NC_BAD_ARGUMENT.
///
/// # Safety
/// Non-NULL pointers must be valid: NUL-terminated strings, `opts` readable for
/// `opts->size` bytes, `out` writable.
#[no_mangle]
pub unsafe extern "C" fn nc_validate_and_freeze(
    dir: *const c_char,
    data_dir: *const c_char,
    opts: *const nc_options,
    out: *mut *mut nc_report,
) -> nc_status {
    // SAFETY: forwarded caller promises.
    unsafe {
        run(
            Operation::Freeze,
            dir,
            data_dir,
            opts,
            out,
            Policy::validate_and_freeze,
        )
    }
}

/// Read-only check: NC_OK when valid and pinned, NC_NOT_FROZEN when valid and not pinned.
/// Arguments as nc_validate_and_freeze.
///
/// # Safety
/// As nc_validate_and_freeze.
#[no_mangle]
pub unsafe extern "C" fn nc_verify(
    dir: *const c_char,
    data_dir: *const c_char,
    opts: *const nc_options,
    out: *mut *mut nc_report,
) -> nc_status {
    // SAFETY: forwarded caller promises.
    unsafe { run(Operation::Verify, dir, data_dir, opts, out, Policy::verify) }
}

/// Removes what a freeze added, for maintenance; needs no valid layout. NC_OK on a directory
/// that is not frozen. Arguments as nc_validate_and_freeze.
///
/// # Safety
/// As nc_validate_and_freeze.
#[no_mangle]
pub unsafe extern "C" fn nc_unfreeze(
    dir: *const c_char,
    data_dir: *const c_char,
    opts: *const nc_options,
    out: *mut *mut nc_report,
) -> nc_status {
    // SAFETY: forwarded caller promises.
    unsafe {
        run(
            Operation::Unfreeze,
            dir,
            data_dir,
            opts,
            out,
            Policy::unfreeze,
        )
    }
}

/// The status of the call that made `r`; NC_BAD_ARGUMENT for NULL.
///
/// # Safety
/// `r` is NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn nc_report_status(r: *const nc_report) -> nc_status {
    ffi_boundary!(nc_status::NC_INTERNAL, {
        arg_or!(r, nc_status::NC_BAD_ARGUMENT).report.status()
    })
}

/// One line, safe to log (names escaped), valid until nc_report_free; "" for NULL.
///
/// # Safety
/// `r` is NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn nc_report_summary(r: *const nc_report) -> *const c_char {
    ffi_boundary!(c"".as_ptr(), { arg_or!(r, c"".as_ptr()).summary.as_ptr() })
}

/// Bits NC_LAYER_*: the pinning layers in place after the call.
///
/// # Safety
/// `r` is NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn nc_report_layers(r: *const nc_report) -> u32 {
    ffi_boundary!(0, { arg_or!(r, 0).report.layers().bits() })
}

/// What layer `layer` (NC_LAYER_IMMUTABLE or NC_LAYER_MOUNT) answered on the directory:
/// writes its action and errno and returns true; false (writing nothing) when the call did
/// not try that layer or a pointer is NULL.
///
/// # Safety
/// `r` is NULL or a live report; `action` and `error` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn nc_report_layer(
    r: *const nc_report,
    layer: u32,
    action: *mut Action,
    error: *mut i32,
) -> bool {
    ffi_boundary!(false, {
        let r = arg_or!(r, false);
        if action.is_null() || error.is_null() {
            return false;
        }
        let Some(attempt) = r.report.attempts().iter().find(|a| a.layer as u32 == layer) else {
            return false;
        };
        // SAFETY: both pointers are non-NULL and writable (caller promise).
        unsafe {
            action.write(attempt.action);
            error.write(attempt.errno);
        }
        true
    })
}

/// Number of records; 0 for NULL.
///
/// # Safety
/// `r` is NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn nc_report_len(r: *const nc_report) -> usize {
    ffi_boundary!(0, { arg_or!(r, 0).report.entries().len() })
}

/// Writes record `i` to `*out` and returns true; false (writing nothing) when `i` is out of
/// range or a pointer is NULL.
///
/// # Safety
/// `r` is NULL or a live report; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn nc_report_entry(
    r: *const nc_report,
    i: usize,
    out: *mut nc_entry,
) -> bool {
    ffi_boundary!(false, {
        let r = arg_or!(r, false);
        if out.is_null() {
            return false;
        }
        let (Some(entry), Some(name)) = (r.report.entries().get(i), r.names.get(i)) else {
            return false;
        };
        let record = nc_entry {
            name: name.as_ptr(),
            name_len: entry.name.len(),
            kind: entry.kind,
            action: entry.action,
            reason: entry.reason,
            error: entry.errno,
        };
        // SAFETY: `out` is non-NULL and writable (caller promise).
        unsafe { out.write(record) };
        true
    })
}

/// The errno of an NC_IO_ERROR (0 otherwise, and for NULL).
///
/// # Safety
/// `r` is NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn nc_report_errno(r: *const nc_report) -> i32 {
    ffi_boundary!(0, { arg_or!(r, 0).report.errno() })
}

/// Writes the SHA-256 of record `i` (a regular file, where a seal was checked or written) to
/// the 32 bytes at `out` and returns true; false (writing nothing) when there is none, `i`
/// is out of range or a pointer is NULL.
///
/// # Safety
/// `r` is NULL or a live report; `out` is NULL or writable for 32 bytes.
#[no_mangle]
pub unsafe extern "C" fn nc_report_entry_sha256(
    r: *const nc_report,
    i: usize,
    out: *mut u8,
) -> bool {
    ffi_boundary!(false, {
        let r = arg_or!(r, false);
        let Some(digest) = r.report.entries().get(i).and_then(|e| e.sha256) else {
            return false;
        };
        if out.is_null() {
            return false;
        }
        // SAFETY: `out` is non-NULL and writable for 32 bytes (caller promise).
        unsafe { ptr::copy_nonoverlapping(digest.as_ptr(), out, digest.len()) };
        true
    })
}

/// Whether record `i` is a regular file this call put on a fresh inode; false for NULL or
/// out of range.
///
/// # Safety
/// `r` is NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn nc_report_entry_renewed(r: *const nc_report, i: usize) -> bool {
    ffi_boundary!(false, {
        arg_or!(r, false)
            .report
            .entries()
            .get(i)
            .is_some_and(|e| e.renewed)
    })
}

/// The posture of the directory the path shows: NC_POSTURE_*; UNKNOWN for NULL.
///
/// # Safety
/// `r` is NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn nc_report_posture(r: *const nc_report) -> u32 {
    let unknown = Posture::Unknown.code();
    ffi_boundary!(unknown, {
        match arg_or!(r, unknown).report.posture_locked() {
            Some(true) => Posture::Locked,
            Some(false) => Posture::Unlocked,
            None => Posture::Unknown,
        }
        .code()
    })
}

/// What the seal check found: NC_SEAL_*; NC_SEAL_NONE for NULL.
///
/// # Safety
/// `r` is NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn nc_report_seal(r: *const nc_report) -> u32 {
    ffi_boundary!(0, {
        arg_or!(r, 0)
            .report
            .seal()
            .map_or(0, |(_, result)| result.code())
    })
}

/// The report as one JSON object; free with nc_string_free. NULL for NULL.
///
/// # Safety
/// `r` is NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn nc_report_json(r: *const nc_report) -> *mut c_char {
    ffi_boundary!(ptr::null_mut(), {
        let json = arg_or!(r, ptr::null_mut()).report.to_json();
        CString::new(json).map_or(ptr::null_mut(), CString::into_raw)
    })
}

/// Frees a report. NULL is fine.
///
/// # Safety
/// `r` is NULL or a report not yet freed.
#[no_mangle]
pub unsafe extern "C" fn nc_report_free(r: *mut nc_report) {
    if !r.is_null() {
        // The drop runs inside the boundary: a panic in a destructor does not reach C.
        ffi_boundary!((), {
            // SAFETY: `r` came from Box::into_raw in `run` and is freed once (caller promise).
            drop(unsafe { Box::from_raw(r) })
        })
    }
}

/// Frees a string returned by the library. NULL is fine.
///
/// # Safety
/// `s` is NULL or a string from nc_report_json not yet freed.
#[no_mangle]
pub unsafe extern "C" fn nc_string_free(s: *mut c_char) {
    if !s.is_null() {
        // The drop runs inside the boundary, as above.
        ffi_boundary!((), {
            // SAFETY: `s` came from CString::into_raw and is freed once (caller promise).
            drop(unsafe { CString::from_raw(s) })
        })
    }
}

/// The status' name, e.g. "NC_INVALID"; "NC_UNKNOWN" for a number that is none. Static.
#[no_mangle]
pub extern "C" fn nc_status_name(s: u32) -> *const c_char {
    ffi_boundary!(c"NC_UNKNOWN".as_ptr(), {
        Status::from_code(s)
            .map_or(c"NC_UNKNOWN", Status::c_name)
            .as_ptr()
    })
}

/// The library's version, e.g. "0.1.0". Static.
#[no_mangle]
pub extern "C" fn nc_version() -> *const c_char {
    const VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => panic!("the version has no NUL"),
        };
    VERSION.as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Layer;

    #[test]
    fn layer_bits_are_the_layers_numbers() {
        assert_eq!(NC_LAYER_IMMUTABLE, Layer::Immutable as u32);
        assert_eq!(NC_LAYER_MOUNT, Layer::Mount as u32);
    }
}
