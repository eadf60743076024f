"""Every architecture of the source documents, one constructor per source model.

Torch models are the ones the chapters train; the Keras twins (``keras_*``) exist so the
report can show that the Keras code of the sources and kdlib's torch code are the same
networks (same parameter counts, same outputs on the same weights).

Keras 'same' padding is asymmetric for even totals: the extra row/column goes at the bottom
and right. Torch's symmetric ``padding=`` cannot express that, so :func:`pad_same` pads
explicitly, and max-pooling pads with ``-inf`` (TensorFlow's max-pool ignores padded cells).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ACTIVATIONS",
    "BatchedMLP",
    "MLP",
    "HaoCNN",
    "PosterCNN",
    "PosterMLP",
    "StackedHaoCNN",
    "StackedMLP",
    "hao_student",
    "iisc_student",
    "iisc_teacher",
    "keras_mlp",
    "hao_teacher",
    "keras_hao_student",
    "keras_hao_teacher",
    "keras_poster_student",
    "keras_poster_teacher",
    "max_pool_same",
    "n_params",
    "pad_same",
    "poster_from_keras",
    "poster_student",
    "poster_teacher",
    "torch_from_keras",
]


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) padding of TensorFlow's 'same' for one spatial dimension."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def pad_same(x: torch.Tensor, kernel: int, stride: int, value: float = 0.0) -> torch.Tensor:
    """Pad an NCHW tensor exactly as TensorFlow's 'same' padding would."""
    top, bottom = same_padding(x.shape[-2], kernel, stride)
    left, right = same_padding(x.shape[-1], kernel, stride)
    if top == bottom == left == right == 0:
        return x
    return F.pad(x, (left, right, top, bottom), value=value)


def max_pool_same(x: torch.Tensor, pool: int = 2, stride: int = 1) -> torch.Tensor:
    """Keras ``MaxPooling2D(pool, stride, padding='same')`` on an NCHW tensor.

    Pools in channels-last memory layout: same values, and on these CPUs oneDNN's pooling is
    then ~5x faster, which makes the whole teacher ~1.8x faster (``bench/speed.py``).
    """
    x = x.contiguous(memory_format=torch.channels_last)
    return F.max_pool2d(pad_same(x, pool, stride, value=-math.inf), pool, stride)


def glorot_(weight: torch.Tensor, fan_in: int, fan_out: int) -> None:
    """Keras's default ``glorot_uniform`` initialiser, in place."""
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    with torch.no_grad():
        weight.uniform_(-limit, limit)


class HaoCNN(nn.Module):
    """The 000 report's CNN: Conv(f1, 3, s2, same) → LeakyReLU(0.2) → MaxPool(2, s1, same)
    → Conv(f2, 3, s2, same) → Flatten → Dense(10). Initialised as Keras does (Glorot, zero bias).
    """

    def __init__(self, filters: tuple[int, int], in_channels: int = 1, size: int = 28,
                 classes: int = 10) -> None:
        super().__init__()
        f1, f2 = filters
        self.conv1 = nn.Conv2d(in_channels, f1, 3, stride=2)
        self.conv2 = nn.Conv2d(f1, f2, 3, stride=2)
        side = math.ceil(math.ceil(size / 2) / 2)
        self.dense = nn.Linear(f2 * side * side, classes)
        for conv in (self.conv1, self.conv2):
            glorot_(conv.weight, conv.in_channels * 9, conv.out_channels * 9)
            nn.init.zeros_(conv.bias)
        glorot_(self.dense.weight, self.dense.in_features, self.dense.out_features)
        nn.init.zeros_(self.dense.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(pad_same(x, 3, 2))
        x = max_pool_same(F.leaky_relu(x, 0.2))
        x = self.conv2(pad_same(x, 3, 2))
        # Keras flattens channels-last; keep that order so weights transfer one to one.
        return self.dense(x.permute(0, 2, 3, 1).flatten(1))


def hao_teacher() -> HaoCNN:
    """The 000 report's teacher: 256/512 filters, 1,433,610 parameters."""
    return HaoCNN((256, 512))


def hao_student() -> HaoCNN:
    """The 000 report's student: 16/32 filters, 20,490 parameters."""
    return HaoCNN((16, 32))


class StackedHaoCNN(nn.Module):
    """``S`` independent :class:`HaoCNN` students that see the same images, as one model.

    Input ``(B, C, H, W)``, output ``(S, B, classes)``: student ``s``'s logits depend on its own
    weights only, and one Adam over the stacked tensors is ``S`` independent Adams, because
    Adam is element-wise. Speed tricks (measured in ``bench/speed.py``):

    - conv1 is one matrix product of the batch's image patches, extracted once, with the
      kernels of all ``S`` students;
    - activations stay channels-last, ``(B, H, W, S * f1)``, where oneDNN's max-pool and
      grouped convolution are fastest and no layout copies are needed between layers;
    - conv2 is a grouped convolution (``groups=S``), the dense layer a batched matmul.
    """

    def __init__(self, students: list[HaoCNN]) -> None:
        super().__init__()
        first = students[0]
        s, f1, f2 = len(students), first.conv1.out_channels, first.conv2.out_channels
        self.n, self.f1, self.f2 = s, f1, f2
        self.in_channels = first.conv1.in_channels
        # conv1 kernels as a (S*f1, C*9) matrix: torch's OIHW order, flattened
        self.conv1_weight = nn.Parameter(torch.cat([m.conv1.weight.detach().flatten(1)
                                                    for m in students]))
        self.conv1_bias = nn.Parameter(torch.cat([m.conv1.bias.detach() for m in students]))
        self.conv2 = nn.Conv2d(s * f1, s * f2, 3, stride=2, groups=s)
        with torch.no_grad():
            self.conv2.weight.copy_(torch.cat([m.conv2.weight for m in students]))
            self.conv2.bias.copy_(torch.cat([m.conv2.bias for m in students]))
        self.conv2.to(memory_format=torch.channels_last)
        self.dense_w = nn.Parameter(torch.stack([m.dense.weight.detach().t() for m in students]))
        self.dense_b = nn.Parameter(torch.stack([m.dense.bias.detach() for m in students]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` images, the same for every student → ``(S, B, classes)`` logits."""
        b = x.shape[0]
        xp = pad_same(x, 3, 2)
        ho, wo = (xp.shape[-2] - 3) // 2 + 1, (xp.shape[-1] - 3) // 2 + 1
        patches = F.unfold(xp, 3, stride=2).transpose(1, 2).reshape(b * ho * wo, -1)
        h = torch.addmm(self.conv1_bias, patches, self.conv1_weight.t())  # (B*ho*wo, S*f1)
        h = h.view(b, ho, wo, -1).permute(0, 3, 1, 2)  # NCHW view of channels-last memory
        h = max_pool_same(F.leaky_relu(h, 0.2))
        h = self.conv2(pad_same(h, 3, 2))  # (B, S*f2, h2, w2), channels-last
        # per student, flatten (h, w, c) as Keras does
        h = h.permute(0, 2, 3, 1).reshape(b, -1, self.n, self.f2).permute(2, 0, 1, 3)
        return torch.baddbmm(self.dense_b.unsqueeze(1), h.reshape(self.n, b, -1), self.dense_w)

    def unstack(self, i: int) -> HaoCNN:
        """Student ``i`` as a stand-alone :class:`HaoCNN`."""
        f1, f2 = self.f1, self.f2
        side = int(math.isqrt(self.dense_w.shape[1] // f2))
        m = HaoCNN((f1, f2), in_channels=self.in_channels, size=side * 4)
        with torch.no_grad():
            m.conv1.weight.copy_(self.conv1_weight[i * f1:(i + 1) * f1].view_as(m.conv1.weight))
            m.conv1.bias.copy_(self.conv1_bias[i * f1:(i + 1) * f1])
            m.conv2.weight.copy_(self.conv2.weight[i * f2:(i + 1) * f2])
            m.conv2.bias.copy_(self.conv2.bias[i * f2:(i + 1) * f2])
            m.dense.weight.copy_(self.dense_w[i].t())
            m.dense.bias.copy_(self.dense_b[i])
        return m


# ------------------------------------------------------------------ the 004 poster's pair

ACTIVATIONS = {"relu": F.relu, "tanh": torch.tanh, "elu": F.elu}


def _dense(n_in: int, n_out: int) -> nn.Linear:
    layer = nn.Linear(n_in, n_out)
    glorot_(layer.weight, n_in, n_out)
    nn.init.zeros_(layer.bias)
    return layer


class PosterMLP(nn.Module):
    """The 004 poster's student: Flatten → Dense(hidden) → activation → Dropout → Dense(10),
    i.e. its teacher without the convolution and pooling layers (25,450 parameters)."""

    def __init__(self, hidden: int = 32, dropout: float = 0.2, activation: str = "relu",
                 inputs: int = 784, classes: int = 10) -> None:
        super().__init__()
        self.dense1 = _dense(inputs, hidden)
        self.dense2 = _dense(hidden, classes)
        self.dropout, self.activation = dropout, activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = ACTIVATIONS[self.activation](self.dense1(x.flatten(1)))
        return self.dense2(F.dropout(h, self.dropout, self.training))


class PosterCNN(nn.Module):
    """The 004 poster's teacher: Conv(8, 3, same) → MaxPool(2) → Conv(16, 3, same) → MaxPool(2)
    → Flatten → Dense(32) → Dropout → Dense(10), 26,698 parameters. The poster names no
    activation: ``activation`` follows each convolution and the hidden dense layer."""

    def __init__(self, dropout: float = 0.2, activation: str = "relu") -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)  # stride 1: 'same' is symmetric
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        for conv in (self.conv1, self.conv2):
            glorot_(conv.weight, conv.in_channels * 9, conv.out_channels * 9)
            nn.init.zeros_(conv.bias)
        self.head = PosterMLP(32, dropout, activation, inputs=7 * 7 * 16)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = ACTIVATIONS[self.activation]
        h = F.max_pool2d(act(self.conv1(x)), 2)
        h = F.max_pool2d(act(self.conv2(h)), 2)
        return self.head(h.permute(0, 2, 3, 1))  # Keras flattens channels-last


def poster_teacher(dropout: float = 0.2, activation: str = "relu") -> PosterCNN:
    """The 004 poster's teacher CNN (26,698 parameters)."""
    return PosterCNN(dropout, activation)


def poster_student(hidden: int = 32, dropout: float = 0.2, activation: str = "relu"
                   ) -> PosterMLP:
    """The 004 poster's student MLP (25,450 parameters with ``hidden=32``)."""
    return PosterMLP(hidden, dropout, activation)


class StackedMLP(nn.Module):
    """``S`` :class:`PosterMLP` students that see the same images, as one model.

    Input ``(B, ...)``, output ``(S, B, classes)``. The first layer of all students is one
    matrix product, the second a batched one. In training, one dropout mask per step is
    shared by all students (common random numbers, like their shared batch order), so two
    students whose losses are equal train identically.
    """

    def __init__(self, students: list[PosterMLP]) -> None:
        super().__init__()
        first = students[0]
        self.n, self.width = len(students), first.dense1.out_features
        self.dropout, self.activation = first.dropout, first.activation
        self.w1 = nn.Parameter(torch.cat([m.dense1.weight.detach().t() for m in students], 1))
        self.b1 = nn.Parameter(torch.cat([m.dense1.bias.detach() for m in students]))
        self.classes = first.dense2.out_features
        # The output layer is padded to whole 16-float (AVX-512) vectors per student with
        # weights that stay zero (their gradient is zero): fused Adam updates the last, partial
        # vector of a tensor with other rounding, and would make the last student drift from
        # an identical one. Measured: without it, alpha = 1 students at different T differ.
        pad = -self.classes % 16
        self.w2 = nn.Parameter(F.pad(torch.stack([m.dense2.weight.detach().t()
                                                  for m in students]), (0, pad)))
        self.b2 = nn.Parameter(F.pad(torch.stack([m.dense2.bias.detach() for m in students]),
                                     (0, pad)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, ...)`` inputs, the same for every student → ``(S, B, classes)`` logits."""
        b = x.shape[0]
        h = ACTIVATIONS[self.activation](torch.addmm(self.b1, x.flatten(1), self.w1))
        h = h.view(b, self.n, self.width)
        if self.training and self.dropout > 0:
            keep = 1.0 - self.dropout
            mask = torch.empty(b, 1, self.width).bernoulli_(keep).div_(keep)
            h = h * mask
        out = torch.baddbmm(self.b2.unsqueeze(1), h.transpose(0, 1), self.w2)
        return out[..., :self.classes]

    def unstack(self, i: int) -> PosterMLP:
        """Student ``i`` as a stand-alone :class:`PosterMLP`."""
        m = PosterMLP(self.width, self.dropout, self.activation, inputs=self.w1.shape[0],
                      classes=self.classes)
        with torch.no_grad():
            m.dense1.weight.copy_(self.w1[:, i * self.width:(i + 1) * self.width].t())
            m.dense1.bias.copy_(self.b1[i * self.width:(i + 1) * self.width])
            m.dense2.weight.copy_(self.w2[i, :, :self.classes].t())
            m.dense2.bias.copy_(self.b2[i, :self.classes])
        return m


# ------------------------------------------------------------------ the 002 IISc paper's MNIST pair


class MLP(nn.Module):
    """Flatten → (Dense(h) → ReLU → Dropout) for each ``h`` in ``hidden`` → Dense(classes)."""

    def __init__(self, hidden: tuple[int, ...], dropout: float = 0.0, inputs: int = 784,
                 classes: int = 10) -> None:
        super().__init__()
        sizes = (inputs, *hidden)
        self.hidden = nn.ModuleList(_dense(a, b) for a, b in zip(sizes, sizes[1:], strict=False))
        self.out = _dense(sizes[-1], classes)
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.flatten(1)
        for layer in self.hidden:
            h = F.dropout(F.relu(layer(h)), self.dropout, self.training)
        return self.out(h)


def iisc_teacher(dropout: float = 0.0) -> MLP:
    """The 002 paper's MNIST teacher: two dense hidden layers of 1,200 units (2,395,210
    parameters). The paper calls it a CNN but describes only dense layers."""
    return MLP((1200, 1200), dropout)


def iisc_student(hidden: int, dropout: float = 0.0) -> MLP:
    """The 002 paper's MNIST student: one dense hidden layer of ``hidden`` units."""
    return MLP((hidden,), dropout)


class BatchedMLP(nn.Module):
    """``S`` one-hidden-layer :class:`MLP` students, each on its own inputs, as one model.

    Input ``(S, B, ...)`` (student ``i`` sees ``x[i]``), output ``(S, B, classes)``: both layers
    are batched matrix products. Students of different seeds train at once this way, each with
    its own batches and teacher (:func:`kdlib.train.distil_batched`).
    """

    def __init__(self, students: list[MLP]) -> None:
        super().__init__()
        if any(len(m.hidden) != 1 for m in students):
            raise ValueError("BatchedMLP stacks students with one hidden layer")
        self.dropout = students[0].dropout

        def stack(get) -> nn.Parameter:
            return nn.Parameter(torch.stack([get(m).detach() for m in students]))

        self.w1 = stack(lambda m: m.hidden[0].weight.t())  # (S, in, hidden)
        self.b1 = stack(lambda m: m.hidden[0].bias[None])  # (S, 1, hidden)
        self.w2 = stack(lambda m: m.out.weight.t())
        self.b2 = stack(lambda m: m.out.bias[None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(S, B, ...)`` inputs → ``(S, B, classes)`` logits."""
        h = F.relu(torch.baddbmm(self.b1, x.flatten(2), self.w1))
        return torch.baddbmm(self.b2, F.dropout(h, self.dropout, self.training), self.w2)

    def unstack(self, i: int) -> MLP:
        """Student ``i`` as a stand-alone :class:`MLP`."""
        m = MLP((self.w1.shape[2],), self.dropout, self.w1.shape[1], self.w2.shape[2])
        with torch.no_grad():
            m.hidden[0].weight.copy_(self.w1[i].t())
            m.hidden[0].bias.copy_(self.b1[i, 0])
            m.out.weight.copy_(self.w2[i].t())
            m.out.bias.copy_(self.b2[i, 0])
        return m


def keras_mlp(hidden: tuple[int, ...], dropout: float = 0.0):
    """:class:`MLP` in Keras 3 (NHWC 28 x 28 x 1 input, as the other Keras models here)."""
    import keras
    from keras import layers

    stack: list = [keras.Input(shape=(28, 28, 1)), layers.Flatten()]
    for h in hidden:
        stack += [layers.Dense(h, activation="relu"), layers.Dropout(dropout)]
    return keras.Sequential([*stack, layers.Dense(10)], name=f"mlp_{'_'.join(map(str, hidden))}")


def n_params(model: nn.Module) -> int:
    """Number of trainable parameters of a torch model."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _keras_hao(filters: tuple[int, int], name: str):
    """The Keras Sequential exactly as the 000 report lists it."""
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(filters[0], (3, 3), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.MaxPooling2D(pool_size=(2, 2), strides=(1, 1), padding="same"),
            layers.Conv2D(filters[1], (3, 3), strides=(2, 2), padding="same"),
            layers.Flatten(),
            layers.Dense(10),
        ],
        name=name,
    )


def keras_hao_teacher():
    """The 000 report's teacher in Keras 3 (its listing, verbatim)."""
    return _keras_hao((256, 512), "teacher")


def keras_hao_student():
    """The 000 report's student in Keras 3 (its listing, verbatim)."""
    return _keras_hao((16, 32), "student")


def torch_from_keras(keras_model) -> HaoCNN:
    """A :class:`HaoCNN` carrying the weights of a Keras twin (``keras_hao_*``)."""
    convs = [layer for layer in keras_model.layers if layer.__class__.__name__ == "Conv2D"]
    _, size, _, channels = keras_model.input_shape
    model = HaoCNN((convs[0].filters, convs[1].filters), in_channels=channels, size=size,
                   classes=keras_model.layers[-1].units)
    with torch.no_grad():
        for conv, layer in zip((model.conv1, model.conv2), convs, strict=True):
            kernel, bias = layer.get_weights()
            conv.weight.copy_(torch.from_numpy(kernel).permute(3, 2, 0, 1))  # HWIO → OIHW
            conv.bias.copy_(torch.from_numpy(bias))
        kernel, bias = keras_model.layers[-1].get_weights()
        model.dense.weight.copy_(torch.from_numpy(kernel).t())  # (in, out) → (out, in)
        model.dense.bias.copy_(torch.from_numpy(bias))
    return model


def keras_poster_teacher(dropout: float = 0.2, activation: str = "relu"):
    """The 004 poster's teacher in Keras 3, as its layer table lists it."""
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(8, 3, padding="same", activation=activation),
        layers.MaxPooling2D(),
        layers.Conv2D(16, 3, padding="same", activation=activation),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(32, activation=activation),
        layers.Dropout(dropout),
        layers.Dense(10),
    ], name="poster_teacher")


def keras_poster_student(hidden: int = 32, dropout: float = 0.2, activation: str = "relu"):
    """The 004 poster's student in Keras 3: its teacher without convolutions and pooling."""
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Flatten(),
        layers.Dense(hidden, activation=activation),
        layers.Dropout(dropout),
        layers.Dense(10),
    ], name="poster_student")


def poster_from_keras(keras_model) -> PosterCNN | PosterMLP:
    """The torch twin of a ``keras_poster_*`` model, carrying its weights."""
    dense = [layer for layer in keras_model.layers if layer.__class__.__name__ == "Dense"]
    convs = [layer for layer in keras_model.layers if layer.__class__.__name__ == "Conv2D"]
    act = dense[0].activation.__name__
    rate = next(layer.rate for layer in keras_model.layers
                if layer.__class__.__name__ == "Dropout")
    model = PosterCNN(rate, act) if convs else PosterMLP(dense[0].units, rate, act)
    mlp = model.head if convs else model
    with torch.no_grad():
        for conv, layer in zip((getattr(model, "conv1", None), getattr(model, "conv2", None)),
                               convs, strict=False):
            kernel, bias = layer.get_weights()
            conv.weight.copy_(torch.from_numpy(kernel).permute(3, 2, 0, 1))  # HWIO → OIHW
            conv.bias.copy_(torch.from_numpy(bias))
        for linear, layer in zip((mlp.dense1, mlp.dense2), dense, strict=True):
            kernel, bias = layer.get_weights()
            linear.weight.copy_(torch.from_numpy(kernel).t())
            linear.bias.copy_(torch.from_numpy(bias))
    return model
