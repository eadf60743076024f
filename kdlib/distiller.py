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

import keras

from kdlib.losses import keras_kd_loss

__all__ = ["Distiller", "check_kd_params"]


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
