"""Training loops in torch: teacher, and many students distilled at once.

Speed tricks, each named (see ``bench/`` for their measured effect):
- teacher logits are computed once per input set and reused by every student and epoch;
- the students of a sweep train together as one :class:`~kdlib.models.StackedHaoCNN`
  (grouped convolutions), one optimiser step for all;
- the stride-1 'same' max-pool runs channels-last (:func:`~kdlib.models.max_pool_same`);
- ``make`` sets ``MALLOC_MMAP_MAX_=0`` and a high ``MALLOC_TRIM_THRESHOLD_`` so big buffers
  are reused instead of returned to the OS and faulted in again every step.

Optimiser: Adam with Keras's defaults (lr 1e-3, betas 0.9/0.999, eps 1e-7), batch order
reshuffled every epoch from the run's seed, last partial batch kept (as ``keras.Model.fit``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from tqdm import tqdm

from kdlib.losses import kd_loss

__all__ = ["adam", "distil_stack", "predict", "seed_everything", "train_supervised"]


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch's global generator and return a generator for the batch order."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def adam(params, lr: float) -> torch.optim.Adam:
    """Adam with Keras's default epsilon."""
    return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-7)


def _batches(n: int, batch_size: int, gen: torch.Generator) -> list[torch.Tensor]:
    return list(torch.randperm(n, generator=gen).split(batch_size))


@torch.inference_mode()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Logits of ``model`` on ``x``, in evaluation mode, batched."""
    model.eval()
    return torch.cat([model(xb) for xb in x.split(batch_size)])


def train_supervised(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int,
                     batch_size: int, lr: float, seed: int, desc: str = "teacher") -> list[float]:
    """Plain cross-entropy training; returns the mean training loss of each epoch."""
    gen = torch.Generator().manual_seed(seed)
    opt = adam(model.parameters(), lr)
    losses = []
    model.train()
    for _ in tqdm(range(epochs), desc=desc, unit="epoch", mininterval=5):
        total = 0.0
        for idx in _batches(len(x), batch_size, gen):
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        losses.append(total / len(x))
    return losses


def distil_stack(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                 teacher_logits: torch.Tensor, alphas: Sequence[float], temperature: float,
                 epochs: int, batch_size: int, lr: float, seed: int,
                 snapshots: Sequence[int] = (),
                 on_snapshot: Callable[[int, nn.Module], None] | None = None,
                 desc: str = "students") -> torch.Tensor:
    """Distil ``len(alphas)`` stacked students at once; returns per-epoch training losses.

    ``model`` maps ``(B, S, H, W)`` to ``(B, S, C)``. All students share the batch order
    (common random numbers: differences between alphas are not blurred by data order); each
    has its own weights, its own alpha and its own Adam state. ``on_snapshot(epoch, model)`` is
    called after each epoch listed in ``snapshots``. Returns a tensor ``(epochs, S)``.
    """
    s = len(alphas)
    alpha = torch.tensor(list(alphas), dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)
    opt = adam(model.parameters(), lr)
    history = torch.zeros(epochs, s, dtype=torch.float64)
    for epoch in tqdm(range(1, epochs + 1), desc=desc, unit="epoch", mininterval=5):
        model.train()
        total = torch.zeros(s, dtype=torch.float64)
        for idx in _batches(len(x), batch_size, gen):
            xb = x[idx, 0].unsqueeze(1).expand(-1, s, -1, -1)  # (B, S, H, W)
            logits = model(xb).transpose(0, 1)  # (S, B, C)
            tb = teacher_logits[idx].expand(s, -1, -1)
            yb = y[idx].expand(s, -1)
            loss = kd_loss(logits, tb, yb, alpha, temperature)  # (S,)
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt.step()
            total += loss.detach().double() * len(idx)
        history[epoch - 1] = total / len(x)
        if epoch in snapshots and on_snapshot is not None:
            on_snapshot(epoch, model)
    return history
