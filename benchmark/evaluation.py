"""Correlation metrics and the VQEG/LIVE logistic mapping.

Signs: :func:`evaluate` turns both the subjective scores and the predictions so
that higher is better (DMOS and lower-is-better metrics are negated) before
correlating, so a good predictor always gets a positive SROCC/PLCC whatever the
directions involved.

* SROCC, KROCC: ``scipy.stats.spearmanr`` / ``kendalltau`` (tau-b).
* PLCC (raw): Pearson correlation of the raw predictions.
* PLCC and RMSE (mapped): after the 5-parameter logistic of Sheikh et al. 2006
  (LIVE, VQEG FR-TV Phase II), ``q(x) = b1 (1/2 - 1/(1 + exp(b2 (x - b3)))) + b4 x + b5``;
  the 4-parameter VQEG logistic ``q(x) = (b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2``
  is selectable.  The fit is least squares (``scipy.optimize.least_squares``, analytic
  Jacobian) on the evaluated set itself, as the papers do, **constrained to be monotonic**
  as VQEG requires (Sheikh's unconstrained fit can bend its linear term against the
  logistic).  The mapped PLCC carries the direction of the fitted curve, so a predictor
  that ranks backwards gets a negative PLCC as it gets a negative SROCC.  If no logistic
  beats the straight line, the linear mapping is used and ``mapping`` says so.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import optimize, stats

__all__ = [
    "srocc",
    "krocc",
    "plcc",
    "rmse",
    "logistic5",
    "logistic4",
    "LogisticFit",
    "fit_logistic",
    "evaluate",
    "orient",
    "METRIC_NAMES",
]

METRIC_NAMES = ("srocc", "krocc", "plcc", "plcc_raw", "rmse")


def _pair(x, y) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"length mismatch: {x.shape[0]} predictions vs {y.shape[0]} scores")
    if x.size < 3:
        raise ValueError(f"need at least 3 pairs to correlate, got {x.size}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("non-finite values: drop failed images before evaluating")
    return x, y


def srocc(x, y) -> float:
    """Spearman rank-order correlation."""
    x, y = _pair(x, y)
    return float(stats.spearmanr(x, y).statistic)


def krocc(x, y) -> float:
    """Kendall rank-order correlation (tau-b)."""
    x, y = _pair(x, y)
    return float(stats.kendalltau(x, y).statistic)


def plcc(x, y) -> float:
    """Pearson linear correlation."""
    x, y = _pair(x, y)
    return float(stats.pearsonr(x, y).statistic)


def rmse(x, y) -> float:
    x, y = _pair(x, y)
    return float(np.sqrt(np.mean((x - y) ** 2)))


def logistic5(x, b1, b2, b3, b4, b5):
    """Sheikh et al. 2006 five-parameter logistic."""
    return b1 * (0.5 - 1.0 / (1.0 + np.exp(np.clip(b2 * (x - b3), -500, 500)))) + b4 * x + b5


def logistic4(x, b1, b2, b3, b4):
    """VQEG four-parameter logistic."""
    return (b1 - b2) / (1.0 + np.exp(np.clip(-(x - b3) / (np.abs(b4) + 1e-12), -500, 500))) + b2


def _logistic5_jac(x, b1, b2, b3, b4, b5) -> np.ndarray:
    """Analytic Jacobian of :func:`logistic5` with respect to (b1..b5)."""
    s = 1.0 / (1.0 + np.exp(np.clip(b2 * (x - b3), -500, 500)))
    ds = s * (1.0 - s)
    return np.column_stack([0.5 - s, b1 * ds * (x - b3), -b1 * ds * b2, x, np.ones_like(x)])


def _logistic4_jac(x, b1, b2, b3, b4) -> np.ndarray:
    """Analytic Jacobian of :func:`logistic4` with respect to (b1..b4)."""
    a = np.abs(b4) + 1e-12
    g = 1.0 / (1.0 + np.exp(np.clip(-(x - b3) / a, -500, 500)))
    dg = (b1 - b2) * g * (1.0 - g)
    return np.column_stack([g, 1.0 - g, -dg / a, -dg * (x - b3) / a ** 2 * np.sign(b4)])


@dataclass
class LogisticFit:
    kind: str                 # "logistic5", "logistic4" or "linear" (fallback)
    params: np.ndarray
    x_mean: float
    x_std: float
    direction: int = 1        # +1: the fitted mapping is non-decreasing, -1: non-increasing

    def __call__(self, x) -> np.ndarray:
        z = (np.asarray(x, dtype=np.float64) - self.x_mean) / self.x_std
        if self.kind == "logistic5":
            return logistic5(z, *self.params)
        if self.kind == "logistic4":
            return logistic4(z, *self.params)
        return self.params[0] * z + self.params[1]


# Iteration budget of one least-squares start.  When the optimum lies at infinity (the best
# monotonic curve is a step between two clusters of predictions) no start converges and the
# fit stops here; the mapped PLCC of such cases depends on the budget at the 1e-3 level.
_MAX_NFEV = 200
_STARTS = [(slope, centre) for slope in (1.0, 3.0, 0.3) for centre in (0.0, -1.0, 1.0)]


def _fit_direction(z, y, kind: str, direction: int):
    """Best (params, cost) of one monotonic direction, or (None, inf)."""
    if kind == "logistic5":
        func, jac = logistic5, _logistic5_jac
        # q'(z) = b1 b2 s(1 - s) + b4: with b2 >= 0 (no loss: (b1, b2) and (-b1, -b2) are the
        # same curve), direction * b1 >= 0 and direction * b4 >= 0 make q monotonic.
        inf = np.inf
        if direction > 0:
            lb, ub = [0.0, 0.0, -inf, 0.0, -inf], [inf, inf, inf, inf, inf]
        else:
            lb, ub = [-inf, 0.0, -inf, -inf, -inf], [0.0, inf, inf, 0.0, inf]
        base = [direction * (np.ptp(y) or 1.0), 1.0, 0.0, 0.0, float(y.mean())]
    else:
        func, jac = logistic4, _logistic4_jac
        lb, ub = -np.inf, np.inf   # the 4-parameter logistic is monotonic by construction
        hi, lo = float(y.max()), float(y.min())
        base = [hi, lo, 0.0, 1.0] if direction > 0 else [lo, hi, 0.0, 1.0]
    best, best_cost = None, np.inf
    for slope, centre in _STARTS:
        start = list(base)
        if kind == "logistic5":
            start[1], start[2] = slope, centre
        else:
            start[2], start[3] = centre, 1.0 / slope
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                res = optimize.least_squares(lambda b: func(z, *b) - y, start, jac=lambda b: jac(z, *b),
                                             bounds=(lb, ub), method="trf" if kind == "logistic5" else "lm",
                                             max_nfev=_MAX_NFEV)
            except (ValueError, RuntimeError):
                continue
        if not np.all(np.isfinite(res.x)):
            continue
        cost = float(np.sum(res.fun ** 2))
        if np.isfinite(cost) and cost < best_cost:
            best, best_cost = res.x, cost
            if res.status > 0:  # converged: no need for other starts
                break
    return best, best_cost


def fit_logistic(pred, score, kind: str = "logistic5") -> LogisticFit:
    """Monotonic least-squares fit of ``score ~ q(pred)``; predictions are z-scored first.

    Both directions (non-decreasing and non-increasing) are fitted and the lower residual
    wins.  The 5-parameter curve is constrained to be monotonic (VQEG: the mapping must be
    monotonic); left free, its linear term can bend against the logistic and give a high
    PLCC to a predictor that does not rank the images at all.  Least squares keeps the best
    point reached even when the optimum lies at infinity (a step), where ``curve_fit``
    would give up; if no start beats the straight line, the line is used.
    """
    if kind not in ("logistic5", "logistic4"):
        raise ValueError(f"mapping must be 'logistic5' or 'logistic4', got {kind!r}")
    x, y = _pair(pred, score)
    mu, sd = float(x.mean()), float(x.std()) or 1.0
    z = (x - mu) / sd
    lin = np.polyfit(z, y, 1)
    best = LogisticFit("linear", lin, mu, sd, 1 if lin[0] >= 0 else -1)
    best_cost = float(np.sum((np.polyval(lin, z) - y) ** 2)) * (1 + 1e-9)
    first = 1 if lin[0] >= 0 else -1
    for direction in (first, -first):
        params, cost = _fit_direction(z, y, kind, direction)
        if params is not None and cost < best_cost:
            if kind == "logistic4":
                direction = 1 if params[0] >= params[1] else -1
            best, best_cost = LogisticFit(kind, params, mu, sd, direction), cost
    return best


def orient(values, higher_better: bool) -> np.ndarray:
    """Values turned so that higher is better."""
    v = np.asarray(values, dtype=np.float64)
    return v if higher_better else -v


def evaluate(y_true, y_pred, *, true_higher_better: bool = True, pred_higher_better: bool = True,
             mapping: str = "logistic5") -> dict:
    """SROCC, KROCC, PLCC (raw and after the logistic mapping) and RMSE, sign-corrected.

    RMSE is in the units of the subjective scores, after the mapping.
    """
    p, y = _pair(orient(y_pred, pred_higher_better), orient(y_true, true_higher_better))
    if np.ptp(p) == 0 or np.ptp(y) == 0:
        # correlation is undefined: report "no association" explicitly, never NaN
        return {"n": int(y.size), "srocc": 0.0, "krocc": 0.0, "plcc": 0.0, "plcc_raw": 0.0,
                "rmse": rmse(np.full_like(y, y.mean()), y), "mapping": "constant"}
    fit = fit_logistic(p, y, mapping)
    q = fit(p)
    constant = np.ptp(q) == 0
    return {
        "n": int(y.size),
        "srocc": srocc(p, y),
        "krocc": krocc(p, y),
        # signed like SROCC: negative when the best monotonic mapping is decreasing
        "plcc": 0.0 if constant else fit.direction * abs(plcc(q, y)),
        "plcc_raw": plcc(p, y),
        "rmse": rmse(q, y),
        "mapping": fit.kind,
    }
