//! Non-negative rational numbers `num/den` with 64-bit parts: the exact scales of the
//! samplers.

use crate::{Error, Result};

/// A non-negative rational number `num/den` with `den > 0`, stored exactly as given (not
/// reduced). Scales and σ are passed to the samplers in this form so that no rounding ever
/// happens between the privacy calibration and the noise.
///
/// Equality (`==`) compares the representation: `1/2 != 2/4`. The samplers reduce to
/// lowest terms internally, so `1/2` and `2/4` give the same distribution (and the same
/// samples from the same RNG stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Rational {
    num: u64,
    den: u64,
}

impl Rational {
    /// `num/den`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `den == 0`.
    pub const fn new(num: u64, den: u64) -> Result<Rational> {
        if den == 0 {
            Err(Error::InvalidParameter)
        } else {
            Ok(Rational { num, den })
        }
    }

    /// The integer `n` (that is, `n/1`).
    pub const fn integer(n: u64) -> Rational {
        Rational { num: n, den: 1 }
    }

    /// The numerator.
    pub const fn num(&self) -> u64 {
        self.num
    }

    /// The denominator (always ≥ 1).
    pub const fn den(&self) -> u64 {
        self.den
    }

    /// `true` if the value is 0.
    pub const fn is_zero(&self) -> bool {
        self.num == 0
    }

    /// The same value in lowest terms (`0/d` becomes `0/1`).
    pub const fn reduced(&self) -> Rational {
        let g = gcd(self.num, self.den);
        // g ≥ 1 because den ≥ 1 (this branch also lets the compiler drop the
        // divide-by-zero check); g divides both parts exactly.
        if g == 0 {
            return *self;
        }
        Rational {
            num: self.num / g,
            den: self.den / g,
        }
    }

    /// `self ≤ bound`, compared exactly as `num ≤ den·bound` in `u128` (both factors are
    /// < 2^64, so the product is < 2^128 and cannot overflow).
    pub(crate) const fn le_u64(&self, bound: u64) -> bool {
        // den < 2^64 and bound < 2^64, so the product is < 2^128.
        (self.num as u128) <= (self.den as u128) * (bound as u128)
    }

    /// `self < bound`, exactly (same width argument as [`Rational::le_u64`]).
    pub(crate) const fn lt_u64(&self, bound: u64) -> bool {
        (self.num as u128) < (self.den as u128) * (bound as u128)
    }
}

/// Greatest common divisor (binary algorithm: no division, so no divide-by-zero path).
/// `gcd(0, 0) = 0`; otherwise the result is ≥ 1.
pub(crate) const fn gcd(a: u64, b: u64) -> u64 {
    if a == 0 {
        return b;
    }
    if b == 0 {
        return a;
    }
    let shift = (a | b).trailing_zeros();
    let mut a = a >> a.trailing_zeros();
    let mut b = b;
    loop {
        b >>= b.trailing_zeros();
        if a > b {
            let t = a;
            a = b;
            b = t;
        }
        // b ≥ a here, so no underflow.
        b -= a;
        if b == 0 {
            return a << shift;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_rejects_zero_denominator() {
        assert_eq!(Rational::new(1, 0), Err(Error::InvalidParameter));
        assert_eq!(Rational::new(0, 0), Err(Error::InvalidParameter));
        let r = Rational::new(3, 7).unwrap();
        assert_eq!((r.num(), r.den()), (3, 7));
        assert_eq!(Rational::integer(5), Rational::new(5, 1).unwrap());
        assert!(Rational::integer(0).is_zero());
    }

    #[test]
    fn reduced_and_gcd() {
        assert_eq!(gcd(0, 0), 0);
        assert_eq!(gcd(0, 9), 9);
        assert_eq!(gcd(12, 18), 6);
        assert_eq!(gcd(1 << 40, 3 << 20), 1 << 20);
        assert_eq!(gcd(u64::MAX, u64::MAX - 1), 1);
        assert_eq!(gcd(1_000_003 * 65_537, 1_000_003 * 7), 1_000_003);
        let r = Rational::new(4, 8).unwrap().reduced();
        assert_eq!((r.num(), r.den()), (1, 2));
        let z = Rational::new(0, 8).unwrap().reduced();
        assert_eq!((z.num(), z.den()), (0, 1));
    }

    #[test]
    fn comparisons_are_exact() {
        let big = Rational::new(u64::MAX, 1).unwrap();
        assert!(!big.le_u64(1 << 48));
        let r = Rational::new((1 << 48) * 3, 3).unwrap();
        assert!(r.le_u64(1 << 48));
        assert!(!r.lt_u64(1 << 48));
        let r = Rational::new((1 << 48) * 3 + 1, 3).unwrap();
        assert!(!r.le_u64(1 << 48));
    }
}
