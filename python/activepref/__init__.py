"""activepref from Python: the acquisition rules of BAL-PM and ActiveUltraFeedback on numpy arrays.

Pool setting (BAL-PM, Melo et al. 2024; specs/balpm.md):

- ``select(policy, batch, ...)`` picks ``batch`` unlabelled comparisons of a pool with any policy of
  the registry (``policies()``): random, bald, rank, sample, softmax_bald, power_bald, softrank_bald,
  sample_then_rank, clustered_rank, balpm (with its ablations), batchbald.
- ``scores(...)`` gives BALD, predictive entropy, expected (aleatoric) entropy or variance per row,
  in nats.
- ``KnnIndex(prompt_features, k)`` is the exact neighbour index BAL-PM's entropy term uses at paper
  scale; build it once per pool and pass it as ``select(..., index=...)``.

Pair setting (ActiveUltraFeedback; specs/activeuf.md):

- ``select_pair(rule, mean, std, ...)`` picks the two responses of one prompt to send to the judge,
  ``select_pairs(...)`` does it for many prompts at once; every rule in ``pair_policies()``, in
  ``mode="corrected"`` (default) or ``"reference"`` (the public code's behaviour, bugs included).

Results: ``read_results(dir)`` reads the run files of a results directory written by the
``activepref`` CLI, ``read_summary(dir)`` its label-efficiency table.

Every function is deterministic: the same inputs and ``seed`` give the same picks as the CLI and
the Rust library, whatever ``threads`` is. Member predictions are given per pool row and member as
probabilities ``probs[m, i] = P(A preferred)``, logits, or the member rewards of both responses
(``rewards_a``, ``rewards_b``; the logit is ``r_a - r_b``, the Bradley-Terry model). Errors are
``TypeError`` (an argument of the wrong type or dtype) or ``ValueError`` (a wrong shape, NaN or
infinity, an index out of range, a bad parameter), each naming the argument.
"""

from __future__ import annotations

import json
import os
from typing import Any, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native

__all__ = [
    "KnnIndex",
    "pair_policies",
    "policies",
    "read_results",
    "read_summary",
    "scores",
    "select",
    "select_pair",
    "select_pairs",
]
__version__ = _native.__version__

Policy = Union[str, Mapping[str, Any]]


MAX_THREADS = 1024


class KnnIndex:
    """The exact kNN index of a pool's prompt features for BAL-PM's entropy term, built once and
    passed to every ``select(..., index=...)`` on that pool (paper scale: 92,858 x 4,096 in about
    6 minutes on 2 cores; then a selection of 320 takes about 0.1 s).

    Args:
        prompt_features: numeric ``[pool, d]`` (converted to float32, as the library stores
            features); bit-identical rows are one prompt.
        k: the largest BAL-PM ``k`` the index will serve.

    Raises:
        TypeError: a non-numeric array or a non-integer ``k``.
        ValueError: a wrong shape, an empty pool, NaN or infinity, or ``k < 1``.
    """

    def __init__(self, prompt_features: Any, k: int = 13) -> None:
        feats = _float_array("prompt_features", prompt_features, 2, np.float32, "[pool, d]")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise TypeError(f"k: expected an int, got {type(k).__name__}")
        if int(k) < 1:
            raise ValueError(f"k: {k} is not at least 1")
        self._native = _native.KnnIndex(feats, int(k))
        self.k = int(k)

    @property
    def rows(self) -> int:
        """Pool rows the index covers."""
        return self._native.rows

    @property
    def dim(self) -> int:
        """Prompt-feature dimension."""
        return self._native.dim

    def __repr__(self) -> str:
        return f"KnnIndex(rows={self.rows}, dim={self.dim}, k={self.k})"


def _float_array(name: str, x: Any, ndim: int, dtype: Any, shape_doc: str) -> np.ndarray:
    """``x`` as a C-contiguous array of ``dtype`` (no copy when it already is one), or a clear
    error."""
    if x is None:
        raise TypeError(f"{name}: expected an array {shape_doc}, got None")
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiu":
        raise TypeError(
            f"{name}: expected a float array {shape_doc}, got dtype {arr.dtype}"
        )
    if arr.ndim != ndim:
        raise ValueError(
            f"{name}: expected shape {shape_doc}, got {arr.ndim}-d shape {arr.shape}"
        )
    return np.ascontiguousarray(arr, dtype=dtype)


def _index_array(name: str, x: Any) -> np.ndarray:
    arr = np.asarray(x if x is not None else [], dtype=None)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected integer pool indices, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected shape [n], got shape {arr.shape}")
    if arr.dtype.kind == "u" and arr.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{name}: index {arr.max()} is far outside any pool")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _check_seed(seed: Any) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed: expected an int, got {type(seed).__name__}")
    if not 0 <= int(seed) < 2**64:
        raise ValueError(f"seed: {seed} is not in 0..2^64")


def _key_array(name: str, keys: Any, count: int) -> np.ndarray:
    """Non-negative integer stream keys ``[count]`` as uint64."""
    arr = np.asarray(keys)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected integers, got dtype {arr.dtype}")
    if arr.shape != (count,):
        raise ValueError(f"{name}: expected shape [{count}], got {arr.shape}")
    if np.any(arr < 0):
        raise ValueError(f"{name}: keys must be non-negative")
    return np.ascontiguousarray(arr, dtype=np.uint64)


def _threads(threads: Any) -> Optional[int]:
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)):
        raise TypeError(f"threads: expected an int or None, got {type(threads).__name__}")
    if not 1 <= int(threads) <= MAX_THREADS:
        raise ValueError(f"threads: {threads} is not between 1 and {MAX_THREADS} (None: all cores)")
    return int(threads)


def _mode(mode: Any) -> str:
    if not isinstance(mode, str):
        raise TypeError(f"mode: expected 'corrected' or 'reference', got {type(mode).__name__}")
    return mode


def _json_value(kind: str):
    def convert(value: Any) -> Any:
        if isinstance(value, np.bool_):
            return bool(value)
        if isinstance(value, np.integer):
            return int(value)
        if isinstance(value, np.floating):
            return float(value)
        raise TypeError(f"{kind}: parameter value {value!r} of type {type(value).__name__} is not a number, string or bool")

    return convert


def _spec(kind: str, policy: Policy) -> str:
    if isinstance(policy, str):
        policy = {"policy": policy}
    if not isinstance(policy, Mapping):
        raise TypeError(
            f"{kind}: expected a name or a dict such as {{'policy': 'balpm', 'k': 13}}, got {type(policy).__name__}"
        )
    try:
        return json.dumps(dict(policy), default=_json_value(kind), allow_nan=False)
    except ValueError:
        raise ValueError(f"{kind}: a parameter is NaN or infinite ({dict(policy)})") from None


def _logits(probs: Any, logits: Any, rewards_a: Any, rewards_b: Any) -> Optional[np.ndarray]:
    """Member-major logits ``[members, rows]`` from whichever form was given (at most one)."""
    given = [n for n, v in (("probs", probs), ("logits", logits), ("rewards_a", rewards_a)) if v is not None]
    if rewards_b is not None and rewards_a is None:
        raise ValueError("rewards_b: give rewards_a too (the logit is rewards_a - rewards_b)")
    if len(given) > 1:
        raise ValueError(f"{' and '.join(given)}: give member predictions in one form only")
    if probs is not None:
        p = _float_array("probs", probs, 2, np.float64, "[members, pool]")
        if not np.all((p > 0.0) & (p < 1.0)):
            raise ValueError("probs: every probability must be strictly between 0 and 1 (and not NaN)")
        return np.ascontiguousarray(np.log(p) - np.log1p(-p))
    if logits is not None:
        return _float_array("logits", logits, 2, np.float64, "[members, pool]")
    if rewards_a is not None:
        if rewards_b is None:
            raise ValueError("rewards_a: give rewards_b too (the logit is rewards_a - rewards_b)")
        a = _float_array("rewards_a", rewards_a, 2, np.float32, "[members, pool]")
        b = _float_array("rewards_b", rewards_b, 2, np.float32, "[members, pool]")
        if a.shape != b.shape:
            raise ValueError(f"rewards_b: shape {b.shape} differs from rewards_a's {a.shape}")
        # f32 rewards, difference in f64: what the Rust ensemble computes.
        return np.ascontiguousarray(a.astype(np.float64) - b.astype(np.float64))
    return None


def _pool_size(name_shapes: Sequence[Tuple[str, Optional[int]]]) -> int:
    sizes = [(n, s) for n, s in name_shapes if s is not None]
    if not sizes:
        raise ValueError(
            "pool: cannot tell the pool size; pass prompt_features, uncertainty or member predictions"
        )
    first = sizes[0]
    for n, s in sizes[1:]:
        if s != first[1]:
            raise ValueError(f"{n}: covers {s} pool rows, but {first[0]} covers {first[1]}")
    return first[1]


def select(
    policy: Policy,
    batch: int,
    *,
    labelled: Any = None,
    unlabelled: Any = None,
    prompt_features: Any = None,
    prompt_ids: Any = None,
    uncertainty: Any = None,
    probs: Any = None,
    logits: Any = None,
    rewards_a: Any = None,
    rewards_b: Any = None,
    index: Optional[KnnIndex] = None,
    seed: int = 0,
    round: int = 0,
    threads: Optional[int] = None,
) -> np.ndarray:
    """Picks ``batch`` unlabelled comparisons of a pool, in pick order.

    Args:
        policy: a policy name (``"bald"``) or a dict of the experiment-file form,
            ``{"policy": "balpm", "k": 13, "beta": 0.01}``; ``policies()`` lists them all with
            their defaults.
        batch: comparisons to pick, 1 to the number unlabelled.
        labelled: int pool indices already labelled ``[n_labelled]`` (BAL-PM's entropy term counts
            their prompts). Default: none.
        unlabelled: int pool indices that may be picked ``[n]``, in tie-break order (on equal
            scores the earlier wins; the random rules also walk it in this order). Default: every
            index not labelled, ascending. A CLI run keeps its pool in a shuffled order; pass that
            order to get its picks.
        prompt_features: float ``[pool, d]`` prompt features (BAL-PM; bit-identical rows are one
            prompt). Not needed with ``index``.
        prompt_ids: int ``[pool]`` prompt id of every row (``clustered_rank``).
        uncertainty: float ``[pool]`` the score each policy ranks by; default: computed from the
            member predictions with the policy's ``score`` (BALD unless set).
        probs / logits / rewards_a + rewards_b: member predictions ``[members, pool]``
            (BatchBALD needs them; one form only).
        index: a ``KnnIndex`` built on this pool's prompt features (its features are used; a
            ``prompt_features`` of another shape is an error).
        seed, round: the random stream, ``rng_for(seed, Policy, [round])`` as in the CLI's loop.
        threads: rayon threads for this call, 1 to 1,024 (default: all cores); picks do not depend
            on it.

    Returns:
        int64 ``[batch]`` pool indices, in pick order.

    Raises:
        TypeError: an argument of the wrong type or dtype.
        ValueError: a wrong shape, NaN or infinity, an index out of range or repeated, an empty
            pool, ``batch`` larger than the unlabelled pool, a bad policy parameter.
    """
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)):
        raise TypeError(f"batch: expected an int, got {type(batch).__name__}")
    _check_seed(seed)
    if int(batch) < 1:
        raise ValueError(f"batch: {batch} is not at least 1")
    round = _round(round)
    spec = _spec("policy", policy)
    feats = None
    if prompt_features is not None:
        feats = _float_array("prompt_features", prompt_features, 2, np.float32, "[pool, d]")
    if index is not None and not isinstance(index, KnnIndex):
        raise TypeError(f"index: expected an activepref.KnnIndex, got {type(index).__name__}")
    if index is not None and feats is not None and feats.shape != (index.rows, index.dim):
        raise ValueError(
            f"index: built on features of shape [{index.rows}, {index.dim}], but prompt_features has shape {list(feats.shape)}"
        )
    u = None
    if uncertainty is not None:
        u = _float_array("uncertainty", uncertainty, 1, np.float64, "[pool]")
    lg = _logits(probs, logits, rewards_a, rewards_b)
    ids = None
    if prompt_ids is not None:
        ids = _index_array("prompt_ids", prompt_ids)
    pool = _pool_size(
        [
            ("prompt_features", None if feats is None else feats.shape[0]),
            ("index", None if index is None else index.rows),
            ("uncertainty", None if u is None else u.shape[0]),
            ("member predictions", None if lg is None else lg.shape[1]),
            ("prompt_ids", None if ids is None else ids.shape[0]),
        ]
    )
    if pool == 0:
        raise ValueError("pool: the pool is empty")
    lab = _index_array("labelled", labelled)
    if unlabelled is None:
        mask = np.ones(pool, dtype=bool)
        mask[lab[(lab >= 0) & (lab < pool)]] = False
        unl = np.flatnonzero(mask).astype(np.int64)
    else:
        unl = _index_array("unlabelled", unlabelled)
    threads = _threads(threads)
    native_index = None if index is None else index._native
    # With an index, its own copy of the features is used (prompt_features only fixes the shape).
    return _native._select(
        spec, int(batch), pool, lab, unl, None if index is not None else feats, ids, u, lg,
        native_index, int(seed), int(round), threads,
    )


def scores(
    kind: str = "bald",
    *,
    probs: Any = None,
    logits: Any = None,
    rewards_a: Any = None,
    rewards_b: Any = None,
) -> np.ndarray:
    """An uncertainty score per row from member predictions ``[members, rows]``.

    ``kind``: ``bald`` (H[p̄] − mean_m H[p_m], the mutual information, in nats), ``predictive``
    (H[p̄], nats), ``aleatoric`` (mean_m H[p_m], nats) or ``variance`` (of the members'
    probabilities, unitless). Returns float64 ``[rows]``. Raises ``ValueError`` for NaN,
    probabilities outside (0, 1), no member or an unknown kind.
    """
    lg = _logits(probs, logits, rewards_a, rewards_b)
    if lg is None:
        raise ValueError("scores: pass member predictions (probs=, logits= or rewards_a= and rewards_b=)")
    return _native._scores(lg, kind)


def _pair_inputs(mean: Any, std: Any, rewards: Any, oracle: Any, n_name: str):
    mu = _float_array("mean", mean, 1, np.float32, f"[{n_name}]")
    n = mu.shape[0]
    members = None
    if rewards is not None:
        members = _float_array("rewards", rewards, 2, np.float32, f"[members, {n_name}]")
        if members.shape[1] != n:
            raise ValueError(f"rewards: expected shape [members, {n}], got {members.shape}")
    if std is None:
        if members is None:
            raise ValueError("std: pass the spread per response, or member rewards to derive it")
        sd = np.ascontiguousarray(
            members.astype(np.float64).std(axis=0, ddof=1 if members.shape[0] > 1 else 0),
            dtype=np.float32,
        )
    else:
        sd = _float_array("std", std, 1, np.float32, f"[{n_name}]")
        if sd.shape[0] != n:
            raise ValueError(f"std: expected shape [{n}], got {sd.shape}")
    orc = None
    if oracle is not None:
        orc = _float_array("oracle", oracle, 1, np.float32, f"[{n_name}]")
        if orc.shape[0] != n:
            raise ValueError(f"oracle: expected shape [{n}], got {orc.shape}")
    return mu, sd, members, orc


def select_pair(
    rule: Policy,
    mean: Any,
    std: Any = None,
    *,
    rewards: Any = None,
    oracle: Any = None,
    mode: str = "corrected",
    seed: int = 0,
    round: int = 0,
    prompt: int = 0,
) -> Tuple[int, int]:
    """The two responses ``(a, b)`` of one prompt to send to the judge.

    Args:
        rule: a rule name (``"drts"``) or a dict ``{"policy": "deltaucb", "beta": 1.0}``;
            ``pair_policies()`` lists them.
        mean: float ``[n]`` predicted mean reward per response (n ≥ 2).
        std: float ``[n]`` predicted spread per response; default: the members' standard deviation
            (ddof 1) of ``rewards``.
        rewards: float ``[members, n]`` per-member rewards (member-based Thompson draws,
            MaxMinLCB's per-member spread).
        oracle: float ``[n]`` judge scores (the static baselines only).
        mode: ``"corrected"`` or ``"reference"``.
        seed, round, prompt: the random stream ``rng_for(seed, Policy, [round, prompt])``: the pair
            loop's stream for the ``prompt``-th prompt of batch ``round``.

    Returns ``(a, b)``, two response indices; ``a != b`` in corrected mode.

    Raises:
        TypeError: a non-numeric array, a non-string ``mode`` or a non-integer ``seed``/``round``/
            ``prompt``.
        ValueError: fewer than 2 responses, shapes that disagree, NaN or infinity, a negative
            spread, a bad rule parameter, an unknown mode, or a reference-mode rule that fails
            (its message says why).
    """
    _check_seed(seed)
    keys = _key_array("prompt", [prompt], 1)
    parts = [_pair_inputs(mean, std, rewards, oracle, "n")]
    (a, b), = _pairs(rule, parts, keys, mode, seed, round, None)
    return int(a), int(b)


def select_pairs(
    rule: Policy,
    means: Sequence[Any],
    stds: Optional[Sequence[Any]] = None,
    *,
    rewards: Optional[Sequence[Any]] = None,
    oracle: Optional[Sequence[Any]] = None,
    mode: str = "corrected",
    seed: int = 0,
    round: int = 0,
    prompts: Optional[Sequence[int]] = None,
    threads: Optional[int] = None,
) -> np.ndarray:
    """``select_pair`` for many prompts at once, in parallel: int64 ``[prompts, 2]``.

    ``means[p]`` (and ``stds[p]``, ``rewards[p]`` ``[members, n_p]``, ``oracle[p]``) hold prompt
    ``p``'s responses; prompts may have different numbers of responses. ``prompts[p]`` is prompt
    ``p``'s key in the random stream (default ``p``, its position in the batch, as in the pair
    loop), so ``select_pairs(...)[p]`` equals ``select_pair(..., round=round, prompt=prompts[p])``.
    Raises ``ValueError`` naming the first prompt (in order) whose rule fails.
    """
    def sequence(name: str, seq: Any) -> Any:
        if seq is not None and not hasattr(seq, "__len__"):
            raise TypeError(f"{name}: expected a list with one entry per prompt, got {type(seq).__name__}")
        return seq

    means = sequence("means", means)
    if means is None:
        raise TypeError("means: expected a list with one entry per prompt, got None")
    k = len(means)
    if k == 0:
        raise ValueError("means: no prompt given")
    for name, seq in (("stds", stds), ("rewards", rewards), ("oracle", oracle), ("prompts", prompts)):
        if sequence(name, seq) is not None and len(seq) != k:
            raise ValueError(f"{name}: {len(seq)} entries for {k} prompts")
    parts = [
        _pair_inputs(
            means[p],
            None if stds is None else stds[p],
            None if rewards is None else rewards[p],
            None if oracle is None else oracle[p],
            f"n_{p}",
        )
        for p in range(k)
    ]
    _check_seed(seed)
    keys = np.arange(k, dtype=np.uint64) if prompts is None else _key_array("prompts", prompts, k)
    return _pairs(rule, parts, keys, mode, seed, round, threads)


def _pairs(rule: Policy, parts: list, keys: np.ndarray, mode: Any, seed: int, round: Any, threads: Any) -> np.ndarray:
    """One pair per prompt, int64 ``[prompts, 2]``: ``parts`` holds each prompt's checked
    ``_pair_inputs`` (members and oracle given for all prompts or none), ``keys`` their uint64
    stream keys; the prompts are concatenated with their offsets for the native call."""
    offsets = np.zeros(len(parts) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([part[0].shape[0] for part in parts])
    members = None
    if parts[0][2] is not None:
        counts = {part[2].shape[0] for part in parts}
        if len(counts) != 1:
            raise ValueError(f"rewards: every prompt needs the same number of members, got {sorted(counts)}")
        members = np.ascontiguousarray(np.concatenate([part[2] for part in parts], axis=1))
    oracle = None
    if parts[0][3] is not None:
        oracle = np.ascontiguousarray(np.concatenate([part[3] for part in parts]))
    out = _native._select_pairs(
        _spec("rule", rule),
        _mode(mode),
        np.ascontiguousarray(np.concatenate([part[0] for part in parts])),
        np.ascontiguousarray(np.concatenate([part[1] for part in parts])),
        offsets,
        np.ascontiguousarray(keys),
        members,
        oracle,
        int(seed),
        _round(round),
        _threads(threads),
    )
    return out.reshape(len(parts), 2)


def _round(round: Any) -> int:
    if isinstance(round, bool) or not isinstance(round, (int, np.integer)):
        raise TypeError(f"round: expected an int, got {type(round).__name__}")
    if int(round) < 0:
        raise ValueError(f"round: {round} is negative")
    return int(round)


def policies() -> list:
    """Every pool policy with its default parameters (the dicts ``select`` takes)."""
    return json.loads(_native._policies())


def pair_policies() -> list:
    """Every pair rule with its default parameters (the dicts ``select_pair`` takes)."""
    return json.loads(_native._pair_policies())


def read_results(directory: Union[str, os.PathLike], backend: str = "polars"):
    """The run files of a results directory (``results/<name>``) as one DataFrame.

    Reads every run file the CLI wrote, ``runs/<label>__seed<N>.csv`` (one row per round of each
    (policy, seed) run; the columns are the run file's, plus ``run``, the file's stem), and nothing
    else of the folder (timings, prefix evaluations and state files are left out). Numeric columns
    come back numeric even where a run leaves them empty (the ``full_dataset`` line has no batch
    statistics). ``backend``: ``"polars"`` (default) or ``"pandas"``; whichever is asked for must
    be installed (it is not a dependency). ``read_summary`` reads the report's label-efficiency
    table.

    Raises ``ValueError`` when the directory holds no run file or ``backend`` is unknown.
    """
    import glob
    import re

    if backend not in ("polars", "pandas"):
        raise ValueError(f"backend: `{backend}` is not polars or pandas")
    run_file = re.compile(r"^.+__seed\d+\.csv$")
    runs = sorted(
        r for r in glob.glob(os.path.join(os.fspath(directory), "runs", "*.csv"))
        if run_file.match(os.path.basename(r))
    )
    if not runs:
        raise ValueError(
            f"{directory}: no run files under runs/; point read_results at a directory the activepref CLI wrote (results/<name>)"
        )
    names = [os.path.basename(r)[: -len(".csv")] for r in runs]
    if backend == "pandas":
        import pandas as pd

        return pd.concat([pd.read_csv(r).assign(run=n) for r, n in zip(runs, names)], ignore_index=True)
    import polars as pl

    # Read as text, then give each column the narrowest type every value fits: a column that is
    # empty in one file and numeric in another must not become a string column.
    frame = pl.concat(
        [pl.read_csv(r, infer_schema=False).with_columns(pl.lit(n).alias("run")) for r, n in zip(runs, names)],
        how="diagonal",
    )
    for column in frame.columns:
        for dtype in (pl.Int64, pl.Float64):
            try:
                frame = frame.with_columns(pl.col(column).cast(dtype, strict=True))
                break
            except pl.exceptions.PolarsError:
                continue
    return frame


def read_summary(directory: Union[str, os.PathLike], backend: str = "polars"):
    """The label-efficiency table of a results directory's report (``report/summary.csv``, written
    by ``activepref run`` and ``activepref report``) as a DataFrame: one row per (metric, policy)
    with the metric's column name and title, the final smoothed seed-mean and its standard error,
    the baseline, the labelled-set size at which the policy reaches the baseline's final value and
    the saving as a fraction (null when not reached), and the bootstrap interval of the saving.

    Raises ``ValueError`` when the directory has no ``report/summary.csv`` (reports made before it
    existed: run ``activepref report <dir>`` again) or ``backend`` is unknown.
    """
    if backend not in ("polars", "pandas"):
        raise ValueError(f"backend: `{backend}` is not polars or pandas")
    path = os.path.join(os.fspath(directory), "report", "summary.csv")
    if not os.path.isfile(path):
        raise ValueError(
            f"{path}: no summary table; run `activepref report {os.fspath(directory)}` to write it"
        )
    if backend == "pandas":
        import pandas as pd

        return pd.read_csv(path)
    import polars as pl

    return pl.read_csv(
        path,
        schema_overrides={
            "reached_labels": pl.Int64,
            "saving": pl.Float64,
            "saving_low": pl.Float64,
            "saving_high": pl.Float64,
            "bootstrap_reached": pl.Float64,
        },
    )
