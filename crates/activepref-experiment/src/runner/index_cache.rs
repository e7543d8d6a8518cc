//! The kNN index cache: BAL-PM's exact prompt-neighbour index, built once for all runs of an
//! experiment and kept on disk.

use std::path::Path;
use std::sync::Arc;

use activepref_acquire::{EntropyEstimator, FeatureShift, PolicySpec, PromptKnnIndex, index_k_for};
use activepref_core::PoolBenchmark;
use indicatif::{ProgressBar, ProgressStyle};

use super::error::RunError;
use crate::setting::{PoolSetting, PoolSource};

/// The exact kNN index of the pool's prompt table when a BAL-PM policy can use it (KSG term, no
/// reference shift), with `K` for the largest such `k`. Built once for all runs, cached on disk
/// next to the prompt features (`<features>/pool/`) when that directory is writable, else (and
/// for a generated benchmark) under the output directory (`cache/`); a cached file is used only
/// when its table hash and `K` match.
pub(crate) fn prompt_index_for(
    setting: &PoolSetting,
    bench: &PoolBenchmark,
    out: &Path,
    progress: bool,
) -> Result<Option<Arc<PromptKnnIndex>>, RunError> {
    let k = setting
        .policies
        .values()
        .filter_map(|p| match p {
            PolicySpec::Balpm(c)
                if c.estimator == EntropyEstimator::Ksg
                    && c.feature_shift == FeatureShift::None =>
            {
                Some(index_k_for(c.k))
            }
            _ => None,
        })
        .max();
    let Some(k) = k else { return Ok(None) };
    // Next to the prompt features when that directory is writable, else in the output directory.
    let mut dirs = Vec::new();
    if let PoolSource::Comparisons(src) = &setting.benchmark {
        dirs.push(src.features.join("pool"));
    }
    dirs.push(out.join("cache"));
    let table = bench.pool.prompt.table();
    if progress && table.rows() >= 2_048 && !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        eprintln!(
            "kNN index of {} prompts: loading or building (minutes at paper scale)",
            table.rows()
        );
    }
    let bar = if progress && table.rows() >= 2_048 {
        ProgressBar::new(table.rows() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} prompts (eta {eta}) kNN index",
        )
        .expect("valid template"),
    );
    let (index, _built, _path) =
        PromptKnnIndex::load_or_build_in(&dirs, table, k, &|rows| bar.inc(rows as u64))?;
    bar.finish_and_clear();
    Ok(Some(Arc::new(index)))
}
