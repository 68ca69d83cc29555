//! The CLI as a shell launcher sees it: exit codes, the `[SECURITY] ` lines on stderr, the
//! JSON on stdout, names that cannot forge a log line, clap's own usage errors and help, and
//! the conveniences of the command line (trailing slashes, user names, an optional data
//! directory for unfreeze, manual pages and completions). These need no privilege: `verify`
//! changes nothing, nor does `unfreeze` of a layout that is not frozen. Freezing through the
//! CLI is tested in the privileged suite.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Command, Output};

use nc_harden_testkit::{Layout, Scratch, Variant};

/// Runs the CLI. As root with its capabilities, in a mount namespace of its own with a fresh tmpfs on /run, as the
/// privileged suite does: its lock and records in /run/nc-harden, and any mount it might
/// make, end with the process instead of staying on the machine.
fn nc_harden(args: &[&OsStr]) -> Output {
    let exe = env!("CARGO_BIN_EXE_nc-harden");
    let mut command = if nc_harden_testkit::privilege::missing().is_none() {
        let mut c = Command::new("unshare");
        c.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg("mount -t tmpfs -o mode=0755 nc-harden-test-run /run && exec \"$0\" \"$@\"")
            .arg(exe);
        c
    } else {
        Command::new(exe)
    };
    command.args(args).output().expect("runs")
}

fn verify(l: &Layout, extra: &[&str]) -> Output {
    let owner = l.owner.to_string();
    let mut args: Vec<&OsStr> = vec![
        OsStr::new("verify"),
        OsStr::new("--dir"),
        l.dir.as_os_str(),
        OsStr::new("--data-dir"),
        l.data.as_os_str(),
        OsStr::new("--owner"),
        OsStr::new(&owner),
    ];
    args.extend(extra.iter().map(OsStr::new));
    nc_harden(&args)
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("stderr is ASCII-safe text")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("stdout is text")
}

fn os(args: &[&str]) -> Vec<&'static OsStr> {
    args.iter()
        .map(|a| OsStr::new(Box::leak(a.to_string().into_boxed_str())))
        .collect()
}

/// clap's rendering: on stderr, not prefixed (that is for findings), blank lines kept.
fn assert_clap_usage_error(out: &Output, what: &str) {
    assert_eq!(out.status.code(), Some(64), "{what}: {}", stderr(out));
    let err = stderr(out);
    assert!(err.starts_with("error: "), "{what}: {err}");
    assert!(!err.contains("[SECURITY]"), "{what}: {err}");
    assert!(
        err.contains("\n\n"),
        "{what}: blank lines are kept: {err:?}"
    );
    assert!(out.stdout.is_empty(), "{what}: nothing on stdout");
}

#[test]
fn usage_error_exits_64() {
    let out = nc_harden(&[
        OsStr::new("freeze"),
        OsStr::new("--dir"),
        OsStr::new("/x"),
        OsStr::new("--reseal"),
    ]);
    assert_clap_usage_error(&out, "--reseal without --seal");
    assert!(stderr(&out).contains("--seal <NAME>"));
    let out = nc_harden(&[OsStr::new("frobnicate")]);
    assert_clap_usage_error(&out, "an unknown subcommand");
    let out = nc_harden(&[
        OsStr::new("freeze"),
        OsStr::new("--dir=/a"),
        OsStr::new("--data-dir=/b"),
        OsStr::new("--strategy=chmod"),
    ]);
    assert_clap_usage_error(&out, "an unknown strategy");
}

#[test]
fn help_and_version_exit_0() {
    let out = nc_harden(&[OsStr::new("--help")]);
    assert_eq!(out.status.code(), Some(0));
    let help = stdout(&out);
    assert!(help.contains("freeze"));
    assert!(
        help.contains("\n\nUsage: nc-harden"),
        "blank lines kept: {help:?}"
    );
    assert!(!help.contains("[SECURITY]"), "{help}");
    assert!(out.stderr.is_empty());
    // The long help (and the man page made from it) shows both workflows by example.
    for example in [
        "Examples:",
        "nc-harden freeze --dir /sandbox/.openclaw --data-dir",
        "nc-harden shields up --reseal",
        "nc-harden shields down",
        "--lock-posture --seal .config-hash --reseal",
        "--hand-to sandbox:sandbox --dir-mode 2770 --file-mode 0660",
    ] {
        assert!(help.contains(example), "no {example:?} in {help}");
    }
    let short = stdout(&nc_harden(&[OsStr::new("-h")]));
    assert!(!short.contains("Examples:"), "-h stays short: {short}");
    let out = nc_harden(&[OsStr::new("--version")]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn each_subcommand_says_what_its_dir_is() {
    for (sub, wording) in [
        ("freeze", "The directory to pin"),
        ("verify", "The directory to check"),
        ("unfreeze", "The directory to unpin"),
    ] {
        let out = nc_harden(&os(&[sub, "--help"]));
        assert_eq!(out.status.code(), Some(0));
        let help = stdout(&out);
        let dir_line = help
            .lines()
            .find(|l| l.trim_start().starts_with("--dir"))
            .expect("a --dir line");
        assert!(dir_line.contains(wording), "{sub}: {dir_line}");
        assert!(!help.contains("[SECURITY]"), "{help}");
    }
}

#[test]
fn bad_argument_exits_20_with_a_security_line() {
    let out = nc_harden(&[
        OsStr::new("verify"),
        OsStr::new("--dir=relative"),
        OsStr::new("--data-dir=/x"),
    ]);
    assert_eq!(out.status.code(), Some(20));
    let err = stderr(&out);
    assert!(
        err.starts_with("[SECURITY] ") && err.contains("NC_BAD_ARGUMENT"),
        "{err}"
    );
}

#[test]
fn state_dir_is_a_global_option_checked_as_an_argument() {
    for verb in ["verify", "unfreeze", "freeze"] {
        let out = nc_harden(&[
            OsStr::new(verb),
            OsStr::new("--state-dir=relative"),
            OsStr::new("--dir=/nonexistent-nc/.openclaw"),
            OsStr::new("--data-dir=/nonexistent-nc/data"),
        ]);
        assert_eq!(out.status.code(), Some(20), "{verb:?}");
        let err = stderr(&out);
        assert!(err.contains("state_dir is not absolute"), "{verb:?}: {err}");
    }
    let help = nc_harden(&[OsStr::new("--help")]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("--state-dir <DIR>"));
}

#[test]
fn missing_directory_exits_12() {
    let out = nc_harden(&[
        OsStr::new("verify"),
        OsStr::new("--dir=/nonexistent-nc/.openclaw"),
        OsStr::new("--data-dir=/nonexistent-nc/data"),
    ]);
    assert_eq!(out.status.code(), Some(12));
}

#[test]
fn valid_unfrozen_layout_exits_4_and_json_has_the_contract_fields() {
    let scratch = Scratch::new("cli").unwrap();
    let l = Layout::build(scratch.path(), Variant::B).unwrap();
    let out = verify(&l, &["--json", "--require", "openclaw.json"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(json["status"], "NC_NOT_FROZEN");
    assert_eq!(json["code"], 4);
    assert!(json["summary"].as_str().unwrap().contains("NC_NOT_FROZEN"));
    assert!(json["layers"].as_array().unwrap().is_empty());
    let entries = json["entries"].as_array().unwrap();
    assert_eq!(entries.len(), l.entry_names().unwrap().len() + 1);
    assert!(entries
        .iter()
        .any(|e| e["name"] == "hooks" && e["kind"] == "symlink"));
    assert_eq!(
        stderr(&out).lines().count(),
        1,
        "one summary line, nothing rejected or denied"
    );
}

#[test]
fn rejected_entries_get_one_line_each_and_exit_10() {
    let scratch = Scratch::new("cli").unwrap();
    let l = Layout::build(scratch.path(), Variant::B).unwrap();
    symlink("/etc", l.dir.join(".evil")).unwrap();
    std::fs::remove_file(l.dir.join("hooks")).unwrap();
    symlink("/tmp/evil", l.dir.join("hooks")).unwrap();
    let out = verify(&l, &[]);
    assert_eq!(out.status.code(), Some(10));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(lines.iter().all(|l| l.starts_with("[SECURITY] ")));
    assert!(
        err.contains("\".evil\" (symlink): rejected") && err.contains("reads \"/etc\""),
        "{err}"
    );
    assert!(
        err.contains("\"hooks\" (symlink): rejected") && err.contains("reads \"/tmp/evil\""),
        "{err}"
    );
}

#[test]
fn ten_thousand_bad_entries_are_a_summary_twenty_lines_and_a_count() {
    let scratch = Scratch::new("cli").unwrap();
    let l = Layout::build(scratch.path(), Variant::B).unwrap();
    for i in 0..10_000 {
        symlink("/etc", l.dir.join(format!(".evil{i}"))).unwrap();
    }
    let out = verify(&l, &["--json"]);
    assert_eq!(out.status.code(), Some(10));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1 + 20 + 1, "{}", &err[..err.len().min(2000)]);
    assert!(
        lines[21].contains("and 9980 more") && lines[21].contains("--json"),
        "{}",
        lines[21]
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rejected = json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "rejected")
        .count();
    assert_eq!(rejected, 10_000, "the JSON carries every one");
}

#[test]
fn modes_without_hand_to_are_a_usage_error() {
    for flag in ["--dir-mode", "--file-mode"] {
        let out = nc_harden(&os(&[
            "unfreeze",
            "--dir",
            "/nonexistent-nc/d",
            flag,
            "0600",
        ]));
        assert_clap_usage_error(&out, flag);
        assert!(stderr(&out).contains("--hand-to"), "{}", stderr(&out));
    }
}

#[test]
fn hostile_names_cannot_forge_or_cut_a_line() {
    let scratch = Scratch::new("cli").unwrap();
    let l = Layout::build(scratch.path(), Variant::B).unwrap();
    let forged: &[u8] = b"x\n[SECURITY] verify: NC_OK\r\x1b[1A\xff\xfe";
    symlink("/etc", l.dir.join(OsStr::from_bytes(forged))).unwrap();
    let out = verify(&l, &["--json"]);
    assert_eq!(out.status.code(), Some(10));
    let err = stderr(&out);
    assert_eq!(
        err.lines().count(),
        2,
        "summary and one rejected line: {err:?}"
    );
    assert!(!err.contains('\r') && !err.contains('\x1b'));
    assert!(
        err.contains(r#""x\n[SECURITY] verify: NC_OK\r\x1b[1A\xff\xfe" (symlink): rejected"#),
        "{err}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("valid JSON despite the name");
    let entry = json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e.get("name_hex").is_some())
        .expect("non-UTF-8 name carries its bytes");
    let hex: String = forged.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(entry["name_hex"], hex.as_str());
    assert_eq!(entry["reason"], "link_target_mismatch");
}

#[test]
fn unfreeze_of_an_unfrozen_layout_is_ok() {
    let scratch = Scratch::new("cli").unwrap();
    let l = Layout::build(scratch.path(), Variant::A).unwrap();
    let out = nc_harden(&[
        OsStr::new("unfreeze"),
        OsStr::new("--dir"),
        l.dir.as_os_str(),
        OsStr::new("--data-dir"),
        l.data.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(Path::new(&l.dir).join("hooks").is_symlink());
}

#[test]
fn unfreeze_needs_no_data_dir() {
    let scratch = Scratch::new("cli").unwrap();
    let l = Layout::build(scratch.path(), Variant::A).unwrap();
    let out = nc_harden(&[
        OsStr::new("unfreeze"),
        OsStr::new("--dir"),
        l.dir.as_os_str(),
        OsStr::new("--json"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(json["status"], "NC_OK");
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        !all.contains("needs-no-data-dir"),
        "no stand-in data directory shows: {all}"
    );
    assert!(Path::new(&l.dir).join("hooks").is_symlink());
    // Without --data-dir, freeze and verify take DIR as a flat layout: its links are
    // rejected, and nothing changes.
    for sub in ["freeze", "verify"] {
        let mut args = os(&[sub, "--dir"]);
        args.push(l.dir.as_os_str());
        let out = nc_harden(&args);
        assert_eq!(out.status.code(), Some(10), "{sub}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("unexpected_symlink")
                || stderr(&out).contains("without data_dir")
        );
    }
}

fn with_slash(p: &Path) -> std::ffi::OsString {
    let mut s = p.as_os_str().to_os_string();
    s.push("/");
    s
}

#[test]
fn one_trailing_slash_of_a_directory_is_dropped() {
    let scratch = Scratch::new("cli").unwrap();
    let l = Layout::build(scratch.path(), Variant::B).unwrap();
    let owner = l.owner.to_string();
    let (dir, data) = (with_slash(&l.dir), with_slash(&l.data));
    let out = nc_harden(&[
        OsStr::new("verify"),
        OsStr::new("--dir"),
        &dir,
        OsStr::new("--data-dir"),
        &data,
        OsStr::new("--owner"),
        OsStr::new(&owner),
        OsStr::new("--json"),
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(json["status"], "NC_NOT_FROZEN");
    let out = nc_harden(&[OsStr::new("unfreeze"), OsStr::new("--dir"), &dir]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Only the one slash that completion adds: the rest stays the library's NC_BAD_ARGUMENT.
    for bad in ["//", "/.", "/./", "/../"] {
        let mut odd = l.dir.as_os_str().to_os_string();
        odd.push(bad);
        let out = nc_harden(&[
            OsStr::new("verify"),
            OsStr::new("--dir"),
            &odd,
            OsStr::new("--data-dir"),
            l.data.as_os_str(),
        ]);
        assert_eq!(out.status.code(), Some(20), "{bad}: {}", stderr(&out));
        assert!(stderr(&out).starts_with("[SECURITY] "));
    }
    let out = nc_harden(&os(&["verify", "--dir", "/", "--data-dir", "/x/"]));
    assert_eq!(
        out.status.code(),
        Some(20),
        "`/` stays `/`: {}",
        stderr(&out)
    );
}

/// The name of `uid` in /etc/passwd, read here independently of the CLI.
fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_string())
    })
}

#[test]
fn owner_is_a_uid_or_a_user_name() {
    let scratch = Scratch::new("cli").unwrap();
    let l = Layout::build(scratch.path(), Variant::B).unwrap();
    let base = |owner: &str| {
        let mut args = vec![
            OsStr::new("verify"),
            OsStr::new("--dir"),
            l.dir.as_os_str(),
            OsStr::new("--data-dir"),
            l.data.as_os_str(),
            OsStr::new("--owner"),
        ];
        args.push(OsStr::new(Box::leak(owner.to_string().into_boxed_str())));
        nc_harden(&args)
    };
    // By name, the layout's owner is found as by number.
    if let Some(name) = user_name(l.owner) {
        let out = base(&name);
        assert_eq!(
            out.status.code(),
            Some(4),
            "--owner {name}: {}",
            stderr(&out)
        );
    }
    // `root` is uid 0: the same answer as --owner 0, whoever runs this.
    assert_eq!(base("root").status.code(), base("0").status.code());
    // A uid no one has reaches the library, which rejects the directory's owner.
    let out = base("4294967294");
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    // (uid_t)-1 is NC_BAD_ARGUMENT in the C ABI: a usage error here.
    for bad in [
        "4294967295",
        "4294967296",
        "no-such-user-of-nc-harden",
        "",
        "-1",
    ] {
        assert_clap_usage_error(&base(bad), bad);
    }
    assert!(stderr(&base("4294967295")).contains("(uid_t)-1"));
}

#[test]
fn manual_pages_and_completions() {
    let scratch = Scratch::new("cli").unwrap();
    let out = nc_harden(&[OsStr::new("man"), scratch.path().as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut pages: Vec<String> = std::fs::read_dir(scratch.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    pages.sort();
    assert_eq!(
        pages,
        [
            "nc-harden-demo.1",
            "nc-harden-freeze.1",
            "nc-harden-guard.1",
            "nc-harden-shields-down.1",
            "nc-harden-shields-status.1",
            "nc-harden-shields-up.1",
            "nc-harden-shields.1",
            "nc-harden-unfreeze.1",
            "nc-harden-verify.1",
            "nc-harden.1"
        ]
    );
    let main = std::fs::read_to_string(scratch.path().join("nc-harden.1")).unwrap();
    assert!(main.contains(".TH nc-harden 1"), "{main}");
    assert!(main.contains("nc\\-harden\\-freeze(1)"), "{main}");
    let verify = std::fs::read_to_string(scratch.path().join("nc-harden-verify.1")).unwrap();
    assert!(verify.contains("The directory to check"), "{verify}");
    for (shell, marker) in [
        ("bash", "-o default nc-harden"),
        ("zsh", "#compdef nc-harden"),
        ("fish", "complete -c nc-harden"),
    ] {
        let out = nc_harden(&os(&["completions", shell]));
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(script.contains("unfreeze") && script.contains("data-dir"));
        assert!(
            !script.contains("completions"),
            "hidden commands stay hidden"
        );
    }
    assert_clap_usage_error(
        &nc_harden(&os(&["completions", "cmd.exe"])),
        "no such shell",
    );
    // The generators are hidden from the help.
    let help = stdout(&nc_harden(&os(&["--help"])));
    assert!(
        !help.contains("completions") && !help.contains(" man "),
        "{help}"
    );
}

/// The process starts at its own C `main`, not std's (main.rs): what std's start did for it
/// still holds: a call with stdout closed runs and gives its status, a reader that goes away
/// is an EPIPE and not a SIGPIPE death, and what is printed to a pipe is all there when the
/// process ends (stdout flushed).
#[test]
fn the_entry_point_keeps_what_std_start_did() {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let exe = env!("CARGO_BIN_EXE_nc-harden");
    let closed = Command::new("sh")
        .args(["-c", "exec \"$0\" verify --dir relative --json >&-"])
        .arg(exe)
        .output()
        .expect("runs");
    assert_eq!(closed.status.code(), Some(20), "{closed:?}");
    // A pipe whose reader has gone: the write fails, the process is not killed by SIGPIPE.
    let mut child = Command::new(exe)
        .arg("--help")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawns");
    drop(child.stdout.take());
    let status = child.wait().expect("waits");
    assert_eq!(status.signal(), None, "killed by a signal: {status:?}");
    // Everything written to a pipe arrives: the JSON of a verify is one whole object.
    let s = Scratch::new("entry").expect("scratch");
    let l = Layout::build(s.path(), Variant::B).expect("layout");
    let mut child = Command::new(exe)
        .args(["verify", "--json", "--dir"])
        .arg(&l.dir)
        .arg("--data-dir")
        .arg(&l.data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawns");
    let mut text = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut text)
        .expect("reads");
    child.wait().expect("waits");
    let report: serde_json::Value = serde_json::from_str(&text).expect("one whole JSON object");
    assert!(report.get("entries").is_some(), "{text}");
}
