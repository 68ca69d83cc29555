//! The C ABI's promises that need no privilege: the shared object's hygiene, the status
//! table of the contract, and bad input answered with NC_BAD_ARGUMENT, `*out` written.
//! A call that gets past its arguments (as root, it takes its lock in `/run/nc-harden`, the
//! only state directory of the C ABI) runs in a mount namespace of its own with a fresh
//! tmpfs on `/run` (`private_run`), so that nothing is left in the machine's.

mod common;

use std::ffi::{CStr, CString};
use std::process::Command;
use std::ptr;

use common::native::{compile_c, compile_c_source, shared_library};
use nc_harden::capi::{self, nc_options, nc_report, nc_status};
use nc_harden::Status;
use nc_harden_testkit::fs::Scratch;

#[test]
fn shared_object_exports_only_nc_symbols() {
    let so = shared_library().unwrap();
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&so)
        .output()
        .expect("nm runs");
    assert!(out.status.success());
    let symbols: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_string))
        .collect();
    let mut expected = vec![
        "nc_explain_bad_argument",
        "nc_last_bad_argument",
        "nc_report_entry",
        "nc_report_entry_renewed",
        "nc_report_entry_sha256",
        "nc_report_errno",
        "nc_report_posture",
        "nc_report_seal",
        "nc_report_free",
        "nc_report_json",
        "nc_report_layer",
        "nc_report_layers",
        "nc_report_len",
        "nc_report_status",
        "nc_report_summary",
        "nc_shields_down",
        "nc_shields_explain_bad_argument",
        "nc_shields_report_chattr_applied",
        "nc_shields_report_free",
        "nc_shields_report_json",
        "nc_shields_report_state",
        "nc_shields_report_status",
        "nc_shields_report_summary",
        "nc_shields_status",
        "nc_shields_up",
        "nc_status_name",
        "nc_string_free",
        "nc_unfreeze",
        "nc_validate_and_freeze",
        "nc_verify",
        "nc_version",
    ];
    expected.sort();
    let mut symbols = symbols;
    symbols.sort();
    assert_eq!(symbols, expected, "exactly the API is exported");
}

#[test]
fn shared_object_has_major_version_soname() {
    let so = shared_library().unwrap();
    let out = Command::new("readelf")
        .arg("-d")
        .arg(&so)
        .output()
        .expect("readelf runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let major = env!("CARGO_PKG_VERSION_MAJOR");
    assert!(
        text.contains(&format!("Library soname: [libnc_harden.so.{major}]")),
        "{text}"
    );
}

#[test]
fn status_numbers_and_names_are_the_contracts() {
    // The one definition (`Status`'s table) gives the numbers and names; docs/contract.md's
    // table is checked against it by tests/docs.rs, the header's by c-tests/tables.c below.
    for status in Status::all() {
        let code = status.code();
        assert_eq!(Status::from_code(code), Some(status));
        assert_eq!(status.name(), status.c_ident());
        // SAFETY: nc_status_name returns a static string.
        let c_name = unsafe { CStr::from_ptr(capi::nc_status_name(code)) };
        assert_eq!(c_name.to_str().unwrap(), status.name());
    }
    for unknown in [5, 9, 13, 22, 69, 71, u32::MAX] {
        assert!(Status::from_code(unknown).is_none());
        // SAFETY: as above.
        let c_name = unsafe { CStr::from_ptr(capi::nc_status_name(unknown)) };
        assert_eq!(c_name.to_bytes(), b"NC_UNKNOWN");
    }
}

/// A C program that spells every entry of every table by its header name and prints its
/// number: the header has each table as its one definition gives it, in C and in C++.
fn tables_program() -> String {
    let mut c = String::from("#include <stdio.h>\n#include <nc_harden.h>\nint main(void) {\n");
    for table in nc_harden::table::c_tables() {
        if let nc_harden::table::CForm::Enum(c_type) = table.form {
            // The type exists, with room for every entry.
            c.push_str(&format!("  {{ {c_type} x = ({c_type})0; (void)x; }}\n"));
        }
        for entry in table.entries {
            let name = entry.c_name;
            c.push_str(&format!(
                "  printf(\"%s %u\\n\", \"{name}\", (unsigned)({name}));\n"
            ));
        }
    }
    c.push_str(
        "  for (unsigned s = 0; s < 256; s++) printf(\"status %u %s\\n\", s, nc_status_name(s));\n",
    );
    c.push_str("  return 0;\n}\n");
    c
}

#[test]
fn header_tables_are_the_one_definitions() {
    let scratch = Scratch::new("abi-tables").unwrap();
    let source = scratch.path().join("tables.c");
    std::fs::write(&source, tables_program()).unwrap();
    let mut expected = String::new();
    for table in nc_harden::table::c_tables() {
        for entry in table.entries {
            expected.push_str(&format!("{} {}\n", entry.c_name, entry.code));
        }
    }
    for code in 0..256 {
        let name = Status::from_code(code).map_or("NC_UNKNOWN", Status::c_ident);
        expected.push_str(&format!("status {code} {name}\n"));
    }
    for cpp in [false, true] {
        let exe = compile_c_source(&source, "tables", scratch.path(), cpp, &[]).unwrap();
        let out = Command::new(&exe)
            .output()
            .expect("the tables program runs");
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), expected, "cpp: {cpp}");
    }
}

/// c-tests/explain.c, in C and in C++: the text of a bad argument asked from another thread,
/// after the call, is the one nc_last_bad_argument gave on the calling thread.
#[test]
fn bad_argument_text_is_not_tied_to_a_thread() {
    let scratch = Scratch::new("abi-explain").unwrap();
    for cpp in [false, true] {
        let exe = compile_c("explain", scratch.path(), cpp, &["-pthread"]).unwrap();
        let out = Command::new(&exe).output().expect("c-tests/explain runs");
        assert!(
            out.status.success(),
            "cpp: {cpp}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn explain_gives_the_text_of_the_call_or_nothing() {
    let explain = |op: u32, dir: &CStr, opts: *const nc_options| {
        let mut buf = [0u8; 256];
        // SAFETY: valid strings, `buf` writable for its length.
        let n = unsafe {
            capi::nc_explain_bad_argument(
                op,
                dir.as_ptr(),
                ptr::null(),
                opts,
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        let text = CStr::from_bytes_until_nul(&buf).unwrap().to_str().unwrap();
        assert_eq!(n, text.len());
        text.to_string()
    };
    let freeze = nc_harden::Operation::Freeze.code();
    assert_eq!(explain(freeze, c"/nonexistent-nc-harden", ptr::null()), "");
    let text = explain(freeze, c"relative", ptr::null());
    // SAFETY: valid strings; the report pointer may be NULL.
    let status = unsafe {
        capi::nc_validate_and_freeze(
            c"relative".as_ptr(),
            ptr::null(),
            ptr::null(),
            ptr::null_mut(),
        )
    };
    assert_eq!(status, nc_status::NC_BAD_ARGUMENT);
    // SAFETY: a static or thread-local string, read before the next call.
    let last = unsafe { CStr::from_ptr(capi::nc_last_bad_argument()) };
    assert_eq!(text, last.to_str().unwrap());
    assert!(text.starts_with("freeze: bad argument: dir "), "{text}");
    assert!(explain(0, c"/x", ptr::null()).contains("not an nc_operation"));
}

/// Runs `f` on a thread of its own, in a mount namespace of its own (`/` made private) with
/// a fresh tmpfs on `/run`: the lock and records of a call made there go with the thread.
/// Where that is not allowed (not root), `f` runs as it is: such a caller takes no lock and
/// writes no state.
fn private_run<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: plain syscalls with valid strings; CLONE_NEWNS needs CLONE_FS in a
            // thread, and changes only this thread.
            let private = unsafe {
                libc::unshare(libc::CLONE_NEWNS | libc::CLONE_FS) == 0
                    && libc::mount(
                        c"none".as_ptr(),
                        c"/".as_ptr(),
                        ptr::null(),
                        libc::MS_REC | libc::MS_PRIVATE,
                        ptr::null(),
                    ) == 0
                    && libc::mount(
                        c"tmpfs".as_ptr(),
                        c"/run".as_ptr(),
                        c"tmpfs".as_ptr(),
                        libc::MS_NOSUID | libc::MS_NODEV,
                        c"mode=0755".as_ptr().cast(),
                    ) == 0
            };
            // SAFETY: geteuid has no preconditions.
            let root = unsafe { libc::geteuid() } == 0;
            assert!(
                private || !root,
                "root, and no private /run: {}",
                std::io::Error::last_os_error()
            );
            f()
        })
        .join()
        .expect("the thread ran")
    })
}

/// Calls freeze with `out` pre-filled with garbage (in `private_run`); returns the status
/// and what `*out` became.
fn freeze(
    dir: Option<&str>,
    data: Option<&str>,
    opts: *const nc_options,
) -> (nc_status, *mut nc_report) {
    let dir = dir.map(|d| CString::new(d).unwrap());
    let data = data.map(|d| CString::new(d).unwrap());
    let dir = dir.as_ref().map_or(ptr::null(), |d| d.as_ptr());
    let data = data.as_ref().map_or(ptr::null(), |d| d.as_ptr());
    let call = || {
        let mut out = ptr::NonNull::<nc_report>::dangling().as_ptr();
        // SAFETY: valid or NULL strings, valid or NULL options, writable out.
        let status = unsafe { capi::nc_validate_and_freeze(dir, data, opts, &mut out) };
        (status, out)
    };
    let freeze = nc_harden::Operation::Freeze.code();
    // SAFETY: valid or NULL strings and options; no buffer.
    let bad = unsafe { capi::nc_explain_bad_argument(freeze, dir, data, opts, ptr::null_mut(), 0) };
    if bad > 0 {
        // Refused before its lock: on this thread, whose nc_last_bad_argument the test reads.
        return call();
    }
    // Addresses, to cross the thread: the strings and options outlive it, and the report is
    // the caller's.
    let (dir, data, opts) = (dir as usize, data as usize, opts as usize);
    let (status, out) = private_run(|| {
        let mut out = ptr::NonNull::<nc_report>::dangling().as_ptr();
        // SAFETY: as above.
        let status = unsafe {
            capi::nc_validate_and_freeze(
                dir as *const libc::c_char,
                data as *const libc::c_char,
                opts as *const nc_options,
                &mut out,
            )
        };
        (status, out as usize)
    });
    (status, out as *mut nc_report)
}

fn options() -> nc_options {
    nc_options {
        size: std::mem::size_of::<nc_options>() as u32,
        flags: 0,
        owner_uid: 0,
        strategy: 0,
        required: ptr::null(),
        seal: ptr::null(),
        hand_to_uid: capi::NC_LEAVE,
        hand_to_gid: capi::NC_LEAVE,
        dir_mode: capi::NC_LEAVE,
        file_mode: capi::NC_LEAVE,
    }
}

const DIR: &str = "/nonexistent-nc-harden/.openclaw";
const DATA: &str = "/nonexistent-nc-harden/.openclaw-data";

fn assert_bad(dir: Option<&str>, data: Option<&str>, opts: *const nc_options) {
    let (status, out) = freeze(dir, data, opts);
    assert_eq!(status, nc_status::NC_BAD_ARGUMENT, "{dir:?} {data:?}");
    assert!(out.is_null(), "*out must be written NULL on bad argument");
}

#[test]
fn null_paths_are_bad_arguments() {
    assert_bad(None, Some(DATA), ptr::null());
    assert_bad(None, None, ptr::null());
}

#[test]
fn null_data_dir_is_a_flat_layout() {
    // A real call: the directory does not exist.
    let (status, report) = freeze(Some(DIR), None, ptr::null());
    assert_eq!(status, nc_status::NC_NOT_FOUND);
    assert!(!report.is_null());
    // SAFETY: a live report, freed once.
    unsafe { capi::nc_report_free(report) };
}

#[test]
fn empty_relative_unnormalized_and_overlapping_paths_are_bad_arguments() {
    for (dir, data) in [
        ("", DATA),
        (DIR, ""),
        ("sandbox/.openclaw", DATA),
        ("./x", DATA),
        ("/a/../b", DATA),
        ("/a/./b", DATA),
        ("/a//b", DATA),
        ("/a/b/", DATA),
        (DIR, DIR),
        ("/s/data/cfg", "/s/data"),
        ("/s/cfg", "/s/cfg/data"),
        ("/", DATA),
    ] {
        assert_bad(Some(dir), Some(data), ptr::null());
    }
}

#[test]
fn paths_longer_than_path_max_are_bad_arguments() {
    let long = format!("/{}", "a/".repeat(2100))
        .trim_end_matches('/')
        .to_string();
    assert!(long.len() >= libc::PATH_MAX as usize);
    assert_bad(Some(&long), Some(DATA), ptr::null());
}

#[test]
fn options_smaller_than_first_version_are_bad_arguments() {
    // The first version ends at `required` (24 bytes on 64-bit targets).
    let ver0 = std::mem::offset_of!(nc_options, seal) as u32;
    for size in [0, 1, 16, ver0 - 1] {
        let opts = nc_options { size, ..options() };
        assert_bad(Some(DIR), Some(DATA), &opts);
    }
}

/// Where each field of nc_options ends, as a C caller computes it.
fn field_ends() -> [usize; 6] {
    use std::mem::{offset_of, size_of};
    [
        offset_of!(nc_options, required) + size_of::<*const *const libc::c_char>(),
        offset_of!(nc_options, seal) + size_of::<*const libc::c_char>(),
        offset_of!(nc_options, hand_to_uid) + size_of::<u32>(),
        offset_of!(nc_options, hand_to_gid) + size_of::<u32>(),
        offset_of!(nc_options, dir_mode) + size_of::<u32>(),
        offset_of!(nc_options, file_mode) + size_of::<u32>(),
    ]
}

/// Every size from 0 to sizeof + 16, through the C ABI: one that ends inside a field (25 to
/// 31 on 64-bit: half the seal pointer) is NC_BAD_ARGUMENT, no report, and the field is never
/// read; the end of a field is accepted and reads the whole fields before it, no more; past
/// sizeof, zeroes are accepted and one non-zero byte is not. The seal given is a name that is
/// no entry name (`a/b`): read, it is a bad argument of its own, so the answer shows whether
/// the field was read.
#[test]
fn options_sizes_that_end_inside_a_field_are_bad_arguments() {
    #[repr(C)]
    struct Buffer {
        opts: nc_options,
        tail: [u8; 16],
    }
    let ends = field_ends();
    let sizeof = std::mem::size_of::<nc_options>();
    assert_eq!(
        *ends.last().unwrap(),
        sizeof,
        "no padding after the last field"
    );
    let seal = CString::new("a/b").unwrap();
    for size in 0..=sizeof + 16 {
        for nonzero_tail in [false, true] {
            let mut buf = Buffer {
                opts: nc_options {
                    size: size as u32,
                    seal: seal.as_ptr(),
                    ..options()
                },
                tail: [0; 16],
            };
            if nonzero_tail {
                if size <= sizeof {
                    continue;
                }
                buf.tail[size - sizeof - 1] = 1;
            }
            let inside = size < sizeof && !ends.contains(&size);
            let (status, out) = freeze(Some(DIR), Some(DATA), &buf.opts);
            // SAFETY: a static string of this thread.
            let why = unsafe { CStr::from_ptr(capi::nc_last_bad_argument()) }
                .to_string_lossy()
                .into_owned();
            let seal_read = size >= ends[1];
            let (expected, says) = if size < ends[0] {
                (nc_status::NC_BAD_ARGUMENT, "smaller than the first version")
            } else if inside {
                (nc_status::NC_BAD_ARGUMENT, "ends inside a field")
            } else if nonzero_tail {
                (nc_status::NC_BAD_ARGUMENT, "non-zero fields")
            } else if seal_read {
                (nc_status::NC_BAD_ARGUMENT, "seal")
            } else {
                (nc_status::NC_NOT_FOUND, "")
            };
            assert_eq!(status, expected, "size {size} (tail {nonzero_tail}): {why}");
            if expected == nc_status::NC_BAD_ARGUMENT {
                assert!(out.is_null(), "size {size}: *out written NULL");
                assert!(
                    why.contains(says),
                    "size {size}: {why:?} should say {says:?}"
                );
            } else {
                // SAFETY: a live report, freed once.
                unsafe { capi::nc_report_free(out) };
            }
        }
    }
}

#[repr(C)]
struct OptionsV2 {
    v1: nc_options,
    later: u64,
}

#[test]
fn larger_options_with_nonzero_tail_are_bad_arguments() {
    let mut v2 = OptionsV2 {
        v1: options(),
        later: 1,
    };
    v2.v1.size = std::mem::size_of::<OptionsV2>() as u32;
    assert_bad(Some(DIR), Some(DATA), &v2.v1);
}

#[test]
fn larger_options_with_zero_tail_are_accepted() {
    let mut v2 = OptionsV2 {
        v1: options(),
        later: 0,
    };
    v2.v1.size = std::mem::size_of::<OptionsV2>() as u32;
    let (status, out) = freeze(Some(DIR), Some(DATA), &v2.v1);
    assert_eq!(
        status,
        nc_status::NC_NOT_FOUND,
        "accepted, then the path is looked up"
    );
    assert!(!out.is_null());
    // SAFETY: a live report, freed once.
    unsafe {
        assert_eq!(capi::nc_report_status(out), nc_status::NC_NOT_FOUND);
        capi::nc_report_free(out);
    }
}

#[test]
fn unknown_flags_unknown_strategy_and_bad_owner_are_bad_arguments() {
    assert_bad(
        Some(DIR),
        Some(DATA),
        &nc_options {
            flags: 1 << 31,
            ..options()
        },
    );
    assert_bad(
        Some(DIR),
        Some(DATA),
        &nc_options {
            strategy: 4,
            ..options()
        },
    );
    assert_bad(
        Some(DIR),
        Some(DATA),
        &nc_options {
            strategy: u32::MAX,
            ..options()
        },
    );
    assert_bad(
        Some(DIR),
        Some(DATA),
        &nc_options {
            owner_uid: u32::MAX,
            ..options()
        },
    );
}

#[test]
fn required_names_that_are_not_entry_names_are_bad_arguments() {
    for bad in ["", ".", "..", "a/b"] {
        let name = CString::new(bad).unwrap();
        let list = [name.as_ptr(), ptr::null()];
        assert_bad(
            Some(DIR),
            Some(DATA),
            &nc_options {
                required: list.as_ptr(),
                ..options()
            },
        );
    }
}

#[test]
fn null_reports_and_strings_are_safe() {
    // SAFETY: every function documents NULL as accepted.
    unsafe {
        assert_eq!(
            capi::nc_report_status(ptr::null()),
            nc_status::NC_BAD_ARGUMENT
        );
        assert_eq!(
            CStr::from_ptr(capi::nc_report_summary(ptr::null())).to_bytes(),
            b""
        );
        assert_eq!(capi::nc_report_len(ptr::null()), 0);
        assert!(!capi::nc_report_entry(ptr::null(), 0, ptr::null_mut()));
        assert!(capi::nc_report_json(ptr::null()).is_null());
        capi::nc_report_free(ptr::null_mut());
        capi::nc_string_free(ptr::null_mut());
        assert_eq!(
            CStr::from_ptr(capi::nc_version()).to_str().unwrap(),
            nc_harden::VERSION
        );
    }
}

#[test]
fn out_may_be_null() {
    let dir = CString::new(DIR).unwrap();
    let data = CString::new(DATA).unwrap();
    // SAFETY: valid strings; NULL options and out are documented.
    let status = private_run(|| unsafe {
        capi::nc_verify(dir.as_ptr(), data.as_ptr(), ptr::null(), ptr::null_mut())
    });
    assert_eq!(status, nc_status::NC_NOT_FOUND);
}

#[test]
fn report_entry_out_of_range_writes_nothing() {
    let (status, report) = freeze(Some(DIR), Some(DATA), ptr::null());
    assert_eq!(status, nc_status::NC_NOT_FOUND);
    let mut sentinel = [0xABu8; std::mem::size_of::<capi::nc_entry>()];
    // SAFETY: a live report; the sentinel is large enough for one nc_entry.
    unsafe {
        let len = capi::nc_report_len(report);
        assert!(!capi::nc_report_entry(
            report,
            len,
            sentinel.as_mut_ptr().cast()
        ));
        assert!(!capi::nc_report_entry(
            report,
            usize::MAX,
            sentinel.as_mut_ptr().cast()
        ));
        capi::nc_report_free(report);
    }
    assert!(sentinel.iter().all(|&b| b == 0xAB));
}

#[test]
fn documented_native_static_libs_are_what_rustc_says() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    // A target dir of its own: these rustc arguments would otherwise rebuild the main one.
    let out = Command::new(env!("CARGO"))
        .args([
            "rustc",
            "--lib",
            "-p",
            "nc-harden",
            "--crate-type",
            "staticlib",
            "--target-dir",
        ])
        .arg(root.join("target/native-static-libs"))
        .args(["--", "--print", "native-static-libs"])
        .current_dir(root)
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stderr);
    let printed = text
        .lines()
        .find_map(|l| l.split("native-static-libs: ").nth(1))
        .expect("rustc prints the list");
    let printed: Vec<String> = printed.split_whitespace().map(str::to_string).collect();
    assert_eq!(
        common::native::native_static_libs().unwrap(),
        printed,
        "update NATIVE_STATIC_LIBS in the Makefile and the README"
    );
}

#[test]
fn shields_calls_refuse_bad_arguments_without_a_report() {
    use nc_harden::capi::shields::*;
    let mut out = ptr::null_mut();
    let cases: [(*const std::ffi::c_char, u32); 4] = [
        (ptr::null(), 0),
        (c"no-such-profile".as_ptr(), 0),
        (c"openclaw".as_ptr(), 1 << 7),
        (
            c"openclaw".as_ptr(),
            NC_SHIELDS_TOP_CONFIG | NC_SHIELDS_STATE_TREES,
        ),
    ];
    for (profile, flags) in cases {
        // SAFETY: valid strings or NULL, a writable out-pointer.
        let status = unsafe { nc_shields_up(profile, ptr::null(), flags, &mut out) };
        assert_eq!(status, capi::nc_status::NC_BAD_ARGUMENT);
        assert!(out.is_null());
    }
    // SAFETY: as above; reseal is shields up's alone.
    let status = unsafe {
        nc_shields_down(
            c"openclaw".as_ptr(),
            ptr::null(),
            NC_SHIELDS_RESEAL,
            &mut out,
        )
    };
    assert_eq!(status, capi::nc_status::NC_BAD_ARGUMENT);
    // SAFETY: NULL reports are accepted everywhere.
    unsafe {
        assert_eq!(
            nc_shields_report_status(ptr::null()),
            capi::nc_status::NC_BAD_ARGUMENT
        );
        assert!(nc_shields_report_json(ptr::null()).is_null());
        nc_shields_report_free(ptr::null_mut());
    }
}

#[test]
fn shields_explain_never_blocks_on_a_fifo_profile() {
    use nc_harden::capi::shields::nc_shields_explain_bad_argument;
    use std::os::unix::fs::FileTypeExt;
    // A FIFO where the profile file is expected: a plain open would wait for a writer
    // forever; the call answers at once that it is no regular file.
    let scratch = Scratch::new("abi-fifo-profile").unwrap();
    let fifo = scratch.path().join("profile.toml");
    let cfifo = CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(cfifo.as_ptr(), 0o644) }, 0);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0 as std::ffi::c_char; 512];
        // SAFETY: a valid profile path, NULL dir, `buf` writable for its length.
        let n = unsafe {
            nc_shields_explain_bad_argument(
                1,
                cfifo.as_ptr(),
                ptr::null(),
                0,
                buf.as_mut_ptr(),
                512,
            )
        };
        // SAFETY: the call wrote a NUL-terminated text into `buf`.
        let text = unsafe { CStr::from_ptr(buf.as_ptr()) };
        let _ = tx.send((n, text.to_string_lossy().into_owned()));
    });
    let (n, text) = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("nc_shields_explain_bad_argument returns on a FIFO profile");
    assert_eq!(n, text.len());
    assert!(text.contains("is not a regular file"), "{text}");
    // The FIFO stays what it was.
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
}
