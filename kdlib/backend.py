"""One framework backend for the experiments: torch (:mod:`kdlib.train`) or Keras
(:mod:`kdlib.distiller`), chosen by name, so a unit of work has no framework branch.

A backend fits a teacher, distils students, predicts logits and packs weights as a dict of
tensors (what the cache stores). Data goes in and logits come out as torch tensors (float32
NCHW images, int64 labels) in both. The experiment builds the models itself, with its own
seeding (torch: ``torch.manual_seed`` before a constructor; Keras:
``keras.utils.set_random_seed``), and hands them over:

- ``fit(model, x, y, epochs, batch_size, lr, seed, on_epoch=None, desc="teacher", state=None,
  checkpoint_every=0, on_checkpoint=None) -> list[float]``: cross-entropy training for all
  ``epochs``; ``on_epoch(model)`` after each (to record validation scores; it never stops the
  run). Returns each epoch's training loss.
- ``distil(students, teacher, x, y, alphas, temperatures, epochs, batch_size, lr, seed,
  snapshots, on_snapshot, teacher_logits=None, desc="students", state=None,
  checkpoint_every=0, on_checkpoint=None) -> np.ndarray``: student ``i`` starts from
  ``students[i]``'s weights (the same model may be listed many times: a shared
  initialisation) and learns with ``alphas[i]`` at ``temperatures[i]`` (or one temperature for
  all, a float: torch computes a float and a list differently, so pass what the code you
  replace passed to :func:`~kdlib.train.distil_stack`); all share the batch
  order of ``seed``. torch trains them as one stacked model (:func:`kdlib.train.distil_stack`,
  from ``teacher_logits`` on ``x``); Keras one ``Distiller.fit`` after another
  (:func:`kdlib.distiller.fit_students`, once per run of consecutive students with the same
  initial model and temperature, the teacher inside every step). After each epoch in
  ``snapshots``, ``on_snapshot(epoch, indices, predict)`` gets the students ``indices`` and
  ``predict(x) -> (len(indices), N, classes)`` logits: torch calls it once per epoch for all
  students, Keras once per student and epoch, student after student. Returns the training
  losses, ``(epochs, len(students))``.
- ``distil_seeds(students, teachers, x, y, alpha, temperature, epochs, batch_size, lr,
  seeds, teacher_logits=None, desc="students") -> list``: one student per seed, each with its
  own teacher and batch order (torch: one :class:`~kdlib.models.BatchedMLP`,
  :func:`kdlib.train.distil_batched`; Keras: one after another). Returns the trained students.
- ``predict(model, x) -> Tensor``: logits in evaluation mode.
- ``weights(model) -> dict[str, Tensor]`` and ``load(model, weights) -> model``: torch's
  ``state_dict``; Keras's ``get_weights()`` list packed as ``{"w0": ..., "w1": ...}``.

Resuming (``state``, ``checkpoint_every``, ``on_checkpoint``) is torch's only: Keras never
calls ``on_checkpoint`` and refuses a ``state``.

How a unit uses it (the torch path gives exactly the numbers of :mod:`kdlib.train` called by
hand, the Keras path those of :mod:`kdlib.distiller`; ``tests/test_backend.py``)::

    from kdlib.backend import BACKENDS

    b = BACKENDS[p["framework"]]
    teacher = build_teacher(p["framework"], seed)     # the experiment's own constructor
    val_acc = []
    losses = b.fit(teacher, x, y, epochs, 32, 1e-3, seed,
                   on_epoch=lambda m: val_acc.append(accuracy(b.predict(m, x_val), y_val)))
    unit = {"weights": b.weights(teacher), "logits": {"train": b.predict(teacher, x)}}
    ...
    teacher = b.load(build_teacher(p["framework"], seed), unit["weights"])
    history = b.distil([init] * len(alphas), teacher, x, y, alphas, [3.0] * len(alphas),
                       epochs, 32, 1e-3, seed, snapshots=[epochs],
                       on_snapshot=lambda e, ii, f: record(e, ii, f(x_test)),
                       teacher_logits=unit["logits"]["train"])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["BACKENDS", "Keras", "Torch"]

Snapshot = Callable[[int, list[int], Callable[[torch.Tensor], torch.Tensor]], None]


class Torch:
    """The torch backend: :mod:`kdlib.train`."""

    name = "torch"

    def fit(self, model, x: torch.Tensor, y: torch.Tensor, epochs: int, batch_size: int,
            lr: float, seed: int, on_epoch: Callable[[Any], None] | None = None,
            desc: str = "teacher", state: dict[str, Any] | None = None,
            checkpoint_every: int = 0,
            on_checkpoint: Callable[[dict[str, Any]], None] | None = None) -> list[float]:
        from kdlib.train import train_supervised

        stop = None if on_epoch is None else (lambda m: on_epoch(m) and False)
        return train_supervised(model, x, y, epochs, batch_size, lr, seed, desc=desc,
                                stop=stop, state=state, checkpoint_every=checkpoint_every,
                                on_checkpoint=on_checkpoint)

    def distil(self, students: Sequence, teacher, x: torch.Tensor, y: torch.Tensor,
               alphas: Sequence[float], temperatures: float | Sequence[float], epochs: int,
               batch_size: int, lr: float, seed: int, snapshots: Sequence[int],
               on_snapshot: Snapshot, teacher_logits: torch.Tensor | None = None,
               desc: str = "students", state: dict[str, Any] | None = None,
               checkpoint_every: int = 0,
               on_checkpoint: Callable[[dict[str, Any]], None] | None = None) -> np.ndarray:
        from kdlib.train import distil_stack, predict

        if teacher_logits is None:
            teacher_logits = predict(teacher, x)
        stack = _stack(list(students))
        everyone = list(range(len(students)))
        return distil_stack(stack, x, y, teacher_logits, list(alphas), temperatures, epochs,
                            batch_size, lr, seed, snapshots=snapshots,
                            on_snapshot=lambda e, m: on_snapshot(e, everyone,
                                                                 lambda v: predict(m, v)),
                            desc=desc, state=state, checkpoint_every=checkpoint_every,
                            on_checkpoint=on_checkpoint).numpy()

    def distil_seeds(self, students: Sequence, teachers: Sequence, x: torch.Tensor,
                     y: torch.Tensor, alpha: float, temperature: float, epochs: int,
                     batch_size: int, lr: float, seeds: Sequence[int],
                     teacher_logits: Sequence[torch.Tensor] | None = None,
                     desc: str = "students") -> list:
        from kdlib.models import BatchedMLP
        from kdlib.train import distil_batched, predict

        if teacher_logits is None:
            teacher_logits = [predict(t, x) for t in teachers]
        model = BatchedMLP(list(students))
        distil_batched(model, x.flatten(1), y, torch.stack(list(teacher_logits)), alpha,
                       temperature, epochs, batch_size, lr, list(seeds), desc=desc)
        return [model.unstack(i) for i in range(len(seeds))]

    def predict(self, model, x: torch.Tensor) -> torch.Tensor:
        from kdlib.train import predict

        return predict(model, x)

    def weights(self, model) -> dict[str, torch.Tensor]:
        return model.state_dict()

    def load(self, model, weights: dict[str, torch.Tensor]):
        model.load_state_dict(weights)
        return model


def _stack(students: list):
    """The stacked model of ``students`` (:class:`~kdlib.models.StackedHaoCNN` or
    :class:`~kdlib.models.StackedMLP`, by the students' class)."""
    from kdlib import models

    kinds = {models.HaoCNN: models.StackedHaoCNN, models.PosterMLP: models.StackedMLP}
    kind = kinds.get(type(students[0]))
    if kind is None:
        raise ValueError(f"students must be one of {', '.join(k.__name__ for k in kinds)}; "
                         f"got {type(students[0]).__name__}")
    return kind(students)


class Keras:
    """The Keras backend: :mod:`kdlib.distiller` (one ``fit`` per student)."""

    name = "keras"

    def fit(self, model, x: torch.Tensor, y: torch.Tensor, epochs: int, batch_size: int,
            lr: float, seed: int, on_epoch: Callable[[Any], None] | None = None,
            desc: str = "teacher", state: dict[str, Any] | None = None,
            checkpoint_every: int = 0,
            on_checkpoint: Callable[[dict[str, Any]], None] | None = None) -> list[float]:
        from kdlib import distiller

        _no_state(state)
        stop = None if on_epoch is None else (lambda m: on_epoch(m) and False)
        return distiller.fit_supervised(model, x.numpy(), y.numpy(), epochs, batch_size, lr,
                                        seed, stop=stop)

    def distil(self, students: Sequence, teacher, x: torch.Tensor, y: torch.Tensor,
               alphas: Sequence[float], temperatures: float | Sequence[float], epochs: int,
               batch_size: int, lr: float, seed: int, snapshots: Sequence[int],
               on_snapshot: Snapshot, teacher_logits: torch.Tensor | None = None,
               desc: str = "students", state: dict[str, Any] | None = None,
               checkpoint_every: int = 0,
               on_checkpoint: Callable[[dict[str, Any]], None] | None = None) -> np.ndarray:
        from kdlib import distiller

        _no_state(state)
        xn, yn = x.numpy(), y.numpy()
        parts, start = [], 0
        if not isinstance(temperatures, Sequence):
            temperatures = [temperatures] * len(students)
        for init, t, count in _runs(students, temperatures):
            def snap(i: int, epoch: int, student, k: int = start) -> None:
                on_snapshot(epoch, [k + i], lambda v: self.predict(student, v)[None])

            parts.append(distiller.fit_students(init, teacher, xn, yn,
                                                list(alphas[start:start + count]), t, epochs,
                                                batch_size, lr, seed, snapshots, snap))
            start += count
        return np.concatenate(parts, axis=1)

    def distil_seeds(self, students: Sequence, teachers: Sequence, x: torch.Tensor,
                     y: torch.Tensor, alpha: float, temperature: float, epochs: int,
                     batch_size: int, lr: float, seeds: Sequence[int],
                     teacher_logits: Sequence[torch.Tensor] | None = None,
                     desc: str = "students") -> list:
        from kdlib import distiller

        trained = []
        for init, teacher, seed in zip(students, teachers, seeds, strict=True):
            found: list = []
            distiller.fit_students(init, teacher, x.numpy(), y.numpy(), [alpha], temperature,
                                   epochs, batch_size, lr, seed, [epochs],
                                   lambda _i, _e, m, found=found: found.append(m))
            trained.append(found[-1])
        return trained

    def predict(self, model, x: torch.Tensor) -> torch.Tensor:
        from kdlib import distiller

        return torch.from_numpy(distiller.predict(model, x.numpy()))

    def weights(self, model) -> dict[str, torch.Tensor]:
        return {f"w{i}": torch.from_numpy(w) for i, w in enumerate(model.get_weights())}

    def load(self, model, weights: dict[str, torch.Tensor]):
        model.set_weights([weights[f"w{i}"].numpy() for i in range(len(weights))])
        return model


def _runs(students: Sequence, temperatures: Sequence[float]) -> list[tuple[Any, float, int]]:
    """Consecutive students with the same initial model and temperature, as (model, T, n)."""
    runs: list[list] = []
    for s, t in zip(students, temperatures, strict=True):
        if runs and runs[-1][0] is s and runs[-1][1] == t:
            runs[-1][2] += 1
        else:
            runs.append([s, t, 1])
    return [(s, t, n) for s, t, n in runs]


def _no_state(state: dict[str, Any] | None) -> None:
    if state is not None:
        raise ValueError("state: the keras backend cannot resume a run; use framework torch")


BACKENDS: dict[str, Torch | Keras] = {"torch": Torch(), "keras": Keras()}
