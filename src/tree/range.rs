//! [`DPTree`]: a differentially private array of `n` bounded values that answers range sums,
//! built at once or streamed (continual release).
//!
//! # Privacy
//! Neighbouring arrays differ in one entry (both in `[−Δ, Δ]`). Entry `v` is stored as
//! `round(v·2^F)`, so one entry is at most `D = round(Δ·2^F)` grid units and a replacement
//! changes one leaf by at most `2D`; the leaf is in at most `L = ⌊log2 n⌋ + 1` nodes, so the
//! node vector has L1 sensitivity `2DL` and L2 sensitivity `2D√L` (see
//! [`Calibration`](super::Calibration)). Each node gets independent discrete Laplace noise
//! of scale `≥ 2DL/ε` (ε-DP) or discrete Gaussian noise with σ from
//! `privacy::discrete_gaussian_sigma(ε, δ, 2D√L, n)` ((ε, δ)-DP). In streaming, node `i`
//! is noised when leaf `i` arrives and never changes, so the released sequence of images is
//! a post-processing of the same noised node vector (the binary mechanism of Chan, Shi and
//! Song 2011; the stream is fixed in advance, the standard continual-observation model).
//!
//! # Accuracy
//! A range `[a, b)` is `prefix(b) − prefix(a)`: the nodes of the two Fenwick chains that
//! differ, `k ≤ 2L` of them, each with coefficient ±1. [`DPTree::bound`] returns, for
//! probability `1 − β`, `h·t(k, β) + (b − a)·h/2` (+ a float-conversion term), where `t` is
//! the subgaussian tail for the discrete Gaussian and the exact geometric / Chernoff tail for
//! the discrete Laplace (see `tail.rs`), and `(b − a)·h/2` the worst-case rounding of the
//! inputs to the grid of step `h`.

use super::calib::{Budget, Calibration, plan_part};
use super::fenwick::{self, chain, lowbit, overlap};
use super::image::{self, Header, Kind, MAGIC_DONE, PartDesc};
use super::noise::{NodeNoise, OVERFLOW, zeroise};
use super::tail::{Shape, noise_tail};
use super::{Bound, MAX_LEAVES, Noise, check_budget, up};
use crate::{AlignedBuf, Error, Result};
use rand_core::TryRng;

/// Public parameters of a [`DPTree`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DPTreeParams {
    /// Number of values `n` (capacity; public), 1 ..= [`MAX_LEAVES`](super::MAX_LEAVES).
    pub n: usize,
    /// Public bound Δ: every value must lie in `[−Δ, Δ]`; finite and > 0.
    pub value_bound: f64,
    /// Noise family.
    pub noise: Noise,
    /// ε > 0.
    pub epsilon: f64,
    /// δ in (0, 1) for [`Noise::Gaussian`]; ignored (0) for [`Noise::Laplace`].
    pub delta: f64,
}

/// Everything derived from [`DPTreeParams`]: sizes and the calibration. Pure.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DPTreePlan {
    /// The parameters (δ normalised to 0 for Laplace).
    pub params: DPTreeParams,
    /// `L = ⌊log2 n⌋ + 1`: nodes per value.
    pub levels: u32,
    /// Grid, sensitivities and noise scale.
    pub calibration: Calibration,
    /// Exact image size in bytes: `160 + 8n`.
    pub image_bytes: usize,
    /// Exact streaming-state size in bytes: `32 + 8L` (only [`DPTreeWriter`] needs it).
    pub state_bytes: usize,
}

const STATE_MAGIC: [u8; 4] = *b"DPXS";
const STATE_HEADER: usize = 32;
/// State bytes for the largest `n` (`L = 32`): what [`DPTree::build`] keeps on the stack.
const STATE_MAX: usize = STATE_HEADER + 8 * 32;

impl DPTreePlan {
    /// Validate `params` and derive the plan.
    ///
    /// # Errors
    /// [`Error::InvalidDimension`] (n = 0 or too large), [`Error::InvalidParameter`]
    /// (Δ not finite and > 0), [`Error::InvalidEpsilon`], [`Error::InvalidDelta`],
    /// [`Error::PrecisionTooLow`] / [`Error::SizeOverflow`] (no grid or size fits).
    pub fn new(params: &DPTreeParams) -> Result<Self> {
        if params.n == 0 || params.n > MAX_LEAVES {
            return Err(Error::InvalidDimension);
        }
        if !(params.value_bound.is_finite() && params.value_bound > 0.0) {
            return Err(Error::InvalidParameter);
        }
        let delta = check_budget(params.noise, params.epsilon, params.delta)?;
        let n = params.n as u64;
        let levels = fenwick::levels(n);
        let budget = match params.noise {
            Noise::Laplace => Budget::Laplace {
                epsilon: params.epsilon,
            },
            Noise::Gaussian => Budget::GaussianDp {
                epsilon: params.epsilon,
                delta,
                dims: n,
            },
        };
        let calibration = plan_part(params.noise, params.value_bound, n, levels, budget)?;
        let image_bytes = image::image_bytes(1, n, 1, 0)?;
        let state_bytes = STATE_HEADER + 8 * levels as usize;
        Ok(DPTreePlan {
            params: DPTreeParams { delta, ..*params },
            levels,
            calibration,
            image_bytes,
            state_bytes,
        })
    }

    /// Test-only: the same plan with the noise switched off (exact answers).
    #[cfg(test)]
    pub(crate) fn without_noise(mut self) -> Self {
        self.calibration.scale_num = 0;
        self.calibration.scale = 0.0;
        self
    }

    /// Re-derive the plan from `params` and check it equals `self`: the public fields are
    /// informative only, and a caller-edited plan (say, a smaller noise scale) is refused.
    fn verified(&self) -> Result<Self> {
        let fresh = DPTreePlan::new(&self.params)?;
        if fresh == *self {
            return Ok(fresh);
        }
        #[cfg(test)]
        if fresh.without_noise() == *self {
            return Ok(*self);
        }
        Err(Error::InvalidParameter)
    }

    fn part(&self) -> PartDesc {
        PartDesc {
            frac_bits: self.calibration.frac_bits,
            bound_int: self.calibration.bound_int,
            scale_num: self.calibration.scale_num,
            scale_den: self.calibration.scale_den,
        }
    }
}

/// Re-derive the plan an image claims and check that its stored calibration is exactly
/// what its (ε, δ, Δ, n) give: an image cannot carry less noise than its header promises.
fn replan(h: &Header, part: &PartDesc) -> Result<DPTreePlan> {
    let params = DPTreeParams {
        n: usize::try_from(h.leaves).map_err(|_| Error::CorruptImage)?,
        value_bound: h.param0,
        noise: h.noise,
        epsilon: h.epsilon,
        delta: h.delta,
    };
    let plan = DPTreePlan::new(&params).map_err(|_| Error::CorruptImage)?;
    if plan.part() == *part {
        return Ok(plan);
    }
    #[cfg(test)]
    if part.scale_num == 0
        && (PartDesc {
            scale_num: 0,
            ..plan.part()
        }) == *part
    {
        return Ok(plan.without_noise());
    }
    Err(Error::CorruptImage)
}

/// A read-only, validated view of a DPTree image (zero-copy; the image may live in flash).
#[derive(Clone, Copy, Debug)]
pub struct DPTree<'a> {
    image: &'a [u8],
    header: Header,
    cal: Calibration,
}

impl<'a> DPTree<'a> {
    /// Validate `image` (magic, version, kind, sizes, header and node checksums; O(n)) and
    /// return a view. The image may be the one a [`DPTreeWriter`] is still streaming into
    /// (then only its completed prefix is answerable).
    ///
    /// # Errors
    /// [`Error::Misaligned`], [`Error::BufferTooSmall`], [`Error::BadMagic`] (not a DPTree
    /// image), [`Error::UnsupportedVersion`], [`Error::ChecksumMismatch`],
    /// [`Error::CorruptImage`].
    pub fn open(image: &'a [u8]) -> Result<Self> {
        let t = Self::open_trusted(image)?;
        image::verify_nodes(image, &t.header)?;
        Ok(t)
    }

    /// [`open`](Self::open) without the O(n) node checksum: the header (CRC-32C), kind,
    /// sizes and calibration are still validated, so every later read stays inside the
    /// image. For the C ABI, whose handles re-open an image that `open` checked before.
    pub(crate) fn open_trusted(image: &'a [u8]) -> Result<Self> {
        let header = image::read_header(image, MAGIC_DONE)?;
        if header.kind != Kind::Range
            || header.parts != 1
            || header.dims != 1
            || header.width != 1
            || header.ext != 0
        {
            return Err(Error::BadMagic);
        }
        if header.count != header.filled || header.count_max != header.leaves {
            return Err(Error::CorruptImage);
        }
        let part = image::read_part(image, &header, 0)?;
        let cal = Calibration::from_stored(
            part.frac_bits,
            part.bound_int,
            part.scale_num,
            part.scale_den,
            header.levels,
        )?;
        Ok(DPTree { image, header, cal })
    }

    /// Capacity `n`.
    pub fn len(&self) -> usize {
        // leaves ≤ MAX_LEAVES was checked by the plan that wrote it or by `open`.
        usize::try_from(self.header.leaves).unwrap_or(usize::MAX)
    }

    /// Always false (a tree has n ≥ 1); for API symmetry with [`len`](Self::len).
    pub fn is_empty(&self) -> bool {
        self.header.leaves == 0
    }

    /// Values appended so far: ranges inside `[0, filled)` are answerable.
    pub fn filled(&self) -> usize {
        usize::try_from(self.header.filled).unwrap_or(usize::MAX)
    }

    /// Noise family.
    pub fn noise(&self) -> Noise {
        self.header.noise
    }

    /// ε spent.
    pub fn epsilon(&self) -> f64 {
        self.header.epsilon
    }

    /// δ spent (0 for Laplace).
    pub fn delta(&self) -> f64 {
        self.header.delta
    }

    /// The value bound Δ.
    pub fn value_bound(&self) -> f64 {
        self.header.param0
    }

    /// Grid, sensitivities and noise scale.
    pub fn calibration(&self) -> &Calibration {
        &self.cal
    }

    /// Audit: re-derive the calibration from the image's own (ε, δ, Δ, n) and check that
    /// the stored noise scale and grid are exactly what [`DPTreePlan::new`] gives, i.e. the
    /// image carries the noise its header promises. Costs one σ search.
    ///
    /// # Errors
    /// [`Error::CorruptImage`] if they differ.
    pub fn check_calibration(&self) -> Result<DPTreePlan> {
        let part = image::read_part(self.image, &self.header, 0)?;
        replan(&self.header, &part)
    }

    fn node(&self, i: u64) -> Result<i64> {
        image::rd_i64(self.image, image::node_at(&self.header, 0, i)?)
    }

    /// Noised prefix sum in grid units (at most 32 nodes of magnitude < 2^63: no overflow
    /// in `i128`).
    fn prefix_int(&self, b: u64) -> Result<i128> {
        let mut s: i128 = 0;
        for i in chain(b) {
            s += i128::from(self.node(i)?);
        }
        Ok(s)
    }

    fn check_range(&self, a: usize, b: usize) -> Result<(u64, u64)> {
        let (a, b) = (a as u64, b as u64);
        if a >= b || b > self.header.filled {
            return Err(Error::InvalidRange);
        }
        Ok((a, b))
    }

    /// Noised `Σ_{a ≤ i < b} v_i`, in the units of the values.
    ///
    /// # Errors
    /// [`Error::InvalidRange`] unless `a < b ≤ filled()`.
    pub fn range_sum(&self, a: usize, b: usize) -> Result<f64> {
        let (a, b) = self.check_range(a, b)?;
        let s = self.prefix_int(b)? - self.prefix_int(a)?;
        Ok(self.cal.real(s as f64))
    }

    /// Noised `Σ_{i < b} v_i` (same as `range_sum(0, b)`).
    ///
    /// # Errors
    /// [`Error::InvalidRange`] unless `0 < b ≤ filled()`.
    pub fn prefix_sum(&self, b: usize) -> Result<f64> {
        self.range_sum(0, b)
    }

    /// Error bound of [`range_sum(a, b)`](Self::range_sum) at probability `1 − beta`:
    /// `|answer − Σ_{a≤i<b} v_i| ≤ total` with probability ≥ 1 − β over the noise.
    ///
    /// # Errors
    /// [`Error::InvalidRange`]; [`Error::InvalidParameter`] unless `0 < beta < 1`.
    pub fn bound(&self, a: usize, b: usize, beta: f64) -> Result<Bound> {
        let (a, b) = self.check_range(a, b)?;
        let o = overlap(a, b);
        let shape = Shape {
            ones: u64::from(o.only_a) + u64::from(o.only_b),
            twos: 0,
        };
        let t = noise_tail(self.header.noise, self.cal.scale, shape, beta)?;
        let h = self.cal.grid;
        let m = (b - a) as f64;
        let noise = up(t * h);
        // Inputs: ≤ h/2 each. Output: the i128 → f64 conversion rounds by ≤ 2^−53 of a sum
        // that, on the same event, is ≤ m·D + t.
        let conv = (m * self.cal.bound_int as f64 + t) * h * f64::EPSILON;
        let rounding = up(m * h * 0.5 + conv);
        Ok(Bound::new(beta, noise, rounding, 0.0))
    }
}

impl<'a> DPTree<'a> {
    /// Build a tree from `values` in one call (`values.len() ≤ n`; a tree built from fewer
    /// values answers ranges inside `[0, values.len())`).
    ///
    /// Equivalent to [`DPTreeWriter::begin`], one [`push`](DPTreeWriter::push) and
    /// [`finish`](DPTreeWriter::finish), with the streaming state on the stack (≤ 288
    /// bytes, zeroised before returning).
    ///
    /// # Errors
    /// Those of [`DPTreeWriter::begin`] and [`DPTreeWriter::push`].
    pub fn build<V, R>(
        plan: &DPTreePlan,
        image: &'a mut [u8],
        values: &[V],
        rng: &mut R,
    ) -> Result<DPTree<'a>>
    where
        V: Copy + Into<f64>,
        R: TryRng + ?Sized,
    {
        // Validate first, so that a bad input leaves `image` untouched.
        validate(values, plan.params.n as u64, plan.params.value_bound)?;
        let mut state = AlignedBuf::<STATE_MAX>::new();
        let st = state
            .as_bytes_mut()
            .get_mut(..plan.state_bytes)
            .ok_or(Error::InvalidDimension)?;
        let mut w = DPTreeWriter::begin(plan, image, st)?;
        match w.push(values, rng) {
            Ok(()) => Ok(w.finish()),
            Err(e) => {
                // push zeroised image and state already (RNG / overflow); be explicit.
                zeroise(w.image);
                zeroise(w.state);
                Err(e)
            }
        }
    }
}

/// Check a batch: at most `room` values, each finite and in `[−bound, bound]`.
fn validate<V: Copy + Into<f64>>(values: &[V], room: u64, bound: f64) -> Result<()> {
    if values.len() as u64 > room {
        return Err(Error::TooManyRows);
    }
    for (row, v) in values.iter().enumerate() {
        let x: f64 = (*v).into();
        if !x.is_finite() {
            return Err(Error::NonFiniteInput { row });
        }
        // x is finite here, so the comparison is total.
        if x.abs() > bound {
            return Err(Error::OutOfRange { row });
        }
    }
    Ok(())
}

/// Streaming writer: appends values, noising and freezing node `i` when value `i` arrives.
///
/// The image is valid (and may be published and queried) at every moment between calls;
/// the exact partial sums (one per level) live in the separate private `state` buffer.
/// A writer can be dropped and re-attached with [`resume`](Self::resume) (this is how the C
/// ABI keeps it between calls); call [`finish`](Self::finish) to zeroise the state.
pub struct DPTreeWriter<'a, 's> {
    image: &'a mut [u8],
    state: &'s mut [u8],
    header: Header,
    cal: Calibration,
    noise: NodeNoise,
    levels: u32,
}

impl<'a, 's> DPTreeWriter<'a, 's> {
    /// Start a stream: write an empty (0 values, valid) image and a fresh state.
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`] if `image` is shorter than `plan.image_bytes` or `state`
    /// than `plan.state_bytes`; [`Error::Misaligned`] if either is not aligned to
    /// [`crate::ALIGN`]; [`Error::InvalidParameter`] if `plan` is not what
    /// [`DPTreePlan::new`] gives for its `params`. Nothing is written on error. Bytes past
    /// `image_bytes` / `state_bytes` are never touched.
    pub fn begin(plan: &DPTreePlan, image: &'a mut [u8], state: &'s mut [u8]) -> Result<Self> {
        let plan = &plan.verified()?;
        image::check_buffer(image, plan.image_bytes)?;
        image::check_buffer(state, plan.state_bytes)?;
        let noise = NodeNoise::new(
            plan.params.noise,
            plan.calibration.scale_num,
            plan.calibration.scale_den,
        )?;
        let image = image
            .get_mut(..plan.image_bytes)
            .ok_or(Error::BufferTooSmall)?;
        let state = state
            .get_mut(..plan.state_bytes)
            .ok_or(Error::BufferTooSmall)?;
        let n = plan.params.n as u64;
        let header = Header {
            kind: Kind::Range,
            noise: plan.params.noise,
            parts: 1,
            levels: plan.levels,
            leaves: n,
            filled: 0,
            count: 0,
            count_max: n,
            epsilon: plan.params.epsilon,
            delta: plan.params.delta,
            param0: plan.params.value_bound,
            param1: 0.0,
            dims: 1,
            width: 1,
            ext: 0,
            node_sum: 0,
        };
        zeroise(image);
        zeroise(state);
        image::write_header(image, MAGIC_DONE, &header)?;
        image::write_part(image, 0, &plan.part())?;
        image::seal(image, &header)?;
        let mut w = DPTreeWriter {
            image,
            state,
            header,
            cal: plan.calibration,
            noise,
            levels: plan.levels,
        };
        w.write_state_header()?;
        Ok(w)
    }

    /// Re-attach to a stream started by [`begin`](Self::begin): validates the image header
    /// (not the O(n) node checksum), re-derives its calibration from its parameters, and
    /// checks that `state` belongs to it.
    ///
    /// # Errors
    /// Those of [`DPTree::open`] for the image; [`Error::BuildState`] if `state` is not the
    /// live state of this image (zeroised by `finish`, or from another stream).
    pub fn resume(image: &'a mut [u8], state: &'s mut [u8]) -> Result<Self> {
        let header = image::read_header(image, MAGIC_DONE)?;
        if header.kind != Kind::Range || header.parts != 1 || header.width != 1 || header.ext != 0 {
            return Err(Error::BadMagic);
        }
        // The calibration is taken from the CRC-protected part table as `begin` wrote it
        // (re-deriving it costs a σ search per call; `DPTree::check_calibration` does that).
        let part = image::read_part(image, &header, 0)?;
        let cal = Calibration::from_stored(
            part.frac_bits,
            part.bound_int,
            part.scale_num,
            part.scale_den,
            header.levels,
        )?;
        let image_len = image::image_bytes(1, header.leaves, 1, 0)?;
        let state_len = STATE_HEADER + 8 * header.levels as usize;
        image::check_buffer(state, state_len).map_err(|e| match e {
            Error::BufferTooSmall => Error::BuildState,
            e => e,
        })?;
        let ok = image::rd_u32(state, 0)? == u32::from_le_bytes(STATE_MAGIC)
            && image::rd_u32(state, 4)? == header.levels
            && image::rd_u64(state, 8)? == header.leaves
            && image::rd_u64(state, 16)? == header.filled;
        if !ok {
            return Err(Error::BuildState);
        }
        let noise = NodeNoise::new(header.noise, part.scale_num, part.scale_den)?;
        Ok(DPTreeWriter {
            image: image.get_mut(..image_len).ok_or(Error::BufferTooSmall)?,
            state: state.get_mut(..state_len).ok_or(Error::BuildState)?,
            levels: header.levels,
            header,
            cal,
            noise,
        })
    }

    fn write_state_header(&mut self) -> Result<()> {
        image::wr_u32(self.state, 0, u32::from_le_bytes(STATE_MAGIC))?;
        image::wr_u32(self.state, 4, self.levels)?;
        image::wr_u64(self.state, 8, self.header.leaves)?;
        image::wr_u64(self.state, 16, self.header.filled)
    }

    /// Values appended so far.
    pub fn filled(&self) -> usize {
        usize::try_from(self.header.filled).unwrap_or(usize::MAX)
    }

    /// A read-only view of the image as it is now (the completed prefix is answerable).
    pub fn tree(&self) -> DPTree<'_> {
        DPTree {
            image: self.image,
            header: self.header,
            cal: self.cal,
        }
    }

    /// Append `values` (each in `[−Δ, Δ]`), noising one node per value.
    ///
    /// All values are checked first; on a validation error nothing is written.
    ///
    /// # Errors
    /// [`Error::TooManyRows`] (more than `n` values in total),
    /// [`Error::NonFiniteInput`] / [`Error::OutOfRange`] (with the index in `values`) —
    /// nothing written; [`Error::Rng`] or [`Error::SampleOverflow`] — the image and the
    /// state are zeroised (the stream ends, nothing further is released).
    pub fn push<V, R>(&mut self, values: &[V], rng: &mut R) -> Result<()>
    where
        V: Copy + Into<f64>,
        R: TryRng + ?Sized,
    {
        let room = self.header.leaves.saturating_sub(self.header.filled);
        validate(values, room, self.header.param0)?;
        match self.push_checked(values, rng) {
            Ok(()) => Ok(()),
            Err(e) => {
                zeroise(self.image);
                zeroise(self.state);
                Err(e)
            }
        }
    }

    fn push_checked<V, R>(&mut self, values: &[V], rng: &mut R) -> Result<()>
    where
        V: Copy + Into<f64>,
        R: TryRng + ?Sized,
    {
        let f = self.cal.frac_bits;
        let d = self.cal.bound_int as i64;
        for (row, v) in values.iter().enumerate() {
            let x: f64 = (*v).into();
            // |x| ≤ Δ, so |x·2^F| ≤ Δ·2^F and, rounding being monotone, |q| ≤ D ≤ 2^52:
            // the f64 → i64 conversion is exact.
            let q = libm::round(libm::scalbn(x, f)) as i64;
            if q.unsigned_abs() > d.unsigned_abs() {
                return Err(Error::OutOfRange { row });
            }
            let i = self.header.filled + 1;
            // Node i = leaf i + the latest complete nodes of levels 0 .. k−1 (k = trailing
            // zeros of i): exactly the blocks that tile (i − 2^k, i − 1].
            let k = lowbit(i).trailing_zeros();
            let mut exact = q;
            for lvl in 0..k {
                let at = STATE_HEADER + 8 * lvl as usize;
                exact = exact
                    .checked_add(image::rd_i64(self.state, at)?)
                    .ok_or(Error::CorruptImage)?;
                image::wr_i64(self.state, at, 0)?;
            }
            // |exact| ≤ 2^k·D ≤ n·D ≤ 2^52 (calibration cap).
            image::wr_i64(self.state, STATE_HEADER + 8 * k as usize, exact)?;
            let z = self.noise.sample(rng)?;
            let noisy = exact.checked_add(z).ok_or(OVERFLOW)?;
            let at = image::node_at(&self.header, 0, i)?;
            image::wr_i64(self.image, at, noisy)?;
            self.header.node_sum = self
                .header
                .node_sum
                .wrapping_add(image::mix(image::word_key(&self.header, at), noisy));
            self.header.filled = i;
            self.header.count = i;
        }
        image::write_header(self.image, MAGIC_DONE, &self.header)?;
        image::seal(self.image, &self.header)?;
        image::wr_u64(self.state, 16, self.header.filled)
    }

    /// End the stream: zeroise the private state and return the read-only image view.
    pub fn finish(self) -> DPTree<'a> {
        zeroise(self.state);
        DPTree {
            image: self.image,
            header: self.header,
            cal: self.cal,
        }
    }
}
