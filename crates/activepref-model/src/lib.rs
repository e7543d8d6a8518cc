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
//! - [`AnchoredRefitConfig`] and [`AnchoredEnsemble`]: ActiveUltraFeedback's refit (specs/activeuf.md
//!   §2.4): warm start, one epoch per batch, anchor to the initial weights, reward centring.
//! - [`UncertaintyBackend`]: the deep ensemble, or MC dropout (one model, frozen dropout masks as
//!   members; specs/balpm.md §4.5).
//! - [`FittedEnsemble`] predicts an [`EnsemblePrediction`](activepref_core::EnsemblePrediction)
//!   (activepref-core): everything acquisition needs, derived from per-member rewards: `p_m`, mean
//!   `p̄`, predictive entropy, expected entropy, BALD, variance, and the evaluation metrics
//!   (log-likelihood, accuracy, Brier score).
//!
//! Model code is written against burn's runtime `Device`; [`ComputeDevice`] picks the backend
//! (pure-Rust `flex` CPU by default; `vulkan`, `cuda` and the libtorch backend `tch` are opt-in cargo
//! features).

#![warn(missing_docs)]

mod amx;
mod bf16_slices;
mod dense;
mod ensemble;
mod mlp;
pub mod tanh;

pub use ensemble::laplace;
pub use ensemble::{
    ADAM_BETAS, AnchorDecay, AnchoredEnsemble, AnchoredRefitConfig, EnsembleConfig, FittedEnsemble,
    FusedAdamW, MemberInit, PreferenceModel, RefitReport, TrainConfig, TrainReport,
    TrainingStrategy, UncertaintyBackend,
};
pub use mlp::{
    Activation, Precision, RewardMlp, RewardMlpConfig, WeightInit, bradley_terry_loss,
    dropout_masks,
};

use serde::{Deserialize, Serialize};

/// The gemm crate's f32 microkernel class on this CPU, picked at run time: `avx512f`, `fma` or
/// `portable`. The f32 paths (burn's CPU matmul, dense scoring, the kNN index) sum in its order.
pub fn f32_gemm_class() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return "avx512f";
        }
        if std::arch::is_x86_feature_detected!("fma") {
            return "fma";
        }
    }
    "portable"
}

/// The bf16 GEMM this process runs: `amx tdpbf16ps`, else gemmkit's `vdpbf16ps` kernel where the
/// CPU has AVX512-BF16, else gemmkit's widening to f32.
fn bf16_gemm_class() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    let dot = std::arch::is_x86_feature_detected!("avx512bf16");
    #[cfg(not(target_arch = "x86_64"))]
    let dot = false;
    match (amx::hardware(), dot) {
        (Some(_), _) => "amx tdpbf16ps",
        (None, true) => "gemmkit vdpbf16ps",
        (None, false) => "gemmkit widening",
    }
}

/// The kernel of `model.precision: bf16`'s matmuls in this process: Intel AMX's `tdpbf16ps`
/// tiles where the CPU has AMX-BF16 and `ACTIVEPREF_AMX` is not `0` (`off`, `false`, `no`), else
/// `gemmkit`'s (with AVX512-BF16's `vdpbf16ps` where the CPU has it), and why. The two sum in
/// different orders, so bf16 results differ in their last bits between them; f32 never uses
/// either.
pub fn bf16_kernel() -> &'static str {
    use amx::Availability;
    match amx::availability() {
        Availability::Ready => "AMX tdpbf16ps tiles",
        Availability::TurnedOff => {
            "gemmkit (vdpbf16ps where the CPU has AVX512-BF16); AMX turned off by ACTIVEPREF_AMX"
        }
        Availability::Refused => {
            "gemmkit (vdpbf16ps where the CPU has AVX512-BF16); the CPU has AMX but Linux refused this process the tile state (arch_prctl)"
        }
        Availability::Absent => "gemmkit (vdpbf16ps where the CPU has AVX512-BF16)",
    }
}

/// The kernels whose arithmetic a model configured by `config` computes with in this process, as
/// a run's timings record them (`runs/*.timings.csv`, column `kernels`): the gemm crate's f32
/// microkernel class ([`f32_gemm_class`]), the bf16 GEMM under `precision: bf16` (`amx
/// tdpbf16ps`, `gemmkit vdpbf16ps`, or `gemmkit widening` on a CPU without AVX512-BF16; see
/// [`bf16_kernel`]), or the device off the CPU. Results are bit-reproducible between runs whose
/// kernels match, and differ in their last bits otherwise (ARCHITECTURE.md, "Results depend on
/// the GEMM kernel class").
///
/// ```
/// let f32 = activepref_model::EnsembleConfig::default();
/// assert!(activepref_model::compute_kernels(&f32).starts_with("cpu f32 gemm "));
/// ```
pub fn compute_kernels(config: &EnsembleConfig) -> String {
    if config.device != ComputeDevice::Cpu {
        return format!("device {:?}", config.device).to_lowercase();
    }
    let f32_class = f32_gemm_class();
    match config.precision {
        Precision::F32 => format!("cpu f32 gemm {f32_class}"),
        Precision::Bf16 => format!("cpu f32 gemm {f32_class}; bf16 {}", bf16_gemm_class()),
    }
}

/// Why a model could not be built or trained.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ModelError {
    /// The device was asked for but this binary was built without its backend.
    #[error(
        "device `{device}` needs a build with the `{feature}` cargo feature{needs}: cargo build --release --features activepref-model/{feature}"
    )]
    DeviceNotBuilt {
        /// The device's name in configs (`cuda`, `libtorch`, `libtorch_cuda`, `vulkan`).
        device: &'static str,
        /// The cargo feature of `activepref-model` that builds its backend.
        feature: &'static str,
        /// Anything else it needs (e.g. ` and libtorch 2.9.0`), with a leading space; empty if nothing.
        needs: &'static str,
    },
    /// The device's backend is built but no device could be opened (no driver, no GPU).
    #[error("device `{device}`: {why}")]
    DeviceUnavailable {
        /// The device's name in configs.
        device: &'static str,
        /// What failed and what to install or use instead.
        why: String,
    },
    /// A combination of settings that this model does not support; the message says which.
    #[error("{what}")]
    Unsupported {
        /// What is unsupported and what to use instead.
        what: &'static str,
    },
    /// Training was asked to fit zero comparisons.
    #[error("cannot train on an empty labelled set")]
    EmptyTrainingSet,
    /// The ensemble's configuration fails [`EnsembleConfig::validate`]: an unchecked
    /// configuration never trains.
    #[error("model.{0}")]
    Config(activepref_core::FieldError),
    /// A member's loss became NaN or infinite.
    #[error(
        "training diverged: member {member}, round {round}, step {step} has validation loss {loss}; lower model.train.lr"
    )]
    Diverged {
        /// The member (0-based) that diverged.
        member: usize,
        /// The round (pool loop) or refit number (anchored refit) it happened in.
        round: u64,
        /// The optimiser step (0-based, counted over the member's life) at which it was seen.
        step: usize,
        /// The non-finite loss value.
        loss: f64,
    },
}

/// Where model computations run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ComputeDevice {
    /// burn's pure-Rust CPU backend (`flex`): nothing to install.
    #[default]
    Cpu,
    /// An NVIDIA GPU through burn's CUDA backend (cargo feature `cuda`).
    Cuda,
    /// libtorch on the CPU through burn-tch (cargo feature `tch`; deprecated upstream).
    Libtorch,
    /// An NVIDIA GPU (the first one) through burn-tch and a CUDA build of libtorch (cargo feature
    /// `tch`, built against PyPI's `torch==2.9.0`, which ships the CUDA libraries; see README,
    /// "Backends"). The GPU route that needs only the package registries.
    #[cfg_attr(feature = "clap", value(name = "libtorch_cuda"))]
    LibtorchCuda,
    /// A GPU (the one wgpu's adapter selection prefers, or `CUBECL_WGPU_DEFAULT_DEVICE`) through
    /// burn's wgpu backend pinned to Vulkan, with SPIR-V kernels (cargo feature `vulkan`). Builds
    /// from the package registries alone; running needs the Vulkan loader (`libvulkan.so.1`) and
    /// the GPU driver's Vulkan ICD. See README, "Backends".
    Vulkan,
}

impl ComputeDevice {
    /// The burn device for inference (no autodiff).
    ///
    /// # Errors
    ///
    /// [`ModelError::DeviceNotBuilt`] for [`ComputeDevice::Cuda`] without the `cuda` feature, for
    /// [`ComputeDevice::Libtorch`] and [`ComputeDevice::LibtorchCuda`] without the `tch`
    /// feature and for [`ComputeDevice::Vulkan`] without the `vulkan` feature;
    /// [`ModelError::DeviceUnavailable`] when the `vulkan` build finds no Vulkan adapter (no
    /// loader, no ICD). burn-tch itself fails at first use when libtorch was built without CUDA
    /// or sees no GPU.
    pub fn burn_device(self) -> Result<burn::tensor::Device, ModelError> {
        match self {
            ComputeDevice::Cpu => Ok(burn::tensor::Device::flex()),
            #[cfg(feature = "cuda")]
            ComputeDevice::Cuda => Ok(burn::tensor::Device::cuda(0)),
            #[cfg(not(feature = "cuda"))]
            ComputeDevice::Cuda => Err(ModelError::DeviceNotBuilt {
                device: "cuda",
                feature: "cuda",
                needs: "",
            }),
            #[cfg(feature = "tch")]
            #[allow(deprecated)]
            ComputeDevice::Libtorch => Ok(burn::tensor::Device::libtorch()),
            #[cfg(not(feature = "tch"))]
            ComputeDevice::Libtorch => Err(ModelError::DeviceNotBuilt {
                device: "libtorch",
                feature: "tch",
                needs: " and libtorch 2.9.0",
            }),
            #[cfg(feature = "tch")]
            #[allow(deprecated)]
            ComputeDevice::LibtorchCuda => Ok(burn::tensor::Device::libtorch_cuda(0)),
            #[cfg(not(feature = "tch"))]
            ComputeDevice::LibtorchCuda => Err(ModelError::DeviceNotBuilt {
                device: "libtorch_cuda",
                feature: "tch",
                needs: " and the CUDA build of libtorch 2.9.0",
            }),
            #[cfg(feature = "vulkan")]
            ComputeDevice::Vulkan => {
                let device = burn::tensor::Device::vulkan(burn::tensor::DeviceKind::DefaultDevice);
                vulkan_probe(&device)?;
                Ok(device)
            }
            #[cfg(not(feature = "vulkan"))]
            ComputeDevice::Vulkan => Err(ModelError::DeviceNotBuilt {
                device: "vulkan",
                feature: "vulkan",
                needs: "",
            }),
        }
    }
}

/// Opens the Vulkan device once per process: one value up and back. burn's wgpu runtime panics
/// on its own thread when no adapter is found; the panic is caught here (its message kept, the
/// default hook's report held back) and becomes [`ModelError::DeviceUnavailable`].
#[cfg(feature = "vulkan")]
fn vulkan_probe(device: &burn::tensor::Device) -> Result<(), ModelError> {
    use std::sync::{Arc, Mutex, OnceLock};
    static PROBE: OnceLock<Result<(), String>> = OnceLock::new();
    let probe = PROBE.get_or_init(|| {
        let first = Arc::new(Mutex::new(None::<String>));
        let seen = Arc::clone(&first);
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let mut slot = seen.lock().unwrap_or_else(|e| e.into_inner());
            slot.get_or_insert(msg);
        }));
        let opened = std::panic::catch_unwind(|| {
            let one = burn::tensor::TensorData::new(vec![1.0f32], [1]);
            burn::tensor::Tensor::<1>::from_data(one, device).into_data()
        });
        std::panic::set_hook(hook);
        let why = first.lock().unwrap_or_else(|e| e.into_inner()).take();
        match opened {
            Ok(_) => Ok(()),
            Err(_) => Err(why.unwrap_or_default()),
        }
    });
    probe.clone().map_err(|why| ModelError::DeviceUnavailable {
        device: "vulkan",
        why: format!(
            "no GPU could be opened through Vulkan ({}); install the Vulkan loader (libvulkan.so.1; Debian/Ubuntu: libvulkan1) and the GPU driver's Vulkan ICD (VK_DRIVER_FILES, or VK_ICD_FILENAMES for older loaders, may point at its nvidia_icd.json), or use device cpu",
            why.lines().next().unwrap_or("no message").trim()
        ),
    })
}

/// `f` on a rayon pool of `threads` threads: the tests that show a result does not depend on
/// the thread count.
#[cfg(test)]
pub(crate) fn on_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a rayon pool")
        .install(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The config names (as in the YAML), and a device whose backend is not built says which
    /// feature builds it instead of failing later.
    #[test]
    fn devices_parse_by_name_and_say_what_builds_them() {
        for (name, device) in [
            ("cpu", ComputeDevice::Cpu),
            ("cuda", ComputeDevice::Cuda),
            ("libtorch", ComputeDevice::Libtorch),
            ("libtorch_cuda", ComputeDevice::LibtorchCuda),
            ("vulkan", ComputeDevice::Vulkan),
        ] {
            let parsed: ComputeDevice = serde_json::from_str(&format!("\"{name}\"")).unwrap();
            assert_eq!(parsed, device, "{name}");
        }
        assert!(ComputeDevice::Cpu.burn_device().is_ok());
        #[cfg(not(feature = "tch"))]
        assert_eq!(
            ComputeDevice::LibtorchCuda
                .burn_device()
                .unwrap_err()
                .to_string(),
            "device `libtorch_cuda` needs a build with the `tch` cargo feature and the CUDA build \
             of libtorch 2.9.0: cargo build --release --features activepref-model/tch"
        );
        #[cfg(not(feature = "vulkan"))]
        assert_eq!(
            ComputeDevice::Vulkan.burn_device().unwrap_err().to_string(),
            "device `vulkan` needs a build with the `vulkan` cargo feature: cargo build --release --features activepref-model/vulkan"
        );
        #[cfg(not(feature = "cuda"))]
        assert!(matches!(
            ComputeDevice::Cuda.burn_device(),
            Err(ModelError::DeviceNotBuilt {
                feature: "cuda",
                ..
            })
        ));
    }
}
