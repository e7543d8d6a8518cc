//! Stable identities: a run's id and a benchmark's id, as hashes of canonical JSON.

use super::ExperimentConfig;

impl ExperimentConfig {
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
}

/// FNV-1a of the canonical JSON text, as 12 hex digits: equal values give equal ids on every
/// machine and in every version that serialises them alike.
pub(crate) fn stable_hash(v: &serde_json::Value) -> String {
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
