//! The tree-family image: a self-describing, versioned, little-endian, position-independent
//! byte layout in the caller's buffer. The image *is* the serialised form.
//!
//! ```text
//! offset size  field
//!      0    4  magic        "DPXT" = finished/queryable, "DPXb" = build in progress
//!      4    2  version      1
//!      6    2  kind         1 range tree, 2 distance (1-D), 3 high-dim distance
//!      8    2  noise        1 discrete Gaussian, 2 discrete Laplace
//!     10    2  parts        T, number of Fenwick arrays
//!     12    4  levels       L = ⌊log2 leaves⌋ + 1
//!     16    8  leaves       leaves per array (n, or G cells)
//!     24    8  filled       leaves whose nodes are noised and frozen (streaming)
//!     32    8  count        contributions so far (values, or points)
//!     40    8  count_max    public cap on count
//!     48    8  epsilon      f64
//!     56    8  delta        f64 (0 for Laplace)
//!     64    8  param0       f64: value bound Δ (range) or radius R (distance)
//!     72    8  param1       f64: weight bound R_w (distance), else 0
//!     80    4  dims         d (1 unless high-dim or softmax)
//!     84    4  width        W, words per node (1, or the feature count r for softmax)
//!     88    8  node_sum     Σ mix(k, word_k) over all node words (wrapping; k from 1)
//!     96    4  ext          E, bytes of the kind-specific extension (multiple of 8)
//!    100   20  reserved     0
//!    120    8  header_check CRC-32C (low 32 bits) of bytes [0,120), the part table and
//!                           the extension
//!    128 32·T  part table   per array: frac_bits i32, 0 u32, D u64, scale_num u64, scale_den u64
//! 128+32T  E   extension    kind-specific public parameters (softmax: kernel constants)
//!    N0   8·T·leaves·W  nodes  i64; word f of node i (1-based) of array t at
//!                           N0 + 8·((t·leaves + i − 1)·W + f), N0 = 128 + 32T + E
//! ```
//!
//! Checksums detect corruption (truncated copies, flash bit errors); they are not a MAC
//! (see `crate::checksum`). `node_sum` is additive so that a streaming push updates it in
//! O(1).

use super::Noise;
use crate::{ALIGN, Error, Result};

pub(crate) const MAGIC_DONE: [u8; 4] = *b"DPXT";
pub(crate) const MAGIC_BUILDING: [u8; 4] = *b"DPXb";
pub(crate) const VERSION: u16 = 1;
pub(crate) const HEADER_BYTES: usize = 128;
pub(crate) const PART_BYTES: usize = 32;
const CHECK_AT: usize = 120;

/// Which structure an image holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Range = 1,
    Distance = 2,
    HighDim = 3,
    Softmax = 4,
}

impl Kind {
    fn from_u16(v: u16) -> Result<Self> {
        match v {
            1 => Ok(Kind::Range),
            2 => Ok(Kind::Distance),
            3 => Ok(Kind::HighDim),
            4 => Ok(Kind::Softmax),
            _ => Err(Error::CorruptImage),
        }
    }
}

pub(crate) fn noise_code(n: Noise) -> u16 {
    match n {
        Noise::Gaussian => 1,
        Noise::Laplace => 2,
    }
}

fn noise_from(v: u16) -> Result<Noise> {
    match v {
        1 => Ok(Noise::Gaussian),
        2 => Ok(Noise::Laplace),
        _ => Err(Error::CorruptImage),
    }
}

/// The decoded fixed header.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Header {
    pub kind: Kind,
    pub noise: Noise,
    pub parts: u16,
    pub levels: u32,
    pub leaves: u64,
    pub filled: u64,
    pub count: u64,
    pub count_max: u64,
    pub epsilon: f64,
    pub delta: f64,
    pub param0: f64,
    pub param1: f64,
    pub dims: u32,
    pub width: u32,
    pub ext: u32,
    pub node_sum: u64,
}

/// One part-table entry (what an array needs to be queried and re-checked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PartDesc {
    pub frac_bits: i32,
    pub bound_int: u64,
    pub scale_num: u64,
    pub scale_den: u64,
}

/// Exact image size: `128 + 32·T + E + 8·T·leaves·W`, or [`Error::SizeOverflow`].
pub(crate) fn image_bytes(parts: u64, leaves: u64, width: u64, ext: u64) -> Result<usize> {
    let nodes = parts
        .checked_mul(leaves)
        .and_then(|x| x.checked_mul(width))
        .and_then(|x| x.checked_mul(8))
        .ok_or(Error::SizeOverflow)?;
    let table = parts
        .checked_mul(PART_BYTES as u64)
        .ok_or(Error::SizeOverflow)?;
    let total = (HEADER_BYTES as u64)
        .checked_add(table)
        .and_then(|x| x.checked_add(ext))
        .and_then(|x| x.checked_add(nodes))
        .ok_or(Error::SizeOverflow)?;
    usize::try_from(total).map_err(|_| Error::SizeOverflow)
}

/// Byte offset of the extension.
pub(crate) fn ext_at(parts: u16) -> usize {
    HEADER_BYTES + PART_BYTES * usize::from(parts)
}

/// Byte offset of the node area.
pub(crate) fn nodes_at(h: &Header) -> usize {
    ext_at(h.parts) + h.ext as usize
}

/// Alignment and size check of a caller buffer, before anything is written.
pub(crate) fn check_buffer(buf: &[u8], need: usize) -> Result<()> {
    if buf.len() < need {
        return Err(Error::BufferTooSmall);
    }
    if !(buf.as_ptr() as usize).is_multiple_of(ALIGN) {
        return Err(Error::Misaligned);
    }
    Ok(())
}

fn rd<const N: usize>(buf: &[u8], at: usize) -> Result<[u8; N]> {
    let end = at.checked_add(N).ok_or(Error::CorruptImage)?;
    let s = buf.get(at..end).ok_or(Error::CorruptImage)?;
    let mut out = [0u8; N];
    out.copy_from_slice(s);
    Ok(out)
}

fn wr(buf: &mut [u8], at: usize, bytes: &[u8]) -> Result<()> {
    let end = at.checked_add(bytes.len()).ok_or(Error::BufferTooSmall)?;
    let s = buf.get_mut(at..end).ok_or(Error::BufferTooSmall)?;
    s.copy_from_slice(bytes);
    Ok(())
}

pub(crate) fn rd_u16(buf: &[u8], at: usize) -> Result<u16> {
    rd::<2>(buf, at).map(u16::from_le_bytes)
}
pub(crate) fn rd_u32(buf: &[u8], at: usize) -> Result<u32> {
    rd::<4>(buf, at).map(u32::from_le_bytes)
}
pub(crate) fn rd_u64(buf: &[u8], at: usize) -> Result<u64> {
    rd::<8>(buf, at).map(u64::from_le_bytes)
}
pub(crate) fn rd_i64(buf: &[u8], at: usize) -> Result<i64> {
    rd::<8>(buf, at).map(i64::from_le_bytes)
}
fn rd_f64(buf: &[u8], at: usize) -> Result<f64> {
    rd_u64(buf, at).map(f64::from_bits)
}
pub(crate) fn wr_u32(buf: &mut [u8], at: usize, v: u32) -> Result<()> {
    wr(buf, at, &v.to_le_bytes())
}
pub(crate) fn wr_u64(buf: &mut [u8], at: usize, v: u64) -> Result<()> {
    wr(buf, at, &v.to_le_bytes())
}
pub(crate) fn wr_i64(buf: &mut [u8], at: usize, v: i64) -> Result<()> {
    wr(buf, at, &v.to_le_bytes())
}

/// CRC-32C of the header (without its check field), the part table and the extension.
fn header_check(buf: &[u8], parts: u16, ext: u32) -> Result<u64> {
    let head = buf.get(..CHECK_AT).ok_or(Error::CorruptImage)?;
    let end = ext_at(parts)
        .checked_add(ext as usize)
        .ok_or(Error::CorruptImage)?;
    let rest = buf.get(HEADER_BYTES..end).ok_or(Error::CorruptImage)?;
    let mut c = crate::checksum::Crc32c::new();
    c.update(head);
    c.update(rest);
    Ok(u64::from(c.finish()))
}

/// Checksum term of one node word (0 for a zero word, so an empty array sums to 0).
pub(crate) fn mix(index: u64, word: i64) -> u64 {
    if word == 0 {
        return 0;
    }
    // splitmix64 finaliser of the word keyed by its position.
    let mut z = (word as u64) ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Write the fixed header with `magic` (the part table is written by [`write_part`]; call
/// [`seal`] afterwards).
pub(crate) fn write_header(buf: &mut [u8], magic: [u8; 4], h: &Header) -> Result<()> {
    let mut b = [0u8; HEADER_BYTES];
    // Constant ranges inside a 128-byte array: none of these slicings can fail.
    b[0..4].copy_from_slice(&magic);
    b[4..6].copy_from_slice(&VERSION.to_le_bytes());
    b[6..8].copy_from_slice(&(h.kind as u16).to_le_bytes());
    b[8..10].copy_from_slice(&noise_code(h.noise).to_le_bytes());
    b[10..12].copy_from_slice(&h.parts.to_le_bytes());
    b[12..16].copy_from_slice(&h.levels.to_le_bytes());
    b[16..24].copy_from_slice(&h.leaves.to_le_bytes());
    b[24..32].copy_from_slice(&h.filled.to_le_bytes());
    b[32..40].copy_from_slice(&h.count.to_le_bytes());
    b[40..48].copy_from_slice(&h.count_max.to_le_bytes());
    b[48..56].copy_from_slice(&h.epsilon.to_bits().to_le_bytes());
    b[56..64].copy_from_slice(&h.delta.to_bits().to_le_bytes());
    b[64..72].copy_from_slice(&h.param0.to_bits().to_le_bytes());
    b[72..80].copy_from_slice(&h.param1.to_bits().to_le_bytes());
    b[80..84].copy_from_slice(&h.dims.to_le_bytes());
    b[84..88].copy_from_slice(&h.width.to_le_bytes());
    b[88..96].copy_from_slice(&h.node_sum.to_le_bytes());
    b[96..100].copy_from_slice(&h.ext.to_le_bytes());
    wr(buf, 0, &b)
}

/// Write part-table entry `t`.
pub(crate) fn write_part(buf: &mut [u8], t: u16, p: &PartDesc) -> Result<()> {
    let at = HEADER_BYTES + PART_BYTES * usize::from(t);
    wr(buf, at, &p.frac_bits.to_le_bytes())?;
    wr_u32(buf, at + 4, 0)?;
    wr_u64(buf, at + 8, p.bound_int)?;
    wr_u64(buf, at + 16, p.scale_num)?;
    wr_u64(buf, at + 24, p.scale_den)
}

/// Recompute and store the header check (after any header, part-table or extension
/// change).
pub(crate) fn seal(buf: &mut [u8], h: &Header) -> Result<()> {
    let c = header_check(buf, h.parts, h.ext)?;
    wr_u64(buf, CHECK_AT, c)
}

/// Byte range of the extension.
pub(crate) fn ext_range(h: &Header) -> core::ops::Range<usize> {
    ext_at(h.parts)..nodes_at(h)
}

/// Total bytes of the image whose header starts `buf` (at least [`HEADER_BYTES`] bytes),
/// from the header's size fields alone: magic `magic`, version and sizes are checked, the
/// rest is left to [`read_header`] on the whole image. Lets the C ABI turn a handle (a
/// pointer to the image) back into a slice of the right length.
pub(crate) fn stored_len(buf: &[u8], magic: [u8; 4]) -> Result<usize> {
    if buf.len() < HEADER_BYTES {
        return Err(Error::BufferTooSmall);
    }
    if rd::<4>(buf, 0)? != magic {
        return Err(Error::BadMagic);
    }
    if rd_u16(buf, 4)? != VERSION {
        return Err(Error::UnsupportedVersion);
    }
    let parts = rd_u16(buf, 10)?;
    let leaves = rd_u64(buf, 16)?;
    let width = rd_u32(buf, 84)?;
    let ext = rd_u32(buf, 96)?;
    if parts == 0 || leaves == 0 || width == 0 || ext % 8 != 0 {
        return Err(Error::CorruptImage);
    }
    image_bytes(u64::from(parts), leaves, u64::from(width), u64::from(ext))
        .map_err(|_| Error::CorruptImage)
}

/// Decode and validate the header of `buf` whose magic must be `magic`: version, kind,
/// consistent sizes (the buffer holds the whole image) and the header check. Node words
/// are checked separately by [`verify_nodes`].
pub(crate) fn read_header(buf: &[u8], magic: [u8; 4]) -> Result<Header> {
    if !(buf.as_ptr() as usize).is_multiple_of(ALIGN) {
        return Err(Error::Misaligned);
    }
    if buf.len() < HEADER_BYTES {
        return Err(Error::BufferTooSmall);
    }
    if rd::<4>(buf, 0)? != magic {
        return Err(Error::BadMagic);
    }
    if rd_u16(buf, 4)? != VERSION {
        return Err(Error::UnsupportedVersion);
    }
    let parts = rd_u16(buf, 10)?;
    let leaves = rd_u64(buf, 16)?;
    let width = rd_u32(buf, 84)?;
    let ext = rd_u32(buf, 96)?;
    if parts == 0 || leaves == 0 || width == 0 || ext % 8 != 0 {
        return Err(Error::CorruptImage);
    }
    let need = image_bytes(u64::from(parts), leaves, u64::from(width), u64::from(ext))
        .map_err(|_| Error::CorruptImage)?;
    if buf.len() < need {
        return Err(Error::BufferTooSmall);
    }
    if header_check(buf, parts, ext)? != rd_u64(buf, CHECK_AT)? {
        return Err(Error::ChecksumMismatch);
    }
    let h = Header {
        kind: Kind::from_u16(rd_u16(buf, 6)?)?,
        noise: noise_from(rd_u16(buf, 8)?)?,
        parts,
        levels: rd_u32(buf, 12)?,
        leaves,
        filled: rd_u64(buf, 24)?,
        count: rd_u64(buf, 32)?,
        count_max: rd_u64(buf, 40)?,
        epsilon: rd_f64(buf, 48)?,
        delta: rd_f64(buf, 56)?,
        param0: rd_f64(buf, 64)?,
        param1: rd_f64(buf, 72)?,
        dims: rd_u32(buf, 80)?,
        width,
        ext,
        node_sum: rd_u64(buf, 88)?,
    };
    if h.levels != super::fenwick::levels(leaves) || h.filled > leaves || h.count > h.count_max {
        return Err(Error::CorruptImage);
    }
    Ok(h)
}

/// Read part-table entry `t`.
pub(crate) fn read_part(buf: &[u8], h: &Header, t: u16) -> Result<PartDesc> {
    if t >= h.parts {
        return Err(Error::CorruptImage);
    }
    let at = HEADER_BYTES + PART_BYTES * usize::from(t);
    Ok(PartDesc {
        frac_bits: i32::from_le_bytes(rd::<4>(buf, at)?),
        bound_int: rd_u64(buf, at + 8)?,
        scale_num: rd_u64(buf, at + 16)?,
        scale_den: rd_u64(buf, at + 24)?,
    })
}

/// Byte offset of the first word of node `i` (1-based) of array `t`.
pub(crate) fn node_at(h: &Header, t: u16, i: u64) -> Result<usize> {
    if t >= h.parts || i == 0 || i > h.leaves {
        return Err(Error::CorruptImage);
    }
    let word = u64::from(t)
        .checked_mul(h.leaves)
        .and_then(|x| x.checked_add(i - 1))
        .and_then(|x| x.checked_mul(u64::from(h.width)))
        .ok_or(Error::CorruptImage)?;
    let off = word
        .checked_mul(8)
        .and_then(|x| x.checked_add(nodes_at(h) as u64))
        .ok_or(Error::CorruptImage)?;
    usize::try_from(off).map_err(|_| Error::CorruptImage)
}

/// The checksum key of the node word at byte offset `at`: its 1-based word number in the
/// node area.
pub(crate) fn word_key(h: &Header, at: usize) -> u64 {
    (at.saturating_sub(nodes_at(h)) / 8) as u64 + 1
}

/// Recompute `node_sum` over every node word and compare (O(T·leaves·W)).
pub(crate) fn verify_nodes(buf: &[u8], h: &Header) -> Result<()> {
    let start = nodes_at(h);
    let end = image_bytes(
        u64::from(h.parts),
        h.leaves,
        u64::from(h.width),
        u64::from(h.ext),
    )?;
    let area = buf.get(start..end).ok_or(Error::CorruptImage)?;
    let mut sum = 0u64;
    for (k, w) in area.chunks_exact(8).enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        sum = sum.wrapping_add(mix(k as u64 + 1, i64::from_le_bytes(b)));
    }
    if sum != h.node_sum {
        return Err(Error::ChecksumMismatch);
    }
    Ok(())
}
