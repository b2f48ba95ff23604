//! Throughput of the exact samplers with ChaCha20 (rand_chacha 0.10).
//!
//! ```text
//! cargo run --release --example sampler_speed [seconds_per_case]
//! ```
//!
//! For each case: samples/s (median of 5 runs), 64-bit RNG words per sample, and the sample
//! standard deviation as a sanity check (Gaussian: ≈ σ; Laplace: ≈ √2·scale).

use std::hint::black_box;
use std::time::{Duration, Instant};

use dpxattn::samplers::{DiscreteGaussian, DiscreteLaplace, Rational};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{SeedableRng, TryRng};

/// Counts the 64-bit words drawn.
struct Counting<R> {
    inner: R,
    words: u64,
}

impl<R: TryRng> TryRng for Counting<R> {
    type Error = R::Error;
    fn try_next_u32(&mut self) -> Result<u32, R::Error> {
        self.words += 1;
        self.inner.try_next_u32()
    }
    fn try_next_u64(&mut self) -> Result<u64, R::Error> {
        self.words += 1;
        self.inner.try_next_u64()
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), R::Error> {
        self.words += dst.len().div_ceil(8) as u64;
        self.inner.try_fill_bytes(dst)
    }
}

/// Runs `f` in batches of 64 for about `secs` seconds; returns samples/s.
fn rate(secs: f64, rng: &mut ChaCha20Rng, f: &dyn Fn(&mut ChaCha20Rng) -> i64) -> f64 {
    let budget = Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..64 {
            black_box(f(rng));
        }
        n += 64;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn report(
    name: &str,
    secs: f64,
    f: &dyn Fn(&mut ChaCha20Rng) -> i64,
    g: &dyn Fn(&mut Counting<ChaCha20Rng>) -> i64,
) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let mut rates: Vec<f64> = (0..5).map(|_| rate(secs, &mut rng, f)).collect();
    rates.sort_by(f64::total_cmp);
    let median = rates[2];
    // Words per sample and sd from a separate counted run.
    let mut c = Counting {
        inner: ChaCha20Rng::seed_from_u64(2),
        words: 0,
    };
    let n = 200_000u64;
    let mut s2 = 0f64;
    for _ in 0..n {
        let x = g(&mut c) as f64;
        s2 += x * x;
    }
    println!(
        "{name:<34} {:>12.0} samples/s  ({:>6.1} ns)  {:>5.2} words/sample  sd {:.5e}  [runs: {}]",
        median,
        1e9 / median,
        c.words as f64 / n as f64,
        (s2 / n as f64).sqrt(),
        rates
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
}

fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let cases: [(&str, u64, u64); 4] = [
        ("1e6", 1_000_000, 1),
        ("1414213.5623", 14_142_135_623, 10_000),
        ("10", 10, 1),
        ("1e12", 1_000_000_000_000, 1),
    ];
    for (label, num, den) in cases {
        let s = Rational::new(num, den).expect("valid rational");
        let g = DiscreteGaussian::new(s).expect("supported sigma");
        report(
            &format!("discrete Gaussian sigma = {label}"),
            secs,
            &|r| g.sample(r).expect("sample"),
            &|r| g.sample(r).expect("sample"),
        );
        let l = DiscreteLaplace::new(s).expect("supported scale");
        report(
            &format!("discrete Laplace scale = {label}"),
            secs,
            &|r| l.sample(r).expect("sample"),
            &|r| l.sample(r).expect("sample"),
        );
    }
}
