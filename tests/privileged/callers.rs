//! Every kind of caller, each the way its ecosystem uses a library: C programs linked
//! statically (compiled as C11 and as C++), a program linked against the installed shared
//! object, one that dlopens it, a Python ctypes helper and the installed CLI (the shell
//! launcher's functions are launcher.rs's). Installation is `make install` into a scratch
//! DESTDIR.

use super::*;
use common::native::{build_libraries, native_static_libs, Failure};
use nc_harden_testkit::command_as;

/// The trials of this file, registered by main.rs: every C program under valgrind and the
/// sanitizers and linked statically as C and C++, then each other caller once.
pub fn trials() -> Vec<Trial> {
    let mut out = Vec::new();
    for name in c_programs() {
        for checker in [Checker::Valgrind, Checker::Sanitizers] {
            let n = name.clone();
            out.push(trial(
                format!("memory::{}::{name}", checker.name()),
                FsKind::Disk,
                move |a| c_program_checked(&n, a, checker),
            ));
        }
        for cpp in [false, true] {
            let language = if cpp { "cpp" } else { "c" };
            let n = name.clone();
            out.push(trial(
                format!("callers::static_{language}::{name}"),
                FsKind::Disk,
                move |a| c_program(&n, a, cpp),
            ));
        }
    }
    type AreaTest = fn(&Path) -> TestResult;
    let callers: [(&str, AreaTest); 6] = [
        ("demo_as_root_and_as_a_plain_user", demo),
        ("installed_shared_object_via_pkg_config", installed_shared),
        (
            "installed_static_library_via_pkg_config_static",
            installed_static,
        ),
        ("dlopen_resolves_every_function", dlopen),
        ("python_ctypes_helper", python_ctypes),
        ("installed_cli_freeze_and_allow_degraded", cli_freeze),
    ];
    for (name, test) in callers {
        out.push(trial(format!("callers::{name}"), FsKind::Disk, test));
    }
    out
}

fn run_checked(cmd: &mut Command, what: &str) -> Result<std::process::Output, Failed> {
    let out = cmd.output()?;
    ensure_ok(&out, what)?;
    Ok(out)
}

fn layout_in(scratch: &Scratch) -> Result<Layout, Failed> {
    let root = scratch.path().join("layout");
    fs::create_dir(&root)?;
    Ok(Layout::build(&root, Variant::B)?)
}

/// No flag and no mount left on the layout.
fn all_clear(l: &Layout) -> TestResult {
    super::engine::ensure_clean(&l.dir)
}

pub fn c_programs() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("c-tests");
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| {
                    e.file_name()
                        .to_str()?
                        .strip_suffix(".c")
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// c-tests/NAME.c built as C11 (or as C++17), linked with libnc_harden.a alone plus the
/// documented native libraries, run on a fresh layout.
pub fn c_program(name: &str, area: &Path, cpp: bool) -> TestResult {
    let scratch = Scratch::new_in(area, "c")?;
    let exe = compile_c(name, scratch.path(), cpp, &[])?;
    run_on_fresh_layout(&scratch, Command::new(&exe), &format!("c-tests/{name}"))
}

/// Runs `cmd DIR DATA_DIR` on a fresh layout in `scratch`: it must exit 0 and leave no pin.
fn run_on_fresh_layout(scratch: &Scratch, mut cmd: Command, what: &str) -> TestResult {
    let l = layout_in(scratch)?;
    run_checked(cmd.arg(&l.dir).arg(&l.data), what)?;
    all_clear(&l)
}

/// `make install` (or some of its parts) into `scratch/stage` with PREFIX=/usr.
fn stage(scratch: &Scratch, targets: &[&str]) -> Result<PathBuf, Failed> {
    let profile_dir = build_libraries()?;
    let stage = scratch.path().join("stage");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // One `make` at a time: they share the build's target directory and its generated pages.
    static MAKE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = MAKE.lock().unwrap_or_else(|e| e.into_inner());
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or("profile")?;
    run_checked(
        Command::new("make")
            .arg("-s")
            .arg("-C")
            .arg(root)
            .args(targets)
            .arg("PREFIX=/usr")
            .arg(format!("DESTDIR={}", stage.display()))
            .arg(format!("PROFILE={profile}"))
            .arg(format!(
                "TARGET_DIR={}",
                profile_dir.parent().ok_or("target")?.display()
            ))
            .env("CARGO", env!("CARGO")),
        "make install",
    )?;
    Ok(stage)
}

/// `pkg-config ARGS nc-harden` against the staged prefix.
fn pkg_config(stage: &Path, args: &[&str]) -> Result<Vec<String>, Failed> {
    let out = run_checked(
        Command::new("pkg-config")
            .args(args)
            .arg("nc-harden")
            .env("PKG_CONFIG_LIBDIR", stage.join("usr/lib/pkgconfig"))
            .env("PKG_CONFIG_SYSROOT_DIR", stage),
        "pkg-config",
    )?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect())
}

fn cc(args: &[String], source: &Path, exe: &Path, extra: &[&str]) -> TestResult {
    run_checked(
        Command::new("cc")
            .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic"])
            .arg(source)
            .args(args)
            .args(extra)
            .arg("-o")
            .arg(exe),
        &format!("cc {}", source.display()),
    )?;
    Ok(())
}

fn needed(exe: &Path) -> Result<String, Failed> {
    let out = run_checked(Command::new("readelf").arg("-d").arg(exe), "readelf")?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn source(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// `make install`, then a program built with `pkg-config --cflags --libs nc-harden`: it
/// records the soname and runs against the installed library.
pub fn installed_shared(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "install")?;
    let stage = stage(&scratch, &["install"])?;
    let lib = stage.join("usr/lib");
    let so = fs::read_link(lib.join("libnc_harden.so"))?;
    ensure!(
        so == Path::new("libnc_harden.so.0"),
        "libnc_harden.so -> {so:?}"
    );
    let real = fs::read_link(lib.join("libnc_harden.so.0"))?;
    ensure!(
        real == Path::new(&format!("libnc_harden.so.{}", nc_harden::VERSION)),
        "libnc_harden.so.0 -> {real:?}"
    );
    for file in [
        "usr/bin/nc-harden",
        "usr/include/nc_harden.h",
        "usr/lib/libnc_harden.a",
    ] {
        ensure!(stage.join(file).exists(), "{file} is not installed");
    }
    let exe = scratch.path().join("gateway-shared");
    cc(
        &pkg_config(&stage, &["--cflags", "--libs"])?,
        &source("c-tests/gateway.c"),
        &exe,
        &[],
    )?;
    let dynamic = needed(&exe)?;
    ensure!(
        dynamic.contains("Shared library: [libnc_harden.so.0]"),
        "no DT_NEEDED on the soname:\n{dynamic}"
    );
    let mut cmd = Command::new(&exe);
    cmd.env("LD_LIBRARY_PATH", &lib);
    run_on_fresh_layout(&scratch, cmd, "gateway (shared)")
}

/// A prefix holding the static library only: `pkg-config --static` must give everything the
/// link needs (Libs.private), and the program must not need the shared object.
pub fn installed_static(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "install")?;
    let stage = stage(&scratch, &["install-static", "install-dev"])?;
    let libs = pkg_config(&stage, &["--static", "--libs"])?;
    let native = native_static_libs()?;
    ensure!(
        native.iter().all(|l| libs.contains(l)),
        "Libs.private lacks some of {native:?}: {libs:?}"
    );
    let exe = scratch.path().join("gateway-static");
    cc(
        &pkg_config(&stage, &["--static", "--cflags", "--libs"])?,
        &source("c-tests/gateway.c"),
        &exe,
        &[],
    )?;
    ensure!(
        !needed(&exe)?.contains("libnc_harden"),
        "the static build needs the shared object"
    );
    run_on_fresh_layout(&scratch, Command::new(&exe), "gateway (static)")
}

/// A helper that dlopens the installed library and resolves every nc_* function.
pub fn dlopen(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "dlopen")?;
    let stage = stage(&scratch, &["install-shared", "install-dev"])?;
    let exe = scratch.path().join("dlopen");
    let cflags = pkg_config(&stage, &["--cflags"])?;
    cc(
        &cflags,
        &source("c-tests/dynamic/dlopen.c"),
        &exe,
        &["-ldl"],
    )?;
    ensure!(
        !needed(&exe)?.contains("libnc_harden"),
        "the dlopen helper must not link the library"
    );
    let mut cmd = Command::new(&exe);
    cmd.arg(stage.join("usr/lib/libnc_harden.so.0"));
    run_on_fresh_layout(&scratch, cmd, "dlopen helper")
}

/// The Python ctypes helper of examples/, on the installed library.
pub fn python_ctypes(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "ctypes")?;
    let stage = stage(&scratch, &["install-shared"])?;
    let mut cmd = Command::new("python3");
    cmd.arg(source("examples/check_ctypes.py"))
        .env("NC_HARDEN_LIB", stage.join("usr/lib/libnc_harden.so.0"))
        .env("PYTHONDONTWRITEBYTECODE", "1");
    run_on_fresh_layout(&scratch, cmd, "python3 check_ctypes.py")
}

fn installed_cli(scratch: &Scratch) -> Result<PathBuf, Failed> {
    Ok(stage(scratch, &["install-bin"])?.join("usr/bin/nc-harden"))
}

fn cli(
    exe: &Path,
    op: &str,
    l: &Layout,
    extra: &[&str],
    creds: Creds,
) -> Result<std::process::Output, Failure> {
    let mut cmd = Command::new(exe);
    cmd.arg(op)
        .arg("--dir")
        .arg(&l.dir)
        .arg("--data-dir")
        .arg(&l.data)
        .args(extra);
    Ok(command_as(&mut cmd, creds).output()?)
}

fn unfreeze(exe: &Path, l: &Layout) -> TestResult {
    let out = cli(exe, "unfreeze", l, &[], Creds::Full)?;
    ensure!(
        out.status.code() == Some(0),
        "unfreeze: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// The installed CLI freezes (exit 0, JSON on stdout), and degrades as the contract says.
pub fn cli_freeze(area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "cli")?;
    let exe = installed_cli(&scratch)?;
    // The installed binary carries no test code: no test kit in it, and no demo.
    let bytes = fs::read(&exe)?;
    ensure!(
        !bytes.windows(17).any(|w| w == b"nc_harden_testkit"),
        "the installed CLI links the test kit"
    );
    // Nor does it offer one: `demo` is not in its help, and asking for it is a usage error.
    let demo = Command::new(&exe).arg("demo").output()?;
    ensure!(
        demo.status.code() == Some(64),
        "the installed CLI has no demo: {:?}",
        demo.status
    );
    let help = Command::new(&exe).arg("--help").output()?;
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    ensure!(
        !help.lines().any(|l| l.trim_start().starts_with("demo ")),
        "the installed CLI's help lists a demo it does not have: {help}"
    );
    // The manual pages `make install` writes come from this binary: none for a demo.
    let pages = scratch.path().join("pages");
    fs::create_dir(&pages)?;
    let made = Command::new(&exe).arg("man").arg(&pages).status()?;
    ensure!(
        made.success() && pages.join("nc-harden-freeze.1").exists(),
        "the installed CLI writes its manual pages"
    );
    ensure!(
        !pages.join("nc-harden-demo.1").exists(),
        "the installed manual pages include the demo's"
    );
    let l = layout_in(&scratch)?;
    let out = cli(
        &exe,
        "freeze",
        &l,
        &["--json", "--require", "openclaw.json"],
        Creds::Full,
    )?;
    ensure!(
        out.status.code() == Some(0),
        "freeze exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let json = String::from_utf8_lossy(&out.stdout);
    ensure!(
        json.contains("\"status\":\"NC_OK\"") && json.contains("\"layers\":[\"immutable\"]"),
        "{json}"
    );
    ensure!(immutable_flag(&l.dir)?, "the CLI did not pin the directory");
    ensure!(
        cli(&exe, "verify", &l, &[], Creds::Full)?.status.code() == Some(0),
        "verify"
    );
    unfreeze(&exe, &l)?;
    all_clear(&l)?;

    // Without CAP_LINUX_IMMUTABLE, AUTO pins with the read-only mount.
    let out = cli(
        &exe,
        "freeze",
        &l,
        &["--json"],
        Creds::RootWithout(&[CAP_LINUX_IMMUTABLE]),
    )?;
    let json = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.code() == Some(0) && json.contains("\"layers\":[\"mount\"]"),
        "AUTO without the flag: {json}"
    );
    unfreeze(&exe, &l)?;
    all_clear(&l)?;
    let out = cli(
        &exe,
        "freeze",
        &l,
        &["--strategy", "immutable"],
        Creds::RootWithout(&[CAP_LINUX_IMMUTABLE]),
    )?;
    ensure!(
        out.status.code() == Some(2),
        "IMMUTABLE without the capability: exit {:?}",
        out.status
    );
    // Without either capability nothing can be pinned.
    let nocap = Creds::RootWithout(&[CAP_LINUX_IMMUTABLE, CAP_SYS_ADMIN]);
    let out = cli(&exe, "freeze", &l, &[], nocap)?;
    ensure!(
        out.status.code() == Some(2),
        "without the capability: exit {:?}",
        out.status
    );
    let out = cli(&exe, "freeze", &l, &["--allow-degraded"], nocap)?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.code() == Some(0),
        "--allow-degraded: exit {:?}",
        out.status
    );
    ensure!(
        err.contains("[SECURITY] ") && err.contains("NC_NO_CAPABILITY") && err.contains("denied"),
        "the warning is still printed: {err}"
    );
    all_clear(&l)
}

/// A memory checker around the C programs.
#[derive(Clone, Copy, Debug)]
pub enum Checker {
    /// valgrind memcheck: no invalid access, no definite or indirect leak.
    Valgrind,
    /// AddressSanitizer and UndefinedBehaviorSanitizer (with LeakSanitizer) on the C side.
    Sanitizers,
}

impl Checker {
    pub fn name(self) -> &'static str {
        match self {
            Checker::Valgrind => "valgrind",
            Checker::Sanitizers => "asan_ubsan",
        }
    }
}

/// c-tests/NAME.c under a memory checker, on a fresh layout: any report fails the test.
pub fn c_program_checked(name: &str, area: &Path, checker: Checker) -> TestResult {
    let scratch = Scratch::new_in(area, "mem")?;
    let flags: &[&str] = match checker {
        Checker::Valgrind => &["-g"],
        Checker::Sanitizers => &[
            "-g",
            "-fsanitize=address,undefined",
            "-fno-omit-frame-pointer",
            "-fno-sanitize-recover=all",
        ],
    };
    let exe = compile_c(name, scratch.path(), false, flags)?;
    let l = layout_in(&scratch)?;
    let mut cmd = match checker {
        Checker::Valgrind => {
            let mut c = Command::new("valgrind");
            c.args([
                "-q",
                "--error-exitcode=99",
                "--leak-check=full",
                "--errors-for-leak-kinds=definite,indirect",
            ]);
            c.arg(&exe);
            c
        }
        Checker::Sanitizers => {
            let mut c = Command::new(&exe);
            c.env(
                "ASAN_OPTIONS",
                "detect_leaks=1:abort_on_error=0:exitcode=99",
            );
            c
        }
    };
    let out = cmd.arg(&l.dir).arg(&l.data).output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.code() == Some(0),
        "{} under {}: {:?}\n{err}",
        name,
        checker.name(),
        out.status
    );
    ensure!(
        !err.contains("ERROR: AddressSanitizer") && !err.contains("runtime error"),
        "{err}"
    );
    all_clear(&l)
}

/// `nc-harden demo`, the README's first command, as root (every step behaves as the
/// contract says, exit 0) and as a plain user (it says what it cannot show, and still
/// finds the evil dotfile).
pub fn demo(_area: &Path) -> TestResult {
    let exe = common::native::cli_binary()?;
    for creds in [Creds::Full, Creds::User(SANDBOX_UID)] {
        let out = command_as(Command::new(&exe).arg("demo"), creds).output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        ensure!(
            out.status.code() == Some(0),
            "demo as {}: {:?}\n{text}",
            creds.name(),
            out.status
        );
        ensure!(
            text.contains("every step behaved as the contract says"),
            "{text}"
        );
        ensure!(
            text.contains("NC_INVALID") && text.contains(".evil"),
            "the dotfile is caught: {text}"
        );
        if creds == Creds::Full {
            ensure!(
                text.contains("refused") && text.contains("layers: mount"),
                "root sees the freeze hold: {text}"
            );
        } else {
            ensure!(
                text.contains("pinning needs root") && text.contains("NC_NO_CAPABILITY"),
                "{text}"
            );
        }
    }
    Ok(())
}
