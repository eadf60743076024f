"""ResNets for 32 x 32 images (the CIFAR-style stem: one 3 x 3 convolution, no max-pool).

``resnet(blocks, block)`` builds the family of He et al. (2016) as the CIFAR literature uses
it: a stem, up to four stages of ``blocks[i]`` residual blocks with ``width * 2**i`` planes
(stride 1 in the first stage, 2 after), global average pooling and a linear classifier. The
002 paper's students vary the blocks per stage (a stage with 0 blocks is left out) and the
stride of the stem ("the base block"); ``width_multiplier`` scales every width, for CPUs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["BLOCKS", "Basic", "Bottleneck", "ResNet", "resnet"]


def _conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False),
            nn.BatchNorm2d(c_out)]


class _Residual(nn.Module):
    """``relu(body(x) + shortcut(x))``; the shortcut is a 1 x 1 convolution when the shape
    changes."""

    expansion = 1

    def __init__(self, body: list[nn.Module], c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(*body)
        self.shortcut = (nn.Sequential(*_conv_bn(c_in, c_out, 1, stride))
                         if stride != 1 or c_in != c_out else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class Basic(_Residual):
    """Two 3 x 3 convolutions (ResNet-18/34)."""

    expansion = 1

    def __init__(self, c_in: int, planes: int, stride: int) -> None:
        super().__init__([*_conv_bn(c_in, planes, 3, stride), nn.ReLU(inplace=True),
                          *_conv_bn(planes, planes, 3)], c_in, planes, stride)


class Bottleneck(_Residual):
    """1 x 1 down, 3 x 3, 1 x 1 up to ``4 * planes`` (ResNet-50 and deeper)."""

    expansion = 4

    def __init__(self, c_in: int, planes: int, stride: int) -> None:
        out = 4 * planes
        super().__init__([*_conv_bn(c_in, planes, 1), nn.ReLU(inplace=True),
                          *_conv_bn(planes, planes, 3, stride), nn.ReLU(inplace=True),
                          *_conv_bn(planes, out, 1)], c_in, out, stride)


BLOCKS = {"basic": Basic, "bottleneck": Bottleneck}


class ResNet(nn.Module):
    """Stem → stages → global average pool → linear."""

    def __init__(self, blocks: Sequence[int], block: type[_Residual], width: int = 64,
                 stem_stride: int = 1, classes: int = 10) -> None:
        super().__init__()
        if not blocks or blocks[0] < 1 or any(b < 0 for b in blocks):
            raise ValueError(f"blocks must start with at least 1 and have none negative; "
                             f"got {list(blocks)}")
        layers: list[nn.Module] = [*_conv_bn(3, width, 3, stem_stride), nn.ReLU(inplace=True)]
        c = width
        for i, n in enumerate(blocks):
            for j in range(n):
                layers.append(block(c, width * 2**i, 2 if i > 0 and j == 0 else 1))
                c = width * 2**i * block.expansion
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean((2, 3)))


def resnet(blocks: Sequence[int], block: str = "basic", width_multiplier: float = 1.0,
           stem_stride: int = 1, classes: int = 10) -> ResNet:
    """A CIFAR-style ResNet: ``resnet([2, 2, 2, 2])`` is ResNet-18 (11,173,962 parameters at
    10 classes), ``resnet([3, 4, 6, 3], "bottleneck")`` ResNet-50 (23,520,842)."""
    if block not in BLOCKS:
        raise ValueError(f"block must be one of {', '.join(BLOCKS)}; got {block!r}")
    width = max(1, round(64 * width_multiplier))
    return ResNet(blocks, BLOCKS[block], width, stem_stride, classes)
