//! BAL-PM's kNN entropy term (specs/balpm.md §4.3, "kNN radius" and "Initial counts").
//!
//! For candidate `i` with prompt vector `x_i`:
//! - `r_k(i)` is the k-th smallest Euclidean distance from `x_i` to the unlabelled candidates,
//!   **the point itself included** (distance 0), frozen for the acquisition round;
//! - `n_i` counts the labelled and already-picked prompts within `r_k(i)` (inclusive `≤`);
//! - the term is `log(2 r_k(i) + ε) − ψ(n_i + 1) / d̃`.
//!
//! Distances are computed from coordinate differences (never `‖a‖² + ‖b‖² − 2ab`), accumulated in
//! f64, so identical prompt vectors are at distance exactly 0.

use activepref_core::{FeatureMatrix, PromptFeatures};
use rayon::prelude::*;

/// Euclidean distance, f64 accumulation of f32 differences; exactly 0 for identical rows.
pub fn euclidean(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// Bit-identical rows of `x` grouped together: `(distinct rows, group of each row, rows per group)`.
/// Exact duplicates are common (several comparisons share a post), and all members of a group share
/// their radius, count and every distance, so the work scales with distinct prompts
/// (specs/balpm.md §7.2). The grouping is [`PromptFeatures`]' own bit-exact deduplication.
fn dedupe(x: &FeatureMatrix) -> (FeatureMatrix, Vec<usize>, Vec<usize>) {
    let grouped = PromptFeatures::from_matrix(x);
    let group_of: Vec<usize> = (0..x.rows()).map(|i| grouped.table_row(i)).collect();
    let mut multiplicity = vec![0; grouped.table().rows()];
    for &g in &group_of {
        multiplicity[g] += 1;
    }
    (
        FeatureMatrix::clone(grouped.table()),
        group_of,
        multiplicity,
    )
}

/// Radii and counts of the kNN entropy term for one acquisition round.
#[derive(Clone, Debug)]
pub struct KnnEntropyBonus {
    /// Distinct candidate prompt vectors.
    groups: FeatureMatrix,
    /// Group of each candidate.
    group_of: Vec<usize>,
    /// Per group: the frozen radius and the running count.
    radius: Vec<f64>,
    count: Vec<u32>,
}

impl KnnEntropyBonus {
    /// `candidates`: prompt vectors of the unlabelled pool (in the coordinates the radius uses);
    /// `labelled`: prompt vectors of the labelled set (in the coordinates the count uses).
    /// Requires `1 ≤ k ≤ candidates.rows()`.
    ///
    /// # Panics
    ///
    /// If `k` is 0 or larger than `candidates.rows()` (callers check it first).
    pub fn new(candidates: FeatureMatrix, labelled: &FeatureMatrix, k: usize) -> Self {
        assert!(
            k >= 1 && k <= candidates.rows(),
            "k must be within 1..=|pool| (checked by the caller)"
        );
        let (groups, group_of, mult) = dedupe(&candidates);
        let (lab, _, lab_mult) = dedupe(labelled);
        let g = groups.rows();
        // r_k: walk the distinct neighbours in distance order until k candidates (self included) are covered.
        let radius: Vec<f64> = (0..g)
            .into_par_iter()
            .map(|a| {
                let mut d: Vec<(f64, usize)> = (0..g)
                    .map(|b| (euclidean(groups.row(a), groups.row(b)), mult[b]))
                    .collect();
                d.sort_unstable_by(|x, y| x.0.total_cmp(&y.0));
                let mut covered = 0;
                d.iter()
                    .find(|(_, m)| {
                        covered += m;
                        covered >= k
                    })
                    .expect("k ≤ |pool|")
                    .0
            })
            .collect();
        let count: Vec<u32> = (0..g)
            .into_par_iter()
            .map(|a| {
                (0..lab.rows())
                    .filter(|&j| euclidean(groups.row(a), lab.row(j)) <= radius[a])
                    .map(|j| lab_mult[j] as u32)
                    .sum()
            })
            .collect();
        Self {
            groups,
            group_of,
            radius,
            count,
        }
    }

    /// The frozen kNN radius `r_k(i)` of candidate `i` (Euclidean distance in feature units).
    ///
    /// # Panics
    ///
    /// If `i` is not a candidate index.
    pub fn radius(&self, i: usize) -> f64 {
        self.radius[self.group_of[i]]
    }

    /// The running count `n_i` of labelled and acquired prompts within candidate `i`'s radius.
    ///
    /// # Panics
    ///
    /// If `i` is not a candidate index.
    pub fn count(&self, i: usize) -> u32 {
        self.count[self.group_of[i]]
    }

    /// `log(2 r_k(i) + ε) − ψ(n_i + 1) / d̃`.
    pub fn term(&self, i: usize, eps: f64, d_tilde: f64) -> f64 {
        crate::knn_index::ksg_term(self.radius(i), self.count(i), eps, d_tilde)
    }

    /// Records that candidate `picked` was acquired: every candidate in `remaining` whose radius
    /// reaches it gets one more neighbour (computed once per group of remaining candidates).
    pub fn add_acquired(&mut self, picked: usize, remaining: &[usize]) {
        let p = self.group_of[picked];
        let mut live = vec![false; self.groups.rows()];
        for &i in remaining {
            live[self.group_of[i]] = true;
        }
        for (g, alive) in live.into_iter().enumerate() {
            if alive && euclidean(self.groups.row(g), self.groups.row(p)) <= self.radius[g] {
                self.count[g] += 1;
            }
        }
    }
}

/// The KL-estimator ablation (specs/balpm.md §4.4, `batch-state-entropy-v2`): the term is
/// `log(2 ρ_k(i) + ε)` where `ρ_k(i)` is the distance from candidate `i` to its k-th nearest
/// *labelled or already picked* prompt. No pool radius, no digamma count. With fewer than `k` such
/// prompts the farthest available one is used, and with none the term is 0 (the reference's
/// `topk` would raise).
#[derive(Clone, Debug)]
pub struct KlEntropyTerm {
    candidates: FeatureMatrix,
    k: usize,
    /// Per candidate, the k smallest distances so far as a max-heap. Distances are ≥ 0, so the
    /// IEEE bit patterns order like the values.
    nearest: Vec<std::collections::BinaryHeap<u64>>,
}

impl KlEntropyTerm {
    pub fn new(candidates: FeatureMatrix, labelled: &FeatureMatrix, k: usize) -> Self {
        let nearest = (0..candidates.rows())
            .into_par_iter()
            .map(|i| {
                let mut heap = std::collections::BinaryHeap::with_capacity(k + 1);
                for j in 0..labelled.rows() {
                    push_bounded(&mut heap, euclidean(candidates.row(i), labelled.row(j)), k);
                }
                heap
            })
            .collect();
        Self {
            candidates,
            k,
            nearest,
        }
    }

    /// `log(2 ρ_k(i) + ε)`.
    pub fn term(&self, i: usize, eps: f64) -> f64 {
        match self.nearest[i].peek() {
            Some(&bits) => (2.0 * f64::from_bits(bits) + eps).ln(),
            None => 0.0,
        }
    }

    /// Adds the picked candidate to every remaining candidate's neighbour set.
    pub fn add_acquired(&mut self, picked: usize, remaining: &[usize]) {
        let xp = self.candidates.row(picked).to_vec();
        for &i in remaining {
            let d = euclidean(self.candidates.row(i), &xp);
            push_bounded(&mut self.nearest[i], d, self.k);
        }
    }
}

fn push_bounded(heap: &mut std::collections::BinaryHeap<u64>, d: f64, k: usize) {
    heap.push(d.to_bits());
    if heap.len() > k {
        heap.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_give_radius_exactly_zero_and_count_labelled_twins() {
        // Pool prompts: the vector a three times, b once, c once; labelled: a twice and c once.
        let a = vec![0.5f32, -3.75, 2.25];
        let b = vec![1.5f32, -3.75, 2.25];
        let c = vec![5.0f32, 5.0, 5.0];
        let pool =
            FeatureMatrix::from_rows(&[a.clone(), b.clone(), a.clone(), c.clone(), a.clone()])
                .unwrap();
        let lab = FeatureMatrix::from_rows(&[a.clone(), a.clone(), c.clone()]).unwrap();
        let knn = KnnEntropyBonus::new(pool, &lab, 3);
        // a occurs 3 times: its 3rd-nearest (self included) is a twin at distance exactly 0.
        for i in [0, 2, 4] {
            assert_eq!(knn.radius(i), 0.0);
            assert_eq!(
                knn.count(i),
                2,
                "both labelled copies of a are at distance 0 ≤ 0"
            );
        }
        // b: distances {0 (self), 1, 1, 1, |b−c|}: 3rd smallest = 1.0 exactly.
        assert_eq!(knn.radius(1), 1.0);
        assert_eq!(
            knn.count(1),
            2,
            "the two labelled a's are at distance 1 ≤ 1"
        );
        // c: distances {0, |c−a| ×3, |c−b|}: 3rd smallest = |c − a|.
        let ca = euclidean(&c, &a);
        assert_eq!(knn.radius(3), ca);
        assert_eq!(knn.count(3), 3);
        // Term with r = 0, n = 2: log(ε) − ψ(3) = ln 1e-4 − (3/2 − γ).
        let expected = (1e-4f64).ln() - (1.5 - 0.577_215_664_901_532_9);
        assert!((knn.term(0, 1e-4, 1.0) - expected).abs() < 1e-12);
    }

    #[test]
    fn kl_term_uses_the_kth_labelled_or_picked_neighbour() {
        let pool = FeatureMatrix::from_rows(&[vec![0.0], vec![10.0]]).unwrap();
        let lab = FeatureMatrix::from_rows(&[vec![1.0], vec![4.0], vec![12.0]]).unwrap();
        let mut kl = KlEntropyTerm::new(pool, &lab, 2);
        // Candidate 0: distances 1, 4, 12 → ρ₂ = 4; candidate 1: 9, 6, 2 → ρ₂ = 6.
        assert!((kl.term(0, 0.0) - 8f64.ln()).abs() < 1e-12);
        assert!((kl.term(1, 0.0) - 12f64.ln()).abs() < 1e-12);
        // Picking candidate 0 adds a neighbour at 10 to candidate 1: distances 2, 6, 9, 10 → ρ₂ still 6.
        kl.add_acquired(0, &[1]);
        assert!((kl.term(1, 1e-4) - 12.0001f64.ln()).abs() < 1e-12);
        let empty = FeatureMatrix::new(0, 1, vec![]).unwrap();
        let none = KlEntropyTerm::new(FeatureMatrix::from_rows(&[vec![0.0]]).unwrap(), &empty, 3);
        assert_eq!(none.term(0, 1e-4), 0.0);
    }

    #[test]
    fn grouped_computation_equals_the_per_row_definition() {
        // Random small integer prompts with many duplicates: compare radius and count of every
        // candidate with a direct per-row evaluation of the definitions.
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let rows: Vec<Vec<f32>> = (0..60)
            .map(|_| (0..2).map(|_| rng.random_range(0..3) as f32).collect())
            .collect();
        let lab_rows: Vec<Vec<f32>> = (0..7)
            .map(|_| (0..2).map(|_| rng.random_range(0..3) as f32).collect())
            .collect();
        let pool = FeatureMatrix::from_rows(&rows).unwrap();
        let lab = FeatureMatrix::from_rows(&lab_rows).unwrap();
        for k in [1, 4, 13, 60] {
            let knn = KnnEntropyBonus::new(pool.clone(), &lab, k);
            for i in 0..60 {
                let mut d: Vec<f64> = rows.iter().map(|r| euclidean(&rows[i], r)).collect();
                d.sort_by(f64::total_cmp);
                assert_eq!(knn.radius(i), d[k - 1], "k={k} i={i}");
                let n = lab_rows
                    .iter()
                    .filter(|l| euclidean(&rows[i], l) <= d[k - 1])
                    .count() as u32;
                assert_eq!(knn.count(i), n, "k={k} i={i}");
            }
        }
    }

    #[test]
    fn in_batch_update_counts_within_radius_only() {
        let pool = FeatureMatrix::from_rows(&[vec![0.0], vec![0.5], vec![3.0]]).unwrap();
        let lab = FeatureMatrix::new(0, 1, vec![]).unwrap();
        let mut knn = KnnEntropyBonus::new(pool, &lab, 2);
        assert_eq!(
            (knn.radius(0), knn.radius(1), knn.radius(2)),
            (0.5, 0.5, 2.5)
        );
        knn.add_acquired(1, &[0, 2]);
        assert_eq!((knn.count(0), knn.count(2)), (1, 1));
    }
}
