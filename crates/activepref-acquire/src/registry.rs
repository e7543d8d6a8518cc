//! The policy registry: one enum that the YAML parser reads, that builds the policy objects, and
//! that `activepref policies` prints.

use serde::{Deserialize, Serialize};

use crate::{BalPm, BalPmConfig, PoolPolicy, RandomSampling, TopScore};

/// A pool policy with its parameters, as written in an experiment file:
/// `{ policy: balpm, k: 13, beta: 0.01 }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "policy", rename_all = "snake_case")]
pub enum PolicySpec {
    /// Uniform sampling without replacement.
    Random,
    /// Top-B by BALD (epistemic uncertainty), the paper's "BALD" baseline.
    Bald,
    /// BAL-PM: BALD plus β times the kNN entropy term, greedy with in-batch updates.
    Balpm(BalPmConfig),
}

/// One parameter of a policy, for `activepref policies`.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamDoc {
    pub name: &'static str,
    pub default: String,
    pub doc: &'static str,
}

/// A policy's name, summary and parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyDoc {
    pub name: &'static str,
    pub summary: &'static str,
    pub params: Vec<ParamDoc>,
}

impl PolicySpec {
    /// Every policy with its default parameters: the registry itself.
    pub fn all() -> Vec<PolicySpec> {
        vec![PolicySpec::Random, PolicySpec::Bald, PolicySpec::Balpm(BalPmConfig::default())]
    }

    /// The `policy:` tag.
    pub fn name(&self) -> &'static str {
        match self {
            PolicySpec::Random => "random",
            PolicySpec::Bald => "bald",
            PolicySpec::Balpm(_) => "balpm",
        }
    }

    pub fn build(&self) -> Box<dyn PoolPolicy> {
        match self {
            PolicySpec::Random => Box::new(RandomSampling),
            PolicySpec::Bald => Box::new(TopScore),
            PolicySpec::Balpm(c) => Box::new(BalPm::new(c.clone())),
        }
    }

    /// Checks parameters against the pool size; the error is `(parameter, message)`.
    pub fn validate(&self, pool_size: usize) -> Result<(), (String, String)> {
        let PolicySpec::Balpm(c) = self else { return Ok(()) };
        let bad = |f: &str, m: String| Err((f.to_string(), m));
        if c.k == 0 {
            return bad("k", "must be at least 1 (the point itself counts as its first neighbour)".into());
        }
        if c.k > pool_size {
            return bad("k", format!("is {}, but the pool holds only {pool_size} comparisons; lower k", c.k));
        }
        if !c.beta.is_finite() {
            return bad("beta", "must be a finite number".into());
        }
        if !(c.d_tilde.is_finite() && c.d_tilde > 0.0) {
            return bad("d_tilde", "must be a finite number > 0".into());
        }
        if !(c.eps.is_finite() && c.eps > 0.0) {
            return bad("eps", "must be a finite number > 0 (it keeps log(2r + eps) finite when r = 0)".into());
        }
        Ok(())
    }

    fn doc(&self) -> PolicyDoc {
        match self {
            PolicySpec::Random => PolicyDoc { name: self.name(), summary: "uniform sampling of the batch without replacement", params: vec![] },
            PolicySpec::Bald => PolicyDoc {
                name: self.name(),
                summary: "top-B by BALD, H[p̄] − mean_m H[p_m] over the ensemble (specs/balpm.md §4.2 `rank`)",
                params: vec![],
            },
            PolicySpec::Balpm(c) => PolicyDoc {
                name: self.name(),
                summary: "BAL-PM: greedy top score u + β(log(2 r_k + eps) − ψ(n + 1)/d_tilde), counts updated within the batch (specs/balpm.md §4.3)",
                params: vec![
                    ParamDoc { name: "k", default: c.k.to_string(), doc: "kNN radius: k-th nearest unlabelled prompt, itself included" },
                    ParamDoc { name: "beta", default: c.beta.to_string(), doc: "weight of the entropy term" },
                    ParamDoc { name: "d_tilde", default: c.d_tilde.to_string(), doc: "divides the digamma term" },
                    ParamDoc { name: "eps", default: c.eps.to_string(), doc: "added inside the log so that r = 0 stays finite" },
                    ParamDoc {
                        name: "feature_shift",
                        default: "none".into(),
                        doc: "none (corrected) | reference: pool prompts shifted by mean/std, labelled not (bug B)",
                    },
                ],
            },
        }
    }
}

/// Documentation of every registered policy, generated from [`PolicySpec::all`].
pub fn policy_docs() -> Vec<PolicyDoc> {
    PolicySpec::all().iter().map(PolicySpec::doc).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_cover_every_registered_policy() {
        let names: Vec<_> = policy_docs().iter().map(|d| d.name).collect();
        assert_eq!(names, vec!["random", "bald", "balpm"]);
        let balpm = &policy_docs()[2];
        assert_eq!(balpm.params.iter().find(|p| p.name == "k").unwrap().default, "13");
    }

    #[test]
    fn k_beyond_pool_is_named() {
        let spec = PolicySpec::Balpm(BalPmConfig { k: 50, ..Default::default() });
        let (field, msg) = spec.validate(20).unwrap_err();
        assert_eq!(field, "k");
        assert!(msg.contains("only 20"));
    }
}
