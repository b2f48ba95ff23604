//! The discrete Laplace distribution (two-sided geometric), sampled exactly.

use core::num::{NonZeroU64, NonZeroU128};

use rand_core::TryRng;

use super::bernoulli::{exp1_from, geometric_exp_minus_one};
use super::rational::Rational;
use super::uniform::{next_word, uniform_below_u64};
use crate::{Error, Result};

/// The discrete Laplace distribution on ℤ with scale `s > 0`:
/// `P[X = x] = (1 − e^{−1/s})/(1 + e^{−1/s}) · e^{−|x|/s}`. Adding it to an integer query of
/// ℓ₁-sensitivity Δ gives (Δ/s)-DP, since `P[x]/P[x + Δ] ≤ e^{Δ/s}` (the geometric mechanism
/// of Ghosh, Roughgarden and Sundararajan 2009).
///
/// # Algorithm
/// Canonne, Kamath and Steinke, "The Discrete Gaussian for Differential Privacy"
/// (NeurIPS 2020, arXiv:2004.00010), Algorithm 2, with scale `s = t/u` in lowest terms:
/// 1. Draw `U` uniform in `[0, t)` and accept it with probability `exp(−U/t)`
///    (CKS20 Algorithm 1); otherwise redraw. The accepted `U` has `P[U] ∝ e^{−U/t}`.
/// 2. Draw `V` = the number of successes of independent Bernoulli(exp(−1)) trials before the
///    first failure (`P[V ≥ v] = e^{−v}`). Then `X = U + t·V` has `P[X = x] ∝ e^{−x/t}` on ℕ.
/// 3. `Y = ⌊X/u⌋` has `P[Y = y] ∝ e^{−y·u/t} = e^{−y/s}`.
/// 4. With a fair sign bit `B`, reject `(B = −, Y = 0)` and start over; else return `±Y`.
///    Without the rejection 0 would be reached twice (as +0 and −0); with it,
///    `P[±y] ∝ e^{−|y|/s}` for every `y ∈ ℤ`, the two-sided law.
///
/// Two exact speed-ups, neither of which changes the output distribution:
/// - `U` and `B` come from one draw `W` uniform in `[0, 2t)`: `U = ⌊W/2⌋`, `B = W mod 2` are
///   independent and uniform. `B` of the *accepted* attempt is used; it is independent of the
///   acceptance, which depends on `U` only.
/// - Step 1's `K`-parity loop resolves its first `m` Bernoulli(U/(t·k)) trials with one draw
///   `w` uniform in `[0, t^m·m!)`: "`A₁…Aₖ` all succeed" is the event
///   `w < U^k·t^{m−k}·m!/k!`, which has probability exactly `(U/t)^k/k!` and is nested in
///   `k`, as the loop's first-failure index needs. `m` is the largest value ≤ 8 with
///   `t^m·m! ≤ 2^64` whose Lemire rejection rate is below 1/32 (`m = 3` at `t = 10^6`).
///
/// All arithmetic is in `u64`/`u128` with proofs of range in the code; nothing is rounded.
///
/// # Supported scales and overflow
/// `0 ≤ s ≤ 2^48` ([`DiscreteLaplace::MAX_SCALE`]), any `num/den` with 64-bit parts. A
/// sample with `|Y| > i64::MAX` is reported as [`Error::SampleOverflow`], never truncated:
/// its probability is `2·e^{−(2^63)/s}/(1 + e^{−1/s}) < e^{−2^15} < 2^{−47000}` at the
/// largest scale. Scale 0 (`0/den`) is accepted and always returns 0 without drawing — the
/// limit of the distribution as `s → 0`, **not** a private mechanism.
///
/// # Runtime (64-bit RNG words per sample)
/// Step 1 accepts with probability ≈ `1 − e^{−1}` ≈ 0.63 for large `t`, so it runs ≈ 1.58
/// times, each with 1 word for `(U, B)` plus ≈ 1.07 words for the batched `exp(−U/t)` trial;
/// step 2 costs ≈ 1.59 words. Measured: 4.86 words per sample at `s = 10^6` (see
/// `examples/sampler_speed.rs`); small scales are cheaper in step 1 (`t = 1`: no
/// `exp(−U/t)` trial at all) but reject `(−, 0)` about half the time when `s < 1`.
/// The running time depends on the sample (as in every CKS20 implementation); this sampler
/// is not constant-time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DiscreteLaplace {
    /// The scale as given by the caller.
    scale: Rational,
    /// Numerator of the scale in lowest terms (0 = point mass at 0).
    t: u64,
    /// Denominator of the scale in lowest terms (≥ 1).
    u: NonZeroU64,
    /// `2t` if it fits in `u64` (then `U` and the sign come from one draw).
    two_t: Option<NonZeroU64>,
    /// The batched first trials of `exp(−U/t)`.
    batch: Exp1Batch,
}

/// Constants to resolve the first `m` trials of CKS20 Algorithm 1 for `x = U/t` with one
/// uniform draw below `d = t^m·m!` (see [`DiscreteLaplace`]). `m = 0` disables batching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Exp1Batch {
    m: u64,
    d: u64,
    /// `coef[k − 1] = t^{m−k}·m!/k!` for `k = 1..=m`.
    coef: [u64; 8],
}

impl Exp1Batch {
    const MAX_M: u64 = 8;

    /// The best `m` for denominator `t`: the largest `m ≤ 8` with `t^m·m! < 2^64` whose
    /// Lemire rejection rate `(2^64 mod d)/2^64` is below 1/32 (`m ≥ 2`, else disabled).
    fn new(t: u64) -> Exp1Batch {
        let disabled = Exp1Batch {
            m: 0,
            d: 1,
            coef: [0; 8],
        };
        if t < 2 {
            return disabled;
        }
        // d_m = t^m·m! for m = 1, 2, … while it fits.
        let mut best_m = 0u64;
        let mut best_d = 1u64;
        let mut m = 0u64;
        let mut d = 1u64;
        while m < Self::MAX_M {
            let Some(next) = d.checked_mul(t) else { break };
            let Some(next) = next.checked_mul(m + 1) else {
                break;
            };
            d = next;
            m += 1;
            // 2^64 mod d, in u128 (d ≥ t ≥ 2, so the divisor is non-zero).
            let Some(nz) = NonZeroU128::new(d as u128) else {
                break;
            };
            let rej = (1u128 << 64) % nz;
            if m >= 2 && rej < 1u128 << 59 {
                best_m = m;
                best_d = d;
            }
        }
        if best_m == 0 {
            return disabled;
        }
        // coef[k−1] = t^{m−k}·m!/k!, built from k = m down: coef[m−1] = 1 and
        // coef[k−2] = coef[k−1]·t·k. Each value is ≤ d < 2^64.
        let mut coef = [0u64; 8];
        let mut k = best_m;
        let mut c = 1u64;
        // best_m ≤ 8 = coef.len(), so every slot exists (`get_mut` keeps it panic-free).
        let mut set = |k: u64, c: u64| {
            if let Some(slot) = coef.get_mut((k - 1) as usize) {
                *slot = c;
            }
        };
        set(k, c);
        while k > 1 {
            // c = t^{m−k+1}·m!/(k−1)! ≤ d < 2^64.
            c = c * t * k;
            set(k - 1, c);
            k -= 1;
        }
        Exp1Batch {
            m: best_m,
            d: best_d,
            coef,
        }
    }
}

impl DiscreteLaplace {
    /// The largest supported scale, 2^48 (see the type docs for why: it keeps the
    /// probability of an `i64` overflow below 2^−47000).
    pub const MAX_SCALE: Rational = Rational::integer(1 << 48);

    /// A discrete Laplace sampler with the given scale (`P[x] ∝ exp(−|x|/scale)`).
    ///
    /// Scale 0 is accepted: the sampler then always returns 0 (no noise, no privacy).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `scale > 2^48`.
    pub fn new(scale: Rational) -> Result<Self> {
        if !scale.le_u64(1 << 48) {
            return Err(Error::InvalidParameter);
        }
        let r = scale.reduced();
        let Some(u) = NonZeroU64::new(r.den()) else {
            return Err(Error::InvalidParameter);
        };
        let t = r.num();
        Ok(DiscreteLaplace {
            scale,
            t,
            u,
            two_t: t.checked_mul(2).and_then(NonZeroU64::new),
            batch: Exp1Batch::new(t),
        })
    }

    /// The scale, as passed to [`DiscreteLaplace::new`].
    pub fn scale(&self) -> Rational {
        self.scale
    }

    /// One sample.
    ///
    /// # Errors
    /// [`Error::Rng`] if the RNG fails (no value is returned after a failed draw);
    /// [`Error::SampleOverflow`] if `|x| > i64::MAX` (probability < 2^−47000, see the type
    /// docs).
    pub fn sample<R: TryRng + ?Sized>(&self, rng: &mut R) -> Result<i64> {
        if self.t == 0 {
            return Ok(0);
        }
        loop {
            let (x, negative) = self.geometric(rng)?;
            let y = self.div_u(x);
            if negative && y == 0 {
                continue;
            }
            let y = i64::try_from(y).map_err(|_| Error::SampleOverflow)?;
            return Ok(if negative { -y } else { y });
        }
    }

    /// Steps 1–2: `X` with `P[X = x] ∝ e^{−x/t}`, and an independent fair sign.
    #[inline]
    fn geometric<R: TryRng + ?Sized>(&self, rng: &mut R) -> Result<(u128, bool)> {
        let (u, negative) = loop {
            let (u, negative) = self.draw_u_and_sign(rng)?;
            if self.exp_minus_u_over_t(rng, u)? {
                break (u, negative);
            }
        };
        let v = geometric_exp_minus_one(rng)?;
        // u < t < 2^64 and t·v ≤ (2^64 − 1)^2 = 2^128 − 2^65 + 1, so the sum is < 2^128.
        Ok((u128::from(u) + u128::from(self.t) * u128::from(v), negative))
    }

    /// `U` uniform in `[0, t)` and a fair sign bit, from one draw below `2t` when possible.
    #[inline]
    fn draw_u_and_sign<R: TryRng + ?Sized>(&self, rng: &mut R) -> Result<(u64, bool)> {
        match self.two_t {
            Some(two_t) => {
                let w = uniform_below_u64(rng, two_t)?;
                Ok((w >> 1, w & 1 == 1))
            }
            None => {
                // t > 2^63: separate draws (t ≥ 1 here, so the NonZero holds).
                let Some(t) = NonZeroU64::new(self.t) else {
                    return Err(Error::InvalidParameter);
                };
                let u = uniform_below_u64(rng, t)?;
                Ok((u, next_word(rng)? & 1 == 1))
            }
        }
    }

    /// Bernoulli(exp(−U/t)) for `U < t` (CKS20 Algorithm 1, first `m` trials batched).
    #[inline]
    fn exp_minus_u_over_t<R: TryRng + ?Sized>(&self, rng: &mut R, u: u64) -> Result<bool> {
        if u == 0 {
            return Ok(true);
        }
        let b = &self.batch;
        if b.m == 0 {
            return exp1_from(rng, u128::from(u), u128::from(self.t), 1);
        }
        let Some(d) = NonZeroU64::new(b.d) else {
            return Err(Error::InvalidParameter);
        };
        let w = uniform_below_u64(rng, d)?;
        let mut u_pow = 1u64;
        for (k, &c) in (1..=b.m).zip(b.coef.iter()) {
            // u^k ≤ t^k and u^k·c ≤ t^k·t^{m−k}·m!/k! ≤ d < 2^64: no overflow.
            u_pow *= u;
            if w >= u_pow * c {
                return Ok(k & 1 == 1);
            }
        }
        exp1_from(rng, u128::from(u), u128::from(self.t), b.m + 1)
    }

    /// `⌊x / u⌋`, in `u64` when `x` fits (the common case) to avoid a 128-bit division.
    #[inline]
    fn div_u(&self, x: u128) -> u128 {
        let u = self.u.get();
        if u == 1 {
            return x;
        }
        match u64::try_from(x) {
            Ok(x) => u128::from(x / self.u),
            Err(_) => x / NonZeroU128::from(self.u),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samplers::testutil::{Reference, TestRng, check_rng_failures, check_samples};

    /// Exact pmf quantities of the discrete Laplace with scale `s` (as f64).
    fn reference_for(s: f64) -> (impl Fn(i64) -> f64, f64, f64, i64) {
        let p = (-1.0 / s).exp();
        let one_minus_p = -(-1.0 / s).exp_m1();
        let cdf = move |x: i64| {
            if x >= 0 {
                1.0 - (-((x as f64) + 1.0) / s).exp() / (1.0 + p)
            } else {
                (-(-(x as f64)) / s).exp() / (1.0 + p)
            }
        };
        let var = 2.0 * p / (one_minus_p * one_minus_p);
        let mu4 = 2.0 * p * (1.0 + 11.0 * p + 11.0 * p * p + p * p * p)
            / ((1.0 + p) * one_minus_p.powi(4));
        let window = (40.0 * s).ceil() as i64 + 40;
        (cdf, var, mu4, window)
    }

    fn check_scale(num: u64, den: u64, n: usize, seed: u64) {
        let lap = DiscreteLaplace::new(Rational::new(num, den).unwrap()).unwrap();
        let mut rng = TestRng::seeded(seed);
        let mut xs: Vec<i64> = (0..n).map(|_| lap.sample(&mut rng).unwrap()).collect();
        let (cdf, var, mu4, window) = reference_for(num as f64 / den as f64);
        let name = format!("Laplace {num}/{den}");
        let r = Reference {
            name: &name,
            cdf: &cdf,
            var,
            mu4,
            window,
        };
        check_samples(&mut xs, &r);
    }

    #[test]
    fn shape_scale_half() {
        check_scale(1, 2, 200_000, 10);
    }
    #[test]
    fn shape_scale_1() {
        check_scale(1, 1, 200_000, 11);
    }
    #[test]
    fn shape_scale_3() {
        check_scale(3, 1, 200_000, 12);
    }
    #[test]
    fn shape_scale_10() {
        check_scale(10, 1, 200_000, 13);
    }
    #[test]
    fn shape_scale_1e3() {
        check_scale(1000, 1, 200_000, 14);
    }
    #[test]
    fn shape_scale_1e6() {
        check_scale(1_000_000, 1, 200_000, 15);
    }
    /// Non-integer scales: a reduced fraction, an unreduced one, and a large scale with a
    /// large denominator (exercises `⌊X/u⌋` with `u > 1`).
    #[test]
    fn shape_rational_scales() {
        check_scale(5, 2, 100_000, 16);
        check_scale(20, 6, 100_000, 17);
        check_scale(14_142_135_623, 10_000, 100_000, 18);
    }
    /// Scales where `exp(−U/t)` cannot be batched (`t^2·2 > 2^64`) and the top of the range.
    #[test]
    fn shape_large_scales() {
        check_scale(5_000_000_000, 1, 50_000, 19);
        check_scale(1 << 48, 1, 50_000, 20);
        check_scale(u64::MAX, 1 << 16, 50_000, 21); // t > 2^63: separate sign draw
    }

    #[test]
    fn batch_constants() {
        let b = Exp1Batch::new(1_000_000);
        assert_eq!(b.m, 3);
        assert_eq!(b.d, 6 * 1_000_000u64.pow(3));
        assert_eq!(&b.coef[..3], &[6 * 1_000_000u64.pow(2), 3 * 1_000_000, 1]);
        assert_eq!(Exp1Batch::new(1).m, 0);
        assert_eq!(Exp1Batch::new(1 << 33).m, 0);
        let b = Exp1Batch::new(3);
        assert_eq!(b.m, 8);
        assert_eq!(b.d, 3u64.pow(8) * 40_320);
        // coef[k−1] = 3^{8−k}·8!/k!
        for k in 1..=8u64 {
            let want = 3u64.pow((8 - k) as u32) * (k + 1..=8).product::<u64>();
            assert_eq!(b.coef[(k - 1) as usize], want, "k = {k}");
        }
    }

    /// The batched Bernoulli(exp(−U/t)) against exact values, at several `U` per `t`.
    #[test]
    fn batched_exp_trial_wilson() {
        use crate::samplers::testutil::wilson_contains;
        for (t, us) in [
            (3u64, &[1u64, 2][..]),
            (1_000_000, &[1, 333_333, 999_999][..]),
        ] {
            let lap = DiscreteLaplace::new(Rational::integer(t)).unwrap();
            let mut rng = TestRng::seeded(t);
            for &u in us {
                let n = 100_000;
                let hits = (0..n)
                    .filter(|_| lap.exp_minus_u_over_t(&mut rng, u).unwrap())
                    .count() as u64;
                let p = (-(u as f64) / t as f64).exp();
                assert!(wilson_contains(hits, n, p), "t {t}, u {u}: {hits} vs {p}");
            }
        }
    }

    #[test]
    fn zero_and_tiny_scales() {
        let mut rng = TestRng::seeded(30);
        let zero = DiscreteLaplace::new(Rational::new(0, 5).unwrap()).unwrap();
        // Scale 2^-10: P[X ≠ 0] = 2e^{-1024}/(1+e^{-1024}) = 0 in practice.
        let tiny = DiscreteLaplace::new(Rational::new(1, 1024).unwrap()).unwrap();
        for _ in 0..10_000 {
            assert_eq!(zero.sample(&mut rng), Ok(0));
            assert_eq!(tiny.sample(&mut rng), Ok(0));
        }
        // Scale 0 draws nothing: a failing RNG still gives 0.
        let mut bad = crate::samplers::testutil::FailAt::new(TestRng::seeded(1), 1, true);
        assert_eq!(zero.sample(&mut bad), Ok(0));
    }

    #[test]
    fn parameters() {
        let max = DiscreteLaplace::MAX_SCALE;
        assert!(DiscreteLaplace::new(max).is_ok());
        assert_eq!(
            DiscreteLaplace::new(Rational::integer((1 << 48) + 1)),
            Err(Error::InvalidParameter)
        );
        assert_eq!(
            DiscreteLaplace::new(Rational::new(u64::MAX, 65_535).unwrap()),
            Err(Error::InvalidParameter)
        );
        let s = Rational::new(6, 4).unwrap();
        assert_eq!(DiscreteLaplace::new(s).unwrap().scale(), s);
        // Same distribution and same stream for equal values in different forms.
        let a = DiscreteLaplace::new(Rational::new(3, 2).unwrap()).unwrap();
        let b = DiscreteLaplace::new(s).unwrap();
        let (mut ra, mut rb) = (TestRng::seeded(7), TestRng::seeded(7));
        for _ in 0..100 {
            assert_eq!(a.sample(&mut ra), b.sample(&mut rb));
        }
    }

    #[test]
    fn rng_failure_is_propagated() {
        for (num, den) in [
            (1u64, 2u64),
            (1, 1),
            (3, 1),
            (1_000_000, 1),
            (5_000_000_000, 1),
        ] {
            let lap = DiscreteLaplace::new(Rational::new(num, den).unwrap()).unwrap();
            check_rng_failures(|rng| lap.sample(rng));
        }
        let lap = DiscreteLaplace::new(Rational::new(u64::MAX, 1 << 16).unwrap()).unwrap();
        check_rng_failures(|rng| lap.sample(rng));
    }
}
