"""Inference cost: FLOPs from torch's counter, interleaved medians per round."""

import torch
from torch import nn

from kdlib import timing
from kdlib.models import iisc_student, iisc_teacher


def test_flops_count_a_multiply_add_as_two():
    assert timing.flops(nn.Linear(784, 50), torch.zeros(1, 784)) == 2 * 784 * 50
    assert timing.flops(iisc_student(50), torch.zeros(1, 1, 28, 28)) == 2 * (784 * 50 + 50 * 10)
    assert timing.flops(iisc_teacher(), torch.zeros(1, 1, 28, 28)) == 2 * (
        784 * 1200 + 1200 * 1200 + 1200 * 10)


def test_cost_counts_parameters_and_bytes():
    table = timing.cost({"s": iisc_student(300)}, torch.zeros(1, 1, 28, 28)).set_index("model")
    assert table.loc["s", "parameters"] == 784 * 300 + 300 + 300 * 10 + 10
    assert table.loc["s", "weight_bytes"] == 4 * table.loc["s", "parameters"]


class _Recorder(nn.Module):
    def __init__(self, name: str, log: list[str]) -> None:
        super().__init__()
        self.name, self.log = name, log

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.log.append(self.name)
        return x


def test_rounds_interleave_models_and_rotate_their_order():
    log: list[str] = []
    models = {n: _Recorder(n, log) for n in ("a", "b", "c")}
    table = timing.per_sample_seconds(models, torch.zeros(4, 3), rounds=3, calls=2, warmup=1)
    assert len(table) == 9 and (table["seconds"] > 0).all()
    assert sorted(table["round"].unique()) == [0, 1, 2]
    firsts = log[::3]  # every model is called warmup + calls = 3 times in a row
    assert firsts == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
