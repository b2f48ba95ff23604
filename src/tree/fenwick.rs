//! Index arithmetic of the Fenwick (binary indexed) layout of the tree mechanism.
//!
//! Node `i` (1-based, `1 ≤ i ≤ n`) holds the sum of leaves `(i − lowbit(i), i]`, where
//! `lowbit(i)` is the lowest set bit of `i`. These are exactly the dyadic intervals of the
//! binary tree mechanism that a prefix query can need (the "p-sums" of Chan, Shi and Song,
//! *Private and continual release of statistics*, TISSEC 2011): the prefix `[0, b)` is the
//! disjoint union of the nodes `b, b − lowbit(b), …` (one per set bit of `b`), and a range
//! `[a, b)` is `prefix(b) − prefix(a)`, in which the nodes the two chains share cancel
//! exactly. Right children of the full binary tree are never used by any prefix, so they are
//! not stored: `n` words instead of `2n − 1`.
//!
//! Leaf `j` (1-based) lies in nodes `j, j + lowbit(j), …` up to `n`: at most
//! [`levels`]`(n) = ⌊log2 n⌋ + 1` nodes (≤ ⌈log2 n⌉ + 1, the usual tree-mechanism count).
//! Node `i` is complete as soon as leaf `i` has arrived, which is what makes streaming
//! (continual) release possible.

/// `⌊log2 n⌋ + 1` (the bit length of `n`) for `n ≥ 1`, else 0: the largest number of nodes
/// that contain one leaf.
///
/// Proof: the nodes containing leaf `j` are `j_0 = j, j_{t+1} = j_t + lowbit(j_t)`; each step
/// strictly raises the lowest set bit, so the chain has at most one node per bit position
/// `0 ..= ⌊log2 n⌋` before exceeding `n`. Leaf 1 (nodes 1, 2, 4, …) attains it.
pub(crate) const fn levels(n: u64) -> u32 {
    64 - n.leading_zeros()
}

/// The lowest set bit of `i` (`i & −i`), 0 for 0.
#[inline]
pub(crate) const fn lowbit(i: u64) -> u64 {
    i & i.wrapping_neg()
}

/// Iterator over the nodes of the prefix `[0, b)`, in decreasing order.
#[derive(Clone, Copy)]
pub(crate) struct Chain(u64);

impl Iterator for Chain {
    type Item = u64;
    fn next(&mut self) -> Option<u64> {
        if self.0 == 0 {
            return None;
        }
        let cur = self.0;
        self.0 = cur ^ lowbit(cur);
        Some(cur)
    }
}

/// The nodes whose sum is the prefix `[0, b)` (one per set bit of `b`).
pub(crate) const fn chain(b: u64) -> Chain {
    Chain(b)
}

/// How the noise of a linear combination of two prefixes, `ca·prefix(a) + cb·prefix(b)`,
/// is made of node noises: the number of nodes in only one chain, for each chain, and the
/// number in both (their coefficient is `ca + cb`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Overlap {
    /// Nodes only in the chain of `a`.
    pub only_a: u32,
    /// Nodes only in the chain of `b`.
    pub only_b: u32,
    /// Nodes in both chains.
    pub both: u32,
}

/// Count the nodes of `chain(a)` and `chain(b)` by membership (two-pointer merge of two
/// decreasing sequences of at most 64 nodes each).
pub(crate) fn overlap(a: u64, b: u64) -> Overlap {
    let mut out = Overlap {
        only_a: 0,
        only_b: 0,
        both: 0,
    };
    let mut ia = chain(a);
    let mut ib = chain(b);
    let mut x = ia.next();
    let mut y = ib.next();
    loop {
        match (x, y) {
            (None, None) => break,
            (Some(_), None) => {
                out.only_a = out.only_a.saturating_add(1);
                x = ia.next();
            }
            (None, Some(_)) => {
                out.only_b = out.only_b.saturating_add(1);
                y = ib.next();
            }
            (Some(u), Some(v)) => {
                if u == v {
                    out.both = out.both.saturating_add(1);
                    x = ia.next();
                    y = ib.next();
                } else if u > v {
                    out.only_a = out.only_a.saturating_add(1);
                    x = ia.next();
                } else {
                    out.only_b = out.only_b.saturating_add(1);
                    y = ib.next();
                }
            }
        }
    }
    out
}

/// Call `f(node, +1)` for the nodes only in `chain(b)` and `f(node, −1)` for those only
/// in `chain(a)`: the nodes of `prefix(b) − prefix(a)` that do not cancel.
pub(crate) fn for_each_diff<E>(
    a: u64,
    b: u64,
    mut f: impl FnMut(u64, i8) -> Result<(), E>,
) -> Result<(), E> {
    let mut ia = chain(a);
    let mut ib = chain(b);
    let mut x = ia.next();
    let mut y = ib.next();
    loop {
        match (x, y) {
            (None, None) => return Ok(()),
            (Some(u), None) => {
                f(u, -1)?;
                x = ia.next();
            }
            (None, Some(v)) => {
                f(v, 1)?;
                y = ib.next();
            }
            (Some(u), Some(v)) => {
                if u == v {
                    x = ia.next();
                    y = ib.next();
                } else if u > v {
                    f(u, -1)?;
                    x = ia.next();
                } else {
                    f(v, 1)?;
                    y = ib.next();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute force: the leaves covered by node i.
    fn covers(i: u64, leaf: u64) -> bool {
        leaf > i - lowbit(i) && leaf <= i
    }

    #[test]
    fn chain_partitions_every_prefix() {
        for b in 0..300u64 {
            let mut hit = [0u32; 300];
            for node in chain(b) {
                for leaf in 1..=b {
                    if covers(node, leaf) {
                        hit[leaf as usize] += 1;
                    }
                }
            }
            for leaf in 1..=b {
                assert_eq!(hit[leaf as usize], 1, "b={b} leaf={leaf}");
            }
            assert_eq!(chain(b).count() as u32, b.count_ones());
        }
    }

    #[test]
    fn levels_is_max_nodes_per_leaf() {
        for n in 1..200u64 {
            let worst = (1..=n)
                .map(|leaf| (1..=n).filter(|&i| covers(i, leaf)).count() as u32)
                .max()
                .unwrap();
            assert_eq!(worst, levels(n), "n={n}");
            // ≤ ⌈log2 n⌉ + 1, the count the tree-mechanism literature uses.
            let ceil_log = 64 - (n - 1).leading_zeros();
            assert!(levels(n) <= ceil_log + 1);
        }
        assert_eq!(levels(0), 0);
        assert_eq!(levels(u64::MAX), 64);
    }

    #[test]
    fn diff_is_the_symmetric_difference() {
        for a in 0..70u64 {
            for b in 0..70u64 {
                let mut got: Vec<(u64, i8)> = Vec::new();
                for_each_diff::<()>(a, b, |n, s| {
                    got.push((n, s));
                    Ok(())
                })
                .unwrap();
                let ca: Vec<u64> = chain(a).collect();
                let cb: Vec<u64> = chain(b).collect();
                let mut want: Vec<(u64, i8)> = cb
                    .iter()
                    .filter(|x| !ca.contains(x))
                    .map(|&x| (x, 1))
                    .chain(ca.iter().filter(|x| !cb.contains(x)).map(|&x| (x, -1)))
                    .collect();
                want.sort();
                got.sort();
                assert_eq!(got, want);
            }
        }
    }

    #[test]
    fn overlap_matches_sets() {
        for a in 0..70u64 {
            for b in 0..70u64 {
                let ca: Vec<u64> = chain(a).collect();
                let cb: Vec<u64> = chain(b).collect();
                let both = ca.iter().filter(|x| cb.contains(x)).count() as u32;
                let o = overlap(a, b);
                assert_eq!(o.both, both);
                assert_eq!(o.only_a, ca.len() as u32 - both);
                assert_eq!(o.only_b, cb.len() as u32 - both);
            }
        }
    }
}
