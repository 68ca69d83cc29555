//! Shields over a profile (contract, version 0.3): the layout NemoClaw ships now (variant H)
//! at its real path. Each case runs in a child process of its own: a private mount namespace,
//! a tmpfs root holding bind mounts of the machine's directories, a tmpfs on `/sandbox` and
//! on `/run`, `/etc/passwd` and `/etc/group` replaced by scratch copies that hold `sandbox`
//! (uid 998) and `gateway` (a member of group sandbox); then a chroot into it. Nothing is
//! mounted or created outside the scratch directory. Effects are read back: owners, modes,
//! inode numbers, flags, and writes by uid 998 that fail or work. Among the cases, the
//! red-team attacks on the carve-outs, each kept as the attack that once got through: a
//! config or a tree file hard-linked into one, a symlink to a carve-out's ancestor, a symlink
//! that climbs out of one.

use std::ffi::CString;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use nc_harden::profile::{Accounts, Profile};
use nc_harden::shields::{self, IssueCode, Part, ShieldsReport, State};
use nc_harden::Status;
use nc_harden_testkit::creds::{CAP_LINUX_IMMUTABLE, CAP_SYS_ADMIN};
use nc_harden_testkit::{immutable_flag, run_as, Creds, Scratch, SANDBOX_UID};

use super::{FsKind, TestResult, Trial};

/// The child's variables: the case, and the scratch directory its world is built in.
pub const CHILD_VAR: &str = "NC_HARDEN_TEST_SHIELDS_H";
const ROOT_VAR: &str = "NC_HARDEN_TEST_SHIELDS_ROOT";

const GATEWAY_UID: u32 = 997;
const NO_IMMUTABLE: Creds = Creds::RootWithout(&[CAP_LINUX_IMMUTABLE]);
/// Docker's default set lacks these (and more that nc-harden never uses).
const DOCKER: Creds = Creds::RootWithout(&[
    CAP_LINUX_IMMUTABLE,
    CAP_SYS_ADMIN,
    2,  // CAP_DAC_READ_SEARCH
    28, // CAP_LEASE
    19, // CAP_SYS_PTRACE
    12, // CAP_NET_ADMIN
]);

pub(super) type CaseResult = Result<(), String>;
pub(super) type Case = (&'static str, fn() -> CaseResult);
type Run = Box<dyn FnOnce(&Path) -> TestResult + Send>;

macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// Every case, by name: what `trials` registers and the child runs.
pub fn cases() -> Vec<Case> {
    vec![
        ("openclaw::full::up_status_down", || {
            cycle("openclaw", Creds::Full, Status::Ok)
        }),
        ("openclaw::no_immutable::up_status_down", || {
            cycle("openclaw", NO_IMMUTABLE, Status::NoCapability)
        }),
        ("openclaw::docker_default::up_status_down", || {
            cycle("openclaw", DOCKER, Status::NoCapability)
        }),
        ("hermes::full::up_status_down", || {
            cycle("hermes", Creds::Full, Status::Ok)
        }),
        ("hermes::no_immutable::up_status_down", || {
            cycle("hermes", NO_IMMUTABLE, Status::NoCapability)
        }),
        ("hermes::docker_default::up_status_down", || {
            cycle("hermes", DOCKER, Status::NoCapability)
        }),
        (
            "openclaw::attacks_in_the_trees_fail_closed",
            attacks_in_the_trees_fail_closed,
        ),
        (
            "openclaw::root_only_config_is_never_widened",
            root_only_config_is_never_widened,
        ),
        (
            "openclaw::unsealed_file_refused_unless_reseal",
            unsealed_file_refused_unless_reseal,
        ),
        (
            "openclaw::a_seal_larger_than_is_read_is_never_written",
            a_seal_too_large_is_never_written,
        ),
        (
            "openclaw::non_directory_roots_are_quarantined",
            non_directory_roots_are_quarantined,
        ),
        (
            "openclaw::over_budget_refused_before_any_tree_changes",
            over_budget,
        ),
        (
            "openclaw::guard_locked_tree_without_record",
            guard_locked_tree_without_record,
        ),
        ("openclaw::two_calls_at_once_serialize", two_calls_at_once),
        (
            "openclaw::tampered_locked_config_is_neither",
            tampered_locked_config_is_neither,
        ),
        ("openclaw::tree_of_1000_entries", || big_tree(1_000)),
        ("openclaw::tree_of_100000_entries", || big_tree(99_000)),
        (
            "openclaw::syscalls_per_tree_entry",
            super::budget::shields_tree_entries,
        ),
        ("openclaw::kill_points_converge", kill_points_converge),
        ("openclaw::c_abi::up_status_down", c_abi_cycle),
        ("openclaw::the_two_halves_as_nemoclaw_runs_them", two_halves),
        (
            "openclaw::tree_cycles_keep_the_record_bounded",
            tree_cycles_keep_the_record_bounded,
        ),
        (
            "openclaw::renames_racing_the_walk_never_redirect_it",
            renames_race_the_walk,
        ),
        (
            "openclaw::dir_swapped_in_a_loop_during_shields_up",
            dir_swapped_during_up,
        ),
        (
            "openclaw::a_writable_mapping_from_before_is_revoked",
            writable_mapping_revoked,
        ),
        (
            "openclaw::a_mode_set_before_the_chown_is_set_again_cli",
            mode_set_before_the_chown,
        ),
        (
            "openclaw::a_writer_writing_without_pause_keeps_no_name_cli",
            || held_writer_keeps_no_name(0),
        ),
        (
            "openclaw::a_writer_writing_every_20_ms_keeps_no_name_cli",
            || held_writer_keeps_no_name(20),
        ),
        (
            "openclaw::special_files_swapped_in_during_the_walk_are_never_opened",
            special_files_swapped_in_during_the_walk,
        ),
        (
            "openclaw::a_file_named_like_a_temporary_is_locked",
            a_file_named_like_a_temporary_is_locked,
        ),
        (
            "openclaw::a_link_made_before_the_chown_is_said_cli",
            a_link_made_before_the_chown_is_said,
        ),
        (
            "openclaw::a_renewed_file_s_other_names_are_given_back_cli",
            a_renewed_file_s_other_names_are_given_back,
        ),
        (
            "openclaw::another_user_s_file_linked_in_is_left_as_it_is",
            another_user_s_file_linked_in_is_left_as_it_is,
        ),
        (
            "openclaw::another_user_s_tree_file_goes_back_to_its_owner",
            another_user_s_tree_file_goes_back_to_its_owner,
        ),
        (
            "openclaw::a_reused_inode_number_is_another_inode",
            a_reused_inode_number_is_another_inode,
        ),
        (
            "openclaw::a_tree_in_the_image_s_lower_layer_is_handed_back",
            a_tree_in_the_image_s_lower_layer_is_handed_back,
        ),
        (
            "openclaw::another_user_s_file_is_not_taken_where_no_identity_holds",
            another_user_s_file_is_not_taken_where_no_identity_holds,
        ),
        (
            "openclaw::a_writable_mapping_from_before_is_revoked_on_overlayfs",
            writable_mapping_revoked_on_overlayfs,
        ),
        (
            "openclaw::a_hard_link_of_the_image_is_split_by_the_copy_up",
            a_hard_link_of_the_image_is_split_by_the_copy_up,
        ),
        (
            "openclaw::a_renewed_file_of_another_owner_goes_back_to_it",
            a_renewed_file_of_another_owner_goes_back_to_it,
        ),
        (
            "openclaw::another_user_s_file_at_the_top_is_refused",
            another_user_s_file_at_the_top_is_refused,
        ),
        (
            "openclaw::a_root_file_with_two_links_is_not_handed_back",
            a_root_file_with_two_links_is_not_handed_back,
        ),
        (
            "openclaw::hardlinked_tree_file_is_handed_back_by_down",
            hardlinked_tree_file_is_handed_back,
        ),
        (
            "openclaw::entries_added_after_the_budget_pass_are_counted_cli",
            entries_added_after_the_budget_pass_are_counted,
        ),
        (
            "openclaw::impostors_of_the_tool_s_names_are_moved_aside",
            impostors_of_the_tool_s_names_are_moved_aside,
        ),
        ("hermes::c_abi::up_status_down", c_abi_cycle_hermes),
        ("launcher::boot_down_up_tampered", launcher_boot),
        ("launcher::docker_default_strict", launcher_docker_strict),
        (
            "launcher::skip_path_sets_status_under_set_u",
            launcher_skip_path,
        ),
        (
            "launcher::verify_seal_answers_down",
            verify_seal_answers_down,
        ),
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

/// Registers every case as a trial that runs it in a child process.
pub fn trials() -> Vec<Trial> {
    cases()
        .into_iter()
        .map(|(name, _)| -> Trial {
            let run: Run = Box::new(move |area: &Path| in_child(area, name));
            (format!("shields_profile::{name}"), FsKind::Tmpfs, run)
        })
        .collect()
}

fn in_child(area: &Path, name: &str) -> TestResult {
    let scratch = Scratch::new_in(area, "variant-h")?;
    let mut cmd = Command::new(std::env::current_exe()?);
    if name.starts_with("launcher::") || name.contains("syscalls") || name.ends_with("_cli") {
        cmd.env("NC_HARDEN", super::common::native::cli_binary()?);
    }
    if name.contains("kill_points") {
        cmd.env(
            "NC_HARDEN_KILL_POINTS_CLI",
            super::common::native::kill_points_cli()?,
        );
    }
    let out = cmd
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
    run_child(CHILD_VAR, ROOT_VAR, cases);
}

/// When `child_var` names a case, this process is that case's child: it enters the variant H
/// namespace under the scratch root `root_var` names, runs the case of `cases` and exits with
/// its verdict. Otherwise it returns.
pub(super) fn run_child(child_var: &str, root_var: &str, cases: fn() -> Vec<Case>) {
    let Some(spec) = std::env::var_os(child_var) else {
        return;
    };
    let name = spec.to_string_lossy().into_owned();
    let root = std::env::var_os(root_var).expect("the scratch root");
    let result = enter(Path::new(&root)).map_err(|e| format!("building the namespace: {e}"));
    let result = result.and_then(|()| {
        let case = cases()
            .into_iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| format!("no case {name}"))?;
        (case.1)()
    });
    match result {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1)
        }
    }
}

fn cpath(p: &Path) -> CString {
    CString::new(p.as_os_str().as_encoded_bytes()).expect("no NUL")
}

fn mount(
    src: &str,
    target: &Path,
    fstype: &str,
    flags: libc::c_ulong,
    data: &str,
) -> io::Result<()> {
    let (src, fstype, data) = (
        CString::new(src).unwrap(),
        CString::new(fstype).unwrap(),
        CString::new(data).unwrap(),
    );
    let target = cpath(target);
    // SAFETY: NUL-terminated strings; the test owns its private namespace.
    let r = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            flags,
            data.as_ptr().cast(),
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The child's world: a private namespace, a tmpfs root with the machine's directories bound
/// in, fresh `/sandbox`, `/run` and `/tmp`, scratch accounts; then chroot.
pub(super) fn enter(scratch: &Path) -> io::Result<()> {
    // SAFETY: a single-threaded child before any thread starts.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
        return Err(io::Error::last_os_error());
    }
    mount(
        "none",
        Path::new("/"),
        "",
        libc::MS_REC | libc::MS_PRIVATE,
        "",
    )?;
    let root = scratch.join("root");
    fs::create_dir(&root)?;
    mount("nc-h-root", &root, "tmpfs", 0, "mode=0755")?;
    let accounts = scratch.join("accounts");
    fs::create_dir(&accounts)?;
    fs::write(
        accounts.join("passwd"),
        format!(
            "root:x:0:0:root:/root:/bin/sh\nsandbox:x:{SANDBOX_UID}:{SANDBOX_UID}::/sandbox:/bin/sh\ngateway:x:{GATEWAY_UID}:{GATEWAY_UID}::/:/bin/sh\n"
        ),
    )?;
    fs::write(
        accounts.join("group"),
        format!("root:x:0:\nsandbox:x:{SANDBOX_UID}:gateway\ngateway:x:{GATEWAY_UID}:\n"),
    )?;
    for entry in fs::read_dir("/")? {
        let entry = entry?;
        let name = entry.file_name();
        let to = root.join(&name);
        let meta = fs::symlink_metadata(entry.path())?;
        if meta.file_type().is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(entry.path())?, &to)?;
            continue;
        }
        if !meta.is_dir() {
            continue;
        }
        fs::create_dir(&to)?;
        match name.to_str() {
            Some("proc") => mount("proc", &to, "proc", 0, "")?,
            Some("run") | Some("sandbox") | Some("tmp") => mount(
                "nc-h",
                &to,
                "tmpfs",
                0,
                if name == "tmp" {
                    "mode=1777"
                } else {
                    "mode=0755"
                },
            )?,
            Some("sys") | Some("lost+found") => {}
            _ => mount(
                &entry.path().to_string_lossy(),
                &to,
                "",
                libc::MS_BIND | libc::MS_REC,
                "",
            )?,
        }
    }
    if !root.join("sandbox").exists() {
        fs::create_dir(root.join("sandbox"))?;
        mount("nc-h", &root.join("sandbox"), "tmpfs", 0, "mode=0755")?;
    }
    for f in ["passwd", "group"] {
        let src = accounts.join(f);
        mount(
            &src.to_string_lossy(),
            &root.join("etc").join(f),
            "",
            libc::MS_BIND,
            "",
        )?;
    }
    // The source tree and the build (the CLI, the launcher) stay where they are, even when
    // they live under a directory the child covers with a tmpfs of its own (a clone in /tmp).
    let exe = std::env::current_exe()?;
    let target = exe.ancestors().nth(3).map(Path::to_path_buf);
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for keep in [Some(manifest), target].into_iter().flatten() {
        let covered = ["/tmp", "/run", "/sandbox"]
            .iter()
            .any(|c| keep.starts_with(c));
        let Ok(rel) = keep.strip_prefix("/") else {
            continue;
        };
        if covered && keep.is_dir() && !root.join(rel).join("Cargo.toml").exists() {
            let to = root.join(rel);
            fs::create_dir_all(&to)?;
            mount(
                &keep.to_string_lossy(),
                &to,
                "",
                libc::MS_BIND | libc::MS_REC,
                "",
            )?;
        }
    }
    std::os::unix::fs::chroot(&root)?;
    std::env::set_current_dir("/")?;
    Ok(())
}

// ---- variant H ----------------------------------------------------------------------------

const OPENCLAW_STATE: [&str; 16] = [
    "agents",
    "extensions",
    "workspace",
    "skills",
    "hooks",
    "identity",
    "devices",
    "canvas",
    "cron",
    "memory",
    "logs",
    "credentials",
    "flows",
    "sandbox",
    "telegram",
    "plugin-runtime-deps",
];

pub(super) fn chown(path: &Path, uid: u32, gid: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))
}

pub(super) fn chmod(path: &Path, mode: u32) -> io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Builds the mutable posture NemoClaw's images ship; returns the directory.
pub(super) fn build(profile: &str) -> io::Result<PathBuf> {
    let s = SANDBOX_UID;
    chown(Path::new("/sandbox"), s, s)?;
    chmod(Path::new("/sandbox"), 0o755)?;
    let (dir, files): (PathBuf, Vec<(&str, &[u8])>) = match profile {
        "hermes" => (
            "/sandbox/.hermes".into(),
            vec![("config.yaml", b"model: x\n"), (".env", b"API_KEY=abc\n")],
        ),
        _ => (
            "/sandbox/.openclaw".into(),
            vec![(
                "openclaw.json",
                b"{\"gateway\":{\"auth\":{\"token\":\"00ff\"}}}\n",
            )],
        ),
    };
    fs::create_dir(&dir)?;
    for t in OPENCLAW_STATE {
        fs::create_dir(dir.join(t))?;
    }
    fs::create_dir_all(dir.join("agents/main/agent"))?;
    fs::create_dir_all(dir.join("agents/main/sessions"))?;
    fs::write(dir.join("agents/main/agent/models.json"), b"{}\n")?;
    fs::write(dir.join("agents/main/sessions/s1.jsonl"), b"{}\n")?;
    fs::write(dir.join("credentials/token"), b"secret\n")?;
    fs::write(dir.join("skills/run.sh"), b"#!/bin/sh\n")?;
    std::os::unix::fs::symlink("../skills/run.sh", dir.join("workspace/run.sh"))?;
    if profile != "hermes" {
        fs::write(dir.join("update-check.json"), b"{}")?;
        fs::write(dir.join("exec-approvals.json"), b"{}")?;
    }
    let mut hash = String::new();
    for (name, bytes) in &files {
        fs::write(dir.join(name), bytes)?;
        hash.push_str(&format!(
            "{}  {}/{name}\n",
            sha256_hex(bytes),
            dir.display()
        ));
    }
    if profile == "hermes" {
        hash.push_str("# nemoclaw-hermes-mcp-state-v1 intended=00 applied=00\n");
    }
    fs::write(dir.join(".config-hash"), hash)?;
    let (dir_mode, file_mode) = if profile == "hermes" {
        (0o3770, 0o640)
    } else {
        (0o2770, 0o660)
    };
    for entry in walk(&dir)? {
        let m = fs::symlink_metadata(&entry)?;
        chown(&entry, s, s)?;
        if m.is_dir() {
            chmod(&entry, 0o2770)?;
        } else if m.is_file() {
            chmod(
                &entry,
                if entry.ends_with("skills/run.sh") {
                    0o770
                } else {
                    0o660
                },
            )?;
        }
    }
    chmod(&dir, dir_mode)?;
    for (name, _) in &files {
        chmod(&dir.join(name), file_mode)?;
    }
    chmod(&dir.join(".config-hash"), file_mode)?;
    Ok(dir)
}

fn walk(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = vec![dir.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        let p = out[i].clone();
        if fs::symlink_metadata(&p)?.is_dir() {
            for e in fs::read_dir(&p)? {
                out.push(e?.path());
            }
        }
        i += 1;
    }
    Ok(out)
}

pub(super) fn load(name: &str) -> Profile {
    Profile::load(name, &Accounts::system().expect("accounts")).expect("profile")
}

fn stat(p: &Path) -> Result<(u32, u32, u32, u64), String> {
    let m = fs::symlink_metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
    Ok((m.uid(), m.gid(), m.mode() & 0o7777, m.ino()))
}

fn expect_posture(p: &Path, uid: u32, gid: u32, mode: u32) -> CaseResult {
    let (u, g, m, _) = stat(p)?;
    check!(
        (u, g, m) == (uid, gid, mode),
        "{}: {u}:{g} {m:04o}, expected {uid}:{gid} {mode:04o}",
        p.display()
    );
    Ok(())
}

/// What uid 998 can do: Ok(()) when the write went through.
fn sandbox_writes(path: &Path) -> bool {
    let path = path.to_path_buf();
    run_as(Creds::User(SANDBOX_UID), move || {
        fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(b"x"))
    })
    .is_ok()
}

fn sandbox_creates(path: &Path) -> bool {
    let path = path.to_path_buf();
    run_as(Creds::User(SANDBOX_UID), move || {
        fs::write(&path, b"planted")
    })
    .is_ok()
}

fn call(
    creds: Creds,
    f: impl FnOnce() -> Result<ShieldsReport, nc_harden::Error> + Send,
) -> Result<ShieldsReport, String> {
    run_as(creds, f).map_err(|e| e.to_string())
}

fn expect(r: &ShieldsReport, status: Status) -> CaseResult {
    check!(
        r.status == status,
        "expected {}, got {} ({}): {}; issues {:?}",
        status.name(),
        r.status.name(),
        r.state.name(),
        r.summary,
        r.issues
    );
    let json: serde_json::Value = serde_json::from_str(&r.to_json()).map_err(|e| e.to_string())?;
    check!(
        json["code"] == status.code(),
        "the JSON says {}",
        json["code"]
    );
    Ok(())
}

// ---- cases --------------------------------------------------------------------------------

/// Mutable → status (down) → up with uid 998 holding descriptors → status → up again
/// (verifies, inodes kept) → down → status: every posture, inode and write read back.
fn cycle(name: &str, creds: Creds, up_status: Status) -> CaseResult {
    let dir = build(name).map_err(|e| e.to_string())?;
    let p = load(name);
    let config = dir.join(if name == "hermes" {
        "config.yaml"
    } else {
        "openclaw.json"
    });
    let agent_file = dir.join("agents/main/agent/models.json");
    let token = dir.join("credentials/token");
    expect(&call(creds, || shields::status(&p))?, Status::NotFrozen)?;
    // uid 998 holds the config and an agent file open for writing from before.
    let (held_config, held_agent) = run_as(Creds::User(SANDBOX_UID), || {
        let o = |p: &Path| fs::OpenOptions::new().read(true).write(true).open(p);
        (o(&config), o(&agent_file))
    });
    let (mut held_config, mut held_agent) = (
        held_config.map_err(|e| e.to_string())?,
        held_agent.map_err(|e| e.to_string())?,
    );
    let (ino_config, ino_agent, ino_token) =
        (stat(&config)?.3, stat(&agent_file)?.3, stat(&token)?.3);
    let before = fs::read(&config).map_err(|e| e.to_string())?;
    let r = call(creds, || shields::up(&p, Part::All, false))?;
    expect(&r, up_status)?;
    let want_state = if up_status == Status::Ok {
        State::Up
    } else {
        State::UpNotPinned
    };
    check!(r.state == want_state, "state {:?}", r.state);
    expect_posture(Path::new("/sandbox"), 0, SANDBOX_UID, 0o1775)?;
    expect_posture(&dir, 0, 0, 0o755)?;
    expect_posture(&config, 0, 0, 0o444)?;
    expect_posture(&dir.join(".config-hash"), 0, 0, 0o444)?;
    expect_posture(&dir.join("agents"), 0, SANDBOX_UID, 0o755)?;
    expect_posture(&agent_file, 0, SANDBOX_UID, 0o640)?;
    expect_posture(&dir.join("skills/run.sh"), 0, SANDBOX_UID, 0o750)?;
    expect_posture(&dir.join("credentials"), 0, 0, 0o700)?;
    expect_posture(&token, 0, 0, 0o600)?;
    expect_posture(
        &dir.join("agents/main/sessions"),
        SANDBOX_UID,
        SANDBOX_UID,
        0o2770,
    )?;
    if name != "hermes" {
        expect_posture(
            &dir.join("update-check.json"),
            SANDBOX_UID,
            SANDBOX_UID,
            0o660,
        )?;
    }
    check!(
        stat(&config)?.3 != ino_config,
        "the config is not on a fresh inode"
    );
    check!(
        stat(&agent_file)?.3 != ino_agent,
        "a file held for writing was not renewed"
    );
    check!(
        stat(&token)?.3 == ino_token,
        "a file nobody held was renewed"
    );
    check!(
        fs::read(&config).map_err(|e| e.to_string())? == before,
        "the bytes changed"
    );
    // The held descriptors write to inodes no path shows.
    held_config
        .write_all(b"tampered")
        .map_err(|e| e.to_string())?;
    held_agent
        .write_all(b"tampered")
        .map_err(|e| e.to_string())?;
    check!(
        fs::read(&config).map_err(|e| e.to_string())? == before,
        "a held descriptor changed the config"
    );
    check!(
        fs::read(&agent_file).map_err(|e| e.to_string())? == b"{}\n",
        "a held descriptor changed the agent file"
    );
    check!(!sandbox_writes(&config), "uid 998 writes the config");
    check!(
        !sandbox_creates(&dir.join("agents/main/agent/new.js")),
        "uid 998 plants agent code"
    );
    check!(
        !sandbox_creates(&dir.join("planted")),
        "uid 998 creates in dir"
    );
    check!(
        sandbox_creates(&dir.join("agents/main/sessions/s2.jsonl")),
        "the sessions carve-out is not writable"
    );
    check!(
        name == "hermes" || sandbox_writes(&dir.join("update-check.json")),
        "update-check.json is no longer the sandbox user's"
    );
    let moved = run_as(Creds::User(SANDBOX_UID), || {
        fs::rename("/sandbox/.openclaw", "/sandbox/moved")
    });
    check!(moved.is_err() || name == "hermes", "uid 998 moves dir away");
    let seal = fs::read_to_string(dir.join(".config-hash")).map_err(|e| e.to_string())?;
    let expected_name = if name == "hermes" {
        format!("{}/config.yaml", dir.display())
    } else {
        "openclaw.json".to_string()
    };
    check!(
        seal.contains(&format!("{}  {expected_name}\n", sha256_hex(&before))),
        "the seal was not written in the profile's form: {seal:?}"
    );
    let pinned = up_status == Status::Ok;
    check!(
        immutable_flag(&config).map_err(|e| e.to_string())? == pinned,
        "the config's flag"
    );
    check!(
        immutable_flag(&dir).map_err(|e| e.to_string())? == pinned,
        "dir's flag"
    );
    check!(
        r.chattr_applied == pinned,
        "chattr_applied {}",
        r.chattr_applied
    );
    // Without the flag but with CAP_SYS_ADMIN: read-only bind mounts over the protected
    // files; root itself cannot write their bytes.
    let mounted = creds == NO_IMMUTABLE;
    check!(
        r.files.iter().all(|f| f.read_only_mount == mounted),
        "read-only mounts: {:?}",
        r.files
            .iter()
            .map(|f| f.read_only_mount)
            .collect::<Vec<_>>()
    );
    if mounted {
        let err = fs::OpenOptions::new().write(true).open(&config).err();
        check!(
            err.as_ref().and_then(io::Error::raw_os_error) == Some(libc::EROFS),
            "root opened the mounted config for writing: {err:?}"
        );
    }
    expect(&call(creds, || shields::status(&p))?, up_status)?;
    let again = call(creds, || shields::up(&p, Part::All, false))?;
    expect(&again, up_status)?;
    let ino_locked = stat(&config)?.3;
    check!(
        stat(&config)?.3 == ino_locked,
        "a second shields up renewed the config"
    );
    let down = call(creds, || shields::down(&p, Part::All))?;
    if up_status == Status::Ok || creds == NO_IMMUTABLE || creds == DOCKER {
        expect(&down, Status::Ok)?;
    }
    expect_posture(Path::new("/sandbox"), SANDBOX_UID, SANDBOX_UID, 0o755)?;
    let (dmode, fmode) = if name == "hermes" {
        (0o3770, 0o640)
    } else {
        (0o2770, 0o660)
    };
    expect_posture(&dir, SANDBOX_UID, SANDBOX_UID, dmode)?;
    expect_posture(&config, SANDBOX_UID, SANDBOX_UID, fmode)?;
    expect_posture(&dir.join("agents"), SANDBOX_UID, SANDBOX_UID, 0o2770)?;
    expect_posture(&agent_file, SANDBOX_UID, SANDBOX_UID, 0o660)?;
    expect_posture(&dir.join("skills/run.sh"), SANDBOX_UID, SANDBOX_UID, 0o770)?;
    expect_posture(&token, SANDBOX_UID, SANDBOX_UID, 0o660)?;
    check!(
        !immutable_flag(&config).map_err(|e| e.to_string())?,
        "a flag stayed"
    );
    check!(
        sandbox_writes(&config),
        "uid 998 cannot write the config after shields down"
    );
    let mounts = fs::read_to_string("/proc/self/mountinfo").map_err(|e| e.to_string())?;
    check!(
        !mounts.contains(&format!("{}/", dir.display())),
        "a mount stayed after shields down: {mounts}"
    );
    expect(&call(creds, || shields::status(&p))?, Status::NotFrozen)?;
    Ok(())
}

/// Hard links, FIFOs, symlinks out of the trees and into the carve-out: shields up locks
/// everything else, refuses them, claims no pin; once they are gone it goes up.
fn attacks_in_the_trees_fail_closed() -> CaseResult {
    let dir = build("openclaw").map_err(|e| e.to_string())?;
    let p = load("openclaw");
    let e = |e: io::Error| e.to_string();
    run_as(Creds::User(SANDBOX_UID), || -> io::Result<()> {
        fs::write("/sandbox/outside", b"x")?;
        fs::hard_link("/sandbox/outside", dir.join("skills/linked"))?;
        std::os::unix::fs::symlink("/etc/shadow", dir.join("hooks/evil"))?;
        std::os::unix::fs::symlink(
            "../agents/main/sessions/s1.jsonl",
            dir.join("memory/into-sessions"),
        )?;
        let fifo = cpath(&dir.join("cron/pipe"));
        // SAFETY: a NUL-terminated path.
        if unsafe { libc::mkfifo(fifo.as_ptr(), 0o660) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    })
    .map_err(e)?;
    let r = super::with_timeout({
        let p = p.clone();
        move || shields::up(&p, Part::All, false)
    })
    .map_err(|e| format!("{e:?}"))?
    .map_err(|e| e.to_string())?;
    expect(&r, Status::Invalid)?;
    check!(
        matches!(r.state, State::LockedNotVerified { .. }),
        "state {:?}",
        r.state
    );
    for code in [
        IssueCode::HardlinkedEntry,
        IssueCode::SymlinkOutsideProtectedRoot,
        IssueCode::SymlinkCrossesCarveOut,
        IssueCode::SpecialEntry,
    ] {
        check!(
            r.issues.iter().any(|i| i.code == code),
            "no {} issue: {:?}",
            code.name(),
            r.issues
        );
    }
    check!(r.summary.contains("locked, not verified"), "{}", r.summary);
    // Fail closed: the locked posture is in place, nothing pinned.
    expect_posture(Path::new("/sandbox"), 0, SANDBOX_UID, 0o1775)?;
    expect_posture(&dir, 0, 0, 0o755)?;
    expect_posture(&dir.join("openclaw.json"), 0, 0, 0o444)?;
    check!(!immutable_flag(&dir).map_err(e)?, "a pin was claimed");
    check!(
        !sandbox_writes(&dir.join("openclaw.json")),
        "uid 998 writes the config"
    );
    check!(
        !sandbox_creates(&dir.join("skills/more")),
        "uid 998 writes a locked tree"
    );
    // The refused entries are left where they are; the outside file's bytes untouched.
    check!(
        fs::symlink_metadata(dir.join("cron/pipe"))
            .map_err(e)?
            .file_type()
            .is_fifo_like(),
        "the FIFO"
    );
    check!(
        fs::read("/sandbox/outside").map_err(e)? == b"x",
        "the outside file changed"
    );
    // Fail-closed: the hard link the sandbox user planted in a tree is its own inode (its
    // other name is outside dir); it keeps no write bit under the locked tree, its read bits
    // as they were (never a widening), and uid 998 writes it through neither name.
    let (owner, mode) = {
        let m = fs::symlink_metadata("/sandbox/outside").map_err(e)?;
        (m.uid(), m.permissions().mode() & 0o7777)
    };
    check!(
        owner == 0 && mode & 0o222 == 0,
        "the planted hard link keeps the sandbox user's write access: uid {owner} mode {mode:o}"
    );
    check!(
        !sandbox_writes(&dir.join("skills/linked")),
        "uid 998 writes the hard-linked tree file"
    );
    expect(
        &shields::status(&p).map_err(|e| e.to_string())?,
        Status::Invalid,
    )?;
    for bad in [
        "skills/linked",
        "hooks/evil",
        "memory/into-sessions",
        "cron/pipe",
    ] {
        fs::remove_file(dir.join(bad)).map_err(e)?;
    }
    expect(
        &shields::up(&p, Part::All, false).map_err(|e| e.to_string())?,
        Status::Ok,
    )?;
    expect(
        &shields::down(&p, Part::All).map_err(|e| e.to_string())?,
        Status::Ok,
    )?;
    Ok(())
}

trait FifoLike {
    fn is_fifo_like(&self) -> bool;
}

impl FifoLike for fs::FileType {
    fn is_fifo_like(&self) -> bool {
        use std::os::unix::fs::FileTypeExt;
        self.is_fifo()
    }
}

/// A root-only 0600 file where the config belongs is refused and left 0600; a root-only file
/// moved into a tree is locked without widening and never handed to the sandbox user.
fn root_only_config_is_never_widened() -> CaseResult {
    let dir = build("openclaw").map_err(|e| e.to_string())?;
    let p = load("openclaw");
    let e = |e: io::Error| e.to_string();
    fs::write(dir.join("workspace/root-only"), b"root secret").map_err(e)?;
    chmod(&dir.join("workspace/root-only"), 0o600).map_err(e)?;
    let config = dir.join("openclaw.json");
    chown(&config, 0, 0).map_err(e)?;
    chmod(&config, 0o600).map_err(e)?;
    // Created in a setgid directory of the sandbox group: root:sandbox 0600.
    let group = stat(&dir.join("workspace/root-only"))?.1;
    let r = shields::up(&p, Part::All, false).map_err(|e| e.to_string())?;
    expect(&r, Status::Invalid)?;
    check!(
        r.issues.iter().any(|i| i.code == IssueCode::RootOnlyFile),
        "{:?}",
        r.issues
    );
    expect_posture(&config, 0, 0, 0o600)?;
    expect_posture(&dir.join("workspace/root-only"), 0, group, 0o600)?;
    chmod(&config, 0o444).map_err(e)?;
    let r = shields::up(&p, Part::All, true).map_err(|e| e.to_string())?;
    expect(&r, Status::Ok)?;
    let r = shields::down(&p, Part::All).map_err(|e| e.to_string())?;
    expect_posture(&dir.join("workspace/root-only"), 0, group, 0o600)?;
    check!(
        r.issues
            .iter()
            .any(|i| i.code == IssueCode::NotHandedBack && i.path == b"workspace/root-only"),
        "{:?}",
        r.issues
    );
    check!(
        !sandbox_writes(&dir.join("workspace/root-only")),
        "the root-only file was handed over"
    );
    Ok(())
}

/// A file added while the shields were down and not named by the seal: reported, shields up
/// refuses it; `--reseal` seals its bytes and goes up.
fn unsealed_file_refused_unless_reseal() -> CaseResult {
    let dir = build("openclaw").map_err(|e| e.to_string())?;
    let p = load("openclaw");
    let extra = dir.join("extra.json");
    run_as(Creds::User(SANDBOX_UID), || {
        fs::write(&extra, b"{\"new\":1}")
    })
    .map_err(|e| e.to_string())?;
    let r = shields::up(&p, Part::All, false).map_err(|e| e.to_string())?;
    expect(&r, Status::Invalid)?;
    check!(
        r.issues
            .iter()
            .any(|i| i.code == IssueCode::UnsealedFile && i.path == b"extra.json"),
        "{:?}",
        r.issues
    );
    expect_posture(&extra, 0, 0, 0o444)?;
    let s = shields::status(&p).map_err(|e| e.to_string())?;
    expect(&s, Status::Invalid)?;
    check!(
        s.seal
            .as_ref()
            .is_some_and(|s| s.unsealed == vec![b"extra.json".to_vec()]),
        "{:?}",
        s.seal
    );
    let r = shields::up(&p, Part::All, true).map_err(|e| e.to_string())?;
    expect(&r, Status::Ok)?;
    let seal = fs::read_to_string(dir.join(".config-hash")).map_err(|e| e.to_string())?;
    check!(
        seal.contains("  extra.json\n") && seal.contains("  openclaw.json\n"),
        "{seal}"
    );
    check!(
        immutable_flag(&extra).map_err(|e| e.to_string())?,
        "extra.json not pinned"
    );
    Ok(())
}

/// 250 files with long names added while the shields were down: a seal of them all would be
/// more than the 64 KiB a seal is read to. `--reseal` writes none (it would read back as
/// malformed on every call after), says so, and leaves the old seal's bytes; the files are
/// locked all the same (fail closed) and status tells which are unsealed. Once they are
/// gone, `--reseal` goes up: nothing was left that keeps the directory from verifying.
fn a_seal_too_large_is_never_written() -> CaseResult {
    let dir = build("openclaw").map_err(|e| e.to_string())?;
    let p = load("openclaw");
    let e = |e: io::Error| e.to_string();
    let seal = dir.join(".config-hash");
    let before = fs::read(&seal).map_err(e)?;
    let names: Vec<PathBuf> = (0..250)
        .map(|i| dir.join(format!("{i:03}{}.json", "x".repeat(200))))
        .collect();
    run_as(Creds::User(SANDBOX_UID), || -> io::Result<()> {
        for n in &names {
            fs::write(n, b"{}")?;
        }
        Ok(())
    })
    .map_err(e)?;
    let r = shields::up(&p, Part::All, true).map_err(|e| e.to_string())?;
    expect(&r, Status::Invalid)?;
    check!(
        r.issues
            .iter()
            .any(|i| i.code == IssueCode::InvalidConfigHash
                && i.path == b".config-hash"
                && i.detail.contains("64 KiB")
                && i.detail.contains("not written")),
        "{:?}",
        r.issues
    );
    check!(
        fs::read(&seal).map_err(e)? == before,
        "the seal was rewritten"
    );
    let left: Vec<String> = fs::read_dir(&dir)
        .map_err(e)?
        .filter_map(|d| d.ok())
        .map(|d| d.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".nc-harden"))
        .collect();
    check!(left.is_empty(), "left behind: {left:?}");
    check!(!sandbox_writes(&names[0]), "an unsealed file is writable");
    let s = shields::status(&p).map_err(|e| e.to_string())?;
    expect(&s, Status::Invalid)?;
    check!(
        s.seal.as_ref().is_some_and(|s| s.unsealed.len() == 250
            && !s.problem.as_deref().unwrap_or("").contains("malformed")),
        "{:?}",
        s.seal
    );
    let r = shields::down(&p, Part::All).map_err(|e| e.to_string())?;
    expect(&r, Status::Ok)?;
    run_as(Creds::User(SANDBOX_UID), || -> io::Result<()> {
        for n in &names {
            fs::remove_file(n)?;
        }
        Ok(())
    })
    .map_err(e)?;
    let r = shields::up(&p, Part::All, true).map_err(|e| e.to_string())?;
    expect(&r, Status::Ok)?;
    let s = shields::status(&p).map_err(|e| e.to_string())?;
    expect(&s, Status::Ok)
}

/// A file, a symlink and a FIFO where tree roots belong are moved into a root-only
/// quarantine (never deleted, never followed); shields up goes through.
fn non_directory_roots_are_quarantined() -> CaseResult {
    let dir = build("openclaw").map_err(|e| e.to_string())?;
    let p = load("openclaw");
    let e = |e: io::Error| e.to_string();
    fs::remove_dir_all(dir.join("skills")).map_err(e)?;
    fs::remove_dir_all(dir.join("hooks")).map_err(e)?;
    run_as(Creds::User(SANDBOX_UID), || -> io::Result<()> {
        fs::write(dir.join("skills"), b"not a dir")?;
        std::os::unix::fs::symlink("/etc", dir.join("hooks"))
    })
    .map_err(e)?;
    let r = shields::up(&p, Part::All, false).map_err(|e| e.to_string())?;
    expect(&r, Status::Ok)?;
    check!(r.quarantined.len() == 2, "{:?}", r.quarantined);
    for (from, to) in &r.quarantined {
        let to = dir.join(String::from_utf8_lossy(to).as_ref());
        check!(
            fs::symlink_metadata(&to).is_ok(),
            "{} is gone",
            String::from_utf8_lossy(from)
        );
        let q = to.parent().unwrap();
        expect_posture(q, 0, 0, 0o700)?;
    }
    check!(
        !dir.join("skills").exists() && fs::symlink_metadata(dir.join("hooks")).is_err(),
        "still there"
    );
    check!(stat(Path::new("/etc"))?.0 == 0, "the link's target changed");
    Ok(())
}

/// Over the entry budget: refused with the reason before any tree changes; dir stays
/// clamped root-only (fail closed).
fn over_budget() -> CaseResult {
    let dir = build("openclaw").map_err(|e| e.to_string())?;
    let text = nc_harden::profile::BUILTIN[0]
        .1
        .replace("entries = 100000", "entries = 10");
    let p = Profile::parse(&text, &Accounts::system().map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    for i in 0..20 {
        fs::write(dir.join(format!("workspace/f{i}")), b"x").map_err(|e| e.to_string())?;
        chown(
            &dir.join(format!("workspace/f{i}")),
            SANDBOX_UID,
            SANDBOX_UID,
        )
        .map_err(|e| e.to_string())?;
    }
    let f0 = stat(&dir.join("workspace/f0"))?;
    let r = shields::up(&p, Part::All, false).map_err(|e| e.to_string())?;
    expect(&r, Status::Invalid)?;
    check!(
        r.issues.iter().any(|i| i.code == IssueCode::WorkEntryLimit),
        "{:?}",
        r.issues
    );
    expect_posture(&dir, 0, 0, 0o700)?;
    check!(
        stat(&dir.join("workspace/f0"))? == f0,
        "a tree entry changed"
    );
    expect_posture(&dir.join("agents"), SANDBOX_UID, SANDBOX_UID, 0o2770)?;
    check!(
        !sandbox_writes(&dir.join("openclaw.json")),
        "uid 998 writes the config"
    );
    Ok(())
}

/// A tree locked by another tool (NemoClaw's guards: no record of nc-harden's): shields down
/// hands back only what is exactly in the locked posture, root's, one link.
fn guard_locked_tree_without_record() -> CaseResult {
    let dir = build("openclaw").map_err(|e| e.to_string())?;
    let p = load("openclaw");
    let e = |e: io::Error| e.to_string();
    // The guard's lock, by hand.
    chown(Path::new("/sandbox"), 0, SANDBOX_UID).map_err(e)?;
    chmod(Path::new("/sandbox"), 0o1775).map_err(e)?;
    for entry in walk(&dir.join("agents")).map_err(e)? {
        if entry.starts_with(dir.join("agents/main/sessions")) {
            continue;
        }
        let m = fs::symlink_metadata(&entry).map_err(e)?;
        chown(&entry, 0, SANDBOX_UID).map_err(e)?;
        chmod(&entry, if m.is_dir() { 0o755 } else { 0o640 }).map_err(e)?;
    }
    fs::write(dir.join("agents/main/agent/root-only"), b"k").map_err(e)?;
    chmod(&dir.join("agents/main/agent/root-only"), 0o600).map_err(e)?;
    for f in ["openclaw.json", ".config-hash"] {
        chown(&dir.join(f), 0, 0).map_err(e)?;
        chmod(&dir.join(f), 0o444).map_err(e)?;
    }
    chown(&dir, 0, 0).map_err(e)?;
    chmod(&dir, 0o755).map_err(e)?;
    let r = shields::down(&p, Part::All).map_err(|e| e.to_string())?;
    expect_posture(
        &dir.join("agents/main/agent/models.json"),
        SANDBOX_UID,
        SANDBOX_UID,
        0o660,
    )?;
    expect_posture(&dir.join("agents"), SANDBOX_UID, SANDBOX_UID, 0o2770)?;
    expect_posture(&dir.join("agents/main/agent/root-only"), 0, 0, 0o600)?;
    check!(
        r.issues.iter().any(|i| i.code == IssueCode::NotHandedBack),
        "{:?}",
        r.issues
    );
    expect_posture(&dir, SANDBOX_UID, SANDBOX_UID, 0o2770)?;
    expect_posture(Path::new("/sandbox"), SANDBOX_UID, SANDBOX_UID, 0o755)?;
    Ok(())
}

/// Two shields calls at once: one lock, one after the other; both answer, the end is up.
fn two_calls_at_once() -> CaseResult {
    build("openclaw").map_err(|e| e.to_string())?;
    let p = load("openclaw");
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let p = p.clone();
            std::thread::spawn(move || shields::up(&p, Part::All, false))
        })
        .collect();
    for t in threads {
        let r = t
            .join()
            .map_err(|_| "a call panicked")?
            .map_err(|e| e.to_string())?;
        expect(&r, Status::Ok)?;
    }
    expect(&shields::status(&p).map_err(|e| e.to_string())?, Status::Ok)?;
    Ok(())
}

/// Root rewrites the locked config (chmod, write, chmod back): the seal no longer holds;
/// status says neither, and shields up refuses (fail closed) until --reseal.
fn tampered_locked_config_is_neither() -> CaseResult {
    let dir = build("openclaw").map_err(|e| e.to_string())?;
    let p = load("openclaw");
    expect(
        &run_as(DOCKER, || shields::up(&p, Part::All, false)).map_err(|e| e.to_string())?,
        Status::NoCapability,
    )?;
    let config = dir.join("openclaw.json");
    chmod(&config, 0o644).map_err(|e| e.to_string())?;
    fs::write(&config, b"{\"evil\":true}").map_err(|e| e.to_string())?;
    chmod(&config, 0o444).map_err(|e| e.to_string())?;
    let s = shields::status(&p).map_err(|e| e.to_string())?;
    expect(&s, Status::Invalid)?;
    check!(matches!(s.state, State::Neither { .. }), "{:?}", s.state);
    let r = shields::up(&p, Part::All, false).map_err(|e| e.to_string())?;
    expect(&r, Status::Invalid)?;
    check!(
        r.issues
            .iter()
            .any(|i| i.code == IssueCode::ConfigHashMismatch),
        "{:?}",
        r.issues
    );
    expect(
        &shields::up(&p, Part::All, true).map_err(|e| e.to_string())?,
        Status::Ok,
    )?;
    Ok(())
}

/// A tree of `n` entries locks and unlocks, entry by entry.
fn big_tree(n: usize) -> CaseResult {
    let dir = build("openclaw").map_err(|e| e.to_string())?;
    let p = load("openclaw");
    let e = |e: io::Error| e.to_string();
    let root = dir.join("workspace");
    let per_dir = 1000;
    for d in 0..n.div_ceil(per_dir) {
        let sub = root.join(format!("d{d}"));
        fs::create_dir(&sub).map_err(e)?;
        chown(&sub, SANDBOX_UID, SANDBOX_UID).map_err(e)?;
        chmod(&sub, 0o2770).map_err(e)?;
        for f in 0..per_dir.min(n - d * per_dir) {
            let file = sub.join(format!("f{f}"));
            fs::write(&file, b"").map_err(e)?;
            chown(&file, SANDBOX_UID, SANDBOX_UID).map_err(e)?;
            chmod(&file, 0o660).map_err(e)?;
        }
    }
    let start = std::time::Instant::now();
    let r = shields::up(&p, Part::All, false).map_err(|e| e.to_string())?;
    let up_time = start.elapsed();
    expect(&r, Status::Ok)?;
    let ws = r
        .trees
        .iter()
        .find(|t| t.name == b"workspace")
        .ok_or("no workspace tree")?;
    check!(
        ws.counts.files as usize == n,
        "{} files counted",
        ws.counts.files
    );
    for entry in walk(&root).map_err(e)? {
        if fs::symlink_metadata(&entry)
            .map_err(e)?
            .file_type()
            .is_symlink()
        {
            continue;
        }
        let (u, _, m, _) = stat(&entry)?;
        check!(
            u == 0 && m & 0o022 == 0,
            "{} is {u} {m:04o} after shields up",
            entry.display()
        );
    }
    let start = std::time::Instant::now();
    let r = shields::down(&p, Part::All).map_err(|e| e.to_string())?;
    let down_time = start.elapsed();
    expect(&r, Status::Ok)?;
    for entry in walk(&root).map_err(e)? {
        if fs::symlink_metadata(&entry)
            .map_err(e)?
            .file_type()
            .is_symlink()
        {
            continue;
        }
        let (u, g, m, _) = stat(&entry)?;
        let want = if fs::symlink_metadata(&entry).map_err(e)?.is_dir() {
            0o2770
        } else {
            0o660
        };
        check!(
            (u, g, m) == (SANDBOX_UID, SANDBOX_UID, want),
            "{} is {u}:{g} {m:04o} after shields down",
            entry.display()
        );
    }
    eprintln!("tree of {n}: up {up_time:?}, down {down_time:?}");
    Ok(())
}

/// Shields up and down killed (SIGKILL) at every step: the sandbox user never gains write
/// access it did not have, and the next call converges.
fn kill_points_converge() -> CaseResult {
    let exe = std::env::var_os("NC_HARDEN_KILL_POINTS_CLI").ok_or("no kill-points CLI")?;
    let p = load("openclaw");
    let dir = PathBuf::from("/sandbox/.openclaw");
    let mut killed_any = false;
    for op in ["up", "down"] {
        for n in 1..400 {
            if dir.exists() {
                nc_harden_testkit::fs::clear_immutable_tree(&dir).map_err(|e| e.to_string())?;
                fs::remove_dir_all(&dir).map_err(|e| e.to_string())?;
            }
            let _ = fs::remove_dir_all("/run/nc-harden");
            build("openclaw").map_err(|e| e.to_string())?;
            if op == "down" {
                expect(
                    &shields::up(&p, Part::All, false).map_err(|e| e.to_string())?,
                    Status::Ok,
                )?;
            }
            let out = Command::new(&exe)
                .args(["shields", op])
                .env("NC_HARDEN_KILL_AT", n.to_string())
                .output()
                .map_err(|e| e.to_string())?;
            let killed =
                std::os::unix::process::ExitStatusExt::signal(&out.status) == Some(libc::SIGKILL);
            if !killed {
                break;
            }
            killed_any = true;
            // Whatever step it died at: nothing root owns is writable by the sandbox user's
            // group or by others, and the config is never the sandbox user's and root's at once.
            for entry in walk(&dir).map_err(|e| e.to_string())? {
                let (u, _, m, _) = stat(&entry)?;
                check!(
                    u != 0 || m & 0o022 == 0,
                    "{op} killed at {n}: {} is root's and {m:04o}",
                    entry.display()
                );
            }
            let again = if op == "up" {
                shields::up(&p, Part::All, false)
            } else {
                shields::down(&p, Part::All)
            }
            .map_err(|e| e.to_string())?;
            let want = Status::Ok;
            check!(
                again.status == want,
                "{op} killed at {n}, then {op} again: {} {:?}",
                again.summary,
                again.issues
            );
        }
    }
    check!(killed_any, "no kill point was reached");
    Ok(())
}

fn c_abi_cycle_hermes() -> CaseResult {
    c_abi("hermes", c"hermes")
}

fn c_abi_cycle() -> CaseResult {
    c_abi("openclaw", c"openclaw")
}

/// The same transitions through the C ABI: statuses, states, JSON and the effects.
fn c_abi(name: &str, profile: &std::ffi::CStr) -> CaseResult {
    use nc_harden::capi::shields::*;
    use nc_harden::capi::{nc_status, nc_string_free};
    let dir = build(name).map_err(|e| e.to_string())?;
    let config = dir.join(if name == "hermes" {
        "config.yaml"
    } else {
        "openclaw.json"
    });
    let step = |f: unsafe extern "C" fn(
        *const std::ffi::c_char,
        *const std::ffi::c_char,
        u32,
        *mut *mut nc_shields_report,
    ) -> nc_status,
                want: nc_status,
                state: &str|
     -> CaseResult {
        let mut out = std::ptr::null_mut();
        // SAFETY: a valid profile name, NULL dir, a writable out-pointer.
        let status = unsafe { f(profile.as_ptr(), std::ptr::null(), 0, &mut out) };
        check!(!out.is_null(), "no report");
        // SAFETY: `out` is a live report until freed below.
        let (got_state, json) = unsafe {
            let s = std::ffi::CStr::from_ptr(nc_shields_report_state(out))
                .to_string_lossy()
                .into_owned();
            let j = nc_shields_report_json(out);
            let text = std::ffi::CStr::from_ptr(j).to_string_lossy().into_owned();
            nc_string_free(j);
            (s, text)
        };
        // SAFETY: as above.
        let summary = unsafe {
            std::ffi::CStr::from_ptr(nc_shields_report_summary(out))
                .to_string_lossy()
                .into_owned()
        };
        // SAFETY: freed once.
        unsafe { nc_shields_report_free(out) };
        check!(
            status == want && got_state == state,
            "{status:?} {got_state}: {summary}"
        );
        let v: serde_json::Value = serde_json::from_str(&json).map_err(|e| e.to_string())?;
        check!(v["state"] == state, "{json}");
        Ok(())
    };
    step(nc_shields_status, nc_status::NC_NOT_FROZEN, "down")?;
    step(nc_shields_up, nc_status::NC_OK, "up")?;
    expect_posture(&config, 0, 0, 0o444)?;
    check!(!sandbox_writes(&config), "uid 998 writes the config");
    step(nc_shields_status, nc_status::NC_OK, "up")?;
    step(nc_shields_down, nc_status::NC_OK, "down")?;
    check!(
        sandbox_writes(&config),
        "uid 998 cannot write the config after shields down"
    );
    step(nc_shields_status, nc_status::NC_NOT_FROZEN, "down")?;
    Ok(())
}

/// Runs `script` after sourcing the launcher, under `set -euo pipefail`, as `creds`;
/// returns (exit code, stdout, stderr).
fn launcher(script: &str, creds: Creds) -> Result<(i32, String, String), String> {
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/launcher.sh");
    let full = format!("set -euo pipefail\n. {}\n{script}", lib.display());
    let mut cmd = Command::new("bash");
    cmd.arg("-c").arg(&full);
    let out = nc_harden_testkit::command_as(&mut cmd, creds)
        .output()
        .map_err(|e| e.to_string())?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// The boot path starts a shields-down sandbox (NemoClaw's default) and an up one, and
/// refuses a tampered one; every function sets NC_HARDEN_STATUS.
fn launcher_boot() -> CaseResult {
    let dir = build("openclaw").map_err(|e| e.to_string())?;
    let (rc, out, err) = launcher(
        "nc_shields_boot\necho \"st=$NC_HARDEN_STATUS\"",
        Creds::Full,
    )?;
    check!(
        rc == 0 && out.contains("st=4"),
        "boot of a shields-down sandbox: {rc} {out} {err}"
    );
    let (rc, out, err) = launcher(
        "nc_shields_up\nnc_shields_boot\necho \"st=$NC_HARDEN_STATUS\"",
        Creds::Full,
    )?;
    check!(
        rc == 0 && out.contains("st=0"),
        "up then boot: {rc} {out} {err}"
    );
    check!(err.contains("[SECURITY] shields up:"), "no summary: {err}");
    expect_posture(&dir.join("openclaw.json"), 0, 0, 0o444)?;
    // Root rewrites the config behind the shields (the flag off, write, flag on).
    let config = dir.join("openclaw.json");
    nc_harden_testkit::fs::clear_immutable(&config).map_err(|e| e.to_string())?;
    chmod(&config, 0o644).map_err(|e| e.to_string())?;
    fs::write(&config, b"{\"evil\":1}").map_err(|e| e.to_string())?;
    chmod(&config, 0o444).map_err(|e| e.to_string())?;
    let (rc, out, err) = launcher(
        "nc_shields_boot\necho \"reached st=$NC_HARDEN_STATUS\"",
        Creds::Full,
    )?;
    check!(
        rc != 0 && !out.contains("reached"),
        "a tampered sandbox booted: {rc} {out} {err}"
    );
    check!(err.contains("neither up nor down"), "{err}");
    let (rc, out, _) = launcher(
        "nc_shields_status || echo \"st=$NC_HARDEN_STATUS\"",
        Creds::Full,
    )?;
    check!(
        rc == 0 && out.contains("st=10"),
        "status of a tampered sandbox: {rc} {out}"
    );
    Ok(())
}

/// Docker's default capabilities: shields up locks, warns, goes on (NC_HARDEN_STATUS=2);
/// NC_HARDEN_STRICT=1 stops.
fn launcher_docker_strict() -> CaseResult {
    let dir = build("openclaw").map_err(|e| e.to_string())?;
    let (rc, out, err) = launcher("nc_shields_up\necho \"st=$NC_HARDEN_STATUS\"", DOCKER)?;
    check!(rc == 0 && out.contains("st=2"), "{rc} {out} {err}");
    check!(
        err.contains("WARNING") && err.contains("not pinned"),
        "{err}"
    );
    expect_posture(&dir.join("openclaw.json"), 0, 0, 0o444)?;
    check!(
        !sandbox_writes(&dir.join("openclaw.json")),
        "uid 998 writes the config"
    );
    let (rc, out, _) = launcher("NC_HARDEN_STRICT=1 nc_shields_boot\necho reached", DOCKER)?;
    check!(
        rc != 0 && !out.contains("reached"),
        "strict boot of an unpinned sandbox went on: {rc} {out}"
    );
    let (rc, out, _) = launcher(
        "nc_shields_down\nnc_shields_boot\necho \"st=$NC_HARDEN_STATUS\"",
        DOCKER,
    )?;
    check!(rc == 0 && out.contains("st=4"), "{rc} {out}");
    Ok(())
}

/// NemoClaw's shields-down skip path of verify_config_integrity_if_locked leaves
/// NC_HARDEN_STATUS set, so that an entrypoint under `set -u` reading it goes on.
fn launcher_skip_path() -> CaseResult {
    build("openclaw").map_err(|e| e.to_string())?;
    let (rc, out, err) = launcher(
        "verify_config_integrity_if_locked /sandbox/.openclaw\necho \"st=$NC_HARDEN_STATUS\"",
        Creds::Full,
    )?;
    check!(rc == 0 && out.contains("st=4"), "{rc} {out} {err}");
    Ok(())
}

/// `verify --seal` of a shields-down directory: NC_NOT_FROZEN with the state "down", not
/// NC_INVALID; a tampered one is not called down.
fn verify_seal_answers_down() -> CaseResult {
    let dir = build("openclaw").map_err(|e| e.to_string())?;
    let cli = std::env::var_os("NC_HARDEN").ok_or("no CLI")?;
    let verify = || {
        Command::new(&cli)
            .args([
                "verify",
                "--dir",
                "/sandbox/.openclaw",
                "--seal",
                ".config-hash",
                "--json",
            ])
            .output()
            .map_err(|e| e.to_string())
    };
    let out = verify()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    check!(
        out.status.code() == Some(4) && v["state"] == "down" && v["status"] == "NC_NOT_FROZEN",
        "{v}"
    );
    chmod(&dir.join("openclaw.json"), 0o666).map_err(|e| e.to_string())?;
    let out = verify()?;
    check!(
        out.status.code() == Some(10),
        "a world-writable config was answered {:?}",
        out.status
    );
    Ok(())
}

/// NemoClaw's order: the top config lock, then the state-tree lock; shields down: the trees,
/// then the top config. Each half alone answers for itself; together they are up, then down.
fn two_halves() -> CaseResult {
    let dir = build("openclaw").map_err(|e| e.to_string())?;
    let p = load("openclaw");
    let e = |e: nc_harden::Error| e.to_string();
    expect(
        &shields::up(&p, Part::TopConfig, false).map_err(e)?,
        Status::Ok,
    )?;
    expect_posture(&dir.join("openclaw.json"), 0, 0, 0o444)?;
    expect_posture(&dir.join("agents"), SANDBOX_UID, SANDBOX_UID, 0o2770)?;
    check!(
        shields::status(&p).map_err(e)?.status == Status::Invalid,
        "a half is called up"
    );
    let r = shields::up(&p, Part::StateTrees, false).map_err(e)?;
    expect(&r, Status::Ok)?;
    expect_posture(&dir, 0, 0, 0o755)?;
    expect_posture(&dir.join("agents"), 0, SANDBOX_UID, 0o755)?;
    expect(&shields::status(&p).map_err(e)?, Status::Ok)?;
    expect(&shields::down(&p, Part::StateTrees).map_err(e)?, Status::Ok)?;
    expect_posture(&dir.join("agents"), SANDBOX_UID, SANDBOX_UID, 0o2770)?;
    expect_posture(&dir, 0, 0, 0o755)?;
    expect(&shields::down(&p, Part::TopConfig).map_err(e)?, Status::Ok)?;
    expect(&shields::status(&p).map_err(e)?, Status::NotFrozen)?;
    Ok(())
}

/// The trees locked and handed back alone, as NemoClaw's state-dir guard does, again and
/// again: the record (kept, since the top configuration may be up) names each inode once, so
/// it does not grow with the cycles; each cycle hands the trees back all the same.
fn tree_cycles_keep_the_record_bounded() -> CaseResult {
    let dir = build("openclaw").map_err(|e| e.to_string())?;
    let p = load("openclaw");
    let e = |e: nc_harden::Error| e.to_string();
    let record = Path::new("/run/nc-harden").join(format!(
        "{}.shields",
        sha256_hex(dir.as_os_str().as_encoded_bytes())
    ));
    let mut sizes = Vec::new();
    for _ in 0..4 {
        expect(
            &shields::up(&p, Part::StateTrees, false).map_err(e)?,
            Status::Ok,
        )?;
        expect_posture(&dir.join("skills/run.sh"), 0, SANDBOX_UID, 0o750)?;
        sizes.push(fs::metadata(&record).map_err(|e| e.to_string())?.len());
        expect(&shields::down(&p, Part::StateTrees).map_err(e)?, Status::Ok)?;
        expect_posture(&dir.join("skills/run.sh"), SANDBOX_UID, SANDBOX_UID, 0o770)?;
    }
    check!(
        sizes.windows(2).all(|w| w[0] == w[1]) && sizes[0] > 30,
        "the record grew with the cycles: {sizes:?} bytes"
    );
    Ok(())
}

/// uid 998 swaps a directory and a symlink to a directory outside (RENAME_EXCHANGE, in a
/// loop) inside a tree while shields up walks it: whatever it sees, nothing outside `dir` is
/// ever chowned or chmodded, and no symlink is followed.
fn renames_race_the_walk() -> CaseResult {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let e = |e: io::Error| e.to_string();
    let outside = Path::new("/sandbox/outside");
    for round in 0..20 {
        let dir = Path::new("/sandbox/.openclaw");
        if dir.exists() {
            nc_harden_testkit::fs::clear_immutable_tree(dir).map_err(e)?;
            fs::remove_dir_all(dir).map_err(e)?;
        }
        let _ = fs::remove_dir_all(outside);
        let _ = fs::remove_dir_all("/run/nc-harden");
        let dir = build("openclaw").map_err(e)?;
        fs::create_dir(outside).map_err(e)?;
        fs::write(outside.join("victim"), b"v").map_err(e)?;
        for p in [outside.to_path_buf(), outside.join("victim")] {
            chown(&p, SANDBOX_UID, SANDBOX_UID).map_err(e)?;
        }
        chmod(outside, 0o700).map_err(e)?;
        chmod(&outside.join("victim"), 0o600).map_err(e)?;
        let a = dir.join("skills/a");
        let b = dir.join("skills/b");
        fs::create_dir(&a).map_err(e)?;
        fs::write(a.join("f"), b"f").map_err(e)?;
        std::os::unix::fs::symlink(outside, &b).map_err(e)?;
        for p in [a.clone(), a.join("f"), b.clone()] {
            chown(&p, SANDBOX_UID, SANDBOX_UID).map_err(e)?;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let attacker = {
            let stop = stop.clone();
            let (a, b) = (cpath(&a), cpath(&b));
            std::thread::spawn(move || {
                run_as(Creds::User(SANDBOX_UID), || {
                    let mut swaps = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        // SAFETY: NUL-terminated paths; the kernel checks the permission.
                        let r = unsafe {
                            libc::syscall(
                                libc::SYS_renameat2,
                                libc::AT_FDCWD,
                                a.as_ptr(),
                                libc::AT_FDCWD,
                                b.as_ptr(),
                                libc::RENAME_EXCHANGE,
                            )
                        };
                        if r == 0 {
                            swaps += 1;
                        }
                    }
                    swaps
                })
            })
        };
        let p = load("openclaw");
        let r = shields::up(&p, Part::All, false);
        stop.store(true, Ordering::Relaxed);
        let _swaps = attacker.join().map_err(|_| "the attacker panicked")?;
        let r = r.map_err(|e| e.to_string())?;
        check!(
            matches!(r.status, Status::Ok | Status::Invalid),
            "round {round}: {}",
            r.summary
        );
        expect_posture(outside, SANDBOX_UID, SANDBOX_UID, 0o700)?;
        expect_posture(&outside.join("victim"), SANDBOX_UID, SANDBOX_UID, 0o600)?;
        check!(
            !sandbox_writes(&dir.join("openclaw.json")),
            "round {round}: the config is writable"
        );
        check!(
            !sandbox_creates(&dir.join("skills/planted")),
            "round {round}: skills is writable"
        );
    }
    Ok(())
}

/// uid 998 renames FIFOs and hard links to a device node of its own (made with a CAP_MKNOD
/// it kept) over regular files of a tree while shields up and then shields down walk it:
/// over the files listed last, as soon as the one listed first shows the walk has reached
/// the directory. The walk opens a file that getdents calls regular without a statx of its
/// name first; that is safe because the directory is locked before its names are read (and
/// stays locked until they are all handled on the way down), so no name in it can change
/// under the walk. Whatever lands, no special file is ever opened (inotify would say
/// IN_OPEN).
fn special_files_swapped_in_during_the_walk() -> CaseResult {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let e = |e: io::Error| e.to_string();
    let dir = build("openclaw").map_err(e)?;
    let skills = dir.join("skills");
    for i in 0..2000 {
        let f = skills.join(format!("f{i:04}"));
        fs::write(&f, b"x").map_err(e)?;
        chown(&f, SANDBOX_UID, SANDBOX_UID).map_err(e)?;
        chmod(&f, 0o660).map_err(e)?;
    }
    // The order the walk lists them in: getdents', as read_dir's.
    let listed: Vec<PathBuf> = fs::read_dir(&skills)
        .map_err(e)?
        .filter_map(|d| d.ok())
        .filter(|d| d.file_name().to_string_lossy().starts_with('f'))
        .map(|d| d.path())
        .collect();
    let first = listed[0].clone();
    let last: Vec<PathBuf> = listed.iter().rev().take(4).cloned().collect();
    // The special files, made where the walk does not look, on the same filesystem.
    let spare = Path::new("/sandbox/spare");
    fs::create_dir(spare).map_err(e)?;
    chown(spare, SANDBOX_UID, SANDBOX_UID).map_err(e)?;
    let specials: Vec<PathBuf> = ["pipe-up", "null-up", "pipe-down", "null-down"]
        .iter()
        .map(|n| spare.join(n))
        .collect();
    for p in &specials {
        let c = cpath(p);
        // SAFETY: NUL-terminated paths.
        let r = unsafe {
            if p.to_string_lossy().contains("pipe") {
                libc::mkfifo(c.as_ptr(), 0o666)
            } else {
                libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3))
            }
        };
        check!(r == 0, "mknod {}", p.display());
        chown(p, SANDBOX_UID, SANDBOX_UID).map_err(e)?;
    }
    // SAFETY: plain syscalls; the watches name paths that exist.
    let inotify = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
    check!(inotify >= 0, "inotify_init1");
    for p in &specials {
        // SAFETY: a NUL-terminated path.
        let w = unsafe { libc::inotify_add_watch(inotify, cpath(p).as_ptr(), libc::IN_OPEN) };
        check!(w >= 0, "inotify_add_watch {}", p.display());
    }
    // A watcher of root's says when the walk has reached the directory (the sandbox user
    // may not see into it then): the first file listed is root's (up), or the sandbox
    // user's again (down).
    let stop = Arc::new(AtomicBool::new(false));
    let phase = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let watcher = {
        let (stop, phase, first) = (stop.clone(), phase.clone(), first.clone());
        std::thread::spawn(move || {
            for (n, locked) in [(1, true), (2, false)] {
                while !stop.load(Ordering::Relaxed) {
                    if fs::symlink_metadata(&first).is_ok_and(|m| (m.uid() == 0) == locked) {
                        phase.store(n, Ordering::SeqCst);
                        break;
                    }
                    std::hint::spin_loop();
                }
            }
        })
    };
    // Descriptors the sandbox user opened before the call (opened here: a rename is checked
    // against the credentials of whoever asks all the same), so that it walks no path later.
    let spare_fd = fs::File::open(spare).map_err(e)?;
    let skills_fd = fs::File::open(&skills).map_err(e)?;
    let attacker = {
        let (stop, phase, last, specials) =
            (stop.clone(), phase.clone(), last.clone(), specials.clone());
        std::thread::spawn(move || {
            run_as(Creds::User(SANDBOX_UID), move || -> Vec<String> {
                use std::os::fd::AsRawFd;
                let name =
                    |p: &Path| CString::new(p.file_name().unwrap().as_encoded_bytes()).unwrap();
                let mut tried = Vec::new();
                for n in [1, 2] {
                    while !stop.load(Ordering::Relaxed) && phase.load(Ordering::SeqCst) < n {
                        std::hint::spin_loop();
                    }
                    if phase.load(Ordering::SeqCst) < n {
                        break;
                    }
                    for k in 0..2 {
                        let i = (n - 1) * 2 + k;
                        let (from, to) = (name(&specials[i]), name(&last[i]));
                        // SAFETY: NUL-terminated names, descriptors of directories.
                        let r = unsafe {
                            libc::renameat(
                                spare_fd.as_raw_fd(),
                                from.as_ptr(),
                                skills_fd.as_raw_fd(),
                                to.as_ptr(),
                            )
                        };
                        let r = if r == 0 {
                            Ok(())
                        } else {
                            Err(io::Error::last_os_error())
                        };
                        tried.push(format!(
                            "phase {n}: {} over {}: {r:?}",
                            specials[i].display(),
                            last[i].display()
                        ));
                    }
                }
                tried
            })
        })
    };
    let p = load("openclaw");
    let up = shields::up(&p, Part::All, false).map_err(|e| e.to_string());
    let down = shields::down(&p, Part::All).map_err(|e| e.to_string());
    stop.store(true, Ordering::Relaxed);
    let _ = watcher.join();
    let tried = attacker.join().map_err(|_| "the attacker panicked")?;
    let mut events = [0u8; 4096];
    // SAFETY: reads into a buffer of its own length.
    let n = unsafe { libc::read(inotify, events.as_mut_ptr().cast(), events.len()) };
    // SAFETY: the descriptor made above.
    unsafe { libc::close(inotify) };
    let (up, down) = (up?, down?);
    check!(
        tried.len() == 4,
        "the attacker did not see the walk reach the tree: {tried:?}"
    );
    check!(
        n <= 0,
        "a FIFO or a device node swapped in during the walk was opened ({n} bytes of IN_OPEN \
         events); the swaps: {tried:?}; up: {}; down: {}",
        up.summary,
        down.summary
    );
    Ok(())
}

/// uid 998 maps a state file shared and writable, and closes its descriptor: the mapping
/// still counts as a writer, so the file goes onto a fresh inode and the mapping reaches
/// nothing the path shows.
fn writable_mapping_revoked() -> CaseResult {
    writable_mapping_revoked_on(false)
}

/// Finding of the red team: the same on overlayfs, where the mapping holds the upper layer's
/// file and a read lease of the overlay's inode is granted once the descriptor is closed (no
/// writer it can see): shields up said NC_OK and the mapping still wrote the locked file. On
/// overlayfs the lease cannot tell, and every file taken goes onto a fresh inode.
fn writable_mapping_revoked_on_overlayfs() -> CaseResult {
    writable_mapping_revoked_on(true)
}

fn writable_mapping_revoked_on(overlay: bool) -> CaseResult {
    if overlay {
        overlay_on_sandbox(false)?;
    }
    let dir = build("openclaw").map_err(|e| e.to_string())?;
    let file = dir.join("skills/run.sh");
    let before = fs::read(&file).map_err(|e| e.to_string())?;
    let ino = stat(&file)?.3;
    let map = {
        let file = file.clone();
        run_as(Creds::User(SANDBOX_UID), move || -> io::Result<usize> {
            let f = fs::OpenOptions::new().read(true).write(true).open(&file)?;
            use std::os::fd::AsRawFd;
            // SAFETY: a fresh shared mapping of an open file; the address is kept as a number.
            let addr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    4096,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    f.as_raw_fd(),
                    0,
                )
            };
            if addr == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            Ok(addr as usize)
        })
        .map_err(|e| e.to_string())?
    };
    let p = load("openclaw");
    expect(
        &shields::up(&p, Part::All, false).map_err(|e| e.to_string())?,
        Status::Ok,
    )?;
    check!(
        stat(&file)?.3 != ino,
        "a file mapped for writing was not renewed"
    );
    // SAFETY: the mapping made above, 4096 bytes, writable.
    unsafe { std::ptr::write_volatile(map as *mut u8, b'X') };
    check!(
        fs::read(&file).map_err(|e| e.to_string())? == before,
        "the mapping changed the file"
    );
    Ok(())
}

/// uid 998 holds descriptors of its tree files, opened before shields up, and sets each one's
/// mode to 0666 through them, in a loop, while shields up runs (the CLI, each fchown made 5
/// ms late by strace, so that the loop lands between a file's first fchmod and its chown
/// every time). The owner may set any mode until the chown, and the chown keeps it: shields
/// up must set the locked mode again after it. Once up, no tree file is writable by uid 998
/// or by anyone but root, and the call said NC_OK.
fn mode_set_before_the_chown() -> CaseResult {
    use std::os::fd::AsRawFd;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let e = |e: io::Error| e.to_string();
    let cli = std::env::var_os("NC_HARDEN").ok_or("no CLI")?;
    let dir = build("openclaw").map_err(e)?;
    let files: Vec<PathBuf> = (0..12)
        .map(|i| dir.join(format!("skills/note{i}.md")))
        .collect();
    for f in &files {
        fs::write(f, b"note\n").map_err(e)?;
        chown(f, SANDBOX_UID, SANDBOX_UID).map_err(e)?;
        chmod(f, 0o660).map_err(e)?;
    }
    let held = opened_by_sandbox(&files, false).map_err(e)?;
    let stop = Arc::new(AtomicBool::new(false));
    let attacker = {
        let stop = stop.clone();
        let raw: Vec<i32> = held.iter().map(|fd| fd.as_raw_fd()).collect();
        std::thread::spawn(move || {
            run_as(Creds::User(SANDBOX_UID), || {
                let mut set = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for &fd in &raw {
                        // SAFETY: descriptors `held` keeps open until the thread is joined.
                        if unsafe { libc::fchmod(fd, 0o666) } == 0 {
                            set += 1;
                        }
                    }
                    std::thread::yield_now();
                }
                set
            })
        })
    };
    let out = fchowns_delayed(5000, &cli, ["shields", "up", "--json"]).map_err(e);
    stop.store(true, Ordering::Relaxed);
    let set = attacker.join().map_err(|_| "the attacker panicked")?;
    drop(held);
    let out = out?;
    check!(set > 0, "the attacker never changed a mode");
    let said = String::from_utf8_lossy(&out.stdout);
    check!(
        out.status.success() && said.contains("\"status\":\"NC_OK\""),
        "shields up: {} {said} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    for f in &files {
        let (uid, _, mode, _) = stat(f)?;
        check!(
            uid == 0 && mode & 0o022 == 0,
            "{}: {uid} {mode:04o} after shields up",
            f.display()
        );
        check!(
            !sandbox_writes(f),
            "{}: uid 998 writes it after shields up",
            f.display()
        );
    }
    Ok(())
}

/// Finding of the red team: uid 998 holds `openclaw.json` open for writing from before shields
/// up and writes it every `pause_ms` (0: without pause). The lock's copy was compared with
/// an fstat taken before the lease's waits, so every write read as a change during the
/// copy: the name stayed on the inode the writer held, and the summary said the sandbox user
/// had lost write access. Now, whatever the answer: the name shows a root inode the writer
/// does not hold, uid 998 cannot write it, and what the summary claims is so; with the
/// writer gone, shields up goes up.
fn held_writer_keeps_no_name(pause_ms: u64) -> CaseResult {
    use std::os::fd::AsRawFd;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    let e = |e: io::Error| e.to_string();
    let cli = std::env::var_os("NC_HARDEN").ok_or("no CLI")?;
    let dir = build("openclaw").map_err(e)?;
    let config = dir.join("openclaw.json");
    let held = opened_by_sandbox(std::slice::from_ref(&config), true).map_err(e)?;
    let raw = held[0].as_raw_fd();
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    let attacker = {
        let (stop, writes) = (stop.clone(), writes.clone());
        std::thread::spawn(move || {
            run_as(Creds::User(SANDBOX_UID), || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let text = format!("{{\"written\":{n}}}\n");
                    // SAFETY: a descriptor `held` keeps open until the thread is joined.
                    let wrote = unsafe { libc::pwrite(raw, text.as_ptr().cast(), text.len(), 0) };
                    if wrote > 0 {
                        writes.fetch_add(1, Ordering::Relaxed);
                    }
                    n += 1;
                    if pause_ms > 0 {
                        std::thread::sleep(std::time::Duration::from_millis(pause_ms));
                    }
                }
            })
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(50));
    let out = Command::new(&cli)
        .args(["shields", "up", "--reseal", "--json"])
        .output()
        .map_err(e);
    let before = writes.load(Ordering::Relaxed);
    std::thread::sleep(std::time::Duration::from_millis(60));
    let after = writes.load(Ordering::Relaxed);
    let held_ino = fs::metadata(format!("/proc/self/fd/{raw}"))
        .map(|m| m.ino())
        .map_err(e);
    stop.store(true, Ordering::Relaxed);
    attacker.join().map_err(|_| "the attacker panicked")?;
    let out = out?;
    let held_ino = held_ino?;
    drop(held);
    check!(
        after > before,
        "the writer stopped writing: {before} {after}"
    );
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    let code = out.status.code();
    check!(
        code == Some(0) || code == Some(10),
        "shields up: {:?} {said} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let (uid, _, mode, ino) = stat(&config)?;
    check!(
        ino != held_ino,
        "the name still shows the inode the writer holds ({ino}): {said}"
    );
    check!(
        uid == 0 && mode & 0o222 == 0,
        "openclaw.json is {uid} {mode:04o}: {said}"
    );
    check!(!sandbox_writes(&config), "uid 998 writes openclaw.json");
    check!(
        !said.contains("can still write"),
        "the summary says the sandbox user can still write: {said}"
    );
    if code == Some(10) {
        check!(
            said.contains("has lost write access") && said.contains("a writer changed it"),
            "{said}"
        );
    }
    let p = load("openclaw");
    let r = shields::up(&p, Part::All, true).map_err(|e| e.to_string())?;
    expect(&r, Status::Ok)
}

/// uid 998 swaps `dir` with a directory of its own (RENAME_EXCHANGE, in a loop) while
/// shields up runs: once the call returns, what the path shows is root's, locked, and can no
/// longer be swapped.
fn dir_swapped_during_up() -> CaseResult {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let e = |e: io::Error| e.to_string();
    let decoy = Path::new("/sandbox/decoy");
    for round in 0..10 {
        let dir = Path::new("/sandbox/.openclaw");
        for d in [dir, decoy] {
            if d.exists() {
                nc_harden_testkit::fs::clear_immutable_tree(d).map_err(e)?;
                fs::remove_dir_all(d).map_err(e)?;
            }
        }
        let _ = fs::remove_dir_all("/run/nc-harden");
        let dir = build("openclaw").map_err(e)?;
        run_as(Creds::User(SANDBOX_UID), || -> io::Result<()> {
            fs::create_dir(decoy)?;
            fs::write(decoy.join("openclaw.json"), b"{\"decoy\":1}")
        })
        .map_err(e)?;
        let stop = Arc::new(AtomicBool::new(false));
        let attacker = {
            let stop = stop.clone();
            let (a, b) = (cpath(&dir), cpath(decoy));
            std::thread::spawn(move || {
                run_as(Creds::User(SANDBOX_UID), || {
                    let mut swaps = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        // SAFETY: NUL-terminated paths; the kernel checks the permission.
                        let r = unsafe {
                            libc::syscall(
                                libc::SYS_renameat2,
                                libc::AT_FDCWD,
                                a.as_ptr(),
                                libc::AT_FDCWD,
                                b.as_ptr(),
                                libc::RENAME_EXCHANGE,
                            )
                        };
                        if r == 0 {
                            swaps += 1;
                        }
                    }
                    swaps
                })
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(2));
        let p = load("openclaw");
        let r = shields::up(&p, Part::All, false).map_err(|e| e.to_string());
        // Still racing after the call: every swap must fail now.
        std::thread::sleep(std::time::Duration::from_millis(5));
        let (u, _, m, ino) = stat(&dir)?;
        stop.store(true, Ordering::Relaxed);
        attacker.join().map_err(|_| "the attacker panicked")?;
        let r = r?;
        check!(
            (u, m) == (0, 0o755) && stat(&dir)?.3 == ino,
            "round {round}: the path shows {u} {m:04o} after {} ({})",
            r.state.name(),
            r.summary
        );
        check!(
            !sandbox_creates(&dir.join("planted")),
            "round {round}: dir is writable"
        );
    }
    Ok(())
}

/// Can uid 998 append to `path`? (The write really lands when it can.)
pub(super) fn sandbox_appends(path: &Path) -> bool {
    let path = path.to_path_buf();
    run_as(Creds::User(SANDBOX_UID), move || {
        fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(b"\n{\"evil\":1}\n"))
    })
    .is_ok()
}

pub(super) fn sandbox_links(from: &Path, to: &Path) -> io::Result<()> {
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

/// Red team: with a record in place (a shields up before), a file of uid 998's named like a
/// renewal's temporary (`.nc-harden-new.x`, 0666) is not a killed call's leftover, since the
/// record does not hold its inode. Shields up locks it as any other file of the tree (it once
/// skipped it and answered NC_OK while uid 998 wrote it), and shields down hands it back.
fn a_file_named_like_a_temporary_is_locked() -> CaseResult {
    let dir = build("openclaw").map_err(|e| e.to_string())?;
    let p = load("openclaw");
    let e = |e: nc_harden::Error| e.to_string();
    expect(&shields::up(&p, Part::All, false).map_err(e)?, Status::Ok)?;
    let named = dir.join("skills/.nc-harden-new.x");
    fs::write(&named, b"planted\n").map_err(|e| e.to_string())?;
    chown(&named, SANDBOX_UID, SANDBOX_UID).map_err(|e| e.to_string())?;
    chmod(&named, 0o666).map_err(|e| e.to_string())?;
    let r = shields::up(&p, Part::StateTrees, false).map_err(e)?;
    check!(
        named.exists(),
        "a file merely named like a temporary was removed"
    );
    check!(
        !sandbox_writes(&named),
        "shields up answered {} ({}), yet uid 998 writes {} ({})",
        r.status.name(),
        r.summary,
        named.display(),
        owner_mode(&named)
    );
    expect(&r, Status::Ok)?;
    expect(&shields::status(&p).map_err(e)?, Status::Ok)?;
    expect(&shields::down(&p, Part::StateTrees).map_err(e)?, Status::Ok)?;
    expect_posture(&named, SANDBOX_UID, SANDBOX_UID, 0o660)?;
    Ok(())
}

/// Finding of the red team: uid 998 links its own tree files into a carve-out (by path:
/// the directory is locked, `skills` searchable) while shields up locks them, each fchown
/// delayed by strace, after the walk examined them. A file left with another name is said
/// (hardlinked-entry, not NC_OK), as a status says it, and is never claimed locked and
/// clean; it is still locked (uid 998 does not write it).
fn a_link_made_before_the_chown_is_said() -> CaseResult {
    let e = |e: io::Error| e.to_string();
    let cli = std::env::var_os("NC_HARDEN").ok_or("no CLI")?;
    let (said, linked, files, _) = link_race(false)?;
    let mut two = 0;
    for f in &files {
        let m = fs::symlink_metadata(f).map_err(e)?;
        two += usize::from(m.nlink() > 1);
        check!(
            !sandbox_writes(f),
            "{}: uid 998 writes it after shields up ({})",
            f.display(),
            owner_mode(f)
        );
    }
    check!(two == linked, "{linked} linked, {two} files with two links");
    check!(
        !said.contains("\"status\":\"NC_OK\"") && said.contains("hardlinked-entry"),
        "shields up left {two} tree files with a second name in a carve-out and said: {said}"
    );
    let status = Command::new(&cli)
        .args(["shields", "status", "--json"])
        .output()
        .map_err(e)?;
    check!(
        String::from_utf8_lossy(&status.stdout).contains("hardlinked-entry"),
        "status does not say it either: {}",
        String::from_utf8_lossy(&status.stdout)
    );
    Ok(())
}

/// Finding of the red team: the same race while uid 998 also holds every file open for
/// writing, so that each goes onto a fresh inode. The old inode keeps the name linked into
/// the carve-out, where no walk finds it again: it is given back as it was (uid 998's), not
/// left root's there while shields down says "down"; the tree's names are the fresh inodes,
/// root's, one link each.
fn a_renewed_file_s_other_names_are_given_back() -> CaseResult {
    let e = |e: io::Error| e.to_string();
    let cli = std::env::var_os("NC_HARDEN").ok_or("no CLI")?;
    let (said, linked, files, sessions) = link_race(true)?;
    for f in &files {
        let m = fs::symlink_metadata(f).map_err(e)?;
        check!(
            m.uid() == 0 && m.nlink() == 1 && !sandbox_writes(f),
            "{}: {}, {} links after shields up: {said}",
            f.display(),
            owner_mode(f),
            m.nlink()
        );
    }
    let down = Command::new(&cli)
        .args(["shields", "down", "--json"])
        .output()
        .map_err(e)?;
    let mut kept = 0;
    for entry in fs::read_dir(&sessions).map_err(e)? {
        let path = entry.map_err(e)?.path();
        if !path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('l'))
        {
            continue;
        }
        kept += 1;
        check!(
            stat(&path)?.0 == SANDBOX_UID,
            "{} is {} after shields up and down (down said {})",
            path.display(),
            owner_mode(&path),
            String::from_utf8_lossy(&down.stdout)
        );
    }
    check!(
        kept == linked,
        "{linked} linked, {kept} names in the carve-out"
    );
    Ok(())
}

/// uid 998 links `skills/note<i>.md` into its session carve-out through directory
/// descriptors held from before (`dir` is root's 0700 while shields up runs), once the walk
/// has begun changing them and before each one's own chown (strace delays every fchown);
/// with `writers`, it also holds each file open for writing. Returns what shields up said,
/// how many it linked, the files, and the carve-out.
fn link_race(writers: bool) -> Result<(String, usize, Vec<PathBuf>, PathBuf), String> {
    use std::os::fd::AsRawFd;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let e = |e: io::Error| e.to_string();
    let cli = std::env::var_os("NC_HARDEN").ok_or("no CLI")?;
    let dir = build("openclaw").map_err(e)?;
    let names: Vec<CString> = (0..12)
        .map(|i| CString::new(format!("note{i}.md")).expect("no NUL"))
        .collect();
    let files: Vec<PathBuf> = (0..12)
        .map(|i| dir.join(format!("skills/note{i}.md")))
        .collect();
    for f in &files {
        fs::write(f, b"note\n").map_err(e)?;
        chown(f, SANDBOX_UID, SANDBOX_UID).map_err(e)?;
        chmod(f, 0o660).map_err(e)?;
    }
    // `dir` is root's 0700 while shields up runs: uid 998 reaches the two directories by the
    // descriptors it opened before.
    let dirs = [dir.join("skills"), dir.join("agents/main/sessions")];
    let held = opened_by_sandbox(&dirs, false).map_err(e)?;
    let writing = if writers {
        opened_by_sandbox(&files, true).map_err(e)?
    } else {
        Vec::new()
    };
    let stop = Arc::new(AtomicBool::new(false));
    let attacker = {
        let (stop, names) = (stop.clone(), names.clone());
        let (skills, sessions) = (held[0].as_raw_fd(), held[1].as_raw_fd());
        std::thread::spawn(move || {
            run_as(Creds::User(SANDBOX_UID), || {
                let uid = |name: &CString| {
                    // SAFETY: all-zero bytes are a valid `stat`.
                    let mut st: libc::stat = unsafe { std::mem::zeroed() };
                    // SAFETY: a descriptor `held` keeps open until the thread is joined, a
                    // NUL-terminated name and a stat buffer of the right size.
                    let r = unsafe {
                        libc::fstatat(skills, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW)
                    };
                    (r == 0).then_some(st.st_uid)
                };
                // Once the walk has begun changing the files (one of them root's), each
                // file still uid 998's is linked into the carve-out.
                let mut linked = vec![false; names.len()];
                let mut begun = false;
                while !stop.load(Ordering::Relaxed) && !linked.iter().all(|&l| l) {
                    let uids: Vec<Option<u32>> = names.iter().map(uid).collect();
                    begun |= uids.contains(&Some(0));
                    if begun {
                        for (i, name) in names.iter().enumerate() {
                            if !linked[i] && uids[i] == Some(SANDBOX_UID) {
                                let to = CString::new(format!("l{i}")).expect("no NUL");
                                // SAFETY: as above.
                                linked[i] = unsafe {
                                    libc::linkat(skills, name.as_ptr(), sessions, to.as_ptr(), 0)
                                } == 0;
                            }
                        }
                    }
                    std::thread::yield_now();
                }
                linked.iter().filter(|&&l| l).count()
            })
        })
    };
    let out = fchowns_delayed(20_000, &cli, ["shields", "up", "--json"]).map_err(e);
    stop.store(true, Ordering::Relaxed);
    let linked = attacker.join().map_err(|_| "the attacker panicked")?;
    drop(held);
    drop(writing);
    let out = out?;
    check!(
        linked > 0,
        "the attacker never linked a file before its chown"
    );
    Ok((
        String::from_utf8_lossy(&out.stdout).into_owned(),
        linked,
        files,
        dir.join("agents/main/sessions"),
    ))
}

/// Finding of the red team: a root file of a tree with a second name (root made both; the
/// record does not hold it) is not this tool's to hand back. Shields down says so
/// (not-handed-back, the tree not down) instead of passing it over in silence.
fn a_root_file_with_two_links_is_not_handed_back() -> CaseResult {
    let dir = build("openclaw").map_err(|e| e.to_string())?;
    let p = load("openclaw");
    let e = |e: nc_harden::Error| e.to_string();
    expect(&shields::up(&p, Part::All, false).map_err(e)?, Status::Ok)?;
    let f = dir.join("skills/root-linked");
    fs::write(&f, b"root's\n").map_err(|e| e.to_string())?;
    chmod(&f, 0o444).map_err(|e| e.to_string())?;
    fs::hard_link(&f, dir.join("skills/root-linked-too")).map_err(|e| e.to_string())?;
    let r = shields::down(&p, Part::All).map_err(e)?;
    check!(
        r.issues
            .iter()
            .any(|i| i.code == IssueCode::NotHandedBack && i.path == b"skills/root-linked"),
        "shields down passed over a root file with two links: {:?}",
        r.issues
    );
    check!(
        r.status != Status::Ok,
        "shields down answered NC_OK ({}) with a root file left in skills",
        r.summary
    );
    expect_posture(&f, 0, 0, 0o444)?;
    Ok(())
}

/// A tree file uid 998 linked into a carve-out: shields up refuses it and takes it from
/// uid 998 (fail closed), recording it first as every change it makes; shields down hands it
/// back to uid 998 (it once stayed root's for good, "not handed back").
fn hardlinked_tree_file_is_handed_back() -> CaseResult {
    let dir = build("openclaw").map_err(|e| e.to_string())?;
    let p = load("openclaw");
    let skill = dir.join("skills/run.sh");
    sandbox_links(&skill, &dir.join("agents/main/sessions/run.jsonl"))
        .map_err(|e| format!("uid 998 links the skill: {e}"))?;
    let r = shields::up(&p, Part::All, false).map_err(|e| e.to_string())?;
    check!(r.status != Status::Ok, "NC_OK over a hard-linked tree file");
    check!(
        !sandbox_appends(&skill),
        "uid 998 writes it after shields up"
    );
    let r = shields::down(&p, Part::All).map_err(|e| e.to_string())?;
    check!(
        !r.issues.iter().any(|i| i.code == IssueCode::NotHandedBack),
        "shields down kept what shields up took: {:?}",
        r.issues
    );
    let (uid, gid, _, _) = stat(&skill)?;
    check!(
        (uid, gid) == (SANDBOX_UID, SANDBOX_UID),
        "skills/run.sh is {} after shields down",
        owner_mode(&skill)
    );
    // Its owner again: uid 998 sets its own bits (the lock left it no write bit, and the
    // unlocked posture adds the group's only), then writes it.
    let own = skill.clone();
    run_as(Creds::User(SANDBOX_UID), move || {
        fs::set_permissions(&own, fs::Permissions::from_mode(0o770))
    })
    .map_err(|e| format!("uid 998 cannot chmod its file after shields down: {e}"))?;
    check!(
        sandbox_appends(&skill),
        "uid 998 cannot write it after shields down"
    );
    Ok(())
}

/// Finding of the red team: uid 998 holds a descriptor of each tree directory and, once the
/// lock has begun (a tree directory root's; each fchown delayed by strace), creates files
/// through the descriptors of those still its own, after the budget pass counted them. The
/// lock counts again as it reads each directory's names (once it is root's) and fails
/// closed over the budget, instead of answering NC_OK over more than the budget allows.
fn entries_added_after_the_budget_pass_are_counted() -> CaseResult {
    use std::os::fd::AsRawFd;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let e = |e: io::Error| e.to_string();
    let cli = std::env::var_os("NC_HARDEN").ok_or("no CLI")?;
    let dir = build("openclaw").map_err(e)?;
    let p = load("openclaw");
    let s = shields::status(&p).map_err(|e| e.to_string())?;
    let base: u64 = s
        .trees
        .iter()
        .map(|t| t.counts.directories + t.counts.files + t.counts.symlinks)
        .sum();
    let budget = base + 8;
    let profile = Path::new("/run/budget.toml");
    fs::write(
        profile,
        nc_harden::profile::BUILTIN[0]
            .1
            .replace("entries = 100000", &format!("entries = {budget}")),
    )
    .map_err(e)?;
    let trees: Vec<PathBuf> = OPENCLAW_STATE.iter().map(|t| dir.join(t)).collect();
    let held = opened_by_sandbox(&trees, false).map_err(e)?;
    let stop = Arc::new(AtomicBool::new(false));
    let attacker = {
        let stop = stop.clone();
        let raw: Vec<i32> = held.iter().map(|fd| fd.as_raw_fd()).collect();
        std::thread::spawn(move || {
            run_as(Creds::User(SANDBOX_UID), || {
                let uid = |fd: i32| {
                    // SAFETY: all-zero bytes are a valid `stat`.
                    let mut st: libc::stat = unsafe { std::mem::zeroed() };
                    // SAFETY: a descriptor `held` keeps open until the thread is joined, and
                    // a stat buffer of the right size.
                    let r = unsafe { libc::fstat(fd, &mut st) };
                    (r == 0).then_some(st.st_uid)
                };
                while !stop.load(Ordering::Relaxed) && !raw.iter().any(|&fd| uid(fd) == Some(0)) {
                    std::thread::yield_now();
                }
                let mut made = 0u64;
                for &fd in &raw {
                    for i in 0..20 {
                        let name = CString::new(format!("late{i}")).expect("no NUL");
                        // SAFETY: as above; a NUL-terminated name.
                        let f = unsafe {
                            libc::openat(
                                fd,
                                name.as_ptr(),
                                libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_CLOEXEC,
                                0o600,
                            )
                        };
                        if f >= 0 {
                            made += 1;
                            // SAFETY: the descriptor just opened.
                            unsafe { libc::close(f) };
                        }
                    }
                }
                made
            })
        })
    };
    let up = ["shields", "up", "--json", "--profile", "/run/budget.toml"];
    let out = fchowns_delayed(20_000, &cli, up).map_err(e);
    stop.store(true, Ordering::Relaxed);
    let made = attacker.join().map_err(|_| "the attacker panicked")?;
    drop(held);
    let out = out?;
    check!(
        made > 8,
        "the attacker made {made} entries after the lock began"
    );
    let said = String::from_utf8_lossy(&out.stdout);
    check!(
        !said.contains("\"status\":\"NC_OK\"") && said.contains("work-entry-limit"),
        "{made} entries added after the budget pass ({budget} entries), and shields up said: {said}"
    );
    Ok(())
}

/// uid 998 makes, before shields up, entries of `dir` under this tool's own names (a
/// renewal's temporary, a quarantine) that are not the tool's own. They were once passed
/// over, unprotected and unsaid; shields up moves them aside (never deleted) and says so, and
/// uid 998 writes neither any longer.
fn impostors_of_the_tool_s_names_are_moved_aside() -> CaseResult {
    let dir = build("openclaw").map_err(|e| e.to_string())?;
    let p = load("openclaw");
    let file = dir.join(".nc-harden-new.y");
    let quarantine = dir.join(".nc-harden-quarantine-0000000000000000");
    {
        let (file, quarantine) = (file.clone(), quarantine.clone());
        run_as(Creds::User(SANDBOX_UID), move || -> io::Result<()> {
            fs::write(&file, b"mine\n")?;
            fs::set_permissions(&file, fs::Permissions::from_mode(0o666))?;
            fs::create_dir(&quarantine)?;
            fs::write(quarantine.join("inside"), b"mine\n")
        })
        .map_err(|e| format!("uid 998 plants the entries: {e}"))?;
    }
    let r = shields::up(&p, Part::All, false).map_err(|e| e.to_string())?;
    expect(&r, Status::Ok)?;
    for (planted, kept) in [(&file, "mine\n"), (&quarantine.join("inside"), "mine\n")] {
        check!(
            !sandbox_appends(planted),
            "uid 998 still writes {} after shields up ({})",
            planted.display(),
            r.summary
        );
        let moved = r
            .quarantined
            .iter()
            .find(|(from, _)| planted.starts_with(dir.join(String::from_utf8_lossy(from).as_ref())))
            .ok_or_else(|| format!("{} not moved aside: {:?}", planted.display(), r.issues))?;
        let to = dir.join(String::from_utf8_lossy(&moved.1).as_ref());
        let to = if planted == &file {
            to
        } else {
            to.join("inside")
        };
        check!(
            fs::read_to_string(&to).map_err(|e| format!("{}: {e}", to.display()))? == kept,
            "{} lost its bytes",
            to.display()
        );
    }
    check!(
        r.issues
            .iter()
            .filter(|i| i.code == IssueCode::Quarantined)
            .count()
            == 2,
        "{:?}",
        r.issues
    );
    expect(&shields::status(&p).map_err(|e| e.to_string())?, Status::Ok)?;
    Ok(())
}

/// Finding of the red team: uid 998 links into a tree a file of the gateway's (uid 997,
/// group sandbox, 0660: protected_hardlinks lets anyone who may read and write it link it)
/// kept outside `dir`. Shields up refuses it and leaves it as it is: the gateway's, its mode
/// (it was once taken to root, then handed to uid 998 by shields down).
fn another_user_s_file_linked_in_is_left_as_it_is() -> CaseResult {
    let dir = build("openclaw").map_err(|e| e.to_string())?;
    let p = load("openclaw");
    let e = |e: io::Error| e.to_string();
    let kept = Path::new("/sandbox/gateway.conf");
    fs::write(kept, b"secret\n").map_err(e)?;
    chown(kept, GATEWAY_UID, SANDBOX_UID).map_err(e)?;
    chmod(kept, 0o660).map_err(e)?;
    sandbox_links(kept, &dir.join("skills/gw"))
        .map_err(|e| format!("uid 998 links the gateway's file: {e}"))?;
    let r = shields::up(&p, Part::All, false).map_err(|e| e.to_string())?;
    check!(
        r.status != Status::Ok
            && r.issues
                .iter()
                .any(|i| i.code == IssueCode::HardlinkedEntry && i.path == b"skills/gw"),
        "{}: {:?}",
        r.summary,
        r.issues
    );
    expect_posture(kept, GATEWAY_UID, SANDBOX_UID, 0o660)?;
    shields::down(&p, Part::All).map_err(|e| e.to_string())?;
    expect_posture(kept, GATEWAY_UID, SANDBOX_UID, 0o660)?;
    Ok(())
}

/// A file of the gateway's in a tree, one link (the sandbox user cannot write it): shields
/// up takes it to root, and shields down gives it back to the gateway as it was, from the
/// record, never to the sandbox user.
fn another_user_s_tree_file_goes_back_to_its_owner() -> CaseResult {
    let dir = build("openclaw").map_err(|e| e.to_string())?;
    let p = load("openclaw");
    let e = |e: io::Error| e.to_string();
    let f = dir.join("skills/gateway.md");
    fs::write(&f, b"the gateway's\n").map_err(e)?;
    chown(&f, GATEWAY_UID, GATEWAY_UID).map_err(e)?;
    chmod(&f, 0o640).map_err(e)?;
    expect(
        &shields::up(&p, Part::All, false).map_err(|e| e.to_string())?,
        Status::Ok,
    )?;
    check!(stat(&f)?.0 == 0, "{} after shields up", owner_mode(&f));
    let r = shields::down(&p, Part::All).map_err(|e| e.to_string())?;
    expect(&r, Status::Ok)?;
    expect_posture(&f, GATEWAY_UID, GATEWAY_UID, 0o640)?;
    check!(!sandbox_appends(&f), "uid 998 writes the gateway's file");
    Ok(())
}

/// Descriptors of `paths` that uid 998 opens (for writing, or read-only), held by the caller.
fn opened_by_sandbox(paths: &[PathBuf], write: bool) -> io::Result<Vec<std::os::fd::OwnedFd>> {
    let paths = paths.to_vec();
    run_as(Creds::User(SANDBOX_UID), move || {
        paths
            .iter()
            .map(|p| {
                fs::OpenOptions::new()
                    .read(!write)
                    .write(write)
                    .open(p)
                    .map(std::os::fd::OwnedFd::from)
            })
            .collect()
    })
}

/// The CLI with `args`, each of its fchown calls made `micros` late by strace: the window an
/// attacker needs, wide every time.
fn fchowns_delayed<const N: usize>(
    micros: u32,
    cli: &std::ffi::OsStr,
    args: [&str; N],
) -> io::Result<std::process::Output> {
    Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "-e", "trace=fchown"])
        .arg("-e")
        .arg(format!("inject=fchown:delay_enter={micros}"))
        .arg(cli)
        .args(args)
        .output()
}

/// Finding of the red team: on overlayfs over ext4 (a container's root: no inode generation,
/// and ext4 hands a freed inode number out again at once), the record named an inode by
/// device and number alone. uid 998 deleted a gateway's set-user-ID file the record held with
/// its owner, made files until one got the freed number, and a lock and an unlock later that
/// file of its own was the gateway's, set-user-ID. The record now tells an inode by its birth
/// time where no generation is kept: the new file is another inode, handed back to uid 998.
fn a_reused_inode_number_is_another_inode() -> CaseResult {
    let e = |e: io::Error| e.to_string();
    overlay_on_sandbox(false)?;
    let dir = build("openclaw").map_err(e)?;
    let p = load("openclaw");
    let ex = |e: nc_harden::Error| e.to_string();
    let tool = dir.join("workspace/gw-tool");
    fs::copy("/usr/bin/id", &tool).map_err(e)?;
    chown(&tool, GATEWAY_UID, SANDBOX_UID).map_err(e)?;
    chmod(&tool, 0o4750).map_err(e)?;
    expect(&shields::up(&p, Part::All, false).map_err(ex)?, Status::Ok)?;
    expect(
        &shields::down(&p, Part::StateTrees).map_err(ex)?,
        Status::Ok,
    )?;
    // The inode the record holds now (on overlayfs every file taken is renewed: a copy).
    let number = stat(&tool)?.3;
    // Back to the gateway, without its set-user-ID bit (never handed back).
    expect_posture(&tool, GATEWAY_UID, SANDBOX_UID, 0o750)?;
    // uid 998 owns workspace again: the tool goes, and its number comes back to a file of
    // uid 998's (ext4 gives the freed number to the next inode of that directory's group).
    fs::remove_file(&tool).map_err(e)?;
    let workspace = dir.join("workspace");
    let mine = run_as(
        Creds::User(SANDBOX_UID),
        move || -> io::Result<Option<PathBuf>> {
            for i in 0..200 {
                let f = workspace.join(format!("mine{i}"));
                fs::copy("/usr/bin/id", &f)?;
                if fs::symlink_metadata(&f)?.ino() == number {
                    return Ok(Some(f));
                }
            }
            Ok(None)
        },
    )
    .map_err(e)?
    .ok_or("no file of uid 998's got the freed inode number")?;
    chmod(&mine, 0o750).map_err(e)?;
    shields::up(&p, Part::StateTrees, false).map_err(ex)?;
    shields::down(&p, Part::All).map_err(ex)?;
    let (uid, _, mode, _) = stat(&mine)?;
    check!(
        uid == SANDBOX_UID && mode & 0o6000 == 0,
        "uid 998's file with the gateway's old inode number is {} after a lock and an unlock",
        owner_mode(&mine)
    );
    Ok(())
}

/// Finding of the red team: a file of the gateway's in a tree (0600), which the gateway holds
/// open for writing, goes onto a fresh inode at shields up; shields down gave the copy to
/// uid 998 (the copy was recorded as the tool's own, with no owner). It goes back to the
/// gateway, 0600, and a root file renewed the same way (a root process writing it) stays
/// root's.
fn a_renewed_file_of_another_owner_goes_back_to_it() -> CaseResult {
    use std::os::fd::OwnedFd;
    let e = |e: io::Error| e.to_string();
    let dir = build("openclaw").map_err(e)?;
    let p = load("openclaw");
    let key = dir.join("workspace/gw.key");
    fs::write(&key, b"gateway-secret\n").map_err(e)?;
    chown(&key, GATEWAY_UID, GATEWAY_UID).map_err(e)?;
    chmod(&key, 0o600).map_err(e)?;
    let root_key = dir.join("skills/root.key");
    fs::write(&root_key, b"root-secret\n").map_err(e)?;
    chmod(&root_key, 0o600).map_err(e)?;
    let before = (stat(&key)?.3, stat(&root_key)?.3);
    // The writers (the gateway's and a root process's, here the test's own descriptors: the
    // lease tells a writer, not whose).
    let gateway: OwnedFd = fs::OpenOptions::new()
        .write(true)
        .open(&key)
        .map(OwnedFd::from)
        .map_err(e)?;
    let root: OwnedFd = fs::OpenOptions::new()
        .write(true)
        .open(&root_key)
        .map(OwnedFd::from)
        .map_err(e)?;
    let r = shields::up(&p, Part::All, false).map_err(|e| e.to_string())?;
    drop((gateway, root));
    check!(
        (stat(&key)?.3, stat(&root_key)?.3) != before,
        "neither file was renewed: {:?} {}",
        r.renewed,
        r.summary
    );
    shields::down(&p, Part::All).map_err(|e| e.to_string())?;
    expect_posture(&key, GATEWAY_UID, GATEWAY_UID, 0o600)?;
    // Its group is the directory's (set-group-ID): as it was made.
    expect_posture(&root_key, 0, SANDBOX_UID, 0o600)?;
    for f in [&key, &root_key] {
        let f = f.clone();
        check!(
            run_as(Creds::User(SANDBOX_UID), move || fs::read(&f)).is_err(),
            "uid 998 reads another's private file after shields up and down"
        );
    }
    Ok(())
}

/// Finding of the red team: a file of the gateway's (0600) at the top of `dir`, where every
/// regular file is protected (`others = "seal"`), was put in the locked posture, 0444, for
/// every reader, and handed to uid 998 by shields down. It is refused and left as it is.
fn another_user_s_file_at_the_top_is_refused() -> CaseResult {
    let e = |e: io::Error| e.to_string();
    let dir = build("openclaw").map_err(e)?;
    let p = load("openclaw");
    let key = dir.join("gw.key");
    fs::write(&key, b"gateway-secret\n").map_err(e)?;
    chown(&key, GATEWAY_UID, GATEWAY_UID).map_err(e)?;
    chmod(&key, 0o600).map_err(e)?;
    let r = shields::up(&p, Part::All, true).map_err(|e| e.to_string())?;
    check!(
        r.status != Status::Ok
            && r.issues
                .iter()
                .any(|i| i.code == IssueCode::UnsafeConfigFile && i.path == b"gw.key"),
        "{}: {:?}",
        r.summary,
        r.issues
    );
    expect_posture(&key, GATEWAY_UID, GATEWAY_UID, 0o600)?;
    shields::down(&p, Part::All).map_err(|e| e.to_string())?;
    expect_posture(&key, GATEWAY_UID, GATEWAY_UID, 0o600)?;
    Ok(())
}

/// Mounts overlayfs on /sandbox, its layers on a fresh ext4 image (as a container's root is),
/// with what /sandbox holds now copied into the lower layer (`image`: a container image's
/// layout) or an empty lower layer.
fn overlay_on_sandbox(image: bool) -> CaseResult {
    overlay_on_ext4(image, &[])
}

/// `overlay_on_sandbox`, the image made with `mkfs` options (`-I 128`: inodes with no room
/// for a birth time).
fn overlay_on_ext4(image: bool, mkfs: &[&str]) -> CaseResult {
    let e = |e: io::Error| e.to_string();
    fs::create_dir_all("/tmp/ov").map_err(e)?;
    let image_file = Path::new("/tmp/ov/ext4.img");
    fs::File::create(image_file)
        .and_then(|f| f.set_len(64 << 20))
        .map_err(e)?;
    let run = |cmd: &mut Command| -> CaseResult {
        let out = cmd.output().map_err(|e| e.to_string())?;
        check!(
            out.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    };
    run(Command::new("mkfs.ext4")
        .args(["-q", "-F"])
        .args(mkfs)
        .arg(image_file))?;
    fs::create_dir_all("/tmp/ov/fs").map_err(e)?;
    run(Command::new("mount")
        .args(["-o", "loop"])
        .arg(image_file)
        .arg("/tmp/ov/fs"))?;
    for d in ["lower", "upper", "work"] {
        fs::create_dir(Path::new("/tmp/ov/fs").join(d)).map_err(e)?;
    }
    if image {
        run(Command::new("cp").args(["-a", "/sandbox/.", "/tmp/ov/fs/lower/"]))?;
    }
    run(Command::new("mount").args([
        "-t",
        "overlay",
        "overlay",
        "-o",
        "lowerdir=/tmp/ov/fs/lower,upperdir=/tmp/ov/fs/upper,workdir=/tmp/ov/fs/work",
        "/sandbox",
    ]))
}

/// Finding of the red team: variant H in a container image's lower layer (overlayfs over
/// ext4). The first change of each inode copies it up, with the upper layer's birth time: the
/// identity recorded before it was one no later call saw, and shields down handed nothing
/// back (23 entries "not handed back"). Each inode is copied up before its identity is taken.
fn a_tree_in_the_image_s_lower_layer_is_handed_back() -> CaseResult {
    let e = |e: io::Error| e.to_string();
    build("openclaw").map_err(e)?;
    overlay_on_sandbox(true)?;
    let dir = Path::new("/sandbox/.openclaw");
    let p = load("openclaw");
    let ex = |e: nc_harden::Error| e.to_string();
    expect(&shields::up(&p, Part::All, false).map_err(ex)?, Status::Ok)?;
    expect_posture(&dir.join("skills/run.sh"), 0, SANDBOX_UID, 0o750)?;
    let r = shields::down(&p, Part::All).map_err(ex)?;
    expect(&r, Status::Ok)?;
    for f in [
        "skills/run.sh",
        "agents/main/agent/models.json",
        "credentials/token",
    ] {
        check!(
            stat(&dir.join(f))?.0 == SANDBOX_UID,
            "{f} is {} after shields up and down: {:?}",
            owner_mode(&dir.join(f)),
            r.issues
        );
    }
    check!(
        sandbox_appends(&dir.join("skills/run.sh")),
        "uid 998 cannot write skills/run.sh after shields down"
    );
    Ok(())
}

/// Finding of the red team: overlayfs over an ext4 of 128-byte inodes keeps neither an inode
/// generation nor a birth time, and ext4 reuses inode numbers at once: a record line of a
/// gateway's file could be given to uid 998's file that got its number. On such a filesystem
/// a file of the gateway's is not taken: left as it is, said, the tree not locked.
fn another_user_s_file_is_not_taken_where_no_identity_holds() -> CaseResult {
    let e = |e: io::Error| e.to_string();
    overlay_on_ext4(false, &["-I", "128"])?;
    let dir = build("openclaw").map_err(e)?;
    let p = load("openclaw");
    let tool = dir.join("workspace/gw-tool");
    fs::write(&tool, b"the gateway's\n").map_err(e)?;
    chown(&tool, GATEWAY_UID, SANDBOX_UID).map_err(e)?;
    chmod(&tool, 0o640).map_err(e)?;
    let r = shields::up(&p, Part::All, false).map_err(|e| e.to_string())?;
    check!(
        r.status != Status::Ok
            && r.issues
                .iter()
                .any(|i| i.code == IssueCode::UnprotectedEntry && i.path == b"workspace/gw-tool"),
        "{}: {:?}",
        r.summary,
        r.issues
    );
    expect_posture(&tool, GATEWAY_UID, SANDBOX_UID, 0o640)?;
    expect_posture(&dir.join("skills/run.sh"), 0, SANDBOX_UID, 0o750)?;
    shields::down(&p, Part::All).map_err(|e| e.to_string())?;
    expect_posture(&tool, GATEWAY_UID, SANDBOX_UID, 0o640)?;
    expect_posture(&dir.join("skills/run.sh"), SANDBOX_UID, SANDBOX_UID, 0o770)?;
    Ok(())
}

/// Finding of the red team: a container image's lower layer holds a tree file with two names
/// (one inode of the lower layer). The copy-up of the lock gives each name an inode of its
/// own, yet the first shields up refused it ("2 links"), and every first shields up of such
/// an image failed. Copied up first, each name has one link: locked, and handed back.
fn a_hard_link_of_the_image_is_split_by_the_copy_up() -> CaseResult {
    let e = |e: io::Error| e.to_string();
    let dir = build("openclaw").map_err(e)?;
    fs::hard_link(dir.join("skills/run.sh"), dir.join("skills/run-too.sh")).map_err(e)?;
    overlay_on_sandbox(true)?;
    let p = load("openclaw");
    let ex = |e: nc_harden::Error| e.to_string();
    expect(&shields::up(&p, Part::All, false).map_err(ex)?, Status::Ok)?;
    for f in ["skills/run.sh", "skills/run-too.sh"] {
        let (uid, _, mode, _) = stat(&dir.join(f))?;
        check!(
            uid == 0 && mode & 0o022 == 0 && !sandbox_writes(&dir.join(f)),
            "{f}: {} after shields up",
            owner_mode(&dir.join(f))
        );
    }
    expect(&shields::down(&p, Part::All).map_err(ex)?, Status::Ok)?;
    for f in ["skills/run.sh", "skills/run-too.sh"] {
        check!(
            stat(&dir.join(f))?.0 == SANDBOX_UID,
            "{f}: {} after shields down",
            owner_mode(&dir.join(f))
        );
    }
    Ok(())
}
