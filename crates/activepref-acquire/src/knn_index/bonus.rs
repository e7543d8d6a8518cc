//! BAL-PM's kNN entropy term served by the index: per-round radii and counts.

use super::*;

/// BAL-PM's kNN entropy term for one acquisition round, answered from a [`PromptKnnIndex`]: the
/// same radii, counts and terms as [`crate::KnnEntropyBonus`] on the same pool.
pub struct IndexedKnnEntropyBonus<'a> {
    index: &'a PromptKnnIndex,
    table: &'a FeatureMatrix,
    /// Table row of each candidate (aligned with the pool's unlabelled list).
    group_of: Vec<u32>,
    /// Per table row: the frozen radius (NaN for rows without candidates), the running count and
    /// the cached term.
    radius: Vec<f64>,
    count: Vec<u32>,
    term: Vec<f64>,
    /// Rows whose radius reached their list's end: counted and updated by brute force.
    fallback: Vec<usize>,
    is_fallback: Vec<bool>,
    eps: f64,
    d_tilde: f64,
}

impl<'a> IndexedKnnEntropyBonus<'a> {
    /// The round's state for candidates `unlabelled` and labelled rows `labelled` (rows of
    /// `prompts`), whose table `index` was built from. Requires `1 ≤ k ≤ |unlabelled|`.
    ///
    /// # Panics
    ///
    /// If `index` was built from a table with another number of rows than `prompts.table()`, or
    /// `k` is 0 or larger than `unlabelled.len()`.
    pub fn new(
        index: &'a PromptKnnIndex,
        prompts: &'a PromptFeatures,
        unlabelled: &[usize],
        labelled: &[usize],
        k: usize,
        eps: f64,
        d_tilde: f64,
    ) -> Self {
        let table: &FeatureMatrix = prompts.table();
        assert_eq!(
            index.rows(),
            table.rows(),
            "the index was built from another table"
        );
        assert!(
            k >= 1 && k <= unlabelled.len(),
            "k must be within 1..=|pool| (checked by the caller)"
        );
        let g = table.rows();
        let mut unl = vec![0u32; g];
        let mut lab = vec![0u32; g];
        let group_of: Vec<u32> = unlabelled
            .iter()
            .map(|&i| prompts.table_row(i) as u32)
            .collect();
        for &t in &group_of {
            unl[t as usize] += 1;
        }
        for &i in labelled {
            lab[prompts.table_row(i)] += 1;
        }
        let live: Vec<usize> = (0..g).filter(|&t| unl[t] > 0).collect();
        // Per live row: (radius, count, needs fallback).
        let solved: Vec<(f64, u32, bool)> = live
            .par_iter()
            .map(|&a| solve_row(index, table, a, (&unl, &lab), k))
            .collect();
        let mut radius = vec![f64::NAN; g];
        let mut count = vec![0u32; g];
        let mut term = vec![f64::NAN; g];
        let mut is_fallback = vec![false; g];
        let mut fallback = Vec::new();
        for (&a, &(r, n, fb)) in live.iter().zip(&solved) {
            radius[a] = r;
            count[a] = n;
            term[a] = ksg_term(r, n, eps, d_tilde);
            if fb {
                is_fallback[a] = true;
                fallback.push(a);
            }
        }
        Self {
            index,
            table,
            group_of,
            radius,
            count,
            term,
            fallback,
            is_fallback,
            eps,
            d_tilde,
        }
    }

    /// The frozen kNN radius `r_k(i)` of candidate `i` (position in `unlabelled`).
    pub fn radius(&self, i: usize) -> f64 {
        self.radius[self.group_of[i] as usize]
    }

    /// The running count `n_i` of labelled and acquired prompts within candidate `i`'s radius.
    pub fn count(&self, i: usize) -> u32 {
        self.count[self.group_of[i] as usize]
    }

    /// `log(2 r_k(i) + ε) − ψ(n_i + 1) / d̃` of candidate `i` (cached per prompt).
    pub fn term(&self, i: usize) -> f64 {
        self.term[self.group_of[i] as usize]
    }

    /// Records that candidate `picked` was acquired: every prompt whose radius reaches it gets one
    /// more neighbour. Prompts with no candidate left are updated too, harmlessly: nobody reads them.
    pub fn add_acquired(&mut self, picked: usize) {
        let p = self.group_of[picked] as usize;
        let holders = self
            .index
            .holders(p)
            .filter(|&(a, dist)| !self.is_fallback[a] && dist <= self.radius[a])
            .map(|(a, _)| a);
        let fallback = self
            .fallback
            .iter()
            .copied()
            .filter(|&a| euclidean(self.table.row(a), self.table.row(p)) <= self.radius[a]);
        let reached: Vec<usize> = holders.chain(fallback).collect();
        for a in reached {
            self.count[a] += 1;
            self.term[a] = ksg_term(self.radius[a], self.count[a], self.eps, self.d_tilde);
        }
    }

    /// Prompts answered by brute force this round (their list ran out).
    pub fn fallbacks(&self) -> usize {
        self.fallback.len()
    }
}

/// `log(2r + ε) − ψ(n + 1) / d̃`.
pub(crate) fn ksg_term(r: f64, n: u32, eps: f64, d_tilde: f64) -> f64 {
    (2.0 * r + eps).ln() - digamma(n as f64 + 1.0) / d_tilde
}

/// Radius and labelled count of row `a` from every row of the table (the brute force of one row).
fn brute_force_row(
    table: &FeatureMatrix,
    a: usize,
    unl: &[u32],
    lab: &[u32],
    k: usize,
) -> (f64, u32) {
    let mut d: Vec<(f64, u32, u32)> = (0..table.rows())
        .filter(|&b| unl[b] > 0 || lab[b] > 0)
        .map(|b| (euclidean(table.row(a), table.row(b)), unl[b], lab[b]))
        .collect();
    d.sort_unstable_by(|x, y| x.0.total_cmp(&y.0));
    let mut covered = 0usize;
    let r = d
        .iter()
        .find(|&&(_, u, _)| {
            covered += u as usize;
            covered >= k
        })
        .expect("k ≤ |pool|")
        .0;
    let n = d
        .iter()
        .take_while(|&&(dist, _, _)| dist <= r)
        .map(|&(_, _, l)| l)
        .sum();
    (r, n)
}

/// Row `a`'s kNN radius among the unlabelled (counts `unl` per table row), the labelled count
/// `n` within it (counts `lab`), and whether brute force had to answer: the index's lists end
/// before the k-th unlabelled neighbour.
fn solve_row(
    index: &PromptKnnIndex,
    table: &FeatureMatrix,
    a: usize,
    (unl, lab): (&[u32], &[u32]),
    k: usize,
) -> (f64, u32, bool) {
    let mut covered = 0usize;
    let radius = index.neighbours(a).find(|&(b, _)| {
        covered += unl[b] as usize;
        covered >= k
    });
    match radius {
        Some((_, r)) if index.complete() || r < index.last_distance(a) => {
            let n = index
                .neighbours(a)
                .take_while(|&(_, dist)| dist <= r)
                .map(|(b, _)| lab[b])
                .sum();
            (r, n, false)
        }
        _ => {
            let (r, n) = brute_force_row(table, a, unl, lab, k);
            (r, n, true)
        }
    }
}
