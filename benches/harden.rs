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

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
