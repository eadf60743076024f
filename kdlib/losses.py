"""The knowledge-distillation loss, once per framework, the same mathematics.

    loss = alpha * CE(y, softmax(s)) + (1 - alpha) * T**2 * KL(softmax(t / T) || softmax(s / T))

``alpha`` weights the hard-label loss, as in the Keras example the 000 report used; Hinton et
al.'s lambda (the weight of the soft targets) is ``1 - alpha``. Both terms are means over the
batch. ``alpha = 1`` is plain cross-entropy.

The Keras example computes the KL with ``keras.losses.KLDivergence`` on probabilities, which
clips them to [1e-7, 1]; here both frameworks use log-softmax, exact where the clip is not.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["keras_kd_loss", "kd_loss"]


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
            alpha: float | torch.Tensor, temperature: float | torch.Tensor) -> torch.Tensor:
    """KD loss in torch; logits ``(..., B, C)``, labels ``(..., B)``.

    Leading dimensions (one per stacked student) are kept: the result has the shape of
    ``labels`` without its last (batch) dimension. ``alpha`` and ``temperature`` may be tensors
    of that shape, so students with different alphas and temperatures train in one call.
    """
    t = temperature
    if isinstance(t, torch.Tensor) and t.dim():
        t = t[..., None, None]  # one temperature per student, broadcast over (B, C)
    log_s = F.log_softmax(student_logits, dim=-1)
    hard = -log_s.gather(-1, labels.unsqueeze(-1)).squeeze(-1).mean(-1)
    log_ps = F.log_softmax(student_logits / t, dim=-1)
    log_pt = F.log_softmax(teacher_logits / t, dim=-1)
    soft = (log_pt.exp() * (log_pt - log_ps)).sum(-1).mean(-1) * temperature**2
    return alpha * hard + (1 - alpha) * soft


def keras_kd_loss(student_logits, teacher_logits, labels, alpha: float, temperature: float):
    """The same KD loss with ``keras.ops`` (any Keras 3 backend); logits ``(B, C)``."""
    from keras import ops

    log_s = ops.log_softmax(student_logits, axis=-1)
    onehot = ops.one_hot(ops.cast(labels, "int32"), ops.shape(student_logits)[-1])
    hard = -ops.mean(ops.sum(onehot * log_s, axis=-1))
    log_ps = ops.log_softmax(student_logits / temperature, axis=-1)
    log_pt = ops.log_softmax(teacher_logits / temperature, axis=-1)
    soft = ops.mean(ops.sum(ops.exp(log_pt) * (log_pt - log_ps), axis=-1)) * temperature**2
    return alpha * hard + (1 - alpha) * soft
