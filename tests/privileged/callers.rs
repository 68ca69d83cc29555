//! The callers of the contract: C programs linked statically.

use super::*;

pub fn c_program(name: &'static str, area: &Path) -> TestResult {
    let scratch = Scratch::new_in(area, "c")?;
    let exe = compile_c(name, scratch.path())?;
    let root = scratch.path().join("layout");
    fs::create_dir(&root)?;
    let l = Layout::build(&root, Variant::B)?;
    let out = Command::new(&exe).arg(&l.dir).arg(&l.data).output()?;
    ensure_ok(&out, &format!("c-tests/{name}"))?;
    ensure!(
        flags(&l.dir)?.iter().all(|(_, on)| !on),
        "the C program left a flag set"
    );
    Ok(())
}
