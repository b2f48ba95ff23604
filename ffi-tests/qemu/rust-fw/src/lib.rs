//! Harness shared by the QEMU firmware binaries: instruction counting ([`measure`]), stack
//! high-water marks ([`stack`]), the golden data in flash ([`data`]) and exit codes.
//!
//! Exit codes (QEMU's exit status, through semihosting `SYS_EXIT_EXTENDED`): 0 all checks
//! passed, 1 a check failed, 101 panic, 3 HardFault. A hang is caught by `timeout` (124).
#![no_std]

pub mod data;
pub mod measure;
pub mod probe;
pub mod stack;

/// Exit code of a failed check.
pub const EXIT_CHECK_FAILED: i32 = 1;
/// Exit code of a HardFault (own handler below, so a fault never hangs the run).
pub const EXIT_HARDFAULT: i32 = 3;
/// Exit code of a panic (same as semihosting's own panic handler).
pub const EXIT_PANIC: i32 = 101;

/// Leave QEMU with `code` as its exit status.
pub fn exit(code: i32) -> ! {
    semihosting::process::exit(code)
}

/// The bytes of a static caller buffer, as `&'static mut`.
///
/// # Safety
/// `p` points to a `static`; call once per buffer, and create no other reference to it.
pub unsafe fn static_bytes<const N: usize>(p: *mut dpxattn::AlignedBuf<N>) -> &'static mut [u8] {
    // SAFETY: caller contract (a valid static, uniquely borrowed from here on).
    unsafe { &mut (*p).0 }
}

/// Name of the QEMU machine this image was linked for (from `build.rs`).
pub const MACHINE: &str = env!("QEMU_FW_MACHINE");

/// What this machine runs (device case, buffer capacities): `build.rs` sets
/// `cfg(qemu_small_ram)` from `qemu_workload::profile(MACHINE)`, so the golden data and
/// the static buffers agree.
pub const PROFILE: qemu_workload::Profile = if cfg!(qemu_small_ram) {
    qemu_workload::SMALL
} else {
    qemu_workload::LARGE
};

#[cortex_m_rt::exception]
unsafe fn HardFault(_ef: &cortex_m_rt::ExceptionFrame) -> ! {
    exit(EXIT_HARDFAULT)
}

/// Without `verbose` there is no semihosting panic handler: exit 101 without formatting,
/// so the size probes carry no `core::fmt`.
#[cfg(not(feature = "verbose"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    exit(EXIT_PANIC)
}
