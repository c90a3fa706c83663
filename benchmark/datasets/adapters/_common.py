"""Helpers shared by the native-layout adapters: score-file lookup and readers.

Every problem is reported as one :class:`~benchmark.datasets.base.DatasetError` that names
the dataset, the root and each missing or unreadable file (image files are checked later,
by :func:`~benchmark.datasets.base.validate_records`).
"""
from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from ..base import DatasetError, find_file

__all__ = ["score_file", "read_mat", "mat_strings", "mat_numbers", "read_table", "column", "cell_str", "resolve",
           "locate", "image_index", "name_str"]


def score_file(dataset: str, root: Path, candidates: Sequence[str | os.PathLike], what: str = "score file",
               given: str | os.PathLike | None = None) -> Path:
    """The first of ``candidates`` (relative to ``root``, matched case-insensitively) that exists.

    ``given`` (an explicit option) overrides the search: absolute, or relative to ``root``.
    Raises one ``DatasetError`` listing every place looked at when none exists.
    """
    root = Path(root)
    if given is not None:
        p = Path(given)
        p = p if p.is_absolute() else root / p
        if p.is_file():
            return p
        raise DatasetError(dataset, root, [f"{p}: {what} not found"])
    tried = []
    for cand in candidates:
        p = resolve(root, cand)
        if p.is_file():
            return p
        tried.append(f"{root / cand}: {what} not found")
    if not root.is_dir():
        tried.insert(0, f"{root}: dataset folder not found")
    raise DatasetError(dataset, root, tried)


def read_mat(dataset: str, root: Path, path: Path, variables: Iterable[str]) -> dict:
    """``scipy.io.loadmat`` with the listed variables required."""
    from scipy.io import loadmat

    try:
        data = loadmat(str(path))
    except Exception as exc:  # corrupt, truncated, v7.3 (HDF5), not a .mat at all
        raise DatasetError(dataset, root, [f"{path}: unreadable MATLAB file ({type(exc).__name__}: {exc})"]) \
            from exc
    missing = [v for v in variables if v not in data]
    if missing:
        have = sorted(k for k in data if not k.startswith("__"))
        raise DatasetError(dataset, root, [f"{path}: lacks variable(s) {missing} (has {have})"])
    return data


def name_str(x: object) -> str:
    """One MATLAB cell entry (nested 1x1 arrays of str) as a plain string."""
    while isinstance(x, np.ndarray):
        if x.size == 0:
            return ""
        if x.dtype.kind == "U" and x.ndim >= 1 and x.size > 1 and all(len(str(c)) == 1 for c in x.ravel()):
            return "".join(str(c) for c in x.ravel())          # char array stored one char per cell
        x = x.ravel()[0]
    return str(x).strip()


def mat_strings(arr: object) -> list[str]:
    """A MATLAB cell array (any shape) or char matrix as a flat list of strings."""
    a = np.asarray(arr)
    if a.dtype.kind == "U":                 # char matrix: one string per row
        return [str(s).strip() for s in a.ravel()]
    return [name_str(e) for e in a.ravel()]


def mat_numbers(arr: object) -> np.ndarray:
    return np.asarray(arr, dtype=np.float64).ravel()


def _xlsx(dataset: str, root: Path, path: Path, sheet: str | None) -> list[tuple[str, pd.DataFrame]]:
    """The sheets to look in for the table: the one named ``sheet`` (matched case- and
    whitespace-insensitively) when the workbook has it, else every sheet in workbook order."""
    try:
        import openpyxl  # noqa: F401
    except ImportError:
        raise DatasetError(dataset, root, [
            f"{path}: reading .xlsx needs openpyxl (pip install openpyxl); or save the sheet"
            f"{' ' + repr(sheet) if sheet else ''} as CSV beside it, named {path.with_suffix('.csv').name!r}"])
    try:
        book = pd.read_excel(path, sheet_name=None, header=None, dtype=object, engine="openpyxl")
    except Exception as exc:
        raise DatasetError(dataset, root, [f"{path}: unreadable spreadsheet ({type(exc).__name__}: {exc})"]) \
            from exc
    sheets = [(str(name), frame) for name, frame in book.items()]
    if sheet is not None:
        named = [(n, f) for n, f in sheets if _norm(n) == _norm(sheet)]
        if named:
            return named
    return sheets


def _text_table(dataset: str, root: Path, path: Path) -> pd.DataFrame:
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise DatasetError(dataset, root, [f"{path}: unreadable ({exc})"]) from exc
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise DatasetError(dataset, root, [f"{path}: empty file"])
    sample = "\n".join(lines[:20])
    if "\t" in sample:
        delim = "\t"
    elif "," in sample or ";" in sample:
        try:
            delim = csv.Sniffer().sniff(sample, delimiters=",;").delimiter
        except csv.Error:
            delim = ","
    else:
        delim = None
    if delim is None:
        rows = [ln.split() for ln in lines]
    else:
        rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delim))
    width = max(len(r) for r in rows)
    return pd.DataFrame([r + [None] * (width - len(r)) for r in rows], dtype=object)


def read_table(dataset: str, root: Path, path: Path, sheet: str | None = None,
               header_has: Sequence[str] = ()) -> pd.DataFrame:
    """A score table from ``.csv``/``.txt``/``.tsv`` or ``.xlsx`` (needs openpyxl).

    The header is the first row (within the first 30) whose cells include every name in
    ``header_has`` (compared case- and whitespace-insensitively); with ``header_has`` empty
    the first row is the header.  From a workbook the table is read from sheet ``sheet`` when
    the workbook has it, else from the first sheet (in workbook order) with such a header row.
    Empty columns and rows are dropped; cells stay strings / objects (convert with
    :func:`column` and ``pd.to_numeric``).
    """
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        sheets = _xlsx(dataset, root, path, sheet)
        where = f" (looked in sheet(s) {[n for n, _ in sheets]})"
    else:
        sheets, where = [("", _text_table(dataset, root, path))], ""
    for _, raw in sheets:
        table = _with_header(raw, header_has)
        if table is not None:
            return table
    raise DatasetError(dataset, root, [f"{path}: no header row with columns {list(header_has)}{where}"])


def _with_header(raw: pd.DataFrame, header_has: Sequence[str]) -> pd.DataFrame | None:
    """``raw`` below its header row (None when no row within the first 30 has every wanted name)."""
    raw = raw.dropna(how="all").dropna(axis=1, how="all")
    raw = raw.loc[:, [not all(_blank(v) for v in raw[c]) for c in raw.columns]]
    raw = raw[[not all(_blank(v) for v in row) for row in raw.itertuples(index=False)]]
    want = [_norm(h) for h in header_has]
    for hdr in range(min(30, len(raw))):
        cells = {_norm(v) for v in raw.iloc[hdr] if not _blank(v)}
        if all(w in cells for w in want):
            names = [str(v).strip() if not _blank(v) else f"_col{j}" for j, v in enumerate(raw.iloc[hdr])]
            body = raw.iloc[hdr + 1:].copy()
            body.columns = names
            return body.reset_index(drop=True)
    return None


def _blank(v: object) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v.strip())


def _norm(v: object) -> str:
    return re.sub(r"\s+", " ", str(v)).strip().lower()


def column(dataset: str, root: Path, path: Path, table: pd.DataFrame, *names: str,
           required: bool = True) -> str | None:
    """The column of ``table`` whose header equals one of ``names`` (case/space-insensitive)."""
    lookup = {_norm(c): c for c in table.columns}
    for n in names:
        if _norm(n) in lookup:
            return lookup[_norm(n)]
    if required:
        raise DatasetError(dataset, root, [f"{path}: no column named {' / '.join(repr(n) for n in names)} "
                                           f"(columns: {list(table.columns)})"])
    return None


def cell_str(v: object) -> str:
    """A spreadsheet cell as text (``1600.0`` read from Excel becomes ``"1600"``)."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return "" if _blank(v) else str(v).strip()


def resolve(root: Path, relpath: str | os.PathLike) -> Path:
    """``root / relpath`` with every component matched case-insensitively where the exact one is absent."""
    p = Path(root)
    for part in Path(relpath).parts:
        p = find_file(p, part) if p.is_dir() else p / part
    return p


def locate(folders: Sequence[Path], name: str) -> Path:
    """``name`` in the first folder that has it (case-insensitive), else in ``folders[0]``."""
    for f in folders:
        p = find_file(f, name)
        if p.exists():
            return p
    return Path(folders[0]) / name


def image_index(root: Path, suffixes: Sequence[str] = (".jpg", ".jpeg", ".png", ".bmp")) -> dict[str, Path]:
    """Lower-cased file stem -> path for every image below ``root`` (first found wins)."""
    out: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for fn in sorted(filenames):
            p = Path(dirpath) / fn
            if p.suffix.lower() in suffixes:
                out.setdefault(p.stem.lower(), p)
    return out
