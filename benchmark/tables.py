"""Survey-style tables (Markdown and LaTeX booktabs) built from tidy metric rows.

Tables only format what :mod:`benchmark.evaluation` computed; nothing is edited
by hand.  The single-dataset table follows Kim et al. 2017, Table III: rows
grouped by type (FR, NR hand-crafted, NR deep), one SROCC/PLCC column pair per
dataset, median (or mean) over splits, the top three of each column in bold.

Cells: a number is the aggregate over the splits whose correlation is defined (undefined
ones, e.g. constant predictions, are left out); ``failed`` means the method ran and
produced no result there (the reason is in the table notes and ``failures.csv``); a dash
means no result was attempted (e.g. an FR metric on a dataset without references).  A
number followed by ``(k)`` aggregates ``k`` splits, fewer or more than the caption states.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .methods.base import GROUPS

__all__ = ["Table", "summarise", "single_dataset_table", "cross_matrix_table", "column_table",
           "per_distortion_table", "AGGREGATES", "FAILED"]

DASH = "–"
FAILED = "failed"
AGGREGATES = ("median", "mean")


@dataclass
class Table:
    """A grid of numbers with grouped rows and (optionally) two-level columns."""

    title: str
    caption: str
    row_labels: list[str]
    columns: list[tuple[str, str]]           # (top header, sub header); sub may be ""
    values: np.ndarray                       # (n_rows, n_cols) float, NaN = no value
    row_groups: list[str] = field(default_factory=list)   # group of each row ("" = none)
    bold_top: int = 3
    higher_better: list[bool] | None = None  # per column (default: all True)
    stub: str = "Method"
    digits: int = 3
    notes: list[str] = field(default_factory=list)
    text: dict[tuple[int, int], str] = field(default_factory=dict)     # cell shown as this text (e.g. "failed")
    suffix: dict[tuple[int, int], str] = field(default_factory=dict)   # appended to a number (e.g. " (3)")

    def _bold(self) -> np.ndarray:
        mask = np.zeros(self.values.shape, dtype=bool)
        if self.bold_top <= 0:
            return mask
        for j in range(self.values.shape[1]):
            col = self.values[:, j]
            ok = np.isfinite(col)
            if ok.sum() < 2:
                continue
            hb = True if self.higher_better is None else self.higher_better[j]
            vals = np.round(col[ok], self.digits)
            order = np.unique(vals)[::-1] if hb else np.unique(vals)
            cutoff = order[: self.bold_top]
            mask[np.flatnonzero(ok), j] = np.isin(vals, cutoff)
        return mask

    def _fmt(self, v: float) -> str:
        return DASH if not np.isfinite(v) else f"{v:.{self.digits}f}"

    def _cell(self, i: int, j: int, bold: bool, tex: bool = False) -> str:
        """One cell: its text override, a dash, or the number (bold, then its suffix)."""
        esc = _tex_escape if tex else str
        if (i, j) in self.text:
            return esc(self.text[(i, j)])
        v = self.values[i, j]
        if not np.isfinite(v):
            return "--" if tex else DASH
        s = f"{v:.{self.digits}f}"
        if bold:
            s = f"\\textbf{{{s}}}" if tex else f"**{s}**"
        return s + esc(self.suffix.get((i, j), ""))

    def _has_sub(self) -> bool:
        return any(sub for _, sub in self.columns)

    def to_markdown(self) -> str:
        bold = self._bold()
        if self._has_sub():
            heads = [f"{top} {sub}".strip() for top, sub in self.columns]
        else:
            heads = [top for top, _ in self.columns]
        lines = [f"**{self.title}**", "", f"| {self.stub} | " + " | ".join(heads) + " |",
                 "|---|" + "|".join(":---:" for _ in heads) + "|"]
        last_group = None
        for i, label in enumerate(self.row_labels):
            group = self.row_groups[i] if self.row_groups else ""
            if group and group != last_group:
                lines.append(f"| *{group}* |" + " |" * len(heads))
                last_group = group
            cells = [self._cell(i, j, bold[i, j]) for j in range(len(heads))]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines += ["", self.caption]
        lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"

    def to_latex(self) -> str:
        bold = self._bold()
        ncol = len(self.columns)
        esc = _tex_escape
        out = ["\\begin{table}[t]", "\\centering", f"\\caption{{{esc(self.caption)}}}",
               f"\\begin{{tabular}}{{l{'c' * ncol}}}", "\\toprule"]
        if self._has_sub():
            tops: list[tuple[str, int]] = []
            for top, _ in self.columns:
                if tops and tops[-1][0] == top:
                    tops[-1] = (top, tops[-1][1] + 1)
                else:
                    tops.append((top, 1))
            out.append(" & " + " & ".join(f"\\multicolumn{{{n}}}{{c}}{{{esc(t)}}}" for t, n in tops) + " \\\\")
            rules, c = [], 2
            for _, n in tops:
                rules.append(f"\\cmidrule(lr){{{c}-{c + n - 1}}}")
                c += n
            out.append(" ".join(rules))
            out.append(f"{esc(self.stub)} & " + " & ".join(esc(sub) for _, sub in self.columns) + " \\\\")
        else:
            out.append(f"{esc(self.stub)} & " + " & ".join(esc(top) for top, _ in self.columns) + " \\\\")
        out.append("\\midrule")
        last_group = None
        for i, label in enumerate(self.row_labels):
            group = self.row_groups[i] if self.row_groups else ""
            if group and group != last_group:
                if last_group is not None:
                    out.append("\\midrule")
                out.append(f"\\multicolumn{{{ncol + 1}}}{{l}}{{\\textit{{{esc(group)}}}}} \\\\")
                last_group = group
            cells = [self._cell(i, j, bold[i, j], tex=True) for j in range(ncol)]
            out.append(f"{esc(label)} & " + " & ".join(cells) + " \\\\")
        out += ["\\bottomrule", "\\end{tabular}"]
        if self.notes:
            out.append("\\par\\smallskip{\\footnotesize " + " \\\\ ".join(esc(n) for n in self.notes) + "}")
        out.append("\\end{table}")
        return "\n".join(out) + "\n"

    def to_frame(self) -> pd.DataFrame:
        cols = [f"{t} {s}".strip() for t, s in self.columns]
        df = pd.DataFrame(self.values, index=self.row_labels, columns=cols)
        if self.row_groups:
            df.insert(0, "group", self.row_groups)
        return df


def _tex_escape(s: str) -> str:
    rep = {"&": "\\&", "%": "\\%", "$": "\\$", "#": "\\#", "_": "\\_", "{": "\\{", "}": "\\}",
           "~": "\\textasciitilde{}", "^": "\\textasciicircum{}", "±": "$\\pm$", "→": "$\\to$", "–": "--"}
    return "".join(rep.get(ch, ch) for ch in str(s))


def summarise(metrics: pd.DataFrame, keys: Sequence[str] = ("method", "plan", "train_set", "test_set")) -> pd.DataFrame:
    """Median, mean and std over splits of every metric, per method x plan x train set x test set.

    Only splits with ``status == "ok"`` are aggregated (undefined correlations are NaN and
    failed attempts have no value).  Counts: ``n_splits`` (aggregated), ``n_undefined``,
    ``n_failed_splits`` and ``n_attempted``; ``n_linear`` is the number of aggregated splits
    whose mapped PLCC used the linear fit; ``splits`` lists the aggregated split names and
    ``reason`` the first failure (or undefined-correlation) reason.
    """
    keys = [k for k in keys if k in metrics.columns]
    m = metrics.copy()
    if "status" not in m.columns:
        m["status"] = np.where(np.isfinite(m["srocc"].to_numpy(dtype=float)), "ok", "undefined")
    if "reason" not in m.columns:
        m["reason"] = ""
    ok = m["status"].eq("ok")
    num = [c for c in ("srocc", "krocc", "plcc", "plcc_raw", "rmse", "n") if c in m.columns]
    vals = m[num].astype(float).where(np.repeat(ok.to_numpy()[:, None], len(num), axis=1))
    g = vals.groupby([m[k] for k in keys], sort=False, dropna=False)
    med = g.median().add_suffix("_median")
    mean = g.mean().add_suffix("_mean")
    std = g.std(ddof=0).add_suffix("_std")
    gm = m.assign(_ok=ok, _und=m["status"].eq("undefined"), _fail=m["status"].eq("failed"),
                  _lin=ok & m.get("mapping", pd.Series("", index=m.index)).eq("linear")).groupby(
        keys, sort=False, dropna=False)
    counts = pd.DataFrame({
        "n_splits": gm["_ok"].sum().astype(int),
        "n_undefined": gm["_und"].sum().astype(int),
        "n_failed_splits": gm["_fail"].sum().astype(int),
        "n_attempted": gm.size().astype(int),
        "n_linear": gm["_lin"].sum().astype(int),
        "splits": gm.apply(lambda d: ",".join(d.loc[d["_ok"], "split"].astype(str)) if "split" in d else "",
                           include_groups=False),
        "reason": gm.apply(lambda d: _first_reason(d), include_groups=False),
    })
    out = pd.concat([med, mean, std, counts], axis=1).reset_index()
    for col in ("label", "group"):
        if col in metrics.columns:
            out = out.merge(metrics.drop_duplicates("method")[["method", col]], on="method", how="left")
    return out


def _first_reason(d: pd.DataFrame) -> str:
    for status in ("failed", "undefined"):
        r = d.loc[d["status"].eq(status), "reason"].astype(str)
        r = r[r != ""]
        if len(r):
            return str(r.iloc[0])
    return ""


def _method_rows(summary: pd.DataFrame, method_order: Sequence[str] | None) -> tuple[list[str], list[str], list[str]]:
    meta = summary.drop_duplicates("method").set_index("method")
    methods = list(dict.fromkeys(list(method_order or []) + list(meta.index)))
    methods = [m for m in methods if m in meta.index]
    order = {g: i for i, g in enumerate(GROUPS)}
    methods.sort(key=lambda m: order.get(meta.at[m, "group"] if "group" in meta else "", 99))
    labels = [str(meta.at[m, "label"]) if "label" in meta and pd.notna(meta.at[m, "label"]) else m for m in methods]
    groups = [str(meta.at[m, "group"]) if "group" in meta else "" for m in methods]
    return methods, labels, groups


def _check_stat(stat: str) -> None:
    if stat not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {AGGREGATES}, got {stat!r}")


def _fill(t: Table, i: int, j: int, row: pd.Series | None, metric: str, stat: str,
          expected: int | None = None) -> None:
    """Cell (i, j) from one summary row: the aggregate, ``failed``, or a dash; ``(k)`` when
    the row aggregates ``k`` splits and ``expected`` (the caption's count) differs."""
    if row is None:
        return
    n = int(row.get("n_splits", 1))
    if n == 0:
        if int(row.get("n_failed_splits", 0)) > 0:
            t.text[(i, j)] = FAILED
        return
    t.values[i, j] = row[f"{metric}_{stat}"]
    if expected is not None and n != expected and np.isfinite(t.values[i, j]):
        t.suffix[(i, j)] = f" ({n})"


def _row(summary: pd.DataFrame, **where: str) -> pd.Series | None:
    mask = np.ones(len(summary), dtype=bool)
    for k, v in where.items():
        mask &= summary[k].to_numpy() == v
    hit = summary[mask]
    return hit.iloc[0] if len(hit) else None


#: column sub-headers of the metrics a table can show
METRIC_HEADERS = {"srocc": "SROCC", "plcc": "PLCC", "plcc_raw": "PLCC raw", "krocc": "KROCC", "rmse": "RMSE"}


def single_dataset_table(summary: pd.DataFrame, datasets: Sequence[str], *, stat: str = "median",
                         method_order: Sequence[str] | None = None, caption: str = "",
                         dataset_labels: dict[str, str] | None = None,
                         metrics: Sequence[str] = ("srocc", "plcc", "plcc_raw"),
                         expected_splits: dict[str, int] | None = None,
                         title: str = "Single-dataset performance") -> Table:
    """Kim et al. Table III layout: SROCC/PLCC per dataset (within-dataset plan).

    ``expected_splits`` (dataset -> the split count the caption states) marks cells that
    aggregate a different number of splits with ``(k)``.
    """
    _check_stat(stat)
    s = summary[summary["plan"] == "within"] if "plan" in summary.columns else summary
    methods, labels, groups = _method_rows(s, method_order)
    cols = [(dataset_labels.get(d, d) if dataset_labels else d, METRIC_HEADERS[m]) for d in datasets for m in metrics]
    t = Table(title, caption, labels, cols, np.full((len(methods), len(cols)), np.nan), groups)
    for i, m in enumerate(methods):
        for j, d in enumerate(datasets):
            row = _row(s, method=m, test_set=d)
            for k, met in enumerate(metrics):
                _fill(t, i, j * len(metrics) + k, row, met, stat,
                      None if expected_splits is None else expected_splits.get(d))
    return t


def cross_matrix_table(summary: pd.DataFrame, datasets: Sequence[str], *, metric: str = "srocc",
                       stat: str = "median", method_order: Sequence[str] | None = None,
                       caption: str = "") -> Table:
    """Yang et al. Table 2 layout: per method, rows = training set, columns = test set.

    The diagonal is the single-dataset (within) result; off-diagonal cells train on
    all of the row's dataset and test on all of the column's. Methods without any
    cross-dataset attempt (training-free metrics, or a method trained on one dataset
    only) are left out: a row holding only its diagonal says nothing about transfer.
    """
    _check_stat(stat)
    methods, labels, groups = _method_rows(summary, method_order)
    row_labels, row_groups, rows = [], [], []
    for m, lab in zip(methods, labels):
        sm = summary[summary["method"] == m]
        if not (sm["plan"] == "one-vs-one").any():
            continue
        for a in datasets:
            hits = [_row(sm, plan="within" if a == b else "one-vs-one", test_set=b, train_set=a) for b in datasets]
            if any(h is not None for h in hits):
                row_labels.append(f"{a} →")
                row_groups.append(lab)
                rows.append(hits)
    t = Table(f"Cross-dataset {metric.upper()} (train on rows, test on columns)", caption, row_labels,
              [(d, "") for d in datasets], np.full((len(rows), len(datasets)), np.nan), row_groups, bold_top=0,
              stub="Train")
    for i, hits in enumerate(rows):
        for j, h in enumerate(hits):
            _fill(t, i, j, h, metric, stat)
    return t


def column_table(summary: pd.DataFrame, plan: str, *, columns: str = "test_set", metrics: Sequence[str] = ("srocc",),
                 stat: str = "median", method_order: Sequence[str] | None = None, title: str = "",
                 caption: str = "") -> Table:
    """Methods x (test set [x metric]) for one plan (LODO, shared types, synthetic-to-authentic)."""
    _check_stat(stat)
    s = summary[summary["plan"] == plan]
    methods, labels, groups = _method_rows(s, method_order)
    keys = list(dict.fromkeys(s[columns]))
    cols = ([(k, METRIC_HEADERS.get(m, m.upper())) for k in keys for m in metrics] if len(metrics) > 1
            else [(k, "") for k in keys])
    t = Table(title or plan, caption, labels, cols, np.full((len(methods), len(cols)), np.nan), groups)
    for i, m in enumerate(methods):
        for j, k in enumerate(keys):
            row = _row(s, method=m, **{columns: k})
            for q, met in enumerate(metrics):
                _fill(t, i, j * len(metrics) + q, row, met, stat)
    return t


def per_distortion_table(per_type: pd.DataFrame, dataset: str, *, stat: str = "median",
                         method_order: Sequence[str] | None = None, caption: str = "") -> Table:
    """SROCC within each distortion type (median or mean over the splits where it is defined) for one dataset."""
    _check_stat(stat)
    s = per_type[per_type["test_set"] == dataset]
    g = s.groupby(["method", "dist_type"], sort=False)["srocc"]
    agg = g.median() if stat == "median" else g.mean()
    summ = s.drop_duplicates("method")[[c for c in ("method", "label", "group") if c in s.columns]]
    methods, labels, groups = _method_rows(summ, method_order)
    types = sorted(s["dist_type"].unique())
    vals = np.full((len(methods), len(types)), np.nan)
    for i, m in enumerate(methods):
        for j, t in enumerate(types):
            if (m, t) in agg.index:
                vals[i, j] = agg.loc[(m, t)]
    return Table(f"Per-distortion SROCC on {dataset}", caption, labels, [(t, "") for t in types], vals, groups)


# ---------------------------------------------------------------------------------------------
# Table shapes of the papers (issue 17): Yang et al. Table 3's "best one-vs-one" row and
# Bosse et al. Table VI's TID2013 distortion groups.

def lodo_best_table(summary: pd.DataFrame, *, metric: str = "plcc", stat: str = "median",
                    method_order: Sequence[str] | None = None, caption: str = "") -> Table:
    """Yang et al. Table 3: leave-one-dataset-out ``metric`` per test set, plus a "Best one-vs-one" row.

    The last row holds, per test set, the best one-vs-one result (train on all of one other
    dataset) over every method and training set; the notes name where each came from.
    """
    s = summary[summary["plan"] == "lodo"]
    methods, labels, groups = _method_rows(s, method_order)
    tests = list(dict.fromkeys(s["test_set"]))
    vals = np.full((len(methods) + 1, len(tests)), np.nan)
    for i, m in enumerate(methods):
        for j, d in enumerate(tests):
            hit = s[(s["method"] == m) & (s["test_set"] == d)]
            if len(hit):
                vals[i, j] = hit[f"{metric}_{stat}"].iloc[0]
    o = summary[summary["plan"] == "one-vs-one"]
    notes = []
    for j, d in enumerate(tests):
        od = o[o["test_set"] == d]
        col = od[f"{metric}_{stat}"]
        if col.notna().any():
            best = od.loc[col.idxmax()]
            vals[-1, j] = best[f"{metric}_{stat}"]
            lab = best["label"] if "label" in od.columns and pd.notna(best.get("label")) else best["method"]
            notes.append(f"best one-vs-one on {d}: {lab} trained on {best['train_set']}")
    t = Table(f"Leave-one-dataset-out {metric.upper()} and the best one-vs-one", caption,
              labels + ["Best one-vs-one"], [(d, "") for d in tests], vals, groups + [""] if groups else [])
    t.notes += notes
    return t


#: TID2013 distortion groups (Ponomarenko et al., Signal Process. Image Commun. 30, 2015, the subsets of its
#: Table 3; used by Bosse et al. Table VI), by TID2013 type number (adapters.tid2013.NATIVE_NAMES).  The TID2013
#: paper is not among ../shared/papers: this membership is our reading of it and should be checked against it.
TID2013_GROUPS: dict[str, tuple[int, ...]] = {
    "Noise": (1, 2, 3, 4, 5, 6, 19),
    "Actual": (1, 3, 4, 5, 6, 8, 9, 10, 11, 19, 21),
    "Simple": (1, 8, 10, 11),
    "Exotic": (12, 13, 14, 15, 16, 17),
    "New": (18, 19, 20, 21, 22, 23, 24),
    "Color": (2, 7, 10, 18, 22, 23),
}


def cell_matrix(values: pd.Series, rows: Sequence[Any], cols: Sequence[Any]) -> np.ndarray:
    """``values`` indexed by unique ``(row, col)`` pairs as a ``len(rows) x len(cols)`` float matrix,
    NaN where a pair has no value."""
    full = pd.MultiIndex.from_product([list(rows), list(cols)])
    return values.reindex(full).to_numpy(dtype=float).reshape(len(rows), len(cols))


def group_srocc_table(group_scores: pd.DataFrame, *, title: str, caption: str = "",
                      method_order: Sequence[str] | None = None) -> Table:
    """Methods x groups from tidy rows ``method, label, group, column, value`` (e.g. TID2013 groups)."""
    methods, labels, groups = _method_rows(group_scores.drop_duplicates("method"), method_order)
    cols = list(dict.fromkeys(group_scores["column"]))
    vals = cell_matrix(group_scores.set_index(["method", "column"])["value"], methods, cols)
    return Table(title, caption, labels, [(c, "") for c in cols], vals, groups)
