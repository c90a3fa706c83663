"""BIQ2021 blind image quality database (Ahmed et al., J. Electron. Imaging 31(5), 2022).

Native layout (``BIQ2021/``)::

    Images/ss01 (1).jpg ...                12000 photos in three subsets ss01/ss02/ss03
    Train (Images and MOS).csv             "Image Name,MOS" (+ two empty trailing columns)
    Test (Images and MOS).csv              "Image Name,MOS"

The two CSVs are the official split (``split`` = ``train`` / ``test``).  Empty trailing
columns are ignored; names that differ in case from the files (``ss02 (1014).jpg`` vs
``.JPG``) are matched case-insensitively.  MOS in [0, 1], higher is better.  Content id:
the image stem (no scenes).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..base import DatasetError, DatasetInfo, make_records, register_dataset
from ._common import cell_str, column, locate, read_table, score_file

__all__ = ["load_biq2021", "DISTORTION_NAMES", "SPLIT_FILES"]

DISTORTION_NAMES: dict[str, str] = {}
SPLIT_FILES = {"train": "Train (Images and MOS).csv", "test": "Test (Images and MOS).csv"}


def load_biq2021(root: Path) -> pd.DataFrame:
    """Records of BIQ2021 with the official train/test split."""
    root = Path(root)
    paths, problems = {}, []
    for split, fname in SPLIT_FILES.items():
        try:
            paths[split] = score_file("biq2021", root, [fname])
        except DatasetError as exc:
            problems += exc.problems
    if problems:
        raise DatasetError("biq2021", root, problems)
    imgdir = locate([root], "Images")
    rows = []
    for split, path in paths.items():
        table = read_table("biq2021", root, path, header_has=("Image Name", "MOS"))
        c_name = column("biq2021", root, path, table, "Image Name")
        c_mos = column("biq2021", root, path, table, "MOS")
        for _, r in table.iterrows():
            name = cell_str(r[c_name])
            if name:
                rows.append({"image": locate([imgdir], name), "score": pd.to_numeric(r[c_mos], errors="coerce"),
                             "higher_better": True, "content": Path(name).stem, "split": split})
    return make_records(rows, "biq2021")


register_dataset(DatasetInfo(
    name="biq2021", loader=load_biq2021, title="BIQ2021 blind image quality database", dirname="BIQ2021",
    kind="authentic", has_reference=False, higher_better=True, score_range=(0.0, 1.0), official_split=True,
    paper="N. Ahmed, H.M.S. Asif, A.R. Bhatti, A. Khan, 'Deep ensembling for perceptual image quality "
          "assessment', Soft Computing 26, 2022; BIQ2021 database, J. Electron. Imaging 2022",
    notes="12000 photos (three subsets), MOS 0..1 from 30 observers, higher is better; official train/test "
          "CSVs (extra empty columns ignored; case-insensitive file names).",
    aliases=("biq-2021", "biq", "BIQ2021-dev"),
))
