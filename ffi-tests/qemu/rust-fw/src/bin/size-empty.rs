//! Size baseline: the same runtime as the other size probes (cortex-m-rt, semihosting exit,
//! harness) but no library call. `code(size-X) − code(size-empty)` is the flash the library
//! and its call site add.
#![no_std]
#![no_main]

#[cortex_m_rt::entry]
fn main() -> ! {
    qemu_fw::exit(core::hint::black_box(0))
}
