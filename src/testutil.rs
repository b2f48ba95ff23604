//! Test-only RNGs: a seeded generator and one that fails on the k-th draw.

use core::convert::Infallible;
use rand_core::{TryCryptoRng, TryRng};

/// SplitMix64: tiny, seeded, good enough for tests (declared "crypto" only so that the
/// mechanism's `TryCryptoRng` bound accepts it in tests).
pub struct TestRng(pub u64);

impl TestRng {
    fn step(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl TryRng for TestRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.step() >> 32) as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.step())
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let v = self.step().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}
impl TryCryptoRng for TestRng {}

/// The error of [`FailingRng`].
#[derive(Debug)]
pub struct Failed;
impl core::fmt::Display for Failed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("injected RNG failure")
    }
}
impl core::error::Error for Failed {}

/// Fails on draw number `fail_at` (0-based) and every draw after it.
pub struct FailingRng {
    pub inner: TestRng,
    pub fail_at: u64,
    pub draws: u64,
}

impl FailingRng {
    pub fn new(seed: u64, fail_at: u64) -> Self {
        FailingRng {
            inner: TestRng(seed),
            fail_at,
            draws: 0,
        }
    }
    fn tick(&mut self) -> Result<(), Failed> {
        let k = self.draws;
        self.draws += 1;
        if k >= self.fail_at {
            Err(Failed)
        } else {
            Ok(())
        }
    }
}

impl TryRng for FailingRng {
    type Error = Failed;
    fn try_next_u32(&mut self) -> Result<u32, Failed> {
        self.tick()?;
        Ok(self.inner.try_next_u32().unwrap_or(0))
    }
    fn try_next_u64(&mut self) -> Result<u64, Failed> {
        self.tick()?;
        Ok(self.inner.try_next_u64().unwrap_or(0))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Failed> {
        self.tick()?;
        let _ = self.inner.try_fill_bytes(dst);
        Ok(())
    }
}
impl TryCryptoRng for FailingRng {}
