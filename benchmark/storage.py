"""Atomic output files and the per-split prediction store.

Every output file is written to a temporary file in the same folder and moved
into place with ``os.replace``, so an interrupted run never leaves a
half-written table, CSV or prediction file.

Predictions are tidy CSVs, one per method x plan x train set x test set x split
(``predictions/<method>/<plan>/<train>__<test>__<split>.csv``), each with a JSON
sidecar holding a fingerprint of what produced it (method, preset, seed,
weights, and the exact train/test image lists) and the method's metadata (label, group,
kind, direction, version: ``python -m benchmark tables`` rebuilds the tables from it, even
for a plugin method it cannot import).  A rerun reuses a file only
when its fingerprint matches, so resuming an interrupted run recomputes only
what is missing, and changing the preset never reuses stale predictions.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["atomic_write_text", "atomic_write_bytes", "atomic_to_csv", "PredictionStore", "fingerprint"]


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; outputs are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_to_csv(df: pd.DataFrame, path: str | os.PathLike, **kw: Any) -> Path:
    kw.setdefault("index", False)
    return atomic_write_text(path, df.to_csv(**kw))


def fingerprint(**parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+\-\[\],]", "_", name)


class PredictionStore:
    """Saved predictions under ``root`` (see module docstring)."""

    COLUMNS = ("image", "content", "dist_type", "dist_level", "y_true", "true_higher_better", "y_pred",
               "pred_higher_better")

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path(self, method: str, plan: str, train: str, test: str, split: str) -> Path:
        return self.root / _safe(method) / _safe(plan) / f"{_safe(train)}__{_safe(test)}__{_safe(split)}.csv"

    def load(self, method: str, plan: str, train: str, test: str, split: str, fp: str) -> pd.DataFrame | None:
        p = self.path(method, plan, train, test, split)
        side = p.with_suffix(".json")
        if not (p.exists() and side.exists()):
            return None
        try:
            meta = json.loads(side.read_text())
            if meta.get("fingerprint") != fp:
                return None
            df = pd.read_csv(p, keep_default_na=False, na_values=[""], dtype={"content": str, "dist_type": str})
            if len(df) != meta.get("n_rows"):
                return None
            df["dist_type"] = df["dist_type"].fillna("")
            if "dist_level" not in df.columns:      # files written before dist_level was saved
                df.insert(df.columns.get_loc("dist_type") + 1, "dist_level", float("nan"))
            return df
        except (OSError, ValueError, json.JSONDecodeError, pd.errors.ParserError):
            return None

    def save(self, df: pd.DataFrame, method: str, plan: str, train: str, test: str, split: str, fp: str,
             failures: dict[str, str] | None = None, train_failures: dict[str, str] | None = None,
             info: dict[str, Any] | None = None) -> Path:
        """Write one prediction file and its sidecar; ``info`` is the method's metadata
        (``MethodInfo.metadata()``: label, group, kind, direction, version, ...), saved so that the
        tables can be rebuilt without the code that registered the method."""
        p = self.path(method, plan, train, test, split)
        atomic_to_csv(df.reindex(columns=list(self.COLUMNS)), p)
        side: dict[str, Any] = {"fingerprint": fp, "n_rows": int(len(df)), "failures": failures or {},
                                "train_failures": train_failures or {}}
        if info is not None:
            side["method"] = info
        atomic_write_text(p.with_suffix(".json"), json.dumps(side, indent=1))
        return p

    def method_info(self, csv: str | os.PathLike) -> dict[str, Any] | None:
        """The method metadata saved beside the prediction file ``csv`` (``None`` for files written
        before it was saved, or an unreadable sidecar)."""
        try:
            meta = json.loads(Path(csv).with_suffix(".json").read_text()).get("method")
        except (OSError, json.JSONDecodeError, AttributeError):
            return None
        return meta if isinstance(meta, dict) and meta.get("name") else None

    def failures(self, method: str, plan: str, train: str, test: str, split: str,
                 key: str = "failures") -> dict[str, str]:
        """Test images that failed (``key="train_failures"``: training images left out)."""
        side = self.path(method, plan, train, test, split).with_suffix(".json")
        try:
            return json.loads(side.read_text()).get(key, {})
        except (OSError, json.JSONDecodeError):
            return {}

    def train_failures(self, method: str, plan: str, train: str, test: str, split: str) -> dict[str, str]:
        return self.failures(method, plan, train, test, split, key="train_failures")
