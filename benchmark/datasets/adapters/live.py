"""LIVE Image Quality Assessment Database, Release 2 (Sheikh, Sabir, Bovik, TIP 2006).

Native layout (``databaserelease2/``)::

    refimgs/<name>.bmp                      29 references
    jp2k/ jpeg/ wn/ gblur/ fastfading/      img<i>.bmp, i = 1..227 / 233 / 174 / 174 / 174
    <type>/info.txt                         "<ref>.bmp img<i>.bmp <parameter>" per line
    dmos.mat                                dmos (1x982), orgs (1x982)
    dmos_realigned.mat                      dmos_new, dmos_std, orgs (1x982)
    refnames_all.mat                        refnames_all (1x982 cell): reference of entry i

Entry ``i`` of the 982-long arrays is, in order, ``jp2k/img1..227``, ``jpeg/img1..233``,
``wn/img1..174``, ``gblur/img1..174``, ``fastfading/img1..174`` (release readme).

Conventions: the score is the **realigned** DMOS (``dmos_realigned.mat``, ``dmos_new``)
by default, the scale the LIVE authors recommend for pooling the five sessions;
``dmos="dmos.mat"`` selects the original DMOS.  Entries with ``orgs == 1`` are copies of
the references inside the distortion folders; they are dropped (779 distorted images
remain).  DMOS: lower is better.  ``dist_level`` is the distortion parameter of
``<type>/info.txt`` (JPEG 2000 / JPEG: bit rate in bpp; wn: noise sigma; gblur: Gaussian
sigma; fastfading: channel SNR) when that file is present, else NaN; it is not an
ordinal 1..5 level.  Content id: the reference name without extension.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..base import DatasetInfo, DatasetError, make_records, register_dataset
from ._common import locate, mat_numbers, mat_strings, read_mat, score_file
from .vocabulary import check_mapping

__all__ = ["load_live", "DISTORTION_NAMES", "FOLDERS"]

#: folder -> number of entries, in the order of the 982-long score arrays
FOLDERS: tuple[tuple[str, int], ...] = (("jp2k", 227), ("jpeg", 233), ("wn", 174), ("gblur", 174),
                                        ("fastfading", 174))
DISTORTION_NAMES = {"jp2k": "jpeg2000", "jpeg": "jpeg", "wn": "white_noise", "gblur": "gaussian_blur",
                    "fastfading": "fast_fading"}
check_mapping(DISTORTION_NAMES, "live")

_SCORE_VARS = {"dmos_realigned.mat": "dmos_new", "dmos.mat": "dmos"}


def _info_parameters(folder: Path) -> dict[str, float]:
    """``img<i>.bmp`` (lower case) -> distortion parameter, from ``folder/info.txt`` if present."""
    p = locate([folder], "info.txt")
    out: dict[str, float] = {}
    if not p.is_file():
        return out
    for line in p.read_text(errors="replace").splitlines():
        tok = line.split()
        for j, t in enumerate(tok):
            if re.fullmatch(r"img\d+\.bmp", t, flags=re.I) and j + 1 < len(tok):
                try:
                    out[t.lower()] = float(tok[j + 1])
                except ValueError:
                    pass
                break
    return out


def load_live(root: Path, dmos: str = "dmos_realigned.mat") -> pd.DataFrame:
    """Records of LIVE Release 2 (779 distorted images; DMOS, lower is better)."""
    root = Path(root)
    if dmos not in _SCORE_VARS:
        raise ValueError(f"live: dmos must be one of {sorted(_SCORE_VARS)}, got {dmos!r}")
    score_path = score_file("live", root, [dmos])
    names_path = score_file("live", root, ["refnames_all.mat"], what="reference-name file")
    var = _SCORE_VARS[dmos]
    scores = read_mat("live", root, score_path, [var, "orgs"])
    score = mat_numbers(scores[var])
    orgs = mat_numbers(scores["orgs"])
    refnames = mat_strings(read_mat("live", root, names_path, ["refnames_all"])["refnames_all"])
    total = sum(n for _, n in FOLDERS)
    sizes = {f"{score_path.name}:{var}": score.size, f"{score_path.name}:orgs": orgs.size,
             "refnames_all.mat:refnames_all": len(refnames)}
    bad = [f"{k} has {v} entries, expected {total}" for k, v in sizes.items() if v != total]
    if bad:
        raise DatasetError("live", root, bad)

    refdir = root / "refimgs"
    rows = []
    i = 0
    for folder, n in FOLDERS:
        fdir = locate([root], folder)
        params = _info_parameters(fdir)
        for k in range(1, n + 1):
            if orgs[i] != 1:
                name = f"img{k}.bmp"
                ref = refnames[i]
                rows.append({"image": locate([fdir], name), "ref": locate([refdir], ref), "score": score[i],
                             "higher_better": False, "dist_type": DISTORTION_NAMES[folder],
                             "dist_level": params.get(name, np.nan), "content": Path(ref).stem})
            i += 1
    return make_records(rows, "live")


register_dataset(DatasetInfo(
    name="live", loader=load_live, title="LIVE IQA Database Release 2",
    dirname="databaserelease2", kind="synthetic", has_reference=True, higher_better=False,
    score_range=(0.0, 100.0), official_split=False,
    paper="H.R. Sheikh, M.F. Sabir, A.C. Bovik, 'A statistical evaluation of recent full reference image "
          "quality assessment algorithms', IEEE TIP 15(11), 2006",
    notes="779 distorted images of 29 references, 5 types. Score: realigned DMOS (dmos_realigned.mat, "
          "dmos_new) by default, dmos='dmos.mat' for the original; reference copies (orgs==1) dropped; "
          "lower is better. dist_level = the info.txt distortion parameter (not ordinal).",
    aliases=("live2", "live_iqa", "liveiqa", "LIVEIQA_release2", "LIVE", "live_release2"),
))
