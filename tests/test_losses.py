"""kd_loss (torch) and keras_kd_loss (Keras) are the same function, and the intended one."""

import kdlib  # noqa: F401  (sets KERAS_BACKEND / TF_CPP_MIN_LOG_LEVEL before keras loads)

# isort: split
import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf
import torch
import torch.nn.functional as F

from kdlib.losses import kd_loss, keras_kd_loss

B, C = 16, 10
ALPHAS = (0.0, 0.1, 0.5, 1.0)
TEMPERATURES = (1.0, 3.0, 10.0)
CASES = list(itertools.product(ALPHAS, TEMPERATURES))


def logits(seed: int, std: float = 3.0, shape: tuple[int, ...] = (B, C)) -> np.ndarray:
    """Random float32 logits."""
    return np.random.default_rng(seed).normal(0, std, shape).astype("float32")


def labels(seed: int, shape: tuple[int, ...] = (B,)) -> np.ndarray:
    """Random int64 labels."""
    return np.random.default_rng(seed).integers(0, C, shape)


def torch_value_and_grad(s, t, y, alpha, temperature) -> tuple[float, np.ndarray]:
    """kd_loss and its gradient w.r.t. the student logits, torch autograd."""
    s_t = torch.tensor(s, requires_grad=True)
    loss = kd_loss(s_t, torch.tensor(t), torch.tensor(y), alpha, temperature)
    loss.backward()
    return loss.item(), s_t.grad.numpy()


def keras_value_and_grad(s, t, y, alpha, temperature) -> tuple[float, np.ndarray]:
    """keras_kd_loss and its gradient w.r.t. the student logits, tf.GradientTape."""
    s_tf = tf.Variable(s)
    with tf.GradientTape() as tape:
        loss = keras_kd_loss(s_tf, tf.constant(t), tf.constant(y), alpha, temperature)
    return float(loss), tape.gradient(loss, s_tf).numpy()


@pytest.mark.parametrize(("alpha", "temperature"), CASES)
def test_torch_keras_parity(alpha: float, temperature: float) -> None:
    s, t, y = logits(1), logits(2), labels(3)
    v_torch, g_torch = torch_value_and_grad(s, t, y, alpha, temperature)
    v_keras, g_keras = keras_value_and_grad(s, t, y, alpha, temperature)
    assert v_torch > 0.01  # random logits: a clearly non-zero loss
    assert abs(v_torch - v_keras) < 1e-5
    np.testing.assert_allclose(g_torch, g_keras, atol=1e-5, rtol=0)
    cos = (g_torch * g_keras).sum() / (np.linalg.norm(g_torch) * np.linalg.norm(g_keras))
    assert cos > 0.999999


@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_alpha_one_is_cross_entropy(temperature: float) -> None:
    s, t, y = (torch.tensor(a) for a in (logits(4), logits(5), labels(6)))
    ours = kd_loss(s, t, y, 1.0, temperature)
    torch.testing.assert_close(ours, F.cross_entropy(s, y), atol=1e-6, rtol=0)


@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_alpha_zero_same_logits_is_zero(temperature: float) -> None:
    s, y = torch.tensor(logits(7)), torch.tensor(labels(8))
    assert abs(kd_loss(s, s.clone(), y, 0.0, temperature).item()) < 1e-7
    assert kd_loss(s, s + torch.randn_like(s), y, 0.0, temperature).item() > 1e-4


@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_soft_term_is_scaled_kl_div(temperature: float) -> None:
    s, t, y = (torch.tensor(a) for a in (logits(9), logits(10), labels(11)))
    ref = temperature**2 * F.kl_div(
        F.log_softmax(s / temperature, dim=-1), F.log_softmax(t / temperature, dim=-1),
        log_target=True, reduction="batchmean",
    )
    assert ref.item() > 1e-3
    torch.testing.assert_close(kd_loss(s, t, y, 0.0, temperature), ref, atol=1e-5, rtol=1e-6)
    # and alpha mixes the two terms linearly
    mixed = kd_loss(s, t, y, 0.3, temperature)
    torch.testing.assert_close(mixed, 0.3 * F.cross_entropy(s, y) + 0.7 * ref, atol=1e-5,
                               rtol=1e-6)


@pytest.mark.parametrize(("alpha", "temperature"), CASES)
def test_keras_example_formulation_agrees(alpha: float, temperature: float) -> None:
    """The example: SCCE(from_logits) and KLDivergence on softmax probabilities, times T**2."""
    s, t, y = logits(12, std=2.0), logits(13, std=2.0), labels(14)
    student_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, s)
    distillation_loss = keras.losses.KLDivergence()(
        keras.ops.softmax(t / temperature, axis=1), keras.ops.softmax(s / temperature, axis=1),
    ) * temperature**2
    example = float(alpha * student_loss + (1 - alpha) * distillation_loss)
    ours = float(keras_kd_loss(tf.constant(s), tf.constant(t), tf.constant(y), alpha,
                               temperature))
    assert abs(example - ours) < 1e-5


def test_stacked_students_in_one_call() -> None:
    n = 4
    s = torch.tensor(logits(15, shape=(n, B, C)))
    t = torch.tensor(logits(16, shape=(n, B, C)))
    y = torch.tensor(labels(17, shape=(n, B)))
    alpha = torch.tensor([0.0, 0.1, 0.5, 1.0])
    stacked = kd_loss(s, t, y, alpha, 3.0)
    assert stacked.shape == (n,)
    separate = torch.stack([kd_loss(s[i], t[i], y[i], alpha[i].item(), 3.0) for i in range(n)])
    torch.testing.assert_close(stacked, separate, atol=1e-6, rtol=0)
    assert stacked.unique().numel() == n  # the students really got different losses


def test_stacked_students_with_their_own_temperatures() -> None:
    n = 3
    s = torch.tensor(logits(18, shape=(n, B, C)))
    t = torch.tensor(logits(19, shape=(n, B, C)))
    y = torch.tensor(labels(20, shape=(n, B)))
    alpha = torch.tensor([0.0, 0.5, 0.9])
    temps = torch.tensor([1.0, 4.0, 10.0])
    stacked = kd_loss(s, t, y, alpha, temps)
    separate = torch.stack([kd_loss(s[i], t[i], y[i], alpha[i].item(), temps[i].item())
                            for i in range(n)])
    torch.testing.assert_close(stacked, separate, atol=1e-6, rtol=0)
