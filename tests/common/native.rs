//! Building and linking the native artefacts (static library, cdylib, C programs) from a
//! test: a test binary links the rlib only, so these are built here, fresh.

use std::path::{Path, PathBuf};
use std::process::Command;

pub type Failure = Box<dyn std::error::Error + Send + Sync>;

/// The target directory and profile directory of this test binary.
fn profile_dir() -> Result<PathBuf, Failure> {
    let exe = std::env::current_exe()?;
    Ok(exe
        .parent()
        .and_then(Path::parent)
        .ok_or("no target dir")?
        .to_path_buf())
}

/// `cargo build ARGS` into this test binary's target and profile directories; returns the
/// profile directory.
fn cargo_build(args: &[&str]) -> Result<PathBuf, Failure> {
    let profile_dir = profile_dir()?;
    let target_dir = profile_dir.parent().ok_or("no target dir")?;
    let mut cmd = Command::new(env!("CARGO"));
    cmd.arg("build")
        .args(args)
        .arg("--target-dir")
        .arg(target_dir);
    cmd.arg("--manifest-path")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"));
    if profile_dir.file_name() == Some("release".as_ref()) {
        cmd.arg("--release");
    }
    ensure_ok(&cmd.output()?, &format!("cargo build {}", args.join(" ")))?;
    Ok(profile_dir)
}

/// Builds once per test process, however many tests ask.
fn once(
    cell: &'static std::sync::OnceLock<Result<PathBuf, String>>,
    args: &[&str],
) -> Result<PathBuf, Failure> {
    Ok(cell
        .get_or_init(|| cargo_build(args).map_err(|e| e.to_string()))
        .clone()?)
}

/// `cargo build --lib` for this crate, so that the .a and .so are those of the code under
/// test (a test binary links the rlib only).
pub fn build_libraries() -> Result<PathBuf, Failure> {
    static BUILT: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    once(&BUILT, &["--lib", "-p", "nc-harden"])
}

/// The static library, built fresh.
pub fn static_library() -> Result<PathBuf, Failure> {
    Ok(build_libraries()?.join("libnc_harden.a"))
}

/// The cdylib, built fresh.
pub fn shared_library() -> Result<PathBuf, Failure> {
    Ok(build_libraries()?.join("libnc_harden.so"))
}

pub fn ensure_ok(out: &std::process::Output, what: &str) -> Result<(), Failure> {
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
    .into())
}

/// The native libraries the staticlib needs, as documented: the Makefile's
/// NATIVE_STATIC_LIBS, which goes into nc-harden.pc's Libs.private and the README.
pub fn native_static_libs() -> Result<Vec<String>, Failure> {
    let makefile = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Makefile"))?;
    let line = makefile
        .lines()
        .find_map(|l| l.strip_prefix("NATIVE_STATIC_LIBS := "))
        .ok_or("the Makefile documents NATIVE_STATIC_LIBS")?;
    Ok(line.split_whitespace().map(str::to_string).collect())
}

/// Compiles `c-tests/<name>.c` strictly (C11, or C++17 when `cpp`: the header must serve
/// both) against the header and the static library alone, plus the documented native libs.
pub fn compile_c(
    name: &str,
    out_dir: &Path,
    cpp: bool,
    extra: &[&str],
) -> Result<PathBuf, Failure> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = root.join("c-tests").join(format!("{name}.c"));
    compile_c_source(&source, name, out_dir, cpp, extra)
}

/// As [`compile_c`], for a C source anywhere (one a test writes, say).
pub fn compile_c_source(
    source: &Path,
    name: &str,
    out_dir: &Path,
    cpp: bool,
    extra: &[&str],
) -> Result<PathBuf, Failure> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = static_library()?;
    let target = env!("NC_HARDEN_TARGET");
    let compiler = cc::Build::new()
        .cargo_metadata(false)
        .cargo_warnings(false)
        .target(target)
        .host(target)
        .opt_level(0)
        .debug(true)
        .cpp(cpp)
        .out_dir(out_dir)
        .get_compiler();
    let (language, standard) = if cpp {
        ("c++", "-std=c++17")
    } else {
        ("c", "-std=c11")
    };
    let exe = out_dir.join(format!(
        "{name}-{language}{}",
        if extra.is_empty() { "" } else { "-checked" }
    ));
    let out = compiler
        .to_command()
        .args([standard, "-Wall", "-Wextra", "-Werror", "-pedantic"])
        .args(extra)
        .arg("-I")
        .arg(root.join("include"))
        .args(["-x", language])
        .arg(source)
        .args(["-x", "none"])
        .arg(&lib)
        .args(native_static_libs()?)
        .arg("-o")
        .arg(&exe)
        .output()?;
    ensure_ok(
        &out,
        &format!("compiling {} as {language}", source.display()),
    )?;
    Ok(exe)
}

/// The `nc-harden` command with the test-only kill points (feature `__kill-points`), built
/// into a target directory of its own so that no other binary carries them.
pub fn kill_points_cli() -> Result<PathBuf, Failure> {
    static BUILT: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    let built = BUILT.get_or_init(|| {
        (|| -> Result<PathBuf, Failure> {
            let profile_dir = profile_dir()?;
            let target_dir = profile_dir
                .parent()
                .ok_or("no target dir")?
                .join("kill-points");
            let out = Command::new(env!("CARGO"))
                .args(["build", "-p", "nc-harden-cli", "--bin", "nc-harden"])
                .args(["--features", "nc-harden-cli/__kill-points"])
                .arg("--target-dir")
                .arg(&target_dir)
                .arg("--manifest-path")
                .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
                .output()?;
            ensure_ok(&out, "cargo build --features nc-harden-cli/__kill-points")?;
            Ok(target_dir.join("debug").join("nc-harden"))
        })()
        .map_err(|e| e.to_string())
    });
    Ok(built.clone()?)
}

/// The `nc-harden` command, built fresh.
pub fn cli_binary() -> Result<PathBuf, Failure> {
    static BUILT: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    Ok(once(&BUILT, &["-p", "nc-harden-cli", "--bin", "nc-harden"])?.join("nc-harden"))
}
