//! The syscall budget, counted (strace -f -c), never timed: on the scaling layout, the
//! syscalls per extra entry of `nc-harden freeze` and `nc-harden verify`, amortised over
//! K extra links against the plain variant-B layout. Two kinds of calls grow slower than
//! the entries and are counted apart, held to their own much smaller budget: getdents64 (a
//! fixed 32 KiB buffer, one call per some 800 entries) and the heap's growth for the report
//! (brk, mmap, mremap, munmap: doubling, so logarithmic).

use super::*;
use common::native::cli_binary;

/// The trials of this file, registered by main.rs: freeze and verify on ext4, tmpfs and XFS
/// (where the links themselves take the flag).
pub fn trials() -> Vec<Trial> {
    let mut out = Vec::new();
    for kind in [FsKind::Ext4, FsKind::Tmpfs, FsKind::Xfs] {
        let freeze_test = if kind == FsKind::Xfs {
            freeze_flagging_links
        } else {
            freeze
        };
        out.push(trial(
            format!("budget::{}::freeze_syscalls_per_entry", kind.name()),
            kind,
            freeze_test,
        ));
        out.push(trial(
            format!("budget::{}::verify_syscalls_per_entry", kind.name()),
            kind,
            verify,
        ));
    }
    out
}

/// Extra links of the scaling layout.
const K: usize = 2000;

/// Syscalls that grow slower than the entries: the directory reads and the heap's growth.
const AMORTISED: [&str; 5] = ["getdents64", "brk", "mmap", "mremap", "munmap"];

/// Syscalls of one CLI run under strace: (all of them, those of AMORTISED). Counted from
/// the full trace, one line per call: `strace -c` leaves out calls it has no name for (the
/// file_getattr and file_setattr of Linux 6.17 in older straces).
fn count(
    exe: &Path,
    l: &Layout,
    op: &str,
    out_dir: &Path,
) -> Result<(u64, u64, std::collections::BTreeMap<String, u64>), Failed> {
    let trace = out_dir.join(format!("{op}-{}.strace", l.entry_names()?.len()));
    // In a mount namespace of its own (private): the other trials' mounts, made all the time
    // alongside, are no mount events of its namespace, which would have the call read its
    // links a second time (`Scan::links_still_hold`) and the count grow with them.
    let out = Command::new("unshare")
        .args([
            "-m",
            "--propagation",
            "private",
            "strace",
            "-f",
            "-qq",
            "-o",
        ])
        .arg(&trace)
        .arg(exe)
        .args([op, "--dir"])
        .arg(&l.dir)
        .arg("--data-dir")
        .arg(&l.data)
        .output()?;
    ensure!(
        out.status.code().is_some(),
        "strace failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(tally(&fs::read_to_string(&trace)?))
}

/// The calls of a full trace: (all of them, those of AMORTISED, by name).
fn tally(text: &str) -> (u64, u64, std::collections::BTreeMap<String, u64>) {
    let (mut all, mut amortised) = (0, 0);
    let mut by_name = std::collections::BTreeMap::new();
    for line in text.lines() {
        // "PID name(args) = r" (with -f and -o); "<... name resumed>" continues a call.
        let line = line
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .trim_start();
        if line.starts_with("<...") || line.starts_with("+++") || line.starts_with("---") {
            continue;
        }
        let Some((name, _)) = line.split_once('(') else {
            continue;
        };
        all += 1;
        *by_name.entry(name.to_string()).or_insert(0) += 1;
        if AMORTISED.contains(&name) {
            amortised += 1;
        }
    }
    (all, amortised, by_name)
}

fn per_entry(op: &str, budget: f64) -> impl FnOnce(&Path) -> TestResult {
    let op = op.to_string();
    move |area| {
        let exe = cli_binary()?;
        let scratch = Scratch::new_in(area, "budget")?;
        let (small, large) = (scratch.path().join("small"), scratch.path().join("large"));
        fs::create_dir(&small)?;
        fs::create_dir(&large)?;
        let (b, k) = (
            Layout::build(&small, Variant::B)?,
            Layout::build(&large, Variant::Scaling(K))?,
        );
        let mut calls = Vec::new();
        for l in [&b, &k] {
            calls.push(count(&exe, l, &op, scratch.path())?);
            if op == "freeze" {
                let out = Command::new(&exe)
                    .arg("unfreeze")
                    .arg("--dir")
                    .arg(&l.dir)
                    .arg("--data-dir")
                    .arg(&l.data)
                    .output()?;
                ensure!(out.status.success(), "unfreeze");
            }
        }
        let (all, reads) = (
            (calls[1].0 - calls[0].0) as f64,
            (calls[1].1 - calls[0].1) as f64,
        );
        let per = (all - reads) / K as f64;
        let reads_per = reads / K as f64;
        eprintln!(
            "budget {op}: {} calls for variant B, {} for B + {K} links: {per:.3} per entry (budget {budget}) \
             + {reads_per:.4} directory reads and heap growth per entry",
            calls[0].0, calls[1].0
        );
        let grew: Vec<String> = calls[1]
            .2
            .iter()
            .map(|(name, n)| (name, *n as i64 - *calls[0].2.get(name).unwrap_or(&0) as i64))
            .filter(|(_, d)| *d != 0)
            .map(|(name, d)| format!("{name} +{d}"))
            .collect();
        // A handful of calls that do not grow with the entries still differ between two runs
        // (a lease or a lock taken once, the runtime's own): 0.01 per entry is 20 of them.
        ensure!(
            per <= budget + 0.01,
            "{op}: {per:.3} syscalls per entry, budget {budget} ({})",
            grew.join(", ")
        );
        ensure!(
            reads_per <= 0.01,
            "{op}: {reads_per:.4} directory reads and heap calls per entry"
        );
        Ok(())
    }
}

pub fn freeze(area: &Path) -> TestResult {
    per_entry("freeze", 3.0)(area)
}

/// On XFS (Linux 6.17+) each link's own inode is flagged too: file_getattr (the other
/// xflags must be kept), file_setattr, file_getattr (read back): three calls more.
pub fn freeze_flagging_links(area: &Path) -> TestResult {
    per_entry("freeze", 5.0)(area)
}

pub fn verify(area: &Path) -> TestResult {
    per_entry("verify", 2.0)(area)
}

/// Shields (variant H, run inside shields_profile's world: /sandbox/.openclaw, the scratch
/// accounts): syscalls per state-tree entry of `nc-harden shields up --part state-trees` and
/// `shields down --part state-trees`, the difference between a tree of SMALL and one of LARGE
/// regular files (100 a directory, in the sandbox user's mutable posture), counted with
/// strace, and the effect read back (every file root's after up, the sandbox user's after
/// down). The world's `/sandbox` is a tmpfs, which keeps no inode generation: the walk asks
/// FS_IOC_GETVERSION once, and not again for the other files of that filesystem. Per file,
/// up is the budget pass's statx, then open (getdents said it is a regular file: no statx of
/// the name), fstat, fchmod (group and other write bits off, which leaves a file of 0660 its
/// locked mode 0640), fchown, fstat again (what the inode is left as: the owner could have
/// linked it elsewhere, or set a mode, until the chown; the mode is set again only then),
/// the lease taken, close (which gives the lease back): 8, and 9 with the debug build's
/// check of the descriptor before its close (fcntl F_GETFD, std's debug assertion); the
/// record is written once for up to
/// 32 files. No second walk reads the tree back: the walk
/// judges each inode as it leaves it. Down is open, fstat, fchown, fchmod, close: 5, and 6
/// in the debug build (one more each where the filesystem keeps generations: ext4, XFS,
/// btrfs). A directory a hundred files adds its own, amortised.
pub fn shields_tree_entries() -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    const SMALL: usize = 500;
    const LARGE: usize = 2500;
    const UP: f64 = 9.1;
    const DOWN: f64 = 6.05;
    let e = |e: io::Error| e.to_string();
    let cli = std::env::var_os("NC_HARDEN").ok_or("no CLI")?;
    let dir = super::shields_profile::build("openclaw").map_err(e)?;
    let root = dir.join("workspace");
    let trace = Path::new("/tmp/shields.strace");
    let mut made = 0;
    let mut calls = Vec::new();
    for n in [SMALL, LARGE] {
        while made < n {
            let sub = root.join(format!("d{}", made / 100));
            if made % 100 == 0 {
                fs::create_dir(&sub).map_err(e)?;
                super::shields_profile::chown(&sub, SANDBOX_UID, SANDBOX_UID).map_err(e)?;
                super::shields_profile::chmod(&sub, 0o2770).map_err(e)?;
            }
            let file = sub.join(format!("f{made}"));
            fs::write(&file, b"state\n").map_err(e)?;
            super::shields_profile::chown(&file, SANDBOX_UID, SANDBOX_UID).map_err(e)?;
            super::shields_profile::chmod(&file, 0o660).map_err(e)?;
            made += 1;
        }
        let mut per_op = Vec::new();
        for (op, owner) in [("up", 0), ("down", SANDBOX_UID)] {
            let out = Command::new("strace")
                .args(["-f", "-qq", "-o"])
                .arg(trace)
                .arg(&cli)
                .args(["shields", op, "--part", "state-trees"])
                .output()
                .map_err(e)?;
            if !out.status.success() {
                return Err(format!(
                    "shields {op}: {}\n{}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            per_op.push(tally(&fs::read_to_string(trace).map_err(e)?));
            for d in 0..n.div_ceil(100) {
                for f in d * 100..n.min(d * 100 + 100) {
                    let m = fs::symlink_metadata(root.join(format!("d{d}/f{f}"))).map_err(e)?;
                    if m.uid() != owner || (owner == 0 && m.mode() & 0o022 != 0) {
                        return Err(format!(
                            "after shields {op}: d{d}/f{f} is {} {:o}",
                            m.uid(),
                            m.mode()
                        ));
                    }
                }
            }
        }
        calls.push(per_op);
    }
    let extra = ((LARGE - SMALL) + (LARGE.div_ceil(100) - SMALL.div_ceil(100))) as f64;
    for (i, (op, budget)) in [("up", UP), ("down", DOWN)].into_iter().enumerate() {
        let (small, large) = (&calls[0][i], &calls[1][i]);
        let per = (large.0 - large.1 - (small.0 - small.1)) as f64 / extra;
        let grew: Vec<String> = large
            .2
            .iter()
            .map(|(name, n)| (name, *n as i64 - *small.2.get(name).unwrap_or(&0) as i64))
            .filter(|(_, d)| *d != 0)
            .map(|(name, d)| format!("{name} +{d}"))
            .collect();
        eprintln!(
            "budget shields {op}: {} calls for {SMALL} files, {} for {LARGE}: {per:.3} per entry (budget {budget}): {}",
            small.0,
            large.0,
            grew.join(", ")
        );
        if per > budget + 0.01 {
            return Err(format!(
                "shields {op}: {per:.3} syscalls per tree entry, budget {budget} ({})",
                grew.join(", ")
            ));
        }
        // getdents64 twice a directory of 100 entries in each of up's two passes (the
        // budget, the walk), and the heap's growth: 0.04 and a little.
        let heap = (large.1 - small.1) as f64 / extra;
        if heap > 0.05 {
            return Err(format!(
                "shields {op}: {heap:.4} directory reads and heap calls per tree entry"
            ));
        }
    }
    Ok(())
}
