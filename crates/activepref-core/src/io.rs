//! The one atomic file writer: every result, checkpoint, cache and feature file goes through it.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// This machine's name as it appears in temporary file names: letters, digits and `-` only
/// (Linux's `/proc/sys/kernel/hostname`; `host` where it cannot be read).
pub fn host_tag() -> &'static str {
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let tag: String = name
            .trim()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        if tag.is_empty() { "host".into() } else { tag }
    })
}

/// The temporary file [`write_atomic`] writes before the rename: `<name>.<host>-<pid>.partial`,
/// beside `path`. Host and process id keep two processes that write the same file at once (array
/// tasks of a sweep on several nodes sharing a results directory or a kNN index cache) from
/// writing into one temporary file, and tell a later run whose temporary a leftover is.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".{}-{}.partial", host_tag(), std::process::id()));
    path.with_file_name(name)
}

/// The writer of a temporary file named by [`partial_path`]: `(host, process id)`.
pub fn partial_writer(name: &str) -> Option<(&str, u32)> {
    let tag = name.strip_suffix(".partial")?.rsplit('.').next()?;
    let (host, pid) = tag.rsplit_once('-')?;
    Some((host, pid.parse().ok()?))
}

/// FNV-1a (64 bit) of a byte string: the stable, dependency-free hash behind run ids, run-file
/// seals and per-row random streams.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_from(FNV1A_START, bytes)
}

/// FNV-1a's state before any byte (its 64-bit offset basis).
pub const FNV1A_START: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a continued from `state` over `bytes`: `fnv1a(a ++ b) == fnv1a_from(fnv1a(a), b)`, so a
/// shared prefix is hashed once.
pub fn fnv1a_from(state: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(state, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Writes `path` so that a reader (or a run killed half-way) never sees half a file: `write` fills
/// a temporary file beside it, which is flushed, synced to disk and then renamed over `path`.
/// On an error the temporary file is removed and `path` is left as it was.
///
/// # Errors
///
/// Any I/O error of creating, writing (including `write`'s own), syncing or renaming the temporary
/// file.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> io::Result<()> {
    let tmp = partial_path(path);
    let result = (|| {
        let mut w = BufWriter::new(File::create(&tmp)?);
        write(&mut w)?;
        let file = w.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// An I/O error as a user reads it: the error itself, and what to do when the disk is full.
pub fn describe(error: &io::Error) -> String {
    if error.kind() == io::ErrorKind::StorageFull || error.raw_os_error() == Some(28) {
        format!(
            "{error}: the disk is full; free some space (or write elsewhere) and run the same command again"
        )
    } else {
        error.to_string()
    }
}

/// [`write_atomic`] of a byte buffer.
///
/// # Errors
///
/// As [`write_atomic`]: any I/O error of creating, writing, syncing or renaming the file.
pub fn write_atomic_bytes(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic(path, |w| w.write_all(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let scratch = tempfile::Builder::new()
            .prefix("activepref-core-atomic-")
            .tempdir()
            .unwrap();
        let dir = scratch.path();
        let path = dir.join("a.csv");
        write_atomic_bytes(&path, b"x").unwrap();
        write_atomic_bytes(&path, b"y").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"y");
        let tmp = partial_path(&path);
        assert_eq!(
            tmp,
            dir.join(format!(
                "a.csv.{}-{}.partial",
                host_tag(),
                std::process::id()
            ))
        );
        let name = tmp.file_name().unwrap().to_str().unwrap();
        assert_eq!(partial_writer(name), Some((host_tag(), std::process::id())));
        assert_eq!(partial_writer("a.csv.partial"), None);
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(
            fnv1a_from(fnv1a(b"prompt\0"), b"reply"),
            fnv1a(b"prompt\0reply")
        );
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert!(!partial_path(&path).exists());
        // A failing writer leaves the old file and no temporary.
        let err = write_atomic(&path, |w| {
            w.write_all(b"half")?;
            Err(io::Error::other("disk full"))
        });
        assert_eq!(err.unwrap_err().to_string(), "disk full");
        assert_eq!(std::fs::read(&path).unwrap(), b"y");
        assert!(!partial_path(&path).exists());
    }

    #[test]
    fn a_full_disk_says_so() {
        let full = io::Error::from_raw_os_error(28);
        let text = describe(&full);
        assert!(text.contains("the disk is full; free some space"), "{text}");
        assert_eq!(describe(&io::Error::other("boom")), "boom");
    }
}
