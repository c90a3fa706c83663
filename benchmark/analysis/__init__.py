"""Analyses beyond the survey tables (issue 17), written by every run beside its tables.

* :mod:`.significance`: paired tests between methods (Wilcoxon over splits, paired bootstrap
  over test images), Holm-corrected, as 1 / 0 / -1 matrices; 95% intervals of the medians;
* :mod:`.severity`: sensitivity to the distortion level on the same picture (Bianco et al.);
* :mod:`.recognition`: distortion-type classification from each feature set;
* :mod:`.shapes`: the papers' other table shapes (PLCC cross matrix, best one-vs-one,
  per-distortion cross-dataset columns, TID2013 groups);
* :mod:`.sweep`: ``python -m benchmark sweep`` (one parameter of one method over values);
* :mod:`.crops`: per-crop CNN features for the crop-count and aggregation sweeps.

:func:`write_analyses` is the one entry point of :func:`benchmark.report.write_all`.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["write_analyses"]


def write_analyses(out: Path, results: list, metrics: pd.DataFrame, summary: pd.DataFrame, meta: dict[str, Any],
                   plots: bool = True) -> list[Path]:
    """Write the analysis tables (``tables/<name>.md|.tex|.csv``, ``analyses.md|.tex``), their CSVs and
    plots; add ``srocc_ci_low/high`` to ``summary.csv``; time each part in ``analyses.json``."""
    from ..storage import atomic_to_csv, atomic_write_text
    from . import render as rep

    out = Path(out)
    files: list[Path] = []
    timings: dict[str, float] = {}
    tables: list[tuple[str, Any, pd.DataFrame | None]] = []
    notes: list[str] = []
    if metrics is None or metrics.empty:
        return files

    def timed(name, default, fn, *a, **k):
        """Run one analysis; a failure is reported in analyses.json, never ends the run."""
        t0 = time.perf_counter()
        try:
            return fn(*a, **k)
        except Exception as exc:  # noqa: BLE001 - an analysis must not lose the run's tables
            notes.append(f"{name} failed: {type(exc).__name__}: {exc}")
            return default
        finally:
            timings[name] = round(time.perf_counter() - t0, 3)

    ci = timed("intervals", pd.DataFrame(), rep.intervals, results)
    if not ci.empty and summary is not None and not summary.empty:
        s = summary.drop(columns=[c for c in ("srocc_ci_low", "srocc_ci_high") if c in summary.columns])
        s = s.merge(ci.rename(columns={"test_set": "_ts"}), how="left",
                    left_on=["method", "test_set"], right_on=["method", "_ts"]).drop(columns="_ts")
        s.loc[s["plan"] != "within", ["srocc_ci_low", "srocc_ci_high"]] = np.nan
        files.append(atomic_to_csv(s, out / "summary.csv"))
    cfg = meta.get("config", {}) if meta else {}
    tables += timed("significance", [], rep.significance_tables, results, metrics, cfg)
    sev_tables, sev_frame = timed("severity", ([], None), rep.severity_tables, results)
    tables += sev_tables
    rec_tables, rec_result, rec_notes = timed("recognition", ([], None, []), rep.recognition_tables, metrics, cfg)
    tables += rec_tables
    notes += rec_notes
    tables += timed("shapes", [], rep.shape_tables, results, summary)
    md = ["# iqabench analyses", ""]
    tex = ["% iqabench analyses (generated; do not edit)", "% needs \\usepackage{booktabs}", ""]
    for stem, t, frame in tables:
        files.append(atomic_write_text(out / "tables" / f"{stem}.md", t.to_markdown()))
        files.append(atomic_write_text(out / "tables" / f"{stem}.tex", t.to_latex()))
        files.append(atomic_to_csv(frame if frame is not None else t.to_frame().reset_index(names="row"),
                                   out / "tables" / f"{stem}.csv"))
        md.append(t.to_markdown())
        tex.append(t.to_latex())
    if tables:
        files.append(atomic_write_text(out / "analyses.md", "\n".join(md)))
        files.append(atomic_write_text(out / "analyses.tex", "\n".join(tex)))
    if sev_frame is not None and not sev_frame.empty:
        files.append(atomic_to_csv(sev_frame, out / "severity.csv"))
    if rec_result is not None and not rec_result.accuracy.empty:
        files.append(atomic_to_csv(rec_result.accuracy, out / "recognition.csv"))
        files.append(atomic_to_csv(rec_result.confusion, out / "recognition_confusion.csv"))
    if plots:
        files += timed("plots", [], rep.plots, out / "plots", sev_frame, rec_result)
    files.append(atomic_write_text(out / "analyses.json", json.dumps(
        {"seconds": timings, "total_seconds": round(sum(timings.values()), 3), "notes": notes}, indent=1)))
    return files
