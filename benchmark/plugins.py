"""Plugins: your own methods, datasets, extractors and FR metrics, without editing iqabench.

Two routes, both ending in the registries (:mod:`features.registry`):

* **an installed package** declaring entry points in the groups ``iqabench.methods``,
  ``iqabench.datasets``, ``iqabench.extractors`` or ``iqabench.fr_metrics`` (in its
  ``pyproject.toml``: ``[project.entry-points."iqabench.methods"] mine = "mypkg.iqa:MyMethod"``):
  found by every command, imported when first needed;
* **a module or a file** named on the command line: ``--plugin mypkg.iqa`` or
  ``--plugin path/to/my_method.py`` (``run``, ``list``, ``tables``, ``sweep``), or
  ``RunConfig(plugins=[...])`` from Python: imported before anything else, so that its
  ``@register_method`` / ``@register_extractor`` / ``@register_dataset`` / ``register_metric``
  calls add its entries.

``examples/sharpness_plugin.py`` is a complete plugin.  A run saves each method's metadata beside
its predictions, so ``tables`` rebuilds a plugin's rows without the plugin.
"""
from __future__ import annotations

from typing import Any, Iterable

__all__ = ["load_plugins", "registries"]


def registries() -> dict:
    """The four registries, by kind (built-ins and entry points loaded)."""
    from features.extraction import EXTRACTORS
    from features.fullref.registry import FR_METRICS

    from .datasets.base import DATASETS
    from .methods.base import METHODS

    regs: dict[str, Any] = {"method": METHODS, "dataset": DATASETS, "extractor": EXTRACTORS,
                            "full-reference metric": FR_METRICS}
    for r in regs.values():
        r.load()
    return regs


def load_plugins(specs: Iterable[str]) -> list[str]:
    """Import each plugin (a module name or a ``.py`` file); returns their module names.

    The built-ins and installed entry points are loaded first, so a plugin that reuses one of
    their names fails at its own registration with a
    :class:`~features.registry.DuplicateNameError` naming both places.  A plugin that cannot be
    imported raises :class:`~features.registry.PluginError` naming it and the reason.
    """
    from features.registry import load_plugin

    specs = [s for s in specs if str(s).strip()]
    if not specs:
        return []
    registries()
    return [load_plugin(s) for s in specs]
