//! Firmware build script:
//! 1. picks the per-machine `memory/<machine>.x` (machine from the target, or the
//!    `QEMU_MACHINE` environment variable) and puts it on the linker path as `memory.x`;
//! 2. links the binaries with cortex-m-rt's `link.x`;
//! 3. computes the golden vectors on the host (same workload code) for the machine's
//!    profile into `OUT_DIR`, where `src/data.rs` picks them up with `include_bytes!`;
//! 4. sets `cfg(qemu_small_ram)` for a machine with the small profile (16 KB RAM).
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let target = env::var("TARGET").expect("TARGET");
    println!("cargo:rerun-if-env-changed=QEMU_MACHINE");
    let machine = env::var("QEMU_MACHINE").unwrap_or_else(|_| {
        match target.as_str() {
            "thumbv6m-none-eabi" => "microbit",
            "thumbv7m-none-eabi" => "lm3s6965evb",
            "thumbv7em-none-eabihf" => "mps2-an386",
            other => panic!("no default QEMU machine for target {other}; set QEMU_MACHINE"),
        }
        .to_string()
    });
    let mem = PathBuf::from("memory").join(format!("{machine}.x"));
    let bytes = fs::read(&mem).unwrap_or_else(|e| panic!("{}: {e}", mem.display()));
    fs::write(out.join("memory.x"), bytes).expect("write memory.x");
    println!("cargo:rerun-if-changed={}", mem.display());
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    println!("cargo:rustc-env=QEMU_FW_MACHINE={machine}");

    if let Err(e) = qemu_workload::golden::write_bins(&out, &machine) {
        panic!("golden vectors: {e}");
    }
    println!("cargo:rerun-if-changed=build.rs");
    let root = PathBuf::from("../../..");
    for f in [
        "ffi-tests/golden/vectors.txt",
        "examples/data/minilm/n512_layer2/K.f32",
        "examples/data/minilm_long/n1024_layer2/V.f32",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(f).display());
    }

    println!("cargo::rustc-check-cfg=cfg(qemu_small_ram)");
    if qemu_workload::profile(&machine) == &qemu_workload::SMALL {
        println!("cargo:rustc-cfg=qemu_small_ram");
    }
}
