//! Empirical privacy audit (a statistical test of the whole build, noise sampler included).
//!
//! Setup: a tiny configuration; two neighbouring datasets D and D′ of the same size that
//! differ in one row, chosen as the worst case over a grid of candidate rows (the pair
//! whose noise-free images are furthest apart). The full build runs many times on each
//! with fresh randomness.
//!
//! Distinguisher: the projection of the released words onto the direction Δ between the
//! two noise-free images (computed through the test-only `Plan::with_noise_units(0)`
//! path). With independent Gaussian noise per entry this statistic is the likelihood ratio
//! of the two outputs, so it is the most powerful test (Neyman–Pearson) for this pair.
//!
//! Bound: one threshold is chosen on the first half of the runs; on the held-out half the
//! false-positive and false-negative rates get one-sided Clopper–Pearson upper bounds at
//! 97.5 % each (so both hold together with probability ≥ 95 %). Any (ε, δ)-DP mechanism
//! satisfies FPR + e^ε·FNR ≥ 1 − δ and FNR + e^ε·FPR ≥ 1 − δ (Kairouz–Oh–Viswanath
//! 2015), so ε ≥ ε_lb = max(ln((1−δ−FNR_ub)/FPR_ub), ln((1−δ−FPR_ub)/FNR_ub)).
//!
//! Assertions: ε_lb ≤ the configured ε (the audit finds no violation), and — to prove the
//! audit has teeth — with the noise scale divided by 4 it reports ε_lb > ε.
//!
//! Runs: `DPX_AUDIT_TRIALS` builds per dataset (default 6000; CI runs it in release with
//! more). Measured numbers are printed (`cargo test audit -- --nocapture`).

use super::*;
use crate::testutil::TestRng;

// ---- Clopper–Pearson ---------------------------------------------------------------

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; relative error < 1e-14).
fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1−x) = π / sin(πx).
        let pi = core::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + 7.5;
    for (i, &c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * core::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Continued fraction of the incomplete beta function (modified Lentz).
fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..100_000 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// The regularised incomplete beta function I_x(a, b).
fn beta_inc(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_bt = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    let bt = ln_bt.exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        bt * beta_cf(a, b, x) / a
    } else {
        1.0 - bt * beta_cf(b, a, 1.0 - x) / b
    }
}

/// P(X ≤ k) for X ~ Binomial(n, p).
fn binom_cdf(k: u64, n: u64, p: f64) -> f64 {
    if k >= n {
        return 1.0;
    }
    beta_inc((n - k) as f64, k as f64 + 1.0, 1.0 - p)
}

/// One-sided Clopper–Pearson upper confidence bound at level 1 − α for a proportion with
/// `k` successes in `n` trials: the p with P(X ≤ k | p) = α.
fn cp_upper(k: u64, n: u64, alpha: f64) -> f64 {
    if k >= n {
        return 1.0;
    }
    let (mut lo, mut hi) = (k as f64 / n as f64, 1.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if binom_cdf(k, n, mid) > alpha {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

#[test]
fn clopper_pearson_matches_closed_forms() {
    // k = 0: (1 − p)^n = α.
    for &(n, a) in &[(10u64, 0.05f64), (1000, 0.025), (123_456, 0.01)] {
        let want = 1.0 - a.powf(1.0 / n as f64);
        let got = cp_upper(0, n, a);
        assert!(
            (got - want).abs() <= 1e-9 * want.max(1e-12),
            "{n}: {got} vs {want}"
        );
    }
    // k = n − 1: 1 − p^n = α ⇒ p = (1 − α)^{1/n}.
    let (n, a) = (50u64, 0.05f64);
    let want = (1.0 - a).powf(1.0 / n as f64);
    assert!((cp_upper(n - 1, n, a) - want).abs() < 1e-9);
    // A tabulated value: k = 5, n = 100, 97.5 % one-sided upper bound ≈ 0.11284.
    assert!((cp_upper(5, 100, 0.025) - 0.11284).abs() < 5e-5);
    // The CDF itself against a direct sum.
    let (k, n, p) = (7u64, 40u64, 0.23f64);
    let mut direct = 0.0;
    for i in 0..=k {
        let ln_c =
            ln_gamma(n as f64 + 1.0) - ln_gamma(i as f64 + 1.0) - ln_gamma((n - i) as f64 + 1.0);
        direct += (ln_c + i as f64 * p.ln() + (n - i) as f64 * (1.0 - p).ln()).exp();
    }
    assert!((binom_cdf(k, n, p) - direct).abs() < 1e-12);
}

// ---- the audit ---------------------------------------------------------------------------

fn words(image: &[u8]) -> Vec<i32> {
    image[HEADER_BYTES..]
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn build_words(plan: &Plan, keys: &[f32], values: &[f32], seed: u64, buf: &mut Bufs) -> Vec<i32> {
    let (img, scr) = buf.split(plan);
    build(plan, img, keys, values, &mut TestRng(seed), scr).unwrap();
    words(img)
}

struct Bufs(Vec<u64>, Vec<u64>);
impl Bufs {
    fn split(&mut self, plan: &Plan) -> (&mut [u8], &mut [u8]) {
        let (a, b) = (plan.image_bytes(), plan.build_scratch_bytes());
        self.0.resize(a.div_ceil(8), 0);
        self.1.resize(b.div_ceil(8), 0);
        (
            &mut bytemuck::cast_slice_mut::<u64, u8>(&mut self.0)[..a],
            &mut bytemuck::cast_slice_mut::<u64, u8>(&mut self.1)[..b],
        )
    }
}

/// The neighbouring datasets: two fixed rows plus the worst-case row pair (k, v), (k′, v′).
struct Neighbours {
    d0: (Vec<f32>, Vec<f32>),
    d1: (Vec<f32>, Vec<f32>),
    /// Noise-free words of D and D′.
    w0: Vec<i32>,
    w1: Vec<i32>,
}

fn neighbours(plan: &Plan) -> Neighbours {
    let p = plan.params();
    assert_eq!((p.d, p.dv), (1, 1));
    let quiet = plan.with_noise_units(0);
    let mut bufs = Bufs(vec![], vec![]);
    let grid = [-1.0f32, -0.5, 0.0, 0.5, 1.0];
    let mut cands = vec![];
    for &k in &grid {
        for &v in &grid {
            let row = (k * p.radius_k as f32, v * p.radius_v as f32);
            cands.push((row, build_words(&quiet, &[row.0], &[row.1], 0, &mut bufs)));
        }
    }
    let dist = |a: &[i32], b: &[i32]| -> f64 {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
            .sum()
    };
    let mut best = (0usize, 1usize, -1.0f64);
    for i in 0..cands.len() {
        for j in i + 1..cands.len() {
            let dd = dist(&cands[i].1, &cands[j].1);
            if dd > best.2 {
                best = (i, j, dd);
            }
        }
    }
    let (a, b) = (cands[best.0].0, cands[best.1].0);
    let fill_k = [0.3f32 * p.radius_k as f32, -0.7 * p.radius_k as f32];
    let fill_v = [0.2f32 * p.radius_v as f32, 0.6 * p.radius_v as f32];
    let d0 = (
        [fill_k[0], fill_k[1], a.0].to_vec(),
        [fill_v[0], fill_v[1], a.1].to_vec(),
    );
    let d1 = (
        [fill_k[0], fill_k[1], b.0].to_vec(),
        [fill_v[0], fill_v[1], b.1].to_vec(),
    );
    let w0 = build_words(&quiet, &d0.0, &d0.1, 0, &mut bufs);
    let w1 = build_words(&quiet, &d1.0, &d1.1, 0, &mut bufs);
    Neighbours { d0, d1, w0, w1 }
}

#[derive(Debug)]
struct Audit {
    eps_lb: f64,
    fpr_ub: f64,
    fnr_ub: f64,
    /// ‖Δ‖ / σ in stored units: the signal-to-noise ratio of the test statistic.
    snr: f64,
    /// The exact ε (at the audit's δ) of this pair of datasets under the mechanism's
    /// noise: the privacy curve of a Gaussian shift of `snr` standard deviations
    /// (Balle–Wang 2018, Thm 8), or ‖Δ‖₁/b for Laplace noise.
    eps_pair: f64,
    trials: usize,
}

/// ε lower bound at δ from upper bounds on FPR and FNR (0 if none is positive).
fn eps_from(fpr_ub: f64, fnr_ub: f64, delta: f64) -> f64 {
    let a = ((1.0 - delta - fnr_ub) / fpr_ub).ln();
    let b = ((1.0 - delta - fpr_ub) / fnr_ub).ln();
    a.max(b).max(0.0)
}

/// Runs `trials` full builds on each dataset under `plan` (whose noise may be scaled for
/// the teeth test) and bounds ε at `delta` as described in the module docs.
fn audit(plan: &Plan, nb: &Neighbours, trials: usize, delta: f64, seed: u64) -> Audit {
    let dir: Vec<f64> = nb
        .w0
        .iter()
        .zip(&nb.w1)
        .map(|(&a, &b)| f64::from(a) - f64::from(b))
        .collect();
    let mid: Vec<f64> = nb
        .w0
        .iter()
        .zip(&nb.w1)
        .map(|(&a, &b)| 0.5 * (f64::from(a) + f64::from(b)))
        .collect();
    let norm = dir.iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!(norm > 0.0);
    let laplace = plan.params().mechanism == NoiseKind::Laplace;
    // The log-likelihood ratio ln p_D(w)/p_D′(w) up to a positive factor: for Gaussian
    // noise the projection on Δ, for Laplace noise Σ |w − w′| − |w − w₀| per entry.
    let stat = |w: &[i32]| -> f64 {
        if laplace {
            w.iter()
                .zip(nb.w0.iter().zip(&nb.w1))
                .map(|(&x, (&a, &b))| {
                    let x = f64::from(x);
                    (x - f64::from(b)).abs() - (x - f64::from(a)).abs()
                })
                .sum::<f64>()
        } else {
            w.iter()
                .zip(&dir)
                .zip(&mid)
                .map(|((&x, &dd), &m)| (f64::from(x) - m) * dd)
                .sum::<f64>()
                / norm
        }
    };
    let mut bufs = Bufs(vec![], vec![]);
    let mut t0 = Vec::with_capacity(trials);
    let mut t1 = Vec::with_capacity(trials);
    for t in 0..trials as u64 {
        let s = seed ^ (t << 1);
        t0.push(stat(&build_words(plan, &nb.d0.0, &nb.d0.1, s, &mut bufs)));
        t1.push(stat(&build_words(
            plan,
            &nb.d1.0,
            &nb.d1.1,
            s | 1,
            &mut bufs,
        )));
    }
    // Guess "D" when the statistic exceeds the threshold: FPR = P_{D′}(T > t),
    // FNR = P_D(T ≤ t).
    // A quarter of the runs picks the threshold (it needs only a rough location), the
    // other three quarters bound the error rates at that threshold.
    let half = trials / 4;
    let (train0, test0) = t0.split_at(half);
    let (train1, test1) = t1.split_at(half);
    let counts = |s0: &[f64], s1: &[f64], th: f64| -> (u64, u64) {
        let fp = s1.iter().filter(|&&x| x > th).count() as u64;
        let fneg = s0.iter().filter(|&&x| x <= th).count() as u64;
        (fp, fneg)
    };
    // Candidate thresholds: quantiles of the pooled training statistics.
    let mut pooled: Vec<f64> = train0.iter().chain(train1).copied().collect();
    pooled.sort_by(f64::total_cmp);
    let (alpha, nt) = (0.025, half as u64);
    let mut best = (f64::NEG_INFINITY, 0.0f64);
    for i in 1..400 {
        let th = pooled[i * (pooled.len() - 1) / 400];
        let (fp, fneg) = counts(train0, train1, th);
        let e = eps_from(cp_upper(fp, nt, alpha), cp_upper(fneg, nt, alpha), delta);
        if e > best.0 {
            best = (e, th);
        }
    }
    let nh = (trials - half) as u64;
    let (fp, fneg) = counts(test0, test1, best.1);
    let fpr_ub = cp_upper(fp, nh, alpha);
    let fnr_ub = cp_upper(fneg, nh, alpha);
    // σ of the statistic in stored units: the per-entry noise scale 2^(−(F_noise−F_store)).
    let sigma_store = plan.noise_units as f64 / (1u64 << (plan.f_noise - plan.f_store)) as f64;
    let eps_pair = if laplace {
        dir.iter().map(|x| x.abs()).sum::<f64>() / sigma_store
    } else {
        gaussian_eps(norm / sigma_store, delta)
    };
    Audit {
        eps_lb: eps_from(fpr_ub, fnr_ub, delta),
        fpr_ub,
        fnr_ub,
        snr: norm / sigma_store,
        eps_pair,
        trials,
    }
}

/// The smallest ε with δ(ε) ≤ `delta` for a Gaussian mechanism whose two outputs are
/// `mu` standard deviations apart: δ(ε) = Φ(μ/2 − ε/μ) − e^ε·Φ(−μ/2 − ε/μ).
fn gaussian_eps(mu: f64, delta: f64) -> f64 {
    let phi = |x: f64| 0.5 * libm::erfc(-x / core::f64::consts::SQRT_2);
    let d = |e: f64| phi(mu / 2.0 - e / mu) - e.exp() * phi(-mu / 2.0 - e / mu);
    let (mut lo, mut hi) = (0.0f64, 200.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if d(mid) > delta {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

#[test]
fn gaussian_privacy_curve_matches_known_values() {
    // σ = Δ·√(2 ln(1.25/δ))/ε (the classical bound) is (ε, δ)-DP, and the exact curve is
    // tighter: the ε it reports must be below the classical ε.
    let (eps, delta) = (1.0, 1e-5);
    let mu = eps / (2.0 * (1.25f64 / delta).ln()).sqrt();
    let e = gaussian_eps(mu, delta);
    assert!(e < eps && e > 0.5 * eps, "{e}");
    // Round trip: δ(ε(μ)) = δ.
    let phi = |x: f64| 0.5 * libm::erfc(-x / core::f64::consts::SQRT_2);
    let d = phi(mu / 2.0 - e / mu) - e.exp() * phi(-mu / 2.0 - e / mu);
    assert!((d - delta).abs() < 1e-12, "{d}");
}

fn trials() -> usize {
    std::env::var("DPX_AUDIT_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6000)
}

fn audit_config(mechanism: NoiseKind, clip: f64, epsilon: f64) -> Plan {
    let mut p = Params::new(1, 1, 4);
    p.epsilon = epsilon;
    p.delta = 1e-5;
    p.mechanism = mechanism;
    p.clip = clip;
    Plan::new(&p).unwrap()
}

fn check(name: &str, plan: &Plan, seed: u64) {
    let nb = neighbours(plan);
    let eps = plan.params().epsilon;
    let delta = match plan.params().mechanism {
        NoiseKind::Gaussian => plan.params().delta,
        NoiseKind::Laplace => 0.0,
    };
    let n = trials();
    // DPX_AUDIT_SEED varies the randomness (to check that the verdicts are not a lucky draw).
    let seed = seed
        ^ std::env::var("DPX_AUDIT_SEED")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .map_or(0, |s| s.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let real = audit(plan, &nb, n, delta, seed);
    let weak_plan = plan.with_noise_units(plan.noise_units / 4);
    let weak = audit(&weak_plan, &nb, n, delta, seed ^ 0x5EED);
    eprintln!(
        "audit {name}: configured ε = {eps}, δ = {delta}; exact ε of the worst-case pair \
         {:.5}; σ as planned: ε_lb = {:.3} (SNR {:.5}, FPR_ub {:.4}, FNR_ub {:.4}); σ/4: \
         ε_lb = {:.3} (pair ε {:.3}, SNR {:.5}, FPR_ub {:.4}, FNR_ub {:.4}); {} builds per \
         dataset per run",
        real.eps_pair,
        real.eps_lb,
        real.snr,
        real.fpr_ub,
        real.fnr_ub,
        weak.eps_lb,
        weak.eps_pair,
        weak.snr,
        weak.fpr_ub,
        weak.fnr_ub,
        real.trials
    );
    // The calibration check: the worst pair on the grid, computed exactly, may not exceed
    // the configured ε (tolerance: rounding of the stored words, ≤ 1 unit per entry
    // against ‖Δ‖ of ~10⁶ units). A sensitivity bound that is too small fails here.
    assert!(
        real.eps_pair <= eps * (1.0 + 1e-4),
        "{name}: the worst-case pair is not (ε, δ)-DP at the planned noise: {real:?}"
    );
    assert!(
        real.eps_lb <= eps,
        "{name}: the audit found a privacy violation: {real:?}"
    );
    assert!(
        weak.eps_lb > eps,
        "{name}: the audit has no teeth: σ/4 not flagged: {weak:?}"
    );
}

/// ε of the audited configurations: large enough that σ/4 is detectable with a few
/// thousand builds (the audit's resolution is limited by how far into the tails a finite
/// sample sees), small enough to be a realistic budget.
const AUDIT_EPS: f64 = 2.0;

#[test]
fn audit_gaussian_flat() {
    check(
        "gaussian flat",
        &audit_config(NoiseKind::Gaussian, 0.0, AUDIT_EPS),
        0xA0D1,
    );
}

#[test]
fn audit_gaussian_clipped() {
    check(
        "gaussian clip 0.5",
        &audit_config(NoiseKind::Gaussian, 0.5, AUDIT_EPS),
        0xA0D2,
    );
}

#[test]
fn audit_laplace_flat() {
    check(
        "laplace flat",
        &audit_config(NoiseKind::Laplace, 0.0, AUDIT_EPS),
        0xA0D3,
    );
}
