//! Memory on the verify path grows with the report and nothing else: the directory is read
//! into one fixed buffer, link targets into another, so the only allocation per entry is
//! the report's copy of its name. Counted with a counting allocator, never timed.

use std::alloc::{GlobalAlloc, Layout as AllocLayout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use nc_harden::Policy;
use nc_harden_testkit::{Layout, Scratch, Variant};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: AllocLayout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: AllocLayout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: AllocLayout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations of one verify of variant B plus `extra` links, and its number of records.
fn verify_allocations(extra: usize) -> (u64, usize) {
    let scratch = Scratch::new("alloc").unwrap();
    let l = Layout::build(scratch.path(), Variant::Scaling(extra)).unwrap();
    let policy = Policy::builder(&l.dir, &l.data)
        .owner(l.owner)
        .build()
        .unwrap();
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let report = policy.verify().unwrap();
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    assert!(!report.status().name().is_empty());
    (after - before, report.entries().len())
}

#[test]
fn verify_allocates_once_per_entry_for_the_report_and_nothing_more() {
    let (small, small_entries) = verify_allocations(1000);
    let (large, large_entries) = verify_allocations(5000);
    let per_entry = (large - small) as f64 / (large_entries - small_entries) as f64;
    eprintln!("verify: {small} allocations for {small_entries} records, {large} for {large_entries}: {per_entry:.3} per entry");
    // One per entry is the record's name; the rest is the records' vector doubling.
    assert!(per_entry <= 1.01, "{per_entry:.3} allocations per entry");
}
