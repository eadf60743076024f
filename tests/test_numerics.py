"""Denormals are flushed to zero on every torch thread once kdlib is imported (kdlib.numerics)."""

import os
import subprocess
import sys

import torch

import kdlib  # noqa: F401  (sets the mode, as any kdlib import does)
from kdlib.numerics import flushes_on_every_thread


def test_denormals_are_flushed_on_every_thread():
    assert flushes_on_every_thread()
    tiny = torch.finfo(torch.float32).tiny
    assert (torch.tensor([1e-30]) * 1e-10).item() == 0.0  # 1e-40 would be denormal
    assert (torch.tensor([tiny]) * 2).item() == 2 * tiny  # normal numbers are untouched


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "2"}, timeout=120)


def test_threads_started_before_kdlib_are_refused_with_the_fix():
    late = _python("import torch; torch.set_num_threads(2); torch.full((1 << 20,), 1.0).sum(); "
                   "import kdlib")
    assert late.returncode != 0
    assert "kdlib must be imported before torch runs any parallel work" in late.stderr
    first = _python("import kdlib, torch; from kdlib.numerics import flushes_on_every_thread; "
                    "torch.set_num_threads(2); assert flushes_on_every_thread()")
    assert first.returncode == 0, first.stderr


def test_the_settings_that_change_results_do_not_depend_on_the_environment():
    """TensorFlow's oneDNN switch and Keras's backend change numbers that no cache key holds:
    kdlib sets them whatever the environment says."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "1", "KERAS_BACKEND": "jax"}
    out = subprocess.run([sys.executable, "-c", "import os, kdlib; print(os.environ["
                          "'TF_ENABLE_ONEDNN_OPTS'], os.environ['KERAS_BACKEND'])"],
                         env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["0", "tensorflow"]
