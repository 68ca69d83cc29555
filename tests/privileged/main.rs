//! The privileged suite: real flags on real filesystems, attacks tried with fewer privileges,
//! every rejection case, and the C programs. It runs as root inside a private mount
//! namespace that it enters before any thread starts; every scratch directory clears its
//! flags and mounts when dropped, even when a test fails.
//!
//! Each module is one feature and registers its own tests (`pub fn trials() -> Vec<Trial>`,
//! each with the filesystem it runs on); this file enters the namespace, mounts one area per
//! filesystem and runs what the modules registered. A test whose comment says "Finding N" is
//! an attack from one of the red-team reviews that once got a false NC_OK, kept as the
//! review wrote it, in the module of the feature it attacks. Without root it lists every test as
//! ignored (never as passed), and under NC_HARDEN_REQUIRE_PRIVILEGED=1 (set by `.ci/run`) it
//! fails instead.

#[path = "../common/mod.rs"]
mod common;
mod prelude;

// The engine's operations and the environments they meet.
mod engine;
mod errors;
mod fallbacks;
mod matrix;
mod race;
// Features: the entries and the path, the layers, what a writer holds, the state.
mod entries;
mod flags;
mod held;
mod mounts;
mod renew;
mod seals;
mod state;
// Shields: postures over a flat directory and over a profile.
mod shields;
mod shields_profile;
mod transactions;
// Input, output and the callers.
mod bad_input;
mod budget;
mod callers;
mod crash;
mod guard;
mod launcher;
mod lines;

use std::sync::Arc;

use libtest_mimic::Arguments;
use prelude::*;

/// Every module's registration, in the order the tests are listed.
const MODULES: [fn() -> Vec<Trial>; 22] = [
    engine::trials,
    callers::trials,
    entries::trials,
    flags::trials,
    mounts::trials,
    held::trials,
    crash::trials,
    shields::trials,
    transactions::trials,
    fallbacks::trials,
    matrix::trials,
    race::trials,
    bad_input::trials,
    budget::trials,
    shields_profile::trials,
    launcher::trials,
    state::trials,
    seals::trials,
    lines::trials,
    renew::trials,
    guard::trials,
    errors::trials,
];

/// The tests that run in a child process of their own (a chroot, a namespace built for
/// them): when this process is such a child, each returns only after running its case.
const CHILDREN: [fn(); 2] = [mounts::chroot_child, shields_profile::child];

/// The filesystems of the suite, each mounted once in the private namespace. One that
/// cannot be made (a missing mkfs, say) fails its tests under NC_HARDEN_REQUIRE_PRIVILEGED.
struct Areas {
    _scratch: Scratch,
    paths: Vec<(FsKind, Result<PathBuf, String>)>,
}

impl Areas {
    fn mount() -> io::Result<Areas> {
        let mut scratch = Scratch::new("areas")?;
        let mut paths = Vec::new();
        for kind in [
            FsKind::Disk,
            FsKind::Ext4,
            FsKind::Tmpfs,
            FsKind::Ramfs,
            FsKind::Xfs,
            FsKind::Btrfs,
            FsKind::Overlay,
        ] {
            let area = scratch
                .area(kind)
                .map_err(|e| format!("cannot make a {} area: {e}", kind.name()));
            paths.push((kind, area));
        }
        Ok(Areas {
            _scratch: scratch,
            paths,
        })
    }

    fn path(&self, kind: FsKind) -> Result<PathBuf, String> {
        self.paths
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, p)| p.clone())
            .expect("every kind is tried")
    }
}

fn main() {
    for child in CHILDREN {
        child();
    }
    let args = Arguments::from_args();
    let missing = privilege::missing();
    let areas = match &missing {
        None => {
            privilege::enter_private_mount_namespace().expect("entering a private mount namespace");
            Some(Arc::new(
                Areas::mount().expect("mounting the test filesystems"),
            ))
        }
        Some(why) if privilege::required() => {
            eprintln!(
                "privileged tests cannot run ({why}) and {} is set: failing",
                privilege::REQUIRE_VAR
            );
            None
        }
        Some(why) => {
            eprintln!(
                "privileged tests ignored: {why} (set {}=1 to fail instead)",
                privilege::REQUIRE_VAR
            );
            None
        }
    };

    let trials = MODULES
        .iter()
        .flat_map(|register| register())
        .map(|(name, kind, test)| {
            let area = match &areas {
                Some(areas) => areas.path(kind),
                None => Err("needs root with CAP_LINUX_IMMUTABLE and CAP_SYS_ADMIN".to_string()),
            };
            let ignored = area.is_err() && !privilege::required();
            libtest_mimic::Trial::test(name, move || match area {
                Ok(path) => test(&path),
                Err(why) => Err(why.into()),
            })
            .with_ignored_flag(ignored)
        })
        .collect();

    let conclusion = libtest_mimic::run(&args, trials);
    drop(areas);
    conclusion.exit();
}
