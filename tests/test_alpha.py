"""The alpha experiment end to end on a tiny slice of real MNIST: tables, cache, bad input."""

import shutil

import numpy as np
import pytest

from kdlib.chapters import alpha as chapter
from kdlib.config import ParamError
from kdlib.experiments import alpha
from kdlib.results import Cache, Checkpoint

TINY = {"profile": "quick", "n_train": 200, "n_test": 100, "alphas": [0.0, 1.0], "epochs": 2,
        "snapshots": [1, 2], "seeds": 2, "batch_size": 50}


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache")
    cache = Cache(root)
    return root, cache, alpha.run(alpha.resolve(TINY), cache)


def test_tables_have_one_row_per_seed_alpha_epoch(first_run):
    _, cache, r = first_run
    assert len(cache.computed) == 1 + 2  # the teacher, then one unit per seed
    s = r.students
    assert len(s) == 2 * 3 * 2  # seeds x (two alphas + the scratch student) x snapshots
    assert sorted(s["alpha"].unique()) == [0.0, 1.0] and sorted(s["epoch"].unique()) == [1, 2]
    scratch = s[s["student"] == "scratch"]
    assert len(scratch) == 4 and (scratch["alpha"] == 1.0).all()
    same_loss = s[(s["student"] == "distilled") & (s["alpha"] == 1.0)]
    # the scratch student trains on the same loss as alpha = 1 but from its own initial weights
    assert not scratch["test_loss"].to_numpy().tolist() == same_loss["test_loss"].tolist()
    assert (s["test_loss"] > 0).all()
    assert s["test_acc"].between(0, 1).all() and s["agreement"].between(0, 1).all()
    assert (s["kl_to_teacher"] >= 0).all()
    assert r.teacher["test_acc"].between(0, 1).all()
    assert r.test_logits[0].shape == (3, 100, 10)
    summary = r.summary()
    assert len(summary) == 4 and (summary["n"] == 2).all()
    assert (summary["ci_low"] <= summary["mean"]).all()


def test_second_run_loads_from_cache_with_identical_numbers(first_run):
    root, _, r = first_run
    cache = Cache(root)
    again = alpha.run(alpha.resolve(TINY), cache)
    assert cache.computed == []
    assert again.students.equals(r.students)
    assert again.teacher.equals(r.teacher)


def test_changing_a_student_parameter_keeps_the_teacher(first_run):
    root, _, _ = first_run
    cache = Cache(root)
    alpha.run(alpha.resolve({**TINY, "temperature": 2.0, "seeds": 1}), cache)
    assert len(cache.computed) == 1  # seed 0 at T=2 only; the teacher came from the cache


def test_scale_note_states_the_scale():
    note = chapter.scale_note(alpha.resolve(TINY))
    assert note.startswith("```{admonition} Scale of this run")
    assert "Profile **quick**" in note and "200 training images" in note
    assert "2 epochs" in note and "1,000 epochs" in note


@pytest.mark.parametrize("bad, message", [
    ({"temperature": 0}, "temperature must be a number in (0, 100]; got 0"),
    ({"epochs": -3}, "epochs must be an integer in [1, 10000]; got -3"),
    ({"dataset": "cifar1000"}, "dataset must be one of mnist, fashion_mnist; got 'cifar1000'"),
    ({"alphas": [1.5]}, "alphas must be a list of numbers, each in [0, 1]; got [1.5]"),
])
def test_bad_parameters_fail_before_any_compute(tmp_path, bad, message):
    with pytest.raises(ParamError) as e:
        alpha.run(alpha.resolve({**TINY, **bad}), Cache(tmp_path))
    assert str(e.value) == message
    assert list(tmp_path.iterdir()) == []


def test_missing_data_fails_before_any_compute(tmp_path):
    from kdlib.data import DataError

    empty = tmp_path / "empty"
    empty.mkdir()
    cache_dir = tmp_path / "cache"
    with pytest.raises(DataError, match=f"no mnist files found in {empty}.*data_dir"):
        alpha.run(alpha.resolve({**TINY, "data_dir": str(empty)}), Cache(cache_dir))
    assert not cache_dir.exists()


def test_every_claim_of_000_and_001_gets_a_verdict(first_run):
    from kdlib import claims

    _, _, r = first_run
    ev = chapter.evidence(r)
    table = claims.evaluate(claims.load("000") + claims.load("001"), ev)
    assert set(table["verdict"]) <= set(claims.VERDICTS)
    teacher = table[table["claim"] == "teacher-accuracy"].iloc[0]
    assert teacher["ours (95% CI)"] == f"{r.teacher['test_acc'].iloc[0]:.3f}"
    assert teacher["verdict"] == claims.NOT_COMPARABLE  # 1 teacher epoch, not 1000
    # TINY runs 2 epochs: the source's budgets map by the ratio 2/1000, to at least epoch 1
    assert chapter.budget_map(r.params) == {1: [100, 300, 500], 2: [1000]}
    row = table[table["claim"] == "falls-past-0.8"].iloc[0]
    assert row["verdict"] == claims.NOT_TESTABLE  # TINY sweeps alphas 0 and 1 only
    row = table[table["claim"] == "decreases-towards-1-at-1000"].iloc[0]
    assert row["verdict"] == claims.NOT_TESTABLE and "alpha 0.5" in row["note"]
    spread = table[table["claim"] == "diverges-at-1000"].iloc[0]
    assert spread["at"] == "epoch 1000 (our epoch 2) vs epoch 100 (our epoch 1)"


def test_the_evidence_derives_its_metrics_per_seed(first_run):
    _, _, r = first_run
    ev = chapter.evidence(r)
    acc = ev.curve("test_acc", {"student": "distilled", "epoch": 1000}, "alpha")
    scratch = ev.per_run("test_acc", {"student": "scratch", "epoch": 1000})
    assert list(acc.index) == [0.0, 1.0] and list(acc.columns) == [0, 1]
    spread = ev.per_run("alpha_range", {"epoch": 1000})
    assert (spread == acc.max() - acc.min()).all()
    gain = ev.per_run("gain_over_scratch", {"epoch": 1000})
    assert (gain == acc.max() - scratch).all()
    assert (ev.per_run("mean_acc", {"epoch": 1000}) == acc.mean()).all()
    assert not ev.table[ev.table["metric"] == "teacher_acc"]["source_scale"].any()


def test_claims_tables_judge_each_reading_and_count_tests(first_run):
    from kdlib import claims

    root, _, r = first_run
    tables = chapter.claims_tables(r.params, r, None, Cache(root))
    d = tables["default"]
    assert [c for c in d.columns if c.startswith("verdict: ")] == [
        f"verdict: {n}" for n in alpha.READINGS]
    assert d["robust"].dtype == bool and tables["primary"] is d  # no committed paper run
    card = claims.scorecard(d)
    # 000 and 001 quote one teacher accuracy and the alpha = 1 student at 100 epochs: the
    # scorecard counts each measurement once per source, not once per row
    assert card.loc["001"].sum() < (d["source"] == "001").sum()


def test_the_committed_paper_run_is_found_by_parameters():
    from kdlib.results import PUBLISHED

    p = alpha.resolve({"profile": "default"})
    committed = alpha.paper_run(p, PUBLISHED)
    assert committed is not None and len(committed.test_logits) >= 3
    assert all("cores" in m for m in committed.machines)
    name = chapter.run_description(committed, committed=True)
    assert "commit" in name and "seeds" in name
    ev = chapter.evidence(committed, "committed")
    assert ev.table[ev.table["metric"] == "test_acc"]["source_scale"].all()
    # re-keyed to issue 23's units (tools/rekey_alpha.py): the code that computed them is
    # kept, so the chapter still says the code has changed since; so is their compute time
    assert all("rekeyed" in e["meta"] for e in committed.entries)
    assert committed.compute_seconds > 3600
    assert "has changed since" in chapter.paper_note(p, committed)


def _keys(p):
    from kdlib.data import Dataset

    ds = Dataset("mnist", np.zeros((60000, 0)), *[None] * 3, classes=(), digest="d",
                 source="")  # keys only: the sizes read how many training images there are
    teacher, seeds = alpha.units_of(p, ds)
    return teacher.params, seeds[0].params


def test_a_clean_teacher_is_shared_by_every_noise_a_noisy_one_is_not():
    """The teacher receives the noise section only when it trains on the noisy labels: then
    the noise is in its key; a teacher of the clean images is keyed without it, so one
    serves every noise level. The students' keys always hold the noise."""
    full = alpha.resolve({"profile": "default"})
    for change in ({"noise_rate": 0.2}, {"noise_kind": "symmetric"}, {"noise_seed": 1}):
        teacher, students = _keys(full)
        other_teacher, other_students = _keys(full.replace(**change))
        assert other_teacher == teacher and other_students != students
        subset = full.replace(teacher_data="subset")
        assert _keys(subset.replace(**change))[0] != _keys(subset)[0]
    assert _keys(full)[0]["noise"] is None


def test_each_section_field_keys_the_units_that_receive_it():
    p = alpha.resolve(TINY)
    base = _keys(p)
    changes = {"dataset": "fashion_mnist", "n_train": 300, "n_test": 200,
               "teacher_epochs": 2, "teacher_seed": 1, "framework": "keras", "batch_size": 10,
               "learning_rate": 0.01, "threads": 1,
               "alphas": [0.5], "temperature": 2.0, "epochs": 3, "snapshots": [2]}
    teacher_fields = {"dataset", "n_train", "n_test", "teacher_epochs", "teacher_seed",
                      "framework", "batch_size", "learning_rate", "threads"}
    for name, value in changes.items():
        teacher, students = _keys(p.replace(**{name: value}))
        assert (teacher != base[0]) == (name in teacher_fields), name
        assert students != base[1], name  # the students' key holds the teacher's
    assert _keys(p.replace(seeds=5)) == base  # how many seeds is in no unit's key


def test_teacher_target_is_gone():
    """The teacher stopped when its validation accuracy reached the claimed 0.988: a stop rule
    set from the number under test. It trains its epochs; the parameter is refused."""
    with pytest.raises(ParamError, match="unknown parameter 'teacher_target'"):
        alpha.AlphaParams.resolve("quick", teacher_target=0.988)


def test_future_directions_vary_one_thing_each(tmp_path):
    p = alpha.resolve(TINY)
    q = alpha.direction_params(p, "noise 20%")
    assert q["noise_rate"] == 0.2 and q["alphas"] == alpha.DIRECTION_ALPHAS
    assert q["epochs"] == 1 and q["snapshots"] == [1] and q["n_train"] == p["n_train"]
    d = alpha.directions(p.replace(seeds=1), Cache(tmp_path))
    assert list(dict.fromkeys(d["variant"])) == list(alpha.DIRECTIONS)
    per = d.groupby("variant").size()
    assert (per == len(alpha.DIRECTION_ALPHAS) + 1).all()  # five alphas and the scratch student
    noise0 = d[d["variant"] == "noise 0%"]
    assert noise0["noisy_recovered"].isna().all()  # no perturbed labels to recover
    table = chapter.directions_table(d)
    assert list(table.index) == list(alpha.DIRECTIONS)
    assert table["best alpha"].isin(alpha.DIRECTION_ALPHAS).all()
    summary = chapter.directions_summary(d, "noisy_recovered", ("noise 10%", "noise 20%"))
    assert list(dict.fromkeys(summary["variant"])) == ["noise 10%", "noise 20%"]
    assert len(summary) == 2 * len(alpha.DIRECTION_ALPHAS)
    note = chapter.directions_note(p)
    assert "1 epoch(s)" in note and "0, 0.25, 0.5, 0.75, 1" in note


def test_keras_framework_gives_the_same_tables(tmp_path, first_run):
    _, _, torch_run = first_run
    p = alpha.resolve({**TINY, "framework": "keras", "seeds": 1})
    r = alpha.run(p, Cache(tmp_path))
    s, t = r.students, torch_run.students[torch_run.students["seed"] == 0]
    assert list(s.columns) == list(t.columns)
    assert s[["student", "alpha", "epoch"]].equals(t[["student", "alpha", "epoch"]])
    assert s["test_acc"].between(0, 1).all() and (s["test_loss"] > 0).all()
    assert r.test_logits[0].shape == (3, 100, 10)
    assert not s["test_loss"].equals(t["test_loss"])  # another framework, other numbers


def test_compare_frameworks_rows_and_verdicts(tmp_path):
    table = alpha.compare_frameworks(alpha.resolve({**TINY, "seeds": 2}), Cache(tmp_path))
    assert table[["student", "alpha"]].values.tolist() == [
        ["distilled", 0.0], ["distilled", 0.5], ["distilled", 1.0], ["scratch", 1.0]]
    assert set(table["within seed noise"]) <= {"agree", "differ", "one seed: cannot tell"}
    assert table["torch - keras"].str.match(r"^[+-]\d\.\d{3}").all()
    note = chapter.comparison_note(alpha.resolve({**TINY, "seeds": 2}))
    assert "200 training images" in note and "3 epochs, 2 seed(s)" in note


def test_discussion_is_written_from_the_run(first_run):
    root, _, r = first_run
    tables = chapter.claims_tables(r.params, r, None, Cache(root))
    text = chapter.discussion(r, tables, None)
    assert f"the teacher scores {r.teacher['test_acc'].iloc[0]:.3f}" in text
    assert "this build's quick run (2 seeds)" in text
    total = int(__import__("kdlib").claims.independent(tables["primary"]).sum())
    assert f"the claims make {total}:" in text


def test_check_data_covers_the_directions_data_sets(monkeypatch):
    seen = []
    monkeypatch.setattr(alpha.datasets, "load", lambda name, data_dir=None: seen.append(name))
    alpha.check_data(alpha.resolve(TINY))
    assert seen == ["fashion_mnist", "mnist"]  # Fashion-MNIST for the future directions


def _killed_at_first_checkpoint(p, cache, monkeypatch) -> list[int]:
    """Run ``p`` until its first checkpoint is saved, then die; the epochs saved."""
    saves = []
    real_save = Checkpoint.save

    def save_then_die(self, state):
        real_save(self, state)
        saves.append(state["epoch"])
        raise KeyboardInterrupt

    monkeypatch.setattr(Checkpoint, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        alpha.run(p, cache)
    monkeypatch.undo()
    return saves


def _count_resumed_epochs(name: str, monkeypatch) -> list[int]:
    """Wrap ``kdlib.train.<name>`` (a training loop, which the backend calls) to record how
    many epochs each resumed call trained: its returned history's length less the
    checkpoint's epoch."""
    from kdlib import train

    trained = []
    real = getattr(train, name)

    def counting(*args, **kwargs):
        history = real(*args, **kwargs)
        trained.append(len(history) - kwargs["state"]["epoch"])
        return history

    monkeypatch.setattr(train, name, counting)
    return trained


def test_a_seed_killed_after_a_checkpoint_resumes_there(first_run, tmp_path, monkeypatch):
    """Kill seed 1 right after its epoch-1 checkpoint; the rerun resumes from that epoch
    (one epoch trained, not two) and its table equals the uninterrupted run's, value for
    value (but the wall-time column)."""
    root, _, r = first_run
    cache = Cache(tmp_path)
    for folder in (root / "alpha").iterdir():  # the teacher and seed 0: already done
        if folder.is_dir() and not folder.name.startswith(".") and (
                folder / "meta.json").exists():
            meta = (folder / "meta.json").read_text()
            if '"seed": 1' not in meta:
                (tmp_path / "alpha").mkdir(exist_ok=True)
                shutil.copytree(folder, tmp_path / "alpha" / folder.name)
    assert _killed_at_first_checkpoint(alpha.resolve(TINY), cache, monkeypatch) == [1]
    assert len(list((tmp_path / "alpha").glob("*.partial.pt"))) == 1
    epochs = _count_resumed_epochs("distil_stack", monkeypatch)
    again = alpha.run(alpha.resolve(TINY), cache)
    assert cache.computed and epochs == [1]  # only seed 1, only its second epoch
    assert not list((tmp_path / "alpha").glob("*.partial.pt"))  # cleared once stored
    cols = [c for c in r.students.columns if c != "seconds"]
    assert again.students[cols].equals(r.students[cols])


def test_teacher_trains_all_its_epochs_and_records_validation(tmp_path):
    p = alpha.resolve({**TINY, "seeds": 1, "epochs": 1, "snapshots": [1], "teacher_epochs": 3})
    t = alpha.run(p, Cache(tmp_path)).teacher
    assert t["epochs"].iloc[0] == 3 and 0 < t["val_acc"].iloc[0] <= 1


def test_a_teacher_killed_after_an_epoch_resumes_there(tmp_path, monkeypatch):
    p = alpha.resolve({**TINY, "seeds": 1, "epochs": 1, "snapshots": [1], "teacher_epochs": 2})
    whole = alpha.run(p, Cache(tmp_path / "whole")).teacher
    assert _killed_at_first_checkpoint(p, Cache(tmp_path / "killed"), monkeypatch) == [1]
    trained = _count_resumed_epochs("train_supervised", monkeypatch)
    again = alpha.run(p, Cache(tmp_path / "killed")).teacher
    assert trained == [1]
    cols = [c for c in whole.columns if c != "seconds"]
    assert again[cols].equals(whole[cols])


def test_the_notebook_words_every_reading():
    """The readings' prose lives in the notebook's markdown: one bullet per reading run."""
    import json
    from pathlib import Path

    nb = json.loads((Path(__file__).parents[1] / "notebooks" / "alpha.ipynb").read_text())
    text = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert all(f"- **{name}**:" in text for name in alpha.READINGS)


def test_the_plan_is_every_unit_the_notebook_computes(tmp_path):
    """After the notebook's runs (main run, readings, directions, both frameworks) into a
    fresh cache, the plan's keys are exactly the cache's, and the estimate finds all held."""
    from kdlib.units import estimate

    p = alpha.resolve({**TINY, "seeds": 1})
    cache = Cache(tmp_path)
    chapter.claims_tables(p, alpha.run(p, cache), None, cache)
    alpha.directions(p, cache)
    alpha.compare_frameworks(p, cache)
    planned = chapter.CHAPTER.plan(p)
    assert {e for e, _ in planned} == {"alpha"}
    keys = [cache.key("alpha", u.name, u.params, u.digest) for _, u in planned]
    assert len(keys) == len(set(keys))  # each unit once
    assert set(keys) == set(cache.entries("alpha"))
    assert all(u.size > 0 for _, u in planned)
    found = estimate(cache, "alpha", [u for _, u in planned])
    assert found.held == found.units == len(keys)
    assert str(found).endswith(", 0 to compute")


def test_unit_sizes_count_image_passes():
    """A seed's size scales with its students x images x epochs; a Keras unit costs more."""
    p = alpha.resolve(TINY)
    from kdlib.data import Dataset

    ds = Dataset("mnist", np.zeros((60000, 0)), *[None] * 3, classes=(), digest="d",
                 source="")  # keys only: the sizes read how many training images there are
    _, seeds = alpha.units_of(p, ds)
    _, longer = alpha.units_of(p.replace(epochs=4), ds)
    assert 1.5 < longer[0].size / seeds[0].size < 2
    _, keras = alpha.units_of(p.replace(framework="keras"), ds)
    assert keras[0].size == alpha.KERAS_COST * seeds[0].size
