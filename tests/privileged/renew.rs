//! Fresh inodes and bounded resources (contract, version 0.3): digests stream in bounded
//! memory (a 1 GiB sparse file sealed under an address-space limit, its peak RSS measured),
//! copies keep holes, the fresh tmpfs of the mount layer is sized from what it holds, a
//! renewal carries `security.capability` (which chown drops) and the inode flags, a writer
//! that a lease cannot see loses its hold, a file merely named like a temporary is never
//! removed, and a renewal that cannot list an attribute (trusted.* without CAP_SYS_ADMIN)
//! does not answer NC_OK as if it had carried it.

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use super::*;
use common::native::cli_binary;
use nc_harden_testkit::Flat;

/// Docker's default capability set plus CAP_LINUX_IMMUTABLE, as the capabilities to drop
/// from full root: no CAP_LEASE (28), no CAP_SYS_ADMIN, no CAP_DAC_READ_SEARCH.
const DOCKER_DROPS: &[u32] = &[
    2, 11, 12, 14, 15, 16, 17, 19, 20, 21, 22, 23, 24, 25, 26, 28, 30, 32, 33, 34, 35, 36, 37, 38,
    39, 40,
];

const MIB: u64 = 1 << 20;

fn c(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).expect("no NUL")
}

/// A sparse file of `size` bytes with `data` (offset, length) runs of non-zero bytes.
fn sparse(path: &Path, size: u64, data: &[(u64, u64)], mode: u32) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let file = fs::File::create(path)?;
    file.set_len(size)?;
    for &(offset, len) in data {
        let chunk: Vec<u8> = (0..len).map(|i| (i % 251) as u8 + 1).collect();
        file.write_all_at(&chunk, offset)?;
    }
    file.sync_all()?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

/// `sha256sum`'s digest of a file (hashed outside nc-harden).
fn sha256sum(path: &Path) -> Result<String, Failed> {
    let out = Command::new("sha256sum").arg(path).output()?;
    ensure!(out.status.success(), "sha256sum {}", path.display());
    Ok(String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string())
}

/// The address space the CLI runs in: its peak RSS cannot exceed it. (The rusage of a child
/// says less: its `ru_maxrss` counts the peak of the process it was forked from, the test
/// harness, before its exec.)
const ADDRESS_SPACE: u64 = 16 * MIB;

/// Item 1: `freeze --lock-posture --reseal --seal` of a flat directory holding a 1 GiB
/// sparse file, then `verify --seal`, each under `prlimit --as=16MiB` (its whole address
/// space, so its peak RSS is under 16 MiB), each NC_OK; the seal written holds the file's
/// real digest, and the renewed file its holes.
pub fn gib_sealed_in_bounded_memory(area: &Path) -> TestResult {
    let exe = cli_binary()?;
    let scratch = Scratch::new_in(area, "renew-gib")?;
    let f = Flat::build(scratch.path())?;
    let big = f.dir.join("big.bin");
    sparse(&big, 1 << 30, &[(0, 4096), (512 * MIB, 64 * 1024)], 0o660)?;
    std::os::unix::fs::chown(&big, Some(f.sandbox), Some(f.sandbox))?;
    // No seal yet: the one written names every regular file, the big one too.
    fs::remove_file(f.dir.join(".config-hash"))?;
    let expected = sha256sum(&big)?;
    let dir = f.dir.as_os_str();
    let runs: [(&str, Vec<&std::ffi::OsStr>); 2] = [
        (
            "freeze",
            vec![
                "freeze".as_ref(),
                "--lock-posture".as_ref(),
                "--reseal".as_ref(),
                "--seal".as_ref(),
                ".config-hash".as_ref(),
                "--dir".as_ref(),
                dir,
            ],
        ),
        (
            "verify",
            vec![
                "verify".as_ref(),
                "--seal".as_ref(),
                ".config-hash".as_ref(),
                "--dir".as_ref(),
                dir,
            ],
        ),
    ];
    let result = (|| -> TestResult {
        for (what, args) in runs {
            let start = std::time::Instant::now();
            let out = Command::new("prlimit")
                .arg(format!("--as={ADDRESS_SPACE}"))
                .arg("--")
                .arg(&exe)
                .args(&args)
                .output()?;
            let printed = String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr);
            eprintln!(
                "renew: {what} of a 1 GiB sparse file in {} MiB of address space: {:?} in {:?}",
                ADDRESS_SPACE / MIB,
                out.status.code(),
                start.elapsed()
            );
            ensure!(
                out.status.code() == Some(0),
                "{what} under prlimit --as={ADDRESS_SPACE} exited {:?}: {printed}",
                out.status
            );
        }
        let seal = fs::read_to_string(f.dir.join(".config-hash"))?;
        ensure!(
            seal.lines().any(|l| l == format!("{expected}  big.bin")),
            "the seal does not hold the big file's digest {expected}: {seal}"
        );
        // The renewal of the posture kept the holes.
        let blocks = fs::metadata(&big)?.blocks() * 512;
        ensure!(
            blocks <= 8 * MIB,
            "the renewed 1 GiB file takes {blocks} bytes on disk"
        );
        ensure!(
            sha256sum(&big)? == expected,
            "the renewal changed the bytes"
        );
        Ok(())
    })();
    let _ = Command::new(&exe)
        .args(["unfreeze", "--dir"])
        .arg(&f.dir)
        .output();
    result
}

/// A root-owned flat directory (0755) with `files` (name, size, data runs), 0444.
/// A file to make: name, size, runs of data (offset, length).
type Spec<'a> = (&'a str, u64, &'a [(u64, u64)]);

fn statvfs(path: &Path) -> io::Result<libc::statvfs> {
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: a NUL-terminated path and a struct for the kernel to fill.
    if unsafe { libc::statvfs(c(path).as_ptr(), st.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: filled by the successful call.
    Ok(unsafe { st.assume_init() })
}

fn root_flat(root: &Path, files: &[Spec<'_>]) -> io::Result<PathBuf> {
    let dir = root.join(".openclaw");
    fs::create_dir(&dir)?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
    for (name, size, data) in files {
        sparse(&dir.join(name), *size, data, 0o444)?;
    }
    Ok(dir)
}

fn flat_call(dir: &Path, owner: u32, strategy: Strategy) -> Call {
    let mut call = Call::new(dir, &dir.join("unused"), owner).with_strategy(strategy);
    call.flat = true;
    call
}

/// Item 2: a 64 MiB file with 1 MiB of data, held open for writing (so that it is renewed
/// whatever decides), keeps its holes and its bytes on a fresh inode in place (the flag
/// layer) and in the fresh directory of the mount layer.
pub fn sparse_copies_keep_holes(area: &Path) -> TestResult {
    for strategy in [Strategy::Immutable, Strategy::Mount] {
        let scratch = Scratch::new_in(area, "renew-holes")?;
        let dir = root_flat(
            scratch.path(),
            &[("state.bin", 64 * MIB, &[(32 * MIB, MIB)])],
        )?;
        let file = dir.join("state.bin");
        let before = (fs::metadata(&file)?, sha256sum(&file)?);
        let writer = fs::OpenOptions::new().write(true).open(&file)?;
        let call = flat_call(&dir, 0, strategy);
        let out = Face::Rust.call(Op::Freeze, &call);
        drop(writer);
        let result = (|| -> TestResult {
            expect_status(&out, Status::Ok)?;
            let now = fs::metadata(&file)?;
            let on_disk = now.blocks() * 512;
            eprintln!(
                "renew: {} of a 64 MiB file with 1 MiB of data: {} bytes on disk before, {on_disk} after",
                strategy.name(),
                before.0.blocks() * 512
            );
            ensure!(
                (now.dev(), now.ino()) != (before.0.dev(), before.0.ino()),
                "{}: not on a fresh inode",
                strategy.name()
            );
            ensure!(now.len() == 64 * MIB, "the size changed: {}", now.len());
            ensure!(
                on_disk <= 2 * MIB,
                "{}: the copy takes {on_disk} bytes: holes were written",
                strategy.name()
            );
            ensure!(
                sha256sum(&file)? == before.1,
                "{}: other bytes",
                strategy.name()
            );
            Ok(())
        })();
        let _ = Face::Rust.call(Op::Unfreeze, &call);
        result?;
    }
    Ok(())
}

/// Item 3: the fresh tmpfs of the mount layer carries `size=` and `nr_inodes=` from what it
/// holds (statfs of the path once it is mounted), and the freeze over it holds.
pub fn fresh_tmpfs_is_sized(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "renew-sized")?;
    let sizes = [3 * MIB, 100_000, 10, 0];
    let names = ["a.bin", "b.bin", "c.json", "d"];
    let files: Vec<Spec<'_>> = names
        .iter()
        .zip(sizes)
        .map(|(n, s)| (*n, s, &[][..]))
        .collect();
    let dir = root_flat(scratch.path(), &files)?;
    let call = flat_call(&dir, 0, Strategy::Mount);
    let out = Face::Rust.call(Op::Freeze, &call);
    let result = (|| -> TestResult {
        expect_status(&out, Status::Ok)?;
        ensure!(out.mount_layer, "the mount layer did not pin");
        let st = statvfs(&dir)?;
        let bytes = st.f_blocks * st.f_frsize;
        let held: u64 = sizes.iter().map(|s| s.div_ceil(4096) * 4096).sum();
        eprintln!(
            "renew: fresh tmpfs of {held} bytes in {} files: size {bytes}, {} inodes",
            sizes.len(),
            st.f_files
        );
        ensure!(
            bytes >= held && bytes <= held + 2 * MIB,
            "size {bytes} for {held} bytes held"
        );
        ensure!(
            st.f_files > sizes.len() as u64 && st.f_files <= sizes.len() as u64 + 32,
            "{} inodes for {} entries",
            st.f_files,
            sizes.len()
        );
        // Pinned all the same: no write reaches it.
        ensure!(
            fs::write(dir.join("new"), b"x").is_err(),
            "a new file was made in the pinned directory"
        );
        Ok(())
    })();
    let _ = Face::Rust.call(Op::Unfreeze, &call);
    result
}

const VFS_CAP: [u8; 20] = [
    0x01, 0x00, 0x00, 0x02, // VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE
    0x00, 0x04, 0x00, 0x00, // permitted: CAP_NET_BIND_SERVICE
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];

fn get_xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    let name = CString::new(name).expect("no NUL");
    // SAFETY: NUL-terminated path and name, a writable buffer.
    let n = unsafe {
        libc::getxattr(
            c(path).as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (n >= 0).then(|| buf[..n as usize].to_vec())
}

fn set_xattr(path: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    let name = CString::new(name).expect("no NUL");
    // SAFETY: NUL-terminated path and name, a readable value.
    let r = unsafe {
        libc::setxattr(
            c(path).as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

const FS_NODUMP_FL: i32 = 0x40;
const FS_NOATIME_FL: i32 = 0x80;

fn inode_flags(path: &Path) -> io::Result<i32> {
    let file = fs::File::open(path)?;
    let mut flags: libc::c_long = 0;
    // SAFETY: the kernel writes an int into `flags`.
    if unsafe { libc::ioctl(file.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(flags as i32)
}

fn set_inode_flags(path: &Path, add: i32) -> io::Result<()> {
    let file = fs::File::open(path)?;
    let flags: libc::c_long = (inode_flags(path)? | add) as libc::c_long;
    // SAFETY: the kernel reads an int from `flags`.
    if unsafe { libc::ioctl(file.as_raw_fd(), libc::FS_IOC_SETFLAGS, &flags) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Item 4: a renewal carries `security.capability` (set after the owner change, which
/// drops it), a user.* attribute, and the no-dump and no-atime flags.
pub fn renewal_carries_capability_and_flags(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "renew-carry")?;
    let dir = root_flat(scratch.path(), &[("tool", 4096, &[(0, 4096)])])?;
    let file = dir.join("tool");
    set_xattr(&file, "security.capability", &VFS_CAP)?;
    set_xattr(&file, "user.origin", b"image")?;
    let flagged = set_inode_flags(&file, FS_NODUMP_FL | FS_NOATIME_FL).is_ok();
    let before = fs::metadata(&file)?;
    let flags_before = inode_flags(&file).unwrap_or(0);
    let writer = fs::OpenOptions::new().write(true).open(&file)?;
    let call = flat_call(&dir, 0, Strategy::Immutable);
    let out = Face::Rust.call(Op::Freeze, &call);
    drop(writer);
    let result = (|| -> TestResult {
        expect_status(&out, Status::Ok)?;
        let now = fs::metadata(&file)?;
        ensure!(now.ino() != before.ino(), "not renewed");
        ensure!(
            out.json.to_string().contains("\"renewed\":true"),
            "the report does not say renewed: {}",
            out.json
        );
        ensure!(
            get_xattr(&file, "security.capability").as_deref() == Some(&VFS_CAP[..]),
            "security.capability lost: {:?}",
            get_xattr(&file, "security.capability")
        );
        ensure!(
            get_xattr(&file, "user.origin").as_deref() == Some(&b"image"[..]),
            "user.origin lost"
        );
        if flagged {
            let flags = inode_flags(&file)?;
            ensure!(
                flags & (FS_NODUMP_FL | FS_NOATIME_FL)
                    == flags_before & (FS_NODUMP_FL | FS_NOATIME_FL),
                "inode flags {flags:#x}, before {flags_before:#x}"
            );
        }
        ensure!(
            (now.uid(), now.mode() & 0o7777) == (0, 0o444),
            "owner or mode changed"
        );
        Ok(())
    })();
    let _ = Face::Rust.call(Op::Unfreeze, &call);
    result
}

/// Item 5: a file root does not own (the policy's owner is uid 4242), frozen by root with
/// Docker's default capabilities plus CAP_LINUX_IMMUTABLE (no CAP_LEASE: the lease cannot
/// tell), while a descriptor opened for writing before the call is held: after NC_OK the
/// file is on a fresh inode and the writer's bytes never reach the path. The report says
/// what the renewal could not carry (trusted.*, which only CAP_SYS_ADMIN lists).
pub fn writer_unseen_by_the_lease_loses_its_hold(area: &Path) -> TestResult {
    const OWNER: u32 = 4242;
    let scratch = Scratch::new_in(area, "renew-lease")?;
    let dir = root_flat(scratch.path(), &[("openclaw.json", 4096, &[(0, 4096)])])?;
    let file = dir.join("openclaw.json");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644))?;
    for p in [&dir, &file] {
        std::os::unix::fs::chown(p, Some(OWNER), Some(OWNER))?;
    }
    let before = (fs::metadata(&file)?.ino(), fs::read(&file)?);
    let writer = fs::OpenOptions::new().write(true).open(&file)?;
    let call = flat_call(&dir, OWNER, Strategy::Immutable);
    let out = run_as(Creds::RootWithout(DOCKER_DROPS), || {
        Face::Rust.call(Op::Freeze, &call)
    });
    let result = (|| -> TestResult {
        expect_status(&out, Status::Ok)?;
        use std::os::unix::fs::FileExt;
        // Through the held descriptor (tmpfs, XFS and btrfs let it write; ext4 refuses).
        let _ = writer.write_all_at(b"EVIL", 0);
        ensure!(
            fs::read(&file)? == before.1,
            "the writer held from before reached the path's bytes"
        );
        ensure!(
            fs::metadata(&file)?.ino() != before.0,
            "not renewed: the lease could not tell and the inode stayed"
        );
        ensure!(
            out.summary.contains("trusted.*") || out.json.to_string().contains("trusted.*"),
            "the report does not say what the renewal could not carry: {}",
            out.summary
        );
        Ok(())
    })();
    drop(writer);
    let _ = Face::Rust.call(Op::Unfreeze, &call);
    result
}

/// Item 6: files merely named like nc-harden's temporaries (the sandbox user's, one with a
/// tag-shaped name) survive shields up and a freeze; none is removed.
pub fn files_named_like_temporaries_survive(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "renew-leftover")?;
    let f = Flat::build(scratch.path())?;
    let planted = [
        ".nc-harden-new.x".to_string(),
        format!(".nc-harden-new.{}", "0123456789abcdef".repeat(2)),
        ".nc-harden-new.seal.1".to_string(),
    ];
    for name in &planted {
        let path = f.dir.join(name);
        fs::write(&path, name.as_bytes())?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o660))?;
        std::os::unix::fs::chown(&path, Some(f.sandbox), Some(f.sandbox))?;
    }
    let mut call = flat_call(&f.dir, 0, Strategy::Auto);
    call.seal = Some(".config-hash".into());
    call.lock_posture = true;
    call.reseal = true;
    let out = Face::Rust.call(Op::Freeze, &call);
    let result = (|| -> TestResult {
        expect_status(&out, Status::Ok)?;
        for name in &planted {
            ensure!(
                fs::read(f.dir.join(name)).ok().as_deref() == Some(name.as_bytes()),
                "{name} was removed or changed by shields up"
            );
        }
        Ok(())
    })();
    let _ = Face::Rust.call(Op::Unfreeze, &call);
    result?;
    let again = Face::Rust.call(Op::Freeze, &flat_call(&f.dir, 0, Strategy::Auto));
    let _ = Face::Rust.call(Op::Unfreeze, &call);
    expect_status(&again, Status::Ok)?;
    for name in &planted {
        ensure!(
            f.dir.join(name).exists(),
            "{name} was removed by a second freeze"
        );
    }
    Ok(())
}

/// A renewal killed between creating its temporary and renaming it leaves the temporary and
/// its record: the next freeze of the symlink layout removes exactly that file, and pins the
/// directory without it. (The records of the mount layer are listed first in a freeze; a
/// listing that shared the state directory's offset with them found no leftover record, and
/// the temporary was pinned as one of the directory's files.)
pub fn a_killed_renewal_s_temporary_goes_with_the_next_freeze(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "renew-killed")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let state = scratch.path().join("state");
    fs::create_dir(&state)?;
    fs::set_permissions(&state, fs::Permissions::from_mode(0o700))?;
    // As `pin::leftovers::Temp::create` leaves it: the tagged name in the directory, and the
    // record `<dev>-<ino>.<tag>.new` of the directory, holding the temporary's inode.
    let tag = "0123456789abcdef".repeat(2);
    let temp = l.dir.join(format!(".nc-harden-new.{tag}"));
    fs::write(&temp, b"half a renewal\n")?;
    fs::set_permissions(&temp, fs::Permissions::from_mode(0o444))?;
    let dir_meta = fs::metadata(&l.dir)?;
    let temp_meta = fs::metadata(&temp)?;
    let record = state.join(format!(
        "{:x}-{:x}.{tag}.new",
        dir_meta.dev(),
        dir_meta.ino()
    ));
    fs::write(
        &record,
        format!("{} {}\n", temp_meta.dev(), temp_meta.ino()),
    )?;
    fs::set_permissions(&record, fs::Permissions::from_mode(0o600))?;
    let call = Call::new(&l.dir, &l.data, l.owner).with_state_dir(&state);
    let out = Face::Rust.call(Op::Freeze, &call);
    let result = (|| -> TestResult {
        expect_status(&out, Status::Ok)?;
        ensure!(
            !temp.exists(),
            "the killed renewal's temporary is still there: {}",
            out.summary
        );
        ensure!(!record.exists(), "its record is still there");
        ensure!(
            !out.records
                .iter()
                .any(|r| r.name.starts_with(b".nc-harden-new.")),
            "the temporary was judged as an entry: {:?}",
            out.records
        );
        Ok(())
    })();
    expect_status(&Face::Rust.call(Op::Unfreeze, &call), Status::Ok)?;
    result
}

type AreaTest = fn(&Path) -> TestResult;

/// The trials, each on the filesystems it is about.
pub fn trials() -> Vec<Trial> {
    let every = [FsKind::Ext4, FsKind::Tmpfs, FsKind::Xfs, FsKind::Btrfs];
    let cases: [(&str, &[FsKind], AreaTest); 8] = [
        (
            "gib_sparse_sealed_in_bounded_memory",
            &[FsKind::Ext4, FsKind::Tmpfs],
            gib_sealed_in_bounded_memory,
        ),
        ("sparse_copies_keep_holes", &every, sparse_copies_keep_holes),
        (
            "fresh_tmpfs_is_sized",
            &[FsKind::Ext4],
            fresh_tmpfs_is_sized,
        ),
        (
            "renewal_carries_capability_and_flags",
            &every,
            renewal_carries_capability_and_flags,
        ),
        (
            "writer_unseen_by_the_lease_loses_its_hold",
            &every,
            writer_unseen_by_the_lease_loses_its_hold,
        ),
        (
            "files_named_like_temporaries_survive",
            &[FsKind::Ext4, FsKind::Tmpfs],
            files_named_like_temporaries_survive,
        ),
        (
            "a_killed_renewal_s_temporary_goes_with_the_next_freeze",
            &[FsKind::Ext4, FsKind::Tmpfs],
            a_killed_renewal_s_temporary_goes_with_the_next_freeze,
        ),
        (
            "renewal_drops_attributes_it_cannot_list",
            &[FsKind::Tmpfs],
            renewal_drops_attributes_it_cannot_list,
        ),
    ];
    let mut out = Vec::new();
    for (name, kinds, test) in cases {
        for kind in kinds {
            out.push(trial(
                format!("renew::{}::{name}", kind.name()),
                *kind,
                test,
            ));
        }
    }
    out
}

fn cname(name: &str) -> CString {
    CString::new(name).expect("no NUL")
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
            cname("trusted.label").as_ptr(),
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
            cname("trusted.label").as_ptr(),
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
