//! Tests of the whole mechanism: exactness with noise off, sizes, bad inputs, streaming,
//! corruption, bound coverage.

use super::*;
use crate::kernel::taylor;
use crate::testutil::{FailingRng, TestRng};
use crate::{AlignedBuf, Error};

/// A heap buffer aligned to 8 (tests only).
struct Buf(Vec<u64>, usize);
impl Buf {
    fn new(bytes: usize) -> Self {
        Buf(vec![0u64; bytes.div_ceil(8) + 1], bytes)
    }
    fn bytes(&mut self) -> &mut [u8] {
        let n = self.1;
        &mut bytemuck::cast_slice_mut::<u64, u8>(&mut self.0)[..n]
    }
    fn get(&self) -> &[u8] {
        &bytemuck::cast_slice::<u64, u8>(&self.0)[..self.1]
    }
}

fn rnd_rows(seed: u64, n: usize, dim: usize, scale: f64) -> Vec<f32> {
    let mut s = seed;
    (0..n * dim)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0) as f32 * scale as f32
        })
        .collect()
}

fn params(d: u32, dv: u32, n_max: u32, block: u32) -> Params {
    let mut p = Params::new(d, dv, n_max);
    p.block = block;
    p.radius_q = 1.5;
    p.radius_k = 1.2;
    p.radius_v = 2.0;
    p.score_scale = 0.7;
    p
}

fn clip(v: &[f32], r: f64) -> Vec<f64> {
    let n = v.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
    let f = if n > r { r / n } else { 1.0 };
    v.iter().map(|&x| x as f64 * f).collect()
}

/// Exact f64 attention with the same polynomial kernel on clipped inputs.
fn reference(
    p: &Params,
    s: u32,
    q: &[f32],
    keys: &[f32],
    values: &[f32],
    rows: std::ops::Range<usize>,
) -> Vec<f64> {
    let (d, dv) = (p.d as usize, p.dv as usize);
    let qc: Vec<f64> = clip(q, p.radius_q);
    let mut num = vec![0.0; dv];
    let mut den = 0.0;
    for i in rows {
        let kc = clip(&keys[i * d..(i + 1) * d], p.radius_k);
        let vc = clip(&values[i * dv..(i + 1) * dv], p.radius_v);
        let t: f64 = p.score_scale * qc.iter().zip(&kc).map(|(a, b)| a * b).sum::<f64>();
        let w = taylor::eval_upper(s, t);
        den += w;
        for j in 0..dv {
            num[j] += w * vc[j];
        }
    }
    num.iter().map(|x| x / den).collect()
}

fn build_noiseless(plan: &Plan, keys: &[f32], values: &[f32]) -> Buf {
    let plan = plan.with_noise_units(0);
    let mut image = Buf::new(plan.image_bytes());
    let mut scratch = Buf::new(plan.build_scratch_bytes());
    let mut rng = TestRng(1);
    let n = build(
        &plan,
        image.bytes(),
        keys,
        values,
        &mut rng,
        scratch.bytes(),
    )
    .unwrap();
    assert_eq!(n, plan.image_bytes());
    assert!(
        scratch.get().iter().all(|&b| b == 0),
        "scratch must be zeroised"
    );
    image
}

/// With σ = 0 the structure is exact kernel attention up to fixed point (tolerance 2e-5 of
/// r_v: stored words have ≥ 2⁻²⁰ resolution here, ψ(q) 2⁻²⁵).
#[test]
fn noiseless_flat_matches_exact_kernel_attention() {
    for &(d, dv, n, s) in &[(4u32, 3u32, 50usize, 2u32), (6, 5, 97, 4), (3, 2, 1, 2)] {
        let mut p = params(d, dv, 128, 0);
        p.degree = s;
        let plan = Plan::new(&p).unwrap();
        let keys = rnd_rows(7 + n as u64, n, d as usize, 1.0);
        let values = rnd_rows(9 + n as u64, n, dv as usize, 1.5);
        let image = build_noiseless(&plan, &keys, &values);
        let attn = Attn::open(image.get()).unwrap();
        let mut qs = Buf::new(attn.query_scratch_bytes());
        let queries = rnd_rows(3, 20, d as usize, 1.0);
        for q in queries.chunks(d as usize) {
            let mut out = vec![0f32; dv as usize];
            let info = attn.query(q, &mut out, qs.bytes()).unwrap();
            assert!(!info.floor_used);
            let want = reference(&p, s, q, &keys, &values, 0..n);
            for (o, w) in out.iter().zip(&want) {
                assert!(
                    (*o as f64 - w).abs() < 2e-5 * p.radius_v,
                    "d={d} s={s}: {o} vs {w}"
                );
            }
        }
    }
}

#[test]
fn noiseless_tree_matches_every_block_range() {
    for &(n, block, n_max) in &[(37usize, 4u32, 40u32), (64, 8, 64), (5, 1, 9)] {
        let p = params(3, 2, n_max, block);
        let plan = Plan::new(&p).unwrap();
        let keys = rnd_rows(11, n, 3, 1.3);
        let values = rnd_rows(12, n, 2, 2.5);
        let image = build_noiseless(&plan, &keys, &values);
        let attn = Attn::open(image.get()).unwrap();
        assert_eq!(attn.blocks(), n.div_ceil(block as usize));
        let mut qs = Buf::new(attn.query_scratch_bytes());
        let q = [0.3f32, -0.8, 0.5];
        for a in 0..attn.blocks() {
            for b in a + 1..=attn.blocks() {
                let mut out = [0f32; 2];
                attn.query_range(a, b, &q, &mut out, qs.bytes()).unwrap();
                let rows = a * block as usize..(b * block as usize).min(n);
                let want = reference(&p, 2, &q, &keys, &values, rows);
                for (o, w) in out.iter().zip(&want) {
                    assert!(
                        (*o as f64 - w).abs() < 2e-5 * p.radius_v,
                        "[{a},{b}): {o} vs {w}"
                    );
                }
            }
        }
        let mut out = [0f32; 2];
        assert_eq!(
            attn.query_range(0, attn.blocks() + 1, &q, &mut out, qs.bytes()),
            Err(Error::InvalidRange)
        );
        assert_eq!(
            attn.query_range(1, 1, &q, &mut out, qs.bytes()),
            Err(Error::InvalidRange)
        );
    }
}

#[test]
fn streaming_in_chunks_gives_the_same_image() {
    for &block in &[0u32, 3] {
        let p = params(4, 3, 64, block);
        let plan = Plan::new(&p).unwrap();
        let keys = rnd_rows(1, 40, 4, 1.0);
        let values = rnd_rows(2, 40, 3, 1.0);
        let mut one = Buf::new(plan.image_bytes());
        let mut scratch = Buf::new(plan.build_scratch_bytes());
        build(
            &plan,
            one.bytes(),
            &keys,
            &values,
            &mut TestRng(5),
            scratch.bytes(),
        )
        .unwrap();
        let mut two = Buf::new(plan.image_bytes());
        let mut rng = TestRng(5);
        let mut b = Builder::begin(&plan, two.bytes(), scratch.bytes()).unwrap();
        for (kc, vc) in [(0, 7), (7, 8), (8, 31), (31, 40)]
            .iter()
            .map(|&(a, z)| (&keys[a * 4..z * 4], &values[a * 3..z * 3]))
        {
            b.push_f32(kc, vc, &mut rng).unwrap();
        }
        assert_eq!(b.rows(), 40);
        b.finish(&mut rng).unwrap();
        assert_eq!(one.get(), two.get());
    }
}

/// The accelerated paths (AVX2 where the CPU has it) and the portable ones give the same
/// image and the same query outputs, bit for bit, at the benchmark's shape (d = dv = 32,
/// r = 561) and with the tree layout. (Other tests running meanwhile may take either path;
/// both give the same bits, which is the point.)
#[test]
fn accelerated_and_portable_paths_agree_bit_for_bit() {
    for &(d, dv, block) in &[(32u32, 32u32, 0u32), (5, 3, 4)] {
        let p = params(d, dv, 64, block);
        let plan = Plan::new(&p).unwrap();
        let (d, dv) = (d as usize, dv as usize);
        let keys = rnd_rows(11, 50, d, 1.5);
        let values = rnd_rows(12, 50, dv, 2.5);
        let qs = rnd_rows(13, 20, d, 2.0);
        let mut images = Vec::new();
        let mut outs = Vec::new();
        for allow in [true, false] {
            crate::cpu::allow_simd(allow);
            let mut image = Buf::new(plan.image_bytes());
            let mut scratch = Buf::new(plan.build_scratch_bytes());
            build(
                &plan,
                image.bytes(),
                &keys,
                &values,
                &mut TestRng(9),
                scratch.bytes(),
            )
            .unwrap();
            let attn = Attn::open(image.get()).unwrap();
            let mut qscr = Buf::new(attn.query_scratch_bytes());
            let mut out = vec![0f32; qs.len() / d * dv];
            for (q, o) in qs.chunks_exact(d).zip(out.chunks_exact_mut(dv)) {
                attn.query(q, o, qscr.bytes()).unwrap();
            }
            images.push(image.get().to_vec());
            outs.push(out.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
        }
        crate::cpu::allow_simd(true);
        assert!(images[0] == images[1], "images differ (d = {d})");
        assert_eq!(outs[0], outs[1], "outputs differ (d = {d})");
    }
}

#[test]
fn sizes_are_exact() {
    let p = params(4, 3, 32, 0);
    let plan = Plan::new(&p).unwrap();
    let keys = rnd_rows(1, 10, 4, 1.0);
    let values = rnd_rows(2, 10, 3, 1.0);
    let mut image = Buf::new(plan.image_bytes() - 1);
    let mut scratch = Buf::new(plan.build_scratch_bytes());
    image.bytes().fill(0xAB);
    let r = build(
        &plan,
        image.bytes(),
        &keys,
        &values,
        &mut TestRng(1),
        scratch.bytes(),
    );
    assert_eq!(r, Err(Error::BufferTooSmall));
    assert!(image.get().iter().all(|&b| b == 0xAB), "nothing written");
    let mut image = Buf::new(plan.image_bytes());
    let mut scratch = Buf::new(plan.build_scratch_bytes() - 1);
    let r = build(
        &plan,
        image.bytes(),
        &keys,
        &values,
        &mut TestRng(1),
        scratch.bytes(),
    );
    assert_eq!(r, Err(Error::BufferTooSmall));
    let mut scratch = Buf::new(plan.build_scratch_bytes());
    assert!(
        build(
            &plan,
            image.bytes(),
            &keys,
            &values,
            &mut TestRng(1),
            scratch.bytes()
        )
        .is_ok()
    );
    let attn = Attn::open(image.get()).unwrap();
    let mut qs = Buf::new(attn.query_scratch_bytes() - 1);
    let mut out = [7f32; 3];
    assert_eq!(
        attn.query(&[0.0; 4], &mut out, qs.bytes()),
        Err(Error::BufferTooSmall)
    );
    assert_eq!(out, [7.0; 3]);
    // The image is exactly image_bytes long: header + nodes·r·(dv+1) words.
    assert_eq!(plan.image_bytes(), HEADER_BYTES + 4 * plan.features() * 4);
}

/// The noise is calibrated to `Plan::sensitivity`: check it against the actual rounded
/// payloads of many pairs of rows, including the adversarial ones (antipodal keys and values
/// at the radii, tiny rows), with and without contribution clipping.
#[test]
fn sensitivity_covers_every_pair_of_rows() {
    for clip in [0.0, 0.4] {
        let mut p = params(4, 3, 64, 0);
        p.clip = clip;
        let plan = Plan::new(&p).unwrap();
        let unit = (1u64 << plan.f_noise) as f64;
        let cols = 4;
        let const_entry = 3 * plan.features();
        let mut rows: Vec<(Vec<f32>, Vec<f32>)> = Vec::new();
        let k = rnd_rows(5, 60, 4, 3.0);
        let v = rnd_rows(6, 60, 3, 5.0);
        for i in 0..60 {
            rows.push((k[i * 4..i * 4 + 4].to_vec(), v[i * 3..i * 3 + 3].to_vec()));
        }
        let r = p.radius_k as f32;
        let s = p.radius_v as f32;
        rows.push((vec![r, 0.0, 0.0, 0.0], vec![s, 0.0, 0.0]));
        rows.push((vec![-r, 0.0, 0.0, 0.0], vec![-s, 0.0, 0.0]));
        rows.push((vec![0.0, r, 0.0, 0.0], vec![0.0, -s, 0.0]));
        rows.push((vec![0.0; 4], vec![0.0; 3]));
        let payloads: Vec<Vec<i64>> = rows
            .iter()
            .map(|(k, v)| super::build::row_payload(&plan, k, v))
            .collect();
        let mut worst = 0.0f64;
        for a in &payloads {
            for b in &payloads {
                let d2: f64 = a
                    .iter()
                    .zip(b)
                    .enumerate()
                    .filter(|(e, _)| !(plan.exact_constant_entry() && *e == const_entry))
                    .map(|(_, (x, y))| ((x - y) as f64).powi(2))
                    .sum();
                worst = worst.max(d2.sqrt() / unit);
            }
        }
        assert_eq!(payloads[0].len(), plan.features() * cols);
        assert!(
            worst <= plan.sensitivity(),
            "clip {clip}: observed {worst} > sensitivity {}",
            plan.sensitivity()
        );
        // And the bound is not vacuous: the antipodal pair comes within 15% of it.
        assert!(
            worst >= 0.85 * plan.sensitivity(),
            "clip {clip}: {worst} ≪ {}",
            plan.sensitivity()
        );
    }
}

#[test]
fn plans_round_trip_through_bytes() {
    for &block in &[0u32, 3] {
        let mut p = params(4, 3, 20, block);
        p.clip = 0.25;
        let plan = Plan::new(&p).unwrap();
        let mut bytes = [0u8; HEADER_BYTES];
        assert_eq!(
            plan.write_to(&mut bytes[..HEADER_BYTES - 1]),
            Err(Error::BufferTooSmall)
        );
        plan.write_to(&mut bytes).unwrap();
        assert_eq!(Plan::read_from(&bytes), Ok(plan));
        assert_eq!(Attn::open(&bytes).err(), Some(Error::BadMagic));
        bytes[0] ^= 1;
        assert_eq!(Plan::read_from(&bytes), Err(Error::BadMagic));
    }
}

#[test]
fn misaligned_buffers_are_refused() {
    let p = params(2, 2, 8, 0);
    let plan = Plan::new(&p).unwrap();
    let mut image = Buf::new(plan.image_bytes() + 1);
    let mut scratch = Buf::new(plan.build_scratch_bytes());
    let r = build(
        &plan,
        &mut image.bytes()[1..],
        &[0.1, 0.2],
        &[0.1, 0.2],
        &mut TestRng(1),
        scratch.bytes(),
    );
    assert_eq!(r, Err(Error::Misaligned));
}

#[test]
fn bad_rows_are_named_and_change_nothing() {
    let mut p = params(2, 2, 4, 0);
    let plan = Plan::new(&p).unwrap();
    let mut image = Buf::new(plan.image_bytes());
    let mut scratch = Buf::new(plan.build_scratch_bytes());
    let mut rng = TestRng(3);
    let mut b = Builder::begin(&plan, image.bytes(), scratch.bytes()).unwrap();
    b.push_f32(&[0.1, 0.2], &[0.3, 0.4], &mut rng).unwrap();
    assert_eq!(
        b.push_f32(&[0.1, f32::NAN], &[0.3, 0.4], &mut rng),
        Err(Error::NonFiniteInput { row: 0 })
    );
    assert_eq!(
        b.push_f32(
            &[0.1, 0.1, 0.1, 0.1],
            &[0.3, 0.4, f32::INFINITY, 0.0],
            &mut rng
        ),
        Err(Error::NonFiniteInput { row: 1 })
    );
    assert_eq!(
        b.push_f32(&[0.1, 0.2, 0.3], &[0.3, 0.4], &mut rng),
        Err(Error::WrongLength)
    );
    assert_eq!(
        b.push_f32(&[0.1, 0.2], &[0.3], &mut rng),
        Err(Error::WrongLength)
    );
    assert_eq!(
        b.push_f32(&[0.0; 8], &[0.0; 8], &mut rng),
        Err(Error::TooManyRows)
    );
    assert_eq!(b.rows(), 1);
    b.push_f32(&[0.0; 6], &[0.0; 6], &mut rng).unwrap();
    assert_eq!(b.rows(), 4);
    b.finish(&mut rng).unwrap();

    p.policy = Policy::Reject;
    let plan = Plan::new(&p).unwrap();
    let r = build(
        &plan,
        image.bytes(),
        &[0.1, 0.2, 5.0, 0.0],
        &[0.1, 0.2, 0.1, 0.1],
        &mut rng,
        scratch.bytes(),
    );
    assert_eq!(r, Err(Error::OutOfBall { row: 1 }));
    assert_eq!(Attn::open(image.get()).err(), Some(Error::BadMagic));
}

#[test]
fn invalid_params_are_named() {
    let base = params(4, 4, 16, 0);
    type Case = (Box<dyn Fn(&mut Params)>, Error);
    let cases: Vec<Case> = vec![
        (Box::new(|p| p.epsilon = 0.0), Error::InvalidEpsilon),
        (Box::new(|p| p.epsilon = f64::NAN), Error::InvalidEpsilon),
        (Box::new(|p| p.delta = 1.0), Error::InvalidDelta),
        (Box::new(|p| p.delta = 0.0), Error::InvalidDelta),
        (Box::new(|p| p.d = 0), Error::InvalidDimension),
        (Box::new(|p| p.dv = 0), Error::InvalidDimension),
        (Box::new(|p| p.n_max = 0), Error::InvalidDimension),
        (Box::new(|p| p.degree = 3), Error::InvalidDegree),
        (Box::new(|p| p.degree = 14), Error::InvalidDegree),
        (Box::new(|p| p.radius_k = -1.0), Error::InvalidRadius),
        (
            Box::new(|p| p.radius_v = f64::INFINITY),
            Error::InvalidRadius,
        ),
        (Box::new(|p| p.score_scale = 100.0), Error::InvalidRadius),
        (Box::new(|p| p.gamma = 0.0), Error::InvalidRadius),
        (Box::new(|p| p.clip = 1.5), Error::InvalidClip),
        (
            Box::new(|p| {
                p.degree = 0;
                p.kernel_rel_err = 1e-30;
            }),
            Error::InvalidDegree,
        ),
        (
            Box::new(|p| {
                p.d = 60_000;
                p.degree = 12;
            }),
            Error::InvalidDimension,
        ),
    ];
    for (f, want) in cases {
        let mut p = base;
        f(&mut p);
        assert_eq!(Plan::new(&p).err(), Some(want), "{p:?}");
    }
    // Very small and very large budgets still plan (the grid adapts to the noise).
    for &eps in &[1e-4, 1e-2, 50.0] {
        for mech in [NoiseKind::Gaussian, NoiseKind::Laplace] {
            let mut p = base;
            p.epsilon = eps;
            p.mechanism = mech;
            let plan = Plan::new(&p).unwrap_or_else(|e| panic!("ε = {eps} {mech:?}: {e}"));
            assert!(plan.sigma() > 0.0);
        }
    }
    let mut p = base;
    p.degree = 0;
    p.kernel_rel_err = 0.01;
    let plan = Plan::new(&p).unwrap();
    assert!(plan.kernel_rel_err() <= 0.01 && plan.degree() >= 2);
}

#[test]
fn failing_rng_zeroises_and_never_opens() {
    let p = params(3, 2, 16, 2);
    let plan = Plan::new(&p).unwrap();
    let keys = rnd_rows(1, 9, 3, 1.0);
    let values = rnd_rows(2, 9, 2, 1.0);
    let mut image = Buf::new(plan.image_bytes());
    let mut scratch = Buf::new(plan.build_scratch_bytes());
    // Count the draws of a successful build, then fail at every k below it.
    let mut counting = FailingRng::new(9, u64::MAX);
    build(
        &plan,
        image.bytes(),
        &keys,
        &values,
        &mut counting,
        scratch.bytes(),
    )
    .unwrap();
    let total = counting.draws;
    assert!(total > 0);
    let step = (total / 200).max(1);
    let mut k = 0;
    while k < total {
        let mut rng = FailingRng::new(9, k);
        let r = build(
            &plan,
            image.bytes(),
            &keys,
            &values,
            &mut rng,
            scratch.bytes(),
        );
        assert_eq!(r, Err(Error::Rng), "k={k}");
        assert!(
            image.get().iter().all(|&b| b == 0),
            "image not zeroised at k={k}"
        );
        assert!(
            scratch.get().iter().all(|&b| b == 0),
            "scratch not zeroised at k={k}"
        );
        assert_eq!(Attn::open(image.get()).err(), Some(Error::BadMagic));
        k += step;
    }
}

#[test]
fn corrupted_images_never_open() {
    let p = params(2, 1, 4, 0);
    let plan = Plan::new(&p).unwrap();
    let mut image = Buf::new(plan.image_bytes());
    let mut scratch = Buf::new(plan.build_scratch_bytes());
    build(
        &plan,
        image.bytes(),
        &[0.1, 0.2, -0.3, 0.4],
        &[0.5, -0.5],
        &mut TestRng(2),
        scratch.bytes(),
    )
    .unwrap();
    let good = image.get().to_vec();
    for bit in 0..good.len() * 8 {
        let mut bad = Buf::new(good.len());
        bad.bytes().copy_from_slice(&good);
        bad.bytes()[bit / 8] ^= 1 << (bit % 8);
        assert!(Attn::open(bad.get()).is_err(), "bit {bit} flip opened");
    }
    for len in 0..good.len() {
        assert!(
            Attn::open(&good[..len]).is_err(),
            "truncated to {len} opened"
        );
    }
}

#[test]
fn in_progress_builds_cannot_be_opened_or_misused() {
    let p = params(2, 2, 8, 0);
    let plan = Plan::new(&p).unwrap();
    let mut image = Buf::new(plan.image_bytes());
    let mut scratch = Buf::new(plan.build_scratch_bytes());
    build_begin(&plan, image.bytes(), scratch.bytes()).unwrap();
    build_push(
        image.bytes(),
        scratch.bytes(),
        Rows::F32(&[0.1, 0.1]),
        Rows::F32(&[0.2, 0.2]),
        &mut TestRng(1),
    )
    .unwrap();
    assert_eq!(Attn::open(image.get()).err(), Some(Error::BadMagic));
    build_finish(image.bytes(), scratch.bytes(), &mut TestRng(1)).unwrap();
    assert!(Attn::open(image.get()).is_ok());
    // Pushing after finish is a state error, and changes nothing.
    let before = image.get().to_vec();
    let r = build_push(
        image.bytes(),
        scratch.bytes(),
        Rows::F32(&[0.1, 0.1]),
        Rows::F32(&[0.2, 0.2]),
        &mut TestRng(1),
    );
    assert_eq!(r, Err(Error::BuildState));
    assert_eq!(image.get(), &before[..]);
}

#[test]
fn dropped_builder_zeroises() {
    let p = params(2, 2, 8, 0);
    let plan = Plan::new(&p).unwrap();
    let mut image = Buf::new(plan.image_bytes());
    let mut scratch = Buf::new(plan.build_scratch_bytes());
    {
        let mut b = Builder::begin(&plan, image.bytes(), scratch.bytes()).unwrap();
        b.push_f32(&[0.5, 0.5], &[0.5, 0.5], &mut TestRng(1))
            .unwrap();
    }
    assert!(image.get().iter().all(|&b| b == 0));
    assert!(scratch.get().iter().all(|&b| b == 0));
}

#[test]
fn exact_constant_entry_is_n_times_the_constant() {
    let p = params(3, 2, 64, 0);
    let plan = Plan::new(&p).unwrap();
    assert!(plan.exact_constant_entry());
    let keys = rnd_rows(1, 33, 3, 3.0);
    let values = rnd_rows(2, 33, 2, 3.0);
    let mut image = Buf::new(plan.image_bytes());
    let mut scratch = Buf::new(plan.build_scratch_bytes());
    build(
        &plan,
        image.bytes(),
        &keys,
        &values,
        &mut TestRng(4),
        scratch.bytes(),
    )
    .unwrap();
    let r = plan.features();
    let off = HEADER_BYTES + 4 * (2 * r);
    let word = i32::from_le_bytes(image.get()[off..off + 4].try_into().unwrap());
    let want = crate::fixed::round_shr(33 * plan.const_payload(), plan.f_noise - plan.f_store);
    assert_eq!(i64::from(word), want);
}

#[test]
fn contribution_clipping_bounds_every_payload() {
    let mut p = params(3, 2, 64, 0);
    p.clip = 0.3;
    let plan = Plan::new(&p).unwrap();
    assert!(!plan.exact_constant_entry());
    let unclipped = Plan::new(&params(3, 2, 64, 0)).unwrap();
    assert!(
        plan.sigma() < unclipped.sigma() * 0.35,
        "{} vs {}",
        plan.sigma(),
        unclipped.sigma()
    );
    // Noise-off output stays a convex combination of the (clipped) values.
    let keys = rnd_rows(1, 30, 3, 2.0);
    let values = rnd_rows(2, 30, 2, 3.0);
    let image = build_noiseless(&plan, &keys, &values);
    let attn = Attn::open(image.get()).unwrap();
    let mut qs = Buf::new(attn.query_scratch_bytes());
    let mut out = [0f32; 2];
    attn.query(&[0.2, 0.1, -0.3], &mut out, qs.bytes()).unwrap();
    let norm = (out[0] as f64).hypot(out[1] as f64);
    assert!(norm <= p.radius_v + 1e-6);
}

#[test]
fn aligned_static_buffers_work() {
    let p = params(2, 2, 4, 0);
    let plan = Plan::new(&p).unwrap();
    let mut image = AlignedBuf::<4096>::new();
    let mut scratch = AlignedBuf::<4096>::new();
    assert!(plan.image_bytes() <= 4096 && plan.build_scratch_bytes() <= 4096);
    build(
        &plan,
        image.as_bytes_mut(),
        &[0.1, 0.2],
        &[0.3, 0.4],
        &mut TestRng(1),
        scratch.as_bytes_mut(),
    )
    .unwrap();
    assert!(Attn::open(image.as_bytes()).is_ok());
}

/// Coverage: over many seeds the single-query bound at β = 0.05 fails for ≤ 5% of queries
/// (it is conservative, so in practice for none), and the uniform bound never fails.
#[test]
fn error_bounds_hold_empirically() {
    let p = params(3, 2, 200, 0);
    let plan = Plan::new(&p).unwrap();
    let keys = rnd_rows(21, 200, 3, 1.2);
    let values = rnd_rows(22, 200, 2, 2.0);
    let queries = rnd_rows(23, 10, 3, 1.5);
    let bound = plan.bound(200, 0.05).unwrap();
    assert!(bound.single <= bound.uniform);
    let (mut fails, mut total) = (0usize, 0usize);
    let mut image = Buf::new(plan.image_bytes());
    let mut scratch = Buf::new(plan.build_scratch_bytes());
    for seed in 0..40u64 {
        build(
            &plan,
            image.bytes(),
            &keys,
            &values,
            &mut TestRng(seed),
            scratch.bytes(),
        )
        .unwrap();
        let attn = Attn::open(image.get()).unwrap();
        let mut qs = Buf::new(attn.query_scratch_bytes());
        for q in queries.chunks(3) {
            let mut out = [0f32; 2];
            attn.query(q, &mut out, qs.bytes()).unwrap();
            // Exact softmax attention on the clipped inputs.
            let qc = clip(q, p.radius_q);
            let (mut num, mut den) = ([0.0f64; 2], 0.0);
            for i in 0..200 {
                let kc = clip(&keys[i * 3..i * 3 + 3], p.radius_k);
                let vc = clip(&values[i * 2..i * 2 + 2], p.radius_v);
                let w = (p.score_scale * qc.iter().zip(&kc).map(|(a, b)| a * b).sum::<f64>()).exp();
                den += w;
                num[0] += w * vc[0];
                num[1] += w * vc[1];
            }
            let err = ((out[0] as f64 - num[0] / den).powi(2)
                + (out[1] as f64 - num[1] / den).powi(2))
            .sqrt();
            total += 1;
            if err > bound.single {
                fails += 1;
            }
            assert!(
                err <= bound.uniform,
                "uniform bound {} exceeded: {err}",
                bound.uniform
            );
        }
    }
    assert!(
        fails * 100 <= total * 5 + 2,
        "{fails}/{total} exceed the single bound"
    );
}
