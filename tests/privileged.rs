//! The privileged suite: real flags on real filesystems, attacks tried with fewer privileges,
//! every rejection case, and the C programs. It runs as root inside a private mount
//! namespace that it enters before any thread starts; every scratch directory clears its
//! flags and mounts when dropped, even when a test fails.
//!
//! Without root it lists every test as ignored (never as passed), and under
//! NC_HARDEN_REQUIRE_PRIVILEGED=1 (set by `.ci/run`) it fails instead.

mod common;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::native::{compile_c, ensure_ok};
use common::{Call, Face, Op, Outcome};
use libtest_mimic::{Arguments, Failed, Trial};
use nc_harden::policy::Reason;
use nc_harden::{escape_bytes, Action, Status};
use nc_harden_testkit::creds::{CAP_LINUX_IMMUTABLE, CAP_SYS_ADMIN};
use nc_harden_testkit::{
    immutable_flag, privilege, run_as, Creds, Expect, FsKind, Layout, Scratch, Tamper, Variant,
    ATTACKS, SANDBOX_UID,
};

type TestResult = Result<(), Failed>;

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+).into());
        }
    };
}

/// The filesystems of the suite, each mounted once in the private namespace.
struct Areas {
    _scratch: Scratch,
    paths: Vec<(FsKind, PathBuf)>,
}

impl Areas {
    fn mount() -> io::Result<Areas> {
        let mut scratch = Scratch::new("areas")?;
        let mut paths = Vec::new();
        for kind in [FsKind::Disk, FsKind::Ext4, FsKind::Tmpfs, FsKind::Ramfs] {
            paths.push((kind, scratch.area(kind)?));
        }
        Ok(Areas {
            _scratch: scratch,
            paths,
        })
    }

    fn path(&self, kind: FsKind) -> PathBuf {
        self.paths
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, p)| p.clone())
            .expect("mounted")
    }
}

fn call_of(l: &Layout) -> Call {
    let mut call = Call::new(&l.dir, &l.data, l.owner);
    call.require = vec!["openclaw.json".into(), ".config-hash".into()];
    call
}

/// Every inode of `dir` (and `dir` itself) with its immutable flag, read without nc-harden.
fn flags(dir: &Path) -> io::Result<Vec<(PathBuf, bool)>> {
    let mut out = vec![(dir.to_path_buf(), immutable_flag(dir)?)];
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        out.push((path.clone(), immutable_flag(&path)?));
    }
    out.sort();
    Ok(out)
}

fn with_timeout<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Failed> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(30))
        .map_err(|_| "the call blocked for 30 s".into())
}

fn expect_status(out: &Outcome, status: Status) -> TestResult {
    ensure!(
        out.status == status,
        "expected {}, got {}: {}",
        status.name(),
        out.status.name(),
        out.summary
    );
    Ok(())
}

/// Every symlink record agrees with the kernel: Frozen where its own inode carries the
/// flag (XFS, Linux 6.17+), else pinned by the directory.
fn check_pinned_records(out: &Outcome, l: &Layout, files: Action) -> TestResult {
    for r in &out.records {
        let path = if r.name == b"." {
            l.dir.clone()
        } else {
            l.dir
                .join(std::ffi::OsStr::new(&*String::from_utf8_lossy(&r.name)))
        };
        let meta = fs::symlink_metadata(&path)?;
        let expected = if meta.file_type().is_symlink() {
            if immutable_flag(&path)? {
                files
            } else {
                Action::PinnedByDirectory
            }
        } else {
            files
        };
        ensure!(
            r.action == expected,
            "{:?}: expected {:?}, got {:?}",
            path,
            expected,
            r.action
        );
    }
    Ok(())
}

fn freeze_verify_unfreeze(area: &Path, face: Face, variant: Variant) -> TestResult {
    let scratch = Scratch::new_in(area, "cycle")?;
    let l = Layout::build(scratch.path(), variant)?;
    let call = call_of(&l);
    let entries = l.entry_names()?.len();

    let out = face.call(Op::Freeze, &call);
    expect_status(&out, Status::Ok)?;
    ensure!(out.immutable_layer, "layers must say immutable");
    ensure!(
        out.records.len() == entries + 1,
        "one record per entry plus the directory"
    );
    check_pinned_records(&out, &l, Action::Frozen)?;
    ensure!(immutable_flag(&l.dir)?, "the directory flag is not set");
    for file in l.regular_files()? {
        ensure!(immutable_flag(&file)?, "{file:?} is not immutable");
    }
    // Even full root cannot add an entry now.
    ensure!(
        std::os::unix::fs::symlink("/etc", l.dir.join("evil")).is_err(),
        "root created a link in a frozen dir"
    );

    expect_status(&face.call(Op::Verify, &call), Status::Ok)?;
    let again = face.call(Op::Freeze, &call);
    expect_status(&again, Status::Ok)?;
    check_pinned_records(&again, &l, Action::AlreadyFrozen)?;

    let out = face.call(Op::Unfreeze, &call);
    expect_status(&out, Status::Ok)?;
    ensure!(
        out.record(".").action == Action::Unfrozen,
        "the directory must be reported unfrozen"
    );
    ensure!(
        flags(&l.dir)?.iter().all(|(_, on)| !on),
        "a flag survived unfreeze"
    );
    std::os::unix::fs::symlink("/etc", l.dir.join("evil"))?;
    fs::remove_file(l.dir.join("evil"))?;
    expect_status(&face.call(Op::Verify, &call), Status::NotFrozen)?;
    let twice = face.call(Op::Unfreeze, &call);
    expect_status(&twice, Status::Ok)?;
    ensure!(
        twice.records.iter().all(|r| r.action == Action::Checked),
        "a second unfreeze changes nothing"
    );
    Ok(())
}

fn rejects(area: &Path, face: Face, tamper: Tamper) -> TestResult {
    let scratch = Scratch::new_in(area, "reject")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let case = tamper.apply(&l)?;
    let mut call = Call::new(&case.dir, &case.data, l.owner);
    call.require = case.require.iter().map(|s| s.to_string()).collect();
    let before = flags(&l.dir)?;
    let names_before = l.entry_names()?;
    let out = with_timeout(move || face.call(Op::Freeze, &call))?;
    match &case.expect {
        Expect::Rejected { entry, reason } => {
            expect_status(&out, Status::Invalid)?;
            let hit = out
                .rejected()
                .into_iter()
                .any(|r| &r.name == entry && r.reason.name() == *reason);
            ensure!(
                hit,
                "no record rejects {:?} for {reason}: {:#?}",
                String::from_utf8_lossy(entry),
                out.records
            );
            ensure!(
                out.summary.contains(&escape_bytes(entry)),
                "the summary names the entry: {}",
                out.summary
            );
            ensure!(!out.immutable_layer, "no layer may remain after NC_INVALID");
        }
        Expect::UnsafePath => expect_status(&out, Status::UnsafePath)?,
    }
    ensure!(
        flags(&l.dir)? == before,
        "flags changed: {:?} -> {:?}",
        before,
        flags(&l.dir)?
    );
    ensure!(l.entry_names()? == names_before, "entries changed");
    Ok(())
}

fn without_capability(area: &Path, face: Face) -> TestResult {
    let scratch = Scratch::new_in(area, "nocap")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let call = call_of(&l);
    let creds = Creds::RootWithout(&[CAP_LINUX_IMMUTABLE]);
    let out = run_as(creds, || face.call(Op::Freeze, &call));
    expect_status(&out, Status::NoCapability)?;
    let dir = out.record(".");
    ensure!(
        dir.action == Action::Denied && dir.errno == libc::EPERM,
        "directory: {dir:?}"
    );
    ensure!(!out.immutable_layer, "no layer without the capability");
    ensure!(
        flags(&l.dir)?.iter().all(|(_, on)| !on),
        "a flag was set without the capability"
    );
    // Validation still ran.
    Tamper::RepointedLink.apply(&l)?;
    let out = run_as(creds, || face.call(Op::Freeze, &call));
    expect_status(&out, Status::Invalid)?;
    ensure!(
        out.record("hooks").reason == Reason::LinkTargetMismatch,
        "hooks must be rejected"
    );
    Ok(())
}

fn plain_user(area: &Path, face: Face) -> TestResult {
    let scratch = Scratch::new_in(area, "user")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let call = call_of(&l);
    let out = run_as(Creds::User(SANDBOX_UID), || face.call(Op::Freeze, &call));
    expect_status(&out, Status::NoCapability)?;
    ensure!(
        out.record(".").action == Action::Denied,
        "the directory flag must be denied"
    );
    ensure!(
        out.records
            .iter()
            .skip(1)
            .all(|r| r.action == Action::Checked),
        "every entry validated"
    );
    ensure!(
        flags(&l.dir)?.iter().all(|(_, on)| !on),
        "a plain user pinned something"
    );
    expect_status(
        &run_as(Creds::User(SANDBOX_UID), || face.call(Op::Verify, &call)),
        Status::NotFrozen,
    )?;
    Tamper::DotfileLinkElsewhere.apply(&l)?;
    let out = run_as(Creds::User(SANDBOX_UID), || face.call(Op::Freeze, &call));
    expect_status(&out, Status::Invalid)?;
    ensure!(
        out.record(".evil").reason == Reason::LinkTargetMismatch,
        ".evil must be rejected"
    );
    Ok(())
}

fn ramfs_unsupported(area: &Path, face: Face) -> TestResult {
    let scratch = Scratch::new_in(area, "ramfs")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let call = call_of(&l);
    let out = face.call(Op::Freeze, &call);
    expect_status(&out, Status::Unsupported)?;
    ensure!(
        out.record(".").action == Action::Unsupported,
        "directory: {:?}",
        out.record(".")
    );
    ensure!(
        std::os::unix::fs::symlink("/etc", l.dir.join("evil")).is_ok(),
        "ramfs cannot be pinned by flags"
    );
    fs::remove_file(l.dir.join("evil"))?;
    expect_status(&face.call(Op::Verify, &call), Status::NotFrozen)?;
    expect_status(&face.call(Op::Unfreeze, &call), Status::Ok)?;
    Tamper::Subdirectory.apply(&l)?;
    expect_status(&face.call(Op::Freeze, &call), Status::Invalid)?;
    Ok(())
}

fn attack(area: &Path, index: usize, creds: Creds) -> TestResult {
    let attack = &ATTACKS[index];
    let scratch = Scratch::new_in(area, "attack")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let call = call_of(&l);
    expect_status(&Face::Rust.call(Op::Freeze, &call), Status::Ok)?;
    let names = l.entry_names()?;
    let target = fs::read_link(l.dir.join("hooks"))?;
    let config = fs::read(l.dir.join("openclaw.json"))?;
    let result = run_as(creds, || (attack.run)(&l));
    ensure!(
        result.is_err(),
        "{} succeeded against a frozen directory",
        attack.name
    );
    ensure!(l.entry_names()? == names, "entries changed");
    ensure!(
        fs::read_link(l.dir.join("hooks"))? == target,
        "hooks re-pointed"
    );
    ensure!(
        fs::read(l.dir.join("openclaw.json"))? == config,
        "openclaw.json changed"
    );
    expect_status(&Face::Rust.call(Op::Verify, &call), Status::Ok)?;
    expect_status(&Face::Rust.call(Op::Unfreeze, &call), Status::Ok)?;
    // The same attack works once unfrozen: it was stopped by the freeze, not by chance. (The
    // sandbox user is also stopped by plain permissions on a root-owned directory, so only
    // the root attacker shows this.)
    if creds != Creds::User(SANDBOX_UID) {
        run_as(creds, || (attack.run)(&l))
            .map_err(|e| format!("{} fails even unfrozen: {e}", attack.name))?;
    }
    Ok(())
}

fn not_found_and_unsafe_paths(area: &Path, face: Face) -> TestResult {
    let scratch = Scratch::new_in(area, "paths")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let missing = Call::new(&l.root.join("absent"), &l.data, 0);
    expect_status(&face.call(Op::Freeze, &missing), Status::NotFound)?;
    let missing_data = Call::new(&l.dir, &l.root.join("absent"), 0);
    expect_status(&face.call(Op::Verify, &missing_data), Status::NotFound)?;
    let file = Call::new(&l.dir.join("openclaw.json"), &l.data, 0);
    expect_status(&face.call(Op::Freeze, &file), Status::UnsafePath)?;
    let through_file = Call::new(&l.dir.join("openclaw.json/x"), &l.data, 0);
    expect_status(&face.call(Op::Freeze, &through_file), Status::UnsafePath)?;
    std::os::unix::fs::symlink(&l.dir, l.root.join("dir-link"))?;
    let last_is_link = Call::new(&l.root.join("dir-link"), &l.data, 0);
    let out = face.call(Op::Freeze, &last_is_link);
    expect_status(&out, Status::UnsafePath)?;
    ensure!(
        out.summary.contains("symlink"),
        "the summary says which component: {}",
        out.summary
    );
    ensure!(!immutable_flag(&l.dir)?, "nothing pinned through a link");
    Ok(())
}

fn c_program(name: &'static str, area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "c")?;
    let exe = compile_c(name, scratch.path())?;
    let root = scratch.path().join("layout");
    fs::create_dir(&root)?;
    let l = Layout::build(&root, Variant::B)?;
    let out = Command::new(&exe).arg(&l.dir).arg(&l.data).output()?;
    ensure_ok(&out, &format!("c-tests/{name}"))?;
    ensure!(
        flags(&l.dir)?.iter().all(|(_, on)| !on),
        "the C program left a flag set"
    );
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let missing = privilege::missing();
    let areas = match &missing {
        None => {
            privilege::enter_private_mount_namespace().expect("entering a private mount namespace");
            Some(Arc::new(
                Areas::mount().expect("mounting the test filesystems"),
            ))
        }
        Some(why) if privilege::required() => {
            eprintln!(
                "privileged tests cannot run ({why}) and {} is set: failing",
                privilege::REQUIRE_VAR
            );
            None
        }
        Some(why) => {
            eprintln!(
                "privileged tests ignored: {why} (set {}=1 to fail instead)",
                privilege::REQUIRE_VAR
            );
            None
        }
    };

    let mut trials = Vec::new();
    let mut add =
        |name: String, kind: FsKind, test: Box<dyn FnOnce(&Path) -> TestResult + Send>| {
            let areas = areas.clone();
            let ignored = areas.is_none() && !privilege::required();
            trials.push(
                Trial::test(name, move || match areas {
                    Some(areas) => test(&areas.path(kind)),
                    None => Err("needs root with CAP_LINUX_IMMUTABLE and CAP_SYS_ADMIN".into()),
                })
                .with_ignored_flag(ignored),
            );
        };

    for kind in [FsKind::Disk, FsKind::Ext4, FsKind::Tmpfs] {
        let fs = kind.name();
        for face in Face::ALL {
            let f = face.name();
            for variant in [Variant::A, Variant::B] {
                add(
                    format!("{fs}::{f}::freeze_verify_unfreeze_variant_{variant:?}").to_lowercase(),
                    kind,
                    Box::new(move |a| freeze_verify_unfreeze(a, face, variant)),
                );
            }
            for tamper in Tamper::ALL {
                add(
                    format!("{fs}::{f}::rejects::{}", tamper.name()),
                    kind,
                    Box::new(move |a| rejects(a, face, tamper)),
                );
            }
            add(
                format!("{fs}::{f}::no_capability_without_cap_linux_immutable"),
                kind,
                Box::new(move |a| without_capability(a, face)),
            );
            add(
                format!("{fs}::{f}::plain_user_validates_and_pins_nothing"),
                kind,
                Box::new(move |a| plain_user(a, face)),
            );
        }
        for (index, a) in ATTACKS.iter().enumerate() {
            for creds in [
                Creds::RootWithout(&[CAP_LINUX_IMMUTABLE, CAP_SYS_ADMIN]),
                Creds::User(SANDBOX_UID),
            ] {
                add(
                    format!("{fs}::attack::{}::as_{}", a.name, creds.name()),
                    kind,
                    Box::new(move |area| attack(area, index, creds)),
                );
            }
        }
    }
    for face in Face::ALL {
        add(
            format!("ramfs::{}::unsupported", face.name()),
            FsKind::Ramfs,
            Box::new(move |a| ramfs_unsupported(a, face)),
        );
        add(
            format!("disk::{}::not_found_and_unsafe_paths", face.name()),
            FsKind::Disk,
            Box::new(move |a| not_found_and_unsafe_paths(a, face)),
        );
    }
    for name in ["gateway", "bad_input"] {
        add(
            format!("c_programs::{name}"),
            FsKind::Disk,
            Box::new(move |a| c_program(name, a)),
        );
    }

    let conclusion = libtest_mimic::run(&args, trials);
    drop(areas);
    conclusion.exit();
}
