"""kdlib.claims: each check's verdicts, on evidence whose answers we know."""

import numpy as np
import pandas as pd
import pytest

from kdlib import claims
from kdlib.claims import Claim


class Fake:
    """Three seeds; accuracy = 0.90 + 0.01 * alpha-index with a little noise."""

    def __init__(self):
        alphas = [0.0, 0.5, 1.0]
        self.table = pd.DataFrame(
            [[0.950, 0.951, 0.949], [0.960, 0.962, 0.958], [0.930, 0.931, 0.929]],
            index=pd.Index(alphas, name="alpha"), columns=[0, 1, 2])

    def values(self, metric, at):
        if at.get("epoch") == 1000:
            return None
        if metric == "flat":
            return np.array([0.001, -0.001, 0.0])
        return self.table.loc[at["alpha"]].to_numpy() if "alpha" in at else None

    def curve(self, metric, at):
        return None if at.get("epoch") == 1000 else self.table

    def where(self, at):
        return ", ".join(f"{k} {v}" for k, v in at.items()) or "—"


def verdict(**kw):
    c = Claim(source="x", id="c", quote="q", where="w", **kw)
    return claims.evaluate([c], Fake()).iloc[0]["verdict"]


def test_approx_and_at_most():
    assert verdict(check="approx", reported=0.95, tolerance=0.002, at={"alpha": 0.0}) == "holds"
    assert verdict(check="approx", reported=0.97, tolerance=0.002,
                   at={"alpha": 0.0}) == "contradicted"
    assert verdict(check="at_most", reported=0.931, at={"alpha": 1.0}) == "holds"
    assert verdict(check="at_most", reported=0.931, at={"alpha": 0.5}) == "contradicted"


def test_relative_tolerance_scales_with_the_reported_value():
    # ours: 0.949 to 0.951 at alpha 0; 2% of 0.97 (0.0194) reaches it, 2% of 0.90 does not
    assert verdict(check="approx", reported=0.97, rel_tolerance=0.02,
                   at={"alpha": 0.0}) == "holds"
    assert verdict(check="approx", reported=0.90, rel_tolerance=0.02,
                   at={"alpha": 0.0}) == "contradicted"


def test_argmax_and_all_approx():
    assert verdict(check="argmax", reported=0.5) == "holds"
    assert verdict(check="argmax", reported=1.0) == "contradicted"
    assert verdict(check="all_approx", reported=0.955, tolerance=0.006,
                   range=(0.0, 0.5)) == "holds"
    assert verdict(check="all_approx", reported=0.955, tolerance=0.006,
                   range=(0.0, 1.0)) == "contradicted"


def test_greater_is_paired_and_can_be_inconclusive():
    assert verdict(check="greater", reported="", at={"alpha": 0.5},
                   than={"alpha": 1.0}) == "holds"
    assert verdict(check="greater", reported="", at={"alpha": 1.0},
                   than={"alpha": 0.5}) == "contradicted"
    assert verdict(check="greater", reported="", metric="flat", at={"alpha": 0.0}) == \
        "inconclusive"
    assert verdict(check="not_greater", reported="", metric="flat", at={"alpha": 0.0}) == \
        "holds"
    assert verdict(check="not_greater", reported="", at={"alpha": 0.0}) == "contradicted"


def test_untestable_and_unreached():
    row = claims.evaluate([Claim("x", "c", "q", "w", "approx", 0.9, at={"epoch": 1000,
                                                                        "alpha": 0.0})],
                          Fake()).iloc[0]
    assert row["verdict"] == "not testable here" and "cannot say" in row["note"]
    row = claims.evaluate([Claim("x", "c", "q", "w", "approx", 0.9,
                                 untestable="needs CIFAR-100, not available offline")],
                          Fake()).iloc[0]
    assert row["verdict"] == "not testable here" and row["note"].startswith("needs CIFAR-100")


def test_claim_files_load_and_scorecard_counts():
    table = claims.evaluate(claims.load("000") + claims.load("001"), Fake())
    assert len(table) >= 20 and set(table["verdict"]) <= set(claims.VERDICTS)
    card = claims.scorecard(table)
    assert list(card.columns) == list(claims.VERDICTS)
    assert card.sum(axis=1).tolist() == table.groupby("source").size().tolist()


def test_unknown_check_is_refused(tmp_path):
    (tmp_path / "9.yaml").write_text(
        "source: '9'\nclaims:\n  - {id: a, quote: q, where: w, check: bigger, reported: 1}\n")
    with pytest.raises(ValueError, match="check must be one of approx"):
        claims.load("9", tmp_path)
