"""kdlib.provenance: the re-run command and the machine description."""

import re

from kdlib import provenance


def test_papermill_command_round_trips_parameters():
    cmd = provenance.papermill_command(
        "alpha", {"profile": "quick", "temperature": 3.0, "alphas": [0.0, 1.0], "data_dir": "",
                  "dataset": "mnist"})
    assert cmd == ("papermill notebooks/alpha.ipynb alpha.out.ipynb -p profile quick "
                   "-p temperature 3.0 -p alphas '[0.0, 1.0]' -p dataset mnist")
    assert "data_dir" not in cmd  # empty means the default search, so it is left out


def test_machine_and_commit():
    assert provenance.cpu_model().endswith(" cores")
    assert re.fullmatch(r"[0-9a-f]{12}(\+dirty)?", provenance.git_commit())  # tests run in a clone


def test_provenance_table():
    t = provenance.provenance("alpha", {"profile": "quick"}, "ab" * 32, 1.5, 12.25)
    values = dict(zip(t["what"], t["value"], strict=True))
    assert values["profile"] == "quick"
    assert values["data digest (SHA-256 of the files' MD5s)"] == "ab" * 32  # in full
    assert values["compute time of the results (s)"] == "12.2"
