"""kdlib.experiments.teachers (seed 003): Table 2 as data, the passes, several teachers in one
pass, early stopping, resuming a pass, and the claims' evidence on synthetic results."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from kdlib import claims
from kdlib.cifar_models import MODELS
from kdlib.config import ParamError
from kdlib.experiments import teachers
from kdlib.experiments.teachers import TABLE2, Results, _Data, _students_unit, passes
from kdlib.models import n_params
from kdlib.results import Checkpoint
from kdlib.train import Recipe, train_augmented


def test_table2_agrees_with_the_claims_file():
    reported = {c.at["row"]: c.reported for c in claims.load("003")
                if c.id.startswith("t2-")}
    assert reported == TABLE2["accuracy"].to_dict()
    assert len(claims.load("003")) == 33


def test_rows_sharing_mixup_and_epochs_share_a_pass():
    p = teachers.SCHEMA.resolve("default")
    assert passes(p) == [("mixup, 3 epochs", (2, 3, 4, 5, 6, 7, 8), 3),
                         ("no mixup, 3 epochs", (9,), 3), ("scratch", (1,), 3)]
    paper = [(rows, e) for _, rows, e in passes(teachers.SCHEMA.resolve("paper"))]
    assert paper == [((2, 3, 4), 400), ((5, 6, 7, 8), 300), ((9,), 300), ((1,), 300)]


def test_validation_images_must_not_overlap_the_training_images():
    with pytest.raises(ParamError, match=r"n_train \+ n_val must be at most 50000"):
        teachers.resolve({"profile": "quick", "n_train": 49500, "n_val": 1000})
    with pytest.raises(ParamError, match="dataset"):
        teachers.resolve({"profile": "quick", "dataset": "cifar1000"})


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


def _setup(tmp_path, n=32):
    torch.manual_seed(0)
    p = teachers.SCHEMA.resolve("quick", patience=1, batch_size=16)
    d = _Data(torch.rand(n, 3, 32, 32), torch.randint(0, 10, (n,)), torch.rand(16, 3, 32, 32),
              torch.randint(0, 10, (16,)), torch.rand(16, 3, 32, 32),
              torch.randint(0, 10, (16,)), 10)
    ts = {}
    for name in teachers.TEACHERS:
        net = MODELS[name](classes=10, width=0.25)
        with torch.no_grad():
            ts[name] = {"weights": net.state_dict(), "logits": {"test": net.eval()(d.x_test)}}
    return p, d, ts


def test_the_baseline_stops_early_and_keeps_its_best_epoch(tmp_path):
    p, d, ts = _setup(tmp_path)
    unit = _students_unit(p, 0, (1,), 8, d, ts, Checkpoint(tmp_path / "c.pt"))
    curve, row = unit["curve"], unit["students"].iloc[0]
    best = int(curve.loc[curve["val_acc"].idxmax(), "epoch"])  # first epoch of the maximum
    assert row["best_epoch"] == best
    assert row["epochs_run"] == min(8, best + p["patience"])
    kept = curve[curve["epoch"] == best]["test_acc"].iloc[0]
    assert row["test_acc"] == pytest.approx(kept)


class _Killed(Exception):
    pass


def test_a_pass_killed_after_an_epoch_resumes_to_the_same_results(tmp_path):
    p, d, ts = _setup(tmp_path)
    ref = _students_unit(p, 1, (4, 6), 3, d, ts, Checkpoint(tmp_path / "ref.pt"))
    saved = Checkpoint(tmp_path / "c.pt")

    class Once(Checkpoint):
        def save(self, state):
            super().save(state)
            raise _Killed

    with pytest.raises(_Killed):
        _students_unit(p, 1, (4, 6), 3, d, ts, Once(saved.path))
    assert saved.load()["epoch"] == 1 and len(saved.load()["curve"]) == 2
    again = _students_unit(p, 1, (4, 6), 3, d, ts, saved)
    cols = ["test_acc", "test_loss", "agree_MobileNetV2_x0_75"]
    pd.testing.assert_frame_equal(again["students"][cols], ref["students"][cols])
    pd.testing.assert_frame_equal(again["curve"], ref["curve"])


def _results(acc: dict[int, list[float]], teacher_acc=(0.5, 0.4, 0.6), epochs=4,
             dataset="cifar10") -> Results:
    """Synthetic results: accuracies per row and seed; curves rise linearly to them."""
    students, curves = [], []
    for row, values in acc.items():
        for seed, a in enumerate(values):
            students.append({"seed": seed, "row": row, "test_acc": a, "test_loss": 2 - a,
                             "own_seconds": 1.0, "teacher_seconds": 0.5, "pass": "x"})
            for e in range(1, epochs + 1):
                wiggle = 0.02 * (-1) ** e * (row == 7)
                curves.append({"seed": seed, "row": row, "epoch": e,
                               "test_acc": a * e / epochs + wiggle, "test_loss": 1.0})
    tt = pd.DataFrame({"teacher": list(teachers.TEACHERS), "test_acc": list(teacher_acc),
                       "train_seconds": [1.0] * 3})
    p = {**teachers.SCHEMA.resolve("quick", dataset=dataset)}
    return Results(p, tt, pd.DataFrame(students), pd.DataFrame(curves), teachers.table1(),
                   "digest", 0.0)


def test_the_claims_are_judged_from_the_results():
    acc = {1: [0.30, 0.31, 0.29], 2: [0.40, 0.41, 0.39], 3: [0.35, 0.36, 0.34],
           4: [0.45, 0.46, 0.44], 5: [0.38, 0.39, 0.37], 6: [0.47, 0.48, 0.46],
           7: [0.42, 0.43, 0.41], 8: [0.44, 0.45, 0.43], 9: [0.50, 0.51, 0.49]}
    table = claims.evaluate(claims.load("003"), _results(acc)).set_index("claim")
    v = table["verdict"]
    for claim in ("distilled-beat-scratch", "teacher-choice-matters", "closest-teacher-best",
                  "most-accurate-teacher-best", "temperature-10-best",
                  "higher-temperature-helps", "no-mixup-better", "longer-training-helps",
                  "lr-001-noisier", "resnet44-parameters", "vgg11bn-madds",
                  "student-parameters", "student-madds"):
        assert v[claim] == "holds", claim
    assert v["lr-001-ends-higher"] == "contradicted"  # 0.42 < 0.47
    assert v["lr-0003-noisier"] == "inconclusive"  # identical straight curves
    assert (v[[c for c in v.index if c.startswith("t2-")]] == "not testable here").all()
    assert "cifar100" in table.loc["t2-scratch", "note"]
    where = table.loc["most-accurate-teacher-best", "at"]
    assert where.endswith("MobileNetV2_x0_75, T=5, lr=0.001")
    # the most accurate teacher is now ResNet-44, whose student is below MobileNetV2's
    swapped = _results(acc, teacher_acc=(0.7, 0.4, 0.6))
    again = claims.evaluate(claims.load("003"), swapped).set_index("claim")["verdict"]
    assert again["most-accurate-teacher-best"] == "contradicted"
    on_cifar100 = claims.evaluate(claims.load("003"), _results(acc, dataset="cifar100"))
    assert (on_cifar100.set_index("claim").loc["t2-scratch", "verdict"]
            == "not comparable at this scale")


def test_short_runs_cannot_say_how_noisy_or_rising_their_curves_are():
    r = _results({row: [0.3, 0.3] for row in TABLE2.index}, epochs=1)
    assert r.values("roughness", {"row": 7}) is None
    assert r.values("late_gain", {}) is None
    assert np.allclose(r.values("worst_gain_over_scratch", {}), 0.0)
