//! Rust-side tests of the C ABI: the entry points called as C would call them, compared
//! with the Rust API bit for bit. (The C and C++ tests in `ffi-tests/` cover the same
//! ground from a real C compiler; these also run under Miri.)

use super::*;
use crate::mechanism::{Attn, Params, Plan, Rows, build, build_rows};
use crate::testutil::TestRng;
use core::ffi::{CStr, c_int, c_void};
use core::ptr::{null, null_mut};
use rand_core::TryRng;

/// An 8-aligned heap buffer.
struct Buf(Vec<u64>, usize);
impl Buf {
    fn new(bytes: usize) -> Self {
        Buf(vec![0u64; bytes.div_ceil(8) + 1], bytes)
    }
    fn ptr(&mut self) -> *mut c_void {
        self.0.as_mut_ptr().cast()
    }
    fn bytes(&mut self) -> &mut [u8] {
        let n = self.1;
        &mut bytemuck::cast_slice_mut::<u64, u8>(&mut self.0)[..n]
    }
    fn get(&self) -> &[u8] {
        &bytemuck::cast_slice::<u64, u8>(&self.0)[..self.1]
    }
}

/// `dpx_fill_fn` drawing from a `TestRng` passed as ctx: the same byte stream the Rust API
/// sees from `TestRng` itself (one LE word per 8 bytes).
unsafe extern "C" fn fill_test(ctx: *mut c_void, buf: *mut u8, len: usize) -> c_int {
    // SAFETY: the tests pass a `*mut TestRng` as ctx and a valid buffer.
    let (rng, dst) = unsafe {
        (
            &mut *ctx.cast::<TestRng>(),
            core::slice::from_raw_parts_mut(buf, len),
        )
    };
    match rng.try_fill_bytes(dst) {
        Ok(()) => 0,
    }
}

/// Succeeds `*ctx` times, then fails with -5.
unsafe extern "C" fn fill_countdown(ctx: *mut c_void, buf: *mut u8, len: usize) -> c_int {
    // SAFETY: the tests pass a `*mut u32` as ctx and a valid buffer.
    let left = unsafe { &mut *ctx.cast::<u32>() };
    if *left == 0 {
        return -5;
    }
    *left -= 1;
    // SAFETY: `buf` is valid for `len` bytes.
    unsafe { core::ptr::write_bytes(buf, 0x5A, len) };
    0
}

fn rows(seed: u64, n: usize, dim: usize) -> Vec<f32> {
    let mut s = seed;
    (0..n * dim)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn c_params(d: u32, dv: u32, n_max: u32, block: u32) -> dpx_params {
    let mut p = core::mem::MaybeUninit::<dpx_params>::uninit();
    // SAFETY: valid for writing one dpx_params.
    unsafe { dpx_params_init(p.as_mut_ptr(), d, dv, n_max) };
    // SAFETY: dpx_params_init wrote every field.
    let mut p = unsafe { p.assume_init() };
    p.block = block;
    p
}

fn plan_of(p: &dpx_params) -> dpx_plan {
    let mut out = core::mem::MaybeUninit::<dpx_plan>::uninit();
    // SAFETY: valid pointers.
    assert_eq!(unsafe { dpx_plan_new(p, out.as_mut_ptr()) }, DPX_OK);
    // SAFETY: written on DPX_OK.
    unsafe { out.assume_init() }
}

struct Built {
    image: Buf,
    plan: dpx_plan,
}

fn c_build(p: &dpx_params, k: &[f32], v: &[f32], seed: u64) -> Built {
    let plan = plan_of(p);
    let mut image = Buf::new(plan.image_bytes);
    let mut scratch = Buf::new(plan.scratch_bytes);
    let mut rng = TestRng(seed);
    let n = k.len() / p.d as usize;
    // SAFETY: valid buffers of the stated lengths.
    let st = unsafe {
        dpx_build(
            p,
            image.ptr(),
            plan.image_bytes,
            k.as_ptr(),
            v.as_ptr(),
            n,
            Some(fill_test),
            (&raw mut rng).cast(),
            scratch.ptr(),
            plan.scratch_bytes,
        )
    };
    assert_eq!(st, DPX_OK);
    assert!(scratch.get().iter().all(|&b| b == 0), "scratch zeroised");
    Built { image, plan }
}

fn open(image: &Buf) -> *const dpx_attn {
    let mut a: *const dpx_attn = null();
    // SAFETY: valid image and out pointer.
    assert_eq!(
        unsafe { dpx_open(image.0.as_ptr().cast(), image.1, &mut a) },
        DPX_OK
    );
    a
}

#[test]
fn params_init_matches_rust_defaults_and_is_null_safe() {
    let p = c_params(16, 8, 100, 0);
    assert_eq!(p.to_params().unwrap(), Params::new(16, 8, 100));
    // SAFETY: NULL is documented as ignored.
    unsafe { dpx_params_init(null_mut(), 1, 1, 1) };
}

#[test]
fn plan_matches_rust_and_errors_leave_out_untouched() {
    let mut p = c_params(8, 4, 64, 4);
    p.clip = 0.5;
    let c = plan_of(&p);
    let r = Plan::new(&p.to_params().unwrap()).unwrap();
    assert_eq!(c, dpx_plan::from(&r));
    assert_eq!(
        (c.image_bytes, c.scratch_bytes, c.features, c.degree),
        (r.image_bytes(), r.build_scratch_bytes(), 45, 2)
    );
    let sentinel = dpx_plan { sigma: -1.0, ..c };
    for (field, want) in [
        (0usize, DPX_ERR_INVALID_EPSILON),
        (1, DPX_ERR_INVALID_PARAMETER),
        (2, DPX_ERR_INVALID_PARAMETER),
        (3, DPX_ERR_INVALID_DIMENSION),
        (4, DPX_ERR_INVALID_CLIP),
    ] {
        let mut bad = p;
        match field {
            0 => bad.epsilon = f64::NAN,
            1 => bad.mechanism = 7,
            2 => bad.flags = 2,
            3 => bad.d = 0,
            _ => bad.clip = 2.0,
        }
        let mut out = sentinel;
        // SAFETY: valid pointers.
        assert_eq!(unsafe { dpx_plan_new(&bad, &mut out) }, want);
        assert_eq!(out, sentinel, "out untouched on error");
    }
    let mut out = sentinel;
    // SAFETY: NULL is checked.
    assert_eq!(unsafe { dpx_plan_new(null(), &mut out) }, DPX_ERR_NULL);
    // SAFETY: NULL is checked.
    assert_eq!(unsafe { dpx_plan_new(&p, null_mut()) }, DPX_ERR_NULL);
}

#[test]
fn c_build_and_query_are_bit_identical_to_rust() {
    let (d, dv, n) = (6usize, 3usize, 40usize);
    let (k, v, q) = (rows(1, n, d), rows(2, n, dv), rows(3, 5, d));
    for block in [0u32, 8] {
        let p = c_params(d as u32, dv as u32, 64, block);
        let c = c_build(&p, &k, &v, 77);
        // The same build through the Rust API.
        let plan = Plan::new(&p.to_params().unwrap()).unwrap();
        let mut image = Buf::new(plan.image_bytes());
        let mut scratch = Buf::new(plan.build_scratch_bytes());
        build(
            &plan,
            image.bytes(),
            &k,
            &v,
            &mut TestRng(77),
            scratch.bytes(),
        )
        .unwrap();
        assert_eq!(c.image.get(), image.get(), "block {block}");

        let attn = Attn::open(image.get()).unwrap();
        let a = open(&c.image);
        let mut qs = Buf::new(c.plan.query_scratch_bytes);
        let mut rs = vec![0u8; attn.query_scratch_bytes() + 8];
        let off = rs.as_ptr().align_offset(8);
        let blocks = attn.blocks();
        for qi in q.chunks_exact(d) {
            let mut want = [0f32; 3];
            attn.query(qi, &mut want, &mut rs[off..]).unwrap();
            let mut got = [9f32; 3];
            // SAFETY: valid buffers.
            let st = unsafe { dpx_query(a, qi.as_ptr(), d, got.as_mut_ptr(), dv, qs.ptr(), qs.1) };
            assert_eq!(st, DPX_OK);
            assert_eq!(got.map(f32::to_bits), want.map(f32::to_bits));
            for (b0, b1) in [(0, blocks), (0, 1), (blocks - 1, blocks)] {
                let wi = attn
                    .query_range(b0, b1, qi, &mut want, &mut rs[off..])
                    .unwrap();
                let mut info = dpx_query_info { floor_used: 9 };
                // SAFETY: valid buffers.
                let st = unsafe {
                    dpx_query_ex(
                        a,
                        b0,
                        b1,
                        qi.as_ptr(),
                        d,
                        got.as_mut_ptr(),
                        dv,
                        &mut info,
                        qs.ptr(),
                        qs.1,
                    )
                };
                assert_eq!(st, DPX_OK);
                assert_eq!(got.map(f32::to_bits), want.map(f32::to_bits));
                assert_eq!(info.floor_used, u32::from(wi.floor_used));
            }
        }
        // Batch = one query at a time.
        let mut out = vec![0f32; 5 * dv];
        let mut infos = vec![dpx_query_info { floor_used: 7 }; 5];
        // SAFETY: valid buffers.
        let st = unsafe {
            dpx_query_batch(
                a,
                q.as_ptr(),
                q.len(),
                out.as_mut_ptr(),
                out.len(),
                infos.as_mut_ptr(),
                5,
                qs.ptr(),
                qs.1,
            )
        };
        assert_eq!(st, DPX_OK);
        for (qi, oi) in q.chunks_exact(d).zip(out.chunks_exact(dv)) {
            let mut want = [0f32; 3];
            attn.query(qi, &mut want, &mut rs[off..]).unwrap();
            assert_eq!(oi, want);
        }
        assert!(infos.iter().all(|i| i.floor_used <= 1));
        let mut b = core::mem::MaybeUninit::<dpx_bound>::uninit();
        // SAFETY: valid pointers.
        assert_eq!(unsafe { dpx_bound(a, 0.05, b.as_mut_ptr()) }, DPX_OK);
        // SAFETY: written on success.
        let b = unsafe { b.assume_init() };
        assert_eq!(b.single, attn.bound(0.05).unwrap().single);
        let mut untouched = b;
        // SAFETY: valid pointers.
        assert_eq!(
            unsafe { dpx_bound(a, 1.5, &mut untouched) },
            DPX_ERR_INVALID_PARAMETER
        );
        assert_eq!(untouched, b, "out untouched on error");
    }
}

#[test]
fn quantised_and_streaming_builds_match_rust() {
    let (d, dv, n) = (4usize, 2usize, 21usize);
    let ki: Vec<i8> = (0..n * d).map(|i| (i * 37 % 255) as u8 as i8).collect();
    let vi: Vec<i16> = (0..n * dv)
        .map(|i| (i as i32 * 1000 - 20000) as i16)
        .collect();
    let p = c_params(d as u32, dv as u32, 32, 4);
    let plan = plan_of(&p);
    let rp = Plan::new(&p.to_params().unwrap()).unwrap();

    // Rust reference: i8 keys/i8 values in one go.
    let vi8: Vec<i8> = vi.iter().map(|&x| (x >> 8) as i8).collect();
    let mut want = Buf::new(plan.image_bytes);
    let mut s = Buf::new(plan.scratch_bytes);
    build_rows(
        &rp,
        want.bytes(),
        Rows::I8(&ki, 0.01),
        Rows::I8(&vi8, 0.02),
        &mut TestRng(5),
        s.bytes(),
    )
    .unwrap();
    let mut got = Buf::new(plan.image_bytes);
    let mut rng = TestRng(5);
    // SAFETY: valid buffers.
    let st = unsafe {
        dpx_build_i8(
            &p,
            got.ptr(),
            got.1,
            ki.as_ptr(),
            0.01,
            vi8.as_ptr(),
            0.02,
            n,
            Some(fill_test),
            (&raw mut rng).cast(),
            s.ptr(),
            s.1,
        )
    };
    assert_eq!(st, DPX_OK);
    assert_eq!(got.get(), want.get());

    // Streaming in uneven i16 chunks (keys as i16 too) = one-shot i16.
    let ki16: Vec<i16> = ki.iter().map(|&x| i16::from(x) * 3).collect();
    build_rows(
        &rp,
        want.bytes(),
        Rows::I16(&ki16, 0.5),
        Rows::I16(&vi, 1e-4),
        &mut TestRng(6),
        s.bytes(),
    )
    .unwrap();
    let mut rng = TestRng(6);
    let ctx: *mut c_void = (&raw mut rng).cast();
    // SAFETY: valid buffers throughout.
    unsafe {
        assert_eq!(dpx_build_begin(&p, got.ptr(), got.1, s.ptr(), s.1), DPX_OK);
        assert_eq!(
            dpx_open(got.ptr(), got.1, &mut null()),
            DPX_ERR_BAD_MAGIC,
            "in progress"
        );
        let mut at = 0;
        for chunk in [0usize, 5, 1, 9, 6] {
            let st = dpx_build_push_i16(
                got.ptr(),
                got.1,
                ki16[at * d..].as_ptr(),
                0.5,
                vi[at * dv..].as_ptr(),
                1e-4,
                chunk,
                Some(fill_test),
                ctx,
                s.ptr(),
                s.1,
            );
            assert_eq!(st, DPX_OK);
            at += chunk;
        }
        assert_eq!(at, n);
        assert_eq!(
            dpx_build_finish(got.ptr(), got.1, Some(fill_test), ctx, s.ptr(), s.1),
            DPX_OK
        );
        assert_eq!(
            dpx_build_finish(got.ptr(), got.1, Some(fill_test), ctx, s.ptr(), s.1),
            DPX_ERR_BUILD_STATE
        );
    }
    assert_eq!(got.get(), want.get());
}

#[test]
fn failing_or_missing_rng_zeroises_and_never_opens() {
    let (d, dv, n) = (4usize, 2usize, 10usize);
    let (k, v) = (rows(1, n, d), rows(2, n, dv));
    let p = c_params(d as u32, dv as u32, 16, 0);
    let plan = plan_of(&p);
    let mut img = Buf::new(plan.image_bytes);
    let mut s = Buf::new(plan.scratch_bytes);
    for calls in [0u32, 1, 3] {
        img.bytes().fill(0xEE);
        let mut left = calls;
        // SAFETY: valid buffers.
        let st = unsafe {
            dpx_build(
                &p,
                img.ptr(),
                img.1,
                k.as_ptr(),
                v.as_ptr(),
                n,
                Some(fill_countdown),
                (&raw mut left).cast(),
                s.ptr(),
                s.1,
            )
        };
        assert_eq!(st, DPX_ERR_RNG);
        assert!(img.get().iter().all(|&b| b == 0), "image zeroised");
        assert!(s.get().iter().all(|&b| b == 0), "scratch zeroised");
        // SAFETY: valid buffers.
        assert_eq!(
            unsafe { dpx_open(img.ptr(), img.1, &mut null()) },
            DPX_ERR_BAD_MAGIC
        );
    }
    img.bytes().fill(0xEE);
    // SAFETY: valid buffers; the NULL callback is checked.
    let st = unsafe {
        dpx_build(
            &p,
            img.ptr(),
            img.1,
            k.as_ptr(),
            v.as_ptr(),
            n,
            None,
            null_mut(),
            s.ptr(),
            s.1,
        )
    };
    assert_eq!(st, DPX_ERR_NULL_CALLBACK);
    assert!(img.get().iter().all(|&b| b == 0));
}

#[test]
fn pointer_checks() {
    let (d, dv, n) = (4usize, 2usize, 10usize);
    let (k, v) = (rows(1, n, d), rows(2, n, dv));
    let p = c_params(d as u32, dv as u32, 16, 0);
    let plan = plan_of(&p);
    let mut img = Buf::new(plan.image_bytes + 64);
    let mut s = Buf::new(plan.scratch_bytes + 64);
    let mut rng = TestRng(1);
    let ctx: *mut c_void = (&raw mut rng).cast();
    let ip = img.ptr().cast::<u8>();
    // SAFETY: every pointer is valid for its length (or checked NULL / misaligned).
    unsafe {
        let go =
            |image: *mut u8, ib: usize, kp: *const f32, nn: usize, scr: *mut c_void, sb: usize| {
                dpx_build(
                    &p,
                    image.cast(),
                    ib,
                    kp,
                    v.as_ptr(),
                    nn,
                    Some(fill_test),
                    ctx,
                    scr,
                    sb,
                )
            };
        assert_eq!(
            go(ip, plan.image_bytes, null(), n, s.ptr(), s.1),
            DPX_ERR_NULL
        );
        assert_eq!(
            go(ip.add(4), plan.image_bytes, k.as_ptr(), n, s.ptr(), s.1),
            DPX_ERR_MISALIGNED
        );
        assert_eq!(
            go(ip, plan.image_bytes - 1, k.as_ptr(), n, s.ptr(), s.1),
            DPX_ERR_BUFFER_TOO_SMALL
        );
        assert_eq!(
            go(
                ip,
                plan.image_bytes,
                k.as_ptr(),
                n,
                s.ptr(),
                plan.scratch_bytes - 8
            ),
            DPX_ERR_BUFFER_TOO_SMALL
        );
        // Scratch overlapping the image.
        assert_eq!(
            go(
                ip,
                plan.image_bytes,
                k.as_ptr(),
                n,
                ip.add(64).cast(),
                plan.scratch_bytes
            ),
            DPX_ERR_OVERLAP
        );
        // Keys inside the image (read while the image is written).
        let kin = ip.add(8).cast::<f32>();
        assert_eq!(
            go(ip, plan.image_bytes, kin, n, s.ptr(), s.1),
            DPX_ERR_OVERLAP
        );
        // n*d overflows.
        assert_eq!(
            go(
                ip,
                plan.image_bytes,
                k.as_ptr(),
                usize::MAX / 2,
                s.ptr(),
                s.1
            ),
            DPX_ERR_LENGTH_OVERFLOW
        );
        // NaN rows: named error, image zeroised.
        let mut bad = k.clone();
        bad[d * 3 + 1] = f32::NAN;
        img.bytes().fill(0xEE);
        assert_eq!(
            go(ip, plan.image_bytes, bad.as_ptr(), n, s.ptr(), s.1),
            DPX_ERR_NON_FINITE_INPUT
        );
        assert!(img.get()[..plan.image_bytes].iter().all(|&b| b == 0));
        // Zero rows is a valid (pure-noise) build, and NULL rows are fine with n == 0.
        assert_eq!(go(ip, plan.image_bytes, null(), 0, s.ptr(), s.1), DPX_OK);
    }
    // More rows than n_max.
    let (k17, v17) = (rows(9, 17, d), rows(8, 17, dv));
    // SAFETY: valid buffers.
    let st = unsafe {
        dpx_build(
            &p,
            img.ptr(),
            plan.image_bytes,
            k17.as_ptr(),
            v17.as_ptr(),
            17,
            Some(fill_test),
            ctx,
            s.ptr(),
            s.1,
        )
    };
    assert_eq!(st, DPX_ERR_TOO_MANY_ROWS);
}

#[test]
fn query_checks_and_corruption() {
    let (d, dv, n) = (4usize, 2usize, 10usize);
    let (k, v) = (rows(1, n, d), rows(2, n, dv));
    let p = c_params(d as u32, dv as u32, 16, 0);
    let mut c = c_build(&p, &k, &v, 3);
    // One raw read-write pointer serves the handle and the later corruption writes, so the
    // test itself follows the aliasing rules (checked under Miri).
    let base = c.image.ptr().cast::<u8>();
    let len = c.image.1;
    let mut a: *const dpx_attn = null();
    // SAFETY: valid image and out pointer.
    assert_eq!(unsafe { dpx_open(base.cast(), len, &mut a) }, DPX_OK);
    let mut qs = Buf::new(c.plan.query_scratch_bytes + 16);
    let q = [0.1f32, 0.2, -0.3, 0.0];
    // One spare element: the out_len = 3 case must stay within the caller's buffer.
    let mut out = [7f32; 3];
    // SAFETY: valid (or deliberately NULL / misaligned / overlapping) buffers.
    unsafe {
        let sp = qs.ptr();
        assert_eq!(
            dpx_query(a, q.as_ptr(), 3, out.as_mut_ptr(), 2, sp, qs.1),
            DPX_ERR_WRONG_LENGTH
        );
        assert_eq!(
            dpx_query(a, q.as_ptr(), 4, out.as_mut_ptr(), 3, sp, qs.1),
            DPX_ERR_WRONG_LENGTH
        );
        assert_eq!(
            dpx_query(a, q.as_ptr(), 4, out.as_mut_ptr(), 2, sp, 8),
            DPX_ERR_BUFFER_TOO_SMALL
        );
        assert_eq!(
            dpx_query(
                a,
                q.as_ptr(),
                4,
                out.as_mut_ptr(),
                2,
                sp.cast::<u8>().add(4).cast(),
                qs.1 - 8
            ),
            DPX_ERR_MISALIGNED
        );
        assert_eq!(
            dpx_query(null(), q.as_ptr(), 4, out.as_mut_ptr(), 2, sp, qs.1),
            DPX_ERR_NULL
        );
        assert_eq!(
            dpx_query(a, q.as_ptr(), 4, out.as_mut_ptr(), 2, null_mut(), 0),
            DPX_ERR_BUFFER_TOO_SMALL
        );
        let nan = [0.0f32, f32::NAN, 0.0, 0.0];
        assert_eq!(
            dpx_query(a, nan.as_ptr(), 4, out.as_mut_ptr(), 2, sp, qs.1),
            DPX_ERR_NON_FINITE_INPUT
        );
        assert_eq!(
            dpx_query_range(a, 0, 2, q.as_ptr(), 4, out.as_mut_ptr(), 2, sp, qs.1),
            DPX_ERR_INVALID_RANGE
        );
        // Output written into the scratch, or into the image: refused.
        assert_eq!(
            dpx_query(a, q.as_ptr(), 4, sp.cast(), 2, sp, qs.1),
            DPX_ERR_OVERLAP
        );
        assert_eq!(
            dpx_query(
                a,
                q.as_ptr(),
                4,
                a.cast::<f32>().cast_mut().add(100),
                2,
                sp,
                qs.1
            ),
            DPX_ERR_OVERLAP
        );
        assert_eq!(out, [7.0; 3], "out untouched by every failure");
        assert_eq!(
            dpx_query(a, q.as_ptr(), 4, out.as_mut_ptr(), 2, sp, qs.1),
            DPX_OK
        );
        assert!(out[..2].iter().all(|x| x.is_finite()) && out[..2] != [7.0; 2]);
        assert_eq!(out[2], 7.0);

        // Corruption: one flipped body bit fails the full check of dpx_open.
        *base.add(len - 1) ^= 1;
        assert_eq!(
            dpx_open(base.cast(), len, &mut null()),
            DPX_ERR_CHECKSUM_MISMATCH
        );
        // A header corrupted under a live handle is still caught (header re-validation).
        *base.add(24) ^= 0x40; // d
        assert!(dpx_query(a, q.as_ptr(), 4, out.as_mut_ptr(), 2, sp, qs.1) < 0);
        *base ^= 1; // magic
        assert_eq!(
            dpx_query(a, q.as_ptr(), 4, out.as_mut_ptr(), 2, sp, qs.1),
            DPX_ERR_BAD_MAGIC
        );
    }
}

#[test]
fn image_size_and_info() {
    let (d, dv, n) = (5usize, 3usize, 30usize);
    let p = c_params(d as u32, dv as u32, 64, 8);
    let c = c_build(&p, &rows(1, n, d), &rows(2, n, dv), 1);
    let mut total = 0usize;
    // SAFETY: valid buffers; an unaligned header is allowed here.
    unsafe {
        let mut copy = vec![0u8; DPX_HEADER_BYTES + 1];
        copy[1..].copy_from_slice(&c.image.get()[..DPX_HEADER_BYTES]);
        assert_eq!(
            dpx_image_size(copy[1..].as_ptr().cast(), DPX_HEADER_BYTES, &mut total),
            DPX_OK
        );
        assert_eq!(total, c.plan.image_bytes);
        assert_eq!(
            dpx_image_size(copy[1..].as_ptr().cast(), DPX_HEADER_BYTES - 1, &mut total),
            DPX_ERR_BUFFER_TOO_SMALL
        );
        let a = open(&c.image);
        let mut info = core::mem::MaybeUninit::<dpx_attn_info>::uninit();
        assert_eq!(dpx_attn_info(a, info.as_mut_ptr()), DPX_OK);
        let info = info.assume_init();
        assert_eq!(
            (info.rows, info.blocks, info.image_bytes),
            (30, 4, c.plan.image_bytes)
        );
        assert_eq!(info.params, p);
        let mut plan = core::mem::MaybeUninit::<dpx_plan>::uninit();
        assert_eq!(dpx_attn_plan(a, plan.as_mut_ptr()), DPX_OK);
        assert_eq!(plan.assume_init(), c.plan);
    }
}

#[test]
fn status_codes_are_distinct_blocked_and_named() {
    let mut seen = std::collections::HashSet::new();
    let mut texts = std::collections::HashSet::new();
    for &(code, text) in status::STATUS_STRINGS {
        assert!(seen.insert(code), "duplicate code {code}");
        assert!(texts.insert(text), "duplicate text for {code}");
        assert!(code == DPX_OK || (-699..=-100).contains(&code));
        // SAFETY: dpx_status_str returns a static NUL-terminated string.
        let got = unsafe { CStr::from_ptr(dpx_status_str(code)) };
        assert_eq!(got, text);
        assert!(!got.is_empty());
    }
    // Every Error variant maps into the table, in its block.
    use crate::Error as E;
    for (e, block) in [
        (E::InvalidEpsilon, 4),
        (E::InvalidDelta, 4),
        (E::InvalidDimension, 4),
        (E::InvalidDegree, 4),
        (E::InvalidRadius, 4),
        (E::InvalidClip, 4),
        (E::InvalidParameter, 4),
        (E::SizeOverflow, 4),
        (E::PrecisionTooLow, 4),
        (E::BufferTooSmall, 2),
        (E::Misaligned, 2),
        (E::WrongLength, 2),
        (E::NonFiniteInput { row: 3 }, 3),
        (E::OutOfBall { row: 1 }, 3),
        (E::TooManyRows, 3),
        (E::InvalidRange, 3),
        (E::OutOfRange { row: 2 }, 3),
        (E::BadMagic, 5),
        (E::UnsupportedVersion, 5),
        (E::ChecksumMismatch, 5),
        (E::CorruptImage, 5),
        (E::Rng, 6),
        (E::SampleOverflow, 6),
        (E::BuildState, 6),
    ] {
        let s = dpx_status::from(e);
        assert_eq!(-s / 100, block, "{e:?}");
        assert!(seen.contains(&s));
    }
    for unknown in [1, -1, -99, -199, -700, i32::MIN, i32::MAX] {
        // SAFETY: as above.
        let got = unsafe { CStr::from_ptr(dpx_status_str(unknown)) };
        assert_eq!(got, c"unknown dpx_status code");
    }
}

#[test]
fn version_number_matches_cargo() {
    let v: Vec<u32> = env!("CARGO_PKG_VERSION")
        .split(['.', '-'])
        .take(3)
        .map(|x| x.parse().unwrap())
        .collect();
    assert_eq!(dpx_version(), v[0] * 10_000 + v[1] * 100 + v[2]);
}
