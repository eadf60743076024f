"""The scorecard page: claims of every chapter judged as that chapter judges them, counted as
independent tests."""

import pandas as pd
import yaml

from kdlib import claims, scorecard
from kdlib.chapters import alpha as chapter
from kdlib.experiments import alpha
from kdlib.results import Cache

TINY = {"profile": "quick", "n_train": 200, "n_test": 100, "alphas": [0.0, 1.0], "epochs": 2,
        "snapshots": [1, 2], "seeds": 2, "batch_size": 50, "teacher_data": "subset"}


def _claims_dir(tmp_path):
    d = tmp_path / "claims"
    d.mkdir()
    base = {"quote": "q", "where": "w", "tolerance_why": "t"}
    doc = {"source": "000", "title": "A paper", "chapter": "alpha", "claims": [
        {"id": "far", "check": "approx", "metric": "test_acc", "reported": 0.99,
         "tolerance": 0.001, "at": {"student": "distilled", "alpha": 0.0, "epoch": 1000},
         **base},
        {"id": "again", "check": "approx", "metric": "test_acc", "reported": 0.995,
         "tolerance": 0.001, "at": {"student": "distilled", "alpha": 0.0, "epoch": 1000},
         **base},
        {"id": "none", "check": "approx", "reported": 1, "untestable": "no data offline",
         **base}]}
    (d / "000.yaml").write_text(yaml.safe_dump(doc))
    later = {"source": "009", "title": "Later", "chapter": "nothing", "claims": [doc["claims"][0]]}
    (d / "009.yaml").write_text(yaml.safe_dump(later))
    return d


def test_claims_are_judged_by_the_chapters_run_and_counted_once(tmp_path, monkeypatch):
    tiny = alpha.resolve(TINY)
    monkeypatch.setattr(alpha, "resolve", lambda _ns: tiny)
    monkeypatch.setattr(chapter, "paper_run", lambda p, root=None: None)  # this build's only
    d = _claims_dir(tmp_path)
    table = scorecard.judge("quick", Cache(tmp_path / "cache"), d)
    assert list(table["claim"]) == ["far", "again", "none"]
    # 200 images, 2 epochs: far from 99%; the two rows share one measurement: one test
    assert list(table["verdict"]) == ["contradicted", "contradicted", "not testable here"]
    text = scorecard.summary(table, d)
    assert "| 000 | A paper | [alpha](alpha) | 0 | 1 | 0 | 0 | 0 | 1 | 2 | 3 | 0 |" in text
    assert "| 009 | Later | no chapter yet | — | — | — | — | — | — | — | 1 | — |" in text
    assert "| **all** | | | **0** | **1** | **0** | **0** | **0** | **1** | **2** | **3** |" in text
    why = scorecard.not_testable(table)
    assert list(why["why"]) == ["no data offline"]


def test_readings_say_robust_or_reading_dependent():
    t = pd.DataFrame({"robust": [True, False, None]})
    assert list(scorecard.readings(t)) == ["robust", "depends on the reading", "one reading"]
    assert set(scorecard.readings(pd.DataFrame({"x": [1]}))) == {"one reading"}


def test_a_measurement_two_sources_share_counts_once_in_all():
    base = {"verdict": "holds", "group": "run|teacher_acc|True", "chapter": "alpha"}
    t = pd.DataFrame([{**base, "source": "000"}, {**base, "source": "001"}])
    assert claims.scorecard(t).sum().sum() == 2  # once per source
    assert claims.independent(t).sum() == 1  # once in all


def test_documents_lists_every_claims_file():
    docs = scorecard.documents()
    assert {"000", "001", "002", "003", "004"} <= set(docs["source"])
    assert isinstance(docs, pd.DataFrame) and (docs["claims"] > 0).all()
