"""CSIQ (Larson and Chandler, J. Electron. Imaging 19(1), 2010).

Native layout (``CSIQ/``)::

    src_imgs/<image>.png                          30 references
    dst_imgs/<folder>/<image>.<TAG>.<level>.png   866 distorted images
    csiq.DMOS.xlsx                                sheet "all_by_image": image, dst_idx,
                                                  dst_type, dst_lev, dmos_std, dmos

Folders / file tags per ``dst_type``: noise -> ``awgn/*.AWGN.*``, jpeg -> ``jpeg/*.JPEG.*``,
jpeg 2000 -> ``jpeg2000/*.jpeg2000.*``, fnoise -> ``fnoise/*.fnoise.*``, blur ->
``blur/*.BLUR.*``, contrast -> ``contrast/*.contrast.*`` (matched case-insensitively).

The score table is read from ``csiq.DMOS.xlsx`` (needs openpyxl) or from a CSV / text
export of its ``all_by_image`` sheet (``csiq.DMOS.csv``, ``csiq_dmos.csv``,
``csiq_dmos.txt``; header row found by its column names, or the six columns in the order
above when there is no header).  DMOS in [0, 1], lower is better.  Level: ``dst_lev``
(1..5, 1 = mildest).  Content id: the reference name (``1600``, ``aerial_city`` ...).
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ..base import DatasetError, DatasetInfo, make_records, register_dataset
from ._common import cell_str, column, locate, read_table, score_file
from .vocabulary import check_mapping

__all__ = ["load_csiq", "DISTORTION_NAMES", "SCORE_FILES"]

#: normalised dst_type -> (folder, file tag)
_TYPES = {"noise": ("awgn", "AWGN"), "awgn": ("awgn", "AWGN"), "jpeg": ("jpeg", "JPEG"),
          "jpeg2000": ("jpeg2000", "jpeg2000"), "fnoise": ("fnoise", "fnoise"), "blur": ("blur", "BLUR"),
          "contrast": ("contrast", "contrast")}
DISTORTION_NAMES = {"awgn": "white_noise", "jpeg": "jpeg", "jpeg2000": "jpeg2000", "fnoise": "pink_noise",
                    "blur": "gaussian_blur", "contrast": "contrast"}
check_mapping(DISTORTION_NAMES, "csiq")

SCORE_FILES = ("csiq.DMOS.csv", "csiq_dmos.csv", "csiq.DMOS.txt", "csiq_dmos.txt", "csiq.DMOS.xlsx")
_COLS = ("image", "dst_idx", "dst_type", "dst_lev", "dmos_std", "dmos")


def _table(root: Path, path: Path) -> pd.DataFrame:
    try:
        return read_table("csiq", root, path, sheet="all_by_image", header_has=("image", "dst_lev", "dmos"))
    except DatasetError as exc:
        if path.suffix.lower() in (".xlsx", ".xlsm") or "no header row" not in str(exc):
            raise
    # headerless text export: image dst_idx dst_type dst_lev dmos_std dmos ("jpeg 2000" may be split)
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8-sig", errors="replace").splitlines(), 1):
        tok = line.split("\t") if "\t" in line else line.split()
        tok = [t.strip() for t in tok if t.strip()]
        if not tok:
            continue
        if len(tok) < 6:
            raise DatasetError("csiq", root, [f"{path}: line {n} has {len(tok)} fields, expected 6 "
                                              f"({' '.join(_COLS)})"])
        rows.append([tok[0], tok[1], " ".join(tok[2:-3]), *tok[-3:]])
    return pd.DataFrame(rows, columns=list(_COLS))


def load_csiq(root: Path, scores: str | None = None) -> pd.DataFrame:
    """Records of CSIQ (866 distorted images; DMOS in [0, 1], lower is better).

    ``scores``: path of the score table (default: the first of :data:`SCORE_FILES`).
    """
    root = Path(root)
    path = score_file("csiq", root, SCORE_FILES, given=scores)
    table = _table(root, path)
    c_img = column("csiq", root, path, table, "image")
    c_type = column("csiq", root, path, table, "dst_type")
    c_lev = column("csiq", root, path, table, "dst_lev")
    c_dmos = column("csiq", root, path, table, "dmos")
    src, dst = locate([root], "src_imgs"), locate([root], "dst_imgs")
    rows, problems = [], []
    for i, r in table.iterrows():
        image = cell_str(r[c_img])
        if not image:
            continue
        key = re.sub(r"[\s_-]+", "", cell_str(r[c_type]).lower())
        if key not in _TYPES:
            problems.append(f"{path}: row {i + 1}: unknown dst_type {r[c_type]!r}")
            continue
        folder, tag = _TYPES[key]
        try:
            level = int(float(cell_str(r[c_lev])))
        except ValueError:
            problems.append(f"{path}: row {i + 1}: dst_lev {r[c_lev]!r} is not a number")
            continue
        name = f"{image}.{tag}.{level}.png"
        rows.append({"image": locate([dst / folder], name), "ref": locate([src], f"{image}.png"),
                     "score": pd.to_numeric(r[c_dmos], errors="coerce"), "higher_better": False,
                     "dist_type": DISTORTION_NAMES[folder], "dist_level": level, "content": image})
    if problems:
        raise DatasetError("csiq", root, problems)
    return make_records(rows, "csiq")


register_dataset(DatasetInfo(
    name="csiq", loader=load_csiq, title="CSIQ image quality database", dirname="CSIQ", kind="synthetic",
    has_reference=True, higher_better=False, score_range=(0.0, 1.0), official_split=False,
    paper="E.C. Larson, D.M. Chandler, 'Most apparent distortion: full-reference image quality assessment "
          "and the role of strategy', J. Electron. Imaging 19(1), 2010",
    notes="866 distorted images of 30 references, 6 types (AWGN, JPEG, JPEG 2000, pink noise, blur, "
          "contrast), DMOS in [0, 1], lower is better. Scores from csiq.DMOS.xlsx (openpyxl) or its CSV/text "
          "export.",
    aliases=("csiq_db",),
))
