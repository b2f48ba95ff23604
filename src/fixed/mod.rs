//! Fixed-point formats and the few integer primitives the mechanism needs.
//!
//! | format | storage | value | range | resolution | used for |
//! |---|---|---|---|---|---|
//! | [`Q30`] | `i32` | raw · 2⁻³⁰ | [−2, 2) | 9.3e-10 | unit-ball coordinates, normalised features ψ |
//! | accumulator | `i64` | raw · 2^-F_noise | plan-chosen | 2^-F_noise | exact sums of payloads before noise |
//! | image word | `i32` | raw · 2^-F_store | plan-chosen | 2^-F_store | noised aggregate, stored in the image |
//! | query feature | `i32` | raw · 2^-F_query | [−1, 1] | 2^-F_query | ψ(q̂) in the query dot products |
//!
//! The plan chooses `F_noise`, `F_store` and `F_query` from public parameters only, so that
//! no intermediate can overflow for any input within the bounds (each choice carries its
//! proof in `mechanism::plan`). The primitives here still saturate instead of wrapping, so
//! that a violated proof would show up as a clamped value and never as undefined behaviour
//! or a panic.
//!
//! # Rounding
//! Every primitive names its rounding direction: [`round_shr`] rounds to nearest (ties away
//! from zero, error ≤ ½ unit), [`trunc_shr`] rounds toward zero (never increases a
//! magnitude, which is what norm bounds need).

mod q30;

pub use q30::Q30;

/// Arithmetic shift right by `sh` bits, rounding to nearest with ties away from zero.
///
/// # Scaling and overflow
/// Input raw·2^-F, output raw·2^-(F-sh). |error| ≤ 2^(sh-1) input units (½ output unit).
/// Never overflows: the magnitude is handled in `u64`, where `|x| + 2^(sh-1)` ≤ 2^63 + 2^62
/// fits. `sh ≥ 64` returns 0 (every representable value rounds to 0 at that scale except
/// exactly representable halves, which cannot occur).
#[inline]
pub const fn round_shr(x: i64, sh: u32) -> i64 {
    if sh == 0 {
        return x;
    }
    if sh >= 64 {
        return 0;
    }
    let neg = x < 0;
    let m = x.unsigned_abs();
    let half = 1u64 << (sh - 1);
    // m ≤ 2^63 and half ≤ 2^62, so the sum fits in u64; after the shift by ≥ 1 the result
    // is ≤ 2^62 + 2^61 and fits in i64.
    let r = ((m as u128 + half as u128) >> sh) as u64;
    let r = r as i64;
    if neg { -r } else { r }
}

/// Arithmetic shift right by `sh` bits, rounding toward zero (|result| never exceeds the
/// exact value: safe for norm bounds).
///
/// # Scaling and overflow
/// Input raw·2^-F, output raw·2^-(F-sh); |error| < 1 output unit; cannot overflow.
#[inline]
pub const fn trunc_shr(x: i64, sh: u32) -> i64 {
    if sh >= 64 {
        return 0;
    }
    let neg = x < 0;
    let m = x.unsigned_abs() >> sh;
    // m ≤ 2^63 >> sh; for sh = 0 and x = i64::MIN, m = 2^63 which does not fit: saturate.
    let r = if m > i64::MAX as u64 {
        i64::MAX
    } else {
        m as i64
    };
    if neg { -r } else { r }
}

/// Arithmetic shift right by `sh` bits, rounding to nearest with ties toward +∞:
/// `(x + 2^(sh−1)) >> sh`. Branch-free for `sh ≥ 1`, for hot loops.
///
/// # Scaling and overflow
/// Input raw·2^-F, output raw·2^-(F-sh); |error| ≤ ½ output unit. The caller guarantees
/// |x| ≤ 2⁶² so the addition cannot overflow (saturating add as a backstop). `sh` is
/// clamped to 1..=63.
#[inline(always)]
pub const fn round_shr_fast(x: i64, sh: u32) -> i64 {
    let sh = if sh == 0 {
        1
    } else if sh > 63 {
        63
    } else {
        sh
    };
    x.saturating_add(1i64 << (sh - 1)) >> sh
}

/// Whether f32 arithmetic is done in hardware here: every non-ARM target the crate is
/// tested on, and ARM with the hard-float ABI (an FPU, e.g. Cortex-M4F/M7F). Some f64
/// computations are skipped when a cheap f32 test proves their outcome (see
/// `Rows::surely_inside` and `query::surely_inside`); with software f32 (Cortex-M0/M3) the
/// test costs about 1 KB of f32 routines and as many instructions as it saves, so there it
/// is compiled out. Either way the results are the same bits.
pub(crate) const F32_IN_HARDWARE: bool = cfg!(any(not(target_arch = "arm"), target_abi = "eabihf"));

/// The exact product `a·b` of two `i32` as `i64` (it always fits: |a·b| ≤ 2⁶²).
///
/// On cores with a 32×32→64 multiplier (Cortex-M3/M4/M7, every 64-bit host) this is one
/// `SMULL`. Thumb-1-only cores (ARMv6-M: Cortex-M0/M0+/M1, recognised by their lack of
/// 32-bit atomic read-modify-write) have only a 32×32→32 `MULS`, and the compiler would
/// call the general 64×64 multiply `__aeabi_lmul`; there the product is assembled from
/// four 16×16 partial products instead, about half the instructions. Both give the same
/// exact value.
#[inline(always)]
pub const fn mul_i32_wide(a: i32, b: i32) -> i64 {
    #[cfg(all(target_arch = "arm", not(target_has_atomic = "32")))]
    {
        mul_split16(a, b)
    }
    #[cfg(not(all(target_arch = "arm", not(target_has_atomic = "32"))))]
    {
        a as i64 * b as i64
    }
}

/// The exact product `a·b` of two `u32` as `u64`: one `UMULL` where the core has it,
/// 16-bit halves on Thumb-1-only cores (see [`mul_i32_wide`]).
#[inline(always)]
pub const fn mul_u32_wide(a: u32, b: u32) -> u64 {
    #[cfg(all(target_arch = "arm", not(target_has_atomic = "32")))]
    {
        mul_split16_u(a, b)
    }
    #[cfg(not(all(target_arch = "arm", not(target_has_atomic = "32"))))]
    {
        a as u64 * b as u64
    }
}

/// `a·b` (unsigned) from 16-bit halves with 32×32→32 multiplies only.
#[inline(always)]
#[cfg_attr(
    not(any(test, all(target_arch = "arm", not(target_has_atomic = "32")))),
    allow(dead_code)
)]
const fn mul_split16_u(a: u32, b: u32) -> u64 {
    let (ah, al) = (a >> 16, a & 0xffff);
    let (bh, bl) = (b >> 16, b & 0xffff);
    // Every partial product of two 16-bit halves is < 2³²; the middle sum < 2³³ is formed
    // in u64; the exact total is < 2⁶⁴.
    let hh = (ah * bh) as u64;
    let mid = (ah * bl) as u64 + (al * bh) as u64;
    let ll = (al * bl) as u64;
    (hh << 32) + (mid << 16) + ll
}

/// `a·b` from 16-bit halves with 32×32→32 multiplies only (see [`mul_i32_wide`]).
#[inline(always)]
#[cfg_attr(
    not(any(test, all(target_arch = "arm", not(target_has_atomic = "32")))),
    allow(dead_code)
)]
const fn mul_split16(a: i32, b: i32) -> i64 {
    // a = ah·2¹⁶ + al and b = bh·2¹⁶ + bl with ah, bh ∈ [−2¹⁵, 2¹⁵) and al, bl ∈ [0, 2¹⁶).
    let (ah, al) = (a >> 16, a & 0xffff);
    let (bh, bl) = (b >> 16, b & 0xffff);
    // |ah·bh| ≤ 2³⁰; ah·bl and al·bh ∈ [−2³¹ + 2¹⁵, 2³¹); al·bl < 2³² (as u32): no partial
    // product overflows.
    let hh = (ah * bh) as i64;
    let mid = (ah * bl) as i64 + (al * bh) as i64;
    let ll = ((al as u32) * (bl as u32)) as i64;
    // The exact sum fits i64, so these shifts and adds cannot overflow.
    (hh << 32) + (mid << 16) + ll
}

/// Clamp an `i64` into `i32` (saturating).
#[inline]
pub const fn sat_i32(x: i64) -> i32 {
    if x > i32::MAX as i64 {
        i32::MAX
    } else if x < i32::MIN as i64 {
        i32::MIN
    } else {
        x as i32
    }
}

/// `a · b >> sh` rounded to nearest, with the product formed in `i128` so it cannot
/// overflow; the result saturates to `i64`.
///
/// # Scaling and overflow
/// Formats add: (Fa + Fb − sh) fraction bits out. |error| ≤ ½ output unit.
#[inline]
pub fn mul_round(a: i64, b: i64, sh: u32) -> i64 {
    let p = i128::from(a) * i128::from(b);
    let neg = p < 0;
    let m = p.unsigned_abs();
    let r = if sh == 0 {
        m
    } else if sh >= 128 {
        0
    } else {
        (m >> sh) + ((m >> (sh - 1)) & 1)
    };
    let r = if r > i64::MAX as u128 {
        i64::MAX
    } else {
        r as i64
    };
    if neg { -r } else { r }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_shr_is_nearest_ties_away() {
        let cases: &[(i64, u32, i64)] = &[
            (5, 1, 3),
            (-5, 1, -3),
            (4, 1, 2),
            (7, 2, 2),
            (6, 2, 2),
            (-6, 2, -2),
            (5, 2, 1),
            (i64::MAX, 1, 1 << 62),
            (i64::MIN, 1, -(1 << 62)),
            (i64::MIN, 63, -1),
            (123, 0, 123),
            (123, 64, 0),
        ];
        for &(x, sh, want) in cases {
            assert_eq!(round_shr(x, sh), want, "round_shr({x}, {sh})");
        }
    }

    #[test]
    fn round_shr_error_is_at_most_half_unit() {
        for x in -1000i64..1000 {
            for sh in 1..6u32 {
                let exact = x as f64 / f64::from(1u32 << sh);
                let got = round_shr(x, sh) as f64;
                assert!((got - exact).abs() <= 0.5, "{x} >> {sh}");
            }
        }
    }

    #[test]
    fn trunc_shr_never_grows_magnitude() {
        for x in -1000i64..1000 {
            for sh in 0..6u32 {
                let got = trunc_shr(x, sh);
                assert!(got.unsigned_abs() << sh <= x.unsigned_abs());
                assert!((x.unsigned_abs() >> sh) == got.unsigned_abs());
            }
        }
        assert_eq!(trunc_shr(i64::MIN, 0), -i64::MAX);
    }

    #[test]
    fn mul_round_matches_exact() {
        assert_eq!(mul_round(3, 5, 1), 8);
        assert_eq!(mul_round(-3, 5, 1), -8);
        assert_eq!(mul_round(1 << 30, 1 << 30, 30), 1 << 30);
        assert_eq!(mul_round(i64::MAX, i64::MAX, 0), i64::MAX);
        assert_eq!(mul_round(i64::MIN, i64::MAX, 0), -i64::MAX);
    }

    #[test]
    fn mul_i32_wide_is_exact() {
        let edge = [
            0,
            1,
            -1,
            0xffff,
            0x10000,
            -0x10000,
            i32::MAX,
            i32::MIN,
            0x7fff_0001,
        ];
        let mut x = 0x1234_5678_9abc_def0u64;
        let mut vals = edge.to_vec();
        for _ in 0..2000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            vals.push((x >> 32) as i32);
        }
        for &a in &vals {
            for &b in vals.iter().step_by(7) {
                let want = i64::from(a) * i64::from(b);
                assert_eq!(mul_i32_wide(a, b), want, "{a}·{b}");
                assert_eq!(mul_split16(a, b), want, "{a}·{b}");
                let (ua, ub) = (a as u32, b as u32);
                let uwant = u64::from(ua) * u64::from(ub);
                assert_eq!(mul_u32_wide(ua, ub), uwant, "{ua}·{ub}");
                assert_eq!(mul_split16_u(ua, ub), uwant, "{ua}·{ub}");
            }
        }
    }

    #[test]
    fn sat_i32_clamps() {
        assert_eq!(sat_i32(1 << 40), i32::MAX);
        assert_eq!(sat_i32(-(1 << 40)), i32::MIN);
        assert_eq!(sat_i32(-7), -7);
    }
}
