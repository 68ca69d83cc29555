//! Racing attackers, as libpathrs tests its resolver: an attacker thread (root without
//! CAP_LINUX_IMMUTABLE and CAP_SYS_ADMIN) changes the layout as fast as it can while the
//! routine runs over and over. The invariant, checked after every call from outside:
//!
//! - NC_OK: the path leads to a directory that is pinned (flag or read-only mount) and valid,
//!   and the attacker can no longer change it;
//! - NC_INVALID, NC_UNSAFE_PATH, NC_NOT_FOUND: nothing is left pinned anywhere.
//!
//! Every run is bounded in calls and in time, and stops by itself.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use super::engine::kernel_state;
use super::*;
use nc_harden::Strategy;
use nc_harden_testkit::attacks::rename_exchange as exchange;
use nc_harden_testkit::check_from_outside;

/// The trials of this file, registered by main.rs: every race, with the flag and with the
/// mount, on ext4.
pub fn trials() -> Vec<Trial> {
    let mut out = Vec::new();
    for (index, race) in RACES.iter().enumerate() {
        for strategy in [Strategy::Auto, Strategy::Mount] {
            out.push(trial(
                format!("race::{}::{}", race.name, strategy.name()),
                FsKind::Ext4,
                move |a| run(a, index, strategy),
            ));
        }
    }
    out
}

const CALLS: usize = 2000;
const TIME_LIMIT: Duration = Duration::from_secs(40);
const ATTACKER: Creds = Creds::RootWithout(&[CAP_LINUX_IMMUTABLE, CAP_SYS_ADMIN]);

/// One kind of attacker: prepares the ground, then makes one move per call of `step`.
pub struct Race {
    pub name: &'static str,
    /// The layout lives under `root/<layout_dir>` (a parent the attacker may swap).
    layout_dir: &'static str,
    prepare: fn(&Path, &Layout) -> io::Result<()>,
    step: fn(&Path, &Layout) -> io::Result<()>,
}

fn no_preparation(_: &Path, _: &Layout) -> io::Result<()> {
    Ok(())
}

/// A copy of the layout's directory with one evil link, at `root/decoy`.
fn evil_decoy(root: &Path, l: &Layout) -> io::Result<()> {
    let decoy = root.join("decoy");
    fs::create_dir(&decoy)?;
    for name in l.entry_names()? {
        let path = l.dir.join(&name);
        if path.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&path)?, decoy.join(&name))?;
        } else {
            fs::copy(&path, decoy.join(&name))?;
        }
    }
    std::os::unix::fs::symlink("/etc", decoy.join(".evil"))
}

pub const RACES: [Race; 6] = [
    Race {
        name: "exchange_good_and_evil_link",
        layout_dir: "",
        prepare: |_, l| std::os::unix::fs::symlink("/tmp/evil", l.root.join("evil-hooks")),
        step: |_, l| exchange(&l.root.join("evil-hooks"), &l.dir.join("hooks")),
    },
    Race {
        name: "exchange_dir_with_symlink",
        layout_dir: "",
        prepare: |root, l| std::os::unix::fs::symlink(&l.dir, root.join("dir-link")),
        step: |root, l| exchange(&root.join("dir-link"), &l.dir),
    },
    Race {
        name: "exchange_dir_with_evil_directory",
        layout_dir: "",
        prepare: evil_decoy,
        step: |root, l| exchange(&root.join("decoy"), &l.dir),
    },
    Race {
        name: "exchange_parent_with_symlink",
        layout_dir: "parent",
        prepare: |root, _| {
            std::os::unix::fs::symlink(root.join("elsewhere"), root.join("parent-link"))
        },
        step: |root, _| exchange(&root.join("parent-link"), &root.join("parent")),
    },
    Race {
        name: "data_entry_becomes_symlink",
        layout_dir: "",
        prepare: |_, l| std::os::unix::fs::symlink("/etc", l.data.join("hooks-evil")),
        step: |_, l| exchange(&l.data.join("hooks-evil"), &l.data.join("hooks")),
    },
    Race {
        name: "dotfile_created_and_removed",
        layout_dir: "",
        prepare: no_preparation,
        // A move is a creation or a removal that went through.
        step: |_, l| {
            let created = std::os::unix::fs::symlink("/etc", l.dir.join(".evil"));
            let removed = fs::remove_file(l.dir.join(".evil"));
            created.or(removed)
        },
    },
];

#[derive(Default, Debug)]
struct Counts {
    calls: u64,
    ok: u64,
    invalid: u64,
    unsafe_path: u64,
    not_found: u64,
    attacker_moves: u64,
}

/// The layout where it really is: the attacker of the parent race may have left the real
/// parent under the other name.
fn real_layout(root: &Path, l: &Layout) -> Layout {
    let swapped = root.join("parent-link");
    if fs::symlink_metadata(&swapped).is_ok_and(|m| m.is_dir()) {
        let mut real = l.clone();
        real.dir = swapped.join(".openclaw");
        real.root = swapped;
        return real;
    }
    l.clone()
}

/// Nothing pinned under `root`: no flag on any directory or file, no mount.
fn nothing_pinned(root: &Path) -> Result<(), String> {
    let candidates = [
        root.join(".openclaw"),
        root.join("decoy"),
        root.join("dir-link"),
        root.join("parent/.openclaw"),
        root.join("parent-link/.openclaw"),
    ];
    for dir in candidates {
        if let Ok(meta) = fs::symlink_metadata(&dir) {
            if meta.is_dir() {
                let state = kernel_state(&dir).map_err(|e| e.to_string())?;
                if state.flags.iter().any(|(_, on)| *on) || !state.mounts.is_empty() {
                    return Err(format!("{} is left pinned: {state:?}", dir.display()));
                }
            }
        }
    }
    Ok(())
}

pub fn run(area: &Path, index: usize, strategy: Strategy) -> TestResult {
    let race = &RACES[index];
    let scratch = Scratch::new_in(area, "race")?;
    let root = scratch.path().to_path_buf();
    let base = if race.layout_dir.is_empty() {
        root.clone()
    } else {
        root.join(race.layout_dir)
    };
    fs::create_dir_all(&base)?;
    fs::create_dir_all(root.join("elsewhere"))?;
    let l = Layout::build(&base, Variant::B)?;
    (race.prepare)(&root, &l)?;
    let call = call_of(&l).with_strategy(strategy);
    let required = ["openclaw.json", ".config-hash"];

    let stop = AtomicBool::new(false);
    let paused = AtomicBool::new(true);
    // Pausing is a handshake: the attacker acknowledges the epoch of the pause it saw.
    let epoch = AtomicU64::new(0);
    let acked = AtomicU64::new(0);
    let moves = AtomicU64::new(0);
    let mut counts = Counts::default();
    let started = Instant::now();
    // The attacker runs while a call runs; it is paused (and has said so) while the result
    // is checked, so that the check sees the state the call left.
    let pause = |on: bool| {
        paused.store(on, Ordering::SeqCst);
        if on {
            let e = epoch.fetch_add(1, Ordering::SeqCst) + 1;
            while acked.load(Ordering::SeqCst) != e {
                std::thread::yield_now();
            }
        }
    };
    let verdict: TestResult = std::thread::scope(|s| {
        s.spawn(|| {
            run_as(ATTACKER, || {
                while !stop.load(Ordering::SeqCst) {
                    if paused.load(Ordering::SeqCst) {
                        acked.store(epoch.load(Ordering::SeqCst), Ordering::SeqCst);
                        std::thread::yield_now();
                        continue;
                    }
                    if (race.step)(&root, &l).is_ok() {
                        moves.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        });
        let result = (|| {
            while (counts.calls as usize) < CALLS && started.elapsed() < TIME_LIMIT {
                counts.calls += 1;
                pause(false);
                let out = Face::Rust.call(Op::Freeze, &call);
                pause(true);
                match out.status {
                    Status::Ok => {
                        counts.ok += 1;
                        // The real directory (wherever the attacker left its parent) is the
                        // one pinned, and it is valid.
                        let real = real_layout(&root, &l);
                        let state = kernel_state(&real.dir)?;
                        let pinned =
                            immutable_flag(&real.dir)? || state.mounts.last().is_some_and(|m| m.1);
                        ensure!(
                            pinned,
                            "NC_OK but {} is not pinned: {}",
                            real.dir.display(),
                            out.summary
                        );
                        // No late change with either layer: the mount layer shows a fresh
                        // directory filled with what was judged, so a change that resolved its
                        // path before lands beneath, out of sight.
                        if let Err(e) = check_from_outside(&real, &required) {
                            return Err(format!("NC_OK but invalid from outside: {e}").into());
                        }
                        let mut unpin = call.clone();
                        unpin.dir = real.dir.clone();
                        let unfrozen = Face::Rust.call(Op::Unfreeze, &unpin);
                        ensure!(
                            unfrozen.status == Status::Ok,
                            "unfreeze: {}",
                            unfrozen.summary
                        );
                    }
                    Status::Invalid => counts.invalid += 1,
                    Status::UnsafePath => counts.unsafe_path += 1,
                    Status::NotFound => counts.not_found += 1,
                    other => {
                        return Err(format!("unexpected {}: {}", other.name(), out.summary).into())
                    }
                }
                nothing_pinned(&root).map_err(|e| format!("after {}: {e}", out.status.name()))?;
            }
            Ok(())
        })();
        stop.store(true, Ordering::SeqCst);
        result
    });
    counts.attacker_moves = moves.load(Ordering::Relaxed);
    eprintln!(
        "race {} ({}): {:?}, violations: {}",
        race.name,
        strategy.name(),
        counts,
        verdict.is_err() as u8
    );
    verdict?;
    ensure!(
        counts.attacker_moves > 0,
        "the attacker never moved: the race tested nothing"
    );
    Ok(())
}
