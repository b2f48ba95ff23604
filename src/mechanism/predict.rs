//! Typical-case error prediction for planning: is DP attention worth it for this n and ε?
//!
//! [`Plan::bound`] answers "how bad can it get" (with probability ≥ 1 − β, for the worst
//! data inside the balls). Users choosing parameters also need "how bad will it typically
//! be", and whether the structure will beat the trivial private answer — the DP mean of the
//! values, which ignores the query (the *DP-uniform baseline*). [`Plan::predict`] gives
//! that estimate from public numbers only: no data, no RNG, no heap.
//!
//! **These are typical-case estimates, not bounds.** They model queries and keys as random
//! directions on the spheres of radius r_q and r_k (so ‖ψ(q̂)‖ = 1 and the score is
//! t = τ<q, k> ≈ B·z/√d with z ~ N(0, 1)), and the value radius as about the largest typical
//! value norm. On the bundled MiniLM data with keys centred on a public mean key and the
//! suggested score bound the measured noise is 0.83–1.01× the prediction (without centring
//! it was 1.23–1.32×: uncentred scores lean negative, so the real denominator was ≈ 0.8×
//! the modelled one); the kernel term is an upper-end estimate of the kernel's distance to
//! exp at the same B, far above the measured one at large B, and the verdict does not use
//! it. `examples/eval.rs` prints prediction and measurement side by side (README,
//! *Accuracy on real data*; `examples/plot.rs` for all sets).
//!
//! # The model (all lengths in units of `radius_v`)
//! A query reads U = ψ(q̂)ᵀS̃ (dv numerator coordinates and one denominator coordinate) and
//! outputs ô = r_v·γ·U_num / U_den (see `query`).
//! - **Noise of U.** Each coordinate is ψ(q̂)ᵀZ_col summed over the m nodes of the query's
//!   range, with std s_U = std(Z)·‖ψ(q̂)‖·√m = std(Z)·√m (std(Z) = σ for the discrete
//!   Gaussian, √2·b for the discrete Laplace).
//! - **Typical denominator.** D = Σ_i c_i·<ψ(q̂), ψ(k̂_i)>·γ/W ≈ n·c·E(P_s(t))/Φ²·γ/W, with
//!   c the typical contribution-clipping weight (C, assuming typical payloads are near the
//!   largest norm 1, or 1 without clipping); E(P_s(t)) ≈ P_s(0) = 1 for small B²/d.
//! - **DP noise.** To first order ô − o_kernel = (r_v·γ·Z_num − o·Z_den)/D, so the typical
//!   error norm is `dp_noise` = s_U·√(γ²·dv + 1)/D (the `+1` takes ‖o‖ ≈ r_v, an upper end).
//! - **Uniform noise.** The DP mean of n clipped values has L2 sensitivity 2·r_v/n (replace
//!   one row; ×√parts for `parts` releases over the same rows), so its Gaussian σ_u is the
//!   analytic Gaussian σ for that sensitivity and `uniform_noise` = σ_u·√dv/r_v (Laplace:
//!   L1 sensitivity 2·r_v·√dv/n, std √2·b per coordinate).
//! - **Kernel.** The polynomial kernel re-weights token i by m(t_i) = P_s(t_i)·e^{−t_i}; the
//!   output moves by Cov(m, v)/E(m) ≤ sd(m)/E(m)·sd(v) (Cauchy–Schwarz), so `kernel` is
//!   sd(m)/E(m) under the score model (an upper-end typical value; sd(v) ≤ r_v).
//!
//! None of this uses the private rows: everything comes from the [`Plan`] (public).

use super::params::NoiseKind;
use super::plan::Plan;
use crate::kernel::taylor;

/// A typical-case prediction of the output error of a structure and of the DP-uniform
/// baseline at the same budget, in units of `radius_v` (multiply by `radius_v` for value
/// units). See the [module documentation](self) for the model. **Not a bound**: use
/// [`Plan::bound`] for guarantees.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Prediction {
    /// Rows the prediction is for.
    pub rows: u32,
    /// Typical denominator D = n·c·ψ₀²·γ/W, in normalised payload units.
    pub denominator: f64,
    /// Std of the noise of each coordinate of ψ(q̂)ᵀS̃ for ‖ψ(q̂)‖ = 1 (normalised units).
    pub column_noise: f64,
    /// Typical ‖noise part of ô‖ / r_v of the structure (uncapped; above ≈ 0.5 the output is
    /// noise-dominated and the projection onto the r_v-ball caps the real error near 1).
    pub dp_noise: f64,
    /// Typical kernel (polynomial instead of exp) error / r_v; an order of magnitude.
    pub kernel: f64,
    /// Typical total error / r_v of the structure: √(dp_noise² + kernel²), capped at 1
    /// (a noise-dominated output projected onto the r_v-ball).
    pub dp: f64,
    /// σ of each coordinate of the DP-uniform baseline (the DP mean of the values) / r_v.
    pub uniform_sigma: f64,
    /// Typical ‖noise‖ / r_v of the DP-uniform baseline (σ_u·√dv, uncapped).
    pub uniform_noise: f64,
    /// Typical total error / r_v of the DP-uniform baseline *besides* its bias: its noise,
    /// capped at 1. Its full error is ≈ √(uniform² + signal²), where the signal
    /// ‖o − mean(v)‖ (how far attention is from the plain mean of the values) depends on
    /// the data.
    pub uniform: f64,
    /// The signal level (see [`Prediction::dp_beats_uniform`]) above which the structure
    /// is predicted to beat the DP-uniform baseline: √(max(min(dp_noise, 1)² − uniform²,
    /// 0)). 0 means it wins on noise alone; ≥ 1 means it practically never wins.
    pub break_even_signal: f64,
}

/// The planner's call: structure or DP-uniform baseline, with a margin for the typical-case
/// model's own error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Verdict {
    /// The structure is predicted to beat the baseline with room to spare.
    DpWins,
    /// Too close to call: within the model's error (see [`VERDICT_MARGIN`]).
    Marginal,
    /// The DP mean of the values is predicted to be at least as good: use it.
    UniformWins,
}

/// Factor by which the signal must clear the break-even level (or fall short of it) for a
/// clear [`Verdict`]. 1.3 covers the measured model error of the noise prediction on the
/// bundled MiniLM data (measured noise 0.83–1.01× predicted with centred keys, 1.23–1.32×
/// without; README, *Accuracy on real data*).
pub const VERDICT_MARGIN: f64 = 1.3;

impl Prediction {
    /// Whether the structure is predicted to beat the DP-uniform baseline for data on
    /// which the *noise-free* structure gains `signal`·r_v over the plain mean of the
    /// values: √(‖o − mean v‖² − ‖o − o_kernel‖²)/r_v, a property of the data and the
    /// public parameters (clipping and kernel included), which `examples/eval.rs` measures
    /// ("signal kept") — measure it on *public* text of your domain. The baseline then
    /// errs by ≈ √(uniform² + signal² + c²) and the structure by ≈ √(dp_noise² + c²),
    /// c the common part, so the structure wins iff dp_noise² < uniform² + signal²
    /// (both noises capped at 1, where the projection caps a noise-dominated output).
    pub fn dp_beats_uniform(&self, signal: f64) -> bool {
        let dn = self.dp_noise.min(1.0);
        dn * dn < self.uniform * self.uniform + signal * signal
    }

    /// [`Prediction::dp_beats_uniform`] with a safety margin: a clear call only when the
    /// signal is ≥ [`VERDICT_MARGIN`] × the break-even signal (or ≤ it / the margin).
    pub fn verdict(&self, signal: f64) -> Verdict {
        if self.break_even_signal <= 0.0 || signal >= VERDICT_MARGIN * self.break_even_signal {
            Verdict::DpWins
        } else if signal * VERDICT_MARGIN <= self.break_even_signal {
            Verdict::UniformWins
        } else {
            Verdict::Marginal
        }
    }
}

impl Plan {
    /// Typical-case error prediction for a structure holding `rows` rows and queries over
    /// all of them. Pure planning arithmetic (f64 via libm, no heap); see [`Prediction`].
    ///
    /// `rows == 0` is treated as 1.
    pub fn predict(&self, rows: u32) -> Prediction {
        let p = &self.params;
        let n = f64::from(rows.max(1));
        let dv = f64::from(p.dv);
        let m = self
            .shape
            .cover(0, self.shape.blocks_built(rows.max(1)))
            .count()
            .max(1) as f64;
        let std_z = match p.mechanism {
            NoiseKind::Gaussian => self.sigma(),
            NoiseKind::Laplace => self.sigma() * core::f64::consts::SQRT_2,
        };
        let column_noise = std_z * libm::sqrt(m);

        let q30 = (1u64 << 30) as f64;
        let g = f64::from(self.g) / q30; // γ/W
        let c = if self.clip_q > 0 {
            f64::from(self.clip_q) / q30
        } else {
            1.0
        };
        let (mean_k, kernel) = self.score_model();
        let denominator = n * c * mean_k * g;
        let gamma = self.value_factor();
        let dp_noise = if denominator > 0.0 {
            column_noise * libm::sqrt(gamma * gamma * dv + 1.0) / denominator
        } else {
            f64::INFINITY
        };
        let dp = libm::sqrt(dp_noise * dp_noise + kernel * kernel).min(1.0);

        let uniform_sigma = match p.mechanism {
            // `parts` releases over the same rows are one Gaussian mechanism with √parts
            // times the sensitivity (exact joint calibration, as the structure itself).
            NoiseKind::Gaussian => {
                crate::privacy::gaussian_sigma_for_parts(p.epsilon, p.delta, 2.0 / n, p.parts)
                    .unwrap_or(f64::INFINITY)
            }
            NoiseKind::Laplace => {
                let l1 = 2.0 * libm::sqrt(dv) * f64::from(p.parts.max(1)) / n;
                crate::privacy::laplace_scale(p.epsilon, l1).unwrap_or(f64::INFINITY)
                    * core::f64::consts::SQRT_2
            }
        };
        let uniform_noise = uniform_sigma * libm::sqrt(dv);
        let uniform = uniform_noise.min(1.0);
        let dn = dp_noise.min(1.0);
        let gap = dn * dn - uniform * uniform;
        Prediction {
            rows: rows.max(1),
            denominator,
            column_noise,
            dp_noise,
            kernel,
            dp,
            uniform_sigma,
            uniform_noise,
            uniform,
            break_even_signal: if gap > 0.0 { libm::sqrt(gap) } else { 0.0 },
        }
    }
}

/// Smallest and largest score bound [`Plan::suggested_score_bound`] returns.
pub const SUGGESTED_BOUND_RANGE: (f64, f64) = (0.1, 8.0);

impl Plan {
    /// An empirical choice of the score bound B = τ·r_q·r_k for `rows` rows, from public
    /// numbers only: B = n / (350·s_U) clamped to [`SUGGESTED_BOUND_RANGE`], with s_U the
    /// noise of one query coordinate ([`Prediction::column_noise`]; it does not depend on
    /// B). More rows per unit of noise afford a sharper kernel: a larger B keeps more of
    /// the attention's contrast but shrinks the typical denominator by P_s(B).
    ///
    /// **A rule of thumb, not a theorem.** It is meant for *direction-only* inputs —
    /// `radius_q = radius_k = 1` and `score_scale = B`, so the kernel approximates
    /// softmax(B·cos(q, k)) — with keys **centred on a public mean key** (subtract the mean
    /// key of the same model head measured on public text before building; softmax is
    /// unchanged by it, since q·μ is the same for every key, and it costs no privacy). The
    /// constant 350 was fitted in simulation (docs/notes/refit.md) on MiniLM layer 2 with
    /// two texts and checked with the real pipeline on layers 0 and 5, which the fit never
    /// saw (README, *Accuracy*). Check it on your own public data with `examples/eval.rs`.
    pub fn suggested_score_bound(&self, rows: u32) -> f64 {
        let noise = self.predict(rows).column_noise;
        let (lo, hi) = SUGGESTED_BOUND_RANGE;
        if noise.is_nan() || noise <= 0.0 {
            return hi;
        }
        // max/min rather than `clamp`: no assertion (and no panic path) in the binary.
        (f64::from(rows.max(1)) / (350.0 * noise)).max(lo).min(hi)
    }
}

impl Plan {
    /// The typical kernel value and kernel error under the score model t = τ<q, k> ≈
    /// clamp(B·z/√d, −B, B), z ~ N(0, 1) (the score of two random directions on the
    /// spheres of radius r_q and r_k): returns (E(P_s(t))/Φ², sd(m)/E(m)) with
    /// m(t) = P_s(t)·e^{−t}, by a fixed 321-point quadrature over z ∈ [−8, 8].
    ///
    /// sd(m)/E(m) is the typical relative spread of the token weights the kernel
    /// introduces; by Cauchy–Schwarz the output moves by at most that times the spread of
    /// the values (≤ r_v), so in units of r_v it is an upper-end typical kernel error.
    fn score_model(&self) -> (f64, f64) {
        const STEPS: u32 = 320;
        let s = self.kernel.degree();
        let scale = self.b / libm::sqrt(f64::from(self.params.d.max(1)));
        let (mut w_sum, mut k_sum, mut m_sum, mut m2_sum) = (0.0, 0.0, 0.0, 0.0);
        for i in 0..=STEPS {
            let z = -8.0 + 16.0 * f64::from(i) / f64::from(STEPS);
            // Trapezoid weights times the normal density (normalised by w_sum below).
            let edge = if i == 0 || i == STEPS { 0.5 } else { 1.0 };
            let w = edge * libm::exp(-0.5 * z * z);
            // max/min, not `clamp`: same value for B ≥ 0, and no assertion (no panic path
            // from the C ABI, which reports the suggested bound in `dpx_plan_new`).
            let t = (scale * z).max(-self.b).min(self.b);
            let pk = taylor::eval_upper(s, t);
            let m = pk * libm::exp(-t);
            w_sum += w;
            k_sum += w * pk;
            m_sum += w * m;
            m2_sum += w * m * m;
        }
        let q30 = (1u64 << 30) as f64;
        let psi0 = f64::from(self.kernel.psi0()) / q30;
        // E(P_s(t))/Φ² with 1/Φ² = ψ₀² (ψ₀ = 1/Φ rounded down).
        let mean_k = k_sum / w_sum * psi0 * psi0;
        let mean_m = m_sum / w_sum;
        let var_m = (m2_sum / w_sum - mean_m * mean_m).max(0.0);
        let kernel = if mean_m > 0.0 {
            libm::sqrt(var_m) / mean_m
        } else {
            1.0
        };
        (mean_k, kernel)
    }
}

#[cfg(test)]
mod tests {
    use super::super::Params;
    use super::*;

    fn plan(n: u32, eps: f64) -> Plan {
        let mut p = Params::new(32, 32, n);
        p.epsilon = eps;
        Plan::new(&p).unwrap()
    }

    #[test]
    fn noise_falls_like_one_over_n_and_epsilon() {
        let a = plan(1024, 1.0).predict(1024);
        let b = plan(4096, 1.0).predict(4096);
        // Same σ (flat, n only enters the fixed-point scales), 4× the denominator.
        assert!((a.dp_noise / b.dp_noise - 4.0).abs() < 0.05, "{a:?} {b:?}");
        assert!((a.uniform_noise / b.uniform_noise - 4.0).abs() < 1e-9);
        let c = plan(4096, 4.0).predict(4096);
        assert!(c.dp_noise < b.dp_noise / 2.0 && c.uniform_noise < b.uniform_noise / 2.0);
    }

    #[test]
    fn matches_the_closed_form() {
        let pl = plan(2048, 2.0);
        let pr = pl.predict(2048);
        // Flat, Gaussian, no clipping: D = n·E[P_2(t)]·ψ₀²·γ/W with t ~ N(0, B²/d),
        // E[P_2(t)] = 1 + B²/(2d) = 1 + 1/64, ψ₀² = 1/P_2(1) = 1/2.5, γ/W = 1/√2.
        let d = 2048.0 * (1.0 + 1.0 / 64.0) / 2.5 / core::f64::consts::SQRT_2;
        assert!((pr.denominator / d - 1.0).abs() < 1e-6, "{pr:?}");
        // Kernel: m(t) = P_2(t)e^{−t} = 1 − t³/6 + t⁴/8 − t⁵/20 + O(t⁶); with t ~ N(0, v),
        // v = B²/d: Var(m) ≈ 15v³/36 + v⁴·(96/64 + 2·105/120) (Gaussian moments).
        let v = 1.0f64 / 32.0;
        let k = (15.0 * v.powi(3) / 36.0 + v.powi(4) * (96.0 / 64.0 + 210.0 / 120.0)).sqrt();
        assert!((pr.kernel / k - 1.0).abs() < 0.03, "{} vs {k}", pr.kernel);
        let want = pl.sigma() * (32.0f64 + 1.0).sqrt() / d;
        assert!((pr.dp_noise / want - 1.0).abs() < 1e-6, "{pr:?}");
        let su = crate::privacy::analytic_gaussian_sigma(2.0, 1e-5, 2.0 / 2048.0).unwrap();
        assert!((pr.uniform_noise - su * 32f64.sqrt()).abs() < 1e-12);
        assert!(pr.kernel > 0.0 && pr.kernel < pl.bound(2048, 0.05).unwrap().kernel);
        assert!(pr.dp <= 1.0 && pr.uniform <= 1.0);
    }

    #[test]
    fn small_n_small_epsilon_loses_to_uniform() {
        // The DP mean has sensitivity 2/n; the structure's noise enters through a
        // denominator of the same order, but spread over √dv·√(features) more entries'
        // worth of sensitivity: at tiny n and ε it cannot win without a large signal.
        let pr = plan(128, 0.5).predict(128);
        assert!(pr.dp > pr.uniform, "{pr:?}");
        assert!(!pr.dp_beats_uniform(0.0));
        assert_eq!(pr.verdict(0.06), Verdict::UniformWins);
        assert_eq!(pr.verdict(pr.break_even_signal * 1.1), Verdict::Marginal);
        assert!(pr.dp_beats_uniform(pr.break_even_signal * 1.1));
        assert!(!pr.dp_beats_uniform(pr.break_even_signal * 0.9));
        // Large n and ε: the structure wins even against a modest signal.
        let pr = plan(1 << 20, 8.0).predict(1 << 20);
        assert!(pr.dp_beats_uniform(0.2), "{pr:?}");
        assert_eq!(pr.verdict(0.06), Verdict::DpWins);
    }

    #[test]
    fn tree_layout_pays_for_its_nodes() {
        let mut p = Params::new(16, 16, 4096);
        let flat = Plan::new(&p).unwrap().predict(4096);
        p.block = 64;
        let tree = Plan::new(&p).unwrap().predict(4096);
        assert!(tree.dp_noise > flat.dp_noise * 1.5, "{flat:?} {tree:?}");
        assert_eq!(tree.uniform_noise, flat.uniform_noise);
    }

    #[test]
    fn suggested_bound_grows_with_rows_and_epsilon_within_its_range() {
        let (lo, hi) = SUGGESTED_BOUND_RANGE;
        let mut last_eps = 0.0;
        for eps in [0.5, 1.0, 2.0, 4.0, 8.0] {
            let mut p = Params::new(32, 32, 1 << 16);
            p.epsilon = eps;
            let plan = Plan::new(&p).unwrap();
            let mut last = 0.0;
            for n in [1u32, 128, 512, 4096, 65536] {
                let b = plan.suggested_score_bound(n);
                assert!((lo..=hi).contains(&b), "{b}");
                assert!(b >= last, "not monotone in n at ε = {eps}");
                last = b;
                let want = f64::from(n) / (350.0 * plan.predict(n).column_noise);
                assert_eq!(b, want.max(lo).min(hi));
            }
            let b4096 = plan.suggested_score_bound(4096);
            assert!(b4096 > last_eps, "not monotone in ε");
            last_eps = b4096;
        }
    }
}
