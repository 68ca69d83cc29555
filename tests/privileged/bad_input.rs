//! Bad input, through the C ABI and through the CLI: each case must get its clear status (or
//! exit code) and change nothing: the reference layout's flags, mounts and entries are the
//! same afterwards. Calls run under a timeout: none may block (a FIFO, say).

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::ptr;

use super::engine::kernel_state;
use super::*;
use common::native::cli_binary;
use nc_harden::capi::{self, nc_options, nc_report, nc_status};

/// The trials of this file, registered by main.rs: every case, then the CLI's usage errors.
pub fn trials() -> Vec<Trial> {
    let mut out: Vec<Trial> = CASES
        .iter()
        .enumerate()
        .map(|(index, case)| {
            trial(
                format!("bad_input::{}", case.name),
                FsKind::Disk,
                move |a| run(a, index),
            )
        })
        .collect();
    out.push(trial(
        "bad_input::cli_usage_errors",
        FsKind::Disk,
        cli_usage_errors,
    ));
    out
}

/// What a case changes in the options (the C ABI only; the CLI has no such fields).
#[derive(Clone, Debug)]
enum Tweak {
    None,
    Size(u32),
    NonZeroTail,
    Flags(u32),
    Strategy(u32),
    Owner(u32),
    Required(Vec<Vec<u8>>),
    Unterminated,
    NullDir,
    NullDataDir,
}

/// One call's arguments, as bytes (names need not be UTF-8).
struct Args {
    dir: Vec<u8>,
    data: Vec<u8>,
    tweak: Tweak,
    /// The CLI's extra arguments, or None where the case exists in the C ABI only.
    cli: Option<Vec<OsString>>,
}

pub struct BadCase {
    pub name: &'static str,
    setup: fn(&Layout) -> io::Result<Args>,
    pub expect: Status,
}

fn bytes(p: &Path) -> Vec<u8> {
    p.as_os_str().as_bytes().to_vec()
}

fn paths(dir: Vec<u8>, data: Vec<u8>) -> Args {
    Args {
        dir,
        data,
        tweak: Tweak::None,
        cli: Some(vec![]),
    }
}

fn layout_paths(l: &Layout) -> Args {
    paths(bytes(&l.dir), bytes(&l.data))
}

fn c_only(l: &Layout, tweak: Tweak) -> Args {
    Args {
        tweak,
        cli: None,
        ..layout_paths(l)
    }
}

fn with_dir(l: &Layout, dir: &[u8]) -> Args {
    paths(dir.to_vec(), bytes(&l.data))
}

fn with_data(l: &Layout, data: &[u8]) -> Args {
    paths(bytes(&l.dir), data.to_vec())
}

fn joined(l: &Layout, suffix: &str) -> Vec<u8> {
    [bytes(&l.dir), suffix.as_bytes().to_vec()].concat()
}

fn entry(l: &Layout, name: &[u8], make: impl FnOnce(&Path) -> io::Result<()>) -> io::Result<Args> {
    make(&l.dir.join(OsStr::from_bytes(name)))?;
    Ok(layout_paths(l))
}

fn mknod(path: &Path, mode: u32, dev: libc::dev_t) -> io::Result<()> {
    let p = CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: a NUL-terminated path.
    if unsafe { libc::mknod(p.as_ptr(), mode, dev) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn link_to(target: &[u8]) -> impl FnOnce(&Path) -> io::Result<()> + '_ {
    move |p| std::os::unix::fs::symlink(OsStr::from_bytes(target), p)
}

fn long_path(len: usize) -> Vec<u8> {
    let mut p = b"/".to_vec();
    while p.len() < len {
        p.extend_from_slice(b"abcdefgh/");
    }
    p.truncate(len);
    if p.last() == Some(&b'/') {
        p.pop();
        p.push(b'x');
    }
    p
}

pub const CASES: &[BadCase] = &[
    BadCase {
        name: "null_dir",
        setup: |l| Ok(c_only(l, Tweak::NullDir)),
        expect: Status::BadArgument,
    },
    BadCase {
        // NULL data_dir is a flat layout (version 0.2): the links of the workload layout are
        // then rejected, and nothing changes.
        name: "null_data_dir_is_a_flat_layout",
        setup: |l| Ok(c_only(l, Tweak::NullDataDir)),
        expect: Status::Invalid,
    },
    BadCase {
        name: "empty_dir",
        setup: |l| Ok(with_dir(l, b"")),
        expect: Status::BadArgument,
    },
    BadCase {
        name: "empty_data_dir",
        setup: |l| Ok(with_data(l, b"")),
        expect: Status::BadArgument,
    },
    BadCase {
        name: "relative_dir",
        setup: |l| Ok(with_dir(l, b"sandbox/.openclaw")),
        expect: Status::BadArgument,
    },
    BadCase {
        name: "relative_data_dir",
        setup: |l| Ok(with_data(l, b"./data")),
        expect: Status::BadArgument,
    },
    BadCase {
        name: "dot_component",
        setup: |l| Ok(with_dir(l, &joined(l, "/."))),
        expect: Status::BadArgument,
    },
    BadCase {
        name: "dotdot_component",
        setup: |l| Ok(with_dir(l, &joined(l, "/../.openclaw"))),
        expect: Status::BadArgument,
    },
    BadCase {
        name: "double_slash",
        setup: |l| Ok(with_dir(l, &[b"/".as_slice(), &bytes(&l.dir)].concat())),
        expect: Status::BadArgument,
    },
    BadCase {
        // The C ABI is strict; the CLI drops the one slash that tab completion adds.
        name: "trailing_slash",
        setup: |l| {
            Ok(Args {
                cli: None,
                ..with_dir(l, &joined(l, "/"))
            })
        },
        expect: Status::BadArgument,
    },
    BadCase {
        name: "trailing_double_slash",
        setup: |l| Ok(with_dir(l, &joined(l, "//"))),
        expect: Status::BadArgument,
    },
    BadCase {
        name: "path_of_path_max_bytes",
        setup: |l| Ok(with_dir(l, &long_path(libc::PATH_MAX as usize))),
        expect: Status::BadArgument,
    },
    BadCase {
        name: "path_beyond_path_max",
        setup: |l| Ok(with_dir(l, &long_path(3 * libc::PATH_MAX as usize))),
        expect: Status::BadArgument,
    },
    BadCase {
        name: "path_just_under_path_max_missing",
        setup: |l| Ok(with_dir(l, &long_path(libc::PATH_MAX as usize - 1))),
        expect: Status::NotFound,
    },
    BadCase {
        name: "component_longer_than_name_max",
        setup: |l| Ok(with_dir(l, &joined(l, &format!("/{}", "n".repeat(256))))),
        expect: Status::BadArgument,
    },
    BadCase {
        name: "dir_equals_data_dir",
        setup: |l| Ok(with_data(l, &bytes(&l.dir))),
        expect: Status::BadArgument,
    },
    BadCase {
        name: "dir_inside_data_dir",
        setup: |l| Ok(with_dir(l, &bytes(&l.data.join("workspace")))),
        expect: Status::BadArgument,
    },
    BadCase {
        name: "data_dir_inside_dir",
        setup: |l| Ok(with_data(l, &joined(l, "/agents"))),
        expect: Status::BadArgument,
    },
    BadCase {
        name: "dir_is_the_root",
        setup: |l| Ok(with_dir(l, b"/")),
        expect: Status::BadArgument,
    },
    BadCase {
        name: "data_dir_is_dir_by_another_path",
        setup: |l| {
            fs::create_dir(l.root.join("bound"))?;
            nc_harden_testkit::bind(&l.dir, &l.root.join("bound"), false)?;
            Ok(with_data(l, &bytes(&l.root.join("bound"))))
        },
        expect: Status::BadArgument,
    },
    BadCase {
        name: "missing_dir",
        setup: |l| Ok(with_dir(l, &bytes(&l.root.join("absent")))),
        expect: Status::NotFound,
    },
    BadCase {
        name: "missing_data_dir",
        setup: |l| Ok(with_data(l, &bytes(&l.root.join("absent")))),
        expect: Status::NotFound,
    },
    BadCase {
        name: "missing_parent",
        setup: |l| Ok(with_dir(l, &bytes(&l.root.join("absent/.openclaw")))),
        expect: Status::NotFound,
    },
    BadCase {
        name: "dir_is_a_regular_file",
        setup: |l| Ok(with_dir(l, &joined(l, "/openclaw.json"))),
        expect: Status::UnsafePath,
    },
    BadCase {
        name: "data_dir_is_a_regular_file",
        setup: |l| Ok(with_data(l, &bytes(&l.data.join("update-check.json")))),
        expect: Status::UnsafePath,
    },
    BadCase {
        name: "component_is_a_regular_file",
        setup: |l| Ok(with_dir(l, &joined(l, "/openclaw.json/x"))),
        expect: Status::UnsafePath,
    },
    BadCase {
        name: "dir_is_a_symlink",
        setup: |l| {
            std::os::unix::fs::symlink(&l.dir, l.root.join("alias"))?;
            Ok(with_dir(l, &bytes(&l.root.join("alias"))))
        },
        expect: Status::UnsafePath,
    },
    BadCase {
        name: "data_dir_is_a_symlink",
        setup: |l| {
            std::os::unix::fs::symlink(&l.data, l.root.join("alias"))?;
            Ok(with_data(l, &bytes(&l.root.join("alias"))))
        },
        expect: Status::UnsafePath,
    },
    BadCase {
        name: "path_through_a_proc_magic_link",
        setup: |l| {
            Ok(with_dir(
                l,
                &[b"/proc/self/root".as_slice(), &bytes(&l.dir)].concat(),
            ))
        },
        expect: Status::UnsafePath,
    },
    BadCase {
        name: "options_size_zero",
        setup: |l| Ok(c_only(l, Tweak::Size(0))),
        expect: Status::BadArgument,
    },
    BadCase {
        name: "options_size_smaller",
        setup: |l| Ok(c_only(l, Tweak::Size(20))),
        expect: Status::BadArgument,
    },
    BadCase {
        name: "options_size_larger_nonzero_tail",
        setup: |l| Ok(c_only(l, Tweak::NonZeroTail)),
        expect: Status::BadArgument,
    },
    BadCase {
        name: "options_size_beyond_a_page",
        setup: |l| Ok(c_only(l, Tweak::Size(8192))),
        expect: Status::BadArgument,
    },
    BadCase {
        name: "options_reserved_flags",
        setup: |l| Ok(c_only(l, Tweak::Flags(1 << 31))),
        expect: Status::BadArgument,
    },
    BadCase {
        name: "options_unknown_strategy",
        setup: |l| Ok(c_only(l, Tweak::Strategy(4))),
        expect: Status::BadArgument,
    },
    BadCase {
        name: "options_strategy_max",
        setup: |l| Ok(c_only(l, Tweak::Strategy(u32::MAX))),
        expect: Status::BadArgument,
    },
    BadCase {
        name: "options_owner_minus_one",
        setup: |l| Ok(c_only(l, Tweak::Owner(u32::MAX))),
        expect: Status::BadArgument,
    },
    BadCase {
        name: "required_empty_name",
        setup: |l| Ok(c_only(l, Tweak::Required(vec![vec![]]))),
        expect: Status::BadArgument,
    },
    BadCase {
        name: "required_dot",
        setup: |l| Ok(c_only(l, Tweak::Required(vec![b".".to_vec()]))),
        expect: Status::BadArgument,
    },
    BadCase {
        name: "required_with_slash",
        setup: |l| Ok(c_only(l, Tweak::Required(vec![b"a/b".to_vec()]))),
        expect: Status::BadArgument,
    },
    BadCase {
        name: "required_name_of_64_kib",
        setup: |l| Ok(c_only(l, Tweak::Required(vec![vec![b'r'; 65536]]))),
        expect: Status::BadArgument,
    },
    BadCase {
        name: "required_array_unterminated",
        setup: |l| Ok(c_only(l, Tweak::Unterminated)),
        expect: Status::BadArgument,
    },
    BadCase {
        name: "fifo_in_dir_never_blocks",
        setup: |l| entry(l, b"pipe", |p| mknod(p, libc::S_IFIFO | 0o644, 0)),
        expect: Status::Invalid,
    },
    BadCase {
        name: "socket_in_dir",
        setup: |l| {
            entry(l, b"sock", |p| {
                std::os::unix::net::UnixListener::bind(p).map(drop)
            })
        },
        expect: Status::Invalid,
    },
    BadCase {
        name: "char_device_in_dir",
        setup: |l| {
            entry(l, b"tty", |p| {
                mknod(p, libc::S_IFCHR | 0o600, libc::makedev(5, 0))
            })
        },
        expect: Status::Invalid,
    },
    BadCase {
        name: "block_device_in_dir",
        setup: |l| {
            entry(l, b"loop", |p| {
                mknod(p, libc::S_IFBLK | 0o600, libc::makedev(7, 0))
            })
        },
        expect: Status::Invalid,
    },
    BadCase {
        name: "name_with_newline",
        setup: |l| entry(l, b"a\nb", link_to(b"/etc")),
        expect: Status::Invalid,
    },
    BadCase {
        name: "name_with_control_characters",
        setup: |l| entry(l, b"\x1b[2K\x07", link_to(b"/etc")),
        expect: Status::Invalid,
    },
    BadCase {
        name: "name_not_utf8",
        setup: |l| entry(l, b"\xff\xfe\xc3", link_to(b"/etc")),
        expect: Status::Invalid,
    },
    BadCase {
        name: "link_target_of_4095_bytes",
        setup: |l| {
            // Longer targets (64 KiB, say) cannot exist: the kernel refuses to make them.
            let huge =
                std::os::unix::fs::symlink(OsStr::from_bytes(&[b'x'; 65536]), l.root.join("huge"));
            assert_eq!(
                huge.map_err(|e| e.raw_os_error()),
                Err(Some(libc::ENAMETOOLONG))
            );
            let target = long_path(4095);
            entry(l, b"long", move |p| {
                std::os::unix::fs::symlink(OsStr::from_bytes(&target), p)
            })
        },
        expect: Status::Invalid,
    },
];

/// The C ABI call for `args`, on a thread with a deadline.
fn through_c(args: &Args) -> Result<Status, Failed> {
    let (dir, data) = (
        CString::new(args.dir.clone()),
        CString::new(args.data.clone()),
    );
    let (dir, data) = (
        dir.map_err(|_| "NUL in a path")?,
        data.map_err(|_| "NUL in a path")?,
    );
    let tweak = args.tweak.clone();
    with_timeout(move || {
        #[repr(C)]
        struct Larger {
            v1: nc_options,
            tail: [u8; 8192],
        }
        let mut big = Box::new(Larger {
            v1: nc_options {
                size: 0,
                flags: 0,
                owner_uid: 0,
                strategy: 0,
                required: ptr::null(),
                seal: ptr::null(),
                hand_to_uid: capi::NC_LEAVE,
                hand_to_gid: capi::NC_LEAVE,
                dir_mode: capi::NC_LEAVE,
                file_mode: capi::NC_LEAVE,
            },
            tail: [0; 8192],
        });
        big.v1.size = std::mem::size_of::<nc_options>() as u32;
        let names: Vec<CString> = match &tweak {
            Tweak::Required(names) => names
                .iter()
                .map(|n| CString::new(n.clone()).unwrap())
                .collect(),
            Tweak::Unterminated => (0..70_000).map(|_| CString::new("x").unwrap()).collect(),
            _ => vec![],
        };
        let mut list: Vec<*const libc::c_char> = names.iter().map(|n| n.as_ptr()).collect();
        if !matches!(tweak, Tweak::Unterminated) {
            list.push(ptr::null());
        }
        match tweak {
            Tweak::Size(size) => big.v1.size = size,
            Tweak::NonZeroTail => {
                big.v1.size = std::mem::size_of::<nc_options>() as u32 + 8;
                big.tail[3] = 1;
            }
            Tweak::Flags(f) => big.v1.flags = f,
            Tweak::Strategy(s) => big.v1.strategy = s,
            Tweak::Owner(o) => big.v1.owner_uid = o,
            Tweak::Required(_) | Tweak::Unterminated => big.v1.required = list.as_ptr(),
            Tweak::None | Tweak::NullDir | Tweak::NullDataDir => {}
        }
        let d = if matches!(tweak, Tweak::NullDir) {
            ptr::null()
        } else {
            dir.as_ptr()
        };
        let dd = if matches!(tweak, Tweak::NullDataDir) {
            ptr::null()
        } else {
            data.as_ptr()
        };
        let mut out: *mut nc_report = ptr::NonNull::dangling().as_ptr();
        // SAFETY: valid or NULL strings; options readable for `size` bytes (the tail is
        // there); `out` writable. The unterminated list is cut by the library's bound.
        let status = unsafe { capi::nc_validate_and_freeze(d, dd, &big.v1, &mut out) };
        let report_ok = if status == nc_status::NC_BAD_ARGUMENT {
            out.is_null()
        } else {
            !out.is_null()
        };
        // SAFETY: freed once (NULL is fine).
        unsafe { capi::nc_report_free(out) };
        (status, report_ok)
    })
    .and_then(|(status, report_ok)| {
        ensure!(
            report_ok,
            "*out must be NULL on NC_BAD_ARGUMENT and a report otherwise"
        );
        Ok(Status::from_code(status as u32).ok_or("unknown status")?)
    })
}

fn through_cli(exe: &Path, args: &Args, extra: &[OsString]) -> Result<i32, Failed> {
    let mut cmd = Command::new(exe);
    cmd.arg("freeze")
        .arg("--dir")
        .arg(OsString::from_vec(args.dir.clone()))
        .arg("--data-dir")
        .arg(OsString::from_vec(args.data.clone()))
        .args(extra);
    let out = with_timeout(move || cmd.output())??;
    let err = String::from_utf8(out.stderr).map_err(|_| "stderr must be ASCII-safe text")?;
    ensure!(
        err.lines().all(|l| l.starts_with("[SECURITY] ")),
        "every human line is prefixed: {err}"
    );
    Ok(out.status.code().ok_or("killed")?)
}

pub fn run(area: &Path, index: usize) -> TestResult {
    let case = &CASES[index];
    let scratch = Scratch::new_in(area, "bad")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let args = (case.setup)(&l)?;
    let before = (kernel_state(&l.dir)?, l.entry_names()?);
    let status = through_c(&args)?;
    ensure!(
        status == case.expect,
        "C ABI: expected {}, got {}",
        case.expect.name(),
        status.name()
    );
    ensure!(
        (kernel_state(&l.dir)?, l.entry_names()?) == before,
        "the C call changed something"
    );
    if let Some(extra) = &args.cli {
        let code = through_cli(&cli_binary()?, &args, extra)?;
        ensure!(
            code == case.expect.code() as i32,
            "CLI: expected exit {}, got {code}",
            case.expect.code()
        );
        ensure!(
            (kernel_state(&l.dir)?, l.entry_names()?) == before,
            "the CLI call changed something"
        );
    }
    // Contained: a bind made by a case goes with the scratch.
    Ok(())
}

/// The CLI's own usage errors exit 64 and change nothing.
pub fn cli_usage_errors(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "usage")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let exe = cli_binary()?;
    let before = kernel_state(&l.dir)?;
    let (dir, data) = (l.dir.as_os_str(), l.data.as_os_str());
    let target = [OsStr::new("--dir"), dir, OsStr::new("--data-dir"), data];
    let with = |op: &'static str, extra: &'static [&'static str]| -> Vec<&OsStr> {
        let mut args = vec![OsStr::new(op)];
        args.extend(target);
        args.extend(extra.iter().map(OsStr::new));
        args
    };
    let cases: [Vec<&OsStr>; 7] = [
        vec![
            OsStr::new("freeze"),
            OsStr::new("--dir"),
            dir,
            OsStr::new("--reseal"),
        ],
        with("freeze", &["--owner", "no-such-user-nc-harden"]),
        with("freeze", &["--owner", "4294967295"]),
        with("freeze", &["--owner", "-1"]),
        with("freeze", &["--strategy", "chattr"]),
        with("verify", &["--allow-degraded"]),
        vec![OsStr::new("thaw")],
    ];
    for args in cases {
        let out = Command::new(&exe).args(&args).output()?;
        ensure!(
            out.status.code() == Some(64),
            "{args:?}: exit {:?}",
            out.status
        );
    }
    ensure!(
        kernel_state(&l.dir)? == before,
        "a usage error changed something"
    );
    Ok(())
}
