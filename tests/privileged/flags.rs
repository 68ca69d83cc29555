//! The flag beyond `dir`: `pin_data_dir` sets `data_dir`'s own flag, which fixes its names and
//! keeps it in place against the sandbox user while its contents stay writable, and pins the
//! directory at the path, not one moved away during the call. (The flags of `dir` and its
//! entries are every other module's subject: engine.rs, matrix.rs, mounts.rs.)

use std::os::unix::fs::symlink;
use std::sync::atomic::{AtomicBool, Ordering};

use super::engine::ensure_clean;
use super::*;
use nc_harden::Layer;

/// The trials of this file, registered by main.rs.
pub fn trials() -> Vec<Trial> {
    let mut out = Vec::new();
    for kind in [FsKind::Ext4, FsKind::Xfs, FsKind::Btrfs, FsKind::Tmpfs] {
        for face in Face::ALL {
            out.push(trial(
                format!("flags::{}::{}::pin_data_dir", kind.name(), face.name()),
                kind,
                move |a| pin_data_dir(a, face),
            ));
        }
    }
    out.push(trial(
        "flags::ext4::pin_data_dir_pins_a_directory_moved_away",
        FsKind::Ext4,
        pin_data_dir_pins_a_directory_moved_away,
    ));
    out
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

/// Finding 5. `--pin-data-dir` pins the inode opened at the start; nothing checks that the
/// path still leads to it. The sandbox user (owner of data_dir's parent) keeps exchanging
/// data_dir with a twin; once one of them is pinned the exchange stops (EPERM), and in about
/// half the runs the one left at the path is the twin, unpinned, while the call said NC_OK
/// ("its set of names is fixed and it stays in place").
pub fn pin_data_dir_pins_a_directory_moved_away(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "datadirswap")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    chown(&l.root, SANDBOX_UID)?;
    let twin = l.root.join("twin");
    fs::create_dir(&twin)?;
    for entry in fs::read_dir(&l.data)? {
        let entry = entry?;
        let to = twin.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            fs::create_dir(&to)?;
        } else {
            fs::write(&to, b"")?;
        }
        chown(&to, SANDBOX_UID)?;
    }
    chown(&twin, SANDBOX_UID)?;
    let mut call = call_of(&l);
    call.pin_data_dir = true;
    let stop = AtomicBool::new(false);
    let mut won = None;
    std::thread::scope(|s| {
        s.spawn(|| {
            run_as(Creds::User(SANDBOX_UID), || {
                while !stop.load(Ordering::Relaxed) {
                    let _ = nc_harden_testkit::attacks::rename_exchange(&l.data, &twin);
                }
            })
        });
        for round in 0..200 {
            let out = Face::Rust.call(Op::Freeze, &call);
            if out.status == Status::Ok
                && !immutable_flag(&l.data).unwrap_or(true)
                && immutable_flag(&twin).unwrap_or(false)
            {
                won = Some((round, out.summary));
                break;
            }
            // Clear both, whichever was pinned, and go again.
            let _ = nc_harden_testkit::fs::clear_immutable(&l.data);
            let _ = nc_harden_testkit::fs::clear_immutable(&twin);
            let _ = Face::Rust.call(Op::Unfreeze, &call);
        }
        stop.store(true, Ordering::Relaxed);
    });
    let _ = nc_harden_testkit::fs::clear_immutable(&twin);
    let _ = Face::Rust.call(Op::Unfreeze, &call);
    if let Some((round, summary)) = won {
        // The path's data_dir is the sandbox user's to change at will.
        let added = run_as(Creds::User(SANDBOX_UID), || {
            symlink("/etc", l.data.join("hooks-new"))
        });
        return Err(format!(
            "round {round}: NC_OK ({summary}) with --pin-data-dir, but the data_dir at the path \
             is not the pinned one (a name could be added: {})",
            added.is_ok()
        )
        .into());
    }
    Ok(())
}
