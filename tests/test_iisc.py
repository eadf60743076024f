"""The IISc chapter, part 1 (seed 002): Table 1 as data, the MLPs in both frameworks, a small
run end to end on real MNIST."""

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from kdlib import claims
from kdlib.chapters import iisc as chapter
from kdlib.claims import CLAIMS_DIR
from kdlib.config import ParamError
from kdlib.experiments import iisc
from kdlib.models import iisc_student, iisc_teacher, keras_mlp, n_params
from kdlib.results import Cache

TINY = {"profile": "quick", "n_train": 300, "rows": [1, 7, 9], "seeds": 2, "rounds": 2,
        "latency_calls": 3, "throughput_batch": 16, "train_steps": 2,
        "cifar": False}  # part 2 has its own tests (test_iisc_cifar.py)


def test_table1_agrees_with_the_claims_file():
    raw = {c["id"]: c for c in yaml.safe_load((CLAIMS_DIR / "002.yaml").read_text())["claims"]}
    base = iisc.TABLE1.loc[iisc.BASELINE_ROW, "train_seconds"]
    for row, t in iisc.TABLE1.iterrows():
        assert raw[f"row{row}-accuracy"]["reported"] == t["accuracy"]
        assert raw[f"row{row}-inference-ratio"]["reported"] == t["inference_ratio"]
        assert raw[f"row{row}-inference-ratio"]["at"]["hidden"] == t["hidden"]
        timed = raw[f"row{row}-training-time"]
        if row == iisc.BASELINE_ROW:
            assert timed["reported"] == base and timed["untestable"]
        else:
            assert timed["reported"] == pytest.approx(t["train_seconds"] / base, abs=5e-4)
    assert len(claims.load("002")) == len(raw)


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
        iisc.resolve({"profile": "quick", name: value})
    assert str(e.value) == message


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    cache = Cache(tmp_path_factory.mktemp("cache"))
    return cache, iisc.run(iisc.resolve(TINY), cache)


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
    r2 = iisc.run(iisc.resolve(TINY), again)
    assert again.computed == []
    pd.testing.assert_frame_equal(r.students, r2.students)
    fresh = iisc.run(iisc.resolve(TINY), Cache(tmp_path / "fresh"), timings=False,
                     lemmas_too=False)  # recomputed from scratch: bit-identical accuracies
    cols = ["seed", "row", "test_acc", "agreement", "kl_to_teacher"]
    pd.testing.assert_frame_equal(r.students[cols], fresh.students[cols])
    pd.testing.assert_series_equal(r.teachers["test_acc"], fresh.teachers["test_acc"])


def test_claims_are_judged_from_the_run(first_run):
    _, r = first_run
    table = claims.evaluate(claims.load("002"), r)
    verdict = dict(zip(table["claim"], table["verdict"], strict=True))
    assert set(verdict.values()) <= set(claims.VERDICTS)
    # rows not run cannot be judged; the run's rows can
    assert verdict["row2-accuracy"] == "not testable here"
    assert verdict["row1-accuracy"] != "not testable here"
    assert verdict["row2-inference-ratio"] != "not testable here"  # 300 units were timed
    assert verdict["lemma1-equality"] == "holds"  # exact: labels a function of x
    assert verdict["t2-row5-accuracy"] == "not testable here"  # part 2 not run
    ratio = r.values("time_vs_baseline", {"row": 9})
    train = r.training_seconds()
    np.testing.assert_allclose(ratio, (train[9] / train[7]).to_numpy())
    assert r.values("time_vs_baseline", {"row": 2}) is None
    assert list(r.curve("train_speed", {}).index) == [1, 7, 9]  # rows; columns are rounds


def test_chapter_tables_and_text_come_from_the_run(first_run):
    _, r = first_run
    table = chapter.table1(r)
    assert list(table.index) == [1, 7, 9]
    assert table.loc[1, "accuracy: paper"] == "0.9597"
    assert chapter.cost_table(r).loc["student 50", "FLOPs ratio"] == "60.3"
    text = chapter.timing_text(r)
    assert "60x fewer FLOPs" in text and r.machine["cpu"] in text
    c = claims.evaluate(claims.load("002"), r)
    held = (c["claim"].str.endswith("-inference-ratio") & (c["verdict"] == "holds")).sum()
    assert f"{held} of 9 of the paper's ratios reproduce" in chapter.discussion(r, c)
    for fig in (chapter.accuracy_figure(r), chapter.ratio_figure(r), chapter.lemma1_figure(r),
                chapter.overlap_figure(r), chapter.lemma2_figure(r)):
        assert fig.axes and fig.axes[0].has_data()
    for fig in (chapter.lemma1_figure(r), chapter.lemma2_figure(r)):  # x is N, not a count
        xs = sorted({float(x) for line in fig.axes[0].get_lines() for x in line.get_xdata()})
        assert xs == [float(n) for n in r.params["lemma_ns"]]
    assert "Profile **quick**" in chapter.scale_note(iisc.resolve(TINY))


def test_the_text_states_the_tolerances_the_claims_file_uses():
    acc = {c.tolerance for c in claims.load("002") if c.id.endswith("-accuracy")
           and c.id.startswith("row")}
    note = chapter.tolerance_note()
    assert acc == {0.003} and "within 0.003" in note and "within 25%" in note
