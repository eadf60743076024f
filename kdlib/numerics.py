"""The floating-point mode every kdlib computation runs in: denormals flushed to zero.

A confident network's softmax underflows into denormal (subnormal) floats, and their gradients
carry them through the whole backward pass; x86 cores handle every denormal operand in slow
microcode. The paper-scale alpha teacher's training steps became ~8x slower from it after a
dozen epochs (a confident teacher in ``bench/speed.py``: tens of times). TensorFlow flushes
denormals to zero on its own CPU threads, so Keras runs, the sources' included, compute this way
too; torch does not, unless asked.

torch's flag is per thread and its worker threads copy it from the thread that creates them, so
it is set when kdlib is first imported, before torch starts its thread pool, and checked there.
"""

from __future__ import annotations

import torch

__all__ = ["flush_denormals", "flushes_on_every_thread"]

_GRAIN = 32_768  # torch's grain size: element-wise work is split in chunks at least this large


def flushes_on_every_thread() -> bool:
    """Whether an element-wise product spread over all of torch's threads flushes denormals."""
    n = 2 * _GRAIN * torch.get_num_threads()
    return not bool(torch.any(torch.full((n,), 1e-30) * 1e-10))  # 1e-40 is denormal


def flush_denormals() -> None:
    """Flush denormals to zero on every torch CPU thread; raise if a thread already running
    keeps them (torch ran parallel work before kdlib was imported)."""
    if not torch.set_flush_denormal(True):
        return  # a CPU without the flush modes computes with denormals, slowly but correctly
    if not flushes_on_every_thread():
        raise RuntimeError(
            "kdlib must be imported before torch runs any parallel work: torch's worker threads "
            "started without flushing denormals to zero, so results would differ from every "
            "other kdlib run. Import kdlib first (e.g. `import kdlib` at the top).")
