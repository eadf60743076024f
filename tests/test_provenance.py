"""kdlib.provenance: the re-run command and the machine description."""

from kdlib import provenance


def test_papermill_command_round_trips_parameters():
    cmd = provenance.papermill_command(
        "alpha", {"profile": "quick", "temperature": 3.0, "alphas": [0.0, 1.0], "data_dir": "",
                  "dataset": "mnist"})
    assert cmd == ("papermill notebooks/alpha.ipynb alpha.out.ipynb -p profile 'quick' "
                   "-p temperature 3.0 -p alphas '[0.0, 1.0]' -p dataset 'mnist'")


def test_machine_and_commit():
    assert provenance.cpu_model().endswith(" cores")
    assert provenance.git_commit()  # a commit hash, or says it is not a checkout


def test_provenance_table():
    t = provenance.provenance("alpha", {"profile": "quick"}, "ab" * 32, 1.5, 12.25)
    values = dict(zip(t["what"], t["value"], strict=True))
    assert values["profile"] == "quick" and values["data digest"] == "ab" * 8
    assert values["compute time of the results (s)"] == "12.2"
