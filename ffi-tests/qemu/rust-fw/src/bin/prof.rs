//! Profiling firmware (not run by `run.sh`): runs each measured region once, between calls
//! to `prof_mark_<k>` markers, so that `prof.py` can attribute a QEMU `-d exec,in_asm`
//! trace to regions and functions. Regions: 1 plan (device case), 2 build (device case),
//! 3 open (flash), 4 query d=32 (flash), 5 query d=16 (device image), 6 end.
#![no_std]
#![no_main]

use core::hint::black_box;
use dpxattn::AlignedBuf;
use qemu_fw::{PROFILE, data};
use qemu_workload::{self as wl, Attn, Plan, TestRng};

static mut IMAGE: AlignedBuf<{ PROFILE.image_cap }> = AlignedBuf::new();
static mut SCRATCH: AlignedBuf<{ PROFILE.scratch_cap }> = AlignedBuf::new();
static mut QSCRATCH: AlignedBuf<{ PROFILE.qscratch_cap }> = AlignedBuf::new();

macro_rules! marks {
    ($($name:ident = $k:literal),*) => {$(
        // Distinct bodies, so that the linker cannot fold the markers into one.
        #[inline(never)]
        #[unsafe(no_mangle)]
        extern "C" fn $name() -> u32 {
            black_box($k)
        }
    )*};
}
marks!(
    prof_mark_1 = 1,
    prof_mark_2 = 2,
    prof_mark_3 = 3,
    prof_mark_4 = 4,
    prof_mark_5 = 5,
    prof_mark_6 = 6
);

fn run() -> Option<()> {
    // SAFETY: the only references to these statics.
    let image = unsafe { qemu_fw::static_bytes(&raw mut IMAGE) };
    let scratch = unsafe { qemu_fw::static_bytes(&raw mut SCRATCH) };
    let qscratch = unsafe { qemu_fw::static_bytes(&raw mut QSCRATCH) };
    let dev = PROFILE.device;
    let params = wl::params(&dev);
    prof_mark_1();
    let plan = black_box(Plan::new(black_box(&params))).ok()?;
    let keys = data::floats(data::DEVICE_KEYS)?;
    let values = data::floats(data::DEVICE_VALUES)?;
    let mut rng = TestRng::new(dev.seed);
    let image = image.get_mut(..plan.image_bytes())?;
    let scratch = scratch.get_mut(..plan.build_scratch_bytes())?;
    prof_mark_2();
    wl::build(&plan, image, keys, values, &mut rng, scratch).ok()?;
    prof_mark_3();
    let attn = Attn::open(black_box(&data::FLASH_IMAGE.0)).ok()?;
    let q = data::floats(data::FLASH_QUERIES)?.get(..32)?;
    let mut out = [0f32; 32];
    prof_mark_4();
    attn.query(q, &mut out, qscratch).ok()?;
    let dattn = Attn::open(image).ok()?;
    let q16 = data::floats(data::DEVICE_QUERIES)?.get(..dev.d)?;
    let o16 = out.get_mut(..dev.dv)?;
    prof_mark_5();
    dattn.query(q16, o16, qscratch).ok()?;
    prof_mark_6();
    Some(())
}

#[cortex_m_rt::entry]
fn main() -> ! {
    let ok = run().is_some();
    qemu_fw::exit(if ok { 0 } else { qemu_fw::EXIT_CHECK_FAILED })
}
