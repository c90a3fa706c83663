"""KADID-10k (Lin, Hosu, Saupe, QoMEX 2019).

Native layout (``kadid10k/``)::

    images/I01.png .. I81.png               references
    images/I01_01_01.png ...                I<ref>_<type>_<level>.png, 81 x 25 x 5 = 10125
    dmos.csv                                dist_img, ref_img, dmos, var

Score direction: the column is called ``dmos`` but it is the mean of degradation category
ratings on 1 (very annoying) .. 5 (imperceptible), so **higher is better** (MOS-like).
Level: 1 (mildest) .. 5.  Content id: the reference stem (``I01``).  Type numbers follow
the KADID-10k paper (Table 1).
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ..base import DatasetError, DatasetInfo, make_records, register_dataset
from ._common import cell_str, column, locate, read_table, score_file
from .vocabulary import check_mapping

__all__ = ["load_kadid10k", "DISTORTION_NAMES", "NATIVE_NAMES"]

NATIVE_NAMES = {
    1: "gaussian blur", 2: "lens blur", 3: "motion blur", 4: "color diffusion", 5: "color shift",
    6: "color quantization", 7: "color saturation 1", 8: "color saturation 2", 9: "jpeg2000", 10: "jpeg",
    11: "white noise", 12: "white noise in color component", 13: "impulse noise", 14: "multiplicative noise",
    15: "denoise", 16: "brighten", 17: "darken", 18: "mean shift", 19: "jitter", 20: "non-eccentricity patch",
    21: "pixelate", 22: "quantization", 23: "color block", 24: "high sharpen", 25: "contrast change",
}
DISTORTION_NAMES = {
    1: "gaussian_blur", 2: "lens_blur", 3: "motion_blur", 4: "color_diffusion", 5: "color_shift",
    6: "color_quantization", 7: "saturation", 8: "saturation_2", 9: "jpeg2000", 10: "jpeg", 11: "white_noise",
    12: "color_noise", 13: "impulse_noise", 14: "multiplicative_noise", 15: "denoising", 16: "brighten",
    17: "darken", 18: "mean_shift", 19: "jitter", 20: "non_eccentricity_pattern", 21: "pixelate",
    22: "quantisation", 23: "block_distortion", 24: "sharpen", 25: "contrast",
}
check_mapping(DISTORTION_NAMES, "kadid10k")

_NAME = re.compile(r"^(I\d+)_(\d+)_(\d+)\.png$", re.IGNORECASE)


def load_kadid10k(root: Path) -> pd.DataFrame:
    """Records of KADID-10k (10125 distorted images; score 1..5, higher is better)."""
    root = Path(root)
    path = score_file("kadid10k", root, ["dmos.csv"])
    table = read_table("kadid10k", root, path, header_has=("dist_img", "dmos"))
    c_dist = column("kadid10k", root, path, table, "dist_img")
    c_ref = column("kadid10k", root, path, table, "ref_img")
    c_score = column("kadid10k", root, path, table, "dmos")
    imgdir = locate([root], "images")
    rows, problems = [], []
    for i, r in table.iterrows():
        name, ref = cell_str(r[c_dist]), cell_str(r[c_ref])
        m = _NAME.match(name)
        if not m or int(m.group(2)) not in DISTORTION_NAMES:
            problems.append(f"{path}: row {i + 1}: {name!r} is not I<ref>_<type 01..25>_<level>.png")
            continue
        rows.append({"image": locate([imgdir], name), "ref": locate([imgdir], ref),
                     "score": pd.to_numeric(r[c_score], errors="coerce"), "higher_better": True,
                     "dist_type": DISTORTION_NAMES[int(m.group(2))], "dist_level": int(m.group(3)),
                     "content": Path(ref).stem.upper()})
    if problems:
        raise DatasetError("kadid10k", root, problems)
    return make_records(rows, "kadid10k")


register_dataset(DatasetInfo(
    name="kadid10k", loader=load_kadid10k, title="KADID-10k artificially distorted IQA",
    dirname="kadid10k", kind="synthetic", has_reference=True, higher_better=True, score_range=(1.0, 5.0),
    official_split=False,
    paper="H. Lin, V. Hosu, D. Saupe, 'KADID-10k: a large-scale artificially distorted IQA database', "
          "QoMEX 2019",
    notes="10125 distorted images (81 references x 25 types x 5 levels). The 'dmos' column is a mean "
          "degradation category rating on 1..5 (5 = imperceptible): higher is better.",
    aliases=("kadid-10k", "KADID10k", "kadid"),
))
