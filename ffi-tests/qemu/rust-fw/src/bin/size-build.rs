//! Size probe "build + query": build the device image from bundled inputs with the test
//! RNG, open it and answer one query; exit 0 iff the output equals the host's bit for bit.
//! No printing (no `core::fmt`).
#![no_std]
#![no_main]

use dpxattn::AlignedBuf;
use qemu_fw::PROFILE;
use qemu_fw::data;
use qemu_workload::{self as wl, Attn, TestRng};

static mut IMAGE: AlignedBuf<{ PROFILE.image_cap }> = AlignedBuf::new();
static mut SCRATCH: AlignedBuf<{ PROFILE.scratch_cap }> = AlignedBuf::new();
static mut QSCRATCH: AlignedBuf<{ PROFILE.qscratch_cap }> = AlignedBuf::new();
const DEVICE: wl::Case = PROFILE.device;

fn run() -> Option<bool> {
    // SAFETY: the only references to these statics.
    let image = unsafe { qemu_fw::static_bytes(&raw mut IMAGE) };
    let scratch = unsafe { qemu_fw::static_bytes(&raw mut SCRATCH) };
    let qscratch = unsafe { qemu_fw::static_bytes(&raw mut QSCRATCH) };
    let keys = data::floats(data::DEVICE_KEYS)?;
    let values = data::floats(data::DEVICE_VALUES)?;
    let q = data::floats(data::DEVICE_QUERIES)?.get(..DEVICE.d)?;
    let e = data::floats(data::DEVICE_EXPECTED)?.get(..DEVICE.dv)?;
    let plan = wl::plan(&DEVICE).ok()?;
    let mut rng = TestRng::new(DEVICE.seed);
    let len = wl::build(&plan, image, keys, values, &mut rng, scratch).ok()?;
    let attn = Attn::open(image.get(..len)?).ok()?;
    let mut out = [0f32; DEVICE.dv];
    attn.query(q, &mut out, qscratch).ok()?;
    Some(wl::same_bits(e, &out))
}

#[cortex_m_rt::entry]
fn main() -> ! {
    let ok = run() == Some(true);
    qemu_fw::exit(if ok { 0 } else { qemu_fw::EXIT_CHECK_FAILED })
}
