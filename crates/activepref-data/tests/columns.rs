//! `--columns` round trip: what `PairColumns::to_arg` writes (the hint's featurize command),
//! `PairColumns::from_arg` (the CLI's parser) reads back as the same mapping.

use activepref_data::formats::pairs::PairColumns;
use proptest::prelude::*;

/// A column name `--columns` can carry: no comma, no white space at either end.
fn name() -> impl Strategy<Value = String> {
    "[A-Za-z_=.:/ -]{0,6}[A-Za-z0-9_]{1,6}".prop_map(|s| s.trim_start().to_string())
}

proptest! {
    #[test]
    fn a_written_mapping_reads_back_as_itself(
        prompt in name(),
        a in name(),
        b in name(),
        label in proptest::option::of(name()),
        id in proptest::option::of(name()),
        prompt_id in proptest::option::of(name()),
        split in proptest::option::of(name()),
    ) {
        let c = PairColumns { prompt, a, b, label, id, prompt_id, split };
        let arg = c.to_arg().expect("writable names");
        prop_assert_eq!(PairColumns::from_arg(&arg), Ok(c));
    }
}

#[test]
fn names_the_command_line_cannot_carry_are_not_written() {
    let c = PairColumns {
        label: Some("winner".into()),
        ..PairColumns::default()
    };
    assert_eq!(
        c.to_arg().as_deref(),
        Some("prompt=prompt,a=chosen,b=rejected,label=winner")
    );
    for bad in ["a,b", " lead", "trail "] {
        let c = PairColumns {
            prompt: bad.into(),
            ..PairColumns::default()
        };
        assert_eq!(c.to_arg(), None, "{bad:?}");
    }
    assert_eq!(
        PairColumns::from_arg("prompt=q,colour=x"),
        Err(
            "--columns: unknown key `colour`; use prompt, a, b, label, id, prompt_id, split".into()
        )
    );
}
