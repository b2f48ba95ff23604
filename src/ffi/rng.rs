//! The caller's entropy callback as a rand_core 0.10 RNG.

use super::check::FfiResult;
use super::status::DPX_ERR_NULL_CALLBACK;
use core::ffi::{c_int, c_void};
use rand_core::{TryCryptoRng, TryRng, utils};

/// Entropy callback: `int (*dpx_fill_fn)(void *ctx, uint8_t *buf, size_t len)`.
///
/// Must write `len` uniformly random bytes to `buf` and return 0, or return non-zero on
/// failure (the build then stops with `DPX_ERR_RNG` and zeroises image and scratch). It
/// must be a **cryptographically secure** source (e.g. `getrandom(2)`, `arc4random_buf`,
/// `BCryptGenRandom`, a hardware TRNG): the privacy guarantee assumes unpredictable bytes.
/// `ctx` is passed through untouched. The callback must not call `dpx_*` functions on the
/// buffers of the build in progress, and must not `longjmp` out.
pub type dpx_fill_fn =
    Option<unsafe extern "C" fn(ctx: *mut c_void, buf: *mut u8, len: usize) -> c_int>;

/// The non-zero return value of a failed callback (kept for diagnostics; the C status is
/// always `DPX_ERR_RNG`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CallbackError(pub(crate) c_int);

impl core::fmt::Display for CallbackError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "entropy callback returned {}", self.0)
    }
}

impl core::error::Error for CallbackError {}

/// A [`TryRng`] that draws bytes from a C [`dpx_fill_fn`].
pub(crate) struct CallbackRng {
    fill: unsafe extern "C" fn(*mut c_void, *mut u8, usize) -> c_int,
    ctx: *mut c_void,
}

impl CallbackRng {
    /// Wraps a callback; `DPX_ERR_NULL_CALLBACK` if it is NULL.
    ///
    /// # Safety
    /// `fill` must follow the [`dpx_fill_fn`] contract with this `ctx` for as long as the
    /// returned RNG is used.
    pub(crate) unsafe fn new(fill: dpx_fill_fn, ctx: *mut c_void) -> FfiResult<CallbackRng> {
        let fill = fill.ok_or(DPX_ERR_NULL_CALLBACK)?;
        Ok(CallbackRng { fill, ctx })
    }
}

impl TryRng for CallbackRng {
    type Error = CallbackError;

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), CallbackError> {
        if dst.is_empty() {
            return Ok(());
        }
        // SAFETY: `dst` is a valid, exclusive, writable buffer of `dst.len()` bytes; the
        // callback's behaviour is the precondition of `CallbackRng::new`.
        let rc = unsafe { (self.fill)(self.ctx, dst.as_mut_ptr(), dst.len()) };
        if rc == 0 {
            Ok(())
        } else {
            Err(CallbackError(rc))
        }
    }

    /// Little-endian from 4 callback bytes.
    fn try_next_u32(&mut self) -> Result<u32, CallbackError> {
        utils::next_word_via_fill(self)
    }

    /// Little-endian from 8 callback bytes (the only draw the samplers make).
    fn try_next_u64(&mut self) -> Result<u64, CallbackError> {
        utils::next_word_via_fill(self)
    }
}

/// A marker only: whether the bytes are cryptographically secure is the caller's promise
/// (see [`dpx_fill_fn`]).
impl TryCryptoRng for CallbackRng {}

#[cfg(test)]
mod tests {
    use super::*;

    unsafe extern "C" fn counter(ctx: *mut c_void, buf: *mut u8, len: usize) -> c_int {
        // SAFETY: the tests pass a `*mut u8` counter as ctx and a valid buffer.
        let next = unsafe { &mut *ctx.cast::<u8>() };
        for i in 0..len {
            // SAFETY: `buf` is valid for `len` bytes.
            unsafe { buf.add(i).write(*next) };
            *next = next.wrapping_add(1);
        }
        0
    }

    unsafe extern "C" fn broken(_: *mut c_void, _: *mut u8, _: usize) -> c_int {
        -7
    }

    #[test]
    fn callback_bytes_become_little_endian_words() {
        let mut ctr = 0x10u8;
        // SAFETY: `counter` follows the contract with a `u8` counter as ctx.
        let mut rng = unsafe { CallbackRng::new(Some(counter), (&raw mut ctr).cast()) }.unwrap();
        assert_eq!(rng.try_next_u32(), Ok(0x1312_1110));
        assert_eq!(rng.try_next_u64(), Ok(0x1B1A_1918_1716_1514));
    }

    #[test]
    fn failures_and_null() {
        // SAFETY: `broken` ignores its arguments.
        let mut rng = unsafe { CallbackRng::new(Some(broken), core::ptr::null_mut()) }.unwrap();
        assert_eq!(rng.try_next_u64(), Err(CallbackError(-7)));
        // SAFETY: NULL is refused before any call.
        let none = unsafe { CallbackRng::new(None, core::ptr::null_mut()) };
        assert_eq!(none.err(), Some(DPX_ERR_NULL_CALLBACK));
        // A failing callback inside the samplers becomes Error::Rng.
        let g =
            crate::samplers::DiscreteGaussian::new(crate::samplers::Rational::integer(10)).unwrap();
        assert_eq!(g.sample(&mut rng), Err(crate::Error::Rng));
    }
}
