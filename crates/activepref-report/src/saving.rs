//! Label efficiency: how many fewer labels a policy needs to match the baseline's final value
//! (specs/balpm.md §5.3), under either of two definitions, with a bootstrap interval over seeds.
//!
//! Worked example. The baseline (random) gets 10 labels per round for 5 rounds; its seed-mean
//! test log-likelihood ends at −0.50 (labelled-set sizes 10, 20, 30, 40, 50). A policy's seed-mean
//! curve is −0.68, −0.55, −0.49, −0.47, −0.46.
//! - [`SavingDefinition::FirstReach`] (activepref's default): the first round whose seed-mean is
//!   `≥ −0.50` is round index 2, where the labelled set holds 30 labels; the saving is
//!   `1 − 30/50 = 40%`: the policy needs 30 labels where random needs 50.
//! - [`SavingDefinition::PaperScript`] (the paper's plotting script): `i*` is the first 0-based
//!   round index whose seed-mean is strictly `> −0.50`, here 2; the saving is `1 − i*/R` with `R`
//!   the number of rounds, `1 − 2/5 = 60%`. It counts `i*` batches where the policy has seen
//!   `i* + 1`, so it reads one batch (here 20 points, 1/75 ≈ 1.3 points at the paper's 75 rounds)
//!   more favourably. A curve that never crosses has no `i*`: the script would fail on an empty
//!   index; activepref reports "not reached".
//!
//! The bootstrap resamples the seeds of the policy and, independently, the seeds of the baseline
//! (the same resample for the baseline's own row), with replacement, recomputes both seed-means
//! from the smoothed per-run curves, and the saving from them; the interval is the 2.5th and
//! 97.5th percentiles of the replicates, with "not reached" ranked below every saving.

pub use activepref_core::saving::SavingDefinition;
use rand::RngExt;

/// Where a policy's curve first reaches the baseline's final value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Reached {
    /// At labelled-set size `labels` (the size at the crossing round), with its saving.
    At {
        /// The labelled-set size at the crossing round.
        labels: usize,
        /// The label saving as a fraction (`0.4` for 40%).
        saving: f64,
    },
    /// The curve never reaches the baseline's final value.
    NotReached,
}

impl Reached {
    /// The saving, or `None` when not reached.
    pub fn saving(self) -> Option<f64> {
        match self {
            Reached::At { saving, .. } => Some(saving),
            Reached::NotReached => None,
        }
    }
}

/// The saving of a seed-mean curve `mean` (one value per round, labelled-set sizes `labels`)
/// against the baseline's final value `target` reached with `baseline_final_labels` labels.
pub fn label_saving(
    mean: &[f64],
    labels: &[usize],
    target: f64,
    baseline_final_labels: usize,
    definition: SavingDefinition,
) -> Reached {
    match definition {
        SavingDefinition::FirstReach => match mean.iter().position(|&v| v >= target) {
            Some(i) => Reached::At {
                labels: labels[i],
                saving: fraction_saved(labels[i], baseline_final_labels),
            },
            None => Reached::NotReached,
        },
        SavingDefinition::PaperScript => match mean.iter().position(|&v| v > target) {
            Some(i) => Reached::At {
                labels: labels[i],
                saving: fraction_saved(i, mean.len()),
            },
            None => Reached::NotReached,
        },
    }
}

/// `1 − used/of`, rounded once: `(of − used) / of`, so 760 of 800 labels saves exactly `0.05`
/// (`1.0 - 760.0 / 800.0` is `0.050000000000000044`, which CSV and Parquet would carry).
pub(crate) fn fraction_saved(used: usize, of: usize) -> f64 {
    (of as f64 - used as f64) / of as f64
}

/// Seed-mean of the curves picked by `idx`.
fn mean_of(curves: &[Vec<f64>], idx: &[usize]) -> Vec<f64> {
    let n = idx.len() as f64;
    (0..curves[0].len())
        .map(|i| idx.iter().map(|&k| curves[k][i]).sum::<f64>() / n)
        .collect()
}

/// A bootstrap interval of a saving.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SavingInterval {
    /// 2.5th percentile; `None` when that replicate did not reach the baseline.
    pub low: Option<f64>,
    /// 97.5th percentile; `None` when that replicate did not reach the baseline.
    pub high: Option<f64>,
    /// Share of replicates that reached the baseline.
    pub reached: f64,
}

/// The 95% bootstrap interval of the saving of `policy` (smoothed per-seed curves) against
/// `baseline` (its smoothed per-seed curves; pass the same slice with `same = true` for the
/// baseline's own row), from `replicates` resamples drawn from `rng`.
#[allow(
    clippy::too_many_arguments,
    reason = "the two curve sets and their schedules"
)]
pub fn bootstrap_saving(
    policy: &[Vec<f64>],
    labels: &[usize],
    baseline: &[Vec<f64>],
    baseline_labels: &[usize],
    same: bool,
    definition: SavingDefinition,
    replicates: usize,
    rng: &mut rand_chacha::ChaCha8Rng,
) -> SavingInterval {
    let base_final = *baseline_labels.last().expect("non-empty schedule");
    let mut values: Vec<f64> = (0..replicates)
        .map(|_| {
            let pick: Vec<usize> = (0..policy.len())
                .map(|_| rng.random_range(0..policy.len()))
                .collect();
            let base_pick: Vec<usize> = if same {
                pick.clone()
            } else {
                (0..baseline.len())
                    .map(|_| rng.random_range(0..baseline.len()))
                    .collect()
            };
            let target = *mean_of(baseline, &base_pick)
                .last()
                .expect("non-empty curve");
            label_saving(
                &mean_of(policy, &pick),
                labels,
                target,
                base_final,
                definition,
            )
            .saving()
            .unwrap_or(f64::NEG_INFINITY)
        })
        .collect();
    values.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let v = values[((q * (values.len() - 1) as f64).round() as usize).min(values.len() - 1)];
        v.is_finite().then_some(v)
    };
    SavingInterval {
        low: at(0.025),
        high: at(0.975),
        reached: values.iter().filter(|v| v.is_finite()).count() as f64
            / values.len().max(1) as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    const LABELS: [usize; 5] = [10, 20, 30, 40, 50];
    const GOOD: [f64; 5] = [-0.68, -0.55, -0.49, -0.47, -0.46];

    #[test]
    fn the_worked_example_under_both_definitions() {
        assert_eq!(
            label_saving(&GOOD, &LABELS, -0.50, 50, SavingDefinition::FirstReach),
            Reached::At {
                labels: 30,
                saving: 0.4
            }
        );
        assert_eq!(
            label_saving(&GOOD, &LABELS, -0.50, 50, SavingDefinition::PaperScript),
            Reached::At {
                labels: 30,
                saving: 0.6
            }
        );
    }

    #[test]
    fn savings_are_the_nearest_double_to_the_fraction_saved() {
        // 760 of 800 labels: 1 − 0.95 in doubles is 0.050000000000000044; the saving is 0.05.
        let labels = [760, 800];
        let curve = [-0.4, -0.3];
        assert_eq!(
            label_saving(&curve, &labels, -0.5, 800, SavingDefinition::FirstReach).saving(),
            Some(0.05)
        );
        // 2 of 3 rounds: 1 − 2/3 is 0.33333333333333337, one ulp above the double nearest 1/3.
        assert_ne!(1.0 - 2.0 / 3.0, 1.0 / 3.0);
        assert_eq!(fraction_saved(2, 3), 1.0 / 3.0);
        assert_eq!(fraction_saved(0, 7), 1.0);
        assert_eq!(fraction_saved(9, 8), -0.125);
    }

    #[test]
    fn ties_count_for_first_reach_only() {
        // A curve that touches the target exactly at round 1 and exceeds it at round 3.
        let curve = [-0.6, -0.5, -0.5, -0.4, -0.3];
        assert_eq!(
            label_saving(&curve, &LABELS, -0.5, 50, SavingDefinition::FirstReach),
            Reached::At {
                labels: 20,
                saving: 0.6
            }
        );
        assert_eq!(
            label_saving(&curve, &LABELS, -0.5, 50, SavingDefinition::PaperScript),
            Reached::At {
                labels: 40,
                saving: 0.4
            }
        );
    }

    #[test]
    fn never_crossing_is_not_reached_under_both() {
        let flat = [-0.9; 5];
        for d in [SavingDefinition::FirstReach, SavingDefinition::PaperScript] {
            assert_eq!(
                label_saving(&flat, &LABELS, -0.5, 50, d),
                Reached::NotReached
            );
        }
    }

    #[test]
    fn bootstrap_of_identical_seeds_is_a_point() {
        // Every seed of the policy is the worked example and every seed of the baseline ends at
        // −0.50: every resample gives the same saving, so the interval is that point.
        let policy = vec![GOOD.to_vec(); 3];
        let baseline = vec![vec![-0.7, -0.62, -0.58, -0.53, -0.50]; 4];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let ci = bootstrap_saving(
            &policy,
            &LABELS,
            &baseline,
            &LABELS,
            false,
            SavingDefinition::FirstReach,
            200,
            &mut rng,
        );
        assert_eq!(
            ci,
            SavingInterval {
                low: Some(0.4),
                high: Some(0.4),
                reached: 1.0
            }
        );
    }

    #[test]
    fn bootstrap_interval_brackets_the_seed_spread() {
        // Two policy seeds: one crosses −0.50 at round 1 (20 labels, saving 60%), one never does.
        // Resamples of two draw {fast, fast} (saving 60%, probability 1/4), {slow, slow} (never, 1/4) or a
        // mix (1/2), whose mean −0.6, −0.505, −0.495 … crosses at round 2 (saving 1 − 30/50 = 40%).
        let fast = vec![-0.6, -0.45, -0.45, -0.45, -0.45];
        let slow = vec![-0.6, -0.56, -0.54, -0.54, -0.54];
        let policy = vec![fast, slow];
        let baseline = vec![vec![-0.5; 5]];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let ci = bootstrap_saving(
            &policy,
            &LABELS,
            &baseline,
            &LABELS,
            false,
            SavingDefinition::FirstReach,
            2000,
            &mut rng,
        );
        assert_eq!(ci.low, None, "a quarter of the resamples never reach −0.50");
        assert_eq!(ci.high, Some(0.6));
        assert!((ci.reached - 0.75).abs() < 0.05, "{}", ci.reached);
    }
}
