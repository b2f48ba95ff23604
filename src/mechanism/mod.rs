//! The private cross-attention structure: plan, build, image, query, bounds.
//!
//! ```text
//! Params ──Plan::new──▶ Plan ──build(keys, values, rng)──▶ image bytes ──Attn::open──▶ Attn
//!                         │ sizes: image_bytes, build_scratch_bytes, query_scratch_bytes
//!                         └ σ, sensitivity, kernel error, bounds           Attn::query(q) ─▶ ô
//! ```
//!
//! # Privacy guarantee
//! The image is (ε, δ)-DP (Gaussian) or ε-DP (Laplace) with respect to **replacing one
//! row** (k_i, v_i) of the rows given to the build, with n public. Every query answered
//! from the image is post-processing and costs nothing more. See [`build`] for the proof
//! outline and [`Plan::new`] for the sensitivity and σ.
//!
//! # Contribution clipping
//! With `Params::clip = C ∈ (0, 1]`, each row's payload is scaled down to norm ≤ C (both its
//! value part and its denominator part, so it stays an attention-like average with that
//! row down-weighted), and the sensitivity becomes 2C instead of ≈2. Rows of small payload
//! norm, the common case on real data, are untouched.

// Panic-freedom made visible (issue 7): no indexing or slicing that can fail, no unwrap,
// expect or panic in the library code of this module (tests are exempt). See
// docs/notes/harden.md for the remaining crate-wide lint proposal.
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

#[cfg(target_arch = "x86_64")]
mod avx2;
mod bound;
mod build;
mod dot;
mod image;
mod noise;
mod params;
mod plan;
pub mod predict;
mod query;
mod rows;
mod sensitivity;
mod tree;

pub use bound::Bound;
pub(crate) use build::state_dims;
pub use build::{Builder, build, build_begin, build_finish, build_push, build_rows};
pub use image::{MAGIC, VERSION, image_len};
pub use params::{NoiseKind, Params, Policy};
pub use plan::{HEADER_BYTES, MAX_RADIUS, MAX_SCORE_BOUND, MIN_RADIUS, Plan};
pub use predict::{Prediction, VERDICT_MARGIN, Verdict};
pub use query::{Attn, QueryInfo};
pub use rows::Rows;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod golden;

#[cfg(test)]
mod audit;
#[cfg(test)]
mod faults;
#[cfg(test)]
mod robust;
