//! The one place where the tree family draws noise: a thin adapter over `crate::samplers`.
//!
//! Node noise is exact integer noise on the grid: the discrete Laplace or discrete Gaussian
//! of CKS20 with the rational scale of the tree's [`Calibration`](super::Calibration).
//! There is no floating point on this path.
//!
//! A zero scale means "no noise". It exists only in `cfg(test)` builds (to check exact
//! answers); in every other build a zero scale is a corrupt plan or image and is refused,
//! so no public path can release an un-noised node.

use super::Noise;
use crate::samplers::{DiscreteGaussian, DiscreteLaplace, Rational};
use crate::{Error, Result};
use rand_core::TryRng;

/// A ready sampler for one tree's node noise.
pub(crate) enum NodeNoise {
    Laplace(DiscreteLaplace),
    Gaussian(DiscreteGaussian),
    /// Test builds only: exact answers.
    #[cfg(test)]
    Off,
}

impl NodeNoise {
    /// The sampler for `kind` with scale `num/den` (integer units).
    pub(crate) fn new(kind: Noise, num: u64, den: u64) -> Result<Self> {
        if num == 0 {
            #[cfg(test)]
            return Ok(NodeNoise::Off);
            #[cfg(not(test))]
            return Err(Error::CorruptImage);
        }
        let scale = Rational::new(num, den)?;
        Ok(match kind {
            Noise::Laplace => NodeNoise::Laplace(DiscreteLaplace::new(scale)?),
            Noise::Gaussian => NodeNoise::Gaussian(DiscreteGaussian::new(scale)?),
        })
    }

    /// One noise sample; RNG failures come back as [`Error::Rng`].
    pub(crate) fn sample<R: TryRng + ?Sized>(&self, rng: &mut R) -> Result<i64> {
        match self {
            NodeNoise::Laplace(s) => s.sample(rng),
            NodeNoise::Gaussian(s) => s.sample(rng),
            #[cfg(test)]
            NodeNoise::Off => Ok(0),
        }
    }
}

/// Overwrite a buffer with zeros (used on every error after private data touched it).
///
/// The writes go to the caller's memory, which stays observable after the call, so the
/// compiler cannot drop them; the fence keeps them ordered before the error returns.
pub(crate) fn zeroise(buf: &mut [u8]) {
    buf.fill(0);
    core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
}

/// `Error` for a noisy node that would leave `i64`.
pub(crate) const OVERFLOW: Error = Error::SampleOverflow;
