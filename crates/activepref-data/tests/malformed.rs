//! Malformed input: one clear error naming file, row and field; never a panic.

use std::path::{Path, PathBuf};

use activepref_core::FeatureMatrix;
use activepref_data::feature_store::{FeatureTable, HubLayout, import_balpm_hub};
use activepref_data::formats::{hh_rlhf, summarize};
use proptest::prelude::*;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// `bytes` written to `name` in a fresh directory, which is removed when the `TempDir` is dropped.
fn scratch(name: &str, bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("activepref-malformed-")
        .tempdir()
        .unwrap();
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    (dir, p)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, bytes).unwrap();
    gz.finish().unwrap()
}

fn one_line(e: impl ToString) -> String {
    let s = e.to_string();
    assert!(!s.contains('\n'), "error spans lines: {s}");
    s
}

#[test]
fn truncated_gzip_names_the_file() {
    let gz = gzip(b"{\"chosen\": \"\\n\\nHuman: a\\n\\nAssistant: b\", \"rejected\": \"\\n\\nHuman: a\\n\\nAssistant: c\"}\n");
    let (_dir, p) = scratch("truncated.jsonl.gz", &gz[..gz.len() - 9]);
    let e = one_line(hh_rlhf::load(&p).unwrap_err());
    assert!(
        e.contains("truncated.jsonl.gz") && e.contains("gzip"),
        "{e}"
    );
}

#[test]
fn missing_field_names_row_and_field() {
    let (_dir, p) = scratch("missing.jsonl", b"{\"chosen\": \"\\n\\nHuman: a\\n\\nAssistant: b\", \"rejected\": \"\\n\\nHuman: a\\n\\nAssistant: c\"}\n{\"chosen\": \"\\n\\nHuman: a\\n\\nAssistant: b\"}\n");
    let e = one_line(hh_rlhf::load(&p).unwrap_err());
    assert!(
        e.contains("missing.jsonl: row 1 (0-based record): field `rejected`"),
        "{e}"
    );
}

#[test]
fn wrong_type_names_row_and_field() {
    let text = std::fs::read_to_string(fixture("summarize/comparisons.jsonl")).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[3] = lines[3].replace("\"choice\": 0", "\"choice\": \"first\"");
    let (_dir, p) = scratch("wrongtype.jsonl", lines.join("\n").as_bytes());
    let e = one_line(summarize::load(&p).unwrap_err());
    assert!(e.contains("wrongtype.jsonl") && e.contains("choice"), "{e}");
    assert!(e.contains("row 3"), "{e}");
}

#[test]
fn bad_choice_and_split_values_name_the_row() {
    let text = std::fs::read_to_string(fixture("summarize/comparisons.jsonl")).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[5] = lines[5].replace("\"choice\": 0", "\"choice\": 2");
    let (_dir, p) = scratch("badchoice.jsonl", lines.join("\n").as_bytes());
    let e = one_line(summarize::load(&p).unwrap_err());
    assert!(
        e.contains("row 5 (0-based record): field `choice`: expected 0 or 1, found 2"),
        "{e}"
    );
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[2] = lines[2].replace("\"split\": \"train\"", "\"split\": \"dev\"");
    let (_dir, p) = scratch("badsplit.jsonl", lines.join("\n").as_bytes());
    let e = one_line(summarize::load(&p).unwrap_err());
    assert!(
        e.contains("row 2 (0-based record): field `split`: unknown split \"dev\""),
        "{e}"
    );
}

#[test]
fn nan_in_hub_features_names_row_and_column() {
    let text = std::fs::read_to_string(fixture("features/hub_pair.csv")).unwrap();
    let text = text.replacen("-0.125000", "nan", 1);
    let (_dir, p) = scratch("nan.csv", text.as_bytes());
    let e = one_line(import_balpm_hub(&p, HubLayout::Pair).err().unwrap());
    assert!(
        e.contains("nan.csv: row 1 (0-based record): field `2`") && e.contains("finite"),
        "{e}"
    );
}

#[test]
fn duplicate_ids_are_refused() {
    let text = std::fs::read_to_string(fixture("features/hub_pair.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[3] = lines[3].replacen('2', "0", 1);
    let (_dir, p) = scratch("dup.csv", lines.join("\n").as_bytes());
    let e = one_line(import_balpm_hub(&p, HubLayout::Pair).err().unwrap());
    assert!(
        e.contains("dup.csv: row 2 (0-based record): field `id`: duplicate id \"0\""),
        "{e}"
    );
}

#[test]
fn dimension_mismatch_between_metadata_and_tensor() {
    let table = FeatureTable::new(
        vec!["a".into(), "b".into()],
        FeatureMatrix::new(2, 2, vec![1.0, 2.0, 3.0, 4.0]).unwrap(),
        Path::new("x"),
    )
    .unwrap();
    let dir = tempfile::Builder::new()
        .prefix("activepref-dim-")
        .tempdir()
        .unwrap();
    let p = dir.path().join("t.safetensors");
    table.save(&p).unwrap();
    let bytes = std::fs::read(&p).unwrap();
    let key = b"\\\"dim\\\":2";
    let at = bytes
        .windows(key.len())
        .position(|w| w == key)
        .expect("metadata in header");
    let mut bad = bytes.clone();
    bad[at + key.len() - 1] = b'3';
    std::fs::write(&p, &bad).unwrap();
    let e = one_line(FeatureTable::load(&p).unwrap_err());
    assert!(
        e.contains("t.safetensors: field `dim`: metadata says 3 but the tensor has 2 columns"),
        "{e}"
    );
    // Features for a different dataset: an id the table does not cover.
    table.save(&p).unwrap();
    let t = FeatureTable::load(&p).unwrap();
    let e = one_line(t.aligned(&["a".into(), "zz".into()], &p).unwrap_err());
    assert!(
        e.contains("no features for id \"zz\" (1 of the 2 ids asked for are covered)"),
        "{e}"
    );
}

/// A corruption of a file: flip bytes, cut it short, or splice in junk.
fn corrupt(bytes: &[u8], ops: &[(u8, usize, u8)]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for &(kind, pos, val) in ops {
        if out.is_empty() {
            break;
        }
        let at = pos % out.len();
        match kind % 4 {
            0 => out[at] = val,
            1 => out.truncate(at),
            2 => out.insert(at, val),
            _ => {
                out.remove(at);
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn corrupted_summarize_jsonl_never_panics(ops in prop::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..6)) {
        let bytes = corrupt(&std::fs::read(fixture("summarize/comparisons.jsonl")).unwrap(), &ops);
        let (_dir, p) = scratch("prop.jsonl", &bytes);
        if let Err(e) = summarize::load(&p) { one_line(e); }
    }

    #[test]
    fn corrupted_summarize_parquet_never_panics(ops in prop::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..6)) {
        let bytes = corrupt(&std::fs::read(fixture("summarize/comparisons.parquet")).unwrap(), &ops);
        let (_dir, p) = scratch("prop.parquet", &bytes);
        if let Err(e) = summarize::load(&p) { one_line(e); }
    }

    #[test]
    fn corrupted_gzip_never_panics(ops in prop::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..4)) {
        let raw = std::fs::read(fixture("summarize/comparisons.jsonl")).unwrap();
        let bytes = corrupt(&gzip(&raw), &ops);
        let (_dir, p) = scratch("prop.jsonl.gz", &bytes);
        if let Err(e) = summarize::load(&p) { one_line(e); }
    }

    #[test]
    fn corrupted_feature_files_never_panic(ops in prop::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..4)) {
        let bytes = corrupt(&std::fs::read(fixture("features/hub_pair.csv")).unwrap(), &ops);
        let (_dir, p) = scratch("prop.csv", &bytes);
        if let Err(e) = import_balpm_hub(&p, HubLayout::Pair) { one_line(e); }
        let bytes = corrupt(&std::fs::read(fixture("features/matrix_f32.npy")).unwrap(), &ops);
        let (_dir, p) = scratch("prop.npy", &bytes);
        if let Err(e) = FeatureTable::import_npy(&p, None) { one_line(e); }
    }
}

#[test]
fn invalid_utf8_is_an_error_naming_the_file() {
    let mut bytes = b"{\"chosen\": \"\\n\\nHuman: a\\n\\nAssistant: b".to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe, 0x80]);
    bytes.extend_from_slice(b"\", \"rejected\": \"\\n\\nHuman: a\\n\\nAssistant: c\"}\n");
    let (_dir, p) = scratch("badutf8.jsonl", &bytes);
    let e = one_line(hh_rlhf::load(&p).unwrap_err());
    assert!(e.contains("badutf8.jsonl"), "{e}");
}
