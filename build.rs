//! Compiles the small C helper for Redis-exact `long double` arithmetic (INCRBYFLOAT).
fn main() {
    println!("cargo:rerun-if-changed=csrc/longdouble.c");
    cc::Build::new()
        .file("csrc/longdouble.c")
        .opt_level(2)
        .compile("corekv_longdouble");
}
