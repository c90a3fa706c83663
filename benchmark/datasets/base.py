"""Records (one row per distorted image) and the dataset registry.

Record columns (every later stage reads only these):

==============  ===============================================================
``image``       absolute path of the (distorted) image
``ref``         absolute path of its pristine reference, ``""`` when none
``score``       subjective score as distributed (MOS or DMOS), float
``higher_better`` ``True`` for MOS-like scores, ``False`` for DMOS
``dist_type``   distortion type label (``""`` when unknown / authentic)
``dist_level``  distortion level (NaN when unknown)
``content``     content id (reference or scene): splits keep contents disjoint
``split``       official split (``"train"``, ``"val"``, ``"test"``) or ``""``
``dataset``     registry name of the dataset
==============  ===============================================================

:func:`validate_records` (run by :func:`load_dataset`) rejects images and references that
lie outside the dataset's folder (a score file naming ``../x.jpg`` or ``/abs/x.jpg``), and
an official split that is not disjoint (an image or a content id in both the training and
the test part); it warns (:class:`DatasetWarning`) about images listed more than once.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TypeVar, overload

import numpy as np
import pandas as pd

from features.registry import Registry, registration_helpers

_L = TypeVar("_L", bound=Callable[..., pd.DataFrame])

__all__ = [
    "DATASETS",
    "RECORD_COLUMNS",
    "DatasetError",
    "DatasetWarning",
    "DatasetInfo",
    "register_dataset",
    "get_dataset_info",
    "list_datasets",
    "load_dataset",
    "make_records",
    "validate_records",
    "find_file",
]

RECORD_COLUMNS = ("image", "ref", "score", "higher_better", "dist_type", "dist_level", "content", "split",
                  "dataset")


class DatasetError(FileNotFoundError):
    """A dataset that cannot be read: names the dataset, the root, and the missing/unreadable files."""

    def __init__(self, dataset: str, root: object, problems: list[str] | str):
        probs = [problems] if isinstance(problems, str) else list(problems)
        self.dataset, self.root, self.problems = dataset, str(root), probs
        shown = "\n  ".join(probs[:20])
        more = f"\n  ... and {len(probs) - 20} more" if len(probs) > 20 else ""
        super().__init__(f"dataset {dataset!r} at {root}: {len(probs)} problem(s):\n  {shown}{more}")


class DatasetWarning(UserWarning):
    """A dataset that loads but looks wrong (e.g. an image listed twice); the runner reports it."""


@dataclass(frozen=True)
class DatasetInfo:
    """Registry entry: metadata and the loader of one database's native layout."""

    name: str
    loader: Callable[..., pd.DataFrame]     # loader(root: Path, **options) -> records
    title: str = ""
    dirname: str = ""                       # default folder name under --data-root
    kind: str = "synthetic"                 # "synthetic" (simulated distortions) or "authentic"
    has_reference: bool = True
    higher_better: bool = True
    score_range: tuple[float, float] | None = None
    official_split: bool = False
    builtin: bool = False                   # generated locally (no --data-root needed)
    generated_in_cache: bool = False        # its loader's root is the cache folder it generates images into
    paper: str = ""
    notes: str = ""
    aliases: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)

    def find_root(self, data_root: str | os.PathLike | None) -> Path | None:
        """The dataset's folder under ``data_root`` (tries ``dirname``, ``name`` and aliases)."""
        if data_root is None:
            return None
        base = Path(data_root)
        names = [self.dirname, self.name, *self.aliases]
        for n in dict.fromkeys(x for x in names if x):
            for cand in (base / n, base / n.lower(), base / n.upper()):
                if cand.is_dir():
                    return cand
        return None


def _check(info: DatasetInfo) -> None:
    if not callable(info.loader):
        raise ValueError(f"dataset {info.name!r}: loader must be callable, got {info.loader!r}")
    if info.kind not in ("synthetic", "authentic"):
        raise ValueError(f"dataset {info.name!r}: kind must be 'synthetic' or 'authentic', got {info.kind!r}")


#: every dataset: the modules of ``benchmark.datasets`` and ``benchmark.datasets.adapters`` (each
#: registers its own) and the ``iqabench.datasets`` entry points; names and aliases are case-insensitive
DATASETS: Registry[DatasetInfo] = Registry("dataset", group="iqabench.datasets",
                                           packages=("benchmark.datasets", "benchmark.datasets.adapters"),
                                           entry_type=DatasetInfo, normalize=str.lower, check=_check)
registration_helpers(__name__)


@overload
def register_dataset(info: DatasetInfo, /) -> DatasetInfo: ...


@overload
def register_dataset(name: str, /, **meta: Any) -> Callable[[_L], _L]: ...


def register_dataset(info: DatasetInfo | str, /, **meta: Any) -> Any:
    """Register a dataset: ``register_dataset(DatasetInfo(...))``, or as a decorator on its loader
    ``loader(root: Path, **options) -> records``: ``@register_dataset("mydb", title=..., kind=...,
    has_reference=..., higher_better=..., dirname=...)`` (the other :class:`DatasetInfo` fields).
    A name or alias registered twice from two places raises
    :class:`~features.registry.DuplicateNameError` naming both."""
    if isinstance(info, DatasetInfo):
        if meta:
            raise TypeError("register_dataset(DatasetInfo(...)) takes no other arguments")
        return DATASETS.register(info.name, info, aliases=info.aliases)
    name = info

    def decorate(loader: _L) -> _L:
        d = DatasetInfo(name=name, loader=loader, **meta)
        DATASETS.register(d.name, d, aliases=d.aliases)
        return loader

    return decorate


def get_dataset_info(name: str) -> DatasetInfo:
    """The registered dataset ``name`` or alias, any case (``KeyError`` listing the known ones)."""
    return DATASETS.get(name)


def list_datasets() -> list[DatasetInfo]:
    """Every registered dataset (built-ins, then plugins)."""
    return DATASETS.values()


def load_dataset(name: str, root: str | os.PathLike | None = None, *, data_root: str | os.PathLike | None = None,
                 check_files: bool = True, **options: Any) -> pd.DataFrame:
    """Load a registered dataset's records.

    ``root`` is the dataset's own folder; alternatively ``data_root`` is searched for it.
    """
    info = get_dataset_info(name)
    if root is None:
        root = info.find_root(data_root)
        if root is None and not info.builtin:
            raise DatasetError(info.name, data_root, f"no folder named {info.dirname or info.name!r} "
                                                     f"under the data root")
    opts = dict(info.options)
    opts.update(options)
    records = info.loader(Path(root) if root is not None else None, **opts)
    return validate_records(records, info.name, root, check_files=check_files)


def make_records(rows: list[dict] | pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Build a records frame with every column present and typed."""
    df = pd.DataFrame(rows)
    defaults = {"ref": "", "dist_type": "", "dist_level": np.nan, "split": "", "higher_better": True}
    for col, val in defaults.items():
        if col not in df.columns:
            df[col] = val
    if "content" not in df.columns:
        df["content"] = df["image"].map(lambda p: Path(p).stem)
    df["dataset"] = dataset
    df["image"] = df["image"].map(str)
    df["ref"] = df["ref"].fillna("").map(str)
    df["score"] = df["score"].astype(np.float64)
    df["higher_better"] = df["higher_better"].astype(bool)
    df["dist_type"] = df["dist_type"].fillna("").map(str)
    df["dist_level"] = pd.to_numeric(df["dist_level"], errors="coerce").astype(np.float64)
    df["content"] = df["content"].map(str)
    df["split"] = df["split"].fillna("").map(str)
    return df[list(RECORD_COLUMNS)].reset_index(drop=True)


def validate_records(df: pd.DataFrame, dataset: str, root: object = None, check_files: bool = True) -> pd.DataFrame:
    """Check columns, scores, where the files are and the official split; optionally that every file exists.

    Errors (one :class:`DatasetError` listing them): missing columns, no rows, a non-finite
    score, an image or reference outside ``root`` (when ``root`` is given; the check is on
    the normalised path, so symbolic links inside the folder are followed wherever they
    point), an official split whose training and test parts share an image or a content id
    (the protocol promises content-disjoint sets), and (``check_files``) a missing file.
    Images listed more than once are reported with a :class:`DatasetWarning`.
    """
    missing_cols = [c for c in RECORD_COLUMNS if c not in df.columns]
    if missing_cols:
        raise DatasetError(dataset, root, [f"records lack columns {missing_cols}"])
    problems: list[str] = []
    if len(df) == 0:
        problems.append("no images listed")
    bad = df.index[~np.isfinite(df["score"].to_numpy(dtype=float))]
    problems += [f"{df.at[i, 'image']}: score is not a finite number" for i in bad]
    if root is not None:
        base = os.path.normpath(os.path.abspath(os.fspath(root)))  # type: ignore[call-overload]
        outside = set()
        for col in ("image", "ref"):
            for p in df[col]:
                if p and p not in outside:
                    q = os.path.normpath(os.path.abspath(p))
                    if os.path.commonpath([base, q]) != base:
                        outside.add(p)
                        problems.append(f"{p}: {'image' if col == 'image' else 'reference'} lies outside the "
                                        f"dataset folder {base} (score files must name files inside it)")
    problems += _split_problems(df)
    if check_files:
        seen: set[str] = set()
        for col in ("image", "ref"):
            for p in df[col]:
                if p and p not in seen:
                    seen.add(p)
                    if not os.path.isfile(p):
                        problems.append(f"{p}: file not found")
    if problems:
        raise DatasetError(dataset, root, problems)
    dup = df["image"][df["image"].duplicated(keep=False)]
    if len(dup):
        names = list(dict.fromkeys(dup))
        import warnings

        warnings.warn(DatasetWarning(
            f"{len(names)} image(s) listed more than once ({len(dup)} rows), e.g. {names[0]}; "
            f"each row is used as listed"), stacklevel=2)
    return df.reset_index(drop=True)


def _split_problems(df: pd.DataFrame) -> list[str]:
    """An official split whose training and test parts overlap (images or content ids)."""
    split = df["split"].astype(str).str.lower()
    train, test = split.eq("train"), split.eq("test")
    if not (train.any() and test.any()):
        return []
    out = []
    both = sorted(set(df.loc[train, "image"]) & set(df.loc[test, "image"]))
    if both:
        out.append(f"official split: {len(both)} image(s) in both the training and the test part, e.g. {both[0]}")
    shared = sorted(set(df.loc[train, "content"].astype(str)) & set(df.loc[test, "content"].astype(str)))
    if shared and not both:
        out.append(f"official split: {len(shared)} content id(s) in both the training and the test part, "
                   f"e.g. {shared[0]!r}")
    return out


def find_file(folder: Path, name: str) -> Path:
    """``folder/name``, matched case-insensitively when the exact name is absent.

    Distributed score files and image folders disagree on case (``.bmp``/``.BMP``,
    ``I01``/``i01``); the path returned is the one on disk, or ``folder/name`` if none
    matches (validation then reports it missing).
    """
    exact = folder / name
    if exact.exists():
        return exact
    index = _dir_index(folder)
    return index.get(name.lower(), exact)


_DIR_INDEX: dict[tuple[str, float], dict[str, Path]] = {}


def _dir_index(folder: Path) -> dict[str, Path]:
    try:
        mtime = folder.stat().st_mtime
    except OSError:
        return {}
    key = (str(folder), mtime)
    if key not in _DIR_INDEX:
        _DIR_INDEX[key] = {p.name.lower(): p for p in folder.iterdir()}
    return _DIR_INDEX[key]
