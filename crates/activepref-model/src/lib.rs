//! # activepref-model
//!
//! Owns the **model** arrow: Bayesian preference models on burn. Today that is the deep ensemble of
//! Bradley–Terry reward MLPs used by BAL-PM (specs/balpm.md §2):
//!
//! - [`RewardMlpConfig`] / [`RewardMlp`]: one member, `d → hidden… → 1`, shared between the two
//!   responses of a comparison (`P(A ≻ B) = σ(r(A) − r(B))`).
//! - [`TrainConfig`] and [`EnsembleConfig::fit`]: AdamW with linear warm-up/decay, minibatches,
//!   early stopping on validation loss with the best checkpoint restored, every member re-initialised
//!   each round from its own seed.
//! - [`UncertaintyBackend`]: the deep ensemble, or MC dropout (one model, frozen dropout masks as
//!   members; specs/balpm.md §4.5).
//! - [`EnsemblePrediction`]: everything acquisition needs, derived from per-member rewards:
//!   `p_m`, mean `p̄`, predictive entropy, expected entropy, BALD, variance, and the evaluation
//!   metrics (log-likelihood, accuracy, Brier score).
//!
//! Model code is written against burn's runtime `Device`; [`ComputeDevice`] picks the backend
//! (pure-Rust `flex` CPU by default; `cuda` and the libtorch backend `tch` are opt-in cargo features).

mod ensemble;
mod mlp;

pub use ensemble::{EnsembleConfig, FittedEnsemble, MemberInit, TrainConfig, TrainReport, UncertaintyBackend};
pub use mlp::{Activation, RewardMlp, RewardMlpConfig, bradley_terry_loss, dropout_masks};

use serde::{Deserialize, Serialize};

/// Where model computations run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComputeDevice {
    /// burn's pure-Rust CPU backend (`flex`): nothing to install.
    #[default]
    Cpu,
    /// An NVIDIA GPU through burn's CUDA backend (cargo feature `cuda`).
    Cuda,
    /// libtorch on the CPU through burn-tch (cargo feature `tch`; deprecated upstream).
    Libtorch,
}

impl ComputeDevice {
    /// The burn device for inference (no autodiff).
    pub fn burn_device(self) -> Result<burn::tensor::Device, String> {
        match self {
            ComputeDevice::Cpu => Ok(burn::tensor::Device::flex()),
            #[cfg(feature = "cuda")]
            ComputeDevice::Cuda => Ok(burn::tensor::Device::cuda(0)),
            #[cfg(not(feature = "cuda"))]
            ComputeDevice::Cuda => Err(
                "device `cuda` needs a build with the `cuda` cargo feature: cargo build --release --features activepref-model/cuda"
                    .to_string(),
            ),
            #[cfg(feature = "tch")]
            #[allow(deprecated)]
            ComputeDevice::Libtorch => Ok(burn::tensor::Device::libtorch()),
            #[cfg(not(feature = "tch"))]
            ComputeDevice::Libtorch => Err(
                "device `libtorch` needs a build with the `tch` cargo feature and libtorch 2.9.0: cargo build --release --features activepref-model/tch"
                    .to_string(),
            ),
        }
    }
}
