//! Entries and the path to them: every ancestor of `dir` and `data_dir` passes the safe-path
//! rule (the sandbox user's home as the direct parent is allowed for `dir`, reported for
//! `data_dir`), a name required twice is one requirement, the longest target that can match
//! matches, the report names what no call can check, and what the safe-path rule cannot hold
//! against root without capabilities (moving an ancestor) is as the README states.

use std::os::unix::fs::symlink;

use super::engine::ensure_clean;
use super::*;

/// The trials of this file, registered by main.rs.
pub fn trials() -> Vec<Trial> {
    let mut out = Vec::new();
    type FaceTest = fn(&Path, Face) -> TestResult;
    let per_face: [(&str, FaceTest); 5] = [
        ("unsafe_ancestors", unsafe_ancestors),
        (
            "parent_owned_by_the_sandbox_user",
            parent_owned_by_the_sandbox_user,
        ),
        ("longest_targets", longest_targets),
        ("conditions_in_the_report", conditions_in_the_report),
        (
            "data_dir_ancestors_below_what_dir_shares",
            data_dir_ancestors_below_what_dir_shares,
        ),
    ];
    for kind in [FsKind::Ext4, FsKind::Xfs, FsKind::Btrfs, FsKind::Tmpfs] {
        for face in Face::ALL {
            for (name, test) in per_face {
                out.push(trial(
                    format!("entries::{}::{}::{name}", kind.name(), face.name()),
                    kind,
                    move |a| test(a, face),
                ));
            }
        }
    }
    for face in Face::ALL {
        out.push(trial(
            format!("entries::disk::{}::required_twice", face.name()),
            FsKind::Disk,
            move |a| required_twice(a, face),
        ));
    }
    out.push(trial(
        "entries::disk::required_twice_through_the_cli",
        FsKind::Disk,
        required_twice_through_the_cli,
    ));
    out.push(trial(
        "entries::ext4::root_attacker_moves_the_parent",
        FsKind::Ext4,
        root_attacker_moves_the_parent,
    ));
    out
}

/// `dir = R/home/.cfg/dir` with `R/home` owned by the sandbox user: before, NC_OK, and the
/// user then moved `.cfg` away and built its own tree at the path. Now NC_UNSAFE_PATH names
/// the ancestor, its owner and mode, from every call, and nothing is pinned. Likewise a
/// group-writable ancestor, and a sticky one whose child on the path is the user's.
pub fn unsafe_ancestors(area: &Path, face: Face) -> TestResult {
    type Spoil = fn(&Path) -> io::Result<()>;
    // (what is spoilt, how, the ancestor named, what is said of it)
    let cases: [(&str, Spoil, &str, &str); 3] = [
        (
            "home",
            |home| chown(home, SANDBOX_UID),
            "/home\"",
            "owner uid 998",
        ),
        ("home", |home| chmod(home, 0o775), "/home\"", "mode 0775"),
        // Sticky, as /tmp, but the child on the path (dir's parent) is the user's.
        (
            "home/.cfg/layout",
            |layout| {
                chmod(layout.parent().expect("parent"), 0o1777)?;
                chown(layout, SANDBOX_UID)
            },
            "/.cfg\"",
            "mode 1777",
        ),
    ];
    for (named, spoil, ancestor, says) in cases {
        let scratch = Scratch::new_in(area, "ancestors")?;
        let home = scratch.path().join("home");
        let base = home.join(".cfg").join("layout");
        fs::create_dir_all(&base)?;
        let l = Layout::build(&base, Variant::B)?;
        let call = call_of(&l);
        expect_status(&face.call(Op::Verify, &call), Status::NotFrozen)?;
        spoil(&scratch.path().join(named))?;
        for op in [Op::Freeze, Op::Verify, Op::Unfreeze] {
            let out = face.call(op, &call);
            expect_status(&out, Status::UnsafePath)?;
            ensure!(
                out.summary.contains(ancestor) && out.summary.contains(says),
                "{op:?}: the summary names the ancestor, its owner and mode: {}",
                out.summary
            );
        }
        ensure_clean(&l.dir)?;
    }
    Ok(())
}

/// `data_dir`'s ancestors are checked only up to the first one `dir`'s check found safe (the
/// same inode at the same path): each one below it is still judged, with its own child on
/// the path. A writable directory between `data_dir`'s parent and the shared prefix, `dir`'s
/// exempt parent above `data_dir`'s, and a sticky shared ancestor whose child on `data_dir`'s
/// path is the sandbox user's: NC_UNSAFE_PATH from verify and freeze (the calls that hold
/// `data_dir` to the rule), naming it; nothing pinned.
pub fn data_dir_ancestors_below_what_dir_shares(area: &Path, face: Face) -> TestResult {
    // (dir, data_dir, the ancestor spoilt, its mode, its owner; below the scratch)
    let cases: [(&str, &str, &str, u32, u32); 3] = [
        ("a/b/dir", "a/w/x/data", "a/w", 0o777, 0),
        ("p/dir", "p/q/data", "p", 0o777, 0),
        ("t/r/dir", "t/e/data", "t", 0o1777, 0),
    ];
    for (dir, data, spoilt, mode, owner) in cases {
        let scratch = Scratch::new_in(area, "shared-prefix")?;
        let (dir, data) = (scratch.path().join(dir), scratch.path().join(data));
        fs::create_dir_all(&dir)?;
        fs::create_dir_all(&data)?;
        fs::write(dir.join("openclaw.json"), b"{}")?;
        fs::write(dir.join(".config-hash"), b"")?;
        chown(&data, SANDBOX_UID)?;
        // The child on data_dir's path below the sticky one is the sandbox user's.
        chown(data.parent().expect("parent"), SANDBOX_UID)?;
        let spoilt = scratch.path().join(spoilt);
        chmod(&spoilt, mode)?;
        chown(&spoilt, owner)?;
        let mut call = Call::new(&dir, &data, 0);
        call.require = vec!["openclaw.json".into(), ".config-hash".into()];
        for op in [Op::Verify, Op::Freeze] {
            let out = face.call(op, &call);
            expect_status(&out, Status::UnsafePath)?;
            let named = format!("\"{}\"", spoilt.display());
            ensure!(
                out.summary.contains(&named) && out.summary.contains(&format!("mode {mode:04o}")),
                "{op:?}: the summary names {named}: {}",
                out.summary
            );
        }
        ensure_clean(&dir)?;
    }
    Ok(())
}

/// The real layout: `/sandbox` is the sandbox user's home, so `dir`'s direct parent and
/// `data_dir`'s are the user's. That is allowed for `dir` (a pinned directory cannot be moved
/// out of it: shown for both layers, with the move working again after unfreeze), and
/// reported for `data_dir`, which the user can replace.
pub fn parent_owned_by_the_sandbox_user(area: &Path, face: Face) -> TestResult {
    for strategy in [Strategy::Immutable, Strategy::Mount] {
        let scratch = Scratch::new_in(area, "home")?;
        let l = Layout::build(scratch.path(), Variant::B)?;
        chown(&l.root, SANDBOX_UID)?;
        let call = call_of(&l).with_strategy(strategy);
        let out = face.call(Op::Freeze, &call);
        expect_status(&out, Status::Ok)?;
        ensure!(
            out.json["data_dir_replaceable"].is_string()
                && out.summary.contains("data_dir replaceable"),
            "data_dir replaceable is reported: {} {}",
            out.summary,
            out.json["data_dir_replaceable"]
        );
        let away = l.root.join("moved-away");
        let moves = |l: &Layout| -> Vec<(&'static str, io::Result<()>)> {
            let evil = l.root.join("evil");
            let _ = fs::create_dir(&evil);
            vec![
                ("rename", fs::rename(&l.dir, &away)),
                ("rmdir", fs::remove_dir(&l.dir)),
                (
                    "exchange",
                    nc_harden_testkit::attacks::rename_exchange(&l.dir, &evil),
                ),
            ]
        };
        for (what, result) in run_as(Creds::User(SANDBOX_UID), || moves(&l)) {
            ensure!(
                result.is_err(),
                "{}: the sandbox user could {what} the pinned directory",
                strategy.name()
            );
        }
        ensure!(l.dir.join("openclaw.json").exists(), "still in place");
        expect_status(&face.call(Op::Unfreeze, &call), Status::Ok)?;
        run_as(Creds::User(SANDBOX_UID), || fs::rename(&l.dir, &away))
            .map_err(|e| format!("unpinned, the move should work: {e}"))?;
    }
    Ok(())
}

/// Finding 7, a limit the README states ("What no layer holds"): the path above `dir` is held
/// by the safe-path rule against other users only. The root process of the threat model (no
/// CAP_LINUX_IMMUTABLE, no CAP_SYS_ADMIN, DAC bypassed) renames `dir`'s parent away (neither
/// the flag nor the mount pins a parent) and builds its own tree at the path. This test
/// checks that the limit is real as stated; the pinned directory itself stays intact.
pub fn root_attacker_moves_the_parent(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "rootparent")?;
    let home = scratch.path().join("sandbox");
    fs::create_dir(&home)?;
    let l = Layout::build(&home, Variant::B)?;
    let call = call_of(&l).with_strategy(Strategy::Both);
    expect_status(&Face::Rust.call(Op::Freeze, &call), Status::Ok)?;
    let before = fs::read(l.dir.join("openclaw.json"))?;
    let moved = run_as(ROOT_ATTACKER, || -> io::Result<()> {
        fs::rename(&home, scratch.path().join("sandbox.away"))?;
        fs::create_dir_all(&l.dir)?;
        fs::write(l.dir.join("openclaw.json"), b"{\"evil\":true}\n")
    });
    let after = fs::read(l.dir.join("openclaw.json")).unwrap_or_default();
    let away = scratch.path().join("sandbox.away");
    if moved.is_ok() {
        let away_l = Call::new(&away.join(".openclaw"), &away.join(".openclaw-data"), 0);
        let _ = Face::Rust.call(Op::Unfreeze, &away_l.with_strategy(Strategy::Both));
    }
    ensure!(
        moved.is_ok() && after != before,
        "the README states that root without capabilities can move an ancestor of dir; it \
         could not ({moved:?}): the README is out of date"
    );
    ensure!(
        fs::read(away.join(".openclaw/openclaw.json"))? == before,
        "the pinned directory itself must be intact where it went"
    );
    Ok(())
}

/// A name required twice is one requirement (the C ABI and the Rust API here; the CLI in
/// `required_twice_through_the_cli`).
pub fn required_twice(area: &Path, face: Face) -> TestResult {
    let scratch = Scratch::new_in(area, "twice")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let mut call = call_of(&l);
    call.require = vec!["openclaw.json".into(), "openclaw.json".into()];
    let out = face.call(Op::Verify, &call);
    expect_status(&out, Status::NotFrozen)?;
    call.require.push("absent".into());
    call.require.push("absent".into());
    let out = face.call(Op::Verify, &call);
    expect_status(&out, Status::Invalid)?;
    ensure!(
        out.records.iter().filter(|r| r.name == b"absent").count() == 1,
        "one record per missing name: {:?}",
        out.records
    );
    Ok(())
}

pub fn required_twice_through_the_cli(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "twicecli")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let out = Command::new(common::native::cli_binary()?)
        .args(["freeze", "--dir"])
        .arg(&l.dir)
        .arg("--data-dir")
        .arg(&l.data)
        .args(["--require", "openclaw.json", "--require", "openclaw.json"])
        .output()?;
    ensure!(
        out.status.code() == Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    expect_status(&Face::Rust.call(Op::Unfreeze, &call_of(&l)), Status::Ok)?;
    ensure_clean(&l.dir)
}

/// The longest target that can match (`data_dir/` + a 255-byte name) matches; one that goes
/// on past the end of the read buffer is cut, and a cut target never matches.
pub fn longest_targets(area: &Path, face: Face) -> TestResult {
    let scratch = Scratch::new_in(area, "longtarget")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let name = "n".repeat(255);
    fs::create_dir(l.data.join(&name))?;
    symlink(l.data.join(&name), l.dir.join(&name))?;
    expect_status(&face.call(Op::Verify, &call_of(&l)), Status::NotFrozen)?;
    fs::remove_file(l.dir.join(&name))?;
    let long = format!("{}/{name}/{}", l.data.display(), "x".repeat(64));
    symlink(&long, l.dir.join(&name))?;
    expect_rejected(
        &face.call(Op::Verify, &call_of(&l)),
        &name,
        Reason::LinkTargetMismatch,
    )?;
    Ok(())
}

/// What no call can check is said where a launcher logs it: the JSON report names, per layer
/// in place, against whom it holds.
pub fn conditions_in_the_report(area: &Path, face: Face) -> TestResult {
    let scratch = Scratch::new_in(area, "conditions")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    for (strategy, layer, needle) in [
        (Strategy::Immutable, "immutable", "CAP_LINUX_IMMUTABLE"),
        (Strategy::Mount, "mount", "CAP_DAC_READ_SEARCH"),
    ] {
        let out = face.call(Op::Freeze, &call_of(&l).with_strategy(strategy));
        expect_status(&out, Status::Ok)?;
        let conditions = out.json["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        ensure!(
            conditions.iter().any(|c| c
                .as_str()
                .is_some_and(|c| c.starts_with(layer) && c.contains(needle))),
            "{}: {conditions:?}",
            strategy.name()
        );
        if strategy == Strategy::Mount {
            ensure!(
                conditions.iter().any(|c| c
                    .as_str()
                    .is_some_and(|c| c.contains("alias bind") && c.contains("namespace"))),
                "{conditions:?}"
            );
        }
        expect_status(&face.call(Op::Unfreeze, &call_of(&l)), Status::Ok)?;
    }
    ensure_clean(&l.dir)
}
