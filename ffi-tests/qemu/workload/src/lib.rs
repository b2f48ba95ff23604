//! The workload the QEMU firmware runs (Rust directly, C through `c-shim`), and, with the
//! `std` feature, the host golden vectors it is checked against.
//!
//! **This file is the only place that knows what the workload is.** Its API mirrors the
//! mechanism's (`Plan` with runtime buffer sizes, `build(&plan, &mut image, &keys, &values,
//! &mut rng, &mut scratch)`, `Attn::open(&image)`, `attn.query(&q, &mut out, &mut
//! qscratch)`, f32 rows in and f32 out), so swapping the placeholder for
//! `dpxattn::mechanism` replaces the `toy` module with re-exports and [`plan`] with
//! `Plan::new(&Params { .. })`; the measurement harness does not change.
//! `docs/notes/qemu.md` lists exactly what remains to wire.
//!
//! # The placeholder: `fixed-toy`
//! Until the mechanism lands, the workload is a real but small computation with the
//! library's fixed-point primitives ([`dpxattn::fixed`]), shaped like the mechanism so the
//! measurements exercise the same kind of code:
//! - **build**: f32 rows → `Q30` (toward zero, once per row); `S = Kᵀ·V` (d × dv) with
//!   `mul_round` into `i64` accumulators in the caller's scratch; one RNG draw per word
//!   (a *toy* offset from the deterministic test RNG, **not** DP noise); `round_shr` +
//!   `sat_i32` into 32-bit little-endian image words behind a 16-byte header;
//! - **open**: header checks, then a zero-copy `&[i32]` view of the words (`bytemuck`);
//! - **query**: f32 → Q30, `u = qᵀ·S` with the same primitives, `out = u · 2⁻²²` as f32.
//!
//! Its numbers measure the harness and the primitives, **not** the mechanism.
#![cfg_attr(not(feature = "std"), no_std)]

use rand_core::{Infallible, TryCryptoRng, TryRng};

#[cfg(feature = "std")]
pub mod golden;
mod toy;

pub use dpxattn::{Error, Result};
pub use toy::{Attn, Plan, build};

/// Name of the workload, printed on every `qemu:` line so nobody mistakes the placeholder
/// for the mechanism.
pub const NAME: &str = "fixed-toy";

/// One configuration of the workload: public dimensions and the RNG seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    /// Short name used in output and in golden file names.
    pub name: &'static str,
    /// Key / query dimension.
    pub d: usize,
    /// Value dimension.
    pub dv: usize,
    /// Prompt rows.
    pub n: usize,
    /// Number of golden queries.
    pub n_queries: usize,
    /// Seed of the deterministic test RNG used by [`build`].
    pub seed: u64,
}

/// Built on the device from bundled inputs, on machines with ≥ 64 KB RAM.
pub const DEVICE: Case = Case {
    name: "device",
    d: 16,
    dv: 16,
    n: 32,
    n_queries: 4,
    seed: 0x5eed_0001,
};

/// Built on the device on the 16 KB-RAM micro:bit (image + build scratch must fit with
/// the stack; with the mechanism, d=16 needs about 32 KB of the two).
pub const DEVICE_SMALL: Case = Case {
    name: "device",
    d: 8,
    dv: 8,
    n: 32,
    n_queries: 4,
    seed: 0x5eed_0003,
};

/// Built on the host, placed in flash with `include_bytes!` and opened zero-copy.
pub const FLASH: Case = Case {
    name: "flash",
    d: 32,
    dv: 32,
    n: 64,
    n_queries: 4,
    seed: 0x5eed_0002,
};

/// What one class of machine runs: its device case and the capacities of the firmware's
/// static buffers. [`plan`]'s sizes are computed at run time, as the mechanism's are; the
/// firmware checks they fit (and a host test checks it ahead of time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// The case built on the device.
    pub device: Case,
    /// Image buffer capacity (bytes).
    pub image_cap: usize,
    /// Build scratch capacity (bytes).
    pub scratch_cap: usize,
    /// Query scratch capacity (bytes), for the device and the flash case.
    pub qscratch_cap: usize,
}

/// Machines with 16 KB RAM (micro:bit).
pub const SMALL: Profile = Profile {
    device: DEVICE_SMALL,
    image_cap: 1024,
    scratch_cap: 1024,
    qscratch_cap: 512,
};

/// Machines with ≥ 64 KB RAM (lm3s6965evb, mps2-an386).
pub const LARGE: Profile = Profile {
    device: DEVICE,
    image_cap: 2048,
    scratch_cap: 4096,
    qscratch_cap: 512,
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

/// The plan of `case` (with the mechanism: `Plan::new(&Params { d, dv, n_max, .. })`).
pub fn plan(case: &Case) -> Result<Plan> {
    Plan::new(case.d, case.dv, case.n)
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
