//! A-priori error bounds (DESIGN §2.6), as an API.
//!
//! The output error splits into a deterministic kernel part (polynomial instead of `exp`,
//! contribution clipping) and a noise part:
//!
//! * **Kernel.** Each token's weight is e^{t_i}·m_i with m_i ∈ [m_lo, m_hi] (the range of
//!   P_s(t)e^{−t} on [−B, B], times the clipping weight ∈ [C, 1]). Re-weighting a
//!   distribution by factors whose ratio is at most ρ = m_hi/m_lo moves it by at most
//!   (√ρ − 1)/(√ρ + 1) in total variation (the extremal case puts mass 1/(1+√ρ) on the
//!   heaviest factor), so the output moves by ≤ 2·r_v·(√ρ−1)/(√ρ+1). This is tighter than
//!   the paper's 2ε_s/(1−ε_s) and never vacuous, because P_s > 0 for even s.
//! * **Noise.** With U = ψ(q)ᵀS̃ the noisy numerator N̂ and denominator D̂, if every
//!   coordinate's noise is ≤ T then ‖ô − o‖ ≤ (a·√dv·T + r_v·T)/D₀, where D₀ is the
//!   denominator floor (a lower bound on the true denominator, which the query enforces on
//!   D̂ too) and a = r_v·γ the output scale. Projection onto the r_v-ball cannot increase
//!   the error.
//!   - Single query (fixed q, probability ≥ 1−β): ψ(q)ᵀZ_j is σ‖ψ‖-subgaussian for the
//!     discrete Gaussian (Canonne–Kamath–Steinke 2020, Cor. 9: N_Z(0,σ²) is σ-subgaussian),
//!     so a union bound over the dv+1 coordinates and m summed nodes gives
//!     T = σ·√m·√(2 ln(2(dv+1)/β)).
//!   - Uniform over all queries: for each of the nodes·(dv+1) noise columns
//!     ‖Z_col‖ ≤ σ(√r + √(2 ln(cols/β))) (Hsu–Kakade–Zhang 2012, Thm 1, for σ-subgaussian
//!     vectors), so |ψᵀZ| ≤ ‖ψ‖‖Z_col‖ for every q at once; T = m·σ(√r + √(2 ln(cols/β))).
//!   - Laplace: |Z| ≥ t has probability 2p^t/(1+p) ≤ 2e^{−t/b} for the discrete Laplace,
//!     so all E entries are ≤ b·ln(2E/β) at once and |ψᵀZ_j| ≤ ‖ψ‖₁·that ≤ √r·that.
//!   - Fixed-point rounding of the stored words and of ψ(q) adds a deterministic
//!     m·√r·(2^−(Fs+1) + 2^−(Fq+1)·2^(31−Fs)) per coordinate.
//!
//! All of it is rounded up (a bound may be loose, never optimistic).

use super::params::NoiseKind;
use super::plan::Plan;
use super::query::Attn;
use crate::{Error, Result};

/// Error bounds for one configuration, in the units of the values (L2 norm of ô − o where
/// o is exact softmax attention over the clipped rows).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Bound {
    /// The failure probability β the bounds hold with.
    pub beta: f64,
    /// Deterministic kernel (and contribution-clipping) part.
    pub kernel: f64,
    /// Noise part for one fixed query, with probability ≥ 1−β.
    pub noise_single: f64,
    /// Noise part for all queries at once, with probability ≥ 1−β.
    pub noise_uniform: f64,
    /// Total for one fixed query: min(2·r_v, kernel + noise_single).
    pub single: f64,
    /// Total for all queries at once: min(2·r_v, kernel + noise_uniform).
    pub uniform: f64,
}

impl Plan {
    /// A-priori bounds for a structure holding `rows` rows, for a query over all of them.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if β ∉ (0, 1).
    pub fn bound(&self, rows: u32, beta: f64) -> Result<Bound> {
        let m = self
            .shape
            .cover(0, self.shape.blocks_built(rows.max(1)))
            .count()
            .max(1) as f64;
        self.bound_for(rows, m, beta)
    }

    pub(crate) fn bound_for(&self, rows: u32, m: f64, beta: f64) -> Result<Bound> {
        if !(beta > 0.0 && beta < 1.0) {
            return Err(Error::InvalidParameter);
        }
        let up = 1.0 + 1e-9;
        let rv = self.params.radius_v;
        let r = self.shape.r as f64;
        let cols = (self.shape.dv + 1) as f64;
        let sigma = self.sigma();
        let fs = self.f_store as i32;
        let fq = self.f_query as i32;
        let fp = m * libm::sqrt(r) * (libm::ldexp(1.0, -(fs + 1)) + libm::ldexp(1.0, 30 - fs - fq));
        let (t_single, t_uniform) = match self.params.mechanism {
            NoiseKind::Gaussian => {
                let ts = sigma * libm::sqrt(m) * libm::sqrt(2.0 * libm::log(2.0 * cols / beta));
                let all_cols = cols * self.shape.nodes as f64;
                let tu = m * sigma * (libm::sqrt(r) + libm::sqrt(2.0 * libm::log(all_cols / beta)));
                (ts, tu)
            }
            NoiseKind::Laplace => {
                let e_all = r * cols * self.shape.nodes as f64;
                let t = m * libm::sqrt(r) * sigma * libm::log(2.0 * e_all / beta);
                (t, t)
            }
        };
        let d0 = f64::from(rows)
            * self.min_token_weight()
            * self.min_kernel
            * (f64::from(self.g) / (1u64 << 30) as f64);
        let a = rv * self.value_factor();
        let dv = self.shape.dv as f64;
        let noise = |t: f64| {
            if d0 > 0.0 {
                (t + fp) * (a * libm::sqrt(dv) + rv) / d0 * up
            } else {
                f64::INFINITY
            }
        };
        let rho = if self.ratio_lo > 0.0 {
            self.ratio_hi / self.ratio_lo / self.min_token_weight()
        } else {
            f64::INFINITY
        };
        let kernel = if rho.is_finite() {
            let q = libm::sqrt(rho);
            (2.0 * rv * (q - 1.0) / (q + 1.0) * up).min(2.0 * rv)
        } else {
            2.0 * rv
        };
        let (ns, nu) = (noise(t_single), noise(t_uniform));
        Ok(Bound {
            beta,
            kernel,
            noise_single: ns,
            noise_uniform: nu,
            single: (kernel + ns).min(2.0 * rv),
            uniform: (kernel + nu).min(2.0 * rv),
        })
    }
}

impl Attn<'_> {
    /// A-priori bounds for queries over all rows of this image.
    pub fn bound(&self, beta: f64) -> Result<Bound> {
        self.plan().bound(self.rows(), beta)
    }
}
