//! The timing harness: throughput runs and median-of-runs latency, with `black_box` kept by
//! the callers around every result so the optimiser cannot drop the work being timed.
//!
//! Time is the **CPU time of the calling thread** (`CLOCK_THREAD_CPUTIME_ID`) on Unix, and
//! wall time elsewhere. On an idle machine the two agree for this single-threaded,
//! I/O-free work; on a shared machine (this project's 2-vCPU box runs several builds at
//! once) CPU time does not count the intervals in which the thread was descheduled, which
//! wall time does, so medians stay comparable between runs. Cache and memory-bandwidth
//! contention from other processes is still counted.

use std::time::Duration;

/// A point in the harness's clock.
#[derive(Clone, Copy, Debug)]
pub struct Instant(Duration);

impl Instant {
    /// Now.
    pub fn now() -> Instant {
        Instant(now())
    }
    /// Time since `self`.
    pub fn elapsed(&self) -> Duration {
        now().saturating_sub(self.0)
    }
}

#[cfg(unix)]
fn now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call to fill.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    // A clock that does not advance would make the timing loops spin forever: stop instead.
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[cfg(not(unix))]
fn now() -> Duration {
    use std::sync::OnceLock;
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed()
}

/// Name of the clock, for the human report.
pub const CLOCK: &str = if cfg!(unix) {
    "thread CPU time"
} else {
    "wall time"
};

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

    /// Burns `d` of this clock (CPU time on Unix: a sleep would not count).
    fn spin(d: Duration) {
        let t = Instant::now();
        while t.elapsed() < d {
            std::hint::black_box(0u64);
        }
    }

    #[test]
    fn ns_per_call_measures_the_work() {
        let budget = Budget {
            runs: 3,
            run_time: Duration::from_millis(10),
        };
        let ns = ns_per_call::<(), ()>(budget, || {
            spin(Duration::from_micros(200));
            Ok(())
        })
        .unwrap();
        // At least the 200 µs burnt; the upper bound leaves room for clock-call overhead.
        assert!((2.0e5..2.0e6).contains(&ns), "{ns}");
    }

    #[test]
    fn throughput_counts_batches() {
        let mut calls = 0u64;
        let rate = throughput_run::<()>(Duration::from_millis(5), 10, || {
            calls += 1;
            spin(Duration::from_millis(1));
            Ok(())
        })
        .unwrap();
        // 10 samples per ≥ 1 ms batch: at most 10,000 samples/s; ≥ 5 batches in 5 ms.
        assert!(
            calls >= 5 && rate > 0.0 && rate <= 10_000.0,
            "{calls} {rate}"
        );
    }
}
