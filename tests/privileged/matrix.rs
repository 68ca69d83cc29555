//! The environment matrix: filesystems × privileges × strategies, with openat2 and the new
//! mount API and with both fallbacks forced. Each cell freezes the workload layout, checks
//! the status and the report's layers against what the kernel really did (flags and mounts
//! read independently), tries every attack, unfreezes, and checks that the attacks then work.

use super::engine::{ensure_clean, kernel_state};
use super::*;
use nc_harden::{Layer, Strategy};

/// The trials of this file, registered by main.rs: one per cell, with openat2 and the new
/// mount API and with both fallbacks forced.
pub fn trials() -> Vec<Trial> {
    let mut out = Vec::new();
    for fs in FILESYSTEMS {
        for creds in PRIVILEGES {
            for strategy in STRATEGIES {
                for face in [Face::Rust, Face::RustFallbacks] {
                    out.push(trial(
                        format!(
                            "matrix::{}::{}::{}::{}",
                            fs.name(),
                            creds.name(),
                            strategy.name(),
                            face.name()
                        ),
                        fs,
                        move |a| cell(a, fs, creds, strategy, face),
                    ));
                }
            }
        }
    }
    out
}

pub const FILESYSTEMS: [FsKind; 6] = [
    FsKind::Ext4,
    FsKind::Xfs,
    FsKind::Btrfs,
    FsKind::Tmpfs,
    FsKind::Overlay,
    FsKind::Ramfs,
];

pub const PRIVILEGES: [Creds; 5] = [
    Creds::Full,
    Creds::RootWithout(&[CAP_LINUX_IMMUTABLE]),
    Creds::RootWithout(&[CAP_SYS_ADMIN]),
    Creds::RootWithout(&[CAP_LINUX_IMMUTABLE, CAP_SYS_ADMIN]),
    Creds::User(SANDBOX_UID),
];

pub const STRATEGIES: [Strategy; 4] = [
    Strategy::Auto,
    Strategy::Immutable,
    Strategy::Mount,
    Strategy::Both,
];

fn has(creds: Creds, cap: u32) -> bool {
    match creds {
        Creds::Full => true,
        Creds::RootWithout(caps) => !caps.contains(&cap),
        Creds::User(_) => false,
    }
}

/// What the contract says a valid layout gets: (status, immutable layer, mount layer).
pub fn expected(fs: FsKind, creds: Creds, strategy: Strategy) -> (Status, bool, bool) {
    let flags_exist = fs != FsKind::Ramfs;
    let (may_flag, may_mount) = (has(creds, CAP_LINUX_IMMUTABLE), has(creds, CAP_SYS_ADMIN));
    let try_flag = matches!(
        strategy,
        Strategy::Auto | Strategy::Immutable | Strategy::Both
    );
    let imm = try_flag && flags_exist && may_flag;
    let try_mount = matches!(strategy, Strategy::Mount | Strategy::Both)
        || (strategy == Strategy::Auto && !imm);
    let mnt = try_mount && may_mount;
    let denied = (try_flag && flags_exist && !may_flag) || (try_mount && !may_mount);
    let status = if !imm && !mnt {
        if denied {
            Status::NoCapability
        } else {
            Status::Unsupported
        }
    } else if strategy == Strategy::Both && !(imm && mnt) {
        Status::Partial
    } else {
        Status::Ok
    };
    (status, imm, mnt)
}

/// Every attack of the testkit, ordered so that each leaves the next something to attack.
const UNFROZEN_ORDER: [&str; 12] = [
    "create_link",
    "create_dotfile_link",
    "create_file",
    "write_config",
    "append_config",
    "chmod_config",
    "hard_link_config",
    "repoint_link_by_exchange",
    "remove_link",
    "repoint_link_by_rename",
    "rename_link",
    "remove_config",
];

const NO_CAPS: Creds = Creds::RootWithout(&[CAP_LINUX_IMMUTABLE, CAP_SYS_ADMIN]);

pub fn cell(area: &Path, fs: FsKind, creds: Creds, strategy: Strategy, face: Face) -> TestResult {
    ensure!(
        UNFROZEN_ORDER.len() == ATTACKS.len(),
        "UNFROZEN_ORDER must list every attack"
    );
    let scratch = Scratch::new_in(area, "cell")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let call = call_of(&l).with_strategy(strategy);
    let (status, imm, mnt) = expected(fs, creds, strategy);

    let out = run_as(creds, || face.call(Op::Freeze, &call));
    expect_status(&out, status)?;
    ensure!(
        (out.immutable_layer, out.mount_layer) == (imm, mnt),
        "layers {:?}: {}",
        (imm, mnt),
        out.summary
    );

    // The report against the kernel.
    let state = kernel_state(&l.dir)?;
    ensure!(immutable_flag(&l.dir)? == imm, "directory flag: {state:?}");
    for file in l.regular_files()? {
        ensure!(immutable_flag(&file)? == imm, "{file:?} flag");
    }
    ensure!(
        state.mounts.len() == mnt as usize && (!mnt || state.mounts[0].1),
        "mounts: {state:?}"
    );
    // With the mount layer the path shows the fresh directory (a tmpfs, which keeps no flag
    // on a symlink): its links are held by that directory. The legacy mount(2) layer binds
    // the directory itself, flags and all.
    let links_flagged = fs == FsKind::Xfs && imm && (!mnt || face == Face::RustFallbacks);
    for name in l.entry_names()? {
        let path = l.dir.join(&name);
        if !path.is_symlink() {
            continue;
        }
        ensure!(
            immutable_flag(&path)? == links_flagged,
            "{name}: symlink flag"
        );
        let expected = match (imm || mnt, links_flagged) {
            (_, true) => Action::Frozen,
            (true, false) => Action::PinnedByDirectory,
            (false, _) => Action::Checked,
        };
        ensure!(
            out.record(&name).action == expected,
            "{name}: {:?}, expected {expected:?}",
            out.record(&name).action
        );
    }
    if let Some((action, errno)) = out.attempt(Layer::Immutable) {
        ensure!(
            action.is_pinned() == imm,
            "the immutable attempt says {action:?} ({errno})"
        );
    }

    // Every attack, by the root attacker and by the sandbox user, fails while pinned.
    if imm || mnt {
        for attack in ATTACKS {
            for attacker in [NO_CAPS, Creds::User(SANDBOX_UID)] {
                ensure!(
                    run_as(attacker, || (attack.run)(&l)).is_err(),
                    "{} as {} went through",
                    attack.name,
                    attacker.name()
                );
            }
        }
        expect_status(&run_as(creds, || face.call(Op::Verify, &call)), Status::Ok)?;
    }
    let out = face.call(Op::Unfreeze, &call);
    expect_status(&out, Status::Ok)?;
    ensure_clean(&l.dir)?;
    expect_status(&face.call(Op::Verify, &call), Status::NotFrozen)?;
    // Unfrozen, every attack works again on the same directory, in an order in which none
    // undoes the ground of the next.
    for name in UNFROZEN_ORDER {
        let attack = ATTACKS
            .iter()
            .find(|a| a.name == name)
            .ok_or("unknown attack")?;
        run_as(NO_CAPS, || (attack.run)(&l))
            .map_err(|e| format!("{} fails unfrozen: {e}", attack.name))?;
    }
    Ok(())
}
