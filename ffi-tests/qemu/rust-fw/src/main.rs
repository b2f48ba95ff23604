//! QEMU test firmware: runs the workload on the device, checks it bit for bit against the
//! host golden vectors, and measures instructions (SysTick + `-icount`, calibrated), stack
//! high-water marks (painting) and image sizes.
//!
//! 1. **device case**: build an image on the device from bundled inputs with the
//!    deterministic test RNG; it must equal the host-built image byte for byte; then open it
//!    and answer the golden queries.
//! 2. **flash case**: open the host-built image in place, in flash (`include_bytes!`), and
//!    answer the golden queries zero-copy.
//!
//! Prints `ok - …`/`FAIL - …` per check, one `qemu-fw: RESULT key=value…` line that
//! `run.sh` parses, and exits 0 only if every check passed (1 otherwise, 101 on panic,
//! 3 on HardFault). Features `inject-fail` / `inject-hang` are the negative controls.
//!
//! Everything workload-specific goes through `qemu_workload` (`plan`, `build`,
//! `Attn::open`, `query`), whose API mirrors the mechanism's.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use dpxattn::AlignedBuf;
use qemu_fw::PROFILE;
use qemu_fw::stack::Usage;
use qemu_fw::{data, measure, stack};
use qemu_workload::{self as wl, Attn, FLASH, TestRng};
use semihosting::println;

// Caller buffers live in static RAM, as they would in an application: only what the library
// itself pushes shows up in the stack measurement. Sizes come from the plan at run time
// (as with the mechanism); the capacities are checked against them.
static mut IMAGE: AlignedBuf<{ PROFILE.image_cap }> = AlignedBuf::new();
static mut SCRATCH: AlignedBuf<{ PROFILE.scratch_cap }> = AlignedBuf::new();
static mut QSCRATCH: AlignedBuf<{ PROFILE.qscratch_cap }> = AlignedBuf::new();
const DEVICE: wl::Case = PROFILE.device;

/// XOR-ed into the bits of one expected value by the `inject-fail` negative control.
const FLIP: u32 = if cfg!(feature = "inject-fail") { 1 } else { 0 };

struct Checks {
    passed: u32,
    failed: u32,
}

impl Checks {
    fn check(&mut self, name: &str, ok: bool) {
        if ok {
            self.passed += 1;
            println!("ok - {}", name);
        } else {
            self.failed += 1;
            println!("FAIL - {}", name);
        }
    }
}

fn stack_bytes(c: &mut Checks, what: &str, u: Usage) -> usize {
    match u {
        Usage::Bytes(b) => b,
        Usage::Overflowed => {
            c.check(what, false);
            println!(
                "  stack use exceeds the {} byte paint window",
                stack::WINDOW
            );
            stack::WINDOW
        }
    }
}

/// Per-case results.
#[derive(Default)]
struct Queries {
    open_instr: u64,
    max_instr: u64,
    stack: usize,
}

/// Answer every golden query of `case` from `image`, measuring each one.
fn run_queries(
    c: &mut Checks,
    cal: &measure::Calibration,
    case: &wl::Case,
    image: &[u8],
    queries: &[f32],
    expected: &[f32],
    qscratch: &mut [u8],
) -> Queries {
    let mut res = Queries::default();
    let (t_open, attn) = measure::ticks(|| Attn::open(image));
    let Ok(attn) = attn else {
        c.check("open", false);
        return res;
    };
    res.open_instr = cal.instructions(t_open);
    println!("{}: open {} instructions", case.name, res.open_instr);
    let Some(qscratch) = qscratch.get_mut(..attn.query_scratch_bytes()) else {
        c.check("query scratch fits the profile's qscratch_cap", false);
        return res;
    };
    let mut out = [0f32; wl::DV_MAX];
    let Some(out) = out.get_mut(..attn.dv()) else {
        c.check("dv fits DV_MAX", false);
        return res;
    };
    let mut all_ok = true;
    for (i, (q, want)) in queries
        .chunks_exact(case.d)
        .zip(expected.chunks_exact(case.dv))
        .enumerate()
    {
        out.fill(0.0);
        let (t, r) = measure::ticks(|| attn.query(q, out, qscratch));
        let n = cal.instructions(t);
        res.max_instr = res.max_instr.max(n);
        let flip = if i == 0 { FLIP } else { 0 };
        let same = r.is_ok()
            && out.len() == want.len()
            && out.iter().zip(want).enumerate().all(|(j, (o, w))| {
                o.to_bits()
                    == if j == 0 {
                        w.to_bits() ^ flip
                    } else {
                        w.to_bits()
                    }
            });
        println!(
            "{}: query {} {} instructions, match={}",
            case.name, i, n, same
        );
        all_ok &= same;
    }
    c.check(
        if case.name == "device" {
            "device: queries match host outputs bit for bit"
        } else {
            "flash: queries match host outputs bit for bit"
        },
        all_ok,
    );
    // Stack of one query, outputs checked again so the measured run is a real one.
    let q0 = queries.get(..case.d).unwrap_or(&[]);
    let (u, r) = stack::measure(|| attn.query(q0, out, qscratch));
    let want0 = expected.get(..case.dv).unwrap_or(&[]);
    c.check(
        "query under stack measurement",
        r.is_ok() && wl::same_bits(out, want0),
    );
    res.stack = stack_bytes(c, "query stack within window", u);
    res
}

#[entry]
fn main() -> ! {
    let Some(mut cp) = cortex_m::Peripherals::take() else {
        qemu_fw::exit(qemu_fw::EXIT_CHECK_FAILED)
    };
    let mut c = Checks {
        passed: 0,
        failed: 0,
    };
    println!(
        "qemu-fw: machine {} workload {} (device d={} dv={} n={}; flash d={} dv={})",
        qemu_fw::MACHINE,
        wl::NAME,
        DEVICE.d,
        DEVICE.dv,
        DEVICE.n,
        FLASH.d,
        FLASH.dv
    );

    // --- calibration -------------------------------------------------------------------
    measure::start(&mut cp.SYST);
    let cal = measure::calibrate();
    println!(
        "calibration: empty={} ticks, {} ticks per 1000 instructions, spin overhead {}, check {} vs {} ({} SysTick wraps)",
        cal.empty,
        cal.ticks_per_1000(),
        cal.spin_overhead,
        cal.check_measured,
        cal.check_expected,
        cal.check_ticks >> 24
    );
    c.check("calibration self-check on a known loop", cal.ok());
    let (u, _) = stack::measure(|| stack::known_usage(core::hint::black_box(7)));
    println!(
        "stack self-check: {:?} for a {}-byte stack array",
        u,
        stack::KNOWN
    );
    c.check(
        "stack painting measures a known stack array",
        matches!(u, Usage::Bytes(b) if (stack::KNOWN..=stack::KNOWN + stack::KNOWN_SLACK).contains(&b)),
    );

    // SAFETY: the only references to these statics, taken once, before any other use.
    let image_buf = unsafe { qemu_fw::static_bytes(&raw mut IMAGE) };
    let scratch_buf = unsafe { qemu_fw::static_bytes(&raw mut SCRATCH) };
    let qscratch = unsafe { qemu_fw::static_bytes(&raw mut QSCRATCH) };

    // --- device case: build -------------------------------------------------------------
    let (Some(keys), Some(values), Some(dq), Some(dexp), Some(fq), Some(fexp)) = (
        data::floats(data::DEVICE_KEYS),
        data::floats(data::DEVICE_VALUES),
        data::floats(data::DEVICE_QUERIES),
        data::floats(data::DEVICE_EXPECTED),
        data::floats(data::FLASH_QUERIES),
        data::floats(data::FLASH_EXPECTED),
    ) else {
        c.check("golden data readable as f32", false);
        qemu_fw::exit(qemu_fw::EXIT_CHECK_FAILED)
    };
    let Ok(plan) = wl::plan(&DEVICE) else {
        c.check("device: plan", false);
        qemu_fw::exit(qemu_fw::EXIT_CHECK_FAILED)
    };
    let (Some(image), Some(scratch)) = (
        image_buf.get_mut(..plan.image_bytes()),
        scratch_buf.get_mut(..plan.build_scratch_bytes()),
    ) else {
        c.check("device: plan sizes fit the profile's capacities", false);
        qemu_fw::exit(qemu_fw::EXIT_CHECK_FAILED)
    };
    let golden_image = &data::DEVICE_IMAGE.0;
    let mut rng = TestRng::new(DEVICE.seed);
    let (t_build, r) = measure::ticks(|| wl::build(&plan, image, keys, values, &mut rng, scratch));
    let build_instr = cal.instructions(t_build);
    println!(
        "device: build {} instructions, image {} bytes, fingerprint {:016x} (host {:016x})",
        build_instr,
        image.len(),
        wl::fingerprint(image),
        wl::fingerprint(golden_image)
    );
    c.check("device: build ok", r == Ok(golden_image.len()));
    c.check(
        "device: image equals the host-built image byte for byte",
        image[..] == golden_image[..],
    );
    // Build again under stack measurement (fresh RNG, zeroed image: the bytes must reappear).
    image.fill(0);
    let mut rng = TestRng::new(DEVICE.seed);
    let (u, r) = stack::measure(|| wl::build(&plan, image, keys, values, &mut rng, scratch));
    c.check(
        "device: build under stack measurement reproduces the image",
        r.is_ok() && image[..] == golden_image[..],
    );
    let build_stack = stack_bytes(&mut c, "build stack within window", u);

    // --- device case: queries on the RAM image ------------------------------------------
    let dev = run_queries(&mut c, &cal, &DEVICE, image, dq, dexp, qscratch);

    // --- flash case: host-built image opened in place ------------------------------------
    let flash_image = &data::FLASH_IMAGE.0;
    // On every machine here flash/code memory is below 0x2000_0000 and RAM above it.
    c.check(
        "flash: image is in flash (opened in place, not copied)",
        (flash_image.as_ptr() as usize) < 0x2000_0000,
    );
    let fl = run_queries(&mut c, &cal, &FLASH, flash_image, fq, fexp, qscratch);

    let stack_max = build_stack.max(dev.stack).max(fl.stack);
    println!(
        "qemu-fw: RESULT machine={} workload={} device={}x{}x{} query_instr={} build_instr={} stack_bytes={} \
         build_stack={} query_stack={} flash_query_instr={} flash_query_stack={} \
         image_bytes={} flash_image_bytes={} open_instr={} flash_open_instr={}",
        qemu_fw::MACHINE,
        wl::NAME,
        DEVICE.d,
        DEVICE.dv,
        DEVICE.n,
        dev.max_instr,
        build_instr,
        stack_max,
        build_stack,
        dev.stack,
        fl.max_instr,
        fl.stack,
        golden_image.len(),
        data::FLASH_IMAGE.0.len(),
        dev.open_instr,
        fl.open_instr
    );
    println!("qemu-fw: {} passed, {} failed", c.passed, c.failed);

    #[cfg(feature = "inject-hang")]
    loop {
        core::hint::spin_loop();
    }
    #[cfg(not(feature = "inject-hang"))]
    qemu_fw::exit(if c.failed == 0 {
        0
    } else {
        qemu_fw::EXIT_CHECK_FAILED
    })
}
