"""kdlib.lemmas: the Monte-Carlo checks of the two distillation lemmas.

Tolerances are sampling-error scales (4 standard errors), derived from the estimators, not tuned.
"""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from kdlib import lemmas
from kdlib.experiments.iisc import IiscParams

_SIZES = IiscParams.resolve("quick").lemmas  # the quick profile's simulation sizes
QUICK = {"ns": _SIZES.lemma_ns, "samples": _SIZES.lemma_samples, "seeds": _SIZES.lemma_seeds,
         "population_n": _SIZES.lemma_population}


def _point_values(problem, n, seed):
    """Per-point l_y (one-hot label) and p*^T l (Bayes label) on fresh draws."""
    x, y = problem.sample(n, np.random.default_rng(seed))
    losses = lemmas.predictor_losses(x, problem.classes)
    return losses[np.arange(n), y], (problem.bayes(x) * losses).sum(1)


def test_bayes_matches_bayes_rule_and_deterministic_labels():
    problem = lemmas.mixture(classes=3, sd=1.0)
    x = np.array([[0.0, 0.0], [1.0, -0.5], [-2.0, 1.5], [0.3, 3.0], [5.0, 5.0]])
    dens = np.stack([stats.multivariate_normal(m, np.eye(2)).pdf(x) for m in problem.means], 1)
    p = problem.bayes(x)
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(p, dens / dens.sum(1, keepdims=True), rtol=1e-12)
    assert 0.2 < p[0].min() and p[0].max() < 0.5  # the origin: classes overlap, p* not one-hot

    det = lemmas.mixture(sd=1.0, deterministic=True)
    xs, ys = det.sample(2000, np.random.default_rng(0))
    q = det.bayes(xs)
    assert set(np.unique(q)) == {0.0, 1.0} and np.all(q.sum(1) == 1.0)
    np.testing.assert_array_equal(ys, problem.bayes(xs).argmax(1))
    np.testing.assert_array_equal(ys, q.argmax(1))
    losses = lemmas.predictor_losses(xs)
    np.testing.assert_array_equal((q * losses).sum(1), losses[np.arange(2000), ys])


def test_population_onehot_variance_matches_sampled_labels():
    problem = lemmas.mixture()
    pop = lemmas.population(problem, np.random.default_rng(1), 200_000)
    l_y, bayes_point = _point_values(problem, 200_000, 2)
    for name, values in [("var_onehot_point", l_y), ("var_bayes_point", bayes_point)]:
        se = values.var() * np.sqrt((stats.kurtosis(values) + 2) / len(values))
        assert abs(values.var() - pop[name]) < 4 * np.sqrt(2) * se
    assert abs(l_y.mean() - pop["risk"]) < 4 * np.sqrt(2 * l_y.var() / len(l_y))
    assert pop["var_bayes_point"] < pop["var_onehot_point"]


def test_lemma1_variances_and_means_match_predictions():
    problem, m, pop_n = lemmas.mixture(), 4000, 200_000
    df = lemmas.lemma1(problem, ns=[10, 100], samples=m, seeds=2, population_n=pop_n)
    assert list(df.columns) == ["seed", "n", "var_empirical", "var_bayes", "mean_empirical",
                                "mean_bayes", "risk", "predicted_var_empirical",
                                "predicted_var_bayes"]
    assert len(df) == 4
    # Var(s^2) / sigma^4 = 2/(m-1) + kurt_excess/m; a mean of N points has kurt_excess / N.
    l_y, bayes_point = _point_values(problem, 200_000, 3)
    for column, values in [("empirical", l_y), ("bayes", bayes_point)]:
        kurt = stats.kurtosis(values)
        rel_sd = np.sqrt(2 / (m - 1) + kurt / (df.n * m) + (kurt + 2) / pop_n)
        rel_err = df[f"var_{column}"] / df[f"predicted_var_{column}"] - 1
        assert (rel_err.abs() < 4 * rel_sd).all(), rel_err
        se = np.sqrt(df[f"var_{column}"] / m + df.predicted_var_bayes * df.n / pop_n)
        assert ((df[f"mean_{column}"] - df.risk).abs() < 4 * se).all()
    assert (df.var_bayes < df.var_empirical).all()
    assert (df.predicted_var_bayes < 0.6 * df.predicted_var_empirical).all()


def test_lemma1_overlap_equality_condition():
    df = lemmas.lemma1_overlap([0.25, 1.0], n=20, samples=300, seeds=2, population_n=20_000)
    assert len(df) == 6 and df.deterministic.sum() == 2
    det = df[df.deterministic]
    assert (det.ratio == 1.0).all() and (det.max_abs_diff == 0.0).all()
    assert (det.var_bayes == det.var_empirical).all()
    np.testing.assert_allclose(det.predicted_ratio, 1.0, rtol=1e-12)  # two formulas, rounding
    overlap = df[~df.deterministic & (df.sd == 1.0)]
    assert (overlap.ratio < 0.6).all() and (overlap.max_abs_diff > 0).all()
    separated = df[~df.deterministic & (df.sd == 0.25)]  # p* is nearly one-hot
    assert (separated.ratio > 0.99).all() and (separated.predicted_ratio > 0.99).all()


def test_teacher_probs():
    problem = lemmas.mixture()
    rng = np.random.default_rng(4)
    x, _ = problem.sample(50, rng)
    p = problem.bayes(x)
    np.testing.assert_array_equal(lemmas.TEACHERS["Bayes"].probs(x, p), p)
    tempered = lemmas.TEACHERS["tempered (x2)"].probs(x, p)
    np.testing.assert_allclose(tempered, np.sqrt(p) / np.sqrt(p).sum(1, keepdims=True),
                               rtol=1e-12)
    assert lemmas.TEACHERS["tempered (x2)"].draw(rng, 3, 5) is None

    teacher = lemmas.Teacher("t", temper=2.0, noise=0.5)
    a, a0 = teacher.draw(rng, 3, 5)
    assert a.shape == (5, 2, 3) and a0.shape == (5, 3)
    logits = np.log(p) / 2 + 0.5 * (x @ a[1] + a0[1])
    expected = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(teacher.probs(x, p, (a[1], a0[1])), expected, rtol=1e-12)
    batch = teacher.probs(x.reshape(5, 10, 2), p.reshape(5, 10, 3), (a, a0))
    for i in range(5):
        single = teacher.probs(x[10 * i:10 * i + 10], p[10 * i:10 * i + 10], (a[i], a0[i]))
        np.testing.assert_allclose(batch[i], single, rtol=1e-12)
    with pytest.raises(ValueError):
        teacher.probs(x, p)
    onehot = lemmas.mixture(deterministic=True).bayes(x)
    assert np.isfinite(teacher.probs(x, onehot, (a[0], a0[0]))).all()


@pytest.fixture(scope="module")
def lemma2_df():
    return lemmas.lemma2(lemmas.mixture(), lemmas.TEACHERS, ns=[10, 100], samples=1000, seeds=2,
                         teacher_draws=10, population_n=100_000)


def test_lemma2_teacher_terms(lemma2_df):
    df = lemma2_df.set_index("teacher")
    assert len(lemma2_df) == 4 * 2 * 2
    bayes = df.loc["Bayes"]
    for column in ["quality_term", "q", "bias_sq", "teacher_var"]:
        assert (bayes[column] == 0.0).all(), column
    assert (bayes.bound == bayes.predicted_mse).all()
    tempered = df.loc["tempered (x2)"]
    assert (tempered.bias_sq > 1e-3).all() and (tempered.teacher_var == 0.0).all()
    assert (tempered.draws == 1).all() and (df.loc["noisy"].draws == 10).all()
    for name in ["noisy", "tempered and noisy"]:
        assert (df.loc[name].teacher_var > 1e-3).all()
    assert (df.loc["tempered and noisy"].bias_sq.values > df.loc["noisy"].bias_sq.values).all()


def test_lemma2_decomposition_and_bound(lemma2_df):
    df, pop_n = lemma2_df, 100_000
    # mse vs predicted: sampling error of mse, plus the Monte-Carlo error (eps) of R^t - R and of
    # the variances on the reference points, which mse does not share.
    eps = np.sqrt(df.variance_term * df.n / pop_n)
    mc = 2 * np.sqrt(df.quality_term) * 4 * eps + (4 * eps) ** 2 + 4 * np.sqrt(10 / pop_n) * (
        df.variance_term)
    gap = (df.mse - df.predicted_mse).abs()
    assert (gap < 4 * df.mse_se + mc).all(), df.assign(gap=gap, tol=4 * df.mse_se + mc)
    # the variance term alone cannot explain a poor teacher's error, which does not fall with n
    poor = df[df.teacher == "tempered (x2)"]
    assert (poor.mse > poor.variance_term + 10 * poor.mse_se).all()
    assert (df.bound >= df.predicted_mse).all()
    np.testing.assert_allclose(df.bias_sq + df.teacher_var, df.q, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(df.predicted_mse, df.variance_term + df.quality_term, rtol=1e-15)


def test_repeatable():
    problem = lemmas.mixture()
    pd.testing.assert_frame_equal(lemmas.lemma1(problem, **QUICK), lemmas.lemma1(problem, **QUICK))
    args = ([0.5, 1.0], 20, 100, 2, 2000)
    pd.testing.assert_frame_equal(lemmas.lemma1_overlap(*args), lemmas.lemma1_overlap(*args))
    kw = dict(QUICK, teacher_draws=_SIZES.lemma_teacher_draws)
    first = lemmas.lemma2(problem, lemmas.TEACHERS, **kw)
    pd.testing.assert_frame_equal(first, lemmas.lemma2(problem, lemmas.TEACHERS, **kw))
    by_seed = first.pivot_table(index=["teacher", "n"], columns="seed", values="mse")
    assert (by_seed[0] != by_seed[1]).all()  # seeds are independent replicates
