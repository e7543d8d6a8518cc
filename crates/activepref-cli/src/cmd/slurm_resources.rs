//! SLURM resources of `activepref sweep slurm`: an experiment file's `slurm:` section, then the
//! command's flags, each checked (numbers in range; names, sizes and time limits as SLURM reads
//! them, each on one line, so that the job script holds exactly the `#SBATCH` lines asked for).
//! `validate` and `sweep plan` check the file's section too.

use std::path::Path;

use anyhow::anyhow;
use serde::Deserialize;

/// SLURM resources: the experiment file's `slurm:` section, then flags.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SlurmResources {
    pub partition: Option<String>,
    pub account: Option<String>,
    /// Wall-clock limit per run (`HH:MM:SS` or `D-HH:MM:SS`).
    pub time: String,
    pub cpus_per_task: usize,
    /// Memory per run (`32G`).
    pub mem: String,
    /// GPUs per run (`--gres=gpu:N`); none by default.
    pub gpus: Option<usize>,
    /// At most this many array tasks at once (`--array=...%N`).
    pub max_parallel: Option<usize>,
    /// More `#SBATCH` lines, verbatim (`--qos=long`).
    pub extra: Vec<String>,
}

impl Default for SlurmResources {
    fn default() -> Self {
        Self {
            partition: None,
            account: None,
            time: "24:00:00".into(),
            cpus_per_task: 8,
            mem: "32G".into(),
            gpus: None,
            max_parallel: None,
            extra: vec![],
        }
    }
}

/// The flags of `sweep slurm` that override the file's `slurm:` section.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct SlurmFlags {
    /// SLURM partition (default: the cluster's).
    #[arg(long)]
    pub partition: Option<String>,
    /// SLURM account to charge (default: yours).
    #[arg(long)]
    pub account: Option<String>,
    /// Wall-clock limit per run (HH:MM:SS; default 24:00:00).
    #[arg(long)]
    pub time: Option<String>,
    /// CPUs per run, passed on as `--threads` (default 8).
    #[arg(long, value_name = "N", value_parser = crate::whole_number, allow_negative_numbers = true)]
    pub cpus_per_task: Option<usize>,
    /// Memory per run (e.g. 32G, the default).
    #[arg(long)]
    pub mem: Option<String>,
    /// GPUs per run.
    #[arg(long, value_name = "N", value_parser = crate::whole_number, allow_negative_numbers = true)]
    pub gpus: Option<usize>,
    /// At most N array tasks at once.
    #[arg(long, value_name = "N", value_parser = crate::whole_number, allow_negative_numbers = true)]
    pub max_parallel: Option<usize>,
}

/// An experiment file as `sweep slurm` reads it: its `slurm:` section, every other key left to
/// the experiment's own parser.
#[derive(Deserialize)]
struct FileSlurm {
    #[serde(default)]
    slurm: SlurmResources,
}

impl SlurmResources {
    /// The `slurm:` section of the experiment file `experiment` (defaults where it has none),
    /// checked.
    ///
    /// # Errors
    /// The file cannot be read, the section does not parse, or a value is out of range, naming
    /// the file and `slurm.<field>`.
    pub fn of_file(experiment: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(experiment)
            .map_err(|e| anyhow!("{}: cannot read ({e})", experiment.display()))?;
        // The whole text, so that serde's errors carry `slurm.<field>` and the line; the merged
        // YAML value only when the text alone does not parse (a merge key in the section).
        let r = yaml_serde::from_str::<FileSlurm>(text.trim_start_matches('\u{feff}'))
            .or_else(|e| {
                activepref_experiment::yaml_value(&text, experiment)
                    .ok()
                    .and_then(|root| yaml_serde::from_value::<FileSlurm>(root).ok())
                    .ok_or(e)
            })
            .map_err(|e| anyhow!("{}: {e}", experiment.display()))?
            .slurm;
        if let Some((field, problem)) = r.problem() {
            return Err(anyhow!(
                "{}: slurm.{field}: {problem}",
                experiment.display()
            ));
        }
        Ok(r)
    }

    /// These resources with `flags` over them, checked again: a bad value names its flag when a
    /// flag gave it, else the file's field.
    ///
    /// # Errors
    /// A value out of range.
    pub fn with_flags(mut self, flags: &SlurmFlags, experiment: &Path) -> anyhow::Result<Self> {
        let f = flags.clone();
        self.partition = f.partition.or(self.partition);
        self.account = f.account.or(self.account);
        self.time = f.time.unwrap_or(self.time);
        self.cpus_per_task = f.cpus_per_task.unwrap_or(self.cpus_per_task);
        self.mem = f.mem.unwrap_or(self.mem);
        self.gpus = f.gpus.or(self.gpus);
        self.max_parallel = f.max_parallel.or(self.max_parallel);
        let Some((field, problem)) = self.problem() else {
            return Ok(self);
        };
        let by_flag = match field.as_str() {
            "partition" => flags.partition.is_some(),
            "account" => flags.account.is_some(),
            "time" => flags.time.is_some(),
            "cpus_per_task" => flags.cpus_per_task.is_some(),
            "mem" => flags.mem.is_some(),
            "gpus" => flags.gpus.is_some(),
            "max_parallel" => flags.max_parallel.is_some(),
            _ => false,
        };
        Err(if by_flag {
            anyhow!("--{} (slurm.{field}): {problem}", field.replace('_', "-"))
        } else {
            anyhow!("{}: slurm.{field}: {problem}", experiment.display())
        })
    }

    /// The first value SLURM would not read as meant: (field, what is wrong).
    fn problem(&self) -> Option<(String, String)> {
        let count = |field: &str, v: usize, min: usize, max: usize| {
            activepref_core::FieldError::check_count(field, v, min, max)
                .err()
                .map(|e| (e.field, e.message))
        };
        let word = |field: &str, v: &Option<String>| {
            let v = v.as_ref()?;
            (v.is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control())).then(|| {
                (
                    field.to_string(),
                    format!(
                        "is {v:?}; must be one word of printable characters (a SLURM {field} name)"
                    ),
                )
            })
        };
        word("partition", &self.partition)
            .or_else(|| word("account", &self.account))
            .or_else(|| {
                (!is_time_limit(&self.time)).then(|| {
                    ("time".to_string(), format!(
                        "is {:?}; must be a SLURM time limit: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS, infinite or -1",
                        self.time
                    ))
                })
            })
            .or_else(|| {
                (!is_memory_size(&self.mem)).then(|| {
                    ("mem".to_string(), format!(
                        "is {:?}; must be a whole number with an optional unit K, M, G or T (32G or 32GB; megabytes without one)",
                        self.mem
                    ))
                })
            })
            .or_else(|| count("cpus_per_task", self.cpus_per_task, 1, 1_024))
            .or_else(|| self.gpus.and_then(|g| count("gpus", g, 1, 64)))
            .or_else(|| self.max_parallel.and_then(|m| count("max_parallel", m, 1, 1_000_000)))
            .or_else(|| {
                self.extra.iter().enumerate().find_map(|(i, x)| {
                    (x.trim().is_empty() || x.chars().any(char::is_control)).then(|| {
                        (format!("extra[{i}]"), format!("is {x:?}; must be one non-empty line (it becomes one `#SBATCH` line)"))
                    })
                })
            })
    }
}

/// True for a SLURM `--time` value: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS, or
/// `infinite` / `unlimited` / `-1`.
fn is_time_limit(t: &str) -> bool {
    if t == "-1" || t.eq_ignore_ascii_case("infinite") || t.eq_ignore_ascii_case("unlimited") {
        return true;
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (days, rest) = match t.split_once('-') {
        Some((d, rest)) => (Some(d), rest),
        None => (None, t),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    days.is_none_or(digits) && parts.iter().all(|p| digits(p)) && (1..=3).contains(&parts.len())
}

/// Seconds of a SLURM `--time` value ([`is_time_limit`]'s forms: minutes, MM:SS, HH:MM:SS,
/// D-HH, D-HH:MM, D-HH:MM:SS); `None` for no limit (`infinite`, `unlimited`, `-1`) or another
/// text.
pub fn time_limit_secs(t: &str) -> Option<u64> {
    if !is_time_limit(t) || t == "-1" || !t.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    let (days, rest) = match t.split_once('-') {
        Some((d, rest)) => (d.parse::<u64>().ok()?, rest),
        None => (0, t),
    };
    let parts: Vec<u64> = rest
        .split(':')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let (h, m, s) = match (t.contains('-'), parts.as_slice()) {
        (false, [m]) => (0, *m, 0),
        (false, [m, s]) => (0, *m, *s),
        (true, [h]) => (*h, 0, 0),
        (true, [h, m]) => (*h, *m, 0),
        (_, [h, m, s]) => (*h, *m, *s),
        _ => return None,
    };
    Some(((days * 24 + h) * 60 + m) * 60 + s)
}

/// True for a SLURM `--mem` value: a whole number, optionally followed by K, M, G or T, and then
/// optionally by B (`32G`, `32GB`, `512kb`).
fn is_memory_size(m: &str) -> bool {
    let unit = m.strip_suffix(['B', 'b']).unwrap_or(m);
    let n = match unit.strip_suffix(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't']) {
        Some(n) => n,
        None if unit.len() == m.len() => m,
        // A B without a unit before it.
        None => return false,
    };
    !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_limits_in_seconds() {
        for (t, secs) in [
            ("45", Some(2_700)),
            ("30:15", Some(1_815)),
            ("02:00:00", Some(7_200)),
            ("1-2", Some(93_600)),
            ("1-02:30", Some(95_400)),
            ("1-00:00:05", Some(86_405)),
            ("infinite", None),
            ("-1", None),
            ("1:2:3:4", None),
        ] {
            assert_eq!(time_limit_secs(t), secs, "{t}");
        }
    }

    #[test]
    fn time_limits_and_sizes_as_slurm_reads_them() {
        for t in [
            "30",
            "30:00",
            "24:00:00",
            "2-12",
            "2-12:30",
            "2-12:30:00",
            "infinite",
            "-1",
        ] {
            assert!(is_time_limit(t), "{t}");
        }
        for t in [
            "forever",
            "",
            "1:2:3:4",
            "-2",
            "2-",
            "1h",
            "24:00:00\n#SBATCH --x",
        ] {
            assert!(!is_time_limit(t), "{t}");
        }
        for m in ["32G", "4000", "512m", "32GB", "4096MB", "512kb", "0"] {
            assert!(is_memory_size(m), "{m}");
        }
        for m in ["lots", "G", "32 G", "32B", "GB", "32GBB", ""] {
            assert!(!is_memory_size(m), "{m}");
        }
    }

    #[test]
    fn a_bad_value_names_its_flag_or_its_field() {
        let file = Path::new("exp.yaml");
        let bad = SlurmResources {
            partition: Some("gpu\n#SBATCH --account=other".into()),
            ..SlurmResources::default()
        };
        assert_eq!(
            bad.clone()
                .with_flags(&SlurmFlags::default(), file)
                .unwrap_err()
                .to_string(),
            "exp.yaml: slurm.partition: is \"gpu\\n#SBATCH --account=other\"; must be one word of printable characters (a SLURM partition name)"
        );
        // A flag over the bad value replaces it; a bad flag is named as the flag.
        let flags = SlurmFlags {
            partition: Some("short".into()),
            cpus_per_task: Some(0),
            ..SlurmFlags::default()
        };
        assert_eq!(
            bad.with_flags(&flags, file).unwrap_err().to_string(),
            "--cpus-per-task (slurm.cpus_per_task): is 0; must be between 1 and 1024"
        );
        let extra = SlurmResources {
            extra: vec!["--qos=long".into(), "".into()],
            ..SlurmResources::default()
        };
        assert!(
            extra
                .with_flags(&SlurmFlags::default(), file)
                .unwrap_err()
                .to_string()
                .starts_with("exp.yaml: slurm.extra[1]: is \"\"; must be one non-empty line")
        );
    }
}
