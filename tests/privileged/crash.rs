//! Crash safety (contract, version 0.2): a freeze or an unfreeze killed with SIGKILL at any
//! step loses no content (every name shows the old or the new inode, with the same bytes;
//! no half-built directory is ever at the path), and the next call converges: it removes
//! what the killed one left, and only that (a file merely named like one of its temporaries
//! stays, with its bytes), and answers as on a clean start. The CLI built with the
//! test-only kill points kills itself at step N; N walks every step until the call ends.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;

use super::engine::ensure_clean;
use super::*;

/// The trials of this file, registered by main.rs: on ext4 and tmpfs, with every layer, a
/// walk of every kill point of each operation.
pub fn trials() -> Vec<Trial> {
    let mut out = Vec::new();
    for kind in [FsKind::Ext4, FsKind::Tmpfs] {
        for strategy in [Strategy::Immutable, Strategy::Mount, Strategy::Both] {
            for (op, invalid) in [("freeze", false), ("freeze", true), ("unfreeze", false)] {
                out.push(trial(
                    format!(
                        "crash::{}::{}::{op}{}",
                        kind.name(),
                        strategy.name(),
                        if invalid { "_invalid" } else { "" }
                    ),
                    kind,
                    move |a| walk(a, strategy, op, invalid),
                ));
            }
            if strategy == Strategy::Immutable {
                out.push(trial(
                    format!(
                        "crash::{}::immutable::freeze_with_a_writer_inside",
                        kind.name()
                    ),
                    kind,
                    walk_held,
                ));
            }
            for op in ["shields_up", "shields_down"] {
                out.push(trial(
                    format!("crash::{}::{}::{op}", kind.name(), strategy.name()),
                    kind,
                    move |a| walk_shields(a, strategy, op),
                ));
            }
        }
    }
    out
}

/// A killed renewal's temporary files: allowed beside the names until the next call.
const TEMP_PREFIX: &str = ".nc-harden-new.";

/// A file of the directory merely named like a temporary (root's, valid): no call removes it.
const NAMED_LIKE_ONE: &str = ".nc-harden-new.kept";

/// What the path shows, name by name: a link's target or a file's bytes.
fn shown(dir: &Path) -> io::Result<BTreeMap<OsString, Vec<u8>>> {
    let mut names = BTreeMap::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with(TEMP_PREFIX) && name != NAMED_LIKE_ONE {
            continue;
        }
        let meta = fs::symlink_metadata(entry.path())?;
        let content = if meta.file_type().is_symlink() {
            use std::os::unix::ffi::OsStrExt;
            fs::read_link(entry.path())?.as_os_str().as_bytes().to_vec()
        } else if meta.is_file() {
            fs::read(entry.path())?
        } else {
            b"(other)".to_vec()
        };
        names.insert(name, content);
    }
    Ok(names)
}

fn temporaries(dir: &Path) -> io::Result<Vec<OsString>> {
    Ok(fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .filter(|n| n.to_string_lossy().starts_with(TEMP_PREFIX) && n != NAMED_LIKE_ONE)
        .collect())
}

/// Walks every kill point of `op` ("freeze" or "unfreeze") with `strategy`; with `invalid`,
/// the layout breaks the policy (a dotfile link elsewhere), so that the next freeze must
/// take back what the killed one pinned. Returns the number of kill points.
pub fn walk(area: &Path, strategy: Strategy, op: &str, invalid: bool) -> TestResult {
    let exe = common::native::kill_points_cli()?;
    let mut points = 0;
    for n in 1..200 {
        let scratch = Scratch::new_in(area, "crash")?;
        let l = Layout::build(scratch.path(), Variant::B)?;
        let kept = l.dir.join(NAMED_LIKE_ONE);
        fs::write(&kept, b"not a leftover\n")?;
        fs::set_permissions(&kept, std::os::unix::fs::PermissionsExt::from_mode(0o444))?;
        if invalid {
            std::os::unix::fs::symlink("/etc", l.dir.join(".evil"))?;
        }
        let call = Call::new(&l.dir, &l.data, l.owner).with_strategy(strategy);
        if op == "unfreeze" {
            expect_status(&Face::Rust.call(Op::Freeze, &call), Status::Ok)?;
        }
        let before = shown(&l.dir)?;
        let out = Command::new(&exe)
            .arg(op)
            .arg("--dir")
            .arg(&l.dir)
            .arg("--data-dir")
            .arg(&l.data)
            .args(if op == "freeze" {
                vec!["--strategy", strategy.name()]
            } else {
                vec![]
            })
            .env("NC_HARDEN_KILL_AT", n.to_string())
            .output()?;
        let killed = out.status.signal() == Some(libc::SIGKILL);
        let step = format!("{op} {} killed at step {n}", strategy.name());
        // No content lost, no half-built directory at the path.
        let after = shown(&l.dir)?;
        ensure!(
            after == before,
            "{step}: the path shows other names or bytes: {:?}",
            after.keys().collect::<Vec<_>>()
        );
        // The next call converges, as on a clean start.
        match (op, invalid) {
            ("freeze", false) => {
                expect_status(&Face::Rust.call(Op::Freeze, &call), Status::Ok)
                    .map_err(|e| format!("{step}: the next freeze: {e:?}"))?;
                expect_status(&Face::Rust.call(Op::Verify, &call), Status::Ok)?;
                expect_status(&Face::Rust.call(Op::Unfreeze, &call), Status::Ok)?;
            }
            ("freeze", true) => {
                // The killed call's pins are not taken back by the next freeze (a mark that
                // said "mine" could be planted by root without capabilities in /run): it says
                // NC_INVALID, and unfreeze clears them.
                expect_status(&Face::Rust.call(Op::Freeze, &call), Status::Invalid)
                    .map_err(|e| format!("{step}: the next freeze: {e:?}"))?;
                expect_status(&Face::Rust.call(Op::Unfreeze, &call), Status::Ok)
                    .map_err(|e| format!("{step}: the unfreeze: {e:?}"))?;
            }
            _ => {
                expect_status(&Face::Rust.call(Op::Unfreeze, &call), Status::Ok)
                    .map_err(|e| format!("{step}: the next unfreeze: {e:?}"))?;
            }
        }
        ensure_clean(&l.dir).map_err(|e| format!("{step}: after the next call: {e:?}"))?;
        let left = temporaries(&l.dir)?;
        ensure!(left.is_empty(), "{step}: temporaries left: {left:?}");
        ensure!(
            shown(&l.dir)? == before,
            "{step}: the next call changed the content"
        );
        if !killed {
            ensure!(
                out.status.code().is_some(),
                "{step}: ended by {:?}",
                out.status
            );
            break;
        }
        points = n;
    }
    ensure!(points >= 3, "{op}: only {points} kill points were walked");
    eprintln!(
        "crash walk: {op} {}{}: {points} kill points, each killed and converged",
        strategy.name(),
        if invalid { " (invalid layout)" } else { "" }
    );
    Ok(())
}

/// A freeze of the flag layer killed at every step while a writer holds `openclaw.json`
/// (read-write, opened before): whatever step the kill came at (the pass that finds the
/// writer, the pins it takes back, the renewal, the pass made again), the next freeze answers
/// NC_OK with the held file on a fresh inode (its own renewal or the killed call's), and
/// nothing written through the writer's
/// descriptor reaches the path (the inode it holds is not the path's).
pub fn walk_held(area: &Path) -> TestResult {
    use std::os::unix::fs::FileExt;
    let exe = common::native::kill_points_cli()?;
    let mut points = 0;
    for n in 1..200 {
        let scratch = Scratch::new_in(area, "crash-held")?;
        let l = Layout::build(scratch.path(), Variant::B)?;
        let writer = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(l.dir.join("openclaw.json"))?;
        let call = Call::new(&l.dir, &l.data, l.owner).with_strategy(Strategy::Immutable);
        let before = shown(&l.dir)?;
        let out = Command::new(&exe)
            .args(["freeze", "--strategy", "immutable", "--dir"])
            .arg(&l.dir)
            .arg("--data-dir")
            .arg(&l.data)
            .env("NC_HARDEN_KILL_AT", n.to_string())
            .output()?;
        let killed = out.status.signal() == Some(libc::SIGKILL);
        let step = format!("freeze with a writer inside, killed at step {n}");
        let next = Face::Rust.call(Op::Freeze, &call);
        let struck = writer.write_at(b"{\"evil\":1}", 0).is_ok();
        let after = shown(&l.dir)?;
        let held_ino = std::os::unix::fs::MetadataExt::ino(&writer.metadata()?);
        let path_ino =
            std::os::unix::fs::MetadataExt::ino(&fs::metadata(l.dir.join("openclaw.json"))?);
        drop(writer);
        let unfrozen = Face::Rust.call(Op::Unfreeze, &call);
        expect_status(&next, Status::Ok).map_err(|e| format!("{step}: the next freeze: {e:?}"))?;
        // The held inode is not the one at the path (this freeze renewed it, or the killed
        // one had).
        ensure!(
            held_ino != path_ino,
            "{step}: the writer still holds the inode at the path: {}",
            next.summary
        );
        ensure!(
            after == before,
            "{step}: after NC_OK the path shows other bytes (the writer wrote: {struck})"
        );
        expect_status(&unfrozen, Status::Ok)?;
        ensure_clean(&l.dir).map_err(|e| format!("{step}: after unfreeze: {e:?}"))?;
        let left = temporaries(&l.dir)?;
        ensure!(left.is_empty(), "{step}: temporaries left: {left:?}");
        if !killed {
            break;
        }
        points = n;
    }
    ensure!(points >= 3, "only {points} kill points were walked");
    eprintln!("crash walk: freeze with a writer inside: {points} kill points, each converged");
    Ok(())
}

/// The shields transitions killed at every step (variant F): shields up (`freeze
/// --lock-posture --reseal --seal .config-hash`) from the mutable posture, shields down
/// (`unfreeze --hand-to`) from the locked one. After each kill no content is lost, verify
/// never answers NC_OK for a directory that is not pinned in the locked posture, a killed
/// shields down never leaves the sandbox user unable to get its directory back, and the next
/// call converges: shields up pins the locked posture, shields down hands back the mutable
/// one, every file included.
pub fn walk_shields(area: &Path, strategy: Strategy, op: &str) -> TestResult {
    use nc_harden_testkit::Flat;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let exe = common::native::kill_points_cli()?;
    let posture = |p: &Path| -> io::Result<(u32, u32)> {
        let m = fs::symlink_metadata(p)?;
        Ok((m.permissions().mode() & 0o7777, m.uid()))
    };
    let mut points = 0;
    for n in 1..200 {
        let scratch = Scratch::new_in(area, "crash-shields")?;
        let f = Flat::build(scratch.path())?;
        let mut call = Call::new(&f.dir, &f.root.join("unused"), 0).with_strategy(strategy);
        call.flat = true;
        call.seal = Some(".config-hash".into());
        let mut up = call.clone();
        up.lock_posture = true;
        up.reseal = true;
        let mut down = call.clone();
        down.seal = None;
        down.hand_to = Some(nc_harden::HandTo {
            uid: Some(f.sandbox),
            gid: Some(f.sandbox),
            dir_mode: Some(0o2770),
            file_mode: Some(0o660),
        });
        if op == "shields_down" {
            expect_status(&Face::Rust.call(Op::Freeze, &up), Status::Ok)?;
        }
        let before = shown(&f.dir)?;
        let hand_to = format!("{0}:{0}", f.sandbox);
        let args: Vec<&str> = if op == "shields_up" {
            vec![
                "freeze",
                "--seal",
                ".config-hash",
                "--lock-posture",
                "--reseal",
                "--strategy",
                strategy.name(),
            ]
        } else {
            vec![
                "unfreeze",
                "--hand-to",
                &hand_to,
                "--dir-mode",
                "2770",
                "--file-mode",
                "0660",
            ]
        };
        let out = Command::new(&exe)
            .args(&args[..1])
            .arg("--dir")
            .arg(&f.dir)
            .args(&args[1..])
            .env("NC_HARDEN_KILL_AT", n.to_string())
            .output()?;
        let killed = out.status.signal() == Some(libc::SIGKILL);
        let step = format!("{op} {} killed at step {n}", strategy.name());
        let after = shown(&f.dir)?;
        ensure!(
            after == before,
            "{step}: the path shows other names or bytes: {:?}",
            after.keys().collect::<Vec<_>>()
        );
        let verified = Face::Rust.call(Op::Verify, &call);
        if verified.status == Status::Ok {
            let pinned = super::engine::kernel_state(&f.dir)?;
            ensure!(
                (pinned.any_flag() || !pinned.mounts.is_empty()) && posture(&f.dir)? == (0o755, 0),
                "{step}: verify says NC_OK for what is not pinned locked: {pinned:?}"
            );
        }
        // The next calls converge: up pins the locked posture, down hands back everything.
        expect_status(&Face::Rust.call(Op::Freeze, &up), Status::Ok)
            .map_err(|e| format!("{step}: the next shields up: {e:?}"))?;
        ensure!(
            posture(&f.dir)? == (0o755, 0),
            "{step}: locked after the next shields up"
        );
        expect_status(&Face::Rust.call(Op::Unfreeze, &down), Status::Ok)
            .map_err(|e| format!("{step}: the next shields down: {e:?}"))?;
        ensure!(
            posture(&f.dir)? == (0o2770, f.sandbox),
            "{step}: handed back after the next shields down: {:?}",
            posture(&f.dir)?
        );
        for file in ["openclaw.json", ".config-hash"] {
            ensure!(
                posture(&f.dir.join(file))? == (0o660, f.sandbox),
                "{step}: {file} handed back after the next shields down: {:?}",
                posture(&f.dir.join(file))?
            );
        }
        ensure_clean(&f.dir).map_err(|e| format!("{step}: after the next calls: {e:?}"))?;
        ensure!(
            shown(&f.dir)? == before,
            "{step}: the next calls changed the content"
        );
        if !killed {
            ensure!(
                out.status.code() == Some(0),
                "{step}: the call itself failed: {:?} {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            break;
        }
        points = n;
    }
    ensure!(points >= 3, "{op}: only {points} kill points were walked");
    eprintln!(
        "crash walk: {op} {}: {points} kill points, each killed and converged",
        strategy.name()
    );
    Ok(())
}
