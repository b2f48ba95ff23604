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

    /// Checks row `row` (of width `dim`): finite and, under `Reject`, inside `radius`.
    pub(crate) fn check(&self, row: usize, dim: usize, radius: f64, policy: Policy) -> Result<()> {
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
        let mut m = 0.0f64;
        for j in 0..dim {
            let x = self.get(base + j);
            if !x.is_finite() {
                return (f64::NAN, false);
            }
            m = m.max(libm::fabs(x));
        }
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
        let (norm, finite) = self.norm(row, dim, radius);
        if !finite {
            return Err(Error::NonFiniteInput { row });
        }
        // Points outside the ball are scaled to just inside it; `enforce_norm` below makes
        // the bound exact whatever the f64 rounding did.
        let f = if norm > 1.0 {
            scale / (radius * norm) * (1.0 - 1e-12)
        } else {
            scale / radius
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
