"""The torch models are the Keras models of the 000 report: same sizes, same outputs."""

import kdlib  # noqa: F401  (sets KERAS_BACKEND / TF_CPP_MIN_LOG_LEVEL before keras loads)

# isort: split
import itertools
import math

import keras
import numpy as np
import pytest
import tensorflow as tf
import torch
import torch.nn.functional as F

from kdlib.models import (
    BatchedMLP,
    HaoCNN,
    PosterMLP,
    StackedHaoCNN,
    StackedMLP,
    hao_student,
    hao_teacher,
    iisc_student,
    iisc_teacher,
    keras_hao_student,
    keras_hao_teacher,
    keras_poster_student,
    keras_poster_teacher,
    max_pool_same,
    n_params,
    pad_same,
    poster_from_keras,
    poster_student,
    poster_teacher,
    same_padding,
    torch_from_keras,
)

SIZES = (28, 14, 7, 32)


def hand_count(f1: int, f2: int) -> int:
    """Parameters of the 000 report's CNN on 28x28x1 inputs, by hand."""
    conv1 = 3 * 3 * 1 * f1 + f1
    conv2 = 3 * 3 * f1 * f2 + f2
    dense = 7 * 7 * f2 * 10 + 10  # 28 → 14 (stride 2) → 14 (pool, stride 1) → 7 (stride 2)
    return conv1 + conv2 + dense


def nchw(x_nhwc: np.ndarray) -> torch.Tensor:
    """NHWC numpy → NCHW torch."""
    return torch.from_numpy(x_nhwc).permute(0, 3, 1, 2).contiguous()


def randomize_keras_biases(model: keras.Model, seed: int) -> None:
    """Keras initialises biases to zero; make them random so the bias transfer is tested."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(rng.normal(0, 0.1, layer.bias.shape).astype("float32"))


def torch_forward(model: HaoCNN, x: torch.Tensor, symmetric: bool = False) -> torch.Tensor:
    """HaoCNN's forward, or with torch's symmetric ``padding=1`` instead of 'same'."""
    if not symmetric:
        return model(x)
    h = F.conv2d(x, model.conv1.weight, model.conv1.bias, stride=2, padding=1)
    h = F.max_pool2d(F.pad(F.leaky_relu(h, 0.2), (0, 1, 0, 1), value=-math.inf), 2, 1)
    h = F.conv2d(h, model.conv2.weight, model.conv2.bias, stride=2, padding=1)
    return model.dense(h.permute(0, 2, 3, 1).flatten(1))


# ---------------------------------------------------------------- parameter counts


def test_parameter_counts_torch() -> None:
    assert n_params(hao_teacher()) == 1_433_610 == hand_count(256, 512)
    assert n_params(hao_student()) == 20_490 == hand_count(16, 32)


def test_parameter_counts_keras() -> None:
    assert keras_hao_teacher().count_params() == 1_433_610
    assert keras_hao_student().count_params() == 20_490


# ---------------------------------------------------------------- 'same' padding and pooling


@pytest.mark.parametrize(("kernel", "stride"), list(itertools.product((2, 3), (1, 2))))
def test_pad_same_matches_tf(kernel: int, stride: int) -> None:
    gen = torch.Generator().manual_seed(kernel * 10 + stride)
    w = torch.randn(4, 2, kernel, kernel, generator=gen)
    for h, wd in itertools.product(SIZES, SIZES):  # non-square too: catches a swapped H/W
        x = torch.randn(2, 2, h, wd, generator=gen)
        ours = F.conv2d(pad_same(x, kernel, stride), w, stride=stride)
        ref = tf.nn.conv2d(x.permute(0, 2, 3, 1).numpy(), w.permute(2, 3, 1, 0).numpy(),
                           strides=stride, padding="SAME").numpy()
        assert ours.shape[-2:] == (math.ceil(h / stride), math.ceil(wd / stride))
        np.testing.assert_allclose(ours.permute(0, 2, 3, 1).numpy(), ref, atol=1e-5)


def test_same_padding_values() -> None:
    # TF: total = max((ceil(n/s) - 1) * s + k - n, 0), the odd pixel after (bottom/right).
    assert same_padding(28, 3, 2) == (0, 1)
    assert same_padding(14, 3, 2) == (0, 1)
    assert same_padding(7, 3, 2) == (1, 1)
    assert same_padding(28, 2, 1) == (0, 1)
    assert same_padding(28, 3, 1) == (1, 1)
    assert same_padding(32, 2, 2) == (0, 0)


@pytest.mark.parametrize("size", SIZES)
def test_max_pool_same_matches_tf(size: int) -> None:
    gen = torch.Generator().manual_seed(size)
    x = torch.randn(2, 3, size, size + 3, generator=gen) - 1.0  # mostly negative: 0-pad would show
    ours = max_pool_same(x)
    ref = tf.nn.max_pool2d(x.permute(0, 2, 3, 1).numpy(), ksize=2, strides=1, padding="SAME")
    np.testing.assert_array_equal(ours.permute(0, 2, 3, 1).numpy(), ref.numpy())
    generic = F.max_pool2d(pad_same(x, 2, 1, value=-math.inf), 2, 1)
    assert torch.equal(ours, generic)
    zero_padded = F.max_pool2d(pad_same(x, 2, 1), 2, 1)
    assert not torch.equal(ours, zero_padded)


@pytest.mark.parametrize(("pool", "stride"), [(2, 2), (3, 2), (3, 1)])
def test_max_pool_same_generic_path_matches_tf(pool: int, stride: int) -> None:
    x = torch.randn(2, 3, 7, 14, generator=torch.Generator().manual_seed(pool + stride)) - 1.0
    ours = max_pool_same(x, pool, stride)
    ref = tf.nn.max_pool2d(x.permute(0, 2, 3, 1).numpy(), ksize=pool, strides=stride,
                           padding="SAME")
    np.testing.assert_array_equal(ours.permute(0, 2, 3, 1).numpy(), ref.numpy())


# ---------------------------------------------------------------- Keras ↔ torch outputs


@pytest.mark.parametrize(("build", "batch"), [(keras_hao_student, 8), (keras_hao_teacher, 4)])
def test_torch_from_keras_same_logits(build, batch: int) -> None:
    keras.utils.set_random_seed(1)
    km = build()
    randomize_keras_biases(km, seed=2)
    tm = torch_from_keras(km)
    assert n_params(tm) == km.count_params()
    x = np.random.default_rng(3).normal(0, 2, (batch, 28, 28, 1)).astype("float32")
    ref = keras.ops.convert_to_numpy(km(x, training=False))
    with torch.no_grad():
        ours = tm(nchw(x)).numpy()
    assert np.abs(ref).max() > 0.1  # non-trivial logits
    np.testing.assert_allclose(ours, ref, atol=1e-5, rtol=0)


def test_symmetric_padding_would_be_caught() -> None:
    keras.utils.set_random_seed(4)
    km = keras_hao_student()
    tm = torch_from_keras(km)
    x = np.random.default_rng(5).normal(0, 2, (8, 28, 28, 1)).astype("float32")
    ref = keras.ops.convert_to_numpy(km(x, training=False))
    with torch.no_grad():
        good = torch_forward(tm, nchw(x)).numpy()
        bad = torch_forward(tm, nchw(x), symmetric=True).numpy()
    assert bad.shape == ref.shape  # same shapes: only the values reveal the error
    np.testing.assert_allclose(good, ref, atol=1e-5, rtol=0)
    assert np.abs(bad - ref).max() > 1e-2


# ---------------------------------------------------------------- stacked students


def _students(n: int) -> list[HaoCNN]:
    torch.manual_seed(6)
    models = [hao_student() for _ in range(n)]
    for m in models:  # non-zero biases so that copying them is tested
        for layer in (m.conv1, m.conv2, m.dense):
            torch.nn.init.normal_(layer.bias, std=0.1)
    return models


def test_stacked_matches_individual_models() -> None:
    students = _students(3)
    stacked = StackedHaoCNN(students)
    x = torch.randn(8, 1, 28, 28, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        out = stacked(x)
        assert out.shape == (3, 8, 10)
        for i, m in enumerate(students):
            torch.testing.assert_close(out[i], m(x), atol=1e-5, rtol=0)
        # the students differ, so a mix-up of channels or weights would show
        assert (out[0] - out[1]).abs().max() > 1e-2


def test_stacked_unstack_round_trip() -> None:
    students = _students(3)
    stacked = StackedHaoCNN(students)
    for i, m in enumerate(students):
        back = stacked.unstack(i)
        for (name, a), (_, b) in zip(m.state_dict().items(), back.state_dict().items(),
                                     strict=True):
            assert torch.equal(a, b), name


def test_stacked_gradients_are_independent() -> None:
    stacked = StackedHaoCNN(_students(3))
    f1, f2 = 16, 32
    x = torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(8))
    loss = F.cross_entropy(stacked(x)[1], torch.tensor([0, 1, 2, 3]))
    loss.backward()
    slices = {
        "conv1_weight": f1, "conv1_bias": f1, "conv2.weight": f2, "conv2.bias": f2,
        "dense_w": 1, "dense_b": 1,
    }
    for name, p in stacked.named_parameters():
        size = slices[name]
        for j in range(3):
            g = p.grad[j * size:(j + 1) * size]
            if j == 1:
                assert g.abs().max() > 0, name
            else:
                assert torch.count_nonzero(g) == 0, (name, j)


# ---------------------------------------------------------------- Keras-default initialisation


@pytest.mark.parametrize("build", [hao_student, hao_teacher])
def test_keras_default_init(build) -> None:
    torch.manual_seed(9)
    m = build()
    for layer in (m.conv1, m.conv2):
        fan_in = layer.in_channels * 9
        fan_out = layer.out_channels * 9
        _check_glorot(layer.weight, math.sqrt(6 / (fan_in + fan_out)))
        assert torch.count_nonzero(layer.bias) == 0
    _check_glorot(m.dense.weight, math.sqrt(6 / (m.dense.in_features + m.dense.out_features)))
    assert torch.count_nonzero(m.dense.bias) == 0


def _check_glorot(w: torch.Tensor, limit: float) -> None:
    """Uniform on [-limit, limit]: bounded, fills the range, std = limit / sqrt(3)."""
    assert w.abs().max() <= limit
    assert w.abs().max() > 0.9 * limit
    assert abs(w.std().item() - limit / math.sqrt(3)) < 0.1 * limit / math.sqrt(3)


# ---------------------------------------------------------------- the 004 poster's pair


def test_poster_parameter_counts_in_both_frameworks() -> None:
    conv = (9 * 1 * 8 + 8) + (9 * 8 * 16 + 16)
    dense = (7 * 7 * 16 * 32 + 32) + (32 * 10 + 10)
    assert n_params(poster_teacher()) == 26_698 == conv + dense
    assert keras_poster_teacher().count_params() == 26_698
    assert n_params(poster_student()) == 25_450 == (784 * 32 + 32) + (32 * 10 + 10)
    assert keras_poster_student().count_params() == 25_450


@pytest.mark.parametrize("build", [keras_poster_teacher, keras_poster_student])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_poster_torch_twin_computes_the_keras_logits(build, activation) -> None:
    keras.utils.set_random_seed(11)
    km = build(activation=activation)
    randomize_keras_biases(km, 12)
    tm = poster_from_keras(km).eval()
    x = np.random.default_rng(13).random((6, 28, 28, 1), dtype=np.float32)
    with torch.no_grad():
        ours = tm(nchw(x)).numpy()
    theirs = km(x, training=False).numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=0)
    assert np.abs(theirs).max() > 0.1  # not trivially zero


def _mlps(n: int, width: int = 32) -> list[PosterMLP]:
    torch.manual_seed(14)
    models = [poster_student(width) for _ in range(n)]
    for m in models:
        torch.nn.init.normal_(m.dense1.bias, std=0.1)
        torch.nn.init.normal_(m.dense2.bias, std=0.1)
    return models


def test_stacked_mlp_matches_individual_models_and_unstacks() -> None:
    students = _mlps(3)
    stacked = StackedMLP(students).eval()
    x = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(15))
    with torch.no_grad():
        out = stacked(x)
        assert out.shape == (3, 8, 10)
        for i, m in enumerate(students):
            torch.testing.assert_close(out[i], m.eval()(x), atol=1e-5, rtol=0)
        assert (out[0] - out[1]).abs().max() > 1e-2
    for i, m in enumerate(students):
        for a, b in zip(m.parameters(), stacked.unstack(i).parameters(), strict=True):
            assert torch.equal(a, b)


def test_stacked_mlp_shares_one_dropout_mask_per_step() -> None:
    """Identical students see the same mask; the mask does drop units, at the right rate."""
    stacked = StackedMLP([poster_student(dropout=0.5)] * 2).train()
    x = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(16))
    torch.manual_seed(17)
    out = stacked(x)
    assert torch.equal(out[0], out[1])
    torch.manual_seed(18)
    other = stacked(x)
    assert not torch.equal(out[0], other[0])  # a new mask each call
    with torch.no_grad():
        stacked.eval()
        assert not torch.equal(out[0], stacked(x)[0])  # dropout is off in evaluation


def test_batched_mlp_is_each_student_on_its_own_inputs():
    torch.manual_seed(0)
    students = [iisc_student(7), iisc_student(7), iisc_student(7)]
    batched = BatchedMLP(students)
    x = torch.rand(3, 5, 1, 28, 28)
    out = batched(x)
    assert out.shape == (3, 5, 10)
    for i, m in enumerate(students):
        torch.testing.assert_close(out[i], m(x[i]), atol=1e-5, rtol=0)
        for p, q in zip(batched.unstack(i).parameters(), m.parameters(), strict=True):
            assert torch.equal(p, q)
    with pytest.raises(ValueError, match="one hidden layer"):
        BatchedMLP([iisc_teacher()])
