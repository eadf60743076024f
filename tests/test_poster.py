"""The poster experiment (seed 004) end to end on a small slice of real MNIST, and its evidence
for the claims: derived metrics, choices made on validation, readings, the poster's own numbers."""

import numpy as np
import pandas as pd
import pytest
import torch

from kdlib import claims
from kdlib.chapters import poster as chapter
from kdlib.config import ParamError
from kdlib.evidence import Evidence
from kdlib.experiments import poster
from kdlib.results import Cache

TINY = {"profile": "quick", "n_train": 300, "temperatures": [1.0, 2.0, 10.0],
        "alphas": [0.0, 0.5, 1.0], "epochs": 3, "teacher_epochs": 2, "seeds": 2,
        "batch_size": 50}


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    cache = Cache(tmp_path_factory.mktemp("cache"))
    return cache, poster.run(poster.resolve(TINY), cache, keras_example=False)


def test_tables_have_a_row_per_seed_cell_and_epoch(first_run):
    cache, r = first_run
    assert len(cache.computed) == 2 + 2  # a teacher per seed, then one unit per seed
    s = r.students
    assert len(s) == 2 * 9 * 3
    for col in ("test_acc", "val_acc", "agreement", "val_agreement", "agreement_alone"):
        assert s[col].between(0, 1).all(), col
    assert (s["kl_to_teacher"] >= 0).all() and (s["val_kl"] >= 0).all()
    assert (s["val_loss"] > 0).all()
    assert r.teacher["teacher_seed"].tolist() == [0, 1] and r.teacher["seed"].tolist() == [0, 1]
    assert r.teacher_curve.groupby("seed")["epoch"].apply(list).tolist() == [[1, 2], [1, 2]]
    assert (r.teacher["parameters"] == 26_698).all()
    assert r.test_logits[0].shape == (9, 10000, 10)
    assert len(r.confusion) == 2 * 3 * 100  # the student alone's, per seed and epoch
    per = r.confusion.groupby(["seed", "epoch"])["count"].sum()
    assert (per == 10000).all()
    grid = r.grid()
    assert len(grid) == 9 and (grid["n"] == 2).all()


def test_each_seed_distils_from_its_own_teacher(first_run):
    _, r = first_run
    last = r.last
    for seed in (0, 1):
        row = last[(last["seed"] == seed) & (last["temperature"] == 2.0)
                   & (last["alpha"] == 0.5)].iloc[0]
        logits = r.logits(seed, 2.0, 0.5)
        ours = (logits.argmax(-1) == r.teacher_test[seed].argmax(-1)).double().mean()
        assert row["agreement"] == pytest.approx(float(ours))
    assert not torch.equal(r.teacher_test[0], r.teacher_test[1])


def test_a_second_run_computes_nothing_and_equals_the_first(first_run):
    cache, r = first_run
    again = Cache(cache.root)
    r2 = poster.run(poster.resolve(TINY), again, keras_example=False)
    assert again.computed == []
    pd.testing.assert_frame_equal(r.students, r2.students)


def test_alpha_one_students_are_identical_across_temperatures(first_run):
    _, r = first_run
    for seed in r.test_logits:
        assert torch.equal(r.logits(seed, 1.0, 1.0), r.logits(seed, 10.0, 1.0))
    assert "bit-identical" in chapter.alpha_one_check(r)
    ev = chapter.evidence(r)
    assert (ev.per_run("t_spread", {"alpha": 1.0}) == 0).all()
    assert (ev.per_run("alpha1_agreement", {}) == 1).all()


def test_the_evidence_derives_its_metrics_per_seed(first_run):
    _, r = first_run
    ev = chapter.evidence(r)
    last = r.last.rename(columns={"seed": "run"})
    poster_grid = last[last["temperature"] <= 10]
    assert (ev.per_run("grid_min", {}) == poster_grid.groupby("run")["test_acc"].min()).all()
    assert (ev.per_run("grid_max", {}) == poster_grid.groupby("run")["test_acc"].max()).all()
    acc = last.set_index(["run", "temperature", "alpha"])["test_acc"]
    alone = acc.xs((1.0, 1.0), level=["temperature", "alpha"])
    assert (ev.per_run("test_acc", {"model": "student alone"}) == alone).all()
    drop = ev.per_run("t_drop", {"alpha": 0.5})
    assert (drop == acc.xs((2.0, 0.5), level=["temperature", "alpha"])
            - acc.xs((10.0, 0.5), level=["temperature", "alpha"])).all()
    gap = ev.per_run("alpha_drop", {"temperature": 2.0})
    assert (gap == acc.xs((2.0, 0.5), level=["temperature", "alpha"])
            - acc.xs((2.0, 0.0), level=["temperature", "alpha"])).all()
    # the distilled cell each seed chose on validation, against the alone and the teacher
    dist = last[(last["alpha"] < 1) & (last["temperature"] <= 10)]
    chosen = dist.loc[dist.groupby("run")["val_acc"].idxmax()].set_index("run")["test_acc"]
    assert np.allclose(ev.per_run("alone_minus_distilled", {}), alone - chosen)
    teacher = r.teacher.set_index("seed")["test_acc"]
    assert np.allclose(ev.per_run("teacher_minus_distilled", {}), teacher - chosen)
    assert ev.per_run("teacher_minus_distilled", {}).index.tolist() == [0, 1]
    assert (ev.table.loc[ev.table["metric"] == "params", "value"].tolist()
            == [26_698.0, 25_450.0])
    assert (ev.per_run("support_mismatch", {}) == 0).all()  # the pooled stratified split


def _cells(rows):
    """Synthetic evidence rows for grid cells of one run: (T, alpha, val_acc, test_acc)."""
    out = []
    for t, a, val, test in rows:
        coords = {"model": "student", "temperature": t, "alpha": a}
        out += [{"metric": "val_acc", **coords, "run": 0, "value": val},
                {"metric": "test_acc", **coords, "run": 0, "value": test},
                {"metric": "val_agreement", **coords, "run": 0, "value": val},
                {"metric": "agreement", **coords, "run": 0, "value": test}]
    return out


def test_choices_are_made_on_validation_not_test():
    """Cell A is best on validation, cell B on test: every chosen quantity takes A. Had the
    test set chosen, alone - distilled would be 0.90 - 0.95 instead of 0.90 - 0.50."""
    rows = _cells([(2.0, 0.0, 0.90, 0.50), (2.0, 0.5, 0.80, 0.95), (5.0, 0.5, 0.70, 0.99),
                   (2.0, 1.0, 0.85, 0.90), (5.0, 1.0, 0.85, 0.90)])
    rows += [{"metric": "test_acc", "model": "student alone", "run": 0, "value": 0.90},
             {"metric": "test_acc", "model": "teacher", "run": 0, "value": 0.98}]
    ev = Evidence.build(rows, chapter.REGISTRY, "synthetic")
    assert ev.per_run("alone_minus_distilled", {}).iloc[0] == pytest.approx(0.40)
    assert ev.per_run("teacher_minus_distilled", {}).iloc[0] == pytest.approx(0.48)
    assert ev.rows("alone_minus_distilled", {})["chosen"].iloc[0] == "T=2/alpha=0"
    # per temperature the alpha < 1 chosen on validation; per alpha the temperature
    assert ev.per_run("best_alpha_acc", {"temperature": 2.0}).iloc[0] == pytest.approx(0.50)
    assert ev.per_run("best_t_acc", {"alpha": 0.5}).iloc[0] == pytest.approx(0.95)
    # the most faithful student is the one with the best validation agreement (cell A)
    assert ev.per_run("disagreement_gap", {}).iloc[0] == pytest.approx((1 - 0.50) - (1 - 0.98))


def test_the_best_validation_epoch_reading_picks_each_cells_least_validation_loss(first_run):
    _, r = first_run
    best = chapter.student_rows(r, "best")
    assert len(best) == 2 * 9
    for rec in best.to_dict("records"):
        curve = r.students[(r.students["seed"] == rec["seed"])
                           & (r.students["temperature"] == rec["temperature"])
                           & (r.students["alpha"] == rec["alpha"])]
        assert rec["val_loss"] == curve["val_loss"].min()
    assert (chapter.student_rows(r, "keras")["epoch"] == 3).all()
    with pytest.raises(ValueError, match="rule must be one of"):
        chapter.student_rows(r, "test")


def test_every_claim_gets_a_verdict_under_every_reading(first_run):
    _, r = first_run
    tables = chapter.claims_tables(r.params, r)
    table = tables["default"]
    assert tables["primary"] is table
    assert len(table) == len(claims.load("004"))
    assert [c for c in table.columns if c.startswith("verdict: ")] == [
        f"verdict: {n}" for n in chapter.READINGS]
    assert table["robust"].dtype == bool
    assert set(table["verdict"]) <= set(claims.VERDICTS)
    by_id = table.set_index("claim")
    for holds in ("teacher-parameters", "student-parameters", "teacher-compressed",
                  "student-is-teacher-without-convolutions", "test-set-supports",
                  "flat-at-alpha1", "alpha1-same-argmax"):
        assert by_id.loc[holds, "verdict"] == claims.HOLDS, holds
    # 300 images and 3 epochs are not the poster's scale: its absolute numbers wait
    for absolute in ("teacher-accuracy", "student-accuracy", "grid-lowest", "teacher-good-fit"):
        assert by_id.loc[absolute, "verdict"] == claims.NOT_COMPARABLE, absolute
    assert by_id.loc["keras-distilled", "verdict"] == claims.NOT_TESTABLE  # not run here
    assert by_id.loc["cho-hariharan-table", "verdict"] == claims.NOT_TESTABLE
    assert by_id.loc["search-space", "verdict"] == claims.NOT_TESTABLE  # no T above 10
    assert "chosen on validation" in by_id.loc["distilled-worse-than-alone", "at"]
    # the two parameter rows about one gap are one measurement: counted once
    card = claims.scorecard(table)
    assert card.loc["004"].sum() == len(table) - 1


def test_scale_the_default_profile_is_at_the_posters_and_quick_is_not():
    default = poster.resolve({"profile": "default"})
    assert chapter._student_scale(default) and chapter._teacher_curve_scale(default)
    quick = poster.resolve({"profile": "quick"})
    assert not chapter._student_scale(quick)
    verdict = {p.profile: chapter._student_scale(p) and chapter._teacher_curve_scale(p)
               for p in (quick, default)}
    assert verdict == {"quick": False, "default": True}  # the note's glued scale_verdict


def test_one_teacher_for_every_seed_gives_one_teacher_run(tmp_path):
    q = {**TINY, "teacher_per_seed": False, "temperatures": [2.0], "alphas": [0.5, 1.0],
         "epochs": 2}
    r = poster.run(poster.resolve(q), Cache(tmp_path), keras_example=False)
    assert len(r.teacher) == 1 and torch.equal(r.teacher_logits(1), r.teacher_logits(0))
    ev = chapter.evidence(r)
    assert len(ev.per_run("test_acc", {"model": "teacher"})) == 1
    assert len(ev.per_run("teacher_minus_distilled", {})) == 2  # one teacher, two seeds


def test_fit_and_overfit_epochs_are_read_from_the_validation_curve():
    curve = pd.DataFrame({"epoch": [1, 2, 3, 4, 5],
                          "val_acc": [0.90, 0.955, 0.958, 0.96, 0.959],
                          "val_loss": [0.4, 0.2, 0.15, 0.16, 0.18]})
    assert poster._fit_epoch(curve) == 2  # within 0.005 of the best (0.96)
    assert poster._best_epoch(curve) == 3


def test_an_overfit_epoch_past_the_run_is_not_guessed(first_run):
    _, r = first_run
    teacher = r.teacher_curve.copy()
    teacher["val_loss"] = [0.4, 0.5, 0.5, 0.3]  # seed 1 still falls at its last epoch
    r2 = poster.Results(**{**r.__dict__, "teacher_curve": teacher})
    ev = chapter.evidence(r2)
    assert ev.per_run("best_epoch", {"model": "teacher"}) is None
    assert len(ev.per_run("fit_epoch", {"model": "teacher"})) == 2


POSTER_TEACHER = claims.printed("004")["confusion-matrices"]


def _matrix(model):
    rows = POSTER_TEACHER[POSTER_TEACHER["model"] == model]
    m = np.zeros((10, 10), dtype=int)
    m[rows["actual"], rows["predicted"]] = rows["value"]
    return m


def test_rank_of_the_named_confusions():
    m = np.zeros((10, 10), dtype=int)
    m[9, 4], m[5, 3], m[6, 5], m[0, 1] = 5, 4, 3, 2
    assert poster.rank_of_pairs(m) == 3
    m[0, 1] = 6  # now 0/1 is the most confused pair
    assert poster.rank_of_pairs(m) == 4
    m[0, 1] = 3  # tied with 6/5: tied pairs share a rank
    assert poster.rank_of_pairs(m) == 3


def test_the_confusion_claim_is_read_so_that_it_holds_on_the_posters_matrices():
    """Read model by model, the poster's own teacher ranks sixes and fives 4th, so the
    sentence is read over both models' errors together, where the named pairs are the top 3."""
    teacher, student = _matrix("teacher"), _matrix("student alone")
    assert teacher.trace() == 9843 and student.trace() == 9633  # its 98.4% and 96.3%
    assert list(teacher.sum(axis=1)) == list(chapter.POSTER_SUPPORT)
    assert poster.rank_of_pairs(teacher) == 4 and poster.rank_of_pairs(student) == 3
    assert poster.rank_of_pairs(teacher + student) == 2


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
    shown = chapter.ablation_table(table, p)
    assert len(shown) == len(poster.ABLATIONS)
    assert shown.loc["official split", "teacher"].endswith("(one teacher)")
    assert (shown["verdict"] == "one seed: cannot tell").all()
    # each variant's distilled cell is the one with the best validation accuracy
    part = table[(table["variant"] == "wider student (128 units)") & (table["alpha"] < 1)]
    best = part.loc[part["val_acc"].idxmax()]
    assert shown.loc["wider student (128 units)", "distilled cell chosen on validation"] == (
        f"T={best['temperature']:g}/alpha={best['alpha']:g} (1 seed)")


@pytest.mark.parametrize(("name", "value", "message"), [
    ("temperatures", "0, 2", "temperatures must be a list of numbers, each in (0, 100]"),
    ("split", "random", "split must be one of poster, official"),
    ("dropout", 0.95, "dropout must be a number in [0, 0.9]"),
    ("n_train", 60000, "n_train must be an integer in [100, 50000]"),
    ("teacher_n_train", 1000, "n_train must be in [100, teacher_n_train=1000]; got 2000"),
    ("teacher_per_seed", "yes", "teacher_per_seed must be a boolean"),
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
    assert r.students["val_agreement"].between(0, 1).all()


def test_the_classification_report_has_both_models_and_the_accuracy_row(first_run):
    _, r = first_run
    t = chapter.reports(r)
    assert list(t.index[:10]) == list(r.classes) and t.index[-1] == "accuracy"
    assert t.loc["accuracy", ("teacher", "f1")] == f"{r.teacher['test_acc'].mean():.3f}"
    assert t.loc["accuracy", ("teacher", "precision")] == ""
    assert int(t[("", "support")].iloc[:10].sum()) == 10000


def test_the_chapters_tables_are_markdown(first_run):
    from kdlib import tables

    _, r = first_run
    for df, index in ((chapter.teacher_table(r), False), (chapter.reports(r), True)):
        widths, text = tables.markdown(df, index=index).split("\n\n", 1)
        assert widths.startswith("```{tabularcolumns}") and text.startswith("| ")


def test_a_unit_is_keyed_on_its_sections_only():
    """The teacher's key ignores the students' sections (so the ablations and the framework
    comparison share the main run's teachers); the students' key holds their teacher's."""
    from types import SimpleNamespace

    from kdlib.units import Ref

    def keys(p):
        teachers, students = poster.units(p, SimpleNamespace(digest="d"))
        refs = [Ref(u, {}) for u in teachers]
        return [u.params for u in teachers], [u.params for u in students(refs)]

    base = poster.resolve(TINY)
    teachers, students = keys(base)
    assert [t["seed"] for t in teachers] == [0, 1]
    for name, value in (("hidden", 64), ("n_train", 200), ("epochs", 1), ("alphas", [0.5])):
        t2, s2 = keys(base.replace(**{name: value}))
        assert t2 == teachers and s2 != students, name
    for name, value in (("teacher_epochs", 1), ("teacher_n_train", 1000), ("dropout", 0.1),
                        ("split_seed", 1), ("batch_size", 16), ("threads", 1)):
        t2, s2 = keys(base.replace(**{name: value}))
        assert t2 != teachers and all(a != b for a, b in zip(s2, students, strict=True)), name
    t2, s2 = keys(base.replace(teacher_per_seed=False))
    assert [t["seed"] for t in t2] == [0] and s2[0] == students[0] and s2[1] != students[1]
    assert keys(base.replace(executor="ray", data_dir="/elsewhere")) == (teachers, students)


def test_variants_are_validated_replacements():
    p = poster.resolve(TINY)
    q = poster.ablation_params(p, "students on 2,000 images")
    assert q["n_train"] == 300 and q["temperatures"] == poster.ABLATION_TEMPERATURES  # <= main
    assert poster.ablation_params(p, "official split").sweep.teacher_per_seed is False
    c = poster.comparison_params(p, "keras")
    assert (c["framework"], c["teacher_epochs"], c["alphas"]) == ("keras", 2, [0.5, 1.0])
    assert p.replace(temperatures=[5.0, 1.0, 5.0])["temperatures"] == [1.0, 5.0]


def test_a_keras_teacher_does_not_depend_on_what_ran_before_it():
    """Regression: the Keras teacher was built before its seed was set, so its initial weights
    came from the process's random state (two fresh processes gave two teachers)."""
    import random

    from kdlib.data import Dataset

    rng = np.random.default_rng(0)
    ds = Dataset("fake", rng.integers(0, 255, (10_100, 28, 28, 1), dtype=np.uint8),
                 rng.integers(0, 10, 10_100), rng.integers(0, 255, (50, 28, 28, 1),
                                                          dtype=np.uint8),
                 rng.integers(0, 10, 50), tuple("0123456789"), "fake", "made here")
    p = poster.PosterParams.resolve("quick", framework="keras", split="official",
                                    teacher_n_train=100, n_train=100, teacher_epochs=1)
    weights = []
    for state in (1, 2):
        random.seed(state)
        np.random.seed(state)
        e = poster.train_teacher(p.mnist, p.networks, p.fit, p.teacher, 0, ds)
        weights.append(e["weights"])
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_the_plan_is_exactly_what_the_notebook_computes(first_run):
    """After the notebook's run functions (the main run with the Keras example, the ablations,
    the framework comparison), the cache holds exactly the plan's units, and the estimate says
    all are in it."""
    from kdlib.units import estimate

    cache, r = first_run
    p = poster.resolve(TINY)
    poster.run_keras_example(p, cache)
    poster.ablations(p, cache, main=r)
    poster.compare_frameworks(p, cache)
    held = {(e, m.parent.name) for e in ("poster", "alpha")
            for m in (cache.root / e).glob("*/meta.json")}
    planned = poster.plan(p)
    keys = [(e, cache.key(e, u.name, u.params, u.digest)) for e, u in planned]
    assert len(keys) == len(set(keys)) and set(keys) == held
    assert {e for e, _ in planned} == {"poster", "alpha"}
    assert all(u.size > 0 for _, u in planned)
    for e in ("poster", "alpha"):
        found = estimate(cache, e, [u for x, u in planned if x == e])
        assert found.held == found.units and "0 to compute" in str(found)
