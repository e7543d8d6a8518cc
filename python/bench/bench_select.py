"""Selecting 320 of a paper-scale pool (92,858 comparisons x 4,096-d prompt features, the index
built) from Python, to set beside the same call from Rust in the same session:

    python python/bench/bench_select.py            # this side
    activepref bench-knn --brute 2048              # Rust: "indexed selection of 320 (index built)"

Both draw features uniformly from [0, 1), label the first 320 rows, score the rest with U(0, 0.05)
and run BAL-PM at its defaults (k = 13, beta = 0.01), as bench-knn's fixture does. Prints the index
build time, the median of five selections and the CPU model.
"""

import platform
import statistics
import time

import numpy as np

import activepref as ap

POOL, DIM, BATCH = 92_858, 4_096, 320


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


rng = np.random.default_rng(11)
features = rng.random((POOL, DIM), dtype=np.float32)
uncertainty = rng.random(POOL) * 0.05
labelled = np.arange(BATCH)
unlabelled = np.arange(BATCH, POOL)
t = time.perf_counter()
index = ap.KnnIndex(features, k=13)
build = time.perf_counter() - t
times = []
for _ in range(5):
    t = time.perf_counter()
    picks = ap.select(
        "balpm", BATCH, labelled=labelled, unlabelled=unlabelled, uncertainty=uncertainty, index=index
    )
    times.append(time.perf_counter() - t)
assert len(picks) == BATCH
print(f"machine: {cpu_model()}")
print(f"index build ({POOL} x {DIM}): {build:.1f} s")
print(f"python: indexed selection of {BATCH}: median {statistics.median(times):.3f} s over 5 (min {min(times):.3f})")
