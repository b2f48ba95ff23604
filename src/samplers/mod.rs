//! TEMPORARY SHIM (not committed)
#![allow(missing_docs)]
use crate::{Error, Result};
use rand_core::TryRng;
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rational {
    num: u64,
    den: u64,
}
impl Rational {
    pub const fn new(num: u64, den: u64) -> Result<Rational> {
        if den == 0 {
            Err(Error::InvalidParameter)
        } else {
            Ok(Rational { num, den })
        }
    }
    pub const fn integer(n: u64) -> Rational {
        Rational { num: n, den: 1 }
    }
}
pub struct DiscreteGaussian(f64);
impl DiscreteGaussian {
    pub fn new(s: Rational) -> Result<Self> {
        Ok(Self(s.num as f64 / s.den as f64))
    }
    pub fn sample<R: TryRng + ?Sized>(&self, rng: &mut R) -> Result<i64> {
        let a = rng.try_next_u64().map_err(|_| Error::Rng)?;
        let b = rng.try_next_u64().map_err(|_| Error::Rng)?;
        let u1 = ((a >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let u2 = (b >> 11) as f64 / (1u64 << 53) as f64;
        Ok(libm::round(
            self.0 * libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(core::f64::consts::TAU * u2),
        ) as i64)
    }
}
pub struct DiscreteLaplace(f64);
impl DiscreteLaplace {
    pub fn new(s: Rational) -> Result<Self> {
        Ok(Self(s.num as f64 / s.den as f64))
    }
    pub fn sample<R: TryRng + ?Sized>(&self, rng: &mut R) -> Result<i64> {
        let a = rng.try_next_u64().map_err(|_| Error::Rng)?;
        let u = ((a >> 11) as f64 + 0.5) / (1u64 << 53) as f64 - 0.5;
        Ok(
            libm::round(-self.0 * libm::copysign(1.0, u) * libm::log(1.0 - 2.0 * libm::fabs(u)))
                as i64,
        )
    }
}
