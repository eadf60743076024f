"""Where a chapter's numbers came from: profile, parameters, commit, data, machine, time."""

from __future__ import annotations

import json
import shlex
from typing import Any

import pandas as pd
import torch

from kdlib.results import code_hash, cpu_model, git_commit

__all__ = ["cpu_model", "git_commit", "papermill_command", "provenance"]


def papermill_command(chapter: str, params: dict[str, Any]) -> str:
    """The command that re-runs a chapter with exactly these parameters (shell-quoted)."""
    args = " ".join(f"-p {k} {shlex.quote(json.dumps(v) if isinstance(v, list) else str(v))}"
                    for k, v in params.items() if v != "")
    return f"papermill notebooks/{chapter}.ipynb {chapter}.out.ipynb {args}"


def provenance(chapter: str, params: dict[str, Any], data_digest: str, seconds: float,
               compute_seconds: float) -> pd.DataFrame:
    """A two-column table for the end of a chapter."""
    rows = {
        "profile": params["profile"],
        "git commit": git_commit(),
        "kdlib source hash": code_hash()[:16],
        "data digest (SHA-256 of the files' MD5s)": data_digest,
        "machine": cpu_model(),
        "torch": torch.__version__,
        "compute time of the results (s)": f"{compute_seconds:.1f}",
        "wall time of this execution (s)": f"{seconds:.1f} (less when results come from the cache)",
        "re-run with": papermill_command(chapter, params),
    }
    return pd.DataFrame({"what": list(rows), "value": list(rows.values())})
