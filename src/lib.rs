//! # dpxattn — differentially private cross-attention, in fixed point, without a heap
//!
//! A private prompt (keys `K`, values `V`) is released **once** as a noisy, (ε, δ)-DP
//! summary — an *image* written into the caller's buffer — and any number of attention
//! queries `softmax(τ·q·Kᵀ)·V` are then answered from the image alone. Queries are
//! post-processing, so they cost no further privacy, however many and however adaptive.
//!
//! The structure follows Ke, Liang, Shi, Song and Zhang, *Provable Differentially Private
//! Computation of the Cross-Attention Mechanism* (arXiv 2407.14717): a polynomial kernel
//! replaces `exp`, so attention becomes two linear maps of a feature vector of `q`, and the
//! aggregate over the prompt is released with Gaussian (or Laplace) noise.
//!
//! Properties the crate is built around:
//! - `#![no_std]`, no `alloc`: every buffer is the caller's, sized by a pure plan.
//! - All noise is exact integer noise (discrete Gaussian / discrete Laplace, CKS20) drawn
//!   from the caller's [`rand_core::TryRng`]; no floating point in the noise path.
//! - Every sensitivity, σ and bound is rounded toward the safe side, with the proof in the
//!   item's documentation.
//! - Errors are values ([`Error`]); the library contains no intended panic path.
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]
#![deny(unsafe_code)]
#![warn(clippy::semicolon_if_nothing_returned, clippy::doc_markdown)]
#![allow(clippy::doc_markdown)]

pub mod checksum;
pub mod cpu;
pub mod error;
pub mod ffi;
pub mod fixed;
pub mod kernel;
pub mod mechanism;
mod panic;
pub mod privacy;
pub mod samplers;
pub mod tree;

pub use error::{Error, Result};

#[cfg(test)]
pub(crate) mod testutil;

/// Alignment (bytes) required of every caller buffer: images and scratch.
///
/// Images are read zero-copy as little-endian 32-bit words and scratch holds 64-bit
/// accumulators, so 8 covers both on every target.
pub const ALIGN: usize = 8;

/// A byte buffer aligned to [`ALIGN`], for `static` or stack images and scratch.
///
/// ```
/// static mut IMAGE: dpxattn::AlignedBuf<1024> = dpxattn::AlignedBuf::new();
/// let scratch = dpxattn::AlignedBuf::<64>::new();
/// assert_eq!(scratch.as_bytes().as_ptr() as usize % dpxattn::ALIGN, 0);
/// ```
#[repr(C, align(8))]
#[derive(Clone)]
pub struct AlignedBuf<const N: usize>(pub [u8; N]);

impl<const N: usize> AlignedBuf<N> {
    /// A zeroed buffer.
    pub const fn new() -> Self {
        AlignedBuf([0u8; N])
    }
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    /// The bytes, mutable.
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl<const N: usize> Default for AlignedBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}
