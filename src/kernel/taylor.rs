//! The truncated exponential P_s(t) = Σ_{j≤s} t^j / j! and its rigorous error numbers.
//!
//! These are planning numbers (f64 via libm). Each function states which way it rounds:
//! [`rel_err`] rounds **up** (it enters the error bounds), [`min_on`] rounds **down** (it is
//! the denominator floor), [`eval_upper`] rounds **up** (it is ‖φ‖², which normalises the
//! features; a larger value only shrinks them).

/// Relative rounding margin applied to every planning number: 2⁻⁴⁰ ≈ 9e-13, far above the
/// accumulated error of the few dozen correctly rounded (or ≤ 1 ulp, libm) f64 operations
/// each function performs (≤ 64 · 2⁻⁵³ ≈ 7e-15).
const MARGIN: f64 = 1.0 / 1_099_511_627_776.0;

/// P_s(t) in f64 together with Σ_j |t|^j / j! (the scale of its rounding error).
fn eval_with_scale(s: u32, t: f64) -> (f64, f64) {
    let mut term = 1.0f64;
    let mut sum = 1.0f64;
    let mut abs_sum = 1.0f64;
    let mut j = 1u32;
    while j <= s {
        term = term * t / f64::from(j);
        sum += term;
        abs_sum += libm::fabs(term);
        j += 1;
    }
    (sum, abs_sum)
}

/// P_s(t), rounded up: the f64 value plus a bound on its accumulated rounding error.
pub fn eval_upper(s: u32, t: f64) -> f64 {
    let (v, scale) = eval_with_scale(s, t);
    v + scale * MARGIN
}

/// P_s(t), rounded down.
pub fn eval_lower(s: u32, t: f64) -> f64 {
    let (v, scale) = eval_with_scale(s, t);
    v - scale * MARGIN
}

/// ε_s(s, B) = max_{|t| ≤ B} |P_s(t)·e^{−t} − 1| for even s, rounded up.
///
/// For even s the Taylor remainder e^ξ t^{s+1}/(s+1)! is negative for t < 0 and positive
/// for t > 0, so P_s(t)e^{−t} − 1 is ≥ 0 on [−B, 0] and ≤ 0 on [0, B]; on each side its
/// magnitude is monotone in |t| (the derivative of P_s(t)e^{−t} is −e^{−t}t^s/s!, one sign
/// on each side). The maximum is therefore at t = −B or t = B; both are evaluated and the
/// larger is returned with the rounding margin added.
pub fn rel_err(s: u32, b: f64) -> f64 {
    let left = eval_upper(s, -b) * libm::exp(b) * (1.0 + MARGIN) - 1.0;
    let right = 1.0 - eval_lower(s, b) * libm::exp(-b) * (1.0 - MARGIN);
    let m = if left > right { left } else { right };
    if m < 0.0 { 0.0 } else { m + MARGIN }
}

/// min_{|t| ≤ B} P_s(t) for even s ≥ 2, rounded down (always > 0).
///
/// P_s' = P_{s−1}, and a truncated exponential of odd degree has exactly one real root
/// t* < 0 (of even degree, none). So P_s decreases before t* and increases after, with
/// P_s(t*) = P_{s−1}(t*) + t*^s/s! = t*^s/s!. So the minimum on
/// [−B, B] is P_s(−B) if −B ≥ t*, else t*^s/s!. t* is bracketed by bisection in
/// [−2s−2, 0]; the bracket end closer to 0 gives the smaller |t|^s/s!, a lower bound.
pub fn min_on(s: u32, b: f64) -> f64 {
    let (mut lo, mut hi) = (-(2.0 * f64::from(s) + 2.0), 0.0f64);
    // P_{s−1}(lo) < 0 < P_{s−1}(hi); 80 halvings shrink the bracket below f64 resolution.
    for _ in 0..80 {
        let mid = 0.5 * (lo + hi);
        if eval_with_scale(s - 1, mid).0 < 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    if -b >= hi {
        eval_lower(s, -b)
    } else {
        // |hi| ≤ |t*|, and t ↦ |t|^s/s! is increasing in |t|.
        let mut v = 1.0f64;
        let mut j = 1u32;
        while j <= s {
            v = v * libm::fabs(hi) / f64::from(j);
            j += 1;
        }
        v * (1.0 - MARGIN)
    }
}

/// The number of monomials of degree ≤ s in d variables, C(d+s, s), or `None` on overflow.
pub fn feature_count(d: u64, s: u32) -> Option<u64> {
    let mut r: u64 = 1;
    let mut i = 1u64;
    while i <= u64::from(s) {
        // r·(d+i)/i is exactly C(d+i, i): the division is exact at every step.
        r = div_exact(r.checked_mul(d.checked_add(i)?)?, i);
        i += 1;
    }
    Some(r)
}

/// x / i for an i ≥ 1 that divides x, without a division: x = i·q with i = 2ᵏ·o (o odd), so
/// (x >> k) = o·q and q = (x >> k)·o⁻¹ mod 2⁶⁴ exactly (q < 2⁶⁴). o⁻¹ mod 2⁶⁴ comes from
/// Newton's iteration y ← y·(2 − o·y), which doubles the correct low bits (o·o ≡ 1 mod 8
/// gives 3 to start; five steps give 96 ≥ 64). Why: a 32-bit core has no 64-bit divide, and
/// the library routine for it was the largest piece of code that opening an image linked.
const fn div_exact(x: u64, i: u64) -> u64 {
    let k = i.trailing_zeros();
    let o = i >> k;
    let mut y = o;
    let mut step = 0;
    while step < 5 {
        y = y.wrapping_mul(2u64.wrapping_sub(o.wrapping_mul(y)));
        step += 1;
    }
    (x >> k).wrapping_mul(y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rel_err_matches_direct_scan() {
        for &s in &[2u32, 4, 6, 8] {
            for &b in &[0.25, 0.5, 1.0, 2.0, 4.0] {
                let e = rel_err(s, b);
                let mut worst = 0.0f64;
                for k in 0..=2000 {
                    let t = -b + 2.0 * b * f64::from(k) / 2000.0;
                    let v = (eval_with_scale(s, t).0 * (-t).exp() - 1.0).abs();
                    worst = worst.max(v);
                }
                assert!(e >= worst, "s={s} b={b}: {e} < scanned {worst}");
                assert!(
                    e <= worst * (1.0 + 1e-9) + 1e-9,
                    "s={s} b={b}: {e} ≫ {worst}"
                );
            }
        }
        // s = 2, B = 1: attained at t = −1: (1 − 1 + 1/2)·e − 1.
        assert!((rel_err(2, 1.0) - (0.5 * 1f64.exp() - 1.0)).abs() < 1e-10);
    }

    #[test]
    fn min_is_a_lower_bound_and_tight() {
        for &s in &[2u32, 4, 6, 10] {
            for &b in &[0.3, 1.0, 2.5, 6.0] {
                let m = min_on(s, b);
                let mut scan = f64::INFINITY;
                for k in 0..=20000 {
                    let t = -b + 2.0 * b * f64::from(k) / 20000.0;
                    scan = scan.min(eval_with_scale(s, t).0);
                }
                assert!(m > 0.0 && m <= scan, "s={s} b={b}: {m} vs {scan}");
                assert!(m >= scan * (1.0 - 1e-6), "s={s} b={b}: {m} vs {scan}");
            }
        }
        assert!((min_on(2, 3.0) - 0.5).abs() < 1e-9);
    }

    #[test]
    fn exact_division_without_dividing() {
        for i in 1u64..200 {
            for q in [0u64, 1, 2, 3, 12345, 1 << 40, u64::MAX / i] {
                assert_eq!(div_exact(i * q, i), q, "{}/{i}", i * q);
            }
        }
    }

    #[test]
    fn feature_counts() {
        assert_eq!(feature_count(16, 2), Some(153));
        assert_eq!(feature_count(32, 2), Some(561));
        assert_eq!(feature_count(16, 4), Some(4845));
        assert_eq!(feature_count(3, 0), Some(1));
        assert_eq!(feature_count(u64::MAX, 2), None);
    }
}
