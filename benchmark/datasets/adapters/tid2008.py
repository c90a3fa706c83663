"""TID2008 (Ponomarenko et al., Adv. Modern Radioelectronics 10, 2009).

1700 distorted images: 25 references x 17 types x 4 levels; MOS in [0, 9] (higher is
better).  Same layout as TID2013 (:mod:`._tid`); types 1..17 are TID2013's first 17.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..base import DatasetInfo, register_dataset
from . import tid2013
from ._tid import load_tid
from .vocabulary import check_mapping

__all__ = ["load_tid2008", "DISTORTION_NAMES", "NATIVE_NAMES"]

NATIVE_NAMES = {k: v for k, v in tid2013.NATIVE_NAMES.items() if k <= 17}
NATIVE_NAMES[2] = "Additive noise in color components"
DISTORTION_NAMES = {k: v for k, v in tid2013.DISTORTION_NAMES.items() if k <= 17}
check_mapping(DISTORTION_NAMES, "tid2008")


def load_tid2008(root: Path) -> pd.DataFrame:
    """Records of TID2008 (1700 distorted images; MOS, higher is better)."""
    return load_tid("tid2008", root, DISTORTION_NAMES, n_levels=4)


register_dataset(DatasetInfo(
    name="tid2008", loader=load_tid2008, title="Tampere Image Database 2008", dirname="tid2008",
    kind="synthetic", has_reference=True, higher_better=True, score_range=(0.0, 9.0), official_split=False,
    paper="N. Ponomarenko et al., 'TID2008 - a database for evaluation of full-reference visual quality "
          "assessment metrics', Advances of Modern Radioelectronics 10, 2009",
    notes="1700 distorted images (25 references x 17 types x 4 levels); MOS 0..9, higher is better; "
          "mos_with_names.txt or mos.txt in release order.",
    aliases=("TID2008", "tid-2008"),
))
