//! The drop-in for NemoClaw's guards at its real path: each test runs in a child in a
//! mount namespace of its own, chrooted into a tmpfs root that has a tmpfs `/sandbox` and a
//! tmpfs `/run`, a scratch `/etc` (users `sandbox` uid 998 and `gateway`, a member of group
//! `sandbox`), the host's `/usr` and the stubs of share/nc-harden/nemoclaw installed as
//! `make install` installs them. Calls go through the stub with `python3 -I`, as NemoClaw
//! calls its guards; every output goes through NemoClaw's parsers' rules
//! (tests/common/guard_output.rs), and the records are checked line by line against the
//! guard's, byte for byte (`json.dumps(sort_keys=True)` spacing). Any stderr is a failure.
//!
//! With `NC_HARDEN_ORIGINAL_GUARD=<path of NemoClaw's openclaw-config-guard.py>` the
//! preflight scenarios also run the original guard on the same tree and require the same
//! bytes (where the drop-in does not differ on purpose: `chattrApplied`).

#[path = "../common/guard_output.rs"]
mod guard_output;

use super::*;
use guard_output::{openclaw_config, state_dir, Run};
use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;

/// The trials of this file, registered by main.rs.
pub fn trials() -> Vec<Trial> {
    type AreaTest = fn(&Path) -> TestResult;
    let mut out: Vec<Trial> = Vec::new();
    for (index, case) in PREFLIGHT.iter().enumerate() {
        out.push((
            format!("guard::preflight::{}", case.name),
            FsKind::Disk,
            Box::new(move |a| preflight_case(a, index)),
        ));
    }
    for (index, case) in STATE_PREFLIGHT.iter().enumerate() {
        out.push((
            format!("guard::state_dir_preflight::{}", case.name),
            FsKind::Disk,
            Box::new(move |a| state_preflight_case(a, index)),
        ));
    }
    // Only where NemoClaw's guard is given: it is not part of this repository.
    if std::env::var("NC_HARDEN_ORIGINAL_GUARD").is_ok() {
        out.push((
            "guard::the_real_original_through_the_stub".into(),
            FsKind::Disk,
            Box::new(real_original_through_the_stub),
        ));
    }
    let cases: [(&str, AreaTest); 20] = [
        (
            "lock_and_unlock_from_each_posture_reach_the_posture_table",
            lock_unlock_postures,
        ),
        (
            "lock_without_cap_linux_immutable_claims_no_pin",
            lock_without_immutable,
        ),
        (
            "a_writer_from_before_never_reaches_the_locked_file",
            writer_from_before,
        ),
        ("tracker_missing_hash_stale_hash_permissions", tracker_cases),
        (
            "state_dir_lock_and_unlock_through_the_stub",
            state_dir_transitions,
        ),
        (
            "a_kill_at_each_step_then_the_next_lock_converges",
            kill_each_step,
        ),
        ("not_root", not_root),
        ("identity_missing", identity_missing),
        ("state_dir_preconditions", state_dir_preconditions),
        (
            "mutex_held_exclusively_by_a_python_guard",
            mutex_held_exclusively,
        ),
        ("mutex_held_shared_and_by_flock_1", mutex_held_shared),
        ("mutex_file_checks", mutex_file_checks),
        (
            "state_dir_waits_for_the_mutex_then_gives_up",
            state_dir_waits,
        ),
        (
            "stub_hands_other_actions_to_the_original_unpinned",
            stub_routes_to_original,
        ),
        ("state_dir_stub_routes", state_dir_stub_routes),
        (
            "unsupported_action_through_the_stub",
            unsupported_through_stub,
        ),
        ("owner_record_of_an_exclusive_holder", owner_record),
        ("make_install_ships_the_stubs", make_install_stubs),
        ("unpin_takes_off_the_immutable_flag_only", unpin_cases),
        ("stub_failures_are_records", stub_failures),
    ];
    for (name, test) in cases {
        out.push((format!("guard::{name}"), FsKind::Disk, Box::new(test)));
    }
    out
}

/// `workload.md` variant H, mutable posture, as NemoClaw's images build it (the hash record
/// written by `sha256sum /sandbox/.openclaw/openclaw.json`, an absolute name).
const VARIANT_H: &str = r#"
S=/sandbox/.openclaw
chown 998:998 /sandbox && chmod 0755 /sandbox
mkdir -m 2770 $S
for d in agents agents/main agents/main/agent agents/main/sessions extensions workspace skills \
         hooks identity devices canvas cron memory logs credentials flows sandbox telegram \
         plugin-runtime-deps; do mkdir -m 2770 $S/$d; done
printf '{}\n' > $S/update-check.json
printf '{}\n' > $S/exec-approvals.json
printf '{"gateway":{"auth":{"token":"%s"}}}\n' 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef > $S/openclaw.json
sha256sum /sandbox/.openclaw/openclaw.json > $S/.config-hash
chown -R 998:998 $S
chmod 0660 $S/*.json $S/.config-hash
chmod 2770 $S
"#;

/// The locked posture of the guard's table on top of variant H.
const LOCKED: &str = r#"
chown 0:0 $S/openclaw.json $S/.config-hash && chmod 0444 $S/openclaw.json $S/.config-hash
chown 0:0 $S && chmod 00755 $S
chown 0:998 /sandbox && chmod 1775 /sandbox
"#;

const STUB: &str = "/nc/lib/openclaw-config-guard.py";
const STATE_STUB: &str = "/nc/lib/state-dir-guard.py";

/// One call's output.
struct Step {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    status: Option<i32>,
}

impl Step {
    fn run(&self) -> Run<'_> {
        Run {
            stdout: &self.stdout,
            stderr: &self.stderr,
            status: self.status,
        }
    }

    fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

struct Ran {
    steps: Vec<Step>,
    probe: String,
}

/// What a run at the real path is given.
struct RealPath<'a> {
    users: bool,
    setup: String,
    steps: Vec<String>,
    probe: &'a str,
    /// Extra files for /nc (name, contents, mode).
    files: Vec<(&'a str, String, u32)>,
    /// The nc-harden installed as /nc/nc-harden (the CLI's by default).
    binary: Option<PathBuf>,
}

impl<'a> RealPath<'a> {
    fn new(setup: &str) -> Self {
        RealPath {
            users: true,
            setup: format!("{VARIANT_H}\n{setup}"),
            steps: Vec::new(),
            probe: "true",
            files: Vec::new(),
            binary: None,
        }
    }

    fn step(mut self, command: impl Into<String>) -> Self {
        self.steps.push(command.into());
        self
    }

    fn probe(mut self, probe: &'a str) -> Self {
        self.probe = probe;
        self
    }

    /// Runs it all in one child; the steps' outputs and the probe's come back.
    fn run(self, area: &Path) -> Result<Ran, Failed> {
        let scratch = Scratch::new_in(area, "guard")?;
        let s = scratch.path();
        let copied = Command::new("cp")
            .arg("-a")
            .arg("/etc")
            .arg(s.join("etc"))
            .output()?;
        common::native::ensure_ok(&copied, "cp -a /etc")?;
        if self.users {
            append(
                &s.join("etc/passwd"),
                "sandbox:x:998:998::/sandbox:/bin/sh\ngateway:x:999:999::/:/bin/sh\n",
            )?;
            append(
                &s.join("etc/group"),
                "sandbox:x:998:gateway\ngateway:x:999:\n",
            )?;
        }
        for dir in ["root", "out", "nc", "nc/lib"] {
            fs::create_dir_all(s.join(dir))?;
        }
        let binary = match &self.binary {
            Some(b) => b.clone(),
            None => common::native::cli_binary()?,
        };
        fs::copy(binary, s.join("nc/nc-harden"))?;
        // The stubs as `make install BINDIR=/nc NEMOCLAW_LIBDIR=/nc/lib` writes them.
        for guard in ["openclaw-config-guard", "state-dir-guard"] {
            let source = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("share/nc-harden/nemoclaw/{guard}.py"));
            let text = fs::read_to_string(source)?
                .replace("@BINDIR@", "/nc")
                .replace("@NEMOCLAW_LIBDIR@", "/nc/lib");
            let path = s.join(format!("nc/lib/{guard}.py"));
            fs::write(&path, text)?;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o500))?;
        }
        if let Ok(original) = std::env::var("NC_HARDEN_ORIGINAL_GUARD") {
            fs::copy(original, s.join("nc/lib/original-openclaw-config-guard.py"))?;
        }
        for (name, text, mode) in &self.files {
            let path = s.join("nc").join(name);
            fs::write(&path, text)?;
            fs::set_permissions(&path, fs::Permissions::from_mode(*mode))?;
        }
        let mut script = format!(
            "set -eu\nexport PATH=/usr/sbin:/usr/bin:/sbin:/bin\ncd /\n{}\nset +e\n",
            self.setup
        );
        for (i, step) in self.steps.iter().enumerate() {
            script.push_str(&format!(
                "( {step}\n) </dev/null >/out/{i}.stdout 2>/out/{i}.stderr\necho $? >/out/{i}.rc\n"
            ));
        }
        script.push_str(&format!("( {}\n) >/out/probe 2>&1\n", self.probe));
        fs::write(s.join("nc/run.sh"), script)?;
        let root = s.join("root");
        let outer = r#"set -e
R="$1"; S="$2"
mount -t tmpfs -o mode=0755 nc-guard-root "$R"
cd "$R"
mkdir usr dev proc tmp etc run sandbox nc out
ln -s usr/bin bin; ln -s usr/lib lib; ln -s usr/lib64 lib64; ln -s usr/sbin sbin
mount --rbind /usr usr
mount --rbind /dev dev
mount --rbind /proc proc
mount -t tmpfs -o mode=1777 nc-guard-tmp tmp
mount --bind "$S/etc" etc
mount -t tmpfs -o mode=0755 nc-guard-run run
mount -t tmpfs -o mode=0755 nc-guard-sandbox sandbox
mount --bind "$S/nc" nc
mount --bind "$S/out" out
exec chroot "$R" /bin/sh /nc/run.sh
"#;
        let out = Command::new("timeout")
            .args([
                "120",
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "--",
                "sh",
                "-c",
                outer,
                "sh",
            ])
            .arg(&root)
            .arg(s)
            .output()?;
        ensure!(
            out.status.success(),
            "the run at the real path failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut steps = Vec::new();
        for i in 0..self.steps.len() {
            let o = s.join("out");
            let rc = fs::read_to_string(o.join(format!("{i}.rc")))?;
            steps.push(Step {
                stdout: fs::read(o.join(format!("{i}.stdout")))?,
                stderr: fs::read(o.join(format!("{i}.stderr")))?,
                status: rc.trim().parse::<i32>().ok().filter(|&c| c < 128),
            });
        }
        let probe = fs::read_to_string(s.join("out/probe"))?;
        Ok(Ran { steps, probe })
    }
}

fn append(path: &Path, text: &str) -> io::Result<()> {
    use std::io::Write;
    fs::OpenOptions::new()
        .append(true)
        .open(path)?
        .write_all(text.as_bytes())
}

/// The step's output accepted by the top-level parser, with exactly these lines.
fn expect_top(step: &Step, action: &str, lines: &[&str], status: i32) -> TestResult {
    let accepted = openclaw_config(action, &step.run()).map_err(|v| {
        format!(
            "NemoClaw's parser refuses the output of {action}: {v:?}\n{}",
            String::from_utf8_lossy(&step.stdout)
        )
    })?;
    ensure!(
        step.status == Some(status),
        "{action}: exit {:?}, expected {status}: {:#?}",
        step.status,
        step.lines()
    );
    ensure!(accepted.ok == (status == 0), "{action}: status field");
    ensure!(
        step.lines() == lines,
        "{action}: records\n got {:#?}\nwant {:#?}",
        step.lines(),
        lines
    );
    Ok(())
}

fn failed(action: &str) -> String {
    format!(r#"{{"action": "{action}", "status": "failed", "type": "result"}}"#)
}

fn issue(code: &str, detail: &str, path: &str) -> String {
    format!(r#"{{"code": "{code}", "detail": "{detail}", "path": "{path}", "type": "issue"}}"#)
}

fn ok(action: &str, chattr: bool) -> String {
    format!(
        r#"{{"action": "{action}", "chattrApplied": {chattr}, "configDir": "/sandbox/.openclaw", "files": ["openclaw.json", ".config-hash"], "status": "ok", "type": "result"}}"#
    )
}

/// A preflight scenario: nemoclaw-guards.md section 3.1 (4, 5, 6, 9, 10, 12, 13) and more.
struct PreflightCase {
    name: &'static str,
    setup: &'static str,
    args: &'static str,
    /// The issue's (code, detail, path), or None for ok.
    issue: Option<(&'static str, &'static str, &'static str)>,
    chattr: bool,
}

const PREFLIGHT: &[PreflightCase] = &[
    PreflightCase { name: "ok_mutable_absolute_record", setup: "", args: "", issue: None, chattr: false },
    PreflightCase {
        name: "ok_relative_record",
        setup: "(cd $S && sha256sum openclaw.json > .config-hash)",
        args: "",
        issue: None,
        chattr: false,
    },
    PreflightCase { name: "ok_locked", setup: LOCKED, args: "", issue: None, chattr: false },
    PreflightCase {
        name: "ok_locked_and_pinned_says_chattr_applied",
        setup: concat!("chown 0:0 $S/openclaw.json $S/.config-hash && chmod 0444 $S/openclaw.json $S/.config-hash\n",
            "chown 0:0 $S && chmod 00755 $S && chown 0:998 /sandbox && chmod 1775 /sandbox\n",
            "chattr +i $S/openclaw.json $S/.config-hash"),
        args: "",
        issue: None,
        chattr: true,
    },
    PreflightCase {
        name: "s04_config_is_a_symlink_to_an_outside_file",
        setup: "printf outside > /tmp/outside && rm $S/openclaw.json && ln -s /tmp/outside $S/openclaw.json",
        args: "",
        issue: Some(("unsafe-config-file", "entry is a symlink, expected regular file after 3 pair attempts", "/sandbox/.openclaw/openclaw.json")),
        chattr: false,
    },
    PreflightCase {
        name: "s05_config_is_hard_linked",
        setup: "ln $S/openclaw.json /sandbox/second-name",
        args: "",
        issue: Some(("hardlinked-config-file", "link count is 2, expected 1 after 3 pair attempts", "/sandbox/.openclaw/openclaw.json")),
        chattr: false,
    },
    PreflightCase {
        name: "s06_config_is_a_fifo",
        setup: "rm $S/openclaw.json && mkfifo -m 0660 $S/openclaw.json",
        args: "",
        issue: Some(("unsafe-config-file", "entry is a FIFO, expected regular file after 3 pair attempts", "/sandbox/.openclaw/openclaw.json")),
        chattr: false,
    },
    PreflightCase {
        name: "s09_hash_record_names_a_parent_path",
        setup: "(cd $S && sha256sum openclaw.json | sed 's|  openclaw.json|  ../openclaw.json|' > .config-hash)",
        args: "",
        issue: Some(("invalid-config-hash-path", "hash record path '../openclaw.json' is not an allowed OpenClaw config path after 3 pair attempts", "/sandbox/.openclaw/.config-hash")),
        chattr: false,
    },
    PreflightCase { name: "s10_hash_record_with_the_absolute_name", setup: "", args: "", issue: None, chattr: false },
    PreflightCase {
        name: "s12_another_config_dir",
        setup: "mkdir -p /sandbox/other/.openclaw",
        args: "--config-dir /sandbox/other/.openclaw",
        issue: Some(("invalid-config-path", "helper is restricted to /sandbox/.openclaw", "/sandbox/other/.openclaw")),
        chattr: false,
    },
    PreflightCase {
        name: "config_dir_with_undecodable_and_control_bytes",
        setup: "",
        args: "--config-dir \"$(printf '/sandbox/\\377\\n\\033[1m.openclaw')\"",
        issue: Some(("invalid-config-path", "helper is restricted to /sandbox/.openclaw", "/sandbox/\\udcff\\n\\u001b[1m.openclaw")),
        chattr: false,
    },
    PreflightCase {
        name: "s13_hash_record_over_64_kib",
        setup: "head -c 65537 /dev/zero | tr '\\0' a > $S/.config-hash",
        args: "",
        issue: Some(("config-file-too-large", "file is 65537 bytes, maximum is 65536 after 3 pair attempts", "/sandbox/.openclaw/.config-hash")),
        chattr: false,
    },
    PreflightCase {
        name: "stale_hash_record",
        setup: "printf '%064d  openclaw.json\\n' 0 > $S/.config-hash",
        args: "",
        issue: Some(("config-hash-mismatch", "hash record does not match the captured openclaw.json bytes after 3 pair attempts", "/sandbox/.openclaw/.config-hash")),
        chattr: false,
    },
    PreflightCase {
        name: "hash_record_missing",
        setup: "rm $S/.config-hash",
        args: "",
        issue: Some(("stat-failed", "stat failed: [Errno 2] No such file or directory: '.config-hash' after 3 pair attempts", "/sandbox/.openclaw/.config-hash")),
        chattr: false,
    },
    PreflightCase {
        name: "hash_record_of_two_lines",
        setup: "sha256sum $S/openclaw.json $S/openclaw.json > /tmp/h && cat /tmp/h > $S/.config-hash",
        args: "",
        issue: Some(("invalid-config-hash", "expected one canonical sha256sum record after 3 pair attempts", "/sandbox/.openclaw/.config-hash")),
        chattr: false,
    },
    PreflightCase {
        name: "config_dir_is_a_symlink",
        setup: "mv $S /sandbox/real && ln -s /sandbox/real $S",
        args: "",
        issue: Some(("unsafe-config-entry", "config entry is a symlink, expected directory", "/sandbox/.openclaw")),
        chattr: false,
    },
    PreflightCase {
        name: "config_dir_missing",
        setup: "rm -rf $S",
        args: "",
        issue: Some(("operation-failed", "[Errno 2] No such file or directory: '.openclaw'", "/sandbox/.openclaw")),
        chattr: false,
    },
    PreflightCase {
        name: "config_dir_on_another_filesystem",
        setup: "mount -t tmpfs -o mode=2770 elsewhere $S",
        args: "",
        issue: Some(("cross-device-entry", "config directory is on another filesystem", "/sandbox/.openclaw")),
        chattr: false,
    },
    PreflightCase {
        name: "config_file_bind_mounted_from_elsewhere",
        setup: "cp $S/openclaw.json /tmp/host.json && mount --bind /tmp/host.json $S/openclaw.json",
        args: "",
        issue: Some(("cross-device-entry", "config file is on another filesystem after 3 pair attempts", "/sandbox/.openclaw/openclaw.json")),
        chattr: false,
    },
    PreflightCase {
        name: "config_file_is_a_directory",
        setup: "rm $S/openclaw.json && mkdir $S/openclaw.json",
        args: "",
        issue: Some(("unsafe-config-file", "entry is a directory, expected regular file after 3 pair attempts", "/sandbox/.openclaw/openclaw.json")),
        chattr: false,
    },
    PreflightCase {
        name: "pending_transaction_of_the_python_guard",
        setup: "mkdir -m 0700 /etc/nemoclaw && printf '{}' > /etc/nemoclaw/openclaw-config-transaction.json && chmod 0600 /etc/nemoclaw/openclaw-config-transaction.json",
        args: "",
        issue: Some(("recovery-required", "an interrupted config transaction must be recovered first", "/etc/nemoclaw/openclaw-config-transaction.json")),
        chattr: false,
    },
    PreflightCase {
        name: "partially_frozen_by_a_killed_guard",
        setup: "chown 0:998 /sandbox && chown 0:0 $S && chmod 00700 $S",
        args: "",
        issue: Some(("recovery-required", "a partially frozen config transaction must be recovered first", "/sandbox/.openclaw")),
        chattr: false,
    },
    PreflightCase {
        name: "planted_persistent_journal_in_the_mutable_posture_is_no_authority",
        setup: "printf '{}' > $S/.nemoclaw-config-transaction.json && chown 998:998 $S/.nemoclaw-config-transaction.json",
        args: "",
        issue: None,
        chattr: false,
    },
];

/// What a probe of the two files and the directories prints: owner, mode, inode, bytes' digest.
const STATE: &str = "stat -c '%n %u:%g %a %i' /sandbox /sandbox/.openclaw /sandbox/.openclaw/openclaw.json \
    /sandbox/.openclaw/.config-hash 2>/dev/null; for f in /sandbox/.openclaw/openclaw.json /sandbox/.openclaw/.config-hash \
    /tmp/outside; do [ -f \"$f\" ] && [ ! -L \"$f\" ] && sha256sum \"$f\"; done; true";

fn preflight_case(area: &Path, index: usize) -> TestResult {
    let case = &PREFLIGHT[index];
    let original = std::env::var("NC_HARDEN_ORIGINAL_GUARD").is_ok();
    let mut run = RealPath::new(case.setup)
        .step(STATE)
        .step(format!(
            "timeout 20 python3 -I {STUB} preflight {}",
            case.args
        ))
        .probe(STATE);
    if original {
        run = run.step(format!(
            "timeout 20 python3 -I /nc/lib/original-openclaw-config-guard.py preflight {}",
            case.args
        ));
    }
    let ran = run.run(area)?;
    let step = &ran.steps[1];
    let lines: Vec<String> = match case.issue {
        None => vec![ok("preflight", case.chattr)],
        Some((code, detail, path)) => vec![issue(code, detail, path), failed("preflight")],
    };
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    expect_top(step, "preflight", &refs, i32::from(case.issue.is_some()))?;
    // Read-only: owners, modes, inodes and bytes after are those before.
    ensure!(
        ran.steps[0].stdout == ran.probe.as_bytes(),
        "preflight changed something:\nbefore {}\nafter {}",
        String::from_utf8_lossy(&ran.steps[0].stdout),
        ran.probe
    );
    if original {
        let theirs = &ran.steps[2];
        let want: Vec<String> = theirs
            .lines()
            .iter()
            .map(|l| {
                l.replace(
                    "\"chattrApplied\": false",
                    &format!("\"chattrApplied\": {}", case.chattr),
                )
            })
            .collect();
        ensure!(
            step.lines() == want && theirs.stderr.is_empty(),
            "the original guard printed {:#?}",
            theirs.lines()
        );
    }
    Ok(())
}

/// A Python process that holds NemoClaw's mutex as a guard does: `ex|sh`, `record|none`
/// (the owner record the top guard writes), seconds, the marker it writes once it holds it.
const HOLDER: &str = r#"
import fcntl, json, os, sys, time
path = "/run/nemoclaw/openclaw-config-mutation.lock"
os.makedirs("/run/nemoclaw", mode=0o700, exist_ok=True)
fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX if sys.argv[1] == "ex" else fcntl.LOCK_SH)
if sys.argv[2] == "record":
    owner = {"version": 1, "token": "ab" * 32, "action": "write-config", "pid": os.getpid(), "pidStartTime": "1"}
    os.ftruncate(fd, 0)
    os.write(fd, (json.dumps(owner, sort_keys=True, separators=(",", ":")) + "\n").encode())
with open(sys.argv[4], "w") as marker:
    marker.write(str(os.getpid()))
time.sleep(float(sys.argv[3]))
"#;

/// A step that starts a holder and returns once it holds the mutex; prints its pid.
fn hold(how: &str, record: &str, seconds: &str, marker: &str) -> String {
    format!(
        "python3 /nc/holder.py {how} {record} {seconds} {marker} >/dev/null 2>&1 &\n\
         while [ ! -s {marker} ]; do sleep 0.02; done; cat {marker}"
    )
}

fn with_holder(run: RealPath<'_>) -> RealPath<'_> {
    let mut run = run;
    run.files.push(("holder.py", HOLDER.to_string(), 0o644));
    run
}

fn pid_of(step: &Step) -> Result<String, Failed> {
    let pid = String::from_utf8_lossy(&step.stdout).trim().to_string();
    ensure!(
        !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()),
        "no holder pid: {pid:?}"
    );
    Ok(pid)
}

fn not_root(area: &Path) -> TestResult {
    let as_sandbox = "setpriv --reuid 998 --regid 998 --clear-groups /nc/nc-harden guard";
    let ran = RealPath::new("")
        .step(format!("{as_sandbox} openclaw-config preflight"))
        .step(format!(
            "{as_sandbox} openclaw-config lock --config-dir /sandbox/./.openclaw"
        ))
        .step(format!(
            "{as_sandbox} state-dir lock --config-dir /sandbox/.openclaw"
        ))
        .probe(STATE)
        .run(area)?;
    expect_top(
        &ran.steps[0],
        "preflight",
        &[
            &issue(
                "root-required",
                "helper must run as root",
                "/sandbox/.openclaw",
            ),
            &failed("preflight"),
        ],
        1,
    )?;
    expect_top(
        &ran.steps[1],
        "lock",
        &[
            &issue(
                "root-required",
                "helper must run as root",
                "/sandbox/./.openclaw",
            ),
            &failed("lock"),
        ],
        1,
    )?;
    let step = &ran.steps[2];
    state_dir("lock", &step.run()).map_err(|v| format!("{v:?}"))?;
    ensure!(
        step.lines()
            == [
                r#"{"code":"root-required","detail":"state-dir guard must run as root","path":"/sandbox/.openclaw","type":"issue"}"#,
                r#"{"action":"lock","directories":0,"files":0,"issueCount":1,"removedEntries":0,"roots":0,"status":"failed","symlinks":0,"type":"result"}"#,
            ],
        "{:#?}",
        step.lines()
    );
    Ok(())
}

fn identity_missing(area: &Path) -> TestResult {
    let mut run = RealPath::new("")
        .step(format!("python3 -I {STUB} preflight"))
        .step(format!(
            "python3 -I {STATE_STUB} preflight --config-dir /sandbox/.openclaw"
        ));
    run.users = false;
    let ran = run.run(area)?;
    expect_top(
        &ran.steps[0],
        "preflight",
        &[
            &issue("identity-missing", "sandbox user and group must exist", ""),
            &failed("preflight"),
        ],
        1,
    )?;
    let step = &ran.steps[1];
    let accepted = state_dir("preflight", &step.run()).map_err(|v| format!("{v:?}"))?;
    ensure!(
        accepted.issues.len() == 1 && accepted.issues[0].code == "identity-unavailable",
        "{:#?}",
        step.lines()
    );
    ensure!(
        accepted.issues[0].detail
            == "required sandbox account is unavailable: \"getpwnam(): name not found: 'sandbox'\"",
        "{}",
        accepted.issues[0].detail
    );
    Ok(())
}

fn state_dir_preconditions(area: &Path) -> TestResult {
    let ran = RealPath::new("mkdir -p /sandbox/.hermes /tmp/x")
        .step(format!(
            "python3 -I {STATE_STUB} preflight --config-dir sandbox/./.openclaw"
        ))
        .step(format!(
            "python3 -I {STATE_STUB} preflight --config-dir /tmp/./x"
        ))
        .step(format!(
            "python3 -I {STATE_STUB} unlock --config-dir /sandbox/.hermes"
        ))
        .step(format!(
            "python3 -I {STATE_STUB} unlock --config-dir /sandbox/.openclaw/"
        ))
        .run(area)?;
    let want: [(&str, &str, &str, &str); 2] = [
        (
            "preflight",
            "invalid-config-path",
            "config directory must be absolute",
            "sandbox/.openclaw",
        ),
        (
            "preflight",
            "invalid-config-path",
            "nc-harden's state-dir guard is restricted to /sandbox/.openclaw and /sandbox/.hermes",
            "/tmp/x",
        ),
    ];
    for (step, (action, code, detail, path)) in ran.steps.iter().zip(want) {
        state_dir(action, &step.run()).map_err(|v| format!("{action}: {v:?}"))?;
        let lines = [
            format!(r#"{{"code":"{code}","detail":"{detail}","path":"{path}","type":"issue"}}"#),
            format!(
                r#"{{"action":"{action}","directories":0,"files":0,"issueCount":1,"removedEntries":0,"roots":0,"status":"failed","symlinks":0,"type":"result"}}"#
            ),
        ];
        ensure!(step.lines() == lines, "{path}: {:#?}", step.lines());
        ensure!(step.status == Some(1), "{path}: exit {:?}", step.status);
    }
    // Both directories the guard serves; a trailing slash is normalized. The unlocks hold
    // (the mutable posture is handed back as it is).
    for (step, roots) in ran.steps[2..].iter().zip([0, 12]) {
        let accepted = state_dir("unlock", &step.run()).map_err(|v| format!("{v:?}"))?;
        ensure!(
            accepted.ok && step.status == Some(0),
            "unlock: {:#?}",
            step.lines()
        );
        ensure!(
            step.lines()
                .last()
                .is_some_and(|l| l.contains(&format!(r#""roots":{roots},"#))),
            "unlock: {:#?}",
            step.lines()
        );
    }
    Ok(())
}

fn mutex_held_exclusively(area: &Path) -> TestResult {
    let ran = with_holder(RealPath::new(""))
        .step(hold("ex", "record", "20", "/out/holding"))
        .step(format!("python3 -I {STUB} preflight"))
        .step(format!("python3 -I {STUB} lock"))
        .step(format!("python3 -I {STATE_STUB} lock --config-dir /sandbox/.openclaw & sleep 0.5; kill $(cat /out/holding); wait $!"))
        .step(format!("python3 -I {STUB} preflight"))
        .run(area)?;
    let pid = pid_of(&ran.steps[0])?;
    let busy = format!("guard pid {pid} is still running action write-config");
    let mutex = "/run/nemoclaw/openclaw-config-mutation.lock";
    expect_top(
        &ran.steps[1],
        "preflight",
        &[
            &issue("mutation-in-progress", &busy, mutex),
            &failed("preflight"),
        ],
        1,
    )?;
    expect_top(
        &ran.steps[2],
        "lock",
        &[
            &issue("mutation-in-progress", &busy, mutex),
            &failed("lock"),
        ],
        1,
    )?;
    // The state-dir guard waits (it got the mutex once the holder was killed).
    let waited = state_dir("lock", &ran.steps[3].run()).map_err(|v| format!("{v:?}"))?;
    ensure!(
        waited.ok && ran.steps[3].status == Some(0),
        "{:#?}",
        ran.steps[3].lines()
    );
    expect_top(&ran.steps[4], "preflight", &[&ok("preflight", false)], 0)?;
    Ok(())
}

fn mutex_held_shared(area: &Path) -> TestResult {
    let mutex = "/run/nemoclaw/openclaw-config-mutation.lock";
    let ran = with_holder(RealPath::new(""))
        .step(hold("sh", "none", "20", "/out/holding"))
        .step(format!("python3 -I {STUB} preflight"))
        .step(format!("python3 -I {STUB} lock"))
        .step(format!(
            "kill $(cat /out/holding); sleep 0.2; flock -x {mutex} sleep 3 & sleep 0.3; python3 -I {STUB} preflight; rc=$?; kill $!; exit $rc"
        ))
        .run(area)?;
    // Two readers at once are fine; a writer is refused; flock(1)'s exclusive lock, which
    // writes no owner record, is refused without a name.
    expect_top(&ran.steps[1], "preflight", &[&ok("preflight", false)], 0)?;
    let anonymous = "another guard process owns the mutation mutex";
    expect_top(
        &ran.steps[2],
        "lock",
        &[
            &issue("mutation-in-progress", anonymous, mutex),
            &failed("lock"),
        ],
        1,
    )?;
    expect_top(
        &ran.steps[3],
        "preflight",
        &[
            &issue("mutation-in-progress", anonymous, mutex),
            &failed("preflight"),
        ],
        1,
    )?;
    Ok(())
}

fn mutex_file_checks(area: &Path) -> TestResult {
    let mutex = "/run/nemoclaw/openclaw-config-mutation.lock";
    let reset = "rm -rf /run/nemoclaw";
    let steps = [
        format!("{reset}; mkdir /run/nemoclaw && chmod 0777 /run/nemoclaw; python3 -I {STUB} preflight"),
        format!("{reset}; mkdir -m 0700 /run/nemoclaw && touch {mutex} && chmod 0644 {mutex}; python3 -I {STUB} preflight"),
        format!("{reset}; mkdir -m 0700 /run/nemoclaw && touch {mutex} && chmod 0600 {mutex} && ln {mutex} /run/nemoclaw/second; python3 -I {STUB} preflight"),
        format!("{reset}; mkdir -m 0700 /run/nemoclaw && ln -s /tmp/elsewhere {mutex}; python3 -I {STUB} lock"),
        format!("{reset}; mkdir -m 0700 /tmp/nemoclaw && ln -s /tmp/nemoclaw /run/nemoclaw; python3 -I {STUB} preflight"),
        format!("{reset}; mkdir -m 0700 /run/nemoclaw && chown 998 /run/nemoclaw; python3 -I {STUB} preflight"),
        format!("{reset}; python3 -I {STUB} preflight; stat -c '%n %u:%g %a %h' /run/nemoclaw {mutex} >&2"),
    ];
    let mut run = RealPath::new("");
    for step in &steps {
        run = run.step(step.clone());
    }
    let ran = run
        .probe("ls -a /tmp; stat -c '%n %u:%g %a %h %s' /run/nemoclaw /run/nemoclaw/openclaw-config-mutation.lock")
        .run(area)?;
    // The same states before NemoClaw's own guard, where it is given: the same bytes (each of
    // these fails at the mutex, before the guard would change anything).
    if std::env::var("NC_HARDEN_ORIGINAL_GUARD").is_ok() {
        let original = "/nc/lib/original-openclaw-config-guard.py";
        let mut theirs = RealPath::new("");
        for step in &steps[..6] {
            theirs = theirs.step(step.replace(STUB, original));
        }
        let theirs = theirs.run(area)?;
        for (i, (ours, theirs)) in ran.steps.iter().zip(&theirs.steps).enumerate() {
            ensure!(
                ours.lines() == theirs.lines() && theirs.stderr.is_empty(),
                "case {i}: the original guard printed {:#?}",
                theirs.lines()
            );
        }
    }
    let unsafe_dir = issue(
        "unsafe-state-path",
        "state directory must be root-owned and not group/world-writable",
        "/run/nemoclaw",
    );
    let unsafe_file = issue(
        "unsafe-mutation-mutex",
        "mutation mutex must be a private root-owned regular file",
        mutex,
    );
    expect_top(
        &ran.steps[0],
        "preflight",
        &[&unsafe_dir, &failed("preflight")],
        1,
    )?;
    expect_top(
        &ran.steps[1],
        "preflight",
        &[&unsafe_file, &failed("preflight")],
        1,
    )?;
    expect_top(
        &ran.steps[2],
        "preflight",
        &[&unsafe_file, &failed("preflight")],
        1,
    )?;
    let eloop = issue(
        "operation-failed",
        "[Errno 40] Too many levels of symbolic links: 'openclaw-config-mutation.lock'",
        "/sandbox/.openclaw",
    );
    expect_top(&ran.steps[3], "lock", &[&eloop, &failed("lock")], 1)?;
    let not_dir = issue(
        "unsafe-state-path",
        "state parent is not a directory",
        "/run/nemoclaw",
    );
    expect_top(
        &ran.steps[4],
        "preflight",
        &[&not_dir, &failed("preflight")],
        1,
    )?;
    expect_top(
        &ran.steps[5],
        "preflight",
        &[&unsafe_dir, &failed("preflight")],
        1,
    )?;
    // Made where missing, as the guard makes them: /run/nemoclaw 0700, the file 0600,
    // root's, one link; no symlink target was created.
    let made = &ran.steps[6];
    ensure!(
        made.lines() == [ok("preflight", false)],
        "{:#?}",
        made.lines()
    );
    let listed = String::from_utf8_lossy(&made.stderr);
    ensure!(
        listed == format!("/run/nemoclaw 0:0 700 2\n{mutex} 0:0 600 1\n"),
        "made: {listed}"
    );
    ensure!(
        !ran.probe.contains("elsewhere"),
        "a symlink was followed: {}",
        ran.probe
    );
    Ok(())
}

fn state_dir_waits(area: &Path) -> TestResult {
    let ran = with_holder(RealPath::new(""))
        .step(hold("ex", "record", "1.5", "/out/first"))
        .step(format!(
            "start=$(date +%s%N); python3 -I {STATE_STUB} preflight --config-dir /sandbox/.openclaw; \
             rc=$?; echo $(( ($(date +%s%N) - start) / 1000000 )) > /out/elapsed; exit $rc"
        ))
        .step("cat /out/elapsed")
        .step(hold("ex", "record", "20", "/out/second"))
        .step(format!(
            "NC_HARDEN_GUARD_MUTEX_WAIT_MS=300 python3 -I {STATE_STUB} lock --config-dir /sandbox/.openclaw; rc=$?; kill $(cat /out/second); exit $rc"
        ))
        .run(area)?;
    let waited = state_dir("preflight", &ran.steps[1].run()).map_err(|v| format!("{v:?}"))?;
    ensure!(
        waited.ok,
        "after the wait, the preflight: {:#?}",
        ran.steps[1].lines()
    );
    let elapsed: u64 = String::from_utf8_lossy(&ran.steps[2].stdout)
        .trim()
        .parse()
        .map_err(|e| format!("{e}"))?;
    ensure!(
        elapsed >= 1000,
        "the state-dir guard did not wait for the holder ({elapsed} ms)"
    );
    let pid = pid_of(&ran.steps[3])?;
    let step = &ran.steps[4];
    state_dir("lock", &step.run()).map_err(|v| format!("{v:?}"))?;
    let detail = format!(
        "acquire transition mutex failed: still held after 0.3 s: guard pid {pid} is still running action write-config"
    );
    let want = format!(
        r#"{{"code":"transition-lock-failed","detail":"{detail}","path":"/run/nemoclaw/openclaw-config-mutation.lock","type":"issue"}}"#
    );
    ensure!(step.lines().first() == Some(&want), "{:#?}", step.lines());
    Ok(())
}

/// A stand-in for the original guard: records its argv, whether it runs isolated, its stdin.
const FAKE_ORIGINAL: &str = r#"
import json, sys
record = {"argv": sys.argv, "isolated": sys.flags.isolated, "stdin": sys.stdin.read(),
          "file": __file__, "name": __name__}
with open("/out/original.json", "a") as out:
    out.write(json.dumps(record) + "\n")
print(json.dumps({"type": "result", "action": sys.argv[1], "status": "ok", "configDir": "/sandbox/.openclaw",
                  "files": ["openclaw.json", ".config-hash"], "chattrApplied": False}, sort_keys=True))
"#;

fn stub_routes_to_original(area: &Path) -> TestResult {
    let sha = "a".repeat(64);
    let mut run = RealPath::new(&format!("{LOCKED}\nchattr +i $S/openclaw.json $S/.config-hash"))
        .step(format!(
            "printf '{{\"new\": 1}}' | python3 -I {STUB} seal-restart --config-dir /sandbox/.openclaw --expected-config-sha256 {sha}"
        ))
        .step("lsattr -l /sandbox/.openclaw/openclaw.json /sandbox/.openclaw/.config-hash")
        .step(format!("chattr +i $S/openclaw.json; python3 -I {STUB} revoke-startup-ready --startup-owner"))
        .step("lsattr -l /sandbox/.openclaw/openclaw.json")
        .step("cat /out/original.json")
        .probe("chattr -i /sandbox/.openclaw/openclaw.json");
    run.files.push((
        "lib/openclaw-config-guard.orig.py",
        FAKE_ORIGINAL.to_string(),
        0o500,
    ));
    let ran = run.run(area)?;
    for (i, action) in [(0, "seal-restart"), (2, "revoke-startup-ready")] {
        let accepted =
            openclaw_config(action, &ran.steps[i].run()).map_err(|v| format!("{action}: {v:?}"))?;
        ensure!(
            accepted.ok,
            "{action}: the original's answer reaches the caller alone"
        );
        ensure!(
            ran.steps[i].lines().len() == 1,
            "{action}: {:#?}",
            ran.steps[i].lines()
        );
    }
    let flags = String::from_utf8_lossy(&ran.steps[1].stdout);
    ensure!(
        !flags.contains("Immutable"),
        "the pins are off before the original runs: {flags}"
    );
    let kept = String::from_utf8_lossy(&ran.steps[3].stdout);
    ensure!(
        kept.contains("Immutable"),
        "revoke-startup-ready needs no unpin: {kept}"
    );
    let records: Vec<serde_json::Value> = String::from_utf8_lossy(&ran.steps[4].stdout)
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    ensure!(records.len() == 2, "{records:?}");
    // The original runs under the installed name (its startup lease depends on it).
    ensure!(
        records[0]
            == serde_json::json!({"argv": [STUB, "seal-restart", "--config-dir", "/sandbox/.openclaw",
                "--expected-config-sha256", sha], "isolated": 1, "stdin": "{\"new\": 1}",
                "file": STUB, "name": "__main__"}),
        "{}",
        records[0]
    );
    ensure!(
        records[1]
            == serde_json::json!({"argv": [STUB, "revoke-startup-ready", "--startup-owner"], "isolated": 1, "stdin": "", "file": STUB, "name": "__main__"}),
        "{}",
        records[1]
    );
    Ok(())
}

/// With NemoClaw's guard given (`NC_HARDEN_ORIGINAL_GUARD`): the stub runs the real one for
/// `recover` on a pinned mutable tree (the pin it would refuse taken off first), and NemoClaw's
/// parser accepts its answer.
fn real_original_through_the_stub(area: &Path) -> TestResult {
    let path = std::env::var("NC_HARDEN_ORIGINAL_GUARD").map_err(|e| e.to_string())?;
    let mut run = RealPath::new("chattr +i $S/openclaw.json")
        .step(format!(
            "python3 -I {STUB} recover --config-dir /sandbox/.openclaw"
        ))
        .step("lsattr /sandbox/.openclaw/openclaw.json | cut -c1-22")
        .probe("chattr -i /sandbox/.openclaw/openclaw.json; true");
    run.files.push((
        "lib/openclaw-config-guard.orig.py",
        fs::read_to_string(path)?,
        0o500,
    ));
    let ran = run.run(area)?;
    let accepted = openclaw_config("recover", &ran.steps[0].run())
        .map_err(|v| format!("{v:?}: {}", String::from_utf8_lossy(&ran.steps[0].stdout)))?;
    ensure!(accepted.ok, "recover: {:#?}", ran.steps[0].lines());
    let flags = String::from_utf8_lossy(&ran.steps[1].stdout);
    ensure!(!flags.contains('i'), "the pin is off: {flags}");
    Ok(())
}

fn state_dir_stub_routes(area: &Path) -> TestResult {
    let mut run = RealPath::new("")
        .step(format!("python3 -I {STATE_STUB} --config-dir /sandbox/.openclaw unlock"))
        .step(format!("python3 -I {STATE_STUB} --config /sandbox/.openclaw lock"))
        .step(format!("python3 -I {STATE_STUB} frobnicate --config-dir /sandbox/.openclaw; cat /out/original.json"));
    run.files.push((
        "lib/state-dir-guard.orig.py",
        FAKE_ORIGINAL.to_string(),
        0o500,
    ));
    let ran = run.run(area)?;
    for (i, action) in [(0, "unlock"), (1, "lock")] {
        let accepted =
            state_dir(action, &ran.steps[i].run()).map_err(|v| format!("{action}: {v:?}"))?;
        ensure!(
            accepted.ok && ran.steps[i].status == Some(0),
            "{action}: nc-harden answers: {:#?}",
            ran.steps[i].lines()
        );
    }
    let text = String::from_utf8_lossy(&ran.steps[2].stdout);
    ensure!(
        text.contains(r#""argv": ["/nc/lib/state-dir-guard.py", "frobnicate", "--config-dir", "/sandbox/.openclaw"]"#),
        "{text}"
    );
    Ok(())
}

fn unsupported_through_stub(area: &Path) -> TestResult {
    // The stub sends these to the original guard; called directly, nc-harden refuses them.
    let ran = RealPath::new("")
        .step("/nc/nc-harden guard openclaw-config write-config --config-dir /sandbox/.openclaw")
        .step("/nc/nc-harden guard openclaw-config recover")
        .run(area)?;
    for (step, action) in ran.steps.iter().zip(["write-config", "recover"]) {
        let detail = format!(
            "nc-harden performs preflight, lock and unlock; {action} stays with the original openclaw-config-guard.py (the stub hands it over)"
        );
        expect_top(
            step,
            action,
            &[
                &issue("unsupported-action", &detail, "/sandbox/.openclaw"),
                &failed(action),
            ],
            1,
        )?;
    }
    Ok(())
}

/// nc-harden as the exclusive holder (in this process, whose /run is the suite's private
/// tmpfs): the owner record the top guard writes, a Python guard locked out, the record
/// emptied and the lock free again on release.
fn owner_record(_: &Path) -> TestResult {
    use nc_harden::guard::mutex::{acquire, Hold, MUTEX_PATH};
    let try_python = || -> Result<Option<i32>, Failed> {
        let probe = "import fcntl, os, sys\nfd = os.open(sys.argv[1], os.O_RDWR)\ntry:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept BlockingIOError:\n    sys.exit(3)\n";
        Ok(Command::new("python3")
            .args(["-I", "-c", probe, MUTEX_PATH])
            .status()?
            .code())
    };
    let held = acquire("lock", Hold::Exclusive).map_err(|e| format!("{e:?}"))?;
    let raw = fs::read_to_string(MUTEX_PATH)?;
    ensure!(
        raw.ends_with("}\n") && !raw.contains(' '),
        "compact, one line: {raw:?}"
    );
    let record: serde_json::Value = serde_json::from_str(&raw).map_err(|e| e.to_string())?;
    let keys: Vec<&String> = record.as_object().ok_or("an object")?.keys().collect();
    ensure!(
        keys == ["action", "pid", "pidStartTime", "token", "version"],
        "{keys:?}"
    );
    ensure!(
        raw.starts_with(r#"{"action":"lock","pid":"#),
        "sorted keys: {raw}"
    );
    ensure!(record["pid"] == std::process::id(), "pid {}", record["pid"]);
    ensure!(
        record["version"] == 1 && record["pidStartTime"].is_string(),
        "{record}"
    );
    let token = record["token"].as_str().unwrap_or_default();
    ensure!(
        token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()),
        "token {token}"
    );
    ensure!(
        try_python()? == Some(3),
        "a Python guard gets the mutex while nc-harden holds it"
    );
    let busy = acquire("preflight", Hold::Shared)
        .err()
        .map(|f| f.into_issue(b"/sandbox/.openclaw"));
    ensure!(
        busy.as_ref()
            .is_some_and(|e| e.code == "mutation-in-progress"
                && e.detail
                    == format!(
                        "guard pid {} is still running action lock",
                        std::process::id()
                    )),
        "{busy:?}"
    );
    drop(held);
    ensure!(
        fs::read(MUTEX_PATH)?.is_empty(),
        "the record is emptied on release"
    );
    ensure!(try_python()? == Some(0), "free again after release");
    let meta = fs::metadata(MUTEX_PATH)?;
    ensure!(meta.permissions().mode() & 0o7777 == 0o600, "mode");
    Ok(())
}

/// `make install-share` writes both stubs with the paths substituted, 0644 (the image
/// installs them root:root 0500 at the guards' paths), valid Python; uninstall removes them.
fn make_install_stubs(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "stubs")?;
    let stage = scratch.path().join("stage");
    let make = |target: &str| -> io::Result<std::process::Output> {
        Command::new("make")
            .args([
                "-s",
                "-C",
                env!("CARGO_MANIFEST_DIR"),
                target,
                "PREFIX=/usr",
                "NEMOCLAW_LIBDIR=/opt/nemoclaw-guards",
            ])
            .arg(format!("DESTDIR={}", stage.display()))
            .output()
    };
    common::native::ensure_ok(&make("install-share")?, "make install-share")?;
    for guard in ["openclaw-config-guard", "state-dir-guard"] {
        let path = stage.join(format!("usr/share/nc-harden/nemoclaw/{guard}.py"));
        let text = fs::read_to_string(&path)?;
        ensure!(
            fs::metadata(&path)?.permissions().mode() & 0o7777 == 0o644,
            "{guard} mode"
        );
        ensure!(
            text.contains("NC_HARDEN = \"/usr/bin/nc-harden\""),
            "{guard}: BINDIR"
        );
        ensure!(
            text.contains(&format!(
                "ORIGINAL = \"/opt/nemoclaw-guards/{guard}.orig.py\""
            )),
            "{guard}: NEMOCLAW_LIBDIR"
        );
        ensure!(!text.contains('@'), "{guard}: a placeholder is left");
        let compiled = Command::new("python3")
            .args([
                "-I",
                "-c",
                "import ast, sys; ast.parse(open(sys.argv[1]).read())",
            ])
            .arg(&path)
            .output()?;
        common::native::ensure_ok(&compiled, guard)?;
    }
    common::native::ensure_ok(&make("uninstall")?, "make uninstall")?;
    ensure!(
        !stage.join("usr/share/nc-harden/nemoclaw").exists(),
        "uninstall leaves the stubs"
    );
    Ok(())
}

/// A state-dir preflight scenario (nemoclaw-guards.md section 3.2, and more): the setup on
/// variant H, the records expected (compact), `roots` of the result.
struct StatePreflightCase {
    name: &'static str,
    setup: &'static str,
    issues: &'static [(&'static str, &'static str, &'static str)],
    roots: u64,
}

const STATE_PREFLIGHT: &[StatePreflightCase] = &[
    StatePreflightCase { name: "variant_h", setup: "", issues: &[], roots: 12 },
    StatePreflightCase {
        name: "external_nested_symlink",
        setup: "mkdir $S/workspace/deep && ln -s /etc/passwd $S/workspace/deep/evil",
        issues: &[("symlink-outside-protected-root", "absolute symlink target is outside the config directory", "/sandbox/.openclaw/workspace/deep/evil")],
        roots: 12,
    },
    StatePreflightCase {
        name: "internal_relative_symlink",
        setup: "printf x > $S/skills/tool && ln -s ../skills/tool $S/workspace/tool",
        issues: &[],
        roots: 12,
    },
    StatePreflightCase {
        name: "relative_symlink_escaping",
        setup: "ln -s ../../outside $S/workspace/up",
        issues: &[("symlink-outside-protected-root", "symlink target escapes the config directory", "/sandbox/.openclaw/workspace/up")],
        roots: 12,
    },
    StatePreflightCase {
        name: "symlink_into_an_unprotected_entry",
        setup: "ln -s ../logs $S/workspace/logs",
        issues: &[("symlink-outside-protected-root", "symlink target is not inside a protected state-dir root", "/sandbox/.openclaw/workspace/logs")],
        roots: 12,
    },
    StatePreflightCase {
        name: "openclaw_extension_peer_link",
        setup: "mkdir -p $S/extensions/my-ext_1.0/node_modules && ln -s /usr/local/lib/node_modules/openclaw $S/extensions/my-ext_1.0/node_modules/openclaw",
        issues: &[],
        roots: 12,
    },
    StatePreflightCase {
        name: "peer_link_with_an_encoded_dot_dot_id",
        setup: "mkdir -p $S/extensions/%2e%2e/node_modules && ln -s /usr/local/lib/node_modules/openclaw $S/extensions/%2e%2e/node_modules/openclaw",
        issues: &[("symlink-outside-protected-root", "absolute symlink target is outside the config directory", "/sandbox/.openclaw/extensions/%2e%2e/node_modules/openclaw")],
        roots: 12,
    },
    StatePreflightCase {
        name: "peer_link_at_a_wrong_source_path",
        setup: "mkdir -p $S/extensions/ext/lib/node_modules && ln -s /usr/local/lib/node_modules/openclaw $S/extensions/ext/lib/node_modules/openclaw",
        issues: &[("symlink-outside-protected-root", "absolute symlink target is outside the config directory", "/sandbox/.openclaw/extensions/ext/lib/node_modules/openclaw")],
        roots: 12,
    },
    StatePreflightCase {
        name: "symlink_into_the_sessions_carveout",
        setup: "ln -s ../agents/main/sessions $S/workspace/sessions",
        issues: &[("symlink-crosses-runtime-carveout", "symlinks may not enter or originate in the writable sessions carveout", "/sandbox/.openclaw/workspace/sessions")],
        roots: 12,
    },
    StatePreflightCase {
        name: "carveout_contents_are_not_judged",
        setup: "mkfifo $S/agents/main/sessions/pipe && ln -s /etc/passwd $S/agents/main/sessions/link",
        issues: &[],
        roots: 12,
    },
    StatePreflightCase {
        name: "hardlink_and_fifo",
        setup: "printf x > $S/workspace/a && ln $S/workspace/a $S/memory/b && mkfifo $S/devices/fifo",
        issues: &[
            ("special-entry", "state tree contains a FIFO", "/sandbox/.openclaw/devices/fifo"),
            ("hardlinked-entry", "regular file has link count 2, expected 1", "/sandbox/.openclaw/memory/b"),
            ("hardlinked-entry", "regular file has link count 2, expected 1", "/sandbox/.openclaw/workspace/a"),
        ],
        roots: 12,
    },
    StatePreflightCase {
        name: "root_names_that_are_not_directories",
        setup: "ln -s /tmp $S/plugins && mkfifo $S/profiles && printf x > $S/workspace-extra",
        issues: &[
            ("state-root-symlink", "state-dir roots must not be symlinks", "/sandbox/.openclaw/plugins"),
            ("state-root-not-directory", "state-dir root is a FIFO, not a directory", "/sandbox/.openclaw/profiles"),
            ("state-root-not-directory", "state-dir root is a regular file, not a directory", "/sandbox/.openclaw/workspace-extra"),
        ],
        roots: 12,
    },
    StatePreflightCase {
        name: "symlinked_config_dir",
        setup: "mv $S /sandbox/real && ln -s /sandbox/real $S",
        issues: &[("config-open-failed", "open config directory failed: Not a directory", "/sandbox/.openclaw")],
        roots: 0,
    },
    StatePreflightCase {
        name: "symlink_cycle",
        setup: "ln -s b $S/workspace/a && ln -s a $S/workspace/b",
        issues: &[
            ("symlink-cycle", "internal symlink chain contains a cycle", "/sandbox/.openclaw/workspace/a"),
            ("symlink-cycle", "internal symlink chain contains a cycle", "/sandbox/.openclaw/workspace/b"),
        ],
        roots: 12,
    },
    StatePreflightCase {
        name: "dangling_internal_symlink",
        setup: "ln -s missing $S/workspace/gone",
        issues: &[("symlink-target-unavailable", "stat symlink target failed: No such file or directory", "/sandbox/.openclaw/workspace/gone")],
        roots: 12,
    },
    StatePreflightCase {
        name: "symlink_to_a_fifo_and_through_a_file",
        setup: "mkfifo $S/skills/pipe && printf x > $S/skills/file && ln -s ../skills/pipe $S/workspace/p && ln -s ../skills/file/x $S/workspace/f",
        issues: &[
            ("special-entry", "state tree contains a FIFO", "/sandbox/.openclaw/skills/pipe"),
            ("symlink-target-invalid", "non-directory occurs before the end of a symlink target", "/sandbox/.openclaw/workspace/f"),
            ("special-entry", "symlink resolves to a FIFO", "/sandbox/.openclaw/workspace/p"),
        ],
        roots: 12,
    },
    StatePreflightCase {
        name: "chain_through_internal_links",
        setup: "mkdir $S/skills/real && printf x > $S/skills/real/f && ln -s real $S/skills/alias && ln -s ../skills/alias/f $S/workspace/f",
        issues: &[],
        roots: 12,
    },
    StatePreflightCase {
        name: "entry_budget_exceeded_in_one_pass",
        setup: "python3 -c 'import os\nfor d in \"ab\":\n    os.mkdir(\"/sandbox/.openclaw/workspace/\" + d)\n    for i in range(50000): open(\"/sandbox/.openclaw/workspace/%s/f%06d\" % (d, i), \"w\").close()'",
        issues: &[("work-entry-limit", "state tree exceeds 100000 entries in one pass", "/sandbox/.openclaw/workspace/b/f049983")],
        roots: 0,
    },
    StatePreflightCase {
        name: "entry_budget_exceeded_by_one_directory",
        setup: "python3 -c 'import os\nos.mkdir(\"/sandbox/.openclaw/memory/big\")\nfor i in range(100001): open(\"/sandbox/.openclaw/memory/big/f%06d\" % i, \"w\").close()'",
        issues: &[("work-entry-limit", "directory exceeds 100000 entries", "/sandbox/.openclaw/memory/big")],
        roots: 0,
    },
    StatePreflightCase {
        name: "entry_on_another_filesystem",
        setup: "mkdir $S/memory/mnt && mount -t tmpfs other $S/memory/mnt",
        issues: &[("cross-device-entry", "entry is on a different filesystem", "/sandbox/.openclaw/memory/mnt")],
        roots: 12,
    },
];

fn state_preflight_case(area: &Path, index: usize) -> TestResult {
    let case = &STATE_PREFLIGHT[index];
    let original = std::env::var("NC_HARDEN_ORIGINAL_STATE_DIR_GUARD").ok();
    let listing = "find /sandbox -printf '%p %u:%g %m %i %y\\n' | sort";
    let mut run = RealPath::new(case.setup)
        .step(listing)
        .step(format!(
            "timeout 20 python3 -I {STATE_STUB} preflight --config-dir /sandbox/.openclaw"
        ))
        .probe(listing);
    if let Some(path) = &original {
        run.files.push((
            "lib/original-state-dir-guard.py",
            fs::read_to_string(path)?,
            0o500,
        ));
        run = run.step("timeout 20 python3 -I /nc/lib/original-state-dir-guard.py preflight --config-dir /sandbox/.openclaw");
    }
    let ran = run.run(area)?;
    let step = &ran.steps[1];
    let accepted = state_dir("preflight", &step.run()).map_err(|v| {
        format!(
            "NemoClaw's parser refuses: {v:?}\n{}",
            String::from_utf8_lossy(&step.stdout)
        )
    })?;
    let mut want: Vec<String> = case
        .issues
        .iter()
        .map(|(code, detail, path)| {
            format!(r#"{{"code":"{code}","detail":"{detail}","path":"{path}","type":"issue"}}"#)
        })
        .collect();
    let n = case.issues.len();
    let status = if n == 0 { "ok" } else { "failed" };
    want.push(format!(
        r#"{{"action":"preflight","directories":0,"files":0,"issueCount":{n},"removedEntries":0,"roots":{},"status":"{status}","symlinks":0,"type":"result"}}"#,
        case.roots
    ));
    ensure!(
        step.lines() == want,
        "records\n got {:#?}\nwant {:#?}",
        step.lines(),
        want
    );
    ensure!(
        accepted.ok == (n == 0) && step.status == Some(i32::from(n != 0)),
        "exit {:?}",
        step.status
    );
    ensure!(
        ran.steps[0].stdout == ran.probe.as_bytes(),
        "preflight changed the tree"
    );
    if original.is_some() {
        let theirs = &ran.steps[2];
        ensure!(
            theirs.lines() == step.lines()
                && theirs.stderr.is_empty()
                && theirs.status == step.status,
            "the original guard printed {:#?} (exit {:?}, stderr {})",
            theirs.lines(),
            theirs.status,
            String::from_utf8_lossy(&theirs.stderr)
        );
    }
    Ok(())
}

/// The stub's `unpin`: nothing to do in the mutable posture; the immutable flag taken off
/// the directory and the files; an append-only flag, which nc-harden never sets, left to
/// the original guard to refuse; the posture untouched.
fn unpin_cases(area: &Path) -> TestResult {
    let unpin = "/nc/nc-harden guard openclaw-config unpin --config-dir /sandbox/.openclaw";
    let flags = "lsattr -d /sandbox/.openclaw /sandbox/.openclaw/openclaw.json /sandbox/.openclaw/.config-hash | cut -c1-22";
    let ran = RealPath::new("")
        .step(STATE)
        .step(unpin)
        .step(format!("chattr +i $S $S/openclaw.json $S/.config-hash; {unpin}"))
        .step(flags)
        .step(format!("chattr +a $S/.config-hash; {unpin}; rc=$?; {flags}; chattr -a $S/.config-hash; exit $rc"))
        .probe(STATE)
        .run(area)?;
    // `unpin` is the stub's, not NemoClaw's: its records are the protocol's, but no parser
    // of NemoClaw's reads them (the stub captures them).
    for i in [1, 2] {
        let step = &ran.steps[i];
        ensure!(
            step.lines() == [ok("unpin", false)]
                && step.status == Some(0)
                && step.stderr.is_empty(),
            "unpin: {:#?}",
            step.lines()
        );
    }
    let cleared = String::from_utf8_lossy(&ran.steps[3].stdout);
    ensure!(!cleared.contains('i'), "flags left: {cleared}");
    let appended = ran.steps[4].lines();
    ensure!(
        appended.first() == Some(&ok("unpin", false)),
        "{appended:#?}"
    );
    ensure!(
        appended.get(3).is_some_and(|l| l.contains('a')),
        "the append-only flag stays: {appended:#?}"
    );
    ensure!(
        ran.steps[0].stdout == ran.probe.as_bytes(),
        "unpin changed the posture: {}",
        ran.probe
    );
    Ok(())
}

/// What the stubs say when they cannot do their job: nc-harden missing (`exec-failed`), an
/// original that is not root's alone (`untrusted-original`); records NemoClaw's parsers
/// accept, nothing on stderr, the original never run.
fn stub_failures(area: &Path) -> TestResult {
    let hide = "mv /nc/nc-harden /nc/hidden";
    let back = "mv /nc/hidden /nc/nc-harden";
    let mut run = RealPath::new("")
        .step(format!("{hide}; python3 -I {STUB} preflight; rc=$?; {back}; exit $rc"))
        .step(format!("{hide}; python3 -I {STATE_STUB} lock --config-dir /sandbox/.openclaw; rc=$?; {back}; exit $rc"))
        .step(format!("python3 -I {STUB} publish-startup-ready --startup-owner"))
        .step("cat /out/original.json 2>/dev/null; true");
    run.files.push((
        "lib/openclaw-config-guard.orig.py",
        FAKE_ORIGINAL.to_string(),
        0o602,
    ));
    let ran = run.run(area)?;
    let missing = "cannot run nc-harden: [Errno 2] No such file or directory";
    expect_top(
        &ran.steps[0],
        "preflight",
        &[
            &issue("exec-failed", missing, "/nc/nc-harden"),
            &failed("preflight"),
        ],
        1,
    )?;
    let accepted = state_dir("lock", &ran.steps[1].run()).map_err(|v| format!("{v:?}"))?;
    ensure!(
        accepted.issues.len() == 1
            && accepted.issues[0].code == "exec-failed"
            && accepted.issues[0].detail == missing,
        "{:#?}",
        ran.steps[1].lines()
    );
    let untrusted = "/nc/lib/openclaw-config-guard.orig.py must be a root-owned regular file without group/world write";
    expect_top(
        &ran.steps[2],
        "publish-startup-ready",
        &[
            &issue("untrusted-original", untrusted, "/nc/nc-harden"),
            &failed("publish-startup-ready"),
        ],
        1,
    )?;
    ensure!(ran.steps[3].stdout.is_empty(), "the untrusted original ran");
    Ok(())
}

/// `stat` lines of STATE, by name: (owner, mode, inode).
fn stats(text: &str) -> HashMap<String, (String, String, String)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.len() == 4).then(|| {
                (
                    f[0].to_string(),
                    (f[1].to_string(), f[2].to_string(), f[3].to_string()),
                )
            })
        })
        .collect()
}

const PARENT: &str = "/sandbox";
const DIR: &str = "/sandbox/.openclaw";
const JSON: &str = "/sandbox/.openclaw/openclaw.json";
const HASH: &str = "/sandbox/.openclaw/.config-hash";

/// The posture table of the guard: (parent, dir, files) owner and mode.
fn expect_posture(text: &str, locked: bool, what: &str) -> TestResult {
    let s = stats(text);
    let want: [(&str, &str, &str); 4] = if locked {
        [
            (PARENT, "0:998", "1775"),
            (DIR, "0:0", "755"),
            (JSON, "0:0", "444"),
            (HASH, "0:0", "444"),
        ]
    } else {
        [
            (PARENT, "998:998", "755"),
            (DIR, "998:998", "2770"),
            (JSON, "998:998", "660"),
            (HASH, "998:998", "660"),
        ]
    };
    for (name, owner, mode) in want {
        let got = s
            .get(name)
            .ok_or(format!("{what}: {name} missing: {text}"))?;
        ensure!(
            got.0 == owner && got.1 == mode,
            "{what}: {name} is {}:{} , expected {owner} {mode}\n{text}",
            got.0,
            got.1
        );
    }
    Ok(())
}

fn inode(text: &str, name: &str) -> Result<String, Failed> {
    Ok(stats(text)
        .get(name)
        .ok_or(format!("{name} missing: {text}"))?
        .2
        .clone())
}

/// The `lsattr` flags column of the two files.
const FLAGS: &str =
    "lsattr /sandbox/.openclaw/openclaw.json /sandbox/.openclaw/.config-hash | cut -d' ' -f1";

fn immutable_both(step: &Step) -> bool {
    let text = String::from_utf8_lossy(&step.stdout);
    let lines: Vec<&str> = text.lines().collect();
    lines.len() == 2 && lines.iter().all(|l| l.contains('i'))
}

fn no_flags(step: &Step) -> bool {
    let text = String::from_utf8_lossy(&step.stdout);
    text.lines().count() == 2 && !text.contains('i') && !text.contains('a')
}

/// Mutable → lock → lock (locked: verified, pinned again) → unlock → unlock (mutable:
/// ok, NemoClaw #7430) → lock. Records line by line, the posture table after each, the two
/// files on fresh inodes at every lock, the flag read back (`chattrApplied` true), the
/// bytes of `openclaw.json` kept, the hash record in the guard's relative form.
fn lock_unlock_postures(area: &Path) -> TestResult {
    let lock = format!("python3 -I {STUB} lock --config-dir /sandbox/.openclaw");
    let unlock = format!("python3 -I {STUB} unlock --config-dir /sandbox/.openclaw");
    let ran = RealPath::new("")
        .step(STATE) // 0
        .step(&lock) // 1
        .step(STATE) // 2
        .step(FLAGS) // 3
        .step("cat /sandbox/.openclaw/.config-hash") // 4
        .step(&lock) // 5
        .step(STATE) // 6
        .step(FLAGS) // 7
        .step(&unlock) // 8
        .step(STATE) // 9
        .step(FLAGS) // 10
        .step(&unlock) // 11
        .step(STATE) // 12
        .step(&lock) // 13
        .step(STATE) // 14
        .probe("chattr -i /sandbox/.openclaw/openclaw.json /sandbox/.openclaw/.config-hash; true")
        .run(area)?;
    let text = |i: usize| String::from_utf8_lossy(&ran.steps[i].stdout).to_string();
    expect_posture(&text(0), false, "variant H")?;
    for i in [1, 5, 13] {
        expect_top(&ran.steps[i], "lock", &[&ok("lock", true)], 0)?;
    }
    for i in [8, 11] {
        expect_top(&ran.steps[i], "unlock", &[&ok("unlock", false)], 0)?;
    }
    for (i, locked) in [(2, true), (6, true), (9, false), (12, false), (14, true)] {
        expect_posture(&text(i), locked, &format!("step {i}"))?;
    }
    ensure!(
        immutable_both(&ran.steps[3]),
        "lock: no pin read back: {}",
        text(3)
    );
    ensure!(
        immutable_both(&ran.steps[7]),
        "relock: no pin read back: {}",
        text(7)
    );
    ensure!(no_flags(&ran.steps[10]), "unlock left flags: {}", text(10));
    // Fresh inodes at every lock (unlock renews them as the guard does too).
    for (before, after) in [(0, 2), (12, 14)] {
        for f in [JSON, HASH] {
            ensure!(
                inode(&text(before), f)? != inode(&text(after), f)?,
                "{f}: the same inode after the lock of step {after}"
            );
        }
    }
    // A lock of the locked posture verifies (as the guard's): the inodes stay.
    for f in [JSON, HASH] {
        ensure!(
            inode(&text(2), f)? == inode(&text(6), f)?,
            "{f}: the relock of a locked tree replaced it"
        );
    }
    // The directory keeps its inode; the bytes of openclaw.json never change.
    ensure!(
        inode(&text(0), DIR)? == inode(&text(14), DIR)?,
        "dir replaced"
    );
    let digest = |i: usize| -> Result<String, Failed> {
        Ok(text(i)
            .lines()
            .find(|l| l.ends_with(JSON) && !l.starts_with('/'))
            .ok_or(format!("no digest: {}", text(i)))?
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_string())
    };
    let d = digest(0)?;
    for i in [2, 6, 9, 12, 14] {
        ensure!(digest(i)? == d, "step {i}: openclaw.json's bytes changed");
    }
    ensure!(
        text(4) == format!("{d}  openclaw.json\n"),
        "the hash record after the lock: {:?}",
        text(4)
    );
    Ok(())
}

/// Without CAP_LINUX_IMMUTABLE (dropped from the bounding set before python3 runs): the
/// lock reaches the posture table, on fresh inodes, and says `chattrApplied: false`, no
/// flag set; a tree pinned before stays pinned and is verified (`chattrApplied` true, read
/// back); the unlock of a pinned tree fails and changes nothing.
fn lock_without_immutable(area: &Path) -> TestResult {
    let nocap = "setpriv --bounding-set -linux_immutable --inh-caps -linux_immutable";
    let ran = RealPath::new("")
        .step(STATE) // 0
        .step(format!("{nocap} python3 -I {STUB} lock")) // 1
        .step(STATE) // 2
        .step(FLAGS) // 3
        .step(format!("python3 -I {STUB} lock")) // 4: pinned, with the capability
        .step(format!("{nocap} python3 -I {STUB} lock")) // 5
        .step(FLAGS) // 6
        .step(STATE) // 7
        .step(format!("{nocap} python3 -I {STUB} unlock")) // 8
        .step(STATE) // 9
        .step(FLAGS) // 10
        .probe("chattr -i /sandbox/.openclaw/openclaw.json /sandbox/.openclaw/.config-hash; true")
        .run(area)?;
    let text = |i: usize| String::from_utf8_lossy(&ran.steps[i].stdout).to_string();
    expect_top(&ran.steps[1], "lock", &[&ok("lock", false)], 0)?;
    expect_posture(&text(2), true, "lock without the capability")?;
    ensure!(no_flags(&ran.steps[3]), "a flag was set: {}", text(3));
    for f in [JSON, HASH] {
        ensure!(
            inode(&text(0), f)? != inode(&text(2), f)?,
            "{f}: not renewed"
        );
    }
    expect_top(&ran.steps[4], "lock", &[&ok("lock", true)], 0)?;
    expect_top(&ran.steps[5], "lock", &[&ok("lock", true)], 0)?;
    ensure!(immutable_both(&ran.steps[6]), "the pins went: {}", text(6));
    let accepted = openclaw_config("unlock", &ran.steps[8].run()).map_err(|v| format!("{v:?}"))?;
    ensure!(
        !accepted.ok && ran.steps[8].status == Some(1) && ran.steps[8].lines().len() == 2,
        "unlock without the capability: {:#?}",
        ran.steps[8].lines()
    );
    ensure!(
        ran.steps[8].lines()[1] == failed("unlock"),
        "{:#?}",
        ran.steps[8].lines()
    );
    ensure!(
        text(9) == text(7),
        "the refused unlock changed:\n{}\n{}",
        text(7),
        text(9)
    );
    ensure!(
        immutable_both(&ran.steps[10]),
        "the refused unlock unpinned"
    );
    Ok(())
}

/// A writer that opened openclaw.json read-write and mapped it shared, writable, before the
/// lock: after the lock its writes (through the descriptor and the mapping) reach the old
/// inode only; the path's bytes are the ones locked, and the hash record still holds.
const WRITER: &str = r#"
import mmap, os, sys, time
fd = os.open("/sandbox/.openclaw/openclaw.json", os.O_RDWR)
m = mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
open("/tmp/writer-ready", "w").write("1")
while not os.path.exists("/tmp/go"):
    time.sleep(0.02)
m[0:1] = b"X"
m.flush()
os.pwrite(fd, b"Y", 1)
os.fsync(fd)
open("/tmp/writer-done", "w").write("1")
"#;

fn writer_from_before(area: &Path) -> TestResult {
    let mut run = RealPath::new("")
        .step("setpriv --reuid 998 --regid 998 --clear-groups python3 /nc/writer.py >/out/writer.log 2>&1 &\n\
               while [ ! -s /tmp/writer-ready ]; do sleep 0.02; done; sha256sum /sandbox/.openclaw/openclaw.json")
        .step(format!("python3 -I {STUB} lock"))
        .step("touch /tmp/go; while [ ! -s /tmp/writer-done ]; do sleep 0.02; done; cat /out/writer.log; \
               sha256sum /sandbox/.openclaw/openclaw.json; head -c 2 /sandbox/.openclaw/openclaw.json")
        .step(format!("python3 -I {STUB} preflight"))
        .probe("chattr -i /sandbox/.openclaw/openclaw.json /sandbox/.openclaw/.config-hash; true");
    run.files.push(("writer.py", WRITER.to_string(), 0o644));
    let ran = run.run(area)?;
    expect_top(&ran.steps[1], "lock", &[&ok("lock", true)], 0)?;
    let before = String::from_utf8_lossy(&ran.steps[0].stdout).to_string();
    let after = String::from_utf8_lossy(&ran.steps[2].stdout).to_string();
    ensure!(
        after.starts_with(&before) && after.ends_with("{\""),
        "the writer's bytes reached the path:\nbefore {before}\nafter {after}"
    );
    expect_top(&ran.steps[3], "preflight", &[&ok("preflight", true)], 0)?;
    Ok(())
}

/// NemoClaw's tracker: a missing `.config-hash` is written at lock, openclaw.json kept in
/// place (#7382); a stale or unparsable record in the mutable posture is rewritten, not
/// judged; a relock after a permissions-only change of `.config-hash` holds (#7985), both
/// root's (locked) and the sandbox user's (mutable).
fn tracker_cases(area: &Path) -> TestResult {
    let lock = format!("python3 -I {STUB} lock");
    let unlock = format!("python3 -I {STUB} unlock");
    let digest = "sha256sum /sandbox/.openclaw/openclaw.json | cut -d' ' -f1";
    let ran = RealPath::new("")
        .step(format!("rm $S/.config-hash; {digest}")) // 0
        .step(&lock) // 1
        .step("cat $S/.config-hash; ls -a /sandbox $S | grep -c rejected; true") // 2
        .step(&unlock) // 3
        .step(format!("echo nonsense > $S/.config-hash; {lock}")) // 4
        .step("cat $S/.config-hash") // 5
        .step(format!("{unlock}; chmod 0600 $S/.config-hash; {lock}")) // 6
        .step(format!(
            "chattr -i $S/.config-hash; chmod 0644 $S/.config-hash; {lock}"
        )) // 7
        .step(STATE) // 8
        .step(FLAGS) // 9
        .probe("chattr -i /sandbox/.openclaw/openclaw.json /sandbox/.openclaw/.config-hash; true")
        .run(area)?;
    let d = String::from_utf8_lossy(&ran.steps[0].stdout)
        .trim()
        .to_string();
    ensure!(d.len() == 64, "no digest: {d}");
    expect_top(&ran.steps[1], "lock", &[&ok("lock", true)], 0)?;
    let record = String::from_utf8_lossy(&ran.steps[2].stdout).to_string();
    ensure!(
        record == format!("{d}  openclaw.json\n0\n"),
        "#7382: the record written and nothing moved aside: {record:?}"
    );
    expect_top(&ran.steps[3], "unlock", &[&ok("unlock", false)], 0)?;
    expect_top(&ran.steps[4], "lock", &[&ok("lock", true)], 0)?;
    let record = String::from_utf8_lossy(&ran.steps[5].stdout).to_string();
    ensure!(
        record == format!("{d}  openclaw.json\n"),
        "rewritten: {record:?}"
    );
    // Step 6 prints the unlock's record then the lock's.
    ensure!(
        ran.steps[6].lines() == [ok("unlock", false), ok("lock", true)]
            && ran.steps[6].status == Some(0),
        "#7985 (mutable): {:#?}",
        ran.steps[6].lines()
    );
    expect_top(&ran.steps[7], "lock", &[&ok("lock", true)], 0)?;
    expect_posture(
        &String::from_utf8_lossy(&ran.steps[8].stdout),
        true,
        "#7985",
    )?;
    ensure!(immutable_both(&ran.steps[9]), "#7985: the pins");
    Ok(())
}

/// The state-dir guard's lock and unlock through its stub, after the top lock as NemoClaw
/// runs them: the result record and the trees' postures, `dir` back to the top lock's
/// posture and pins; unlock hands the trees back.
fn state_dir_transitions(area: &Path) -> TestResult {
    let trees = "stat -c '%n %u:%g %a' /sandbox/.openclaw /sandbox/.openclaw/workspace /sandbox/.openclaw/credentials \
                 /sandbox/.openclaw/agents/main/sessions /sandbox/.openclaw/logs";
    let ran = RealPath::new("printf 'x\\n' > $S/workspace/notes.md && chown 998:998 $S/workspace/notes.md && chmod 0660 $S/workspace/notes.md")
        .step(format!("python3 -I {STUB} lock")) // 0
        .step(format!("python3 -I {STATE_STUB} lock --config-dir /sandbox/.openclaw")) // 1
        .step(format!("{trees} /sandbox/.openclaw/workspace/notes.md")) // 2
        .step("lsattr -d /sandbox/.openclaw/openclaw.json | cut -d' ' -f1") // 3
        .step(format!("python3 -I {STATE_STUB} unlock --config-dir /sandbox/.openclaw")) // 4
        .step(format!("{trees} /sandbox/.openclaw/workspace/notes.md")) // 5
        .probe("chattr -i /sandbox/.openclaw/openclaw.json /sandbox/.openclaw/.config-hash; true")
        .run(area)?;
    expect_top(&ran.steps[0], "lock", &[&ok("lock", true)], 0)?;
    for (i, action) in [(1, "lock"), (4, "unlock")] {
        let accepted = state_dir(action, &ran.steps[i].run()).map_err(|v| format!("{v:?}"))?;
        ensure!(
            accepted.ok && ran.steps[i].status == Some(0) && ran.steps[i].lines().len() == 1,
            "{action}: {:#?}",
            ran.steps[i].lines()
        );
        let line = &ran.steps[i].lines()[0];
        ensure!(
            line.starts_with(&format!(r#"{{"action":"{action}","directories":"#))
                && line.contains(r#","files":1,"issueCount":0,"removedEntries":0,"roots":12,"status":"ok","symlinks":0,"type":"result"}"#),
            "{action}: {line}"
        );
    }
    let locked = String::from_utf8_lossy(&ran.steps[2].stdout).to_string();
    ensure!(
        locked
            == "/sandbox/.openclaw 0:0 755\n/sandbox/.openclaw/workspace 0:998 755\n/sandbox/.openclaw/credentials 0:0 700\n\
                /sandbox/.openclaw/agents/main/sessions 998:998 2770\n/sandbox/.openclaw/logs 998:998 2770\n\
                /sandbox/.openclaw/workspace/notes.md 0:998 640\n",
        "locked trees:\n{locked}"
    );
    ensure!(
        String::from_utf8_lossy(&ran.steps[3].stdout).contains('i'),
        "the top lock's pin is back after the pass"
    );
    let unlocked = String::from_utf8_lossy(&ran.steps[5].stdout).to_string();
    ensure!(
        unlocked
            == "/sandbox/.openclaw 0:0 755\n/sandbox/.openclaw/workspace 998:998 2770\n/sandbox/.openclaw/credentials 998:998 2770\n\
                /sandbox/.openclaw/agents/main/sessions 998:998 2770\n/sandbox/.openclaw/logs 998:998 2770\n\
                /sandbox/.openclaw/workspace/notes.md 998:998 660\n",
        "unlocked trees:\n{unlocked}"
    );
    Ok(())
}

/// A lock from the mutable posture killed (SIGKILL) at each of its steps in turn (the
/// `__kill-points` build), each time on a fresh variant H; the next lock, not killed,
/// converges on the posture table with the pins and the same bytes. Then the same for an
/// unlock from the locked posture, the next unlock converging on the mutable posture.
fn kill_each_step(area: &Path) -> TestResult {
    let script = format!(
        r#"
reset() {{
  chattr -i /sandbox/.openclaw /sandbox/.openclaw/* /sandbox/.openclaw/.config-hash 2>/dev/null
  rm -rf /sandbox/.openclaw /run/nc-harden 2>/dev/null
  {VARIANT_H}
}}
prepare() {{
  reset
  if [ $1 = unlock ]; then python3 -I {STUB} lock >/dev/null || echo "setup lock failed"; fi
}}
for action in lock unlock; do
  prepare $action
  n=$(NC_HARDEN_KILL_COUNT=1 python3 -I {STUB} $action 2>&1 >/dev/null | tail -n 1 | awk '{{print $NF}}')
  echo "steps $action ${{n:-0}}"
  k=1
  while [ $k -le ${{n:-0}} ]; do
    prepare $action
    NC_HARDEN_KILL_AT=$k python3 -I {STUB} $action >/dev/null 2>&1
    rc=$?
    out=$(python3 -I {STUB} $action 2>&1)
    st=$(stat -c '%u:%g:%a' /sandbox /sandbox/.openclaw /sandbox/.openclaw/openclaw.json /sandbox/.openclaw/.config-hash | tr '\n' ' ')
    echo "$action $k $rc $st| $out"
    k=$((k+1))
  done
done
"#
    );
    let mut run = RealPath::new("").step(script);
    run.binary = Some(common::native::kill_points_cli()?);
    run = run
        .probe("chattr -i /sandbox/.openclaw/openclaw.json /sandbox/.openclaw/.config-hash; true");
    let ran = run.run(area)?;
    let out = String::from_utf8_lossy(&ran.steps[0].stdout).to_string();
    let mut counted = HashMap::new();
    let mut killed = 0;
    for line in out.lines() {
        let f: Vec<&str> = line.splitn(4, ' ').collect();
        if f[0] == "steps" {
            let n: usize = f.get(2).and_then(|n| n.parse().ok()).unwrap_or(0);
            ensure!(n >= 5, "too few kill points in a {}: {out}", f[1]);
            counted.insert(f[1].to_string(), n);
            continue;
        }
        ensure!(f.len() == 4, "unexpected: {line}\n{out}");
        let (action, rc) = (f[0], f[2]);
        let (posture, head) = f[3].split_once("| ").ok_or(format!("unexpected: {line}"))?;
        let want = if action == "lock" {
            "0:998:1775 0:0:755 0:0:444 0:0:444 "
        } else {
            "998:998:755 998:998:2770 998:998:660 998:998:660 "
        };
        ensure!(
            posture == want,
            "after a kill and the next {action}: {line}"
        );
        if rc == "137" {
            killed += 1;
        }
        ensure!(
            head == ok(action, action == "lock"),
            "after a kill, the next {action} did not hold: {line}"
        );
    }
    let total: usize = counted.values().sum();
    ensure!(counted.len() == 2, "{out}");
    ensure!(
        killed == total && out.lines().count() == total + 2,
        "{killed} of {total} runs killed:\n{out}"
    );
    Ok(())
}
