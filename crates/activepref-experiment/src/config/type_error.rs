//! serde's schema errors in the project's words (README, "Every number is bounded").
//!
//! - A value of the wrong type is named by its field, even inside the tagged sections
//!   (`benchmark`, `policies.<label>`, `report.stopping[i]`) where serde names only the section
//!   (or nothing, and the document's first line), with the value as written and the range the
//!   field's own check gives. The range is found by checking the file again with an
//!   out-of-range probe in the field's place, so it is always the check's own words, never a
//!   second copy of the bounds.
//! - An unknown key or choice inside a tagged section is named by its field the same way.
//!
//! `model.members: invalid type: integer `-5`, expected usize at line 26 column 12` becomes
//! `model.members: is -5 at line 26 column 12; must be a whole number between 1 and 1000`.

use std::path::Path;

use yaml_serde::Value;

use super::{ConfigError, ExperimentConfig, yaml_value};

/// The largest integer YAML reads here.
const YAML_MAX: u64 = u64::MAX;

/// serde's ` at line L column C` in a message: where it stands (byte range) and what it says
/// (1-based line and column). The one reader of that phrase, for this module and the sweep's
/// rewritten grid points.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct SerdeLocation {
    /// Byte range of ` at line L column C` in the message.
    pub start: usize,
    pub end: usize,
    pub line: usize,
    pub column: usize,
}

impl SerdeLocation {
    /// The first one in `message` at or after byte `from`; other " at line " text is skipped.
    pub(crate) fn find(message: &str, from: usize) -> Option<Self> {
        let mut at = from;
        while let Some(i) = message[at..].find(" at line ").map(|i| at + i) {
            let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
            let line_at = i + " at line ".len();
            let line_len = digits(&message[line_at..]);
            let column_at = line_at + line_len + " column ".len();
            let column_len = message[line_at + line_len..]
                .strip_prefix(" column ")
                .map_or(0, digits);
            if line_len > 0 && column_len > 0 {
                return Some(Self {
                    start: i,
                    end: column_at + column_len,
                    line: message[line_at..line_at + line_len].parse().ok()?,
                    column: message[column_at..column_at + column_len].parse().ok()?,
                });
            }
            at = i + 1;
        }
        None
    }

    /// `s` split into what precedes serde's location, the location, and the hint after it (from
    /// the first " (" when there is no location).
    fn split(s: &str) -> (&str, Option<Self>, &str) {
        match Self::find(s, 0) {
            Some(l) => (&s[..l.start], Some(l), &s[l.end..]),
            None => match s.find(" (") {
                Some(h) => (&s[..h], None, &s[h..]),
                None => (s, None, ""),
            },
        }
    }
}

impl std::fmt::Display for SerdeLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {} column {}", self.line, self.column)
    }
}

/// The kind of number serde expected.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Wanted {
    /// `usize`, `u64`, ...: a whole number ≥ 0 (also a literal beyond any YAML number, whose
    /// field's kind serde does not say: the probes are then whole numbers).
    Count,
    /// `f64`, `f32`.
    Number,
    /// `true` or `false`.
    Bool,
    /// A section (`a map of keys ...`), a choice (`a map naming its choice ...`) or a list (`a
    /// sequence`): no probe gives a range, the words say what is wanted.
    Shape,
}

/// The value serde found, as its message shows it.
#[derive(Clone, Debug, PartialEq)]
enum Found {
    Int(i128),
    /// An integer beyond any YAML number (`integer `...` as u128`): the literal.
    Huge(String),
    Float(f64),
    /// A string, quoted as serde shows it (`"abc"`).
    Str(String),
    Bool(bool),
    Sequence,
    Mapping,
    Null,
}

/// A serde type error read back:
/// `[<at>: ]invalid type|value: <found>, expected <wanted>[ at line L column C][ (<hint>)]`.
#[derive(Debug, PartialEq)]
struct Mismatch {
    at: String,
    found: Found,
    shown: String,
    wanted: Wanted,
    /// serde's words for what it wanted, Rust's type names replaced (`a map of keys ...`).
    expected: String,
    location: Option<SerdeLocation>,
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
        let (expected, location, hint) = SerdeLocation::split(after);
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
        } else if found == "unit value" {
            (Found::Null, "null".to_string())
        } else {
            return None;
        };
        let wanted = match expected {
            "usize" | "u64" | "u32" | "u16" | "u8" => Wanted::Count,
            "any YAML value" if matches!(found, Found::Huge(_)) => Wanted::Count,
            "f64" | "f32" => Wanted::Number,
            "a boolean" => Wanted::Bool,
            "a sequence" => Wanted::Shape,
            e if e.starts_with("a map ") => Wanted::Shape,
            _ => return None,
        };
        Some(Self {
            at,
            found,
            shown,
            wanted,
            expected: expected.to_string(),
            location,
            hint: hint.to_string(),
        })
    }

    /// True when `v` is the value serde found.
    fn matches(&self, v: &Value) -> bool {
        match (&self.found, v) {
            (Found::Int(n), v) if !v.is_f64() => {
                v.as_i64().map(i128::from) == Some(*n) || v.as_u64().map(i128::from) == Some(*n)
            }
            (Found::Float(x), v) => {
                v.is_f64()
                    && v.as_f64()
                        .is_some_and(|y| y == *x || (x.is_nan() && y.is_nan()))
            }
            (Found::Str(shown), Value::String(s)) => format!("{s:?}") == *shown,
            (Found::Bool(b), Value::Bool(c)) => b == c,
            (Found::Sequence, Value::Sequence(_))
            | (Found::Mapping, Value::Mapping(_))
            | (Found::Null, Value::Null) => true,
            _ => false,
        }
    }

    /// What is wrong, with the field's range when the check gave one (`must be between 1 and 64`)
    /// and serde's line and column when they point at the value (`exact`).
    fn wording(&self, range: Option<&str>, exact: bool) -> String {
        let shown = match self.location.filter(|_| exact) {
            Some(l) => format!("{} at {l}", self.shown),
            None => self.shown.clone(),
        };
        if matches!(self.found, Found::Huge(_)) {
            return match range {
                Some(r) => format!("is {shown}, beyond the largest number YAML reads; {r}"),
                None => format!("is {shown}, beyond the largest number YAML reads ({YAML_MAX})"),
            };
        }
        match (self.wanted, range) {
            (Wanted::Count, Some(r)) if r.starts_with("must be ") => {
                format!(
                    "is {shown}; must be a whole number {}",
                    &r["must be ".len()..]
                )
            }
            (Wanted::Count, Some(r)) => format!("is {shown}, not a whole number ≥ 0; {r}"),
            (Wanted::Count, None) => format!("is {shown}; must be a whole number ≥ 0"),
            (Wanted::Number, Some(r)) => format!("is {shown}, not a number; {r}"),
            (Wanted::Number, None) => format!("is {shown}; must be a number"),
            (Wanted::Bool, _) => format!("is {shown}; must be true or false"),
            (Wanted::Shape, _) => match self.expected.as_str() {
                "a sequence" => format!("is {shown}; must be a list, such as `[1, 2]`"),
                e => format!("is {shown}; must be {e}"),
            },
        }
    }
}

/// One step of a field path: a key or a list index.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Step {
    Key(String),
    Index(usize),
}

/// serde's dotted path (`policies.bal.pm.k`, `model.mlp.hidden[0]`) as steps through `root`:
/// keys are matched against the tree, so a label with a dot in it is one step. None when the
/// path leads nowhere in `root`; empty for an empty path.
fn resolve(root: &Value, at: &str) -> Option<Vec<Step>> {
    let (mut node, mut rest, mut out) = (root, at, vec![]);
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('[') {
            let (idx, after) = r.split_once(']')?;
            let i: usize = idx.parse().ok()?;
            node = node.get(i)?;
            out.push(Step::Index(i));
            rest = after.strip_prefix('.').unwrap_or(after);
            continue;
        }
        let key = node
            .as_mapping()?
            .keys()
            .filter_map(Value::as_str)
            .filter(|k| {
                rest.starts_with(k)
                    && matches!(rest[k.len()..].chars().next(), None | Some('.' | '['))
            })
            .max_by_key(|k| k.len())?;
        node = node.get(key)?;
        out.push(Step::Key(key.to_string()));
        rest = &rest[key.len()..];
        rest = rest.strip_prefix('.').unwrap_or(rest);
    }
    Some(out)
}

/// `model.mlp.hidden[0]` again.
pub(super) fn dotted(steps: &[Step]) -> String {
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

/// The node of `v` at `steps`.
fn node<'v>(mut v: &'v Value, steps: &[Step]) -> Option<&'v Value> {
    for step in steps {
        v = match step {
            Step::Key(k) => v.get(k.as_str())?,
            Step::Index(i) => v.get(*i)?,
        };
    }
    Some(v)
}

/// The node of `v` at `steps`, to change.
pub(super) fn node_mut<'v>(mut v: &'v mut Value, steps: &[Step]) -> Option<&'v mut Value> {
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
    let mut hits = vec![];
    holding(node(root, at)?, hit, &mut at.to_vec(), &mut hits);
    let [one] = hits.as_slice() else {
        return None;
    };
    Some(one.clone())
}

/// [`the_one`], where an empty `at` (serde named nothing: the error is inside the top-level
/// tagged section, `benchmark:`) looks in `benchmark` first, then in the whole file.
fn in_tagged_section(
    root: &Value,
    at: &[Step],
    hit: &dyn Fn(&[Step], &Value) -> bool,
) -> Option<Vec<Step>> {
    if at.is_empty()
        && let Some(one) = the_one(root, &[Step::Key("benchmark".into())], hit)
    {
        return Some(one);
    }
    the_one(root, at, hit)
}

/// True when serde's location points at `name` in `text` (a key when `key`, then followed by
/// `:`): outside tagged sections serde's place is right, inside them it is wherever its parser
/// stood.
fn points_at(text: &str, location: SerdeLocation, name: &str, key: bool) -> bool {
    let Some(there) = text.lines().nth(location.line.saturating_sub(1)) else {
        return false;
    };
    let from: String = there
        .chars()
        .skip(location.column.saturating_sub(1))
        .collect();
    let rest = from.strip_prefix(name).map(str::trim_start);
    match rest {
        Some(r) if key => r.starts_with(':'),
        Some(_) => true,
        None => false,
    }
}

/// serde's `[<at>: ]unknown field|variant `name`, expected ...[ at line L column C][ (hint)]`
/// from inside a tagged section, where `at` names only the section (or nothing): the field is
/// found as the one key (field) or string value (variant) `name` below `at`, and serde's line
/// is kept only where it points at `name`. None when serde's path was already the field's.
fn relocate_unknown(text: &str, file: &Path, full: &str) -> Option<ConfigError> {
    let (i, key) = match (full.find("unknown field `"), full.find("unknown variant `")) {
        (Some(i), _) => (i, true),
        (None, Some(i)) => (i, false),
        (None, None) => return None,
    };
    let at = full[..i].trim_end().trim_end_matches(':');
    let words = &full[i..];
    let name = words.split('`').nth(1)?;
    let (said, location, hint) = SerdeLocation::split(words);
    let location = match location.filter(|l| points_at(text, *l, name, key)) {
        Some(l) => format!(" at {l}"),
        None => String::new(),
    };
    let root = yaml_value(text, file).ok()?;
    let at = resolve(&root, at)?;
    // serde names no section both for the file's own keys and for those of `benchmark` (a
    // tagged section); its list of fields tells which struct it was. A key of the file's own
    // (`seed:` for `seeds:`) is not looked for below: `benchmark.seed` is a real field.
    if key && at.is_empty() && said.contains("`benchmark`") && root.get(name).is_some() {
        let said = said.replacen("`report`", "`report`, `sweep`, `slurm`", 1);
        return Some(ConfigError {
            file: file.to_path_buf(),
            field: name.to_string(),
            message: format!("{said}{location}{hint}"),
        });
    }
    let field = if key {
        in_tagged_section(&root, &at, &|here, _| {
            here.last() == Some(&Step::Key(name.to_string()))
        })?
    } else {
        in_tagged_section(&root, &at, &|_, v| v.as_str() == Some(name))?
    };
    (field != at).then(|| ConfigError {
        file: file.to_path_buf(),
        field: dotted(&field),
        message: format!("{said}{location}{hint}"),
    })
}

/// The schema error `e` of the experiment text `text` in the words above: a value of the wrong
/// numeric type, or an unknown key or choice inside a tagged section. Any other error, or one
/// whose field cannot be found for sure, is returned as it is.
pub(crate) fn explain(text: &str, file: &Path, e: ConfigError) -> ConfigError {
    let full = if e.field.is_empty() {
        e.message.clone()
    } else {
        format!("{}: {}", e.field, e.message)
    };
    let Some(m) = Mismatch::read(&full) else {
        return relocate_unknown(text, file, &full).unwrap_or(e);
    };
    // The tree with the bad value in it; a literal beyond any YAML number is read as 0 (each
    // probe replaces it anyway).
    let tree = match &m.found {
        Found::Huge(lit) if text.matches(lit.as_str()).count() == 1 => {
            yaml_value(&text.replacen(lit, "0", 1), file)
        }
        Found::Huge(_) => return e,
        _ => yaml_value(text, file),
    };
    let Some((root, at)) = tree.ok().and_then(|r| {
        let at = resolve(&r, &m.at)?;
        Some((r, at))
    }) else {
        return e;
    };
    // serde named the field, or only the tagged section (or nothing): then the one value
    // below it that serde found.
    let named = !at.is_empty() && node(&root, &at).is_some_and(|v| m.matches(v));
    let field = match m.found {
        Found::Huge(_) => Some(at.clone()),
        // A list where a section is wanted: serde named the section, whose own lists would
        // otherwise make the value ambiguous.
        _ if m.wanted == Wanted::Shape && named => Some(at.clone()),
        _ => in_tagged_section(&root, &at, &|_, v| m.matches(v)),
    };
    let Some(field) = field else {
        return e;
    };
    let name = dotted(&field);
    // The probe also goes where a merge key copied the bad value (the same key, the same value),
    // which would otherwise fail first; the range is read only when the check names `field`.
    let mut places = vec![];
    if !matches!(m.found, Found::Huge(_)) {
        let last = field.last();
        holding(
            &root,
            &|here, v| here.last() == last && m.matches(v),
            &mut vec![],
            &mut places,
        );
    }
    let exact = field == at;
    places.retain(|p| *p != field);
    places.push(field);
    let range = match m.wanted {
        Wanted::Shape => None,
        _ => probe_range(&root, &places, &name, file),
    };
    let mut message = m.wording(range.as_deref(), exact);
    message.push_str(&m.hint);
    ConfigError {
        file: file.to_path_buf(),
        field: name,
        message,
    }
}

/// The range the check of field `name` states (`must be between 1 and 64`), from the first probe
/// it refuses (the largest whole number, 0, then ±1e300), the probe set at every path of
/// `places`; None when it refuses none or another field fails first. `sweep:` and `slurm:` are
/// left out of the probed file, as the runs never see them.
fn probe_range(root: &Value, places: &[Vec<Step>], name: &str, file: &Path) -> Option<String> {
    let mut root = root.clone();
    if let Value::Mapping(m) = &mut root {
        m.remove("sweep");
        m.remove("slurm");
    }
    let probes: [Value; 4] = [YAML_MAX.into(), 0u64.into(), 1e300.into(), (-1e300).into()];
    probes.into_iter().find_map(|probe| {
        let mut r = root.clone();
        for place in places {
            *node_mut(&mut r, place)? = probe.clone();
        }
        let text = yaml_serde::to_string(&r).ok()?;
        let err = ExperimentConfig::parse_schema(&text, file)
            .and_then(|c| c.check(file).map(|_| ()))
            .err()?;
        let same = err.field == name || name.starts_with(&format!("{}[", err.field));
        let m = err.message.as_str();
        let from = if m.starts_with("must") {
            0
        } else {
            m.find("; must").map(|i| i + 2)?
        };
        same.then(|| m[from..].to_string())
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
        assert_eq!(
            m.location.map(|l| l.to_string()).as_deref(),
            Some("line 3 column 9")
        );
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

    /// `GOOD` with `from` replaced by `to`, read as the CLI reads a file: the error line.
    fn error(from: &str, to: &str) -> String {
        assert!(GOOD.contains(from), "{from}");
        error_of(&GOOD.replacen(from, to, 1))
    }

    fn error_of(text: &str) -> String {
        crate::Sweep::parse(text, Path::new("exp.yaml"))
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
                "loop.rounds: is 99999999999999999999999 at line 4 column 53, beyond the largest number YAML reads; must be between 1 and 1000000",
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
                "benchmark.pool_prompts: is -6; must be a whole number between 1 and 10000000",
            ),
            (
                "k: 5",
                "k: \"five\"",
                "policies.balpm.k: is \"five\"; must be a whole number between 1 and 150, the comparisons the pool holds (lower k)",
            ),
            (
                "k: 5",
                "k: 5, beta: [1]",
                "policies.balpm.beta: is a list, not a number; must be a number in [0, 1e6]; the weight of the entropy bonus, 0 = BALD alone (to penalise entropy instead, set entropy_minimizer: true)",
            ),
        ];
        for (from, to, said) in cases {
            assert_eq!(error(from, to), format!("exp.yaml: {said}{HINT}"), "{to}");
        }
        // A number field's own words.
        assert_eq!(
            error("members: 2", "members: 2, train: { lr: x }"),
            format!(
                "exp.yaml: model.train.lr: is \"x\" at line 3 column 35, not a number; must be a number in (0, 1]; AdamW diverges long before 1 (the papers use 1e-5 to 1e-3){HINT}"
            )
        );
        // Not a number field: serde's words stay.
        assert!(error("name: t", "name: [t]").contains("expected a string"));
    }

    /// null, NaN, a list and a boolean's text are found like any other value; a map where a
    /// choice or a section is wanted is said in the file's terms, not Rust's.
    #[test]
    fn nulls_nans_lists_and_booleans_are_found_too() {
        let cases = [
            (
                "pool_prompts: 60",
                "pool_prompts: [60]",
                "benchmark.pool_prompts: is a list; must be a whole number between 1 and 10000000",
            ),
            (
                "pool_prompts: 60",
                "pool_prompts: null",
                "benchmark.pool_prompts: is null; must be a whole number between 1 and 10000000",
            ),
            (
                "k: 5",
                "k: .nan",
                "policies.balpm.k: is NaN; must be a whole number between 1 and 150, the comparisons the pool holds (lower k)",
            ),
            (
                "k: 5",
                "k: 5, no_uncertainty: yes",
                "policies.balpm.no_uncertainty: is \"yes\"; must be true or false",
            ),
        ];
        for (from, to, said) in cases {
            assert_eq!(error(from, to), format!("exp.yaml: {said}{HINT}"), "{to}");
        }
        let e = error("members: 2", "members: 2, backend: ensemble");
        assert!(
            e.starts_with("exp.yaml: model.backend: is \"ensemble\" at line 3 column 31; must be a map naming its choice, such as `{ kind: ... }`"),
            "{e}"
        );
        let e = error("balpm: { policy: balpm, k: 5 }", "balpm: balpm");
        assert!(
            e.starts_with("exp.yaml: policies.balpm: is \"balpm\""),
            "{e}"
        );
        assert!(
            e.contains("; must be a map naming its choice, such as `{ policy: ... }`"),
            "{e}"
        );
        // A section or a list given a number, inside the tagged `benchmark:` (serde names nothing).
        let e = error("pool_prompts: 60", "pool_prompts: 60, lengths: 3");
        assert!(
            e.starts_with("exp.yaml: benchmark.lengths: is 3; must be a map of keys"),
            "{e}"
        );
        let e = error("members: 2", "members: 2, mlp: [[64], tanh]");
        assert!(
            e.starts_with(
                "exp.yaml: model.mlp: is a list at line 3 column 27; must be a map of keys"
            ),
            "{e}"
        );
        let e = error("members: 2", "members: 2, mlp: { hidden: 64 }");
        assert!(
            e.starts_with("exp.yaml: model.mlp.hidden: is 64 at line 3 column 37; must be a list, such as `[1, 2]`"),
            "{e}"
        );
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
        // The file's own key named like a field of `benchmark` (`seed`) is the file's, and the
        // list has the keys read before serde (`sweep`, `slurm`); `benchmark`'s own unknown key
        // named like one of the file's (`seeds`) is `benchmark`'s.
        let e = error("seeds: [1, 2]", "seed: [1, 2]");
        assert!(
            e.starts_with("exp.yaml: seed: unknown field `seed`, expected one of `name`,")
                && e.contains("`report`, `sweep`, `slurm`")
                && e.ends_with(&format!(" at line 8 column 1{HINT}")),
            "{e}"
        );
        let e = error("pool_prompts: 60", "pool_prompts: 60, seeds: 3");
        assert!(
            e.starts_with(
                "exp.yaml: benchmark.seeds: unknown field `seeds`, expected one of `seed`,"
            ),
            "{e}"
        );
    }

    /// A sweep's grid points are parsed from rewritten text, whose line numbers are not the
    /// file's: the error names the field and the grid point, no line. The base keeps its lines.
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
        // The file's own settings (the base, read without `slurm:`) keep the file's lines.
        let e = crate::Sweep::parse(
            &format!("{GOOD}slurm: {{}}\n").replace("rounds: 3", "rounds: x"),
            Path::new("exp.yaml"),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains(
                "loop.rounds: is \"x\" at line 4 column 53; must be a whole number between"
            ),
            "{e}"
        );
    }

    #[test]
    fn paths_are_read_against_the_tree() {
        let root: Value = yaml_serde::from_str(
            "policies: { bal.pm: { k: 1 }, bal: { k: 2 } }\nmodel: { mlp: { hidden: [8, 4] } }",
        )
        .unwrap();
        let key = |k: &str| Step::Key(k.into());
        assert_eq!(
            resolve(&root, "policies.bal.pm.k"),
            Some(vec![key("policies"), key("bal.pm"), key("k")])
        );
        assert_eq!(
            resolve(&root, "model.mlp.hidden[1]"),
            Some(vec![
                key("model"),
                key("mlp"),
                key("hidden"),
                Step::Index(1)
            ])
        );
        for p in ["policies.bal.pm.k", "policies.bal.k", "model.mlp.hidden[1]"] {
            assert_eq!(dotted(&resolve(&root, p).unwrap()), p);
        }
        assert_eq!(resolve(&root, ""), Some(vec![]));
        assert_eq!(resolve(&root, "model.mlp.hidden[2]"), None);
        assert_eq!(resolve(&root, "loop"), None);
    }

    #[test]
    fn beyond_the_largest_number_yaml_reads() {
        // A number field: its own range; a text field: what YAML reads.
        assert_eq!(
            error(
                "members: 2",
                "members: 2, train: { lr: 100000000000000000000000 }"
            ),
            format!(
                "exp.yaml: model.train.lr: is 100000000000000000000000 at line 3 column 35, beyond the largest number YAML reads; must be a number in (0, 1]; AdamW diverges long before 1 (the papers use 1e-5 to 1e-3){HINT}"
            )
        );
        assert_eq!(
            error("name: t", "name: 123456789012345678901234"),
            format!(
                "exp.yaml: name: is 123456789012345678901234 at line 1 column 7, beyond the largest number YAML reads (18446744073709551615){HINT}"
            )
        );
    }

    /// Files with `sweep:`, merge keys, stopping rules and non-ASCII labels.
    #[test]
    fn every_kind_of_file_gets_the_range() {
        // The base of a sweep keeps the file's lines and gets its range.
        let sweep = format!("{GOOD}sweep:\n  m:\n    model.members: [2, 3]\n").replacen(
            "members: 2 }",
            "members: -5 }",
            1,
        );
        assert_eq!(
            error_of(&sweep),
            format!(
                "exp.yaml: model.members: is -5 at line 3 column 19; must be a whole number between 1 and 1000{HINT}"
            )
        );
        // A block `sweep:` before the base's error: the lines still count the file's.
        let sweep = GOOD
            .replacen(
                "name: t\n",
                "name: t\nsweep:\n  m:\n    model.members: [2, 3]\n",
                1,
            )
            .replacen("members: 2 }", "members: -5 }", 1);
        assert!(
            error_of(&sweep).starts_with("exp.yaml: model.members: is -5 at line 6 column 19; must be a whole number between 1 and 1000"),
            "{}",
            error_of(&sweep)
        );
        // Merge keys: serde gives no line; the field and its range are found.
        let merged = GOOD.replacen(
            "  balpm: { policy: balpm, k: 5 }",
            "  balpm: &p { policy: balpm, k: -1 }\n  balpm2: { <<: *p, beta: 0.1 }",
            1,
        );
        assert_eq!(
            error_of(&merged),
            format!(
                "exp.yaml: policies.balpm.k: is -1; must be a whole number between 1 and 150, the comparisons the pool holds (lower k){HINT}"
            )
        );
        let e = error_of(&format!(
            "{GOOD}report: {{ stopping: [ {{ rule: validation_plateau, patience: -1 }} ] }}\n"
        ));
        assert!(
            e.starts_with(
                "exp.yaml: report.stopping[0].patience: is -1; must be a whole number between 1 and 1000000"
            ),
            "{e}"
        );
        let e = error(
            "balpm: { policy: balpm, k: 5 }",
            "bälpm: { policy: balpm, k: -1 }",
        );
        assert!(
            e.starts_with("exp.yaml: policies.bälpm.k: is -1; must be"),
            "{e}"
        );
        let e = error(
            "balpm: { policy: balpm, k: 5 }",
            "bal.pm: { policy: balpm, k: -1 }",
        );
        assert!(
            e.starts_with("exp.yaml: policies.bal.pm.k: is -1; must be"),
            "{e}"
        );
    }
}
