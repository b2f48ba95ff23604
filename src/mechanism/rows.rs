//! Input rows: f32 or quantised i8/i16, checked, clipped (or rejected) and normalised into
//! the unit ball in Q30.

use super::params::Policy;
use crate::fixed::Q30;
use crate::kernel::enforce_norm;
use crate::{Error, Result};

/// Row-major input matrices the builder and queries accept.
#[derive(Debug, Clone, Copy)]
pub enum Rows<'a> {
    /// Plain f32 values.
    F32(&'a [f32]),
    /// i8 values; each is multiplied by the scale (e.g. a per-tensor quantisation scale).
    I8(&'a [i8], f32),
    /// i16 values times the scale.
    I16(&'a [i16], f32),
}

impl Rows<'_> {
    /// Number of scalars.
    pub fn len(&self) -> usize {
        match self {
            Rows::F32(v) => v.len(),
            Rows::I8(v, _) => v.len(),
            Rows::I16(v, _) => v.len(),
        }
    }

    /// Whether there are no scalars.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    fn get(&self, i: usize) -> f64 {
        match self {
            Rows::F32(v) => v.get(i).map_or(f64::NAN, |&x| f64::from(x)),
            Rows::I8(v, s) => v.get(i).map_or(f64::NAN, |&x| f64::from(x) * f64::from(*s)),
            Rows::I16(v, s) => v.get(i).map_or(f64::NAN, |&x| f64::from(x) * f64::from(*s)),
        }
    }

    /// Whether every entry of row `row` (of width `dim`) is finite (missing entries are not).
    fn finite(&self, row: usize, dim: usize) -> bool {
        let base = row.saturating_mul(dim);
        match self {
            Rows::F32(v) => v
                .get(base..base.saturating_add(dim))
                .is_some_and(|r| r.iter().all(|x| x.to_bits() & 0x7fff_ffff < 0x7f80_0000)),
            _ => (0..dim).all(|j| self.get(base + j).is_finite()),
        }
    }

    /// Whether ‖row‖ ≤ `radius` for sure, in the sense that [`Rows::norm`] would return a
    /// value ≤ 1 (and every entry is finite), judged from the sum of squares in f32 (one
    /// hardware multiply-add per entry on a Cortex-M4F; `norm` needs an f64 division,
    /// multiply and add per entry, soft float there). Only f32 rows are judged, and only
    /// where f32 is hardware (`fixed::F32_IN_HARDWARE`); `false` means "compute the norm".
    ///
    /// Proof. The f32 sum of squares S (dim terms, each x² rounded, then added) satisfies
    /// ‖x‖² ≤ S·(1 + (dim+4)·2⁻²²) + 10⁻³⁰ for dim ≤ 2¹⁶ (relative error 2⁻²⁴ per
    /// operation, ≤ 2⁻¹²⁵ absolute per underflow or flush to zero; overflow or NaN make S
    /// non-finite and the test false). The test, evaluated in f64 (error < 2⁻⁵⁰), thus
    /// gives ‖x‖ ≤ radius·(1 − 2⁻³¹·⁵). `norm` computes m·√(Σ(x_j/m)²)/radius with
    /// m = max|x_j|, whose rounding errors stay below (dim+8)·2⁻⁵³ ≤ 2⁻³⁶ relative, so it
    /// returns < 1.
    fn surely_inside(&self, row: usize, dim: usize, radius: f64) -> bool {
        let Rows::F32(v) = self else {
            return false;
        };
        if !crate::fixed::F32_IN_HARDWARE {
            return false;
        }
        let base = row.saturating_mul(dim);
        let Some(r) = v.get(base..base.saturating_add(dim)) else {
            return false;
        };
        if dim > 1 << 16 {
            return false;
        }
        // Partial sums only grow, so once one exceeds radius² (rounded up: the f32 square
        // times 1 + 2⁻²⁰ is above the real one) the test below must fail: stop early,
        // which keeps the cost low for rows far outside the ball (they need `norm`).
        let stop = (radius * radius) as f32 * (1.0 + 1.0 / 1_048_576.0);
        let mut s = 0.0f32;
        for &x in r {
            s += x * x;
            if s > stop {
                return false;
            }
        }
        // (Checked on its own: an infinite S must fail even if radius² overflows too.)
        if !s.is_finite() {
            return false;
        }
        let margin = 1.0 + (dim as f64 + 4.0) * (1.0 / 4_194_304.0); // 2⁻²²
        f64::from(s) * margin + 1e-30 <= radius * radius * (1.0 - 1.0 / 1_073_741_824.0) // 2⁻³⁰
    }

    /// Checks row `row` (of width `dim`): finite and, under `Reject`, inside `radius`.
    pub(crate) fn check(&self, row: usize, dim: usize, radius: f64, policy: Policy) -> Result<()> {
        // Under `Clip` only finiteness matters, and a row surely inside passes either way:
        // no norm needed.
        if policy == Policy::Clip || self.surely_inside(row, dim, radius) {
            return if self.finite(row, dim) {
                Ok(())
            } else {
                Err(Error::NonFiniteInput { row })
            };
        }
        let (norm, finite) = self.norm(row, dim, radius);
        if !finite {
            return Err(Error::NonFiniteInput { row });
        }
        // A tiny tolerance so that rows normalised to exactly `radius` in f32 are not
        // rejected for their last-bit rounding; they are still clipped onto the ball.
        if policy == Policy::Reject && norm > 1.0 + 1e-6 {
            return Err(Error::OutOfBall { row });
        }
        Ok(())
    }

    /// ‖row/radius‖₂ in f64 (scaled to avoid overflow) and whether every entry is finite.
    fn norm(&self, row: usize, dim: usize, radius: f64) -> (f64, bool) {
        let base = row.saturating_mul(dim);
        // The largest magnitude m, and finiteness. For f32 rows both come from the bits
        // (exactly the f64 answer: widening is exact and monotonic), so a core without an
        // FPU does no floating-point call here.
        let m = match self {
            Rows::F32(v) => {
                let Some(r) = v.get(base..base.saturating_add(dim)) else {
                    return (f64::NAN, false);
                };
                let mut max_bits = 0u32;
                for x in r {
                    // |x| as bits: ordered like the magnitudes for every non-NaN value.
                    let a = x.to_bits() & 0x7fff_ffff;
                    if a >= 0x7f80_0000 {
                        return (f64::NAN, false); // ±∞ or NaN
                    }
                    if a > max_bits {
                        max_bits = a;
                    }
                }
                f64::from(f32::from_bits(max_bits))
            }
            _ => {
                let mut m = 0.0f64;
                for j in 0..dim {
                    let x = self.get(base + j);
                    if !x.is_finite() {
                        return (f64::NAN, false);
                    }
                    let a = libm::fabs(x);
                    if a > m {
                        m = a;
                    }
                }
                m
            }
        };
        if m == 0.0 {
            return (0.0, true);
        }
        let mut s = 0.0f64;
        for j in 0..dim {
            let y = self.get(base + j) / m;
            s += y * y;
        }
        (m * libm::sqrt(s) / radius, true)
    }

    /// Writes row `row` as a raw Q30 vector with Σx² + `fixed_sq` ≤ 2⁶⁰ **exactly**
    /// (`fixed_sq` is the square of an extra constant coordinate stored elsewhere), after
    /// scaling by `scale / radius` and clipping onto the ball. Under `Reject` the caller
    /// has already refused rows outside the ball with [`Rows::check`].
    pub(crate) fn normalise(
        &self,
        row: usize,
        radius: f64,
        scale: f64,
        fixed_sq: u128,
        out: &mut [i32],
    ) -> Result<()> {
        let dim = out.len();
        // Points outside the ball are scaled to just inside it; `enforce_norm` below makes
        // the bound exact whatever the f64 rounding did. A row surely inside (finite, and
        // `norm` ≤ 1) skips the f64 norm: the factor is the same.
        let f = if self.surely_inside(row, dim, radius) {
            scale / radius
        } else {
            let (norm, finite) = self.norm(row, dim, radius);
            if !finite {
                return Err(Error::NonFiniteInput { row });
            }
            if norm > 1.0 {
                scale / (radius * norm) * (1.0 - 1e-12)
            } else {
                scale / radius
            }
        };
        let base = row.saturating_mul(dim);
        for (j, o) in out.iter_mut().enumerate() {
            *o = Q30::from_f64_toward_zero(self.get(base + j) * f).map_or(0, Q30::raw);
        }
        enforce_norm(out, fixed_sq, 1u128 << 60);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::norm_sq;

    fn f(x: i32) -> f64 {
        Q30(x).to_f64()
    }

    #[test]
    fn clips_onto_ball_exactly() {
        let v = [3.0f32, 4.0, 0.0, 1e-3];
        let rows = Rows::F32(&v);
        let mut out = [0i32; 2];
        rows.normalise(0, 1.0, 1.0, 0, &mut out).unwrap();
        assert!(norm_sq(&out) <= 1u128 << 60);
        assert!((f(out[0]) - 0.6).abs() < 1e-9 && (f(out[1]) - 0.8).abs() < 1e-9);
        rows.normalise(1, 1.0, 1.0, 0, &mut out).unwrap();
        assert_eq!(out[0], 0);
        assert!((f(out[1]) - 1e-3).abs() < 2e-9);
    }

    #[test]
    fn rejects_nan_and_out_of_ball() {
        let v = [f32::NAN, 0.0, 2.0, 0.0, 0.5, 0.5];
        let rows = Rows::F32(&v);
        assert_eq!(
            rows.check(0, 2, 1.0, Policy::Clip),
            Err(Error::NonFiniteInput { row: 0 })
        );
        assert_eq!(
            rows.check(1, 2, 1.0, Policy::Reject),
            Err(Error::OutOfBall { row: 1 })
        );
        assert_eq!(rows.check(1, 2, 1.0, Policy::Clip), Ok(()));
        assert_eq!(rows.check(2, 2, 1.0, Policy::Reject), Ok(()));
        let inf = [f32::INFINITY, 0.0];
        assert_eq!(
            Rows::F32(&inf).check(0, 2, 1.0, Policy::Clip),
            Err(Error::NonFiniteInput { row: 0 })
        );
    }

    #[test]
    fn quantised_rows_use_their_scale() {
        let v = [10i8, -20];
        let rows = Rows::I8(&v, 0.01);
        let mut out = [0i32; 2];
        rows.normalise(0, 1.0, 1.0, 0, &mut out).unwrap();
        assert!((f(out[0]) - 0.1).abs() < 1e-6 && (f(out[1]) + 0.2).abs() < 1e-6);
        let w = [i16::MAX, 0];
        let rows = Rows::I16(&w, 1.0);
        rows.normalise(0, 1.0, 1.0, 0, &mut out).unwrap();
        assert!((f(out[0]) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn fast_inside_test_agrees_with_the_f64_norm() {
        let mut seed = 5u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            seed
        };
        let mut fired = 0;
        for trial in 0..20_000 {
            let dim = 1 + (next() % 64) as usize;
            let scale = f32::from_bits(0x2000_0000 + (next() >> 32) as u32 % 0x3f00_0000);
            let v: Vec<f32> = (0..dim)
                .map(|_| ((next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * scale)
                .collect();
            let rows = Rows::F32(&v);
            let (n, finite) = rows.norm(0, dim, 1.0);
            assert!(finite);
            // Radii around the norm: at it, a few ulps off, and farther off.
            let r = match trial % 4 {
                0 => n,
                1 => f64::from_bits(n.to_bits() + next() % 8),
                2 => n * (1.0 + (next() % 1000) as f64 * 1e-10),
                _ => n * (0.5 + (next() % 1000) as f64 / 400.0),
            };
            if !(r > 0.0 && r.is_finite()) {
                continue;
            }
            if rows.surely_inside(0, dim, r) {
                fired += 1;
                let (nr, _) = rows.norm(0, dim, r);
                assert!(nr <= 1.0, "trial {trial}: norm {nr} for radius {r:e}");
            }
        }
        assert!(fired > 2000, "{fired}");
        // Non-finite and overflowing rows are never "surely inside".
        let bad = [f32::NAN, 0.0, f32::INFINITY, 0.0, 3e38, 3e38];
        for row in 0..3 {
            assert!(!Rows::F32(&bad).surely_inside(row, 2, 1e300));
        }
    }

    #[test]
    fn huge_values_do_not_overflow() {
        let v = [f32::MAX, f32::MAX];
        let rows = Rows::F32(&v);
        let mut out = [0i32; 2];
        rows.check(0, 2, 1.0, Policy::Clip).unwrap();
        rows.normalise(0, 1.0, 1.0, 0, &mut out).unwrap();
        assert!(norm_sq(&out) <= 1u128 << 60);
        assert!(f(out[0]) > 0.7);
    }
}
