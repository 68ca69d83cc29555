//! Red-team pass on version 0.2 (issue 9's claims). Each test is an attack or a setup that
//! shows a claim not holding: it FAILS while the weakness is there. Nothing here is a fix.

use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::sync::atomic::{AtomicBool, Ordering};

use super::*;
use nc_harden::STATE_DIR;
use nc_harden_testkit::{bind, bind_writable, mount_over, mounts_at, unmount};
use sha2::{Digest, Sha256};

/// The root process of the threat model: uid 0 (DAC bypassed), without CAP_LINUX_IMMUTABLE
/// and CAP_SYS_ADMIN.
const ROOT_ATTACKER: Creds = Creds::RootWithout(&[CAP_LINUX_IMMUTABLE, CAP_SYS_ADMIN]);
/// A launcher as sandbox runtimes start it: CAP_SYS_ADMIN, no CAP_LINUX_IMMUTABLE.
const NO_IMMUTABLE: Creds = Creds::RootWithout(&[CAP_LINUX_IMMUTABLE]);

fn chown(path: &Path, uid: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid))
}

/// `statx(fd, "", AT_EMPTY_PATH, mask)`'s stx_mnt_id: anyone may ask.
fn mnt_id(path: &Path, mask: u32) -> io::Result<u64> {
    let f = fs::File::open(path)?;
    let mut stx = std::mem::MaybeUninit::<libc::statx>::zeroed();
    // SAFETY: a valid out-pointer and an empty NUL-terminated path with AT_EMPTY_PATH.
    let r = unsafe {
        libc::statx(
            f.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            mask,
            stx.as_mut_ptr(),
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statx succeeded.
    let stx = unsafe { stx.assume_init() };
    if stx.stx_mask & mask == 0 {
        return Err(io::Error::from_raw_os_error(libc::ENOSYS));
    }
    Ok(stx.stx_mnt_id)
}

/// What a root process without any capability writes into /run/nc-harden: a record in
/// nc-harden's own format naming the mount that `dir` is on now (whatever mount that is),
/// under the name nc-harden looks for. Only DAC guards the state directory.
fn plant_record(dir: &Path) -> io::Result<()> {
    let path = dir.as_os_str().as_bytes();
    let legacy = mnt_id(dir, libc::STATX_MNT_ID)?;
    let unique = mnt_id(dir, 0x4000 /* STATX_MNT_ID_UNIQUE */)?;
    let meta = fs::metadata(dir)?;
    let hex = |b: &[u8]| b.iter().map(|c| format!("{c:02x}")).collect::<String>();
    let name = format!("{}.mount", hex(&Sha256::digest(path)));
    let text = format!(
        "nc-harden mount record 1\npath {}\nlegacy {legacy}\nunique {unique}\ndev {}\nino {}\n",
        hex(path),
        meta.dev(),
        meta.ino()
    );
    let _ = fs::create_dir(STATE_DIR);
    fs::write(Path::new(STATE_DIR).join(name), text)
}

fn wipe_records() {
    if let Ok(entries) = fs::read_dir(STATE_DIR) {
        for e in entries.flatten() {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// Finding 1. A root process without capabilities, running before the freeze, plants a
/// record that names the plain mount `dir` sits on (no read-only mount anywhere). A launcher
/// with CAP_SYS_ADMIN but not CAP_LINUX_IMMUTABLE (AUTO falls to the mount layer), and one
/// that asks for the mount strategy, both get NC_OK "already frozen"; nothing is mounted,
/// the attacker rewrites openclaw.json, and verify still answers NC_OK.
pub fn planted_record_makes_an_unpinned_dir_pinned(area: &Path) -> TestResult {
    for (creds, strategy) in [
        (NO_IMMUTABLE, Strategy::Auto),
        (Creds::Full, Strategy::Mount),
    ] {
        let scratch = Scratch::new_in(area, "planted")?;
        let l = Layout::build(scratch.path(), Variant::B)?;
        run_as(ROOT_ATTACKER, || plant_record(&l.dir))?;
        let call = call_of(&l).with_strategy(strategy);
        let out = run_as(creds, || Face::Rust.call(Op::Freeze, &call));
        let mounted = mounts_at(&l.dir)?;
        let wrote = run_as(ROOT_ATTACKER, || {
            fs::write(l.dir.join("openclaw.json"), b"{\"evil\":true}\n")
        });
        let verify = Face::Rust.call(Op::Verify, &call);
        let _ = Face::Rust.call(Op::Unfreeze, &call);
        wipe_records();
        ensure!(
            !(out.status == Status::Ok && mounted.is_empty()),
            "{} {}: freeze said NC_OK ({}) with no mount on the directory",
            creds.name(),
            strategy.name(),
            out.summary
        );
        ensure!(
            !(wrote.is_ok() && verify.status == Status::Ok),
            "after NC_OK the root attacker rewrote openclaw.json and verify still says NC_OK: {}",
            verify.summary
        );
    }
    Ok(())
}

/// Finding 1, second effect. An administrator's own `mount --bind -o ro,nosuid,nodev dir dir`;
/// the root attacker names it in a planted record; the launcher's maintenance unfreeze takes
/// the administrator's mount off (the claim: never removed).
pub fn planted_record_makes_an_administrators_bind_ours(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "plantadmin")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    bind(&l.dir, &l.dir, true)?;
    let admins = mounts_at(&l.dir)?;
    run_as(ROOT_ATTACKER, || plant_record(&l.dir))?;
    let out = Face::Rust.call(Op::Unfreeze, &call_of(&l));
    let after = mounts_at(&l.dir)?;
    wipe_records();
    ensure!(
        after == admins,
        "unfreeze ({}: {}) took off the administrator's read-only bind: {admins:?} -> {after:?}",
        out.status.name(),
        out.summary
    );
    Ok(())
}

/// Finding 1, third effect. The root attacker deletes nc-harden's record: unfreeze answers
/// NC_OK and leaves the read-only mount in place, for good (no later call will take it off).
pub fn deleted_record_unfreeze_leaves_the_mount(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "delrecord")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let call = call_of(&l).with_strategy(Strategy::Mount);
    expect_status(&Face::Rust.call(Op::Freeze, &call), Status::Ok)?;
    run_as(ROOT_ATTACKER, wipe_records);
    let out = Face::Rust.call(Op::Unfreeze, &call);
    let left = mounts_at(&l.dir)?;
    ensure!(
        out.status != Status::Ok || left.is_empty(),
        "unfreeze said NC_OK ({}) and left nc-harden's read-only mount: {left:?}",
        out.summary
    );
    Ok(())
}

/// Finding 2. A foreign read-write mount (another directory, say a volume) stacked on top of
/// nc-harden's read-only mount. The claim: every call changes nothing and answers
/// NC_UNSAFE_PATH. A freeze with AUTO or IMMUTABLE sets FS_IMMUTABLE_FL on the foreign
/// directory and its file and answers NC_OK; unfreeze then refuses (covered), so nc-harden
/// cannot take back the flags it set.
pub fn freeze_with_flags_on_a_foreign_mount_over_ours(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "flagontop")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    expect_status(
        &Face::Rust.call(Op::Freeze, &call_of(&l).with_strategy(Strategy::Mount)),
        Status::Ok,
    )?;
    // The foreign directory: a copy of the layout, valid on its own.
    let other = scratch.path().join("volume");
    fs::create_dir(&other)?;
    fs::set_permissions(&other, fs::Permissions::from_mode(0o755))?;
    for entry in fs::read_dir(&l.dir)? {
        let path = entry?.path();
        let to = other.join(path.file_name().expect("a name"));
        if fs::symlink_metadata(&path)?.file_type().is_symlink() {
            symlink(fs::read_link(&path)?, &to)?;
        } else {
            fs::copy(&path, &to)?;
        }
    }
    bind_writable(&other, &l.dir)?;
    let before = mounts_at(&l.dir)?;
    let mut failures = Vec::new();
    for strategy in [Strategy::Immutable, Strategy::Auto] {
        let out = Face::Rust.call(Op::Freeze, &call_of(&l).with_strategy(strategy));
        let flagged = immutable_flag(&other)? || immutable_flag(&other.join("openclaw.json"))?;
        if out.status != Status::UnsafePath || flagged || mounts_at(&l.dir)? != before {
            failures.push(format!(
                "{}: {} ({}), flag on the foreign directory: {flagged}",
                strategy.name(),
                out.status.name(),
                out.summary
            ));
        }
    }
    let un = Face::Rust.call(Op::Unfreeze, &call_of(&l));
    unmount(&l.dir)?;
    nc_harden_testkit::fs::clear_immutable_tree(&other)?;
    let _ = Face::Rust.call(Op::Unfreeze, &call_of(&l));
    ensure!(
        failures.is_empty(),
        "a freeze on a foreign mount stacked on nc-harden's changed it: {failures:?}; unfreeze then: {}",
        un.summary
    );
    Ok(())
}

/// Finding 3. After a freeze with the mount layer, a runtime mounts a host file over an entry
/// (inside nc-harden's read-only mount). Verify rejects the entry (mount_point). Unfreeze
/// answers NC_OK and its lazy unmount (MNT_DETACH) takes the runtime's mount off with
/// nc-harden's: a mount nc-harden did not make is removed.
pub fn unfreeze_detaches_a_mount_over_an_entry(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "detachentry")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let call = call_of(&l).with_strategy(Strategy::Mount);
    expect_status(&Face::Rust.call(Op::Freeze, &call), Status::Ok)?;
    let host = scratch.path().join("host.json");
    fs::write(&host, b"{\"from\":\"the host\"}\n")?;
    fs::set_permissions(&host, fs::Permissions::from_mode(0o444))?;
    let entry = l.dir.join("openclaw.json");
    mount_over(&host, &entry)?;
    ensure!(
        mounts_at(&entry)?.len() == 1,
        "the runtime's mount is there"
    );
    let verify = Face::Rust.call(Op::Verify, &call);
    ensure!(
        verify.record("openclaw.json").reason == Reason::MountPoint,
        "{}",
        verify.summary
    );
    let out = Face::Rust.call(Op::Unfreeze, &call);
    let left = mounts_at(&entry)?;
    if !left.is_empty() {
        unmount(&entry)?;
    }
    let _ = Face::Rust.call(Op::Unfreeze, &call);
    ensure!(
        !left.is_empty(),
        "unfreeze ({}: {}) removed the runtime's mount over openclaw.json",
        out.status.name(),
        out.summary
    );
    Ok(())
}

/// Finding 4. The library is called from a thread that has its own mount namespace
/// (unshare(CLONE_NEWNS|CLONE_FS), or setns, as launchers written in Go do on a locked OS
/// thread). /proc/self/mountinfo is the thread-group leader's, where nothing lies below
/// `dir`, so symlinks are never examined: a good symlink mounted over a bad one in the
/// thread's namespace is judged by what it shows and passes (claim: rejected mount_point).
/// On XFS (Linux 6.17+) the freeze also sets FS_XFLAG_IMMUTABLE on the foreign symlink,
/// an inode outside `dir`'s mount.
pub fn thread_with_its_own_mount_namespace(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "threadns")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    // `hooks` is bad (-> /etc); the link mounted over it is good.
    fs::remove_file(l.dir.join("hooks"))?;
    symlink("/etc", l.dir.join("hooks"))?;
    let good = scratch.path().join("good-hooks");
    symlink(l.data.join("hooks"), &good)?;
    let call = call_of(&l).with_strategy(Strategy::Immutable);
    let result = std::thread::scope(|s| {
        s.spawn(|| -> Result<(Outcome, bool), String> {
            // SAFETY: plain syscalls; CLONE_FS is allowed in a thread, CLONE_NEWNS implies it.
            unsafe {
                if libc::unshare(libc::CLONE_NEWNS | libc::CLONE_FS) != 0 {
                    return Err(format!("unshare: {}", io::Error::last_os_error()));
                }
                libc::mount(
                    c"none".as_ptr(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                );
            }
            mount_over(&good, &l.dir.join("hooks")).map_err(|e| e.to_string())?;
            let out = Face::Rust.call(Op::Freeze, &call);
            let foreign_flag = immutable_flag(&good).unwrap_or(false);
            let _ = Face::Rust.call(Op::Unfreeze, &call);
            Ok((out, foreign_flag))
        })
        .join()
        .expect("the thread ran")
    });
    let (out, foreign_flag) = result?;
    let _ = nc_harden_testkit::fs::clear_immutable(&good);
    let _ = Face::Rust.call(Op::Unfreeze, &call);
    let rejected =
        out.status == Status::Invalid && out.record("hooks").reason == Reason::MountPoint;
    ensure!(
        rejected && !foreign_flag,
        "a symlink mounted over `hooks` in the caller's namespace: {} ({}); flag set on the \
         mounted symlink, outside dir's mount: {foreign_flag}",
        out.status.name(),
        out.summary
    );
    Ok(())
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

/// Finding 6. Two freezes of the same directory at once (mount strategy): both answer NC_OK
/// and two read-only mounts are stacked, one of them unrecorded; unfreeze then answers NC_OK
/// and leaves that one for good (the claim: freezes never stack).
pub fn concurrent_freezes_stack(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "concurrent")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let call = call_of(&l).with_strategy(Strategy::Mount);
    for round in 0..100 {
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| Face::Rust.call(Op::Freeze, &call));
            let b = s.spawn(|| Face::Rust.call(Op::Freeze, &call));
            (a.join().expect("ran"), b.join().expect("ran"))
        });
        let stacked = mounts_at(&l.dir)?;
        let un = Face::Rust.call(Op::Unfreeze, &call);
        let left = mounts_at(&l.dir)?;
        for _ in &left {
            unmount(&l.dir)?;
        }
        ensure!(
            stacked.len() <= 1 && (un.status != Status::Ok || left.is_empty()),
            "round {round}: freezes answered {} and {}; {} mounts stacked; unfreeze said {} and \
             left {}",
            a.status.name(),
            b.status.name(),
            stacked.len(),
            un.status.name(),
            left.len()
        );
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

/// Finding 8 (low). nc-harden's mount remounted read-write (`mount -o remount,bind,rw`):
/// verify recognises it by id alone and answers NC_OK, while anyone may write into `dir`.
pub fn verify_trusts_a_mount_remounted_read_write(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "remountrw")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let call = call_of(&l).with_strategy(Strategy::Mount);
    expect_status(&Face::Rust.call(Op::Freeze, &call), Status::Ok)?;
    let t = std::ffi::CString::new(l.dir.as_os_str().as_bytes())?;
    // SAFETY: a NUL-terminated path; NULL source, type and data for a remount.
    let r = unsafe {
        libc::mount(
            std::ptr::null(),
            t.as_ptr(),
            std::ptr::null(),
            libc::MS_REMOUNT | libc::MS_BIND,
            std::ptr::null(),
        )
    };
    ensure!(r == 0, "remount: {}", io::Error::last_os_error());
    let verify = Face::Rust.call(Op::Verify, &call);
    let wrote = fs::write(l.dir.join("added"), b"x");
    let _ = fs::remove_file(l.dir.join("added"));
    let _ = Face::Rust.call(Op::Unfreeze, &call);
    ensure!(
        !(verify.status == Status::Ok && wrote.is_ok()),
        "verify said NC_OK ({}) on a read-write mount",
        verify.summary
    );
    Ok(())
}
