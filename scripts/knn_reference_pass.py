#!/usr/bin/env python3
"""The BAL-PM reference's kNN-radius pass alone, for side-by-side timing (never used by tests or CI).

Mirrors specs/balpm.md §4.3 "kNN radius" (reference `utils.find_kth_nearest_dists`): exact
`torch.cdist` without the matmul trick, in chunks of 1,024 rows against the whole unlabelled pool,
float32, then the k-th smallest distance per row (the point itself included) with `topk`, and the
initial counts of labelled prompts within each radius (`utils.compute_nbatch`). The greedy loop's
per-pick work is not included, so this is a lower bound on the reference's selection time.

Usage: knn_reference_pass.py N D [--labelled 320] [--k 13] [--threads T]
Prints one line: `seconds <s> n <N> d <D> threads <T> torch <version>`.
"""
import argparse
import time

import torch


def main():
    p = argparse.ArgumentParser()
    p.add_argument("n", type=int)
    p.add_argument("d", type=int)
    p.add_argument("--labelled", type=int, default=320)
    p.add_argument("--k", type=int, default=13)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    g = torch.Generator().manual_seed(9)
    pool = torch.rand(a.n, a.d, generator=g, dtype=torch.float32)
    lab = torch.rand(a.labelled, a.d, generator=g, dtype=torch.float32)
    t = time.perf_counter()
    radii = []
    for start in range(0, a.n, 1024):
        chunk = pool[start:start + 1024]
        dist = torch.cdist(chunk, pool, compute_mode="donot_use_mm_for_euclid_dist")
        radii.append(torch.topk(dist, a.k, dim=1, largest=False).values[:, -1].double())
    r = torch.cat(radii)
    counts = []
    for start in range(0, a.n, 1024):
        dist = torch.cdist(pool[start:start + 1024], lab, compute_mode="donot_use_mm_for_euclid_dist").double()
        counts.append((dist <= r[start:start + 1024, None]).sum(dim=1))
    torch.cat(counts)
    secs = time.perf_counter() - t
    print(f"seconds {secs:.3f} n {a.n} d {a.d} threads {a.threads} torch {torch.__version__}")


if __name__ == "__main__":
    main()
