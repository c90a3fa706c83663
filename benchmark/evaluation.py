"""Correlation metrics, the VQEG/LIVE logistic mapping, and the metric rows of a run.

Signs: :func:`evaluate` turns both the subjective scores and the predictions so
that higher is better (DMOS and lower-is-better metrics are negated) before
correlating, so a good predictor always gets a positive SROCC/PLCC whatever the
directions involved.

* SROCC, KROCC: ``scipy.stats.spearmanr`` / ``kendalltau`` (tau-b).
* PLCC raw (``plcc_raw``): plain Pearson correlation of the raw predictions, as Yang et
  al. (ICCVW 2019) and Bianco et al. report it.
* PLCC mapped (``plcc``) and RMSE: after the 5-parameter logistic of Sheikh et al. 2006
  (LIVE, VQEG FR-TV Phase II), ``q(x) = b1 (1/2 - 1/(1 + exp(b2 (x - b3)))) + b4 x + b5``;
  the 4-parameter VQEG logistic ``q(x) = (b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2``
  is selectable.  The fit is least squares (``scipy.optimize.least_squares``, analytic
  Jacobian) on the evaluated set itself, as the papers do, **constrained to be monotonic**
  as VQEG requires (Sheikh's unconstrained fit can bend its linear term against the
  logistic).  The mapped PLCC carries the direction of the fitted curve, so a predictor
  that ranks backwards gets a negative PLCC as it gets a negative SROCC.
* **When the logistic is fitted.**  Even a monotonic logistic inflates the PLCC of a
  predictor near chance: with a steep slope it becomes a step placed at the best of ~n
  thresholds, and the Pearson correlation of that best step is a maximum over many tries
  (measured: 200 random predictors against 5 severity levels, n = 70, mean |PLCC| 0.215
  after the logistic against mean |SROCC| 0.106).  So the logistic is fitted only when
  the predictor is monotonic beyond chance, i.e. when Spearman's test of no association
  rejects at ``MONOTONIC_ALPHA`` (0.05, two-sided); otherwise the mapping is the least-
  squares line (``mapping="linear"``) and the mapped PLCC equals the plain PLCC.  With this
  rule the same random predictors give mean |PLCC| 0.112.  If the logistic does not beat
  the line, the line is used as well.
* Undefined correlations (constant predictions or scores, fewer than 3 valid pairs) are
  ``NaN`` with ``mapping="undefined"``: :func:`metric_rows` marks them and the summaries
  leave them out of every aggregate (never a 0.0 in a table).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import optimize, stats

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "srocc",
    "krocc",
    "plcc",
    "rmse",
    "logistic5",
    "logistic4",
    "LogisticFit",
    "fit_logistic",
    "fit_mapping",
    "evaluate",
    "orient",
    "srocc_oriented",
    "metric_rows",
    "METRIC_NAMES",
    "MONOTONIC_ALPHA",
    "MIN_PLCC_N",
    "METRIC_COLUMNS",
    "PER_TYPE_COLUMNS",
]

METRIC_NAMES = ("srocc", "krocc", "plcc", "plcc_raw", "rmse")
#: the logistic is fitted only when Spearman's test rejects "no association" at this level
MONOTONIC_ALPHA = 0.05
#: per-distortion subsets smaller than this get SROCC only (their ``plcc`` is left empty)
MIN_PLCC_N = 10


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
             mapping: str = "logistic5", monotonic_alpha: float | None = MONOTONIC_ALPHA) -> dict:
    """SROCC, KROCC, PLCC (plain and after the mapping) and RMSE, sign-corrected.

    ``mapping`` is the curve fitted when the predictor is monotonic beyond chance (Spearman
    ``p < monotonic_alpha``; ``monotonic_alpha=None`` always fits it, as the papers do);
    otherwise the least-squares line is used, and the returned ``mapping`` says which
    (``"logistic5"``, ``"logistic4"``, ``"linear"``, or ``"undefined"`` when a correlation
    is undefined: constant predictions or scores, all metrics NaN).  RMSE is in the units
    of the subjective scores, after the mapping.
    """
    if mapping not in ("logistic5", "logistic4"):
        raise ValueError(f"mapping must be 'logistic5' or 'logistic4', got {mapping!r}")
    p, y = _pair(orient(y_pred, pred_higher_better), orient(y_true, true_higher_better))
    if np.ptp(p) == 0 or np.ptp(y) == 0:
        # correlation is undefined: NaN, left out of every aggregate (never a 0.0 in a table)
        return {"n": int(y.size), "srocc": np.nan, "krocc": np.nan, "plcc": np.nan, "plcc_raw": np.nan,
                "rmse": np.nan, "mapping": "undefined"}
    rho = srocc(p, y)
    fit = fit_mapping(p, y, mapping, monotonic_alpha)
    q = fit(p)
    constant = np.ptp(q) == 0
    raw = plcc(p, y)
    return {
        "n": int(y.size),
        "srocc": rho,
        "krocc": krocc(p, y),
        # signed like SROCC: negative when the best monotonic mapping is decreasing
        "plcc": (0.0 if constant else fit.direction * abs(plcc(q, y))) if fit.kind != "linear" else raw,
        "plcc_raw": raw,
        "rmse": rmse(q, y),
        "mapping": fit.kind,
    }


def fit_mapping(pred, score, mapping: str = "logistic5",
                monotonic_alpha: float | None = MONOTONIC_ALPHA) -> LogisticFit:
    """The mapping :func:`evaluate` uses: :func:`fit_logistic` when the predictor is monotonic
    beyond chance (Spearman ``p < monotonic_alpha``; always with ``None``), else the
    least-squares line.  Both arguments already oriented (higher is better)."""
    x, y = _pair(pred, score)
    if monotonic_alpha is not None:
        pvalue = float(stats.spearmanr(x, y).pvalue)
        if not (np.isfinite(pvalue) and pvalue < monotonic_alpha):
            return _linear_fit(x, y)
    return fit_logistic(x, y, mapping)


def _linear_fit(p: np.ndarray, y: np.ndarray) -> LogisticFit:
    mu, sd = float(p.mean()), float(p.std()) or 1.0
    lin = np.polyfit((p - mu) / sd, y, 1)
    return LogisticFit("linear", lin, mu, sd, 1 if lin[0] >= 0 else -1)


def srocc_oriented(y_true, y_pred, true_higher_better: bool, pred_higher_better: bool) -> float:
    """SROCC with both sides turned to higher-is-better (NaN when either side is constant)."""
    p, y = orient(y_pred, pred_higher_better), orient(y_true, true_higher_better)
    if np.ptp(p) == 0 or np.ptp(y) == 0:
        return float("nan")
    return srocc(p, y)


BASE_COLUMNS = ["method", "label", "group", "kind", "plan", "train_set", "test_set", "split", "n_failed"]
#: columns of :func:`metric_rows`' first frame (``metrics.csv``)
METRIC_COLUMNS = BASE_COLUMNS + ["n", "srocc", "krocc", "plcc", "plcc_raw", "rmse", "mapping", "status", "reason"]
#: columns of its second frame (``per_distortion.csv``)
PER_TYPE_COLUMNS = BASE_COLUMNS + ["dist_type", "n", "srocc", "plcc"]


#: bump when :func:`evaluate` would give other values for the same inputs (part of the memo key)
EVALUATION_VERSION = "1"
#: the memo of :func:`metric_rows` inside a run's output folder
METRICS_MEMO = "metrics_memo.json"


def _memo_key(y_true, y_pred, thb: bool, phb: bool, mapping: str) -> str:
    import hashlib

    import scipy

    h = hashlib.sha256(f"{EVALUATION_VERSION}|{np.__version__}|{scipy.__version__}|{thb}|{phb}|{mapping}|"
                       f"{MONOTONIC_ALPHA}".encode())
    for v in (y_true, y_pred):
        a = np.ascontiguousarray(np.asarray(v, dtype=np.float64))
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _evaluate_memo(memo: dict | None, used: dict | None, y_true, y_pred, thb: bool, phb: bool, mapping: str) -> dict:
    """:func:`evaluate` through ``memo`` (digest of the inputs -> result; ``None``: no memo)."""
    if memo is None:
        return evaluate(y_true, y_pred, true_higher_better=thb, pred_higher_better=phb, mapping=mapping)
    key = _memo_key(y_true, y_pred, thb, phb, mapping)
    hit = memo.get(key)
    if not isinstance(hit, dict):
        hit = _evaluated(y_true, y_pred, thb, phb, mapping)
    if used is not None:
        used[key] = hit
    return dict(hit)


def load_metrics_memo(out) -> dict:
    """The memo a previous run left in ``out`` (empty when absent or unreadable)."""
    import json
    from pathlib import Path

    try:
        memo = json.loads((Path(out) / METRICS_MEMO).read_text())
    except (OSError, ValueError):
        return {}
    return memo if isinstance(memo, dict) and memo.get("version") == EVALUATION_VERSION else {}


def save_metrics_memo(out, used: dict) -> None:
    """Write the entries this run used (so the file holds the current results only)."""
    import json
    from pathlib import Path

    from .storage import atomic_write_text

    atomic_write_text(Path(out) / METRICS_MEMO, json.dumps({"version": EVALUATION_VERSION, "entries": used}))


def _evaluated(y_true, y_pred, thb: bool, phb: bool, mapping: str) -> dict:
    """:func:`evaluate` with NumPy scalars as Python numbers (the form the memo stores)."""
    m = evaluate(y_true, y_pred, true_higher_better=thb, pred_higher_better=phb, mapping=mapping)
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in m.items()}


#: the metric columns of a row without any evaluated image
_EMPTY = {"n": 0, "srocc": float("nan"), "krocc": float("nan"), "plcc": float("nan"), "plcc_raw": float("nan"),
          "rmse": float("nan"), "mapping": ""}


def _result_rows(results, ev) -> tuple[list[dict], list[dict]]:
    """Metric rows and per-type rows of ``results``; ``ev(y_true, y_pred, thb, phb)`` evaluates one set."""
    rows, type_rows = [], []
    nan = float("nan")
    for info, plan, train_name, test_name, split, df in results:
        pred = df["y_pred"].to_numpy(dtype=float)
        ok = np.isfinite(pred)
        d = df[ok]
        base = {"method": info.name, "label": info.display, "group": info.group, "kind": info.kind,
                "plan": plan, "train_set": train_name, "test_set": test_name, "split": split,
                "n_failed": int((~ok).sum())}
        if len(d) < 3:
            if len(d) == 0 and len(df):
                status, reason = "failed", f"all {len(df)} test images failed"
            else:
                status, reason = "undefined", f"only {len(d)} of {len(df)} test images have a prediction"
            rows.append({**base, **_EMPTY, "n": int(len(d)), "status": status, "reason": reason})
            continue
        thb, phb = bool(d["true_higher_better"].iloc[0]), bool(d["pred_higher_better"].iloc[0])
        m = ev(d["y_true"], d["y_pred"], thb, phb)
        undefined = m["mapping"] == "undefined"
        reason = ""
        if undefined:
            reason = ("constant predictions" if np.ptp(d["y_pred"].to_numpy(float)) == 0
                      else "constant subjective scores")
        rows.append({**base, **m, "status": "undefined" if undefined else "ok", "reason": reason})
        if plan == "within":
            for t, g in d.groupby("dist_type"):
                if not t or len(g) < 3:
                    continue
                if len(g) >= MIN_PLCC_N:
                    e = ev(g["y_true"], g["y_pred"], thb, phb)
                else:  # a 4-5 parameter curve through a handful of points is not a correlation
                    e = {"n": len(g), "plcc": nan, "srocc": srocc_oriented(g["y_true"], g["y_pred"], thb, phb)}
                type_rows.append({**base, "dist_type": t, "n": e["n"], "srocc": e["srocc"], "plcc": e["plcc"]})
    return rows, type_rows


def metric_rows(results, mapping: str = "logistic5", failed=(), memo: dict | None = None,
                used: dict | None = None, n_jobs: int | None = 1) -> tuple["pd.DataFrame", "pd.DataFrame"]:
    """Tidy metric rows of a run: one per evaluated (method, plan, train set, test set, split).

    ``results`` holds ``(info, plan, train_name, test_name, split, predictions)`` tuples
    (``info`` a :class:`~benchmark.methods.base.MethodInfo`, predictions the frame of
    :class:`~benchmark.storage.PredictionStore`); images whose prediction is not finite
    failed and are left out (``n_failed``).  ``failed`` holds dicts with the keys ``method,
    label, group, kind, plan, train_set, test_set, split, reason`` of attempts that produced
    no prediction at all.

    ``status`` is ``"ok"``, ``"undefined"`` (constant predictions or scores, or fewer than 3
    images with a prediction: every metric NaN) or ``"failed"`` (no image could be
    predicted, or the method itself failed; ``reason`` says why).  The second frame has
    SROCC (and mapped PLCC on subsets of at least :data:`MIN_PLCC_N` images) within each
    distortion type of the within-dataset plans.

    ``memo``: results of :func:`evaluate` by the SHA-256 of its inputs (scores, predictions,
    directions, mapping, :data:`EVALUATION_VERSION`, NumPy and SciPy releases), e.g. the
    ``entries`` of :func:`load_metrics_memo`; each result used is put in ``used``.  A cached
    re-run (the same predictions) then fits no logistic again: the fits were 36 of the 45 s of
    a cached re-run of 8 methods on synth.  The values are the same bits (JSON round-trips
    floats exactly).

    ``n_jobs`` (joblib): the evaluations the memo lacks, nearly all of a fresh run's time here
    (the logistic fits: 74 s single-threaded for the 1384 evaluations of ``--suite all`` on
    synth), run in that many processes first; the rows are the same bits as with ``n_jobs=1``.
    """
    import pandas as pd

    from joblib import Parallel, delayed, effective_n_jobs

    lookup = memo
    if effective_n_jobs(n_jobs) > 1:
        todo: dict[str, tuple] = {}

        def collect(y_true, y_pred, thb, phb):
            key = _memo_key(y_true, y_pred, thb, phb, mapping)
            if memo is None or not isinstance(memo.get(key), dict):
                todo.setdefault(key, (y_true.to_numpy(float), y_pred.to_numpy(float), thb, phb))
            return {"n": len(y_true), "srocc": float("nan"), "plcc": float("nan"), "mapping": ""}

        _result_rows(results, collect)
        if len(todo) > 1:
            done = Parallel(n_jobs=n_jobs, batch_size=8)(delayed(_evaluated)(*args, mapping) for args in todo.values())
            lookup = {**(memo or {}), **dict(zip(todo, done))}
    rows, type_rows = _result_rows(
        results, lambda y_true, y_pred, thb, phb: _evaluate_memo(lookup, used, y_true, y_pred, thb, phb, mapping))
    for f in failed:
        base = {k: f.get(k, "") for k in BASE_COLUMNS}
        base["n_failed"] = int(f.get("n_failed", 0) or 0)
        rows.append({**base, **_EMPTY, "status": "failed", "reason": str(f.get("reason", ""))})
    return pd.DataFrame(rows, columns=METRIC_COLUMNS), pd.DataFrame(type_rows, columns=PER_TYPE_COLUMNS)
