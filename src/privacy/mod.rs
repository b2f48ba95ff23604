//! Privacy calibration and accounting: from (ε, δ) to noise scales and back.
//!
//! Planning math only — `f64` through `libm` — never in the noise path (the samplers work in
//! integers). Every number a function returns is **rounded toward the safe side**:
//!
//! | quantity | rounded | because |
//! |---|---|---|
//! | σ, Laplace scale | up | more noise never weakens a guarantee |
//! | δ, ε, ρ *of a given mechanism* | up | overstating the privacy loss is safe |
//! | per-part budgets (ε₀, δ₀) of a split | down | the parts then compose to *at most* the total |
//!
//! "Rounded" means rigorously: each function evaluates its formula with directed rounding
//! ([`rounding`]) and with explicit error margins for `libm` ([`normal`] for Φ), so the
//! returned value lies on the safe side of the *exact* real-number result of the cited
//! theorem. Searches (bisection) keep the end of the bracket that was *verified* with such
//! a bound, so the σ they return is one at which the rigorous bound meets the target.
//!
//! | file | concept | main theorem |
//! |---|---|---|
//! | [`normal`] | Φ with two-sided bounds | A&S 7.1.2 |
//! | [`analytic_gaussian`] | exact (ε, δ) of the Gaussian mechanism | Balle & Wang 2018, Thm 8 |
//! | [`classical`] | the textbook σ, for comparison | Dwork & Roth 2014, Thm A.1 |
//! | [`laplace`] | (discrete) Laplace scale | Dwork & Roth Thm 3.6; Ghosh et al. 2012; CKS20 |
//! | [`zcdp`] | ρ of a Gaussian, ρ → (ε, δ) | Bun & Steinke 2016; CKS20 Prop. 12 / Cor. 13 |
//! | [`discrete_gaussian`] | (ε, δ) of N_Z(0, σ²)^d | proved in the file (smoothing + BW18 Thm 8); CKS20 |
//! | [`composition`] | many parts, basic and advanced composition | DR14 Thm 3.16, 3.20 |
//!
//! Invalid inputs give [`crate::Error::InvalidEpsilon`] (ε not finite or ≤ 0),
//! [`crate::Error::InvalidDelta`] (δ not in (0, 1), or a δ so small that no σ reaches it),
//! [`crate::Error::InvalidDimension`] (zero parts or dimensions) or
//! [`crate::Error::InvalidParameter`] (σ, sensitivity or ρ not finite and > 0, or a result
//! that overflows `f64`). Nothing here panics.

pub mod analytic_gaussian;
pub mod classical;
pub mod composition;
pub mod discrete_gaussian;
pub mod laplace;
pub mod normal;
pub mod rounding;
mod search;
pub mod zcdp;

pub use analytic_gaussian::{analytic_gaussian_delta, analytic_gaussian_sigma};
pub use classical::classical_gaussian_sigma;
pub use composition::{advanced_composition_split, gaussian_sigma_for_parts, split_basic};
pub use discrete_gaussian::{discrete_gaussian_delta, discrete_gaussian_sigma};
pub use laplace::laplace_scale;
pub use normal::{normal_cdf_lower, normal_cdf_upper};
pub use zcdp::{gaussian_rho, rho_to_delta, rho_to_epsilon};

use crate::{Error, Result};

/// ε must be finite and > 0.
pub(crate) fn check_epsilon(epsilon: f64) -> Result<()> {
    if epsilon.is_finite() && epsilon > 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidEpsilon)
    }
}

/// δ must lie in the open interval (0, 1).
pub(crate) fn check_delta(delta: f64) -> Result<()> {
    if delta.is_finite() && delta > 0.0 && delta < 1.0 {
        Ok(())
    } else {
        Err(Error::InvalidDelta)
    }
}

/// A scale or sensitivity must be finite and > 0.
pub(crate) fn check_positive(x: f64) -> Result<()> {
    if x.is_finite() && x > 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidParameter)
    }
}

/// A computed scale must be finite and > 0 (it can overflow for extreme inputs).
pub(crate) fn finite_positive(x: f64) -> Result<f64> {
    if x.is_finite() && x > 0.0 {
        Ok(x)
    } else {
        Err(Error::InvalidParameter)
    }
}

#[cfg(test)]
mod report {
    //! `cargo test --lib privacy::report -- --ignored --nocapture` prints the calibration
    //! table quoted in docs/notes/privacy.md.
    use super::*;

    #[test]
    #[ignore = "prints a report; run explicitly"]
    fn calibration_report() {
        std::println!(
            "eps    delta   analytic   classical  zCDP      discrete(Δ=1,d=1)  discrete(Δ=100,d=1e4)/100"
        );
        for eps in [0.1, 0.5, 1.0, 2.0, 4.0, 8.0] {
            for delta in [1e-5, 1e-8, 1e-10] {
                let a = analytic_gaussian_sigma(eps, delta, 1.0).unwrap();
                let c = classical_gaussian_sigma(eps, delta, 1.0).map_or(f64::NAN, |c| c);
                // σ from the zCDP route: largest ρ whose CKS20 δ meets the target.
                let (mut lo, mut hi) = (0.0f64, 100.0f64);
                for _ in 0..200 {
                    let m = 0.5 * (lo + hi);
                    if rho_to_delta(m, eps).unwrap() <= delta {
                        lo = m;
                    } else {
                        hi = m;
                    }
                }
                let z = 1.0 / libm::sqrt(2.0 * lo);
                let d1 = discrete_gaussian_sigma(eps, delta, 1.0, 1).unwrap();
                let d100 = discrete_gaussian_sigma(eps, delta, 100.0, 10_000).unwrap() / 100.0;
                std::println!(
                    "{eps:<6} {delta:<7e} {a:<10.6} {c:<10.4} {z:<9.5} {d1:.5} (+{:.2}%)     {d100:.6} (+{:.1e})",
                    (d1 / a - 1.0) * 100.0,
                    d100 / a - 1.0
                );
            }
        }
        std::println!("parts k: sigma for (ε, δ) = (1, 1e-6), Δ = 1 per part");
        for k in [1u32, 4, 16, 153, 4845] {
            let j = gaussian_sigma_for_parts(1.0, 1e-6, 1.0, k).unwrap();
            let (e, d) = split_basic(1.0, 1e-6, k).unwrap();
            let b = analytic_gaussian_sigma(e, d, 1.0).unwrap();
            let (e0, d0) = advanced_composition_split(1.0, 1e-6, u64::from(k)).unwrap();
            let a = analytic_gaussian_sigma(e0, d0, 1.0).unwrap();
            std::println!("k={k:<5} joint {j:<9.3} basic split {b:<10.3} advanced split {a:.3}");
        }
    }
}
