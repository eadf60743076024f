"""kdlib.config: profiles, overrides, and one-line errors before any compute."""

import pytest

from kdlib.config import Param, ParamError, Schema
from kdlib.experiments import alpha

SCHEMA = Schema("toy", (
    Param("epochs", int, "epochs", {"quick": 1, "default": 5, "paper": 100}, low=1, high=1000),
    Param("alpha", float, "weight", {"quick": 0.5, "default": 0.5, "paper": 0.5}, low=0, high=1),
    Param("temperature", float, "T", {"quick": 3, "default": 3, "paper": 3},
          low=0, high=100, low_open=True),
    Param("dataset", str, "data", {"quick": "mnist", "default": "mnist", "paper": "mnist"},
          choices=("mnist", "fashion_mnist")),
    Param("alphas", list, "sweep", {"quick": [0, 1], "default": [0, 1], "paper": [0, 1]},
          low=0, high=1),
    Param("snapshots", list, "epochs", {"quick": [1], "default": [1], "paper": [1]},
          low=1, high=1000, item=int),
))


def test_profile_values_and_overrides():
    assert SCHEMA.resolve("quick")["epochs"] == 1
    assert SCHEMA.resolve("paper")["epochs"] == 100
    p = SCHEMA.resolve("default", epochs=7, alpha=None)
    assert p == {"profile": "default", "epochs": 7, "alpha": 0.5, "temperature": 3.0,
                 "dataset": "mnist", "alphas": [0.0, 1.0], "snapshots": [1]}
    assert isinstance(p["temperature"], float)


@pytest.mark.parametrize("name, value, message", [
    ("alpha", 1.5, "alpha must be a number in [0, 1]; got 1.5"),
    ("epochs", -3, "epochs must be an integer in [1, 1000]; got -3"),
    ("epochs", 2.5, "epochs must be an integer in [1, 1000]; got 2.5"),
    ("epochs", float("inf"), "epochs must be an integer in [1, 1000]; got inf"),
    ("epochs", "3", "epochs must be an integer in [1, 1000]; got '3'"),
    ("dataset", "cifar1000", "dataset must be one of mnist, fashion_mnist; got 'cifar1000'"),
    ("temperature", 0, "temperature must be a number in (0, 100]; got 0"),
    ("alpha", float("nan"), "alpha must be a number in [0, 1]; got nan"),
    ("alpha", True, "alpha must be a number in [0, 1]; got True"),
    ("alphas", [0, 2], "alphas must be a list of numbers, each in [0, 1]; got [0, 2]"),
    ("alphas", "0, x", "alphas must be a list of numbers, each in [0, 1]; got '0, x'"),
    ("snapshots", [1.5], "snapshots must be a list of integers, each in [1, 1000]; got [1.5]"),
])
def test_bad_values_give_one_line_naming_the_parameter(name, value, message):
    with pytest.raises(ParamError) as e:
        SCHEMA.resolve("default", **{name: value})
    assert str(e.value) == message
    assert "\n" not in str(e.value)


def test_lists_from_papermill_strings():
    assert SCHEMA.resolve(alphas="[0, 0.25, 1]")["alphas"] == [0.0, 0.25, 1.0]
    assert SCHEMA.resolve(alphas="0, 0.5")["alphas"] == [0.0, 0.5]
    assert SCHEMA.resolve(snapshots="[2, 4]")["snapshots"] == [2, 4]


def test_unknown_parameter_and_profile():
    with pytest.raises(ParamError, match="unknown parameter 'epoch' for toy"):
        SCHEMA.resolve(epoch=3)
    with pytest.raises(ParamError, match="profile must be one of quick, default, paper"):
        SCHEMA.resolve("fast")


def test_from_namespace_ignores_other_globals():
    ns = {"profile": "quick", "epochs": None, "alpha": 0.2, "pd": object(), "In": []}
    p = SCHEMA.from_namespace(ns)
    assert p["profile"] == "quick" and p["epochs"] == 1 and p["alpha"] == 0.2


def test_every_profile_of_every_chapter_is_valid():
    for profile in ("quick", "default", "paper"):
        p = alpha.resolve({"profile": profile})
        assert max(p["snapshots"]) == p["epochs"]


def test_alpha_cross_checks():
    with pytest.raises(ParamError, match=r"snapshots must each be in \[1, epochs=2\]"):
        alpha.resolve({"profile": "quick", "snapshots": [3]})


def test_a_parameter_doc_with_an_equals_sign_is_refused():
    # papermill's parser silently drops a parameter line whose comment holds "="
    with pytest.raises(ValueError, match="must not contain '='"):
        Param("x", int, "use x=1", {"quick": 1, "default": 1, "paper": 1})
