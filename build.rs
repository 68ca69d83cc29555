//! Gives the cdylib its soname, `libnc_harden.so.<major>`, so that programs linked against
//! it record the ABI generation they were built for (DT_NEEDED), as any system library does.

fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the version");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libnc_harden.so.{major}");
    // The tests compile C programs with the `cc` crate, which wants the target triple.
    let target = std::env::var("TARGET").expect("cargo sets the target");
    println!("cargo:rustc-env=NC_HARDEN_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
}
