"""The poster experiment (seed 004) end to end on a small slice of real MNIST."""

import numpy as np
import pandas as pd
import pytest
import torch

from kdlib import claims
from kdlib.chapters import poster as chapter
from kdlib.config import ParamError
from kdlib.experiments import poster
from kdlib.results import Cache

TINY = {"profile": "quick", "n_train": 300, "temperatures": [1.0, 4.0], "alphas": [0.0, 1.0],
        "epochs": 3, "teacher_epochs": 2, "seeds": 2, "batch_size": 50}


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    cache = Cache(tmp_path_factory.mktemp("cache"))
    return cache, poster.run(poster.resolve(TINY), cache, keras_example=False)


def test_tables_have_a_row_per_seed_cell_and_epoch(first_run):
    cache, r = first_run
    assert len(cache.computed) == 1 + 2  # the teacher, then one unit per seed
    s = r.students
    assert len(s) == 2 * 4 * 3
    assert s["test_acc"].between(0, 1).all() and s["agreement"].between(0, 1).all()
    assert (s["kl_to_teacher"] >= 0).all() and (s["val_loss"] > 0).all()
    assert r.teacher_curve["epoch"].tolist() == [1, 2]
    assert int(r.teacher["parameters"].iloc[0]) == 26_698
    assert r.test_logits[0].shape == (4, 10000, 10)
    grid = r.grid()
    assert len(grid) == 4 and (grid["n"] == 2).all()


def test_a_second_run_computes_nothing_and_equals_the_first(first_run):
    cache, r = first_run
    again = Cache(cache.root)
    r2 = poster.run(poster.resolve(TINY), again, keras_example=False)
    assert again.computed == []
    pd.testing.assert_frame_equal(r.students, r2.students)


def test_alpha_one_students_are_identical_across_temperatures(first_run):
    _, r = first_run
    for seed in r.test_logits:
        assert torch.equal(r.logits(seed, 1.0, 1.0), r.logits(seed, 4.0, 1.0))
    assert "bit-identical" in chapter.alpha_one_check(r)
    assert (r.values("spread", {"alpha": 1.0}) == 0).all()


def test_every_claim_gets_a_verdict(first_run):
    _, r = first_run
    table = claims.evaluate(claims.load("004"), r)
    assert len(table) == len(claims.load("004"))
    assert set(table["verdict"]) <= set(claims.VERDICTS)
    by_id = table.set_index("claim")
    assert by_id.loc["teacher-parameters", "verdict"] == "holds"
    assert by_id.loc["student-parameters", "verdict"] == "holds"
    assert by_id.loc["flat-at-alpha1", "verdict"] == "holds"
    assert by_id.loc["keras-distilled", "verdict"] == "not testable here"  # not run here
    assert by_id.loc["cifar-table", "verdict"] == "not testable here"


def test_fit_and_overfit_epochs_are_read_from_the_validation_curve():
    curve = pd.DataFrame({"epoch": [1, 2, 3, 4, 5],
                          "val_acc": [0.90, 0.955, 0.958, 0.96, 0.959],
                          "val_loss": [0.4, 0.2, 0.15, 0.16, 0.18]})
    assert poster._fit_epoch(curve) == 2  # within 0.005 of the best (0.96)
    assert poster._best_epoch(curve) == 3


def test_an_overfit_epoch_past_the_run_is_not_guessed(first_run):
    _, r = first_run
    teacher = r.teacher_curve.copy()
    teacher["val_loss"] = [0.5, 0.4]  # still falling at the last epoch
    r2 = poster.Results(**{**r.__dict__, "teacher_curve": teacher})
    assert r2.values("best_epoch", {"model": "teacher"}) is None


def test_rank_of_the_named_confusions():
    y = torch.tensor([9] * 10 + [4] * 10 + [5] * 10 + [3] * 10 + [6] * 10 + [0] * 10)
    pred = y.clone()
    pred[:5] = 4   # 9 -> 4: 5 errors
    pred[20:24] = 3  # 5 -> 3: 4 errors
    pred[40:43] = 5  # 6 -> 5: 3 errors
    pred[50:52] = 1  # 0 -> 1: 2 errors
    logits = torch.nn.functional.one_hot(pred, 10).float()
    assert poster._rank_of_pairs(logits, y) == 3
    pred[50:56] = 1  # now 0/1 is the most confused pair
    assert poster._rank_of_pairs(torch.nn.functional.one_hot(pred, 10).float(), y) == 4


def test_as_run_ablation_from_the_main_grid_equals_running_it(tmp_path):
    q = {**TINY, "temperatures": [2.0, 5.0, 9.0], "alphas": [0.0, 0.5, 1.0], "seeds": 1,
         "epochs": 2}
    p = poster.resolve(q)
    cache = Cache(tmp_path)
    main = poster.run(p, cache, keras_example=False)
    table = poster.ablations(p, cache, main=main)
    reused = table[table["variant"] == "as run"].sort_values(["temperature", "alpha"])
    alone = poster.run(poster.ablation_params(p, "as run"), cache, keras_example=False).last
    np.testing.assert_allclose(reused["test_acc"], alone["test_acc"], atol=2e-4)
    assert set(table["variant"]) == set(poster.ABLATIONS)
    few = poster.run(poster.ablation_params(p, "students on 2,000 images"), cache,
                     keras_example=False)
    assert few.teacher_curve.equals(main.teacher_curve)  # the main teacher, from the cache
    assert len(chapter.ablation_table(table)) == len(poster.ABLATIONS)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("temperatures", "0, 2", "temperatures must be a list of numbers, each in (0, 100]"),
    ("split", "random", "split must be one of poster, official"),
    ("dropout", 0.95, "dropout must be a number in [0, 0.9]"),
    ("n_train", 60000, "n_train must be an integer in [100, 50000]"),
    ("teacher_n_train", 1000, "n_train must be in [100, teacher_n_train=1000]; got 2000"),
])
def test_bad_parameters_name_themselves(name, value, message):
    with pytest.raises(ParamError, match=message.replace("(", r"\(").replace("[", r"\[")):
        poster.resolve({"profile": "quick", name: value})


def test_keras_framework_runs_the_same_grid(tmp_path):
    q = {**TINY, "framework": "keras", "n_train": 200, "epochs": 2, "teacher_epochs": 1,
         "seeds": 1, "temperatures": [4.0], "alphas": [0.5, 1.0]}
    r = poster.run(poster.resolve(q), Cache(tmp_path), keras_example=False)
    assert len(r.students) == 2 * 2
    assert (r.students["test_acc"] > 0.12).all()  # above chance after a few steps
    first, last = (r.students[r.students["epoch"] == e].set_index("alpha") for e in (1, 2))
    assert (last["val_loss"] < first["val_loss"]).all()  # and still learning
    assert int(r.teacher["parameters"].iloc[0]) == 26_698


def test_the_classification_report_has_both_models_and_the_accuracy_row(first_run):
    _, r = first_run
    t = chapter.reports(r)
    assert list(t.index[:10]) == list(r.classes) and t.index[-1] == "accuracy"
    assert t.loc["accuracy", ("teacher", "f1")] == f"{r.teacher['test_acc'].iloc[0]:.3f}"
    assert t.loc["accuracy", ("teacher", "precision")] == ""
    assert int(t[("", "support")].iloc[:10].sum()) == 10000
