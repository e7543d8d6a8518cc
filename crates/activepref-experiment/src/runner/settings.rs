//! What the runner needs of each setting ([`RunnableSetting`]): its benchmark, what its runs
//! share, and how to start and resume one (policy, seed) run. The pool setting runs
//! [`PoolLoop`]s, the pair setting [`PairLoop`]s.

use std::path::Path;
use std::sync::Arc;

use activepref_acquire::{PairMode, PairPolicySpec, PoolPolicy, PromptKnnIndex};
use activepref_core::{FieldError, PairBenchmark, PoolBenchmark};
use activepref_loop::{
    AcquiredPair, LoopConfig, LoopError, PairLoop, PairRoundRecord, PoolLoop, PrefixEvalConfig,
    RoundRecord, RoundTiming, evaluate_prefixes,
};
use activepref_model::EnsembleConfig;

use super::acquired::write_acquired_dataset;
use super::checkpoint::ResumableRun;
use super::error::{RunError, write_file};
use super::index_cache::prompt_index_for;
use super::run_files::{PairRunRow, PrefixRow, RunRow, csv_bytes};
use crate::setting::{Common, PairSetting, PoolSetting};

/// A setting the runner can run: build its benchmark, prepare what every run shares, start one
/// run. Both settings implement it, so that `run_experiment` is written once.
pub(crate) trait RunnableSetting: Sync {
    /// The built benchmark.
    type Bench: Sync;
    /// What every run of the experiment shares (the pool setting's kNN index).
    type Shared: Sync;
    /// One (policy, seed) run.
    type Run<'a>: ResumableRun
    where
        Self: 'a;

    /// Builds the benchmark named `name` and checks the loop sizes against it.
    fn build(&self, name: &str) -> Result<Self::Bench, FieldError>;
    /// Rounds every run records on this benchmark.
    fn rounds_per_run(&self, bench: &Self::Bench) -> usize;
    /// Prepares what every run shares (may take minutes: the kNN index at paper scale).
    fn shared(
        &self,
        bench: &Self::Bench,
        out: &Path,
        progress: bool,
    ) -> Result<Self::Shared, RunError>;
    /// A fresh run of policy `label` with `seed` (resumed by [`ResumableRun::resume`]).
    fn start<'a>(
        &'a self,
        common: &'a Common,
        bench: &'a Self::Bench,
        shared: &Self::Shared,
        label: &str,
        seed: u64,
    ) -> Self::Run<'a>;
}

/// A pool (BAL-PM setting) run.
pub(crate) struct PoolRun<'a> {
    lp: PoolLoop<'a>,
    model: &'a EnsembleConfig,
    config: &'a LoopConfig,
    policy: Box<dyn PoolPolicy>,
    label: String,
    seed: u64,
}

impl RunnableSetting for PoolSetting {
    type Bench = PoolBenchmark;
    type Shared = Option<Arc<PromptKnnIndex>>;
    type Run<'a> = PoolRun<'a>;

    fn build(&self, name: &str) -> Result<PoolBenchmark, FieldError> {
        self.build_benchmark(name)
    }

    fn rounds_per_run(&self, _bench: &PoolBenchmark) -> usize {
        self.loop_config.rounds
    }

    fn shared(
        &self,
        bench: &PoolBenchmark,
        out: &Path,
        progress: bool,
    ) -> Result<Self::Shared, RunError> {
        prompt_index_for(self, bench, out, progress)
    }

    fn start<'a>(
        &'a self,
        common: &'a Common,
        bench: &'a PoolBenchmark,
        shared: &Self::Shared,
        label: &str,
        seed: u64,
    ) -> PoolRun<'a> {
        PoolRun {
            lp: PoolLoop::new(bench, &common.model, &self.loop_config, seed)
                .with_prompt_index(shared.clone()),
            model: &common.model,
            config: &self.loop_config,
            policy: self.policies[label].build(),
            label: label.to_string(),
            seed,
        }
    }
}

impl ResumableRun for PoolRun<'_> {
    type Acquired = Vec<usize>;
    type Record = RoundRecord;
    fn round(&self) -> usize {
        self.lp.round
    }
    fn finished(&self) -> bool {
        self.lp.finished()
    }
    fn step(&mut self) -> Result<(RoundRecord, RoundTiming), LoopError> {
        self.lp.step(self.policy.as_ref())
    }
    fn acquired(&self) -> Vec<usize> {
        self.lp.labelled.clone()
    }
    fn resume(&mut self, labelled: Vec<usize>, round: usize) -> Result<(), LoopError> {
        let index = self.lp.prompt_index();
        self.lp = PoolLoop::resume_from(
            self.lp.bench(),
            self.model,
            self.config,
            self.seed,
            labelled,
            round,
        )?
        .with_prompt_index(index);
        Ok(())
    }
    fn csv(&self, records: &[RoundRecord], path: &Path) -> Result<Vec<u8>, RunError> {
        csv_bytes(
            records
                .iter()
                .map(|r| RunRow::new(&self.label, self.seed, r)),
            path,
        )
    }
    fn warning(&self, record: &RoundRecord) -> Option<String> {
        self.lp.short_batch_warning(record)
    }
}

/// A pair (ActiveUltraFeedback setting) run.
pub(crate) struct PairRun<'a> {
    lp: PairLoop<'a>,
    setting: &'a PairSetting,
    spec: &'a PairPolicySpec,
    model: &'a EnsembleConfig,
    label: String,
    seed: u64,
}

impl PairRun<'_> {
    fn mode(&self) -> PairMode {
        self.setting.mode
    }

    fn prefix_eval(&self) -> Option<&PrefixEvalConfig> {
        self.setting.loop_config.prefix_eval.as_ref()
    }
}

impl RunnableSetting for PairSetting {
    type Bench = PairBenchmark;
    type Shared = ();
    type Run<'a> = PairRun<'a>;

    fn build(&self, name: &str) -> Result<PairBenchmark, FieldError> {
        self.build_benchmark(name)
    }

    fn rounds_per_run(&self, bench: &PairBenchmark) -> usize {
        let lp = &self.loop_config;
        lp.rounds
            .unwrap_or_else(|| lp.rounds_for(bench.stream.len()))
            + 1
    }

    fn shared(&self, _: &PairBenchmark, _: &Path, _: bool) -> Result<(), RunError> {
        Ok(())
    }

    fn start<'a>(
        &'a self,
        common: &'a Common,
        bench: &'a PairBenchmark,
        _shared: &(),
        label: &str,
        seed: u64,
    ) -> PairRun<'a> {
        let spec = &self.policies[label];
        PairRun {
            lp: PairLoop::new(
                bench,
                &common.model,
                &self.loop_config,
                spec,
                self.mode,
                seed,
            ),
            setting: self,
            spec,
            model: &common.model,
            label: label.to_string(),
            seed,
        }
    }
}

impl ResumableRun for PairRun<'_> {
    type Acquired = Vec<AcquiredPair>;
    type Record = PairRoundRecord;
    fn round(&self) -> usize {
        self.lp.round
    }
    fn finished(&self) -> bool {
        self.lp.finished()
    }
    fn step(&mut self) -> Result<(PairRoundRecord, RoundTiming), LoopError> {
        self.lp.step()
    }
    fn acquired(&self) -> Vec<AcquiredPair> {
        self.lp.acquired.clone()
    }
    fn resume(&mut self, acquired: Vec<AcquiredPair>, round: usize) -> Result<(), LoopError> {
        let fresh = PairLoop::new(
            self.lp.bench(),
            self.model,
            &self.setting.loop_config,
            self.spec,
            self.setting.mode,
            self.seed,
        );
        self.lp = fresh.resume_from(acquired, round)?;
        Ok(())
    }
    fn write_artefacts(&self, runs_dir: &Path, stem: &str) -> Result<Vec<&'static str>, RunError> {
        let mut written =
            write_acquired_dataset(self.lp.bench(), &self.lp.acquired, runs_dir, stem)?;
        if let Some(cfg) = self.prefix_eval() {
            let records = evaluate_prefixes(
                self.lp.bench(),
                self.model,
                &self.lp.acquired,
                cfg,
                self.seed,
            )
            .map_err(|error| RunError::Run {
                stem: stem.to_string(),
                error,
            })?;
            let path = runs_dir.join(format!("{stem}.prefix.csv"));
            let rows = records
                .iter()
                .map(|r| PrefixRow::new(&self.label, self.seed, self.mode(), r));
            write_file(&path, &csv_bytes(rows, &path)?)?;
            written.push("prefix.csv");
        }
        Ok(written)
    }
    fn csv(&self, records: &[PairRoundRecord], path: &Path) -> Result<Vec<u8>, RunError> {
        csv_bytes(
            records
                .iter()
                .map(|r| PairRunRow::new(&self.label, self.seed, self.mode(), r)),
            path,
        )
    }
}
