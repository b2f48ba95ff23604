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
    pub fn from_f64_toward_zero(x: f64) -> Option<Q30> {
        if x.is_nan() {
            return None;
        }
        let scaled = x * (1u64 << 30) as f64;
        // `as` from f64 to i64 truncates toward zero and saturates (Rust semantics).
        let t = scaled as i64;
        Some(Q30(crate::fixed::sat_i32(t)))
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
        assert_eq!(Q30(1 << 29).to_f64(), 0.5);
    }
}
