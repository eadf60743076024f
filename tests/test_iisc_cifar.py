"""The IISc chapter, part 2 (CIFAR-10 Table 2): augmentation, the shared training loop, a tiny
run on the real CIFAR-10 with its claims, and the chapter's tables."""

import numpy as np
import pandas as pd
import pytest
import torch

from kdlib import claims, data
from kdlib.chapters import iisc as iisc_chapter
from kdlib.chapters import iisc_cifar as chapter
from kdlib.evidence import Evidence
from kdlib.experiments import iisc, iisc_cifar
from kdlib.resnet import resnet
from kdlib.results import Cache
from kdlib.train import Recipe, crop_flip, mixup, train_augmented

TINY = {"cifar_n_train": 256, "cifar_reduced_per_class": 8, "cifar_n_test": 200,
        "cifar_width": 1 / 32, "cifar_batch_size": 64, "cifar_seeds": 2, "cifar_rounds": 2,
        "cifar_latency_calls": 1, "cifar_throughput_batch": 4, "cifar_timing_width": 1 / 32}


def test_crop_flip_gives_each_image_a_shifted_window_maybe_mirrored():
    x = torch.rand(16, 3, 32, 32)
    out = crop_flip(x, torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    for i in range(16):
        windows = [padded[i, :, a:a + 32, b:b + 32] for a in range(9) for b in range(9)]
        assert any(torch.equal(out[i], w) or torch.equal(out[i], w.flip(2)) for w in windows)
    again = crop_flip(x, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)  # seeded
    assert not torch.equal(out, x)


def test_mixup_blends_each_image_with_another_of_the_batch_by_one_seeded_weight():
    x = torch.stack([torch.full((3, 4, 4), float(i)) for i in range(8)])
    out = mixup(x, torch.Generator().manual_seed(1), 0.5)
    assert torch.equal(out, mixup(x, torch.Generator().manual_seed(1), 0.5))  # seeded
    values = out[:, 0, 0, 0]
    assert ((values >= 0) & (values <= 7)).all() and not torch.equal(out, x)
    assert torch.allclose(values.sum(), x[:, 0, 0, 0].sum())  # a permutation: mass kept


def test_mixup_with_labels_is_refused_and_early_stopping_stops():
    x, y = torch.rand(64, 3, 32, 32), torch.randint(0, 10, (64,))
    with pytest.raises(ValueError, match="mixup needs alpha = 0"):
        train_augmented(_models(), {"a": Recipe(0.5), "b": Recipe(0.0)}, x, y, 1, 32, 0,
                        mixup_concentration=1.0)
    seen = []
    train_augmented({"a": _models()["a"]}, {"a": Recipe(1.0)}, x, y, 5, 32, 0,
                    after_epoch=lambda e: seen.append(e) or e == 2)
    assert seen == [1, 2]


def _models():
    torch.manual_seed(0)
    return {"a": resnet([1, 1, 0, 0], width_multiplier=1 / 32),
            "b": resnet([1, 1, 0, 0], width_multiplier=1 / 32, stem_stride=2)}


def test_a_resumed_augmented_run_equals_an_uninterrupted_one():
    x, y = torch.rand(96, 3, 32, 32), torch.randint(0, 10, (96,))
    torch.manual_seed(1)
    teacher = resnet([1, 0, 0, 0], width_multiplier=1 / 32)
    recipes = {"a": Recipe(0.5, 2.0, 0.05), "b": Recipe(1.0, lr=0.01, optimizer="adam")}
    whole, states = _models(), []
    secs = train_augmented(whole, recipes, x, y, 2, 32, 3, teacher=teacher,
                           on_epoch=states.append)
    assert secs["teacher"] > 0 and set(secs) == {"a", "b", "teacher"}
    resumed = _models()
    train_augmented(resumed, recipes, x, y, 2, 32, 3, teacher=teacher, state=states[0])
    for name in whole:
        for (k, v), w in zip(whole[name].state_dict().items(),
                             resumed[name].state_dict().values(), strict=True):
            assert torch.equal(v, w), (name, k)


@pytest.fixture(scope="module")
def cached(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache")
    p = iisc.IiscParams.resolve("quick", **TINY)
    return root, iisc_cifar.run(p, Cache(root))


@pytest.fixture(scope="module")
def part2(cached):
    return cached[1]


def test_the_plan_is_what_part_2_computes(cached):
    """Part 2's plan: teacher, a students unit per seed and training set, timing; exactly the
    entries its run leaves in a fresh cache."""
    from test_iisc import _planned_is_cached

    root, r = cached
    planned = iisc_cifar.plan(r.params)
    assert len(planned) == 1 + 2 * 2 + 1
    _planned_is_cached(Cache(root), planned)


def test_a_teacher_stored_for_another_test_set_is_not_reused(cached):
    """Issue 23: the teacher unit stores its logits on the first ``cifar_n_test`` test images,
    so its key must hold ``cifar_n_test``; a smaller test set after a run must not get the
    stored teacher (whose test logits belong to the other test set)."""
    root, first = cached
    cache = Cache(root)
    p = iisc.IiscParams.resolve("quick", **{**TINY, "cifar_n_test": 100, "cifar_seeds": 1})
    again = iisc_cifar.run(p, cache)
    assert len(cache.computed) == 1 + 2 + 0  # a new teacher, seed 0's two student units
    ds = data.load("cifar10")
    unit = iisc_cifar.teacher_unit(p, ds)
    stored = cache.get("iisc", unit.name, unit.params, unit.digest)
    assert stored["logits"]["test"].shape[0] == 100  # the teacher's logits: this test set
    assert first.params["cifar_n_test"] == 200 and again.students["test_acc"].between(0, 1).all()


def test_every_field_the_cifar_teacher_reads_keys_it(part2):
    """By construction: the teacher unit receives its section whole, so changing any of its
    fields changes its key, and part 2's other sections do not."""
    p, ds = part2.params, data.load("cifar10")
    base = iisc_cifar.teacher_unit(p, ds).params
    for name, value in p.cifar_teacher.key().items():
        other = p.replace(**{name: value + 1 if name != "cifar_width" else value / 2})
        assert iisc_cifar.teacher_unit(other, ds).params != base, name
    for name in ("cifar_alpha", "cifar_rounds", "cifar_seeds", "alpha", "seeds"):
        other = p.replace(**{name: 0.25 if "alpha" in name else 3})
        assert iisc_cifar.teacher_unit(other, ds).params == base, name


def test_every_row_of_table2_is_run_over_seeds(part2):
    s = part2.students
    assert sorted(s["row"].unique()) == list(range(1, 11)) and len(s) == 2 * 10
    assert s["test_acc"].between(0, 1).all() and (s["train_seconds"] >= s["own_seconds"]).all()
    distils = s["row"].isin([1, 2, 3, 4, 5, 6, 8, 10])  # they pay for the teacher's passes
    assert (s.loc[distils, "train_seconds"] > s.loc[distils, "own_seconds"]).all()
    assert (s.loc[~distils, "train_seconds"] == s.loc[~distils, "own_seconds"]).all()
    assert set(part2.cost["model"]) == {"teacher", *(iisc_cifar._arch(r) for r in range(1, 11))}
    assert part2.ratios().shape == (2, 6)  # rounds x the six distinct student networks


def _evidence(part2, kind="latency"):
    """Part 2 alone as the chapter's evidence (part 1's coordinates empty)."""
    rows = pd.DataFrame(chapter.evidence_rows(part2, kind))
    for c in iisc_chapter.COORDINATES:
        if c not in rows.columns:
            rows[c] = None
    return Evidence.build(rows, iisc_chapter.REGISTRY, "tiny part 2")


def test_claims_of_table2_get_verdicts_and_absolute_ones_are_not_compared(part2):
    found = [c for c in claims.load("002") if c.id.startswith("t2-")]
    table = claims.evaluate(found, _evidence(part2)).set_index("claim")
    assert set(table["verdict"]) <= set(claims.VERDICTS)
    absolute = table[[c.absolute and c.id != "t2-lower-than-mnist" for c in found]]
    assert len(absolute) == 9 + 8 + 9 + 3  # accuracies, times, ratios; argmin, argmax, min
    assert (absolute["verdict"] == claims.NOT_COMPARABLE).all()  # width 1/32, 256 images
    assert table.loc["t2-lower-than-mnist", "verdict"] == claims.NOT_TESTABLE  # no part 1
    assert table.loc["t2-row1-training-time", "verdict"] == claims.NOT_TESTABLE
    for relative in ("t2-kd-helps-reduced", "t2-kd-helps-more-on-reduced",
                     "t2-stride4-most-accurate"):
        assert table.loc[relative, "verdict"] in (claims.HOLDS, claims.CONTRA, claims.INCON)
    assert table.loc["t2-lower-than-mnist", "at"] == "table 1 vs table 2"
    # rows 5, 7, 8 and 9 train one network: their ratio rows are one measurement
    assert table.loc[[f"t2-row{r}-inference-ratio" for r in (5, 7, 8, 9)], "group"].nunique() == 1


def test_part2_evidence_derives_its_metrics_per_seed(part2):
    ev = _evidence(part2)
    acc = part2.students.pivot(index="seed", columns="row", values="test_acc")
    gain = {s: ev.per_run("kd_gain", {"table": 2, "train_set": s}) for s in ("full", "reduced")}
    np.testing.assert_allclose(gain["full"], acc[5] - acc[7])
    np.testing.assert_allclose(gain["reduced"], acc[8] - acc[9])
    np.testing.assert_allclose(ev.per_run("mean_acc", {"table": 2}),
                               acc[list(range(1, 10))].mean(axis=1))  # the paper's rows only
    secs = part2.students.pivot(index="seed", columns="row", values="train_seconds")
    np.testing.assert_allclose(ev.per_run("time_vs_baseline", {"table": 2, "row": 8}),
                               secs[8] / secs[1])
    lat = part2.ratios("latency")
    assert chapter.NET == {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 5, 8: 5, 9: 5, 10: 5}
    np.testing.assert_allclose(ev.per_run("inference_ratio", {"table": 2, "net": 5}),
                               lat[iisc_cifar._arch(5)])
    batched = _evidence(part2, "throughput")
    np.testing.assert_allclose(batched.per_run("inference_ratio", {"table": 2, "net": 6}),
                               part2.ratios("throughput")[iisc_cifar._arch(6)])


def test_nothing_trained_in_part2_reads_the_test_labels(part2, tmp_path, shuffle_test_labels):
    """Selection hygiene: part 2 chooses no epoch, stopping point or row; shuffled test labels
    change the accuracies only, not what training made (agreement and KL with the teacher)."""
    shuffle_test_labels(iisc_cifar)
    other = iisc_cifar.run(iisc.IiscParams.resolve("quick", **{**TINY, "cifar_seeds": 1}),
                           Cache(tmp_path))
    mine = part2.students[part2.students["seed"] == 0].reset_index(drop=True)
    for col in ("agreement", "kl_to_teacher"):
        np.testing.assert_allclose(other.students[col], mine[col], rtol=1e-6, atol=1e-9)
    assert not np.allclose(other.students["test_acc"], mine["test_acc"])


def test_table2_agrees_with_the_claims_file():
    raw = {c.id: c for c in claims.load("002")}
    rows = claims.printed("002")["paper"]
    rows = rows[rows["table"] == 2]
    for row, paper in iisc_cifar.TABLE2.dropna().iterrows():
        own = rows[rows["row"] == row].set_index("metric")["value"]
        assert own["test_acc"] == paper["accuracy"] == raw[f"t2-row{row}-accuracy"].reported
        assert own["train_seconds"] == paper["train_seconds"]
        ratio = raw[f"t2-row{row}-inference-ratio"]
        assert ratio.reported == paper["inference_ratio"]
        assert ratio.at == {"table": 2, "net": chapter.NET[row]}
        net = rows[(rows["metric"] == "inference_ratio") & (rows["net"] == chapter.NET[row])]
        assert paper["inference_ratio"] in net["value"].tolist()
        if row > 1:
            assert raw[f"t2-row{row}-training-time"].reported == pytest.approx(
                paper["train_seconds"] / 400, rel=1e-3)


def test_chapter_tables_and_text_come_from_the_run(part2):
    t = chapter.table2(part2)
    assert list(t.index) == list(range(1, 11)) and t.loc[5, "accuracy (paper)"] == "0.776"
    assert "width multiplier 0.03125" in chapter.scale_note(part2.params)
    found = [c for c in claims.load("002") if c.id.startswith("t2-")]
    table = claims.evaluate(found, _evidence(part2))
    text = chapter.discussion(part2, table)
    tests = int(claims.scorecard(table).sum().sum())
    assert f"Part 2's {len(found)} claims make {tests} independent tests" in text
    assert tests < len(found)  # the ideal network's four ratios count once
    assert chapter.tradeoff_figure(part2) is not None
    assert chapter.teacher_text(None) == chapter.NOT_RUN
    assert not chapter.source_scale(part2.params)
