//! The evaluation core behind `examples/eval.rs` and `examples/plot.rs`: pure functions over
//! in-memory rows (no file I/O), so that `tests/eval_harness.rs` can check them on synthetic
//! data where the exact answers are known.
//!
//! For one attention head it computes, per query row, the output of five pipelines and
//! their errors ‖ô − o‖₂ / rms‖o‖ against the exact model output o:
//! - `dp`: the library (real `Plan::new` → `build` → `Attn::open` → `query`);
//! - `uniform`: the DP mean of the clipped values at the same (ε, δ), ignoring q;
//! - `paper`: our clipping + kernel pipeline in f64, noised with the paper's calibration
//!   (k = r·(dv+1) scalar Gaussian mechanisms, one per entry of the aggregate, each with its
//!   own sensitivity, (ε, δ) split by advanced composition with δ'' = δ/2);
//! - `kernel`: our pipeline without noise (clipping + polynomial kernel), in f64;
//! - `clip`: exact softmax attention on the clipped inputs, in f64.
//!
//! All five see the same clipping and, for `dp`/`paper`/`kernel`, the same post-processing
//! (denominator floor, projection onto the r_v-ball), so the differences are the kernel
//! (`kernel` vs `clip`), the noise calibration (`dp` vs `paper`) and the value of the query
//! at all (`dp` vs `uniform`).
#![allow(dead_code)]

use dpxattn::kernel::taylor;
use dpxattn::mechanism::{Attn, NoiseKind, Params, Plan, Prediction, build};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

/// One head's rows, row-major: keys n×d, values n×dv, queries m×d, exact outputs m×dv.
#[derive(Clone, Copy)]
pub struct HeadData<'a> {
    pub n: usize,
    pub m: usize,
    pub d: usize,
    pub dv: usize,
    pub k: &'a [f32],
    pub v: &'a [f32],
    pub q: &'a [f32],
    pub o: &'a [f32],
}

impl HeadData<'_> {
    fn check(&self) -> Result<(), String> {
        if self.n == 0 || self.m == 0 || self.d == 0 || self.dv == 0 {
            return Err("empty head".into());
        }
        if self.k.len() != self.n * self.d
            || self.v.len() != self.n * self.dv
            || self.q.len() != self.m * self.d
            || self.o.len() != self.m * self.dv
        {
            return Err("head arrays do not match (n, m, d, dv)".into());
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Small vector helpers (f64).

pub fn norm(x: &[f64]) -> f64 {
    x.iter().map(|a| a * a).sum::<f64>().sqrt()
}

pub fn dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt()
}

fn to_f64(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&a| f64::from(a)).collect()
}

/// `x` scaled onto the L2 ball of radius `r` if it lies outside (the library's clip policy).
pub fn clip_to_ball(x: &[f32], r: f64) -> Vec<f64> {
    let mut y = to_f64(x);
    let nx = norm(&y);
    if nx > r {
        let f = r / nx;
        y.iter_mut().for_each(|a| *a *= f);
    }
    y
}

/// Projects `x` onto the L2 ball of radius `r` in place (post-processing of every pipeline:
/// the exact output is a convex combination of clipped values, so it lies in that ball).
pub fn project(x: &mut [f64], r: f64) {
    let nx = norm(x);
    if nx > r {
        let f = r / nx;
        x.iter_mut().for_each(|a| *a *= f);
    }
}

/// Root mean square of the row norms of a row-major matrix.
pub fn rms_norm(rows: &[f32], dim: usize) -> f64 {
    let c = rows.len() / dim;
    let s: f64 = rows
        .chunks_exact(dim)
        .map(|r| r.iter().map(|&a| f64::from(a) * f64::from(a)).sum::<f64>())
        .sum();
    (s / c as f64).sqrt()
}

/// p-th percentile (0..=100, nearest rank) of the row norms of a row-major matrix.
pub fn norm_percentile(rows: &[f32], dim: usize, p: f64) -> f64 {
    let mut n: Vec<f64> = rows.chunks_exact(dim).map(|r| norm(&to_f64(r))).collect();
    n.sort_by(f64::total_cmp);
    let i = ((p / 100.0) * (n.len() - 1) as f64).round() as usize;
    n[i]
}

pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Exact softmax attention in f64: Σ_i softmax_i(τ<q, k_i>) v_i (keys n×d, values n×dv).
pub fn softmax_attention(q: &[f64], keys: &[f64], values: &[f64], tau: f64) -> Vec<f64> {
    let d = q.len();
    let n = keys.len() / d;
    let dv = values.len() / n;
    let scores: Vec<f64> = keys
        .chunks_exact(d)
        .map(|k| tau * k.iter().zip(q).map(|(a, b)| a * b).sum::<f64>())
        .collect();
    let mx = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut out = vec![0.0; dv];
    let mut den = 0.0;
    for (s, v) in scores.iter().zip(values.chunks_exact(dv)) {
        let w = (s - mx).exp();
        den += w;
        out.iter_mut().zip(v).for_each(|(o, x)| *o += w * x);
    }
    out.iter_mut().for_each(|o| *o /= den);
    out
}

/// P_s(t) = Σ_{j ≤ s} t^j / j! in f64.
pub fn taylor_exp(s: u32, t: f64) -> f64 {
    let (mut term, mut sum) = (1.0, 1.0);
    for j in 1..=s {
        term *= t / f64::from(j);
        sum += term;
    }
    sum
}

// ---------------------------------------------------------------------------------------
// The clipped, normalised head: everything the f64 pipelines share.

/// One head after the library's input clipping, in f64: normalised keys k̂ = clip(k)/r_k,
/// clipped values (raw units), the kernel constants and the contribution-clipping weights.
pub struct Prepared {
    pub n: usize,
    pub d: usize,
    pub dv: usize,
    pub degree: u32,
    /// Score bound B = τ·r_q·r_k.
    pub b: f64,
    /// Φ² = P_s(B): ψ = φ/Φ has norm ≤ 1 on the unit ball.
    pub phi_sq: f64,
    pub tau: f64,
    pub radius_q: f64,
    pub radius_k: f64,
    pub radius_v: f64,
    pub gamma: f64,
    /// W = √(1 + γ²).
    pub w: f64,
    /// Normalised keys k̂ (n×d), in the unit ball.
    pub khat: Vec<f64>,
    /// Clipped keys (raw units, n×d).
    pub kc: Vec<f64>,
    /// Clipped values (raw units, n×dv).
    pub vc: Vec<f64>,
    /// Contribution-clipping weight per token (1 without clipping).
    pub weight: Vec<f64>,
    /// Smallest possible token weight (C with clipping, else 1).
    pub min_weight: f64,
    /// min_{|t| ≤ B} P_s(t)/Φ²: the smallest kernel value, for the denominator floor.
    pub min_kernel: f64,
}

impl Prepared {
    /// Clips and normalises one head as the library does for `params` (whose `degree` must
    /// be the one the plan chose, see [`Plan::degree`]).
    pub fn new(h: &HeadData, p: &Params, degree: u32) -> Result<Prepared, String> {
        h.check()?;
        let b = p.score_scale * p.radius_q * p.radius_k;
        let phi_sq = taylor_exp(degree, b);
        let w = (1.0 + p.gamma * p.gamma).sqrt();
        let mut khat = Vec::with_capacity(h.n * h.d);
        let mut kc = Vec::with_capacity(h.n * h.d);
        let mut vc = Vec::with_capacity(h.n * h.dv);
        let mut weight = Vec::with_capacity(h.n);
        for (k, v) in h.k.chunks_exact(h.d).zip(h.v.chunks_exact(h.dv)) {
            let kk = clip_to_ball(k, p.radius_k);
            let vv = clip_to_ball(v, p.radius_v);
            let kh: Vec<f64> = kk.iter().map(|x| x / p.radius_k).collect();
            // ‖P‖ = ‖ψ(k̂)‖·‖ω(v̂)‖ with ‖ψ(k̂)‖² = P_s(B‖k̂‖²)/Φ², ‖ω‖² = (‖v̂‖² + γ²)/W².
            let psi_n = (taylor_exp(degree, b * norm(&kh).powi(2)) / phi_sq).sqrt();
            let vh = norm(&vv) / p.radius_v;
            let om_n = ((vh * vh + p.gamma * p.gamma).sqrt() / w).min(1.0);
            let pn = psi_n * om_n;
            weight.push(if p.clip > 0.0 && pn > p.clip {
                p.clip / pn
            } else {
                1.0
            });
            khat.extend_from_slice(&kh);
            kc.extend_from_slice(&kk);
            vc.extend_from_slice(&vv);
        }
        Ok(Prepared {
            n: h.n,
            d: h.d,
            dv: h.dv,
            degree,
            b,
            phi_sq,
            tau: p.score_scale,
            radius_q: p.radius_q,
            radius_k: p.radius_k,
            radius_v: p.radius_v,
            gamma: p.gamma,
            w,
            khat,
            kc,
            vc,
            weight,
            min_weight: if p.clip > 0.0 { p.clip } else { 1.0 },
            min_kernel: taylor::min_on(degree, b) / phi_sq,
        })
    }

    /// q̂ = clip(q)/r_q.
    pub fn qhat(&self, q: &[f32]) -> Vec<f64> {
        clip_to_ball(q, self.radius_q)
            .iter()
            .map(|x| x / self.radius_q)
            .collect()
    }

    /// Exact softmax attention over the clipped rows (the `clip` pipeline).
    pub fn clip_output(&self, q: &[f32]) -> Vec<f64> {
        let qc = clip_to_ball(q, self.radius_q);
        softmax_attention(&qc, &self.kc, &self.vc, self.tau)
    }

    /// The exact (noise-free) query vector U = ψ(q̂)ᵀS in normalised payload units:
    /// U_j = Σ_i c_i·K_i·v̂_ij/W (j < dv), U_dv = Σ_i c_i·K_i·γ/W, K_i = P_s(B<q̂, k̂_i>)/Φ².
    pub fn exact_u(&self, qhat: &[f64]) -> Vec<f64> {
        let mut u = vec![0.0; self.dv + 1];
        for ((k, v), &c) in self
            .khat
            .chunks_exact(self.d)
            .zip(self.vc.chunks_exact(self.dv))
            .zip(&self.weight)
        {
            let t = self.b * k.iter().zip(qhat).map(|(a, b)| a * b).sum::<f64>();
            let kw = c * taylor_exp(self.degree, t) / self.phi_sq;
            for (uj, x) in u.iter_mut().zip(v) {
                *uj += kw * x / self.radius_v / self.w;
            }
            u[self.dv] += kw * self.gamma / self.w;
        }
        u
    }

    /// The library's post-processing of a (noisy) U: denominator floor, then
    /// ô = r_v·γ·U_num/U_den, projected onto the r_v-ball. Returns (ô, floor used).
    pub fn finish(&self, u: &[f64]) -> (Vec<f64>, bool) {
        let floor = self.n as f64 * self.min_weight * self.min_kernel * self.gamma / self.w;
        let den = u[self.dv];
        let (den, hit) = if den < floor {
            (floor, true)
        } else {
            (den, false)
        };
        let mut o: Vec<f64> = u[..self.dv]
            .iter()
            .map(|x| self.radius_v * self.gamma * x / den)
            .collect();
        project(&mut o, self.radius_v);
        (o, hit)
    }

    /// Our pipeline without noise (the `kernel` pipeline).
    pub fn kernel_output(&self, q: &[f32]) -> Vec<f64> {
        self.finish(&self.exact_u(&self.qhat(q))).0
    }

    /// Mean of the clipped values (what the uniform baseline releases, before noise).
    pub fn value_mean(&self) -> Vec<f64> {
        let mut m = vec![0.0; self.dv];
        for v in self.vc.chunks_exact(self.dv) {
            m.iter_mut().zip(v).for_each(|(a, x)| *a += x);
        }
        m.iter_mut().for_each(|a| *a /= self.n as f64);
        m
    }
}

// ---------------------------------------------------------------------------------------
// The polynomial feature map in f64 (for the paper's per-entry noise).

/// The monomials of the kernel: ψ_α(x̂) = scale_α · x̂^α, and max_{‖x̂‖ ≤ 1} |ψ_α(x̂)|.
pub struct Monomials {
    /// Index sequences i₁ ≤ … ≤ i_k, flattened; `start[a]..start[a+1]` is monomial a.
    idx: Vec<u16>,
    start: Vec<u32>,
    /// √(B^|α| / α!) / Φ.
    pub scale: Vec<f64>,
    /// max over the unit ball of |ψ_α| = scale_α · √(Π_i (α_i/|α|)^{α_i}) (attained on the
    /// sphere; Lagrange multipliers on Σ x_i² = 1 give x_i² = α_i/|α|).
    pub max_abs: Vec<f64>,
}

impl Monomials {
    pub fn new(d: usize, s: u32, b: f64) -> Monomials {
        let phi = taylor_exp(s, b).sqrt();
        let mut m = Monomials {
            idx: Vec::new(),
            start: vec![0],
            scale: Vec::new(),
            max_abs: Vec::new(),
        };
        let mut seq = Vec::with_capacity(s as usize);
        m.visit(d, s as usize, b, phi, 0, &mut seq);
        m
    }

    fn visit(&mut self, d: usize, s: usize, b: f64, phi: f64, from: usize, seq: &mut Vec<u16>) {
        // Emit the current sequence.
        let k = seq.len();
        let (mut fact, mut sphere) = (1.0f64, 1.0f64);
        let mut i = 0;
        while i < k {
            let mut j = i;
            while j < k && seq[j] == seq[i] {
                j += 1;
            }
            let a = (j - i) as f64;
            fact *= (1..=(j - i)).map(|x| x as f64).product::<f64>();
            sphere *= (a / k as f64).powf(a);
            i = j;
        }
        let scale = (b.powi(k as i32) / fact).sqrt() / phi;
        self.scale.push(scale);
        self.max_abs.push(scale * sphere.sqrt());
        self.idx.extend_from_slice(seq);
        self.start.push(self.idx.len() as u32);
        if k < s {
            for i in from..d {
                seq.push(i as u16);
                self.visit(d, s, b, phi, i, seq);
                seq.pop();
            }
        }
    }

    /// Number of features r.
    pub fn len(&self) -> usize {
        self.scale.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scale.is_empty()
    }

    /// ψ(x̂) for x̂ in the unit ball.
    pub fn eval(&self, x: &[f64]) -> Vec<f64> {
        (0..self.len())
            .map(|a| {
                let (s, e) = (self.start[a] as usize, self.start[a + 1] as usize);
                self.scale[a]
                    * self.idx[s..e]
                        .iter()
                        .map(|&i| x[i as usize])
                        .product::<f64>()
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// Privacy calibration of the baselines.

/// The Gaussian σ for L2 sensitivity `l2` at (ε, δ), from the library's calibration (the
/// analytic Gaussian mechanism). It is linear in `l2`.
pub fn gaussian_sigma(epsilon: f64, delta: f64, l2: f64) -> Result<f64, String> {
    dpxattn::privacy::analytic_gaussian_sigma(epsilon, delta, l2).map_err(|e| format!("{e:?}"))
}

/// The paper's calibration (DESIGN §2.7) for one head's aggregate: one scalar Gaussian
/// mechanism per entry (α, j) of the r×(dv+1) aggregate, k = parts·r·(dv+1) mechanisms in
/// all, each with its own replace-one sensitivity 2·max|ψ_α|·max|ω_j| over the unit balls
/// (min'ed with 2C under contribution clipping; ×√levels for a tree, where one row touches
/// one node per level), each at (ε₀, δ₀) from `dpxattn::privacy::advanced_composition_split`.
pub struct PaperCalibration {
    pub k: u64,
    pub eps0: f64,
    pub delta0: f64,
    /// σ per unit of sensitivity at (ε₀, δ₀).
    pub sigma_unit: f64,
    /// σ of entry (α, j), row-major by α then j.
    pub sigma: Vec<f64>,
    pub r: usize,
    pub cols: usize,
}

impl PaperCalibration {
    pub fn new(
        mono: &Monomials,
        dv: usize,
        p: &Params,
        levels: u32,
    ) -> Result<PaperCalibration, String> {
        let r = mono.len();
        let cols = dv + 1;
        let k = (r * cols) as u64 * u64::from(p.parts.max(1));
        // The paper's per-mechanism budget: advanced composition with δ'' = δ/2, δ₀ = δ/(2k)
        // (Dwork & Roth 2014, Thm 3.20), as implemented (rounded down) by the library.
        let (eps0, delta0) = dpxattn::privacy::advanced_composition_split(p.epsilon, p.delta, k)
            .map_err(|e| format!("advanced composition: {e:?}"))?;
        let sigma_unit = gaussian_sigma(eps0, delta0, 1.0)?;
        let w = (1.0 + p.gamma * p.gamma).sqrt();
        let lv = f64::from(levels).sqrt();
        let mut sigma = Vec::with_capacity(r * cols);
        for &mp in &mono.max_abs {
            for j in 0..cols {
                // |v̂_j| ≤ 1 on the unit ball, so |ω_j| ≤ 1/W; the last column is γ/W.
                let mo = if j < dv { 1.0 / w } else { p.gamma / w };
                let mut sens = 2.0 * mp * mo;
                if p.clip > 0.0 {
                    sens = sens.min(2.0 * p.clip);
                }
                sigma.push(sigma_unit * lv * sens);
            }
        }
        Ok(PaperCalibration {
            k,
            eps0,
            delta0,
            sigma_unit,
            sigma,
            r,
            cols,
        })
    }

    /// Std of the noise of coordinate j of ψᵀZ for a given ψ(q̂), summing `m` nodes.
    pub fn column_std(&self, psi: &[f64], j: usize, m: f64) -> f64 {
        let v: f64 = psi
            .iter()
            .enumerate()
            .map(|(a, x)| x * x * self.sigma[a * self.cols + j].powi(2))
            .sum();
        (v * m).sqrt()
    }
}

/// A standard normal draw (Box–Muller, f64). Only for the *simulated* paper baseline,
/// whose error statistics are all we need; the library itself never uses float noise.
pub fn std_normal(rng: &mut ChaCha20Rng) -> f64 {
    let u1 = ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let u2 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The DP-uniform baseline: the mean of the clipped values, rounded to a grid of
/// `unit = σ·2⁻²⁰`, plus exact discrete Gaussian noise from the library's sampler, then
/// projected onto the r_v-ball. σ is the analytic Gaussian σ for the replace-one L2
/// sensitivity of the mean, 2·r_v/n, plus the grid rounding (½·unit·√dv per row, twice),
/// ×√parts for `parts` releases over the same rows. Returns (output, σ).
pub fn uniform_release(
    prep: &Prepared,
    p: &Params,
    rng: &mut ChaCha20Rng,
) -> Result<(Vec<f64>, f64), String> {
    let parts = p.parts.max(1);
    let sigma_for = |l2: f64| {
        dpxattn::privacy::gaussian_sigma_for_parts(p.epsilon, p.delta, l2, parts)
            .map_err(|e| format!("{e:?}"))
    };
    let l2_exact = 2.0 * prep.radius_v / prep.n as f64;
    let unit = sigma_for(l2_exact)? / f64::from(1u32 << 20);
    let sigma = sigma_for(l2_exact + unit * (prep.dv as f64).sqrt())?;
    let units = (sigma / unit).ceil() as u64;
    let g = dpxattn::samplers::DiscreteGaussian::new(dpxattn::samplers::Rational::integer(units))
        .map_err(|e| format!("{e:?}"))?;
    let mut out = Vec::with_capacity(prep.dv);
    for m in prep.value_mean() {
        let z = g.sample(rng).map_err(|e| format!("{e:?}"))?;
        out.push(((m / unit).round() + z as f64) * unit);
    }
    project(&mut out, prep.radius_v);
    Ok((out, units as f64 * unit))
}

// ---------------------------------------------------------------------------------------
// One head, end to end.

/// Per-row errors of the five pipelines (‖ô − o‖ / rms‖o‖), trial-major.
#[derive(Default, Clone)]
pub struct Errors {
    pub dp: Vec<f64>,
    pub uniform: Vec<f64>,
    pub paper: Vec<f64>,
    pub kernel: Vec<f64>,
    pub clip: Vec<f64>,
}

impl Errors {
    pub fn extend(&mut self, o: &Errors) {
        self.dp.extend_from_slice(&o.dp);
        self.uniform.extend_from_slice(&o.uniform);
        self.paper.extend_from_slice(&o.paper);
        self.kernel.extend_from_slice(&o.kernel);
        self.clip.extend_from_slice(&o.clip);
    }
}

/// Everything measured on one head.
pub struct HeadReport {
    pub radius_v: f64,
    /// rms‖o‖ over the head's query rows (the error unit).
    pub rms: f64,
    pub features: usize,
    pub degree: u32,
    pub image_bytes: usize,
    /// σ of the structure (normalised payload units).
    pub sigma: f64,
    /// σ of the uniform baseline per coordinate (value units).
    pub uniform_sigma: f64,
    /// The paper's per-mechanism budget and mechanism count.
    pub paper_eps0: f64,
    pub paper_k: u64,
    /// Median over rows of the paper's value-column noise std / ours (same ψ(q̂)).
    pub paper_noise_ratio: f64,
    pub errors: Errors,
    /// Noise parts only, in units of r_v: ‖dp − kernel‖, ‖uniform − mean‖, ‖paper − kernel‖.
    pub dp_noise: Vec<f64>,
    pub uniform_noise: Vec<f64>,
    pub paper_noise: Vec<f64>,
    /// The kernel's own error ‖kernel − clip‖ / r_v per row (deterministic, once).
    pub kernel_vs_clip: Vec<f64>,
    /// The attention signal the noise-free structure keeps, per row, in units of r_v:
    /// √max(‖o − mean(v)‖² − ‖o − o_kernel‖², 0), where mean(v) is the mean of the
    /// clipped values (what the uniform baseline releases) and o_kernel the structure's
    /// output without noise (clipping and kernel included). The structure beats the
    /// uniform baseline when this exceeds `Prediction::break_even_signal` (see
    /// examples/plan.rs). On a *public* text it is the planner's `--signal`.
    pub signal: Vec<f64>,
    /// Queries (over all trials) whose noisy denominator fell below the floor.
    pub dp_floor_hits: usize,
    pub paper_floor_hits: usize,
    /// The library's a-priori numbers.
    pub prediction: Prediction,
    /// `Plan::bound(n, 0.05)`: single-query total, in units of r_v.
    pub bound_single: f64,
}

/// A seed for stream `which` of trial `trial` of head `head` (SplitMix64 finaliser), so
/// that every pipeline draws independent, reproducible noise.
pub fn stream_seed(seed: u64, head: usize, trial: usize, which: u64) -> u64 {
    let mut z = seed
        ^ (head as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (trial as u64).wrapping_mul(0xD1B5_4A32_D192_ED03)
        ^ which.wrapping_mul(0x8CB9_2BA7_2F3D_8DD7);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// An 8-aligned, zeroed byte buffer (the library takes the caller's memory).
struct Aligned(Vec<u64>, usize);
impl Aligned {
    fn new(bytes: usize) -> Self {
        Aligned(vec![0u64; bytes.div_ceil(8)], bytes)
    }
    fn bytes(&mut self) -> &mut [u8] {
        let n = self.1;
        &mut bytemuck::cast_slice_mut::<u64, u8>(&mut self.0)[..n]
    }
    fn get(&self) -> &[u8] {
        &bytemuck::cast_slice::<u64, u8>(&self.0)[..self.1]
    }
}

/// Evaluates one head with `p` (radius_v etc. already chosen; `n_max` is set to the head's
/// n) over `trials` independent releases. `head` only selects the noise streams.
pub fn eval_head(
    h: &HeadData,
    p: &Params,
    head: usize,
    trials: usize,
    seed: u64,
) -> Result<HeadReport, String> {
    h.check()?;
    let mut p = *p;
    p.n_max = h.n as u32;
    let plan = Plan::new(&p).map_err(|e| format!("plan: {e:?}"))?;
    let degree = plan.degree();
    let prep = Prepared::new(h, &p, degree)?;
    let mono = Monomials::new(h.d, degree, prep.b);
    if mono.len() != plan.features() {
        return Err(format!(
            "feature count mismatch: {} vs {}",
            mono.len(),
            plan.features()
        ));
    }
    let m_nodes = {
        // Nodes a full-range query sums: 1 for flat; for a tree, the dyadic cover of all
        // built blocks (the same count Plan::bound uses).
        if p.block == 0 {
            1.0
        } else {
            let blocks = h.n.div_ceil(p.block as usize);
            dyadic_cover_count(blocks, plan.blocks()) as f64
        }
    };
    let paper = PaperCalibration::new(&mono, h.dv, &p, plan.levels())?;
    let rms = rms_norm(h.o, h.dv);
    let rv = p.radius_v;
    let outputs: Vec<Vec<f64>> = h.o.chunks_exact(h.dv).map(to_f64).collect();

    // Deterministic pipelines, once.
    let mut clip_out = Vec::with_capacity(h.m);
    let mut ker_out = Vec::with_capacity(h.m);
    let mut exact_u = Vec::with_capacity(h.m);
    let mut psis = Vec::with_capacity(h.m);
    for q in h.q.chunks_exact(h.d) {
        clip_out.push(prep.clip_output(q));
        let qh = prep.qhat(q);
        let u = prep.exact_u(&qh);
        ker_out.push(prep.finish(&u).0);
        exact_u.push(u);
        psis.push(mono.eval(&qh));
    }
    let paper_noise_ratio = median(
        &psis
            .iter()
            .map(|psi| paper.column_std(psi, 0, m_nodes) / (plan.sigma() * m_nodes.sqrt()))
            .collect::<Vec<_>>(),
    );

    let mut rep = HeadReport {
        radius_v: rv,
        rms,
        features: plan.features(),
        degree,
        image_bytes: plan.image_bytes(),
        sigma: plan.sigma(),
        uniform_sigma: 0.0,
        paper_eps0: paper.eps0,
        paper_k: paper.k,
        paper_noise_ratio,
        errors: Errors::default(),
        dp_noise: Vec::new(),
        uniform_noise: Vec::new(),
        paper_noise: Vec::new(),
        kernel_vs_clip: ker_out
            .iter()
            .zip(&clip_out)
            .map(|(k, c)| dist(k, c) / rv)
            .collect(),
        signal: {
            let mean = prep.value_mean();
            outputs
                .iter()
                .zip(&ker_out)
                .map(|(o, c)| {
                    let (a, b) = (dist(o, &mean), dist(o, c));
                    (a * a - b * b).max(0.0).sqrt() / rv
                })
                .collect()
        },
        dp_floor_hits: 0,
        paper_floor_hits: 0,
        prediction: plan.predict(h.n as u32),
        bound_single: plan
            .bound(h.n as u32, 0.05)
            .map_err(|e| format!("{e:?}"))?
            .single
            / rv,
    };

    let mut image = Aligned::new(plan.image_bytes());
    let mut scratch = Aligned::new(plan.build_scratch_bytes());
    let mut qscratch = Aligned::new(plan.query_scratch_bytes());
    let mut out32 = vec![0f32; h.dv];
    for trial in 0..trials {
        // dp: the library.
        let mut rng = ChaCha20Rng::seed_from_u64(stream_seed(seed, head, trial, 1));
        build(&plan, image.bytes(), h.k, h.v, &mut rng, scratch.bytes())
            .map_err(|e| format!("build: {e:?}"))?;
        let attn = Attn::open(image.get()).map_err(|e| format!("open: {e:?}"))?;
        // uniform.
        let mut rng = ChaCha20Rng::seed_from_u64(stream_seed(seed, head, trial, 2));
        let (uni, su) = uniform_release(&prep, &p, &mut rng)?;
        rep.uniform_sigma = su;
        let mean = prep.value_mean();
        // paper: one noise matrix Z (r × (dv+1)) per release; a full-range query sums
        // m_nodes independent node noises per entry.
        let mut rng = ChaCha20Rng::seed_from_u64(stream_seed(seed, head, trial, 3));
        let z: Vec<f64> = paper
            .sigma
            .iter()
            .map(|s| s * m_nodes.sqrt() * std_normal(&mut rng))
            .collect();

        for (i, q) in h.q.chunks_exact(h.d).enumerate() {
            let o = &outputs[i];
            let info = attn
                .query(q, &mut out32, qscratch.bytes())
                .map_err(|e| format!("query: {e:?}"))?;
            rep.dp_floor_hits += usize::from(info.floor_used);
            let dp = to_f64(&out32);
            let mut u = exact_u[i].clone();
            for (a, x) in psis[i].iter().enumerate() {
                for (j, uj) in u.iter_mut().enumerate() {
                    *uj += x * z[a * paper.cols + j];
                }
            }
            let (pap, hit) = prep.finish(&u);
            rep.paper_floor_hits += usize::from(hit);

            rep.errors.dp.push(dist(&dp, o) / rms);
            rep.errors.uniform.push(dist(&uni, o) / rms);
            rep.errors.paper.push(dist(&pap, o) / rms);
            rep.errors.kernel.push(dist(&ker_out[i], o) / rms);
            rep.errors.clip.push(dist(&clip_out[i], o) / rms);
            rep.dp_noise.push(dist(&dp, &ker_out[i]) / rv);
            rep.paper_noise.push(dist(&pap, &ker_out[i]) / rv);
            rep.uniform_noise.push(dist(&uni, &mean) / rv);
        }
    }
    Ok(rep)
}

/// Nodes in the greedy dyadic cover of blocks [0, blocks) of a tree over `blocks_max`
/// leaves (mirrors the library's layout: level ℓ has blocks_max >> ℓ nodes).
pub fn dyadic_cover_count(blocks: usize, blocks_max: usize) -> usize {
    let levels = (usize::BITS - blocks_max.leading_zeros()) as usize;
    let (mut pos, mut count) = (0usize, 0usize);
    while pos < blocks {
        let mut l = 0;
        while l + 1 < levels {
            let span = 1usize << (l + 1);
            if pos % span != 0 || pos + span > blocks || (pos >> (l + 1)) >= (blocks_max >> (l + 1))
            {
                break;
            }
            l += 1;
        }
        pos += 1 << l;
        count += 1;
    }
    count
}

/// Medians over heads × query rows (× trials).
pub struct Summary {
    pub n: usize,
    pub heads: usize,
    pub epsilon: f64,
    pub delta: f64,
    pub dp_err: f64,
    pub uniform_err: f64,
    pub paper_err: f64,
    pub kernel_err: f64,
    pub clip_err: f64,
}

impl Summary {
    pub fn new(n: usize, p: &Params, reports: &[HeadReport]) -> Summary {
        let mut all = Errors::default();
        reports.iter().for_each(|r| all.extend(&r.errors));
        Summary {
            n,
            heads: reports.len(),
            epsilon: p.epsilon,
            delta: p.delta,
            dp_err: median(&all.dp),
            uniform_err: median(&all.uniform),
            paper_err: median(&all.paper),
            kernel_err: median(&all.kernel),
            clip_err: median(&all.clip),
        }
    }

    /// The summary line of the JSON contract (issue 6), exactly these keys in this order.
    pub fn json(&self) -> String {
        format!(
            "{{\"kind\":\"summary\",\"n\":{},\"heads\":{},\"epsilon\":{},\"delta\":{},\"dp_err\":{},\"uniform_err\":{},\"paper_err\":{},\"kernel_err\":{},\"clip_err\":{}}}",
            self.n,
            self.heads,
            json_num(self.epsilon),
            json_num(self.delta),
            json_num(self.dp_err),
            json_num(self.uniform_err),
            json_num(self.paper_err),
            json_num(self.kernel_err),
            json_num(self.clip_err),
        )
    }
}

/// A JSON number (finite f64 in Rust's shortest round-trip form; non-finite → null).
pub fn json_num(x: f64) -> String {
    if x.is_finite() {
        let s = format!("{x:?}");
        // `{:?}` prints e.g. 1e-5 as "1e-5" and 2.0 as "2.0": both valid JSON numbers.
        s
    } else {
        "null".into()
    }
}

/// Which noise kind the parameters use, for printing.
pub fn mechanism_name(p: &Params) -> &'static str {
    match p.mechanism {
        NoiseKind::Gaussian => "gaussian",
        NoiseKind::Laplace => "laplace",
    }
}
