//! Tests of the evaluation harness itself (`examples/common/eval_core.rs`,
//! `examples/common/eval_driver.rs`) on tiny synthetic sets where the exact answer is
//! known, plus one smoke run on the smallest bundled set. Kept small: debug profile.

#[path = "../examples/common/mod.rs"]
mod common;
#[path = "../examples/common/eval_core.rs"]
mod eval_core;
#[path = "../examples/common/eval_driver.rs"]
mod eval_driver;

use dpxattn::kernel::taylor;
use dpxattn::mechanism::{Params, Plan};
use eval_core::*;

/// Deterministic uniform(−1, 1) numbers (LCG), so the synthetic sets are fixed.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
    fn vec(&mut self, len: usize, scale: f64) -> Vec<f32> {
        (0..len).map(|_| (self.next() * scale) as f32).collect()
    }
}

/// A synthetic head with exact outputs computed independently of eval_core (plain exp,
/// no max shift) in f64 and stored as f32, like O.f32.
struct Synth {
    n: usize,
    m: usize,
    d: usize,
    dv: usize,
    tau: f64,
    k: Vec<f32>,
    v: Vec<f32>,
    q: Vec<f32>,
    o: Vec<f32>,
}

impl Synth {
    fn new(seed: u64, n: usize, m: usize, d: usize, dv: usize, key_scale: f64) -> Synth {
        let mut g = Lcg(seed);
        let k = g.vec(n * d, key_scale);
        let v = g.vec(n * dv, 1.0);
        let q = g.vec(m * d, 1.0);
        let tau = 1.0 / (d as f64).sqrt();
        let mut s = Synth {
            n,
            m,
            d,
            dv,
            tau,
            k,
            v,
            q,
            o: Vec::new(),
        };
        s.o = s.exact();
        s
    }

    fn exact(&self) -> Vec<f32> {
        let mut o = Vec::new();
        for q in self.q.chunks_exact(self.d) {
            let mut num = vec![0.0f64; self.dv];
            let mut den = 0.0f64;
            for (k, v) in self
                .k
                .chunks_exact(self.d)
                .zip(self.v.chunks_exact(self.dv))
            {
                let s: f64 = q.iter().zip(k).map(|(&a, &b)| a as f64 * b as f64).sum();
                let w = (self.tau * s).exp();
                den += w;
                num.iter_mut().zip(v).for_each(|(x, &y)| *x += w * y as f64);
            }
            o.extend(num.iter().map(|x| (x / den) as f32));
        }
        o
    }

    fn head(&self) -> HeadData<'_> {
        HeadData {
            n: self.n,
            m: self.m,
            d: self.d,
            dv: self.dv,
            k: &self.k,
            v: &self.v,
            q: &self.q,
            o: &self.o,
        }
    }

    fn max_norm(x: &[f32], dim: usize) -> f64 {
        x.chunks_exact(dim)
            .map(|r| r.iter().map(|&a| (a as f64).powi(2)).sum::<f64>().sqrt())
            .fold(0.0, f64::max)
    }

    /// Parameters whose balls contain every row (nothing is clipped).
    fn roomy_params(&self) -> Params {
        let mut p = Params::new(self.d as u32, self.dv as u32, self.n as u32);
        p.score_scale = self.tau;
        p.radius_q = Self::max_norm(&self.q, self.d) * 1.01;
        p.radius_k = Self::max_norm(&self.k, self.d) * 1.01;
        p.radius_v = Self::max_norm(&self.v, self.dv) * 1.01;
        p
    }
}

fn rel_errs(outs: &[Vec<f64>], o: &[f32], dv: usize) -> Vec<f64> {
    let rms = rms_norm(o, dv);
    outs.iter()
        .zip(o.chunks_exact(dv))
        .map(|(a, b)| {
            let b: Vec<f64> = b.iter().map(|&x| x as f64).collect();
            dist(a, &b) / rms
        })
        .collect()
}

#[test]
fn clip_error_is_zero_when_the_balls_hold_every_row() {
    let s = Synth::new(1, 40, 6, 5, 3, 1.0);
    let p = s.roomy_params();
    let prep = Prepared::new(&s.head(), &p, 2).unwrap();
    let outs: Vec<Vec<f64>> = s.q.chunks_exact(s.d).map(|q| prep.clip_output(q)).collect();
    for e in rel_errs(&outs, &s.o, s.dv) {
        assert!(e < 1e-6, "clip error {e} without any clipping");
    }
    // And clipping does change the answer once the key ball is small.
    let mut p2 = p;
    p2.radius_k = p.radius_k * 0.2;
    let prep = Prepared::new(&s.head(), &p2, 2).unwrap();
    let outs: Vec<Vec<f64>> = s.q.chunks_exact(s.d).map(|q| prep.clip_output(q)).collect();
    assert!(median(&rel_errs(&outs, &s.o, s.dv)) > 1e-3);
}

#[test]
fn kernel_error_vanishes_as_the_score_bound_shrinks() {
    // Shrink the keys by λ (and the key radius with them, so nothing is clipped):
    // B = τ·r_q·r_k ∝ λ, and the degree-s kernel error is O(B^{s+1}).
    let mut last = f64::INFINITY;
    for (i, lambda) in [4.0, 2.0, 1.0, 0.5, 0.25, 0.125].into_iter().enumerate() {
        let s = Synth::new(7, 60, 8, 4, 4, lambda);
        let p = s.roomy_params();
        let plan = Plan::new(&p).unwrap();
        let prep = Prepared::new(&s.head(), &p, 2).unwrap();
        let mut errs = Vec::new();
        for q in s.q.chunks_exact(s.d) {
            let k = prep.kernel_output(q);
            let c = prep.clip_output(q);
            let e = dist(&k, &c);
            // The library's a-priori kernel bound holds for every query.
            let bound = plan.bound(s.n as u32, 0.05).unwrap().kernel;
            assert!(e <= bound, "λ={lambda}: kernel error {e} > bound {bound}");
            errs.push(e / rms_norm(&s.o, s.dv));
        }
        let e = errs.iter().copied().fold(0.0, f64::max);
        if i > 0 {
            assert!(e < last, "λ={lambda}: {e} not below {last}");
        }
        last = e;
    }
    assert!(last < 1e-4, "kernel error at the smallest B: {last}");
}

#[test]
fn higher_degree_means_smaller_kernel_error() {
    let s = Synth::new(3, 50, 6, 3, 3, 2.0);
    let p = s.roomy_params();
    let mut prev = f64::INFINITY;
    for deg in [2u32, 4, 6] {
        let prep = Prepared::new(&s.head(), &p, deg).unwrap();
        let e: f64 =
            s.q.chunks_exact(s.d)
                .map(|q| dist(&prep.kernel_output(q), &prep.clip_output(q)))
                .sum();
        assert!(e < prev, "degree {deg}: {e} ≥ {prev}");
        prev = e;
    }
}

#[test]
fn features_reproduce_the_truncated_exponential() {
    let (d, b) = (5usize, 1.7f64);
    let mut g = Lcg(11);
    for s in [2u32, 4] {
        let mono = Monomials::new(d, s, b);
        assert_eq!(
            mono.len() as u64,
            taylor::feature_count(d as u64, s).unwrap()
        );
        let phi_sq = taylor_exp(s, b);
        for _ in 0..20 {
            let mut x: Vec<f64> = (0..d).map(|_| g.next()).collect();
            let mut y: Vec<f64> = (0..d).map(|_| g.next()).collect();
            let (nx, ny) = (norm(&x), norm(&y));
            x.iter_mut().for_each(|a| *a /= nx);
            y.iter_mut().for_each(|a| *a /= ny * 1.3);
            let (px, py) = (mono.eval(&x), mono.eval(&y));
            let dot: f64 = px.iter().zip(&py).map(|(a, b)| a * b).sum();
            let t: f64 = b * x.iter().zip(&y).map(|(a, b)| a * b).sum::<f64>();
            assert!((dot - taylor_exp(s, t) / phi_sq).abs() < 1e-12);
            // ‖ψ(x)‖ = 1 on the unit sphere, and max_abs bounds every feature there.
            assert!((norm(&px) - 1.0).abs() < 1e-12);
            for (v, m) in px.iter().zip(&mono.max_abs) {
                assert!(v.abs() <= m * (1.0 + 1e-12));
            }
        }
    }
}

#[test]
fn max_abs_is_attained_on_the_sphere() {
    // Degree 2, d = 2: features 1, x0, x0², x0x1, x1, x1² (depth-first order).
    let b = 1.0;
    let mono = Monomials::new(2, 2, b);
    assert_eq!(mono.len(), 6);
    let mut best = [0.0f64; 6];
    for i in 0..=20000 {
        let th = std::f64::consts::TAU * i as f64 / 20000.0;
        let f = mono.eval(&[th.cos(), th.sin()]);
        for (bst, v) in best.iter_mut().zip(&f) {
            *bst = bst.max(v.abs());
        }
    }
    for (a, (bst, m)) in best.iter().zip(&mono.max_abs).enumerate() {
        assert!(
            (bst - m).abs() < 1e-6 * m.max(1e-9),
            "feature {a}: scanned {bst}, formula {m}"
        );
    }
}

#[test]
fn advanced_composition_split_composes_back() {
    for (eps, delta, k) in [(1.0, 1e-5, 18_513u64), (8.0, 1e-6, 100), (0.5, 1e-5, 1)] {
        let (e0, d0) = dpxattn::privacy::advanced_composition_split(eps, delta, k).unwrap();
        let kf = k as f64;
        let total = e0 * (2.0 * kf * (2.0 / delta).ln()).sqrt() + kf * e0 * e0.exp_m1();
        assert!(
            total <= eps && total > eps * (1.0 - 1e-9),
            "{eps} {k}: {total}"
        );
        assert!((kf * d0 + delta / 2.0 - delta).abs() <= delta * 1e-12);
    }
}

#[test]
fn paper_noise_is_never_below_ours() {
    // For every query on the unit sphere and every column, the paper's per-entry
    // calibration puts at least our σ of noise on ψ(q̂)ᵀZ_col (usually hundreds of times
    // more: it composes r·(dv+1) mechanisms instead of calibrating one joint Gaussian).
    let mut g = Lcg(5);
    for (d, dv, eps) in [(4usize, 3usize, 1.0f64), (6, 6, 8.0), (3, 2, 0.5)] {
        let mut p = Params::new(d as u32, dv as u32, 100);
        p.epsilon = eps;
        let plan = Plan::new(&p).unwrap();
        let b = plan.score_bound();
        let mono = Monomials::new(d, plan.degree(), b);
        let cal = PaperCalibration::new(&mono, dv, &p, 1).unwrap();
        assert_eq!(cal.k, (mono.len() * (dv + 1)) as u64);
        for _ in 0..30 {
            let mut x: Vec<f64> = (0..d).map(|_| g.next()).collect();
            let nx = norm(&x);
            x.iter_mut().for_each(|a| *a /= nx);
            let psi = mono.eval(&x);
            for j in 0..=dv {
                let ps = cal.column_std(&psi, j, 1.0);
                assert!(
                    ps >= plan.sigma(),
                    "d={d} ε={eps} col {j}: {ps} < {}",
                    plan.sigma()
                );
            }
            assert!(cal.column_std(&psi, 0, 1.0) > 10.0 * plan.sigma());
        }
    }
}

#[test]
fn uniform_baseline_is_the_clipped_mean_plus_calibrated_noise() {
    use rand_chacha::ChaCha20Rng;
    use rand_chacha::rand_core::SeedableRng;
    let s = Synth::new(9, 200, 4, 3, 5, 1.0);
    let mut p = s.roomy_params();
    p.radius_v *= 0.5; // clip some values: the mean is of the *clipped* rows
    let prep = Prepared::new(&s.head(), &p, 2).unwrap();
    let mean = prep.value_mean();
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let (_, sigma) = uniform_release(&prep, &p, &mut rng).unwrap();
    let want = gaussian_sigma(p.epsilon, p.delta, 2.0 * p.radius_v / s.n as f64).unwrap();
    assert!(sigma >= want && sigma < want * 1.001, "{sigma} vs {want}");
    // Empirical std of the noise over many releases matches σ (±10%), and its mean is 0.
    let (mut s1, mut s2, mut cnt) = (0.0, 0.0, 0.0);
    for _ in 0..400 {
        let (out, _) = uniform_release(&prep, &p, &mut rng).unwrap();
        for (o, m) in out.iter().zip(&mean) {
            s1 += o - m;
            s2 += (o - m) * (o - m);
            cnt += 1.0;
        }
    }
    let sd = (s2 / cnt).sqrt();
    assert!((sd / sigma - 1.0).abs() < 0.1, "sd {sd} vs σ {sigma}");
    assert!((s1 / cnt).abs() < 4.0 * sigma / cnt.sqrt());
}

#[test]
fn end_to_end_on_a_synthetic_head() {
    // Large ε and n: the library's output is close to the noise-free kernel pipeline,
    // the paper's calibration is far noisier, and the report is self-consistent.
    let s = Synth::new(21, 400, 10, 4, 4, 1.0);
    let mut p = s.roomy_params();
    p.epsilon = 50.0;
    let rep = eval_head(&s.head(), &p, 0, 2, 99).unwrap();
    assert_eq!(rep.errors.dp.len(), 2 * s.m);
    assert_eq!(rep.errors.clip.len(), 2 * s.m);
    for e in &rep.errors.clip {
        assert!(*e < 1e-6, "nothing is clipped: {e}");
    }
    let dp_noise = median(&rep.dp_noise);
    let pr = rep.prediction;
    assert!(dp_noise > 0.0 && dp_noise < 0.1, "{dp_noise}");
    // Typical-case prediction within a factor 3 on this benign synthetic data.
    assert!(
        dp_noise < 3.0 * pr.dp_noise && dp_noise > pr.dp_noise / 3.0,
        "{dp_noise} vs {pr:?}"
    );
    assert!(median(&rep.paper_noise) > 5.0 * dp_noise);
    assert!(rep.paper_noise_ratio > 10.0);
    // Reproducible: same seed, same numbers.
    let again = eval_head(&s.head(), &p, 0, 2, 99).unwrap();
    assert_eq!(again.errors.dp, rep.errors.dp);
    assert_eq!(again.errors.paper, rep.errors.paper);
}

#[test]
fn dyadic_cover_counts() {
    assert_eq!(dyadic_cover_count(64, 64), 1);
    assert_eq!(dyadic_cover_count(5, 8), 2);
    assert_eq!(dyadic_cover_count(7, 8), 3);
    assert_eq!(dyadic_cover_count(1, 1), 1);
    // A non-power-of-two tree: 6 leaves, the level-2 node covers 0..4, then 4..6.
    assert_eq!(dyadic_cover_count(6, 6), 2);
}

#[test]
fn summary_json_has_the_exact_contract() {
    let p = Params::new(4, 4, 10);
    let s = Summary {
        n: 512,
        heads: 4,
        epsilon: p.epsilon,
        delta: p.delta,
        dp_err: 0.5,
        uniform_err: 0.75,
        paper_err: 4.25,
        kernel_err: 0.125,
        clip_err: 0.1,
    };
    assert_eq!(
        s.json(),
        "{\"kind\":\"summary\",\"n\":512,\"heads\":4,\"epsilon\":1.0,\"delta\":1e-5,\"dp_err\":0.5,\"uniform_err\":0.75,\"paper_err\":4.25,\"kernel_err\":0.125,\"clip_err\":0.1}"
    );
    assert_eq!(json_num(f64::NAN), "null");
}

#[test]
fn command_line_contract() {
    use eval_driver::parse_args;
    let a = |s: &str| -> Vec<String> { s.split_whitespace().map(String::from).collect() };
    let o = parse_args(&a("--data X --epsilon 2 --delta 1e-6 --degree 4 --radius-q 3 --radius-k 4 --radius-v 5 --clip 0.5 --layout tree --block 32 --heads 0,2-3 --seed 7 --json")).unwrap();
    assert_eq!(o.epsilon, 2.0);
    assert_eq!(o.delta, 1e-6);
    assert_eq!(o.degree, Some(4));
    assert_eq!(
        (o.radius_q, o.radius_k, o.radius_v),
        (Some(3.0), Some(4.0), Some(5.0))
    );
    assert_eq!(o.clip, Some(0.5));
    assert!(o.tree && o.block == Some(32));
    assert_eq!(o.heads, Some(vec![0, 2, 3]));
    assert_eq!(o.seed, 7);
    assert!(o.json);
    let o = parse_args(&a("--data X --kernel-rel-err 0.1")).unwrap();
    assert_eq!(o.kernel_rel_err, Some(0.1));
    assert!(!o.tree && o.epsilon == 1.0 && o.delta == 1e-5);
    assert!(parse_args(&a("--epsilon 1")).is_err(), "--data is required");
    assert!(parse_args(&a("--data X --degree 2 --kernel-rel-err 0.1")).is_err());
    assert!(parse_args(&a("--data X --layout flat --block 8")).is_err());
    assert!(parse_args(&a("--data X --layout ring")).is_err());
    assert!(parse_args(&a("--data X --bogus")).is_err());
    let o = parse_args(&a("--data X --layout tree")).unwrap();
    assert_eq!(o.block, Some(eval_driver::DEFAULT_BLOCK));
}

#[test]
fn smoke_run_on_the_smallest_bundled_set() {
    // Real data, one head: the value radius comes from the *other* bundled text, the
    // summary line has the contract's shape, and the deterministic pipelines agree with
    // their definitions (kernel ≈ clip at B = 1, both well below the trivial error 1+).
    let o = eval_driver::parse_args(&[
        "--data".into(),
        common::bundled("minilm/n128_layer2").display().to_string(),
        "--heads".into(),
        "0".into(),
        "--epsilon".into(),
        "4".into(),
    ])
    .unwrap();
    let r = eval_driver::run(&o).unwrap();
    assert!(
        r.radius_v.source.contains("minilm_long"),
        "{}",
        r.radius_v.source
    );
    assert!(r.radius_v.warning.is_none());
    let s = &r.summary;
    assert_eq!((s.n, s.heads), (128, 1));
    let j = s.json();
    assert!(j.starts_with("{\"kind\":\"summary\",\"n\":128,\"heads\":1,\"epsilon\":4.0,"));
    assert!((s.kernel_err - s.clip_err).abs() < 0.05);
    assert!(s.clip_err < 1.0 && s.dp_err.is_finite() && s.paper_err > s.kernel_err);
}
