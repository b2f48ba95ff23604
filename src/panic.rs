//! The `#[panic_handler]` for bare-metal *staticlib* builds (feature `panic-handler`).
//!
//! A `no_std` staticlib must contain exactly one panic handler, but the rlib must not carry
//! one (a Rust firmware that depends on this crate brings its own, and two handlers are a
//! hard "duplicate lang item" error). So the handler lives behind the `panic-handler`
//! feature, which only `cargo rustc --crate-type staticlib --features panic-handler` turns
//! on (see `ffi-tests/qemu/run.sh`). The library is written to contain no reachable panic;
//! if one were reached anyway, spinning forever is the only behaviour that needs nothing
//! from the C side (a watchdog or a test harness `timeout` then sees the hang).

/// Spin forever: the library has no reachable panic, and a loop needs no C-side symbol.
#[cfg(all(feature = "panic-handler", not(test)))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}
