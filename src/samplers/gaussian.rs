//! The discrete Gaussian distribution, sampled exactly.

use core::num::NonZeroU64;

use rand_core::TryRng;

use super::bernoulli::{bern, bern_u64, exp_frac, exp_int, exp_minus_half};
use super::laplace::DiscreteLaplace;
use super::rational::Rational;
use crate::{Error, Result};

/// The discrete Gaussian distribution `N_ℤ(0, σ²)`: `P[X = x] ∝ exp(−x²/(2σ²))` on ℤ.
/// Adding it to an integer query of ℓ₂-sensitivity Δ gives (Δ²/(2σ²))-zCDP, exactly as the
/// continuous Gaussian does (CKS20, which also gives the conversion to (ε, δ)); the
/// privacy accounting lives in the mechanism, not here.
///
/// # Algorithm
/// Canonne, Kamath and Steinke, "The Discrete Gaussian for Differential Privacy"
/// (NeurIPS 2020, arXiv:2004.00010), Algorithm 3: with `t = ⌊σ⌋ + 1`, draw
/// `Y ~ DiscreteLaplace(t)` ([`DiscreteLaplace`]) and accept it with probability
/// `exp(−(|Y| − σ²/t)² / (2σ²))`; otherwise draw again. The accepted `Y` is exactly
/// `N_ℤ(0, σ²)` (CKS20 Section 5): `P[Y = y]·accept(y) ∝ e^{−|y|/t − (|y| − σ²/t)²/(2σ²)}
/// = e^{−y²/(2σ²)}·e^{−σ²/(2t²)}`, and the acceptance probability is ≤ 1 for every `y`.
///
/// # Keeping the acceptance test exact in `u128`
/// With `σ = n/d` in lowest terms, the exponent is `w²/2` with
/// `w = (|Y|·d²·t − n²) / (n·d·t) = a/b`. Its denominator `2b²` has ≈ 4·log₂σ bits (81 at
/// σ = 10⁶, 125 at σ = 2^31), too wide to draw from directly, so it is never formed:
/// 1. `w = Q₁ + g/b` with `Q₁ = ⌊|Y|·d / n⌋`, `R₁ = |Y|·d mod n` and `g = R₁·d·t − n²`.
///    (`|Y|·d < 2^63·2^64` fits in `u128`; `R₁ < n` gives `0 ≤ R₁·d·t < n·d·t = b`; and
///    `n < d·t` — i.e. `σ < t` — gives `n² < b`, so `|g| < b`.)
/// 2. Normalise to `|w| = q + r/b` with `0 ≤ r < b`: `(q, r) = (Q₁, g)` if `g ≥ 0`,
///    `(Q₁ − 1, b + g)` if `g < 0 < Q₁`, and `(0, −g)` if `g < 0 = Q₁` (then `w < 0`).
/// 3. `exp(−w²/2) = exp(−q²/2) · exp(−r²/(2b²)) · exp(−q·r/b)`, three independent
///    Bernoulli trials whose conjunction has exactly the product probability:
///    - `exp(−q²/2)`: `⌊q²/2⌋` Bernoulli(exp(−1)) trials (stop at the first failure) and,
///      if `q` is odd, one Bernoulli(exp(−1/2)). `q² < 2^128` when `q < 2^64`; for larger
///      `q` (only for σ ≪ 1 and huge `|Y|`) it is drawn as `q` independent
///      Bernoulli(exp(−q/2)) trials, which is the same probability.
///    - `exp(−r²/(2b²))`, exponent `< 1/2`: CKS20 Algorithm 1, whose `k`-th trial has
///      probability `r²/(2b²k)`. If `2b²k < 2^64` it is one draw below `2b²k`; otherwise it
///      is `Bernoulli(r/b) ∧ Bernoulli(r/b) ∧ Bernoulli(1/(2k))` (independent factors,
///      each denominator `≤ b` or `2k`), so `b²` is never needed.
///    - `exp(−q·r/b)`: if `q·r` fits in `u128`, integer part `⌊q·r/b⌋` and remainder as in
///      [`bernoulli_exp`](super::bernoulli_exp); otherwise `q` independent
///      Bernoulli(exp(−r/b)) trials (this case needs `q·r ≥ 2^128` and is only reached
///      after `exp(−q²/2)` succeeded, so its cost is negligible in expectation).
///
/// When `b < 2^64` (for integer σ: σ < 2^32, since then `b = σ(σ + 1)`) the split and the
/// `exp(−q·r/b)` trial run in `u64` (64-bit divisions only, no 128-bit one); σ = 10⁶ takes
/// this path.
///
/// # Supported σ and overflow
/// `0 ≤ σ < 2^48` ([`DiscreteGaussian::MAX_SIGMA`]), with `σ = num/den` such that
/// `b_max = n·d·(⌊n/d⌋ + 1) < 2^128` for the reduced `n/d` — always true when
/// `num, den < 2^63` (then `b_max ≤ n² + n·d < 2^127`). σ = 0 is accepted and always returns
/// 0 without drawing (the limit `σ → 0`, **not** a private mechanism).
/// [`Error::SampleOverflow`] is returned (never a truncated value) if a Laplace proposal
/// exceeds `i64`: probability `< e^{−2^15}` per proposal (t ≤ 2^48) and so below 2^−47000
/// per sample, since the expected number of proposals is < 2.3 for every σ (see Runtime).
///
/// # Runtime (64-bit RNG words per sample)
/// For large σ the acceptance probability tends to `e^{−1/2}·√(π/2)` ≈ 0.76, so
/// ≈ 1.32 proposals of ≈ 4.9 words (the Laplace sampler) plus ≈ 2.5 words for the three
/// acceptance trials. Measured: 9.7 words per sample at σ = 10⁶, 8.0 at σ = 10
/// (`examples/sampler_speed.rs`). The expected number of proposals is largest for small σ
/// (≈ 2.25 at σ ≈ 0.3, ≈ 2.16 as σ → 0, where the proposal is `DiscreteLaplace(1)`) and is
/// below 2.3 for every σ (checked numerically over σ ∈ [10⁻³, 300]).
/// Not constant-time: the running time depends on the sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DiscreteGaussian {
    /// σ as given by the caller.
    sigma: Rational,
    /// The proposal, DiscreteLaplace(t) with t = ⌊σ⌋ + 1.
    laplace: DiscreteLaplace,
    /// Reduced σ = n/d (n = 0: point mass at 0).
    n: u64,
    d: u64,
    /// n² (< b).
    n2: u128,
    /// d·t.
    dt: u128,
    /// b = n·d·t, the denominator of w.
    b: u128,
    /// The same constants in `u64` when `b < 2^64`.
    fast: Option<Fast64>,
    /// 2b² when it is < 2^64 (then each `exp(−r²/(2b²))` trial is one draw).
    two_b2: Option<u64>,
}

/// `u64` copies of the constants, present when `b < 2^64` (then `n, d·t, n² < b` fit too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Fast64 {
    n: NonZeroU64,
    d: u64,
    dt: u64,
    n2: u64,
    b: NonZeroU64,
}

impl DiscreteGaussian {
    /// σ must be strictly below this (2^48), so that the proposal scale `⌊σ⌋ + 1` is at most
    /// [`DiscreteLaplace::MAX_SCALE`].
    pub const MAX_SIGMA: Rational = Rational::integer(1 << 48);

    /// A discrete Gaussian sampler with standard-deviation parameter σ
    /// (`P[x] ∝ exp(−x²/(2σ²))`).
    ///
    /// σ = 0 is accepted: the sampler then always returns 0 (no noise, no privacy).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `σ ≥ 2^48`, or if `n·d·(⌊n/d⌋ + 1) ≥ 2^128` for the
    /// reduced `σ = n/d` (impossible when both parts of `sigma` are below 2^63).
    pub fn new(sigma: Rational) -> Result<Self> {
        if !sigma.lt_u64(1 << 48) {
            return Err(Error::InvalidParameter);
        }
        let r = sigma.reduced();
        let (n, d) = (r.num(), r.den());
        let Some(d_nz) = NonZeroU64::new(d) else {
            return Err(Error::InvalidParameter);
        };
        // t = ⌊σ⌋ + 1 ≤ 2^48 because σ < 2^48.
        let t = n / d_nz + 1;
        let laplace = DiscreteLaplace::new(Rational::integer(t))?;
        let n2 = u128::from(n) * u128::from(n);
        // d < 2^64 and t ≤ 2^48: the product is < 2^112.
        let dt = u128::from(d) * u128::from(t);
        let b = u128::from(n)
            .checked_mul(dt)
            .ok_or(Error::InvalidParameter)?;
        let fast = match (
            NonZeroU64::new(n),
            u64::try_from(dt),
            u64::try_from(n2),
            u64::try_from(b).ok().and_then(NonZeroU64::new),
        ) {
            (Some(n), Ok(dt), Ok(n2), Some(b)) => Some(Fast64 { n, d, dt, n2, b }),
            _ => None,
        };
        let two_b2 = b
            .checked_mul(b)
            .and_then(|b2| b2.checked_mul(2))
            .and_then(|x| u64::try_from(x).ok());
        Ok(DiscreteGaussian {
            sigma,
            laplace,
            n,
            d,
            n2,
            dt,
            b,
            fast,
            two_b2,
        })
    }

    /// σ, as passed to [`DiscreteGaussian::new`].
    pub fn sigma(&self) -> Rational {
        self.sigma
    }

    /// One sample.
    ///
    /// # Errors
    /// [`Error::Rng`] if the RNG fails (no value is returned after a failed draw);
    /// [`Error::SampleOverflow`] if a proposal exceeds `i64` (probability < 2^−47000).
    pub fn sample<R: TryRng + ?Sized>(&self, rng: &mut R) -> Result<i64> {
        if self.n == 0 {
            return Ok(0);
        }
        loop {
            let y = self.laplace.sample(rng)?;
            let (q, r) = self.split(y.unsigned_abs());
            if self.accept(rng, q, r)? {
                return Ok(y);
            }
        }
    }

    /// `|w| = q + r/b` with `0 ≤ r < b`, for `w = (|Y|·d²·t − n²)/b` (steps 1–2 of the type
    /// docs; the range proofs are there).
    #[inline]
    fn split(&self, abs_y: u64) -> (u128, u128) {
        if let Some(f) = &self.fast
            && let Some(yd) = abs_y.checked_mul(f.d)
        {
            let q1 = yd / f.n;
            let r1 = yd % f.n;
            // r1 < n, so r1·dt < n·dt = b < 2^64.
            let r1dt = r1 * f.dt;
            let b = f.b.get();
            let (q, r) = if r1dt >= f.n2 {
                (q1, r1dt - f.n2)
            } else if q1 > 0 {
                // 0 < n² − r1dt ≤ n² < b.
                (q1 - 1, b - (f.n2 - r1dt))
            } else {
                (0, f.n2 - r1dt)
            };
            return (u128::from(q), u128::from(r));
        }
        // |Y|·d < 2^63 · 2^64 = 2^127.
        let yd = u128::from(abs_y) * u128::from(self.d);
        let n = u128::from(self.n);
        // n ≥ 1 here (sample() returned early for n = 0); the branch removes the
        // divide-by-zero path.
        if n == 0 {
            return (0, 0);
        }
        let q1 = yd / n;
        let r1 = yd % n;
        // r1 < n, so r1·dt < n·dt = b < 2^128.
        let r1dt = r1 * self.dt;
        if r1dt >= self.n2 {
            (q1, r1dt - self.n2)
        } else if q1 > 0 {
            (q1 - 1, self.b - (self.n2 - r1dt))
        } else {
            (0, self.n2 - r1dt)
        }
    }

    /// Bernoulli(exp(−(q + r/b)²/2)) as the conjunction of three independent trials.
    #[inline]
    fn accept<R: TryRng + ?Sized>(&self, rng: &mut R, q: u128, r: u128) -> Result<bool> {
        Ok(exp_minus_half_square(rng, q)?
            && self.exp_minus_half_frac_square(rng, r)?
            && self.exp_minus_qr_over_b(rng, q, r)?)
    }

    /// Bernoulli(exp(−r²/(2b²))) for `r < b`: CKS20 Algorithm 1 with `x = r²/(2b²) < 1/2`.
    fn exp_minus_half_frac_square<R: TryRng + ?Sized>(&self, rng: &mut R, r: u128) -> Result<bool> {
        if r == 0 {
            return Ok(true);
        }
        let mut k = 1u64;
        loop {
            // The k-th trial, probability r²/(2b²k).
            let hit = match self.two_b2.and_then(|x| x.checked_mul(k)) {
                // 2b²k < 2^64, and r² < b² < 2^64 too.
                Some(den) => bern_u64(rng, (r * r) as u64, den)?,
                None => {
                    let two_k = k.checked_mul(2).ok_or(Error::SampleOverflow)?;
                    bern(rng, r, self.b)? && bern(rng, r, self.b)? && bern_u64(rng, 1, two_k)?
                }
            };
            if !hit {
                return Ok(k & 1 == 1);
            }
            // k passes 2^63 only after ≥ 2^63 − 1 consecutive successes.
            k = k.checked_add(1).ok_or(Error::SampleOverflow)?;
        }
    }

    /// Bernoulli(exp(−q·r/b)) for `r < b`.
    fn exp_minus_qr_over_b<R: TryRng + ?Sized>(
        &self,
        rng: &mut R,
        q: u128,
        r: u128,
    ) -> Result<bool> {
        if q == 0 || r == 0 {
            return Ok(true);
        }
        // u64 fast path: q·r < 2^64 and b < 2^64.
        if let Some(f) = &self.fast
            && let (Ok(q), Ok(r)) = (u64::try_from(q), u64::try_from(r))
            && let Some(qr) = q.checked_mul(r)
        {
            let int = qr / f.b;
            let frac = qr % f.b;
            return Ok(exp_int(rng, u128::from(int))?
                && exp_frac(rng, u128::from(frac), u128::from(f.b.get()))?);
        }
        match q.checked_mul(r) {
            Some(qr) => {
                // b ≥ 1 (n, d, t ≥ 1); the branch removes the divide-by-zero path.
                if self.b == 0 {
                    return Err(Error::InvalidParameter);
                }
                Ok(exp_int(rng, qr / self.b)? && exp_frac(rng, qr % self.b, self.b)?)
            }
            None => {
                // q·r ≥ 2^128: exp(−q·r/b) = exp(−r/b)^q, q independent trials.
                let mut i = 0u128;
                while i < q {
                    if !exp_frac(rng, r, self.b)? {
                        return Ok(false);
                    }
                    i += 1;
                }
                Ok(true)
            }
        }
    }
}

/// Bernoulli(exp(−q²/2)) for an integer `q`.
fn exp_minus_half_square<R: TryRng + ?Sized>(rng: &mut R, q: u128) -> Result<bool> {
    if q == 0 {
        return Ok(true);
    }
    match u64::try_from(q) {
        Ok(q) => {
            // q < 2^64, so q² < 2^128.
            let q2 = u128::from(q) * u128::from(q);
            Ok(exp_int(rng, q2 >> 1)? && (q2 & 1 == 0 || exp_minus_half(rng)?))
        }
        Err(_) => {
            // q ≥ 2^64: exp(−q²/2) = exp(−q/2)^q; each factor is ⌊q/2⌋ exp(−1) trials and,
            // for odd q, one exp(−1/2) trial.
            let mut i = 0u128;
            while i < q {
                if !(exp_int(rng, q >> 1)? && (q & 1 == 0 || exp_minus_half(rng)?)) {
                    return Ok(false);
                }
                i += 1;
            }
            Ok(true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samplers::testutil::{
        FailAt, Reference, TestRng, check_rng_failures, check_samples, wilson_contains,
    };

    /// The normalised pmf table on [−L, L] (for σ < 100), with prefix sums.
    struct Table {
        l: i64,
        cum: Vec<f64>,
        var: f64,
        mu4: f64,
    }

    fn table(sigma: f64) -> Table {
        let l = (40.0 * sigma).ceil() as i64 + 40;
        let w: Vec<f64> = (-l..=l)
            .map(|k| (-(k as f64).powi(2) / (2.0 * sigma * sigma)).exp())
            .collect();
        let z: f64 = w.iter().sum();
        let mut cum = Vec::with_capacity(w.len());
        let mut acc = 0.0;
        for &x in &w {
            acc += x / z;
            cum.push(acc);
        }
        let var = (-l..=l)
            .zip(&w)
            .map(|(k, &x)| (k as f64).powi(2) * x / z)
            .sum();
        let mu4 = (-l..=l)
            .zip(&w)
            .map(|(k, &x)| (k as f64).powi(4) * x / z)
            .sum();
        Table { l, cum, var, mu4 }
    }

    impl Table {
        fn cdf(&self, x: i64) -> f64 {
            if x < -self.l {
                0.0
            } else if x >= self.l {
                1.0
            } else {
                self.cum[(x + self.l) as usize]
            }
        }
    }

    /// Σ_{k ≤ x} e^{−k²/(2σ²)} / (σ√(2π)) by Euler–Maclaurin (integral + f/2 + f′/12);
    /// the omitted terms are O(σ^−3) relative, and σ√(2π) is the exact normaliser up to
    /// e^{−2π²σ²} (Poisson summation). Used for σ ≥ 100.
    fn analytic_lower(sigma: f64, x: i64) -> f64 {
        let x = x as f64;
        let f = (-x * x / (2.0 * sigma * sigma)).exp();
        let z = sigma * (2.0 * core::f64::consts::PI).sqrt();
        let integral = 0.5 * libm::erfc(-x / (sigma * core::f64::consts::SQRT_2));
        integral + (f / 2.0 - x * f / (12.0 * sigma * sigma)) / z
    }

    fn analytic_cdf(sigma: f64, x: i64) -> f64 {
        if x < 0 {
            analytic_lower(sigma, x)
        } else {
            // P[X ≤ x] = 1 − P[X ≤ −x − 1], computed on the small side for precision.
            1.0 - analytic_lower(sigma, -x - 1)
        }
    }

    #[test]
    fn analytic_cdf_matches_table() {
        for sigma in [30.0, 100.0, 1000.0] {
            let t = table(sigma);
            for x in (-(8.0 * sigma) as i64..(8.0 * sigma) as i64).step_by(7) {
                let (a, b) = (analytic_cdf(sigma, x), t.cdf(x));
                assert!((a - b).abs() < 1e-9, "σ {sigma}, x {x}: {a} vs {b}");
            }
            assert!((t.var / (sigma * sigma) - 1.0).abs() < 1e-9);
            assert!((t.mu4 / (3.0 * sigma.powi(4)) - 1.0).abs() < 1e-9);
        }
    }

    fn check_sigma(num: u64, den: u64, n: usize, seed: u64) {
        let g = DiscreteGaussian::new(Rational::new(num, den).unwrap()).unwrap();
        let mut rng = TestRng::seeded(seed);
        let mut xs: Vec<i64> = (0..n).map(|_| g.sample(&mut rng).unwrap()).collect();
        let sigma = num as f64 / den as f64;
        let name = format!("Gaussian σ = {num}/{den}");
        if sigma < 100.0 {
            let t = table(sigma);
            let cdf = |x: i64| t.cdf(x);
            let window = t.l;
            check_samples(
                &mut xs,
                &Reference {
                    name: &name,
                    cdf: &cdf,
                    var: t.var,
                    mu4: t.mu4,
                    window,
                },
            );
        } else {
            let cdf = |x: i64| analytic_cdf(sigma, x);
            check_samples(
                &mut xs,
                &Reference {
                    name: &name,
                    cdf: &cdf,
                    var: sigma * sigma,
                    mu4: 3.0 * sigma.powi(4),
                    window: (40.0 * sigma) as i64,
                },
            );
        }
    }

    #[test]
    fn shape_sigma_half() {
        check_sigma(1, 2, 200_000, 40);
    }
    #[test]
    fn shape_sigma_1() {
        check_sigma(1, 1, 200_000, 41);
    }
    #[test]
    fn shape_sigma_3() {
        check_sigma(3, 1, 200_000, 42);
    }
    #[test]
    fn shape_sigma_10() {
        check_sigma(10, 1, 200_000, 43);
    }
    #[test]
    fn shape_sigma_1e3() {
        check_sigma(1000, 1, 200_000, 44);
    }
    #[test]
    fn shape_sigma_1e6() {
        check_sigma(1_000_000, 1, 200_000, 45);
    }
    /// Rational σ (u64 and u128 split paths) and σ with b ≥ 2^64 (u128 split, product-form
    /// `exp(−r²/(2b²))` trials).
    #[test]
    fn shape_rational_and_wide_sigmas() {
        check_sigma(7, 3, 100_000, 46);
        check_sigma(14_142_135_623, 10_000, 100_000, 47); // b ≈ 2^67.4
        check_sigma(5_000_000_000, 1, 50_000, 48); // b ≈ 2^64.4
        check_sigma((1 << 47) + 12_345, 1, 50_000, 49); // b ≈ 2^94
    }

    /// The split `|w| = q + r/b` against a direct i128/f64 computation.
    #[test]
    fn split_matches_definition() {
        for (num, den) in [
            (1u64, 2u64),
            (7, 3),
            (1_000_000, 1),
            (14_142_135_623, 10_000),
        ] {
            let g = DiscreteGaussian::new(Rational::new(num, den).unwrap()).unwrap();
            let (n, d) = (g.n as i128, g.d as i128);
            let t = (n / d) + 1;
            let b = n * d * t;
            assert_eq!(b as u128, g.b);
            for y in [
                0u64,
                1,
                2,
                3,
                10,
                999_999,
                1_000_000,
                1_000_001,
                123_456_789,
            ] {
                let a = (y as i128) * d * d * t - n * n;
                let (q, r) = g.split(y);
                assert!(r < g.b);
                assert_eq!(q as i128 * b + r as i128, a.abs(), "σ {num}/{den}, y {y}");
            }
        }
    }

    /// The acceptance probability exp(−(q + r/b)²/2) for fixed (q, r) — including q = 0,
    /// r = 0 and both u64 and u128 constants — against the exact value.
    #[test]
    fn acceptance_wilson() {
        let n = 100_000u64;
        for (num, den) in [(1_000_000u64, 1u64), (3, 1), (14_142_135_623, 10_000)] {
            let g = DiscreteGaussian::new(Rational::new(num, den).unwrap()).unwrap();
            for (q, r) in [
                (0u128, g.b / 3),
                (1, 0),
                (1, g.b / 2),
                (2, g.b * 2 / 3),
                (0, g.b - 1),
            ] {
                let mut rng = TestRng::seeded(q as u64 * 7 + r as u64);
                let hits = (0..n).filter(|_| g.accept(&mut rng, q, r).unwrap()).count() as u64;
                let w = q as f64 + r as f64 / g.b as f64;
                let p = (-w * w / 2.0).exp();
                assert!(
                    wilson_contains(hits, n, p),
                    "σ {num}/{den}, q {q}, r {r}: {hits} vs {p}"
                );
            }
        }
    }

    #[test]
    fn zero_and_tiny_sigma() {
        let mut rng = TestRng::seeded(50);
        let zero = DiscreteGaussian::new(Rational::integer(0)).unwrap();
        // σ = 2^-10: P[X ≠ 0] ≈ 2e^{-2^19}, i.e. never.
        let tiny = DiscreteGaussian::new(Rational::new(1, 1024).unwrap()).unwrap();
        for _ in 0..10_000 {
            assert_eq!(zero.sample(&mut rng), Ok(0));
            assert_eq!(tiny.sample(&mut rng), Ok(0));
        }
        let mut bad = FailAt::new(TestRng::seeded(1), 1, true);
        assert_eq!(zero.sample(&mut bad), Ok(0));
        // σ = 2^-62: q ≥ 2^64 for |Y| ≥ 4, exercising the exp(−q/2)^q path.
        let micro = DiscreteGaussian::new(Rational::new(1, 1 << 62).unwrap()).unwrap();
        for _ in 0..10_000 {
            assert_eq!(micro.sample(&mut rng), Ok(0));
        }
        for q in [1u128 << 64, u128::MAX] {
            assert_eq!(exp_minus_half_square(&mut rng, q), Ok(false));
        }
    }

    #[test]
    fn parameters() {
        assert_eq!(
            DiscreteGaussian::new(DiscreteGaussian::MAX_SIGMA),
            Err(Error::InvalidParameter)
        );
        assert!(DiscreteGaussian::new(Rational::new((1 << 49) - 1, 2).unwrap()).is_ok());
        // n·d·t ≥ 2^128: σ ≈ 2^47 with n = 2^64 − 1, d = 2^17 − 1 (coprime), so
        // n·d·t = n·(n + d − (n mod d)) = n·(n + 2^17 − 2^13) > 2^128.
        assert_eq!(
            DiscreteGaussian::new(Rational::new(u64::MAX, (1 << 17) - 1).unwrap()),
            Err(Error::InvalidParameter)
        );
        // Parts below 2^63 always fit.
        assert!(
            DiscreteGaussian::new(Rational::new((1 << 63) - 1, (1 << 16) + 1).unwrap()).is_ok()
        );
        let s = Rational::new(10, 4).unwrap();
        assert_eq!(DiscreteGaussian::new(s).unwrap().sigma(), s);
    }

    #[test]
    fn rng_failure_is_propagated() {
        for (num, den) in [
            (1u64, 2u64),
            (1, 1),
            (3, 1),
            (1_000_000, 1),
            (14_142_135_623, 10_000),
        ] {
            let g = DiscreteGaussian::new(Rational::new(num, den).unwrap()).unwrap();
            check_rng_failures(|rng| g.sample(rng));
        }
    }
}
