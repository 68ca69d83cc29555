//! The fallbacks taken for real: a seccomp filter on the calling thread makes the newer
//! syscalls fail as an older kernel (ENOSYS) or a container's profile (EPERM) would, and the
//! engine must still give the right answer by its other road.

use super::engine::{ensure_clean, kernel_state};
use super::*;
use nc_harden::{Layer, Strategy};
use nc_harden_testkit::run_denying;

/// The trials of this file, registered by main.rs.
pub fn trials() -> Vec<Trial> {
    type AreaTest = fn(&Path) -> TestResult;
    let cases: [(&str, FsKind, AreaTest); 6] = [
        ("openat2_enosys_walks", FsKind::Disk, openat2_enosys),
        (
            "openat2_eagain_retries_then_walks",
            FsKind::Disk,
            openat2_eagain,
        ),
        (
            "statx_mnt_id_enosys_uses_procfs",
            FsKind::Ext4,
            statx_enosys,
        ),
        ("openat2_eperm_walks", FsKind::Disk, openat2_eperm),
        (
            "mount_api_enosys_uses_mount2",
            FsKind::Ext4,
            mount_api_enosys,
        ),
        (
            "xfs_file_setattr_enosys_pins_links_by_directory",
            FsKind::Xfs,
            file_setattr_enosys,
        ),
    ];
    cases
        .into_iter()
        .map(|(name, kind, test)| trial(format!("fallbacks::{name}"), kind, test))
        .collect()
}

const SYS_FILE_GETATTR: libc::c_long = 468;
const SYS_FILE_SETATTR: libc::c_long = 469;
const NO_CAPS: Creds = Creds::RootWithout(&[CAP_LINUX_IMMUTABLE, CAP_SYS_ADMIN]);

/// The filter is really in place: the syscall answers `errno` (with these bogus arguments
/// the kernel itself would answer EBADF or EFAULT).
fn ensure_denied(creds: Creds, denied: &[(libc::c_long, i32)]) -> TestResult {
    for &(nr, errno) in denied {
        let got = run_denying(creds, denied, || {
            // SAFETY: a syscall with bogus arguments that the filter answers before the kernel.
            let r = unsafe { libc::syscall(nr, -1, 0, 0, 0, 0) };
            if r == -1 {
                io::Error::last_os_error().raw_os_error()
            } else {
                None
            }
        });
        ensure!(
            got == Some(errno),
            "syscall {nr}: {got:?}, the filter does not hold"
        );
    }
    Ok(())
}

fn walk_instead_of_openat2(area: &Path, errno: i32) -> TestResult {
    let scratch = Scratch::new_in(area, "noopenat2")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let call = call_of(&l);
    let denied = [(libc::SYS_openat2, errno)];
    ensure_denied(Creds::Full, &denied)?;
    let run = |op, call: &Call| run_denying(Creds::Full, &denied, || Face::Rust.call(op, call));
    expect_status(&run(Op::Freeze, &call), Status::Ok)?;
    ensure!(immutable_flag(&l.dir)?, "not pinned");
    expect_status(&run(Op::Verify, &call), Status::Ok)?;
    expect_status(&run(Op::Unfreeze, &call), Status::Ok)?;
    ensure_clean(&l.dir)?;
    std::os::unix::fs::symlink(&l.dir, l.root.join("alias"))?;
    let through_link = Call::new(&l.root.join("alias"), &l.data, l.owner);
    let out = run(Op::Freeze, &through_link);
    expect_status(&out, Status::UnsafePath)?;
    ensure!(
        out.summary.contains("is a symlink"),
        "the walk names the link: {}",
        out.summary
    );
    expect_status(
        &run(Op::Verify, &Call::new(&l.root.join("absent"), &l.data, 0)),
        Status::NotFound,
    )?;
    ensure_clean(&l.dir)
}

/// openat2 missing (ENOSYS): the O_PATH walk resolves, with the same answers.
pub fn openat2_enosys(area: &Path) -> TestResult {
    walk_instead_of_openat2(area, libc::ENOSYS)
}

/// openat2 that keeps answering EAGAIN (a rename racing every lookup): after its bounded
/// retries the walk resolves instead.
pub fn openat2_eagain(area: &Path) -> TestResult {
    walk_instead_of_openat2(area, libc::EAGAIN)
}

/// openat2 filtered (EPERM, as seccomp profiles answer): the same.
pub fn openat2_eperm(area: &Path) -> TestResult {
    walk_instead_of_openat2(area, libc::EPERM)
}

/// The new mount API (and statx) missing, as before Linux 5.2, where CAP_LINUX_IMMUTABLE is
/// withheld: AUTO mounts with mount(2), and the result holds against every attack.
pub fn mount_api_enosys(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "nomountapi")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let call = call_of(&l);
    let denied = [
        (libc::SYS_open_tree, libc::ENOSYS),
        (libc::SYS_move_mount, libc::ENOSYS),
        (libc::SYS_mount_setattr, libc::ENOSYS),
        (libc::SYS_fsopen, libc::ENOSYS),
        (libc::SYS_fsconfig, libc::ENOSYS),
        (libc::SYS_fsmount, libc::ENOSYS),
        // And no statx either, as on the kernels that lack the new mount API.
        (libc::SYS_statx, libc::ENOSYS),
    ];
    let launcher = Creds::RootWithout(&[CAP_LINUX_IMMUTABLE]);
    ensure_denied(launcher, &denied)?;
    let out = run_denying(launcher, &denied, || Face::Rust.call(Op::Freeze, &call));
    expect_status(&out, Status::Ok)?;
    ensure!(
        out.mount_layer && out.attempt(Layer::Mount) == Some((Action::Frozen, 0)),
        "{}",
        out.summary
    );
    ensure!(
        kernel_state(&l.dir)?.mounts.last().is_some_and(|m| m.1),
        "no read-only mount"
    );
    for attack in ATTACKS {
        ensure!(
            run_as(NO_CAPS, || (attack.run)(&l)).is_err(),
            "{} went through",
            attack.name
        );
    }
    expect_status(
        &run_denying(launcher, &denied, || Face::Rust.call(Op::Verify, &call)),
        Status::Ok,
    )?;
    expect_status(
        &run_denying(launcher, &denied, || Face::Rust.call(Op::Unfreeze, &call)),
        Status::Ok,
    )?;
    ensure_clean(&l.dir)
}

/// file_getattr/file_setattr missing (a kernel before 6.17) on XFS: the links are pinned by
/// the directory, and nothing claims their own inodes.
pub fn file_setattr_enosys(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "nofileattr")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let call = call_of(&l).with_strategy(Strategy::Immutable);
    let denied = [
        (SYS_FILE_GETATTR, libc::ENOSYS),
        (SYS_FILE_SETATTR, libc::ENOSYS),
    ];
    ensure_denied(Creds::Full, &denied)?;
    let out = run_denying(Creds::Full, &denied, || Face::Rust.call(Op::Freeze, &call));
    expect_status(&out, Status::Ok)?;
    for name in l.entry_names()? {
        if l.dir.join(&name).is_symlink() {
            ensure!(
                out.record(&name).action == Action::PinnedByDirectory,
                "{name}: {:?}",
                out.record(&name)
            );
            ensure!(!immutable_flag(&l.dir.join(&name))?, "{name} flagged");
        }
    }
    ensure!(immutable_flag(&l.dir)?, "the directory pins them");
    expect_status(
        &run_denying(Creds::Full, &denied, || {
            Face::Rust.call(Op::Unfreeze, &call)
        }),
        Status::Ok,
    )?;
    ensure_clean(&l.dir)
}

/// statx without STATX_MNT_ID (before Linux 5.8; here: statx denied): the mount layer finds
/// mount ids in procfs instead, and pins, recognises and takes off its mount all the same.
pub fn statx_enosys(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "nostatx")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let call = call_of(&l).with_strategy(Strategy::Mount);
    let denied = [(libc::SYS_statx, libc::ENOSYS)];
    ensure_denied(Creds::Full, &denied)?;
    let run = |op| run_denying(Creds::Full, &denied, || Face::Rust.call(op, &call));
    let out = run(Op::Freeze);
    expect_status(&out, Status::Ok)?;
    ensure!(out.mount_layer, "{}", out.summary);
    ensure!(
        kernel_state(&l.dir)?.mounts.last().is_some_and(|m| m.1),
        "no read-only mount"
    );
    expect_status(&run(Op::Verify), Status::Ok)?;
    expect_status(&run(Op::Freeze), Status::Ok)?;
    ensure!(
        kernel_state(&l.dir)?.mounts.len() == 1,
        "a second freeze must recognise the mount"
    );
    expect_status(&run(Op::Unfreeze), Status::Ok)?;
    ensure_clean(&l.dir)
}
