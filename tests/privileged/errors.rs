//! Errors name what they concern: without privilege, a refused owner or mode change says
//! which file and what it takes (root, or the capabilities).

use super::*;
use nc_harden::profile::{Accounts, Profile};
use nc_harden::shields::{self, Part};
use std::os::unix::fs::PermissionsExt;

/// Shields up as the sandbox user (uid 998, no capability): NC_IO_ERROR, the text unchanged
/// ("locking the parent: Operation not permitted") with the parent's path and what the
/// change takes added, and both as fields of the error.
pub fn shields_up_unprivileged(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "errors")?;
    let parent = scratch.path().join("sandbox");
    let dir = parent.join(".openclaw");
    fs::create_dir(&parent)?;
    fs::create_dir(&dir)?;
    fs::write(dir.join("openclaw.json"), b"{}\n")?;
    for p in [&parent, &dir, &dir.join("openclaw.json")] {
        chown(p, SANDBOX_UID)?;
    }
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o2770))?;
    let text = nc_harden::profile::BUILTIN[0]
        .1
        .replace("\"/sandbox/.openclaw\"", &format!("{dir:?}"));
    let accounts = Accounts::from_bytes(
        format!(
            "root:x:0:0::/root:/bin/sh\nsandbox:x:{SANDBOX_UID}:{SANDBOX_UID}::/sandbox:/bin/sh\n"
        )
        .as_bytes(),
        format!("root:x:0:\nsandbox:x:{SANDBOX_UID}:\n").as_bytes(),
    );
    let profile = Profile::parse(&text, &accounts).map_err(|e| e.to_string())?;
    let result = run_as(Creds::User(SANDBOX_UID), || {
        shields::up(&profile, Part::All, false).map(|r| r.status)
    });
    let Err(e) = result else {
        return Err(format!("shields up as uid {SANDBOX_UID}: {result:?}").into());
    };
    let message = e.to_string();
    ensure!(e.status() == Status::IoError, "{message}");
    ensure!(e.errno() == libc::EPERM, "{message}");
    ensure!(
        e.path() == Some(parent.as_path()),
        "{:?}: {message}",
        e.path()
    );
    ensure!(
        e.needed() == Some("root, or CAP_CHOWN and CAP_FOWNER"),
        "{message}"
    );
    ensure!(
        message.contains("locking the parent: Operation not permitted"),
        "{message}"
    );
    ensure!(
        message.contains(&format!("{:?}", parent.display().to_string())),
        "{message}"
    );
    ensure!(
        message.contains("needs root, or CAP_CHOWN and CAP_FOWNER"),
        "{message}"
    );
    Ok(())
}

/// A freeze that locks the posture, as nobody (uid 65534): NC_IO_ERROR naming the
/// directory, its words unchanged.
pub fn freeze_lock_posture_unprivileged(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "errors")?;
    let dir = scratch.path().join("flat");
    fs::create_dir(&dir)?;
    fs::write(dir.join("config.json"), b"{}\n")?;
    let policy = nc_harden::Policy::flat(&dir)
        .lock_posture(true)
        .build()
        .map_err(|e| e.to_string())?;
    let result = run_as(Creds::User(65534), || policy.validate_and_freeze());
    let Err(e) = result else {
        return Err(format!("freeze as uid 65534: {result:?}").into());
    };
    let message = e.to_string();
    ensure!(e.status() == Status::IoError, "{message}");
    ensure!(e.path() == Some(dir.as_path()), "{:?}: {message}", e.path());
    ensure!(
        message.contains("locking the directory's posture (it takes root, or CAP_CHOWN and CAP_FOWNER: nothing was changed): Operation not permitted"),
        "{message}"
    );
    ensure!(
        message.contains(&format!("[path {:?}]", dir.display().to_string())),
        "{message}"
    );
    Ok(())
}

pub fn trials() -> Vec<Trial> {
    vec![
        trial(
            "errors::shields_up_unprivileged",
            FsKind::Disk,
            shields_up_unprivileged,
        ),
        trial(
            "errors::freeze_lock_posture_unprivileged",
            FsKind::Disk,
            freeze_lock_posture_unprivileged,
        ),
        trial(
            "errors::proc_of_another_pid_namespace",
            FsKind::Tmpfs,
            proc_of_another_pid_namespace,
        ),
    ]
}

/// /proc is a procfs, but of a pid namespace the caller is not in (mounted there by a
/// process of that namespace, then bound over /proc, in a mount namespace of the test's
/// own): its `self` names no process. A call that needs /proc (here: the verify of a
/// directory that is a mount root, judged by mountinfo) answers NC_IO_ERROR saying so, not a
/// bare "No such file or directory", and never a verdict; one that does not need it (the
/// mount facts of entries come from statx, listmount and statmount) gives the true verdict,
/// a mount over an entry found all the same.
pub fn proc_of_another_pid_namespace(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "foreign-proc")?;
    let (dir, data, other) = (
        scratch.path().join("dir"),
        scratch.path().join("data"),
        scratch.path().join("proc"),
    );
    for d in [&dir, &data, &other] {
        fs::create_dir(d)?;
    }
    fs::write(dir.join("a"), b"x")?;
    let nc = super::common::native::cli_binary()?;
    fs::write(data.join("host"), b"y")?;
    let root_dir = scratch.path().join("mount-root");
    fs::create_dir(&root_dir)?;
    // The verify needs no /proc (the mount facts come from statx, listmount and statmount):
    // under another pid namespace's it still tells the truth, a mount over an entry included.
    let script = r#"
        unshare -p -f --kill-child sh -c 'mount -t proc proc "$0" && sleep 5' "$3" >/dev/null 2>&1 &
        for _ in $(seq 100); do [ -e "$3/1" ] && break; sleep 0.05; done
        mount --bind "$4" "$4" || exit 97
        mount --bind "$3" /proc || exit 99
        "$0" verify --dir "$1" --data-dir "$2" 2>&1
        echo "exit $?"
        mount --bind "$2/host" "$1/a" || exit 98
        "$0" verify --dir "$1" --data-dir "$2" 2>&1
        echo "exit $?"
        echo "--- a mount root"
        "$0" verify --dir "$4" --data-dir "$2" 2>&1
        echo "exit $?"
        kill $! 2>/dev/null
    "#;
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script])
        .arg(&nc)
        .args([&dir, &data, &other, &root_dir])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let (plain, mounted) = text.split_once("exit 4\n").ok_or_else(|| {
        format!(
            "verify under a foreign procfs, not NC_NOT_FROZEN: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    let (mounted, root) = mounted
        .split_once("--- a mount root")
        .ok_or_else(|| format!("the script stopped: {text}"))?;
    ensure!(plain.contains("NC_NOT_FROZEN"), "plain verify: {plain}");
    ensure!(
        mounted.contains("NC_INVALID") && mounted.contains("mount") && mounted.contains("exit 10"),
        "verify with a mount over an entry, under a foreign procfs: {mounted}"
    );
    // A directory that is a mount root is judged by mountinfo (whose mount it is): that read
    // refuses the foreign procfs and says why.
    ensure!(
        root.contains("NC_IO_ERROR") && root.contains("another pid namespace"),
        "verify of a mount root under a foreign procfs: {root}"
    );
    Ok(())
}
