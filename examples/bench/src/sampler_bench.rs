//! Part A: our integer CKS20 samplers (caller RNG) against OpenDP's, side by side in one run.
//!
//! Both sides draw from exactly the same distributions: the discrete Gaussian N_Z(0, σ²) and
//! the discrete Laplace L_Z(0, b) with P[x] ∝ exp(−|x|/b), at σ = b = 10⁶. OpenDP is built
//! without `use-openssl`, so its randomness is rand 0.7 `thread_rng()` (ChaCha12 with
//! reseeding): its faster path, hence the harder baseline. Ours take the caller's RNG; the
//! contract row uses `ChaCha20Rng`, and ChaCha12/ChaCha8 show how much of our cost is the
//! RNG.
//!
//! Runs are interleaved (one run of every contender, then the next round) so that drift on
//! a shared machine hits all contenders alike; the figure is the median over runs.

use std::time::Duration;

use dashu::integer::{IBig, UBig};
use dashu::rational::RBig;
use dpxattn::samplers::{DiscreteGaussian, DiscreteLaplace, Rational};
use rand_chacha::rand_core::{SeedableRng, TryRng};
use rand_chacha::{ChaCha8Rng, ChaCha12Rng, ChaCha20Rng};

use crate::report::{Report, json_num};
use crate::timing::{Budget, median, throughput_run};

/// The σ (Gaussian) and scale b (Laplace) of the comparison.
pub const SCALE: u64 = 1_000_000;

/// Samples drawn per clock check.
const BATCH: u64 = 64;

/// Which distribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Discrete Gaussian N_Z(0, σ²).
    Gaussian,
    /// Discrete Laplace L_Z(0, b).
    Laplace,
}

impl Kind {
    /// The `sampler` value of the JSON row.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Gaussian => "discrete_gaussian",
            Kind::Laplace => "discrete_laplace",
        }
    }

    /// The exact standard deviation of the distribution at `scale`.
    ///
    /// Discrete Laplace: Var = 2e^{−1/b}/(1 − e^{−1/b})² (≈ 2b²). Discrete Gaussian: Var is
    /// σ² up to a relative error below e^{−2π²σ²}·(…), i.e. exactly σ² in f64 for σ ≥ 1
    /// (CKS20, Fact 18 / Cor. 9), which is all this sanity check needs.
    pub fn expected_sd(self, scale: f64) -> f64 {
        match self {
            Kind::Gaussian => scale,
            Kind::Laplace => {
                let e = (-1.0 / scale).exp();
                let one_minus_e = -(-1.0 / scale).exp_m1();
                (2.0 * e).sqrt() / one_minus_e
            }
        }
    }
}

/// Running sum and sum of squares of the samples, for the sanity check. Also acts as the
/// sink that keeps the samples alive.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    n: u64,
    sum: f64,
    sumsq: f64,
}

impl Stats {
    fn push(&mut self, x: i64) {
        let x = x as f64;
        self.n += 1;
        self.sum += x;
        self.sumsq += x * x;
    }
    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.n
    }
    /// Sample mean.
    pub fn mean(&self) -> f64 {
        self.sum / self.n as f64
    }
    /// Sample standard deviation (population form; n is in the hundreds of thousands).
    pub fn sd(&self) -> f64 {
        let m = self.mean();
        (self.sumsq / self.n as f64 - m * m).max(0.0).sqrt()
    }
    /// `Err` with a message when the samples do not look like the target distribution:
    /// sd off by more than 3% or |mean| above 6 standard errors. With ≥ 10⁵ samples the sd
    /// estimate's own error is ≈ 0.3% (Laplace, kurtosis 6), so a pass is expected at > 10
    /// standard errors and a wrong scale or a biased sampler is caught.
    pub fn check(&self, expected_sd: f64) -> Result<(), String> {
        if self.n < 1000 {
            return Err(format!("only {} samples", self.n));
        }
        let rel = self.sd() / expected_sd - 1.0;
        let se = expected_sd / (self.n as f64).sqrt();
        // Written so that a NaN fails too.
        if rel.abs().partial_cmp(&0.03) != Some(std::cmp::Ordering::Less) {
            return Err(format!(
                "sd {:.0} vs expected {:.0} ({:+.2}%)",
                self.sd(),
                expected_sd,
                rel * 100.0
            ));
        }
        if self.mean().abs().partial_cmp(&(6.0 * se)) != Some(std::cmp::Ordering::Less) {
            return Err(format!(
                "mean {:.1} is more than 6 standard errors ({:.1}) from 0",
                self.mean(),
                se
            ));
        }
        Ok(())
    }
}

/// Draws one batch of [`BATCH`] samples into the stats.
type DrawBatch = Box<dyn FnMut(&mut Stats) -> Result<(), String>>;

/// One thing being timed: a label, a batch closure and what it measured.
struct Contender {
    label: &'static str,
    draw: DrawBatch,
    stats: Stats,
    rates: Vec<f64>,
}

/// Our sampler for `kind`, built once like a caller would.
enum Ours {
    Gaussian(DiscreteGaussian),
    Laplace(DiscreteLaplace),
}

impl Ours {
    fn new(kind: Kind, scale: u64) -> Result<Ours, String> {
        let r = Rational::integer(scale);
        let err = |e: dpxattn::Error| format!("dpxattn sampler setup: {e:?}");
        Ok(match kind {
            Kind::Gaussian => Ours::Gaussian(DiscreteGaussian::new(r).map_err(err)?),
            Kind::Laplace => Ours::Laplace(DiscreteLaplace::new(r).map_err(err)?),
        })
    }
    #[inline]
    fn sample<R: TryRng + ?Sized>(&self, rng: &mut R) -> dpxattn::Result<i64> {
        match self {
            Ours::Gaussian(g) => g.sample(rng),
            Ours::Laplace(l) => l.sample(rng),
        }
    }
}

fn ours<R: TryRng + SeedableRng + 'static>(
    label: &'static str,
    kind: Kind,
    scale: u64,
    seed: u64,
) -> Result<Contender, String> {
    let sampler = Ours::new(kind, scale)?;
    let mut rng = R::seed_from_u64(seed);
    Ok(Contender {
        label,
        draw: Box::new(move |stats| {
            for _ in 0..BATCH {
                let x = sampler
                    .sample(&mut rng)
                    .map_err(|e| format!("dpxattn sample: {e:?}"))?;
                stats.push(x);
            }
            Ok(())
        }),
        stats: Stats::default(),
        rates: Vec::new(),
    })
}

fn opendp(kind: Kind, scale: u64) -> Contender {
    // Built once; OpenDP takes the scale by value, so each call clones it (as its own
    // measurement code does).
    let scale = RBig::from_parts(IBig::from(scale), UBig::ONE);
    Contender {
        label: "OpenDP 0.16 (rand 0.7 thread_rng)",
        draw: Box::new(move |stats| {
            for _ in 0..BATCH {
                let x = match kind {
                    Kind::Gaussian => {
                        opendp::traits::samplers::sample_discrete_gaussian(scale.clone())
                    }
                    Kind::Laplace => {
                        opendp::traits::samplers::sample_discrete_laplace(scale.clone())
                    }
                }
                .map_err(|e| format!("opendp sample: {e:?}"))?;
                stats.push(
                    i64::try_from(&x).map_err(|e| format!("opendp sample out of i64: {e:?}"))?,
                );
            }
            Ok(())
        }),
        stats: Stats::default(),
        rates: Vec::new(),
    }
}

/// Runs the comparison for both distributions and writes one row per distribution.
/// Returns `Err` if any contender fails or its samples fail the sanity check (after
/// printing everything).
pub fn run(budget: Budget, report: &mut Report) -> Result<(), String> {
    let mut failures = Vec::new();
    report.human(format_args!(
        "sampler_vs_opendp: scale {SCALE}, {} interleaved runs × {:.2} s ({}) per contender, median samples/s",
        budget.runs,
        budget.run_time.as_secs_f64(),
        crate::timing::CLOCK
    ));
    for (i, kind) in [Kind::Gaussian, Kind::Laplace].into_iter().enumerate() {
        let seed = 0x5EED_0000 + i as u64;
        // Index 0 is the contract's `ours_per_s` (ChaCha20), the last one is OpenDP.
        let mut cs = vec![
            ours::<ChaCha20Rng>("ours, ChaCha20Rng", kind, SCALE, seed)?,
            ours::<ChaCha12Rng>("ours, ChaCha12Rng", kind, SCALE, seed)?,
            ours::<ChaCha8Rng>("ours, ChaCha8Rng", kind, SCALE, seed)?,
            opendp(kind, SCALE),
        ];
        // Warm-up (thread_rng initialisation, caches, CPU frequency), not recorded.
        let warm = budget.run_time / 10;
        for c in &mut cs {
            let mut scratch = Stats::default();
            throughput_run(warm.max(Duration::from_millis(10)), BATCH, || {
                (c.draw)(&mut scratch)
            })?;
        }
        for _ in 0..budget.runs.max(1) {
            for c in &mut cs {
                let Contender {
                    draw, stats, rates, ..
                } = c;
                rates.push(throughput_run(budget.run_time, BATCH, || draw(stats))?);
            }
        }

        let expected = kind.expected_sd(SCALE as f64);
        report.human(format_args!(
            "  {} (expected sd {expected:.0})",
            kind.name()
        ));
        let mut med = Vec::new();
        for c in &mut cs {
            let lo = c.rates.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = c.rates.iter().copied().fold(0.0, f64::max);
            let m = median(&mut c.rates);
            med.push(m);
            let check = c.stats.check(expected);
            report.human(format_args!(
                "    {:<36} {:>11.0}/s  {:>7.3} µs/sample  (runs {:.0}–{:.0})  n={} mean {:+.0} sd {:.0} {}",
                c.label,
                m,
                1e6 / m,
                lo,
                hi,
                c.stats.count(),
                c.stats.mean(),
                c.stats.sd(),
                if check.is_ok() { "ok" } else { "FAILED" }
            ));
            if let Err(e) = check {
                failures.push(format!("{} / {}: {e}", kind.name(), c.label));
            }
        }
        let (ours20, ours12, ours8, od) = (med[0], med[1], med[2], med[3]);
        report.human(format_args!(
            "    speedup, ours ChaCha20 / OpenDP: {:.2}×",
            ours20 / od
        ));
        report.json(format_args!(
            "{{\"name\":\"sampler_vs_opendp\",\"sampler\":\"{}\",\"sigma\":{:e},\"ours_per_s\":{},\"opendp_per_s\":{},\"speedup\":{},\"rng\":\"chacha20\",\"ours_chacha12_per_s\":{},\"ours_chacha8_per_s\":{}}}",
            kind.name(),
            SCALE as f64,
            json_num(ours20, 0),
            json_num(od, 0),
            json_num(ours20 / od, 3),
            json_num(ours12, 0),
            json_num(ours8, 0),
        ));
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("sanity check failed: {}", failures.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn laplace_sd_formula() {
        // b = 1: Var = 2e^{-1}/(1-e^{-1})^2 = 1.8403…, from the pmf summed directly.
        let b = 1.0f64;
        let z: f64 = (-200..=200)
            .map(|x: i32| (-(x.abs() as f64) / b).exp())
            .sum();
        let var: f64 = (-200..=200)
            .map(|x: i32| (x as f64).powi(2) * (-(x.abs() as f64) / b).exp())
            .sum::<f64>()
            / z;
        assert!((Kind::Laplace.expected_sd(b) - var.sqrt()).abs() < 1e-12);
        // Large b: sd → √2·b.
        let r = Kind::Laplace.expected_sd(1e6) / (2f64.sqrt() * 1e6);
        assert!((r - 1.0).abs() < 1e-6, "{r}");
    }

    #[test]
    fn stats_check_rejects_wrong_scale() {
        let mut s = Stats::default();
        for i in 0..10_000i64 {
            s.push(if i % 2 == 0 { 100 } else { -100 });
        }
        assert!(s.check(100.0).is_ok());
        assert!(s.check(110.0).is_err());
        let mut biased = Stats::default();
        for i in 0..10_000i64 {
            biased.push(if i % 2 == 0 { 110 } else { -90 });
        }
        assert!(biased.check(100.0).is_err());
    }

    /// Both sides run and pass the sanity check on a short budget (the full comparison is
    /// the binary's job; this keeps `cargo test -p dpxattn-bench` honest about the wiring).
    #[test]
    fn both_sides_draw_the_right_distribution() {
        for kind in [Kind::Gaussian, Kind::Laplace] {
            for mut c in [
                ours::<ChaCha20Rng>("ours", kind, SCALE, 7).unwrap(),
                opendp(kind, SCALE),
            ] {
                for _ in 0..(64_000 / BATCH) {
                    (c.draw)(&mut c.stats).unwrap();
                }
                c.stats.check(kind.expected_sd(SCALE as f64)).unwrap();
            }
        }
    }
}
