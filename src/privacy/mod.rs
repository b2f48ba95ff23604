//! TEMPORARY SHIM (not committed)
#![allow(missing_docs)]
use crate::Result;
pub fn analytic_gaussian_sigma(e: f64, d: f64, l2: f64) -> Result<f64> {
    Ok(l2 * libm::sqrt(2.0 * libm::log(1.25 / d)) / e)
}
pub fn discrete_gaussian_sigma(e: f64, d: f64, l2: f64, _dims: u64) -> Result<f64> {
    analytic_gaussian_sigma(e, d, l2)
}
pub fn laplace_scale(e: f64, l1: f64) -> Result<f64> {
    Ok(l1 / e)
}
