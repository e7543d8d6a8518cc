//! serde's type errors in the project's words (README, "Every number is bounded"): the field
//! named even inside the tagged sections (`benchmark`, `policies.<label>`, `report.stopping[i]`)
//! where serde loses it, the value as written, and the range the field's own check gives. The
//! range is found by checking the file again with an out-of-range probe in the field's place, so
//! it is always the check's own words, never a second copy of the bounds. An unknown key or
//! choice inside a tagged section is named by its field the same way.
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

/// Every path below `v` (itself included, at `here`) whose step and value `hit` accepts.
fn holding(
    v: &Value,
    hit: &dyn Fn(&[Step], &Value) -> bool,
    here: &mut Vec<Step>,
    out: &mut Vec<Vec<Step>>,
) {
    if hit(here, v) {
        out.push(here.clone());
    }
    let children: Vec<(Step, &Value)> = match v {
        Value::Mapping(map) => map
            .iter()
            .filter_map(|(k, c)| Some((Step::Key(k.as_str()?.to_string()), c)))
            .collect(),
        Value::Sequence(items) => items
            .iter()
            .enumerate()
            .map(|(i, c)| (Step::Index(i), c))
            .collect(),
        _ => vec![],
    };
    for (step, child) in children {
        here.push(step);
        holding(child, hit, here, out);
        here.pop();
    }
}

/// The one path below `at` in `root` that `hit` accepts; None for none or several.
fn the_one(root: &Value, at: &[Step], hit: &dyn Fn(&[Step], &Value) -> bool) -> Option<Vec<Step>> {
    let mut node = root;
    for step in at {
        node = match step {
            Step::Key(k) => node.get(k.as_str())?,
            Step::Index(i) => node.get(*i)?,
        };
    }
    let mut hits = vec![];
    holding(node, hit, &mut at.to_vec(), &mut hits);
    let [one] = hits.as_slice() else {
        return None;
    };
    Some(one.clone())
}

/// serde's `[<at>: ]unknown field|variant `name`, expected ...[ at line L column C][ (hint)]`
/// from inside a tagged section, where `at` names only the section (or nothing) and the line is
/// the document's first: the field is found as the one key (field) or string value (variant)
/// `name` below `at`, and a line that does not hold `name` is left out. None when serde's path
/// was already the field's.
fn relocate_unknown(text: &str, file: &Path, full: &str) -> Option<ConfigError> {
    let (i, key) = match (full.find("unknown field `"), full.find("unknown variant `")) {
        (Some(i), _) => (i, true),
        (None, Some(i)) => (i, false),
        (None, None) => return None,
    };
    let at = full[..i].trim_end().trim_end_matches(':');
    let words = &full[i..];
    let name = words.split('`').nth(1)?;
    let (said, location, hint) = match words.find(" at line ") {
        Some(j) => {
            let h = words[j..].find(" (").map_or(words.len(), |h| j + h);
            (&words[..j], &words[j..h], &words[h..])
        }
        None => match words.rfind(" (") {
            Some(h) => (&words[..h], "", &words[h..]),
            None => (words, "", ""),
        },
    };
    // serde's line is right outside tagged sections (`model.train: unknown field `lrr``): kept
    // when it holds the name.
    let line: Option<usize> = location
        .strip_prefix(" at line ")
        .and_then(|l| l.split(' ').next()?.parse().ok());
    let location = match line.and_then(|l| text.lines().nth(l.checked_sub(1)?)) {
        Some(l) if l.contains(name) => location,
        _ => "",
    };
    let root = yaml_value(text, file).ok()?;
    let at = steps(at);
    let field = if key {
        the_one(&root, &at, &|here, _| {
            here.last() == Some(&Step::Key(name.to_string()))
        })?
    } else {
        the_one(&root, &at, &|_, v| v.as_str() == Some(name))?
    };
    (field != at).then(|| ConfigError {
        file: file.to_path_buf(),
        field: dotted(&field),
        message: format!("{said}{location}{hint}"),
    })
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
        return relocate_unknown(text, file, &full).unwrap_or(e);
    };
    let at = steps(&m.at);
    // The tree with the bad value in it; a literal beyond any YAML value is read as 0 (it is
    // replaced by each probe anyway).
    let (root, field, exact) = match &m.found {
        Found::Huge(lit) if text.matches(lit.as_str()).count() == 1 => {
            (yaml_value(&text.replacen(lit, "0", 1), file).ok(), at, true)
        }
        _ => {
            let Ok(root) = yaml_value(text, file) else {
                return e;
            };
            // serde named the field, or only the tagged section (or nothing): then the one
            // value below it that serde found.
            let Some(field) = the_one(&root, &at, &|_, v| m.matches(v)) else {
                return e;
            };
            let exact = field == at;
            (Some(root), field, exact)
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

    /// An unknown key or choice inside a tagged section is named by its field; serde's line is
    /// kept where it holds the name, and left out where it is the document's first.
    #[test]
    fn an_unknown_key_or_choice_is_named_by_its_field() {
        let e = error("pool_prompts: 60", "pool_promts: 60");
        assert!(
            e.starts_with("exp.yaml: benchmark.pool_promts: unknown field `pool_promts`, expected one of `seed`,")
                && !e.contains(" line "),
            "{e}"
        );
        let e = error("k: 5", "kk: 5");
        assert!(
            e.starts_with("exp.yaml: policies.balpm.kk: unknown field `kk`, expected one of `k`,"),
            "{e}"
        );
        let e = error("policy: balpm", "policy: balpn");
        assert!(
            e.starts_with("exp.yaml: policies.balpm.policy: unknown variant `balpn`, expected one of `random`,"),
            "{e}"
        );
        let e = error("members: 2", "members: 2, train: { lrr: 1 }");
        assert!(
            e.starts_with("exp.yaml: model.train.lrr: unknown field `lrr`, expected one of `lr`,")
                && e.ends_with(&format!(" at line 3 column 31{HINT}")),
            "{e}"
        );
        let e = error("loop:", "lop:");
        assert!(
            e.starts_with("exp.yaml: lop: unknown field `lop`, expected one of `name`,")
                && e.ends_with(&format!(" at line 4 column 1{HINT}")),
            "{e}"
        );
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
