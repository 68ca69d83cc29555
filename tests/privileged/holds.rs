//! NC_OK holds (contract, version 0.2): what is judged is what is pinned, only nc-harden's
//! own layer is ever removed, and the path to the directory is safe. Each test is an attack
//! that once got NC_OK (or an unfreeze that claimed to remove only its own), shown now to
//! fail, or the call shown to no longer claim NC_OK.

use std::os::unix::fs::{symlink, PermissionsExt};

use super::engine::{ensure_clean, kernel_state};
use super::*;
use nc_harden::{Layer, STATE_DIR};
use nc_harden_testkit::{bind, bind_writable, mount_over, mounts_at, unmount};

const NO_IMMUTABLE: Creds = Creds::RootWithout(&[CAP_LINUX_IMMUTABLE]);

fn chown(path: &Path, uid: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid))
}

fn chmod(path: &Path, mode: u32) -> io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

fn chattr(flag: &str, path: &Path) -> TestResult {
    let out = Command::new("chattr").arg(flag).arg(path).output()?;
    ensure!(
        out.status.success(),
        "chattr {flag} {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

fn expect_rejected(out: &Outcome, name: &str, reason: Reason) -> TestResult {
    expect_status(out, Status::Invalid)?;
    let r = out.record(name);
    ensure!(
        r.action == Action::Rejected && r.reason == reason,
        "{name}: expected {reason:?}, got {r:?}"
    );
    Ok(())
}

/// A file from outside `dir` (root's, 0444, one link: valid on its own) mounted over the
/// entry `name`.
fn mount_foreign_file(l: &Layout, name: &str) -> io::Result<PathBuf> {
    let foreign = l.root.join(format!("host-{name}"));
    fs::write(&foreign, b"{\"from\":\"the host\"}\n")?;
    chmod(&foreign, 0o444)?;
    mount_over(&foreign, &l.dir.join(name))?;
    Ok(foreign)
}

/// Runtimes bind-mount single files into configuration directories. Under a read-only file
/// mounted over `openclaw.json` sits a world-writable file owned by the sandbox user, hard-
/// linked elsewhere: the entry is a mount point and is rejected, by every layer, and no flag
/// or mount is left; before, the mount layer pinned a clone that uncovered the file beneath.
pub fn file_mounted_over_a_regular_entry(area: &Path, face: Face) -> TestResult {
    let scratch = Scratch::new_in(area, "mountreg")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let beneath = l.dir.join("openclaw.json");
    chattr("-i", &beneath)?;
    fs::remove_file(&beneath)?;
    fs::write(&beneath, b"{\"gateway\":{\"auth\":{\"token\":\"evil\"}}}\n")?;
    chmod(&beneath, 0o666)?;
    chown(&beneath, SANDBOX_UID)?;
    fs::hard_link(&beneath, l.data.join("other-name"))?;
    mount_foreign_file(&l, "openclaw.json")?;
    for (creds, strategy) in [
        (NO_IMMUTABLE, Strategy::Auto),
        (Creds::Full, Strategy::Auto),
        (Creds::Full, Strategy::Mount),
        (Creds::Full, Strategy::Both),
    ] {
        let call = call_of(&l).with_strategy(strategy);
        let out = run_as(creds, || face.call(Op::Freeze, &call));
        expect_rejected(&out, "openclaw.json", Reason::MountPoint)?;
        let state = kernel_state(&l.dir)?;
        ensure!(
            !state.any_flag() && state.mounts.is_empty(),
            "{} {}: left pinned: {state:?}",
            creds.name(),
            strategy.name()
        );
        ensure!(
            !immutable_flag(&l.dir.join("openclaw.json"))?,
            "a flag was set on the mounted file"
        );
    }
    expect_rejected(
        &face.call(Op::Verify, &call_of(&l)),
        "openclaw.json",
        Reason::MountPoint,
    )?;
    // Once the mount is gone, the file beneath is what is judged: three reasons to reject it.
    unmount(&l.dir.join("openclaw.json"))?;
    let out = face.call(Op::Freeze, &call_of(&l));
    expect_status(&out, Status::Invalid)?;
    ensure!(
        out.record("openclaw.json").reason != Reason::None,
        "{:?}",
        out.record("openclaw.json")
    );
    ensure_clean(&l.dir)
}

/// A file mounted over the symlink `evil -> /etc`, and a good symlink mounted over a bad one:
/// what the path shows is not what `dir` holds; rejected with every strategy, nothing left.
pub fn something_mounted_over_a_symlink(area: &Path, face: Face) -> TestResult {
    let scratch = Scratch::new_in(area, "mountlink")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    symlink("/etc", l.dir.join("evil"))?;
    mount_foreign_file(&l, "evil")?;
    fs::remove_file(l.dir.join("hooks"))?;
    symlink("/etc", l.dir.join("hooks"))?;
    let good = l.root.join("good-hooks");
    symlink(l.data.join("hooks"), &good)?;
    mount_over(&good, &l.dir.join("hooks"))?;
    ensure!(
        fs::read_link(l.dir.join("hooks"))? == l.data.join("hooks"),
        "the path shows the good link"
    );
    for strategy in [Strategy::Auto, Strategy::Mount, Strategy::Both] {
        let call = call_of(&l).with_strategy(strategy);
        let out = face.call(Op::Freeze, &call);
        expect_rejected(&out, "evil", Reason::MountPoint)?;
        expect_rejected(&out, "hooks", Reason::MountPoint)?;
        let state = kernel_state(&l.dir)?;
        ensure!(
            !state.any_flag() && state.mounts.is_empty(),
            "{}: left pinned: {state:?}",
            strategy.name()
        );
    }
    Ok(())
}

/// A file from outside `dir` mounted over a symlink entry: no call sets a flag on it, and no
/// unfreeze clears one that its owner set; verify and unfreeze name the mount point.
pub fn no_flag_outside_the_directory(area: &Path, face: Face) -> TestResult {
    let scratch = Scratch::new_in(area, "foreignflag")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    symlink(l.data.join("hooks"), l.dir.join("extra"))?;
    fs::create_dir(l.data.join("extra"))?;
    let foreign = mount_foreign_file(&l, "extra")?;
    let out = face.call(Op::Freeze, &call_of(&l));
    expect_rejected(&out, "extra", Reason::MountPoint)?;
    ensure!(
        !immutable_flag(&foreign)?,
        "the freeze set a flag on a file outside the directory"
    );
    // Its owner pins it: no unfreeze of nc-harden's takes that away.
    chattr("+i", &foreign)?;
    let out = face.call(Op::Unfreeze, &call_of(&l));
    expect_status(&out, Status::Ok)?;
    let r = out.record("extra");
    ensure!(
        r.action == Action::Rejected && r.reason == Reason::MountPoint,
        "{r:?}"
    );
    ensure!(
        immutable_flag(&foreign)?,
        "unfreeze cleared the flag of a file outside the directory"
    );
    expect_rejected(
        &face.call(Op::Verify, &call_of(&l)),
        "extra",
        Reason::MountPoint,
    )?;
    chattr("-i", &foreign)?;
    Ok(())
}

/// An administrator's own `mount --bind -o ro,nosuid,nodev dir dir`, twice: nc-harden's
/// unfreeze never takes it off; a freeze puts one mount of its own on top (once, however
/// often it runs), and unfreeze takes off exactly that one.
pub fn administrators_read_only_bind_is_not_ours(area: &Path, face: Face) -> TestResult {
    let scratch = Scratch::new_in(area, "adminbind")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let call = call_of(&l).with_strategy(Strategy::Mount);
    bind(&l.dir, &l.dir, true)?;
    bind(&l.dir, &l.dir, true)?;
    let admins = mounts_at(&l.dir)?;
    ensure!(
        admins.len() == 2 && admins.iter().all(|m| m.read_only()),
        "{admins:?}"
    );
    expect_status(&face.call(Op::Verify, &call), Status::NotFrozen)?;
    expect_status(&face.call(Op::Unfreeze, &call), Status::Ok)?;
    ensure!(
        mounts_at(&l.dir)? == admins,
        "unfreeze took off an administrator's bind"
    );
    for _ in 0..3 {
        expect_status(&face.call(Op::Freeze, &call), Status::Ok)?;
        ensure!(
            mounts_at(&l.dir)?.len() == 3,
            "freeze stacked: {:?}",
            mounts_at(&l.dir)?
        );
    }
    expect_status(&face.call(Op::Verify, &call), Status::Ok)?;
    expect_status(&face.call(Op::Unfreeze, &call), Status::Ok)?;
    ensure!(
        mounts_at(&l.dir)? == admins,
        "unfreeze must take off exactly its own"
    );
    expect_status(&face.call(Op::Unfreeze, &call), Status::Ok)?;
    ensure!(
        mounts_at(&l.dir)? == admins,
        "and stay put when called twice"
    );
    Ok(())
}

/// A foreign read-write bind stacked on top of nc-harden's mount: unfreeze, verify and
/// freeze change nothing and say why (NC_UNSAFE_PATH); once it is gone, all is as before.
pub fn foreign_mount_on_top_of_ours(area: &Path, face: Face) -> TestResult {
    let scratch = Scratch::new_in(area, "ontop")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let call = call_of(&l).with_strategy(Strategy::Mount);
    expect_status(&face.call(Op::Freeze, &call), Status::Ok)?;
    bind_writable(&l.dir, &l.dir)?;
    let before = mounts_at(&l.dir)?;
    ensure!(before.len() == 2 && !before[1].read_only(), "{before:?}");
    for op in [Op::Unfreeze, Op::Verify, Op::Freeze] {
        let out = face.call(op, &call);
        expect_status(&out, Status::UnsafePath)?;
        ensure!(out.summary.contains("did not make"), "{}", out.summary);
        ensure!(mounts_at(&l.dir)? == before, "{op:?} changed the mounts");
    }
    unmount(&l.dir)?;
    expect_status(&face.call(Op::Verify, &call), Status::Ok)?;
    expect_status(&face.call(Op::Unfreeze, &call), Status::Ok)?;
    ensure_clean(&l.dir)
}

/// The environment variable under which the privileged test binary runs one call inside a
/// chroot and exits (a chroot is per process, so it is made in a process of its own).
pub const CHROOT_VAR: &str = "NC_HARDEN_TEST_CHROOT";

/// `NC_HARDEN_TEST_CHROOT=root:op:dir:data`: chroot to `root`, run `op` with the mount
/// strategy, print the status code, exit. Called first thing in `main`.
pub fn chroot_child() {
    let Some(spec) = std::env::var_os(CHROOT_VAR) else {
        return;
    };
    let spec = spec.to_string_lossy().into_owned();
    let parts: Vec<&str> = spec.split(':').collect();
    let [root, op, dir, data] = parts[..] else {
        std::process::exit(99)
    };
    std::os::unix::fs::chroot(root).expect("chroot");
    std::env::set_current_dir("/").expect("chdir");
    let op = match op {
        "freeze" => Op::Freeze,
        "verify" => Op::Verify,
        _ => Op::Unfreeze,
    };
    let call = Call::new(Path::new(dir), Path::new(data), 0).with_strategy(Strategy::Mount);
    let out = Face::Rust.call(op, &call);
    println!("{}", out.status.code());
    eprintln!("{}", out.summary);
    std::process::exit(0);
}

/// In a chroot whose root is not the root of its mount (with /proc and /run, as a container
/// has), the mount that nc-harden's sits on is not in /proc/self/mountinfo: verify still recognises nc-harden's mount, a second freeze
/// stacks nothing, unfreeze takes it off.
pub fn chroot_where_the_parent_mount_is_hidden(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "chroot")?;
    let jail = scratch.path().join("jail");
    fs::create_dir(&jail)?;
    fs::create_dir(jail.join("run"))?;
    fs::create_dir(jail.join("proc"))?;
    chmod(&jail, 0o755)?;
    chmod(&jail.join("run"), 0o755)?;
    // A container's root has /proc; its mountinfo lists only what the chroot can reach.
    nc_harden_testkit::fs::mount_fs("proc", &jail.join("proc"), "")?;
    let sbx = jail.join("sandbox");
    fs::create_dir(&sbx)?;
    let l = Layout::build(&sbx, Variant::B)?;
    // The links as the chroot sees them.
    for entry in fs::read_dir(&l.dir)? {
        let path = entry?.path();
        if fs::symlink_metadata(&path)?.file_type().is_symlink() {
            let name = path.file_name().expect("a name").to_owned();
            fs::remove_file(&path)?;
            symlink(Path::new("/sandbox/.openclaw-data").join(name), &path)?;
        }
    }
    let run = |op: &str| -> Result<(u32, String), Failed> {
        let out = Command::new(std::env::current_exe()?)
            .env(
                CHROOT_VAR,
                format!(
                    "{}:{op}:/sandbox/.openclaw:/sandbox/.openclaw-data",
                    jail.display()
                ),
            )
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let summary = String::from_utf8_lossy(&out.stderr).trim().to_string();
        match text.trim().parse() {
            Ok(code) => Ok((code, summary)),
            Err(_) => Err(format!("chroot child: {text} {summary}").into()),
        }
    };
    let expect = |op: &str, status: Status| -> TestResult {
        let (code, summary) = run(op)?;
        ensure!(code == status.code(), "{op} in the chroot: {summary}");
        Ok(())
    };
    expect("freeze", Status::Ok)?;
    ensure!(mounts_at(&l.dir)?.len() == 1, "{:?}", mounts_at(&l.dir)?);
    expect("verify", Status::Ok)?;
    expect("freeze", Status::Ok)?;
    ensure!(
        mounts_at(&l.dir)?.len() == 1,
        "stacked: {:?}",
        mounts_at(&l.dir)?
    );
    expect("unfreeze", Status::Ok)?;
    ensure!(
        mounts_at(&l.dir)?.is_empty(),
        "left: {:?}",
        mounts_at(&l.dir)?
    );
    expect("verify", Status::NotFrozen)?;
    Ok(())
}

/// The records live in a root-only directory; a record file planted by someone else, or a
/// state directory that others can write, is never trusted: no mount becomes "ours" by it.
pub fn state_records_are_roots_alone(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "records")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let call = call_of(&l).with_strategy(Strategy::Mount);
    expect_status(&Face::Rust.call(Op::Freeze, &call), Status::Ok)?;
    let state = Path::new(STATE_DIR);
    let meta = fs::metadata(state)?;
    ensure!(
        std::os::unix::fs::MetadataExt::uid(&meta) == 0 && meta.permissions().mode() & 0o022 == 0,
        "{STATE_DIR}: {:o}",
        meta.permissions().mode()
    );
    let records: Vec<PathBuf> = fs::read_dir(state)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    ensure!(!records.is_empty(), "no record was written");
    // A record that others could have written is not one: the mount is no longer ours.
    chmod(state, 0o777)?;
    let out = Face::Rust.call(Op::Unfreeze, &call);
    chmod(state, 0o755)?;
    ensure!(
        out.status != Status::Ok || !mounts_at(&l.dir)?.is_empty(),
        "an unsafe state directory was trusted: {}",
        out.summary
    );
    expect_status(&Face::Rust.call(Op::Unfreeze, &call), Status::Ok)?;
    ensure_clean(&l.dir)
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

/// `pin_data_dir`: `data_dir`'s own flag fixes its names and keeps it in place against the
/// sandbox user (whose home holds it), while the contents stay writable; unfreeze takes it
/// off. Where the flag cannot be set (the mount strategy, no CAP_LINUX_IMMUTABLE): NC_PARTIAL.
pub fn pin_data_dir(area: &Path, face: Face) -> TestResult {
    let scratch = Scratch::new_in(area, "pindata")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    chown(&l.root, SANDBOX_UID)?;
    let mut call = call_of(&l);
    call.pin_data_dir = true;
    let out = face.call(Op::Freeze, &call);
    expect_status(&out, Status::Ok)?;
    ensure!(
        out.attempt(Layer::DataDir).map(|a| a.0) == Some(Action::Frozen),
        "{:?}",
        out.attempts
    );
    ensure!(immutable_flag(&l.data)?, "data_dir carries the flag");
    ensure!(
        out.json["data_dir_replaceable"].is_string()
            && !out.summary.contains("data_dir replaceable"),
        "replaceable, but pinned: {}",
        out.summary
    );
    let tries = run_as(Creds::User(SANDBOX_UID), || {
        (
            fs::rename(&l.data, l.root.join("data-away")),
            symlink("/etc", l.data.join("hooks-new")),
            fs::write(l.data.join("update-check.json"), b"{}"),
        )
    });
    ensure!(tries.0.is_err(), "data_dir was renamed away");
    ensure!(tries.1.is_err(), "a name was added to data_dir");
    tries
        .2
        .map_err(|e| format!("the contents of data_dir stay writable: {e}"))?;
    expect_status(&face.call(Op::Verify, &call), Status::Ok)?;
    let out = face.call(Op::Unfreeze, &call);
    expect_status(&out, Status::Ok)?;
    ensure!(!immutable_flag(&l.data)?, "unfreeze clears data_dir's flag");
    ensure_clean(&l.dir)?;
    for (creds, strategy) in [
        (Creds::Full, Strategy::Mount),
        (NO_IMMUTABLE, Strategy::Auto),
    ] {
        let out = run_as(creds, || {
            face.call(Op::Freeze, &call.clone().with_strategy(strategy))
        });
        expect_status(&out, Status::Partial)?;
        ensure!(
            !immutable_flag(&l.data)?,
            "no flag where the call says none"
        );
        expect_status(&face.call(Op::Unfreeze, &call), Status::Ok)?;
    }
    ensure_clean(&l.dir)
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
