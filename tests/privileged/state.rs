//! The state directory is root's alone (directory 0700, files 0600), and nothing that the
//! sandbox user or root without capabilities does to it blocks a call past the bounded wait.
//! Most tests give their calls a state directory of their own, in their scratch
//! (`PolicyBuilder::state_dir`): the rules are the same for any state directory. The tests of
//! the default location itself (`/run/nc-harden` under a `/run` of a given mode, and the C
//! face, which always uses it) run each in a thread with a mount namespace of its own and a
//! fresh tmpfs on /run, so that it can give /run the mode it needs (1777, say) and find in
//! /run/nc-harden only what its own calls made; threads and processes it starts share both.
//! A record is never trusted on its own, and a held lock never blocks past the wait.

use super::engine::ensure_clean;
use super::*;
use nc_harden::STATE_DIR;
use nc_harden_testkit::mounts_at;
use sha2::{Digest, Sha256};
use std::ffi::CString;
use std::io::BufRead;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::sync::mpsc;
use std::time::Instant;

const ROOT_ATTACKER: Creds = Creds::RootWithout(&[CAP_LINUX_IMMUTABLE, CAP_SYS_ADMIN]);
const SANDBOX: Creds = Creds::User(SANDBOX_UID);

/// The trials of this file, registered by main.rs.
pub fn trials() -> Vec<Trial> {
    type AreaTest = fn(&Path) -> TestResult;
    let cases: [(&str, AreaTest); 11] = [
        ("modes_are_roots_alone_after_every_call", modes_after_calls),
        (
            "concurrent_calls_serialize_and_leave_no_lock_file",
            concurrent_calls,
        ),
        (
            "older_versions_state_is_tightened_and_a_held_lock_replaced",
            older_state_tightened,
        ),
        ("sandbox_user_cannot_open_a_lock_file", sandbox_cannot_open),
        (
            "flock_by_root_without_capabilities_answers_within_the_wait",
            flock_by_root_attacker,
        ),
        (
            "write_lease_by_root_without_capabilities_does_not_block_the_open",
            lease_by_root_attacker,
        ),
        (
            "sticky_run_works_and_a_state_directory_of_the_sandbox_user_is_refused",
            sticky_run,
        ),
        (
            "state_records_are_roots_alone",
            state_records_are_roots_alone,
        ),
        (
            "a_state_directory_given_is_held_to_the_same_rules",
            state_dir_given_is_held_to_the_rules,
        ),
        (
            "planted_intent_makes_a_freeze_take_back_earlier_pins",
            planted_intent_makes_a_freeze_take_back_earlier_pins,
        ),
        (
            "lock_held_by_root_without_caps_blocks_every_call",
            lock_held_by_root_without_caps_blocks_every_call,
        ),
    ];
    cases
        .into_iter()
        .map(|(name, test)| -> Trial {
            (format!("state::ext4::{name}"), FsKind::Ext4, Box::new(test))
        })
        .collect()
}

/// Runs `f` in a thread of its own with its own mount namespace and a fresh tmpfs of mode
/// `run_mode` on /run.
fn with_own_run<T: Send>(run_mode: u32, f: impl FnOnce() -> T + Send) -> Result<T, Failed> {
    std::thread::scope(|s| {
        s.spawn(|| -> Result<T, Failed> {
            let options = CString::new(format!("mode={run_mode:o}")).expect("no NUL");
            // SAFETY: plain syscalls with valid strings; CLONE_NEWNS needs CLONE_FS in a
            // thread, and changes only this thread (and what it starts).
            unsafe {
                if libc::unshare(libc::CLONE_NEWNS | libc::CLONE_FS) != 0
                    || libc::mount(
                        c"none".as_ptr(),
                        c"/".as_ptr(),
                        std::ptr::null(),
                        libc::MS_REC | libc::MS_PRIVATE,
                        std::ptr::null(),
                    ) != 0
                    || libc::mount(
                        c"tmpfs".as_ptr(),
                        c"/run".as_ptr(),
                        c"tmpfs".as_ptr(),
                        libc::MS_NOSUID | libc::MS_NODEV,
                        options.as_ptr().cast(),
                    ) != 0
                {
                    return Err(format!("a /run of its own: {}", io::Error::last_os_error()).into());
                }
            }
            Ok(f())
        })
        .join()
        .expect("the thread ran")
    })
}

/// A state directory of the test's own, in its scratch (made by the first call).
fn own_state(scratch: &Scratch) -> PathBuf {
    scratch.path().join("state")
}

fn lock_path(state: &Path, dir: &Path) -> PathBuf {
    state_name(state, dir, ".lock")
}

/// Every file of the state directory with its owner and mode.
fn state_files(state: &Path) -> io::Result<Vec<(PathBuf, u32, u32)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(state)? {
        let path = entry?.path();
        let meta = fs::symlink_metadata(&path)?;
        out.push((path, meta.uid(), meta.mode() & 0o7777));
    }
    out.sort();
    Ok(out)
}

fn expect_roots_alone(state: &Path) -> TestResult {
    let meta = fs::symlink_metadata(state)?;
    ensure!(
        meta.is_dir() && meta.uid() == 0 && meta.mode() & 0o7777 == 0o700,
        "{}: uid {} mode {:o}, expected root 0700",
        state.display(),
        meta.uid(),
        meta.mode() & 0o7777
    );
    for (path, uid, mode) in state_files(state)? {
        ensure!(
            uid == 0 && mode == 0o600,
            "{}: uid {uid} mode {mode:o}, expected root 0600",
            path.display()
        );
    }
    Ok(())
}

fn no_lock_files(state: &Path) -> TestResult {
    let locks: Vec<PathBuf> = state_files(state)?
        .into_iter()
        .map(|(p, _, _)| p)
        .filter(|p| p.extension().is_some_and(|e| e == "lock"))
        .collect();
    ensure!(locks.is_empty(), "lock files left behind: {locks:?}");
    Ok(())
}

/// An inode as a call could change it: path, owner, mode, inode number, immutable flag.
type Seen = (PathBuf, u32, u32, u64, bool);

/// What a call could change in `dir`: every inode's owner, mode, inode number and flag.
fn snapshot(dir: &Path) -> io::Result<Vec<Seen>> {
    let mut out = Vec::new();
    for (path, flag) in flags(dir)? {
        let meta = fs::symlink_metadata(&path)?;
        out.push((path, meta.uid(), meta.mode(), meta.ino(), flag));
    }
    Ok(out)
}

/// As `who`: opens `path` read-only and takes flock(LOCK_EX) on it; the descriptor holding
/// the lock, or the errno of what failed.
fn open_and_flock(who: Creds, path: &Path, create: bool) -> io::Result<OwnedFd> {
    let path = path.to_path_buf();
    run_as(who, move || {
        let file = fs::OpenOptions::new()
            .read(true)
            .write(create)
            .create(create)
            .truncate(false)
            .mode(0o600)
            .open(&path)?;
        // SAFETY: plain flock on an open fd.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(file.into())
    })
}

/// A freeze, a verify and an unfreeze leave the state directory 0700 and its files 0600,
/// root's, and no lock file behind (of a path that exists or of one that does not).
fn modes_after_calls(area: &Path) -> TestResult {
    let state = Path::new(STATE_DIR);
    with_own_run(0o755, || -> TestResult {
        let scratch = Scratch::new_in(area, "state-modes")?;
        let l = Layout::build(scratch.path(), Variant::B)?;
        let call = call_of(&l).with_strategy(Strategy::Mount);
        expect_status(&Face::Rust.call(Op::Freeze, &call), Status::Ok)?;
        expect_roots_alone(state)?;
        ensure!(
            state_files(state)?
                .iter()
                .any(|(p, _, _)| p.extension().is_some_and(|e| e == "mount")),
            "the mount layer's record was not written"
        );
        no_lock_files(state)?;
        expect_status(&Face::Rust.call(Op::Verify, &call), Status::Ok)?;
        expect_status(&Face::C.call(Op::Verify, &call), Status::Ok)?;
        expect_roots_alone(state)?;
        no_lock_files(state)?;
        expect_status(&Face::Rust.call(Op::Unfreeze, &call), Status::Ok)?;
        expect_roots_alone(state)?;
        no_lock_files(state)?;
        let mut missing = call.clone();
        missing.dir = scratch.path().join("no-such-dir");
        for op in [Op::Freeze, Op::Verify, Op::Unfreeze] {
            expect_status(&Face::Rust.call(op, &missing), Status::NotFound)?;
        }
        no_lock_files(state)?;
        ensure!(
            state_files(state)?.is_empty(),
            "state left: {:?}",
            state_files(state)?
        );
        Ok(())
    })?
}

/// An older version left /run/nc-harden 0755 and its files 0644, and the sandbox user
/// opened the lock file then and holds flock(LOCK_EX) on it. A freeze answers at once
/// (the lock file is replaced, never waited on), and leaves 0700 and 0600; a record left
/// 0644 is tightened by the next call that reads it.
fn older_state_tightened(area: &Path) -> TestResult {
    {
        let scratch = Scratch::new_in(area, "state-older")?;
        let l = Layout::build(scratch.path(), Variant::B)?;
        let state = &own_state(&scratch);
        let call = call_of(&l)
            .with_state_dir(state)
            .with_strategy(Strategy::Mount);
        fs::create_dir(state)?;
        fs::set_permissions(state, fs::Permissions::from_mode(0o755))?;
        let lock = lock_path(state, &l.dir);
        fs::write(&lock, b"")?;
        fs::set_permissions(&lock, fs::Permissions::from_mode(0o644))?;
        let held = open_and_flock(SANDBOX, &lock, false)
            .map_err(|e| format!("the sandbox user could not flock the old lock file: {e}"))?;
        let start = Instant::now();
        let out = Face::Rust.call(Op::Freeze, &call);
        let waited = start.elapsed();
        expect_status(&out, Status::Ok)?;
        ensure!(
            waited < Duration::from_secs(2),
            "the freeze waited {waited:?} on a lock file the sandbox user holds"
        );
        expect_roots_alone(state)?;
        // As the older version left them: the directory 0755, the record 0644.
        fs::set_permissions(state, fs::Permissions::from_mode(0o755))?;
        for (path, _, _) in state_files(state)? {
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644))?;
        }
        let out = Face::Rust.call(Op::Unfreeze, &call);
        expect_status(&out, Status::Ok)?;
        ensure!(
            mounts_at(&l.dir)?.is_empty(),
            "the mount of the freeze is still there: {}",
            out.summary
        );
        expect_roots_alone(state)?;
        no_lock_files(state)?;
        drop(held);
        Ok(())
    }
}

/// While a call holds the lock file (root's, 0600, in the 0700 directory), the sandbox user
/// can neither open it nor make one of its own, so it can never hold a lock of nc-harden's.
fn sandbox_cannot_open(area: &Path) -> TestResult {
    {
        let scratch = Scratch::new_in(area, "state-sandbox")?;
        let l = Layout::build(scratch.path(), Variant::A)?;
        let state = &own_state(&scratch);
        let call = call_of(&l)
            .with_state_dir(state)
            .with_strategy(Strategy::Immutable);
        expect_status(&Face::Rust.call(Op::Freeze, &call), Status::Ok)?;
        // A lock file as a call under way has it.
        let lock = lock_path(state, &l.dir);
        let file = fs::OpenOptions::new()
            .read(true)
            .create(true)
            .write(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock)?;
        drop(file);
        for (create, what) in [(false, "open the lock file"), (true, "create a lock file")] {
            let target = if create {
                state.join("mine.lock")
            } else {
                lock.clone()
            };
            match open_and_flock(SANDBOX, &target, create) {
                Err(e) if e.raw_os_error() == Some(libc::EACCES) => {}
                Err(e) => return Err(format!("{what}: {e}, expected EACCES").into()),
                Ok(_) => return Err(format!("the sandbox user could {what} and flock it").into()),
            }
        }
        let listed = run_as(SANDBOX, || fs::read_dir(state).map(drop));
        ensure!(
            listed.as_ref().err().and_then(io::Error::raw_os_error) == Some(libc::EACCES),
            "the sandbox user listed {}: {listed:?}",
            state.display()
        );
        expect_status(&Face::Rust.call(Op::Unfreeze, &call), Status::Ok)?;
        Ok(())
    }
}

/// Root without capabilities holds flock(LOCK_EX) on the lock file: every call answers
/// NC_IO_ERROR after the 4 s wait (not sooner, never much later), naming the holder's pid
/// and what it holds, and changes nothing.
fn flock_by_root_attacker(area: &Path) -> TestResult {
    let state = Path::new(STATE_DIR);
    with_own_run(0o755, || -> TestResult {
        let scratch = Scratch::new_in(area, "state-flock")?;
        let l = Layout::build(scratch.path(), Variant::A)?;
        let call = call_of(&l).with_strategy(Strategy::Immutable);
        // The state directory is there from an earlier call.
        expect_status(&Face::Rust.call(Op::Verify, &call), Status::NotFrozen)?;
        expect_status(&Face::Rust.call(Op::Unfreeze, &call), Status::Ok)?;
        let held = open_and_flock(ROOT_ATTACKER, &lock_path(state, &l.dir), true)?;
        let before = snapshot(&l.dir)?;
        for (face, op) in [
            (Face::Rust, Op::Freeze),
            (Face::C, Op::Freeze),
            (Face::Rust, Op::Unfreeze),
        ] {
            let start = Instant::now();
            let out = face.call(op, &call);
            let waited = start.elapsed();
            expect_status(&out, Status::IoError)?;
            ensure!(
                waited >= Duration::from_millis(3900) && waited < Duration::from_secs(6),
                "{op:?} ({}) answered after {waited:?}, expected the 4 s wait",
                face.name()
            );
            let pid = format!("pid {}", std::process::id());
            ensure!(
                out.summary.contains(&pid) && out.summary.contains("FLOCK"),
                "{op:?} does not name the holder ({pid}, a FLOCK): {}",
                out.summary
            );
            ensure!(
                snapshot(&l.dir)? == before,
                "{op:?} answered NC_IO_ERROR and changed the directory: {}",
                out.summary
            );
        }
        drop(held);
        expect_status(&Face::Rust.call(Op::Freeze, &call), Status::Ok)?;
        expect_status(&Face::Rust.call(Op::Unfreeze, &call), Status::Ok)?;
        Ok(())
    })?
}

/// Root without capabilities (it keeps CAP_LEASE, and owns the root-owned lock file as far
/// as leases go) takes a write lease on the lock file, ignoring SIGIO. A blocking open would
/// wait out the lease-break time (45 s); the call answers NC_IO_ERROR within the 4 s wait,
/// naming the holder and its lease, changes nothing, and works once the lease is gone.
fn lease_by_root_attacker(area: &Path) -> TestResult {
    {
        let scratch = Scratch::new_in(area, "state-lease")?;
        let l = Layout::build(scratch.path(), Variant::A)?;
        let state = &own_state(&scratch);
        let call = call_of(&l)
            .with_state_dir(state)
            .with_strategy(Strategy::Immutable);
        expect_status(&Face::Rust.call(Op::Unfreeze, &call), Status::Ok)?;
        let lock = lock_path(state, &l.dir);
        let script = "import fcntl, os, signal, sys, time\n\
                      signal.signal(signal.SIGIO, signal.SIG_IGN)\n\
                      fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)\n\
                      fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_WRLCK)\n\
                      print('held', flush=True)\n\
                      time.sleep(120)\n";
        let mut holder = run_as(ROOT_ATTACKER, || {
            Command::new("python3")
                .args(["-c", script])
                .arg(&lock)
                .stdout(std::process::Stdio::piped())
                .spawn()
        })?;
        let mut line = String::new();
        io::BufReader::new(holder.stdout.take().expect("piped")).read_line(&mut line)?;
        let result = (|| -> TestResult {
            ensure!(line == "held\n", "the lease was not taken: {line:?}");
            let before = snapshot(&l.dir)?;
            let start = Instant::now();
            let out = Face::Rust.call(Op::Freeze, &call);
            let waited = start.elapsed();
            expect_status(&out, Status::IoError)?;
            ensure!(
                waited < Duration::from_secs(6),
                "the freeze waited {waited:?} on a lease of the lock file"
            );
            let pid = format!("pid {} (python3)", holder.id());
            ensure!(
                out.summary.contains(&pid) && out.summary.contains("LEASE"),
                "the holder ({pid}, a LEASE) is not named: {}",
                out.summary
            );
            ensure!(
                snapshot(&l.dir)? == before,
                "NC_IO_ERROR and the directory changed: {}",
                out.summary
            );
            Ok(())
        })();
        let _ = holder.kill();
        let _ = holder.wait();
        result?;
        expect_status(&Face::Rust.call(Op::Freeze, &call), Status::Ok)?;
        expect_status(&Face::Rust.call(Op::Unfreeze, &call), Status::Ok)?;
        Ok(())
    }
}

/// A /run that is 1777 (a fresh tmpfs mounted without a mode): a /run/nc-harden that root
/// made 0700 there works, and the sandbox user can neither remove nor rename it (sticky). One
/// that the sandbox user made first is refused, saying whose it is and what to do, and
/// nothing is changed.
fn sticky_run(area: &Path) -> TestResult {
    let state = Path::new(STATE_DIR);
    with_own_run(0o1777, || -> TestResult {
        let scratch = Scratch::new_in(area, "state-sticky")?;
        let l = Layout::build(scratch.path(), Variant::A)?;
        let call = call_of(&l).with_strategy(Strategy::Immutable);
        run_as(SANDBOX, || fs::create_dir(STATE_DIR))?;
        let before = snapshot(&l.dir)?;
        let out = Face::Rust.call(Op::Freeze, &call);
        expect_status(&out, Status::IoError)?;
        ensure!(
            out.summary.contains("owned by uid 998") && out.summary.contains("remove it"),
            "the refusal does not say whose the state directory is: {}",
            out.summary
        );
        ensure!(
            snapshot(&l.dir)? == before,
            "refused, and changed: {}",
            out.summary
        );
        fs::remove_dir(STATE_DIR)?;
        expect_status(&Face::Rust.call(Op::Freeze, &call), Status::Ok)?;
        expect_roots_alone(state)?;
        let moved = run_as(SANDBOX, || {
            fs::rename(STATE_DIR, "/run/elsewhere").or_else(|_| fs::remove_dir(STATE_DIR))
        });
        ensure!(
            moved.is_err() && fs::symlink_metadata(STATE_DIR)?.uid() == 0,
            "the sandbox user moved or removed root's {STATE_DIR} in a sticky /run"
        );
        expect_status(&Face::Rust.call(Op::Unfreeze, &call), Status::Ok)?;
        expect_roots_alone(state)?;
        Ok(())
    })?
}

/// Eight threads call freeze, verify and unfreeze on one path at once, over and over: each
/// removes the lock file it made where no other call holds it, and the others notice and open
/// it again, so every call still sees a whole result of the one before (never two mounts of
/// nc-harden's stacked, never an error), and no lock file is left at the end.
fn concurrent_calls(area: &Path) -> TestResult {
    {
        let scratch = Scratch::new_in(area, "state-concurrent")?;
        let l = Layout::build(scratch.path(), Variant::A)?;
        let state = &own_state(&scratch);
        let call = call_of(&l)
            .with_state_dir(state)
            .with_strategy(Strategy::Mount);
        let outcomes: Vec<(Op, Outcome)> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..8)
                .map(|t| {
                    let call = call.clone();
                    s.spawn(move || {
                        (0..12)
                            .map(|i| {
                                let op = [Op::Freeze, Op::Verify, Op::Unfreeze][(t + i) % 3];
                                (op, Face::Rust.call(op, &call))
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().expect("a worker ran"))
                .collect()
        });
        for (op, out) in &outcomes {
            let allowed = match op {
                Op::Verify => [Status::Ok, Status::NotFrozen].contains(&out.status),
                _ => out.status == Status::Ok,
            };
            ensure!(allowed, "{op:?}: {}", out.summary);
        }
        let stacked = mounts_at(&l.dir)?.len();
        ensure!(stacked <= 1, "{stacked} mounts stacked on the directory");
        expect_status(&Face::Rust.call(Op::Unfreeze, &call), Status::Ok)?;
        ensure!(mounts_at(&l.dir)?.is_empty(), "a mount is left");
        no_lock_files(state)?;
        Ok(())
    }
}

/// A state directory given to the call is held to the rules of the default one: under a
/// parent others may write (not sticky), or reached through a symlink, it is refused
/// (NC_IO_ERROR, nothing changed); under a sticky one, or a parent of root's, it is made
/// 0700 and used, and the machine's /run/nc-harden is not.
fn state_dir_given_is_held_to_the_rules(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "state-given")?;
    let l = Layout::build(scratch.path(), Variant::A)?;
    let open = scratch.path().join("open");
    fs::create_dir(&open)?;
    chmod(&open, 0o777)?;
    let real = scratch.path().join("real");
    fs::create_dir(&real)?;
    symlink(&real, scratch.path().join("link"))?;
    let before = snapshot(&l.dir)?;
    for (state, says) in [
        (open.join("state"), "writable by others"),
        (scratch.path().join("link/state"), ""),
        (scratch.path().join("link"), "not a directory"),
    ] {
        let call = call_of(&l)
            .with_state_dir(&state)
            .with_strategy(Strategy::Immutable);
        let out = Face::Rust.call(Op::Freeze, &call);
        expect_status(&out, Status::IoError)?;
        ensure!(
            out.summary.contains(says),
            "{}: the refusal does not say {says:?}: {}",
            state.display(),
            out.summary
        );
        ensure!(
            snapshot(&l.dir)? == before,
            "{}: refused, and changed: {}",
            state.display(),
            out.summary
        );
        ensure!(
            !state.join("nc-harden").exists() && !real.join("state").exists(),
            "{}: something was made",
            state.display()
        );
    }
    let sticky = scratch.path().join("sticky");
    fs::create_dir(&sticky)?;
    chmod(&sticky, 0o1777)?;
    for state in [sticky.join("state"), scratch.path().join("state")] {
        let call = call_of(&l)
            .with_state_dir(&state)
            .with_strategy(Strategy::Immutable);
        expect_status(&Face::Rust.call(Op::Freeze, &call), Status::Ok)?;
        expect_roots_alone(&state)?;
        expect_status(&Face::Rust.call(Op::Verify, &call), Status::Ok)?;
        expect_status(&Face::Rust.call(Op::Unfreeze, &call), Status::Ok)?;
        no_lock_files(&state)?;
    }
    Ok(())
}

/// The records live in a root-only directory; a record file planted by someone else, or a
/// state directory that others can write, is never trusted: no mount becomes "ours" by it.
pub fn state_records_are_roots_alone(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "records")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let state = &own_state(&scratch);
    let call = call_of(&l)
        .with_state_dir(state)
        .with_strategy(Strategy::Mount);
    expect_status(&Face::Rust.call(Op::Freeze, &call), Status::Ok)?;
    let meta = fs::metadata(state)?;
    ensure!(
        std::os::unix::fs::MetadataExt::uid(&meta) == 0 && meta.permissions().mode() & 0o022 == 0,
        "{}: {:o}",
        state.display(),
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

/// The name in the state directory `state` of `dir`'s file with `suffix` (`.intent`, `.lock`): the
/// SHA-256 of the path in hex, as nc-harden names it; anyone can compute it.
fn state_name(state: &Path, dir: &Path, suffix: &str) -> PathBuf {
    let hex: String = Sha256::digest(dir.as_os_str().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    state.join(format!("{hex}{suffix}"))
}

/// Finding 3. The intent mark is a file in /run/nc-harden that root without capabilities
/// can create (DAC alone guards the directory). A freeze that finds one adopts every pin
/// already in place as its own, and takes it back when the layout is invalid. So: a
/// directory frozen with NC_OK; the root process plants the mark; the sandbox user (owner of
/// data_dir) turns one data entry into a symlink; the next freeze (a restart) answers
/// NC_INVALID, "nothing was left changed", and has taken the flags of the earlier,
/// successful freeze off the directory and its files.
pub fn planted_intent_makes_a_freeze_take_back_earlier_pins(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "rt2-intent")?;
    let l = Layout::build(scratch.path(), Variant::A)?;
    let state = &own_state(&scratch);
    let call = call_of(&l)
        .with_state_dir(state)
        .with_strategy(Strategy::Immutable);
    let first = Face::Rust.call(Op::Freeze, &call);
    let result = (|| -> TestResult {
        expect_status(&first, Status::Ok)?;
        ensure!(immutable_flag(&l.dir)?, "the first freeze set the flag");
        let name = "update-check.json";
        run_as(Creds::User(SANDBOX_UID), || -> io::Result<()> {
            fs::remove_file(l.data.join(name))?;
            symlink("/etc/hostname", l.data.join(name))
        })?;
        // Without a mark: NC_INVALID, and the earlier pins stay.
        let baseline = Face::Rust.call(Op::Freeze, &call);
        expect_status(&baseline, Status::Invalid)?;
        ensure!(
            immutable_flag(&l.dir)?,
            "baseline: a failed freeze kept the earlier pins"
        );
        let mark = state_name(state, &l.dir, ".intent");
        run_as(ROOT_ATTACKER, || fs::write(&mark, b"freeze\n"))?;
        let second = Face::Rust.call(Op::Freeze, &call);
        let dir_flag = immutable_flag(&l.dir)?;
        let config_flag = immutable_flag(&l.dir.join("openclaw.json"))?;
        ensure!(
            dir_flag && config_flag,
            "with a mark planted by root without capabilities, the freeze answered {} ({}) \
             and took the earlier freeze's pins off: directory flag {dir_flag}, \
             openclaw.json flag {config_flag}",
            second.status.name(),
            second.summary
        );
        Ok(())
    })();
    let _ = Face::Rust.call(Op::Unfreeze, &call);
    result
}

/// Finding 4 (denial of service). The lock file is one root without capabilities can open
/// and flock: every freeze, unfreeze and verify of the path then blocks for as long as it
/// likes, with no timeout and nothing said.
pub fn lock_held_by_root_without_caps_blocks_every_call(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "rt2-lock")?;
    let l = Layout::build(scratch.path(), Variant::A)?;
    let state = &own_state(&scratch);
    let call = call_of(&l)
        .with_state_dir(state)
        .with_strategy(Strategy::Immutable);
    let lock = state_name(state, &l.dir, ".lock");
    let held: OwnedFd = run_as(ROOT_ATTACKER, || -> io::Result<OwnedFd> {
        let _ = fs::create_dir(state);
        let f = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock)?;
        // SAFETY: plain flock on an open fd.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(f.into())
    })?;
    let (tx, rx) = mpsc::channel();
    let c2 = call.clone();
    let worker = std::thread::spawn(move || {
        let _ = tx.send(Face::Rust.call(Op::Freeze, &c2));
    });
    let answered = rx.recv_timeout(Duration::from_secs(5));
    drop(held);
    let _ = worker.join();
    let _ = Face::Rust.call(Op::Unfreeze, &call);
    ensure!(
        answered.is_ok(),
        "a freeze blocked for 5 s (and would forever) on a lock that root without \
         capabilities took in {}",
        state.display()
    );
    Ok(())
}
