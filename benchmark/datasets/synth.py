"""The built-in ``synth`` dataset: packaged photos degraded by :mod:`.distortions`.

Needs no download: the pristine images ship inside installed packages (scikit-image's
``skimage.data`` files that load without pooch, scikit-learn's two sample photos and
matplotlib's ``grace_hopper.jpg``).  Each is centre-cropped to a square (optionally a
central fraction of it) and resized to ``size x size`` (OpenCV ``INTER_AREA`` when
shrinking, bicubic when enlarging), then degraded by every selected distortion at levels
1..5.  Default: 10 colour contents x 7 distortions x 5 levels = 350 images, 256 x 256.

**The score is the severity level (1..5), not a human opinion.**  It is stored like a
DMOS (``higher_better=False``): a higher level is a worse image.  Records are the
distorted images (the pristine PNGs are only ``ref``); ``content`` is the source photo's
name, ``dist_type`` the canonical distortion name, ``dist_level`` the level.  Distortions
that cannot change a grey image (``saturation``) are skipped for the grey contents, which
come after the colour ones and are only used when ``n_contents > 11``.

Generation is deterministic (noise from :func:`.distortions.distortion_rng` seeded by
``(seed, content, distortion, level)``; images written as PNG) and atomic: everything is
written to a temporary folder beside the target, which is then renamed.  The set lives in
``<root>/synth-v<GENERATOR_VERSION>`` (default options) or
``<root>/synth-v<GENERATOR_VERSION>-<size>px-<n>c-<hash>`` (other options), where ``root``
defaults to the feature-cache folder (``$IQABENCH_CACHE`` or ``~/.cache/iqabench``); the
runner passes its ``--cache-dir`` as ``root``.  A
later load reuses it when ``info.json`` (generator version, options) matches and every
file of ``manifest.csv`` is present with its recorded size; otherwise it is regenerated.
Bump :data:`GENERATOR_VERSION` whenever the images would change.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from features.imageio import as_rgb_uint8

from .base import DatasetError, DatasetInfo, make_records, register_dataset
from .distortions import DISTORTIONS, LEVELS, distortion_rng, get_distortion, jpeg2000_encoder

__all__ = [
    "GENERATOR_VERSION",
    "DEFAULT_DISTORTIONS",
    "DEFAULT_SIZE",
    "DEFAULT_N_CONTENTS",
    "SOURCES",
    "Source",
    "load_source",
    "prepare_reference",
    "synth_folder",
    "generate_synth",
    "load_synth",
]

GENERATOR_VERSION = 1
DEFAULT_DISTORTIONS = ("jpeg", "jpeg2000", "white_noise", "gaussian_blur", "contrast", "pink_noise", "saturation")
DEFAULT_SIZE = 256
DEFAULT_N_CONTENTS = 10
MANIFEST = "manifest.csv"
INFO = "info.json"


@dataclass(frozen=True)
class Source:
    """A pristine image shipped with an installed package."""

    name: str
    load: Callable[[], np.ndarray]
    origin: str
    crop: float = 1.0        # fraction of the shorter side kept by the centre crop
    colour: bool = True


def _skimage(name: str, index: int | None = None) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from skimage import data

        img = getattr(data, name)()
        return img[index] if index is not None else img
    return load


def _sklearn(fname: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return load_sample_image(fname)
    return load


def _matplotlib(fname: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import matplotlib

        from features.imageio import load_image

        return load_image(Path(matplotlib.get_data_path()) / "sample_data" / fname)
    return load


# Natural colour photos first; the order fixes which contents a given n_contents takes.
SOURCES: dict[str, Source] = {s.name: s for s in (
    Source("astronaut", _skimage("astronaut"), "skimage.data.astronaut (Eileen Collins, NASA)"),
    Source("coffee", _skimage("coffee"), "skimage.data.coffee"),
    Source("chelsea", _skimage("chelsea"), "skimage.data.chelsea (cat)"),
    Source("rocket", _skimage("rocket"), "skimage.data.rocket (SpaceX launch)"),
    Source("motorcycle", _skimage("stereo_motorcycle", 0), "skimage.data.stereo_motorcycle, left view"),
    Source("china", _sklearn("china.jpg"), "sklearn.datasets.load_sample_image('china.jpg')"),
    Source("flower", _sklearn("flower.jpg"), "sklearn.datasets.load_sample_image('flower.jpg')"),
    Source("hopper", _matplotlib("grace_hopper.jpg"), "matplotlib sample_data/grace_hopper.jpg"),
    Source("immunohistochemistry", _skimage("immunohistochemistry"), "skimage.data.immunohistochemistry"),
    Source("retina", _skimage("retina"), "skimage.data.retina (central 60%)", crop=0.6),
    Source("hubble", _skimage("hubble_deep_field"), "skimage.data.hubble_deep_field"),
    Source("camera", _skimage("camera"), "skimage.data.camera (grey)", colour=False),
    Source("coins", _skimage("coins"), "skimage.data.coins (grey)", colour=False),
    Source("moon", _skimage("moon"), "skimage.data.moon (grey)", colour=False),
    Source("brick", _skimage("brick"), "skimage.data.brick (grey)", colour=False),
    Source("grass", _skimage("grass"), "skimage.data.grass (grey)", colour=False),
    Source("gravel", _skimage("gravel"), "skimage.data.gravel (grey)", colour=False),
)}


def load_source(name: str) -> np.ndarray:
    """The full-size pristine image ``name`` as ``H x W x 3`` uint8 (grey replicated)."""
    if name not in SOURCES:
        raise DatasetError("synth", None, f"unknown source image {name!r}; known: {list(SOURCES)}")
    src = SOURCES[name]
    try:
        img = src.load()
    except Exception as exc:  # e.g. a future release moving the file behind a pooch download
        raise DatasetError("synth", None, f"source {name!r} ({src.origin}) cannot be loaded offline: "
                                          f"{type(exc).__name__}: {exc}") from exc
    return as_rgb_uint8(img, src.origin)


def prepare_reference(img: np.ndarray, size: int, crop: float = 1.0) -> np.ndarray:
    """Centre square crop (``crop`` x the shorter side) resized to ``size x size``."""
    import cv2

    h, w = img.shape[:2]
    side = max(1, int(round(min(h, w) * crop)))
    y0, x0 = (h - side) // 2, (w - side) // 2
    sq = np.ascontiguousarray(img[y0:y0 + side, x0:x0 + side])
    if side == size:
        return sq
    interp = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    out = cv2.resize(sq, (size, size), interpolation=interp)
    return np.clip(out, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- options
def _options(n_contents: int, size: int, distortions: Sequence[str] | None, contents: Sequence[str] | None,
             seed: int) -> dict:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 32 <= size <= 4096:
        raise ValueError(f"synth: size must be an integer in 32..4096, got {size!r}")
    names = list(DEFAULT_DISTORTIONS if distortions is None else
                 ([distortions] if isinstance(distortions, str) else distortions))
    if not names:
        raise ValueError("synth: no distortions selected")
    for n in names:
        get_distortion(n)  # raises KeyError naming the known ones
    if len(set(names)) != len(names):
        raise ValueError(f"synth: duplicate distortions in {names}")
    if contents is None:
        if isinstance(n_contents, bool) or not isinstance(n_contents, (int, np.integer)) or \
                not 1 <= n_contents <= len(SOURCES):
            raise ValueError(f"synth: n_contents must be in 1..{len(SOURCES)}, got {n_contents!r}")
        chosen = list(SOURCES)[:int(n_contents)]
    else:
        chosen = [contents] if isinstance(contents, str) else list(contents)
        unknown = [c for c in chosen if c not in SOURCES]
        if unknown or not chosen or len(set(chosen)) != len(chosen):
            raise ValueError(f"synth: contents must be distinct names from {list(SOURCES)}, got {chosen}")
    return {"generator_version": GENERATOR_VERSION, "size": int(size), "contents": chosen,
            "distortions": names, "seed": int(seed)}


def _default_options(opts: dict) -> bool:
    return (opts["size"] == DEFAULT_SIZE and opts["contents"] == list(SOURCES)[:DEFAULT_N_CONTENTS]
            and opts["distortions"] == list(DEFAULT_DISTORTIONS) and opts["seed"] == 0)


def synth_folder(root: str | os.PathLike | None = None, *, n_contents: int = DEFAULT_N_CONTENTS,
                 size: int = DEFAULT_SIZE, distortions: Sequence[str] | None = None,
                 contents: Sequence[str] | None = None, seed: int = 0) -> Path:
    """Where the set with these options lives (it may not exist yet)."""
    opts = _options(n_contents, size, distortions, contents, seed)
    return _folder(root, opts)


def _folder(root: str | os.PathLike | None, opts: dict) -> Path:
    if root is None:
        from features.cache import default_cache_dir

        root = default_cache_dir()
    name = f"synth-v{GENERATOR_VERSION}"
    if not _default_options(opts):
        digest = hashlib.sha256(json.dumps(opts, sort_keys=True).encode()).hexdigest()[:8]
        name += f"-{opts['size']}px-{len(opts['contents'])}c-{digest}"
    return Path(root).expanduser() / name


# ----------------------------------------------------------------------------- generation
def _write_png(path: Path, rgb: np.ndarray) -> int:
    import cv2

    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise RuntimeError(f"{path}: PNG encoding failed")
    data = buf.tobytes()
    path.write_bytes(data)
    return len(data)


def _generate_into(folder: Path, opts: dict, progress: bool = False) -> None:
    (folder / "refs").mkdir()
    (folder / "dist").mkdir()
    rows = []
    for content in opts["contents"]:
        src = SOURCES[content]
        ref = prepare_reference(load_source(content), opts["size"], src.crop)
        ref_rel = f"refs/{content}.png"
        _write_png(folder / ref_rel, ref)
        grey = bool(np.all(ref[:, :, 0] == ref[:, :, 1]) and np.all(ref[:, :, 1] == ref[:, :, 2]))
        for dname in opts["distortions"]:
            dist = DISTORTIONS[dname]
            if dist.colour_only and grey:
                continue
            for level in LEVELS:
                rng = distortion_rng(content, dname, level, opts["seed"]) if dist.stochastic else None
                out = dist(ref, level, rng)
                rel = f"dist/{content}_{dname}_{level}.png"
                nbytes = _write_png(folder / rel, out)
                rows.append({"image": rel, "ref": ref_rel, "content": content, "dist_type": dname,
                             "dist_level": level, "parameter": dist.value(level), "score": float(level),
                             "bytes": nbytes})
        if progress:
            print(f"synth: {content} done", flush=True)
    pd.DataFrame(rows).to_csv(folder / MANIFEST, index=False)
    info = dict(opts, n_images=len(rows), jpeg2000_encoder=jpeg2000_encoder() if "jpeg2000" in opts["distortions"]
                else "", sources={c: SOURCES[c].origin for c in opts["contents"]},
                score="distortion severity level 1..5 (not a human opinion); higher is worse")
    (folder / INFO).write_text(json.dumps(info, indent=1, sort_keys=True))  # written last: marks completion


def _read_valid(folder: Path, opts: dict) -> pd.DataFrame | None:
    """The manifest when ``folder`` holds a complete set made with ``opts``, else ``None``."""
    try:
        info = json.loads((folder / INFO).read_text())
        if any(info.get(k) != v for k, v in opts.items()):
            return None
        man = pd.read_csv(folder / MANIFEST)
    except (OSError, ValueError):
        return None
    if len(man) == 0 or len(man) != info.get("n_images"):
        return None
    try:
        for rel, nbytes in zip(man["image"], man["bytes"]):
            if (folder / rel).stat().st_size != int(nbytes):
                return None
        if not all((folder / rel).is_file() for rel in man["ref"].unique()):
            return None
    except (OSError, KeyError, ValueError, TypeError):
        return None
    return man


def generate_synth(root: str | os.PathLike | None = None, *, n_contents: int = DEFAULT_N_CONTENTS,
                   size: int = DEFAULT_SIZE, distortions: Sequence[str] | None = None,
                   contents: Sequence[str] | None = None, seed: int = 0, regenerate: bool = False,
                   progress: bool = False) -> Path:
    """Make sure the set exists (generating it atomically if needed); returns its folder."""
    opts = _options(n_contents, size, distortions, contents, seed)
    folder = _folder(root, opts)
    if not regenerate and _read_valid(folder, opts) is not None:
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    old: Path | None = None
    try:
        _generate_into(tmp, opts, progress)
        if folder.exists():  # stale, incomplete, or regenerate=True: move it aside, then swap in
            old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
            try:
                os.rename(folder, old / "set")
            except OSError:
                pass  # another process moved or replaced it meanwhile
        try:
            os.rename(tmp, folder)
        except OSError:
            # Another process finished first: keep its set if it is valid.
            if _read_valid(folder, opts) is None:
                raise
    finally:
        for leftover in (tmp, old):
            if leftover is not None and leftover.exists():
                shutil.rmtree(leftover, ignore_errors=True)
    return folder


def load_synth(root: Path | None = None, *, n_contents: int = DEFAULT_N_CONTENTS, size: int = DEFAULT_SIZE,
               distortions: Sequence[str] | None = None, contents: Sequence[str] | None = None, seed: int = 0,
               regenerate: bool = False, progress: bool = False) -> pd.DataFrame:
    """Records of the ``synth`` set (generated under ``root`` on first use; see module docstring)."""
    opts = _options(n_contents, size, distortions, contents, seed)
    folder = generate_synth(root, n_contents=n_contents, size=size, distortions=distortions, contents=contents,
                            seed=seed, regenerate=regenerate, progress=progress)
    man = _read_valid(folder, opts)
    if man is None:
        raise DatasetError("synth", folder, "generated set failed validation (was it modified meanwhile?)")
    rows = pd.DataFrame({
        "image": [str(folder / p) for p in man["image"]],
        "ref": [str(folder / p) for p in man["ref"]],
        "score": man["score"].astype(float),
        "higher_better": False,
        "dist_type": man["dist_type"].astype(str),
        "dist_level": man["dist_level"].astype(float),
        "content": man["content"].astype(str),
        "split": "",
    })
    return make_records(rows, "synth")


register_dataset(DatasetInfo(
    name="synth",
    loader=load_synth,
    title="Synthetic (built-in)",
    dirname="synth",
    kind="synthetic",
    has_reference=True,
    higher_better=False,
    score_range=(1.0, 5.0),
    official_split=False,
    builtin=True,
    generated_in_cache=True,
    paper="distortion models after KADID-10k (Lin, Hosu, Saupe, QoMEX 2019) and DBCNN (Zhang et al., TCSVT 2020)",
    notes="score = distortion severity level 1..5, not a human opinion (DMOS-like: higher is worse); "
          "packaged photos (scikit-image, scikit-learn, matplotlib), generated on first use",
))
