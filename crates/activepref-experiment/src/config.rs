//! Experiment files: YAML, every field checked, every error naming the file and the field.

use std::path::{Path, PathBuf};

use activepref_acquire::{PairMode, PairPolicySpec, PolicySpec};
use activepref_core::PairBenchmark;
use activepref_core::saving::{DEFAULT_BOOTSTRAP, SavingDefinition};
use activepref_core::{FieldError, PoolBenchmark};
use activepref_data::sources::{CandidateSource, ComparisonSource};
use activepref_data::synthetic::SyntheticPoolConfig;
use activepref_data::synthetic_pairs::SyntheticPairConfig;
use activepref_loop::{LoopConfig, PairLoopConfig};
use activepref_model::{EnsembleConfig, UncertaintyBackend};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// One line that says what is wrong, where, and (in the message) how to fix it:
/// `file: field: message`, or `file: message` when the message already carries the location
/// (YAML syntax errors).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{}: {}", .file.display(), located(.field, .message))]
pub struct ConfigError {
    pub file: PathBuf,
    /// Dotted path of the field (`loop.batch_size`, `policies.balpm.k`); empty when the message
    /// already carries the location.
    pub field: String,
    pub message: String,
}

fn located(field: &str, message: &str) -> String {
    if field.is_empty() {
        message.to_string()
    } else {
        format!("{field}: {message}")
    }
}

impl ConfigError {
    /// A field error found in the file `file`.
    pub fn in_file(file: &Path, e: FieldError) -> Self {
        Self {
            file: file.to_path_buf(),
            field: e.field,
            message: e.message,
        }
    }
}

/// Which benchmark to run on: `benchmark: { kind: synthetic, pool_prompts: 600, ... }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BenchmarkSpec {
    /// The embedded seeded synthetic pool benchmark (BAL-PM setting; activepref-data's `synthetic`).
    Synthetic(SyntheticPoolConfig),
    /// The embedded synthetic prompt stream with n responses each (ActiveUltraFeedback setting).
    SyntheticPairs(SyntheticPairConfig),
    /// Real comparisons (summarize-from-feedback, HH-RLHF, generic pairs) with stored features
    /// (pool setting): `{ kind: comparisons, format: hh-rlhf, path: ..., features: ... }`.
    Comparisons(ComparisonSource),
    /// A real candidate pool (AlpacaEval) with stored response features (pair setting).
    Candidates(CandidateSource),
}

/// A built benchmark of either setting.
#[derive(Clone, Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "built once per experiment and never moved in a loop"
)]
pub enum Benchmark {
    Pool(PoolBenchmark),
    Pair(PairBenchmark),
}

/// How the report summarises the runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportSection {
    /// Trailing-mean window applied to each run's curve before averaging seeds (paper: 3).
    pub smoothing_window: usize,
    /// The policy label whose final value defines "reaching" in the label-efficiency table.
    pub baseline: String,
    /// `first_reach` (default) or `paper_script`: which definition of the label saving.
    #[serde(skip_serializing_if = "is_default")]
    pub saving: SavingDefinition,
    /// Bootstrap resamples of the seeds for every saving's 95% interval (0: none).
    #[serde(skip_serializing_if = "is_default_bootstrap")]
    pub bootstrap: usize,
    /// Ablation figures of a sweep: the grid point (`beta=0.01`, as its directory is named) whose
    /// `baseline` runs are drawn as the reference line; absent: the first grid point in the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ablation_baseline: Option<String>,
    /// Run-file columns to plot and tabulate, e.g. `[test_accuracy, ood_brier]` (any
    /// `<split>_<log_likelihood|accuracy|brier>` column); empty: test and OOD log-likelihood
    /// (pool setting) or held-out accuracy and log-likelihood (pair setting).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<String>,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

fn is_default_bootstrap(v: &usize) -> bool {
    *v == DEFAULT_BOOTSTRAP
}

/// The most bootstrap resamples a report may ask for (each is a full pass over the seeds).
pub const MAX_BOOTSTRAP: usize = 1_000_000;
/// The widest trailing-mean window (in rounds) a report may ask for.
pub const MAX_SMOOTHING_WINDOW: usize = 10_000;
/// The longest policy label: it is part of every run file's name.
pub const MAX_LABEL_LEN: usize = 64;

impl ReportSection {
    /// Checks the numbers; the command line's `report --window/--bootstrap` go through the
    /// same checks, so a flag and its YAML twin accept the same values.
    ///
    /// # Errors
    /// `smoothing_window` outside `[1, MAX_SMOOTHING_WINDOW]`, `bootstrap` over `MAX_BOOTSTRAP`.
    pub fn validate(&self) -> Result<(), FieldError> {
        FieldError::check_count(
            "smoothing_window",
            self.smoothing_window,
            1,
            MAX_SMOOTHING_WINDOW,
        )
        .map_err(|e| FieldError::new(e.field, format!("{} (1 = no smoothing)", e.message)))?;
        FieldError::check_count("bootstrap", self.bootstrap, 0, MAX_BOOTSTRAP)
            .map_err(|e| FieldError::new(e.field, format!("{} (0 = no interval)", e.message)))
    }
}

impl Default for ReportSection {
    fn default() -> Self {
        Self {
            smoothing_window: 3,
            baseline: "random".into(),
            saving: SavingDefinition::default(),
            bootstrap: DEFAULT_BOOTSTRAP,
            ablation_baseline: None,
            metrics: Vec::new(),
        }
    }
}

/// A whole experiment file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    /// Experiment name; results go to `results/<name>` unless `output_dir` says otherwise.
    pub name: String,
    #[serde(default)]
    pub output_dir: Option<PathBuf>,
    pub benchmark: BenchmarkSpec,
    #[serde(default)]
    pub model: EnsembleConfig,
    /// Pool setting: loop sizes.
    #[serde(rename = "loop", default, skip_serializing_if = "Option::is_none")]
    pub loop_: Option<LoopConfig>,
    /// Pool setting: label → policy, in plot order: `bald: { policy: bald }`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub policies: IndexMap<String, PolicySpec>,
    /// Pair setting: loop sizes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pair_loop: Option<PairLoopConfig>,
    /// Pair setting: label → pair policy: `drts: { policy: drts, beta: 1.0 }`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub pair_policies: IndexMap<String, PairPolicySpec>,
    /// Pair setting: `reference` (the public code's behaviour) or `corrected`; recorded in every run file.
    #[serde(default)]
    pub pair_mode: PairMode,
    /// One run per (policy, seed).
    pub seeds: Vec<u64>,
    #[serde(default)]
    pub report: ReportSection,
    /// The sweep grid point this configuration is (`<grid>/<slug>`); not part of the file, but
    /// part of every run id, so that equal grid points of different grids stay different runs.
    #[serde(skip)]
    pub variant: Option<String>,
}

impl ExperimentConfig {
    /// Reads and checks an experiment file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            field: String::new(),
            message: format!("cannot read the experiment file: {e}"),
        })?;
        Self::parse(&text, path)
    }

    /// Parses YAML text (named `path` in errors) and checks it.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let cfg = Self::parse_unchecked(text, path)?;
        cfg.check(path)?;
        Ok(cfg)
    }

    /// Parses without the semantic checks: for reading back a `config.resolved.yaml` whose
    /// experiment already ran (from any working directory).
    pub fn parse_unchecked(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let text = strip_bom(text);
        let parsed = if has_merge_key(text) {
            // `<<: *base` merges are applied on the YAML value first (serde alone would read
            // `<<` as an unknown key); errors then carry the field path but no line.
            yaml_value(text, path)
                .and_then(|v| yaml_serde::from_value(v).map_err(|e| yaml_error(&e, path)))
        } else {
            yaml_serde::from_str(text).map_err(|e| yaml_error(&e, path))
        };
        parsed.map_err(|e| locate_policy_error(text, path).unwrap_or(e))
    }

    /// The output directory, relative to the working directory.
    pub fn output_dir(&self) -> PathBuf {
        self.output_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("results").join(&self.name))
    }

    /// Builds the benchmark (generating it, or loading data and features) and checks the loop
    /// sizes and policy parameters against it. Errors name the field (`benchmark: ...`,
    /// `loop.batch_size: ...`).
    pub fn build_benchmark(&self) -> Result<Benchmark, FieldError> {
        self.check_data().map_err(|e| e.within("benchmark"))?;
        let bench = match &self.benchmark {
            BenchmarkSpec::Synthetic(c) => Benchmark::Pool(c.generate()),
            BenchmarkSpec::SyntheticPairs(c) => Benchmark::Pair(c.generate()),
            BenchmarkSpec::Comparisons(src) => {
                let a = src
                    .assemble(&self.name)
                    .map_err(|e| FieldError::new("benchmark", e.to_string()))?;
                // `missing_features: drop` drops on purpose; never silently.
                for (role, gone) in a.dropped.iter().filter(|(_, n)| *n > 0) {
                    eprintln!(
                        "note: {}: {role}: {gone} comparison(s) without features dropped (missing_features: drop)",
                        self.name
                    );
                }
                Benchmark::Pool(a.benchmark)
            }
            BenchmarkSpec::Candidates(src) => Benchmark::Pair(
                src.assemble(&self.name)
                    .map_err(|e| FieldError::new("benchmark", e.to_string()))?,
            ),
        };
        match &bench {
            Benchmark::Pool(b) => {
                b.validate()
                    .map_err(|e| FieldError::new("benchmark", e.to_string()))?;
                self.check_pool_sizes(b.pool.len())?;
            }
            Benchmark::Pair(b) => self.check_pair_sizes(b.stream.len())?,
        }
        Ok(bench)
    }

    /// Whether the real data the benchmark names is there (a generated benchmark always is).
    /// Parsing does not require it, so that `sweep plan` and `sweep slurm` work on a login node
    /// before the data lands; `validate` and `run` do.
    ///
    /// # Errors
    /// `path: ... does not exist`.
    pub fn check_data(&self) -> Result<(), FieldError> {
        match &self.benchmark {
            BenchmarkSpec::Comparisons(src) => src.check_data(),
            BenchmarkSpec::Candidates(src) => src.check_data(),
            _ => Ok(()),
        }
    }

    /// The pool loop section, or `(field, message)` saying it is missing.
    fn pool_loop(&self) -> Result<&LoopConfig, FieldError> {
        self.loop_.as_ref().ok_or_else(|| {
            FieldError::new(
                "loop",
                "is missing; a pool benchmark needs `loop: { initial_labels, batch_size, rounds }`",
            )
        })
    }

    /// The pair loop section, or `(field, message)` saying it is missing.
    fn pair_loop_config(&self) -> Result<&PairLoopConfig, FieldError> {
        self.pair_loop.as_ref().ok_or_else(|| {
            FieldError::new(
                "pair_loop",
                "is missing; a pair benchmark needs `pair_loop: { batch_prompts, rounds }`",
            )
        })
    }

    /// Loop sizes and policy parameters against a pool of `pool` comparisons.
    fn check_pool_sizes(&self, pool: usize) -> Result<(), FieldError> {
        let lp = self.pool_loop()?;
        lp.validate(pool).map_err(|e| e.within("loop"))?;
        let pool_after_cap = lp.pool_size.map_or(pool, |c| c.min(pool)) - lp.initial_labels;
        for (label, spec) in &self.policies {
            spec.validate(pool_after_cap)
                .map_err(|e| e.within(label).within("policies"))?;
        }
        Ok(())
    }

    /// Pair-loop sizes against a stream of `prompts` prompts.
    fn check_pair_sizes(&self, prompts: usize) -> Result<(), FieldError> {
        self.pair_loop_config()?
            .validate(prompts)
            .map_err(|e| e.within("pair_loop"))
    }

    /// The identity of the (policy `label`, `seed`) run of this experiment: a stable hash of
    /// everything that determines its numbers (benchmark, model, loop, pair mode, this policy's
    /// label and parameters, the seed), with every default filled in. The name, the output
    /// directory, the report section and the other policies and seeds are left out, so adding a
    /// policy or a seed, or renaming the experiment, changes no existing run's id.
    pub fn run_id(&self, label: &str, seed: u64) -> String {
        let mut v = serde_json::to_value(self).expect("an experiment serialises");
        let obj = v.as_object_mut().expect("an experiment is a map");
        for key in ["name", "output_dir", "report", "seeds", "sweep"] {
            obj.remove(key);
        }
        for key in ["policies", "pair_policies"] {
            if let Some(serde_json::Value::Object(m)) = obj.get_mut(key) {
                m.retain(|k, _| k == label);
            }
        }
        let mut run = serde_json::json!({ "label": label, "seed": seed });
        if let Some(variant) = &self.variant {
            run["variant"] = variant.as_str().into();
        }
        obj.insert("run".into(), run);
        stable_hash(&v)
    }

    /// The identity of the benchmark this experiment runs on: a stable hash of its `benchmark:`
    /// section with every default filled in (the results directory records it, so that results
    /// of another benchmark are never mixed into this experiment's report).
    pub fn benchmark_id(&self) -> String {
        stable_hash(&serde_json::to_value(&self.benchmark).expect("a benchmark serialises"))
    }

    /// `synthetic`, `comparisons`, ...: the `benchmark.kind` of this experiment.
    pub fn benchmark_kind(&self) -> &'static str {
        match &self.benchmark {
            BenchmarkSpec::Synthetic(_) => "synthetic",
            BenchmarkSpec::SyntheticPairs(_) => "synthetic_pairs",
            BenchmarkSpec::Comparisons(_) => "comparisons",
            BenchmarkSpec::Candidates(_) => "candidates",
        }
    }

    /// True for the ActiveUltraFeedback (pair-selection) setting.
    pub fn is_pair_setting(&self) -> bool {
        matches!(
            self.benchmark,
            BenchmarkSpec::SyntheticPairs(_) | BenchmarkSpec::Candidates(_)
        )
    }

    /// The policy labels of this experiment's setting, in plot order.
    pub fn policy_labels(&self) -> Vec<String> {
        if self.is_pair_setting() {
            self.pair_policies.keys().cloned().collect()
        } else {
            self.policies.keys().cloned().collect()
        }
    }

    /// Rounds each run records, on a pair stream of `stream` prompts (pair setting).
    pub fn rounds_per_run(&self, stream: usize) -> usize {
        self.known_rounds_per_run().unwrap_or_else(|| {
            self.pair_loop
                .as_ref()
                .map_or(0, |p| p.rounds_for(stream) + 1)
        })
    }

    /// Rounds each run records when the configuration alone says (every pool run; a pair run
    /// with an explicit `rounds`), else None (a pair run over the whole stream).
    pub fn known_rounds_per_run(&self) -> Option<usize> {
        match (&self.loop_, &self.pair_loop) {
            (Some(l), _) if !self.is_pair_setting() => Some(l.rounds),
            (_, Some(p)) => p.rounds.map(|r| r + 1),
            _ => None,
        }
    }

    fn check(&self, path: &Path) -> Result<(), ConfigError> {
        let err = |field: String, message: String| ConfigError {
            file: path.to_path_buf(),
            field,
            message,
        };
        let in_file = |e: FieldError| ConfigError::in_file(path, e);
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(err(
                "name".into(),
                format!(
                    "`{}` must be non-empty and use only letters, digits, '-', '_' and '.'",
                    self.name
                ),
            ));
        }
        if self.seeds.is_empty() {
            return Err(err(
                "seeds".into(),
                "is empty; list at least one seed, e.g. `seeds: [9, 17, 23]`".into(),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(s) = self.seeds.iter().find(|s| !seen.insert(**s)) {
            return Err(err(
                "seeds".into(),
                format!("seed {s} is listed twice; each seed is one run"),
            ));
        }
        let pair = self.is_pair_setting();
        let (needed, extra) = if pair {
            ("pair_policies", "policies")
        } else {
            ("policies", "pair_policies")
        };
        let labels = self.policy_labels();
        if labels.is_empty() {
            let example = if pair {
                "`drts: { policy: drts }`"
            } else {
                "`random: { policy: random }`"
            };
            return Err(err(
                needed.into(),
                format!("is empty or missing; add e.g. {example}"),
            ));
        }
        let extra_given = if pair {
            !self.policies.is_empty() || self.loop_.is_some()
        } else {
            !self.pair_policies.is_empty() || self.pair_loop.is_some()
        };
        if extra_given {
            let which = if pair {
                "`policies` and `loop` belong to pool benchmarks (kind: synthetic or comparisons)"
            } else {
                "`pair_policies` and `pair_loop` belong to pair benchmarks (kind: synthetic_pairs or candidates)"
            };
            return Err(err(
                extra.into(),
                format!("{which}; remove them or change benchmark.kind"),
            ));
        }
        for label in &labels {
            if label.len() > MAX_LABEL_LEN {
                return Err(err(
                    format!("{needed}.{}…", label.chars().take(20).collect::<String>()),
                    format!(
                        "a policy label may be at most {MAX_LABEL_LEN} characters (it names the run files); this one has {}",
                        label.chars().count()
                    ),
                ));
            }
            if label.is_empty()
                || !label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return Err(err(
                    format!("{needed}.{label}"),
                    "a policy label may use only letters, digits, '-', '_' and '.'".into(),
                ));
            }
        }
        if !labels.contains(&self.report.baseline) {
            return Err(err(
                "report.baseline".into(),
                format!(
                    "`{}` is not one of the policy labels ({}); name the label to compare against",
                    self.report.baseline,
                    labels.join(", ")
                ),
            ));
        }
        let splits: &[&str] = if pair { &["heldout"] } else { &["test", "ood"] };
        for m in &self.report.metrics {
            let known = splits.iter().any(|s| {
                ["log_likelihood", "accuracy", "brier"]
                    .iter()
                    .any(|k| *m == format!("{s}_{k}"))
            });
            if !known {
                return Err(err(
                    "report.metrics".into(),
                    format!(
                        "`{m}` is not a run-file metric of this setting; use <split>_<log_likelihood|accuracy|brier> with split {}",
                        splits.join(" or ")
                    ),
                ));
            }
        }
        self.report
            .validate()
            .map_err(|e| in_file(e.within("report")))?;
        self.model
            .validate()
            .map_err(|e| in_file(e.within("model")))?;
        // A rule that reads the members' disagreement gets 0 from a single member, everywhere.
        if self.model.members == 1 && self.model.backend == UncertaintyBackend::Ensemble {
            let needy = self
                .policies
                .iter()
                .filter(|(_, p)| p.needs_members())
                .map(|(l, _)| format!("policies.{l}"))
                .chain(
                    self.pair_policies
                        .iter()
                        .filter(|(_, p)| p.needs_members())
                        .map(|(l, _)| format!("pair_policies.{l}")),
                )
                .next();
            if let Some(field) = needy {
                return Err(err(
                    "model.members".into(),
                    format!(
                        "is 1, but {field} reads the ensemble's disagreement, which one member cannot have (it would be 0 everywhere); use at least 2 members (the papers use 5) or backend: {{ kind: mc_dropout }}"
                    ),
                ));
            }
        }
        match &self.benchmark {
            BenchmarkSpec::Synthetic(c) => {
                c.validate().map_err(|e| in_file(e.within("benchmark")))?;
                // An exact pool size is known without generating (a paper-scale pool is 6 GB);
                // otherwise the Poisson draws decide it, and small pools are cheap to generate.
                let pool = match c.pool_comparisons {
                    0 => c.generate().pool.len(),
                    n => n,
                };
                self.check_pool_sizes(pool).map_err(in_file)?;
            }
            BenchmarkSpec::SyntheticPairs(c) => {
                c.validate().map_err(|e| in_file(e.within("benchmark")))?;
                self.check_pair_sizes(c.prompts).map_err(in_file)?;
            }
            // Real data: sizes are checked when the data is loaded (`build_benchmark`).
            BenchmarkSpec::Comparisons(src) => {
                src.validate().map_err(|e| in_file(e.within("benchmark")))?;
                self.pool_loop().map_err(in_file)?;
            }
            BenchmarkSpec::Candidates(src) => {
                src.validate().map_err(|e| in_file(e.within("benchmark")))?;
                self.pair_loop_config().map_err(in_file)?;
            }
        }
        for (label, spec) in &self.pair_policies {
            spec.validate()
                .map_err(|e| in_file(e.within(label).within("pair_policies")))?;
        }
        self.check_output_dir().map_err(in_file)
    }

    /// An explicit `output_dir`'s parent must exist (the directory itself is created), so that a
    /// typo is caught before hours of runs; the default `results/<name>` is always accepted
    /// (`results/` is created when missing).
    pub fn check_output_dir(&self) -> Result<(), FieldError> {
        let Some(dir) = &self.output_dir else {
            return Ok(());
        };
        // A sweep grid point's `<root>/<grid>/<point>` is made by activepref: its root's parent
        // is the one the user named.
        let out = match &self.variant {
            Some(_) => dir.ancestors().nth(2).unwrap_or(dir),
            None => dir,
        };
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
}

/// The text without a leading UTF-8 byte-order mark (editors on Windows write one).
pub(crate) fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// True when the text uses YAML merge keys (`<<: *base`).
fn has_merge_key(text: &str) -> bool {
    text.lines().any(|l| l.trim_start().starts_with("<<"))
        || text.contains("{<<")
        || text.contains(", <<")
}

/// The YAML value of an experiment file (byte-order mark dropped, merge keys applied).
///
/// # Errors
/// The text is not YAML, or a merge key does not name a mapping.
pub fn yaml_value(text: &str, path: &Path) -> Result<yaml_serde::Value, ConfigError> {
    let mut v: yaml_serde::Value =
        yaml_serde::from_str(strip_bom(text)).map_err(|e| yaml_error(&e, path))?;
    v.apply_merge().map_err(|e| yaml_error(&e, path))?;
    Ok(v)
}

/// The error of the one policy entry that does not parse, named by its label
/// (`policies.bald: unknown field `score`, ...`): serde reports the whole map's first line.
fn locate_policy_error(text: &str, path: &Path) -> Option<ConfigError> {
    let root = yaml_value(text, path).ok()?;
    for (section, pool) in [("policies", true), ("pair_policies", false)] {
        let Some(yaml_serde::Value::Mapping(m)) = root.get(section) else {
            continue;
        };
        for (label, spec) in m {
            let err = if pool {
                yaml_serde::from_value::<PolicySpec>(spec.clone()).err()
            } else {
                yaml_serde::from_value::<PairPolicySpec>(spec.clone()).err()
            };
            if let Some(e) = err {
                let label = label.as_str().unwrap_or("?");
                let mut located = yaml_error(&e, path);
                located.field = format!("{section}.{label}");
                return Some(located);
            }
        }
    }
    None
}

/// A YAML or schema error of an experiment file as one line, with a hint where serde's own words
/// leave the user guessing.
pub(crate) fn yaml_error(e: &yaml_serde::Error, path: &Path) -> ConfigError {
    let text = e.to_string();
    let hint = if text.contains("there are no fields") && text.contains("`score`") {
        "this policy takes no parameters; to rank by another score, use `policy: rank` with `score:` (`activepref policies` lists every policy's parameters)"
    } else if text.contains("there are no fields") {
        "this policy takes no parameters (`activepref policies` lists every policy's parameters)"
    } else {
        "see experiments/quickstart.yaml for a complete example"
    };
    ConfigError {
        file: path.to_path_buf(),
        field: String::new(),
        message: format!("{text} ({hint})"),
    }
}

/// FNV-1a of the canonical JSON text, as 12 hex digits: equal values give equal ids on every
/// machine and in every version that serialises them alike.
fn stable_hash(v: &serde_json::Value) -> String {
    let mut text = String::new();
    canonical_json(v, &mut text);
    format!("{:012x}", activepref_core::io::fnv1a(text.as_bytes()) >> 16)
}

/// JSON text with every object's keys sorted, so that equal values give equal bytes whatever the
/// map implementation.
fn canonical_json(v: &serde_json::Value, out: &mut String) {
    match v {
        serde_json::Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(k.clone()).to_string());
                out.push(':');
                canonical_json(&m[k], out);
            }
            out.push('}');
        }
        serde_json::Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name: t
output_dir: /tmp/activepref-config-test
benchmark:
  kind: synthetic
  pool_prompts: 60
loop: { initial_labels: 10, batch_size: 10, rounds: 3 }
policies:
  random: { policy: random }
  balpm: { policy: balpm, k: 5 }
seeds: [1, 2]
"#;

    fn parse(text: &str) -> Result<ExperimentConfig, String> {
        ExperimentConfig::parse(text, Path::new("exp.yaml")).map_err(|e| e.to_string())
    }

    #[test]
    fn report_saving_and_bootstrap_are_read_and_defaults_stay_out_of_the_resolved_file() {
        let cfg = parse(GOOD).unwrap();
        assert_eq!(cfg.report.saving, SavingDefinition::FirstReach);
        assert_eq!(cfg.report.bootstrap, DEFAULT_BOOTSTRAP);
        // Results written before these options existed keep matching their resolved config.
        let resolved = yaml_serde::to_string(&cfg).unwrap();
        assert!(
            !resolved.contains("saving") && !resolved.contains("bootstrap"),
            "{resolved}"
        );
        let text = format!("{GOOD}report: {{ saving: paper_script, bootstrap: 200 }}\n");
        let cfg = parse(&text).unwrap();
        assert_eq!(
            (cfg.report.saving, cfg.report.bootstrap),
            (SavingDefinition::PaperScript, 200)
        );
        let cfg = parse(&format!(
            "{GOOD}report: {{ metrics: [test_accuracy, ood_brier] }}\n"
        ))
        .unwrap();
        assert_eq!(cfg.report.metrics, ["test_accuracy", "ood_brier"]);
        let e = parse(&format!(
            "{GOOD}report: {{ metrics: [heldout_accuracy] }}\n"
        ))
        .unwrap_err();
        assert!(
            e.contains("report.metrics: `heldout_accuracy` is not a run-file metric")
                && e.contains("test or ood"),
            "{e}"
        );
        let e = parse(&format!("{GOOD}report: {{ saving: paper }}\n")).unwrap_err();
        assert!(
            e.contains("report.saving") || e.contains("unknown variant `paper`"),
            "{e}"
        );
    }

    #[test]
    fn good_file_parses_with_defaults() {
        let cfg = parse(GOOD).unwrap();
        assert_eq!(cfg.model.members, 5);
        assert_eq!(cfg.report.smoothing_window, 3);
        assert_eq!(
            cfg.policies.keys().collect::<Vec<_>>(),
            vec!["random", "balpm"]
        );
        let PolicySpec::Balpm(b) = &cfg.policies["balpm"] else {
            panic!()
        };
        assert!(!cfg.is_pair_setting());
        assert_eq!((b.k, b.beta), (5, 0.01));
    }

    #[test]
    fn unknown_policy_names_file_field_and_choices() {
        let e = parse(&GOOD.replace("policy: random", "policy: randum")).unwrap_err();
        assert!(e.starts_with("exp.yaml: policies.random"), "{e}");
        assert!(
            e.contains("unknown variant `randum`") && e.contains("`balpm`"),
            "{e}"
        );
    }

    const PAIRS: &str = r#"
name: p
output_dir: /tmp/activepref-config-test-pairs
benchmark: { kind: synthetic_pairs, prompts: 40 }
pair_loop: { batch_prompts: 10, rounds: 3 }
pair_policies:
  drts: { policy: drts }
  deltaucb: { policy: deltaucb, beta: 2.0 }
pair_mode: reference
seeds: [1]
report: { baseline: drts }
"#;

    #[test]
    fn pair_setting_parses_and_is_checked() {
        let cfg = parse(PAIRS).unwrap();
        assert!(cfg.is_pair_setting());
        assert_eq!(cfg.pair_mode, PairMode::Reference);
        assert_eq!(cfg.rounds_per_run(0), 4);
        let e = parse(&PAIRS.replace("rounds: 3", "rounds: 5")).unwrap_err();
        assert!(e.starts_with("exp.yaml: pair_loop.rounds:"), "{e}");
        let e = parse(&PAIRS.replace(
            "rounds: 3 }",
            "rounds: 3, refit: { kind: anchored, lr: -1 } }",
        ))
        .unwrap_err();
        assert!(
            e.starts_with("exp.yaml: pair_loop.refit.lr: must be"),
            "{e}"
        );
        let e = parse(&PAIRS.replace(
            "rounds: 3 }",
            "rounds: 3, refit: { kind: anchored, decay: { kind: per_label, labels_per_decay: 0 } } }",
        ))
        .unwrap_err();
        assert!(
            e.starts_with("exp.yaml: pair_loop.refit.decay.labels_per_decay:"),
            "{e}"
        );
        let e = parse(&PAIRS.replace(
            "rounds: 3 }",
            "rounds: 3, prefix_eval: { sizes: [20, 10] } }",
        ))
        .unwrap_err();
        assert!(
            e.starts_with("exp.yaml: pair_loop.prefix_eval.sizes: must be strictly increasing"),
            "{e}"
        );
        let e =
            parse(&PAIRS.replace("rounds: 3 }", "rounds: 3, refit: { kind: warm } }")).unwrap_err();
        assert!(
            e.contains("unknown variant `warm`") && e.contains("anchored"),
            "{e}"
        );
        let e = parse(&PAIRS.replace(
            "seeds: [1]",
            "seeds: [1]\npolicies: { r: { policy: random } }",
        ))
        .unwrap_err();
        assert!(
            e.starts_with("exp.yaml: policies: `policies` and `loop` belong to pool benchmarks"),
            "{e}"
        );
        let e = parse(&PAIRS.replace("policy: drts }", "policy: dtss }")).unwrap_err();
        assert!(
            e.contains("unknown variant `dtss`") && e.contains("`drts`"),
            "{e}"
        );
        let e = parse(&PAIRS.replace("beta: 2.0", "beta: .nan")).unwrap_err();
        assert!(
            e.starts_with("exp.yaml: pair_policies.deltaucb.beta:"),
            "{e}"
        );
    }

    #[test]
    fn malformed_yaml_is_one_line() {
        let e = parse("name: [unclosed").unwrap_err();
        assert!(e.starts_with("exp.yaml: ") && !e.contains('\n'), "{e}");
    }

    #[test]
    fn sizes_and_seeds_are_checked() {
        let e = parse(&GOOD.replace("batch_size: 10", "batch_size: 100000")).unwrap_err();
        assert!(e.starts_with("exp.yaml: loop.batch_size: is 100000"), "{e}");
        let e = parse(&GOOD.replace("k: 5", "k: 100000")).unwrap_err();
        assert!(
            e.starts_with("exp.yaml: policies.balpm.k: is 100000"),
            "{e}"
        );
        let e = parse(&GOOD.replace("seeds: [1, 2]", "seeds: []")).unwrap_err();
        assert!(e.starts_with("exp.yaml: seeds: is empty"), "{e}");
        let e = parse(&GOOD.replace("/tmp/activepref-config-test", "/nonexistent-parent/x"))
            .unwrap_err();
        assert!(
            e.starts_with("exp.yaml: output_dir: the parent directory `/nonexistent-parent`"),
            "{e}"
        );
        let e = parse(&GOOD.replace(
            "pool_prompts: 60",
            "pool_prompts: 60\n  label_temperature: -1",
        ))
        .unwrap_err();
        assert!(
            e.starts_with("exp.yaml: benchmark.label_temperature:"),
            "{e}"
        );
        let e = parse(&GOOD.replace("seeds:", "bogus: 1\nseeds:")).unwrap_err();
        assert!(e.contains("unknown field `bogus`"), "{e}");
    }

    #[test]
    fn parameterless_policies_refuse_parameters_with_a_hint() {
        // Issue 19: `bald: { policy: bald, score: predictive }` ran plain BALD.
        let e = parse(&GOOD.replace(
            "random: { policy: random }",
            "random: { policy: bald, score: predictive }",
        ))
        .unwrap_err();
        assert!(
            e.starts_with("exp.yaml: policies.random: unknown field `score`")
                && e.contains("takes no parameters; to rank by another score"),
            "{e}"
        );
        let e = parse(&PAIRS.replace(
            "drts: { policy: drts }",
            "drts: { policy: random, beta: 2 }",
        ))
        .unwrap_err();
        assert!(e.contains("unknown field `beta`"), "{e}");
        // The same labels without extra keys still parse, and serialise as before (run ids).
        let cfg =
            parse(&GOOD.replace("random: { policy: random }", "random: { policy: bald }")).unwrap();
        assert_eq!(cfg.policies["random"], PolicySpec::Bald {});
        let json = serde_json::to_string(&cfg.policies["random"]).unwrap();
        assert_eq!(json, r#"{"policy":"bald"}"#);
    }

    #[test]
    fn numbers_are_bounded_with_the_bound_in_the_error() {
        let e = parse(&GOOD.replace("rounds: 3", "rounds: 1152921504606846977")).unwrap_err();
        assert_eq!(
            e,
            "exp.yaml: loop.rounds: is 1152921504606846977; must be between 1 and 1000000"
        );
        let e = parse(&format!(
            "{GOOD}report: {{ bootstrap: 18446744073709551615 }}\n"
        ))
        .unwrap_err();
        assert_eq!(
            e,
            "exp.yaml: report.bootstrap: is 18446744073709551615; must be between 0 and 1000000 (0 = no interval)"
        );
        let e = parse(&format!("{GOOD}report: {{ smoothing_window: 0 }}\n")).unwrap_err();
        assert!(
            e.starts_with("exp.yaml: report.smoothing_window: is 0; must be between 1 and 10000"),
            "{e}"
        );
        let long = "p".repeat(300);
        let e = parse(&GOOD.replace(
            "random: { policy: random }",
            &format!("{long}: {{ policy: random }}"),
        ))
        .unwrap_err();
        assert!(
            e.contains("at most 64 characters") && e.contains("has 300"),
            "{e}"
        );
        let e = parse(&format!("{GOOD}model: {{ train: {{ lr: 1e30 }} }}\n")).unwrap_err();
        assert!(
            e.starts_with("exp.yaml: model.train.lr: must be a number in (0, 1]"),
            "{e}"
        );
        let e = parse(&format!("{GOOD}model: {{ members: 100000 }}\n")).unwrap_err();
        assert!(
            e.starts_with("exp.yaml: model.members: is 100000; must be between 1 and 1000"),
            "{e}"
        );
        let e = parse(&PAIRS.replace("rounds: 3", "rounds: 18446744073709551615")).unwrap_err();
        assert!(e.starts_with("exp.yaml: pair_loop.rounds:"), "{e}");
    }

    #[test]
    fn one_member_is_refused_by_rules_that_need_disagreement() {
        let e = parse(&format!("{GOOD}model: {{ members: 1 }}\n")).unwrap_err();
        assert!(
            e.starts_with("exp.yaml: model.members: is 1, but policies.balpm reads the ensemble's disagreement"),
            "{e}"
        );
        // Random alone, or BAL-PM without its uncertainty term, needs no disagreement.
        let only_random = GOOD.replace("  balpm: { policy: balpm, k: 5 }\n", "");
        assert!(parse(&format!("{only_random}model: {{ members: 1 }}\n")).is_ok());
        let no_u = GOOD.replace("k: 5 }", "k: 5, no_uncertainty: true }");
        assert!(parse(&format!("{no_u}model: {{ members: 1 }}\n")).is_ok());
        // MC dropout gets its disagreement from realisations.
        assert!(
            parse(&format!(
                "{GOOD}model: {{ members: 1, backend: {{ kind: mc_dropout }} }}\n"
            ))
            .is_ok()
        );
        let e = parse(&format!("{PAIRS}model: {{ members: 1 }}\n")).unwrap_err();
        assert!(e.contains("pair_policies.drts"), "{e}");
    }

    #[test]
    fn byte_order_mark_and_merge_keys_parse() {
        let cfg = parse(&format!("\u{feff}{GOOD}")).unwrap();
        assert_eq!(cfg.name, "t");
        let merged = GOOD.replace(
            "policies:\n  random: { policy: random }\n  balpm: { policy: balpm, k: 5 }",
            "base: &base { policy: balpm, k: 5 }\npolicies:\n  random: { policy: random }\n  balpm:\n    <<: *base\n    beta: 0.1",
        );
        // A merge key works where the file has no other unknown key.
        let e = parse(&merged).unwrap_err();
        assert!(e.contains("unknown field `base`"), "{e}");
        let merged = merged
            .replace("base: &base { policy: balpm, k: 5 }\n", "")
            .replace(
                "  random: { policy: random }",
                "  random: &base { policy: balpm, k: 5 }",
            );
        let cfg = parse(&merged).unwrap();
        let PolicySpec::Balpm(b) = &cfg.policies["balpm"] else {
            panic!("{:?}", cfg.policies)
        };
        assert_eq!((b.k, b.beta), (5, 0.1));
    }

    #[test]
    fn the_default_output_directory_needs_no_results_folder() {
        // Issue 19: `run x.yaml --out DIR` failed in a directory without `results/`.
        let cfg = parse(&GOOD.replace("output_dir: /tmp/activepref-config-test\n", "")).unwrap();
        assert_eq!(cfg.output_dir(), PathBuf::from("results/t"));
        assert!(cfg.check_output_dir().is_ok());
    }
}
