//! QEMU test firmware: runs the mechanism on the device, checks it bit for bit against the
//! host, and measures instructions (SysTick + `-icount`, calibrated), stack high-water
//! marks (painting) and image sizes.
//!
//! 1. **project golden vectors** (`ffi-tests/golden/vectors.txt`): build the `flat`,
//!    `tree` and `laplace` images on the device from the formula inputs with the
//!    SplitMix64 byte-stream RNG (seed 42); each image's SHA-256, computed on the device,
//!    and every query's output bits and floor flag must equal the file's;
//! 2. **device case**: plan and build a larger image (d = dv = 16, or 8 on the micro:bit)
//!    from bundled inputs; it must equal the host-built image byte for byte; then open it
//!    and answer the golden queries;
//! 3. **flash cases**: open the host-built MiniLM head image (d = dv = 32, s = 2) in place,
//!    in flash, and answer its queries zero-copy; on the micro:bit also the d = 16 image.
//!
//! Prints `ok - …`/`FAIL - …` per check, one `qemu-fw: RESULT key=value…` line that
//! `run.sh` parses, and exits 0 only if every check passed (1 otherwise, 101 on panic,
//! 3 on HardFault). Features `inject-fail` / `inject-hang` are the negative controls.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use dpxattn::AlignedBuf;
use qemu_fw::PROFILE;
use qemu_fw::stack::Usage;
use qemu_fw::{data, measure, stack};
use qemu_workload::{self as wl, Attn, FLASH, FLASH16, Plan, TestRng};
use semihosting::println;
use sha2::{Digest, Sha256};

// Caller buffers live in static RAM, as they would in an application: only what the library
// itself pushes shows up in the stack measurement. Sizes come from the plan at run time;
// the capacities are checked against them.
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
    let mut all_ok = attn.d() == case.d && attn.dv() == case.dv;
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
    println!(
        "{}: d={} dv={} r={} rows={}",
        case.name,
        attn.d(),
        attn.dv(),
        attn.plan().features(),
        attn.rows()
    );
    c.check(
        match case.name {
            "device" => "device: queries match host outputs bit for bit",
            "flash16" => "flash16: queries match host outputs bit for bit",
            _ => "flash: queries match host outputs bit for bit",
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

/// Results of the project golden vectors.
#[derive(Default)]
struct Vectors {
    build_instr: u64,
    query_instr: u64,
    build_stack: usize,
    query_stack: usize,
}

/// Build every configuration of `ffi-tests/golden/vectors.txt` on the device and check the
/// image SHA-256 and every query line.
fn run_vectors(
    c: &mut Checks,
    cal: &measure::Calibration,
    image_buf: &mut [u8],
    scratch_buf: &mut [u8],
    qscratch: &mut [u8],
) -> Vectors {
    use wl::{GOLDEN_D, GOLDEN_DV, GOLDEN_N};
    let mut res = Vectors::default();
    let mut keys = [0f32; GOLDEN_N * GOLDEN_D];
    let mut values = [0f32; GOLDEN_N * GOLDEN_DV];
    for (x, k) in keys.iter_mut().enumerate() {
        *k = wl::golden_key(x / GOLDEN_D, x % GOLDEN_D);
    }
    for (x, v) in values.iter_mut().enumerate() {
        *v = wl::golden_value(x / GOLDEN_DV, x % GOLDEN_DV);
    }
    for (ci, (name, &(want_len, want_sha))) in wl::GOLDEN
        .iter()
        .zip(data::VECTOR_IMAGES.iter())
        .enumerate()
    {
        let Ok(plan) = Plan::new(&wl::golden_params(name)) else {
            c.check("vectors: plan", false);
            continue;
        };
        let (Some(image), Some(scratch)) = (
            image_buf.get_mut(..plan.image_bytes()),
            scratch_buf.get_mut(..plan.build_scratch_bytes()),
        ) else {
            c.check("vectors: plan sizes fit the profile's capacities", false);
            continue;
        };
        // Timed build, then a second build under stack measurement (interrupts are masked
        // there, so SysTick wraps could not be counted): both must give the file's image.
        let mut rng = TestRng::new(wl::GOLDEN_SEED);
        let (t, r) = measure::ticks(|| wl::build(&plan, image, &keys, &values, &mut rng, scratch));
        res.build_instr = res.build_instr.max(cal.instructions(t));
        let sha: [u8; 32] = Sha256::digest(&*image).into();
        let mut ok = r == Ok(want_len) && sha == want_sha;
        image.fill(0);
        let mut rng = TestRng::new(wl::GOLDEN_SEED);
        let (u, r) = stack::measure(|| wl::build(&plan, image, &keys, &values, &mut rng, scratch));
        let build_stack = stack_bytes(c, "vectors: build stack", u);
        res.build_stack = res.build_stack.max(build_stack);
        let sha2: [u8; 32] = Sha256::digest(&*image).into();
        ok &= r == Ok(want_len) && sha2 == want_sha;
        println!("vectors {}: build stack {} bytes", name, build_stack);
        println!(
            "vectors {}: build {} instructions, {} bytes, sha256 {:02x}{:02x}{:02x}{:02x}… match={}",
            name,
            cal.instructions(t),
            image.len(),
            sha[0],
            sha[1],
            sha[2],
            sha[3],
            ok
        );
        let Ok(attn) = Attn::open(image) else {
            c.check("vectors: open", false);
            continue;
        };
        let mut lines = 0;
        for &(cfg, a, b, m, floor, bits) in data::VECTOR_QUERIES.iter() {
            if cfg != ci {
                continue;
            }
            let mut q = [0f32; GOLDEN_D];
            for (j, x) in q.iter_mut().enumerate() {
                *x = wl::golden_query(m, j);
            }
            let mut out = [0f32; GOLDEN_DV];
            let (t, r) = measure::ticks(|| attn.query_range(a, b, &q, &mut out, qscratch));
            res.query_instr = res.query_instr.max(cal.instructions(t));
            let mut same = matches!(r, Ok(info) if info.floor_used == floor)
                && out.iter().zip(bits).all(|(o, w)| o.to_bits() == w);
            out.fill(0.0);
            let (u, r) = stack::measure(|| attn.query_range(a, b, &q, &mut out, qscratch));
            res.query_stack = res
                .query_stack
                .max(stack_bytes(c, "vectors: query stack", u));
            same &= matches!(r, Ok(info) if info.floor_used == floor)
                && out.iter().zip(bits).all(|(o, w)| o.to_bits() == w);
            ok &= same;
            lines += 1;
        }
        println!("vectors {}: {} query lines checked", name, lines);
        c.check(
            match *name {
                "flat" => "vectors flat: image SHA-256 and query bits match vectors.txt",
                "tree" => "vectors tree: image SHA-256 and query bits match vectors.txt",
                _ => "vectors laplace: image SHA-256 and query bits match vectors.txt",
            },
            ok && lines > 0,
        );
    }
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
        "qemu-fw: machine {} workload {} (device d={} dv={} n={}; flash d={} dv={} n={})",
        qemu_fw::MACHINE,
        wl::NAME,
        DEVICE.d,
        DEVICE.dv,
        DEVICE.n,
        FLASH.d,
        FLASH.dv,
        FLASH.n
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

    // --- project golden vectors ---------------------------------------------------------
    let vec = run_vectors(&mut c, &cal, image_buf, scratch_buf, qscratch);

    // --- device case: plan and build ----------------------------------------------------
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
    let params = wl::params(&DEVICE);
    let (t_plan, plan) = measure::ticks(|| Plan::new(&params));
    let plan_instr = cal.instructions(t_plan);
    let (u, plan2) = stack::measure(|| Plan::new(&params));
    let plan_stack = stack_bytes(&mut c, "plan stack within window", u);
    c.check("device: plan is deterministic", plan2 == plan);
    let Ok(plan) = plan else {
        c.check("device: plan", false);
        qemu_fw::exit(qemu_fw::EXIT_CHECK_FAILED)
    };
    // The shipped plan (`Plan::write_to` on the host) must be the plan the device computes.
    c.check(
        "device: Plan::new on the device equals the host plan (Plan::read_from)",
        Plan::read_from(&data::DEVICE_PLAN.0) == Ok(plan),
    );
    println!(
        "device: plan {} instructions, {} stack bytes",
        plan_instr, plan_stack
    );
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
    println!("device: build stack {} bytes", build_stack);

    // --- device case: queries on the RAM image ------------------------------------------
    let dev = run_queries(&mut c, &cal, &DEVICE, image, dq, dexp, qscratch);

    // --- flash cases: host-built images opened in place ----------------------------------
    let flash_image = &data::FLASH_IMAGE.0;
    // On every machine here flash/code memory is below 0x2000_0000 and RAM above it.
    c.check(
        "flash: image is in flash (opened in place, not copied)",
        (flash_image.as_ptr() as usize) < 0x2000_0000,
    );
    let fl = run_queries(&mut c, &cal, &FLASH, flash_image, fq, fexp, qscratch);
    let (d16_instr, d16_stack) = if PROFILE.flash16 {
        match (
            data::floats(data::FLASH16_QUERIES),
            data::floats(data::FLASH16_EXPECTED),
        ) {
            (Some(q), Some(e)) => {
                let r = run_queries(
                    &mut c,
                    &cal,
                    &FLASH16,
                    &data::FLASH16_IMAGE.0,
                    q,
                    e,
                    qscratch,
                );
                (r.max_instr, r.stack)
            }
            _ => {
                c.check("flash16 data readable as f32", false);
                (0, 0)
            }
        }
    } else {
        (dev.max_instr, dev.stack)
    };

    let query_stack = dev.stack.max(fl.stack).max(d16_stack).max(vec.query_stack);
    let build_stack = build_stack.max(vec.build_stack);
    let stack_max = build_stack.max(plan_stack).max(query_stack);
    println!(
        "qemu-fw: RESULT machine={} workload={} query_instr={} build_instr={} stack_bytes={} build_includes_plan=0 \
         d16_query_instr={} device={}x{}x{} device_query_instr={} plan_instr={} \
         build_stack={} plan_stack={} query_stack={} vectors_build_instr={} vectors_query_instr={} \
         image_bytes={} flash_image_bytes={} open_instr={} flash_open_instr={}",
        qemu_fw::MACHINE,
        wl::NAME,
        fl.max_instr,
        build_instr,
        stack_max,
        d16_instr,
        DEVICE.d,
        DEVICE.dv,
        DEVICE.n,
        dev.max_instr,
        plan_instr,
        build_stack,
        plan_stack,
        query_stack,
        vec.build_instr,
        vec.query_instr,
        golden_image.len(),
        flash_image.len(),
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
