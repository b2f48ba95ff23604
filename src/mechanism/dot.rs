//! The query's inner loop: the dv + 1 exact dot products of ψ(q) with one node's columns.
//!
//! Every form here computes the same exact integer sums (wrapping i64 additions of exact
//! i32×i32 products; the plan keeps the true sums inside i64, and wrapping addition is
//! associative anyway), so which form runs never changes a single output bit: the golden
//! vectors are the same on every target and CPU. The forms differ only in speed:
//! - ARM ([`dot4`]): `LDRD`/`SMLAL` on Cortex-M3/M4, [`mul_wide`] on ARMv6-M;
//! - x86-64 with AVX2 (detected at run time, [`super::avx2`]): 4 columns at a time with
//!   `VPMULDQ`, ≈ 5× the scalar rate;
//! - elsewhere ([`dot_unrolled`]): four independent accumulators, which the compiler
//!   vectorises where the target has a widening multiply (e.g. AArch64 `SMLAL`).

/// `u[j] += Σ_α ψ_α·col_j[α]` for the columns `col_j = node[j·r .. (j+1)·r]`, j < `u.len()`
/// (a node holds `u.len()` columns of `r = psi.len()` words; missing words count as absent
/// terms, never as out-of-bounds reads).
#[inline]
pub(crate) fn accumulate(psi: &[i32], node: &[i32], u: &mut [i64]) {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::has_avx2() {
        super::avx2::accumulate(psi, node, u);
        return;
    }
    let r = psi.len();
    if r == 0 {
        return;
    }
    for (uj, col) in u.iter_mut().zip(node.chunks(r)) {
        *uj = uj.wrapping_add(dot(psi, col));
    }
}

/// One column, on ARM: see [`dot4`]. Not inlined: a standalone loop keeps its pointers in
/// registers (inlined into a caller whose scratch is a static, the compiler rematerialised
/// the constant address inside the loop, doubling its length).
#[cfg(target_arch = "arm")]
#[inline(never)]
fn dot(psi: &[i32], col: &[i32]) -> i64 {
    dot4(psi, col)
}

/// One column, off ARM: see [`dot_unrolled`].
#[cfg(not(target_arch = "arm"))]
#[inline]
fn dot(psi: &[i32], col: &[i32]) -> i64 {
    dot_unrolled(psi, col)
}

/// Σ ψ_α·w_α in i64: ψ has ≤ F_query bits and ‖ψ‖ ≤ 2^Fq, |w| < 2³¹, and the plan chose
/// F_query so that √r·2^Fq·2³¹ times the nodes of a range stays below 2⁶³ (so the
/// wrapping adds never wrap, and any order of summation gives the same exact sum).
///
/// Four terms per step through `[i32; 4]` views with one accumulator: on a Cortex-M3/M4
/// (opt-level "s") the loop is four `LDRD`, four `SMLAL` and the loop branch, 2.5
/// instructions per term. On ARMv6-M (no 32×32→64 multiplier) each product goes through
/// [`mul_wide`]. Compiled everywhere so that host tests check it.
#[cfg_attr(not(any(test, target_arch = "arm")), allow(dead_code))]
#[inline(always)]
fn dot4(psi: &[i32], col: &[i32]) -> i64 {
    let n = psi.len().min(col.len());
    let n4 = n - n % 4;
    // n4 ≤ n ≤ both lengths, so the splits always succeed; the checked form keeps the
    // (unreachable) panic path out of the C ABI (`.ci/harden.sh`).
    let (pa, pb) = psi.split_at_checked(n4).unwrap_or((&[], &[]));
    let (ca, cb) = col.split_at_checked(n4).unwrap_or((&[], &[]));
    let mut s = 0i64;
    // Both views are exact (length a multiple of 4, same alignment as i32), so the casts
    // cannot fail; an empty view would only drop terms, never read out of bounds.
    let p4 = bytemuck::try_cast_slice::<i32, [i32; 4]>(pa).unwrap_or(&[]);
    let c4 = bytemuck::try_cast_slice::<i32, [i32; 4]>(ca).unwrap_or(&[]);
    for (p, c) in p4.iter().zip(c4) {
        s = s
            .wrapping_add(mul_wide(p[0], i32::from_le(c[0])))
            .wrapping_add(mul_wide(p[1], i32::from_le(c[1])))
            .wrapping_add(mul_wide(p[2], i32::from_le(c[2])))
            .wrapping_add(mul_wide(p[3], i32::from_le(c[3])));
    }
    for (&p, &c) in pb.iter().zip(cb.iter()) {
        s = s.wrapping_add(mul_wide(p, i32::from_le(c)));
    }
    s
}

/// The exact product a·b as i64.
#[inline(always)]
fn mul_wide(a: i32, b: i32) -> i64 {
    crate::fixed::mul_i32_wide(a, b)
}

/// [`dot4`]'s sum unrolled by four with independent accumulators: on baseline x86-64 (no
/// signed 32×32→64 SIMD multiply before SSE4.1) it halves the time of the plain loop.
#[cfg_attr(target_arch = "arm", allow(dead_code))]
#[inline]
fn dot_unrolled(psi: &[i32], col: &[i32]) -> i64 {
    let n = psi.len().min(col.len());
    let (pa, pb) = psi.split_at_checked(n - n % 4).unwrap_or((&[], &[]));
    let (ca, cb) = col.split_at_checked(n - n % 4).unwrap_or((&[], &[]));
    let (mut s0, mut s1, mut s2, mut s3) = (0i64, 0i64, 0i64, 0i64);
    for (p, c) in pa.chunks_exact(4).zip(ca.chunks_exact(4)) {
        if let ([p0, p1, p2, p3], [c0, c1, c2, c3]) = (p, c) {
            s0 = s0.wrapping_add(mul_wide(*p0, i32::from_le(*c0)));
            s1 = s1.wrapping_add(mul_wide(*p1, i32::from_le(*c1)));
            s2 = s2.wrapping_add(mul_wide(*p2, i32::from_le(*c2)));
            s3 = s3.wrapping_add(mul_wide(*p3, i32::from_le(*c3)));
        }
    }
    for (&p, &c) in pb.iter().zip(cb.iter()) {
        s0 = s0.wrapping_add(mul_wide(p, i32::from_le(c)));
    }
    s0.wrapping_add(s1).wrapping_add(s2.wrapping_add(s3))
}

/// The definition every form must match: the plain wrapping sum, column by column.
#[cfg(test)]
pub(crate) fn reference(psi: &[i32], node: &[i32], u: &mut [i64]) {
    let r = psi.len();
    if r == 0 {
        return;
    }
    for (uj, col) in u.iter_mut().zip(node.chunks(r)) {
        let s = psi.iter().zip(col).fold(0i64, |s, (&a, &b)| {
            s.wrapping_add(i64::from(a) * i64::from(i32::from_le(b)))
        });
        *uj = uj.wrapping_add(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random words anywhere in i32, including the extremes, so that products and sums
    /// also wrap (all forms must still agree bit for bit).
    fn words(seed: &mut u64, n: usize, shift: u32) -> Vec<i32> {
        (0..n)
            .map(|i| {
                *seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                match (*seed >> 20) % 50 {
                    0 => i32::MIN,
                    1 => i32::MAX,
                    2 => 0,
                    _ => ((*seed >> 32) as i32 ^ i as i32) >> shift,
                }
            })
            .collect()
    }

    #[test]
    fn every_form_is_the_exact_sum() {
        let mut seed = 7u64;
        for r in [1usize, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 153, 561] {
            for cols in [1usize, 2, 3, 4, 5, 8, 33] {
                for shift in [0u32, 6] {
                    let psi = words(&mut seed, r, shift);
                    let node = words(&mut seed, r * cols, 0);
                    let init = words(&mut seed, cols, 0);
                    let mut want: Vec<i64> = init.iter().map(|&x| i64::from(x) << 20).collect();
                    let mut got = want.clone();
                    reference(&psi, &node, &mut want);
                    accumulate(&psi, &node, &mut got);
                    assert_eq!(got, want, "r = {r}, cols = {cols}");
                    for (j, col) in node.chunks(r).enumerate() {
                        let one = want[j].wrapping_sub(i64::from(init[j]) << 20);
                        assert_eq!(dot4(&psi, col), one, "dot4 r = {r}");
                        assert_eq!(dot_unrolled(&psi, col), one, "unrolled r = {r}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_short_node_drops_terms_and_reads_nothing_beyond() {
        let psi = [3i32; 9];
        let node = [2i32; 9 * 2 + 4]; // two full columns and a partial third
        let mut u = [0i64; 4];
        accumulate(&psi, &node, &mut u);
        assert_eq!(u, [54, 54, 24, 0]);
    }
}
