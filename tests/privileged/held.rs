//! Writers already inside lose their hold (contract, version 0.2): a process that opened or
//! mapped a file of `dir` for writing, or holds `dir` itself open, before the freeze, cannot
//! change what the path shows after NC_OK, with either layer, on every filesystem; and it
//! works where a rename of the directory cannot (overlayfs's lower layer, a mount root). A
//! writer that stays (a read lease refused) gets `open_for_writing`, never NC_OK.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::symlink;

use super::engine::{ensure_clean, kernel_state};
use super::*;
use nc_harden_testkit::{bind, check_from_outside, unmount};

/// The trials of this file, registered by main.rs: the held descriptors on every filesystem
/// with every layer, overlayfs's lower layer and a mount root on ext4, a writer that stays.
pub fn trials() -> Vec<Trial> {
    let mut out = Vec::new();
    for kind in [
        FsKind::Ext4,
        FsKind::Xfs,
        FsKind::Btrfs,
        FsKind::Tmpfs,
        FsKind::Overlay,
    ] {
        for (layer, (name, _, _)) in LAYERS.iter().enumerate() {
            out.push(trial(
                format!(
                    "held::{}::{name}::held_descriptors_change_nothing",
                    kind.name()
                ),
                kind,
                move |a| held_descriptors_change_nothing(a, layer),
            ));
        }
    }
    for (layer, (name, _, _)) in LAYERS.iter().enumerate() {
        out.push(trial(
            format!("held::ext4::{name}::overlay_lower_layer"),
            FsKind::Ext4,
            move |a| overlay_lower_layer(a, layer),
        ));
        out.push(trial(
            format!("held::ext4::{name}::directory_is_a_mount_root"),
            FsKind::Ext4,
            move |a| directory_is_a_mount_root(a, layer),
        ));
    }
    for kind in [FsKind::Ext4, FsKind::Tmpfs] {
        out.push(trial(
            format!("held::{}::writer_that_stays_is_refused", kind.name()),
            kind,
            writer_that_stays_is_refused,
        ));
        out.push(trial(
            format!(
                "held::{}::a_directory_flagged_before_is_renewed_under",
                kind.name()
            ),
            kind,
            a_directory_flagged_before_is_renewed_under,
        ));
    }
    out.push(trial(
        "held::tmpfs::a_rollback_clears_no_flag_through_a_mount",
        FsKind::Tmpfs,
        a_rollback_clears_no_flag_through_a_mount,
    ));
    out
}

/// Who freezes, and with which strategy, for every layer: the flag (full root), the fresh
/// directory's mount (AUTO without CAP_LINUX_IMMUTABLE, and MOUNT), both.
pub const LAYERS: [(&str, Creds, Strategy); 4] = [
    ("immutable", Creds::Full, Strategy::Immutable),
    ("auto_mount", NO_IMMUTABLE, Strategy::Auto),
    ("mount", Creds::Full, Strategy::Mount),
    ("both", Creds::Full, Strategy::Both),
];

/// What the attacker holds from before the freeze: a read-write descriptor and a shared
/// writable mapping of `openclaw.json`, and a descriptor of the directory.
struct Held {
    file: OwnedFd,
    map: *mut libc::c_void,
    len: usize,
    dir: OwnedFd,
}

// SAFETY: the mapping is only touched by the thread that owns `Held`.
unsafe impl Send for Held {}

impl Drop for Held {
    fn drop(&mut self) {
        // SAFETY: `map` is a live mapping of `len` bytes.
        unsafe { libc::munmap(self.map, self.len) };
    }
}

fn hold(l: &Layout) -> io::Result<Held> {
    let path = l.dir.join("openclaw.json");
    let file: OwnedFd = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)?
        .into();
    let len = fs::metadata(&path)?.len() as usize;
    // SAFETY: a shared writable mapping of an fd open read-write, `len` bytes.
    let map = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    if map == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let dir: OwnedFd = fs::File::open(&l.dir)?.into();
    Ok(Held {
        file,
        map,
        len,
        dir,
    })
}

/// Everything the held descriptors allow, each tried: pwrite, a write through the mapping
/// (and msync), a truncate, a link created in the held directory.
fn strike(held: &Held) -> Vec<(&'static str, bool)> {
    let evil = b"{\"evil\":1}";
    // SAFETY: a buffer of `evil.len()` bytes, written at offset 0 of an open fd.
    let pwrite =
        unsafe { libc::pwrite(held.file.as_raw_fd(), evil.as_ptr().cast(), evil.len(), 0) }
            == evil.len() as isize;
    // SAFETY: the mapping is `len` bytes long; at most that many are written.
    let mapped = unsafe {
        let n = evil.len().min(held.len);
        std::ptr::copy_nonoverlapping(evil.as_ptr(), held.map.cast::<u8>(), n);
        libc::msync(held.map, held.len, libc::MS_SYNC) == 0
    };
    // SAFETY: plain syscall on an open fd.
    let truncated = unsafe { libc::ftruncate(held.file.as_raw_fd(), 3) } == 0;
    // SAFETY: NUL-terminated strings.
    let planted =
        unsafe { libc::symlinkat(c"/etc".as_ptr(), held.dir.as_raw_fd(), c"planted".as_ptr()) }
            == 0;
    vec![
        ("pwrite", pwrite),
        ("mapping", mapped),
        ("ftruncate", truncated),
        ("symlinkat in the held directory", planted),
    ]
}

/// A writer and a directory descriptor opened before the freeze, as the root attacker: after
/// NC_OK, whatever it does through them, the path shows the bytes and names frozen. The
/// report says which files were renewed. After unfreeze the directory is writable again.
pub fn held_descriptors_change_nothing(area: &Path, layer: usize) -> TestResult {
    let (name, creds, strategy) = LAYERS[layer];
    let scratch = Scratch::new_in(area, "inside")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let before = fs::read(l.dir.join("openclaw.json"))?;
    let held = run_as(ROOT_ATTACKER, || hold(&l))?;
    let call = call_of(&l).with_strategy(strategy);
    let out = run_as(creds, || Face::Rust.call(Op::Freeze, &call));
    expect_status(&out, Status::Ok)?;
    // Renewal only where a writer holds the file (contract, version 0.3): the held one is
    // renewed; with the mount layer the fresh directory renews every file anyway.
    let renewed = |file: &str| {
        out.json["entries"]
            .as_array()
            .and_then(|entries| entries.iter().find(|e| e["name"] == file))
            .is_some_and(|e| e["renewed"] == true)
    };
    ensure!(
        renewed("openclaw.json"),
        "{name}: the held file is reported renewed: {}",
        out.json
    );
    if strategy == Strategy::Immutable && on_overlayfs(&l.dir)? {
        // On overlayfs a lease cannot tell: a shared writable mapping holds the upper
        // layer's file, which the overlay's lease does not see. Every file is renewed.
        ensure!(
            renewed(".config-hash"),
            "{name}: on overlayfs a file is renewed where the lease cannot tell: {}",
            out.json
        );
    } else if strategy == Strategy::Immutable {
        ensure!(
            !renewed(".config-hash"),
            "{name}: a file no writer holds is not renewed in place: {}",
            out.json
        );
    }
    let tried = strike(&held);
    ensure!(
        fs::read(l.dir.join("openclaw.json"))? == before,
        "{name}: after NC_OK the path shows other bytes (tried {tried:?})"
    );
    ensure!(
        fs::symlink_metadata(l.dir.join("planted")).is_err(),
        "{name}: a link planted through the held directory shows at the path"
    );
    check_from_outside(&l, &["openclaw.json"])
        .map_err(|e| format!("{name}: invalid from outside: {e}"))?;
    expect_status(
        &run_as(creds, || Face::Rust.call(Op::Verify, &call)),
        Status::Ok,
    )?;
    drop(held);
    let out = run_as(creds, || Face::Rust.call(Op::Unfreeze, &call));
    expect_status(&out, Status::Ok)?;
    let _ = fs::remove_file(l.dir.join("planted"));
    ensure_clean(&l.dir)?;
    // Unfrozen, the directory takes changes again.
    symlink("/etc", l.dir.join(".after"))
        .map_err(|e| format!("{name}: unfrozen, a link should be creatable: {e}"))?;
    Ok(())
}

/// A writer that opens the fresh file in the window between its renewal and its flag (root
/// without capabilities may): the freeze sees it (a read lease is refused) and says
/// open_for_writing rather than NC_OK. Simulated by a writer that holds a file whose own flag
/// is already set (a call killed between the flag and its lease leaves it so): a renewal
/// cannot replace a flagged file, and with the flag layer alone NC_OK never comes while the
/// writer holds it; once it lets go, the next freeze answers NC_OK.
pub fn writer_that_stays_is_refused(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "stays")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let call = call_of(&l).with_strategy(Strategy::Immutable);
    let held = run_as(ROOT_ATTACKER, || hold(&l))?;
    let out = Command::new("chattr")
        .arg("+i")
        .arg(l.dir.join("openclaw.json"))
        .output()?;
    ensure!(out.status.success(), "chattr +i");
    let out = Face::Rust.call(Op::Freeze, &call);
    expect_status(&out, Status::Invalid)?;
    ensure!(
        out.record("openclaw.json").reason == Reason::OpenForWriting,
        "{:?}",
        out.record("openclaw.json")
    );
    drop(held);
    expect_status(&Face::Rust.call(Op::Freeze, &call), Status::Ok)?;
    expect_status(&Face::Rust.call(Op::Unfreeze, &call), Status::Ok)?;
    ensure_clean(&l.dir)
}

/// A directory whose own flag is set and whose files carry none, as a freeze killed in its
/// pass leaves it, while a writer holds a file from before: the next freeze takes the
/// directory's flag off, puts the held file on a fresh inode and pins again (NC_OK, the file
/// reported renewed); nothing the writer does reaches the path, and unfreeze answers NC_OK.
/// (Without the flag taken off, the held file could never be renewed: every freeze answered
/// NC_INVALID while the writer wrote on.)
pub fn a_directory_flagged_before_is_renewed_under(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "flagged-before")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let call = call_of(&l).with_strategy(Strategy::Immutable);
    let before = fs::read(l.dir.join("openclaw.json"))?;
    let held = run_as(ROOT_ATTACKER, || hold(&l))?;
    let out = Command::new("chattr").arg("+i").arg(&l.dir).output()?;
    ensure!(out.status.success(), "chattr +i");
    let out = Face::Rust.call(Op::Freeze, &call);
    let result = (|| -> TestResult {
        expect_status(&out, Status::Ok)?;
        let renewed = out.json["entries"]
            .as_array()
            .and_then(|entries| entries.iter().find(|e| e["name"] == "openclaw.json"))
            .is_some_and(|e| e["renewed"] == true);
        ensure!(renewed, "the held file is reported renewed: {}", out.json);
        let tried = strike(&held);
        ensure!(
            fs::read(l.dir.join("openclaw.json"))? == before,
            "after NC_OK the path shows other bytes (tried {tried:?})"
        );
        check_from_outside(&l, &["openclaw.json"])?;
        Ok(())
    })();
    drop(held);
    expect_status(&Face::Rust.call(Op::Unfreeze, &call), Status::Ok)?;
    let _ = fs::remove_file(l.dir.join("planted"));
    result?;
    ensure_clean(&l.dir)
}

/// A freeze whose pass finds a held file takes back the flags it set, by name. An attacker
/// with CAP_SYS_ADMIN (and without CAP_LINUX_IMMUTABLE) who mounts another pinned file over a
/// name the pass has flagged must not have nc-harden clear that file's flag: the rollback
/// clears only the inode it flagged, leaves the name as it is and says so (the call fails).
/// The pass is slowed by strace (each readlinkat 100 ms later), so that the mount lands
/// between `openclaw.json`'s flag and the rollback that `.config-hash`, held, brings.
pub fn a_rollback_clears_no_flag_through_a_mount(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "rollback-mount")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let victim = scratch.path().join("victim");
    fs::write(&victim, b"another pinned file\n")?;
    let out = Command::new("chattr").arg("+i").arg(&victim).output()?;
    ensure!(out.status.success(), "chattr +i victim");
    let config = l.dir.join("openclaw.json");
    let writer: OwnedFd = fs::OpenOptions::new()
        .append(true)
        .open(l.dir.join(".config-hash"))?
        .into();
    let exe = common::native::cli_binary()?;
    let mut cli = Command::new("strace")
        .args(["-f", "-o", "/dev/null", "-e", "trace=readlinkat"])
        .args(["-e", "inject=readlinkat:delay_enter=100000"])
        .arg(&exe)
        .arg("freeze")
        .arg("--dir")
        .arg(&l.dir)
        .arg("--data-dir")
        .arg(&l.data)
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut mounted = false;
    while std::time::Instant::now() < deadline && cli.try_wait()?.is_none() {
        if immutable_flag(&config).unwrap_or(false) {
            bind(&victim, &config, false)?;
            mounted = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let status = cli.wait()?;
    let mut said = String::new();
    if let Some(mut err) = cli.stderr.take() {
        io::Read::read_to_string(&mut err, &mut said)?;
    }
    let victim_pinned = immutable_flag(&victim);
    if mounted {
        unmount(&config)?;
    }
    drop(writer);
    let _ = Command::new("chattr").arg("-i").arg(&victim).output();
    let _ = Face::Rust.call(Op::Unfreeze, &call_of(&l));
    ensure!(
        mounted,
        "openclaw.json was never flagged while the freeze ran (the pass's order changed?): {said}"
    );
    ensure!(
        victim_pinned?,
        "the rollback cleared the flag of the file mounted over openclaw.json: {said}"
    );
    ensure!(
        !status.success() && said.contains("the flag stays"),
        "the freeze does not say that a flag stays: {status:?} {said}"
    );
    ensure_clean(&l.dir)
}

/// Freezes `l` with the layer `layer` while the root attacker holds descriptors opened
/// before, strikes through them and checks that the path still shows the bytes and names
/// frozen; `meanwhile` runs on the frozen layout, then the unfreeze must answer NC_OK.
fn freeze_strike_unfreeze(
    l: &Layout,
    layer: usize,
    setting: &str,
    meanwhile: impl FnOnce() -> TestResult,
) -> TestResult {
    let (name, creds, strategy) = LAYERS[layer];
    let before = fs::read(l.dir.join("openclaw.json"))?;
    let held = run_as(ROOT_ATTACKER, || hold(l))?;
    let call = call_of(l).with_strategy(strategy);
    expect_status(
        &run_as(creds, || Face::Rust.call(Op::Freeze, &call)),
        Status::Ok,
    )?;
    let tried = strike(&held);
    ensure!(
        fs::read(l.dir.join("openclaw.json"))? == before
            && fs::symlink_metadata(l.dir.join("planted")).is_err(),
        "{name}: {setting}: the path changed (tried {tried:?})"
    );
    meanwhile()?;
    drop(held);
    expect_status(
        &run_as(creds, || Face::Rust.call(Op::Unfreeze, &call)),
        Status::Ok,
    )
}

/// Overlayfs, as a container's root: `dir` comes from the lower layer (RENAME_EXCHANGE of it
/// would answer EXDEV). Every layer pins it, held descriptors change nothing, unfreeze
/// restores.
pub fn overlay_lower_layer(area: &Path, layer: usize) -> TestResult {
    let name = LAYERS[layer].0;
    let scratch = Scratch::new_in(area, "lower")?;
    let base = scratch.path();
    let (lower, upper, work, merged) = (
        base.join("lower"),
        base.join("upper"),
        base.join("work"),
        base.join("merged"),
    );
    for d in [&lower, &upper, &work, &merged] {
        fs::create_dir(d)?;
    }
    Layout::build(&lower, Variant::B)?;
    nc_harden_testkit::fs::mount_fs(
        "overlay",
        &merged,
        &format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.display(),
            upper.display(),
            work.display()
        ),
    )?;
    let l = Layout {
        root: merged.clone(),
        dir: merged.join(".openclaw"),
        data: merged.join(".openclaw-data"),
        owner: 0,
        sandbox: SANDBOX_UID,
    };
    // The links of the lower layer name the lower paths: point them at the merged ones.
    for entry in fs::read_dir(&l.dir)? {
        let path = entry?.path();
        if fs::symlink_metadata(&path)?.file_type().is_symlink() {
            let target = l.data.join(path.file_name().ok_or("a name")?);
            fs::remove_file(&path)?;
            symlink(target, &path)?;
        }
    }
    let result = freeze_strike_unfreeze(&l, layer, "overlay lower layer", || {
        for attack in ATTACKS {
            ensure!(
                run_as(ROOT_ATTACKER, || (attack.run)(&l)).is_err(),
                "{name}: {} went through",
                attack.name
            );
        }
        Ok(())
    })
    .and_then(|()| ensure_clean(&l.dir));
    let _ = nc_harden_testkit::unmount(&merged);
    result
}

/// `dir` is itself a mount root (a volume, a Kubernetes ConfigMap): a rename of it answers
/// EBUSY. Every layer pins it, held descriptors change nothing, unfreeze restores, and the
/// volume stays mounted.
pub fn directory_is_a_mount_root(area: &Path, layer: usize) -> TestResult {
    let name = LAYERS[layer].0;
    let scratch = Scratch::new_in(area, "volume")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    // Move the built directory onto a tmpfs mounted at its own path.
    let stash = scratch.path().join("stash");
    fs::rename(&l.dir, &stash)?;
    fs::create_dir(&l.dir)?;
    nc_harden_testkit::fs::mount_fs("tmpfs", &l.dir, "mode=0755")?;
    let result = (|| -> TestResult {
        for entry in fs::read_dir(&stash)? {
            let entry = entry?;
            let to = l.dir.join(entry.file_name());
            let meta = fs::symlink_metadata(entry.path())?;
            if meta.file_type().is_symlink() {
                symlink(fs::read_link(entry.path())?, &to)?;
            } else {
                fs::copy(entry.path(), &to)?;
                fs::set_permissions(&to, meta.permissions())?;
            }
        }
        let volume = kernel_state(&l.dir)?.mounts;
        freeze_strike_unfreeze(&l, layer, "mount root", || Ok(()))?;
        ensure!(
            kernel_state(&l.dir)?.mounts == volume,
            "{name}: the volume itself must stay"
        );
        let _ = fs::remove_file(l.dir.join("planted"));
        Ok(())
    })();
    let _ = nc_harden_testkit::fs::clear_immutable_tree(&l.dir);
    let _ = nc_harden_testkit::unmount(&l.dir);
    result
}

/// Whether `path` is on overlayfs (statfs).
fn on_overlayfs(path: &Path) -> io::Result<bool> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: all-zero bytes are a valid `statfs`.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a buffer of the right size.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    #[allow(clippy::unnecessary_cast)] // the field's type differs between architectures
    Ok(st.f_type as i64 == 0x794c_7630)
}
