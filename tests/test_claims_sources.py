"""Self-consistency: every claim that restates numbers its source prints (a table, a matrix, a
figure's stated values; ``printed:`` in the claims file) holds on those numbers. A check that
fails on the source's own data tests something other than what the source says."""

import importlib

import pandas as pd
import pytest
import yaml

from kdlib import claims
from kdlib.claims import CLAIMS_DIR, HOLDS
from kdlib.evidence import Evidence

SOURCES = sorted(p.stem for p in CLAIMS_DIR.glob("*.yaml"))


def _registry(source: str):
    chapter = yaml.safe_load((CLAIMS_DIR / f"{source}.yaml").read_text())["chapter"]
    return importlib.import_module(f"kdlib.chapters.{chapter}").REGISTRY


def _as_two_runs(rows: pd.DataFrame) -> pd.DataFrame:
    """The printed numbers as two identical runs: an interval of zero width, so the check
    judges the numbers themselves."""
    return pd.concat([rows, rows.assign(run=rows["run"] + 1)], ignore_index=True)


@pytest.mark.parametrize("source", SOURCES)
def test_claims_hold_on_the_sources_own_numbers(source):
    found = [c for c in claims.load(source) if c.printed]
    printed = claims.printed(source)
    if not printed:
        pytest.skip(f"{source} prints no numbers of its own that a claim restates")
    registry = _registry(source)
    failed = []
    for c in found:
        ev = Evidence.build(_as_two_runs(printed[c.printed]), registry,
                            f"{source}'s printed '{c.printed}'", source_scale=True)
        j = claims.judge(c, ev)
        if j.verdict != HOLDS:
            failed.append(f"{c.id}: {j.verdict} ({j.ours}; {j.note})")
    assert not failed, "\n".join(failed)
    assert found, f"{source} has printed numbers but no claim names them"


def test_a_claim_that_misreads_the_source_fails_here():
    """The check has teeth: 001's '~96% for alpha in [0, 0.8]' read as ±0.5 points fails on
    the page's own numbers, whose peak in that range is ~97%."""
    c = next(c for c in claims.load("001") if c.id == "about-96-below-0.8")
    narrow = claims.Claim(**{**c.__dict__, "tolerance": 0.005})
    ev = Evidence.build(_as_two_runs(claims.printed("001")["multi-epoch-1000"]),
                        _registry("001"), "printed", source_scale=True)
    assert claims.judge(narrow, ev).verdict != HOLDS
    assert claims.judge(c, ev).verdict == HOLDS
