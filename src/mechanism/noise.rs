//! The per-entry noise of a plan, as an exact integer sampler.

use super::params::NoiseKind;
use super::plan::Plan;
use crate::samplers::{DiscreteGaussian, DiscreteLaplace, Rational};
use crate::{Error, Result};
use rand_core::TryRng;

/// The sampler a plan calls for, in accumulator units.
pub(crate) enum Noise {
    Gaussian(DiscreteGaussian),
    Laplace(DiscreteLaplace),
    /// No noise at all: reachable only from the crate's own tests (σ forced to 0 through
    /// `Plan::with_noise_units(0)`, which is `#[cfg(test)]`).
    #[cfg(test)]
    Off,
}

impl Noise {
    pub(crate) fn for_plan(plan: &Plan) -> Result<Noise> {
        #[cfg(test)]
        if plan.noise_units == 0 {
            return Ok(Noise::Off);
        }
        if plan.noise_units == 0 {
            return Err(Error::CorruptImage);
        }
        let scale = Rational::integer(plan.noise_units);
        Ok(match plan.params.mechanism {
            NoiseKind::Gaussian => Noise::Gaussian(DiscreteGaussian::new(scale)?),
            NoiseKind::Laplace => Noise::Laplace(DiscreteLaplace::new(scale)?),
        })
    }

    #[inline]
    pub(crate) fn sample<R: TryRng + ?Sized>(&self, rng: &mut R) -> Result<i64> {
        match self {
            Noise::Gaussian(g) => g.sample(rng),
            Noise::Laplace(l) => l.sample(rng),
            #[cfg(test)]
            Noise::Off => Ok(0),
        }
    }
}
