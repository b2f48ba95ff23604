//! The timing harness: throughput runs and median-of-runs latency, with `black_box` kept by
//! the callers around every result so the optimiser cannot drop the work being timed.

use std::time::{Duration, Instant};

/// How many runs to do and how long each one lasts.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Number of timed runs; the reported figure is their median.
    pub runs: usize,
    /// Target wall time of one run.
    pub run_time: Duration,
}

/// Median of `v` (mean of the two middle values for an even count). `v` is sorted in place.
/// Returns NaN for an empty slice.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => 0.5 * (v[n / 2 - 1] + v[n / 2]),
    }
}

/// One throughput run: calls `batch()` (which draws `per_batch` samples) until `run_time`
/// has passed, and returns samples per second. Checking the clock once per batch keeps the
/// clock's cost out of the figure.
pub fn throughput_run<E>(
    run_time: Duration,
    per_batch: u64,
    mut batch: impl FnMut() -> Result<(), E>,
) -> Result<f64, E> {
    let start = Instant::now();
    let mut count = 0u64;
    loop {
        batch()?;
        count += per_batch;
        let elapsed = start.elapsed();
        if elapsed >= run_time {
            return Ok(count as f64 / elapsed.as_secs_f64());
        }
    }
}

/// Latency of `f` in nanoseconds per call: the median over `budget.runs` runs, each of a
/// fixed number of calls chosen (after a warm-up) so that one run lasts about
/// `budget.run_time`. Each call's result goes through `black_box`.
pub fn ns_per_call<T, E>(budget: Budget, mut f: impl FnMut() -> Result<T, E>) -> Result<f64, E> {
    // Warm-up and calibration: double the call count until a batch takes ≥ 1/8 of a run
    // (caches, page faults and branch predictors settle on the way).
    let target = budget.run_time.as_secs_f64();
    let mut iters = 1u64;
    let per_call = loop {
        let start = Instant::now();
        for _ in 0..iters {
            std::hint::black_box(f()?);
        }
        let t = start.elapsed().as_secs_f64();
        if t >= target / 8.0 || iters >= 1 << 40 {
            break t / iters as f64;
        }
        iters *= 2;
    };
    let iters = ((target / per_call.max(1e-12)).ceil() as u64).max(1);
    let mut results = Vec::with_capacity(budget.runs);
    for _ in 0..budget.runs.max(1) {
        let start = Instant::now();
        for _ in 0..iters {
            std::hint::black_box(f()?);
        }
        results.push(start.elapsed().as_secs_f64() * 1e9 / iters as f64);
    }
    Ok(median(&mut results))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_even_empty() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }

    #[test]
    fn ns_per_call_sees_a_sleep() {
        let budget = Budget {
            runs: 3,
            run_time: Duration::from_millis(20),
        };
        let ns = ns_per_call::<(), ()>(budget, || {
            std::thread::sleep(Duration::from_millis(2));
            Ok(())
        })
        .unwrap();
        // A 2 ms sleep takes at least 2 ms; the upper bound is loose for a busy machine.
        assert!((2.0e6..2.0e8).contains(&ns), "{ns}");
    }

    #[test]
    fn throughput_counts_batches() {
        let mut calls = 0u64;
        let rate = throughput_run::<()>(Duration::from_millis(5), 10, || {
            calls += 1;
            std::thread::sleep(Duration::from_millis(1));
            Ok(())
        })
        .unwrap();
        // 10 samples per ≥ 1 ms batch: at most 10,000 samples/s.
        assert!(
            calls >= 1 && rate > 0.0 && rate <= 10_000.0,
            "{calls} {rate}"
        );
    }
}
