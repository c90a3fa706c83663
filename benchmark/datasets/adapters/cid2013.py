"""CID2013 camera image database (Virtanen et al., IEEE TIP 24(1), 2015).

Native layout (``CID2013/``)::

    CID2013 data - version 12112014.xlsx   sheet "CID2013 MOS": Source_ID, ..., Realigned MOS,
                                           sharpness, graininess, lightness, ...
    IS1/co1/IS_I_C01_D01.jpg ...           six image sets IS1..IS6, scene folders co1..co6

The score table lists 474 images by ``Source_ID`` (``IS_<set>_C<scene>_D<device>``, set in
Roman numerals), found anywhere below the root as ``<Source_ID>.jpg`` (case-insensitive).
It is read from the xlsx (needs openpyxl) or from a CSV export of the "CID2013 MOS" sheet
(same stem, ``.csv``); ``scores=`` names another file.  Score: ``mos="realigned"``
(default, the ``Realigned MOS`` column that puts the six sets on one 0..100 scale) or
``mos="set"`` (the image-set-specific MOS, comparable only within a set).  Higher is
better.  Content id: image set + scene (``IS_I_C01``): every device photographed each
scene of its set, so a scene is the content; without a parsable ``Source_ID`` the image's
folder below the root (``IS1/co1``) is used.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ..base import DatasetInfo, make_records, register_dataset
from ._common import cell_str, column, image_index, read_table, score_file

__all__ = ["load_cid2013", "DISTORTION_NAMES", "SCORE_FILES"]

DISTORTION_NAMES: dict[str, str] = {}
SCORE_FILES = ("CID2013 data - version 12112014.csv", "CID2013 data - version 12112014.xlsx")
_ID = re.compile(r"^(IS_[IVX]+_C\d+)_D\d+$", re.IGNORECASE)


def _find_scores(root: Path) -> list[str]:
    """The release's score file name first, then any ``CID2013 data*`` csv/xlsx at the root."""
    extra = sorted(p.name for p in root.glob("*") if p.is_file() and p.name.lower().startswith("cid2013 data")
                   and p.suffix.lower() in (".csv", ".xlsx")) if root.is_dir() else []
    extra.sort(key=lambda n: not n.lower().endswith(".csv"))
    return list(dict.fromkeys([*SCORE_FILES, *extra]))


def load_cid2013(root: Path, mos: str = "realigned", scores: str | None = None) -> pd.DataFrame:
    """Records of CID2013 (474 scored camera images; MOS, higher is better)."""
    root = Path(root)
    if mos not in ("realigned", "set"):
        raise ValueError(f"cid2013: mos must be 'realigned' or 'set', got {mos!r}")
    path = score_file("cid2013", root, _find_scores(root), given=scores)
    table = read_table("cid2013", root, path, sheet="CID2013 MOS", header_has=("Source_ID",))
    c_id = column("cid2013", root, path, table, "Source_ID")
    c_mos = column("cid2013", root, path, table, "Realigned MOS") if mos == "realigned" else \
        column("cid2013", root, path, table, "Image set specific MOS", "Image set MOS", "MOS")
    index = image_index(root, (".jpg", ".jpeg"))
    rows = []
    for _, r in table.iterrows():
        sid = cell_str(r[c_id])
        if not sid:
            continue
        img = index.get(sid.lower(), root / f"{sid}.jpg")
        m = _ID.match(sid)
        if m:
            content = m.group(1).upper()
        elif img.exists():
            content = img.parent.relative_to(root).as_posix()
        else:
            content = sid
        rows.append({"image": img, "score": pd.to_numeric(r[c_mos], errors="coerce"), "higher_better": True,
                     "content": content})
    return make_records(rows, "cid2013")


register_dataset(DatasetInfo(
    name="cid2013", loader=load_cid2013, title="CID2013 camera image database", dirname="CID2013",
    kind="authentic", has_reference=False, higher_better=True, score_range=(0.0, 100.0), official_split=False,
    paper="T. Virtanen, M. Nuutinen, M. Vaahteranoksa, P. Oittinen, J. Hakkinen, 'CID2013: a database for "
          "evaluating no-reference image quality assessment algorithms', IEEE TIP 24(1), 2015",
    notes="474 scored images of 79 devices in six image sets; Realigned MOS (mos='set' for the per-set MOS), "
          "higher is better; content = image set + scene; xlsx needs openpyxl, or a CSV export.",
    aliases=("cid", "cid-2013"),
))
