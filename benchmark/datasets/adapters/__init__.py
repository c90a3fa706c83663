"""Adapters for the native layouts of the public IQA databases.

Importing this package registers one dataset per module (``live``, ``csiq``, ``tid2008``,
``tid2013``, ``kadid10k``, ``livemd``, ``clive``, ``koniq10k``, ``cid2013``, ``spaq``,
``biq2021``; a new module is imported, and so registered, without being listed anywhere).  Each module has a loader ``load_<name>(root, **options) -> records`` that
reads the score files as the distributors ship them (score files missing or unreadable:
one :class:`~benchmark.datasets.base.DatasetError` listing them; image files are checked by
:func:`~benchmark.datasets.base.validate_records`, i.e. by ``load_dataset``), and a
``DISTORTION_NAMES`` dict mapping native distortion ids to the shared vocabulary of
:mod:`.vocabulary`.
"""
from __future__ import annotations

import importlib
import pkgutil

from . import vocabulary
from .biq2021 import load_biq2021
from .cid2013 import load_cid2013
from .clive import load_clive
from .csiq import load_csiq
from .kadid10k import load_kadid10k
from .koniq10k import load_koniq10k
from .live import load_live
from .livemd import load_livemd
from .spaq import load_spaq
from .tid2008 import load_tid2008
from .tid2013 import load_tid2013

__all__ = ["load_live", "load_csiq", "load_tid2008", "load_tid2013", "load_kadid10k", "load_livemd", "load_clive",
           "load_koniq10k", "load_cid2013", "load_spaq", "load_biq2021", "DISTORTION_NAMES", "distortion_types",
           "shared_distortion_types", "vocabulary"]

#: dataset name -> its native-id -> canonical-type mapping (empty for authentic databases): the
#: ``DISTORTION_NAMES`` of every adapter module of this package (a new module is found by itself)
DISTORTION_NAMES: dict[str, dict] = {}
for _m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _m.name.startswith("_"):
        _mod = importlib.import_module(f"{__name__}.{_m.name}")
        if hasattr(_mod, "DISTORTION_NAMES"):
            DISTORTION_NAMES[_m.name] = _mod.DISTORTION_NAMES


def distortion_types(dataset: str) -> set[str]:
    """The canonical ``dist_type`` labels a dataset's records can carry."""
    return set(DISTORTION_NAMES[dataset].values())


def shared_distortion_types(*datasets: str) -> set[str]:
    """Labels every listed dataset can carry (from the mappings, without loading anything)."""
    sets = [distortion_types(d) for d in datasets]
    return set.intersection(*sets) if sets else set()
