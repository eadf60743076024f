"""The IISc chapter, part 1 (seed 002): Table 1 as data and as the claims file prints it, the
MLPs in both frameworks, a small run end to end on real MNIST, its evidence and readings."""

import numpy as np
import pandas as pd
import pytest
import torch

from kdlib import claims
from kdlib.chapters import iisc as chapter
from kdlib.config import ParamError
from kdlib.evidence import Evidence
from kdlib.experiments import iisc
from kdlib.models import iisc_student, iisc_teacher, keras_mlp, n_params
from kdlib.results import Cache

TINY = {"profile": "quick", "n_train": 300, "rows": [1, 7, 9], "seeds": 2, "rounds": 2,
        "latency_calls": 3, "throughput_batch": 16, "train_steps": 2,
        "cifar": False}  # part 2 has its own tests (test_iisc_cifar.py)


def _printed(metric, **at):
    rows = claims.printed("002")["paper"]
    rows = rows[rows["metric"] == metric]
    for k, v in at.items():
        rows = rows[rows[k] == v]
    return rows["value"].tolist()


def test_table1_agrees_with_the_claims_file():
    """TABLE1 (the design and the side-by-side table) and the claims file's printed numbers and
    rows say the same; the seven 300-unit ratios are one network's, at one coordinate."""
    raw = {c.id: c for c in claims.load("002")}
    base = iisc.TABLE1.loc[iisc.BASELINE_ROW, "train_seconds"]
    for row, t in iisc.TABLE1.iterrows():
        assert _printed("test_acc", table=1, row=row) == [t["accuracy"]]
        assert _printed("train_seconds", table=1, row=row) == [t["train_seconds"]]
        assert t["inference_ratio"] in _printed("inference_ratio", table=1, hidden=t["hidden"])
        assert raw[f"row{row}-accuracy"].reported == t["accuracy"]
        ratio = raw[f"row{row}-inference-ratio"]
        assert ratio.reported == t["inference_ratio"]
        assert ratio.at == {"table": 1, "hidden": t["hidden"]}
        timed = raw[f"row{row}-training-time"]
        if row == iisc.BASELINE_ROW:
            assert timed.reported == base and timed.untestable
        else:
            assert timed.reported == pytest.approx(t["train_seconds"] / base, abs=5e-5)
    assert _printed("teacher_acc", table=1) == [iisc.PAPER_TEACHER["accuracy"]]
    assert len(_printed("inference_ratio", table=1, hidden=300)) == 7


def test_rows_printing_one_measurement_share_it():
    """Rows 2-8 of Table 1 print seven ratios of one 300-unit student: one measurement (one
    metric at one coordinate), so the engine groups them and the scorecard counts one test."""
    found = {c.id: c for c in claims.load("002")}
    shared = {found[f"row{r}-inference-ratio"].measurement for r in range(2, 9)}
    assert len(shared) == 1
    assert len({found[f"row{r}-inference-ratio"].measurement for r in (1, 7, 9)}) == 3
    net5 = {found[f"t2-row{r}-inference-ratio"].measurement for r in (5, 7, 8, 9)}
    assert len(net5) == 1


def test_a_misread_ratio_fails_on_the_papers_own_numbers():
    """The seven printed ratios of one network cannot all hold at their printed precision: a
    check that demands it (what a row per printed number, each its own test, would mean) fails
    on the paper's own Table 1; the allowance of the claims file holds there."""
    c = next(c for c in claims.load("002") if c.id == "row2-inference-ratio")
    exact = claims.Claim(**{**c.__dict__, "rel_tolerance": 0.0, "tolerance": 0.0005})
    rows = claims.printed("002")["paper"]
    ev = Evidence.build(pd.concat([rows, rows.assign(run=rows["run"] + 1)]), chapter.REGISTRY,
                        "printed", source_scale=True)
    assert claims.judge(exact, ev).verdict == claims.CONTRA
    assert claims.judge(c, ev).verdict == claims.HOLDS


def test_parameter_counts_in_both_frameworks():
    assert n_params(iisc_teacher()) == 784 * 1200 + 1200 + 1200 * 1200 + 1200 + 1200 * 10 + 10
    for h in (50, 300, 600):
        assert n_params(iisc_student(h)) == 784 * h + h + 10 * h + 10
        assert keras_mlp((h,)).count_params() == n_params(iisc_student(h))
    assert keras_mlp((1200, 1200)).count_params() == n_params(iisc_teacher())


def test_keras_mlp_computes_what_the_torch_mlp_computes():
    torch.manual_seed(0)
    model = iisc_teacher()
    k = keras_mlp((1200, 1200))
    weights = []
    for layer in [*model.hidden, model.out]:
        weights += [layer.weight.detach().t().numpy(), layer.bias.detach().numpy()]
    k.set_weights(weights)
    x = torch.rand(5, 1, 28, 28)
    want = model.eval()(x).detach().numpy()
    got = np.asarray(k(x.permute(0, 2, 3, 1).numpy()))
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("rows", [0, 7], "rows must be a list of integers, each in [1, 9]; got [0, 7]"),
    ("alpha", 1.5, "alpha must be a number in [0, 1]; got 1.5"),
    ("n_train", 70000, "n_train must be an integer in [100, 60000]; got 70000"),
    ("rounds", 1, "rounds must be an integer in [2, 1000]; got 1"),
])
def test_bad_parameters_name_themselves_and_their_range(name, value, message):
    with pytest.raises(ParamError) as e:
        iisc.IiscParams.resolve("quick", **{name: value})
    assert str(e.value) == message


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    cache = Cache(tmp_path_factory.mktemp("cache"))
    return cache, iisc.run(iisc.IiscParams.resolve(**TINY), cache)


def test_a_unit_per_teacher_and_row_then_timing_and_lemmas(first_run):
    cache, r = first_run
    assert len(cache.computed) == 2 + 3 + 2  # teachers (seeds), rows (all seeds), timing, lemmas
    assert sorted(r.students["row"].unique()) == [1, 7, 9]
    assert len(r.students) == 6 and len(r.teachers) == 2
    assert r.students["test_acc"].between(0.5, 1).all()  # 300 images: far above chance
    train = r.training_seconds()
    assert list(train.columns) == [1, 7, 9] and len(train) == 2 and (train > 0).all().all()
    step = r.training.set_index(["round", "row"])["step_seconds"]
    assert train.loc[0, 7] == pytest.approx(step.loc[(0, 7)] * 10 * 3)  # 300/32: 10 steps
    assert set(r.cost["model"]) == {"teacher", "student 50", "student 300", "student 600"}
    assert len(r.latency) == len(r.throughput) == 2 * 4
    ratios = r.ratios()
    assert list(ratios.columns) == ["student 300", "student 50", "student 600"]
    assert (ratios > 0).all().all()


def test_a_second_run_computes_nothing_and_the_numbers_repeat(first_run, tmp_path):
    cache, r = first_run
    again = Cache(cache.root)
    r2 = iisc.run(iisc.IiscParams.resolve(**TINY), again)
    assert again.computed == []
    pd.testing.assert_frame_equal(r.students, r2.students)
    fresh = iisc.run(iisc.IiscParams.resolve(**TINY), Cache(tmp_path / "fresh"), timings=False,
                     lemmas_too=False)  # recomputed from scratch: bit-identical accuracies
    cols = ["seed", "row", "test_acc", "agreement", "kl_to_teacher"]
    pd.testing.assert_frame_equal(r.students[cols], fresh.students[cols])
    pd.testing.assert_series_equal(r.teachers["test_acc"], fresh.teachers["test_acc"])


def test_claims_are_judged_from_the_run(first_run):
    _, r = first_run
    table = claims.evaluate(claims.load("002"), chapter.evidence(r))
    verdict = dict(zip(table["claim"], table["verdict"], strict=True))
    assert set(verdict.values()) <= set(claims.VERDICTS)
    # rows not run cannot be judged; the run's rows can, and absolute ones only at the
    # paper's scale (TINY trains on 300 images, not 60,000)
    assert verdict["row2-accuracy"] == claims.NOT_TESTABLE
    assert verdict["row1-accuracy"] == claims.NOT_COMPARABLE
    assert verdict["row9-training-time"] != claims.NOT_TESTABLE
    assert verdict["row2-inference-ratio"] != claims.NOT_TESTABLE  # 300 units were timed
    assert verdict["lemma1-equality"] == claims.HOLDS  # exact: labels a function of x
    assert verdict["t2-row5-accuracy"] == claims.NOT_TESTABLE  # part 2 not run
    at = dict(zip(table["claim"], table["at"], strict=True))
    assert at["lemma1-small-n"] == "N smallest (N = 10)"  # the run's smallest N, named


def test_the_evidence_derives_its_metrics_per_run(first_run):
    _, r = first_run
    ev = chapter.evidence(r)
    train = r.training_seconds()  # rows: timing rounds
    ratio = ev.per_run("time_vs_baseline", {"table": 1, "row": 9})
    np.testing.assert_allclose(ratio.to_numpy(), (train[9] / train[7]).to_numpy())
    assert ev.per_run("time_vs_baseline", {"table": 1, "row": 2}) is None  # not run
    assert list(ev.curve("train_seconds", {"table": 1}, "row").index) == [1, 7, 9]
    acc = r.students.pivot(index="seed", columns="row", values="test_acc")
    teacher = r.teachers.set_index("seed")["test_acc"]
    np.testing.assert_allclose(ev.per_run("acc_minus_teacher", {"table": 1, "row": 7}),
                               acc[7] - teacher)  # each seed against its own teacher
    np.testing.assert_allclose(ev.per_run("min_student_acc", {"table": 1}), acc.min(axis=1))
    np.testing.assert_allclose(ev.per_run("mean_acc", {"table": 1}), acc.mean(axis=1))
    lat = r.ratios("latency")
    np.testing.assert_allclose(ev.per_run("inference_ratio", {"table": 1, "hidden": 50}),
                               lat["student 50"])
    np.testing.assert_allclose(ev.per_run("min_inference_ratio", {"table": 1}),
                               lat.min(axis=1))
    big = r.lemma1[r.lemma1["n"] == max(r.params["lemma_ns"])].set_index("seed")
    np.testing.assert_allclose(ev.per_run("var_gap", {"n": "largest"}),
                               big["var_empirical"] - big["var_bayes"])
    np.testing.assert_allclose(ev.per_run("rel_bias_bayes", {"n": "largest"}),
                               (big["mean_bayes"] - big["risk"]) / big["risk"])
    scale = ev.table.set_index("metric")["source_scale"]
    assert not scale.loc["test_acc"].any() and scale.loc["inference_ratio"].all()


def test_readings_give_a_verdict_column_each(first_run):
    """With part 2 off, the one reading is how inference is timed: it costs no run (the same
    timing rounds measure images in batches), and its evidence holds the batched ratios."""
    cache, r = first_run
    tables = chapter.claims_tables(r.params, r, cache)
    d = tables["default"]
    assert [c for c in d.columns if c.startswith("verdict: ")] == [
        f"verdict: {chapter.INFERENCE_READING}"]
    assert d["robust"].dtype == bool and tables["primary"] is d
    batched = chapter.evidence(r, kind="throughput")
    np.testing.assert_allclose(batched.per_run("inference_ratio", {"table": 1, "hidden": 50}),
                               r.ratios("throughput")["student 50"])
    same = d[d["claim"].str.endswith("-accuracy")]  # accuracies: the same under both
    assert same["robust"].all()
    card = claims.scorecard(d)
    assert card.loc["002"].sum() < len(d)  # nine printed ratios of three networks: 3 tests
    ratio_groups = d[d["claim"].str.fullmatch(r"row\d-inference-ratio")]["group"]
    assert ratio_groups.nunique() == 3
    assert "inference: batched" in chapter.readings_note(r.params)


def test_nothing_trained_reads_the_test_labels(first_run, tmp_path, shuffle_test_labels):
    """Selection hygiene: no epoch, stopping point or row is chosen here, and the test set
    only judges. Shuffling the test labels changes the accuracies and nothing that training
    made: each student's agreement and KL with its teacher on the test images are identical."""
    _, r = first_run
    shuffle_test_labels(iisc)
    other = iisc.run(iisc.IiscParams.resolve(**TINY), Cache(tmp_path), timings=False,
                     lemmas_too=False)
    cols = ["seed", "row", "agreement", "kl_to_teacher"]
    pd.testing.assert_frame_equal(r.students[cols], other.students[cols])
    assert not np.allclose(r.students["test_acc"], other.students["test_acc"])


def test_chapter_tables_and_text_come_from_the_run(first_run):
    _, r = first_run
    table = chapter.table1(r)
    assert list(table.index) == [1, 7, 9]
    assert table.loc[1, "accuracy: paper"] == "0.9597"
    assert chapter.cost_table(r).loc["student 50", "FLOPs ratio"] == "60.3"
    text = chapter.timing_text(r)
    assert "60x fewer FLOPs" in text and r.machine["cpu"] in text
    c = claims.evaluate(claims.load("002"), chapter.evidence(r))
    words = chapter.discussion(r, c)
    assert "prints 9 inference-time ratios of 3 networks" in words
    assert "are not compared with the paper's" in words  # 300 training images, not 60,000
    tests = int(claims.scorecard(c[~c["claim"].str.startswith("t2-")]).sum().sum())
    assert f"make {tests} independent tests" in words
    for fig in (chapter.accuracy_figure(r), chapter.ratio_figure(r), chapter.lemma1_figure(r),
                chapter.overlap_figure(r), chapter.lemma2_figure(r)):
        assert fig.axes and fig.axes[0].has_data()
    for fig in (chapter.lemma1_figure(r), chapter.lemma2_figure(r)):  # x is N, not a count
        xs = sorted({float(x) for line in fig.axes[0].get_lines() for x in line.get_xdata()})
        assert xs == [float(n) for n in r.params["lemma_ns"]]
    assert "Profile **quick**" in chapter.scale_note(iisc.IiscParams.resolve(**TINY))


def _planned_is_cached(cache, planned):
    """Every planned unit is in the cache, and the cache holds nothing else."""
    from kdlib.units import estimate

    assert {e for e, _ in planned} == {"iisc"}
    units = [u for _, u in planned]
    assert all(cache.has("iisc", u.name, u.params, u.digest) for u in units)
    assert len(list((cache.root / "iisc").glob("*/meta.json"))) == len(units)
    assert all(u.size > 0 for u in units)
    found = estimate(cache, "iisc", units)
    assert (found.units, found.held) == (len(units), len(units))


def test_the_plan_is_what_the_notebook_computes(first_run):
    """The chapter's plan: the main run and both frameworks' comparison (part 2 off: no
    reading retrains), each unit once, exactly the entries those runs leave in the cache."""
    cache, r = first_run
    chapter.compare_frameworks(r.params, cache)
    planned = chapter.plan(r.params)
    assert len(planned) == 2 + 3 + 2 + 2 + 3  # the comparison's torch units are the main run's
    _planned_is_cached(cache, planned)
