//! From the file as written ([`ExperimentConfig`]) to the checked [`Experiment`]: every field
//! checked, every error naming the file and the field.

use std::path::Path;

use activepref_acquire::{PairMode, PairPolicySpec};
use activepref_core::FieldError;
use activepref_model::UncertaintyBackend;
use indexmap::IndexMap;

use super::{BenchmarkSpec, ConfigError, ExperimentConfig, MAX_LABEL_LEN, ReportSection};
use crate::setting::{
    Common, Experiment, PairSetting, PairSource, PoolSetting, PoolSource, Setting,
};

/// ASCII letters, digits, '-', '_' and '.', not empty: what names and labels may use (they name
/// directories and files).
fn is_file_name_safe(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// The sections of the setting a file does not run in (for a `pool` file the pair sections,
/// else the pool ones) must be absent; the error names the first one the file has (its
/// policies, else its loop), a key the file holds.
pub(super) fn refuse_other_setting(
    pool: bool,
    has_policies: bool,
    has_loop: bool,
) -> Result<(), FieldError> {
    let (policies, lp, which) = if pool {
        (
            "pair_policies",
            "pair_loop",
            "`pair_policies` and `pair_loop` belong to pair benchmarks (kind: synthetic_pairs or candidates)",
        )
    } else {
        (
            "policies",
            "loop",
            "`policies` and `loop` belong to pool benchmarks (kind: synthetic or comparisons)",
        )
    };
    let field = match (has_policies, has_loop) {
        (true, _) => policies,
        (false, true) => lp,
        (false, false) => return Ok(()),
    };
    Err(FieldError::new(
        field,
        format!("{which}; remove them or change benchmark.kind"),
    ))
}

/// A setting's policy map must name at least one policy.
fn require_policies<T>(
    policies: &IndexMap<String, T>,
    field: &str,
    example: &str,
) -> Result<(), FieldError> {
    if policies.is_empty() {
        return Err(FieldError::new(
            field,
            format!("is empty or missing; add e.g. {example}"),
        ));
    }
    Ok(())
}

impl ExperimentConfig {
    /// Splits the file into what every run shares and its setting, checking only the structure:
    /// the benchmark's setting has its loop and at least one policy, and the other setting's
    /// sections are absent. For a `config.resolved.yaml` read back after its runs (whose data
    /// and output directory need not be reachable from here); [`ExperimentConfig::check`] does
    /// this and every other check.
    ///
    /// # Errors
    /// `policies: is empty or missing`, `loop: is missing`, `pair_policies: ... belong to pair
    /// benchmarks`, and the pair-setting twins.
    pub fn into_experiment(self) -> Result<Experiment, FieldError> {
        self.check_sections()?;
        self.split()
    }

    /// The setting's policy section (`policies` or `pair_policies`) and its labels, after checking
    /// that it names at least one policy and that the other setting's sections are absent.
    fn check_sections(&self) -> Result<(&'static str, Vec<String>), FieldError> {
        if self.is_pair_file() {
            require_policies(
                &self.pair_policies,
                "pair_policies",
                "`drts: { policy: drts }`",
            )?;
            refuse_other_setting(false, !self.policies.is_empty(), self.loop_.is_some())?;
            Ok((
                "pair_policies",
                self.pair_policies.keys().cloned().collect(),
            ))
        } else {
            require_policies(&self.policies, "policies", "`random: { policy: random }`")?;
            refuse_other_setting(
                true,
                !self.pair_policies.is_empty(),
                self.pair_loop.is_some(),
            )?;
            if self.pair_mode != PairMode::default() {
                return Err(FieldError::new(
                    "pair_mode",
                    "belongs to pair benchmarks (kind: synthetic_pairs or candidates), and a pool run would ignore it; remove it or change benchmark.kind",
                ));
            }
            Ok(("policies", self.policies.keys().cloned().collect()))
        }
    }

    /// Splits a file whose sections [`Self::check_sections`] accepted into what every run shares
    /// and its setting.
    ///
    /// # Errors
    /// `loop: is missing` (pool) or `pair_loop: is missing` (pair).
    fn split(self) -> Result<Experiment, FieldError> {
        let ExperimentConfig {
            name,
            output_dir,
            benchmark,
            model,
            loop_,
            policies,
            pair_loop,
            pair_policies,
            pair_mode,
            seeds,
            report,
            variant,
        } = self;
        let common = Common {
            name,
            output_dir,
            model,
            seeds,
            report,
            variant,
        };
        let pool = |benchmark| -> Result<Setting, FieldError> {
            let loop_config = loop_.ok_or_else(|| {
                FieldError::new(
                    "loop",
                    "is missing; a pool benchmark needs `loop: { initial_labels, batch_size, rounds }`",
                )
            })?;
            Ok(Setting::Pool(PoolSetting {
                benchmark,
                loop_config,
                policies,
                file_pair_mode: pair_mode,
            }))
        };
        let pair = |benchmark| -> Result<Setting, FieldError> {
            let loop_config = pair_loop.ok_or_else(|| {
                FieldError::new(
                    "pair_loop",
                    "is missing; a pair benchmark needs `pair_loop: { batch_prompts, rounds }`",
                )
            })?;
            Ok(Setting::Pair(PairSetting {
                benchmark,
                loop_config,
                policies: pair_policies,
                mode: pair_mode,
            }))
        };
        let setting = match benchmark {
            BenchmarkSpec::Synthetic(c) => pool(PoolSource::Synthetic(c))?,
            BenchmarkSpec::Comparisons(c) => pool(PoolSource::Comparisons(c))?,
            BenchmarkSpec::SyntheticPairs(c) => pair(PairSource::SyntheticPairs(c))?,
            BenchmarkSpec::Candidates(c) => pair(PairSource::Candidates(c))?,
        };
        Ok(Experiment { common, setting })
    }

    /// Every check of an experiment file, in the order a user fixes them: name and seeds, the
    /// setting's structure and labels, the report section, the model, the benchmark and the
    /// loop sizes against it, the policies' parameters, the output directory.
    ///
    /// # Errors
    /// The first problem, as `file: field: what (how to fix)`.
    pub fn check(self, path: &Path) -> Result<Experiment, ConfigError> {
        let in_file = |e: FieldError| ConfigError::in_file(path, e);
        check_name_and_seeds(&self.name, &self.seeds).map_err(in_file)?;
        // The setting's sections, labels, report and model first, as a user fixes them; then
        // the benchmark, and only then the loop sections, which the benchmark's kind asks for.
        let (section, labels) = self.check_sections().map_err(in_file)?;
        check_labels(section, &labels).map_err(in_file)?;
        let splits: &[&str] = if self.is_pair_file() {
            &PairSetting::METRIC_SPLITS
        } else {
            &PoolSetting::METRIC_SPLITS
        };
        check_report(&self.report, &labels, splits).map_err(in_file)?;
        self.model
            .validate()
            .map_err(|e| in_file(e.within("model")))?;
        check_members(&self).map_err(in_file)?;
        self.benchmark
            .validate()
            .map_err(|e| in_file(e.within("benchmark")))?;
        let exp = self.split().map_err(in_file)?;
        check_sizes(&exp.setting).map_err(in_file)?;
        check_precision(&exp).map_err(in_file)?;
        exp.check_output_dir().map_err(in_file)?;
        Ok(exp)
    }

    /// True when the benchmark is of the pair setting (`synthetic_pairs`, `candidates`).
    fn is_pair_file(&self) -> bool {
        matches!(
            self.benchmark,
            BenchmarkSpec::SyntheticPairs(_) | BenchmarkSpec::Candidates(_)
        )
    }
}

/// `name` safe as a directory name; at least one seed, none twice.
fn check_name_and_seeds(name: &str, seeds: &[u64]) -> Result<(), FieldError> {
    if !is_file_name_safe(name) {
        return Err(FieldError::new(
            "name",
            format!(
                "`{name}` must be non-empty and use only ASCII letters, digits, '-', '_' and '.'"
            ),
        ));
    }
    if seeds.is_empty() {
        return Err(FieldError::new(
            "seeds",
            "is empty; list at least one seed, e.g. `seeds: [9, 17, 23]`",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(s) = seeds.iter().find(|s| !seen.insert(**s)) {
        return Err(FieldError::new(
            "seeds",
            format!("seed {s} is listed twice; each seed is one run"),
        ));
    }
    Ok(())
}

/// Policy labels name run files: short and file-name safe.
fn check_labels(section: &str, labels: &[String]) -> Result<(), FieldError> {
    for label in labels {
        if label.len() > MAX_LABEL_LEN {
            return Err(FieldError::new(
                format!("{section}.{}…", label.chars().take(20).collect::<String>()),
                format!(
                    "a policy label may be at most {MAX_LABEL_LEN} characters (it names the run files); this one has {}",
                    label.chars().count()
                ),
            ));
        }
        if !is_file_name_safe(label) {
            return Err(FieldError::new(
                format!("{section}.{label}"),
                "a policy label may use only ASCII letters, digits, '-', '_' and '.'",
            ));
        }
    }
    Ok(())
}

/// The report's baseline is a policy label, its metrics are run-file columns of this setting,
/// and its numbers are in range.
fn check_report(
    report: &ReportSection,
    labels: &[String],
    splits: &[&str],
) -> Result<(), FieldError> {
    if !labels.contains(&report.baseline) {
        return Err(FieldError::new(
            "report.baseline",
            format!(
                "`{}` is not one of the policy labels ({}); name the label to compare against",
                report.baseline,
                labels.join(", ")
            ),
        ));
    }
    for m in &report.metrics {
        let known = splits.iter().any(|s| {
            ["log_likelihood", "accuracy", "brier"]
                .iter()
                .any(|k| *m == format!("{s}_{k}"))
        });
        if !known {
            return Err(FieldError::new(
                "report.metrics",
                format!(
                    "`{m}` is not a run-file metric of this setting; use <split>_<log_likelihood|accuracy|brier> with split {}",
                    splits.join(" or ")
                ),
            ));
        }
    }
    report.validate().map_err(|e| e.within("report"))
}

/// A rule that reads the members' disagreement gets 0 from a single member, everywhere.
fn check_members(file: &ExperimentConfig) -> Result<(), FieldError> {
    let model = &file.model;
    if model.members != 1 || model.backend != UncertaintyBackend::Ensemble {
        return Ok(());
    }
    let needy = file
        .policies
        .iter()
        .filter(|(_, p)| p.needs_members())
        .map(|(l, _)| format!("policies.{l}"))
        .chain(
            file.pair_policies
                .iter()
                .filter(|(_, p)| p.needs_members())
                .map(|(l, _)| format!("pair_policies.{l}")),
        )
        .next();
    match needy {
        Some(field) => Err(FieldError::new(
            "model.members",
            format!(
                "is 1, but {field} reads the ensemble's disagreement, which one member cannot have (it would be 0 everywhere); use at least 2 members (the papers use 5), backend: {{ kind: mc_dropout }} or backend: {{ kind: laplace_last_layer }}"
            ),
        )),
        None => Ok(()),
    }
}

/// `model.precision: bf16` where the run trains that way: the pair setting's anchored refit
/// (reference mode's default) trains in f32 on burn's autodiff, so bf16 is refused there rather
/// than ignored.
fn check_precision(exp: &Experiment) -> Result<(), FieldError> {
    let Setting::Pair(s) = &exp.setting else {
        return Ok(());
    };
    let anchored = matches!(
        activepref_loop::PairRefit::resolve(s.loop_config.refit.as_ref(), s.mode).0,
        activepref_loop::PairRefit::Anchored(_)
    );
    if anchored && exp.common.model.precision == activepref_model::Precision::Bf16 {
        return Err(FieldError::new(
            "model.precision",
            "is bf16, but the pair loop's anchored refit (pair_mode: reference's default) trains in f32; use precision: f32, or pair_loop.refit: { kind: from_scratch }",
        ));
    }
    Ok(())
}

/// The loop sizes against the benchmark where they are known without loading data, and every
/// pair policy's parameters (pool policies are checked against the pool size there).
fn check_sizes(setting: &Setting) -> Result<(), FieldError> {
    match setting {
        Setting::Pool(s) => match &s.benchmark {
            PoolSource::Synthetic(c) => {
                if c.lengths.is_none() && s.loop_config.oracle.prices_words() {
                    return Err(FieldError::new(
                        "loop.oracle.cost",
                        "prices words, but the synthetic benchmark has no lengths; add `lengths: { prompt_words: 150, response_words: 40, spread: 0.6 }` to the benchmark, or price per_label only",
                    ));
                }
                // An exact pool size is known without generating (a paper-scale pool is 6 GB);
                // otherwise the Poisson draws decide it, and small pools are cheap to generate.
                // The validation cap is checked here when its split's size is known too, else
                // when the benchmark is built.
                let generated = (c.pool_comparisons == 0)
                    .then(|| c.generate())
                    .transpose()?;
                let pool = generated
                    .as_ref()
                    .map_or(c.pool_comparisons, |b| b.pool.len());
                let validation = generated
                    .as_ref()
                    .map_or(c.validation_comparisons, |b| b.validation.len());
                s.check_sizes(pool)?;
                match validation {
                    0 => Ok(()),
                    n => s.check_validation_cap(n),
                }
            }
            // Real data: sizes are checked when the data is loaded (`build_benchmark`); a real
            // comparison has no latent reward gap for the oracle to read.
            PoolSource::Comparisons(_) if s.loop_config.oracle.needs_gap() => Err(FieldError::new(
                "loop.oracle",
                "kind: bradley_terry and ties need each comparison's latent reward gap, which only the synthetic benchmark has; use flip alone on real comparisons",
            )),
            PoolSource::Comparisons(_) => Ok(()),
        },
        Setting::Pair(s) => {
            if let PairSource::SyntheticPairs(c) = &s.benchmark {
                if s.loop_config.oracle.prices_words() {
                    return Err(FieldError::new(
                        "pair_loop.oracle.cost",
                        "prices words, but the synthetic pair stream has no texts to count; price per_label only, or use a real candidate pool",
                    ));
                }
                s.check_sizes(c.prompts)?;
            }
            for (label, spec) in &s.policies {
                spec.validate()
                    .map_err(|e| e.within(label).within("pair_policies"))?;
                // The reference's uniform baseline draws with replacement and its loop asserts
                // a ≠ b (specs/activeuf.md): with n responses a run of m prompts survives with
                // probability (1 − 1/n)^m, so it is refused before any work, not at that prompt.
                if s.mode == PairMode::Reference && matches!(spec, PairPolicySpec::Random {}) {
                    return Err(FieldError::new(
                        "policy",
                        "is random, which in pair_mode: reference draws its two responses with replacement as the reference does, and so stops the run at the first prompt where they are the same (1 in n per prompt, n responses); use pair_mode: corrected, where random draws two distinct responses",
                    )
                    .within(label)
                    .within("pair_policies"));
                }
            }
            Ok(())
        }
    }
}
