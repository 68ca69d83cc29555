//! Third red-team pass, on issues 16 and 17 (contract, version 0.3): fail-closed refusals,
//! hand-back, the state trees. Each test mounts an attack of the threat model and checks the
//! real effect; it fails while the weakness is there.
//!
//! The variant H cases run like `shields_profile`'s: a child process of their own in a
//! private mount namespace, a chroot with a tmpfs `/sandbox` and `/run` and scratch accounts.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use nc_harden::shields::{self, Part};
use nc_harden::{Status, Strategy};
use nc_harden_testkit::{run_as, Creds, Flat, Scratch, SANDBOX_UID};

use super::common::{Call, Face, Op};
use super::shields_profile::{build, load};
use super::TestResult;

const CHILD_VAR: &str = "NC_HARDEN_TEST_REDTEAM3";
const ROOT_VAR: &str = "NC_HARDEN_TEST_REDTEAM3_ROOT";

type CaseResult = Result<(), String>;
type Run = Box<dyn FnOnce(&Path) -> TestResult + Send>;
type Case = (&'static str, fn() -> CaseResult);

macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

fn cases() -> Vec<Case> {
    vec![
        (
            "openclaw::hardlinked_config_in_a_carve_out_stays_writable",
            hardlinked_config_in_a_carve_out,
        ),
        (
            "openclaw::hardlinked_tree_file_stays_writable",
            hardlinked_tree_file,
        ),
        (
            "openclaw::symlink_to_a_carve_out_s_ancestor_is_kept",
            symlink_to_a_carve_out_s_ancestor,
        ),
        (
            "openclaw::symlink_climbing_out_of_a_carve_out_is_kept",
            symlink_climbing_out_of_a_carve_out,
        ),
    ]
}

pub fn trials() -> Vec<(String, Run)> {
    cases()
        .into_iter()
        .map(|(name, _)| {
            let run: Run = Box::new(move |area: &Path| in_child(area, name));
            (format!("redteam3::{name}"), run)
        })
        .collect()
}

fn in_child(area: &Path, name: &str) -> TestResult {
    let scratch = Scratch::new_in(area, "redteam3-h")?;
    let out = Command::new(std::env::current_exe()?)
        .env(CHILD_VAR, name)
        .env(ROOT_VAR, scratch.path())
        .env_remove("RUST_TEST_THREADS")
        .output()?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{name}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    )
    .into())
}

/// Called first thing in `main`: runs one case when this process is a case's child.
pub fn child() {
    super::shields_profile::run_child(CHILD_VAR, ROOT_VAR, cases);
}

/// `freeze --lock-posture --reseal --seal .config-hash` over a flat directory.
fn flat_shields_up(f: &Flat) -> Call {
    let mut call = Call::new(&f.dir, &f.root.join("unused"), 0).with_strategy(Strategy::Auto);
    call.flat = true;
    call.seal = Some(".config-hash".into());
    call.lock_posture = true;
    call.reseal = true;
    call
}

/// Can uid 998 append to `path`? (The write really lands when it can.)
fn sandbox_appends(path: &Path) -> bool {
    let path = path.to_path_buf();
    run_as(Creds::User(SANDBOX_UID), move || {
        fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(b"\n{\"evil\":1}\n"))
    })
    .is_ok()
}

fn sandbox_links(from: &Path, to: &Path) -> io::Result<()> {
    let (from, to) = (from.to_path_buf(), to.to_path_buf());
    run_as(Creds::User(SANDBOX_UID), move || fs::hard_link(&from, &to))
}

fn owner_mode(p: &Path) -> String {
    match fs::symlink_metadata(p) {
        Ok(m) => format!("{}:{} {:04o}", m.uid(), m.gid(), m.mode() & 0o7777),
        Err(e) => e.to_string(),
    }
}

/// Finding 1 (variant H). Before shields up, uid 998 hard-links `openclaw.json` into the
/// session carve-out (`agents/main/sessions`, its own directory, writable by contract). Shields
/// up refuses the config (two links), answers NC_INVALID "locked, not verified ... the sandbox
/// user has lost write access", and leaves `openclaw.json` itself the sandbox user's, 0660:
/// uid 998 rewrites the gateway's config after the "fail-closed" refusal, at every shields up.
fn hardlinked_config_in_a_carve_out() -> CaseResult {
    let dir = build("openclaw").map_err(|e| e.to_string())?;
    let p = load("openclaw");
    let config = dir.join("openclaw.json");
    sandbox_links(&config, &dir.join("agents/main/sessions/cfg.jsonl"))
        .map_err(|e| format!("uid 998 links the config: {e}"))?;
    let r = run_as(Creds::Full, || shields::up(&p, Part::All, false)).map_err(|e| e.to_string())?;
    if r.status == Status::Ok {
        // Accepted only onto a fresh inode of one link, root's 0444.
        let m = fs::symlink_metadata(&config).map_err(|e| e.to_string())?;
        check!(
            (m.uid(), m.mode() & 0o7777, m.nlink()) == (0, 0o444, 1),
            "NC_OK with openclaw.json {} and {} links",
            owner_mode(&config),
            m.nlink()
        );
    }
    let writes = sandbox_appends(&config);
    check!(
        !writes,
        "shields up answered {} ({}), yet uid 998 still writes openclaw.json ({}): \
         the refusal did not fail closed",
        r.status.name(),
        r.summary,
        owner_mode(&config)
    );
    Ok(())
}

/// Finding 2 (variant H). The same with a file of a high-risk state tree: uid 998 hard-links
/// `skills/run.sh` (a skill the agent runs) into its session carve-out; shields up refuses it
/// as "hardlinked-entry ... left as it is" and claims the sandbox user has lost write access,
/// while `skills/run.sh` stays the sandbox user's, 0770, and uid 998 rewrites the skill.
fn hardlinked_tree_file() -> CaseResult {
    let dir = build("openclaw").map_err(|e| e.to_string())?;
    let p = load("openclaw");
    let skill = dir.join("skills/run.sh");
    sandbox_links(&skill, &dir.join("agents/main/sessions/run.jsonl"))
        .map_err(|e| format!("uid 998 links the skill: {e}"))?;
    let r = run_as(Creds::Full, || shields::up(&p, Part::All, false)).map_err(|e| e.to_string())?;
    check!(
        r.status != Status::Ok,
        "shields up answered NC_OK over a hard-linked tree file"
    );
    let writes = sandbox_appends(&skill);
    check!(
        !writes,
        "shields up answered {} ({}), yet uid 998 still writes skills/run.sh ({}): \
         the refusal did not fail closed",
        r.status.name(),
        r.summary,
        owner_mode(&skill)
    );
    Ok(())
}

/// Finding 4 (variant H). Before shields up, uid 998 makes `skills/a` a symlink to
/// `../agents/main`: a target inside the protected trees and not itself in a carve-out, so it
/// is kept, yet the directory it names holds the carve-out `agents/main/sessions`. Shields up
/// answers NC_OK ("locked, sealed and pinned ... holds against the sandbox user"), status
/// answers up, and `skills/a/sessions/run.sh` is a skill under `skills/` that uid 998 writes.
fn symlink_to_a_carve_out_s_ancestor() -> CaseResult {
    let dir = build("openclaw").map_err(|e| e.to_string())?;
    let p = load("openclaw");
    let link = dir.join("skills/a");
    run_as(Creds::User(SANDBOX_UID), || {
        std::os::unix::fs::symlink("../agents/main", &link)
    })
    .map_err(|e| format!("uid 998 plants the link: {e}"))?;
    let r = run_as(Creds::Full, || shields::up(&p, Part::All, false)).map_err(|e| e.to_string())?;
    let planted = run_as(Creds::User(SANDBOX_UID), || {
        fs::write(
            "/sandbox/.openclaw/agents/main/sessions/run.sh",
            b"#!/bin/sh\nevil\n",
        )
    });
    check!(planted.is_ok(), "the carve-out stays writable: {planted:?}");
    let through = dir.join("skills/a/sessions/run.sh");
    let writes = sandbox_appends(&through);
    let status = shields::status(&p).map_err(|e| e.to_string())?;
    check!(
        r.status != Status::Ok || !writes,
        "shields up answered {} ({}) and status {}, yet uid 998 writes skills/a/sessions/run.sh \
         through the kept symlink skills/a -> ../agents/main",
        r.status.name(),
        r.summary,
        status.status.name()
    );
    Ok(())
}

/// Finding 5 (variant H). The symlink check resolves a target lexically, but the kernel
/// resolves `..` after a symlink from where that symlink led. uid 998 plants, before shields
/// up, `skills/b -> ../agents/main/sessions/w/../../agent` (lexically `agents/main/agent`, a
/// protected directory: kept) and, in its carve-out where it may write at any time,
/// `sessions/w -> /tmp/evil/a/b`. After an NC_OK shields up, `skills/b` is
/// `/tmp/evil/agent`: a directory of skills that uid 998 writes.
fn symlink_climbing_out_of_a_carve_out() -> CaseResult {
    let dir = build("openclaw").map_err(|e| e.to_string())?;
    let p = load("openclaw");
    let (link, hop) = (dir.join("skills/b"), dir.join("agents/main/sessions/w"));
    run_as(Creds::User(SANDBOX_UID), || -> io::Result<()> {
        fs::create_dir_all("/tmp/evil/a/b")?;
        fs::create_dir_all("/tmp/evil/agent")?;
        std::os::unix::fs::symlink("../agents/main/sessions/w/../../agent", &link)?;
        std::os::unix::fs::symlink("/tmp/evil/a/b", &hop)
    })
    .map_err(|e| format!("uid 998 plants the links: {e}"))?;
    let r = run_as(Creds::Full, || shields::up(&p, Part::All, false)).map_err(|e| e.to_string())?;
    let writes = run_as(Creds::User(SANDBOX_UID), || {
        fs::write("/sandbox/.openclaw/skills/b/evil.sh", b"#!/bin/sh\nevil\n")
    })
    .is_ok();
    check!(
        r.status != Status::Ok || !writes,
        "shields up answered {} ({}), yet uid 998 writes skills/b/evil.sh (it lands in {})",
        r.status.name(),
        r.summary,
        fs::canonicalize(&link).map_or_else(|e| e.to_string(), |p| p.display().to_string())
    );
    Ok(())
}

/// Finding 3 (variant F). `freeze --lock-posture --reseal --seal .config-hash` over the flat
/// mutable posture in which uid 998 has hard-linked `openclaw.json` to a second name in the
/// directory: NC_INVALID, "the locked posture stays (fail-closed: the sandbox user has lost
/// write access)", and `openclaw.json` is left the sandbox user's, 0660, writable.
pub fn flat_hardlinked_config_stays_writable(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "rt3-flat-link")?;
    let f = Flat::build(scratch.path())?;
    let config = f.dir.join("openclaw.json");
    sandbox_links(&config, &f.dir.join("openclaw.json.bak"))?;
    let call = flat_shields_up(&f);
    let out = Face::Rust.call(Op::Freeze, &call);
    let writes = sandbox_appends(&config);
    let _ = Face::Rust.call(Op::Unfreeze, &call);
    super::ensure!(
        out.status != Status::Ok,
        "shields up answered NC_OK over a hard-linked config"
    );
    super::ensure!(
        !writes,
        "freeze --lock-posture answered {} ({}), yet uid 998 still writes openclaw.json: \
         the refusal did not fail closed",
        out.status.name(),
        out.summary
    );
    Ok(())
}
