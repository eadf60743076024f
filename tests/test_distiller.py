"""The Keras Distiller trains the student with kdlib's KD loss through plain ``fit``."""

import kdlib  # noqa: F401  (sets KERAS_BACKEND / TF_CPP_MIN_LOG_LEVEL before keras loads)

# isort: split
import keras
import numpy as np
import pytest
import torch

from kdlib.distiller import Distiller
from kdlib.losses import kd_loss
from kdlib.models import keras_hao_student

ALPHA, T = 0.1, 3.0


def make_data(n: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-like synthetic digits: class k is a bright 7x7 square at cell k of a grid, + noise."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, n)
    x = rng.uniform(0, 0.3, (n, 28, 28, 1)).astype("float32")
    for i, k in enumerate(y):
        r, c = divmod(int(k), 4)
        x[i, 7 * r:7 * r + 7, 7 * c:7 * c + 7, 0] += 0.7
    return x, y


def make_distiller(seed: int = 0, freeze_teacher: bool = True, lr: float = 3e-3) -> Distiller:
    """Student-sized teacher and student, compiled as in the 000 report."""
    keras.utils.set_random_seed(seed)
    distiller = Distiller(keras_hao_student(), keras_hao_student(),
                          freeze_teacher=freeze_teacher)
    distiller.compile(keras.optimizers.Adam(lr), [keras.metrics.SparseCategoricalAccuracy()],
                      alpha=ALPHA, temperature=T)
    return distiller


def loss_on(distiller: Distiller, x: np.ndarray, y: np.ndarray) -> float:
    """The Distiller's loss on a batch, eager."""
    return float(distiller.compute_loss(x, y, distiller(x, training=False)))


def test_compute_loss_equals_torch_kd_loss() -> None:
    distiller = make_distiller(seed=1)
    x, y = make_data(32)
    student = keras.ops.convert_to_numpy(distiller.student(x, training=False))
    teacher = keras.ops.convert_to_numpy(distiller.teacher(x, training=False))
    assert np.abs(student - teacher).max() > 1e-2  # two different random networks
    ref = kd_loss(torch.from_numpy(student), torch.from_numpy(teacher), torch.from_numpy(y),
                  ALPHA, T).item()
    assert abs(loss_on(distiller, x, y) - ref) < 1e-5


def test_fit_one_epoch_decreases_loss() -> None:
    distiller = make_distiller(seed=2)
    x, y = make_data(256)
    teacher_before = [w.copy() for w in distiller.teacher.get_weights()]
    before = loss_on(distiller, x, y)
    history = distiller.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
    after = loss_on(distiller, x, y)
    assert np.isfinite(history.history["loss"][0])
    assert "sparse_categorical_accuracy" in history.history
    assert after < 0.92 * before  # about 0.234 → 0.204 in 8 steps
    for w0, w1 in zip(teacher_before, distiller.teacher.get_weights(), strict=True):
        np.testing.assert_array_equal(w0, w1)  # the teacher is frozen
    scores = distiller.evaluate(x, y, verbose=0, return_dict=True)
    assert scores["loss"] == pytest.approx(after, abs=1e-5)  # evaluate uses the same loss
    assert scores["sparse_categorical_accuracy"] > 0.3  # chance is 0.1


def test_example_behaviour_trains_the_teacher() -> None:
    """Without freezing (the Keras 3 example), the optimizer also moves the teacher."""
    distiller = make_distiller(seed=3, freeze_teacher=False)
    x, y = make_data(64)
    teacher_before = [w.copy() for w in distiller.teacher.get_weights()]
    distiller.fit(x, y, batch_size=32, epochs=1, verbose=0)
    moved = max(np.abs(w0 - w1).max()
                for w0, w1 in zip(teacher_before, distiller.teacher.get_weights(), strict=True))
    assert moved > 1e-4


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan")])
def test_bad_alpha_raises(alpha: float) -> None:
    distiller = Distiller(keras_hao_student(), keras_hao_student())
    with pytest.raises(ValueError, match=r"alpha.*\[0, 1\]"):
        distiller.compile(keras.optimizers.Adam(), [], alpha=alpha, temperature=T)


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("nan")])
def test_bad_temperature_raises(temperature: float) -> None:
    distiller = Distiller(keras_hao_student(), keras_hao_student())
    with pytest.raises(ValueError, match=r"temperature.*> 0"):
        distiller.compile(keras.optimizers.Adam(), [], alpha=ALPHA, temperature=temperature)
