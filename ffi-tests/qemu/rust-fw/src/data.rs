//! Golden data computed on the host by `build.rs` (same workload code, `std` feature) and
//! placed in flash with `include_bytes!`, 8-byte aligned so the images open zero-copy.

/// An 8-aligned wrapper: `include_bytes!` alone gives only 1-byte alignment.
#[repr(C, align(8))]
pub struct Aligned<B: ?Sized>(pub B);

macro_rules! golden {
    ($(#[$m:meta])* $name:ident, $file:literal) => {
        $(#[$m])*
        pub static $name: &Aligned<[u8]> =
            &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/", $file)));
    };
}

golden!(
    /// Prompt keys of the device case (n × d, little-endian `f32`).
    DEVICE_KEYS, "device_keys.bin"
);
golden!(
    /// Prompt values of the device case (n × dv).
    DEVICE_VALUES, "device_values.bin"
);
golden!(
    /// Queries of the device case (n_queries × d).
    DEVICE_QUERIES, "device_queries.bin"
);
golden!(
    /// The image the host built for the device case: the device must build the same bytes.
    DEVICE_IMAGE, "device_image.bin"
);
golden!(
    /// The device case's plan serialised on the host (`Plan::write_to`, 320 bytes): what a
    /// device that builds without planning ships instead of the f64 calibration code.
    DEVICE_PLAN, "device_plan.bin"
);
golden!(
    /// Host query outputs of the device case (n_queries × dv).
    DEVICE_EXPECTED, "device_expected.bin"
);
golden!(
    /// The host-built MiniLM head image that the firmware opens in place, in flash.
    FLASH_IMAGE, "flash_image.bin"
);
golden!(
    /// Queries of the flash case.
    FLASH_QUERIES, "flash_queries.bin"
);
golden!(
    /// Host query outputs of the flash case.
    FLASH_EXPECTED, "flash_expected.bin"
);
golden!(
    /// The d = 16 image in flash (micro:bit only; empty elsewhere).
    FLASH16_IMAGE, "flash16_image.bin"
);
golden!(
    /// Queries of the d = 16 flash case.
    FLASH16_QUERIES, "flash16_queries.bin"
);
golden!(
    /// Host query outputs of the d = 16 flash case.
    FLASH16_EXPECTED, "flash16_expected.bin"
);

// `VECTOR_IMAGES` and `VECTOR_QUERIES`: the project golden vectors
// (`ffi-tests/golden/vectors.txt`), checked on the host by `build.rs` before they get here.
include!(concat!(env!("OUT_DIR"), "/golden_vectors.rs"));

/// A golden blob as `f32`s (its storage is 8-aligned and its length a multiple of 4, so
/// the cast cannot fail; `None` would mean a corrupt build).
pub fn floats(blob: &'static Aligned<[u8]>) -> Option<&'static [f32]> {
    bytemuck::try_cast_slice(&blob.0).ok()
}
