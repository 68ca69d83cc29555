//! Criterion benchmarks of the shields' state trees (variant H): `shields::up` +
//! `shields::down` of the state trees alone (`Part::StateTrees`: the budget pass, the lock
//! walk, the record, the unlock walk), on a tree of 1,000 and one of 98,000 regular files
//! (100 a directory, under `workspace`: some 99,000 entries, within the profile's budget of
//! 100,000), in the sandbox user's mutable posture, on tmpfs
//! (/dev/shm) and on the disk (the system's temporary directory). Time per entry is reported
//! as throughput (elements = the tree's entries), so that the two sizes compare.
//!
//! `cargo bench --bench shields`, as root. The shields keep their lock and record in
//! /run/nc-harden: the bench runs itself again in a mount namespace of its own with a tmpfs on
//! /run (`unshare`), so that nothing of it is left on the machine. The accounts are scratch
//! ones (`sandbox` is uid 998), given to the profile, not read from /etc.

use std::fs;
use std::os::unix::fs::{lchown, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use nc_harden::profile::{Accounts, Profile};
use nc_harden::shields::{self, Part};
use nc_harden::Status;
use nc_harden_testkit::Scratch;

const NS_VAR: &str = "NC_HARDEN_BENCH_NS";
const SANDBOX: u32 = 998;

fn areas() -> Vec<(&'static str, std::path::PathBuf)> {
    let mut areas = vec![];
    if Path::new("/dev/shm").is_dir() {
        areas.push(("tmpfs", "/dev/shm".into()));
    }
    areas.push(("disk", std::env::temp_dir()));
    areas
}

fn mutable(p: &Path, mode: u32) {
    lchown(p, Some(SANDBOX), Some(SANDBOX)).expect("chown");
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// `parent/.openclaw` with the state trees of variant H and `files` files in `workspace`;
/// returns the entries of the trees.
fn build(parent: &Path, files: usize) -> u64 {
    let dir = parent.join(".openclaw");
    let mut entries = 0;
    for d in [
        "agents/main/agent",
        "agents/main/sessions",
        "skills",
        "credentials",
        "hooks",
    ] {
        fs::create_dir_all(dir.join(d)).expect("dir");
    }
    fs::write(dir.join("skills/SKILL.md"), b"skill\n").expect("file");
    fs::write(dir.join("credentials/token.json"), b"{}\n").expect("file");
    fs::write(dir.join("openclaw.json"), b"{}\n").expect("file");
    let ws = dir.join("workspace");
    fs::create_dir(&ws).expect("workspace");
    for i in 0..files {
        let sub = ws.join(format!("d{:04}", i / 100));
        if i % 100 == 0 {
            fs::create_dir(&sub).expect("dir");
        }
        fs::write(sub.join(format!("f{i:06}.md")), b"note\n").expect("file");
    }
    mutable(parent, 0o755);
    for e in walk(&dir) {
        let m = fs::symlink_metadata(&e).expect("stat");
        mutable(&e, if m.is_dir() { 0o2770 } else { 0o660 });
        entries += 1;
    }
    entries - 2 // `dir` and openclaw.json are not in the trees
}

fn walk(p: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![p.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        if fs::symlink_metadata(&out[i]).expect("stat").is_dir() {
            for e in fs::read_dir(&out[i]).expect("read_dir") {
                out.push(e.expect("entry").path());
            }
        }
        i += 1;
    }
    out
}

fn bench(c: &mut Criterion) {
    let accounts = Accounts::from_bytes(
        b"root:x:0:0::/root:/bin/sh\nsandbox:x:998:998::/sandbox:/bin/sh\n",
        b"root:x:0:\nsandbox:x:998:\n",
    );
    for (fs_name, area) in areas() {
        let mut group = c.benchmark_group(format!("{fs_name}_shields"));
        for (name, files) in [("tree_1k", 1_000), ("tree_100k", 98_000)] {
            let scratch = Scratch::new_in(&area, "bench").expect("scratch");
            let parent = scratch.path().join("sandbox");
            fs::create_dir(&parent).expect("parent");
            let entries = build(&parent, files);
            let dir = parent.join(".openclaw");
            let profile = Profile::load("openclaw", &accounts)
                .expect("profile")
                .with_dir(dir.as_os_str().as_encoded_bytes())
                .expect("dir");
            let big = files >= 10_000;
            group.sample_size(if big { 10 } else { 30 });
            group.measurement_time(Duration::from_secs(if big { 30 } else { 5 }));
            group.throughput(Throughput::Elements(entries));
            group.bench_function(BenchmarkId::new("up_down_state_trees", name), |b| {
                b.iter(|| {
                    let up = shields::up(&profile, Part::StateTrees, false).expect("up");
                    assert_eq!(up.status, Status::Ok, "{:?}", up.issues);
                    let down = shields::down(&profile, Part::StateTrees).expect("down");
                    assert_eq!(down.status, Status::Ok, "{:?}", down.issues);
                })
            });
        }
        group.finish();
    }
}

fn main() {
    if std::env::var_os(NS_VAR).is_none() {
        if !nix_root() {
            eprintln!("shields benchmarks left out: they need root");
            return;
        }
        // Again, in a mount namespace of its own with a tmpfs on /run.
        let exe = std::env::current_exe().expect("exe");
        let status = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg("mount -t tmpfs -o mode=0755 tmpfs /run && exec \"$0\" \"$@\"")
            .arg(exe)
            .args(std::env::args_os().skip(1))
            .env(NS_VAR, "1")
            .status()
            .expect("unshare");
        std::process::exit(status.code().unwrap_or(1));
    }
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}

fn nix_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}
