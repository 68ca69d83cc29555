//! Builds the workload layout for scripts (the benchmark comparison): `build_layout ROOT [K]`
//! makes variant B under ROOT, plus K extra links when K is given. Prints the two paths.

fn main() {
    let mut args = std::env::args().skip(1);
    let root = std::path::PathBuf::from(args.next().expect("usage: build_layout ROOT [K]"));
    let variant = match args.next() {
        Some(k) => nc_harden_testkit::Variant::Scaling(k.parse().expect("K is a number")),
        None => nc_harden_testkit::Variant::B,
    };
    let l = nc_harden_testkit::Layout::build(&root, variant).expect("building the layout");
    println!("{} {}", l.dir.display(), l.data.display());
}
