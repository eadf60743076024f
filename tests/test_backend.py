"""kdlib.backend: each backend gives exactly the numbers of the code paths it replaces (torch:
kdlib.train called as the experiments call it; keras: kdlib.distiller called directly)."""

import numpy as np
import pytest
import torch

import kdlib  # noqa: F401  (sets KERAS_BACKEND before keras loads)
from kdlib import train
from kdlib.backend import BACKENDS
from kdlib.models import (
    BatchedMLP,
    StackedHaoCNN,
    StackedMLP,
    hao_student,
    iisc_student,
    keras_mlp,
    poster_student,
)

T = BACKENDS["torch"]


def _data(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return x, y, torch.randn(n, 10, generator=g) * 3


def _same(a, b):
    assert type(a) is type(b) or isinstance(a, np.ndarray)
    if isinstance(a, dict):
        assert list(a) == list(b)
        return all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        return all(_same(p, q) for p, q in zip(a, b, strict=True))
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    return a == b


def test_torch_fit_is_train_supervised_with_a_validation_callback_that_never_stops():
    x, y, _ = _data()
    runs = []
    for way in ("train", "backend"):
        torch.manual_seed(0)
        model, seen = hao_student(), []

        def record(m, seen=seen):
            seen.append(train.predict(m, x[:8]))
            return False

        if way == "train":
            losses = train.train_supervised(model, x, y, 2, 16, 1e-3, 3, stop=record)
        else:
            losses = T.fit(model, x, y, 2, 16, 1e-3, 3, on_epoch=record)
        runs.append((losses, model.state_dict(), seen, train.predict(model, x)))
    assert len(runs[1][2]) == 2
    assert _same(runs[0], runs[1])


def test_torch_distil_is_the_alpha_chapters_stack_with_its_scratch_student():
    x, y, t = _data()
    alphas = [0.0, 0.5, 1.0]
    runs = []
    for way in ("train", "backend"):
        torch.manual_seed(1)
        init = hao_student()
        torch.manual_seed(99)
        scratch = hao_student()
        seen = []
        if way == "train":
            model = StackedHaoCNN([init] * 2 + [scratch])
            hist = train.distil_stack(model, x, y, t, alphas, 3.0, 2, 16, 1e-3, 1,
                                      snapshots=[1, 2],
                                      on_snapshot=lambda e, m, seen=seen: seen.append(
                                          (e, train.predict(m, x[:8])))).numpy()
        else:
            hist = T.distil([init] * 2 + [scratch], None, x, y, alphas, 3.0, 2, 16, 1e-3, 1,
                            [1, 2], lambda e, ii, f, seen=seen: seen.append((e, f(x[:8]))),
                            teacher_logits=t)
        runs.append((hist, seen))
    assert _same(runs[0], runs[1])


def test_torch_distil_is_the_poster_chapters_grid_with_dropout():
    x, y, t = _data()
    grid = [(1.0, 0.2), (4.0, 0.2), (4.0, 0.7)]
    runs = []
    for way in ("train", "backend"):
        torch.manual_seed(2)
        init = poster_student(16)
        seen = []
        torch.manual_seed(2)  # the dropout masks
        if way == "train":
            model = StackedMLP([init] * 3)
            hist = train.distil_stack(model, x, y, t, [a for _, a in grid],
                                      [tt for tt, _ in grid], 2, 16, 1e-3, 2, snapshots=[1, 2],
                                      on_snapshot=lambda e, m, seen=seen: seen.append(
                                          train.predict(m, x))).numpy()
        else:
            hist = T.distil([init] * 3, None, x, y, [a for _, a in grid],
                            [tt for tt, _ in grid], 2, 16, 1e-3, 2, [1, 2],
                            lambda e, ii, f, seen=seen: seen.append(f(x)), teacher_logits=t)
        runs.append((hist, seen))
    assert _same(runs[0], runs[1])


def test_torch_distil_resumes_as_distil_stack_does():
    x, y, t = _data()
    torch.manual_seed(0)
    init = hao_student()
    full = T.distil([init] * 2, None, x, y, [0.1, 0.9], 3.0, 3, 16, 1e-3, 0, [], None,
                    teacher_logits=t)
    saved = []
    T.distil([init] * 2, None, x, y, [0.1, 0.9], 3.0, 3, 16, 1e-3, 0, [], None,
             teacher_logits=t, checkpoint_every=1, on_checkpoint=saved.append)
    resumed = T.distil([init] * 2, None, x, y, [0.1, 0.9], 3.0, 3, 16, 1e-3, 0, [], None,
                       teacher_logits=t, state=saved[0])
    assert np.array_equal(full, resumed)


def test_torch_distil_seeds_is_the_iisc_chapters_batched_students():
    x, y, _ = _data()
    teachers = torch.stack([_data(seed=s)[2] for s in (3, 4)])
    runs = []
    for way in ("train", "backend"):
        students = []
        for seed in (0, 1):
            torch.manual_seed(seed)
            students.append(iisc_student(8))
        if way == "train":
            model = BatchedMLP(students)
            train.distil_batched(model, x.flatten(1), y, teachers, 0.3, 2.0, 2, 16, 1e-3,
                                 [0, 1])
            trained = [model.unstack(i) for i in (0, 1)]
        else:
            trained = T.distil_seeds(students, [None, None], x, y, 0.3, 2.0, 2, 16, 1e-3,
                                     [0, 1], teacher_logits=list(teachers))
        runs.append([train.predict(m, x) for m in trained])
    assert _same(runs[0], runs[1])


def test_torch_weights_are_the_state_dict_and_load_back():
    torch.manual_seed(0)
    a = hao_student()
    w = T.weights(a)
    assert _same(w, a.state_dict())
    b = T.load(hao_student(), w)
    assert _same(b.state_dict(), a.state_dict())


def test_an_unknown_student_kind_is_refused():
    with pytest.raises(ValueError, match="students must be one of"):
        T.distil([iisc_student(4)], None, *_data()[:2], [0.5], 1.0, 1, 16, 1e-3, 0, [], None,
                 teacher_logits=_data()[2])


# Keras: bit-identical to calling kdlib.distiller directly.

@pytest.fixture(scope="module")
def keras():
    import keras

    return keras


def _keras_teacher(keras, seed=0):
    keras.utils.set_random_seed(seed)
    return keras_mlp((16,))


def test_keras_fit_is_fit_supervised_with_a_validation_callback(keras):
    from kdlib import distiller

    K = BACKENDS["keras"]
    x, y, _ = _data()
    runs = []
    for way in ("distiller", "backend"):
        model, seen = _keras_teacher(keras), []

        def record(m, seen=seen):
            seen.append(distiller.predict(m, x[:8].numpy()))
            return False

        if way == "distiller":
            losses = distiller.fit_supervised(model, x.numpy(), y.numpy(), 2, 16, 1e-3, 3,
                                              stop=record)
            packed = {f"w{i}": torch.from_numpy(w) for i, w in enumerate(model.get_weights())}
            logits = torch.from_numpy(distiller.predict(model, x.numpy()))
        else:
            losses = K.fit(model, x, y, 2, 16, 1e-3, 3, on_epoch=record)
            packed, logits = K.weights(model), K.predict(model, x)
        runs.append((losses, packed, seen, logits))
    assert len(runs[1][2]) == 2
    assert _same(runs[0], runs[1])
    loaded = K.load(_keras_teacher(keras, seed=5), runs[1][1])
    assert _same(K.predict(loaded, x), runs[1][3])
    with pytest.raises(ValueError, match="state"):
        K.fit(model, x, y, 1, 16, 1e-3, 0, state={"epoch": 1})


def test_keras_distil_is_fit_students_one_run_after_another(keras):
    from kdlib import distiller

    K = BACKENDS["keras"]
    x, y, _ = _data()
    teacher = _keras_teacher(keras)
    runs = []
    for way in ("distiller", "backend"):
        keras.utils.set_random_seed(1)
        init = keras_mlp((8,))
        keras.utils.set_random_seed(99)
        scratch = keras_mlp((8,))
        seen = []
        if way == "distiller":
            def snap(i, e, m, k=0, seen=seen):
                seen.append((e, [k + i], torch.from_numpy(distiller.predict(m, x.numpy()))))

            h1 = distiller.fit_students(init, teacher, x.numpy(), y.numpy(), [0.0, 0.5], 3.0, 2,
                                        16, 1e-3, 1, [1, 2], snap)
            h2 = distiller.fit_students(scratch, teacher, x.numpy(), y.numpy(), [1.0], 3.0, 2,
                                        16, 1e-3, 1, [1, 2], lambda i, e, m: snap(i, e, m, 2))
            hist = np.concatenate([h1, h2], axis=1)
        else:
            hist = K.distil([init, init, scratch], teacher, x, y, [0.0, 0.5, 1.0], 3.0, 2, 16,
                            1e-3, 1, [1, 2],
                            lambda e, ii, f, seen=seen: seen.append((e, ii, f(x)[0])))
        runs.append((hist, seen))
    assert [ii for _, ii, _ in runs[1][1]] == [[0], [0], [1], [1], [2], [2]]
    assert _same(runs[0], runs[1])


def test_keras_distil_seeds_is_one_student_after_another(keras):
    from kdlib import distiller

    K = BACKENDS["keras"]
    x, y, _ = _data()
    teachers = [_keras_teacher(keras, s) for s in (0, 1)]
    runs = []
    for way in ("distiller", "backend"):
        inits = []
        for seed in (0, 1):
            keras.utils.set_random_seed(seed)
            inits.append(keras_mlp((8,)))
        if way == "distiller":
            tests = []
            for seed in (0, 1):
                found = {}

                def keep(_i, _e, m, found=found):
                    found["test"] = torch.from_numpy(distiller.predict(m, x.numpy()))

                distiller.fit_students(inits[seed], teachers[seed], x.numpy(), y.numpy(), [0.3],
                                       2.0, 2, 16, 1e-3, seed, [2], keep)
                tests.append(found["test"])
        else:
            trained = K.distil_seeds(inits, teachers, x, y, 0.3, 2.0, 2, 16, 1e-3, [0, 1])
            tests = [K.predict(m, x) for m in trained]
        runs.append(tests)
    assert _same(runs[0], runs[1])
