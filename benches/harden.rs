//! Criterion benchmarks: `verify` alone, and a `validate_and_freeze` + `unfreeze` cycle, on
//! the workload layout (variant B) and on the scaling layout with 1,000 and 100,000 extra
//! links, on tmpfs (/dev/shm) and on the disk (the system's temporary directory).
//!
//! `cargo bench --bench harden`. Verify needs no privilege; the freeze cycle needs root with
//! CAP_LINUX_IMMUTABLE and is left out, with a line that says so, without it. Time per
//! entry is reported as throughput (elements = entries), so the 1k and 100k rows compare.

use std::path::Path;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use nc_harden::{Policy, Status};
use nc_harden_testkit::{privilege, Layout, Scratch, Variant};

fn areas() -> Vec<(&'static str, std::path::PathBuf)> {
    let mut areas = vec![];
    if Path::new("/dev/shm").is_dir() {
        areas.push(("tmpfs", "/dev/shm".into()));
    }
    areas.push(("disk", std::env::temp_dir()));
    areas
}

fn layouts() -> [(&'static str, Variant); 3] {
    [
        ("variant_b", Variant::B),
        ("links_1k", Variant::Scaling(1_000)),
        ("links_100k", Variant::Scaling(100_000)),
    ]
}

fn bench(c: &mut Criterion) {
    let privileged = privilege::missing().is_none();
    if !privileged {
        eprintln!("freeze_unfreeze benchmarks left out: they need root with CAP_LINUX_IMMUTABLE");
    }
    for (fs, area) in areas() {
        let mut group = c.benchmark_group(fs);
        for (name, variant) in layouts() {
            let scratch = Scratch::new_in(&area, "bench").expect("scratch");
            let l = Layout::build(scratch.path(), variant).expect("layout");
            let entries = l.entry_names().expect("entries").len() as u64 + 1;
            let policy = Policy::builder(&l.dir, &l.data)
                .owner(l.owner)
                .build()
                .expect("policy");
            let big = matches!(variant, Variant::Scaling(k) if k >= 100_000);
            group.sample_size(if big { 10 } else { 50 });
            group.measurement_time(Duration::from_secs(if big { 20 } else { 4 }));
            group.throughput(Throughput::Elements(entries));
            group.bench_function(BenchmarkId::new("verify", name), |b| {
                b.iter(|| {
                    let report = policy.verify().expect("verify");
                    assert_eq!(report.status(), Status::NotFrozen);
                })
            });
            if privileged {
                group.bench_function(BenchmarkId::new("freeze_unfreeze", name), |b| {
                    b.iter(|| {
                        assert_eq!(
                            policy.validate_and_freeze().expect("freeze").status(),
                            Status::Ok
                        );
                        assert_eq!(policy.unfreeze().expect("unfreeze").status(), Status::Ok);
                    })
                });
            }
        }
        group.finish();
    }
}

/// What renewal costs: a freeze + unfreeze cycle of a flat directory of 16 regular files of
/// 1 KiB, of 64 KiB and of 1 MiB (each freeze puts every file on a fresh inode), with the flag
/// layer, and the same cycle of 16 links (no file to renew) for the part that is not renewal.
/// Per file: (16 × 1 KiB - links) / 16; per KiB: the slope between 64 KiB and 1 MiB.
fn renewal(c: &mut Criterion) {
    if privilege::missing().is_some() {
        eprintln!("renewal benchmarks left out: they need root with CAP_LINUX_IMMUTABLE");
        return;
    }
    for (fs, area) in areas() {
        let mut group = c.benchmark_group(format!("{fs}_renewal"));
        group.sample_size(30);
        group.measurement_time(Duration::from_secs(4));
        for (name, size) in [
            ("16_files_1k", 1usize << 10),
            ("16_files_64k", 64 << 10),
            ("16_files_1m", 1 << 20),
        ] {
            let scratch = Scratch::new_in(&area, "bench").expect("scratch");
            let dir = scratch.path().join("flat");
            std::fs::create_dir(&dir).expect("dir");
            for i in 0..16 {
                let file = dir.join(format!("f{i}.json"));
                std::fs::write(&file, vec![b'x'; size]).expect("file");
                std::fs::set_permissions(
                    &file,
                    std::os::unix::fs::PermissionsExt::from_mode(0o444),
                )
                .expect("mode");
            }
            let policy = Policy::flat(&dir)
                .strategy(nc_harden::Strategy::Immutable)
                .build()
                .expect("policy");
            group.bench_function(BenchmarkId::new("freeze_unfreeze", name), |b| {
                b.iter(|| {
                    let report = policy.validate_and_freeze().expect("freeze");
                    assert_eq!(report.status(), Status::Ok);
                    assert!(report.entries().iter().skip(1).all(|e| e.renewed));
                    assert_eq!(policy.unfreeze().expect("unfreeze").status(), Status::Ok);
                })
            });
        }
        let scratch = Scratch::new_in(&area, "bench").expect("scratch");
        let l = Layout::build(scratch.path(), Variant::A).expect("layout");
        let links = scratch.path().join("links");
        std::fs::create_dir(&links).expect("dir");
        for i in 0..16 {
            std::os::unix::fs::symlink(l.data.join("hooks"), links.join(format!("l{i}")))
                .expect("link");
        }
        // Links that do not read data_dir/<name>: judged invalid, nothing renewed; the cycle
        // is the freeze's fixed cost (lock, state, flags) for comparison.
        let policy = Policy::flat(&links)
            .strategy(nc_harden::Strategy::Immutable)
            .build()
            .expect("policy");
        group.bench_function(
            BenchmarkId::new("freeze_unfreeze", "16_links_no_file"),
            |b| {
                b.iter(|| {
                    let _ = policy.validate_and_freeze().expect("freeze");
                    let _ = policy.unfreeze().expect("unfreeze");
                })
            },
        );
        group.finish();
    }
}

fn main() {
    // Privileged, the benchmarks run as the tests do: in a mount namespace of their own with a
    // tmpfs on /run (nc-harden's lock and state records), so that nothing is left behind and
    // /run is what a container has (a tmpfs), whatever this machine's is.
    if privilege::missing().is_none() {
        privilege::enter_private_mount_namespace().expect("a private mount namespace");
    }
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    renewal(&mut c);
    c.final_summary();
}
