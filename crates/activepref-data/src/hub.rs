//! Downloads from the Hugging Face Hub with `hf-hub`, into the standard HF cache.
//!
//! The cache is `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub` (the layout
//! Python's `huggingface_hub` uses, so either tool reuses the other's downloads). With
//! `HF_HUB_OFFLINE=1` nothing touches the network: files already in the cache are used, and a
//! dataset that is not there is a clear error saying how to point activepref at local files.

use std::path::PathBuf;

use hf_hub::{Cache, Repo, RepoType};

use crate::error::{DataError, DataResult};

/// A dataset `activepref fetch` knows.
#[derive(Clone, Copy, Debug)]
pub struct HubDataset {
    /// The name on the command line.
    pub key: &'static str,
    /// The Hugging Face dataset repository (`owner/name`).
    pub repo: &'static str,
    /// The git revision fetched (a branch, tag or ref such as `refs/convert/parquet`).
    pub revision: &'static str,
    /// Only files whose path starts with this are fetched.
    pub prefix: &'static str,
    /// One line on what the dataset holds and how to read it, shown to the user.
    pub about: &'static str,
}

/// The datasets of specs/balpm.md §1.1–1.2.
pub const DATASETS: [HubDataset; 3] = [
    HubDataset {
        key: "summarize-from-feedback",
        repo: "openai/summarize_from_feedback",
        revision: "refs/convert/parquet",
        prefix: "comparisons/",
        about: "OpenAI TL;DR + CNN/DM human comparisons (config `comparisons`, HF parquet); read with format summarize-from-feedback",
    },
    HubDataset {
        key: "balpm-pair-features",
        repo: "luckeciano/reddit-features-hermes",
        revision: "main",
        prefix: "",
        about: "BAL-PM OpenHermes-2.5-Mistral-7B (prompt, summary) features, `id, 0..8191`, splits train/eval/test/ood",
    },
    HubDataset {
        key: "balpm-prompt-features",
        repo: "luckeciano/hermes-reddit-post-features",
        revision: "main",
        prefix: "",
        about: "BAL-PM OpenHermes-2.5-Mistral-7B post features, `id, 0..4095`, split train",
    },
];

/// The known dataset named `key` on the command line, if any.
pub fn dataset(key: &str) -> Option<&'static HubDataset> {
    DATASETS.iter().find(|d| d.key == key)
}

/// Whether `HF_HUB_OFFLINE` asks for offline mode (`1`, `true`, `yes`, `on`, as huggingface_hub reads it).
pub fn offline_from_env() -> bool {
    std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

/// The hub cache directory from the environment (see the module docs).
pub fn cache_from_env() -> Cache {
    match std::env::var_os("HF_HUB_CACHE") {
        Some(dir) if !dir.is_empty() => Cache::new(PathBuf::from(dir)),
        _ => Cache::from_env(),
    }
}

fn is_data_file(path: &str) -> bool {
    let p = path.to_ascii_lowercase();
    [
        ".parquet",
        ".csv",
        ".csv.gz",
        ".json",
        ".jsonl",
        ".jsonl.gz",
        ".json.gz",
    ]
    .iter()
    .any(|e| p.ends_with(e))
}

/// The files of `ds` already in `cache` (offline lookup), sorted; empty when it is not cached.
pub fn cached_files(cache: &Cache, ds: &HubDataset) -> Vec<PathBuf> {
    let repo = Repo::with_revision(
        ds.repo.to_string(),
        RepoType::Dataset,
        ds.revision.to_string(),
    );
    let root = cache.path().join(repo.folder_name());
    let Ok(commit) = std::fs::read_to_string(root.join("refs").join(ds.revision)) else {
        return Vec::new();
    };
    let snapshot = root.join("snapshots").join(commit.trim());
    crate::io::files_under(&snapshot)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| {
            let rel = p
                .strip_prefix(&snapshot)
                .map(|r| r.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            rel.starts_with(ds.prefix) && is_data_file(&rel)
        })
        .collect()
}

/// Fetches `ds` into `cache` (or, `offline`, finds it there) and returns its local files.
///
/// # Errors
///
/// A [`DataError`] when `offline` and the cache lacks the dataset, when the Hub cannot be reached
/// or a file cannot be downloaded, or when the snapshot holds no data file under `ds.prefix`.
pub fn fetch(cache: Cache, ds: &HubDataset, offline: bool) -> DataResult<Vec<PathBuf>> {
    let cache_dir = cache.path().clone();
    if offline {
        let files = cached_files(&cache, ds);
        if files.is_empty() {
            return Err(DataError::file(&cache_dir, format!("HF_HUB_OFFLINE is set and {} is not in this cache", ds.repo))
                .with_hint("unset HF_HUB_OFFLINE on a machine with network, or set `benchmark.path` in the experiment file to local copies of the files"));
        }
        return Ok(files);
    }
    let unreachable = |e: hf_hub::api::sync::ApiError| {
        DataError::file(&cache_dir, format!("cannot reach the Hugging Face Hub for {}: {e}", ds.repo))
            .with_hint("check the network, or set HF_HUB_OFFLINE=1 to use the cache, or point `benchmark.path` at local files")
    };
    let api = hf_hub::api::sync::ApiBuilder::from_cache(cache)
        .with_progress(true)
        .with_retries(1)
        .build()
        .map_err(unreachable)?;
    let repo = api.repo(Repo::with_revision(
        ds.repo.to_string(),
        RepoType::Dataset,
        ds.revision.to_string(),
    ));
    let info = repo.info().map_err(unreachable)?;
    let mut files = Vec::new();
    for sibling in info
        .siblings
        .iter()
        .filter(|s| s.rfilename.starts_with(ds.prefix) && is_data_file(&s.rfilename))
    {
        files.push(repo.get(&sibling.rfilename).map_err(unreachable)?);
    }
    if files.is_empty() {
        return Err(DataError::file(
            &cache_dir,
            format!(
                "{} at {} has no data files under `{}`",
                ds.repo, ds.revision, ds.prefix
            ),
        ));
    }
    files.sort();
    Ok(files)
}
