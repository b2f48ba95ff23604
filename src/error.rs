//! The one error type of the library.
//!
//! Every fallible function returns [`Result<T>`]. The C ABI maps each variant to a stable
//! negative `dpx_status` code (see `src/ffi/status.rs`); variants are never renumbered
//! there, so adding a variant here is always backwards compatible.

use core::fmt;

/// Everything that can go wrong, grouped like the C status blocks.
///
/// An error never leaves a half-written output behind: functions that write into caller
/// buffers either succeed or leave them untouched (queries) or zeroised (builds).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error {
    // --- parameters ---------------------------------------------------------------------
    /// ε must be finite and > 0.
    InvalidEpsilon,
    /// δ must lie in the open interval (0, 1) (or be 0 for pure-DP mechanisms).
    InvalidDelta,
    /// A dimension (d, dv, n_max, block, …) is zero or too large.
    InvalidDimension,
    /// The polynomial degree must be even, ≥ 2 and ≤ the supported maximum, or the target
    /// kernel error cannot be met by any supported degree.
    InvalidDegree,
    /// A radius, score scale or γ is not finite and > 0 or outside its documented range
    /// (see `mechanism::Params`), or the score bound B is too large.
    InvalidRadius,
    /// The contribution-clipping bound is not finite, or not in (0, 1].
    InvalidClip,
    /// A generic invalid parameter (sampler scales, probabilities, bounds, β).
    InvalidParameter,
    /// A size computation overflowed `usize` (the structure would not fit in memory).
    SizeOverflow,
    /// The requested precision cannot be met with 32-bit image words.
    PrecisionTooLow,

    // --- buffers ------------------------------------------------------------------------
    /// A caller buffer is shorter than the plan says it must be.
    BufferTooSmall,
    /// A caller buffer is not aligned to [`crate::ALIGN`] bytes.
    Misaligned,
    /// An input or output slice has the wrong length (row length, query length, …).
    WrongLength,

    // --- data ---------------------------------------------------------------------------
    /// A row holds NaN or ±Inf (index of the row in the current call).
    NonFiniteInput {
        /// Row index within the rows passed to the failing call.
        row: usize,
    },
    /// A row lies outside its ball and the policy is `Reject`.
    OutOfBall {
        /// Row index within the rows passed to the failing call.
        row: usize,
    },
    /// More rows than `n_max` were pushed.
    TooManyRows,
    /// A block range is empty, reversed, or beyond the built blocks.
    InvalidRange,
    /// A value, point or weight lies outside its public bound (DPTree family; index of the
    /// row in the current call).
    OutOfRange {
        /// Row index within the rows passed to the failing call.
        row: usize,
    },

    // --- images -------------------------------------------------------------------------
    /// The buffer does not start with the image magic (not an image, or not finished).
    BadMagic,
    /// The image was written by an incompatible format version.
    UnsupportedVersion,
    /// The image checksum does not match its contents.
    ChecksumMismatch,
    /// The image header is inconsistent (sizes, parameters or layout do not agree).
    CorruptImage,

    // --- randomness and state -----------------------------------------------------------
    /// The caller's RNG reported a failure; nothing was released.
    Rng,
    /// A noise sample would not fit in 64 bits (probability below 2^-1000 at every
    /// supported scale); reported instead of returning a truncated value.
    SampleOverflow,
    /// A streaming build was used out of order (push after finish, …).
    BuildState,
}

/// The library's result type.
pub type Result<T> = core::result::Result<T, Error>;

impl Error {
    /// A short, static, human-readable description.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Error::InvalidEpsilon => "epsilon must be finite and > 0",
            Error::InvalidDelta => "delta must be in (0, 1)",
            Error::InvalidDimension => "a dimension is zero or too large",
            Error::InvalidDegree => {
                "degree must be even and supported, or the kernel error target is unreachable"
            }
            Error::InvalidRadius => {
                "radius, score scale or gamma is not finite and > 0, or the score bound is too large"
            }
            Error::InvalidClip => "contribution clip bound must be in (0, 1]",
            Error::InvalidParameter => "invalid parameter",
            Error::SizeOverflow => "size computation overflowed",
            Error::PrecisionTooLow => {
                "fixed-point precision target cannot be met with 32-bit words"
            }
            Error::BufferTooSmall => "buffer too small",
            Error::Misaligned => "buffer misaligned",
            Error::WrongLength => "slice has the wrong length",
            Error::NonFiniteInput { .. } => "input row holds NaN or infinity",
            Error::OutOfBall { .. } => "input row outside its radius (reject policy)",
            Error::TooManyRows => "more rows than n_max",
            Error::InvalidRange => "invalid block range",
            Error::OutOfRange { .. } => "input value outside its public bound",
            Error::BadMagic => "not a finished dpxattn image",
            Error::UnsupportedVersion => "unsupported image version",
            Error::ChecksumMismatch => "image checksum mismatch",
            Error::CorruptImage => "image header inconsistent",
            Error::Rng => "random number generator failed",
            Error::SampleOverflow => "noise sample out of 64-bit range",
            Error::BuildState => "streaming build used out of order",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NonFiniteInput { row }
            | Error::OutOfBall { row }
            | Error::OutOfRange { row } => {
                write!(f, "{} (row {})", self.as_str(), row)
            }
            _ => f.write_str(self.as_str()),
        }
    }
}

impl core::error::Error for Error {}
