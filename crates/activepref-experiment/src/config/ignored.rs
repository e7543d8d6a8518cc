//! Keys the schema would drop without a word. serde ignores every other key of an internally
//! tagged unit variant (`strategy: { kind: full_retrain, epochs: 2 }`,
//! `refit: { kind: from_scratch, lr: 0.1 }`), although every struct of the schema refuses
//! unknown keys. Such a key is found by walking the file's tree beside the parsed
//! configuration's: a key of a tagged section (`kind:`, `policy:`, `rule:`) that the
//! configuration does not hold (a default left out of it, or an ignored key) is renamed to a name
//! no section knows and the file parsed again; it parses only when the key was ignored.

use std::path::Path;

use yaml_serde::Value;

use super::type_error::{Step, dotted, node_mut};
use super::{ConfigError, ExperimentConfig, yaml_value};

/// A name no section of the schema has.
const NO_SUCH_KEY: &str = "activepref_no_such_key";

/// Every key path of `input` that `output` does not hold, in file order (a section left out of
/// `output` as a default, and every key inside it).
fn absent(input: &Value, output: &Value, here: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    match (input, output) {
        (Value::Mapping(i), o) => {
            for (k, iv) in i {
                let Some(k) = k.as_str() else { continue };
                here.push(Step::Key(k.to_string()));
                match o.get(k) {
                    Some(ov) => absent(iv, ov, here, out),
                    None => {
                        out.push(here.clone());
                        absent(iv, &Value::Null, here, out);
                    }
                }
                here.pop();
            }
        }
        (Value::Sequence(i), Value::Sequence(o)) => {
            for (n, (iv, ov)) in i.iter().zip(o).enumerate() {
                here.push(Step::Index(n));
                absent(iv, ov, here, out);
                here.pop();
            }
        }
        _ => {}
    }
}

/// The first path where `input` holds a list and `output` a map: a section serde read by
/// position (`backend: [laplace_last_layer, 7, 1.0]`), which says neither which value is which
/// nor, for a section with defaults, which were left out.
fn positional(input: &Value, output: &Value, here: &mut Vec<Step>) -> Option<Vec<Step>> {
    match (input, output) {
        (Value::Sequence(_), Value::Mapping(_)) => Some(here.clone()),
        (Value::Mapping(i), Value::Mapping(o)) => i.iter().find_map(|(k, iv)| {
            let k = k.as_str()?;
            here.push(Step::Key(k.to_string()));
            let found = o.get(k).and_then(|ov| positional(iv, ov, here));
            here.pop();
            found
        }),
        (Value::Sequence(i), Value::Sequence(o)) => {
            i.iter().zip(o).enumerate().find_map(|(n, (iv, ov))| {
                here.push(Step::Index(n));
                let found = positional(iv, ov, here);
                here.pop();
                found
            })
        }
        _ => None,
    }
}

/// The first key of the experiment text `text` that parsing it as `parsed` ignored, as an error
/// naming it and its section's tag (`model.train.strategy.epochs: `kind: full_retrain` takes no
/// other key; remove `epochs``), or the first section written as a list (read by position);
/// None when every key was read by its name.
pub(crate) fn ignored_key(
    text: &str,
    file: &Path,
    parsed: &ExperimentConfig,
) -> Option<ConfigError> {
    let input = yaml_value(text, file).ok()?;
    let output = yaml_serde::to_value(parsed).ok()?;
    if let Some(path) = positional(&input, &output, &mut vec![]) {
        return Some(ConfigError {
            file: file.to_path_buf(),
            field: dotted(&path),
            message: "is a list, which would be read by position; write it as a map of keys (`{ key: value, ... }`), as experiments/*.yaml do".into(),
        });
    }
    let mut missing = vec![];
    absent(&input, &output, &mut vec![], &mut missing);
    missing.into_iter().find_map(|path| {
        let (Step::Key(key), parent) = path.split_last()? else {
            return None;
        };
        let mut probe = input.clone();
        let Value::Mapping(section) = node_mut(&mut probe, parent)? else {
            return None;
        };
        // Only a tagged section's other keys can be dropped (every struct refuses unknown keys).
        let (tag, choice) = ["kind", "policy", "rule"]
            .iter()
            .find_map(|t| Some((*t, section.get(*t)?.as_str()?.to_string())))?;
        let value = section.remove(key.as_str())?;
        section.insert(NO_SUCH_KEY.into(), value);
        let text = yaml_serde::to_string(&probe).ok()?;
        ExperimentConfig::parse_schema(&text, file).ok()?;
        let keys_at = if tag == "kind" {
            "the README's \"Experiment files\" table lists each section's keys"
        } else {
            "`activepref policies` lists each one's parameters"
        };
        let message = format!(
            "`{tag}: {choice}` takes no other key, so `{key}` would be ignored; remove it ({keys_at})"
        );
        Some(ConfigError {
            file: file.to_path_buf(),
            field: dotted(&path),
            message,
        })
    })
}
