//! `results.parquet`: every run's rows in one tidy table (one row per run and round, with its
//! policy, seed and sweep grid point) for pandas, polars, R or DuckDB.

use std::fs;
use std::path::{Path, PathBuf};

use activepref_core::io::partial_path;

use crate::runner::RunError;

/// The runs of one results directory to export: its grid point (empty for a file without a
/// sweep), the directory and the (policy label, seed) runs to read.
pub struct ExportedRuns<'a> {
    /// The sweep grid point (`<grid>/<slug>`), written in the `grid_point` column; empty without
    /// a sweep.
    pub grid_point: &'a str,
    /// The results directory; its run files are `runs/<policy>__seed<seed>.csv`.
    pub dir: &'a Path,
    /// The (policy label, seed) runs to read, in output order.
    pub runs: &'a [(String, u64)],
}

/// Writes `out` (a `.parquet` file, atomically) with the rows of every run file of `sources`,
/// behind a first column `grid_point`. Every run file must have the same columns.
///
/// # Errors
/// A run file that cannot be read or has other columns than the first, or a write error.
pub fn write_results_parquet(
    sources: &[ExportedRuns<'_>],
    out: &Path,
) -> Result<PathBuf, RunError> {
    let mut header: Option<String> = None;
    let mut text = String::new();
    for src in sources {
        for (policy, seed) in src.runs {
            let path = src
                .dir
                .join("runs")
                .join(format!("{policy}__seed{seed}.csv"));
            let body = fs::read_to_string(&path).map_err(|error| RunError::Io {
                action: "read",
                path: path.clone(),
                error,
            })?;
            let mut lines = body.lines();
            let head = lines.next().unwrap_or("");
            match &header {
                None => {
                    header = Some(head.to_string());
                    text = format!("grid_point,{head}\n");
                }
                Some(h) if h != head => {
                    return Err(RunError::Serialise {
                        path: out.to_path_buf(),
                        error: format!(
                            "{} has other columns than the first run file; rerun it, or report the directories separately",
                            path.display()
                        ),
                    });
                }
                Some(_) => {}
            }
            let point = csv_field(src.grid_point);
            for line in lines.filter(|l| !l.is_empty()) {
                text.push_str(&point);
                text.push(',');
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    if header.is_none() {
        return Ok(out.to_path_buf());
    }
    // polars reads the CSV (types inferred from the values) and writes the Parquet atomically.
    // The CSV is a temporary like every other, `<out>.<host>-<pid>.partial.csv` (cleaned after a
    // kill), with the extension polars reads it by.
    let csv_tmp = partial_path(out).with_extension("partial.csv");
    fs::write(&csv_tmp, &text).map_err(|error| RunError::Io {
        action: "write",
        path: csv_tmp.clone(),
        error,
    })?;
    let converted = activepref_data::io::convert_to_parquet(&csv_tmp, out, None).map_err(|e| {
        RunError::Serialise {
            path: out.to_path_buf(),
            error: e.to_string(),
        }
    });
    let _ = fs::remove_file(&csv_tmp);
    converted.map(|()| out.to_path_buf())
}

/// A CSV field: quoted when it holds a comma or a quote.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
