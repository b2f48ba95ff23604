//! Tests of the DPTree family: exact answers with the noise off (test-only switch),
//! statistical coverage of the error bounds, bad inputs, buffer sizes and images.

use super::*;
use crate::{ALIGN, Error};
use core::convert::Infallible;
use rand_chacha::ChaCha8Rng;
use rand_core::{SeedableRng, TryRng};

/// An `ALIGN`-aligned byte buffer of exactly `len` bytes (backed by `u64`s).
struct Buf {
    words: Vec<u64>,
    len: usize,
}

impl Buf {
    fn new(len: usize) -> Self {
        Self::filled(len, 0)
    }
    fn filled(len: usize, byte: u8) -> Self {
        let mut b = Buf {
            words: vec![0u64; len.div_ceil(8) + 1],
            len,
        };
        b.all_mut().fill(byte);
        b
    }
    fn all_mut(&mut self) -> &mut [u8] {
        bytemuck::cast_slice_mut(&mut self.words)
    }
    fn all(&self) -> &[u8] {
        bytemuck::cast_slice(&self.words)
    }
    fn bytes(&mut self) -> &mut [u8] {
        let len = self.len;
        &mut self.all_mut()[..len]
    }
    fn ro(&self) -> &[u8] {
        &self.all()[..self.len]
    }
}

/// Recompute the header check of an image after a deliberate edit (to test the checks that
/// come after the checksum).
fn reseal(buf: &mut [u8]) {
    let parts = super::image::rd_u16(buf, 10).unwrap();
    let ext = super::image::rd_u32(buf, 96).unwrap();
    let mut c = crate::checksum::Crc32c::new();
    c.update(&buf[..120]);
    c.update(&buf[128..128 + 32 * parts as usize + ext as usize]);
    buf[120..128].copy_from_slice(&u64::from(c.finish()).to_le_bytes());
}

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// An RNG that fails after `ok` successful calls.
struct FailingRng {
    inner: ChaCha8Rng,
    ok: usize,
}

#[derive(Debug)]
struct Broken;
impl core::fmt::Display for Broken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("broken")
    }
}
impl core::error::Error for Broken {}

impl TryRng for FailingRng {
    type Error = Broken;
    fn try_next_u32(&mut self) -> core::result::Result<u32, Broken> {
        self.tick()?;
        Ok(self
            .inner
            .try_next_u32()
            .unwrap_or_else(|e: Infallible| match e {}))
    }
    fn try_next_u64(&mut self) -> core::result::Result<u64, Broken> {
        self.tick()?;
        Ok(self
            .inner
            .try_next_u64()
            .unwrap_or_else(|e: Infallible| match e {}))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> core::result::Result<(), Broken> {
        self.tick()?;
        self.inner
            .try_fill_bytes(dst)
            .unwrap_or_else(|e: Infallible| match e {});
        Ok(())
    }
}
impl FailingRng {
    fn tick(&mut self) -> core::result::Result<(), Broken> {
        if self.ok == 0 {
            return Err(Broken);
        }
        self.ok -= 1;
        Ok(())
    }
}

/// Deterministic pseudo-random reals in [lo, hi] (test data, not noise).
fn data(seed: u64, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    let mut r = rng(seed ^ 0xdada);
    (0..n)
        .map(|_| {
            let u = (r.try_next_u64().unwrap() >> 11) as f64 / (1u64 << 53) as f64;
            lo + (hi - lo) * u
        })
        .collect()
}

fn tree_params(n: usize, noise: Noise) -> DPTreeParams {
    DPTreeParams {
        n,
        value_bound: 2.5,
        noise,
        epsilon: 1.0,
        delta: 1e-6,
    }
}

// ---------------------------------------------------------------------------------------
// DPTree
// ---------------------------------------------------------------------------------------

#[test]
fn plan_sizes_are_exact() {
    for n in [1usize, 2, 3, 7, 8, 100, 1000, 65_537] {
        let p = DPTreePlan::new(&tree_params(n, Noise::Gaussian)).unwrap();
        assert_eq!(p.image_bytes, 160 + 8 * n);
        assert_eq!(p.levels, usize::BITS - n.leading_zeros());
        assert_eq!(p.state_bytes, 32 + 8 * p.levels as usize);
        assert_eq!(p.image_bytes % ALIGN, 0);
    }
}

#[test]
fn range_sums_are_exact_with_noise_off() {
    for n in [1usize, 2, 3, 5, 8, 13, 64, 100] {
        for noise in [Noise::Gaussian, Noise::Laplace] {
            let plan = DPTreePlan::new(&tree_params(n, noise))
                .unwrap()
                .without_noise();
            let v = data(n as u64, n, -2.5, 2.5);
            let mut img = Buf::new(plan.image_bytes);
            let t = DPTree::build(&plan, img.bytes(), &v, &mut rng(1)).unwrap();
            let f = plan.calibration.frac_bits;
            let q: Vec<i64> = v
                .iter()
                .map(|&x| libm::round(libm::scalbn(x, f)) as i64)
                .collect();
            for a in 0..n {
                for b in a + 1..=n {
                    let got = t.range_sum(a, b).unwrap();
                    let exact_int: i128 = q[a..b].iter().map(|&x| i128::from(x)).sum();
                    assert_eq!(got, libm::scalbn(exact_int as f64, -f), "n={n} [{a},{b})");
                    let real: f64 = v[a..b].iter().sum();
                    let bd = t.bound(a, b, 0.05).unwrap();
                    assert_eq!(bd.noise, 0.0);
                    assert!((got - real).abs() <= bd.total, "{got} vs {real}: {bd:?}");
                }
            }
        }
    }
}

#[test]
fn streaming_matches_one_shot_and_answers_completed_prefixes() {
    let n = 45;
    let plan = DPTreePlan::new(&tree_params(n, Noise::Laplace)).unwrap();
    let v = data(7, n, -2.5, 2.5);
    let mut one = Buf::new(plan.image_bytes);
    DPTree::build(&plan, one.bytes(), &v, &mut rng(99)).unwrap();

    let mut img = Buf::new(plan.image_bytes);
    let mut st = Buf::new(plan.state_bytes);
    let mut r = rng(99);
    DPTreeWriter::begin(&plan, img.bytes(), st.bytes()).unwrap();
    let mut done = 0;
    for chunk in [1usize, 0, 2, 5, 11, 26] {
        // Re-attach each time, as the C ABI does.
        let mut w = DPTreeWriter::resume(img.bytes(), st.bytes()).unwrap();
        w.push(&v[done..done + chunk], &mut r).unwrap();
        done += chunk;
        assert_eq!(w.filled(), done);
        let t = w.tree();
        if done > 0 {
            assert!(t.range_sum(0, done).is_ok());
        }
        assert_eq!(t.range_sum(0, done + 1), Err(Error::InvalidRange));
        // The published image opens and agrees with the writer's view.
        let opened = DPTree::open(img.ro()).unwrap();
        assert_eq!(opened.filled(), done);
    }
    assert_eq!(done, n);
    let w = DPTreeWriter::resume(img.bytes(), st.bytes()).unwrap();
    let t = w.finish();
    assert_eq!(t.filled(), n);
    assert!(st.ro().iter().all(|&b| b == 0), "finish zeroises the state");
    assert_eq!(img.ro(), one.ro(), "same RNG bytes ⇒ same image");
    // A finished stream cannot be resumed.
    assert_eq!(
        DPTreeWriter::resume(img.bytes(), st.bytes()).err(),
        Some(Error::BuildState)
    );
}

/// Empirical coverage of the single-range bound at β over many independent trees.
fn coverage(noise: Noise, beta: f64, trials: u64) {
    let n = 37;
    let plan = DPTreePlan::new(&tree_params(n, noise)).unwrap();
    let v = data(3, n, -2.5, 2.5);
    let ranges = [
        (0usize, 1usize),
        (0, 37),
        (5, 6),
        (3, 30),
        (17, 33),
        (36, 37),
    ];
    let mut fails = [0u32; 6];
    let mut ratio_q = Vec::new();
    let mut img = Buf::new(plan.image_bytes);
    for seed in 0..trials {
        let t = DPTree::build(&plan, img.bytes(), &v, &mut rng(1000 + seed)).unwrap();
        for (k, &(a, b)) in ranges.iter().enumerate() {
            let exact: f64 = v[a..b].iter().sum();
            let bd = t.bound(a, b, beta).unwrap();
            let err = (t.range_sum(a, b).unwrap() - exact).abs();
            if err > bd.total {
                fails[k] += 1;
            }
            ratio_q.push(err / bd.total);
        }
    }
    let tol = beta + 4.0 * (beta * (1.0 - beta) / trials as f64).sqrt();
    for (k, &f) in fails.iter().enumerate() {
        let rate = f64::from(f) / trials as f64;
        assert!(
            rate <= tol,
            "{noise:?} range {:?}: fail rate {rate} > {tol}",
            ranges[k]
        );
    }
    // Not vacuous: the errors reach a fair fraction of the bound.
    ratio_q.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let q = ratio_q[((1.0 - beta) * ratio_q.len() as f64) as usize];
    assert!(q > 0.25, "{noise:?}: (1-β)-quantile of err/bound = {q}");
}

#[test]
fn gaussian_bound_covers() {
    coverage(Noise::Gaussian, 0.1, 300);
}

#[test]
fn laplace_bound_covers() {
    coverage(Noise::Laplace, 0.1, 300);
}

#[test]
fn bad_values_write_nothing() {
    let plan = DPTreePlan::new(&tree_params(8, Noise::Gaussian)).unwrap();
    let cases: [(&[f64], Error); 4] = [
        (&[0.0, f64::NAN], Error::NonFiniteInput { row: 1 }),
        (&[f64::INFINITY], Error::NonFiniteInput { row: 0 }),
        (&[1.0, 2.0, -2.6], Error::OutOfRange { row: 2 }),
        (&[0.0; 9], Error::TooManyRows),
    ];
    for (vals, want) in cases {
        let mut img = Buf::filled(plan.image_bytes, 0xAA);
        assert_eq!(
            DPTree::build(&plan, img.bytes(), vals, &mut rng(0)).err(),
            Some(want)
        );
        assert!(
            img.all().iter().all(|&b| b == 0xAA),
            "{want:?}: image touched"
        );
    }
    // Streaming: a bad batch changes neither the image nor the state.
    let mut img = Buf::new(plan.image_bytes);
    let mut st = Buf::new(plan.state_bytes);
    let mut w = DPTreeWriter::begin(&plan, img.bytes(), st.bytes()).unwrap();
    w.push(&[1.0f32, 2.0], &mut rng(0)).unwrap();
    let (before_i, before_s) = (img.ro().to_vec(), st.ro().to_vec());
    let mut w = DPTreeWriter::resume(img.bytes(), st.bytes()).unwrap();
    assert_eq!(
        w.push(&[0.5, f64::NAN], &mut rng(0)).err(),
        Some(Error::NonFiniteInput { row: 1 })
    );
    assert_eq!(
        w.push(&[0.0; 7], &mut rng(0)).err(),
        Some(Error::TooManyRows)
    );
    assert_eq!(img.ro(), &before_i[..]);
    assert_eq!(st.ro(), &before_s[..]);
}

#[test]
fn bad_params() {
    let ok = tree_params(10, Noise::Gaussian);
    let cases = [
        (DPTreeParams { n: 0, ..ok }, Error::InvalidDimension),
        (
            DPTreeParams {
                n: MAX_LEAVES + 1,
                ..ok
            },
            Error::InvalidDimension,
        ),
        (
            DPTreeParams {
                value_bound: 0.0,
                ..ok
            },
            Error::InvalidParameter,
        ),
        (
            DPTreeParams {
                value_bound: f64::NAN,
                ..ok
            },
            Error::InvalidParameter,
        ),
        (
            DPTreeParams {
                value_bound: f64::INFINITY,
                ..ok
            },
            Error::InvalidParameter,
        ),
        (DPTreeParams { epsilon: 0.0, ..ok }, Error::InvalidEpsilon),
        (
            DPTreeParams {
                epsilon: f64::NAN,
                ..ok
            },
            Error::InvalidEpsilon,
        ),
        (DPTreeParams { delta: 0.0, ..ok }, Error::InvalidDelta),
        (DPTreeParams { delta: 1.0, ..ok }, Error::InvalidDelta),
        (
            DPTreeParams {
                noise: Noise::Laplace,
                delta: -1.0,
                ..ok
            },
            Error::InvalidDelta,
        ),
    ];
    for (p, e) in cases {
        assert_eq!(DPTreePlan::new(&p).err(), Some(e), "{p:?}");
    }
    // Laplace ignores δ (reported as 0).
    let p = DPTreePlan::new(&DPTreeParams {
        noise: Noise::Laplace,
        delta: 0.0,
        ..ok
    })
    .unwrap();
    assert_eq!(p.params.delta, 0.0);
}

#[test]
fn buffers_exact_short_misaligned() {
    let plan = DPTreePlan::new(&tree_params(20, Noise::Gaussian)).unwrap();
    let v = data(1, 20, -1.0, 1.0);
    // One byte short: refused, untouched.
    let mut img = Buf::filled(plan.image_bytes - 1, 0x55);
    assert_eq!(
        DPTree::build(&plan, img.bytes(), &v, &mut rng(0)).err(),
        Some(Error::BufferTooSmall)
    );
    assert!(img.all().iter().all(|&b| b == 0x55));
    let mut img = Buf::filled(plan.image_bytes, 0x55);
    let mut st = Buf::filled(plan.state_bytes - 1, 0x55);
    assert_eq!(
        DPTreeWriter::begin(&plan, img.bytes(), st.bytes()).err(),
        Some(Error::BufferTooSmall)
    );
    assert!(img.all().iter().all(|&b| b == 0x55));
    assert!(st.all().iter().all(|&b| b == 0x55));
    // Misaligned.
    let mut img = Buf::filled(plan.image_bytes + 8, 0x55);
    assert_eq!(
        DPTree::build(&plan, &mut img.bytes()[1..], &v, &mut rng(0)).err(),
        Some(Error::Misaligned)
    );
    assert!(img.all().iter().all(|&b| b == 0x55));
    // Exactly the plan's bytes, and nothing past them touched.
    let mut img = Buf::filled(plan.image_bytes + 64, 0x55);
    DPTree::build(&plan, &mut img.bytes()[..], &v, &mut rng(0)).unwrap();
    assert!(img.ro()[plan.image_bytes..].iter().all(|&b| b == 0x55));
    assert!(DPTree::open(&img.ro()[..plan.image_bytes]).is_ok());
    assert_eq!(
        DPTree::open(&img.ro()[..plan.image_bytes - 1]).err(),
        Some(Error::BufferTooSmall)
    );
}

#[test]
fn ranges_and_beta_checked() {
    let plan = DPTreePlan::new(&tree_params(10, Noise::Gaussian)).unwrap();
    let mut img = Buf::new(plan.image_bytes);
    let t = DPTree::build(&plan, img.bytes(), &[1.0; 6], &mut rng(0)).unwrap();
    for (a, b) in [(3, 3), (4, 3), (0, 7), (0, 11), (usize::MAX, 2)] {
        assert_eq!(t.range_sum(a, b), Err(Error::InvalidRange), "[{a},{b})");
        assert_eq!(t.bound(a, b, 0.1).err(), Some(Error::InvalidRange));
    }
    assert_eq!(t.prefix_sum(0), Err(Error::InvalidRange));
    for beta in [0.0, 1.0, f64::NAN, -0.5] {
        assert_eq!(t.bound(0, 6, beta).err(), Some(Error::InvalidParameter));
    }
    assert!(t.range_sum(0, 6).is_ok());
}

#[test]
fn rng_failure_zeroises() {
    let plan = DPTreePlan::new(&tree_params(30, Noise::Gaussian)).unwrap();
    let v = data(2, 30, -1.0, 1.0);
    let mut img = Buf::filled(plan.image_bytes, 0x77);
    let mut bad = FailingRng {
        inner: rng(5),
        ok: 40,
    };
    assert_eq!(
        DPTree::build(&plan, img.bytes(), &v, &mut bad).err(),
        Some(Error::Rng)
    );
    assert!(img.ro().iter().all(|&b| b == 0));
    assert_eq!(DPTree::open(img.ro()).err(), Some(Error::BadMagic));
    // Streaming: the image and the state are both wiped.
    let mut img = Buf::new(plan.image_bytes);
    let mut st = Buf::new(plan.state_bytes);
    let mut w = DPTreeWriter::begin(&plan, img.bytes(), st.bytes()).unwrap();
    w.push(&v[..10], &mut rng(1)).unwrap();
    let mut bad = FailingRng {
        inner: rng(5),
        ok: 3,
    };
    assert_eq!(w.push(&v[10..], &mut bad).err(), Some(Error::Rng));
    assert!(img.ro().iter().all(|&b| b == 0));
    assert!(st.ro().iter().all(|&b| b == 0));
}

#[test]
fn images_are_validated() {
    let plan = DPTreePlan::new(&tree_params(16, Noise::Laplace)).unwrap();
    let mut img = Buf::new(plan.image_bytes);
    DPTree::build(&plan, img.bytes(), &data(4, 16, -1.0, 1.0), &mut rng(3)).unwrap();
    let good = img.ro().to_vec();
    let reset = |img: &mut Buf| img.bytes().copy_from_slice(&good);
    // A node word flipped.
    img.bytes()[160 + 8 * 5] ^= 1;
    assert_eq!(DPTree::open(img.ro()).err(), Some(Error::ChecksumMismatch));
    reset(&mut img);
    // A header byte changed (ε).
    img.bytes()[50] ^= 1;
    assert_eq!(DPTree::open(img.ro()).err(), Some(Error::ChecksumMismatch));
    reset(&mut img);
    img.bytes()[0] = b'X';
    assert_eq!(DPTree::open(img.ro()).err(), Some(Error::BadMagic));
    reset(&mut img);
    img.bytes()[4] = 9;
    assert_eq!(
        DPTree::open(img.ro()).err(),
        Some(Error::UnsupportedVersion)
    );
    reset(&mut img);
    assert!(DPTree::open(img.ro()).is_ok());
    // An image whose stored noise scale is smaller than its (ε, n, Δ) demand, with a valid
    // checksum, fails the calibration audit.
    let mut st = Buf::new(plan.state_bytes);
    let mut img2 = Buf::new(plan.image_bytes);
    let mut w = DPTreeWriter::begin(&plan, img2.bytes(), st.bytes()).unwrap();
    w.push(&[0.5], &mut rng(0)).unwrap();
    let num_at = 128 + 16;
    let num = u64::from_le_bytes(img2.ro()[num_at..num_at + 8].try_into().unwrap());
    img2.bytes()[num_at..num_at + 8].copy_from_slice(&(num / 2).to_le_bytes());
    assert_eq!(DPTree::open(img2.ro()).err(), Some(Error::ChecksumMismatch));
    reseal(img2.bytes());
    assert_eq!(
        DPTree::open(img2.ro()).unwrap().check_calibration().err(),
        Some(Error::CorruptImage)
    );
    assert_eq!(
        DPTree::open(img.ro()).unwrap().check_calibration().unwrap(),
        plan
    );
    // An edited plan is refused.
    let mut edited = plan;
    edited.calibration.scale_num /= 2;
    let mut img3 = Buf::new(plan.image_bytes);
    assert_eq!(
        DPTree::build(&edited, img3.bytes(), &[0.0], &mut rng(0)).err(),
        Some(Error::InvalidParameter)
    );
}

#[test]
fn calibration_is_what_the_docs_say() {
    for noise in [Noise::Gaussian, Noise::Laplace] {
        let p = DPTreePlan::new(&tree_params(1000, noise)).unwrap();
        let c = p.calibration;
        let l = u64::from(p.levels);
        assert_eq!(l, 10);
        // D = round(Δ·2^F), includes the input rounding.
        assert_eq!(
            c.bound_int as f64,
            libm::round(libm::scalbn(2.5, c.frac_bits))
        );
        assert_eq!(c.l1_sensitivity, 2 * c.bound_int * l);
        assert!(c.l2_sensitivity >= 2.0 * c.bound_int as f64 * (l as f64).sqrt());
        assert!(c.scale <= 2f64.powi(SCALE_TARGET_BITS) * 1.0001);
        match noise {
            Noise::Laplace => assert!(c.scale >= c.l1_sensitivity as f64 / 1.0),
            Noise::Gaussian => {
                let s =
                    crate::privacy::analytic_gaussian_sigma(1.0, 1e-6, c.l2_sensitivity).unwrap();
                assert!(c.scale >= s);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Distance structures
// ---------------------------------------------------------------------------------------

fn dist_params(noise: Noise) -> DistanceParams {
    DistanceParams {
        cells: 50,
        radius: 4.0,
        weight_bound: 1.5,
        n_max: 200,
        noise,
        epsilon: 1.0,
        delta: 1e-6,
    }
}

fn brute_1d(xs: &[f64], ws: &[f64], y: f64) -> f64 {
    xs.iter().zip(ws).map(|(x, w)| w * (y - x).abs()).sum()
}

#[test]
fn distance_sizes() {
    let p = DistancePlan::new(&dist_params(Noise::Gaussian)).unwrap();
    assert_eq!(p.image_bytes, 128 + 64 + 16 + 16 * 50);
    assert_eq!(p.levels, 6);
    assert!((p.cell_width - 0.08).abs() < 1e-15);
    let h = HighDimPlan::new(&HighDimParams {
        dims: 3,
        cells: 50,
        radius: 4.0,
        weight_bound: 1.5,
        n_max: 200,
        noise: Noise::Gaussian,
        epsilon: 1.0,
        delta: 1e-6,
    })
    .unwrap();
    assert_eq!(h.image_bytes, 128 + 3 * 64 + 16 + 3 * 16 * 50);
}

#[test]
fn distance_exact_with_noise_off() {
    for noise in [Noise::Gaussian, Noise::Laplace] {
        let plan = DistancePlan::new(&dist_params(noise))
            .unwrap()
            .without_noise();
        let xs = data(11, 150, 0.0, 4.0);
        let ws = data(12, 150, -1.5, 1.5);
        let mut img = Buf::new(plan.image_bytes);
        let t = DPTreeDistance::build(&plan, img.bytes(), &xs, &ws, &mut rng(0)).unwrap();
        let cw = plan.cell_width;
        for y in [-1.0, 0.0, 0.01, 1.234, 2.0, 3.999, 4.0, 7.5] {
            let got = t.evaluate(y).unwrap();
            // Same points moved to their cell centres: equal up to grid rounding.
            let centred: Vec<f64> = xs
                .iter()
                .map(|x| ((x / cw).floor().min(49.0) + 0.5) * cw)
                .collect();
            let at_centres = brute_1d(&centred, &ws, y);
            let bd = t.bound(y, 0.05).unwrap();
            assert_eq!(bd.noise, 0.0);
            assert!(
                (got - at_centres).abs() <= bd.rounding,
                "y={y}: {got} vs {at_centres}, {bd:?}"
            );
            let exact = brute_1d(&xs, &ws, y);
            let disc: f64 = ws.iter().map(|w| w.abs()).sum::<f64>() * cw / 2.0;
            assert!((got - exact).abs() <= disc + bd.rounding, "y={y}");
            assert!((got - exact).abs() <= bd.total);
        }
    }
}

#[test]
fn distance_bound_covers() {
    for noise in [Noise::Gaussian, Noise::Laplace] {
        let plan = DistancePlan::new(&dist_params(noise)).unwrap();
        let xs = data(21, 120, 0.0, 4.0);
        let ws = data(22, 120, -1.5, 1.5);
        let ys = [0.3, 2.0, 3.7];
        let beta = 0.1;
        let trials = 200u64;
        let mut fails = 0u32;
        let mut img = Buf::new(plan.image_bytes);
        let mut worst = 0.0f64;
        for seed in 0..trials {
            let t = DPTreeDistance::build(&plan, img.bytes(), &xs, &ws, &mut rng(seed)).unwrap();
            for &y in &ys {
                let bd = t.bound(y, beta).unwrap();
                let err = (t.evaluate(y).unwrap() - brute_1d(&xs, &ws, y)).abs();
                if err > bd.total {
                    fails += 1;
                }
                worst = worst.max(err / bd.total);
            }
        }
        let n = (trials * ys.len() as u64) as f64;
        let rate = f64::from(fails) / n;
        assert!(
            rate <= beta + 4.0 * (beta * (1.0 - beta) / (n / 3.0)).sqrt(),
            "{noise:?}: {rate}"
        );
        assert!(
            worst > 0.2,
            "{noise:?}: bound vacuous? worst err/bound {worst}"
        );
    }
}

#[test]
fn distance_bad_inputs_write_nothing() {
    let plan = DistancePlan::new(&dist_params(Noise::Gaussian)).unwrap();
    let cases: [(&[f64], &[f64], Error); 6] = [
        (&[1.0, 2.0], &[1.0], Error::WrongLength),
        (
            &[1.0, f64::NAN],
            &[1.0, 1.0],
            Error::NonFiniteInput { row: 1 },
        ),
        (
            &[1.0, 2.0],
            &[f64::NEG_INFINITY, 1.0],
            Error::NonFiniteInput { row: 0 },
        ),
        (&[1.0, 4.01], &[1.0, 1.0], Error::OutOfRange { row: 1 }),
        (&[-0.01], &[1.0], Error::OutOfRange { row: 0 }),
        (&[1.0], &[1.51], Error::OutOfRange { row: 0 }),
    ];
    for (xs, ws, want) in cases {
        let mut img = Buf::filled(plan.image_bytes, 0xAA);
        assert_eq!(
            DPTreeDistance::build(&plan, img.bytes(), xs, ws, &mut rng(0)).err(),
            Some(want)
        );
        assert!(img.all().iter().all(|&b| b == 0xAA), "{want:?}");
    }
    let mut img = Buf::filled(plan.image_bytes, 0xAA);
    let xs = vec![1.0; 201];
    assert_eq!(
        DPTreeDistance::build(&plan, img.bytes(), &xs, &xs, &mut rng(0)).err(),
        Some(Error::TooManyRows)
    );
    let mut img = Buf::filled(plan.image_bytes - 1, 0xAA);
    assert_eq!(
        DPTreeDistance::build(&plan, img.bytes(), &[1.0], &[1.0], &mut rng(0)).err(),
        Some(Error::BufferTooSmall)
    );
    assert!(img.all().iter().all(|&b| b == 0xAA));
    // Exactly image_bytes are used: a longer buffer keeps its tail.
    let mut img = Buf::filled(plan.image_bytes + 40, 0xAA);
    DPTreeDistance::build(&plan, img.bytes(), &[1.0], &[1.0], &mut rng(0)).unwrap();
    assert!(img.ro()[plan.image_bytes..].iter().all(|&b| b == 0xAA));
    assert!(DPTreeDistance::open(&img.ro()[..plan.image_bytes]).is_ok());
    // Bad parameters.
    let ok = dist_params(Noise::Gaussian);
    for (p, e) in [
        (DistanceParams { cells: 0, ..ok }, Error::InvalidDimension),
        (DistanceParams { n_max: 0, ..ok }, Error::InvalidDimension),
        (DistanceParams { radius: -1.0, ..ok }, Error::InvalidRadius),
        (
            DistanceParams {
                weight_bound: f64::NAN,
                ..ok
            },
            Error::InvalidRadius,
        ),
        (
            DistanceParams {
                epsilon: -1.0,
                ..ok
            },
            Error::InvalidEpsilon,
        ),
        (DistanceParams { delta: 0.0, ..ok }, Error::InvalidDelta),
    ] {
        assert_eq!(DistancePlan::new(&p).err(), Some(e));
    }
    // Queries.
    let mut img = Buf::new(plan.image_bytes);
    let t = DPTreeDistance::build(&plan, img.bytes(), &[1.0], &[1.0], &mut rng(0)).unwrap();
    assert_eq!(t.evaluate(f64::NAN), Err(Error::NonFiniteInput { row: 0 }));
    assert_eq!(t.bound(1.0, 0.0).err(), Some(Error::InvalidParameter));
}

#[test]
fn distance_builder_chunks_match_one_shot_and_hide_until_finished() {
    let plan = DistancePlan::new(&dist_params(Noise::Laplace)).unwrap();
    let xs = data(31, 90, 0.0, 4.0);
    let ws = data(32, 90, -1.5, 1.5);
    let mut one = Buf::new(plan.image_bytes);
    DPTreeDistance::build(&plan, one.bytes(), &xs, &ws, &mut rng(8)).unwrap();
    let mut img = Buf::new(plan.image_bytes);
    DistanceBuilder::begin(&plan, img.bytes()).unwrap();
    for (a, b) in [(0, 10), (10, 10), (10, 60), (60, 90)] {
        let mut bld = DistanceBuilder::resume(img.bytes()).unwrap();
        bld.push(&xs[a..b], &ws[a..b]).unwrap();
        assert_eq!(bld.count(), b);
        // An unfinished build holds exact sums and must not open.
        assert_eq!(DPTreeDistance::open(img.ro()).err(), Some(Error::BadMagic));
    }
    let bld = DistanceBuilder::resume(img.bytes()).unwrap();
    let t = bld.finish(&mut rng(8)).unwrap();
    assert_eq!(t.count(), 90);
    assert_eq!(img.ro(), one.ro());
    let t = DPTreeDistance::open(img.ro()).unwrap();
    assert_eq!(t.plan(), plan);
    assert_eq!(t.check_calibration().unwrap(), plan);
    // A halved noise scale (checksum fixed up) opens, but fails the audit.
    let mut bad = Buf::new(plan.image_bytes);
    bad.bytes().copy_from_slice(img.ro());
    for t in 0..2 {
        let at = 128 + 32 * t + 16;
        let num = u64::from_le_bytes(bad.ro()[at..at + 8].try_into().unwrap());
        bad.bytes()[at..at + 8].copy_from_slice(&(num / 2).to_le_bytes());
    }
    reseal(bad.bytes());
    let opened = DPTreeDistance::open(bad.ro()).unwrap();
    assert_eq!(opened.check_calibration().err(), Some(Error::CorruptImage));
    // Wrong kind.
    assert_eq!(DPTreeHighDim::open(img.ro()).err(), Some(Error::BadMagic));
    assert_eq!(DPTree::open(img.ro()).err(), Some(Error::BadMagic));
    // RNG failure in finish zeroises.
    let mut img = Buf::new(plan.image_bytes);
    let mut bld = DistanceBuilder::begin(&plan, img.bytes()).unwrap();
    bld.push(&xs, &ws).unwrap();
    let mut bad = FailingRng {
        inner: rng(1),
        ok: 50,
    };
    assert_eq!(bld.finish(&mut bad).err(), Some(Error::Rng));
    assert!(img.ro().iter().all(|&b| b == 0));
}

fn hd_params(noise: Noise) -> HighDimParams {
    HighDimParams {
        dims: 3,
        cells: 32,
        radius: 2.0,
        weight_bound: 1.0,
        n_max: 100,
        noise,
        epsilon: 2.0,
        delta: 1e-5,
    }
}

fn brute_hd(xs: &[f64], ws: &[f64], y: &[f64]) -> f64 {
    let d = y.len();
    ws.iter()
        .enumerate()
        .map(|(i, w)| w * (0..d).map(|k| (y[k] - xs[i * d + k]).abs()).sum::<f64>())
        .sum()
}

#[test]
fn high_dim_exact_and_covered() {
    let n = 80;
    let xs = data(41, 3 * n, 0.0, 2.0);
    let ws = data(42, n, -1.0, 1.0);
    let ys: [[f64; 3]; 3] = [[0.0, 1.0, 2.0], [0.5, 0.5, 1.7], [3.0, -1.0, 1.0]];
    for noise in [Noise::Gaussian, Noise::Laplace] {
        let plan = HighDimPlan::new(&hd_params(noise)).unwrap();
        // Noise off: within rounding + discretisation of the brute force.
        let off = plan.without_noise();
        let mut img = Buf::new(plan.image_bytes);
        let t = DPTreeHighDim::build(&off, img.bytes(), &xs, &ws, &mut rng(0)).unwrap();
        for y in &ys {
            let bd = t.bound(y, 0.1).unwrap();
            assert_eq!(bd.noise, 0.0);
            let disc: f64 = 3.0 * ws.iter().map(|w| w.abs()).sum::<f64>() * plan.cell_width / 2.0;
            let err = (t.evaluate(y).unwrap() - brute_hd(&xs, &ws, y)).abs();
            assert!(err <= disc + bd.rounding, "{err} > {disc}");
        }
        assert_eq!(t.evaluate(&[1.0, 1.0]), Err(Error::WrongLength));
        // Coverage.
        let beta = 0.1;
        let trials = 120u64;
        let mut fails = 0;
        for seed in 0..trials {
            let t = DPTreeHighDim::build(&plan, img.bytes(), &xs, &ws, &mut rng(seed)).unwrap();
            for y in &ys {
                let bd = t.bound(y, beta).unwrap();
                if (t.evaluate(y).unwrap() - brute_hd(&xs, &ws, y)).abs() > bd.total {
                    fails += 1;
                }
            }
        }
        let m = (trials * 3) as f64;
        assert!(f64::from(fails) / m <= beta + 4.0 * (beta * (1.0 - beta) / trials as f64).sqrt());
        // Budget split: 2d trees.
        match noise {
            Noise::Laplace => assert!(plan.tree_epsilon * 6.0 <= 2.0),
            Noise::Gaussian => {
                let rho = plan.tree_rho * 6.0;
                assert!(crate::privacy::rho_to_epsilon(rho, 1e-5).unwrap() <= 2.0);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Softmax
// ---------------------------------------------------------------------------------------

fn sm_params() -> SoftmaxParams {
    SoftmaxParams {
        dims: 4,
        degree: 0,
        kernel_rel_err: 1e-3,
        score_scale: 0.5,
        radius_x: 2.0,
        radius_y: 1.5,
        weight_bound: 2.0,
        n_max: 60,
        block: 4,
        epsilon: 1.0,
        delta: 1e-6,
    }
}

/// Points uniformly-ish inside the ball of radius `rad` in `d` dimensions.
fn ball(seed: u64, n: usize, d: usize, rad: f64) -> Vec<f64> {
    let raw = data(seed, n * d, -1.0, 1.0);
    let scale = data(seed + 1, n, 0.0, 1.0);
    let mut out = Vec::with_capacity(n * d);
    for i in 0..n {
        let row = &raw[i * d..(i + 1) * d];
        let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
        out.extend(row.iter().map(|v| v / norm * rad * scale[i]));
    }
    out
}

fn brute_softmax(
    p: &SoftmaxParams,
    xs: &[f64],
    ws: &[f64],
    y: &[f64],
    lo: usize,
    hi: usize,
) -> f64 {
    let d = p.dims;
    (lo..hi)
        .map(|i| {
            let dot: f64 = (0..d).map(|k| xs[i * d + k] * y[k]).sum();
            ws[i] * (p.score_scale * dot).exp()
        })
        .sum()
}

#[test]
fn softmax_plan() {
    let p = SoftmaxPlan::new(&sm_params()).unwrap();
    assert_eq!(p.score_bound, 1.5);
    assert!(p.params.degree >= 2 && p.params.degree.is_multiple_of(2));
    assert!(p.kernel_rel_err <= 1e-3);
    assert_eq!(
        p.features,
        crate::kernel::taylor::feature_count(4, p.params.degree).unwrap() as usize
    );
    assert_eq!(p.leaves, 15);
    assert_eq!(p.image_bytes, 128 + 32 + 112 + 8 * 15 * p.features);
    assert_eq!(p.scratch_bytes, (p.features + 4).div_ceil(2) * 8);
    assert!(
        p.feature_err > 0.0 && p.feature_err < 1e-6,
        "E = {}",
        p.feature_err
    );
    let bad = |f: fn(&mut SoftmaxParams), e: Error| {
        let mut q = sm_params();
        f(&mut q);
        assert_eq!(SoftmaxPlan::new(&q).err(), Some(e));
    };
    bad(|q| q.dims = 0, Error::InvalidDimension);
    bad(|q| q.dims = SOFTMAX_MAX_DIM + 1, Error::InvalidDimension);
    bad(|q| q.block = 0, Error::InvalidDimension);
    bad(|q| q.degree = 3, Error::InvalidDegree);
    bad(|q| q.kernel_rel_err = 0.0, Error::InvalidDegree);
    bad(|q| q.kernel_rel_err = 1e-300, Error::InvalidDegree);
    bad(|q| q.score_scale = 100.0, Error::InvalidRadius);
    bad(|q| q.radius_y = f64::NAN, Error::InvalidRadius);
    bad(|q| q.delta = 0.0, Error::InvalidDelta);
    bad(|q| q.epsilon = 0.0, Error::InvalidEpsilon);
}

#[test]
fn softmax_feature_error_bound_holds() {
    use crate::fixed::Q30;
    use crate::kernel::{Kernel, taylor};
    for (d, s, b) in [
        (3usize, 2u32, 1.0f64),
        (4, 4, 3.0),
        (2, 6, 6.0),
        (5, 2, 0.25),
    ] {
        let p = SoftmaxPlan::new(&SoftmaxParams {
            dims: d,
            degree: s,
            score_scale: b,
            radius_x: 1.0,
            radius_y: 1.0,
            ..sm_params()
        })
        .unwrap();
        let k = p.kernel;
        let xs = ball(d as u64, 200, d, 1.0);
        let ys = ball(d as u64 + 50, 200, d, 1.0);
        let mut worst = 0.0f64;
        let (mut px, mut py) = (vec![0i32; k.features()], vec![0i32; k.features()]);
        for i in 0..200 {
            let x = &xs[i * d..(i + 1) * d];
            let y = &ys[i * d..(i + 1) * d];
            let xq: Vec<i32> = x
                .iter()
                .map(|&v| Q30::from_f64_toward_zero(v).unwrap().raw())
                .collect();
            let yq: Vec<i32> = y
                .iter()
                .map(|&v| Q30::from_f64_toward_zero(v).unwrap().raw())
                .collect();
            k.map(&xq, &mut px).unwrap();
            k.map(&yq, &mut py).unwrap();
            let dot: f64 = px
                .iter()
                .zip(&py)
                .map(|(&a, &c)| a as f64 * c as f64)
                .sum::<f64>()
                / 2f64.powi(60);
            let t: f64 = b * x.iter().zip(y).map(|(u, v)| u * v).sum::<f64>();
            let err = (dot * p.phi_sq - taylor::eval_upper(s, t)).abs();
            worst = worst.max(err / p.phi_sq);
        }
        assert!(
            worst <= 2.0 * p.feature_err,
            "d={d} s={s}: {worst} > 2E = {}",
            2.0 * p.feature_err
        );
        // The bound is not absurdly loose either (within a few orders of magnitude).
        assert!(p.feature_err < 1e-5, "E = {}", p.feature_err);
    }
}

#[test]
fn softmax_exact_with_noise_off_and_covered_with_noise() {
    let prm = sm_params();
    let plan = SoftmaxPlan::new(&prm).unwrap();
    let n = 57; // last block partly filled
    let xs = ball(61, n, 4, 2.0);
    let ws = data(62, n, -2.0, 2.0);
    let ys = ball(63, 3, 4, 1.5);
    let mut scratch = Buf::new(plan.scratch_bytes);
    let mut img = Buf::new(plan.image_bytes);
    let off = plan.without_noise();
    let t =
        DPTreeSoftmax::build(&off, img.bytes(), &xs, &ws, scratch.bytes(), &mut rng(0)).unwrap();
    assert_eq!(t.count(), n);
    for j in 0..3 {
        let y = &ys[j * 4..(j + 1) * 4];
        for (a, b) in [(0usize, 15usize), (0, 1), (3, 9), (14, 15), (7, 8)] {
            let got = t.evaluate(y, a, b, scratch.bytes()).unwrap();
            let want = brute_softmax(&prm, &xs, &ws, y, (a * 4).min(n), (b * 4).min(n));
            let bd = t.bound(a, b, 0.05).unwrap();
            assert_eq!(bd.noise, 0.0);
            assert!(
                (got - want).abs() <= bd.total,
                "[{a},{b}) {got} vs {want}: {bd:?}"
            );
            // With the kernel error at 1e-3 the answer is also close in relative terms.
            let scale: f64 = (a * 4..(b * 4).min(n))
                .map(|i| ws[i].abs() * 2.0f64.exp())
                .sum();
            assert!((got - want).abs() <= 2e-3 * scale + 1e-9);
        }
    }
    // Coverage with noise (fewer points and words: the debug-build test stays fast).
    let n = 20;
    let cov = SoftmaxParams {
        block: 5,
        n_max: n,
        ..prm
    };
    let plan = SoftmaxPlan::new(&cov).unwrap();
    let mut img = Buf::new(plan.image_bytes);
    let beta = 0.1;
    let trials = 100u64;
    let mut fails = 0;
    let mut worst = 0.0f64;
    for seed in 0..trials {
        let t = DPTreeSoftmax::build(
            &plan,
            img.bytes(),
            &xs[..4 * n],
            &ws[..n],
            scratch.bytes(),
            &mut rng(seed),
        )
        .unwrap();
        for (j, &(a, b)) in [(0usize, 4usize), (1, 3)].iter().enumerate() {
            let y = &ys[j * 4..(j + 1) * 4];
            let bd = t.bound(a, b, beta).unwrap();
            let want = brute_softmax(&prm, &xs, &ws, y, a * 5, b * 5);
            let err = (t.evaluate(y, a, b, scratch.bytes()).unwrap() - want).abs();
            if err > bd.total {
                fails += 1;
            }
            worst = worst.max(err / bd.total);
        }
    }
    let m = (trials * 2) as f64;
    assert!(f64::from(fails) / m <= beta + 4.0 * (beta * (1.0 - beta) / trials as f64).sqrt());
    assert!(worst > 0.2, "bound vacuous? {worst}");
}

#[test]
fn softmax_bad_inputs_and_images() {
    let prm = sm_params();
    let plan = SoftmaxPlan::new(&prm).unwrap();
    let xs = ball(71, 10, 4, 2.0);
    let ws = data(72, 10, -2.0, 2.0);
    let mut scratch = Buf::new(plan.scratch_bytes);
    let mut far = xs.clone();
    far[4] = 2.5; // row 1 outside the ball
    let mut nan = xs.clone();
    nan[9] = f64::NAN;
    let mut heavy = ws.clone();
    heavy[3] = 2.01;
    let cases: [(&[f64], &[f64], Error); 4] = [
        (&far, &ws, Error::OutOfRange { row: 1 }),
        (&nan, &ws, Error::NonFiniteInput { row: 2 }),
        (&xs, &heavy, Error::OutOfRange { row: 3 }),
        (&xs[..39], &ws, Error::WrongLength),
    ];
    for (x, w, want) in cases {
        let mut img = Buf::filled(plan.image_bytes, 0xAA);
        assert_eq!(
            DPTreeSoftmax::build(&plan, img.bytes(), x, w, scratch.bytes(), &mut rng(0)).err(),
            Some(want)
        );
        assert!(img.all().iter().all(|&b| b == 0xAA), "{want:?}");
    }
    let mut img = Buf::filled(plan.image_bytes, 0xAA);
    let mut small = Buf::new(plan.scratch_bytes - 8);
    assert_eq!(
        DPTreeSoftmax::build(&plan, img.bytes(), &xs, &ws, small.bytes(), &mut rng(0)).err(),
        Some(Error::BufferTooSmall)
    );
    let mut long = Buf::filled(plan.image_bytes + 24, 0xAA);
    DPTreeSoftmax::build(&plan, long.bytes(), &xs, &ws, scratch.bytes(), &mut rng(0)).unwrap();
    assert!(long.ro()[plan.image_bytes..].iter().all(|&b| b == 0xAA));
    let mut short = Buf::filled(plan.image_bytes - 1, 0xAA);
    assert_eq!(
        DPTreeSoftmax::build(&plan, short.bytes(), &xs, &ws, scratch.bytes(), &mut rng(0)).err(),
        Some(Error::BufferTooSmall)
    );
    assert!(img.all().iter().all(|&b| b == 0xAA));
    // Chunked build equals one-shot; unfinished builds do not open.
    let mut one = Buf::new(plan.image_bytes);
    DPTreeSoftmax::build(&plan, one.bytes(), &xs, &ws, scratch.bytes(), &mut rng(4)).unwrap();
    let mut img = Buf::new(plan.image_bytes);
    SoftmaxBuilder::begin(&plan, img.bytes()).unwrap();
    for (a, b) in [(0, 3), (3, 3), (3, 10)] {
        let mut bl = SoftmaxBuilder::resume(img.bytes()).unwrap();
        bl.push(&xs[a * 4..b * 4], &ws[a..b], scratch.bytes())
            .unwrap();
        assert_eq!(DPTreeSoftmax::open(img.ro()).err(), Some(Error::BadMagic));
    }
    let t = SoftmaxBuilder::resume(img.bytes())
        .unwrap()
        .finish(&mut rng(4))
        .unwrap();
    assert_eq!(t.count(), 10);
    assert_eq!(img.ro(), one.ro());
    let t = DPTreeSoftmax::open(img.ro()).unwrap();
    assert_eq!(*t.plan(), plan);
    // Queries.
    let y = [0.5, 0.5, 0.5, 0.5];
    assert_eq!(
        t.evaluate(&y, 3, 3, scratch.bytes()),
        Err(Error::InvalidRange)
    );
    assert_eq!(
        t.evaluate(&y, 0, 16, scratch.bytes()),
        Err(Error::InvalidRange)
    );
    assert_eq!(
        t.evaluate(&y[..3], 0, 1, scratch.bytes()),
        Err(Error::WrongLength)
    );
    assert_eq!(
        t.evaluate(&[1.0, 1.0, 1.0, 0.0], 0, 1, scratch.bytes()),
        Err(Error::OutOfRange { row: 0 })
    );
    assert_eq!(t.bound(0, 1, 1.5).err(), Some(Error::InvalidParameter));
    // Wrong kinds, tampered extension.
    assert_eq!(DPTree::open(img.ro()).err(), Some(Error::BadMagic));
    assert_eq!(DPTreeDistance::open(img.ro()).err(), Some(Error::BadMagic));
    assert_eq!(t.check_calibration().unwrap(), plan);
    img.bytes()[160 + 60] ^= 1; // score scale τ in the extension
    reseal(img.bytes());
    let tampered = DPTreeSoftmax::open(img.ro()).unwrap();
    assert_eq!(
        tampered.check_calibration().err(),
        Some(Error::CorruptImage)
    );
}

// ---------------------------------------------------------------------------------------
// Determinism
// ---------------------------------------------------------------------------------------

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// Same parameters, data and RNG bytes ⇒ the same image bytes (pinned on the host; the
/// images are little-endian and integer-only after planning, so other targets must match).
#[test]
fn golden_images() {
    let plan = DPTreePlan::new(&tree_params(50, Noise::Gaussian)).unwrap();
    let mut img = Buf::new(plan.image_bytes);
    DPTree::build(&plan, img.bytes(), &data(5, 50, -2.5, 2.5), &mut rng(42)).unwrap();
    let tree = sha256_hex(img.ro());
    let plan = DistancePlan::new(&dist_params(Noise::Laplace)).unwrap();
    let mut img = Buf::new(plan.image_bytes);
    let xs = data(6, 40, 0.0, 4.0);
    let ws = data(7, 40, -1.5, 1.5);
    DPTreeDistance::build(&plan, img.bytes(), &xs, &ws, &mut rng(43)).unwrap();
    let dist = sha256_hex(img.ro());
    let plan = SoftmaxPlan::new(&sm_params()).unwrap();
    let mut img = Buf::new(plan.image_bytes);
    let mut scratch = Buf::new(plan.scratch_bytes);
    let xs = ball(8, 30, 4, 2.0);
    let ws = data(9, 30, -2.0, 2.0);
    DPTreeSoftmax::build(&plan, img.bytes(), &xs, &ws, scratch.bytes(), &mut rng(44)).unwrap();
    let soft = sha256_hex(img.ro());
    assert_eq!(
        tree,
        "83d757f0897f3919864d2224855599e7d0d0d9ab60c89ff0477c8c60d325a65f"
    );
    assert_eq!(
        dist,
        "a89f2b6fba465d6e75008153645c9cf56ad23c9b1adc2f2cb423f8a9058f73a6"
    );
    assert_eq!(
        soft,
        "7c162b4bfc20bd9d119b49fe122efebf73a38850b050cd802338ba5a43b5a86f"
    );
}
