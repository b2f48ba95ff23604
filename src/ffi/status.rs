//! `dpx_status`: one stable integer code per outcome, and its static description.
//!
//! # Stability policy
//! `DPX_OK` is 0; errors are negative and grouped in blocks of 100 by origin. A code, once
//! published, is **never renumbered or reused**: a retired code stays here as a
//! `// reserved` line. New codes go at the end of their block. Every [`crate::Error`]
//! variant has exactly one code (the `From<Error>` match is exhaustive inside the crate,
//! so adding a variant without a code is a compile error).
//!
//! | block | meaning |
//! |---|---|
//! | -1xx | arguments and pointers (NULL, overlap, length overflow) |
//! | -2xx | buffers (too small, misaligned, wrong length) |
//! | -3xx | data (NaN rows, out-of-ball rows, too many rows, bad range) |
//! | -4xx | privacy and structure parameters |
//! | -5xx | images (not an image, version, checksum, corrupt header) |
//! | -6xx | randomness and build state |

use crate::Error;
use core::ffi::{CStr, c_char};

/// Result of every fallible `dpx_*` function: `DPX_OK` (0) or a negative `DPX_ERR_*`.
///
/// A plain `int32_t` in C (not an `enum`), so the ABI width is fixed and unknown future
/// codes are representable.
pub type dpx_status = i32;

/// Success.
pub const DPX_OK: dpx_status = 0;

// --- -1xx: arguments and pointers ----------------------------------------------------------
/// A required pointer is NULL (NULL is accepted only together with a length of 0).
pub const DPX_ERR_NULL: dpx_status = -100;
/// The entropy callback (`dpx_fill_fn`) is NULL.
pub const DPX_ERR_NULL_CALLBACK: dpx_status = -101;
/// A length times its element size, or a pointer plus a length, overflows the address space.
pub const DPX_ERR_LENGTH_OVERFLOW: dpx_status = -102;
/// A buffer the function writes overlaps another buffer of the same call.
pub const DPX_ERR_OVERLAP: dpx_status = -103;

// --- -2xx: buffers -------------------------------------------------------------------------
/// A buffer is shorter than the plan requires ([`Error::BufferTooSmall`]).
pub const DPX_ERR_BUFFER_TOO_SMALL: dpx_status = -200;
/// A buffer is not aligned: `DPX_ALIGN` for image and scratch, the element size for
/// arrays, the natural alignment for structs ([`Error::Misaligned`]).
pub const DPX_ERR_MISALIGNED: dpx_status = -201;
/// An input or output array has the wrong length ([`Error::WrongLength`]).
pub const DPX_ERR_WRONG_LENGTH: dpx_status = -202;

// --- -3xx: data ----------------------------------------------------------------------------
/// A key, value or query row holds NaN or +/-infinity ([`Error::NonFiniteInput`]).
pub const DPX_ERR_NON_FINITE_INPUT: dpx_status = -300;
/// A row lies outside its radius and the reject policy is on ([`Error::OutOfBall`]).
pub const DPX_ERR_OUT_OF_BALL: dpx_status = -301;
/// More rows than `n_max` ([`Error::TooManyRows`]).
pub const DPX_ERR_TOO_MANY_ROWS: dpx_status = -302;
/// A block range is empty, reversed or beyond the built blocks ([`Error::InvalidRange`]).
pub const DPX_ERR_INVALID_RANGE: dpx_status = -303;
/// A value, point or weight lies outside its public bound (DPTree family)
/// ([`Error::OutOfRange`]).
pub const DPX_ERR_OUT_OF_RANGE: dpx_status = -304;

// --- -4xx: privacy and structure parameters ------------------------------------------------
/// epsilon is not finite and > 0 ([`Error::InvalidEpsilon`]).
pub const DPX_ERR_INVALID_EPSILON: dpx_status = -400;
/// delta is not in (0, 1) ([`Error::InvalidDelta`]).
pub const DPX_ERR_INVALID_DELTA: dpx_status = -401;
/// A dimension (d, dv, n_max) is zero or too large ([`Error::InvalidDimension`]).
pub const DPX_ERR_INVALID_DIMENSION: dpx_status = -402;
/// The degree is odd or unsupported, or the kernel error target is unreachable
/// ([`Error::InvalidDegree`]).
pub const DPX_ERR_INVALID_DEGREE: dpx_status = -403;
/// A radius, the score scale or gamma is not finite and > 0, or the score bound is too large
/// ([`Error::InvalidRadius`]).
pub const DPX_ERR_INVALID_RADIUS: dpx_status = -404;
/// The contribution clip bound is not 0 or in (0, 1] ([`Error::InvalidClip`]).
pub const DPX_ERR_INVALID_CLIP: dpx_status = -405;
/// Another parameter is invalid: `mechanism`, unknown `flags` bits, `parts`, beta
/// ([`Error::InvalidParameter`]).
pub const DPX_ERR_INVALID_PARAMETER: dpx_status = -406;
/// The structure would not fit in memory ([`Error::SizeOverflow`]).
pub const DPX_ERR_SIZE_OVERFLOW: dpx_status = -407;
/// The precision target cannot be met with 32-bit image words ([`Error::PrecisionTooLow`]).
pub const DPX_ERR_PRECISION_TOO_LOW: dpx_status = -408;

// --- -5xx: images --------------------------------------------------------------------------
/// Not a finished image: wrong magic, a build in progress, or a zeroised failed build
/// ([`Error::BadMagic`]).
pub const DPX_ERR_BAD_MAGIC: dpx_status = -500;
/// The image was written by an incompatible format version ([`Error::UnsupportedVersion`]).
pub const DPX_ERR_UNSUPPORTED_VERSION: dpx_status = -501;
/// The image checksum does not match its contents ([`Error::ChecksumMismatch`]).
pub const DPX_ERR_CHECKSUM_MISMATCH: dpx_status = -502;
/// The image header is inconsistent ([`Error::CorruptImage`]).
pub const DPX_ERR_CORRUPT_IMAGE: dpx_status = -503;

// --- -6xx: randomness and build state ------------------------------------------------------
/// The entropy callback returned non-zero; image and scratch were zeroised ([`Error::Rng`]).
pub const DPX_ERR_RNG: dpx_status = -600;
/// A noise sample fell outside 64 bits (probability < 2^-1000) ([`Error::SampleOverflow`]).
pub const DPX_ERR_SAMPLE_OVERFLOW: dpx_status = -601;
/// A streaming build was used out of order, or its image/scratch pair does not belong
/// together ([`Error::BuildState`]).
pub const DPX_ERR_BUILD_STATE: dpx_status = -602;

impl From<Error> for dpx_status {
    fn from(e: Error) -> dpx_status {
        status_of(e)
    }
}

/// The status code of an [`Error`] (exhaustive: a new variant needs a new code).
pub(crate) const fn status_of(e: Error) -> dpx_status {
    match e {
        Error::InvalidEpsilon => DPX_ERR_INVALID_EPSILON,
        Error::InvalidDelta => DPX_ERR_INVALID_DELTA,
        Error::InvalidDimension => DPX_ERR_INVALID_DIMENSION,
        Error::InvalidDegree => DPX_ERR_INVALID_DEGREE,
        Error::InvalidRadius => DPX_ERR_INVALID_RADIUS,
        Error::InvalidClip => DPX_ERR_INVALID_CLIP,
        Error::InvalidParameter => DPX_ERR_INVALID_PARAMETER,
        Error::SizeOverflow => DPX_ERR_SIZE_OVERFLOW,
        Error::PrecisionTooLow => DPX_ERR_PRECISION_TOO_LOW,
        Error::BufferTooSmall => DPX_ERR_BUFFER_TOO_SMALL,
        Error::Misaligned => DPX_ERR_MISALIGNED,
        Error::WrongLength => DPX_ERR_WRONG_LENGTH,
        Error::NonFiniteInput { .. } => DPX_ERR_NON_FINITE_INPUT,
        Error::OutOfBall { .. } => DPX_ERR_OUT_OF_BALL,
        Error::TooManyRows => DPX_ERR_TOO_MANY_ROWS,
        Error::InvalidRange => DPX_ERR_INVALID_RANGE,
        Error::OutOfRange { .. } => DPX_ERR_OUT_OF_RANGE,
        Error::BadMagic => DPX_ERR_BAD_MAGIC,
        Error::UnsupportedVersion => DPX_ERR_UNSUPPORTED_VERSION,
        Error::ChecksumMismatch => DPX_ERR_CHECKSUM_MISMATCH,
        Error::CorruptImage => DPX_ERR_CORRUPT_IMAGE,
        Error::Rng => DPX_ERR_RNG,
        Error::SampleOverflow => DPX_ERR_SAMPLE_OVERFLOW,
        Error::BuildState => DPX_ERR_BUILD_STATE,
    }
}

/// Every defined code with its description (also the list the tests check: distinct
/// codes, each inside its block, each with a distinct non-empty string).
pub(crate) const STATUS_STRINGS: &[(dpx_status, &CStr)] = &[
    (DPX_OK, c"ok"),
    (DPX_ERR_NULL, c"a required pointer is NULL"),
    (DPX_ERR_NULL_CALLBACK, c"the entropy callback is NULL"),
    (
        DPX_ERR_LENGTH_OVERFLOW,
        c"a buffer length overflows the address space",
    ),
    (
        DPX_ERR_OVERLAP,
        c"an output buffer overlaps another buffer of the call",
    ),
    (DPX_ERR_BUFFER_TOO_SMALL, c"buffer too small"),
    (
        DPX_ERR_MISALIGNED,
        c"buffer misaligned (image and scratch need DPX_ALIGN bytes)",
    ),
    (DPX_ERR_WRONG_LENGTH, c"array has the wrong length"),
    (DPX_ERR_NON_FINITE_INPUT, c"input row holds NaN or infinity"),
    (
        DPX_ERR_OUT_OF_BALL,
        c"input row outside its radius (reject policy)",
    ),
    (DPX_ERR_TOO_MANY_ROWS, c"more rows than n_max"),
    (DPX_ERR_INVALID_RANGE, c"invalid block range"),
    (
        DPX_ERR_OUT_OF_RANGE,
        c"input value outside its public bound",
    ),
    (DPX_ERR_INVALID_EPSILON, c"epsilon must be finite and > 0"),
    (DPX_ERR_INVALID_DELTA, c"delta must be in (0, 1)"),
    (
        DPX_ERR_INVALID_DIMENSION,
        c"a dimension (d, dv, n_max) is zero or too large",
    ),
    (
        DPX_ERR_INVALID_DEGREE,
        c"degree must be even and supported, or the kernel error target is unreachable",
    ),
    (
        DPX_ERR_INVALID_RADIUS,
        c"radius, score scale or gamma is not finite and > 0, or the score bound is too large",
    ),
    (
        DPX_ERR_INVALID_CLIP,
        c"contribution clip bound must be 0 or in (0, 1]",
    ),
    (
        DPX_ERR_INVALID_PARAMETER,
        c"invalid parameter (mechanism, flags, parts or beta)",
    ),
    (
        DPX_ERR_SIZE_OVERFLOW,
        c"the structure does not fit in memory",
    ),
    (
        DPX_ERR_PRECISION_TOO_LOW,
        c"fixed-point precision target cannot be met with 32-bit words",
    ),
    (DPX_ERR_BAD_MAGIC, c"not a finished dpxattn image"),
    (DPX_ERR_UNSUPPORTED_VERSION, c"unsupported image version"),
    (DPX_ERR_CHECKSUM_MISMATCH, c"image checksum mismatch"),
    (DPX_ERR_CORRUPT_IMAGE, c"image header inconsistent"),
    (
        DPX_ERR_RNG,
        c"entropy callback failed; image and scratch zeroised",
    ),
    (DPX_ERR_SAMPLE_OVERFLOW, c"noise sample out of 64-bit range"),
    (
        DPX_ERR_BUILD_STATE,
        c"streaming build used out of order or with foreign buffers",
    ),
];

/// Description of unknown codes.
const UNKNOWN: &CStr = c"unknown dpx_status code";

/// A static, NUL-terminated, English description of `s`, for every value of `s` (unknown
/// codes get `"unknown dpx_status code"`). Never NULL; the string must not be freed.
#[unsafe(no_mangle)]
pub extern "C" fn dpx_status_str(s: dpx_status) -> *const c_char {
    STATUS_STRINGS
        .iter()
        .find(|(code, _)| *code == s)
        .map_or(UNKNOWN, |(_, text)| *text)
        .as_ptr()
}
