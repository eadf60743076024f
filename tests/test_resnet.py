"""kdlib.resnet: the CIFAR-style ResNets, their sizes and shapes."""

import pytest
import torch

from kdlib.models import n_params
from kdlib.resnet import resnet


def test_resnet18_and_resnet50_have_the_standard_cifar_parameter_counts():
    # the counts of the common CIFAR implementations (3 x 3 stem, no max-pool, 10 classes)
    assert n_params(resnet([2, 2, 2, 2])) == 11_173_962
    assert n_params(resnet([3, 4, 6, 3], "bottleneck")) == 23_520_842


@pytest.mark.parametrize(("blocks", "stride", "features"), [
    ([1, 1, 1, 1], 1, 64), ([2, 2, 0, 0], 1, 16), ([1, 1, 0, 0], 2, 16), ([1, 1, 1, 1], 4, 64),
])
def test_students_keep_their_shape_with_stages_left_out_and_a_strided_stem(blocks, stride,
                                                                           features):
    model = resnet(blocks, width_multiplier=1 / 8, stem_stride=stride)
    assert model.classifier.in_features == features  # the last stage present sets the width
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_a_strided_stem_does_fewer_flops():
    from kdlib.timing import cost

    models = {s: resnet([1, 1, 1, 1], width_multiplier=1 / 8, stem_stride=s) for s in (1, 2, 4)}
    flops = cost(models, torch.rand(1, 3, 32, 32)).set_index("model")["flops"]
    assert flops[1] > 3.5 * flops[2] > 3.5 * 3.5 * flops[4]


def test_bad_structures_are_refused():
    with pytest.raises(ValueError, match="blocks must start with at least 1"):
        resnet([0, 1, 1, 1])
    with pytest.raises(ValueError, match="block must be one of basic, bottleneck"):
        resnet([1, 1, 1, 1], "dense")
