//! Size probe "build + query" (plans on the device): `Plan::new` from the device case's
//! parameters (links the f64 calibration code), build the image from bundled inputs with
//! the test RNG, open it and answer one query; exit 0 iff the output equals the host's bit
//! for bit. No printing (no `core::fmt`). `size-build-plan` is the same without planning.
#![no_std]
#![no_main]

use qemu_workload::{self as wl, Plan};

fn run() -> Option<bool> {
    let plan = Plan::new(&wl::params(&qemu_fw::PROFILE.device)).ok()?;
    qemu_fw::probe::build_and_query(&plan)
}

#[cortex_m_rt::entry]
fn main() -> ! {
    let ok = run() == Some(true);
    qemu_fw::exit(if ok { 0 } else { qemu_fw::EXIT_CHECK_FAILED })
}
