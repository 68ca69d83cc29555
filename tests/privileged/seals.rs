//! Seals as GNU `sha256sum` reads and writes them: names with a backslash or a newline round
//! trip between `--reseal` and `sha256sum -c`, comment and blank lines are read where
//! `sha256sum -c` reads them, and a seal that names itself or a file outside the directory is
//! refused, by every face, the CLI and the launcher's trust anchor alike.

use super::*;
use nc_harden_testkit::Flat;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::process::Output;

/// Names `sha256sum` writes escaped: a backslash, a newline, a carriage return.
const AWKWARD: [&str; 3] = ["back\\slash", "new\nline", "carriage\rreturn"];

/// The trials of this file, registered by main.rs.
pub fn trials() -> Vec<Trial> {
    let mut out: Vec<Trial> = Vec::new();
    for kind in [FsKind::Ext4, FsKind::Tmpfs] {
        for face in [Face::Rust, Face::C] {
            out.push((
                format!(
                    "seals::{}::{}::awkward_names_round_trip_with_sha256sum",
                    kind.name(),
                    face.name()
                ),
                kind,
                Box::new(move |a| awkward_names_round_trip(a, face)),
            ));
            out.push((
                format!(
                    "seals::{}::{}::a_seal_larger_than_is_read_is_never_written",
                    kind.name(),
                    face.name()
                ),
                kind,
                Box::new(move |a| too_large_never_written(a, face)),
            ));
        }
    }
    type AreaTest = fn(&Path) -> TestResult;
    let cases: [(&str, AreaTest); 3] = [
        (
            "seal_written_by_sha256sum_with_comments_and_blank_lines",
            written_by_sha256sum,
        ),
        (
            "self_naming_and_outside_names_are_refused",
            outside_names_refused,
        ),
        (
            "launcher_trust_anchor_refuses_names_outside",
            anchor_refuses_outside,
        ),
    ];
    for (name, test) in cases {
        out.push((format!("seals::ext4::{name}"), FsKind::Ext4, Box::new(test)));
    }
    out
}

fn shields_up(f: &Flat) -> Call {
    let mut call = Call::new(&f.dir, &f.root.join("unused"), 0);
    call.flat = true;
    call.seal = Some(".config-hash".into());
    call.lock_posture = true;
    call.reseal = true;
    call
}

/// The locked posture, set by hand (root's, 0755, files 0444), and the seal to check (not to
/// write): only the seal is judged.
fn locked_by_hand(f: &Flat) -> io::Result<Call> {
    std::os::unix::fs::chown(&f.dir, Some(0), Some(0))?;
    fs::set_permissions(&f.dir, fs::Permissions::from_mode(0o755))?;
    for entry in fs::read_dir(&f.dir)? {
        let path = entry?.path();
        std::os::unix::fs::chown(&path, Some(0), Some(0))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o444))?;
    }
    let mut call = shields_up(f);
    call.lock_posture = false;
    call.reseal = false;
    Ok(call)
}

fn add_awkward_files(f: &Flat) -> io::Result<()> {
    for name in AWKWARD {
        let path = f.dir.join(name);
        fs::write(&path, format!("bytes of {name:?}\n"))?;
        std::os::unix::fs::chown(&path, Some(f.sandbox), Some(f.sandbox))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o660))?;
    }
    Ok(())
}

/// `sha256sum -c SEAL` in `dir`.
fn sha256sum_check(dir: &Path, seal: &str) -> io::Result<Output> {
    Command::new("sha256sum")
        .arg("-c")
        .arg(seal)
        .current_dir(dir)
        .output()
}

/// Shields up (lock the posture, reseal, pin) of a directory that holds files named with a
/// backslash, a newline and a carriage return: NC_OK; the seal it writes has a line for each,
/// escaped as `sha256sum` escapes them (a `\` first), which `sha256sum -c` accepts and
/// verify checks; shields up again (a seal to check, not to write) holds too.
fn awkward_names_round_trip(area: &Path, face: Face) -> TestResult {
    let scratch = Scratch::new_in(area, "seal-awkward")?;
    let f = Flat::build(scratch.path())?;
    add_awkward_files(&f)?;
    // No seal yet: --reseal seals every regular file.
    fs::remove_file(f.dir.join(".config-hash"))?;
    let up = shields_up(&f);
    let out = face.call(Op::Freeze, &up);
    let cleanup = |r: TestResult| -> TestResult {
        let _ = Face::Rust.call(Op::Unfreeze, &up);
        r
    };
    cleanup((|| {
        expect_status(&out, Status::Ok)?;
        let seal = fs::read(f.dir.join(".config-hash"))?;
        let escaped = seal.split(|&b| b == b'\n').filter(|l| l.starts_with(b"\\"));
        ensure!(
            escaped.count() == AWKWARD.len(),
            "the seal does not escape each awkward name: {:?}",
            String::from_utf8_lossy(&seal)
        );
        let check = sha256sum_check(&f.dir, ".config-hash")?;
        ensure!(
            check.status.success(),
            "sha256sum -c refuses nc-harden's seal: {}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        let ok_lines = String::from_utf8_lossy(&check.stdout)
            .matches(": OK")
            .count();
        ensure!(
            ok_lines == 1 + AWKWARD.len(),
            "sha256sum -c checked {ok_lines} files"
        );
        let mut verify = up.clone();
        verify.lock_posture = false;
        verify.reseal = false;
        expect_status(&face.call(Op::Verify, &verify), Status::Ok)?;
        let again = face.call(Op::Freeze, &verify);
        expect_status(&again, Status::Ok)?;
        ensure!(
            again.json["seal"]["result"] == "ok",
            "the seal was not checked: {}",
            again.json
        );
        Ok(())
    })())?;
    engine::ensure_clean(&f.dir)
}

/// No seal yet, and 250 files with long names besides openclaw.json: a seal of them all would
/// be more than the 64 KiB a seal is read to. `freeze --reseal` writes none, rejects the seal
/// (`seal_malformed`, NC_INVALID) and takes back what it pinned; with the files gone it
/// writes one and freezes.
fn too_large_never_written(area: &Path, face: Face) -> TestResult {
    let scratch = Scratch::new_in(area, "seal-large")?;
    let f = Flat::build(scratch.path())?;
    fs::remove_file(f.dir.join(".config-hash"))?;
    let names: Vec<PathBuf> = (0..250)
        .map(|i| f.dir.join(format!("{i:03}{}.json", "x".repeat(200))))
        .collect();
    for n in &names {
        fs::write(n, b"{}")?;
    }
    let up = shields_up(&f);
    let out = face.call(Op::Freeze, &up);
    let _ = Face::Rust.call(Op::Unfreeze, &up);
    expect_status(&out, Status::Invalid)?;
    let r = out.record(".config-hash");
    ensure!(r.reason == Reason::SealMalformed, "{r:?}");
    ensure!(
        !f.dir.join(".config-hash").exists(),
        "a seal too large to read back was written"
    );
    let left: Vec<_> = fs::read_dir(&f.dir)?
        .filter_map(|d| d.ok())
        .filter(|d| d.file_name().as_bytes().starts_with(b".nc-harden"))
        .map(|d| d.file_name())
        .collect();
    ensure!(left.is_empty(), "left behind: {left:?}");
    engine::ensure_clean(&f.dir)?;
    for n in &names {
        fs::remove_file(n)?;
    }
    let out = face.call(Op::Freeze, &up);
    let _ = Face::Rust.call(Op::Unfreeze, &up);
    expect_status(&out, Status::Ok)?;
    ensure!(
        fs::read(f.dir.join(".config-hash"))?.ends_with(b"  openclaw.json\n"),
        "the seal written once the files are gone does not name openclaw.json"
    );
    engine::ensure_clean(&f.dir)
}

/// A seal that `sha256sum` itself wrote (absolute names, as NemoClaw's images do, and
/// awkward ones, escaped), with a comment line and blank lines around, as Hermes' anchor has:
/// shields up checks it (no reseal) and answers NC_OK; the same with CRLF line ends.
fn written_by_sha256sum(area: &Path) -> TestResult {
    for crlf in [false, true] {
        let scratch = Scratch::new_in(area, "seal-gnu")?;
        let f = Flat::build(scratch.path())?;
        add_awkward_files(&f)?;
        let mut names = vec![f.dir.join("openclaw.json")];
        names.extend(AWKWARD.iter().map(|n| f.dir.join(n)));
        let written = Command::new("sha256sum").args(&names).output()?;
        ensure!(written.status.success(), "sha256sum failed");
        let mut seal = b"# nemoclaw-hermes-mcp-state-v1 intended=00 applied=00\n\n".to_vec();
        seal.extend_from_slice(&written.stdout);
        seal.extend_from_slice(b"\n# end\n");
        if crlf {
            seal = seal
                .split(|&b| b == b'\n')
                .collect::<Vec<_>>()
                .join(&b"\r\n"[..]);
        }
        fs::write(f.dir.join(".config-hash"), &seal)?;
        let up = locked_by_hand(&f)?;
        let out = Face::Rust.call(Op::Freeze, &up);
        let _ = Face::Rust.call(Op::Unfreeze, &up);
        expect_status(&out, Status::Ok).map_err(|e| format!("crlf {crlf}: {e:?}"))?;
        ensure!(
            out.json["seal"]["result"] == "ok",
            "crlf {crlf}: the seal was not checked: {}",
            out.json
        );
        engine::ensure_clean(&f.dir)?;
    }
    Ok(())
}

/// Seals that name themselves, or a file outside the directory (relative, absolute, or
/// escaped so that only the unescaped name shows it), each with the right digest: refused,
/// `seal_malformed`, by the library and the CLI (exit 10), for a freeze and a verify, and
/// nothing is left pinned.
fn outside_names_refused(area: &Path) -> TestResult {
    let outside_file = area.join("outside.json");
    fs::write(&outside_file, b"{}\n")?;
    let digest = |p: &Path| -> io::Result<String> {
        let out = Command::new("sha256sum").arg(p).output()?;
        Ok(String::from_utf8_lossy(&out.stdout[..64]).into_owned())
    };
    let outside_digest = digest(&outside_file)?;
    let outside = outside_file.as_os_str().as_bytes().to_vec();
    for (case, line) in [
        ("self", None),
        ("absolute_outside", Some(outside.clone())),
        ("dotdot", Some(b"../outside.json".to_vec())),
        (
            "escaped_outside",
            Some([&b"\\"[..], &outside[..outside.len() - 4], b"\\n.json"].concat()),
        ),
    ] {
        let scratch = Scratch::new_in(area, "seal-outside")?;
        let f = Flat::build(scratch.path())?;
        let mut seal = fs::read(f.dir.join(".config-hash"))?;
        match line {
            None => {
                // The seal's own digest cannot be in it; any digest names it.
                seal.extend_from_slice(format!("{}  .config-hash\n", "0".repeat(64)).as_bytes());
            }
            Some(name) => {
                let escaped = name.starts_with(b"\\");
                let name = name.strip_prefix(b"\\").unwrap_or(&name).to_vec();
                if escaped {
                    seal.push(b'\\');
                }
                seal.extend_from_slice(format!("{outside_digest}  ").as_bytes());
                seal.extend_from_slice(&name);
                seal.push(b'\n');
            }
        }
        fs::write(f.dir.join(".config-hash"), &seal)?;
        let up = locked_by_hand(&f)?;
        for op in [Op::Freeze, Op::Verify] {
            let out = Face::Rust.call(op, &up);
            let _ = Face::Rust.call(Op::Unfreeze, &up);
            expect_status(&out, Status::Invalid).map_err(|e| format!("{case}: {op:?}: {e:?}"))?;
            let r = out.record(".config-hash");
            ensure!(r.reason == Reason::SealMalformed, "{case}: {op:?}: {r:?}");
            engine::ensure_clean(&f.dir)?;
        }
        let cli = Command::new(common::native::cli_binary()?)
            .args(["freeze", "--dir"])
            .arg(&f.dir)
            .args(["--seal", ".config-hash", "--json"])
            .output()?;
        let _ = Face::Rust.call(Op::Unfreeze, &up);
        ensure!(
            cli.status.code() == Some(10),
            "{case}: the CLI answered {:?}: {}",
            cli.status,
            String::from_utf8_lossy(&cli.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&cli.stdout)?;
        ensure!(
            json["seal"]["result"] == "malformed",
            "{case}: the CLI's JSON: {json}"
        );
        engine::ensure_clean(&f.dir)?;
    }
    Ok(())
}

/// The launcher's trust-anchor path (`verify_config_integrity DIR ANCHOR`, an anchor outside
/// DIR, root's and read-only, as NemoClaw has it): an anchor of DIR's files by absolute name
/// with Hermes' comment line boots; one that also names a file outside DIR, with its right
/// digest (which `sha256sum -c` alone accepts), stops the boot with a `[SECURITY]` line.
fn anchor_refuses_outside(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "seal-anchor")?;
    let f = Flat::build(scratch.path())?;
    locked_by_hand(&f)?;
    let stranger = scratch.path().join("stranger.txt");
    fs::write(&stranger, b"not part of the directory\n")?;
    let sums = |path: &Path| -> io::Result<Vec<u8>> {
        Ok(Command::new("sha256sum").arg(path).output()?.stdout)
    };
    let inside = sums(&f.dir.join("openclaw.json"))?;
    let comment = b"# nemoclaw-hermes-mcp-state-v1 intended=00 applied=00\n";
    let cases: [(&str, Vec<u8>, bool); 3] = [
        ("inside", [&inside[..], comment].concat(), true),
        (
            "outside",
            [&inside[..], &sums(&stranger)?[..], comment].concat(),
            false,
        ),
        (
            "dotdot",
            [&inside[..], &sums(&stranger)?[..64], b"  ../stranger.txt\n"].concat(),
            false,
        ),
    ];
    let cli = common::native::cli_binary()?;
    for (case, anchor, boots) in cases {
        let path = scratch.path().join(format!("anchor-{case}"));
        fs::write(&path, &anchor)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o444))?;
        // sha256sum -c alone accepts every one of them.
        let gnu = Command::new("sha256sum")
            .arg("-c")
            .arg(&path)
            .current_dir(&f.dir)
            .output()?;
        ensure!(gnu.status.success(), "{case}: sha256sum -c refuses it");
        let out = Command::new("bash")
            .arg("-c")
            .arg(
                "set -euo pipefail\n. \"$LAUNCHER\"\nverify_config_integrity \"$DIR\" \"$ANCHOR\"\n\
                 echo BOOTED",
            )
            .env("LAUNCHER", Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/launcher.sh"))
            .env("NC_HARDEN", &cli)
            .env("DIR", &f.dir)
            .env("ANCHOR", &path)
            .output()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let booted = out.status.success() && out.stdout == b"BOOTED\n";
        ensure!(
            booted == boots,
            "{case}: booted {booted}, expected {boots}: {stderr}"
        );
        if !boots {
            ensure!(
                stderr
                    .lines()
                    .any(|l| l.starts_with("[SECURITY] ") && l.contains("outside")),
                "{case}: no [SECURITY] line says why: {stderr}"
            );
        }
    }
    Ok(())
}
