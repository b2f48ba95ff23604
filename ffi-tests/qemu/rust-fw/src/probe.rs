//! The common body of the build size probes: build the device case with the test RNG into
//! static buffers, open the image and answer one query, compared bit for bit with the host.

use dpxattn::AlignedBuf;
use qemu_workload::{self as wl, Attn, Plan, TestRng};

use crate::{PROFILE, data};

static mut IMAGE: AlignedBuf<{ PROFILE.image_cap }> = AlignedBuf::new();
static mut SCRATCH: AlignedBuf<{ PROFILE.scratch_cap }> = AlignedBuf::new();
static mut QSCRATCH: AlignedBuf<{ PROFILE.qscratch_cap }> = AlignedBuf::new();
const DEVICE: wl::Case = PROFILE.device;

/// Build with `plan`, open, query once; `Some(true)` iff the output is the host's.
/// Call once (it hands out the static buffers).
pub fn build_and_query(plan: &Plan) -> Option<bool> {
    // SAFETY: the only references to these statics (this function runs once per probe).
    let image = unsafe { crate::static_bytes(&raw mut IMAGE) };
    let scratch = unsafe { crate::static_bytes(&raw mut SCRATCH) };
    let qscratch = unsafe { crate::static_bytes(&raw mut QSCRATCH) };
    let keys = data::floats(data::DEVICE_KEYS)?;
    let values = data::floats(data::DEVICE_VALUES)?;
    let q = data::floats(data::DEVICE_QUERIES)?.get(..DEVICE.d)?;
    let e = data::floats(data::DEVICE_EXPECTED)?.get(..DEVICE.dv)?;
    let mut rng = TestRng::new(DEVICE.seed);
    let len = wl::build(plan, image, keys, values, &mut rng, scratch).ok()?;
    let attn = Attn::open(image.get(..len)?).ok()?;
    let mut out = [0f32; DEVICE.dv];
    attn.query(q, &mut out, qscratch).ok()?;
    Some(wl::same_bits(e, &out))
}
