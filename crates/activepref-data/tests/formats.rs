//! Loaders against the real public files in ../shared/data and the hand-made fixtures.

use std::path::{Path, PathBuf};

use activepref_data::feature_store::{HubLayout, import_balpm_hub};
use activepref_data::formats::alpaca_eval::{self, MissingPrompts};
use activepref_data::formats::pairs::{self, PairColumns};
use activepref_data::formats::{hh_rlhf, summarize};
use activepref_data::text::{ComparisonDataset, SplitRole};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// `../shared/data` beside the repository (CI always has it); `None` with a message otherwise.
fn shared_data(rel: &str) -> Option<PathBuf> {
    let root = std::env::var_os("ACTIVEPREF_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let p = root.join("data").join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "SKIPPED: {} not found (set ACTIVEPREF_SHARED to the shared/ directory)",
            p.display()
        );
        None
    }
}

#[test]
fn real_hh_rlhf_harmless_test_loads_every_comparison() {
    let Some(path) = shared_data("hh-rlhf/harmless-base-test.jsonl.gz") else {
        return;
    };
    let ds = hh_rlhf::load(&path).unwrap();
    let rows = ds.split(SplitRole::Pool);
    assert_eq!(rows.len(), 2312);
    assert!(
        rows.iter()
            .all(|c| c.prompt.starts_with("\n\nHuman:") && c.prompt.ends_with("\n\nAssistant:"))
    );
    assert!(rows.iter().all(|c| !c.response_b.is_empty()));
    // The source holds exactly four rows whose chosen reply is empty; they are kept, not dropped.
    let empty: Vec<usize> = rows
        .iter()
        .enumerate()
        .filter(|(_, c)| c.response_a.is_empty())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(empty, vec![86, 516, 925, 1103]);
    // Row 1688: the chosen reply continues with a made-up "Human:" turn; it stays one response.
    assert!(
        rows[1688]
            .response_a
            .starts_with("Human: I think there's an easier way")
    );
    assert!(
        rows[1688]
            .response_b
            .starts_with("I'd suggest that you do it between 3 AM and 7 AM")
    );
    assert!(rows.iter().all(|c| c.a_preferred));
    let s = &ds.summary()[0];
    assert_eq!(s.comparisons, 2312);
    assert!(
        s.prompts < 2312 && s.prompts > 2000,
        "{} distinct prompts",
        s.prompts
    );
}

#[test]
fn real_alpaca_eval_pool_is_805_prompts_by_16_models() {
    let Some(dir) = shared_data("alpaca_eval") else {
        return;
    };
    let pool = alpaca_eval::load(&dir, MissingPrompts::Keep).unwrap();
    assert_eq!(pool.models.len(), 16);
    assert_eq!(pool.prompts.len(), 805);
    // phi-2 lacks 2 of the 805 instructions: reported, and those prompts keep 15 candidates.
    assert_eq!(pool.gaps.len(), 1);
    let (model, lacks) = &pool.gaps[0];
    assert_eq!(pool.models[*model], "phi-2");
    assert_eq!(lacks.len(), 2);
    assert!(
        lacks
            .iter()
            .any(|l| l.starts_with("List the layers of the TCP/IP model"))
    );
    assert_eq!(pool.responses_per_prompt(), (15, 16));
    assert_eq!(
        pool.candidates.iter().filter(|c| c.len() == 16).count(),
        803
    );
    assert!(
        pool.candidates
            .iter()
            .flatten()
            .all(|c| (0.0..=1.0).contains(&c.score))
    );
    // The reference model against itself scores exactly 0.5 everywhere.
    let gpt4 = pool
        .models
        .iter()
        .position(|m| m == "gpt4_1106_preview")
        .unwrap();
    assert!(
        pool.candidates
            .iter()
            .flatten()
            .filter(|c| c.model == gpt4)
            .all(|c| c.score == 0.5)
    );

    let inter = alpaca_eval::load(&dir, MissingPrompts::Intersect).unwrap();
    assert_eq!(inter.prompts.len(), 803);
    assert_eq!(inter.responses_per_prompt(), (16, 16));
    let err = alpaca_eval::load(&dir, MissingPrompts::Error)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("phi-2.annotations.json.gz") && err.contains("lacks 2 of 805"),
        "{err}"
    );
}

fn assert_same(a: &ComparisonDataset, b: &ComparisonDataset) {
    for &role in SplitRole::ALL {
        assert_eq!(a.split(role), b.split(role), "split {role}");
    }
}

#[test]
fn summarize_fixture_formats_agree_and_route_splits() {
    let jsonl = summarize::load(&fixture("summarize/comparisons.jsonl")).unwrap();
    let parquet = summarize::load(&fixture("summarize/comparisons.parquet")).unwrap();
    assert_same(&jsonl, &parquet);
    let counts: Vec<usize> = SplitRole::ALL
        .iter()
        .map(|&r| jsonl.split(r).len())
        .collect();
    assert_eq!(counts, vec![14, 6, 4, 6]);
    // CNN/DM articles land only in the OOD split, and the OOD split holds only them.
    let is_news = |k: &str| k.starts_with("cnn_") || k.starts_with("dm_");
    for &role in SplitRole::ALL {
        for c in jsonl.split(role) {
            assert_eq!(
                is_news(&c.prompt_key),
                role == SplitRole::Ood,
                "{} in {role}",
                c.prompt_key
            );
        }
    }
    // The article is the prompt; the chosen summary is response A (choice 1 swaps the order).
    let ood0 = &jsonl.split(SplitRole::Ood)[0];
    assert!(
        ood0.prompt
            .starts_with("A small town opened its first public library")
    );
    assert_eq!(
        ood0.response_a,
        "Town opens first library after ten years of fundraising."
    );
    let pool = jsonl.split(SplitRole::Pool);
    assert_eq!(
        pool[1].response_a,
        "Roommate eats my labelled leftovers even after I asked twice."
    );
    assert_eq!(pool[1].response_b, "Food stolen by roommate weekly.");
    // Ids count within each split; comparisons of one post share its prompt id.
    assert_eq!(
        pool.iter().map(|c| c.id.as_str()).collect::<Vec<_>>()[..3],
        ["0", "1", "2"]
    );
    assert_eq!(jsonl.split(SplitRole::Test)[0].id, "0");
    let ids = jsonl.prompt_ids();
    assert_eq!(&ids[&SplitRole::Pool][..5], &[0, 0, 0, 1, 1]);
    let summary = jsonl.summary();
    assert_eq!((summary[0].prompts, summary[0].max_per_prompt), (6, 3));
}

#[test]
fn summarize_reads_a_directory_and_gzip() {
    let tmp = tempdir("summarize-dir");
    let dir = tmp.path();
    let raw = std::fs::read(fixture("summarize/comparisons.jsonl")).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(dir.join("batch1.json"), lines[..10].join("\n")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, lines[10..].join("\n").as_bytes()).unwrap();
    // A subdirectory, as in the HF export (comparisons/train/, comparisons/validation/).
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/batch2.jsonl.gz"), gz.finish().unwrap()).unwrap();
    std::fs::write(dir.join("sub/README.md"), "not data").unwrap();
    let whole = summarize::load(&fixture("summarize/comparisons.jsonl")).unwrap();
    let parts = summarize::load(dir).unwrap();
    assert_same(&whole, &parts);
    assert_eq!(parts.sources.len(), 2);
}

fn tempdir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("activepref-test-{name}-"))
        .tempdir()
        .unwrap()
}

#[test]
fn generic_pairs_in_three_formats_load_alike() {
    let columns = PairColumns {
        prompt: "question".into(),
        a: "r1".into(),
        b: "r2".into(),
        label: Some("winner".into()),
        id: None,
        prompt_id: Some("qid".into()),
        split: Some("part".into()),
    };
    let csv = pairs::load(&fixture("pairs/pairs.csv"), &columns).unwrap();
    let jsonl = pairs::load(&fixture("pairs/pairs.jsonl"), &columns).unwrap();
    let parquet = pairs::load(&fixture("pairs/pairs.parquet"), &columns).unwrap();
    assert_same(&csv, &jsonl);
    assert_same(&csv, &parquet);
    let pool = csv.split(SplitRole::Pool);
    assert_eq!(pool.len(), 3);
    assert_eq!(
        pool.iter().map(|c| c.a_preferred).collect::<Vec<_>>(),
        vec![true, false, true]
    );
    assert_eq!(pool[0].prompt_key, pool[1].prompt_key);
    assert_eq!(csv.split(SplitRole::Validation)[0].response_b, "4");
    assert_eq!(csv.split(SplitRole::Test).len(), 1);

    let missing = PairColumns {
        prompt: "prompt".into(),
        ..columns.clone()
    };
    let err = pairs::load(&fixture("pairs/pairs.csv"), &missing)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("pairs.csv") && err.contains("field `prompt`") && err.contains("question"),
        "{err}"
    );
    // An unquoted empty CSV field is missing, not an empty text; a quoted one is kept.
    let dir = tempfile::tempdir().unwrap();
    let (bare, quoted) = (dir.path().join("bare.csv"), dir.path().join("quoted.csv"));
    let header = "qid,question,r1,r2,winner,part\n10,Name a prime.,7,8,a,train\n";
    std::fs::write(&bare, format!("{header}11,Say nothing.,,x,a,train\n")).unwrap();
    std::fs::write(&quoted, format!("{header}11,Say nothing.,\"\",x,a,train\n")).unwrap();
    let err = pairs::load(&bare, &columns).unwrap_err().to_string();
    assert!(
        err.ends_with("bare.csv: row 1 (0-based record): field `r1`: missing or not text (an unquoted empty CSV field reads as missing: write an empty text as \"\", or drop the row)"),
        "{err}"
    );
    let kept = pairs::load(&quoted, &columns).unwrap();
    assert_eq!(kept.split(SplitRole::Pool)[1].response_a, "");
}

/// The pool every completions fixture holds (written by scripts/make_completions_fixtures.py with
/// json and pyarrow); scores by hand: `overall_score` as given, except in the prompt where one
/// completion's score is empty: one scale per prompt, so all three come from their annotations
/// (Red and Blue: 5 on every aspect = 5.0; Green: mean of 5, 4, 3.5 and 1.8 = 3.575), never the
/// 1-10 scores 2.0 and 2.0 beside a 1-5 aggregate. Prompts, models, and per prompt its
/// candidates as (model index, response, score).
type ExpectedPool = (
    Vec<&'static str>,
    Vec<&'static str>,
    Vec<Vec<(usize, &'static str, f32)>>,
);

fn expected_completions_pool() -> ExpectedPool {
    (
        vec!["What is 2 + 2?", "Name a colour.", "Say hi."],
        vec!["m-big", "m-small", "m-mid"],
        vec![
            vec![(0, "4", 4.75), (1, "5", 1.5), (2, "four", 3.25)],
            vec![(2, "Red.", 5.0), (0, "Blue", 5.0), (1, "Green", 3.575)],
            vec![(1, "hi", 5.0), (0, "Hello!", 3.0)],
        ],
    )
}

#[test]
fn completions_layout_loads_the_same_pool_from_every_container() {
    use activepref_data::formats::alpaca_eval::MissingPrompts;
    use activepref_data::formats::completions;
    let (prompts, models, cands) = expected_completions_pool();
    for file in [
        "completions/rows.jsonl",
        "completions/rows.parquet",
        "completions/rows_chat.arrow",
        "completions/saved",
    ] {
        let pool = completions::load(&fixture(file), MissingPrompts::Keep)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            pool.prompts, prompts,
            "{file}: chat prompts keep their user message"
        );
        assert_eq!(pool.models, models, "{file}");
        let got: Vec<Vec<(usize, &str, f32)>> = pool
            .candidates
            .iter()
            .map(|c| {
                c.iter()
                    .map(|c| (c.model, c.response.as_str(), c.score))
                    .collect()
            })
            .collect();
        assert_eq!(got, cands, "{file}");
        // m-mid lacks the third prompt, and says so.
        assert_eq!(pool.gaps, vec![(2, vec!["Say hi.".to_string()])], "{file}");
    }
    // The `datasets` directory reads its shards in state.json's order.
    assert_eq!(
        completions::data_files(&fixture("completions/saved")).unwrap(),
        vec![
            fixture("completions/saved/data-00000-of-00002.arrow"),
            fixture("completions/saved/data-00001-of-00002.arrow")
        ]
    );
}

#[test]
fn completions_with_unequal_n_are_kept_dropped_or_refused_as_asked() {
    use activepref_data::formats::alpaca_eval::MissingPrompts;
    use activepref_data::formats::completions;
    let path = fixture("completions/rows.jsonl");
    let kept = completions::load(&path, MissingPrompts::Keep).unwrap();
    assert_eq!(kept.responses_per_prompt(), (2, 3));
    let inter = completions::load(&path, MissingPrompts::Intersect).unwrap();
    assert_eq!(inter.prompts, vec!["What is 2 + 2?", "Name a colour."]);
    assert_eq!(inter.responses_per_prompt(), (3, 3));
    let e = completions::load(&path, MissingPrompts::Error)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("1 of 3 prompts have fewer than 3 completions (first: prompt 2 has 2)"),
        "{e}"
    );
}

/// One UltraFeedback completion as JSON: `overall_score` (`null` allowed) and every aspect rated
/// `rating` with probability 1.
fn uf(model: &str, overall: &str, rating: usize) -> String {
    let aspect = (1..=5)
        .map(|k| format!("\"{k}\": {}", if k == rating { "1.0" } else { "0.0" }))
        .collect::<Vec<_>>()
        .join(", ");
    let aspects = [
        "instruction_following",
        "honesty",
        "truthfulness",
        "helpfulness",
    ]
    .map(|a| format!("\"{a}\": {{{aspect}}}"))
    .join(", ");
    format!(
        r#"{{"model": "{model}", "response_text": "r-{model}", "overall_score": {overall}, "annotations": {{{aspects}}}}}"#
    )
}

#[test]
fn completions_without_a_score_or_with_a_repeated_model_are_clear_errors() {
    use activepref_data::formats::alpaca_eval::MissingPrompts;
    use activepref_data::formats::completions;
    let tmp = tempfile::Builder::new()
        .prefix("activepref-completions-")
        .tempdir()
        .unwrap();
    let dir = tmp.path();
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    // Case 04 of shared/cases: overall_score (1-10) for three completions, null for one whose
    // annotations say 5 on every aspect. One scale per prompt: all four from their annotations,
    // so the 5/5 response ranks first (4, 1, 5, 1), not third behind 7.5 and 10.
    let mixed = write(
        "mixed.jsonl",
        &format!(
            r#"{{"prompt_id": "p", "prompt": "q", "completions": [{}, {}, {}, {}]}}"#,
            uf("a", "7.5", 4),
            uf("b", "10.0", 1),
            uf("c", "null", 5),
            uf("d", "2.0", 1)
        ),
    );
    let pool = completions::load(&mixed, MissingPrompts::Keep).unwrap();
    let scores: Vec<f32> = pool.candidates[0].iter().map(|c| c.score).collect();
    assert_eq!(scores, [4.0, 1.0, 5.0, 1.0]);
    assert_eq!(
        pool.quality().score_sources,
        [("annotations (1-5 aggregate)".to_string(), 1)]
            .into_iter()
            .collect()
    );
    // One prompt, scores 4, 1, 5, 1: its best-minus-worst gap is 4.
    assert_eq!(pool.quality().prompt_score_gap, [4.0, 4.0, 4.0]);
    // A sibling without annotations cannot be put on that scale: a clear error, not a mix.
    let unscalable = write(
        "unscalable.jsonl",
        r#"{"prompt_id": "x", "prompt": "q", "completions": [{"model": "a", "response_text": "r", "overall_score": 3.0}, {"model": "b", "response_text": "s", "overall_score": null, "annotations": {"honesty": {"1": 0.0, "2": 0.0, "3": 1.0, "4": 0.0, "5": 0.0}}}]}"#,
    );
    let e = completions::load(&unscalable, MissingPrompts::Keep)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("completion 0 (model a) has an overall_score (1-10) but no annotations"),
        "{e}"
    );
    let no_score = write(
        "no_score.jsonl",
        r#"{"prompt_id": "x", "prompt": "q", "completions": [{"model": "a", "response_text": "r", "overall_score": 3.0}, {"model": "b", "response_text": "s", "overall_score": null}]}"#,
    );
    let e = completions::load(&no_score, MissingPrompts::Keep)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("completion 1 (model b) has no overall_score and no annotations"),
        "{e}"
    );
    // Another completion's annotations do not lend this one a score of 0.
    let null_annotations = write(
        "null_annotations.jsonl",
        r#"{"prompt_id": "x", "prompt": "q", "completions": [{"model": "a", "response_text": "r", "overall_score": "", "annotations": {"honesty": {"1": 0.0, "2": 0.0, "3": 1.0, "4": 0.0, "5": 0.0}}}, {"model": "b", "response_text": "s", "overall_score": "", "annotations": null}]}"#,
    );
    let e = completions::load(&null_annotations, MissingPrompts::Keep)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("completion 1 (model b) has no overall_score and no annotations"),
        "{e}"
    );
    // Annotations of another layout are named as such, not reported as missing: UltraFeedback's
    // own `{"Rating": "4", ...}` per aspect, or one value for the whole map.
    let ultrafeedback = write(
        "ultrafeedback.jsonl",
        r#"{"prompt_id": "x", "prompt": "q", "completions": [{"model": "a", "response_text": "r", "annotations": {"honesty": {"Rating": "4", "Rationale": "ok"}}}, {"model": "b", "response_text": "s", "annotations": {"honesty": {"Rating": "2", "Rationale": "meh"}}}]}"#,
    );
    let e = completions::load(&ultrafeedback, MissingPrompts::Keep)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("row 0 (0-based record): field `completions.annotations.honesty`: expected a map of aspects, each a map of rating probabilities {\"1\": p, …, \"5\": p} (ActiveUltraFeedback's merged annotations), found a map with keys Rating, Rationale"),
        "{e}"
    );
    let flat = write(
        "flat.jsonl",
        r#"{"prompt_id": "x", "prompt": "q", "completions": [{"model": "a", "response_text": "r", "annotations": {"Rating": "4"}}, {"model": "b", "response_text": "s", "annotations": {"Rating": "3"}}]}"#,
    );
    let e = completions::load(&flat, MissingPrompts::Keep)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("field `completions.annotations.Rating`: expected a map of aspects")
            && e.contains("found str"),
        "{e}"
    );
    let twice = write(
        "twice.jsonl",
        r#"{"prompt_id": "x", "prompt": "q", "completions": [{"model": "a", "response_text": "r", "overall_score": 3.0}, {"model": "a", "response_text": "s", "overall_score": 2.0}]}"#,
    );
    let e = completions::load(&twice, MissingPrompts::Keep)
        .unwrap_err()
        .to_string();
    assert!(e.contains("model a answers prompt x twice"), "{e}");
    let missing = write("missing.jsonl", r#"{"prompt_id": "x", "prompt": "q"}"#);
    let e = completions::load(&missing, MissingPrompts::Keep)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("completions") && e.contains("missing column"),
        "{e}"
    );
}

#[test]
fn alpaca_eval_reads_the_older_draw_code_as_a_draw() {
    // shared/cases/02: `preference: 0` is alpaca_eval's older draw code (it maps 0 to 1.5).
    let tmp = tempdir("alpaca-draw");
    let dir = tmp.path();
    let rows = |outs: [(&str, &str); 2]| {
        format!(
            "[{}]",
            outs.iter()
                .zip(["Say hi.", "Count to 3."])
                .map(|((o, p), ins)| format!(
                    r#"{{"instruction": "{ins}", "output_2": "{o}", "preference": {p}}}"#
                ))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    std::fs::write(
        dir.join("a.annotations.json"),
        rows([("hi", "0"), ("1 2 3", "2.0")]),
    )
    .unwrap();
    std::fs::write(
        dir.join("b.annotations.json"),
        rows([("hello", "1.25"), ("one", "1")]),
    )
    .unwrap();
    let pool = alpaca_eval::load(dir, MissingPrompts::Keep).unwrap();
    let scores: Vec<Vec<f32>> = pool
        .candidates
        .iter()
        .map(|c| c.iter().map(|c| c.score).collect())
        .collect();
    assert_eq!(scores, [vec![0.5, 0.25], vec![1.0, 0.0]]);
    std::fs::write(
        dir.join("b.annotations.json"),
        rows([("hello", "3"), ("one", "1")]),
    )
    .unwrap();
    let e = alpaca_eval::load(dir, MissingPrompts::Keep)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("row 0 (0-based record): field `preference`: 3 is outside [1, 2]"),
        "{e}"
    );
}

#[test]
fn hh_rlhf_transcripts_that_differ_before_the_final_turn_are_refused_by_row() {
    // shared/cases/09, row 0: another wording of an earlier assistant reply.
    let tmp = tempdir("hh-diverge");
    let dir = tmp.path();
    let path = dir.join("hh.jsonl");
    std::fs::write(
        &path,
        concat!(
            r#"{"chosen": "\n\nHuman: Book?\n\nAssistant: Genre?\n\nHuman: Mystery.\n\nAssistant: The Moonstone.", "rejected": "\n\nHuman: Book?\n\nAssistant: Genre?\n\nHuman:  Mystery.\n\nAssistant: Anything."}"#,
            "\n",
            r#"{"chosen": "\n\nHuman: Gift idea?\n\nAssistant: For whom?\n\nHuman: My aunt.\n\nAssistant: Shears.", "rejected": "\n\nHuman: Gift idea?\n\nAssistant: For whom is it?\n\nHuman: My aunt.\n\nAssistant: Socks."}"#,
            "\n"
        ),
    )
    .unwrap();
    let e = hh_rlhf::load(&path).unwrap_err().to_string();
    assert!(
        e.contains("hh.jsonl: row 1 (0-based record): field `chosen/rejected`: the two transcripts differ in an earlier turn (chosen \"Assistant: For whom?\", rejected \"Assistant: For whom is it?\")"),
        "{e}"
    );
    assert!(e.ends_with("(fix or remove this row)"), "{e}");
    // Several such rows: the first is said, and the hint lists them all for one pass.
    let text = std::fs::read_to_string(&path).unwrap();
    let (good, bad) = text.split_once('\n').unwrap();
    let bad = bad.trim_end();
    std::fs::write(&path, [good, bad, good, bad, bad].join("\n")).unwrap();
    let e = hh_rlhf::load(&path).unwrap_err().to_string();
    assert!(
        e.contains("hh.jsonl: row 1 (0-based record): field `chosen/rejected`: the two transcripts differ in an earlier turn")
            && e.ends_with("(fix or remove it and the other rows with an empty prompt, without an assistant turn or without one shared prompt: 3 rows in all (0-based records 1, 3, 4))"),
        "{e}"
    );
    // An empty prompt first: that row is said, and the hint still lists every faulty row (it
    // named only the empty one).
    let empty = r#"{"chosen": "\n\nAssistant: Hi.", "rejected": "\n\nAssistant: Hello."}"#;
    std::fs::write(&path, [good, empty, bad, good, bad].join("\n")).unwrap();
    let e = hh_rlhf::load(&path).unwrap_err().to_string();
    assert!(
        e.contains("hh.jsonl: row 1 (0-based record): field `chosen`: empty prompt before the first assistant turn")
            && e.ends_with("(fix or remove it and the other rows with an empty prompt, without an assistant turn or without one shared prompt: 3 rows in all (0-based records 1, 2, 4))"),
        "{e}"
    );
    std::fs::write(&path, &text).unwrap();
    // Row 0 alone (a spacing difference in an earlier human turn) is one prompt, split at the
    // final turn: not cut at the first turn with the rest of the dialogue as "responses".
    let first = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, first.lines().next().unwrap()).unwrap();
    let ds = hh_rlhf::load(&path).unwrap();
    let c = &ds.splits[&SplitRole::Pool][0];
    assert!(
        c.prompt.ends_with("Human: Mystery.\n\nAssistant:"),
        "{:?}",
        c.prompt
    );
    assert_eq!(
        (c.response_a.as_str(), c.response_b.as_str()),
        ("The Moonstone.", "Anything.")
    );
}

#[test]
fn identical_pairs_and_empty_replies_are_counted() {
    // shared/cases/08: identical transcripts, an empty reply, replies that differ by a space.
    let tmp = tempdir("hh-quality");
    let dir = tmp.path();
    let path = dir.join("hh.jsonl");
    let row = |c: &str, r: &str| {
        format!(
            r#"{{"chosen": "\n\nHuman: q{c}\n\nAssistant: {c}", "rejected": "\n\nHuman: q{c}\n\nAssistant: {r}"}}"#
        )
    };
    std::fs::write(
        &path,
        [
            row("a", "b"),
            row("same", "same"),
            row("c", ""),
            row("d", "d "),
        ]
        .join("\n"),
    )
    .unwrap();
    let q = hh_rlhf::load(&path).unwrap().quality();
    assert_eq!(
        (q.identical_pairs, q.empty_responses, q.duplicate_ids),
        (2, 1, 0)
    );
    assert_eq!(q.identical_examples, ["pool/1", "pool/3"]);
    // 8 rows; each identical pair's two rows are one (the loader trims "d " to "d").
    assert_eq!((q.response_rows, q.distinct_response_rows), (8, 6));
}

#[test]
fn hub_csv_values_that_are_nan_or_overflow_float32_say_so() {
    // shared/cases/13: `nan`, `1e39`, and columns named f_0.. instead of 0..
    let tmp = tempdir("hub-csv");
    let dir = tmp.path();
    let csv = |name: &str, head: &str, v: &str| {
        let p = dir.join(name);
        std::fs::write(
            &p,
            format!("id,{head}\n0,0.1,0.2,0.3,0.4\n1,0.5,{v},0.7,0.8\n"),
        )
        .unwrap();
        p
    };
    let e = import_balpm_hub(&csv("nan.csv", "0,1,2,3", "nan"), HubLayout::Pair)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("nan.csv: row 1 (0-based record): field `1`: NaN is not a finite number")
            && e.contains("drop the row"),
        "{e}"
    );
    let e = import_balpm_hub(&csv("big.csv", "0,1,2,3", "1e39"), HubLayout::Pair)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("big.csv: row 1 (0-based record): field `1`: 1e39 overflows float32"),
        "{e}"
    );
    let ok = import_balpm_hub(&csv("f.csv", "f_0,f_1,f_2,f_3", "0.6"), HubLayout::Pair).unwrap();
    assert_eq!(ok.tables.len(), 2);
}

#[test]
fn trl_preference_layouts_are_read_with_their_prompt() {
    // shared/cases/07: TRL's conversational rows, with the prompt given and implied; and the
    // standard layout with an implicit prompt.
    let tmp = tempdir("trl");
    let dir = tmp.path();
    let write = |name: &str, rows: &[&str]| {
        let p = dir.join(name);
        std::fs::write(&p, rows.join("\n")).unwrap();
        p
    };
    let m = |role: &str, content: &str| format!(r#"{{"role": "{role}", "content": "{content}"}}"#);
    let explicit = write(
        "explicit.jsonl",
        &[&format!(
            r#"{{"prompt": [{}, {}], "chosen": [{}], "rejected": [{}]}}"#,
            m("system", "Be brief."),
            m("user", "Name a goldfish."),
            m("assistant", "Bubbles?"),
            m("assistant", "No.")
        )],
    );
    let implicit = write(
        "implicit.jsonl",
        &[
            &format!(
                r#"{{"chosen": [{}, {}], "rejected": [{}, {}]}}"#,
                m("user", "Capital of Peru?"),
                m("assistant", "Lima."),
                m("user", "Capital of Peru?"),
                m("assistant", "Cusco.")
            ),
            &format!(
                r#"{{"chosen": [{}, {}], "rejected": [{}, {}]}}"#,
                m("user", "Name a goldfish."),
                m("assistant", "Bubbles?"),
                m("user", "Name a cat."),
                m("assistant", "No.")
            ),
        ],
    );
    let standard = write(
        "standard.jsonl",
        &[r#"{"chosen": "Q: sky colour? A: the car", "rejected": "Q: sky colour? A: the cat"}"#],
    );
    let first = |p: &Path| {
        let ds = pairs::load(p, &PairColumns::default()).unwrap();
        let c = ds.splits[&SplitRole::Pool][0].clone();
        (c.prompt, c.response_a, c.response_b)
    };
    assert_eq!(
        first(&explicit),
        (
            "system: Be brief.\n\nuser: Name a goldfish.".to_string(),
            "Bubbles?".to_string(),
            "No.".to_string()
        )
    );
    std::fs::write(
        &implicit,
        std::fs::read_to_string(&implicit)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        first(&implicit),
        (
            "user: Capital of Peru?".into(),
            "Lima.".into(),
            "Cusco.".into()
        )
    );
    assert_eq!(
        first(&standard),
        ("Q: sky colour? A: the ".into(), "car".into(), "cat".into())
    );
    // Two conversations that differ before their last message answer two prompts: refused.
    let bad = write(
        "bad.jsonl",
        &[&format!(
            r#"{{"chosen": [{}, {}], "rejected": [{}, {}]}}"#,
            m("user", "Name a goldfish."),
            m("assistant", "Bubbles?"),
            m("user", "Name a cat."),
            m("assistant", "No.")
        )],
    );
    let e = pairs::load(&bad, &PairColumns::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("row 0 (0-based record): field `chosen/rejected`: the two conversations differ before their last message"),
        "{e}"
    );
}

/// One annotation file per model: a plain copy beside the .gz counted the model twice (three
/// models, the duplicate's responses "repeated").
#[test]
fn alpaca_eval_refuses_two_files_of_one_model() {
    let tmp = tempdir("alpaca-twice");
    let dir = tmp.path();
    for name in [
        "phi-2.annotations.json",
        "phi-2.annotations.json.gz",
        "gpt4.annotations.json",
    ] {
        std::fs::write(dir.join(name), "[]").unwrap();
    }
    let e = alpaca_eval::load(dir, MissingPrompts::Keep)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("model `phi-2` has two annotation files (phi-2.annotations.json and phi-2.annotations.json.gz)")
            && e.ends_with("(keep one of them (the .gz copy or the plain one))"),
        "{e}"
    );
}
