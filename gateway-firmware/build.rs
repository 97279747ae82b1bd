//! Puts `memory.x` on the linker path, adds defmt's linker script, and asks
//! the linker for a map file (`target/<triple>/<profile>/gateway.map`, or
//! `gateway-f405.map` for the real board, so that building one board never
//! leaves its map beside the other's ELF), from which the benchmarks read
//! RAM and flash use. Only binaries get these arguments, so the portable
//! core still builds and tests on the host.
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out.join("memory.x"), include_bytes!("memory.x")).expect("write memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    if env::var("TARGET").is_ok_and(|t| t.starts_with("thumb")) {
        // OUT_DIR is target/<triple>/<profile>/build/<pkg>-<hash>/out.
        let profile_dir = out.ancestors().nth(3).expect("OUT_DIR is deep enough");
        println!("cargo:rustc-link-arg-bins=-Tlink.x");
        // Both boards log with defmt: `defmt.x` keeps the `.defmt` table of
        // format strings in the ELF (not loaded into flash) for the host's
        // decoder.
        println!("cargo:rustc-link-arg-bins=-Tdefmt.x");
        let map = if env::var_os("CARGO_FEATURE_BOARD_F405").is_some() {
            "gateway-f405.map"
        } else {
            "gateway.map"
        };
        println!(
            "cargo:rustc-link-arg-bin=gateway=-Map={}",
            profile_dir.join(map).display()
        );
    }
    println!("cargo:rerun-if-changed=memory.x");
}
