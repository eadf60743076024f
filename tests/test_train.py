"""kdlib.train: repeatable, stacked students equal separate ones, snapshots equal short runs."""

import torch
from torch import nn

from kdlib.losses import kd_loss
from kdlib.models import BatchedMLP, StackedHaoCNN, hao_student, iisc_student
from kdlib.train import adam, distil_batched, distil_stack, predict, train_supervised


def _data(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    t = torch.randn(n, 10, generator=g) * 3
    return x, y, t


def _stack(n, seed=0):
    torch.manual_seed(seed)
    return StackedHaoCNN([hao_student()] * n)


def test_same_seed_is_bit_identical():
    x, y, t = _data()
    runs = []
    for _ in range(2):
        m = _stack(2)
        loss = distil_stack(m, x, y, t, [0.2, 0.9], 3.0, 2, 16, 1e-3, seed=5)
        runs.append((loss, m.state_dict()))
    assert torch.equal(runs[0][0], runs[1][0])
    for k, v in runs[0][1].items():
        assert torch.equal(v, runs[1][1][k]), k


def test_stacked_students_equal_separate_training():
    """Training alpha=0.2 and 0.9 together equals training each one alone."""
    x, y, t = _data()
    both = _stack(2)
    distil_stack(both, x, y, t, [0.2, 0.9], 3.0, 2, 16, 1e-3, seed=1)
    for i, a in enumerate([0.2, 0.9]):
        alone = _stack(1)
        distil_stack(alone, x, y, t, [a], 3.0, 2, 16, 1e-3, seed=1)
        for p, q in zip(both.unstack(i).parameters(), alone.unstack(0).parameters(), strict=True):
            assert torch.allclose(p, q, atol=1e-5), (a, (p - q).abs().max())


def test_stacked_step_matches_a_hand_written_step():
    """One stacked step equals one plain Adam step of a single HaoCNN on the KD loss."""
    x, y, t = _data(16)
    torch.manual_seed(0)
    single = hao_student()
    stack = StackedHaoCNN([single])
    distil_stack(stack, x, y, t, [0.3], 2.0, 1, 16, 1e-3, seed=0)
    gen = torch.Generator().manual_seed(0)
    idx = torch.randperm(16, generator=gen)
    opt = adam(single.parameters(), 1e-3)
    loss = kd_loss(single(x[idx]), t[idx], y[idx], 0.3, 2.0)
    loss.backward()
    opt.step()
    # Adam divides by sqrt(v) + eps: a weight whose gradient is ~1e-8 (inside eps = 1e-7)
    # turns last-bit differences of the grouped convolution's sums into update differences
    # of ~lr * dg / eps; seen here up to 3.3e-6 on an AMD EPYC (Zen 2), within 1% of lr.
    for p, q in zip(stack.unstack(0).parameters(), single.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-5)


def test_snapshot_at_epoch_k_equals_a_k_epoch_run():
    x, y, t = _data()
    seen = {}

    def keep(epoch, model):
        seen[epoch] = predict(model, x)

    long = _stack(2)
    distil_stack(long, x, y, t, [0.0, 1.0], 3.0, 3, 32, 1e-3, seed=2, snapshots=[2],
                 on_snapshot=keep)
    short = _stack(2)
    distil_stack(short, x, y, t, [0.0, 1.0], 3.0, 2, 32, 1e-3, seed=2)
    assert list(seen) == [2]
    assert torch.equal(seen[2], predict(short, x))


def test_training_reduces_the_loss():
    x, y, _ = _data(64)
    y = (x.mean((1, 2, 3)) > x.mean()).long()  # a learnable rule
    torch.manual_seed(0)
    m = hao_student()
    losses = train_supervised(m, x, y, 8, 16, 3e-3, seed=0)
    assert losses[-1] < 0.6 * losses[0]
    t = predict(m, x) * 2
    stack = _stack(1)
    hist = distil_stack(stack, x, y, t, [0.5], 3.0, 8, 16, 3e-3, seed=0)
    assert hist[-1, 0] < 0.6 * hist[0, 0]


def test_a_resumed_run_equals_an_uninterrupted_one():
    """Stop after epoch 2 of 4 (keeping the checkpoint), resume from it: bit-identical."""
    x, y, t = _data()
    full = _stack(2)
    hist_full = distil_stack(full, x, y, t, [0.1, 0.8], 3.0, 4, 16, 1e-3, seed=3)
    saved = []
    first = _stack(2)
    distil_stack(first, x, y, t, [0.1, 0.8], 3.0, 2, 16, 1e-3, seed=3)  # "killed" after 2
    part = _stack(2)
    distil_stack(part, x, y, t, [0.1, 0.8], 3.0, 4, 16, 1e-3, seed=3, checkpoint_every=2,
                 on_checkpoint=saved.append)
    assert [s["epoch"] for s in saved] == [2]  # not after the last epoch
    for k, v in saved[0]["model"].items():
        assert torch.equal(v, first.state_dict()[k]), k
    resumed = _stack(2, seed=99)  # different weights: the state must overwrite them
    hist = distil_stack(resumed, x, y, t, [0.1, 0.8], 3.0, 4, 16, 1e-3, seed=3,
                        state=saved[0])
    assert torch.equal(hist, hist_full)
    for k, v in full.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k


def test_supervised_training_ends_after_the_first_epoch_that_stops_it():
    x, y, _ = _data(32)
    calls = []

    def stop(model):
        calls.append(model.training)
        return len(calls) == 2

    torch.manual_seed(0)
    losses = train_supervised(hao_student(), x, y, 5, 16, 1e-3, seed=0, stop=stop)
    assert len(losses) == 2 and len(calls) == 2


def test_a_resumed_supervised_run_equals_an_uninterrupted_one():
    x, y, _ = _data(48)
    torch.manual_seed(0)
    full = hao_student()
    losses = train_supervised(full, x, y, 3, 16, 1e-3, seed=4)
    saved = []
    torch.manual_seed(0)
    train_supervised(hao_student(), x, y, 3, 16, 1e-3, seed=4, checkpoint_every=1,
                     on_checkpoint=saved.append)
    assert [s["epoch"] for s in saved] == [1, 2]
    torch.manual_seed(1)
    resumed = hao_student()
    assert train_supervised(resumed, x, y, 3, 16, 1e-3, seed=4, state=saved[0]) == losses
    for k, v in full.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k


def test_a_grid_of_temperatures_trains_as_separate_runs_and_alpha_one_ignores_t():
    """Students with their own T train as they would alone; at alpha = 1, T changes nothing,
    bit for bit (shared initial weights, batches and dropout masks)."""
    from kdlib.models import StackedMLP, poster_student

    x, y, t = _data()

    def stack(n):
        torch.manual_seed(3)
        return StackedMLP([poster_student()] * n)

    grid = [(1.0, 1.0), (10.0, 1.0), (2.0, 0.5), (8.0, 0.5)]
    both = stack(len(grid))
    torch.manual_seed(4)
    distil_stack(both, x, y, t, [a for _, a in grid], [tt for tt, _ in grid], 2, 16, 1e-3, 2)
    assert all(torch.equal(p, q) for p, q in zip(both.unstack(0).parameters(),
                                                 both.unstack(1).parameters(), strict=True))
    assert not torch.equal(both.unstack(2).dense1.weight, both.unstack(3).dense1.weight)
    for i, (temperature, a) in enumerate(grid):
        alone = stack(1)
        torch.manual_seed(4)
        distil_stack(alone, x, y, t, [a], temperature, 2, 16, 1e-3, 2)
        for p, q in zip(both.unstack(i).parameters(), alone.unstack(0).parameters(),
                        strict=True):
            assert torch.allclose(p, q, atol=1e-5), (temperature, a)


def test_identical_students_stay_bit_identical_in_a_large_stack():
    """25 students with the same weights and loss (alpha = 1, T anything) end identical; the
    last one too (fused Adam rounds the last partial vector of a tensor differently, which the
    stack's padding keeps away from every student's weights)."""
    from kdlib.models import StackedMLP, poster_student

    x, y, t = _data(640)
    torch.manual_seed(0)
    stack = StackedMLP([poster_student()] * 25)
    torch.manual_seed(1)
    distil_stack(stack, x, y, t, [1.0] * 25, [float(i + 1) for i in range(25)], 2, 32, 1e-3, 0)
    first = list(stack.unstack(0).parameters())
    for i in range(1, 25):
        assert all(torch.equal(p, q) for p, q in zip(first, stack.unstack(i).parameters(),
                                                     strict=True)), i


class _Lone(nn.Module):
    """One model shaped as a stack of one, for distil_stack."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).unsqueeze(0)


def test_batched_seeds_train_as_each_would_alone():
    """Two seeds' students, each with its own teacher and batch order, trained at once, equal
    each student trained alone with its seed (distil_stack draws the same batch order)."""
    x, y, _ = _data(n=80)
    teachers = torch.stack([_data(n=80, seed=s)[2] for s in (3, 4)])
    students = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        students.append(iisc_student(20))
    batched = BatchedMLP(students)
    distil_batched(batched, x.flatten(1), y, teachers, 0.3, 2.0, 2, 16, 1e-3, seeds=[0, 1])
    for i, seed in enumerate((0, 1)):
        torch.manual_seed(seed)
        alone = iisc_student(20)
        distil_stack(_Lone(alone), x, y, teachers[i], [0.3], 2.0, 2, 16, 1e-3, seed=seed)
        for p, q in zip(batched.unstack(i).parameters(), alone.parameters(), strict=True):
            assert torch.allclose(p, q, atol=1e-5)
        assert not torch.allclose(batched.unstack(i).out.weight, students[i].out.weight)


class _Bar:
    """Records what a training loop tells its progress bar."""

    made: list["_Bar"] = []

    def __init__(self, total, initial, **kwargs):
        self.total, self.n, self.kwargs, self.closed = total, initial, kwargs, False
        _Bar.made.append(self)

    def update(self, n=1):
        self.n += n

    def set_postfix_str(self, text, refresh=True):
        self.postfix = text

    def close(self):
        self.closed = True


def test_every_loop_counts_its_steps_on_one_bar_that_resumes_where_it_stopped(monkeypatch):
    """A bar over epochs x batches (so a long epoch shows progress), on stderr, closed at the
    end; a resumed run starts it at the steps already done."""
    import sys

    from kdlib import train
    from kdlib.train import Recipe, train_augmented

    monkeypatch.setattr(train, "tqdm", _Bar)
    _Bar.made.clear()
    x, y, t = _data(40)  # 3 batches of 16
    torch.manual_seed(0)
    saved = []
    train_supervised(hao_student(), x, y, 2, 16, 1e-3, seed=0, checkpoint_every=1,
                     on_checkpoint=saved.append, desc="teacher")
    train_supervised(hao_student(), x, y, 2, 16, 1e-3, seed=0, state=saved[0])
    distil_stack(_stack(2), x, y, t, [0.1, 0.8], 3.0, 2, 16, 1e-3, seed=3)
    batched = BatchedMLP([iisc_student(4), iisc_student(4)])
    distil_batched(batched, x.flatten(1), y, torch.stack([t, t]), 0.3, 2.0, 2, 16, 1e-3, [0, 1])
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    train_augmented({"a": net}, {"a": Recipe(1.0)}, x, y, 2, 16, 0)
    assert [(b.total, b.n, b.closed) for b in _Bar.made] == [(6, 6, True), (6, 6, True),
                                                              (6, 6, True), (6, 6, True),
                                                              (6, 6, True)]
    assert _Bar.made[0].kwargs["desc"] == "teacher" and _Bar.made[0].postfix == "epoch 2/2"
    assert all(b.kwargs["file"] is sys.stderr and b.kwargs["mininterval"] <= 10
               for b in _Bar.made)


def test_a_stopped_run_closes_its_bar_and_a_resumed_one_starts_at_its_steps(monkeypatch):
    from kdlib import train

    starts = []

    class Bar(_Bar):
        def __init__(self, total, initial, **kwargs):
            super().__init__(total, initial, **kwargs)
            starts.append(initial)

    monkeypatch.setattr(train, "tqdm", Bar)
    _Bar.made.clear()
    x, y, _ = _data(40)
    torch.manual_seed(0)
    saved = []
    train_supervised(hao_student(), x, y, 3, 16, 1e-3, seed=0, checkpoint_every=1,
                     on_checkpoint=saved.append)
    train_supervised(hao_student(), x, y, 3, 16, 1e-3, seed=0, state=saved[1])
    train_supervised(hao_student(), x, y, 3, 16, 1e-3, seed=0, stop=lambda m: True)
    assert starts == [0, 6, 0]
    assert [(b.n, b.closed) for b in _Bar.made] == [(9, True), (9, True), (3, True)]


def test_checkpoints_keep_the_keys_older_code_wrote_so_its_checkpoints_resume():
    """The checkpoint format is the one saved by earlier kdlib (a before/after run of every
    loop showed old checkpoints resume bit for bit): same keys, in the same order."""
    from kdlib.train import Recipe, train_augmented

    x, y, t = _data(32)
    torch.manual_seed(0)
    saved = []
    train_supervised(hao_student(), x, y, 2, 16, 1e-3, seed=0, checkpoint_every=1,
                     on_checkpoint=saved.append)
    distil_stack(_stack(1), x, y, t, [0.5], 3.0, 2, 16, 1e-3, seed=0, checkpoint_every=1,
                 on_checkpoint=saved.append)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    train_augmented({"a": net}, {"a": Recipe(1.0)}, x, y, 2, 16, 0, on_epoch=saved.append)
    assert [list(s) for s in saved] == [
        ["epoch", "model", "optimizer", "generator", "losses"],
        ["epoch", "model", "optimizer", "generator", "history"],
        ["epoch", "generator", "torch_rng", "seconds", "models", "optimizers", "schedulers"]]
    assert [s["epoch"] for s in saved] == [1, 1, 1]
