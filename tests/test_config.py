"""kdlib.config: typed sections, sparse profiles, one-line errors before any compute, and the
notebooks' parameters cells written from the models."""

from __future__ import annotations

import pytest

from kdlib import chapters
from kdlib.config import PROFILES, ParamError, Params, Section, param, parameters_cell


class Training(Section):
    """How the toy trains."""

    epochs: param(int, "epochs", 5, low=1, high=1000)
    alpha: param(float, "weight", 0.5, low=0, high=1)
    temperature: param(float, "T", 3.0, low=0, high=100, low_open=True)


class Data(Section):
    """What it trains on."""

    dataset: param(str, "data", "mnist", choices=("mnist", "fashion_mnist"))
    alphas: param(list, "sweep", [0.0, 1.0], low=0, high=1, item=float)
    snapshots: param(list, "epochs", [1], low=1, high=1000, item=int)


class Toy(Params):
    chapter = "toy"
    profiles = {"quick": {"epochs": 1}, "paper": {"epochs": 100}}
    training: Training = Training()
    data: Data = Data()

    def checked(self) -> Toy:
        if max(self.data.snapshots) > self.training.epochs:
            raise ParamError(f"snapshots must each be in [1, epochs={self.training.epochs}]; "
                             f"got {self.data.snapshots}")
        return self


def test_profile_values_and_overrides():
    assert Toy.resolve("quick")["epochs"] == 1
    assert Toy.resolve("paper").training.epochs == 100
    p = Toy.resolve("default", epochs=7, alpha=None)
    assert p.flat() == {"profile": "default", "epochs": 7, "alpha": 0.5, "temperature": 3.0,
                        "dataset": "mnist", "alphas": [0.0, 1.0], "snapshots": [1],
                        "executor": "local", "ray_address": "", "data_dir": "", "threads": 2}
    assert isinstance(p["temperature"], float)
    assert p.replace(temperature=5).training == Training(epochs=7, temperature=5.0)
    assert p.replace(temperature=5).profile == "default"


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
    ("threads", 0, "threads must be an integer in [1, 512]; got 0"),
    ("executor", "spark", "executor must be one of local, ray; got 'spark'"),
])
def test_bad_values_give_one_line_naming_the_parameter(name, value, message):
    with pytest.raises(ParamError) as e:
        Toy.resolve("default", **{name: value})
    assert str(e.value) == message
    with pytest.raises(ParamError) as e:
        Toy.resolve("default").replace(**{name: value})
    assert str(e.value) == message


def test_lists_from_papermill_strings():
    assert Toy.resolve(alphas="[0, 0.25, 1]")["alphas"] == [0.0, 0.25, 1.0]
    assert Toy.resolve(alphas="0, 0.5")["alphas"] == [0.0, 0.5]
    assert Toy.resolve(snapshots="[2, 4]")["snapshots"] == [2, 4]


def test_unknown_parameter_and_profile():
    with pytest.raises(ParamError, match="unknown parameter 'epoch' for toy "
                       r"\(did you mean 'epochs'\?\)"):
        Toy.resolve(epoch=3)
    with pytest.raises(ParamError, match="unknown parameter 'epoch'"):
        Toy.resolve().replace(epoch=3)
    with pytest.raises(ParamError, match="profile must be one of quick, default, paper"):
        Toy.resolve("fast")


def test_cross_checks_run_after_each_parameter_passed():
    with pytest.raises(ParamError, match=r"snapshots must each be in \[1, epochs=1\]"):
        Toy.resolve("quick", snapshots=[3])


def test_from_namespace_ignores_other_globals_and_refuses_an_injected_unknown_name():
    ns = {"profile": "quick", "epochs": None, "alpha": 0.2, "pd": object(), "In": []}
    p = Toy.from_namespace(ns)
    assert p.profile == "quick" and p["epochs"] == 1 and p["alpha"] == 0.2
    injected = "# Parameters\nprofile = 'quick'\nepoch = 3\n"
    with pytest.raises(ParamError, match="unknown parameter 'epoch'"):
        Toy.from_namespace({**ns, "In": ["", injected]})


def test_a_parameter_doc_with_an_equals_sign_is_refused():
    # papermill's parser silently drops a parameter line whose comment holds "="
    with pytest.raises(ValueError, match="must not contain '='"):
        param(int, "use x=1", 1)


def test_the_parameters_cell_lists_every_parameter_by_section():
    cell = parameters_cell(Toy, "papermill toy.ipynb out.ipynb -p epochs 2")
    assert "epochs = None  # an integer in [1, 1000]. epochs" in cell
    assert "# training: How the toy trains." in cell
    assert cell.index("# data:") < cell.index("dataset = None") < cell.index("# run:")
    names = [line.split(" = ")[0] for line in cell.splitlines() if " = None" in line]
    assert names == list(Toy.names())


@pytest.mark.parametrize("name", chapters.names())
def test_every_chapter_resolves_every_profile_and_its_profiles_are_sparse(name):
    model = chapters.get(name).params
    assert model.chapter == name
    defaults = model.resolve("default").flat()
    for profile in PROFILES:
        model.resolve(profile)
    for profile, changes in model.profiles.items():
        assert profile in PROFILES and profile != "default", profile
        unchanged = [k for k, v in changes.items() if model.resolve(profile)[k] == defaults[k]]
        assert not unchanged, f"{name}: profile {profile} repeats the defaults of {unchanged}"
