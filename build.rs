//! Gives the cdylib its soname, `libnc_harden.so.<major>`, so that programs linked against
//! it record the ABI generation they were built for (DT_NEEDED), as any system library does.

fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the version");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libnc_harden.so.{major}");
    println!("cargo:rerun-if-changed=build.rs");
}
