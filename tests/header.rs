//! The committed C header must be exactly what cbindgen generates from the code: callers build
//! against the file in git, so a drift between the two is an ABI bug.

use std::path::Path;

#[test]
fn committed_header_matches_generated() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut config =
        cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml parses");
    // The contract's tables, from their one definition each (cbindgen does not expand the
    // macro that defines them).
    let tables: String = nc_harden::table::c_tables()
        .iter()
        .map(nc_harden::table::render_c)
        .collect();
    config.after_includes = Some(format!("\n{}", tables.trim_end()));
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(root)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut generated);
    let path = root.join("include/nc_harden.h");
    if std::env::var_os("NC_HARDEN_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write the header");
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/nc_harden.h differs from what cbindgen generates: run `NC_HARDEN_BLESS=1 cargo test --test header` and commit it"
    );
}
