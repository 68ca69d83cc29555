//! examples/launcher.sh as NemoClaw's entrypoints call it: sourced, then each function
//! called bare under `set -euo pipefail`, so that any non-zero return stops the boot. Every
//! valid layout starts (pinned where a layer applies, loudly degraded where none does,
//! fatal only with NC_HARDEN_STRICT=1) and every invalid one stops with exit 1 and
//! `[SECURITY]` lines. Both generations of names (NemoClaw <= 0.0.30 and 0.0.31's
//! sandbox-init.sh), the Hermes agent's, the cases of NemoClaw's own test file, and
//! `make install` of share/nc-harden/.

use super::*;
use nc_harden_testkit::{command_as, mount_over};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::process::Output;

/// The trials of this file, registered by main.rs.
pub fn trials() -> Vec<Trial> {
    type AreaTest = fn(&Path) -> TestResult;
    let mut out: Vec<Trial> = Vec::new();
    let cases: [(&str, AreaTest); 10] = [
        ("boots_and_pins_as_full_root", boots_as_full_root),
        (
            "boots_pinned_by_the_mount_without_cap_linux_immutable",
            boots_without_cap_linux_immutable,
        ),
        (
            "boots_degraded_without_either_capability_fatal_if_strict",
            boots_degraded_without_capabilities,
        ),
        (
            "boots_as_the_sandbox_user_pinning_nothing",
            boots_as_sandbox_user,
        ),
        ("flat_layout_and_hermes", flat_layout_and_hermes),
        ("late_data_entry_boots_and_is_reported", late_data_entry),
        ("more_rejections_mount_ancestor_seal", more_rejections),
        ("nemoclaw_sandbox_init_test_cases", nemoclaw_cases),
        ("works_under_a_posix_sh_too", posix_sh),
        ("make_install_ships_share_nc_harden", make_install_share),
    ];
    for (name, test) in cases {
        out.push((format!("launcher::{name}"), FsKind::Disk, Box::new(test)));
    }
    for tamper in Tamper::ALL {
        out.push((
            format!("launcher::rejects::{}", tamper.name()),
            FsKind::Disk,
            Box::new(move |a| rejects(a, tamper)),
        ));
    }
    out
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/launcher.sh")
}

/// A shell run the way the entrypoint runs: `set -euo pipefail`, the file sourced, `body`
/// (bare calls). nc-harden is found on PATH, as in an image.
struct Boot<'a> {
    shell: &'a str,
    env: Vec<(String, String)>,
    creds: Creds,
}

impl<'a> Boot<'a> {
    fn new() -> Boot<'a> {
        Boot {
            shell: "bash",
            env: Vec::new(),
            creds: Creds::Full,
        }
    }

    fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        self.env.push((
            key.to_string(),
            value.as_ref().to_string_lossy().into_owned(),
        ));
        self
    }

    fn openclaw(self, l: &Layout) -> Self {
        self.env("OPENCLAW_DIR", &l.dir)
            .env("OPENCLAW_DATA_DIR", &l.data)
    }

    fn creds(mut self, creds: Creds) -> Self {
        self.creds = creds;
        self
    }

    fn shell(mut self, shell: &'a str) -> Self {
        self.shell = shell;
        self
    }

    fn run(&self, body: &str) -> Result<Output, Failed> {
        let cli = common::native::cli_binary()?;
        let bin = cli.parent().ok_or("cli dir")?;
        let path = format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display());
        let mut cmd = Command::new(self.shell);
        cmd.arg("-c")
            .arg(format!(
                "set -eu\n{}. \"$LAUNCHER\"\n{body}\n",
                self.pipefail()
            ))
            .env_clear()
            .env("PATH", path)
            .env("LAUNCHER", script());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        Ok(command_as(&mut cmd, self.creds).output()?)
    }

    fn pipefail(&self) -> &'static str {
        if self.shell == "bash" {
            "set -o pipefail\n"
        } else {
            ""
        }
    }

    /// `body; echo BOOTED` must exit 0 and reach the echo.
    fn boots(&self, body: &str) -> Result<String, Failed> {
        let out = self.run(&format!("{body}\necho BOOTED"))?;
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        ensure!(
            out.status.code() == Some(0) && String::from_utf8_lossy(&out.stdout) == "BOOTED\n",
            "{body} as {}: {:?}\nstdout: {}\nstderr: {err}",
            self.creds.name(),
            out.status,
            String::from_utf8_lossy(&out.stdout)
        );
        Ok(err)
    }

    /// `body; echo BOOTED` must exit 1 before the echo, with `[SECURITY] ` lines.
    fn stops(&self, body: &str) -> Result<String, Failed> {
        let out = self.run(&format!("{body}\necho BOOTED"))?;
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        ensure!(
            out.status.code() == Some(1) && out.stdout.is_empty(),
            "{body} as {} must stop the boot with exit 1: {:?}\nstdout: {}\nstderr: {err}",
            self.creds.name(),
            out.status,
            String::from_utf8_lossy(&out.stdout)
        );
        ensure!(
            err.lines().any(|l| l.starts_with("[SECURITY] ")),
            "no [SECURITY] line: {err}"
        );
        Ok(err)
    }
}

/// `nc-harden OP --dir DIR [--data-dir DATA] EXTRA...` as full root.
fn cli(op: &str, dir: &Path, data: Option<&Path>, extra: &[&str]) -> Result<Output, Failed> {
    let mut cmd = Command::new(common::native::cli_binary()?);
    cmd.arg(op).arg("--dir").arg(dir);
    if let Some(data) = data {
        cmd.arg("--data-dir").arg(data);
    }
    Ok(cmd.args(extra).output()?)
}

/// Valid and pinned, as `nc-harden verify` sees it.
fn ensure_pinned(dir: &Path, data: Option<&Path>) -> TestResult {
    let out = cli(
        "verify",
        dir,
        data,
        &["--allow-missing"][..data.map_or(0, |_| 1)],
    )?;
    ensure!(
        out.status.code() == Some(0),
        "{} is not pinned: {:?} {}",
        dir.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

fn unfreeze(dir: &Path) -> TestResult {
    let out = cli("unfreeze", dir, None, &[])?;
    ensure!(
        out.status.code() == Some(0),
        "unfreeze: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    engine::ensure_clean(dir)
}

fn layout(area: &Path, tag: &str, variant: Variant) -> Result<(Scratch, Layout), Failed> {
    let scratch = Scratch::new_in(area, tag)?;
    let root = scratch.path().join("sandbox");
    fs::create_dir(&root)?;
    let l = Layout::build(&root, variant)?;
    Ok((scratch, l))
}

/// NemoClaw <= 0.0.30's root path and 0.0.31's, each with its seal check first.
const OLD_BOOT: &str =
    "verify_config_integrity\nvalidate_openclaw_symlinks\nharden_openclaw_symlinks";

fn new_boot(l: &Layout) -> String {
    format!(
        "verify_config_integrity '{d}'\nvalidate_config_symlinks '{d}' '{data}'\nharden_config_symlinks '{d}'",
        d = l.dir.display(),
        data = l.data.display()
    )
}

fn boots_as_full_root(area: &Path) -> TestResult {
    for variant in [Variant::A, Variant::B] {
        let (_s, l) = layout(area, "root", variant)?;
        Boot::new().openclaw(&l).boots(OLD_BOOT)?;
        ensure!(
            immutable_flag(&l.dir)?,
            "harden_openclaw_symlinks did not pin"
        );
        ensure_pinned(&l.dir, Some(&l.data))?;
        // A restart: everything is already pinned, and still valid.
        Boot::new().openclaw(&l).boots(OLD_BOOT)?;
        unfreeze(&l.dir)?;
        // NemoClaw 0.0.31, no environment at all: the data directory is DIR-data.
        Boot::new().boots(&new_boot(&l))?;
        ensure_pinned(&l.dir, Some(&l.data))?;
        unfreeze(&l.dir)?;
    }
    Ok(())
}

fn boots_without_cap_linux_immutable(area: &Path) -> TestResult {
    let (_s, l) = layout(area, "noimm", Variant::B)?;
    let creds = Creds::RootWithout(&[CAP_LINUX_IMMUTABLE]);
    for body in [OLD_BOOT.to_string(), new_boot(&l)] {
        Boot::new()
            .openclaw(&l)
            .creds(creds)
            .env("NC_HARDEN_STRICT", "1")
            .boots(&body)?;
        ensure!(
            !immutable_flag(&l.dir)?,
            "a flag without CAP_LINUX_IMMUTABLE?"
        );
        ensure_pinned(&l.dir, Some(&l.data))?;
        unfreeze(&l.dir)?;
    }
    Ok(())
}

fn boots_degraded_without_capabilities(area: &Path) -> TestResult {
    let (_s, l) = layout(area, "nocap", Variant::B)?;
    let creds = Creds::RootWithout(&[CAP_LINUX_IMMUTABLE, CAP_SYS_ADMIN]);
    for body in [OLD_BOOT.to_string(), new_boot(&l)] {
        let err = Boot::new().openclaw(&l).creds(creds).boots(&body)?;
        ensure!(
            err.contains("NC_NO_CAPABILITY") && err.contains("[SECURITY] WARNING"),
            "the degraded pin is said: {err}"
        );
        engine::ensure_clean(&l.dir)?;
        let err = Boot::new()
            .openclaw(&l)
            .creds(creds)
            .env("NC_HARDEN_STRICT", "1")
            .stops(&body)?;
        ensure!(err.contains("NC_HARDEN_STRICT=1"), "{err}");
        engine::ensure_clean(&l.dir)?;
    }
    Ok(())
}

/// NemoClaw's non-root mode: the sandbox user owns everything and runs the entrypoint.
fn boots_as_sandbox_user(area: &Path) -> TestResult {
    let (_s, l) = layout(area, "user", Variant::B)?;
    chown_tree(&l.root, SANDBOX_UID)?;
    let user = Creds::User(SANDBOX_UID);
    // As the non-root entrypoint calls them: the seal in `if !`, the rest bare.
    let old = "if ! verify_config_integrity; then exit 1; fi\nvalidate_openclaw_symlinks\nharden_openclaw_symlinks";
    for body in [old.to_string(), new_boot(&l)] {
        let err = Boot::new().openclaw(&l).creds(user).boots(&body)?;
        ensure!(
            err.contains("uid 998") && err.contains("nothing can be pinned"),
            "says nothing can be pinned: {err}"
        );
        engine::ensure_clean(&l.dir)?;
        Boot::new()
            .openclaw(&l)
            .creds(user)
            .env("NC_HARDEN_STRICT", "1")
            .stops(&body)?;
    }
    // What it checks still holds: a re-pointed link stops the boot.
    fs::remove_file(l.dir.join("hooks"))?;
    symlink("/etc", l.dir.join("hooks"))?;
    std::os::unix::fs::lchown(l.dir.join("hooks"), Some(SANDBOX_UID), Some(SANDBOX_UID))?;
    let err = Boot::new()
        .openclaw(&l)
        .creds(user)
        .stops("validate_openclaw_symlinks")?;
    ensure!(err.contains("unexpected target"), "{err}");
    Ok(())
}

fn chown_tree(path: &Path, uid: u32) -> TestResult {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid))?;
    if fs::symlink_metadata(path)?.is_dir() {
        for entry in fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid)?;
        }
    }
    Ok(())
}

/// A flat directory (NemoClaw since it dropped the symlink bridge): `files` root 0444 and
/// `.config-hash` in sha256sum format of them.
fn flat(root: &Path, name: &str, files: &[(&str, &str)]) -> Result<PathBuf, Failed> {
    let dir = root.join(name);
    fs::create_dir(&dir)?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
    for (file, text) in files {
        fs::write(dir.join(file), text)?;
        fs::set_permissions(dir.join(file), fs::Permissions::from_mode(0o444))?;
    }
    let names: Vec<&str> = files.iter().map(|(f, _)| *f).collect();
    let out = Command::new("sha256sum")
        .args(&names)
        .current_dir(&dir)
        .output()?;
    ensure!(out.status.success(), "sha256sum");
    fs::write(dir.join(".config-hash"), &out.stdout)?;
    fs::set_permissions(dir.join(".config-hash"), fs::Permissions::from_mode(0o444))?;
    Ok(dir)
}

fn flat_layout_and_hermes(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "flat")?;
    let root = scratch.path();
    let oc = flat(
        root,
        ".openclaw",
        &[("openclaw.json", "{\"gateway\":{}}\n")],
    )?;
    let hermes = flat(
        root,
        ".hermes",
        &[("config.yaml", "model: x\n"), (".env", "A=1\n")],
    )?;
    let (d, h) = (oc.display(), hermes.display());
    // 0.0.31's OpenClaw entrypoint: no data directory exists at all.
    Boot::new().boots(&format!(
        "verify_config_integrity '{d}'\nvalidate_config_symlinks '{d}' '{d}-data'\nharden_config_symlinks '{d}'"
    ))?;
    ensure_pinned(&oc, None)?;
    // The seal is checked on what is pinned, on every boot.
    Boot::new().boots(&format!("verify_config_integrity '{d}'"))?;
    unfreeze(&oc)?;
    // Hermes: the hash file given explicitly, harden's second argument a label.
    Boot::new().boots(&format!(
        "verify_config_integrity '{h}' '{h}/.config-hash'\nvalidate_config_symlinks '{h}' '{h}-data'\nharden_config_symlinks '{h}' hermes"
    ))?;
    ensure_pinned(&hermes, None)?;
    unfreeze(&hermes)?;
    // The older Hermes names, by environment.
    Boot::new()
        .env("HERMES_DIR", &hermes)
        .env("HERMES_DATA_DIR", root.join(".hermes-data"))
        .boots(&format!(
            "verify_config_integrity '{h}'\nvalidate_hermes_symlinks\nharden_hermes_symlinks"
        ))?;
    ensure_pinned(&hermes, None)?;
    unfreeze(&hermes)?;
    // Hermes with its data directory and links into it.
    let data = root.join(".hermes-data");
    fs::create_dir(&data)?;
    fs::create_dir(data.join("sessions"))?;
    symlink(data.join("sessions"), hermes.join("sessions"))?;
    Boot::new().boots(&format!(
        "validate_config_symlinks '{h}' '{}'\nharden_config_symlinks '{h}' hermes",
        data.display()
    ))?;
    ensure_pinned(&hermes, Some(&data))?;
    unfreeze(&hermes)?;
    // A flat directory holds no symlink.
    fs::remove_file(hermes.join("sessions"))?;
    symlink("/etc", oc.join("evil"))?;
    let err = Boot::new().stops(&format!("validate_config_symlinks '{d}' '{d}-data'"))?;
    ensure!(err.contains("unexpected target"), "{err}");
    Boot::new().stops(&format!("harden_config_symlinks '{d}'"))?;
    engine::ensure_clean(&oc)?;
    // A tampered flat config stops the seal check.
    fs::remove_file(oc.join("evil"))?;
    fs::remove_file(oc.join("openclaw.json"))?;
    fs::write(oc.join("openclaw.json"), "{\"injected\":1}\n")?;
    fs::set_permissions(oc.join("openclaw.json"), fs::Permissions::from_mode(0o444))?;
    let err = Boot::new().stops(&format!("verify_config_integrity '{d}'"))?;
    ensure!(err.contains("integrity check FAILED"), "{err}");
    Ok(())
}

/// The entrypoint creates `.openclaw-data/logs` after hardening.
fn late_data_entry(area: &Path) -> TestResult {
    let (_s, l) = layout(area, "late", Variant::B)?;
    fs::remove_dir(l.data.join("logs"))?;
    for body in [OLD_BOOT.to_string(), new_boot(&l)] {
        let err = Boot::new().openclaw(&l).boots(&body)?;
        ensure!(
            err.contains("\"logs\"") && err.contains("does not exist yet"),
            "the missing data entry is reported: {err}"
        );
        ensure_pinned(&l.dir, Some(&l.data))?;
        unfreeze(&l.dir)?;
    }
    // Asked to, it refuses it instead.
    let err = Boot::new()
        .openclaw(&l)
        .env("NC_HARDEN_ALLOW_MISSING", "0")
        .stops("validate_openclaw_symlinks")?;
    ensure!(err.contains("logs"), "{err}");
    Ok(())
}

/// Every rejection case of workload.md, each alone on variant B: validate stops the boot,
/// and so does harden, which leaves nothing pinned.
fn rejects(area: &Path, tamper: Tamper) -> TestResult {
    let (_s, l) = layout(area, "reject", Variant::B)?;
    let case = tamper.apply(&l)?;
    let mut boot = Boot::new()
        .env("OPENCLAW_DIR", &case.dir)
        .env("OPENCLAW_DATA_DIR", &case.data)
        .env("OPENCLAW_REQUIRED", case.require.join(" "))
        .env("NC_HARDEN_REQUIRED", case.require.join(" "));
    // A dangling link reads exactly DATA_DIR/<name>: by default the drop-in takes it for an
    // entry the entrypoint creates later (reported); strictly, it is refused.
    let late = matches!(
        tamper,
        Tamper::DanglingLink | Tamper::ExtraLinkWithoutCounterpart
    );
    if late {
        let err = Boot::new()
            .openclaw(&l)
            .boots("validate_openclaw_symlinks")?;
        ensure!(err.contains("does not exist yet"), "reported: {err}");
        boot = boot.env("NC_HARDEN_ALLOW_MISSING", "0");
    }
    let err = boot.stops("validate_openclaw_symlinks")?;
    match &case.expect {
        Expect::Rejected { entry, reason } => {
            let entry = String::from_utf8_lossy(entry);
            ensure!(
                err.contains(&format!("\"{entry}\"")),
                "names {entry}: {err}"
            );
            if *reason == "link_target_mismatch" {
                let target = fs::read_link(l.dir.join(&*entry))?;
                ensure!(
                    err.contains("unexpected target")
                        && err.contains(&target.display().to_string())
                        && err.contains(&l.data.join(&*entry).display().to_string()),
                    "names the actual and the expected target: {err}"
                );
            }
        }
        Expect::UnsafePath => {
            ensure!(err.contains("NC_UNSAFE_PATH"), "{err}");
        }
    }
    boot.stops("harden_openclaw_symlinks")?;
    engine::ensure_clean(&l.dir)?;
    // 0.0.31's names stop it too.
    boot.stops(&format!(
        "validate_config_symlinks '{}' '{}'",
        case.dir.display(),
        case.data.display()
    ))?;
    Ok(())
}

/// The cases of workload.md not among the Tamper ones: a file mounted over an entry, an
/// ancestor above the directory's parent owned by the sandbox user, a seal that does not
/// match, is missing or is malformed.
fn more_rejections(area: &Path) -> TestResult {
    // A file mounted over an entry.
    let (s, l) = layout(area, "more", Variant::B)?;
    let host = s.path().join("host.json");
    fs::write(&host, "{}")?;
    mount_over(&host, &l.dir.join("openclaw.json"))?;
    let err = Boot::new()
        .openclaw(&l)
        .stops("validate_openclaw_symlinks")?;
    ensure!(err.contains("openclaw.json"), "{err}");
    Boot::new().openclaw(&l).stops("harden_openclaw_symlinks")?;
    nc_harden_testkit::unmount(&l.dir.join("openclaw.json"))?;
    engine::ensure_clean(&l.dir)?;

    // An ancestor above the directory's parent owned by the sandbox user.
    let scratch = Scratch::new_in(area, "ancestor")?;
    let anc = scratch.path().join("home");
    fs::create_dir_all(anc.join("sandbox"))?;
    let l2 = Layout::build(&anc.join("sandbox"), Variant::B)?;
    std::os::unix::fs::lchown(&anc, Some(SANDBOX_UID), Some(SANDBOX_UID))?;
    let err = Boot::new().openclaw(&l2).stops(OLD_BOOT)?;
    ensure!(err.contains("NC_UNSAFE_PATH"), "{err}");
    Boot::new()
        .openclaw(&l2)
        .stops("harden_openclaw_symlinks")?;
    engine::ensure_clean(&l2.dir)?;

    // The seal: mismatch, malformed, missing; on a linked layout and after the pin.
    let d = l.dir.display().to_string();
    Boot::new().openclaw(&l).boots(OLD_BOOT)?;
    unfreeze(&l.dir)?;
    let hash = l.dir.join(".config-hash");
    // NemoClaw's own hash file names the config by its absolute path: a tampered config,
    // and a line naming a file outside the directory, both stop the boot.
    let config = l.dir.join("openclaw.json");
    let good = fs::read(&config)?;
    fs::remove_file(&config)?;
    fs::write(&config, "{\"injected\":1}\n")?;
    fs::set_permissions(&config, fs::Permissions::from_mode(0o444))?;
    let err = Boot::new().openclaw(&l).stops("verify_config_integrity")?;
    ensure!(err.contains("integrity check FAILED"), "{err}");
    fs::remove_file(&config)?;
    fs::write(&config, &good)?;
    fs::set_permissions(&config, fs::Permissions::from_mode(0o444))?;
    Boot::new().openclaw(&l).boots("verify_config_integrity")?;
    let outside = s.path().join("outside.json");
    fs::write(&outside, "{}")?;
    let line = Command::new("sha256sum").arg(&outside).output()?.stdout;
    let mut text = fs::read(&hash)?;
    text.extend_from_slice(&line);
    fs::remove_file(&hash)?;
    fs::write(&hash, &text)?;
    let err = Boot::new().openclaw(&l).stops("verify_config_integrity")?;
    ensure!(err.contains("integrity check FAILED"), "{err}");
    for (text, says) in [
        (
            "0000000000000000000000000000000000000000000000000000000000000000  openclaw.json\n",
            "integrity check FAILED",
        ),
        ("not a digest\n", "integrity check FAILED"),
        ("", "Config hash file missing"),
    ] {
        fs::remove_file(&hash)?;
        if !text.is_empty() {
            fs::write(&hash, text)?;
            fs::set_permissions(&hash, fs::Permissions::from_mode(0o444))?;
        }
        for body in [
            "verify_config_integrity".to_string(),
            format!("verify_config_integrity '{d}'"),
        ] {
            let err = Boot::new().openclaw(&l).stops(&body)?;
            ensure!(err.contains(says), "{text:?}: {err}");
        }
    }
    Ok(())
}

/// NemoClaw's test/sandbox-init.test.ts, its validate_config_symlinks and
/// verify_config_integrity cases, written again: a script file with `set -euo pipefail`
/// that sources the library and calls the function bare, directories made as mkdtemp makes
/// them (0700), files with the default modes.
fn nemoclaw_cases(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "nemoclaw")?;
    let cli = common::native::cli_binary()?;
    let mut n = 0;
    let mut work = || -> Result<PathBuf, Failed> {
        n += 1;
        let dir = scratch.path().join(format!("sandbox-init-{n}"));
        fs::create_dir(&dir)?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
        Ok(dir)
    };
    let run_with_lib = |body: &str, env: &[(&str, String)]| -> Result<Output, Failed> {
        let file = scratch.path().join("test.sh");
        fs::write(
            &file,
            format!(
                "#!/usr/bin/env bash\nset -euo pipefail\nsource {:?}\n{body}",
                script().display().to_string()
            ),
        )?;
        let mut cmd = Command::new("bash");
        cmd.arg(&file).env(
            "PATH",
            format!(
                "{}:{}",
                cli.parent().ok_or("dir")?.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        );
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output()?;
        fs::remove_file(&file)?;
        Ok(out)
    };
    let q = |p: &Path| format!("{:?}", p.display().to_string());
    let passes = |out: &Output, marker: &str| -> TestResult {
        ensure!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains(marker),
            "expected {marker}: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    };
    let fails = |out: &Output, says: &str| -> TestResult {
        let err = String::from_utf8_lossy(&out.stderr);
        ensure!(
            !out.status.success() && err.contains(says),
            "expected a failure saying {says:?}: {:?} {err}",
            out.status
        );
        Ok(())
    };

    // validate_config_symlinks
    let w = work()?;
    let (config, data) = (w.join("config"), w.join("data"));
    fs::create_dir(&config)?;
    fs::create_dir(&data)?;
    fs::write(data.join("agents"), "data")?;
    symlink(data.join("agents"), config.join("agents"))?;
    let call = format!("validate_config_symlinks {} {}", q(&config), q(&data));
    passes(
        &run_with_lib(&format!("{call}\necho \"SYMLINKS_OK\""), &[])?,
        "SYMLINKS_OK",
    )?;
    fs::remove_file(config.join("agents"))?;
    fs::write(w.join("malicious"), "evil")?;
    symlink(w.join("malicious"), config.join("agents"))?;
    fails(&run_with_lib(&call, &[])?, "unexpected target")?;
    fs::remove_file(config.join("agents"))?;
    fs::write(config.join("regular-file"), "not a symlink")?;
    passes(
        &run_with_lib(&format!("{call}\necho \"NO_SYMLINKS_OK\""), &[])?,
        "NO_SYMLINKS_OK",
    )?;

    // verify_config_integrity
    let w = work()?;
    let call = format!("verify_config_integrity {}", q(&w));
    fails(&run_with_lib(&call, &[])?, "Config hash file missing")?;
    fs::write(w.join("config.json"), "{\"test\": true}")?;
    let hash = Command::new("bash")
        .arg("-c")
        .arg("sha256sum config.json > .config-hash")
        .current_dir(&w)
        .status()?;
    ensure!(hash.success(), "sha256sum");
    passes(
        &run_with_lib(&format!("{call}\necho \"INTEGRITY_OK\""), &[])?,
        "INTEGRITY_OK",
    )?;
    fs::write(
        w.join("config.json"),
        "{\"test\": false, \"injected\": \"malicious\"}",
    )?;
    fails(&run_with_lib(&call, &[])?, "integrity check FAILED")?;

    // verify_config_integrity_if_locked: the mutable default is skipped, and says so.
    let out = run_with_lib(
        &format!(
            "verify_config_integrity_if_locked {} 2>&1\necho \"MUTABLE_OK\"",
            q(&w)
        ),
        &[],
    )?;
    passes(&out, "MUTABLE_OK")?;
    ensure!(
        String::from_utf8_lossy(&out.stdout)
            .contains("Config integrity check skipped for mutable default"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // A locked directory (stat says root, 755) without its hash file fails closed.
    let w = work()?;
    let bin = w.join("bin");
    fs::create_dir(&bin)?;
    fs::write(
        bin.join("stat"),
        "#!/usr/bin/env bash\nif [ \"${2:-}\" = \"%u\" ]; then echo 0; exit 0; fi\nif [ \"${2:-}\" = \"%a\" ] || [ \"${2:-}\" = \"%Lp\" ]; then echo 755; exit 0; fi\nexit 1\n",
    )?;
    fs::set_permissions(bin.join("stat"), fs::Permissions::from_mode(0o700))?;
    let path = format!(
        "{}:{}:{}",
        bin.display(),
        cli.parent().ok_or("dir")?.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    fails(
        &run_with_lib(
            &format!("verify_config_integrity_if_locked {}", q(&w)),
            &[("PATH", path)],
        )?,
        "Locked config is missing hash file",
    )?;
    Ok(())
}

/// The file is plain POSIX sh: dash runs the old entrypoint's calls the same way.
fn posix_sh(area: &Path) -> TestResult {
    if Command::new("sh").arg("-c").arg(":").status().is_err() {
        return Ok(());
    }
    let (_s, l) = layout(area, "sh", Variant::B)?;
    Boot::new().shell("sh").openclaw(&l).boots(OLD_BOOT)?;
    ensure_pinned(&l.dir, Some(&l.data))?;
    unfreeze(&l.dir)?;
    Tamper::TwoHopChain.apply(&l)?;
    let err = Boot::new()
        .shell("sh")
        .openclaw(&l)
        .stops("validate_openclaw_symlinks")?;
    ensure!(err.contains("unexpected target"), "{err}");
    Boot::new()
        .shell("sh")
        .openclaw(&l)
        .stops("harden_openclaw_symlinks")?;
    engine::ensure_clean(&l.dir)
}

/// `make install-share` (part of `make install`) puts launcher.sh and nc_harden.py in
/// share/nc-harden/, the path launcher.sh's header names; sourced from there with nc-harden
/// in the prefix's bin/ (not on PATH), it finds the CLI beside it.
fn make_install_share(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "share")?;
    let stage = scratch.path().join("stage");
    let out = Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(env!("CARGO_MANIFEST_DIR"))
        .arg("install-share")
        .arg("PREFIX=/usr")
        .arg(format!("DESTDIR={}", stage.display()))
        .output()?;
    common::native::ensure_ok(&out, "make install-share")?;
    let share = stage.join("usr/share/nc-harden");
    for (file, source) in [
        ("launcher.sh", "examples/launcher.sh"),
        ("nc_harden.py", "examples/nc_harden.py"),
    ] {
        let meta = fs::metadata(share.join(file))?;
        ensure!(meta.permissions().mode() & 0o777 == 0o644, "{file} mode");
        ensure!(
            fs::read(share.join(file))?
                == fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(source))?,
            "{file} differs from {source}"
        );
    }
    let text = fs::read_to_string(share.join("launcher.sh"))?;
    ensure!(
        text.contains("/usr/share/nc-harden/launcher.sh"),
        "the header names the installed path"
    );
    ensure!(
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Makefile"))?
            .lines()
            .any(|l| l.starts_with("install:") && l.contains("install-share")),
        "make install includes install-share"
    );
    fs::create_dir_all(stage.join("usr/bin"))?;
    fs::copy(
        common::native::cli_binary()?,
        stage.join("usr/bin/nc-harden"),
    )?;
    let (_s, l) = layout(area, "installed", Variant::B)?;
    let out = Command::new("bash")
        .arg("-c")
        .arg("set -euo pipefail\n. \"$LAUNCHER\"\nvalidate_openclaw_symlinks\necho BOOTED")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("LAUNCHER", share.join("launcher.sh"))
        .env("OPENCLAW_DIR", &l.dir)
        .env("OPENCLAW_DATA_DIR", &l.data)
        .output()?;
    ensure!(
        out.status.success() && out.stdout == b"BOOTED\n",
        "installed launcher: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
