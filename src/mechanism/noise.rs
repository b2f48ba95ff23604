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
    /// The sampler of `plan`. Not inlined: its construction temporaries then stay out of
    /// [`Noise::with`]'s frame, which is on the deepest stack path of a build.
    #[inline(never)]
    pub(crate) fn for_plan(plan: &Plan) -> Result<Noise> {
        #[cfg(test)]
        if plan.noise_units == 0 {
            return Ok(Noise::Off);
        }
        if plan.noise_units == 0 {
            return Err(Error::CorruptImage);
        }
        let scale = Rational::integer(plan.noise_units);
        match plan.params.mechanism {
            NoiseKind::Gaussian => DiscreteGaussian::new(scale).map(Noise::Gaussian),
            NoiseKind::Laplace => DiscreteLaplace::new(scale).map(Noise::Laplace),
        }
    }

    /// Builds the sampler of `plan` and runs `f` with it. Not inlined, on purpose: the
    /// sampler (≈ 260 bytes for the discrete Gaussian) then lives in this frame, on the
    /// noising call path only, instead of in the frame of a build step, where it would
    /// also sit under the step's header parsing (the deepest stack path of a build).
    ///
    /// # Errors
    /// As [`Noise::for_plan`] (then `f` is not called).
    #[inline(never)]
    pub(crate) fn with<T>(plan: &Plan, f: impl FnOnce(&Noise) -> T) -> Result<T> {
        // Borrowed in place (`ref`), not moved out of the `Result`: one copy on the stack.
        match Noise::for_plan(plan) {
            Ok(ref noise) => Ok(f(noise)),
            Err(e) => Err(e),
        }
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
