//! Shields up, down and status (contract, version 0.2): NemoClaw's flat configuration
//! directory (variant F), its locked posture, its content seal, each with every layer and
//! without capabilities, through the Rust API and the C ABI.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use super::engine::{ensure_clean, kernel_state};
use super::*;
use nc_harden::HandTo;
use nc_harden_testkit::Flat;

/// The trials of this file, registered by main.rs, on ext4, XFS, btrfs and tmpfs, through
/// every face. (transactions.rs registers its own cases.)
pub fn trials() -> Vec<Trial> {
    let mut out = Vec::new();
    for kind in [FsKind::Ext4, FsKind::Xfs, FsKind::Btrfs, FsKind::Tmpfs] {
        for face in Face::ALL {
            let (fs, f) = (kind.name(), face.name());
            for (who, (name, _, _, _)) in WHO.iter().enumerate() {
                out.push(trial(
                    format!("shields::{fs}::{f}::{name}::walkthrough"),
                    kind,
                    move |a| walkthrough(a, face, who),
                ));
            }
            type ShieldTest = fn(&Path, Face) -> TestResult;
            let cases: [(&str, ShieldTest); 4] = [
                ("seal_cases", seal_cases),
                ("lock_with_a_flag_in_the_way", lock_with_a_flag_in_the_way),
                ("flat_layout_refuses_links", flat_layout_refuses_links),
                (
                    "links_whose_data_entry_comes_later",
                    links_whose_data_entry_comes_later,
                ),
            ];
            for (name, test) in cases {
                out.push(trial(
                    format!("shields::{fs}::{f}::{name}"),
                    kind,
                    move |a| test(a, face),
                ));
            }
        }
    }
    out
}

const NO_IMMUTABLE: Creds = Creds::RootWithout(&[CAP_LINUX_IMMUTABLE]);
const NO_CAPS: Creds = Creds::RootWithout(&[CAP_LINUX_IMMUTABLE, CAP_SYS_ADMIN]);

/// Who locks: the flag (full root), the mount (AUTO without CAP_LINUX_IMMUTABLE), both, and
/// nothing at all (neither capability: posture and seal still work).
pub const WHO: [(&str, Creds, Strategy, Status); 4] = [
    ("immutable", Creds::Full, Strategy::Immutable, Status::Ok),
    ("mount", NO_IMMUTABLE, Strategy::Auto, Status::Ok),
    ("both", Creds::Full, Strategy::Both, Status::Ok),
    (
        "no_capability",
        NO_CAPS,
        Strategy::Auto,
        Status::NoCapability,
    ),
];

pub(crate) fn flat_call(f: &Flat, strategy: Strategy) -> Call {
    let mut call = Call::new(&f.dir, &f.root.join("unused"), 0).with_strategy(strategy);
    call.flat = true;
    call.seal = Some(".config-hash".into());
    call
}

pub(crate) fn shields_up(f: &Flat, strategy: Strategy) -> Call {
    let mut call = flat_call(f, strategy);
    call.lock_posture = true;
    call.reseal = true;
    call
}

pub(crate) fn shields_down(f: &Flat) -> Call {
    let mut call = flat_call(f, Strategy::Auto);
    call.seal = None;
    call.hand_to = Some(HandTo {
        uid: Some(f.sandbox),
        gid: Some(f.sandbox),
        dir_mode: Some(0o2770),
        file_mode: Some(0o660),
    });
    call
}

fn mode_owner(path: &Path) -> io::Result<(u32, u32)> {
    let m = fs::symlink_metadata(path)?;
    Ok((m.permissions().mode() & 0o7777, m.uid()))
}

fn sha256sum_check(dir: &Path) -> io::Result<bool> {
    Ok(Command::new("sha256sum")
        .args(["-c", "--quiet", ".config-hash"])
        .current_dir(dir)
        .status()?
        .success())
}

/// The walkthrough, as NemoClaw's shields run it: variant F mutable; the sandbox user holds
/// openclaw.json open for writing; shields up (lock the posture, reseal, pin); the path
/// shows root:root 0755 and 0444 on fresh inodes, `sha256sum -c` passes, writes fail and the
/// held descriptor changes nothing; verify answers "are the shields up?" with the seal and
/// the digests; shields down hands it back (sandbox:sandbox, 2770, 0660) and writes work.
pub fn walkthrough(area: &Path, face: Face, who: usize) -> TestResult {
    let (name, creds, strategy, status) = WHO[who];
    let scratch = Scratch::new_in(area, "shields")?;
    let f = Flat::build(scratch.path())?;
    let config = f.dir.join("openclaw.json");
    let before = fs::read(&config)?;
    let held: std::os::fd::OwnedFd = run_as(Creds::User(SANDBOX_UID), || {
        fs::OpenOptions::new().read(true).write(true).open(&config)
    })?
    .into();
    let up = shields_up(&f, strategy);
    let out = run_as(creds, || face.call(Op::Freeze, &up));
    expect_status(&out, status)?;
    ensure!(
        out.json["seal"]["result"] == "ok" && out.json["posture"] == "locked",
        "{name}: {}",
        out.json
    );
    ensure!(
        mode_owner(&f.dir)? == (0o755, 0) && mode_owner(&config)? == (0o444, 0),
        "{name}: posture {:?} {:?}",
        mode_owner(&f.dir)?,
        mode_owner(&config)?
    );
    ensure!(
        sha256sum_check(&f.dir)?,
        "{name}: sha256sum -c refuses the seal written"
    );
    let digest = out.json["entries"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["name"] == "openclaw.json"))
        .map(|e| e["sha256"].clone());
    ensure!(
        digest
            .as_ref()
            .and_then(|d| d.as_str())
            .is_some_and(|d| d.len() == 64),
        "{name}: the report carries openclaw.json's digest: {digest:?}"
    );
    // A write through the held descriptor, from before shields up, changes nothing.
    // SAFETY: a valid buffer written at offset 0 of an open fd.
    let wrote = unsafe {
        libc::pwrite(
            std::os::fd::AsRawFd::as_raw_fd(&held),
            b"{}".as_ptr().cast(),
            2,
            0,
        )
    };
    ensure!(
        fs::read(&config)? == before,
        "{name}: the held descriptor (pwrite {wrote}) changed what the path shows"
    );
    if status == Status::Ok {
        for attacker in [NO_CAPS, Creds::User(SANDBOX_UID)] {
            let tried = run_as(attacker, || fs::write(&config, b"{\"evil\":1}"));
            ensure!(tried.is_err(), "{name}: {} could write", attacker.name());
        }
    }
    let verified = run_as(creds, || face.call(Op::Verify, &flat_call(&f, strategy)));
    let expected = if status == Status::Ok {
        Status::Ok
    } else {
        Status::NotFrozen
    };
    expect_status(&verified, expected)?;
    ensure!(
        verified.json["seal"]["result"] == "ok" && verified.json["posture"] == "locked",
        "{name}: verify: {}",
        verified.json
    );
    drop(held);
    let down = run_as(creds, || face.call(Op::Unfreeze, &shields_down(&f)));
    expect_status(&down, Status::Ok)?;
    ensure!(
        mode_owner(&f.dir)? == (0o2770, f.sandbox) && mode_owner(&config)? == (0o660, f.sandbox),
        "{name}: shields down: {:?} {:?}",
        mode_owner(&f.dir)?,
        mode_owner(&config)?
    );
    ensure_clean(&f.dir)?;
    run_as(Creds::User(SANDBOX_UID), || {
        fs::write(&config, b"{\"edited\":1}\n")
    })
    .map_err(|e| format!("{name}: after shields down the sandbox user writes: {e}"))?;
    Ok(())
}

/// The seal's cases, each on a fresh variant F locked by hand: missing, malformed (a line of
/// the wrong shape, a name with '/', a name that is not a regular file of the directory, too
/// large), mismatched (the config changed after the seal). Freeze and verify say NC_INVALID
/// with the reason on the right entry, freeze leaves nothing pinned, and the seal result is
/// reported.
pub fn seal_cases(area: &Path, face: Face) -> TestResult {
    type Spoil = fn(&Path) -> io::Result<()>;
    let cases: [(&str, Spoil, &str, Reason, &str); 6] = [
        (
            "missing",
            |d| fs::remove_file(d.join(".config-hash")),
            ".config-hash",
            Reason::SealMissing,
            "missing",
        ),
        (
            "wrong_shape",
            |d| fs::write(d.join(".config-hash"), b"not a digest  openclaw.json\n"),
            ".config-hash",
            Reason::SealMalformed,
            "malformed",
        ),
        (
            "path_with_slash",
            |d| {
                let line = format!("{}  ../openclaw.json\n", "0".repeat(64));
                fs::write(d.join(".config-hash"), line)
            },
            ".config-hash",
            Reason::SealMalformed,
            "malformed",
        ),
        (
            "names_no_file",
            |d| {
                let line = format!("{}  absent.json\n", "0".repeat(64));
                fs::write(d.join(".config-hash"), line)
            },
            ".config-hash",
            Reason::SealMalformed,
            "malformed",
        ),
        (
            "too_large",
            |d| fs::write(d.join(".config-hash"), vec![b'0'; 70 * 1024]),
            ".config-hash",
            Reason::SealMalformed,
            "malformed",
        ),
        (
            "mismatch",
            |d| fs::write(d.join("openclaw.json"), b"{\"tampered\":1}\n"),
            "openclaw.json",
            Reason::SealMismatch,
            "mismatch",
        ),
    ];
    for (case, spoil, entry, reason, result) in cases {
        let scratch = Scratch::new_in(area, "seal")?;
        let f = Flat::build(scratch.path())?;
        // Locked by hand (root's, 0755, 0444): only the seal is wrong.
        std::os::unix::fs::chown(&f.dir, Some(0), Some(0))?;
        fs::set_permissions(&f.dir, fs::Permissions::from_mode(0o755))?;
        for file in ["openclaw.json", ".config-hash"] {
            std::os::unix::fs::chown(f.dir.join(file), Some(0), Some(0))?;
        }
        spoil(&f.dir)?;
        for file in ["openclaw.json", ".config-hash"] {
            if f.dir.join(file).exists() {
                fs::set_permissions(f.dir.join(file), fs::Permissions::from_mode(0o444))?;
            }
        }
        for op in [Op::Freeze, Op::Verify] {
            let out = face.call(op, &flat_call(&f, Strategy::Auto));
            expect_status(&out, Status::Invalid).map_err(|e| format!("{case}: {e:?}"))?;
            let r = out.record(entry);
            ensure!(
                r.action == Action::Rejected && r.reason == reason,
                "{case}: {op:?}: {r:?}"
            );
            ensure!(
                out.json["seal"]["result"] == result,
                "{case}: {op:?}: {}",
                out.json
            );
        }
        ensure_clean(&f.dir)?;
    }
    Ok(())
}

/// What NemoClaw's guard does wrong must not happen: the files carry the immutable flag
/// already (set by hand), the launcher has no CAP_LINUX_IMMUTABLE. Shields up changes
/// nothing (the directory and both files keep their mutable posture) and says why,
/// NC_NO_CAPABILITY; with the capability the transition completes.
pub fn lock_with_a_flag_in_the_way(area: &Path, face: Face) -> TestResult {
    let scratch = Scratch::new_in(area, "preset")?;
    let f = Flat::build(scratch.path())?;
    for file in ["openclaw.json", ".config-hash"] {
        let out = Command::new("chattr")
            .arg("+i")
            .arg(f.dir.join(file))
            .output()?;
        ensure!(out.status.success(), "chattr +i");
    }
    let before: Vec<(u32, u32)> = [
        &f.dir,
        &f.dir.join("openclaw.json"),
        &f.dir.join(".config-hash"),
    ]
    .iter()
    .map(|p| mode_owner(p))
    .collect::<io::Result<_>>()?;
    let out = run_as(NO_IMMUTABLE, || {
        face.call(Op::Freeze, &shields_up(&f, Strategy::Auto))
    });
    expect_status(&out, Status::NoCapability)?;
    ensure!(
        out.summary.contains("unchanged") && out.summary.contains("CAP_LINUX_IMMUTABLE"),
        "says why: {}",
        out.summary
    );
    let after: Vec<(u32, u32)> = [
        &f.dir,
        &f.dir.join("openclaw.json"),
        &f.dir.join(".config-hash"),
    ]
    .iter()
    .map(|p| mode_owner(p))
    .collect::<io::Result<_>>()?;
    ensure!(
        after == before,
        "the posture changed: {before:?} -> {after:?}"
    );
    ensure!(kernel_state(&f.dir)?.mounts.is_empty(), "nothing mounted");
    // With the capability: the whole transition.
    let out = face.call(Op::Freeze, &shields_up(&f, Strategy::Immutable));
    expect_status(&out, Status::Ok)?;
    ensure!(
        mode_owner(&f.dir.join("openclaw.json"))? == (0o444, 0),
        "{:?}",
        mode_owner(&f.dir.join("openclaw.json"))?
    );
    expect_status(&face.call(Op::Unfreeze, &shields_down(&f)), Status::Ok)?;
    ensure_clean(&f.dir)
}

/// A flat layout holds regular files only: a symlink there is rejected (unexpected_symlink),
/// nothing is pinned, and the posture is left locked (fail-closed).
pub fn flat_layout_refuses_links(area: &Path, face: Face) -> TestResult {
    let scratch = Scratch::new_in(area, "flatlink")?;
    let f = Flat::build(scratch.path())?;
    std::os::unix::fs::symlink("/etc", f.dir.join("evil"))?;
    let out = face.call(Op::Freeze, &shields_up(&f, Strategy::Auto));
    expect_status(&out, Status::Invalid)?;
    ensure!(
        out.record("evil").reason == Reason::UnexpectedSymlink,
        "{:?}",
        out.record("evil")
    );
    // Fail-closed (version 0.3): the link does not veto the lock; nothing is pinned.
    ensure!(
        mode_owner(&f.dir)? == (0o755, 0),
        "a refused shields up leaves the locked posture: {:?}",
        mode_owner(&f.dir)?
    );
    ensure!(
        out.summary.contains("locked, not verified"),
        "and says so: {}",
        out.summary
    );
    ensure!(
        fs::read_link(f.dir.join("evil"))? == Path::new("/etc"),
        "the link is left as it is"
    );
    ensure_clean(&f.dir)
}

/// `allow_missing`: a link whose data entry does not exist yet (the entrypoint creates
/// `logs` after hardening) is refused without it, accepted and reported with it; a symlink
/// at the data entry is refused either way.
pub fn links_whose_data_entry_comes_later(area: &Path, face: Face) -> TestResult {
    let scratch = Scratch::new_in(area, "later")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    fs::remove_dir(l.data.join("logs"))?;
    let mut call = call_of(&l);
    let out = face.call(Op::Freeze, &call);
    expect_status(&out, Status::Invalid)?;
    ensure!(
        out.record("logs").reason == Reason::DataEntryMissing,
        "{:?}",
        out.record("logs")
    );
    call.allow_missing = true;
    let out = face.call(Op::Freeze, &call);
    expect_status(&out, Status::Ok)?;
    let logs = out.json["entries"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["name"] == "logs").cloned())
        .unwrap_or_default();
    ensure!(logs["data_entry_missing"] == true, "reported: {logs}");
    expect_status(&face.call(Op::Unfreeze, &call), Status::Ok)?;
    std::os::unix::fs::symlink("/etc", l.data.join("logs"))?;
    let out = face.call(Op::Freeze, &call);
    expect_status(&out, Status::Invalid)?;
    ensure!(
        out.record("logs").reason == Reason::DataEntryIsSymlink,
        "{:?}",
        out.record("logs")
    );
    ensure_clean(&l.dir)
}
