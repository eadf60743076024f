"""kdlib.units: a unit's key is exactly what its function receives; a function that could read
more (a closure, a default, a method, an argument the unit does not give) is refused before any
compute; every field of every section is in the key; the sweep finds committed entries."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from kdlib.config import Execution, Numerics, Params, Section, param
from kdlib.results import Cache
from kdlib.units import Ref, Unit, UnitError, estimate, sweep


class Teacher(Section):
    """The teacher."""

    epochs: param(int, "Epochs.", 2, low=1, high=10)
    width: param(float, "Width.", 0.5, low=0, high=1, low_open=True)


class Students(Section):
    """The students."""

    alphas: param(list, "Alphas.", [0.0, 1.0], low=0, high=1, item=float)
    seeds: param(int, "Seeds.", 2, low=1, high=5)


class Demo(Params):
    chapter = "demo"
    profiles = {"quick": {"epochs": 1}}
    teacher: Teacher = Teacher()
    students: Students = Students()


class _Data:
    def __init__(self, digest: str) -> None:
        self.digest, self.x = digest, np.arange(4.0)


def train_teacher(teacher: Teacher, ds: _Data) -> dict:
    return {"teacher": pd.DataFrame({"epochs": [teacher.epochs], "threads":
                                     [torch.get_num_threads()], "sum": [ds.x.sum()]})}


def train_students(students: Students, seed: int, teacher: dict) -> dict:
    return {"students": pd.DataFrame({"seed": [seed], "n": [len(students.alphas)],
                                      "teacher_epochs": teacher["teacher"]["epochs"]})}


def resumable(teacher: Teacher, checkpoint) -> dict:
    return {"t": pd.DataFrame({"has_checkpoint": [checkpoint is not None]})}


def test_every_field_of_every_section_changes_the_key():
    p = Demo.resolve()
    base = Unit("teacher", train_teacher, {"teacher": p.teacher}, {"ds": _Data("d")}).params
    changed = {"epochs": 3, "width": 0.25}
    for name, value in changed.items():
        q = p.replace(**{name: value})
        assert Unit("teacher", train_teacher, {"teacher": q.teacher},
                    {"ds": _Data("d")}).params != base, name
    assert set(changed) == set(Teacher.model_fields)  # the loop above covers every field
    other = Unit("teacher", train_teacher, {"teacher": p.teacher}, {"ds": _Data("d")},
                 numerics=Numerics(threads=1))
    assert other.params != base  # the thread count is in the key


def with_default(teacher: Teacher, ds: _Data = None) -> dict:
    return {}


def test_a_function_that_could_read_more_than_its_inputs_is_refused():
    p = Demo.resolve()

    def closure(teacher: Teacher, ds: _Data) -> dict:
        return {"p": p}

    for fn, words in [(closure, "not a module-level function"), (with_default, "default values"),
                      (lambda teacher, ds: {}, "not a module-level function"),
                      (print, "plain function")]:
        with pytest.raises(UnitError, match=words):
            Unit("teacher", fn, {"teacher": p.teacher}, {"ds": _Data("d")})
    with pytest.raises(UnitError, match=r"takes \['ds', 'teacher'\], the unit gives \['teacher'\]"):
        Unit("teacher", train_teacher, {"teacher": p.teacher})
    with pytest.raises(UnitError, match="must be a Section, a Ref or a plain value"):
        Unit("teacher", train_teacher, {"teacher": p, "ds": None})  # never the whole model


def test_a_unit_runs_with_its_numerics_and_only_its_inputs(tmp_path):
    p = Demo.resolve()
    unit = Unit("teacher", train_teacher, {"teacher": p.teacher}, {"ds": _Data("d")},
                numerics=Numerics(threads=1))
    before = torch.get_num_threads()
    entry = Cache(tmp_path).get_or_compute("demo", unit.name, unit.params, unit.digest,
                                           unit.compute)
    assert entry["teacher"]["threads"].tolist() == [1]
    assert torch.get_num_threads() == before
    assert entry["meta"]["seconds"] >= 0
    assert Unit("r", resumable, {"teacher": p.teacher}, resumable=True).compute(
        checkpoint=object())["t"]["has_checkpoint"].tolist() == [True]


def test_two_data_sets_key_by_both_digests():
    p = Demo.resolve()

    def key(a: str, b: str) -> str:
        return Unit("t", two, {"teacher": p.teacher}, {"x": _Data(a), "y": _Data(b)}).digest

    assert key("a", "b") != key("a", "c") != key("c", "b")


def two(teacher: Teacher, x: _Data, y: _Data) -> dict:
    return {}


def test_the_sweep_runs_teachers_then_students_and_finds_them_without_compute(tmp_path):
    p = Demo.resolve("quick")
    cache = Cache(tmp_path)
    teachers = [Unit("teacher", train_teacher, {"teacher": p.teacher}, {"ds": _Data("d")})]

    def students(refs: list[Ref]) -> list[Unit]:
        return [Unit("students", train_students, {"students": p.students, "seed": seed,
                                                  "teacher": refs[0]})
                for seed in range(p.students.seeds)]

    done = sweep(cache, "demo", teachers, students, Execution())
    assert [e["students"]["teacher_epochs"].item() for e in done.units] == [1, 1]
    assert done.compute_seconds >= 0
    again = sweep(Cache(tmp_path), "demo", teachers, students, Execution(), compute=False)
    assert [e["meta"]["params"] for e in again.units] == [e["meta"]["params"]
                                                         for e in done.units]
    other = [Unit("teacher", train_teacher, {"teacher": p.replace(epochs=2).teacher},
                  {"ds": _Data("d")})]
    missing = sweep(Cache(tmp_path), "demo", other, students, Execution(), compute=False)
    assert missing.teachers == [None] and missing.units == []
    # a student's key holds its teacher's parameters: another teacher, other students
    keys = {u.params["teacher"]["params"]["teacher"]["epochs"] for u in students(
        [Ref(other[0], {})])}
    assert keys == {2}


def test_the_estimate_scales_the_timed_units_of_each_kind_by_size(tmp_path):
    p = Demo.resolve("quick")
    cache = Cache(tmp_path)

    def unit(seed: int, size: float) -> Unit:
        return Unit("students", train_students, {"students": p.students, "seed": seed,
                                                 "teacher": None}, size=size)

    first = [unit(0, 2.0)]
    assert "no estimate" in str(estimate(cache, "demo", first))
    entry = cache.get_or_compute("demo", "students", first[0].params, first[0].digest,
                                 lambda: train_students(p.students, 0, {"teacher": pd.DataFrame(
                                     {"epochs": [1]})}), size=2.0)
    assert entry["meta"]["size"] == 2.0
    for path in (tmp_path / "demo").glob("*/meta.json"):  # pretend it took 10 s
        m = json.loads(path.read_text())
        path.write_text(json.dumps({**m, "seconds": 10.0}))
    found = estimate(cache, "demo", [*first, unit(1, 6.0), unit(2, 3.0)])
    assert (found.units, found.held, found.seconds) == (3, 1, 45.0)  # (6 + 3) x 10 s / 2
    assert "3 units, 1 in the cache, 2 to compute, about 45 s (from unit times on" in str(found)


def test_unit_times_recorded_from_a_cache_give_a_fresh_cache_its_estimate(tmp_path, monkeypatch):
    import kdlib.units as units

    p = Demo.resolve("quick")
    timed = Cache(tmp_path / "timed")
    u = Unit("students", train_students, {"students": p.students, "seed": 0, "teacher": None},
             size=4.0)
    timed.get_or_compute("demo", u.name, u.params, u.digest, lambda: {"t": pd.DataFrame(
        {"x": [1]})}, size=4.0)
    for path in (tmp_path / "timed" / "demo").glob("*/meta.json"):
        path.write_text(json.dumps({**json.loads(path.read_text()), "seconds": 8.0}))
    table = units.record_unit_times(timed, tmp_path / "unit_times.json")
    assert table["demo"]["students"][0] == 2.0  # seconds per unit of size
    monkeypatch.setattr(units, "UNIT_TIMES", tmp_path / "unit_times.json")
    fresh = estimate(Cache(tmp_path / "fresh"), "demo", [u])
    assert (fresh.held, fresh.seconds) == (0, 8.0)
