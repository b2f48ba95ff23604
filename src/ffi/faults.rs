//! Fault injection through the C ABI: an entropy callback failing on its k-th call, for
//! **every** k up to the number of calls of a tiny build (flat and tree, `dpx_build` and
//! the streaming trio), failing either from then on or only that once. Each time the
//! status must be `DPX_ERR_RNG`, the callback must not be called again, image and scratch
//! must be all zero, and `dpx_open` must refuse the image (and not write the handle).
//! (The Rust-API sweep is `mechanism::faults`; the C tests in `ffi-tests/` sample k.)

use super::*;
use crate::mechanism::{Params, Plan};
use core::ffi::{c_int, c_void};
use core::ptr::null;
use rand_core::TryRng;

/// An 8-aligned heap buffer.
struct Buf(Vec<u64>, usize);
impl Buf {
    fn new(bytes: usize) -> Self {
        Buf(vec![0u64; bytes.div_ceil(8)], bytes)
    }
    fn bytes(&mut self) -> &mut [u8] {
        let n = self.1;
        &mut bytemuck::cast_slice_mut::<u64, u8>(&mut self.0)[..n]
    }
    fn get(&self) -> &[u8] {
        &bytemuck::cast_slice::<u64, u8>(&self.0)[..self.1]
    }
    fn fill(&mut self, b: u8) {
        self.bytes().fill(b);
    }
}

/// The tiny configuration of `mechanism::faults`: d = dv = 1, degree 2, n_max 8, five rows;
/// flat (block 0) or tree (block 2: nodes noised inside push and inside finish).
fn tiny(block: u32) -> (Plan, Vec<f32>, Vec<f32>) {
    let mut p = Params::new(1, 1, 8);
    p.block = block;
    let plan = Plan::new(&p).unwrap();
    let keys = vec![0.9, -0.4, 0.1, 1.0, -1.0];
    let values = vec![-0.2, 0.7, 1.0, -0.9, 0.3];
    (plan, keys, values)
}

/// Callback state: a SplitMix64 stream failing on call `fail_at` (and after, or only
/// once), with a non-zero code the library must turn into `DPX_ERR_RNG`.
struct Ctx {
    inner: crate::testutil::TestRng,
    fail_at: u64,
    sticky: bool,
    calls: u64,
}

unsafe extern "C" fn fill(ctx: *mut c_void, buf: *mut u8, len: usize) -> c_int {
    // SAFETY: the tests pass a `*mut Ctx` and the library a buffer valid for `len`.
    let (c, dst) = unsafe {
        (
            &mut *ctx.cast::<Ctx>(),
            core::slice::from_raw_parts_mut(buf, len),
        )
    };
    let k = c.calls;
    c.calls += 1;
    if k == c.fail_at || (c.sticky && k > c.fail_at) {
        return -77;
    }
    match c.inner.try_fill_bytes(dst) {
        Ok(()) => 0,
    }
}

fn c_params(block: u32) -> dpx_params {
    // The same tiny configuration as the Rust sweep (`tiny`), via the C defaults.
    let (plan, _, _) = tiny(block);
    dpx_params::from(plan.params())
}

/// One-shot (`dpx_build`) or streaming (begin, push 2 rows, push 3 rows, finish).
fn run(block: u32, streaming: bool, ctx: &mut Ctx, img: &mut Buf, scr: &mut Buf) -> i32 {
    let (_, keys, values) = tiny(block);
    let p = c_params(block);
    let cx: *mut c_void = (ctx as *mut Ctx).cast();
    let (ni, ns) = (img.1, scr.1);
    img.fill(0xC3);
    scr.fill(0x3C);
    let ip: *mut c_void = img.bytes().as_mut_ptr().cast();
    let sp: *mut c_void = scr.bytes().as_mut_ptr().cast();
    // SAFETY: every buffer is valid for its stated length, and disjoint.
    unsafe {
        if !streaming {
            return dpx_build(
                &p,
                ip,
                ni,
                keys.as_ptr(),
                values.as_ptr(),
                5,
                Some(fill),
                cx,
                sp,
                ns,
            );
        }
        let s = dpx_build_begin(&p, ip, ni, sp, ns);
        if s != DPX_OK {
            return s;
        }
        for (a, b) in [(0usize, 2usize), (2, 5)] {
            let s = dpx_build_push(
                ip,
                ni,
                keys[a..b].as_ptr(),
                values[a..b].as_ptr(),
                b - a,
                Some(fill),
                cx,
                sp,
                ns,
            );
            if s != DPX_OK {
                return s;
            }
        }
        dpx_build_finish(ip, ni, Some(fill), cx, sp, ns)
    }
}

fn sweep(block: u32) -> u64 {
    let p = c_params(block);
    let mut plan = core::mem::MaybeUninit::<dpx_plan>::uninit();
    // SAFETY: valid pointers.
    assert_eq!(unsafe { dpx_plan_new(&p, plan.as_mut_ptr()) }, DPX_OK);
    // SAFETY: written on DPX_OK.
    let plan = unsafe { plan.assume_init() };
    let mut img = Buf::new(plan.image_bytes);
    let mut scr = Buf::new(plan.scratch_bytes);
    let mut reference: Option<Vec<u8>> = None;
    let mut total = 0;
    for streaming in [false, true] {
        let mut ok = Ctx {
            inner: crate::testutil::TestRng(0xFA17),
            fail_at: u64::MAX,
            sticky: true,
            calls: 0,
        };
        assert_eq!(run(block, streaming, &mut ok, &mut img, &mut scr), DPX_OK);
        match &reference {
            None => {
                reference = Some(img.get().to_vec());
                total = ok.calls;
            }
            Some(r) => {
                assert_eq!(r, img.get(), "streaming changed the image");
                assert_eq!(ok.calls, total);
            }
        }
        for sticky in [true, false] {
            for k in 0..total {
                let mut c = Ctx {
                    inner: crate::testutil::TestRng(0xFA17),
                    fail_at: k,
                    sticky,
                    calls: 0,
                };
                let what = format!("C block {block} streaming {streaming} k {k} {sticky}");
                assert_eq!(
                    run(block, streaming, &mut c, &mut img, &mut scr),
                    DPX_ERR_RNG,
                    "{what}"
                );
                assert_eq!(c.calls, k + 1, "{what}: callback called after it failed");
                assert!(img.get().iter().all(|&b| b == 0), "{what}: image");
                assert!(scr.get().iter().all(|&b| b == 0), "{what}: scratch");
                let mut h: *const dpx_attn = null();
                // SAFETY: valid pointers.
                let s = unsafe { dpx_open(img.bytes().as_ptr().cast(), img.1, &mut h) };
                assert_eq!(s, DPX_ERR_BAD_MAGIC, "{what}");
                assert!(h.is_null(), "{what}: handle written on failure");
            }
        }
    }
    // The C path draws exactly what the Rust path draws, one callback call per word.
    let (rust_plan, keys, values) = tiny(block);
    let mut rimg = Buf::new(rust_plan.image_bytes());
    let mut rscr = Buf::new(rust_plan.build_scratch_bytes());
    let mut rng = crate::testutil::TestRng(0xFA17);
    crate::mechanism::build(
        &rust_plan,
        rimg.bytes(),
        &keys,
        &values,
        &mut rng,
        rscr.bytes(),
    )
    .unwrap();
    assert_eq!(
        Some(rimg.get().to_vec()),
        reference,
        "C and Rust images differ"
    );
    total
}

#[test]
fn c_callback_failure_at_every_call_flat() {
    let total = sweep(0);
    eprintln!("C ABI flat: callback failure at each of {total} calls × 2 APIs × 2 modes");
    assert!(total >= 5);
}

#[test]
fn c_callback_failure_at_every_call_tree() {
    let total = sweep(2);
    eprintln!("C ABI tree: callback failure at each of {total} calls × 2 APIs × 2 modes");
    assert!(total >= 35);
}

/// `dpx_query_batch` on a tree image of zero rows (no block to query) refuses with
/// `DPX_ERR_INVALID_RANGE` and writes nothing (it used to fail inside its loop and
/// zero-fill `out`, breaking "outputs only on success"; found while removing panic paths).
#[test]
fn query_batch_on_an_empty_tree_writes_nothing() {
    let (plan, _, _) = tiny(2);
    let p = dpx_params::from(plan.params());
    let mut img = Buf::new(plan.image_bytes());
    let mut scr = Buf::new(plan.build_scratch_bytes());
    let mut ctx = Ctx {
        inner: crate::testutil::TestRng(1),
        fail_at: u64::MAX,
        sticky: true,
        calls: 0,
    };
    let ip: *mut c_void = img.bytes().as_mut_ptr().cast();
    let (ni, ns) = (img.1, scr.1);
    let sp: *mut c_void = scr.bytes().as_mut_ptr().cast();
    // SAFETY: valid, disjoint buffers of the stated lengths; n = 0 with NULL rows.
    let s = unsafe {
        dpx_build(
            &p,
            ip,
            ni,
            null(),
            null(),
            0,
            Some(fill),
            (&raw mut ctx).cast(),
            sp,
            ns,
        )
    };
    assert_eq!(s, DPX_OK);
    let mut h: *const dpx_attn = null();
    // SAFETY: valid pointers.
    assert_eq!(unsafe { dpx_open(ip, ni, &mut h) }, DPX_OK);
    let mut qs = Buf::new(plan.query_scratch_bytes());
    let q = [0.5f32, -0.5];
    let mut out = [7.0f32; 2];
    let mut info = [dpx_query_info { floor_used: 9 }; 2];
    // SAFETY: valid pointers of the stated lengths.
    let s = unsafe {
        dpx_query_batch(
            h,
            q.as_ptr(),
            2,
            out.as_mut_ptr(),
            2,
            info.as_mut_ptr(),
            2,
            qs.bytes().as_mut_ptr().cast(),
            qs.1,
        )
    };
    assert_eq!(s, DPX_ERR_INVALID_RANGE);
    assert_eq!(out, [7.0; 2]);
    assert!(info.iter().all(|i| i.floor_used == 9));
}
