//! `nc-harden guard openclaw-config|state-dir ACTION --config-dir DIR ...`: NemoClaw's
//! guards' protocol, so that an image swaps `openclaw-config-guard.py` and
//! `state-dir-guard.py` for nc-harden with no change to NemoClaw's code (the stubs of
//! `share/nc-harden/nemoclaw/` `execv` here).
//!
//! What the caller sees is what the guard prints: JSON lines on stdout (at most one issue
//! record for the top-level guard, any number for the state-dir one, then exactly one
//! result), exit 0 or 1, **nothing on stderr ever** (NemoClaw's parsers count any stderr as
//! a failure). The preconditions come in the guard's order: euid 0 (`root-required`), the
//! production config directory (`invalid-config-path`), the `sandbox` user and group, then
//! NemoClaw's mutex. Two choices of ours, documented in docs/nemoclaw-drop-in.md: a usage
//! error (argparse prints to stderr and exits 2) is an `invalid-arguments` issue on stdout
//! and exit 2; an action the drop-in does not perform is `unsupported-action`, exit 1.

pub mod engine;
pub mod records;

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use engine::{Shields, Transition};
use nc_harden::guard::identity;
use nc_harden::guard::mutex::{self, Hold};
use nc_harden::guard::{openclaw, python, GuardError, CONFIG_DIR, HERMES_DIR};
use records::{Style, Value};

/// argparse's exit status for a usage error.
const USAGE: u8 = 2;

/// Which guard is spoken for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Guard {
    OpenClawConfig,
    StateDir,
}

impl Guard {
    fn style(self) -> Style {
        match self {
            Guard::OpenClawConfig => Style::Spaced,
            Guard::StateDir => Style::Compact,
        }
    }
}

/// The actions of `openclaw-config-guard.py` that stay with it (the stub hands them over).
const PYTHON_ONLY: [&str; 7] = [
    "preflight-restart",
    "seal-restart",
    "unseal-restart",
    "revoke-startup-ready",
    "publish-startup-ready",
    "write-config",
    "recover",
];

/// The arguments after `guard`.
struct Call {
    guard: Guard,
    action: Vec<u8>,
    config_dir: Option<Vec<u8>>,
    /// Accepted as the guard accepts them; no action of the drop-in reads them (the
    /// guard uses them for write-config and the startup lease, which stay with it).
    _expected_sha256: Option<Vec<u8>>,
    _startup_owner: bool,
}

/// Runs `nc-harden guard ARGS...`; returns the exit status. Prints only on stdout.
pub fn main(args: Vec<OsString>) -> u8 {
    // Nothing may reach stderr, not even a panic's message: the record says it instead.
    std::panic::set_hook(Box::new(|_| {}));
    let mut out = Vec::new();
    let code = match std::panic::catch_unwind(|| {
        let mut lines = Vec::new();
        let code = run(&args, &mut lines);
        (code, lines)
    }) {
        Ok((code, lines)) => {
            out = lines;
            code
        }
        Err(_) => {
            let guard = guard_of(&args);
            // The action as far as it can be told: the first word after the guard's name.
            let action = args
                .iter()
                .skip(1)
                .find(|a| !a.as_bytes().starts_with(b"-"))
                .map(|a| a.as_bytes().to_vec())
                .unwrap_or_default();
            let e = GuardError::new(
                "internal-error",
                "",
                "nc-harden failed unexpectedly (a bug): nothing is claimed",
            );
            out.push(records::issue(guard.style(), &e));
            out.push(failed(guard.style(), &action, 1, guard == Guard::StateDir));
            1
        }
    };
    let mut stdout = std::io::stdout().lock();
    for line in out {
        // A closed stdout is the caller's business; never a message of ours on stderr.
        if stdout
            .write_all(line.as_bytes())
            .and_then(|_| stdout.write_all(b"\n"))
            .is_err()
        {
            break;
        }
    }
    let _ = stdout.flush();
    code
}

fn guard_of(args: &[OsString]) -> Guard {
    match args.first().map(|a| a.as_bytes()) {
        Some(b"state-dir") => Guard::StateDir,
        _ => Guard::OpenClawConfig,
    }
}

/// The failed result: `{"action","status":"failed","type"}` for the top-level guard; with
/// the counts (zero) and `issueCount` for the state-dir guard.
fn failed(style: Style, action: &[u8], issues: u64, state_dir: bool) -> String {
    if state_dir {
        state_result(action, &engine::StateDirDone::default(), issues)
    } else {
        records::line(
            style,
            &mut [
                ("type", Value::Str(b"result")),
                ("action", Value::Str(action)),
                ("status", Value::Str(b"failed")),
            ],
        )
    }
}

fn state_result(action: &[u8], done: &engine::StateDirDone, issues: u64) -> String {
    records::line(
        Style::Compact,
        &mut [
            ("type", Value::Str(b"result")),
            ("action", Value::Str(action)),
            (
                "status",
                Value::Str(if issues == 0 { b"ok" } else { b"failed" }),
            ),
            ("roots", Value::Int(done.roots)),
            ("directories", Value::Int(done.directories)),
            ("files", Value::Int(done.files)),
            ("symlinks", Value::Int(done.symlinks)),
            ("removedEntries", Value::Int(done.removed_entries)),
            ("issueCount", Value::Int(issues)),
        ],
    )
}

/// What `-h`/`--help` prints (on stdout, as argparse does; exit 0).
const HELP: &str =
    "usage: nc-harden guard openclaw-config {preflight,lock,unlock} [--config-dir DIR] \
[--expected-config-sha256 HEX] [--startup-owner]
       nc-harden guard state-dir {preflight,lock,unlock} --config-dir DIR

NemoClaw's guards (openclaw-config-guard.py, state-dir-guard.py), spoken as they speak: JSON
lines on stdout, nothing on stderr; exit 0 (ok), 1 (failed), 2 (usage). See
docs/nemoclaw-drop-in.md.";

fn run(args: &[OsString], out: &mut Vec<String>) -> u8 {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        out.push(HELP.to_string());
        return 0;
    }
    let guard = guard_of(args);
    let style = guard.style();
    let call = match parse(args) {
        Ok(call) => call,
        Err((action, detail)) => {
            out.push(records::issue(
                style,
                &GuardError::new("invalid-arguments", "", detail),
            ));
            out.push(failed(style, &action, 1, guard == Guard::StateDir));
            return USAGE;
        }
    };
    match call.guard {
        Guard::OpenClawConfig => top_config(&call, out),
        Guard::StateDir => state_dir(&call, out),
    }
}

/// Long options by their full name or an unambiguous prefix, as argparse takes them.
fn parse(args: &[OsString]) -> Result<Call, (Vec<u8>, String)> {
    let (guard, rest) = match args.split_first() {
        Some((g, rest)) if g == "openclaw-config" => (Guard::OpenClawConfig, rest),
        Some((g, rest)) if g == "state-dir" => (Guard::StateDir, rest),
        Some((g, _)) => {
            return Err((
                Vec::new(),
                format!(
                    "unknown guard {}: openclaw-config or state-dir",
                    python::repr(g.as_bytes())
                ),
            ))
        }
        None => {
            return Err((
                Vec::new(),
                "a guard is required: openclaw-config or state-dir".into(),
            ))
        }
    };
    let options: &[&str] = match guard {
        Guard::OpenClawConfig => &[
            "--config-dir",
            "--expected-config-sha256",
            "--startup-owner",
        ],
        Guard::StateDir => &["--config-dir"],
    };
    let mut call = Call {
        guard,
        action: Vec::new(),
        config_dir: None,
        _expected_sha256: None,
        _startup_owner: false,
    };
    let mut action: Option<Vec<u8>> = None;
    let mut i = 0;
    let mut positional_only = false;
    while i < rest.len() {
        let arg = rest[i].as_bytes();
        i += 1;
        if positional_only || !arg.starts_with(b"-") || arg == b"-" {
            if action.is_some() {
                return Err((
                    action.unwrap_or_default(),
                    format!("unrecognized arguments: {}", String::from_utf8_lossy(arg)),
                ));
            }
            action = Some(arg.to_vec());
            continue;
        }
        if arg == b"--" {
            positional_only = true;
            continue;
        }
        let (name, inline) = match arg.iter().position(|&b| b == b'=') {
            Some(eq) => (&arg[..eq], Some(arg[eq + 1..].to_vec())),
            None => (arg, None),
        };
        let matches: Vec<&str> = options
            .iter()
            .copied()
            .filter(|o| o.as_bytes().starts_with(name) && name.len() > 2)
            .collect();
        let option = match matches.as_slice() {
            [one] => *one,
            _ if options.iter().any(|o| o.as_bytes() == name) => options
                .iter()
                .copied()
                .find(|o| o.as_bytes() == name)
                .unwrap_or_default(),
            [] => {
                return Err((
                    action.unwrap_or_default(),
                    format!("unrecognized arguments: {}", String::from_utf8_lossy(arg)),
                ))
            }
            _ => {
                return Err((
                    action.unwrap_or_default(),
                    format!(
                        "ambiguous option: {} could match {}",
                        String::from_utf8_lossy(name),
                        matches.join(", ")
                    ),
                ))
            }
        };
        if option == "--startup-owner" {
            if inline.is_some() {
                return Err((
                    action.unwrap_or_default(),
                    "argument --startup-owner: ignored explicit argument".into(),
                ));
            }
            call._startup_owner = true;
            continue;
        }
        let value = match inline {
            Some(v) => v,
            None if i < rest.len() && !rest[i].as_bytes().starts_with(b"-") => {
                i += 1;
                rest[i - 1].as_bytes().to_vec()
            }
            None => {
                return Err((
                    action.unwrap_or_default(),
                    format!("argument {option}: expected one argument"),
                ))
            }
        };
        match option {
            "--config-dir" => call.config_dir = Some(value),
            _ => call._expected_sha256 = Some(value),
        }
    }
    let Some(action) = action else {
        return Err((
            Vec::new(),
            "the following arguments are required: action".into(),
        ));
    };
    call.action = action;
    if guard == Guard::StateDir && call.config_dir.is_none() {
        return Err((
            call.action,
            "the following arguments are required: --config-dir".into(),
        ));
    }
    Ok(call)
}

/// The drop-in's actions of `openclaw-config-guard.py` (`unpin` is ours: the stub's step
/// before it hands an action to the original guard).
#[derive(Clone, Copy, PartialEq, Eq)]
enum TopAction {
    Preflight,
    Transition(Transition),
    Unpin,
}

fn top_config(call: &Call, out: &mut Vec<String>) -> u8 {
    let style = Style::Spaced;
    let action = call.action.as_slice();
    let given_dir = call
        .config_dir
        .clone()
        .unwrap_or_else(|| CONFIG_DIR.as_bytes().to_vec());
    let fail = |out: &mut Vec<String>, e: GuardError| {
        out.push(records::issue(style, &e));
        out.push(failed(style, action, 1, false));
        1
    };
    let what = match action {
        b"preflight" => TopAction::Preflight,
        b"lock" => TopAction::Transition(Transition::Lock),
        b"unlock" => TopAction::Transition(Transition::Unlock),
        b"unpin" => TopAction::Unpin,
        _ => {
            let detail = if PYTHON_ONLY.iter().any(|a| a.as_bytes() == action) {
                format!(
                    "nc-harden performs preflight, lock and unlock; {} stays with the original openclaw-config-guard.py (the stub hands it over)",
                    String::from_utf8_lossy(action)
                )
            } else {
                format!("unknown action {}", python::repr(action))
            };
            return fail(
                out,
                GuardError::new("unsupported-action", &given_dir, detail),
            );
        }
    };
    if nc_harden::guard::effective_uid() != 0 {
        return fail(
            out,
            GuardError::new("root-required", &given_dir, "helper must run as root"),
        );
    }
    if python::normpath(&given_dir) != CONFIG_DIR.as_bytes() {
        return fail(
            out,
            GuardError::new(
                "invalid-config-path",
                &given_dir,
                format!("helper is restricted to {CONFIG_DIR}"),
            ),
        );
    }
    let Some(id) = identity::production().ok().flatten() else {
        return fail(
            out,
            GuardError::new("identity-missing", "", "sandbox user and group must exist"),
        );
    };
    let hold = if what == TopAction::Preflight {
        Hold::Shared
    } else {
        Hold::Exclusive
    };
    let _mutex = match mutex::acquire(&String::from_utf8_lossy(action), hold) {
        Ok(m) => m,
        Err(f) => return fail(out, f.into_issue(&given_dir)),
    };
    let chattr_applied = match what {
        TopAction::Preflight => match openclaw::preflight(&given_dir, id) {
            Ok(p) => p.both_immutable,
            Err(f) => return fail(out, f.into_issue(&given_dir)),
        },
        TopAction::Transition(t) => {
            match engine::current().top_config(t, CONFIG_DIR.as_bytes(), id) {
                Ok(done) => done.chattr_applied,
                Err(e) => return fail(out, e),
            }
        }
        TopAction::Unpin => match unpin() {
            Ok(()) => false,
            Err(e) => return fail(out, e),
        },
    };
    out.push(records::line(
        style,
        &mut [
            ("type", Value::Str(b"result")),
            ("action", Value::Str(action)),
            ("status", Value::Str(b"ok")),
            ("configDir", Value::Str(CONFIG_DIR.as_bytes())),
            ("files", Value::Strs(&openclaw::CONFIG_FILES)),
            ("chattrApplied", Value::Bool(chattr_applied)),
        ],
    ));
    0
}

/// Takes nc-harden's pins off `/sandbox/.openclaw` (flags, read-only mounts), the posture
/// untouched, so that the original guard, which refuses a locked tree whose files carry
/// the immutable flag, can run the actions it keeps: the engine's unpin of the `openclaw`
/// profile. Nothing pinned is nothing to do; a tree that cannot be opened is the original
/// guard's to report.
fn unpin() -> Result<(), GuardError> {
    if !openclaw::has_pins(CONFIG_DIR.as_bytes()).unwrap_or(false) {
        return Ok(());
    }
    engine::unpin(CONFIG_DIR.as_bytes())
}

/// `state-dir-guard.py`: any number of issues, then the result with the counts.
fn state_dir(call: &Call, out: &mut Vec<String>) -> u8 {
    let action = call.action.as_slice();
    let given_dir = call.config_dir.clone().unwrap_or_default();
    let finish = |out: &mut Vec<String>, done: engine::StateDirDone| {
        for e in &done.issues {
            out.push(records::issue(Style::Compact, e));
        }
        let n = done.issues.len() as u64;
        out.push(state_result(action, &done, n));
        u8::from(n != 0)
    };
    let one = |e: GuardError| engine::StateDirDone {
        issues: vec![e],
        ..Default::default()
    };
    let transition = match action {
        b"preflight" => None,
        b"lock" => Some(Transition::Lock),
        b"unlock" => Some(Transition::Unlock),
        _ => {
            let detail = format!(
                "unknown action {}: state-dir takes preflight, lock or unlock",
                python::repr(action)
            );
            return finish(
                out,
                one(GuardError::new("unsupported-action", &given_dir, detail)),
            );
        }
    };
    if nc_harden::guard::effective_uid() != 0 {
        return finish(
            out,
            one(GuardError::new(
                "root-required",
                &given_dir,
                "state-dir guard must run as root",
            )),
        );
    }
    let id = match identity::production() {
        Ok(Some(id)) => id,
        _ => {
            let detail = "required sandbox account is unavailable: \"getpwnam(): name not found: 'sandbox'\"";
            return finish(
                out,
                one(GuardError::new("identity-unavailable", &given_dir, detail)),
            );
        }
    };
    let normalized = python::normpath(&given_dir);
    if !given_dir.starts_with(b"/") {
        return finish(
            out,
            one(GuardError::new(
                "invalid-config-path",
                &normalized,
                "config directory must be absolute",
            )),
        );
    }
    let serialized = normalized == CONFIG_DIR.as_bytes();
    if !serialized && normalized != HERMES_DIR.as_bytes() {
        let detail =
            format!("nc-harden's state-dir guard is restricted to {CONFIG_DIR} and {HERMES_DIR}");
        return finish(
            out,
            one(GuardError::new("invalid-config-path", &normalized, detail)),
        );
    }
    let _mutex = if serialized {
        match mutex::acquire(
            &String::from_utf8_lossy(action),
            Hold::ExclusiveWaiting(state_dir_wait()),
        ) {
            Ok(m) => Some(m),
            Err(f) => return finish(out, one(f.into_issue(&normalized))),
        }
    } else {
        None
    };
    let done = match transition {
        // Read-only: the guard's judge, in the library. lock and unlock are the engine's.
        None => {
            let found = nc_harden::guard::state_dir::preflight(&normalized);
            engine::StateDirDone {
                issues: found.issues,
                roots: found.roots,
                ..Default::default()
            }
        }
        Some(t) => engine::current().state_trees(t, &normalized, id),
    };
    finish(out, done)
}

/// The state-dir guard's deadline (10 minutes). `NC_HARDEN_GUARD_MUTEX_WAIT_MS` may only
/// shorten it (the tests use it); it cannot make a call wait longer.
fn state_dir_wait() -> Duration {
    std::env::var_os("NC_HARDEN_GUARD_MUTEX_WAIT_MS")
        .and_then(|v| OsStr::new(&v).to_str()?.parse::<u64>().ok())
        .map(Duration::from_millis)
        .map_or(mutex::STATE_DIR_WAIT, |d| d.min(mutex::STATE_DIR_WAIT))
}
