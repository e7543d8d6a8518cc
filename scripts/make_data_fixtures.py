#!/usr/bin/env python3
"""Writes the small feature and generic-pair fixtures the data tests read, with numpy/pyarrow as the
independent writers (the formats researchers' own tools produce). Values are exact in f16 so every
dtype loads to the same f32 numbers.

    python3 scripts/make_data_fixtures.py   (needs numpy and pyarrow)
"""
import csv
import json
import pathlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

OUT = pathlib.Path("crates/activepref-data/tests/fixtures")

# 4 rows x 3 columns, values exact in float16
M = np.array([[0.5, -1.0, 2.0], [0.25, 0.0, -0.125], [3.0, 1.5, -2.5], [1.0, 0.75, 4.0]])


def features():
    d = OUT / "features"
    d.mkdir(parents=True, exist_ok=True)
    np.save(d / "matrix_f32.npy", M.astype(np.float32))
    np.save(d / "matrix_f64.npy", M.astype(np.float64))
    np.save(d / "matrix_f16.npy", M.astype(np.float16))
    np.save(d / "matrix_fortran.npy", np.asfortranarray(M.astype(np.float32)))
    # BAL-PM hub pair layout: id, 0..2d-1 (chosen features, then rejected features), d = 3
    header = ["id"] + [str(i) for i in range(6)]
    with open(d / "hub_pair.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for i, row in enumerate(M):
            w.writerow([i] + [f"{v:.6f}" for v in row] + [f"{-v:.6f}" for v in row])
    # prompt layout as parquet: id, 0..d-1
    cols = {"id": pa.array(list(range(4)), pa.int64())}
    for j in range(3):
        cols[str(j)] = pa.array(M[:, j].astype(np.float64))
    pq.write_table(pa.table(cols), d / "hub_prompt.parquet")


def pairs():
    d = OUT / "pairs"
    d.mkdir(parents=True, exist_ok=True)
    rows = [
        {"qid": 10, "question": "Name a prime.", "r1": "7", "r2": "8", "winner": "a", "part": "train"},
        {"qid": 10, "question": "Name a prime.", "r1": "9", "r2": "11", "winner": "b", "part": "train"},
        {"qid": 11, "question": "Capital of France?", "r1": "Paris", "r2": "Lyon", "winner": "a", "part": "train"},
        {"qid": 12, "question": "2 + 2?", "r1": "5", "r2": "4", "winner": "b", "part": "valid"},
        {"qid": 13, "question": "Colour of the sky?", "r1": "blue", "r2": "green", "winner": "a", "part": "test"},
    ]
    with open(d / "pairs.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with open(d / "pairs.jsonl", "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    pq.write_table(pa.Table.from_pylist(rows), d / "pairs.parquet")


if __name__ == "__main__":
    features()
    pairs()
    print("wrote fixtures under", OUT)
