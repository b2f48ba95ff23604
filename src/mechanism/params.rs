//! User-facing parameters of the private attention structure.

/// Which noise distribution protects the aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u32)]
pub enum NoiseKind {
    /// Discrete Gaussian, (ε, δ)-DP (default).
    Gaussian = 0,
    /// Discrete Laplace, pure ε-DP (δ is ignored). Much noisier in high dimension: its
    /// sensitivity is the L1 norm of the payload.
    Laplace = 1,
}

/// What happens to a key or value row outside its ball.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u32)]
pub enum Policy {
    /// Scale the row onto the ball (default).
    Clip = 0,
    /// Refuse the chunk with [`crate::Error::OutOfBall`] naming the row.
    Reject = 1,
}

/// Parameters of a private attention structure. All are **public**: they are written into
/// the image in clear. Choose them from public knowledge (model statistics on public text,
/// the deployment's requirements), never from the private rows.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Params {
    /// Key/query dimension d (≥ 1).
    pub d: u32,
    /// Value dimension dv (≥ 1).
    pub dv: u32,
    /// Largest number of rows the structure may hold (≥ 1). Sizes and noise depend on it
    /// only through the fixed-point scales and the tree shape.
    pub n_max: u32,
    /// Polynomial degree s (even, 2..=[`crate::kernel::MAX_DEGREE`]); 0 = the smallest even
    /// degree whose kernel error is ≤ `kernel_rel_err`.
    pub degree: u32,
    /// Target relative kernel error ε_s when `degree == 0`.
    pub kernel_rel_err: f64,
    /// Score scale τ (usually 1/√d).
    pub score_scale: f64,
    /// L2 radius of queries (raw units); queries outside are clipped. All three radii lie
    /// in [[`MIN_RADIUS`](super::MIN_RADIUS), [`MAX_RADIUS`](super::MAX_RADIUS)].
    pub radius_q: f64,
    /// L2 radius of keys (raw units).
    pub radius_k: f64,
    /// L2 radius of values (raw units).
    pub radius_v: f64,
    /// Privacy ε (> 0).
    pub epsilon: f64,
    /// Privacy δ in (0, 1) (ignored by [`NoiseKind::Laplace`]).
    pub delta: f64,
    /// Noise distribution.
    pub mechanism: NoiseKind,
    /// Tokens per leaf block of the tree layout; 0 = flat layout (one aggregate).
    pub block: u32,
    /// Out-of-ball policy for key and value rows.
    pub policy: Policy,
    /// Contribution clipping bound C in (0, 1] as a fraction of the largest possible
    /// payload norm; 0 = off. See `mechanism` docs.
    pub clip: f64,
    /// γ ∈ [10⁻⁶, 10⁶]: the weight of the denominator column relative to the values.
    pub gamma: f64,
    /// Number of structures released together over the **same rows** (e.g. the heads of
    /// one prompt), each built with these parameters; (ε, δ) is the budget of them all
    /// together. Gaussian: the structures compose exactly as one Gaussian mechanism on
    /// their concatenation, with sensitivity √parts times larger. Laplace: ε/parts each.
    /// Default 1.
    pub parts: u32,
}

impl Params {
    /// Recommended defaults for the given shape: degree 2, τ = 1/√d, query and key radii
    /// d^¼ (so the score bound B = τ·r_q·r_k is 1), value radius 1, ε = 1, δ = 10⁻⁵,
    /// Gaussian noise, flat layout, clip policy, no contribution clipping, γ = 1, one part.
    pub fn new(d: u32, dv: u32, n_max: u32) -> Params {
        let df = f64::from(d.max(1));
        let r = libm::sqrt(libm::sqrt(df));
        Params {
            d,
            dv,
            n_max,
            degree: 2,
            kernel_rel_err: 0.5,
            score_scale: 1.0 / libm::sqrt(df),
            radius_q: r,
            radius_k: r,
            radius_v: 1.0,
            epsilon: 1.0,
            delta: 1e-5,
            mechanism: NoiseKind::Gaussian,
            block: 0,
            policy: Policy::Clip,
            clip: 0.0,
            gamma: 1.0,
            parts: 1,
        }
    }
}
