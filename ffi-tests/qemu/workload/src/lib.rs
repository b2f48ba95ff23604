//! The workload the QEMU firmware runs (Rust directly, C through `c-shim`), and, with the
//! `std` feature, the host golden vectors it is checked against.
//!
//! **This file is the only place that knows what the workload is**: the real mechanism
//! (`dpxattn::mechanism`), in three kinds of case.
//!
//! 1. **Project golden vectors** ([`GOLDEN`]): the three configurations of
//!    `ffi-tests/golden/README.md` (d = 4, dv = 3, n = 10, `flat` / `tree` / `laplace`), with
//!    the same formula inputs ([`golden_key`], [`golden_value`], [`golden_query`]) and the
//!    same SplitMix64 byte-stream RNG ([`TestRng`], seed 42). The device builds each image
//!    and checks its SHA-256 and every query's output bits and floor flag against
//!    `ffi-tests/golden/vectors.txt`.
//! 2. **Device case** ([`Profile::device`]): a larger structure (d = dv = 16, s = 2 on the
//!    ≥ 64 KB machines; d = dv = 8 on the 16 KB micro:bit) built on the device from bundled
//!    inputs, checked byte for byte against the image the host builds with the same inputs
//!    and RNG, then queried.
//! 3. **Flash cases**: host-built images opened in place, zero-copy: [`FLASH`], a real
//!    MiniLM head (d = dv = 32, s = 2, r = 561, n = 512; parameters in `golden.rs`), on
//!    every machine; and [`FLASH16`], the d = 16 image of the large device case, on the
//!    micro:bit, whose RAM cannot hold that build, so that every machine reports a d = 16
//!    query.
#![cfg_attr(not(feature = "std"), no_std)]

use rand_core::{Infallible, TryCryptoRng, TryRng};

#[cfg(feature = "std")]
pub mod golden;

pub use dpxattn::mechanism::{Attn, NoiseKind, Params, Plan, QueryInfo, build};
pub use dpxattn::{Error, Result};

/// Name of the workload, printed on every `qemu:` line.
pub const NAME: &str = "mechanism";

/// One configuration built by the harness (device and flash cases): public dimensions and
/// the RNG seed. Its parameters are `Params::new(d, dv, n)` (degree 2), except for the
/// MiniLM case, whose parameters are chosen in `golden.rs` and travel inside its image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    /// Short name used in output and in golden file names.
    pub name: &'static str,
    /// Key / query dimension.
    pub d: usize,
    /// Value dimension.
    pub dv: usize,
    /// Prompt rows (= n_max).
    pub n: usize,
    /// Number of golden queries.
    pub n_queries: usize,
    /// Seed of the deterministic test RNG used by [`build`].
    pub seed: u64,
}

/// Built on the device, on machines with ≥ 64 KB RAM (the d = 16, s = 2 measurement).
pub const DEVICE: Case = Case {
    name: "device",
    d: 16,
    dv: 16,
    n: 32,
    n_queries: 4,
    seed: 0x5eed_0001,
};

/// Built on the device on the 16 KB-RAM micro:bit: the d = 16 build needs 10.7 KB of image
/// and 21.7 KB of scratch, more than the machine has.
pub const DEVICE_SMALL: Case = Case {
    name: "device",
    d: 8,
    dv: 8,
    n: 32,
    n_queries: 4,
    seed: 0x5eed_0003,
};

/// The real MiniLM head (all-MiniLM-L6-v2 layer 2, head 0, n = 512 prompt rows), built on
/// the host, placed in flash and opened zero-copy.
pub const FLASH: Case = Case {
    name: "flash",
    d: 32,
    dv: 32,
    n: 512,
    n_queries: 4,
    seed: 0x5eed_0002,
};

/// The large device case's image, built on the host and opened from flash on the micro:bit.
pub const FLASH16: Case = Case {
    name: "flash16",
    ..DEVICE
};

/// What one class of machine runs: its device case and the capacities of the firmware's
/// static buffers. [`plan`]'s sizes are computed at run time; the firmware checks they fit
/// (and a host test checks it ahead of time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// The case built on the device.
    pub device: Case,
    /// Whether the d = 16 image is opened from flash ([`FLASH16`]) because the device case
    /// is smaller.
    pub flash16: bool,
    /// Image buffer capacity (bytes).
    pub image_cap: usize,
    /// Build scratch capacity (bytes).
    pub scratch_cap: usize,
    /// Query scratch capacity (bytes), for every case.
    pub qscratch_cap: usize,
}

/// Machines with 16 KB RAM (micro:bit).
pub const SMALL: Profile = Profile {
    device: DEVICE_SMALL,
    flash16: true,
    image_cap: 2720,
    scratch_cap: 3584,
    qscratch_cap: 2688,
};

/// Machines with ≥ 64 KB RAM (lm3s6965evb, mps2-an386).
pub const LARGE: Profile = Profile {
    device: DEVICE,
    flash16: false,
    image_cap: 10752,
    scratch_cap: 21632,
    qscratch_cap: 2688,
};

/// The profile of a QEMU machine.
pub fn profile(machine: &str) -> &'static Profile {
    if machine == "microbit" {
        &SMALL
    } else {
        &LARGE
    }
}

/// Largest `dv` of any case (output buffer length).
pub const DV_MAX: usize = 32;

/// The parameters of a harness case: the library defaults for its shape (degree 2,
/// τ = 1/√d, r_q = r_k = d^¼ so B = 1, r_v = 1, ε = 1, δ = 10⁻⁵, Gaussian, flat).
pub fn params(case: &Case) -> Params {
    Params {
        degree: 2,
        ..Params::new(case.d as u32, case.dv as u32, case.n as u32)
    }
}

/// The plan of a harness case.
pub fn plan(case: &Case) -> Result<Plan> {
    Plan::new(&params(case))
}

// --- the project's golden vectors (ffi-tests/golden/README.md) ------------------------------

/// d of the golden configurations.
pub const GOLDEN_D: usize = 4;
/// dv of the golden configurations.
pub const GOLDEN_DV: usize = 3;
/// Rows of the golden configurations.
pub const GOLDEN_N: usize = 10;
/// Queries of the golden configurations.
pub const GOLDEN_M: usize = 4;
/// RNG seed of the golden builds.
pub const GOLDEN_SEED: u64 = 42;
/// Names of the golden configurations, in `vectors.txt` order.
pub const GOLDEN: [&str; 3] = ["flat", "tree", "laplace"];

/// `keys[i][j] = ((7i + 3j + 1) mod 13 − 6) / 4` (exact in f32).
pub fn golden_key(i: usize, j: usize) -> f32 {
    ((7 * i + 3 * j + 1) % 13) as f32 / 4.0 - 1.5
}
/// `values[i][j] = ((5i + 11j + 2) mod 9 − 4) / 4`.
pub fn golden_value(i: usize, j: usize) -> f32 {
    ((5 * i + 11 * j + 2) % 9) as f32 / 4.0 - 1.0
}
/// `queries[m][j] = ((3m + 5j) mod 7 − 3) / 2`.
pub fn golden_query(m: usize, j: usize) -> f32 {
    ((3 * m + 5 * j) % 7) as f32 / 2.0 - 1.5
}

/// The parameters of golden configuration `name` (see `ffi-tests/golden/README.md`):
/// n_max = 16, degree 2, τ = 0.5, r_q = 2, r_k = 1.5, r_v = 1.25; `tree` has block = 3;
/// `laplace` is the discrete Laplace with ε = 2 and contribution clipping C = 0.5.
pub fn golden_params(name: &str) -> Params {
    let mut p = Params::new(GOLDEN_D as u32, GOLDEN_DV as u32, 16);
    p.score_scale = 0.5;
    p.radius_q = 2.0;
    p.radius_k = 1.5;
    p.radius_v = 1.25;
    match name {
        "tree" => p.block = 3,
        "laplace" => {
            p.mechanism = NoiseKind::Laplace;
            p.epsilon = 2.0;
            p.clip = 0.5;
        }
        _ => {}
    }
    p
}

/// The block ranges a golden configuration is queried over (`vectors.txt` order).
pub fn golden_ranges(name: &str) -> &'static [(usize, usize)] {
    if name == "tree" {
        &[(0, 4), (1, 3), (2, 3)]
    } else {
        &[(0, 1)]
    }
}

/// Deterministic test RNG: SplitMix64 as a **byte stream**, the project's golden-vector
/// generator (`ffi-tests/golden/README.md`): each 64-bit output is emitted as 8
/// little-endian bytes; `next_u64` takes the next 8 bytes, `next_u32` the next 4, so any mix
/// of calls (or a C fill callback) draws the same bytes. **Not cryptographic**: it exists so
/// that a build on the device and on the host draw identical values. The `TryCryptoRng`
/// marker is implemented only to satisfy the mechanism's bound in tests; never use it for
/// a real release.
#[derive(Debug, Clone)]
pub struct TestRng {
    state: u64,
    buf: [u8; 8],
    pos: usize,
}

impl TestRng {
    /// A generator with the given seed.
    pub const fn new(seed: u64) -> Self {
        TestRng {
            state: seed,
            buf: [0; 8],
            pos: 8,
        }
    }

    fn byte(&mut self) -> u8 {
        if self.pos >= 8 {
            self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            self.buf = (z ^ (z >> 31)).to_le_bytes();
            self.pos = 0;
        }
        let b = self.buf.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
}

impl TryRng for TestRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> core::result::Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> core::result::Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> core::result::Result<(), Infallible> {
        for x in dst.iter_mut() {
            *x = self.byte();
        }
        Ok(())
    }
}

impl TryCryptoRng for TestRng {}

/// FNV-1a (64-bit) of `bytes`: a short image fingerprint for the logs (the check itself
/// compares every byte).
pub fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    })
}

/// Bitwise equality of f32 slices (the golden check is bit for bit, not approximate).
pub fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}
