//! Red-team pass on fresh inodes, crash safety, serialization, flat layouts, postures and
//! seals. Each test is an attack that shows a claim not holding: it FAILS while the weakness
//! is there. Nothing here is a fix.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::sync::mpsc;
use std::time::Duration;

use super::*;
use nc_harden::STATE_DIR;
use nc_harden_testkit::{mounts_at, unmount, Flat};
use sha2::{Digest, Sha256};

/// The root process of the threat model: uid 0 (DAC bypassed), without CAP_LINUX_IMMUTABLE
/// and CAP_SYS_ADMIN.
const ROOT_ATTACKER: Creds = Creds::RootWithout(&[CAP_LINUX_IMMUTABLE, CAP_SYS_ADMIN]);

fn shields_up(f: &Flat, strategy: Strategy) -> Call {
    let mut call = Call::new(&f.dir, &f.root.join("unused"), 0).with_strategy(strategy);
    call.flat = true;
    call.seal = Some(".config-hash".into());
    call.lock_posture = true;
    call.reseal = true;
    call
}

/// A descriptor of `dir` as it is now (the attacker "already inside": it held the directory
/// open before the freeze).
fn hold_dir(dir: &Path) -> io::Result<OwnedFd> {
    Ok(fs::File::open(dir)?.into())
}

fn c(name: &str) -> CString {
    CString::new(name).expect("no NUL")
}

/// Takes nc-harden's mounts off `dir` (cleanup of a test that failed half-way).
fn unmount_all(dir: &Path) {
    while mounts_at(dir).map(|m| !m.is_empty()).unwrap_or(false) {
        if unmount(dir).is_err() {
            break;
        }
    }
}

/// The name under /run/nc-harden of `dir`'s file with `suffix` (`.intent`, `.lock`): the
/// SHA-256 of the path in hex, as nc-harden names it; anyone can compute it.
fn state_name(dir: &Path, suffix: &str) -> PathBuf {
    let hex: String = Sha256::digest(dir.as_os_str().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Path::new(STATE_DIR).join(format!("{hex}{suffix}"))
}

/// Finding 1. Shields up over a directory that the mount layer already pins (NemoClaw runs
/// "shields up" again, or a launcher runs it at every start): the freeze takes nc-harden's
/// own mount off first and works on the directory beneath, which the fresh directory hid
/// and nobody checked. The root process of the threat model held the directory open from
/// before the first freeze and plants a FIFO beneath through that descriptor. The second
/// shields up judges the directory beneath, answers NC_INVALID ("nothing was left changed")
/// and leaves the directory UNPINNED: the path now shows the writable directory beneath.
pub fn reseal_over_the_mount_unpins_on_an_invalid_beneath(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "rt2-unpin")?;
    let f = Flat::build(scratch.path())?;
    let held = hold_dir(&f.dir)?;
    let up = shields_up(&f, Strategy::Mount);
    let first = Face::Rust.call(Op::Freeze, &up);
    let result = (|| -> TestResult {
        expect_status(&first, Status::Ok)?;
        ensure!(
            mounts_at(&f.dir)?.len() == 1,
            "the first shields up mounted the fresh directory"
        );
        // Through the descriptor held from before: a FIFO in the directory beneath.
        let planted = run_as(ROOT_ATTACKER, || {
            // SAFETY: an open directory fd and a NUL-terminated name.
            unsafe {
                libc::mknodat(
                    held.as_raw_fd(),
                    c("evil").as_ptr(),
                    libc::S_IFIFO | 0o644,
                    0,
                )
            }
        });
        ensure!(
            planted == 0,
            "mknodat beneath: {}",
            io::Error::last_os_error()
        );
        ensure!(
            !f.dir.join("evil").exists(),
            "the FIFO is beneath, not on the path shown"
        );
        let second = Face::Rust.call(Op::Freeze, &up);
        let still_mounted = !mounts_at(&f.dir)?.is_empty();
        // The path after the call: can the root process of the threat model write it?
        let writable = run_as(ROOT_ATTACKER, || {
            fs::OpenOptions::new()
                .write(true)
                .open(f.dir.join("openclaw.json"))
                .is_ok()
        });
        ensure!(
            still_mounted && !writable,
            "shields up again answered {} ({}) and left the directory unpinned: mounted {}, \
             openclaw.json writable by root without capabilities {}",
            second.status.name(),
            second.summary,
            still_mounted,
            writable
        );
        Ok(())
    })();
    unmount_all(&f.dir);
    result
}

/// Finding 2. As finding 1, but the attacker, through the directory descriptor held from
/// before the first freeze, rewrites openclaw.json beneath (the path keeps showing the
/// pinned copy, so verify and `sha256sum -c` see nothing). The next shields up takes the
/// mount off, reseals the bytes beneath (the attacker's), pins them and answers NC_OK with
/// the seal "ok": bytes written while the shields were up become the sealed configuration.
pub fn reseal_over_the_mount_seals_bytes_written_beneath(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "rt2-reseal")?;
    let f = Flat::build(scratch.path())?;
    let config = f.dir.join("openclaw.json");
    let held = hold_dir(&f.dir)?;
    let up = shields_up(&f, Strategy::Mount);
    let first = Face::Rust.call(Op::Freeze, &up);
    let result = (|| -> TestResult {
        expect_status(&first, Status::Ok)?;
        let pinned = fs::read(&config)?;
        let evil = b"{\"gateway\":{\"auth\":{\"token\":\"attacker\"}}}\n";
        let wrote = run_as(ROOT_ATTACKER, || -> io::Result<()> {
            // SAFETY: an open directory fd and a NUL-terminated name.
            let fd = unsafe {
                libc::openat(
                    held.as_raw_fd(),
                    c("openclaw.json").as_ptr(),
                    libc::O_WRONLY | libc::O_TRUNC | libc::O_CLOEXEC,
                )
            };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: a new fd owned by nobody else.
            let mut file = fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
            io::Write::write_all(&mut file, evil)
        });
        ensure!(wrote.is_ok(), "writing beneath: {wrote:?}");
        ensure!(
            fs::read(&config)? == pinned,
            "the path still shows the pinned bytes"
        );
        let verify = Face::Rust.call(Op::Verify, &up);
        expect_status(&verify, Status::Ok)?;
        let second = Face::Rust.call(Op::Freeze, &up);
        let shown = fs::read(&config)?;
        ensure!(
            second.status != Status::Ok || shown == pinned,
            "shields up again answered {} with the seal {} and now pins and seals the bytes \
             written beneath while the shields were up: {:?}",
            second.status.name(),
            second.json["seal"]["result"],
            String::from_utf8_lossy(&shown)
        );
        Ok(())
    })();
    unmount_all(&f.dir);
    result
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
    let call = call_of(&l).with_strategy(Strategy::Immutable);
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
        let mark = state_name(&l.dir, ".intent");
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
    let call = call_of(&l).with_strategy(Strategy::Immutable);
    let lock = state_name(&l.dir, ".lock");
    let held: OwnedFd = run_as(ROOT_ATTACKER, || -> io::Result<OwnedFd> {
        let _ = fs::create_dir(STATE_DIR);
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
         capabilities took in {STATE_DIR}"
    );
    Ok(())
}

/// Finding 5. A renewal copies "the same extended attributes", but only the ones the caller
/// can list: a launcher with CAP_LINUX_IMMUTABLE and without CAP_SYS_ADMIN (the flag layer)
/// cannot see trusted.* attributes, so the fresh inode silently lacks them; the call answers
/// NC_OK, "renewed", and the old inode with its attributes is gone.
pub fn renewal_drops_attributes_it_cannot_list(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "rt2-xattr")?;
    let dir = scratch.path().join(".openclaw");
    fs::create_dir(&dir)?;
    fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let config = dir.join("openclaw.json");
    fs::write(&config, b"{}\n")?;
    fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o444))?;
    let path = CString::new(config.as_os_str().as_bytes()).expect("no NUL");
    // SAFETY: NUL-terminated name and path, a readable value.
    let set = unsafe {
        libc::setxattr(
            path.as_ptr(),
            c("trusted.label").as_ptr(),
            b"v".as_ptr().cast(),
            1,
            0,
        )
    };
    ensure!(set == 0, "setxattr: {}", io::Error::last_os_error());
    let mut call =
        Call::new(&dir, &scratch.path().join("unused"), 0).with_strategy(Strategy::Immutable);
    call.flat = true;
    let out = run_as(Creds::RootWithout(&[CAP_SYS_ADMIN]), || {
        Face::Rust.call(Op::Freeze, &call)
    });
    let mut buf = [0u8; 8];
    // SAFETY: NUL-terminated name and path, a writable buffer.
    let kept = unsafe {
        libc::getxattr(
            path.as_ptr(),
            c("trusted.label").as_ptr(),
            buf.as_mut_ptr().cast(),
            8,
        )
    } == 1;
    let _ = Face::Rust.call(Op::Unfreeze, &call);
    ensure!(
        kept || out.status != Status::Ok,
        "the freeze answered {} and renewed openclaw.json without its trusted.* attribute",
        out.status.name()
    );
    Ok(())
}
