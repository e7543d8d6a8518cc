//! Experiment files: YAML, every field checked, every error naming the file and the field.

use std::fmt;
use std::path::{Path, PathBuf};

use activepref_acquire::PolicySpec;
use activepref_data::synthetic::SyntheticPoolConfig;
use activepref_data::PoolBenchmark;
use activepref_loop::LoopConfig;
use activepref_model::EnsembleConfig;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// One line that says what is wrong, where, and (in the message) how to fix it.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// Dotted path of the field (`loop.batch_size`, `policies.balpm.k`); empty when the message
    /// already carries the location (YAML syntax errors).
    pub field: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}: {}: {}", self.file.display(), self.field, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// Which benchmark to run on: `benchmark: { kind: synthetic, pool_prompts: 600, ... }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BenchmarkSpec {
    /// The embedded seeded synthetic pool benchmark (activepref-data's `synthetic` module).
    Synthetic(SyntheticPoolConfig),
}

/// How the report summarises the runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportSection {
    /// Trailing-mean window applied to each run's curve before averaging seeds (paper: 3).
    pub smoothing_window: usize,
    /// The policy label whose final value defines "reaching" in the label-efficiency table.
    pub baseline: String,
}

impl Default for ReportSection {
    fn default() -> Self {
        Self { smoothing_window: 3, baseline: "random".into() }
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
    #[serde(rename = "loop")]
    pub loop_: LoopConfig,
    /// Label → policy, in plot order: `bald: { policy: bald }`.
    pub policies: IndexMap<String, PolicySpec>,
    /// One run per (policy, seed).
    pub seeds: Vec<u64>,
    #[serde(default)]
    pub report: ReportSection,
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
        yaml_serde::from_str(text).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            field: String::new(),
            message: format!("{e} (see experiments/quickstart.yaml for a complete example)"),
        })
    }

    /// The output directory, relative to the working directory.
    pub fn output_dir(&self) -> PathBuf {
        self.output_dir.clone().unwrap_or_else(|| PathBuf::from("results").join(&self.name))
    }

    pub fn build_benchmark(&self) -> PoolBenchmark {
        match &self.benchmark {
            BenchmarkSpec::Synthetic(c) => c.generate(),
        }
    }

    fn check(&self, path: &Path) -> Result<(), ConfigError> {
        let err = |field: String, message: String| ConfigError { file: path.to_path_buf(), field, message };
        if self.name.is_empty() || !self.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            return Err(err("name".into(), format!("`{}` must be non-empty and use only letters, digits, '-', '_' and '.'", self.name)));
        }
        if self.seeds.is_empty() {
            return Err(err("seeds".into(), "is empty; list at least one seed, e.g. `seeds: [9, 17, 23]`".into()));
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(s) = self.seeds.iter().find(|s| !seen.insert(**s)) {
            return Err(err("seeds".into(), format!("seed {s} is listed twice; each seed is one run")));
        }
        if self.policies.is_empty() {
            return Err(err("policies".into(), "is empty; add e.g. `random: { policy: random }`".into()));
        }
        for label in self.policies.keys() {
            if label.is_empty() || !label.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
                return Err(err(format!("policies.{label}"), "a policy label may use only letters, digits, '-', '_' and '.'".into()));
            }
        }
        if !self.policies.contains_key(&self.report.baseline) {
            return Err(err(
                "report.baseline".into(),
                format!("`{}` is not one of the policy labels ({}); name the label to compare against", self.report.baseline, self.policies.keys().cloned().collect::<Vec<_>>().join(", ")),
            ));
        }
        if self.report.smoothing_window == 0 {
            return Err(err("report.smoothing_window".into(), "must be at least 1 (1 = no smoothing)".into()));
        }
        let pool = match &self.benchmark {
            BenchmarkSpec::Synthetic(c) => {
                c.validate().map_err(|(f, m)| err(format!("benchmark.{f}"), m))?;
                // Sizes are only known once generated; generation is cheap for the synthetic benchmark.
                c.generate().pool.len()
            }
        };
        self.model.validate().map_err(|(f, m)| err(format!("model.{f}"), m))?;
        self.loop_.validate(pool).map_err(|(f, m)| err(format!("loop.{f}"), m))?;
        let pool_after_cap = self.loop_.pool_size.map_or(pool, |c| c.min(pool)) - self.loop_.initial_labels;
        for (label, spec) in &self.policies {
            spec.validate(pool_after_cap).map_err(|(f, m)| err(format!("policies.{label}.{f}"), m))?;
        }
        self.check_output_dir().map_err(|m| err("output_dir".into(), m))
    }

    /// The output directory's parent must exist (the directory itself is created).
    pub fn check_output_dir(&self) -> Result<(), String> {
        let out = self.output_dir();
        match out.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(parent) if !parent.is_dir() => Err(format!(
                "the parent directory `{}` of `{}` does not exist; create it or choose another output_dir",
                parent.display(),
                out.display()
            )),
            _ => Ok(()),
        }
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
    fn good_file_parses_with_defaults() {
        let cfg = parse(GOOD).unwrap();
        assert_eq!(cfg.model.members, 5);
        assert_eq!(cfg.report.smoothing_window, 3);
        assert_eq!(cfg.policies.keys().collect::<Vec<_>>(), vec!["random", "balpm"]);
        let PolicySpec::Balpm(b) = &cfg.policies["balpm"] else { panic!() };
        assert_eq!((b.k, b.beta), (5, 0.01));
    }

    #[test]
    fn unknown_policy_names_file_field_and_choices() {
        let e = parse(&GOOD.replace("policy: random", "policy: randum")).unwrap_err();
        assert!(e.starts_with("exp.yaml: policies.random"), "{e}");
        assert!(e.contains("unknown variant `randum`") && e.contains("`balpm`"), "{e}");
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
        assert!(e.starts_with("exp.yaml: policies.balpm.k: is 100000"), "{e}");
        let e = parse(&GOOD.replace("seeds: [1, 2]", "seeds: []")).unwrap_err();
        assert!(e.starts_with("exp.yaml: seeds: is empty"), "{e}");
        let e = parse(&GOOD.replace("/tmp/activepref-config-test", "/nonexistent-parent/x")).unwrap_err();
        assert!(e.starts_with("exp.yaml: output_dir: the parent directory `/nonexistent-parent`"), "{e}");
        let e = parse(&GOOD.replace("pool_prompts: 60", "pool_prompts: 60\n  label_temperature: -1")).unwrap_err();
        assert!(e.starts_with("exp.yaml: benchmark.label_temperature:"), "{e}");
        let e = parse(&GOOD.replace("seeds:", "bogus: 1\nseeds:")).unwrap_err();
        assert!(e.contains("unknown field `bogus`"), "{e}");
    }
}
