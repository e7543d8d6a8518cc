"""The Python package picks what the Rust library picks: every pool policy (default parameters,
BAL-PM with and without a kNN index) and every pair rule in both modes, on the seeded inputs of
golden/rust_picks.json, which crates/activepref-acquire/tests/python_golden.rs recomputes from the
library and checks on every `cargo test`."""

import json
import pathlib

import numpy as np
import pytest

import activepref as ap

GOLDEN = json.loads((pathlib.Path(__file__).parent / "golden" / "rust_picks.json").read_text())
POOL = GOLDEN["pool"]


def pool_kwargs(indexed_k=None):
    kw = dict(
        labelled=POOL["labelled"],
        unlabelled=POOL["unlabelled"],
        prompt_ids=POOL["prompt_ids"],
        logits=np.array(POOL["logits"]),
        seed=GOLDEN["seed"],
        round=GOLDEN["round"],
    )
    feats = np.array(POOL["prompt_features"], dtype=np.float32)
    if indexed_k is None:
        kw["prompt_features"] = feats
    else:
        kw["index"] = ap.KnnIndex(feats, k=indexed_k)
    return kw


def test_every_registered_policy_is_in_the_golden_file():
    names = {p["spec"]["policy"] for p in GOLDEN["policies"]}
    assert names == {p["policy"] for p in ap.policies()}
    rules = {r["spec"]["policy"] for r in GOLDEN["pair_rules"]}
    assert rules == {r["policy"] for r in ap.pair_policies()}


@pytest.mark.parametrize(
    "case", GOLDEN["policies"], ids=lambda c: c["spec"]["policy"] + ("-indexed" if c["indexed"] else "")
)
@pytest.mark.parametrize("threads", [1, 2])
def test_pool_picks_equal_the_rust_librarys(case, threads):
    spec = case["spec"]
    k = spec.get("k") if case["indexed"] else None
    if case["picks"] is None:
        # Core-set, BADGE and Fisher read pair features or the model's last layer, which the
        # package does not take: a clear error, never picks.
        with pytest.raises(ValueError, match="needs"):
            ap.select(spec, GOLDEN["batch"], threads=threads, **pool_kwargs(k))
        return
    picks = ap.select(spec, GOLDEN["batch"], threads=threads, **pool_kwargs(k))
    assert picks.dtype == np.int64
    assert picks.tolist() == case["picks"]


@pytest.mark.parametrize("rule", GOLDEN["pair_rules"], ids=lambda r: r["spec"]["policy"])
@pytest.mark.parametrize("mode", ["corrected", "reference"])
def test_pair_picks_equal_the_rust_librarys(rule, mode):
    prompts = GOLDEN["pair_prompts"]
    want = rule[mode]
    for p, (prompt, expected) in enumerate(zip(prompts, want)):
        args = dict(
            rewards=np.array(prompt["rewards"], dtype=np.float32),
            oracle=prompt["oracle"],
            mode=mode,
            seed=GOLDEN["seed"],
            round=GOLDEN["round"],
            prompt=p,
        )
        if expected is None:
            with pytest.raises(ValueError):
                ap.select_pair(rule["spec"], prompt["mean"], prompt["std"], **args)
        else:
            assert list(ap.select_pair(rule["spec"], prompt["mean"], prompt["std"], **args)) == expected
    def batched(threads):
        return ap.select_pairs(
            rule["spec"],
            [p["mean"] for p in prompts],
            [p["std"] for p in prompts],
            rewards=[np.array(p["rewards"]) for p in prompts],
            oracle=[p["oracle"] for p in prompts],
            mode=mode,
            seed=GOLDEN["seed"],
            round=GOLDEN["round"],
            threads=threads,
        )

    if all(e is not None for e in want):
        for threads in (1, 2):
            assert batched(threads).tolist() == want
    else:
        # A failing prompt fails the whole batch, naming the first failing prompt in order.
        first = next(p for p, e in enumerate(want) if e is None)
        for threads in (1, 2):
            with pytest.raises(ValueError, match=f"prompt {first}:"):
                batched(threads)


def test_std_defaults_to_the_members_spread():
    prompt = GOLDEN["pair_prompts"][2]
    rewards = np.array(prompt["rewards"], dtype=np.float32)
    a = ap.select_pair("deltaucb", prompt["mean"], prompt["std"], rewards=rewards)
    b = ap.select_pair("deltaucb", prompt["mean"], rewards=rewards)
    assert a == b
