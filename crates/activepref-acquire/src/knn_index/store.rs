//! The index on disk: save, load (checked against its key), load-or-build in the first writable
//! directory, and a spot check of a loaded index against its table.

use std::path::{Path, PathBuf};

use super::*;

impl PromptKnnIndex {
    /// Writes the index to `path` atomically (a temporary file, then a rename).
    ///
    /// # Errors
    ///
    /// [`IndexError::Io`] when the parent directory cannot be created or the file cannot be
    /// written.
    pub fn save(&self, path: &Path) -> Result<(), IndexError> {
        let io = |e: std::io::Error| IndexError::Io {
            path: path.to_path_buf(),
            why: e.to_string(),
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        activepref_core::io::write_atomic(path, |w| {
            w.write_all(MAGIC)?;
            for v in [
                self.key.table_hash,
                self.key.rows as u64,
                self.key.dim as u64,
                self.key.k as u64,
                self.len as u64,
            ] {
                w.write_all(&v.to_le_bytes())?;
            }
            for &b in &self.neighbours {
                w.write_all(&b.to_le_bytes())?;
            }
            for &x in &self.distances {
                w.write_all(&x.to_le_bytes())?;
            }
            Ok(())
        })
        .map_err(io)
    }

    /// Reads an index from `path`; `None` when the file is not an index of `expected` (another
    /// table, another K, a truncated or foreign file).
    ///
    /// # Errors
    ///
    /// [`IndexError::Io`] when the file cannot be opened or read.
    pub fn load(path: &Path, expected: IndexKey) -> Result<Option<Self>, IndexError> {
        let io = |e: std::io::Error| IndexError::Io {
            path: path.to_path_buf(),
            why: e.to_string(),
        };
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .map_err(io)?
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() < 48 || &bytes[..8] != MAGIC {
            return Ok(None);
        }
        let word = |i: usize| {
            u64::from_le_bytes(bytes[8 + 8 * i..16 + 8 * i].try_into().expect("8 bytes"))
        };
        let key = IndexKey {
            table_hash: word(0),
            rows: word(1) as usize,
            dim: word(2) as usize,
            k: word(3) as usize,
        };
        let len = word(4) as usize;
        let entries = key.rows.checked_mul(len);
        if key != expected
            || len != key.k.min(key.rows)
            || entries.is_none_or(|e| bytes.len() != 48 + e * 12)
        {
            return Ok(None);
        }
        let e = entries.expect("checked");
        let body = &bytes[48..];
        let neighbours: Vec<u32> = body[..4 * e]
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        let distances: Vec<f64> = body[4 * e..]
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        if neighbours.iter().any(|&b| b as usize >= key.rows) {
            return Ok(None);
        }
        Ok(Some(Self::from_parts(key, len, neighbours, distances)))
    }

    /// The index of `table` with `k` neighbours, read from `dir` when a matching file is there,
    /// else built (reporting progress) and written there. Returns the index and whether it was built.
    ///
    /// # Errors
    ///
    /// [`IndexError::Io`] when a newly built index cannot be written to `dir`.
    pub fn load_or_build(
        dir: &Path,
        table: &FeatureMatrix,
        k: usize,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<(Self, bool), IndexError> {
        let (index, built, _) = Self::load_or_build_in(&[dir.to_path_buf()], table, k, progress)?;
        Ok((index, built))
    }

    /// Like [`Self::load_or_build`] over several cache directories in order of preference: the
    /// first matching file is read; a new index is written to the first directory that accepts it
    /// (a read-only feature store falls through to the next). Returns the index, whether it was
    /// built, and where it is cached.
    ///
    /// # Errors
    ///
    /// [`IndexError::Io`] when a newly built index cannot be written to any of `dirs` (the last
    /// directory's error), or when `dirs` is empty.
    pub fn load_or_build_in(
        dirs: &[PathBuf],
        table: &FeatureMatrix,
        k: usize,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<(Self, bool, PathBuf), IndexError> {
        let key = IndexKey::of(table, k);
        for dir in dirs {
            let path = dir.join(key.file_name());
            if path.is_file()
                && let Ok(Some(index)) = Self::load(&path, key)
                && index.spot_check(table)
            {
                return Ok((index, false, path));
            }
        }
        let index = Self::build_keyed(table, key, progress);
        let mut last = None;
        for dir in dirs {
            let path = dir.join(key.file_name());
            match index.save(&path) {
                Ok(()) => return Ok((index, true, path)),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| IndexError::Io {
            path: PathBuf::new(),
            why: "no cache directory given".into(),
        }))
    }

    /// Recomputes the distances of a few rows' lists against `table`.
    fn spot_check(&self, table: &FeatureMatrix) -> bool {
        let n = self.rows();
        let step = (n / 16).max(1);
        (0..n).step_by(step).all(|a| {
            self.neighbours(a)
                .all(|(b, dist)| euclidean(table.row(a), table.row(b)).to_bits() == dist.to_bits())
        })
    }
}
