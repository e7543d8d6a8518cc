//! `activepref policies`: every acquisition policy of both registries with its parameters and
//! defaults, and the uncertainty scores.

use activepref_acquire::{PairPolicySpec, PolicySpec, ThompsonDraw, UncertaintyScore};
use activepref_core::FieldError;
use activepref_loop::stopping::StoppingRule;
use activepref_loop::{ColdStart, LabelCost, OracleKind, PairRefit, TiePolicy};
use activepref_model::{AnchorDecay, UncertaintyBackend};
use strum::{EnumMessage, IntoEnumIterator};

use crate::say;

/// What `loop.oracle.cost` (or `pair_loop.oracle.cost`) does, for the listing.
const COST_SUMMARY: &str = "the price of each answer, per_label + per_prompt_word · prompt words + per_response_word · response words: recorded as label_cost, drawn against in cost.md and cost.{png,svg}";

/// The arguments of `activepref policies`.
#[derive(clap::Args, Debug)]
pub struct PoliciesArgs {
    /// Print the registry as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// One registry entry as JSON: name, summary, the defaults of every parameter and the ranges of
/// its numbers ([`ranges`]).
fn registry_entry<T: serde::Serialize + serde::de::DeserializeOwned>(
    name: &str,
    summary: &str,
    spec: &T,
    check: impl Fn(&T) -> Result<(), FieldError>,
) -> anyhow::Result<serde_json::Value> {
    let ranges: serde_json::Map<String, serde_json::Value> = ranges(spec, check)
        .into_iter()
        .map(|(k, v)| (k, v.into()))
        .collect();
    Ok(serde_json::json!({
        "name": name,
        "summary": summary,
        "defaults": serde_json::to_value(spec)?,
        "ranges": ranges,
    }))
}

/// The range of each number of `spec` as its own check states it (`beta` → `in [0, 1e6]`,
/// `k` → `at least 1`): each number is set in turn to a value out of any range (10³⁰ and
/// −10³⁰, or 2⁶⁴ − 1 and 0) and the check's words for the first one refused are kept, so that a
/// range is written once, in the check. Numbers no probe makes the check refuse are left out.
fn ranges<T: serde::Serialize + serde::de::DeserializeOwned>(
    spec: &T,
    check: impl Fn(&T) -> Result<(), FieldError>,
) -> Vec<(String, String)> {
    use yaml_serde::Value;
    let Ok(Value::Mapping(fields)) = yaml_serde::to_value(spec) else {
        return vec![];
    };
    let mut out = vec![];
    for (name, value) in &fields {
        let (Some(name), Value::Number(n)) = (name.as_str(), value) else {
            continue;
        };
        let probes: [Value; 2] = if n.is_f64() {
            [1e30.into(), (-1e30).into()]
        } else {
            [u64::MAX.into(), 0.into()]
        };
        let said = probes.into_iter().find_map(|probe| {
            let mut probed = fields.clone();
            probed.insert(name.into(), probe);
            let spec: T = yaml_serde::from_value(Value::Mapping(probed)).ok()?;
            let e = check(&spec).err().filter(|e| e.field == name)?;
            range_words(&e.message)
        });
        if let Some(range) = said {
            out.push((name.to_string(), range));
        }
    }
    out
}

/// The range a check's message states: `in (0, 1e6]` of `is 1e30; must be a number in (0, 1e6];
/// why`, `between 1 and 10` of `is 0; must be between 1 and 10`, `at least 1` of `must be at
/// least 1 (why)`.
fn range_words(message: &str) -> Option<String> {
    let rest = message.split_once("must be ")?.1;
    let rest = rest
        .trim_start_matches("a whole number ")
        .trim_start_matches("a number ");
    let end = match rest.strip_prefix("in ") {
        // An interval: up to its closing bracket.
        Some(interval) => 3 + interval.find([']', ')'])? + 1,
        None => rest.find([';', '(', ',']).unwrap_or(rest.len()),
    };
    Some(rest[..end].trim_end().to_string())
}

/// The `ranges:` line under a registry entry, or nothing when it has no number.
fn ranges_line<T: serde::Serialize + serde::de::DeserializeOwned>(
    spec: &T,
    check: impl Fn(&T) -> Result<(), FieldError>,
) -> String {
    let r = ranges(spec, check);
    if r.is_empty() {
        return String::new();
    }
    let said: Vec<String> = r.iter().map(|(k, v)| format!("{k} {v}")).collect();
    format!("\n    ranges: {}", said.join("; "))
}

/// A pool policy's check, with a pool large enough for any `k` or `group_size` the check allows;
/// a bound that is the pool's size is said so.
fn pool_check(p: &PolicySpec) -> Result<(), FieldError> {
    p.validate(PROBE_POOL).map_err(|e| {
        let message = e
            .message
            .replace(&PROBE_POOL.to_string(), "the pool's size");
        FieldError::new(e.field, message)
    })
}

/// The pool size the listing checks pool policies against (the largest pool a file allows).
const PROBE_POOL: usize = 10_000_000;

/// `activepref policies`: the registries, with every parameter's default, and the scores.
pub fn run(a: &PoliciesArgs) -> anyhow::Result<()> {
    let json = a.json;
    let pool = PolicySpec::all();
    let pair = PairPolicySpec::all();
    if json {
        let mut listing = json_listing()?;
        listing["ok"] = true.into();
        say!("{}", serde_json::to_string_pretty(&listing)?);
        return Ok(());
    }
    say!(
        "POOL POLICIES (BAL-PM family), used in experiment files as `<label>: {{ policy: <name>, <param>: <value> }}`."
    );
    say!("Every parameter is optional; the line under each name shows the defaults.\n");
    for spec in &pool {
        say!(
            "{}\n    {}\n    {}{}\n",
            spec.name(),
            spec.summary(),
            flow_yaml(spec)?,
            ranges_line(spec, pool_check)
        );
    }
    say!(
        "SCORES: the `score:` parameter above (the uncertainty u that policies rank, sample or trade off).\n"
    );
    // The name column is as wide as the longest name, plus two spaces: a long name never runs
    // into its description.
    let width = UncertaintyScore::all()
        .map(|s| s.name().len())
        .max()
        .unwrap_or(0)
        + 2;
    for score in UncertaintyScore::all() {
        say!("{:<width$}{}", score.name(), score.summary());
    }
    say!(
        "\nPAIR POLICIES (ActiveUltraFeedback family): one pair (a, b) of a prompt's n responses."
    );
    say!("Each runs in mode `reference` (the public code's behaviour) or `corrected` (default).\n");
    for spec in &pair {
        say!(
            "{}\n    {}\n    {}{}\n",
            spec.name(),
            spec.summary(),
            flow_yaml(spec)?,
            ranges_line(spec, PairPolicySpec::validate)
        );
    }
    say!("`draw:` of the Thompson rules (dts, drts, infogain), corrected mode:\n");
    print_table("draw", ThompsonDraw::iter());
    say!(
        "\nPAIR REFITS: `pair_loop: {{ refit: {{ kind: <name>, <param>: <value> }} }}`: how the pair loop retrains after each batch.\n"
    );
    for refit in PairRefit::iter() {
        say!("{}\n    {}\n", flow_yaml(&refit)?, refit.summary());
    }
    say!(
        "anchored's `decay:` (the exponent of decay_base after n labels): {} (n / labels_per_decay; corrected mode's default) or {} (scaler · n / N on a stream of N prompts; reference mode's default)\n",
        flow_yaml(&AnchorDecay::PER_LABEL)?,
        flow_yaml(&AnchorDecay::REFERENCE)?
    );
    print_beyond_the_papers()
}

/// `activepref policies`' oracles, cold starts, models and stopping rules.
fn print_beyond_the_papers() -> anyhow::Result<()> {
    say!(
        "ORACLES: `loop: {{ oracle: {{ kind, temperature, flip, ties: {{ margin, policy }}, cost: {{ ... }} }} }}` (pool setting) or `pair_loop: {{ oracle: {{ ... }} }}` (pair setting); default: the dataset's labels or the judge's order."
    );
    say!("Order: base answer, tie rule (|gap| < margin), then a flip with probability `flip`.\n");
    print_table("kind", OracleKind::iter());
    print_table("ties.policy", TiePolicy::iter());
    say!(
        "cost: {}\n    {COST_SUMMARY}",
        flow_yaml(&LabelCost::default())?
    );
    say!(
        "\nCOLD STARTS: `loop: {{ cold_start: <name> }}` (the initial labelled set) or `pair_loop: {{ cold_start: <name> }}` (the first batch's prompts).\n"
    );
    print_table("", ColdStart::iter());
    say!(
        "\nMODELS: `model: {{ backend: {{ kind: <name>, <param>: <value> }} }}`: where the draws that every score compares come from.\n"
    );
    for backend in UncertaintyBackend::all() {
        say!("{}\n    {}\n", flow_yaml(&backend)?, backend.summary());
    }
    say!(
        "\nSTOPPING RULES: `report: {{ stopping: [ {{ rule: <name>, <param>: <value> }} ] }}`, both settings; evaluated after every round and reported in stopping.md, never obeyed.\nThe line under each name shows the defaults; `labels` and `below` have none (an example is shown).\n"
    );
    for rule in StoppingRule::all() {
        say!(
            "{}\n    {}\n    {}{}\n",
            rule.name(),
            rule.summary(),
            flow_yaml(&rule)?,
            ranges_line(&rule, StoppingRule::validate)
        );
    }
    Ok(())
}

/// `activepref policies --json`: every registry with its defaults.
fn json_listing() -> anyhow::Result<serde_json::Value> {
    let (pool, pair) = (PolicySpec::all(), PairPolicySpec::all());
    Ok(serde_json::json!({
        "pool_policies": pool.iter().map(|p| registry_entry(p.name(), p.summary(), p, pool_check)).collect::<anyhow::Result<Vec<_>>>()?,
        "pair_policies": pair.iter().map(|p| registry_entry(p.name(), p.summary(), p, PairPolicySpec::validate)).collect::<anyhow::Result<Vec<_>>>()?,
        "scores": UncertaintyScore::all().map(|s| serde_json::json!({ "name": s.name(), "summary": s.summary() })).collect::<Vec<_>>(),
        "oracle_kinds": named(OracleKind::iter()),
        "tie_policies": named(TiePolicy::iter()),
        "label_cost": { "defaults": serde_json::to_value(LabelCost::default())?, "summary": COST_SUMMARY },
        "thompson_draws": named(ThompsonDraw::iter()),
        "pair_refits": PairRefit::iter().map(|r| { let defaults = serde_json::to_value(&r)?; Ok(serde_json::json!({ "name": defaults["kind"].clone(), "defaults": defaults, "summary": r.summary() })) }).collect::<anyhow::Result<Vec<_>>>()?,
        "anchor_decays": [serde_json::to_value(AnchorDecay::PER_LABEL)?, serde_json::to_value(AnchorDecay::REFERENCE)?],
        "cold_starts": named(ColdStart::iter()),
        "models": UncertaintyBackend::all().iter().map(|b| Ok(serde_json::json!({ "defaults": serde_json::to_value(b)?, "summary": b.summary() }))).collect::<anyhow::Result<Vec<_>>>()?,
        "stopping_rules": StoppingRule::all().iter().map(|r| registry_entry(r.name(), r.summary(), r, StoppingRule::validate)).collect::<anyhow::Result<Vec<_>>>()?,
    }))
}

/// Name and summary of each variant of a listed enum.
fn named<T: EnumMessage + Into<&'static str>>(
    items: impl Iterator<Item = T>,
) -> Vec<serde_json::Value> {
    items
        .map(|v| {
            let summary = v.get_message().unwrap_or_default();
            serde_json::json!({ "name": v.into(), "summary": summary })
        })
        .collect()
}

/// One `<prefix: >name  summary` line per variant, names padded to the longest.
fn print_table<T: EnumMessage + Into<&'static str>>(prefix: &str, items: impl Iterator<Item = T>) {
    let rows: Vec<(String, &str)> = items
        .map(|v| {
            let summary = v.get_message().unwrap_or_default();
            let name: &'static str = v.into();
            let label = if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}: {name}")
            };
            (label, summary)
        })
        .collect();
    let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0) + 2;
    for (name, summary) in rows {
        say!("{name:<width$}{summary}");
    }
}

/// A registry entry's defaults on one line of YAML flow syntax.
fn flow_yaml<T: serde::Serialize>(spec: &T) -> anyhow::Result<String> {
    let block = yaml_serde::to_string(spec)?;
    let fields: Vec<String> = block
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    Ok(format!("{{ {} }}", fields.join(", ")))
}
