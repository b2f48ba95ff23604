//! `dpx_plan`: sizes and privacy numbers derived from `dpx_params`, before any data.

use super::check::{FfiResult, output_struct};
use super::params::dpx_params;
use super::status::{DPX_OK, dpx_status};
use crate::mechanism::Plan;

/// Everything derived from a `dpx_params` (pure: no data, no randomness).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct dpx_plan {
    /// Bytes of the image buffer (`image_bytes` of `dpx_build`).
    pub image_bytes: usize,
    /// Bytes of scratch a build needs (`scratch_bytes` of `dpx_build*`).
    pub scratch_bytes: usize,
    /// Bytes of scratch one query needs (`scratch_bytes` of `dpx_query*`).
    pub query_scratch_bytes: usize,
    /// Number of kernel features r = C(d+s, s).
    pub features: usize,
    /// Tree nodes (1 for the flat layout).
    pub nodes: usize,
    /// Leaf blocks the layout can hold (1 for flat): block ranges are within `[0, blocks)`.
    pub blocks: usize,
    /// Polynomial degree s actually used (chosen when `dpx_params.degree` was 0).
    pub degree: u32,
    /// Tree levels a row touches (1 for flat).
    pub levels: u32,
    /// 1 if the denominator's constant entry is released exactly (no contribution
    /// clipping; it equals a public function of n), else 0.
    pub exact_constant_entry: u32,
    /// The mechanism (`DPX_MECHANISM_*`), as in the parameters.
    pub mechanism: u32,
    /// Relative kernel error eps_s = max_{|t|<=B} |P_s(t)e^{-t} - 1| (rounded up).
    pub kernel_rel_err: f64,
    /// Noise scale of every released entry in normalised units: sigma of the discrete
    /// Gaussian, or b of the discrete Laplace (rounded up, as used).
    pub sigma: f64,
    /// Sensitivity the noise is calibrated to (L2 for Gaussian, L1 for Laplace), including
    /// fixed-point rounding, tree depth and `parts`.
    pub sensitivity: f64,
    /// Score bound B = tau*radius_q*radius_k.
    pub score_bound: f64,
    /// The score bound suggested for `n_max` rows (`Plan::suggested_score_bound`): an
    /// empirical choice in [0.1, 8] from n and the noise level, for keys centred on a
    /// public mean key and direction-only inputs (radius_q = radius_k = 1,
    /// score_scale = B). To use it, set those three fields and plan again.
    pub suggested_score_bound: f64,
}

impl From<&Plan> for dpx_plan {
    fn from(p: &Plan) -> dpx_plan {
        dpx_plan {
            image_bytes: p.image_bytes(),
            scratch_bytes: p.build_scratch_bytes(),
            query_scratch_bytes: p.query_scratch_bytes(),
            features: p.features(),
            nodes: p.nodes(),
            blocks: p.blocks(),
            degree: p.degree(),
            levels: p.levels(),
            exact_constant_entry: u32::from(p.exact_constant_entry()),
            mechanism: p.params().mechanism as u32,
            kernel_rel_err: p.kernel_rel_err(),
            sigma: p.sigma(),
            sensitivity: p.sensitivity(),
            score_bound: p.score_bound(),
            suggested_score_bound: p.suggested_score_bound(p.params().n_max),
        }
    }
}

/// Validates `*p` and derives the plan into `*out`: the buffer sizes to allocate (or to
/// declare statically) and the privacy and accuracy numbers.
///
/// # Errors
/// `DPX_ERR_NULL` / `DPX_ERR_MISALIGNED` for the pointers; a `DPX_ERR_INVALID_*`,
/// `DPX_ERR_SIZE_OVERFLOW` or `DPX_ERR_PRECISION_TOO_LOW` naming the bad parameter.
/// `*out` is written only on success.
///
/// # Safety
/// `p` must be NULL or valid for reading one `dpx_params`; `out` NULL or valid for
/// writing one `dpx_plan`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_plan_new(p: *const dpx_params, out: *mut dpx_plan) -> dpx_status {
    // SAFETY: forwarded preconditions.
    match unsafe { plan_new(p, out) } {
        Ok(()) => DPX_OK,
        Err(s) => s,
    }
}

unsafe fn plan_new(p: *const dpx_params, out: *mut dpx_plan) -> FfiResult<()> {
    // SAFETY: forwarded precondition.
    let params = unsafe { dpx_params::read(p) }?;
    let out = output_struct(out)?;
    let plan = Plan::new(&params)?;
    // SAFETY: checked non-NULL and aligned; writable is the caller's precondition. `p` was
    // copied before, so an overlapping `out` cannot corrupt the input.
    unsafe { out.write(dpx_plan::from(&plan)) };
    Ok(())
}

/// Reads `*p` and makes its plan (shared by the build entry points).
///
/// # Safety
/// `p` must be NULL or valid for reading one `dpx_params`.
pub(crate) unsafe fn plan_of(p: *const dpx_params) -> FfiResult<Plan> {
    // SAFETY: forwarded precondition.
    let params = unsafe { dpx_params::read(p) }?;
    Ok(Plan::new(&params)?)
}
