"""SPAQ smartphone photography attribute and quality database (Fang et al., CVPR 2020).

Native layout (``SPAQ/``)::

    Annotations/MOS and Image attribute scores.xlsx   Image name, MOS, Brightness, Colorfulness,
                                                      Contrast, Noisiness, Sharpness
    TestImage/00001.jpg .. 11125.jpg

The table is read from the xlsx (needs openpyxl) or from a CSV export beside it
(``MOS and Image attribute scores.csv``, in ``Annotations/`` or the root).  MOS in
[0, 100], higher is better.  ``image_dir`` selects another image folder (e.g. a resized
copy).  Content id: the image stem (no scenes).  No official split.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..base import DatasetInfo, make_records, register_dataset
from ._common import cell_str, column, locate, read_table, score_file

__all__ = ["load_spaq", "DISTORTION_NAMES", "SCORE_FILES"]

DISTORTION_NAMES: dict[str, str] = {}
SCORE_FILES = ("Annotations/MOS and Image attribute scores.csv", "MOS and Image attribute scores.csv",
               "Annotations/MOS and Image attribute scores.xlsx", "MOS and Image attribute scores.xlsx")


def load_spaq(root: Path, image_dir: str = "TestImage", scores: str | None = None) -> pd.DataFrame:
    """Records of SPAQ (11125 smartphone photos; MOS 0..100, higher is better)."""
    root = Path(root)
    path = score_file("spaq", root, SCORE_FILES, given=scores)
    table = read_table("spaq", root, path, header_has=("Image name", "MOS"))
    c_name = column("spaq", root, path, table, "Image name")
    c_mos = column("spaq", root, path, table, "MOS")
    imgdir = locate([root], image_dir)
    rows = []
    for _, r in table.iterrows():
        name = cell_str(r[c_name])
        if name:
            rows.append({"image": locate([imgdir], name), "score": pd.to_numeric(r[c_mos], errors="coerce"),
                         "higher_better": True, "content": Path(name).stem})
    return make_records(rows, "spaq")


register_dataset(DatasetInfo(
    name="spaq", loader=load_spaq, title="SPAQ smartphone photography quality", dirname="SPAQ",
    kind="authentic", has_reference=False, higher_better=True, score_range=(0.0, 100.0), official_split=False,
    paper="Y. Fang, H. Zhu, Y. Zeng, K. Ma, Z. Wang, 'Perceptual quality assessment of smartphone "
          "photography', CVPR 2020",
    notes="11125 smartphone photos, MOS 0..100, higher is better; scores from the Annotations xlsx "
          "(openpyxl) or its CSV export; no official split.",
    aliases=("spaq-database",),
))
