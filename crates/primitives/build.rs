//! The `sol!` bindings read the committed artifacts at compile time, which cargo does not track by itself:
//! without this, a recompiled contract leaves stale bindings until some Rust source changes.

fn main() {
    println!("cargo:rerun-if-changed=../../contracts/out");
}
