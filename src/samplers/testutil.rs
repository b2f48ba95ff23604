//! Test-only helpers: a fast seeded RNG, a failing RNG, and the statistical tests
//! (Wilson, χ², Kolmogorov–Smirnov, moment z-tests), all at significance α = 1e-6.
//!
//! Floats are fine here: this module is compiled only for tests.

use core::convert::Infallible;
use core::fmt;

use rand_core::TryRng;

use crate::{Error, Result};

/// Significance level of every statistical test (per assertion).
pub(crate) const ALPHA: f64 = 1e-6;
/// Two-sided standard-normal critical value for α = 1e-6: Φ⁻¹(1 − 5e-7).
pub(crate) const Z_ALPHA: f64 = 4.891_638_475_698_59;

/// xoshiro256++ (Blackman & Vigna), seeded through SplitMix64. Much faster than ChaCha in
/// the unoptimised test profile, and statistically more than good enough for these tests.
#[derive(Clone, Debug)]
pub(crate) struct TestRng {
    s: [u64; 4],
}

impl TestRng {
    pub(crate) fn seeded(seed: u64) -> Self {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        TestRng {
            s: [next(), next(), next(), next()],
        }
    }

    fn next(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }
}

impl TryRng for TestRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> core::result::Result<u32, Infallible> {
        Ok((self.next() >> 32) as u32)
    }
    fn try_next_u64(&mut self) -> core::result::Result<u64, Infallible> {
        Ok(self.next())
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> core::result::Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let w = self.next().to_le_bytes();
            chunk.copy_from_slice(&w[..chunk.len()]);
        }
        Ok(())
    }
}

/// The error of [`FailAt`].
#[derive(Debug)]
pub(crate) struct TestRngError;

impl fmt::Display for TestRngError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("test RNG failure")
    }
}

impl core::error::Error for TestRngError {}

/// Wraps an RNG, counts draws (calls of any method), and fails draw number `fail_at`
/// (1-based): only that one (`forever = false`, the RNG then recovers) or that one and
/// every later one (`forever = true`). Draws before `fail_at` return the inner RNG's values.
pub(crate) struct FailAt<R> {
    inner: R,
    fail_at: u64,
    forever: bool,
    draws: u64,
}

impl<R> FailAt<R> {
    pub(crate) fn new(inner: R, fail_at: u64, forever: bool) -> Self {
        FailAt {
            inner,
            fail_at,
            forever,
            draws: 0,
        }
    }
    pub(crate) fn draws(&self) -> u64 {
        self.draws
    }
    fn tick(&mut self) -> core::result::Result<(), TestRngError> {
        self.draws += 1;
        let fail = if self.forever {
            self.draws >= self.fail_at
        } else {
            self.draws == self.fail_at
        };
        if fail { Err(TestRngError) } else { Ok(()) }
    }
}

impl<R: TryRng<Error = Infallible>> TryRng for FailAt<R> {
    type Error = TestRngError;
    fn try_next_u32(&mut self) -> core::result::Result<u32, TestRngError> {
        self.tick()?;
        let Ok(v) = self.inner.try_next_u32();
        Ok(v)
    }
    fn try_next_u64(&mut self) -> core::result::Result<u64, TestRngError> {
        self.tick()?;
        let Ok(v) = self.inner.try_next_u64();
        Ok(v)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> core::result::Result<(), TestRngError> {
        self.tick()?;
        let Ok(()) = self.inner.try_fill_bytes(dst);
        Ok(())
    }
}

/// For many seeds: run `f` once on a healthy RNG to count its draws `c` and get its value;
/// then for every `k ≤ c` (up to 400), an RNG failing at draw `k` (once, or from then on)
/// must give `Err(Error::Rng)`, and an RNG failing only at draw `c + 1` must give the same
/// value as the healthy run. So no value is ever produced after a failed draw, and the
/// failure is never retried around.
pub(crate) fn check_rng_failures<T: PartialEq + fmt::Debug>(
    mut f: impl FnMut(&mut FailAt<TestRng>) -> Result<T>,
) {
    let mut max_used = 0;
    for seed in 0..24u64 {
        let mut healthy = FailAt::new(TestRng::seeded(seed), u64::MAX, false);
        let want = f(&mut healthy);
        assert!(want.is_ok(), "healthy run failed: {want:?}");
        let used = healthy.draws();
        max_used = max_used.max(used);
        for k in 1..=used.min(400) {
            for forever in [false, true] {
                let mut rng = FailAt::new(TestRng::seeded(seed), k, forever);
                let got = f(&mut rng);
                assert_eq!(got, Err(Error::Rng), "seed {seed}, fail at {k}/{used}");
                assert_eq!(rng.draws(), k, "drew again after the failure (seed {seed})");
            }
        }
        let mut rng = FailAt::new(TestRng::seeded(seed), used + 1, true);
        assert_eq!(f(&mut rng), want, "seed {seed}");
    }
    assert!(
        max_used >= 1,
        "the sampler never drew: the test checks nothing"
    );
}

/// Does the two-sided Wilson score interval (α = 1e-6) for `hits` successes in `n` trials
/// contain `p`?
pub(crate) fn wilson_contains(hits: u64, n: u64, p: f64) -> bool {
    let n = n as f64;
    let ph = hits as f64 / n;
    let z2 = Z_ALPHA * Z_ALPHA;
    let denom = 1.0 + z2 / n;
    let center = (ph + z2 / (2.0 * n)) / denom;
    let half = Z_ALPHA / denom * (ph * (1.0 - ph) / n + z2 / (4.0 * n * n)).sqrt();
    (center - half..=center + half).contains(&p)
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms; relative error < 1e-15).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
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
        let pi = core::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, &g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * core::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Regularised upper incomplete gamma Q(a, x) (series for x < a + 1, Lentz continued
/// fraction otherwise; Numerical Recipes §6.2), accurate to ~1e-14 relative.
fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let lead = (-x + a * x.ln() - ln_gamma(a)).exp();
    if x < a + 1.0 {
        let mut sum = 1.0 / a;
        let mut term = sum;
        let mut ap = a;
        for _ in 0..10_000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * 1e-16 {
                break;
            }
        }
        1.0 - sum * lead
    } else {
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < 1e-16 {
                break;
            }
        }
        lead * h
    }
}

/// Upper-tail p-value of a χ² statistic with `df` degrees of freedom.
pub(crate) fn chi2_pvalue(stat: f64, df: f64) -> f64 {
    gamma_q(df / 2.0, stat / 2.0)
}

/// A reference integer distribution for [`check_samples`].
pub(crate) struct Reference<'a> {
    pub name: &'a str,
    /// P[X ≤ x], accurate to ≪ 1e-6 absolute.
    pub cdf: &'a dyn Fn(i64) -> f64,
    /// Var[X] (the mean is 0).
    pub var: f64,
    /// E[X⁴].
    pub mu4: f64,
    /// A window [−w, w] outside which the mass is < 1e-12 (for quantile search).
    pub window: i64,
}

/// Smallest integer e in [lo, hi] with cdf(e) ≥ target (hi if none).
fn quantile(cdf: &dyn Fn(i64) -> f64, target: f64, lo: i64, hi: i64) -> i64 {
    let (mut lo, mut hi) = (lo, hi);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if cdf(mid) >= target {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// Runs, on the samples (sorted in place), at α = 1e-6 each:
/// - Pearson χ² goodness of fit against the exact pmf, with bins at quantiles (1 %, plus
///   finer bins in both tails) merged until every expected count is ≥ 5;
/// - Kolmogorov–Smirnov with the DKW–Massart critical value √(ln(2/α)/(2n)), which is
///   valid (conservative) for discrete distributions;
/// - a z-test of the mean (= 0) and of E[X²] (= Var, standard error √((μ₄ − Var²)/n)).
pub(crate) fn check_samples(samples: &mut [i64], r: &Reference<'_>) {
    let n = samples.len();
    let nf = n as f64;
    samples.sort_unstable();
    let cdf = r.cdf;

    // --- χ² ---------------------------------------------------------------------------
    let mut targets: Vec<f64> = vec![1e-4, 3e-4, 1e-3, 3e-3, 1e-2 / 2.0];
    targets.extend((1..100).map(|j| j as f64 / 100.0));
    targets.extend([
        1.0 - 1e-2 / 2.0,
        1.0 - 3e-3,
        1.0 - 1e-3,
        1.0 - 3e-4,
        1.0 - 1e-4,
    ]);
    let mut edges: Vec<i64> = targets
        .iter()
        .map(|&t| quantile(cdf, t, -r.window, r.window))
        .collect();
    edges.sort_unstable();
    edges.dedup();
    // Bins (−∞, e₀], (e₀, e₁], …, (e_last, ∞) as (prob, observed).
    let count_le = |e: i64| samples.partition_point(|&v| v <= e) as f64;
    let mut raw: Vec<(f64, f64)> = Vec::new();
    let mut prev_f = 0.0;
    let mut prev_c = 0.0;
    for &e in &edges {
        let (f, c) = (cdf(e), count_le(e));
        raw.push((f - prev_f, c - prev_c));
        prev_f = f;
        prev_c = c;
    }
    raw.push((1.0 - prev_f, nf - prev_c));
    let mut bins: Vec<(f64, f64)> = Vec::new();
    let mut acc = (0.0, 0.0);
    for (p, c) in raw {
        acc = (acc.0 + p, acc.1 + c);
        if acc.0 * nf >= 5.0 {
            bins.push(acc);
            acc = (0.0, 0.0);
        }
    }
    if let Some(last) = bins.last_mut() {
        last.0 += acc.0;
        last.1 += acc.1;
    }
    assert!(bins.len() >= 2, "{}: only {} χ² bins", r.name, bins.len());
    let stat: f64 = bins
        .iter()
        .map(|&(p, c)| (c - nf * p).powi(2) / (nf * p))
        .sum();
    let df = (bins.len() - 1) as f64;
    let pval = chi2_pvalue(stat, df);
    assert!(
        pval > ALPHA,
        "{}: χ² = {stat:.1} on {df} df, p = {pval:.3e}",
        r.name
    );

    // --- KS -----------------------------------------------------------------------------
    // F_n is a step function jumping at the sample values; between jumps F is monotone,
    // so the supremum is attained at a sample value or just before one.
    let mut d_max: f64 = 0.0;
    let mut i = 0;
    while i < n {
        let v = samples[i];
        let j = samples[i..].partition_point(|&x| x == v) + i;
        let below = i as f64 / nf; // F_n(v − 1)
        let at = j as f64 / nf; // F_n(v)
        d_max = d_max
            .max((below - cdf(v - 1)).abs())
            .max((at - cdf(v)).abs());
        i = j;
    }
    let crit = ((2.0 / ALPHA).ln() / (2.0 * nf)).sqrt();
    assert!(d_max < crit, "{}: KS D = {d_max:.5} ≥ {crit:.5}", r.name);

    // --- moments ------------------------------------------------------------------------
    let s1: i128 = samples.iter().map(|&x| i128::from(x)).sum();
    let s2: i128 = samples.iter().map(|&x| i128::from(x) * i128::from(x)).sum();
    let mean = s1 as f64 / nf;
    let z_mean = mean / (r.var / nf).sqrt();
    assert!(
        z_mean.abs() < Z_ALPHA,
        "{}: mean {mean}, z = {z_mean:.2}",
        r.name
    );
    let m2 = s2 as f64 / nf;
    let z_var = (m2 - r.var) / ((r.mu4 - r.var * r.var) / nf).sqrt();
    assert!(
        z_var.abs() < Z_ALPHA,
        "{}: E[X²] = {m2} vs {}, z = {z_var:.2}",
        r.name,
        r.var
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chi2_pvalues_match_tables() {
        // Reference values: mpmath 1.3 `gammainc(df/2, x/2, inf, regularized=True)`, 30 digits.
        let cases = [
            (3.841_458_820_694_124, 1.0, 0.050_000_000_000_000_06),
            (23.928, 1.0, 1.000_065_958_103_686_2e-6),
            (18.307_038_053_275_146, 10.0, 0.050_000_000_000_000_01),
            (124.342_112_537_936_4, 100.0, 0.050_000_005_466_310_91),
            (50.69, 5.0, 1.001_034_980_296_427e-9),
            (100.0, 100.0, 0.481_191_684_527_956_72),
            (160.0, 60.0, 4.903_229_555_810_753e-11),
            (200.0, 100.0, 1.178_450_072_097_942_2e-8),
        ];
        for (x, df, p) in cases {
            let got = chi2_pvalue(x, df);
            assert!(
                (got / p - 1.0).abs() < 1e-9,
                "chi2({x}, {df}) = {got} vs {p}"
            );
        }
    }

    #[test]
    fn wilson_interval_sanity() {
        assert!(wilson_contains(500, 1000, 0.5));
        assert!(!wilson_contains(600, 1000, 0.5));
        assert!(wilson_contains(0, 100_000, 1e-9));
        assert!(!wilson_contains(0, 100_000, 1e-3));
    }
}
