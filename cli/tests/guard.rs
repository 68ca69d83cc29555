//! `nc-harden guard`: the protocol of NemoClaw's guards where no filesystem state is
//! needed: the records of the actions it leaves to the original guard, of usage errors, of
//! a state-dir call outside the production directories; every output through NemoClaw's
//! parsers' rules, and nothing on stderr ever. (The states of /sandbox are the privileged
//! suite's: tests/privileged/guard.rs.)

#[path = "../../tests/common/guard_output.rs"]
mod guard_output;

use std::process::{Command, Output};

use guard_output::{openclaw_config, state_dir, Run};

fn guard(args: &[&str]) -> Output {
    let exe = env!("CARGO_BIN_EXE_nc-harden");
    let mut command = if nc_harden_testkit::privilege::missing().is_none() {
        // As cli.rs does: a mount namespace of its own with a fresh /run, so that NemoClaw's
        // /run/nemoclaw, if a call made it, ends with the process.
        let mut c = Command::new("unshare");
        c.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg("mount -t tmpfs -o mode=0755 nc-harden-test-run /run && exec \"$0\" \"$@\"")
            .arg(exe);
        c
    } else {
        Command::new(exe)
    };
    command.arg("guard").args(args).output().expect("runs")
}

fn run(out: &Output) -> Run<'_> {
    Run {
        stdout: &out.stdout,
        stderr: &out.stderr,
        status: out.status.code(),
    }
}

fn lines(out: &Output) -> Vec<String> {
    String::from_utf8(out.stdout.clone())
        .expect("ASCII records")
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn actions_left_to_the_python_guard_are_unsupported_here() {
    for action in [
        "write-config",
        "seal-restart",
        "unseal-restart",
        "recover",
        "preflight-restart",
        "revoke-startup-ready",
        "publish-startup-ready",
    ] {
        let out = guard(&[
            "openclaw-config",
            action,
            "--config-dir",
            "/sandbox/.openclaw",
        ]);
        assert_eq!(out.status.code(), Some(1), "{action}");
        let accepted =
            openclaw_config(action, &run(&out)).unwrap_or_else(|v| panic!("{action}: {v:?}"));
        assert!(!accepted.ok);
        assert_eq!(accepted.issues.len(), 1);
        assert_eq!(accepted.issues[0].code, "unsupported-action");
        assert_eq!(accepted.issues[0].path, "/sandbox/.openclaw");
        assert_eq!(
            lines(&out)[1],
            format!(r#"{{"action": "{action}", "status": "failed", "type": "result"}}"#)
        );
    }
}

#[test]
fn an_unknown_action_is_unsupported_with_its_name_echoed() {
    let out = guard(&[
        "openclaw-config",
        "rm-rf",
        "--config-dir",
        "/sandbox/.openclaw",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stderr.is_empty());
    assert_eq!(
        lines(&out),
        [
            r#"{"code": "unsupported-action", "detail": "unknown action 'rm-rf'", "path": "/sandbox/.openclaw", "type": "issue"}"#,
            r#"{"action": "rm-rf", "status": "failed", "type": "result"}"#,
        ]
    );
    let out = guard(&["state-dir", "seal", "--config-dir", "/sandbox/.openclaw"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stderr.is_empty());
    assert_eq!(
        lines(&out)[1],
        r#"{"action":"seal","directories":0,"files":0,"issueCount":1,"removedEntries":0,"roots":0,"status":"failed","symlinks":0,"type":"result"}"#
    );
}

#[test]
fn usage_errors_are_records_on_stdout_and_exit_2() {
    for args in [
        &["openclaw-config"][..],
        &["openclaw-config", "preflight", "--config-dir"],
        &["openclaw-config", "preflight", "--no-such-option"],
        &["openclaw-config", "preflight", "lock"],
        &["openclaw-config", "preflight", "--startup-owner=yes"],
        &["state-dir", "preflight"],
        &["nemoclaw"],
        &[],
    ] {
        let out = guard(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            out.stderr.is_empty(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let records = lines(&out);
        assert_eq!(records.len(), 2, "{args:?}: {records:?}");
        assert!(
            records[0].contains(r#""code": "invalid-arguments""#)
                || records[0].contains(r#""code":"invalid-arguments""#)
        );
    }
    // An option may be abbreviated as argparse allows, and given with `=`.
    let out = guard(&[
        "openclaw-config",
        "write-config",
        "--config=/sandbox/.openclaw",
        "--exp",
        "ab",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(lines(&out)[0].contains("unsupported-action"));
}

#[test]
fn state_dir_outside_the_production_directories_fails_with_one_issue() {
    // Which issue depends on the machine (root? a `sandbox` user?): the privileged suite
    // checks each with a scratch /etc; here, that every answer is one the parser accepts.
    for dir in ["/tmp/elsewhere", "/sandbox/../tmp", "relative/.openclaw"] {
        let out = guard(&["state-dir", "preflight", "--config-dir", dir]);
        assert_eq!(out.status.code(), Some(1), "{dir}");
        let accepted =
            state_dir("preflight", &run(&out)).unwrap_or_else(|v| panic!("{dir}: {v:?}"));
        assert!(!accepted.ok);
        assert_eq!(accepted.issues.len(), 1, "{dir}");
    }
}

#[test]
fn help_goes_to_stdout() {
    let out = guard(&["openclaw-config", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("usage: nc-harden guard openclaw-config")
    );
}
