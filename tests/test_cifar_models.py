"""kdlib.cifar_models: the 003 paper's CIFAR-100 networks against its Table 1."""

import pytest
import torch

from kdlib.cifar_models import MODELS, TABLE1, madds, resnet44
from kdlib.models import n_params
from kdlib.resnet import resnet

TEACHERS = ["ResNet44", "VGG11_bn", "MobileNetV2_x0_75"]


@pytest.mark.parametrize("name", TEACHERS)
def test_teachers_have_table_1_parameters_and_madds(name):
    model = MODELS[name](classes=100)
    row = TABLE1[name]
    assert n_params(model) / 1e6 == pytest.approx(row["params_m"], rel=0.02)
    assert madds(model, torch.zeros(1, 3, 32, 32)) / 1e6 == pytest.approx(row["madds_m"],
                                                                          rel=0.02)


def test_student_has_its_measured_parameters_and_madds():
    # Table 1: 1.61 M parameters, 17.6 M MAdds (see the module docstring for the 0.6% gap)
    model = MODELS["MobileNet_v3_small"](classes=100)
    assert n_params(model) == 1_620_356
    assert madds(model, torch.zeros(1, 3, 32, 32)) == 17_599_488


def test_resnet44_is_kdlib_resnet_with_7_basic_blocks_of_16_32_64_planes():
    model = resnet44()
    assert n_params(model) == n_params(resnet([7, 7, 7], "basic", 16 / 64, classes=100))
    assert model.features[0].out_channels == 16
    assert model.classifier.in_features == 64


def test_table_1_lists_every_model_with_its_accuracies():
    assert set(TABLE1) == set(MODELS)
    assert TABLE1["MobileNet_v3_small"]["top1"] == 73.69
    assert TABLE1["VGG11_bn"]["top5"] == 88.87


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("classes", [100, 10])
def test_models_map_a_cifar_batch_to_class_scores(name, classes):
    model = MODELS[name](classes=classes).eval()
    with torch.inference_mode():
        assert model(torch.rand(2, 3, 32, 32)).shape == (2, classes)
