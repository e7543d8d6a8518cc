//! Which results directories a results path holds: one experiment's, or a sweep root's grid
//! points (`<grid>/<point>/`, in the experiment file's order where `activepref-sweep.json` gives
//! it); and the error for a path holding none.

use std::path::{Path, PathBuf};

use activepref_core::error::first_few;
use activepref_experiment::results_dir::{ResultsMarker, SWEEP_MANIFEST};

use crate::ReportError;

/// The command that reports results directory `results` (`activepref report <dir>`, with
/// ` --partial` for a partial report), the path quoted for a shell where it needs it, for
/// messages that suggest it.
pub fn report_command(results: &str, partial: bool) -> String {
    let dir = activepref_core::error::shell_quoted(results);
    format!(
        "activepref report {dir}{}",
        if partial { " --partial" } else { "" }
    )
}

/// The results directories a results path holds: itself (one experiment), or a sweep's grid
/// points (`<grid>/<point>/`) in the experiment file's order.
pub(crate) fn result_dirs(results: &Path) -> Result<Vec<PathBuf>, ReportError> {
    if results.is_file() {
        return Err(ReportError::Options(format!(
            "{} is a file; `activepref report` takes the results directory a run wrote (results/<name>, or the run's --out)",
            results.display()
        )));
    }
    let dirs = if results.join("config.resolved.yaml").exists() {
        vec![results.to_path_buf()]
    } else if let Some(variants) = sweep_manifest(results)? {
        // The experiment file's order (`k=5` before `k=13`), missing grid points included.
        variants.iter().map(|v| results.join(v)).collect()
    } else {
        variant_dirs(results)?
    };
    if dirs.is_empty() {
        return Err(ReportError::Options(not_results_dir(results)));
    }
    Ok(dirs)
}

/// Why `results` holds nothing to report: where it is a folder of results directories or sweep
/// roots (the project's `results/`), it names them; otherwise it asks whether `run` wrote it.
fn not_results_dir(results: &Path) -> String {
    let mut inside: Vec<String> = std::fs::read_dir(results)
        .into_iter()
        .flatten()
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.join("config.resolved.yaml").exists() || p.join(SWEEP_MANIFEST).exists())
        .map(|p| p.display().to_string())
        .collect();
    inside.sort();
    let Some(first) = inside.first() else {
        return format!(
            "{}: cannot read (no such file); is {} a directory written by `activepref run`?",
            results.join("config.resolved.yaml").display(),
            results.display()
        );
    };
    format!(
        "{} holds results directories, not the files of one: report one of them, e.g. `{}` (here: {})",
        results.display(),
        report_command(first, false),
        first_few(&inside, 4)
    )
}

/// The grid points of the sweep whose results root is `root`, in the experiment file's order
/// (`activepref-sweep.json`, written by `run`); None for a root from before that file.
fn sweep_manifest(root: &Path) -> Result<Option<Vec<String>>, ReportError> {
    let path = root.join(SWEEP_MANIFEST);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        ReportError::Options(format!(
            "{}: not activepref's sweep manifest ({e}); delete it to fall back to the grid points on disk",
            path.display()
        ))
    })?;
    let Some(listed) = doc["variants"].as_array() else {
        return Ok(None);
    };
    // `<grid>/<point>`, two plain names: a manifest naming `../x` would send the report outside
    // the root.
    listed
        .iter()
        .map(|v| {
            let name = v.as_str().unwrap_or_default();
            let parts: Vec<_> = Path::new(name).components().collect();
            let plain = parts.len() == 2
                && parts
                    .iter()
                    .all(|c| matches!(c, std::path::Component::Normal(_)));
            if plain {
                Ok(name.to_string())
            } else {
                Err(ReportError::Options(format!(
                    "{}: not activepref's sweep manifest (variant {v} is not <grid>/<point>); delete it to fall back to the grid points on disk",
                    path.display()
                )))
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// The results directories of a sweep's grid points under `root` (`<grid>/<point>/`), sorted:
/// for a sweep root without `activepref-sweep.json`. Each must carry the marker `run` writes for
/// that grid point, so a folder that merely holds some results directory two levels down (a
/// project folder with `results/<name>/`) is not taken for a sweep and written into.
///
/// # Errors
/// A grid point's marker exists but cannot be read.
fn variant_dirs(root: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let children = |d: &Path| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)
            .map(|it| {
                it.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.is_dir())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    let mut dirs = vec![];
    for dir in children(root).iter().flat_map(|g| children(g)) {
        if dir.join("config.resolved.yaml").exists() && is_grid_point_of(root, &dir)? {
            dirs.push(dir);
        }
    }
    Ok(dirs)
}

/// Whether `dir`'s marker names it as grid point `<grid>/<point>` of the sweep rooted at `root`
/// (no marker: not one; results from before markers are reported after `activepref run` on the
/// sweep file writes them).
fn is_grid_point_of(root: &Path, dir: &Path) -> Result<bool, ReportError> {
    let marker = ResultsMarker::read(dir).map_err(|e| ReportError::Options(e.to_string()))?;
    let relative = dir.strip_prefix(root).ok().map(|r| {
        r.components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/")
    });
    Ok(marker.is_some_and(|m| m.variant.is_some() && m.variant == relative))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder of results directories (a project's `results/`) is named as such, with the
    /// directories in it; a folder of none asks whether `run` wrote it.
    #[test]
    fn a_folder_of_results_directories_names_them() {
        let root = tempfile::tempdir().unwrap();
        let err = |p: &Path| match result_dirs(p) {
            Err(ReportError::Options(m)) => m,
            other => panic!("{other:?}"),
        };
        let r = root.path().display();
        assert_eq!(
            err(root.path()),
            format!(
                "{r}/config.resolved.yaml: cannot read (no such file); is {r} a directory written by `activepref run`?"
            )
        );
        for name in ["e", "a", "c", "b", "d"] {
            std::fs::create_dir_all(root.path().join(name)).unwrap();
            std::fs::write(root.path().join(name).join("config.resolved.yaml"), "").unwrap();
        }
        std::fs::create_dir_all(root.path().join("not-results")).unwrap();
        assert_eq!(
            err(root.path()),
            format!(
                "{r} holds results directories, not the files of one: report one of them, e.g. `activepref report {r}/a` (here: {r}/a, {r}/b, {r}/c, {r}/d, and 1 more)"
            )
        );
    }
}
