"""The scorecard page: claims of every chapter judged by that chapter's own run."""

import pandas as pd
import yaml

from kdlib import scorecard
from kdlib.experiments import iisc
from kdlib.results import Cache


def _claims_dir(tmp_path):
    d = tmp_path / "claims"
    d.mkdir()
    doc = {"source": "002", "title": "A paper", "chapter": "iisc", "claims": [
        {"id": "teacher", "quote": "q", "where": "w", "check": "approx", "metric": "teacher_acc",
         "reported": 0.5, "tolerance": 0.01},
        {"id": "far", "quote": "q", "where": "w", "check": "approx", "reported": 1,
         "untestable": "no data offline"}]}
    (d / "002.yaml").write_text(yaml.safe_dump(doc))
    later = {"source": "009", "title": "Later", "chapter": "nothing", "claims": [doc["claims"][0]]}
    (d / "009.yaml").write_text(yaml.safe_dump(later))
    return d


def test_claims_are_judged_by_the_chapters_run_and_counted(tmp_path, monkeypatch):
    tiny = iisc.resolve({"profile": "quick", "n_train": 300, "rows": [1], "seeds": 2,
                         "rounds": 2, "latency_calls": 2, "throughput_batch": 8,
                         "train_steps": 1, "cifar": False})
    monkeypatch.setattr(iisc, "resolve", lambda _ns: tiny)
    d = _claims_dir(tmp_path)
    table = scorecard.judge("quick", Cache(tmp_path / "cache"), d)
    assert list(table["claim"]) == ["teacher", "far"]
    assert list(table["verdict"]) == ["contradicted", "not testable here"]  # 300 images: > 0.51
    text = scorecard.summary(table, d)
    assert "| 002 | A paper | [iisc](iisc) | 0 | 1 | 0 | 0 | 1 | 2 |" in text
    assert "| 009 | Later | no chapter yet | — | — | — | — | — | 1 |" in text
    assert "| **all** | | | **0** | **1** | **0** | **0** | **1** | **2** |" in text
    why = scorecard.not_testable(table)
    assert list(why["why"]) == ["no data offline"]


def test_documents_lists_every_claims_file():
    docs = scorecard.documents()
    assert {"000", "001", "002", "004"} <= set(docs["source"])
    assert isinstance(docs, pd.DataFrame) and (docs["claims"] > 0).all()
