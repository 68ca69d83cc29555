//! The engine against the kernel: freeze, verify and unfreeze on real filesystems, every
//! attack with fewer privileges, every rejection case, degraded environments.

use super::*;

/// Every symlink record agrees with the kernel: Frozen where its own inode carries the
/// flag (XFS, Linux 6.17+), else pinned by the directory.
pub fn check_pinned_records(out: &Outcome, l: &Layout, files: Action) -> TestResult {
    for r in &out.records {
        let path = if r.name == b"." {
            l.dir.clone()
        } else {
            l.dir
                .join(std::ffi::OsStr::new(&*String::from_utf8_lossy(&r.name)))
        };
        let meta = fs::symlink_metadata(&path)?;
        let expected = if meta.file_type().is_symlink() {
            if immutable_flag(&path)? {
                files
            } else {
                Action::PinnedByDirectory
            }
        } else {
            files
        };
        ensure!(
            r.action == expected,
            "{:?}: expected {:?}, got {:?}",
            path,
            expected,
            r.action
        );
    }
    Ok(())
}

pub fn freeze_verify_unfreeze(area: &Path, face: Face, variant: Variant) -> TestResult {
    let scratch = Scratch::new_in(area, "cycle")?;
    let l = Layout::build(scratch.path(), variant)?;
    let call = call_of(&l);
    let entries = l.entry_names()?.len();

    let out = face.call(Op::Freeze, &call);
    expect_status(&out, Status::Ok)?;
    ensure!(out.immutable_layer, "layers must say immutable");
    ensure!(
        out.records.len() == entries + 1,
        "one record per entry plus the directory"
    );
    check_pinned_records(&out, &l, Action::Frozen)?;
    ensure!(immutable_flag(&l.dir)?, "the directory flag is not set");
    for file in l.regular_files()? {
        ensure!(immutable_flag(&file)?, "{file:?} is not immutable");
    }
    // Even full root cannot add an entry now.
    ensure!(
        std::os::unix::fs::symlink("/etc", l.dir.join("evil")).is_err(),
        "root created a link in a frozen dir"
    );

    expect_status(&face.call(Op::Verify, &call), Status::Ok)?;
    let again = face.call(Op::Freeze, &call);
    expect_status(&again, Status::Ok)?;
    check_pinned_records(&again, &l, Action::AlreadyFrozen)?;

    let out = face.call(Op::Unfreeze, &call);
    expect_status(&out, Status::Ok)?;
    ensure!(
        out.record(".").action == Action::Unfrozen,
        "the directory must be reported unfrozen"
    );
    ensure!(
        flags(&l.dir)?.iter().all(|(_, on)| !on),
        "a flag survived unfreeze"
    );
    std::os::unix::fs::symlink("/etc", l.dir.join("evil"))?;
    fs::remove_file(l.dir.join("evil"))?;
    expect_status(&face.call(Op::Verify, &call), Status::NotFrozen)?;
    let twice = face.call(Op::Unfreeze, &call);
    expect_status(&twice, Status::Ok)?;
    ensure!(
        twice.records.iter().all(|r| r.action == Action::Checked),
        "a second unfreeze changes nothing"
    );
    Ok(())
}

pub fn rejects(area: &Path, face: Face, tamper: Tamper) -> TestResult {
    let scratch = Scratch::new_in(area, "reject")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let case = tamper.apply(&l)?;
    let mut call = Call::new(&case.dir, &case.data, l.owner);
    call.require = case.require.iter().map(|s| s.to_string()).collect();
    let before = flags(&l.dir)?;
    let names_before = l.entry_names()?;
    let out = with_timeout(move || face.call(Op::Freeze, &call))?;
    match &case.expect {
        Expect::Rejected { entry, reason } => {
            expect_status(&out, Status::Invalid)?;
            let hit = out
                .rejected()
                .into_iter()
                .any(|r| &r.name == entry && r.reason.name() == *reason);
            ensure!(
                hit,
                "no record rejects {:?} for {reason}: {:#?}",
                String::from_utf8_lossy(entry),
                out.records
            );
            ensure!(
                out.summary.contains(&escape_bytes(entry)),
                "the summary names the entry: {}",
                out.summary
            );
            ensure!(!out.immutable_layer, "no layer may remain after NC_INVALID");
        }
        Expect::UnsafePath => expect_status(&out, Status::UnsafePath)?,
    }
    ensure!(
        flags(&l.dir)? == before,
        "flags changed: {:?} -> {:?}",
        before,
        flags(&l.dir)?
    );
    ensure!(l.entry_names()? == names_before, "entries changed");
    Ok(())
}

pub fn without_capability(area: &Path, face: Face) -> TestResult {
    let scratch = Scratch::new_in(area, "nocap")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let call = call_of(&l);
    let creds = Creds::RootWithout(&[CAP_LINUX_IMMUTABLE]);
    let out = run_as(creds, || face.call(Op::Freeze, &call));
    expect_status(&out, Status::NoCapability)?;
    let dir = out.record(".");
    ensure!(
        dir.action == Action::Denied && dir.errno == libc::EPERM,
        "directory: {dir:?}"
    );
    ensure!(!out.immutable_layer, "no layer without the capability");
    ensure!(
        flags(&l.dir)?.iter().all(|(_, on)| !on),
        "a flag was set without the capability"
    );
    // Validation still ran.
    Tamper::RepointedLink.apply(&l)?;
    let out = run_as(creds, || face.call(Op::Freeze, &call));
    expect_status(&out, Status::Invalid)?;
    ensure!(
        out.record("hooks").reason == Reason::LinkTargetMismatch,
        "hooks must be rejected"
    );
    Ok(())
}

pub fn plain_user(area: &Path, face: Face) -> TestResult {
    let scratch = Scratch::new_in(area, "user")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let call = call_of(&l);
    let out = run_as(Creds::User(SANDBOX_UID), || face.call(Op::Freeze, &call));
    expect_status(&out, Status::NoCapability)?;
    ensure!(
        out.record(".").action == Action::Denied,
        "the directory flag must be denied"
    );
    ensure!(
        out.records
            .iter()
            .skip(1)
            .all(|r| r.action == Action::Checked),
        "every entry validated"
    );
    ensure!(
        flags(&l.dir)?.iter().all(|(_, on)| !on),
        "a plain user pinned something"
    );
    expect_status(
        &run_as(Creds::User(SANDBOX_UID), || face.call(Op::Verify, &call)),
        Status::NotFrozen,
    )?;
    Tamper::DotfileLinkElsewhere.apply(&l)?;
    let out = run_as(Creds::User(SANDBOX_UID), || face.call(Op::Freeze, &call));
    expect_status(&out, Status::Invalid)?;
    ensure!(
        out.record(".evil").reason == Reason::LinkTargetMismatch,
        ".evil must be rejected"
    );
    Ok(())
}

pub fn ramfs_unsupported(area: &Path, face: Face) -> TestResult {
    let scratch = Scratch::new_in(area, "ramfs")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let call = call_of(&l);
    let out = face.call(Op::Freeze, &call);
    expect_status(&out, Status::Unsupported)?;
    ensure!(
        out.record(".").action == Action::Unsupported,
        "directory: {:?}",
        out.record(".")
    );
    ensure!(
        std::os::unix::fs::symlink("/etc", l.dir.join("evil")).is_ok(),
        "ramfs cannot be pinned by flags"
    );
    fs::remove_file(l.dir.join("evil"))?;
    expect_status(&face.call(Op::Verify, &call), Status::NotFrozen)?;
    expect_status(&face.call(Op::Unfreeze, &call), Status::Ok)?;
    Tamper::Subdirectory.apply(&l)?;
    expect_status(&face.call(Op::Freeze, &call), Status::Invalid)?;
    Ok(())
}

pub fn attack(area: &Path, index: usize, creds: Creds) -> TestResult {
    let attack = &ATTACKS[index];
    let scratch = Scratch::new_in(area, "attack")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let call = call_of(&l);
    expect_status(&Face::Rust.call(Op::Freeze, &call), Status::Ok)?;
    let names = l.entry_names()?;
    let target = fs::read_link(l.dir.join("hooks"))?;
    let config = fs::read(l.dir.join("openclaw.json"))?;
    let result = run_as(creds, || (attack.run)(&l));
    ensure!(
        result.is_err(),
        "{} succeeded against a frozen directory",
        attack.name
    );
    ensure!(l.entry_names()? == names, "entries changed");
    ensure!(
        fs::read_link(l.dir.join("hooks"))? == target,
        "hooks re-pointed"
    );
    ensure!(
        fs::read(l.dir.join("openclaw.json"))? == config,
        "openclaw.json changed"
    );
    expect_status(&Face::Rust.call(Op::Verify, &call), Status::Ok)?;
    expect_status(&Face::Rust.call(Op::Unfreeze, &call), Status::Ok)?;
    // The same attack works once unfrozen: it was stopped by the freeze, not by chance. (The
    // sandbox user is also stopped by plain permissions on a root-owned directory, so only
    // the root attacker shows this.)
    if creds != Creds::User(SANDBOX_UID) {
        run_as(creds, || (attack.run)(&l))
            .map_err(|e| format!("{} fails even unfrozen: {e}", attack.name))?;
    }
    Ok(())
}

pub fn not_found_and_unsafe_paths(area: &Path, face: Face) -> TestResult {
    let scratch = Scratch::new_in(area, "paths")?;
    let l = Layout::build(scratch.path(), Variant::B)?;
    let missing = Call::new(&l.root.join("absent"), &l.data, 0);
    expect_status(&face.call(Op::Freeze, &missing), Status::NotFound)?;
    let missing_data = Call::new(&l.dir, &l.root.join("absent"), 0);
    expect_status(&face.call(Op::Verify, &missing_data), Status::NotFound)?;
    let file = Call::new(&l.dir.join("openclaw.json"), &l.data, 0);
    expect_status(&face.call(Op::Freeze, &file), Status::UnsafePath)?;
    let through_file = Call::new(&l.dir.join("openclaw.json/x"), &l.data, 0);
    expect_status(&face.call(Op::Freeze, &through_file), Status::UnsafePath)?;
    std::os::unix::fs::symlink(&l.dir, l.root.join("dir-link"))?;
    let last_is_link = Call::new(&l.root.join("dir-link"), &l.data, 0);
    let out = face.call(Op::Freeze, &last_is_link);
    expect_status(&out, Status::UnsafePath)?;
    ensure!(
        out.summary.contains("symlink"),
        "the summary says which component: {}",
        out.summary
    );
    ensure!(!immutable_flag(&l.dir)?, "nothing pinned through a link");
    Ok(())
}
