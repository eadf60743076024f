"""Monte-Carlo checks of the two distillation lemmas (Menon et al. 2021) on a known problem.

A 2-D Gaussian mixture gives the exact Bayes probabilities p*(x); a fixed, deliberately
miscalibrated linear softmax predictor f gives the loss vector l(f(x)) = -log softmax(f(x)), and
R(f) = E_x[p*(x)^T l(f(x))]. Lemma 1: the empirical risk R_hat (one-hot labels) and the
Bayes-distilled risk R_star (labels p*) are unbiased, with Var_S[R_star] = Var_x[p*^T l] / N
<= Var_S[R_hat] = Var_(x,y)[l_y] / N, equal iff l is constant on the support of each p*(x).
Lemma 2: for a random teacher p^t and Delta = R_tilde - R(f),
E[Delta^2] = E_t Var_x[p^t^T l] / N + E_t[(R^t - R)^2]
<= E_t Var_x[p^t^T l] / N + c2 Q, with c2 = E_x ||l||^2 and Q = E_t E_x ||p^t - p*||^2, and Q splits
exactly into teacher bias^2 E_x ||E_t p^t - p*||^2 plus teacher variance E_x tr Var_t[p^t].
Population quantities are Monte Carlo averages over ``population_n`` reference points.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["PREDICTOR_BIAS", "PREDICTOR_SCALE", "RADIUS", "TEACHERS",
           "Mixture", "Teacher", "lemma1", "lemma1_overlap", "lemma2", "mixture", "population",
           "predictor_losses"]

RADIUS = 1.5  # class means evenly spaced on this circle: at sd=1 the classes overlap a lot
PREDICTOR_SCALE = 1.0  # Bayes logits are RADIUS / sd^2 * x.u_y: f is 1.5x too flat at sd=1
PREDICTOR_BIAS = 0.5  # ... and adds this logit to class 0
PROB_FLOOR = 1e-12  # p* is clipped here before the log, so one-hot p* gives finite logits
CHUNK_POINTS = 400_000  # points drawn per vectorised chunk (keeps memory well under 300 MB)
Params = tuple[np.ndarray, np.ndarray] | None

# Internally logits are class-major (L, ...): numpy reduces a short last axis several times slower.
def _linear_cm(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Class-major x @ w + b for x (..., 2), w (2, L), b (L,)."""
    z = np.tensordot(w, x, axes=([0], [x.ndim - 1]))
    z += b.reshape((-1,) + (1,) * (x.ndim - 1))
    return z


def _log_softmax_cm(z: np.ndarray) -> np.ndarray:
    """Class-major log-softmax, in place; returns the (..., L) view."""
    z -= z.max(0)
    z -= np.log(np.exp(z).sum(0))
    return np.moveaxis(z, 0, -1)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    return _log_softmax_cm(np.ascontiguousarray(np.moveaxis(z, -1, 0)))


def _directions(classes: int) -> np.ndarray:
    angle = 2 * np.pi * np.arange(classes) / classes
    return np.stack([np.cos(angle), np.sin(angle)], axis=1)


@dataclass(frozen=True)
class Mixture:
    """Equal-prior L-class problem in 2-D: x | y ~ N(means[y], sd^2 I), p*(x) known exactly."""

    means: np.ndarray  # (L, 2)
    sd: float
    deterministic: bool = False  # labels are argmax_y P(y|x), so p*(x) is one-hot

    @property
    def classes(self) -> int:
        return len(self.means)

    def _logits(self, x: np.ndarray) -> np.ndarray:
        # Class-major Gaussian log-densities up to a class-independent term.
        return _linear_cm(x, self.means.T / self.sd**2, -0.5 * (self.means**2).sum(1) / self.sd**2)

    def bayes(self, x: np.ndarray) -> np.ndarray:
        """Exact p*(x), shape (n, L) (or (..., L) for x (..., 2))."""
        z = self._logits(x)
        if self.deterministic:
            return np.eye(self.classes)[z.argmax(0)]
        z -= z.max(0)
        np.exp(z, out=z)
        z /= z.sum(0)
        return np.moveaxis(z, 0, -1)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """n iid pairs: x (n, 2), y (n,)."""
        y = rng.integers(0, self.classes, n)
        x = rng.standard_normal((n, 2))
        x *= self.sd
        x += np.take(self.means, y, axis=0)
        if self.deterministic:
            y = self._logits(x).argmax(0)
        return x, y


def mixture(classes: int = 3, sd: float = 1.0, deterministic: bool = False) -> Mixture:
    """Means evenly spaced on a circle of radius ``RADIUS`` (1.5), starting at (1.5, 0).

    For 3 classes neighbouring means are 2.6 apart, so at sd=1 the classes overlap heavily.
    """
    return Mixture(RADIUS * _directions(classes), float(sd), deterministic)


def predictor_losses(x: np.ndarray, classes: int = 3) -> np.ndarray:
    """l(f(x)) = -log_softmax(x @ W + b), W = PREDICTOR_SCALE * [u_y], b = PREDICTOR_BIAS e_0.

    The u_y are the mixture's mean directions: right directions, wrong scale, biased to class 0.
    """
    w = PREDICTOR_SCALE * _directions(classes).T
    b = np.zeros(classes)
    b[0] = PREDICTOR_BIAS
    return np.negative(_log_softmax_cm(_linear_cm(x, w, b)))


@dataclass(frozen=True)
class Teacher:
    """Random teacher: p^t = softmax(log p* / temper + noise (x @ A + a0)), A, a0 iid N(0, 1)."""

    name: str
    temper: float = 1.0
    noise: float = 0.0

    def draw(self, rng: np.random.Generator, classes: int, size: int) -> Params:
        """``size`` teacher draws (A (size, 2, L), a0 (size, L)); None if the teacher is fixed."""
        if self.noise == 0:
            return None
        return rng.standard_normal((size, 2, classes)), rng.standard_normal((size, classes))

    def probs(self, x: np.ndarray, p_star: np.ndarray, params: Params = None) -> np.ndarray:
        """p^t for x (..., 2) and p* (..., L).

        ``params`` is one draw (A (2, L), a0 (L,)), e.g. ``(A[i], a0[i])`` from :meth:`draw`, or
        a batch (A (c, 2, L), a0 (c, L)) for x (c, n, 2); ignored if ``noise == 0``.
        """
        if self.temper == 1 and self.noise == 0:
            return p_star.copy()
        return self._from_log(x, np.log(np.maximum(p_star, PROB_FLOOR)), params)

    def _from_log(self, x: np.ndarray, log_p: np.ndarray, params: Params) -> np.ndarray:
        logits = log_p / self.temper if self.temper != 1 else log_p
        if self.noise:
            if params is None:
                raise ValueError(f"teacher {self.name!r} is random: pass a draw")
            a, a0 = params
            shift = np.matmul(x, a)
            shift += np.expand_dims(a0, -2)
            shift *= self.noise
            logits = np.add(shift, logits, out=shift)
        return np.exp(_log_softmax(logits))


TEACHERS: dict[str, Teacher] = {t.name: t for t in [
    Teacher("Bayes"), Teacher("tempered (x2)", temper=2.0), Teacher("noisy", noise=0.3),
    Teacher("tempered and noisy", temper=2.0, noise=0.3)]}


def _moments(p: np.ndarray, losses: np.ndarray) -> dict[str, float]:
    point = (p * losses).sum(1)
    risk = float(point.mean())
    return dict(risk=risk, var_bayes_point=float(point.var()),
                var_onehot_point=float((p * losses**2).sum(1).mean() - risk**2),
                c2=float((losses**2).sum(1).mean()))


def population(problem: Mixture, rng: np.random.Generator, n: int = 200_000) -> dict[str, float]:
    """Monte-Carlo (n points) risk, Var_x[p*^T l], Var_(x,y)[l_y] (exact given x) and c2."""
    x, _ = problem.sample(n, rng)
    return _moments(problem.bayes(x), predictor_losses(x, problem.classes))


def _chunks(n: int, samples: int) -> list[tuple[int, int]]:
    per = max(1, CHUNK_POINTS // n)
    return [(s, min(per, samples - s)) for s in range(0, samples, per)]


def _estimates(problem: Mixture, n: int, samples: int,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """R_hat and R_star for ``samples`` independent samples of size n."""
    hat, star = [], []
    for _, c in _chunks(n, samples):
        x, y = problem.sample(c * n, rng)
        losses = predictor_losses(x, problem.classes)
        hat.append(losses[np.arange(c * n), y].reshape(c, n).mean(1))
        star.append(np.einsum("il,il->i", problem.bayes(x), losses).reshape(c, n).mean(1))
    return np.concatenate(hat), np.concatenate(star)


def lemma1(problem: Mixture, ns: list[int], samples: int, seeds: int,
           population_n: int) -> pd.DataFrame:
    """Simulated vs predicted mean and variance of R_hat and R_star; one row per (seed, n).

    Columns: seed, n, var_empirical, var_bayes (ddof=1 over samples), mean_empirical,
    mean_bayes, risk, predicted_var_empirical, predicted_var_bayes.
    """
    rows = []
    for s in range(seeds):
        pop = population(problem, np.random.default_rng([s, 0]), population_n)
        for n in ns:
            r_hat, r_star = _estimates(problem, n, samples, np.random.default_rng([s, 1, n]))
            rows.append(dict(seed=s, n=n, var_empirical=r_hat.var(ddof=1),
                             var_bayes=r_star.var(ddof=1), mean_empirical=r_hat.mean(),
                             mean_bayes=r_star.mean(), risk=pop["risk"],
                             predicted_var_empirical=pop["var_onehot_point"] / n,
                             predicted_var_bayes=pop["var_bayes_point"] / n))
    return pd.DataFrame(rows)


def lemma1_overlap(sds: list[float], n: int, samples: int, seeds: int, population_n: int,
                   deterministic_sd: float = 1.0) -> pd.DataFrame:
    """Var ratio R_star/R_hat against class overlap sd, plus a deterministic-label problem.

    Columns: seed, sd, deterministic, n, var_empirical, var_bayes, ratio (= var_bayes /
    var_empirical), predicted_ratio (= Var_x[p*^T l] / Var_(x,y)[l_y]) and max_abs_diff
    (max over samples of |R_hat - R_star|, exactly 0 when labels are deterministic).
    """
    rows = []
    cases = [(float(sd), False) for sd in sds] + [(float(deterministic_sd), True)]
    for s in range(seeds):
        for sd, det in cases:
            problem, key = mixture(sd=sd, deterministic=det), [round(sd * 1e6), int(det)]
            pop = population(problem, np.random.default_rng([s, 2, *key]), population_n)
            r_hat, r_star = _estimates(problem, n, samples, np.random.default_rng([s, 3, *key]))
            var_e, var_b = r_hat.var(ddof=1), r_star.var(ddof=1)
            rows.append(dict(seed=s, sd=sd, deterministic=det, n=n, var_empirical=var_e,
                             var_bayes=var_b, ratio=var_b / var_e,
                             predicted_ratio=pop["var_bayes_point"] / pop["var_onehot_point"],
                             max_abs_diff=float(np.abs(r_hat - r_star).max())))
    return pd.DataFrame(rows)


def _take(params: Params, idx: int | np.ndarray) -> Params:
    return None if params is None else (params[0][idx], params[1][idx])


def _teacher_stats(teacher: Teacher, params: Params, weights: np.ndarray, x: np.ndarray,
                   p: np.ndarray, losses: np.ndarray) -> dict[str, np.ndarray | float]:
    """Per-draw R^t, Var_x[p^t^T l]; Q and, separately, its bias^2 / variance split.

    The weighted per-point mean and scatter of d = p^t - p* over draws are accumulated in one
    pass (West's weighted update), so teacher_var is not computed as Q - bias_sq.
    """
    k = len(weights)
    risk_t, var_t, q_t = np.empty(k), np.empty(k), np.empty(k)
    dbar, scatter, total = np.zeros_like(p), np.zeros_like(p), 0.0
    for i in range(k):
        d = teacher.probs(x, p, _take(params, i))
        point = (d * losses).sum(1)
        risk_t[i], var_t[i] = point.mean(), point.var()
        d -= p
        q_t[i] = (d**2).sum(1).mean()
        total += weights[i]
        step = d - dbar
        dbar += (weights[i] / total) * step
        d -= dbar  # in place from here on: population_n may be large
        d *= step
        d *= weights[i]
        scatter += d
    return dict(weights=weights, risk_t=risk_t, var_t=var_t, q=float(weights @ q_t),
                bias_sq=float((dbar**2).sum(1).mean()), teacher_var=float(scatter.sum(1).mean()))


def lemma2(problem: Mixture, teachers: dict[str, Teacher], ns: list[int], samples: int,
           seeds: int, teacher_draws: int, population_n: int) -> pd.DataFrame:
    """E[Delta^2] for distillation from random teachers; one row per (seed, teacher, n).

    Sample j uses teacher draw j % k, k = min(teacher_draws, samples) (k = 1 for a fixed
    teacher); every term, including Q = bias_sq + teacher_var, averages over these same draws
    weighted by use. The same samples S are shared by all teachers (common random numbers).
    R(f), R^t, variances, c2 and Q are Monte Carlo on ``population_n`` reference points.
    Columns: seed, teacher, n, draws (k), mse (mean Delta^2), mse_se (its standard error),
    mean_delta, variance_term, quality_term, predicted_mse (their sum), bound (variance_term +
    c2 Q), q (Q), bias_sq, teacher_var.
    """
    classes = problem.classes
    rows = []
    for s in range(seeds):
        x_ref, _ = problem.sample(population_n, np.random.default_rng([s, 4]))
        p_ref, l_ref = problem.bayes(x_ref), predictor_losses(x_ref, classes)
        pop = _moments(p_ref, l_ref)
        draws, stats = {}, {}
        for name, t in teachers.items():
            k = min(teacher_draws, samples) if t.noise else 1
            params = t.draw(np.random.default_rng([s, 5, zlib.crc32(name.encode())]), classes, k)
            weights = np.bincount(np.arange(samples) % k, minlength=k) / samples
            draws[name] = (k, params)
            stats[name] = _teacher_stats(t, params, weights, x_ref, p_ref, l_ref)
        for n in ns:
            rng, deltas = np.random.default_rng([s, 6, n]), {name: [] for name in teachers}
            for start, c in _chunks(n, samples):
                x = problem.sample(c * n, rng)[0].reshape(c, n, 2)
                p, losses = problem.bayes(x), predictor_losses(x, classes)
                log_p = np.log(np.maximum(p, PROB_FLOOR))  # shared by all teachers
                for name, t in teachers.items():
                    k, params = draws[name]
                    idx = (start + np.arange(c)) % k
                    pt = p if t.temper == 1 and t.noise == 0 else t._from_log(
                        x, log_p, _take(params, idx))
                    r_tilde = np.einsum("cnl,cnl->c", pt, losses) / n
                    deltas[name].append(r_tilde - pop["risk"])
            for name in teachers:
                delta, st = np.concatenate(deltas[name]), stats[name]
                variance_term = float(st["weights"] @ st["var_t"]) / n
                quality_term = float(st["weights"] @ (st["risk_t"] - pop["risk"]) ** 2)
                rows.append(dict(
                    seed=s, teacher=name, n=n, draws=draws[name][0], mse=(delta**2).mean(),
                    mse_se=(delta**2).std(ddof=1) / np.sqrt(samples), mean_delta=delta.mean(),
                    variance_term=variance_term, quality_term=quality_term,
                    predicted_mse=variance_term + quality_term,
                    bound=variance_term + pop["c2"] * st["q"], q=st["q"],
                    bias_sq=st["bias_sq"], teacher_var=st["teacher_var"]))
    return pd.DataFrame(rows)
