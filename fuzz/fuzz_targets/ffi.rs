//! The C entry points (`dpx_*`) driven with arbitrary parameters, dimensions, row counts,
//! floats (NaN, ±Inf, subnormal, huge), buffer lengths, misalignments, overlapping buffers
//! and a failing entropy callback. Pointers are always valid for the length they are passed
//! with (that is the caller's half of the contract), and every buffer is allocated with
//! exactly that length, so AddressSanitizer reports any access outside it.
//!
//! Checks: no panic, no sanitizer report; every status is a named code; outputs are written
//! only on success (queries) and a failed one-shot build leaves the image zeroised; a build
//! that succeeds opens; every successful query is finite and inside the value ball.
#![no_main]

use arbitrary::Arbitrary;
use core::ffi::{CStr, c_int, c_void};
use dpxattn::ffi::*;
use libfuzzer_sys::fuzz_target;

/// A byte buffer of exactly `len` bytes whose start is `off` bytes past an 8-aligned address
/// (the allocation is exactly `off + len` bytes, so ASan sees every overrun).
struct Mem {
    v: Vec<u8>,
    off: usize,
    len: usize,
}
impl Mem {
    fn new(len: usize, off: usize) -> Mem {
        let v = vec![0u8; off + len];
        // glibc's and ASan's malloc return 16-aligned blocks; the offsets below rely on it.
        assert!(v.as_ptr() as usize % 8 == 0 || off + len == 0);
        Mem { v, off, len }
    }
    fn ptr(&mut self) -> *mut c_void {
        if self.len == 0 {
            core::ptr::null_mut()
        } else {
            self.v[self.off..].as_mut_ptr().cast()
        }
    }
    fn bytes(&self) -> &[u8] {
        &self.v[self.off..self.off + self.len]
    }
}

/// An f32 array of exactly `n` elements (4-aligned from the allocator), or NULL if empty.
fn f32s(data: &[u32], n: usize, salt: usize, raw: bool) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let x = if data.is_empty() {
                0
            } else {
                data[(i + salt) % data.len()]
            };
            if raw {
                f32::from_bits(x)
            } else {
                f32::from(x as i16) / 8192.0
            }
        })
        .collect()
}

fn ptr_or_null<T>(v: &[T]) -> *const T {
    if v.is_empty() {
        core::ptr::null()
    } else {
        v.as_ptr()
    }
}

/// The entropy callback's state.
#[repr(C)]
struct Ctx {
    state: u64,
    calls: u64,
    fail_at: u64,
    ret: c_int,
}

unsafe extern "C" fn fill(ctx: *mut c_void, buf: *mut u8, len: usize) -> c_int {
    // SAFETY: the fuzz target passes a live `Ctx` and the library a writable `buf`.
    let (c, out) = unsafe {
        (
            &mut *ctx.cast::<Ctx>(),
            core::slice::from_raw_parts_mut(buf, len),
        )
    };
    let k = c.calls;
    c.calls += 1;
    if k >= c.fail_at {
        return if c.ret == 0 { 1 } else { c.ret };
    }
    for b in out.chunks_mut(8) {
        c.state = c.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = c.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        b.copy_from_slice(&z.to_le_bytes()[..b.len()]);
    }
    0
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Dim {
    Small(u8),
    Raw(u32),
}
impl Dim {
    fn get(self, modulo: u32) -> u32 {
        match self {
            Dim::Small(x) => u32::from(x) % modulo,
            Dim::Raw(x) => x,
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Num {
    Sane(u16),
    Raw(u64),
}
impl Num {
    fn get(self, lo: f64, hi: f64) -> f64 {
        match self {
            Num::Sane(u) => lo * (hi / lo).powf(f64::from(u) / 65535.0),
            Num::Raw(b) => f64::from_bits(b),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Query {
    begin: u8,
    end: u8,
    huge: bool,
    q_delta: i8,
    out_delta: i8,
    scratch_delta: i16,
    scratch_off: u8,
    batch: u8,
    info_delta: i8,
}

#[derive(Arbitrary, Debug)]
struct Input {
    d: Dim,
    dv: Dim,
    n_max: Dim,
    degree: u8,
    block: Dim,
    mechanism: u8,
    flags: u32,
    parts: u8,
    nums: [Num; 9],
    n: u16,
    kind: u8,
    scales: (f32, f32),
    raw: bool,
    image_delta: i16,
    scratch_delta: i16,
    image_off: u8,
    scratch_off: u8,
    overlap: u8,
    streaming: bool,
    chunks: Vec<u8>,
    fail_at: Option<u16>,
    ret: i32,
    data: Vec<u32>,
    queries: Vec<Query>,
    beta: u64,
    status_probe: i32,
}

fn known(s: dpx_status) -> bool {
    let p = dpx_status_str(s);
    assert!(!p.is_null());
    // SAFETY: dpx_status_str returns static NUL-terminated strings.
    let text = unsafe { CStr::from_ptr(p) }
        .to_str()
        .expect("ASCII status string");
    s == DPX_OK || (s < 0 && text != "unknown dpx_status code")
}

const CAP: usize = 1 << 17;

fuzz_target!(|inp: Input| {
    assert!(known(DPX_OK));
    let _ = known(inp.status_probe);

    // Parameters: defaults, then arbitrary edits.
    let mut p = core::mem::MaybeUninit::<dpx_params>::uninit();
    // SAFETY: valid for writing one dpx_params.
    unsafe {
        dpx_params_init(
            p.as_mut_ptr(),
            inp.d.get(9),
            inp.dv.get(9),
            inp.n_max.get(300),
        )
    };
    // SAFETY: dpx_params_init always writes a non-NULL, aligned pointer.
    let mut p = unsafe { p.assume_init() };
    let n = &inp.nums;
    p.degree = u32::from(inp.degree % 10);
    p.block = inp.block.get(12);
    p.mechanism = u32::from(inp.mechanism % 3);
    p.flags = inp.flags & 3;
    p.parts = u32::from(inp.parts % 4);
    p.score_scale = n[0].get(0.01, 2.0);
    p.radius_q = n[1].get(0.05, 4.0);
    p.radius_k = n[2].get(0.05, 4.0);
    p.radius_v = n[3].get(0.01, 100.0);
    p.epsilon = n[4].get(0.05, 10.0);
    p.delta = n[5].get(1e-12, 0.5);
    p.gamma = n[6].get(0.05, 10.0);
    p.clip = if inp.flags & 4 != 0 {
        n[7].get(1e-3, 1.0)
    } else {
        0.0
    };
    p.kernel_rel_err = n[8].get(1e-6, 1.0);

    let mut plan = core::mem::MaybeUninit::<dpx_plan>::uninit();
    // SAFETY: valid pointers.
    let s = unsafe { dpx_plan_new(&p, plan.as_mut_ptr()) };
    assert!(known(s), "{s}");
    if s != DPX_OK {
        return;
    }
    // SAFETY: written on DPX_OK.
    let plan = unsafe { plan.assume_init() };
    if plan.image_bytes > CAP || plan.scratch_bytes > CAP || plan.query_scratch_bytes > CAP {
        return;
    }
    let (d, dv) = (p.d as usize, p.dv as usize);

    // Rows: n × d and n × dv elements (always valid for the stated n).
    let mut rows = usize::from(inp.n % 64);
    if rows * (d + dv) > 1 << 16 {
        rows = 0;
    }
    let keys = f32s(&inp.data, rows * d, 0, inp.raw);
    let values = f32s(&inp.data, rows * dv, 5, inp.raw);
    let k8: Vec<i8> = keys.iter().map(|&x| (x * 64.0) as i8).collect();
    let v8: Vec<i8> = values.iter().map(|&x| (x * 64.0) as i8).collect();
    let k16: Vec<i16> = keys.iter().map(|&x| (x * 4096.0) as i16).collect();
    let v16: Vec<i16> = values.iter().map(|&x| (x * 4096.0) as i16).collect();

    let clamp =
        |base: usize, delta: i16| (base as i64 + i64::from(delta)).clamp(0, CAP as i64) as usize;
    let img_len = clamp(plan.image_bytes, inp.image_delta);
    let scr_len = clamp(plan.scratch_bytes, inp.scratch_delta);
    let mut img = Mem::new(img_len, usize::from(inp.image_off % 8));
    let mut scr = Mem::new(scr_len, usize::from(inp.scratch_off % 8));
    let mut ctx = Ctx {
        state: u64::from(inp.n),
        calls: 0,
        fail_at: inp.fail_at.map_or(u64::MAX, u64::from),
        ret: inp.ret,
    };
    let ctxp = (&mut ctx as *mut Ctx).cast::<c_void>();
    let cb: dpx_fill_fn = Some(fill);
    // Overlap cases: scratch inside the image, or a NULL callback.
    let overlap = inp.overlap % 8;
    let (scr_ptr, scr_len_used) = if overlap == 1 && img_len >= 8 {
        (img.ptr(), img_len)
    } else {
        (scr.ptr(), scr_len)
    };
    let cb = if overlap == 2 { None } else { cb };

    let status = if !inp.streaming {
        let kind = inp.kind % 3;
        // SAFETY: every pointer is valid for its stated length (or NULL with length 0).
        unsafe {
            match kind {
                0 => dpx_build(
                    &p,
                    img.ptr(),
                    img_len,
                    ptr_or_null(&keys),
                    ptr_or_null(&values),
                    rows,
                    cb,
                    ctxp,
                    scr_ptr,
                    scr_len_used,
                ),
                1 => dpx_build_i8(
                    &p,
                    img.ptr(),
                    img_len,
                    ptr_or_null(&k8),
                    inp.scales.0,
                    ptr_or_null(&v8),
                    inp.scales.1,
                    rows,
                    cb,
                    ctxp,
                    scr_ptr,
                    scr_len_used,
                ),
                _ => dpx_build_i16(
                    &p,
                    img.ptr(),
                    img_len,
                    ptr_or_null(&k16),
                    inp.scales.0,
                    ptr_or_null(&v16),
                    inp.scales.1,
                    rows,
                    cb,
                    ctxp,
                    scr_ptr,
                    scr_len_used,
                ),
            }
        }
    } else {
        // SAFETY: as above.
        let s = unsafe { dpx_build_begin(&p, img.ptr(), img_len, scr_ptr, scr_len_used) };
        if s != DPX_OK {
            assert!(known(s));
            assert!(
                img.bytes().iter().all(|&b| b == 0),
                "failed begin left image bytes"
            );
            s
        } else {
            let mut at = 0usize;
            let mut last = DPX_OK;
            for &c in inp.chunks.iter().take(32) {
                let m = usize::from(c % 16).min(rows - at.min(rows));
                let before = (img.bytes().to_vec(), scr.bytes().to_vec());
                let (ks, vs) = (&keys[at * d..(at + m) * d], &values[at * dv..(at + m) * dv]);
                // SAFETY: as above.
                let s = unsafe {
                    if c & 0x80 != 0 {
                        dpx_build_push_i16(
                            img.ptr(),
                            img_len,
                            ptr_or_null(&k16[at * d..(at + m) * d]),
                            inp.scales.0,
                            ptr_or_null(&v16[at * dv..(at + m) * dv]),
                            inp.scales.1,
                            m,
                            cb,
                            ctxp,
                            scr_ptr,
                            scr_len_used,
                        )
                    } else {
                        dpx_build_push(
                            img.ptr(),
                            img_len,
                            ptr_or_null(ks),
                            ptr_or_null(vs),
                            m,
                            cb,
                            ctxp,
                            scr_ptr,
                            scr_len_used,
                        )
                    }
                };
                assert!(known(s), "{s}");
                if s == DPX_ERR_RNG {
                    assert!(img.bytes().iter().all(|&b| b == 0));
                    last = s;
                    break;
                } else if s != DPX_OK && overlap != 1 {
                    assert!(
                        img.bytes() == &before.0[..] && scr.bytes() == &before.1[..],
                        "refused push ({s}) changed the buffers"
                    );
                }
                at += m;
            }
            if last == DPX_OK {
                // SAFETY: as above.
                unsafe { dpx_build_finish(img.ptr(), img_len, cb, ctxp, scr_ptr, scr_len_used) }
            } else {
                last
            }
        }
    };
    assert!(known(status), "{status}");
    if overlap == 1 && img_len >= 8 && status == DPX_OK {
        panic!("overlapping image and scratch accepted");
    }
    if status != DPX_OK {
        if !inp.streaming || status == DPX_ERR_RNG {
            assert!(
                img.bytes().iter().all(|&b| b == 0),
                "failed build ({status}) left image bytes"
            );
        }
        // Whatever is left must not open.
        let mut h = core::ptr::null();
        // SAFETY: valid pointers.
        let s = unsafe { dpx_open(img.ptr(), img_len, &mut h) };
        assert!(s != DPX_OK, "a failed build opens");
        return;
    }
    if ctx.calls > ctx.fail_at {
        panic!("build succeeded although the callback failed");
    }

    // Open, inspect, query.
    let mut h: *const dpx_attn = core::ptr::null();
    // SAFETY: valid pointers.
    let s = unsafe { dpx_open(img.ptr(), img_len, &mut h) };
    assert_eq!(s, DPX_OK, "a successful build does not open");
    let mut sz = 0usize;
    // SAFETY: valid pointers.
    let s = unsafe {
        dpx_image_size(
            img.ptr(),
            img_len.min(320 + usize::from(inp.n % 3)),
            &mut sz,
        )
    };
    assert!(s == DPX_OK && sz == plan.image_bytes, "{s} {sz}");
    let mut info = core::mem::MaybeUninit::<dpx_attn_info>::uninit();
    // SAFETY: valid handle and output.
    assert_eq!(unsafe { dpx_attn_info(h, info.as_mut_ptr()) }, DPX_OK);
    // SAFETY: written on DPX_OK.
    let info = unsafe { info.assume_init() };
    let rv = info.params.radius_v;
    let mut b = core::mem::MaybeUninit::<dpx_bound>::uninit();
    // SAFETY: valid handle and output.
    let s = unsafe { dpx_bound(h, f64::from_bits(inp.beta), b.as_mut_ptr()) };
    assert!(known(s));

    for (i, qy) in inp.queries.iter().take(8).enumerate() {
        let blocks = info.blocks;
        let (a, e) = if qy.huge {
            (
                usize::MAX - usize::from(qy.begin),
                usize::MAX - usize::from(qy.end),
            )
        } else {
            (
                usize::from(qy.begin) % (blocks + 2),
                usize::from(qy.end) % (blocks + 2),
            )
        };
        let q_len = (d as i64 + i64::from(qy.q_delta % 3)).max(0) as usize;
        let out_len = (dv as i64 + i64::from(qy.out_delta % 3)).max(0) as usize;
        let s_len = clamp(info.query_scratch_bytes, qy.scratch_delta % 64);
        let q = f32s(
            &inp.data,
            q_len.max(1) * (1 + usize::from(qy.batch % 4)),
            i,
            inp.raw,
        );
        let mut out =
            vec![f32::from_bits(0x7FC0_0BAD); out_len.max(1) * (1 + usize::from(qy.batch % 4))];
        let mut qs = Mem::new(s_len, usize::from(qy.scratch_off % 8));
        let mut qi = vec![dpx_query_info { floor_used: 7 }; (1 + usize::from(qy.batch % 4)) + 1];
        let m = 1 + usize::from(qy.batch % 4);
        let single = qy.batch % 4 == 0;
        let (ql, ol) = if single {
            (q_len, out_len)
        } else {
            ((q_len * m).min(q.len()), (out_len * m).min(out.len()))
        };
        let s = if single {
            // SAFETY: every pointer valid for its stated length.
            unsafe {
                dpx_query_ex(
                    h,
                    a,
                    e,
                    ptr_or_null(&q[..ql]),
                    ql,
                    out.as_mut_ptr(),
                    ol,
                    qi.as_mut_ptr(),
                    qs.ptr(),
                    s_len,
                )
            }
        } else {
            let il = ((m as i64) + i64::from(qy.info_delta % 2)).clamp(0, qi.len() as i64) as usize;
            // SAFETY: as above.
            unsafe {
                dpx_query_batch(
                    h,
                    ptr_or_null(&q[..ql]),
                    ql,
                    out.as_mut_ptr(),
                    ol,
                    qi.as_mut_ptr(),
                    il,
                    qs.ptr(),
                    s_len,
                )
            }
        };
        assert!(known(s), "{s}");
        if s == DPX_OK {
            assert_eq!(ol % dv, 0);
            for o in out[..ol].chunks(dv) {
                assert!(o.iter().all(|x| x.is_finite()), "non-finite output {o:?}");
                let norm = o.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
                assert!(norm <= rv * (1.0 + 1e-5), "output outside the value ball");
            }
            let written = if single { 1 } else { ol / dv };
            assert!(qi[..written].iter().all(|x| x.floor_used <= 1), "{qi:?}");
            assert!(out[ol..].iter().all(|x| x.to_bits() == 0x7FC0_0BAD));
        } else {
            assert!(
                out.iter().all(|x| x.to_bits() == 0x7FC0_0BAD),
                "failed query ({s}) wrote its output"
            );
            assert!(
                qi.iter().all(|x| x.floor_used == 7),
                "failed query wrote its info"
            );
        }
    }
});
