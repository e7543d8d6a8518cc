"""Scores against hand-computed values, the argument conveniences, determinism across threads,
read_results on a results directory, and one clear exception (never a panic) for every bad input."""

import math
import pathlib

import numpy as np
import pytest

import activepref as ap


def h(p):
    return -(p * math.log(p) + (1 - p) * math.log(1 - p))


def test_scores_equal_hand_computed_values():
    probs = np.array([[0.9, 0.5], [0.1, 0.5]])  # 2 members, 2 rows
    mean = [0.5, 0.5]
    bald = ap.scores("bald", probs=probs)
    # Row 0: H[0.5] − (H[0.9] + H[0.1]) / 2; row 1: members agree, no epistemic uncertainty.
    assert bald[0] == pytest.approx(h(0.5) - h(0.9), rel=1e-12)
    assert bald[1] == pytest.approx(0.0, abs=1e-12)
    assert ap.scores("predictive", probs=probs) == pytest.approx([h(m) for m in mean], rel=1e-12)
    assert ap.scores("aleatoric", probs=probs) == pytest.approx([h(0.9), h(0.5)], rel=1e-12)
    var = ap.scores("variance", probs=probs)
    assert var[1] == pytest.approx(0.0, abs=1e-15) and var[0] > 0.1
    # The three prediction forms agree: logits and rewards (Bradley–Terry: logit = r_a − r_b).
    logits = np.log(probs / (1 - probs))
    assert ap.scores("bald", logits=logits) == pytest.approx(bald, rel=1e-12)
    ra = logits.astype(np.float32)
    assert ap.scores("bald", rewards_a=ra, rewards_b=np.zeros_like(ra)) == pytest.approx(bald, rel=1e-6)


def test_unlabelled_defaults_to_everything_not_labelled():
    rng = np.random.default_rng(0)
    u = rng.random(50)
    picks = ap.select("bald", 5, uncertainty=u, labelled=[int(np.argmax(u))])
    order = [i for i in np.argsort(-u, kind="stable") if i != int(np.argmax(u))]
    assert picks.tolist() == order[:5]


def test_picks_do_not_depend_on_threads_and_follow_the_seed():
    # Large enough that the kNN pass, the scores and BatchBALD's joint entropies split across
    # threads.
    rng = np.random.default_rng(1)
    feats = rng.random((6000, 32), dtype=np.float32)
    feats[3000:] = feats[:3000]  # repeated prompts, as in TL;DR
    probs = rng.uniform(0.05, 0.95, size=(5, 6000))
    index = ap.KnnIndex(feats.astype(np.float64), k=5)  # float64 in, float32 inside
    for spec in ({"policy": "balpm", "k": 5, "beta": 1.0}, "softmax_bald", "batchbald", "power_bald"):
        one = ap.select(spec, 20, prompt_features=feats, probs=probs, seed=3, threads=1)
        two = ap.select(spec, 20, prompt_features=feats, probs=probs, seed=3, threads=2)
        assert one.tolist() == two.tolist()
        if isinstance(spec, dict):
            indexed = ap.select(spec, 20, index=index, probs=probs, seed=3, threads=2)
            assert indexed.tolist() == one.tolist()
    a = ap.select("softmax_bald", 20, probs=probs, seed=3)
    b = ap.select("softmax_bald", 20, probs=probs, seed=4)
    assert a.tolist() != b.tolist()


def test_read_results_reads_every_run_file(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    # A pool run-file header as the CLI wrote it before the stopping and oracle columns
    # (crates/activepref-experiment's pool row schema); read_results takes any extra columns.
    header = (
        "policy,seed,round,labels,test_log_likelihood,test_accuracy,test_brier,ood_log_likelihood,"
        "ood_accuracy,ood_brier,validation_loss,pool_mean_bald,batch_mean_bald,batch_unique_prompts,"
        "batch_size,labelled_unique_prompts\n"
    )
    row = ",-0.55,0.71,0.18,-0.55,0.72,0.18,0.56,0.0096,0.042,39,40,74\n"
    (runs / "bald__seed1.csv").write_text(header + "bald,1,0,40" + row + "bald,1,1,80" + row)
    # The full-dataset line leaves the batch statistics empty, in every row of its file.
    (runs / "full__seed1.csv").write_text(header + "full,1,0,40,-0.5,0.7,0.2,-0.5,0.7,0.2,0.5,,,,,74\n")
    (runs / "random__seed1.csv").write_text(header + "random,1,0,40" + row)
    (runs / "bald__seed1.timings.csv").write_text("round,train_secs\n0,1.0\n")
    (runs / "bald__seed1.prefix.csv").write_text("k,metric\n10,0.5\n")
    df = ap.read_results(tmp_path)
    assert df.shape == (4, 17)
    assert sorted(df["run"].to_list()) == ["bald__seed1", "bald__seed1", "full__seed1", "random__seed1"]
    import polars as pl

    assert df.schema["labels"] == pl.Int64
    assert df.schema["pool_mean_bald"] == pl.Float64
    assert df.schema["policy"] == pl.String
    assert df.filter(pl.col("policy") == "full")["batch_size"].to_list() == [None]
    pdf = ap.read_results(tmp_path, backend="pandas")
    assert list(pdf["labels"]) == [40, 80, 40, 40]
    with pytest.raises(ValueError, match="no run files"):
        ap.read_results(tmp_path / "nothing")


FEATS = np.zeros((10, 3), dtype=np.float32)
U = np.linspace(0.1, 1.0, 10)


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: ap.select("bald", 3, uncertainty=U.reshape(2, 5)), ValueError, "uncertainty: expected shape [pool]"),
        (lambda: ap.select("bald", 3, uncertainty=np.array(["a"] * 10)), TypeError, "uncertainty: expected a float array"),
        (lambda: ap.select("bald", 3, uncertainty=np.where(U > 0.5, np.nan, U)), ValueError, "NaN"),
        (lambda: ap.select("bald", 3, uncertainty=np.array([])), ValueError, "empty"),
        (lambda: ap.select("bald", 11, uncertainty=U), ValueError, "batch: 11"),
        (lambda: ap.select("bald", 0, uncertainty=U), ValueError, "batch"),
        (lambda: ap.select("bald", 2.5, uncertainty=U), TypeError, "batch"),
        (lambda: ap.select("bald", 3, uncertainty=U, labelled=list(range(10))), ValueError, "no unlabelled"),
        (lambda: ap.select("bald", 3, uncertainty=U, labelled=[12]), ValueError, "labelled: index 12"),
        (lambda: ap.select("bald", 3, uncertainty=U, unlabelled=[1, 1]), ValueError, "appears twice"),
        (lambda: ap.select("bald", 3, uncertainty=U, labelled=[1], unlabelled=[1, 2]), ValueError, "also labelled"),
        (lambda: ap.select("bald", 3, uncertainty=U, labelled=[0.5]), TypeError, "labelled"),
        (lambda: ap.select("nope", 3, uncertainty=U), ValueError, "policy"),
        (lambda: ap.select({"policy": "balpm", "kk": 3}, 3, uncertainty=U, prompt_features=FEATS), ValueError, "kk"),
        (lambda: ap.select({"policy": "balpm", "k": 0}, 3, uncertainty=U, prompt_features=FEATS), ValueError, "policy.k"),
        (lambda: ap.select(3, 3, uncertainty=U), TypeError, "policy"),
        (lambda: ap.select("bald", 3), ValueError, "pool size"),
        (lambda: ap.select("bald", 3, uncertainty=U, prompt_features=FEATS[:5]), ValueError, "covers 5"),
        (lambda: ap.select("bald", 3, prompt_features=FEATS), ValueError, "needs an uncertainty"),
        (lambda: ap.select("batchbald", 3, uncertainty=U), ValueError, "batchbald"),
        (lambda: ap.select({"policy": "balpm", "k": 3}, 3, uncertainty=U), ValueError, "needs the prompts"),
        (lambda: ap.select("bald", 3, uncertainty=U, seed=-1), ValueError, "seed"),
        (lambda: ap.select("bald", 3, uncertainty=U, round=-1), ValueError, "round"),
        (lambda: ap.KnnIndex(np.zeros((4, 2), dtype=np.int8).astype(object)), TypeError, "prompt_features"),
        (lambda: ap.KnnIndex(np.zeros(4)), ValueError, "prompt_features: expected shape [pool, d]"),
        (lambda: ap.scores("bald", probs=np.zeros((0, 3))), ValueError, "no member"),
        (lambda: ap.select("bald", 3, probs=np.full((2, 10), 1.0)), ValueError, "strictly between 0 and 1"),
        (lambda: ap.select("bald", 3, probs=np.full((2, 10), 0.5), logits=np.zeros((2, 10))), ValueError, "one form only"),
        (lambda: ap.select("bald", 3, rewards_a=np.zeros((2, 10))), ValueError, "rewards_b"),
        (lambda: ap.select("bald", 3, uncertainty=U, threads=0), ValueError, "threads"),
        (lambda: ap.select("bald", 3, uncertainty=U, threads=10**6), ValueError, "threads: 1000000"),
        (lambda: ap.select("bald", 3, uncertainty=U, threads=-1), ValueError, "threads"),
        (lambda: ap.select("bald", 3, uncertainty=U, threads="2"), TypeError, "threads"),
        (lambda: ap.select({"policy": "balpm", "beta": float("nan")}, 3, uncertainty=U, prompt_features=FEATS), ValueError, "NaN"),
        (lambda: ap.select({"policy": "balpm", "beta": object()}, 3, uncertainty=U, prompt_features=FEATS), TypeError, "policy: parameter value"),
        (lambda: ap.select("bald", 3, uncertainty=U, labelled=np.array([2**63 + 5], dtype=np.uint64)), ValueError, "labelled"),
        (lambda: ap.select({"policy": "balpm", "k": 3}, 3, uncertainty=U, prompt_features=FEATS, index=ap.KnnIndex(np.ones((10, 4)), k=3)), ValueError, "index: built on features of shape [10, 4]"),
        (lambda: ap.select_pair("drts", [1.0, 2.0], [0.1, 0.1], mode=None), TypeError, "mode"),
        (lambda: ap.select_pairs("drts", (m for m in [[1.0, 2.0]])), TypeError, "means"),
        (lambda: ap.select_pairs("drts", [[1.0, 2.0]], [[0.1, 0.1]], threads=5000), ValueError, "threads"),
        (lambda: ap.select("bald", 3, uncertainty=U, index="x"), TypeError, "index"),
        (lambda: ap.select("bald", 3, uncertainty=U, prompt_features=np.full((10, 3), np.inf, dtype=np.float32)), ValueError, "prompt_features"),
        (lambda: ap.KnnIndex(FEATS, k=0), ValueError, "k: 0"),
        (lambda: ap.KnnIndex(np.zeros((0, 3), dtype=np.float32)), ValueError, "at least one row"),
        (lambda: ap.KnnIndex(np.zeros((4, 0), dtype=np.float32)), ValueError, "at least one row"),
        (lambda: ap.scores("entropy", probs=np.full((2, 3), 0.5)), ValueError, "kind"),
        (lambda: ap.scores("bald"), ValueError, "member predictions"),
        (lambda: ap.select_pair("drts", [1.0], [0.1]), ValueError, "at least 2 responses"),
        (lambda: ap.select_pair("maxminlcb", [1.0, 2.0], [0.1, 0.1], rewards=[[1.0, np.nan]]), ValueError, "NaN"),
        (lambda: ap.select_pair("drts", [1.0, 2.0], [0.1, 0.1], prompt=-1), ValueError, "non-negative"),
        (lambda: ap.select_pairs("drts", [[1.0, 2.0]], [[0.1, 0.1]], prompts=[-3]), ValueError, "non-negative"),
        (lambda: ap.select_pair("drts", [1.0, 2.0], [0.1]), ValueError, "std"),
        (lambda: ap.select_pair("drts", [1.0, float("nan")], [0.1, 0.1]), ValueError, "NaN"),
        (lambda: ap.select_pair("drts", [1.0, 2.0], [0.1, -0.1]), ValueError, "negative"),
        (lambda: ap.select_pair("drts", [1.0, 2.0], [0.1, 0.1], mode="fixed"), ValueError, "mode"),
        (lambda: ap.select_pair("static_random", [1.0, 2.0], [0.1, 0.1]), ValueError, "judge scores"),
        (lambda: ap.select_pair({"policy": "deltaucb", "beta": -1}, [1.0, 2.0], [0.1, 0.1]), ValueError, "beta"),
        (lambda: ap.select_pair("drts", [1.0, 2.0]), ValueError, "std"),
        (lambda: ap.select_pairs("drts", []), ValueError, "no prompt"),
        (lambda: ap.select_pairs("drts", [[1.0, 2.0]], [[0.1, 0.1], [0.1, 0.1]]), ValueError, "stds"),
    ],
)
def test_bad_input_is_one_clear_exception(call, error, words):
    with pytest.raises(error) as e:
        call()
    assert words in str(e.value)
    assert "\n" not in str(e.value).strip()


def test_read_summary_reads_the_reports_table(tmp_path):
    # The format of report/summary.csv, as crates/activepref-report's summary_csv test pins it.
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "summary.csv").write_text(
        "metric,title,policy,seeds,final_mean,final_stderr,baseline,reached_labels,saving,saving_low,saving_high,bootstrap_reached\n"
        "m,\"Test LL, final\",random,2,-0.5,0,random,50,0,0,0,1\n"
        "m,\"Test LL, final\",good_one,2,-0.46,0,random,30,0.4,0.4,0.4,1\n"
        "m,\"Test LL, final\",bad,1,-0.8,0,random,,,,,0\n"
    )
    df = ap.read_summary(tmp_path)
    assert df["policy"].to_list() == ["random", "good_one", "bad"]
    assert df["title"][0] == "Test LL, final"
    assert df["reached_labels"].to_list() == [50, 30, None]
    assert df["saving"].to_list() == [0.0, 0.4, None]
    assert list(ap.read_summary(tmp_path, backend="pandas")["seeds"]) == [2, 2, 1]
    with pytest.raises(ValueError, match="activepref report"):
        ap.read_summary(tmp_path / "elsewhere")


def test_knn_index_is_a_class_and_numpy_scalars_are_parameters():
    feats = np.random.default_rng(4).random((30, 3))
    index = ap.KnnIndex(feats, k=np.int64(3))
    assert isinstance(index, ap.KnnIndex)
    assert repr(index) == "KnnIndex(rows=30, dim=3, k=3)"
    u = np.linspace(0.0, 1.0, 30)
    spec = {"policy": "balpm", "k": np.int64(3), "beta": np.float32(1.0), "normalize_entropy": np.bool_(False)}
    plain = {"policy": "balpm", "k": 3, "beta": 1.0, "normalize_entropy": False}
    a = ap.select(spec, 5, uncertainty=u, index=index)
    b = ap.select(plain, 5, uncertainty=u, prompt_features=feats.astype(np.float32))
    assert a.tolist() == b.tolist()
