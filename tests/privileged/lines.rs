//! Lines a person or a log reads: an entry named, or a link pointing, with any character a
//! reader may take for a line break or a control (U+2028, U+2029, U+0085, C0 and C1
//! controls, DEL) cannot forge a `[SECURITY]` line, for a reader that splits lines as
//! Python's `str.splitlines()` does (on every Unicode line break): not in the JSON (one line,
//! still valid, the exact target decoded), not in the summary (both faces), not in the CLI's
//! stderr, not in the launcher's messages.

use super::*;
use std::os::unix::fs::symlink;

/// What the attacker wants a reader to see at the start of a line of its own.
const FORGED: &str = "[SECURITY] all good";

/// Every line break `str.splitlines` knows, a C0 control, DEL and two C1 controls.
const BREAKS: [(&str, char); 14] = [
    ("line_separator", '\u{2028}'),
    ("paragraph_separator", '\u{2029}'),
    ("next_line", '\u{85}'),
    ("csi", '\u{9b}'),
    ("delete", '\u{7f}'),
    ("escape", '\u{1b}'),
    ("newline", '\n'),
    ("carriage_return", '\r'),
    ("vertical_tab", '\u{b}'),
    ("form_feed", '\u{c}'),
    ("file_separator", '\u{1c}'),
    ("group_separator", '\u{1d}'),
    ("record_separator", '\u{1e}'),
    ("unit_separator", '\u{1f}'),
];

/// The trials of this file, registered by main.rs.
pub fn trials() -> Vec<Trial> {
    BREAKS
        .iter()
        .map(|&(name, c)| -> Trial {
            (
                format!("lines::disk::{name}_forges_no_security_line"),
                FsKind::Disk,
                Box::new(move |a| forges_nothing(a, c)),
            )
        })
        .collect()
}

/// Judges the text in `file` as Python's `str.splitlines()` splits it: no line starts (after
/// blanks) with `FORGED`; with `json`, the whole is one line, valid JSON, and the entry whose
/// name starts with `evil` has exactly the target `target`.
fn python_judges(file: &Path, json: bool, target: &str) -> TestResult {
    let script = r#"
import json, sys
path, is_json, target = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
text = open(path, encoding="utf-8", errors="surrogateescape").read()
lines = text.splitlines()
forged = [l for l in lines if l.lstrip().startswith("[SECURITY] all good")]
if forged:
    sys.exit("forged: %r" % forged)
if is_json:
    if len(lines) != 1:
        sys.exit("the JSON is %d lines for splitlines: %r" % (len(lines), lines))
    report = json.loads(lines[0])
    evil = [e for e in report["entries"] if e["name"].startswith("evil")]
    if len(evil) != 1 or evil[0].get("target") != target:
        sys.exit("the target does not decode exactly: %r" % evil)
"#;
    let out = Command::new("python3")
        .args(["-I", "-c", script])
        .arg(file)
        .arg(if json { "1" } else { "0" })
        .arg(target)
        .output()?;
    ensure!(
        out.status.success(),
        "{}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

fn forges_nothing(area: &Path, c: char) -> TestResult {
    let scratch = Scratch::new_in(area, "lines")?;
    let l = Layout::build(scratch.path(), Variant::A)?;
    let name = format!("evil{c}{FORGED}");
    let target = format!("/elsewhere{c}{FORGED}");
    symlink(&target, l.dir.join(&name))?;
    // A link of the layout re-pointed as well: its expected target is printed too.
    let agents = l.dir.join("agents");
    fs::remove_file(&agents)?;
    symlink(format!("/tmp{c}{FORGED}"), &agents)?;
    let files = scratch.path();

    // The CLI: JSON on stdout, human lines on stderr.
    let cli = Command::new(common::native::cli_binary()?)
        .args(["verify", "--dir"])
        .arg(&l.dir)
        .arg("--data-dir")
        .arg(&l.data)
        .args(["--owner", &l.owner.to_string(), "--json"])
        .output()?;
    ensure!(cli.status.code() == Some(10), "verify: {:?}", cli.status);
    let (json, stderr) = (files.join("stdout.json"), files.join("stderr.txt"));
    fs::write(&json, &cli.stdout)?;
    fs::write(&stderr, &cli.stderr)?;
    python_judges(&json, true, &target)?;
    python_judges(&stderr, false, &target)?;
    let stderr_text = String::from_utf8_lossy(&cli.stderr);
    ensure!(
        stderr_text
            .lines()
            .all(|line| line.starts_with("[SECURITY] ")),
        "a line of the CLI's stderr is not one of its own: {stderr_text:?}"
    );

    // The summary, through the library and the C ABI.
    for face in [Face::Rust, Face::C] {
        let out = face.call(Op::Verify, &call_of(&l));
        expect_status(&out, Status::Invalid)?;
        let summary = files.join(format!("summary-{}.txt", face.name()));
        fs::write(&summary, out.summary.as_bytes())?;
        python_judges(&summary, false, &target)?;
        ensure!(
            !out.summary
                .chars()
                .any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')),
            "{}: the summary holds a control or a line break: {:?}",
            face.name(),
            out.summary
        );
    }

    // The launcher, as the entrypoint calls it.
    let boot = Command::new("bash")
        .arg("-c")
        .arg("set -euo pipefail\n. \"$LAUNCHER\"\nvalidate_config_symlinks \"$DIR\" \"$DATA\"")
        .env(
            "LAUNCHER",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/launcher.sh"),
        )
        .env("NC_HARDEN", common::native::cli_binary()?)
        .env("DIR", &l.dir)
        .env("DATA", &l.data)
        .output()?;
    ensure!(
        boot.status.code() == Some(1),
        "the launcher: {:?}",
        boot.status
    );
    let launcher = files.join("launcher.txt");
    fs::write(&launcher, &boot.stderr)?;
    python_judges(&launcher, false, &target)?;
    let text = String::from_utf8_lossy(&boot.stderr);
    ensure!(
        text.contains("points to unexpected target"),
        "the launcher did not say which link: {text}"
    );
    Ok(())
}
