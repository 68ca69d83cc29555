//! `nc-harden demo`: the whole story on a layout built in a temporary directory, told step by
//! step, each claim checked against the kernel (flags read back independently, attacks
//! really tried). Everything is removed at the end, flags first, even on failure.

use std::io;
use std::path::Path;

use nc_harden::{HandTo, Policy, Report, Status};
use nc_harden_testkit::creds::{CAP_LINUX_IMMUTABLE, CAP_SYS_ADMIN};
use nc_harden_testkit::{
    immutable_flag, mounts_at, privilege, run_as, Creds, Flat, Layout, Scratch, Tamper, Variant,
    ATTACKS,
};

struct Demo {
    step: usize,
    surprises: usize,
}

impl Demo {
    fn say(&mut self, text: impl AsRef<str>) {
        self.step += 1;
        println!("{:>2}. {}", self.step, text.as_ref());
    }

    fn detail(&self, text: impl AsRef<str>) {
        println!("    {}", text.as_ref());
    }

    fn expect(&mut self, ok: bool, what: &str) {
        if !ok {
            self.surprises += 1;
            println!("    UNEXPECTED: {what}");
        }
    }

    fn report(&mut self, what: &str, report: &Report, expected: Status) {
        self.say(format!("{what}: {}", report.summary()));
        for entry in report.rejected().chain(report.unpinned()).take(5) {
            self.detail(entry.line());
        }
        // What no call can check: against whom each layer in place holds.
        for condition in report.conditions() {
            self.detail(format!("holds: {condition}"));
        }
        self.expect(
            report.status() == expected,
            &format!("expected {}", expected.name()),
        );
    }
}

fn attack_names() -> [&'static str; 3] {
    [
        "repoint_link_by_rename",
        "create_dotfile_link",
        "write_config",
    ]
}

fn try_attacks(demo: &mut Demo, l: &Layout, creds: Creds, should_fail: bool) {
    for name in attack_names() {
        let attack = ATTACKS
            .iter()
            .find(|a| a.name == name)
            .expect("known attack");
        let result = run_as(creds, || (attack.run)(l));
        let told = match &result {
            Ok(()) => "it worked".to_string(),
            Err(e) => format!("refused: {e}"),
        };
        demo.detail(format!("attack {name} as {}: {told}", creds.name()));
        demo.expect(
            result.is_err() == should_fail,
            if should_fail {
                "the attack went through"
            } else {
                "the attack was refused"
            },
        );
    }
}

fn policy(l: &Layout) -> Policy {
    Policy::builder(&l.dir, &l.data)
        .owner(l.owner)
        .require("openclaw.json")
        .build()
        .expect("the demo's own paths are valid")
}

fn show_flags(demo: &mut Demo, dir: &Path) -> io::Result<()> {
    let mut pinned = vec![];
    for path in std::iter::once(dir.to_path_buf()).chain(
        std::fs::read_dir(dir)?
            .map(|e| e.map(|e| e.path()))
            .collect::<io::Result<Vec<_>>>()?,
    ) {
        if immutable_flag(&path)? {
            pinned.push(
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            );
        }
    }
    demo.detail(format!(
        "read back from the kernel: immutable: {}",
        if pinned.is_empty() {
            "nothing".into()
        } else {
            pinned.join(", ")
        }
    ));
    Ok(())
}

fn show_mounts(demo: &mut Demo, dir: &Path) -> io::Result<()> {
    let mounts = mounts_at(dir)?;
    let said = match mounts.last() {
        Some(m) => format!("mounted on itself, {}", m.options),
        None => "not a mount point".to_string(),
    };
    demo.detail(format!(
        "read back from the mount table: the directory is {said}"
    ));
    Ok(())
}

fn story(demo: &mut Demo, root: &Path) -> io::Result<()> {
    let l = Layout::build(root, Variant::B)?;
    let names = l.entry_names()?;
    let links = names.iter().filter(|n| l.dir.join(n).is_symlink()).count();
    demo.say(format!(
        "built {} with {links} symlinks into {} and {} regular files",
        l.dir.display(),
        l.data.display(),
        names.len() - links
    ));
    let p = policy(&l);
    if let Some(why) = privilege::missing() {
        demo.detail(format!(
            "{why}: nc-harden still validates everything, but pinning needs root with"
        ));
        demo.detail("CAP_LINUX_IMMUTABLE. Run it as root to see the freeze hold.");
        let report = Report::from_result(
            nc_harden::Operation::Freeze,
            p.dir(),
            p.validate_and_freeze(),
        );
        demo.report("freeze", &report, Status::NoCapability);
        let report = Report::from_result(nc_harden::Operation::Verify, p.dir(), p.verify());
        demo.report("verify", &report, Status::NotFrozen);
    } else {
        let report = Report::from_result(
            nc_harden::Operation::Freeze,
            p.dir(),
            p.validate_and_freeze(),
        );
        demo.report("freeze", &report, Status::Ok);
        show_flags(demo, &l.dir)?;
        demo.say("an attacker (root inside the container, without CAP_LINUX_IMMUTABLE and CAP_SYS_ADMIN) tries:");
        try_attacks(
            demo,
            &l,
            Creds::RootWithout(&[CAP_LINUX_IMMUTABLE, CAP_SYS_ADMIN]),
            true,
        );
        let report = Report::from_result(nc_harden::Operation::Verify, p.dir(), p.verify());
        demo.report("verify", &report, Status::Ok);
        let report = Report::from_result(nc_harden::Operation::Unfreeze, p.dir(), p.unfreeze());
        demo.report("unfreeze", &report, Status::Ok);
        show_flags(demo, &l.dir)?;
        demo.say("the same attacks once unfrozen (so it was the freeze that stopped them):");
        try_attacks(
            demo,
            &l,
            Creds::RootWithout(&[CAP_LINUX_IMMUTABLE, CAP_SYS_ADMIN]),
            false,
        );
        std::fs::remove_file(l.dir.join(".evil"))?;
        std::fs::remove_file(l.dir.join("hooks"))?;
        l.link("hooks")?;

        demo.say("as container runtimes start the launcher: root without CAP_LINUX_IMMUTABLE, with CAP_SYS_ADMIN");
        let launcher = Creds::RootWithout(&[CAP_LINUX_IMMUTABLE]);
        let report = run_as(launcher, || {
            Report::from_result(
                nc_harden::Operation::Freeze,
                p.dir(),
                p.validate_and_freeze(),
            )
        });
        demo.report(
            "freeze (AUTO: the flag is refused, a read-only bind mount pins instead)",
            &report,
            Status::Ok,
        );
        show_mounts(demo, &l.dir)?;
        try_attacks(
            demo,
            &l,
            Creds::RootWithout(&[CAP_LINUX_IMMUTABLE, CAP_SYS_ADMIN]),
            true,
        );
        let report = run_as(launcher, || {
            Report::from_result(nc_harden::Operation::Unfreeze, p.dir(), p.unfreeze())
        });
        demo.report("unfreeze", &report, Status::Ok);
        show_mounts(demo, &l.dir)?;
    }
    Tamper::DotfileLinkElsewhere.apply(&l)?;
    demo.say("a dotfile link that the shell glob never saw: .evil -> /etc");
    let report = Report::from_result(
        nc_harden::Operation::Freeze,
        p.dir(),
        p.validate_and_freeze(),
    );
    demo.report("freeze", &report, Status::Invalid);
    show_flags(demo, &l.dir)?;
    Ok(())
}

/// Shields up and down on NemoClaw's flat directory (variant F), as its config guard does
/// them, in one process: lock the posture, reseal, pin; a write fails, `sha256sum -c` passes,
/// a descriptor opened before changes nothing; shields down hands it back.
fn shields(demo: &mut Demo, root: &Path) -> io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let f = Flat::build(root)?;
    let posture = |path: &Path| -> String {
        std::fs::symlink_metadata(path)
            .map(|m| {
                format!(
                    "uid {} mode {:04o}",
                    m.uid(),
                    m.permissions().mode() & 0o7777
                )
            })
            .unwrap_or_else(|e| e.to_string())
    };
    let config = f.dir.join("openclaw.json");
    demo.say(format!(
        "built NemoClaw's flat directory {} in the mutable default: {}; openclaw.json {}",
        f.dir.display(),
        posture(&f.dir),
        posture(&config)
    ));
    if privilege::missing().is_some() {
        demo.detail(
            "shields up needs root (the posture is root's); run the demo as root to see it",
        );
        return Ok(());
    }
    let held = run_as(Creds::User(f.sandbox), || {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&config)
    })?;
    demo.detail("the sandbox user opens openclaw.json for writing, before the shields go up");
    let up = Policy::flat(&f.dir)
        .seal(".config-hash")
        .reseal(true)
        .lock_posture(true)
        .build()
        .expect("the demo's own paths are valid");
    let report = Report::from_result(
        nc_harden::Operation::Freeze,
        up.dir(),
        up.validate_and_freeze(),
    );
    demo.report(
        "shields up (--lock-posture --reseal --seal .config-hash)",
        &report,
        Status::Ok,
    );
    demo.detail(format!(
        "the path now shows: the directory {}, openclaw.json {} (a fresh inode)",
        posture(&f.dir),
        posture(&config)
    ));
    let checked = std::process::Command::new("sha256sum")
        .args(["-c", ".config-hash"])
        .current_dir(&f.dir)
        .output();
    let passed = checked.as_ref().is_ok_and(|o| o.status.success());
    demo.detail(format!(
        "sha256sum -c .config-hash: {}",
        if passed { "OK" } else { "FAILED" }
    ));
    demo.expect(passed, "sha256sum -c accepts the seal nc-harden wrote");
    let before = std::fs::read(&config)?;
    let mut held = held;
    let _ = std::io::Write::write_all(&mut held, b"{\"evil\":1}");
    let unchanged = std::fs::read(&config)? == before;
    demo.detail(format!(
        "a write through the descriptor opened before: the path {}",
        if unchanged {
            "shows the same bytes"
        } else {
            "CHANGED"
        }
    ));
    demo.expect(
        unchanged,
        "a descriptor from before the shields changed the path",
    );
    let denied = run_as(
        Creds::RootWithout(&[CAP_LINUX_IMMUTABLE, CAP_SYS_ADMIN]),
        || std::fs::write(&config, b"{}"),
    );
    demo.detail(format!(
        "root without CAP_LINUX_IMMUTABLE and CAP_SYS_ADMIN writes openclaw.json: {}",
        match &denied {
            Ok(()) => "it worked".to_string(),
            Err(e) => format!("refused: {e}"),
        }
    ));
    demo.expect(denied.is_err(), "the write went through");
    let status = Policy::flat(&f.dir)
        .seal(".config-hash")
        .build()
        .expect("valid");
    let report = Report::from_result(nc_harden::Operation::Verify, status.dir(), status.verify());
    demo.report(
        "are the shields up? (verify --seal .config-hash)",
        &report,
        Status::Ok,
    );
    let down = Policy::flat(&f.dir)
        .hand_to(HandTo {
            uid: Some(f.sandbox),
            gid: Some(f.sandbox),
            dir_mode: Some(0o2770),
            file_mode: Some(0o660),
        })
        .build()
        .expect("valid");
    let report = Report::from_result(nc_harden::Operation::Unfreeze, down.dir(), down.unfreeze());
    demo.report(
        "shields down (unfreeze --hand-to 998:998 --dir-mode 2770 --file-mode 0660)",
        &report,
        Status::Ok,
    );
    let wrote = run_as(Creds::User(f.sandbox), || {
        std::fs::write(&config, b"{\"edited\":1}\n")
    });
    demo.detail(format!(
        "the sandbox user edits openclaw.json: {}",
        match &wrote {
            Ok(()) => "it works".to_string(),
            Err(e) => format!("refused: {e}"),
        }
    ));
    demo.expect(
        wrote.is_ok(),
        "after shields down the sandbox user could not write",
    );
    Ok(())
}

pub fn run() -> u8 {
    let mut demo = Demo {
        step: 0,
        surprises: 0,
    };
    println!("nc-harden demo: a NemoClaw-shaped layout in a temporary directory");
    // The demo's mounts stay inside a mount namespace of its own.
    if privilege::missing().is_none() {
        if let Err(e) = privilege::enter_private_mount_namespace() {
            println!("(no private mount namespace: {e}; its mounts are taken off at the end all the same)");
        }
    }
    let result = Scratch::new("demo").and_then(|scratch| {
        let links = scratch.path().join("links");
        let flat = scratch.path().join("flat");
        std::fs::create_dir(&links)?;
        std::fs::create_dir(&flat)?;
        let outcome = story(&mut demo, &links).and_then(|()| {
            println!();
            println!("NemoClaw's shields: the flat directory, its posture and its seal");
            shields(&mut demo, &flat)
        });
        let path = scratch.path().to_path_buf();
        drop(scratch);
        demo.say(format!("removed {} (flags cleared first)", path.display()));
        outcome
    });
    match result {
        Err(e) => {
            println!("demo failed: {e}");
            1
        }
        Ok(()) if demo.surprises > 0 => {
            println!("{} unexpected results", demo.surprises);
            1
        }
        Ok(()) => {
            println!("every step behaved as the contract says");
            0
        }
    }
}
