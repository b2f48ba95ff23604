//! `Q30`: an `i32` with 30 fraction bits.

/// A signed fixed-point number with 30 fraction bits in an `i32` (format Q1.30).
///
/// # Scaling and overflow
/// Value = raw · 2⁻³⁰; range [−2, 2); resolution 2⁻³⁰ ≈ 9.3e-10. Used for coordinates of
/// vectors in the unit ball (|x| ≤ 1, so 1.0 = 2³⁰ is representable) and for normalised
/// feature vectors. Products of two Q30 values are formed in `i64` (Q60, |p| ≤ 2⁶²) and
/// cannot overflow.
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Q30(pub i32);

impl Q30 {
    /// Number of fraction bits.
    pub const FRAC_BITS: u32 = 30;
    /// 1.0 in Q30.
    pub const ONE: Q30 = Q30(1 << 30);
    /// 0.0.
    pub const ZERO: Q30 = Q30(0);

    /// Converts from `f64`, rounding **toward zero** (so |result| ≤ |x|: a vector whose
    /// norm is ≤ 1 in `f64` keeps a norm ≤ 1 after conversion). Values outside [−2, 2)
    /// saturate; NaN gives `None`.
    ///
    /// The result is exactly `sat_i32(trunc(x · 2³⁰))`. On 64-bit hosts (hardware f64)
    /// that is literally how it is computed: x·2³⁰ is exact (a power-of-two scaling that
    /// cannot underflow; overflow gives ±∞, which saturates like any |x·2³⁰| ≥ 2³¹), and
    /// Rust's `as i32` truncates toward zero and saturates. Elsewhere it is computed from
    /// the bits of `x` with integer operations only, which on cores without a
    /// double-precision FPU replaces a soft-float multiply and conversion. Both are tested
    /// equal to the definition.
    #[inline]
    pub fn from_f64_toward_zero(x: f64) -> Option<Q30> {
        if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
            if x.is_nan() {
                return None;
            }
            return Some(Q30((x * (1u64 << 30) as f64) as i32));
        }
        Self::from_f64_bits_toward_zero(x)
    }

    /// [`Q30::from_f64_toward_zero`] from the bits of `x`, integer operations only.
    fn from_f64_bits_toward_zero(x: f64) -> Option<Q30> {
        let bits = x.to_bits();
        let exp = ((bits >> 52) & 0x7ff) as i32;
        let frac = bits & ((1u64 << 52) - 1);
        if exp == 0x7ff && frac != 0 {
            return None; // NaN
        }
        // |x| = m · 2^(e − 1075) with m < 2⁵³, so |x| · 2³⁰ = m · 2^(e − 1045).
        let (m, e) = if exp == 0 {
            (frac, 1 - 1045)
        } else {
            (frac | (1u64 << 52), exp - 1045)
        };
        // Magnitude, truncated toward zero; anything ≥ 2³¹ saturates below (infinity has
        // e = 1002 and lands there too).
        let mag = if e >= 0 {
            if e > 10 { u64::MAX } else { m << e }
        } else if e <= -64 {
            0
        } else {
            m >> (-e) as u32
        };
        let neg = bits >> 63 != 0;
        let raw = if neg {
            if mag >= 1u64 << 31 {
                i32::MIN
            } else {
                -(mag as i32)
            }
        } else if mag > i32::MAX as u64 {
            i32::MAX
        } else {
            mag as i32
        };
        Some(Q30(raw))
    }

    /// Converts to `f64` exactly (every Q30 value is an `f64`).
    pub fn to_f64(self) -> f64 {
        f64::from(self.0) / (1u64 << 30) as f64
    }

    /// The raw `i32`.
    pub const fn raw(self) -> i32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition: `sat_i32(trunc(x · 2³⁰))` with f64 arithmetic.
    fn reference(x: f64) -> Option<Q30> {
        if x.is_nan() {
            return None;
        }
        Some(Q30(crate::fixed::sat_i32((x * (1u64 << 30) as f64) as i64)))
    }

    #[test]
    fn bit_conversion_equals_the_f64_definition() {
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            s
        };
        let mut xs: Vec<f64> = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            2.0,
            -2.0,
            1.999_999_999,
            -1.999_999_999_9,
            f64::MIN_POSITIVE,
            -f64::MIN_POSITIVE,
            5e-324,
            f64::MAX,
            f64::MIN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            (1u64 << 31) as f64 / (1u64 << 30) as f64,
            -((1u64 << 31) as f64) / (1u64 << 30) as f64,
            ((1u64 << 31) - 1) as f64 / (1u64 << 30) as f64,
        ];
        for _ in 0..200_000 {
            let b = next();
            xs.push(f64::from_bits(b)); // any bit pattern
            // values in the interesting range [−4, 4] with a random exponent shift
            let v = ((b >> 11) as f64 / (1u64 << 53) as f64 * 8.0 - 4.0)
                * libm::ldexp(1.0, -((next() % 80) as i32));
            xs.push(v);
        }
        for x in xs {
            let want = reference(x);
            assert_eq!(
                Q30::from_f64_toward_zero(x),
                want,
                "{x:e} ({:016x})",
                x.to_bits()
            );
            // The integer form (used on targets without hardware f64) is checked here too.
            assert_eq!(Q30::from_f64_bits_toward_zero(x), want, "bits {x:e}");
        }
    }

    #[test]
    fn conversion_rounds_toward_zero() {
        let tiny = 1.0 / (1u64 << 31) as f64;
        assert_eq!(Q30::from_f64_toward_zero(0.5 + tiny), Some(Q30(1 << 29)));
        assert_eq!(
            Q30::from_f64_toward_zero(-0.5 - tiny),
            Some(Q30(-(1 << 29)))
        );
        assert_eq!(Q30::from_f64_toward_zero(1.0), Some(Q30::ONE));
        assert_eq!(Q30::from_f64_toward_zero(5.0), Some(Q30(i32::MAX)));
        assert_eq!(Q30::from_f64_toward_zero(f64::NAN), None);
        assert_eq!(
            Q30::from_f64_toward_zero(f64::INFINITY),
            Some(Q30(i32::MAX))
        );
        assert_eq!(
            Q30::from_f64_toward_zero(f64::NEG_INFINITY),
            Some(Q30(i32::MIN))
        );
        assert_eq!(Q30::from_f64_toward_zero(-2.0), Some(Q30(i32::MIN)));
        assert_eq!(Q30::from_f64_toward_zero(-0.0), Some(Q30(0)));
        assert_eq!(Q30(1 << 29).to_f64(), 0.5);
    }
}
