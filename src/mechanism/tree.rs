//! Shapes of the two layouts: sizes, node numbering and range decomposition.
//!
//! Flat: one node holding the aggregate over all rows. Tree: leaves are blocks of `block`
//! rows; level ℓ holds one node per complete dyadic run of 2^ℓ blocks, numbered
//! j = 0..blocks_max >> ℓ and covering blocks [j·2^ℓ, (j+1)·2^ℓ). A row of block b is in
//! node (ℓ, b >> ℓ) of every level whose node exists: at most `levels` nodes. Any block
//! range [a, b) is a disjoint union of at most 2·levels nodes (greedy dyadic cover).

use super::params::Params;
use super::plan::HEADER_BYTES;
use crate::{Error, Result};

/// Bytes of the build state kept at the start of the build scratch.
pub(crate) const STATE_BYTES: usize = 64;

/// Sizes and tree geometry of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct Shape {
    /// Rows per block (0 = flat).
    pub block: u32,
    /// Leaf blocks the layout holds (1 for flat).
    pub blocks_max: u32,
    /// Levels (1 for flat).
    pub levels: u32,
    /// Total nodes.
    pub nodes: u32,
    /// Most nodes one range query sums.
    pub max_query_nodes: u32,
    /// r·(dv+1).
    pub entries_per_node: usize,
    pub image_bytes: usize,
    pub build_scratch_bytes: usize,
    pub query_scratch_bytes: usize,
    pub r: usize,
    pub d: usize,
    pub dv: usize,
}

fn round8(x: usize) -> Option<usize> {
    x.checked_add(7).map(|v| v & !7)
}

impl Shape {
    pub fn new(p: &Params, r: usize) -> Result<Shape> {
        let (blocks_max, levels) = if p.block == 0 {
            (1u32, 1u32)
        } else {
            let bm = p.n_max.div_ceil(p.block);
            (bm, 32 - bm.leading_zeros())
        };
        let mut nodes: u32 = 0;
        for l in 0..levels {
            nodes = nodes
                .checked_add(blocks_max >> l)
                .ok_or(Error::SizeOverflow)?;
        }
        let max_query_nodes = if p.block == 0 { 1 } else { 2 * levels };
        let d = p.d as usize;
        let dv = p.dv as usize;
        let cols = dv.checked_add(1).ok_or(Error::SizeOverflow)?;
        let entries = r.checked_mul(cols).ok_or(Error::SizeOverflow)?;
        // Image words are addressed with u32 offsets in the header: keep them in range.
        let words = entries
            .checked_mul(nodes as usize)
            .filter(|&w| w <= (u32::MAX as usize) / 4)
            .ok_or(Error::SizeOverflow)?;
        let image_bytes = words
            .checked_mul(4)
            .and_then(|b| b.checked_add(HEADER_BYTES))
            .ok_or(Error::SizeOverflow)?;
        let acc = entries
            .checked_mul(levels as usize)
            .and_then(|x| x.checked_mul(8))
            .ok_or(Error::SizeOverflow)?;
        let psi =
            round8(r.checked_mul(4).ok_or(Error::SizeOverflow)?).ok_or(Error::SizeOverflow)?;
        let omega = round8(cols * 4).ok_or(Error::SizeOverflow)?;
        let xbuf = round8(d.max(dv).checked_mul(4).ok_or(Error::SizeOverflow)?)
            .ok_or(Error::SizeOverflow)?;
        let build_scratch_bytes = [STATE_BYTES, acc, psi, omega, xbuf]
            .iter()
            .try_fold(0usize, |a, &b| a.checked_add(b))
            .ok_or(Error::SizeOverflow)?;
        let ubuf = cols.checked_mul(8).ok_or(Error::SizeOverflow)?;
        let query_scratch_bytes = [psi, ubuf, xbuf]
            .iter()
            .try_fold(0usize, |a, &b| a.checked_add(b))
            .ok_or(Error::SizeOverflow)?;
        Ok(Shape {
            block: p.block,
            blocks_max,
            levels,
            nodes,
            max_query_nodes,
            entries_per_node: entries,
            image_bytes,
            build_scratch_bytes,
            query_scratch_bytes,
            r,
            d,
            dv,
        })
    }

    /// Number of nodes on level `l`.
    pub fn level_count(&self, l: u32) -> u32 {
        if l >= self.levels {
            0
        } else {
            self.blocks_max >> l
        }
    }

    /// Index of node (l, j) in the image, if it exists.
    pub fn node_index(&self, l: u32, j: u32) -> Option<usize> {
        if j >= self.level_count(l) {
            return None;
        }
        let mut off = 0usize;
        for ll in 0..l {
            off += self.level_count(ll) as usize;
        }
        Some(off + j as usize)
    }

    /// The greedy dyadic cover of blocks [a, b): yields (level, j) pairs.
    pub fn cover(&self, a: u32, b: u32) -> Cover<'_> {
        Cover {
            shape: self,
            pos: a,
            end: b,
        }
    }

    /// Rows in node (l, j) when `n` rows were built.
    #[cfg(test)]
    pub fn node_rows(&self, l: u32, j: u32, n: u32) -> u32 {
        if self.block == 0 {
            return n;
        }
        let span = u64::from(self.block) << l;
        let start = u64::from(j) * span;
        let end = (start + span).min(u64::from(n));
        end.saturating_sub(start) as u32
    }

    /// Blocks that hold at least one of `n` rows (1 for flat).
    pub fn blocks_built(&self, n: u32) -> u32 {
        if self.block == 0 {
            1
        } else {
            n.div_ceil(self.block)
        }
    }

    // Byte offsets inside the build scratch.
    pub fn scratch_acc(&self) -> (usize, usize) {
        (
            STATE_BYTES,
            self.entries_per_node * self.levels as usize * 8,
        )
    }
    pub fn scratch_psi(&self) -> (usize, usize) {
        let (o, l) = self.scratch_acc();
        (o + l, self.r * 4)
    }
    pub fn scratch_omega(&self) -> (usize, usize) {
        let (o, l) = self.scratch_psi();
        (o + l.div_ceil(8) * 8, (self.dv + 1) * 4)
    }
    pub fn scratch_x(&self) -> (usize, usize) {
        let (o, l) = self.scratch_omega();
        (o + l.div_ceil(8) * 8, self.d.max(self.dv) * 4)
    }
}

/// Iterator over the nodes covering a block range (see [`Shape::cover`]).
pub(crate) struct Cover<'a> {
    shape: &'a Shape,
    pos: u32,
    end: u32,
}

impl Iterator for Cover<'_> {
    type Item = (u32, u32);
    fn next(&mut self) -> Option<(u32, u32)> {
        if self.pos >= self.end {
            return None;
        }
        // The largest aligned dyadic run starting at pos that fits in [pos, end) and exists.
        let mut l = 0u32;
        while l + 1 < self.shape.levels {
            let span = 1u64 << (l + 1);
            let pos = u64::from(self.pos);
            if pos % span != 0
                || pos + span > u64::from(self.end)
                || (pos >> (l + 1)) >= u64::from(self.shape.level_count(l + 1))
            {
                break;
            }
            l += 1;
        }
        let j = self.pos >> l;
        self.pos += 1 << l;
        Some((l, j))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(n_max: u32, block: u32) -> Shape {
        let mut p = Params::new(2, 2, n_max);
        p.block = block;
        Shape::new(&p, 6).unwrap()
    }

    #[test]
    fn flat_is_one_node() {
        let s = shape(100, 0);
        assert_eq!((s.nodes, s.levels, s.blocks_max), (1, 1, 1));
        assert_eq!(s.cover(0, 1).collect::<Vec<_>>(), vec![(0, 0)]);
    }

    #[test]
    fn every_range_is_covered_exactly_once_by_few_nodes() {
        for &(n_max, block) in &[(64u32, 4u32), (100, 3), (7, 1), (1000, 16), (33, 1)] {
            let s = shape(n_max, block);
            let nb = s.blocks_max;
            let mut total = 0;
            for l in 0..s.levels {
                total += s.level_count(l);
            }
            assert_eq!(total, s.nodes);
            for a in 0..nb {
                for b in a + 1..=nb {
                    let mut seen = vec![0u32; nb as usize];
                    let mut count = 0;
                    for (l, j) in s.cover(a, b) {
                        assert!(s.node_index(l, j).is_some());
                        for blk in (j << l)..((j + 1) << l) {
                            seen[blk as usize] += 1;
                        }
                        count += 1;
                    }
                    for (i, &c) in seen.iter().enumerate() {
                        let want = u32::from((a..b).contains(&(i as u32)));
                        assert_eq!(c, want, "range [{a},{b}) block {i}");
                    }
                    assert!(count <= s.max_query_nodes, "[{a},{b}) used {count} nodes");
                }
            }
        }
    }

    #[test]
    fn node_rows_count_partial_blocks() {
        let s = shape(100, 8);
        assert_eq!(s.node_rows(0, 0, 13), 8);
        assert_eq!(s.node_rows(0, 1, 13), 5);
        assert_eq!(s.node_rows(1, 0, 13), 13);
        assert_eq!(s.node_rows(0, 2, 13), 0);
        assert_eq!(s.blocks_built(13), 2);
    }
}
