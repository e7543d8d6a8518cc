//! The run files and their schema: one CSV row per round (`runs/<policy>__seed<seed>.csv`),
//! the prefix evaluation (`.prefix.csv`), and every file a run writes.

use std::fs;
use std::path::Path;

use activepref_acquire::PairMode;
use activepref_loop::{PairRoundRecord, PrefixRecord, PrefixTarget, RoundRecord};
use serde::Serialize;

use super::error::RunError;

/// A run file as CSV text, one serialised row per round (the header is the row's field names).
/// Floats use the shortest representation that reads back to the same value, so equal numbers
/// give equal bytes.
pub(crate) fn csv_bytes<T: Serialize>(
    rows: impl IntoIterator<Item = T>,
    path: &Path,
) -> Result<Vec<u8>, RunError> {
    let err = |e: &dyn std::fmt::Display| RunError::Serialise {
        path: path.to_path_buf(),
        error: e.to_string(),
    };
    let mut w = csv::Writer::from_writer(vec![]);
    for row in rows {
        w.serialize(row).map_err(|e| err(&e))?;
    }
    w.into_inner().map_err(|e| err(&e))
}
/// One row of a pool run file (`runs/<policy>__seed<seed>.csv`).
#[derive(Serialize)]
pub struct RunRow<'a> {
    /// The policy label.
    pub policy: &'a str,
    /// The run's seed.
    pub seed: u64,
    /// 0-based round.
    pub round: usize,
    /// Size of the labelled set this round's model was trained on.
    pub labels: usize,
    /// Mean test log-likelihood under the ensemble mean (nats, `≤ 0`).
    pub test_log_likelihood: f64,
    /// Test accuracy, in `[0, 1]`.
    pub test_accuracy: f64,
    /// Test Brier score.
    pub test_brier: f64,
    /// Mean OOD test log-likelihood (nats; NaN without an OOD split).
    pub ood_log_likelihood: f64,
    /// OOD test accuracy (NaN without an OOD split).
    pub ood_accuracy: f64,
    /// OOD test Brier score (NaN without an OOD split).
    pub ood_brier: f64,
    /// Mean validation loss of the members' restored checkpoints.
    pub validation_loss: f64,
    /// Mean BALD (nats) over the unlabelled pool before this round's pick (empty in the last
    /// round).
    pub pool_mean_bald: Option<f64>,
    /// Mean BALD (nats) of the picked batch (empty in the last round).
    pub batch_mean_bald: Option<f64>,
    /// Distinct prompts in the picked batch (empty in the last round).
    pub batch_unique_prompts: Option<usize>,
    /// Comparisons picked this round (empty in the last round).
    pub batch_size: Option<usize>,
    /// Distinct prompts in the labelled set after this round's acquisition.
    pub labelled_unique_prompts: Option<usize>,
    /// The largest BALD score (nats) of the unlabelled pool before this round's pick (empty in
    /// the last round).
    pub pool_max_bald: Option<f64>,
    /// Cohen's κ of this round's and the previous round's predictions on the fixed stopping
    /// sample (empty in round 0).
    pub stopping_agreement: Option<f64>,
    /// Labelled comparisons whose oracle answer differs from the dataset's label (empty under
    /// the default oracle).
    pub oracle_flipped: Option<usize>,
    /// Labelled comparisons the oracle's tie rule dropped (empty under the default oracle).
    pub oracle_dropped: Option<usize>,
    /// Labelled comparisons kept as ties, trained in both orientations (empty under the default
    /// oracle).
    pub oracle_ties: Option<usize>,
    /// What the oracle charged for the labelled set (`loop.oracle.cost`; empty without one).
    pub label_cost: Option<f64>,
}

impl<'a> RunRow<'a> {
    /// The row of round record `r` of run (`policy`, `seed`).
    pub fn new(policy: &'a str, seed: u64, r: &RoundRecord) -> Self {
        Self {
            policy,
            seed,
            round: r.round,
            labels: r.labels,
            test_log_likelihood: r.test_log_likelihood,
            test_accuracy: r.test_accuracy,
            test_brier: r.test_brier,
            ood_log_likelihood: r.ood_log_likelihood,
            ood_accuracy: r.ood_accuracy,
            ood_brier: r.ood_brier,
            validation_loss: r.validation_loss,
            pool_mean_bald: r.pool_mean_bald,
            batch_mean_bald: r.batch_mean_bald,
            batch_unique_prompts: r.batch_unique_prompts,
            batch_size: r.batch_size,
            labelled_unique_prompts: r.labelled_unique_prompts,
            pool_max_bald: r.pool_max_bald,
            stopping_agreement: r.stopping_agreement,
            oracle_flipped: r.oracle_flipped,
            oracle_dropped: r.oracle_dropped,
            oracle_ties: r.oracle_ties,
            label_cost: r.label_cost,
        }
    }
}
/// One row of a pair-selection run file; the mode is in every row.
#[derive(Serialize)]
pub struct PairRunRow<'a> {
    /// The policy label.
    pub policy: &'a str,
    /// The run's seed.
    pub seed: u64,
    /// `reference` or `corrected`.
    pub pair_mode: PairMode,
    /// 0-based round (the evaluated model has seen batches `0..round`).
    pub round: usize,
    /// Pairs the evaluated model was trained on.
    pub labels: usize,
    /// Mean held-out log-likelihood of the judge's preferences (nats).
    pub heldout_log_likelihood: f64,
    /// Held-out accuracy, in `[0, 1]`.
    pub heldout_accuracy: f64,
    /// Held-out Brier score.
    pub heldout_brier: f64,
    /// Mean judge-score gap of the pairs acquired this round (empty in the last round).
    pub batch_mean_score_gap: Option<f64>,
    /// Pairs acquired this round whose judge scores tie (empty in the last round).
    pub batch_judge_ties: Option<usize>,
    /// Mean predicted reward gap, chosen − rejected, of the pairs acquired this round.
    pub batch_mean_predicted_gap: Option<f64>,
    /// Mean predicted spread (ensemble standard deviation) of the picked responses.
    pub batch_mean_predicted_sd: Option<f64>,
    /// Mean latent-reward gap of the pairs acquired this round (synthetic benchmark only).
    pub batch_mean_latent_gap: Option<f64>,
    /// Judge labels outside the acquired pairs that the evaluated model's refit read.
    pub validation_labels: usize,
    /// Anchor strength λ of the evaluated model's last refit (empty when not anchored).
    pub anchor_strength: Option<f64>,
    /// Pairs acquired this round that the oracle ordered against the judge (empty under the
    /// default oracle).
    pub batch_oracle_flipped: Option<usize>,
    /// What the oracle charged for the `labels` acquired pairs (`pair_loop.oracle.cost`; empty
    /// without one).
    pub label_cost: Option<f64>,
    /// The from-scratch refit's mean best validation loss (empty when anchored and in round 0).
    pub validation_loss: Option<f64>,
    /// The largest BALD (nats) of the batch's candidate pairs (empty in the last round).
    pub batch_max_bald: Option<f64>,
    /// Cohen's κ of this and the previous round's predictions on the stopping sample (empty in
    /// round 0).
    pub stopping_agreement: Option<f64>,
}

impl<'a> PairRunRow<'a> {
    /// The row of round record `r` of run (`policy`, `seed`) in mode `pair_mode`.
    pub fn new(policy: &'a str, seed: u64, pair_mode: PairMode, r: &PairRoundRecord) -> Self {
        Self {
            policy,
            seed,
            pair_mode,
            round: r.round,
            labels: r.labels,
            heldout_log_likelihood: r.heldout_log_likelihood,
            heldout_accuracy: r.heldout_accuracy,
            heldout_brier: r.heldout_brier,
            batch_mean_score_gap: r.batch_mean_score_gap,
            batch_judge_ties: r.batch_judge_ties,
            batch_mean_predicted_gap: r.batch_mean_predicted_gap,
            batch_mean_predicted_sd: r.batch_mean_predicted_sd,
            batch_mean_latent_gap: r.batch_mean_latent_gap,
            validation_labels: r.validation_labels,
            anchor_strength: r.anchor_strength,
            batch_oracle_flipped: r.batch_oracle_flipped,
            label_cost: r.label_cost,
            validation_loss: r.validation_loss,
            batch_max_bald: r.batch_max_bald,
            stopping_agreement: r.stopping_agreement,
        }
    }
}
/// One row of `runs/<stem>.prefix.csv`: a fresh model trained on the run's first `labels` pairs.
#[derive(Serialize)]
pub struct PrefixRow<'a> {
    /// The policy label.
    pub policy: &'a str,
    /// The run's seed.
    pub seed: u64,
    /// `reference` or `corrected`.
    pub pair_mode: PairMode,
    /// The prefix length: the run's first `labels` acquired pairs, in loop order.
    pub labels: usize,
    /// What the held-out pairs are ordered by: `latent` or `judge`.
    pub target: PrefixTarget,
    /// Mean held-out log-likelihood of the target's preferences (nats).
    pub prefix_log_likelihood: f64,
    /// Held-out accuracy, in `[0, 1]`.
    pub prefix_accuracy: f64,
    /// Held-out Brier score.
    pub prefix_brier: f64,
}

impl<'a> PrefixRow<'a> {
    /// The row of prefix record `r` of run (`policy`, `seed`) in mode `pair_mode`.
    pub fn new(policy: &'a str, seed: u64, pair_mode: PairMode, r: &PrefixRecord) -> Self {
        Self {
            policy,
            seed,
            pair_mode,
            labels: r.labels,
            target: r.target,
            prefix_log_likelihood: r.prefix_log_likelihood,
            prefix_accuracy: r.prefix_accuracy,
            prefix_brier: r.prefix_brier,
        }
    }
}
/// The extension of an unfinished run's rows so far (`runs/<stem>.partial.csv`, the run file's
/// format, rewritten with the checkpoint after every round and removed when the run finishes):
/// what `activepref report --partial` reads.
pub const PARTIAL_RUN_FILE: &str = "partial.csv";

/// Every file a run writes: `runs/<stem>.<extension>`.
pub(crate) const RUN_FILE_EXTENSIONS: [&str; 8] = [
    "csv",
    "timings.csv",
    "state.json",
    PARTIAL_RUN_FILE,
    "run-id",
    "prefix.csv",
    "pairs.jsonl",
    "pairs.parquet",
];

/// Removes every file of run `stem` (`runs/<stem>.<ext>`, each of [`RUN_FILE_EXTENSIONS`]).
pub(crate) fn remove_run_files(runs_dir: &Path, stem: &str) -> Result<(), RunError> {
    remove_files_of(runs_dir, stem, &RUN_FILE_EXTENSIONS)
}

/// Removes the files `runs/<stem>.<ext>` of run `stem` that exist, for each of `extensions`.
pub(crate) fn remove_files_of(
    runs_dir: &Path,
    stem: &str,
    extensions: &[&str],
) -> Result<(), RunError> {
    for ext in extensions {
        let path = runs_dir.join(format!("{stem}.{ext}"));
        if path.exists() {
            fs::remove_file(&path).map_err(|error| RunError::Io {
                action: "remove",
                path,
                error,
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn run_csv_golden() {
        let rec = |round, batch: Option<usize>| RoundRecord {
            round,
            labels: 10 + 5 * round,
            test_log_likelihood: -0.5,
            test_accuracy: 0.75,
            test_brier: 0.1,
            ood_log_likelihood: -0.625,
            ood_accuracy: 2.0 / 3.0,
            ood_brier: 0.2,
            validation_loss: 0.5,
            pool_mean_bald: batch.map(|_| 0.01),
            batch_mean_bald: batch.map(|_| 0.03),
            batch_unique_prompts: batch.map(|b| b - 1),
            labelled_unique_prompts: Some(7 + round),
            batch_size: batch,
            pool_max_bald: batch.map(|_| 0.25),
            stopping_agreement: (round > 0).then_some(0.875),
            oracle_flipped: batch.map(|_| 2),
            oracle_dropped: None,
            oracle_ties: batch.map(|_| 1),
            label_cost: Some(12.5 + round as f64),
        };
        let rows = [rec(0, Some(5)), rec(1, None)];
        let bytes = csv_bytes(
            rows.iter().map(|r| RunRow::new("balpm", 9, r)),
            Path::new("run.csv"),
        )
        .unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let golden = "policy,seed,round,labels,test_log_likelihood,test_accuracy,test_brier,ood_log_likelihood,ood_accuracy,ood_brier,validation_loss,pool_mean_bald,batch_mean_bald,batch_unique_prompts,batch_size,labelled_unique_prompts,pool_max_bald,stopping_agreement,oracle_flipped,oracle_dropped,oracle_ties,label_cost\n\
balpm,9,0,10,-0.5,0.75,0.1,-0.625,0.6666666666666666,0.2,0.5,0.01,0.03,4,5,7,0.25,,2,,1,12.5\n\
balpm,9,1,15,-0.5,0.75,0.1,-0.625,0.6666666666666666,0.2,0.5,,,,,8,,0.875,,,,13.5\n";
        assert_eq!(text, golden);
    }

    #[test]
    fn pair_run_csv_golden() {
        let rec = |round: usize, last: bool| PairRoundRecord {
            round,
            labels: 8 * round,
            heldout_log_likelihood: -0.5,
            heldout_accuracy: 0.75,
            heldout_brier: 0.125,
            batch_mean_score_gap: (!last).then_some(1.5),
            batch_judge_ties: (!last).then_some(1),
            batch_oracle_flipped: None,
            batch_mean_predicted_gap: (!last).then_some(0.25),
            batch_mean_predicted_sd: (!last).then_some(0.5),
            batch_mean_latent_gap: None,
            validation_labels: 40,
            anchor_strength: None,
            label_cost: Some(2.5 * (8 * round) as f64),
            validation_loss: (round > 0).then_some(0.625),
            batch_max_bald: (!last).then_some(0.0625),
            stopping_agreement: (round > 0).then_some(0.875),
        };
        let rows = [rec(0, false), rec(1, true)];
        let bytes = csv_bytes(
            rows.iter()
                .map(|r| PairRunRow::new("drts", 3, PairMode::Corrected, r)),
            Path::new("run.csv"),
        )
        .unwrap();
        let golden = "policy,seed,pair_mode,round,labels,heldout_log_likelihood,heldout_accuracy,heldout_brier,batch_mean_score_gap,batch_judge_ties,batch_mean_predicted_gap,batch_mean_predicted_sd,batch_mean_latent_gap,validation_labels,anchor_strength,batch_oracle_flipped,label_cost,validation_loss,batch_max_bald,stopping_agreement\n\
drts,3,corrected,0,0,-0.5,0.75,0.125,1.5,1,0.25,0.5,,40,,,0.0,,0.0625,\n\
drts,3,corrected,1,8,-0.5,0.75,0.125,,,,,,40,,,20.0,0.625,,0.875\n";
        assert_eq!(String::from_utf8(bytes).unwrap(), golden);
    }
}
