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

/// Why a transcript pair has no single prompt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SplitError {
    /// One transcript has no `\n\nAssistant:` turn at all (a number or a list, which the reader
    /// takes as text, or text that is not an HH-RLHF transcript): the field's name, `chosen` or
    /// `rejected`, and the value's first 40 characters.
    NoAssistantTurn(&'static str, String),
    /// The transcripts differ before any shared `\n\nAssistant:` turn.
    NoSharedTurn,
    /// They differ in an earlier turn (not only in whitespace), and both go on past it: the
    /// final replies answer two different conversations. The turn where they first differ, as
    /// each has it (speaker included), shortened.
    EarlierTurn {
        /// The first differing turn as the chosen transcript has it.
        chosen: String,
        /// The first differing turn as the rejected transcript has it.
        rejected: String,
    },
}

/// The text up to and including the last `\n\nAssistant:`, and the reply after it.
fn last_turn(t: &str) -> Option<(&str, &str)> {
    let cut = t.rfind(ASSISTANT)? + ASSISTANT.len();
    Some((&t[..cut], &t[cut..]))
}

/// The text with every run of whitespace as one space (to compare contexts that differ only in
/// spacing, as some HH-RLHF transcripts do).
fn squash(t: &str) -> String {
    t.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Splits one chosen/rejected transcript pair into `(prompt, chosen response, rejected response)`.
///
/// The prompt is the shared prefix, cut back to just after the last `\n\nAssistant:` in it, when
/// the final turn of at least one transcript starts there (the other reply may carry further
/// turns). When both transcripts go on past an earlier difference, the contexts before their own
/// final replies are compared with whitespace squashed: equal, the prompt is the chosen
/// transcript's context and the replies are the final ones; different, the pair answers two
/// conversations ([`SplitError::EarlierTurn`]).
///
/// # Errors
/// [`SplitError`] when the two transcripts do not answer one prompt.
pub fn split_transcripts<'a>(
    chosen: &'a str,
    rejected: &'a str,
) -> Result<(&'a str, &'a str, &'a str), SplitError> {
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
    let (Some((pc, rc)), Some((pr, rr))) = (last_turn(chosen), last_turn(rejected)) else {
        let (which, text) = if last_turn(chosen).is_none() {
            ("chosen", chosen)
        } else {
            ("rejected", rejected)
        };
        return Err(SplitError::NoAssistantTurn(
            which,
            text.chars().take(40).collect(),
        ));
    };
    let Some(cut) = chosen[..common]
        .rfind(ASSISTANT)
        .map(|i| i + ASSISTANT.len())
    else {
        // They differ before any shared assistant turn; in spacing only, they are one prompt.
        return if squash(pc) == squash(pr) {
            Ok((pc, rc.trim(), rr.trim()))
        } else {
            Err(SplitError::NoSharedTurn)
        };
    };
    if pc.len() == cut || pr.len() == cut {
        return Ok((&chosen[..cut], chosen[cut..].trim(), rejected[cut..].trim()));
    }
    if squash(pc) == squash(pr) {
        return Ok((pc, rc.trim(), rr.trim()));
    }
    // The turn in which they first differ (its speaker included), as each transcript has it.
    let start = chosen[..common].rfind("\n\n").map_or(0, |i| i + 2);
    let turn = |t: &str| -> String {
        let rest = &t[start..];
        let end = rest[2.min(rest.len())..]
            .find("\n\n")
            .map_or(rest.len(), |i| i + 2.min(rest.len()));
        rest[..end].trim().chars().take(80).collect()
    };
    Err(SplitError::EarlierTurn {
        chosen: turn(chosen),
        rejected: turn(rejected),
    })
}

/// Loads an HH-RLHF file into the `pool` split (callers split it further; see
/// [`ComparisonDataset`]). `response_a` is the chosen reply, so every `a_preferred` is `true`.
///
/// # Errors
///
/// A [`DataError`] naming the row when the file cannot be read, `chosen` or `rejected` is missing
/// or not text, or a transcript pair has no single shared prompt ([`SplitError`]).
pub fn load(path: &Path) -> DataResult<ComparisonDataset> {
    let schema = Schema::from_iter([
        Field::new("chosen".into(), DataType::String),
        Field::new("rejected".into(), DataType::String),
    ]);
    let df = read_table(path, Some(&schema))?;
    let chosen = strings(path, "chosen", column(path, &df, "chosen")?)?;
    let rejected = strings(path, "rejected", column(path, &df, "rejected")?)?;
    let mut rows = Vec::with_capacity(chosen.len());
    // Every row without one prompt or with an empty one, in file order, so that the error can
    // name them all at once.
    let mut faults: Vec<(usize, Option<SplitError>)> = vec![];
    for (i, (c, r)) in chosen.iter().zip(&rejected).enumerate() {
        let (prompt, a, b) = match split_transcripts(c, r) {
            Ok(split) => split,
            Err(e) => {
                faults.push((i, Some(e)));
                continue;
            }
        };
        if prompt.trim() == ASSISTANT.trim() {
            faults.push((i, None));
            continue;
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
    if let Some(e) = fault_error(path, faults) {
        return Err(e);
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

/// The error of the first faulty row (`None`: an empty prompt; else why the two transcripts do
/// not answer one prompt); its hint lists every faulty row (the first ten, then their count), so
/// that they can be fixed or removed in one pass.
fn fault_error(path: &Path, faults: Vec<(usize, Option<SplitError>)>) -> Option<DataError> {
    let rows: Vec<usize> = faults.iter().map(|(i, _)| *i).collect();
    let (i, e) = faults.into_iter().next()?;
    let Some(e) = e else {
        let e = DataError::at(
            path,
            i,
            "chosen",
            "empty prompt before the first assistant turn",
        );
        return Some(match rows.len() {
            1 => e,
            n => e.with_hint(others_hint(&rows, n)),
        });
    };
    let (field, why) = match e {
        SplitError::NoAssistantTurn(which, value) => (which, format!(
            "is {value:?}, which has no `\\n\\nAssistant:` turn (a number or a list is read as text); an HH-RLHF transcript is text such as `\\n\\nHuman: ...\\n\\nAssistant: ...`"
        )),
        SplitError::NoSharedTurn => ("chosen/rejected", "the two transcripts differ before any shared `\\n\\nAssistant:` turn, so they do not answer one prompt".to_string()),
        SplitError::EarlierTurn { chosen, rejected } => ("chosen/rejected", format!(
            "the two transcripts differ in an earlier turn (chosen {chosen:?}, rejected {rejected:?}), not only in their final replies, so they do not answer one prompt"
        )),
    };
    let hint = match rows.len() {
        1 => "fix or remove this row".to_string(),
        n => others_hint(&rows, n),
    };
    Some(DataError::at(path, i, field, why).with_hint(hint))
}

/// The hint that lists the `n` faulty rows (the first ten, then `...`).
fn others_hint(rows: &[usize], n: usize) -> String {
    let listed: Vec<String> = rows.iter().take(10).map(usize::to_string).collect();
    format!(
        "fix or remove it and the other rows with an empty prompt, without an assistant turn or without one shared prompt: {n} rows in all (0-based records {}{})",
        listed.join(", "),
        if n > 10 { ", ..." } else { "" }
    )
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
    fn a_transcript_without_an_assistant_turn_is_named() {
        // `{"chosen": 1}` reaches the split as the text "1".
        let good = "\n\nHuman: q\n\nAssistant: a";
        assert_eq!(
            split_transcripts("1", good),
            Err(SplitError::NoAssistantTurn("chosen", "1".into()))
        );
        assert_eq!(
            split_transcripts(good, "Human: q Assistant: b"),
            Err(SplitError::NoAssistantTurn(
                "rejected",
                "Human: q Assistant: b".into()
            ))
        );
        let dir = tempfile::Builder::new()
            .prefix("activepref-hh-")
            .tempdir()
            .unwrap();
        let path = dir.path().join("bad.jsonl");
        std::fs::write(&path, format!("{{\"chosen\":1,\"rejected\":{good:?}}}\n")).unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(
            e.contains("row 0 (0-based record): field `chosen`: is \"1\", which has no `\\n\\nAssistant:` turn (a number or a list is read as text)"),
            "{e}"
        );
    }

    #[test]
    fn different_prompts_are_refused() {
        assert!(
            split_transcripts(
                "\n\nHuman: a\n\nAssistant: x",
                "\n\nHuman: b\n\nAssistant: x"
            )
            .is_err()
        );
    }

    #[test]
    fn transcripts_that_differ_before_the_final_turn_are_not_cut_at_the_first_turn() {
        // shared/cases/09: another wording of an earlier assistant reply.
        let c = "\n\nHuman: Gift idea?\n\nAssistant: For whom?\n\nHuman: My aunt.\n\nAssistant: Shears.";
        let r = "\n\nHuman: Gift idea?\n\nAssistant: For whom is it?\n\nHuman: My aunt.\n\nAssistant: Socks.";
        assert_eq!(
            split_transcripts(c, r),
            Err(SplitError::EarlierTurn {
                chosen: "Assistant: For whom?".into(),
                rejected: "Assistant: For whom is it?".into()
            })
        );
        // Two spaces after an earlier `Human:`: the same conversation, split at the final turn.
        let c =
            "\n\nHuman: Book?\n\nAssistant: Genre?\n\nHuman: Mystery.\n\nAssistant: The Moonstone.";
        let r = "\n\nHuman: Book?\n\nAssistant: Genre?\n\nHuman:  Mystery.\n\nAssistant: Anything.";
        assert_eq!(
            split_transcripts(c, r),
            Ok((
                "\n\nHuman: Book?\n\nAssistant: Genre?\n\nHuman: Mystery.\n\nAssistant:",
                "The Moonstone.",
                "Anything."
            ))
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
