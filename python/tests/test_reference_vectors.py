"""Every file of shared/vectors (the picks the public reference code returned), through the Python
package: BAL-PM batches in both feature-shift modes (and through a KnnIndex), and the
ActiveUltraFeedback pair rules in reference mode. The folder is ACTIVEPREF_VECTORS when set, else
../shared/vectors beside the checkout, as for the Rust tests."""

import json
import os
import pathlib

import numpy as np
import pytest

import activepref as ap

ROOT = pathlib.Path(
    os.environ.get("ACTIVEPREF_VECTORS")
    or pathlib.Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors"
)


def files(folder):
    found = sorted((ROOT / folder).glob("*.json"))
    assert found, f"no *.json in {ROOT / folder}; set ACTIVEPREF_VECTORS to the vectors folder"
    return found


@pytest.mark.parametrize("path", files("balpm-reference"), ids=lambda p: p.stem)
def test_balpm_matches_every_reference_vector(path):
    case = json.loads(path.read_text())
    row = {i: r for r, i in enumerate(case["ids"])}
    spec = {
        "policy": "balpm",
        "k": case["k"],
        "beta": case["beta"],
        "d_tilde": case["d_tilde"],
        "eps": case["eps"],
        "feature_shift": "reference" if case["reference_feature_shift"] else "none",
    }
    feats = np.array(case["prompt_features"], dtype=np.float32)
    kw = dict(
        labelled=[row[i] for i in case["labelled_ids"]],
        unlabelled=[row[i] for i in case["pool_ids"]],
        uncertainty=case["bald"],
    )
    picks = ap.select(spec, case["batch_size"], prompt_features=feats, **kw)
    assert [case["ids"][r] for r in picks] == case["expected_picks_in_order"]
    if not case["reference_feature_shift"]:
        for k in (1, 3, case["k"], 64):
            index = ap.KnnIndex(feats, k=k)
            picks = ap.select(spec, case["batch_size"], index=index, **kw)
            assert [case["ids"][r] for r in picks] == case["expected_picks_in_order"], k


RULES = {
    "deltaucb_beta1": {"policy": "deltaucb", "beta": 1.0},
    "deltaucb_beta2": {"policy": "deltaucb", "beta": 2.0},
    "infomax": {"policy": "infomax"},
    "deltaquantile_q0.05": {"policy": "deltaquantile", "beta": 1.0, "quantile": 0.05, "epsilon": 0.0},
    "deltaquantile_q0.2_eps0.05": {"policy": "deltaquantile", "beta": 1.0, "quantile": 0.2, "epsilon": 0.05},
    "maxminlcb_beta1": {"policy": "maxminlcb", "beta": 1.0},
    "maxminlcb_beta2": {"policy": "maxminlcb", "beta": 2.0},
}


@pytest.mark.parametrize("path", files("auf-reference"), ids=lambda p: p.stem)
def test_pair_rules_match_every_reference_vector(path):
    case = json.loads(path.read_text())
    assert set(case["expected"]) <= set(RULES), set(case["expected"]) - set(RULES)
    for key, want in case["expected"].items():
        got = ap.select_pairs(RULES[key], case["mu"], case["sd"], mode="reference").tolist()
        if key == "infomax":
            # Symmetric score: compared unordered (shared/vectors/README.md).
            got, want = [sorted(p) for p in got], [sorted(p) for p in want]
        assert got == want, key
