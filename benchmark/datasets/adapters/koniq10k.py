"""KonIQ-10k (Hosu, Lin, Sziranyi, Saupe, IEEE TIP 2020).

Native layout (``koniq10k/``)::

    koniq10k_distributions_sets.csv        image_name, c1..c5, c_total, MOS, SD, set
    koniq10k_scores_and_distributions.csv  image_name, c1..c5, c_total, MOS, SD, MOS_zscore
    1024x768/*.jpg  or  512x384/*.jpg      (also accepted: koniq10k_1024x768/1024x768/ ...)

``koniq10k_distributions_sets.csv`` (official split: ``set`` = training / validation /
test, 7058 / 1000 / 2015 images) is preferred; with only the scores file the split is empty.
Score (``score="mos"``, default): the 0..100 MOS, i.e. ``MOS`` of the sets file, ``MOS_zscore``
of the scores file (``MOS`` there is on 1..5).  ``score="mos_1to5"``: the mean of the 1..5
ratings, ``sum_k k * c_k`` from the rating distribution.  Higher is better.
``resolution``: ``"1024x768"`` (default, the released size) or ``"512x384"`` (the half-size
release).  Content id: the image stem (no scenes).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..base import DatasetError, DatasetInfo, make_records, register_dataset
from ._common import cell_str, column, locate, read_table, resolve, score_file

__all__ = ["load_koniq10k", "DISTORTION_NAMES", "SPLITS", "RESOLUTIONS"]

DISTORTION_NAMES: dict[str, str] = {}
SPLITS = {"training": "train", "train": "train", "validation": "val", "val": "val", "test": "test"}
RESOLUTIONS = ("1024x768", "512x384")


def _image_dir(root: Path, resolution: str) -> Path:
    for cand in (resolution, f"koniq10k_{resolution}/{resolution}", f"koniq10k_{resolution}", "images"):
        p = resolve(root, cand)
        if p.is_dir():
            return p
    return root / resolution


def load_koniq10k(root: Path, resolution: str = "1024x768", score: str = "mos") -> pd.DataFrame:
    """Records of KonIQ-10k (10073 images, official train/val/test split when available)."""
    root = Path(root)
    if resolution not in RESOLUTIONS:
        raise ValueError(f"koniq10k: resolution must be one of {RESOLUTIONS}, got {resolution!r}")
    if score not in ("mos", "mos_1to5"):
        raise ValueError(f"koniq10k: score must be 'mos' or 'mos_1to5', got {score!r}")
    path = score_file("koniq10k", root, ["koniq10k_distributions_sets.csv", "koniq10k_scores_and_distributions.csv"])
    table = read_table("koniq10k", root, path, header_has=("image_name",))
    c_name = column("koniq10k", root, path, table, "image_name")
    c_set = column("koniq10k", root, path, table, "set", required=False)
    if score == "mos":
        c_zs = column("koniq10k", root, path, table, "MOS_zscore", required=False)
        values = pd.to_numeric(table[c_zs or column("koniq10k", root, path, table, "MOS")], errors="coerce")
    else:
        cols = [column("koniq10k", root, path, table, f"c{k}") for k in range(1, 6)]
        dist = np.column_stack([pd.to_numeric(table[c], errors="coerce") for c in cols])
        values = dist @ np.arange(1, 6) / dist.sum(axis=1)
    split = [""] * len(table)
    if c_set is not None:
        bad = sorted({cell_str(s) for s in table[c_set]} - set(SPLITS))
        if bad:
            raise DatasetError("koniq10k", root, [f"{path}: unknown 'set' values {bad}"])
        split = [SPLITS[cell_str(s)] for s in table[c_set]]
    imgdir = _image_dir(root, resolution)
    names = [cell_str(n) for n in table[c_name]]
    rows = [{"image": locate([imgdir], n), "score": v, "higher_better": True, "content": Path(n).stem, "split": s}
            for n, v, s in zip(names, np.asarray(values, dtype=float), split)]
    return make_records(rows, "koniq10k")


register_dataset(DatasetInfo(
    name="koniq10k", loader=load_koniq10k, title="KonIQ-10k in-the-wild IQA database",
    dirname="koniq10k", kind="authentic", has_reference=False, higher_better=True, score_range=(0.0, 100.0),
    official_split=True,
    paper="V. Hosu, H. Lin, T. Sziranyi, D. Saupe, 'KonIQ-10k: an ecologically valid database for deep "
          "learning of blind image quality assessment', IEEE TIP 29, 2020",
    notes="10073 images; MOS 0..100 (score='mos_1to5' for the 1..5 mean rating); official split from "
          "koniq10k_distributions_sets.csv (7058 train / 1000 val / 2015 test); resolution='1024x768' "
          "or '512x384'.",
    aliases=("koniq-10k", "koniq", "KonIQ10k"),
))
