"""LIVE Multiply Distorted (Jayaraman, Mittal, Moorthy, Bovik, Asilomar 2012).

Native layout (``LIVEmultidistortiondatabase/``, possibly with a ``To_Release/`` level)::

    Part 1/Imagelists.mat      distimgs (225x1 cell), refimgs (15x1 cell), ref4dist (225x1,
                               1-based index into refimgs), distimgdistlevels, ...
    Part 1/Scores.mat          DMOSscores (1x225), Zscores, ...
    Part 1/blurjpeg/*.bmp      references <scene>.bmp and <scene>_blur<k>_jpeg<m>.bmp ...
    Part 2/...                 same, blur followed by noise, images in blurnoise/

Distorted names: ``<scene>_blur<k>.bmp``, ``<scene>_jpeg<m>.bmp`` / ``<scene>_noise<m>.bmp``
(single distortion) and ``<scene>_blur<k>_jpeg<m>.bmp`` / ``<scene>_blur<k>_noise<m>.bmp``
(blur, then JPEG or noise).  ``dist_type``: ``gaussian_blur``, ``jpeg``, ``white_noise`` or the
chains ``gaussian_blur+jpeg`` / ``gaussian_blur+white_noise``; ``dist_level`` is the level
(1..3) of a single distortion and NaN for a chain.  DMOS: lower is better.  Content id: the
scene (reference stem); both parts distort the same 15 scenes, so a scene's images of
both parts share one content id.  All 450 scored entries are kept; Kim et al. (IEEE SPM
2017, Table II) count 405 distorted images, 45 fewer: the blur-only images (15 scenes x 3
levels) appear in both parts, each part with its own DMOS.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..base import DatasetError, DatasetInfo, make_records, register_dataset
from ._common import locate, mat_numbers, mat_strings, read_mat
from .vocabulary import check_mapping, combine

__all__ = ["load_livemd", "DISTORTION_NAMES", "PARTS"]

#: part number -> image folder inside the part
PARTS = {1: "blurjpeg", 2: "blurnoise"}
DISTORTION_NAMES = {"blur": "gaussian_blur", "jpeg": "jpeg", "noise": "white_noise",
                    "blur+jpeg": combine("gaussian_blur", "jpeg"),
                    "blur+noise": combine("gaussian_blur", "white_noise")}
check_mapping(DISTORTION_NAMES, "livemd")

_NAME = re.compile(r"^(?P<scene>.+?)(?P<stages>(?:_(?:blur|jpeg|noise)\d+)+)\.bmp$", re.IGNORECASE)


def _part_dir(root: Path, part: int) -> Path | None:
    for base in (root, root / "To_Release"):
        for name in (f"Part {part}", f"Part{part}", f"part {part}", f"part{part}"):
            p = locate([base], name) if base.is_dir() else base / name
            if p.is_dir():
                return p
    return None


def load_livemd(root: Path, parts: tuple[int, ...] = (1, 2)) -> pd.DataFrame:
    """Records of LIVE-MD (450 images in two parts of 225; DMOS, lower is better)."""
    root = Path(root)
    dirs, problems = {}, []
    for part in parts:
        if part not in PARTS:
            raise ValueError(f"livemd: parts must be drawn from {sorted(PARTS)}, got {parts!r}")
        d = _part_dir(root, part)
        if d is None:
            problems.append(f"{root / f'Part {part}'}: folder not found")
            continue
        dirs[part] = d
        for f in ("Imagelists.mat", "Scores.mat"):
            if not locate([d], f).is_file():
                problems.append(f"{d / f}: score file not found")
    if problems:
        raise DatasetError("livemd", root, problems)

    rows = []
    for part, d in dirs.items():
        lists = read_mat("livemd", root, locate([d], "Imagelists.mat"), ["distimgs"])
        scores = mat_numbers(read_mat("livemd", root, locate([d], "Scores.mat"), ["DMOSscores"])["DMOSscores"])
        dist = mat_strings(lists["distimgs"])
        if len(dist) != scores.size:
            raise DatasetError("livemd", root, [f"{d}: {len(dist)} names in Imagelists.mat but {scores.size} "
                                                f"DMOSscores in Scores.mat"])
        refs = mat_strings(lists["refimgs"]) if "refimgs" in lists else []
        ref4 = mat_numbers(lists["ref4dist"]).astype(int) if "ref4dist" in lists and refs else None
        imgdir = locate([d], PARTS[part])
        imgdir = imgdir if imgdir.is_dir() else d
        for i, name in enumerate(dist):
            m = _NAME.match(name)
            if not m:
                problems.append(f"{d}/Imagelists.mat: entry {i + 1} {name!r} is not <scene>_<stage><k>[...].bmp")
                continue
            stages = re.findall(r"_(blur|jpeg|noise)(\d+)", m.group("stages").lower())
            key = "+".join(s for s, _ in stages)
            if key not in DISTORTION_NAMES:
                problems.append(f"{d}/Imagelists.mat: entry {i + 1} {name!r}: unknown distortion chain {key!r}")
                continue
            ref = refs[ref4[i] - 1] if ref4 is not None and 0 < ref4[i] <= len(refs) else f"{m.group('scene')}.bmp"
            rows.append({"image": locate([imgdir], name), "ref": locate([imgdir], ref), "score": scores[i],
                         "higher_better": False, "dist_type": DISTORTION_NAMES[key],
                         "dist_level": float(stages[0][1]) if len(stages) == 1 else np.nan,
                         "content": Path(ref).stem})
    if problems:
        raise DatasetError("livemd", root, problems)
    return make_records(rows, "livemd")


register_dataset(DatasetInfo(
    name="livemd", loader=load_livemd, title="LIVE Multiply Distorted IQA Database",
    dirname="LIVEmultidistortiondatabase", kind="synthetic", has_reference=True, higher_better=False,
    score_range=(0.0, 100.0), official_split=False,
    paper="D. Jayaraman, A. Mittal, A.K. Moorthy, A.C. Bovik, 'Objective quality assessment of multiply "
          "distorted images', Asilomar Conf. Signals, Systems and Computers, 2012",
    notes="450 images of 15 scenes: Part 1 blur then JPEG, Part 2 blur then white noise (single and chained "
          "distortions; the 45 blur-only images are scored in both parts); DMOS, lower is better; dist_level NaN "
          "for chained distortions.",
    aliases=("live_md", "LIVEMD", "live-md", "LIVE_MD", "To_Release"),
))
