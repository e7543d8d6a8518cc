//! Sweeps: named grids over any parameter of an experiment file, expanded into variants and runs
//! with stable ids (`activepref sweep plan`), run one at a time (`activepref run --only <id>`), or
//! as a SLURM job array (`activepref sweep slurm`).
//!
//! ```yaml
//! sweep:
//!   beta:                                   # a named grid: one variant per value
//!     policies.balpm.beta: [1.0, 0.1, 0.01]
//!   estimator_and_k:                        # several paths: every combination, first path slowest
//!     policies.balpm.estimator: [ksg, kl]
//!     policies.balpm.k: [5, 13]
//! ```
//!
//! Grids are expanded one after another (not crossed with each other). A path is dotted YAML keys
//! from the top of the file; a missing key is added (`policies.balpm.beta` sets a default that the
//! file left out). Each grid point is a variant with its own results directory,
//! `<output_dir>/<grid>/<last key>=<value>[,...]`, and is checked like any experiment file. A file
//! without `sweep:` has one variant, the file itself, in its usual directory.
//!
//! A run is one (variant, policy, seed); its id is [`ExperimentConfig::run_id`] of the variant.
//! A top-level `slurm:` section (resources for `activepref sweep slurm`) is read by the CLI and
//! ignored here.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use yaml_serde::{Mapping, Value};

use crate::{ConfigError, Experiment, ExperimentConfig};

/// One grid point of a sweep (or the file itself).
#[derive(Clone, Debug)]
pub struct Variant {
    /// `<grid>/<slug>`, or empty for a file without a sweep.
    pub name: String,
    /// The parameters this variant sets, as (dotted path, value in YAML flow form).
    pub settings: Vec<(String, String)>,
    /// The checked experiment of this grid point.
    pub config: Experiment,
}

/// One (variant, policy, seed) run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedRun {
    /// The run id: 12 hex digits, stable across machines (see [`ExperimentConfig::run_id`]).
    pub id: String,
    /// The variant's name, `<grid>/<slug>`; empty for a file without a sweep.
    pub variant: String,
    /// The policy label.
    pub policy: String,
    /// The seed.
    pub seed: u64,
    /// The variant's results directory; the run file is `runs/<policy>__seed<seed>.csv` in it.
    pub output_dir: PathBuf,
}

/// An experiment file with its sweep expanded.
#[derive(Clone, Debug)]
pub struct Sweep {
    /// The experiment file, as given.
    pub file: PathBuf,
    /// Every grid point, grids in file order and each grid's points with its first path varying
    /// slowest; one variant, the file itself, without `sweep:`.
    pub variants: Vec<Variant>,
}

fn err(file: &Path, field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        file: file.to_path_buf(),
        field: field.into(),
        message: message.into(),
    }
}

/// A YAML scalar or collection on one line (`0.01`, `kl`, `[8, 16]`); NaN and the infinities
/// in YAML's words (`.nan`, `.inf`, `-.inf`), which JSON would show as `null`.
fn flow(v: &Value) -> String {
    if let Some(x) = v.as_f64().filter(|x| !x.is_finite()) {
        return match x {
            x if x.is_nan() => ".nan",
            x if x > 0.0 => ".inf",
            _ => "-.inf",
        }
        .to_string();
    }
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => format!("{v:?}"),
    }
}

/// The short form of a value in a directory name: a scalar as itself; a section as its `policy`
/// (if any), then `key=value` for its other entries and just `key` for a `true` flag, joined by
/// `-` (`{ policy: balpm, beta: 0.01, no_uncertainty: true }` → `balpm-beta=0.01-no_uncertainty`).
fn short(v: &Value) -> String {
    match v {
        Value::Mapping(m) => {
            let key = |k: &Value| flow(k);
            let mut parts: Vec<String> = m
                .iter()
                .filter(|(k, _)| key(k) == "policy")
                .map(|(_, v)| short(v))
                .collect();
            for (k, v) in m.iter().filter(|(k, _)| key(k) != "policy") {
                match v {
                    Value::Bool(true) => parts.push(key(k)),
                    Value::Bool(false) => {}
                    other => parts.push(format!("{}={}", key(k), short(other))),
                }
            }
            parts.join("-")
        }
        Value::Sequence(s) => s.iter().map(short).collect::<Vec<_>>().join("-"),
        other => flow(other),
    }
}

/// A directory-name-safe form of a grid point.
fn slug(settings: &[(String, &Value)]) -> String {
    settings
        .iter()
        .map(|(path, value)| {
            format!(
                "{}={}",
                path.rsplit('.').next().unwrap_or(path),
                short(value)
            )
        })
        .collect::<Vec<_>>()
        .join(",")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._=,-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Sets the dotted `path` of `root` to `value`, adding missing keys. A key of the file that
/// holds dots (a policy label `balpm.v2`) is one step: at each section the longest run of the
/// path's keys that names one of its keys is taken. A parameter of a policy label the file does
/// not have (`policies.balmp.beta`) is refused, naming the labels; a new label is added by its
/// `policy` (`policies.extra.policy: [random, bald]`) or as a whole spec.
fn set_path(root: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let keys: Vec<&str> = path.split('.').collect();
    if keys.iter().any(|k| k.is_empty()) {
        return Err("is not a dotted path of keys (e.g. policies.balpm.beta)".into());
    }
    let (mut node, mut i, mut walked) = (root, 0, String::new());
    loop {
        let Value::Mapping(map) = node else {
            return Err(format!(
                "`{walked}` is not a section, so it has no key `{}`",
                keys[i]
            ));
        };
        let n = (1..=keys.len() - i)
            .rev()
            .find(|&n| map.contains_key(keys[i..i + n].join(".").as_str()))
            .unwrap_or(1);
        let key = keys[i..i + n].join(".");
        i += n;
        if i == keys.len() {
            map.insert(Value::String(key), value);
            return Ok(());
        }
        let new_label = (walked == "policies" || walked == "pair_policies")
            && !map.is_empty()
            && !map.contains_key(key.as_str())
            && keys[i..] != ["policy"];
        if new_label {
            let labels: Vec<&str> = map.keys().filter_map(Value::as_str).collect();
            return Err(format!(
                "`{walked}` has no policy labelled `{key}`; a grid sets parameters of the file's policies: {}",
                labels.join(", ")
            ));
        }
        walked = if walked.is_empty() {
            key.clone()
        } else {
            format!("{walked}.{key}")
        };
        node = map
            .entry(Value::String(key))
            .or_insert_with(|| Value::Mapping(Mapping::new()));
    }
}

/// A `sweep:` section's named grids, each mapping dotted paths to their values.
type Grids = IndexMap<String, IndexMap<String, Vec<Value>>>;

/// The `sweep:` section as named grids, at least one.
fn parse_grids(sweep: Value, path: &Path) -> Result<Grids, ConfigError> {
    let grids: Grids = yaml_serde::from_value(sweep).map_err(|e| {
        err(
            path,
            "sweep",
            format!("{e}; write `sweep: {{ <grid name>: {{ <dotted.path>: [value, ...] }} }}`"),
        )
    })?;
    if grids.is_empty() {
        return Err(err(
            path,
            "sweep",
            "is empty; name at least one grid, or remove `sweep:`",
        ));
    }
    Ok(grids)
}

/// One grid's checked variants: every combination of its values, each a checked experiment
/// whose results go to `<root>/<grid>/<slug>`. Two points with the same directory or the same
/// runs are refused.
fn grid_variants(
    root: &Value,
    base: &Experiment,
    grid: &str,
    axes: &IndexMap<String, Vec<Value>>,
    path: &Path,
) -> Result<Vec<Variant>, ConfigError> {
    let field = format!("sweep.{grid}");
    check_grid(grid, axes, path)?;
    let points = combinations(axes);
    let mut seen = std::collections::HashSet::new();
    let mut identities: Vec<(String, Vec<String>)> = vec![];
    let mut variants = vec![];
    for point in points {
        let Variant {
            name,
            settings,
            mut config,
        } = grid_point(root, grid, &point, path)?;
        if !seen.insert(name.clone()) {
            return Err(err(
                path,
                field,
                format!("two grid points share the directory `{name}`; list each value once"),
            ));
        }
        // A grid point that changes no run (a key that nothing reads, or `0.01` and
        // `1e-2`) would show as a separate point of an ablation that varies nothing.
        let identity: Vec<String> = config
            .setting
            .labels()
            .iter()
            .flat_map(|l| config.common.seeds.iter().map(|&s| config.run_id(l, s)))
            .collect();
        if let Some((other, _)) = identities.iter().find(|(_, id)| *id == identity) {
            return Err(err(
                path,
                field,
                format!(
                    "grid points `{other}` and `{name}` give the same runs (the values differ only in form, or the key changes nothing that a run computes); list each setting once"
                ),
            ));
        }
        identities.push((name.clone(), identity));
        config.common.output_dir = Some(base.output_dir().join(&name));
        config.common.variant = Some(name.clone());
        variants.push(Variant {
            name,
            settings,
            config,
        });
    }
    Ok(variants)
}

/// A grid's name is file-name safe, it varies at least one path, and every path has values.
fn check_grid(
    grid: &str,
    axes: &IndexMap<String, Vec<Value>>,
    path: &Path,
) -> Result<(), ConfigError> {
    let field = format!("sweep.{grid}");
    // A grid name is a folder under the sweep's root: `.` or `..` would put results beside it.
    if grid.is_empty()
        || grid.chars().all(|c| c == '.')
        || !grid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(err(
            path,
            field,
            "a grid name may use only ASCII letters, digits, '-', '_' and '.', and not dots alone",
        ));
    }
    if axes.is_empty() {
        return Err(err(
            path,
            field,
            "lists no parameter; add e.g. `policies.balpm.beta: [1.0, 0.1]`",
        ));
    }
    if let Some((p, _)) = axes.iter().find(|(_, values)| values.is_empty()) {
        return Err(err(
            path,
            format!("{field}.{p}"),
            "has no values; list at least one",
        ));
    }
    Ok(())
}

/// Every combination of a grid's values, the first path varying slowest.
fn combinations(axes: &IndexMap<String, Vec<Value>>) -> Vec<Vec<(&String, &Value)>> {
    let mut points: Vec<Vec<(&String, &Value)>> = vec![vec![]];
    for (p, values) in axes {
        points = points
            .into_iter()
            .flat_map(|point| {
                values
                    .iter()
                    .map(move |v| [point.clone(), vec![(p, v)]].concat())
            })
            .collect();
    }
    points
}

/// One grid point: its name (`<grid>/<slug>`), its settings (dotted path, value in flow form) and
/// the checked experiment with them applied to `root` (its output directory not yet set).
fn grid_point(
    root: &Value,
    grid: &str,
    point: &[(&String, &Value)],
    path: &Path,
) -> Result<Variant, ConfigError> {
    let field = format!("sweep.{grid}");
    let mut value = root.clone();
    let mut settings = vec![];
    for (p, v) in point {
        set_path(&mut value, p, (*v).clone()).map_err(|m| err(path, format!("{field}.{p}"), m))?;
        settings.push(((*p).clone(), flow(v)));
    }
    let raw: Vec<(String, &Value)> = point.iter().map(|(p, v)| ((*p).clone(), *v)).collect();
    let name = format!("{grid}/{}", slug(&raw));
    let at = settings
        .iter()
        .map(|(p, v)| format!("{p}={v}"))
        .collect::<Vec<_>>()
        .join(", ");
    let config = parse_rewritten(&value, path).map_err(|e| {
        // A grid over a tag (`model.train.strategy.kind`) keeps the other choice's keys.
        let over_tag = point
            .iter()
            .any(|(p, _)| [".kind", ".policy", ".rule"].iter().any(|t| p.ends_with(t)));
        let whole = match e.field.rsplit_once('.') {
            Some((section, _)) if over_tag && e.message.contains("would be ignored") => format!(
                "; to sweep choices with different keys, sweep the whole `{section}` section with one map per choice"
            ),
            _ => String::new(),
        };
        ConfigError {
            message: format!("{}{whole} (in sweep grid `{grid}` at {at})", e.message),
            ..e
        }
    })?;
    Ok(Variant {
        name,
        settings,
        config,
    })
}

/// [`ExperimentConfig::parse`] of a grid point's YAML (the file without `sweep:` and `slurm:`,
/// its values set): serde's `at line L column C` would count lines of the rewritten text, not of
/// the user's file, so errors say the field without them.
fn parse_rewritten(value: &Value, path: &Path) -> Result<Experiment, ConfigError> {
    let text = yaml_serde::to_string(value).expect("a YAML value serialises");
    ExperimentConfig::parse(&text, path).map_err(|e| ConfigError {
        message: without_location(&e.message),
        ..e
    })
}

/// `message` without serde's ` at line L column C` (each of them; other " at line " text stays).
fn without_location(message: &str) -> String {
    let mut out = message.to_string();
    while let Some(l) = crate::config::SerdeLocation::find(&out, 0) {
        out.replace_range(l.start..l.end, "");
    }
    out
}

/// [`ExperimentConfig::parse`] of the file without its `sweep:` and `slurm:` (`root`): on the
/// file's own text with those top-level blocks blanked line by line, so that errors keep the
/// file's lines; on the rewritten YAML ([`parse_rewritten`]) when the blanked text does not read
/// back as `root` (a quoted `"sweep":` key, say).
fn parse_base(text: &str, root: &Value, path: &Path) -> Result<Experiment, ConfigError> {
    let mut blanked = String::new();
    let mut blanking = false;
    for line in crate::config::strip_bom(text).lines() {
        if !line.is_empty() && !line.starts_with([' ', '\t', '#']) {
            blanking = line.starts_with("sweep:") || line.starts_with("slurm:");
        }
        if !blanking {
            blanked.push_str(line);
        }
        blanked.push('\n');
    }
    match crate::config::yaml_value(&blanked, path) {
        Ok(v) if v == *root => ExperimentConfig::parse(&blanked, path),
        _ => parse_rewritten(root, path),
    }
}

/// `report.ablation_baseline` without a `sweep:`: no ablation report would read it.
fn refuse_ablation_baseline_without_sweep(root: &Value, path: &Path) -> Result<(), ConfigError> {
    let named = root
        .get("report")
        .and_then(|r| r.get("ablation_baseline"))
        .is_some_and(|v| !v.is_null());
    if named {
        return Err(err(
            path,
            "report.ablation_baseline",
            "names the grid point drawn as the baseline of a sweep's ablation figures, but this file has no `sweep:`; remove it or add a sweep",
        ));
    }
    Ok(())
}

/// `report.ablation_baseline` names a grid point of the sweep.
fn check_ablation_baseline(
    base: &Experiment,
    variants: &[Variant],
    path: &Path,
) -> Result<(), ConfigError> {
    if let Some(want) = &base.common.report.ablation_baseline
        && !variants
            .iter()
            .any(|v| v.name.rsplit('/').next() == Some(want.as_str()))
    {
        let points: Vec<&str> = variants
            .iter()
            .filter_map(|v| v.name.rsplit('/').next())
            .collect();
        return Err(err(
            path,
            "report.ablation_baseline",
            format!(
                "`{want}` is not a grid point of this sweep; name one of: {}",
                points.join(", ")
            ),
        ));
    }
    Ok(())
}

impl Sweep {
    /// Reads an experiment file and expands its `sweep:` section (if any) into checked variants.
    ///
    /// # Errors
    /// The file cannot be read, or [`Sweep::parse`] fails.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| err(path, "", format!("cannot read the experiment file: {e}")))?;
        Self::parse(&text, path)
    }

    /// [`Sweep::load`] on text named `path` in errors.
    ///
    /// # Errors
    /// The text is not YAML; `sweep:` is not a map of grids of `<dotted.path>: [values]`, is
    /// empty, or has a badly named grid, a grid without paths or a path without values; a path
    /// cannot be set; two grid points share a directory or give the same runs; a grid point (or
    /// the file without `sweep:`) fails [`ExperimentConfig::parse`]; or `report.ablation_baseline`
    /// names no grid point.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let mut root: Value = crate::config::yaml_value(text, path)
            .map_err(|e| crate::config::explain_type_error(text, path, e))?;
        // `slurm:` belongs to `activepref sweep slurm`, not to the runs.
        let (sweep, slurm) = match &mut root {
            Value::Mapping(m) => (m.remove("sweep"), m.remove("slurm")),
            _ => (None, None),
        };
        let Some(sweep) = sweep else {
            refuse_ablation_baseline_without_sweep(&root, path)?;
            let config = match slurm {
                None => ExperimentConfig::parse(text, path)?,
                Some(_) => parse_base(text, &root, path)?,
            };
            return Ok(Self {
                file: path.to_path_buf(),
                variants: vec![Variant {
                    name: String::new(),
                    settings: vec![],
                    config,
                }],
            });
        };
        let grids = parse_grids(sweep, path)?;
        let base = parse_base(text, &root, path)?;
        let mut variants = vec![];
        for (grid, axes) in &grids {
            variants.extend(grid_variants(&root, &base, grid, axes, path)?);
        }
        check_ablation_baseline(&base, &variants, path)?;
        Ok(Self {
            file: path.to_path_buf(),
            variants,
        })
    }

    /// The results root of the sweep: the directory that holds `<grid>/<point>/` (or the single
    /// results directory of a file without a sweep).
    pub fn results_root(&self) -> PathBuf {
        match self.variants.first() {
            Some(v) if !v.name.is_empty() => v
                .config
                .output_dir()
                .parent()
                .and_then(Path::parent)
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            Some(v) => v.config.output_dir(),
            None => PathBuf::new(),
        }
    }

    /// Every run of every variant, in plan order (variant, then policy, then seed).
    pub fn plan(&self) -> Vec<PlannedRun> {
        self.variants
            .iter()
            .flat_map(|v| {
                let cfg = &v.config;
                cfg.setting.labels().into_iter().flat_map(move |policy| {
                    cfg.common.seeds.iter().map(move |&seed| PlannedRun {
                        id: cfg.run_id(&policy, seed),
                        variant: v.name.clone(),
                        policy: policy.clone(),
                        seed,
                        output_dir: cfg.output_dir(),
                    })
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A grid point's name shows NaN and the infinities as the file wrote them (JSON showed
    /// `null`, the name of another point).
    #[test]
    fn non_finite_grid_values_keep_their_yaml_names() {
        let values = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.5].map(Value::from);
        let shown: Vec<String> = values.iter().map(flow).collect();
        assert_eq!(shown, [".nan", ".inf", "-.inf", "0.5"]);
        let point = [("model.train.lr".to_string(), &values[0])];
        assert_eq!(slug(&point), "lr=.nan");
        assert_eq!(flow(&Value::Null), "null");
    }
}
