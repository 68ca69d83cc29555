//! The privileged suite: real flags on real filesystems, attacks tried with fewer privileges,
//! every rejection case, and the C programs. It runs as root inside a private mount
//! namespace that it enters before any thread starts; every scratch directory clears its
//! flags and mounts when dropped, even when a test fails.
//!
//! Without root it lists every test as ignored (never as passed), and under
//! NC_HARDEN_REQUIRE_PRIVILEGED=1 (set by `.ci/run`) it fails instead.

mod bad_input;
mod budget;
mod callers;
#[path = "../common/mod.rs"]
mod common;
mod crash;
mod engine;
mod errors;
mod fallbacks;
mod guard;
mod holds;
mod inside;
mod launcher;
mod lines;
mod matrix;
mod race;
mod redteam;
mod redteam2;
mod redteam3;
mod renew;
mod seals;
mod shields;
mod shields_profile;
mod state;
mod transactions;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::native::{compile_c, ensure_ok};
use common::{Call, Face, Op, Outcome};
use libtest_mimic::{Arguments, Failed, Trial};
use nc_harden::rules::Reason;
use nc_harden::{escape_bytes, Action, Status, Strategy};
use nc_harden_testkit::creds::{CAP_LINUX_IMMUTABLE, CAP_SYS_ADMIN};
use nc_harden_testkit::{
    immutable_flag, privilege, run_as, Creds, Expect, FsKind, Layout, Scratch, Tamper, Variant,
    ATTACKS, SANDBOX_UID,
};

pub type TestResult = Result<(), Failed>;

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        let holds: bool = $cond;
        if !holds {
            return Err(format!($($msg)+).into());
        }
    };
}
pub(crate) use ensure;

/// The filesystems of the suite, each mounted once in the private namespace. One that
/// cannot be made (a missing mkfs, say) fails its tests under NC_HARDEN_REQUIRE_PRIVILEGED.
struct Areas {
    _scratch: Scratch,
    paths: Vec<(FsKind, Result<PathBuf, String>)>,
}

impl Areas {
    fn mount() -> io::Result<Areas> {
        let mut scratch = Scratch::new("areas")?;
        let mut paths = Vec::new();
        for kind in [
            FsKind::Disk,
            FsKind::Ext4,
            FsKind::Tmpfs,
            FsKind::Ramfs,
            FsKind::Xfs,
            FsKind::Btrfs,
            FsKind::Overlay,
        ] {
            let area = scratch
                .area(kind)
                .map_err(|e| format!("cannot make a {} area: {e}", kind.name()));
            paths.push((kind, area));
        }
        Ok(Areas {
            _scratch: scratch,
            paths,
        })
    }

    fn path(&self, kind: FsKind) -> Result<PathBuf, String> {
        self.paths
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, p)| p.clone())
            .expect("every kind is tried")
    }
}

pub fn call_of(l: &Layout) -> Call {
    let mut call = Call::new(&l.dir, &l.data, l.owner);
    call.require = vec!["openclaw.json".into(), ".config-hash".into()];
    call
}

/// Every inode of `dir` (and `dir` itself) with its immutable flag, read without nc-harden.
pub fn flags(dir: &Path) -> io::Result<Vec<(PathBuf, bool)>> {
    let mut out = vec![(dir.to_path_buf(), immutable_flag(dir)?)];
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        out.push((path.clone(), immutable_flag(&path)?));
    }
    out.sort();
    Ok(out)
}

pub fn with_timeout<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Failed> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(30))
        .map_err(|_| "the call blocked for 30 s".into())
}

pub fn expect_status(out: &Outcome, status: Status) -> TestResult {
    ensure!(
        out.status == status,
        "expected {}, got {}: {}",
        status.name(),
        out.status.name(),
        out.summary
    );
    Ok(())
}

fn main() {
    holds::chroot_child();
    shields_profile::child();
    redteam3::child();
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
            let area = match &areas {
                Some(areas) => areas.path(kind),
                None => Err("needs root with CAP_LINUX_IMMUTABLE and CAP_SYS_ADMIN".to_string()),
            };
            let ignored = area.is_err() && !privilege::required();
            trials.push(
                Trial::test(name, move || match area {
                    Ok(path) => test(&path),
                    Err(why) => Err(why.into()),
                })
                .with_ignored_flag(ignored),
            );
        };

    let strategies = [Strategy::Auto, Strategy::Mount, Strategy::Both];
    for kind in [FsKind::Disk, FsKind::Ext4, FsKind::Tmpfs] {
        let fs = kind.name();
        for face in Face::ALL {
            let f = face.name();
            for strategy in strategies {
                let s = strategy.name();
                for variant in [Variant::A, Variant::B] {
                    let v = format!("{variant:?}").to_lowercase();
                    add(
                        format!("{fs}::{f}::{s}::freeze_verify_unfreeze_variant_{v}"),
                        kind,
                        Box::new(move |a| {
                            engine::freeze_verify_unfreeze(a, face, variant, strategy)
                        }),
                    );
                }
            }
            for strategy in [Strategy::Auto, Strategy::Mount] {
                for tamper in Tamper::ALL {
                    add(
                        format!("{fs}::{f}::{}::rejects::{}", strategy.name(), tamper.name()),
                        kind,
                        Box::new(move |a| engine::rejects(a, face, tamper, strategy)),
                    );
                }
            }
            type FaceTest = fn(&Path, Face) -> TestResult;
            let cases: [(&str, FaceTest); 6] = [
                (
                    "unfreeze_needs_no_valid_layout",
                    engine::unfreeze_of_an_invalid_layout,
                ),
                (
                    "auto_without_cap_linux_immutable_pins_with_the_mount",
                    engine::auto_without_cap_linux_immutable_mounts,
                ),
                (
                    "immutable_without_cap_linux_immutable_is_no_capability",
                    engine::immutable_without_capability,
                ),
                (
                    "without_either_capability_pins_nothing",
                    engine::without_either_capability,
                ),
                ("plain_user_validates_and_pins_nothing", engine::plain_user),
                (
                    "foreign_mounts_are_left_alone",
                    engine::foreign_mounts_are_left_alone,
                ),
            ];
            for (name, test) in cases {
                add(
                    format!("{fs}::{f}::{name}"),
                    kind,
                    Box::new(move |a| test(a, face)),
                );
            }
        }
        for (index, a) in ATTACKS.iter().enumerate() {
            for creds in [
                Creds::RootWithout(&[CAP_LINUX_IMMUTABLE, CAP_SYS_ADMIN]),
                Creds::User(SANDBOX_UID),
            ] {
                for strategy in [Strategy::Auto, Strategy::Mount] {
                    add(
                        format!(
                            "{fs}::attack::{}::{}::as_{}",
                            strategy.name(),
                            a.name,
                            creds.name()
                        ),
                        kind,
                        Box::new(move |area| engine::attack(area, index, creds, strategy)),
                    );
                }
            }
        }
    }
    for face in Face::ALL {
        add(
            format!("ramfs::{}::flags_unsupported_mount_pins", face.name()),
            FsKind::Ramfs,
            Box::new(move |a| engine::ramfs(a, face)),
        );
        add(
            format!("disk::{}::not_found_and_unsafe_paths", face.name()),
            FsKind::Disk,
            Box::new(move |a| engine::not_found_and_unsafe_paths(a, face)),
        );
    }
    for name in callers::c_programs() {
        for checker in [callers::Checker::Valgrind, callers::Checker::Sanitizers] {
            let n = name.clone();
            add(
                format!("memory::{}::{name}", checker.name()),
                FsKind::Disk,
                Box::new(move |a| callers::c_program_checked(&n, a, checker)),
            );
        }
        for cpp in [false, true] {
            let language = if cpp { "cpp" } else { "c" };
            let n = name.clone();
            add(
                format!("callers::static_{language}::{name}"),
                FsKind::Disk,
                Box::new(move |a| callers::c_program(&n, a, cpp)),
            );
        }
    }
    type FaceTest = fn(&Path, Face) -> TestResult;
    let holds_cases: [(&str, FaceTest); 10] = [
        (
            "file_mounted_over_a_regular_entry",
            holds::file_mounted_over_a_regular_entry,
        ),
        (
            "something_mounted_over_a_symlink",
            holds::something_mounted_over_a_symlink,
        ),
        (
            "no_flag_outside_the_directory",
            holds::no_flag_outside_the_directory,
        ),
        (
            "administrators_read_only_bind_is_not_ours",
            holds::administrators_read_only_bind_is_not_ours,
        ),
        (
            "foreign_mount_on_top_of_ours",
            holds::foreign_mount_on_top_of_ours,
        ),
        ("unsafe_ancestors", holds::unsafe_ancestors),
        (
            "parent_owned_by_the_sandbox_user",
            holds::parent_owned_by_the_sandbox_user,
        ),
        ("pin_data_dir", holds::pin_data_dir),
        ("longest_targets", holds::longest_targets),
        ("conditions_in_the_report", holds::conditions_in_the_report),
    ];
    for kind in [FsKind::Ext4, FsKind::Xfs, FsKind::Btrfs, FsKind::Tmpfs] {
        for face in Face::ALL {
            for (name, test) in holds_cases {
                add(
                    format!("holds::{}::{}::{name}", kind.name(), face.name()),
                    kind,
                    Box::new(move |a| test(a, face)),
                );
            }
        }
    }
    for face in Face::ALL {
        add(
            format!("holds::disk::{}::required_twice", face.name()),
            FsKind::Disk,
            Box::new(move |a| holds::required_twice(a, face)),
        );
    }
    type AreaTestH = fn(&Path) -> TestResult;
    let holds_once: [(&str, FsKind, AreaTestH); 3] = [
        (
            "tmpfs::chroot_where_the_parent_mount_is_hidden",
            FsKind::Tmpfs,
            holds::chroot_where_the_parent_mount_is_hidden,
        ),
        (
            "ext4::state_records_are_roots_alone",
            FsKind::Ext4,
            holds::state_records_are_roots_alone,
        ),
        (
            "disk::required_twice_through_the_cli",
            FsKind::Disk,
            holds::required_twice_through_the_cli,
        ),
    ];
    for (name, kind, test) in holds_once {
        add(format!("holds::{name}"), kind, Box::new(test));
    }
    type AreaTestR = fn(&Path) -> TestResult;
    let redteam_cases: [(&str, FsKind, AreaTestR); 10] = [
        (
            "planted_record_makes_an_unpinned_dir_pinned",
            FsKind::Ext4,
            redteam::planted_record_makes_an_unpinned_dir_pinned,
        ),
        (
            "planted_record_makes_an_administrators_bind_ours",
            FsKind::Ext4,
            redteam::planted_record_makes_an_administrators_bind_ours,
        ),
        (
            "deleted_record_unfreeze_leaves_the_mount",
            FsKind::Ext4,
            redteam::deleted_record_unfreeze_leaves_the_mount,
        ),
        (
            "freeze_with_flags_on_a_foreign_mount_over_ours",
            FsKind::Ext4,
            redteam::freeze_with_flags_on_a_foreign_mount_over_ours,
        ),
        (
            "unfreeze_detaches_a_mount_over_an_entry",
            FsKind::Ext4,
            redteam::unfreeze_detaches_a_mount_over_an_entry,
        ),
        (
            "thread_with_its_own_mount_namespace",
            FsKind::Xfs,
            redteam::thread_with_its_own_mount_namespace,
        ),
        (
            "pin_data_dir_pins_a_directory_moved_away",
            FsKind::Ext4,
            redteam::pin_data_dir_pins_a_directory_moved_away,
        ),
        (
            "concurrent_freezes_stack",
            FsKind::Ext4,
            redteam::concurrent_freezes_stack,
        ),
        (
            "root_attacker_moves_the_parent",
            FsKind::Ext4,
            redteam::root_attacker_moves_the_parent,
        ),
        (
            "verify_trusts_a_mount_remounted_read_write",
            FsKind::Ext4,
            redteam::verify_trusts_a_mount_remounted_read_write,
        ),
    ];
    for kind in [
        FsKind::Ext4,
        FsKind::Xfs,
        FsKind::Btrfs,
        FsKind::Tmpfs,
        FsKind::Overlay,
    ] {
        for (layer, (name, _, _)) in inside::LAYERS.iter().enumerate() {
            add(
                format!(
                    "inside::{}::{name}::held_descriptors_change_nothing",
                    kind.name()
                ),
                kind,
                Box::new(move |a| inside::held_descriptors_change_nothing(a, layer)),
            );
        }
    }
    for (layer, (name, _, _)) in inside::LAYERS.iter().enumerate() {
        add(
            format!("inside::ext4::{name}::overlay_lower_layer"),
            FsKind::Ext4,
            Box::new(move |a| inside::overlay_lower_layer(a, layer)),
        );
        add(
            format!("inside::ext4::{name}::directory_is_a_mount_root"),
            FsKind::Ext4,
            Box::new(move |a| inside::directory_is_a_mount_root(a, layer)),
        );
    }
    for kind in [FsKind::Ext4, FsKind::Tmpfs] {
        for strategy in [Strategy::Immutable, Strategy::Mount, Strategy::Both] {
            for (op, invalid) in [("freeze", false), ("freeze", true), ("unfreeze", false)] {
                add(
                    format!(
                        "crash::{}::{}::{op}{}",
                        kind.name(),
                        strategy.name(),
                        if invalid { "_invalid" } else { "" }
                    ),
                    kind,
                    Box::new(move |a| crash::walk(a, strategy, op, invalid)),
                );
            }
            for op in ["shields_up", "shields_down"] {
                add(
                    format!("crash::{}::{}::{op}", kind.name(), strategy.name()),
                    kind,
                    Box::new(move |a| crash::walk_shields(a, strategy, op)),
                );
            }
        }
    }
    for kind in [FsKind::Ext4, FsKind::Xfs, FsKind::Btrfs, FsKind::Tmpfs] {
        for face in Face::ALL {
            let (fs, f) = (kind.name(), face.name());
            for (who, (name, _, _, _)) in shields::WHO.iter().enumerate() {
                add(
                    format!("shields::{fs}::{f}::{name}::walkthrough"),
                    kind,
                    Box::new(move |a| shields::walkthrough(a, face, who)),
                );
            }
            type ShieldTest = fn(&Path, Face) -> TestResult;
            let cases: [(&str, ShieldTest); 4] = [
                ("seal_cases", shields::seal_cases),
                (
                    "lock_with_a_flag_in_the_way",
                    shields::lock_with_a_flag_in_the_way,
                ),
                (
                    "flat_layout_refuses_links",
                    shields::flat_layout_refuses_links,
                ),
                (
                    "links_whose_data_entry_comes_later",
                    shields::links_whose_data_entry_comes_later,
                ),
            ];
            for (name, test) in cases {
                add(
                    format!("shields::{fs}::{f}::{name}"),
                    kind,
                    Box::new(move |a| test(a, face)),
                );
            }
            for (name, test) in transactions::CASES {
                add(
                    format!("transactions::{fs}::{f}::{name}"),
                    kind,
                    Box::new(move |a| test(a, face)),
                );
            }
        }
    }
    add(
        "inside::tmpfs::writer_that_stays_is_refused".into(),
        FsKind::Tmpfs,
        Box::new(inside::writer_that_stays_is_refused),
    );
    add(
        "inside::ext4::concurrent_processes_serialize".into(),
        FsKind::Ext4,
        Box::new(inside::concurrent_processes_serialize),
    );
    let redteam2_cases: [(&str, FsKind, AreaTestR); 5] = [
        (
            "renewal_drops_attributes_it_cannot_list",
            FsKind::Tmpfs,
            redteam2::renewal_drops_attributes_it_cannot_list,
        ),
        (
            "reseal_over_the_mount_unpins_on_an_invalid_beneath",
            FsKind::Tmpfs,
            redteam2::reseal_over_the_mount_unpins_on_an_invalid_beneath,
        ),
        (
            "reseal_over_the_mount_seals_bytes_written_beneath",
            FsKind::Tmpfs,
            redteam2::reseal_over_the_mount_seals_bytes_written_beneath,
        ),
        (
            "planted_intent_makes_a_freeze_take_back_earlier_pins",
            FsKind::Ext4,
            redteam2::planted_intent_makes_a_freeze_take_back_earlier_pins,
        ),
        (
            "lock_held_by_root_without_caps_blocks_every_call",
            FsKind::Ext4,
            redteam2::lock_held_by_root_without_caps_blocks_every_call,
        ),
    ];
    for (name, kind, test) in redteam2_cases {
        add(
            format!("redteam2::{}::{name}", kind.name()),
            kind,
            Box::new(test),
        );
    }
    for (name, kind, test) in redteam_cases {
        add(
            format!("redteam::{}::{name}", kind.name()),
            kind,
            Box::new(test),
        );
    }
    add(
        "disk::many_threads_at_once".into(),
        FsKind::Disk,
        Box::new(engine::many_threads_at_once),
    );
    add(
        "fallbacks::openat2_enosys_walks".into(),
        FsKind::Disk,
        Box::new(fallbacks::openat2_enosys),
    );
    add(
        "fallbacks::openat2_eagain_retries_then_walks".into(),
        FsKind::Disk,
        Box::new(fallbacks::openat2_eagain),
    );
    add(
        "fallbacks::statx_mnt_id_enosys_uses_procfs".into(),
        FsKind::Ext4,
        Box::new(fallbacks::statx_enosys),
    );
    add(
        "fallbacks::openat2_eperm_walks".into(),
        FsKind::Disk,
        Box::new(fallbacks::openat2_eperm),
    );
    add(
        "fallbacks::mount_api_enosys_uses_mount2".into(),
        FsKind::Ext4,
        Box::new(fallbacks::mount_api_enosys),
    );
    add(
        "fallbacks::xfs_file_setattr_enosys_pins_links_by_directory".into(),
        FsKind::Xfs,
        Box::new(fallbacks::file_setattr_enosys),
    );
    for fs in matrix::FILESYSTEMS {
        for creds in matrix::PRIVILEGES {
            for strategy in matrix::STRATEGIES {
                for face in [Face::Rust, Face::RustFallbacks] {
                    add(
                        format!(
                            "matrix::{}::{}::{}::{}",
                            fs.name(),
                            creds.name(),
                            strategy.name(),
                            face.name()
                        ),
                        fs,
                        Box::new(move |a| matrix::cell(a, fs, creds, strategy, face)),
                    );
                }
            }
        }
    }
    for (index, race) in race::RACES.iter().enumerate() {
        for strategy in [Strategy::Auto, Strategy::Mount] {
            add(
                format!("race::{}::{}", race.name, strategy.name()),
                FsKind::Ext4,
                Box::new(move |a| race::run(a, index, strategy)),
            );
        }
    }
    for (index, case) in bad_input::CASES.iter().enumerate() {
        add(
            format!("bad_input::{}", case.name),
            FsKind::Disk,
            Box::new(move |a| bad_input::run(a, index)),
        );
    }
    add(
        "bad_input::cli_usage_errors".into(),
        FsKind::Disk,
        Box::new(bad_input::cli_usage_errors),
    );
    for kind in [FsKind::Ext4, FsKind::Tmpfs, FsKind::Xfs] {
        let freeze = if kind == FsKind::Xfs {
            budget::freeze_flagging_links
        } else {
            budget::freeze
        };
        add(
            format!("budget::{}::freeze_syscalls_per_entry", kind.name()),
            kind,
            Box::new(freeze),
        );
        add(
            format!("budget::{}::verify_syscalls_per_entry", kind.name()),
            kind,
            Box::new(budget::verify),
        );
    }
    type AreaTest = fn(&Path) -> TestResult;
    let callers: [(&str, AreaTest); 6] = [
        ("demo_as_root_and_as_a_plain_user", callers::demo),
        (
            "installed_shared_object_via_pkg_config",
            callers::installed_shared,
        ),
        (
            "installed_static_library_via_pkg_config_static",
            callers::installed_static,
        ),
        ("dlopen_resolves_every_function", callers::dlopen),
        ("python_ctypes_helper", callers::python_ctypes),
        (
            "installed_cli_freeze_and_allow_degraded",
            callers::cli_freeze,
        ),
    ];
    for (name, test) in callers {
        add(format!("callers::{name}"), FsKind::Disk, Box::new(test));
    }
    for (name, test) in shields_profile::trials() {
        add(name, FsKind::Tmpfs, test);
    }
    for (name, test) in redteam3::trials() {
        add(name, FsKind::Tmpfs, test);
    }
    add(
        "redteam3::tmpfs::flat_hardlinked_config_stays_writable".into(),
        FsKind::Tmpfs,
        Box::new(redteam3::flat_hardlinked_config_stays_writable),
    );
    for (name, kind, test) in launcher::trials() {
        add(name, kind, test);
    }
    for (name, kind, test) in state::trials() {
        add(name, kind, test);
    }
    add(
        "errors::shields_up_unprivileged".into(),
        FsKind::Disk,
        Box::new(errors::shields_up_unprivileged),
    );
    add(
        "errors::freeze_lock_posture_unprivileged".into(),
        FsKind::Disk,
        Box::new(errors::freeze_lock_posture_unprivileged),
    );
    for (name, kind, test) in seals::trials() {
        add(name, kind, test);
    }
    for (name, kind, test) in lines::trials() {
        add(name, kind, test);
    }
    for (name, kind, test) in renew::trials() {
        add(name, kind, Box::new(test));
    }
    for (name, kind, test) in guard::trials() {
        add(name, kind, test);
    }

    let conclusion = libtest_mimic::run(&args, trials);
    drop(areas);
    conclusion.exit();
}
