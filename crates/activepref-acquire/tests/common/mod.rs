//! Shared by the reference-vector tests: where the vectors live and which files to check.

use std::path::PathBuf;

/// Every `*.json` in `<vectors>/<folder>`, sorted. `<vectors>` is `ACTIVEPREF_VECTORS` when set,
/// else `shared/vectors` beside the checkout (see shared/vectors/README.md). Panics with the path
/// and the fix when the folder is missing or empty, so a missing checkout never passes silently.
pub fn vector_files(folder: &str) -> Vec<PathBuf> {
    let root = match std::env::var_os("ACTIVEPREF_VECTORS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors"),
    };
    let dir = root.join(folder);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "cannot read {}: {e}; set ACTIVEPREF_VECTORS to the vectors folder",
                dir.display()
            )
        })
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *.json in {}", dir.display());
    files
}
