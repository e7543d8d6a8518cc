#!/usr/bin/env python3
"""Writes the small ActiveUltraFeedback-layout fixtures (rows with `completions[]` and
`overall_score`, specs/activeuf.md §4) that the data tests read, with the json module and pyarrow as
the independent writers: JSON lines, Parquet, an Arrow IPC file, and a directory laid out as HF
`datasets`' save_to_disk writes it (Arrow IPC *stream* files listed in state.json).

    python3 scripts/make_completions_fixtures.py   (needs pyarrow)

The values the tests expect are written out in the test itself (hand-computed), not read from here.
"""
import json
import pathlib

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

OUT = pathlib.Path("crates/activepref-data/tests/fixtures/completions")


def annotations(p):
    """aspect -> {"1": p1, ..., "5": p5}, as get_raw_annotations.py stores them."""
    return {aspect: {str(k + 1): float(v) for k, v in enumerate(probs)} for aspect, probs in p.items()}


ASPECTS = ["instruction_following", "honesty", "truthfulness", "helpfulness"]
# Expected rating per aspect: 5, 4, 3·0.5 + 4·0.5 = 3.5, 1·0.2 + 2·0.8 = 1.8 -> mean 3.575
ANN = annotations({
    "instruction_following": [0, 0, 0, 0, 1.0],
    "honesty": [0, 0, 0, 1.0, 0],
    "truthfulness": [0, 0, 0.5, 0.5, 0],
    "helpfulness": [0.2, 0.8, 0, 0, 0],
})
ZERO = annotations({a: [0, 0, 0, 0, 1.0] for a in ASPECTS})


def completion(model, text, score, ann=ZERO):
    return {
        "model": model,
        "principle": "helpfulness",
        "system_prompt": "You are helpful.",
        "response_text": text,
        "annotations": ann,
        "critique": "",
        "overall_score": score,
    }


def rows(chat_prompts):
    def prompt(text):
        if chat_prompts:
            return [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]
        return text

    return [
        {
            "prompt_id": "p-a",
            "source": "flan",
            "prompt": prompt("What is 2 + 2?"),
            "completions": [
                completion("m-big", "4", "4.75"),  # the schema's str type
                completion("m-small", "5", "1.5"),
                completion("m-mid", "four", "3.25"),
            ],
        },
        {
            "prompt_id": "p-b",
            "source": "sharegpt",
            "prompt": prompt("Name a colour."),
            "completions": [
                completion("m-mid", "Red.", "2.0"),
                completion("m-big", "Blue", "2.0"),  # a tie with m-mid
                completion("m-small", "Green", "", ANN),  # empty: computed from annotations, 3.575
            ],
        },
        {
            "prompt_id": "p-c",
            "source": "evol",
            "prompt": prompt("Say hi."),
            "completions": [
                completion("m-small", "hi", "5.0"),
                completion("m-big", "Hello!", "3.0"),
            ],
        },
    ]


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    text_rows = rows(chat_prompts=False)
    with open(OUT / "rows.jsonl", "w") as f:
        for r in text_rows:
            f.write(json.dumps(r) + "\n")
    table = pa.Table.from_pylist(text_rows)
    pq.write_table(table, OUT / "rows.parquet")
    chat = pa.Table.from_pylist(rows(chat_prompts=True))
    with ipc.new_file(OUT / "rows_chat.arrow", chat.schema) as w:
        w.write_table(chat)
    # `datasets`' save_to_disk: IPC streams named in state.json, two shards; scores as floats (what
    # the pipeline stores), null where the text was empty.
    for r in text_rows:
        for c in r["completions"]:
            c["overall_score"] = float(c["overall_score"]) if c["overall_score"] else None
    floats = pa.Table.from_pylist(text_rows)
    d = OUT / "saved"
    d.mkdir(exist_ok=True)
    for i, part in enumerate([floats.slice(0, 2), floats.slice(2)]):
        with ipc.new_stream(d / f"data-0000{i}-of-00002.arrow", part.schema) as w:
            w.write_table(part)
    (d / "state.json").write_text(json.dumps({
        "_data_files": [{"filename": "data-00000-of-00002.arrow"}, {"filename": "data-00001-of-00002.arrow"}],
        "_fingerprint": "fixture",
        "_format_type": None,
    }, indent=2))
    (d / "dataset_info.json").write_text(json.dumps({"description": "activepref fixture"}))


if __name__ == "__main__":
    main()
