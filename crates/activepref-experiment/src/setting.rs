//! The checked experiment: [`Experiment`] = what every run shares ([`Common`]) + the setting it
//! runs in ([`Setting`]): the BAL-PM pool setting or the ActiveUltraFeedback pair setting.
//!
//! An [`ExperimentConfig`] is the YAML file as written (both settings' sections optional, as the
//! format has always been); [`ExperimentConfig::check`] turns it into an [`Experiment`], and only
//! an `Experiment` can run (linfa's `ParamGuard`, ripgrep's `LowArgs -> HiArgs`). Each setting owns
//! its benchmark source, loop sizes, policy map, run-file metrics and report defaults; the runner
//! builds a setting's resumable runs through `crate::runner` without ever asking which setting it
//! is in.

use std::path::{Path, PathBuf};

use activepref_acquire::{PairMode, PairPolicySpec, PolicySpec};
use activepref_core::{FieldError, PairBenchmark, PoolBenchmark};
use activepref_data::sources::{CandidateSource, ComparisonSource};
use activepref_data::synthetic::SyntheticPoolConfig;
use activepref_data::synthetic_pairs::SyntheticPairConfig;
use activepref_loop::{LoopConfig, PairLoopConfig};
use activepref_model::EnsembleConfig;
use indexmap::IndexMap;

use crate::config::identity::stable_hash;
use crate::{BenchmarkSpec, ExperimentConfig, ReportSection};

/// A checked experiment: only this runs ([`crate::run_experiment`]).
///
/// Built by [`ExperimentConfig::check`] (through [`ExperimentConfig::load`] / `parse`), or by
/// [`ExperimentConfig::into_experiment`] for a `config.resolved.yaml` read back after its runs.
///
/// ```
/// use std::path::Path;
/// use activepref_experiment::{ExperimentConfig, Setting};
///
/// let yaml = "name: demo\nbenchmark: { kind: synthetic, pool_prompts: 40 }\n\
///             loop: { initial_labels: 10, batch_size: 5, rounds: 2 }\n\
///             policies: { random: { policy: random } }\nseeds: [1]\n";
/// let exp = ExperimentConfig::parse(yaml, Path::new("demo.yaml")).unwrap();
/// assert!(matches!(exp.setting, Setting::Pool(_)));
/// assert_eq!(exp.setting.labels(), ["random"]);
/// assert_eq!(exp.known_rounds_per_run(), Some(2));
/// // The run id is a 12-hex-digit hash of everything that determines the run's numbers.
/// assert_eq!(exp.run_id("random", 1).len(), 12);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Experiment {
    /// What every run of the experiment shares, whatever the setting.
    pub common: Common,
    /// The setting: its benchmark, loop, policies.
    pub setting: Setting,
}

/// The fields of an experiment that do not depend on its setting.
#[derive(Clone, Debug, PartialEq)]
pub struct Common {
    /// Experiment name; results go to `results/<name>` unless `output_dir` says otherwise.
    pub name: String,
    /// Where results go (`None`: `results/<name>`).
    pub output_dir: Option<PathBuf>,
    /// The reward model (ensemble or MC dropout) every run trains.
    pub model: EnsembleConfig,
    /// One run per (policy, seed).
    pub seeds: Vec<u64>,
    /// How the report summarises the runs.
    pub report: ReportSection,
    /// The sweep grid point this experiment is (`<grid>/<slug>`), part of every run id.
    pub variant: Option<String>,
}

/// The two settings of the benchmark.
#[derive(Clone, Debug, PartialEq)]
pub enum Setting {
    /// BAL-PM's pool setting (Melo et al., NeurIPS 2024): batches of comparisons from a pool.
    Pool(PoolSetting),
    /// ActiveUltraFeedback's pair setting: per prompt, which 2 of n responses to judge.
    Pair(PairSetting),
}

/// Where a pool benchmark comes from (`benchmark.kind: synthetic | comparisons`).
#[derive(Clone, Debug, PartialEq)]
pub enum PoolSource {
    /// The embedded seeded synthetic pool.
    Synthetic(SyntheticPoolConfig),
    /// Real comparisons with stored features.
    Comparisons(ComparisonSource),
}

/// Where a pair benchmark comes from (`benchmark.kind: synthetic_pairs | candidates`).
#[derive(Clone, Debug, PartialEq)]
pub enum PairSource {
    /// The embedded synthetic prompt stream with n responses each.
    SyntheticPairs(SyntheticPairConfig),
    /// A real candidate pool (AlpacaEval, UltraFeedback) with stored response features.
    Candidates(CandidateSource),
}

/// The pool setting: `benchmark` (synthetic or comparisons), `loop:` and `policies:`.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolSetting {
    /// The benchmark to run on.
    pub benchmark: PoolSource,
    /// Loop sizes (`loop:`).
    pub loop_config: LoopConfig,
    /// Label → pool policy, in plot order.
    pub policies: IndexMap<String, PolicySpec>,
    /// The file's `pair_mode`, which means nothing in the pool setting. It is kept so that the
    /// resolved configuration, and so every run id, of a file that sets it stays as it was.
    pub file_pair_mode: PairMode,
}

/// The pair setting: `benchmark` (synthetic_pairs or candidates), `pair_loop:`, `pair_policies:`
/// and `pair_mode:`.
#[derive(Clone, Debug, PartialEq)]
pub struct PairSetting {
    /// The benchmark to run on.
    pub benchmark: PairSource,
    /// Loop sizes (`pair_loop:`).
    pub loop_config: PairLoopConfig,
    /// Label → pair policy, in plot order.
    pub policies: IndexMap<String, PairPolicySpec>,
    /// `reference` (the public code's behaviour) or `corrected`; recorded in every run file.
    pub mode: PairMode,
}

/// A run-file metric: its column and its title in figures and tables.
pub type Metric = (String, String);

impl PoolSetting {
    /// The splits whose `<split>_<log_likelihood|accuracy|brier>` columns a pool run file has.
    pub const METRIC_SPLITS: [&'static str; 2] = ["test", "ood"];

    /// The report's metrics when `report.metrics` is empty: test and OOD log-likelihood.
    pub fn default_metrics() -> Vec<Metric> {
        vec![
            ("test_log_likelihood".into(), "Test log-likelihood".into()),
            (
                "ood_log_likelihood".into(),
                "OOD test log-likelihood".into(),
            ),
        ]
    }

    /// Builds the benchmark (generating it, or loading data and features, named `name`) and
    /// checks the loop sizes and policy parameters against it.
    ///
    /// # Errors
    /// The data cannot be read (`benchmark: ...`), or the pool is too small for the loop
    /// (`loop.batch_size: ...`) or a policy (`policies.<label>.k: ...`).
    pub fn build_benchmark(&self, name: &str) -> Result<PoolBenchmark, FieldError> {
        let bench = match &self.benchmark {
            PoolSource::Synthetic(c) => c.generate().map_err(|e| e.within("benchmark"))?,
            PoolSource::Comparisons(src) => {
                let a = src
                    .assemble(name)
                    .map_err(|e| data_error(&e, &src.features, &src.path))?;
                // `missing_features: drop` drops on purpose; never silently.
                for (role, gone) in a.dropped.iter().filter(|(_, n)| *n > 0) {
                    eprintln!(
                        "note: {name}: {role}: {} without features dropped (missing_features: drop)",
                        activepref_core::error::counted(*gone, "comparison", "comparisons")
                    );
                }
                a.benchmark
            }
        };
        bench.validate().map_err(|e| {
            // Every comparison in the pool (a file without a split column): `resplit` carves
            // the other splits from it. Where the file has some splits, `resplit` would refuse.
            let all_pool = bench.validation.is_empty() && bench.test.is_empty();
            let hint = match (&e, &self.benchmark) {
                (
                    activepref_core::BenchmarkError::EmptySplit { .. },
                    PoolSource::Comparisons(src),
                ) if src.resplit.is_none() && all_pool && !bench.pool.is_empty() => {
                    " (a file without a split column puts every comparison in the pool: add `resplit: { validation: 0.15, test: 0.25, ood: 0.0, seed: 0 }` under `benchmark:`, or a split column)"
                }
                _ => "",
            };
            FieldError::new("benchmark", format!("{e}{hint}"))
        })?;
        self.check_sizes(bench.pool.len())?;
        self.check_validation_cap(bench.validation.len())?;
        Ok(bench)
    }

    /// `loop.validation_size` against a validation split of `validation` comparisons: a cap that
    /// keeps every comparison would change nothing, so it is refused rather than ignored.
    ///
    /// # Errors
    /// `loop.validation_size: ...` when the cap is at least `validation`.
    pub fn check_validation_cap(&self, validation: usize) -> Result<(), FieldError> {
        match self.loop_config.validation_size {
            Some(cap) if cap >= validation => Err(FieldError::new(
                "validation_size",
                format!(
                    "is {cap}, but the validation split holds only {validation} comparisons, so it would change nothing; lower it or leave it out"
                ),
            )
            .within("loop")),
            _ => Ok(()),
        }
    }

    /// Loop sizes and policy parameters against a pool of `pool` comparisons.
    ///
    /// # Errors
    /// `loop.<field>: ...` or `policies.<label>.<field>: ...`.
    pub fn check_sizes(&self, pool: usize) -> Result<(), FieldError> {
        let lp = &self.loop_config;
        lp.validate(pool).map_err(|e| e.within("loop"))?;
        let pool_after_cap = lp.pool_size.map_or(pool, |c| c.min(pool)) - lp.initial_labels;
        for (label, spec) in &self.policies {
            spec.validate(pool_after_cap)
                .map_err(|e| e.within(label).within("policies"))?;
        }
        Ok(())
    }
}

impl PairSetting {
    /// The splits whose `<split>_<log_likelihood|accuracy|brier>` columns a pair run file has.
    pub const METRIC_SPLITS: [&'static str; 1] = ["heldout"];

    /// The report's metrics when `report.metrics` is empty: held-out accuracy and
    /// log-likelihood.
    pub fn default_metrics() -> Vec<Metric> {
        vec![
            ("heldout_accuracy".into(), "Held-out pair accuracy".into()),
            (
                "heldout_log_likelihood".into(),
                "Held-out log-likelihood".into(),
            ),
        ]
    }

    /// Builds the benchmark (generating it, or loading the candidates, named `name`) and checks
    /// the loop sizes against its stream.
    ///
    /// # Errors
    /// The data cannot be read (`benchmark: ...`), or the stream is too short for the loop
    /// (`pair_loop.<field>: ...`).
    pub fn build_benchmark(&self, name: &str) -> Result<PairBenchmark, FieldError> {
        let bench = match &self.benchmark {
            PairSource::SyntheticPairs(c) => c.generate().map_err(|e| e.within("benchmark"))?,
            PairSource::Candidates(src) => src
                .assemble(name)
                .map_err(|e| data_error(&e, &src.features, &src.path))?,
        };
        self.check_sizes(bench.stream.len())?;
        Ok(bench)
    }

    /// Pair-loop sizes against a stream of `prompts` prompts.
    ///
    /// # Errors
    /// `pair_loop.<field>: ...`.
    pub fn check_sizes(&self, prompts: usize) -> Result<(), FieldError> {
        self.loop_config
            .validate(prompts)
            .map_err(|e| e.within("pair_loop"))
    }

    /// The labels of the static baselines (policies that read no model), drawn as flat lines in
    /// the prefix report.
    pub fn static_baselines(&self) -> Vec<String> {
        self.policies
            .iter()
            .filter(|(_, spec)| spec.is_static())
            .map(|(label, _)| label.clone())
            .collect()
    }
}

/// A data error as the error of the experiment field it is about: `benchmark.features` for a file
/// of the feature store `features`, `benchmark.path` for one of the dataset `path`, else
/// `benchmark`.
fn data_error(e: &activepref_data::DataError, features: &Path, path: &Path) -> FieldError {
    let field = if e.file.starts_with(features) {
        "benchmark.features"
    } else if e.file.starts_with(path) {
        "benchmark.path"
    } else {
        "benchmark"
    };
    FieldError::new(field, e.to_string())
}

/// A built benchmark of either setting.
#[derive(Clone, Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "built once per experiment and never moved in a loop"
)]
pub enum Benchmark {
    /// A pool benchmark (pool, validation, test and OOD splits).
    Pool(PoolBenchmark),
    /// A pair benchmark (prompt stream with candidates, validation and held-out prompts).
    Pair(PairBenchmark),
}

impl Setting {
    /// The policy labels, in plot order.
    pub fn labels(&self) -> Vec<String> {
        match self {
            Setting::Pool(s) => s.policies.keys().cloned().collect(),
            Setting::Pair(s) => s.policies.keys().cloned().collect(),
        }
    }

    /// `pool` or `pair`.
    pub fn name(&self) -> &'static str {
        match self {
            Setting::Pool(_) => "pool",
            Setting::Pair(_) => "pair",
        }
    }

    /// `synthetic`, `comparisons`, `synthetic_pairs` or `candidates`: the `benchmark.kind`.
    pub fn benchmark_kind(&self) -> &'static str {
        match self {
            Setting::Pool(s) => match s.benchmark {
                PoolSource::Synthetic(_) => "synthetic",
                PoolSource::Comparisons(_) => "comparisons",
            },
            Setting::Pair(s) => match s.benchmark {
                PairSource::SyntheticPairs(_) => "synthetic_pairs",
                PairSource::Candidates(_) => "candidates",
            },
        }
    }

    /// The report's metrics when `report.metrics` is empty.
    pub fn default_metrics(&self) -> Vec<Metric> {
        match self {
            Setting::Pool(_) => PoolSetting::default_metrics(),
            Setting::Pair(_) => PairSetting::default_metrics(),
        }
    }

    /// The labels of policies that read no model (pair setting; none in the pool setting).
    pub fn static_baselines(&self) -> Vec<String> {
        match self {
            Setting::Pool(_) => Vec::new(),
            Setting::Pair(s) => s.static_baselines(),
        }
    }

    /// Whether the real data the benchmark names is there (a generated benchmark always is).
    ///
    /// # Errors
    /// `path: ... does not exist`.
    pub fn check_data(&self) -> Result<(), FieldError> {
        match self {
            Setting::Pool(PoolSetting {
                benchmark: PoolSource::Comparisons(src),
                ..
            }) => src.check_data(),
            Setting::Pair(PairSetting {
                benchmark: PairSource::Candidates(src),
                ..
            }) => src.check_data(),
            _ => Ok(()),
        }
    }

    /// Rounds each run records when the configuration alone says (every pool run; a pair run
    /// with an explicit `rounds`), else None (a pair run over the whole stream).
    pub fn known_rounds_per_run(&self) -> Option<usize> {
        match self {
            Setting::Pool(s) => Some(s.loop_config.rounds),
            Setting::Pair(s) => s.loop_config.rounds.map(|r| r + 1),
        }
    }

    /// The benchmark section as the file writes it.
    pub fn benchmark_spec(&self) -> BenchmarkSpec {
        match self {
            Setting::Pool(s) => match &s.benchmark {
                PoolSource::Synthetic(c) => BenchmarkSpec::Synthetic(c.clone()),
                PoolSource::Comparisons(c) => BenchmarkSpec::Comparisons(c.clone()),
            },
            Setting::Pair(s) => match &s.benchmark {
                PairSource::SyntheticPairs(c) => BenchmarkSpec::SyntheticPairs(c.clone()),
                PairSource::Candidates(c) => BenchmarkSpec::Candidates(c.clone()),
            },
        }
    }
}

impl Experiment {
    /// The output directory, relative to the working directory.
    pub fn output_dir(&self) -> PathBuf {
        self.common
            .output_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("results").join(&self.common.name))
    }

    /// The file form of this experiment (every default filled in): what `config.resolved.yaml`
    /// holds and what run ids hash.
    pub fn to_config(&self) -> ExperimentConfig {
        let c = &self.common;
        let mut file = ExperimentConfig {
            name: c.name.clone(),
            output_dir: c.output_dir.clone(),
            benchmark: self.setting.benchmark_spec(),
            model: c.model.clone(),
            loop_: None,
            policies: IndexMap::new(),
            pair_loop: None,
            pair_policies: IndexMap::new(),
            pair_mode: PairMode::default(),
            seeds: c.seeds.clone(),
            report: c.report.clone(),
            variant: c.variant.clone(),
        };
        match &self.setting {
            Setting::Pool(s) => {
                file.loop_ = Some(s.loop_config.clone());
                file.policies = s.policies.clone();
                file.pair_mode = s.file_pair_mode;
            }
            Setting::Pair(s) => {
                file.pair_loop = Some(s.loop_config.clone());
                file.pair_policies = s.policies.clone();
                file.pair_mode = s.mode;
            }
        }
        file
    }

    /// Builds the benchmark of the setting (see [`PoolSetting::build_benchmark`] and
    /// [`PairSetting::build_benchmark`]).
    ///
    /// # Errors
    /// The data is missing or unreadable, or too small for the loop sizes; the field is named.
    pub fn build_benchmark(&self) -> Result<Benchmark, FieldError> {
        self.setting
            .check_data()
            .map_err(|e| e.within("benchmark"))?;
        match &self.setting {
            Setting::Pool(s) => s.build_benchmark(&self.common.name).map(Benchmark::Pool),
            Setting::Pair(s) => s.build_benchmark(&self.common.name).map(Benchmark::Pair),
        }
    }

    /// The identity of the (policy `label`, `seed`) run of this experiment: a stable hash of
    /// everything that determines its numbers (benchmark, model, loop, pair mode, this policy's
    /// label and parameters, the seed), with every default filled in. The name, the output
    /// directory, the report section and the other policies and seeds are left out, so adding a
    /// policy or a seed, or renaming the experiment, changes no existing run's id.
    pub fn run_id(&self, label: &str, seed: u64) -> String {
        self.to_config().run_id(label, seed)
    }

    /// The identity of the benchmark this experiment runs on: a stable hash of its `benchmark:`
    /// section with every default filled in.
    pub fn benchmark_id(&self) -> String {
        let spec = serde_json::to_value(self.setting.benchmark_spec());
        stable_hash(&spec.expect("a benchmark serialises"))
    }

    /// `synthetic`, `comparisons`, ...: the `benchmark.kind` of this experiment.
    pub fn benchmark_kind(&self) -> &'static str {
        self.setting.benchmark_kind()
    }

    /// Rounds each run records when the configuration alone says (see
    /// [`Setting::known_rounds_per_run`]).
    pub fn known_rounds_per_run(&self) -> Option<usize> {
        self.setting.known_rounds_per_run()
    }

    /// Whether the real data the benchmark names is there.
    ///
    /// # Errors
    /// `path: ... does not exist`.
    pub fn check_data(&self) -> Result<(), FieldError> {
        self.setting.check_data()
    }

    /// An explicit `output_dir`'s parent must exist (the directory itself is created), so that a
    /// typo is caught before hours of runs; the default `results/<name>` is always accepted.
    ///
    /// # Errors
    /// `output_dir: is empty`, `output_dir: the parent directory ... does not exist`.
    pub fn check_output_dir(&self) -> Result<(), FieldError> {
        let Some(dir) = &self.common.output_dir else {
            return Ok(());
        };
        // A sweep grid point's `<root>/<grid>/<point>` is made by activepref: its root's parent
        // is the one the user named.
        let out = match &self.common.variant {
            Some(_) => dir.ancestors().nth(2).unwrap_or(dir),
            None => dir,
        };
        if out.as_os_str().is_empty() {
            // An empty path is the working directory to every file operation, but not to
            // `Path::exists`: refused, so that no check can mistake it for a new directory.
            return Err(FieldError::new(
                "output_dir",
                "is empty; name a directory, or leave output_dir out to write to results/<name>",
            ));
        }
        match out.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(parent) if !parent.is_dir() => Err(FieldError::new(
                "output_dir",
                format!(
                    "the parent directory `{}` of `{}` does not exist; create it or choose another output_dir",
                    parent.display(),
                    out.display()
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The report's metrics: `report.metrics` with their titles, or the setting's defaults.
    pub fn report_metrics(&self, title: impl Fn(&str) -> String) -> Vec<Metric> {
        if self.common.report.metrics.is_empty() {
            self.setting.default_metrics()
        } else {
            self.common
                .report
                .metrics
                .iter()
                .map(|m| (m.clone(), title(m)))
                .collect()
        }
    }
}
