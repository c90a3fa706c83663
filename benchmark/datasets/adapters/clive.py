"""LIVE In the Wild Image Quality Challenge Database (Ghadiyaram and Bovik, TIP 2016).

Native layout (``ChallengeDB_release/``)::

    Data/AllImages_release.mat     AllImages_release (1169x1 cell of file names)
    Data/AllMOS_release.mat        AllMOS_release (1x1169), same order
    Images/*.bmp|*.JPG             the 1162 test images
    Images/trainingImages/t1..t7.bmp

The first 7 entries (``t1.bmp`` .. ``t7.bmp``) are the images used to train the human
subjects before the study (release README).  By default they are left out, leaving the
1162 test images the papers report (Kim et al. 2017, Table II; Ghadiyaram and Bovik);
``include_training=True`` keeps them (1169 images; on the command line
``--dataset-option clive.include_training=true``).  They have no relation to any
machine-learning split: ``split`` is ``""`` for all.
Images are looked up in ``Images/`` then ``Images/trainingImages/`` (case-insensitive).
MOS in [0, 100], higher is better.  Content id: the image stem (no scenes).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..base import DatasetError, DatasetInfo, make_records, register_dataset
from ._common import locate, mat_numbers, mat_strings, read_mat, score_file

__all__ = ["load_clive", "DISTORTION_NAMES", "N_TRAINING"]

DISTORTION_NAMES: dict[str, str] = {}   # authentic distortions: no types
N_TRAINING = 7


def load_clive(root: Path, include_training: bool = False) -> pd.DataFrame:
    """Records of CLIVE: the 1162 test images (1169 with the 7 subject-training images)."""
    root = Path(root)
    names_path = score_file("clive", root, ["Data/AllImages_release.mat"], what="image-name file")
    mos_path = score_file("clive", root, ["Data/AllMOS_release.mat"])
    names = mat_strings(read_mat("clive", root, names_path, ["AllImages_release"])["AllImages_release"])
    mos = mat_numbers(read_mat("clive", root, mos_path, ["AllMOS_release"])["AllMOS_release"])
    if len(names) != mos.size:
        raise DatasetError("clive", root, [f"{names_path.name} lists {len(names)} images but "
                                           f"{mos_path.name} has {mos.size} scores"])
    imgdir = locate([root], "Images")
    folders = [imgdir, locate([imgdir], "trainingImages")]
    rows = []
    for i, (name, score) in enumerate(zip(names, mos)):
        if i < N_TRAINING and not include_training:
            continue
        order = folders[::-1] if i < N_TRAINING else folders
        rows.append({"image": locate(order, name), "score": score, "higher_better": True,
                     "content": Path(name).stem})
    return make_records(rows, "clive")


register_dataset(DatasetInfo(
    name="clive", loader=load_clive, title="LIVE In the Wild Image Quality Challenge",
    dirname="ChallengeDB_release", kind="authentic", has_reference=False, higher_better=True,
    score_range=(0.0, 100.0), official_split=False,
    paper="D. Ghadiyaram, A.C. Bovik, 'Massive online crowdsourced study of subjective and objective "
          "picture quality', IEEE TIP 25(1), 2016",
    notes="the 1162 test images (the papers' set); the 7 subject-training images t1..t7 "
          "(Images/trainingImages/) with include_training=True (1169); MOS 0..100, higher is better; "
          "no official split.",
    aliases=("livec", "live_challenge", "LIVEChallenge", "livechallenge", "ChallengeDB", "CLIVE"),
))
