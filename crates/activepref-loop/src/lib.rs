//! # activepref-loop
//!
//! Owns the **loop** arrow: the two active-learning loops and their per-round metrics. The
//! pair-selection loop of ActiveUltraFeedback is in [`pair`], the evaluation of its loop-order
//! prefixes (what k labels buy a fresh model) in [`prefix`]. The pool-based loop of BAL-PM
//! (specs/balpm.md §3) is [`PoolLoop`]; each of its rounds `t`:
//! 1. train the ensemble from scratch on the labelled set `L_t`;
//! 2. evaluate test and OOD log-likelihood, accuracy and Brier score;
//! 3. unless it is the last round, score the unlabelled pool (BALD), let the policy pick a batch,
//!    and reveal its labels (the dataset labels are the oracle, unless `loop.oracle` says otherwise:
//!    see [`OracleConfig`]).
//!
//! Unlike the reference, the last round acquires nothing (its batch would never be trained on).
//! Because every random stream is derived from `(run seed, stream, round, member)`, a run can be
//! resumed from any finished round given only the labelled set: see [`PoolLoop::resume_from`].

#![warn(missing_docs)]

mod cold_start;
mod oracle;
pub mod pair;
mod pool;
pub mod prefix;
mod records;
pub mod stopping;

pub use cold_start::ColdStart;
pub use oracle::{Answer, LabelCost, OracleConfig, OracleKind, TiePolicy, TieRule};
pub use pair::{AcquiredPair, PairLoop, PairLoopConfig, PairRefit, PairRoundRecord};
pub use pool::PoolLoop;
pub use prefix::{PrefixEvalConfig, PrefixRecord, PrefixTarget, evaluate_prefixes};
pub use records::{LoopConfig, RoundRecord, RoundTiming};

use activepref_acquire::AcquireError;
use activepref_model::ModelError;

/// Why a round could not run, or a saved run could not be resumed. A policy's error is printed
/// after the round (and prompt) it happened in, on one line.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LoopError {
    /// Training or evaluating the model failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The pool policy (or its uncertainty score) failed in a round.
    #[error("round {round}: {error}")]
    Policy {
        /// The 0-based round.
        round: usize,
        /// The policy's error.
        error: AcquireError,
    },
    /// The pair rule failed on one prompt of a pair-loop round.
    #[error("round {round}, prompt {prompt}: {error}")]
    PairPolicy {
        /// The 0-based round (batch).
        round: usize,
        /// The prompt's id.
        prompt: u32,
        /// The rule's error.
        error: AcquireError,
    },
    /// The policy picked a comparison twice, or one already labelled.
    #[error("round {round}: the policy returned repeated or already labelled comparisons")]
    RepeatedPicks {
        /// The 0-based round.
        round: usize,
    },
    /// A saved labelled set has the wrong size for the round to resume from.
    #[error("saved labelled set has {got} rows but round {round} needs {expected}")]
    ResumeLength {
        /// Rows in the saved labelled set.
        got: usize,
        /// The round to resume from.
        round: usize,
        /// Rows that round needs: `initial_labels + round · batch_size` (capped at the last batch).
        expected: usize,
    },
    /// A saved labelled set names a comparison outside this run's pool, or its initial set differs
    /// from the one the run seed gives.
    #[error("saved labelled set does not belong to this run (different seed or pool)")]
    ResumeForeign,
    /// Saved pair-loop state has the wrong number of acquired pairs for the round to resume from.
    #[error("saved state has {got} pairs but round {round} needs {expected}")]
    PairResumeLength {
        /// Pairs in the saved state.
        got: usize,
        /// The batch to resume from.
        round: usize,
        /// Pairs that batch needs.
        expected: usize,
    },
    /// Saved pairs do not match the prompts this run's seed orders into the stream.
    #[error("saved pairs do not belong to this run (different seed or stream)")]
    PairResumeForeign,
    /// The oracle cannot answer on this benchmark; `why` says why and what to change.
    #[error("loop.oracle: {why}")]
    Oracle {
        /// What is missing, and how to fix it.
        why: String,
    },
}
