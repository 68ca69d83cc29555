//! The engine against the kernel: freeze, verify and unfreeze on real filesystems with each
//! strategy, every attack with fewer privileges, every rejection case, degraded
//! environments, and mounts that are not nc-harden's.

use super::*;
use nc_harden::{Layer, Strategy};
use nc_harden_testkit::{bind, mounts_at};

/// The trials of this file, registered by main.rs: on the disk, ext4 and tmpfs, every face,
/// strategy, tamper and attack; ramfs and the paths that are not there once per face.
pub fn trials() -> Vec<Trial> {
    let mut out = Vec::new();
    let strategies = [Strategy::Auto, Strategy::Mount, Strategy::Both];
    for kind in [FsKind::Disk, FsKind::Ext4, FsKind::Tmpfs] {
        let fs = kind.name();
        for face in Face::ALL {
            let f = face.name();
            for strategy in strategies {
                let s = strategy.name();
                for variant in [Variant::A, Variant::B] {
                    let v = format!("{variant:?}").to_lowercase();
                    out.push(trial(
                        format!("{fs}::{f}::{s}::freeze_verify_unfreeze_variant_{v}"),
                        kind,
                        move |a| freeze_verify_unfreeze(a, face, variant, strategy),
                    ));
                }
            }
            for strategy in [Strategy::Auto, Strategy::Mount] {
                for tamper in Tamper::ALL {
                    out.push(trial(
                        format!("{fs}::{f}::{}::rejects::{}", strategy.name(), tamper.name()),
                        kind,
                        move |a| rejects(a, face, tamper, strategy),
                    ));
                }
            }
            type FaceTest = fn(&Path, Face) -> TestResult;
            let cases: [(&str, FaceTest); 6] = [
                (
                    "unfreeze_needs_no_valid_layout",
                    unfreeze_of_an_invalid_layout,
                ),
                (
                    "auto_without_cap_linux_immutable_pins_with_the_mount",
                    auto_without_cap_linux_immutable_mounts,
                ),
                (
                    "immutable_without_cap_linux_immutable_is_no_capability",
                    immutable_without_capability,
                ),
                (
                    "without_either_capability_pins_nothing",
                    without_either_capability,
                ),
                ("plain_user_validates_and_pins_nothing", plain_user),
                (
                    "foreign_mounts_are_left_alone",
                    foreign_mounts_are_left_alone,
                ),
            ];
            for (name, test) in cases {
                out.push(trial(format!("{fs}::{f}::{name}"), kind, move |a| {
                    test(a, face)
                }));
            }
        }
        for (index, a) in ATTACKS.iter().enumerate() {
            for creds in [
                Creds::RootWithout(&[CAP_LINUX_IMMUTABLE, CAP_SYS_ADMIN]),
                Creds::User(SANDBOX_UID),
            ] {
                for strategy in [Strategy::Auto, Strategy::Mount] {
                    out.push(trial(
                        format!(
                            "{fs}::attack::{}::{}::as_{}",
                            strategy.name(),
                            a.name,
                            creds.name()
                        ),
                        kind,
                        move |area| attack(area, index, creds, strategy),
                    ));
                }
            }
        }
    }
    for face in Face::ALL {
        out.push(trial(
            format!("ramfs::{}::flags_unsupported_mount_pins", face.name()),
            FsKind::Ramfs,
            move |a| ramfs(a, face),
        ));
        out.push(trial(
            format!("disk::{}::not_found_and_unsafe_paths", face.name()),
            FsKind::Disk,
            move |a| not_found_and_unsafe_paths(a, face),
        ));
    }
    out.push(trial(
        "disk::many_threads_at_once",
        FsKind::Disk,
        many_threads_at_once,
    ));
    out
}

const NO_IMMUTABLE: Creds = Creds::RootWithout(&[CAP_LINUX_IMMUTABLE]);
const NO_CAPS: Creds = Creds::RootWithout(&[CAP_LINUX_IMMUTABLE, CAP_SYS_ADMIN]);

/// What the kernel says is pinned: the flags of `dir` and its entries, and the mounts on
/// `dir`, each read without nc-harden.
#[derive(Debug, PartialEq, Eq)]
pub struct KernelState {
    pub flags: Vec<(PathBuf, bool)>,
    pub mounts: Vec<(u64, bool)>,
}

pub fn kernel_state(dir: &Path) -> io::Result<KernelState> {
    Ok(KernelState {
        flags: flags(dir)?,
        mounts: mounts_at(dir)?
            .iter()
            .map(|m| (m.id, m.read_only()))
            .collect(),
    })
}

impl KernelState {
    pub fn any_flag(&self) -> bool {
        self.flags.iter().any(|(_, on)| *on)
    }
    fn all_flags(&self) -> bool {
        self.flags.iter().all(|(path, on)| {
            *on || fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
        })
    }
    fn read_only_mount(&self) -> bool {
        self.mounts.last().is_some_and(|(_, ro)| *ro)
    }
}

pub fn ensure_clean(dir: &Path) -> TestResult {
    let state = kernel_state(dir)?;
    ensure!(
        !state.any_flag() && state.mounts.is_empty(),
        "something is left pinned: {state:?}"
    );
    Ok(())
}

/// The layers a strategy gives a full root.
fn expected_layers(strategy: Strategy) -> (bool, bool) {
    match strategy {
        Strategy::Auto | Strategy::Immutable => (true, false),
        Strategy::Mount => (false, true),
        Strategy::Both => (true, true),
    }
}

/// Every record agrees with the kernel: the directory and (with flags) the regular files
/// `files`; symlinks Frozen where their own inode carries the flag (XFS, Linux 6.17+), else
/// pinned by the directory; entries under the mount alone pinned by the directory.
pub fn check_pinned_records(out: &Outcome, l: &Layout, files: Action, flags: bool) -> TestResult {
    for r in &out.records {
        let path = if r.name == b"." {
            l.dir.clone()
        } else {
            l.dir
                .join(std::ffi::OsStr::new(&*String::from_utf8_lossy(&r.name)))
        };
        let meta = fs::symlink_metadata(&path)?;
        let expected = if r.name == b"." {
            files
        } else if meta.file_type().is_symlink() {
            if immutable_flag(&path)? {
                files
            } else {
                Action::PinnedByDirectory
            }
        } else if flags {
            files
        } else {
            Action::PinnedByDirectory
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

fn add_entry_as(creds: Creds, l: &Layout) -> io::Result<()> {
    run_as(creds, || {
        std::os::unix::fs::symlink("/etc", l.dir.join("evil"))
    })
}

pub fn freeze_verify_unfreeze(
    area: &Path,
    face: Face,
    variant: Variant,
    strategy: Strategy,
) -> TestResult {
    let scratch = Scratch::new_in(area, "cycle")?;
    let l = Layout::build(scratch.path(), variant)?;
    let call = call_of(&l).with_strategy(strategy);
    let entries = l.entry_names()?.len();
    let (imm, mnt) = expected_layers(strategy);

    let out = face.call(Op::Freeze, &call);
    expect_status(&out, Status::Ok)?;
    ensure!(
        (out.immutable_layer, out.mount_layer) == (imm, mnt),
        "layers: {}",
        out.summary
    );
    ensure!(
        out.records.len() == entries + 1,
        "one record per entry plus the directory"
    );
    check_pinned_records(&out, &l, Action::Frozen, imm)?;
    let state = kernel_state(&l.dir)?;
    ensure!(
        state.all_flags() == imm && state.any_flag() == imm,
        "flags: {state:?}"
    );
    ensure!(
        state.read_only_mount() == mnt && state.mounts.len() == mnt as usize,
        "mounts: {state:?}"
    );
    // Even full root cannot add an entry now.
    ensure!(
        add_entry_as(Creds::Full, &l).is_err(),
        "root created a link in a frozen dir"
    );

    let verified = face.call(Op::Verify, &call);
    expect_status(&verified, Status::Ok)?;
    ensure!(
        (verified.immutable_layer, verified.mount_layer) == (imm, mnt),
        "verify sees the layers"
    );
    let again = face.call(Op::Freeze, &call);
    expect_status(&again, Status::Ok)?;
    check_pinned_records(&again, &l, Action::AlreadyFrozen, imm)?;
    ensure!(
        kernel_state(&l.dir)?.mounts.len() == mnt as usize,
        "a second freeze stacks no mount"
    );

    let out = face.call(Op::Unfreeze, &call);
    expect_status(&out, Status::Ok)?;
    ensure!(
        out.record(".").action == Action::Unfrozen,
        "the directory must be reported unfrozen"
    );
    ensure_clean(&l.dir)?;
    add_entry_as(Creds::Full, &l)?;
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

pub fn rejects(area: &Path, face: Face, tamper: Tamper, strategy: Strategy) -> TestResult {
    let scratch = Scratch::new_in(area, "reject")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let case = tamper.apply(&l)?;
    let mut call = Call::new(&case.dir, &case.data, l.owner).with_strategy(strategy);
    call.require = case.require.iter().map(|s| s.to_string()).collect();
    let before = kernel_state(&l.dir)?;
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
            ensure!(
                !out.immutable_layer && !out.mount_layer,
                "no layer may remain after NC_INVALID"
            );
        }
        Expect::UnsafePath => expect_status(&out, Status::UnsafePath)?,
    }
    let after = kernel_state(&l.dir)?;
    ensure!(
        after == before,
        "the kernel state changed: {before:?} -> {after:?}"
    );
    ensure!(l.entry_names()? == names_before, "entries changed");
    Ok(())
}

/// Root without CAP_LINUX_IMMUTABLE (as container runtimes start it): AUTO falls back to the
/// read-only mount, which stops every attack and lets writes through the links go on.
pub fn auto_without_cap_linux_immutable_mounts(area: &Path, face: Face) -> TestResult {
    let scratch = Scratch::new_in(area, "automount")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let call = call_of(&l);
    let out = run_as(NO_IMMUTABLE, || face.call(Op::Freeze, &call));
    expect_status(&out, Status::Ok)?;
    ensure!(
        !out.immutable_layer && out.mount_layer,
        "layers: {}",
        out.summary
    );
    ensure!(
        out.attempt(Layer::Immutable) == Some((Action::Denied, libc::EPERM)),
        "immutable: {:?}",
        out.attempts
    );
    ensure!(
        out.attempt(Layer::Mount) == Some((Action::Frozen, 0)),
        "mount: {:?}",
        out.attempts
    );
    check_pinned_records(&out, &l, Action::Frozen, false)?;
    let state = kernel_state(&l.dir)?;
    ensure!(
        !state.any_flag() && state.read_only_mount(),
        "kernel: {state:?}"
    );
    for attack in ATTACKS {
        for creds in [NO_CAPS, Creds::User(SANDBOX_UID)] {
            ensure!(
                run_as(creds, || (attack.run)(&l)).is_err(),
                "{} as {} went through the mount",
                attack.name,
                creds.name()
            );
        }
    }
    // The sandbox user still writes its data through the links.
    run_as(Creds::User(SANDBOX_UID), || {
        fs::write(l.dir.join("workspace/note.txt"), b"data")
    })?;
    ensure!(
        fs::read(l.data.join("workspace/note.txt"))? == b"data",
        "the write did not reach the data dir"
    );
    expect_status(
        &run_as(NO_IMMUTABLE, || face.call(Op::Verify, &call)),
        Status::Ok,
    )?;
    expect_status(
        &run_as(NO_IMMUTABLE, || face.call(Op::Unfreeze, &call)),
        Status::Ok,
    )?;
    ensure_clean(&l.dir)?;
    add_entry_as(NO_CAPS, &l).map_err(|e| format!("unfrozen, the attack works again: {e}"))?;
    Ok(())
}

/// Strategy IMMUTABLE without CAP_LINUX_IMMUTABLE: nothing pinned, said so, validation done.
pub fn immutable_without_capability(area: &Path, face: Face) -> TestResult {
    let scratch = Scratch::new_in(area, "nocap")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let call = call_of(&l).with_strategy(Strategy::Immutable);
    let out = run_as(NO_IMMUTABLE, || face.call(Op::Freeze, &call));
    expect_status(&out, Status::NoCapability)?;
    let dir = out.record(".");
    ensure!(
        dir.action == Action::Denied && dir.errno == libc::EPERM,
        "directory: {dir:?}"
    );
    ensure!(
        out.attempt(Layer::Mount).is_none(),
        "IMMUTABLE does not try the mount"
    );
    ensure_clean(&l.dir)?;
    Tamper::RepointedLink.apply(&l)?;
    let out = run_as(NO_IMMUTABLE, || face.call(Op::Freeze, &call));
    expect_status(&out, Status::Invalid)?;
    ensure!(
        out.record("hooks").reason == Reason::LinkTargetMismatch,
        "hooks must be rejected"
    );
    Ok(())
}

/// Root without CAP_LINUX_IMMUTABLE and CAP_SYS_ADMIN: no layer applies; each says why.
pub fn without_either_capability(area: &Path, face: Face) -> TestResult {
    let scratch = Scratch::new_in(area, "nocaps")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let call = call_of(&l);
    let out = run_as(NO_CAPS, || face.call(Op::Freeze, &call));
    expect_status(&out, Status::NoCapability)?;
    ensure!(
        out.attempt(Layer::Immutable) == Some((Action::Denied, libc::EPERM)),
        "{:?}",
        out.attempts
    );
    ensure!(
        out.attempt(Layer::Mount) == Some((Action::Denied, libc::EPERM)),
        "{:?}",
        out.attempts
    );
    ensure!(
        out.summary.contains("immutable: denied") && out.summary.contains("mount: denied"),
        "{}",
        out.summary
    );
    ensure_clean(&l.dir)?;
    Tamper::Subdirectory.apply(&l)?;
    expect_status(
        &run_as(NO_CAPS, || face.call(Op::Freeze, &call)),
        Status::Invalid,
    )?;
    ensure_clean(&l.dir)
}

pub fn plain_user(area: &Path, face: Face) -> TestResult {
    let scratch = Scratch::new_in(area, "user")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let call = call_of(&l);
    let user = Creds::User(SANDBOX_UID);
    let out = run_as(user, || face.call(Op::Freeze, &call));
    expect_status(&out, Status::NoCapability)?;
    ensure!(
        out.record(".").action == Action::Denied,
        "the directory must be denied"
    );
    ensure!(
        out.records
            .iter()
            .skip(1)
            .all(|r| r.action == Action::Checked),
        "every entry validated"
    );
    ensure_clean(&l.dir)?;
    expect_status(
        &run_as(user, || face.call(Op::Verify, &call)),
        Status::NotFrozen,
    )?;
    Tamper::DotfileLinkElsewhere.apply(&l)?;
    let out = run_as(user, || face.call(Op::Freeze, &call));
    expect_status(&out, Status::Invalid)?;
    ensure!(
        out.record(".evil").reason == Reason::LinkTargetMismatch,
        ".evil must be rejected"
    );
    ensure_clean(&l.dir)
}

/// ramfs has no flags at all: IMMUTABLE says NC_UNSUPPORTED, AUTO pins with the mount.
pub fn ramfs(area: &Path, face: Face) -> TestResult {
    let scratch = Scratch::new_in(area, "ramfs")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let call = call_of(&l).with_strategy(Strategy::Immutable);
    let out = face.call(Op::Freeze, &call);
    expect_status(&out, Status::Unsupported)?;
    ensure!(
        out.record(".").action == Action::Unsupported,
        "directory: {:?}",
        out.record(".")
    );
    ensure_clean(&l.dir)?;
    expect_status(&face.call(Op::Verify, &call), Status::NotFrozen)?;

    let call = call_of(&l);
    let out = face.call(Op::Freeze, &call);
    expect_status(&out, Status::Ok)?;
    ensure!(out.mount_layer && !out.immutable_layer, "{}", out.summary);
    ensure!(
        out.attempt(Layer::Immutable)
            .is_some_and(|a| a.0 == Action::Unsupported),
        "{:?}",
        out.attempts
    );
    ensure!(
        kernel_state(&l.dir)?.read_only_mount(),
        "no read-only mount on ramfs"
    );
    for attack in ATTACKS {
        ensure!(
            run_as(NO_CAPS, || (attack.run)(&l)).is_err(),
            "{} went through on ramfs",
            attack.name
        );
    }
    expect_status(&face.call(Op::Verify, &call), Status::Ok)?;
    expect_status(&face.call(Op::Unfreeze, &call), Status::Ok)?;
    ensure_clean(&l.dir)?;
    Tamper::Subdirectory.apply(&l)?;
    expect_status(&face.call(Op::Freeze, &call), Status::Invalid)?;
    ensure_clean(&l.dir)
}

pub fn attack(area: &Path, index: usize, creds: Creds, strategy: Strategy) -> TestResult {
    let attack = &ATTACKS[index];
    let scratch = Scratch::new_in(area, "attack")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let call = call_of(&l).with_strategy(strategy);
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

/// Mounts that are not nc-harden's are never taken off: a read-write bind of the directory
/// onto itself, a read-only bind of another directory; nc-harden's own on top of one goes.
pub fn foreign_mounts_are_left_alone(area: &Path, face: Face) -> TestResult {
    let scratch = Scratch::new_in(area, "foreign")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    // No required names: the other directory bound on top has other entries.
    let call = Call::new(&l.dir, &l.data, l.owner).with_strategy(Strategy::Mount);
    bind(&l.dir, &l.dir, false)?;
    let foreign = kernel_state(&l.dir)?.mounts;
    ensure!(foreign.len() == 1, "{foreign:?}");
    expect_status(&face.call(Op::Unfreeze, &call), Status::Ok)?;
    ensure!(
        kernel_state(&l.dir)?.mounts == foreign,
        "unfreeze took off a read-write bind"
    );
    expect_status(&face.call(Op::Freeze, &call), Status::Ok)?;
    ensure!(
        kernel_state(&l.dir)?.mounts.len() == 2,
        "ours on top of the foreign one"
    );
    expect_status(&face.call(Op::Unfreeze, &call), Status::Ok)?;
    ensure!(
        kernel_state(&l.dir)?.mounts == foreign,
        "unfreeze must take off exactly its own"
    );
    expect_status(&face.call(Op::Unfreeze, &call), Status::Ok)?;
    ensure!(
        kernel_state(&l.dir)?.mounts == foreign,
        "and stay put when called twice"
    );

    let other = l.root.join("other");
    fs::create_dir(&other)?;
    let other_link = other.join("hooks");
    std::os::unix::fs::symlink(l.data.join("hooks"), &other_link)?;
    bind(&other, &l.dir, true)?;
    let foreign = kernel_state(&l.dir)?.mounts;
    ensure!(
        foreign.len() == 2 && kernel_state(&l.dir)?.read_only_mount(),
        "{foreign:?}"
    );
    expect_status(&face.call(Op::Verify, &call), Status::NotFrozen)?;
    expect_status(&face.call(Op::Unfreeze, &call), Status::Ok)?;
    ensure!(
        kernel_state(&l.dir)?.mounts == foreign,
        "unfreeze took off a read-only bind of another directory"
    );
    Ok(())
}

pub fn not_found_and_unsafe_paths(area: &Path, face: Face) -> TestResult {
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

/// No global state: many threads at once, some verifying one frozen layout, others freezing
/// and unfreezing layouts of their own, through both faces; every answer is the right one.
pub fn many_threads_at_once(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "threads")?;
    let shared_root = scratch.path().join("shared");
    fs::create_dir(&shared_root)?;
    let shared = Layout::build(&shared_root, Variant::B)?;
    expect_status(&Face::Rust.call(Op::Freeze, &call_of(&shared)), Status::Ok)?;
    let results: Vec<TestResult> = std::thread::scope(|s| {
        let mut handles = Vec::new();
        for t in 0..8 {
            let (shared, root) = (&shared, scratch.path().join(format!("own-{t}")));
            handles.push(s.spawn(move || -> TestResult {
                fs::create_dir(&root)?;
                let own = Layout::build(&root, Variant::B)?;
                let face = if t % 2 == 0 { Face::Rust } else { Face::C };
                for _ in 0..40 {
                    expect_status(&face.call(Op::Verify, &call_of(shared)), Status::Ok)?;
                    expect_status(&face.call(Op::Freeze, &call_of(&own)), Status::Ok)?;
                    expect_status(&face.call(Op::Verify, &call_of(&own)), Status::Ok)?;
                    expect_status(&face.call(Op::Unfreeze, &call_of(&own)), Status::Ok)?;
                }
                ensure_clean(&own.dir)
            }));
        }
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a thread panicked".into())))
            .collect()
    });
    for r in results {
        r?;
    }
    expect_status(
        &Face::Rust.call(Op::Unfreeze, &call_of(&shared)),
        Status::Ok,
    )?;
    ensure_clean(&shared.dir)
}

/// Unfreeze needs no valid layout: the data directory (the sandbox user's) changes under a
/// frozen directory, verify says NC_INVALID, and unfreeze still takes every pin off.
pub fn unfreeze_of_an_invalid_layout(area: &Path, face: Face) -> TestResult {
    let scratch = Scratch::new_in(area, "invalidthaw")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let call = call_of(&l);
    expect_status(&face.call(Op::Freeze, &call), Status::Ok)?;
    fs::remove_dir(l.data.join("hooks"))?;
    std::os::unix::fs::symlink("/etc", l.data.join("hooks"))?;
    let seen = face.call(Op::Verify, &call);
    expect_status(&seen, Status::Invalid)?;
    ensure!(
        seen.record("hooks").reason == Reason::DataEntryIsSymlink,
        "{:?}",
        seen.record("hooks")
    );
    expect_status(&face.call(Op::Unfreeze, &call), Status::Ok)?;
    ensure_clean(&l.dir)
}
