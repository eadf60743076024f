"""Training loops in torch: teacher, and many students distilled at once.

Speed tricks, each named (see ``bench/`` for their measured effect):
- teacher logits are computed once per input set and reused by every student and epoch;
- the students of a sweep train together as one :class:`~kdlib.models.StackedHaoCNN`
  (shared image patches, channels-last activations, grouped convolutions), one optimiser
  step for all;
- the stride-1 'same' max-pool runs channels-last (:func:`~kdlib.models.max_pool_same`);
- Adam is torch's fused CPU kernel (one call per step instead of one per tensor and op);
- ``make`` sets ``MALLOC_MMAP_MAX_=0`` and a high ``MALLOC_TRIM_THRESHOLD_`` so big buffers
  are reused instead of returned to the OS and faulted in again every step.

Optimiser: Adam with Keras's defaults (lr 1e-3, betas 0.9/0.999, eps 1e-7), batch order
reshuffled every epoch from the run's seed, last partial batch kept (as ``keras.Model.fit``).

Resuming: every loop but :func:`distil_batched` can hand its whole state (weights, the
optimiser's moments, the batch-order generator, the loss history) to a callback every few epochs
and start again from such a state; a resumed run is bit-for-bit the uninterrupted one
(``tests/test_train.py``). That logic, and the progress bar, are written once (:class:`_Epochs`).

Progress: one bar per run on stderr counts its steps (epochs x batches), redrawn at most every
5 s, so a long epoch shows its progress too. It is plain ``tqdm.tqdm``, never ``tqdm.auto``: in a
notebook kernel without ipywidgets that one warns "IProgress not found" (``kdlib.book.Progress``
shows the kernel's stderr while a chapter runs).
"""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from kdlib.losses import kd_loss

__all__ = ["Recipe", "adam", "crop_flip", "distil_batched", "distil_stack", "mixup", "predict",
           "sgd_cosine", "train_augmented", "train_supervised"]


def adam(params, lr: float) -> torch.optim.Adam:
    """Adam with Keras's default epsilon, as torch's fused kernel."""
    return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-7, fused=True)


def _batches(n: int, batch_size: int, gen: torch.Generator) -> list[torch.Tensor]:
    return list(torch.randperm(n, generator=gen).split(batch_size))


@torch.inference_mode()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Logits of ``model`` on ``x``, in evaluation mode, in batches joined along the batch
    dimension (the second-to-last: ``(N, C)`` for one model, ``(S, N, C)`` for a stack)."""
    model.eval()
    return torch.cat([model(xb) for xb in x.split(batch_size)], dim=-2)


class _Epochs:
    """The epochs of one training run: resumable, checkpointed, with a progress bar.

    ``state`` (a checkpoint, or None) is handed to ``load`` and the run goes on after its
    epoch. The bar counts the run's steps (``epochs`` x ``batches``) on stderr, redrawn at most
    every 5 s, so a long epoch shows its progress too; call :meth:`step` after each batch.
    :meth:`checkpoint` after epoch ``e`` hands ``on_checkpoint`` a deep copy (training goes on
    changing the tensors) of ``{"epoch": e, **save()}`` when ``every`` divides ``e`` and ``e``
    is not the last epoch. The bar closes when the iteration ends, early or not.
    """

    def __init__(self, epochs: int, batches: int, desc: str,
                 state: dict[str, Any] | None = None,
                 load: Callable[[dict[str, Any]], None] | None = None,
                 save: Callable[[], dict[str, Any]] | None = None, every: int = 0,
                 on_checkpoint: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.epochs, self.save, self.every, self.on_checkpoint = epochs, save, every, on_checkpoint
        self.first = 1
        if state is not None:
            if load is None:
                raise ValueError("state given to a run that cannot resume")
            load(state)
            self.first = state["epoch"] + 1
        self.bar = tqdm(total=epochs * batches, initial=(self.first - 1) * batches, desc=desc,
                        unit="step", mininterval=5, file=sys.stderr, dynamic_ncols=True)

    def __iter__(self) -> Iterator[int]:
        try:
            for epoch in range(self.first, self.epochs + 1):
                self.bar.set_postfix_str(f"epoch {epoch}/{self.epochs}", refresh=False)
                yield epoch
        finally:
            self.bar.close()

    def step(self) -> None:
        """One batch done."""
        self.bar.update()

    def checkpoint(self, epoch: int) -> None:
        """After ``epoch``: a checkpoint to ``on_checkpoint``, if one is due."""
        if (self.every and self.on_checkpoint and self.save and epoch % self.every == 0
                and epoch < self.epochs):
            self.on_checkpoint(copy.deepcopy({"epoch": epoch, **self.save()}))


def _n_batches(n: int, batch_size: int) -> int:
    return -(-n // batch_size)


def _model_parts(model: nn.Module, opt: torch.optim.Optimizer, gen: torch.Generator
                 ) -> tuple[Callable[[dict[str, Any]], None], Callable[[], dict[str, Any]]]:
    """``load`` and ``save`` of a run's model, optimiser and batch-order generator (the
    checkpoint keys ``model``, ``optimizer``, ``generator``)."""
    def load(state: dict[str, Any]) -> None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])

    def save() -> dict[str, Any]:
        return {"model": model.state_dict(), "optimizer": opt.state_dict(),
                "generator": gen.get_state()}
    return load, save


def train_supervised(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int,
                     batch_size: int, lr: float, seed: int, desc: str = "teacher",
                     stop: Callable[[nn.Module], bool] | None = None,
                     state: dict[str, Any] | None = None, checkpoint_every: int = 0,
                     on_checkpoint: Callable[[dict[str, Any]], None] | None = None
                     ) -> list[float]:
    """Plain cross-entropy training for at most ``epochs`` epochs, ending early after the
    first epoch for which ``stop(model)`` is true; returns each epoch's mean training loss.

    ``on_checkpoint(state)`` and ``state`` work as in :func:`distil_stack`.
    """
    gen = torch.Generator().manual_seed(seed)
    opt = adam(model.parameters(), lr)
    losses: list[float] = []
    load, save = _model_parts(model, opt, gen)

    def load_all(state: dict[str, Any]) -> None:
        load(state)
        losses.extend(state["losses"])

    run = _Epochs(epochs, _n_batches(len(x), batch_size), desc, state, load_all,
                  lambda: {**save(), "losses": losses}, checkpoint_every, on_checkpoint)
    for epoch in run:
        model.train()
        total = 0.0
        for idx in _batches(len(x), batch_size, gen):
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            run.step()
        losses.append(total / len(x))
        if stop is not None and stop(model):
            break
        run.checkpoint(epoch)
    return losses


def distil_stack(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                 teacher_logits: torch.Tensor, alphas: Sequence[float],
                 temperature: float | Sequence[float],
                 epochs: int, batch_size: int, lr: float, seed: int,
                 snapshots: Sequence[int] = (),
                 on_snapshot: Callable[[int, nn.Module], None] | None = None,
                 desc: str = "students", state: dict[str, Any] | None = None,
                 checkpoint_every: int = 0,
                 on_checkpoint: Callable[[dict[str, Any]], None] | None = None) -> torch.Tensor:
    """Distil ``len(alphas)`` stacked students at once; returns per-epoch training losses.

    ``model`` maps ``(B, C, H, W)`` to ``(S, B, classes)``. All students share the batch order
    (common random numbers: differences between alphas are not blurred by data order); each
    has its own weights, its own alpha (and temperature, if a sequence is given) and its own
    Adam state. ``on_snapshot(epoch, model)`` is
    called after each epoch listed in ``snapshots``; ``on_checkpoint(state)`` after every
    ``checkpoint_every``-th epoch but the last, and a ``state`` from it resumes the run there.
    Returns a tensor ``(epochs, S)``.
    """
    s = len(alphas)
    alpha = torch.tensor(list(alphas), dtype=torch.float32)
    if isinstance(temperature, Sequence):
        temperature = torch.tensor(list(temperature), dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)
    opt = adam(model.parameters(), lr)
    history = torch.zeros(epochs, s, dtype=torch.float64)
    load, save = _model_parts(model, opt, gen)

    def load_all(state: dict[str, Any]) -> None:
        load(state)
        history[:state["epoch"]] = state["history"][:state["epoch"]]

    run = _Epochs(epochs, _n_batches(len(x), batch_size), desc, state, load_all,
                  lambda: {**save(), "history": history}, checkpoint_every, on_checkpoint)
    for epoch in run:
        model.train()
        total = torch.zeros(s, dtype=torch.float64)
        for idx in _batches(len(x), batch_size, gen):
            logits = model(x[idx])  # (S, B, C)
            loss = kd_loss(logits, teacher_logits[idx].expand(s, -1, -1), y[idx].expand(s, -1),
                           alpha, temperature)  # (S,)
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt.step()
            total += loss.detach().double() * len(idx)
            run.step()
        history[epoch - 1] = total / len(x)
        if epoch in snapshots and on_snapshot is not None:
            on_snapshot(epoch, model)
        run.checkpoint(epoch)
    return history


def distil_batched(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                   teacher_logits: torch.Tensor, alpha: float, temperature: float, epochs: int,
                   batch_size: int, lr: float, seeds: Sequence[int],
                   desc: str = "students") -> torch.Tensor:
    """Distil ``len(seeds)`` independent students at once; returns per-epoch training losses
    ``(epochs, S)``.

    ``model`` maps ``(S, B, ...)`` to ``(S, B, classes)`` (a :class:`~kdlib.models.BatchedMLP`);
    student ``i`` has its own teacher (``teacher_logits[i]``, shape ``(S, N, classes)``) and its
    own batch order, drawn as a lone run with seed ``seeds[i]`` would draw it: a batched run
    trains each student as it would train alone, up to the rounding of the batched products
    (``tests/test_train.py``).
    """
    s = len(seeds)
    gens = [torch.Generator().manual_seed(seed) for seed in seeds]
    rows = torch.arange(s)[:, None]
    opt = adam(model.parameters(), lr)
    history = torch.zeros(epochs, s, dtype=torch.float64)
    run = _Epochs(epochs, _n_batches(len(x), batch_size), desc)
    for epoch in run:
        model.train()
        order = torch.stack([torch.randperm(len(x), generator=g) for g in gens])
        total = torch.zeros(s, dtype=torch.float64)
        for idx in order.split(batch_size, dim=1):  # (S, B): one batch per student
            loss = kd_loss(model(x[idx]), teacher_logits[rows, idx], y[idx], alpha,
                           temperature)  # (S,)
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt.step()
            total += loss.detach().double() * idx.shape[1]
            run.step()
        history[epoch - 1] = total / len(x)
    return history


def crop_flip(x: torch.Tensor, gen: torch.Generator, pad: int = 4) -> torch.Tensor:
    """The standard CIFAR augmentation of an NCHW batch, per image: a random crop of the
    zero-padded image (``pad`` pixels each side) and a horizontal flip with probability 1/2.
    (Slicing image by image is 3x faster here than one gather with index tensors.)"""
    n, _, h, w = x.shape
    padded = nn.functional.pad(x, (pad, pad, pad, pad))
    dy, dx = torch.randint(0, 2 * pad + 1, (2, n), generator=gen).tolist()
    flip = torch.rand(n, generator=gen) < 0.5
    out = torch.stack([padded[i, :, a:a + h, b:b + w] for i, (a, b) in enumerate(zip(dy, dx,
                                                                                 strict=True))])
    return torch.where(flip[:, None, None, None], out.flip(3), out)


@dataclass(frozen=True)
class Recipe:
    """How one model of :func:`train_augmented` learns: ``alpha`` weights the cross-entropy
    (1: labels only; 0: KL to the teacher only, Beyer et al.'s function matching), at
    ``temperature``; ``optimizer`` "sgd" (Nesterov momentum 0.9, weight decay 5e-4) or "adam"
    (torch's defaults), at learning rate ``lr`` decayed to 0 along a cosine; ``teacher``
    names the teacher it distils from, when :func:`train_augmented` is given several."""

    alpha: float = 1.0
    temperature: float = 1.0
    lr: float = 0.05
    optimizer: str = "sgd"
    teacher: str = "teacher"


def _optimiser(params, recipe: Recipe, steps: int
               ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    if recipe.optimizer == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam(params, lr=recipe.lr)
        return opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps))
    if recipe.optimizer != "sgd":
        raise ValueError(f"optimizer must be one of sgd, adam; got {recipe.optimizer!r}")
    return sgd_cosine(params, recipe.lr, steps)


def mixup(x: torch.Tensor, gen: torch.Generator, concentration: float) -> torch.Tensor:
    """Mixup of a batch with a shuffled copy of itself: ``l * x + (1 - l) * x[perm]``, one
    ``l ~ Beta(concentration, concentration)`` per batch, drawn from ``gen``. Labels are not
    mixed: it is meant for function matching, where the targets are the teacher's outputs on
    the mixed images."""
    seed = int(torch.randint(0, 2**62, (1,), generator=gen))
    lam = float(np.random.default_rng(seed).beta(concentration, concentration))
    perm = torch.randperm(len(x), generator=gen)
    return lam * x + (1 - lam) * x[perm]


def sgd_cosine(params, lr: float, steps: int
               ) -> tuple[torch.optim.SGD, torch.optim.lr_scheduler.LRScheduler]:
    """SGD with Nesterov momentum 0.9 and weight decay 5e-4, its learning rate decayed to 0
    along a cosine over ``steps`` steps: the usual recipe for ResNets on CIFAR."""
    opt = torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    return opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps))


def nhwc_unsafe(models: Sequence[nn.Module]) -> str:
    """Why channels-last training would corrupt memory on this CPU, or "" where it is safe.

    torch 2.13's CPU build on a CPU without AVX-512 (AVX2 dispatch) computes the weight
    gradient of a 1x1 stride-2 convolution in NHWC order with oneDNN's AVX2 kernel, which
    writes out of bounds when the convolution has 2 to 7 input channels: a heap corruption
    that aborts, hangs or goes on with damaged memory (found on an AMD EPYC, Zen 2, for the
    teachers chapter's ResNets at width 0.25). NCHW order takes another path, unaffected.
    """
    if torch.backends.cpu.get_cpu_capability().startswith("AVX512"):
        return ""
    bad = sorted({f"{type(m).__name__}.{name}" for m in models for name, c in m.named_modules()
                  if isinstance(c, nn.Conv2d) and c.kernel_size == (1, 1)
                  and max(c.stride) > 1 and 2 <= c.in_channels // c.groups < 8})
    if not bad:
        return ""
    return (f"oneDNN's AVX2 weight gradient of a 1x1 stride-2 convolution with 2-7 input "
            f"channels writes out of bounds in NHWC order ({', '.join(bad[:3])}"
            f"{', ...' if len(bad) > 3 else ''}); use channels_last=False")


def train_augmented(models: dict[str, nn.Module], recipes: dict[str, Recipe], x: torch.Tensor,
                    y: torch.Tensor, epochs: int, batch_size: int, seed: int,
                    teacher: nn.Module | dict[str, nn.Module] | None = None,
                    mixup_concentration: float = 0.0, desc: str = "training",
                    state: dict[str, Any] | None = None,
                    on_epoch: Callable[[dict[str, Any]], None] | None = None,
                    after_epoch: Callable[[int], bool] | None = None,
                    channels_last: bool = False) -> dict[str, float]:
    """Train several models on the same augmented batches (:func:`crop_flip`, then
    :func:`mixup` if ``mixup_concentration`` > 0), each by its own :class:`Recipe`. The
    teacher sees exactly the view the students see: its logits are computed on the fly, once
    per batch, for every model that distils (``alpha`` < 1). ``teacher`` may be a dict of
    teachers, each named by the recipes that distil from it (``Recipe.teacher``).

    Returns the seconds each model spent in its own steps, and under each teacher's name
    (``"teacher"`` for a lone one) those the teacher spent; a model's time alone is its own
    plus, if it distils, its teacher's. ``on_epoch(state)`` is called after every epoch but the
    last; a ``state`` from it resumes the run there, bit for bit. ``after_epoch(epoch)`` is
    called after every epoch (to record curves); if it returns true, training ends there
    (early stopping). ``channels_last`` puts the models and batches in NHWC memory order
    (1.4 to 1.7 times faster for the depthwise MobileNets here; ``bench/speed.py``).
    """
    if mixup_concentration > 0 and any(r.alpha > 0 for r in recipes.values()):
        raise ValueError("mixup needs alpha = 0 for every model (labels are not mixed)")
    teachers = ({} if teacher is None else
                teacher if isinstance(teacher, dict) else {"teacher": teacher})
    used = {r.teacher for r in recipes.values() if r.alpha < 1} & set(teachers)
    if teachers and any(r.alpha < 1 and r.teacher not in teachers for r in recipes.values()):
        raise ValueError(f"a recipe names a teacher not given; teachers: {', '.join(teachers)}")
    if channels_last:
        if unsafe := nhwc_unsafe([*models.values(), *teachers.values()]):
            raise ValueError(f"channels_last=True is refused on this CPU: {unsafe}")
        for m in [*models.values(), *teachers.values()]:
            m.to(memory_format=torch.channels_last)
    gen = torch.Generator().manual_seed(seed)
    steps = epochs * _n_batches(len(x), batch_size)
    optims = {name: _optimiser(m.parameters(), recipes[name], steps)
              for name, m in models.items()}
    seconds = dict.fromkeys([*models, *(teachers or {"teacher": None})], 0.0)

    def load(state: dict[str, Any]) -> None:
        for name, m in models.items():
            m.load_state_dict(state["models"][name])
            optims[name][0].load_state_dict(state["optimizers"][name])
            optims[name][1].load_state_dict(state["schedulers"][name])
        gen.set_state(state["generator"])
        if "torch_rng" in state:  # dropout draws from torch's global generator
            torch.set_rng_state(state["torch_rng"])
        seconds.update(state["seconds"])

    def save() -> dict[str, Any]:
        return {"generator": gen.get_state(), "torch_rng": torch.get_rng_state(),
                "seconds": seconds,
                "models": {n: m.state_dict() for n, m in models.items()},
                "optimizers": {n: o.state_dict() for n, (o, _) in optims.items()},
                "schedulers": {n: s.state_dict() for n, (_, s) in optims.items()}}

    run = _Epochs(epochs, _n_batches(len(x), batch_size), desc, state, load, save,
                  1 if on_epoch else 0, on_epoch)
    for t in teachers.values():
        t.eval()
    for epoch in run:
        for m in models.values():
            m.train()
        for idx in _batches(len(x), batch_size, gen):
            xb, yb = crop_flip(x[idx], gen), y[idx]
            if mixup_concentration > 0:
                xb = mixup(xb, gen, mixup_concentration)
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            soft = {}
            for t in used:
                start = time.perf_counter()
                with torch.no_grad():
                    soft[t] = teachers[t](xb)
                seconds[t] += time.perf_counter() - start
            for name, m in models.items():
                start = time.perf_counter()
                opt, schedule = optims[name]
                r = recipes[name]
                logits = m(xb)
                loss = (nn.functional.cross_entropy(logits, yb) if r.teacher not in soft
                        or r.alpha >= 1 else kd_loss(logits, soft[r.teacher], yb, r.alpha,
                                                     r.temperature))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                schedule.step()
                seconds[name] += time.perf_counter() - start
            run.step()
        if after_epoch is not None and after_epoch(epoch):
            break
        run.checkpoint(epoch)
    return seconds
