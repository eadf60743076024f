"""The teachers chapter (seed 003): Table 2 as data, the passes, several teachers in one pass,
early stopping and every choice on the validation images, resuming a pass, the evidence's
derived metrics, the readings, and the claims judged on synthetic and on tiny real results."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from kdlib import claims, data
from kdlib.chapters import teachers as chapter
from kdlib.cifar_models import MODELS
from kdlib.config import ParamError
from kdlib.evidence import Evidence
from kdlib.experiments import teachers
from kdlib.experiments.teachers import (
    CONFIGS,
    TABLE2,
    Results,
    TeachersParams,
    best_epochs,
    passes,
    student_units,
    students_pass,
    teacher_units,
)
from kdlib.models import n_params
from kdlib.results import Cache, Checkpoint
from kdlib.train import Recipe, nhwc_unsafe, train_augmented
from kdlib.units import Ref, estimate


def test_table2_agrees_with_the_numbers_the_claims_file_prints():
    printed = claims.printed("003")["table2"]
    acc = printed[printed["metric"] == "test_acc"].set_index("row")
    assert acc["value"].to_dict() == TABLE2["accuracy"].to_dict()
    for row, r in TABLE2.iterrows():
        p = acc.loc[row]
        assert p["teacher"] == (r["teacher"] if isinstance(r["teacher"], str) else "scratch")
        assert bool(p["mixup"]) == r["mixup"] and p["lr"] == r["lr"]
        assert (np.isnan(r["temperature"]) and np.isnan(p["temperature"])
                or p["temperature"] == r["temperature"])
    assert list(CONFIGS.index) == [*TABLE2.index, 10]  # Figure 9's lr 0.01 at T = 2
    assert CONFIGS.loc[10, ["lr", "temperature"]].tolist() == [0.01, 2.0]


def test_rows_sharing_mixup_and_epochs_share_a_pass():
    p = TeachersParams.resolve("default")
    assert passes(p) == [("mixup, 3 epochs", (2, 3, 4, 5, 6, 7, 8, 10), 3),
                         ("no mixup, 3 epochs", (9,), 3), ("scratch", (1,), 3)]
    paper = [(rows, e) for _, rows, e in passes(TeachersParams.resolve("paper"))]
    assert paper == [((2, 3, 4), 400), ((5, 6, 7, 8, 10), 300), ((9,), 300), ((1,), 300)]


class _Digest:
    digest = "d"
    classes = tuple(range(100))


def _keys(p: TeachersParams) -> list[tuple[str, dict]]:
    """Every unit's name and key at ``p`` (the paper profile: the teacher sweep trains
    apart), in order, the students' keyed on their teachers' units through their Refs."""
    ts = teacher_units(p, _Digest())
    units = [*ts, *student_units(p, _Digest(), [Ref(u, {}) for u in ts])]
    return [(f"{u.name}, {u.inputs['epochs']} epochs" if "rows" in u.inputs else u.name,
             u.params) for u in units]


_STUDENTS = {"students mixup, 400 epochs", "students mixup, 300 epochs",
             "students no mixup, 300 epochs", "students scratch"}
_OTHER = {"dataset": "cifar10", "labels": "coarse", "n_train": 44000, "n_val": 4000,
          "n_test": 5000, "width": 0.5, "batch_size": 64, "channels_last": True,
          "teacher_epochs": 3, "teacher_lr": 0.05, "teacher_seed": 1,
          "epochs": 301, "teacher_sweep_epochs": 401, "bn_momentum": 0.1, "mixup": 0.5,
          "patience": 3, "stop_monitor": "val_loss", "restore_best": False,
          "executor": "ray", "ray_address": "x:1", "data_dir": "/d", "threads": 4}
_EVERY = {f"teacher {n}" for n in teachers.TEACHERS} | _STUDENTS
_CHANGES = {
    **dict.fromkeys(["dataset", "labels", "n_train", "n_val", "n_test", "width", "batch_size",
                     "channels_last", "teacher_epochs", "teacher_lr", "teacher_seed",
                     "threads"], _EVERY),  # the teachers' and, through their Refs, all
    **dict.fromkeys(["bn_momentum", "mixup"], _STUDENTS),
    **dict.fromkeys(["patience", "stop_monitor", "restore_best"], {"students scratch"}),
    "epochs": _STUDENTS - {"students mixup, 400 epochs"},
    "teacher_sweep_epochs": {"students mixup, 400 epochs"},
    **dict.fromkeys(["executor", "ray_address", "data_dir"], set()),
}


@pytest.mark.parametrize("name", [n for n in TeachersParams.names() if n != "seeds"])
def test_a_parameter_changes_the_keys_of_the_units_that_read_it_and_no_other(name,
                                                                              monkeypatch):
    """The sections are shared in ways worth pinning: the students' keys hold their
    teachers' (Refs), only the baseline's its early stopping, each pass only its epochs."""
    monkeypatch.setattr(teachers, "nhwc_unsafe", lambda models: "")
    assert set(_OTHER) == set(TeachersParams.names()) - {"seeds"}
    p = TeachersParams.resolve("paper")
    before, after = _keys(p), _keys(p.replace(**{name: _OTHER[name]}))
    assert p[name] != _OTHER[name]
    assert len(before) == len(after) == 3 + 3 * 4
    changed = {n for (n, a), (_, b) in zip(before, after, strict=True) if a != b}
    assert changed == _CHANGES[name]


def test_a_units_size_counts_its_multiply_adds():
    """Sizes scale with the work: images x epochs x the networks trained (three forward
    passes a step) and run (the teachers' outputs, the evaluations)."""
    p = TeachersParams.resolve("quick")

    def sizes(q: TeachersParams) -> list[tuple[str, float]]:
        ts = teacher_units(q, _Digest())
        return [(u.name, u.size) for u in
                [*ts, *student_units(q, _Digest(), [Ref(u, {}) for u in ts])]]

    base = sizes(p)
    assert all(size > 0 for _, size in base)
    longer = sizes(p.replace(epochs=4, teacher_sweep_epochs=4))
    for (name, a), (_, b) in zip(base, longer, strict=True):
        assert b == pytest.approx(a if name.startswith("teacher ") else 2 * a)
    wider = dict(sizes(p.replace(width=1.0)))
    assert wider["students mixup"] > 8 * dict(base)["students mixup"]
    # the eight mixup students and their three teachers outweigh one student and one teacher
    assert dict(base)["students mixup"] > 4 * dict(base)["students no mixup"]


def test_more_seeds_add_units_and_keep_the_others():
    p = TeachersParams.resolve("paper")
    few, more = _keys(p), _keys(p.replace(seeds=5))
    assert more[:len(few)] == few and len(more) == len(few) + 2 * 4


def test_validation_images_must_not_overlap_the_training_images():
    with pytest.raises(ParamError, match=r"n_train \+ n_val must be at most 50000"):
        teachers.resolve({"profile": "quick", "n_train": 49500, "n_val": 1000})
    with pytest.raises(ParamError, match="dataset"):
        teachers.resolve({"profile": "quick", "dataset": "cifar1000"})
    with pytest.raises(ParamError, match="stop_monitor"):
        teachers.resolve({"profile": "quick", "stop_monitor": "test_acc"})


@pytest.mark.parametrize("name", list(MODELS))
def test_the_width_multiplier_shrinks_every_network(name):
    half = MODELS[name](classes=10, width=0.5)
    assert n_params(half) < 0.45 * n_params(MODELS[name](classes=10))
    assert half(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def _tiny(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 15 * 15, 10))


def test_students_of_several_teachers_train_as_they_would_alone():
    x, y = torch.rand(40, 3, 32, 32), torch.randint(0, 10, (40,))
    t = {"a": _tiny(1), "b": _tiny(2)}
    recipes = {"sa": Recipe(0.0, 5.0, 0.01, "adam", "a"), "sb": Recipe(0.0, 2.0, 0.01, "adam", "b")}
    together = {"sa": _tiny(3), "sb": _tiny(3)}
    train_augmented(together, recipes, x, y, 2, 16, seed=7, teacher=t, mixup_concentration=1.0)
    for name in ("sa", "sb"):
        alone = {name: _tiny(3)}
        train_augmented(alone, {name: recipes[name]}, x, y, 2, 16, seed=7,
                        teacher={recipes[name].teacher: t[recipes[name].teacher]},
                        mixup_concentration=1.0)
        for p, q in zip(together[name].parameters(), alone[name].parameters(), strict=True):
            assert torch.equal(p, q)
    with pytest.raises(ValueError, match="teacher not given"):
        train_augmented({"sa": _tiny(3)}, {"sa": Recipe(0.0, teacher="c")}, x, y, 1, 16, 0,
                        teacher=t)


def test_channels_last_changes_the_memory_order_not_the_result():
    x, y = torch.rand(32, 3, 32, 32), torch.randint(0, 10, (32,))
    runs = []
    for cl in (False, True):
        torch.manual_seed(0)
        m = MODELS["MobileNet_v3_small"](classes=10, width=0.25)
        train_augmented({"m": m}, {"m": Recipe(1.0, lr=0.01, optimizer="adam")}, x, y, 1, 16, 0,
                        channels_last=cl)
        runs.append(m.eval()(x))
    assert torch.allclose(runs[0], runs[1], atol=1e-4)


@pytest.mark.parametrize("isa", ["AVX2", "AVX512"])
def test_channels_last_is_refused_where_onednn_would_corrupt_memory(monkeypatch, isa):
    """On an AVX2 CPU, oneDNN's NHWC weight gradient of a 1x1 stride-2 convolution with 2-7
    input channels writes out of bounds (the ResNets' shortcuts at width 0.25 have 4): the
    parameter is refused before any compute, by name; with AVX-512 it is allowed."""
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: isa)
    thin = [MODELS[name](classes=10, width=0.25) for name in MODELS]
    wide = [MODELS[name](classes=10, width=1.0) for name in MODELS]
    assert nhwc_unsafe(wide) == ""
    if isa == "AVX512":
        assert nhwc_unsafe(thin) == ""
        assert teachers.resolve({"profile": "quick", "channels_last": True})["channels_last"]
        return
    assert "shortcut" in nhwc_unsafe(thin) and "use channels_last=False" in nhwc_unsafe(thin)
    with pytest.raises(ParamError, match="channels_last=True is refused on this CPU"):
        teachers.resolve({"profile": "quick", "channels_last": True})
    with pytest.raises(ValueError, match="channels_last=True is refused on this CPU"):
        train_augmented({"m": thin[0]}, {"m": Recipe(1.0, lr=0.01)}, torch.rand(4, 3, 32, 32),
                        torch.randint(0, 10, (4,)), 1, 2, 0, channels_last=True)


def _setup(n=32, **kw):
    """Random data whose validation images are the test images with other labels: a choice
    made on the test set would follow the test column, one made on validation the other."""
    torch.manual_seed(0)
    p = TeachersParams.resolve("quick", patience=1, batch_size=16, channels_last=False, **kw)
    x_test, y_test = torch.rand(16, 3, 32, 32), torch.randint(0, 10, (16,))
    d = data.Split(torch.rand(n, 3, 32, 32), torch.randint(0, 10, (n,)), x_test.clone(),
                   (y_test + 1 + torch.randint(0, 9, (16,))) % 10, x_test, y_test, 10)
    ts = {}
    for name in teachers.TEACHERS:
        net = MODELS[name](classes=10, width=0.25)
        with torch.no_grad():
            ts[name] = {"weights": net.state_dict(), "logits": {"test": net.eval()(d.x_test)}}
    return p, d, ts


def _scratch(p, d, ts, checkpoint):
    return students_pass(0, (1,), 8, d, p.networks, p.student, p.stopping, ts, checkpoint)


def _pass(p, d, ts, checkpoint):
    return students_pass(1, (4, 6), 3, d, p.networks, p.student, None, ts, checkpoint)


def test_the_baseline_stops_early_on_validation_and_keeps_its_best_epoch(tmp_path):
    p, d, ts = _setup()
    unit = _scratch(p, d, ts, Checkpoint(tmp_path / "c.pt"))
    curve, row = unit["curve"], unit["students"].iloc[0]
    # the validation column is not the test column: the labels differ on every image
    assert not np.allclose(curve["val_acc"], curve["test_acc"])
    best = int(curve.loc[curve["val_acc"].idxmax(), "epoch"])  # first epoch of the maximum
    assert row["epoch_kept"] == best
    assert row["epochs_run"] == min(8, best + p["patience"])
    kept = curve[curve["epoch"] == best]["test_acc"].iloc[0]
    assert row["test_acc"] == pytest.approx(kept)
    assert best_epochs(curve)["epoch"].tolist() == [best]


def test_the_callback_reading_watches_the_loss_and_keeps_the_stop_epoch(tmp_path):
    p, d, ts = _setup(stop_monitor="val_loss", restore_best=False)
    unit = _scratch(p, d, ts, Checkpoint(tmp_path / "c.pt"))
    curve, row = unit["curve"], unit["students"].iloc[0]
    best = int(curve.loc[curve["val_loss"].idxmin(), "epoch"])
    assert row["epochs_run"] == min(8, best + p["patience"])
    assert row["epoch_kept"] == row["epochs_run"]  # the weights it stopped with
    last = curve[curve["epoch"] == row["epochs_run"]]["test_acc"].iloc[0]
    assert row["test_acc"] == pytest.approx(last)


def test_a_best_epoch_is_chosen_on_validation_never_on_test():
    curve = pd.DataFrame({"seed": 0, "row": 4, "epoch": [1, 2, 3],
                          "test_acc": [0.9, 0.1, 0.2], "test_loss": [0.1, 3.0, 2.0],
                          "val_acc": [0.1, 0.2, 0.8], "val_loss": [3.0, 0.5, 1.0]})
    assert best_epochs(curve, "val_acc")["epoch"].tolist() == [3]
    assert best_epochs(curve, "val_loss")["epoch"].tolist() == [2]
    with pytest.raises(ValueError, match="monitor"):
        best_epochs(curve, "test_acc")


class _Killed(Exception):
    pass


def test_a_pass_killed_after_an_epoch_resumes_to_the_same_results(tmp_path):
    p, d, ts = _setup()
    ref = _pass(p, d, ts, Checkpoint(tmp_path / "ref.pt"))
    saved = Checkpoint(tmp_path / "c.pt")

    class Once(Checkpoint):
        def save(self, state):
            super().save(state)
            raise _Killed

    with pytest.raises(_Killed):
        _pass(p, d, ts, Once(saved.path))
    assert saved.load()["epoch"] == 1 and len(saved.load()["curve"]) == 2
    again = _pass(p, d, ts, saved)
    cols = ["test_acc", "test_loss", "agree_MobileNetV2_x0_75"]
    pd.testing.assert_frame_equal(again["students"][cols], ref["students"][cols])
    pd.testing.assert_frame_equal(again["curve"], ref["curve"])


# ----------------------------------------------------------------- synthetic results
def _results(acc: dict[int, list[float]], teacher_acc=(0.5, 0.45, 0.6),
             teacher_val=None, epochs=4, dataset="cifar10", wiggle_rows=(10,)) -> Results:
    """Synthetic results: final accuracies per row and seed; curves rise linearly to them
    (rows in ``wiggle_rows`` zig-zag by 0.02); validation peaks at the last epoch."""
    students, curves = [], []
    for row, values in acc.items():
        teacher = CONFIGS.loc[row, "teacher"]
        for seed, a in enumerate(values):
            agree = {f"agree_{n}": (0.5 + 0.1 * (n == "MobileNetV2_x0_75")) for n in
                     teachers.TEACHERS}
            students.append({"seed": seed, "row": row, "test_acc": a, "test_loss": 2 - a,
                             "epochs_run": epochs, "epoch_kept": epochs, **agree,
                             "own_seconds": 1.0, "teacher_seconds": 0.5, "pass": "x"})
            for e in range(1, epochs + 1):
                wiggle = 0.02 * (-1) ** e * (row in wiggle_rows)
                curves.append({"seed": seed, "row": row, "epoch": e,
                               "test_acc": a * e / epochs + wiggle, "test_loss": 2 - a * e / epochs,
                               "agreement": np.nan if not isinstance(teacher, str) else 0.5,
                               "val_acc": a * e / epochs, "val_loss": 1.0})
    tt = pd.DataFrame({"teacher": list(teachers.TEACHERS), "test_acc": list(teacher_acc),
                       "val_acc": list(teacher_val or teacher_acc), "train_seconds": [1.0] * 3,
                       "params_m": [0.1] * 3, "madds_m": [1.0] * 3})
    p = TeachersParams.resolve("quick", dataset=dataset)
    return Results(p, tt, pd.DataFrame(students), pd.DataFrame(curves), teachers.table1(),
                   "digest", 0.0, 0.0)


ACC = {1: [0.30, 0.31, 0.29], 2: [0.40, 0.41, 0.39], 3: [0.35, 0.36, 0.34],
       4: [0.45, 0.46, 0.44], 5: [0.38, 0.39, 0.37], 6: [0.47, 0.48, 0.46],
       7: [0.42, 0.43, 0.41], 8: [0.44, 0.45, 0.43], 9: [0.50, 0.51, 0.49],
       10: [0.40, 0.42, 0.41]}


def test_teachers_are_ranked_on_validation_not_on_test():
    r = _results(ACC, teacher_acc=(0.9, 0.4, 0.6), teacher_val=(0.3, 0.4, 0.6))
    assert r.teacher_rank() == {"MobileNetV2_x0_75": 1, "VGG11_bn": 2, "ResNet44": 3}
    ev = chapter.evidence(r)
    ranks = ev.table[ev.table["metric"] == "test_acc"].set_index("row")["teacher_rank"]
    assert ranks.loc[4].eq(1).all() and ranks.loc[2].eq(3).all() and ranks.loc[1].isna().all()


def test_the_evidence_derives_its_metrics_per_seed():
    r = _results(ACC)
    ev = chapter.evidence(r)
    at = {"teacher": "MobileNetV2_x0_75", "mixup": True, "lr": 0.001, "temperature": 5}
    assert ev.per_run("test_acc", at).tolist() == ACC[4]
    # a straight curve has no roughness; row 10 zig-zags by 0.02: |second difference| 0.08
    assert np.allclose(ev.per_run("roughness", at), 0.0)
    fig9 = {**at, "lr": 0.01, "temperature": 2}
    assert np.allclose(ev.per_run("roughness", fig9), 0.08)
    # late gain: accuracy after epoch 4 minus after epoch 2, a / 2 on a straight curve
    assert np.allclose(ev.per_run("late_gain", at), np.array(ACC[4]) / 2)
    # (row 10's zig-zag is +0.02 after epochs 2 and 4 alike); the baseline is left out
    gains = pd.DataFrame({row: np.array(a) / 2 for row, a in ACC.items() if row != 1})
    assert np.allclose(ev.per_run("mean_late_gain", {}), gains.mean(axis=1))
    # the teacher's accuracy (one run, a constant) minus the student's
    assert np.allclose(ev.per_run("teacher_minus_student", at), 0.6 - np.array(ACC[4]))
    assert ev.per_run("params_m", {"model": "ResNet44"}).iloc[0] == pytest.approx(0.667188)
    # the first reading reads every student at its best validation epoch (here the last)
    best = chapter.evidence(r, epoch="best on validation")
    assert np.allclose(best.per_run("test_acc", fig9), np.array(ACC[10]) + 0.02)


def test_short_runs_cannot_say_how_noisy_or_rising_their_curves_are():
    ev = chapter.evidence(_results({row: [0.3, 0.3] for row in ACC}, epochs=1))
    assert ev.rows("roughness", {}).empty and ev.rows("late_gain", {}).empty
    table = claims.evaluate(claims.load("003"), ev).set_index("claim")
    assert table.loc["lr-0.01-noisier-t2", "verdict"] == claims.NOT_TESTABLE
    assert table.loc["longer-training-helps", "verdict"] == claims.NOT_TESTABLE


def test_the_claims_are_judged_from_the_results():
    table = claims.evaluate(claims.load("003"), chapter.evidence(_results(ACC)))
    v = table.set_index("claim")["verdict"]
    for claim in ("distilled-beat-scratch", "teacher-choice-matters", "closest-teacher-best",
                  "most-accurate-teacher-best", "capacity-gap-worst", "temperature-10-best",
                  "temperature-10-lowest-loss", "no-mixup-better", "longer-training-helps",
                  "lr-0.01-noisier-t2", "lr-0.01-ends-higher-t2", "resnet44-parameters",
                  "vgg11bn-madds", "student-madds", "student-lowest-madds",
                  "closest-teacher-most-faithful", "student-below-teacher"):
        assert v[claim] == claims.HOLDS, claim
    assert v["lr-0.01-ends-higher-t10"] == claims.CONTRA  # 0.42 < 0.47
    assert v["lr-0.003-noisier"] == claims.INCON  # identical straight curves
    # Table 1's 1.61 M is ±0.005 M; ours is 1.620 M, and ResNet-44 has fewer parameters
    assert v["student-parameters"] == claims.CONTRA
    assert v["student-fewest-parameters"] == claims.CONTRA
    assert v["closest-teacher-most-accurate"] == claims.ONE  # one teacher of each
    assert (v[[c for c in v.index if c.startswith("t2-")]] == claims.NOT_TESTABLE).all()
    assert "cifar100" in table.set_index("claim").loc["t2-scratch", "note"]
    # ResNet-44 is now the most accurate teacher on validation; its student is not the best
    swapped = _results(ACC, teacher_val=(0.7, 0.45, 0.6))
    again = claims.evaluate(claims.load("003"), chapter.evidence(swapped))
    assert again.set_index("claim").loc["most-accurate-teacher-best", "verdict"] == claims.CONTRA
    # on test alone it is ranked first, which must not matter
    test_only = _results(ACC, teacher_acc=(0.9, 0.4, 0.6), teacher_val=(0.5, 0.4, 0.6))
    kept = claims.evaluate(claims.load("003"), chapter.evidence(test_only))
    assert kept.set_index("claim").loc["most-accurate-teacher-best", "verdict"] == claims.HOLDS
    on_cifar100 = claims.evaluate(claims.load("003"),
                                  chapter.evidence(_results(ACC, dataset="cifar100")))
    assert (on_cifar100.set_index("claim").loc["t2-scratch", "verdict"]
            == claims.NOT_COMPARABLE)


def test_the_fewest_parameters_reading_is_contradicted_by_table_1_itself():
    """'small size' as the fewest parameters fails on the paper's own Table 1 (ResNet44 has
    0.67 M, the student 1.61 M): the row is not marked printed, and this test says why."""
    c = next(c for c in claims.load("003") if c.id == "student-fewest-parameters")
    assert not c.printed
    rows = claims.printed("003")["table1"]
    ev = Evidence.build(pd.concat([rows, rows.assign(run=1)]), chapter.REGISTRY, "Table 1",
                        source_scale=True)
    assert claims.judge(c, ev).verdict == claims.CONTRA
    lowest = next(c for c in claims.load("003") if c.id == "student-lowest-madds")
    assert claims.judge(lowest, ev).verdict == claims.HOLDS


def test_readings_give_a_verdict_column_each(monkeypatch):
    main = _results(ACC)
    other = _results({**ACC, 1: [0.60, 0.61, 0.59]})  # a baseline above every distilled row
    asked = []

    def fake_run(p, cache=None):
        asked.append({k: p[k] for k in ("stop_monitor", "restore_best")})
        return other

    monkeypatch.setattr(chapter, "run", fake_run)
    tables = chapter.claims_tables(main.params, main)
    d = tables["default"]
    assert [c for c in d.columns if c.startswith("verdict: ")] == [
        f"verdict: {n}" for n in chapter.READINGS]
    assert asked == [{"stop_monitor": "val_loss", "restore_best": False}]
    row = d.set_index("claim").loc["distilled-beat-scratch"]
    assert row["verdict"] == claims.HOLDS
    assert row["verdict: early stopping: callback defaults"] == claims.CONTRA
    assert not row["robust"]
    assert tables["primary"] is d


# ------------------------------------------------------------------ a tiny real run
TINY = {"profile": "quick", "n_train": 100, "n_val": 20, "n_test": 100, "teacher_epochs": 1,
        "epochs": 1, "teacher_sweep_epochs": 1, "seeds": 2, "batch_size": 50,
        "channels_last": False}  # oneDNN's NHWC 1x1 backward spins on a busy 2-core machine


def test_a_reading_of_the_early_stopping_retrains_the_baseline_alone(tmp_path):
    cache = Cache(tmp_path)
    p = teachers.resolve(TINY)
    r = teachers.run(p, cache)
    assert len(cache.computed) == 3 + 2 * 3  # the teachers, then three passes per seed
    assert set(r.students["row"]) == set(CONFIGS.index)
    again = Cache(tmp_path)
    teachers.run(chapter.reading_params(p, "early stopping: callback defaults"), again)
    assert len(again.computed) == 2  # the baseline's pass of each seed, nothing else
    table = chapter.claims_tables(p, r, Cache(tmp_path))["default"]
    assert set(table["verdict"]) <= set(claims.VERDICTS)
    assert "robust" in table
    # the chapter's plan is exactly what its runs computed: no unit missing, none extra
    planned = chapter.CHAPTER.plan(p)
    held = {m.parent.name for m in (tmp_path / "teachers").glob("*/meta.json")}
    assert sorted(Cache(tmp_path).key(e, u.name, u.params, u.digest) for e, u in planned) \
        == sorted(held)
    assert {e for e, _ in planned} == {"teachers"}
    found = estimate(Cache(tmp_path), "teachers", [u for _, u in planned])
    assert (found.units, found.held) == (len(held), len(held)) == (3 + 2 * 4, 3 + 2 * 4)
    assert str(found) == "11 units, 11 in the cache, 0 to compute"


def test_the_notebooks_parameters_cell_is_written_from_the_model():
    """``python -m kdlib.book --write-parameters`` writes it (the book's test checks every
    chapter; this one checks this chapter's alone)."""
    import nbformat

    from kdlib.config import parameters_cell

    nb = nbformat.read("notebooks/teachers.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assert cell.source == parameters_cell(TeachersParams, chapter.CHAPTER.example)
