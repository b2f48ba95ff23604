//! The C ABI (`include/dpxattn.h`): the only module with raw pointers and `unsafe`.
//!
//! # Conventions (repeated in the header and in `docs/notes/ffi.md`)
//! - **Names.** Every symbol starts with `dpx_` (types, functions) or `DPX_` (macros). The
//!   names and argument order of DESIGN section 5 are fixed: `dpx_params_init`, `dpx_plan_new`,
//!   `dpx_build`, `dpx_build_begin` / `dpx_build_push` / `dpx_build_finish`, `dpx_open`,
//!   `dpx_query`, `dpx_query_range`, `dpx_bound`, `dpx_status_str`.
//! - **Status.** Every fallible function returns a [`dpx_status`]: `DPX_OK` (0) or a
//!   negative code from a stable block (-1xx arguments and pointers, -2xx buffers, -3xx
//!   data, -4xx parameters, -5xx images, -6xx randomness and build state). Codes are never
//!   renumbered; [`dpx_status_str`] names every value, unknown ones included.
//! - **Argument order.** Handle (or parameters) first, then inputs (`const` pointers,
//!   scalars), then outputs; scratch memory last. Every buffer pointer is immediately
//!   followed by its length: **bytes** for `void *` buffers (`image_bytes`,
//!   `scratch_bytes`), **elements** for typed arrays (`q_len`, `out_len`), except the row
//!   matrices of a build, whose shape is `n x d` / `n x dv` with `n` after them (DESIGN section 5).
//! - **Outputs are written only on success.** On any error an output struct or array is
//!   left untouched. The one deliberate exception is the image of a build: a failed build
//!   leaves it **zeroised** (never a half-built or stale image that could be opened), see
//!   the `build` module. A failed query never writes `out`.
//! - **Pointers.** Every pointer is checked before use (module `check`, the only place that
//!   turns a pointer and a length into a slice): NULL is accepted only together with a
//!   length of 0 (it then means "empty"); `void *` image and scratch buffers must be
//!   aligned to [`DPX_ALIGN`] (8) bytes, `float` arrays to 4, `int16_t` arrays to 2, and
//!   structs to their natural alignment; `len x sizeof(element)` must not overflow; and a
//!   buffer the function writes must not overlap any other buffer of the same call
//!   (`DPX_ERR_OVERLAP`). What cannot be checked is the caller's promise: each pointer is
//!   valid for its stated length, and no other thread writes the buffers during the call.
//! - **Memory.** No allocation, no global or thread-local state: the caller owns every
//!   buffer, sized by [`dpx_plan_new`]. All functions are re-entrant and thread-safe on
//!   distinct buffers; an opened image may be queried from many threads at once, each with
//!   its own scratch.
//! - **Randomness.** The caller's entropy callback [`dpx_fill_fn`] (`0` = success). A
//!   non-zero return aborts the build with `DPX_ERR_RNG` and zeroises image and scratch.
//!   It must be a cryptographically secure source for the privacy guarantee to hold.
//! - **Panics.** The library is written without reachable panics. The C static library is
//!   built with `panic = "abort"` (`ffi-tests/build-lib.sh`); nothing ever unwinds into C.
//!
//! # Threat model of the boundary
//! A C caller can pass anything. Every length, size, alignment and parameter is validated
//! and reported as a status; what the callee cannot validate (that a non-NULL pointer
//! really addresses its stated length, that an opened image is not modified while its
//! handle is used) is a documented precondition in each function's `# Safety` section.
#![allow(unsafe_code)]
#![allow(non_camel_case_types)]

// Host static libraries built with `--features std` (the C tests run by `cargo test`) get
// std's panic handler, which prints a message and aborts, instead of the bare-metal spin
// loop of the `panic-handler` feature. Nothing in the library uses std.
#[cfg(feature = "std")]
extern crate std;

mod attn;
mod build;
mod check;
mod distance;
mod family;
mod highdim;
mod params;
mod plan;
mod rng;
mod softmax_tree;
mod status;
mod tree;

pub use attn::{
    dpx_attn, dpx_attn_info, dpx_attn_plan, dpx_bound, dpx_image_size, dpx_open, dpx_query,
    dpx_query_batch, dpx_query_ex, dpx_query_info, dpx_query_range,
};
pub use build::{
    dpx_build, dpx_build_begin, dpx_build_finish, dpx_build_i8, dpx_build_i16, dpx_build_push,
    dpx_build_push_i8, dpx_build_push_i16,
};
pub use distance::{
    dpx_distance, dpx_distance_begin, dpx_distance_bound, dpx_distance_build,
    dpx_distance_evaluate, dpx_distance_finish, dpx_distance_open, dpx_distance_params,
    dpx_distance_plan, dpx_distance_plan_new, dpx_distance_push,
};
pub use highdim::{
    dpx_highdim, dpx_highdim_begin, dpx_highdim_bound, dpx_highdim_build, dpx_highdim_evaluate,
    dpx_highdim_finish, dpx_highdim_open, dpx_highdim_params, dpx_highdim_plan,
    dpx_highdim_plan_new, dpx_highdim_push,
};
pub use params::{
    DPX_FLAG_REJECT, DPX_MECHANISM_GAUSSIAN, DPX_MECHANISM_LAPLACE, dpx_mechanism, dpx_params,
    dpx_params_init,
};
pub use plan::{dpx_plan, dpx_plan_new};
pub use rng::dpx_fill_fn;
pub use softmax_tree::{
    dpx_softmax, dpx_softmax_begin, dpx_softmax_bound, dpx_softmax_build, dpx_softmax_evaluate,
    dpx_softmax_finish, dpx_softmax_open, dpx_softmax_params, dpx_softmax_plan,
    dpx_softmax_plan_new, dpx_softmax_push,
};
pub use status::*;
pub use tree::{
    dpx_bound_parts, dpx_tree, dpx_tree_begin, dpx_tree_bound, dpx_tree_build, dpx_tree_finish,
    dpx_tree_info, dpx_tree_open, dpx_tree_params, dpx_tree_plan, dpx_tree_plan_new, dpx_tree_push,
    dpx_tree_range_sum,
};

/// Alignment in bytes required of every image and scratch buffer (`DPX_ALIGN`).
///
/// Equal to [`crate::ALIGN`] (checked at compile time). In C99 a `uint64_t` array is
/// suitably aligned on every supported target; in C11 use `_Alignas(DPX_ALIGN)`.
pub const DPX_ALIGN: usize = 8;

/// Bytes of an image header (`DPX_HEADER_BYTES`): read this many bytes of a stored image,
/// then [`dpx_image_size`] tells the total length.
pub const DPX_HEADER_BYTES: usize = 320;

const _: () = assert!(DPX_ALIGN == crate::ALIGN);
const _: () = assert!(DPX_HEADER_BYTES == crate::mechanism::HEADER_BYTES);

/// `DPX_VERSION_NUMBER` of the compiled library: MAJOR*10000 + MINOR*100 + PATCH.
///
/// Compare it with the header's `DPX_VERSION_NUMBER` to detect a header/library mismatch.
#[unsafe(no_mangle)]
pub extern "C" fn dpx_version() -> u32 {
    VERSION_NUMBER
}

/// The packed version of this crate, from `Cargo.toml` at compile time.
const VERSION_NUMBER: u32 = {
    let major = parse_u32(env!("CARGO_PKG_VERSION_MAJOR"));
    let minor = parse_u32(env!("CARGO_PKG_VERSION_MINOR"));
    let patch = parse_u32(env!("CARGO_PKG_VERSION_PATCH"));
    // The packed form needs MINOR, PATCH < 100: a compile error otherwise.
    assert!(minor < 100 && patch < 100);
    major * 10_000 + minor * 100 + patch
};

/// Decimal string to u32 at compile time (a malformed version is a compile error).
const fn parse_u32(s: &str) -> u32 {
    let b = s.as_bytes();
    assert!(!b.is_empty());
    let mut v = 0u32;
    let mut i = 0;
    while i < b.len() {
        assert!(b[i].is_ascii_digit());
        v = v * 10 + (b[i] - b'0') as u32;
        i += 1;
    }
    v
}

#[cfg(test)]
mod faults;
#[cfg(test)]
mod tests;
