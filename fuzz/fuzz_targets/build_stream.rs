//! Streaming build with arbitrary parameters, rows (f32 bit patterns incl. NaN, ±Inf,
//! subnormals, huge; i8/i16 with arbitrary scales), chunking, misuse and an RNG that may
//! fail at an arbitrary draw. Checks:
//! - no panic anywhere;
//! - a refused chunk leaves image and scratch bit-for-bit unchanged, with a named error;
//! - an RNG failure zeroises image and scratch and the image never opens;
//! - a successful finish opens, holds exactly the accepted rows, and answers queries with
//!   finite outputs inside the value ball;
//! - chunking does not matter: re-pushing the accepted rows one at a time through the
//!   `Builder` API with the same RNG gives the same image bytes.
#![no_main]

use arbitrary::Arbitrary;
use dpxattn::Error;
use dpxattn::mechanism::{
    Attn, Builder, NoiseKind, Params, Policy, Rows, build_begin, build_finish, build_push,
};
use dpxattn_fuzz::{ABuf, FuzzRng, exercise_queries, small_plan};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Num {
    /// A value inside the field's useful range (log-uniform).
    Sane(u16),
    /// Any f64 bit pattern.
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

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Kind {
    F32,
    I8(f32),
    I16(f32),
}

#[derive(Arbitrary, Debug)]
enum Op {
    Push {
        rows: u8,
        /// 0: exact lengths; otherwise a key or value slice one element off.
        bad_len: u8,
        keys: Kind,
        values: Kind,
        /// Value source: each u32 is either raw f32 bits (top bit of the selector set)
        /// or a small fixed-point number.
        data: Vec<u32>,
        raw: bool,
    },
    Finish,
    Restart,
}

#[derive(Arbitrary, Debug)]
struct Input {
    d: u8,
    dv: u8,
    n_max: u16,
    degree: u8,
    block: u8,
    flags: u8,
    parts: u8,
    nums: [Num; 9],
    seed: u64,
    fail_at: Option<u16>,
    ops: Vec<Op>,
}

/// One accepted chunk, owned, for the replay.
struct Chunk {
    keys: Kind,
    values: Kind,
    kf: Vec<f32>,
    k8: Vec<i8>,
    k16: Vec<i16>,
    vf: Vec<f32>,
    v8: Vec<i8>,
    v16: Vec<i16>,
    rows: usize,
}

fn make(
    kind: Kind,
    n: usize,
    data: &[u32],
    salt: usize,
    raw: bool,
) -> (Vec<f32>, Vec<i8>, Vec<i16>) {
    let at = |i: usize| -> u32 {
        if data.is_empty() {
            0
        } else {
            data[(i + salt) % data.len()]
        }
    };
    match kind {
        Kind::F32 => (
            (0..n)
                .map(|i| {
                    let x = at(i);
                    if raw {
                        f32::from_bits(x)
                    } else {
                        f32::from(x as i16) / 8192.0
                    }
                })
                .collect(),
            vec![],
            vec![],
        ),
        Kind::I8(_) => (vec![], (0..n).map(|i| at(i) as i8).collect(), vec![]),
        Kind::I16(_) => (vec![], vec![], (0..n).map(|i| at(i) as i16).collect()),
    }
}

fn rows<'a>(kind: Kind, f: &'a [f32], a: &'a [i8], b: &'a [i16]) -> Rows<'a> {
    match kind {
        Kind::F32 => Rows::F32(f),
        Kind::I8(s) => Rows::I8(a, s),
        Kind::I16(s) => Rows::I16(b, s),
    }
}

fn sub<'a>(r: Rows<'a>, from: usize, to: usize) -> Rows<'a> {
    match r {
        Rows::F32(v) => Rows::F32(&v[from..to]),
        Rows::I8(v, s) => Rows::I8(&v[from..to], s),
        Rows::I16(v, s) => Rows::I16(&v[from..to], s),
    }
}

fuzz_target!(|inp: Input| {
    let n = &inp.nums;
    let mut p = Params::new(u32::from(inp.d % 8) + 1, u32::from(inp.dv % 8) + 1, 1);
    p.n_max = u32::from(inp.n_max % 300) + u32::from(inp.flags & 0x80 == 0);
    p.degree = if inp.flags & 8 != 0 {
        0
    } else {
        u32::from(inp.degree % 8)
    };
    p.block = u32::from(inp.block % 10);
    p.mechanism = if inp.flags & 1 != 0 {
        NoiseKind::Laplace
    } else {
        NoiseKind::Gaussian
    };
    p.policy = if inp.flags & 2 != 0 {
        Policy::Reject
    } else {
        Policy::Clip
    };
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
    p.parts = u32::from(inp.parts % 4) + 1;
    let Some(plan) = small_plan(&p, 1 << 17) else {
        return;
    };
    let (d, dv) = (p.d as usize, p.dv as usize);
    let fail_at = inp.fail_at.map_or(u64::MAX, u64::from);
    let mut rng = FuzzRng::new(inp.seed, fail_at);
    let mut img = ABuf::new(plan.image_bytes(), 0);
    let mut scr = ABuf::new(plan.build_scratch_bytes(), 0);

    // Buffers one byte short or misaligned are refused and left untouched.
    {
        let mut small = ABuf::new(plan.image_bytes() - 1, 0);
        small.bytes_mut().fill(0xA5);
        let r = build_begin(&plan, small.bytes_mut(), scr.bytes_mut());
        assert_eq!(r, Err(Error::BufferTooSmall));
        assert!(small.bytes().iter().all(|&b| b == 0xA5));
        let mut mis = ABuf::new(plan.build_scratch_bytes(), 4);
        let r = build_begin(&plan, img.bytes_mut(), mis.bytes_mut());
        assert_eq!(r, Err(Error::Misaligned));
        assert!(img.bytes().iter().all(|&b| b == 0));
    }
    build_begin(&plan, img.bytes_mut(), scr.bytes_mut()).expect("begin on planned buffers");

    let mut accepted: Vec<Chunk> = Vec::new();
    let mut pushed = 0usize;
    let mut state = 0u8; // 0 open, 1 finished, 2 failed
    let mut ops: Vec<&Op> = inp.ops.iter().take(64).collect();
    let fin = Op::Finish;
    ops.push(&fin);
    for op in ops {
        match op {
            Op::Restart => {
                build_begin(&plan, img.bytes_mut(), scr.bytes_mut()).expect("restart");
                accepted.clear();
                pushed = 0;
                state = 0;
                // The replay below uses a fresh RNG from the start; restart ours as well.
                rng = FuzzRng::new(inp.seed, fail_at);
            }
            Op::Push {
                rows: nr,
                bad_len,
                keys,
                values,
                data,
                raw,
            } => {
                let nr = usize::from(*nr % 40);
                let (mut kl, mut vl) = (nr * d, nr * dv);
                match bad_len % 8 {
                    1 => kl += 1,
                    2 if kl > 0 => kl -= 1,
                    3 => vl += 1,
                    4 if vl > 0 => vl -= 1,
                    _ => {}
                }
                let (kf, k8, k16) = make(*keys, kl, data, 0, *raw);
                let (vf, v8, v16) = make(*values, vl, data, 7, *raw);
                let kr = rows(*keys, &kf, &k8, &k16);
                let vr = rows(*values, &vf, &v8, &v16);
                let before = (img.bytes().to_vec(), scr.bytes().to_vec());
                let r = build_push(img.bytes_mut(), scr.bytes_mut(), kr, vr, &mut rng);
                match r {
                    Ok(()) => {
                        assert_eq!(state, 0, "push accepted after finish/failure");
                        assert_eq!(kl % d, 0);
                        assert_eq!((kl / d) * dv, vl);
                        pushed += kl / d;
                        assert!(pushed <= p.n_max as usize);
                        accepted.push(Chunk {
                            keys: *keys,
                            values: *values,
                            kf,
                            k8,
                            k16,
                            vf,
                            v8,
                            v16,
                            rows: kl / d,
                        });
                    }
                    Err(Error::Rng) => {
                        assert_eq!(state, 0);
                        assert!(rng.draws > fail_at, "Rng error without an injected failure");
                        assert!(img.bytes().iter().all(|&b| b == 0), "image not zeroised");
                        assert!(scr.bytes().iter().all(|&b| b == 0), "scratch not zeroised");
                        state = 2;
                    }
                    Err(e) => {
                        assert!(
                            img.bytes() == &before.0[..] && scr.bytes() == &before.1[..],
                            "refused push ({e:?}) changed the buffers"
                        );
                        let ok = match e {
                            Error::BuildState => state != 0,
                            Error::WrongLength => kl % d != 0 || vl != (kl / d) * dv,
                            Error::TooManyRows => pushed + kl / d > p.n_max as usize,
                            Error::NonFiniteInput { row } => row < kl / d,
                            Error::OutOfBall { row } => p.policy == Policy::Reject && row < kl / d,
                            _ => false,
                        };
                        assert!(ok, "unexpected push error {e:?} (state {state})");
                    }
                }
            }
            Op::Finish => {
                let before = (img.bytes().to_vec(), scr.bytes().to_vec());
                let r = build_finish(img.bytes_mut(), scr.bytes_mut(), &mut rng);
                match r {
                    Ok(len) => {
                        assert_eq!(state, 0);
                        assert_eq!(len, plan.image_bytes());
                        assert!(scr.bytes().iter().all(|&b| b == 0), "scratch not zeroised");
                        let attn = Attn::open(img.bytes()).expect("a finished build opens");
                        assert_eq!(attn.rows() as usize, pushed);
                        // Debug, not ==: unused f64 fields may hold NaN (e.g. δ under
                        // Laplace), and NaN != NaN.
                        assert_eq!(format!("{:?}", attn.plan()), format!("{plan:?}"));
                        exercise_queries(&attn, 8);
                        state = 1;
                    }
                    Err(Error::Rng) => {
                        assert_eq!(state, 0);
                        assert!(rng.draws > fail_at);
                        assert!(img.bytes().iter().all(|&b| b == 0), "image not zeroised");
                        assert!(scr.bytes().iter().all(|&b| b == 0), "scratch not zeroised");
                        assert!(Attn::open(img.bytes()).is_err());
                        state = 2;
                    }
                    Err(e) => {
                        assert_eq!(e, Error::BuildState, "unexpected finish error");
                        assert_ne!(state, 0);
                        assert!(img.bytes() == &before.0[..] && scr.bytes() == &before.1[..]);
                    }
                }
            }
        }
    }
    if state == 2 {
        assert!(Attn::open(img.bytes()).is_err());
        return;
    }
    assert_eq!(state, 1);

    // Replay: the accepted rows one at a time through the Builder, same RNG stream.
    let mut img2 = ABuf::new(plan.image_bytes(), 0);
    let mut scr2 = ABuf::new(plan.build_scratch_bytes(), 0);
    let mut rng2 = FuzzRng::new(inp.seed, u64::MAX);
    let mut b = Builder::begin(&plan, img2.bytes_mut(), scr2.bytes_mut()).expect("begin");
    for c in &accepted {
        let kr = rows(c.keys, &c.kf, &c.k8, &c.k16);
        let vr = rows(c.values, &c.vf, &c.v8, &c.v16);
        for i in 0..c.rows {
            b.push(
                sub(kr, i * d, (i + 1) * d),
                sub(vr, i * dv, (i + 1) * dv),
                &mut rng2,
            )
            .expect("replayed row accepted");
        }
    }
    assert_eq!(b.rows() as usize, pushed);
    b.finish(&mut rng2).expect("replay finishes");
    assert!(img.bytes() == img2.bytes(), "chunking changed the image");
});
