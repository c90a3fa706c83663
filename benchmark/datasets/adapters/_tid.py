"""The Tampere Image Database layout, shared by TID2008 and TID2013.

Native layout (``tid2008/`` or ``tid2013/``)::

    reference_images/I01.BMP .. I25.BMP            (case varies: i25.bmp)
    distorted_images/i01_01_1.bmp ...               i<ref>_<type>_<level>.bmp (case varies)
    mos_with_names.txt                              "<MOS> <name>" per line (CRLF)
    mos.txt                                         MOS only, same order

Names in ``mos_with_names.txt`` mix ``I01``/``i01`` and ``.bmp``/``.BMP``; files are looked
up case-insensitively.  Without ``mos_with_names.txt`` the names are generated for
``mos.txt`` in the release order (reference, then type, then level, all ascending); the
line count must then match.  MOS: higher is better.  Content id: ``I01`` .. ``I25``.
Level: 1 (mildest) .. 4 (TID2008) / 5 (TID2013).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

import pandas as pd

from ..base import DatasetError, make_records
from ._common import locate, score_file

_NAME = re.compile(r"^i(\d{2})_(\d{2})_(\d)\.bmp$", re.IGNORECASE)


def _parse_with_names(dataset: str, root: Path, path: Path) -> list[tuple[float, str]]:
    out, problems = [], []
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    for n, line in enumerate(text.splitlines(), 1):
        tok = line.split()
        if not tok:
            continue
        try:
            if len(tok) != 2:
                raise ValueError
            out.append((float(tok[0]), tok[1]))
        except ValueError:
            problems.append(f"{path}: line {n} is not '<MOS> <image name>': {line.strip()!r}")
    if problems:
        raise DatasetError(dataset, root, problems)
    return out


def _parse_mos_only(dataset: str, root: Path, path: Path, n_refs: int, n_types: int,
                    n_levels: int) -> list[tuple[float, str]]:
    vals = []
    for n, line in enumerate(path.read_text(encoding="utf-8-sig", errors="replace").splitlines(), 1):
        if line.strip():
            try:
                vals.append(float(line.split()[0]))
            except ValueError:
                raise DatasetError(dataset, root, [f"{path}: line {n} is not a number: {line.strip()!r}"])
    expected = n_refs * n_types * n_levels
    if len(vals) != expected:
        raise DatasetError(dataset, root, [f"{path}: {len(vals)} scores, expected {expected} (without "
                                           f"mos_with_names.txt the names follow the release order)"])
    names = [f"i{r:02d}_{t:02d}_{lv}.bmp" for r in range(1, n_refs + 1) for t in range(1, n_types + 1)
             for lv in range(1, n_levels + 1)]
    return list(zip(vals, names))


def load_tid(dataset: str, root: Path, type_names: Mapping[int, str], n_levels: int,
             n_refs: int = 25) -> pd.DataFrame:
    """Records of a TID release (``type_names``: native type number -> canonical name)."""
    root = Path(root)
    try:
        path = score_file(dataset, root, ["mos_with_names.txt"])
        entries = _parse_with_names(dataset, root, path)
    except DatasetError as first:
        if not any("not found" in p for p in first.problems):
            raise
        try:
            path = score_file(dataset, root, ["mos.txt"])
        except DatasetError as second:
            raise DatasetError(dataset, root, first.problems + second.problems) from None
        entries = _parse_mos_only(dataset, root, path, n_refs, len(type_names), n_levels)
    refdir, distdir = locate([root], "reference_images"), locate([root], "distorted_images")
    rows, problems = [], []
    for mos, name in entries:
        m = _NAME.match(name)
        if not m:
            problems.append(f"{path}: image name {name!r} is not i<ref>_<type>_<level>.bmp")
            continue
        ref_no, type_no, level = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if type_no not in type_names:
            problems.append(f"{path}: {name}: distortion type {type_no} outside 1..{len(type_names)}")
            continue
        content = f"I{ref_no:02d}"
        rows.append({"image": locate([distdir], name), "ref": locate([refdir], f"{content}.BMP"), "score": mos,
                     "higher_better": True, "dist_type": type_names[type_no], "dist_level": level,
                     "content": content})
    if problems:
        raise DatasetError(dataset, root, problems)
    return make_records(rows, dataset)
