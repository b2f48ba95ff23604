//! The paper's DPTree family: differentially private range sums and weighted ℓ1-distance
//! queries, in fixed point, in the caller's buffers.
//!
//! | structure | answers | memory (bytes) | query |
//! |---|---|---|---|
//! | [`DPTree`] | `Σ_{a ≤ i < b} v_i` over a private array `v ∈ [−Δ, Δ]^n` | `128 + 32 + 8n` (+ `32 + 8L` streaming state) | O(log n) |
//! | [`DPTreeDistance`] | `Σ_i w_i·\|y − x_i\|`, private `x_i ∈ [0, R]`, `w_i ∈ [−R_w, R_w]` | `208 + 16G` | O(log G) |
//! | [`DPTreeHighDim`] | `Σ_i w_i·‖y − x_i‖₁`, `x_i ∈ [0, R]^d` | `144 + 64d + 16dG` | O(d log G) |
//! | [`DPTreeSoftmax`] | `Σ_{i in blocks [a,b)} w_i·exp(τ<x_i, y>)`, `‖x_i‖ ≤ R_x` | `272 + 8Gr` (+ scratch `4(r + d)`) | O(r log G) |
//!
//! (`L = ⌊log2 n⌋ + 1`, `G` = grid cells per dimension or blocks, `r` kernel features.)
//! Plans (`*Plan::new`) are pure and give the exact byte counts; a buffer one byte short is refused with
//! [`Error::BufferTooSmall`] before anything is written.
//!
//! # Mechanism
//! Each structure stores one or more arrays of integer leaf sums on a public fixed-point
//! grid (see [`Calibration`]) in the Fenwick layout of the binary-tree mechanism (each node
//! is the sum of a dyadic block of leaves, see `fenwick.rs`), and every node is noised
//! **once**, with exact integer noise: the discrete Laplace (pure ε-DP) or the discrete
//! Gaussian ((ε, δ)-DP) of Canonne, Kamath and Steinke (2020). Every answer is
//! post-processing of the noised nodes, so any number of queries costs no further privacy.
//!
//! # Privacy unit
//! Replace-one: neighbouring inputs differ in one value (range tree) or one point with its
//! weight (distance structures). `n`, the number of values/points, is public. Sensitivities
//! count the rounding of inputs to the grid (see [`Calibration`]).
//!
//! # Streaming
//! [`DPTreeWriter`] appends values one by one; node `i` covers leaves `(i − lowbit(i), i]`,
//! so it is complete — noised and frozen — the moment leaf `i` arrives, and every range
//! inside the completed prefix can be answered at any time (continual release, Chan, Shi
//! and Song 2011; Dwork, Naor, Pitassi and Rothblum 2010). The exact partial sums the
//! writer needs live in a separate, private *state* buffer, never in the image, so the
//! image may be published while the stream runs.
//!
//! # Errors, RNG and buffers
//! Inputs are validated before anything is written (NaN/∞ →
//! [`NonFiniteInput`](crate::Error::NonFiniteInput), outside the public bounds →
//! [`OutOfRange`](crate::Error::OutOfRange)). If the caller's RNG fails, the image (and the
//! state) are zeroised and [`Error::Rng`] is returned: nothing is
//! released. Every buffer must be aligned to [`crate::ALIGN`].
//!
//! # C ABI
//! The API uses only plain numbers, slices, `&mut [u8]` buffers and [`crate::Error`], so
//! each function maps to one `dpx_tree_*` / `dpx_distance_*` / `dpx_highdim_*` export.

mod calib;
mod distance;
mod fenwick;
mod high_dim;
mod image;
mod noise;
mod range;
mod softmax;
mod tail;
#[cfg(test)]
mod test;

pub use calib::{Calibration, MAX_SUM, SCALE_TARGET_BITS};
pub use distance::{DPTreeDistance, DistanceBuilder, DistanceParams, DistancePlan};
pub use high_dim::{DPTreeHighDim, HighDimBuilder, HighDimParams, HighDimPlan};
pub use range::{DPTree, DPTreeParams, DPTreePlan, DPTreeWriter};
pub use softmax::{
    DPTreeSoftmax, SOFTMAX_MAX_DIM, SOFTMAX_MAX_FEATURES, SoftmaxBuilder, SoftmaxParams,
    SoftmaxPlan,
};

use crate::{Error, Result};

/// Bytes of a tree-family image header: the first bytes of an image that
/// [`finished_image_len`] needs.
pub(crate) const IMAGE_HEADER_BYTES: usize = image::HEADER_BYTES;

/// Total bytes of the finished tree-family image whose first [`IMAGE_HEADER_BYTES`] bytes
/// are `head` (magic, version and size fields only; the C ABI's handle re-open).
pub(crate) fn finished_image_len(head: &[u8]) -> Result<usize> {
    image::stored_len(head, image::MAGIC_DONE)
}

/// The dimension `d` of a build in progress (distance, high-dim or softmax): the C ABI
/// sizes the `n × d` point array of a push before re-attaching the builder.
pub(crate) fn building_dims(image: &[u8]) -> Result<usize> {
    let h = image::read_header(image, image::MAGIC_BUILDING)?;
    Ok(h.dims as usize)
}

/// Which noise the nodes get.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Noise {
    /// Discrete Gaussian, (ε, δ)-DP (δ in (0, 1)).
    Gaussian = 0,
    /// Discrete Laplace, pure ε-DP (δ is ignored and reported as 0).
    Laplace = 1,
}

/// An error bound for one answer, holding with probability ≥ `1 − beta` over the noise.
///
/// All parts are in the units of the answer and rounded up; `total` is their sum.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Bound {
    /// The failure probability the bound was computed for.
    pub beta: f64,
    /// DP noise: holds with probability ≥ 1 − β.
    pub noise: f64,
    /// Deterministic: rounding of the inputs to the fixed-point grid and of the final
    /// conversion to `f64`.
    pub rounding: f64,
    /// Deterministic, public worst case of the method's approximation: bucketing points to
    /// cell centres (distance structures), truncating `exp` to its Taylor polynomial
    /// (softmax); 0 for [`DPTree`].
    pub approximation: f64,
    /// `noise + rounding + approximation`, rounded up.
    pub total: f64,
}

impl Bound {
    fn new(beta: f64, noise: f64, rounding: f64, approximation: f64) -> Self {
        let total = up((noise + rounding + approximation) * (1.0 + f64::EPSILON * 4.0));
        Bound {
            beta,
            noise,
            rounding,
            approximation,
            total,
        }
    }
}

/// The next `f64` above a positive `x` (a bound rounded up); 0 stays 0.
fn up(x: f64) -> f64 {
    if x > 0.0 { x.next_up() } else { x }
}

/// Validate (ε, δ) for `noise`; returns the δ the structure actually spends (0 for Laplace).
fn check_budget(noise: Noise, epsilon: f64, delta: f64) -> Result<f64> {
    if !(epsilon.is_finite() && epsilon > 0.0) {
        return Err(Error::InvalidEpsilon);
    }
    match noise {
        Noise::Gaussian => {
            if delta > 0.0 && delta < 1.0 {
                Ok(delta)
            } else {
                Err(Error::InvalidDelta)
            }
        }
        Noise::Laplace => {
            if (0.0..1.0).contains(&delta) {
                Ok(0.0)
            } else {
                Err(Error::InvalidDelta)
            }
        }
    }
}

/// Largest number of leaves (and of values or points) a structure accepts: `2^32 − 1`,
/// so that `L ≤ 32` and every count fits the image's fields on every target.
pub const MAX_LEAVES: usize = u32::MAX as usize;
