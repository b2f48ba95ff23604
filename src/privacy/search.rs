//! Bracketing bisection that only ever returns a point at which the predicate was verified.
//!
//! The predicates are rigorous bounds ("the upper bound on δ at this σ is ≤ target"), so the
//! returned point carries the guarantee by itself: no monotonicity of the floating-point
//! evaluation is assumed for *safety*, only for the search to find the smallest such point.

/// Doubling/halving steps allowed while bracketing: 2¹¹⁰⁰ covers the whole `f64` range.
const MAX_BRACKET_STEPS: u32 = 1100;
/// Bisection steps allowed after bracketing (each halves the bracket).
const MAX_BISECT_STEPS: u32 = 200;
/// Bisection stops once the bracket is this narrow relative to its upper end: 2⁻⁴³.
pub(crate) const REL_TOL: f64 = 1.136_868_377_216_16e-13;

/// The smallest `x > 0` (to [`REL_TOL`]) with `pass(x)`, for a predicate that fails below
/// some threshold and passes above it. Starts at `start > 0`.
///
/// Returns a point where `pass` was evaluated and returned `true`, or `None` if no passing
/// point was found in the `f64` range.
pub(crate) fn smallest_passing(start: f64, pass: impl Fn(f64) -> bool) -> Option<f64> {
    let (mut lo, mut hi);
    if pass(start) {
        hi = start;
        lo = start;
        let mut steps = 0;
        loop {
            let next = lo * 0.5;
            if next <= 0.0 || steps >= MAX_BRACKET_STEPS {
                // Passes all the way down to the smallest scale: hi is verified.
                return Some(hi);
            }
            if pass(next) {
                hi = next;
                lo = next;
                steps += 1;
            } else {
                lo = next;
                break;
            }
        }
    } else {
        lo = start;
        hi = start;
        let mut steps = 0;
        loop {
            let next = hi * 2.0;
            if !next.is_finite() || steps >= MAX_BRACKET_STEPS {
                return None;
            }
            if pass(next) {
                hi = next;
                break;
            }
            lo = next;
            hi = next;
            steps += 1;
        }
    }
    // Invariant: pass(hi) was true, pass(lo) was false, lo < hi.
    for _ in 0..MAX_BISECT_STEPS {
        if hi - lo <= hi * REL_TOL {
            break;
        }
        let mid = lo + (hi - lo) * 0.5;
        if mid <= lo || mid >= hi {
            break;
        }
        if pass(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

/// The largest `x` in `[lo, hi]` (to [`REL_TOL`]) with `pass(x)`, given that `pass(lo)`
/// holds. Returns a point where `pass` was evaluated and returned `true` (or `lo`).
pub(crate) fn largest_passing(mut lo: f64, mut hi: f64, pass: impl Fn(f64) -> bool) -> f64 {
    if pass(hi) {
        return hi;
    }
    for _ in 0..MAX_BISECT_STEPS {
        if hi - lo <= hi * REL_TOL {
            break;
        }
        let mid = lo + (hi - lo) * 0.5;
        if mid <= lo || mid >= hi {
            break;
        }
        if pass(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_thresholds_from_both_sides() {
        let t = core::f64::consts::PI;
        for start in [1e-3, 1.0, 3.0, 4.0, 1e9] {
            let x = smallest_passing(start, |x| x >= t).unwrap();
            assert!(x >= t && x <= t * (1.0 + 2.0 * REL_TOL), "{start}: {x}");
        }
        assert_eq!(smallest_passing(1.0, |_| false), None);
        assert!(smallest_passing(1.0, |_| true).unwrap() < 1e-300);
        let y = largest_passing(0.0, 10.0, |x| x <= t);
        assert!(y <= t && y >= t * (1.0 - 2.0 * REL_TOL));
        assert_eq!(largest_passing(0.0, 10.0, |x| x <= 20.0), 10.0);
    }
}
