//! `dpx_params`: the public parameters of a structure, and their recommended defaults.

use super::check::{FfiResult, read_struct};
use super::status::DPX_ERR_INVALID_PARAMETER;
use crate::mechanism::{NoiseKind, Params, Policy};

/// Noise distribution (`dpx_params.mechanism`): `DPX_MECHANISM_GAUSSIAN` or
/// `DPX_MECHANISM_LAPLACE`. A plain `uint32_t` so every value is representable; unknown
/// values are refused with `DPX_ERR_INVALID_PARAMETER`.
pub type dpx_mechanism = u32;

/// Discrete Gaussian noise, (epsilon, delta)-DP (the default).
pub const DPX_MECHANISM_GAUSSIAN: dpx_mechanism = 0;
/// Discrete Laplace noise, pure epsilon-DP (`delta` ignored); much noisier in high dimension.
pub const DPX_MECHANISM_LAPLACE: dpx_mechanism = 1;

/// `dpx_params.flags` bit: **reject** (`DPX_ERR_OUT_OF_BALL`) key/value rows outside their
/// radius instead of clipping them onto it (the default, flag clear). Other bits are
/// reserved and must be 0.
pub const DPX_FLAG_REJECT: u32 = 1;

/// Public parameters of a private attention structure (DESIGN section 5; field names are fixed).
///
/// Fill it with [`dpx_params_init`], then change only what you need. Every field is
/// **public**: it is written into the image in clear, so choose it from public knowledge,
/// never from the private rows.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct dpx_params {
    /// Key/query dimension d (>= 1).
    pub d: u32,
    /// Value dimension dv (>= 1).
    pub dv: u32,
    /// Largest number of rows the structure may hold (>= 1).
    pub n_max: u32,
    /// Polynomial degree s (even, 2..=16); 0 = the smallest even degree whose kernel
    /// error is <= `kernel_rel_err`.
    pub degree: u32,
    /// Target relative kernel error eps_s, used when `degree == 0`.
    pub kernel_rel_err: f64,
    /// Score scale tau (usually 1/sqrt(d)).
    pub score_scale: f64,
    /// L2 radius of queries (raw units); longer queries are clipped.
    pub radius_q: f64,
    /// L2 radius of keys (raw units).
    pub radius_k: f64,
    /// L2 radius of values (raw units).
    pub radius_v: f64,
    /// Privacy epsilon (> 0).
    pub epsilon: f64,
    /// Privacy delta in (0, 1) (ignored by the Laplace mechanism).
    pub delta: f64,
    /// Noise distribution: `DPX_MECHANISM_GAUSSIAN` or `DPX_MECHANISM_LAPLACE`.
    pub mechanism: dpx_mechanism,
    /// Rows per leaf block of the tree layout (range queries, streaming release);
    /// 0 = flat layout (one aggregate, the smallest image).
    pub block: u32,
    /// Bit set: `DPX_FLAG_REJECT` (reject instead of clip out-of-ball rows).
    pub flags: u32,
    /// gamma > 0: weight of the denominator column relative to the values (default 1).
    pub gamma: f64,
    /// Contribution clipping bound C in (0, 1], as a fraction of the largest possible
    /// payload norm; 0 = off (default). Cuts the noise several-fold on real data.
    pub clip: f64,
    /// Number of structures released together over the same rows (e.g. the heads of one
    /// prompt), each built with these parameters; (epsilon, delta) is their total budget. Default 1.
    pub parts: u32,
}

impl From<&Params> for dpx_params {
    fn from(p: &Params) -> dpx_params {
        dpx_params {
            d: p.d,
            dv: p.dv,
            n_max: p.n_max,
            degree: p.degree,
            kernel_rel_err: p.kernel_rel_err,
            score_scale: p.score_scale,
            radius_q: p.radius_q,
            radius_k: p.radius_k,
            radius_v: p.radius_v,
            epsilon: p.epsilon,
            delta: p.delta,
            mechanism: p.mechanism as u32,
            block: p.block,
            flags: match p.policy {
                Policy::Clip => 0,
                Policy::Reject => DPX_FLAG_REJECT,
            },
            gamma: p.gamma,
            clip: p.clip,
            parts: p.parts,
        }
    }
}

impl dpx_params {
    /// The Rust parameters; `DPX_ERR_INVALID_PARAMETER` for an unknown mechanism or flag
    /// bit (every other field is validated by [`crate::mechanism::Plan::new`]).
    pub(crate) fn to_params(self) -> FfiResult<Params> {
        let mechanism = match self.mechanism {
            DPX_MECHANISM_GAUSSIAN => NoiseKind::Gaussian,
            DPX_MECHANISM_LAPLACE => NoiseKind::Laplace,
            _ => return Err(DPX_ERR_INVALID_PARAMETER),
        };
        if self.flags & !DPX_FLAG_REJECT != 0 {
            return Err(DPX_ERR_INVALID_PARAMETER);
        }
        let policy = if self.flags & DPX_FLAG_REJECT != 0 {
            Policy::Reject
        } else {
            Policy::Clip
        };
        Ok(Params {
            d: self.d,
            dv: self.dv,
            n_max: self.n_max,
            degree: self.degree,
            kernel_rel_err: self.kernel_rel_err,
            score_scale: self.score_scale,
            radius_q: self.radius_q,
            radius_k: self.radius_k,
            radius_v: self.radius_v,
            epsilon: self.epsilon,
            delta: self.delta,
            mechanism,
            block: self.block,
            policy,
            clip: self.clip,
            gamma: self.gamma,
            parts: self.parts,
        })
    }

    /// Reads and converts a C `const dpx_params *`.
    ///
    /// # Safety
    /// `p` must be NULL or valid for reading one `dpx_params`.
    pub(crate) unsafe fn read(p: *const dpx_params) -> FfiResult<Params> {
        // SAFETY: forwarded precondition; dpx_params is plain integers and floats.
        unsafe { read_struct(p) }?.to_params()
    }
}

/// Fills `*p` with the recommended defaults for the given shape: degree 2, tau = 1/sqrt(d),
/// query and key radii d^(1/4) (score bound 1), value radius 1, epsilon = 1, delta = 1e-5, Gaussian
/// noise, flat layout, clip policy, no contribution clipping, gamma = 1, one part.
///
/// Never fails: NULL (or a misaligned pointer) is ignored, and the shape is only checked
/// later by [`super::dpx_plan_new`].
///
/// # Safety
/// `p` must be NULL or valid for writing one `dpx_params`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_params_init(p: *mut dpx_params, d: u32, dv: u32, n_max: u32) {
    if let Ok(out) = super::check::output_struct(p) {
        let v = dpx_params::from(&Params::new(d, dv, n_max));
        // SAFETY: non-NULL and aligned (checked); writable is the caller's precondition.
        unsafe { out.write(v) };
    }
}
