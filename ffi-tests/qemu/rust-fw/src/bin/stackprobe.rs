//! Diagnostics (not run by `run.sh`): stack high-water mark of each build and query step.
#![no_std]
#![no_main]

use dpxattn::AlignedBuf;
use dpxattn::mechanism::{Builder, Rows, build_begin, build_finish, build_push};
use qemu_fw::{PROFILE, data, stack};
use qemu_workload::{self as wl, Attn, Plan, TestRng};
use semihosting::println;

static mut IMAGE: AlignedBuf<{ PROFILE.image_cap }> = AlignedBuf::new();
static mut SCRATCH: AlignedBuf<{ PROFILE.scratch_cap }> = AlignedBuf::new();
static mut QSCRATCH: AlignedBuf<{ PROFILE.qscratch_cap }> = AlignedBuf::new();

#[cortex_m_rt::entry]
fn main() -> ! {
    // SAFETY: the only references to these statics, taken once.
    let image = unsafe { qemu_fw::static_bytes(&raw mut IMAGE) };
    let scratch = unsafe { qemu_fw::static_bytes(&raw mut SCRATCH) };
    let qscratch = unsafe { qemu_fw::static_bytes(&raw mut QSCRATCH) };
    let dev = PROFILE.device;
    let params = wl::params(&dev);
    let (u, plan) = stack::measure(|| Plan::new(&params));
    println!("Plan::new {:?}", u);
    let plan = plan.unwrap();
    let (u, _) = stack::measure(|| Plan::read_from(&data::DEVICE_PLAN.0));
    println!("Plan::read_from {:?}", u);
    let keys = data::floats(data::DEVICE_KEYS).unwrap();
    let values = data::floats(data::DEVICE_VALUES).unwrap();
    let image = &mut image[..plan.image_bytes()];
    let scratch = &mut scratch[..plan.build_scratch_bytes()];
    let (u, r) = stack::measure(|| build_begin(&plan, image, scratch));
    println!("build_begin {:?} {:?}", u, r);
    let mut rng = TestRng::new(dev.seed);
    let (u, r) = stack::measure(|| {
        build_push(
            image,
            scratch,
            Rows::F32(&keys[..dev.d]),
            Rows::F32(&values[..dev.dv]),
            &mut rng,
        )
    });
    println!("build_push 1 row {:?} {:?}", u, r);
    let (u, r) = stack::measure(|| {
        build_push(
            image,
            scratch,
            Rows::F32(&keys[dev.d..]),
            Rows::F32(&values[dev.dv..]),
            &mut rng,
        )
    });
    println!("build_push rest {:?} {:?}", u, r);
    let (u, r) = stack::measure(|| build_finish(image, scratch, &mut rng));
    println!("build_finish {:?} {:?}", u, r);
    let mut rng = TestRng::new(dev.seed);
    let (u, r) = stack::measure(|| wl::build(&plan, image, keys, values, &mut rng, scratch));
    println!("build (one shot) {:?} {:?}", u, r.is_ok());
    let mut rng = TestRng::new(dev.seed);
    let (u, r) = stack::measure(|| {
        let mut b = Builder::begin(&plan, image, scratch)?;
        b.push_f32(keys, values, &mut rng)?;
        b.finish(&mut rng)
    });
    println!("Builder {:?} {:?}", u, r.is_ok());
    let (u, a) = stack::measure(|| Attn::open(&data::FLASH_IMAGE.0));
    println!("open {:?}", u);
    let a = a.unwrap();
    let q = data::floats(data::FLASH_QUERIES).unwrap();
    let mut out = [0f32; 32];
    let (u, r) = stack::measure(|| a.query(&q[..32], &mut out, qscratch));
    println!("query {:?} {:?}", u, r);
    qemu_fw::exit(0)
}
