//! Exact integer noise samplers: uniform, Bernoulli, discrete Laplace and discrete
//! Gaussian, driven by the caller's RNG.
//!
//! Everything here is integer arithmetic on `u64`/`u128` — no floating point, no heap, no
//! panicking path — and every sampler is **exact**: the output distribution is the stated
//! one, not an approximation, assuming only that the RNG produces independent uniform
//! 64-bit words. Nothing is truncated or rounded; when a value cannot be represented the
//! sampler returns an error instead ([`crate::Error::SampleOverflow`], with its probability
//! documented on each sampler and below 2^−47000 at every supported scale).
//!
//! | sampler | law | algorithm | RNG words / sample (measured, σ or scale = 10⁶) |
//! |---|---|---|---|
//! | [`uniform_below`] | uniform on `[0, b)` | Lemire multiply-shift + exact rejection | 1 (`b ≤ 2^64`), 2 above |
//! | [`bernoulli_rational`] | Bernoulli(`num/den`) | `uniform_below(den) < num` | 1 or 2 |
//! | [`bernoulli_exp`] | Bernoulli(`exp(−num/den)`) | CKS20 Alg. 1 (+ integer-part loop) | ≤ e + 1.6 trials |
//! | [`DiscreteLaplace`] | `∝ exp(−\|x\|/s)` | CKS20 Alg. 2 | 4.9 |
//! | [`DiscreteGaussian`] | `∝ exp(−x²/(2σ²))` | CKS20 Alg. 3 | 9.7 |
//!
//! Reference: C. L. Canonne, G. Kamath, T. Steinke, "The Discrete Gaussian for
//! Differential Privacy", NeurIPS 2020 (arXiv:2004.00010), Algorithms 1–3 ("CKS20").
//!
//! # Randomness
//! The samplers take any `R: rand_core::TryRng + ?Sized` and use only
//! `try_next_u64` (whole 64-bit words, never bytes). A failing draw is returned as
//! [`crate::Error::Rng`] immediately: no sampler retries around a failure or returns a value
//! computed after one. Use a cryptographically secure generator (`TryCryptoRng`) for real
//! privacy; the samplers themselves do not require it.
//!
//! # Timing
//! Like every CKS20 implementation (and OpenDP's), the running time depends on the sampled
//! value, so these samplers are not constant-time (see Jin et al., IEEE S&P 2022).
//!
//! # Supported parameters
//! - [`DiscreteLaplace`]: scale `num/den ∈ [0, 2^48]`, any 64-bit `num`, `den ≥ 1`.
//! - [`DiscreteGaussian`]: `σ = num/den ∈ [0, 2^48)`, and for the reduced fraction
//!   `n·d·(⌊n/d⌋ + 1) < 2^128` (always true when `num, den < 2^63`).
//! - Scale or σ equal to 0 is accepted and always yields 0 (a point mass: no privacy).

mod bernoulli;
mod gaussian;
mod laplace;
mod rational;
mod uniform;

#[cfg(test)]
mod testutil;

pub use bernoulli::{bernoulli_exp, bernoulli_rational};
pub use gaussian::DiscreteGaussian;
pub use laplace::DiscreteLaplace;
pub use rational::Rational;
pub use uniform::uniform_below;
