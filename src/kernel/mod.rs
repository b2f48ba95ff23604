//! Feature maps that turn `exp(τ<q,k>)` into an inner product `<φ(q), φ(k)>`.
//!
//! The mechanism only needs a [`Kernel`]: a map from a point of the unit ball to a
//! normalised feature vector ψ with ‖ψ‖ ≤ 1 **exactly** (checked in integer arithmetic), so
//! that the payload of one token has a norm bound that does not depend on rounding. Other
//! feature maps (sketched polynomial kernels, random features) can be added without
//! touching the mechanism.

mod poly;
#[cfg(target_arch = "x86_64")]
mod poly_avx2;
pub mod taylor;

pub use poly::{MAX_DEGREE, PolyKernel};

use crate::Result;

/// A feature map with an exact norm guarantee.
pub trait Kernel {
    /// Input dimension d.
    fn dim(&self) -> usize;
    /// Number of features r.
    fn features(&self) -> usize;
    /// Writes ψ(x) (raw Q30, `out.len() == features()`) for `x` in the closed unit ball
    /// (raw Q30 — see [`crate::fixed::Q30`] — with `x.len() == dim()`). Raw `i32` slices
    /// are used because both live in the caller's scratch buffers.
    ///
    /// # Guarantee
    /// Σ ψ_α² ≤ 2⁶⁰ (‖ψ‖ ≤ 1), checked exactly in integers; entries other than the constant
    /// feature are shrunk (toward zero) if rounding pushed the norm above 1. The constant
    /// feature, if any, is always exactly [`Kernel::constant_feature`].
    ///
    /// # Errors
    /// [`crate::Error::WrongLength`] if a slice has the wrong length.
    fn map(&self, x: &[i32], out: &mut [i32]) -> Result<()>;
    /// Index and exact value of a feature that is the same for every input, if any.
    fn constant_feature(&self) -> Option<(usize, i32)>;
}

/// Shrinks the entries of `v` toward zero until Σ v² + `fixed_sq` ≤ `limit`.
///
/// Each round multiplies every entry by (1 − 2^-k), truncating toward zero, with k falling
/// from 24; magnitudes strictly decrease, and after at most 30 rounds every entry is 0, so
/// the loop ends with the bound met whenever `fixed_sq ≤ limit`. In practice rounding
/// overshoots by a few units in 2³⁰ and one round suffices.
pub(crate) fn enforce_norm(v: &mut [i32], fixed_sq: u128, limit: u128) {
    let mut shrink_bits: u32 = 24;
    for _ in 0..64 {
        let sum = norm_sq(v).saturating_add(fixed_sq);
        if sum <= limit {
            return;
        }
        let keep = (1i64 << 30) - (1i64 << (30 - shrink_bits));
        for x in v.iter_mut() {
            *x = crate::fixed::sat_i32(crate::fixed::trunc_shr(i64::from(*x) * keep, 30));
        }
        shrink_bits = shrink_bits.saturating_sub(1).max(1);
    }
    // Unreachable in practice (see above); as a last resort zero everything, which meets
    // the bound whenever it can be met at all.
    v.iter_mut().for_each(|x| *x = 0);
}

/// x² as u128.
#[inline]
pub(crate) fn sq(x: i32) -> u128 {
    u128::from(sq64(x))
}

/// x² as u64 (≤ 2⁶², exact): a 32×32→64 multiply of |x| (one `UMULL` on a Cortex-M3/M4;
/// see [`crate::fixed::mul_u32_wide`]), where a u128 square would call a 128-bit multiply.
#[inline(always)]
fn sq64(x: i32) -> u64 {
    let a = x.unsigned_abs();
    crate::fixed::mul_u32_wide(a, a)
}

/// Σ x² as u128, exact (each term is < 2⁶⁴, and fewer than 2⁶⁴ terms cannot overflow 128
/// bits, so the wrapping adds never wrap). Terms are squared in pairs (a² + b² ≤ 2⁶³ fits
/// u64: one `UMULL` + one `UMLAL` on a Cortex-M3/M4) before the 128-bit add.
pub(crate) fn norm_sq(v: &[i32]) -> u128 {
    let mut acc = 0u128;
    let pairs = v.chunks_exact(2);
    let odd = pairs.remainder();
    for p in pairs {
        // a², b² ≤ 2⁶², so the pair sum ≤ 2⁶³ cannot wrap.
        let pair = match p {
            [a, b] => sq64(*a).wrapping_add(sq64(*b)),
            _ => 0, // chunks_exact(2) yields pairs only
        };
        acc = acc.wrapping_add(u128::from(pair));
    }
    for &x in odd {
        acc = acc.wrapping_add(u128::from(sq64(x)));
    }
    acc
}
