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
  is selectable.  The fit is least squares (``scipy.optimize.curve_fit``) on the
  evaluated set itself, as the papers do.  If it does not converge, the linear
  mapping is used instead and ``mapping`` in the result says so.
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


@dataclass
class LogisticFit:
    kind: str                 # "logistic5", "logistic4" or "linear" (fallback)
    params: np.ndarray
    x_mean: float
    x_std: float

    def __call__(self, x) -> np.ndarray:
        z = (np.asarray(x, dtype=np.float64) - self.x_mean) / self.x_std
        if self.kind == "logistic5":
            return logistic5(z, *self.params)
        if self.kind == "logistic4":
            return logistic4(z, *self.params)
        return self.params[0] * z + self.params[1]


def fit_logistic(pred, score, kind: str = "logistic5") -> LogisticFit:
    """Least-squares fit of ``score ~ q(pred)``; predictions are z-scored first for stability."""
    x, y = _pair(pred, score)
    mu, sd = float(x.mean()), float(x.std()) or 1.0
    z = (x - mu) / sd
    funcs: dict[str, tuple[Callable, list[float]]] = {
        "logistic5": (logistic5, [np.ptp(y) or 1.0, 1.0, 0.0, 0.0, float(y.mean())]),
        "logistic4": (logistic4, [float(y.max()), float(y.min()), 0.0, 1.0]),
    }
    if kind not in funcs:
        raise ValueError(f"mapping must be 'logistic5' or 'logistic4', got {kind!r}")
    func, p0 = funcs[kind]
    r = np.corrcoef(z, y)[0, 1] if np.std(y) > 0 else 0.0
    if kind == "logistic5" and r < 0:
        p0[0] = -p0[0]
    if kind == "logistic4" and r < 0:
        p0[0], p0[1] = p0[1], p0[0]
    lin = np.polyfit(z, y, 1)
    best, best_cost = None, np.sum((np.polyval(lin, z) - y) ** 2) * (1 + 1e-9)
    # a few starting slopes/centres: least squares keeps the best point reached even when the
    # optimum lies at infinity (e.g. a purely concave relation), where curve_fit would give up
    for slope in (1.0, 3.0, 0.3):
        for centre in (0.0, -1.0, 1.0):
            start = list(p0)
            if kind == "logistic5":
                start[1], start[2] = slope, centre
            else:
                start[2], start[3] = centre, 1.0 / slope
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    res = optimize.least_squares(lambda b: func(z, *b) - y, start, method="lm", max_nfev=800)
                except (ValueError, RuntimeError):
                    continue
            if np.all(np.isfinite(res.x)):
                cost = float(np.sum(res.fun ** 2))
                if np.isfinite(cost) and cost < best_cost:
                    best, best_cost = res.x, cost
                    if res.status > 0:  # converged: no need for other starts
                        return LogisticFit(kind, best, mu, sd)
    if best is not None:
        return LogisticFit(kind, best, mu, sd)
    lin = np.polyfit(z, y, 1)
    return LogisticFit("linear", lin, mu, sd)


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
        "plcc": 0.0 if constant else plcc(q, y),
        "plcc_raw": plcc(p, y),
        "rmse": rmse(q, y),
        "mapping": fit.kind,
    }
