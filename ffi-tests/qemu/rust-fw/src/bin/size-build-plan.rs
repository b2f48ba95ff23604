//! Size probe "build + query" without planning on the device: the plan was computed on the
//! host and ships as 320 bytes (`Plan::write_to`); the device reads it with
//! `Plan::read_from`, so none of the f64 calibration code (σ search, analytic Gaussian,
//! Taylor bounds) is linked. Otherwise the same as `size-build`.
#![no_std]
#![no_main]

use qemu_fw::data;
use qemu_workload::Plan;

fn run() -> Option<bool> {
    let plan = Plan::read_from(&data::DEVICE_PLAN.0).ok()?;
    qemu_fw::probe::build_and_query(&plan)
}

#[cortex_m_rt::entry]
fn main() -> ! {
    let ok = run() == Some(true);
    qemu_fw::exit(if ok { 0 } else { qemu_fw::EXIT_CHECK_FAILED })
}
