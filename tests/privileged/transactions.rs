//! Shields transitions as transactions (contract, version 0.3): a refused shields up fails
//! closed and says so, never widens access, never leaves the directory less pinned than it
//! found it; shields down hands back exactly the inodes shields up locked. Each attack is
//! mounted as the attacker would, on variant F, and judged by its effect: owners, modes,
//! inode numbers, flags read back, writes that fail. A config the sandbox user hard-linked
//! before `freeze --lock-posture` is not left writable by the refusal (a red-team finding,
//! kept as the attack).

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use super::engine::{ensure_clean, kernel_state};
use super::shields_profile::{sandbox_appends, sandbox_links};
use super::*;
use nc_harden_testkit::Flat;

/// The trials of this file, registered by main.rs: every case on ext4, XFS, btrfs and tmpfs
/// through every face, and a flat hard-linked config once.
pub fn trials() -> Vec<Trial> {
    let mut out = Vec::new();
    for kind in [FsKind::Ext4, FsKind::Xfs, FsKind::Btrfs, FsKind::Tmpfs] {
        for face in Face::ALL {
            for (name, test) in CASES {
                out.push(trial(
                    format!("transactions::{}::{}::{name}", kind.name(), face.name()),
                    kind,
                    move |a| test(a, face),
                ));
            }
        }
    }
    for face in Face::ALL {
        out.push(trial(
            format!(
                "transactions::ext4::{}::overlayfs_an_inode_number_reused_is_not_handed_back",
                face.name()
            ),
            FsKind::Ext4,
            move |a| an_inode_number_reused_on_overlayfs(a, face),
        ));
    }
    out.push(trial(
        "transactions::tmpfs::flat_hardlinked_config_stays_writable",
        FsKind::Tmpfs,
        flat_hardlinked_config_stays_writable,
    ));
    out
}

fn flat_call(f: &Flat) -> Call {
    super::shields::flat_call(f, Strategy::Auto)
}

fn shields_up(f: &Flat, reseal: bool) -> Call {
    let mut call = super::shields::shields_up(f, Strategy::Auto);
    call.reseal = reseal;
    call
}

use super::shields::shields_down;

/// (mode, uid, gid, inode) of a path, not followed.
fn stat(path: &Path) -> io::Result<(u32, u32, u32, u64)> {
    let m = fs::symlink_metadata(path)?;
    Ok((m.permissions().mode() & 0o7777, m.uid(), m.gid(), m.ino()))
}

/// The locked posture on the path, and the sandbox user's write attempts all failing: a new
/// name, a write to the config, a rename of the seal.
fn ensure_locked_against_the_sandbox(f: &Flat) -> TestResult {
    let (mode, uid, _, _) = stat(&f.dir)?;
    ensure!(
        (mode, uid) == (0o755, 0),
        "the directory is locked: {mode:o} {uid}"
    );
    for file in ["openclaw.json", ".config-hash"] {
        let (mode, uid, _, _) = stat(&f.dir.join(file))?;
        ensure!(
            (mode, uid) == (0o444, 0),
            "{file} is locked: {mode:o} {uid}"
        );
    }
    let dir = f.dir.clone();
    let tries = run_as(Creds::User(f.sandbox), move || {
        [
            fs::write(dir.join("planted"), b"x").is_ok(),
            fs::OpenOptions::new()
                .append(true)
                .open(dir.join("openclaw.json"))
                .is_ok(),
            fs::rename(dir.join(".config-hash"), dir.join("moved")).is_ok(),
        ]
    });
    ensure!(
        tries == [false; 3],
        "the sandbox user still writes (create, write, rename): {tries:?}"
    );
    Ok(())
}

/// Both config files in the mutable posture: the sandbox user's, 0660.
fn ensure_files_handed_back(f: &Flat) -> TestResult {
    for file in ["openclaw.json", ".config-hash"] {
        let (mode, uid, _, _) = stat(&f.dir.join(file))?;
        ensure!(
            (mode, uid) == (0o660, f.sandbox),
            "{file} is handed back: {mode:o} {uid}"
        );
    }
    Ok(())
}

fn ensure_fail_closed_report(out: &Outcome) -> TestResult {
    expect_status(out, Status::Invalid)?;
    let state = out.json["state"].as_str().unwrap_or_default();
    ensure!(
        state.starts_with("locked, not verified: "),
        "the state says locked, not verified: {}",
        out.json
    );
    ensure!(
        out.summary.contains("locked, not verified")
            && out.summary.contains("--reseal")
            && !out.summary.contains("nothing left changed"),
        "the summary says what was left and the next step: {}",
        out.summary
    );
    Ok(())
}

/// A FIFO the sandbox user planted in the mutable directory does not veto shields up: the
/// posture is locked all the same (fail-closed), nothing is sealed or pinned, the FIFO is
/// left as it is, and the answer says so; shields down then hands back.
pub fn a_planted_fifo_does_not_veto_shields_up(area: &Path, face: Face) -> TestResult {
    let scratch = Scratch::new_in(area, "fifo")?;
    let f = Flat::build(scratch.path())?;
    let fifo = f.dir.join("pipe");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("no NUL");
    // SAFETY: a plain mkfifo on a path of the scratch directory.
    ensure!(unsafe { libc::mkfifo(c.as_ptr(), 0o660) } == 0, "mkfifo");
    std::os::unix::fs::chown(&fifo, Some(f.sandbox), Some(f.sandbox))?;
    let seal_before = fs::read(f.dir.join(".config-hash"))?;
    let out = face.call(Op::Freeze, &shields_up(&f, true));
    ensure_fail_closed_report(&out)?;
    ensure!(
        out.record("pipe").reason == Reason::UnexpectedFifo,
        "{:?}",
        out.record("pipe")
    );
    ensure_locked_against_the_sandbox(&f)?;
    ensure!(
        fs::read(f.dir.join(".config-hash"))? == seal_before,
        "a refused shields up writes no seal"
    );
    ensure!(
        fs::symlink_metadata(&fifo)?.file_type().is_fifo_like(),
        "the FIFO is left as it is"
    );
    ensure_clean(&f.dir)?;
    // Fixed (the FIFO taken away) and repeated: pinned; shields down then hands back the
    // files the refused call locked, on the fresh inodes the repeat gave them.
    fs::remove_file(&fifo)?;
    expect_status(&face.call(Op::Freeze, &shields_up(&f, true)), Status::Ok)?;
    expect_status(&face.call(Op::Unfreeze, &shields_down(&f)), Status::Ok)?;
    let (mode, uid, _, _) = stat(&f.dir)?;
    ensure!(
        (mode, uid) == (0o2770, f.sandbox),
        "handed back: {mode:o} {uid}"
    );
    ensure_files_handed_back(&f)?;
    ensure_clean(&f.dir)
}

trait FifoLike {
    fn is_fifo_like(&self) -> bool;
}

impl FifoLike for fs::FileType {
    fn is_fifo_like(&self) -> bool {
        use std::os::unix::fs::FileTypeExt;
        self.is_fifo()
    }
}

/// The config edited while the shields were down, shields up without `--reseal`: the
/// directory is locked, not pinned, and the answer says exactly that, with the next step.
pub fn an_edited_config_is_locked_not_verified(area: &Path, face: Face) -> TestResult {
    let scratch = Scratch::new_in(area, "edited")?;
    let f = Flat::build(scratch.path())?;
    fs::write(f.dir.join("openclaw.json"), b"{\"edited\":true}\n")?;
    let out = face.call(Op::Freeze, &shields_up(&f, false));
    ensure_fail_closed_report(&out)?;
    ensure!(
        out.record("openclaw.json").reason == Reason::SealMismatch,
        "{:?}",
        out.record("openclaw.json")
    );
    ensure_locked_against_the_sandbox(&f)?;
    ensure_clean(&f.dir)?;
    // The next step the answer gives: --reseal accepts the current bytes and pins.
    let out = face.call(Op::Freeze, &shields_up(&f, true));
    expect_status(&out, Status::Ok)?;
    ensure!(kernel_state(&f.dir)?.any_flag(), "pinned after --reseal");
    expect_status(&face.call(Op::Unfreeze, &shields_down(&f)), Status::Ok)?;
    ensure_clean(&f.dir)
}

/// A directory pinned by an earlier freeze, whose seal cannot be written (it names a file
/// that is not there): the refused shields up puts back every flag it took off.
pub fn a_refusal_puts_back_the_pins_it_found(area: &Path, face: Face) -> TestResult {
    let scratch = Scratch::new_in(area, "repin")?;
    let f = Flat::build(scratch.path())?;
    fs::write(
        f.dir.join(".config-hash"),
        format!("{}  absent.json\n", "0".repeat(64)),
    )?;
    std::os::unix::fs::chown(&f.dir, Some(0), Some(0))?;
    fs::set_permissions(&f.dir, fs::Permissions::from_mode(0o755))?;
    for file in ["openclaw.json", ".config-hash"] {
        std::os::unix::fs::chown(f.dir.join(file), Some(0), Some(0))?;
        fs::set_permissions(f.dir.join(file), fs::Permissions::from_mode(0o444))?;
    }
    let mut plain = flat_call(&f);
    plain.seal = None;
    plain = plain.with_strategy(Strategy::Immutable);
    expect_status(&face.call(Op::Freeze, &plain), Status::Ok)?;
    let pinned = kernel_state(&f.dir)?;
    ensure!(
        pinned.flags.iter().all(|(_, on)| *on),
        "pinned first: {pinned:?}"
    );
    let out = face.call(Op::Freeze, &shields_up(&f, true));
    ensure_fail_closed_report(&out)?;
    let after = kernel_state(&f.dir)?;
    ensure!(
        after.flags.iter().all(|(_, on)| *on),
        "every flag found is put back: {after:?}"
    );
    ensure!(
        out.summary.contains("put back"),
        "and the answer says so: {}",
        out.summary
    );
    expect_status(&face.call(Op::Unfreeze, &plain), Status::Ok)?;
    ensure_clean(&f.dir)
}

/// A root-only file moved into the mutable directory: shields up does not make it 0444
/// (readable by the sandbox user); it is refused, left as it is, and the rest is locked.
pub fn a_root_only_file_is_never_made_readable(area: &Path, face: Face) -> TestResult {
    let scratch = Scratch::new_in(area, "rootonly")?;
    let f = Flat::build(scratch.path())?;
    let outside = scratch.path().join("secret");
    fs::write(&outside, b"root's secret\n")?;
    fs::set_permissions(&outside, fs::Permissions::from_mode(0o600))?;
    fs::rename(&outside, f.dir.join("secret"))?;
    let before = stat(&f.dir.join("secret"))?;
    let out = face.call(Op::Freeze, &shields_up(&f, true));
    ensure_fail_closed_report(&out)?;
    ensure!(
        out.record("secret").reason == Reason::WouldWidenAccess,
        "{:?}",
        out.record("secret")
    );
    ensure!(
        stat(&f.dir.join("secret"))? == before,
        "the root-only file is left as it is: {before:?} -> {:?}",
        stat(&f.dir.join("secret"))?
    );
    let path = f.dir.join("secret");
    let read = run_as(Creds::User(f.sandbox), move || fs::read(path).is_ok());
    ensure!(!read, "the sandbox user cannot read the root-only file");
    ensure_locked_against_the_sandbox(&f)?;
    ensure_clean(&f.dir)
}

/// Shields down hands back exactly what shields up locked: a hard link to a root file and a
/// root-only file moved into the directory (by root without capabilities, DAC bypassed)
/// stay root's, the root file outside keeps its owner and mode, and the answer names them;
/// the config files shields up locked are handed back.
pub fn shields_down_hands_back_only_what_was_locked(area: &Path, face: Face) -> TestResult {
    let scratch = Scratch::new_in(area, "handback")?;
    let f = Flat::build(scratch.path())?;
    expect_status(&face.call(Op::Freeze, &shields_up(&f, true)), Status::Ok)?;
    // Between up and down nothing can be planted (pinned); the attack lands on a directory
    // handed back once already, the sandbox's mutable posture, where down runs again.
    expect_status(&face.call(Op::Unfreeze, &shields_down(&f)), Status::Ok)?;
    ensure_files_handed_back(&f)?;
    let root_file = scratch.path().join("root-file");
    fs::write(&root_file, b"root's\n")?;
    fs::set_permissions(&root_file, fs::Permissions::from_mode(0o600))?;
    let moved = scratch.path().join("moved");
    fs::write(&moved, b"moved in\n")?;
    fs::set_permissions(&moved, fs::Permissions::from_mode(0o600))?;
    let (dir, rf, mv) = (f.dir.clone(), root_file.clone(), moved.clone());
    let planted = run_as(
        Creds::RootWithout(&[CAP_LINUX_IMMUTABLE, CAP_SYS_ADMIN]),
        move || -> io::Result<()> {
            fs::hard_link(&rf, dir.join("link"))?;
            fs::rename(&mv, dir.join("moved"))
        },
    );
    ensure!(planted.is_ok(), "planting: {planted:?}");
    let out = face.call(Op::Unfreeze, &shields_down(&f));
    expect_status(&out, Status::Ok)?;
    for name in ["link", "moved"] {
        let (mode, uid, _, _) = stat(&f.dir.join(name))?;
        ensure!(
            (mode, uid) == (0o600, 0),
            "{name} is not handed to the sandbox user: {mode:o} {uid}"
        );
        ensure!(
            out.record(name).reason == Reason::NotLockedByShields,
            "{name} is reported: {:?}",
            out.record(name)
        );
    }
    let (mode, uid, _, _) = stat(&root_file)?;
    ensure!(
        (mode, uid) == (0o600, 0),
        "the root file outside is untouched: {mode:o} {uid}"
    );
    // The same from the locked posture: shields up (refused: the hard link), then down.
    let out = face.call(Op::Freeze, &shields_up(&f, true));
    expect_status(&out, Status::Invalid)?;
    let out = face.call(Op::Unfreeze, &shields_down(&f));
    expect_status(&out, Status::Ok)?;
    for name in ["link", "moved"] {
        let (mode, uid, _, _) = stat(&f.dir.join(name))?;
        ensure!(
            (mode, uid) == (0o600, 0),
            "{name} after a fail-closed up and down: {mode:o} {uid}"
        );
    }
    ensure_files_handed_back(&f)?;
    ensure_clean(&f.dir)
}

/// The flat directory's locked set where the filesystem keeps no inode generation: overlayfs
/// (FS_IOC_GETVERSION answers ENOTTY) over ext4, which gives a freed inode number to the next
/// file at once. Shields up as Docker's default capabilities allow (no flag, no mount: the
/// posture only), so root can replace a file; the gateway's root-only replacement of
/// `openclaw.json` (root's, 0444, the locked posture, the number the locked one had) is told
/// from the locked one by its birth time, and shields down leaves it root's; the seal, which
/// shields up locked, is handed back.
fn an_inode_number_reused_on_overlayfs(area: &Path, face: Face) -> TestResult {
    use std::os::fd::AsRawFd;
    // An ext4 image of the test's own under the overlay (the scratch unmounts both when
    // dropped): the area's is shared by trials running at once, which take freed numbers.
    let mut scratch = Scratch::new_in(area, "overlay-reuse")?;
    let merged = scratch.area(FsKind::Overlay)?;
    const DOCKER: Creds = Creds::RootWithout(&[CAP_LINUX_IMMUTABLE, CAP_SYS_ADMIN]);
    let result = (|| -> TestResult {
        let f = Flat::build(&merged)?;
        let config = f.dir.join("openclaw.json");
        let file = fs::File::open(&config)?;
        let mut generation: libc::c_long = 0;
        // SAFETY: FS_IOC_GETVERSION writes one long into `generation`.
        let got = unsafe { libc::ioctl(file.as_raw_fd(), 0x8008_7601, &mut generation) };
        ensure!(
            got != 0,
            "overlayfs gave an inode generation: this test needs a filesystem without one"
        );
        drop(file);
        let up = run_as(DOCKER, || face.call(Op::Freeze, &shields_up(&f, true)));
        expect_status(&up, Status::NoCapability)?;
        ensure_locked_against_the_sandbox(&f)?;
        let locked = fs::symlink_metadata(&config)?;
        let born = |m: &fs::Metadata| m.created().ok();
        // The gateway (root) writes configs of its own, root's and 0444, until one is given
        // the freed number (ext4 takes the lowest free one of the group, and the renewals of
        // shields up freed some below it); that one becomes `openclaw.json`. Within the birth
        // time's tick no record could tell the two (docs/profiles.md, the limit of the birth
        // time): a tick is let pass first.
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::remove_file(&config)?;
        let mut made = Vec::new();
        let mut reused = None;
        for i in 0..256 {
            let name = f.dir.join(format!("gateway-{i}.json"));
            fs::write(&name, b"{\"root's own\":1}\n")?;
            fs::set_permissions(&name, fs::Permissions::from_mode(0o444))?;
            let now = fs::symlink_metadata(&name)?;
            if now.ino() == locked.ino() {
                ensure!(
                    born(&now) != born(&locked),
                    "the same birth time after a tick: {:?}",
                    born(&now)
                );
                reused = Some(name);
                break;
            }
            made.push((name, now.ino()));
        }
        let Some(reused) = reused else {
            return Err(format!(
                "ext4 under overlayfs never gave {} again: {made:?}",
                locked.ino()
            )
            .into());
        };
        fs::rename(&reused, &config)?;
        for (name, _) in &made {
            fs::remove_file(name)?;
        }
        let down = run_as(DOCKER, || face.call(Op::Unfreeze, &shields_down(&f)));
        expect_status(&down, Status::Ok)?;
        let (mode, uid, gid, _) = stat(&config)?;
        ensure!(
            (mode, uid, gid) == (0o444, 0, 0),
            "the gateway's file with the locked one's number was handed back: {mode:o} {uid}:{gid}"
        );
        ensure!(
            down.record("openclaw.json").reason == Reason::NotLockedByShields,
            "{:?}",
            down.record("openclaw.json")
        );
        let (mode, uid, _, _) = stat(&f.dir.join(".config-hash"))?;
        ensure!(
            (mode, uid) == (0o660, f.sandbox),
            "the seal shields up locked is not handed back: {mode:o} {uid}"
        );
        let path = config.clone();
        let wrote = run_as(Creds::User(f.sandbox), move || {
            fs::OpenOptions::new().append(true).open(path).is_ok()
        });
        ensure!(!wrote, "the sandbox user can write the gateway's file");
        Ok(())
    })();
    drop(scratch);
    result
}

/// Every test of this module, for each filesystem and face.
/// A test of this module: run on one filesystem area, through one face.
pub type Case = fn(&Path, Face) -> TestResult;

pub const CASES: [(&str, Case); 5] = [
    (
        "a_planted_fifo_does_not_veto_shields_up",
        a_planted_fifo_does_not_veto_shields_up,
    ),
    (
        "an_edited_config_is_locked_not_verified",
        an_edited_config_is_locked_not_verified,
    ),
    (
        "a_refusal_puts_back_the_pins_it_found",
        a_refusal_puts_back_the_pins_it_found,
    ),
    (
        "a_root_only_file_is_never_made_readable",
        a_root_only_file_is_never_made_readable,
    ),
    (
        "shields_down_hands_back_only_what_was_locked",
        shields_down_hands_back_only_what_was_locked,
    ),
];

/// `freeze --lock-posture --reseal --seal .config-hash` over a flat directory.
fn flat_shields_up(f: &Flat) -> Call {
    let mut call = Call::new(&f.dir, &f.root.join("unused"), 0).with_strategy(Strategy::Auto);
    call.flat = true;
    call.seal = Some(".config-hash".into());
    call.lock_posture = true;
    call.reseal = true;
    call
}

/// Finding 3 (variant F). `freeze --lock-posture --reseal --seal .config-hash` over the flat
/// mutable posture in which uid 998 has hard-linked `openclaw.json` to a second name in the
/// directory: NC_INVALID, "the locked posture stays (fail-closed: the sandbox user has lost
/// write access)", and `openclaw.json` is left the sandbox user's, 0660, writable.
pub fn flat_hardlinked_config_stays_writable(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "rt3-flat-link")?;
    let f = Flat::build(scratch.path())?;
    let config = f.dir.join("openclaw.json");
    sandbox_links(&config, &f.dir.join("openclaw.json.bak"))?;
    let call = flat_shields_up(&f);
    let out = Face::Rust.call(Op::Freeze, &call);
    let writes = sandbox_appends(&config);
    let _ = Face::Rust.call(Op::Unfreeze, &call);
    super::ensure!(
        out.status != Status::Ok,
        "shields up answered NC_OK over a hard-linked config"
    );
    super::ensure!(
        !writes,
        "freeze --lock-posture answered {} ({}), yet uid 998 still writes openclaw.json: \
         the refusal did not fail closed",
        out.status.name(),
        out.summary
    );
    Ok(())
}
