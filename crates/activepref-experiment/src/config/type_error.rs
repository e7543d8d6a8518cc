//! serde's type errors in the project's words (README, "Every number is bounded"): the field
//! named even inside the tagged sections (`benchmark`, `policies.<label>`, `report.stopping[i]`)
//! where serde loses it, the value as written, and the range the field's own check gives. The
//! range is found by checking the file again with an out-of-range probe in the field's place, so
//! it is always the check's own words, never a second copy of the bounds.
//!
//! `model.members: invalid type: integer `-5`, expected usize at line 26 column 12` becomes
//! `model.members: is -5 at line 26 column 12; must be a whole number between 1 and 1000`.

use std::path::Path;

use yaml_serde::Value;

use super::{ConfigError, ExperimentConfig, yaml_value};

/// The kind of number serde expected.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Wanted {
    /// `usize`, `u64`, ...: a whole number ≥ 0.
    Count,
    /// `i64`, ...: a whole number.
    Integer,
    /// `f64`, `f32`.
    Number,
}

/// The value serde found, as its message shows it.
#[derive(Clone, Debug, PartialEq)]
enum Found {
    Int(i128),
    /// An integer beyond any YAML value (`integer `1e23-ish` as u128`): the literal.
    Huge(String),
    Float(f64),
    /// A string, quoted as serde shows it (`"abc"`).
    Str(String),
    Bool(bool),
    Sequence,
    Mapping,
}

/// A serde type error read back:
/// `[<at>: ]invalid type|value: <found>, expected <wanted>[ at line L column C][ (<hint>)]`.
#[derive(Debug, PartialEq)]
struct Mismatch {
    at: String,
    found: Found,
    shown: String,
    wanted: Wanted,
    location: Option<String>,
    hint: String,
}

impl Mismatch {
    fn read(full: &str) -> Option<Self> {
        let i = full
            .find("invalid type: ")
            .or_else(|| full.find("invalid value: "))?;
        let at = full[..i].trim_end().trim_end_matches(':').to_string();
        let rest = full[i..].split_once(": ")?.1;
        let (found, after) = rest.rsplit_once(", expected ")?;
        let (expected_and_at, hint) = match after.find(" (") {
            Some(j) => (&after[..j], after[j..].to_string()),
            None => (after, String::new()),
        };
        let (expected, location) = match expected_and_at.split_once(" at ") {
            Some((e, l)) if l.starts_with("line ") => (e, Some(l.to_string())),
            _ => (expected_and_at, None),
        };
        let ticked = |s: &str| {
            s.strip_prefix('`')?
                .split_once('`')
                .map(|(v, _)| v.to_string())
        };
        let (found, shown) = if let Some(v) = found.strip_prefix("integer ") {
            let v = ticked(v)?;
            match v.parse::<i128>() {
                Ok(n) if found.ends_with('`') => (Found::Int(n), v),
                _ => (Found::Huge(v.clone()), v),
            }
        } else if let Some(v) = found.strip_prefix("floating point ") {
            let v = ticked(v)?;
            (Found::Float(v.parse().ok()?), v)
        } else if let Some(v) = found.strip_prefix("string ") {
            (Found::Str(v.to_string()), v.to_string())
        } else if let Some(v) = found.strip_prefix("boolean ") {
            let v = ticked(v)?;
            (Found::Bool(v.parse().ok()?), v)
        } else if found == "sequence" {
            (Found::Sequence, "a list".to_string())
        } else if found == "map" {
            (Found::Mapping, "a map".to_string())
        } else {
            return None;
        };
        let wanted = match expected {
            "usize" | "u64" | "u32" | "u16" | "u8" => Wanted::Count,
            "any YAML value" if matches!(found, Found::Huge(_)) => Wanted::Count,
            "isize" | "i64" | "i32" | "i16" | "i8" => Wanted::Integer,
            "f64" | "f32" => Wanted::Number,
            _ => return None,
        };
        Some(Self {
            at,
            found,
            shown,
            wanted,
            location,
            hint,
        })
    }

    /// True when `v` is the value serde found.
    fn matches(&self, v: &Value) -> bool {
        match (&self.found, v) {
            (Found::Int(n), v) if !v.is_f64() => {
                v.as_i64().map(i128::from) == Some(*n) || v.as_u64().map(i128::from) == Some(*n)
            }
            (Found::Float(x), v) => v.is_f64() && v.as_f64() == Some(*x),
            (Found::Str(shown), Value::String(s)) => format!("{s:?}") == *shown,
            (Found::Bool(b), Value::Bool(c)) => b == c,
            (Found::Sequence, Value::Sequence(_)) | (Found::Mapping, Value::Mapping(_)) => true,
            _ => false,
        }
    }

    /// What is wrong, with the field's range when the check gave one (`must be between 1 and 64`)
    /// and serde's line and column when they point at the value (`exact`).
    fn wording(&self, range: Option<&str>, exact: bool) -> String {
        let shown = match self.location.as_ref().filter(|_| exact) {
            Some(l) => format!("{} at {l}", self.shown),
            None => self.shown.clone(),
        };
        let what = match self.wanted {
            Wanted::Count => "a whole number ≥ 0",
            Wanted::Integer => "a whole number",
            Wanted::Number => "a number",
        };
        match range {
            Some(r) if self.wanted != Wanted::Number && r.starts_with("must be ") => {
                format!(
                    "is {shown}; must be a whole number {}",
                    &r["must be ".len()..]
                )
            }
            Some(r) => format!("is {shown}, not {what}; {r}"),
            None => format!("is {shown}; must be {what}"),
        }
    }
}

/// One step of a field path: a key or a list index.
#[derive(Clone, Debug, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// `model.mlp.hidden[0]` → key, key, key, index; None for an empty path.
fn steps(at: &str) -> Vec<Step> {
    let mut out = vec![];
    for part in at.split('.').filter(|p| !p.is_empty()) {
        let mut pieces = part.split('[');
        out.push(Step::Key(pieces.next().unwrap_or_default().to_string()));
        for idx in pieces {
            match idx.trim_end_matches(']').parse() {
                Ok(i) => out.push(Step::Index(i)),
                Err(_) => return vec![Step::Key(String::new())],
            }
        }
    }
    out
}

/// `model.mlp.hidden[0]` again.
fn dotted(steps: &[Step]) -> String {
    let mut s = String::new();
    for step in steps {
        match step {
            Step::Key(k) if s.is_empty() => s.push_str(k),
            Step::Key(k) => {
                s.push('.');
                s.push_str(k);
            }
            Step::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

fn node_mut<'v>(mut v: &'v mut Value, steps: &[Step]) -> Option<&'v mut Value> {
    for step in steps {
        v = match step {
            Step::Key(k) => v.get_mut(k.as_str())?,
            Step::Index(i) => v.get_mut(*i)?,
        };
    }
    Some(v)
}

/// Every path below `v` (itself included) whose value `m` found.
fn holding(v: &Value, m: &Mismatch, here: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    if m.matches(v) {
        out.push(here.clone());
    }
    match v {
        Value::Mapping(map) => {
            for (k, child) in map {
                if let Some(k) = k.as_str() {
                    here.push(Step::Key(k.to_string()));
                    holding(child, m, here, out);
                    here.pop();
                }
            }
        }
        Value::Sequence(items) => {
            for (i, child) in items.iter().enumerate() {
                here.push(Step::Index(i));
                holding(child, m, here, out);
                here.pop();
            }
        }
        _ => {}
    }
}

/// The error `e` of the experiment text `text` in plain words, or `e` itself when it is not a
/// numeric type error or its field cannot be found.
pub(crate) fn explain(text: &str, file: &Path, e: ConfigError) -> ConfigError {
    let full = if e.field.is_empty() {
        e.message.clone()
    } else {
        format!("{}: {}", e.field, e.message)
    };
    let Some(m) = Mismatch::read(&full) else {
        return e;
    };
    let at = steps(&m.at);
    // The tree with the bad value in it; a literal beyond any YAML value is read as 0 (it is
    // replaced by each probe anyway).
    let (root, field, exact) = match &m.found {
        Found::Huge(lit) if text.matches(lit.as_str()).count() == 1 => {
            (yaml_value(&text.replacen(lit, "0", 1), file).ok(), at, true)
        }
        _ => {
            let Ok(mut root) = yaml_value(text, file) else {
                return e;
            };
            let Some(node) = node_mut(&mut root, &at) else {
                return e;
            };
            if m.matches(node) {
                (Some(root), at, true)
            } else {
                // serde named only the tagged section (or nothing): the one value below it.
                let mut hits = vec![];
                holding(node, &m, &mut at.clone(), &mut hits);
                let [hit] = hits.as_slice() else {
                    return e;
                };
                let hit = hit.clone();
                (Some(root), hit, false)
            }
        }
    };
    let name = dotted(&field);
    let range = root.and_then(|r| probe_range(&r, &field, &name, m.wanted, file));
    let mut message = m.wording(range.as_deref(), exact);
    message.push_str(&m.hint);
    ConfigError {
        file: file.to_path_buf(),
        field: name,
        message,
    }
}

/// The range the field's own check states (`must be between 1 and 64`), from the first probe
/// value that it refuses; None when it refuses none, or another field fails first.
fn probe_range(
    root: &Value,
    field: &[Step],
    name: &str,
    wanted: Wanted,
    file: &Path,
) -> Option<String> {
    let probes: Vec<Value> = match wanted {
        Wanted::Count => vec![u64::MAX.into(), 0u64.into()],
        Wanted::Integer => vec![i64::MAX.into(), i64::MIN.into()],
        Wanted::Number => vec![1e300.into(), (-1e300).into(), 0.0.into()],
    };
    probes.into_iter().find_map(|probe| {
        let mut r = root.clone();
        *node_mut(&mut r, field)? = probe;
        let text = yaml_serde::to_string(&r).ok()?;
        let err = ExperimentConfig::parse_schema(&text, file)
            .and_then(|c| c.check(file).map(|_| ()))
            .err()?;
        let same = err.field == name || name.starts_with(&format!("{}[", err.field));
        let i = err.message.find("must")?;
        same.then(|| err.message[i..].to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_read_back() {
        let m = Mismatch::read(
            "loop.rounds: invalid type: integer `-5`, expected usize at line 3 column 9 (see x)",
        )
        .unwrap();
        assert_eq!(m.at, "loop.rounds");
        assert_eq!((m.found.clone(), m.shown.as_str()), (Found::Int(-5), "-5"));
        assert_eq!(m.wanted, Wanted::Count);
        assert_eq!(m.location.as_deref(), Some("line 3 column 9"));
        assert_eq!(m.hint, " (see x)");
        let m = Mismatch::read("invalid type: string \"a, b\", expected f64").unwrap();
        assert_eq!(
            (m.at.as_str(), m.shown.as_str(), m.wanted),
            ("", "\"a, b\"", Wanted::Number)
        );
        let m = Mismatch::read("x: invalid type: integer `99999999999999999999999` as u128, expected any YAML value at line 1 column 4").unwrap();
        assert_eq!(m.found, Found::Huge("99999999999999999999999".into()));
        // Not a numeric field: left as serde says it.
        assert!(Mismatch::read("name: invalid type: integer `5`, expected a string").is_none());
        assert!(Mismatch::read("unknown field `x`, expected one of `a`").is_none());
    }

    const GOOD: &str = "name: t
benchmark: { kind: synthetic, pool_prompts: 60 }
model: { members: 2 }
loop: { initial_labels: 10, batch_size: 10, rounds: 3 }
policies:
  random: { policy: random }
  balpm: { policy: balpm, k: 5 }
seeds: [1, 2]
";

    /// `GOOD` with `from` replaced by `to`, parsed and checked: the error line.
    fn error(from: &str, to: &str) -> String {
        assert!(GOOD.contains(from), "{from}");
        let text = GOOD.replacen(from, to, 1);
        ExperimentConfig::parse(&text, Path::new("exp.yaml"))
            .unwrap_err()
            .to_string()
    }

    const HINT: &str = " (see experiments/quickstart.yaml for a complete example)";

    #[test]
    fn a_value_of_the_wrong_type_gets_the_fields_range() {
        let cases = [
            // serde's path and line were right: kept.
            (
                "members: 2",
                "members: -5",
                "model.members: is -5 at line 3 column 19; must be a whole number between 1 and 1000",
            ),
            (
                "members: 2",
                "members: 2.5",
                "model.members: is 2.5 at line 3 column 19; must be a whole number between 1 and 1000",
            ),
            (
                "rounds: 3",
                "rounds: true",
                "loop.rounds: is true at line 4 column 53; must be a whole number between 1 and 1000000",
            ),
            // Beyond any YAML number.
            (
                "rounds: 3",
                "rounds: 99999999999999999999999",
                "loop.rounds: is 99999999999999999999999 at line 4 column 53; must be a whole number between 1 and 1000000",
            ),
            // No upper bound: the lower one.
            (
                "batch_size: 10",
                "batch_size: -1",
                "loop.batch_size: is -1 at line 4 column 41; must be a whole number at least 1",
            ),
            // No bound at all.
            (
                "seeds: [1, 2]",
                "seeds: [1, -2]",
                "seeds[1]: is -2 at line 8 column 12; must be a whole number ≥ 0",
            ),
            // Inside tagged sections serde names no field (or only the section) and the wrong
            // line: the field is found, the line left out.
            (
                "pool_prompts: 60",
                "pool_prompts: -6",
                "benchmark.pool_prompts: is -6; must be a whole number between 0 and 10000000",
            ),
            (
                "k: 5",
                "k: \"five\"",
                "policies.balpm.k: is \"five\"; must be a whole number at least 1 (the point itself counts as its first neighbour)",
            ),
            (
                "k: 5",
                "k: 5, beta: [1]",
                "policies.balpm.beta: is a list; must be a number",
            ),
        ];
        for (from, to, said) in cases {
            assert_eq!(error(from, to), format!("exp.yaml: {said}{HINT}"), "{to}");
        }
        // A number field's own words.
        assert_eq!(
            error("members: 2", "members: 2, train: { lr: x }"),
            format!(
                "exp.yaml: model.train.lr: is \"x\" at line 3 column 35, not a number; must be a number in (0, 1]; AdamW diverges far below 1 (the papers use 1e-5 to 1e-3){HINT}"
            )
        );
        // Not a number field: serde's words stay.
        assert!(error("name: t", "name: [t]").contains("expected a string"));
    }

    /// A sweep's grid points are parsed from rewritten text, whose line numbers are not the
    /// file's: the error names the field and the grid point, no line.
    #[test]
    fn a_grid_points_error_has_no_line_of_the_rewritten_text() {
        let text = format!("{GOOD}sweep:\n  m:\n    model.members: [2, -3]\n");
        let e = crate::Sweep::parse(&text, Path::new("exp.yaml")).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "exp.yaml: model.members: is -3; must be a whole number between 1 and 1000{HINT} (in sweep grid `m` at model.members=-3)"
            )
        );
        let e = crate::Sweep::parse(
            &format!("{GOOD}slurm: {{}}\n").replace("rounds: 3", "rounds: x"),
            Path::new("exp.yaml"),
        )
        .unwrap_err();
        assert!(!e.to_string().contains(" line "), "{e}");
        assert!(
            e.to_string()
                .contains("loop.rounds: is \"x\"; must be a whole number between"),
            "{e}"
        );
    }

    #[test]
    fn paths_round_trip() {
        for p in [
            "model.mlp.hidden[0]",
            "seeds[2]",
            "policies.balpm.k",
            "loop",
        ] {
            assert_eq!(dotted(&steps(p)), p);
        }
        assert!(steps("").is_empty());
    }
}
