"""The four CIFAR-100 networks of the 003 paper: three teachers and the student of its Table 1.

The teachers are the CIFAR variants of chenyaofo/pytorch-cifar-models, whose pretrained
CIFAR-100 accuracies (and parameter and multiply-add counts) Table 1 quotes:

- ``resnet44``: He et al.'s CIFAR ResNet-44, 3 x 3 stem with 16 planes, 3 stages of 7 basic
  blocks with 16/32/64 planes, a 1 x 1 convolution + BN shortcut where the shape changes.
  Built with :func:`kdlib.resnet.resnet`, which is exactly this network.
- ``vgg11_bn``: VGG configuration "A" with batch norm (biased 3 x 3 convolutions, five 2 x 2
  max-pools down to 1 x 1 x 512) and a 512-512-classes classifier with dropout.
- ``mobilenetv2_x0_75``: torchvision's MobileNetV2 at width 0.75 with the two CIFAR stride
  changes (stem stride 1, second stage stride 1); the last 1 x 1 convolution keeps 1280
  channels (``1280 * max(1, width)``, rounded to a multiple of 8).

The student, "MobileNet_v3_small" (1.61 M parameters, 17.6 M MAdds in Table 1), is not in
that repository and the paper does not say which variant it is. :func:`mobilenetv3_small` is
torchvision's MobileNetV3-small (same 11 bottlenecks, squeeze-excitation, ReLU / hard-swish
activations, BN eps 1e-3, 576-wide last convolution, 1024-wide hidden head, dropout 0.2)
with two strides set to 1 for 32 x 32 inputs: the stem's and the first bottleneck's (the
16-channel SE block), so the overall stride is 8 (as in the CIFAR MobileNetV2) and the last
feature map 4 x 4. That choice reproduces Table 1's MAdds: 17,599,488 (17.60 M). The other
candidates do not: stem alone at stride 1, 5.60 M; stem and the second bottleneck, 16.41 M;
stem and the fourth, 14.55 M; stem and the ninth, 9.68 M.

Its parameters, 1,620,356 at 100 classes (1.62 M), are 0.6% above Table 1's 1.61 M. Strides
do not change parameters; two readings give 1.61 M: the same network counted without BN's
12,112 affine parameters (1,608,244; but chenyaofo's teacher counts do include BN, e.g.
ResNet-44's 0.67 M), or a hidden head of 1009 units instead of 1024 (1,610,201; an odd width,
and MAdds would fall by only 10 k). Neither is evidence enough to depart from torchvision's
1024, which is kept.

:func:`madds` counts with torch's flop counter (:func:`kdlib.timing.flops` / 2): convolutions
and matrix products only, no batch norm, activation or pooling, like chenyaofo's counts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import torch
from torch import nn

from kdlib.resnet import ResNet, resnet
from kdlib.timing import flops

__all__ = [
    "CIFAR_STRIDES",
    "MODELS",
    "TABLE1",
    "MobileNetV2",
    "MobileNetV3Small",
    "VGG",
    "madds",
    "make_divisible",
    "mobilenetv2_x0_75",
    "mobilenetv3_small",
    "resnet44",
    "vgg11_bn",
]

# Table 1 of the 003 paper, CIFAR-100: parameters (M), MAdds (M), top-1 and top-5 accuracy (%)
TABLE1: dict[str, dict[str, float]] = {
    "ResNet44": {"params_m": 0.67, "madds_m": 97.44, "top1": 71.63, "top5": 91.58},
    "VGG11_bn": {"params_m": 9.80, "madds_m": 153.34, "top1": 70.78, "top5": 88.87},
    "MobileNetV2_x0_75": {"params_m": 1.48, "madds_m": 59.43, "top1": 73.61, "top5": 92.61},
    "MobileNet_v3_small": {"params_m": 1.61, "madds_m": 17.6, "top1": 73.69, "top5": 92.31},
}


def madds(model: nn.Module, sample: torch.Tensor | None = None) -> float:
    """Multiply-adds of one forward pass on ``sample`` (default: one 3 x 32 x 32 image), as
    torch's flop count / 2."""
    if sample is None:
        sample = torch.zeros(1, 3, 32, 32)
    return flops(model, sample) / 2


def make_divisible(v: float, divisor: int = 8) -> int:
    """The nearest multiple of ``divisor`` to ``v`` (at least ``divisor``), not below 0.9 v
    (the channel rounding of the TensorFlow MobileNets)."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def _conv_bn_act(c_in: int, c_out: int, kernel: int = 3, stride: int = 1, groups: int = 1,
                 act: Callable[[], nn.Module] | None = nn.ReLU6,
                 norm: Callable[[int], nn.Module] = nn.BatchNorm2d) -> nn.Sequential:
    layers = [nn.Conv2d(c_in, c_out, kernel, stride, (kernel - 1) // 2, groups=groups,
                        bias=False), norm(c_out)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


def _init(model: nn.Module) -> None:
    """torchvision's initialisation: He normal (fan out) convolutions, unit BN, N(0, 0.01)
    linear layers, zero biases."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


# ---------------------------------------------------------------------------------- ResNet-44


def resnet44(classes: int = 100, width: float = 1.0) -> ResNet:
    """CIFAR ResNet-44: 3 stages of 7 basic blocks, 16/32/64 planes times ``width``
    (0.67 M parameters at width 1)."""
    return resnet([7, 7, 7], "basic", width_multiplier=16 / 64 * width, classes=classes)


# ---------------------------------------------------------------------------------- VGG-11 BN

_VGG11 = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


class VGG(nn.Module):
    """VGG for 32 x 32 inputs: conv-BN-ReLU stacks and max-pools to 1 x 1 x 512, then a
    512-512-``classes`` classifier with dropout; ``width`` scales every width."""

    def __init__(self, config: Sequence[int | str], classes: int = 100,
                 width: float = 1.0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 3
        for v in config:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                assert isinstance(v, int)
                v = max(1, round(v * width))
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
                c = v
        self.features = nn.Sequential(*layers)
        hidden = max(1, round(512 * width))
        self.classifier = nn.Sequential(
            nn.Linear(c, hidden), nn.ReLU(True), nn.Dropout(),
            nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(),
            nn.Linear(hidden, classes))
        _init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


def vgg11_bn(classes: int = 100, width: float = 1.0) -> VGG:
    """VGG-11 with batch norm, CIFAR variant (9.80 M parameters at 100 classes, width 1)."""
    return VGG(_VGG11, classes, width)


# ------------------------------------------------------------------------------- MobileNetV2


class _InvertedResidualV2(nn.Module):
    """1 x 1 expansion (ReLU6), 3 x 3 depthwise (ReLU6), linear 1 x 1 projection; identity
    shortcut when stride 1 and the widths agree."""

    def __init__(self, c_in: int, c_out: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = int(round(c_in * expand))
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(_conv_bn_act(c_in, hidden, 1))
        layers += [_conv_bn_act(hidden, hidden, 3, stride, groups=hidden),
                   nn.Conv2d(hidden, c_out, 1, bias=False), nn.BatchNorm2d(c_out)]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


# expansion t, channels c, blocks n, stride s; the second row's stride is 1 (2 on ImageNet)
_MOBILENETV2 = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1))


class MobileNetV2(nn.Module):
    """MobileNetV2 for 32 x 32 inputs (stem stride 1, second stage stride 1): overall
    stride 8."""

    def __init__(self, width: float = 1.0, classes: int = 100) -> None:
        super().__init__()
        c = make_divisible(32 * width)
        last = make_divisible(1280 * max(1.0, width))
        layers: list[nn.Module] = [_conv_bn_act(3, c, 3, 1)]
        for t, channels, n, s in _MOBILENETV2:
            out = make_divisible(channels * width)
            for i in range(n):
                layers.append(_InvertedResidualV2(c, out, s if i == 0 else 1, t))
                c = out
        layers.append(_conv_bn_act(c, last, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last, classes))
        _init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean((2, 3)))


def mobilenetv2_x0_75(classes: int = 100, width: float = 1.0) -> MobileNetV2:
    """CIFAR MobileNetV2 at width 0.75 times ``width`` (1.48 M parameters at 100 classes,
    width 1)."""
    return MobileNetV2(0.75 * width, classes)


# ------------------------------------------------------------------------- MobileNetV3-small



class _SqueezeExcite(nn.Module):
    """Channel gates: global average pool, 1 x 1 down to a quarter (ReLU), 1 x 1 up,
    hard sigmoid."""

    def __init__(self, c: int) -> None:
        super().__init__()
        squeeze = make_divisible(c // 4)
        self.fc1 = nn.Conv2d(c, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.fc2(torch.relu(self.fc1(x.mean((2, 3), keepdim=True))))
        return x * nn.functional.hardsigmoid(s)


class _InvertedResidualV3(nn.Module):
    """Optional 1 x 1 expansion, k x k depthwise, optional SE, linear 1 x 1 projection;
    identity shortcut when stride 1 and the widths agree."""

    def __init__(self, c_in: int, kernel: int, hidden: int, c_out: int, se: bool,
                 act: type[nn.Module], stride: int,
                 bn: Callable[[int], nn.Module] = nn.BatchNorm2d) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        if hidden != c_in:
            layers.append(_conv_bn_act(c_in, hidden, 1, act=act, norm=bn))
        layers.append(_conv_bn_act(hidden, hidden, kernel, stride, hidden, act, bn))
        if se:
            layers.append(_SqueezeExcite(hidden))
        layers.append(_conv_bn_act(hidden, c_out, 1, act=None, norm=bn))
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.residual else y


# torchvision's mobilenet_v3_small: in, kernel, expanded, out, SE, activation, ImageNet stride
_RE, _HS = nn.ReLU, nn.Hardswish
_MOBILENETV3_SMALL = (
    (16, 3, 16, 16, True, _RE, 2), (16, 3, 72, 24, False, _RE, 2),
    (24, 3, 88, 24, False, _RE, 1), (24, 5, 96, 40, True, _HS, 2),
    (40, 5, 240, 40, True, _HS, 1), (40, 5, 240, 40, True, _HS, 1),
    (40, 5, 120, 48, True, _HS, 1), (48, 5, 144, 48, True, _HS, 1),
    (48, 5, 288, 96, True, _HS, 2), (96, 5, 576, 96, True, _HS, 1),
    (96, 5, 576, 96, True, _HS, 1),
)
# the CIFAR strides: the first bottleneck's 2 -> 1 (and the stem's 2 -> 1)
CIFAR_STRIDES = (1, 2, 1, 2, 1, 1, 1, 1, 2, 1, 1)


class MobileNetV3Small(nn.Module):
    """torchvision's MobileNetV3-small with settable strides: a 3 x 3 stem (16, hard swish),
    11 bottlenecks, a 1 x 1 convolution to 576, global pooling and a ``576-last-classes``
    classifier (hard swish, dropout 0.2). ``width`` scales every width as torchvision's
    ``width_mult`` does (to multiples of 8). Batch norm as torchvision's: eps 1e-3, running
    statistics with ``bn_momentum`` 0.01 (set for long ImageNet schedules; after a few epochs
    such statistics still lag the weights, and the network in evaluation mode is at chance)."""

    def __init__(self, classes: int = 100, stem_stride: int = 1,
                 strides: Sequence[int] = CIFAR_STRIDES, last_channel: int = 1024,
                 width: float = 1.0, bn_momentum: float = 0.01) -> None:
        super().__init__()
        if len(strides) != len(_MOBILENETV3_SMALL):
            raise ValueError(f"strides must have {len(_MOBILENETV3_SMALL)} entries; "
                             f"got {len(strides)}")
        def w(c: int) -> int:
            return make_divisible(c * width)

        bn = partial(nn.BatchNorm2d, eps=0.001, momentum=bn_momentum)

        layers: list[nn.Module] = [_conv_bn_act(3, w(16), 3, stem_stride, act=_HS, norm=bn)]
        for (c_in, k, hidden, c_out, se, act, _), s in zip(_MOBILENETV3_SMALL, strides,
                                                            strict=True):
            layers.append(_InvertedResidualV3(w(c_in), k, w(hidden), w(c_out), se, act, s, bn))
        layers.append(_conv_bn_act(w(96), w(576), 1, act=_HS, norm=bn))
        self.features = nn.Sequential(*layers)
        last = w(last_channel)
        self.classifier = nn.Sequential(
            nn.Linear(w(576), last), nn.Hardswish(inplace=True), nn.Dropout(0.2),
            nn.Linear(last, classes))
        _init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean((2, 3)))


def mobilenetv3_small(classes: int = 100, width: float = 1.0,
                      bn_momentum: float = 0.01) -> MobileNetV3Small:
    """MobileNetV3-small for 32 x 32 inputs: stem and first bottleneck at stride 1
    (1.62 M parameters at 100 classes and width 1; Table 1: 1.61 M)."""
    return MobileNetV3Small(classes, width=width, bn_momentum=bn_momentum)


MODELS: dict[str, Callable[..., nn.Module]] = {
    "ResNet44": resnet44,
    "VGG11_bn": vgg11_bn,
    "MobileNetV2_x0_75": mobilenetv2_x0_75,
    "MobileNet_v3_small": mobilenetv3_small,
}
