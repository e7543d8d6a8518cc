//! Anthropic HH-RLHF (`{chosen, rejected}` transcripts, JSON lines, optionally gzipped).
//!
//! Each transcript is `\n\nHuman: ... \n\nAssistant: ...`. The prompt is the longest common prefix
//! of the two transcripts, cut back to just after the last `\n\nAssistant:` inside it; the two
//! responses are what follows, trimmed. This equals "the shared prefix up to the last
//! `\n\nAssistant:`" for almost every row; in 5 of the 2,312 rows of `harmless-base-test` one
//! response itself contains further turns, and the last-turn rule would split the two transcripts at
//! different places. A pair whose transcripts differ before any shared assistant turn is an error.
//! Empty responses are kept (the source has 4 rows where the labeller chose an empty reply).

use std::path::Path;

use polars::prelude::*;

use crate::error::{DataError, DataResult};
use crate::io::{column, read_table, strings};
use crate::text::{ComparisonDataset, SplitRole, TextComparison};

const ASSISTANT: &str = "\n\nAssistant:";

/// Splits one chosen/rejected transcript pair into `(prompt, chosen response, rejected response)`.
pub fn split_transcripts<'a>(
    chosen: &'a str,
    rejected: &'a str,
) -> Option<(&'a str, &'a str, &'a str)> {
    let common = chosen
        .bytes()
        .zip(rejected.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    // Cut on a char boundary of both (they agree on the common bytes).
    let mut common = common;
    while !chosen.is_char_boundary(common) {
        common -= 1;
    }
    let cut = chosen[..common].rfind(ASSISTANT)? + ASSISTANT.len();
    Some((&chosen[..cut], chosen[cut..].trim(), rejected[cut..].trim()))
}

/// Loads an HH-RLHF file into the `pool` split (callers split it further; see
/// [`ComparisonDataset`]). `response_a` is the chosen reply, so every `a_preferred` is `true`.
pub fn load(path: &Path) -> DataResult<ComparisonDataset> {
    let schema = Schema::from_iter([
        Field::new("chosen".into(), DataType::String),
        Field::new("rejected".into(), DataType::String),
    ]);
    let df = read_table(path, Some(&schema))?;
    let chosen = strings(path, "chosen", column(path, &df, "chosen")?)?;
    let rejected = strings(path, "rejected", column(path, &df, "rejected")?)?;
    let mut rows = Vec::with_capacity(chosen.len());
    for (i, (c, r)) in chosen.iter().zip(&rejected).enumerate() {
        let Some((prompt, a, b)) = split_transcripts(c, r) else {
            return Err(DataError::at(path, i, "chosen/rejected", "the two transcripts differ before any shared `\\n\\nAssistant:` turn, so they do not answer one prompt")
                .with_hint("fix or remove this row"));
        };
        if prompt.trim() == ASSISTANT.trim() {
            return Err(DataError::at(
                path,
                i,
                "chosen",
                "empty prompt before the first assistant turn",
            ));
        }
        rows.push(TextComparison {
            id: i.to_string(),
            prompt_key: prompt.to_string(),
            prompt: prompt.to_string(),
            response_a: a.to_string(),
            response_b: b.to_string(),
            a_preferred: true,
        });
    }
    if rows.is_empty() {
        return Err(DataError::file(path, "no comparisons in file"));
    }
    let mut ds = ComparisonDataset {
        sources: vec![path.to_path_buf()],
        ..Default::default()
    };
    ds.splits.insert(SplitRole::Pool, rows);
    Ok(ds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_last_shared_assistant_turn() {
        let c = "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: how?\n\nAssistant: fine";
        let r = "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: how?\n\nAssistant: bad";
        let (p, a, b) = split_transcripts(c, r).unwrap();
        assert_eq!(
            p,
            "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: how?\n\nAssistant:"
        );
        assert_eq!((a, b), ("fine", "bad"));
    }

    #[test]
    fn response_with_extra_turns_stays_whole() {
        let c = "\n\nHuman: q\n\nAssistant: a1\n\nHuman: more\n\nAssistant: a2";
        let r = "\n\nHuman: q\n\nAssistant: b";
        let (p, a, b) = split_transcripts(c, r).unwrap();
        assert_eq!(p, "\n\nHuman: q\n\nAssistant:");
        assert_eq!(a, "a1\n\nHuman: more\n\nAssistant: a2");
        assert_eq!(b, "b");
    }

    #[test]
    fn different_prompts_are_refused() {
        assert!(
            split_transcripts(
                "\n\nHuman: a\n\nAssistant: x",
                "\n\nHuman: b\n\nAssistant: x"
            )
            .is_none()
        );
    }

    #[test]
    fn multibyte_divergence_cuts_on_char_boundary() {
        let c = "\n\nHuman: q\n\nAssistant: é";
        let r = "\n\nHuman: q\n\nAssistant: è";
        let (_, a, b) = split_transcripts(c, r).unwrap();
        assert_eq!((a, b), ("é", "è"));
    }
}
