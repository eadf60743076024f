"""The Keras ``Distiller`` of the 000 report (the Keras "Knowledge Distillation" example, Keras 3).

The example's structure is kept: a ``keras.Model`` wrapping student and teacher, ``call`` is the
student, ``compute_loss`` runs the teacher in inference mode and mixes the two losses, so plain
``fit`` / ``evaluate`` train and score the student. The loss is :func:`kdlib.losses.keras_kd_loss`,
the same mathematics as the torch :func:`kdlib.losses.kd_loss`.

One deliberate difference: in Keras 3 the example's teacher is a tracked sub-layer of the
``Distiller``, so its weights are in ``trainable_weights`` and the optimizer updates them with the
gradient of the distillation term. Here the teacher is frozen by default (as Keras's own
``keras.distillation.Distiller`` does); ``freeze_teacher=False`` restores the example's behaviour.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import keras
import numpy as np

from kdlib.losses import keras_kd_loss

__all__ = ["Distiller", "check_kd_params", "fit_students", "fit_supervised", "predict"]


def _quiet_retracing() -> None:
    """Silence TensorFlow's warnings below errors: predicting with many freshly built students
    makes tf.function retrace, and TensorFlow warns about it on every call; the retracing is
    expected here, the warnings are noise in the book."""
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def check_kd_params(alpha: float, temperature: float) -> None:
    """Raise ``ValueError`` unless ``0 <= alpha <= 1`` and ``temperature > 0``."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be a number in [0, 1]; got {alpha!r}")
    if not temperature > 0.0:
        raise ValueError(f"temperature must be a number > 0; got {temperature!r}")


class Distiller(keras.Model):
    """Trains ``student`` to match ``teacher``'s softened outputs and the hard labels."""

    def __init__(self, student: keras.Model, teacher: keras.Model, *,
                 freeze_teacher: bool = True) -> None:
        """Wrap the models; ``freeze_teacher`` sets ``teacher.trainable = False`` (in place)."""
        super().__init__()
        self.teacher = teacher
        self.student = student
        if freeze_teacher:
            self.teacher.trainable = False

    def compile(self, optimizer, metrics, alpha: float = 0.1,
                temperature: float = 3) -> None:
        """Configure training.

        Unlike the Keras example there are no ``student_loss_fn`` / ``distillation_loss_fn``
        arguments: the loss is always :func:`kdlib.losses.keras_kd_loss`, i.e.
        ``alpha * CE + (1 - alpha) * T**2 * KL(teacher_T || student_T)`` with ``alpha`` the
        weight of the hard-label loss and ``temperature`` = T.
        """
        check_kd_params(alpha, temperature)
        super().compile(optimizer=optimizer, metrics=metrics)
        self.alpha = float(alpha)
        self.temperature = float(temperature)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                     allow_empty=False):
        """KD loss of the student's ``y_pred`` against labels ``y`` and the teacher on ``x``.

        ``sample_weight`` is ignored, as in the example. The signature is the example's (Keras
        3.0); later Keras calls it without ``training``, which it detects from the signature.
        """
        teacher_pred = self.teacher(x, training=False)
        return keras_kd_loss(y_pred, teacher_pred, y, self.alpha, self.temperature)

    def call(self, x):
        """The student's logits."""
        return self.student(x)


def _nhwc(x: np.ndarray) -> np.ndarray:
    """float32 NCHW (kdlib's torch layout) → NHWC (Keras's)."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


class _Snapshots(keras.callbacks.Callback):
    """Calls ``on_snapshot(epoch, student)`` after each listed epoch (1-based)."""

    def __init__(self, snapshots: Sequence[int],
                 on_snapshot: Callable[[int, keras.Model], None]) -> None:
        super().__init__()
        self.snapshots, self.on_snapshot = set(snapshots), on_snapshot

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if epoch + 1 in self.snapshots:
            self.on_snapshot(epoch + 1, self.model)


def fit_students(student_init: keras.Model, teacher: keras.Model, x: np.ndarray, y: np.ndarray,
                 alphas: Sequence[float], temperature: float, epochs: int, batch_size: int,
                 learning_rate: float, seed: int, snapshots: Sequence[int],
                 on_snapshot: Callable[[int, int, keras.Model], None]) -> np.ndarray:
    """The seed's way: one ``Distiller.fit`` per alpha, one after another.

    Every student starts from ``student_init``'s weights; ``x`` is float32 NCHW. Calls
    ``on_snapshot(i, epoch, student)`` for student ``i`` at each listed epoch and returns the
    per-epoch training losses, shape ``(epochs, len(alphas))``.
    """
    _quiet_retracing()
    xs = _nhwc(x)
    history = np.zeros((epochs, len(alphas)))
    for i, alpha in enumerate(alphas):
        keras.utils.set_random_seed(seed)  # the same batch order for every alpha
        student = keras.models.clone_model(student_init)
        student.set_weights(student_init.get_weights())
        distiller = Distiller(student, teacher)
        distiller.compile(keras.optimizers.Adam(learning_rate), metrics=[], alpha=alpha,
                          temperature=temperature)
        fit = distiller.fit(xs, y, epochs=epochs, batch_size=batch_size, shuffle=True,
                            verbose=0, callbacks=[_Snapshots(
                                snapshots, lambda e, m, i=i: on_snapshot(i, e, m.student))])
        history[:, i] = fit.history["loss"]
    return history


class _StopWhen(keras.callbacks.Callback):
    """Ends ``fit`` after the first epoch for which ``stop(model)`` is true."""

    def __init__(self, stop: Callable[[keras.Model], bool]) -> None:
        super().__init__()
        self.stop = stop

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.stop(self.model):
            self.model.stop_training = True


def fit_supervised(model: keras.Model, x: np.ndarray, y: np.ndarray, epochs: int,
                   batch_size: int, learning_rate: float, seed: int,
                   stop: Callable[[keras.Model], bool] | None = None) -> list[float]:
    """Plain Keras training on hard labels (the teacher, or a scratch student), for at most
    ``epochs`` epochs, ending after the first epoch for which ``stop(model)`` is true."""
    _quiet_retracing()
    keras.utils.set_random_seed(seed)
    model.compile(keras.optimizers.Adam(learning_rate),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    fit = model.fit(_nhwc(x), y, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0,
                    callbacks=[_StopWhen(stop)] if stop else [])
    return list(fit.history["loss"])


def predict(model: keras.Model, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """Logits of a Keras model on float32 NCHW images."""
    _quiet_retracing()
    return np.asarray(model.predict(_nhwc(x), batch_size=batch_size, verbose=0))
